/* Integration: governance enforced by the real llmgw-dataplane (standalone
 * --table with keys, teams and policies) in front of a real llmgw-sim, over
 * gRPC and the OpenAI HTTP API: authentication first, each key state,
 * scopes, rate limits with their retry time, each policy kind blocking and
 * allowing, Explain naming policy exclusions, and PII redacted before the
 * simulator sees it (the sim echoes the last user message it received).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/sha.h>

#include "buf.h"
#include "grpc_client.h"
#include "harness.h"
#include "llmgw/v1/chat.pb-c.h"
#include "llmgw/v1/routing.pb-c.h"

static harness_proc_t sim, dp;
static gc_channel_t *ch;
static int http_port;

static void sha_hex(const char *secret, char hex[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)secret, strlen(secret), d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static int64_t now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A key entry: name, secret, and extra JSON members ("" none). */
static void key_entry(buf_t *b, const char *name, const char *secret, const char *extra)
{
    char h[65];
    sha_hex(secret, h);
    buf_printf(b, "%s{\"name\": \"%s\", \"sha256\": \"%s\"%s%s}", b->len > 10 ? ", " : "", name, h,
               extra[0] ? ", " : "", extra);
}

static const char *table_json(int port, int version)
{
    static buf_t t = BUF_INIT(1 << 20);
    char prev_ok[65], prev_late[65], extra[512];
    int64_t now = now_unix_ms();
    buf_reset(&t);
    buf_printf(&t,
               "{\"version\": %2$d, \"providers\": ["
               "{\"name\": \"eu\", \"region\": \"eu-west-1\", \"base_url\": "
               "\"http://127.0.0.1:%1$d/v1\", \"health\": {\"interval_ms\": 0}, "
               "\"models\": [{\"name\": \"m1\"}, {\"name\": \"m2\"}]},"
               "{\"name\": \"us\", \"region\": \"us-east-1\", \"base_url\": "
               "\"http://127.0.0.1:%1$d/v1\", \"health\": {\"interval_ms\": 0}, "
               "\"models\": [{\"name\": \"m1\"}]}],"
               "\"routes\": [{\"name\": \"r-all\", \"strategy\": \"priority\", \"deployments\": ["
               "{\"provider\": \"us\", \"model\": \"m1\", \"priority\": 0},"
               "{\"provider\": \"eu\", \"model\": \"m1\", \"priority\": 1}]}],"
               "\"teams\": [{\"name\": \"small-team\", \"rpm\": 2}],"
               "\"keys\": [",
               port, version);
    buf_t keys = BUF_INIT(1 << 16);
    buf_append_str(&keys, "0123456789"); /* so key_entry puts commas after the first */
    key_entry(&keys, "valid", "sk-valid", "");
    snprintf(extra, sizeof(extra), "\"expires_unix_ms\": %lld", (long long)(now - 1000));
    key_entry(&keys, "expired", "sk-expired", extra);
    sha_hex("sk-rot-old", prev_ok);
    snprintf(extra, sizeof(extra),
             "\"previous_sha256\": \"%s\", \"previous_expires_unix_ms\": %lld", prev_ok,
             (long long)(now + 3600 * 1000));
    key_entry(&keys, "rotated", "sk-rot-new", extra);
    sha_hex("sk-late-old", prev_late);
    snprintf(extra, sizeof(extra),
             "\"previous_sha256\": \"%s\", \"previous_expires_unix_ms\": %lld", prev_late,
             (long long)(now - 1));
    key_entry(&keys, "rotated-late", "sk-late-new", extra);
    key_entry(&keys, "chat-only", "sk-chat-only", "\"scopes\": [\"chat\"]");
    key_entry(&keys, "models-only", "sk-models-only", "\"scopes\": [\"models\"]");
    key_entry(&keys, "rpm-grpc", "sk-rpm-grpc", "\"rpm\": 60");
    key_entry(&keys, "rpm-http", "sk-rpm-http", "\"rpm\": 60");
    key_entry(&keys, "tpm", "sk-tpm", "\"tpm\": 100");
    key_entry(&keys, "team-a", "sk-team-a", "\"team\": \"small-team\"");
    key_entry(&keys, "team-b", "sk-team-b", "\"team\": \"small-team\"");
    key_entry(&keys, "eu", "sk-eu", "");
    key_entry(&keys, "allowp", "sk-allowp", "");
    key_entry(&keys, "denyp", "sk-denyp", "");
    key_entry(&keys, "allowm", "sk-allowm", "");
    key_entry(&keys, "denym", "sk-denym", "");
    key_entry(&keys, "caps", "sk-caps", "");
    key_entry(&keys, "pii", "sk-pii", "");
    buf_append_str(&t, keys.data + 10);
    buf_free(&keys);
    buf_append_str(&t,
                   "], \"policies\": ["
                   "{\"name\": \"eu-only\", \"scope\": \"key\", \"key\": \"eu\", \"regions\": "
                   "[\"eu-west-1\"]},"
                   "{\"name\": \"only-eu-provider\", \"scope\": \"key\", \"key\": \"allowp\", "
                   "\"allowed_providers\": [\"eu\"]},"
                   "{\"name\": \"no-us\", \"scope\": \"key\", \"key\": \"denyp\", "
                   "\"denied_providers\": [\"us\"]},"
                   "{\"name\": \"only-m2\", \"scope\": \"key\", \"key\": \"allowm\", "
                   "\"allowed_models\": [\"eu/m2\"]},"
                   "{\"name\": \"no-m1\", \"scope\": \"key\", \"key\": \"denym\", "
                   "\"denied_models\": [\"m1\"]},"
                   "{\"name\": \"caps\", \"scope\": \"key\", \"key\": \"caps\", \"max_tokens\": "
                   "50, \"max_prompt_bytes\": 100},"
                   "{\"name\": \"pii\", \"scope\": \"key\", \"key\": \"pii\", \"redact\": "
                   "[\"email\", \"phone\", \"card\", \"iban\"]}]}");
    return t.data;
}

static int group_setup(void **state)
{
    (void)state;
    if (harness_start_sim(&sim, "sim-a", NULL) < 0)
        return -1;
    const char *table = harness_write("table.json", "%s", table_json(sim.port, 1));
    if (!table)
        return -1;
    char table_path[512], http_file[512];
    snprintf(table_path, sizeof(table_path), "%s", table);
    snprintf(http_file, sizeof(http_file), "%s/http.port", harness_dir());
    const char *extra[] = {"--http-listen", "127.0.0.1:0", "--http-port-file", http_file, NULL};
    if (harness_start_dataplane(&dp, table_path, extra) < 0)
        return -1;
    FILE *f = fopen(http_file, "r");
    if (!f || fscanf(f, "%d", &http_port) != 1) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", dp.port);
    ch = gc_channel_new(target);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return ch ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    gc_channel_free(ch);
    curl_global_cleanup();
    int rc = harness_stop(&dp, SIGTERM, 5000);
    harness_stop(&sim, SIGTERM, 2000);
    harness_cleanup();
    return rc == 0 ? 0 : -1;
}

/* --- gRPC helpers ------------------------------------------------------- */

typedef struct {
    grpc_status_code status;
    char details[2048];
    char trailers[512];
    char answer[4096]; /* Complete: choices[0].message.content */
    buf_t body;        /* the raw response */
} rpc_t;

static rpc_t rpc_raw(const char *method, const char *key, const void *msg, size_t len)
{
    rpc_t r = {.body = BUF_INIT(1 << 22)};
    buf_t details = BUF_INIT(1 << 16), trailers = BUF_INIT(1 << 12);
    r.status = gc_unary_trailers(ch, method, key, 10000, msg, len, &r.body, &details, &trailers);
    snprintf(r.details, sizeof(r.details), "%s", buf_cstr(&details));
    snprintf(r.trailers, sizeof(r.trailers), "%s", buf_cstr(&trailers));
    buf_free(&details);
    buf_free(&trailers);
    return r;
}

static rpc_t rpc_chat(const char *method, const char *key, const char *model, const char *prompt,
                      int max_tokens)
{
    Llmgw__V1__Message m = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message *msgs[1] = {&m};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    m.role = "user";
    m.content = (char *)prompt;
    req.model = (char *)model;
    req.messages = msgs;
    req.n_messages = 1;
    if (max_tokens > 0) {
        req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
        req.max_tokens = max_tokens;
    }
    size_t len = llmgw__v1__chat_request__get_packed_size(&req);
    uint8_t *bytes = malloc(len + 1);
    assert_non_null(bytes);
    llmgw__v1__chat_request__pack(&req, bytes);
    rpc_t r = rpc_raw(method, key, bytes, len);
    free(bytes);
    if (r.status == GRPC_STATUS_OK && strstr(method, "Complete")) {
        Llmgw__V1__ChatResponse *resp =
            llmgw__v1__chat_response__unpack(NULL, r.body.len, (uint8_t *)r.body.data);
        assert_non_null(resp);
        if (resp->n_choices > 0 && resp->choices[0]->message)
            snprintf(r.answer, sizeof(r.answer), "%s", resp->choices[0]->message->content);
        llmgw__v1__chat_response__free_unpacked(resp, NULL);
    }
    return r;
}

static rpc_t complete(const char *key, const char *model, const char *prompt)
{
    return rpc_chat("/llmgw.v1.ChatService/Complete", key, model, prompt, 0);
}

static void rpc_free(rpc_t *r)
{
    buf_free(&r->body);
}

/* NULL needle: anything. */
static bool has(const char *hay, const char *needle)
{
    return !needle || strstr(hay, needle) != NULL;
}

#define EXPECT_RPC(r, st, needle)                                                                  \
    do {                                                                                           \
        if ((r).status != (st) || !has((r).details, (needle)))                                     \
            fail_msg("status %s '%s', expected %s with '%s'", gc_status_name((r).status),          \
                     (r).details, gc_status_name(st), has("", (needle)) ? "" : (needle));          \
    } while (0)

/* --- HTTP helpers -------------------------------------------------------- */

typedef struct {
    long code;
    buf_t body;
    char retry_after[32];
} http_t;

static size_t http_write(char *p, size_t sz, size_t n, void *ud)
{
    buf_append(ud, p, sz * n);
    return sz * n;
}

static size_t http_header(char *p, size_t sz, size_t n, void *ud)
{
    http_t *h = ud;
    size_t len = sz * n;
    if (len > 13 && strncasecmp(p, "Retry-After:", 12) == 0) {
        const char *v = p + 12;
        while (*v == ' ')
            v++;
        size_t k = 0;
        while (k + 1 < sizeof(h->retry_after) && v + k < p + len && v[k] != '\r' && v[k] != '\n')
            k++;
        memcpy(h->retry_after, v, k);
        h->retry_after[k] = '\0';
    }
    return len;
}

/* body NULL: GET. extra_header may be NULL. */
static http_t http(const char *path, const char *key, const char *body, const char *extra_header)
{
    http_t h = {.body = BUF_INIT(1 << 22)};
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256], auth[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_port, path);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (extra_header)
        hdrs = curl_slist_append(hdrs, extra_header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &h.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("curl %s: %s", path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h.code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return h;
}

static http_t http_chat(const char *key, const char *model, const char *prompt)
{
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"model\": \"%s\", \"messages\": [{\"role\": \"user\", "
             "\"content\": \"%s\"}]}",
             model, prompt);
    return http("/v1/chat/completions", key, body, NULL);
}

#define EXPECT_HTTP(h, want, needle)                                                               \
    do {                                                                                           \
        if ((h).code != (want) || !has(buf_cstr(&(h).body), (needle)))                             \
            fail_msg("HTTP %ld %s, expected %d with '%s'", (h).code, buf_cstr(&(h).body), (want),  \
                     has("", (needle)) ? "" : (needle));                                           \
    } while (0)

/* --- authentication first ------------------------------------------------- */

static void test_unauthenticated_malformed_body_gets_401_only(void **state)
{
    (void)state;
    const char *keys[] = {NULL, "sk-nope", "sk-expired"};
    for (size_t i = 0; i < 3; i++) {
        http_t h = http("/v1/chat/completions", keys[i], "{not json", NULL);
        EXPECT_HTTP(h, 401, "authorization:");
        assert_null(strstr(buf_cstr(&h.body), "body"));
        buf_free(&h.body);
        h = http("/v1/completions", keys[i], "[]", "x-llmgw-timeout-ms: banana");
        EXPECT_HTTP(h, 401, "invalid_api_key");
        buf_free(&h.body);
        h = http("/v1/no-such-path", keys[i], NULL, NULL);
        EXPECT_HTTP(h, 401, "authorization:");
        buf_free(&h.body);
    }
    /* The same bad body with a good key is the validation error. */
    http_t h = http("/v1/chat/completions", "sk-valid", "{not json", NULL);
    EXPECT_HTTP(h, 400, NULL);
    buf_free(&h.body);
    /* Probes stay open. */
    h = http("/healthz", NULL, NULL, NULL);
    EXPECT_HTTP(h, 200, "ok");
    buf_free(&h.body);
}

static void test_grpc_unauthenticated_garbage_message_gets_unauthenticated(void **state)
{
    (void)state;
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    const char *methods[] = {"/llmgw.v1.ChatService/Complete", "/llmgw.v1.ChatService/ListModels",
                             "/llmgw.v1.ChatService/Ensemble", "/llmgw.v1.RoutingService/Explain",
                             "/llmgw.v1.RoutingService/Providers"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        rpc_t r = rpc_raw(methods[i], NULL, garbage, sizeof(garbage));
        EXPECT_RPC(r, GRPC_STATUS_UNAUTHENTICATED, "authorization: missing bearer token");
        rpc_free(&r);
        r = rpc_raw(methods[i], "sk-nope", garbage, sizeof(garbage));
        EXPECT_RPC(r, GRPC_STATUS_UNAUTHENTICATED, "authorization: unknown API key");
        rpc_free(&r);
    }
    rpc_t r = rpc_raw(methods[0], "sk-valid", garbage, sizeof(garbage));
    EXPECT_RPC(r, GRPC_STATUS_INVALID_ARGUMENT, "not a valid");
    rpc_free(&r);
}

/* --- key states ----------------------------------------------------------- */

static void test_key_states_on_grpc(void **state)
{
    (void)state;
    struct {
        const char *key;
        grpc_status_code st;
        const char *needle;
    } cases[] = {
        {"sk-valid", GRPC_STATUS_OK, NULL},
        {"sk-expired", GRPC_STATUS_UNAUTHENTICATED, "authorization: API key expired"},
        {"sk-rot-new", GRPC_STATUS_OK, NULL},
        {"sk-rot-old", GRPC_STATUS_OK, NULL}, /* within its grace */
        {"sk-late-new", GRPC_STATUS_OK, NULL},
        {"sk-late-old", GRPC_STATUS_UNAUTHENTICATED, "authorization: API key expired"},
        {"sk-unknown", GRPC_STATUS_UNAUTHENTICATED, "authorization: unknown API key"},
        {"sk-models-only", GRPC_STATUS_PERMISSION_DENIED,
         "authorization: key 'models-only' lacks scope 'chat'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rpc_t r = complete(cases[i].key, "eu/m1", "hello");
        EXPECT_RPC(r, cases[i].st, cases[i].needle);
        if (cases[i].st == GRPC_STATUS_OK)
            assert_string_equal(r.answer, "[sim-a] hello");
        rpc_free(&r);
    }
}

static void test_key_states_on_http(void **state)
{
    (void)state;
    struct {
        const char *key;
        long code;
        const char *needle;
    } cases[] = {
        {"sk-valid", 200, "[sim-a] hello"},
        {"sk-expired", 401, "authorization: API key expired"},
        {"sk-rot-new", 200, "[sim-a] hello"},
        {"sk-rot-old", 200, "[sim-a] hello"},
        {"sk-late-new", 200, "[sim-a] hello"},
        {"sk-late-old", 401, "authorization: API key expired"},
        {"sk-unknown", 401, "authorization: unknown API key"},
        {"sk-models-only", 403, "authorization: key 'models-only' lacks scope 'chat'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        http_t h = http_chat(cases[i].key, "eu/m1", "hello");
        EXPECT_HTTP(h, cases[i].code, cases[i].needle);
        buf_free(&h.body);
    }
}

static void test_scopes_per_method(void **state)
{
    (void)state;
    Llmgw__V1__ListModelsRequest lm = LLMGW__V1__LIST_MODELS_REQUEST__INIT;
    uint8_t buf[64];
    size_t len = llmgw__v1__list_models_request__pack(&lm, buf);
    rpc_t r = rpc_raw("/llmgw.v1.ChatService/ListModels", "sk-chat-only", buf, len);
    EXPECT_RPC(r, GRPC_STATUS_PERMISSION_DENIED, "key 'chat-only' lacks scope 'models'");
    rpc_free(&r);
    r = rpc_raw("/llmgw.v1.ChatService/ListModels", "sk-models-only", buf, len);
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    rpc_free(&r);
    r = rpc_chat("/llmgw.v1.RoutingService/Explain", "sk-chat-only", "r-all", "x", 0);
    EXPECT_RPC(r, GRPC_STATUS_PERMISSION_DENIED, "key 'chat-only' lacks scope 'routing'");
    rpc_free(&r);
    Llmgw__V1__EnsembleRequest er = LLMGW__V1__ENSEMBLE_REQUEST__INIT;
    len = llmgw__v1__ensemble_request__pack(&er, buf);
    r = rpc_raw("/llmgw.v1.ChatService/Ensemble", "sk-chat-only", buf, len);
    EXPECT_RPC(r, GRPC_STATUS_PERMISSION_DENIED, "key 'chat-only' lacks scope 'ensembles'");
    rpc_free(&r);
    http_t h = http("/v1/models", "sk-chat-only", NULL, NULL);
    EXPECT_HTTP(h, 403, "lacks scope 'models'");
    buf_free(&h.body);
    h = http("/v1/models", "sk-models-only", NULL, NULL);
    EXPECT_HTTP(h, 200, "eu/m1");
    buf_free(&h.body);
    h = http("/v1/providers", "sk-models-only", NULL, NULL);
    EXPECT_HTTP(h, 403, "lacks scope 'routing'");
    buf_free(&h.body);
}

/* --- rate limits ------------------------------------------------------------ */

static void test_rpm_burst_refused_with_retry_after_ms_then_refilled_grpc(void **state)
{
    (void)state;
    int ok = 0;
    rpc_t r;
    for (;;) {
        r = complete("sk-rpm-grpc", "eu/m1", "x");
        if (r.status != GRPC_STATUS_OK)
            break;
        ok++;
        rpc_free(&r);
        assert_true(ok <= 61);
    }
    assert_true(ok >= 59 && ok <= 61);
    EXPECT_RPC(r, GRPC_STATUS_RESOURCE_EXHAUSTED,
               "rate limit: key 'rpm-grpc' over 60 requests per minute; retry in 0.");
    const char *t = strstr(r.trailers, "retry-after-ms: ");
    if (!t)
        fail_msg("no retry-after-ms trailer: '%s'", r.trailers);
    long ms = strtol(t + 16, NULL, 10);
    assert_true(ms >= 1 && ms <= 1000);
    rpc_free(&r);
    usleep((useconds_t)(ms + 20) * 1000);
    r = complete("sk-rpm-grpc", "eu/m1", "x");
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    rpc_free(&r);
}

static void test_rpm_burst_refused_with_retry_after_then_refilled_http(void **state)
{
    (void)state;
    int ok = 0;
    http_t h;
    for (;;) {
        h = http_chat("sk-rpm-http", "eu/m1", "x");
        if (h.code != 200)
            break;
        ok++;
        buf_free(&h.body);
        assert_true(ok <= 61);
    }
    assert_true(ok >= 59 && ok <= 61);
    EXPECT_HTTP(h, 429, "rate limit: key 'rpm-http' over 60 requests per minute; retry in");
    assert_non_null(strstr(buf_cstr(&h.body), "rate_limit_error"));
    assert_string_equal(h.retry_after, "1");
    buf_free(&h.body);
    sleep(1);
    h = http_chat("sk-rpm-http", "eu/m1", "x");
    EXPECT_HTTP(h, 200, NULL);
    buf_free(&h.body);
}

static void test_team_rpm_shared_by_its_keys(void **state)
{
    (void)state;
    rpc_t r = complete("sk-team-a", "eu/m1", "x");
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    rpc_free(&r);
    r = complete("sk-team-b", "eu/m1", "x");
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    rpc_free(&r);
    r = complete("sk-team-a", "eu/m1", "x");
    EXPECT_RPC(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "team 'small-team' over 2 requests per minute");
    assert_non_null(strstr(r.trailers, "retry-after-ms: "));
    rpc_free(&r);
}

/* A reload swaps the table (new strings, new key structs); the buckets are
 * kept by name, so the exhausted team stays exhausted. */
static void test_rate_limit_state_survives_reload(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/table.json", harness_dir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(table_json(sim.port, 2), f);
    fclose(f);
    kill(dp.pid, SIGHUP);
    bool reloaded = false;
    for (int i = 0; i < 200 && !reloaded; i++) {
        reloaded = harness_log_contains(&dp, "version=2");
        if (!reloaded)
            usleep(20000);
    }
    assert_true(reloaded);
    rpc_t r = complete("sk-team-b", "eu/m1", "x");
    EXPECT_RPC(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "team 'small-team' over 2 requests per minute");
    rpc_free(&r);
}

static void test_tpm_settles_on_real_usage(void **state)
{
    (void)state;
    /* 320 characters, one word: estimated at 84 tokens against 100 per
     * minute; the sim counts 1 prompt + 1 completion word. Without the
     * settle the second request would find 16 tokens left. */
    char prompt[321];
    memset(prompt, 'a', 320);
    prompt[320] = '\0';
    for (int i = 0; i < 3; i++) {
        rpc_t r = complete("sk-tpm", "eu/m1", prompt);
        EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
        rpc_free(&r);
    }
    /* An estimate above what is left is refused with the wait. */
    char big[1201];
    memset(big, 'b', 1200);
    big[1200] = '\0';
    rpc_t r = complete("sk-tpm", "eu/m1", big);
    EXPECT_RPC(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "key 'tpm' over 100 tokens per minute");
    rpc_free(&r);
}

/* --- policies --------------------------------------------------------------- */

static void test_policy_regions_block_and_allow(void **state)
{
    (void)state;
    /* The route prefers us/m1; the policy leaves eu/m1. */
    rpc_t r = complete("sk-eu", "r-all", "hi");
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    Llmgw__V1__ChatResponse *resp =
        llmgw__v1__chat_response__unpack(NULL, r.body.len, (uint8_t *)r.body.data);
    assert_string_equal(resp->provider, "eu");
    llmgw__v1__chat_response__free_unpacked(resp, NULL);
    rpc_free(&r);
    r = complete("sk-eu", "us/m1", "hi");
    EXPECT_RPC(r, GRPC_STATUS_PERMISSION_DENIED, "policy 'eu-only': model 'us/m1' not allowed");
    assert_non_null(strstr(r.details, "region: us-east-1 not in regions"));
    rpc_free(&r);
    http_t h = http_chat("sk-eu", "us/m1", "hi");
    EXPECT_HTTP(h, 403, "policy 'eu-only'");
    assert_non_null(strstr(buf_cstr(&h.body), "permission_error"));
    buf_free(&h.body);
    /* Without the policy the route's first choice serves. */
    r = complete("sk-valid", "r-all", "hi");
    resp = llmgw__v1__chat_response__unpack(NULL, r.body.len, (uint8_t *)r.body.data);
    assert_string_equal(resp->provider, "us");
    llmgw__v1__chat_response__free_unpacked(resp, NULL);
    rpc_free(&r);
}

static void test_policy_provider_and_model_lists_block_and_allow(void **state)
{
    (void)state;
    struct {
        const char *key, *model;
        grpc_status_code st;
        const char *needle;
    } cases[] = {
        {"sk-allowp", "eu/m1", GRPC_STATUS_OK, NULL},
        {"sk-allowp", "us/m1", GRPC_STATUS_PERMISSION_DENIED,
         "policy 'only-eu-provider': model 'us/m1' not allowed"},
        {"sk-denyp", "r-all", GRPC_STATUS_OK, NULL},
        {"sk-denyp", "us/m1", GRPC_STATUS_PERMISSION_DENIED, "provider: in denied_providers"},
        {"sk-allowm", "eu/m2", GRPC_STATUS_OK, NULL},
        {"sk-allowm", "eu/m1", GRPC_STATUS_PERMISSION_DENIED, "model: not in allowed_models"},
        {"sk-allowm", "r-all", GRPC_STATUS_PERMISSION_DENIED, "policy 'only-m2'"},
        {"sk-denym", "eu/m2", GRPC_STATUS_OK, NULL},
        {"sk-denym", "r-all", GRPC_STATUS_PERMISSION_DENIED, "model: in denied_models"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rpc_t r = complete(cases[i].key, cases[i].model, "hi");
        EXPECT_RPC(r, cases[i].st, cases[i].needle);
        rpc_free(&r);
    }
}

static void test_policy_max_tokens_and_prompt_bytes(void **state)
{
    (void)state;
    rpc_t r = rpc_chat("/llmgw.v1.ChatService/Complete", "sk-caps", "eu/m1", "hi", 51);
    EXPECT_RPC(r, GRPC_STATUS_PERMISSION_DENIED,
               "policy 'caps': max_tokens 51 over the policy's max_tokens 50");
    rpc_free(&r);
    r = rpc_chat("/llmgw.v1.ChatService/Complete", "sk-caps", "eu/m1", "hi", 50);
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    rpc_free(&r);
    char long_prompt[102];
    memset(long_prompt, 'x', 101);
    long_prompt[101] = '\0';
    r = complete("sk-caps", "eu/m1", long_prompt);
    EXPECT_RPC(r, GRPC_STATUS_PERMISSION_DENIED,
               "policy 'caps': messages: prompt of 101 bytes over the policy's max_prompt_bytes "
               "100");
    rpc_free(&r);
    long_prompt[100] = '\0';
    r = complete("sk-caps", "eu/m1", long_prompt);
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    rpc_free(&r);
    http_t h = http("/v1/chat/completions", "sk-caps",
                    "{\"model\": \"eu/m1\", \"max_tokens\": 500, \"messages\": [{\"role\": "
                    "\"user\", \"content\": \"hi\"}]}",
                    NULL);
    EXPECT_HTTP(h, 403, "policy 'caps': max_tokens 500");
    buf_free(&h.body);
    h = http("/v1/completions", "sk-caps",
             "{\"model\": \"eu/m1\", \"max_tokens\": 500, "
             "\"prompt\": \"hi\"}",
             NULL);
    EXPECT_HTTP(h, 403, "policy 'caps': max_tokens 500");
    buf_free(&h.body);
}

static void test_explain_names_policy_exclusions(void **state)
{
    (void)state;
    rpc_t r = rpc_chat("/llmgw.v1.RoutingService/Explain", "sk-eu", "r-all", "hi", 0);
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    Llmgw__V1__ExplainResponse *er =
        llmgw__v1__explain_response__unpack(NULL, r.body.len, (uint8_t *)r.body.data);
    assert_non_null(er);
    assert_string_equal(er->route->provider, "eu");
    bool found = false;
    for (size_t i = 0; i < er->route->n_candidates; i++) {
        const Llmgw__V1__RouteCandidate *c = er->route->candidates[i];
        if (!strcmp(c->provider, "us")) {
            assert_true(c->excluded);
            assert_string_equal(c->reason,
                                "excluded by policy 'eu-only' (region: us-east-1 not in regions)");
            found = true;
        }
    }
    assert_true(found);
    llmgw__v1__explain_response__free_unpacked(er, NULL);
    rpc_free(&r);
    /* Every deployment excluded: PERMISSION_DENIED listing them. */
    r = rpc_chat("/llmgw.v1.RoutingService/Explain", "sk-denym", "r-all", "hi", 0);
    EXPECT_RPC(r, GRPC_STATUS_PERMISSION_DENIED,
               "excluded by policy 'no-m1' (model: in denied_models)");
    rpc_free(&r);
}

/* --- redaction ----------------------------------------------------------------- */

#define PII_PROMPT                                                                                 \
    "mail jane.doe@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111, "               \
    "iban DE89 3704 0044 0532 0130 00, not a card 4111 1111 1111 1112"
#define PII_REDACTED                                                                               \
    "mail [REDACTED_EMAIL] or call [REDACTED_PHONE], card [REDACTED_CARD], iban "                  \
    "[REDACTED_IBAN], not a card 4111 1111 1111 1112"

static void test_redaction_reaches_the_simulator_redacted(void **state)
{
    (void)state;
    rpc_t r = complete("sk-pii", "eu/m1", PII_PROMPT);
    EXPECT_RPC(r, GRPC_STATUS_OK, NULL);
    /* The sim echoes what it received. */
    assert_string_equal(r.answer, "[sim-a] " PII_REDACTED);
    assert_null(strstr(r.answer, "jane.doe"));
    assert_null(strstr(r.answer, "4111 1111 1111 1111"));
    rpc_free(&r);
    http_t h = http_chat("sk-pii", "eu/m1", PII_PROMPT);
    EXPECT_HTTP(h, 200, "[sim-a] " PII_REDACTED);
    assert_null(strstr(buf_cstr(&h.body), "example.com"));
    buf_free(&h.body);
    h = http("/v1/completions", "sk-pii",
             "{\"model\": \"eu/m1\", \"prompt\": \"to jane.doe@example.com, 4111111111111111\"}",
             NULL);
    EXPECT_HTTP(h, 200, "[REDACTED_EMAIL], [REDACTED_CARD]");
    assert_null(strstr(buf_cstr(&h.body), "example.com"));
    assert_null(strstr(buf_cstr(&h.body), "4111"));
    buf_free(&h.body);
    /* Without the policy the text goes through unchanged. */
    r = complete("sk-valid", "eu/m1", PII_PROMPT);
    assert_string_equal(r.answer, "[sim-a] " PII_PROMPT);
    rpc_free(&r);
    /* The prompt never reached the data plane's log. */
    assert_false(harness_log_contains(&dp, "jane.doe"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unauthenticated_malformed_body_gets_401_only),
        cmocka_unit_test(test_grpc_unauthenticated_garbage_message_gets_unauthenticated),
        cmocka_unit_test(test_key_states_on_grpc),
        cmocka_unit_test(test_key_states_on_http),
        cmocka_unit_test(test_scopes_per_method),
        cmocka_unit_test(test_rpm_burst_refused_with_retry_after_ms_then_refilled_grpc),
        cmocka_unit_test(test_rpm_burst_refused_with_retry_after_then_refilled_http),
        cmocka_unit_test(test_team_rpm_shared_by_its_keys),
        cmocka_unit_test(test_rate_limit_state_survives_reload),
        cmocka_unit_test(test_tpm_settles_on_real_usage),
        cmocka_unit_test(test_policy_regions_block_and_allow),
        cmocka_unit_test(test_policy_provider_and_model_lists_block_and_allow),
        cmocka_unit_test(test_policy_max_tokens_and_prompt_bytes),
        cmocka_unit_test(test_explain_names_policy_exclusions),
        cmocka_unit_test(test_redaction_reaches_the_simulator_redacted),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
