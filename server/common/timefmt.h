/* timefmt: wall-clock instants as people type and read them — RFC 3339
 * timestamps and Unix milliseconds — for command-line filters and exports.
 *
 * Invariants: parsing is strict (the whole text, every field in range, the
 * day valid for its month and year); instants are Unix milliseconds in UTC,
 * years 1970..9999 (nothing in this system predates the epoch).
 */
#ifndef LLMGW_TIMEFMT_H
#define LLMGW_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* The last instant accepted: 9999-12-31T23:59:59.999Z. */
#define TIMEFMT_MAX_UNIX_MS 253402300799999LL

/* Parses `text` into *unix_ms: digits alone are Unix milliseconds;
 * otherwise "YYYY-MM-DD" (midnight UTC) or RFC 3339
 * "YYYY-MM-DDTHH:MM[:SS[.frac]](Z|+HH:MM|-HH:MM)" ('T' may be 't' or a
 * space; fraction digits past milliseconds are truncated). 0, or -1 with
 * err saying what was expected. */
int timefmt_parse(const char *text, int64_t *unix_ms, char *err, size_t errlen);

/* "2026-12-03T06:24:49.115Z" into out (at least 32 bytes); unix_ms outside
 * 0..TIMEFMT_MAX_UNIX_MS is written as its number. */
void timefmt_rfc3339(int64_t unix_ms, char *out, size_t outlen);

#endif
