/* cp_auth: the in-memory set of active admin-token hashes. See cp_auth.h. */
#include "cp_auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "log.h"
#include "store_tx.h"

#define CP_AUTH_ACQUIRE_MS 5000

typedef struct {
    unsigned char sha256[ADMIN_TOKENS_SHA256_LEN];
    char name[72];
    const char *role;   /* interned */
    int64_t touched_ms; /* last last_used_at write queued by this replica */
} cp_auth_entry_t;

struct cp_auth {
    pthread_mutex_t mu; /* entries, n: held only for lookups and the swap */
    cp_auth_entry_t *entries;
    size_t n;
    pthread_mutex_t reload_mu;    /* one reload at a time */
    atomic_uint_fast64_t reloads; /* reloads started (incremented under reload_mu) */
    pg_pool_t *pool;
    cp_work_t *work;
};

static const char *const cp_auth_roles[] = {"admin", "operator", "auditor"};

const char *cp_auth_role(const char *name)
{
    for (size_t i = 0; i < sizeof(cp_auth_roles) / sizeof(cp_auth_roles[0]); i++)
        if (strcmp(name, cp_auth_roles[i]) == 0)
            return cp_auth_roles[i];
    return NULL;
}

const char *cp_auth_bearer(const char *header)
{
    if (!header || strncasecmp(header, "Bearer ", 7) != 0 || !header[7])
        return NULL;
    return header + 7;
}

cp_auth_t *cp_auth_new(pg_pool_t *pool, cp_work_t *work)
{
    cp_auth_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->reload_mu, NULL);
    atomic_init(&a->reloads, 0);
    a->pool = pool;
    a->work = work;
    return a;
}

void cp_auth_free(cp_auth_t *a)
{
    if (!a)
        return;
    free(a->entries);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->reload_mu);
    free(a);
}

size_t cp_auth_count(cp_auth_t *a)
{
    pthread_mutex_lock(&a->mu);
    size_t n = a->n;
    pthread_mutex_unlock(&a->mu);
    return n;
}

/* Under reload_mu. */
static int cp_auth_load_locked(cp_auth_t *a, PGconn *c, store_err_t *e)
{
    admin_tokens_row_t *rows = NULL;
    size_t n = 0, kept = 0;
    atomic_fetch_add(&a->reloads, 1);
    if (admin_tokens_active(c, &rows, &n, e) < 0)
        return -1;
    cp_auth_entry_t *entries = calloc(n ? n : 1, sizeof(*entries));
    if (!entries) {
        free(rows);
        return store_fail(e, STORE_HARD, "admin tokens: out of memory");
    }
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < n; i++) {
        const char *role = cp_auth_role(rows[i].role);
        if (!role) {
            log_warn("admin token with an unknown role ignored", "name=%s role=%s", rows[i].name,
                     rows[i].role);
            continue;
        }
        cp_auth_entry_t *en = &entries[kept++];
        memcpy(en->sha256, rows[i].sha256, sizeof(en->sha256));
        snprintf(en->name, sizeof(en->name), "%s", rows[i].name);
        en->role = role;
        /* Keep the touch clock across reloads: no extra last_used_at writes. */
        for (size_t k = 0; k < a->n; k++)
            if (memcmp(a->entries[k].sha256, en->sha256, sizeof(en->sha256)) == 0)
                en->touched_ms = a->entries[k].touched_ms;
    }
    cp_auth_entry_t *old = a->entries;
    a->entries = entries;
    a->n = kept;
    pthread_mutex_unlock(&a->mu);
    OPENSSL_cleanse(rows, n * sizeof(*rows));
    free(rows);
    free(old);
    log_debug("admin tokens loaded", "active=%zu", kept);
    return 0;
}

int cp_auth_load(cp_auth_t *a, PGconn *c, store_err_t *e)
{
    pthread_mutex_lock(&a->reload_mu);
    int rc = cp_auth_load_locked(a, c, e);
    pthread_mutex_unlock(&a->reload_mu);
    return rc;
}

/* Under reload_mu. */
static int cp_auth_refresh_locked(cp_auth_t *a, store_err_t *e)
{
    PGconn *c = pg_pool_acquire(a->pool, CP_AUTH_ACQUIRE_MS, e);
    if (!c)
        return -1;
    int rc = cp_auth_load_locked(a, c, e);
    pg_pool_release(a->pool, c);
    return rc;
}

int cp_auth_refresh(cp_auth_t *a, store_err_t *e)
{
    pthread_mutex_lock(&a->reload_mu);
    int rc = cp_auth_refresh_locked(a, e);
    pthread_mutex_unlock(&a->reload_mu);
    return rc;
}

typedef struct {
    cp_auth_t *a;
    char hex[2 * ADMIN_TOKENS_SHA256_LEN + 1];
} cp_touch_job_t;

static int cp_touch_tx(PGconn *c, void *ctx, store_err_t *e)
{
    cp_touch_job_t *j = ctx;
    return admin_tokens_touch(c, j->hex, e);
}

static void cp_touch_run(void *arg)
{
    cp_touch_job_t *j = arg;
    store_err_t e = {0};
    if (store_run_transaction(j->a->pool, false, cp_touch_tx, j, &e) < 0)
        log_warn("cannot record an admin token's last use", "error=\"%s\"", e.msg);
    free(j);
}

/* Fills *who for a known hash and returns true; queues a last_used_at write
 * when this replica has not written one for CP_AUTH_TOUCH_MS. */
static bool cp_auth_lookup(cp_auth_t *a, const unsigned char *sha256, cp_caller_t *who)
{
    const char *role = NULL;
    bool touch = false;
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n; i++) {
        cp_auth_entry_t *en = &a->entries[i];
        if (CRYPTO_memcmp(en->sha256, sha256, ADMIN_TOKENS_SHA256_LEN) == 0) {
            role = en->role;
            who->role = role;
            snprintf(who->name, sizeof(who->name), "%s", en->name);
            if (en->touched_ms == 0 || now - en->touched_ms >= CP_AUTH_TOUCH_MS) {
                en->touched_ms = now;
                touch = true;
            }
            break;
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (touch) {
        cp_touch_job_t *j = malloc(sizeof(*j));
        if (j) {
            static const char digits[] = "0123456789abcdef";
            j->a = a;
            for (int i = 0; i < ADMIN_TOKENS_SHA256_LEN; i++) {
                j->hex[2 * i] = digits[sha256[i] >> 4];
                j->hex[2 * i + 1] = digits[sha256[i] & 15];
            }
            j->hex[2 * ADMIN_TOKENS_SHA256_LEN] = '\0';
            if (cp_work_submit(a->work, cp_touch_run, j) < 0)
                free(j); /* shutting down: the last use is not worth a write */
        }
    }
    return role != NULL;
}

cp_auth_result_t cp_auth_check_token(cp_auth_t *a, const char *token, cp_caller_t *who,
                                     cp_auth_ticket_t *ticket)
{
    if (!token || !*token)
        return CP_AUTH_REFUSED;
    /* Read before the lookup: a reload counted here may predate the miss,
     * one counted later cannot. */
    ticket->seen_reloads = atomic_load(&a->reloads);
    admin_tokens_hash(token, ticket->sha256, NULL);
    return cp_auth_lookup(a, ticket->sha256, who) ? CP_AUTH_OK : CP_AUTH_PENDING;
}

cp_auth_result_t cp_auth_check(cp_auth_t *a, gs_call_t *call, cp_caller_t *who,
                               cp_auth_ticket_t *ticket)
{
    const char *token = cp_auth_bearer(gs_call_metadata(call, "authorization"));
    if (!token) {
        gs_call_finish(call, GRPC_STATUS_UNAUTHENTICATED,
                       "authorization: expected 'Bearer <admin token>' metadata", NULL, 0);
        return CP_AUTH_REFUSED;
    }
    return cp_auth_check_token(a, token, who, ticket);
}

int cp_auth_recheck_token(cp_auth_t *a, const cp_auth_ticket_t *ticket, cp_caller_t *who,
                          char *details, size_t dlen)
{
    store_err_t e = {0};
    int rc = 0;
    pthread_mutex_lock(&a->reload_mu);
    if (atomic_load(&a->reloads) == ticket->seen_reloads)
        rc = cp_auth_refresh_locked(a, &e);
    pthread_mutex_unlock(&a->reload_mu);
    if (rc < 0) {
        snprintf(details, dlen, "authorization: cannot read the admin tokens: %s", e.msg);
        return -2;
    }
    if (!cp_auth_lookup(a, ticket->sha256, who)) {
        snprintf(details, dlen, "authorization: admin token not valid");
        return -1;
    }
    return 0;
}

int cp_auth_recheck(cp_auth_t *a, gs_call_t *call, const cp_auth_ticket_t *ticket, cp_caller_t *who)
{
    char details[640];
    int rc = cp_auth_recheck_token(a, ticket, who, details, sizeof(details));
    if (rc == -2) {
        gs_call_finish(call, GRPC_STATUS_UNAVAILABLE, details, NULL, 0);
        return -1;
    }
    if (rc < 0) {
        log_warn("admin call refused", "method=%s cause=\"unknown or revoked token\"",
                 gs_call_method(call));
        gs_call_finish(call, GRPC_STATUS_UNAUTHENTICATED, details, NULL, 0);
        return -1;
    }
    return 0;
}
