/* pipeline: the attempt loop. See pipeline.h for the thread model.
 *
 * Invariants:
 * - At most one attempt is in flight per request; `current` is its upstream
 *   handle (guarded by `mu`), and the request holds one extra reference for
 *   as long as an attempt is in flight.
 * - Fallback happens only on retryable errors, only while the deadline has
 *   not passed, and — for streams — only before the first chunk went to the
 *   client. A role-only first chunk is held back (its role is put on the
 *   first real chunk) so a provider that fails right after it can still be
 *   replaced.
 * - Every attempt is recorded, the successful one last.
 */
#include "pipeline.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "auth.h"
#include "budget_lease.h"
#include "buf.h"
#include "cache_replay.h"
#include "chatreq.h"
#include "clock.h"
#include "ext_hooks.h"
#include "log.h"
#include "openai.h"
#include "planner.h"
#include "policy.h"
#include "provider_quirks.h"
#include "route.h"
#include "sse.h"
#include "uerror.h"
#include "usage_log.h"
#include "usage_metrics.h"

#define PL_BODY_CAP (32u << 20)
#define PL_SSE_EVENT_CAP (4u << 20)
#define PL_MESSAGE_CAP 4096
#define PL_ADAPTER_HEADERS 8          /* at most this many auth/format headers */
#define PL_CACHE_VALUE_CAP (8u << 20) /* a bigger answer is not cached */

struct pipeline {
    upstream_t *engine;
    table_slot_t *tables;
    atomic_uint_fast64_t seq;    /* seeds each thread's route rng */
    usage_stats_t *stats;        /* NULL: not counted */
    planner_t planner;           /* live routing inputs; NULL members: none */
    ratelimit_t *rl;             /* per key / team buckets, for the process's life */
    cache_t *cache;              /* NULL: no response cache */
    usage_log_t *usage_log;      /* NULL: no usage records */
    budget_lease_t *leases;      /* NULL: budgets not enforced */
    pl_request_decoder_t decode; /* a request hook's rewrite -> ChatRequest */
};

struct pl_request {
    atomic_int refs;
    pthread_mutex_t mu;
    bool cancelled;          /* guarded by mu */
    upstream_req_t *current; /* guarded by mu */

    /* Everything below is touched by one thread at a time: the starting
     * thread until the first submit, then the engine thread. */
    pipeline_t *pl;
    upstream_t *engine; /* the attempts' engine: the front door's, or the pipeline's */
    table_t *table;
    const Llmgw__V1__ChatRequest *req; /* the policy's copy when it changed it */
    const table_key_t *key;            /* NULL: anonymous (auth off) */
    const table_policy_t *policy;      /* the caller's; NULL none */
    ratelimit_ticket_t rl_ticket;      /* settled when the request ends */
    redact_counts_t redactions;
    arena_t *arena;
    pl_callbacks_t cb;
    void *ud;
    bool stream;
    pl_kind_t kind;
    const char *raw_path, *raw_json;
    bool stats_begun;            /* usage_stats_request_begin counted it */
    int64_t last_retry_after_ms; /* of the last failed attempt; -1 none */
    int64_t deadline_ms;
    int64_t start_us;
    size_t next;        /* index of the next candidate to try */
    metrics_dep_t *dep; /* the current attempt's metrics entry; NULL none */
    char skipped[512];  /* candidates skipped at admission (breaker, Retry-After) */
    size_t n_attempts;
    buf_t body;
    buf_t message; /* the final error message */

    /* Extensions' request hooks (ext_hooks.h): the run, and what the rest
     * of the start needs when it resumes after a pending hook. */
    ext_call_t *ext;
    bool member, no_cache;
    int hook_http_status; /* a hook's refusal; 0 none */

    const adapter_t *adapter;   /* the current candidate's wire format */
    const char *warning;        /* the current attempt's llmgw-warning (arena); NULL none */
    const char *api_version;    /* the caller's api-version (req's; RAW reads req only at start) */
    bool attempt_hits_deadline; /* the current attempt's timeout is the deadline */

    /* streaming state of the current attempt */
    sse_parser_t *sse;
    adapter_stream_t *astream;
    void (*astream_free)(adapter_stream_t *s);
    arena_t *scratch; /* one chunk at a time */
    bool started;     /* a chunk went to the client */
    bool held_role;   /* a role-only first chunk was held back */
    bool done_marker; /* data: [DONE] seen */
    bool finish_seen; /* a finish_reason seen */
    bool consumer_full;
    char stream_err[256];
    Llmgw__V1__Usage usage;
    bool have_usage;
    const char *chunk_id, *chunk_model;
    int64_t chunk_created;

    /* The response cache: > 0 when the answer is to be stored under
     * cache_key; a stream's chunks gather in cache_value. */
    int64_t cache_ttl_ms;
    cache_key_t cache_key;
    buf_t cache_value;

    /* Large (about 32 KiB) and written before it is read, so not zeroed:
     * clearing them was a measurable share of a request's CPU. `plan` is
     * filled by the planner (its counts are reset below before any exit
     * reads them); attempts[i] is valid below n_attempts. */
    route_plan_t plan;
    Llmgw__V1__Attempt *attempts[TABLE_MAX_DEPLOYMENTS];
};

pipeline_t *pipeline_new(upstream_t *engine, table_slot_t *tables)
{
    pipeline_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->engine = engine;
    p->tables = tables;
    atomic_init(&p->seq, 0);
    if (!(p->rl = ratelimit_new(NULL, NULL))) {
        free(p);
        return NULL;
    }
    return p;
}

void pipeline_free(pipeline_t *p)
{
    if (p)
        ratelimit_free(p->rl);
    free(p);
}

ratelimit_t *pipeline_ratelimit(pipeline_t *p)
{
    return p->rl;
}

static void pl_subject(const table_key_t *key, ratelimit_subject_t *s)
{
    *s = (ratelimit_subject_t){.key = key->name, .key_rpm = key->rpm, .key_tpm = key->tpm};
    if (key->team_limits) {
        s->team = key->team_limits->name;
        s->team_rpm = key->team_limits->rpm;
        s->team_tpm = key->team_limits->tpm;
    }
}

grpc_status_code pipeline_admit_call(pipeline_t *p, const table_key_t *key, int64_t *retry_after_ms,
                                     char *err, size_t errlen)
{
    *retry_after_ms = 0;
    if (!key)
        return GRPC_STATUS_OK;
    ratelimit_subject_t s;
    ratelimit_ticket_t t;
    pl_subject(key, &s);
    if (ratelimit_admit(p->rl, &s, 1, 0, &t, retry_after_ms, err, errlen) != 0)
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    return GRPC_STATUS_OK;
}

/* The tokens-per-minute charge settled: on the usage when the provider
 * reported it, refunded when no attempt was made, the estimate otherwise. */
static void pl_settle(pl_request_t *r, const Llmgw__V1__Usage *u)
{
    if (!r->rl_ticket.active)
        return;
    int64_t actual = -1;
    if (u && u->prompt_tokens + u->completion_tokens > 0)
        actual = (int64_t)u->prompt_tokens + u->completion_tokens;
    else if (r->n_attempts == 0)
        actual = 0;
    ratelimit_settle(r->pl->rl, &r->rl_ticket, actual);
}

void pipeline_set_stats(pipeline_t *p, usage_stats_t *s)
{
    p->stats = s;
}

void pipeline_set_routing(pipeline_t *p, metrics_t *metrics, discovery_t *discovery)
{
    p->planner.metrics = metrics;
    p->planner.discovery = discovery;
}

usage_metrics_t *pipeline_usage_metrics(pipeline_t *p)
{
    return p ? usage_log_metrics(p->usage_log) : NULL;
}

void pipeline_set_cache(pipeline_t *p, cache_t *c)
{
    p->cache = c;
}

void pipeline_set_consistency(pipeline_t *p, consistency_t *c)
{
    p->planner.consistency = c;
}

void pipeline_set_request_decoder(pipeline_t *p, pl_request_decoder_t decode)
{
    p->decode = decode;
}

void pipeline_set_meter(pipeline_t *p, usage_log_t *log, budget_lease_t *leases)
{
    p->usage_log = log;
    p->leases = leases;
}

/* One finished request into the usage log and the budget leases. */
static void pl_meter(pl_request_t *r, grpc_status_code status, const Llmgw__V1__Usage *u,
                     double cost_usd)
{
    const route_candidate_t *c = r->next > 0 ? &r->plan.items[r->next - 1] : NULL;
    const char *provider = c ? c->provider->name : "";
    usage_record_t rec = {
        .key = r->key ? r->key->name : "",
        .team = r->key ? r->key->team : "",
        .route = r->plan.route_name ? r->plan.route_name : "",
        .provider = provider,
        .model = c ? c->model->name : (r->req && r->req->model ? r->req->model : ""),
        .prompt_tokens = u ? u->prompt_tokens : 0,
        .completion_tokens = u ? u->completion_tokens : 0,
        .cost_usd = cost_usd,
        .latency_ms = (clock_now_us() - r->start_us) / 1000,
        .status = (int)status,
        .redacted = {r->redactions.emails, r->redactions.phones, r->redactions.cards,
                     r->redactions.ibans},
    };
    usage_log_record(r->pl->usage_log, &rec);
    /* The same request into the node's metric snapshot, with why routing
     * chose as it did: the first candidate, a fallback after failures, the
     * remaining ones while others were excluded as unavailable, or none. */
    bool excluded = r->skipped[0] != '\0';
    for (size_t i = 0; i < r->plan.n_excluded && !excluded; i++)
        excluded = r->plan.excluded[i].unavailable;
    usage_metrics_request_t mr = {
        .provider = rec.provider,
        .model = rec.model,
        .route = rec.route,
        .ok = status == GRPC_STATUS_OK,
        .fallback = r->n_attempts > 1,
        .prompt_tokens = rec.prompt_tokens,
        .completion_tokens = rec.completion_tokens,
        .cost_usd = cost_usd,
        .strategy = r->plan.strategy,
        .reason = status != GRPC_STATUS_OK ? "failed"
                  : r->n_attempts > 1      ? "fallback"
                  : excluded               ? "excluded"
                                           : "first_choice",
    };
    usage_metrics_request(usage_log_metrics(r->pl->usage_log), &mr);
    if (r->table)
        budget_lease_charge(r->pl->leases, r->table, r->key, provider, cost_usd);
}

/* One finished request into the usage counters, whatever its outcome. */
/* Extensions' usage hooks on one finished request. */
static void pl_ext_usage(pl_request_t *r, grpc_status_code status, const Llmgw__V1__Usage *u,
                         double cost_usd)
{
    const route_candidate_t *c = r->next > 0 ? &r->plan.items[r->next - 1] : NULL;
    llmgw_ext_usage_t e = {
        .struct_size = sizeof(e),
        .key = r->key ? r->key->name : "",
        .team = r->key && r->key->team ? r->key->team : "",
        .route = r->plan.route_name ? r->plan.route_name : "",
        .provider = c ? c->provider->name : "",
        .model = c ? c->model->name : (r->req && r->req->model ? r->req->model : ""),
        .prompt_tokens = u ? u->prompt_tokens : 0,
        .completion_tokens = u ? u->completion_tokens : 0,
        .cost_usd = cost_usd,
        .latency_ms = (clock_now_us() - r->start_us) / 1000,
        .grpc_status = (int)status,
    };
    ext_hooks_usage(&e);
}

static void pl_observe(pl_request_t *r, grpc_status_code status, const Llmgw__V1__Usage *u,
                       double cost_usd)
{
    pl_settle(r, u);
    pl_meter(r, status, u, cost_usd);
    if (ext_hooks_have_usage())
        pl_ext_usage(r, status, u, cost_usd);
    if (!r->pl->stats)
        return;
    const route_candidate_t *c = r->next > 0 ? &r->plan.items[r->next - 1] : NULL;
    usage_event_t e = {
        .route = r->plan.route_name ? r->plan.route_name : "",
        .provider = c ? c->provider->name : "",
        .model = c ? c->model->name : (r->req && r->req->model ? r->req->model : ""),
        .status = usage_stats_status_name(status),
        .latency_us = clock_now_us() - r->start_us,
        .prompt_tokens = u ? u->prompt_tokens : 0,
        .completion_tokens = u ? u->completion_tokens : 0,
        .cost_usd = cost_usd,
        .attempts = (unsigned)r->n_attempts,
        .redactions = r->redactions,
    };
    usage_stats_request_end(r->pl->stats, &e, r->stats_begun);
    r->stats_begun = false;
}

static void pl_unref(pl_request_t *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    if (r->table)
        table_unref(r->table);
    sse_parser_free(r->sse);
    if (r->astream)
        r->astream_free(r->astream);
    arena_free(r->scratch);
    buf_free(&r->body);
    buf_free(&r->message);
    buf_free(&r->cache_value);
    ext_call_free(r->ext);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

const char *pipeline_warning(const pl_request_t *r)
{
    return r->warning;
}

void pipeline_release(pl_request_t *r)
{
    if (r)
        pl_unref(r);
}

void pipeline_cancel(pl_request_t *r)
{
    pthread_mutex_lock(&r->mu);
    r->cancelled = true;
    if (r->current)
        upstream_cancel(r->engine, r->current);
    pthread_mutex_unlock(&r->mu);
}

static uint64_t *pl_rng(pipeline_t *p)
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        uint64_t seq = atomic_fetch_add(&p->seq, 1) + 1;
        state = (uint64_t)clock_now_us() ^ (seq * 0x9E3779B97F4A7C15ull);
        if (state == 0)
            state = 0x2545F4914F6CDD1Dull;
    }
    return &state;
}

static const route_candidate_t *pl_candidate(const pl_request_t *r)
{
    return &r->plan.items[r->next - 1];
}

/* --- the answer -------------------------------------------------------- */

static double pl_cost_usd(const table_model_t *m, const Llmgw__V1__Usage *u)
{
    if (!u)
        return 0;
    return (double)u->prompt_tokens * m->input_cost_per_mtok / 1e6 +
           (double)u->completion_tokens * m->output_cost_per_mtok / 1e6;
}

static Llmgw__V1__RouteDecision *pl_decision(pl_request_t *r)
{
    const route_candidate_t *c = pl_candidate(r);
    Llmgw__V1__RouteDecision *d = arena_alloc(r->arena, sizeof(*d));
    Llmgw__V1__Attempt **list = arena_alloc(r->arena, sizeof(*list) * r->n_attempts);
    buf_t reason = BUF_INIT(1024);
    if (!d || !list)
        return NULL;
    llmgw__v1__route_decision__init(d);
    memcpy(list, r->attempts, sizeof(*list) * r->n_attempts);
    d->attempts = list;
    d->n_attempts = r->n_attempts;
    d->provider = (char *)c->provider->name;
    d->model = (char *)c->model->name;
    d->strategy = (char *)r->plan.strategy;
    d->route = r->plan.route_name ? (char *)r->plan.route_name : "";
    if (planner_fill_decision(r->arena, &r->plan, r->next - 1, d) < 0)
        goto fail;
    if (buf_append_str(&reason, r->plan.reason) < 0)
        goto fail;
    if (r->n_attempts > 1 &&
        buf_printf(&reason, "; served by %s/%s after %zu failed attempt%s", c->provider->name,
                   c->model->name, r->n_attempts - 1, r->n_attempts > 2 ? "s" : "") < 0)
        goto fail;
    if (r->skipped[0] && buf_printf(&reason, "; skipped at admission: %s", r->skipped) < 0)
        goto fail;
    d->reason = arena_strdup(r->arena, buf_cstr(&reason));
    buf_free(&reason);
    return d->reason ? d : NULL;
fail:
    buf_free(&reason);
    return NULL;
}

static void pl_finish_error(pl_request_t *r, grpc_status_code status)
{
    pl_result_t res = {.status = status,
                       .message = buf_cstr(&r->message),
                       .attempts = r->attempts,
                       .n_attempts = r->n_attempts,
                       .retry_after_ms = r->last_retry_after_ms,
                       .http_status = r->hook_http_status};
    pl_observe(r, status, NULL, 0);
    r->cb.on_done(r->ud, &res);
}

/* No attempt could be made because every candidate waits out a provider's
 * Retry-After (r->message says which): the caller should back off for
 * wait_ms, which RESOURCE_EXHAUSTED and `rate_limited` tell the front doors. */
static void pl_finish_waiting(pl_request_t *r, int64_t wait_ms)
{
    pl_result_t res = {.status = GRPC_STATUS_RESOURCE_EXHAUSTED,
                       .message = buf_cstr(&r->message),
                       .retry_after_ms = wait_ms,
                       .rate_limited = true};
    pl_observe(r, res.status, NULL, 0);
    r->cb.on_done(r->ud, &res);
}

static void pl_finish_errorf(pl_request_t *r, grpc_status_code status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pl_finish_errorf(pl_request_t *r, grpc_status_code status, const char *fmt, ...)
{
    va_list ap;
    buf_reset(&r->message);
    va_start(ap, fmt);
    buf_vprintf(&r->message, fmt, ap);
    va_end(ap);
    pl_finish_error(r, status);
}

static void pl_finish_oom(pl_request_t *r)
{
    pl_finish_errorf(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "gateway: out of memory");
}

static void pl_cache_store(pl_request_t *r, const ProtobufCMessage *resp,
                           const Llmgw__V1__ChatChunk *last);

static void pl_finish_unary(pl_request_t *r, Llmgw__V1__ChatResponse *resp)
{
    const route_candidate_t *c = pl_candidate(r);
    resp->provider = (char *)c->provider->name;
    if (!resp->model || !resp->model[0])
        resp->model = (char *)c->model->name; /* a format whose answers name none */
    resp->cost_usd = pl_cost_usd(c->model, resp->usage);
    resp->latency_ms = (clock_now_us() - r->start_us) / 1000;
    resp->route = pl_decision(r);
    if (!resp->route) {
        pl_finish_oom(r);
        return;
    }
    pl_cache_store(r, &resp->base, NULL);
    if (ext_hooks_have_response() && resp->n_choices > 0) {
        const Llmgw__V1__Choice *ch = resp->choices[0];
        const char *text = ch->message && ch->message->content ? ch->message->content : "";
        llmgw_ext_response_t x = {.struct_size = sizeof(x),
                                  .provider = c->provider->name,
                                  .model = c->model->name,
                                  .content = text,
                                  .content_len = strlen(text),
                                  .finish_reason = ch->finish_reason ? ch->finish_reason : ""};
        ext_hooks_response(&x);
    }
    pl_result_t res = {
        .status = GRPC_STATUS_OK, .message = "", .response = resp, .warning = r->warning};
    if (r->policy && r->policy->log_responses && resp->n_choices > 0 && resp->choices[0]->message)
        policy_log_response(r->policy, r->key ? r->key->name : "",
                            resp->choices[0]->message->content);
    pl_observe(r, GRPC_STATUS_OK, resp->usage, resp->cost_usd);
    r->cb.on_done(r->ud, &res);
}

static void pl_finish_stream(pl_request_t *r)
{
    const route_candidate_t *c = pl_candidate(r);
    Llmgw__V1__ChatChunk *last = arena_alloc(r->arena, sizeof(*last));
    Llmgw__V1__Usage *usage = arena_alloc(r->arena, sizeof(*usage));
    if (!last || !usage) {
        pl_finish_oom(r);
        return;
    }
    llmgw__v1__chat_chunk__init(last);
    *usage = r->usage;
    if (!r->have_usage)
        llmgw__v1__usage__init(usage);
    last->id = r->chunk_id ? (char *)r->chunk_id : "";
    last->model = r->chunk_model ? (char *)r->chunk_model : (char *)c->model->name;
    last->created = r->chunk_created;
    last->provider = (char *)c->provider->name;
    last->usage = usage;
    last->cost_usd = pl_cost_usd(c->model, usage);
    last->route = pl_decision(r);
    if (!last->route) {
        pl_finish_oom(r);
        return;
    }
    pl_cache_store(r, NULL, last);
    pl_result_t res = {
        .status = GRPC_STATUS_OK, .message = "", .last_chunk = last, .warning = r->warning};
    pl_observe(r, GRPC_STATUS_OK, usage, last->cost_usd);
    r->cb.on_done(r->ud, &res);
}

/* A RAW answer: the body as the provider sent it, with its usage read for
 * the cost (an answer without usage costs 0). */
static void pl_finish_raw_stream(pl_request_t *r)
{
    const route_candidate_t *c = pl_candidate(r);
    Llmgw__V1__Usage *usage = arena_alloc(r->arena, sizeof(*usage));
    if (!usage) {
        pl_finish_oom(r);
        return;
    }
    *usage = r->usage;
    if (!r->have_usage)
        llmgw__v1__usage__init(usage);
    pl_result_t res = {.status = GRPC_STATUS_OK,
                       .message = "",
                       .raw_usage = usage,
                       .raw_cost_usd = pl_cost_usd(c->model, usage),
                       .raw_route = pl_decision(r)};
    if (!res.raw_route) {
        pl_finish_oom(r);
        return;
    }
    pl_observe(r, GRPC_STATUS_OK, usage, res.raw_cost_usd);
    r->cb.on_done(r->ud, &res);
}

/* A token count from a provider's raw usage object: not an integer is 0,
 * and negative or huge values are clamped, since they feed costs and
 * budgets (a cast would wrap). */
static int32_t pl_json_tokens(const json_t *usage, const char *name)
{
    json_int_t n = json_integer_value(json_object_get(usage, name));
    return n < 0 ? 0 : n > INT32_MAX ? INT32_MAX : (int32_t)n;
}

static void pl_finish_raw(pl_request_t *r, const char *body, size_t len)
{
    const route_candidate_t *c = pl_candidate(r);
    if (r->stream) {
        pl_finish_raw_stream(r);
        return;
    }
    Llmgw__V1__Usage *usage = arena_alloc(r->arena, sizeof(*usage));
    char *copy = arena_strndup(r->arena, body ? body : "", body ? len : 0);
    if (!usage || !copy) {
        pl_finish_oom(r);
        return;
    }
    llmgw__v1__usage__init(usage);
    json_t *root = json_loadb(copy, len, 0, NULL);
    json_t *u = json_object_get(root, "usage");
    usage->prompt_tokens = pl_json_tokens(u, "prompt_tokens");
    usage->completion_tokens = pl_json_tokens(u, "completion_tokens");
    usage->total_tokens = pl_json_tokens(u, "total_tokens");
    json_decref(root);
    pl_result_t res = {.status = GRPC_STATUS_OK,
                       .message = "",
                       .raw_body = copy,
                       .raw_len = len,
                       .raw_usage = usage,
                       .raw_cost_usd = pl_cost_usd(c->model, usage),
                       .raw_route = pl_decision(r)};
    if (!res.raw_route) {
        pl_finish_oom(r);
        return;
    }
    pl_observe(r, GRPC_STATUS_OK, usage, res.raw_cost_usd);
    r->cb.on_done(r->ud, &res);
}

/* --- the response cache (cache.h, cache_replay.h) ------------------------ */

/* A successful answer into the cache when the request may be stored: the
 * unary response, or the stream's chunks closed by `last`. */
static void pl_cache_store(pl_request_t *r, const ProtobufCMessage *resp,
                           const Llmgw__V1__ChatChunk *last)
{
    if (r->cache_ttl_ms <= 0)
        return;
    if (resp) {
        if (cache_replay_pack_response((const Llmgw__V1__ChatResponse *)resp, &r->cache_value) < 0)
            return;
    } else if (cache_replay_add_chunk(&r->cache_value, last) < 0) {
        return;
    }
    (void)cache_put(r->pl->cache, &r->cache_key, r->cache_value.data, r->cache_value.len,
                    r->cache_ttl_ms);
}

/* A hit, answered: no attempt, no tokens (the rate-limit charge settles at
 * 0, usage counters and budgets see 0 tokens and cost 0). */
static void pl_cache_answer(pl_request_t *r, Llmgw__V1__ChatResponse *resp,
                            Llmgw__V1__ChatChunk *last, Llmgw__V1__Usage *zero)
{
    pl_result_t res = {
        .status = GRPC_STATUS_OK, .message = "", .response = resp, .last_chunk = last};
    if (resp && r->policy && r->policy->log_responses && resp->n_choices > 0 &&
        resp->choices[0]->message)
        policy_log_response(r->policy, r->key ? r->key->name : "",
                            resp->choices[0]->message->content);
    pl_observe(r, GRPC_STATUS_OK, zero, 0);
    r->cb.on_done(r->ud, &res);
}

/* Replays a stored stream: every chunk is decoded before the first is sent,
 * so a value that does not decode is a miss rather than half an answer. */
static int pl_cache_replay_stream(pl_request_t *r, const buf_t *v, int64_t age_ms,
                                  Llmgw__V1__Usage *zero)
{
    size_t n = 0, off = 0;
    Llmgw__V1__ChatChunk *ch, **chunks = NULL;
    int got;
    while ((got = cache_replay_next_chunk(v->data, v->len, &off, r->arena, &ch)) == 1)
        n++;
    if (got < 0 || n == 0 || !(chunks = arena_alloc(r->arena, n * sizeof(*chunks))))
        return 0;
    off = 0;
    for (size_t i = 0; i < n; i++)
        (void)cache_replay_next_chunk(v->data, v->len, &off, r->arena, &chunks[i]);
    Llmgw__V1__ChatChunk *last = chunks[n - 1];
    last->route = cache_replay_decision(r->arena, r->plan.route_name, last->provider,
                                        last->route ? last->route->model : last->model, age_ms);
    if (!last->route)
        return 0;
    last->usage = zero;
    last->cost_usd = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (r->cb.on_chunk(r->ud, chunks[i]) < 0) {
            pl_finish_errorf(r, GRPC_STATUS_RESOURCE_EXHAUSTED,
                             "stream: the client is not reading fast enough");
            return 1;
        }
    pl_cache_answer(r, NULL, last, zero);
    return 1;
}

/* Before admission: the stored answer into *v (1: a hit, whose admission
 * charges no tokens), or 0 when the request goes upstream — then, when the
 * route caches, its answer is to be stored. */
static int pl_cache_lookup(pl_request_t *r, bool no_cache, buf_t *v, int64_t *age_ms)
{
    pipeline_t *p = r->pl;
    if (!p->cache || r->kind != PL_KIND_CHAT || !r->plan.route_name)
        return 0;
    int64_t ttl =
        cache_replay_ttl_ms(table_find_route(r->table, r->plan.route_name), r->req, no_cache);
    if (ttl <= 0 || cache_key_chat(r->req, r->key ? r->key->name : "", r->plan.route_name,
                                   r->stream, &r->cache_key) < 0)
        return 0;
    if (cache_get(p->cache, &r->cache_key, v, age_ms) == 1)
        return 1;
    r->cache_ttl_ms = ttl;
    buf_init(&r->cache_value, PL_CACHE_VALUE_CAP);
    return 0;
}

/* Answers from the value of a hit: 1, or 0 when it does not replay (the
 * request goes upstream and its answer replaces the entry). */
static int pl_cache_replay(pl_request_t *r, const buf_t *v, int64_t age_ms)
{
    Llmgw__V1__Usage *zero = arena_alloc(r->arena, sizeof(*zero));
    int rc = 0;
    if (zero) {
        llmgw__v1__usage__init(zero);
        if (r->stream) {
            rc = pl_cache_replay_stream(r, v, age_ms, zero);
        } else {
            Llmgw__V1__ChatResponse *resp = cache_replay_response(v->data, v->len, r->arena);
            if (resp)
                resp->route =
                    cache_replay_decision(r->arena, r->plan.route_name, resp->provider,
                                          resp->route ? resp->route->model : resp->model, age_ms);
            if (resp && resp->route) {
                resp->usage = zero;
                resp->cost_usd = 0;
                resp->latency_ms = (clock_now_us() - r->start_us) / 1000;
                pl_cache_answer(r, resp, NULL, zero);
                rc = 1;
            }
        }
    }
    if (rc == 0) {
        r->cache_ttl_ms =
            cache_replay_ttl_ms(table_find_route(r->table, r->plan.route_name), r->req, false);
        buf_init(&r->cache_value, PL_CACHE_VALUE_CAP);
    }
    return rc;
}

/* --- attempts ---------------------------------------------------------- */

static int pl_record(pl_request_t *r, const uerror_t *e, const upstream_result_t *res)
{
    const route_candidate_t *c = pl_candidate(r);
    Llmgw__V1__Attempt *a = arena_alloc(r->arena, sizeof(*a));
    if (!a)
        return -1;
    llmgw__v1__attempt__init(a);
    a->provider = (char *)c->provider->name;
    a->model = (char *)c->model->name;
    a->latency_ms = res ? res->latency_us / 1000 : 0;
    if (e) {
        a->error = arena_strdup(r->arena, e->message);
        a->error_type = (char *)e->type;
        a->http_status = e->http_status;
        a->retryable = e->retryable;
        if (!a->error)
            return -1;
    } else {
        a->http_status = res ? (int32_t)res->http_status : 0;
    }
    r->attempts[r->n_attempts++] = a;
    if (r->pl->stats)
        usage_stats_attempt(r->pl->stats, a->provider, a->model, e ? e->type : "ok");
    return 0;
}

/* "sim-a/m: connect: …; sim-b/m: server (HTTP 503): …" */
static void pl_describe_attempts(pl_request_t *r)
{
    for (size_t i = 0; i < r->n_attempts; i++) {
        const Llmgw__V1__Attempt *a = r->attempts[i];
        buf_printf(&r->message, "%s%s/%s: %s", i ? "; " : "", a->provider, a->model, a->error_type);
        if (a->http_status)
            buf_printf(&r->message, " (HTTP %d)", a->http_status);
        if (a->error[0])
            buf_printf(&r->message, ": %s", a->error);
    }
}

static void pl_reset_stream_state(pl_request_t *r)
{
    r->held_role = false;
    r->done_marker = false;
    r->finish_seen = false;
    r->consumer_full = false;
    r->stream_err[0] = '\0';
    r->have_usage = false;
    r->chunk_id = NULL;
    r->chunk_model = NULL;
    r->chunk_created = 0;
    llmgw__v1__usage__init(&r->usage);
}

static bool pl_chunk_is_role_only(const Llmgw__V1__ChatChunk *ch)
{
    for (size_t i = 0; i < ch->n_choices; i++) {
        const Llmgw__V1__ChunkChoice *c = ch->choices[i];
        if (c->finish_reason[0])
            return false;
        if (c->delta && (c->delta->content[0] || c->delta->tool_calls_json[0]))
            return false;
    }
    return true;
}

/* Whether data[0..len) contains `needle`. */
static bool pl_contains(const char *data, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        const char *p = memchr(data + i, needle[0], len - n + 1 - i);
        if (!p)
            return false;
        i = (size_t)(p - data);
        if (!memcmp(p, needle, n))
            return true;
    }
    return false;
}

/* A RAW stream's event: passed through as it came. Only an event naming
 * "usage" is parsed (for the cost); an error event before the first one
 * forwarded fails the attempt, so fallback can still replace it. */
static int pl_on_raw_event(pl_request_t *r, const char *data, size_t len)
{
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        r->done_marker = true;
        return 0;
    }
    if (len >= 9 && !memcmp(data, "{\"error\":", 9)) {
        snprintf(r->stream_err, sizeof(r->stream_err), "stream error event: %.*s",
                 (int)(len < 200 ? len : 200), data);
        return 1;
    }
    if (pl_contains(data, len, "\"usage\"")) {
        json_t *root = json_loadb(data, len, 0, NULL);
        json_t *u = json_object_get(root, "usage");
        if (json_is_object(u)) {
            r->usage.prompt_tokens = pl_json_tokens(u, "prompt_tokens");
            r->usage.completion_tokens = pl_json_tokens(u, "completion_tokens");
            r->usage.total_tokens = pl_json_tokens(u, "total_tokens");
            r->have_usage = true;
        }
        json_decref(root);
    }
    if (pl_contains(data, len, "\"finish_reason\":\""))
        r->finish_seen = true;
    r->started = true;
    if (r->cb.on_raw_event(r->ud, pl_candidate(r)->provider->name, data, len) < 0) {
        r->consumer_full = true;
        return 1;
    }
    return 0;
}

static int pl_on_event(void *ud, const char *event, const char *data, size_t len)
{
    pl_request_t *r = ud;
    Llmgw__V1__ChatChunk *ch = NULL;
    if (r->kind == PL_KIND_RAW)
        return pl_on_raw_event(r, data, len);
    arena_reset(r->scratch);
    if (r->adapter->stream_event(r->astream, event, data, len, r->scratch, &ch, &r->done_marker,
                                 r->stream_err, sizeof(r->stream_err)) < 0) {
        if (!r->stream_err[0])
            snprintf(r->stream_err, sizeof(r->stream_err), "malformed stream event");
        return 1;
    }
    if (!ch)
        return 0;
    if (ch->usage) {
        r->usage = *ch->usage;
        r->usage.base.unknown_fields = NULL;
        r->usage.base.n_unknown_fields = 0;
        r->have_usage = true;
    }
    if (!ch->model[0])
        ch->model = (char *)pl_candidate(r)->model->name; /* a format whose chunks name none */
    if (!r->chunk_id && ch->id[0]) {
        r->chunk_id = arena_strdup(r->arena, ch->id);
        r->chunk_model = arena_strdup(r->arena, ch->model);
        r->chunk_created = ch->created;
        if (!r->chunk_id || !r->chunk_model) {
            snprintf(r->stream_err, sizeof(r->stream_err), "gateway: out of memory");
            return 1;
        }
    }
    if (ch->n_choices == 0)
        return 0; /* the include_usage chunk: its figures go on our last chunk */
    for (size_t i = 0; i < ch->n_choices; i++)
        if (ch->choices[i]->finish_reason[0])
            r->finish_seen = true;
    if (!r->started && pl_chunk_is_role_only(ch)) {
        r->held_role = true;
        return 0;
    }
    if (r->held_role && ch->choices[0]->delta && !ch->choices[0]->delta->role[0])
        ch->choices[0]->delta->role = "assistant";
    r->held_role = false; /* the role goes on the first chunk only, as OpenAI sends it */
    ch->provider = (char *)pl_candidate(r)->provider->name;
    r->started = true;
    if (r->cache_ttl_ms > 0 && cache_replay_add_chunk(&r->cache_value, ch) < 0)
        r->cache_ttl_ms = 0; /* too long a stream to keep */
    if (ext_hooks_have_response()) {
        const Llmgw__V1__ChunkChoice *cc = ch->choices[0];
        const char *text = cc->delta && cc->delta->content ? cc->delta->content : "";
        llmgw_ext_response_t x = {.struct_size = sizeof(x),
                                  .is_chunk = 1,
                                  .provider = ch->provider,
                                  .model = pl_candidate(r)->model->name,
                                  .content = text,
                                  .content_len = strlen(text),
                                  .finish_reason = cc->finish_reason ? cc->finish_reason : ""};
        ext_hooks_response(&x);
    }
    if (r->cb.on_chunk(r->ud, ch) < 0) {
        r->consumer_full = true;
        return 1;
    }
    return 0;
}

static int pl_on_data(void *ud, const char *bytes, size_t n)
{
    pl_request_t *r = ud;
    int rc = sse_parser_feed(r->sse, bytes, n, pl_on_event, r);
    if (rc < 0 && !r->stream_err[0])
        snprintf(r->stream_err, sizeof(r->stream_err), "stream event exceeds %u bytes",
                 PL_SSE_EVENT_CAP);
    return rc;
}

static void pl_on_attempt_done(void *ud, const upstream_result_t *res);
static void pl_try_next(pl_request_t *r);

static const upstream_callbacks_t pl_upstream_cb = {
    .on_data = pl_on_data,
    .on_done = pl_on_attempt_done,
};

/* {"model": <model>, ...the caller's members} into out: the raw body (with
 * the upstream model) and what hooks see (with the caller's). 0, or -1 out
 * of memory / past out's cap. */
static int pl_raw_with_model(const pl_request_t *r, const char *model, buf_t *out)
{
    json_t *m = json_string(model);
    char *quoted = m ? json_dumps(m, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(m);
    if (!quoted)
        return -1;
    const char *rest = r->raw_json + 1; /* past the object's '{' */
    while (*rest == ' ' || *rest == '\n' || *rest == '\t' || *rest == '\r')
        rest++;
    int rc = buf_printf(out, "{\"model\":%s%s%s", quoted, *rest == '}' ? "" : ",", rest);
    free(quoted);
    return rc;
}


/* Builds and submits an attempt against candidate r->next - 1. Returns 0 when
 * submitted; otherwise it has finished the request. */
static int pl_submit(pl_request_t *r)
{
    const route_candidate_t *c = pl_candidate(r);
    const table_provider_t *p = c->provider;
    char err[512];
    r->adapter = adapter_for(p);
    buf_reset(&r->body);
    if (!r->adapter) {
        /* The table was checked against the registry; a guard all the same. */
        pl_finish_errorf(r, GRPC_STATUS_FAILED_PRECONDITION,
                         "provider '%s': wire_format '%s' has no adapter (extension not loaded)",
                         p->name, p->wire_format ? p->wire_format : "");
        return -1;
    } else if (r->kind == PL_KIND_RAW && !adapter_serves_raw(r->adapter, r->raw_path)) {
        /* A raw body is OpenAI-shaped: only a format that declares the
         * endpoint takes it (the registry's data, not a name test here). */
        pl_finish_errorf(r, GRPC_STATUS_INVALID_ARGUMENT,
                         "%s: provider '%s' speaks the %s wire format, which has no %s endpoint",
                         r->raw_path, p->name, r->adapter->name, r->raw_path);
        return -1;
    } else if (r->kind == PL_KIND_RAW) {
        if (pl_raw_with_model(r, c->model->name, &r->body) < 0)
            goto oom;
    } else {
        /* The request as this provider takes it (renames, dropped fields:
         * provider_quirks.h); what was dropped becomes llmgw-warning. */
        const Llmgw__V1__ChatRequest *req = r->req;
        r->warning = NULL;
        if (provider_quirks_prepare(p, r->req, r->arena, &req, &r->warning, err, sizeof(err)) < 0 ||
            r->adapter->build_chat_request(p, req, c->model->name, r->stream, &r->body, err,
                                           sizeof(err)) < 0) {
            pl_finish_errorf(r, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
            return -1;
        }
    }
    size_t cap = p->n_headers + PL_ADAPTER_HEADERS;
    const char **headers = arena_alloc(r->arena, sizeof(char *) * cap);
    size_t n_headers = 0;
    char *url = provider_quirks_url_version(
        p, r->kind == PL_KIND_RAW ? r->raw_path : r->adapter->chat_path, r->kind != PL_KIND_RAW,
        c->model->name, r->api_version, r->arena);
    if (!headers || !url)
        goto oom;
    if (r->adapter->auth_headers(p, r->arena, headers, &n_headers, cap) < 0)
        goto oom;
    for (size_t i = 0; i < p->n_headers && n_headers < cap; i++)
        headers[n_headers++] = p->headers[i];

    int64_t remaining_ms =
        r->deadline_ms == INT64_MAX ? INT64_MAX : r->deadline_ms - clock_now_ms();
    int timeout_ms = p->timeout_ms;
    /* When the caller's deadline is what bounds this attempt, its timeout
     * is the deadline: remember it, because curl's timer may fire a
     * millisecond before our clock reads the deadline as passed. */
    r->attempt_hits_deadline = remaining_ms <= timeout_ms;
    if (remaining_ms < timeout_ms)
        timeout_ms = (int)remaining_ms;
    if (timeout_ms < 1)
        timeout_ms = 1;

    if (r->stream) {
        sse_parser_free(r->sse);
        r->sse = sse_parser_new(PL_SSE_EVENT_CAP);
        if (r->astream)
            r->astream_free(r->astream);
        r->astream = r->adapter->stream_new();
        r->astream_free = r->adapter->stream_free;
        if (!r->sse || !r->astream)
            goto oom;
        pl_reset_stream_state(r);
    }
    upstream_spec_t spec = {
        .url = url,
        .headers = headers,
        .n_headers = n_headers,
        .body = r->body.data,
        .body_len = r->body.len,
        .timeout_ms = timeout_ms,
        .stream = r->stream,
    };
    atomic_fetch_add(&r->refs, 1); /* the attempt's reference */
    pthread_mutex_lock(&r->mu);
    if (r->cancelled) {
        pthread_mutex_unlock(&r->mu);
        atomic_fetch_sub(&r->refs, 1);
        pl_finish_errorf(r, GRPC_STATUS_CANCELLED, "cancelled by the client");
        return -1;
    }
    /* Submitting under mu: the engine's on_done takes mu first, so it cannot
     * clear `current` before it is set. */
    r->current = upstream_submit(r->engine, &spec, &pl_upstream_cb, r);
    bool ok = r->current != NULL;
    pthread_mutex_unlock(&r->mu);
    if (!ok) {
        atomic_fetch_sub(&r->refs, 1);
        pl_finish_errorf(r, GRPC_STATUS_UNAVAILABLE, "gateway: upstream engine is shutting down");
        return -1;
    }
    return 0;
oom:
    pl_finish_oom(r);
    return -1;
}

/* Admission of candidate r->next - 1 by its breaker and Retry-After (a
 * skipped candidate costs no attempt); sets r->dep when admitted. */
static bool pl_admit(pl_request_t *r)
{
    const route_candidate_t *c = pl_candidate(r);
    char why[192];
    r->dep = NULL;
    if (!r->pl->planner.metrics)
        return true;
    metrics_dep_t *d = metrics_dep(r->pl->planner.metrics, c->provider->name, c->model->name);
    if (!d)
        return true; /* registry full: routed without figures */
    if (metrics_attempt_start(d, &c->provider->breaker, why, sizeof(why))) {
        r->dep = d;
        return true;
    }
    size_t used = strlen(r->skipped);
    snprintf(r->skipped + used, sizeof(r->skipped) - used, "%s%s/%s: %s", used ? "; " : "",
             c->provider->name, c->model->name, why);
    return false;
}

/* The current attempt's result into metrics and its breaker. e: NULL on success. */
static void pl_metrics_end(pl_request_t *r, const upstream_result_t *res, const uerror_t *e,
                           const Llmgw__V1__ChatResponse *resp)
{
    int64_t tokens = resp && resp->usage ? resp->usage->completion_tokens
                     : r->have_usage     ? r->usage.completion_tokens
                                         : 0;
    int64_t retry_ms = e ? e->retry_after_ms : -1; /* capped by the table */
    int cap_ms = pl_candidate(r)->provider->retry_after_max_ms;
    if (retry_ms > cap_ms)
        retry_ms = cap_ms > 0 ? cap_ms : -1;
    metrics_outcome_t o = {
        .cls = e ? metrics_class_from_type(e->type) : METRICS_OK,
        .latency_us = res->latency_us,
        .ttft_us = res->ttfb_us,
        .output_tokens = e ? 0 : tokens,
        .retry_after_ms = retry_ms,
        .error = e ? e->message : NULL,
    };
    bool opened = r->dep && metrics_attempt_end(r->dep, &pl_candidate(r)->provider->breaker, &o);
    r->dep = NULL;
    const route_candidate_t *c = pl_candidate(r);
    usage_metrics_attempt_t a = {
        .provider = c->provider->name,
        .model = c->model->name,
        .route = r->plan.route_name ? r->plan.route_name : "",
        .cls = (usage_metrics_class_t)o.cls,
        .latency_us = o.latency_us,
        .ttft_us = o.ttft_us,
        .output_tokens = o.output_tokens,
        .breaker_opened = opened,
    };
    usage_metrics_attempt(usage_log_metrics(r->pl->usage_log), &a);
}

static void pl_metrics_abandon(pl_request_t *r)
{
    if (!r->dep)
        return;
    metrics_attempt_abandon(r->dep, &pl_candidate(r)->provider->breaker);
    r->dep = NULL;
}

/* How long deployment p/m still waits out a provider's Retry-After; 0 none. */
static int64_t pl_wait_ms(const pipeline_t *p, const table_provider_t *prov, const table_model_t *m)
{
    metrics_dep_t *d =
        p->planner.metrics ? metrics_find(p->planner.metrics, prov->name, m->name) : NULL;
    return d ? metrics_retry_after_left_ms(d) : 0;
}

/* When every deployment of the plan (candidates and those excluded as
 * unavailable) waits out a Retry-After: the shortest wait left; else -1. */
static int64_t pl_plan_wait_ms(const pipeline_t *p, const route_plan_t *plan)
{
    int64_t best = INT64_MAX;
    size_t n = 0;
    for (size_t i = 0; i < plan->n; i++, n++) {
        int64_t w = pl_wait_ms(p, plan->items[i].provider, plan->items[i].model);
        if (w <= 0)
            return -1;
        best = w < best ? w : best;
    }
    for (size_t i = 0; i < plan->n_excluded; i++) {
        if (!plan->excluded[i].unavailable)
            continue;
        int64_t w = pl_wait_ms(p, plan->excluded[i].provider, plan->excluded[i].model);
        if (w <= 0)
            return -1;
        best = w < best ? w : best;
        n++;
    }
    return n ? best : -1;
}

/* The next admitted candidate within the retry budget and the deadline, or
 * the final error when none is left. */
static void pl_try_next(pl_request_t *r)
{
    bool budget = r->plan.max_attempts <= 0 || r->n_attempts < (size_t)r->plan.max_attempts;
    while (budget && r->next < r->plan.n && clock_now_ms() < r->deadline_ms) {
        r->next++;
        if (!pl_admit(r))
            continue;
        if (pl_submit(r) < 0)
            pl_metrics_abandon(r); /* it finished the request */
        return;
    }
    buf_reset(&r->message);
    grpc_status_code status = GRPC_STATUS_UNAVAILABLE;
    bool timed_out =
        r->n_attempts > 0 && strcmp(r->attempts[r->n_attempts - 1]->error_type, "timeout") == 0;
    if (clock_now_ms() >= r->deadline_ms || (timed_out && r->attempt_hits_deadline)) {
        status = GRPC_STATUS_DEADLINE_EXCEEDED;
        buf_append_str(&r->message, "deadline exceeded after ");
    } else if (!budget) {
        buf_printf(&r->message, "retry budget of %d attempts spent: ", r->plan.max_attempts);
    } else if (r->n_attempts == 0) {
        buf_printf(&r->message, "every candidate is unavailable: %s", r->skipped);
        int64_t wait_ms = pl_plan_wait_ms(r->pl, &r->plan);
        if (wait_ms > 0) {
            pl_finish_waiting(r, wait_ms);
            return;
        }
    } else {
        buf_append_str(&r->message, "every candidate failed: ");
    }
    pl_describe_attempts(r);
    if (r->skipped[0] && r->n_attempts > 0)
        buf_printf(&r->message, "; skipped at admission: %s", r->skipped);
    pl_finish_error(r, status);
}

static void pl_on_attempt_done(void *ud, const upstream_result_t *res)
{
    pl_request_t *r = ud;
    pthread_mutex_lock(&r->mu);
    upstream_req_t *done = r->current;
    r->current = NULL;
    bool cancelled = r->cancelled;
    pthread_mutex_unlock(&r->mu);
    upstream_req_unref(done);

    uerror_t e;
    bool failed = true;
    Llmgw__V1__ChatResponse *resp = NULL;
    bool success_2xx =
        res->outcome == UPSTREAM_OK && res->http_status >= 200 && res->http_status < 300;
    if (cancelled || res->outcome == UPSTREAM_ERR_CANCELLED || r->consumer_full)
        pl_metrics_abandon(r); /* says nothing about the deployment */
    if (cancelled || res->outcome == UPSTREAM_ERR_CANCELLED) {
        pl_finish_errorf(r, GRPC_STATUS_CANCELLED, "cancelled by the client");
        goto out;
    }
    if (r->consumer_full) {
        pl_finish_errorf(r, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "stream: the client is not reading fast enough");
        goto out;
    }
    if (r->stream && r->stream_err[0] &&
        (res->outcome == UPSTREAM_ERR_ABORTED || res->outcome == UPSTREAM_OK)) {
        uerror_bad_response(&e, res->http_status, r->stream_err);
    } else if (res->outcome != UPSTREAM_OK) {
        uerror_from_transport(&e, res->outcome, res->error);
    } else if (!success_2xx) {
        r->adapter->error_from_http(&e, res->http_status, res->body, res->body_len,
                                    res->retry_after);
    } else if (r->kind == PL_KIND_RAW && !r->stream) {
        failed = false;
    } else if (r->stream) {
        if (r->done_marker || r->finish_seen)
            failed = false;
        else
            uerror_bad_response(&e, res->http_status, "stream ended before [DONE]");
    } else {
        char err[256];
        if (r->adapter->parse_chat_response(res->body, res->body_len, r->arena, &resp, err,
                                            sizeof(err)) < 0)
            uerror_bad_response(&e, res->http_status, err);
        else if (resp->n_choices == 0)
            uerror_bad_response(&e, res->http_status, "choices: empty");
        else
            failed = false;
    }

    pl_metrics_end(r, res, failed ? &e : NULL, resp);
    if (pl_record(r, failed ? &e : NULL, res) < 0) {
        pl_finish_oom(r);
        goto out;
    }
    if (failed)
        r->last_retry_after_ms = e.retry_after_ms;
    if (!failed) {
        if (r->kind == PL_KIND_RAW)
            pl_finish_raw(r, res->body, res->body_len);
        else if (r->stream)
            pl_finish_stream(r);
        else
            pl_finish_unary(r, resp);
        goto out;
    }
    const route_candidate_t *c = pl_candidate(r);
    log_warn("upstream attempt failed", "provider=%s model=%s type=%s http_status=%d retryable=%d",
             c->provider->name, c->model->name, e.type, e.http_status, e.retryable);
    if (r->stream && r->started) {
        buf_reset(&r->message);
        buf_append_str(&r->message, "stream broke after the first chunk: ");
        pl_describe_attempts(r);
        pl_finish_error(r, GRPC_STATUS_UNAVAILABLE);
        goto out;
    }
    if (!e.retryable) {
        buf_reset(&r->message);
        pl_describe_attempts(r);
        pl_finish_error(r, e.grpc_status);
        goto out;
    }
    pl_try_next(r);
out:
    pl_unref(r); /* the attempt's reference */
}

/* --- start ------------------------------------------------------------- */

/* The caller's policy on the request: caps refused, contents redacted (r->req
 * or r->raw_json then point at the arena's copy). 0, or -1 with *status. */
static int pl_apply_policy(pl_request_t *r, grpc_status_code *status, char *err, size_t errlen)
{
    r->policy = policy_for(r->table, r->key);
    if (!r->policy)
        return 0;
    policy_status_t ps;
    if (r->kind == PL_KIND_RAW)
        ps = policy_apply_raw(r->policy, r->arena, r->raw_json, &r->raw_json, &r->redactions, err,
                              errlen);
    else
        ps = policy_apply_chat(r->policy, r->arena, r->req, &r->req, &r->redactions, err, errlen);
    if (ps != POLICY_OK) {
        *status =
            ps == POLICY_DENIED ? GRPC_STATUS_PERMISSION_DENIED : GRPC_STATUS_RESOURCE_EXHAUSTED;
        return -1;
    }
    if (r->kind == PL_KIND_CHAT)
        policy_log_prompt(r->policy, r->key ? r->key->name : "", r->req);
    return 0;
}

/* Every deployment excluded by the policy: "policy 'p': model 'm' not
 * allowed (routing: … a/m: excluded by policy 'p' (region: …))". */
static void pl_policy_denied(pl_request_t *r, char *err, size_t errlen)
{
    char detail[1024];
    snprintf(detail, sizeof(detail), "%s", err);
    snprintf(err, errlen, "policy '%s': model '%.128s' not allowed (%s)",
             r->policy ? r->policy->name : "", r->req->model ? r->req->model : "", detail);
}

/* Admission against the key's and its team's buckets: the prompt estimate
 * up front (settled in pl_observe; none for a cache hit). 0, or 1 with *wait_ms and err. */
static int pl_rate_limit(pl_request_t *r, bool member, bool cache_hit, int64_t *wait_ms, char *err,
                         size_t errlen)
{
    const table_key_t *k = r->key;
    if (k->rpm <= 0 && k->tpm <= 0 &&
        (!k->team_limits || (k->team_limits->rpm <= 0 && k->team_limits->tpm <= 0)))
        return 0;
    /* A cache hit is a request but uses no tokens. */
    int64_t tokens = cache_hit                ? 0
                     : r->kind == PL_KIND_RAW ? (int64_t)(strlen(r->raw_json) + 3) / 4
                                              : planner_estimate_prompt_tokens(r->req);
    ratelimit_subject_t s;
    pl_subject(k, &s);
    return ratelimit_admit(r->pl->rl, &s, member ? 0 : 1, tokens, &r->rl_ticket, wait_ms, err,
                           errlen);
}

/* The start after validation and the request hooks: policy, plan, cache,
 * budgets, rate limits, the first attempt. 0 when the request goes on (or
 * was answered through on_done); -1 with *status and err when it ended
 * before any attempt (the caller reports it). */
static int pl_proceed(pl_request_t *r, grpc_status_code *status, char *err, size_t errlen)
{
    if (pl_apply_policy(r, status, err, errlen) < 0)
        return -1;
    route_filter_t filter = policy_route_filter(r->policy);
    switch (planner_plan_filtered(&r->pl->planner, r->table, r->req, &filter, pl_rng(r->pl),
                                  &r->plan, err, errlen)) {
    case ROUTE_OK:
        break;
    case ROUTE_ERR_NOT_FOUND:
        *status = GRPC_STATUS_NOT_FOUND;
        return -1;
    case ROUTE_ERR_NO_CANDIDATE:
        *status = GRPC_STATUS_FAILED_PRECONDITION;
        return -1;
    case ROUTE_ERR_DENIED:
        pl_policy_denied(r, err, errlen);
        *status = GRPC_STATUS_PERMISSION_DENIED;
        return -1;
    case ROUTE_ERR_UNAVAILABLE: {
        /* Every deployment waits out a Retry-After: answered through
         * on_done, which can carry how long to back off. */
        int64_t wait_ms = pl_plan_wait_ms(r->pl, &r->plan);
        if (wait_ms > 0) {
            buf_append_str(&r->message, err);
            pl_finish_waiting(r, wait_ms);
            return 0;
        }
        *status = GRPC_STATUS_UNAVAILABLE;
        return -1;
    }
    default:
        *status = GRPC_STATUS_INVALID_ARGUMENT;
        return -1;
    }
    /* A cache hit costs nothing: no budget is asked, no tokens admitted. */
    buf_t hit = BUF_INIT(PL_CACHE_VALUE_CAP);
    int64_t hit_age_ms = 0;
    bool cached = pl_cache_lookup(r, r->no_cache, &hit, &hit_age_ms);
    /* Hard budgets: the first choice's provider stands for the request. */
    if (!cached &&
        budget_lease_admit(r->pl->leases, r->table, r->key,
                           r->plan.n > 0 ? r->plan.items[0].provider->name : "", err, errlen) < 0) {
        buf_free(&hit);
        *status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        return -1;
    }
    if (clock_now_ms() >= r->deadline_ms) {
        buf_free(&hit);
        *status = GRPC_STATUS_DEADLINE_EXCEEDED;
        snprintf(err, errlen, "deadline exceeded before the first attempt");
        return -1;
    }
    if (r->key) {
        /* Over a limit: answered through on_done like a provider's
         * Retry-After, so the front doors can say when to come back. */
        int64_t wait_ms = 0;
        if (pl_rate_limit(r, r->member, cached, &wait_ms, err, errlen) != 0) {
            buf_free(&hit);
            buf_append_str(&r->message, err);
            pl_finish_waiting(r, wait_ms);
            return 0;
        }
    }
    if (cached && pl_cache_replay(r, &hit, hit_age_ms)) {
        buf_free(&hit);
        return 0; /* answered from the cache */
    }
    buf_free(&hit);
    if (r->stream) {
        r->scratch = arena_new(0);
        if (!r->scratch) {
            *status = GRPC_STATUS_RESOURCE_EXHAUSTED;
            snprintf(err, errlen, "gateway: out of memory");
            return -1;
        }
    }
    /* From here on every outcome goes through on_done. A body-building error
     * (a *_json field) is found on the first submit and reported there. */
    atomic_fetch_add(&r->refs, 1); /* keep r alive across the first submit */
    if (r->pl->stats) {
        usage_stats_request_begin(r->pl->stats);
        r->stats_begun = true;
    }
    r->next = 0;
    pl_try_next(r); /* admission may skip a candidate whose breaker just opened */
    pl_unref(r);
    return 0;
}

/* --- extensions' request hooks (ext_hooks.h) -------------------------------- */

/* A hook's HTTP status as the gRPC door says it. */
static grpc_status_code pl_status_of_http(int st)
{
    switch (st) {
    case 400:
    case 422:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case 401:
        return GRPC_STATUS_UNAUTHENTICATED;
    case 403:
        return GRPC_STATUS_PERMISSION_DENIED;
    case 404:
        return GRPC_STATUS_NOT_FOUND;
    case 409:
        return GRPC_STATUS_ABORTED;
    case 413:
    case 429:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case 501:
        return GRPC_STATUS_UNIMPLEMENTED;
    case 504:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    default:
        return st >= 500 ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_FAILED_PRECONDITION;
    }
}

/* The hooks' kind of a request: chat, or which raw endpoint. */
static llmgw_ext_request_kind_t pl_hook_kind(const pl_request_t *r)
{
    if (r->kind != PL_KIND_RAW)
        return LLMGW_EXT_REQ_CHAT;
    return strcmp(r->raw_path, "/embeddings") == 0 ? LLMGW_EXT_REQ_EMBEDDING
                                                   : LLMGW_EXT_REQ_COMPLETION;
}

/* A raw request as hooks see it: the body with the caller's "model" put
 * back first. 0, or -1 out of memory / past the cap. */
static int pl_raw_hook_json(const pl_request_t *r, buf_t *out)
{
    return pl_raw_with_model(r, r->req->model ? r->req->model : "", out);
}

/* A raw request rewritten by a hook: its "model" (a string, required)
 * becomes the request's model, the rest its body; "stream" may not change
 * (the front door already chose how to answer). 0, or -1 with err. */
static int pl_hooks_apply_raw(pl_request_t *r, const char *json, size_t len, char *err,
                              size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    int rc = -1;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "extension rewrite: expected a JSON object (%s)",
                 o ? "not an object" : je.text);
        goto out;
    }
    json_t *model = json_object_get(o, "model");
    if (!json_is_string(model) || json_string_length(model) == 0) {
        snprintf(err, errlen, "extension rewrite: model: expected a non-empty string");
        goto out;
    }
    json_t *stream = json_object_get(o, "stream");
    if (stream && !json_is_boolean(stream)) {
        snprintf(err, errlen, "extension rewrite: stream: expected a boolean");
        goto out;
    }
    if ((stream && json_is_true(stream)) != r->stream) {
        snprintf(err, errlen, "extension rewrite: stream: may not be changed by a request hook");
        goto out;
    }
    Llmgw__V1__ChatRequest *req = arena_alloc(r->arena, sizeof(*req));
    char *name = arena_strdup(r->arena, json_string_value(model));
    json_object_del(o, "model");
    char *rest = json_dumps(o, JSON_COMPACT);
    char *body = rest ? arena_strdup(r->arena, rest) : NULL;
    free(rest);
    if (!req || !name || !body) {
        snprintf(err, errlen, "gateway: out of memory");
        goto out;
    }
    *req = *r->req;
    req->model = name;
    r->req = req;
    r->raw_json = body;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* After the hooks passed: the rewritten request (if any) replaces r->req
 * (a raw one: r->req's model and r->raw_json), checked like the caller's.
 * 0, or -1 with *status and err. */
static int pl_hooks_apply(pl_request_t *r, grpc_status_code *status, char *err, size_t errlen)
{
    if (!ext_call_rewritten(r->ext))
        return 0;
    size_t len;
    const char *json = ext_call_json(r->ext, &len);
    if (r->kind == PL_KIND_RAW) {
        *status = GRPC_STATUS_INVALID_ARGUMENT;
        return pl_hooks_apply_raw(r, json, len, err, errlen);
    }
    Llmgw__V1__ChatRequest *req = NULL;
    char why[400];
    *status = GRPC_STATUS_INVALID_ARGUMENT;
    if (!r->pl->decode) {
        snprintf(err, errlen,
                 "extension rewrite: this data plane cannot decode rewritten requests");
        return -1;
    }
    if (r->pl->decode(json, len, r->arena, &req, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "extension rewrite: %s", why);
        return -1;
    }
    if (!req->routing)
        req->routing = r->req->routing; /* not part of OpenAI's JSON */
    if (chatreq_validate(req, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "extension rewrite: %s", why);
        return -1;
    }
    r->req = req;
    return 0;
}

/* One outcome of the run: 0 passed (r->req may be rewritten), 1 pending,
 * -1 refused or failed with *status and err. */
static int pl_hooks_step(pl_request_t *r, grpc_status_code *status, char *err, size_t errlen)
{
    switch (ext_call_run(r->ext)) {
    case EXT_CALL_PENDING:
        return 1;
    case EXT_CALL_REFUSE:
        r->hook_http_status = ext_call_http_status(r->ext);
        *status = pl_status_of_http(r->hook_http_status);
        snprintf(err, errlen, "%s", ext_call_message(r->ext));
        return -1;
    default:
        return pl_hooks_apply(r, status, err, errlen);
    }
}

static void pl_hooks_resume(void *ud, bool stopping);

/* A pending hook completed (any thread): the request resumes on its engine. */
static void pl_hooks_wake(void *ud)
{
    pl_request_t *r = ud;
    if (upstream_post(r->engine, pl_hooks_resume, r) < 0)
        pl_hooks_resume(r, true);
}

static void pl_hooks_resume(void *ud, bool stopping)
{
    pl_request_t *r = ud;
    grpc_status_code status = GRPC_STATUS_OK;
    char err[512];
    pthread_mutex_lock(&r->mu);
    bool cancelled = r->cancelled;
    pthread_mutex_unlock(&r->mu);
    if (stopping) {
        pl_finish_errorf(r, GRPC_STATUS_UNAVAILABLE, "gateway: shutting down");
    } else if (cancelled) {
        pl_finish_errorf(r, GRPC_STATUS_CANCELLED, "cancelled by the client");
    } else {
        int rc = pl_hooks_step(r, &status, err, sizeof(err));
        if (rc > 0)
            return; /* the next hook is pending: its reference stays */
        if (rc == 0 && pl_proceed(r, &status, err, sizeof(err)) == 0)
            goto out;
        pl_finish_errorf(r, status, "%s", err);
    }
out:
    pl_unref(r); /* the pending hook's reference */
}

/* Runs the request hooks at the start. 0 passed, 1 pending (the request
 * goes on in pl_hooks_resume), -1 with *status and err. */
static int pl_hooks_begin(pl_request_t *r, const pl_params_t *params, grpc_status_code *status,
                          char *err, size_t errlen)
{
    buf_t json = BUF_INIT(PL_BODY_CAP);
    *status = GRPC_STATUS_INVALID_ARGUMENT;
    if (r->kind == PL_KIND_RAW) {
        /* The front door's request struct may live on its stack, and a
         * pending hook resumes after pipeline_start returned: keep a copy. */
        Llmgw__V1__ChatRequest *copy = arena_alloc(r->arena, sizeof(*copy));
        if (!copy || pl_raw_hook_json(r, &json) < 0) {
            buf_free(&json);
            *status = GRPC_STATUS_RESOURCE_EXHAUSTED;
            snprintf(err, errlen, "gateway: out of memory");
            return -1;
        }
        *copy = *r->req;
        r->req = copy;
    } else if (openai_build_chat_request(r->req, r->req->model, false, &json, err, errlen) < 0) {
        buf_free(&json);
        return -1;
    }
    llmgw_ext_request_t q = {
        .struct_size = sizeof(q),
        .kind = pl_hook_kind(r),
        .request_json = buf_cstr(&json),
        .request_len = json.len,
        .stream = r->stream,
        .door = params->door ? params->door : "grpc",
        .key = r->key ? r->key->name : "",
        .team = r->key && r->key->team ? r->key->team : "",
        .headers = params->headers,
        .n_headers = params->headers ? params->n_headers : 0,
    };
    r->ext = ext_call_new(&q, pl_hooks_wake, r);
    buf_free(&json);
    if (!r->ext) {
        *status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(err, errlen, "gateway: out of memory");
        return -1;
    }
    /* The pending hook's reference, taken first: it may complete and the
     * request resume on the engine before ext_call_run returns. */
    atomic_fetch_add(&r->refs, 1);
    int rc = pl_hooks_step(r, status, err, errlen);
    if (rc <= 0)
        atomic_fetch_sub(&r->refs, 1); /* the front door's is still held */
    if (rc < 0 && params->refused_http_status)
        *params->refused_http_status = r->hook_http_status;
    return rc;
}

pl_request_t *pipeline_start(pipeline_t *p, const pl_params_t *params, const pl_callbacks_t *cb,
                             void *ud, grpc_status_code *status, char *err, size_t errlen)
{
    pl_request_t *r = malloc(sizeof(*r));
    if (!r) {
        *status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(err, errlen, "gateway: out of memory");
        return NULL;
    }
    memset(r, 0, offsetof(pl_request_t, plan));
    r->plan.n = 0;
    r->plan.n_excluded = 0;
    r->plan.route_name = NULL;
    r->plan.strategy = NULL; /* the metric snapshot reads it for requests refused early */
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->mu, NULL);
    r->pl = p;
    r->engine = params->engine ? params->engine : p->engine;
    r->req = params->req;
    r->arena = params->arena;
    r->cb = *cb;
    r->ud = ud;
    r->kind = params->kind;
    r->raw_path = params->raw_path;
    r->raw_json = params->raw_json;
    r->api_version = params->req ? params->req->api_version : NULL;
    r->stream = params->kind == PL_KIND_RAW ? params->stream && cb->on_raw_event : params->stream;
    r->last_retry_after_ms = -1;
    r->member = params->member;
    r->no_cache = params->no_cache;
    r->deadline_ms = params->deadline_ms;
    r->start_us = clock_now_us();
    buf_init(&r->body, PL_BODY_CAP);
    buf_init(&r->message, PL_MESSAGE_CAP);
    if (params->table) {
        r->table = table_ref(params->table);
        r->key = params->key;
    } else {
        r->table = table_slot_get(p->tables);
        *status =
            auth_authorize(r->table, params->authorization, TABLE_SCOPE_CHAT, &r->key, err, errlen);
        if (*status != GRPC_STATUS_OK)
            goto fail;
    }
    if (r->kind == PL_KIND_RAW ? (!r->raw_path || !r->raw_json || r->raw_json[0] != '{')
                               : chatreq_validate(r->req, err, errlen) < 0) {
        if (r->kind == PL_KIND_RAW)
            snprintf(err, errlen, "request: a raw call needs a path and a JSON object body");
        *status = GRPC_STATUS_INVALID_ARGUMENT;
        goto fail;
    }
    /* Every kind: a guard on chat must not be bypassed through the native
     * /v1/completions or /v1/embeddings endpoints. */
    if (ext_hooks_have_request()) {
        int rc = pl_hooks_begin(r, params, status, err, errlen);
        if (rc > 0)
            return r; /* a hook answers later: pl_hooks_resume goes on */
        if (rc < 0)
            goto fail;
    }
    if (pl_proceed(r, status, err, errlen) < 0)
        goto fail;
    return r;
fail:
    pl_observe(r, *status, NULL, 0);
    pl_unref(r);
    return NULL;
}
