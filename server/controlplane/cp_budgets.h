/* cp_budgets: BudgetService (SetBudget, GetBudget, ListBudgets,
 * DeleteBudget). A change is one transaction: the budget row, its audit row
 * (storage/budgets.c) and the next routing-table version (the table's
 * "budgets" section), committed together. Reads report the spend of each
 * budget in its current period at the budget clock (cp_usage_now_ms).
 * Thread model as cp_usage.h. */
#ifndef LLMGW_CP_BUDGETS_H
#define LLMGW_CP_BUDGETS_H

#include "cp.h"

/* Registers the methods; 0 or -1. Called by cp_usage_register. */
int cp_budgets_register(cp_t *cp);

#endif
