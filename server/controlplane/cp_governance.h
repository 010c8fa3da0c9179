/* cp_governance: GovernanceService (proto/llmgw/v1/governance.proto) —
 * teams, API keys and policies on grpc_server.
 *
 * Every change is one transaction: the storage module's write with its audit
 * row (teams.c, api_keys.c, policies.c) and cp_publish, so the
 * change, its record and the routing-table version every data plane gets
 * commit together or not at all. Reads run in one transaction too. Teams and
 * keys are access class CP_ACCESS_KEYS (admin, operator), policies
 * CP_ACCESS_POLICIES (admin only).
 *
 * Secrets: a key's secret is minted here (api_keys_mint), hashed inside the
 * transaction and returned once in the answer; it never reaches PostgreSQL,
 * the audit log or a log line.
 */
#ifndef LLMGW_CP_GOVERNANCE_H
#define LLMGW_CP_GOVERNANCE_H

#include "cp.h"

/* Registers the methods; 0 or -1. cp must outlive the server. */
int cp_governance_register(cp_t *cp);

#endif
