/* store_msg: building malloc'd protobuf-c answers from result rows.
 *
 * Invariant: every string field of a message built here is its own malloc'd
 * copy, so protobuf_c_message_free_unpacked(m, NULL) frees the whole message
 * (also a half-built one: unset strings still point at the static default,
 * which it skips).
 */
#ifndef LLMGW_STORE_MSG_H
#define LLMGW_STORE_MSG_H

#include <stdlib.h>
#include <string.h>

/* *field = copy of s (NULL s: ""); 0 or -1 on allocation failure. */
static inline int store_msg_str(char **field, const char *s)
{
    char *copy = strdup(s ? s : "");
    if (!copy)
        return -1;
    *field = copy;
    return 0;
}

#endif
