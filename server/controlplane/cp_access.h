/* cp_access: which admin role may call which class of control-plane RPC.
 *
 *   class              admin  operator  auditor
 *   registry (write)     ✓       ✓               providers, models, routes;
 *                                                test connection, discovery
 *   registry read        ✓       ✓         ✓     get / list providers, models,
 *                                                routes (the console's auditor)
 *   keys (r/w)           ✓       ✓               teams and API keys
 *   budgets read         ✓                 ✓
 *   budgets write        ✓
 *   policies (r/w)       ✓
 *   tokens               ✓                       admin tokens
 *   audit                ✓                 ✓     list, verify, export
 *   usage read           ✓                 ✓     reports
 *   nodes                ✓       ✓               data-plane subscription, ACKs,
 *                                                usage batches, budget leases
 *   analytics read       ✓       ✓         ✓     AnalyticsService (fleet figures)
 *
 * Every RPC names its class where it is registered (cp_rpc_method_t); a
 * method registered without one is refused by cp_rpc_register. A refused call is PERMISSION_DENIED
 * and leaves an audit row (action "access.denied"; cp_rpc.c).
 */
#ifndef LLMGW_CP_ACCESS_H
#define LLMGW_CP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    CP_ACCESS_REGISTRY = 1, /* 0 is left out so a forgotten class is caught */
    CP_ACCESS_KEYS,
    CP_ACCESS_BUDGETS_READ,
    CP_ACCESS_BUDGETS_WRITE,
    CP_ACCESS_POLICIES,
    CP_ACCESS_TOKENS,
    CP_ACCESS_AUDIT,
    CP_ACCESS_USAGE_READ,
    CP_ACCESS_NODES,
    CP_ACCESS_ANALYTICS_READ,
    CP_ACCESS_REGISTRY_READ,
} cp_access_t;

/* True when `role` ("admin", "operator", "auditor") may call a method of
 * class `cls`. An unknown role or class may call nothing. */
bool cp_access_allows(const char *role, cp_access_t cls);
/* The class's name for messages ("registry", "budgets.write"). */
const char *cp_access_name(cp_access_t cls);

#endif
