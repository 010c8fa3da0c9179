/* http_api: the OpenAI-compatible HTTP front door (libmicrohttpd).
 *
 * Feeds the same pipeline as the gRPC front door: chat completions (JSON and
 * SSE), completions and embeddings (PL_KIND_RAW), ensembles (ensemble.h),
 * plus the read-only gateway
 * endpoints, /metrics, /healthz and /readyz. See docs/http-api.md.
 *
 * Thread model: each upstream engine's thread runs one daemon (MHD without
 * a thread of its own, as the engine's guest); with several loops each
 * binds the address with SO_REUSEPORT and the kernel spreads connections. A request waiting for the
 * pipeline is suspended (it holds no thread); the pipeline's callbacks, on
 * the same thread, store the answer and resume it, and the daemon's next
 * turn queues the response. No wake-up of another thread on the way. A stream's bytes go through a
 * per-request buffer under the request's mutex; the content reader suspends when it is empty and
 * the producer resumes it.
 *
 * Ownership: every borrowed pointer in the config outlives the front door;
 * http_api_stop must run before the pipeline and the engine are freed.
 */
#ifndef LLMGW_HTTP_API_H
#define LLMGW_HTTP_API_H

#include <stddef.h>

#include "ensemble.h"
#include "metrics.h"
#include "pipeline.h"
#include "table.h"
#include "tls.h"
#include "usage_stats.h"

typedef struct http_api http_api_t;

#define HTTP_API_MAX_LOOPS 64

typedef struct {
    const char *listen;            /* "HOST:PORT" (IPv4, [IPv6] or localhost); port 0 picks one */
    pipeline_t *pipeline;          /* borrowed */
    table_slot_t *tables;          /* borrowed */
    usage_stats_t *stats;          /* borrowed; may be NULL (no analytics / request metrics) */
    metrics_t *metrics;            /* borrowed; may be NULL (no live per-deployment figures) */
    ensemble_service_t *ensembles; /* borrowed; NULL: POST /v1/ensembles answers 404 */
    budget_lease_t *leases;        /* borrowed; may be NULL: budget figures on /metrics */
    usage_log_t *usage_log;        /* borrowed; may be NULL: usage delivery figures on /metrics */
    cache_t *cache;                /* borrowed; may be NULL: response cache figures on /metrics */
    /* Borrowed: one event loop per engine, each engine's thread running one
     * daemon and the upstream calls of its requests (and feeding the
     * in-flight gauge). 1..HTTP_API_MAX_LOOPS. */
    upstream_t *const *engines;
    size_t n_engines;
    size_t max_body_bytes; /* request body cap (413 past it); 0: 8 MiB */
    int idle_timeout_s;    /* idle or stalled connection timeout; 0: 30 */
    /* Borrowed; NULL: plaintext. HTTPS with tls->cert_pem / key_pem; with
     * tls->ca_pem every client must present a certificate chaining to it. */
    const tls_files_t *tls;
} http_api_config_t;

/* Binds and starts serving. NULL with err filled. */
http_api_t *http_api_start(const http_api_config_t *cfg, char *err, size_t errlen);
/* The bound port. */
int http_api_port(const http_api_t *h);
/* Stops accepting connections; requests in flight go on. */
void http_api_quiesce(http_api_t *h);
/* Lets requests in flight finish for up to grace_ms, cancels the rest, stops
 * the daemon and frees everything. NULL is a no-op. */
void http_api_stop(http_api_t *h, int grace_ms);

#endif
