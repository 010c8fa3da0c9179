/* cp_dist: subscriptions, the LISTEN loop and the node RPCs. See cp_dist.h. */
#include "cp_dist.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cp_console_events.h"
#include "cp_rpc.h"
#include "cp_validate.h"
#include "log.h"
#include "nodes.h"
#include "store_tx.h"
#include "table_versions.h"

#define CP_DIST_RECONNECT_MAX_MS 5000

typedef struct cp_sub {
    struct cp_sub *next;
    cp_dist_t *d;
    gs_call_t *call;
    char node_id[72];
    char group[72];
    int64_t sent_version;
    bool registered;   /* under d->mu: the handler is done with its setup */
    bool cancel_early; /* under d->mu: cancelled before registered */
    bool finished;     /* under d->mu: the call was (or is being) finished */
    bool listed;
} cp_sub_t;

struct cp_dist {
    cp_t *cp;
    pthread_mutex_t mu;
    cp_sub_t *subs;
    uint8_t *snapshot; /* packed RoutingTable, NULL before the first load */
    size_t snapshot_len;
    int64_t version;
    atomic_bool stop;
    int64_t tokens_loaded_ms; /* listener thread only */
    bool thread_started;
    pthread_t thread;
};

/* --- subscriptions ---------------------------------------------------------- */

static void cp_sub_unlink_locked(cp_dist_t *d, cp_sub_t *s)
{
    for (cp_sub_t **p = &d->subs; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    s->listed = false;
}

static void cp_sub_on_cancel(void *user)
{
    cp_sub_t *s = user;
    cp_dist_t *d = s->d;
    pthread_mutex_lock(&d->mu);
    if (!s->registered) {
        /* The handler is still setting up and finishes the call itself. */
        s->cancel_early = true;
        pthread_mutex_unlock(&d->mu);
        return;
    }
    bool owner = !s->finished;
    s->finished = true;
    if (s->listed)
        cp_sub_unlink_locked(d, s);
    pthread_mutex_unlock(&d->mu);
    if (owner) {
        log_info("node unsubscribed", "node=%s", s->node_id);
        gs_call_finish(s->call, GRPC_STATUS_CANCELLED, "cancelled", NULL, 0);
    }
}

typedef struct {
    cp_dist_t *d;
    char node_id[72];
    char group[72];
} cp_seen_job_t;

static int cp_seen_tx(PGconn *c, void *ctx, store_err_t *e)
{
    cp_seen_job_t *j = ctx;
    return nodes_seen(c, j->node_id, j->group, e);
}

static void cp_seen_run(void *arg)
{
    cp_seen_job_t *j = arg;
    store_err_t e = {0};
    if (store_run_transaction(j->d->cp->pool, false, cp_seen_tx, j, &e) < 0)
        log_warn("cannot record the node", "node=%s error=\"%s\"", j->node_id, e.msg);
    free(j);
}

/* Subscribes an authorized call: on a CQ thread, or on a worker after a
 * token that missed the cache was found. */
static void cp_watch_start(cp_dist_t *d, gs_call_t *call, const uint8_t *msg, size_t len)
{
    char err[256];
    Llmgw__V1__NodeHello *h = llmgw__v1__node_hello__unpack(NULL, len, msg);
    if (!h) {
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "request: not a valid NodeHello", NULL,
                       0);
        return;
    }
    if (cp_validate_name("node_id", h->node_id, 64, "", err, sizeof(err)) < 0 ||
        (h->group[0] && cp_validate_name("group", h->group, 64, "", err, sizeof(err)) < 0)) {
        llmgw__v1__node_hello__free_unpacked(h, NULL);
        gs_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, err, NULL, 0);
        return;
    }
    cp_sub_t *s = calloc(1, sizeof(*s));
    cp_seen_job_t *j = calloc(1, sizeof(*j));
    if (!s || !j) {
        free(s);
        free(j);
        llmgw__v1__node_hello__free_unpacked(h, NULL);
        gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "control plane: out of memory", NULL,
                       0);
        return;
    }
    s->d = d;
    s->call = call;
    s->sent_version = h->last_version;
    snprintf(s->node_id, sizeof(s->node_id), "%s", h->node_id);
    snprintf(s->group, sizeof(s->group), "%s", h->group);
    j->d = d;
    snprintf(j->node_id, sizeof(j->node_id), "%s", h->node_id);
    snprintf(j->group, sizeof(j->group), "%s", h->group);
    llmgw__v1__node_hello__free_unpacked(h, NULL);

    /* May run the cancel callback at once (it then leaves the finish to us). */
    gs_call_set_user(call, s, cp_sub_on_cancel, free);
    bool stream_failed = false;
    int64_t last_version = s->sent_version;
    pthread_mutex_lock(&d->mu);
    s->registered = true;
    if (s->cancel_early) {
        s->finished = stream_failed = true;
    } else {
        s->next = d->subs;
        d->subs = s;
        s->listed = true;
        if (d->snapshot && d->version > s->sent_version) {
            if (gs_call_send(call, d->snapshot, d->snapshot_len) < 0) {
                cp_sub_unlink_locked(d, s);
                s->finished = stream_failed = true;
            } else {
                s->sent_version = d->version;
            }
        }
    }
    pthread_mutex_unlock(&d->mu);
    /* From here s may be freed by another thread: only locals are used. */
    if (stream_failed)
        gs_call_finish(call, GRPC_STATUS_UNAVAILABLE, "stream: cancelled or cannot send", NULL, 0);
    log_info("node subscribed", "node=%s last_version=%" PRId64, j->node_id, last_version);
    if (cp_work_submit(d->cp->work, cp_seen_run, j) < 0)
        free(j);
}

typedef struct {
    cp_dist_t *d;
    gs_call_t *call;
    cp_auth_ticket_t ticket;
    size_t len;
    uint8_t msg[];
} cp_watch_job_t;

typedef struct {
    cp_t *cp;
    gs_call_t *call;
    cp_caller_t who;
    char peer[96];
} cp_watch_denied_t;

static void cp_watch_denied_run(void *arg)
{
    cp_watch_denied_t *j = arg;
    char details[256];
    audit_actor_t who = {j->who.name, j->who.role, j->peer};
    cp_rpc_deny(j->cp, &who, gs_call_method(j->call), CP_ACCESS_NODES, details, sizeof(details));
    gs_call_finish(j->call, GRPC_STATUS_PERMISSION_DENIED, details, NULL, 0);
    free(j);
}

/* Subscribing is of class "nodes". A refusal is audited on a worker (this
 * may run on a completion-queue thread, which never waits on the database)
 * and finishes the call PERMISSION_DENIED. */
static bool cp_watch_allowed(cp_dist_t *d, gs_call_t *call, const cp_caller_t *who)
{
    if (cp_access_allows(who->role, CP_ACCESS_NODES))
        return true;
    cp_watch_denied_t *j = calloc(1, sizeof(*j));
    if (!j) {
        gs_call_finish(call, GRPC_STATUS_PERMISSION_DENIED, "permission: role may not subscribe",
                       NULL, 0);
        return false;
    }
    j->cp = d->cp;
    j->call = call;
    j->who = *who;
    gs_call_peer(call, j->peer, sizeof(j->peer));
    if (cp_work_submit(d->cp->work, cp_watch_denied_run, j) < 0) {
        free(j);
        gs_call_finish(call, GRPC_STATUS_UNAVAILABLE, "control plane: shutting down", NULL, 0);
    }
    return false;
}

static void cp_watch_recheck_run(void *arg)
{
    cp_watch_job_t *j = arg;
    cp_caller_t who;
    if (cp_auth_recheck(j->d->cp->auth, j->call, &j->ticket, &who) == 0 &&
        cp_watch_allowed(j->d, j->call, &who))
        cp_watch_start(j->d, j->call, j->msg, j->len);
    free(j);
}

static void cp_watch_on_request(gs_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    cp_dist_t *d = ctx;
    cp_caller_t who;
    cp_auth_ticket_t ticket;
    if (!cp_rpc_node_transport(d->cp, call, CP_ACCESS_NODES))
        return;
    switch (cp_auth_check(d->cp->auth, call, &who, &ticket)) {
    case CP_AUTH_REFUSED:
        return;
    case CP_AUTH_OK:
        if (cp_watch_allowed(d, call, &who))
            cp_watch_start(d, call, msg, len);
        return;
    case CP_AUTH_PENDING:
        break;
    }
    cp_watch_job_t *j = malloc(sizeof(*j) + len);
    if (!j) {
        gs_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "control plane: out of memory", NULL,
                       0);
        return;
    }
    j->d = d;
    j->call = call;
    j->ticket = ticket;
    j->len = len;
    memcpy(j->msg, msg, len);
    if (cp_work_submit(d->cp->work, cp_watch_recheck_run, j) < 0) {
        free(j);
        gs_call_finish(call, GRPC_STATUS_UNAVAILABLE, "control plane: shutting down", NULL, 0);
    }
}

/* Queues the current snapshot on every subscriber behind it. */
static void cp_dist_push(cp_dist_t *d)
{
    size_t cap = 16, n = 0;
    gs_call_t **dead = malloc(cap * sizeof(*dead));
    pthread_mutex_lock(&d->mu);
    cp_sub_t *s = d->subs;
    while (s) {
        cp_sub_t *next = s->next;
        if (s->sent_version < d->version) {
            if (gs_call_send(s->call, d->snapshot, d->snapshot_len) == 0) {
                s->sent_version = d->version;
            } else if (dead) {
                /* Gone or too slow to drain 4 MiB: it resubscribes and
                 * receives the current snapshot then. */
                if (n == cap) {
                    gs_call_t **nd = realloc(dead, 2 * cap * sizeof(*dead));
                    if (!nd) {
                        s = next;
                        continue;
                    }
                    dead = nd;
                    cap *= 2;
                }
                cp_sub_unlink_locked(d, s);
                s->finished = true;
                dead[n++] = s->call;
            }
        }
        s = next;
    }
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < n; i++)
        gs_call_finish(dead[i], GRPC_STATUS_UNAVAILABLE, "stream: subscriber not draining", NULL,
                       0);
    free(dead);
}

/* --- the listener -------------------------------------------------------- */

/* Loads and renders the latest version; pushes it when newer. */
static void cp_dist_reload(cp_dist_t *d, PGconn *c)
{
    store_err_t e = {0};
    int64_t v = 0;
    char *doc = NULL, *json = NULL, err[256];
    uint8_t *packed = NULL;
    if (table_versions_latest(c, &v, &doc, &e) < 0) {
        if (e.code != STORE_NOT_FOUND)
            log_warn("cannot load the routing table", "error=\"%s\"", e.msg);
        return;
    }
    pthread_mutex_lock(&d->mu);
    bool newer = v > d->version;
    pthread_mutex_unlock(&d->mu);
    if (!newer)
        goto out;
    if (!(json = table_versions_render(doc, &d->cp->key, false, err, sizeof(err)))) {
        log_error("cannot render the routing table", "version=%" PRId64 " error=\"%s\"", v, err);
        goto out;
    }
    char sum[65];
    secret_sha256_hex(json, strlen(json), sum);
    Llmgw__V1__RoutingTable rt = LLMGW__V1__ROUTING_TABLE__INIT;
    rt.version = v;
    rt.checksum_sha256 = sum;
    rt.table_json = json;
    size_t len = llmgw__v1__routing_table__get_packed_size(&rt);
    if (!(packed = malloc(len ? len : 1)))
        goto out;
    llmgw__v1__routing_table__pack(&rt, packed);
    pthread_mutex_lock(&d->mu);
    free(d->snapshot);
    d->snapshot = packed;
    d->snapshot_len = len;
    d->version = v;
    pthread_mutex_unlock(&d->mu);
    packed = NULL;
    log_info("routing table loaded", "version=%" PRId64, v);
    cp_dist_push(d);
    cp_console_events_publish(d->cp->events, v);
out:
    free(packed);
    if (json) {
        memset(json, 0, strlen(json));
        free(json);
    }
    free(doc);
}

/* The admin-token set: after a token change, a reconnect, or
 * CP_AUTH_RELOAD_MS without either. */
static void cp_dist_reload_tokens(cp_dist_t *d, PGconn *c)
{
    store_err_t e = {0};
    d->tokens_loaded_ms = clock_now_ms();
    if (cp_auth_load(d->cp->auth, c, &e) < 0)
        log_warn("cannot reload the admin tokens", "error=\"%s\"", e.msg);
}

static PGconn *cp_dist_connect(cp_dist_t *d)
{
    store_err_t e = {0};
    PGconn *c = PQconnectdb(pg_pool_conninfo(d->cp->pool));
    if (!c || PQstatus(c) != CONNECTION_OK || store_prepare_all(c, &e) < 0) {
        char why[640];
        snprintf(why, sizeof(why), "%s",
                 c && PQstatus(c) != CONNECTION_OK ? PQerrorMessage(c) : e.msg);
        why[strcspn(why, "\n")] = '\0'; /* libpq's messages run over lines */
        log_warn("listener cannot connect", "error=\"%s\"", why);
        PQfinish(c);
        return NULL;
    }
    PGresult *r = PQexec(c, "LISTEN " TABLE_VERSIONS_CHANNEL "; LISTEN " ADMIN_TOKENS_CHANNEL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_warn("listener cannot LISTEN", "error=\"%s\"", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        return NULL;
    }
    PQclear(r);
    return c;
}

static void *cp_dist_main(void *arg)
{
    cp_dist_t *d = arg;
    PGconn *c = NULL;
    int backoff_ms = 100;
    while (!atomic_load(&d->stop)) {
        if (!c) {
            if (!(c = cp_dist_connect(d))) {
                for (int waited = 0; waited < backoff_ms && !atomic_load(&d->stop); waited += 50)
                    usleep(50000);
                backoff_ms = backoff_ms * 2 > CP_DIST_RECONNECT_MAX_MS ? CP_DIST_RECONNECT_MAX_MS
                                                                       : backoff_ms * 2;
                continue;
            }
            backoff_ms = 100;
            cp_dist_reload(d, c); /* whatever was published while away */
            cp_dist_reload_tokens(d, c);
        }
        if (clock_now_ms() - d->tokens_loaded_ms >= CP_AUTH_RELOAD_MS)
            cp_dist_reload_tokens(d, c);
        struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};
        int pr = poll(&pfd, 1, 200);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK) {
            log_warn("listener lost the database; reconnecting", "%s", "");
            PQfinish(c);
            c = NULL;
            continue;
        }
        bool any = false, tokens = false;
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL) {
            if (strcmp(n->relname, ADMIN_TOKENS_CHANNEL) == 0)
                tokens = true;
            else
                any = true;
            PQfreemem(n);
        }
        if (tokens)
            cp_dist_reload_tokens(d, c);
        if (any)
            cp_dist_reload(d, c);
    }
    PQfinish(c);
    return NULL;
}

/* --- unary node RPCs (worker pool) ----------------------------------------- */

typedef struct {
    Llmgw__V1__TableAck *ack;
    ProtobufCMessage *out;
} cp_node_tx_t;

static int cp_ack_tx(PGconn *c, void *ctx, store_err_t *e)
{
    cp_node_tx_t *t = ctx;
    return nodes_ack(c, t->ack->node_id, t->ack->version,
                     t->ack->status == LLMGW__V1__ACK_STATUS__ACK_STATUS_ACK, t->ack->error, e);
}

static grpc_status_code rpc_ack(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__TableAck *a = (void *)req;
    if (cp_validate_name("node_id", a->node_id, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    if (a->status != LLMGW__V1__ACK_STATUS__ACK_STATUS_ACK &&
        a->status != LLMGW__V1__ACK_STATUS__ACK_STATUS_NACK) {
        snprintf(details, dlen, "status: expected ACK_STATUS_ACK or ACK_STATUS_NACK");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (a->version <= 0) {
        snprintf(details, dlen, "version: expected an integer > 0");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (strlen(a->error) > 2048)
        a->error[2048] = '\0';
    cp_node_tx_t t = {.ack = a};
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, cp_ack_tx, &t, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    log_info(a->status == LLMGW__V1__ACK_STATUS__ACK_STATUS_ACK ? "node acked" : "node nacked",
             "node=%s version=%" PRId64 " error=\"%s\"", a->node_id, a->version, a->error);
    Llmgw__V1__TableAckResponse *r = malloc(sizeof(*r));
    if (!r)
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    llmgw__v1__table_ack_response__init(r);
    *resp = &r->base;
    return GRPC_STATUS_OK;
}

static int cp_nodes_tx(PGconn *c, void *ctx, store_err_t *e)
{
    cp_node_tx_t *t = ctx;
    if (t->out)
        protobuf_c_message_free_unpacked(t->out, NULL);
    Llmgw__V1__ListNodesResponse *out = calloc(1, sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "nodes: out of memory");
    llmgw__v1__list_nodes_response__init(out);
    t->out = &out->base;
    return nodes_list(c, out, e);
}

static grpc_status_code rpc_list_nodes(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    cp_node_tx_t t = {0};
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, cp_nodes_tx, &t, &e) < 0) {
        if (t.out)
            protobuf_c_message_free_unpacked(t.out, NULL);
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    *resp = t.out;
    return GRPC_STATUS_OK;
}

typedef struct {
    int64_t version;
    char *doc;
} cp_table_tx_t;

static int cp_table_tx(PGconn *c, void *ctx, store_err_t *e)
{
    cp_table_tx_t *t = ctx;
    free(t->doc);
    t->doc = NULL;
    return table_versions_latest(c, &t->version, &t->doc, e);
}

static grpc_status_code rpc_get_table(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                      ProtobufCMessage **resp, char *details, size_t dlen)
{
    cp_table_tx_t t = {0};
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, cp_table_tx, &t, &e) < 0) {
        free(t.doc);
        snprintf(details, dlen, "%s",
                 e.code == STORE_NOT_FOUND ? "routing table: none published yet" : e.msg);
        return cp_status_from_store(e.code);
    }
    char *json = table_versions_render(t.doc, &cp->key, true, details, dlen);
    free(t.doc);
    if (!json)
        return GRPC_STATUS_INTERNAL;
    Llmgw__V1__RoutingTable *rt = malloc(sizeof(*rt));
    char sum[65];
    secret_sha256_hex(json, strlen(json), sum);
    if (!rt) {
        free(json);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    llmgw__v1__routing_table__init(rt);
    rt->version = t.version;
    rt->table_json = json;
    if (!(rt->checksum_sha256 = strdup(sum))) {
        protobuf_c_message_free_unpacked(&rt->base, NULL);
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    *resp = &rt->base;
    return GRPC_STATUS_OK;
}

#define DIST(name, req, fn)                                                                        \
    {                                                                                              \
        "/llmgw.v1.DistributionService/" name, &llmgw__v1__##req##__descriptor, fn,                \
            CP_ACCESS_NODES, NULL                                                                  \
    }

static cp_rpc_method_t cp_dist_methods[] = {
    DIST("AckRoutingTable", table_ack, rpc_ack),
    DIST("ListNodes", list_nodes_request, rpc_list_nodes),
    DIST("GetRoutingTable", get_routing_table_request, rpc_get_table),
};

cp_dist_t *cp_dist_start(cp_t *cp)
{
    cp_dist_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cp = cp;
    pthread_mutex_init(&d->mu, NULL);
    atomic_init(&d->stop, false);
    if (cp_rpc_register(cp, cp_dist_methods, sizeof(cp_dist_methods) / sizeof(cp_dist_methods[0])) <
            0 ||
        gs_server_add_method(cp->server, "/llmgw.v1.DistributionService/WatchRoutingTable",
                             GS_SERVER_STREAMING, cp_watch_on_request, d) < 0)
        goto fail;
    if (pthread_create(&d->thread, NULL, cp_dist_main, d) != 0)
        goto fail;
    d->thread_started = true;
    return d;
fail:
    cp_dist_free(d);
    return NULL;
}

void cp_dist_stop(cp_dist_t *d)
{
    if (!d)
        return;
    atomic_store(&d->stop, true);
    if (d->thread_started) {
        pthread_join(d->thread, NULL);
        d->thread_started = false;
    }
    for (;;) {
        pthread_mutex_lock(&d->mu);
        cp_sub_t *s = d->subs;
        if (s) {
            cp_sub_unlink_locked(d, s);
            s->finished = true;
        }
        pthread_mutex_unlock(&d->mu);
        if (!s)
            break;
        gs_call_finish(s->call, GRPC_STATUS_UNAVAILABLE, "control plane: shutting down", NULL, 0);
    }
}

void cp_dist_free(cp_dist_t *d)
{
    if (!d)
        return;
    cp_dist_stop(d);
    free(d->snapshot);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
