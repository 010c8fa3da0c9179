/* test_plugin: the plugins the extension tests load, one variant per build
 * (CMakeLists.txt defines TEST_PLUGIN_<VARIANT>):
 *
 *   ok            request, response and usage hooks; config {"mode": "pass" |
 *                 "refuse" | "rewrite" | "async" | "bad_status", "kinds"?:
 *                 "chat" (the request hook asks for chat requests only)};
 *                 health reports what its hooks saw ("requests=1 responses=2
 *                 usage=1"); a refusal names the request's kind
 *   v1_struct     as ok, but every struct it hands over is exactly the frozen
 *                 first-version size (LLMGW_EXT_*_V1_SIZE), as a plugin built
 *                 before fields were appended within ABI 1 (its request hook
 *                 has no `kinds`: it must see every kind)
 *   wrong_abi     abi_version 99
 *   no_entry      no llmgw_extension symbol
 *   init_fails    init returns -1 with a message naming a config field
 *   init_crashes  init dereferences NULL
 *   init_hangs    init sleeps 30 s (the probe's timeout ends it)
 *   small_struct  info.struct_size smaller than ABI 1's
 *   big_struct    info.struct_size bigger (a later ABI's fields): accepted
 *   dup_adapter   registers the wire format "openai" (taken)
 *   late_register keeps the api and registers after init (refused); init
 *                 itself registers nothing wrong
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "llmgw/extension.h"

#ifndef TEST_PLUGIN_SMALL_STRUCT
#define TEST_PLUGIN_SMALL_STRUCT 0
#endif
#ifndef TEST_PLUGIN_WRONG_ABI
#define TEST_PLUGIN_WRONG_ABI 0
#endif
#ifndef TEST_PLUGIN_V1_STRUCT
#define TEST_PLUGIN_V1_STRUCT 0
#endif

static const char *kind_name(const llmgw_ext_request_t *r)
{
    if (!LLMGW_EXT_HAS(llmgw_ext_request_t, r, kind))
        return "chat(no kind field)";
    switch (r->kind) {
    case LLMGW_EXT_REQ_CHAT:
        return "chat";
    case LLMGW_EXT_REQ_COMPLETION:
        return "completion";
    case LLMGW_EXT_REQ_EMBEDDING:
        return "embedding";
    }
    return "unknown";
}

static const llmgw_ext_api_t *api;
static atomic_long n_requests, n_responses, n_chunks, n_usage;
static char mode[32] = "pass";

typedef struct {
    llmgw_ext_decision_t *d;
    llmgw_ext_ticket_t *ticket;
} async_job_t;

/* The async mode's worker: decides after 50 ms, from its own thread. */
static void *async_worker(void *arg)
{
    async_job_t *j = arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    j->d->verdict = LLMGW_EXT_REFUSE;
    j->d->http_status = 429;
    snprintf(j->d->message, sizeof(j->d->message), "async verdict: slow down");
    llmgw_ext_ticket_t *t = j->ticket;
    free(j);
    api->request_complete(t);
    return NULL;
}

static llmgw_ext_verdict_t on_request(void *state, const llmgw_ext_request_t *r,
                                      llmgw_ext_decision_t *d, llmgw_ext_ticket_t *ticket)
{
    atomic_fetch_add(&n_requests, 1);
    if (!strcmp(mode, "refuse")) {
        d->http_status = 403;
        snprintf(d->message, sizeof(d->message), "refused by test (door=%s key=%s kind=%s)",
                 r->door, r->key, kind_name(r));
        return LLMGW_EXT_REFUSE;
    }
    if (!strcmp(mode, "bad_status")) {
        d->http_status = 200;
        return LLMGW_EXT_REFUSE;
    }
    if (!strcmp(mode, "rewrite")) {
        /* Every user message's content replaced: the answer shows it. */
        json_t *req = json_loadb(r->request_json, r->request_len, 0, NULL);
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(req, "messages"), i,
                           m) if (!strcmp(json_string_value(json_object_get(m, "role")), "user"))
            json_object_set_new(m, "content", json_string("rewritten by test"));
        char *s = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        int rc = s ? api->buf_append(d->rewrite, s, strlen(s)) : -1;
        free(s);
        return rc == 0 ? LLMGW_EXT_REWRITE : LLMGW_EXT_PASS;
    }
    if (!strcmp(mode, "async")) {
        async_job_t *j = malloc(sizeof(*j));
        pthread_t th;
        if (!j)
            return LLMGW_EXT_PASS;
        *j = (async_job_t){d, ticket};
        if (pthread_create(&th, NULL, async_worker, j) != 0) {
            free(j);
            return LLMGW_EXT_PASS;
        }
        pthread_detach(th);
        return LLMGW_EXT_PENDING;
    }
    return LLMGW_EXT_PASS;
}

static void on_response(void *state, const llmgw_ext_response_t *r)
{
    atomic_fetch_add(r->is_chunk ? &n_chunks : &n_responses, 1);
}

static void on_usage(void *state, const llmgw_ext_usage_t *u)
{
    atomic_fetch_add(&n_usage, 1);
}

#if TEST_PLUGIN_V1_STRUCT
#define HOOK_SIZE(v1, cur) (v1)
#else
#define HOOK_SIZE(v1, cur) (cur)
#endif
/* unused in the variants whose init registers nothing */
__attribute__((unused)) static const llmgw_ext_request_hook_t req_hook = {
    .struct_size = HOOK_SIZE(LLMGW_EXT_REQUEST_HOOK_V1_SIZE, sizeof(llmgw_ext_request_hook_t)),
    .on_request = on_request};
/* unused in the variants whose init registers nothing */
__attribute__((unused)) static const llmgw_ext_request_hook_t req_hook_chat_only = {
    .struct_size = sizeof(llmgw_ext_request_hook_t),
    .on_request = on_request,
    .kinds = LLMGW_EXT_KIND_BIT(LLMGW_EXT_REQ_CHAT)};
/* unused in the variants whose init registers nothing */
__attribute__((unused)) static const llmgw_ext_response_hook_t resp_hook = {
    .struct_size = HOOK_SIZE(LLMGW_EXT_RESPONSE_HOOK_V1_SIZE, sizeof(llmgw_ext_response_hook_t)),
    .on_response = on_response};
/* unused in the variants whose init registers nothing */
__attribute__((unused)) static const llmgw_ext_usage_hook_t usage_hook = {
    .struct_size = HOOK_SIZE(LLMGW_EXT_USAGE_HOOK_V1_SIZE, sizeof(llmgw_ext_usage_hook_t)),
    .on_usage = on_usage};

#if TEST_PLUGIN_DUP_ADAPTER
static int dummy_build(void *s, const char *j, size_t l, int st, llmgw_ext_buf_t *o, char *e,
                       size_t el)
{
    return -1;
}
static int dummy_parse(void *s, const char *b, size_t l, llmgw_ext_buf_t *o, char *e, size_t el)
{
    return -1;
}
static int dummy_event(void *s, void *st, const char *ev, const char *d, size_t l,
                       llmgw_ext_buf_t *o, int *done, char *e, size_t el)
{
    return -1;
}
static const llmgw_ext_adapter_t dup_adapter = {
    .struct_size = sizeof(llmgw_ext_adapter_t),
    .wire_format = "openai",
    .chat_path = "/x",
    .build_request = dummy_build,
    .parse_response = dummy_parse,
    .stream_event = dummy_event,
};
#endif

static int plugin_init(const llmgw_ext_api_t *a, const char *config_json, void **state, char *err,
                       size_t errlen)
{
    api = a;
    *state = NULL;
#if TEST_PLUGIN_INIT_FAILS
    snprintf(err, errlen, "config.always: this plugin always fails");
    return -1;
#elif TEST_PLUGIN_INIT_CRASHES
    volatile int *p = NULL;
    return *p;
#elif TEST_PLUGIN_INIT_HANGS
    sleep(30);
    return 0;
#elif TEST_PLUGIN_DUP_ADAPTER
    return a->register_adapter(a->host, &dup_adapter) < 0 ? 0 : 0; /* refusal noted by the host */
#elif TEST_PLUGIN_LATE_REGISTER
    return 0;
#else
    json_t *cfg = json_loads(config_json, 0, NULL);
    const char *m = json_string_value(json_object_get(cfg, "mode"));
    if (m)
        snprintf(mode, sizeof(mode), "%s", m);
    const char *k = json_string_value(json_object_get(cfg, "kinds"));
    bool chat_only = k && !strcmp(k, "chat");
    json_decref(cfg);
    if (a->register_request_hook(a->host, chat_only ? &req_hook_chat_only : &req_hook) < 0 ||
        a->register_response_hook(a->host, &resp_hook) < 0 ||
        a->register_usage_hook(a->host, &usage_hook) < 0) {
        snprintf(err, errlen, "registration refused");
        return -1;
    }
    return 0;
#endif
}

static int plugin_health(void *state, char *msg, size_t msglen)
{
#if TEST_PLUGIN_LATE_REGISTER
    /* After init: must be refused, and must not crash the gateway. */
    if (api->register_request_hook(api->host, &req_hook) == 0) {
        snprintf(msg, msglen, "late registration was accepted");
        return -1;
    }
#endif
    snprintf(msg, msglen, "requests=%ld responses=%ld chunks=%ld usage=%ld",
             atomic_load(&n_requests), atomic_load(&n_responses), atomic_load(&n_chunks),
             atomic_load(&n_usage));
    return 0;
}

static void plugin_shutdown(void *state)
{
}

#if TEST_PLUGIN_BIG_STRUCT
/* A plugin built against a later ABI that appended a field. */
static const struct {
    llmgw_ext_info_t v1;
    void *(*later_field)(void);
} info = {{
              .struct_size = sizeof(info),
              .abi_version = LLMGW_EXT_ABI_VERSION,
              .name = "test_big_struct",
              .version = "2.0.0",
              .init = plugin_init,
              .health = plugin_health,
              .shutdown = plugin_shutdown,
          },
          NULL};
#define INFO (&info.v1)
#else
static const llmgw_ext_info_t info = {
    .struct_size = TEST_PLUGIN_SMALL_STRUCT ? 8
                   : TEST_PLUGIN_V1_STRUCT ? LLMGW_EXT_INFO_V1_SIZE
                                           : sizeof(llmgw_ext_info_t),
    .abi_version = TEST_PLUGIN_WRONG_ABI ? 99 : LLMGW_EXT_ABI_VERSION,
#if TEST_PLUGIN_OK
    .name = "test_ok",
#elif TEST_PLUGIN_LATE_REGISTER
    .name = "test_late",
#elif TEST_PLUGIN_V1_STRUCT
    .name = "test_v1",
#else
    .name = "test_plugin",
#endif
    .version = "0.1.0",
    .init = plugin_init,
    .health = plugin_health,
    .shutdown = plugin_shutdown,
};
#define INFO (&info)
#endif

#if TEST_PLUGIN_NO_ENTRY
/* Misspelled: the loader must say the entry point is missing. */
const llmgw_ext_info_t *llmgw_extensions(void)
#else
const llmgw_ext_info_t *llmgw_extension(void)
#endif
{
    return INFO;
}
