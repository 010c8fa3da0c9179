/* Unit tests for uerror.c: status classes, Retry-After forms, and messages
 * from OpenAI error bodies, other JSON shapes and bodies that are junk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fixture.h"

#include "uerror.h"

/* Reads tests/fixtures/openai/<name>; the caller frees it. */
static char *openai_fixture(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "openai/%s", name);
    return fixture_read(rel, len);
}

/* Whether s is well-formed UTF-8 with no control characters. */
static int clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 || *p == 0x7f)
            return 0;
        int extra = *p < 0x80 ? 0 : *p >= 0xF0 ? 3 : *p >= 0xE0 ? 2 : *p >= 0xC2 ? 1 : -1;
        if (extra < 0)
            return 0;
        for (int i = 1; i <= extra; i++)
            if ((p[i] & 0xC0) != 0x80)
                return 0;
        p += 1 + extra;
    }
    return 1;
}

static void check_message_invariants(const uerror_t *e)
{
    assert_non_null(e->type);
    assert_true(strlen(e->message) > 0);
    assert_true(strlen(e->message) < sizeof(e->message));
    assert_true(clean_utf8(e->message));
}

static void test_uerror_http_status_classes(void **state)
{
    static const struct {
        long status;
        const char *type;
        bool retryable;
        grpc_status_code grpc;
    } cases[] = {
        {400, "invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT},
        {401, "auth", false, GRPC_STATUS_INTERNAL},
        {403, "permission", false, GRPC_STATUS_PERMISSION_DENIED},
        {404, "not_found", false, GRPC_STATUS_NOT_FOUND},
        {408, "timeout", true, GRPC_STATUS_UNAVAILABLE},
        {409, "conflict", true, GRPC_STATUS_UNAVAILABLE},
        {413, "invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT},
        {418, "invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT},
        {422, "invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT},
        {429, "rate_limit", true, GRPC_STATUS_RESOURCE_EXHAUSTED},
        {451, "invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT},
        {500, "server", true, GRPC_STATUS_UNAVAILABLE},
        {502, "server", true, GRPC_STATUS_UNAVAILABLE},
        {503, "server", true, GRPC_STATUS_UNAVAILABLE},
        {504, "server", true, GRPC_STATUS_UNAVAILABLE},
        {529, "server", true, GRPC_STATUS_UNAVAILABLE},
        {599, "server", true, GRPC_STATUS_UNAVAILABLE},
        {100, "server", true, GRPC_STATUS_UNAVAILABLE},
        {302, "server", true, GRPC_STATUS_UNAVAILABLE},
        {600, "server", true, GRPC_STATUS_UNAVAILABLE},
        {0, "server", true, GRPC_STATUS_UNAVAILABLE},
        {200, "bad_response", true, GRPC_STATUS_UNAVAILABLE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uerror_t e;
        memset(&e, 0xAB, sizeof(e));
        uerror_from_http(&e, cases[i].status, NULL, 0, NULL);
        if (strcmp(e.type, cases[i].type) != 0 || e.retryable != cases[i].retryable ||
            e.grpc_status != cases[i].grpc)
            fail_msg("HTTP %ld: got type=%s retryable=%d grpc=%d", cases[i].status, e.type,
                     e.retryable, e.grpc_status);
        assert_int_equal(e.http_status, cases[i].status);
        assert_int_equal(e.retry_after_ms, -1);
        check_message_invariants(&e);
    }
}

static void test_uerror_openai_error_body_gives_provider_message(void **state)
{
    static const struct {
        const char *file;
        long status;
        const char *prefix;
    } cases[] = {
        {"error_invalid_api_key.json", 401, "Incorrect API key provided: sk-abc"},
        {"error_rate_limit.json", 429, "Rate limit reached for gpt-4o-mini"},
        {"error_invalid_request.json", 400, "Invalid type for 'messages[0].content'"},
        {"error_server.json", 500, "The server had an error while processing your request."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        char *body = openai_fixture(cases[i].file, &len);
        uerror_t e;
        uerror_from_http(&e, cases[i].status, body, len, NULL);
        free(body);
        check_message_invariants(&e);
        if (strncmp(e.message, cases[i].prefix, strlen(cases[i].prefix)) != 0)
            fail_msg("%s: message \"%s\"", cases[i].file, e.message);
        assert_null(strstr(e.message, "..."));
    }
}

static void test_uerror_sim_error_body(void **state)
{
    const char *body = "{\"error\":{\"message\":\"simulated 503\",\"type\":\"server_error\","
                       "\"param\":null,\"code\":null}}";
    uerror_t e;
    uerror_from_http(&e, 503, body, strlen(body), "1");
    assert_string_equal(e.message, "simulated 503");
    assert_string_equal(e.type, "server");
    assert_int_equal(e.retry_after_ms, 1000);
}

static void test_uerror_other_json_error_shapes(void **state)
{
    static const struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"error\":\"model overloaded\"}", "model overloaded"},
        {"{\"message\":\"Internal server error\"}", "Internal server error"},
        {"{\"error\":{\"message\":\"inner\"},\"message\":\"outer\"}", "inner"},
        {"{\"error\":{\"code\":5},\"message\":\"outer\"}", "outer"},
        /* Escapes are decoded, a newline inside becomes a space. */
        {"{\"error\":{\"message\":\"line one\\nline\\ttwo \\u00e9\"}}",
         "line one line two \xC3\xA9"},
        /* Not a recognized shape: the body itself is quoted. */
        {"{\"error\":{\"message\":42}}", "{\"error\":{\"message\":42}}"},
        {"[\"error\"]", "[\"error\"]"},
        {"\"just a string\"", "\"just a string\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uerror_t e;
        uerror_from_http(&e, 500, cases[i].body, strlen(cases[i].body), NULL);
        if (strcmp(e.message, cases[i].want) != 0)
            fail_msg("body %s: got \"%s\" want \"%s\"", cases[i].body, e.message, cases[i].want);
    }
}

static void test_uerror_non_json_body_quoted_and_sanitized(void **state)
{
    const char *body = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n\t</html>\r\n";
    uerror_t e;
    uerror_from_http(&e, 502, body, strlen(body), NULL);
    assert_string_equal(e.message, "<html> <head><title>502 Bad Gateway</title></head> </html>");
    check_message_invariants(&e);
}

static void test_uerror_empty_body_names_status(void **state)
{
    uerror_t e;
    uerror_from_http(&e, 503, "", 0, NULL);
    assert_string_equal(e.message, "upstream returned HTTP 503");
    uerror_from_http(&e, 429, " \r\n\t ", 5, NULL);
    assert_string_equal(e.message, "upstream returned HTTP 429");
    uerror_from_http(&e, 500, NULL, 0, NULL);
    assert_string_equal(e.message, "upstream returned HTTP 500");
    /* An empty provider message falls back to quoting the body. */
    const char *b = "{\"error\":{\"message\":\"\"}}";
    uerror_from_http(&e, 500, b, strlen(b), NULL);
    assert_string_equal(e.message, b);
}

static void test_uerror_huge_body_excerpt_is_bounded(void **state)
{
    size_t len = 4 << 20;
    char *body = malloc(len);
    assert_non_null(body);
    memset(body, 'x', len);
    uerror_t e;
    uerror_from_http(&e, 500, body, len, NULL);
    check_message_invariants(&e);
    assert_true(strlen(e.message) <= 203);
    assert_true(strlen(e.message) >= 150);
    assert_string_equal(e.message + strlen(e.message) - 3, "...");
    free(body);
}

static void test_uerror_long_provider_message_cut_between_characters(void **state)
{
    /* 700 two-byte characters: longer than message[], and an odd cut would
     * split one. */
    char body[4096];
    size_t o = (size_t)snprintf(body, sizeof(body), "{\"error\":{\"message\":\"");
    for (int i = 0; i < 700; i++) {
        body[o++] = (char)0xC3;
        body[o++] = (char)0xA9;
    }
    o += (size_t)snprintf(body + o, sizeof(body) - o, "\"}}");
    uerror_t e;
    uerror_from_http(&e, 400, body, o, NULL);
    check_message_invariants(&e);
    size_t n = strlen(e.message);
    assert_true(n > 400);
    assert_string_equal(e.message + n - 3, "...");
    assert_int_equal((unsigned char)e.message[0], 0xC3);
}

static void test_uerror_body_with_nul_bytes(void **state)
{
    const char body[] = "bad\0gateway\0\0here";
    uerror_t e;
    uerror_from_http(&e, 502, body, sizeof(body) - 1, NULL);
    assert_string_equal(e.message, "bad gateway here");
    /* Valid JSON followed by a NUL and junk is not JSON: quoted instead. */
    const char j[] = "{\"error\":\"x\"}\0junk";
    uerror_from_http(&e, 500, j, sizeof(j) - 1, NULL);
    assert_string_equal(e.message, "{\"error\":\"x\"} junk");
}

static void test_uerror_body_read_only_to_len(void **state)
{
    /* No terminator inside len: the excerpt must stop at len. */
    const char body[] = "abcdefSECRET";
    uerror_t e;
    uerror_from_http(&e, 500, body, 6, NULL);
    assert_string_equal(e.message, "abcdef");
}

static void test_uerror_invalid_utf8_replaced(void **state)
{
    const char body[] = "ok \xFF\xC3 \xE2\x82 \xED\xA0\x80 end \xF0\x9F\x98\x80";
    uerror_t e;
    uerror_from_http(&e, 500, body, sizeof(body) - 1, NULL);
    check_message_invariants(&e);
    assert_string_equal(e.message, "ok ?? ?? ??? end \xF0\x9F\x98\x80");
}

static void test_uerror_retry_after_delta_seconds(void **state)
{
    static const struct {
        const char *value;
        int64_t want_ms;
    } cases[] = {
        {"1", 1000},
        {"0", 0},
        {" 30 ", 30000},
        {"120\r\n", 120000},
        {"99999999999999999999999", 86400000},
        {"", -1},
        {"   ", -1},
        {"-5", -1},
        {"+5", -1},
        {"1.5", -1},
        {"5s", -1},
        {"soon", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uerror_t e;
        uerror_from_http(&e, 429, NULL, 0, cases[i].value);
        if (e.retry_after_ms != cases[i].want_ms)
            fail_msg("Retry-After \"%s\": got %lld want %lld", cases[i].value,
                     (long long)e.retry_after_ms, (long long)cases[i].want_ms);
    }
    uerror_t e;
    uerror_from_http(&e, 429, NULL, 0, NULL);
    assert_int_equal(e.retry_after_ms, -1);
}

static void test_uerror_retry_after_http_date(void **state)
{
    char date[64];
    time_t future = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&future, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    uerror_t e;
    uerror_from_http(&e, 503, NULL, 0, date);
    if (e.retry_after_ms < 110000 || e.retry_after_ms > 121000)
        fail_msg("Retry-After \"%s\": got %lld ms", date, (long long)e.retry_after_ms);

    /* Dates in the past mean "now", in each of the three HTTP date forms. */
    uerror_from_http(&e, 503, NULL, 0, "Wed, 21 Oct 2015 07:28:00 GMT");
    assert_int_equal(e.retry_after_ms, 0);
    uerror_from_http(&e, 503, NULL, 0, "Sunday, 06-Nov-94 08:49:37 GMT");
    assert_int_equal(e.retry_after_ms, 0);
    uerror_from_http(&e, 503, NULL, 0, "Sun Nov  6 08:49:37 1994");
    assert_int_equal(e.retry_after_ms, 0);

    /* A date years ahead is capped. */
    uerror_from_http(&e, 503, NULL, 0, "Fri, 01 Jan 2100 00:00:00 GMT");
    assert_int_equal(e.retry_after_ms, 86400000);
}

static void test_uerror_transport_outcomes(void **state)
{
    static const struct {
        upstream_outcome_t outcome;
        const char *type;
        bool retryable;
        grpc_status_code grpc;
    } cases[] = {
        {UPSTREAM_ERR_CONNECT, "connect", true, GRPC_STATUS_UNAVAILABLE},
        {UPSTREAM_ERR_TIMEOUT, "timeout", true, GRPC_STATUS_DEADLINE_EXCEEDED},
        {UPSTREAM_ERR_CANCELLED, "cancelled", false, GRPC_STATUS_CANCELLED},
        {UPSTREAM_ERR_TOO_LARGE, "too_large", true, GRPC_STATUS_UNAVAILABLE},
        {UPSTREAM_ERR_ABORTED, "bad_response", true, GRPC_STATUS_UNAVAILABLE},
        {UPSTREAM_ERR_TRANSFER, "bad_response", true, GRPC_STATUS_UNAVAILABLE},
        {UPSTREAM_OK, "bad_response", true, GRPC_STATUS_UNAVAILABLE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uerror_t e;
        memset(&e, 0xAB, sizeof(e));
        uerror_from_transport(&e, cases[i].outcome, "Failed to connect to 127.0.0.1 port 9");
        if (strcmp(e.type, cases[i].type) != 0 || e.retryable != cases[i].retryable ||
            e.grpc_status != cases[i].grpc)
            fail_msg("outcome %d: got type=%s retryable=%d grpc=%d", (int)cases[i].outcome, e.type,
                     e.retryable, e.grpc_status);
        assert_int_equal(e.http_status, 0);
        assert_int_equal(e.retry_after_ms, -1);
        assert_string_equal(e.message, "Failed to connect to 127.0.0.1 port 9");

        /* Without a detail the message still says what happened. */
        uerror_from_transport(&e, cases[i].outcome, NULL);
        check_message_invariants(&e);
        uerror_from_transport(&e, cases[i].outcome, "");
        check_message_invariants(&e);
    }
}

static void test_uerror_transport_detail_sanitized(void **state)
{
    uerror_t e;
    uerror_from_transport(&e, UPSTREAM_ERR_TRANSFER, "transfer closed\r\nwith 12 bytes\x01left");
    assert_string_equal(e.message, "transfer closed with 12 bytes left");
    char big[2048];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    uerror_from_transport(&e, UPSTREAM_ERR_CONNECT, big);
    check_message_invariants(&e);
    assert_string_equal(e.message + strlen(e.message) - 3, "...");
}

static void test_uerror_bad_response(void **state)
{
    uerror_t e;
    memset(&e, 0xAB, sizeof(e));
    uerror_bad_response(&e, 200, "choices: expected an array");
    assert_string_equal(e.type, "bad_response");
    assert_true(e.retryable);
    assert_int_equal(e.grpc_status, GRPC_STATUS_UNAVAILABLE);
    assert_int_equal(e.http_status, 200);
    assert_int_equal(e.retry_after_ms, -1);
    assert_string_equal(e.message, "choices: expected an array");
    uerror_bad_response(&e, 200, NULL);
    check_message_invariants(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uerror_http_status_classes),
        cmocka_unit_test(test_uerror_openai_error_body_gives_provider_message),
        cmocka_unit_test(test_uerror_sim_error_body),
        cmocka_unit_test(test_uerror_other_json_error_shapes),
        cmocka_unit_test(test_uerror_non_json_body_quoted_and_sanitized),
        cmocka_unit_test(test_uerror_empty_body_names_status),
        cmocka_unit_test(test_uerror_huge_body_excerpt_is_bounded),
        cmocka_unit_test(test_uerror_long_provider_message_cut_between_characters),
        cmocka_unit_test(test_uerror_body_with_nul_bytes),
        cmocka_unit_test(test_uerror_body_read_only_to_len),
        cmocka_unit_test(test_uerror_invalid_utf8_replaced),
        cmocka_unit_test(test_uerror_retry_after_delta_seconds),
        cmocka_unit_test(test_uerror_retry_after_http_date),
        cmocka_unit_test(test_uerror_transport_outcomes),
        cmocka_unit_test(test_uerror_transport_detail_sanitized),
        cmocka_unit_test(test_uerror_bad_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
