/* Unit tests for the provider presets (presets.c, provider_quirks.c and the
 * table fields they fill): every listed provider's preset loads with its
 * documented base URL, and a request built for it reaches a local capture
 * server (mini_http) at the right path with the right auth headers. Also:
 * inheritance and overrides, unknown preset names, required base URLs, and
 * quirks applied to the body. Nothing here talks to the internet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>

#include "adapter.h"
#include "mini_http.h"
#include "presets.h"
#include "provider_quirks.h"
#include "table.h"

typedef struct {
    const char *preset;
    const char *base_url;   /* NULL: the preset has none (given in the test) */
    const char *wire;       /* "openai" / "anthropic" */
    const char *key_header; /* "authorization", "x-api-key", "api-key"; NULL: none */
    const char *path;       /* expected request path for model "m-1", base path "/base" */
    const char *query;      /* expected api-version, or NULL */
} expect_t;

static const expect_t expected[] = {
    {"openai", "https://api.openai.com/v1", "openai", "authorization", "/v1/chat/completions",
     NULL},
    {"anthropic", "https://api.anthropic.com/v1", "anthropic", "x-api-key", "/v1/messages", NULL},
    {"together", "https://api.together.xyz/v1", "openai", "authorization", "/v1/chat/completions",
     NULL},
    {"groq", "https://api.groq.com/openai/v1", "openai", "authorization",
     "/openai/v1/chat/completions", NULL},
    {"cohere", "https://api.cohere.ai/compatibility/v1", "openai", "authorization",
     "/compatibility/v1/chat/completions", NULL},
    {"fireworks", "https://api.fireworks.ai/inference/v1", "openai", "authorization",
     "/inference/v1/chat/completions", NULL},
    {"huggingface", "https://router.huggingface.co/v1", "openai", "authorization",
     "/v1/chat/completions", NULL},
    {"replicate", NULL, "openai", "authorization", "/base/chat/completions", NULL},
    {"anyscale", "https://api.endpoints.anyscale.com/v1", "openai", "authorization",
     "/v1/chat/completions", NULL},
    {"modal", NULL, "openai", "authorization", "/base/chat/completions", NULL},
    {"ollama", "http://127.0.0.1:11434/v1", "openai", NULL, "/v1/chat/completions", NULL},
    {"lmstudio", "http://127.0.0.1:1234/v1", "openai", NULL, "/v1/chat/completions", NULL},
    {"localai", "http://127.0.0.1:8080/v1", "openai", NULL, "/v1/chat/completions", NULL},
    {"vllm", "http://127.0.0.1:8000/v1", "openai", NULL, "/v1/chat/completions", NULL},
    {"text-generation-webui", "http://127.0.0.1:5000/v1", "openai", NULL, "/v1/chat/completions",
     NULL},
    {"mistral", "https://api.mistral.ai/v1", "openai", "authorization", "/v1/chat/completions",
     NULL},
    {"deepseek", "https://api.deepseek.com/v1", "openai", "authorization", "/v1/chat/completions",
     NULL},
    {"openrouter", "https://openrouter.ai/api/v1", "openai", "authorization",
     "/api/v1/chat/completions", NULL},
    {"azure", NULL, "openai", "api-key", "/base/openai/deployments/m-1/chat/completions",
     "2024-10-21"},
    {"gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "openai", "authorization",
     "/v1beta/openai/chat/completions", NULL},
};
#define N_EXPECTED (sizeof(expected) / sizeof(expected[0]))

/* ---- capture server -------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    char path[256];
    char query[64];
    char authorization[128];
    char x_api_key[128];
    char api_key[128];
    char anthropic_version[64];
    char body[8192];
} capture_t;

static void copy_header(const mini_http_request_t *req, const char *name, char *out, size_t len)
{
    const char *v = mini_http_request_header(req, name);
    snprintf(out, len, "%s", v ? v : "");
}

static void capture_handler(void *ud, const mini_http_request_t *req, mini_http_response_t *resp)
{
    capture_t *c = ud;
    pthread_mutex_lock(&c->mu);
    snprintf(c->path, sizeof(c->path), "%s", req->path);
    const char *q =
        MHD_lookup_connection_value(req->mhd_connection, MHD_GET_ARGUMENT_KIND, "api-version");
    snprintf(c->query, sizeof(c->query), "%s", q ? q : "");
    copy_header(req, "authorization", c->authorization, sizeof(c->authorization));
    copy_header(req, "x-api-key", c->x_api_key, sizeof(c->x_api_key));
    copy_header(req, "api-key", c->api_key, sizeof(c->api_key));
    copy_header(req, "anthropic-version", c->anthropic_version, sizeof(c->anthropic_version));
    snprintf(c->body, sizeof(c->body), "%s", req->body);
    pthread_mutex_unlock(&c->mu);
    resp->status = 200;
    resp->body = "{}";
    resp->body_len = 2;
}

/* Sends what the pipeline would send for provider p: the adapter's URL,
 * auth headers, the provider's extra headers and the body. */
static void send_like_pipeline(const table_provider_t *p, const char *model, bool stream)
{
    const adapter_t *ad = adapter_for(p);
    arena_t *a = arena_new(0);
    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message *msgs[] = {&msg};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    msg.role = "user";
    msg.content = "hello";
    req.model = "x";
    req.messages = msgs;
    req.n_messages = 1;
    req.user = "u-1";
    buf_t body = BUF_INIT(1 << 20);
    char err[256];
    assert_int_equal(ad->build_chat_request(p, &req, model, stream, &body, err, sizeof(err)), 0);
    const char *headers[16];
    size_t n = 0;
    assert_int_equal(ad->auth_headers(p, a, headers, &n, 16), 0);
    char *url = adapter_chat_url(ad, p, NULL, model, a);
    assert_non_null(url);
    struct curl_slist *list = curl_slist_append(NULL, "Content-Type: application/json");
    for (size_t i = 0; i < n; i++)
        list = curl_slist_append(list, headers[i]);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fwrite);
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(e, CURLOPT_WRITEDATA, devnull);
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    fclose(devnull);
    curl_easy_cleanup(e);
    curl_slist_free_all(list);
    buf_free(&body);
    arena_free(a);
}

static table_t *load(const char *json, char *err, size_t errlen)
{
    return table_load_json(json, strlen(json), err, errlen);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_presets_file_lists_every_supported_provider(void **state)
{
    assert_true(presets_count() >= N_EXPECTED);
    for (size_t i = 0; i < N_EXPECTED; i++) {
        json_t *p = presets_get(expected[i].preset);
        assert_non_null(p);
        assert_non_null(json_object_get(p, "display_name"));
    }
    presets_local_t local[8];
    size_t n = presets_local(local, 8);
    assert_int_equal(n, 5);
    assert_string_equal(local[0].name, "ollama");
    assert_int_equal(local[0].port, 11434);
    assert_string_equal(local[0].models_path, "/api/tags");
    assert_string_equal(local[0].base_path, "/v1");
}

static void test_each_preset_loads_and_sends_right_url_and_auth_to_capture_server(void **state)
{
    capture_t cap = {.mu = PTHREAD_MUTEX_INITIALIZER};
    mini_http_t *srv = mini_http_start(capture_handler, &cap);
    assert_non_null(srv);
    for (size_t i = 0; i < N_EXPECTED; i++) {
        const expect_t *x = &expected[i];
        char json[1024], err[512] = "";
        /* 1. As the preset says (base URLs without a default get one). */
        snprintf(json, sizeof(json),
                 "{\"providers\": [{\"name\": \"p\", \"preset\": \"%s\", \"api_key\": \"k-%zu\"%s,"
                 " \"models\": [{\"name\": \"m-1\"}]}]}",
                 x->preset, i, x->base_url ? "" : ", \"base_url\": \"https://example.test/base\"");
        table_t *t = load(json, err, sizeof(err));
        if (!t)
            fail_msg("preset %s: %s", x->preset, err);
        const table_provider_t *p = table_provider_at(t, 0);
        assert_string_equal(p->preset, x->preset);
        assert_string_equal(p->base_url, x->base_url ? x->base_url : "https://example.test/base");
        assert_string_equal(p->wire_format, x->wire);
        table_unref(t);

        /* 2. Pointed at the capture server, keeping the preset's path. */
        const char *path = x->base_url ? strchr(strstr(x->base_url, "://") + 3, '/') : "/base";
        snprintf(json, sizeof(json),
                 "{\"providers\": [{\"name\": \"p\", \"preset\": \"%s\", \"api_key\": \"k-%zu\","
                 " \"base_url\": \"%s%s\", \"models\": [{\"name\": \"m-1\"}]}]}",
                 x->preset, i, mini_http_url(srv), path);
        t = load(json, err, sizeof(err));
        assert_non_null(t);
        send_like_pipeline(table_provider_at(t, 0), "m-1", false);
        table_unref(t);

        char key[32];
        snprintf(key, sizeof(key), "k-%zu", i);
        char bearer[40];
        snprintf(bearer, sizeof(bearer), "Bearer %s", key);
        pthread_mutex_lock(&cap.mu);
        assert_string_equal(cap.path, x->path);
        assert_string_equal(cap.query, x->query ? x->query : "");
        bool want_auth = x->key_header && strcmp(x->key_header, "authorization") == 0;
        assert_string_equal(cap.authorization, want_auth ? bearer : "");
        assert_string_equal(cap.x_api_key,
                            x->key_header && strcmp(x->key_header, "x-api-key") == 0 ? key : "");
        assert_string_equal(cap.api_key,
                            x->key_header && strcmp(x->key_header, "api-key") == 0 ? key : "");
        assert_string_equal(cap.anthropic_version,
                            strcmp(x->wire, "anthropic") == 0 ? "2023-06-01" : "");
        json_t *body = json_loads(cap.body, 0, NULL);
        assert_non_null(body);
        assert_string_equal(json_string_value(json_object_get(body, "model")), "m-1");
        if (strcmp(x->wire, "anthropic") == 0)
            assert_int_equal(json_integer_value(json_object_get(body, "max_tokens")), 4096);
        json_decref(body);
        pthread_mutex_unlock(&cap.mu);
    }
    mini_http_stop(srv);
}

static void test_entry_with_only_name_preset_and_key_inherits_everything(void **state)
{
    char err[512] = "";
    table_t *t = load("{\"providers\": [{\"name\": \"g\", \"preset\": \"groq\", \"api_key\": "
                      "\"gsk\"}]}",
                      err, sizeof(err));
    assert_non_null(t);
    const table_provider_t *p = table_provider_at(t, 0);
    assert_string_equal(p->base_url, "https://api.groq.com/openai/v1");
    assert_string_equal(p->auth_style, "bearer");
    assert_true(p->n_models >= 1);
    assert_false(p->quirks.stream_options);
    assert_true(p->quirks.tools);
    table_unref(t);
}

static void test_entry_overrides_preset_fields_and_quirks_member_by_member(void **state)
{
    char err[512] = "";
    table_t *t = load("{\"providers\": [{\"name\": \"o\", \"preset\": \"ollama\", \"base_url\": "
                      "\"http://10.0.0.5:11434/v1\", \"auth_style\": \"bearer\", \"api_key\": "
                      "\"k\", \"quirks\": {\"vision\": false}, \"models\": [{\"name\": "
                      "\"llama3:8b\"}]}]}",
                      err, sizeof(err));
    assert_non_null(t);
    const table_provider_t *p = table_provider_at(t, 0);
    assert_string_equal(p->base_url, "http://10.0.0.5:11434/v1");
    assert_string_equal(p->auth_style, "bearer");
    assert_false(p->quirks.vision);
    assert_true(p->quirks.stream_options); /* the preset's, not overridden */
    assert_true(p->quirks.tools);
    table_unref(t);
}

static void test_unknown_preset_is_an_error_naming_the_field_and_close_names(void **state)
{
    char err[512] = "";
    table_t *t = load("{\"providers\": [{\"name\": \"a\", \"preset\": \"antropic\", \"api_key\": "
                      "\"k\"}]}",
                      err, sizeof(err));
    assert_null(t);
    assert_string_equal(err, "providers[0].preset: unknown preset 'antropic' (close: anthropic)");
    t = load("{\"providers\": [{\"name\": \"a\", \"preset\": \"zzzzzzzzz\"}]}", err, sizeof(err));
    assert_null(t);
    assert_non_null(strstr(err, "unknown preset 'zzzzzzzzz' (known: openai, anthropic"));
    t = load("{\"providers\": [{\"name\": \"a\", \"preset\": 3}]}", err, sizeof(err));
    assert_null(t);
    assert_string_equal(err, "providers[0].preset: expected a string");
}

static void test_preset_without_default_base_url_requires_one(void **state)
{
    char err[512] = "";
    table_t *t = load("{\"providers\": [{\"name\": \"az\", \"preset\": \"azure\", \"api_key\": "
                      "\"k\", \"models\": [{\"name\": \"gpt4o-deploy\"}]}]}",
                      err, sizeof(err));
    assert_null(t);
    assert_non_null(strstr(err, "providers[0].base_url: required by preset 'azure'"));
    assert_non_null(strstr(err, "openai.azure.com"));
}

static void test_bad_wire_fields_are_errors_naming_the_field(void **state)
{
    char err[512] = "";
    assert_null(load("{\"providers\": [{\"name\": \"a\", \"base_url\": \"http://h/v1\", "
                     "\"wire_format\": \"grpc\", \"models\": [{\"name\": \"m\"}]}]}",
                     err, sizeof(err)));
    assert_string_equal(err, "providers[0].wire_format: 'grpc' is not one of openai, anthropic");
    assert_null(load("{\"providers\": [{\"name\": \"a\", \"base_url\": \"http://h/v1\", "
                     "\"quirks\": {\"stream_option\": true}, \"models\": [{\"name\": \"m\"}]}]}",
                     err, sizeof(err)));
    assert_string_equal(err, "providers[0].quirks.stream_option: unknown field");
    assert_null(load("{\"providers\": [{\"name\": \"a\", \"base_url\": \"http://h/v1\", "
                     "\"quirks\": {\"drop_fields\": [\"messages\"]}, \"models\": [{\"name\": "
                     "\"m\"}]}]}",
                     err, sizeof(err)));
    assert_non_null(
        strstr(err, "providers[0].quirks.drop_fields[0]: 'messages' cannot be dropped"));
}

static void test_quirks_drop_rejected_fields_and_refuse_missing_capabilities(void **state)
{
    char err[512] = "";
    table_t *t = load(
        "{\"providers\": [{\"name\": \"mi\", \"preset\": \"mistral\", \"api_key\": \"k\"},"
        "{\"name\": \"tg\", \"preset\": \"text-generation-webui\", \"models\": [{\"name\": "
        "\"m\"}]},"
        "{\"name\": \"plain\", \"base_url\": \"http://h/v1\", \"models\": [{\"name\": \"m\"}]}]}",
        err, sizeof(err));
    assert_non_null(t);
    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message *msgs[] = {&msg};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    msg.role = "user";
    msg.content = "hi";
    req.messages = msgs;
    req.n_messages = 1;
    req.user = "u-1";
    buf_t body = BUF_INIT(1 << 16);
    const table_provider_t *mi = table_find_provider(t, "mi");
    assert_int_equal(provider_quirks_build_openai(mi, &req, "m", true, &body, err, sizeof(err)), 0);
    json_t *root = json_loads(body.data, 0, NULL);
    assert_null(json_object_get(root, "user"));           /* in drop_fields */
    assert_null(json_object_get(root, "stream_options")); /* not accepted */
    assert_true(json_is_true(json_object_get(root, "stream")));
    json_decref(root);
    buf_reset(&body);
    const table_provider_t *plain = table_find_provider(t, "plain");
    assert_int_equal(provider_quirks_build_openai(plain, &req, "m", true, &body, err, sizeof(err)),
                     0);
    root = json_loads(body.data, 0, NULL);
    assert_non_null(json_object_get(root, "user"));
    assert_non_null(json_object_get(root, "stream_options"));
    json_decref(root);
    buf_reset(&body);
    req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";
    assert_int_equal(provider_quirks_build_openai(table_find_provider(t, "tg"), &req, "m", false,
                                                  &body, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "tools_json: provider 'tg' (preset text-generation-webui)"));
    assert_int_equal(body.len, 0);
    req.tools_json = "";
    req.response_format_json = "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"text\"}}";
    assert_int_equal(provider_quirks_build_openai(table_find_provider(t, "tg"), &req, "m", false,
                                                  &body, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "response_format_json: provider 'tg'"));
    req.response_format_json = "{\"type\": \"text\"}";
    assert_int_equal(provider_quirks_build_openai(table_find_provider(t, "tg"), &req, "m", false,
                                                  &body, err, sizeof(err)),
                     0);
    buf_reset(&body);
    buf_free(&body);
    table_unref(t);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_file_lists_every_supported_provider),
        cmocka_unit_test(test_each_preset_loads_and_sends_right_url_and_auth_to_capture_server),
        cmocka_unit_test(test_entry_with_only_name_preset_and_key_inherits_everything),
        cmocka_unit_test(test_entry_overrides_preset_fields_and_quirks_member_by_member),
        cmocka_unit_test(test_unknown_preset_is_an_error_naming_the_field_and_close_names),
        cmocka_unit_test(test_preset_without_default_base_url_requires_one),
        cmocka_unit_test(test_bad_wire_fields_are_errors_naming_the_field),
        cmocka_unit_test(test_quirks_drop_rejected_fields_and_refuse_missing_capabilities),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
