/* llmgw-dataplane: the data plane process in standalone mode.
 *
 * Thread model: main blocks SIGTERM, SIGINT and SIGHUP before any thread
 * starts (so every thread inherits the mask) and then waits for them with
 * sigwait: SIGHUP reloads the table file, SIGTERM/SIGINT shut down
 * gracefully. The gRPC completion-queue threads and the upstream engine
 * thread do all the request work.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "grpc_server.h"
#include "log.h"
#include "pipeline.h"
#include "rpc_chat.h"
#include "table.h"
#include "upstream.h"

typedef struct {
    const char *table_path;
    const char *listen;
    const char *port_file;
    int threads;
    int grace_ms;
} dp_options_t;

static void dp_usage(FILE *f)
{
    fprintf(
        f,
        "usage: llmgw-dataplane --table FILE [options]\n"
        "\n"
        "  --table FILE        routing table (JSON, see docs/routing-table.md); SIGHUP reloads it\n"
        "  --listen HOST:PORT  gRPC address (default 127.0.0.1:50051; port 0 picks a free one)\n"
        "  --threads N         completion-queue threads (default: CPUs - 1, at least 1; 1..64)\n"
        "  --grace-ms N        on SIGTERM, how long in-flight calls may finish (default 10000)\n"
        "  --port-file PATH    write the bound gRPC port to PATH once listening\n"
        "  --log-level LEVEL   debug, info, warn or error (default info)\n"
        "  --help              this text\n");
}

/* Strict integer parse: the whole string, within [lo, hi]. */
static int dp_parse_int(const char *flag, const char *s, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "llmgw-dataplane: %s: expected an integer from %ld to %ld, got '%s'\n",
                flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int dp_parse_args(int argc, char **argv, dp_options_t *o)
{
    static const struct option longopts[] = {
        {"table", required_argument, NULL, 't'},
        {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 'n'},
        {"grace-ms", required_argument, NULL, 'g'},
        {"port-file", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->listen = "127.0.0.1:50051";
    /* One core is left to the upstream engine thread: on a 2-core box one CQ
     * thread gave ~18k Complete/s against ~15.7k with two (bench_complete). */
    o->threads = ncpu > 1 && ncpu <= 65 ? (int)ncpu - 1 : 1;
    o->grace_ms = 10000;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            o->table_path = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'n':
            if (dp_parse_int("--threads", optarg, 1, 64, &o->threads) < 0)
                return -1;
            break;
        case 'g':
            if (dp_parse_int("--grace-ms", optarg, 0, 3600000, &o->grace_ms) < 0)
                return -1;
            break;
        case 'p':
            o->port_file = optarg;
            break;
        case 'v': {
            int level = log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr,
                        "llmgw-dataplane: --log-level: expected debug, info, warn or error\n");
                return -1;
            }
            log_set_level((log_level_t)level);
            break;
        }
        case 'h':
            dp_usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "llmgw-dataplane: %s: unknown option or missing value\n",
                    argv[optind - 1]);
            dp_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "llmgw-dataplane: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!o->table_path) {
        fprintf(stderr, "llmgw-dataplane: --table: required (the routing table file)\n");
        dp_usage(stderr);
        return -1;
    }
    return 0;
}

static int dp_write_port_file(const char *path, int port)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%d\n", port) > 0;
    ok = (fclose(f) == 0) && ok;
    /* rename makes the file appear complete or not at all */
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void dp_reload(table_slot_t *slot, const char *path)
{
    char err[512];
    table_t *t = table_load_file(path, err, sizeof(err));
    if (!t) {
        log_error("table reload rejected; keeping the current table", "path=%s error=\"%s\"", path,
                  err);
        return;
    }
    long long version = (long long)table_version(t);
    table_slot_swap(slot, t);
    log_info("table reloaded", "path=%s version=%lld", path, version);
}

int main(int argc, char **argv)
{
    dp_options_t o = {0};
    int rc = 1;
    char err[512];
    upstream_t *engine = NULL;
    table_slot_t *slot = NULL;
    pipeline_t *pl = NULL;
    gs_server_t *server = NULL;
    rpc_chat_t *chat = NULL;

    if (dp_parse_args(argc, argv, &o) < 0)
        return 2;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("cannot initialise libcurl", "%s", "");
        return 1;
    }
    table_t *t = table_load_file(o.table_path, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "llmgw-dataplane: %s\n", err);
        goto out;
    }
    slot = table_slot_new(t);
    if (!slot) {
        table_unref(t);
        goto out;
    }
    engine = upstream_new();
    server = gs_server_new();
    if (!slot || !engine || !server)
        goto out;
    pl = pipeline_new(engine, slot);
    if (!pl || !(chat = rpc_chat_new(server, pl, slot)))
        goto out;
    int port = gs_server_start(server, o.listen, o.threads, err, sizeof(err));
    if (port < 0) {
        fprintf(stderr, "llmgw-dataplane: %s\n", err);
        goto out;
    }
    gs_server_set_serving(server, true);
    if (o.port_file && dp_write_port_file(o.port_file, port) < 0) {
        log_error("cannot write the port file", "path=%s", o.port_file);
        gs_server_shutdown(server, 0);
        goto out;
    }
    log_info("listening", "addr=%s port=%d threads=%d table=%s", o.listen, port, o.threads,
             o.table_path);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            dp_reload(slot, o.table_path);
            continue;
        }
        log_info("shutting down", "signal=%d grace_ms=%d in_flight=%d", sig, o.grace_ms,
                 gs_server_active_calls(server));
        break;
    }
    gs_server_set_serving(server, false);
    gs_server_shutdown(server, o.grace_ms);
    log_info("stopped", "%s", "");
    rc = 0;
out:
    /* The server is down (or never started), so no call can reach the
     * pipeline; the engine goes last because calls finish through it. */
    if (server)
        gs_server_free(server);
    rpc_chat_free(chat);
    pipeline_free(pl);
    if (engine)
        upstream_free(engine);
    if (slot)
        table_slot_free(slot);
    curl_global_cleanup();
    return rc;
}
