/* Unit tests for redact.c: each PII kind, its checksum, boundaries, UTF-8,
 * overlapping patterns, huge inputs and a full output buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redact.h"

static buf_t out = BUF_INIT(1u << 26);
static redact_counts_t counts;

/* The redacted text of s with all kinds on ("" stays "" when nothing changed: see below). */
static const char *red(const char *s, unsigned kinds)
{
    buf_reset(&out);
    memset(&counts, 0, sizeof(counts));
    int n = redact_text(s, strlen(s), kinds, &out, &counts);
    assert_true(n >= 0);
    if (n == 0) {
        assert_int_equal(out.len, 0);
        return s;
    }
    assert_int_equal((uint32_t)n, redact_counts_total(&counts));
    return buf_cstr(&out);
}

static void test_redact_luhn_accepts_valid_and_refuses_invalid(void **state)
{
    (void)state;
    assert_true(redact_luhn_ok("4111111111111111", 16));
    assert_true(redact_luhn_ok("5555555555554444", 16));
    assert_true(redact_luhn_ok("378282246310005", 15));
    assert_true(redact_luhn_ok("4222222222222", 13));
    assert_false(redact_luhn_ok("4111111111111112", 16));
    assert_false(redact_luhn_ok("1234567812345678", 16));
    assert_false(redact_luhn_ok("", 0));
    assert_false(redact_luhn_ok("41111111a1111111", 16));
}

static void test_redact_iban_checksum(void **state)
{
    (void)state;
    assert_true(redact_iban_ok("DE89370400440532013000", 22));
    assert_true(redact_iban_ok("GB82WEST12345698765432", 22));
    assert_true(redact_iban_ok("FR1420041010050500013M02606", 27));
    assert_true(redact_iban_ok("NO9386011117947", 15));
    assert_false(redact_iban_ok("DE89370400440532013001", 22));
    assert_false(redact_iban_ok("DE88370400440532013000", 22));
    assert_false(redact_iban_ok("de89370400440532013000", 22));
    assert_false(redact_iban_ok("DE8", 3));
}

static void test_redact_emails(void **state)
{
    (void)state;
    assert_string_equal(red("mail jane.doe+x@example.co.uk now", REDACT_ALL),
                        "mail [REDACTED_EMAIL] now");
    assert_int_equal(counts.emails, 1);
    assert_string_equal(red("a@b.io, c_d@e-f.org.", REDACT_ALL),
                        "[REDACTED_EMAIL], [REDACTED_EMAIL].");
    assert_int_equal(counts.emails, 2);
    /* Not emails: no dot in the domain, numeric TLD, one-letter TLD, bare @. */
    const char *keep[] = {"user@localhost", "x@host.123", "x@host.c", "@example.com",
                          "a @b.com",       "foo@",       "me@.com"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        assert_string_equal(red(keep[i], REDACT_ALL), keep[i]);
}

static void test_redact_cards_only_when_luhn_valid(void **state)
{
    (void)state;
    assert_string_equal(red("card 4111 1111 1111 1111 exp", REDACT_ALL),
                        "card [REDACTED_CARD] exp");
    assert_int_equal(counts.cards, 1);
    assert_string_equal(red("4111-1111-1111-1111", REDACT_ALL), "[REDACTED_CARD]");
    assert_string_equal(red("amex 378282246310005.", REDACT_ALL), "amex [REDACTED_CARD].");
    assert_string_equal(red("4111111111111111", REDACT_ALL), "[REDACTED_CARD]");
    /* Luhn-invalid, too short, too long, inside a word, double separators. */
    const char *keep[] = {"4111 1111 1111 1112", "411111111111",      "41111111111111111111111",
                          "id4111111111111111",  "4111111111111111x", "4111  1111 1111 1111"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        assert_string_equal(red(keep[i], REDACT_CARD), keep[i]);
    /* A longest candidate that fails falls back to the valid card before it. */
    assert_string_equal(red("4111 1111 1111 1111 7", REDACT_CARD), "[REDACTED_CARD] 7");
}

static void test_redact_ibans_only_when_mod97_valid(void **state)
{
    (void)state;
    assert_string_equal(red("pay DE89 3704 0044 0532 0130 00 today", REDACT_ALL),
                        "pay [REDACTED_IBAN] today");
    assert_int_equal(counts.ibans, 1);
    assert_string_equal(red("GB82WEST12345698765432", REDACT_ALL), "[REDACTED_IBAN]");
    assert_string_equal(red("DE89 3704 0044 0532 0130 00 AB", REDACT_IBAN), "[REDACTED_IBAN] AB");
    const char *keep[] = {"DE89 3704 0044 0532 0130 01", "XDE89370400440532013000",
                          "DE89370400440532013000x", "DE8937040044"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        assert_string_equal(red(keep[i], REDACT_IBAN), keep[i]);
}

static void test_redact_phones(void **state)
{
    (void)state;
    const char *hit[] = {"+44 20 7946 0958", "+1 (555) 010-4477", "+4915112345678", "555-010-4477",
                         "(555) 010-4477",   "555.010.4477",      "555 010 4477"};
    for (size_t i = 0; i < sizeof(hit) / sizeof(hit[0]); i++) {
        char in[128];
        snprintf(in, sizeof(in), "call %s today", hit[i]);
        assert_string_equal(red(in, REDACT_PHONE), "call [REDACTED_PHONE] today");
        assert_int_equal(counts.phones, 1);
    }
    /* Dates, versions, short numbers, mixed separators, too many digits. */
    const char *keep[] = {"2024-01-15",        "v1.2.3",     "+123456",       "555-010.4477",
                          "+1234567890123456", "5550104477", "x555-010-4477", "555-010-44771"};
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        assert_string_equal(red(keep[i], REDACT_PHONE), keep[i]);
}

static void test_redact_kinds_select_what_is_replaced(void **state)
{
    (void)state;
    const char *s = "jo@ex.com 4111111111111111 +44 20 7946 0958 DE89370400440532013000";
    assert_string_equal(
        red(s, REDACT_EMAIL),
        "[REDACTED_EMAIL] 4111111111111111 +44 20 7946 0958 DE89370400440532013000");
    assert_string_equal(red(s, REDACT_CARD | REDACT_IBAN),
                        "jo@ex.com [REDACTED_CARD] +44 20 7946 0958 [REDACTED_IBAN]");
    assert_string_equal(red(s, REDACT_ALL),
                        "[REDACTED_EMAIL] [REDACTED_CARD] [REDACTED_PHONE] [REDACTED_IBAN]");
    assert_int_equal(counts.emails, 1);
    assert_int_equal(counts.cards, 1);
    assert_int_equal(counts.phones, 1);
    assert_int_equal(counts.ibans, 1);
    assert_string_equal(red(s, 0), s);
}

static void test_redact_overlaps_first_start_wins_email_over_digits(void **state)
{
    (void)state;
    /* The digits are the email's local part: one email, no card. */
    assert_string_equal(red("4111111111111111@example.com", REDACT_ALL), "[REDACTED_EMAIL]");
    assert_int_equal(counts.cards, 0);
    /* "+" then a Luhn-valid 16-digit run: too long for a phone, a card. */
    assert_string_equal(red("+4111111111111111", REDACT_ALL), "+[REDACTED_CARD]");
    /* Adjacent matches separated by punctuation. */
    assert_string_equal(red("a@b.cd;4111111111111111;555-010-4477", REDACT_ALL),
                        "[REDACTED_EMAIL];[REDACTED_CARD];[REDACTED_PHONE]");
}

static void test_redact_utf8_neighbours_are_boundaries(void **state)
{
    (void)state;
    assert_string_equal(red("é4111111111111111ü", REDACT_ALL), "é[REDACTED_CARD]ü");
    assert_string_equal(red("«jane@example.org»", REDACT_ALL), "«[REDACTED_EMAIL]»");
    assert_string_equal(red("日本 +81 3 1234 5678 です", REDACT_ALL), "日本 [REDACTED_PHONE] です");
    /* Invalid UTF-8 around a match does not matter either. */
    assert_string_equal(red("\xff\xfe"
                            "4111111111111111",
                            REDACT_ALL),
                        "\xff\xfe[REDACTED_CARD]");
}

static void test_redact_nothing_to_do_leaves_out_untouched(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(1024);
    redact_counts_t c = {0};
    assert_int_equal(redact_text("hello there, no pii here", 24, REDACT_ALL, &b, &c), 0);
    assert_null(b.data);
    assert_int_equal(redact_text("", 0, REDACT_ALL, &b, &c), 0);
    assert_int_equal(redact_counts_total(&c), 0);
    buf_free(&b);
}

static void test_redact_full_buffer_fails_and_keeps_counts(void **state)
{
    (void)state;
    buf_t b = BUF_INIT(8);
    redact_counts_t c = {0};
    const char *s = "mail jane@example.org please";
    assert_int_equal(redact_text(s, strlen(s), REDACT_ALL, &b, &c), -1);
    assert_int_equal(redact_counts_total(&c), 0);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

/* Adversarial shapes, 1 MiB each: a linear pass takes milliseconds (a
 * quadratic one would take hours), even under the sanitizers. */
static void test_redact_huge_inputs_are_linear(void **state)
{
    (void)state;
    const size_t n = 1u << 20;
    char *s = malloc(n + 1);
    assert_non_null(s);
    const char *fills[] = {"a", "a.", "1 ", "1-", "@a.", "+1 ", "DE89 ", "x@a.b"};
    for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
        size_t k = strlen(fills[f]);
        for (size_t i = 0; i < n; i++)
            s[i] = fills[f][i % k];
        s[n] = '\0';
        clock_t t0 = clock();
        buf_t b = BUF_INIT(64u << 20);
        redact_counts_t c = {0};
        assert_true(redact_text(s, n, REDACT_ALL, &b, &c) >= 0);
        buf_free(&b);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        if (secs > 5.0)
            fail_msg("fill '%s': %.2f s for 1 MiB", fills[f], secs);
    }
    /* Many real matches in a big text: each counted. */
    buf_t big = BUF_INIT(n * 2);
    for (int i = 0; i < 10000; i++)
        buf_append_str(&big, "x jo@ex.com y 4111111111111111 z ");
    buf_t b = BUF_INIT(n * 4);
    redact_counts_t c = {0};
    assert_int_equal(redact_text(big.data, big.len, REDACT_ALL, &b, &c), 20000);
    assert_int_equal(c.emails, 10000);
    assert_int_equal(c.cards, 10000);
    assert_null(strstr(b.data, "4111"));
    buf_free(&b);
    buf_free(&big);
    free(s);
}

static size_t occurrences(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Random texts over the patterns' alphabet (digits, separators, '@', '+',
 * letters, UTF-8 bytes): never a crash, and every replacement counted shows
 * as exactly one marker. */
static void test_redact_random_inputs_count_every_marker(void **state)
{
    (void)state;
    const char alphabet[] = "0123456789    --..()+@@aZDEGB_x\xc3\xa9\xff\n";
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    char text[512];
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(seed % sizeof(text));
        for (size_t i = 0; i < len; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text[i] = alphabet[seed % (sizeof(alphabet) - 1)];
        }
        text[len] = '\0';
        buf_t b = BUF_INIT(1 << 16);
        redact_counts_t c = {0};
        int n = redact_text(text, len, REDACT_ALL, &b, &c);
        assert_true(n >= 0);
        assert_int_equal((uint32_t)n, redact_counts_total(&c));
        if (n > 0) {
            assert_int_equal(occurrences(b.data, "[REDACTED_"), (size_t)n);
            assert_int_equal(occurrences(b.data, "[REDACTED_EMAIL]"), c.emails);
            assert_int_equal(occurrences(b.data, "[REDACTED_CARD]"), c.cards);
        }
        buf_free(&b);
    }
}

static int teardown(void **state)
{
    (void)state;
    buf_free(&out);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_luhn_accepts_valid_and_refuses_invalid),
        cmocka_unit_test(test_redact_iban_checksum),
        cmocka_unit_test(test_redact_emails),
        cmocka_unit_test(test_redact_cards_only_when_luhn_valid),
        cmocka_unit_test(test_redact_ibans_only_when_mod97_valid),
        cmocka_unit_test(test_redact_phones),
        cmocka_unit_test(test_redact_kinds_select_what_is_replaced),
        cmocka_unit_test(test_redact_overlaps_first_start_wins_email_over_digits),
        cmocka_unit_test(test_redact_utf8_neighbours_are_boundaries),
        cmocka_unit_test(test_redact_nothing_to_do_leaves_out_untouched),
        cmocka_unit_test(test_redact_full_buffer_fails_and_keeps_counts),
        cmocka_unit_test(test_redact_huge_inputs_are_linear),
        cmocka_unit_test(test_redact_random_inputs_count_every_marker),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
