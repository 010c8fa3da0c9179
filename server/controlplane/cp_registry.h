/* cp_registry: RegistryService (providers, models, routes) on grpc_server.
 *
 * Every call is decoded and authorized on the completion-queue thread, then
 * run on the worker pool: reads in one transaction; changes in one
 * transaction that applies the change, appends the audit row and publishes
 * the next routing-table version (so the three commit together or not at all).
 */
#ifndef LLMGW_CP_REGISTRY_H
#define LLMGW_CP_REGISTRY_H

#include "cp.h"

/* Registers the methods; 0 or -1. cp must outlive the server. */
int cp_registry_register(cp_t *cp);

#endif
