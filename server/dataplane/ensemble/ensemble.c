/* ensemble: the fan-out. See ensemble.h for the thread model.
 *
 * Invariants:
 * - `running` counts the pipeline requests in flight (members and the
 *   judge); the ensemble finishes only when it is 0, so no pipeline callback
 *   can arrive after on_done. The parallel methods count every member before
 *   the first starts, so an early completion cannot look like the last one.
 * - A member's result fields are written by its own completion only, before
 *   it takes the mutex to count itself done; whoever sees `running` reach 0
 *   reads them after taking the same mutex.
 * - The ensemble holds one reference for the caller, one for the work (given
 *   back after on_done) and one across ensemble_start; pipeline handles and
 *   member arenas are freed with the last reference, so the answer may point
 *   into them until ensemble_release.
 */
#include "ensemble.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "chatreq.h"
#include "clock.h"
#include "ensemble_methods.h"
#include "log.h"
#include "route.h"
#include "usage_metrics.h"

#define ENS_ARENA_LIMIT (64u << 20)
#define ENS_MESSAGE_CAP 16384
#define ENS_JUDGE_PROMPT_CAP (1u << 20)
#define ENS_DEFAULT_JUDGE_THRESHOLD 0.5
#define ENS_AGREE_SIMILARITY 0.5

typedef enum {
    ENS_IDLE = 0, /* not started (cascade stages not reached yet) */
    ENS_RUNNING,
    ENS_OK,
    ENS_FAILED,
    ENS_CANCELLED,
} ens_state_t;

typedef enum {
    ENS_CANCEL_NONE = 0,
    ENS_CANCEL_CLIENT,
    ENS_CANCEL_VOTE, /* the vote was decided without it */
} ens_cancel_t;

typedef struct ens_member ens_member_t;

struct ensemble_service {
    pipeline_t *pl;
    table_slot_t *tables;
    consistency_t *consistency;
    atomic_uint_fast64_t seq;
};

struct ens_member {
    ensemble_t *e;
    size_t idx;
    const char *name;           /* as configured (borrowed from the request) */
    double weight;              /* the weight given; 0 = not given */
    double price_in, price_out; /* per mtok of the route's first candidate */
    arena_t *arena;
    Llmgw__V1__ChatRequest req; /* the shared request with this member's model */
    /* Guarded by e->mu. */
    pl_request_t *pl;
    ens_state_t state;
    ens_cancel_t cancel;
    /* Written by the member's completion (see the invariants). */
    int64_t start_us;
    int64_t latency_us;
    grpc_status_code status;
    const char *error;
    const Llmgw__V1__ChatResponse *resp;
    const Llmgw__V1__RouteDecision *route;
    const char *provider, *model; /* that served it, or the last attempt's */
    const char *content;
    char *key; /* vote key (malloc'ed); NULL: no vote */
    double quality;
};

typedef enum { ENS_JUDGE_PICK, ENS_JUDGE_SCORE } ens_judge_mode_t;

struct ensemble {
    atomic_int refs;
    pthread_mutex_t mu;
    ensemble_service_t *svc;
    table_t *table;
    const table_key_t *key; /* authenticated, in `table`; NULL: anonymous */
    const Llmgw__V1__ChatRequest *chat;
    const Llmgw__V1__EnsembleConfig *cfg;
    char *authorization;
    arena_t *out;
    ensemble_done_fn on_done;
    void *ud;
    int64_t start_us;
    int64_t deadline_ms;
    size_t min_responses;
    ensm_norm_t norm;
    ensm_pattern_t *pattern;
    bool need_keys;

    ens_member_t members[ENSEMBLE_MAX_MEMBERS];
    size_t n;
    size_t order[ENSEMBLE_MAX_MEMBERS]; /* cascade: cheapest first */
    size_t stage;                       /* cascade: position in order of the current stage */

    /* Guarded by mu. */
    int running;
    bool cancelled;
    bool stopped_early;
    bool finished;
    pl_request_t *judge_pl;

    /* The decision, made by the thread that saw running reach 0. */
    ensm_result_t decision;
    size_t ok[ENSEMBLE_MAX_MEMBERS]; /* member index of each answer */
    size_t n_ok;
    size_t chosen;               /* member index */
    bool accepted;               /* cascade */
    size_t last_ok_stage_member; /* cascade: SIZE_MAX none */

    /* The judge. */
    ens_judge_mode_t judge_mode;
    arena_t *judge_arena;
    Llmgw__V1__ChatRequest judge_req;
    Llmgw__V1__Message judge_msg;
    Llmgw__V1__Message *judge_msgs[1];
    buf_t judge_prompt;
    const char *judge_output;
    double judge_score;
    double judge_cost_usd;

    buf_t message;
};

static uint64_t ens_rng_seed(ensemble_service_t *s)
{
    uint64_t x =
        (uint64_t)clock_now_us() ^ ((atomic_fetch_add(&s->seq, 1) + 1) * 0x9E3779B97F4A7C15ull);
    return x ? x : 0x2545F4914F6CDD1Dull;
}

ensemble_service_t *ensemble_service_new(pipeline_t *pl, table_slot_t *tables,
                                         consistency_t *consistency)
{
    ensemble_service_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->pl = pl;
    s->tables = tables;
    s->consistency = consistency;
    atomic_init(&s->seq, 0);
    return s;
}

table_slot_t *ensemble_service_tables(ensemble_service_t *s)
{
    return s->tables;
}

void ensemble_service_free(ensemble_service_t *s)
{
    free(s);
}

static void ens_unref(ensemble_t *e)
{
    if (atomic_fetch_sub(&e->refs, 1) != 1)
        return;
    for (size_t i = 0; i < e->n; i++) {
        ens_member_t *m = &e->members[i];
        pipeline_release(m->pl);
        free(m->key);
        arena_free(m->arena);
    }
    pipeline_release(e->judge_pl);
    arena_free(e->judge_arena);
    if (e->table)
        table_unref(e->table);
    ensm_pattern_free(e->pattern);
    buf_free(&e->judge_prompt);
    buf_free(&e->message);
    free(e->authorization);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

void ensemble_release(ensemble_t *e)
{
    if (e)
        ens_unref(e);
}

static bool ens_is_cascade(const ensemble_t *e)
{
    return e->cfg->method == LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CASCADE;
}

static int64_t ens_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* --- validation ---------------------------------------------------------- */

/* The last user message: what the judge is told the question was. */
static const char *ens_question(const Llmgw__V1__ChatRequest *r)
{
    const char *q = "";
    for (size_t i = 0; i < r->n_messages; i++)
        if (r->messages[i]->role && strcmp(r->messages[i]->role, "user") == 0)
            q = r->messages[i]->content ? r->messages[i]->content : "";
    return q;
}

static grpc_status_code ens_validate(ensemble_t *e, const Llmgw__V1__EnsembleRequest *req,
                                     char *err, size_t errlen)
{
    const Llmgw__V1__EnsembleConfig *c = req->config;
    if (!req->request) {
        snprintf(err, errlen, "request: required");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (!c) {
        snprintf(err, errlen, "config: required");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    switch (c->method) {
    case LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CONSENSUS:
    case LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_VOTING:
    case LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_WEIGHTED:
    case LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CASCADE:
        break;
    default:
        snprintf(err, errlen,
                 "config.method: expected one of CONSENSUS, VOTING, WEIGHTED, CASCADE");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (c->n_members == 0) {
        snprintf(err, errlen, "config.members: at least one member is required");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (c->n_members > ENSEMBLE_MAX_MEMBERS) {
        snprintf(err, errlen, "config.members: at most %d members", ENSEMBLE_MAX_MEMBERS);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < c->n_members; i++) {
        const Llmgw__V1__EnsembleMember *m = c->members[i];
        if (!m->model || !m->model[0]) {
            snprintf(err, errlen, "config.members[%zu].model: required", i);
            return GRPC_STATUS_INVALID_ARGUMENT;
        }
        if (!(m->weight >= 0)) {
            snprintf(err, errlen, "config.members[%zu].weight: expected a number >= 0", i);
            return GRPC_STATUS_INVALID_ARGUMENT;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->members[j]->model, m->model) == 0) {
                snprintf(err, errlen,
                         "config.members[%zu].model: duplicate of members[%zu] '%.64s'", i, j,
                         m->model);
                return GRPC_STATUS_INVALID_ARGUMENT;
            }
    }
    if (c->min_responses < 0 || (size_t)c->min_responses > c->n_members) {
        snprintf(err, errlen, "config.min_responses: expected 0..%zu (the member count)",
                 c->n_members);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (c->member_timeout_ms < 0) {
        snprintf(err, errlen, "config.member_timeout_ms: expected a number >= 0");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (c->timeout_ms < 0) {
        snprintf(err, errlen, "config.timeout_ms: expected a number >= 0");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (c->normalization != LLMGW__V1__ENSEMBLE_NORMALIZATION__ENSEMBLE_NORMALIZATION_DEFAULT &&
        c->normalization != LLMGW__V1__ENSEMBLE_NORMALIZATION__ENSEMBLE_NORMALIZATION_NONE) {
        snprintf(err, errlen, "config.normalization: expected DEFAULT or NONE");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (!(c->judge_threshold >= 0 && c->judge_threshold <= 1)) {
        snprintf(err, errlen, "config.judge_threshold: expected a number from 0 to 1");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (c->judge_threshold > 0 && !c->judge_model[0]) {
        snprintf(err, errlen, "config.judge_threshold: needs config.judge_model");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (c->json_schema[0] && ensm_json_schema_valid(c->json_schema, err, errlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    if (c->extract_pattern[0]) {
        e->pattern = ensm_pattern_compile(c->extract_pattern, err, errlen);
        if (!e->pattern)
            return GRPC_STATUS_INVALID_ARGUMENT;
    }
    /* The chat request as the first member would send it: a bad message is
     * the caller's error once, not one error per member. */
    Llmgw__V1__ChatRequest probe = *req->request;
    probe.model = c->members[0]->model;
    char why[400];
    if (chatreq_validate(&probe, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "request.%s", why);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    return GRPC_STATUS_OK;
}

/* Resolves every member (and the judge) against the table: unknown models
 * are NOT_FOUND before anything is sent; the first candidate's price orders
 * the cascade. */
static grpc_status_code ens_resolve(ensemble_t *e, char *err, size_t errlen)
{
    uint64_t rng = ens_rng_seed(e->svc);
    route_plan_t *plan = malloc(sizeof(*plan));
    char why[300];
    grpc_status_code st = GRPC_STATUS_OK;
    if (!plan) {
        snprintf(err, errlen, "gateway: out of memory");
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    for (size_t i = 0; i <= e->n && st == GRPC_STATUS_OK; i++) {
        bool judge = i == e->n;
        const char *model = judge ? e->cfg->judge_model : e->members[i].name;
        if (judge && !model[0])
            break;
        route_status_t rs = route_plan(e->table, model, judge ? NULL : e->chat->routing, &rng, plan,
                                       why, sizeof(why));
        if (rs == ROUTE_ERR_NOT_FOUND) {
            if (judge)
                snprintf(err, errlen, "config.judge_model: unknown route or provider/model '%.64s'",
                         model);
            else
                snprintf(err, errlen,
                         "config.members[%zu].model: unknown route or provider/model '%.64s'", i,
                         model);
            st = GRPC_STATUS_NOT_FOUND;
        } else if (rs == ROUTE_ERR_NO_CANDIDATE) {
            if (judge)
                snprintf(err, errlen, "config.judge_model: %s", why);
            else
                snprintf(err, errlen, "config.members[%zu].model: %s", i, why);
            st = GRPC_STATUS_FAILED_PRECONDITION;
        } else if (rs != ROUTE_OK) {
            snprintf(err, errlen, "request.%s", why);
            st = GRPC_STATUS_INVALID_ARGUMENT;
        } else if (!judge) {
            e->members[i].price_in = plan->items[0].model->input_cost_per_mtok;
            e->members[i].price_out = plan->items[0].model->output_cost_per_mtok;
        }
    }
    free(plan);
    return st;
}

/* --- members ------------------------------------------------------------- */

static void ens_on_member_done(void *ud, const pl_result_t *res);
static void ens_on_judge_done(void *ud, const pl_result_t *res);
static const pl_callbacks_t ens_member_cb = {.on_done = ens_on_member_done};
static const pl_callbacks_t ens_judge_cb = {.on_done = ens_on_judge_done};

static void ens_member_finished(ensemble_t *e, ens_member_t *m, grpc_status_code status,
                                const char *message, const Llmgw__V1__ChatResponse *resp,
                                Llmgw__V1__Attempt *const *attempts, size_t n_attempts);

static int64_t ens_member_deadline(const ensemble_t *e)
{
    int64_t d = e->deadline_ms;
    if (e->cfg->member_timeout_ms > 0)
        d = ens_min64(d, clock_now_ms() + e->cfg->member_timeout_ms);
    return d;
}

/* Starts one member whose state is already RUNNING and counted in
 * `running`. Called without the mutex. */
static void ens_start_member(ensemble_t *e, ens_member_t *m)
{
    char err[512];
    grpc_status_code st = GRPC_STATUS_OK;
    m->start_us = clock_now_us();
    pthread_mutex_lock(&e->mu);
    bool skip = m->cancel != ENS_CANCEL_NONE || e->cancelled;
    pthread_mutex_unlock(&e->mu);
    if (skip) {
        ens_member_finished(e, m, GRPC_STATUS_CANCELLED, "", NULL, NULL, 0);
        return;
    }
    pl_params_t params = {
        .req = &m->req,
        .authorization = e->authorization,
        .deadline_ms = ens_member_deadline(e),
        .arena = m->arena,
        .table = e->table,
        .key = e->key,
        .member = true,
    };
    pl_request_t *pl =
        pipeline_start(e->svc->pl, &params, &ens_member_cb, m, &st, err, sizeof(err));
    if (!pl) {
        ens_member_finished(e, m, st, err, NULL, NULL, 0);
        return;
    }
    pthread_mutex_lock(&e->mu);
    m->pl = pl;
    bool cancel = m->cancel != ENS_CANCEL_NONE || e->cancelled;
    pthread_mutex_unlock(&e->mu);
    if (cancel)
        pipeline_cancel(pl);
}

static void ens_on_member_done(void *ud, const pl_result_t *res)
{
    ens_member_t *m = ud;
    ens_member_finished(m->e, m, res->status, res->message, res->response, res->attempts,
                        res->n_attempts);
}

/* The answer's text: the first choice's content. */
static const char *ens_content(const Llmgw__V1__ChatResponse *r)
{
    if (r && r->n_choices > 0 && r->choices[0]->message && r->choices[0]->message->content)
        return r->choices[0]->message->content;
    return "";
}

/* The quality score of the deployment that served `resp` (0.5 unknown). */
static double ens_quality(const ensemble_t *e, const char *provider, const char *model)
{
    const table_provider_t *p = provider ? table_find_provider(e->table, provider) : NULL;
    const table_model_t *tm = p && model ? table_provider_find_model(p, model) : NULL;
    return tm ? tm->quality : 0.5;
}

/* Records a member's outcome in its own fields (no lock: only this
 * completion writes them). */
static void ens_member_record(ensemble_t *e, ens_member_t *m, grpc_status_code status,
                              const char *message, const Llmgw__V1__ChatResponse *resp,
                              Llmgw__V1__Attempt *const *attempts, size_t n_attempts)
{
    m->latency_us = m->start_us ? clock_now_us() - m->start_us : 0;
    m->status = status;
    if (status == GRPC_STATUS_OK && resp) {
        m->resp = resp;
        m->route = resp->route;
        m->provider = resp->provider;
        m->model = resp->route && resp->route->model[0] ? resp->route->model : resp->model;
        m->content = ens_content(resp);
        m->quality = ens_quality(e, m->provider, m->model);
        if (e->need_keys && ensm_vote_key(m->content, e->norm, e->pattern, &m->key) < 0)
            m->key = NULL;
        return;
    }
    if (status == GRPC_STATUS_OK)
        m->status = GRPC_STATUS_INTERNAL;
    m->error = arena_strdup(m->arena, message && message[0] ? message : "failed");
    if (n_attempts > 0) {
        m->provider = attempts[n_attempts - 1]->provider;
        m->model = attempts[n_attempts - 1]->model;
    }
}

/* --- deciding and finishing ---------------------------------------------- */

static void ens_finish(ensemble_t *e, grpc_status_code status);
static void ens_decide_parallel(ensemble_t *e);
static void ens_cascade_next(ensemble_t *e);
static void ens_cascade_accept(ensemble_t *e, ens_member_t *m);
static int ens_start_judge(ensemble_t *e, ens_judge_mode_t mode);

/* Voting's early stop, under mu: when the leader can no longer be caught,
 * marks every running member cancelled-by-vote and collects their handles. */
static size_t ens_vote_stop_locked(ensemble_t *e, pl_request_t **cancel)
{
    const char *keys[ENSEMBLE_MAX_MEMBERS];
    size_t n_ok = 0, pending = 0, n_cancel = 0;
    if (e->cfg->method != LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_VOTING || e->stopped_early ||
        e->cancelled)
        return 0;
    for (size_t i = 0; i < e->n; i++) {
        if (e->members[i].state == ENS_OK)
            keys[n_ok++] = e->members[i].key;
        else if (e->members[i].state == ENS_RUNNING)
            pending++;
    }
    if (pending == 0 || n_ok < e->min_responses || !ensm_vote_certain(keys, n_ok, pending))
        return 0;
    e->stopped_early = true;
    for (size_t i = 0; i < e->n; i++) {
        ens_member_t *m = &e->members[i];
        if (m->state != ENS_RUNNING)
            continue;
        m->cancel = ENS_CANCEL_VOTE;
        if (m->pl)
            cancel[n_cancel++] = m->pl;
    }
    return n_cancel;
}

static void ens_member_finished(ensemble_t *e, ens_member_t *m, grpc_status_code status,
                                const char *message, const Llmgw__V1__ChatResponse *resp,
                                Llmgw__V1__Attempt *const *attempts, size_t n_attempts)
{
    pl_request_t *cancel[ENSEMBLE_MAX_MEMBERS];
    size_t n_cancel = 0;
    ens_member_record(e, m, status, message, resp, attempts, n_attempts);

    pthread_mutex_lock(&e->mu);
    if (m->status == GRPC_STATUS_OK)
        m->state = ENS_OK;
    else if (m->status == GRPC_STATUS_CANCELLED && (m->cancel != ENS_CANCEL_NONE || e->cancelled))
        m->state = ENS_CANCELLED;
    else
        m->state = ENS_FAILED;
    if (m->state == ENS_CANCELLED && m->cancel == ENS_CANCEL_NONE)
        m->cancel = ENS_CANCEL_CLIENT;
    e->running--;
    bool cancelled = e->cancelled;
    bool last = e->running == 0;
    if (!ens_is_cascade(e) && m->state == ENS_OK)
        n_cancel = ens_vote_stop_locked(e, cancel);
    pthread_mutex_unlock(&e->mu);

    for (size_t i = 0; i < n_cancel; i++)
        pipeline_cancel(cancel[i]);
    if (ens_is_cascade(e)) {
        if (cancelled)
            ens_finish(e, GRPC_STATUS_CANCELLED);
        else if (m->state == ENS_OK)
            ens_cascade_accept(e, m);
        else
            ens_cascade_next(e);
        return;
    }
    if (!last)
        return;
    if (cancelled)
        ens_finish(e, GRPC_STATUS_CANCELLED);
    else
        ens_decide_parallel(e);
}

/* "members[0] a/m1: error; members[2] …" for the UNAVAILABLE message. */
static void ens_describe_failures(ensemble_t *e)
{
    bool first = true;
    for (size_t i = 0; i < e->n; i++) {
        const ens_member_t *m = &e->members[i];
        if (m->state == ENS_OK || m->state == ENS_IDLE)
            continue;
        buf_printf(&e->message, "%smembers[%zu] %s: %s", first ? "" : "; ", i, m->name,
                   m->state == ENS_CANCELLED ? "cancelled"
                   : m->error                ? m->error
                                             : "failed");
        first = false;
    }
}

/* The status for "not enough answers": DEADLINE_EXCEEDED when the call ran
 * out of time (the deadline passed, or every failed member hit it — its
 * curl timeout can fire a millisecond before our clock says so), otherwise
 * UNAVAILABLE. */
static grpc_status_code ens_shortfall_status(const ensemble_t *e)
{
    if (clock_now_ms() >= e->deadline_ms)
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    bool any_failed = false;
    for (size_t i = 0; i < e->n; i++) {
        const ens_member_t *m = &e->members[i];
        if (m->state == ENS_OK || m->state == ENS_CANCELLED)
            continue;
        any_failed = true;
        if (m->status != GRPC_STATUS_DEADLINE_EXCEEDED)
            return GRPC_STATUS_UNAVAILABLE;
    }
    return any_failed ? GRPC_STATUS_DEADLINE_EXCEEDED : GRPC_STATUS_UNAVAILABLE;
}

static bool ens_too_few(ensemble_t *e)
{
    if (e->n_ok >= e->min_responses)
        return false;
    buf_reset(&e->message);
    buf_printf(&e->message, "ensemble: %zu of %zu members answered, %zu needed: ", e->n_ok, e->n,
               e->min_responses);
    ens_describe_failures(e);
    return true;
}

static void ens_decide_parallel(ensemble_t *e)
{
    const char *texts[ENSEMBLE_MAX_MEMBERS], *keys[ENSEMBLE_MAX_MEMBERS];
    double weights[ENSEMBLE_MAX_MEMBERS], quality[ENSEMBLE_MAX_MEMBERS];
    bool weighted = e->cfg->method == LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_WEIGHTED;
    e->n_ok = 0;
    for (size_t i = 0; i < e->n; i++) {
        const ens_member_t *m = &e->members[i];
        if (m->state != ENS_OK)
            continue;
        size_t k = e->n_ok++;
        e->ok[k] = i;
        texts[k] = m->content;
        keys[k] = m->key;
        quality[k] = m->quality;
        weights[k] = m->weight > 0 ? m->weight : weighted ? m->quality : 1;
    }
    if (ens_too_few(e)) {
        ens_finish(e, ens_shortfall_status(e));
        return;
    }
    ensm_input_t in = {
        .n = e->n_ok, .texts = texts, .keys = keys, .weights = weights, .quality = quality};
    int rc = e->cfg->method == LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CONSENSUS
                 ? ensm_consensus(&in, false, &e->decision)
                 : ensm_vote(&in, weighted, &e->decision);
    if (rc == -2) {
        buf_reset(&e->message);
        buf_printf(&e->message, "ensemble: no answer matched config.extract_pattern (%zu answers)",
                   e->n_ok);
        ens_finish(e, GRPC_STATUS_UNAVAILABLE);
        return;
    }
    if (rc < 0) {
        buf_reset(&e->message);
        buf_append_str(&e->message, "gateway: out of memory");
        ens_finish(e, GRPC_STATUS_RESOURCE_EXHAUSTED);
        return;
    }
    e->chosen = e->ok[e->decision.chosen];
    if (e->cfg->judge_model[0] && e->n_ok > 1 && ens_start_judge(e, ENS_JUDGE_PICK) == 0)
        return;
    ens_finish(e, GRPC_STATUS_OK);
}

/* --- cascade ------------------------------------------------------------- */

/* Starts the next stage, or finishes when none is left: with the last
 * successful stage's answer (not accepted), or UNAVAILABLE. */
static void ens_cascade_next(ensemble_t *e)
{
    pthread_mutex_lock(&e->mu);
    bool cancelled = e->cancelled;
    ens_member_t *next = NULL;
    if (!cancelled && e->stage + 1 < e->n) {
        e->stage++;
        next = &e->members[e->order[e->stage]];
        next->state = ENS_RUNNING;
        e->running++;
    }
    pthread_mutex_unlock(&e->mu);
    if (cancelled) {
        ens_finish(e, GRPC_STATUS_CANCELLED);
        return;
    }
    if (next) {
        ens_start_member(e, next);
        return;
    }
    e->n_ok = 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->members[i].state == ENS_OK)
            e->ok[e->n_ok++] = i;
    if (e->last_ok_stage_member == SIZE_MAX) {
        buf_reset(&e->message);
        buf_append_str(&e->message, "ensemble: every cascade stage failed: ");
        ens_describe_failures(e);
        ens_finish(e, ens_shortfall_status(e));
        return;
    }
    if (ens_too_few(e)) {
        ens_finish(e, ens_shortfall_status(e));
        return;
    }
    e->chosen = e->last_ok_stage_member;
    e->accepted = false;
    ens_finish(e, GRPC_STATUS_OK);
}

/* The acceptance rule without the judge: 0 accepted so far, -1 rejected. */
static int ens_cascade_rules(ensemble_t *e, const ens_member_t *m, const ens_member_t *prev)
{
    char err[256];
    if (e->cfg->json_schema[0] &&
        ensm_json_check(m->content, e->cfg->json_schema, err, sizeof(err)) < 0) {
        log_debug("cascade stage rejected", "member=%s reason=\"%s\"", m->name, err);
        return -1;
    }
    if (e->cfg->require_agreement) {
        if (!prev || !prev->key || !m->key || strcmp(prev->key, m->key) != 0)
            return -1;
    }
    return 0;
}

static void ens_cascade_accept(ensemble_t *e, ens_member_t *m)
{
    const ens_member_t *prev =
        e->last_ok_stage_member == SIZE_MAX ? NULL : &e->members[e->last_ok_stage_member];
    int rc = ens_cascade_rules(e, m, prev);
    size_t answered = 0;
    for (size_t i = 0; i < e->n; i++)
        answered += e->members[i].state == ENS_OK;
    e->last_ok_stage_member = m->idx;
    /* min_responses: that many stages must have answered before one may be
     * accepted. */
    if (rc < 0 || answered < e->min_responses) {
        ens_cascade_next(e);
        return;
    }
    e->chosen = m->idx;
    if (e->cfg->judge_model[0]) {
        if (ens_start_judge(e, ENS_JUDGE_SCORE) == 0)
            return;
        ens_cascade_next(e); /* no judge, no acceptance */
        return;
    }
    e->accepted = true;
    e->n_ok = 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->members[i].state == ENS_OK)
            e->ok[e->n_ok++] = i;
    ens_finish(e, GRPC_STATUS_OK);
}

/* --- judge --------------------------------------------------------------- */

/* Starts the judge on the answers (PICK: every successful answer; SCORE: the
 * chosen one). 0 when started (its completion goes on), -1 when it could
 * not start (the caller goes on without it). */
static int ens_start_judge(ensemble_t *e, ens_judge_mode_t mode)
{
    const char *answers[ENSEMBLE_MAX_MEMBERS];
    size_t n = 0;
    char err[512];
    grpc_status_code st = GRPC_STATUS_OK;
    e->judge_mode = mode;
    if (mode == ENS_JUDGE_PICK) {
        for (size_t k = 0; k < e->n_ok; k++)
            answers[n++] = e->members[e->ok[k]].content;
    } else {
        answers[n++] = e->members[e->chosen].content;
    }
    if (!e->judge_arena && !(e->judge_arena = arena_new(ENS_ARENA_LIMIT)))
        return -1;
    if (ensm_judge_prompt(e->cfg->judge_prompt, ens_question(e->chat), answers, n,
                          &e->judge_prompt) < 0) {
        e->judge_output = "judge not asked: its prompt would exceed 1 MiB";
        return -1;
    }
    llmgw__v1__chat_request__init(&e->judge_req);
    llmgw__v1__message__init(&e->judge_msg);
    e->judge_msg.role = "user";
    e->judge_msg.content = (char *)buf_cstr(&e->judge_prompt);
    e->judge_msgs[0] = &e->judge_msg;
    e->judge_req.model = e->cfg->judge_model;
    e->judge_req.messages = e->judge_msgs;
    e->judge_req.n_messages = 1;
    pl_params_t params = {
        .req = &e->judge_req,
        .authorization = e->authorization,
        .deadline_ms = e->deadline_ms,
        .arena = e->judge_arena,
        .table = e->table,
        .key = e->key,
        .member = true,
    };
    pthread_mutex_lock(&e->mu);
    bool cancelled = e->cancelled;
    if (!cancelled)
        e->running++;
    pthread_mutex_unlock(&e->mu);
    if (cancelled)
        return -1;
    pthread_mutex_lock(&e->mu);
    pl_request_t *earlier = e->judge_pl; /* a cascade's earlier stage's judge, done */
    e->judge_pl = NULL;
    pthread_mutex_unlock(&e->mu);
    pipeline_release(earlier);
    pl_request_t *pl = pipeline_start(e->svc->pl, &params, &ens_judge_cb, e, &st, err, sizeof(err));
    if (!pl) {
        pthread_mutex_lock(&e->mu);
        e->running--;
        pthread_mutex_unlock(&e->mu);
        e->judge_output = arena_strdup(e->judge_arena, err);
        return -1;
    }
    pthread_mutex_lock(&e->mu);
    e->judge_pl = pl;
    cancelled = e->cancelled;
    pthread_mutex_unlock(&e->mu);
    if (cancelled)
        pipeline_cancel(pl);
    return 0;
}

static void ens_on_judge_done(void *ud, const pl_result_t *res)
{
    ensemble_t *e = ud;
    int pick = -1;
    double score = -1;
    if (res->status == GRPC_STATUS_OK && res->response) {
        const char *text = ens_content(res->response);
        e->judge_output = text;
        e->judge_cost_usd += res->response->cost_usd;
        size_t n = e->judge_mode == ENS_JUDGE_PICK ? e->n_ok : 1;
        if (ensm_judge_parse(text, n, &pick, &score) < 0)
            log_debug("judge answer unreadable", "model=%s", e->cfg->judge_model);
    } else {
        e->judge_output = arena_strdup(e->judge_arena, res->message ? res->message : "failed");
    }
    pthread_mutex_lock(&e->mu);
    e->running--;
    bool cancelled = e->cancelled;
    pthread_mutex_unlock(&e->mu);
    if (cancelled) {
        ens_finish(e, GRPC_STATUS_CANCELLED);
        return;
    }
    if (e->judge_mode == ENS_JUDGE_PICK) {
        if (pick >= 0)
            e->chosen = e->ok[pick];
        e->judge_score = score;
        ens_finish(e, GRPC_STATUS_OK);
        return;
    }
    /* SCORE: a cascade stage. With one answer a lone "1" is a pick, not a
     * score: treat it as the top score. */
    if (score < 0 && pick == 0)
        score = 1;
    double threshold =
        e->cfg->judge_threshold > 0 ? e->cfg->judge_threshold : ENS_DEFAULT_JUDGE_THRESHOLD;
    e->judge_score = score;
    if (score >= threshold) {
        e->accepted = true;
        e->n_ok = 0;
        for (size_t i = 0; i < e->n; i++)
            if (e->members[i].state == ENS_OK)
                e->ok[e->n_ok++] = i;
        ens_finish(e, GRPC_STATUS_OK);
        return;
    }
    ens_cascade_next(e);
}

/* --- the answer ---------------------------------------------------------- */

static const char *ens_state_name(const ens_member_t *m)
{
    switch (m->state) {
    case ENS_OK:
        return "ok";
    case ENS_FAILED:
        return "failed";
    case ENS_CANCELLED:
        return "cancelled";
    case ENS_RUNNING:
    case ENS_IDLE:
        break;
    }
    return "skipped";
}

/* Does member i's answer agree with the chosen one? */
static bool ens_agrees(const ensemble_t *e, const ens_member_t *m, const ens_member_t *chosen)
{
    if (m == chosen)
        return true;
    if (e->need_keys && e->cfg->method != LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CONSENSUS)
        return m->key && chosen->key && strcmp(m->key, chosen->key) == 0;
    return ensm_similarity(m->content, chosen->content) >= ENS_AGREE_SIMILARITY;
}

/* Cascade analysis: similarity figures over the answers it collected. */
static void ens_cascade_analysis(ensemble_t *e)
{
    const char *texts[ENSEMBLE_MAX_MEMBERS], *keys[ENSEMBLE_MAX_MEMBERS];
    double w[ENSEMBLE_MAX_MEMBERS], q[ENSEMBLE_MAX_MEMBERS];
    for (size_t k = 0; k < e->n_ok; k++) {
        texts[k] = e->members[e->ok[k]].content;
        keys[k] = NULL;
        w[k] = 1;
        q[k] = 0.5;
    }
    ensm_input_t in = {.n = e->n_ok, .texts = texts, .keys = keys, .weights = w, .quality = q};
    if (e->n_ok == 0 || ensm_consensus(&in, false, &e->decision) < 0)
        memset(&e->decision, 0, sizeof(e->decision));
    e->decision.confidence = e->judge_score >= 0 ? e->judge_score : e->accepted ? 1 : 0;
}

static Llmgw__V1__EnsembleResponse *ens_build(ensemble_t *e)
{
    arena_t *a = e->out;
    Llmgw__V1__EnsembleResponse *r = arena_alloc(a, sizeof(*r));
    Llmgw__V1__EnsembleAnalysis *an = arena_alloc(a, sizeof(*an));
    Llmgw__V1__MemberResult **list = arena_alloc(a, sizeof(*list) * e->n);
    int32_t *outliers = arena_alloc(a, sizeof(int32_t) * e->n);
    if (!r || !an || !list || !outliers)
        return NULL;
    llmgw__v1__ensemble_response__init(r);
    llmgw__v1__ensemble_analysis__init(an);
    bool cascade = ens_is_cascade(e);
    bool weighted = e->cfg->method == LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_WEIGHTED;
    if (cascade)
        ens_cascade_analysis(e);
    const ens_member_t *chosen = &e->members[e->chosen];
    int64_t wall_us = clock_now_us() - e->start_us;
    double total_cost = e->judge_cost_usd, latency_sum = 0;
    for (size_t i = 0; i < e->n; i++) {
        const ens_member_t *m = &e->members[i];
        Llmgw__V1__MemberResult *mr = arena_alloc(a, sizeof(*mr));
        if (!mr)
            return NULL;
        llmgw__v1__member_result__init(mr);
        mr->member = (char *)m->name;
        mr->provider = (char *)(m->provider ? m->provider : "");
        mr->model = (char *)(m->model ? m->model : "");
        mr->state = (char *)ens_state_name(m);
        mr->weight = m->weight > 0 ? m->weight : weighted ? m->quality : 1;
        if (m->state == ENS_OK) {
            mr->content = (char *)m->content;
            mr->usage = m->resp->usage;
            mr->cost_usd = m->resp->cost_usd;
            mr->route = (Llmgw__V1__RouteDecision *)m->route;
            mr->agrees = ens_agrees(e, m, chosen);
            total_cost += mr->cost_usd;
        } else if (m->state == ENS_CANCELLED) {
            mr->error = m->cancel == ENS_CANCEL_VOTE ? "stopped early: the vote was decided"
                                                     : "cancelled by the client";
            mr->status_code = GRPC_STATUS_CANCELLED;
        } else if (m->state == ENS_FAILED) {
            mr->error = (char *)(m->error ? m->error : "failed");
            mr->status_code = (int32_t)m->status;
        }
        if (m->state != ENS_IDLE) {
            mr->latency_ms = m->latency_us / 1000;
            latency_sum += (double)m->latency_us;
        }
        list[i] = mr;
    }
    for (size_t k = 0; k < e->n_ok; k++) {
        list[e->ok[k]]->similarity = e->decision.similarity[k];
        if (e->decision.outlier[k])
            outliers[an->n_outliers++] = (int32_t)e->ok[k];
    }
    an->agreement = e->decision.agreement;
    an->diversity = e->decision.diversity;
    an->confidence = e->judge_score >= 0 ? e->judge_score : e->decision.confidence;
    an->outliers = outliers;
    an->total_cost_usd = total_cost;
    an->wall_latency_ms = wall_us / 1000;
    an->parallel_efficiency = wall_us > 0 ? latency_sum / (double)wall_us : 0;
    an->cascade_stage = cascade ? (int32_t)e->chosen : -1;
    an->chosen_member = (int32_t)e->chosen;
    an->judge_output = (char *)(e->judge_output ? e->judge_output : "");
    an->judge_score = e->judge_score;
    an->responses = (int32_t)e->n_ok;
    an->stopped_early = e->stopped_early;
    an->accepted = cascade ? e->accepted : true;
    if (cascade && chosen->resp && chosen->resp->usage) {
        /* What the most expensive member would have cost for the same
         * tokens, against what the cascade spent. */
        const Llmgw__V1__Usage *u = chosen->resp->usage;
        double direct = 0;
        for (size_t i = 0; i < e->n; i++) {
            const ens_member_t *m = &e->members[i];
            double c = (double)u->prompt_tokens * m->price_in / 1e6 +
                       (double)u->completion_tokens * m->price_out / 1e6;
            if (c > direct)
                direct = c;
        }
        an->savings_usd = direct > total_cost ? direct - total_cost : 0;
    }
    r->chosen = (Llmgw__V1__ChatResponse *)chosen->resp;
    r->members = list;
    r->n_members = e->n;
    r->analysis = an;
    return r;
}

/* Each answer's agreement with the choice, into the consistency scores. */
static void ens_record_consistency(ensemble_t *e)
{
    const ens_member_t *chosen = &e->members[e->chosen];
    if (!e->svc->consistency || e->n_ok < 2)
        return;
    for (size_t k = 0; k < e->n_ok; k++) {
        const ens_member_t *m = &e->members[e->ok[k]];
        if (m->provider && m->model) {
            bool agreed = ens_agrees(e, m, chosen);
            consistency_record(e->svc->consistency, m->provider, m->model, agreed);
            usage_metrics_consistency(pipeline_usage_metrics(e->svc->pl), m->provider, m->model,
                                      agreed);
        }
    }
}

/* The call's cost and estimated savings, into the metric snapshots under
 * the chosen answer's deployment (docs/ensembles.md, "Savings"). A member is
 * "completed" when it answered or failed on its own: what it cost is paid.
 * Stages a cascade never reached and members a decided vote stopped were
 * not run to completion; their cost is estimated from their prices and the
 * chosen answer's tokens. */
static void ens_record_savings(ensemble_t *e)
{
    const ens_member_t *chosen = &e->members[e->chosen];
    ensm_member_cost_t mc[ENSEMBLE_MAX_MEMBERS];
    double paid = e->judge_cost_usd;
    if (!chosen->provider || !chosen->model)
        return;
    for (size_t i = 0; i < e->n; i++) {
        const ens_member_t *m = &e->members[i];
        mc[i].price_in_per_mtok = m->price_in;
        mc[i].price_out_per_mtok = m->price_out;
        mc[i].completed = m->state == ENS_OK || m->state == ENS_FAILED;
        if (m->state == ENS_OK && m->resp)
            paid += m->resp->cost_usd;
    }
    const Llmgw__V1__Usage *u = chosen->resp ? chosen->resp->usage : NULL;
    double saved = u ? ensm_savings_usd(mc, e->n, u->prompt_tokens, u->completion_tokens) : 0;
    usage_metrics_ensemble(pipeline_usage_metrics(e->svc->pl), chosen->provider, chosen->model,
                           paid, saved);
}

static void ens_finish(ensemble_t *e, grpc_status_code status)
{
    pthread_mutex_lock(&e->mu);
    bool again = e->finished;
    e->finished = true;
    pthread_mutex_unlock(&e->mu);
    if (again)
        return;
    ensemble_result_t res = {.status = status, .message = "", .response = NULL};
    if (status == GRPC_STATUS_CANCELLED) {
        res.message = "cancelled by the client";
    } else if (status == GRPC_STATUS_OK) {
        res.response = ens_build(e);
        if (!res.response) {
            res.status = GRPC_STATUS_RESOURCE_EXHAUSTED;
            res.message = "gateway: out of memory";
        } else {
            ens_record_consistency(e);
            ens_record_savings(e);
        }
    } else {
        res.message = buf_cstr(&e->message);
    }
    log_debug("ensemble done", "status=%d members=%zu answered=%zu chosen=%zu early=%d",
              (int)res.status, e->n, e->n_ok, e->chosen, e->stopped_early);
    e->on_done(e->ud, &res);
    ens_unref(e); /* the work's reference */
}

/* --- start and cancel ---------------------------------------------------- */

ensemble_t *ensemble_start(ensemble_service_t *s, const ensemble_params_t *params,
                           ensemble_done_fn on_done, void *ud, grpc_status_code *status, char *err,
                           size_t errlen)
{
    const Llmgw__V1__EnsembleRequest *req = params->req;
    const table_key_t *key = NULL;
    ensemble_t *e = calloc(1, sizeof(*e));
    if (!e) {
        *status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(err, errlen, "gateway: out of memory");
        return NULL;
    }
    atomic_init(&e->refs, 1);
    pthread_mutex_init(&e->mu, NULL);
    buf_init(&e->message, ENS_MESSAGE_CAP);
    buf_init(&e->judge_prompt, ENS_JUDGE_PROMPT_CAP);
    e->svc = s;
    e->out = params->arena;
    e->on_done = on_done;
    e->ud = ud;
    e->judge_score = -1;
    e->last_ok_stage_member = SIZE_MAX;
    e->start_us = clock_now_us();
    if (params->table) {
        e->table = table_ref(params->table);
        key = params->key;
    } else {
        e->table = table_slot_get(s->tables);
        *status = auth_authorize(e->table, params->authorization, TABLE_SCOPE_ENSEMBLES, &key, err,
                                 errlen);
        if (*status != GRPC_STATUS_OK)
            goto fail;
    }
    e->key = key;
    if (params->authorization && !(e->authorization = strdup(params->authorization)))
        goto oom;
    *status = ens_validate(e, req, err, errlen);
    if (*status != GRPC_STATUS_OK)
        goto fail;
    /* One call against the requests-per-minute limits; members and the
     * judge then charge their tokens only. */
    int64_t retry_ms = 0;
    *status = pipeline_admit_call(s->pl, key, &retry_ms, err, errlen);
    if (*status != GRPC_STATUS_OK) {
        if (params->retry_after_ms)
            *params->retry_after_ms = retry_ms;
        goto fail;
    }
    e->chat = req->request;
    e->cfg = req->config;
    e->n = e->cfg->n_members;
    e->min_responses = e->cfg->min_responses > 0 ? (size_t)e->cfg->min_responses : 1;
    e->norm =
        e->cfg->normalization == LLMGW__V1__ENSEMBLE_NORMALIZATION__ENSEMBLE_NORMALIZATION_NONE
            ? ENSM_NORM_NONE
            : ENSM_NORM_DEFAULT;
    e->need_keys = e->cfg->method != LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CONSENSUS;
    e->deadline_ms = params->deadline_ms;
    if (e->cfg->timeout_ms > 0)
        e->deadline_ms = ens_min64(e->deadline_ms, clock_now_ms() + e->cfg->timeout_ms);
    for (size_t i = 0; i < e->n; i++) {
        ens_member_t *m = &e->members[i];
        m->e = e;
        m->idx = i;
        m->name = e->cfg->members[i]->model;
        m->weight = e->cfg->members[i]->weight;
        m->req = *e->chat;
        m->req.model = (char *)m->name;
        m->quality = 0.5;
        e->order[i] = i;
        if (!(m->arena = arena_new(ENS_ARENA_LIMIT)))
            goto oom;
    }
    *status = ens_resolve(e, err, errlen);
    if (*status != GRPC_STATUS_OK)
        goto fail;
    if (clock_now_ms() >= e->deadline_ms) {
        *status = GRPC_STATUS_DEADLINE_EXCEEDED;
        snprintf(err, errlen, "deadline exceeded before the first member started");
        goto fail;
    }

    atomic_fetch_add(&e->refs, 2); /* the work's, and one across the starts */
    if (ens_is_cascade(e)) {
        /* Cheapest first (input + output price); a stable insertion sort
         * keeps the configured order among equal prices. */
        for (size_t i = 1; i < e->n; i++) {
            size_t v = e->order[i], j = i;
            double pv = e->members[v].price_in + e->members[v].price_out;
            while (j > 0 &&
                   e->members[e->order[j - 1]].price_in + e->members[e->order[j - 1]].price_out >
                       pv) {
                e->order[j] = e->order[j - 1];
                j--;
            }
            e->order[j] = v;
        }
        e->stage = 0;
        e->members[e->order[0]].state = ENS_RUNNING;
        e->running = 1;
        ens_start_member(e, &e->members[e->order[0]]);
    } else {
        pthread_mutex_lock(&e->mu);
        for (size_t i = 0; i < e->n; i++)
            e->members[i].state = ENS_RUNNING;
        e->running = (int)e->n;
        pthread_mutex_unlock(&e->mu);
        for (size_t i = 0; i < e->n; i++)
            ens_start_member(e, &e->members[i]);
    }
    ens_unref(e); /* the starts' reference */
    return e;
oom:
    *status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(err, errlen, "gateway: out of memory");
fail:
    ens_unref(e);
    return NULL;
}

void ensemble_cancel(ensemble_t *e)
{
    pl_request_t *cancel[ENSEMBLE_MAX_MEMBERS + 1];
    size_t n = 0;
    pthread_mutex_lock(&e->mu);
    if (!e->finished && !e->cancelled) {
        e->cancelled = true;
        for (size_t i = 0; i < e->n; i++)
            if (e->members[i].state == ENS_RUNNING && e->members[i].pl)
                cancel[n++] = e->members[i].pl;
        if (e->judge_pl)
            cancel[n++] = e->judge_pl;
    }
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < n; i++)
        pipeline_cancel(cancel[i]);
}
