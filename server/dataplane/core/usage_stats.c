/* usage_stats: see usage_stats.h.
 *
 * Series live in flat arrays searched linearly: a gateway has tens of
 * route/provider/model/status combinations, and a strcmp scan under one
 * mutex costs less than the request's JSON work. The minute ring of a series
 * is indexed by (monotonic minute % ring size) and a slot is valid only when
 * its stamped minute matches, so old minutes need no sweeping.
 */
#include "usage_stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define US_RING_MINUTES (USAGE_STATS_WINDOW_MAX_S / 60)
#define US_OTHER "_other"

const double usage_stats_bucket_s[USAGE_STATS_N_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, __builtin_inf()};

const char *usage_stats_status_name(int grpc_status)
{
    static const char *const names[] = {"ok",
                                        "cancelled",
                                        "unknown",
                                        "invalid_argument",
                                        "deadline_exceeded",
                                        "not_found",
                                        "already_exists",
                                        "permission_denied",
                                        "resource_exhausted",
                                        "failed_precondition",
                                        "aborted",
                                        "out_of_range",
                                        "unimplemented",
                                        "internal",
                                        "unavailable",
                                        "data_loss",
                                        "unauthenticated"};
    if (grpc_status < 0 || (size_t)grpc_status >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[grpc_status];
}

typedef struct {
    int64_t minute; /* -1: never used */
    uint64_t requests;
    uint64_t prompt_tokens;
    uint64_t completion_tokens;
    double cost_usd;
} us_minute_t;

typedef struct {
    usage_series_t pub;
    char *labels; /* the four label strings, NUL-separated, one allocation */
    us_minute_t ring[US_RING_MINUTES];
} us_series_t;

typedef struct {
    usage_attempt_series_t pub;
    char *labels;
} us_attempt_t;

struct usage_stats {
    pthread_mutex_t mu;
    int64_t in_flight;
    us_series_t *series;
    size_t n_series;
    us_attempt_t *attempts;
    size_t n_attempts;
};

usage_stats_t *usage_stats_new(void)
{
    usage_stats_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->series = calloc(USAGE_STATS_MAX_SERIES + 1, sizeof(*s->series));
    s->attempts = calloc(USAGE_STATS_MAX_SERIES + 1, sizeof(*s->attempts));
    if (!s->series || !s->attempts) {
        free(s->series);
        free(s->attempts);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void usage_stats_free(usage_stats_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_series; i++)
        free(s->series[i].labels);
    for (size_t i = 0; i < s->n_attempts; i++)
        free(s->attempts[i].labels);
    free(s->series);
    free(s->attempts);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Copies n strings into one NUL-separated allocation; out[i] point into it. */
static char *us_copy_labels(const char *const *in, const char **out, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(in[i]) + 1;
    char *all = malloc(total);
    if (!all)
        return NULL;
    char *p = all;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(in[i]) + 1;
        memcpy(p, in[i], len);
        out[i] = p;
        p += len;
    }
    return all;
}

static const char *us_or_empty(const char *s)
{
    return s ? s : "";
}

/* The series for these labels, created when new; the overflow series when
 * the table is full or memory runs out. Called with mu held. */
static us_series_t *us_series(usage_stats_t *s, const usage_event_t *e)
{
    const char *in[4] = {us_or_empty(e->route), us_or_empty(e->provider), us_or_empty(e->model),
                         us_or_empty(e->status)};
    for (size_t i = 0; i < s->n_series; i++) {
        usage_series_t *p = &s->series[i].pub;
        if (!strcmp(p->route, in[0]) && !strcmp(p->provider, in[1]) && !strcmp(p->model, in[2]) &&
            !strcmp(p->status, in[3]))
            return &s->series[i];
    }
    if (s->n_series >= USAGE_STATS_MAX_SERIES)
        in[0] = in[1] = in[2] = in[3] = US_OTHER;
    for (size_t i = 0; i < s->n_series; i++)
        if (!strcmp(s->series[i].pub.route, in[0]) && !strcmp(s->series[i].pub.status, in[3]) &&
            !strcmp(s->series[i].pub.provider, in[1]) && !strcmp(s->series[i].pub.model, in[2]))
            return &s->series[i];
    us_series_t *se = &s->series[s->n_series];
    const char *out[4];
    se->labels = us_copy_labels(in, out, 4);
    if (!se->labels)
        return NULL;
    se->pub.route = out[0];
    se->pub.provider = out[1];
    se->pub.model = out[2];
    se->pub.status = out[3];
    for (size_t i = 0; i < US_RING_MINUTES; i++)
        se->ring[i].minute = -1;
    s->n_series++;
    return se;
}

void usage_stats_request_begin(usage_stats_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->in_flight++;
    pthread_mutex_unlock(&s->mu);
}

void usage_stats_request_end(usage_stats_t *s, const usage_event_t *e, int begun)
{
    if (!s)
        return;
    int64_t minute = clock_now_ms() / 60000;
    double latency_s = (double)e->latency_us / 1e6;
    uint64_t prompt = e->prompt_tokens > 0 ? (uint64_t)e->prompt_tokens : 0;
    uint64_t completion = e->completion_tokens > 0 ? (uint64_t)e->completion_tokens : 0;
    pthread_mutex_lock(&s->mu);
    if (begun)
        s->in_flight--;
    us_series_t *se = us_series(s, e);
    if (se) {
        usage_series_t *p = &se->pub;
        p->requests++;
        p->attempts += e->attempts;
        p->fallbacks += e->attempts > 1 ? e->attempts - 1 : 0;
        p->prompt_tokens += prompt;
        p->completion_tokens += completion;
        p->cost_usd += e->cost_usd;
        p->latency_sum_s += latency_s;
        for (size_t i = 0; i < USAGE_STATS_N_BUCKETS; i++)
            if (latency_s <= usage_stats_bucket_s[i])
                p->latency_buckets[i]++;
        us_minute_t *m = &se->ring[minute % US_RING_MINUTES];
        if (m->minute != minute)
            *m = (us_minute_t){.minute = minute};
        m->requests++;
        m->prompt_tokens += prompt;
        m->completion_tokens += completion;
        m->cost_usd += e->cost_usd;
    }
    pthread_mutex_unlock(&s->mu);
}

void usage_stats_attempt(usage_stats_t *s, const char *provider, const char *model,
                         const char *outcome)
{
    if (!s)
        return;
    const char *in[3] = {us_or_empty(provider), us_or_empty(model), us_or_empty(outcome)};
    pthread_mutex_lock(&s->mu);
    us_attempt_t *hit = NULL;
    for (int pass = 0; pass < 2 && !hit; pass++) {
        if (pass == 1) {
            if (s->n_attempts < USAGE_STATS_MAX_SERIES)
                break;
            in[0] = in[1] = in[2] = US_OTHER;
        }
        for (size_t i = 0; i < s->n_attempts; i++) {
            usage_attempt_series_t *p = &s->attempts[i].pub;
            if (!strcmp(p->provider, in[0]) && !strcmp(p->model, in[1]) &&
                !strcmp(p->outcome, in[2])) {
                hit = &s->attempts[i];
                break;
            }
        }
    }
    if (!hit) {
        us_attempt_t *a = &s->attempts[s->n_attempts];
        const char *out[3];
        a->labels = us_copy_labels(in, out, 3);
        if (a->labels) {
            a->pub.provider = out[0];
            a->pub.model = out[1];
            a->pub.outcome = out[2];
            s->n_attempts++;
            hit = a;
        }
    }
    if (hit)
        hit->pub.count++;
    pthread_mutex_unlock(&s->mu);
}

int64_t usage_stats_in_flight(usage_stats_t *s)
{
    pthread_mutex_lock(&s->mu);
    int64_t n = s->in_flight;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void usage_stats_foreach(usage_stats_t *s, void (*fn)(void *ud, const usage_series_t *se), void *ud)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_series; i++)
        fn(ud, &s->series[i].pub);
    pthread_mutex_unlock(&s->mu);
}

void usage_stats_foreach_attempt(usage_stats_t *s,
                                 void (*fn)(void *ud, const usage_attempt_series_t *se), void *ud)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_attempts; i++)
        fn(ud, &s->attempts[i].pub);
    pthread_mutex_unlock(&s->mu);
}

void usage_stats_foreach_window(usage_stats_t *s, int window_s,
                                void (*fn)(void *ud, const usage_series_t *se), void *ud)
{
    if (window_s < 1)
        window_s = 1;
    if (window_s > USAGE_STATS_WINDOW_MAX_S)
        window_s = USAGE_STATS_WINDOW_MAX_S;
    int64_t now = clock_now_ms() / 60000;
    int64_t first = now - (window_s + 59) / 60 + 1;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_series; i++) {
        const us_series_t *se = &s->series[i];
        usage_series_t w = {.route = se->pub.route,
                            .provider = se->pub.provider,
                            .model = se->pub.model,
                            .status = se->pub.status};
        for (size_t j = 0; j < US_RING_MINUTES; j++) {
            const us_minute_t *m = &se->ring[j];
            if (m->minute < first || m->minute > now)
                continue;
            w.requests += m->requests;
            w.prompt_tokens += m->prompt_tokens;
            w.completion_tokens += m->completion_tokens;
            w.cost_usd += m->cost_usd;
        }
        if (w.requests)
            fn(ud, &w);
    }
    pthread_mutex_unlock(&s->mu);
}
