/* metrics: per-deployment live figures (see metrics.h).
 *
 * Layout: the registry is an append-only array of entries plus an
 * open-addressing index (FNV-1a of "provider\0model"); a rwlock serializes
 * writers (and the walks over all entries), lookups go lock-free through the
 * atomically published index, and entries are never moved or freed before
 * metrics_free, so a pointer from metrics_dep stays valid without a lock.
 *
 * Each entry owns a ring of slots, one per slot_ms of time. A slot is
 * stamped with its epoch (now / slot_ms): writing into a slot with an older
 * stamp clears it first, and readers skip slots whose stamp is outside the
 * window — so expiry costs nothing on the hot path and needs no timer.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define METRICS_BUCKETS 128 /* 4 per doubling up to 2^31 µs (about 36 min) */
#define METRICS_INDEX 8192  /* > 2 × METRICS_MAX_DEPLOYMENTS, power of two */
#define METRICS_MAX_PROVIDERS 1024
#define METRICS_EWMA_ALPHA 0.2

typedef struct {
    int64_t epoch; /* now_ms / slot_ms of the data in here; -1 empty */
    uint32_t lat[METRICS_BUCKETS];
    uint32_t ttft[METRICS_BUCKETS];
    uint32_t by_class[METRICS_N_CLASSES];
    uint64_t output_tokens;
    uint64_t generation_us; /* latency - ttft of attempts that reported tokens */
} metrics_slot_t;

struct metrics_dep {
    metrics_t *m; /* the registry: its clock and slot geometry */
    char provider[64];
    char model[160];
    pthread_mutex_t mu;
    /* guarded by mu */
    int in_flight;
    double ewma_ms; /* < 0 until the first sample */
    uint64_t total_attempts;
    uint64_t total_by_class[METRICS_N_CLASSES];
    breaker_t breaker;
    int64_t retry_until_ms; /* monotonic; 0 none */
    char last_error[160];
    metrics_class_t last_error_class;
    int64_t last_error_ms; /* monotonic; 0 none */
    metrics_slot_t *slots; /* n_slots */
    /* Window totals by class as of cached_epoch: routing reads them on every
     * decision, and within one epoch the slots in the window do not change,
     * so a record only bumps them and a new epoch recomputes once. */
    int64_t cached_epoch; /* -1: stale */
    uint64_t cached_by_class[METRICS_N_CLASSES];
};

typedef struct {
    char name[64];
    bool probed;
    bool ok;
    char reason[160];
    int64_t last_probe_ms;
    int64_t changed_ms;
} metrics_prov_t;

struct metrics {
    metrics_config_t cfg;
    int n_slots;
    pthread_rwlock_t lock;
    metrics_dep_t **deps; /* METRICS_MAX_DEPLOYMENTS, creation order */
    size_t n_deps;
    /* dep index + 1; 0 empty. Written once, after deps[] (release), so
     * lookups read it without the lock (acquire). */
    _Atomic int32_t index[METRICS_INDEX];
    metrics_prov_t *provs; /* METRICS_MAX_PROVIDERS */
    size_t n_provs;
    /* monotonic → unix for display: fixed at creation */
    int64_t unix_offset_ms;
};

metrics_t *metrics_new(const metrics_config_t *cfg)
{
    metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->cfg.window_ms = cfg && cfg->window_ms > 0 ? cfg->window_ms : 300000;
    m->cfg.slot_ms = cfg && cfg->slot_ms > 0 ? cfg->slot_ms : 10000;
    m->cfg.now_ms = cfg && cfg->now_ms ? cfg->now_ms : clock_now_ms;
    m->n_slots = m->cfg.window_ms / m->cfg.slot_ms;
    if (m->n_slots < 1 || m->n_slots > 360 || pthread_rwlock_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    m->deps = calloc(METRICS_MAX_DEPLOYMENTS, sizeof(*m->deps));
    m->provs = calloc(METRICS_MAX_PROVIDERS, sizeof(*m->provs));
    if (!m->deps || !m->provs)
        goto fail;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->unix_offset_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - clock_now_ms();
    return m;
fail:
    metrics_free(m);
    return NULL;
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_deps; i++) {
        pthread_mutex_destroy(&m->deps[i]->mu);
        free(m->deps[i]->slots);
        free(m->deps[i]);
    }
    free(m->deps);
    free(m->provs);
    pthread_rwlock_destroy(&m->lock);
    free(m);
}

int64_t metrics_now_ms(const metrics_t *m)
{
    return m->cfg.now_ms();
}

/* Display time: injected clocks in tests are not wall-clock based, so a
 * monotonic stamp is mapped through the offset taken at creation. */
static int64_t metrics_unix_ms(const metrics_t *m, int64_t mono_ms)
{
    return mono_ms ? mono_ms + m->unix_offset_ms : 0;
}

static uint32_t metrics_hash(const char *provider, const char *model)
{
    uint32_t h = 2166136261u;
    for (const char *s = provider; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    h = (h ^ 0xffu) * 16777619u; /* separator no name contains */
    for (const char *s = model; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Any thread; a miss is only final under the write lock. */
static metrics_dep_t *metrics_lookup(metrics_t *m, const char *provider, const char *model,
                                     uint32_t h, size_t *free_slot)
{
    for (size_t i = h & (METRICS_INDEX - 1);; i = (i + 1) & (METRICS_INDEX - 1)) {
        int32_t k = atomic_load_explicit(&m->index[i], memory_order_acquire);
        if (k == 0) {
            if (free_slot)
                *free_slot = i;
            return NULL;
        }
        metrics_dep_t *d = m->deps[k - 1];
        if (strcmp(d->provider, provider) == 0 && strcmp(d->model, model) == 0)
            return d;
    }
}

metrics_dep_t *metrics_find(metrics_t *m, const char *provider, const char *model)
{
    /* Lock-free: entries are never moved or removed, and an index slot is
     * published only after its entry is complete. */
    return metrics_lookup(m, provider, model, metrics_hash(provider, model), NULL);
}

metrics_dep_t *metrics_dep(metrics_t *m, const char *provider, const char *model)
{
    if (strlen(provider) >= sizeof(((metrics_dep_t *)0)->provider) ||
        strlen(model) >= sizeof(((metrics_dep_t *)0)->model))
        return NULL;
    metrics_dep_t *d = metrics_find(m, provider, model);
    if (d)
        return d;
    uint32_t h = metrics_hash(provider, model);
    size_t at = 0;
    pthread_rwlock_wrlock(&m->lock);
    d = metrics_lookup(m, provider, model, h, &at); /* another thread may have added it */
    if (d || m->n_deps >= METRICS_MAX_DEPLOYMENTS)
        goto out;
    d = calloc(1, sizeof(*d));
    if (!d)
        goto out;
    d->slots = calloc((size_t)m->n_slots, sizeof(*d->slots));
    if (!d->slots || pthread_mutex_init(&d->mu, NULL) != 0) {
        free(d->slots);
        free(d);
        d = NULL;
        goto out;
    }
    for (int i = 0; i < m->n_slots; i++)
        d->slots[i].epoch = -1;
    snprintf(d->provider, sizeof(d->provider), "%s", provider);
    snprintf(d->model, sizeof(d->model), "%s", model);
    d->m = m;
    d->ewma_ms = -1;
    d->cached_epoch = -1;
    breaker_init(&d->breaker, m->cfg.now_ms());
    m->deps[m->n_deps++] = d;
    atomic_store_explicit(&m->index[at], (int32_t)m->n_deps, memory_order_release);
out:
    pthread_rwlock_unlock(&m->lock);
    return d;
}

metrics_class_t metrics_class_from_type(const char *t)
{
    if (!t)
        return METRICS_ERR_OTHER;
    if (strcmp(t, "connect") == 0)
        return METRICS_ERR_CONNECT;
    if (strcmp(t, "timeout") == 0)
        return METRICS_ERR_TIMEOUT;
    if (strcmp(t, "rate_limit") == 0)
        return METRICS_ERR_RATE_LIMIT;
    if (strcmp(t, "server") == 0)
        return METRICS_ERR_SERVER;
    if (strcmp(t, "bad_response") == 0)
        return METRICS_ERR_BAD_RESPONSE;
    return METRICS_ERR_OTHER;
}

const char *metrics_class_name(metrics_class_t c)
{
    static const char *const names[METRICS_N_CLASSES] = {
        "ok", "connect", "timeout", "rate_limit", "server", "bad_response", "other"};
    return c < METRICS_N_CLASSES ? names[c] : "other";
}

const char *metrics_health_name(metrics_health_t h)
{
    switch (h) {
    case METRICS_HEALTH_HEALTHY:
        return "healthy";
    case METRICS_HEALTH_DEGRADED:
        return "degraded";
    case METRICS_HEALTH_DOWN:
        return "down";
    case METRICS_HEALTH_UNKNOWN:
        break;
    }
    return "unknown";
}

/* --- histograms ---------------------------------------------------------- */

/* 4 buckets per doubling: the top two bits below the leading one pick the
 * quarter, so a bucket is at most 25% wide. */
static int metrics_bucket(int64_t us)
{
    if (us < 4)
        return us < 0 ? 0 : (int)us;
    uint64_t v = (uint64_t)us;
    int e = 63 - __builtin_clzll(v);
    int i = e * 4 + (int)((v >> (e - 2)) & 3);
    return i < METRICS_BUCKETS ? i : METRICS_BUCKETS - 1;
}

/* The middle of bucket i, in ms. */
static double metrics_bucket_ms(int i)
{
    if (i < 8)
        return i / 1000.0;
    int e = i / 4, q = i % 4;
    double lo = (double)((uint64_t)(4 + q) << (e - 2));
    double width = (double)((uint64_t)1 << (e - 2));
    return (lo + width / 2) / 1000.0;
}

static double metrics_percentile(const uint64_t *h, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(p * (double)n);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < METRICS_BUCKETS; i++) {
        seen += h[i];
        if (seen >= rank)
            return metrics_bucket_ms(i);
    }
    return metrics_bucket_ms(METRICS_BUCKETS - 1);
}

/* --- hot path ------------------------------------------------------------ */

/* The slot for `now`, cleared when it held an older epoch. Under d->mu. */
static metrics_slot_t *metrics_slot(metrics_dep_t *d, int64_t now_ms)
{
    int64_t epoch = now_ms / d->m->cfg.slot_ms;
    metrics_slot_t *s = &d->slots[epoch % d->m->n_slots];
    if (s->epoch != epoch) {
        memset(s, 0, sizeof(*s));
        s->epoch = epoch;
    }
    return s;
}

static bool metrics_in_window(const metrics_dep_t *d, const metrics_slot_t *s, int64_t now_ms)
{
    int64_t epoch = now_ms / d->m->cfg.slot_ms;
    return s->epoch >= 0 && s->epoch <= epoch && s->epoch > epoch - d->m->n_slots;
}

int64_t metrics_retry_after_left_ms(metrics_dep_t *d)
{
    int64_t now = d->m->cfg.now_ms();
    pthread_mutex_lock(&d->mu);
    int64_t left = d->retry_until_ms > now ? d->retry_until_ms - now : 0;
    pthread_mutex_unlock(&d->mu);
    return left;
}

bool metrics_attempt_start(metrics_dep_t *d, const breaker_config_t *bc, char *why, size_t whylen)
{
    int64_t now = d->m->cfg.now_ms();
    bool ok = false;
    pthread_mutex_lock(&d->mu);
    if (d->retry_until_ms > now) {
        snprintf(why, whylen, "retry-after: skipped for another %lld ms",
                 (long long)(d->retry_until_ms - now));
    } else if (!breaker_acquire(&d->breaker, bc, now)) {
        snprintf(why, whylen, "breaker %s: %s", breaker_state_name(d->breaker.state),
                 d->breaker.reason[0] ? d->breaker.reason : "probe slots taken");
    } else {
        d->in_flight++;
        ok = true;
    }
    pthread_mutex_unlock(&d->mu);
    return ok;
}

static breaker_outcome_t metrics_breaker_outcome(metrics_class_t c)
{
    switch (c) {
    case METRICS_OK:
        return BREAKER_SUCCESS;
    case METRICS_ERR_CONNECT:
    case METRICS_ERR_TIMEOUT:
    case METRICS_ERR_SERVER:
    case METRICS_ERR_BAD_RESPONSE:
        return BREAKER_FAILURE;
    default:
        /* 429 is back-pressure (Retry-After handles it); client errors say
         * nothing about the deployment. */
        return BREAKER_NEUTRAL;
    }
}

bool metrics_attempt_end(metrics_dep_t *d, const breaker_config_t *bc, const metrics_outcome_t *o)
{
    int64_t now = d->m->cfg.now_ms();
    metrics_class_t c = o->cls < METRICS_N_CLASSES ? o->cls : METRICS_ERR_OTHER;
    pthread_mutex_lock(&d->mu);
    if (d->in_flight > 0)
        d->in_flight--;
    metrics_slot_t *s = metrics_slot(d, now);
    s->by_class[c]++;
    if (d->cached_epoch == s->epoch)
        d->cached_by_class[c]++;
    d->total_attempts++;
    d->total_by_class[c]++;
    if (c == METRICS_OK) {
        s->lat[metrics_bucket(o->latency_us)]++;
        if (o->ttft_us >= 0)
            s->ttft[metrics_bucket(o->ttft_us)]++;
        double ms = (double)o->latency_us / 1000.0;
        d->ewma_ms =
            d->ewma_ms < 0 ? ms : METRICS_EWMA_ALPHA * ms + (1 - METRICS_EWMA_ALPHA) * d->ewma_ms;
        if (o->output_tokens > 0) {
            int64_t gen = o->latency_us - (o->ttft_us > 0 ? o->ttft_us : 0);
            s->output_tokens += (uint64_t)o->output_tokens;
            s->generation_us += (uint64_t)(gen > 0 ? gen : 1);
        }
    } else {
        snprintf(d->last_error, sizeof(d->last_error), "%s%s%s", metrics_class_name(c),
                 o->error && o->error[0] ? ": " : "", o->error ? o->error : "");
        d->last_error_class = c;
        d->last_error_ms = now;
    }
    if (o->retry_after_ms > 0 && c != METRICS_OK)
        d->retry_until_ms = now + o->retry_after_ms;
    breaker_state_t before = d->breaker.state;
    breaker_record(&d->breaker, bc, metrics_breaker_outcome(c), now, o->error);
    bool opened = before != BREAKER_OPEN && d->breaker.state == BREAKER_OPEN;
    pthread_mutex_unlock(&d->mu);
    return opened;
}

void metrics_attempt_abandon(metrics_dep_t *d, const breaker_config_t *bc)
{
    int64_t now = d->m->cfg.now_ms();
    pthread_mutex_lock(&d->mu);
    if (d->in_flight > 0)
        d->in_flight--;
    breaker_record(&d->breaker, bc, BREAKER_NEUTRAL, now, NULL);
    pthread_mutex_unlock(&d->mu);
}

/* Results that say something about the deployment: everything but OTHER. */
static void metrics_rate(const uint64_t *by_class, uint64_t *results, double *success)
{
    uint64_t n = 0;
    for (int c = 0; c < METRICS_N_CLASSES; c++)
        if (c != METRICS_ERR_OTHER)
            n += by_class[c];
    *results = n;
    *success = n ? (double)by_class[METRICS_OK] / (double)n : 1.0;
}

void metrics_live(metrics_dep_t *d, const breaker_config_t *bc, metrics_live_t *out)
{
    metrics_live_at(d, bc, d->m->cfg.now_ms(), out);
}

void metrics_live_at(metrics_dep_t *d, const breaker_config_t *bc, int64_t now, metrics_live_t *out)
{
    uint64_t by_class[METRICS_N_CLASSES];
    int64_t epoch = now / d->m->cfg.slot_ms;
    pthread_mutex_lock(&d->mu);
    if (d->cached_epoch != epoch) {
        memset(d->cached_by_class, 0, sizeof(d->cached_by_class));
        for (int i = 0; i < d->m->n_slots; i++) {
            const metrics_slot_t *s = &d->slots[i];
            if (!metrics_in_window(d, s, now))
                continue;
            for (int c = 0; c < METRICS_N_CLASSES; c++)
                d->cached_by_class[c] += s->by_class[c];
        }
        d->cached_epoch = epoch;
    }
    memcpy(by_class, d->cached_by_class, sizeof(by_class));
    out->latency_ms = d->ewma_ms;
    out->in_flight = d->in_flight;
    out->why[0] = '\0';
    out->available = true;
    if (d->retry_until_ms > now) {
        out->available = false;
        snprintf(out->why, sizeof(out->why), "retry-after: skipped for another %lld ms",
                 (long long)(d->retry_until_ms - now));
    } else if (!breaker_available(&d->breaker, bc, now)) {
        out->available = false;
        snprintf(out->why, sizeof(out->why), "breaker %s: %s", breaker_state_name(d->breaker.state),
                 d->breaker.reason[0] ? d->breaker.reason : "probe slots taken");
    }
    pthread_mutex_unlock(&d->mu);
    metrics_rate(by_class, &out->results, &out->success_rate);
}

/* --- health -------------------------------------------------------------- */

/* Under the write lock. NULL when the provider table is full. */
static metrics_prov_t *metrics_prov(metrics_t *m, const char *provider, bool create)
{
    for (size_t i = 0; i < m->n_provs; i++)
        if (strcmp(m->provs[i].name, provider) == 0)
            return &m->provs[i];
    if (!create || m->n_provs >= METRICS_MAX_PROVIDERS ||
        strlen(provider) >= sizeof(m->provs[0].name))
        return NULL;
    metrics_prov_t *p = &m->provs[m->n_provs++];
    snprintf(p->name, sizeof(p->name), "%s", provider);
    return p;
}

void metrics_provider_probe(metrics_t *m, const char *provider, bool ok, const char *reason)
{
    int64_t now = m->cfg.now_ms();
    pthread_rwlock_wrlock(&m->lock);
    metrics_prov_t *p = metrics_prov(m, provider, true);
    if (p) {
        if (!p->probed || p->ok != ok)
            p->changed_ms = now;
        p->probed = true;
        p->ok = ok;
        p->last_probe_ms = now;
        snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "");
    }
    pthread_rwlock_unlock(&m->lock);
}

void metrics_provider_each_breaker(metrics_t *m, const char *provider,
                                   void (*fn)(breaker_t *b, int64_t now_ms, void *ud), void *ud)
{
    int64_t now = m->cfg.now_ms();
    pthread_rwlock_rdlock(&m->lock);
    for (size_t i = 0; i < m->n_deps; i++) {
        metrics_dep_t *d = m->deps[i];
        if (strcmp(d->provider, provider) != 0)
            continue;
        pthread_mutex_lock(&d->mu);
        fn(&d->breaker, now, ud);
        pthread_mutex_unlock(&d->mu);
    }
    pthread_rwlock_unlock(&m->lock);
}

/* --- snapshots ----------------------------------------------------------- */

static void metrics_fill(metrics_dep_t *d, metrics_snapshot_t *out)
{
    metrics_t *m = d->m;
    int64_t now = m->cfg.now_ms();
    uint64_t lat[METRICS_BUCKETS] = {0}, ttft[METRICS_BUCKETS] = {0};
    uint64_t n_lat = 0, n_ttft = 0, tokens = 0, gen_us = 0;
    memset(out, 0, sizeof(*out));
    snprintf(out->provider, sizeof(out->provider), "%s", d->provider);
    snprintf(out->model, sizeof(out->model), "%s", d->model);
    pthread_mutex_lock(&d->mu);
    for (int i = 0; i < m->n_slots; i++) {
        const metrics_slot_t *s = &d->slots[i];
        if (!metrics_in_window(d, s, now))
            continue;
        for (int b = 0; b < METRICS_BUCKETS; b++) {
            lat[b] += s->lat[b];
            ttft[b] += s->ttft[b];
            n_lat += s->lat[b];
            n_ttft += s->ttft[b];
        }
        for (int c = 0; c < METRICS_N_CLASSES; c++) {
            out->window_by_class[c] += s->by_class[c];
            out->window_attempts += s->by_class[c];
        }
        tokens += s->output_tokens;
        gen_us += s->generation_us;
    }
    out->total_attempts = d->total_attempts;
    memcpy(out->total_by_class, d->total_by_class, sizeof(out->total_by_class));
    out->latency_ewma_ms = d->ewma_ms;
    out->in_flight = d->in_flight;
    out->breaker = d->breaker.state;
    snprintf(out->breaker_reason, sizeof(out->breaker_reason), "%s", d->breaker.reason);
    out->breaker_since_unix_ms = metrics_unix_ms(m, d->breaker.changed_ms);
    if (d->retry_until_ms > now)
        out->retry_after_until_unix_ms = metrics_unix_ms(m, d->retry_until_ms);
    snprintf(out->last_error, sizeof(out->last_error), "%s", d->last_error);
    out->last_error_class = d->last_error_class;
    out->last_error_unix_ms = metrics_unix_ms(m, d->last_error_ms);
    pthread_mutex_unlock(&d->mu);

    uint64_t results;
    metrics_rate(out->window_by_class, &results, &out->success_rate);
    out->latency_p50_ms = metrics_percentile(lat, n_lat, 0.50);
    out->latency_p90_ms = metrics_percentile(lat, n_lat, 0.90);
    out->latency_p99_ms = metrics_percentile(lat, n_lat, 0.99);
    out->ttft_p50_ms = metrics_percentile(ttft, n_ttft, 0.50);
    out->ttft_p90_ms = metrics_percentile(ttft, n_ttft, 0.90);
    out->ttft_p99_ms = metrics_percentile(ttft, n_ttft, 0.99);
    out->output_tokens_per_s = gen_us ? (double)tokens * 1e6 / (double)gen_us : 0;
}

void metrics_snapshot_all(metrics_t *m, void (*cb)(void *ud, const metrics_snapshot_t *s), void *ud)
{
    /* Entries are append-only: read the count once, then walk without the
     * registry lock so a callback may take its time. */
    pthread_rwlock_rdlock(&m->lock);
    size_t n = m->n_deps;
    pthread_rwlock_unlock(&m->lock);
    metrics_snapshot_t *s = malloc(sizeof(*s));
    if (!s)
        return;
    for (size_t i = 0; i < n; i++) {
        pthread_rwlock_rdlock(&m->lock);
        metrics_dep_t *d = m->deps[i];
        pthread_rwlock_unlock(&m->lock);
        metrics_fill(d, s);
        cb(ud, s);
    }
    free(s);
}

int metrics_snapshot_one(metrics_t *m, const char *provider, const char *model,
                         metrics_snapshot_t *out)
{
    metrics_dep_t *d = metrics_find(m, provider, model);
    if (!d) {
        memset(out, 0, sizeof(*out));
        snprintf(out->provider, sizeof(out->provider), "%s", provider);
        snprintf(out->model, sizeof(out->model), "%s", model);
        out->success_rate = 1;
        out->latency_ewma_ms = -1;
        return -1;
    }
    metrics_fill(d, out);
    return 0;
}

void metrics_provider_snapshot(metrics_t *m, const char *provider, metrics_provider_snapshot_t *out)
{
    int64_t now = m->cfg.now_ms();
    memset(out, 0, sizeof(*out));
    snprintf(out->provider, sizeof(out->provider), "%s", provider);
    bool probed = false, probe_ok = false, traffic_ok = false;
    int64_t changed = 0;
    char degraded[160] = "";
    pthread_rwlock_rdlock(&m->lock);
    for (size_t i = 0; i < m->n_provs; i++) {
        const metrics_prov_t *p = &m->provs[i];
        if (strcmp(p->name, provider) != 0)
            continue;
        probed = p->probed;
        probe_ok = p->ok;
        changed = p->changed_ms;
        out->last_probe_unix_ms = metrics_unix_ms(m, p->last_probe_ms);
        snprintf(out->reason, sizeof(out->reason), "%s", p->reason);
    }
    for (size_t i = 0; i < m->n_deps && !(probed && !probe_ok); i++) {
        metrics_dep_t *d = m->deps[i];
        if (strcmp(d->provider, provider) != 0)
            continue;
        uint64_t by_class[METRICS_N_CLASSES] = {0};
        pthread_mutex_lock(&d->mu);
        breaker_state_t bs = d->breaker.state;
        int64_t bchanged = d->breaker.changed_ms;
        for (int k = 0; k < m->n_slots; k++)
            if (metrics_in_window(d, &d->slots[k], now))
                for (int c = 0; c < METRICS_N_CLASSES; c++)
                    by_class[c] += d->slots[k].by_class[c];
        pthread_mutex_unlock(&d->mu);
        uint64_t results;
        double success;
        metrics_rate(by_class, &results, &success);
        if (by_class[METRICS_OK] > 0)
            traffic_ok = true;
        if (degraded[0])
            continue;
        if (bs != BREAKER_CLOSED) {
            snprintf(degraded, sizeof(degraded), "%.100s: breaker %s", d->model,
                     breaker_state_name(bs));
            if (bchanged > changed)
                changed = bchanged;
        } else if (results >= 5 && success < 0.8) {
            snprintf(degraded, sizeof(degraded), "%.100s: success rate %.0f%% over the window",
                     d->model, success * 100);
        }
    }
    pthread_rwlock_unlock(&m->lock);
    if (probed && !probe_ok) {
        out->health = METRICS_HEALTH_DOWN;
    } else if (degraded[0]) {
        out->health = METRICS_HEALTH_DEGRADED;
        snprintf(out->reason, sizeof(out->reason), "%s", degraded);
    } else if (probed || traffic_ok) {
        out->health = METRICS_HEALTH_HEALTHY;
        if (!probed)
            snprintf(out->reason, sizeof(out->reason), "serving traffic (no active probe)");
    } else {
        out->health = METRICS_HEALTH_UNKNOWN;
        snprintf(out->reason, sizeof(out->reason), "not probed yet and no traffic");
    }
    out->since_unix_ms = metrics_unix_ms(m, changed);
}
