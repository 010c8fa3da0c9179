/* table_versions: published routing tables (table `routing_table_versions`).
 *
 * Invariants: versions are consecutive integers from 1, taken under a
 * transaction advisory lock so two replicas never publish the same number;
 * a stored document holds API keys sealed, never in plaintext; publishing
 * sends NOTIFY llmgw_table with the version, delivered to every listening
 * replica when the transaction commits.
 *
 * The stored document is the routing-table JSON (docs/routing-table.md) with
 * one extra provider field, "api_key_sealed", that table_versions_render
 * opens into "api_key" for the nodes. A provider made from a preset carries
 * "preset" and only the settings it states over it (base_url, auth_style,
 * wire_format, api_version), so a node resolves it exactly as it resolves a
 * standalone table file. Governance rides along (docs/routing-table.md):
 * "keys" (active keys by SHA-256 only, with team, scopes, limits, expiry and
 * a previous hash during a rotation's grace), "teams" (limits) and
 * "policies"; a provider carries its "region" when it has one.
 */
#ifndef LLMGW_TABLE_VERSIONS_H
#define LLMGW_TABLE_VERSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "secret.h"
#include "store.h"

#define TABLE_VERSIONS_CHANNEL "llmgw_table"

/* Builds the document from the registry (enabled providers with at least
 * one model; deployments on other providers and routes left empty are
 * dropped), stores it as the next version and notifies. *version is 0 when
 * no provider can serve yet (nothing is published). Inside the caller's
 * transaction. */
int table_versions_publish(PGconn *c, int64_t *version, store_err_t *e);
/* The latest version and its document (malloc'd). STORE_NOT_FOUND when none. */
int table_versions_latest(PGconn *c, int64_t *version, char **document, store_err_t *e);
/* The table JSON for nodes: sealed keys opened into "api_key" (left out for
 * auth style "none"; the node sends it as the provider's auth_style says);
 * with `redact` every key value becomes "<redacted>". malloc'd, or NULL with
 * err filled. */
char *table_versions_render(const char *document, const secret_key_t *k, bool redact, char *err,
                            size_t errlen);

#endif
