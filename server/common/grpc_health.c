/* grpc_health: grpc.health.v1.Health (Check, Watch) for grpc_server. See
 * grpc_health.h.
 *
 * Thread model: Check and Watch run on CQ threads; health_set_serving and
 * health_shutdown (the server's observer callbacks) run on any thread. One mutex guards the serving
 * flag and the list of open Watch streams; it is taken before a call's mutex (gs_call_send under
 * it), never after. A Watch stream is finished exactly once, by whoever takes it off the list (its
 * cancel callback or shutdown); `done` records that under the mutex.
 */
#include "grpc_health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "log.h"

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus gs_health_status_t;
typedef struct gs_health gs_health_t;

typedef struct gs_watch {
    gs_health_t *h;
    gs_call_t *call;
    bool known; /* the service exists: it follows the serving flag */
    bool done;
    struct gs_watch *prev, *next;
} gs_watch_t;

struct gs_health {
    const gs_server_t *server; /* asked which services exist */
    pthread_mutex_t mu;        /* guards the fields below */
    bool serving;
    bool shut;
    gs_watch_t *watches;
};

static void health_free(void *ctx)
{
    gs_health_t *h = ctx;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static bool health_knows(const gs_health_t *h, const char *service)
{
    return gs_server_has_service(h->server, service, strlen(service));
}

static gs_health_status_t health_status_locked(const gs_health_t *h, bool known)
{
    if (!known)
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return h->serving ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                      : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

/* A HealthCheckResponse is at most 2 bytes (tag + small enum). */
static size_t health_pack(gs_health_status_t status, uint8_t out[8])
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = status;
    return grpc__health__v1__health_check_response__pack(&resp, out);
}

/* Sends the status to one stream. A failure means the stream is cancelled
 * or its client stopped reading; its cancel callback ends it. */
static void health_send_locked(gs_watch_t *w, gs_health_status_t status)
{
    uint8_t out[8];
    size_t n = health_pack(status, out);
    if (gs_call_send(w->call, out, n) != 0)
        log_debug("health watch update dropped", "status=%d", (int)status);
}

static void health_unlink_locked(gs_health_t *h, gs_watch_t *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else if (h->watches == w)
        h->watches = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

static void health_set_serving(void *ctx, bool serving)
{
    gs_health_t *h = ctx;
    pthread_mutex_lock(&h->mu);
    if (h->serving != serving && !h->shut) {
        h->serving = serving;
        for (gs_watch_t *w = h->watches; w != NULL; w = w->next)
            if (w->known)
                health_send_locked(w, health_status_locked(h, true));
    }
    pthread_mutex_unlock(&h->mu);
}

static void health_shutdown(void *ctx)
{
    gs_health_t *h = ctx;
    pthread_mutex_lock(&h->mu);
    if (h->shut) {
        pthread_mutex_unlock(&h->mu);
        return;
    }
    bool was_serving = h->serving;
    h->shut = true;
    h->serving = false;
    gs_watch_t *ending = h->watches;
    h->watches = NULL;
    for (gs_watch_t *w = ending; w != NULL; w = w->next) {
        w->done = true;
        if (w->known && was_serving)
            health_send_locked(w, health_status_locked(h, true));
    }
    pthread_mutex_unlock(&h->mu);
    /* Off the list and marked done: nobody else touches them. Read `next`
     * before finishing, which may free the stream. */
    while (ending != NULL) {
        gs_watch_t *next = ending->next;
        gs_call_finish(ending->call, GRPC_STATUS_UNAVAILABLE, "server shutting down", NULL, 0);
        ending = next;
    }
}

static void health_check(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    gs_health_t *h = ctx;
    Grpc__Health__V1__HealthCheckRequest *req =
        grpc__health__v1__health_check_request__unpack(NULL, len, msg);
    if (req == NULL) {
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request: cannot decode HealthCheckRequest", NULL, 0);
        return;
    }
    bool known = health_knows(h, req->service);
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);
    if (!known) {
        gs_call_finish(call, GRPC_STATUS_NOT_FOUND, "service: not registered on this server", NULL,
                       0);
        return;
    }
    pthread_mutex_lock(&h->mu);
    gs_health_status_t status = health_status_locked(h, true);
    pthread_mutex_unlock(&h->mu);
    uint8_t out[8];
    size_t n = health_pack(status, out);
    gs_call_finish(call, GRPC_STATUS_OK, NULL, out, n);
}

static void health_watch_cancelled(void *user)
{
    gs_watch_t *w = user;
    gs_health_t *h = w->h;
    pthread_mutex_lock(&h->mu);
    bool mine = !w->done;
    if (mine) {
        w->done = true;
        health_unlink_locked(h, w);
    }
    pthread_mutex_unlock(&h->mu);
    if (mine)
        gs_call_finish(w->call, GRPC_STATUS_CANCELLED, NULL, NULL, 0);
}

static void health_watch(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    gs_health_t *h = ctx;
    Grpc__Health__V1__HealthCheckRequest *req =
        grpc__health__v1__health_check_request__unpack(NULL, len, msg);
    if (req == NULL) {
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                       "request: cannot decode HealthCheckRequest", NULL, 0);
        return;
    }
    bool known = health_knows(h, req->service);
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);
    gs_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "watch: out of memory", NULL, 0);
        return;
    }
    w->h = h;
    w->call = call;
    w->known = known;
    /* Attached before listing: a cancellation from here on finds the stream
     * and ends it (the call and w live until this handler returns). */
    gs_call_set_user(call, w, health_watch_cancelled, free);

    pthread_mutex_lock(&h->mu);
    bool end_now = !w->done && h->shut;
    if (!w->done && !h->shut) {
        w->next = h->watches;
        if (h->watches != NULL)
            h->watches->prev = w;
        h->watches = w;
        health_send_locked(w, health_status_locked(h, known));
    }
    if (end_now)
        w->done = true;
    pthread_mutex_unlock(&h->mu);
    if (end_now)
        gs_call_finish(call, GRPC_STATUS_UNAVAILABLE, "server shutting down", NULL, 0);
}

int gs_health_register(gs_server_t *s)
{
    gs_health_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -1;
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        return -1;
    }
    h->server = s;
    h->serving = true;
    gs_observer_t o = {
        .serving = health_set_serving, .shutdown = health_shutdown, .free = health_free, .ctx = h};
    if (gs_server_observe(s, &o) != 0) {
        health_free(h);
        return -1;
    }
    /* Owned by the server from here: a failure below is freed with it. */
    if (gs_server_add_method(s, GS_HEALTH_CHECK_PATH, GS_UNARY, health_check, h) != 0 ||
        gs_server_add_method(s, GS_HEALTH_WATCH_PATH, GS_SERVER_STREAMING, health_watch, h) != 0)
        return -1;
    return 0;
}
