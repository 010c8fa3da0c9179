/* bench_complete: what the data plane adds to a unary chat completion.
 *
 * Starts llmgw-sim (zero latency) and llmgw-dataplane (a generated table
 * pointing at the sim) on free loopback ports, then, for each concurrency C:
 *   - gateway: ChatService/Complete on the gRPC C core's async API, exactly C
 *     calls in flight on one completion queue driven by this one thread,
 *     spread over a few channels (each with its own connection);
 *   - direct: the same chat request straight to the sim over HTTP/1.1 with
 *     libcurl multi, C transfers in flight on kept-alive connections.
 * Each phase runs --warmup seconds unrecorded, then --seconds recorded; every
 * call completed in the recorded window contributes one latency sample
 * (µs). The gateway's added latency is gateway p50 − direct p50 at the same C.
 *
 * Invariants: children are always reaped — on success, on error and on
 * SIGINT/SIGTERM (the handler only sets a flag; every wait loop polls it with
 * a short timeout) — and die with us if we are killed (PR_SET_PDEATHSIG).
 * The figures are only printed when every call succeeded; otherwise the
 * first failure is shown and the exit status is 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <curl/curl.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <openssl/evp.h>

#include "buf.h"
#include "clock.h"
#include "llmgw/v1/chat.pb-c.h"

#define BENCH_MAX_CONC 4096
#define BENCH_MAX_LEVELS 16
#define BENCH_START_TIMEOUT_MS 20000
#define BENCH_CALL_TIMEOUT_MS 10000
#define BENCH_SIM_NAME "bench-sim"
#define BENCH_MODEL "gpt-4o-mini"
#define BENCH_ROUTE "bench"
#define BENCH_KEY "sk-bench-key"
#define BENCH_PROMPT "Say hello to the benchmark"
#define BENCH_TARGET_ADDED_P50_US 100.0 /* at c=1 */
#define BENCH_TARGET_RPS_C64 15000.0    /* at c=64 */

static volatile sig_atomic_t bench_stop;

static void bench_on_signal(int sig)
{
    (void)sig;
    bench_stop = 1;
}

typedef struct {
    const char *bin_dir;
    int levels[BENCH_MAX_LEVELS];
    int n_levels;
    double seconds;
    double warmup;
    int channels;
    int dp_threads; /* 0: the data plane's default */
    bool keep;
} bench_opts_t;

/* One phase's outcome. */
typedef struct {
    uint64_t ok;
    uint64_t errors;
    char first_error[512];
    double window_s;
    int64_t *lat_us; /* samples of the recorded window */
    size_t n_lat;
    size_t alloc_lat;
    double rps, p50, p90, p99;
} bench_result_t;

typedef struct {
    pid_t pid;
    const char *name;
    char log_path[512];
} bench_child_t;

typedef struct {
    bench_opts_t o;
    char dir[256];
    bench_child_t sim, dp;
    int sim_port, dp_port;
    char dp_target[64];
    char sim_url[128];
    /* gRPC */
    grpc_completion_queue *cq;
    grpc_channel **channels;
    void **methods; /* registered Complete per channel */
    bool grpc_inited;
    grpc_slice request;       /* the packed ChatRequest (empty until packed) */
    grpc_slice floor_request; /* the same for a model no route has: answered
                                 NOT_FOUND by the gateway itself */
    bool floor;               /* the phase running sends floor_request */
    grpc_metadata auth_md;
    /* HTTP */
    char *http_body;
} bench_t;

/* --- small helpers ------------------------------------------------------- */

static int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bench_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("bench_complete: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static void bench_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !bench_stop)
        ;
}

static int result_add(bench_result_t *r, int64_t us)
{
    if (r->n_lat == r->alloc_lat) {
        size_t n = r->alloc_lat ? r->alloc_lat * 2 : 65536;
        int64_t *p = realloc(r->lat_us, n * sizeof(*p));
        if (!p)
            return -1;
        r->lat_us = p;
        r->alloc_lat = n;
    }
    r->lat_us[r->n_lat++] = us;
    return 0;
}

static void result_error(bench_result_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void result_error(bench_result_t *r, const char *fmt, ...)
{
    if (r->errors++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first_error, sizeof(r->first_error), fmt, ap);
        va_end(ap);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted samples. */
static double pct(const bench_result_t *r, double p)
{
    if (r->n_lat == 0)
        return NAN;
    size_t rank = (size_t)ceil(p / 100.0 * (double)r->n_lat);
    if (rank < 1)
        rank = 1;
    return (double)r->lat_us[rank - 1];
}

static void result_finish(bench_result_t *r)
{
    qsort(r->lat_us, r->n_lat, sizeof(*r->lat_us), cmp_i64);
    r->rps = r->window_s > 0 ? (double)r->n_lat / r->window_s : 0;
    r->p50 = pct(r, 50);
    r->p90 = pct(r, 90);
    r->p99 = pct(r, 99);
}

static void result_free(bench_result_t *r)
{
    free(r->lat_us);
    memset(r, 0, sizeof(*r));
}

/* --- options ------------------------------------------------------------- */

static const char bench_usage[] =
    "usage: bench_complete [--concurrency 1,64] [--seconds 5] [--warmup 1] [--channels 4]\n"
    "                      [--dataplane-threads N] [--bin-dir DIR] [--keep]\n"
    "\n"
    "Measures ChatService/Complete through llmgw-dataplane against the same\n"
    "request sent straight to llmgw-sim, and prints RPS and latency percentiles.\n"
    "Binaries: --bin-dir DIR, else $LLMGW_BIN_DIR/bin, else ./build/bin.\n"
    "--keep leaves the scratch directory (table, port files, logs) in place.\n";

static int parse_num(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return bench_fail("%s: expected a number in %g..%g, got '%s'", flag, lo, hi, s);
    *out = v;
    return 0;
}

static int parse_int(const char *flag, const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < lo || v > hi)
        return bench_fail("%s: expected an integer in %ld..%ld, got '%s'", flag, lo, hi, s);
    *out = (int)v;
    return 0;
}

static int parse_levels(const char *s, bench_opts_t *o)
{
    char item[32];
    o->n_levels = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n == 0 || n >= sizeof(item) || o->n_levels == BENCH_MAX_LEVELS)
            return bench_fail("--concurrency: expected up to %d comma-separated integers",
                              BENCH_MAX_LEVELS);
        memcpy(item, s, n);
        item[n] = '\0';
        if (parse_int("--concurrency", item, 1, BENCH_MAX_CONC, &o->levels[o->n_levels++]) < 0)
            return -1;
        s += n;
        if (*s == ',' && *++s == '\0')
            return bench_fail("--concurrency: trailing comma");
    }
    return o->n_levels ? 0 : bench_fail("--concurrency: empty");
}

/* 0 to run, 1 after --help, -1 after a message. */
static int parse_opts(int argc, char **argv, bench_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->levels[0] = 1;
    o->levels[1] = 64;
    o->n_levels = 2;
    o->seconds = 5;
    o->warmup = 1;
    o->channels = 4;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        if (strcmp(f, "-h") == 0 || strcmp(f, "--help") == 0) {
            fputs(bench_usage, stdout);
            return 1;
        }
        if (strcmp(f, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        if (i + 1 >= argc)
            return bench_fail("%s: missing value (or unknown flag)", f);
        const char *v = argv[++i];
        if (strcmp(f, "--concurrency") == 0) {
            if (parse_levels(v, o) < 0)
                return -1;
        } else if (strcmp(f, "--seconds") == 0) {
            if (parse_num(f, v, 0.1, 3600, &o->seconds) < 0)
                return -1;
        } else if (strcmp(f, "--warmup") == 0) {
            if (parse_num(f, v, 0, 3600, &o->warmup) < 0)
                return -1;
        } else if (strcmp(f, "--channels") == 0) {
            if (parse_int(f, v, 1, 64, &o->channels) < 0)
                return -1;
        } else if (strcmp(f, "--dataplane-threads") == 0) {
            if (parse_int(f, v, 1, 64, &o->dp_threads) < 0)
                return -1;
        } else if (strcmp(f, "--bin-dir") == 0) {
            o->bin_dir = v;
        } else {
            return bench_fail("unknown flag '%s' (see --help)", f);
        }
    }
    return 0;
}

/* --- child processes ------------------------------------------------------ */

static int child_start(bench_child_t *c, const char *name, char *const argv[], const char *dir)
{
    c->name = name;
    snprintf(c->log_path, sizeof(c->log_path), "%s/%s.log", dir, name);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return bench_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        /* Die with the bench even if it is SIGKILLed; the race with a parent
         * that died before prctl is closed by the getppid check. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        int fd = open(c->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (fd < 0 || in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    return 0;
}

/* Whether the child is still running; reaps it (and says so) when not. */
static bool child_alive(bench_child_t *c)
{
    int st;
    if (c->pid <= 0)
        return false;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r == 0)
        return true;
    if (r == c->pid) {
        if (WIFEXITED(st))
            bench_fail("%s exited with status %d (log: %s)", c->name, WEXITSTATUS(st), c->log_path);
        else if (WIFSIGNALED(st))
            bench_fail("%s killed by signal %d (log: %s)", c->name, WTERMSIG(st), c->log_path);
    }
    c->pid = 0;
    return false;
}

/* SIGTERM, up to 5 s for a clean exit, then SIGKILL. */
static void child_stop(bench_child_t *c)
{
    int st;
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGTERM);
    for (int i = 0; i < 250; i++) {
        pid_t r = waitpid(c->pid, &st, WNOHANG);
        if (r == c->pid || (r < 0 && errno == ECHILD)) {
            c->pid = 0;
            return;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "bench_complete: %s did not stop in 5 s; killing it\n", c->name);
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &st, 0);
    c->pid = 0;
}

static void child_log_tail(const bench_child_t *c)
{
    FILE *f = fopen(c->log_path, "r");
    char line[1024];
    char ring[10][1024];
    int n = 0;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f))
        snprintf(ring[n++ % 10], sizeof(ring[0]), "%s", line);
    fclose(f);
    fprintf(stderr, "--- last lines of %s ---\n", c->log_path);
    for (int i = n > 10 ? n - 10 : 0; i < n; i++)
        fputs(ring[i % 10], stderr);
}

/* Reads the port a child wrote to `path` once listening ("N\n"). */
static int wait_port_file(bench_child_t *c, const char *path, int *port)
{
    int64_t deadline = clock_now_ms() + BENCH_START_TIMEOUT_MS;
    while (!bench_stop && clock_now_ms() < deadline) {
        FILE *f = fopen(path, "r");
        if (f) {
            char text[32] = "";
            size_t n = fread(text, 1, sizeof(text) - 1, f);
            fclose(f);
            text[n] = '\0';
            /* The newline says the write is complete. */
            char *nl = strchr(text, '\n');
            if (nl) {
                *nl = '\0';
                return parse_int(path, text, 1, 65535, port);
            }
        }
        if (!child_alive(c))
            return -1;
        bench_sleep_ms(20);
    }
    if (bench_stop)
        return -1;
    return bench_fail("%s: no port in %s after %d ms (log: %s)", c->name, path,
                      BENCH_START_TIMEOUT_MS, c->log_path);
}

/* The port file says the child bound the port; a connect proves it accepts. */
static int wait_listening(bench_child_t *c, int port)
{
    int64_t deadline = clock_now_ms() + BENCH_START_TIMEOUT_MS;
    while (!bench_stop && clock_now_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return bench_fail("socket: %s", strerror(errno));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        if (rc == 0)
            return 0;
        if (!child_alive(c))
            return -1;
        bench_sleep_ms(20);
    }
    if (bench_stop)
        return -1;
    return bench_fail("%s: port %d not accepting after %d ms", c->name, port,
                      BENCH_START_TIMEOUT_MS);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return bench_fail("%s: cannot create: %s", path, strerror(errno));
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n;
    if (fclose(f) != 0 || !ok)
        return bench_fail("%s: cannot write", path);
    return 0;
}

static int sha256_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) || n != 32)
        return bench_fail("sha256: digest failed");
    for (unsigned i = 0; i < n; i++)
        snprintf(out + 2 * (size_t)i, 3, "%02x", md[i]);
    return 0;
}

static int start_processes(bench_t *b)
{
    char path[512], sim_bin[512], dp_bin[512], table[512], threads_s[16];
    buf_t t = BUF_INIT(1 << 16);
    char hex[65];
    int rc = -1;

    snprintf(sim_bin, sizeof(sim_bin), "%s/llmgw-sim", b->o.bin_dir);
    snprintf(dp_bin, sizeof(dp_bin), "%s/llmgw-dataplane", b->o.bin_dir);
    if (access(sim_bin, X_OK) != 0 || access(dp_bin, X_OK) != 0) {
        bench_fail("%s or %s: not executable (build first, or pass --bin-dir)", sim_bin, dp_bin);
        goto out;
    }

    snprintf(path, sizeof(path), "%s/sim.port", b->dir);
    char *sim_argv[] = {
        sim_bin,     "--listen", "127.0.0.1:0",    "--name", BENCH_SIM_NAME, "--latency-ms", "0",
        "--ttft-ms", "0",        "--tokens-per-s", "0",      "--port-file",  path,           NULL};
    if (child_start(&b->sim, "llmgw-sim", sim_argv, b->dir) < 0 ||
        wait_port_file(&b->sim, path, &b->sim_port) < 0 || wait_listening(&b->sim, b->sim_port) < 0)
        goto out;
    snprintf(b->sim_url, sizeof(b->sim_url), "http://127.0.0.1:%d/v1/chat/completions",
             b->sim_port);

    if (sha256_hex(BENCH_KEY, hex) < 0)
        goto out;
    if (buf_printf(&t,
                   "{\"providers\": [{\"name\": \"%s\", \"base_url\": \"http://127.0.0.1:%d/v1\",\n"
                   "  \"api_key\": \"sk-sim\", \"timeout_ms\": 30000,\n"
                   "  \"models\": [{\"name\": \"%s\", \"input_cost_per_mtok\": 0.15,\n"
                   "              \"output_cost_per_mtok\": 0.60, \"quality\": 0.70}]}],\n"
                   " \"routes\": [{\"name\": \"%s\", \"strategy\": \"priority\",\n"
                   "  \"deployments\": [{\"provider\": \"%s\", \"model\": \"%s\", \"weight\": 1,\n"
                   "                   \"priority\": 0}]}],\n"
                   " \"keys\": [{\"name\": \"bench\", \"sha256\": \"%s\", \"team\": \"bench\"}]}\n",
                   BENCH_SIM_NAME, b->sim_port, BENCH_MODEL, BENCH_ROUTE, BENCH_SIM_NAME,
                   BENCH_MODEL, hex) < 0) {
        bench_fail("table: out of memory");
        goto out;
    }
    snprintf(table, sizeof(table), "%s/table.json", b->dir);
    if (write_file(table, buf_cstr(&t)) < 0)
        goto out;

    snprintf(path, sizeof(path), "%s/dataplane.port", b->dir);
    snprintf(threads_s, sizeof(threads_s), "%d", b->o.dp_threads);
    char *dp_argv[] = {dp_bin,        "--table", table,       "--listen", "127.0.0.1:0",
                       "--port-file", path,      "--threads", threads_s,  NULL};
    if (b->o.dp_threads == 0)
        dp_argv[7] = NULL; /* the data plane picks its default */
    if (child_start(&b->dp, "llmgw-dataplane", dp_argv, b->dir) < 0 ||
        wait_port_file(&b->dp, path, &b->dp_port) < 0 || wait_listening(&b->dp, b->dp_port) < 0)
        goto out;
    snprintf(b->dp_target, sizeof(b->dp_target), "127.0.0.1:%d", b->dp_port);
    rc = 0;
out:
    buf_free(&t);
    return rc;
}

/* --- gateway: gRPC C core, async ------------------------------------------ */

typedef struct {
    grpc_call *call;
    grpc_byte_buffer *send;
    grpc_byte_buffer *recv;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    grpc_status_code status;
    grpc_slice details;
    int64_t start_us;
    int channel;
    bool floor; /* NOT_FOUND is the expected answer */
} grpc_slot_t;

static int grpc_setup(bench_t *b)
{
    grpc_init();
    b->grpc_inited = true;
    b->cq = grpc_completion_queue_create_for_next(NULL);
    b->channels = calloc((size_t)b->o.channels, sizeof(*b->channels));
    b->methods = calloc((size_t)b->o.channels, sizeof(*b->methods));
    if (!b->cq || !b->channels || !b->methods)
        return bench_fail("grpc: out of memory");

    /* A local subchannel pool per channel: without it, channels to the same
     * target share one connection and "a few channels" would be one. */
    grpc_arg arg = {
        .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    for (int i = 0; i < b->o.channels; i++) {
        b->channels[i] = grpc_channel_create(b->dp_target, creds, &args);
        if (!b->channels[i]) {
            grpc_channel_credentials_release(creds);
            return bench_fail("grpc: cannot create a channel to %s", b->dp_target);
        }
        b->methods[i] = grpc_channel_register_call(b->channels[i], "/llmgw.v1.ChatService/Complete",
                                                   NULL, NULL);
    }
    grpc_channel_credentials_release(creds);

    Llmgw__V1__Message msg = LLMGW__V1__MESSAGE__INIT;
    Llmgw__V1__Message *msgs[1] = {&msg};
    Llmgw__V1__ChatRequest req = LLMGW__V1__CHAT_REQUEST__INIT;
    msg.role = (char *)"user";
    msg.content = (char *)BENCH_PROMPT;
    req.model = (char *)BENCH_ROUTE;
    req.n_messages = 1;
    req.messages = msgs;
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    b->request = grpc_slice_malloc(len);
    protobuf_c_message_pack(&req.base, GRPC_SLICE_START_PTR(b->request));
    req.model = (char *)"no-such-route";
    len = protobuf_c_message_get_packed_size(&req.base);
    b->floor_request = grpc_slice_malloc(len);
    protobuf_c_message_pack(&req.base, GRPC_SLICE_START_PTR(b->floor_request));

    b->auth_md.key = grpc_slice_from_static_string("authorization");
    b->auth_md.value = grpc_slice_from_static_string("Bearer " BENCH_KEY);
    return 0;
}

static void grpc_teardown(bench_t *b)
{
    if (!b->grpc_inited)
        return;
    if (b->channels) {
        for (int i = 0; i < b->o.channels; i++)
            if (b->channels[i])
                grpc_channel_destroy(b->channels[i]);
    }
    free(b->channels);
    free(b->methods);
    b->channels = NULL;
    b->methods = NULL;
    if (b->cq) {
        grpc_completion_queue_shutdown(b->cq);
        while (grpc_completion_queue_next(b->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(b->cq);
        b->cq = NULL;
    }
    grpc_slice_unref(b->request);
    grpc_slice_unref(b->floor_request);
    grpc_shutdown();
    b->grpc_inited = false;
}

static int grpc_slot_start(bench_t *b, grpc_slot_t *s)
{
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(BENCH_CALL_TIMEOUT_MS, GPR_TIMESPAN));
    s->call =
        grpc_channel_create_registered_call(b->channels[s->channel], NULL, GRPC_PROPAGATE_DEFAULTS,
                                            b->cq, b->methods[s->channel], deadline, NULL);
    if (!s->call)
        return bench_fail("grpc: cannot create a call");
    s->send = grpc_raw_byte_buffer_create(b->floor ? &b->floor_request : &b->request, 1);
    s->floor = b->floor;
    s->recv = NULL;
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    s->details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = 1;
    ops[0].data.send_initial_metadata.metadata = &b->auth_md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    ops[5].data.recv_status_on_client.status = &s->status;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    s->start_us = clock_now_us();
    grpc_call_error err = grpc_call_start_batch(s->call, ops, 6, s, NULL);
    if (err != GRPC_CALL_OK) {
        grpc_call_unref(s->call);
        s->call = NULL;
        grpc_byte_buffer_destroy(s->send);
        grpc_metadata_array_destroy(&s->initial_md);
        grpc_metadata_array_destroy(&s->trailing_md);
        return bench_fail("grpc: start_batch: error %d", (int)err);
    }
    return 0;
}

/* Frees one finished call; copies the response into `body` when asked. */
static void grpc_slot_done(grpc_slot_t *s, bench_result_t *r, buf_t *body)
{
    if (s->floor && s->status == GRPC_STATUS_NOT_FOUND) {
        r->ok++;
    } else if (s->status != GRPC_STATUS_OK) {
        char *d = grpc_slice_to_c_string(s->details);
        result_error(r, "gateway: status %d: %s", (int)s->status, d ? d : "");
        gpr_free(d);
    } else if (!s->recv) {
        result_error(r, "gateway: OK without a response message");
    } else {
        r->ok++;
        if (body) {
            grpc_byte_buffer_reader rd;
            if (grpc_byte_buffer_reader_init(&rd, s->recv)) {
                grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
                (void)buf_append(body, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
                grpc_slice_unref(all);
                grpc_byte_buffer_reader_destroy(&rd);
            }
        }
    }
    if (s->recv)
        grpc_byte_buffer_destroy(s->recv);
    grpc_byte_buffer_destroy(s->send);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_slice_unref(s->details);
    grpc_call_unref(s->call);
    s->call = NULL;
}

/* Keeps `conc` calls in flight: `warmup_us` unrecorded, then `window_us`
 * recorded; or, with max_calls > 0, exactly that many calls, all recorded,
 * the last response kept in `body`. */
static int run_grpc(bench_t *b, int conc, int64_t warmup_us, int64_t window_us, uint64_t max_calls,
                    bench_result_t *r, buf_t *body)
{
    grpc_slot_t *slots = calloc((size_t)conc, sizeof(*slots));
    int in_flight = 0, rc = -1;
    uint64_t started = 0;
    if (!slots)
        return bench_fail("out of memory");

    int64_t t0 = clock_now_us();
    int64_t rec_start = t0 + warmup_us, rec_end = rec_start + window_us;
    for (int i = 0; i < conc; i++) {
        slots[i].channel = i % b->o.channels;
        if (max_calls && started == max_calls)
            break;
        if (grpc_slot_start(b, &slots[i]) < 0)
            goto drain;
        started++;
        in_flight++;
    }
    while (in_flight > 0) {
        gpr_timespec tick =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(b->cq, tick, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            continue;
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        grpc_slot_t *s = ev.tag;
        int64_t now = clock_now_us();
        bool rec = max_calls ? true : now >= rec_start && now < rec_end;
        uint64_t errs = r->errors;
        grpc_slot_done(s, r, body);
        in_flight--;
        if (rec && r->errors == errs && result_add(r, now - s->start_us) < 0) {
            bench_fail("latency samples: out of memory");
            goto drain;
        }
        bool more = max_calls ? started < max_calls : now < rec_end;
        /* A failure stops the phase: figures with errors in them mislead. */
        if (!more || bench_stop || r->errors)
            continue;
        if (grpc_slot_start(b, s) < 0)
            goto drain;
        started++;
        in_flight++;
    }
    r->window_s = max_calls ? (double)(clock_now_us() - t0) / 1e6 : (double)window_us / 1e6;
    rc = r->errors || bench_stop ? -1 : 0;
    goto out;
drain:
    /* Cancel what is still in flight and collect every completion, so no
     * call outlives its slot. */
    for (int i = 0; i < conc; i++)
        if (slots[i].call)
            grpc_call_cancel(slots[i].call, NULL);
    while (in_flight > 0) {
        grpc_event ev = grpc_completion_queue_next(b->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        grpc_slot_done(ev.tag, r, NULL);
        in_flight--;
    }
out:
    free(slots);
    return rc;
}

/* --- direct: libcurl multi to the sim -------------------------------------- */

typedef struct {
    CURL *easy;
    int64_t start_us;
    buf_t body;
    bool keep_body;
} http_slot_t;

static size_t http_on_data(char *p, size_t size, size_t n, void *ud)
{
    http_slot_t *s = ud;
    /* The body is kept only for the check call; otherwise it is dropped. */
    if (s->keep_body && buf_append(&s->body, p, size * n) < 0)
        return 0;
    return size * n;
}

static int http_slot_init(bench_t *b, http_slot_t *s, struct curl_slist *hdrs)
{
    buf_init(&s->body, 1 << 20);
    s->easy = curl_easy_init();
    if (!s->easy)
        return bench_fail("curl: easy_init failed");
    CURLcode c = CURLE_OK;
    c |= curl_easy_setopt(s->easy, CURLOPT_URL, b->sim_url);
    c |= curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, b->http_body);
    c |= curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(b->http_body));
    c |= curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, hdrs);
    c |= curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, http_on_data);
    c |= curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    c |= curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    c |= curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
    c |= curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)BENCH_CALL_TIMEOUT_MS);
    c |= curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    if (c != CURLE_OK)
        return bench_fail("curl: setopt failed");
    return 0;
}

static int run_http(bench_t *b, int conc, int64_t warmup_us, int64_t window_us, uint64_t max_calls,
                    bench_result_t *r, buf_t *body)
{
    http_slot_t *slots = calloc((size_t)conc, sizeof(*slots));
    struct curl_slist *hdrs = NULL, *h2;
    CURLM *multi = curl_multi_init();
    int in_flight = 0, rc = -1;
    uint64_t started = 0;

    if (!slots || !multi) {
        bench_fail("curl: out of memory");
        goto out;
    }
    /* "Expect:" empty: a POST never waits for a 100-continue round trip. */
    if (!(h2 = curl_slist_append(hdrs, "Content-Type: application/json")) || !(hdrs = h2) ||
        !(h2 = curl_slist_append(hdrs, "Authorization: Bearer sk-sim")) || !(hdrs = h2) ||
        !(h2 = curl_slist_append(hdrs, "Expect:")) || !(hdrs = h2)) {
        bench_fail("curl: out of memory");
        goto out;
    }
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc + 4);
    for (int i = 0; i < conc; i++)
        if (http_slot_init(b, &slots[i], hdrs) < 0)
            goto out;

    int64_t t0 = clock_now_us();
    int64_t rec_start = t0 + warmup_us, rec_end = rec_start + window_us;
    for (int i = 0; i < conc && !(max_calls && started == max_calls); i++) {
        slots[i].keep_body = body != NULL;
        slots[i].start_us = clock_now_us();
        if (curl_multi_add_handle(multi, slots[i].easy) != CURLM_OK) {
            bench_fail("curl: multi_add_handle failed");
            goto out;
        }
        started++;
        in_flight++;
    }
    while (in_flight > 0) {
        int running = 0, left = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            bench_fail("curl: multi_perform failed");
            goto out;
        }
        CURLMsg *m;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            http_slot_t *s = NULL;
            long code = 0;
            CURLcode res = m->data.result;
            CURL *easy = m->easy_handle;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
            int64_t now = clock_now_us();
            curl_multi_remove_handle(multi, easy);
            in_flight--;
            if (res != CURLE_OK) {
                result_error(r, "direct: %s", curl_easy_strerror(res));
            } else if (code != 200) {
                result_error(r, "direct: HTTP %ld", code);
            } else {
                r->ok++;
                bool rec = max_calls ? true : now >= rec_start && now < rec_end;
                if (rec && result_add(r, now - s->start_us) < 0) {
                    bench_fail("latency samples: out of memory");
                    goto out;
                }
                if (body)
                    (void)buf_append(body, s->body.data ? s->body.data : "", s->body.len);
            }
            bool more = max_calls ? started < max_calls : now < rec_end;
            if (!more || bench_stop || r->errors)
                continue;
            buf_reset(&s->body);
            s->start_us = clock_now_us();
            /* Re-adding the same handle reuses its kept-alive connection. */
            if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
                bench_fail("curl: multi_add_handle failed");
                goto out;
            }
            started++;
            in_flight++;
        }
        if (in_flight > 0 && curl_multi_poll(multi, NULL, 0, 100, NULL) != CURLM_OK) {
            bench_fail("curl: multi_poll failed");
            goto out;
        }
    }
    r->window_s = max_calls ? (double)(clock_now_us() - t0) / 1e6 : (double)window_us / 1e6;
    rc = r->errors || bench_stop ? -1 : 0;
out:
    if (slots) {
        for (int i = 0; i < conc; i++) {
            if (slots[i].easy) {
                curl_multi_remove_handle(multi, slots[i].easy);
                curl_easy_cleanup(slots[i].easy);
            }
            buf_free(&slots[i].body);
        }
    }
    if (multi)
        curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    free(slots);
    return rc;
}

/* --- checks and report ------------------------------------------------------ */

/* One call each way, answers compared with the sim's deterministic answer,
 * so the figures are known to measure a working path. */
static int check_paths(bench_t *b)
{
    bench_result_t r = {0};
    buf_t body = BUF_INIT(1 << 20);
    const char *want = "[" BENCH_SIM_NAME "] " BENCH_PROMPT;
    int rc = -1;

    if (run_grpc(b, 1, 0, 0, 1, &r, &body) < 0) {
        bench_fail("gateway check failed: %s", r.first_error[0] ? r.first_error : "interrupted");
        goto out;
    }
    Llmgw__V1__ChatResponse *resp = llmgw__v1__chat_response__unpack(
        NULL, body.len, (const uint8_t *)(body.data ? body.data : ""));
    bool good = resp && resp->n_choices > 0 && resp->choices[0]->message &&
                strcmp(resp->choices[0]->message->content, want) == 0;
    if (!good)
        bench_fail("gateway check: expected content '%s', got '%s'", want,
                   resp && resp->n_choices && resp->choices[0]->message
                       ? resp->choices[0]->message->content
                       : "(no choice)");
    if (resp)
        llmgw__v1__chat_response__free_unpacked(resp, NULL);
    if (!good)
        goto out;

    result_free(&r);
    buf_reset(&body);
    if (run_http(b, 1, 0, 0, 1, &r, &body) < 0) {
        bench_fail("direct check failed: %s", r.first_error[0] ? r.first_error : "interrupted");
        goto out;
    }
    if (!strstr(buf_cstr(&body), want)) {
        bench_fail("direct check: expected '%s' in the body, got '%s'", want, buf_cstr(&body));
        goto out;
    }
    rc = 0;
out:
    result_free(&r);
    buf_free(&body);
    return rc;
}

static void print_row(const char *what, int conc, const bench_result_t *r)
{
    printf("%-8s c=%-4d calls=%-8zu rps=%-9.0f p50=%-7.0f p90=%-7.0f p99=%-7.0f (us)\n", what, conc,
           r->n_lat, r->rps, r->p50, r->p90, r->p99);
    fflush(stdout);
}

static void print_summary(const bench_t *b, bench_result_t *gw, bench_result_t *dr,
                          bench_result_t *fl)
{
    printf("\nsummary (latencies in microseconds; %g s recorded after %g s warmup per phase;\n"
           "         %d gRPC channels; llmgw-sim at zero latency)\n",
           b->o.seconds, b->o.warmup, b->o.channels);
    printf("%-5s | %10s %7s %7s %7s | %10s %7s %7s %7s | %9s\n", "conc", "gw rps", "gw p50",
           "gw p90", "gw p99", "direct rps", "d p50", "d p90", "d p99", "added p50");
    for (int i = 0; i < b->o.n_levels; i++) {
        printf("%-5d | %10.0f %7.0f %7.0f %7.0f | %10.0f %7.0f %7.0f %7.0f | %9.0f\n",
               b->o.levels[i], gw[i].rps, gw[i].p50, gw[i].p90, gw[i].p99, dr[i].rps, dr[i].p50,
               dr[i].p90, dr[i].p99, gw[i].p50 - dr[i].p50);
    }
    printf("\nfloor: the gateway answering by itself (unknown model -> NOT_FOUND: gRPC both ways,\n"
           "       decode, auth, route lookup; no upstream). Its p50 is the part of 'added' that\n"
           "       is the gRPC round trip rather than the upstream leg.\n");
    for (int i = 0; i < b->o.n_levels; i++)
        printf("  c=%-4d floor rps %8.0f  p50 %6.0f  p99 %6.0f   upstream leg p50 (gw - floor) "
               "%6.0f\n",
               b->o.levels[i], fl[i].rps, fl[i].p50, fl[i].p99, gw[i].p50 - fl[i].p50);
    printf("\ntargets:\n");
    bool any = false;
    for (int i = 0; i < b->o.n_levels; i++) {
        if (b->o.levels[i] == 1) {
            double added = gw[i].p50 - dr[i].p50;
            printf("  added p50 at c=1      <= %6.0f us    measured %8.0f us    %s\n",
                   BENCH_TARGET_ADDED_P50_US, added,
                   added <= BENCH_TARGET_ADDED_P50_US ? "met" : "MISSED");
            any = true;
        }
        if (b->o.levels[i] == 64) {
            printf("  Complete/s at c=64    >= %6.0f       measured %8.0f       %s\n",
                   BENCH_TARGET_RPS_C64, gw[i].rps,
                   gw[i].rps >= BENCH_TARGET_RPS_C64 ? "met" : "MISSED");
            any = true;
        }
    }
    if (!any)
        printf("  (the targets are stated at c=1 and c=64; neither was run)\n");
}

/* --- main -------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    bench_t b;
    bench_result_t gw[BENCH_MAX_LEVELS], dr[BENCH_MAX_LEVELS], fl[BENCH_MAX_LEVELS];
    char bin_dir[512];
    int rc = 1;
    bool curl_ready = false;

    memset(&b, 0, sizeof(b));
    b.request = grpc_empty_slice();
    b.floor_request = grpc_empty_slice();
    memset(gw, 0, sizeof(gw));
    memset(fl, 0, sizeof(fl));
    memset(dr, 0, sizeof(dr));
    int p = parse_opts(argc, argv, &b.o);
    if (p != 0)
        return p > 0 ? 0 : 2;
    if (!b.o.bin_dir) {
        const char *env = getenv("LLMGW_BIN_DIR");
        if (env && env[0])
            snprintf(bin_dir, sizeof(bin_dir), "%s/bin", env);
        else
            snprintf(bin_dir, sizeof(bin_dir), "./build/bin");
        b.o.bin_dir = bin_dir;
    }

    struct sigaction sa = {.sa_handler = bench_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    snprintf(b.dir, sizeof(b.dir), "/tmp/llmgw-bench.XXXXXX");
    if (!mkdtemp(b.dir)) {
        bench_fail("mkdtemp: %s", strerror(errno));
        return 1;
    }
    if (start_processes(&b) < 0)
        goto out;
    fprintf(stderr,
            "bench_complete: llmgw-sim on port %d, llmgw-dataplane on port %d (logs in %s)\n",
            b.sim_port, b.dp_port, b.dir);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        bench_fail("curl_global_init failed");
        goto out;
    }
    curl_ready = true;
    b.http_body = (char *)"{\"model\":\"" BENCH_MODEL "\",\"messages\":[{\"role\":\"user\","
                          "\"content\":\"" BENCH_PROMPT "\"}]}";
    if (grpc_setup(&b) < 0)
        goto out;
    if (check_paths(&b) < 0)
        goto out;

    int64_t warm = (int64_t)(b.o.warmup * 1e6), win = (int64_t)(b.o.seconds * 1e6);
    for (int i = 0; i < b.o.n_levels && !bench_stop; i++) {
        int c = b.o.levels[i];
        if (run_grpc(&b, c, warm, win, 0, &gw[i], NULL) < 0) {
            if (!bench_stop)
                bench_fail("gateway c=%d: %" PRIu64 " calls failed; first: %s", c, gw[i].errors,
                           gw[i].first_error);
            goto out;
        }
        result_finish(&gw[i]);
        print_row("gateway", c, &gw[i]);
        if (run_http(&b, c, warm, win, 0, &dr[i], NULL) < 0) {
            if (!bench_stop)
                bench_fail("direct c=%d: %" PRIu64 " calls failed; first: %s", c, dr[i].errors,
                           dr[i].first_error);
            goto out;
        }
        result_finish(&dr[i]);
        print_row("direct", c, &dr[i]);
        b.floor = true;
        if (run_grpc(&b, c, warm, win, 0, &fl[i], NULL) < 0) {
            if (!bench_stop)
                bench_fail("floor c=%d: %" PRIu64 " calls failed; first: %s", c, fl[i].errors,
                           fl[i].first_error);
            goto out;
        }
        b.floor = false;
        result_finish(&fl[i]);
        print_row("floor", c, &fl[i]);
    }
    if (bench_stop)
        goto out;
    print_summary(&b, gw, dr, fl);
    rc = 0;
out:
    if (bench_stop)
        fprintf(stderr, "bench_complete: interrupted\n");
    grpc_teardown(&b);
    if (curl_ready)
        curl_global_cleanup();
    if (rc != 0 && !bench_stop) {
        if (b.dp.log_path[0])
            child_log_tail(&b.dp);
        if (b.sim.log_path[0])
            child_log_tail(&b.sim);
    }
    child_stop(&b.dp);
    child_stop(&b.sim);
    for (int i = 0; i < BENCH_MAX_LEVELS; i++) {
        result_free(&gw[i]);
        result_free(&fl[i]);
        result_free(&dr[i]);
    }
    /* Kept on failure only when a child ran: its log is then the evidence. */
    if (b.o.keep || (rc != 0 && !bench_stop && b.sim.log_path[0])) {
        fprintf(stderr, "bench_complete: scratch directory kept: %s\n", b.dir);
    } else {
        const char *names[] = {"sim.port", "dataplane.port", "table.json", "llmgw-sim.log",
                               "llmgw-dataplane.log"};
        char path[512];
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", b.dir, names[i]);
            unlink(path);
        }
        rmdir(b.dir);
    }
    return bench_stop ? 130 : rc;
}
