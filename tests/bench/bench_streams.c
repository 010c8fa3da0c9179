/* bench_streams: many concurrent slow streams through the HTTP front door,
 * and what they cost the data plane (not a test: it prints figures).
 *
 *   bench_streams --url http://127.0.0.1:8080/v1/chat/completions --pid PID
 *                 [--streams 2000] [--bursts 3] [--idle-s 5] [--model chat] [--key K]
 *
 * Each burst opens --streams streams at once (libcurl multi, one thread),
 * each asking for a prompt of its own ("stream <burst>-<i> <nonce>"), and
 * checks that every stream completes (HTTP 200, [DONE]) with exactly its own
 * content. While a burst runs it samples the data plane's RSS and open
 * descriptors (/proc/PID) and the most streams open at once; after each burst
 * and --idle-s of quiet it samples again, with the sockets in CLOSE-WAIT. The
 * figures show per-stream memory, and whether RSS and descriptors come back
 * after a burst.
 */
#define _GNU_SOURCE /* asprintf */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "proc_stats.h"

#define BS_BODY_CAP (64 * 1024)

typedef struct {
    char want[256];
    char *body;
    size_t len;
    bool overflow;
    long status;
    bool started; /* first byte seen */
    bool done;    /* the transfer ended (status set, -1: transport error) */
} bs_stream_t;


static double bs_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Marks the finished transfers done with their HTTP status. */
static void bs_collect(CURLM *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE) {
            bs_stream_t *s;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &s->status);
            if (msg->data.result != CURLE_OK)
                s->status = -1;
            s->done = true;
        }
}

static size_t bs_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    bs_stream_t *s = ud;
    size_t n = size * nmemb;
    s->started = true;
    if (s->len + n > BS_BODY_CAP) {
        s->overflow = true;
        return n;
    }
    memcpy(s->body + s->len, p, n);
    s->len += n;
    return n;
}

/* The concatenated deltas of an SSE body equal want, and it ends in [DONE]. */
static bool bs_own_content(bs_stream_t *s)
{
    if (s->overflow || s->status != 200)
        return false;
    s->body[s->len] = '\0';
    char got[512] = "";
    size_t gl = 0;
    bool done = false;
    for (char *line = strtok(s->body, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "data: ", 6) != 0)
            continue;
        if (strcmp(line + 6, "[DONE]") == 0) {
            done = true;
            continue;
        }
        json_t *j = json_loads(line + 6, 0, NULL);
        json_t *c = json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "delta"), "content");
        if (json_is_string(c)) {
            size_t k = json_string_length(c);
            if (gl + k < sizeof(got)) {
                memcpy(got + gl, json_string_value(c), k);
                gl += k;
                got[gl] = '\0';
            }
        }
        json_decref(j);
    }
    const char *text = got;
    if (strncmp(text, "[", 1) == 0 && strchr(text, ' '))
        text = strchr(text, ' ') + 1; /* "[sim] " */
    return done && strcmp(text, s->want) == 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *model = "chat", *key = NULL;
    int pid = 0, streams = 2000, bursts = 3, idle_s = 5, words = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--url"))
            url = argv[i + 1];
        else if (!strcmp(argv[i], "--pid"))
            pid = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--streams"))
            streams = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bursts"))
            bursts = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle-s"))
            idle_s = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--words"))
            words = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--model"))
            model = argv[i + 1];
        else if (!strcmp(argv[i], "--key"))
            key = argv[i + 1];
        else {
            fprintf(stderr, "bench_streams: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (!url || pid <= 0 || streams < 1 || streams > 100000 || bursts < 1) {
        fprintf(stderr, "usage: bench_streams --url URL --pid PID [--streams N] [--bursts B] "
                        "[--idle-s S] [--model M] [--key K]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)streams + 256) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    proc_stats_t s0;
    proc_stats_sample(pid, &s0);
    printf("# before: rss %ld KiB, fds %d\n", s0.rss_kib, s0.fds);
    printf("burst streams ok open_max secs rss_peak_kib kib_per_stream fds_peak rss_idle_kib "
           "fds_idle close_wait_idle\n");
    int failures = 0;
    bs_stream_t *ss = calloc((size_t)streams, sizeof(*ss));
    CURL **easy = calloc((size_t)streams, sizeof(*easy));
    char *bodies = malloc((size_t)streams * (BS_BODY_CAP + 1));
    if (!ss || !easy || !bodies)
        return 1;
    struct curl_slist *hdr = curl_slist_append(NULL, "content-type: application/json");
    char auth[512];
    if (key) {
        snprintf(auth, sizeof(auth), "authorization: Bearer %s", key);
        hdr = curl_slist_append(hdr, auth);
    }
    srand((unsigned)time(NULL));
    for (int b = 1; b <= bursts; b++) {
        CURLM *m = curl_multi_init();
        curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
        char **reqs = calloc((size_t)streams, sizeof(*reqs));
        for (int i = 0; i < streams; i++) {
            bs_stream_t *s = &ss[i];
            memset(s, 0, sizeof(*s));
            s->body = bodies + (size_t)i * (BS_BODY_CAP + 1);
            /* Its own id and nonce, then `words` filler words: a longer, slower stream. */
            int w = snprintf(s->want, sizeof(s->want), "stream %d-%d %08x", b, i, (unsigned)rand());
            for (int k = 0; k < words && w > 0 && (size_t)w + 4 < sizeof(s->want); k++)
                w += snprintf(s->want + w, sizeof(s->want) - (size_t)w, " w%d", k % 10);
            if (asprintf(&reqs[i],
                         "{\"model\":\"%s\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                         "\"content\":\"%s\"}]}",
                         model, s->want) < 0)
                return 1;
            easy[i] = curl_easy_init();
            curl_easy_setopt(easy[i], CURLOPT_URL, url);
            curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, hdr);
            curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, reqs[i]);
            curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, bs_on_body);
            curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, s);
            curl_easy_setopt(easy[i], CURLOPT_PRIVATE, s);
            curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 900L);
            curl_easy_setopt(easy[i], CURLOPT_BUFFERSIZE, 4096L);
            curl_easy_setopt(easy[i], CURLOPT_FORBID_REUSE, 1L);
            curl_multi_add_handle(m, easy[i]);
        }
        double t0 = bs_now_s(), last = 0;
        int running = 1, open_max = 0;
        proc_stats_t peak = {0};
        while (running) {
            curl_multi_perform(m, &running);
            bs_collect(m);
            curl_multi_poll(m, NULL, 0, 100, NULL);
            if (bs_now_s() - last >= 0.5) {
                last = bs_now_s();
                proc_stats_t x;
                proc_stats_sample(pid, &x);
                if (x.rss_kib > peak.rss_kib)
                    peak.rss_kib = x.rss_kib;
                if (x.fds > peak.fds)
                    peak.fds = x.fds;
                int open = 0;
                for (int i = 0; i < streams; i++)
                    open += ss[i].started && !ss[i].done;
                if (open > open_max)
                    open_max = open;
            }
        }
        bs_collect(m);
        double secs = bs_now_s() - t0;
        int ok = 0;
        for (int i = 0; i < streams; i++) {
            ok += bs_own_content(&ss[i]);
            curl_multi_remove_handle(m, easy[i]);
            curl_easy_cleanup(easy[i]);
            free(reqs[i]);
        }
        free(reqs);
        curl_multi_cleanup(m);
        failures += streams - ok;
        sleep((unsigned)idle_s);
        proc_stats_t idle;
        proc_stats_sample(pid, &idle);
        printf("%d %d %d %d %.1f %ld %.1f %d %ld %d %d\n", b, streams, ok, open_max, secs,
               peak.rss_kib, (double)(peak.rss_kib - s0.rss_kib) / streams, peak.fds, idle.rss_kib,
               idle.fds, idle.close_wait);
        fflush(stdout);
    }
    curl_slist_free_all(hdr);
    free(ss);
    free(easy);
    free(bodies);
    curl_global_cleanup();
    printf("# %d streams failed or had content not their own\n", failures);
    return failures ? 1 : 0;
}
