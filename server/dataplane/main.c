/* llmgw-dataplane: the data plane process, standalone (--table FILE) or
 * managed (--control-plane: tables pushed by llmgw-controlplane, sync.c).
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

#include "adapter.h"
#include "budget_lease.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "consistency.h"
#include "ensemble.h"
#include "ext_loader.h"
#include "grpc_health.h"
#include "grpc_reflection.h"
#include "grpc_server.h"
#include "health.h"
#include "http_api.h"
#include "http_chat.h"
#include "local_discovery.h"
#include "log.h"
#include "pipeline.h"
#include "rpc_chat.h"
#include "rpc_ensemble.h"
#include "rpc_routing.h"
#include "sync.h"
#include "table.h"
#include "table_ext.h"
#include "tls.h"
#include "upstream.h"
#include "usage_log.h"
#include "usage_stats.h"

typedef struct {
    const char *table_path;
    sync_config_t managed; /* --control-plane mode (sync.h); target NULL when standalone */
    const char *listen;
    const char *port_file;
    int threads;
    int grace_ms;
    const char *http_listen;
    const char *http_port_file;
    int http_max_body_bytes;
    int http_idle_timeout_s;
    int http_threads;
    int cache_max_mib;                      /* response cache cap; 0: no cache */
    bool discover_local;                    /* --discover-local */
    const char *discover_local_ports;       /* its optional preset:port list */
    const char *extensions[EXT_LOADER_MAX]; /* --extension PATH[:CONFIG_FILE] */
    int n_extensions;
    tls_paths_t tls;    /* --tls-cert, --tls-key, --tls-client-ca: the client-facing listeners */
    tls_paths_t cp_tls; /* --cp-ca, --cp-cert, --cp-key: the channel to the control plane */
    bool insecure_dev;  /* --insecure-dev: the control plane over plaintext */
} dp_options_t;

static void dp_usage(FILE *f)
{
    fprintf(
        f,
        "usage: llmgw-dataplane --table FILE [options]\n"
        "\n"
        "  --table FILE        routing table (JSON, see docs/routing-table.md); SIGHUP reloads it\n"
        "  --control-plane HOST:PORT  managed mode instead of --table: tables pushed by\n"
        "                      llmgw-controlplane (token from LLMGW_CONTROL_PLANE_TOKEN)\n"
        "  --node-id ID        this node's id in managed mode (required with --control-plane)\n"
        "  --node-group G      node group label (default empty)\n"
        "  --state-dir DIR     keep the last good pushed table in DIR; serve it at start\n"
        "  --listen HOST:PORT  gRPC address (default 127.0.0.1:50051; port 0 picks a free one)\n"
        "  --threads N         completion-queue threads (default: CPUs - 1, at least 1; 1..64)\n"
        "  --grace-ms N        on SIGTERM, how long in-flight calls may finish (default 10000)\n"
        "  --port-file PATH    write the bound gRPC port to PATH once listening\n"
        "  --http-listen HOST:PORT  OpenAI-compatible HTTP API address (default 127.0.0.1:8080)\n"
        "  --http-port-file PATH    write the bound HTTP port to PATH once listening\n"
        "  --http-max-body-bytes N  request body limit, 413 past it (default 8388608)\n"
        "  --http-idle-timeout-s N  close idle or stalled HTTP connections after N s (default 30)\n"
        "  --http-threads N    HTTP event loops, each also running its requests' upstream calls\n"
        "                      (default: CPUs; 1..64); the first is shared with gRPC\n"
        "  --discover-local[=PRESET:PORT,...]  add the LLM servers answering on 127.0.0.1\n"
        "                      (Ollama, LM Studio, LocalAI, vLLM, text-generation-webui) to\n"
        "                      the table at each load (docs/providers.md)\n"
        "  --cache-max-mib N   response cache size for routes with \"cache\" (default 64;\n"
        "                      0 turns the cache off; 0..65536)\n"
        "  --extension PATH[:CONFIG_FILE]  load an extension (docs/extensions.md); its\n"
        "                      config is the JSON object in CONFIG_FILE; repeatable; a\n"
        "                      failure stops startup. The table's \"extensions\" load too\n"
        "  --tls-cert FILE     PEM certificate chain: gRPC and HTTP listeners serve TLS\n"
        "  --tls-key FILE      its PEM private key\n"
        "  --tls-client-ca FILE  PEM CA: clients of both listeners must present a\n"
        "                      certificate that chains to it (mTLS)\n"
        "  --cp-ca FILE        PEM CA of the control plane's certificate (managed mode)\n"
        "  --cp-cert FILE      this node's PEM client certificate for the control plane\n"
        "  --cp-key FILE       its PEM private key\n"
        "  --insecure-dev      managed mode over plaintext, for development; without it\n"
        "                      --cp-ca, --cp-cert and --cp-key are required, since pushed\n"
        "                      tables carry provider secrets (docs/tls.md)\n"
        "  --log-level LEVEL   debug, info, warn or error (default info)\n"
        "  --help              this text\n");
}

static int dp_parse_args(int argc, char **argv, dp_options_t *o)
{
    static const struct option longopts[] = {
        {"table", required_argument, NULL, 't'},
        {"control-plane", required_argument, NULL, 'C'},
        {"node-id", required_argument, NULL, 'N'},
        {"node-group", required_argument, NULL, 'G'},
        {"state-dir", required_argument, NULL, 'S'},
        {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 'n'},
        {"grace-ms", required_argument, NULL, 'g'},
        {"port-file", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'v'},
        {"http-listen", required_argument, NULL, 'H'},
        {"http-port-file", required_argument, NULL, 'P'},
        {"http-max-body-bytes", required_argument, NULL, 'B'},
        {"http-idle-timeout-s", required_argument, NULL, 'I'},
        {"http-threads", required_argument, NULL, 'T'},
        {"cache-max-mib", required_argument, NULL, 'M'},
        {"discover-local", optional_argument, NULL, 'D'},
        {"extension", required_argument, NULL, 'X'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"tls-client-ca", required_argument, NULL, 'a'},
        {"cp-ca", required_argument, NULL, 'A'},
        {"cp-cert", required_argument, NULL, 'E'},
        {"cp-key", required_argument, NULL, 'K'},
        {"insecure-dev", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->listen = "127.0.0.1:50051";
    o->tls = (tls_paths_t){
        .cert_flag = "--tls-cert", .key_flag = "--tls-key", .ca_flag = "--tls-client-ca"};
    o->cp_tls =
        (tls_paths_t){.cert_flag = "--cp-cert", .key_flag = "--cp-key", .ca_flag = "--cp-ca"};
    /* One core is left to the upstream engine thread: on a 2-core box one CQ
     * thread gave ~18k Complete/s against ~15.7k with two (bench_complete). */
    o->threads = ncpu > 1 && ncpu <= 65 ? (int)ncpu - 1 : 1;
    o->grace_ms = 10000;
    o->http_listen = "127.0.0.1:8080";
    o->http_max_body_bytes = 8 << 20;
    o->http_idle_timeout_s = 30;
    o->cache_max_mib = 64;
    /* One HTTP event loop per CPU: each is an upstream engine thread doing a
     * request's whole HTTP work (front door and upstream call) itself. */
    o->http_threads = ncpu >= 1 && ncpu <= 64 ? (int)ncpu : 1;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            o->table_path = optarg;
            break;
        case 'C':
            o->managed.target = optarg;
            break;
        case 'N':
            o->managed.node_id = optarg;
            break;
        case 'G':
            o->managed.group = optarg;
            break;
        case 'S':
            o->managed.state_dir = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'n':
            if (cli_parse_int("llmgw-dataplane", "--threads", optarg, 1, 64, &o->threads) < 0)
                return -1;
            break;
        case 'g':
            if (cli_parse_int("llmgw-dataplane", "--grace-ms", optarg, 0, 3600000, &o->grace_ms) <
                0)
                return -1;
            break;
        case 'p':
            o->port_file = optarg;
            break;
        case 'H':
            o->http_listen = optarg;
            break;
        case 'P':
            o->http_port_file = optarg;
            break;
        case 'B':
            if (cli_parse_int("llmgw-dataplane", "--http-max-body-bytes", optarg, 1024, 1 << 30,
                              &o->http_max_body_bytes) < 0)
                return -1;
            break;
        case 'T':
            if (cli_parse_int("llmgw-dataplane", "--http-threads", optarg, 1, HTTP_API_MAX_LOOPS,
                              &o->http_threads) < 0)
                return -1;
            break;
        case 'M':
            if (cli_parse_int("llmgw-dataplane", "--cache-max-mib", optarg, 0, 65536,
                              &o->cache_max_mib) < 0)
                return -1;
            break;
        case 'I':
            if (cli_parse_int("llmgw-dataplane", "--http-idle-timeout-s", optarg, 1, 86400,
                              &o->http_idle_timeout_s) < 0)
                return -1;
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
        case 'D':
            o->discover_local = true;
            o->discover_local_ports = optarg;
            break;
        case 'X':
            if (o->n_extensions >= EXT_LOADER_MAX) {
                fprintf(stderr, "llmgw-dataplane: --extension: at most %d\n", EXT_LOADER_MAX);
                return -1;
            }
            o->extensions[o->n_extensions++] = optarg;
            break;
        case 'c':
            o->tls.cert = optarg;
            break;
        case 'k':
            o->tls.key = optarg;
            break;
        case 'a':
            o->tls.ca = optarg;
            break;
        case 'A':
            o->cp_tls.ca = optarg;
            break;
        case 'E':
            o->cp_tls.cert = optarg;
            break;
        case 'K':
            o->cp_tls.key = optarg;
            break;
        case 'i':
            o->insecure_dev = true;
            break;
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
    if (!o->table_path == !o->managed.target) {
        fprintf(stderr, "llmgw-dataplane: --table or --control-plane: exactly one required\n");
        dp_usage(stderr);
        return -1;
    }
    if (sync_check_config(&o->managed) < 0)
        return -1;
    if (!o->managed.target && tls_paths_given(&o->cp_tls)) {
        fprintf(stderr, "llmgw-dataplane: --cp-ca, --cp-cert, --cp-key: only with --control-plane\n");
        return -1;
    }
    /* The pushed table carries provider API keys: taken over mTLS only. */
    if (o->managed.target && !o->insecure_dev && (!o->cp_tls.ca || !o->cp_tls.cert)) {
        fprintf(stderr,
                "llmgw-dataplane: %s: required with --control-plane: the pushed table carries "
                "provider secrets, taken only over mTLS (--cp-ca, --cp-cert, --cp-key); "
                "--insecure-dev allows plaintext for development\n",
                !o->cp_tls.ca ? "--cp-ca" : "--cp-cert");
        return -1;
    }
    return 0;
}

/* The listeners' and the control-plane channel's files, checked before
 * anything starts. 0, or -1 after printing the error. */
static int dp_load_tls(const dp_options_t *o, tls_files_t *listen, tls_files_t *cp)
{
    char err[512];
    if (tls_paths_given(&o->tls) && tls_files_load(&o->tls, true, listen, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmgw-dataplane: %s\n", err);
        return -1;
    }
    if (tls_paths_given(&o->cp_tls) && tls_files_load(&o->cp_tls, false, cp, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmgw-dataplane: %s\n", err);
        tls_files_free(listen);
        return -1;
    }
    return 0;
}

/* The table file, with the local servers found when asked (local_discovery.h). */
static table_t *dp_load_table(const dp_options_t *o, char *err, size_t errlen)
{
    local_discovery_opts_t ld = {.enabled = o->discover_local,
                                 .ports = o->discover_local_ports,
                                 .skip_listen = {o->http_listen, o->listen}};
    return local_discovery_load_file(o->table_path, &ld, err, errlen);
}

/* A whole (small) file into *out (malloc'ed, NUL-terminated). 0 or -1. */
static int dp_read_file(const char *path, size_t cap, char **out, size_t *len, char *err,
                        size_t errlen)
{
    FILE *f = fopen(path, "rb");
    buf_t b = BUF_INIT(cap);
    char chunk[8192];
    size_t n;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_append(&b, chunk, n) < 0) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, cap);
            fclose(f);
            buf_free(&b);
            return -1;
        }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: read error", path);
        buf_free(&b);
        return -1;
    }
    *len = b.len;
    *out = buf_take(&b);
    if (!*out) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

static bool dp_wire_format_known(const char *name)
{
    return adapter_find(name) != NULL;
}

/* A hook's rewritten request, decoded as the HTTP door decodes a body. */
static int dp_decode_request(const char *json, size_t len, arena_t *a, Llmgw__V1__ChatRequest **out,
                             char *err, size_t errlen)
{
    http_chat_request_t cr = {0};
    if (http_chat_decode(json, len, a, &cr, err, errlen) < 0)
        return -1;
    *out = cr.req;
    return 0;
}

/* --extension PATH[:CONFIG_FILE] */
static int dp_load_cli_extension(const char *arg)
{
    char err[1024], path[4096];
    const char *colon = strchr(arg, ':');
    size_t plen = colon ? (size_t)(colon - arg) : strlen(arg);
    char *config = NULL;
    size_t clen = 0;
    if (plen == 0 || plen >= sizeof(path)) {
        fprintf(stderr, "llmgw-dataplane: --extension %s: expected PATH[:CONFIG_FILE]\n", arg);
        return -1;
    }
    memcpy(path, arg, plen);
    path[plen] = '\0';
    if (colon && dp_read_file(colon + 1, 1u << 20, &config, &clen, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmgw-dataplane: --extension %s: config: %s\n", arg, err);
        return -1;
    }
    ext_load_spec_t spec = {.path = path, .config_json = config};
    int rc = ext_loader_load(&spec, err, sizeof(err));
    free(config);
    if (rc < 0)
        fprintf(stderr, "llmgw-dataplane: --extension: %s\n", err);
    return rc;
}

/* The command line's extensions, then the table file's "extensions" (an
 * optional one that fails is logged and skipped). Before any thread starts:
 * the loader forks a probe per extension. Then the table may name their
 * wire formats. */
static int dp_load_extensions(const dp_options_t *o)
{
    char err[1024];
    table_set_wire_format_check(dp_wire_format_known);
    for (int i = 0; i < o->n_extensions; i++)
        if (dp_load_cli_extension(o->extensions[i]) < 0)
            return -1;
    if (!o->table_path)
        return 0;
    char *text = NULL;
    size_t len = 0;
    table_ext_list_t list;
    if (dp_read_file(o->table_path, 64u << 20, &text, &len, err, sizeof(err)) < 0)
        return 0; /* the table load reports it */
    int rc = table_ext_parse_text(text, len, &list, err, sizeof(err));
    free(text);
    if (rc < 0) {
        /* Before the providers are read: their wire formats may need these. */
        fprintf(stderr, "llmgw-dataplane: %s: %s\n", o->table_path, err);
        return -1;
    }
    for (size_t i = 0; i < list.n && rc == 0; i++) {
        const table_ext_t *e = &list.items[i];
        ext_load_spec_t spec = {
            .path = e->path, .config_json = e->config_json, .expect_name = e->name};
        if (ext_loader_load(&spec, err, sizeof(err)) == 0)
            continue;
        if (e->optional) {
            log_warn("optional extension not loaded; starting without it", "ext=%s error=\"%s\"",
                     e->name, err);
            continue;
        }
        fprintf(stderr, "llmgw-dataplane: extensions[%zu] (%s): %s\n", i, e->name, err);
        rc = -1;
    }
    table_ext_list_free(&list);
    return rc;
}

static void dp_reload(table_slot_t *slot, const dp_options_t *o)
{
    char err[512];
    const char *path = o->table_path;
    table_t *t = dp_load_table(o, err, sizeof(err));
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
    upstream_t *engine = NULL; /* gRPC, health probes, ensembles; HTTP loop 0 */
    upstream_t *http_engines[HTTP_API_MAX_LOOPS] = {0};
    table_slot_t *slot = NULL;
    pipeline_t *pl = NULL;
    gs_server_t *server = NULL;
    rpc_chat_t *chat = NULL;
    sync_t *node_sync = NULL;
    metrics_t *metrics = NULL;     /* live routing figures, by provider/model */
    discovery_t *discovery = NULL; /* models listed by each provider's /models */
    rpc_routing_t *routing = NULL;
    health_t *health = NULL; /* probe + discovery thread; stops before the engine */
    consistency_t *consistency = NULL;
    ensemble_service_t *ens = NULL;
    rpc_ensemble_t *rpc_ens = NULL;
    usage_stats_t *stats = NULL;
    http_api_t *http = NULL;
    cache_t *cache = NULL;
    usage_log_t *usage = NULL;     /* managed mode: usage records to the control plane */
    budget_lease_t *leases = NULL; /* managed mode: budget leases */
    tls_files_t listen_tls = {0}, cp_tls = {0};

    if (dp_parse_args(argc, argv, &o) < 0 || dp_load_tls(&o, &listen_tls, &cp_tls) < 0)
        return 2;
    if (cp_tls.ca_pem)
        o.managed.tls = &cp_tls;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Each HTTP stream holds two descriptors (client, provider). */
    long nofile = cli_raise_nofile();
    if (nofile >= 0 && nofile < 4096)
        log_warn("few descriptors: the hard limit caps concurrent connections", "nofile=%ld",
                 nofile);

    if (dp_load_extensions(&o) < 0) {
        ext_loader_unload_all();
        goto out_tls;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("cannot initialise libcurl", "%s", "");
        ext_loader_unload_all();
        goto out_tls;
    }
    table_t *t = NULL;
    if (o.table_path)
        t = dp_load_table(&o, err, sizeof(err));
    else if (!(node_sync = sync_start(&o.managed)))
        snprintf(err, sizeof(err), "cannot start the control-plane subscription");
    else /* the saved table, else the first pushed one (SIGTERM/SIGINT stop the wait) */
        t = sync_first_table(node_sync, o.managed.state_dir, &set, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "llmgw-dataplane: %s\n", err);
        goto out;
    }
    slot = table_slot_new(t);
    if (!slot) {
        table_unref(t);
        goto out;
    }
    sync_attach(node_sync, slot);
    engine = upstream_new();
    server = gs_server_new();
    if (!slot || !engine || !server || gs_health_register(server) < 0 ||
        gs_reflection_register(server) < 0)
        goto out;
    http_engines[0] = engine;
    for (int i = 1; i < o.http_threads; i++) {
        if (!(http_engines[i] = upstream_new()))
            goto out;
    }
    pl = pipeline_new(engine, slot);
    if (!pl || !(chat = rpc_chat_new(server, pl, slot)))
        goto out;
    pipeline_set_request_decoder(pl, dp_decode_request);
    if (!(metrics = metrics_new(NULL)) || !(discovery = discovery_new()) ||
        !(routing = rpc_routing_new(server, slot, metrics, discovery)))
        goto out;
    pipeline_set_routing(pl, metrics, discovery);
    rpc_chat_set_routing(chat, metrics, discovery);
    health_config_t health_cfg = {
        .engine = engine, .tables = slot, .metrics = metrics, .discovery = discovery};
    if (!(health = health_start(&health_cfg)))
        goto out;
    if (!(consistency = consistency_new()) ||
        !(ens = ensemble_service_new(pl, slot, consistency)) ||
        !(rpc_ens = rpc_ensemble_new(server, ens)))
        goto out;
    /* What ensembles observe about their members feeds the quality strategy. */
    pipeline_set_consistency(pl, consistency);
    rpc_routing_set_consistency(routing, consistency);
    if (!(stats = usage_stats_new()))
        goto out;
    pipeline_set_stats(pl, stats);
    if (o.cache_max_mib > 0) {
        if (!(cache = cache_new((size_t)o.cache_max_mib << 20, NULL, NULL)))
            goto out;
        pipeline_set_cache(pl, cache);
    }
    if (o.managed.target) {
        usage_log_config_t ucfg = {.target = o.managed.target,
                                   .node_id = o.managed.node_id,
                                   .state_dir = o.managed.state_dir,
                                   .token = o.managed.token,
                                   .tls = o.managed.tls};
        budget_lease_config_t bcfg = {.target = o.managed.target,
                                      .node_id = o.managed.node_id,
                                      .token = o.managed.token,
                                      .tls = o.managed.tls};
        if (!(usage = usage_log_start(&ucfg)) || !(leases = budget_lease_start(&bcfg, slot)))
            goto out;
        pipeline_set_meter(pl, usage, leases);
    } else if (table_n_budgets(t) > 0) {
        log_warn("budgets in a standalone table are not enforced (leases need a control plane)",
                 "budgets=%zu", table_n_budgets(t));
    }
    if (listen_tls.cert_pem) /* with a client CA, clients without a certificate are refused */
        gs_server_set_tls(server, &listen_tls, true);
    int port = gs_server_start(server, o.listen, o.threads, err, sizeof(err));
    if (port < 0) {
        fprintf(stderr, "llmgw-dataplane: %s\n", err);
        goto out;
    }
    http_api_config_t http_cfg = {
        .listen = o.http_listen,
        .pipeline = pl,
        .tables = slot,
        .stats = stats,
        .metrics = metrics,
        .ensembles = ens,
        .leases = leases,
        .usage_log = usage,
        .cache = cache,
        .engines = http_engines,
        .n_engines = (size_t)o.http_threads,
        .max_body_bytes = (size_t)o.http_max_body_bytes,
        .idle_timeout_s = o.http_idle_timeout_s,
        .tls = listen_tls.cert_pem ? &listen_tls : NULL,
    };
    http = http_api_start(&http_cfg, err, sizeof(err));
    if (!http) {
        fprintf(stderr, "llmgw-dataplane: %s\n", err);
        gs_server_shutdown(server, 0);
        goto out;
    }
    if (o.http_port_file && cli_write_port_file(o.http_port_file, http_api_port(http)) < 0) {
        log_error("cannot write the port file", "path=%s", o.http_port_file);
        gs_server_shutdown(server, 0);
        goto out;
    }
    gs_server_set_serving(server, true);
    if (o.port_file && cli_write_port_file(o.port_file, port) < 0) {
        log_error("cannot write the port file", "path=%s", o.port_file);
        gs_server_shutdown(server, 0);
        goto out;
    }
    log_info("listening", "addr=%s port=%d threads=%d table=%s tls=%s", o.listen, port,
             o.threads, o.table_path ? o.table_path : "(managed)",
             !listen_tls.cert_pem ? "off" : listen_tls.ca_pem ? "mtls" : "on");
    log_info("http listening", "addr=%s port=%d", o.http_listen, http_api_port(http));

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (o.table_path)
                dp_reload(slot, &o);
            continue;
        }
        log_info("shutting down", "signal=%d grace_ms=%d in_flight=%d", sig, o.grace_ms,
                 gs_server_active_calls(server));
        break;
    }
    /* Both front doors drain in the same grace period: HTTP stops
     * accepting first, its requests go on while gRPC drains. */
    int64_t stop_start_ms = clock_now_ms();
    http_api_quiesce(http);
    gs_server_set_serving(server, false);
    gs_server_shutdown(server, o.grace_ms);
    int64_t left_ms = o.grace_ms - (clock_now_ms() - stop_start_ms);
    http_api_stop(http, left_ms > 0 ? (int)left_ms : 0);
    http = NULL;
    log_info("stopped", "%s", "");
    rc = 0;
out:
    /* The server is down (or never started), so no call can reach the
     * pipeline; the engine goes last because calls finish through it. */
    sync_stop(node_sync); /* swaps into the slot: before table_slot_free */
    http_api_stop(http, 0);
    health_stop(health); /* its probes run on the engine: before upstream_free */
    if (server)
        gs_server_free(server);
    rpc_chat_free(chat);
    /* No request can end any more: the last records and leases go out. */
    budget_lease_stop(leases);
    usage_log_stop(usage, 2000);
    rpc_routing_free(routing);
    rpc_ensemble_free(rpc_ens);
    ensemble_service_free(ens);
    consistency_free(consistency);
    pipeline_free(pl);
    cache_free(cache);
    usage_stats_free(stats);
    for (int i = 1; i < HTTP_API_MAX_LOOPS; i++)
        upstream_free(http_engines[i]);
    if (engine)
        upstream_free(engine);
    if (slot)
        table_slot_free(slot);
    discovery_free(discovery);
    metrics_free(metrics);
    ext_loader_unload_all(); /* no request is left to run a hook */
    curl_global_cleanup();
out_tls:
    tls_files_free(&listen_tls);
    tls_files_free(&cp_tls);
    return rc;
}
