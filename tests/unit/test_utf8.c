/* Unit tests for utf8.c: each kind of ill-formed sequence (Unicode table
 * 3-7) refused, and a sequence cut short by the end of its span refused
 * without reading past it (exact heap copies, for the sanitizer build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

/* utf8_seq_len over an exact heap copy of s[0..n). */
static size_t seq_len(const char *s, size_t n)
{
    unsigned char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, s, n);
    size_t r = utf8_seq_len(copy, copy + n);
    free(copy);
    return r;
}

static void test_utf8_accepts_well_formed_sequences(void **state)
{
    assert_int_equal(seq_len("a", 1), 1);
    assert_int_equal(seq_len("\x7F", 1), 1);
    assert_int_equal(seq_len("\xC2\x80", 2), 2);
    assert_int_equal(seq_len("\xDF\xBF", 2), 2);
    assert_int_equal(seq_len("\xE0\xA0\x80", 3), 3);
    assert_int_equal(seq_len("\xED\x9F\xBF", 3), 3); /* U+D7FF, below the surrogates */
    assert_int_equal(seq_len("\xEF\xBF\xBF", 3), 3);
    assert_int_equal(seq_len("\xF0\x90\x80\x80", 4), 4);
    assert_int_equal(seq_len("\xF4\x8F\xBF\xBF", 4), 4); /* U+10FFFF */
    assert_int_equal(seq_len("\xC3\xA9xyz", 5), 2);      /* only the first sequence */
}

static void test_utf8_refuses_ill_formed_sequences(void **state)
{
    assert_int_equal(seq_len("\x80", 1), 0);             /* stray continuation */
    assert_int_equal(seq_len("\xC0\xAF", 2), 0);         /* overlong, 2 bytes */
    assert_int_equal(seq_len("\xC1\xBF", 2), 0);         /* overlong, 2 bytes */
    assert_int_equal(seq_len("\xE0\x9F\xBF", 3), 0);     /* overlong, 3 bytes */
    assert_int_equal(seq_len("\xF0\x8F\xBF\xBF", 4), 0); /* overlong, 4 bytes */
    assert_int_equal(seq_len("\xED\xA0\x80", 3), 0);     /* U+D800 */
    assert_int_equal(seq_len("\xED\xBF\xBF", 3), 0);     /* U+DFFF */
    assert_int_equal(seq_len("\xF4\x90\x80\x80", 4), 0); /* U+110000 */
    assert_int_equal(seq_len("\xF5\x80\x80\x80", 4), 0); /* no such lead byte */
    assert_int_equal(seq_len("\xFF", 1), 0);
    assert_int_equal(seq_len("\xC3\x41", 2), 0);         /* bad second byte */
    assert_int_equal(seq_len("\xE2\x82\x41", 3), 0);     /* bad third byte */
    assert_int_equal(seq_len("\xF0\x9F\x98\x41", 4), 0); /* bad fourth byte */
}

static void test_utf8_prefix_len_cuts_between_characters(void **state)
{
    const char *t = "ab\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* a b é € 😀 */
    size_t len = strlen(t);
    assert_int_equal(utf8_prefix_len(t, len, 100), len);
    assert_int_equal(utf8_prefix_len(t, len, len), len);
    assert_int_equal(utf8_prefix_len(t, len, 2), 2);
    assert_int_equal(utf8_prefix_len(t, len, 3), 2); /* inside é */
    assert_int_equal(utf8_prefix_len(t, len, 4), 4);
    assert_int_equal(utf8_prefix_len(t, len, 5), 4); /* inside € */
    assert_int_equal(utf8_prefix_len(t, len, 6), 4);
    assert_int_equal(utf8_prefix_len(t, len, 7), 7);
    assert_int_equal(utf8_prefix_len(t, len, 10), 7); /* inside 😀 */
    assert_int_equal(utf8_prefix_len(t, len, 0), 0);
    /* Every cut is itself well-formed. */
    for (size_t max = 0; max <= len; max++) {
        size_t n = utf8_prefix_len(t, len, max);
        const unsigned char *p = (const unsigned char *)t, *end = p + n;
        while (p < end) {
            size_t k = utf8_seq_len(p, end);
            assert_true(k > 0);
            p += k;
        }
    }
}

static void test_utf8_refuses_sequences_cut_by_the_end(void **state)
{
    assert_int_equal(seq_len("\xC3", 1), 0);
    assert_int_equal(seq_len("\xE2\x82", 2), 0);
    assert_int_equal(seq_len("\xF0\x9F\x98", 3), 0);
    assert_int_equal(seq_len("\xF0", 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_accepts_well_formed_sequences),
        cmocka_unit_test(test_utf8_refuses_ill_formed_sequences),
        cmocka_unit_test(test_utf8_refuses_sequences_cut_by_the_end),
        cmocka_unit_test(test_utf8_prefix_len_cuts_between_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
