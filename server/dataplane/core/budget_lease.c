/* budget_lease: leases on the table's budgets. See budget_lease.h. */
#include "budget_lease.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "grpc_client.h"
#include "llmgw/v1/usage.pb-c.h"
#include "log.h"

#define BL_ACQUIRE "/llmgw.v1.UsageService/AcquireLease"
#define BL_RETURN "/llmgw.v1.UsageService/ReturnLease"
#define BL_TICK_MS 100
#define BL_RPC_TIMEOUT_MS 3000
#define BL_EXHAUSTED_RETRY_MS 1000
#define BL_ERROR_RETRY_MAX_MS 5000

typedef enum { BL_NONE = 0, BL_ACTIVE, BL_EXHAUSTED } bl_state_t;

typedef struct {
    char name[72];
    bool hard;
    bool in_table;
    bl_state_t state;
    int64_t lease_id;
    double granted, spent;                          /* spent: charged since the lease was granted */
    int64_t granted_at_ms, expires_ms, retry_at_ms; /* monotonic */
    int error_backoff_ms;
    double limit_usd, cp_spent_usd;
    bool soft_exceeded;
    uint64_t refusals, soft_crossings;
} bl_entry_t;

struct budget_lease {
    char *target, *node_id, *token;
    const tls_files_t *tls; /* borrowed */
    table_slot_t *slot;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, poke;     /* under mu */
    bl_entry_t *entries; /* under mu */
    size_t n, alloc;
    gc_channel_t *ch; /* thread only */
};

bool budget_lease_applies(const table_budget_t *b, const table_key_t *key, const char *provider)
{
    if (strcmp(b->scope, "org") == 0)
        return true;
    if (strcmp(b->scope, "team") == 0)
        return key && key->team && key->team[0] && strcmp(key->team, b->target) == 0;
    if (strcmp(b->scope, "key") == 0)
        return key && strcmp(key->name, b->target) == 0;
    if (strcmp(b->scope, "provider") == 0)
        return provider && strcmp(provider, b->target) == 0;
    return false;
}

static bl_entry_t *bl_find(budget_lease_t *bl, const char *name)
{
    for (size_t i = 0; i < bl->n; i++)
        if (strcmp(bl->entries[i].name, name) == 0)
            return &bl->entries[i];
    return NULL;
}

/* Under mu. NULL when out of memory. */
static bl_entry_t *bl_get(budget_lease_t *bl, const table_budget_t *b)
{
    bl_entry_t *e = bl_find(bl, b->name);
    if (e)
        return e;
    if (bl->n == bl->alloc) {
        size_t na = bl->alloc ? bl->alloc * 2 : 16;
        bl_entry_t *ne = realloc(bl->entries, na * sizeof(*ne));
        if (!ne)
            return NULL;
        bl->entries = ne;
        bl->alloc = na;
    }
    e = &bl->entries[bl->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", b->name);
    e->hard = b->hard;
    e->in_table = true;
    return e;
}

int budget_lease_admit(budget_lease_t *bl, const table_t *t, const table_key_t *key,
                       const char *provider, char *err, size_t errlen)
{
    size_t n = table_n_budgets(t);
    if (!bl || n == 0)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&bl->mu);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const table_budget_t *b = table_budget_at(t, i);
        if (!b->hard || !budget_lease_applies(b, key, provider))
            continue;
        bl_entry_t *e = bl_get(bl, b);
        if (e && e->state == BL_ACTIVE && e->spent < e->granted)
            continue;
        rc = -1;
        if (!e) {
            snprintf(err, errlen, "budget '%s': no lease (out of memory)", b->name);
            break;
        }
        e->refusals++;
        if (e->state == BL_EXHAUSTED || e->state == BL_ACTIVE)
            snprintf(err, errlen, "budget '%s' exhausted: %.4f of %.4f USD spent this period",
                     b->name, e->cp_spent_usd + (e->state == BL_ACTIVE ? e->spent : 0),
                     e->limit_usd);
        else
            snprintf(err, errlen,
                     "budget '%s': no lease granted yet (the control plane has not answered)",
                     b->name);
        bl->poke = true;
        pthread_cond_signal(&bl->cv);
    }
    pthread_mutex_unlock(&bl->mu);
    return rc;
}

void budget_lease_charge(budget_lease_t *bl, const table_t *t, const table_key_t *key,
                         const char *provider, double cost_usd)
{
    size_t n = table_n_budgets(t);
    if (!bl || n == 0 || !(cost_usd > 0))
        return;
    pthread_mutex_lock(&bl->mu);
    for (size_t i = 0; i < n; i++) {
        const table_budget_t *b = table_budget_at(t, i);
        if (!budget_lease_applies(b, key, provider))
            continue;
        bl_entry_t *e = bl_get(bl, b);
        if (!e)
            continue;
        e->spent += cost_usd;
        if (e->state == BL_ACTIVE && e->spent >= e->granted / 2) {
            bl->poke = true;
            pthread_cond_signal(&bl->cv);
        }
    }
    pthread_mutex_unlock(&bl->mu);
}

void budget_lease_foreach(budget_lease_t *bl, void (*fn)(void *ud, const budget_lease_info_t *i),
                          void *ud)
{
    if (!bl)
        return;
    pthread_mutex_lock(&bl->mu);
    for (size_t i = 0; i < bl->n; i++) {
        const bl_entry_t *e = &bl->entries[i];
        budget_lease_info_t info = {.name = e->name,
                                    .hard = e->hard,
                                    .leased = e->state == BL_ACTIVE && e->spent < e->granted,
                                    .granted_usd = e->granted,
                                    .spent_usd = e->spent,
                                    .refusals = e->refusals,
                                    .soft_crossings = e->soft_crossings};
        fn(ud, &info);
    }
    pthread_mutex_unlock(&bl->mu);
}

/* --- the lease thread --------------------------------------------------------- */

static grpc_status_code bl_call(budget_lease_t *bl, const char *method, const void *req, size_t len,
                                buf_t *resp, buf_t *details)
{
    if (!bl->ch && !(bl->ch = gc_channel_open(bl->target, bl->tls)))
        return GRPC_STATUS_UNAVAILABLE;
    grpc_status_code st =
        gc_unary(bl->ch, method, bl->token, BL_RPC_TIMEOUT_MS, req, len, resp, details);
    if (st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_DEADLINE_EXCEEDED) {
        /* A fresh channel next time: the core's reconnect backoff can
         * outlast a control plane that came back. */
        gc_channel_free(bl->ch);
        bl->ch = NULL;
    }
    return st;
}

typedef struct {
    char name[72];
    int64_t lease_id;
    double spent;
} bl_snap_t;

/* Asks for a lease (renewing snap's), then updates the entry by name. */
static void bl_acquire(budget_lease_t *bl, const bl_snap_t *snap)
{
    Llmgw__V1__AcquireLeaseRequest q = LLMGW__V1__ACQUIRE_LEASE_REQUEST__INIT;
    q.node_id = bl->node_id;
    q.budget = (char *)snap->name;
    q.previous_lease_id = snap->lease_id;
    q.previous_spent_usd = snap->lease_id ? snap->spent : 0;
    uint8_t req[256];
    size_t len = llmgw__v1__acquire_lease_request__get_packed_size(&q);
    llmgw__v1__acquire_lease_request__pack(&q, req);
    buf_t resp = BUF_INIT(4096), details = BUF_INIT(1024);
    grpc_status_code st = bl_call(bl, BL_ACQUIRE, req, len, &resp, &details);
    Llmgw__V1__Lease *l = st == GRPC_STATUS_OK
                              ? llmgw__v1__lease__unpack(NULL, resp.len, (const uint8_t *)resp.data)
                              : NULL;
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&bl->mu);
    bl_entry_t *e = bl_find(bl, snap->name);
    if (e && !l) {
        e->error_backoff_ms = e->error_backoff_ms ? e->error_backoff_ms * 2 : 200;
        if (e->error_backoff_ms > BL_ERROR_RETRY_MAX_MS)
            e->error_backoff_ms = BL_ERROR_RETRY_MAX_MS;
        e->retry_at_ms = now + e->error_backoff_ms;
        log_warn("budget lease not granted; keeping the last one",
                 "budget=%s status=%s details=\"%s\"", snap->name, gc_status_name(st),
                 st == GRPC_STATUS_OK ? "undecodable answer" : buf_cstr(&details));
    } else if (e && l) {
        bool was_exhausted = e->state == BL_EXHAUSTED;
        e->error_backoff_ms = 0;
        e->limit_usd = l->limit_usd;
        e->cp_spent_usd = l->spent_usd;
        /* What was charged while the call was out belongs to the new lease. */
        double carry = snap->lease_id ? e->spent - snap->spent : 0;
        if (l->lease_id > 0 && l->granted_usd > 0) {
            e->state = BL_ACTIVE;
            e->lease_id = l->lease_id;
            e->granted = l->granted_usd;
            e->spent = carry > 0 ? carry : 0;
            e->granted_at_ms = now;
            e->expires_ms = now + (l->ttl_ms > 0 ? l->ttl_ms : 1000);
            e->retry_at_ms = 0;
            if (was_exhausted)
                log_info("budget lease granted again", "budget=%s granted_usd=%.6f", e->name,
                         e->granted);
        } else {
            if (e->state != BL_EXHAUSTED)
                log_warn("budget exhausted: requests it covers are refused",
                         "budget=%s "
                         "spent_usd=%.6f limit_usd=%.4f hard=%d",
                         e->name, l->spent_usd, l->limit_usd, (int)l->hard);
            e->state = e->hard ? BL_EXHAUSTED : BL_NONE;
            e->lease_id = 0;
            e->granted = 0;
            e->spent = 0;
            e->retry_at_ms = now + BL_EXHAUSTED_RETRY_MS;
        }
        if (l->soft_exceeded && !e->soft_exceeded) {
            e->soft_crossings++;
            log_warn("soft budget crossed", "budget=%s spent_usd=%.6f limit_usd=%.4f", e->name,
                     l->spent_usd, l->limit_usd);
        }
        e->soft_exceeded = l->soft_exceeded;
    }
    pthread_mutex_unlock(&bl->mu);
    if (l)
        llmgw__v1__lease__free_unpacked(l, NULL);
    buf_free(&resp);
    buf_free(&details);
}

static void bl_return(budget_lease_t *bl, const bl_snap_t *snap)
{
    Llmgw__V1__ReturnLeaseRequest q = LLMGW__V1__RETURN_LEASE_REQUEST__INIT;
    q.node_id = bl->node_id;
    q.lease_id = snap->lease_id;
    q.spent_usd = snap->spent;
    uint8_t req[128];
    size_t len = llmgw__v1__return_lease_request__get_packed_size(&q);
    llmgw__v1__return_lease_request__pack(&q, req);
    buf_t details = BUF_INIT(1024);
    grpc_status_code st = bl_call(bl, BL_RETURN, req, len, NULL, &details);
    if (st != GRPC_STATUS_OK)
        log_warn("budget lease not returned (it expires on the control plane)",
                 "budget=%s lease_id=%" PRId64 " status=%s", snap->name, snap->lease_id,
                 gc_status_name(st));
    buf_free(&details);
}

/* Under mu: marks the table's budgets and drops the others (their leases,
 * when held, go to `gone` to be returned). */
static size_t bl_follow_table(budget_lease_t *bl, const table_t *t, bl_snap_t *gone, size_t cap)
{
    size_t n_gone = 0;
    for (size_t i = 0; i < bl->n; i++)
        bl->entries[i].in_table = false;
    for (size_t i = 0; i < table_n_budgets(t); i++) {
        const table_budget_t *b = table_budget_at(t, i);
        bl_entry_t *e = bl_get(bl, b);
        if (e) {
            e->in_table = true;
            e->hard = b->hard;
        }
    }
    for (size_t i = 0; i < bl->n;) {
        bl_entry_t *e = &bl->entries[i];
        if (e->in_table) {
            i++;
            continue;
        }
        if (e->state == BL_ACTIVE && e->lease_id && n_gone < cap) {
            bl_snap_t *g = &gone[n_gone++];
            snprintf(g->name, sizeof(g->name), "%s", e->name);
            g->lease_id = e->lease_id;
            g->spent = e->spent;
        }
        bl->entries[i] = bl->entries[--bl->n];
    }
    return n_gone;
}

/* Under mu: the next entry that needs the control plane, as a snapshot. */
static bool bl_next_due(budget_lease_t *bl, int64_t now, size_t *cursor, bl_snap_t *snap)
{
    for (; *cursor < bl->n; (*cursor)++) {
        bl_entry_t *e = &bl->entries[*cursor];
        if (now < e->retry_at_ms)
            continue;
        bool due = e->state != BL_ACTIVE;
        if (e->state == BL_ACTIVE) {
            int64_t life = e->expires_ms - e->granted_at_ms;
            due = e->spent >= e->granted / 2 || now >= e->granted_at_ms + life * 2 / 3;
        }
        if (!due)
            continue;
        snprintf(snap->name, sizeof(snap->name), "%s", e->name);
        snap->lease_id = e->state == BL_ACTIVE ? e->lease_id : 0;
        snap->spent = e->spent;
        (*cursor)++;
        return true;
    }
    return false;
}

static void *bl_main(void *arg)
{
    budget_lease_t *bl = arg;
    bl_snap_t gone[64];
    for (;;) {
        table_t *t = table_slot_get(bl->slot);
        pthread_mutex_lock(&bl->mu);
        size_t n_gone = bl_follow_table(bl, t, gone, sizeof(gone) / sizeof(gone[0]));
        pthread_mutex_unlock(&bl->mu);
        table_unref(t);
        for (size_t i = 0; i < n_gone; i++)
            bl_return(bl, &gone[i]);
        size_t cursor = 0;
        for (;;) {
            bl_snap_t snap;
            pthread_mutex_lock(&bl->mu);
            bool due = !bl->stop && bl_next_due(bl, clock_now_ms(), &cursor, &snap);
            pthread_mutex_unlock(&bl->mu);
            if (!due)
                break;
            bl_acquire(bl, &snap);
        }
        pthread_mutex_lock(&bl->mu);
        if (!bl->stop && !bl->poke) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += BL_TICK_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&bl->cv, &bl->mu, &ts);
        }
        bl->poke = false;
        bool stop = bl->stop;
        pthread_mutex_unlock(&bl->mu);
        if (stop)
            break;
    }
    /* Stop: give back every lease (what was not spent is free for others). */
    for (size_t i = 0; i < bl->n; i++) {
        bl_entry_t *e = &bl->entries[i];
        if (e->state == BL_ACTIVE && e->lease_id) {
            bl_snap_t s = {.lease_id = e->lease_id, .spent = e->spent};
            snprintf(s.name, sizeof(s.name), "%s", e->name);
            bl_return(bl, &s);
        }
    }
    return NULL;
}

static void bl_free(budget_lease_t *bl)
{
    gc_channel_free(bl->ch);
    free(bl->entries);
    free(bl->target);
    free(bl->node_id);
    free(bl->token);
    pthread_cond_destroy(&bl->cv);
    pthread_mutex_destroy(&bl->mu);
    free(bl);
}

budget_lease_t *budget_lease_start(const budget_lease_config_t *cfg, table_slot_t *slot)
{
    budget_lease_t *bl = calloc(1, sizeof(*bl));
    if (!bl)
        return NULL;
    pthread_mutex_init(&bl->mu, NULL);
    pthread_cond_init(&bl->cv, NULL);
    bl->slot = slot;
    const char *token = cfg->token ? cfg->token : getenv("LLMGW_CONTROL_PLANE_TOKEN");
    if (token && !*token)
        token = NULL;
    bl->target = strdup(cfg->target);
    bl->tls = cfg->tls;
    bl->node_id = strdup(cfg->node_id);
    bl->token = token ? strdup(token) : NULL;
    if (!bl->target || !bl->node_id || (token && !bl->token) ||
        pthread_create(&bl->thread, NULL, bl_main, bl) != 0) {
        bl_free(bl);
        return NULL;
    }
    return bl;
}

void budget_lease_stop(budget_lease_t *bl)
{
    if (!bl)
        return;
    pthread_mutex_lock(&bl->mu);
    bl->stop = true;
    pthread_cond_broadcast(&bl->cv);
    pthread_mutex_unlock(&bl->mu);
    pthread_join(bl->thread, NULL);
    bl_free(bl);
}
