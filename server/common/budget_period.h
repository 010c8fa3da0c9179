/* budget_period: the UTC boundaries of a budget's period, shared by both
 * planes (the control plane sums spend and grants leases per period; a node
 * drops a lease when its period ends).
 *
 * Periods: "daily" from 00:00 UTC, "weekly" from Monday 00:00 UTC (ISO
 * weeks), "monthly" from the 1st 00:00 UTC, "total" from the epoch and never
 * ending. Pure functions of their arguments; thread-safe.
 */
#ifndef LLMGW_BUDGET_PERIOD_H
#define LLMGW_BUDGET_PERIOD_H

#include <stdbool.h>
#include <stdint.h>

/* True for "daily", "weekly", "monthly", "total". */
bool budget_period_valid(const char *period);
/* The period holding now_unix_ms: [*start, *end) in Unix ms; for "total"
 * *start = 0 and *end = 0 (no end). -1 for an unknown period or an instant
 * before 1970 or past 9999. */
int budget_period_bounds(const char *period, int64_t now_unix_ms, int64_t *start_unix_ms,
                         int64_t *end_unix_ms);

#endif
