/* tls_http: see tls_http.h.
 *
 * The client check runs on the thread that runs the connection (MHD's); it
 * reads only that connection's GnuTLS session, so it needs no lock.
 */
#include "tls_http.h"

#include <stdio.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

unsigned tls_http_flags(const tls_files_t *t)
{
    return t ? (unsigned)MHD_USE_TLS : 0u;
}

int tls_http_options(const tls_files_t *t, bool with_client_ca,
                     struct MHD_OptionItem opts[TLS_HTTP_N_OPTIONS], char *err, size_t errlen)
{
    size_t n = 0;
    if (t) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "tls: this libmicrohttpd was built without HTTPS support");
            return -1;
        }
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->key_pem};
        if (with_client_ca && t->ca_pem)
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, t->ca_pem};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 0;
}

void tls_http_status_text(unsigned status, const char *ca_flag, char *out, size_t outlen)
{
    char unknown_ca[96];
    snprintf(unknown_ca, sizeof(unknown_ca), "not signed by the gateway's %s",
             ca_flag ? ca_flag : "client CA");
    /* Most specific first; GNUTLS_CERT_INVALID only says "some reason". */
    const struct {
        unsigned bit;
        const char *text;
    } reasons[] = {
        {GNUTLS_CERT_EXPIRED, "expired"},
        {GNUTLS_CERT_NOT_ACTIVATED, "not yet valid"},
        {GNUTLS_CERT_SIGNER_NOT_FOUND, unknown_ca},
        {GNUTLS_CERT_SIGNER_NOT_CA, "its issuer is not a CA"},
        {GNUTLS_CERT_SIGNATURE_FAILURE, "bad signature"},
        {GNUTLS_CERT_REVOKED, "revoked"},
        {GNUTLS_CERT_INSECURE_ALGORITHM, "signed with an insecure algorithm"},
        {GNUTLS_CERT_PURPOSE_MISMATCH, "not meant for client authentication (extendedKeyUsage)"},
        {GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "its issuer's constraints are not met"},
        {GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "it has an unknown critical extension"},
    };
    size_t len = 0;
    if (outlen)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (!(status & reasons[i].bit) || len >= outlen)
            continue;
        int w = snprintf(out + len, outlen - len, "%s%s", len ? ", " : "", reasons[i].text);
        len = w < 0 ? outlen : len + (size_t)w;
    }
    if (outlen && !out[0])
        snprintf(out, outlen, "unknown reason");
}

/* The subject of the client's own certificate ("CN=dp-1"), for the message;
 * "" when it cannot be read. */
static void th_subject(const gnutls_datum_t *der, char *out, size_t outlen)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t dn = {NULL, 0};
    out[0] = '\0';
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) == 0 &&
        gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0)
        snprintf(out, outlen, "%.*s", (int)dn.size, (const char *)dn.data);
    gnutls_free(dn.data);
    gnutls_x509_crt_deinit(crt);
}

tls_http_client_t tls_http_client_verify(struct MHD_Connection *conn, const char *ca_flag,
                                         char *msg, size_t msglen)
{
    const char *flag = ca_flag ? ca_flag : "client CA";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;
    unsigned n_peers = 0;
    const gnutls_datum_t *peers = session ? gnutls_certificate_get_peers(session, &n_peers) : NULL;
    if (!peers || n_peers == 0) {
        snprintf(msg, msglen, "a client certificate signed by the gateway's %s is required", flag);
        return TLS_HTTP_CLIENT_NONE;
    }
    /* Against the daemon's trust list (MHD_OPTION_HTTPS_MEM_TRUST), and for
     * client authentication: a server certificate of the same CA is not a
     * client's. */
    gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
                                     .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT};
    unsigned status = 0;
    int rc = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
    if (rc == 0 && status == 0)
        return TLS_HTTP_CLIENT_OK;
    char subject[160], why[256];
    th_subject(&peers[0], subject, sizeof(subject));
    if (rc < 0)
        snprintf(why, sizeof(why), "%s", gnutls_strerror(rc));
    else
        tls_http_status_text(status, flag, why, sizeof(why));
    if (subject[0])
        snprintf(msg, msglen, "client certificate \"%s\" did not verify: %s", subject, why);
    else
        snprintf(msg, msglen, "client certificate did not verify: %s", why);
    return TLS_HTTP_CLIENT_INVALID;
}
