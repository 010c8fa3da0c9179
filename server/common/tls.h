/* tls: the PEM files of one TLS endpoint, read and checked once at start.
 *
 * A server endpoint has a certificate chain and its key, and optionally the
 * CA that client certificates must chain to; a client endpoint has the CA
 * that the server's certificate must chain to, and optionally its own
 * certificate and key (mTLS). The files are checked with OpenSSL before any
 * listener or channel uses them, so a wrong file is an error at start that
 * names the flag (not a handshake failure at the first call): each PEM must
 * parse, the key must match the certificate, and no certificate may be
 * expired or not yet valid.
 */
#ifndef LLMGW_TLS_H
#define LLMGW_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* The files and the flags that named them (for messages). Any path may be
 * NULL; a flag name NULL reads as the path's role ("certificate", …). */
typedef struct {
    const char *cert, *key, *ca;
    const char *cert_flag, *key_flag, *ca_flag;
} tls_paths_t;

typedef struct {
    char *cert_pem; /* NUL-terminated PEM text; NULL when not given */
    char *key_pem;
    char *ca_pem;
} tls_files_t;

/* True when any path is set. */
bool tls_paths_given(const tls_paths_t *p);
/* Reads and checks the files (at most 1 MiB each). `server`: cert and key
 * are both required; a client needs ca, and cert and key only together.
 * 0, or -1 with err naming the flag and what is wrong; *out is zeroed first
 * and left empty on failure. */
int tls_files_load(const tls_paths_t *p, bool server, tls_files_t *out, char *err, size_t errlen);
void tls_files_free(tls_files_t *t);

#endif
