/* presets: the embedded provider presets. See presets.h.
 *
 * The file is parsed with jansson on first use and kept for the process. A
 * failed parse (only out of memory: the file is checked by the tests) is not
 * cached, so the next caller tries again.
 */
#define _GNU_SOURCE /* strcasestr */
#include "presets.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PRESETS_SHOW_MAX 48 /* a user's preset name quoted in an error */

/* Members of a preset that a provider entry inherits; the rest
 * (display_name, notes, local) describe the preset itself. */
static const char *const presets_inherited[] = {
    "base_url", "auth_style", "wire_format", "api_version", "quirks", "models", NULL};

static pthread_mutex_t presets_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *presets_root; /* the "presets" object; set once, never freed */

static json_t *presets_all(void)
{
    pthread_mutex_lock(&presets_mu);
    if (!presets_root) {
        json_error_t jerr;
        json_t *doc = json_loads(presets_json, 0, &jerr);
        json_t *p = json_object_get(doc, "presets");
        if (json_is_object(p))
            presets_root = json_incref(p);
        json_decref(doc);
    }
    json_t *root = presets_root;
    pthread_mutex_unlock(&presets_mu);
    return root;
}

size_t presets_count(void)
{
    json_t *all = presets_all();
    return all ? json_object_size(all) : 0;
}

const char *presets_name_at(size_t i)
{
    json_t *all = presets_all();
    const char *name;
    json_t *v;
    size_t k = 0;
    json_object_foreach(all, name, v)
    {
        if (k++ == i)
            return name;
    }
    return NULL;
}

json_t *presets_get(const char *name)
{
    json_t *p = json_object_get(presets_all(), name);
    return json_is_object(p) ? p : NULL;
}

/* Levenshtein distance, capped: names are short and only "close" matters. */
static size_t presets_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return 99;
    size_t row[33];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = (a[i - 1] | 0x20) == (b[j - 1] | 0x20) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static bool presets_close(const char *given, const char *name)
{
    if (given[0] == '\0')
        return false;
    if (strcasestr(name, given) || strcasestr(given, name))
        return true;
    return presets_distance(given, name) <= 2;
}

/* "unknown preset 'grok' (close: groq)", else the whole list. */
static void presets_unknown(const char *path, const char *given, char *err, size_t errlen)
{
    char shown[PRESETS_SHOW_MAX + 4];
    size_t i = 0;
    for (; i < PRESETS_SHOW_MAX && given[i]; i++)
        shown[i] = (given[i] < 0x20 || given[i] >= 0x7f) ? '?' : given[i];
    shown[i] = '\0';
    if (given[i])
        strcpy(shown + i, "...");
    int n = snprintf(err, errlen, "%s.preset: unknown preset '%s'", path, shown);
    size_t count = presets_count(), close = 0;
    for (size_t k = 0; k < count; k++)
        if (presets_close(given, presets_name_at(k)))
            close++;
    const char *label = close ? " (close: " : " (known: ";
    for (size_t k = 0; k < count && n >= 0 && (size_t)n < errlen; k++) {
        const char *name = presets_name_at(k);
        if (close && !presets_close(given, name))
            continue;
        n += snprintf(err + n, errlen - (size_t)n, "%s%s", label, name);
        label = ", ";
    }
    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, ")");
}

int presets_apply(json_t *jp, const char *path, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    json_t *jname = json_object_get(jp, "preset");
    if (!jname || json_is_null(jname))
        return 0;
    if (!json_is_string(jname)) {
        snprintf(err, errlen, "%s.preset: expected a string", path);
        return -1;
    }
    if (!presets_all()) {
        snprintf(err, errlen, "%s.preset: out of memory reading the presets", path);
        return -1;
    }
    const char *name = json_string_value(jname);
    json_t *preset = presets_get(name);
    if (!preset) {
        presets_unknown(path, name, err, errlen);
        return -1;
    }
    if (!json_object_get(preset, "base_url") && !json_object_get(jp, "base_url")) {
        const char *notes = json_string_value(json_object_get(preset, "notes"));
        snprintf(err, errlen, "%s.base_url: required by preset '%s'%s%s%s", path, name,
                 notes ? " (" : "", notes ? notes : "", notes ? ")" : "");
        return -1;
    }
    json_t *merged = json_object();
    if (!merged)
        goto oom;
    for (size_t i = 0; presets_inherited[i]; i++) {
        json_t *v = json_object_get(preset, presets_inherited[i]);
        if (v && json_object_set_new(merged, presets_inherited[i], json_deep_copy(v)) < 0)
            goto oom;
    }
    const char *key;
    json_t *v;
    json_object_foreach(jp, key, v)
    {
        json_t *base = json_object_get(merged, key);
        if (strcmp(key, "quirks") == 0 && json_is_object(base) && json_is_object(v)) {
            if (json_object_update(base, v) < 0)
                goto oom;
        } else if (json_object_set(merged, key, v) < 0) {
            goto oom;
        }
    }
    *out = merged;
    return 0;
oom:
    json_decref(merged);
    snprintf(err, errlen, "%s: out of memory applying preset '%s'", path, name);
    return -1;
}

size_t presets_local(presets_local_t *out, size_t cap)
{
    json_t *all = presets_all();
    const char *name;
    json_t *p;
    size_t n = 0;
    json_object_foreach(all, name, p)
    {
        json_t *local = json_object_get(p, "local");
        if (!json_is_object(local) || n >= cap)
            continue;
        const char *url = json_string_value(json_object_get(p, "base_url"));
        const char *base_path = "";
        if (url) {
            const char *host = strstr(url, "://");
            const char *slash = host ? strchr(host + 3, '/') : NULL;
            if (slash)
                base_path = slash;
        }
        const char *models_path = json_string_value(json_object_get(local, "models_path"));
        out[n++] = (presets_local_t){
            .name = name,
            .port = (int)json_integer_value(json_object_get(local, "port")),
            .models_path = models_path ? models_path : "/v1/models",
            .base_path = base_path,
        };
    }
    return n;
}
