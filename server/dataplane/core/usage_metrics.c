/* usage_metrics: per-minute snapshots per deployment. See usage_metrics.h.
 *
 * Entries live in a flat array searched linearly: between two batches (one
 * second) a node holds a handful of (minute, deployment) pairs, and the
 * bound keeps the worst case small. Histograms are allocated on first use. */
#include "usage_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lathist.h"
#include "llmgw/v1/usage.pb-c.h"

typedef struct {
    char strategy[16], reason[16];
    int64_t count;
} um_decision_t;

typedef struct {
    int64_t minute_ms;
    char provider[65], model[257], route[65];
    int64_t attempts, successes, errors[6];
    lathist_t *lat, *ttft;
    int64_t output_tokens, generation_us;
    int64_t requests, requests_ok, fallbacks, prompt_tokens, completion_tokens;
    double cost_usd;
    int64_t breaker_opened, cons_samples, cons_agreed;
    int64_t ens_calls;
    double ens_cost_usd, ens_savings_usd;
    um_decision_t decisions[USAGE_METRICS_MAX_DECISIONS];
    size_t n_decisions;
} um_entry_t;

struct usage_metrics {
    pthread_mutex_t mu;
    um_entry_t *entries; /* USAGE_METRICS_MAX_ENTRIES */
    size_t n;
    uint64_t dropped;
};

usage_metrics_t *usage_metrics_new(void)
{
    usage_metrics_t *m = calloc(1, sizeof(*m));
    if (!m || !(m->entries = calloc(USAGE_METRICS_MAX_ENTRIES, sizeof(*m->entries)))) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void um_clear(um_entry_t *e)
{
    free(e->lat);
    free(e->ttft);
    memset(e, 0, sizeof(*e));
}

void usage_metrics_free(usage_metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        um_clear(&m->entries[i]);
    free(m->entries);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int64_t um_minute(int64_t unix_ms)
{
    if (unix_ms <= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unix_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    return unix_ms - unix_ms % 60000;
}

/* Copies at most cap-1 bytes, cut before a UTF-8 continuation byte. */
static void um_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static bool um_same(const char *field, const char *s, size_t cap)
{
    char tmp[257];
    um_copy(tmp, cap < sizeof(tmp) ? cap : sizeof(tmp), s);
    return strcmp(field, tmp) == 0;
}

/* The entry of (minute, provider, model, route), made when absent; NULL
 * (counted as dropped) past the bound. Under mu. */
static um_entry_t *um_entry(usage_metrics_t *m, int64_t unix_ms, const char *provider,
                            const char *model, const char *route)
{
    int64_t minute = um_minute(unix_ms);
    for (size_t i = m->n; i-- > 0;) {
        um_entry_t *e = &m->entries[i];
        if (e->minute_ms == minute && um_same(e->provider, provider, sizeof(e->provider)) &&
            um_same(e->model, model, sizeof(e->model)) &&
            um_same(e->route, route, sizeof(e->route)))
            return e;
    }
    if (m->n >= USAGE_METRICS_MAX_ENTRIES) {
        m->dropped++;
        return NULL;
    }
    um_entry_t *e = &m->entries[m->n++];
    e->minute_ms = minute;
    um_copy(e->provider, sizeof(e->provider), provider);
    um_copy(e->model, sizeof(e->model), model);
    um_copy(e->route, sizeof(e->route), route);
    return e;
}

void usage_metrics_attempt(usage_metrics_t *m, const usage_metrics_attempt_t *a)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    um_entry_t *e = um_entry(m, a->unix_ms, a->provider, a->model, a->route);
    if (!e)
        goto out;
    if (a->cls == USAGE_METRICS_OK) {
        if (!e->lat)
            e->lat = calloc(1, sizeof(*e->lat));
        if (a->ttft_us >= 0 && !e->ttft)
            e->ttft = calloc(1, sizeof(*e->ttft));
        if (!e->lat || (a->ttft_us >= 0 && !e->ttft)) {
            m->dropped++; /* out of memory: the whole observation goes */
            goto out;
        }
        lathist_add(e->lat, a->latency_us, 1);
        if (a->ttft_us >= 0)
            lathist_add(e->ttft, a->ttft_us, 1);
        e->successes++;
        if (a->output_tokens > 0) {
            int64_t gen = a->latency_us - (a->ttft_us > 0 ? a->ttft_us : 0);
            e->output_tokens += a->output_tokens;
            e->generation_us += gen > 0 ? gen : 1;
        }
    } else {
        int c = (int)a->cls;
        e->errors[c >= 1 && c <= 6 ? c - 1 : 5]++;
    }
    e->attempts++;
    if (a->breaker_opened)
        e->breaker_opened++;
out:
    pthread_mutex_unlock(&m->mu);
}

void usage_metrics_request(usage_metrics_t *m, const usage_metrics_request_t *r)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    um_entry_t *e = um_entry(m, r->unix_ms, r->provider, r->model, r->route);
    if (!e)
        goto out;
    e->requests++;
    if (r->ok)
        e->requests_ok++;
    if (r->ok && r->fallback)
        e->fallbacks++;
    e->prompt_tokens += r->prompt_tokens > 0 ? r->prompt_tokens : 0;
    e->completion_tokens += r->completion_tokens > 0 ? r->completion_tokens : 0;
    e->cost_usd += r->cost_usd > 0 && r->cost_usd < 1e9 ? r->cost_usd : 0;
    if (r->strategy && r->reason) {
        char strategy[16], reason[16];
        um_copy(strategy, sizeof(strategy), r->strategy);
        um_copy(reason, sizeof(reason), r->reason);
        size_t i = 0;
        while (i < e->n_decisions && (strcmp(e->decisions[i].strategy, strategy) != 0 ||
                                      strcmp(e->decisions[i].reason, reason) != 0))
            i++;
        if (i == e->n_decisions && e->n_decisions < USAGE_METRICS_MAX_DECISIONS) {
            memcpy(e->decisions[i].strategy, strategy, sizeof(strategy));
            memcpy(e->decisions[i].reason, reason, sizeof(reason));
            e->n_decisions++;
        }
        if (i < e->n_decisions)
            e->decisions[i].count++;
        else
            m->dropped++;
    }
out:
    pthread_mutex_unlock(&m->mu);
}

void usage_metrics_consistency(usage_metrics_t *m, const char *provider, const char *model,
                               bool agreed)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    um_entry_t *e = um_entry(m, 0, provider, model, "");
    if (e) {
        e->cons_samples++;
        if (agreed)
            e->cons_agreed++;
    }
    pthread_mutex_unlock(&m->mu);
}

/* An amount as the control plane accepts it (finite, 0..1e9 per
 * observation; store_analytics_check refuses a snapshot past 1e12). */
static double um_usd(double v)
{
    return isfinite(v) && v > 0 && v < 1e9 ? v : 0;
}

void usage_metrics_ensemble(usage_metrics_t *m, const char *provider, const char *model,
                            double cost_usd, double savings_usd)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    um_entry_t *e = um_entry(m, 0, provider, model, "");
    if (e) {
        e->ens_calls++;
        e->ens_cost_usd += um_usd(cost_usd);
        e->ens_savings_usd += um_usd(savings_usd);
    }
    pthread_mutex_unlock(&m->mu);
}

static size_t um_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Packs one entry (with its tag and length) onto out. 0 or -1. */
static int um_pack(const um_entry_t *e, buf_t *out, uint32_t *idx, uint64_t *cnt)
{
    Llmgw__V1__MetricSnapshot s = LLMGW__V1__METRIC_SNAPSHOT__INIT;
    Llmgw__V1__LatencyHistogram lat = LLMGW__V1__LATENCY_HISTOGRAM__INIT;
    Llmgw__V1__LatencyHistogram ttft = LLMGW__V1__LATENCY_HISTOGRAM__INIT;
    Llmgw__V1__DecisionCount dc[USAGE_METRICS_MAX_DECISIONS];
    Llmgw__V1__DecisionCount *dcp[USAGE_METRICS_MAX_DECISIONS];
    s.minute_unix_ms = e->minute_ms;
    s.provider = (char *)e->provider;
    s.model = (char *)e->model;
    s.route = (char *)e->route;
    s.attempts = e->attempts;
    s.successes = e->successes;
    s.errors_connect = e->errors[0];
    s.errors_timeout = e->errors[1];
    s.errors_rate_limit = e->errors[2];
    s.errors_server = e->errors[3];
    s.errors_bad_response = e->errors[4];
    s.errors_other = e->errors[5];
    /* Both histograms share the scratch arrays: lat in the first half is
     * packed before ttft fills the second. */
    if (e->lat) {
        lat.n_bucket = lat.n_count = lathist_to_sparse(e->lat, idx, cnt);
        lat.bucket = idx;
        lat.count = cnt;
        s.latency = &lat;
    }
    if (e->ttft) {
        ttft.n_bucket = ttft.n_count =
            lathist_to_sparse(e->ttft, idx + LATHIST_BUCKETS, cnt + LATHIST_BUCKETS);
        ttft.bucket = idx + LATHIST_BUCKETS;
        ttft.count = cnt + LATHIST_BUCKETS;
        s.ttft = &ttft;
    }
    s.output_tokens = e->output_tokens;
    s.generation_us = e->generation_us;
    s.requests = e->requests;
    s.requests_ok = e->requests_ok;
    s.fallbacks = e->fallbacks;
    s.prompt_tokens = e->prompt_tokens;
    s.completion_tokens = e->completion_tokens;
    s.cost_usd = e->cost_usd;
    s.breaker_opened = e->breaker_opened;
    s.consistency_samples = e->cons_samples;
    s.consistency_agreed = e->cons_agreed;
    s.ensemble_calls = e->ens_calls;
    s.ensemble_cost_usd = e->ens_cost_usd;
    s.ensemble_savings_usd = e->ens_savings_usd;
    for (size_t i = 0; i < e->n_decisions; i++) {
        llmgw__v1__decision_count__init(&dc[i]);
        dc[i].strategy = (char *)e->decisions[i].strategy;
        dc[i].reason = (char *)e->decisions[i].reason;
        dc[i].count = e->decisions[i].count;
        dcp[i] = &dc[i];
    }
    s.decisions = dcp;
    s.n_decisions = e->n_decisions;
    size_t len = llmgw__v1__metric_snapshot__get_packed_size(&s);
    uint8_t head[11];
    size_t h = 0;
    head[h++] = (5 << 3) | 2; /* ReportUsageRequest.metrics, length-delimited */
    h += um_varint(head + h, len);
    uint8_t *p = (uint8_t *)buf_space(out, h + len);
    if (!p)
        return -1;
    memcpy(p, head, h);
    llmgw__v1__metric_snapshot__pack(&s, p + h);
    buf_commit(out, h + len);
    return 0;
}

int usage_metrics_take(usage_metrics_t *m, buf_t *out)
{
    if (!m)
        return 0;
    uint32_t *idx = malloc(2 * LATHIST_BUCKETS * sizeof(*idx));
    uint64_t *cnt = malloc(2 * LATHIST_BUCKETS * sizeof(*cnt));
    int rc = -1;
    if (!idx || !cnt)
        goto out;
    pthread_mutex_lock(&m->mu);
    size_t start = out->len;
    for (size_t i = 0; i < m->n; i++) {
        if (um_pack(&m->entries[i], out, idx, cnt) < 0) {
            out->len = start; /* all or nothing: the entries stay */
            if (out->data)
                out->data[start] = '\0';
            pthread_mutex_unlock(&m->mu);
            goto out;
        }
    }
    rc = (int)m->n;
    for (size_t i = 0; i < m->n; i++)
        um_clear(&m->entries[i]);
    m->n = 0;
    pthread_mutex_unlock(&m->mu);
out:
    free(idx);
    free(cnt);
    return rc;
}

size_t usage_metrics_entries(usage_metrics_t *m)
{
    if (!m)
        return 0;
    pthread_mutex_lock(&m->mu);
    size_t n = m->n;
    pthread_mutex_unlock(&m->mu);
    return n;
}

uint64_t usage_metrics_dropped(usage_metrics_t *m)
{
    if (!m)
        return 0;
    pthread_mutex_lock(&m->mu);
    uint64_t n = m->dropped;
    pthread_mutex_unlock(&m->mu);
    return n;
}
