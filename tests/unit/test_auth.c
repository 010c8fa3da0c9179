/* Unit tests for auth.c: bearer parsing and key lookup against the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "auth.h"
#include "table.h"

#define PROVIDERS                                                                                  \
    "\"providers\": [{\"name\": \"a\", \"base_url\": \"http://x\", "                               \
    "\"models\": [{\"name\": \"m\"}]}]"

static char err[256];

static table_t *table_with_keys(void)
{
    const char *secrets[2] = {"sk-team-search", "sk-other"};
    char hex[2][65], json[1024], e[256];
    for (int k = 0; k < 2; k++) {
        unsigned char d[32];
        SHA256((const unsigned char *)secrets[k], strlen(secrets[k]), d);
        for (int i = 0; i < 32; i++)
            snprintf(hex[k] + 2 * i, 3, "%02x", d[i]);
    }
    snprintf(json, sizeof(json),
             "{" PROVIDERS ", \"keys\": [{\"name\": \"search-svc\", \"sha256\": \"%s\", "
             "\"team\": \"search\"}, {\"name\": \"other\", \"sha256\": \"%s\"}]}",
             hex[0], hex[1]);
    table_t *t = table_load_json(json, strlen(json), e, sizeof(e));
    if (t == NULL)
        fail_msg("table: %s", e);
    return t;
}

static int check(const table_t *t, const char *header, const table_key_t **key)
{
    err[0] = '\0';
    *key = (const table_key_t *)t; /* must be overwritten */
    return auth_check(t, header, key, err, sizeof(err));
}

static void test_auth_off_without_keys_lets_everyone_in(void **state)
{
    const char *json = "{" PROVIDERS "}";
    char e[256];
    table_t *t = table_load_json(json, strlen(json), e, sizeof(e));
    assert_non_null(t);
    const table_key_t *key;
    assert_int_equal(check(t, NULL, &key), 0);
    assert_null(key);
    assert_int_equal(check(t, "Bearer whatever", &key), 0);
    assert_null(key);
    assert_int_equal(check(t, "garbage", &key), 0);
    assert_null(key);
    assert_string_equal(err, "");
    table_unref(t);
}

static void test_auth_missing_header_is_refused(void **state)
{
    table_t *t = table_with_keys();
    const table_key_t *key;
    assert_int_equal(check(t, NULL, &key), -1);
    assert_null(key);
    assert_string_equal(err, "authorization: missing bearer token");
    assert_int_equal(check(t, "", &key), -1);
    assert_string_equal(err, "authorization: missing bearer token");
    table_unref(t);
}

static void test_auth_malformed_or_wrong_scheme_is_missing_bearer_token(void **state)
{
    table_t *t = table_with_keys();
    const table_key_t *key;
    static const char *const bad[] = {
        "Basic c2stdGVhbS1zZWFyY2g=", /* wrong scheme */
        "sk-team-search",             /* no scheme */
        "Bearer",                     /* no token */
        "Bearer ",                    /* empty token */
        "Bearer    ",                 /* only spaces */
        "Bearersk-team-search",       /* no separator */
        "Bearer sk-team-search junk", /* trailing junk */
        "Bearer sk-team\x01search",   /* control character */
        "Token sk-team-search",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (check(t, bad[i], &key) != -1)
            fail_msg("accepted '%s'", bad[i]);
        assert_null(key);
        assert_string_equal(err, "authorization: missing bearer token");
    }
    table_unref(t);
}

static void test_auth_unknown_key_is_refused(void **state)
{
    table_t *t = table_with_keys();
    const table_key_t *key;
    assert_int_equal(check(t, "Bearer sk-team-searcH", &key), -1);
    assert_null(key);
    assert_string_equal(err, "authorization: unknown API key");
    assert_int_equal(check(t, "Bearer sk-team-search2", &key), -1);
    assert_string_equal(err, "authorization: unknown API key");
    table_unref(t);
}

static void test_auth_good_key_returns_the_tables_key(void **state)
{
    table_t *t = table_with_keys();
    const table_key_t *key;
    assert_int_equal(check(t, "Bearer sk-team-search", &key), 0);
    assert_non_null(key);
    assert_string_equal(key->name, "search-svc");
    assert_string_equal(key->team, "search");
    assert_string_equal(err, "");
    assert_int_equal(check(t, "Bearer sk-other", &key), 0);
    assert_string_equal(key->name, "other");
    assert_string_equal(key->team, "");
    table_unref(t);
}

static void test_auth_bearer_scheme_is_case_insensitive_and_spacing_tolerant(void **state)
{
    table_t *t = table_with_keys();
    const table_key_t *key;
    static const char *const good[] = {
        "bearer sk-team-search",   "BEARER sk-team-search",  "bEaReR sk-team-search",
        "Bearer   sk-team-search", "Bearer\tsk-team-search", "Bearer sk-team-search  ",
        " Bearer sk-team-search",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (check(t, good[i], &key) != 0)
            fail_msg("refused '%s': %s", good[i], err);
        assert_string_equal(key->name, "search-svc");
    }
    table_unref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_off_without_keys_lets_everyone_in),
        cmocka_unit_test(test_auth_missing_header_is_refused),
        cmocka_unit_test(test_auth_malformed_or_wrong_scheme_is_missing_bearer_token),
        cmocka_unit_test(test_auth_unknown_key_is_refused),
        cmocka_unit_test(test_auth_good_key_returns_the_tables_key),
        cmocka_unit_test(test_auth_bearer_scheme_is_case_insensitive_and_spacing_tolerant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
