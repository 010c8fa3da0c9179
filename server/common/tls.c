/* tls: PEM files read and checked with OpenSSL. See tls.h. */
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define TLS_MAX_FILE (1u << 20)

bool tls_paths_given(const tls_paths_t *p)
{
    return p && (p->cert || p->key || p->ca);
}

static const char *tls_flag(const char *flag, const char *role)
{
    return flag ? flag : role;
}

/* The file's text, NUL-terminated (PEM is text: an embedded NUL is refused,
 * since gRPC takes the PEM as a C string and would stop there). */
static char *tls_read(const char *path, const char *flag, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    if (!f) {
        snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
        return NULL;
    }
    if (!(text = malloc(TLS_MAX_FILE + 1))) {
        snprintf(err, errlen, "%s %s: out of memory", flag, path);
        goto fail;
    }
    len = fread(text, 1, TLS_MAX_FILE + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s %s: read error", flag, path);
        goto fail;
    }
    if (len > TLS_MAX_FILE) {
        snprintf(err, errlen, "%s %s: larger than %u bytes", flag, path, TLS_MAX_FILE);
        goto fail;
    }
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s %s: not a PEM file (binary data)", flag, path);
        goto fail;
    }
    text[len] = '\0';
    fclose(f);
    return text;
fail:
    fclose(f);
    free(text);
    return NULL;
}

/* "Jan  2 03:04:05 2026 GMT" */
static void tls_time_text(const ASN1_TIME *t, char *out, size_t outlen)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n = 0;
    out[0] = '\0';
    if (b && ASN1_TIME_print(b, t) == 1)
        n = BIO_read(b, out, (int)outlen - 1);
    if (n > 0)
        out[n] = '\0';
    BIO_free(b);
}

/* Every certificate in `pem`: at least one, each currently valid. The
 * first one is returned in *first when asked (the caller frees it). */
static int tls_check_certs(const char *pem, const char *flag, const char *path, X509 **first,
                           char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    int n = 0, rc = -1;
    X509 *x;
    char when[64];
    if (!b) {
        snprintf(err, errlen, "%s %s: out of memory", flag, path);
        return -1;
    }
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        n++;
        if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
            tls_time_text(X509_get0_notAfter(x), when, sizeof(when));
            snprintf(err, errlen, "%s %s: certificate %d expired on %s", flag, path, n, when);
            X509_free(x);
            goto out;
        }
        if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
            tls_time_text(X509_get0_notBefore(x), when, sizeof(when));
            snprintf(err, errlen, "%s %s: certificate %d is not valid before %s", flag, path, n,
                     when);
            X509_free(x);
            goto out;
        }
        if (first && !*first)
            *first = x;
        else
            X509_free(x);
    }
    if (n == 0) {
        snprintf(err, errlen, "%s %s: no PEM certificate in the file", flag, path);
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error(); /* the read that ended the loop left "no start line" */
    BIO_free(b);
    if (rc < 0 && first && *first) {
        X509_free(*first);
        *first = NULL;
    }
    return rc;
}

/* The key parses and belongs to the certificate. */
static int tls_check_key(const char *pem, X509 *cert, const tls_paths_t *p, char *err,
                         size_t errlen)
{
    const char *flag = tls_flag(p->key_flag, "key");
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    int rc = -1;
    if (!key)
        snprintf(err, errlen, "%s %s: no unencrypted PEM private key in the file", flag, p->key);
    else if (X509_check_private_key(cert, key) != 1)
        snprintf(err, errlen, "%s %s: the key does not match the certificate of %s %s", flag,
                 p->key, tls_flag(p->cert_flag, "certificate"), p->cert);
    else
        rc = 0;
    ERR_clear_error();
    EVP_PKEY_free(key);
    BIO_free(b);
    return rc;
}

int tls_files_load(const tls_paths_t *p, bool server, tls_files_t *out, char *err, size_t errlen)
{
    const char *cert_flag = tls_flag(p->cert_flag, "certificate");
    const char *key_flag = tls_flag(p->key_flag, "key");
    const char *ca_flag = tls_flag(p->ca_flag, "CA");
    X509 *cert = NULL;
    memset(out, 0, sizeof(*out));
    if (!p->cert != !p->key) {
        snprintf(err, errlen, "%s and %s: give both or neither", cert_flag, key_flag);
        return -1;
    }
    if (server && !p->cert) {
        snprintf(err, errlen, "%s and %s are required for TLS", cert_flag, key_flag);
        return -1;
    }
    if (!server && !p->ca) {
        snprintf(err, errlen, "%s is required: the CA that signed the server's certificate",
                 ca_flag);
        return -1;
    }
    if (p->cert) {
        if (!(out->cert_pem = tls_read(p->cert, cert_flag, err, errlen)) ||
            tls_check_certs(out->cert_pem, cert_flag, p->cert, &cert, err, errlen) < 0 ||
            !(out->key_pem = tls_read(p->key, key_flag, err, errlen)) ||
            tls_check_key(out->key_pem, cert, p, err, errlen) < 0)
            goto fail;
    }
    if (p->ca && (!(out->ca_pem = tls_read(p->ca, ca_flag, err, errlen)) ||
                  tls_check_certs(out->ca_pem, ca_flag, p->ca, NULL, err, errlen) < 0))
        goto fail;
    X509_free(cert);
    return 0;
fail:
    X509_free(cert);
    tls_files_free(out);
    return -1;
}

void tls_files_free(tls_files_t *t)
{
    if (!t)
        return;
    if (t->key_pem) /* a private key: not left behind in freed memory */
        OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
    free(t->cert_pem);
    free(t->key_pem);
    free(t->ca_pem);
    memset(t, 0, sizeof(*t));
}
