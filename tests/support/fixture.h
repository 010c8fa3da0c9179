/* fixture: reads test fixtures from tests/fixtures/ in the source tree
 * (LLMGW_SRC_DIR, or the tree this support library was built from). */
#ifndef LLMGW_FIXTURE_H
#define LLMGW_FIXTURE_H

#include <stddef.h>

/* Reads tests/fixtures/<rel>; NUL-terminated, length in *len. The caller
 * frees it. A missing fixture fails the running cmocka test. */
char *fixture_read(const char *rel, size_t *len);

#endif
