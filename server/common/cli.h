/* cli: command-line helpers the server binaries share. */
#ifndef LLMGW_CLI_H
#define LLMGW_CLI_H

#include <stddef.h>

/* Strict integer flag value: the whole string, within [lo, hi]. 0, or -1
 * after printing "<prog>: <flag>: expected an integer from lo to hi, got 's'"
 * to stderr. */
int cli_parse_int(const char *prog, const char *flag, const char *s, long lo, long hi, int *out);

/* Writes "<port>\n" to path through a temporary file and rename, so a reader
 * polling for the file sees it complete or not at all. 0 or -1. */
int cli_write_port_file(const char *path, int port);

struct sockaddr_storage;
/* "HOST:PORT" for a listener: an IPv4 address, "[IPv6]" or localhost, port
 * 0..65535 (0: any free). 0 with *ss filled (ss_family says which), or -1
 * with err "<flag>: expected HOST:PORT (…), got '<listen>'". */
int cli_parse_listen(const char *flag, const char *listen, struct sockaddr_storage *ss, char *err,
                     size_t errlen);

/* Raises the soft limit on open descriptors to the hard limit: every client
 * connection, upstream connection and stream costs one, and the soft default
 * (often 1024) caps a gateway far below what it can serve. Returns the soft
 * limit now in force (logged by the caller), or -1. */
long cli_raise_nofile(void);

#endif
