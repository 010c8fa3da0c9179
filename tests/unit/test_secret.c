/* Unit tests for storage/secret.c: AES-256-GCM sealing of provider API keys
 * (round trip, tamper and wrong-row detection, wrong master key) and master
 * key parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secret.h"

static const char *const key_hex =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static void load_key(secret_key_t *k)
{
    char err[128];
    assert_int_equal(secret_key_parse(key_hex, k, err, sizeof(err)), 0);
}

static void test_secret_seal_open_round_trip(void **state)
{
    (void)state;
    secret_key_t k;
    char err[128];
    load_key(&k);
    char *sealed = secret_seal(&k, "openai", "sk-live-123", err, sizeof(err));
    assert_non_null(sealed);
    assert_memory_equal(sealed, "v1:", 3);
    assert_null(strstr(sealed, "sk-live-123"));
    char *plain = secret_open(&k, "openai", sealed, err, sizeof(err));
    assert_non_null(plain);
    assert_string_equal(plain, "sk-live-123");
    free(plain);
    free(sealed);
}

static void test_secret_seal_uses_a_fresh_nonce_each_time(void **state)
{
    (void)state;
    secret_key_t k;
    char err[128];
    load_key(&k);
    char *a = secret_seal(&k, "p", "same", err, sizeof(err));
    char *b = secret_seal(&k, "p", "same", err, sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_secret_open_detects_tampering(void **state)
{
    (void)state;
    secret_key_t k;
    char err[128];
    load_key(&k);
    char *sealed = secret_seal(&k, "openai", "sk-live-123", err, sizeof(err));
    assert_non_null(sealed);
    size_t n = strlen(sealed);
    /* Flip one base64 character in the ciphertext, then one in the tag. */
    for (size_t pos = 3 + 16; pos < n; pos += n - 3 - 16 - 3) {
        char saved = sealed[pos];
        sealed[pos] = saved == 'A' ? 'B' : 'A';
        char *plain = secret_open(&k, "openai", sealed, err, sizeof(err));
        assert_null(plain);
        assert_non_null(strstr(err, "authentication failed"));
        sealed[pos] = saved;
    }
    free(sealed);
}

static void test_secret_open_refuses_another_rows_value(void **state)
{
    (void)state;
    secret_key_t k;
    char err[128];
    load_key(&k);
    char *sealed = secret_seal(&k, "openai", "sk-live-123", err, sizeof(err));
    assert_non_null(sealed);
    assert_null(secret_open(&k, "anthropic", sealed, err, sizeof(err)));
    free(sealed);
}

static void test_secret_open_refuses_wrong_master_key(void **state)
{
    (void)state;
    secret_key_t k, other;
    char err[128];
    load_key(&k);
    memcpy(&other, &k, sizeof(k));
    other.key[31] ^= 1;
    char *sealed = secret_seal(&k, "openai", "sk", err, sizeof(err));
    assert_non_null(sealed);
    assert_null(secret_open(&other, "openai", sealed, err, sizeof(err)));
    free(sealed);
}

static void test_secret_open_refuses_malformed_values(void **state)
{
    (void)state;
    secret_key_t k;
    char err[128];
    load_key(&k);
    assert_null(secret_open(&k, "p", "sk-plaintext", err, sizeof(err)));
    assert_non_null(strstr(err, "unknown format"));
    assert_null(secret_open(&k, "p", "v1:AAAA", err, sizeof(err)));
    assert_null(secret_open(&k, "p", "v1:not base64!", err, sizeof(err)));
}

static void test_secret_key_parse_hex_and_base64(void **state)
{
    (void)state;
    secret_key_t a, b;
    char err[128];
    assert_int_equal(secret_key_parse(key_hex, &a, err, sizeof(err)), 0);
    /* The same 32 bytes in base64, with surrounding whitespace. */
    assert_int_equal(
        secret_key_parse("  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", &b, err, sizeof(err)),
        0);
    assert_memory_equal(a.key, b.key, SECRET_KEY_LEN);
    assert_int_equal(a.key[31], 0x1f);
}

static void test_secret_key_parse_refuses_wrong_lengths(void **state)
{
    (void)state;
    secret_key_t k;
    char err[128];
    assert_int_equal(secret_key_parse("00ff", &k, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "32 bytes"));
    assert_int_equal(
        secret_key_parse("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", &k,
                         err, sizeof(err)),
        -1);
    assert_int_equal(secret_key_parse("", &k, err, sizeof(err)), -1);
}

static void test_secret_sha256_hex_known_vector(void **state)
{
    (void)state;
    char out[65];
    secret_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_seal_open_round_trip),
        cmocka_unit_test(test_secret_seal_uses_a_fresh_nonce_each_time),
        cmocka_unit_test(test_secret_open_detects_tampering),
        cmocka_unit_test(test_secret_open_refuses_another_rows_value),
        cmocka_unit_test(test_secret_open_refuses_wrong_master_key),
        cmocka_unit_test(test_secret_open_refuses_malformed_values),
        cmocka_unit_test(test_secret_key_parse_hex_and_base64),
        cmocka_unit_test(test_secret_key_parse_refuses_wrong_lengths),
        cmocka_unit_test(test_secret_sha256_hex_known_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
