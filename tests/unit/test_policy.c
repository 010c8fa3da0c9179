/* Unit tests for policy.c: which policy applies, the route filter per list
 * kind, max_tokens / max_prompt_bytes, redaction of chat and raw bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "log.h"
#include "policy.h"

#define PROVIDERS                                                                                  \
    "\"providers\": ["                                                                             \
    "{\"name\": \"eu\", \"base_url\": \"http://x\", \"region\": \"eu-west-1\", "                   \
    "\"models\": [{\"name\": \"m1\"}, {\"name\": \"m2\"}]},"                                       \
    "{\"name\": \"us\", \"base_url\": \"http://y\", \"region\": \"us-east-1\", "                   \
    "\"models\": [{\"name\": \"m1\"}]},"                                                           \
    "{\"name\": \"nowhere\", \"base_url\": \"http://z\", \"models\": [{\"name\": \"m1\"}]}]"

static char err[512];

static table_t *load(const char *policies)
{
    char json[4096], e[512];
    snprintf(json, sizeof(json), "{" PROVIDERS ", \"policies\": [%s]}", policies);
    table_t *t = table_load_json(json, strlen(json), e, sizeof(e));
    if (!t)
        fail_msg("table: %s", e);
    return t;
}

/* NULL when p/m passes the org policy's filter, else why not. */
static const char *why_excluded(table_t *t, const char *prov, const char *model)
{
    static char why[160];
    const table_provider_t *p = table_find_provider(t, prov);
    const table_model_t *m = table_provider_find_model(p, model);
    route_filter_t f = policy_route_filter(policy_for(t, NULL));
    if (!f.exclude)
        return NULL;
    return f.exclude(f.ud, p, m, why, sizeof(why));
}

static void test_policy_none_without_policies(void **state)
{
    (void)state;
    table_t *t = load("");
    assert_null(policy_for(t, NULL));
    assert_null(policy_route_filter(NULL).exclude);
    table_unref(t);
}

static void test_policy_providers_allowed_and_denied(void **state)
{
    (void)state;
    table_t *t =
        load("{\"name\": \"only-eu\", \"scope\": \"org\", \"allowed_providers\": [\"eu\"]}");
    assert_null(why_excluded(t, "eu", "m1"));
    assert_string_equal(why_excluded(t, "us", "m1"),
                        "excluded by policy 'only-eu' (provider: not in allowed_providers)");
    table_unref(t);
    t = load("{\"name\": \"no-us\", \"scope\": \"org\", \"denied_providers\": [\"us\"]}");
    assert_null(why_excluded(t, "eu", "m1"));
    assert_string_equal(why_excluded(t, "us", "m1"),
                        "excluded by policy 'no-us' (provider: in denied_providers)");
    table_unref(t);
}

static void test_policy_models_bare_or_qualified(void **state)
{
    (void)state;
    table_t *t = load("{\"name\": \"m\", \"scope\": \"org\", \"allowed_models\": [\"m2\", "
                      "\"us/m1\"]}");
    assert_null(why_excluded(t, "eu", "m2"));
    assert_null(why_excluded(t, "us", "m1"));
    assert_string_equal(why_excluded(t, "eu", "m1"),
                        "excluded by policy 'm' (model: not in allowed_models)");
    table_unref(t);
    t = load("{\"name\": \"d\", \"scope\": \"org\", \"denied_models\": [\"eu/m1\"]}");
    assert_null(why_excluded(t, "us", "m1"));
    assert_null(why_excluded(t, "eu", "m2"));
    assert_string_equal(why_excluded(t, "eu", "m1"),
                        "excluded by policy 'd' (model: in denied_models)");
    table_unref(t);
}

static void test_policy_regions_need_a_listed_region(void **state)
{
    (void)state;
    table_t *t = load("{\"name\": \"eu-only\", \"scope\": \"org\", \"regions\": [\"eu-west-1\"]}");
    assert_null(why_excluded(t, "eu", "m1"));
    assert_string_equal(why_excluded(t, "us", "m1"),
                        "excluded by policy 'eu-only' (region: us-east-1 not in regions)");
    assert_string_equal(why_excluded(t, "nowhere", "m1"),
                        "excluded by policy 'eu-only' (region: unknown, not in regions)");
    table_unref(t);
}

static Llmgw__V1__ChatRequest *chat(arena_t *a, const char *content, int max_tokens)
{
    Llmgw__V1__ChatRequest *r = arena_alloc(a, sizeof(*r));
    Llmgw__V1__Message *m = arena_alloc(a, sizeof(*m));
    Llmgw__V1__Message **list = arena_alloc(a, sizeof(*list));
    llmgw__v1__chat_request__init(r);
    llmgw__v1__message__init(m);
    m->role = "user";
    m->content = (char *)content;
    list[0] = m;
    r->messages = list;
    r->n_messages = 1;
    r->model = "eu/m1";
    if (max_tokens > 0) {
        r->max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
        r->max_tokens = max_tokens;
    }
    return r;
}

static void test_policy_max_tokens_refused_over_and_capped_when_absent(void **state)
{
    (void)state;
    table_t *t = load("{\"name\": \"small\", \"scope\": \"org\", \"max_tokens\": 100}");
    const table_policy_t *pol = policy_for(t, NULL);
    arena_t *a = arena_new(0);
    const Llmgw__V1__ChatRequest *out;
    redact_counts_t c = {0};
    Llmgw__V1__ChatRequest *r = chat(a, "hi", 101);
    assert_int_equal(policy_apply_chat(pol, a, r, &out, &c, err, sizeof(err)), POLICY_DENIED);
    assert_string_equal(err, "policy 'small': max_tokens 101 over the policy's max_tokens 100");
    r = chat(a, "hi", 100);
    assert_int_equal(policy_apply_chat(pol, a, r, &out, &c, err, sizeof(err)), POLICY_OK);
    assert_ptr_equal(out, r);
    r = chat(a, "hi", 0);
    assert_int_equal(policy_apply_chat(pol, a, r, &out, &c, err, sizeof(err)), POLICY_OK);
    assert_ptr_not_equal(out, r);
    assert_int_equal(out->max_tokens, 100);
    assert_int_equal(r->max_tokens_opt_case, LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT__NOT_SET);
    arena_free(a);
    table_unref(t);
}

static void test_policy_max_prompt_bytes_counts_every_message(void **state)
{
    (void)state;
    table_t *t = load("{\"name\": \"short\", \"scope\": \"org\", \"max_prompt_bytes\": 10}");
    const table_policy_t *pol = policy_for(t, NULL);
    arena_t *a = arena_new(0);
    const Llmgw__V1__ChatRequest *out;
    redact_counts_t c = {0};
    assert_int_equal(
        policy_apply_chat(pol, a, chat(a, "0123456789", 0), &out, &c, err, sizeof(err)), POLICY_OK);
    Llmgw__V1__ChatRequest *r = chat(a, "0123456789", 0);
    Llmgw__V1__Message *m2 = arena_alloc(a, sizeof(*m2));
    llmgw__v1__message__init(m2);
    m2->role = "user";
    m2->content_parts_json = "[{\"type\":\"text\",\"text\":\"x\"}]";
    Llmgw__V1__Message **list = arena_alloc(a, 2 * sizeof(*list));
    list[0] = r->messages[0];
    list[1] = m2;
    r->messages = list;
    r->n_messages = 2;
    assert_int_equal(policy_apply_chat(pol, a, r, &out, &c, err, sizeof(err)), POLICY_DENIED);
    assert_non_null(strstr(err, "policy 'short': messages: prompt of 38 bytes over the policy's "
                                "max_prompt_bytes 10"));
    arena_free(a);
    table_unref(t);
}

static void test_policy_redacts_contents_and_parts_copy_on_write(void **state)
{
    (void)state;
    table_t *t = load("{\"name\": \"pii\", \"scope\": \"org\", \"redact\": [\"email\", \"card\"]}");
    const table_policy_t *pol = policy_for(t, NULL);
    arena_t *a = arena_new(0);
    const Llmgw__V1__ChatRequest *out;
    redact_counts_t c = {0};
    Llmgw__V1__ChatRequest *r = chat(a, "mail jo@ex.com card 4111 1111 1111 1111", 0);
    Llmgw__V1__Message *m2 = arena_alloc(a, sizeof(*m2));
    llmgw__v1__message__init(m2);
    m2->role = "user";
    m2->content_parts_json = "[{\"type\":\"text\",\"text\":\"me: a@b.org\"},"
                             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x@y.com\"}}]";
    Llmgw__V1__Message *m3 = arena_alloc(a, sizeof(*m3));
    llmgw__v1__message__init(m3);
    m3->role = "user";
    m3->content = "nothing here, +44 20 7946 0958 is a phone (not redacted)";
    Llmgw__V1__Message **list = arena_alloc(a, 3 * sizeof(*list));
    list[0] = r->messages[0];
    list[1] = m2;
    list[2] = m3;
    r->messages = list;
    r->n_messages = 3;
    assert_int_equal(policy_apply_chat(pol, a, r, &out, &c, err, sizeof(err)), POLICY_OK);
    assert_ptr_not_equal(out, r);
    assert_string_equal(out->messages[0]->content, "mail [REDACTED_EMAIL] card [REDACTED_CARD]");
    assert_string_equal(out->messages[1]->content_parts_json,
                        "[{\"type\":\"text\",\"text\":\"me: [REDACTED_EMAIL]\"},"
                        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x@y.com\"}}]");
    assert_ptr_equal(out->messages[2], m3); /* unchanged: shared */
    /* The original is untouched. */
    assert_string_equal(r->messages[0]->content, "mail jo@ex.com card 4111 1111 1111 1111");
    assert_int_equal(c.emails, 2);
    assert_int_equal(c.cards, 1);
    assert_int_equal(c.phones, 0);
    arena_free(a);
    table_unref(t);
}

static void test_policy_raw_bodies(void **state)
{
    (void)state;
    table_t *t = load("{\"name\": \"raw\", \"scope\": \"org\", \"redact\": [\"iban\"], "
                      "\"max_tokens\": 50, \"max_prompt_bytes\": 100}");
    const table_policy_t *pol = policy_for(t, NULL);
    arena_t *a = arena_new(0);
    const char *out;
    redact_counts_t c = {0};
    const char *body = "{\"prompt\": [\"iban DE89370400440532013000\", 7], \"max_tokens\": 20}";
    assert_int_equal(policy_apply_raw(pol, a, body, &out, &c, err, sizeof(err)), POLICY_OK);
    assert_non_null(strstr(out, "iban [REDACTED_IBAN]"));
    assert_null(strstr(out, "DE89"));
    assert_int_equal(c.ibans, 1);
    assert_int_equal(policy_apply_raw(pol, a, "{\"input\": \"x\", \"max_tokens\": 51}", &out, &c,
                                      err, sizeof(err)),
                     POLICY_DENIED);
    assert_string_equal(err, "policy 'raw': max_tokens 51 over the policy's max_tokens 50");
    char big[300];
    snprintf(big, sizeof(big), "{\"input\": \"%0150d\"}", 0);
    assert_int_equal(policy_apply_raw(pol, a, big, &out, &c, err, sizeof(err)), POLICY_DENIED);
    assert_non_null(strstr(err, "prompt: 150 bytes over the policy's max_prompt_bytes 100"));
    const char *clean = "{\"prompt\": \"hello\"}";
    assert_int_equal(policy_apply_raw(pol, a, clean, &out, &c, err, sizeof(err)), POLICY_OK);
    assert_ptr_equal(out, clean);
    arena_free(a);
    table_unref(t);
}

static void sha_hex(const char *secret, char hex[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)secret, strlen(secret), d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static void test_policy_most_specific_applies(void **state)
{
    (void)state;
    char h[3][65], json[4096], e[256];
    sha_hex("s1", h[0]);
    sha_hex("s2", h[1]);
    sha_hex("s3", h[2]);
    snprintf(json, sizeof(json),
             "{" PROVIDERS ", \"keys\": [{\"name\": \"k1\", \"sha256\": \"%s\", \"team\": \"t\"}, "
             "{\"name\": \"k2\", \"sha256\": \"%s\", \"team\": \"t\"}, {\"name\": \"k3\", "
             "\"sha256\": \"%s\"}], \"policies\": [{\"name\": \"org\", \"scope\": \"org\"}, "
             "{\"name\": \"team\", \"scope\": \"team\", \"team\": \"t\"}, {\"name\": \"key\", "
             "\"scope\": \"key\", \"key\": \"k1\"}]}",
             h[0], h[1], h[2]);
    table_t *t = table_load_json(json, strlen(json), e, sizeof(e));
    if (!t)
        fail_msg("table: %s", e);
    const char *secrets[3] = {"s1", "s2", "s3"}, *want[3] = {"key", "team", "org"};
    for (int i = 0; i < 3; i++) {
        const table_key_t *k = table_match_key(t, secrets[i], 0, NULL);
        assert_non_null(k);
        assert_string_equal(policy_for(t, k)->name, want[i]);
    }
    /* Anonymous callers (auth off) get the org's. */
    assert_string_equal(policy_for(t, NULL)->name, "org");
    table_unref(t);
}

/* Everything policy_log_* writes to stderr at debug level, with `pol`. */
static void logged(const table_policy_t *pol, Llmgw__V1__ChatRequest *req, char *out, size_t cap)
{
    char path[] = "/tmp/test_policy_log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    log_set_level(LOG_DEBUG);
    policy_log_prompt(pol, "k", req);
    policy_log_response(pol, "k", "the answer 4111");
    log_set_level(LOG_INFO);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

static void test_policy_prompts_and_responses_logged_only_when_allowed(void **state)
{
    (void)state;
    arena_t *a = arena_new(0);
    Llmgw__V1__ChatRequest *req = chat(a, "secret \"prompt\" text", 0);
    char out[8192];
    logged(NULL, req, out, sizeof(out));
    assert_string_equal(out, "");
    table_t *t = load("{\"name\": \"quiet\", \"scope\": \"org\"}");
    logged(policy_for(t, NULL), req, out, sizeof(out));
    assert_string_equal(out, "");
    table_unref(t);
    t = load("{\"name\": \"loud\", \"scope\": \"org\", \"log_prompts\": true}");
    logged(policy_for(t, NULL), req, out, sizeof(out));
    assert_non_null(
        strstr(out, "policy=loud key=k message=0 role=user text=\"secret \\\"prompt\\\" text\""));
    assert_null(strstr(out, "the answer"));
    table_unref(t);
    t = load("{\"name\": \"answers\", \"scope\": \"org\", \"log_responses\": true}");
    logged(policy_for(t, NULL), req, out, sizeof(out));
    assert_null(strstr(out, "secret"));
    assert_non_null(strstr(out, "text=\"the answer 4111\""));
    table_unref(t);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_none_without_policies),
        cmocka_unit_test(test_policy_providers_allowed_and_denied),
        cmocka_unit_test(test_policy_models_bare_or_qualified),
        cmocka_unit_test(test_policy_regions_need_a_listed_region),
        cmocka_unit_test(test_policy_max_tokens_refused_over_and_capped_when_absent),
        cmocka_unit_test(test_policy_max_prompt_bytes_counts_every_message),
        cmocka_unit_test(test_policy_redacts_contents_and_parts_copy_on_write),
        cmocka_unit_test(test_policy_raw_bodies),
        cmocka_unit_test(test_policy_most_specific_applies),
        cmocka_unit_test(test_policy_prompts_and_responses_logged_only_when_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
