/* llmgw-sim: an OpenAI-compatible provider simulator for the demo, the tests
 * and the benchmarks. This file reads the command line, starts the HTTP
 * server (sim_http.c) and waits for SIGTERM/SIGINT.
 *
 * Signals are blocked before any thread starts, so every MHD thread inherits
 * the mask and only the main thread's sigwait ever sees them: shutdown runs
 * in ordinary code, never in a signal handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "sim_config.h"
#include "sim_http.h"

#define SIM_EXIT_USAGE 2

static void usage(FILE *to)
{
    fputs("usage: llmgw-sim [options]\n"
          "  --listen HOST:PORT     address to serve on (default 127.0.0.1:18080; port 0 picks\n"
          "                         a free port; HOST is an IPv4 address, [IPv6] or localhost)\n"
          "  --port-file PATH       write the bound port and a newline to PATH once listening\n"
          "  --name NAME            provider name in answers and /v1/models (default sim)\n"
          "  --config FILE.json     per-model settings: {\"default\": {...}, \"models\": {...}}\n"
          "  --models a,b,c         models listed by /v1/models\n"
          "  --latency-ms N         delay before the answer / a stream's headers (default 0)\n"
          "  --ttft-ms N            delay before a stream's first chunk (default 0)\n"
          "  --tokens-per-s N       stream pacing, 0 = unlimited (default 0)\n"
          "  --error-rate F         fraction 0..1 of requests answered 500 (default 0)\n"
          "  --status CODE          answer every request with this error status, 0 = normal\n"
          "  --fault KIND           none, malformed_json, drop_mid_stream, hang, slow_headers,\n"
          "                         empty_choices (default none)\n"
          "  --seed N               seed of the error-rate generator (default 1)\n"
          "  --max-connections N    connections served at once, a thread each (default 4096;\n"
          "                         1..100000)\n"
          "  --log-level LEVEL      debug, info, warn, error (default info)\n"
          "  --help                 show this help\n",
          to);
}

/* Parses HOST:PORT into `ss`. 0, or -1 with `err` set. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    memset(ss, 0, sizeof(*ss));
    const char *colon = strrchr(s, ':');
    int64_t port = 0;
    if (!colon || sim_parse_int64(colon + 1, 0, 65535, &port) < 0) {
        snprintf(err, errlen, "--listen: expected HOST:PORT with a port 0..65535, got '%s'", s);
        return -1;
    }
    char host[64];
    size_t hlen = (size_t)(colon - s);
    if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
        s++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, errlen, "--listen: expected HOST:PORT, got '%s'", s);
        return -1;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    snprintf(err, errlen, "--listen: '%s' is not an IPv4 or IPv6 address", host);
    return -1;
}

/* Writes "PORT\n" to `path` through a rename, so a reader polling for the
 * file never sees it half-written. */
static int write_port_file(const char *path, unsigned port, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        snprintf(err, errlen, "--port-file: path too long");
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "--port-file: cannot create %.300s: %s", tmp, strerror(errno));
        return -1;
    }
    int bad = fprintf(f, "%u\n", port) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "--port-file: cannot write %.300s: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

enum {
    OPT_LISTEN = 1000,
    OPT_NAME,
    OPT_CONFIG,
    OPT_LATENCY,
    OPT_TTFT,
    OPT_TPS,
    OPT_ERROR_RATE,
    OPT_STATUS,
    OPT_FAULT,
    OPT_SEED,
    OPT_MAX_CONNECTIONS,
    OPT_MODELS,
    OPT_PORT_FILE,
    OPT_LOG_LEVEL,
    OPT_HELP,
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"name", required_argument, NULL, OPT_NAME},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"latency-ms", required_argument, NULL, OPT_LATENCY},
        {"ttft-ms", required_argument, NULL, OPT_TTFT},
        {"tokens-per-s", required_argument, NULL, OPT_TPS},
        {"error-rate", required_argument, NULL, OPT_ERROR_RATE},
        {"status", required_argument, NULL, OPT_STATUS},
        {"fault", required_argument, NULL, OPT_FAULT},
        {"seed", required_argument, NULL, OPT_SEED},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"models", required_argument, NULL, OPT_MODELS},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int rc = SIM_EXIT_USAGE;
    char err[512] = "";
    const char *listen = "127.0.0.1:18080";
    const char *config_path = NULL;
    const char *port_file = NULL;
    const char *models = NULL;
    int64_t seed = 1;
    int64_t max_connections = SIM_HTTP_MAX_CONNECTIONS;
    sim_http_t *http = NULL;
    sim_config_t *cfg = sim_config_new();
    if (!cfg) {
        fprintf(stderr, "llmgw-sim: out of memory\n");
        return 1;
    }

    int c;
    opterr = 0; /* report bad flags ourselves, followed by the usage */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const char *field = NULL;
        switch (c) {
        case OPT_LISTEN:
            listen = optarg;
            break;
        case OPT_NAME:
            if (sim_config_set_name(cfg, optarg, err, sizeof(err)) < 0)
                goto usage;
            break;
        case OPT_CONFIG:
            config_path = optarg;
            break;
        case OPT_LATENCY:
            field = "latency_ms";
            break;
        case OPT_TTFT:
            field = "ttft_ms";
            break;
        case OPT_TPS:
            field = "tokens_per_s";
            break;
        case OPT_ERROR_RATE:
            field = "error_rate";
            break;
        case OPT_STATUS:
            field = "status";
            break;
        case OPT_FAULT:
            field = "fault";
            break;
        case OPT_SEED:
            if (sim_parse_int64(optarg, 0, INT64_MAX, &seed) < 0) {
                snprintf(err, sizeof(err), "--seed: expected a non-negative integer");
                goto usage;
            }
            break;
        case OPT_MAX_CONNECTIONS:
            if (sim_parse_int64(optarg, 1, 100000, &max_connections) < 0) {
                snprintf(err, sizeof(err), "--max-connections: expected an integer 1..100000");
                goto usage;
            }
            break;
        case OPT_MODELS:
            models = optarg;
            break;
        case OPT_PORT_FILE:
            port_file = optarg;
            break;
        case OPT_LOG_LEVEL: {
            int level = log_level_parse(optarg);
            if (level < 0) {
                snprintf(err, sizeof(err), "--log-level: expected one of debug, info, warn, error");
                goto usage;
            }
            log_set_level((log_level_t)level);
            break;
        }
        case OPT_HELP:
            usage(stdout);
            rc = 0;
            goto out;
        default:
            if (optopt >= OPT_LISTEN)
                snprintf(err, sizeof(err), "%s: missing value", argv[optind - 1]);
            else
                snprintf(err, sizeof(err), "%s: unknown option", argv[optind - 1]);
            goto usage;
        }
        if (field) {
            const char *flag = opts[c - OPT_LISTEN].name;
            char what[32];
            snprintf(what, sizeof(what), "--%s", flag);
            if (sim_config_set_flag(cfg, field, what, optarg, err, sizeof(err)) < 0)
                goto usage;
        }
    }
    if (optind < argc) {
        snprintf(err, sizeof(err), "%s: unexpected argument", argv[optind]);
        goto usage;
    }
    struct sockaddr_storage addr;
    if (parse_listen(listen, &addr, err, sizeof(err)) < 0)
        goto usage;
    /* The file's models are listed before --models, whatever the flag order. */
    if (config_path && sim_config_load_file(cfg, config_path, err, sizeof(err)) < 0) {
        /* The flags were fine: the error alone says what to fix. */
        fprintf(stderr, "llmgw-sim: --config %s: %s\n", config_path, err);
        goto out;
    }
    if (models && sim_config_add_models(cfg, models, err, sizeof(err)) < 0)
        goto usage;

    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = 1;
    http = sim_http_start(cfg, (const struct sockaddr *)&addr, (uint64_t)seed,
                          (unsigned)max_connections, err, sizeof(err));
    if (!http) {
        log_error("cannot start", "listen=%s error=\"%s\"", listen, err);
        goto out;
    }
    if (port_file && write_port_file(port_file, sim_http_port(http), err, sizeof(err)) < 0) {
        log_error("cannot start", "error=\"%s\"", err);
        goto out;
    }
    log_info("listening", "port=%u name=%s", sim_http_port(http), sim_config_name(cfg));
    int sig = 0;
    while (sigwait(&stop_set, &sig) != 0) {
    }
    log_info("stopping", "signal=%d", sig);
    rc = 0;
    goto out;

usage:
    fprintf(stderr, "llmgw-sim: %s\n", err);
    usage(stderr);
out:
    sim_http_stop(http);
    sim_config_free(cfg);
    return rc;
}
