/* ratelimit: see ratelimit.h for the buckets and the thread model.
 *
 * A chained hash map of subjects ("key" or "team" + name), each with an rpm
 * and a tpm bucket. A bucket's level is in units of 1/60 000 token: a limit
 * of L per minute refills L units per ms and holds at most L × 60 000.
 */
#include "ratelimit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define RL_UNITS 60000 /* per token; also ms per minute */
#define RL_SLOTS 4096  /* power of two */

typedef struct {
    int64_t limit; /* per minute; 0: unlimited */
    int64_t level; /* units; may be negative (debt) */
} rl_bucket_t;

typedef struct rl_entry {
    struct rl_entry *next;
    uint32_t hash;
    int kind; /* 0 key, 1 team */
    int64_t last_ms;
    rl_bucket_t rpm, tpm;
    char name[];
} rl_entry_t;

struct ratelimit {
    pthread_mutex_t mu;
    int64_t (*now_ms)(void *ud);
    void *ud;
    rl_entry_t *slots[RL_SLOTS];
    size_t n;
    bool warned_full;
};

static int64_t rl_default_now(void *ud)
{
    (void)ud;
    return clock_now_ms();
}

ratelimit_t *ratelimit_new(int64_t (*now_ms)(void *ud), void *ud)
{
    ratelimit_t *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->mu, NULL);
    rl->now_ms = now_ms ? now_ms : rl_default_now;
    rl->ud = ud;
    return rl;
}

void ratelimit_free(ratelimit_t *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < RL_SLOTS; i++) {
        rl_entry_t *e = rl->slots[i];
        while (e) {
            rl_entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static uint32_t rl_hash(int kind, const char *name)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static int64_t rl_clamp(int64_t limit)
{
    if (limit <= 0)
        return 0;
    return limit > RATELIMIT_MAX_LIMIT ? RATELIMIT_MAX_LIMIT : limit;
}

static int64_t rl_capacity(const rl_bucket_t *b)
{
    return b->limit * RL_UNITS;
}

/* Applies a (possibly changed) limit and the refill since the last visit. */
static void rl_refill(rl_bucket_t *b, int64_t limit, int64_t elapsed_ms, bool fresh)
{
    limit = rl_clamp(limit);
    if (limit == 0) {
        b->limit = 0;
        b->level = 0;
        return;
    }
    if (fresh || b->limit == 0) {
        b->limit = limit;
        b->level = rl_capacity(b);
        return;
    }
    b->limit = limit;
    int64_t cap = rl_capacity(b);
    if (elapsed_ms > 0) {
        /* A debt is at most one capacity (admit and settle clamp it), so
         * after two minutes the bucket is full: cap the product there, it
         * cannot overflow. */
        int64_t add = elapsed_ms > 2 * RL_UNITS + 1 ? 3 * cap + 1 : elapsed_ms * limit;
        b->level = b->level > cap - add ? cap : b->level + add;
    }
    if (b->level > cap)
        b->level = cap;
}

static bool rl_entry_full(const rl_entry_t *e, int64_t now_ms)
{
    rl_bucket_t r = e->rpm, t = e->tpm;
    int64_t elapsed = now_ms - e->last_ms;
    rl_refill(&r, r.limit, elapsed, false);
    rl_refill(&t, t.limit, elapsed, false);
    return r.level == rl_capacity(&r) && t.level == rl_capacity(&t);
}

/* Drops every entry that has refilled: it holds no state. mu held. */
static void rl_sweep(ratelimit_t *rl, int64_t now_ms)
{
    for (size_t i = 0; i < RL_SLOTS; i++) {
        rl_entry_t **pp = &rl->slots[i];
        while (*pp) {
            rl_entry_t *e = *pp;
            if (rl_entry_full(e, now_ms)) {
                *pp = e->next;
                free(e);
                rl->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

/* The subject's entry, refilled to now with its current limits; NULL when
 * it cannot be tracked (out of memory, map full). mu held. */
static rl_entry_t *rl_get(ratelimit_t *rl, int kind, const char *name, int64_t rpm, int64_t tpm,
                          int64_t now_ms)
{
    uint32_t h = rl_hash(kind, name);
    rl_entry_t **slot = &rl->slots[h & (RL_SLOTS - 1)];
    for (rl_entry_t *e = *slot; e; e = e->next) {
        if (e->hash == h && e->kind == kind && strcmp(e->name, name) == 0) {
            int64_t elapsed = now_ms - e->last_ms;
            rl_refill(&e->rpm, rpm, elapsed, false);
            rl_refill(&e->tpm, tpm, elapsed, false);
            if (now_ms > e->last_ms)
                e->last_ms = now_ms;
            return e;
        }
    }
    if (rl->n >= RATELIMIT_MAX_SUBJECTS) {
        rl_sweep(rl, now_ms);
        if (rl->n >= RATELIMIT_MAX_SUBJECTS) {
            if (!rl->warned_full)
                log_warn("rate limit subjects full; new subjects are not limited", "max=%d",
                         RATELIMIT_MAX_SUBJECTS);
            rl->warned_full = true;
            return NULL;
        }
    }
    size_t len = strlen(name);
    rl_entry_t *e = calloc(1, sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    memcpy(e->name, name, len + 1);
    e->hash = h;
    e->kind = kind;
    e->last_ms = now_ms;
    rl_refill(&e->rpm, rpm, 0, true);
    rl_refill(&e->tpm, tpm, 0, true);
    e->next = *slot;
    *slot = e;
    rl->n++;
    return e;
}

/* ms until b holds `need` units (0: it does now). */
static int64_t rl_wait_ms(const rl_bucket_t *b, int64_t need)
{
    /* Asking for nothing never waits, not even on a bucket in debt: a cache
     * hit (no tokens) is served while the key's tokens are spent. */
    if (b->limit == 0 || need <= 0 || b->level >= need)
        return 0;
    int64_t missing = need - b->level;
    return (missing + b->limit - 1) / b->limit;
}

typedef struct {
    const char *what; /* "key" / "team" */
    const char *name;
    const char *unit; /* "requests" / "tokens" */
    int64_t limit;
    int64_t wait_ms;
} rl_refusal_t;

static void rl_check(const rl_bucket_t *b, int64_t need, const char *what, const char *name,
                     const char *unit, rl_refusal_t *worst)
{
    int64_t w = rl_wait_ms(b, need);
    if (w > worst->wait_ms)
        *worst = (rl_refusal_t){what, name, unit, b->limit, w};
}

static bool rl_named(const char *s)
{
    return s && s[0];
}

int ratelimit_admit(ratelimit_t *rl, const ratelimit_subject_t *s, int requests, int64_t tokens,
                    ratelimit_ticket_t *ticket, int64_t *retry_after_ms, char *why, size_t whylen)
{
    memset(ticket, 0, sizeof(*ticket));
    *retry_after_ms = 0;
    if (whylen)
        why[0] = '\0';
    bool key_limited = rl_named(s->key) && (s->key_rpm > 0 || s->key_tpm > 0);
    bool team_limited = rl_named(s->team) && (s->team_rpm > 0 || s->team_tpm > 0);
    if (!key_limited && !team_limited)
        return 0;
    if (tokens < 0)
        tokens = 0;
    if (tokens > RATELIMIT_MAX_LIMIT)
        tokens = RATELIMIT_MAX_LIMIT;

    pthread_mutex_lock(&rl->mu);
    int64_t now = rl->now_ms(rl->ud);
    rl_entry_t *k = key_limited ? rl_get(rl, 0, s->key, s->key_rpm, s->key_tpm, now) : NULL;
    rl_entry_t *t = team_limited ? rl_get(rl, 1, s->team, s->team_rpm, s->team_tpm, now) : NULL;
    int64_t tok_units = tokens * RL_UNITS;
    int64_t req_units = requests > 0 ? RL_UNITS : 0;
    rl_refusal_t worst = {0};
    /* A tpm estimate above the whole minute waits for a full bucket only. */
    if (k) {
        rl_check(&k->rpm, req_units, "key", k->name, "requests", &worst);
        int64_t need = tok_units < rl_capacity(&k->tpm) ? tok_units : rl_capacity(&k->tpm);
        rl_check(&k->tpm, need, "key", k->name, "tokens", &worst);
    }
    if (t) {
        rl_check(&t->rpm, req_units, "team", t->name, "requests", &worst);
        int64_t need = tok_units < rl_capacity(&t->tpm) ? tok_units : rl_capacity(&t->tpm);
        rl_check(&t->tpm, need, "team", t->name, "tokens", &worst);
    }
    if (worst.wait_ms > 0) {
        if (whylen)
            snprintf(why, whylen,
                     "rate limit: %s '%.64s' over %lld %s per minute; retry in %lld.%03lld s",
                     worst.what, worst.name, (long long)worst.limit, worst.unit,
                     (long long)(worst.wait_ms / 1000), (long long)(worst.wait_ms % 1000));
        *retry_after_ms = worst.wait_ms;
        pthread_mutex_unlock(&rl->mu);
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        rl_entry_t *e = i == 0 ? k : t;
        if (!e)
            continue;
        if (e->rpm.limit)
            e->rpm.level -= req_units;
        if (e->tpm.limit) {
            e->tpm.level -= tok_units;
            if (e->tpm.level < -rl_capacity(&e->tpm))
                e->tpm.level = -rl_capacity(&e->tpm);
        }
    }
    pthread_mutex_unlock(&rl->mu);
    ticket->subject = *s;
    ticket->charged_tokens = tokens;
    ticket->active = true;
    return 0;
}

void ratelimit_settle(ratelimit_t *rl, ratelimit_ticket_t *ticket, int64_t actual_tokens)
{
    if (!ticket->active)
        return;
    ticket->active = false;
    const ratelimit_subject_t *s = &ticket->subject;
    if (actual_tokens < 0 || (s->key_tpm <= 0 && s->team_tpm <= 0))
        return;
    if (actual_tokens > RATELIMIT_MAX_LIMIT)
        actual_tokens = RATELIMIT_MAX_LIMIT;
    int64_t delta = (actual_tokens - ticket->charged_tokens) * RL_UNITS; /* > 0: charge more */
    if (delta == 0)
        return;
    pthread_mutex_lock(&rl->mu);
    int64_t now = rl->now_ms(rl->ud);
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? s->key : s->team;
        int64_t rpm = i == 0 ? s->key_rpm : s->team_rpm, tpm = i == 0 ? s->key_tpm : s->team_tpm;
        if (!rl_named(name) || tpm <= 0)
            continue;
        rl_entry_t *e = rl_get(rl, i, name, rpm, tpm, now);
        if (!e || !e->tpm.limit)
            continue;
        int64_t cap = rl_capacity(&e->tpm);
        int64_t level = e->tpm.level - delta;
        /* At most one capacity of debt: a runaway completion waits a minute, not forever. */
        if (level < -cap)
            level = -cap;
        e->tpm.level = level > cap ? cap : level;
    }
    pthread_mutex_unlock(&rl->mu);
}

size_t ratelimit_n_subjects(ratelimit_t *rl)
{
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->n;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
