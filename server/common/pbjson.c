/* pbjson: protobuf-c message → JSON by walking the descriptor. See pbjson.h
 * for the mapping. Field storage follows protobuf-c's layout: the value at
 * `offset`; for repeated fields a size_t count at `quantifier_offset` and an
 * array pointer at `offset`; for oneof members the case (a uint32 holding the
 * member's field number) at `quantifier_offset`; for proto2 optional fields a
 * protobuf_c_boolean "has" flag there.
 */
#include "pbjson.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *base64(const ProtobufCBinaryData *b)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out_len = (b->len + 2) / 3 * 4;
    char *out = malloc(out_len + 1);
    json_t *j = NULL;
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < b->len; i += 3) {
        uint32_t v = (uint32_t)b->data[i] << 16;
        if (i + 1 < b->len)
            v |= (uint32_t)b->data[i + 1] << 8;
        if (i + 2 < b->len)
            v |= b->data[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < b->len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < b->len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    j = json_stringn(out, o);
    free(out);
    return j;
}

/* One value of type f->type stored at p. */
static json_t *value(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v <= (uint64_t)LLONG_MAX)
            return json_integer((json_int_t)v);
        /* jansson integers are signed: keep the exact digits as a string. */
        char digits[24];
        snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
        return json_string(digits);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
        return base64((const ProtobufCBinaryData *)p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? pbjson_from_message(m) : json_null();
    }
    }
    return NULL;
}

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

/* Whether a singular field is present: unset oneof members and unset
 * sub-messages are left out; every other proto3 field is always written. */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)(base + f->offset) != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        f->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    return true;
}

json_t *pbjson_from_message(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    json_t *obj = json_object();
    if (!obj)
        goto fail;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            v = json_array();
            if (!v)
                goto fail;
            for (size_t k = 0; k < n; k++) {
                if (json_array_append_new(v, value(f, arr + k * elem_size(f->type))) < 0) {
                    json_decref(v);
                    goto fail;
                }
            }
        } else {
            if (!present(m, f))
                continue;
            v = value(f, base + f->offset);
        }
        /* json_object_set_new takes v even on failure and rejects NULL. */
        if (!v || json_object_set_new(obj, f->name, v) < 0)
            goto fail;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

/* --- JSON → message ------------------------------------------------------------ */

typedef struct {
    char *err;
    size_t errlen;
} pbjson_err_t;

static int pbjson_fail(pbjson_err_t *e, const char *path, const char *what)
{
    snprintf(e->err, e->errlen, "%s: %s", path, what);
    return -1;
}

static int pbjson_oom(pbjson_err_t *e)
{
    snprintf(e->err, e->errlen, "out of memory");
    return -1;
}

static int unbase64(const char *s, size_t n, ProtobufCBinaryData *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    uint8_t *data = malloc(n * 3 / 4 + 1);
    if (!data)
        return -2;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = s[i] ? strchr(tab, s[i]) : NULL;
        if (!c) {
            free(data);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)(c - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            data[o++] = (uint8_t)(acc >> bits);
        }
    }
    out->data = data;
    out->len = o;
    return 0;
}

/* An integer from a JSON integer or a decimal string (proto3 JSON writes
 * 64-bit values as strings). */
static int json_int(const json_t *v, long long *out, bool *is_unsigned_big, unsigned long long *big)
{
    *is_unsigned_big = false;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != d || d < -9.2e18 || d > 9.2e18 || d != (double)(long long)d)
            return -1;
        *out = (long long)d;
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    char *end = NULL;
    if (!*s)
        return -1;
    errno = 0;
    if (*s != '-') {
        unsigned long long u = strtoull(s, &end, 10);
        if (errno || *end)
            return -1;
        if (u > (unsigned long long)LLONG_MAX) {
            *is_unsigned_big = true;
            *big = u;
            return 0;
        }
        *out = (long long)u;
        return 0;
    }
    *out = strtoll(s, &end, 10);
    return errno || *end ? -1 : 0;
}

static int to_message(const ProtobufCMessageDescriptor *d, const json_t *j, const char *path,
                      int depth, ProtobufCMessage **out, pbjson_err_t *e);

/* One value of f's type from v into the storage at p (a fresh slot holding
 * the type's initial value). */
static int to_value(const ProtobufCFieldDescriptor *f, const json_t *v, const char *path, int depth,
                    void *p, pbjson_err_t *e)
{
    long long i = 0;
    unsigned long long big = 0;
    bool is_big = false;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (json_int(v, &i, &is_big, &big) < 0 || is_big)
            return pbjson_fail(e, path, "expected an integer");
        if (i < INT32_MIN || i > INT32_MAX)
            return pbjson_fail(e, path, "expected a 32-bit integer");
        *(int32_t *)p = (int32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (json_int(v, &i, &is_big, &big) < 0 || is_big)
            return pbjson_fail(e, path, "expected an integer");
        *(int64_t *)p = (int64_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (json_int(v, &i, &is_big, &big) < 0 || is_big)
            return pbjson_fail(e, path, "expected an integer");
        if (i < 0 || i > (long long)UINT32_MAX)
            return pbjson_fail(e, path, "expected an unsigned 32-bit integer");
        *(uint32_t *)p = (uint32_t)i;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (json_int(v, &i, &is_big, &big) < 0)
            return pbjson_fail(e, path, "expected an integer");
        if (!is_big && i < 0)
            return pbjson_fail(e, path, "expected an unsigned integer");
        *(uint64_t *)p = is_big ? (uint64_t)big : (uint64_t)i;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!json_is_number(v))
            return pbjson_fail(e, path, "expected a number");
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)p = (float)json_number_value(v);
        else
            *(double *)p = json_number_value(v);
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return pbjson_fail(e, path, "expected true or false");
        *(protobuf_c_boolean *)p = json_is_true(v);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(v))
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        else if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
                 json_integer_value(v) <= INT32_MAX)
            ev = protobuf_c_enum_descriptor_get_value(ed, (int)json_integer_value(v));
        if (!ev) {
            char what[256];
            size_t o = (size_t)snprintf(what, sizeof(what), "expected one of");
            for (unsigned k = 0; k < ed->n_values && o < sizeof(what); k++)
                o += (size_t)snprintf(what + o, sizeof(what) - o, "%s %s", k ? "," : "",
                                      ed->values[k].name);
            return pbjson_fail(e, path, what);
        }
        *(int *)p = ev->value;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(v))
            return pbjson_fail(e, path, "expected a string");
        if (strlen(json_string_value(v)) != json_string_length(v))
            return pbjson_fail(e, path, "expected a string without NUL characters");
        char *s = strdup(json_string_value(v));
        if (!s)
            return pbjson_oom(e);
        *(char **)p = s;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(v))
            return pbjson_fail(e, path, "expected a base64 string");
        int rc = unbase64(json_string_value(v), json_string_length(v), (ProtobufCBinaryData *)p);
        if (rc == -2)
            return pbjson_oom(e);
        return rc < 0 ? pbjson_fail(e, path, "expected a base64 string") : 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return to_message(f->descriptor, v, path, depth + 1, (ProtobufCMessage **)p, e);
    }
    return pbjson_fail(e, path, "unsupported field type");
}

static void child_path(char *out, size_t n, const char *path, const char *field)
{
    if (*path)
        snprintf(out, n, "%.200s.%.100s", path, field);
    else
        snprintf(out, n, "%.100s", field);
}

static int to_field(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const json_t *v,
                    const char *path, int depth, pbjson_err_t *e)
{
    char *base = (char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v))
            return pbjson_fail(e, path, "expected an array");
        size_t n = json_array_size(v), sz = elem_size(f->type);
        size_t *count = (size_t *)(base + f->quantifier_offset);
        char **arr = (char **)(base + f->offset);
        if (n == 0)
            return 0;
        if (!(*arr = calloc(n, sz)))
            return pbjson_oom(e);
        for (size_t k = 0; k < n; k++) {
            char ep[340];
            snprintf(ep, sizeof(ep), "%.300s[%zu]", path, k);
            json_t *item = json_array_get(v, k);
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && json_is_null(item))
                return pbjson_fail(e, ep, "expected an object");
            if (to_value(f, item, ep, depth, *arr + k * sz, e) < 0)
                return -1;
            (*count)++; /* counted once complete: a failure frees only whole elements */
        }
        return 0;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
        if (*which != 0)
            return pbjson_fail(e, path, "only one member of its oneof may be set");
        if (to_value(f, v, path, depth, base + f->offset, e) < 0)
            return -1;
        *which = f->id;
        return 0;
    }
    if (to_value(f, v, path, depth, base + f->offset, e) < 0)
        return -1;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    return 0;
}

static int to_message(const ProtobufCMessageDescriptor *d, const json_t *j, const char *path,
                      int depth, ProtobufCMessage **out, pbjson_err_t *e)
{
    if (depth > PBJSON_MAX_DEPTH)
        return pbjson_fail(e, *path ? path : "request", "nested too deeply");
    if (j && !json_is_object(j))
        return pbjson_fail(e, *path ? path : "request", "expected an object");
    ProtobufCMessage *m = malloc(d->sizeof_message);
    if (!m)
        return pbjson_oom(e);
    d->message_init(m);
    const char *key;
    json_t *v;
    if (j) {
        json_object_foreach((json_t *)j, key, v)
        {
            char fp[320];
            child_path(fp, sizeof(fp), path, key);
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(d, key);
            if (!f) {
                pbjson_fail(e, fp, "unknown field");
                goto fail;
            }
            if (json_is_null(v))
                continue;
            if (to_field(m, f, v, fp, depth, e) < 0)
                goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    protobuf_c_message_free_unpacked(m, NULL);
    return -1;
}

ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *d, const json_t *j, char *err,
                                    size_t errlen)
{
    pbjson_err_t e = {err, errlen};
    ProtobufCMessage *m = NULL;
    if (errlen)
        err[0] = '\0';
    return to_message(d, j, "", 0, &m, &e) < 0 ? NULL : m;
}
