/* loader: what every part of the table loader shares — the table's pool,
 * error messages naming the JSON path, and the field readers. See loader.h.
 */
#include "loader.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOADER_POOL_CHUNK (64u * 1024u)

void *loader_alloc(table_t *t, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX - align)
        return NULL;
    size_t need = (n + align - 1) & ~(align - 1);
    pool_chunk_t *c = t->chunks;
    if (c == NULL || c->size - c->used < need) {
        size_t size = need > LOADER_POOL_CHUNK ? need : LOADER_POOL_CHUNK;
        if (size > SIZE_MAX - sizeof(*c))
            return NULL;
        c = t->malloc_fn(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->next = t->chunks;
        c->used = 0;
        c->size = size;
        t->chunks = c;
    }
    void *p = (unsigned char *)c->data + c->used;
    c->used += need;
    memset(p, 0, need);
    return p;
}

void *loader_array(table_t *t, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    return loader_alloc(t, count * size);
}

char *loader_strdup(table_t *t, const char *s)
{
    size_t n = strlen(s);
    char *p = loader_alloc(t, n + 1);
    if (p != NULL)
        memcpy(p, s, n + 1);
    return p;
}

int loader_fail(loader_t *ld, const char *fmt, ...)
{
    if (ld->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ld->err, ld->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* User text quoted in a message: at most TABLE_SHOW_MAX characters, control
 * and non-ASCII bytes as '?', so an error line stays one short line. */
const char *loader_show(char out[TABLE_SHOW_MAX + 4], const char *s)
{
    size_t i = 0;
    for (; i < TABLE_SHOW_MAX && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (s[i] != '\0') {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* A field that is missing or JSON null counts as absent. */
json_t *loader_field(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_null(v) ? NULL : v;
}

void loader_join_path(char *out, size_t outlen, const char *path, const char *name)
{
    snprintf(out, outlen, "%s%s%s", path, path[0] != '\0' ? "." : "", name);
}

int loader_check_fields(loader_t *ld, json_t *obj, const char *path, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], k) != 0)
            i++;
        if (allowed[i] == NULL) {
            char s[TABLE_SHOW_MAX + 4];
            return loader_fail(ld, "%s%s%s: unknown field", path, path[0] != '\0' ? "." : "",
                               loader_show(s, k));
        }
    }
    return 0;
}

bool loader_has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

bool loader_has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool loader_name_char(char c, const char *extra)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || (c != '\0' && strchr(extra, c) != NULL);
}

/* A required name: non-empty, at most `max` characters from [A-Za-z0-9._-]
 * plus `extra`. Returns a copy in the table's pool, or NULL with err set. */
const char *loader_read_name(loader_t *ld, json_t *obj, const char *path, const char *fname,
                             size_t max, const char *extra)
{
    json_t *v = loader_field(obj, fname);
    if (v == NULL) {
        loader_fail(ld, "%s.%s: required", path, fname);
        return NULL;
    }
    if (!json_is_string(v)) {
        loader_fail(ld, "%s.%s: expected a string", path, fname);
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n == 0) {
        loader_fail(ld, "%s.%s: must not be empty", path, fname);
        return NULL;
    }
    if (n > max) {
        loader_fail(ld, "%s.%s: longer than %zu characters", path, fname, max);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!loader_name_char(s[i], extra)) {
            unsigned char c = (unsigned char)s[i];
            char shown[8];
            if (c > 0x20 && c < 0x7f)
                snprintf(shown, sizeof(shown), "'%c'", c);
            else
                snprintf(shown, sizeof(shown), "0x%02x", c);
            loader_fail(ld, "%s.%s: invalid character %s (allowed: A-Z a-z 0-9 . _ -%s%s)", path,
                        fname, shown, extra[0] != '\0' ? " " : "", extra);
            return NULL;
        }
    }
    char *copy = loader_strdup(ld->t, s);
    if (copy == NULL)
        loader_fail(ld, "table: out of memory");
    return copy;
}

/* An optional string; *out is NULL when absent. */
int loader_read_opt_string(loader_t *ld, json_t *obj, const char *path, const char *fname,
                           const char **out)
{
    json_t *v = loader_field(obj, fname);
    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return loader_fail(ld, "%s.%s: expected a string", path, fname);
    *out = json_string_value(v);
    return 0;
}

/* An optional number in [lo, hi] (hi < 0: no upper bound). */
int loader_read_opt_number(loader_t *ld, json_t *obj, const char *path, const char *fname,
                           double lo, double hi, double dflt, const char *expect, double *out)
{
    json_t *v = loader_field(obj, fname);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return loader_fail(ld, "%s.%s: expected %s", path, fname, expect);
    double d = json_number_value(v);
    if (d < lo || (hi >= 0 && d > hi))
        return loader_fail(ld, "%s.%s: expected %s", path, fname, expect);
    *out = d;
    return 0;
}

int loader_read_opt_int(loader_t *ld, json_t *obj, const char *path, const char *fname,
                        json_int_t lo, json_int_t hi, json_int_t dflt, const char *expect,
                        json_int_t *out)
{
    json_t *v = loader_field(obj, fname);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return loader_fail(ld, "%s.%s: expected %s", path, fname, expect);
    *out = json_integer_value(v);
    return 0;
}

/* An optional array; *out is NULL when absent. `non_empty`: required and non-empty. */
int loader_read_array(loader_t *ld, json_t *obj, const char *path, const char *fname,
                      bool non_empty, json_t **out)
{
    char p[128];
    loader_join_path(p, sizeof(p), path, fname);
    json_t *v = loader_field(obj, fname);
    *out = v;
    if (v == NULL && !non_empty)
        return 0;
    if (!json_is_array(v) || (non_empty && json_array_size(v) == 0))
        return loader_fail(ld, "%s: expected a%s array", p, non_empty ? " non-empty" : "n");
    return 0;
}

static int loader_ref_cmp(const void *a, const void *b)
{
    const loader_ref_t *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* Same order without the index: finds an entry by (group, name). */
int loader_ref_key_cmp(const void *a, const void *b)
{
    const loader_ref_t *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Sorts refs and returns the one that repeats an earlier name with the
 * smallest (group, index) — the first duplicate in document order — or NULL. */
const loader_ref_t *loader_sort_find_duplicate(loader_ref_t *refs, size_t n)
{
    const loader_ref_t *dup = NULL;
    qsort(refs, n, sizeof(*refs), loader_ref_cmp);
    for (size_t i = 1; i < n; i++) {
        if (loader_ref_key_cmp(&refs[i - 1], &refs[i]) != 0)
            continue;
        if (dup == NULL || refs[i].group < dup->group ||
            (refs[i].group == dup->group && refs[i].index < dup->index))
            dup = &refs[i];
    }
    return dup;
}

int loader_read_opt_bool(loader_t *ld, json_t *obj, const char *path, const char *fname, bool dflt,
                         bool *out)
{
    json_t *v = loader_field(obj, fname);
    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return loader_fail(ld, "%s.%s: expected true or false", path, fname);
    *out = json_is_true(v);
    return 0;
}

/* An optional object; *out is NULL when absent. */
int loader_read_opt_object(loader_t *ld, json_t *obj, const char *path, const char *fname,
                           const char *const *allowed, char *sub, size_t sublen, json_t **out)
{
    loader_join_path(sub, sublen, path, fname);
    *out = loader_field(obj, fname);
    if (*out == NULL)
        return 0;
    if (!json_is_object(*out))
        return loader_fail(ld, "%s: expected an object", sub);
    return loader_check_fields(ld, *out, sub, allowed);
}

/* One of `allowed` (a static string), or `dflt` when absent. */
int loader_read_opt_enum(loader_t *ld, json_t *obj, const char *path, const char *fname,
                         const char *const *allowed, const char *expect, const char **out)
{
    const char *s;
    if (loader_read_opt_string(ld, obj, path, fname, &s) != 0)
        return -1;
    *out = allowed[0];
    if (s == NULL)
        return 0;
    for (size_t i = 0; allowed[i] != NULL; i++)
        if (strcmp(allowed[i], s) == 0) {
            *out = allowed[i];
            return 0;
        }
    char shown[TABLE_SHOW_MAX + 4];
    return loader_fail(ld, "%s.%s: '%s' is not one of %s", path, fname, loader_show(shown, s),
                       expect);
}
