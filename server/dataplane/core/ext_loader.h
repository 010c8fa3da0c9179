/* ext_loader: loading extensions (llmgw/extension.h) into the data plane —
 * the probe, dlopen, the ABI checks, init with the plugin's config, what it
 * registered, health, shutdown — and the list /v1/extensions and
 * RoutingService show.
 *
 * Loading (ext_loader_load) runs at startup on the main thread, before the
 * process starts any thread: it forks. A probe child loads the plugin and
 * runs its init and shutdown first, so a plugin that crashes (or hangs) in
 * init is reported — "extension at X: init crashed in the probe (signal 11)"
 * — instead of taking the data plane down; then the parent loads it for
 * real. Every failure names the plugin and what is wrong (the file, the
 * entry point, the ABI version, a struct size, init's own message, a
 * registration it refused); the caller decides whether that stops startup
 * (a required extension) or is logged (an optional one).
 *
 * Loaded extensions stay for the process's life (nothing is unloaded while
 * requests run); ext_loader_unload_all shuts them down in reverse order at
 * exit. The list is written at startup only and read without a lock.
 */
#ifndef LLMGW_EXT_LOADER_H
#define LLMGW_EXT_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define EXT_LOADER_MAX 16
#define EXT_PROBE_TIMEOUT_MS 5000

typedef struct {
    const char *path;        /* the shared object */
    const char *config_json; /* the plugin's config object; NULL: "{}" */
    /* The name the table gave it; the plugin's own must match. NULL: any. */
    const char *expect_name;
    int probe_timeout_ms; /* 0: EXT_PROBE_TIMEOUT_MS; < 0: no probe (tests) */
} ext_load_spec_t;

/* Probes, loads and initializes one extension. 0, or -1 with err naming the
 * plugin ("extension at ./x.so: abi_version 7, this data plane speaks 1"). */
int ext_loader_load(const ext_load_spec_t *spec, char *err, size_t errlen);
/* Shuts every loaded extension down (reverse order), forgets its hooks and
 * closes it. The adapters it registered must not be used afterwards. */
void ext_loader_unload_all(void);

/* What one loaded extension is and registered (borrowed strings, valid
 * until ext_loader_unload_all). */
typedef struct {
    const char *name, *version, *path;
    unsigned abi_version;
    const char *adapters[8]; /* wire formats */
    size_t n_adapters;
    size_t request_hooks, response_hooks, usage_hooks;
} ext_loader_info_t;

size_t ext_loader_count(void);
/* Entry i; NULL past the end. */
const ext_loader_info_t *ext_loader_at(size_t i);
/* The extension's health right now (its health function; healthy when it
 * has none): true, or false with msg. */
bool ext_loader_health(size_t i, char *msg, size_t msglen);
/* {"abi_version": N, "loaded": [{"name", "version", "abi_version", "path",
 * "adapters": [...], "request_hooks", "response_hooks", "usage_hooks",
 * "healthy", "health_message"}]} (the caller owns it); NULL when out of
 * memory. */
json_t *ext_loader_list(void);

#endif
