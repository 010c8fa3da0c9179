/* mini_http: an in-process HTTP/1.1 test server on libmicrohttpd
 * (thread-per-connection). See mini_http.h for the handler contract.
 *
 * Invariants: counters change only under s->mu and every change broadcasts
 * s->cv, so waiters never miss one. Every wait inside a connection thread
 * polls that connection's socket (peer closed) and the stop pipe (server
 * stopping) so no thread outlives mini_http_stop. A connection's id travels
 * in MHD's per-socket context pointer; a request's body in its con_cls.
 */
#define _GNU_SOURCE /* pipe2, POLLRDHUP */
#include "mini_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"

/* Request bodies past this are refused (closing the connection). */
#define MINI_HTTP_MAX_BODY ((size_t)64 * 1024 * 1024)

struct mini_http {
    struct MHD_Daemon *daemon;
    mini_http_handler_fn handler;
    void *ud;
    uint16_t port;
    char url[48];
    /* Written once at stop and never drained: stays readable, so every
     * waiting thread sees it. */
    int stop_pipe[2];

    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    unsigned requests;
    unsigned connections;
    unsigned closed;
};

/* Per request (MHD's con_cls). */
typedef struct {
    buf_t body;
} mini_req_t;

/* A callback-driven answer: chunks, or a plain body cut short. */
typedef struct {
    mini_http_t *s;
    int fd;
    char **pieces;
    size_t *lens;
    size_t n;
    size_t idx; /* piece being sent */
    size_t off; /* bytes of it already sent */
    int delay_ms;
    bool drop;
} mini_stream_t;

/* ---- waiting ------------------------------------------------------------- */

/* Waits ms milliseconds: 0 when they passed, -1 when the peer closed the
 * connection or the server is stopping. */
static int mini_wait(mini_http_t *s, int fd, int ms)
{
    int64_t deadline = clock_now_ms() + ms;
    for (;;) {
        int64_t left = deadline - clock_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p[2] = {
            {.fd = s->stop_pipe[0], .events = POLLIN},
            {.fd = fd, .events = POLLRDHUP},
        };
        int rc = poll(p, fd >= 0 ? 2 : 1, (int)left);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0)
            continue;
        if (p[0].revents)
            return -1;
        if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
            return -1;
    }
}

static void mini_count(mini_http_t *s, unsigned *counter)
{
    pthread_mutex_lock(&s->mu);
    (*counter)++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int mini_wait_count(mini_http_t *s, const unsigned *counter, unsigned n, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    while (*counter < n) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT) {
            rc = *counter >= n ? 0 : -1;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- answering ----------------------------------------------------------- */

static void mini_stream_free(void *cls)
{
    mini_stream_t *st = cls;
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        free(st->pieces[i]);
    free(st->pieces);
    free(st->lens);
    free(st);
}

static int mini_stream_add(mini_stream_t *st, const char *p, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    if (n)
        memcpy(copy, p, n);
    st->pieces[st->n] = copy;
    st->lens[st->n] = n;
    st->n++;
    return 0;
}

static mini_stream_t *mini_stream_new(mini_http_t *s, int fd, const mini_http_response_t *resp)
{
    size_t cap = resp->n_chunks ? resp->n_chunks : 1;
    mini_stream_t *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->s = s;
    st->fd = fd;
    st->delay_ms = resp->chunk_delay_ms;
    st->drop = resp->drop_mid_body;
    st->pieces = calloc(cap, sizeof(*st->pieces));
    st->lens = calloc(cap, sizeof(*st->lens));
    if (!st->pieces || !st->lens)
        goto fail;
    if (resp->n_chunks) {
        for (size_t i = 0; i < resp->n_chunks; i++) {
            const char *c = resp->chunks[i] ? resp->chunks[i] : "";
            if (mini_stream_add(st, c, strlen(c)) < 0)
                goto fail;
        }
    } else if (mini_stream_add(st, resp->body ? resp->body : "", resp->body_len / 2) < 0) {
        goto fail;
    }
    return st;
fail:
    mini_stream_free(st);
    return NULL;
}

static ssize_t mini_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    mini_stream_t *st = cls;
    /* Empty pieces are skipped: a reader must never return 0. */
    while (st->idx < st->n && st->lens[st->idx] == 0)
        st->idx++;
    if (st->idx >= st->n)
        return st->drop ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    if (st->off == 0 && st->idx > 0 && st->delay_ms > 0 &&
        mini_wait(st->s, st->fd, st->delay_ms) < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = st->lens[st->idx] - st->off;
    if (n > max)
        n = max;
    memcpy(out, st->pieces[st->idx] + st->off, n);
    st->off += n;
    if (st->off == st->lens[st->idx]) {
        st->idx++;
        st->off = 0;
    }
    return (ssize_t)n;
}

static int mini_add_headers(struct MHD_Response *r, const mini_http_response_t *resp)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        const char *h = resp->headers[i];
        const char *colon = h ? strchr(h, ':') : NULL;
        char name[256];
        if (!colon || (size_t)(colon - h) >= sizeof(name))
            return -1;
        memcpy(name, h, (size_t)(colon - h));
        name[colon - h] = '\0';
        const char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        if (MHD_add_response_header(r, name, value) != MHD_YES)
            return -1;
    }
    return 0;
}

static enum MHD_Result mini_answer(mini_http_t *s, struct MHD_Connection *c, int fd,
                                   const mini_http_response_t *resp)
{
    if (resp->close_without_response)
        return MHD_NO;
    if (resp->delay_ms > 0 && mini_wait(s, fd, resp->delay_ms) < 0)
        return MHD_NO;

    struct MHD_Response *r;
    if (resp->n_chunks || resp->drop_mid_body) {
        mini_stream_t *st = mini_stream_new(s, fd, resp);
        if (!st)
            return MHD_NO;
        uint64_t size = resp->n_chunks ? MHD_SIZE_UNKNOWN : (uint64_t)resp->body_len;
        r = MHD_create_response_from_callback(size, 4096, mini_stream_read, st, mini_stream_free);
        if (!r) {
            mini_stream_free(st);
            return MHD_NO;
        }
    } else {
        r = MHD_create_response_from_buffer(resp->body_len, (void *)(resp->body ? resp->body : ""),
                                            MHD_RESPMEM_MUST_COPY);
        if (!r)
            return MHD_NO;
    }
    enum MHD_Result ret = MHD_NO;
    if (mini_add_headers(r, resp) == 0)
        ret = MHD_queue_response(c, resp->status ? (unsigned)resp->status : 200u, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- MHD callbacks ------------------------------------------------------- */

static enum MHD_Result mini_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    mini_http_t *s = cls;
    mini_req_t *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        buf_init(&rq->body, MINI_HTTP_MAX_BODY);
        *con_cls = rq;
        mini_count(s, &s->requests);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (buf_append(&rq->body, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }

    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    mini_http_request_t req = {
        .method = method,
        .path = url,
        .body = buf_cstr(&rq->body),
        .body_len = rq->body.len,
        .conn_id = ci ? (unsigned)(uintptr_t)ci->socket_context : 0,
        .mhd_connection = c,
    };
    mini_http_response_t resp;
    memset(&resp, 0, sizeof(resp));
    s->handler(s->ud, &req, &resp);
    return mini_answer(s, c, fi ? fi->connect_fd : -1, &resp);
}

static void mini_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    mini_req_t *rq = *con_cls;
    if (!rq)
        return;
    buf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

static void mini_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                               enum MHD_ConnectionNotificationCode toe)
{
    mini_http_t *s = cls;
    pthread_mutex_lock(&s->mu);
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        s->connections++;
        *socket_context = (void *)(uintptr_t)s->connections;
    } else {
        s->closed++;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- public API ---------------------------------------------------------- */

mini_http_t *mini_http_start(mini_http_handler_fn handler, void *ud)
{
    if (!handler)
        return NULL;
    mini_http_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->handler = handler;
    s->ud = ud;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    bool mu_ok = false, cv_ok = false;
    pthread_condattr_t ca;

    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto fail;
    mu_ok = true;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&s->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail;
    }
    pthread_condattr_destroy(&ca);
    cv_ok = true;
    if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
        mini_on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_CONNECTION, mini_on_connection, s, MHD_OPTION_NOTIFY_COMPLETED,
        mini_on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!s->daemon)
        goto fail;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!di || di->port == 0)
        goto fail;
    s->port = di->port;
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", (unsigned)s->port);
    return s;

fail:
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->stop_pipe[0] >= 0) {
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
    }
    if (cv_ok)
        pthread_cond_destroy(&s->cv);
    if (mu_ok)
        pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
}

void mini_http_stop(mini_http_t *s)
{
    if (!s)
        return;
    /* Wake every handler or reader that is waiting, then let MHD close the
     * sockets and join the connection threads. */
    char one = 1;
    ssize_t w = write(s->stop_pipe[1], &one, 1);
    (void)w; /* a full pipe is readable already */
    MHD_stop_daemon(s->daemon);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint16_t mini_http_port(const mini_http_t *s)
{
    return s->port;
}

const char *mini_http_url(const mini_http_t *s)
{
    return s->url;
}

const char *mini_http_request_header(const mini_http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->mhd_connection, MHD_HEADER_KIND, name);
}

static unsigned mini_read(mini_http_t *s, const unsigned *counter)
{
    pthread_mutex_lock(&s->mu);
    unsigned v = *counter;
    pthread_mutex_unlock(&s->mu);
    return v;
}

unsigned mini_http_requests(mini_http_t *s)
{
    return mini_read(s, &s->requests);
}

unsigned mini_http_connections(mini_http_t *s)
{
    return mini_read(s, &s->connections);
}

unsigned mini_http_closed(mini_http_t *s)
{
    return mini_read(s, &s->closed);
}

int mini_http_wait_requests(mini_http_t *s, unsigned n, int timeout_ms)
{
    return mini_wait_count(s, &s->requests, n, timeout_ms);
}

int mini_http_wait_closed(mini_http_t *s, unsigned n, int timeout_ms)
{
    return mini_wait_count(s, &s->closed, n, timeout_ms);
}
