/* reflect_index: see reflect_index.h.
 *
 * Field numbers read (google/protobuf/descriptor.proto):
 *   FileDescriptorSet    file=1
 *   FileDescriptorProto  name=1 package=2 dependency=3 message_type=4
 *                        enum_type=5 service=6 extension=7
 *   DescriptorProto      name=1 field=2 nested_type=3 enum_type=4
 *                        extension=6 oneof_decl=8
 *   EnumDescriptorProto  name=1 value=2        (EnumValue name=1)
 *   ServiceDescriptorProto name=1 method=2     (Method name=1)
 *   FieldDescriptorProto / OneofDescriptorProto name=1
 * Everything else is skipped by wire type. Groups (wire types 3, 4) do not
 * occur in descriptors and are refused as malformed.
 */
#include "reflect_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Descriptors nest a few levels; a deeper set is refused rather than recursed. */
#define RI_MAX_DEPTH 32
#define RI_MAX_NAME 1024

typedef struct {
    const char *name;
    size_t name_len;
    const uint8_t *data;
    size_t len;
    size_t *deps; /* file indexes */
    size_t n_deps;
    char *cname; /* NUL-terminated copy of name */
} ri_file_t;

typedef struct {
    char *name;
    size_t len;
    size_t file;
    ri_sym_kind_t kind;
} ri_sym_t;

struct ri_index {
    ri_file_t *files;
    size_t n_files;
    ri_sym_t *syms; /* sorted by name after ri_index_new */
    size_t n_syms, cap_syms;
};

/* --- wire reader ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} ri_reader_t;

typedef struct {
    uint32_t field;
    const uint8_t *data; /* length-delimited fields only */
    size_t len;
} ri_field_t;

static int ri_varint(ri_reader_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* 1: a field (data set for length-delimited ones, else NULL); 0: end; -1: malformed. */
static int ri_next(ri_reader_t *r, ri_field_t *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key, v;
    if (ri_varint(r, &key) != 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    f->field = (uint32_t)(key >> 3);
    f->data = NULL;
    f->len = 0;
    switch (key & 7) {
    case 0:
        return ri_varint(r, &v) == 0 ? 1 : -1;
    case 1:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 1;
    case 5:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 1;
    case 2:
        if (ri_varint(r, &v) != 0 || v > (uint64_t)(r->end - r->p))
            return -1;
        f->data = r->p;
        f->len = (size_t)v;
        r->p += v;
        return 1;
    default:
        return -1;
    }
}

/* The `name` (field 1) of a nested descriptor; -1 when absent or malformed. */
static int ri_name_of(const uint8_t *data, size_t len, const char **name, size_t *name_len)
{
    ri_reader_t r = {data, data + len};
    ri_field_t f;
    int rc;
    *name = NULL;
    while ((rc = ri_next(&r, &f)) == 1)
        if (f.field == 1 && f.data != NULL) {
            *name = (const char *)f.data;
            *name_len = f.len;
        }
    return rc == 0 && *name != NULL && *name_len > 0 && *name_len < RI_MAX_NAME ? 0 : -1;
}

/* --- symbols ----------------------------------------------------------------------- */

/* Adds scope + "." + name (just name when scope is empty). */
static int ri_add_sym(ri_index_t *ix, const char *scope, size_t scope_len, const char *name,
                      size_t name_len, size_t file, ri_sym_kind_t kind, char **full,
                      size_t *full_len)
{
    if (ix->n_syms == ix->cap_syms) {
        size_t cap = ix->cap_syms ? ix->cap_syms * 2 : 256;
        ri_sym_t *grown = realloc(ix->syms, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        ix->syms = grown;
        ix->cap_syms = cap;
    }
    size_t len = scope_len ? scope_len + 1 + name_len : name_len;
    char *s = malloc(len + 1);
    if (s == NULL)
        return -1;
    size_t at = 0;
    if (scope_len) {
        memcpy(s, scope, scope_len);
        s[scope_len] = '.';
        at = scope_len + 1;
    }
    memcpy(s + at, name, name_len);
    s[len] = '\0';
    ri_sym_t *sym = &ix->syms[ix->n_syms++];
    sym->name = s;
    sym->len = len;
    sym->file = file;
    sym->kind = kind;
    if (full != NULL) {
        *full = s;
        *full_len = len;
    }
    return 0;
}

/* Adds a named child (field, oneof, method, enum value) of `scope`. */
static int ri_add_child(ri_index_t *ix, const char *scope, size_t scope_len, const ri_field_t *f,
                        size_t file, ri_sym_kind_t kind)
{
    const char *name = NULL;
    size_t name_len = 0;
    if (ri_name_of(f->data, f->len, &name, &name_len) != 0)
        return -1;
    return ri_add_sym(ix, scope, scope_len, name, name_len, file, kind, NULL, NULL);
}

/* An enum in `scope`: the enum itself and its values, which protoc scopes
 * beside the enum, not inside it. */
static int ri_add_enum(ri_index_t *ix, const char *scope, size_t scope_len, const ri_field_t *e,
                       size_t file)
{
    if (ri_add_child(ix, scope, scope_len, e, file, RI_SYM_ENUM) != 0)
        return -1;
    ri_reader_t r = {e->data, e->data + e->len};
    ri_field_t f;
    int rc;
    while ((rc = ri_next(&r, &f)) == 1)
        if (f.field == 2 && f.data != NULL &&
            ri_add_child(ix, scope, scope_len, &f, file, RI_SYM_ENUM_VALUE) != 0)
            return -1;
    return rc;
}

static int ri_add_message(ri_index_t *ix, const char *scope, size_t scope_len, const ri_field_t *m,
                          size_t file, int depth)
{
    const char *name = NULL;
    size_t name_len = 0;
    char *full;
    size_t full_len;
    if (depth > RI_MAX_DEPTH || ri_name_of(m->data, m->len, &name, &name_len) != 0 ||
        ri_add_sym(ix, scope, scope_len, name, name_len, file, RI_SYM_MESSAGE, &full, &full_len) !=
            0)
        return -1;
    ri_reader_t r = {m->data, m->data + m->len};
    ri_field_t f;
    int rc;
    while ((rc = ri_next(&r, &f)) == 1) {
        if (f.data == NULL)
            continue;
        int e = 0;
        if (f.field == 2 || f.field == 6)
            e = ri_add_child(ix, full, full_len, &f, file, RI_SYM_FIELD);
        else if (f.field == 8)
            e = ri_add_child(ix, full, full_len, &f, file, RI_SYM_ONEOF);
        else if (f.field == 3)
            e = ri_add_message(ix, full, full_len, &f, file, depth + 1);
        else if (f.field == 4)
            e = ri_add_enum(ix, full, full_len, &f, file);
        if (e != 0)
            return -1;
    }
    return rc;
}

static int ri_add_service(ri_index_t *ix, const char *scope, size_t scope_len, const ri_field_t *s,
                          size_t file)
{
    const char *name = NULL;
    size_t name_len = 0;
    char *full;
    size_t full_len;
    if (ri_name_of(s->data, s->len, &name, &name_len) != 0 ||
        ri_add_sym(ix, scope, scope_len, name, name_len, file, RI_SYM_SERVICE, &full, &full_len) !=
            0)
        return -1;
    ri_reader_t r = {s->data, s->data + s->len};
    ri_field_t f;
    int rc;
    while ((rc = ri_next(&r, &f)) == 1)
        if (f.field == 2 && f.data != NULL &&
            ri_add_child(ix, full, full_len, &f, file, RI_SYM_METHOD) != 0)
            return -1;
    return rc;
}

/* --- files ----------------------------------------------------------------------- */

/* Byte order, shorter first on a common prefix: the order ri_find_symbol's
 * length-bounded search assumes. */
static int ri_cmp_name(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int ri_cmp_sym(const void *a, const void *b)
{
    const ri_sym_t *x = a, *y = b;
    return ri_cmp_name(x->name, x->len, y->name, y->len);
}

/* Pass 1 over one file: its name, package and dependency count. */
static int ri_scan_file(ri_file_t *file, const char **pkg, size_t *pkg_len)
{
    ri_reader_t r = {file->data, file->data + file->len};
    ri_field_t f;
    int rc;
    *pkg = "";
    *pkg_len = 0;
    while ((rc = ri_next(&r, &f)) == 1) {
        if (f.data == NULL)
            continue;
        if (f.field == 1) {
            file->name = (const char *)f.data;
            file->name_len = f.len;
        } else if (f.field == 2) {
            *pkg = (const char *)f.data;
            *pkg_len = f.len;
        } else if (f.field == 3) {
            file->n_deps++;
        }
    }
    if (rc != 0 || file->name == NULL || file->name_len == 0 || file->name_len >= RI_MAX_NAME)
        return -1;
    file->cname = strndup(file->name, file->name_len);
    file->deps = calloc(file->n_deps ? file->n_deps : 1, sizeof(*file->deps));
    return file->cname != NULL && file->deps != NULL ? 0 : -1;
}

/* Pass 2 over file i: symbols and resolved dependencies. */
static int ri_index_file(ri_index_t *ix, size_t i, const char *pkg, size_t pkg_len, char *err,
                         size_t errlen)
{
    ri_file_t *file = &ix->files[i];
    ri_reader_t r = {file->data, file->data + file->len};
    ri_field_t f;
    size_t n_deps = 0;
    int rc;
    while ((rc = ri_next(&r, &f)) == 1) {
        if (f.data == NULL)
            continue;
        int e = 0;
        if (f.field == 3) {
            long d = ri_find_file(ix, (const char *)f.data, f.len);
            if (d < 0) {
                snprintf(err, errlen, "descriptor set: %s imports %.*s, which is not in the set",
                         file->cname, (int)(f.len > 200 ? 200 : f.len), (const char *)f.data);
                return -1;
            }
            file->deps[n_deps++] = (size_t)d;
        } else if (f.field == 4) {
            e = ri_add_message(ix, pkg, pkg_len, &f, i, 0);
        } else if (f.field == 5) {
            e = ri_add_enum(ix, pkg, pkg_len, &f, i);
        } else if (f.field == 6) {
            e = ri_add_service(ix, pkg, pkg_len, &f, i);
        } else if (f.field == 7) {
            e = ri_add_child(ix, pkg, pkg_len, &f, i, RI_SYM_FIELD);
        }
        if (e != 0)
            goto malformed;
    }
    if (rc == 0)
        return 0;
malformed:
    snprintf(err, errlen, "descriptor set: %s: malformed descriptor (or out of memory)",
             file->cname);
    return -1;
}

ri_index_t *ri_index_new(const uint8_t *set, size_t len, char *err, size_t errlen)
{
    ri_index_t *ix = calloc(1, sizeof(*ix));
    const char **pkgs = NULL;
    size_t *pkg_lens = NULL;
    if (ix == NULL)
        goto oom;
    ri_reader_t r = {set, set + len};
    ri_field_t f;
    int rc;
    size_t n = 0;
    while ((rc = ri_next(&r, &f)) == 1)
        if (f.field == 1 && f.data != NULL)
            n++;
    if (rc != 0 || n == 0) {
        snprintf(err, errlen, "descriptor set: malformed or empty");
        goto fail;
    }
    ix->files = calloc(n, sizeof(*ix->files));
    pkgs = calloc(n, sizeof(*pkgs));
    pkg_lens = calloc(n, sizeof(*pkg_lens));
    if (ix->files == NULL || pkgs == NULL || pkg_lens == NULL)
        goto oom;
    r = (ri_reader_t){set, set + len};
    while (ri_next(&r, &f) == 1) {
        if (f.field != 1 || f.data == NULL)
            continue;
        ri_file_t *file = &ix->files[ix->n_files++];
        file->data = f.data;
        file->len = f.len;
        if (ri_scan_file(file, &pkgs[ix->n_files - 1], &pkg_lens[ix->n_files - 1]) != 0) {
            snprintf(err, errlen, "descriptor set: file %zu: malformed descriptor", ix->n_files);
            goto fail;
        }
    }
    for (size_t i = 0; i < ix->n_files; i++)
        if (ri_index_file(ix, i, pkgs[i], pkg_lens[i], err, errlen) != 0)
            goto fail;
    qsort(ix->syms, ix->n_syms, sizeof(*ix->syms), ri_cmp_sym);
    free(pkgs);
    free(pkg_lens);
    return ix;
oom:
    snprintf(err, errlen, "descriptor set: out of memory");
fail:
    free(pkgs);
    free(pkg_lens);
    ri_index_free(ix);
    return NULL;
}

void ri_index_free(ri_index_t *ix)
{
    if (ix == NULL)
        return;
    for (size_t i = 0; i < ix->n_files; i++) {
        free(ix->files[i].cname);
        free(ix->files[i].deps);
    }
    free(ix->files);
    for (size_t i = 0; i < ix->n_syms; i++)
        free(ix->syms[i].name);
    free(ix->syms);
    free(ix);
}

size_t ri_file_count(const ri_index_t *ix)
{
    return ix->n_files;
}

const char *ri_file_name(const ri_index_t *ix, size_t i)
{
    return ix->files[i].cname;
}

void ri_file_bytes(const ri_index_t *ix, size_t i, const uint8_t **data, size_t *len)
{
    *data = ix->files[i].data;
    *len = ix->files[i].len;
}

long ri_find_file(const ri_index_t *ix, const char *name, size_t len)
{
    for (size_t i = 0; i < ix->n_files; i++)
        if (ix->files[i].cname != NULL && ix->files[i].name_len == len &&
            memcmp(ix->files[i].name, name, len) == 0)
            return (long)i;
    return -1;
}

long ri_find_symbol(const ri_index_t *ix, const char *name, size_t len, ri_sym_kind_t *kind)
{
    size_t lo = 0, hi = ix->n_syms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ri_sym_t *s = &ix->syms[mid];
        int c = ri_cmp_name(s->name, s->len, name, len);
        if (c == 0) {
            if (kind != NULL)
                *kind = s->kind;
            return (long)s->file;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

size_t ri_closure(const ri_index_t *ix, size_t file, size_t *out)
{
    /* Breadth-first over the import graph; out doubles as the queue. Sets
     * are a handful of files, so the linear "seen" check is cheapest. */
    size_t n = 0;
    out[n++] = file;
    for (size_t head = 0; head < n; head++) {
        const ri_file_t *f = &ix->files[out[head]];
        for (size_t d = 0; d < f->n_deps; d++) {
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = out[k] == f->deps[d];
            if (!seen)
                out[n++] = f->deps[d];
        }
    }
    return n;
}
