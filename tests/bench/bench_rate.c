/* bench_rate: a fixed request rate, open loop, against one HTTP endpoint
 * (not a test: it prints figures).
 *
 *   bench_rate --url http://127.0.0.1:8080/v1/chat/completions [--rate 10000]
 *              [--duration-s 60] [--connections 256] [--model chat]
 *
 * Request i is due at t0 + i / rate whatever happened to the ones before
 * (open loop: a slow answer does not slow the sender down), and its latency
 * is counted from when it was due, so time spent queued behind a full set of
 * connections counts (no coordinated omission). At most --connections are in
 * flight, each a kept-alive connection of one libcurl multi handle driven by
 * this thread. Prints the rate reached, errors (transport, non-200, or a body
 * without "choices") and p50 / p90 / p99 / p99.9 / max in microseconds.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    CURL *easy;
    double due_s;
    bool busy, saw_choices;
    char tail[16]; /* the body's last bytes, to find "choices" across writes */
} br_slot_t;

static double br_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t br_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    br_slot_t *s = ud;
    size_t n = size * nmemb;
    if (!s->saw_choices) {
        /* The answer is small; look for the key in what came, joined to
         * the end of the previous piece. */
        char joined[16 + 512];
        size_t t = strlen(s->tail), k = n < 512 ? n : 512;
        memcpy(joined, s->tail, t);
        memcpy(joined + t, p, k);
        joined[t + k] = '\0';
        if (strstr(joined, "\"choices\""))
            s->saw_choices = true;
        size_t keep = t + k < sizeof(s->tail) - 1 ? t + k : sizeof(s->tail) - 1;
        memmove(s->tail, joined + t + k - keep, keep);
        s->tail[keep] = '\0';
    }
    return n;
}

static int br_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double br_pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
    const char *url = NULL, *model = "chat";
    double rate = 10000;
    int duration_s = 60, conns = 256;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--rate"))
            rate = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration-s"))
            duration_s = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--connections"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
        else {
            fprintf(stderr, "bench_rate: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (!url || rate <= 0 || rate > 1e6 || duration_s < 1 || conns < 1 || conns > 10000) {
        fprintf(stderr, "usage: bench_rate --url URL [--rate R] [--duration-s D] "
                        "[--connections C] [--model M]\n");
        return 2;
    }
    char body[256];
    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"rate test\"}]}",
             model);
    size_t total = (size_t)(rate * duration_s);
    double *lat = malloc(total * sizeof(*lat));
    br_slot_t *slots = calloc((size_t)conns, sizeof(*slots));
    int *free_list = malloc((size_t)conns * sizeof(*free_list));
    if (!lat || !slots || !free_list || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conns);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    int n_free = 0;
    for (int i = 0; i < conns; i++) {
        CURL *e = curl_easy_init();
        if (!e)
            return 1;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, br_on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &slots[i]);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
        slots[i].easy = e;
        free_list[n_free++] = i;
    }
    size_t issued = 0, done = 0, errors = 0, queued_max = 0;
    double t0 = br_now_s(), end = t0 + duration_s;
    while (done < total) {
        double now = br_now_s();
        /* Everything due by now goes out while a connection is free. */
        while (issued < total && n_free > 0 && t0 + (double)issued / rate <= now) {
            br_slot_t *s = &slots[free_list[--n_free]];
            s->due_s = t0 + (double)issued / rate;
            s->busy = true;
            s->saw_choices = false;
            s->tail[0] = '\0';
            curl_multi_add_handle(m, s->easy);
            issued++;
        }
        size_t due = (size_t)((now - t0) * rate);
        if (due > total)
            due = total;
        if (due > issued && due - issued > queued_max)
            queued_max = due - issued;
        int running;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            br_slot_t *s;
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200 || !s->saw_choices)
                errors++;
            lat[done++] = (br_now_s() - s->due_s) * 1e6;
            curl_multi_remove_handle(m, s->easy);
            s->busy = false;
            free_list[n_free++] = (int)(s - slots);
        }
        if (issued < total) {
            double next = t0 + (double)issued / rate - br_now_s();
            int wait_ms = next > 0.001 ? (int)(next * 1000) : 0;
            if (wait_ms > 0 || n_free == 0)
                curl_multi_poll(m, NULL, 0, n_free == 0 ? 1 : wait_ms, NULL);
        } else {
            curl_multi_poll(m, NULL, 0, 1, NULL);
        }
        if (br_now_s() > end + 60) /* stragglers past a minute: give up */
            break;
    }
    double took = br_now_s() - t0;
    qsort(lat, done, sizeof(*lat), br_cmp);
    printf("rate %.0f/s for %d s: %zu done in %.2f s (%.0f/s), %zu errors, at most %zu waiting "
           "for a connection\n",
           rate, duration_s, done, took, (double)done / took, errors, queued_max);
    printf("latency us: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n",
           br_pct(lat, done, 0.50), br_pct(lat, done, 0.90), br_pct(lat, done, 0.99),
           br_pct(lat, done, 0.999), done ? lat[done - 1] : 0.0);
    for (int i = 0; i < conns; i++) {
        if (slots[i].busy)
            curl_multi_remove_handle(m, slots[i].easy);
        curl_easy_cleanup(slots[i].easy);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(hdr);
    curl_global_cleanup();
    free(lat);
    free(slots);
    free(free_list);
    return errors == 0 && done == total ? 0 : 1;
}
