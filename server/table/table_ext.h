/* table_ext: the routing table's "extensions" array — which plugins a
 * standalone node loads at startup (docs/extensions.md):
 *
 *   "extensions": [{"name", "path", "config"?: {...}, "optional"?: false}]
 *
 * name: [a-z0-9_-], 1..64 bytes, unique in the array, and the name the
 * plugin gives itself; path: the shared object; config: the plugin's JSON
 * config object (kept as text); optional: true lets the node start without
 * it when it cannot be loaded. The table loader validates the array (so a
 * typo fails the table like any other field); main reads it from the file
 * first (table_ext_parse_text), because the extensions it names must be
 * loaded before the providers' wire formats can be checked.
 *
 * The list owns its strings (malloc'ed); table_ext_list_free releases them.
 */
#ifndef LLMGW_TABLE_EXT_H
#define LLMGW_TABLE_EXT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define TABLE_EXT_MAX 16

typedef struct {
    char *name;
    char *path;
    char *config_json; /* "{}" when the entry has no config */
    bool optional;
} table_ext_t;

typedef struct {
    table_ext_t items[TABLE_EXT_MAX];
    size_t n;
} table_ext_list_t;

/* The "extensions" member of the table object `root` (absent: none). 0, or
 * -1 with err naming the field ("extensions[1].path: expected a non-empty
 * string"); *out is empty after a failure. */
int table_ext_parse(json_t *root, table_ext_list_t *out, char *err, size_t errlen);
/* The same from a table document's text. */
int table_ext_parse_text(const char *text, size_t len, table_ext_list_t *out, char *err,
                         size_t errlen);
void table_ext_list_free(table_ext_list_t *l);

/* Wire formats beyond openai and anthropic (the extensions' adapters): the
 * table loader accepts a provider's wire_format when `known` says so. Set
 * once at startup, before tables are loaded; NULL: only the built-ins. */
void table_set_wire_format_check(bool (*known)(const char *wire_format));
/* Whether a check is set (the process loads extensions). */
bool table_wire_format_extended(void);
/* Whether wire_format is one a table may name (the built-ins or `known`'s). */
bool table_wire_format_known(const char *wire_format);

#endif
