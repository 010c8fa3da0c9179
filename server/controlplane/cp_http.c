/* cp_http: static console files, the JSON bridge over cp_rpc's method table
 * and the event stream. See cp_http.h.
 *
 * A request's state (cp_http_req_t) lives from the first access-handler call
 * to NOTIFY_COMPLETED. The bridge: the connection thread reads the body (at
 * most CP_HTTP_BODY_MAX), then a worker checks the token (cp_auth, a miss
 * reloads the set), parses the JSON into the method's request message, packs
 * it and runs cp_rpc_invoke — the very call path of gRPC, so roles, denial
 * audit rows and bodies are shared — and writes the JSON answer; the
 * connection thread waits on the request's condition variable meanwhile.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include "cp_http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "cp_rpc.h"
#include "grpc_client.h"
#include "log.h"
#include "pbjson.h"
#include "tls_http.h"
#include "utf8.h"

/* Embedded by cmake/embed_bytes.cmake from server/controlplane/console/. */
extern const unsigned char cp_console_index_html[];
extern const size_t cp_console_index_html_len;
extern const unsigned char cp_console_css[];
extern const size_t cp_console_css_len;
extern const unsigned char cp_console_js[];
extern const size_t cp_console_js_len;

#define CP_HTTP_CONNECTION_LIMIT 64
#define CP_HTTP_IDLE_TIMEOUT_S 30
#define CP_HTTP_MAX_TICKETS 64
/* How often a waiting stream looks whether its client hung up. */
#define CP_HTTP_PEER_CHECK_MS 500
#define CP_HTTP_CSP                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

typedef struct {
    char hex[65];
    int64_t expires_ms;
    cp_caller_t caller;
} cp_http_ticket_t;

struct cp_http {
    struct MHD_Daemon *daemon;
    cp_t *cp;
    cp_console_events_t *events;
    pthread_mutex_t mu; /* tickets, streams */
    cp_http_ticket_t tickets[CP_HTTP_MAX_TICKETS];
    int streams;
    atomic_bool stopping;
};

typedef enum { REQ_BRIDGE, REQ_INDEX, REQ_TICKET } cp_http_kind_t;

typedef struct {
    cp_http_t *h;
    buf_t body;
    bool too_big;
    char peer[96];
    /* filled on the connection thread before the job, read by the worker */
    cp_http_kind_t kind;
    const cp_rpc_method_t *m;
    char *token; /* malloc'd copy of the bearer token, wiped when freed */
    /* filled by the worker */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    unsigned status;
    char *answer; /* malloc'd JSON */
} cp_http_req_t;

typedef struct {
    cp_http_t *h;
    uint64_t seq;
    int64_t version;
    bool hello_sent;
    int fd; /* the client's socket, watched (never read) for a hang-up; -1: unknown */
    char caller[72];
} cp_http_stream_t;

unsigned cp_http_status_of(grpc_status_code st)
{
    switch (st) {
    case GRPC_STATUS_OK:
        return 200;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_OUT_OF_RANGE:
        return 400;
    case GRPC_STATUS_UNAUTHENTICATED:
        return 401;
    case GRPC_STATUS_PERMISSION_DENIED:
        return 403;
    case GRPC_STATUS_NOT_FOUND:
        return 404;
    case GRPC_STATUS_ALREADY_EXISTS:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_ABORTED:
        return 409;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return 429;
    case GRPC_STATUS_UNIMPLEMENTED:
        return 501;
    case GRPC_STATUS_UNAVAILABLE:
        return 503;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return 504;
    default:
        return 500;
    }
}

static const char *cp_http_code_name(unsigned status)
{
    switch (status) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 405:
        return "METHOD_NOT_ALLOWED";
    case 409:
        return "FAILED_PRECONDITION";
    case 413:
        return "PAYLOAD_TOO_LARGE";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 501:
        return "UNIMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return "INTERNAL";
    }
}

/* {"error": {...}} as a malloc'd string (NULL when out of memory). A message
 * that is not UTF-8 (a URL's bytes, a cut in a character) goes out with its
 * non-ASCII bytes as '?' rather than not at all. */
static char *cp_http_error_json(unsigned status, const char *code, const char *message)
{
    char ascii[1024];
    const unsigned char *p = (const unsigned char *)message, *end = p + strlen(message);
    size_t n = 0;
    while (p < end && (n = utf8_seq_len(p, end)) > 0)
        p += n;
    if (p < end) {
        size_t i = 0;
        for (; message[i] && i + 1 < sizeof(ascii); i++)
            ascii[i] = (unsigned char)message[i] < 0x80 ? message[i] : '?';
        ascii[i] = '\0';
        message = ascii;
    }
    json_t *j =
        json_pack("{s:{s:s,s:i,s:s}}", "error", "code", code ? code : cp_http_code_name(status),
                  "status", (int)status, "message", message);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static enum MHD_Result cp_http_send(struct MHD_Connection *conn, unsigned status, const char *type,
                                    const void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy", CP_HTTP_CSP);
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result cp_http_send_json(struct MHD_Connection *conn, unsigned status, char *json)
{
    if (!json)
        return MHD_NO;
    return cp_http_send(conn, status, "application/json", json, strlen(json),
                        MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result cp_http_send_error(struct MHD_Connection *conn, unsigned status,
                                          const char *message)
{
    return cp_http_send_json(conn, status, cp_http_error_json(status, NULL, message));
}

/* "ipv4:127.0.0.1:5555", as gRPC names peers on audit rows. */
static void cp_http_peer(struct MHD_Connection *conn, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char host[INET6_ADDRSTRLEN] = "";
    snprintf(out, n, "http");
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(out, n, "ipv4:%s:%u", host, (unsigned)ntohs(a->sin_port));
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(out, n, "ipv6:[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    }
}

/* --- the worker side ------------------------------------------------------------ */

static void cp_http_finish(cp_http_req_t *q, unsigned status, char *answer)
{
    pthread_mutex_lock(&q->mu);
    q->status = status;
    q->answer = answer;
    q->done = true;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* The caller behind q->token: 0, or -1 after finishing q (401 / 503). */
static int cp_http_authenticate(cp_http_req_t *q, cp_caller_t *caller)
{
    cp_auth_ticket_t ticket;
    char details[640];
    cp_auth_result_t ar = cp_auth_check_token(q->h->cp->auth, q->token, caller, &ticket);
    if (ar == CP_AUTH_REFUSED) {
        cp_http_finish(
            q, 401,
            cp_http_error_json(401, NULL, "authorization: expected 'Bearer <admin token>'"));
        return -1;
    }
    if (ar == CP_AUTH_PENDING) {
        int rc = cp_auth_recheck_token(q->h->cp->auth, &ticket, caller, details, sizeof(details));
        if (rc < 0) {
            unsigned status = rc == -2 ? 503 : 401;
            log_warn("console call refused", "peer=%s error=\"%s\"", q->peer, details);
            cp_http_finish(q, status, cp_http_error_json(status, NULL, details));
            return -1;
        }
    }
    return 0;
}

static char *cp_http_index(const cp_caller_t *caller)
{
    json_t *methods = json_array(), *j = NULL;
    if (!methods)
        return NULL;
    const cp_rpc_method_t *m;
    for (size_t i = 0; (m = cp_rpc_at(i)) != NULL; i++) {
        json_t *e =
            json_pack("{s:s,s:s,s:b}", "path", m->path + 1, "access", cp_access_name(m->access),
                      "allowed", cp_access_allows(caller->role, m->access));
        if (!e || json_array_append_new(methods, e) < 0) {
            json_decref(methods);
            return NULL;
        }
    }
    j = json_pack("{s:{s:s,s:s},s:o}", "caller", "name", caller->name, "role", caller->role,
                  "methods", methods);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static char *cp_http_new_ticket(cp_http_t *h, const cp_caller_t *caller)
{
    unsigned char raw[32];
    static const char digits[] = "0123456789abcdef";
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return NULL;
    cp_http_ticket_t t = {.expires_ms = clock_now_ms() + CP_HTTP_TICKET_TTL_MS, .caller = *caller};
    for (size_t i = 0; i < sizeof(raw); i++) {
        t.hex[2 * i] = digits[raw[i] >> 4];
        t.hex[2 * i + 1] = digits[raw[i] & 15];
    }
    t.hex[64] = '\0';
    /* The slot of an expired (or the oldest) ticket. */
    pthread_mutex_lock(&h->mu);
    size_t slot = 0;
    for (size_t i = 0; i < CP_HTTP_MAX_TICKETS; i++) {
        if (h->tickets[i].expires_ms < h->tickets[slot].expires_ms)
            slot = i;
    }
    h->tickets[slot] = t;
    pthread_mutex_unlock(&h->mu);
    json_t *j = json_pack("{s:s,s:i}", "ticket", t.hex, "expires_in_ms", CP_HTTP_TICKET_TTL_MS);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    OPENSSL_cleanse(&t, sizeof(t));
    return s;
}

/* Takes a valid ticket (single use): true with *caller set. */
static bool cp_http_take_ticket(cp_http_t *h, const char *hex, cp_caller_t *caller)
{
    bool ok = false;
    if (!hex || strlen(hex) != 64)
        return false;
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < CP_HTTP_MAX_TICKETS; i++) {
        cp_http_ticket_t *t = &h->tickets[i];
        if (t->expires_ms > now && CRYPTO_memcmp(t->hex, hex, 64) == 0) {
            *caller = t->caller;
            memset(t, 0, sizeof(*t));
            ok = true;
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return ok;
}

static void cp_http_bridge(cp_http_req_t *q, const cp_caller_t *caller)
{
    const cp_rpc_method_t *m = q->m;
    char details[640] = "";
    json_error_t je;
    json_t *in = NULL;
    if (q->body.len > 0) {
        in = json_loadb(q->body.data, q->body.len, JSON_REJECT_DUPLICATES, &je);
        if (!in) {
            snprintf(details, sizeof(details), "request: not JSON (line %d column %d: %s)", je.line,
                     je.column, je.text);
            cp_http_finish(q, 400, cp_http_error_json(400, NULL, details));
            return;
        }
    }
    ProtobufCMessage *req = pbjson_to_message(m->req_desc, in, details, sizeof(details));
    json_decref(in);
    if (!req) {
        cp_http_finish(q, 400, cp_http_error_json(400, NULL, details));
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(req);
    uint8_t *packed = malloc(len ? len : 1);
    if (!packed) {
        protobuf_c_message_free_unpacked(req, NULL);
        cp_http_finish(q, 503, cp_http_error_json(503, NULL, "control plane: out of memory"));
        return;
    }
    protobuf_c_message_pack(req, packed);
    protobuf_c_message_free_unpacked(req, NULL);
    audit_actor_t who = {caller->name, caller->role, q->peer};
    ProtobufCMessage *resp = NULL;
    grpc_status_code st = cp_rpc_invoke(m, &who, packed, len, &resp, details, sizeof(details));
    free(packed);
    if (st != GRPC_STATUS_OK) {
        log_info("console call failed", "method=%s status=%d error=\"%s\"", m->path, (int)st,
                 details);
        unsigned status = cp_http_status_of(st);
        cp_http_finish(q, status, cp_http_error_json(status, gc_status_name(st), details));
        return;
    }
    json_t *out = resp ? pbjson_from_message(resp) : json_object();
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    if (!s)
        cp_http_finish(q, 503, cp_http_error_json(503, NULL, "control plane: out of memory"));
    else
        cp_http_finish(q, 200, s);
}

static void cp_http_run(void *arg)
{
    cp_http_req_t *q = arg;
    cp_caller_t caller = {0};
    if (cp_http_authenticate(q, &caller) < 0)
        return;
    switch (q->kind) {
    case REQ_INDEX: {
        char *s = cp_http_index(&caller);
        cp_http_finish(q, s ? 200 : 503, s ? s : cp_http_error_json(503, NULL, "out of memory"));
        return;
    }
    case REQ_TICKET: {
        char *s = cp_http_new_ticket(q->h, &caller);
        cp_http_finish(q, s ? 200 : 503,
                       s ? s : cp_http_error_json(503, NULL, "cannot mint a ticket"));
        return;
    }
    case REQ_BRIDGE:
        cp_http_bridge(q, &caller);
        return;
    }
}

/* --- the event stream -------------------------------------------------------------- */

static int64_t cp_http_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ssize_t cp_http_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    cp_http_stream_t *s = cls;
    char line[256];
    int n;
    if (!s->hello_sent) {
        s->hello_sent = true;
        n = snprintf(line, sizeof(line),
                     "retry: 3000\nevent: hello\ndata: {\"table_version\":%" PRId64
                     ",\"caller\":\"%s\",\"tick_ms\":%d}\n\n",
                     s->version, s->caller, CP_HTTP_TICK_MS);
    } else {
        /* A stream lives until the client leaves or the server stops. MHD
         * would notice a client that left only when a write fails (the
         * second after the close): look at the socket between short waits
         * instead, so a closed tab frees its stream (CP_HTTP_MAX_STREAMS)
         * within CP_HTTP_PEER_CHECK_MS. */
        int rc = 0;
        for (int waited = 0; waited < CP_HTTP_TICK_MS && rc == 0; waited += CP_HTTP_PEER_CHECK_MS) {
            rc = cp_console_events_wait(s->h->events, &s->seq, &s->version, CP_HTTP_PEER_CHECK_MS);
            if (rc == 0 && s->fd >= 0) {
                struct pollfd pfd = {.fd = s->fd, .events = POLLRDHUP};
                if (poll(&pfd, 1, 0) > 0 &&
                    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
                    return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
        if (rc < 0 || atomic_load(&s->h->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (rc == 1)
            n = snprintf(line, sizeof(line),
                         "event: changed\ndata: {\"table_version\":%" PRId64 "}\n\n", s->version);
        else
            n = snprintf(line, sizeof(line),
                         "event: tick\ndata: {\"unix_ms\":%" PRId64 ",\"table_version\":%" PRId64
                         "}\n\n",
                         cp_http_wall_ms(), s->version);
    }
    if (n < 0 || (size_t)n > max)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    memcpy(out, line, (size_t)n);
    return n;
}

static void cp_http_stream_free(void *cls)
{
    cp_http_stream_t *s = cls;
    pthread_mutex_lock(&s->h->mu);
    s->h->streams--;
    pthread_mutex_unlock(&s->h->mu);
    free(s);
}

static enum MHD_Result cp_http_open_stream(cp_http_t *h, struct MHD_Connection *conn)
{
    cp_caller_t caller = {0};
    const char *ticket = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "ticket");
    if (!cp_http_take_ticket(h, ticket, &caller))
        return cp_http_send_error(conn, 401,
                                  "ticket: expected a fresh ticket from POST /api/events/ticket");
    pthread_mutex_lock(&h->mu);
    bool full = h->streams >= CP_HTTP_MAX_STREAMS;
    if (!full)
        h->streams++;
    pthread_mutex_unlock(&h->mu);
    if (full)
        return cp_http_send_error(conn, 503, "events: too many open streams");
    cp_http_stream_t *s = calloc(1, sizeof(*s));
    if (!s) {
        pthread_mutex_lock(&h->mu);
        h->streams--;
        pthread_mutex_unlock(&h->mu);
        return MHD_NO;
    }
    s->h = h;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;
    snprintf(s->caller, sizeof(s->caller), "%s", caller.name);
    cp_console_events_now(h->events, &s->seq, &s->version);
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 1024, cp_http_stream_read, s, cp_http_stream_free);
    if (!r) {
        cp_http_stream_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    log_info("console stream opened", "token=%s", caller.name);
    return rc;
}

/* --- the access handler ------------------------------------------------------------- */

static void cp_http_req_free(cp_http_req_t *q)
{
    if (!q)
        return;
    buf_free(&q->body);
    if (q->token) {
        OPENSSL_cleanse(q->token, strlen(q->token));
        free(q->token);
    }
    free(q->answer);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

static void cp_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    cp_http_req_free(*con_cls);
    *con_cls = NULL;
}

static enum MHD_Result cp_http_static(struct MHD_Connection *conn, const char *url)
{
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return cp_http_send(conn, 200, "text/html; charset=utf-8", cp_console_index_html,
                            cp_console_index_html_len, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/console.css") == 0)
        return cp_http_send(conn, 200, "text/css; charset=utf-8", cp_console_css,
                            cp_console_css_len, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/console.js") == 0)
        return cp_http_send(conn, 200, "text/javascript; charset=utf-8", cp_console_js,
                            cp_console_js_len, MHD_RESPMEM_PERSISTENT);
    return cp_http_send_error(conn, 404, "not found");
}

/* Runs q on a worker and waits for its answer. */
static enum MHD_Result cp_http_dispatch(cp_http_t *h, struct MHD_Connection *conn, cp_http_req_t *q)
{
    const char *token =
        cp_auth_bearer(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
    if (!token)
        return cp_http_send_error(conn, 401,
                                  "authorization: expected an 'Authorization: Bearer <admin "
                                  "token>' header");
    if (!(q->token = strdup(token)))
        return MHD_NO;
    cp_http_peer(conn, q->peer, sizeof(q->peer));
    if (cp_work_submit(h->cp->work, cp_http_run, q) < 0)
        return cp_http_send_error(conn, 503, "control plane: shutting down");
    pthread_mutex_lock(&q->mu);
    while (!q->done)
        pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    char *answer = q->answer;
    q->answer = NULL;
    if (!answer)
        return MHD_NO;
    return cp_http_send_json(conn, q->status, answer);
}

static enum MHD_Result cp_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    cp_http_t *h = cls;
    cp_http_req_t *q = *con_cls;
    if (!q) {
        if (!(q = calloc(1, sizeof(*q))))
            return MHD_NO;
        q->h = h;
        buf_init(&q->body, CP_HTTP_BODY_MAX);
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->cv, NULL);
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!q->too_big && buf_append(&q->body, upload_data, *upload_data_size) < 0)
            q->too_big = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (atomic_load(&h->stopping))
        return cp_http_send_error(conn, 503, "control plane: shutting down");
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (strncmp(url, "/api/", 5) != 0) {
        if (!get)
            return cp_http_send_error(conn, 405, "method: expected GET");
        return cp_http_static(conn, url);
    }
    if (q->too_big)
        return cp_http_send_error(conn, 413, "request: body larger than 1 MiB");
    if (strcmp(url, "/api/events") == 0) {
        if (!get)
            return cp_http_send_error(conn, 405, "method: expected GET");
        return cp_http_open_stream(h, conn);
    }
    if (strcmp(url, "/api/") == 0) {
        if (!get)
            return cp_http_send_error(conn, 405, "method: expected GET");
        q->kind = REQ_INDEX;
        return cp_http_dispatch(h, conn, q);
    }
    if (strcmp(url, "/api/events/ticket") == 0) {
        if (!post)
            return cp_http_send_error(conn, 405, "method: expected POST");
        q->kind = REQ_TICKET;
        return cp_http_dispatch(h, conn, q);
    }
    /* /api/<package.Service>/<Method> is the gRPC path "/<package.Service>/<Method>". */
    const cp_rpc_method_t *m = cp_rpc_find(url + 4);
    if (!m) {
        char msg[320];
        snprintf(msg, sizeof(msg), "method: no RPC %.200s (GET /api/ lists them)", url + 5);
        return cp_http_send_error(conn, 404, msg);
    }
    if (!post)
        return cp_http_send_error(conn, 405, "method: expected POST with a JSON body");
    /* Data-plane methods want a verified client certificate under mTLS,
     * which the console's listener never asks for. */
    if (m->access == CP_ACCESS_NODES && h->cp->node_cert_required)
        return cp_http_send_error(conn, 403,
                                  "method: data-plane methods are served over gRPC with mTLS only");
    q->kind = REQ_BRIDGE;
    q->m = m;
    return cp_http_dispatch(h, conn, q);
}

static void cp_http_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("console http", "mhd=\"%s\"", line);
}

cp_http_t *cp_http_start(cp_t *cp, cp_console_events_t *events, const char *listen,
                         const tls_files_t *tls, int *port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (cli_parse_listen("--http-listen", listen, &ss, err, errlen) < 0)
        return NULL;
    /* No client CA: browsers log in with admin tokens, not certificates. */
    struct MHD_OptionItem tls_opts[TLS_HTTP_N_OPTIONS];
    if (tls_http_options(tls, false, tls_opts, err, errlen) < 0)
        return NULL;
    cp_http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cp = cp;
    h->events = events;
    pthread_mutex_init(&h->mu, NULL);
    atomic_init(&h->stopping, false);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                     MHD_USE_ERROR_LOG | tls_http_flags(tls);
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, cp_http_handler, h, MHD_OPTION_EXTERNAL_LOGGER, cp_http_log, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED,
        cp_http_completed, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CP_HTTP_IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CP_HTTP_CONNECTION_LIMIT, MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen,
                 "--http-listen: cannot listen on %s (address in use or not available)", listen);
        pthread_mutex_destroy(&h->mu);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : 0;
    return h;
}

void cp_http_stop(cp_http_t *h)
{
    if (!h)
        return;
    atomic_store(&h->stopping, true);
    cp_console_events_stop(h->events);
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->mu);
    OPENSSL_cleanse(h->tickets, sizeof(h->tickets));
    free(h);
}
