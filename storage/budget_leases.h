/* budget_leases: slices of a budget granted to data-plane nodes (table
 * `budget_leases`) and the spend of a budget in its current period.
 *
 * Invariants (docs/usage.md): a grant never exceeds what is left, where what
 * is left = limit - max(stored usage in the period, closed leases' reported
 * spend) - open leases' grants, so grants in one period sum to at most the
 * limit and the spend of N nodes exceeds it by at most what requests in
 * flight overshoot their node's lease. A lease is open until the node returns
 * it (its reported spend) or it expires (then counted as fully spent). Grants
 * of one budget are serialized by a row lock on the budget. A soft budget
 * whose spend crossed its limit gets one budget_alerts row and one audit row
 * per period. Every function runs inside the caller's transaction; now is
 * the caller's clock (injectable for tests).
 */
#ifndef LLMGW_BUDGET_LEASES_H
#define LLMGW_BUDGET_LEASES_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "audit.h"
#include "budgets.h"
#include "store.h"

#define BUDGET_LEASES_TTL_MS 30000
#define BUDGET_LEASES_MAX_FRACTION 0.05 /* of the limit, per lease */

/* The size of the next grant: at most BUDGET_LEASES_MAX_FRACTION of the
 * limit, and at most what is left split over twice the nodes holding leases
 * (n_holders, the asking node included), so grants shrink as the budget nears
 * exhaustion; a remainder under 0.1% of the limit is granted whole. 0 when
 * nothing is left. Pure. */
double budget_leases_size(double limit_usd, double available_usd, int n_holders);

typedef struct {
    const char *node_id;
    const char *budget;
    int64_t previous_lease_id; /* 0: none */
    double previous_spent_usd;
    int64_t now_unix_ms;
} budget_leases_ask_t;

typedef struct {
    int64_t lease_id; /* 0: nothing granted */
    double granted_usd;
    int64_t ttl_ms;
    int64_t period_start_unix_ms, period_end_unix_ms; /* end 0: never */
    double limit_usd, spent_usd;
    bool hard;
    bool soft_exceeded;
    bool soft_crossed_now; /* this call recorded the crossing (audit row written) */
} budget_leases_grant_t;

/* Closes the previous lease (when given), expires overdue ones and grants a
 * new lease. STORE_NOT_FOUND for an unknown budget. */
int budget_leases_acquire(PGconn *c, const audit_actor_t *who, const budget_leases_ask_t *ask,
                          budget_leases_grant_t *out, store_err_t *e);
/* Closes an open lease of node_id with its spend; *closed false when it was
 * not open (returned before, expired, unknown). */
int budget_leases_return(PGconn *c, const char *node_id, int64_t lease_id, double spent_usd,
                         int64_t now_unix_ms, bool *closed, store_err_t *e);

typedef struct {
    double spent_usd;  /* stored usage in the period */
    double leased_usd; /* open grants not yet reported */
    int64_t period_start_unix_ms, period_end_unix_ms;
} budget_leases_status_t;

/* Spend of budget b in the period holding now. */
int budget_leases_status(PGconn *c, const budgets_budget_t *b, int64_t now_unix_ms,
                         budget_leases_status_t *out, store_err_t *e);

#endif
