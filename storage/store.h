/* store: what every storage module shares — error classification, the named
 * prepared statements and the one way a statement is run.
 *
 * Invariants: SQL text lives only in the statement tables (one per aggregate
 * module, listed in store.c) and is prepared on every new connection; values
 * travel as $n parameters, never spliced into SQL. A failed statement fills a
 * store_err_t whose code says whether the caller may retry (STORE_RETRY:
 * serialization failure or deadlock) and whose message names the cause.
 */
#ifndef LLMGW_STORE_H
#define LLMGW_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef enum {
    STORE_OK = 0,
    STORE_NOT_FOUND,   /* no such row */
    STORE_CONFLICT,    /* unique violation: the name is taken */
    STORE_INVALID,     /* a check or reference constraint refused the values */
    STORE_IN_USE,      /* the row is still referenced */
    STORE_RETRY,       /* 40001 / 40P01: run the transaction again */
    STORE_UNAVAILABLE, /* no connection to the database */
    STORE_HARD,        /* anything else */
} store_code_t;

typedef struct {
    store_code_t code;
    char msg[512];
} store_err_t;

typedef struct {
    const char *name; /* statement name, "<module>_<verb>" */
    const char *sql;
    int n_params;
} store_stmt_t;

/* Fills e (printf-style message) and returns -1. */
int store_fail(store_err_t *e, store_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepares every module's statements on a fresh connection. 0 or -1. */
int store_prepare_all(PGconn *c, store_err_t *e);
/* Runs prepared statement `stmt` with n text parameters (NULL entries are SQL
 * NULL). Returns the result (PQclear it) when the command succeeded, else
 * NULL with e classified by SQLSTATE. */
PGresult *store_exec(PGconn *c, const char *stmt, int n, const char *const *params, store_err_t *e);
/* Like store_exec but a result with rows other than exactly one is an error:
 * none -> STORE_NOT_FOUND ("<what>: not found"), two or more -> STORE_HARD. */
PGresult *store_exec_one(PGconn *c, const char *stmt, int n, const char *const *params,
                         const char *what, store_err_t *e);
/* Column `name` of row `row` as a borrowed string ("" for NULL); a missing
 * column is a programming error reported as "" with a log line. */
const char *store_get(const PGresult *r, int row, const char *name);
bool store_is_null(const PGresult *r, int row, const char *name);
/* Maps a failed result's SQLSTATE to a code. */
store_code_t store_classify(const PGresult *r, PGconn *c);

#endif
