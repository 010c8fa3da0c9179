/* local_discovery: finds LLM servers running on this machine and adds them
 * to the routing table as providers.
 *
 * The local presets (providers.json entries with "local": Ollama, LM Studio,
 * LocalAI, vLLM, text-generation-webui) name a default port and a models
 * listing path. Each is probed on 127.0.0.1 (GET, short timeouts); a server
 * that answers with at least one model becomes a provider
 * {"name": "local-<preset>", "preset": <preset>, "base_url":
 * "http://127.0.0.1:<port><base path>", "models": [...]}. Ollama is asked
 * /api/tags first, then /v1/models. A port llmgw itself listens on (its
 * HTTP API defaults to 8080, LocalAI's port) is skipped, and so is a preset
 * the table already has a provider for (same name or same base_url).
 *
 * Discovery runs when the table is loaded (at start and on SIGHUP), when
 * asked by --discover-local or by the table's top-level "discover_local"
 * (true, or {"<preset>": <port>, ...} to probe other ports); the member is
 * removed before the table loader sees it. Probing blocks the caller (at
 * most ~0.3 s per silent port; a closed port answers at once).
 */
#ifndef LLMGW_LOCAL_DISCOVERY_H
#define LLMGW_LOCAL_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "table.h"

#define LOCAL_DISCOVERY_MAX_SKIP 4

typedef struct {
    bool enabled;      /* --discover-local given */
    const char *ports; /* "ollama:11435,vllm:9000" overrides (may be NULL) */
    /* Listen addresses of this process ("127.0.0.1:8080"); their ports are
     * never probed. NULL entries are ignored. */
    const char *skip_listen[LOCAL_DISCOVERY_MAX_SKIP];
    int timeout_ms; /* per probe; 0: 300 */
} local_discovery_opts_t;

/* Probes the local presets. `ports` overrides default ports (an object
 * {"<preset>": port} or NULL; the string overrides in opts win). Returns
 * a new JSON array of provider entries (possibly empty; the caller
 * json_decref's it), or NULL with err set on a bad port override or out of
 * memory. */
json_t *local_discovery_probe(const local_discovery_opts_t *o, json_t *ports, char *err,
                              size_t errlen);

/* Loads the table file like table_load_file, adding the discovered local
 * providers when opts->enabled or the table says "discover_local". NULL with
 * err set (the table's own field errors, or "discover_local: ..."). */
table_t *local_discovery_load_file(const char *path, const local_discovery_opts_t *o, char *err,
                                   size_t errlen);

#endif
