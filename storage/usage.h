/* usage: the stored usage of data-plane requests (table `usage_events`,
 * partitioned by month) and the per-node batch sequence that makes ingestion
 * exactly-once (table `node_usage_seq`).
 *
 * Invariants: a batch (node_id, epoch, seq) is stored at most once, in the
 * transaction that advances node_usage_seq.last_seq to seq; only the next seq
 * (last_seq + 1) is stored, a lower one is a duplicate (acknowledged, nothing
 * inserted), a higher one a gap (refused). Records are checked field by field
 * (usage_check_batch) before any SQL, so a batch is stored whole or not at all.
 * Rows go in with COPY (one round trip per batch).
 */
#ifndef LLMGW_USAGE_H
#define LLMGW_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "llmgw/v1/usage.pb-c.h"
#include "store.h"

#define USAGE_BATCH_MAX 10000
#define USAGE_MIN_UNIX_MS 1577836800000LL /* 2020-01-01 */

typedef enum {
    USAGE_STORED = 0,
    USAGE_DUPLICATE,    /* stored before; nothing inserted */
    USAGE_GAP,          /* seq is not last_seq + 1: msg says which was expected */
    USAGE_UNKNOWN_NODE, /* node_id never subscribed */
} usage_outcome_t;

typedef struct {
    usage_outcome_t outcome;
    int64_t acked_seq; /* the last stored seq of (node, epoch) */
    char msg[256];     /* for GAP / UNKNOWN_NODE, naming the field */
} usage_ingest_result_t;

/* Field checks of a request before any SQL, now_unix_ms bounding the
 * records' times (at most a day ahead). 0, or -1 with err naming the field
 * ("records[3].cost_usd: expected a finite number >= 0"). */
int usage_check_batch(const Llmgw__V1__ReportUsageRequest *r, int64_t now_unix_ms, char *err,
                      size_t errlen);
/* Makes sure the month partitions for the records' times exist (autocommit,
 * outside the ingest transaction). Remembers months already made in this
 * process. Thread-safe. */
/* True when every record's month partition is known to exist (no SQL). */
bool usage_partitions_cached(const Llmgw__V1__ReportUsageRequest *r);
int usage_ensure_partitions(PGconn *c, const Llmgw__V1__ReportUsageRequest *r, store_err_t *e);
/* Inside the caller's transaction: decides by node_usage_seq and stores the
 * records when the batch is the next one. 0 with *res filled, or -1 with e. */
int usage_ingest(PGconn *c, const Llmgw__V1__ReportUsageRequest *r, usage_ingest_result_t *res,
                 store_err_t *e);

/* Totals grouped by `by` ("team", "key", "provider", "model") over
 * [since, until); out->rows malloc'd (free with the message). */
int usage_report(PGconn *c, const char *by, int64_t since_unix_ms, int64_t until_unix_ms,
                 Llmgw__V1__UsageReportResponse *out, store_err_t *e);
/* Stored spend of a budget target from since_unix_ms on (scope "org" counts
 * everything; "team", "key", "provider" the target's rows). */
int usage_spend(PGconn *c, const char *scope, const char *target, int64_t since_unix_ms,
                double *spent_usd, store_err_t *e);

#endif
