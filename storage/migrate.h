/* migrate: forward-only schema migrations from migrations/NNNN_name.sql.
 *
 * Invariants: files apply in id order, each in its own transaction that also
 * inserts its row (id, name, sha256 checksum) into schema_migrations, so a
 * migration is applied completely and recorded, or not at all. A session
 * advisory lock serializes replicas starting at once: the second waits, then
 * finds everything applied. An applied file whose checksum changed is refused
 * before anything is applied — history is never rewritten; add a new file.
 */
#ifndef LLMGW_MIGRATE_H
#define LLMGW_MIGRATE_H

#include <limits.h>
#include <stddef.h>

/* pg_advisory_lock key held while migrating: 0x6c6c6d67, "llmg". */
#define MIGRATE_LOCK_KEY "1819045223"

typedef struct {
    int id;
    char file[256];    /* "0001_registry.sql" */
    char checksum[65]; /* hex sha256 of the content */
    char *sql;         /* content (owned) */
} migrate_file_t;

/* The id of a file named NNNN_name.sql (four digits, then [a-z0-9_]+), or -1
 * for any other name. */
int migrate_parse_name(const char *file);
/* Reads every migration file of `dir`, sorted by id. Other files are
 * ignored; two files with one id are an error. Free with migrate_files_free.
 * 0 or -1 with err filled. */
int migrate_scan(const char *dir, migrate_file_t **out, size_t *n, char *err, size_t errlen);
void migrate_files_free(migrate_file_t *f, size_t n);
/* Connects to `conninfo` and applies what is missing. *applied (may be NULL)
 * counts the files applied now. 0 or -1 with err filled. */
int migrate_run(const char *conninfo, const char *dir, int *applied, char *err, size_t errlen);

#endif
