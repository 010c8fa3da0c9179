/* ext_hooks: hook tables and request-hook runs. See ext_hooks.h.
 *
 * Thread model: the tables are written at startup only; n_* are atomics so
 * a reader on any thread sees whole entries. A run (ext_call_t) belongs to
 * one request: ext_call_run is called by one thread at a time (the
 * request's loop); the pending hook's plugin thread only calls
 * ext_call_complete, which reads nothing and calls wake. The decision the
 * plugin filled before completing is published to the resuming thread by
 * the owner's hand-off (upstream_post takes a lock on both sides).
 */
#include "ext_hooks.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define EXT_REQ_JSON_CAP (32u << 20)
#define EXT_HEADERS_CAP 128

typedef struct {
    const void *hook;
    void *state;
    const char *ext;
} ext_entry_t;

static ext_entry_t req_hooks[EXT_HOOKS_MAX], resp_hooks[EXT_HOOKS_MAX], usage_hooks[EXT_HOOKS_MAX];
static atomic_size_t n_req, n_resp, n_usage;

static int ext_add(ext_entry_t *tab, atomic_size_t *n, const void *hook, uint32_t size,
                   uint32_t min_size, bool has_fn, const char *kind, void *state, const char *ext,
                   char *err, size_t errlen)
{
    size_t k = atomic_load(n);
    if (!hook || size < min_size) {
        snprintf(err, errlen, "%s_hook.struct_size: %u, the ABI needs at least %u", kind,
                 hook ? size : 0, min_size);
        return -1;
    }
    if (!has_fn) {
        snprintf(err, errlen, "%s_hook.on_%s: required", kind, kind);
        return -1;
    }
    if (k >= EXT_HOOKS_MAX) {
        snprintf(err, errlen, "%s_hook: at most %d per process", kind, EXT_HOOKS_MAX);
        return -1;
    }
    tab[k] = (ext_entry_t){hook, state, ext};
    atomic_store(n, k + 1);
    return 0;
}

int ext_hooks_add_request(const llmgw_ext_request_hook_t *h, void *state, const char *ext,
                          char *err, size_t errlen)
{
    return ext_add(req_hooks, &n_req, h, h ? h->struct_size : 0,
                   (uint32_t)LLMGW_EXT_REQUEST_HOOK_V1_SIZE, h && h->on_request, "request", state,
                   ext, err, errlen);
}

int ext_hooks_add_response(const llmgw_ext_response_hook_t *h, void *state, const char *ext,
                           char *err, size_t errlen)
{
    return ext_add(resp_hooks, &n_resp, h, h ? h->struct_size : 0,
                   (uint32_t)LLMGW_EXT_RESPONSE_HOOK_V1_SIZE, h && h->on_response, "response",
                   state, ext, err, errlen);
}

int ext_hooks_add_usage(const llmgw_ext_usage_hook_t *h, void *state, const char *ext, char *err,
                        size_t errlen)
{
    return ext_add(usage_hooks, &n_usage, h, h ? h->struct_size : 0,
                   (uint32_t)LLMGW_EXT_USAGE_HOOK_V1_SIZE, h && h->on_usage, "usage", state, ext,
                   err, errlen);
}

void ext_hooks_clear(void)
{
    atomic_store(&n_req, 0);
    atomic_store(&n_resp, 0);
    atomic_store(&n_usage, 0);
}

bool ext_hooks_have_request(void)
{
    return atomic_load_explicit(&n_req, memory_order_acquire) > 0;
}

bool ext_hooks_have_response(void)
{
    return atomic_load_explicit(&n_resp, memory_order_acquire) > 0;
}

bool ext_hooks_have_usage(void)
{
    return atomic_load_explicit(&n_usage, memory_order_acquire) > 0;
}

void ext_hooks_response(const llmgw_ext_response_t *r)
{
    size_t n = atomic_load_explicit(&n_resp, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        const llmgw_ext_response_hook_t *h = resp_hooks[i].hook;
        h->on_response(resp_hooks[i].state, r);
    }
}

void ext_hooks_usage(const llmgw_ext_usage_t *u)
{
    size_t n = atomic_load_explicit(&n_usage, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        const llmgw_ext_usage_hook_t *h = usage_hooks[i].hook;
        h->on_usage(usage_hooks[i].state, u);
    }
}

/* --- request runs ---------------------------------------------------------- */

struct ext_call {
    size_t next;    /* the next hook to run */
    bool pending;   /* hooks[next - 1] answers later */
    bool rewritten; /* some hook replaced the JSON */
    buf_t json;     /* the request as the next hook sees it */
    buf_t rewrite;  /* the pending/current hook's rewrite */
    llmgw_ext_request_t req;
    llmgw_ext_decision_t d;
    char *door, *key, *team;
    char **headers;
    size_t n_headers;
    int http_status;
    char message[320];
    void (*wake)(void *ud);
    void *ud;
};

ext_call_t *ext_call_new(const llmgw_ext_request_t *req, void (*wake)(void *ud), void *ud)
{
    ext_call_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    buf_init(&c->json, EXT_REQ_JSON_CAP);
    buf_init(&c->rewrite, EXT_REQ_JSON_CAP);
    c->wake = wake;
    c->ud = ud;
    size_t nh = req->n_headers < EXT_HEADERS_CAP ? req->n_headers : EXT_HEADERS_CAP;
    c->door = strdup(req->door ? req->door : "");
    c->key = strdup(req->key ? req->key : "");
    c->team = strdup(req->team ? req->team : "");
    c->headers = nh ? calloc(nh, sizeof(char *)) : NULL;
    if (!c->door || !c->key || !c->team || (nh && !c->headers) ||
        buf_append(&c->json, req->request_json, req->request_len) < 0)
        goto fail;
    for (; c->n_headers < nh; c->n_headers++)
        if (!(c->headers[c->n_headers] = strdup(req->headers[c->n_headers])))
            goto fail;
    c->req = (llmgw_ext_request_t){
        .struct_size = sizeof(c->req),
        .kind = LLMGW_EXT_HAS(llmgw_ext_request_t, req, kind) ? req->kind : LLMGW_EXT_REQ_CHAT,
        .stream = req->stream,
        .door = c->door,
        .key = c->key,
        .team = c->team,
        .headers = (const char *const *)c->headers,
        .n_headers = c->n_headers,
    };
    return c;
fail:
    ext_call_free(c);
    return NULL;
}

void ext_call_free(ext_call_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_headers; i++)
        free(c->headers[i]);
    free(c->headers);
    free(c->door);
    free(c->key);
    free(c->team);
    buf_free(&c->json);
    buf_free(&c->rewrite);
    free(c);
}

void ext_call_complete(llmgw_ext_ticket_t *ticket)
{
    ext_call_t *c = (ext_call_t *)(void *)ticket;
    if (c)
        c->wake(c->ud);
}

static void ext_refuse(ext_call_t *c, const char *ext, int status, const char *msg)
{
    c->http_status = status;
    snprintf(c->message, sizeof(c->message), "extension %s: %s", ext, msg);
}

/* Whether hook h runs on requests of this kind: `kinds` is read only when
 * the hook's struct holds it, and 0 (or a hook built before it) means every
 * kind — a guard is not bypassed by a new endpoint unless it opted out. */
static bool ext_hook_wants(const llmgw_ext_request_hook_t *h, llmgw_ext_request_kind_t kind)
{
    if (!LLMGW_EXT_HAS(llmgw_ext_request_hook_t, h, kinds) || h->kinds == 0)
        return true;
    return (h->kinds & LLMGW_EXT_KIND_BIT(kind)) != 0;
}

/* Applies hook i's decision. true: the run goes on. */
static bool ext_apply(ext_call_t *c, size_t i, llmgw_ext_verdict_t v)
{
    const char *ext = req_hooks[i].ext;
    switch (v) {
    case LLMGW_EXT_PASS:
        return true;
    case LLMGW_EXT_REWRITE:
        if (c->rewrite.len == 0) {
            ext_refuse(c, ext, 500, "request hook rewrote the request to nothing");
            return false;
        }
        buf_reset(&c->json);
        if (buf_append(&c->json, c->rewrite.data, c->rewrite.len) < 0) {
            ext_refuse(c, ext, 500, "rewritten request too large");
            return false;
        }
        c->rewritten = true;
        return true;
    case LLMGW_EXT_REFUSE: {
        c->d.message[sizeof(c->d.message) - 1] = '\0';
        int st = c->d.http_status;
        if (st < 400 || st > 599) {
            log_warn("extension request hook refused with a bad status", "ext=%s http_status=%d",
                     ext, st);
            st = 500;
        }
        ext_refuse(c, ext, st, c->d.message[0] ? c->d.message : "request refused");
        return false;
    }
    default:
        log_warn("extension request hook answered an unknown verdict", "ext=%s verdict=%d", ext,
                 (int)v);
        ext_refuse(c, ext, 500, "request hook answered an unknown verdict");
        return false;
    }
}

ext_call_state_t ext_call_run(ext_call_t *c)
{
    size_t n = atomic_load_explicit(&n_req, memory_order_acquire);
    if (c->pending) {
        /* The completed hook's decision, read on the owner's loop. */
        c->pending = false;
        llmgw_ext_verdict_t v = c->d.verdict;
        if (v == LLMGW_EXT_PENDING) {
            ext_refuse(c, req_hooks[c->next - 1].ext, 500,
                       "request hook completed without a verdict");
            return EXT_CALL_REFUSE;
        }
        if (!ext_apply(c, c->next - 1, v))
            return EXT_CALL_REFUSE;
    }
    while (c->next < n) {
        size_t i = c->next++;
        const llmgw_ext_request_hook_t *h = req_hooks[i].hook;
        if (!ext_hook_wants(h, c->req.kind))
            continue;
        buf_reset(&c->rewrite);
        c->d = (llmgw_ext_decision_t){.struct_size = sizeof(c->d),
                                      .rewrite = (llmgw_ext_buf_t *)(void *)&c->rewrite};
        c->req.request_json = buf_cstr(&c->json);
        c->req.request_len = c->json.len;
        /* Set first: the hook may complete (and the owner resume the run
         * on another thread) before on_request returns, so after PENDING
         * nothing here touches c again. */
        c->pending = true;
        llmgw_ext_verdict_t v =
            h->on_request(req_hooks[i].state, &c->req, &c->d, (llmgw_ext_ticket_t *)(void *)c);
        if (v == LLMGW_EXT_PENDING)
            return EXT_CALL_PENDING;
        c->pending = false;
        if (!ext_apply(c, i, v))
            return EXT_CALL_REFUSE;
    }
    return EXT_CALL_PASS;
}

bool ext_call_rewritten(const ext_call_t *c)
{
    return c->rewritten;
}

const char *ext_call_json(const ext_call_t *c, size_t *len)
{
    *len = c->json.len;
    return buf_cstr(&c->json);
}

int ext_call_http_status(const ext_call_t *c)
{
    return c->http_status;
}

const char *ext_call_message(const ext_call_t *c)
{
    return c->message;
}
