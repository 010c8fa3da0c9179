/* hex: hexadecimal digits, shared by the JSON scanner (\u escapes) and the
 * routing table loader (key digests). */
#ifndef LLMGW_HEX_H
#define LLMGW_HEX_H

/* The value 0..15 of the hex digit c (either case), or -1 if it is none. */
int hex_digit_value(unsigned char c);

#endif
