/* cp_usage: UsageService (ReportUsage, AcquireLease, ReturnLease,
 * GetUsageReport) and BudgetService (SetBudget, GetBudget, ListBudgets,
 * DeleteBudget) on grpc_server (proto/llmgw/v1/usage.proto, docs/usage.md).
 *
 * Thread model: as every control-plane RPC (cp_rpc.h) — decoded and
 * authorized on a completion-queue thread, run on a worker: one
 * transaction per call (a usage batch's partitions are made just before, in
 * autocommit). Access classes: nodes for ReportUsage and the leases,
 * usage.read for reports, budgets.read / budgets.write for BudgetService.
 *
 * The clock: budget periods and leases use the wall clock plus
 * LLMGW_CLOCK_OFFSET_MS (an integer, read once; for tests of a period
 * rollover), never the database's.
 */
#ifndef LLMGW_CP_USAGE_H
#define LLMGW_CP_USAGE_H

#include <stdint.h>

#include "cp.h"

/* Registers both services; 0 or -1. cp must outlive the server. */
int cp_usage_register(cp_t *cp);
/* The control plane's budget clock, Unix ms. */
int64_t cp_usage_now_ms(void);

#endif
