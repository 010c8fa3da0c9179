/* Unit tests for jscan.c: every JSON type accepted, every RFC 8259
 * rejection (each its own test), the depth cap, truncation at every byte,
 * string decoding (escapes, surrogate pairs), iteration, numbers and the
 * compact copy. Inputs are copied into exactly-sized heap buffers so the
 * sanitizer build catches any read past len. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "jscan.h"

/* jscan_document_flags over an exact heap copy of text[0..len). */
static int scan_flags(const char *text, size_t len, unsigned flags, jscan_type_t *type,
                      jscan_error_t *err)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    jscan_value_t root = {0};
    jscan_error_t e = {0, NULL};
    int rc = jscan_document_flags(copy, len, flags, &root, &e);
    if (rc == 0) {
        assert_true(root.p >= copy && root.p + root.len <= copy + len);
        if (type)
            *type = root.type;
    } else {
        assert_non_null(e.msg);
        assert_true(e.offset <= len);
    }
    if (err)
        *err = e;
    free(copy);
    return rc;
}

/* jscan_document over an exact heap copy; every document jscan_document
 * rejects, JSCAN_JANSSON_RANGE rejects too. */
static int scan_n(const char *text, size_t len, jscan_type_t *type, jscan_error_t *err)
{
    int rc = scan_flags(text, len, 0, type, err);
    if (rc != 0)
        assert_int_equal(scan_flags(text, len, JSCAN_JANSSON_RANGE, NULL, NULL), -1);
    return rc;
}

static int scan(const char *text)
{
    return scan_n(text, strlen(text), NULL, NULL);
}

static void expect_valid(const char *text, jscan_type_t want)
{
    jscan_type_t t = JSCAN_NONE;
    jscan_error_t e = {0, NULL};
    if (scan_n(text, strlen(text), &t, &e) != 0)
        fail_msg("valid %s refused at %zu: %s", text, e.offset, e.msg);
    assert_int_equal(t, want);
}

static void expect_invalid(const char *const *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (scan(cases[i]) != -1)
            fail_msg("invalid JSON accepted: %s", cases[i]);
}

#define EXPECT_INVALID(...)                                                                        \
    do {                                                                                           \
        static const char *const cases_[] = {__VA_ARGS__};                                         \
        expect_invalid(cases_, sizeof(cases_) / sizeof(cases_[0]));                                \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Accepted                                                                  */

static void test_jscan_valid_documents_of_every_type(void **state)
{
    expect_valid("{}", JSCAN_OBJECT);
    expect_valid(" { \"a\" : 1 , \"b\":[true,false,null] }\r\n", JSCAN_OBJECT);
    expect_valid("[]", JSCAN_ARRAY);
    expect_valid("[1,[2,[3,{}]],\"x\"]", JSCAN_ARRAY);
    expect_valid("\"\"", JSCAN_STRING);
    expect_valid("\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"",
                 JSCAN_STRING);
    expect_valid("\"\\u00e9\\uD83D\\uDE00\\uFFFF\"", JSCAN_STRING);
    expect_valid("\"\xF4\x8F\xBF\xBF\"", JSCAN_STRING); /* U+10FFFF */
    expect_valid("\"\xED\x9F\xBF\"", JSCAN_STRING);     /* U+D7FF, just below surrogates */
    expect_valid("0", JSCAN_NUMBER);
    expect_valid("-0", JSCAN_NUMBER);
    expect_valid("123", JSCAN_NUMBER);
    expect_valid("-1.5e+10", JSCAN_NUMBER);
    expect_valid("0.25E-3", JSCAN_NUMBER);
    expect_valid("9223372036854775807", JSCAN_NUMBER);
    expect_valid("-9223372036854775808", JSCAN_NUMBER);
    expect_valid("1.7976931348623157e308", JSCAN_NUMBER);
    expect_valid("99999999999999999999.0", JSCAN_NUMBER); /* a real: fits a double */
    expect_valid("1e-400", JSCAN_NUMBER);                 /* underflow reads as 0 */
    expect_valid("1e400", JSCAN_NUMBER);                  /* in RFC 8259; jscan_double refuses it */
    expect_valid("0.000e99999999999999999999", JSCAN_NUMBER);
    expect_valid("true", JSCAN_TRUE);
    expect_valid("false", JSCAN_FALSE);
    expect_valid(" null ", JSCAN_NULL);
    expect_valid("{\"a\":1,\"a\":2}", JSCAN_OBJECT); /* duplicates are the reader's call */
}

/* ------------------------------------------------------------------------ */
/* Rejected                                                                  */

static void test_jscan_rejects_empty_input(void **state)
{
    EXPECT_INVALID("", " ", "\n\t");
    jscan_value_t v;
    jscan_error_t e;
    assert_int_equal(jscan_document(NULL, 0, &v, &e), -1);
    assert_int_equal(e.offset, 0);
}

static void test_jscan_rejects_bad_numbers(void **state)
{
    EXPECT_INVALID("01", "-01", "1.", ".5", "+1", "-", "1e", "1e+", "1.e5", "0x10", "1_000", "--1",
                   "NaN", "Infinity", "-Infinity", "[1.]", "{\"a\":-}", "1 2");
}

/* RFC 8259 lets a reader limit range: jscan_document does not, and
 * JSCAN_JANSSON_RANGE takes jansson's, so text kept verbatim always loads
 * with jansson again. */
static void test_jscan_jansson_range_rejects_numbers_jansson_rejects(void **state)
{
    static const char *const out[] = {"9223372036854775808",
                                      "-9223372036854775809",
                                      "99999999999999999999",
                                      "[100000000000000000000000]",
                                      "1e400",
                                      "-1e400",
                                      "1.8e308",
                                      "17e95707389",
                                      "0.001e312",
                                      "{\"created\":1e99999999999999999999}"};
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
        jscan_error_t e;
        if (scan_flags(out[i], strlen(out[i]), 0, NULL, NULL) != 0)
            fail_msg("%s: refused without the flag", out[i]);
        if (scan_flags(out[i], strlen(out[i]), JSCAN_JANSSON_RANGE, NULL, &e) != -1)
            fail_msg("%s: accepted with JSCAN_JANSSON_RANGE", out[i]);
        assert_string_equal(e.msg, "number out of range");
    }
    static const char *const in[] = {"9223372036854775807",
                                     "-9223372036854775808",
                                     "1.7976931348623157e308",
                                     "99999999999999999999.0",
                                     "1e-400",
                                     "0.000e99999999999999999999",
                                     "0.5e-330",
                                     "17e307"};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        if (scan_flags(in[i], strlen(in[i]), JSCAN_JANSSON_RANGE, NULL, NULL) != 0)
            fail_msg("%s: refused with JSCAN_JANSSON_RANGE", in[i]);
}

static void test_jscan_rejects_bad_escapes(void **state)
{
    EXPECT_INVALID("\"\\x41\"", "\"\\a\"", "\"\\'\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"",
                   "\"\\\"", "\"\\");
}

static void test_jscan_rejects_control_characters_in_strings(void **state)
{
    EXPECT_INVALID("\"a\nb\"", "\"\t\"", "\"\x01\"", "\"\x1F\"", "[\"\r\"]");
    static const char nul[] = "\"a\0b\"";
    assert_int_equal(scan_n(nul, sizeof(nul) - 1, NULL, NULL), -1);
}

static void test_jscan_rejects_u0000_like_jansson(void **state)
{
    EXPECT_INVALID("\"\\u0000\"", "{\"\\u0000\":1}", "[\"a\\u0000\"]");
}

static void test_jscan_rejects_invalid_utf8(void **state)
{
    EXPECT_INVALID("\"\x80\"",             /* stray continuation byte */
                   "\"\xC3\"",             /* truncated sequence */
                   "\"\xC3(\"",            /* bad continuation */
                   "\"\xE2\x82\"",         /* truncated 3-byte */
                   "\"\xF0\x9F\x98\"",     /* truncated 4-byte */
                   "\"\xFF\"", "\"\xFE\"", /* never valid */
                   "\"\xF5\x80\x80\x80\"", /* past U+10FFFF */
                   "\"\xF4\x90\x80\x80\"", /* U+110000 */
                   "{\"k\xC3\":1}",        /* in a key */
                   "\xEF\xBB\xBF{}");      /* a BOM is not whitespace */
}

static void test_jscan_rejects_overlong_utf8(void **state)
{
    EXPECT_INVALID("\"\xC0\xAF\"", "\"\xC1\xBF\"", "\"\xE0\x80\xAF\"", "\"\xE0\x9F\xBF\"",
                   "\"\xF0\x80\x80\xAF\"", "\"\xF0\x8F\xBF\xBF\"");
}

static void test_jscan_rejects_utf8_encoded_surrogates(void **state)
{
    EXPECT_INVALID("\"\xED\xA0\x80\"", "\"\xED\xBF\xBF\"", "\"\xED\xA0\xBD\xED\xB8\x80\"");
}

static void test_jscan_rejects_lone_or_reversed_surrogate_escapes(void **state)
{
    EXPECT_INVALID("\"\\uD83D\"", "\"\\uD83Dx\"", "\"\\uD83D\\n\"", "\"\\uD83D\\u0041\"",
                   "\"\\uDE00\"", "\"\\uDE00\\uD83D\"", "\"\\uD83D\\uD83D\"", "\"\\uD83D\\uDE0\"");
}

static void test_jscan_rejects_trailing_garbage(void **state)
{
    EXPECT_INVALID("{} x", "{}}", "[]]", "{},", "1 1", "true false", "null0", "\"a\"\"b\"");
    static const char nul[] = "{}\0";
    assert_int_equal(scan_n(nul, sizeof(nul) - 1, NULL, NULL), -1);
}

static void test_jscan_rejects_unterminated_input(void **state)
{
    EXPECT_INVALID("{", "[", "\"abc", "{\"a\"", "{\"a\":", "{\"a\":1", "[1,", "[1", "tru", "nul",
                   "fals");
}

static void test_jscan_rejects_bad_structure(void **state)
{
    EXPECT_INVALID("{\"a\" 1}", "{\"a\":1,}", "[1,]", "[,1]", "{,}", "{1:2}", "{'a':1}", "{a:1}",
                   "[1 2]", "{\"a\":1 \"b\":2}", "[}", "{]", "[1}", "{\"a\":1]", "'x'", "True",
                   "nil", "{\"a\"::1}");
}

static void test_jscan_depth_cap(void **state)
{
    char deep[2 * JSCAN_MAX_DEPTH + 3];
    /* JSCAN_MAX_DEPTH arrays: accepted. */
    memset(deep, '[', JSCAN_MAX_DEPTH);
    memset(deep + JSCAN_MAX_DEPTH, ']', JSCAN_MAX_DEPTH);
    assert_int_equal(scan_n(deep, 2 * JSCAN_MAX_DEPTH, NULL, NULL), 0);
    /* One more: refused, with the offset of the container that is too deep. */
    memset(deep, '[', JSCAN_MAX_DEPTH + 1);
    memset(deep + JSCAN_MAX_DEPTH + 1, ']', JSCAN_MAX_DEPTH + 1);
    jscan_error_t e;
    assert_int_equal(scan_n(deep, 2 * JSCAN_MAX_DEPTH + 2, NULL, &e), -1);
    assert_int_equal(e.offset, JSCAN_MAX_DEPTH);
    assert_string_equal(e.msg, "nesting too deep");
    /* Objects count the same; a deep unterminated input stops at the cap. */
    char obj[8 * (JSCAN_MAX_DEPTH + 1) + 1];
    size_t n = 0;
    for (int i = 0; i <= JSCAN_MAX_DEPTH; i++) {
        memcpy(obj + n, "{\"a\":", 5);
        n += 5;
    }
    assert_int_equal(scan_n(obj, n, NULL, &e), -1);
    assert_string_equal(e.msg, "nesting too deep");
}

static const char sample[] =
    "{\"id\":\"chatcmpl-1\",\"created\":1795707389,\"n\":-1.5e3,\"ok\":true,\"no\":false,"
    "\"nil\":null,\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
    "\"caf\\u00e9 \\ud83d\\ude00 \xE2\x82\xAC\\n\"}}],\"usage\":{\"total_tokens\":9}}";

static void test_jscan_truncated_at_every_offset_fails(void **state)
{
    size_t len = sizeof(sample) - 1;
    assert_int_equal(scan_n(sample, len, NULL, NULL), 0);
    for (size_t cut = 0; cut < len; cut++) {
        jscan_error_t e;
        if (scan_n(sample, cut, NULL, &e) != -1)
            fail_msg("prefix of %zu bytes accepted", cut);
    }
}

static void test_jscan_error_reports_offset_line_and_column(void **state)
{
    const char text[] = "{\n  \"a\": 1,\n  \"b\": x\n}";
    jscan_value_t v;
    jscan_error_t e;
    assert_int_equal(jscan_document(text, sizeof(text) - 1, &v, &e), -1);
    assert_int_equal(e.offset, (size_t)(strchr(text, 'x') - text));
    int line, column;
    jscan_line_column(text, e.offset, &line, &column);
    assert_int_equal(line, 3);
    assert_int_equal(column, 8);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */

static void test_jscan_iterates_members_and_elements(void **state)
{
    const char text[] = " {\"a\" : [1, \"two\" ,{\"x\":null}] ,\"b\\u0063\":{}, \"a\":true} ";
    jscan_value_t root, k, v, e;
    assert_int_equal(jscan_document(text, sizeof(text) - 1, &root, NULL), 0);
    assert_int_equal(root.type, JSCAN_OBJECT);
    assert_int_equal(root.p[root.len - 1], '}');
    jscan_iter_t it;
    assert_int_equal(jscan_iter_init(&it, &root), 0);

    assert_int_equal(jscan_object_next(&it, &k, &v, NULL), 1);
    assert_true(jscan_string_eq(&k, "a"));
    assert_int_equal(v.type, JSCAN_ARRAY);
    jscan_iter_t ai;
    assert_int_equal(jscan_iter_init(&ai, &v), 0);
    static const jscan_type_t want[] = {JSCAN_NUMBER, JSCAN_STRING, JSCAN_OBJECT};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(jscan_array_next(&ai, &e, NULL), 1);
        assert_int_equal(e.type, want[i]);
    }
    assert_int_equal(jscan_array_next(&ai, &e, NULL), 0);
    assert_int_equal(jscan_array_next(&ai, &e, NULL), 0);

    assert_int_equal(jscan_object_next(&it, &k, &v, NULL), 1);
    assert_true(jscan_string_eq(&k, "bc")); /* keys compare decoded */
    assert_false(jscan_string_eq(&k, "b\\u0063"));
    assert_false(jscan_string_eq(&k, "b"));
    assert_false(jscan_string_eq(&k, "bcd"));
    assert_int_equal(v.len, 2);

    /* Duplicates come out in order: the caller keeps the last. */
    assert_int_equal(jscan_object_next(&it, &k, &v, NULL), 1);
    assert_true(jscan_string_eq(&k, "a"));
    assert_int_equal(v.type, JSCAN_TRUE);
    assert_int_equal(jscan_object_next(&it, &k, &v, NULL), 0);

    /* Empty containers, and the wrong iterator for the type. */
    jscan_value_t empty = {"[ ]", 3, JSCAN_ARRAY};
    assert_int_equal(jscan_iter_init(&it, &empty), 0);
    assert_int_equal(jscan_array_next(&it, &e, NULL), 0);
    assert_int_equal(jscan_iter_init(&it, &empty), 0);
    assert_int_equal(jscan_object_next(&it, &k, &v, NULL), -1);
    jscan_value_t str = {"\"x\"", 3, JSCAN_STRING};
    assert_int_equal(jscan_iter_init(&it, &str), -1);
}

static void test_jscan_iterator_refuses_malformed_span(void **state)
{
    /* A span that was not validated: the iterator still stays inside it. */
    static const char *const bad[] = {"{\"a\":1,}", "{\"a\" 1}",         "{\"a\":[}",
                                      "{1:2}",      "{\"a\":1 \"b\":2}", "{\"a\":\"\\u0000\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = strlen(bad[i]);
        char *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, bad[i], len);
        jscan_value_t obj = {copy, len, JSCAN_OBJECT}, k, v;
        jscan_iter_t it;
        jscan_error_t e = {0, NULL};
        assert_int_equal(jscan_iter_init(&it, &obj), 0);
        int rc;
        while ((rc = jscan_object_next(&it, &k, &v, &e)) > 0)
            ;
        free(copy);
        if (rc != -1)
            fail_msg("malformed %s iterated to the end", bad[i]);
        assert_non_null(e.msg);
    }
}

/* The decoded text of the one-string document `text`. */
static char *decode(arena_t *a, const char *text, size_t *len)
{
    jscan_value_t v;
    jscan_error_t e;
    if (jscan_document(text, strlen(text), &v, &e) != 0)
        fail_msg("%s: %s", text, e.msg);
    char *s = jscan_string_dup(&v, a, len);
    assert_non_null(s);
    return s;
}

static void test_jscan_string_unescape_and_surrogate_pairs(void **state)
{
    arena_t *a = arena_new(0);
    assert_non_null(a);
    size_t n;
    assert_string_equal(decode(a, "\"plain\"", &n), "plain");
    assert_int_equal(n, 5);
    assert_string_equal(decode(a, "\"\"", &n), "");
    assert_int_equal(n, 0);
    assert_string_equal(decode(a, "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", NULL), "\"\\/\b\f\n\r\t");
    assert_string_equal(decode(a, "\"\\u0041\\u00e9\\u20AC\\uffff\"", NULL),
                        "A\xC3\xA9\xE2\x82\xAC\xEF\xBF\xBF");
    assert_string_equal(decode(a, "\"\\ud83d\\ude00\\uD83D\\uDE00x\"", &n),
                        "\xF0\x9F\x98\x80\xF0\x9F\x98\x80x");
    assert_int_equal(n, 9);
    assert_string_equal(decode(a, "\"\\uDBFF\\uDFFF\"", NULL), "\xF4\x8F\xBF\xBF");
    assert_string_equal(decode(a, "\"\\u0001\"", NULL), "\x01");
    assert_string_equal(decode(a, "\"caf\xC3\xA9\"", NULL), "caf\xC3\xA9");

    /* Invalid pairs never reach the decoder: the scan refuses them. */
    EXPECT_INVALID("\"\\ud83d\"", "\"\\ude00\\ud83d\"", "\"\\ud83d\\u0020\"", "\"\\ud83d\\\"\"");

    /* Non-strings are not decoded. */
    jscan_value_t num = {"12", 2, JSCAN_NUMBER};
    assert_null(jscan_string_dup(&num, a, NULL));
    arena_free(a);

    /* An exhausted arena gives NULL. */
    a = arena_new(1);
    assert_non_null(a);
    jscan_value_t v = {"\"abcdef\"", 8, JSCAN_STRING};
    assert_null(jscan_string_dup(&v, a, NULL));
    arena_free(a);
}

static void test_jscan_string_compare_decoded(void **state)
{
    jscan_value_t a = {"\"caf\\u00e9\"", 11, JSCAN_STRING};
    jscan_value_t b = {"\"caf\xC3\xA9\"", 7, JSCAN_STRING};
    jscan_value_t c = {"\"cafe\"", 6, JSCAN_STRING};
    jscan_value_t d = {"\"\\/x\"", 5, JSCAN_STRING};
    jscan_value_t e = {"\"/x\"", 4, JSCAN_STRING};
    assert_true(jscan_string_eq(&a, "caf\xC3\xA9"));
    assert_true(jscan_string_same(&a, &b));
    assert_true(jscan_string_same(&b, &a));
    assert_false(jscan_string_same(&a, &c));
    assert_true(jscan_string_same(&d, &e));
    assert_false(jscan_string_same(&d, &c));
    jscan_value_t num = {"1", 1, JSCAN_NUMBER};
    assert_false(jscan_string_eq(&num, "1"));
}

/* A member is marked when a later one has the same decoded key: the
 * unmarked ones are what "last wins" keeps. */
static void test_jscan_object_repeats_marks_all_but_the_last(void **state)
{
    static const char text[] = "{\"b\":1,\"a\":2,\"\\u0062\":3,\"c\":4,\"a\":5,\"b\":6}";
    jscan_value_t root;
    jscan_error_t err;
    assert_int_equal(jscan_document(text, sizeof(text) - 1, &root, &err), 0);
    bool rep[6];
    assert_int_equal(jscan_object_repeats(&root, 6, rep), 0);
    static const bool want[6] = {true, true, true, false, false, false};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(rep[i], want[i]);
    /* Only the first n members are compared. */
    assert_int_equal(jscan_object_repeats(&root, 2, rep), 0);
    assert_false(rep[0]);
    assert_false(rep[1]);
    assert_int_equal(jscan_object_repeats(&root, 1, rep), 0);
    assert_false(rep[0]);
}

static void test_jscan_numbers_read_strictly(void **state)
{
    static const struct {
        const char *text;
        int int_rc;
        int64_t i;
        int dbl_rc;
        double d;
    } cases[] = {
        {"0", 0, 0, 0, 0.0},
        {"-0", 0, 0, 0, -0.0},
        {"42", 0, 42, 0, 42.0},
        {"9223372036854775807", 0, INT64_MAX, 0, 9223372036854775807.0},
        {"-9223372036854775808", 0, INT64_MIN, 0, -9223372036854775808.0},
        {"9223372036854775808", -1, 0, 0, 9223372036854775808.0},
        {"-9223372036854775809", -1, 0, 0, -9223372036854775809.0},
        {"99999999999999999999", -1, 0, 0, 1e20},
        {"1.5", -1, 0, 0, 1.5},
        {"12.0", -1, 0, 0, 12.0},
        {"1.7e9", -1, 0, 0, 1.7e9},
        {"-2E-2", -1, 0, 0, -0.02},
        {"1e400", -1, 0, -1, 0},
        {"-1e400", -1, 0, -1, 0},
        {"1e-400", -1, 0, 0, 0.0}, /* underflow reads as 0, as in jansson */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* A span as the caller made it: out-of-range numbers never come
         * out of jscan_document, but the readers check on their own. */
        jscan_value_t v = {cases[i].text, strlen(cases[i].text), JSCAN_NUMBER};
        int64_t iv = 12345;
        double dv = 0;
        if (jscan_int64(&v, &iv) != cases[i].int_rc)
            fail_msg("%s: jscan_int64", cases[i].text);
        if (cases[i].int_rc == 0)
            assert_true(iv == cases[i].i);
        else
            assert_true(iv == 12345);
        if (jscan_double(&v, &dv) != cases[i].dbl_rc)
            fail_msg("%s: jscan_double", cases[i].text);
        if (cases[i].dbl_rc == 0 && dv != cases[i].d)
            fail_msg("%s: read %.17g", cases[i].text, dv);
    }
    jscan_value_t s = {"\"1\"", 3, JSCAN_STRING};
    int64_t iv;
    double dv;
    assert_int_equal(jscan_int64(&s, &iv), -1);
    assert_int_equal(jscan_double(&s, &dv), -1);
    /* A number that is not NUL-terminated in its buffer reads only its span. */
    jscan_value_t part = {"125", 2, JSCAN_NUMBER};
    assert_int_equal(jscan_int64(&part, &iv), 0);
    assert_int_equal(iv, 12);
    assert_int_equal(jscan_double(&part, &dv), 0);
    assert_true(dv == 12.0);
}

static void test_jscan_compact_drops_whitespace_outside_strings(void **state)
{
    const char text[] = "[ {\n \"a b\" : \"x \\\" y\\\\\" ,\t\"n\": -1.5e3 } , [ ] , true ]";
    jscan_value_t v;
    assert_int_equal(jscan_document(text, sizeof(text) - 1, &v, NULL), 0);
    char out[sizeof(text)];
    size_t n = jscan_compact(&v, out);
    out[n] = '\0';
    assert_string_equal(out, "[{\"a b\":\"x \\\" y\\\\\",\"n\":-1.5e3},[],true]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jscan_valid_documents_of_every_type),
        cmocka_unit_test(test_jscan_rejects_empty_input),
        cmocka_unit_test(test_jscan_rejects_bad_numbers),
        cmocka_unit_test(test_jscan_jansson_range_rejects_numbers_jansson_rejects),
        cmocka_unit_test(test_jscan_rejects_bad_escapes),
        cmocka_unit_test(test_jscan_rejects_control_characters_in_strings),
        cmocka_unit_test(test_jscan_rejects_u0000_like_jansson),
        cmocka_unit_test(test_jscan_rejects_invalid_utf8),
        cmocka_unit_test(test_jscan_rejects_overlong_utf8),
        cmocka_unit_test(test_jscan_rejects_utf8_encoded_surrogates),
        cmocka_unit_test(test_jscan_rejects_lone_or_reversed_surrogate_escapes),
        cmocka_unit_test(test_jscan_rejects_trailing_garbage),
        cmocka_unit_test(test_jscan_rejects_unterminated_input),
        cmocka_unit_test(test_jscan_rejects_bad_structure),
        cmocka_unit_test(test_jscan_depth_cap),
        cmocka_unit_test(test_jscan_truncated_at_every_offset_fails),
        cmocka_unit_test(test_jscan_error_reports_offset_line_and_column),
        cmocka_unit_test(test_jscan_iterates_members_and_elements),
        cmocka_unit_test(test_jscan_iterator_refuses_malformed_span),
        cmocka_unit_test(test_jscan_string_unescape_and_surrogate_pairs),
        cmocka_unit_test(test_jscan_string_compare_decoded),
        cmocka_unit_test(test_jscan_object_repeats_marks_all_but_the_last),
        cmocka_unit_test(test_jscan_numbers_read_strictly),
        cmocka_unit_test(test_jscan_compact_drops_whitespace_outside_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
