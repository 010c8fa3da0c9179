/* Unit tests for tls_http.c's pure parts: the MHD options for a TLS
 * endpoint (the client CA only when asked for) and the reasons read out of
 * a GnuTLS verification status. The handshakes themselves are driven end to
 * end by tests/integration/test_tls_http.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>

#include "tls_http.h"

static void test_tls_http_plaintext_has_no_options(void **state)
{
    (void)state;
    struct MHD_OptionItem o[TLS_HTTP_N_OPTIONS];
    char err[128] = "";
    assert_int_equal(tls_http_options(NULL, true, o, err, sizeof(err)), 0);
    assert_int_equal(o[0].option, MHD_OPTION_END);
    assert_int_equal(tls_http_flags(NULL), 0);
}

static void test_tls_http_options_carry_the_pems(void **state)
{
    (void)state;
    char cert[] = "CERT", key[] = "KEY", ca[] = "CA";
    tls_files_t t = {.cert_pem = cert, .key_pem = key, .ca_pem = ca};
    struct MHD_OptionItem o[TLS_HTTP_N_OPTIONS];
    char err[128] = "";
    assert_int_equal(tls_http_flags(&t), MHD_USE_TLS);
    assert_int_equal(tls_http_options(&t, true, o, err, sizeof(err)), 0);
    assert_int_equal(o[0].option, MHD_OPTION_HTTPS_MEM_CERT);
    assert_ptr_equal(o[0].ptr_value, cert);
    assert_int_equal(o[1].option, MHD_OPTION_HTTPS_MEM_KEY);
    assert_ptr_equal(o[1].ptr_value, key);
    assert_int_equal(o[2].option, MHD_OPTION_HTTPS_MEM_TRUST);
    assert_ptr_equal(o[2].ptr_value, ca);
    assert_int_equal(o[3].option, MHD_OPTION_END);
    /* The console: the same files, no client certificates asked for. */
    assert_int_equal(tls_http_options(&t, false, o, err, sizeof(err)), 0);
    assert_int_equal(o[2].option, MHD_OPTION_END);
    t.ca_pem = NULL;
    assert_int_equal(tls_http_options(&t, true, o, err, sizeof(err)), 0);
    assert_int_equal(o[2].option, MHD_OPTION_END);
}

static void test_tls_http_status_names_each_reason(void **state)
{
    (void)state;
    char out[256];
    /* GnuTLS sets INVALID beside the specific bit (measured: 0x402, 0x42). */
    tls_http_status_text(GNUTLS_CERT_INVALID | GNUTLS_CERT_EXPIRED, "--tls-client-ca", out,
                         sizeof(out));
    assert_string_equal(out, "expired");
    tls_http_status_text(GNUTLS_CERT_INVALID | GNUTLS_CERT_SIGNER_NOT_FOUND, "--tls-client-ca", out,
                         sizeof(out));
    assert_string_equal(out, "not signed by the gateway's --tls-client-ca");
    tls_http_status_text(GNUTLS_CERT_NOT_ACTIVATED | GNUTLS_CERT_PURPOSE_MISMATCH, NULL, out,
                         sizeof(out));
    assert_string_equal(out,
                        "not yet valid, not meant for client authentication (extendedKeyUsage)");
    tls_http_status_text(GNUTLS_CERT_INVALID, "--tls-client-ca", out, sizeof(out));
    assert_string_equal(out, "unknown reason");
}

static void test_tls_http_status_text_fits_small_buffers(void **state)
{
    (void)state;
    char out[12];
    memset(out, 'x', sizeof(out));
    tls_http_status_text(GNUTLS_CERT_EXPIRED | GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_REVOKED,
                         "--tls-client-ca", out, sizeof(out));
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_memory_equal(out, "expired, no", 11);
    tls_http_status_text(GNUTLS_CERT_EXPIRED, NULL, out, 1);
    assert_int_equal(out[0], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_http_plaintext_has_no_options),
        cmocka_unit_test(test_tls_http_options_carry_the_pems),
        cmocka_unit_test(test_tls_http_status_names_each_reason),
        cmocka_unit_test(test_tls_http_status_text_fits_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
