/* presets: the built-in provider presets (server/table/providers.json).
 *
 * The JSON file is embedded into the binary at build time (CMake turns it
 * into the C array presets_json) and parsed once, on first use, so a preset
 * never depends on a file found at run time. A routing-table provider entry
 * that says "preset": "groq" inherits the preset's base_url, auth_style,
 * wire_format, api_version, quirks and models; anything the entry states
 * itself overrides the preset (quirks member by member).
 *
 * Invariants: the parsed presets are immutable after the first successful
 * parse and live for the whole process; every pointer handed out stays valid.
 * Thread-safe: the first parse is under a mutex.
 */
#ifndef LLMGW_PRESETS_H
#define LLMGW_PRESETS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The embedded providers.json, NUL-terminated (generated at build time). */
extern const char presets_json[];

/* Number of presets and the i-th name (in file order); 0 / NULL when the
 * embedded file cannot be parsed (out of memory). */
size_t presets_count(void);
const char *presets_name_at(size_t i);
/* The preset object (borrowed, process lifetime), or NULL when unknown. */
json_t *presets_get(const char *name);

/* A provider entry with its preset applied. When `jp` has a "preset", *out
 * is a new object (the caller json_decref's it): the preset's table fields
 * overlaid with every member of jp ("quirks" merged member by member). When
 * jp has no preset, *out is NULL and jp is to be used as is. 0, or -1 with
 * err naming the field: "providers[2].preset: unknown preset 'grok' (close:
 * groq)", "providers[0].base_url: required by preset 'azure' (...)". */
int presets_apply(json_t *jp, const char *path, json_t **out, char *err, size_t errlen);

/* A local server preset: its name, default port and models listing path. */
typedef struct {
    const char *name;
    int port;
    const char *models_path; /* "/api/tags" for Ollama, else "/v1/models" */
    const char *base_path;   /* the path part of its base_url ("/v1") */
} presets_local_t;

/* Fills up to `cap` local presets in file order; returns how many. */
size_t presets_local(presets_local_t *out, size_t cap);

#endif
