/* bench_ext_hooks: what an extension's request hook adds to one chat request,
 * with no network on the path. Per request the pipeline turns the decoded
 * ChatRequest into OpenAI JSON (openai_build_chat_request), copies it into a
 * run (ext_call_new) and runs the hooks (ext_call_run); a rewrite is decoded
 * again (http_chat_decode). Measured for
 *   1. the conversion alone (what any request hook costs before it runs),
 *   2. the test plugin's pass-through hook (tests/ext/test_plugin.c, "pass"),
 *   3. prompt_guard (extensions/prompt_guard: parses the request, sums the
 *      prompt), passing,
 *   4. prompt_guard tagging the tenant from a header: a rewrite, decoded.
 * With no extension loaded the hook point is one atomic load (not measured).
 *
 * Usage: ./build/bench_ext_hooks [iterations]  (plugins from $LLMGW_BIN_DIR/ext,
 * default build/ext). Prints ns per request for each case. Not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "clock.h"
#include "ext_hooks.h"
#include "ext_loader.h"
#include "http_chat.h"
#include "openai.h"

static const char *const body =
    "{\"model\":\"chat-default\",\"temperature\":0.2,\"max_tokens\":256,\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are a concise assistant for a support desk.\"},"
    "{\"role\":\"user\",\"content\":\"My order 1234 arrived damaged; what can I do?\"},"
    "{\"role\":\"assistant\",\"content\":\"Sorry to hear that. Do you have a photo?\"},"
    "{\"role\":\"user\",\"content\":\"Yes, I can send one. Should I reply to the email?\"}]}";

static void wake(void *ud)
{
}

/* ns per request of: JSON build, and (when `hooks`) the run and a rewrite's decode. */
static double run(const Llmgw__V1__ChatRequest *req, int n, bool hooks, const char *header)
{
    const char *const headers[] = {header};
    char err[256];
    int64_t t0 = clock_now_us();
    for (int i = 0; i < n; i++) {
        buf_t json = BUF_INIT(1 << 20);
        if (openai_build_chat_request(req, req->model, false, &json, err, sizeof(err)) < 0)
            exit(1);
        if (hooks) {
            llmgw_ext_request_t q = {.struct_size = sizeof(q),
                                     .request_json = buf_cstr(&json),
                                     .request_len = json.len,
                                     .door = "http",
                                     .key = "k",
                                     .team = "t",
                                     .headers = headers,
                                     .n_headers = header ? 1 : 0};
            ext_call_t *c = ext_call_new(&q, wake, NULL);
            if (!c || ext_call_run(c) != EXT_CALL_PASS)
                exit(1);
            if (ext_call_rewritten(c)) {
                size_t len;
                const char *j = ext_call_json(c, &len);
                arena_t *a = arena_new(0);
                http_chat_request_t cr;
                if (http_chat_decode(j, len, a, &cr, err, sizeof(err)) < 0)
                    exit(1);
                arena_free(a);
            }
            ext_call_free(c);
        }
        buf_free(&json);
    }
    return (double)(clock_now_us() - t0) * 1000.0 / n;
}

static void load(const char *name, const char *config)
{
    const char *bin = getenv("LLMGW_BIN_DIR");
    char path[1024], err[1024];
    snprintf(path, sizeof(path), "%s/ext/%s.so", bin ? bin : "build", name);
    ext_load_spec_t spec = {.path = path, .config_json = config};
    if (ext_loader_load(&spec, err, sizeof(err)) < 0) {
        fprintf(stderr, "bench_ext_hooks: %s\n", err);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    char err[256];
    arena_t *a = arena_new(0);
    http_chat_request_t cr;
    if (n < 1 || http_chat_decode(body, strlen(body), a, &cr, err, sizeof(err)) < 0)
        return 1;
    (void)run(cr.req, n / 10, false, NULL); /* warm-up */
    printf("%-44s %8.0f ns/request\n", "JSON for the hooks (no hook)", run(cr.req, n, false, NULL));
    load("test_ext_ok", "{\"mode\": \"pass\"}");
    printf("%-44s %8.0f ns/request\n", "+ a pass-through hook", run(cr.req, n, true, NULL));
    ext_loader_unload_all();
    load("prompt_guard", "{\"max_prompt_bytes\": 100000, \"tenant_header\": \"x-tenant\"}");
    printf("%-44s %8.0f ns/request\n", "+ prompt_guard, passing", run(cr.req, n, true, NULL));
    printf("%-44s %8.0f ns/request\n", "+ prompt_guard, tenant tag (rewrite, decode)",
           run(cr.req, n, true, "x-tenant: acme"));
    ext_loader_unload_all();
    arena_free(a);
    return 0;
}
