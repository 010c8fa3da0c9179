/* Unit tests for audit_detail_before: an update's audit detail names the
 * earlier value of exactly the settings that changed, and never overflows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "audit.h"

static void test_audit_detail_before_lists_changed_keys_only(void **state)
{
    char out[256];
    audit_detail_before("base_url=http://b timeout_ms=30 api_key=kept",
                        "base_url=http://a timeout_ms=30 api_key=set", out, sizeof(out));
    assert_string_equal(out,
                        "base_url=http://b timeout_ms=30 api_key=kept before: base_url=http://a "
                        "api_key=set");
}

static void test_audit_detail_before_unchanged_is_after_alone(void **state)
{
    char out[256];
    audit_detail_before("strategy=priority deployments=2", "strategy=priority deployments=2", out,
                        sizeof(out));
    assert_string_equal(out, "strategy=priority deployments=2");
    audit_detail_before("a=1", "", out, sizeof(out));
    assert_string_equal(out, "a=1");
}

static void test_audit_detail_before_keys_are_whole_words(void **state)
{
    char out[256];
    /* "region" must not match "region_x", and an empty value is a value. */
    audit_detail_before("region_x=eu region=", "region=us region_x=eu", out, sizeof(out));
    assert_string_equal(out, "region_x=eu region= before: region=us");
    audit_detail_before("a=1", "b=2 junk a=1", out, sizeof(out));
    assert_string_equal(out, "a=1 before: b=2");
}

static void test_audit_detail_before_truncates_safely(void **state)
{
    char out[16];
    audit_detail_before("k=0123456789", "k=abcdefghij", out, sizeof(out));
    assert_int_equal(strlen(out), sizeof(out) - 1);
    assert_string_equal(out, "k=0123456789 be");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_detail_before_lists_changed_keys_only),
        cmocka_unit_test(test_audit_detail_before_unchanged_is_after_alone),
        cmocka_unit_test(test_audit_detail_before_keys_are_whole_words),
        cmocka_unit_test(test_audit_detail_before_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
