/* grpc_server: the asynchronous gRPC server behind every llmgw service, on
 * the gRPC C core API. See grpc_server.h for the handler contract.
 *
 * Thread model: one completion queue, n_threads threads in server_cq_loop.
 * Every event carries a gs_tag_t naming its call and its operation; the
 * threads run the call state machines. Handlers' own threads enter through
 * gs_call_send / gs_call_finish / gs_call_set_user, which take the call's
 * mutex; batches are started under that mutex, so at most one send batch
 * per call is outstanding and messages leave in the order they were queued.
 * User callbacks (on_cancel, on_free) never run under the call's mutex.
 *
 * A gs_call_t is born as a request context (state REQUESTED) posted with
 * grpc_server_request_registered_call, and becomes the call itself when the
 * core matches a client call to it: one allocation per call. Each method
 * keeps GS_BACKLOG_PER_THREAD requests per CQ thread outstanding and reposts
 * one as each arrives, so bursts of calls never wait for a request.
 *
 * References on an arrived call: the handler's (dropped by gs_call_finish),
 * the dispatcher's (held across on_request, then owned by the
 * RECV_CLOSE_ON_SERVER op) and one per outstanding send batch. The call is
 * freed, and on_free runs, when the last one goes; an on_cancel in progress
 * always holds the close op's reference, so on_free never overlaps it.
 *
 * Bidi streaming calls arrive without a message (GRPC_SRM_PAYLOAD_NONE);
 * RECV_CLOSE_ON_SERVER is posted at once, then one RECV_MESSAGE at a time:
 * its completion runs the handler and, if the call is still the handler's,
 * posts the next. The outstanding read holds a reference; the read that
 * sees the end of input (half-close, cancellation) runs the handler with
 * NULL and posts nothing more. recv_bb is touched only by the thread that
 * handles the read's completion, so it needs no lock.
 *
 * Fields set at arrival (method, deadline, metadata, request bytes) are
 * immutable afterwards and read without the mutex.
 */
#define _GNU_SOURCE
#include "grpc_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/slice_buffer.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "clock.h"
#include "log.h"

#define GS_BACKLOG_PER_THREAD 8
#define GS_SEND_QUEUE_CAP ((size_t)4 << 20)
#define GS_MAX_RECV_MESSAGE (16 << 20)
/* Remaining times beyond this are treated as "no deadline" (and keep the
 * millisecond arithmetic far from overflow). */
#define GS_DEADLINE_MAX_S ((int64_t)10 * 365 * 24 * 3600)

typedef enum {
    GS_TAG_NEW,      /* a posted request matched a call (or failed at shutdown) */
    GS_TAG_CLOSE,    /* RECV_CLOSE_ON_SERVER completed: the call is over */
    GS_TAG_SEND,     /* a send batch completed */
    GS_TAG_RECV,     /* a bidi call's RECV_MESSAGE completed */
    GS_TAG_SHUTDOWN, /* grpc_server_shutdown_and_notify completed */
} gs_tag_kind_t;

typedef struct {
    gs_tag_kind_t kind;
    gs_call_t *call; /* NULL for GS_TAG_SHUTDOWN */
} gs_tag_t;

typedef enum {
    GS_CALL_REQUESTED,   /* posted, waiting for a client call */
    GS_CALL_ACTIVE,      /* the handler owns it */
    GS_CALL_FINISHED,    /* gs_call_finish ran; the status waits behind queued messages */
    GS_CALL_STATUS_SENT, /* status batch started, or dropped because the call was cancelled */
} gs_call_state_t;

typedef struct {
    gs_kind_t kind;
    gs_handler_fn fn;
    void *ctx;
    void *handle; /* from grpc_server_register_method */
    char path[];
} gs_method_t;

typedef struct {
    const char *key;
    const char *value;
} gs_md_t;

struct gs_call {
    gs_server_t *srv;
    const gs_method_t *method; /* NULL: the catch-all request (answered UNIMPLEMENTED) */
    grpc_call *call;
    gs_tag_t tag_new, tag_close, tag_send, tag_recv;
    grpc_byte_buffer *recv_bb; /* bidi: the outstanding read's target */

    /* Filled by the core when the request matches. */
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details; /* catch-all only */
    int close_cancelled;

    /* Immutable after arrival. */
    int64_t deadline_ms;
    gs_md_t *mdv; /* in the grpc_call's arena, freed with the call */
    size_t n_md;
    grpc_slice request;

    pthread_mutex_t mu; /* guards everything below */
    int refs;
    gs_call_state_t state;
    bool cancelled;
    bool cancel_notified;
    bool initial_md_sent;
    bool send_busy;
    grpc_slice_buffer queue; /* messages not yet handed to the core, one slice each */
    grpc_byte_buffer *send_bb;
    grpc_status_code status;
    grpc_slice status_details;
    bool has_details;
    grpc_metadata trailers[GS_MAX_TRAILERS]; /* sent with the status; slices owned */
    size_t n_trailers;
    void *user;
    void (*on_cancel)(void *user);
    void (*on_free)(void *user);
    /* Bidi: a read is posted and no fn runs (reading); counted in the
     * server's idle_bidi while also nothing waits to be sent (idle). */
    bool reading;
    bool idle;
};

struct gs_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    gs_observer_t *observers; /* fixed once the server starts */
    size_t n_observers;
    gs_method_t **methods;
    size_t n_methods;
    pthread_t *threads;
    int n_threads; /* running CQ threads */
    int backlog;   /* requests kept outstanding per method */
    bool started;
    bool shut;
    gs_tag_t tag_shutdown;
    const tls_files_t *tls; /* NULL: plaintext; borrowed until started */
    bool require_client_cert;

    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cond;
    bool stopping; /* no more requests are posted */
    bool shutdown_done;
    int active_calls; /* arrived and not yet freed */
    /* Of those, bidi calls waiting for the client's next message with every
     * answer sent: shutdown's grace does not wait for them (an idle
     * reflection stream would otherwise hold it to the end). */
    int idle_bidi;
    int pending_requests; /* posted and not yet returned */
};

/* --- call contexts ---------------------------------------------------------- */

static gs_call_t *call_new(gs_server_t *s, const gs_method_t *m)
{
    gs_call_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->srv = s;
    c->method = m;
    c->tag_new = (gs_tag_t){GS_TAG_NEW, c};
    c->tag_close = (gs_tag_t){GS_TAG_CLOSE, c};
    c->tag_send = (gs_tag_t){GS_TAG_SEND, c};
    c->tag_recv = (gs_tag_t){GS_TAG_RECV, c};
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);
    grpc_slice_buffer_init(&c->queue);
    c->request = grpc_empty_slice();
    c->status_details = grpc_empty_slice();
    c->state = GS_CALL_REQUESTED;
    return c;
}

/* Frees what the context holds; no callbacks, no accounting. */
static void call_destroy(gs_call_t *c)
{
    if (c->send_bb != NULL)
        grpc_byte_buffer_destroy(c->send_bb);
    if (c->payload != NULL)
        grpc_byte_buffer_destroy(c->payload);
    if (c->recv_bb != NULL)
        grpc_byte_buffer_destroy(c->recv_bb);
    grpc_slice_buffer_destroy(&c->queue);
    grpc_slice_unref(c->request);
    grpc_slice_unref(c->status_details);
    for (size_t i = 0; i < c->n_trailers; i++) {
        grpc_slice_unref(c->trailers[i].key);
        grpc_slice_unref(c->trailers[i].value);
    }
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    if (c->call != NULL)
        grpc_call_unref(c->call); /* also frees the arena holding mdv */
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Keeps the server's idle_bidi in step with this call. Lock order: the
 * call's mutex, then the server's. */
static void call_sync_idle_locked(gs_call_t *c)
{
    bool idle = c->reading && c->state == GS_CALL_ACTIVE && !c->send_busy && c->queue.count == 0;
    if (idle == c->idle)
        return;
    c->idle = idle;
    gs_server_t *s = c->srv;
    pthread_mutex_lock(&s->mu);
    s->idle_bidi += idle ? 1 : -1;
    if (s->stopping)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* The last reference went: free the call, then tell the user and the server. */
static void call_release(gs_call_t *c)
{
    gs_server_t *s = c->srv;
    void *user = c->user;
    void (*on_free)(void *) = c->on_free;
    bool idle = c->idle;
    call_destroy(c);
    if (on_free != NULL)
        on_free(user);
    pthread_mutex_lock(&s->mu);
    s->active_calls--;
    if (idle)
        s->idle_bidi--;
    if (s->stopping)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static void call_unref(gs_call_t *c)
{
    pthread_mutex_lock(&c->mu);
    int left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (left == 0)
        call_release(c);
}

typedef struct {
    void (*fn)(void *user);
    void *user;
} gs_cancel_cb_t;

/* A refcounted copy of a message (inline in the slice when tiny). */
static grpc_slice msg_copy(const uint8_t *msg, size_t len)
{
    return len == 0 ? grpc_empty_slice() : grpc_slice_from_copied_buffer((const char *)msg, len);
}

/* Marks the call cancelled, drops what waits to be sent, and returns the
 * cancel callback to run (after unlocking) when this is the first time the
 * handler can be told: once, and only while the handler still owns the call. */
static gs_cancel_cb_t call_mark_cancelled_locked(gs_call_t *c)
{
    gs_cancel_cb_t cb = {NULL, NULL};
    c->cancelled = true;
    grpc_slice_buffer_reset_and_unref(&c->queue);
    if (c->state == GS_CALL_FINISHED)
        c->state = GS_CALL_STATUS_SENT;
    if (c->state == GS_CALL_ACTIVE && c->on_cancel != NULL && !c->cancel_notified) {
        c->cancel_notified = true;
        cb.fn = c->on_cancel;
        cb.user = c->user;
    }
    return cb;
}

/* Starts the next send batch when none is outstanding: the next queued
 * message, the status once the queue is empty and the handler finished, and
 * initial metadata with whichever goes first. */
static void call_pump_send_locked(gs_call_t *c)
{
    if (c->send_busy || c->cancelled)
        return;
    grpc_op ops[3];
    size_t n = 0;
    bool with_status = false;
    memset(ops, 0, sizeof(ops));
    if (c->queue.count > 0) {
        grpc_slice msg = grpc_slice_buffer_take_first(&c->queue);
        c->send_bb = grpc_raw_byte_buffer_create(&msg, 1);
        grpc_slice_unref(msg);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = c->send_bb;
        n++;
    }
    if (c->state == GS_CALL_FINISHED && c->queue.count == 0) {
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = c->status;
        ops[n].data.send_status_from_server.status_details =
            c->has_details ? &c->status_details : NULL;
        ops[n].data.send_status_from_server.trailing_metadata_count = c->n_trailers;
        ops[n].data.send_status_from_server.trailing_metadata = c->n_trailers ? c->trailers : NULL;
        n++;
        with_status = true;
    }
    if (n == 0)
        return;
    if (!c->initial_md_sent) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        n++;
        c->initial_md_sent = true;
    }
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, &c->tag_send, NULL);
    if (e != GRPC_CALL_OK) {
        /* Cannot happen while we keep one send batch at a time; if it does,
         * the call is unusable: cancel it so RECV_CLOSE completes and the
         * call is released. */
        log_error("grpc send batch rejected", "method=%s err=%d", c->method->path, (int)e);
        if (c->send_bb != NULL) {
            grpc_byte_buffer_destroy(c->send_bb);
            c->send_bb = NULL;
        }
        c->cancelled = true;
        grpc_slice_buffer_reset_and_unref(&c->queue);
        if (c->state == GS_CALL_FINISHED)
            c->state = GS_CALL_STATUS_SENT;
        grpc_call_cancel(c->call, NULL);
        return;
    }
    if (with_status)
        c->state = GS_CALL_STATUS_SENT;
    c->send_busy = true;
    c->refs++;
}

/* Every change of what a call sends goes through here, so its idleness is
 * re-read after each. */
static void call_pump_locked(gs_call_t *c)
{
    call_pump_send_locked(c);
    call_sync_idle_locked(c);
}

/* --- per-call API ------------------------------------------------------------ */

int64_t gs_call_deadline_ms(const gs_call_t *call)
{
    return call->deadline_ms;
}

const char *gs_call_metadata(const gs_call_t *call, const char *key)
{
    for (size_t i = 0; i < call->n_md; i++)
        if (strcmp(call->mdv[i].key, key) == 0)
            return call->mdv[i].value;
    return NULL;
}

void gs_call_peer(const gs_call_t *call, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    if (call->call == NULL)
        return;
    char *peer = grpc_call_get_peer(call->call); /* gpr_malloc'd */
    if (peer != NULL) {
        snprintf(out, cap, "%s", peer);
        gpr_free(peer);
    }
}

bool gs_call_peer_verified(const gs_call_t *call, char *out, size_t cap)
{
    if (out && cap)
        out[0] = '\0';
    if (!call->call || !call->srv->tls || !call->srv->tls->ca_pem)
        return false;
    grpc_auth_context *ctx = grpc_call_auth_context(call->call);
    if (!ctx)
        return false;
    /* With a client CA the core fails the handshake on a certificate that
     * does not verify, so a peer identity means one was presented and
     * verified; without a certificate the peer has none. */
    bool ok = grpc_auth_context_peer_is_authenticated(ctx) != 0;
    if (ok && out && cap) {
        grpc_auth_property_iterator it = grpc_auth_context_peer_identity(ctx);
        const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
        if (p)
            snprintf(out, cap, "%.*s", (int)p->value_length, p->value);
    }
    grpc_auth_context_release(ctx);
    return ok;
}

const char *gs_call_method(const gs_call_t *call)
{
    return call->method != NULL ? call->method->path : "";
}

void gs_call_set_user(gs_call_t *call, void *user, void (*on_cancel)(void *user),
                      void (*on_free)(void *user))
{
    gs_cancel_cb_t cb = {NULL, NULL};
    pthread_mutex_lock(&call->mu);
    call->user = user;
    call->on_cancel = on_cancel;
    call->on_free = on_free;
    /* A cancellation noticed before the handler attached its callback is
     * reported now, so a handler never misses one. */
    if (call->cancelled && call->state == GS_CALL_ACTIVE && on_cancel != NULL &&
        !call->cancel_notified) {
        call->cancel_notified = true;
        cb.fn = on_cancel;
        cb.user = user;
    }
    pthread_mutex_unlock(&call->mu);
    if (cb.fn != NULL)
        cb.fn(cb.user);
}

bool gs_call_cancelled(const gs_call_t *call)
{
    gs_call_t *c = (gs_call_t *)call; /* the mutex is not part of the value */
    pthread_mutex_lock(&c->mu);
    bool cancelled = c->cancelled;
    pthread_mutex_unlock(&c->mu);
    return cancelled;
}

int gs_call_send(gs_call_t *call, const uint8_t *msg, size_t len)
{
    int rc = -1;
    pthread_mutex_lock(&call->mu);
    if (call->method->kind == GS_UNARY || call->state != GS_CALL_ACTIVE || call->cancelled)
        goto out;
    if (call->queue.length + len > GS_SEND_QUEUE_CAP)
        goto out;
    grpc_slice_buffer_add_indexed(&call->queue, msg_copy(msg, len));
    call_pump_locked(call);
    rc = 0;
out:
    pthread_mutex_unlock(&call->mu);
    return rc;
}

int gs_call_set_trailer(gs_call_t *call, const char *key, const char *value)
{
    int rc = -1;
    pthread_mutex_lock(&call->mu);
    if (call->state == GS_CALL_ACTIVE && call->n_trailers < GS_MAX_TRAILERS) {
        grpc_metadata *m = &call->trailers[call->n_trailers++];
        memset(m, 0, sizeof(*m));
        m->key = grpc_slice_from_copied_string(key);
        m->value = grpc_slice_from_copied_string(value);
        rc = 0;
    }
    pthread_mutex_unlock(&call->mu);
    return rc;
}

void gs_call_finish(gs_call_t *call, grpc_status_code status, const char *details,
                    const uint8_t *msg, size_t len)
{
    pthread_mutex_lock(&call->mu);
    if (call->state != GS_CALL_ACTIVE) {
        /* A second finish would drop the handler's reference twice. */
        pthread_mutex_unlock(&call->mu);
        log_error("gs_call_finish: called more than once", "method=%s", call->method->path);
        return;
    }
    call->state = GS_CALL_FINISHED;
    call->status = status;
    if (details != NULL) {
        call->status_details = grpc_slice_from_copied_string(details);
        call->has_details = true;
    }
    if (call->cancelled) {
        /* Nobody listens any more; make sure the core ends the call so the
         * close op completes and the call is released. */
        call->state = GS_CALL_STATUS_SENT;
        call_sync_idle_locked(call);
        grpc_call_cancel(call->call, NULL);
    } else {
        if (call->method->kind == GS_UNARY && status == GRPC_STATUS_OK)
            grpc_slice_buffer_add_indexed(&call->queue, msg_copy(msg, len));
        call_pump_locked(call);
    }
    pthread_mutex_unlock(&call->mu);
    call_unref(call);
}

/* --- completion handling ---------------------------------------------------- */

static int server_post_request(gs_server_t *s, const gs_method_t *m);

static int64_t deadline_to_clock_ms(gpr_timespec d)
{
    if (gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0)
        return INT64_MAX;
    /* gpr's monotonic clock has its own origin: measure what is left in the
     * deadline's own clock and add that to ours. */
    gpr_timespec left = d.clock_type == GPR_TIMESPAN ? d : gpr_time_sub(d, gpr_now(d.clock_type));
    if (left.tv_sec > GS_DEADLINE_MAX_S)
        return INT64_MAX;
    if (left.tv_sec < -GS_DEADLINE_MAX_S)
        left.tv_sec = -GS_DEADLINE_MAX_S;
    return clock_now_ms() + left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

/* Copies request metadata into NUL-terminated strings in the call's arena. */
static void call_copy_metadata(gs_call_t *c)
{
    size_t n = c->md.count;
    if (n == 0)
        return;
    size_t need = n * sizeof(gs_md_t);
    for (size_t i = 0; i < n; i++)
        need += GRPC_SLICE_LENGTH(c->md.metadata[i].key) +
                GRPC_SLICE_LENGTH(c->md.metadata[i].value) + 2;
    gs_md_t *v = grpc_call_arena_alloc(c->call, need);
    char *p = (char *)(v + n);
    for (size_t i = 0; i < n; i++) {
        const grpc_slice *k = &c->md.metadata[i].key, *val = &c->md.metadata[i].value;
        v[i].key = p;
        memcpy(p, GRPC_SLICE_START_PTR(*k), GRPC_SLICE_LENGTH(*k));
        p += GRPC_SLICE_LENGTH(*k);
        *p++ = '\0';
        v[i].value = p;
        memcpy(p, GRPC_SLICE_START_PTR(*val), GRPC_SLICE_LENGTH(*val));
        p += GRPC_SLICE_LENGTH(*val);
        *p++ = '\0';
    }
    c->mdv = v;
    c->n_md = n;
    grpc_metadata_array_destroy(&c->md);
    grpc_metadata_array_init(&c->md);
}

/* Consumes bb into *out: a reference to the received slice when the
 * message arrived in one piece (the usual case: no copy), else one merged,
 * decompressed copy. False (and *out untouched) when it cannot be read. */
static bool bb_take_slice(grpc_byte_buffer *bb, grpc_slice *out)
{
    bool ok = true;
    if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        *out = grpc_slice_ref(bb->data.raw.slice_buffer.slices[0]);
    } else {
        grpc_byte_buffer_reader reader;
        ok = grpc_byte_buffer_reader_init(&reader, bb) != 0;
        if (ok) {
            *out = grpc_byte_buffer_reader_readall(&reader);
            grpc_byte_buffer_reader_destroy(&reader);
        }
    }
    grpc_byte_buffer_destroy(bb);
    return ok;
}

/* Moves the request message into c->request. False when the client sent no
 * message. */
static bool call_take_request(gs_call_t *c)
{
    grpc_byte_buffer *bb = c->payload;
    if (bb == NULL)
        return false;
    c->payload = NULL;
    return bb_take_slice(bb, &c->request);
}

/* Answers a call to an unknown method: one batch, then the call is freed. */
static void call_answer_unimplemented(gs_call_t *c)
{
    static const char msg[] = "unknown method";
    grpc_slice details = grpc_slice_from_static_string(msg);
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
    ops[1].data.send_status_from_server.status_details = &details;
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &c->close_cancelled;
    c->state = GS_CALL_STATUS_SENT;
    c->refs = 1;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, 3, &c->tag_send, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("grpc unimplemented batch rejected", "err=%d", (int)e);
        call_release(c);
    }
}

/* Posts RECV_CLOSE_ON_SERVER; the op owns a reference the caller already
 * counted. */
static void call_start_close(gs_call_t *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    grpc_call_error e = grpc_call_start_batch(c->call, &op, 1, &c->tag_close, NULL);
    if (e != GRPC_CALL_OK) {
        log_error("grpc close op rejected", "method=%s err=%d", c->method->path, (int)e);
        call_unref(c);
    }
}

/* Bidi: posts the next RECV_MESSAGE, which takes its own reference. 0, or
 * -1 when the core refused it (the call is then cancelled). */
static int call_start_recv(gs_call_t *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_bb;
    /* Marked before the batch starts: its completion (on any CQ thread) may
     * come before start_batch returns. */
    pthread_mutex_lock(&c->mu);
    c->refs++;
    c->reading = true;
    call_sync_idle_locked(c);
    pthread_mutex_unlock(&c->mu);
    grpc_call_error e = grpc_call_start_batch(c->call, &op, 1, &c->tag_recv, NULL);
    if (e == GRPC_CALL_OK)
        return 0;
    pthread_mutex_lock(&c->mu);
    c->reading = false;
    call_sync_idle_locked(c);
    pthread_mutex_unlock(&c->mu);
    log_error("grpc recv op rejected", "method=%s err=%d", c->method->path, (int)e);
    grpc_call_cancel(c->call, NULL);
    call_unref(c);
    return -1;
}

static bool call_is_active(gs_call_t *c)
{
    pthread_mutex_lock(&c->mu);
    bool active = c->state == GS_CALL_ACTIVE;
    pthread_mutex_unlock(&c->mu);
    return active;
}

/* Bidi: the end of input reaches the handler (msg NULL), unless it already
 * finished. !ok (the read failed) means the call is broken: it is marked
 * cancelled first, so the handler sees why. */
static void call_deliver_end(gs_call_t *c, bool ok)
{
    gs_cancel_cb_t cb = {NULL, NULL};
    pthread_mutex_lock(&c->mu);
    bool active = c->state == GS_CALL_ACTIVE;
    if (!ok)
        cb = call_mark_cancelled_locked(c);
    pthread_mutex_unlock(&c->mu);
    if (cb.fn != NULL)
        cb.fn(cb.user);
    if (active)
        c->method->fn(c, NULL, 0, c->method->ctx);
}

static void server_on_recv(gs_call_t *c, bool ok)
{
    grpc_byte_buffer *bb = c->recv_bb;
    c->recv_bb = NULL;
    pthread_mutex_lock(&c->mu);
    c->reading = false;
    call_sync_idle_locked(c);
    pthread_mutex_unlock(&c->mu);
    if (!call_is_active(c)) {
        /* The handler finished already: nothing more is delivered. */
        if (bb != NULL)
            grpc_byte_buffer_destroy(bb);
        call_unref(c);
        return;
    }
    if (!ok || bb == NULL) {
        if (bb != NULL)
            grpc_byte_buffer_destroy(bb);
        call_deliver_end(c, ok);
        call_unref(c);
        return;
    }
    grpc_slice msg;
    if (!bb_take_slice(bb, &msg)) {
        log_error("grpc message unreadable", "method=%s", c->method->path);
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_INTERNAL, "message unreadable", NULL);
        call_deliver_end(c, false);
        call_unref(c);
        return;
    }
    c->method->fn(c, GRPC_SLICE_START_PTR(msg), GRPC_SLICE_LENGTH(msg), c->method->ctx);
    grpc_slice_unref(msg);
    /* A failed post cancelled the call: the handler still gets its end. */
    if (call_is_active(c) && call_start_recv(c) != 0)
        call_deliver_end(c, false);
    call_unref(c);
}

static void server_on_new(gs_server_t *s, gs_call_t *c, bool ok)
{
    pthread_mutex_lock(&s->mu);
    s->pending_requests--;
    if (ok)
        s->active_calls++;
    if (s->stopping)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        /* The server is shutting down and returned our request unused. */
        call_destroy(c);
        return;
    }
    /* Repost first: the server's shutdown waits for this call, so the new
     * request is always posted before the server can be destroyed. */
    server_post_request(s, c->method);
    if (c->method == NULL) {
        call_answer_unimplemented(c);
        return;
    }

    c->deadline_ms = deadline_to_clock_ms(c->deadline);
    call_copy_metadata(c);
    if (c->method->kind == GS_BIDI_STREAMING) {
        /* Nothing of the handler runs before the first read completes, so
         * the close op can go first: cancellation is noticed at once. */
        c->state = GS_CALL_ACTIVE;
        c->refs = 3; /* the handler's, the close op's, and ours until the first read is posted */
        call_start_close(c);
        if (call_start_recv(c) != 0)
            call_deliver_end(c, false);
        call_unref(c);
        return;
    }
    bool have_request = call_take_request(c);
    c->state = GS_CALL_ACTIVE;
    c->refs = 2; /* the handler's, and ours which the close op inherits */

    if (have_request)
        c->method->fn(c, GRPC_SLICE_START_PTR(c->request), GRPC_SLICE_LENGTH(c->request),
                      c->method->ctx);
    else
        gs_call_finish(c, GRPC_STATUS_INTERNAL, "request: message missing", NULL, 0);

    /* Posted after on_request returned, so on_cancel never runs before the
     * handler had the chance to attach it. */
    call_start_close(c);
}

static void server_on_close(gs_call_t *c, bool ok)
{
    gs_cancel_cb_t cb = {NULL, NULL};
    pthread_mutex_lock(&c->mu);
    if (!ok || c->close_cancelled)
        cb = call_mark_cancelled_locked(c);
    pthread_mutex_unlock(&c->mu);
    if (cb.fn != NULL)
        cb.fn(cb.user);
    call_unref(c);
}

static void server_on_send(gs_call_t *c, bool ok)
{
    if (c->method == NULL) {
        call_unref(c); /* the UNIMPLEMENTED answer is done */
        return;
    }
    gs_cancel_cb_t cb = {NULL, NULL};
    pthread_mutex_lock(&c->mu);
    if (c->send_bb != NULL) {
        grpc_byte_buffer_destroy(c->send_bb);
        c->send_bb = NULL;
    }
    c->send_busy = false;
    if (ok)
        call_pump_locked(c);
    else
        cb = call_mark_cancelled_locked(c); /* the client went away */
    call_sync_idle_locked(c);
    pthread_mutex_unlock(&c->mu);
    if (cb.fn != NULL)
        cb.fn(cb.user);
    call_unref(c);
}

static void *server_cq_loop(void *arg)
{
    gs_server_t *s = arg;
    /* Runs until the queue is shut down and drained (gs_server_shutdown or
     * gs_server_free); every event until then is ours to handle, including
     * requests returned unused at shutdown. */
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        gs_tag_t *tag = ev.tag;
        switch (tag->kind) {
        case GS_TAG_NEW:
            server_on_new(s, tag->call, ev.success != 0);
            break;
        case GS_TAG_CLOSE:
            server_on_close(tag->call, ev.success != 0);
            break;
        case GS_TAG_SEND:
            server_on_send(tag->call, ev.success != 0);
            break;
        case GS_TAG_RECV:
            server_on_recv(tag->call, ev.success != 0);
            break;
        case GS_TAG_SHUTDOWN:
            pthread_mutex_lock(&s->mu);
            s->shutdown_done = true;
            pthread_cond_broadcast(&s->cond);
            pthread_mutex_unlock(&s->mu);
            break;
        }
    }
    return NULL;
}

/* Posts one request for method m (NULL: the catch-all). 0, or -1 when it
 * could not be posted (the method then has one fewer outstanding). */
static int server_post_request(gs_server_t *s, const gs_method_t *m)
{
    gs_call_t *c = call_new(s, m);
    if (c == NULL) {
        log_error("grpc request not posted", "reason=\"out of memory\"%s", "");
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    bool stopping = s->stopping;
    if (!stopping)
        s->pending_requests++;
    pthread_mutex_unlock(&s->mu);
    if (stopping) {
        call_destroy(c);
        return 0;
    }
    grpc_call_error e;
    if (m != NULL)
        e = grpc_server_request_registered_call(
            s->server, m->handle, &c->call, &c->deadline, &c->md,
            m->kind == GS_BIDI_STREAMING ? NULL : &c->payload, s->cq, s->cq, &c->tag_new);
    else
        e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
                                     &c->tag_new);
    if (e != GRPC_CALL_OK) {
        log_error("grpc request not posted", "method=%s err=%d", m != NULL ? m->path : "*", (int)e);
        pthread_mutex_lock(&s->mu);
        s->pending_requests--;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);
        call_destroy(c);
        return -1;
    }
    return 0;
}

/* --- server ------------------------------------------------------------------ */

gs_server_t *gs_server_new(void)
{
    grpc_init();
    gs_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail_init;
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        goto fail_alloc;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto fail_alloc;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto fail_cond;
    s->tag_shutdown = (gs_tag_t){GS_TAG_SHUTDOWN, NULL};

    /* SO_REUSEPORT off: a second server on a taken port must fail to bind
     * rather than silently share the port's traffic. */
    grpc_arg argv[2];
    memset(argv, 0, sizeof(argv));
    argv[0].type = GRPC_ARG_INTEGER;
    argv[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    argv[0].value.integer = GS_MAX_RECV_MESSAGE;
    argv[1].type = GRPC_ARG_INTEGER;
    argv[1].key = GRPC_ARG_ALLOW_REUSEPORT;
    argv[1].value.integer = 0;
    grpc_channel_args args = {2, argv};
    s->server = grpc_server_create(&args, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    if (s->server == NULL || s->cq == NULL)
        goto fail;
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    return s;

fail:
    log_error("grpc server not created", "reason=\"out of memory\"%s", "");
    gs_server_free(s); /* balances grpc_init */
    return NULL;
fail_cond:
    pthread_cond_destroy(&s->cond);
fail_alloc:
    free(s);
fail_init:
    log_error("grpc server not created", "reason=\"out of memory\"%s", "");
    grpc_shutdown();
    return NULL;
}

int gs_server_add_method(gs_server_t *s, const char *path, gs_kind_t kind, gs_handler_fn fn,
                         void *ctx)
{
    if (s->started || path == NULL || path[0] != '/' || fn == NULL ||
        (kind != GS_UNARY && kind != GS_SERVER_STREAMING && kind != GS_BIDI_STREAMING))
        return -1;
    size_t len = strlen(path);
    gs_method_t *m = malloc(sizeof(*m) + len + 1);
    if (m == NULL)
        return -1;
    memcpy(m->path, path, len + 1);
    m->kind = kind;
    m->fn = fn;
    m->ctx = ctx;
    gs_method_t **grown = realloc(s->methods, (s->n_methods + 1) * sizeof(*grown));
    if (grown == NULL)
        goto fail;
    s->methods = grown;
    /* Bidi calls read every message themselves (RECV_MESSAGE). */
    m->handle = grpc_server_register_method(s->server, m->path, NULL,
                                            kind == GS_BIDI_STREAMING
                                                ? GRPC_SRM_PAYLOAD_NONE
                                                : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
                                            0);
    if (m->handle == NULL) {
        log_error("grpc method not registered", "method=%s", path);
        goto fail;
    }
    s->methods[s->n_methods++] = m;
    return 0;
fail:
    free(m);
    return -1;
}

void gs_server_set_tls(gs_server_t *s, const tls_files_t *t, bool require_client_cert)
{
    s->tls = t;
    s->require_client_cert = require_client_cert;
}

/* Plaintext, or TLS with the listener's key pair; with a client CA the
 * core verifies what the client presents (required or not). */
static grpc_server_credentials *server_credentials(const gs_server_t *s)
{
    if (!s->tls)
        return grpc_insecure_server_credentials_create();
    grpc_ssl_pem_key_cert_pair pair = {.private_key = s->tls->key_pem,
                                       .cert_chain = s->tls->cert_pem};
    grpc_ssl_client_certificate_request_type req =
        !s->tls->ca_pem            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
        : s->require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                 : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    return grpc_ssl_server_credentials_create_ex(s->tls->ca_pem, &pair, 1, req, NULL);
}

int gs_server_start(gs_server_t *s, const char *addr, int n_threads, char *err, size_t errlen)
{
    if (s->started || s->threads != NULL) {
        snprintf(err, errlen, "gs_server_start: server already started");
        return -1;
    }
    if (n_threads < 1)
        n_threads = 1;
    s->threads = calloc((size_t)n_threads, sizeof(*s->threads));
    if (s->threads == NULL) {
        snprintf(err, errlen, "gs_server_start: out of memory");
        return -1;
    }
    /* Threads first: if binding fails the server was never started, and
     * gs_server_free stops them by shutting the queue down. */
    for (int i = 0; i < n_threads; i++) {
        int rc = pthread_create(&s->threads[i], NULL, server_cq_loop, s);
        if (rc != 0) {
            snprintf(err, errlen, "gs_server_start: cannot create thread: %s", strerror(rc));
            return -1;
        }
        s->n_threads++;
    }
    grpc_server_credentials *creds = server_credentials(s);
    if (!creds) {
        snprintf(err, errlen, "listen %s: the TLS credentials were not accepted", addr);
        return -1;
    }
    int port = grpc_server_add_http2_port(s->server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port <= 0) {
        snprintf(err, errlen, "listen: cannot bind %s", addr);
        return -1;
    }
    grpc_server_start(s->server);
    s->started = true;
    s->backlog = GS_BACKLOG_PER_THREAD * n_threads;
    for (size_t i = 0; i < s->n_methods; i++)
        for (int k = 0; k < s->backlog; k++)
            if (server_post_request(s, s->methods[i]) != 0)
                goto fail_post;
    for (int k = 0; k < n_threads; k++)
        if (server_post_request(s, NULL) != 0)
            goto fail_post;
    return port;
fail_post:
    snprintf(err, errlen, "gs_server_start: cannot post call requests");
    return -1;
}

int gs_server_observe(gs_server_t *s, const gs_observer_t *o)
{
    if (s->started || o == NULL)
        return -1;
    gs_observer_t *grown = realloc(s->observers, (s->n_observers + 1) * sizeof(*grown));
    if (grown == NULL)
        return -1;
    s->observers = grown;
    s->observers[s->n_observers++] = *o;
    return 0;
}

bool gs_server_has_service(const gs_server_t *s, const char *service, size_t len)
{
    if (len == 0)
        return true; /* "" is the whole server */
    for (size_t i = 0; i < s->n_methods; i++) {
        const char *path = s->methods[i]->path; /* "/pkg.Service/Method" */
        const char *slash = strrchr(path, '/');
        if ((size_t)(slash - path - 1) == len && memcmp(path + 1, service, len) == 0)
            return true;
    }
    return false;
}

size_t gs_server_method_count(const gs_server_t *s)
{
    return s->n_methods;
}

const char *gs_server_method_path(const gs_server_t *s, size_t i)
{
    return i < s->n_methods ? s->methods[i]->path : NULL;
}

void gs_server_set_serving(gs_server_t *s, bool serving)
{
    for (size_t i = 0; i < s->n_observers; i++)
        if (s->observers[i].serving != NULL)
            s->observers[i].serving(s->observers[i].ctx, serving);
}

int gs_server_active_calls(gs_server_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->active_calls;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void server_join_threads(gs_server_t *s)
{
    for (int i = 0; i < s->n_threads; i++)
        pthread_join(s->threads[i], NULL);
    s->n_threads = 0;
    free(s->threads);
    s->threads = NULL;
}

void gs_server_shutdown(gs_server_t *s, int grace_ms)
{
    if (!s->started || s->shut)
        return;
    s->shut = true;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);

    /* Streams that never end by themselves (health Watch) end before the
     * grace. */
    for (size_t i = 0; i < s->n_observers; i++)
        if (s->observers[i].shutdown != NULL)
            s->observers[i].shutdown(s->observers[i].ctx);
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->tag_shutdown);

    /* Grace: until the core reports shutdown, or no call of ours is left
     * (idle client connections would otherwise hold the shutdown until the
     * grace ends), or the time is up. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = (int64_t)until.tv_nsec + (int64_t)(grace_ms > 0 ? grace_ms : 0) * 1000000;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_done && (s->active_calls > s->idle_bidi || s->pending_requests > 0))
        if (pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->mu);

    /* Cancels what is left (on_cancel runs; handlers finish those calls) and
     * drops client connections. */
    grpc_server_cancel_all_calls(s->server);
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_done || s->active_calls > 0)
        pthread_cond_wait(&s->cond, &s->mu);
    pthread_mutex_unlock(&s->mu);

    grpc_server_destroy(s->server);
    s->server = NULL;
    grpc_completion_queue_shutdown(s->cq);
    server_join_threads(s); /* they drain the queue to GRPC_QUEUE_SHUTDOWN */
    grpc_completion_queue_destroy(s->cq);
    s->cq = NULL;
    if (s->pending_requests != 0)
        log_error("grpc requests left after shutdown", "count=%d", s->pending_requests);
}

void gs_server_free(gs_server_t *s)
{
    if (s == NULL)
        return;
    if (s->started && !s->shut)
        gs_server_shutdown(s, 0);
    if (s->server != NULL) /* never started: nothing listens, nothing is posted */
        grpc_server_destroy(s->server);
    if (s->cq != NULL) {
        grpc_completion_queue_shutdown(s->cq);
        if (s->n_threads > 0) {
            server_join_threads(s);
        } else {
            grpc_event ev;
            do
                ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            while (ev.type != GRPC_QUEUE_SHUTDOWN);
        }
        grpc_completion_queue_destroy(s->cq);
    }
    free(s->threads);
    for (size_t i = 0; i < s->n_methods; i++)
        free(s->methods[i]);
    free(s->methods);
    for (size_t i = 0; i < s->n_observers; i++)
        if (s->observers[i].free != NULL)
            s->observers[i].free(s->observers[i].ctx);
    free(s->observers);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s);
    grpc_shutdown();
}
