/* Integration: ChatService.Ensemble on the real llmgw-dataplane in front of a
 * real llmgw-sim, driven over gRPC. Each method on crafted agreements and
 * disagreements, voting's early stop (the cancelled member's request is
 * aborted at the simulator), cascade acceptance and escalation, the judge,
 * failing and timed-out members, min_responses, client cancellation, bad
 * configurations, and the latency figures of the issue.
 *
 * One sim process serves every "provider": the table gives each provider its
 * own x-sim-answer and x-sim-latency-ms headers, so members agree or
 * disagree on purpose. The sim runs with --log-level debug so its "client
 * gone model=M" lines show which requests were aborted.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "clock.h"
#include "grpc_client.h"
#include "harness.h"
#include "llmgw/v1/chat.pb-c.h"
#include "llmgw/v1/routing.pb-c.h"

static harness_proc_t sim, dp;
static gc_channel_t *ch;

/* One provider per behaviour: name, extra headers (JSON object members),
 * input and output price per million tokens. */
typedef struct {
    const char *name;
    const char *headers;
    double price;
} provider_t;

static const provider_t providers[] = {
    {"four-a", "\"x-sim-answer\": \"The answer is 4.\", \"x-sim-latency-ms\": \"50\"", 1},
    {"four-b", "\"x-sim-answer\": \"I am sure: 4\", \"x-sim-latency-ms\": \"100\"", 1},
    {"five-slow", "\"x-sim-answer\": \"5\", \"x-sim-latency-ms\": \"3000\"", 1},
    {"five", "\"x-sim-answer\": \"It is 5\"", 1},
    {"sky", "\"x-sim-answer\": \"the sky is blue\"", 1},
    {"sky-today", "\"x-sim-answer\": \"the sky is blue today\"", 1},
    {"banana", "\"x-sim-answer\": \"bananas are yellow\"", 1},
    {"blue", "\"x-sim-answer\": \"Blue\"", 1},
    {"green-a", "\"x-sim-answer\": \"green\"", 1},
    {"green-b", "\"x-sim-answer\": \"Green.\"", 1},
    {"cheap", "\"x-sim-answer\": \"Paris\"", 0.1},
    {"mid", "\"x-sim-answer\": \"Lyon\"", 1},
    {"dear", "\"x-sim-answer\": \"lyon\"", 10},
    {"cheap-text", "\"x-sim-answer\": \"not json at all\"", 0.1},
    {"dear-json", "\"x-sim-answer\": \"{\\\"city\\\": \\\"Paris\\\"}\"", 10},
    {"judge-hi", "\"x-sim-answer\": \"{\\\"best\\\": 2, \\\"score\\\": 0.9}\"", 0},
    {"judge-lo", "\"x-sim-answer\": \"{\\\"score\\\": 0.2}\"", 0},
    {"e503", "\"x-sim-status\": \"503\"", 1},
    {"hang", "\"x-sim-fault\": \"hang\"", 1},
    {"slow-cancel", "\"x-sim-answer\": \"late\", \"x-sim-latency-ms\": \"5000\"", 1},
    {"lat100", "\"x-sim-answer\": \"same answer\", \"x-sim-latency-ms\": \"100\"", 1},
    {"lat200", "\"x-sim-answer\": \"same answer\", \"x-sim-latency-ms\": \"200\"", 1},
    {"lat300", "\"x-sim-answer\": \"same answer\", \"x-sim-latency-ms\": \"300\"", 1},
};
#define N_PROVIDERS (sizeof(providers) / sizeof(providers[0]))

/* Every provider serves model "m"; five-slow, hang and slow-cancel also
 * serve a model named after themselves, so the sim's "client gone" lines
 * say which member was aborted. */
static const char *table_json(int port)
{
    static char buf[16384];
    size_t off = 0;
    off += (size_t)snprintf(buf + off, sizeof(buf) - off, "{\"version\": 1, \"providers\": [");
    for (size_t i = 0; i < N_PROVIDERS; i++) {
        const provider_t *p = &providers[i];
        off += (size_t)snprintf(
            buf + off, sizeof(buf) - off,
            "%s{\"name\": \"%s\", \"base_url\": \"http://127.0.0.1:%d/v1\", \"headers\": {%s},"
            " \"models\": [{\"name\": \"m\", \"input_cost_per_mtok\": %g,"
            " \"output_cost_per_mtok\": %g}, {\"name\": \"%s-model\"}]}",
            i ? "," : "", p->name, port, p->headers, p->price, p->price, p->name);
    }
    snprintf(buf + off, sizeof(buf) - off,
             "], \"routes\": [{\"name\": \"r-four\", \"strategy\": \"priority\", \"deployments\": "
             "[{\"provider\": \"e503\", \"model\": \"m\"}, {\"provider\": \"four-b\", \"model\": "
             "\"m\", \"priority\": 1}]}]}");
    return buf;
}

/* --- helpers ------------------------------------------------------------- */

typedef struct {
    grpc_status_code status;
    buf_t details;
    Llmgw__V1__EnsembleResponse *resp;
    int64_t elapsed_ms;
} ens_result_t;

static void ens_result_free(ens_result_t *r)
{
    buf_free(&r->details);
    if (r->resp)
        llmgw__v1__ensemble_response__free_unpacked(r->resp, NULL);
}

typedef struct {
    Llmgw__V1__Message msg;
    Llmgw__V1__Message *msgs[1];
    Llmgw__V1__ChatRequest chat;
    Llmgw__V1__EnsembleMember member[8];
    Llmgw__V1__EnsembleMember *members[8];
    Llmgw__V1__EnsembleConfig cfg;
    Llmgw__V1__EnsembleRequest req;
} ens_req_t;

/* A request for `method` with members "a,b:2,c" (":W" sets a weight). */
static ens_req_t *new_req(Llmgw__V1__EnsembleMethod method, const char *const *members)
{
    static ens_req_t r;
    memset(&r, 0, sizeof(r));
    llmgw__v1__message__init(&r.msg);
    r.msg.role = "user";
    r.msg.content = "what is 2 + 2?";
    r.msgs[0] = &r.msg;
    llmgw__v1__chat_request__init(&r.chat);
    r.chat.messages = r.msgs;
    r.chat.n_messages = 1;
    llmgw__v1__ensemble_config__init(&r.cfg);
    r.cfg.method = method;
    static char names[8][64];
    for (size_t i = 0; members && members[i]; i++) {
        llmgw__v1__ensemble_member__init(&r.member[i]);
        snprintf(names[i], sizeof(names[i]), "%s", members[i]);
        char *colon = strchr(names[i], ':');
        if (colon) {
            *colon = '\0';
            r.member[i].weight = atof(colon + 1);
        }
        r.member[i].model = names[i];
        r.members[i] = &r.member[i];
        r.cfg.n_members++;
    }
    r.cfg.members = r.members;
    llmgw__v1__ensemble_request__init(&r.req);
    r.req.request = &r.chat;
    r.req.config = &r.cfg;
    return &r;
}

static ens_result_t call(const ens_req_t *r, int timeout_ms)
{
    ens_result_t out = {.details = BUF_INIT(1 << 16)};
    size_t len = llmgw__v1__ensemble_request__get_packed_size(&r->req);
    uint8_t *bytes = malloc(len ? len : 1);
    assert_non_null(bytes);
    llmgw__v1__ensemble_request__pack(&r->req, bytes);
    buf_t resp = BUF_INIT(1 << 24);
    int64_t t0 = clock_now_ms();
    out.status = gc_unary(ch, "/llmgw.v1.ChatService/Ensemble", NULL, timeout_ms, bytes, len, &resp,
                          &out.details);
    out.elapsed_ms = clock_now_ms() - t0;
    if (out.status == GRPC_STATUS_OK) {
        out.resp = llmgw__v1__ensemble_response__unpack(NULL, resp.len, (uint8_t *)resp.data);
        assert_non_null(out.resp);
    } else {
        print_message("status %d: %s\n", out.status, buf_cstr(&out.details));
    }
    buf_free(&resp);
    free(bytes);
    return out;
}

static const char *chosen_text(const ens_result_t *r)
{
    const Llmgw__V1__ChatResponse *c = r->resp->chosen;
    assert_non_null(c);
    assert_true(c->n_choices > 0);
    return c->choices[0]->message->content;
}

/* Waits up to timeout_ms for the sim's log to contain `needle`. */
static bool sim_log_within(const char *needle, int timeout_ms)
{
    int64_t end = clock_now_ms() + timeout_ms;
    do {
        if (harness_log_contains(&sim, needle))
            return true;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    } while (clock_now_ms() < end);
    return false;
}

#define VOTING LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_VOTING
#define CONSENSUS LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CONSENSUS
#define WEIGHTED LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_WEIGHTED
#define CASCADE LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_CASCADE

/* --- setup --------------------------------------------------------------- */

static int group_setup(void **state)
{
    const char *const sim_args[] = {"--log-level", "debug", NULL};
    if (harness_start_sim(&sim, "sim", sim_args) < 0)
        return -1;
    const char *table = harness_write("table.json", "%s", table_json(sim.port));
    if (!table || harness_start_dataplane(&dp, table, NULL) < 0)
        return -1;
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", dp.port);
    ch = gc_channel_new(target);
    return ch ? 0 : -1;
}

static int group_teardown(void **state)
{
    gc_channel_free(ch);
    int rc = harness_stop(&dp, SIGTERM, 5000);
    harness_stop(&sim, SIGTERM, 2000);
    harness_cleanup();
    return rc == 0 ? 0 : -1;
}

/* --- voting -------------------------------------------------------------- */

static void test_voting_extracts_the_number_and_stops_early_cancelling_the_slow_member(void **state)
{
    const char *const m[] = {"four-a/m", "four-b/m", "five-slow/five-slow-model", NULL};
    ens_req_t *r = new_req(VOTING, m);
    r->cfg.extract_pattern = "[0-9]+";
    ens_result_t res = call(r, 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_string_equal(chosen_text(&res), "The answer is 4.");
    const Llmgw__V1__EnsembleAnalysis *an = res.resp->analysis;
    assert_true(an->stopped_early);
    assert_int_equal(an->responses, 2);
    assert_int_equal(an->chosen_member, 0);
    assert_true(an->confidence > 0.99);
    assert_string_equal(res.resp->members[2]->state, "cancelled");
    assert_non_null(strstr(res.resp->members[2]->error, "stopped early"));
    assert_true(res.resp->members[0]->agrees && res.resp->members[1]->agrees);
    /* The 3 s member did not hold the answer up... */
    assert_true(res.elapsed_ms < 2000);
    /* ...and its request was aborted at the provider. */
    assert_true(sim_log_within("msg=\"client gone\" model=five-slow-model", 2000));
    ens_result_free(&res);
}

static void test_voting_a_failing_member_is_reported_and_the_rest_decide(void **state)
{
    const char *const m[] = {"e503/m", "five/m", "r-four", "four-a/m", NULL};
    ens_req_t *r = new_req(VOTING, m);
    r->cfg.extract_pattern = "[0-9]+";
    r->cfg.min_responses = 2;
    ens_result_t res = call(r, 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_non_null(strstr(chosen_text(&res), "4"));
    assert_string_equal(res.resp->members[0]->state, "failed");
    assert_int_equal(res.resp->members[0]->status_code, GRPC_STATUS_UNAVAILABLE);
    assert_non_null(strstr(res.resp->members[0]->error, "503"));
    /* r-four falls back from e503 to four-b inside its own route. */
    assert_string_equal(res.resp->members[2]->state, "ok");
    assert_string_equal(res.resp->members[2]->provider, "four-b");
    assert_false(res.resp->members[1]->agrees);
    ens_result_free(&res);
}

static void test_voting_with_a_judge_takes_the_judges_pick(void **state)
{
    const char *const m[] = {"four-a/m", "five/m", NULL};
    ens_req_t *r = new_req(VOTING, m);
    r->cfg.extract_pattern = "[0-9]+";
    r->cfg.judge_model = "judge-hi/m";
    ens_result_t res = call(r, 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_string_equal(chosen_text(&res), "It is 5");
    assert_int_equal(res.resp->analysis->chosen_member, 1);
    assert_true(res.resp->analysis->judge_score > 0.89 && res.resp->analysis->judge_score < 0.91);
    assert_true(res.resp->analysis->confidence > 0.89);
    assert_non_null(strstr(res.resp->analysis->judge_output, "\"best\""));
    ens_result_free(&res);
}

/* --- consensus and weighted ---------------------------------------------- */

static void test_consensus_picks_the_medoid_and_flags_the_outlier(void **state)
{
    const char *const m[] = {"sky/m", "sky-today/m", "banana/m", NULL};
    ens_result_t res = call(new_req(CONSENSUS, m), 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_string_equal(chosen_text(&res), "the sky is blue");
    const Llmgw__V1__EnsembleAnalysis *an = res.resp->analysis;
    /* pairs: 4/5, 0, 0 */
    assert_true(an->agreement > 0.266 && an->agreement < 0.267);
    assert_true(an->diversity > 0.733 && an->diversity < 0.734);
    assert_int_equal(an->n_outliers, 1);
    assert_int_equal(an->outliers[0], 2);
    assert_false(res.resp->members[2]->agrees);
    assert_true(an->total_cost_usd > 0);
    assert_true(an->parallel_efficiency > 0);
    assert_int_equal(an->cascade_stage, -1);
    ens_result_free(&res);
}

/* RoutingService.Providers for `provider`: its deployment "m". The caller
 * frees *resp. */
static const Llmgw__V1__DeploymentStatus *deployment_m(const char *provider,
                                                       Llmgw__V1__ProvidersResponse **resp)
{
    Llmgw__V1__ProvidersRequest req = LLMGW__V1__PROVIDERS_REQUEST__INIT;
    req.provider = (char *)provider;
    uint8_t bytes[128];
    assert_true(llmgw__v1__providers_request__get_packed_size(&req) <= sizeof(bytes));
    size_t len = llmgw__v1__providers_request__pack(&req, bytes);
    buf_t out = BUF_INIT(1 << 20);
    assert_int_equal(
        gc_unary(ch, "/llmgw.v1.RoutingService/Providers", NULL, 5000, bytes, len, &out, NULL),
        GRPC_STATUS_OK);
    *resp = llmgw__v1__providers_response__unpack(NULL, out.len, (uint8_t *)out.data);
    buf_free(&out);
    assert_non_null(*resp);
    assert_int_equal((*resp)->n_providers, 1);
    const Llmgw__V1__ProviderStatus *p = (*resp)->providers[0];
    for (size_t i = 0; i < p->n_deployments; i++)
        if (strcmp(p->deployments[i]->model, "m") == 0)
            return p->deployments[i];
    fail_msg("provider %s: no deployment m", provider);
    return NULL;
}

static void test_member_agreement_shows_as_consistency_in_providers(void **state)
{
    const char *const m[] = {"sky/m", "sky-today/m", "banana/m", NULL};
    for (int i = 0; i < 5; i++) {
        ens_result_t res = call(new_req(CONSENSUS, m), 10000);
        assert_int_equal(res.status, GRPC_STATUS_OK);
        ens_result_free(&res);
    }
    Llmgw__V1__ProvidersResponse *r1, *r2;
    const Llmgw__V1__DeploymentStatus *sky = deployment_m("sky", &r1);
    const Llmgw__V1__DeploymentStatus *banana = deployment_m("banana", &r2);
    /* Earlier tests may have added samples; these five are at least there. */
    assert_true(sky->consistency_samples >= 5);
    assert_int_equal(sky->consistency_agreed, sky->consistency_samples);
    assert_float_equal(sky->consistency_score, 1, 1e-9);
    assert_true(banana->consistency_samples >= 5);
    assert_int_equal(banana->consistency_agreed, 0);
    assert_float_equal(banana->consistency_score, 0, 1e-9);
    llmgw__v1__providers_response__free_unpacked(r1, NULL);
    llmgw__v1__providers_response__free_unpacked(r2, NULL);
}

static void test_weighted_lets_a_heavy_member_outvote_two_light_ones(void **state)
{
    const char *const light[] = {"blue/m", "green-a/m", "green-b/m", NULL};
    ens_result_t res = call(new_req(WEIGHTED, light), 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_string_equal(chosen_text(&res), "green");
    ens_result_free(&res);

    const char *const heavy[] = {"blue/m:3", "green-a/m", "green-b/m", NULL};
    res = call(new_req(WEIGHTED, heavy), 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_string_equal(chosen_text(&res), "Blue");
    assert_true(res.resp->analysis->confidence > 0.74 && res.resp->analysis->confidence < 0.76);
    assert_true(res.resp->members[0]->weight > 2.99);
    ens_result_free(&res);
}

/* --- cascade ------------------------------------------------------------- */

static void test_cascade_answers_at_the_cheapest_stage_when_accepted(void **state)
{
    /* Listed dear first: the cascade orders by price. */
    const char *const m[] = {"dear/m", "cheap/m", NULL};
    ens_result_t res = call(new_req(CASCADE, m), 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_string_equal(chosen_text(&res), "Paris");
    const Llmgw__V1__EnsembleAnalysis *an = res.resp->analysis;
    assert_int_equal(an->cascade_stage, 1);
    assert_true(an->accepted);
    assert_string_equal(res.resp->members[0]->state, "skipped");
    assert_true(an->savings_usd > 0);
    ens_result_free(&res);
}

static void test_cascade_escalates_on_disagreement_between_stages(void **state)
{
    const char *const m[] = {"cheap/m", "mid/m", "dear/m", NULL};
    ens_req_t *r = new_req(CASCADE, m);
    r->cfg.require_agreement = true;
    ens_result_t res = call(r, 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    /* Paris (cheap) vs Lyon (mid) disagree; lyon (dear) agrees with mid. */
    assert_string_equal(chosen_text(&res), "lyon");
    assert_int_equal(res.resp->analysis->cascade_stage, 2);
    assert_true(res.resp->analysis->accepted);
    assert_string_equal(res.resp->members[0]->state, "ok");
    assert_string_equal(res.resp->members[1]->state, "ok");
    ens_result_free(&res);
}

static void test_cascade_escalates_when_the_judge_scores_below_threshold(void **state)
{
    const char *const m[] = {"cheap/m", "dear/m", NULL};
    ens_req_t *r = new_req(CASCADE, m);
    r->cfg.judge_model = "judge-hi/m";
    r->cfg.judge_threshold = 0.8;
    ens_result_t res = call(r, 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_int_equal(res.resp->analysis->cascade_stage, 0); /* 0.9 >= 0.8 */
    assert_true(res.resp->analysis->accepted);
    assert_string_equal(res.resp->members[1]->state, "skipped");
    ens_result_free(&res);

    r = new_req(CASCADE, m);
    r->cfg.judge_model = "judge-lo/m";
    r->cfg.judge_threshold = 0.8;
    res = call(r, 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    /* 0.2 at every stage: the last stage's answer, not accepted. */
    assert_int_equal(res.resp->analysis->cascade_stage, 1);
    assert_false(res.resp->analysis->accepted);
    assert_string_equal(res.resp->members[0]->state, "ok");
    assert_true(res.resp->analysis->judge_score > 0.19 && res.resp->analysis->judge_score < 0.21);
    ens_result_free(&res);
}

static void test_cascade_escalates_when_the_answer_fails_the_json_schema(void **state)
{
    const char *const m[] = {"cheap-text/m", "dear-json/m", NULL};
    ens_req_t *r = new_req(CASCADE, m);
    r->cfg.json_schema = "{\"type\": \"object\", \"required\": [\"city\"]}";
    ens_result_t res = call(r, 10000);
    assert_int_equal(res.status, GRPC_STATUS_OK);
    assert_string_equal(chosen_text(&res), "{\"city\": \"Paris\"}");
    assert_int_equal(res.resp->analysis->cascade_stage, 1);
    assert_true(res.resp->analysis->accepted);
    ens_result_free(&res);
}

/* --- failures ------------------------------------------------------------ */

static void test_too_few_answers_is_unavailable_listing_each_member(void **state)
{
    const char *const m[] = {"four-a/m", "e503/m", "hang/hang-model", NULL};
    ens_req_t *r = new_req(CONSENSUS, m);
    r->cfg.min_responses = 2;
    r->cfg.member_timeout_ms = 300;
    ens_result_t res = call(r, 10000);
    assert_int_equal(res.status, GRPC_STATUS_UNAVAILABLE);
    const char *d = buf_cstr(&res.details);
    assert_non_null(strstr(d, "1 of 3 members answered, 2 needed"));
    assert_non_null(strstr(d, "members[1] e503/m"));
    assert_non_null(strstr(d, "members[2] hang/hang-model"));
    assert_non_null(strstr(d, "deadline"));
    assert_true(res.elapsed_ms < 3000);
    ens_result_free(&res);
}

static void test_client_cancellation_cancels_every_member(void **state)
{
    const char *const m[] = {"slow-cancel/slow-cancel-model", "hang/m", NULL};
    ens_result_t res = call(new_req(CONSENSUS, m), 300);
    assert_int_equal(res.status, GRPC_STATUS_DEADLINE_EXCEEDED);
    assert_true(sim_log_within("msg=\"client gone\" model=slow-cancel-model", 2000));
    ens_result_free(&res);
}

static void expect_bad(ens_req_t *r, grpc_status_code status, const char *needle)
{
    ens_result_t res = call(r, 10000);
    assert_int_equal(res.status, status);
    if (!strstr(buf_cstr(&res.details), needle))
        fail_msg("details '%s' lack '%s'", buf_cstr(&res.details), needle);
    ens_result_free(&res);
}

static void test_bad_configurations_name_the_field(void **state)
{
    const char *const two[] = {"four-a/m", "five/m", NULL};
    const char *const dup[] = {"four-a/m", "four-a/m", NULL};
    const char *const neg[] = {"four-a/m", "five/m:-1", NULL};
    const char *const unknown[] = {"four-a/m", "nope/m", NULL};
    expect_bad(new_req(LLMGW__V1__ENSEMBLE_METHOD__ENSEMBLE_METHOD_UNSPECIFIED, two),
               GRPC_STATUS_INVALID_ARGUMENT, "config.method");
    expect_bad(new_req(VOTING, NULL), GRPC_STATUS_INVALID_ARGUMENT, "config.members");
    expect_bad(new_req(VOTING, dup), GRPC_STATUS_INVALID_ARGUMENT, "config.members[1].model");
    expect_bad(new_req(VOTING, neg), GRPC_STATUS_INVALID_ARGUMENT, "config.members[1].weight");
    expect_bad(new_req(VOTING, unknown), GRPC_STATUS_NOT_FOUND, "config.members[1].model");
    ens_req_t *r = new_req(VOTING, two);
    r->cfg.min_responses = 3;
    expect_bad(r, GRPC_STATUS_INVALID_ARGUMENT, "config.min_responses");
    r = new_req(VOTING, two);
    r->cfg.extract_pattern = "([0-9]+";
    expect_bad(r, GRPC_STATUS_INVALID_ARGUMENT, "config.extract_pattern");
    r = new_req(CASCADE, two);
    r->cfg.judge_threshold = 0.5;
    expect_bad(r, GRPC_STATUS_INVALID_ARGUMENT, "config.judge_threshold");
    r = new_req(CASCADE, two);
    r->cfg.judge_model = "nope/m";
    expect_bad(r, GRPC_STATUS_NOT_FOUND, "config.judge_model");
    r = new_req(VOTING, two);
    r->chat.n_messages = 0;
    expect_bad(r, GRPC_STATUS_INVALID_ARGUMENT, "request.messages");
}

/* --- latency figures (issue 6, part 8) ----------------------------------- */

/* Members at 100 / 200 / 300 ms. Consensus waits for all: about the slowest
 * member. Voting whose two fastest agree: about the second-fastest. The
 * bounds asserted are looser than the 1.1x (sanitizer builds share
 * two cores with other tests) but still tell parallel from sequential and an
 * early stop from a full wait; tests/bench/bench_ensemble measures the
 * ratios. */
static void test_latency_consensus_near_slowest_and_voting_near_second_fastest(void **state)
{
    const char *const m[] = {"lat100/m", "lat200/m", "lat300/m", NULL};
    int64_t best_c = INT64_MAX, best_v = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        ens_result_t res = call(new_req(CONSENSUS, m), 10000);
        assert_int_equal(res.status, GRPC_STATUS_OK);
        if (res.resp->analysis->wall_latency_ms < best_c)
            best_c = res.resp->analysis->wall_latency_ms;
        ens_result_free(&res);
        res = call(new_req(VOTING, m), 10000);
        assert_int_equal(res.status, GRPC_STATUS_OK);
        assert_true(res.resp->analysis->stopped_early);
        if (res.resp->analysis->wall_latency_ms < best_v)
            best_v = res.resp->analysis->wall_latency_ms;
        ens_result_free(&res);
    }
    printf("ensemble latency: consensus %lld ms (%.2fx the 300 ms member), voting %lld ms "
           "(%.2fx the 200 ms member)\n",
           (long long)best_c, (double)best_c / 300.0, (long long)best_v, (double)best_v / 200.0);
    /* In parallel, not one after the other (600 ms); the vote did not wait
     * for the 300 ms member. The lower bounds allow a few ms of clock
     * rounding between the sim's sleep and our millisecond wall time (299 ms
     * was seen for the 300 ms member). */
    assert_true(best_c >= 290 && best_c < 550);
    assert_true(best_v >= 190 && best_v < 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_voting_extracts_the_number_and_stops_early_cancelling_the_slow_member),
        cmocka_unit_test(test_voting_a_failing_member_is_reported_and_the_rest_decide),
        cmocka_unit_test(test_voting_with_a_judge_takes_the_judges_pick),
        cmocka_unit_test(test_consensus_picks_the_medoid_and_flags_the_outlier),
        cmocka_unit_test(test_member_agreement_shows_as_consistency_in_providers),
        cmocka_unit_test(test_weighted_lets_a_heavy_member_outvote_two_light_ones),
        cmocka_unit_test(test_cascade_answers_at_the_cheapest_stage_when_accepted),
        cmocka_unit_test(test_cascade_escalates_on_disagreement_between_stages),
        cmocka_unit_test(test_cascade_escalates_when_the_judge_scores_below_threshold),
        cmocka_unit_test(test_cascade_escalates_when_the_answer_fails_the_json_schema),
        cmocka_unit_test(test_too_few_answers_is_unavailable_listing_each_member),
        cmocka_unit_test(test_client_cancellation_cancels_every_member),
        cmocka_unit_test(test_bad_configurations_name_the_field),
        cmocka_unit_test(test_latency_consensus_near_slowest_and_voting_near_second_fastest),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
