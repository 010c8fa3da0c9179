/* Unit tests for timefmt.c: Unix milliseconds and RFC 3339 in, each field
 * range and calendar rule enforced, and the round trip through
 * timefmt_rfc3339. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timefmt.h"

static int64_t parse_ok(const char *text)
{
    int64_t v = -1;
    char err[256] = "";
    if (timefmt_parse(text, &v, err, sizeof(err)) != 0)
        fail_msg("'%s' refused: %s", text, err);
    return v;
}

static void parse_bad(const char *text, const char *needle)
{
    int64_t v = 42;
    char err[256] = "";
    assert_int_equal(timefmt_parse(text, &v, err, sizeof(err)), -1);
    assert_int_equal(v, 42);
    if (!strstr(err, needle))
        fail_msg("'%s': message '%s' lacks '%s'", text, err, needle);
}

static void test_timefmt_parses_unix_ms_and_rfc3339(void **state)
{
    assert_int_equal(parse_ok("0"), 0);
    assert_int_equal(parse_ok("1764547200000"), 1764547200000LL);
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2025-12-01"), 1764547200000LL);
    assert_int_equal(parse_ok("2025-12-01T00:00:00Z"), 1764547200000LL);
    assert_int_equal(parse_ok("2025-12-01t00:00:00z"), 1764547200000LL);
    assert_int_equal(parse_ok("2025-12-01 01:30:00+01:30"), 1764547200000LL);
    assert_int_equal(parse_ok("2025-11-30T22:00-02:00"), 1764547200000LL);
    assert_int_equal(parse_ok("2025-12-01T00:00:00.5Z"), 1764547200500LL);
    assert_int_equal(parse_ok("2025-12-01T00:00:00.123999Z"), 1764547200123LL);
    assert_int_equal(parse_ok("2024-02-29T12:00:00Z"), 1709208000000LL);
    assert_int_equal(parse_ok("9999-12-31T23:59:59.999Z"), TIMEFMT_MAX_UNIX_MS);
}

static void test_timefmt_refuses_malformed_and_out_of_range(void **state)
{
    parse_bad("", "expected Unix milliseconds");
    parse_bad("yesterday", "got 'yesterday'");
    parse_bad("-5", "expected");
    parse_bad("2025-13-01", "no such date");
    parse_bad("2025-02-29", "no such date");
    parse_bad("1900-02-29", "no such date");
    parse_bad("1969-12-31T23:59:59Z", "no such date");
    parse_bad("2025-12-01T24:00:00Z", "no such time of day");
    parse_bad("2025-12-01T12:60Z", "no such time of day");
    parse_bad("2025-12-01T12:00:61Z", "no such time of day");
    parse_bad("2025-12-01T12:00:00", "missing the UTC offset");
    parse_bad("2025-12-01T12:00:00+2:00", "bad UTC offset");
    parse_bad("2025-12-01T12:00:00.Z", "expected");
    parse_bad("2025-12-01T12:00:00Z trailing", "expected");
    parse_bad("1970-01-01T00:30:00+01:00", "before 1970");
    parse_bad("99999999999999999999", "after year 9999");
    parse_bad("253402300800000", "after year 9999");
}

static void test_timefmt_rfc3339_round_trips(void **state)
{
    static const int64_t samples[] = {0,
                                      1,
                                      999,
                                      1764547200123LL,
                                      1709208000000LL,
                                      951782400000LL /* 2000-02-29 */,
                                      TIMEFMT_MAX_UNIX_MS};
    char out[32];
    timefmt_rfc3339(1764547200123LL, out, sizeof(out));
    assert_string_equal(out, "2025-12-01T00:00:00.123Z");
    timefmt_rfc3339(951782400000LL, out, sizeof(out));
    assert_string_equal(out, "2000-02-29T00:00:00.000Z");
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        timefmt_rfc3339(samples[i], out, sizeof(out));
        assert_int_equal(parse_ok(out), samples[i]);
    }
    timefmt_rfc3339(-1, out, sizeof(out));
    assert_string_equal(out, "-1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timefmt_parses_unix_ms_and_rfc3339),
        cmocka_unit_test(test_timefmt_refuses_malformed_and_out_of_range),
        cmocka_unit_test(test_timefmt_rfc3339_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
