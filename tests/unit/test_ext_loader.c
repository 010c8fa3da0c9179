/* Unit tests for the extension machinery: ext_loader (every refusal a
 * plugin can earn — wrong ABI, no entry point, a struct too small, init
 * failing, crashing or hanging in the forked probe, a taken wire format, a
 * late registration — and a bigger struct from a later ABI accepted, and one
 * of exactly the frozen first-version sizes), the request kinds (a hook
 * sees completions and embeddings unless its `kinds` opts out),
 * ext_hooks (a run through request hooks: rewrite, refuse, a bad status, an
 * async verdict completed from another thread; response and usage hooks),
 * the adapter registry, and the table's "extensions" array. The plugins are
 * tests/ext/test_plugin.c's variants, built as $LLMGW_BIN_DIR/ext/test_ext_VARIANT.so. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "adapter.h"
#include "ext_hooks.h"
#include "ext_loader.h"
#include "table.h"
#include "table_ext.h"

static char plugin_path[1024];

static const char *plugin(const char *variant)
{
    const char *bin = getenv("LLMGW_BIN_DIR");
    snprintf(plugin_path, sizeof(plugin_path), "%s/ext/test_ext_%s.so", bin ? bin : "build",
             variant);
    return plugin_path;
}

/* Loads a variant expecting a refusal whose message contains `want`. */
static void expect_refused(const char *variant, const char *config, int probe_ms, const char *want)
{
    char err[1024] = "";
    size_t before = ext_loader_count();
    ext_load_spec_t spec = {
        .path = plugin(variant), .config_json = config, .probe_timeout_ms = probe_ms};
    assert_int_equal(ext_loader_load(&spec, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
    assert_int_equal(ext_loader_count(), before);
}

static void test_ext_wrong_abi_refused(void **state)
{
    expect_refused("wrong_abi", NULL, 0, "info.abi_version 99, this data plane speaks ABI 1");
}

static void test_ext_missing_entry_point_refused(void **state)
{
    expect_refused("no_entry", NULL, 0, "no entry point llmgw_extension()");
}

static void test_ext_missing_file_refused(void **state)
{
    expect_refused("does_not_exist", NULL, 0, "cannot load");
}

static void test_ext_small_struct_refused(void **state)
{
    expect_refused("small_struct", NULL, 0, "info.struct_size 8, ABI 1 needs at least");
}

static void test_ext_init_failure_reported(void **state)
{
    expect_refused("init_fails", NULL, 0, "extension test_plugin (");
    expect_refused("init_fails", NULL, 0, "init failed: config.always: this plugin always fails");
    /* The same message without the probe: it is the load's own. */
    expect_refused("init_fails", NULL, -1, "init failed: config.always");
}

static void test_ext_init_crash_caught_by_probe(void **state)
{
    /* A signal, or a sanitizer's exit status: either way not loaded. */
    expect_refused("init_crashes", NULL, 0, "not loaded");
}

static void test_ext_init_hang_timed_out(void **state)
{
    expect_refused("init_hangs", NULL, 300, "init did not return within 300 ms in the probe");
}

static void test_ext_taken_wire_format_refused(void **state)
{
    expect_refused("dup_adapter", NULL, 0, "adapter.wire_format: 'openai' is already registered");
    assert_string_equal(adapter_find("openai")->chat_path, "/chat/completions");
}

static void test_ext_config_must_be_an_object(void **state)
{
    expect_refused("ok", "[1, 2]", 0, "config: expected a JSON object");
    expect_refused("ok", "{", 0, "config: expected a JSON object");
}

static void test_ext_bigger_struct_accepted(void **state)
{
    char err[1024] = "";
    ext_load_spec_t spec = {.path = plugin("big_struct")};
    assert_int_equal(ext_loader_load(&spec, err, sizeof(err)), 0);
    const ext_loader_info_t *in = ext_loader_at(ext_loader_count() - 1);
    assert_string_equal(in->name, "test_big_struct");
    assert_string_equal(in->version, "2.0.0");
    assert_int_equal(in->abi_version, 1);
    /* Loading it twice is refused by name. */
    assert_int_equal(ext_loader_load(&spec, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "already loaded from"));
}

static void test_ext_late_registration_refused(void **state)
{
    char err[1024] = "", msg[256];
    ext_load_spec_t spec = {.path = plugin("late_register")};
    assert_int_equal(ext_loader_load(&spec, err, sizeof(err)), 0);
    size_t i = ext_loader_count() - 1;
    /* Its health function tries to register: refused, and it says so. */
    assert_true(ext_loader_health(i, msg, sizeof(msg)));
    assert_string_equal(msg, "requests=0 responses=0 chunks=0 usage=0");
    assert_int_equal(ext_loader_at(i)->request_hooks, 0);
}

static void test_ext_table_name_must_match(void **state)
{
    char err[1024] = "";
    ext_load_spec_t spec = {.path = plugin("ok"), .expect_name = "other"};
    assert_int_equal(ext_loader_load(&spec, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "the table names it 'other' but the plugin is 'test_ok'"));
}

/* --- hooks ----------------------------------------------------------------- */

/* A hook of the test's own after the plugin's: its verdict is `mine`. */
static llmgw_ext_verdict_t mine = LLMGW_EXT_PASS;
static int mine_status;
static char seen_json[512];

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken;
} waker_t;

static void *complete_later(void *arg)
{
    llmgw_ext_ticket_t *t = arg;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    ext_call_complete(t);
    return NULL;
}

static llmgw_ext_decision_t *pending_d;

static llmgw_ext_verdict_t my_hook(void *state, const llmgw_ext_request_t *r,
                                   llmgw_ext_decision_t *d, llmgw_ext_ticket_t *ticket)
{
    snprintf(seen_json, sizeof(seen_json), "%.*s", (int)r->request_len, r->request_json);
    if (mine == LLMGW_EXT_REFUSE) {
        d->http_status = mine_status;
        snprintf(d->message, sizeof(d->message), "no (%s %s %zu)", r->door, r->key, r->n_headers);
    }
    if (mine == LLMGW_EXT_PENDING) {
        pending_d = d;
        d->verdict = LLMGW_EXT_REFUSE; /* decided before completing */
        d->http_status = 451;
        snprintf(d->message, sizeof(d->message), "decided later");
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, complete_later, ticket), 0);
        pthread_detach(th);
    }
    return mine;
}

static const llmgw_ext_request_hook_t my_req_hook = {.struct_size = sizeof(my_req_hook),
                                                     .on_request = my_hook};

static void wake(void *ud)
{
    waker_t *w = ud;
    pthread_mutex_lock(&w->mu);
    w->woken = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static ext_call_t *new_call(waker_t *w)
{
    static const char *const headers[] = {"x-tenant: acme"};
    const char *json = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    llmgw_ext_request_t q = {.struct_size = sizeof(q),
                             .request_json = json,
                             .request_len = strlen(json),
                             .door = "http",
                             .key = "k1",
                             .team = "t1",
                             .headers = headers,
                             .n_headers = 1};
    return ext_call_new(&q, wake, w);
}

static void test_ext_hooks_rewrite_refuse_async(void **state)
{
    char err[1024] = "", msg[256];
    ext_load_spec_t spec = {.path = plugin("ok"), .config_json = "{\"mode\": \"rewrite\"}"};
    assert_int_equal(ext_loader_load(&spec, err, sizeof(err)), 0);
    size_t idx = ext_loader_count() - 1;
    const ext_loader_info_t *in = ext_loader_at(idx);
    assert_int_equal(in->request_hooks, 1);
    assert_int_equal(in->response_hooks, 1);
    assert_int_equal(in->usage_hooks, 1);
    assert_true(ext_hooks_have_request());
    assert_int_equal(ext_hooks_add_request(&my_req_hook, NULL, "test", err, sizeof(err)), 0);

    waker_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    /* The plugin rewrites; my hook sees the rewrite and passes. */
    mine = LLMGW_EXT_PASS;
    ext_call_t *c = new_call(&w);
    assert_int_equal(ext_call_run(c), EXT_CALL_PASS);
    assert_true(ext_call_rewritten(c));
    assert_non_null(strstr(seen_json, "rewritten by test"));
    size_t len;
    assert_non_null(strstr(ext_call_json(c, &len), "rewritten by test"));
    ext_call_free(c);

    /* A refusal: status and message with the extension's name. */
    mine = LLMGW_EXT_REFUSE;
    mine_status = 413;
    c = new_call(&w);
    assert_int_equal(ext_call_run(c), EXT_CALL_REFUSE);
    assert_int_equal(ext_call_http_status(c), 413);
    assert_string_equal(ext_call_message(c), "extension test: no (http k1 1)");
    ext_call_free(c);

    /* A status outside 400..599 is the plugin's bug: 500. */
    mine_status = 302;
    c = new_call(&w);
    assert_int_equal(ext_call_run(c), EXT_CALL_REFUSE);
    assert_int_equal(ext_call_http_status(c), 500);
    ext_call_free(c);

    /* An unknown verdict: 500 as well. */
    mine = (llmgw_ext_verdict_t)42;
    c = new_call(&w);
    assert_int_equal(ext_call_run(c), EXT_CALL_REFUSE);
    assert_int_equal(ext_call_http_status(c), 500);
    assert_non_null(strstr(ext_call_message(c), "unknown verdict"));
    ext_call_free(c);

    /* Async: PENDING, completed from another thread, then resumed here. */
    mine = LLMGW_EXT_PENDING;
    c = new_call(&w);
    assert_int_equal(ext_call_run(c), EXT_CALL_PENDING);
    pthread_mutex_lock(&w.mu);
    while (!w.woken)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    assert_int_equal(ext_call_run(c), EXT_CALL_REFUSE);
    assert_int_equal(ext_call_http_status(c), 451);
    assert_string_equal(ext_call_message(c), "extension test: decided later");
    ext_call_free(c);

    /* Response and usage hooks reach the plugin (its health counts them). */
    llmgw_ext_response_t r = {.struct_size = sizeof(r),
                              .content = "x",
                              .content_len = 1,
                              .provider = "p",
                              .model = "m",
                              .finish_reason = ""};
    ext_hooks_response(&r);
    r.is_chunk = 1;
    ext_hooks_response(&r);
    ext_hooks_response(&r);
    llmgw_ext_usage_t u = {
        .struct_size = sizeof(u), .key = "", .team = "", .route = "", .provider = "", .model = ""};
    ext_hooks_usage(&u);
    assert_true(ext_loader_health(idx, msg, sizeof(msg)));
    assert_string_equal(msg, "requests=5 responses=1 chunks=2 usage=1");

    json_t *list = ext_loader_list();
    assert_non_null(list);
    assert_int_equal(json_integer_value(json_object_get(list, "abi_version")), 1);
    json_t *loaded = json_object_get(list, "loaded");
    json_t *last = json_array_get(loaded, json_array_size(loaded) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "name")), "test_ok");
    assert_int_equal(json_integer_value(json_object_get(last, "request_hooks")), 1);
    assert_true(json_is_true(json_object_get(last, "healthy")));
    json_decref(list);
}

static void test_ext_hook_struct_checked(void **state)
{
    char err[256];
    llmgw_ext_request_hook_t small = {.struct_size = 4, .on_request = my_hook};
    assert_int_equal(ext_hooks_add_request(&small, NULL, "t", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "request_hook.struct_size: 4"));
    llmgw_ext_usage_hook_t nofn = {.struct_size = sizeof(nofn)};
    assert_int_equal(ext_hooks_add_usage(&nofn, NULL, "t", err, sizeof(err)), -1);
    assert_string_equal(err, "usage_hook.on_usage: required");
}

/* A request of `kind` through the hooks; struct_size as given (a V1-sized
 * one has no kind field). */
static ext_call_state_t run_kind(llmgw_ext_request_kind_t kind, uint32_t struct_size, char *msg,
                                 size_t msglen)
{
    waker_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    const char *json = kind == LLMGW_EXT_REQ_EMBEDDING    ? "{\"model\":\"m\",\"input\":\"hi\"}"
                       : kind == LLMGW_EXT_REQ_COMPLETION ? "{\"model\":\"m\",\"prompt\":\"hi\"}"
                                                          : "{\"model\":\"m\",\"messages\":[]}";
    llmgw_ext_request_t q = {.struct_size = struct_size,
                             .request_json = json,
                             .request_len = strlen(json),
                             .door = "http",
                             .key = "",
                             .team = "",
                             .kind = kind};
    ext_call_t *c = ext_call_new(&q, wake, &w);
    assert_non_null(c);
    ext_call_state_t st = ext_call_run(c);
    snprintf(msg, msglen, "%s", st == EXT_CALL_REFUSE ? ext_call_message(c) : "");
    ext_call_free(c);
    return st;
}

static void test_ext_v1_sized_structs_accepted(void **state)
{
    char err[1024] = "", msg[512];
    ext_hooks_clear();
    /* The sizes are frozen below the current structs that grew. */
    assert_true(LLMGW_EXT_REQUEST_HOOK_V1_SIZE < sizeof(llmgw_ext_request_hook_t));
    assert_true(LLMGW_EXT_REQUEST_V1_SIZE < sizeof(llmgw_ext_request_t));
    assert_int_equal(LLMGW_EXT_INFO_V1_SIZE, sizeof(llmgw_ext_info_t));
    /* A plugin whose info and hooks are exactly the V1 sizes loads. */
    ext_load_spec_t spec = {.path = plugin("v1_struct"), .config_json = "{\"mode\": \"refuse\"}"};
    assert_int_equal(ext_loader_load(&spec, err, sizeof(err)), 0);
    const ext_loader_info_t *in = ext_loader_at(ext_loader_count() - 1);
    assert_string_equal(in->name, "test_v1");
    assert_int_equal(in->request_hooks, 1);
    assert_int_equal(in->response_hooks, 1);
    assert_int_equal(in->usage_hooks, 1);
    /* Its hook has no `kinds`: it runs on every kind, and reads `kind`
     * because this gateway's request struct holds it. */
    assert_int_equal(run_kind(LLMGW_EXT_REQ_CHAT, sizeof(llmgw_ext_request_t), msg, sizeof(msg)),
                     EXT_CALL_REFUSE);
    assert_non_null(strstr(msg, "kind=chat)"));
    assert_int_equal(
        run_kind(LLMGW_EXT_REQ_COMPLETION, sizeof(llmgw_ext_request_t), msg, sizeof(msg)),
        EXT_CALL_REFUSE);
    assert_non_null(strstr(msg, "kind=completion)"));
    assert_int_equal(
        run_kind(LLMGW_EXT_REQ_EMBEDDING, sizeof(llmgw_ext_request_t), msg, sizeof(msg)),
        EXT_CALL_REFUSE);
    assert_non_null(strstr(msg, "kind=embedding)"));
    /* Directly: V1 size accepted, one byte less refused with the V1 size named. */
    llmgw_ext_request_hook_t h = {.struct_size = LLMGW_EXT_REQUEST_HOOK_V1_SIZE,
                                  .on_request = my_hook};
    assert_int_equal(ext_hooks_add_request(&h, NULL, "t", err, sizeof(err)), 0);
    llmgw_ext_request_hook_t h2 = {.struct_size = LLMGW_EXT_REQUEST_HOOK_V1_SIZE - 1,
                                   .on_request = my_hook};
    assert_int_equal(ext_hooks_add_request(&h2, NULL, "t", err, sizeof(err)), -1);
    char want[96];
    snprintf(want, sizeof(want), "the ABI needs at least %u",
             (unsigned)LLMGW_EXT_REQUEST_HOOK_V1_SIZE);
    assert_non_null(strstr(err, want));
    ext_hooks_clear();
}

static void test_ext_hook_kinds(void **state)
{
    char err[256], msg[512];
    ext_hooks_clear();
    llmgw_ext_request_hook_t chat_only = {.struct_size = sizeof(chat_only),
                                          .on_request = my_hook,
                                          .kinds = LLMGW_EXT_KIND_BIT(LLMGW_EXT_REQ_CHAT)};
    assert_int_equal(ext_hooks_add_request(&chat_only, NULL, "chat_only", err, sizeof(err)), 0);
    mine = LLMGW_EXT_REFUSE;
    mine_status = 403;
    assert_int_equal(run_kind(LLMGW_EXT_REQ_CHAT, sizeof(llmgw_ext_request_t), msg, sizeof(msg)),
                     EXT_CALL_REFUSE);
    /* Opted out of embeddings and completions: skipped there. */
    assert_int_equal(
        run_kind(LLMGW_EXT_REQ_EMBEDDING, sizeof(llmgw_ext_request_t), msg, sizeof(msg)),
        EXT_CALL_PASS);
    assert_int_equal(
        run_kind(LLMGW_EXT_REQ_COMPLETION, sizeof(llmgw_ext_request_t), msg, sizeof(msg)),
        EXT_CALL_PASS);
    /* A request struct from before `kind` (V1 size) is chat, whatever the
     * bytes past its end hold. */
    assert_int_equal(run_kind(LLMGW_EXT_REQ_EMBEDDING, LLMGW_EXT_REQUEST_V1_SIZE, msg, sizeof(msg)),
                     EXT_CALL_REFUSE);
    /* kinds 0 is every kind. */
    ext_hooks_clear();
    llmgw_ext_request_hook_t all = {.struct_size = sizeof(all), .on_request = my_hook};
    assert_int_equal(ext_hooks_add_request(&all, NULL, "all", err, sizeof(err)), 0);
    assert_int_equal(
        run_kind(LLMGW_EXT_REQ_EMBEDDING, sizeof(llmgw_ext_request_t), msg, sizeof(msg)),
        EXT_CALL_REFUSE);
    assert_string_equal(msg, "extension all: no (http  0)");
    mine = LLMGW_EXT_PASS;
    ext_hooks_clear();
}

/* --- the adapter registry ----------------------------------------------------- */

static void test_ext_adapter_registry_builtins_first(void **state)
{
    char err[256];
    assert_true(adapter_count() >= 2);
    assert_string_equal(adapter_at(0)->name, "openai");
    assert_string_equal(adapter_at(1)->name, "anthropic");
    assert_null(adapter_find("gemini"));
    assert_int_equal(adapter_register(&adapter_openai, err, sizeof(err)), -1);
    assert_string_equal(err, "wire_format: 'openai' is already registered");
    table_provider_t p = {.name = "x"};
    assert_ptr_equal(adapter_for(&p), &adapter_openai); /* no wire_format: openai */
    p.wire_format = "nope";
    assert_null(adapter_for(&p));
    /* Raw (OpenAI-shaped) endpoints are the registry's data, not a name
     * test in the pipeline: openai declares them, anthropic none. */
    assert_true(adapter_serves_raw(adapter_find("openai"), "/completions"));
    assert_true(adapter_serves_raw(adapter_find("openai"), "/embeddings"));
    assert_false(adapter_serves_raw(adapter_find("openai"), "/images"));
    assert_false(adapter_serves_raw(adapter_find("anthropic"), "/embeddings"));
    assert_false(adapter_serves_raw(NULL, "/embeddings"));
}

/* --- the table's "extensions" ----------------------------------------------- */

static void expect_table_ext_error(const char *json, const char *want)
{
    table_ext_list_t l;
    char err[512] = "";
    assert_int_equal(table_ext_parse_text(json, strlen(json), &l, err, sizeof(err)), -1);
    if (strcmp(err, want) != 0)
        fail_msg("got '%s', want '%s'", err, want);
    assert_int_equal(l.n, 0);
}

static void test_ext_table_extensions_parsed(void **state)
{
    const char *ok =
        "{\"extensions\": [{\"name\": \"a\", \"path\": \"/x/a.so\", \"config\": {\"k\": "
        "1}, \"optional\": true}, {\"name\": \"b-2\", \"path\": \"b.so\"}]}";
    table_ext_list_t l;
    char err[512];
    assert_int_equal(table_ext_parse_text(ok, strlen(ok), &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.items[0].config_json, "{\"k\":1}");
    assert_true(l.items[0].optional);
    assert_string_equal(l.items[1].config_json, "{}");
    assert_false(l.items[1].optional);
    table_ext_list_free(&l);
    expect_table_ext_error("{\"extensions\": {}}", "extensions: expected an array");
    expect_table_ext_error("{\"extensions\": [{\"path\": \"a.so\"}]}",
                           "extensions[0].name: expected 1 to 64 characters from [a-z0-9_-]");
    expect_table_ext_error("{\"extensions\": [{\"name\": \"a\"}]}",
                           "extensions[0].path: expected a non-empty string (a .so file)");
    expect_table_ext_error("{\"extensions\": [{\"name\": \"a\", \"path\": \"a\", \"config\": 3}]}",
                           "extensions[0].config: expected an object");
    expect_table_ext_error(
        "{\"extensions\": [{\"name\": \"a\", \"path\": \"a\", \"optional\": 1}]}",
        "extensions[0].optional: expected true or false");
    expect_table_ext_error("{\"extensions\": [{\"name\": \"a\", \"path\": \"a\"}, {\"name\": "
                           "\"a\", \"path\": \"b\"}]}",
                           "extensions[1].name: duplicate of extensions[0]");
    expect_table_ext_error(
        "{\"extensions\": [{\"name\": \"a\", \"path\": \"a\", \"x\": 1}]}",
        "extensions[0].x: unknown field (expected name, path, config, optional)");
}

static bool knows_gemini(const char *name)
{
    return strcmp(name, "gemini") == 0;
}

static void test_ext_table_wire_formats(void **state)
{
    char err[512];
    const char *t = "{\"providers\": [{\"name\": \"g\", \"base_url\": \"http://127.0.0.1:1\", "
                    "\"wire_format\": \"gemini\", \"models\": [{\"name\": \"m\"}]}]}";
    table_set_wire_format_check(NULL);
    assert_null(table_load_json(t, strlen(t), err, sizeof(err)));
    assert_string_equal(err, "providers[0].wire_format: 'gemini' is not one of openai, anthropic");
    table_set_wire_format_check(knows_gemini);
    const char *other = "{\"providers\": [{\"name\": \"g\", \"base_url\": \"http://127.0.0.1:1\", "
                        "\"wire_format\": \"cohere\", \"models\": [{\"name\": \"m\"}]}]}";
    assert_null(table_load_json(other, strlen(other), err, sizeof(err)));
    assert_string_equal(err, "providers[0].wire_format: 'cohere' is not a wire format: expected "
                             "openai, anthropic or one a loaded extension registers");
    table_t *tab = table_load_json(t, strlen(t), err, sizeof(err));
    assert_non_null(tab);
    assert_string_equal(table_provider_at(tab, 0)->wire_format, "gemini");
    table_unref(tab);
    table_set_wire_format_check(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ext_wrong_abi_refused),
        cmocka_unit_test(test_ext_missing_entry_point_refused),
        cmocka_unit_test(test_ext_missing_file_refused),
        cmocka_unit_test(test_ext_small_struct_refused),
        cmocka_unit_test(test_ext_init_failure_reported),
        cmocka_unit_test(test_ext_init_crash_caught_by_probe),
        cmocka_unit_test(test_ext_init_hang_timed_out),
        cmocka_unit_test(test_ext_taken_wire_format_refused),
        cmocka_unit_test(test_ext_config_must_be_an_object),
        cmocka_unit_test(test_ext_bigger_struct_accepted),
        cmocka_unit_test(test_ext_late_registration_refused),
        cmocka_unit_test(test_ext_table_name_must_match),
        cmocka_unit_test(test_ext_hooks_rewrite_refuse_async),
        cmocka_unit_test(test_ext_hook_struct_checked),
        cmocka_unit_test(test_ext_adapter_registry_builtins_first),
        cmocka_unit_test(test_ext_table_extensions_parsed),
        cmocka_unit_test(test_ext_table_wire_formats),
        cmocka_unit_test(test_ext_v1_sized_structs_accepted),
        cmocka_unit_test(test_ext_hook_kinds),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ext_loader_unload_all();
    return rc;
}
