/* http_api: see http_api.h for the thread model.
 *
 * Per request, an hconn_t holds the body, the arena of the decoded request
 * and the answer being built. It is reference-counted: one reference for
 * MHD (dropped in NOTIFY_COMPLETED), one for the pipeline while a request is
 * in it (dropped at the end of on_done) and one for a streaming response
 * (dropped when MHD destroys it).
 *
 * Invariants (libmicrohttpd 0.9.75, see mhd-notes):
 * - Only the MHD thread suspends, always under hc->mu after seeing that
 *   nothing is ready; a producer resumes only under hc->mu, only when
 *   `suspended` is set and the connection is not `dead`. So no wake-up is
 *   lost and no connection is resumed twice or after completion.
 * - Responses are queued only on the MHD thread (in the handler or, for a
 *   stream, produced by the content reader).
 * - The HTTP status of a stream is chosen at its first event: an error
 *   before the first chunk is an ordinary JSON error.
 * - With a client CA (cfg->tls->ca_pem) no request is looked at before its
 *   connection's client certificate verified: MHD only asks for one
 *   (tls_http.h), the handler refuses.
 */
#include "http_api.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "adapter.h"
#include "arena.h"
#include "auth.h"
#include "buf.h"
#include "cache_replay.h"
#include "chat_schema.h"
#include "cli.h"
#include "clock.h"
#include "ext_hooks.h"
#include "http_chat.h"
#include "http_ensemble.h"
#include "http_gw.h"
#include "http_watch.h"
#include "log.h"
#include "prom.h"
#include "tls_http.h"

#define HA_ARENA_LIMIT (256u << 20)
#define HA_DEFAULT_BODY_CAP (8u << 20)
#define HA_STREAM_BUF_CAP (8u << 20) /* bytes a slow stream reader may lag behind */
#define HA_ANSWER_CAP (64u << 20)
#define HA_READ_BLOCK 16384
/* Connections over all event loops (libmicrohttpd refuses more). Each costs
 * a descriptor, so the process's RLIMIT_NOFILE (raised to its hard limit at
 * start) is the cap that binds first on most machines. */
#define HA_CONNECTION_LIMIT 65536

typedef enum {
    EP_NONE = 0,
    EP_CHAT,
    EP_COMPLETIONS,
    EP_EMBEDDINGS,
    EP_ENSEMBLES,
    EP_MODELS,
    EP_MODEL,
    EP_PROVIDERS,
    EP_ROUTING,
    EP_PERFORMANCE,
    EP_ANALYTICS,
    EP_CAPABILITIES,
    EP_EXTENSIONS,
    EP_METRICS,
    EP_HEALTHZ,
    EP_READYZ,
} ha_endpoint_t;

typedef enum { HC_NEW = 0, HC_WAIT, HC_ANSWERED } ha_phase_t;

typedef struct hconn hconn_t;

/* Per connection (MHD's socket context, MHD threads only): its id, and
 * whether its socket is in the hang-up watcher. The socket is watched from
 * its first waiting request until it closes: one epoll_ctl per connection,
 * not two per request (a measurable share of a request's CPU). A keep-alive
 * connection runs one request at a time, so the id names that request.
 * With a client CA its certificate is checked at its first request: one TLS
 * session, one certificate, so later requests skip the check. */
typedef struct {
    uint32_t id;
    int fd;
    bool watched;
    bool client_ok;
    bool greeting; /* TLS: counted in its loop's `greeting` until its first request */
} hsock_t;

/* One event loop: a daemon run by one engine's thread. Every loop's daemon
 * listens on the same address (SO_REUSEPORT), so the kernel spreads
 * connections over the loops. */
typedef struct {
    http_api_t *api;
    struct MHD_Daemon *daemon;
    upstream_t *engine;
    MHD_socket quiesced_fd;
    bool guest_set;
    /* HTTPS (this loop's thread only): connections accepted that have not
     * yet sent a request, i.e. the ones that may be in their handshake, and
     * how many turns in a row MHD asked to be run again at once. See ha_run. */
    int greeting;
    int zero_turns;
} ha_loop_t;

struct http_api {
    http_api_config_t cfg;
    ha_loop_t loops[HTTP_API_MAX_LOOPS];
    size_t n_loops;
    int port;
    pthread_mutex_t mu; /* guards the list; taken before any hc->mu */
    hconn_t *head;
    size_t n_active;
    uint32_t next_id; /* guarded by mu */
    atomic_bool stopping;
    http_watch_t *watch; /* hang-ups of clients whose request waits */
};

struct hconn {
    atomic_int refs;
    http_api_t *api;
    ha_loop_t *loop; /* whose thread runs it and its upstream calls */
    struct MHD_Connection *conn;
    hconn_t *prev, *next; /* in api's list; guarded by api->mu */
    uint32_t id;          /* its connection's id, for http_watch reports */
    ha_phase_t phase;     /* MHD thread only */
    ha_endpoint_t ep;
    bool too_large;
    table_t *table;         /* the table the caller was authenticated against; NULL: probe */
    const table_key_t *key; /* in `table`; NULL: anonymous */
    buf_t body;
    arena_t *arena;
    bool stream, include_usage;
    unsigned enc_flags;      /* HTTP_CHAT_LEGACY_FUNCTIONS, HTTP_CHAT_TEXT_COMPLETION */
    char deployment[256];    /* Azure-style path: /openai/deployments/{deployment}/... */
    char api_key_authz[512]; /* "Bearer <api-key header>" for Azure clients */

    pthread_mutex_t mu; /* guards everything below */
    pl_request_t *pl;
    ensemble_t *ens; /* EP_ENSEMBLES instead of pl */
    bool suspended;
    bool ready; /* an answer (or a stream's first event) is there to queue */
    bool done;  /* the pipeline's on_done ran */
    bool dead;  /* MHD completed the request */
    int status; /* HTTP status of the answer */
    int retry_after_s;
    buf_t out; /* the answer, or a stream's bytes not yet read */
    char provider[128];
    char reason[512];
    size_t attempts;
    double cost_usd;
    bool has_route;    /* provider/reason/attempts/cost are known */
    char warning[512]; /* llmgw-warning: what the serving provider could not take */
    bool cache_hit;    /* the answer came from the response cache */
};

/* --- requests ------------------------------------------------------------ */

static void hconn_unref(hconn_t *hc)
{
    if (atomic_fetch_sub(&hc->refs, 1) != 1)
        return;
    pipeline_release(hc->pl);
    ensemble_release(hc->ens);
    if (hc->table)
        table_unref(hc->table);
    arena_free(hc->arena);
    buf_free(&hc->body);
    buf_free(&hc->out);
    pthread_mutex_destroy(&hc->mu);
    free(hc);
}

static hconn_t *hconn_new(ha_loop_t *loop, struct MHD_Connection *conn)
{
    http_api_t *h = loop->api;
    hconn_t *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return NULL;
    atomic_init(&hc->refs, 1);
    hc->api = h;
    hc->loop = loop;
    hc->conn = conn;
    buf_init(&hc->body, h->cfg.max_body_bytes);
    buf_init(&hc->out, HA_ANSWER_CAP);
    pthread_mutex_init(&hc->mu, NULL);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    hsock_t *hs = ci ? ci->socket_context : NULL;
    if (hs && hs->greeting) { /* its handshake is over */
        hs->greeting = false;
        loop->greeting--;
    }
    pthread_mutex_lock(&h->mu);
    hc->id = hs ? hs->id : ++h->next_id;
    hc->next = h->head;
    if (h->head)
        h->head->prev = hc;
    h->head = hc;
    h->n_active++;
    pthread_mutex_unlock(&h->mu);
    return hc;
}

static void hconn_unlink(hconn_t *hc)
{
    http_api_t *h = hc->api;
    pthread_mutex_lock(&h->mu);
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        h->head = hc->next;
    if (hc->next)
        hc->next->prev = hc->prev;
    h->n_active--;
    pthread_mutex_unlock(&h->mu);
}

/* Called with hc->mu held. */
static void hconn_wake(hconn_t *hc)
{
    if (hc->suspended && !hc->dead) {
        hc->suspended = false;
        MHD_resume_connection(hc->conn);
        /* MHD's epoll fd does not signal a resume: the engine is told. */
        upstream_guest_wake(hc->loop->engine);
    }
}

/* --- responses ------------------------------------------------------------ */

static int ha_header(struct MHD_Response *r, const char *name, const char *value)
{
    return MHD_add_response_header(r, name, value) == MHD_YES ? 0 : -1;
}

/* Header values may not hold control characters. */
static void ha_header_safe(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

/* Queues `body` (taken) with `status`. */
static enum MHD_Result ha_queue(hconn_t *hc, int status, const char *ctype, buf_t *body)
{
    size_t len = body->len;
    char *data = buf_take(body);
    if (!data)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    enum MHD_Result rc = MHD_NO;
    if (ha_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) < 0)
        goto out;
    if (hc->has_route) {
        char n[32], cost[32];
        snprintf(n, sizeof(n), "%zu", hc->attempts);
        snprintf(cost, sizeof(cost), "%.8f", hc->cost_usd);
        if (ha_header(r, "x-llmgw-provider", hc->provider) < 0 ||
            ha_header(r, "x-llmgw-route-reason", hc->reason) < 0 ||
            ha_header(r, "x-llmgw-attempts", n) < 0 || ha_header(r, "x-llmgw-cost-usd", cost) < 0 ||
            (hc->cache_hit && ha_header(r, "x-llmgw-cache", "hit") < 0))
            goto out;
    }
    if (hc->warning[0] && ha_header(r, "llmgw-warning", hc->warning) < 0)
        goto out;
    if (hc->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", hc->retry_after_s);
        if (ha_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra) < 0)
            goto out;
    }
    hc->phase = HC_ANSWERED;
    rc = MHD_queue_response(hc->conn, (unsigned)status, r);
out:
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result ha_queue_json(hconn_t *hc, int status, buf_t *body)
{
    return ha_queue(hc, status, "application/json", body);
}

/* An OpenAI error body; hc->retry_after_s is sent as Retry-After. */
static enum MHD_Result ha_queue_error(hconn_t *hc, const http_error_t *e, const char *message)
{
    buf_t b = BUF_INIT(64 * 1024);
    hc->retry_after_s = e->retry_after_s;
    if (http_chat_encode_error(e, message, &b) < 0) {
        buf_free(&b);
        return MHD_NO;
    }
    return ha_queue_json(hc, e->http_status, &b);
}

static enum MHD_Result ha_queue_simple_error(hconn_t *hc, int status, const char *type,
                                             const char *code, const char *message)
{
    http_error_t e = {.http_status = status, .type = type, .code = code};
    return ha_queue_error(hc, &e, message);
}

/* --- the pipeline's callbacks (engine thread) -------------------------- */

static void ha_set_route(hconn_t *hc, const Llmgw__V1__RouteDecision *d, const char *provider,
                         double cost_usd)
{
    snprintf(hc->provider, sizeof(hc->provider), "%s", provider ? provider : "");
    snprintf(hc->reason, sizeof(hc->reason), "%s", d && d->reason ? d->reason : "");
    ha_header_safe(hc->provider);
    ha_header_safe(hc->reason);
    hc->attempts = d ? d->n_attempts : 0;
    hc->cost_usd = cost_usd;
    hc->cache_hit = d && d->cache_hit;
    hc->has_route = true;
}

/* The serving attempt's warning (pipeline_warning), header-safe. */
static void ha_set_warning(hconn_t *hc, const char *w)
{
    snprintf(hc->warning, sizeof(hc->warning), "%s", w ? w : "");
    ha_header_safe(hc->warning);
}

/* An extension's request hook refused with its own HTTP status. */
static void ha_hook_status(http_error_t *e, int status)
{
    if (status <= 0)
        return;
    e->http_status = status;
    e->type = status == 401   ? "authentication_error"
              : status == 403 ? "permission_error"
              : status == 429 ? "rate_limit_error"
              : status >= 500 ? "server_error"
                              : "invalid_request_error";
    e->code = "extension_refused";
    e->param[0] = '\0';
    e->retry_after_s = 0;
}

static void ha_error_answer(hconn_t *hc, const pl_result_t *res)
{
    http_error_t e;
    http_error_from_status(res->status, res->message, res, &e);
    ha_hook_status(&e, res->http_status);
    buf_reset(&hc->out);
    hc->retry_after_s = e.retry_after_s;
    hc->status = e.http_status;
    if (http_chat_encode_error(&e, res->message, &hc->out) < 0)
        hc->status = 500;
}

/* A stream that broke after its first chunk: OpenAI's in-band error event. */
static void ha_stream_error_event(hconn_t *hc, const pl_result_t *res)
{
    http_error_t e;
    http_error_from_status(res->status, res->message, res, &e);
    buf_t tmp = BUF_INIT(64 * 1024);
    if (http_chat_encode_error(&e, res->message, &tmp) == 0)
        buf_printf(&hc->out, "data: %s\n\n", buf_cstr(&tmp));
    buf_free(&tmp);
}

static void ha_on_done(void *ud, const pl_result_t *res)
{
    hconn_t *hc = ud;
    pthread_mutex_lock(&hc->mu);
    if (hc->dead)
        goto out;
    if (!hc->stream) {
        buf_reset(&hc->out);
        hc->status = 200;
        if (res->status != GRPC_STATUS_OK) {
            ha_error_answer(hc, res);
        } else if (res->response) {
            ha_set_route(hc, res->response->route, res->response->provider,
                         res->response->cost_usd);
            ha_set_warning(hc, res->warning);
            if (http_chat_encode_response_as(res->response, hc->enc_flags, &hc->out) < 0)
                hc->status = 500;
        } else {
            ha_set_route(hc, res->raw_route, res->raw_route ? res->raw_route->provider : "",
                         res->raw_cost_usd);
            if (buf_append(&hc->out, res->raw_body, res->raw_len) < 0)
                hc->status = 500;
        }
        hc->ready = true;
    } else if (res->status != GRPC_STATUS_OK) {
        if (!hc->ready) {
            ha_error_answer(hc, res);
            hc->ready = true;
        } else {
            ha_stream_error_event(hc, res);
        }
    } else {
        if (!hc->ready) {
            hc->status = 200;
            hc->ready = true;
        }
        const Llmgw__V1__ChatChunk *last = res->last_chunk;
        if (last) {
            ha_set_route(hc, last->route, last->provider, last->cost_usd);
            http_chat_encode_stream_end_as(last, hc->include_usage, hc->enc_flags, &hc->out);
        } else {
            /* A RAW stream: the provider's own usage event went through. */
            ha_set_route(hc, res->raw_route, res->raw_route ? res->raw_route->provider : "",
                         res->raw_cost_usd);
            buf_append_str(&hc->out, "data: [DONE]\n\n");
        }
    }
out:
    hc->done = true;
    hconn_wake(hc);
    pthread_mutex_unlock(&hc->mu);
    hconn_unref(hc); /* the pipeline's reference */
}

static int ha_on_chunk(void *ud, const Llmgw__V1__ChatChunk *chunk)
{
    hconn_t *hc = ud;
    int rc = 0;
    pthread_mutex_lock(&hc->mu);
    if (hc->dead || hc->out.len > HA_STREAM_BUF_CAP ||
        http_chat_encode_chunk_as(chunk, hc->include_usage, hc->enc_flags, &hc->out) < 0) {
        rc = -1;
        goto out;
    }
    if (!hc->ready) {
        hc->ready = true;
        hc->status = 200;
        snprintf(hc->provider, sizeof(hc->provider), "%s", chunk->provider);
        ha_header_safe(hc->provider);
        /* On the engine thread that set it; the headers go out after this. */
        if (hc->pl)
            ha_set_warning(hc, pipeline_warning(hc->pl));
    }
    hconn_wake(hc);
out:
    pthread_mutex_unlock(&hc->mu);
    return rc;
}

/* A RAW stream's event (completions), forwarded as the provider sent it. */
static int ha_on_raw_event(void *ud, const char *provider, const char *data, size_t len)
{
    hconn_t *hc = ud;
    int rc = 0;
    pthread_mutex_lock(&hc->mu);
    if (hc->dead || hc->out.len > HA_STREAM_BUF_CAP || buf_append_str(&hc->out, "data: ") < 0 ||
        buf_append(&hc->out, data, len) < 0 || buf_append_str(&hc->out, "\n\n") < 0) {
        rc = -1;
        goto out;
    }
    if (!hc->ready) {
        hc->ready = true;
        hc->status = 200;
        snprintf(hc->provider, sizeof(hc->provider), "%s", provider);
        ha_header_safe(hc->provider);
    }
    hconn_wake(hc);
out:
    pthread_mutex_unlock(&hc->mu);
    return rc;
}

static const pl_callbacks_t ha_pl_callbacks = {
    .on_chunk = ha_on_chunk,
    .on_raw_event = ha_on_raw_event,
    .on_done = ha_on_done,
};

/* --- streaming responses (MHD thread) ----------------------------------- */

static ssize_t ha_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    hconn_t *hc = cls;
    ssize_t n;
    pthread_mutex_lock(&hc->mu);
    if (hc->out.len) {
        size_t take = hc->out.len < max ? hc->out.len : max;
        memcpy(buf, hc->out.data, take);
        buf_consume(&hc->out, take);
        n = (ssize_t)take;
    } else if (hc->done) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        if (atomic_load(&hc->api->stopping)) {
            n = MHD_CONTENT_READER_END_WITH_ERROR;
        } else {
            hc->suspended = true;
            MHD_suspend_connection(hc->conn);
            n = 0;
        }
    }
    pthread_mutex_unlock(&hc->mu);
    return n;
}

static void ha_stream_free(void *cls)
{
    hconn_unref(cls); /* the response's reference */
}

static enum MHD_Result ha_queue_stream(hconn_t *hc, int status, const char *provider,
                                       bool cache_hit)
{
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HA_READ_BLOCK,
                                                               ha_stream_read, hc, ha_stream_free);
    if (!r)
        return MHD_NO;
    atomic_fetch_add(&hc->refs, 1);
    enum MHD_Result rc = MHD_NO;
    if (ha_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") < 0 ||
        ha_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") < 0 ||
        (provider[0] && ha_header(r, "x-llmgw-provider", provider) < 0) ||
        (hc->warning[0] && ha_header(r, "llmgw-warning", hc->warning) < 0) ||
        (cache_hit && ha_header(r, "x-llmgw-cache", "hit") < 0))
        goto out;
    hc->phase = HC_ANSWERED;
    rc = MHD_queue_response(hc->conn, (unsigned)status, r);
out:
    MHD_destroy_response(r);
    return rc;
}

/* The pipeline's answer is ready (or the daemon is stopping): queue it. */
static enum MHD_Result ha_answer(hconn_t *hc)
{
    pthread_mutex_lock(&hc->mu);
    bool ready = hc->ready;
    int status = hc->status;
    bool stream_ok = hc->stream && status == 200;
    char provider[sizeof(hc->provider)];
    memcpy(provider, hc->provider, sizeof(provider));
    /* A streamed hit was replayed whole inside pipeline_start: its route is
     * known before the headers go out. */
    bool cache_hit = hc->done && hc->cache_hit;
    buf_t body = BUF_INIT(HA_ANSWER_CAP);
    if (ready && !stream_ok) {
        body = hc->out;
        buf_init(&hc->out, HA_ANSWER_CAP);
    }
    pthread_mutex_unlock(&hc->mu);
    if (!ready)
        return ha_queue_simple_error(hc, 503, "service_unavailable", NULL,
                                     "gateway: shutting down");
    if (stream_ok)
        return ha_queue_stream(hc, status, provider, cache_hit);
    return ha_queue_json(hc, status, &body);
}

/* --- hang-ups while waiting ----------------------------------------------- */

/* Watches the client's socket until the connection closes (once per
 * connection). Called with hc->mu held; a socket that cannot be watched is
 * only noticed at the next write, as without the watcher. */
static void ha_watch(hconn_t *hc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(hc->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    hsock_t *hs = ci ? ci->socket_context : NULL;
    if (!hc->api->watch || !hs || hs->watched || hs->fd < 0)
        return;
    if (http_watch_add(hc->api->watch, hs->fd, hs->id) == 0)
        hs->watched = true;
}

/* MHD's connection start and end (MHD thread): the socket context. */
static void ha_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                 enum MHD_ConnectionNotificationCode toe)
{
    ha_loop_t *loop = cls;
    http_api_t *h = loop->api;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        hsock_t *hs = calloc(1, sizeof(*hs));
        if (!hs)
            return; /* its requests are not watched */
        if (h->cfg.tls) {
            hs->greeting = true;
            loop->greeting++;
        }
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        hs->fd = ci ? ci->connect_fd : -1;
        pthread_mutex_lock(&h->mu);
        hs->id = ++h->next_id;
        pthread_mutex_unlock(&h->mu);
        *socket_context = hs;
        return;
    }
    hsock_t *hs = *socket_context;
    if (!hs)
        return;
    /* Still open here (MHD closes it after this call): no other connection
     * can have the same fd in the watcher yet. */
    if (hs->watched)
        http_watch_del(h->watch, hs->fd);
    if (hs->greeting)
        loop->greeting--;
    free(hs);
    *socket_context = NULL;
}

/* The watch thread: the client of request `id` hung up. The request is
 * alive while it is in the list, which api->mu guards. */
static void ha_on_hangup(void *ud, uint32_t id, int fd)
{
    http_api_t *h = ud;
    pl_request_t *pl = NULL;
    pthread_mutex_lock(&h->mu);
    hconn_t *hc = h->head;
    while (hc && hc->id != id)
        hc = hc->next;
    if (hc) {
        pthread_mutex_lock(&hc->mu);
        pl = hc->done ? NULL : hc->pl;
        ensemble_t *ens = hc->done ? NULL : hc->ens;
        pthread_mutex_unlock(&hc->mu);
        if (pl || ens) {
            log_info("http client hung up while waiting; cancelling", "request=%u", id);
            if (pl)
                pipeline_cancel(pl);
            if (ens)
                ensemble_cancel(ens);
        }
    }
    pthread_mutex_unlock(&h->mu);
}

/* --- chat, completions, embeddings --------------------------------------- */

static const char *ha_authorization(struct MHD_Connection *conn)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
}

/* x-llmgw-timeout-ms: the request's deadline (absolute monotonic ms), as a
 * gRPC caller's deadline; INT64_MAX without the header, -1 when malformed. */
static int64_t ha_deadline_ms(struct MHD_Connection *conn)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-llmgw-timeout-ms");
    if (!v)
        return INT64_MAX;
    char *end = NULL;
    errno = 0;
    long long ms = strtoll(v, &end, 10);
    if (errno || end == v || *end || ms < 1 || ms > 3600000)
        return -1;
    return clock_now_ms() + ms;
}

/* Cache-Control: no-cache (or no-store): not answered from the response
 * cache, nor stored in it. */
static bool ha_no_cache(struct MHD_Connection *conn)
{
    const char *v =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CACHE_CONTROL);
    return cache_replay_no_cache(v);
}

/* Compatibility inputs (docs/compatibility.md): the api-version query
 * (checked; forwarded to api-key style providers by the pipeline) and an
 * Azure-style path's deployment, which names the model. 0, or -1 with err. */
static int ha_compat_input(hconn_t *hc, const char **body, size_t *len, const char **api_version,
                           char *err, size_t errlen)
{
    const char *v = MHD_lookup_connection_value(hc->conn, MHD_GET_ARGUMENT_KIND, "api-version");
    if (v) {
        if (!chat_schema_api_version_ok(v)) {
            snprintf(err, errlen, "api-version: expected YYYY-MM-DD or YYYY-MM-DD-preview");
            return -1;
        }
        if (!(*api_version = arena_strdup(hc->arena, v))) {
            snprintf(err, errlen, "gateway: out of memory");
            return -1;
        }
    }
    if (hc->deployment[0])
        return http_chat_with_model(*body, *len, hc->deployment, hc->arena, body, len, err, errlen);
    return 0;
}

/* Whether a provider has the legacy /completions endpoint: not the
 * anthropic wire format, nor a preset that says it has none. */
/* p takes OpenAI's /completions body as it is: its wire format serves that
 * path raw (openai; not anthropic, nor a plugin's format) and the provider
 * has the endpoint. Otherwise the request is bridged to chat. */
static bool ha_has_completions(const table_provider_t *p)
{
    return p->quirks.completions && adapter_serves_raw(adapter_for(p), "/completions");
}

/* A /v1/completions request is bridged to chat (prompt → one user message,
 * the chat answer → text_completion) when any deployment its model may run
 * on lacks the endpoint: every candidate is then treated alike, whichever
 * serves. A model the table does not know is left to the pipeline (404). */
static bool ha_completions_bridged(hconn_t *hc, const char *body, size_t len)
{
    char err[64];
    const char *model = NULL, *rest = NULL;
    bool stream = false;
    if (!hc->table ||
        http_chat_decode_raw(body, len, hc->arena, &stream, &model, &rest, err, sizeof(err)) < 0)
        return false; /* the raw decode reports it */
    const table_route_t *rt = table_find_route(hc->table, model);
    if (rt) {
        for (size_t i = 0; i < rt->n_deployments; i++) {
            const table_provider_t *p = rt->deployments[i].provider;
            if (p && !ha_has_completions(p))
                return true;
        }
        return false;
    }
    const char *slash = strchr(model, '/');
    if (!slash)
        return false;
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(slash - model), model);
    const table_provider_t *p = table_find_provider(hc->table, name);
    return p && !ha_has_completions(p);
}

/* The request's headers for extensions' request hooks: "name: value"
 * lines, names lower-case, in the arena (authorization left out). */
typedef struct {
    arena_t *a;
    const char **lines;
    size_t n, cap;
} ha_headers_t;

static enum MHD_Result ha_header_line(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    ha_headers_t *h = cls;
    if (h->n >= h->cap || strcasecmp(key, "authorization") == 0)
        return MHD_YES;
    size_t kl = strlen(key), vl = value ? strlen(value) : 0;
    char *line = arena_alloc(h->a, kl + vl + 3);
    if (!line)
        return MHD_NO;
    for (size_t i = 0; i < kl; i++)
        line[i] = (char)tolower((unsigned char)key[i]);
    memcpy(line + kl, ": ", 2);
    memcpy(line + kl + 2, value ? value : "", vl);
    line[kl + 2 + vl] = '\0';
    h->lines[h->n++] = line;
    return MHD_YES;
}

static void ha_hook_headers(hconn_t *hc, pl_params_t *params)
{
    ha_headers_t h = {.a = hc->arena, .cap = 64};
    if (!(h.lines = arena_alloc(hc->arena, sizeof(char *) * h.cap)))
        return;
    MHD_get_connection_values(hc->conn, MHD_HEADER_KIND, ha_header_line, &h);
    params->headers = h.lines;
    params->n_headers = h.n;
}

static enum MHD_Result ha_start(hconn_t *hc)
{
    http_api_t *h = hc->api;
    char err[512];
    http_chat_request_t cr = {0};
    Llmgw__V1__ChatRequest raw_req = LLMGW__V1__CHAT_REQUEST__INIT;
    pl_params_t params = {
        .authorization = ha_authorization(hc->conn),
        .deadline_ms = ha_deadline_ms(hc->conn),
        .no_cache = ha_no_cache(hc->conn),
        .door = "http",
    };
    int refused_http_status = 0;
    params.refused_http_status = &refused_http_status;
    if (params.deadline_ms < 0) {
        http_error_t e = {.http_status = 400, .type = "invalid_request_error"};
        snprintf(e.param, sizeof(e.param), "x-llmgw-timeout-ms");
        return ha_queue_error(hc, &e, "x-llmgw-timeout-ms: expected an integer from 1 to 3600000");
    }
    hc->arena = arena_new(HA_ARENA_LIMIT);
    if (!hc->arena)
        return ha_queue_simple_error(hc, 503, "service_unavailable", NULL,
                                     "gateway: out of memory");
    const char *body = hc->body.data ? hc->body.data : "";
    size_t body_len = hc->body.len;
    const char *api_version = NULL;
    if (ha_compat_input(hc, &body, &body_len, &api_version, err, sizeof(err)) < 0)
        goto bad_request;
    bool bridge = hc->ep == EP_COMPLETIONS && ha_completions_bridged(hc, body, body_len);
    if (hc->ep == EP_CHAT || bridge) {
        if ((bridge ? http_chat_decode_completion(body, body_len, hc->arena, &cr, err, sizeof(err))
                    : http_chat_decode(body, body_len, hc->arena, &cr, err, sizeof(err))) < 0)
            goto bad_request;
        hc->stream = cr.stream;
        hc->include_usage = cr.include_usage;
        hc->enc_flags = (cr.legacy_functions ? HTTP_CHAT_LEGACY_FUNCTIONS : 0u) |
                        (bridge ? HTTP_CHAT_TEXT_COMPLETION : 0u);
        if (api_version)
            cr.req->api_version = (char *)api_version;
        params.req = cr.req;
        params.stream = cr.stream;
    } else {
        const char *model = NULL, *rest = NULL;
        bool stream = false;
        if (http_chat_decode_raw(body, body_len, hc->arena,
                                 hc->ep == EP_COMPLETIONS ? &stream : NULL, &model, &rest, err,
                                 sizeof(err)) < 0)
            goto bad_request;
        if (api_version)
            raw_req.api_version = (char *)api_version;
        hc->stream = stream;
        params.stream = stream;
        raw_req.model = (char *)model;
        params.req = &raw_req;
        params.kind = PL_KIND_RAW;
        params.raw_path = hc->ep == EP_COMPLETIONS ? "/completions" : "/embeddings";
        params.raw_json = rest;
    }
    params.arena = hc->arena;
    params.engine = hc->loop->engine;
    params.table = hc->table;
    params.key = hc->key;
    if (ext_hooks_have_request()) /* every kind: completions and embeddings are hooked too */
        ha_hook_headers(hc, &params);
    buf_free(&hc->body);

    grpc_status_code status = GRPC_STATUS_OK;
    atomic_fetch_add(&hc->refs, 1); /* the pipeline's reference */
    hc->phase = HC_WAIT;
    pl_request_t *pl =
        pipeline_start(h->cfg.pipeline, &params, &ha_pl_callbacks, hc, &status, err, sizeof(err));
    if (!pl) {
        hconn_unref(hc);
        http_error_t e;
        http_error_from_status(status, err, NULL, &e);
        ha_hook_status(&e, refused_http_status);
        return ha_queue_error(hc, &e, err);
    }
    pthread_mutex_lock(&hc->mu);
    hc->pl = pl;
    if (hc->ready) {
        pthread_mutex_unlock(&hc->mu);
        return ha_answer(hc);
    }
    ha_watch(hc);
    hc->suspended = true;
    MHD_suspend_connection(hc->conn);
    pthread_mutex_unlock(&hc->mu);
    return MHD_YES;
bad_request : {
    http_error_t e;
    http_error_from_status(GRPC_STATUS_INVALID_ARGUMENT, err, NULL, &e);
    return ha_queue_error(hc, &e, err);
}
}

/* --- ensembles ------------------------------------------------------------ */

/* The ensemble's on_done: on any thread (an engine's, or the MHD thread
 * inside ensemble_start). The answer is encoded here, while the response
 * (which may point into the ensemble) is valid. */
static void ha_ens_on_done(void *ud, const ensemble_result_t *res)
{
    hconn_t *hc = ud;
    pthread_mutex_lock(&hc->mu);
    if (hc->dead)
        goto out;
    buf_reset(&hc->out);
    hc->status = 200;
    if (res->status != GRPC_STATUS_OK) {
        http_error_t e;
        http_error_from_status(res->status, res->message, NULL, &e);
        hc->status = e.http_status;
        if (http_chat_encode_error(&e, res->message, &hc->out) < 0)
            hc->status = 500;
    } else {
        const Llmgw__V1__ChatResponse *c = res->response->chosen;
        if (c)
            ha_set_route(hc, c->route, c->provider,
                         res->response->analysis ? res->response->analysis->total_cost_usd : 0);
        if (http_ensemble_encode(res->response, &hc->out) < 0) {
            buf_reset(&hc->out);
            hc->status = 500;
            http_error_t e = {.http_status = 500, .type = "server_error"};
            if (http_chat_encode_error(&e, "gateway: the answer could not be encoded", &hc->out) <
                0)
                buf_reset(&hc->out);
        }
    }
    hc->ready = true;
out:
    hc->done = true;
    hconn_wake(hc);
    pthread_mutex_unlock(&hc->mu);
    hconn_unref(hc); /* the ensemble's reference */
}

static enum MHD_Result ha_start_ensemble(hconn_t *hc)
{
    http_api_t *h = hc->api;
    char err[512];
    Llmgw__V1__EnsembleRequest *req = NULL;
    if (!h->cfg.ensembles)
        return ha_queue_simple_error(hc, 404, "invalid_request_error", "unknown_url",
                                     "path: ensembles are not served here");
    int64_t deadline_ms = ha_deadline_ms(hc->conn);
    if (deadline_ms < 0) {
        http_error_t e = {.http_status = 400, .type = "invalid_request_error"};
        snprintf(e.param, sizeof(e.param), "x-llmgw-timeout-ms");
        return ha_queue_error(hc, &e, "x-llmgw-timeout-ms: expected an integer from 1 to 3600000");
    }
    hc->arena = arena_new(HA_ARENA_LIMIT);
    if (!hc->arena)
        return ha_queue_simple_error(hc, 503, "service_unavailable", NULL,
                                     "gateway: out of memory");
    if (http_ensemble_decode(hc->body.data ? hc->body.data : "", hc->body.len, hc->arena, &req, err,
                             sizeof(err)) < 0) {
        http_error_t e;
        http_error_from_status(GRPC_STATUS_INVALID_ARGUMENT, err, NULL, &e);
        return ha_queue_error(hc, &e, err);
    }
    buf_free(&hc->body);
    int64_t retry_ms = 0;
    ensemble_params_t params = {
        .req = req,
        .authorization = ha_authorization(hc->conn),
        .deadline_ms = deadline_ms,
        .arena = hc->arena,
        .table = hc->table,
        .key = hc->key,
        .retry_after_ms = &retry_ms,
    };
    grpc_status_code status = GRPC_STATUS_OK;
    atomic_fetch_add(&hc->refs, 1); /* the ensemble's reference */
    hc->phase = HC_WAIT;
    ensemble_t *e =
        ensemble_start(h->cfg.ensembles, &params, ha_ens_on_done, hc, &status, err, sizeof(err));
    if (!e) {
        hconn_unref(hc);
        http_error_t he;
        http_error_from_status(status, err, NULL, &he);
        if (status == GRPC_STATUS_RESOURCE_EXHAUSTED && retry_ms > 0) {
            /* The key's or team's requests-per-minute limit: back off. */
            he.http_status = 429;
            he.type = "rate_limit_error";
            he.code = "rate_limit_exceeded";
            he.retry_after_s = (int)((retry_ms + 999) / 1000);
        }
        return ha_queue_error(hc, &he, err);
    }
    pthread_mutex_lock(&hc->mu);
    hc->ens = e;
    if (hc->ready) {
        pthread_mutex_unlock(&hc->mu);
        return ha_answer(hc);
    }
    ha_watch(hc);
    hc->suspended = true;
    MHD_suspend_connection(hc->conn);
    pthread_mutex_unlock(&hc->mu);
    return MHD_YES;
}

/* --- read-only endpoints -------------------------------------------------- */

static int ha_window_s(struct MHD_Connection *conn)
{
    const char *w = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "window");
    char *end = NULL;
    long v = w ? strtol(w, &end, 10) : 3600;
    if (w && (end == w || *end))
        return -1;
    return v >= 1 && v <= USAGE_STATS_WINDOW_MAX_S ? (int)v : -1;
}

static enum MHD_Result ha_read_only(hconn_t *hc, const char *url)
{
    http_api_t *h = hc->api;
    table_t *t = hc->table ? table_ref(hc->table) : table_slot_get(h->cfg.tables);
    http_gw_view_t v = {.table = t,
                        .stats = h->cfg.stats,
                        .metrics = h->cfg.metrics,
                        .engines = h->cfg.engines,
                        .n_engines = h->cfg.n_engines,
                        .leases = h->cfg.leases,
                        .usage_log = h->cfg.usage_log,
                        .cache = h->cfg.cache};
    buf_t out = BUF_INIT(HA_ANSWER_CAP);
    enum MHD_Result rc;
    int status = 200;
    char err[256];

    if (hc->ep == EP_HEALTHZ) {
        buf_append_str(&out, "{\"status\":\"ok\"}");
    } else if (hc->ep == EP_READYZ) {
        status = http_gw_ready(&v, &out);
    } else if (hc->ep == EP_METRICS) {
        status = prom_write(&v, &out) < 0 ? -1 : 200;
        if (status == 200) {
            rc = ha_queue(hc, status, PROM_CONTENT_TYPE, &out);
            goto done;
        }
    } else {
        int window_s = 0;
        switch (hc->ep) {
        case EP_MODELS:
            status = http_gw_models(&v, &out);
            break;
        case EP_MODEL:
            status = http_gw_model(&v, url + strlen("/v1/models/"), &out);
            break;
        case EP_PROVIDERS:
            status = http_gw_providers(&v, &out);
            break;
        case EP_ROUTING:
            status = http_gw_routing(&v, &out);
            break;
        case EP_PERFORMANCE:
            status = http_gw_performance(&v, &out);
            break;
        case EP_ANALYTICS:
            window_s = ha_window_s(hc->conn);
            if (window_s < 0) {
                snprintf(err, sizeof(err), "window: expected an integer number of seconds 1..%d",
                         USAGE_STATS_WINDOW_MAX_S);
                http_error_t e = {.http_status = 400, .type = "invalid_request_error"};
                snprintf(e.param, sizeof(e.param), "window");
                rc = ha_queue_error(hc, &e, err);
                goto done;
            }
            status = http_gw_analytics(&v, window_s, &out);
            break;
        case EP_CAPABILITIES:
            status = http_gw_capabilities(&v, &out);
            break;
        default:
            status = http_gw_extensions(&v, &out);
            break;
        }
    }
    if (status < 0) {
        rc = ha_queue_simple_error(hc, 503, "service_unavailable", NULL, "gateway: out of memory");
        goto done;
    }
    rc = ha_queue_json(hc, status, &out);
done:
    buf_free(&out);
    table_unref(t);
    return rc;
}

/* --- routing -------------------------------------------------------------- */

/* Azure OpenAI's paths, /openai/deployments/{deployment}/chat/completions
 * (and /completions, /embeddings): the endpoint, and the deployment (the
 * model: a route, or provider%2Fmodel, which MHD hands over decoded) into
 * dep when given. */
static bool ha_azure_path(const char *url, char *dep, size_t n, ha_endpoint_t *ep)
{
    static const char prefix[] = "/openai/deployments/";
    static const struct {
        const char *tail;
        ha_endpoint_t ep;
    } tails[] = {{"/chat/completions", EP_CHAT},
                 {"/completions", EP_COMPLETIONS},
                 {"/embeddings", EP_EMBEDDINGS}};
    size_t len = strlen(url), p = sizeof(prefix) - 1;
    if (strncmp(url, prefix, p) != 0)
        return false;
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        size_t t = strlen(tails[i].tail);
        if (len <= p + t || strcmp(url + len - t, tails[i].tail) != 0 || len - t - p >= 256)
            continue;
        *ep = tails[i].ep;
        if (dep)
            snprintf(dep, n, "%.*s", (int)(len - t - p), url + p);
        return true;
    }
    return false;
}

static ha_endpoint_t ha_route(const char *method, const char *url, bool *method_ok)
{
    static const struct {
        const char *path;
        bool post;
        ha_endpoint_t ep;
    } routes[] = {
        {"/v1/chat/completions", true, EP_CHAT},  {"/v1/completions", true, EP_COMPLETIONS},
        {"/v1/embeddings", true, EP_EMBEDDINGS},  {"/v1/ensembles", true, EP_ENSEMBLES},
        {"/v1/models", false, EP_MODELS},         {"/v1/providers", false, EP_PROVIDERS},
        {"/v1/routing", false, EP_ROUTING},       {"/v1/performance", false, EP_PERFORMANCE},
        {"/v1/analytics", false, EP_ANALYTICS},   {"/v1/capabilities", false, EP_CAPABILITIES},
        {"/v1/extensions", false, EP_EXTENSIONS}, {"/metrics", false, EP_METRICS},
        {"/healthz", false, EP_HEALTHZ},          {"/readyz", false, EP_READYZ},
    };
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, "HEAD") == 0;
    ha_endpoint_t ep = EP_NONE;
    bool want_post = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!strcmp(url, routes[i].path)) {
            ep = routes[i].ep;
            want_post = routes[i].post;
            break;
        }
    }
    if (ep == EP_NONE && !strncmp(url, "/v1/models/", 11) && url[11]) {
        ep = EP_MODEL;
        want_post = false;
    }
    if (ep == EP_NONE && ha_azure_path(url, NULL, 0, &ep))
        want_post = true;
    *method_ok = ep != EP_NONE && (want_post ? post : get);
    return ep;
}

/* The scope an endpoint needs; 0: none (probes, unknown paths). */
static unsigned ha_scope(ha_endpoint_t ep)
{
    switch (ep) {
    case EP_CHAT:
    case EP_COMPLETIONS:
    case EP_EMBEDDINGS:
        return TABLE_SCOPE_CHAT;
    case EP_ENSEMBLES:
        return TABLE_SCOPE_ENSEMBLES;
    case EP_MODELS:
    case EP_MODEL:
    case EP_CAPABILITIES:
    case EP_EXTENSIONS:
        return TABLE_SCOPE_MODELS;
    case EP_PROVIDERS:
    case EP_ROUTING:
    case EP_PERFORMANCE:
    case EP_ANALYTICS:
        return TABLE_SCOPE_ROUTING;
    default:
        return 0;
    }
}

/* mTLS: with a client CA, the connection's certificate before anything
 * else, probes included (they are on the same listener; a client that
 * cannot present one has no business there). 0, or -1 with 401 queued. */
static int ha_client_certificate(hconn_t *hc, enum MHD_Result *rc)
{
    const tls_files_t *tls = hc->api->cfg.tls;
    if (!tls || !tls->ca_pem)
        return 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(hc->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    hsock_t *hs = ci ? ci->socket_context : NULL;
    if (hs && hs->client_ok)
        return 0;
    char msg[512];
    tls_http_client_t v = tls_http_client_verify(hc->conn, "--tls-client-ca", msg, sizeof(msg));
    if (v == TLS_HTTP_CLIENT_OK) {
        if (hs)
            hs->client_ok = true;
        return 0;
    }
    log_info("http client certificate refused", "request=%u reason=\"%s\"", hc->id, msg);
    *rc = ha_queue_simple_error(hc, 401, "invalid_request_error",
                                v == TLS_HTTP_CLIENT_NONE ? "client_certificate_required"
                                                          : "invalid_client_certificate",
                                msg);
    return -1;
}

/* Authentication before anything else (the body is not read, not even its
 * size checked): 0 with hc->table / hc->key set, or -1 with the refusal
 * queued. Probes (/healthz, /readyz, /metrics) are open; an unknown path
 * needs a valid key too, so an unauthenticated caller learns nothing but 401. */
static int ha_authenticate(hconn_t *hc, const char *url, const char *method, enum MHD_Result *rc)
{
    bool method_ok = false;
    ha_endpoint_t ep = ha_route(method, url, &method_ok);
    if (ep == EP_METRICS || ep == EP_HEALTHZ || ep == EP_READYZ)
        return 0;
    char err[256];
    unsigned scope = ha_scope(ep);
    hc->table = table_slot_get(hc->api->cfg.tables);
    const char *authz = ha_authorization(hc->conn);
    if (!authz) {
        /* Azure OpenAI clients send the key as `api-key: <key>`. */
        const char *k = MHD_lookup_connection_value(hc->conn, MHD_HEADER_KIND, "api-key");
        if (k && strlen(k) + 8 < sizeof(hc->api_key_authz)) {
            snprintf(hc->api_key_authz, sizeof(hc->api_key_authz), "Bearer %s", k);
            authz = hc->api_key_authz;
        }
    }
    grpc_status_code st = scope
                              ? auth_authorize(hc->table, authz, scope, &hc->key, err, sizeof(err))
                              : (auth_check(hc->table, authz, &hc->key, err, sizeof(err)) < 0
                                     ? GRPC_STATUS_UNAUTHENTICATED
                                     : GRPC_STATUS_OK);
    if (st == GRPC_STATUS_OK)
        return 0;
    http_error_t e;
    http_error_from_status(st, err, NULL, &e);
    *rc = ha_queue_error(hc, &e, err);
    return -1;
}

static enum MHD_Result ha_dispatch(hconn_t *hc, const char *url, const char *method)
{
    bool method_ok = false;
    hc->ep = ha_route(method, url, &method_ok);
    if (hc->ep == EP_NONE) {
        char msg[300];
        snprintf(msg, sizeof(msg), "path: no endpoint %.200s", url);
        return ha_queue_simple_error(hc, 404, "invalid_request_error", "unknown_url", msg);
    }
    if (!method_ok)
        return ha_queue_simple_error(hc, 405, "invalid_request_error", "method_not_allowed",
                                     "method: not allowed on this path");
    if (hc->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "body: larger than the limit of %zu bytes",
                 hc->api->cfg.max_body_bytes);
        return ha_queue_simple_error(hc, 413, "invalid_request_error", "request_too_large", msg);
    }
    ha_endpoint_t azure_ep;
    (void)ha_azure_path(url, hc->deployment, sizeof(hc->deployment), &azure_ep);
    if (hc->ep == EP_CHAT || hc->ep == EP_COMPLETIONS || hc->ep == EP_EMBEDDINGS)
        return ha_start(hc);
    if (hc->ep == EP_ENSEMBLES)
        return ha_start_ensemble(hc);
    return ha_read_only(hc, url);
}

static enum MHD_Result ha_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ha_loop_t *loop = cls;
    http_api_t *h = loop->api;
    hconn_t *hc = *con_cls;
    if (!hc) {
        hc = hconn_new(loop, conn);
        if (!hc)
            return MHD_NO;
        *con_cls = hc;
        enum MHD_Result rc;
        if (ha_client_certificate(hc, &rc) < 0 || ha_authenticate(hc, url, method, &rc) < 0)
            return rc;
        /* A declared length over the cap is refused before reading the body. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->cfg.max_body_bytes) {
            hc->too_large = true;
            return ha_dispatch(hc, url, method);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!hc->too_large && buf_append(&hc->body, upload_data, *upload_data_size) < 0) {
            hc->too_large = true;
            buf_free(&hc->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (hc->phase) {
    case HC_NEW:
        return ha_dispatch(hc, url, method);
    case HC_WAIT:
        return ha_answer(hc);
    default:
        return MHD_YES;
    }
}

static void ha_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    hconn_t *hc = *con_cls;
    if (!hc)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&hc->mu);
    pl_request_t *pl = hc->done ? NULL : hc->pl;
    ensemble_t *ens = hc->done ? NULL : hc->ens;
    pthread_mutex_unlock(&hc->mu);
    /* Cancel before marking the request dead: a chunk refused because the
     * request is dead then ends it as cancelled, not as a slow reader. */
    if (pl || ens) {
        log_info("http client went away; cancelling", "termination=%d", (int)toe);
        if (pl)
            pipeline_cancel(pl);
        if (ens)
            ensemble_cancel(ens);
    }
    pthread_mutex_lock(&hc->mu);
    hc->dead = true;
    pthread_mutex_unlock(&hc->mu);
    hconn_unlink(hc);
    hconn_unref(hc); /* MHD's reference */
}

static void ha_logger(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_debug("libmicrohttpd", "detail=\"%s\"", line);
}

/* --- start and stop ------------------------------------------------------- */

/* Zero-timeout turns in a row, while an HTTPS handshake is pending, after
 * which ha_run waits HA_TLS_SPIN_WAIT_MS between turns. 64 turns move 1 MiB
 * of 16 KiB TLS records at full speed. */
#define HA_TLS_SPIN_TURNS 64
#define HA_TLS_SPIN_WAIT_MS 1

/* The engine thread's turn at its daemon: accepts, reads, handlers, writes
 * and timeouts, without blocking. Returns when MHD wants its next turn: 0
 * while a connection can go on writing (MHD's own ready list, which its
 * epoll fd does not signal), else its nearest connection timeout.
 *
 * HTTPS: libmicrohttpd 0.9.75 keeps a connection whose TLS handshake waits
 * for the client on that ready list (the handshake's EAGAIN does not clear
 * its read-ready mark), so it asks for 0 until the client's next flight
 * arrives: measured, one silent TCP connection to the TLS port made this
 * thread spin (recvfrom EAGAIN, epoll_wait 0) at 30-50% of a core until the
 * idle timeout, and a handshake per request cost 3 ms of CPU. While any
 * connection of this loop has not sent its first request, a long run of
 * zero timeouts becomes a wait of HA_TLS_SPIN_WAIT_MS: the client's bytes
 * still wake the loop at once (they signal MHD's epoll fd), and only work
 * MHD holds without a socket event (a long answer's next records) goes at
 * one turn per millisecond meanwhile. */
static int ha_run(void *ud)
{
    ha_loop_t *loop = ud;
    if (MHD_run(loop->daemon) != MHD_YES)
        log_warn("http daemon run failed", "%s", "");
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(loop->daemon, &ms) != MHD_YES)
        return -1;
    if (ms != 0) {
        loop->zero_turns = 0;
    } else if (loop->greeting > 0 && ++loop->zero_turns > HA_TLS_SPIN_TURNS) {
        return HA_TLS_SPIN_WAIT_MS;
    }
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Starts loop i's daemon without a thread of its own: its engine's thread
 * runs it beside the curl sockets (ha_run), so a request, its upstream
 * call and its answer never change threads. With several loops each binds
 * its own socket to the same address with SO_REUSEPORT, so the kernel
 * spreads connections over the loops (on one shared socket, the first loop
 * to wake accepted them all: measured 64 of 64 wrk connections on one). */
static int ha_loop_start(http_api_t *h, size_t i, struct sockaddr_storage *ss, bool v6, char *err,
                         size_t errlen)
{
    ha_loop_t *loop = &h->loops[i];
    loop->api = h;
    loop->engine = h->cfg.engines[i];
    loop->quiesced_fd = MHD_INVALID_SOCKET;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO | MHD_USE_ERROR_LOG |
                     (v6 ? MHD_USE_IPv6 : 0) | tls_http_flags(h->cfg.tls);
    struct MHD_OptionItem tls[TLS_HTTP_N_OPTIONS];
    if (tls_http_options(h->cfg.tls, true, tls, err, errlen) < 0)
        return -1;
    if (i > 0) {
        /* Port 0 asked for any port: the others join the one loop 0 got. */
        uint16_t port = htons((uint16_t)h->port);
        if (v6)
            ((struct sockaddr_in6 *)ss)->sin6_port = port;
        else
            ((struct sockaddr_in *)ss)->sin_port = port;
    }
    struct MHD_OptionItem where[] = {
        {MHD_OPTION_SOCK_ADDR, 0, (void *)ss},
        {h->n_loops > 1 ? MHD_OPTION_LISTENING_ADDRESS_REUSE : MHD_OPTION_END, 1, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    errno = 0;
    loop->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, ha_handler, loop, MHD_OPTION_EXTERNAL_LOGGER, ha_logger, h,
        MHD_OPTION_ARRAY, where, MHD_OPTION_ARRAY, tls, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)h->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(HA_CONNECTION_LIMIT / h->n_loops), MHD_OPTION_NOTIFY_COMPLETED, ha_completed,
        loop, MHD_OPTION_NOTIFY_CONNECTION, ha_notify_connection, loop, MHD_OPTION_END);
    if (!loop->daemon) {
        snprintf(err, errlen, "http listen: cannot serve on %s: %s", h->cfg.listen,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
        return -1;
    }
    const union MHD_DaemonInfo *ei = MHD_get_daemon_info(loop->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    upstream_guest_t guest = {.fd = ei ? ei->epoll_fd : -1, .run = ha_run, .ud = loop};
    if (upstream_set_guest(loop->engine, &guest) < 0) {
        snprintf(err, errlen, "http: upstream engine %zu refused to run the HTTP daemon", i);
        return -1;
    }
    loop->guest_set = true;
    return 0;
}

/* Engines first let go of their daemons (MHD is not to be run from two
 * threads), then the daemons stop; MHD_stop_daemon processes pending
 * resumes itself. */
static void ha_loops_stop(http_api_t *h)
{
    for (size_t i = 0; i < h->n_loops; i++) {
        if (h->loops[i].guest_set)
            (void)upstream_set_guest(h->loops[i].engine, NULL);
        h->loops[i].guest_set = false;
    }
    for (size_t i = 0; i < h->n_loops; i++) {
        ha_loop_t *loop = &h->loops[i];
        if (loop->daemon)
            MHD_stop_daemon(loop->daemon);
        if (loop->quiesced_fd != MHD_INVALID_SOCKET)
            close(loop->quiesced_fd);
        loop->daemon = NULL;
        loop->quiesced_fd = MHD_INVALID_SOCKET;
    }
}

/* SO_REUSEPORT would let the loops join a listener that is already there
 * (another data plane of the same user, sharing its connections with it)
 * instead of failing: a plain bind first tells. A fixed port only; port 0
 * gets a fresh one. 0, or -1 with err. */
static int ha_address_free(const struct sockaddr_storage *ss, bool v6, const char *listen,
                           char *err, size_t errlen)
{
    in_port_t port = v6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                        : ((const struct sockaddr_in *)ss)->sin_port;
    if (port == 0)
        return 0;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "http listen: socket: %s", strerror(errno));
        return -1;
    }
    int one = 1; /* as MHD binds: a TIME_WAIT leftover is no listener */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int rc = bind(fd, (const struct sockaddr *)ss, len);
    int bind_errno = errno;
    close(fd);
    if (rc < 0) {
        snprintf(err, errlen, "http listen: cannot serve on %s: %s", listen, strerror(bind_errno));
        return -1;
    }
    return 0;
}

http_api_t *http_api_start(const http_api_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->engines || cfg->n_engines < 1 || cfg->n_engines > HTTP_API_MAX_LOOPS) {
        snprintf(err, errlen, "http: expected 1 to %d upstream engines to run on",
                 HTTP_API_MAX_LOOPS);
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_engines; i++) {
        if (!cfg->engines[i]) {
            snprintf(err, errlen, "http: upstream engine %zu is missing", i);
            return NULL;
        }
    }
    struct sockaddr_storage ss;
    if (cli_parse_listen("http listen", cfg->listen, &ss, err, errlen) < 0)
        return NULL;
    bool v6 = ss.ss_family == AF_INET6;
    if (cfg->n_engines > 1 && ha_address_free(&ss, v6, cfg->listen, err, errlen) < 0)
        return NULL;
    http_api_t *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    if (!h->cfg.max_body_bytes)
        h->cfg.max_body_bytes = HA_DEFAULT_BODY_CAP;
    if (h->cfg.idle_timeout_s < 1)
        h->cfg.idle_timeout_s = 30;
    h->n_loops = cfg->n_engines;
    atomic_init(&h->stopping, false);
    pthread_mutex_init(&h->mu, NULL);
    h->watch = http_watch_new(ha_on_hangup, h);
    if (!h->watch) {
        snprintf(err, errlen, "http: cannot start the hang-up watcher");
        pthread_mutex_destroy(&h->mu);
        free(h);
        return NULL;
    }
    for (size_t i = 0; i < h->n_loops; i++) {
        if (ha_loop_start(h, i, &ss, v6, err, errlen) < 0)
            goto fail;
        if (i == 0) {
            const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(h->loops[0].daemon, MHD_DAEMON_INFO_BIND_PORT);
            h->port = info ? info->port : 0;
        }
    }
    return h;

fail:
    ha_loops_stop(h);
    http_watch_free(h->watch);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return NULL;
}

int http_api_port(const http_api_t *h)
{
    return h->port;
}

void http_api_quiesce(http_api_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_loops; i++) {
        ha_loop_t *loop = &h->loops[i];
        if (loop->quiesced_fd == MHD_INVALID_SOCKET)
            loop->quiesced_fd = MHD_quiesce_daemon(loop->daemon);
    }
}

static size_t ha_active(http_api_t *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->n_active;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static void ha_wait_idle(http_api_t *h, int ms)
{
    int64_t until = clock_now_ms() + ms;
    while (ha_active(h) > 0 && clock_now_ms() < until)
        usleep(10000);
}

void http_api_stop(http_api_t *h, int grace_ms)
{
    if (!h)
        return;
    http_api_quiesce(h);
    ha_wait_idle(h, grace_ms);
    /* Past the grace: cancel what is left; each on_done resumes its request. */
    atomic_store(&h->stopping, true);
    pthread_mutex_lock(&h->mu);
    for (hconn_t *hc = h->head; hc; hc = hc->next) {
        pthread_mutex_lock(&hc->mu);
        pl_request_t *pl = hc->done ? NULL : hc->pl;
        ensemble_t *ens = hc->done ? NULL : hc->ens;
        hconn_wake(hc);
        pthread_mutex_unlock(&hc->mu);
        if (pl)
            pipeline_cancel(pl);
        if (ens)
            ensemble_cancel(ens);
    }
    pthread_mutex_unlock(&h->mu);
    ha_wait_idle(h, 2000);
    /* Nothing may stay suspended into MHD_stop_daemon (it would panic). */
    pthread_mutex_lock(&h->mu);
    for (hconn_t *hc = h->head; hc; hc = hc->next) {
        pthread_mutex_lock(&hc->mu);
        hconn_wake(hc);
        pthread_mutex_unlock(&hc->mu);
    }
    pthread_mutex_unlock(&h->mu);
    ha_loops_stop(h);
    http_watch_free(h->watch);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
