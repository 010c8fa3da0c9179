/* ext_adapter: plugin adapters wrapped into adapter_t. See ext_adapter.h.
 *
 * Invariants: a slot is filled once, at startup, before requests; its
 * adapter_t points at the slot's trampolines and stays registered for the
 * process's life (plugins are never unloaded while the data plane serves).
 */
#include "ext_adapter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "openai.h"
#include "provider_quirks.h"
#include "uerror.h"

#define EXT_BODY_CAP (32u << 20)
#define EXT_CHUNK_CAP (4u << 20)
#define EXT_HEADERS_MAX 8
#define EXT_HAS(s, field)                                                                          \
    ((s)->struct_size >= offsetof(__typeof__(*(s)), field) + sizeof((s)->field))

typedef struct {
    const llmgw_ext_adapter_t *pa;
    void *state;
    char plugin[72];
    char name[40];
    adapter_t ad;
} ext_slot_t;

static ext_slot_t slots[EXT_ADAPTER_SLOTS];
static size_t n_slots;

/* Per-attempt stream state: the plugin's, and the buffer its chunk JSON
 * is written to. */
struct ext_stream {
    ext_slot_t *slot;
    void *plugin_stream;
    buf_t chunk;
};

int ext_buf_append(llmgw_ext_buf_t *b, const char *data, size_t len)
{
    if (!b || (len && !data))
        return -1;
    return buf_append((buf_t *)(void *)b, data, len);
}

static int ext_auth_headers(ext_slot_t *s, const table_provider_t *p, arena_t *a, const char **out,
                            size_t *n, size_t cap)
{
    if (adapter_key_header(p, a, out, n, cap) < 0)
        return -1;
    const char *const *h = EXT_HAS(s->pa, headers) ? s->pa->headers : NULL;
    for (size_t i = 0; h && h[i] && i < EXT_HEADERS_MAX; i++) {
        if (*n >= cap)
            return -1;
        out[(*n)++] = h[i];
    }
    return 0;
}

static int ext_build(ext_slot_t *s, const table_provider_t *p, const Llmgw__V1__ChatRequest *req,
                     const char *upstream_model, bool stream, buf_t *out, char *err, size_t errlen)
{
    buf_t openai = BUF_INIT(EXT_BODY_CAP);
    int rc = provider_quirks_build_openai(p, req, upstream_model, stream, &openai, err, errlen);
    if (rc == 0) {
        err[0] = '\0';
        size_t mark = out->len;
        rc = s->pa->build_request(s->state, buf_cstr(&openai), openai.len, stream ? 1 : 0,
                                  ext_buf(out), err, errlen);
        if (rc == 0 && out->len == mark) {
            snprintf(err, errlen, "extension %s: the %s adapter built an empty request", s->plugin,
                     s->name);
            rc = -1;
        } else if (rc != 0) {
            out->len = mark;
            if (!err[0])
                snprintf(err, errlen, "extension %s: the %s adapter could not build the request",
                         s->plugin, s->name);
            rc = -1;
        }
    }
    buf_free(&openai);
    return rc;
}

static int ext_parse(ext_slot_t *s, const char *body, size_t len, arena_t *a,
                     Llmgw__V1__ChatResponse **out, char *err, size_t errlen)
{
    buf_t openai = BUF_INIT(EXT_BODY_CAP);
    err[0] = '\0';
    int rc = s->pa->parse_response(s->state, body ? body : "", body ? len : 0, ext_buf(&openai),
                                   err, errlen);
    if (rc != 0) {
        if (!err[0])
            snprintf(err, errlen, "%s answer: not understood by the extension's adapter", s->name);
        rc = -1;
    } else {
        rc = openai_parse_chat_response(buf_cstr(&openai), openai.len, a, out, err, errlen);
    }
    buf_free(&openai);
    return rc;
}

static adapter_stream_t *ext_stream_new(ext_slot_t *s)
{
    struct ext_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->slot = s;
    buf_init(&st->chunk, EXT_CHUNK_CAP);
    if (EXT_HAS(s->pa, stream_new) && s->pa->stream_new &&
        !(st->plugin_stream = s->pa->stream_new(s->state))) {
        free(st);
        return NULL;
    }
    return (adapter_stream_t *)(void *)st;
}

static void ext_stream_free(adapter_stream_t *as)
{
    struct ext_stream *st = (struct ext_stream *)(void *)as;
    if (!st)
        return;
    ext_slot_t *s = st->slot;
    if (st->plugin_stream && EXT_HAS(s->pa, stream_free) && s->pa->stream_free)
        s->pa->stream_free(s->state, st->plugin_stream);
    buf_free(&st->chunk);
    free(st);
}

static int ext_stream_event(adapter_stream_t *as, const char *event, const char *data, size_t len,
                            arena_t *a, Llmgw__V1__ChatChunk **out, bool *done, char *err,
                            size_t errlen)
{
    struct ext_stream *st = (struct ext_stream *)(void *)as;
    ext_slot_t *s = st->slot;
    int d = 0;
    *out = NULL;
    err[0] = '\0';
    buf_reset(&st->chunk);
    if (s->pa->stream_event(s->state, st->plugin_stream, event ? event : "", data ? data : "", len,
                            ext_buf(&st->chunk), &d, err, errlen) != 0) {
        if (!err[0])
            snprintf(err, errlen, "%s stream event not understood by the extension's adapter",
                     s->name);
        return -1;
    }
    if (d)
        *done = true;
    if (st->chunk.len == 0)
        return 0;
    return openai_parse_chat_chunk(buf_cstr(&st->chunk), st->chunk.len, a, out, err, errlen);
}

static void ext_error(ext_slot_t *s, uerror_t *e, long status, const char *body, size_t len,
                      const char *retry_after)
{
    static const struct {
        const char *type;
        bool retryable;
        grpc_status_code grpc;
    } cls[] = {
        [LLMGW_EXT_ERR_INVALID_REQUEST] = {"invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT},
        [LLMGW_EXT_ERR_AUTH] = {"auth", false, GRPC_STATUS_UNAUTHENTICATED},
        [LLMGW_EXT_ERR_PERMISSION] = {"permission", false, GRPC_STATUS_PERMISSION_DENIED},
        [LLMGW_EXT_ERR_NOT_FOUND] = {"not_found", false, GRPC_STATUS_NOT_FOUND},
        [LLMGW_EXT_ERR_TOO_LARGE] = {"too_large", false, GRPC_STATUS_INVALID_ARGUMENT},
        [LLMGW_EXT_ERR_RATE_LIMIT] = {"rate_limit", true, GRPC_STATUS_RESOURCE_EXHAUSTED},
        [LLMGW_EXT_ERR_SERVER] = {"server", true, GRPC_STATUS_UNAVAILABLE},
        [LLMGW_EXT_ERR_TIMEOUT] = {"timeout", true, GRPC_STATUS_DEADLINE_EXCEEDED},
    };
    uerror_from_http(e, status, body, len, retry_after);
    if (!EXT_HAS(s->pa, map_error) || !s->pa->map_error)
        return;
    llmgw_ext_error_t x = {.struct_size = sizeof(x), .http_status = status};
    snprintf(x.message, sizeof(x.message), "%s", e->message);
    s->pa->map_error(s->state, body ? body : "", body ? len : 0, &x);
    x.message[sizeof(x.message) - 1] = '\0';
    snprintf(e->message, sizeof(e->message), "%s", x.message);
    if (x.klass > LLMGW_EXT_ERR_KEEP && x.klass <= LLMGW_EXT_ERR_TIMEOUT) {
        e->type = cls[x.klass].type;
        e->retryable = cls[x.klass].retryable;
        e->grpc_status = cls[x.klass].grpc;
    }
}

/* The slot's own entry points (adapter_t has no self pointer). */
#define EXT_SLOT(i)                                                                                \
    static int ext_auth_##i(const table_provider_t *p, arena_t *a, const char **o, size_t *n,      \
                            size_t cap)                                                            \
    {                                                                                              \
        return ext_auth_headers(&slots[i], p, a, o, n, cap);                                       \
    }                                                                                              \
    static int ext_build_##i(const table_provider_t *p, const Llmgw__V1__ChatRequest *req,         \
                             const char *m, bool stream, buf_t *out, char *err, size_t errlen)     \
    {                                                                                              \
        return ext_build(&slots[i], p, req, m, stream, out, err, errlen);                          \
    }                                                                                              \
    static int ext_parse_##i(const char *body, size_t len, arena_t *a,                             \
                             Llmgw__V1__ChatResponse **out, char *err, size_t errlen)              \
    {                                                                                              \
        return ext_parse(&slots[i], body, len, a, out, err, errlen);                               \
    }                                                                                              \
    static adapter_stream_t *ext_stream_new_##i(void)                                              \
    {                                                                                              \
        return ext_stream_new(&slots[i]);                                                          \
    }                                                                                              \
    static void ext_error_##i(uerror_t *e, long st, const char *body, size_t len, const char *ra)  \
    {                                                                                              \
        ext_error(&slots[i], e, st, body, len, ra);                                                \
    }
EXT_SLOT(0)
EXT_SLOT(1)
EXT_SLOT(2)
EXT_SLOT(3)
EXT_SLOT(4)
EXT_SLOT(5)
EXT_SLOT(6)
EXT_SLOT(7)
#define EXT_FNS(i)                                                                                 \
    {                                                                                              \
        ext_auth_##i, ext_build_##i, ext_parse_##i, ext_stream_new_##i, ext_error_##i              \
    }

static const struct {
    int (*auth)(const table_provider_t *, arena_t *, const char **, size_t *, size_t);
    int (*build)(const table_provider_t *, const Llmgw__V1__ChatRequest *, const char *, bool,
                 buf_t *, char *, size_t);
    int (*parse)(const char *, size_t, arena_t *, Llmgw__V1__ChatResponse **, char *, size_t);
    adapter_stream_t *(*stream_new)(void);
    void (*error)(uerror_t *, long, const char *, size_t, const char *);
} slot_fns[EXT_ADAPTER_SLOTS] = {EXT_FNS(0), EXT_FNS(1), EXT_FNS(2), EXT_FNS(3),
                                 EXT_FNS(4), EXT_FNS(5), EXT_FNS(6), EXT_FNS(7)};

static bool ext_format_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

int ext_adapter_check(const llmgw_ext_adapter_t *pa, char *err, size_t errlen)
{
    /* The frozen first-version size, not sizeof: an adapter built before a
     * field was appended must still load (llmgw/extension.h). */
    if (!pa || pa->struct_size < LLMGW_EXT_ADAPTER_V1_SIZE) {
        snprintf(err, errlen, "adapter.struct_size: %u, the ABI needs at least %zu",
                 pa ? pa->struct_size : 0, (size_t)LLMGW_EXT_ADAPTER_V1_SIZE);
        return -1;
    }
    if (!ext_format_name_ok(pa->wire_format)) {
        snprintf(err, errlen, "adapter.wire_format: expected 1 to 32 characters from [a-z0-9_-]");
        return -1;
    }
    if (!pa->chat_path || pa->chat_path[0] != '/') {
        snprintf(err, errlen, "adapter.chat_path: expected a path starting with '/'");
        return -1;
    }
    const char *missing = !pa->build_request    ? "build_request"
                          : !pa->parse_response ? "parse_response"
                          : !pa->stream_event   ? "stream_event"
                                                : NULL;
    if (missing) {
        snprintf(err, errlen, "adapter.%s: required", missing);
        return -1;
    }
    if ((pa->stream_new == NULL) != (pa->stream_free == NULL)) {
        snprintf(err, errlen, "adapter.stream_free: stream_new and stream_free go together");
        return -1;
    }
    for (size_t i = 0; pa->headers && pa->headers[i]; i++)
        if (i >= EXT_HEADERS_MAX || !strchr(pa->headers[i], ':') ||
            strpbrk(pa->headers[i], "\r\n")) {
            snprintf(err, errlen, "adapter.headers[%zu]: expected at most %d \"Name: value\" lines",
                     i, EXT_HEADERS_MAX);
            return -1;
        }
    if (adapter_find(pa->wire_format)) {
        snprintf(err, errlen, "adapter.wire_format: '%s' is already registered", pa->wire_format);
        return -1;
    }
    if (n_slots >= EXT_ADAPTER_SLOTS) {
        snprintf(err, errlen, "adapter: at most %d extension adapters", EXT_ADAPTER_SLOTS);
        return -1;
    }
    return 0;
}

int ext_adapter_register(const llmgw_ext_adapter_t *pa, void *state, const char *plugin, char *err,
                         size_t errlen)
{
    if (ext_adapter_check(pa, err, errlen) < 0)
        return -1;
    ext_slot_t *s = &slots[n_slots];
    s->pa = pa;
    s->state = state;
    snprintf(s->plugin, sizeof(s->plugin), "%s", plugin ? plugin : "");
    snprintf(s->name, sizeof(s->name), "%s", pa->wire_format);
    s->ad = (adapter_t){
        .name = s->name,
        .chat_path = pa->chat_path,
        .auth_headers = slot_fns[n_slots].auth,
        .build_chat_request = slot_fns[n_slots].build,
        .parse_chat_response = slot_fns[n_slots].parse,
        .stream_new = slot_fns[n_slots].stream_new,
        .stream_free = ext_stream_free,
        .stream_event = ext_stream_event,
        .error_from_http = slot_fns[n_slots].error,
        .raw_paths = NULL, /* the ABI translates chat only: no raw completions/embeddings */
    };
    if (adapter_register(&s->ad, err, errlen) < 0)
        return -1;
    n_slots++;
    return 0;
}
