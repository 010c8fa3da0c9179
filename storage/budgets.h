/* budgets: spending limits (table `budgets`) for the whole organisation, a
 * team, an API key or a provider, per period.
 *
 * Invariants: a budget names exactly the target its scope needs ("" for
 * org) and there is at most one budget per target and period; a hard budget
 * refuses requests past its limit, a soft one only alerts (enforced by the
 * data planes, later). Every change runs inside the caller's transaction
 * and appends its audit row there. A budget goes when its target does.
 * Storage only: the GovernanceService RPCs come with the governance issue.
 */
#ifndef LLMGW_BUDGETS_H
#define LLMGW_BUDGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "audit.h"
#include "store.h"

#define BUDGETS_LIMIT_MAX_USD 1e9

typedef struct {
    char name[72];    /* [A-Za-z0-9._-]{1,64} */
    char scope[12];   /* "org", "team", "key", "provider" */
    char target[72];  /* the team, key or provider name; "" for org */
    char period[12];  /* "daily", "weekly", "monthly", "total" */
    double limit_usd; /* > 0, at most BUDGETS_LIMIT_MAX_USD, 4 decimals kept */
    bool hard;        /* refuse past the limit (else only alert) */
    int64_t created_unix_ms, updated_unix_ms; /* output only */
} budgets_budget_t;

/* Field checks before any SQL: 0, or -1 with e (STORE_INVALID) naming the
 * field ("budget.limit_usd: expected a number > 0"). */
int budgets_validate(const budgets_budget_t *b, store_err_t *e);
/* STORE_CONFLICT for a taken name or a second budget of one target and
 * period; STORE_INVALID "budget.target: team 'x' does not exist". */
int budgets_insert(PGconn *c, const audit_actor_t *who, const budgets_budget_t *b, store_err_t *e);
/* Replaces every setting of budget b->name. STORE_NOT_FOUND when absent. */
int budgets_update(PGconn *c, const audit_actor_t *who, const budgets_budget_t *b, store_err_t *e);
int budgets_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e);
int budgets_get(PGconn *c, const char *name, budgets_budget_t *out, store_err_t *e);
/* Budgets by name; *out malloc'd (free()). */
int budgets_list(PGconn *c, budgets_budget_t **out, size_t *n, store_err_t *e);

#endif
