/* store_explain: turning a refused statement into a message that names the
 * field — "budget.target: team 'ops' does not exist" rather than libpq's
 * "violates foreign key constraint budgets_team_fkey".
 *
 * Each module lists, per call site, the constraints a write can trip and what
 * they mean there (a foreign key means "unknown" on insert, "still used" on
 * delete). The constraint is matched by its quoted name in e->msg, which
 * store_exec fills from libpq's message.
 */
#ifndef LLMGW_STORE_EXPLAIN_H
#define LLMGW_STORE_EXPLAIN_H

#include "store.h"

typedef struct {
    const char *constraint; /* e.g. "budgets_team_fkey" */
    store_code_t code;      /* the code the caller sees */
    const char *field;      /* e.g. "budget.target" */
    const char *what;       /* e.g. "team '%s' does not exist" (one %s: `value`) */
} store_explain_t;

/* When e names a constraint of `map` (NULL-terminated), rewrites e as
 * "<field>: <what>" with `value`; otherwise leaves e as it is. Returns -1. */
int store_explain(store_err_t *e, const store_explain_t *map, const char *value);

#endif
