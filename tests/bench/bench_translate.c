/* bench_translate: what the Anthropic adapter's translation costs per request.
 *
 * A fixed 2 KB OpenAI-shaped conversation (system prompt, six turns, a tool
 * call and its result, tools) is translated to an Anthropic Messages body
 * (anthropic_build_request), and an Anthropic answer of the matching size is
 * translated back to a ChatResponse (anthropic_parse_response), in one
 * thread, --iterations times after a warm-up. Each phase and their sum (the
 * round trip a request pays) are timed per iteration with CLOCK_MONOTONIC.
 * The OpenAI path (the same request built as an OpenAI body, the same answer
 * parsed from OpenAI's shape) is timed as the baseline; the overhead is the
 * Anthropic round trip minus the OpenAI path, per iteration. Prints
 * p50/p90/p99/max in µs and both against the 20 µs p99 target.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anthropic.h"
#include "arena.h"
#include "buf.h"
#include "openai.h"

#define BENCH_TARGET_P99_US 20.0

static int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int bench_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double bench_pct(int64_t *v, size_t n, double p)
{
    size_t k = (size_t)(p * (double)n);
    if (k >= n)
        k = n - 1;
    return (double)v[k] / 1000.0;
}

static void bench_report(const char *what, int64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), bench_cmp);
    printf("%-34s p50 %6.2f  p90 %6.2f  p99 %6.2f  max %7.2f  (us)\n", what, bench_pct(v, n, 0.50),
           bench_pct(v, n, 0.90), bench_pct(v, n, 0.99), (double)v[n - 1] / 1000.0);
}

static const char *const bench_texts[] = {
    "You are a careful assistant for a travel company. Answer briefly, cite the booking "
    "reference when one is given, never invent prices, and ask before making changes.",
    "Hi, I booked a flight from Lisbon to Oslo for the 14th (reference KX42TQ) and I would like "
    "to know whether I can add a second checked bag, and how much that would cost.",
    "Let me look up booking KX42TQ and the bag allowance for that fare.",
    "{\"booking\":\"KX42TQ\",\"fare\":\"light\",\"bags_included\":0,\"extra_bag_eur\":35,"
    "\"max_bags\":2}",
    "Your fare (light) includes no checked bag; you can add up to two at 35 EUR each. Shall I "
    "add one or two bags to booking KX42TQ?",
    "Two please, and can you also tell me whether the flight has Wi-Fi on board and if seats "
    "with extra legroom are still available in the front rows of the cabin?",
    "I can add two bags (70 EUR in total). The aircraft on this route has Wi-Fi; rows 1 to 4 "
    "have extra legroom and three seats are free there (2A, 3C and 4F), at 25 EUR each. Seat 2A "
    "is a window seat, 3C an aisle seat and 4F a window seat on the right side of the cabin; all "
    "three can be changed free of charge until check-in opens, 24 hours before departure time.",
    "Great, please add the two bags and book seat 3C. Then send me a summary of the changes, "
    "the new total, and remind me of the check-in deadline for this flight as well. Thank "
    "you very much for your help today.",
};

int main(int argc, char **argv)
{
    size_t iterations = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 200000;
    if (iterations < 100)
        iterations = 100;
    Llmgw__V1__Message msgs[8];
    Llmgw__V1__Message *ptrs[8];
    static const char *const roles[] = {"system",    "user", "assistant", "tool",
                                        "assistant", "user", "assistant", "user"};
    for (size_t i = 0; i < 8; i++) {
        llmgw__v1__message__init(&msgs[i]);
        msgs[i].role = (char *)roles[i];
        msgs[i].content = (char *)bench_texts[i];
        ptrs[i] = &msgs[i];
    }
    msgs[2].tool_calls_json = "[{\"id\":\"toolu_01\",\"type\":\"function\",\"function\":{\"name\":"
                              "\"get_booking\",\"arguments\":\"{\\\"reference\\\":\\\"KX42TQ\\\"}"
                              "\"}}]";
    msgs[3].tool_call_id = "toolu_01";
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    req.model = "claude";
    req.messages = ptrs;
    req.n_messages = 8;
    req.temperature_opt_case = LLMGW__V1__CHAT_REQUEST__TEMPERATURE_OPT_TEMPERATURE;
    req.temperature = 0.3;
    req.tools_json = "[{\"type\":\"function\",\"function\":{\"name\":\"get_booking\","
                     "\"description\":\"Look up a booking\",\"parameters\":{\"type\":\"object\","
                     "\"properties\":{\"reference\":{\"type\":\"string\"}},\"required\":"
                     "[\"reference\"]}}}]";
    const char *answer =
        "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":"
        "\"claude-3-5-sonnet-20241022\",\"content\":[{\"type\":\"text\",\"text\":\"Done: two "
        "checked bags (70 EUR) and seat 3C (25 EUR) are added to booking KX42TQ; the new total "
        "for the changes is 95 EUR. Online check-in closes 2 hours before departure, bag drop "
        "45 minutes before. I will send you the summary by e-mail as well.\"},{\"type\":"
        "\"tool_use\",\"id\":\"toolu_02\",\"name\":\"send_summary\",\"input\":{\"reference\":"
        "\"KX42TQ\",\"items\":[\"2 bags\",\"seat 3C\"],\"total_eur\":95}}],\"stop_reason\":"
        "\"tool_use\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":512,"
        "\"cache_read_input_tokens\":128,\"output_tokens\":96}}";
    size_t answer_len = strlen(answer);
    /* The same answer as OpenAI sends it: the path without translation. */
    const char *oai_answer =
        "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1732600000,"
        "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"Done: two checked bags (70 EUR) and seat 3C (25 EUR) are "
        "added to booking KX42TQ; the new total for the changes is 95 EUR. Online check-in closes "
        "2 "
        "hours before departure, bag drop 45 minutes before. I will send you the summary by e-mail "
        "as well.\",\"tool_calls\":[{\"id\":\"call_02\",\"type\":\"function\",\"function\":"
        "{\"name\":\"send_summary\",\"arguments\":\"{\\\"reference\\\":\\\"KX42TQ\\\","
        "\\\"items\\\":[\\\"2 bags\\\",\\\"seat 3C\\\"],\\\"total_eur\\\":95}\"}}]},"
        "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":640,"
        "\"completion_tokens\":96,\"total_tokens\":736},\"system_fingerprint\":\"fp_bench\"}";
    size_t oai_answer_len = strlen(oai_answer);

    buf_t out = BUF_INIT(1 << 20);
    char err[256];
    arena_t *a = arena_new(0);
    int64_t *build = malloc(iterations * sizeof(int64_t));
    int64_t *parse = malloc(iterations * sizeof(int64_t));
    int64_t *both = malloc(iterations * sizeof(int64_t));
    int64_t *base = malloc(iterations * sizeof(int64_t));
    int64_t *extra = malloc(iterations * sizeof(int64_t));
    if (!a || !build || !parse || !both || !base || !extra) {
        fprintf(stderr, "bench_translate: out of memory\n");
        return 1;
    }
    if (anthropic_build_request(&req, "claude-3-5-sonnet", 0, false, &out, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_translate: %s\n", err);
        return 1;
    }
    size_t body_len = out.len;
    buf_reset(&out);
    if (openai_build_chat_request(&req, "claude-3-5-sonnet", false, &out, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_translate: %s\n", err);
        return 1;
    }
    printf("bench_translate: conversation %zu bytes as OpenAI JSON, %zu bytes as Anthropic JSON; "
           "answer %zu bytes; %zu iterations\n",
           out.len, body_len, answer_len, iterations);
    for (size_t i = 0; i < iterations + iterations / 10; i++) {
        bool record = i >= iterations / 10; /* the first 10% warm up */
        size_t k = i - iterations / 10;
        Llmgw__V1__ChatResponse *resp = NULL;
        buf_reset(&out);
        arena_reset(a);
        int64_t t0 = bench_now_ns();
        int rc1 =
            anthropic_build_request(&req, "claude-3-5-sonnet", 0, false, &out, err, sizeof(err));
        int64_t t1 = bench_now_ns();
        int rc2 = anthropic_parse_response(answer, answer_len, a, &resp, err, sizeof(err));
        int64_t t2 = bench_now_ns();
        buf_reset(&out);
        int64_t t3 = bench_now_ns();
        int rc3 =
            openai_build_chat_request(&req, "claude-3-5-sonnet", false, &out, err, sizeof(err));
        Llmgw__V1__ChatResponse *oresp = NULL;
        int rc4 =
            openai_parse_chat_response(oai_answer, oai_answer_len, a, &oresp, err, sizeof(err));
        int64_t t4 = bench_now_ns();
        if (rc1 < 0 || rc2 < 0 || rc3 < 0 || rc4 < 0 || resp->n_choices != 1) {
            fprintf(stderr, "bench_translate: translation failed: %s\n", err);
            return 1;
        }
        if (record) {
            build[k] = t1 - t0;
            parse[k] = t2 - t1;
            both[k] = t2 - t0;
            base[k] = t4 - t3;
            extra[k] = (t2 - t0) - (t4 - t3);
        }
    }
    bench_report("request  OpenAI -> Anthropic", build, iterations);
    bench_report("answer   Anthropic -> OpenAI", parse, iterations);
    bench_report("round trip (request + answer)", both, iterations);
    bench_report("OpenAI path (build + parse, no translation)", base, iterations);
    bench_report("overhead: Anthropic path - OpenAI path", extra, iterations);
    double p99 = bench_pct(both, iterations, 0.99);
    double extra_p99 = bench_pct(extra, iterations, 0.99);
    printf("target p99 < %.0f us: round trip (absolute) %s at %.2f us; overhead over the OpenAI "
           "path %s at %.2f us\n",
           BENCH_TARGET_P99_US, p99 < BENCH_TARGET_P99_US ? "met" : "NOT met", p99,
           extra_p99 < BENCH_TARGET_P99_US ? "met" : "NOT met", extra_p99);
    free(build);
    free(parse);
    free(both);
    free(base);
    free(extra);
    arena_free(a);
    buf_free(&out);
    return 0;
}
