/* bench_chat_schema: what schema validation and compatibility cost per
 * request, on one core: the HTTP door's decode alone, decode + chatreq
 * validation (the schema checks included), and provider_quirks_prepare +
 * the OpenAI body for an openai preset (the max_completion_tokens rename)
 * and a mistral preset (dropping logit_bias and user with a warning).
 *
 * usage: bench_chat_schema [ITERATIONS]   (default 200000)
 * Prints one line per case: ns per request and requests per second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "chatreq.h"
#include "http_chat.h"
#include "provider_quirks.h"
#include "table.h"

static const char body[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"You are a "
    "helpful assistant.\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is "
    "in this image, and what is the weather there?\"},{\"type\":\"image_url\",\"image_url\":{"
    "\"url\":\"https://example.test/photo.jpg\",\"detail\":\"low\"}}]}],\"tools\":[{\"type\":"
    "\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather for a city\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
    "\"required\":[\"city\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"get_time\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{}}}}],\"tool_choice\":\"auto\","
    "\"temperature\":0.2,\"max_tokens\":256,\"logprobs\":true,\"logit_bias\":{\"50256\":-100},"
    "\"response_format\":{\"type\":\"text\"},\"user\":\"u-1\"}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef enum { CASE_DECODE, CASE_VALIDATE, CASE_PREPARE } case_t;

static int run(const char *name, case_t c, const table_provider_t *p, long n)
{
    arena_t *a = arena_new(0);
    buf_t out = BUF_INIT(1 << 20);
    char err[256];
    if (!a)
        return -1;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        http_chat_request_t cr;
        arena_reset(a);
        if (http_chat_decode(body, sizeof(body) - 1, a, &cr, err, sizeof(err)) < 0)
            goto fail;
        if (c >= CASE_VALIDATE && chatreq_validate(cr.req, err, sizeof(err)) < 0)
            goto fail;
        if (c == CASE_PREPARE) {
            const Llmgw__V1__ChatRequest *req = NULL;
            const char *warning = NULL;
            buf_reset(&out);
            if (provider_quirks_prepare(p, cr.req, a, &req, &warning, err, sizeof(err)) < 0 ||
                provider_quirks_build_openai(p, req, "up", false, &out, err, sizeof(err)) < 0)
                goto fail;
        }
    }
    double dt = now_s() - t0;
    printf("%-44s %8.0f ns/request %10.0f requests/s\n", name, dt / (double)n * 1e9,
           (double)n / dt);
    buf_free(&out);
    arena_free(a);
    return 0;
fail:
    fprintf(stderr, "%s: %s\n", name, err);
    buf_free(&out);
    arena_free(a);
    return -1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_chat_schema [ITERATIONS]\n");
        return 2;
    }
    static const char tjson[] =
        "{\"providers\":[{\"name\":\"oai\",\"preset\":\"openai\",\"api_key\":\"k\"},"
        "{\"name\":\"mistral\",\"preset\":\"mistral\",\"api_key\":\"k\"}]}";
    char err[256];
    table_t *t = table_load_json(tjson, sizeof(tjson) - 1, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "table: %s\n", err);
        return 1;
    }
    printf("bench_chat_schema: %ld iterations, a %zu-byte body (image part, 2 tools)\n", n,
           sizeof(body) - 1);
    int rc = run("decode (http_chat_decode)", CASE_DECODE, NULL, n) ||
             run("decode + validate (chatreq + chat_schema)", CASE_VALIDATE, NULL, n) ||
             run("... + prepare + body, openai preset", CASE_PREPARE, table_find_provider(t, "oai"),
                 n) ||
             run("... + prepare + body, mistral (drops 2 fields)", CASE_PREPARE,
                 table_find_provider(t, "mistral"), n);
    table_unref(t);
    return rc ? 1 : 0;
}
