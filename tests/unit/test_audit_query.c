/* Unit tests for audit_query.c's filter patterns: LIKE metacharacters in a
 * value match only themselves, a trailing '*' is a prefix, an action family
 * matches "<family>.<verb>", and a too small buffer is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "audit_query.h"

static const char *pat(const char *value, bool family)
{
    static char out[2 * AUDIT_QUERY_MAX_VALUE + 3];
    assert_int_equal(audit_query_pattern(value, family, out, sizeof(out)), 0);
    return out;
}

static void test_audit_query_pattern_exact_values_are_escaped(void **state)
{
    assert_string_equal(pat("", false), "");
    assert_string_equal(pat("ci", false), "ci");
    assert_string_equal(pat("admin_token.create", false), "admin\\_token.create");
    assert_string_equal(pat("100%", false), "100\\%");
    assert_string_equal(pat("a\\b", false), "a\\\\b");
    assert_string_equal(pat("a*b", false), "a*b"); /* '*' is a wildcard only at the end */
}

static void test_audit_query_pattern_trailing_star_is_a_prefix(void **state)
{
    assert_string_equal(pat("provider/*", false), "provider/%");
    assert_string_equal(pat("api_key*", false), "api\\_key%");
    assert_string_equal(pat("*", false), "%");
}

static void test_audit_query_pattern_family(void **state)
{
    assert_string_equal(pat("api_key", true), "api\\_key.%");
    assert_string_equal(pat("provider.create", true), "provider.create.%");
    assert_string_equal(pat("", true), "");
    assert_string_equal(pat("api*", true), ""); /* a prefix already covers the family */
}

static void test_audit_query_pattern_refuses_a_small_buffer(void **state)
{
    char out[8];
    assert_int_equal(audit_query_pattern("abc", false, out, sizeof(out)), -1); /* needs 9 */
    assert_int_equal(audit_query_pattern("ab", false, out, sizeof(out)), 0);
    assert_string_equal(out, "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_query_pattern_exact_values_are_escaped),
        cmocka_unit_test(test_audit_query_pattern_trailing_star_is_a_prefix),
        cmocka_unit_test(test_audit_query_pattern_family),
        cmocka_unit_test(test_audit_query_pattern_refuses_a_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
