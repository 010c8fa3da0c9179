/* jscan: strict JSON scanning over a span. See jscan.h.
 *
 * One skipper (jscan_skip) validates a value of any shape without recursion:
 * open containers are a bit stack (1 = object) of JSCAN_MAX_DEPTH bits. Every
 * read is checked against `end`, so a truncated or hostile input can only
 * make it fail. The decoders (string, number) trust that their value came
 * from the skipper, but still stay inside the span if it did not.
 */
#include "jscan.h"

#include "hex.h"
#include "utf8.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(JSCAN_MAX_DEPTH <= 64, "the container stack is one uint64_t");

typedef struct {
    const char *at;
    const char *msg;
} jscan_fail_t;

static const char *jscan_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The 4 hex digits at p (p + 4 <= end checked here) as a code unit, or -1. */
static long jscan_hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_digit_value((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Bytes a string scan must look at: everything else (printable ASCII but
 * '"' and '\\') is skipped by a table lookup alone, the hot loop. */
enum { JSCAN_C_PLAIN, JSCAN_C_QUOTE, JSCAN_C_ESCAPE, JSCAN_C_CONTROL, JSCAN_C_HIGH };
static const unsigned char jscan_class[256] = {
    [0x00 ... 0x1F] = JSCAN_C_CONTROL,
    ['"'] = JSCAN_C_QUOTE,
    ['\\'] = JSCAN_C_ESCAPE,
    [0x80 ... 0xFF] = JSCAN_C_HIGH,
};

/* An escape at p (p[0] == '\\'): the byte after it, or NULL with *f set. */
static const char *jscan_escape(const char *p, const char *end, jscan_fail_t *f)
{
    if (end - p < 2) {
        f->at = end;
        f->msg = "unterminated string";
        return NULL;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return p + 2;
    case 'u':
        break;
    default:
        f->at = p;
        f->msg = "invalid escape";
        return NULL;
    }
    long cu = jscan_hex4(p + 2, end);
    f->at = p;
    if (cu < 0) {
        f->msg = end - p < 6 ? "unterminated string" : "invalid \\u escape";
        return NULL;
    }
    if (cu == 0) {
        /* As jansson's default: decoded strings stay C strings. */
        f->msg = "\\u0000 is not allowed";
        return NULL;
    }
    if (cu >= 0xDC00 && cu <= 0xDFFF) {
        f->msg = "invalid Unicode: lone low surrogate";
        return NULL;
    }
    if (cu < 0xD800 || cu > 0xDBFF)
        return p + 6;
    long lo = end - p >= 12 && p[6] == '\\' && p[7] == 'u' ? jscan_hex4(p + 8, end) : -1;
    if (lo < 0xDC00 || lo > 0xDFFF) {
        f->msg = "invalid Unicode: high surrogate without a low one";
        return NULL;
    }
    return p + 12;
}

/* A string whose opening quote is at p: returns the byte after the closing
 * quote, or NULL with *f set. */
static const char *jscan_string(const char *p, const char *end, jscan_fail_t *f)
{
    p++;
    for (;;) {
        while (p < end && jscan_class[(unsigned char)*p] == JSCAN_C_PLAIN)
            p++;
        if (p >= end)
            break;
        switch (jscan_class[(unsigned char)*p]) {
        case JSCAN_C_QUOTE:
            return p + 1;
        case JSCAN_C_ESCAPE:
            p = jscan_escape(p, end, f);
            if (!p)
                return NULL;
            break;
        case JSCAN_C_CONTROL:
            f->at = p;
            f->msg = "control character in string";
            return NULL;
        default: {
            size_t n = utf8_seq_len((const unsigned char *)p, (const unsigned char *)end);
            if (n == 0) {
                f->at = p;
                f->msg = "invalid UTF-8";
                return NULL;
            }
            p += n;
        }
        }
    }
    f->at = end;
    f->msg = "unterminated string";
    return NULL;
}

static bool jscan_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* Whether a number in valid syntax is in the range jansson accepts (and
 * jscan_int64 / jscan_double read): an integer that fits int64_t, a real
 * that does not overflow a double. Decided from the digits; strtod only for
 * a real right at the edge (about 1.8e308). */
static bool jscan_number_in_range(const char *p, const char *end)
{
    bool neg = *p == '-';
    const char *digits = neg ? p + 1 : p;
    const char *q = digits;
    while (q < end && *q >= '0' && *q <= '9')
        q++;
    size_t n_int = (size_t)(q - digits);
    if (q == end) {
        /* Integer syntax: no leading zeros, so length orders magnitude. */
        static const char max[] = "9223372036854775807", min[] = "9223372036854775808";
        if (n_int != sizeof(max) - 1)
            return n_int < sizeof(max) - 1;
        return memcmp(digits, neg ? min : max, n_int) <= 0;
    }
    /* Real: the decimal exponent of the first significant digit. */
    long e10;
    const char *r = digits;
    while (r < q && *r == '0')
        r++;
    if (r < q) {
        e10 = (long)(q - r) - 1;
    } else {
        e10 = 0;
        r = q < end && *q == '.' ? q + 1 : q;
        while (r < end && *r == '0')
            r++;
        if (r == end || *r < '1' || *r > '9')
            return true; /* zero */
        e10 = -(long)(r - q);
    }
    while (q < end && *q != 'e' && *q != 'E')
        q++;
    if (q < end) {
        q++;
        bool eneg = *q == '-';
        if (*q == '+' || *q == '-')
            q++;
        long ex = 0;
        for (; q < end; q++)
            if (ex < 100000)
                ex = ex * 10 + (*q - '0');
        e10 += eneg ? -ex : ex;
    }
    if (e10 != 308)
        return e10 < 308; /* below 1e308 fits; underflow reads as 0, as in jansson */
    jscan_value_t v = {p, (size_t)(end - p), JSCAN_NUMBER};
    double d;
    return jscan_double(&v, &d) == 0;
}

/* A number starting at p (RFC 8259 grammar; jansson's range with
 * JSCAN_JANSSON_RANGE); the byte after it, or NULL. */
static const char *jscan_number(const char *p, const char *end, unsigned flags, jscan_fail_t *f)
{
    const char *start = p;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0') {
        p++;
    } else if (jscan_digit(p, end)) {
        while (jscan_digit(p, end))
            p++;
    } else {
        goto bad;
    }
    if (p < end && *p == '.') {
        p++;
        if (!jscan_digit(p, end))
            goto bad;
        while (jscan_digit(p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!jscan_digit(p, end))
            goto bad;
        while (jscan_digit(p, end))
            p++;
    }
    if ((flags & JSCAN_JANSSON_RANGE) && !jscan_number_in_range(start, p)) {
        f->at = start;
        f->msg = "number out of range";
        return NULL;
    }
    return p;
bad:
    f->at = start;
    f->msg = "invalid number";
    return NULL;
}

static jscan_type_t jscan_type_of(char c)
{
    switch (c) {
    case '{':
        return JSCAN_OBJECT;
    case '[':
        return JSCAN_ARRAY;
    case '"':
        return JSCAN_STRING;
    case 't':
        return JSCAN_TRUE;
    case 'f':
        return JSCAN_FALSE;
    case 'n':
        return JSCAN_NULL;
    default:
        return JSCAN_NUMBER;
    }
}

/* Steps over the value starting at p (no leading whitespace): the byte after
 * it, or NULL with *f set. Containers nest at most JSCAN_MAX_DEPTH deep. */
static const char *jscan_skip(const char *p, const char *end, unsigned flags, jscan_fail_t *f)
{
    uint64_t objects = 0; /* bit d-1: the container at depth d is an object */
    int depth = 0;

value:
    if (p >= end) {
        f->at = end;
        f->msg = "unexpected end of input";
        return NULL;
    }
    switch (*p) {
    case '{':
    case '[':
        if (depth == JSCAN_MAX_DEPTH) {
            f->at = p;
            f->msg = "nesting too deep";
            return NULL;
        }
        if (*p == '{')
            objects |= UINT64_C(1) << depth;
        else
            objects &= ~(UINT64_C(1) << depth);
        depth++;
        p = jscan_ws(p + 1, end);
        if (p < end && *p == (objects >> (depth - 1) & 1 ? '}' : ']')) {
            p++;
            depth--;
            goto after_value;
        }
        if (objects >> (depth - 1) & 1)
            goto key;
        goto value;
    case '"':
        p = jscan_string(p, end, f);
        break;
    case 't':
    case 'f':
    case 'n': {
        const char *lit = *p == 't' ? "true" : *p == 'f' ? "false" : "null";
        size_t n = strlen(lit);
        if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0) {
            f->at = p;
            f->msg = "invalid literal";
            return NULL;
        }
        p += n;
        break;
    }
    default:
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            p = jscan_number(p, end, flags, f);
            break;
        }
        f->at = p;
        f->msg = "unexpected character";
        return NULL;
    }
    if (!p)
        return NULL;

after_value:
    if (depth == 0)
        return p;
    p = jscan_ws(p, end);
    if (p >= end) {
        f->at = end;
        f->msg = "unexpected end of input";
        return NULL;
    }
    bool in_object = objects >> (depth - 1) & 1;
    if (*p == ',') {
        p = jscan_ws(p + 1, end);
        if (in_object)
            goto key;
        goto value;
    }
    if (*p == (in_object ? '}' : ']')) {
        p++;
        depth--;
        goto after_value;
    }
    f->at = p;
    f->msg = in_object ? "expected ',' or '}'" : "expected ',' or ']'";
    return NULL;

key:
    if (p >= end || *p != '"') {
        f->at = p;
        f->msg = p >= end ? "unexpected end of input" : "expected a string key";
        return NULL;
    }
    p = jscan_string(p, end, f);
    if (!p)
        return NULL;
    p = jscan_ws(p, end);
    if (p >= end || *p != ':') {
        f->at = p;
        f->msg = p >= end ? "unexpected end of input" : "expected ':'";
        return NULL;
    }
    p = jscan_ws(p + 1, end);
    goto value;
}

static void jscan_set_err(jscan_error_t *err, const char *base, const jscan_fail_t *f)
{
    if (err) {
        err->offset = (size_t)(f->at - base);
        err->msg = f->msg;
    }
}

int jscan_document(const char *text, size_t len, jscan_value_t *root, jscan_error_t *err)
{
    return jscan_document_flags(text, len, 0, root, err);
}

int jscan_document_flags(const char *text, size_t len, unsigned flags, jscan_value_t *root,
                         jscan_error_t *err)
{
    if (!text) {
        text = "";
        len = 0;
    }
    jscan_fail_t f = {text, "unexpected end of input"};
    const char *end = text + len;
    const char *p = jscan_ws(text, end);
    const char *start = p;
    const char *after = jscan_skip(p, end, flags, &f);
    if (!after)
        goto fail;
    p = jscan_ws(after, end);
    if (p != end) {
        f.at = p;
        f.msg = "trailing bytes after the value";
        goto fail;
    }
    root->p = start;
    root->len = (size_t)(after - start);
    root->type = jscan_type_of(*start);
    return 0;
fail:
    jscan_set_err(err, text, &f);
    return -1;
}

void jscan_line_column(const char *text, size_t offset, int *line, int *column)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *column = c;
}

int jscan_iter_init(jscan_iter_t *it, const jscan_value_t *v)
{
    if ((v->type != JSCAN_OBJECT && v->type != JSCAN_ARRAY) || v->len < 2)
        return -1;
    it->base = v->p;
    it->p = v->p + 1;
    it->end = v->p + v->len - 1; /* the closing bracket */
    it->object = v->type == JSCAN_OBJECT;
    it->started = false;
    return 0;
}

/* Moves to the next item: past the ',' unless it is the first. 1 when there
 * is one (it->p at its first byte), 0 at the end, -1 malformed. */
static int jscan_iter_step(jscan_iter_t *it, jscan_fail_t *f)
{
    const char *p = jscan_ws(it->p, it->end);
    if (p == it->end && !it->started)
        return 0;
    if (it->started) {
        if (p == it->end)
            return 0;
        if (*p != ',') {
            f->at = p;
            f->msg = it->object ? "expected ',' or '}'" : "expected ',' or ']'";
            return -1;
        }
        p = jscan_ws(p + 1, it->end);
    }
    it->started = true;
    it->p = p;
    return 1;
}

static int jscan_iter_value(jscan_iter_t *it, jscan_value_t *val, jscan_fail_t *f)
{
    const char *start = it->p;
    const char *after = jscan_skip(start, it->end, 0, f);
    if (!after)
        return -1;
    val->p = start;
    val->len = (size_t)(after - start);
    val->type = jscan_type_of(*start);
    it->p = after;
    return 1;
}

int jscan_object_next(jscan_iter_t *it, jscan_value_t *key, jscan_value_t *val, jscan_error_t *err)
{
    jscan_fail_t f = {it->p, "malformed object"};
    int rc = it->object ? jscan_iter_step(it, &f) : -1;
    if (rc <= 0)
        goto out;
    const char *p = it->p;
    if (p >= it->end || *p != '"') {
        f.at = p;
        f.msg = "expected a string key";
        rc = -1;
        goto out;
    }
    const char *after = jscan_string(p, it->end, &f);
    if (!after) {
        rc = -1;
        goto out;
    }
    key->p = p;
    key->len = (size_t)(after - p);
    key->type = JSCAN_STRING;
    p = jscan_ws(after, it->end);
    if (p >= it->end || *p != ':') {
        f.at = p;
        f.msg = "expected ':'";
        rc = -1;
        goto out;
    }
    it->p = jscan_ws(p + 1, it->end);
    rc = jscan_iter_value(it, val, &f);
out:
    if (rc < 0)
        jscan_set_err(err, it->base, &f);
    return rc;
}

int jscan_array_next(jscan_iter_t *it, jscan_value_t *val, jscan_error_t *err)
{
    jscan_fail_t f = {it->p, "malformed array"};
    int rc = !it->object ? jscan_iter_step(it, &f) : -1;
    if (rc > 0)
        rc = jscan_iter_value(it, val, &f);
    if (rc < 0)
        jscan_set_err(err, it->base, &f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Strings                                                                   */

/* Reads a string value's decoded bytes one at a time. */
typedef struct {
    const char *p, *end; /* undecoded content, closing quote excluded */
    unsigned char buf[4];
    size_t n, i; /* buf holds n bytes, i already handed out */
} jscan_cursor_t;

static void jscan_cursor_init(jscan_cursor_t *c, const jscan_value_t *v)
{
    c->p = v->p + 1;
    c->end = v->p + (v->len >= 2 ? v->len - 1 : 1);
    c->n = c->i = 0;
}

static size_t jscan_utf8_put(unsigned char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the unit at c->p into c->buf. The string was validated by
 * jscan_string; a malformed escape is passed through as its bytes. */
static void jscan_cursor_fill(jscan_cursor_t *c)
{
    const char *p = c->p;
    c->i = 0;
    if (*p != '\\' || c->end - p < 2) {
        c->buf[0] = (unsigned char)*p;
        c->n = 1;
        c->p = p + 1;
        return;
    }
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k = p[1] != 'u' ? strchr(from, p[1]) : NULL;
    if (k && *k) {
        c->buf[0] = (unsigned char)to[k - from];
        c->n = 1;
        c->p = p + 2;
        return;
    }
    long cu = p[1] == 'u' ? jscan_hex4(p + 2, c->end) : -1;
    if (cu < 0) {
        c->buf[0] = '\\';
        c->n = 1;
        c->p = p + 1;
        return;
    }
    unsigned long cp = (unsigned long)cu;
    p += 6;
    if (cu >= 0xD800 && cu <= 0xDBFF && c->end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
        long lo = jscan_hex4(p + 2, c->end);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((unsigned long)(cu - 0xD800) << 10) + (unsigned long)(lo - 0xDC00);
            p += 6;
        }
    }
    c->n = jscan_utf8_put(c->buf, cp);
    c->p = p;
}

/* The next decoded byte, or -1 at the end. */
static int jscan_cursor_next(jscan_cursor_t *c)
{
    if (c->i == c->n) {
        if (c->p >= c->end)
            return -1;
        jscan_cursor_fill(c);
    }
    return c->buf[c->i++];
}

static bool jscan_has_escape(const jscan_value_t *v)
{
    return v->len >= 2 && memchr(v->p + 1, '\\', v->len - 2) != NULL;
}

bool jscan_string_eq(const jscan_value_t *v, const char *s)
{
    if (v->type != JSCAN_STRING || v->len < 2)
        return false;
    if (!jscan_has_escape(v)) {
        size_t n = v->len - 2;
        return strlen(s) == n && memcmp(v->p + 1, s, n) == 0;
    }
    jscan_cursor_t c;
    jscan_cursor_init(&c, v);
    for (;; s++) {
        int b = jscan_cursor_next(&c);
        if (b < 0)
            return *s == '\0';
        if (*s == '\0' || (unsigned char)*s != b)
            return false;
    }
}

bool jscan_string_same(const jscan_value_t *a, const jscan_value_t *b)
{
    if (a->type != JSCAN_STRING || b->type != JSCAN_STRING || a->len < 2 || b->len < 2)
        return false;
    if (!jscan_has_escape(a) && !jscan_has_escape(b))
        return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
    jscan_cursor_t ca, cb;
    jscan_cursor_init(&ca, a);
    jscan_cursor_init(&cb, b);
    for (;;) {
        int x = jscan_cursor_next(&ca), y = jscan_cursor_next(&cb);
        if (x != y)
            return false;
        if (x < 0)
            return true;
    }
}

size_t jscan_string_decode(const jscan_value_t *v, char *dst)
{
    size_t n = 0;
    if (v->type == JSCAN_STRING && v->len >= 2) {
        const char *src = v->p + 1;
        size_t raw = v->len - 2;
        if (!memchr(src, '\\', raw)) {
            memcpy(dst, src, raw);
            n = raw;
        } else {
            jscan_cursor_t c;
            jscan_cursor_init(&c, v);
            for (int b; (b = jscan_cursor_next(&c)) >= 0;)
                dst[n++] = (char)b;
        }
    }
    dst[n] = '\0';
    return n;
}

char *jscan_string_dup(const jscan_value_t *v, arena_t *a, size_t *len)
{
    if (v->type != JSCAN_STRING || v->len < 2)
        return NULL;
    char *s = arena_alloc(a, v->len - 1);
    if (!s)
        return NULL;
    size_t n = jscan_string_decode(v, s);
    if (len)
        *len = n;
    return s;
}

typedef struct {
    const char *p; /* the decoded key */
    size_t len;
    size_t idx; /* the member's position */
} jscan_key_t;

/* By key, then by position, so equal keys sit in member order. */
static int jscan_key_cmp(const void *a, const void *b)
{
    const jscan_key_t *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int jscan_object_repeats(const jscan_value_t *obj, size_t n, bool *repeated_by_later)
{
    for (size_t i = 0; i < n; i++)
        repeated_by_later[i] = false;
    jscan_iter_t it;
    if (n < 2 || obj->type != JSCAN_OBJECT || jscan_iter_init(&it, obj) < 0)
        return 0;
    /* The decoded keys fit in the object's text: each is shorter than its
     * spelling, quotes included. */
    jscan_key_t *keys = malloc(n * sizeof(*keys) + obj->len);
    if (!keys)
        return -1;
    char *text = (char *)(keys + n);
    jscan_value_t k, v;
    size_t m = 0;
    while (m < n && jscan_object_next(&it, &k, &v, NULL) > 0) {
        keys[m].idx = m;
        if (jscan_has_escape(&k)) {
            keys[m].p = text;
            keys[m].len = jscan_string_decode(&k, text);
            text += keys[m].len + 1;
        } else {
            keys[m].p = k.p + 1;
            keys[m].len = k.len - 2;
        }
        m++;
    }
    qsort(keys, m, sizeof(*keys), jscan_key_cmp);
    for (size_t i = 0; i + 1 < m; i++)
        if (keys[i].len == keys[i + 1].len && memcmp(keys[i].p, keys[i + 1].p, keys[i].len) == 0)
            repeated_by_later[keys[i].idx] = true;
    free(keys);
    return 0;
}

size_t jscan_compact(const jscan_value_t *v, char *dst)
{
    const char *p = v->p, *end = v->p + v->len;
    size_t n = 0;
    while (p < end) {
        char c = *p++;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        dst[n++] = c;
        if (c != '"')
            continue;
        while (p < end) {
            c = *p++;
            dst[n++] = c;
            if (c == '"')
                break;
            if (c == '\\' && p < end)
                dst[n++] = *p++;
        }
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Numbers                                                                   */

bool jscan_number_is_integer(const jscan_value_t *v)
{
    return v->type == JSCAN_NUMBER && !memchr(v->p, '.', v->len) && !memchr(v->p, 'e', v->len) &&
           !memchr(v->p, 'E', v->len);
}

int jscan_int64(const jscan_value_t *v, int64_t *out)
{
    if (!jscan_number_is_integer(v) || v->len == 0)
        return -1;
    const char *p = v->p, *end = v->p + v->len;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (p == end)
        return -1;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t m = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (m > (limit - d) / 10)
            return -1;
        m = m * 10 + d;
    }
    *out = neg ? (int64_t)(0 - m) : (int64_t)m;
    return 0;
}

int jscan_double(const jscan_value_t *v, double *out)
{
    char buf[512];
    if (v->type != JSCAN_NUMBER || v->len == 0 || v->len >= sizeof(buf))
        return -1;
    memcpy(buf, v->p, v->len);
    buf[v->len] = '\0';
    /* strtod reads the locale's decimal point; JSON's is always '.'
     * (jansson swaps it the same way). */
    char *dot = memchr(buf, '.', v->len);
    if (dot) {
        const char *point = localeconv()->decimal_point;
        if (point && point[0] && point[0] != '.' && !point[1])
            *dot = point[0];
    }
    char *rest;
    double d = strtod(buf, &rest);
    if (rest != buf + v->len || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}
