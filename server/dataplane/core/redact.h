/* redact: PII in prompt text replaced by fixed markers before it leaves.
 *
 * Kinds (bit values equal TABLE_REDACT_*; policy.c checks it at compile time):
 *   email  local@domain.tld: local part [A-Za-z0-9._%+-]{1,64}, domain labels
 *          [A-Za-z0-9-] joined by dots, at least two labels, the last one
 *          2+ letters                                   → "[REDACTED_EMAIL]"
 *   card   13–19 digits, single spaces or dashes allowed between digits,
 *          Luhn-valid only                              → "[REDACTED_CARD]"
 *   iban   2 capital letters, 2 check digits, 11–30 capitals/digits, single
 *          spaces allowed, 15–34 characters, ISO 13616 mod-97 == 1 only
 *                                                       → "[REDACTED_IBAN]"
 *   phone  "+" then 7–15 digits separated by single spaces, dashes, dots or a
 *          parenthesised group ("+44 20 7946 0958", "+1 (555) 010-4477"), or
 *          the North American 3-3-4 shape ("555-010-4477", "(555) 010-4477",
 *          "555.010.4477")                              → "[REDACTED_PHONE]"
 * A match must start and end at a boundary: the byte before and after it is
 * not an ASCII letter, digit or '_' (UTF-8 bytes >= 0x80 are boundaries, so
 * "é4111…" still redacts and a match never splits a multi-byte character).
 * Where patterns overlap, the one starting first wins; at the same start,
 * email > iban > card > phone.
 *
 * Pure: no state, no I/O, thread-safe. Linear in the input: every matcher
 * looks at a bounded window (at most 64 + 1 + 255 bytes for an email, 64 for
 * the digit patterns) from each boundary.
 */
#ifndef LLMGW_REDACT_H
#define LLMGW_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum {
    REDACT_EMAIL = 1u << 0,
    REDACT_PHONE = 1u << 1,
    REDACT_CARD = 1u << 2,
    REDACT_IBAN = 1u << 3
};
#define REDACT_ALL 0xfu

/* Per request: what was replaced (the usage record's redaction counts). */
typedef struct {
    uint32_t emails, phones, cards, ibans;
} redact_counts_t;

/* Scans text[0..len) for `kinds` and adds what it replaces to *counts.
 * Returns how many replacements were made: when > 0, the redacted text was
 * appended to out; when 0, out is untouched (the text needs no change, so
 * the caller keeps it without a copy). -1 when out is full (its cap) or out
 * of memory; *counts is then unchanged. */
int redact_text(const char *text, size_t len, unsigned kinds, buf_t *out, redact_counts_t *counts);

/* Luhn checksum over `n` ASCII digits. */
int redact_luhn_ok(const char *digits, size_t n);
/* ISO 13616 check over `n` capitals/digits (no spaces): mod 97 == 1. */
int redact_iban_ok(const char *s, size_t n);

uint32_t redact_counts_total(const redact_counts_t *c);

#endif
