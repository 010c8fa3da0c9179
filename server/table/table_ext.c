/* table_ext: the "extensions" array and the wire formats a table may name.
 * See table_ext.h. */
#include "table_ext.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ext_fields[] = {"name", "path", "config", "optional", NULL};

static _Atomic(bool (*)(const char *)) wire_check;

void table_set_wire_format_check(bool (*known)(const char *wire_format))
{
    atomic_store(&wire_check, known);
}

bool table_wire_format_extended(void)
{
    return atomic_load(&wire_check) != NULL;
}

bool table_wire_format_known(const char *wire_format)
{
    if (!strcmp(wire_format, "openai") || !strcmp(wire_format, "anthropic"))
        return true;
    bool (*known)(const char *) = atomic_load(&wire_check);
    return known && known(wire_format);
}

static bool ext_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

void table_ext_list_free(table_ext_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].path);
        free(l->items[i].config_json);
    }
    l->n = 0;
}

static int ext_entry(json_t *e, size_t i, table_ext_t *out, char *err, size_t errlen)
{
    if (!json_is_object(e)) {
        snprintf(err, errlen, "extensions[%zu]: expected an object", i);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(e, k, v)
    {
        size_t f = 0;
        while (ext_fields[f] && strcmp(ext_fields[f], k) != 0)
            f++;
        if (!ext_fields[f]) {
            snprintf(err, errlen,
                     "extensions[%zu].%.64s: unknown field (expected name, path, config, optional)",
                     i, k);
            return -1;
        }
    }
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name || !ext_name_ok(name)) {
        snprintf(err, errlen, "extensions[%zu].name: expected 1 to 64 characters from [a-z0-9_-]",
                 i);
        return -1;
    }
    const char *path = json_string_value(json_object_get(e, "path"));
    if (!path || !path[0] || strlen(path) > 4096) {
        snprintf(err, errlen, "extensions[%zu].path: expected a non-empty string (a .so file)", i);
        return -1;
    }
    json_t *config = json_object_get(e, "config");
    if (config && !json_is_object(config)) {
        snprintf(err, errlen, "extensions[%zu].config: expected an object", i);
        return -1;
    }
    json_t *opt = json_object_get(e, "optional");
    if (opt && !json_is_boolean(opt)) {
        snprintf(err, errlen, "extensions[%zu].optional: expected true or false", i);
        return -1;
    }
    out->name = strdup(name);
    out->path = strdup(path);
    out->config_json = config ? json_dumps(config, JSON_COMPACT) : strdup("{}");
    out->optional = json_is_true(opt);
    if (!out->name || !out->path || !out->config_json) {
        snprintf(err, errlen, "extensions[%zu]: out of memory", i);
        return -1;
    }
    return 0;
}

int table_ext_parse(json_t *root, table_ext_list_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *arr = json_object_get(root, "extensions");
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "extensions: expected an array");
        return -1;
    }
    if (json_array_size(arr) > TABLE_EXT_MAX) {
        snprintf(err, errlen, "extensions: at most %d entries", TABLE_EXT_MAX);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        out->n = i + 1; /* whatever ext_entry set is freed on failure */
        if (ext_entry(json_array_get(arr, i), i, &out->items[i], err, errlen) < 0)
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->items[j].name, out->items[i].name) == 0) {
                snprintf(err, errlen, "extensions[%zu].name: duplicate of extensions[%zu]", i, j);
                goto fail;
            }
    }
    return 0;
fail:
    table_ext_list_free(out);
    return -1;
}

int table_ext_parse_text(const char *text, size_t len, table_ext_list_t *out, char *err,
                         size_t errlen)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(root)) {
        if (root)
            snprintf(err, errlen, "table: expected a JSON object");
        else
            snprintf(err, errlen, "json: line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        json_decref(root);
        return -1;
    }
    int rc = table_ext_parse(root, out, err, errlen);
    json_decref(root);
    return rc;
}
