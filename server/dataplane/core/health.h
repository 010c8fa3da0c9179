/* health: active health probes and model discovery, on one background
 * thread.
 *
 * Every tick the thread walks the current table: a provider whose
 * health.interval_ms is due gets GET {base_url}{health.path} (default
 * "/models") through the upstream engine, with its auth and extra headers.
 * The verdict feeds metrics.c: after health.failures_to_down failed probes
 * in a row the provider is "down" and the breakers of its deployments are
 * forced open (requests skip it at zero attempts); the next successful
 * probe marks it healthy and moves those breakers to half-open, so real
 * traffic confirms the recovery. A successful GET of "/models" is also the
 * discovery listing (discovery.c); a provider with "discover": true whose
 * probe path is something else gets a separate GET /models on the same
 * interval.
 *
 * Thread model: one thread of our own for the schedule; the HTTP work runs
 * on the upstream engine thread (upstream_submit + on_done), at most one
 * probe per provider and kind in flight. health_stop cancels what is in
 * flight, waits for every on_done, and joins the thread — so it must run
 * before upstream_free. Provider state is keyed by name, so it survives
 * table reloads.
 */
#ifndef LLMGW_HEALTH_H
#define LLMGW_HEALTH_H

#include "discovery.h"
#include "metrics.h"
#include "table.h"
#include "upstream.h"

typedef struct health health_t;

typedef struct {
    upstream_t *engine;     /* borrowed; outlives the health_t */
    table_slot_t *tables;   /* borrowed */
    metrics_t *metrics;     /* borrowed; required */
    discovery_t *discovery; /* borrowed; may be NULL (no discovery) */
    int tick_ms;            /* schedule granularity; default 50 */
} health_config_t;

/* Starts the thread; the first probes go out at once. NULL on failure. */
health_t *health_start(const health_config_t *cfg);
/* Cancels probes in flight, waits for them, joins the thread, frees. NULL ok. */
void health_stop(health_t *h);

#endif
