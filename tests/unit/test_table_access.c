/* Unit tests for table_access.c: keys with scopes, limits, expiry and
 * rotation; teams; policies and their resolution; budgets; provider region;
 * and every validation message of those sections.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "table.h"

#define PROVIDERS                                                                                  \
    "\"providers\":[{\"name\":\"a\",\"base_url\":\"http://x\",\"region\":\"eu-west-1\","           \
    "\"models\":[{\"name\":\"m\"}]},{\"name\":\"b\",\"base_url\":\"http://y\","                    \
    "\"models\":[{\"name\":\"m\"}]}]"
#define H0 "0000000000000000000000000000000000000000000000000000000000000000"
#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

static char errbuf[512];

static table_t *load(const char *json)
{
    return table_load_json(json, strlen(json), errbuf, sizeof(errbuf));
}

static table_t *load_ok(const char *json)
{
    table_t *t = load(json);
    if (t == NULL)
        fail_msg("unexpected load error: %s", errbuf);
    return t;
}

static void sha256_hex(const char *secret, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)secret, strlen(secret), d);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_key_without_new_members_may_call_everything(void **state)
{
    (void)state;
    char hex[65], json[512];
    sha256_hex("sk-plain", hex);
    snprintf(json, sizeof(json),
             "{" PROVIDERS ", \"keys\": [{\"name\": \"k\", \"sha256\": \"%s\"}]}", hex);
    table_t *t = load_ok(json);
    const table_key_t *k = table_match_key(t, "sk-plain", 0, NULL);
    assert_non_null(k);
    assert_int_equal(k->scopes, TABLE_SCOPE_ALL);
    assert_int_equal(k->rpm, 0);
    assert_int_equal(k->expires_unix_ms, 0);
    assert_false(k->has_previous);
    assert_null(k->policy);
    assert_non_null(table_find_key(t, "sk-plain"));
    assert_int_equal(table_n_policies(t), 0);
    assert_null(table_org_policy(t));
    assert_string_equal(table_provider_at(t, 0)->region, "eu-west-1");
    assert_string_equal(table_provider_at(t, 1)->region, "");
    table_unref(t);
}

static void test_key_members_are_read(void **state)
{
    (void)state;
    char cur[65], old[65], json[1024];
    sha256_hex("sk-current-secret", cur);
    sha256_hex("sk-previous-secret", old);
    snprintf(json, sizeof(json),
             "{" PROVIDERS ", \"teams\": [{\"name\": \"t\", \"rpm\": 100, \"tpm\": 5000}],"
             " \"keys\": [{\"name\": \"k\", \"sha256\": \"%s\", \"team\": \"t\","
             " \"scopes\": [\"chat\", \"ensembles\"], \"rpm\": 60, \"tpm\": 1000,"
             " \"expires_unix_ms\": 2000, \"previous_sha256\": \"%s\","
             " \"previous_expires_unix_ms\": 1500}]}",
             cur, old);
    table_t *t = load_ok(json);
    bool expired;
    const table_key_t *k = table_match_key(t, "sk-current-secret", 1000, &expired);
    assert_non_null(k);
    assert_false(expired);
    assert_string_equal(k->name, "k");
    assert_int_equal(k->scopes, TABLE_SCOPE_CHAT | TABLE_SCOPE_ENSEMBLES);
    assert_int_equal(k->rpm, 60);
    assert_int_equal(k->tpm, 1000);
    assert_non_null(k->team_limits);
    assert_int_equal(k->team_limits->rpm, 100);
    assert_int_equal(k->team_limits->tpm, 5000);
    /* The previous secret works within its grace only. */
    assert_ptr_equal(table_match_key(t, "sk-previous-secret", 1499, &expired), k);
    assert_null(table_match_key(t, "sk-previous-secret", 1500, &expired));
    assert_true(expired);
    /* The key itself expires at expires_unix_ms. */
    assert_ptr_equal(table_match_key(t, "sk-current-secret", 1999, &expired), k);
    assert_null(table_match_key(t, "sk-current-secret", 2000, &expired));
    assert_true(expired);
    assert_null(table_match_key(t, "sk-unknown", 1000, &expired));
    assert_false(expired);
    /* table_find_key uses the wall clock: 2000 ms after 1970 is long gone. */
    assert_null(table_find_key(t, "sk-current-secret"));
    table_unref(t);
}

static void test_policies_resolve_most_specific_first(void **state)
{
    (void)state;
    char json[2048];
    snprintf(json, sizeof(json),
             "{" PROVIDERS ", \"keys\": ["
             "{\"name\": \"own\", \"sha256\": \"" H0 "\", \"team\": \"t\"},"
             "{\"name\": \"member\", \"sha256\": \"" H1 "\", \"team\": \"t\"},"
             "{\"name\": \"loner\", \"sha256\": \"" H2 "\"}],"
             " \"policies\": ["
             "{\"name\": \"everyone\", \"scope\": \"org\", \"max_tokens\": 100},"
             "{\"name\": \"team-t\", \"scope\": \"team\", \"team\": \"t\","
             " \"allowed_providers\": [\"a\"], \"denied_models\": [\"b/m\"],"
             " \"regions\": [\"eu-west-1\"], \"redact\": [\"email\", \"card\"],"
             " \"max_prompt_bytes\": 4096, \"log_prompts\": true},"
             "{\"name\": \"just-own\", \"scope\": \"key\", \"key\": \"own\","
             " \"denied_providers\": [\"b\"], \"log_responses\": true}]}");
    table_t *t = load_ok(json);
    const table_policy_t *org = table_org_policy(t);
    assert_non_null(org);
    assert_string_equal(org->name, "everyone");
    assert_int_equal(org->max_tokens, 100);
    assert_int_equal(table_n_policies(t), 3);
    const table_policy_t *want[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < table_n_policies(t); i++) {
        const table_policy_t *p = table_policy_at(t, i);
        if (strcmp(p->name, "just-own") == 0)
            want[0] = p;
        else if (strcmp(p->name, "team-t") == 0)
            want[1] = p;
        else
            want[2] = p;
    }
    assert_string_equal(want[1]->scope, "team");
    assert_string_equal(want[1]->target, "t");
    assert_true(table_names_has(&want[1]->allowed_providers, "a"));
    assert_false(table_names_has(&want[1]->allowed_providers, "b"));
    assert_true(table_names_has(&want[1]->denied_models, "b/m"));
    assert_true(table_names_has(&want[1]->regions, "eu-west-1"));
    assert_int_equal(want[1]->redact, TABLE_REDACT_EMAIL | TABLE_REDACT_CARD);
    assert_int_equal(want[1]->max_prompt_bytes, 4096);
    assert_true(want[1]->log_prompts);
    assert_false(want[1]->log_responses);
    assert_true(want[0]->log_responses);
    assert_null(table_policy_at(t, 3));
    table_unref(t);
}

/* Resolution seen through the keys: the secrets are the hashes' preimages. */
static void test_each_key_gets_its_effective_policy(void **state)
{
    (void)state;
    char h[3][65], json[2048];
    sha256_hex("s-own", h[0]);
    sha256_hex("s-member", h[1]);
    sha256_hex("s-loner", h[2]);
    snprintf(json, sizeof(json),
             "{" PROVIDERS ", \"keys\": [{\"name\": \"own\", \"sha256\": \"%s\", \"team\": \"t\"},"
             "{\"name\": \"member\", \"sha256\": \"%s\", \"team\": \"t\"},"
             "{\"name\": \"loner\", \"sha256\": \"%s\"}],"
             " \"policies\": [{\"name\": \"o\", \"scope\": \"org\"},"
             "{\"name\": \"tp\", \"scope\": \"team\", \"team\": \"t\"},"
             "{\"name\": \"kp\", \"scope\": \"key\", \"key\": \"own\"}]}",
             h[0], h[1], h[2]);
    table_t *t = load_ok(json);
    assert_string_equal(table_match_key(t, "s-own", 0, NULL)->policy->name, "kp");
    assert_string_equal(table_match_key(t, "s-member", 0, NULL)->policy->name, "tp");
    assert_string_equal(table_match_key(t, "s-loner", 0, NULL)->policy->name, "o");
    assert_null(table_match_key(t, "s-loner", 0, NULL)->team_limits);
    table_unref(t);
}

/* A managed table with every key revoked stays closed: auth_required keeps
 * auth on with no keys, and no secret matches. */
static void test_auth_required_without_keys_refuses_everyone(void **state)
{
    (void)state;
    table_t *t = load_ok("{" PROVIDERS ", \"keys\": []}");
    assert_false(table_auth_enabled(t));
    table_unref(t);
    t = load_ok("{" PROVIDERS ", \"keys\": [], \"auth_required\": true}");
    assert_true(table_auth_enabled(t));
    assert_null(table_find_key(t, "anything"));
    table_unref(t);
    t = load_ok("{" PROVIDERS ", \"auth_required\": false}");
    assert_false(table_auth_enabled(t));
    table_unref(t);
}

static void test_budgets_and_teams_are_read(void **state)
{
    (void)state;
    table_t *t =
        load_ok("{" PROVIDERS ", \"teams\": [{\"name\": \"z\"}, {\"name\": \"t\", \"rpm\": 5}],"
                " \"budgets\": [{\"name\": \"org-m\", \"scope\": \"org\", \"period\": \"monthly\","
                " \"limit_usd\": 500},"
                "{\"name\": \"t-d\", \"scope\": \"team\", \"team\": \"t\", \"period\": \"daily\","
                " \"limit_usd\": 0.5, \"enforcement\": \"soft\"},"
                "{\"name\": \"p-total\", \"scope\": \"provider\", \"provider\": \"a\","
                " \"period\": \"total\", \"limit_usd\": 10}]}");
    assert_int_equal(table_n_teams(t), 2);
    assert_string_equal(table_team_at(t, 0)->name, "t"); /* sorted */
    assert_int_equal(table_find_team(t, "t")->rpm, 5);
    assert_int_equal(table_find_team(t, "z")->rpm, 0);
    assert_null(table_find_team(t, "q"));
    assert_int_equal(table_n_budgets(t), 3);
    const table_budget_t *b = table_budget_at(t, 1);
    assert_string_equal(b->name, "t-d");
    assert_string_equal(b->scope, "team");
    assert_string_equal(b->target, "t");
    assert_string_equal(b->period, "daily");
    assert_true(b->limit_usd == 0.5);
    assert_false(b->hard);
    assert_true(table_budget_at(t, 0)->hard);
    assert_string_equal(table_budget_at(t, 0)->target, "");
    assert_string_equal(table_budget_at(t, 2)->target, "a");
    assert_null(table_budget_at(t, 3));
    table_unref(t);
}

typedef struct {
    const char *json;
    const char *err;
} bad_t;

#define DOC(rest) "{" PROVIDERS ", " rest "}"
#define KEY(extra) "{\"name\": \"k\", \"sha256\": \"" H0 "\"" extra "}"

static void test_bad_sections_name_the_field(void **state)
{
    (void)state;
    static const bad_t cases[] = {
        {DOC("\"keys\": [" KEY(", \"scopes\": []") "]"),
         "keys[0].scopes: expected at least one of chat, models, ensembles, routing"},
        {DOC("\"keys\": [" KEY(", \"scopes\": [\"chat\", \"admin\"]") "]"),
         "keys[0].scopes[1]: 'admin' is not one of chat, models, ensembles, routing"},
        {DOC("\"keys\": [" KEY(", \"rpm\": -1") "]"), "keys[0].rpm: expected an integer >= 0"},
        {DOC("\"keys\": [" KEY(", \"tpm\": 1.5") "]"), "keys[0].tpm: expected an integer >= 0"},
        {DOC("\"keys\": [" KEY(", \"expires_unix_ms\": 0") "]"),
         "keys[0].expires_unix_ms: expected a time in unix milliseconds"},
        {DOC("\"keys\": [" KEY(", \"previous_sha256\": \"" H1 "\"") "]"),
         "keys[0].previous_expires_unix_ms: required with previous_sha256"},
        {DOC("\"keys\": [" KEY(", \"previous_expires_unix_ms\": 5") "]"),
         "keys[0].previous_sha256: required with previous_expires_unix_ms"},
        {DOC("\"keys\": [" KEY(", \"previous_sha256\": \"" H0
                               "\", \"previous_expires_unix_ms\": 5") "]"),
         "keys[0].previous_sha256: same hash as sha256"},
        {DOC("\"keys\": [" KEY("") ", {\"name\": \"j\", \"sha256\": \"" H1
                                   "\", \"previous_sha256\": \"" H0
                                   "\", \"previous_expires_unix_ms\": 5}]"),
         "keys[1].sha256: same hash as keys[0]"},
        {DOC("\"keys\": [" KEY(", \"secret\": \"x\"") "]"), "keys[0].secret: unknown field"},
        {DOC("\"teams\": [{\"name\": \"t\"}, {\"name\": \"t\"}]"),
         "teams[1].name: duplicate name 't'"},
        {DOC("\"teams\": [{\"name\": \"t\", \"rpm\": -5}]"),
         "teams[0].rpm: expected an integer >= 0"},
        {DOC("\"policies\": [{\"name\": \"p\"}]"), "policies[0].scope: required"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"world\"}]"),
         "policies[0].scope: 'world' is not one of org, team, key"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"team\"}]"),
         "policies[0].team: required with scope 'team'"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"org\", \"team\": \"t\"}]"),
         "policies[0].team: not allowed with scope 'org'"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"key\", \"key\": \"ghost\"}]"),
         "policies[0].key: no key 'ghost' in keys"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"org\","
             " \"allowed_providers\": [\"a\", \"b\"], \"denied_providers\": [\"b\"]}]"),
         "policies[0].denied_providers[0]: 'b' is both allowed and denied"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"org\","
             " \"allowed_models\": [\"m\"], \"denied_models\": [\"x\", \"m\"]}]"),
         "policies[0].denied_models[1]: 'm' is both allowed and denied"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"org\"},"
             " {\"name\": \"q\", \"scope\": \"org\"}]"),
         "policies[1]: same target as policies[0] ('p')"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"team\", \"team\": \"t\"},"
             " {\"name\": \"p\", \"scope\": \"team\", \"team\": \"u\"}]"),
         "policies[1].name: duplicate name 'p'"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"org\", \"max_tokens\": 0}]"),
         "policies[0].max_tokens: expected an integer 1..10000000"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"org\", \"regions\": [\"\"]}]"),
         "policies[0].regions[0]: expected a non-empty name of at most 200 characters"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"org\", \"redact\": [\"ssn\"]}]"),
         "policies[0].redact[0]: 'ssn' is not one of email, phone, card, iban"},
        {DOC("\"policies\": [{\"name\": \"p\", \"scope\": \"org\", \"log_prompts\": 1}]"),
         "policies[0].log_prompts: expected true or false"},
        {DOC("\"budgets\": [{\"name\": \"b\", \"scope\": \"org\", \"period\": \"monthly\"}]"),
         "budgets[0].limit_usd: required"},
        {DOC("\"budgets\": [{\"name\": \"b\", \"scope\": \"org\", \"period\": \"monthly\","
             " \"limit_usd\": 0}]"),
         "budgets[0].limit_usd: expected a number > 0 and at most 1e12"},
        {DOC("\"budgets\": [{\"name\": \"b\", \"scope\": \"org\", \"period\": \"monthly\","
             " \"limit_usd\": -3}]"),
         "budgets[0].limit_usd: expected a number > 0 and at most 1e12"},
        {DOC("\"budgets\": [{\"name\": \"b\", \"scope\": \"org\", \"period\": \"hourly\","
             " \"limit_usd\": 1}]"),
         "budgets[0].period: 'hourly' is not one of daily, weekly, monthly, total"},
        {DOC("\"budgets\": [{\"name\": \"b\", \"scope\": \"provider\", \"period\": \"daily\","
             " \"limit_usd\": 1}]"),
         "budgets[0].provider: required with scope 'provider'"},
        {DOC("\"budgets\": [{\"name\": \"b\", \"scope\": \"org\", \"period\": \"daily\","
             " \"limit_usd\": 1, \"enforcement\": \"maybe\"}]"),
         "budgets[0].enforcement: 'maybe' is not one of hard, soft"},
        {DOC("\"budgets\": [{\"name\": \"b\", \"scope\": \"org\", \"period\": \"daily\","
             " \"limit_usd\": 1}, {\"name\": \"c\", \"scope\": \"org\", \"period\": \"daily\","
             " \"limit_usd\": 2}]"),
         "budgets[1]: same scope, target and period as budgets[0]"},
        {DOC("\"auth_required\": \"yes\""), "auth_required: expected true or false"},
        {"{\"providers\":[{\"name\":\"a\",\"base_url\":\"http://x\",\"region\":7,"
         "\"models\":[{\"name\":\"m\"}]}]}",
         "providers[0].region: expected a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errbuf[0] = '\0';
        table_t *t = load(cases[i].json);
        if (t != NULL) {
            table_unref(t);
            fail_msg("case %zu loaded but should fail with '%s'", i, cases[i].err);
        }
        if (strcmp(errbuf, cases[i].err) != 0)
            fail_msg("case %zu: got '%s', want '%s'", i, errbuf, cases[i].err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_without_new_members_may_call_everything),
        cmocka_unit_test(test_key_members_are_read),
        cmocka_unit_test(test_policies_resolve_most_specific_first),
        cmocka_unit_test(test_each_key_gets_its_effective_policy),
        cmocka_unit_test(test_auth_required_without_keys_refuses_everyone),
        cmocka_unit_test(test_budgets_and_teams_are_read),
        cmocka_unit_test(test_bad_sections_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
