/* Unit tests for grpc_server.c, grpc_health.c and grpc_client.c: a real
 * server on 127.0.0.1 (port picked by the kernel) with test handlers, driven
 * through the blocking client. Handlers that answer later run their work on
 * one worker thread, as the upstream engine would. Tests wait on counters
 * bumped by the handlers' callbacks, never on fixed sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc_client.h"
#include "grpc_health.h"
#include "grpc_server.h"

#define M_ECHO "/test.v1.Echo/Echo"
#define M_META "/test.v1.Echo/Meta"
#define M_DEADLINE "/test.v1.Echo/Deadline"
#define M_LATER "/test.v1.Echo/Later"
#define M_FAIL "/test.v1.Echo/Fail"
#define M_HANG_UNARY "/test.v1.Echo/HangUnary"
#define M_HANG_STREAM "/test.v1.Echo/HangStream"
#define M_COUNT "/test.v1.Echo/Count"
#define M_FLOOD "/test.v1.Echo/Flood"
#define M_HEALTH_CHECK "/grpc.health.v1.Health/Check"
#define M_HEALTH_WATCH "/grpc.health.v1.Health/Watch"

#define FLOOD_CHUNK (64 * 1024)
#define WAIT_MS 5000

/* --- events counted by the handlers ----------------------------------------- */

typedef struct {
    int arrived;   /* Later / Hang / Count calls that reached their handler */
    int cancelled; /* on_cancel runs */
    int freed;     /* on_free runs */
    int flood_accepted;
    int cancel_send_rc;  /* gs_call_send's result inside on_cancel */
    int cancel_saw_flag; /* gs_call_cancelled was true inside on_cancel */
} events_t;

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond;
static events_t ev;

static struct timespec abs_after_ms(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t ns = t.tv_nsec + (int64_t)ms * 1000000;
    t.tv_sec += ns / 1000000000;
    t.tv_nsec = ns % 1000000000;
    return t;
}

static void ev_add(int *field, int delta)
{
    pthread_mutex_lock(&ev_mu);
    *field += delta;
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_mu);
}

static int ev_get(const int *field)
{
    pthread_mutex_lock(&ev_mu);
    int v = *field;
    pthread_mutex_unlock(&ev_mu);
    return v;
}

/* Waits until *field >= target; returns the value seen. */
static int ev_wait(const int *field, int target)
{
    struct timespec until = abs_after_ms(WAIT_MS);
    pthread_mutex_lock(&ev_mu);
    while (*field < target)
        if (pthread_cond_timedwait(&ev_cond, &ev_mu, &until) != 0)
            break;
    int v = *field;
    pthread_mutex_unlock(&ev_mu);
    return v;
}

static void wait_no_active_calls(gs_server_t *s)
{
    int64_t until = clock_now_ms() + WAIT_MS;
    while (gs_server_active_calls(s) > 0 && clock_now_ms() < until) {
        struct timespec pause = {0, 2 * 1000000};
        nanosleep(&pause, NULL);
    }
    assert_int_equal(gs_server_active_calls(s), 0);
}

/* --- the worker: answers calls later, from another thread -------------------- */

typedef enum { JOB_FINISH_ECHO, JOB_STREAM_COUNT } job_kind_t;

typedef struct job {
    struct job *next;
    job_kind_t kind;
    gs_call_t *call;
    int64_t due_ms;
    long n;
    size_t len;
    uint8_t data[];
} job_t;

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    job_t *jobs;
    bool stop;
} worker;

static void job_run(job_t *j)
{
    if (j->kind == JOB_FINISH_ECHO) {
        gs_call_finish(j->call, GRPC_STATUS_OK, NULL, j->data, j->len);
        return;
    }
    char text[32];
    for (long i = 0; i < j->n; i++) {
        int n = snprintf(text, sizeof(text), "%ld", i);
        if (gs_call_send(j->call, (const uint8_t *)text, (size_t)n) != 0) {
            gs_call_finish(j->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "send refused", NULL, 0);
            return;
        }
    }
    gs_call_finish(j->call, GRPC_STATUS_OK, NULL, NULL, 0);
}

static void *worker_main(void *arg)
{
    pthread_mutex_lock(&worker.mu);
    for (;;) {
        job_t **best = NULL;
        for (job_t **p = &worker.jobs; *p != NULL; p = &(*p)->next)
            if (best == NULL || (*p)->due_ms < (*best)->due_ms)
                best = p;
        if (best == NULL) {
            if (worker.stop)
                break;
            pthread_cond_wait(&worker.cond, &worker.mu);
            continue;
        }
        int64_t wait_ms = (*best)->due_ms - clock_now_ms();
        if (wait_ms > 0) {
            struct timespec until = abs_after_ms((int)wait_ms);
            pthread_cond_timedwait(&worker.cond, &worker.mu, &until);
            continue;
        }
        job_t *j = *best;
        *best = j->next;
        pthread_mutex_unlock(&worker.mu);
        job_run(j);
        free(j);
        pthread_mutex_lock(&worker.mu);
    }
    pthread_mutex_unlock(&worker.mu);
    return NULL;
}

static void worker_push(job_kind_t kind, gs_call_t *call, int delay_ms, long n, const uint8_t *data,
                        size_t len)
{
    job_t *j = calloc(1, sizeof(*j) + len);
    assert_non_null(j);
    j->kind = kind;
    j->call = call;
    j->due_ms = clock_now_ms() + delay_ms;
    j->n = n;
    j->len = len;
    if (len > 0)
        memcpy(j->data, data, len);
    pthread_mutex_lock(&worker.mu);
    j->next = worker.jobs;
    worker.jobs = j;
    pthread_cond_broadcast(&worker.cond);
    pthread_mutex_unlock(&worker.mu);
}

/* --- handlers ------------------------------------------------------------------ */

typedef struct {
    gs_call_t *call;
    bool finish_on_cancel;
} tuser_t;

static void tuser_cancelled(void *user)
{
    tuser_t *u = user;
    if (u->finish_on_cancel) {
        ev_add(&ev.cancel_saw_flag, gs_call_cancelled(u->call) ? 1 : 0);
        pthread_mutex_lock(&ev_mu);
        ev.cancel_send_rc = gs_call_send(u->call, (const uint8_t *)"x", 1);
        pthread_mutex_unlock(&ev_mu);
        gs_call_finish(u->call, GRPC_STATUS_CANCELLED, "cancelled", NULL, 0);
    }
    ev_add(&ev.cancelled, 1);
}

static void tuser_free(void *user)
{
    free(user);
    ev_add(&ev.freed, 1);
}

static void attach_user(gs_call_t *call, bool finish_on_cancel)
{
    tuser_t *u = calloc(1, sizeof(*u));
    assert_non_null(u);
    u->call = call;
    u->finish_on_cancel = finish_on_cancel;
    gs_call_set_user(call, u, tuser_cancelled, tuser_free);
}

static void h_echo(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    gs_call_finish(call, GRPC_STATUS_OK, NULL, msg, len);
}

static void h_meta(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    const char *auth = gs_call_metadata(call, "authorization");
    char out[256];
    int n =
        snprintf(out, sizeof(out), "%s|%s", auth != NULL ? auth : "(none)", gs_call_method(call));
    gs_call_finish(call, GRPC_STATUS_OK, NULL, (const uint8_t *)out, (size_t)n);
}

static void h_deadline(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    int64_t d = gs_call_deadline_ms(call);
    char out[64];
    int n = d == INT64_MAX ? snprintf(out, sizeof(out), "none")
                           : snprintf(out, sizeof(out), "%lld", (long long)(d - clock_now_ms()));
    gs_call_finish(call, GRPC_STATUS_OK, NULL, (const uint8_t *)out, (size_t)n);
}

static void h_fail(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                   "messages[2].role: expected one of system, user, assistant, tool", NULL, 0);
}

/* Request "<delay_ms>": answers with the request bytes after the delay. */
static void h_later(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    attach_user(call, false);
    char text[32] = {0};
    memcpy(text, msg, len < sizeof(text) - 1 ? len : sizeof(text) - 1);
    ev_add(&ev.arrived, 1);
    worker_push(JOB_FINISH_ECHO, call, atoi(text), 0, msg, len);
}

/* Never answers; finishes only when cancelled. */
static void h_hang(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    attach_user(call, true);
    ev_add(&ev.arrived, 1);
}

/* Request "<n>": streams "0", "1", … "n-1" from the worker, then OK. */
static void h_count(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    attach_user(call, false);
    char text[32] = {0};
    memcpy(text, msg, len < sizeof(text) - 1 ? len : sizeof(text) - 1);
    ev_add(&ev.arrived, 1);
    worker_push(JOB_STREAM_COUNT, call, 0, atol(text), NULL, 0);
}

/* Sends 64 KiB messages from the CQ thread until the queue refuses one. */
static void h_flood(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    static uint8_t chunk[FLOOD_CHUNK];
    memset(chunk, 'f', sizeof(chunk));
    int accepted = 0;
    while (accepted < 1000 && gs_call_send(call, chunk, sizeof(chunk)) == 0)
        accepted++;
    ev_add(&ev.flood_accepted, accepted);
    gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "send queue full", NULL, 0);
}

/* --- fixtures -------------------------------------------------------------------- */

typedef struct {
    gs_server_t *srv;
    gc_channel_t *ch;
    int port;
} fixture_t;

static fixture_t main_fx;

static void fixture_start(fixture_t *fx, int n_threads)
{
    fx->srv = gs_server_new();
    assert_non_null(fx->srv);
    assert_int_equal(gs_health_register(fx->srv), 0);
    static const struct {
        const char *path;
        gs_kind_t kind;
        gs_handler_fn fn;
    } methods[] = {
        {M_ECHO, GS_UNARY, h_echo},
        {M_META, GS_UNARY, h_meta},
        {M_DEADLINE, GS_UNARY, h_deadline},
        {M_LATER, GS_UNARY, h_later},
        {M_FAIL, GS_UNARY, h_fail},
        {M_HANG_UNARY, GS_UNARY, h_hang},
        {M_HANG_STREAM, GS_SERVER_STREAMING, h_hang},
        {M_COUNT, GS_SERVER_STREAMING, h_count},
        {M_FLOOD, GS_SERVER_STREAMING, h_flood},
    };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        assert_int_equal(
            gs_server_add_method(fx->srv, methods[i].path, methods[i].kind, methods[i].fn, NULL),
            0);
    char err[256] = "";
    fx->port = gs_server_start(fx->srv, "127.0.0.1:0", n_threads, err, sizeof(err));
    if (fx->port <= 0)
        fail_msg("gs_server_start: %s", err);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", fx->port);
    fx->ch = gc_channel_new(target);
    assert_non_null(fx->ch);
}

static void fixture_stop(fixture_t *fx, int grace_ms)
{
    if (fx->srv != NULL) {
        gs_server_shutdown(fx->srv, grace_ms);
        gs_server_free(fx->srv);
        fx->srv = NULL;
    }
    if (fx->ch != NULL) {
        gc_channel_free(fx->ch);
        fx->ch = NULL;
    }
}

static int group_setup(void **state)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev_cond, &ca);
    pthread_cond_init(&worker.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&worker.mu, NULL);
    if (pthread_create(&worker.thread, NULL, worker_main, NULL) != 0)
        return -1;
    fixture_start(&main_fx, 2);
    return 0;
}

static int group_teardown(void **state)
{
    fixture_stop(&main_fx, 1000);
    pthread_mutex_lock(&worker.mu);
    worker.stop = true;
    pthread_cond_broadcast(&worker.cond);
    pthread_mutex_unlock(&worker.mu);
    pthread_join(worker.thread, NULL);
    pthread_mutex_destroy(&worker.mu);
    pthread_cond_destroy(&worker.cond);
    pthread_cond_destroy(&ev_cond);
    return 0;
}

/* --- client helpers ------------------------------------------------------------- */

static grpc_status_code call_text(gc_channel_t *ch, const char *method, const char *bearer,
                                  int timeout_ms, const char *req, buf_t *resp, buf_t *details)
{
    return gc_unary(ch, method, bearer, timeout_ms, req, strlen(req), resp, details);
}

static size_t health_request(const char *service, uint8_t *out, size_t cap)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    assert_true(grpc__health__v1__health_check_request__get_packed_size(&req) <= cap);
    return grpc__health__v1__health_check_request__pack(&req, out);
}

static int health_decode(const buf_t *b)
{
    Grpc__Health__V1__HealthCheckResponse *r =
        grpc__health__v1__health_check_response__unpack(NULL, b->len, (const uint8_t *)b->data);
    assert_non_null(r);
    int status = (int)r->status;
    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
    return status;
}

/* Status of Check(service); *serving gets the reported ServingStatus. */
static grpc_status_code health_check(gc_channel_t *ch, const char *service, int *serving)
{
    uint8_t req[256];
    size_t n = health_request(service, req, sizeof(req));
    buf_t resp = BUF_INIT(1024);
    grpc_status_code st = gc_unary(ch, M_HEALTH_CHECK, NULL, 2000, req, n, &resp, NULL);
    *serving = st == GRPC_STATUS_OK ? health_decode(&resp) : -1;
    buf_free(&resp);
    return st;
}

static int stream_next_health(gc_stream_t *s)
{
    buf_t msg = BUF_INIT(1024);
    int got = gc_stream_next(s, &msg);
    int status = got == 1 ? health_decode(&msg) : -1;
    buf_free(&msg);
    return status;
}

/* --- tests ------------------------------------------------------------------------ */

static void test_unary_echo_returns_request_bytes(void **state)
{
    buf_t resp = BUF_INIT(1024), details = BUF_INIT(1024);
    assert_int_equal(call_text(main_fx.ch, M_ECHO, NULL, 2000, "hello", &resp, &details),
                     GRPC_STATUS_OK);
    assert_string_equal(buf_cstr(&resp), "hello");
    assert_int_equal(details.len, 0);
    buf_reset(&resp);
    assert_int_equal(call_text(main_fx.ch, M_ECHO, NULL, 2000, "", &resp, NULL), GRPC_STATUS_OK);
    assert_int_equal(resp.len, 0);
    buf_free(&resp);
    buf_free(&details);

    /* Large enough to arrive in several slices. */
    size_t n = 3u << 20;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 23);
    buf_t big_resp = BUF_INIT(4u << 20);
    assert_int_equal(gc_unary(main_fx.ch, M_ECHO, NULL, 10000, big, n, &big_resp, NULL),
                     GRPC_STATUS_OK);
    assert_int_equal(big_resp.len, n);
    assert_memory_equal(big_resp.data, big, n);
    free(big);
    buf_free(&big_resp);
    wait_no_active_calls(main_fx.srv);
}

static void test_unary_failure_carries_status_and_details(void **state)
{
    buf_t resp = BUF_INIT(1024), details = BUF_INIT(1024);
    assert_int_equal(call_text(main_fx.ch, M_FAIL, NULL, 2000, "x", &resp, &details),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(buf_cstr(&details),
                        "messages[2].role: expected one of system, user, assistant, tool");
    assert_int_equal(resp.len, 0);
    buf_free(&resp);
    buf_free(&details);
}

static void test_unknown_method_is_unimplemented(void **state)
{
    buf_t details = BUF_INIT(1024);
    assert_int_equal(call_text(main_fx.ch, "/test.v1.Echo/Nope", NULL, 2000, "x", NULL, &details),
                     GRPC_STATUS_UNIMPLEMENTED);
    assert_int_equal(call_text(main_fx.ch, "/other.Service/Echo", NULL, 2000, "x", NULL, NULL),
                     GRPC_STATUS_UNIMPLEMENTED);
    buf_free(&details);
    wait_no_active_calls(main_fx.srv);
}

static void test_metadata_and_method_visible_to_handler(void **state)
{
    buf_t resp = BUF_INIT(1024);
    assert_int_equal(call_text(main_fx.ch, M_META, "sk-test-123", 2000, "", &resp, NULL),
                     GRPC_STATUS_OK);
    assert_string_equal(buf_cstr(&resp), "Bearer sk-test-123|" M_META);
    buf_reset(&resp);
    assert_int_equal(call_text(main_fx.ch, M_META, NULL, 2000, "", &resp, NULL), GRPC_STATUS_OK);
    assert_string_equal(buf_cstr(&resp), "(none)|" M_META);
    buf_free(&resp);
}

static void test_deadline_visible_to_handler(void **state)
{
    buf_t resp = BUF_INIT(1024);
    assert_int_equal(call_text(main_fx.ch, M_DEADLINE, NULL, 5000, "", &resp, NULL),
                     GRPC_STATUS_OK);
    /* grpc-timeout on the wire is rounded up to a coarser unit: allow a
     * little above the 5 s asked for. */
    long left = atol(buf_cstr(&resp));
    assert_in_range(left, 3000, 5100);
    buf_reset(&resp);
    assert_int_equal(call_text(main_fx.ch, M_DEADLINE, NULL, 0, "", &resp, NULL), GRPC_STATUS_OK);
    assert_string_equal(buf_cstr(&resp), "none");
    buf_free(&resp);
}

static void test_deadline_exceeded_cancels_waiting_handler(void **state)
{
    int cancelled0 = ev_get(&ev.cancelled), freed0 = ev_get(&ev.freed);
    int flag0 = ev_get(&ev.cancel_saw_flag);
    int64_t t0 = clock_now_ms();
    assert_int_equal(call_text(main_fx.ch, M_HANG_UNARY, NULL, 200, "", NULL, NULL),
                     GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_in_range(clock_now_ms() - t0, 150, 3000);
    assert_int_equal(ev_wait(&ev.cancelled, cancelled0 + 1), cancelled0 + 1);
    assert_int_equal(ev_wait(&ev.freed, freed0 + 1), freed0 + 1);
    assert_int_equal(ev_get(&ev.cancel_saw_flag), flag0 + 1);
    wait_no_active_calls(main_fx.srv);
}

static void test_client_cancel_runs_on_cancel_then_on_free(void **state)
{
    int arrived0 = ev_get(&ev.arrived), cancelled0 = ev_get(&ev.cancelled);
    int freed0 = ev_get(&ev.freed);
    gc_stream_t *s = gc_stream_start(main_fx.ch, M_HANG_STREAM, NULL, 0, "", 0);
    assert_non_null(s);
    assert_int_equal(ev_wait(&ev.arrived, arrived0 + 1), arrived0 + 1);
    assert_int_equal(ev_get(&ev.cancelled), cancelled0);
    gc_stream_cancel(s);
    buf_t msg = BUF_INIT(1024);
    assert_int_equal(gc_stream_next(s, &msg), 0);
    buf_free(&msg);
    assert_int_equal(gc_stream_finish(s, NULL), GRPC_STATUS_CANCELLED);
    assert_int_equal(ev_wait(&ev.cancelled, cancelled0 + 1), cancelled0 + 1);
    assert_int_equal(ev_wait(&ev.freed, freed0 + 1), freed0 + 1);
    /* Sending on a cancelled call is refused. */
    assert_int_equal(ev_get(&ev.cancel_send_rc), -1);
    wait_no_active_calls(main_fx.srv);
}

static void test_unary_answered_later_from_another_thread(void **state)
{
    int freed0 = ev_get(&ev.freed), cancelled0 = ev_get(&ev.cancelled);
    buf_t resp = BUF_INIT(1024);
    int64_t t0 = clock_now_ms();
    assert_int_equal(call_text(main_fx.ch, M_LATER, NULL, 5000, "60", &resp, NULL), GRPC_STATUS_OK);
    assert_true(clock_now_ms() - t0 >= 55);
    assert_string_equal(buf_cstr(&resp), "60");
    buf_free(&resp);
    assert_int_equal(ev_wait(&ev.freed, freed0 + 1), freed0 + 1);
    /* A call that ended normally is not reported as cancelled. */
    assert_int_equal(ev_get(&ev.cancelled), cancelled0);
}

static void test_stream_preserves_order_of_10000_messages(void **state)
{
    gc_stream_t *s = gc_stream_start(main_fx.ch, M_COUNT, "k", 20000, "10000", 5);
    assert_non_null(s);
    buf_t msg = BUF_INIT(1024);
    char want[32];
    long i = 0;
    while (gc_stream_next(s, &msg) == 1) {
        snprintf(want, sizeof(want), "%ld", i);
        if (strcmp(buf_cstr(&msg), want) != 0)
            fail_msg("message %ld: got \"%s\"", i, buf_cstr(&msg));
        i++;
    }
    buf_free(&msg);
    assert_int_equal(i, 10000);
    assert_int_equal(gc_stream_finish(s, NULL), GRPC_STATUS_OK);
    wait_no_active_calls(main_fx.srv);
}

static void test_stream_send_queue_capped_at_4_mib(void **state)
{
    /* One CQ thread: while the handler runs nothing completes, so the first
     * message is in flight and every later one waits in the queue. */
    fixture_t fx = {0};
    fixture_start(&fx, 1);
    int accepted0 = ev_get(&ev.flood_accepted);
    gc_stream_t *s = gc_stream_start(fx.ch, M_FLOOD, NULL, 10000, "", 0);
    assert_non_null(s);
    buf_t msg = BUF_INIT(1 << 20), details = BUF_INIT(1024);
    int got = 0;
    while (gc_stream_next(s, &msg) == 1) {
        assert_int_equal(msg.len, FLOOD_CHUNK);
        got++;
    }
    assert_int_equal(gc_stream_finish(s, &details), GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_string_equal(buf_cstr(&details), "send queue full");
    int accepted = ev_get(&ev.flood_accepted) - accepted0;
    assert_int_equal(accepted, 1 + (4 << 20) / FLOOD_CHUNK);
    assert_int_equal(got, accepted);
    buf_free(&msg);
    buf_free(&details);
    fixture_stop(&fx, 1000);
}

static void test_oversized_request_is_resource_exhausted(void **state)
{
    size_t n = (16u << 20) + 1024;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'b', n);
    assert_int_equal(gc_unary(main_fx.ch, M_ECHO, NULL, 10000, big, n, NULL, NULL),
                     GRPC_STATUS_RESOURCE_EXHAUSTED);
    free(big);
    wait_no_active_calls(main_fx.srv);
}

static void test_health_check_reports_serving_state(void **state)
{
    enum { SERVING = 1, NOT_SERVING = 2 };
    int serving;
    assert_int_equal(health_check(main_fx.ch, "", &serving), GRPC_STATUS_OK);
    assert_int_equal(serving, SERVING);
    assert_int_equal(health_check(main_fx.ch, "test.v1.Echo", &serving), GRPC_STATUS_OK);
    assert_int_equal(serving, SERVING);
    assert_int_equal(health_check(main_fx.ch, "test.v1.Nope", &serving), GRPC_STATUS_NOT_FOUND);
    assert_int_equal(health_check(main_fx.ch, "test.v1", &serving), GRPC_STATUS_NOT_FOUND);

    gs_server_set_serving(main_fx.srv, false);
    assert_int_equal(health_check(main_fx.ch, "", &serving), GRPC_STATUS_OK);
    assert_int_equal(serving, NOT_SERVING);
    assert_int_equal(health_check(main_fx.ch, "test.v1.Echo", &serving), GRPC_STATUS_OK);
    assert_int_equal(serving, NOT_SERVING);
    gs_server_set_serving(main_fx.srv, true);
    assert_int_equal(health_check(main_fx.ch, "", &serving), GRPC_STATUS_OK);
    assert_int_equal(serving, SERVING);
}

static void test_health_watch_receives_updates(void **state)
{
    enum { SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3 };
    uint8_t req[256];
    size_t n = health_request("test.v1.Echo", req, sizeof(req));
    gc_stream_t *s = gc_stream_start(main_fx.ch, M_HEALTH_WATCH, NULL, 0, req, n);
    assert_non_null(s);
    assert_int_equal(stream_next_health(s), SERVING);
    gs_server_set_serving(main_fx.srv, false);
    assert_int_equal(stream_next_health(s), NOT_SERVING);
    gs_server_set_serving(main_fx.srv, false); /* no change, no message */
    gs_server_set_serving(main_fx.srv, true);
    assert_int_equal(stream_next_health(s), SERVING);
    gc_stream_cancel(s);
    assert_int_equal(gc_stream_finish(s, NULL), GRPC_STATUS_CANCELLED);

    n = health_request("test.v1.Nope", req, sizeof(req));
    s = gc_stream_start(main_fx.ch, M_HEALTH_WATCH, NULL, 0, req, n);
    assert_non_null(s);
    assert_int_equal(stream_next_health(s), SERVICE_UNKNOWN);
    gc_stream_cancel(s);
    assert_int_equal(gc_stream_finish(s, NULL), GRPC_STATUS_CANCELLED);
    wait_no_active_calls(main_fx.srv);
}

typedef struct {
    gc_channel_t *ch;
    const char *method;
    const char *req;
    grpc_status_code status;
    buf_t resp;
} client_job_t;

static void *client_thread(void *arg)
{
    client_job_t *j = arg;
    j->status = gc_unary(j->ch, j->method, NULL, 0, j->req, strlen(j->req), &j->resp, NULL);
    return NULL;
}

typedef struct {
    gc_channel_t *ch;
    int first, second, more;
    grpc_status_code status;
} watch_job_t;

static void *watch_thread(void *arg)
{
    watch_job_t *w = arg;
    uint8_t req[16];
    size_t n = health_request("", req, sizeof(req));
    gc_stream_t *s = gc_stream_start(w->ch, M_HEALTH_WATCH, NULL, 0, req, n);
    w->first = stream_next_health(s);
    ev_add(&ev.arrived, 1);
    w->second = stream_next_health(s);
    w->more = stream_next_health(s);
    w->status = gc_stream_finish(s, NULL);
    return NULL;
}

static void test_shutdown_finishes_calls_within_grace_and_cancels_the_rest(void **state)
{
    fixture_t fx = {0};
    fixture_start(&fx, 2);
    int arrived0 = ev_get(&ev.arrived), cancelled0 = ev_get(&ev.cancelled);
    int freed0 = ev_get(&ev.freed);
    client_job_t quick = {fx.ch, M_LATER, "300", GRPC_STATUS_UNKNOWN, BUF_INIT(1024)};
    client_job_t stuck = {fx.ch, M_HANG_UNARY, "", GRPC_STATUS_UNKNOWN, BUF_INIT(1024)};
    watch_job_t watch = {fx.ch, 0, 0, 0, GRPC_STATUS_UNKNOWN};
    pthread_t t_quick, t_stuck, t_watch;
    assert_int_equal(pthread_create(&t_quick, NULL, client_thread, &quick), 0);
    assert_int_equal(pthread_create(&t_stuck, NULL, client_thread, &stuck), 0);
    assert_int_equal(pthread_create(&t_watch, NULL, watch_thread, &watch), 0);
    assert_int_equal(ev_wait(&ev.arrived, arrived0 + 3), arrived0 + 3);

    int64_t t0 = clock_now_ms();
    gs_server_shutdown(fx.srv, 1200);
    int64_t took = clock_now_ms() - t0;
    pthread_join(t_quick, NULL);
    pthread_join(t_stuck, NULL);
    pthread_join(t_watch, NULL);

    assert_int_equal(quick.status, GRPC_STATUS_OK);
    assert_string_equal(buf_cstr(&quick.resp), "300");
    if (stuck.status != GRPC_STATUS_CANCELLED && stuck.status != GRPC_STATUS_UNAVAILABLE)
        fail_msg("stuck call ended with %s", gc_status_name(stuck.status));
    assert_int_equal(watch.first, 1);  /* SERVING */
    assert_int_equal(watch.second, 2); /* NOT_SERVING, sent at shutdown */
    assert_int_equal(watch.more, -1);
    assert_int_equal(watch.status, GRPC_STATUS_UNAVAILABLE);
    /* Only the stuck call was cancelled: the grace was used, then ended it. */
    assert_int_equal(ev_get(&ev.cancelled), cancelled0 + 1);
    assert_int_equal(ev_get(&ev.freed), freed0 + 2);
    assert_in_range(took, 1100, 6000);
    assert_int_equal(gs_server_active_calls(fx.srv), 0);
    buf_free(&quick.resp);
    buf_free(&stuck.resp);
    fixture_stop(&fx, 0);
}

static void test_shutdown_without_calls_does_not_wait_for_grace(void **state)
{
    fixture_t fx = {0};
    fixture_start(&fx, 2);
    /* A connected, idle client must not hold the shutdown. */
    assert_int_equal(call_text(fx.ch, M_ECHO, NULL, 2000, "x", NULL, NULL), GRPC_STATUS_OK);
    int64_t t0 = clock_now_ms();
    gs_server_shutdown(fx.srv, 20000);
    assert_in_range(clock_now_ms() - t0, 0, 3000);
    /* Later calls find nobody listening. */
    assert_int_equal(call_text(fx.ch, M_ECHO, NULL, 2000, "x", NULL, NULL),
                     GRPC_STATUS_UNAVAILABLE);
    fixture_stop(&fx, 0);
}

#define N_CLIENTS 64
#define CALLS_PER_CLIENT 20

typedef struct {
    int id;
    int ok;
} load_job_t;

static void *load_thread(void *arg)
{
    load_job_t *j = arg;
    buf_t resp = BUF_INIT(256);
    char req[64];
    for (int i = 0; i < CALLS_PER_CLIENT; i++) {
        snprintf(req, sizeof(req), "client-%d-call-%d", j->id, i);
        buf_reset(&resp);
        if (gc_unary(main_fx.ch, M_ECHO, "k", 10000, req, strlen(req), &resp, NULL) ==
                GRPC_STATUS_OK &&
            strcmp(buf_cstr(&resp), req) == 0)
            j->ok++;
    }
    buf_free(&resp);
    return NULL;
}

static void test_64_concurrent_unary_calls_all_ok(void **state)
{
    pthread_t th[N_CLIENTS];
    load_job_t jobs[N_CLIENTS];
    for (int i = 0; i < N_CLIENTS; i++) {
        jobs[i] = (load_job_t){i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, load_thread, &jobs[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        pthread_join(th[i], NULL);
        ok += jobs[i].ok;
    }
    assert_int_equal(ok, N_CLIENTS * CALLS_PER_CLIENT);
    wait_no_active_calls(main_fx.srv);
}

/* Health is a service its owner registers, not part of the server: a server
 * without it answers UNIMPLEMENTED, as for any method it does not have. */
static void test_health_absent_unless_registered(void **state)
{
    (void)state;
    gs_server_t *s = gs_server_new();
    assert_non_null(s);
    assert_int_equal(gs_server_add_method(s, M_ECHO, GS_UNARY, h_echo, NULL), 0);
    assert_true(gs_server_has_service(s, "test.v1.Echo", strlen("test.v1.Echo")));
    assert_false(gs_server_has_service(s, "grpc.health.v1.Health", 21));
    char err[256] = "";
    int port = gs_server_start(s, "127.0.0.1:0", 1, err, sizeof(err));
    if (port <= 0)
        fail_msg("gs_server_start: %s", err);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    gc_channel_t *ch = gc_channel_new(target);
    assert_non_null(ch);
    int serving;
    assert_int_equal(health_check(ch, "", &serving), GRPC_STATUS_UNIMPLEMENTED);
    gc_channel_free(ch);
    gs_server_shutdown(s, 0);
    gs_server_free(s);
}

static void test_bind_failure_names_the_address(void **state)
{
    gs_server_t *s = gs_server_new();
    assert_non_null(s);
    char addr[64], err[256] = "", want[128];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", main_fx.port);
    assert_int_equal(gs_server_start(s, addr, 1, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "listen: cannot bind %s", addr);
    assert_string_equal(err, want);
    gs_server_free(s);
}

static void test_add_method_rejected_after_start(void **state)
{
    assert_int_equal(
        gs_server_add_method(main_fx.srv, "/test.v1.Echo/Late", GS_UNARY, h_echo, NULL), -1);
}

static void test_status_names_cover_every_code(void **state)
{
    static const char *const want[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    for (int i = 0; i < 17; i++)
        assert_string_equal(gc_status_name((grpc_status_code)i), want[i]);
    assert_string_equal(gc_status_name((grpc_status_code)17), "UNKNOWN");
    assert_string_equal(gc_status_name((grpc_status_code)-1), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_echo_returns_request_bytes),
        cmocka_unit_test(test_unary_failure_carries_status_and_details),
        cmocka_unit_test(test_unknown_method_is_unimplemented),
        cmocka_unit_test(test_metadata_and_method_visible_to_handler),
        cmocka_unit_test(test_deadline_visible_to_handler),
        cmocka_unit_test(test_deadline_exceeded_cancels_waiting_handler),
        cmocka_unit_test(test_client_cancel_runs_on_cancel_then_on_free),
        cmocka_unit_test(test_unary_answered_later_from_another_thread),
        cmocka_unit_test(test_stream_preserves_order_of_10000_messages),
        cmocka_unit_test(test_stream_send_queue_capped_at_4_mib),
        cmocka_unit_test(test_oversized_request_is_resource_exhausted),
        cmocka_unit_test(test_health_check_reports_serving_state),
        cmocka_unit_test(test_health_watch_receives_updates),
        cmocka_unit_test(test_health_absent_unless_registered),
        cmocka_unit_test(test_shutdown_finishes_calls_within_grace_and_cancels_the_rest),
        cmocka_unit_test(test_shutdown_without_calls_does_not_wait_for_grace),
        cmocka_unit_test(test_64_concurrent_unary_calls_all_ok),
        cmocka_unit_test(test_bind_failure_names_the_address),
        cmocka_unit_test(test_add_method_rejected_after_start),
        cmocka_unit_test(test_status_names_cover_every_code),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
