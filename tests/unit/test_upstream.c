/* Tests for upstream.c, the libcurl multi engine, against mini_http servers
 * on 127.0.0.1. Every wait is on a condition variable with a deadline: a
 * callback that never comes fails the test instead of hanging it. */
#define _GNU_SOURCE /* pipe2 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "mini_http.h"
#include "upstream.h"

#define WAIT_MS 10000

/* ---- waiting ------------------------------------------------------------- */

static void cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    assert_int_equal(pthread_condattr_init(&ca), 0);
    assert_int_equal(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC), 0);
    assert_int_equal(pthread_cond_init(cv, &ca), 0);
    pthread_condattr_destroy(&ca);
}

static struct timespec deadline_in(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* ---- one request's observed callbacks ------------------------------------ */

typedef struct call {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done_calls;
    upstream_outcome_t outcome;
    long status;
    buf_t body;
    char error[256];
    bool has_retry_after;
    char retry_after[64];
    int64_t latency_us;
    int64_t ttfb_us;
    int64_t done_at_ms;
    /* streaming */
    buf_t streamed;
    int data_calls;
    int abort_on_data_call; /* return non-zero on this on_data call (1-based); 0 never */
    /* fallback: on_done submits this next request */
    upstream_t *u;
    const upstream_spec_t *next_spec;
    struct call *next_call;
    upstream_req_t *next_req;
} call_t;

static void call_init(call_t *c)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(pthread_mutex_init(&c->mu, NULL), 0);
    cond_init_monotonic(&c->cv);
    buf_init(&c->body, 1 << 24);
    buf_init(&c->streamed, 1 << 24);
}

static void call_destroy(call_t *c)
{
    buf_free(&c->body);
    buf_free(&c->streamed);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

static int call_on_data(void *ud, const char *bytes, size_t n)
{
    call_t *c = ud;
    pthread_mutex_lock(&c->mu);
    c->data_calls++;
    int stop = c->abort_on_data_call && c->data_calls == c->abort_on_data_call;
    if (!stop)
        buf_append(&c->streamed, bytes, n);
    pthread_mutex_unlock(&c->mu);
    return stop;
}

static void call_on_done(void *ud, const upstream_result_t *res)
{
    call_t *c = ud;
    upstream_req_t *next = NULL;
    if (c->next_spec)
        next = upstream_submit(c->u, c->next_spec,
                               &(upstream_callbacks_t){call_on_data, call_on_done}, c->next_call);
    pthread_mutex_lock(&c->mu);
    c->done_calls++;
    c->outcome = res->outcome;
    c->status = res->http_status;
    buf_reset(&c->body);
    buf_append(&c->body, res->body, res->body_len);
    snprintf(c->error, sizeof(c->error), "%s", res->error ? res->error : "(null)");
    c->has_retry_after = res->retry_after != NULL;
    if (res->retry_after)
        snprintf(c->retry_after, sizeof(c->retry_after), "%s", res->retry_after);
    c->latency_us = res->latency_us;
    c->ttfb_us = res->ttfb_us;
    c->done_at_ms = clock_now_ms();
    c->next_req = next;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static const upstream_callbacks_t call_cbs = {call_on_data, call_on_done};

/* 0 once on_done ran, -1 after ms. */
static int call_wait(call_t *c, int ms)
{
    struct timespec dl = deadline_in(ms);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (c->done_calls == 0) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) {
            rc = c->done_calls ? 0 : -1;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- the server side ----------------------------------------------------- */

/* What the handler answers (set before the server starts, then read-only)
 * and what it saw (under mu). */
typedef struct {
    mini_http_response_t answer;
    pthread_mutex_t mu;
    char method[16];
    char path[128];
    buf_t body;
    char content_type[128];
    char authorization[128];
    char custom[128];
    bool saw_expect;
} server_t;

static void copy_header(const mini_http_request_t *req, const char *name, char *out, size_t n)
{
    const char *v = mini_http_request_header(req, name);
    snprintf(out, n, "%s", v ? v : "");
}

static void server_handler(void *ud, const mini_http_request_t *req, mini_http_response_t *resp)
{
    server_t *sv = ud;
    pthread_mutex_lock(&sv->mu);
    snprintf(sv->method, sizeof(sv->method), "%s", req->method);
    snprintf(sv->path, sizeof(sv->path), "%s", req->path);
    buf_reset(&sv->body);
    buf_append(&sv->body, req->body, req->body_len);
    copy_header(req, "Content-Type", sv->content_type, sizeof(sv->content_type));
    copy_header(req, "Authorization", sv->authorization, sizeof(sv->authorization));
    copy_header(req, "X-Custom", sv->custom, sizeof(sv->custom));
    sv->saw_expect = mini_http_request_header(req, "Expect") != NULL;
    pthread_mutex_unlock(&sv->mu);
    *resp = sv->answer;
}

typedef struct {
    server_t sv;
    mini_http_t *srv;
    upstream_t *u;
    char url[128];
} fixture_t;

static int fixture_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(pthread_mutex_init(&f->sv.mu, NULL), 0);
    buf_init(&f->sv.body, 1 << 24);
    f->u = upstream_new();
    assert_non_null(f->u);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    fixture_t *f = *state;
    upstream_free(f->u);
    mini_http_stop(f->srv);
    buf_free(&f->sv.body);
    pthread_mutex_destroy(&f->sv.mu);
    free(f);
    return 0;
}

/* Starts the server with f->sv.answer as every request's answer. */
static void fixture_serve(fixture_t *f, const char *path)
{
    f->srv = mini_http_start(server_handler, &f->sv);
    assert_non_null(f->srv);
    snprintf(f->url, sizeof(f->url), "%s%s", mini_http_url(f->srv), path);
}

static upstream_spec_t spec_for(const char *url, int timeout_ms)
{
    upstream_spec_t s;
    memset(&s, 0, sizeof(s));
    s.url = url;
    s.timeout_ms = timeout_ms;
    return s;
}

/* Submits, waits for on_done, drops the caller's reference. */
static void run_call(fixture_t *f, const upstream_spec_t *spec, call_t *c)
{
    upstream_req_t *r = upstream_submit(f->u, spec, &call_cbs, c);
    assert_non_null(r);
    assert_int_equal(call_wait(c, WAIT_MS), 0);
    upstream_req_unref(r);
}

/* A port where connecting is refused: bound, never listening. */
static int refused_port(int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *fd_out = fd;
    return ntohs(a.sin_port);
}

/* ---- round trips --------------------------------------------------------- */

static void test_upstream_get_round_trip(void **state)
{
    fixture_t *f = *state;
    static const char *const reply_headers[] = {"X-Reply: yes"};
    f->sv.answer = (mini_http_response_t){
        .status = 200, .body = "hello", .body_len = 5, .headers = reply_headers, .n_headers = 1};
    fixture_serve(f, "/v1/models");

    static const char *const headers[] = {"Authorization: Bearer sk-test", "X-Custom: 42"};
    upstream_spec_t spec = spec_for(f->url, 5000);
    spec.headers = headers;
    spec.n_headers = 2;
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);

    assert_int_equal(c.done_calls, 1);
    assert_int_equal(c.outcome, UPSTREAM_OK);
    assert_int_equal(c.status, 200);
    assert_string_equal(buf_cstr(&c.body), "hello");
    assert_string_equal(c.error, "");
    assert_false(c.has_retry_after);
    assert_true(c.latency_us > 0);
    assert_true(c.ttfb_us >= 0 && c.ttfb_us <= c.latency_us);
    assert_string_equal(f->sv.method, "GET");
    assert_string_equal(f->sv.path, "/v1/models");
    assert_string_equal(f->sv.authorization, "Bearer sk-test");
    assert_string_equal(f->sv.custom, "42");
    assert_string_equal(f->sv.content_type, "");
    assert_int_equal(upstream_in_flight(f->u), 0);
    call_destroy(&c);
}

static void test_upstream_post_sends_body_and_json_content_type(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200, .body = "{\"id\":\"x\"}", .body_len = 10};
    fixture_serve(f, "/v1/chat/completions");

    static const char *const headers[] = {"Authorization: Bearer sk-post", "X-Custom: extra"};
    /* past 1 MiB, where curl would otherwise send "Expect: 100-continue" */
    size_t body_len = (size_t)1536 * 1024;
    char *body = malloc(body_len);
    assert_non_null(body);
    memset(body, 'b', body_len);
    upstream_spec_t spec = spec_for(f->url, 5000);
    spec.headers = headers;
    spec.n_headers = 2;
    spec.body = body;
    spec.body_len = body_len;
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);

    assert_int_equal(c.outcome, UPSTREAM_OK);
    assert_int_equal(c.status, 200);
    assert_string_equal(buf_cstr(&c.body), "{\"id\":\"x\"}");
    assert_string_equal(f->sv.method, "POST");
    assert_int_equal(f->sv.body.len, body_len);
    assert_memory_equal(f->sv.body.data, body, body_len);
    assert_string_equal(f->sv.content_type, "application/json");
    assert_string_equal(f->sv.authorization, "Bearer sk-post");
    assert_string_equal(f->sv.custom, "extra");
    /* "Expect:" in the list suppresses curl's 100-continue for big bodies */
    assert_false(f->sv.saw_expect);
    free(body);
    call_destroy(&c);
}

static void test_upstream_post_keeps_given_content_type(void **state)
{
    fixture_t *f = *state;
    fixture_serve(f, "/upload");
    static const char *const headers[] = {"content-type: text/plain"};
    upstream_spec_t spec = spec_for(f->url, 5000);
    spec.headers = headers;
    spec.n_headers = 1;
    spec.body = "plain";
    spec.body_len = 5;
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_OK);
    assert_string_equal(f->sv.content_type, "text/plain");
    assert_string_equal(buf_cstr(&f->sv.body), "plain");
    call_destroy(&c);
}

static void test_upstream_error_status_body_buffered_even_when_streaming(void **state)
{
    fixture_t *f = *state;
    static const char err[] = "{\"error\":{\"message\":\"overloaded\"}}";
    f->sv.answer = (mini_http_response_t){.status = 503, .body = err, .body_len = sizeof(err) - 1};
    fixture_serve(f, "/v1/chat/completions");

    upstream_spec_t spec = spec_for(f->url, 5000);
    spec.body = "{}";
    spec.body_len = 2;
    spec.stream = true;
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_OK);
    assert_int_equal(c.status, 503);
    assert_string_equal(buf_cstr(&c.body), err);
    assert_int_equal(c.data_calls, 0);
    call_destroy(&c);
}

static void test_upstream_retry_after_captured(void **state)
{
    fixture_t *f = *state;
    static const char *const h[] = {"Retry-After:   7  "};
    f->sv.answer = (mini_http_response_t){
        .status = 429, .body = "slow down", .body_len = 9, .headers = h, .n_headers = 1};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 5000);
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_OK);
    assert_int_equal(c.status, 429);
    assert_true(c.has_retry_after);
    assert_string_equal(c.retry_after, "7");
    assert_string_equal(buf_cstr(&c.body), "slow down");
    call_destroy(&c);
}

/* ---- streaming ----------------------------------------------------------- */

static const char *const sse_pieces[] = {"data: {\"a\":1}\n\n", "data: {\"b\":2}\n\n",
                                         "data: [DONE]\n\n"};

static void test_upstream_stream_delivers_pieces_via_on_data(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){
        .status = 200, .chunks = sse_pieces, .n_chunks = 3, .chunk_delay_ms = 60};
    fixture_serve(f, "/v1/chat/completions");

    upstream_spec_t spec = spec_for(f->url, 5000);
    spec.body = "{\"stream\":true}";
    spec.body_len = strlen(spec.body);
    spec.stream = true;
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);

    assert_int_equal(c.outcome, UPSTREAM_OK);
    assert_int_equal(c.status, 200);
    assert_string_equal(buf_cstr(&c.streamed),
                        "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n");
    /* pieces 60 ms apart cannot arrive in one write */
    assert_true(c.data_calls >= 2);
    assert_int_equal(c.body.len, 0);
    assert_true(c.ttfb_us >= 0);
    assert_true(c.latency_us - c.ttfb_us >= INT64_C(100000));
    call_destroy(&c);
}

static void test_upstream_stream_on_data_nonzero_aborts(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){
        .status = 200, .chunks = sse_pieces, .n_chunks = 3, .chunk_delay_ms = 200};
    fixture_serve(f, "/");

    upstream_spec_t spec = spec_for(f->url, 5000);
    spec.stream = true;
    call_t c;
    call_init(&c);
    c.abort_on_data_call = 1;
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_ERR_ABORTED);
    assert_int_equal(c.done_calls, 1);
    assert_int_equal(c.data_calls, 1);
    assert_int_equal(c.status, 200);
    assert_string_not_equal(c.error, "");
    /* the aborted connection is closed, not reused */
    assert_int_equal(mini_http_wait_closed(f->srv, 1, WAIT_MS), 0);
    call_destroy(&c);
}

/* ---- failures ------------------------------------------------------------ */

static void test_upstream_connection_refused_is_connect(void **state)
{
    fixture_t *f = *state;
    int fd;
    int port = refused_port(&fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    upstream_spec_t spec = spec_for(url, 5000);
    call_t c;
    call_init(&c);
    int64_t t0 = clock_now_ms();
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_ERR_CONNECT);
    assert_int_equal(c.status, 0);
    assert_string_not_equal(c.error, "");
    assert_int_equal(c.ttfb_us, -1);
    assert_true(c.done_at_ms - t0 < 1000);
    close(fd);
    call_destroy(&c);
}

static void test_upstream_close_without_response_is_connect(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.close_without_response = true};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 5000);
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_ERR_CONNECT);
    assert_int_equal(c.status, 0);
    call_destroy(&c);
}

static void test_upstream_slow_server_times_out(void **state)
{
    fixture_t *f = *state;
    f->sv.answer =
        (mini_http_response_t){.status = 200, .body = "late", .body_len = 4, .delay_ms = 5000};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 300);
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_ERR_TIMEOUT);
    assert_string_not_equal(c.error, "");
    /* curl's timers have millisecond granularity and may fire a hair early */
    assert_true(c.latency_us >= INT64_C(295000));
    assert_true(c.latency_us < INT64_C(1800000));
    call_destroy(&c);
}

static void test_upstream_body_over_cap_is_too_large(void **state)
{
    fixture_t *f = *state;
    static char big[10000];
    memset(big, 'x', sizeof(big));
    f->sv.answer = (mini_http_response_t){.status = 200, .body = big, .body_len = sizeof(big)};
    fixture_serve(f, "/");

    upstream_spec_t spec = spec_for(f->url, 5000);
    spec.max_body_bytes = 1000;
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_ERR_TOO_LARGE);
    assert_int_equal(c.status, 200);
    assert_true(c.body.len <= 1000);
    assert_non_null(strstr(c.error, "max_body_bytes"));

    /* exactly at the cap is fine */
    spec.max_body_bytes = sizeof(big);
    call_t ok;
    call_init(&ok);
    run_call(f, &spec, &ok);
    assert_int_equal(ok.outcome, UPSTREAM_OK);
    assert_int_equal(ok.body.len, sizeof(big));
    call_destroy(&ok);
    call_destroy(&c);
}

static void test_upstream_server_drop_mid_body_is_transfer(void **state)
{
    fixture_t *f = *state;
    static char body[2000];
    memset(body, 'y', sizeof(body));
    f->sv.answer = (mini_http_response_t){
        .status = 200, .body = body, .body_len = sizeof(body), .drop_mid_body = true};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 5000);
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_ERR_TRANSFER);
    assert_int_equal(c.status, 200);
    assert_string_not_equal(c.error, "");
    call_destroy(&c);
}

static void test_upstream_stream_drop_mid_body_is_transfer(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200,
                                          .chunks = sse_pieces,
                                          .n_chunks = 2,
                                          .chunk_delay_ms = 20,
                                          .drop_mid_body = true};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 5000);
    spec.stream = true;
    call_t c;
    call_init(&c);
    run_call(f, &spec, &c);
    assert_int_equal(c.outcome, UPSTREAM_ERR_TRANSFER);
    assert_int_equal(c.status, 200);
    assert_string_equal(buf_cstr(&c.streamed), "data: {\"a\":1}\n\ndata: {\"b\":2}\n\n");
    call_destroy(&c);
}

static void test_upstream_submit_rejects_malformed_spec(void **state)
{
    fixture_t *f = *state;
    call_t c;
    call_init(&c);
    upstream_spec_t spec = spec_for(NULL, 1000);
    assert_null(upstream_submit(f->u, &spec, &call_cbs, &c));
    spec = spec_for("http://127.0.0.1:1/", 0);
    assert_null(upstream_submit(f->u, &spec, &call_cbs, &c));
    spec = spec_for("http://127.0.0.1:1/", 1000);
    spec.stream = true;
    upstream_callbacks_t no_data = {NULL, call_on_done};
    assert_null(upstream_submit(f->u, &spec, &no_data, &c));
    assert_int_equal(upstream_in_flight(f->u), 0);
    assert_int_equal(c.done_calls, 0);
    call_destroy(&c);
}

/* ---- cancellation and re-entrancy ---------------------------------------- */

static void test_upstream_cancel_in_flight_is_prompt_and_closes(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200, .delay_ms = 20000};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 30000);
    call_t c;
    call_init(&c);
    upstream_req_t *r = upstream_submit(f->u, &spec, &call_cbs, &c);
    assert_non_null(r);
    assert_int_equal(mini_http_wait_requests(f->srv, 1, WAIT_MS), 0);
    assert_int_equal(upstream_in_flight(f->u), 1);

    int64_t t0 = clock_now_ms();
    upstream_cancel(f->u, r);
    assert_int_equal(call_wait(&c, WAIT_MS), 0);
    assert_true(c.done_at_ms - t0 < 1000);
    assert_int_equal(c.outcome, UPSTREAM_ERR_CANCELLED);
    assert_string_not_equal(c.error, "");
    assert_int_equal(upstream_in_flight(f->u), 0);
    /* the server sees the connection go away, long before its 20 s delay */
    assert_int_equal(mini_http_wait_closed(f->srv, 1, 3000), 0);
    upstream_cancel(f->u, r); /* a second cancel is a no-op */
    upstream_req_unref(r);
    assert_int_equal(c.done_calls, 1);
    call_destroy(&c);
}

static void test_upstream_cancel_right_after_submit(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200, .delay_ms = 20000};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 30000);
    call_t c;
    call_init(&c);
    /* likely still queued when the cancel lands; either way it ends once */
    upstream_req_t *r = upstream_submit(f->u, &spec, &call_cbs, &c);
    assert_non_null(r);
    upstream_cancel(f->u, r);
    upstream_req_unref(r);
    assert_int_equal(call_wait(&c, WAIT_MS), 0);
    assert_int_equal(c.outcome, UPSTREAM_ERR_CANCELLED);
    assert_int_equal(upstream_in_flight(f->u), 0);
    assert_int_equal(c.done_calls, 1);
    call_destroy(&c);
}

static void test_upstream_cancel_after_done_is_harmless(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200, .body = "ok", .body_len = 2};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 5000);
    call_t c;
    call_init(&c);
    upstream_req_t *r = upstream_submit(f->u, &spec, &call_cbs, &c);
    assert_non_null(r);
    assert_int_equal(call_wait(&c, WAIT_MS), 0);
    upstream_cancel(f->u, r);
    upstream_cancel(f->u, r);

    /* the engine has processed the cancels once a later request is done */
    call_t c2;
    call_init(&c2);
    run_call(f, &spec, &c2);
    assert_int_equal(c2.outcome, UPSTREAM_OK);
    assert_int_equal(c.done_calls, 1);
    assert_int_equal(c.outcome, UPSTREAM_OK);
    assert_string_equal(buf_cstr(&c.body), "ok");
    upstream_req_unref(r);
    call_destroy(&c2);
    call_destroy(&c);
}

static void test_upstream_submit_from_on_done_fallback(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200, .body = "second", .body_len = 6};
    fixture_serve(f, "/");
    int fd;
    char bad[64];
    snprintf(bad, sizeof(bad), "http://127.0.0.1:%d/", refused_port(&fd));
    upstream_spec_t first = spec_for(bad, 5000);
    upstream_spec_t second = spec_for(f->url, 5000);

    call_t c1, c2;
    call_init(&c1);
    call_init(&c2);
    c1.u = f->u;
    c1.next_spec = &second;
    c1.next_call = &c2;
    run_call(f, &first, &c1);
    assert_int_equal(c1.outcome, UPSTREAM_ERR_CONNECT);
    assert_non_null(c1.next_req);
    assert_int_equal(call_wait(&c2, WAIT_MS), 0);
    assert_int_equal(c2.outcome, UPSTREAM_OK);
    assert_string_equal(buf_cstr(&c2.body), "second");
    assert_int_equal(c1.done_calls, 1);
    assert_int_equal(c2.done_calls, 1);
    upstream_req_unref(c1.next_req);
    close(fd);
    call_destroy(&c2);
    call_destroy(&c1);
}

/* ---- many requests ------------------------------------------------------- */

#define MANY 200

typedef struct many many_t;

/* Each request's ud: which slot it is and whose. */
typedef struct {
    many_t *m;
    int i;
} many_slot_t;

struct many {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    upstream_t *u;
    const upstream_spec_t *spec;
    int done[MANY];
    int bad_outcomes;
    int total_done;
    int next_to_submit; /* windowed mode: on_done submits the next index */
    bool windowed;
    bool submit_failed;
    bool try_submit_in_done; /* shutdown mode: record whether submit was refused */
    int submits_refused;
    upstream_outcome_t want;
    upstream_req_t *reqs[MANY];
    many_slot_t slots[MANY];
};

static void many_on_done(void *ud, const upstream_result_t *res);

static void many_submit(many_t *m, int i)
{
    upstream_callbacks_t cb = {NULL, many_on_done};
    upstream_req_t *r = upstream_submit(m->u, m->spec, &cb, &m->slots[i]);
    pthread_mutex_lock(&m->mu);
    if (!r)
        m->submit_failed = true;
    m->reqs[i] = r;
    pthread_mutex_unlock(&m->mu);
}

static void many_on_done(void *ud, const upstream_result_t *res)
{
    many_slot_t *slot = ud;
    many_t *m = slot->m;
    int i = slot->i;
    int next = -1;
    bool refused = false;
    if (m->try_submit_in_done) {
        upstream_callbacks_t cb = {NULL, many_on_done};
        upstream_req_t *r = upstream_submit(m->u, m->spec, &cb, slot);
        refused = r == NULL;
        upstream_req_unref(r);
    }
    pthread_mutex_lock(&m->mu);
    m->done[i]++;
    m->total_done++;
    if (res->outcome != m->want || (m->want == UPSTREAM_OK && res->http_status != 200))
        m->bad_outcomes++;
    if (refused)
        m->submits_refused++;
    if (m->windowed && m->next_to_submit < MANY)
        next = m->next_to_submit++;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (next >= 0)
        many_submit(m, next);
}

static many_t *many_new(upstream_t *u, const upstream_spec_t *spec, upstream_outcome_t want)
{
    many_t *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    assert_int_equal(pthread_mutex_init(&m->mu, NULL), 0);
    cond_init_monotonic(&m->cv);
    m->u = u;
    m->spec = spec;
    m->want = want;
    for (int i = 0; i < MANY; i++)
        m->slots[i] = (many_slot_t){m, i};
    return m;
}

static void many_reset(many_t *m)
{
    for (int i = 0; i < MANY; i++) {
        upstream_req_unref(m->reqs[i]);
        m->reqs[i] = NULL;
        m->done[i] = 0;
    }
    m->total_done = 0;
    m->next_to_submit = 0;
    m->windowed = false;
}

static int many_wait(many_t *m, int n, int ms)
{
    struct timespec dl = deadline_in(ms);
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    while (m->total_done < n) {
        if (pthread_cond_timedwait(&m->cv, &m->mu, &dl) == ETIMEDOUT) {
            rc = m->total_done >= n ? 0 : -1;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void many_free(many_t *m)
{
    many_reset(m);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void many_assert_each_once(many_t *m)
{
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(m->done[i], 1);
    assert_int_equal(m->bad_outcomes, 0);
    assert_false(m->submit_failed);
    pthread_mutex_unlock(&m->mu);
}

static void test_upstream_many_requests_complete_once_and_reuse_connections(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200, .body = "ok", .body_len = 2};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 20000);
    many_t *m = many_new(f->u, &spec, UPSTREAM_OK);

    /* 200 requests, 32 at a time, each finished one submitting the next from
     * inside on_done: the keep-alive connections carry all of them. */
    enum { WINDOW = 32 };
    m->windowed = true;
    m->next_to_submit = WINDOW;
    for (int i = 0; i < WINDOW; i++)
        many_submit(m, i);
    assert_int_equal(many_wait(m, MANY, 30000), 0);
    many_assert_each_once(m);
    unsigned conns = mini_http_connections(f->srv);
    assert_int_equal(mini_http_requests(f->srv), MANY);
    assert_true(conns <= WINDOW + 8);

    /* Then 200 at once, all submitted before any is waited for. */
    many_reset(m);
    for (int i = 0; i < MANY; i++)
        many_submit(m, i);
    assert_int_equal(many_wait(m, MANY, 30000), 0);
    many_assert_each_once(m);
    assert_int_equal(mini_http_requests(f->srv), 2 * MANY);
    assert_int_equal(upstream_in_flight(f->u), 0);
    many_free(m);
}

static void test_upstream_free_cancels_everything_once(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200, .delay_ms = 20000};
    fixture_serve(f, "/");
    upstream_spec_t spec = spec_for(f->url, 30000);
    many_t *m = many_new(f->u, &spec, UPSTREAM_ERR_CANCELLED);
    m->try_submit_in_done = true;

    enum { STARTED = 12, LATE = 8 };
    for (int i = 0; i < STARTED; i++)
        many_submit(m, i);
    assert_int_equal(mini_http_wait_requests(f->srv, STARTED, WAIT_MS), 0);
    /* these may still sit in the queue when the engine stops */
    for (int i = STARTED; i < STARTED + LATE; i++)
        many_submit(m, i);
    assert_int_equal(upstream_in_flight(f->u), STARTED + LATE);

    int64_t t0 = clock_now_ms();
    upstream_free(f->u);
    f->u = NULL;
    assert_true(clock_now_ms() - t0 < 2000);

    pthread_mutex_lock(&m->mu);
    assert_int_equal(m->total_done, STARTED + LATE);
    for (int i = 0; i < STARTED + LATE; i++)
        assert_int_equal(m->done[i], 1);
    assert_int_equal(m->bad_outcomes, 0);
    assert_false(m->submit_failed);
    /* a fallback submitted from on_done during shutdown is refused */
    assert_int_equal(m->submits_refused, STARTED + LATE);
    pthread_mutex_unlock(&m->mu);
    /* the server sees every started connection close */
    assert_int_equal(mini_http_wait_closed(f->srv, STARTED, WAIT_MS), 0);
    many_free(m);
}

/* --- the guest: an event loop the engine thread runs beside its own ---------- */

typedef struct {
    pthread_mutex_t mu;
    int fd;         /* the pipe's read end */
    int runs;       /* calls of guest_run */
    int bytes;      /* read from the pipe */
    int set_inside; /* what upstream_set_guest returned from inside run */
    upstream_t *u;
    bool submit_from_run; /* submit a GET from run (once) */
    const char *url;
    call_t call;
    pthread_t runner;
} guest_t;

static int guest_run(void *ud)
{
    guest_t *g = ud;
    char b[64];
    ssize_t n = read(g->fd, b, sizeof(b)); /* non-blocking: EAGAIN when woken otherwise */
    pthread_mutex_lock(&g->mu);
    g->runs++;
    g->runner = pthread_self();
    if (n > 0)
        g->bytes += (int)n;
    bool submit = g->submit_from_run;
    g->submit_from_run = false;
    pthread_mutex_unlock(&g->mu);
    /* the engine refuses to wait for itself */
    int rc = upstream_set_guest(g->u, NULL);
    pthread_mutex_lock(&g->mu);
    g->set_inside = rc;
    pthread_mutex_unlock(&g->mu);
    if (submit) {
        upstream_spec_t spec = spec_for(g->url, 5000);
        upstream_req_t *r = upstream_submit(g->u, &spec, &call_cbs, &g->call);
        assert_non_null(r);
        upstream_req_unref(r);
    }
    return -1; /* no timer of its own */
}

static int guest_value(guest_t *g, const int *field)
{
    pthread_mutex_lock(&g->mu);
    int v = *field;
    pthread_mutex_unlock(&g->mu);
    return v;
}

static bool guest_wait(guest_t *g, const int *field, int at_least)
{
    for (int i = 0; i < WAIT_MS / 5; i++) {
        if (guest_value(g, field) >= at_least)
            return true;
        usleep(5000);
    }
    return false;
}

static void test_upstream_guest_runs_on_the_engine_thread(void **state)
{
    fixture_t *f = *state;
    f->sv.answer = (mini_http_response_t){.status = 200, .body = "guest", .body_len = 5};
    fixture_serve(f, "/g");
    guest_t g = {.u = f->u, .url = f->url, .set_inside = 1};
    pthread_mutex_init(&g.mu, NULL);
    call_init(&g.call);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    g.fd = p[0];
    upstream_guest_t guest = {.fd = p[0], .run = guest_run, .ud = &g};
    assert_int_equal(upstream_set_guest(f->u, &guest), 0);
    /* runs once when set, then when its fd is readable */
    assert_true(guest_wait(&g, &g.runs, 1));
    assert_int_equal(write(p[1], "abc", 3), 3);
    assert_true(guest_wait(&g, &g.bytes, 3));
    assert_int_equal(guest_value(&g, &g.set_inside), -1);
    assert_false(pthread_equal(g.runner, pthread_self()));
    /* a wake-up with nothing on the fd */
    int before = guest_value(&g, &g.runs);
    upstream_guest_wake(f->u);
    assert_true(guest_wait(&g, &g.runs, before + 1));
    /* a submit from run needs no wake-up to go out */
    pthread_mutex_lock(&g.mu);
    g.submit_from_run = true;
    pthread_mutex_unlock(&g.mu);
    upstream_guest_wake(f->u);
    assert_int_equal(call_wait(&g.call, WAIT_MS), 0);
    assert_int_equal(g.call.outcome, UPSTREAM_OK);
    assert_string_equal(buf_cstr(&g.call.body), "guest");
    /* removed: never called again, even with its fd readable */
    assert_int_equal(upstream_set_guest(f->u, NULL), 0);
    int after = guest_value(&g, &g.runs);
    assert_int_equal(write(p[1], "x", 1), 1);
    upstream_guest_wake(f->u);
    usleep(100000);
    assert_int_equal(guest_value(&g, &g.runs), after);
    /* a bad guest is refused */
    upstream_guest_t bad = {.fd = -1, .run = guest_run, .ud = &g};
    assert_int_equal(upstream_set_guest(f->u, &bad), -1);
    close(p[0]);
    close(p[1]);
    call_destroy(&g.call);
    pthread_mutex_destroy(&g.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
        T(test_upstream_get_round_trip),
        T(test_upstream_post_sends_body_and_json_content_type),
        T(test_upstream_post_keeps_given_content_type),
        T(test_upstream_error_status_body_buffered_even_when_streaming),
        T(test_upstream_retry_after_captured),
        T(test_upstream_stream_delivers_pieces_via_on_data),
        T(test_upstream_stream_on_data_nonzero_aborts),
        T(test_upstream_connection_refused_is_connect),
        T(test_upstream_close_without_response_is_connect),
        T(test_upstream_slow_server_times_out),
        T(test_upstream_body_over_cap_is_too_large),
        T(test_upstream_server_drop_mid_body_is_transfer),
        T(test_upstream_stream_drop_mid_body_is_transfer),
        T(test_upstream_submit_rejects_malformed_spec),
        T(test_upstream_cancel_in_flight_is_prompt_and_closes),
        T(test_upstream_cancel_right_after_submit),
        T(test_upstream_cancel_after_done_is_harmless),
        T(test_upstream_submit_from_on_done_fallback),
        T(test_upstream_many_requests_complete_once_and_reuse_connections),
        T(test_upstream_free_cancels_everything_once),
        T(test_upstream_guest_runs_on_the_engine_thread),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
