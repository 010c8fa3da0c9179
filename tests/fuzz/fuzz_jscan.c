/* fuzz_jscan: the JSON scanner (server/common/jscan.c) on arbitrary bytes.
 *
 * Every value of an accepted document is walked with the iterators, every
 * string decoded into a buffer of exactly the size the header promises is
 * enough, every number converted, every object checked for repeated keys, and
 * the compacted text re-scanned (it must be a document too). jscan and
 * jansson must agree on what is JSON: with JSCAN_JANSSON_RANGE, jscan accepts
 * what json_loadb(JSON_DECODE_ANY) accepts (see below for the one exception). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jscan.h"

static void fuzz_jscan_walk(const jscan_value_t *v, int depth)
{
    if (depth > JSCAN_MAX_DEPTH)
        abort();
    switch (v->type) {
    case JSCAN_STRING: {
        char *dst = malloc(v->len); /* the documented room: v->len bytes */
        if (!dst)
            return;
        size_t n = jscan_string_decode(v, dst);
        if (n + 1 > v->len || dst[n] != '\0' || strlen(dst) != n)
            abort();
        if (!jscan_string_eq(v, dst) || !jscan_string_same(v, v))
            abort();
        free(dst);
        break;
    }
    case JSCAN_NUMBER: {
        int64_t i;
        double d;
        if (jscan_int64(v, &i) == 0 && !jscan_number_is_integer(v))
            abort();
        (void)jscan_double(v, &d);
        break;
    }
    case JSCAN_OBJECT: {
        jscan_iter_t it;
        jscan_value_t key, val;
        jscan_error_t err;
        size_t members = 0;
        if (jscan_iter_init(&it, v) < 0)
            abort();
        int rc;
        while ((rc = jscan_object_next(&it, &key, &val, &err)) == 1) {
            if (key.type != JSCAN_STRING)
                abort();
            fuzz_jscan_walk(&key, depth + 1);
            fuzz_jscan_walk(&val, depth + 1);
            members++;
        }
        if (rc < 0)
            abort(); /* the document was validated: stepping cannot fail */
        bool *marks = calloc(members + 1, sizeof(*marks));
        if (marks) {
            (void)jscan_object_repeats(v, members, marks);
            free(marks);
        }
        break;
    }
    case JSCAN_ARRAY: {
        jscan_iter_t it;
        jscan_value_t val;
        jscan_error_t err;
        if (jscan_iter_init(&it, v) < 0)
            abort();
        int rc;
        while ((rc = jscan_array_next(&it, &val, &err)) == 1)
            fuzz_jscan_walk(&val, depth + 1);
        if (rc < 0)
            abort();
        break;
    }
    default:
        break;
    }
}

/* jscan's refusal is its nesting cap. */
static bool fuzz_jscan_too_deep(const jscan_error_t *err)
{
    return err->msg && strcmp(err->msg, "nesting too deep") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    jscan_value_t root;
    jscan_error_t err;
    int plain = jscan_document(text, size, &root, &err);
    if (plain < 0) {
        if (err.offset > size || !err.msg)
            abort();
        int line, column;
        jscan_line_column(text, err.offset, &line, &column);
    } else {
        fuzz_jscan_walk(&root, 0);
        char *compact = malloc(root.len ? root.len : 1);
        if (compact) {
            size_t n = jscan_compact(&root, compact);
            jscan_value_t again;
            if (n > root.len || jscan_document(compact, n, &again, &err) < 0)
                abort();
            free(compact);
        }
    }
    int ranged = jscan_document_flags(text, size, JSCAN_JANSSON_RANGE, &root, &err);
    if (ranged == 0 && plain < 0)
        abort(); /* the range flag only refuses more */
    json_error_t jerr;
    json_t *j = json_loadb(text, size, JSON_DECODE_ANY, &jerr);
    /* What jscan keeps loads with jansson again (the promise callers rely
     * on). The other way round holds except for a NUL byte, which jansson's
     * number reader takes for the end of its input ("4\0" loads as 4), and
     * for nesting: jscan refuses past JSCAN_MAX_DEPTH (64) containers by
     * design, jansson only past 2048 (found by the 10-minute run). */
    if (ranged == 0 && !j)
        abort();
    if (ranged < 0 && j && !memchr(text, '\0', size) && !fuzz_jscan_too_deep(&err))
        abort();
    json_decref(j);
    return 0;
}
