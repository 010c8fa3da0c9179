/* migrate: scanning, checksums and the apply loop. See migrate.h.
 *
 * Migration files are SQL scripts with several statements, so they run
 * through PQexec (simple protocol); their text comes from the deployment's
 * migrations directory, never from a request. Bookkeeping statements use
 * parameters.
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "secret.h"

#define MIGRATE_MAX_FILE (4u << 20)

int migrate_parse_name(const char *file)
{
    size_t n = strlen(file);
    if (n < 10 || strcmp(file + n - 4, ".sql") != 0 || file[4] != '_')
        return -1;
    int id = 0;
    for (int i = 0; i < 4; i++) {
        if (file[i] < '0' || file[i] > '9')
            return -1;
        id = id * 10 + (file[i] - '0');
    }
    for (size_t i = 5; i < n - 4; i++) {
        char c = file[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return -1;
    }
    return id > 0 ? id : -1;
}

static int migrate_cmp(const void *a, const void *b)
{
    const migrate_file_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static char *migrate_read(const char *path, char *err, size_t errlen)
{
    char *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    data = malloc(MIGRATE_MAX_FILE + 1);
    if (!data) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    size_t n = fread(data, 1, MIGRATE_MAX_FILE + 1, f);
    if (ferror(f) || n > MIGRATE_MAX_FILE) {
        snprintf(err, errlen, "%s: unreadable or larger than %u bytes", path, MIGRATE_MAX_FILE);
        goto fail;
    }
    data[n] = '\0';
    fclose(f);
    return data;
fail:
    free(data);
    fclose(f);
    return NULL;
}

void migrate_files_free(migrate_file_t *f, size_t n)
{
    if (!f)
        return;
    for (size_t i = 0; i < n; i++)
        free(f[i].sql);
    free(f);
}

int migrate_scan(const char *dir, migrate_file_t **out, size_t *n, char *err, size_t errlen)
{
    migrate_file_t *files = NULL;
    size_t count = 0, alloc = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the migrations directory: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int id = migrate_parse_name(de->d_name);
        if (id < 0 || strlen(de->d_name) >= sizeof(files[0].file))
            continue;
        if (count == alloc) {
            size_t na = alloc ? alloc * 2 : 16;
            migrate_file_t *nf = realloc(files, na * sizeof(*nf));
            if (!nf) {
                snprintf(err, errlen, "%s: out of memory", dir);
                goto fail;
            }
            files = nf;
            alloc = na;
        }
        migrate_file_t *m = &files[count];
        memset(m, 0, sizeof(*m));
        m->id = id;
        snprintf(m->file, sizeof(m->file), "%s", de->d_name);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (!(m->sql = migrate_read(path, err, errlen)))
            goto fail;
        secret_sha256_hex(m->sql, strlen(m->sql), m->checksum);
        count++;
    }
    closedir(d);
    d = NULL;
    if (count > 1)
        qsort(files, count, sizeof(*files), migrate_cmp);
    for (size_t i = 1; i < count; i++) {
        if (files[i].id == files[i - 1].id) {
            snprintf(err, errlen, "%s: %s and %s share the id %04d", dir, files[i - 1].file,
                     files[i].file, files[i].id);
            goto fail;
        }
    }
    *out = files;
    *n = count;
    return 0;
fail:
    if (d)
        closedir(d);
    migrate_files_free(files, count);
    return -1;
}

static int migrate_exec(PGconn *c, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(r);
        return 0;
    }
    snprintf(err, errlen, "%s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(c));
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == '\n')
        err[--n] = '\0';
    PQclear(r);
    return -1;
}

/* The checksum recorded for id into out[65]: 1 when recorded, 0 when not, -1 on error. */
static int migrate_recorded(PGconn *c, int id, char out[65], char *err, size_t errlen)
{
    char ids[16];
    snprintf(ids, sizeof(ids), "%d", id);
    const char *params[] = {ids};
    PGresult *r = PQexecParams(c, "SELECT checksum FROM schema_migrations WHERE id = $1", 1, NULL,
                               params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "schema_migrations: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int found = PQntuples(r) == 1;
    if (found)
        snprintf(out, 65, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

static int migrate_apply_one(PGconn *c, const migrate_file_t *m, char *err, size_t errlen)
{
    char ids[16];
    snprintf(ids, sizeof(ids), "%d", m->id);
    const char *params[] = {ids, m->file, m->checksum};
    if (migrate_exec(c, "BEGIN", m->file, err, errlen) < 0)
        return -1;
    if (migrate_exec(c, m->sql, m->file, err, errlen) < 0)
        goto fail;
    PGresult *r =
        PQexecParams(c, "INSERT INTO schema_migrations (id, name, checksum) VALUES ($1, $2, $3)", 3,
                     NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s: recording: %s", m->file, PQresultErrorMessage(r));
        PQclear(r);
        goto fail;
    }
    PQclear(r);
    if (migrate_exec(c, "COMMIT", m->file, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}

static void migrate_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

int migrate_run(const char *conninfo, const char *dir, int *applied, char *err, size_t errlen)
{
    migrate_file_t *files = NULL;
    size_t n = 0;
    int done = 0, rc = -1;
    bool locked = false;
    PGconn *c = NULL;
    if (applied)
        *applied = 0;
    if (migrate_scan(dir, &files, &n, err, errlen) < 0)
        return -1;
    c = PQconnectdb(conninfo);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "database: cannot connect: %s",
                 c ? PQerrorMessage(c) : "out of memory");
        size_t k = strlen(err);
        while (k > 0 && err[k - 1] == '\n')
            err[--k] = '\0';
        goto out;
    }
    PQsetNoticeProcessor(c, migrate_quiet, NULL);
    /* Waits while another replica migrates; released at the end or when the
     * session ends (a crashed replica does not keep it). */
    if (migrate_exec(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "advisory lock", err,
                     errlen) < 0)
        goto out;
    locked = true;
    /* Created only when missing: a role without CREATE on the schema (the
     * application role of docs/compliance.md) finds it and applies nothing. */
    if (migrate_exec(c,
                     "DO $$ BEGIN IF to_regclass('schema_migrations') IS NULL THEN"
                     " CREATE TABLE schema_migrations ("
                     " id integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now()); END IF; END $$",
                     "schema_migrations", err, errlen) < 0)
        goto out;
    /* Every recorded file is verified before anything new is applied. */
    for (size_t i = 0; i < n; i++) {
        char recorded[65];
        int found = migrate_recorded(c, files[i].id, recorded, err, errlen);
        if (found < 0)
            goto out;
        if (found && strcmp(recorded, files[i].checksum) != 0) {
            snprintf(err, errlen,
                     "%s: changed after it was applied (recorded sha256 %.12s…, file %.12s…); "
                     "migrations are forward-only: restore the file and add a new migration",
                     files[i].file, recorded, files[i].checksum);
            goto out;
        }
        files[i].checksum[64] = '\0';
        if (found)
            files[i].id = -files[i].id; /* mark as applied */
    }
    for (size_t i = 0; i < n; i++) {
        if (files[i].id < 0)
            continue;
        if (migrate_apply_one(c, &files[i], err, errlen) < 0)
            goto out;
        log_info("migration applied", "file=%s", files[i].file);
        done++;
    }
    rc = 0;
out:
    if (locked)
        PQclear(PQexec(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    if (c)
        PQfinish(c);
    migrate_files_free(files, n);
    if (applied)
        *applied = done;
    return rc;
}
