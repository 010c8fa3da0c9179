/* prompt_guard: an llmgw extension with one request hook, run before
 * routing:
 *
 *   - refuses a request whose prompt is over max_prompt_bytes: HTTP 413
 *     (gRPC RESOURCE_EXHAUSTED), before any provider is paid for it. The
 *     prompt of a chat request is the text of every message's content; of
 *     a native /v1/completions request its "prompt", of an /v1/embeddings
 *     request its "input" (a string, an array of strings, or token ids —
 *     each id counted as 4 bytes, about a token's text). The hook runs on
 *     every kind, so neither endpoint bypasses the limit;
 *   - tags the tenant: when the request carries the tenant_header (HTTP
 *     door), the request is rewritten with "user": "tenant:<value>", so the
 *     provider's abuse tracking and the usage records see the tenant (all
 *     three kinds take "user"); with
 *     require_tenant a request without the header is refused with 400.
 *
 * Config: {"max_prompt_bytes": N (required, >= 1), "tenant_header"?:
 * "x-tenant", "require_tenant"?: false}. The hook is pure computation on
 * the request (no I/O), so it answers at once; health reports its counters
 * ("passed=3 refused=1 tagged=2"). Only llmgw/extension.h and jansson.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmgw/extension.h"

typedef struct {
    json_int_t max_prompt_bytes;
    char tenant_header[64]; /* lower-case; "" none */
    int require_tenant;
    atomic_long passed, refused, tagged;
} guard_t;

static const llmgw_ext_api_t *api;

static size_t content_bytes(json_t *c)
{
    if (json_is_string(c))
        return json_string_length(c);
    size_t n = 0, i;
    json_t *p;
    json_array_foreach(c, i, p) n += json_string_length(json_object_get(p, "text"));
    return n;
}

/* Bytes of a completions "prompt" or embeddings "input": a string, token
 * ids, or an array of either (nested once, as OpenAI allows). */
static size_t input_bytes(json_t *v, int depth)
{
    if (json_is_string(v))
        return json_string_length(v);
    if (json_is_integer(v))
        return 4;
    size_t n = 0, i;
    json_t *x;
    if (depth < 2)
        json_array_foreach(v, i, x) n += input_bytes(x, depth + 1);
    return n;
}

/* The header's value (trimmed), or NULL. */
static const char *find_header(const llmgw_ext_request_t *r, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *h = r->headers[i];
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ')
                v++;
            *len = strlen(v);
            while (*len > 0 && isspace((unsigned char)v[*len - 1]))
                (*len)--;
            return *len ? v : NULL;
        }
    }
    return NULL;
}

static llmgw_ext_verdict_t guard_on_request(void *state, const llmgw_ext_request_t *r,
                                            llmgw_ext_decision_t *d, llmgw_ext_ticket_t *ticket)
{
    guard_t *g = state;
    json_t *req = json_loadb(r->request_json, r->request_len, 0, NULL);
    llmgw_ext_verdict_t v = LLMGW_EXT_PASS;
    size_t bytes = 0, i;
    json_t *m;
    /* A gateway from before `kind` hooks chat requests only. */
    llmgw_ext_request_kind_t kind =
        LLMGW_EXT_HAS(llmgw_ext_request_t, r, kind) ? r->kind : LLMGW_EXT_REQ_CHAT;
    const char *what = "prompt";
    if (kind == LLMGW_EXT_REQ_COMPLETION) {
        bytes = input_bytes(json_object_get(req, "prompt"), 0);
    } else if (kind == LLMGW_EXT_REQ_EMBEDDING) {
        bytes = input_bytes(json_object_get(req, "input"), 0);
        what = "input";
    } else {
        json_array_foreach(json_object_get(req, "messages"), i, m) bytes +=
            content_bytes(json_object_get(m, "content"));
    }
    if ((json_int_t)bytes > g->max_prompt_bytes) {
        d->http_status = 413;
        snprintf(d->message, sizeof(d->message),
                 "%s is %zu bytes, over the limit of %lld (max_prompt_bytes)", what, bytes,
                 (long long)g->max_prompt_bytes);
        v = LLMGW_EXT_REFUSE;
        goto out;
    }
    if (g->tenant_header[0]) {
        size_t len = 0;
        const char *t = find_header(r, g->tenant_header, &len);
        if (!t && g->require_tenant) {
            d->http_status = 400;
            snprintf(d->message, sizeof(d->message), "%s: header required (a tenant name)",
                     g->tenant_header);
            v = LLMGW_EXT_REFUSE;
            goto out;
        }
        if (t) {
            char user[200];
            snprintf(user, sizeof(user), "tenant:%.*s", (int)(len < 128 ? len : 128), t);
            json_object_set_new(req, "user", json_string(user));
            char *s = json_dumps(req, JSON_COMPACT);
            if (!s || api->buf_append(d->rewrite, s, strlen(s)) < 0) {
                free(s);
                d->http_status = 500;
                snprintf(d->message, sizeof(d->message), "out of memory");
                v = LLMGW_EXT_REFUSE;
                goto out;
            }
            free(s);
            atomic_fetch_add(&g->tagged, 1);
            v = LLMGW_EXT_REWRITE;
        }
    }
out:
    json_decref(req);
    atomic_fetch_add(v == LLMGW_EXT_REFUSE ? &g->refused : &g->passed, 1);
    return v;
}

static const llmgw_ext_request_hook_t guard_hook = {
    .struct_size = sizeof(llmgw_ext_request_hook_t),
    .on_request = guard_on_request,
    .kinds = 0, /* every kind: chat, completions, embeddings */
};

static int guard_init(const llmgw_ext_api_t *a, const char *config_json, void **state, char *err,
                      size_t errlen)
{
    json_t *cfg = json_loads(config_json, 0, NULL);
    guard_t *g = calloc(1, sizeof(*g));
    const char *k;
    json_t *v;
    if (!g || !json_is_object(cfg)) {
        snprintf(err, errlen, "config: expected an object");
        goto fail;
    }
    json_object_foreach(cfg, k, v)
    {
        if (!strcmp(k, "max_prompt_bytes")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                snprintf(err, errlen, "config.max_prompt_bytes: expected an integer >= 1");
                goto fail;
            }
            g->max_prompt_bytes = json_integer_value(v);
        } else if (!strcmp(k, "tenant_header")) {
            const char *s = json_string_value(v);
            size_t n = s ? strlen(s) : 0;
            if (n == 0 || n >= sizeof(g->tenant_header) || strpbrk(s, ": \r\n")) {
                snprintf(err, errlen, "config.tenant_header: expected a header name");
                goto fail;
            }
            for (size_t i = 0; i <= n; i++)
                g->tenant_header[i] = (char)tolower((unsigned char)s[i]);
        } else if (!strcmp(k, "require_tenant")) {
            if (!json_is_boolean(v)) {
                snprintf(err, errlen, "config.require_tenant: expected true or false");
                goto fail;
            }
            g->require_tenant = json_is_true(v);
        } else {
            snprintf(err, errlen,
                     "config.%.64s: unknown field (expected max_prompt_bytes, tenant_header, "
                     "require_tenant)",
                     k);
            goto fail;
        }
    }
    if (g->max_prompt_bytes == 0) {
        snprintf(err, errlen, "config.max_prompt_bytes: required");
        goto fail;
    }
    if (g->require_tenant && !g->tenant_header[0]) {
        snprintf(err, errlen, "config.require_tenant: needs tenant_header");
        goto fail;
    }
    json_decref(cfg);
    api = a;
    if (a->register_request_hook(a->host, &guard_hook) < 0) {
        free(g);
        snprintf(err, errlen, "the request hook was refused");
        return -1;
    }
    *state = g;
    return 0;
fail:
    json_decref(cfg);
    free(g);
    return -1;
}

static int guard_health(void *state, char *msg, size_t msglen)
{
    guard_t *g = state;
    snprintf(msg, msglen, "passed=%ld refused=%ld tagged=%ld", atomic_load(&g->passed),
             atomic_load(&g->refused), atomic_load(&g->tagged));
    return 0;
}

static void guard_shutdown(void *state)
{
    free(state);
}

static const llmgw_ext_info_t guard_info = {
    .struct_size = sizeof(llmgw_ext_info_t),
    .abi_version = LLMGW_EXT_ABI_VERSION,
    .name = "prompt_guard",
    .version = "1.1.0", /* 1.1: completions' prompt and embeddings' input guarded too */
    .init = guard_init,
    .health = guard_health,
    .shutdown = guard_shutdown,
};

const llmgw_ext_info_t *llmgw_extension(void)
{
    return &guard_info;
}
