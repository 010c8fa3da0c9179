/* budget_lease: this node's leases on the budgets of the routing table
 * (docs/usage.md). A request that a hard budget applies to is admitted only
 * while the node holds a lease on it with something left; its cost is
 * charged to the leases of every budget it falls under. No control-plane
 * call on the request path: admit and charge take one mutex and touch
 * memory only.
 *
 * Thread model: one background thread (budget_lease_start) follows the
 * table slot (every 100 ms, or at once when a request finds a budget it has
 * no lease for or a lease half spent) and talks to the control plane
 * (UsageService.AcquireLease / ReturnLease): it asks for a lease for each
 * budget, renews one when half of it is spent or two thirds of its time has
 * passed (reporting its spend), gives back the leases of budgets that left
 * the table and, at stop, every lease. Admit/charge run on request threads.
 *
 * Invariants: a node spends at most its lease plus what requests admitted
 * while something was left overshoot it (their cost is known only at the
 * end). When the control plane is away the node keeps its last leases and
 * spends what is left of them (an expired lease was already counted as spent
 * in full by the control plane); without a lease a hard budget refuses with
 * RESOURCE_EXHAUSTED "budget '<name>' …". A soft budget never refuses: when
 * the control plane reports it crossed, a warn line is logged once and the
 * crossing is counted (budget_lease_foreach).
 */
#ifndef LLMGW_BUDGET_LEASE_H
#define LLMGW_BUDGET_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "table.h"
#include "tls.h"

typedef struct budget_lease budget_lease_t;

typedef struct {
    const char *target;  /* control plane HOST:PORT */
    const char *node_id; /* as in sync_config_t */
    const char *token;   /* NULL: LLMGW_CONTROL_PLANE_TOKEN */
    const tls_files_t *tls; /* as in sync_config_t; NULL: plaintext */
} budget_lease_config_t;

/* Follows `slot` (borrowed; outlives the module). NULL on failure. */
budget_lease_t *budget_lease_start(const budget_lease_config_t *cfg, table_slot_t *slot);
/* Gives the leases back and stops; safe with NULL. */
void budget_lease_stop(budget_lease_t *bl);

/* True when budget b covers a request of key (NULL: no key; its team) served
 * by provider ("" when unknown). Pure. */
bool budget_lease_applies(const table_budget_t *b, const table_key_t *key, const char *provider);
/* 0 when every hard budget of t covering the request has lease left, else -1
 * with err "budget 'name' exhausted: …" / "budget 'name': no lease …". NULL
 * bl admits everything. */
int budget_lease_admit(budget_lease_t *bl, const table_t *t, const table_key_t *key,
                       const char *provider, char *err, size_t errlen);
/* Adds a finished request's cost to the leases of the budgets covering it. */
void budget_lease_charge(budget_lease_t *bl, const table_t *t, const table_key_t *key,
                         const char *provider, double cost_usd);

typedef struct {
    const char *name; /* valid during the callback */
    bool hard;
    bool leased;        /* a lease with something left */
    double granted_usd; /* of the current lease */
    double spent_usd;   /* of it */
    uint64_t refusals;  /* requests refused on this budget */
    uint64_t soft_crossings;
} budget_lease_info_t;

/* One call per budget known to the node, under the module's mutex (the
 * callback must not call back in). */
void budget_lease_foreach(budget_lease_t *bl, void (*fn)(void *ud, const budget_lease_info_t *i),
                          void *ud);

#endif
