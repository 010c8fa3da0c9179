/* Unit tests for storage/migrate.c without a database: which file names are
 * migrations, the order they apply in, duplicate ids, and the checksum that
 * detects an edited file. (Applying, re-running, a changed applied file and
 * two replicas at once run against PostgreSQL in
 * tests/integration/test_controlplane.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate.h"
#include "secret.h"

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const char *dir, const char *const *names)
{
    char path[512];
    for (size_t i = 0; names[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_migrate_parse_name_accepts_only_numbered_sql(void **state)
{
    (void)state;
    assert_int_equal(migrate_parse_name("0001_registry.sql"), 1);
    assert_int_equal(migrate_parse_name("0042_add_budgets_2.sql"), 42);
    assert_int_equal(migrate_parse_name("0001_registry.sql~"), -1);
    assert_int_equal(migrate_parse_name("001_short.sql"), -1);
    assert_int_equal(migrate_parse_name("0001-dash.sql"), -1);
    assert_int_equal(migrate_parse_name("0001_Upper.sql"), -1);
    assert_int_equal(migrate_parse_name("0000_zero.sql"), -1);
    assert_int_equal(migrate_parse_name("0001_.sql"), -1);
    assert_int_equal(migrate_parse_name("README.md"), -1);
}

static void test_migrate_scan_sorts_by_id_and_ignores_other_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-test-migrate.XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "0010_third.sql", "SELECT 10;");
    write_file(dir, "0002_second.sql", "SELECT 2;");
    write_file(dir, "0001_first.sql", "SELECT 1;");
    write_file(dir, "notes.txt", "not a migration");
    migrate_file_t *files = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(migrate_scan(dir, &files, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_int_equal(files[0].id, 1);
    assert_int_equal(files[1].id, 2);
    assert_int_equal(files[2].id, 10);
    assert_string_equal(files[2].file, "0010_third.sql");
    assert_string_equal(files[1].sql, "SELECT 2;");
    char sum[65];
    secret_sha256_hex("SELECT 2;", 9, sum);
    assert_string_equal(files[1].checksum, sum);
    migrate_files_free(files, n);
    const char *names[] = {"0010_third.sql", "0002_second.sql", "0001_first.sql", "notes.txt",
                           NULL};
    remove_dir(dir, names);
}

static void test_migrate_checksum_changes_when_a_file_is_edited(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-test-migrate.XXXXXX";
    assert_non_null(mkdtemp(dir));
    migrate_file_t *files = NULL;
    size_t n = 0;
    char err[256], before[65];
    write_file(dir, "0001_first.sql", "CREATE TABLE t (a int);");
    assert_int_equal(migrate_scan(dir, &files, &n, err, sizeof(err)), 0);
    memcpy(before, files[0].checksum, sizeof(before));
    migrate_files_free(files, n);
    write_file(dir, "0001_first.sql", "CREATE TABLE t (a int); -- edited");
    assert_int_equal(migrate_scan(dir, &files, &n, err, sizeof(err)), 0);
    assert_string_not_equal(files[0].checksum, before);
    migrate_files_free(files, n);
    const char *names[] = {"0001_first.sql", NULL};
    remove_dir(dir, names);
}

static void test_migrate_scan_refuses_two_files_with_one_id(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-test-migrate.XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "0003_a.sql", "SELECT 1;");
    write_file(dir, "0003_b.sql", "SELECT 2;");
    migrate_file_t *files = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(migrate_scan(dir, &files, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "share the id 0003"));
    const char *names[] = {"0003_a.sql", "0003_b.sql", NULL};
    remove_dir(dir, names);
}

static void test_migrate_scan_missing_directory_is_an_error(void **state)
{
    (void)state;
    migrate_file_t *files = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(migrate_scan("/nonexistent/llmgw-migrations", &files, &n, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "cannot open the migrations directory"));
}

static void test_migrate_repository_migrations_scan_cleanly(void **state)
{
    (void)state;
    const char *src = getenv("LLMGW_SRC_DIR");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/migrations", src ? src : ".");
    migrate_file_t *files = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(migrate_scan(dir, &files, &n, err, sizeof(err)), 0);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(files[i].id, (int)i + 1); /* 0001, 0002, … without gaps */
    migrate_files_free(files, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_parse_name_accepts_only_numbered_sql),
        cmocka_unit_test(test_migrate_scan_sorts_by_id_and_ignores_other_files),
        cmocka_unit_test(test_migrate_checksum_changes_when_a_file_is_edited),
        cmocka_unit_test(test_migrate_scan_refuses_two_files_with_one_id),
        cmocka_unit_test(test_migrate_scan_missing_directory_is_an_error),
        cmocka_unit_test(test_migrate_repository_migrations_scan_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
