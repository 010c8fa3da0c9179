/* Unit tests for storage/audit.c's hash chain and storage/table_versions.c's
 * rendering of stored tables for nodes — the parts that need no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit.h"
#include "secret.h"
#include "table_versions.h"

/* An actor with no role and no peer: the shape of rows before migration 0005. */
#define W(n) (&(audit_actor_t){(n), "", ""})

static void test_audit_chain_hash_is_deterministic_and_hex(void **state)
{
    (void)state;
    char a[65], b[65];
    audit_chain_hash(AUDIT_GENESIS, W("admin"), "provider.create", "provider/x", "d", a);
    audit_chain_hash(AUDIT_GENESIS, W("admin"), "provider.create", "provider/x", "d", b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
}

static void test_audit_chain_hash_changes_with_every_field(void **state)
{
    (void)state;
    char base[65], h[65];
    audit_chain_hash(AUDIT_GENESIS, W("admin"), "act", "obj", "detail", base);
    audit_chain_hash("1111111111111111111111111111111111111111111111111111111111111111", W("admin"),
                     "act", "obj", "detail", h);
    assert_string_not_equal(base, h);
    audit_chain_hash(AUDIT_GENESIS, W("admiN"), "act", "obj", "detail", h);
    assert_string_not_equal(base, h);
    audit_chain_hash(AUDIT_GENESIS, W("admin"), "act2", "obj", "detail", h);
    assert_string_not_equal(base, h);
    audit_chain_hash(AUDIT_GENESIS, W("admin"), "act", "obj2", "detail", h);
    assert_string_not_equal(base, h);
    audit_chain_hash(AUDIT_GENESIS, W("admin"), "act", "obj", "detail.", h);
    assert_string_not_equal(base, h);
}

/* Since migration 0005 the role and the peer address are chained too; a row
 * without them hashes as before, so old rows still verify. */
static void test_audit_chain_hash_covers_role_and_peer(void **state)
{
    (void)state;
    char base[65], h[65], again[65];
    audit_chain_hash(AUDIT_GENESIS, W("ops"), "act", "obj", "d", base);
    audit_actor_t a = {"ops", "admin", "ipv4:127.0.0.1:4000"};
    audit_chain_hash(AUDIT_GENESIS, &a, "act", "obj", "d", h);
    assert_string_not_equal(base, h);
    audit_actor_t b = {"ops", "operator", "ipv4:127.0.0.1:4000"};
    audit_chain_hash(AUDIT_GENESIS, &b, "act", "obj", "d", again);
    assert_string_not_equal(h, again);
    audit_actor_t c = {"ops", "admin", "ipv4:10.0.0.9:4000"};
    audit_chain_hash(AUDIT_GENESIS, &c, "act", "obj", "d", again);
    assert_string_not_equal(h, again);
    audit_chain_hash(AUDIT_GENESIS, &a, "act", "obj", "d", again);
    assert_string_equal(h, again);
}

static void test_audit_chain_hash_keeps_field_boundaries(void **state)
{
    (void)state;
    /* Moving a character from one field to the next must change the hash. */
    char a[65], b[65];
    audit_chain_hash(AUDIT_GENESIS, W("ab"), "c", "o", "d", a);
    audit_chain_hash(AUDIT_GENESIS, W("a"), "bc", "o", "d", b);
    assert_string_not_equal(a, b);
}

static void test_audit_chain_links_rows(void **state)
{
    (void)state;
    /* Rewriting row 1 changes row 2's hash too: the chain detects it. */
    char r1[65], r2[65], r1x[65], r2x[65];
    audit_chain_hash(AUDIT_GENESIS, W("admin"), "a", "o", "first", r1);
    audit_chain_hash(r1, W("admin"), "a", "o", "second", r2);
    audit_chain_hash(AUDIT_GENESIS, W("admin"), "a", "o", "first (edited)", r1x);
    audit_chain_hash(r1x, W("admin"), "a", "o", "second", r2x);
    assert_string_not_equal(r2, r2x);
}

static void test_table_render_opens_keys_per_auth_style(void **state)
{
    (void)state;
    secret_key_t k;
    char err[256], doc[2048];
    assert_int_equal(
        secret_key_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", &k,
                         err, sizeof(err)),
        0);
    char *s1 = secret_seal(&k, "a", "key-a", err, sizeof(err));
    char *s2 = secret_seal(&k, "b", "key-b", err, sizeof(err));
    assert_non_null(s1);
    assert_non_null(s2);
    snprintf(
        doc, sizeof(doc),
        "{\"version\":3,\"providers\":["
        "{\"name\":\"a\",\"base_url\":\"http://a\",\"headers\":{},\"auth_style\":\"bearer\","
        "\"api_key_sealed\":\"%s\",\"models\":[{\"name\":\"m\"}]},"
        "{\"name\":\"b\",\"base_url\":\"http://b\",\"headers\":{},\"auth_style\":\"x-api-key\","
        "\"api_key_sealed\":\"%s\",\"models\":[{\"name\":\"m\"}]}],\"routes\":[]}",
        s1, s2);
    char *out = table_versions_render(doc, &k, false, err, sizeof(err));
    assert_non_null(out);
    assert_non_null(strstr(out, "\"api_key\":\"key-a\""));
    /* Every style gets "api_key"; the node sends it as auth_style says. */
    assert_non_null(strstr(out, "\"api_key\":\"key-b\""));
    assert_non_null(strstr(out, "\"auth_style\":\"x-api-key\""));
    assert_null(strstr(out, "api_key_sealed"));
    free(out);
    out = table_versions_render(doc, &k, true, err, sizeof(err));
    assert_non_null(out);
    assert_null(strstr(out, "key-a"));
    assert_null(strstr(out, "key-b"));
    assert_non_null(strstr(out, "<redacted>"));
    free(out);
    /* A document sealed under another master key does not render. */
    k.key[0] ^= 0xff;
    assert_null(table_versions_render(doc, &k, false, err, sizeof(err)));
    assert_non_null(strstr(err, "authentication failed"));
    free(s1);
    free(s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_chain_hash_is_deterministic_and_hex),
        cmocka_unit_test(test_audit_chain_hash_changes_with_every_field),
        cmocka_unit_test(test_audit_chain_hash_keeps_field_boundaries),
        cmocka_unit_test(test_audit_chain_hash_covers_role_and_peer),
        cmocka_unit_test(test_audit_chain_links_rows),
        cmocka_unit_test(test_table_render_opens_keys_per_auth_style),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
