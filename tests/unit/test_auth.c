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

static void hex_of(const char *secret, char out[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)secret, strlen(secret), d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Keys with an expiry, a rotation and scopes; times in ms since the epoch. */
static table_t *table_with_lifecycle(void)
{
    char cur[65], old[65], scoped[65], json[2048], e[256];
    hex_of("sk-current", cur);
    hex_of("sk-old", old);
    hex_of("sk-scoped", scoped);
    snprintf(json, sizeof(json),
             "{" PROVIDERS ", \"keys\": [{\"name\": \"life\", \"sha256\": \"%s\", "
             "\"expires_unix_ms\": 2000000, \"previous_sha256\": \"%s\", "
             "\"previous_expires_unix_ms\": 1000000}, {\"name\": \"scoped\", \"sha256\": "
             "\"%s\", \"scopes\": [\"chat\", \"routing\"]}]}",
             cur, old, scoped);
    table_t *t = table_load_json(json, strlen(json), e, sizeof(e));
    if (t == NULL)
        fail_msg("table: %s", e);
    return t;
}

static void test_auth_expiry_and_rotation_grace(void **state)
{
    (void)state;
    table_t *t = table_with_lifecycle();
    const table_key_t *key;
    /* Before the grace ends both secrets work. */
    assert_int_equal(auth_check_at(t, "Bearer sk-current", 999999, &key, err, sizeof(err)), 0);
    assert_string_equal(key->name, "life");
    assert_int_equal(auth_check_at(t, "Bearer sk-old", 999999, &key, err, sizeof(err)), 0);
    assert_string_equal(key->name, "life");
    /* From the grace's end the old secret is expired, the current one not. */
    assert_int_equal(auth_check_at(t, "Bearer sk-old", 1000000, &key, err, sizeof(err)), -1);
    assert_string_equal(err, "authorization: API key expired");
    assert_null(key);
    assert_int_equal(auth_check_at(t, "Bearer sk-current", 1999999, &key, err, sizeof(err)), 0);
    /* From the key's expiry it is refused. */
    assert_int_equal(auth_check_at(t, "Bearer sk-current", 2000000, &key, err, sizeof(err)), -1);
    assert_string_equal(err, "authorization: API key expired");
    /* An unknown secret stays "unknown" whatever the time. */
    assert_int_equal(auth_check_at(t, "Bearer sk-other", 0, &key, err, sizeof(err)), -1);
    assert_string_equal(err, "authorization: unknown API key");
    table_unref(t);
}

static void test_auth_authorize_checks_scopes(void **state)
{
    (void)state;
    table_t *t = table_with_lifecycle();
    const table_key_t *key;
    assert_int_equal(
        auth_authorize(t, "Bearer sk-scoped", TABLE_SCOPE_CHAT, &key, err, sizeof(err)),
        GRPC_STATUS_OK);
    assert_string_equal(key->name, "scoped");
    assert_int_equal(
        auth_authorize(t, "Bearer sk-scoped", TABLE_SCOPE_ROUTING, &key, err, sizeof(err)),
        GRPC_STATUS_OK);
    assert_int_equal(
        auth_authorize(t, "Bearer sk-scoped", TABLE_SCOPE_ENSEMBLES, &key, err, sizeof(err)),
        GRPC_STATUS_PERMISSION_DENIED);
    assert_string_equal(err, "authorization: key 'scoped' lacks scope 'ensembles'");
    assert_null(key);
    assert_int_equal(
        auth_authorize(t, "Bearer sk-scoped", TABLE_SCOPE_MODELS, &key, err, sizeof(err)),
        GRPC_STATUS_PERMISSION_DENIED);
    assert_string_equal(err, "authorization: key 'scoped' lacks scope 'models'");
    /* Authentication fails before scopes are looked at. */
    assert_int_equal(auth_authorize(t, "Bearer nope", TABLE_SCOPE_CHAT, &key, err, sizeof(err)),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(auth_authorize(t, NULL, TABLE_SCOPE_CHAT, &key, err, sizeof(err)),
                     GRPC_STATUS_UNAUTHENTICATED);
    table_unref(t);
    /* A key entry without "scopes" (the old schema) has them all. */
    t = table_with_keys();
    for (unsigned sc = TABLE_SCOPE_CHAT; sc <= TABLE_SCOPE_ROUTING; sc <<= 1)
        assert_int_equal(auth_authorize(t, "Bearer sk-other", sc, &key, err, sizeof(err)),
                         GRPC_STATUS_OK);
    table_unref(t);
    /* Auth off: everyone, every scope. */
    const char *json = "{" PROVIDERS "}";
    char e[256];
    t = table_load_json(json, strlen(json), e, sizeof(e));
    assert_int_equal(auth_authorize(t, NULL, TABLE_SCOPE_ENSEMBLES, &key, err, sizeof(err)),
                     GRPC_STATUS_OK);
    assert_null(key);
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
        cmocka_unit_test(test_auth_expiry_and_rotation_grace),
        cmocka_unit_test(test_auth_authorize_checks_scopes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
