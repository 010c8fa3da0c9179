/* usage_log: every finished request as one usage record, sent to the control
 * plane in batches (UsageService.ReportUsage) so that nothing is lost.
 *
 * Thread model: usage_log_record runs on any request thread: it encodes the
 * record (a few hundred bytes) and appends it to the pending buffer under
 * one mutex — no I/O, no network. One sender thread (usage_log_start) turns
 * pending records into numbered batches (node id, epoch = the start time in
 * µs, seq 1, 2, …) every flush interval or every batch_max records, and
 * sends the oldest unacknowledged batch until the control plane ACKs it.
 *
 * Invariants: batches are sent and acknowledged strictly in (epoch, seq)
 * order; a batch leaves memory/disk only when ACKed (a re-sent batch is
 * ACKed by the control plane without being stored twice). While the control
 * plane is away every unacknowledged batch is spilled to
 * <state-dir>/usage/ (usage_spill.h: write, fsync, rename) and only its name
 * stays in memory; at stop the rest is spilled; at start the spilled batches
 * are queued first. Bounds: pending records USAGE_LOG_PENDING_MAX_BYTES,
 * batches kept in memory without a state dir USAGE_LOG_MEM_BYTES_MAX,
 * spilled batches USAGE_LOG_SPILL_MAX; past a bound new records are dropped
 * and counted (usage_log_stats, a log line) — never silently. A batch the
 * control plane refuses as invalid (INVALID_ARGUMENT, or a seq gap) is kept
 * as "<file>.rejected" and the next one goes on.
 */
#ifndef LLMGW_USAGE_LOG_H
#define LLMGW_USAGE_LOG_H

#include <stdint.h>

#include "tls.h"

#define USAGE_LOG_BATCH_MAX 1000
#define USAGE_LOG_FLUSH_MS 1000
#define USAGE_LOG_PENDING_MAX_BYTES (64u << 20)
#define USAGE_LOG_MEM_BYTES_MAX (256u << 20)
#define USAGE_LOG_SPILL_MAX 100000

typedef struct usage_log usage_log_t;

/* PII redacted from one request's prompt, per kind (the ENFORCE stream's
 * redaction fills it; zeros when nothing was redacted). */
typedef struct {
    uint32_t emails, phones, cards, ibans;
} usage_redactions_t;

typedef struct {
    const char *request_id; /* NULL or "": one is made ("<epoch hex>-<n>") */
    const char *key, *team, *route, *provider, *model; /* NULL as "" */
    int64_t prompt_tokens, completion_tokens;
    double cost_usd;
    int64_t latency_ms;
    int status; /* gRPC code */
    usage_redactions_t redacted;
    int64_t unix_ms; /* 0: now */
} usage_record_t;

typedef struct {
    const char *target;    /* control plane HOST:PORT */
    const char *node_id;   /* as in sync_config_t */
    const char *state_dir; /* NULL: no spill (batches only in memory) */
    const char *token;     /* NULL: LLMGW_CONTROL_PLANE_TOKEN */
    int flush_ms;          /* 0: USAGE_LOG_FLUSH_MS */
    int batch_max;         /* 0: USAGE_LOG_BATCH_MAX */
    const tls_files_t *tls; /* as in sync_config_t; NULL: plaintext */
} usage_log_config_t;

typedef struct {
    uint64_t recorded; /* records taken */
    uint64_t acked;    /* records acknowledged by the control plane (this run) */
    uint64_t dropped;  /* records refused past a bound */
    uint64_t rejected; /* batches the control plane refused as invalid */
    uint64_t queued;   /* batches waiting for an ACK */
    uint64_t spilled;  /* of them, on disk */
} usage_log_stats_t;

/* Strings copied. Spilled batches of an earlier run are queued first. NULL
 * when the thread or memory cannot be had, or state_dir/usage cannot be made. */
usage_log_t *usage_log_start(const usage_log_config_t *cfg);
/* Any thread; never blocks on I/O. NULL l: no-op. */
void usage_log_record(usage_log_t *l, const usage_record_t *r);
void usage_log_stats(usage_log_t *l, usage_log_stats_t *out);
/* The metric snapshots (usage_metrics.h) that travel with this log's
 * batches; borrowed, valid until usage_log_stop. NULL for a NULL log. */
typedef struct usage_metrics usage_metrics_t;
usage_metrics_t *usage_log_metrics(usage_log_t *l);
/* Sends what it can within grace_ms, spills the rest, stops and frees.
 * Safe with NULL. */
void usage_log_stop(usage_log_t *l, int grace_ms);

#endif
