/* http_api: the OpenAI-compatible HTTP front door (libmicrohttpd).
 *
 * Feeds the same pipeline as the gRPC front door: chat completions (JSON and
 * SSE), completions and embeddings (PL_KIND_RAW), plus the read-only gateway
 * endpoints, /metrics, /healthz and /readyz. See docs/http-api.md.
 *
 * Thread model: MHD's epoll thread pool runs the handlers. A request waiting
 * for the pipeline is suspended (it holds no thread); the pipeline's
 * callbacks (engine thread) store the answer and resume it, and the MHD
 * thread queues the response. A stream's bytes go through a per-request
 * buffer under the request's mutex; the content reader suspends when it is
 * empty and the producer resumes it.
 *
 * Ownership: every borrowed pointer in the config outlives the front door;
 * http_api_stop must run before the pipeline and the engine are freed.
 */
#ifndef LLMGW_HTTP_API_H
#define LLMGW_HTTP_API_H

#include <stddef.h>

#include "metrics.h"
#include "pipeline.h"
#include "table.h"
#include "usage_stats.h"

typedef struct http_api http_api_t;

typedef struct {
    const char *listen;    /* "HOST:PORT" (IPv4, [IPv6] or localhost); port 0 picks one */
    pipeline_t *pipeline;  /* borrowed */
    table_slot_t *tables;  /* borrowed */
    usage_stats_t *stats;  /* borrowed; may be NULL (no analytics / request metrics) */
    metrics_t *metrics;    /* borrowed; may be NULL (no live per-deployment figures) */
    upstream_t *engine;    /* borrowed; may be NULL (for the upstream in-flight gauge) */
    int threads;           /* MHD thread pool size; 0: 1 */
    size_t max_body_bytes; /* request body cap (413 past it); 0: 8 MiB */
    int idle_timeout_s;    /* idle or stalled connection timeout; 0: 30 */
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
