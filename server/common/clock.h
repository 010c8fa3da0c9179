/* clock: monotonic time in one unit everywhere (milliseconds / microseconds
 * since an arbitrary origin). Deadlines are absolute monotonic ms. */
#ifndef LLMGW_CLOCK_H
#define LLMGW_CLOCK_H

#include <stdint.h>

int64_t clock_now_ms(void);
int64_t clock_now_us(void);

#endif
