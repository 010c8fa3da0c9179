/* Benchmark of what governance adds to one request on the data plane, in
 * process, without I/O: authentication with a scope, the policy on the
 * request (caps and redaction), planning with the policy's route filter, the
 * rate-limit admission and its settle — against the same request with a key
 * that has no limits and no policy. Prints ns per request for each part and
 * the total added. bench_enforce.sh measures the same over HTTP with wrk.
 *
 * Usage: bench_enforce [iterations] (default 2000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "arena.h"
#include "auth.h"
#include "clock.h"
#include "planner.h"
#include "policy.h"
#include "ratelimit.h"

static void sha_hex(const char *secret, char hex[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)secret, strlen(secret), d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static table_t *load(void)
{
    char h_on[65], h_off[65], json[4096], err[256];
    sha_hex("sk-bench-on", h_on);
    sha_hex("sk-bench-off", h_off);
    snprintf(json, sizeof(json),
             "{\"providers\": [{\"name\": \"sim\", \"region\": \"eu-west-1\", \"base_url\": "
             "\"http://127.0.0.1:1/v1\", \"models\": [{\"name\": \"gpt-4o-mini\"}]}, {\"name\": "
             "\"other\", \"region\": \"us-east-1\", \"base_url\": \"http://127.0.0.1:2/v1\", "
             "\"models\": [{\"name\": \"gpt-4o-mini\"}]}],"
             "\"routes\": [{\"name\": \"chat\", \"strategy\": \"priority\", \"deployments\": "
             "[{\"provider\": \"sim\", \"model\": \"gpt-4o-mini\"}, {\"provider\": \"other\", "
             "\"model\": \"gpt-4o-mini\", \"priority\": 1}]}],"
             "\"teams\": [{\"name\": \"t\", \"rpm\": 1000000000, \"tpm\": 1000000000000}],"
             "\"keys\": [{\"name\": \"on\", \"sha256\": \"%s\", \"team\": \"t\", \"scopes\": "
             "[\"chat\"], \"rpm\": 1000000000, \"tpm\": 1000000000000}, {\"name\": \"off\", "
             "\"sha256\": \"%s\"}],"
             "\"policies\": [{\"name\": \"p\", \"scope\": \"key\", \"key\": \"on\", "
             "\"allowed_providers\": [\"sim\", \"other\"], \"denied_models\": [\"gpt-4\"], "
             "\"regions\": [\"eu-west-1\"], \"max_tokens\": 4096, \"max_prompt_bytes\": 65536, "
             "\"redact\": [\"email\", \"phone\", \"card\", \"iban\"]}]}",
             h_on, h_off);
    table_t *t = table_load_json(json, strlen(json), err, sizeof(err));
    if (!t) {
        fprintf(stderr, "bench_enforce: table: %s\n", err);
        exit(1);
    }
    return t;
}

typedef struct {
    double auth, policy, plan, ratelimit;
} times_t;

/* One request's enforcement `iters` times; ns per request per part. */
static times_t run(table_t *t, const char *authz, ratelimit_t *rl,
                   const Llmgw__V1__ChatRequest *req, long iters)
{
    times_t out = {0};
    planner_t pl = {0};
    route_plan_t *plan = malloc(sizeof(*plan));
    arena_t *a = arena_new(0);
    uint64_t rng = 88172645463325252ull;
    char err[1024];
    int64_t t0, t1, t2, t3, t4;
    for (long i = 0; i < iters; i++) {
        const table_key_t *key;
        t0 = clock_now_us();
        if (auth_authorize(t, authz, TABLE_SCOPE_CHAT, &key, err, sizeof(err)) != GRPC_STATUS_OK)
            exit(1);
        t1 = clock_now_us();
        const table_policy_t *pol = policy_for(t, key);
        const Llmgw__V1__ChatRequest *r = req;
        redact_counts_t rc = {0};
        if (pol && policy_apply_chat(pol, a, req, &r, &rc, err, sizeof(err)) != POLICY_OK)
            exit(1);
        t2 = clock_now_us();
        route_filter_t f = policy_route_filter(pol);
        if (planner_plan_filtered(&pl, t, r, &f, &rng, plan, err, sizeof(err)) != ROUTE_OK)
            exit(1);
        t3 = clock_now_us();
        if (key->rpm || key->tpm) {
            ratelimit_subject_t s = {.key = key->name, .key_rpm = key->rpm, .key_tpm = key->tpm};
            if (key->team_limits) {
                s.team = key->team_limits->name;
                s.team_rpm = key->team_limits->rpm;
                s.team_tpm = key->team_limits->tpm;
            }
            ratelimit_ticket_t tk;
            int64_t wait;
            if (ratelimit_admit(rl, &s, 1, planner_estimate_prompt_tokens(r), &tk, &wait, err,
                                sizeof(err)) != 0)
                exit(1);
            ratelimit_settle(rl, &tk, 30);
        }
        t4 = clock_now_us();
        out.auth += (double)(t1 - t0);
        out.policy += (double)(t2 - t1);
        out.plan += (double)(t3 - t2);
        out.ratelimit += (double)(t4 - t3);
        arena_reset(a);
    }
    out.auth *= 1000.0 / (double)iters;
    out.policy *= 1000.0 / (double)iters;
    out.plan *= 1000.0 / (double)iters;
    out.ratelimit *= 1000.0 / (double)iters;
    arena_free(a);
    free(plan);
    return out;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    if (iters <= 0)
        iters = 2000000;
    table_t *t = load();
    ratelimit_t *rl = ratelimit_new(NULL, NULL);
    /* The body bench_http.sh sends: a system and a user message. */
    Llmgw__V1__Message sys = LLMGW__V1__MESSAGE__INIT, user = LLMGW__V1__MESSAGE__INIT;
    sys.role = "system";
    sys.content = "You are terse.";
    user.role = "user";
    user.content = "Say hello to the benchmark in five words.";
    Llmgw__V1__Message *msgs[2] = {&sys, &user};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    req.model = "chat";
    req.messages = msgs;
    req.n_messages = 2;
    req.max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    req.max_tokens = 16;

    /* Warm up, then interleave off/on so drift hits both. */
    run(t, "Bearer sk-bench-off", rl, &req, iters / 10);
    times_t off = {0}, on = {0};
    for (int round = 0; round < 3; round++) {
        times_t a = run(t, "Bearer sk-bench-off", rl, &req, iters / 3);
        times_t b = run(t, "Bearer sk-bench-on", rl, &req, iters / 3);
        off.auth += a.auth / 3, off.policy += a.policy / 3, off.plan += a.plan / 3,
            off.ratelimit += a.ratelimit / 3;
        on.auth += b.auth / 3, on.policy += b.policy / 3, on.plan += b.plan / 3,
            on.ratelimit += b.ratelimit / 3;
    }
    printf("bench_enforce: %ld requests each, ns per request (clock reads included)\n", iters);
    printf("%-28s %8s %8s %8s\n", "part", "off", "on", "added");
    printf("%-28s %8.0f %8.0f %8.0f\n", "auth + scope", off.auth, on.auth, on.auth - off.auth);
    printf("%-28s %8.0f %8.0f %8.0f\n", "policy (caps, redaction)", off.policy, on.policy,
           on.policy - off.policy);
    printf("%-28s %8.0f %8.0f %8.0f\n", "plan (+ policy filter)", off.plan, on.plan,
           on.plan - off.plan);
    printf("%-28s %8.0f %8.0f %8.0f\n", "rate limit admit + settle", off.ratelimit, on.ratelimit,
           on.ratelimit - off.ratelimit);
    double toff = off.auth + off.policy + off.plan + off.ratelimit;
    double ton = on.auth + on.policy + on.plan + on.ratelimit;
    printf("%-28s %8.0f %8.0f %8.0f\n", "total", toff, ton, ton - toff);
    ratelimit_free(rl);
    table_unref(t);
    return 0;
}
