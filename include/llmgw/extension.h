/* llmgw/extension.h: the extension ABI of llmgw-dataplane — the only header
 * a plugin needs (plain C11, no llmgw, protobuf or gRPC headers).
 *
 * A plugin is a shared object the data plane loads with dlopen
 * (`--extension PATH[:CONFIG_FILE]`, or the routing table's "extensions").
 * It exports one symbol, LLMGW_EXT_ENTRY_SYMBOL:
 *
 *     const llmgw_ext_info_t *llmgw_extension(void);
 *
 * which returns a static description: the ABI it was built against, its
 * name and version, and init / health / shutdown. The gateway checks the
 * ABI version and the struct size before it runs any other plugin code,
 * then calls init(api, config_json, &state, err, errlen). In init the plugin
 * registers what it provides through `api`:
 *
 *   - provider adapters (a wire format the gateway does not know): they
 *     translate between OpenAI's chat JSON and the provider's format — the
 *     request body, the answer, each stream event, the error body;
 *   - request hooks: run before routing; pass, rewrite the request (a new
 *     OpenAI chat request JSON) or refuse it with an HTTP status and message;
 *   - response hooks: see each answer and each streamed chunk's text;
 *   - usage hooks: see every finished request's usage and cost.
 *
 * Versioning: every struct starts with `struct_size` (sizeof as its
 * builder compiled it). A later header only appends fields, so ABI 1 grows
 * without breaking anyone: the gateway accepts a plugin struct whose
 * struct_size is at least the frozen first-version size (LLMGW_EXT_*_V1_SIZE
 * below — not the current sizeof) and reads a field added later only when
 * struct_size covers it (LLMGW_EXT_HAS); a plugin does the same with the
 * structs the gateway passes (an older gateway's are shorter). A struct
 * smaller than its V1 size is refused. LLMGW_EXT_ABI_VERSION changes only
 * when a field's meaning changes (the gateway refuses any other version).
 *
 * Added within ABI 1 (read them only through LLMGW_EXT_HAS):
 *   llmgw_ext_request_t.kind         which endpoint the request came to
 *   llmgw_ext_request_hook_t.kinds   which kinds the hook wants (0: all)
 *
 * Threading: hooks and adapter functions run on the data plane's event loops
 * (several threads; any function may run on several at once) and MUST NOT
 * block — no network or disk I/O, no waiting on locks held for long. A
 * request hook that needs slow work returns LLMGW_EXT_PENDING, does the work
 * elsewhere (its own thread) and calls api->request_complete(ticket) exactly
 * once, from any thread; the request then continues on an event loop.
 * init, health and shutdown run on the main thread (init also in a forked
 * probe first: it must be safe to run twice and may not rely on threads it
 * started surviving the probe's exit).
 *
 * Memory: every pointer the gateway passes is borrowed for the call (or, for
 * a pending request hook, until request_complete). Output goes into gateway
 * buffers (llmgw_ext_buf_t) through api->buf_append; the plugin never frees
 * gateway memory and the gateway never frees plugin memory, except the
 * per-stream state the plugin's stream_new returned (given back through its
 * stream_free).
 */
#ifndef LLMGW_EXTENSION_H
#define LLMGW_EXTENSION_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLMGW_EXT_ABI_VERSION 1u
#define LLMGW_EXT_ENTRY_SYMBOL "llmgw_extension"

/* A gateway-owned growable buffer with a cap (opaque). */
typedef struct llmgw_ext_buf llmgw_ext_buf_t;
/* A pending request hook's handle (opaque). */
typedef struct llmgw_ext_ticket llmgw_ext_ticket_t;
/* The gateway's side of one loaded plugin (opaque). */
typedef struct llmgw_ext_host llmgw_ext_host_t;

/* --- provider adapters --------------------------------------------------- */

/* The class of an upstream error: decides fallback and the caller's status. */
typedef enum {
    LLMGW_EXT_ERR_KEEP = 0,        /* keep the gateway's class (from the HTTP status) */
    LLMGW_EXT_ERR_INVALID_REQUEST, /* not retried; 400 / INVALID_ARGUMENT */
    LLMGW_EXT_ERR_AUTH,            /* not retried; 401 / UNAUTHENTICATED */
    LLMGW_EXT_ERR_PERMISSION,      /* not retried; 403 / PERMISSION_DENIED */
    LLMGW_EXT_ERR_NOT_FOUND,       /* not retried; 404 / NOT_FOUND */
    LLMGW_EXT_ERR_TOO_LARGE,       /* not retried; 413 / INVALID_ARGUMENT */
    LLMGW_EXT_ERR_RATE_LIMIT,      /* retried elsewhere; 429 / RESOURCE_EXHAUSTED */
    LLMGW_EXT_ERR_SERVER,          /* retried elsewhere; 503 / UNAVAILABLE */
    LLMGW_EXT_ERR_TIMEOUT,         /* retried elsewhere; 504 / DEADLINE_EXCEEDED */
} llmgw_ext_error_class_t;

typedef struct {
    uint32_t struct_size;
    long http_status;              /* as the provider answered */
    llmgw_ext_error_class_t klass; /* in: KEEP; set to reclassify */
    char message[512];             /* in: the gateway's reading; may be replaced */
} llmgw_ext_error_t;

typedef struct {
    uint32_t struct_size;
    /* The provider table's "wire_format" value that selects this adapter
     * ([a-z0-9_-], at most 32 bytes; "openai" and "anthropic" are taken). */
    const char *wire_format;
    /* Appended to the provider's base_url ("/v2/chat"). The API key goes in
     * the header of the provider's auth_style (bearer unless it says so). */
    const char *chat_path;
    /* Headers every request carries ("Accept: application/json"); NULL
     * ends the list, and the list itself may be NULL. */
    const char *const *headers;
    /* `openai_json` is the OpenAI chat.completions request the gateway would
     * send (model already the upstream model; with "stream": true and
     * "stream_options" when `stream`). Appends the provider's body to `out`.
     * 0, or -1 with err naming the field it cannot express. */
    int (*build_request)(void *state, const char *openai_json, size_t len, int stream,
                         llmgw_ext_buf_t *out, char *err, size_t errlen);
    /* A 2xx non-streamed answer into an OpenAI chat.completion JSON object
     * appended to `out`. 0, or -1 with err. */
    int (*parse_response)(void *state, const char *body, size_t len, llmgw_ext_buf_t *out,
                          char *err, size_t errlen);
    /* Per-attempt stream state; NULL when out of memory. May be NULL (the
     * events then get a NULL stream). */
    void *(*stream_new)(void *state);
    void (*stream_free)(void *state, void *stream);
    /* One server-sent event (its "event:" name, "" when none, and data).
     * Appends at most one OpenAI chat.completion.chunk JSON object to `out`
     * (nothing: the event carries no chunk) and sets *done at the format's
     * end of stream. 0, or -1 with err (malformed, or the provider's error
     * event). */
    int (*stream_event)(void *state, void *stream, const char *event, const char *data, size_t len,
                        llmgw_ext_buf_t *out, int *done, char *err, size_t errlen);
    /* A non-2xx answer: may reclassify e (klass) and reword e->message.
     * May be NULL (the HTTP status decides). */
    void (*map_error)(void *state, const char *body, size_t len, llmgw_ext_error_t *e);
} llmgw_ext_adapter_t;

/* --- hooks ----------------------------------------------------------------- */

/* The kind of request a request hook sees: the endpoint's OpenAI JSON. */
typedef enum {
    LLMGW_EXT_REQ_CHAT = 0,       /* chat.completions: model, messages, ... (also a legacy
                                   * /v1/completions request the gateway bridges to chat) */
    LLMGW_EXT_REQ_COMPLETION = 1, /* native /v1/completions: model, prompt, ... */
    LLMGW_EXT_REQ_EMBEDDING = 2,  /* /v1/embeddings: model, input, ... */
} llmgw_ext_request_kind_t;

/* A bit of llmgw_ext_request_hook_t.kinds. */
#define LLMGW_EXT_KIND_BIT(kind) (1u << (unsigned)(kind))

/* One request as request hooks see it. */
typedef struct {
    uint32_t struct_size;
    /* The caller's OpenAI request of `kind` as JSON, "model" the name the
     * caller gave (a route or provider/model). A gateway older than `kind`
     * runs hooks on chat requests only. */
    const char *request_json;
    size_t request_len;
    int stream;                 /* the caller asked for a stream */
    const char *door;           /* "http" or "grpc" */
    const char *key;            /* the caller's key name; "" with auth off */
    const char *team;           /* the key's team; "" when none */
    const char *const *headers; /* "name: value" (names lower-case); HTTP only */
    size_t n_headers;
    /* --- added within ABI 1: read only when LLMGW_EXT_HAS(llmgw_ext_request_t, r, kind);
     * absent means LLMGW_EXT_REQ_CHAT. */
    llmgw_ext_request_kind_t kind;
} llmgw_ext_request_t;

typedef enum {
    LLMGW_EXT_PASS = 0, /* go on unchanged */
    LLMGW_EXT_REWRITE,  /* go on with the request in d->rewrite */
    LLMGW_EXT_REFUSE,   /* answer d->http_status (400..599) with d->message */
    LLMGW_EXT_PENDING,  /* decided later: api->request_complete(ticket) */
} llmgw_ext_verdict_t;

/* What a request hook decided (filled in by the hook). */
typedef struct {
    uint32_t struct_size;
    llmgw_ext_verdict_t verdict; /* for PENDING: set before request_complete */
    int http_status;             /* REFUSE: 400..599 (gRPC gets the matching status) */
    char message[256];           /* REFUSE: what the caller reads */
    /* REWRITE: append the new request JSON here, of the same kind (a
     * completion or embedding rewrite keeps "model" a string and may not
     * change "stream"). */
    llmgw_ext_buf_t *rewrite;
} llmgw_ext_decision_t;

typedef struct {
    uint32_t struct_size;
    /* Returns the verdict (and fills d). For LLMGW_EXT_PENDING, req, d and
     * ticket stay valid until api->request_complete(ticket). Runs on every
     * kind of request (chat, completion, embedding) unless `kinds` says
     * otherwise, so a guard cannot be bypassed by another endpoint. */
    llmgw_ext_verdict_t (*on_request)(void *state, const llmgw_ext_request_t *req,
                                      llmgw_ext_decision_t *d, llmgw_ext_ticket_t *ticket);
    /* --- added within ABI 1 (a hook built before it, struct_size ==
     * LLMGW_EXT_REQUEST_HOOK_V1_SIZE, sees every kind): the kinds the hook
     * runs on, LLMGW_EXT_KIND_BIT(LLMGW_EXT_REQ_...) or-ed; 0 means every
     * kind. A hook that only understands chat JSON sets
     * LLMGW_EXT_KIND_BIT(LLMGW_EXT_REQ_CHAT) — and then guards nothing else. */
    uint32_t kinds;
} llmgw_ext_request_hook_t;

/* One answer, or one streamed chunk, as response hooks see it. */
typedef struct {
    uint32_t struct_size;
    int is_chunk;         /* 1: one chunk of a stream; 0: a whole answer */
    const char *provider; /* the deployment serving it */
    const char *model;
    const char *content; /* the text (choice 0; a chunk's delta) */
    size_t content_len;
    const char *finish_reason; /* "" until the end */
} llmgw_ext_response_t;

typedef struct {
    uint32_t struct_size;
    void (*on_response)(void *state, const llmgw_ext_response_t *r);
} llmgw_ext_response_hook_t;

/* One finished request (success or not). */
typedef struct {
    uint32_t struct_size;
    const char *key, *team, *route, *provider, *model; /* "" when none */
    int64_t prompt_tokens, completion_tokens;
    double cost_usd;
    int64_t latency_ms;
    int grpc_status; /* 0 OK */
} llmgw_ext_usage_t;

typedef struct {
    uint32_t struct_size;
    void (*on_usage)(void *state, const llmgw_ext_usage_t *u);
} llmgw_ext_usage_hook_t;

/* --- what the gateway offers a plugin ---------------------------------------- */

typedef struct {
    uint32_t struct_size;
    uint32_t abi_version; /* the gateway's LLMGW_EXT_ABI_VERSION */
    llmgw_ext_host_t *host;
    /* Registration, during init only; the structs are borrowed for the
     * plugin's life (make them static). 0, or -1 with the reason logged
     * (a duplicate wire format, a struct too small, a missing function). */
    int (*register_adapter)(llmgw_ext_host_t *host, const llmgw_ext_adapter_t *a);
    int (*register_request_hook)(llmgw_ext_host_t *host, const llmgw_ext_request_hook_t *h);
    int (*register_response_hook)(llmgw_ext_host_t *host, const llmgw_ext_response_hook_t *h);
    int (*register_usage_hook)(llmgw_ext_host_t *host, const llmgw_ext_usage_hook_t *h);
    /* Appends to a gateway buffer. 0, or -1 past its cap / out of memory. */
    int (*buf_append)(llmgw_ext_buf_t *b, const char *data, size_t len);
    /* Ends a pending request hook: the verdict is read from its decision.
     * Exactly once per PENDING, from any thread. */
    void (*request_complete)(llmgw_ext_ticket_t *ticket);
    /* One log line at info (level 0) or warn (level 1), "ext=<name>" added. */
    void (*log)(llmgw_ext_host_t *host, int level, const char *message);
} llmgw_ext_api_t;

/* --- the plugin's description (what the entry point returns) ----------------- */

typedef struct {
    uint32_t struct_size;
    uint32_t abi_version; /* LLMGW_EXT_ABI_VERSION as the plugin was built */
    const char *name;     /* [a-z0-9_-], at most 64 bytes, unique per process */
    const char *version;  /* the plugin's own ("1.2.0") */
    /* config_json: the plugin's config object as JSON text ("{}" when none).
     * Registers what it provides and sets *state (passed to everything).
     * 0, or -1 with err saying which config field is wrong. */
    int (*init)(const llmgw_ext_api_t *api, const char *config_json, void **state, char *err,
                size_t errlen);
    /* 0 healthy, or -1 with msg; may be NULL (always healthy). Must not block. */
    int (*health)(void *state, char *msg, size_t msglen);
    /* After the last request; frees state. May be NULL. */
    void (*shutdown)(void *state);
} llmgw_ext_info_t;

typedef const llmgw_ext_info_t *(*llmgw_ext_entry_fn)(void);

/* --- versioning ------------------------------------------------------------------ */

/* The end of `field` in `type`: how big struct_size must be to hold it. */
#define LLMGW_EXT_SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
/* Whether s (a pointer to a `type` built by the other side) holds `field`. */
#define LLMGW_EXT_HAS(type, s, field) ((s)->struct_size >= LLMGW_EXT_SIZE_THROUGH(type, field))

/* Frozen: each struct's size in ABI 1 as first published — through its
 * last first-version field, so appending fields never changes them. A
 * struct_size below these is refused; at or above, accepted. */
#define LLMGW_EXT_INFO_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_info_t, shutdown)
#define LLMGW_EXT_ADAPTER_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_adapter_t, map_error)
#define LLMGW_EXT_REQUEST_HOOK_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_request_hook_t, on_request)
#define LLMGW_EXT_RESPONSE_HOOK_V1_SIZE                                                            \
    LLMGW_EXT_SIZE_THROUGH(llmgw_ext_response_hook_t, on_response)
#define LLMGW_EXT_USAGE_HOOK_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_usage_hook_t, on_usage)
/* The structs the gateway passes, for plugins that check them. */
#define LLMGW_EXT_REQUEST_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_request_t, n_headers)
#define LLMGW_EXT_DECISION_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_decision_t, rewrite)
#define LLMGW_EXT_RESPONSE_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_response_t, finish_reason)
#define LLMGW_EXT_USAGE_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_usage_t, grpc_status)
#define LLMGW_EXT_ERROR_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_error_t, message)
#define LLMGW_EXT_API_V1_SIZE LLMGW_EXT_SIZE_THROUGH(llmgw_ext_api_t, log)

#ifdef __cplusplus
}
#endif

#endif
