/* Unit tests for discovery.c: parsing /models listings, relisting, stable
 * model pointers across updates, and bad bodies keeping the old listing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "discovery.h"

static int setup(void **state)
{
    *state = discovery_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    discovery_free(*state);
    return 0;
}

static int update(discovery_t *d, const char *provider, const char *body)
{
    char err[160];
    return discovery_update(d, provider, body, strlen(body), err, sizeof(err));
}

typedef struct {
    char names[8][64];
    int n;
} seen_t;

static void collect(void *ud, const char *model)
{
    seen_t *s = ud;
    if (s->n < 8)
        strcpy(s->names[s->n++], model);
}

static void test_discovery_lists_models_of_openai_listing(void **state)
{
    discovery_t *d = *state;
    assert_int_equal(update(d, "p",
                            "{\"object\": \"list\", \"data\": [{\"id\": \"a\"}, {\"id\": "
                            "\"org/b:1\"}, {\"id\": \"bad id\"}, {\"nope\": 1}]}"),
                     0);
    seen_t s = {0};
    discovery_each(d, "p", collect, &s);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.names[0], "a");
    assert_string_equal(s.names[1], "org/b:1");
    const table_model_t *m = discovery_find(d, "p", "org/b:1");
    assert_non_null(m);
    assert_string_equal(m->name, "org/b:1");
    assert_true(m->tools && m->json_mode && !m->vision);
    assert_null(discovery_find(d, "q", "a"));
}

static void test_discovery_relisting_keeps_pointers_and_drops_unlisted(void **state)
{
    discovery_t *d = *state;
    assert_int_equal(update(d, "p", "{\"data\": [{\"id\": \"a\"}, {\"id\": \"b\"}]}"), 0);
    const table_model_t *a = discovery_find(d, "p", "a");
    assert_int_equal(update(d, "p", "{\"data\": [{\"id\": \"a\"}, {\"id\": \"c\"}]}"), 0);
    assert_ptr_equal(discovery_find(d, "p", "a"), a);
    assert_null(discovery_find(d, "p", "b"));
    assert_non_null(discovery_find(d, "p", "c"));
    assert_int_equal(update(d, "p", "{\"data\": [{\"id\": \"b\"}]}"), 0);
    assert_non_null(discovery_find(d, "p", "b"));
    assert_null(discovery_find(d, "p", "a"));
}

static void test_discovery_bad_body_keeps_previous_listing(void **state)
{
    discovery_t *d = *state;
    assert_int_equal(update(d, "p", "{\"data\": [{\"id\": \"a\"}]}"), 0);
    char err[160];
    assert_int_equal(discovery_update(d, "p", "<html>", 6, err, sizeof(err)), -1);
    assert_string_equal(err, "models: expected {\"data\": [...]}");
    assert_non_null(discovery_find(d, "p", "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discovery_lists_models_of_openai_listing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_discovery_relisting_keeps_pointers_and_drops_unlisted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_discovery_bad_body_keeps_previous_listing, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
