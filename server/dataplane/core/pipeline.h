/* pipeline: one chat request's way through the data plane, whatever front
 * door it came through: auth and scope (unless the front door did it) →
 * validation → the caller's policy (caps refused, contents redacted:
 * policy.h) → route plan with the policy's filter → the response cache
 * (a route's "cache": a hit is answered here, cache_replay.h) → hard budgets
 * (budget_lease.h: a lease with something left) → rate limits
 * (ratelimit.h) → attempt loop over the candidates (upstream engine +
 * provider wire format) → the answer, with the route decision, usage and
 * cost; the tokens-per-minute charge is settled on the real usage when the
 * request ends, its cost is charged to the budgets' leases and the request
 * becomes one usage record (usage_log.h) with its redaction counts.
 *
 * Thread model: pipeline_start runs on the caller's thread (a gRPC CQ thread)
 * and only submits the first attempt. Everything after runs on the upstream
 * engine thread (attempt results, fallback, stream chunks, the final
 * callback). pipeline_cancel may come from any thread; the request's mutex
 * guards the handful of fields it touches (cancelled flag, current attempt).
 *
 * Ownership: the request borrows `req` and `arena` until on_done returned;
 * the front door keeps them alive that long (they live in its call state).
 * The handle from pipeline_start has one reference for the front door, given
 * back with pipeline_release; on_done runs exactly once before or after that.
 */
#ifndef LLMGW_PIPELINE_H
#define LLMGW_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include <grpc/status.h>

#include "arena.h"
#include "budget_lease.h"
#include "cache.h"
#include "consistency.h"
#include "discovery.h"
#include "llmgw/v1/chat.pb-c.h"
#include "metrics.h"
#include "ratelimit.h"
#include "redact.h"
#include "table.h"
#include "upstream.h"
#include "usage_log.h"
#include "usage_stats.h"

typedef struct pipeline pipeline_t;
typedef struct pl_request pl_request_t;

typedef struct {
    grpc_status_code status;
    const char *message; /* "" on success; names the field or lists the attempts */
    /* Unary success: the answer (arena-owned). */
    Llmgw__V1__ChatResponse *response;
    /* Streaming success: the closing chunk with usage, cost_usd and route
     * (arena-owned). */
    Llmgw__V1__ChatChunk *last_chunk;
    /* PL_KIND_RAW success: the provider's 2xx body as it came (NULL for a
     * stream, whose events went through on_raw_event), its usage (zeros when
     * it had none), the cost and the route (arena-owned). */
    const char *raw_body;
    size_t raw_len;
    const Llmgw__V1__Usage *raw_usage;
    double raw_cost_usd;
    const Llmgw__V1__RouteDecision *raw_route;
    /* Errors after the first attempt: the attempts made (arena-owned) and
     * the last attempt's Retry-After in ms (-1 when none). With status
     * RESOURCE_EXHAUSTED and `rate_limited` set, no attempt could be made
     * because every candidate waits out a provider's Retry-After, and
     * retry_after_ms is the shortest wait left (-1 when unknown). */
    Llmgw__V1__Attempt *const *attempts;
    size_t n_attempts;
    int64_t retry_after_ms;
    bool rate_limited;
    /* Success: what the serving provider could not take and was dropped or
     * ignored ("dropped logprobs for claude"), for the llmgw-warning header
     * or trailer; NULL none (arena-owned). */
    const char *warning;
    /* A request hook refused the request (ext_hooks.h): the HTTP status it
     * asked for (status is its gRPC counterpart); 0 otherwise. */
    int http_status;
} pl_result_t;

typedef struct {
    /* Streaming only, on the engine thread: one chunk to forward. The chunk
     * is valid during the call only. Return 0, or -1 when the consumer can
     * take no more (gone, or its queue is full): the transfer is aborted. */
    int (*on_chunk)(void *ud, const Llmgw__V1__ChatChunk *chunk);
    /* PL_KIND_RAW streaming only, on the engine thread: one SSE event's data
     * as the provider sent it (a JSON text; the final [DONE] is not passed)
     * and the provider serving it. Valid during the call only; 0 or -1 as
     * on_chunk. A RAW request streams only when this is set. */
    int (*on_raw_event)(void *ud, const char *provider, const char *data, size_t len);
    /* Exactly once per started request: on the engine thread, or on the
     * caller's thread inside pipeline_start when the first attempt cannot
     * be submitted (an invalid *_json field, shutdown). */
    void (*on_done)(void *ud, const pl_result_t *res);
} pl_callbacks_t;

/* Shares the engine and the table slot (both borrowed; they outlive it). */
pipeline_t *pipeline_new(upstream_t *engine, table_slot_t *tables);
void pipeline_free(pipeline_t *p);
/* Counts every request and attempt into `s` (borrowed; outlives p). Call
 * before the first request. */
void pipeline_set_stats(pipeline_t *p, usage_stats_t *s);
/* Routes on live figures: plans with `metrics` (breakers, Retry-After,
 * latency, success) and `discovery` (discovered models), and records every
 * attempt's outcome into `metrics`. Both borrowed, may be NULL; call before
 * the first request. */
void pipeline_set_routing(pipeline_t *p, metrics_t *metrics, discovery_t *discovery);
/* Serves and stores the answers of routes with a "cache" (cache_replay.h)
 * through `c` (borrowed, may be NULL: no caching; outlives p). Call before
 * the first request. A hit answers inside pipeline_start (no attempt), is
 * charged one request but no tokens against the key's limits, is not refused
 * by a spent hard budget, and costs 0 (its usage record and budget charge
 * are 0). */
void pipeline_set_cache(pipeline_t *p, cache_t *c);
/* Ranks on the ensemble consistency scores of `c` too (the effective quality
 * of route.h). Borrowed, may be NULL; call before the first request. */
void pipeline_set_consistency(pipeline_t *p, consistency_t *c);

/* Records every finished request into `log` and enforces the table's
 * budgets with `leases` (admission after planning; the cost charged at the
 * end). Both borrowed, may be NULL; call before the first request. */
void pipeline_set_meter(pipeline_t *p, usage_log_t *log, budget_lease_t *leases);
/* The metric snapshots of the usage log set by pipeline_set_meter (NULL when
 * none): ensembles add their consistency observations to it. */
usage_metrics_t *pipeline_usage_metrics(pipeline_t *p);

/* What the upstream call is. RAW forwards a JSON body to another
 * OpenAI-compatible path (completions, embeddings) through the same route
 * plan, attempt loop and fallback; with `stream` (and on_raw_event) the
 * provider's SSE events are passed through one by one. */
typedef enum { PL_KIND_CHAT = 0, PL_KIND_RAW } pl_kind_t;

typedef struct {
    const Llmgw__V1__ChatRequest *req; /* RAW: only model and routing are read */
    const char *authorization;         /* raw header value or NULL */
    int64_t deadline_ms;               /* absolute monotonic; INT64_MAX when none */
    bool stream;
    arena_t *arena; /* the answer is allocated here */
    pl_kind_t kind;
    /* RAW: appended to the provider's base_url ("/embeddings") and the body:
     * a JSON object's text without "model" (the upstream model is put in). */
    const char *raw_path;
    const char *raw_json;
    /* The engine the attempts run on (borrowed); NULL: the pipeline's. A
     * front door running on an engine's thread passes that engine, so the
     * request never leaves its thread. */
    upstream_t *engine;
    /* Set when the front door authenticated the call before decoding it
     * (auth_authorize with the call's scope) against `table` (borrowed; the
     * pipeline takes its own reference): `key` (NULL: auth off) is used as
     * is and `authorization` is not read. NULL: the pipeline authenticates
     * `authorization` with scope chat against the current table. */
    table_t *table;
    const table_key_t *key;
    /* An ensemble member: the ensemble call was admitted against the key's
     * requests-per-minute limits once (pipeline_admit_call); the member
     * charges tokens only. */
    bool member;
    /* The caller asked not to be answered from the response cache (HTTP
     * cache-control: no-cache, gRPC metadata of the same name); the answer
     * is not stored either. */
    bool no_cache;
    /* For extensions' request hooks (read only when one is loaded): the
     * front door ("http", "grpc"; NULL: "grpc") and the caller's headers as
     * "name: value" lines (borrowed for the call; NULL: none). */
    const char *door;
    const char *const *headers;
    size_t n_headers;
    /* Set when a request hook refuses inside pipeline_start (NULL is
     * returned): the HTTP status it asked for. May be NULL. */
    int *refused_http_status;
} pl_params_t;

/* Rewritten requests from extensions' request hooks come back as OpenAI
 * chat JSON; `decode` (the HTTP front door's decoder) turns such a text into
 * a ChatRequest in `a`. Set before the first request; without it a rewrite
 * is refused. 0, or -1 with err naming the field. */
typedef int (*pl_request_decoder_t)(const char *json, size_t len, arena_t *a,
                                    Llmgw__V1__ChatRequest **out, char *err, size_t errlen);
void pipeline_set_request_decoder(pipeline_t *p, pl_request_decoder_t decode);

/* Checks the key, validates the request, runs the extensions' request hooks
 * (a hook that answers later: pipeline_start returns the handle and the
 * request goes on, on its engine's thread, once the hook completed), plans
 * the route and submits the
 * first attempt. NULL when the request ends before any attempt (bad key,
 * bad request, unknown model, no memory): *status and err say why and
 * on_done never runs. Otherwise on_done runs exactly once — possibly
 * before pipeline_start returned (a body-building error, or every
 * deployment waiting out a Retry-After: RESOURCE_EXHAUSTED, rate_limited). */
pl_request_t *pipeline_start(pipeline_t *p, const pl_params_t *params, const pl_callbacks_t *cb,
                             void *ud, grpc_status_code *status, char *err, size_t errlen);
/* Admits one call that is not itself a pipeline request (an ensemble)
 * against key's (and its team's) requests-per-minute limits. GRPC_STATUS_OK,
 * or RESOURCE_EXHAUSTED with *retry_after_ms and err ("rate limit: key 'k'
 * over 60 requests per minute; retry in 1.000 s"). key NULL: admitted. */
grpc_status_code pipeline_admit_call(pipeline_t *p, const table_key_t *key, int64_t *retry_after_ms,
                                     char *err, size_t errlen);
/* The rate limiter (owned by p; for tests and benchmarks). */
ratelimit_t *pipeline_ratelimit(pipeline_t *p);

/* The current attempt's warning (pl_result_t.warning), for a stream's
 * headers: read it on the engine thread from on_chunk, or after taking a
 * lock on_chunk took. NULL none. */
const char *pipeline_warning(const pl_request_t *r);

/* Any thread; idempotent. on_done follows with CANCELLED unless it ran. */
void pipeline_cancel(pl_request_t *r);
void pipeline_release(pl_request_t *r);

#endif
