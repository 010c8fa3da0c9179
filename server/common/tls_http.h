/* tls_http: HTTPS for the libmicrohttpd listeners (the data plane's HTTP
 * door, the control plane's console), from the PEMs tls.h loaded.
 *
 * libmicrohttpd serves TLS through GnuTLS. Measured with 0.9.75 / GnuTLS
 * 3.7.9: MHD_OPTION_HTTPS_MEM_TRUST loads the client CA and makes GnuTLS ask
 * for a certificate, but the handshake still completes when the client sends
 * none, or one from another CA, or an expired one, and its requests reach
 * the handler. So a daemon started with a client CA must call
 * tls_http_client_verify on each connection before it does anything else;
 * the check is what refuses. (The PEM strings are copied into GnuTLS's
 * credentials in MHD_start_daemon: a daemon does not need them afterwards.)
 */
#ifndef LLMGW_TLS_HTTP_H
#define LLMGW_TLS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "tls.h"

/* MHD_OptionItems that tls_http_options fills, the MHD_OPTION_END included. */
#define TLS_HTTP_N_OPTIONS 4

/* The daemon flags for `t`: MHD_USE_TLS, or 0 when t is NULL (plaintext). */
unsigned tls_http_flags(const tls_files_t *t);

/* Fills opts, for MHD_OPTION_ARRAY: the certificate and key of `t` and, when
 * with_client_ca and t->ca_pem are set, the client CA; then MHD_OPTION_END.
 * t NULL: only MHD_OPTION_END. The pointers are borrowed from `t`.
 * 0, or -1 with err when this libmicrohttpd was built without TLS. */
int tls_http_options(const tls_files_t *t, bool with_client_ca,
                     struct MHD_OptionItem opts[TLS_HTTP_N_OPTIONS], char *err, size_t errlen);

typedef enum {
    TLS_HTTP_CLIENT_OK = 0,
    TLS_HTTP_CLIENT_NONE,    /* no certificate presented */
    TLS_HTTP_CLIENT_INVALID, /* presented, but it does not verify */
} tls_http_client_t;

/* Whether the client of `conn` (on a daemon started with a client CA)
 * presented a certificate that chains to that CA, is valid now and may be
 * used for client authentication. Anything but OK writes into msg what is
 * wrong, naming ca_flag (the flag that gave the CA, for the operator):
 *   a client certificate signed by the gateway's --tls-client-ca is required
 *   client certificate "CN=dp-1" did not verify: expired */
tls_http_client_t tls_http_client_verify(struct MHD_Connection *conn, const char *ca_flag,
                                         char *msg, size_t msglen);

/* The reasons in a GnuTLS verification status (gnutls_certificate_status_t
 * bits), comma-separated, into out: "expired", "not signed by the gateway's
 * --tls-client-ca", …; "unknown reason" when no known bit is set. Pure. */
void tls_http_status_text(unsigned status, const char *ca_flag, char *out, size_t outlen);

#endif
