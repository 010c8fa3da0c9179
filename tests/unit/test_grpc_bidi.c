/* Unit tests for grpc_server.c's bidi-streaming calls (GS_BIDI_STREAMING): a
 * real server on 127.0.0.1 with test handlers, driven by the core-API client
 * in tests/support/bidi_client.c. Handlers count what they saw; tests wait
 * on those counters, never on fixed sleeps.
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

#include "bidi_client.h"
#include "clock.h"
#include "grpc_server.h"

#define M_ECHO "/test.v1.Bidi/Echo"
#define M_STOP "/test.v1.Bidi/Stop"
#define WAIT_MS 5000

static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static struct {
    int messages;       /* fn calls with a message */
    int ends;           /* fn calls with NULL */
    int ends_cancelled; /* ... of which gs_call_cancelled was true */
    int cancels;        /* on_cancel runs */
} ev;

static void ev_add(int *field)
{
    pthread_mutex_lock(&ev_mu);
    (*field)++;
    pthread_cond_broadcast(&ev_cond);
    pthread_mutex_unlock(&ev_mu);
}

static int ev_wait(const int *field, int target)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&ev_mu);
    while (*field < target)
        if (pthread_cond_timedwait(&ev_cond, &ev_mu, &until) != 0)
            break;
    int v = *field;
    pthread_mutex_unlock(&ev_mu);
    return v;
}

static void on_cancel(void *user)
{
    ev_add(&ev.cancels);
}

/* Echoes every message; OK at the end of input. */
static void h_echo(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    if (msg == NULL) {
        bool cancelled = gs_call_cancelled(call);
        ev_add(&ev.ends);
        if (cancelled)
            ev_add(&ev.ends_cancelled);
        gs_call_finish(call, GRPC_STATUS_OK, "bye", NULL, 0);
        return;
    }
    gs_call_set_user(call, NULL, on_cancel, NULL);
    ev_add(&ev.messages);
    if (gs_call_send(call, msg, len) != 0)
        gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "send refused", NULL, 0);
}

/* Finishes the call on the message "stop", inside fn. */
static void h_stop(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    if (msg == NULL) {
        ev_add(&ev.ends);
        gs_call_finish(call, GRPC_STATUS_OK, NULL, NULL, 0);
        return;
    }
    ev_add(&ev.messages);
    if (len == 4 && memcmp(msg, "stop", 4) == 0)
        gs_call_finish(call, GRPC_STATUS_FAILED_PRECONDITION, "stopped", NULL, 0);
}

typedef struct {
    gs_server_t *srv;
    int port;
} fixture_t;

static int setup(void **state)
{
    memset(&ev, 0, sizeof(ev));
    fixture_t *f = calloc(1, sizeof(*f));
    f->srv = gs_server_new();
    assert_non_null(f->srv);
    assert_int_equal(gs_server_add_method(f->srv, M_ECHO, GS_BIDI_STREAMING, h_echo, NULL), 0);
    assert_int_equal(gs_server_add_method(f->srv, M_STOP, GS_BIDI_STREAMING, h_stop, NULL), 0);
    char err[128];
    f->port = gs_server_start(f->srv, "127.0.0.1:0", 2, err, sizeof(err));
    assert_true(f->port > 0);
    *state = f;
    return 0;
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

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->srv != NULL) {
        wait_no_active_calls(f->srv);
        gs_server_shutdown(f->srv, 1000);
        gs_server_free(f->srv);
    }
    free(f);
    return 0;
}

static void expect_recv(bidi_client_t *b, const char *want)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    assert_int_equal(bidi_recv(b, &msg, &len), 1);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(msg, want, len);
    free(msg);
}

static void test_bidi_echo_1000_messages_in_order_on_one_stream(void **state)
{
    fixture_t *f = *state;
    bidi_client_t *b = bidi_start(f->port, M_ECHO, WAIT_MS);
    assert_non_null(b);
    char text[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(text, sizeof(text), "m%d", i);
        assert_int_equal(bidi_send(b, text, (size_t)n), 0);
        expect_recv(b, text);
    }
    assert_int_equal(bidi_half_close(b), 0);
    uint8_t *msg;
    size_t len;
    assert_int_equal(bidi_recv(b, &msg, &len), 0);
    char details[64];
    assert_int_equal(bidi_finish(b, details, sizeof(details)), GRPC_STATUS_OK);
    assert_string_equal(details, "bye");
    assert_int_equal(ev_wait(&ev.ends, 1), 1);
    assert_int_equal(ev.messages, 1000);
    assert_int_equal(ev.ends_cancelled, 0);
}

static void test_bidi_pipelined_requests_answered_in_order(void **state)
{
    fixture_t *f = *state;
    bidi_client_t *b = bidi_start(f->port, M_ECHO, WAIT_MS);
    assert_non_null(b);
    char text[32];
    for (int i = 0; i < 200; i++) {
        int n = snprintf(text, sizeof(text), "p%d", i);
        assert_int_equal(bidi_send(b, text, (size_t)n), 0);
    }
    assert_int_equal(bidi_half_close(b), 0);
    for (int i = 0; i < 200; i++) {
        snprintf(text, sizeof(text), "p%d", i);
        expect_recv(b, text);
    }
    assert_int_equal(bidi_finish(b, NULL, 0), GRPC_STATUS_OK);
}

static void test_bidi_half_close_without_messages_ends_once(void **state)
{
    fixture_t *f = *state;
    bidi_client_t *b = bidi_start(f->port, M_ECHO, WAIT_MS);
    assert_non_null(b);
    assert_int_equal(bidi_half_close(b), 0);
    assert_int_equal(bidi_finish(b, NULL, 0), GRPC_STATUS_OK);
    assert_int_equal(ev_wait(&ev.ends, 1), 1);
    assert_int_equal(ev.messages, 0);
}

static void test_bidi_empty_message_is_a_message_not_the_end(void **state)
{
    fixture_t *f = *state;
    bidi_client_t *b = bidi_start(f->port, M_ECHO, WAIT_MS);
    assert_non_null(b);
    assert_int_equal(bidi_send(b, "", 0), 0);
    expect_recv(b, "");
    assert_int_equal(ev.ends, 0);
    assert_int_equal(bidi_half_close(b), 0);
    assert_int_equal(bidi_finish(b, NULL, 0), GRPC_STATUS_OK);
    assert_int_equal(ev.messages, 1);
}

static void test_bidi_client_cancel_reaches_handler_as_cancelled_end(void **state)
{
    fixture_t *f = *state;
    bidi_client_t *b = bidi_start(f->port, M_ECHO, WAIT_MS);
    assert_non_null(b);
    assert_int_equal(bidi_send(b, "x", 1), 0);
    expect_recv(b, "x");
    bidi_cancel(b);
    assert_int_equal(bidi_finish(b, NULL, 0), GRPC_STATUS_CANCELLED);
    /* The end of input may reach the handler before the cancellation does
     * (it then finishes as after a half-close, and on_cancel has nobody
     * left to tell); either way it ends exactly once and the call goes. */
    assert_int_equal(ev_wait(&ev.ends, 1), 1);
    wait_no_active_calls(f->srv);
}

static void test_bidi_handler_finishing_early_gets_no_more_calls(void **state)
{
    fixture_t *f = *state;
    bidi_client_t *b = bidi_start(f->port, M_STOP, WAIT_MS);
    assert_non_null(b);
    assert_int_equal(bidi_send(b, "one", 3), 0);
    assert_int_equal(bidi_send(b, "stop", 4), 0);
    /* The server is done; what the client still sends is not delivered. */
    bidi_send(b, "late", 4);
    char details[64];
    assert_int_equal(bidi_finish(b, details, sizeof(details)), GRPC_STATUS_FAILED_PRECONDITION);
    assert_string_equal(details, "stopped");
    wait_no_active_calls(f->srv);
    assert_int_equal(ev.messages, 2);
    assert_int_equal(ev.ends, 0);
}

static void test_bidi_open_stream_is_cancelled_by_shutdown(void **state)
{
    fixture_t *f = *state;
    bidi_client_t *b = bidi_start(f->port, M_ECHO, WAIT_MS);
    assert_non_null(b);
    assert_int_equal(bidi_send(b, "x", 1), 0);
    expect_recv(b, "x");
    int64_t t0 = clock_now_ms();
    gs_server_shutdown(f->srv, 100);
    assert_true(clock_now_ms() - t0 < WAIT_MS);
    assert_int_equal(ev.ends, 1);
    grpc_status_code st = bidi_finish(b, NULL, 0);
    assert_true(st == GRPC_STATUS_CANCELLED || st == GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(gs_server_active_calls(f->srv), 0);
    gs_server_free(f->srv);
    f->srv = NULL;
}

/* A stream waiting for the client's next message, every answer sent, is not
 * in flight: the grace (10 s here) does not wait for it. */
static void test_bidi_idle_stream_does_not_hold_the_grace(void **state)
{
    fixture_t *f = *state;
    bidi_client_t *b = bidi_start(f->port, M_ECHO, 15000);
    assert_non_null(b);
    assert_int_equal(bidi_send(b, "x", 1), 0);
    expect_recv(b, "x");
    int64_t t0 = clock_now_ms();
    gs_server_shutdown(f->srv, 10000);
    int64_t took_ms = clock_now_ms() - t0;
    assert_true(took_ms < 3000);
    assert_int_equal(ev.ends, 1);
    grpc_status_code st = bidi_finish(b, NULL, 0);
    assert_true(st == GRPC_STATUS_CANCELLED || st == GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(gs_server_active_calls(f->srv), 0);
    gs_server_free(f->srv);
    f->srv = NULL;
}

static void test_bidi_many_streams_at_once(void **state)
{
    fixture_t *f = *state;
    enum { N = 16 };
    bidi_client_t *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = bidi_start(f->port, M_ECHO, WAIT_MS);
        assert_non_null(b[i]);
    }
    char text[32];
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < N; i++) {
            int n = snprintf(text, sizeof(text), "s%d-%d", i, round);
            assert_int_equal(bidi_send(b[i], text, (size_t)n), 0);
            expect_recv(b[i], text);
        }
    for (int i = 0; i < N; i++) {
        assert_int_equal(bidi_half_close(b[i]), 0);
        assert_int_equal(bidi_finish(b[i], NULL, 0), GRPC_STATUS_OK);
    }
    assert_int_equal(ev_wait(&ev.ends, N), N);
    assert_int_equal(ev.messages, N * 10);
}

static void test_unknown_kind_is_refused(void **state)
{
    gs_server_t *s = gs_server_new();
    assert_non_null(s);
    assert_int_equal(gs_server_add_method(s, "/t.S/M", (gs_kind_t)42, h_echo, NULL), -1);
    assert_int_equal(gs_server_method_count(s), 0);
    assert_int_equal(gs_server_add_method(s, "/t.S/M", GS_BIDI_STREAMING, h_echo, NULL), 0);
    assert_int_equal(gs_server_method_count(s), 1);
    assert_string_equal(gs_server_method_path(s, 0), "/t.S/M");
    assert_null(gs_server_method_path(s, 1));
    gs_server_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bidi_echo_1000_messages_in_order_on_one_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bidi_pipelined_requests_answered_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bidi_half_close_without_messages_ends_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bidi_empty_message_is_a_message_not_the_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bidi_client_cancel_reaches_handler_as_cancelled_end,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bidi_handler_finishing_early_gets_no_more_calls, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bidi_open_stream_is_cancelled_by_shutdown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bidi_idle_stream_does_not_hold_the_grace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bidi_many_streams_at_once, setup, teardown),
        cmocka_unit_test(test_unknown_kind_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
