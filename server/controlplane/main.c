/* llmgw-controlplane: the provider registry and routing-table distribution.
 *
 * Thread model: main blocks SIGTERM and SIGINT before any thread starts and
 * waits for them with sigwait. The gRPC completion-queue threads decode and
 * authorize calls, the worker pool (cp_work) runs PostgreSQL transactions,
 * the listener thread (cp_dist) turns NOTIFY into pushed tables and admin-token
 * reloads. Migrations, the first-start admin-token bootstrap and the first
 * token load run before the server listens (migrations alone with
 * --migrate-only).
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

#include "cli.h"
#include "cp.h"
#include "cp_analytics.h"
#include "cp_audit.h"
#include "cp_dist.h"
#include "cp_governance.h"
#include "cp_http.h"
#include "cp_registry.h"
#include "cp_tokens.h"
#include "cp_usage.h"
#include "grpc_health.h"
#include "grpc_reflection.h"
#include "log.h"
#include "migrate.h"
#include "tls.h"

#ifndef LLMGW_MIGRATIONS_DIR
#define LLMGW_MIGRATIONS_DIR "migrations"
#endif

typedef struct {
    const char *listen;
    const char *database_url;
    const char *migrations_dir;
    const char *admin_token_file;
    const char *master_key_file;
    const char *port_file;
    const char *http_listen;
    const char *http_port_file;
    int threads;
    int workers;
    int grace_ms;
    int migrate_only;
    cp_analytics_config_t metrics;
    tls_paths_t tls; /* --tls-cert, --tls-key, --tls-client-ca */
    bool insecure_dev;
} cpm_options_t;

static void cpm_usage(FILE *f)
{
    fprintf(f,
            "usage: llmgw-controlplane --database-url URL [options]\n"
            "\n"
            "  --database-url URL       libpq connection string or URI (or LLMGW_DATABASE_URL)\n"
            "  --listen HOST:PORT       gRPC address (default 127.0.0.1:50052; port 0: any free)\n"
            "  --migrations-dir DIR     migrations/NNNN_name.sql (default " LLMGW_MIGRATIONS_DIR
            ")\n"
            "  --migrate-only           apply pending migrations and exit\n"
            "  --admin-token-file PATH  first start only: the bootstrap admin token (first\n"
            "                           line) when LLMGW_BOOTSTRAP_TOKEN and LLMGW_ADMIN_TOKEN\n"
            "                           are unset; with none, a one-time token is printed\n"
            "  --master-key-file PATH   32-byte key, hex or base64, sealing provider API keys\n"
            "                           (or LLMGW_MASTER_KEY)\n"
            "  --threads N              completion-queue threads (default 1; 1..64)\n"
            "  --workers N              database worker threads and connections (default 4)\n"
            "  --grace-ms N             on SIGTERM, how long calls may finish (default 5000)\n"
            "  --port-file PATH         write the bound gRPC port to PATH once listening\n"
            "  --metrics-rollup-hours N merge metric minutes older than N hours into hour rows\n"
            "                           (default 48; 0: every minute that has ended)\n"
            "  --metrics-retention-days N  delete metric rows older than N days (default 90)\n"
            "  --metrics-maintenance-ms N  how often rollup and retention run (default 60000)\n"
            "  --http-listen HOST:PORT  also serve the web console and its JSON admin API\n"
            "                           (docs/console.md; port 0: any free)\n"
            "  --http-port-file PATH    write the bound console port to PATH once listening\n"
            "  --tls-cert FILE          PEM certificate chain of the gRPC and console listeners\n"
            "  --tls-key FILE           its PEM private key\n"
            "  --tls-client-ca FILE     PEM CA that data planes' client certificates chain to\n"
            "                           (mTLS: data-plane methods need one; admins use tokens)\n"
            "  --insecure-dev           allow plaintext and data planes without certificates;\n"
            "                           without it the three --tls flags are required, since\n"
            "                           pushed tables carry provider secrets (docs/tls.md)\n"
            "  --log-level LEVEL        debug, info, warn or error (default info)\n"
            "  --help                   this text\n");
}

static int cpm_parse(int argc, char **argv, cpm_options_t *o)
{
    static const struct option longopts[] = {
        {"database-url", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"migrations-dir", required_argument, NULL, 'm'},
        {"migrate-only", no_argument, NULL, 'M'},
        {"admin-token-file", required_argument, NULL, 'a'},
        {"master-key-file", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 'n'},
        {"workers", required_argument, NULL, 'w'},
        {"grace-ms", required_argument, NULL, 'g'},
        {"port-file", required_argument, NULL, 'p'},
        {"http-listen", required_argument, NULL, 'H'},
        {"http-port-file", required_argument, NULL, 'P'},
        {"log-level", required_argument, NULL, 'v'},
        {"metrics-rollup-hours", required_argument, NULL, 'R'},
        {"metrics-retention-days", required_argument, NULL, 'D'},
        {"metrics-maintenance-ms", required_argument, NULL, 'T'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'K'},
        {"tls-client-ca", required_argument, NULL, 'A'},
        {"insecure-dev", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    o->listen = "127.0.0.1:50052";
    o->tls.cert_flag = "--tls-cert";
    o->tls.key_flag = "--tls-key";
    o->tls.ca_flag = "--tls-client-ca";
    o->migrations_dir = LLMGW_MIGRATIONS_DIR;
    o->threads = 1;
    o->workers = 4;
    o->grace_ms = 5000;
    o->metrics.rollup_hours = CP_ANALYTICS_ROLLUP_HOURS;
    o->metrics.retention_days = CP_ANALYTICS_RETENTION_DAYS;
    o->metrics.maint_ms = CP_ANALYTICS_MAINT_MS;
    o->database_url = getenv("LLMGW_DATABASE_URL");
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->database_url = optarg;
            break;
        case 'l':
            o->listen = optarg;
            break;
        case 'm':
            o->migrations_dir = optarg;
            break;
        case 'M':
            o->migrate_only = 1;
            break;
        case 'a':
            o->admin_token_file = optarg;
            break;
        case 'k':
            o->master_key_file = optarg;
            break;
        case 'n':
            if (cli_parse_int("llmgw-controlplane", "--threads", optarg, 1, 64, &o->threads) < 0)
                return -1;
            break;
        case 'w':
            if (cli_parse_int("llmgw-controlplane", "--workers", optarg, 1, 64, &o->workers) < 0)
                return -1;
            break;
        case 'g':
            if (cli_parse_int("llmgw-controlplane", "--grace-ms", optarg, 0, 3600000,
                              &o->grace_ms) < 0)
                return -1;
            break;
        case 'p':
            o->port_file = optarg;
            break;
        case 'R':
            if (cli_parse_int("llmgw-controlplane", "--metrics-rollup-hours", optarg, 0, 24 * 366,
                              &o->metrics.rollup_hours) < 0)
                return -1;
            break;
        case 'D':
            if (cli_parse_int("llmgw-controlplane", "--metrics-retention-days", optarg, 1, 3660,
                              &o->metrics.retention_days) < 0)
                return -1;
            break;
        case 'T':
            if (cli_parse_int("llmgw-controlplane", "--metrics-maintenance-ms", optarg, 100,
                              86400000, &o->metrics.maint_ms) < 0)
                return -1;
            break;
        case 'H':
            o->http_listen = optarg;
            break;
        case 'c':
            o->tls.cert = optarg;
            break;
        case 'K':
            o->tls.key = optarg;
            break;
        case 'A':
            o->tls.ca = optarg;
            break;
        case 'I':
            o->insecure_dev = true;
            break;
        case 'P':
            o->http_port_file = optarg;
            break;
        case 'v': {
            int level = log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr,
                        "llmgw-controlplane: --log-level: expected debug, info, warn or error\n");
                return -1;
            }
            log_set_level((log_level_t)level);
            break;
        }
        case 'h':
            cpm_usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "llmgw-controlplane: %s: unknown option or missing value\n",
                    argv[optind - 1]);
            cpm_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "llmgw-controlplane: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->http_port_file && !o->http_listen) {
        fprintf(stderr, "llmgw-controlplane: --http-port-file: needs --http-listen\n");
        return -1;
    }
    /* The routing tables it pushes carry provider API keys. */
    if (!o->insecure_dev && !o->migrate_only && (!o->tls.cert || !o->tls.ca)) {
        fprintf(stderr, "llmgw-controlplane: %s: required: data planes receive provider secrets "
                        "only over mTLS (--tls-cert, --tls-key, --tls-client-ca); "
                        "--insecure-dev allows plaintext for development\n",
                o->tls.cert ? "--tls-client-ca" : "--tls-cert");
        return -1;
    }
    if (!o->database_url || !*o->database_url) {
        fprintf(stderr, "llmgw-controlplane: --database-url: required (or LLMGW_DATABASE_URL)\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    cpm_options_t o = {0};
    cp_t cp = {0};
    cp_analytics_t *analytics = NULL;
    cp_http_t *http = NULL;
    char err[1024];
    int rc = 1, applied = 0;
    store_err_t se = {0};
    tls_files_t tls = {0};

    if (cpm_parse(argc, argv, &o) < 0)
        return 2;
    if (tls_paths_given(&o.tls) && tls_files_load(&o.tls, true, &tls, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmgw-controlplane: %s\n", err);
        return 2;
    }
    /* The console's listener asks browsers for no certificate. */
    tls_files_t console_tls = {.cert_pem = tls.cert_pem, .key_pem = tls.key_pem};
    cp.node_cert_required = tls.ca_pem && !o.insecure_dev;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "llmgw-controlplane: cannot initialise libcurl\n");
        tls_files_free(&tls);
        return 1;
    }
    if (migrate_run(o.database_url, o.migrations_dir, &applied, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmgw-controlplane: %s\n", err);
        goto out;
    }
    log_info("migrations up to date", "applied_now=%d dir=%s", applied, o.migrations_dir);
    if (o.migrate_only) {
        rc = 0;
        goto out;
    }

    if (secret_key_load(o.master_key_file, &cp.key, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmgw-controlplane: %s\n", err);
        goto out;
    }
    if (!(cp.pool = pg_pool_new(o.database_url, o.workers, &se))) {
        fprintf(stderr, "llmgw-controlplane: %s\n", se.msg);
        goto out;
    }
    if (!(cp.work = cp_work_new(o.workers)) || !(cp.auth = cp_auth_new(cp.pool, cp.work))) {
        fprintf(stderr, "llmgw-controlplane: cannot start (out of memory or threads)\n");
        goto out;
    }
    /* The token set is loaded before the server listens: no call races it. */
    if (cp_tokens_bootstrap(&cp, o.admin_token_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "llmgw-controlplane: %s\n", err);
        goto out;
    }
    if (cp_auth_refresh(cp.auth, &se) < 0) {
        fprintf(stderr, "llmgw-controlplane: admin tokens: %s\n", se.msg);
        goto out;
    }
    log_info("admin tokens loaded", "active=%zu", cp_auth_count(cp.auth));
    if (o.http_listen && !(cp.events = cp_console_events_new())) {
        fprintf(stderr, "llmgw-controlplane: cannot start (out of memory)\n");
        goto out;
    }
    if (!(cp.server = gs_server_new()) || gs_health_register(cp.server) < 0 ||
        gs_reflection_register(cp.server) < 0 || cp_registry_register(&cp) < 0 ||
        cp_governance_register(&cp) < 0 || cp_audit_register(&cp) < 0 ||
        cp_usage_register(&cp) < 0 || cp_tokens_register(&cp) < 0 ||
        cp_analytics_register(&cp) < 0 || !(analytics = cp_analytics_start(&cp, &o.metrics)) ||
        !(cp.dist = cp_dist_start(&cp))) {
        fprintf(stderr, "llmgw-controlplane: cannot start (out of memory or threads)\n");
        goto out;
    }
    if (tls.cert_pem)
        gs_server_set_tls(cp.server, &tls, false);
    int port = gs_server_start(cp.server, o.listen, o.threads, err, sizeof(err));
    if (port < 0) {
        fprintf(stderr, "llmgw-controlplane: %s\n", err);
        goto out;
    }
    gs_server_set_serving(cp.server, true);
    if (o.port_file && cli_write_port_file(o.port_file, port) < 0) {
        log_error("cannot write the port file", "path=%s", o.port_file);
        cp_dist_stop(cp.dist);
        gs_server_shutdown(cp.server, 0);
        goto out;
    }
    log_info("listening", "addr=%s port=%d workers=%d tls=%s", o.listen, port, o.workers,
             !tls.cert_pem ? "off (--insecure-dev)" : cp.node_cert_required ? "mtls" : "on");
    if (o.http_listen) {
        int http_port = 0;
        if (!(http = cp_http_start(&cp, cp.events, o.http_listen,
                                   tls.cert_pem ? &console_tls : NULL, &http_port, err,
                                   sizeof(err)))) {
            fprintf(stderr, "llmgw-controlplane: %s\n", err);
            cp_dist_stop(cp.dist);
            gs_server_shutdown(cp.server, 0);
            goto out;
        }
        if (o.http_port_file && cli_write_port_file(o.http_port_file, http_port) < 0) {
            log_error("cannot write the port file", "path=%s", o.http_port_file);
            cp_http_stop(http);
            http = NULL;
            cp_dist_stop(cp.dist);
            gs_server_shutdown(cp.server, 0);
            goto out;
        }
        log_info("console listening", "addr=%s port=%d", o.http_listen, http_port);
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) == 0)
            break;
    }
    log_info("shutting down", "grace_ms=%d", o.grace_ms);
    gs_server_set_serving(cp.server, false);
    cp_http_stop(http); /* before the workers go: a console call may be on one */
    http = NULL;
    cp_dist_stop(cp.dist);
    gs_server_shutdown(cp.server, o.grace_ms);
    log_info("stopped", "%s", "");
    rc = 0;
out:
    cp_analytics_stop(analytics);
    if (cp.server)
        gs_server_free(cp.server);
    cp_work_free(cp.work);
    cp_dist_free(cp.dist);
    pg_pool_free(cp.pool);
    cp_auth_free(cp.auth);
    cp_console_events_free(cp.events);
    curl_global_cleanup();
    tls_files_free(&tls);
    return rc;
}
