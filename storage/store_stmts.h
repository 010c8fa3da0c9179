/* store_stmts: the statement table of every aggregate module (store.c
 * prepares them all on connect). Each is terminated by a {NULL} entry. */
#ifndef LLMGW_STORE_STMTS_H
#define LLMGW_STORE_STMTS_H

#include "store.h"

extern const store_stmt_t providers_stmts[];
extern const store_stmt_t models_stmts[];
extern const store_stmt_t routes_stmts[];
extern const store_stmt_t audit_stmts[];
extern const store_stmt_t audit_query_stmts[];
extern const store_stmt_t table_versions_stmts[];
extern const store_stmt_t nodes_stmts[];
extern const store_stmt_t admin_tokens_stmts[];
extern const store_stmt_t teams_stmts[];
extern const store_stmt_t api_keys_stmts[];
extern const store_stmt_t budgets_stmts[];
extern const store_stmt_t policies_stmts[];
extern const store_stmt_t usage_stmts[];
extern const store_stmt_t budget_leases_stmts[];
extern const store_stmt_t store_analytics_stmts[];

#endif
