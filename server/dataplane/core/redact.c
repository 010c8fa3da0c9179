/* redact: see redact.h for the patterns.
 *
 * One left-to-right pass. At each byte that can start a match and sits on a
 * boundary, the matchers are tried in precedence order; each returns the end
 * of its longest valid match (0: none) and looks at a bounded window, so the
 * pass is linear. A checksum failure at the longest candidate falls back to
 * shorter candidates that end at a separator ("4111 1111 1111 1111 7" is the
 * card "4111 1111 1111 1111" followed by " 7").
 */
#include "redact.h"

#include <string.h>

#define RD_EMAIL_LOCAL_MAX 64
#define RD_EMAIL_DOMAIN_MAX 255
#define RD_IBAN_MIN 15
#define RD_IBAN_MAX 34
#define RD_CARD_MIN 13
#define RD_CARD_MAX 19
#define RD_PHONE_MIN 7
#define RD_PHONE_MAX 15

static int rd_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int rd_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static int rd_alpha(unsigned char c)
{
    return rd_upper(c) || (c >= 'a' && c <= 'z');
}

static int rd_alnum(unsigned char c)
{
    return rd_digit(c) || rd_alpha(c);
}

static int rd_word(unsigned char c)
{
    return rd_alnum(c) || c == '_';
}

static int rd_local(unsigned char c)
{
    return rd_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int rd_before_ok(const unsigned char *s, size_t i)
{
    return i == 0 || !rd_word(s[i - 1]);
}

static int rd_after_ok(const unsigned char *s, size_t len, size_t e)
{
    return e >= len || !rd_word(s[e]);
}

int redact_luhn_ok(const char *digits, size_t n)
{
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned d = (unsigned)(digits[n - 1 - k] - '0');
        if (d > 9)
            return 0;
        if (k % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

int redact_iban_ok(const char *s, size_t n)
{
    if (n < 5 || !rd_upper((unsigned char)s[0]) || !rd_upper((unsigned char)s[1]) ||
        !rd_digit((unsigned char)s[2]) || !rd_digit((unsigned char)s[3]))
        return 0;
    /* The first four characters move to the end; letters count 10..35. */
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[(k + 4) % n];
        if (rd_digit(c))
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else if (rd_upper(c))
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else
            return 0;
    }
    return rem == 1;
}

/* --- matchers: the end of the match starting at i, or 0 ------------------- */

static size_t rd_email(const unsigned char *s, size_t len, size_t i)
{
    if (i > 0 && rd_local(s[i - 1]))
        return 0;
    size_t j = i;
    while (j < len && j - i < RD_EMAIL_LOCAL_MAX && rd_local(s[j]))
        j++;
    if (j == i || j >= len || s[j] != '@')
        return 0;
    size_t d = j + 1, k = d, end = 0;
    int labels = 0;
    while (k < len && k - d < RD_EMAIL_DOMAIN_MAX) {
        size_t ls = k;
        int all_alpha = 1;
        while (k < len && k - d < RD_EMAIL_DOMAIN_MAX && (rd_alnum(s[k]) || s[k] == '-')) {
            all_alpha = all_alpha && rd_alpha(s[k]);
            k++;
        }
        if (k == ls)
            break;
        labels++;
        if (labels >= 2 && all_alpha && k - ls >= 2 && rd_after_ok(s, len, k))
            end = k;
        if (k + 1 < len && s[k] == '.' && rd_alnum(s[k + 1])) {
            k++;
            continue;
        }
        break;
    }
    return end;
}

static size_t rd_iban(const unsigned char *s, size_t len, size_t i)
{
    if (i + 4 > len || !rd_upper(s[i]) || !rd_upper(s[i + 1]) || !rd_digit(s[i + 2]) ||
        !rd_digit(s[i + 3]))
        return 0;
    char compact[RD_IBAN_MAX];
    size_t ends[RD_IBAN_MAX + 1] = {0}; /* ends[n]: end of the candidate with n characters */
    size_t n = 0, k = i;
    while (k < len && n < RD_IBAN_MAX) {
        if (rd_upper(s[k]) || rd_digit(s[k])) {
            compact[n++] = (char)s[k++];
            if (n >= RD_IBAN_MIN && rd_after_ok(s, len, k))
                ends[n] = k;
        } else if (s[k] == ' ' && n > 0 && k + 1 < len &&
                   (rd_upper(s[k + 1]) || rd_digit(s[k + 1]))) {
            k++;
        } else {
            break;
        }
    }
    for (size_t m = n; m >= RD_IBAN_MIN; m--)
        if (ends[m] && redact_iban_ok(compact, m))
            return ends[m];
    return 0;
}

static size_t rd_card(const unsigned char *s, size_t len, size_t i)
{
    char digits[RD_CARD_MAX];
    size_t ends[RD_CARD_MAX + 1] = {0};
    size_t n = 0, k = i;
    while (k < len && n < RD_CARD_MAX) {
        if (rd_digit(s[k])) {
            digits[n++] = (char)s[k++];
            if (n >= RD_CARD_MIN && rd_after_ok(s, len, k))
                ends[n] = k;
        } else if ((s[k] == ' ' || s[k] == '-') && n > 0 && k + 1 < len && rd_digit(s[k + 1])) {
            k++;
        } else {
            break;
        }
    }
    for (size_t m = n; m >= RD_CARD_MIN; m--)
        if (ends[m] && redact_luhn_ok(digits, m))
            return ends[m];
    return 0;
}

static int rd_phone_sep(unsigned char c)
{
    return c == ' ' || c == '-' || c == '.';
}

/* "+" and 7–15 digits; single separators, one parenthesised group at a time. */
static size_t rd_phone_intl(const unsigned char *s, size_t len, size_t i)
{
    size_t k = i + 1, n = 0, end = 0;
    int open = 0, seps = 0; /* separator bytes in a row */
    while (k < len && n <= RD_PHONE_MAX) {
        unsigned char c = s[k];
        if (rd_digit(c)) {
            n++;
            k++;
            seps = 0;
            if (n >= RD_PHONE_MIN && n <= RD_PHONE_MAX && !open && rd_after_ok(s, len, k))
                end = k;
        } else if (c == '(' && !open && n > 0 && seps <= 1) {
            open = 1;
            k++;
            seps++;
        } else if (c == ')' && open && seps == 0) {
            open = 0;
            k++;
            seps++;
        } else if (rd_phone_sep(c) && n > 0 && seps == 0 && !open) {
            k++;
            seps++;
        } else if (c == ' ' && seps == 1 && k > 0 && s[k - 1] == ')') {
            k++;
            seps++;
        } else {
            break;
        }
    }
    return end;
}

static size_t rd_digits_at(const unsigned char *s, size_t len, size_t k, size_t n)
{
    for (size_t m = 0; m < n; m++)
        if (k + m >= len || !rd_digit(s[k + m]))
            return 0;
    return k + n;
}

/* 3-3-4: "555-010-4477", "555.010.4477", "555 010 4477", "(555) 010-4477". */
static size_t rd_phone_nanp(const unsigned char *s, size_t len, size_t i)
{
    size_t k = i;
    if (s[k] == '(') {
        if (!(k = rd_digits_at(s, len, k + 1, 3)) || k >= len || s[k] != ')')
            return 0;
        k++;
        if (k < len && s[k] == ' ')
            k++;
        if (!(k = rd_digits_at(s, len, k, 3)) || k >= len || !rd_phone_sep(s[k]))
            return 0;
        k++;
    } else {
        if (!(k = rd_digits_at(s, len, k, 3)) || k >= len || !rd_phone_sep(s[k]))
            return 0;
        unsigned char sep = s[k];
        if (!(k = rd_digits_at(s, len, k + 1, 3)) || k >= len || s[k] != sep)
            return 0;
        k++;
    }
    if (!(k = rd_digits_at(s, len, k, 4)) || !rd_after_ok(s, len, k))
        return 0;
    return k;
}

static size_t rd_phone(const unsigned char *s, size_t len, size_t i)
{
    if (s[i] == '+')
        return rd_phone_intl(s, len, i);
    return rd_phone_nanp(s, len, i);
}

/* --- the pass ------------------------------------------------------------- */

static const char *rd_marker(unsigned kind)
{
    switch (kind) {
    case REDACT_EMAIL:
        return "[REDACTED_EMAIL]";
    case REDACT_IBAN:
        return "[REDACTED_IBAN]";
    case REDACT_CARD:
        return "[REDACTED_CARD]";
    default:
        return "[REDACTED_PHONE]";
    }
}

static size_t rd_match(const unsigned char *s, size_t len, size_t i, unsigned kinds, unsigned *kind)
{
    unsigned char c = s[i];
    size_t e;
    if ((kinds & REDACT_EMAIL) && rd_local(c) && (e = rd_email(s, len, i))) {
        *kind = REDACT_EMAIL;
        return e;
    }
    if (!rd_before_ok(s, i))
        return 0;
    if ((kinds & REDACT_IBAN) && rd_upper(c) && (e = rd_iban(s, len, i))) {
        *kind = REDACT_IBAN;
        return e;
    }
    if ((kinds & REDACT_CARD) && rd_digit(c) && (e = rd_card(s, len, i))) {
        *kind = REDACT_CARD;
        return e;
    }
    if ((kinds & REDACT_PHONE) && (c == '+' || c == '(' || rd_digit(c)) &&
        (e = rd_phone(s, len, i))) {
        *kind = REDACT_PHONE;
        return e;
    }
    return 0;
}

int redact_text(const char *text, size_t len, unsigned kinds, buf_t *out, redact_counts_t *counts)
{
    const unsigned char *s = (const unsigned char *)text;
    /* Every pattern holds an '@' or a digit: text with neither is the
     * common case and costs two memchr-like scans. */
    if (!(kinds & REDACT_ALL) || len == 0)
        return 0;
    int has_at = (kinds & REDACT_EMAIL) && memchr(s, '@', len) != NULL;
    int has_digit = 0;
    if (kinds & (REDACT_PHONE | REDACT_CARD | REDACT_IBAN))
        for (size_t k = 0; k < len && !has_digit; k++)
            has_digit = rd_digit(s[k]);
    if (!has_at && !has_digit)
        return 0;
    if (!has_at)
        kinds &= ~(unsigned)REDACT_EMAIL;
    if (!has_digit)
        kinds &= REDACT_EMAIL;

    size_t start_len = out->len, copied = 0, i = 0;
    redact_counts_t add = {0};
    int n = 0;
    while (i < len) {
        unsigned kind = 0;
        size_t e = rd_match(s, len, i, kinds, &kind);
        if (!e) {
            i++;
            continue;
        }
        const char *marker = rd_marker(kind);
        if (buf_append(out, text + copied, i - copied) < 0 || buf_append_str(out, marker) < 0)
            goto fail;
        add.emails += kind == REDACT_EMAIL;
        add.ibans += kind == REDACT_IBAN;
        add.cards += kind == REDACT_CARD;
        add.phones += kind == REDACT_PHONE;
        n++;
        copied = i = e;
    }
    if (n == 0)
        return 0;
    if (buf_append(out, text + copied, len - copied) < 0)
        goto fail;
    counts->emails += add.emails;
    counts->phones += add.phones;
    counts->cards += add.cards;
    counts->ibans += add.ibans;
    return n;
fail:
    out->len = start_len;
    if (out->data)
        out->data[start_len] = '\0';
    return -1;
}

uint32_t redact_counts_total(const redact_counts_t *c)
{
    return c->emails + c->phones + c->cards + c->ibans;
}
