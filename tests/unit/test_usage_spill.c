/* Unit tests for usage_spill (the batch file format, names and atomic
 * files) and budget_lease_applies (which budgets cover a request). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "budget_lease.h"
#include "usage_spill.h"

static void test_usage_spill_round_trip(void **state)
{
    (void)state;
    buf_t img = BUF_INIT(1 << 20);
    const char payload[] = "\x0a\x02n1\x10\x05\x18\x01 any bytes";
    assert_int_equal(usage_spill_encode(payload, sizeof(payload), &img), 0);
    assert_int_equal(img.len, USAGE_SPILL_HEADER + sizeof(payload));
    assert_memory_equal(img.data, USAGE_SPILL_MAGIC, 8);
    const uint8_t *p = NULL;
    size_t n = 0;
    char err[128];
    assert_int_equal(usage_spill_decode(img.data, img.len, &p, &n, err, sizeof(err)), 0);
    assert_int_equal(n, sizeof(payload));
    assert_memory_equal(p, payload, n);
    buf_free(&img);
}

static void test_usage_spill_refuses_damage_naming_the_cause(void **state)
{
    (void)state;
    buf_t img = BUF_INIT(1 << 20);
    const uint8_t *p;
    size_t n;
    char err[128];
    assert_int_equal(usage_spill_encode("hello world", 11, &img), 0);
    /* cut short */
    assert_int_equal(usage_spill_decode(img.data, img.len - 1, &p, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "truncated: header says 11 bytes, 10 present"));
    assert_int_equal(usage_spill_decode(img.data, 5, &p, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "truncated"));
    /* a flipped payload bit */
    img.data[USAGE_SPILL_HEADER + 3] ^= 0x10;
    assert_int_equal(usage_spill_decode(img.data, img.len, &p, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "crc mismatch"));
    img.data[USAGE_SPILL_HEADER + 3] ^= 0x10;
    /* not ours */
    img.data[0] = 'X';
    assert_int_equal(usage_spill_decode(img.data, img.len, &p, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bad magic"));
    buf_free(&img);
}

static void test_usage_spill_crc32_is_ieee(void **state)
{
    (void)state;
    assert_int_equal(usage_spill_crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(usage_spill_crc32("", 0), 0);
}

static void test_usage_spill_names_sort_in_sending_order(void **state)
{
    (void)state;
    char a[64], b[64], c[64];
    usage_spill_name(5, 9, a, sizeof(a));
    usage_spill_name(5, 10, b, sizeof(b));
    usage_spill_name(6, 1, c, sizeof(c));
    assert_true(strcmp(a, b) < 0 && strcmp(b, c) < 0);
    int64_t e, s;
    assert_int_equal(usage_spill_parse_name(b, &e, &s), 0);
    assert_int_equal(e, 5);
    assert_int_equal(s, 10);
    assert_int_equal(usage_spill_parse_name("batch-1-2.usage", &e, &s), -1);
    char rej[80];
    snprintf(rej, sizeof(rej), "%s.rejected", a);
    assert_int_equal(usage_spill_parse_name(rej, &e, &s), -1);
    assert_int_equal(usage_spill_parse_name(
                         ".batch-00000000000000000005-00000000000000000009.usage.tmp", &e, &s),
                     -1);
}

static void test_usage_spill_files_list_read_remove(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-spill-test.XXXXXX", err[512];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(usage_spill_write(dir, 7, 2, "two", 3, err, sizeof(err)), 0);
    assert_int_equal(usage_spill_write(dir, 7, 1, "one", 3, err, sizeof(err)), 0);
    assert_int_equal(usage_spill_write(dir, 3, 9, "old", 3, err, sizeof(err)), 0);
    int64_t *ep, *sq;
    size_t n;
    assert_int_equal(usage_spill_list(dir, &ep, &sq, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ep[0], 3);
    assert_int_equal(sq[1], 1);
    assert_int_equal(sq[2], 2);
    free(ep);
    free(sq);
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(usage_spill_read(dir, 7, 1, &out, err, sizeof(err)), 0);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "one", 3);
    /* A damaged file is refused with its path and the cause. */
    char path[600], name[64];
    usage_spill_name(7, 2, name, sizeof(name));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, USAGE_SPILL_HEADER, SEEK_SET);
    fputc('X', f);
    fclose(f);
    assert_int_equal(usage_spill_read(dir, 7, 2, &out, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "crc mismatch"));
    assert_non_null(strstr(err, name));
    assert_int_equal(usage_spill_reject(dir, 7, 2), 0);
    assert_int_equal(usage_spill_remove(dir, 7, 1), 0);
    assert_int_equal(usage_spill_remove(dir, 3, 9), 0);
    assert_int_equal(usage_spill_list(dir, &ep, &sq, &n), 0);
    assert_int_equal(n, 0); /* the .rejected file is not a batch any more */
    free(ep);
    free(sq);
    snprintf(path, sizeof(path), "%s/%s.rejected", dir, name);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    buf_free(&out);
}

static void test_budget_lease_applies_by_scope(void **state)
{
    (void)state;
    table_key_t k = {.name = "k1", .team = "t1"};
    table_key_t nt = {.name = "k2", .team = ""};
    table_budget_t org = {.name = "o", .scope = "org", .target = ""};
    table_budget_t team = {.name = "t", .scope = "team", .target = "t1"};
    table_budget_t key = {.name = "k", .scope = "key", .target = "k1"};
    table_budget_t prov = {.name = "p", .scope = "provider", .target = "sim"};
    assert_true(budget_lease_applies(&org, NULL, ""));
    assert_true(budget_lease_applies(&team, &k, "x"));
    assert_false(budget_lease_applies(&team, &nt, "x"));
    assert_false(budget_lease_applies(&team, NULL, "x"));
    assert_true(budget_lease_applies(&key, &k, ""));
    assert_false(budget_lease_applies(&key, &nt, ""));
    assert_true(budget_lease_applies(&prov, NULL, "sim"));
    assert_false(budget_lease_applies(&prov, &k, "other"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_spill_round_trip),
        cmocka_unit_test(test_usage_spill_refuses_damage_naming_the_cause),
        cmocka_unit_test(test_usage_spill_crc32_is_ieee),
        cmocka_unit_test(test_usage_spill_names_sort_in_sending_order),
        cmocka_unit_test(test_usage_spill_files_list_read_remove),
        cmocka_unit_test(test_budget_lease_applies_by_scope),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
