/* utf8: well-formedness of UTF-8 sequences, for the code that checks text
 * before it goes out (JSON scanning and writing, error messages).
 *
 * Invariant: nothing reads at or past `end`, so a sequence cut short by the
 * end of its span is refused rather than read beyond.
 */
#ifndef LLMGW_UTF8_H
#define LLMGW_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at p (p < end): 1 for ASCII,
 * 2..4 for the rest, 0 when there is none (stray continuation byte, overlong
 * form, surrogate, past U+10FFFF, or cut short by end). Unicode table 3-7. */
size_t utf8_seq_len(const unsigned char *p, const unsigned char *end);

/* The longest prefix of the UTF-8 text s[0..len) that is at most max bytes
 * and ends between two sequences, for cutting text to a buffer without
 * leaving half a character (which no JSON reader accepts). */
size_t utf8_prefix_len(const char *s, size_t len, size_t max);

#endif
