/* Benchmark of governance on the HTTP request path, paired request by
 * request: one llmgw-dataplane (through the test harness) in front of one
 * llmgw-sim serves two keys on the same route —
 *   off: no limits, no policy (auth on, budgets off),
 *   on:  rpm/tpm limits on the key and its team (high enough never to
 *        refuse) and a key policy (allowed providers, denied models, regions
 *        excluding the route's second deployment, max_tokens,
 *        max_prompt_bytes, redaction of all four PII kinds) —
 * and every client connection alternates the two keys, so the machine's
 * drift and noise hit both alike (wrk's runs on this shared box differ by
 * tens of µs from one run to the next). The POST is bench_http.sh's 195-byte
 * chat body over keep-alive connections (libcurl). Prints per key and
 * concurrency: requests, p50, p99, and the p50 "on" adds. Target (issue 11,
 * part 10): added p50 within 5 µs.
 *
 * Usage: bench_enforce_http [seconds per concurrency] (default 5)
 * Env: LLMGW_BIN_DIR (build dir).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/sha.h>

#include "clock.h"
#include "harness.h"

#define BODY                                                                                       \
    "{\"model\":\"chat\",\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"      \
    "{\"role\":\"user\",\"content\":\"Say hello to the benchmark in five words.\"}],"              \
    "\"max_tokens\":16,\"temperature\":0}"
#define MAX_CONC 64
#define MAX_SAMPLES (4u << 20)

static const char *const secrets[2] = {"sk-bench-off", "sk-bench-on"};

static void sha_hex(const char *secret, char hex[65])
{
    unsigned char d[32];
    SHA256((const unsigned char *)secret, strlen(secret), d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static const char *table_json(int sim_port)
{
    static char buf[4096];
    char off[65], on[65];
    sha_hex(secrets[0], off);
    sha_hex(secrets[1], on);
    snprintf(buf, sizeof(buf),
             "{\"providers\": [{\"name\": \"sim\", \"region\": \"eu-west-1\", \"base_url\": "
             "\"http://127.0.0.1:%1$d/v1\", \"api_key\": \"sk-sim\", \"health\": {\"interval_ms\": "
             "0}, \"models\": [{\"name\": \"gpt-4o-mini\", \"input_cost_per_mtok\": 0.15, "
             "\"output_cost_per_mtok\": 0.6}]}, {\"name\": \"sim-us\", \"region\": \"us-east-1\", "
             "\"base_url\": \"http://127.0.0.1:%1$d/v1\", \"health\": {\"interval_ms\": 0}, "
             "\"models\": [{\"name\": \"gpt-4o-mini\"}]}],"
             "\"routes\": [{\"name\": \"chat\", \"strategy\": \"priority\", \"deployments\": "
             "[{\"provider\": \"sim\", \"model\": \"gpt-4o-mini\"}, {\"provider\": \"sim-us\", "
             "\"model\": \"gpt-4o-mini\", \"priority\": 1}]}],"
             "\"teams\": [{\"name\": \"bench-team\", \"rpm\": 1000000000, \"tpm\": 1000000000000}],"
             "\"keys\": [{\"name\": \"off\", \"sha256\": \"%2$s\"}, {\"name\": \"on\", \"sha256\": "
             "\"%3$s\", \"team\": \"bench-team\", \"scopes\": [\"chat\"], \"rpm\": 1000000000, "
             "\"tpm\": 1000000000000}],"
             "\"policies\": [{\"name\": \"bench-policy\", \"scope\": \"key\", \"key\": \"on\", "
             "\"allowed_providers\": [\"sim\", \"sim-us\"], \"denied_models\": [\"gpt-4\"], "
             "\"regions\": [\"eu-west-1\"], \"max_tokens\": 4096, \"max_prompt_bytes\": 65536, "
             "\"redact\": [\"email\", \"phone\", \"card\", \"iban\"]}]}",
             sim_port, off, on);
    return buf;
}

typedef struct {
    int64_t *us;
    size_t n;
} samples_t;

static samples_t samples[2];

static void record(int which, int64_t us)
{
    if (samples[which].n < MAX_SAMPLES)
        samples[which].us[samples[which].n++] = us;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t pct(samples_t *s, double p)
{
    if (s->n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(s->n - 1));
    return s->us[i];
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

typedef struct {
    CURL *h;
    struct curl_slist *hdrs[2];
    int which;
    int64_t start_us;
} conn_t;

static void conn_set(conn_t *c)
{
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs[c->which]);
    c->start_us = clock_now_us();
}

static int conn_init(conn_t *c, const char *url, int which)
{
    char auth[128];
    c->h = curl_easy_init();
    if (!c->h)
        return -1;
    for (int k = 0; k < 2; k++) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secrets[k]);
        c->hdrs[k] = curl_slist_append(NULL, "Content-Type: application/json");
        c->hdrs[k] = curl_slist_append(c->hdrs[k], auth);
    }
    c->which = which;
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, BODY);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    conn_set(c);
    return 0;
}

static void conn_free(conn_t *c)
{
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->hdrs[0]);
    curl_slist_free_all(c->hdrs[1]);
}

/* `conc` keep-alive connections for `secs`, each alternating the keys. Returns
 * the number of failed requests. */
static long run(const char *url, int conc, double secs)
{
    CURLM *m = curl_multi_init();
    conn_t conns[MAX_CONC];
    long failed = 0;
    for (int i = 0; i < conc; i++) {
        if (conn_init(&conns[i], url, i % 2) < 0)
            return -1;
        curl_easy_setopt(conns[i].h, CURLOPT_PRIVATE, &conns[i]);
        curl_multi_add_handle(m, conns[i].h);
    }
    int64_t end = clock_now_us() + (int64_t)(secs * 1e6);
    bool measuring = false;
    int64_t warm_end = clock_now_us() + 1000000; /* 1 s warm-up, not recorded */
    int running = 0, active = conc;              /* handles in the multi */
    while (active > 0) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        int64_t now = clock_now_us();
        if (!measuring && now >= warm_end)
            measuring = true;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            conn_t *c;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            long code = 0;
            curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200) {
                if (failed++ < 3)
                    fprintf(stderr, "bench_enforce_http: HTTP %ld, %s\n", code,
                            curl_easy_strerror(msg->data.result));
            } else if (measuring)
                record(c->which, now - c->start_us);
            curl_multi_remove_handle(m, c->h);
            active--;
            if (now < end) {
                c->which ^= 1;
                conn_set(c);
                curl_multi_add_handle(m, c->h);
                active++;
            }
        }
        if (active > 0)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < conc; i++)
        conn_free(&conns[i]);
    curl_multi_cleanup(m);
    return failed;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 5;
    if (secs <= 0)
        secs = 5;
    harness_proc_t sim, dp;
    for (int k = 0; k < 2; k++)
        samples[k].us = malloc(sizeof(int64_t) * MAX_SAMPLES);
    if (!samples[0].us || !samples[1].us)
        return 1;
    if (harness_start_sim(&sim, "bench-sim", (const char *const[]){"--log-level", "error", NULL}) <
        0)
        return 1;
    const char *table = harness_write("table.json", "%s", table_json(sim.port));
    char http_file[512];
    snprintf(http_file, sizeof(http_file), "%s/http.port", harness_dir());
    const char *extra[] = {
        "--http-listen", "127.0.0.1:0", "--http-port-file", http_file, "--log-level",
        "error",         NULL};
    if (!table || harness_start_dataplane(&dp, table, extra) < 0) {
        harness_cleanup();
        return 1;
    }
    FILE *f = fopen(http_file, "r");
    int port = 0;
    if (!f || fscanf(f, "%d", &port) != 1) {
        fprintf(stderr, "bench_enforce_http: no HTTP port\n");
        harness_cleanup();
        return 1;
    }
    fclose(f);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    printf("bench_enforce_http: %.0f s per concurrency after 1 s warm-up, keys alternating on "
           "every connection\n",
           secs);
    printf("%-4s %-4s %9s %9s %9s\n", "c", "key", "requests", "p50 us", "p99 us");
    int concs[2] = {1, 64};
    int rc = 0;
    for (int ci = 0; ci < 2; ci++) {
        samples[0].n = samples[1].n = 0;
        long failed = run(url, concs[ci], secs);
        if (failed != 0) {
            fprintf(stderr, "bench_enforce_http: c=%d: %ld requests failed\n", concs[ci], failed);
            rc = 1;
            break;
        }
        int64_t p50[2];
        for (int k = 0; k < 2; k++) {
            qsort(samples[k].us, samples[k].n, sizeof(int64_t), cmp64);
            p50[k] = pct(&samples[k], 0.5);
            printf("%-4d %-4s %9zu %9lld %9lld\n", concs[ci], k ? "on" : "off", samples[k].n,
                   (long long)p50[k], (long long)pct(&samples[k], 0.99));
        }
        printf("c=%d: added p50 %lld us (target <= 5 us)\n", concs[ci],
               (long long)(p50[1] - p50[0]));
    }
    curl_global_cleanup();
    harness_stop(&dp, SIGTERM, 5000);
    harness_stop(&sim, SIGTERM, 2000);
    harness_cleanup();
    free(samples[0].us);
    free(samples[1].us);
    return rc;
}
