/* prom: the data plane's figures in Prometheus' text exposition format
 * (version 0.0.4), for GET /metrics.
 *
 * Families (all prefixed llmgw_, base units, counters end in _total):
 * requests, latency histogram, attempts and fallbacks, tokens and cost by
 * route / provider / model / status from usage_stats; in-flight requests;
 * table version; and, with live metrics, per-deployment breaker state,
 * in-flight attempts and provider health. Every family has HELP and TYPE
 * lines and label values are escaped as the format requires.
 */
#ifndef LLMGW_PROM_H
#define LLMGW_PROM_H

#include "buf.h"
#include "http_gw.h"

/* The content type of the exposition. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the whole exposition to out. 0, or -1 when out is full / no memory. */
int prom_write(const http_gw_view_t *v, buf_t *out);

#endif
