/* upstream: the HTTP client engine — libcurl multi on one thread of its own.
 *
 * Thread model
 *   - The engine thread (upstream_engine_main) owns the multi handle, every
 *     easy handle, the free list of easy handles, the list of active requests
 *     and every request's response state (status, body buffer, timings). No
 *     other thread reads or writes those.
 *   - Any thread talks to the engine only through u->lock, which guards the
 *     submit queue, the cancel queue, the task queue (upstream_post: run in
 *     order on the engine thread), each request's cancel_requested flag,
 *     u->stopping and the guest change. After pushing, another thread writes
 *     the engine's eventfd; the engine thread itself only sets u->kick (its
 *     next turn polls without waiting), so a submit from a callback or from
 *     the guest costs no system call.
 *   - The loop is curl's socket interface on one epoll set: curl's sockets,
 *     the wake eventfd and an optional guest's fd. Only sockets with events
 *     are touched (curl_multi_perform would probe every transfer each turn).
 *   - The guest (upstream_set_guest: the HTTP front door) runs on the engine
 *     thread too, so an HTTP request and its upstream call never change
 *     threads: no wake-up between them.
 *   - The engine takes both queues whole under the lock and works on them
 *     unlocked. Callbacks (on_data, on_done) therefore run with no engine lock
 *     held, so they may call upstream_submit / upstream_cancel; those only
 *     queue, never touch the multi handle, so they are safe inside curl
 *     callbacks too.
 *
 * Invariants
 *   - A request moves QUEUED → ACTIVE → DONE, or QUEUED → DONE; only the
 *     engine moves it, so on_done runs exactly once, on the engine thread,
 *     when the request enters DONE. Every submitted request reaches DONE
 *     before upstream_free returns (shutdown finishes them as CANCELLED).
 *   - References (C11 atomics): one for the caller, one for the engine
 *     (dropped right after on_done), one while the request sits in the cancel
 *     queue. A request is in the cancel queue at most once: the first cancel
 *     sets cancel_requested for good and later cancels are no-ops.
 *   - The engine releases the easy handle, header list and body buffer when a
 *     request is done; what is left for the last unref is one block.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"

/* Idle keep-alive connections the multi handle keeps (per engine): enough
 * that 64+ concurrent requests to a few providers reuse their connections,
 * few enough that after a burst of thousands of HTTP/1.1 streams the engine
 * does not sit on thousands of sockets (each one a descriptor, and a
 * CLOSE-WAIT socket once the provider drops it, until curl next looks). */
#define UPSTREAM_MAX_CONNECTS 128L
/* A cached connection idle longer than this is not reused but closed
 * (curl's default is 118 s; providers often drop idle ones sooner). */
#define UPSTREAM_MAX_IDLE_CONN_S 60L
/* Per easy handle: curl's receive buffer (default 16 KiB; answers and SSE
 * events are read in several calls when larger) and upload buffer (default
 * 64 KiB, curl's minimum is 16 KiB; bodies are POSTFIELDS, never read
 * through it). What one stream costs at 10 000 streams. */
#define UPSTREAM_RECV_BUFFER_BYTES 8192L
#define UPSTREAM_UPLOAD_BUFFER_BYTES 16384L
/* After the last transfer ends and the engine has been idle this long, freed
 * heap goes back to the system (malloc_trim): glibc otherwise keeps the peak
 * of a burst of streams mapped for good. */
#define UPSTREAM_TRIM_IDLE_US 1000000
/* Easy handles kept for reuse; more than this are cleaned up when done. */
#define UPSTREAM_FREE_EASY_MAX 64
#define UPSTREAM_DEFAULT_MAX_BODY ((size_t)16 * 1024 * 1024)
#define UPSTREAM_CONNECT_TIMEOUT_CAP_MS 10000
/* The loop wakes on socket activity, curl's timers or the eventfd; this
 * bounds how long a lost wake-up could stall and how seldom the guest runs
 * when idle (its own timeouts, e.g. idle HTTP connections). */
#define UPSTREAM_POLL_MS 1000
#define UPSTREAM_EPOLL_EVENTS 64
/* epoll data: the fd in the low 32 bits, what it is above. */
#define UPSTREAM_TAG_CURL 0ull
#define UPSTREAM_TAG_WAKE 1ull
#define UPSTREAM_TAG_GUEST 2ull

typedef enum {
    UPSTREAM_REQ_QUEUED = 0,
    UPSTREAM_REQ_ACTIVE,
    UPSTREAM_REQ_DONE,
} upstream_req_state_t;

struct upstream_req {
    atomic_int refs;

    /* Immutable after upstream_submit; url and body point into storage[]. */
    const char *url;
    const char *body; /* NULL for GET */
    size_t body_len;
    struct curl_slist *headers;
    long timeout_ms;
    long connect_timeout_ms;
    size_t max_body_bytes;
    bool stream;
    upstream_callbacks_t cb;
    void *ud;
    int64_t submit_us;

    /* Guarded by u->lock. */
    upstream_req_t *submit_next;
    upstream_req_t *cancel_next;
    bool cancel_requested;
    /* Set with cancel_requested; read lock-free by the write callback so
     * on_data stops as soon as a cancel is asked for. */
    atomic_bool cancel_flag;

    /* Engine thread only. */
    upstream_req_state_t state;
    CURL *easy;
    upstream_req_t *active_prev;
    upstream_req_t *active_next;
    long http_status;
    int64_t first_byte_us; /* -1 until the first body byte */
    bool aborted;          /* on_data asked to stop */
    bool too_large;        /* body passed max_body_bytes */
    bool cancelled_in_write;
    bool has_retry_after;
    buf_t body_buf;
    char retry_after[128];
    char errbuf[CURL_ERROR_SIZE];

    char storage[]; /* url NUL body NUL */
};

/* One upstream_post: fn(ud, stopping) to run on the engine thread. */
typedef struct upstream_task {
    void (*fn)(void *ud, bool stopping);
    void *ud;
    struct upstream_task *next;
} upstream_task_t;

struct upstream {
    CURLM *multi;
    pthread_t thread;
    atomic_int in_flight;
    int epfd;
    int wake_fd;

    pthread_mutex_t lock;
    pthread_cond_t guest_cond; /* signalled when a guest change is applied */
    /* Guarded by lock. */
    upstream_req_t *submit_head, *submit_tail;
    upstream_req_t *cancel_head, *cancel_tail;
    upstream_task_t *task_head, *task_tail; /* upstream_post */
    bool stopping;
    bool guest_change; /* guest_next waits to replace the guest */
    upstream_guest_t guest_next;
    bool guest_next_set;      /* false: detach */
    atomic_bool guest_wanted; /* upstream_guest_wake from another thread */

    /* Engine thread only (and upstream_free after the join). */
    upstream_req_t *active;
    CURL *free_easy[UPSTREAM_FREE_EASY_MAX];
    size_t n_free_easy;
    bool kick;              /* a queue was filled on this thread: don't wait */
    int64_t timer_due_us;   /* curl's timer; -1 when none */
    upstream_guest_t guest; /* fd < 0: none */
    bool guest_due;
    int64_t guest_due_us; /* when the guest asked to run next */
    int64_t trim_at_us;   /* malloc_trim when still idle then; -1: none due */
};

/* The engine whose thread this is, so a submit from its own callbacks or
 * guest skips the wake-up. */
static _Thread_local upstream_t *upstream_self;

/* ---- references --------------------------------------------------------- */

static void upstream_req_ref(upstream_req_t *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

/* Drops n references at once (the cancel path may drop two). */
static void upstream_req_release(upstream_req_t *r, int n)
{
    if (atomic_fetch_sub_explicit(&r->refs, n, memory_order_acq_rel) != n)
        return;
    /* Normally already released by the engine when the request finished. */
    curl_slist_free_all(r->headers);
    buf_free(&r->body_buf);
    free(r);
}

void upstream_req_unref(upstream_req_t *r)
{
    if (r)
        upstream_req_release(r, 1);
}

/* ---- curl callbacks (engine thread, inside curl_multi_perform) ---------- */

static bool upstream_is_2xx(long status)
{
    return status >= 200 && status < 300;
}

static void upstream_trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == '\r' || (*s)[*n - 1] == '\n' || (*s)[*n - 1] == ' ' ||
                  (*s)[*n - 1] == '\t'))
        (*n)--;
}

static size_t upstream_on_header(char *line, size_t size, size_t nitems, void *userdata)
{
    upstream_req_t *r = userdata;
    size_t n = size * nitems;

    if (n > 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new status line starts a new response (1xx, then the final one):
         * headers seen before it belong to the earlier response. */
        const char *sp = memchr(line, ' ', n);
        long status = 0;
        if (sp) {
            for (const char *p = sp + 1; p < line + n && *p >= '0' && *p <= '9'; p++)
                status = status * 10 + (*p - '0');
        }
        r->http_status = status;
        r->has_retry_after = false;
        return n;
    }
    static const char name[] = "retry-after:";
    if (n >= sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0) {
        const char *v = line + sizeof(name) - 1;
        size_t vn = n - (sizeof(name) - 1);
        upstream_trim(&v, &vn);
        if (vn >= sizeof(r->retry_after))
            vn = sizeof(r->retry_after) - 1;
        memcpy(r->retry_after, v, vn);
        r->retry_after[vn] = '\0';
        r->has_retry_after = true;
    }
    return n;
}

static size_t upstream_on_write(char *bytes, size_t size, size_t nmemb, void *userdata)
{
    upstream_req_t *r = userdata;
    size_t n = size * nmemb;

    if (atomic_load_explicit(&r->cancel_flag, memory_order_relaxed)) {
        r->cancelled_in_write = true;
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    if (n && r->first_byte_us < 0)
        r->first_byte_us = clock_now_us();
    if (r->stream && upstream_is_2xx(r->http_status)) {
        if (n && r->cb.on_data(r->ud, bytes, n) != 0) {
            r->aborted = true;
            return 0;
        }
        return n;
    }
    if (buf_append(&r->body_buf, bytes, n) < 0) {
        r->too_large = true;
        return 0;
    }
    return n;
}

/* ---- engine: finishing ---------------------------------------------------- */

static void upstream_release_easy(upstream_t *u, CURL *easy)
{
    if (u->n_free_easy < UPSTREAM_FREE_EASY_MAX) {
        curl_easy_reset(easy);
        u->free_easy[u->n_free_easy++] = easy;
        return;
    }
    curl_easy_cleanup(easy);
}

static void upstream_active_unlink(upstream_t *u, upstream_req_t *r)
{
    if (r->active_prev)
        r->active_prev->active_next = r->active_next;
    else
        u->active = r->active_next;
    if (r->active_next)
        r->active_next->active_prev = r->active_prev;
    r->active_prev = r->active_next = NULL;
    if (!u->active)
        u->trim_at_us = clock_now_us() + UPSTREAM_TRIM_IDLE_US;
}

/* Returns freed heap to the system once the engine has stayed idle. */
static void upstream_maybe_trim(upstream_t *u, int64_t now_us)
{
    if (u->trim_at_us < 0 || now_us < u->trim_at_us)
        return;
    u->trim_at_us = -1;
    if (!u->active)
        malloc_trim(0);
}

/* Moves r to DONE and calls on_done, once: true when this call did it (the
 * caller then owns the engine's reference and must drop it). `message` is
 * used when outcome != UPSTREAM_OK. */
static bool upstream_complete(upstream_t *u, upstream_req_t *r, upstream_outcome_t outcome,
                              const char *message)
{
    if (r->state == UPSTREAM_REQ_DONE)
        return false;
    if (r->state == UPSTREAM_REQ_ACTIVE) {
        CURLMcode mc = curl_multi_remove_handle(u->multi, r->easy);
        if (mc != CURLM_OK)
            log_warn("upstream remove handle failed", "error=\"%s\"", curl_multi_strerror(mc));
        upstream_release_easy(u, r->easy);
        r->easy = NULL;
        upstream_active_unlink(u, r);
    }
    r->state = UPSTREAM_REQ_DONE;

    int64_t now_us = clock_now_us();
    bool body_streamed = r->stream && upstream_is_2xx(r->http_status);
    upstream_result_t res = {
        .outcome = outcome,
        .http_status = r->http_status,
        .body = body_streamed ? "" : buf_cstr(&r->body_buf),
        .body_len = body_streamed ? 0 : r->body_buf.len,
        .error = "",
        .retry_after = r->has_retry_after ? r->retry_after : NULL,
        .latency_us = now_us - r->submit_us,
        .ttfb_us = r->first_byte_us < 0 ? -1 : r->first_byte_us - r->submit_us,
    };
    if (outcome != UPSTREAM_OK)
        res.error = message && *message ? message : "upstream request failed";

    /* Before on_done, so a waiter woken by on_done sees the request gone. */
    atomic_fetch_sub_explicit(&u->in_flight, 1, memory_order_acq_rel);
    r->cb.on_done(r->ud, &res);

    curl_slist_free_all(r->headers);
    r->headers = NULL;
    buf_free(&r->body_buf);
    return true;
}

/* upstream_complete, then drop the engine's reference. */
static void upstream_finish(upstream_t *u, upstream_req_t *r, upstream_outcome_t outcome,
                            const char *message)
{
    if (upstream_complete(u, r, outcome, message))
        upstream_req_release(r, 1);
}

static upstream_outcome_t upstream_outcome_of(const upstream_req_t *r, CURLcode rc)
{
    if (r->cancelled_in_write)
        return UPSTREAM_ERR_CANCELLED;
    if (r->aborted)
        return UPSTREAM_ERR_ABORTED;
    if (r->too_large)
        return UPSTREAM_ERR_TOO_LARGE;
    if (rc == CURLE_OK)
        return UPSTREAM_OK;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return UPSTREAM_ERR_TIMEOUT;
    /* Whatever broke — refused, DNS, TLS, a reset or an empty reply — it is a
     * connect failure until a response status arrived, a transfer failure
     * after (PARTIAL_FILE, RECV_ERROR, GOT_NOTHING after headers, h2 resets). */
    return r->http_status > 0 ? UPSTREAM_ERR_TRANSFER : UPSTREAM_ERR_CONNECT;
}

static void upstream_finish_curl(upstream_t *u, upstream_req_t *r, CURLcode rc)
{
    upstream_outcome_t outcome = upstream_outcome_of(r, rc);
    const char *message = NULL;
    switch (outcome) {
    case UPSTREAM_OK:
        break;
    case UPSTREAM_ERR_CANCELLED:
        message = "cancelled";
        break;
    case UPSTREAM_ERR_ABORTED:
        message = "aborted by the stream consumer";
        break;
    case UPSTREAM_ERR_TOO_LARGE:
        snprintf(r->errbuf, sizeof(r->errbuf), "response body exceeded max_body_bytes (%zu)",
                 r->max_body_bytes);
        message = r->errbuf;
        break;
    default:
        message = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
        break;
    }
    upstream_finish(u, r, outcome, message);
}

/* ---- engine: starting ------------------------------------------------------ */

#define UPSTREAM_SETOPT(easy, opt, val)                                                            \
    do {                                                                                           \
        if (curl_easy_setopt((easy), (opt), (val)) != CURLE_OK)                                    \
            goto fail;                                                                             \
    } while (0)

static int upstream_configure(upstream_req_t *r, CURL *e)
{
    UPSTREAM_SETOPT(e, CURLOPT_URL, r->url);
    UPSTREAM_SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    UPSTREAM_SETOPT(e, CURLOPT_PRIVATE, (void *)r);
    UPSTREAM_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    UPSTREAM_SETOPT(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    UPSTREAM_SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
    UPSTREAM_SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Over TLS, wait for a connection still handshaking to learn whether it
     * multiplexes instead of opening a second one; plain http never does. */
    if (strncasecmp(r->url, "https:", 6) == 0)
        UPSTREAM_SETOPT(e, CURLOPT_PIPEWAIT, 1L);
    UPSTREAM_SETOPT(e, CURLOPT_TCP_NODELAY, 1L);
    UPSTREAM_SETOPT(e, CURLOPT_BUFFERSIZE, UPSTREAM_RECV_BUFFER_BYTES);
    UPSTREAM_SETOPT(e, CURLOPT_UPLOAD_BUFFERSIZE, UPSTREAM_UPLOAD_BUFFER_BYTES);
    UPSTREAM_SETOPT(e, CURLOPT_MAXAGE_CONN, UPSTREAM_MAX_IDLE_CONN_S);
    UPSTREAM_SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
    UPSTREAM_SETOPT(e, CURLOPT_HTTPHEADER, r->headers);
    UPSTREAM_SETOPT(e, CURLOPT_ERRORBUFFER, r->errbuf);
    UPSTREAM_SETOPT(e, CURLOPT_HEADERFUNCTION, upstream_on_header);
    UPSTREAM_SETOPT(e, CURLOPT_HEADERDATA, (void *)r);
    UPSTREAM_SETOPT(e, CURLOPT_WRITEFUNCTION, upstream_on_write);
    UPSTREAM_SETOPT(e, CURLOPT_WRITEDATA, (void *)r);
    if (r->body) {
        UPSTREAM_SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        UPSTREAM_SETOPT(e, CURLOPT_POSTFIELDS, r->body);
    }
    return 0;
fail:
    return -1;
}

static void upstream_start(upstream_t *u, upstream_req_t *r)
{
    CURL *e = u->n_free_easy ? u->free_easy[--u->n_free_easy] : curl_easy_init();
    if (!e) {
        upstream_finish(u, r, UPSTREAM_ERR_CONNECT, "easy handle: out of memory");
        return;
    }
    if (upstream_configure(r, e) < 0) {
        upstream_release_easy(u, e);
        upstream_finish(u, r, UPSTREAM_ERR_CONNECT, "easy handle: option rejected");
        return;
    }
    CURLMcode mc = curl_multi_add_handle(u->multi, e);
    if (mc != CURLM_OK) {
        upstream_release_easy(u, e);
        upstream_finish(u, r, UPSTREAM_ERR_CONNECT, curl_multi_strerror(mc));
        return;
    }
    r->easy = e;
    r->state = UPSTREAM_REQ_ACTIVE;
    r->active_prev = NULL;
    r->active_next = u->active;
    if (u->active)
        u->active->active_prev = r;
    u->active = r;
}

/* ---- engine: the loop ----------------------------------------------------- */

static bool upstream_take_queues(upstream_t *u, upstream_req_t **submits, upstream_req_t **cancels,
                                 bool *stopping);

/* Submits before cancels: a cancel taken in the same batch as its submit
 * then finds the request started and removes it. */
static void upstream_process_queues(upstream_t *u, upstream_req_t *submits, upstream_req_t *cancels,
                                    bool stopping)
{
    while (submits) {
        upstream_req_t *r = submits;
        submits = r->submit_next;
        r->submit_next = NULL;
        if (stopping)
            upstream_finish(u, r, UPSTREAM_ERR_CANCELLED, "cancelled: upstream engine stopping");
        else
            upstream_start(u, r);
    }
    while (cancels) {
        upstream_req_t *r = cancels;
        cancels = r->cancel_next;
        r->cancel_next = NULL;
        /* the cancel queue's reference, and the engine's if this ended it */
        bool ended = upstream_complete(u, r, UPSTREAM_ERR_CANCELLED, "cancelled");
        upstream_req_release(r, ended ? 2 : 1);
    }
}

static void upstream_drain_done(upstream_t *u)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(u->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        upstream_req_t *r = NULL;
        CURLcode rc = msg->data.result;
        if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r) != CURLE_OK || !r) {
            log_error("upstream finished transfer has no request", "%s", "");
            continue;
        }
        upstream_finish_curl(u, r, rc);
    }
}

/* Shutdown: finish every request as CANCELLED. Callbacks may still queue
 * cancels (submits are refused), so loop until nothing is left. */
static void upstream_shutdown_all(upstream_t *u)
{
    for (;;) {
        upstream_req_t *submits, *cancels;
        bool stopping;
        bool took = upstream_take_queues(u, &submits, &cancels, &stopping);
        upstream_process_queues(u, submits, cancels, true);
        bool had_active = u->active != NULL;
        while (u->active)
            upstream_finish(u, u->active, UPSTREAM_ERR_CANCELLED,
                            "cancelled: upstream engine stopping");
        if (!took && !had_active)
            return;
    }
}

/* ---- engine: curl's socket interface on epoll ---------------------------- */

static int upstream_epoll_set(upstream_t *u, int op, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag << 32 | (uint32_t)fd};
    return epoll_ctl(u->epfd, op, fd, &ev);
}

/* CURLMOPT_SOCKETFUNCTION: what curl wants to wait for on a socket. A
 * socket's `socketp` marks it as already in the epoll set. */
static int upstream_on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    upstream_t *u = userp;
    if (what == CURL_POLL_REMOVE) {
        /* ENOENT/EBADF: curl may have closed it already; nothing to undo. */
        (void)epoll_ctl(u->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    uint32_t events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int rc = upstream_epoll_set(u, op, s, events, UPSTREAM_TAG_CURL);
    /* Out of step with the kernel (a number reused after a close curl did
     * not report): the other operation does what was meant. */
    if (rc < 0 && (errno == EEXIST || errno == ENOENT))
        rc = upstream_epoll_set(u, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, events,
                                UPSTREAM_TAG_CURL);
    if (rc < 0) {
        log_error("upstream epoll_ctl failed", "fd=%d error=\"%s\"", (int)s, strerror(errno));
        return -1; /* curl fails the transfers on this socket */
    }
    if (!socketp && curl_multi_assign(u->multi, s, u) != CURLM_OK)
        return -1;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: when curl wants CURL_SOCKET_TIMEOUT (-1: never). */
static int upstream_on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    upstream_t *u = userp;
    u->timer_due_us = timeout_ms < 0 ? -1 : clock_now_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

static void upstream_socket_action(upstream_t *u, curl_socket_t s, int bits)
{
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(u->multi, s, bits, &running);
    if (mc != CURLM_OK)
        log_error("upstream socket action failed", "error=\"%s\"", curl_multi_strerror(mc));
}

static void upstream_run_timer(upstream_t *u, int64_t now_us)
{
    if (u->timer_due_us >= 0 && u->timer_due_us <= now_us) {
        u->timer_due_us = -1; /* curl sets it again if it still wants one */
        upstream_socket_action(u, CURL_SOCKET_TIMEOUT, 0);
    }
}

/* Applies a pending upstream_set_guest (with u->lock held). */
static void upstream_apply_guest(upstream_t *u)
{
    if (!u->guest_change)
        return;
    if (u->guest.fd >= 0)
        (void)epoll_ctl(u->epfd, EPOLL_CTL_DEL, u->guest.fd, NULL);
    u->guest = (upstream_guest_t){.fd = -1};
    if (u->guest_next_set) {
        if (upstream_epoll_set(u, EPOLL_CTL_ADD, u->guest_next.fd, EPOLLIN, UPSTREAM_TAG_GUEST) < 0)
            log_error("upstream guest not polled", "fd=%d error=\"%s\"", u->guest_next.fd,
                      strerror(errno));
        else
            u->guest = u->guest_next;
        u->guest_due = true;
    }
    u->guest_change = false;
    pthread_cond_broadcast(&u->guest_cond);
}

/* Takes both queues and applies a guest change; returns whether anything
 * was taken. */
static bool upstream_take_queues(upstream_t *u, upstream_req_t **submits, upstream_req_t **cancels,
                                 bool *stopping)
{
    pthread_mutex_lock(&u->lock);
    *submits = u->submit_head;
    *cancels = u->cancel_head;
    u->submit_head = u->submit_tail = NULL;
    u->cancel_head = u->cancel_tail = NULL;
    *stopping = u->stopping;
    upstream_apply_guest(u);
    pthread_mutex_unlock(&u->lock);
    return *submits || *cancels;
}

static int upstream_wait_ms(const upstream_t *u, int64_t now_us)
{
    if (u->kick || u->guest_due)
        return 0;
    int64_t ms = UPSTREAM_POLL_MS;
    if (u->guest.fd >= 0) {
        int64_t guest_ms = (u->guest_due_us - now_us + 999) / 1000;
        if (guest_ms < ms)
            ms = guest_ms;
    }
    if (u->timer_due_us >= 0) {
        int64_t curl_ms = (u->timer_due_us - now_us + 999) / 1000;
        if (curl_ms < ms)
            ms = curl_ms;
    }
    return ms < 0 ? 0 : (int)ms;
}

static void upstream_poll(upstream_t *u)
{
    struct epoll_event evs[UPSTREAM_EPOLL_EVENTS];
    int n = epoll_wait(u->epfd, evs, UPSTREAM_EPOLL_EVENTS, upstream_wait_ms(u, clock_now_us()));
    if (n < 0 && errno != EINTR)
        log_error("upstream epoll_wait failed", "error=\"%s\"", strerror(errno));
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64 >> 32;
        int fd = (int)(uint32_t)evs[i].data.u64;
        if (tag == UPSTREAM_TAG_WAKE) {
            uint64_t v;
            (void)!read(u->wake_fd, &v, sizeof(v)); /* EAGAIN: already drained */
        } else if (tag == UPSTREAM_TAG_GUEST) {
            u->guest_due = true;
        } else {
            uint32_t e = evs[i].events;
            int bits = (e & EPOLLIN ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            upstream_socket_action(u, fd, bits);
        }
    }
}

/* Runs the posted tasks queued so far, in order, with no lock held. */
static void upstream_run_tasks(upstream_t *u, bool stopping)
{
    pthread_mutex_lock(&u->lock);
    upstream_task_t *t = u->task_head;
    u->task_head = u->task_tail = NULL;
    pthread_mutex_unlock(&u->lock);
    while (t) {
        upstream_task_t *next = t->next;
        t->fn(t->ud, stopping);
        free(t);
        t = next;
    }
}

static void *upstream_engine_main(void *arg)
{
    upstream_t *u = arg;
    upstream_self = u;
    for (;;) {
        upstream_req_t *submits, *cancels;
        bool stopping;
        u->kick = false;
        upstream_take_queues(u, &submits, &cancels, &stopping);
        if (stopping) {
            upstream_process_queues(u, submits, cancels, true);
            upstream_shutdown_all(u);
            upstream_run_tasks(u, true);
            return NULL;
        }
        upstream_process_queues(u, submits, cancels, false);
        upstream_run_tasks(u, false);
        upstream_run_timer(u, clock_now_us());
        upstream_drain_done(u);

        if (atomic_exchange_explicit(&u->guest_wanted, false, memory_order_acq_rel))
            u->guest_due = true;
        int64_t now_us = clock_now_us();
        if (u->guest.fd >= 0 && (u->guest_due || now_us >= u->guest_due_us)) {
            /* The guest's handlers may submit (kick) or finish requests. */
            u->guest_due = false;
            int ms = u->guest.run(u->guest.ud);
            if (ms < 0 || ms > UPSTREAM_POLL_MS)
                ms = UPSTREAM_POLL_MS;
            u->guest_due_us = clock_now_us() + (int64_t)ms * 1000;
            continue;
        }
        upstream_maybe_trim(u, now_us);
        upstream_poll(u);
        upstream_run_timer(u, clock_now_us());
        upstream_drain_done(u);
    }
}

/* Wakes the engine thread; on it, only notes that a queue is filled. A
 * failed write only delays the engine until its poll times out. */
static void upstream_wake(upstream_t *u)
{
    if (upstream_self == u) {
        u->kick = true;
        return;
    }
    uint64_t one = 1;
    if (write(u->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("upstream wakeup failed", "error=\"%s\"", strerror(errno));
}

/* ---- public API ----------------------------------------------------------- */

upstream_t *upstream_new(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    upstream_t *u = calloc(1, sizeof(*u));
    if (!u)
        goto fail_global;
    atomic_init(&u->in_flight, 0);
    atomic_init(&u->guest_wanted, false);
    u->epfd = u->wake_fd = -1;
    u->timer_due_us = -1;
    u->trim_at_us = -1;
    u->guest.fd = -1;
    if (pthread_mutex_init(&u->lock, NULL) != 0)
        goto fail_alloc;
    if (pthread_cond_init(&u->guest_cond, NULL) != 0)
        goto fail_lock;
    u->epfd = epoll_create1(EPOLL_CLOEXEC);
    u->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (u->epfd < 0 || u->wake_fd < 0 ||
        upstream_epoll_set(u, EPOLL_CTL_ADD, u->wake_fd, EPOLLIN, UPSTREAM_TAG_WAKE) < 0)
        goto fail_fds;
    u->multi = curl_multi_init();
    if (!u->multi)
        goto fail_fds;
    if (curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX) != CURLM_OK ||
        /* 0: no per-host cap. A stream can last minutes, and queueing new
         * requests behind open streams to one HTTP/1.1 provider would stall
         * them; HTTP/2 providers multiplex anyway. */
        curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L) != CURLM_OK ||
        curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, UPSTREAM_MAX_CONNECTS) != CURLM_OK ||
        curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, upstream_on_socket) != CURLM_OK ||
        curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, (void *)u) != CURLM_OK ||
        curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, upstream_on_timer) != CURLM_OK ||
        curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, (void *)u) != CURLM_OK)
        goto fail_multi;
    if (pthread_create(&u->thread, NULL, upstream_engine_main, u) != 0)
        goto fail_multi;
    (void)pthread_setname_np(u->thread, "llmgw-upstream"); /* cosmetic: for top/gdb */
    return u;

fail_multi:
    curl_multi_cleanup(u->multi);
fail_fds:
    if (u->epfd >= 0)
        close(u->epfd);
    if (u->wake_fd >= 0)
        close(u->wake_fd);
    pthread_cond_destroy(&u->guest_cond);
fail_lock:
    pthread_mutex_destroy(&u->lock);
fail_alloc:
    free(u);
fail_global:
    curl_global_cleanup();
    return NULL;
}

void upstream_guest_wake(upstream_t *u)
{
    if (upstream_self == u) {
        u->guest_due = true;
        return;
    }
    atomic_store_explicit(&u->guest_wanted, true, memory_order_release);
    upstream_wake(u);
}

int upstream_set_guest(upstream_t *u, const upstream_guest_t *g)
{
    if (!u || upstream_self == u || (g && (g->fd < 0 || !g->run)))
        return -1;
    pthread_mutex_lock(&u->lock);
    if (u->stopping) {
        pthread_mutex_unlock(&u->lock);
        return -1;
    }
    u->guest_change = true;
    u->guest_next_set = g != NULL;
    if (g)
        u->guest_next = *g;
    pthread_mutex_unlock(&u->lock);
    upstream_wake(u);
    pthread_mutex_lock(&u->lock);
    /* The engine applies it at the top of its next turn, outside any guest
     * call; a stopping engine runs no guest any more. */
    while (u->guest_change && !u->stopping)
        pthread_cond_wait(&u->guest_cond, &u->lock);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

void upstream_free(upstream_t *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->lock);
    u->stopping = true;
    pthread_cond_broadcast(&u->guest_cond);
    pthread_mutex_unlock(&u->lock);
    upstream_wake(u);
    pthread_join(u->thread, NULL);

    /* Cancels queued by other threads after the engine's last look: every
     * request is DONE by now, so only the queue's references are left. */
    pthread_mutex_lock(&u->lock);
    upstream_req_t *cancels = u->cancel_head;
    u->cancel_head = u->cancel_tail = NULL;
    pthread_mutex_unlock(&u->lock);
    while (cancels) {
        upstream_req_t *r = cancels;
        cancels = r->cancel_next;
        upstream_req_unref(r);
    }

    for (size_t i = 0; i < u->n_free_easy; i++)
        curl_easy_cleanup(u->free_easy[i]);
    curl_multi_cleanup(u->multi);
    close(u->epfd);
    close(u->wake_fd);
    pthread_cond_destroy(&u->guest_cond);
    pthread_mutex_destroy(&u->lock);
    free(u);
    curl_global_cleanup();
}

int upstream_post(upstream_t *u, void (*fn)(void *ud, bool stopping), void *ud)
{
    upstream_task_t *t = malloc(sizeof(*t));
    if (!t)
        return -1;
    *t = (upstream_task_t){.fn = fn, .ud = ud};
    pthread_mutex_lock(&u->lock);
    if (u->stopping) {
        pthread_mutex_unlock(&u->lock);
        free(t);
        return -1;
    }
    if (u->task_tail)
        u->task_tail->next = t;
    else
        u->task_head = t;
    u->task_tail = t;
    pthread_mutex_unlock(&u->lock);
    upstream_wake(u);
    return 0;
}

static bool upstream_has_header(const upstream_spec_t *spec, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < spec->n_headers; i++) {
        const char *h = spec->headers[i];
        if (h && strncasecmp(h, name, n) == 0 && h[n] == ':')
            return true;
    }
    return false;
}

static struct curl_slist *upstream_build_headers(const upstream_spec_t *spec)
{
    struct curl_slist *list = NULL, *next;
    for (size_t i = 0; i < spec->n_headers; i++) {
        if (!spec->headers[i])
            continue;
        if (!(next = curl_slist_append(list, spec->headers[i])))
            goto fail;
        list = next;
    }
    if (spec->body && !upstream_has_header(spec, "content-type")) {
        if (!(next = curl_slist_append(list, "Content-Type: application/json")))
            goto fail;
        list = next;
    }
    /* An empty value removes the header: no 100-continue round trip. */
    if (!(next = curl_slist_append(list, "Expect:")))
        goto fail;
    return next;
fail:
    curl_slist_free_all(list);
    return NULL;
}

upstream_req_t *upstream_submit(upstream_t *u, const upstream_spec_t *spec,
                                const upstream_callbacks_t *cb, void *ud)
{
    /* A malformed spec is a caller bug; it is refused like a failed submit. */
    if (!u || !spec || !spec->url || spec->timeout_ms <= 0 || !cb || !cb->on_done ||
        (spec->stream && !cb->on_data) || (spec->n_headers && !spec->headers))
        return NULL;

    int64_t submit_us = clock_now_us();
    size_t url_len = strlen(spec->url);
    size_t body_len = spec->body ? spec->body_len : 0;
    if (body_len > SIZE_MAX - sizeof(upstream_req_t) - url_len - 2)
        return NULL;
    upstream_req_t *r = calloc(1, sizeof(*r) + url_len + 1 + body_len + 1);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 2); /* the caller's and the engine's */
    atomic_init(&r->cancel_flag, false);
    memcpy(r->storage, spec->url, url_len);
    r->storage[url_len] = '\0';
    r->url = r->storage;
    if (spec->body) {
        char *body = r->storage + url_len + 1;
        if (body_len)
            memcpy(body, spec->body, body_len);
        r->body = body;
        r->body_len = body_len;
    }
    r->headers = upstream_build_headers(spec);
    if (!r->headers)
        goto fail;
    r->timeout_ms = spec->timeout_ms;
    r->connect_timeout_ms = spec->connect_timeout_ms;
    if (r->connect_timeout_ms <= 0)
        r->connect_timeout_ms = spec->timeout_ms < UPSTREAM_CONNECT_TIMEOUT_CAP_MS
                                    ? spec->timeout_ms
                                    : UPSTREAM_CONNECT_TIMEOUT_CAP_MS;
    r->max_body_bytes = spec->max_body_bytes ? spec->max_body_bytes : UPSTREAM_DEFAULT_MAX_BODY;
    r->stream = spec->stream;
    r->cb = *cb;
    r->ud = ud;
    r->submit_us = submit_us;
    r->state = UPSTREAM_REQ_QUEUED;
    r->first_byte_us = -1;
    buf_init(&r->body_buf, r->max_body_bytes);

    pthread_mutex_lock(&u->lock);
    if (u->stopping) {
        pthread_mutex_unlock(&u->lock);
        goto fail;
    }
    if (u->submit_tail)
        u->submit_tail->submit_next = r;
    else
        u->submit_head = r;
    u->submit_tail = r;
    atomic_fetch_add_explicit(&u->in_flight, 1, memory_order_acq_rel);
    pthread_mutex_unlock(&u->lock);
    upstream_wake(u);
    return r;

fail:
    curl_slist_free_all(r->headers);
    free(r);
    return NULL;
}

void upstream_cancel(upstream_t *u, upstream_req_t *r)
{
    if (!u || !r)
        return;
    pthread_mutex_lock(&u->lock);
    if (r->cancel_requested) {
        pthread_mutex_unlock(&u->lock);
        return;
    }
    r->cancel_requested = true;
    atomic_store_explicit(&r->cancel_flag, true, memory_order_relaxed);
    upstream_req_ref(r); /* the cancel queue's */
    if (u->cancel_tail)
        u->cancel_tail->cancel_next = r;
    else
        u->cancel_head = r;
    u->cancel_tail = r;
    pthread_mutex_unlock(&u->lock);
    upstream_wake(u);
}

int upstream_in_flight(upstream_t *u)
{
    return u ? atomic_load_explicit(&u->in_flight, memory_order_acquire) : 0;
}
