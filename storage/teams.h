/* teams: the teams aggregate (table `teams`) — who API keys, budgets and
 * policies belong to.
 *
 * Invariants: every change runs inside the caller's transaction and appends
 * its audit row (audit.h) there, so the change and its record commit
 * together. A team that still owns API keys cannot be deleted; its budgets
 * and policies go with it. GovernanceService (cp_governance.c) calls this
 * and publishes a routing-table version in the same transaction. An
 * update's audit row shows the settings before and after.
 */
#ifndef LLMGW_TEAMS_H
#define LLMGW_TEAMS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "audit.h"
#include "store.h"

#define TEAMS_DESCRIPTION_MAX 256 /* bytes */
#define TEAMS_RPM_MAX 10000000
#define TEAMS_TPM_MAX 10000000000LL

typedef struct {
    char name[72]; /* [A-Za-z0-9._-]{1,64} */
    char description[TEAMS_DESCRIPTION_MAX + 1];
    int32_t requests_per_min; /* team-wide, 0 unlimited */
    int64_t tokens_per_min;   /* team-wide, 0 unlimited */
    /* Output only. */
    int64_t created_unix_ms, updated_unix_ms;
    int32_t n_keys; /* keys of the team, revoked ones included */
} teams_team_t;

/* Field checks before any SQL: 0, or -1 with e (STORE_INVALID) naming the
 * field. */
int teams_validate(const teams_team_t *t, store_err_t *e);
/* STORE_CONFLICT "team.name: 'x' already exists". */
int teams_insert(PGconn *c, const audit_actor_t *who, const teams_team_t *t, store_err_t *e);
/* Replaces the description and limits of team t->name. STORE_NOT_FOUND
 * when absent. */
int teams_update(PGconn *c, const audit_actor_t *who, const teams_team_t *t, store_err_t *e);
/* STORE_NOT_FOUND when absent, STORE_IN_USE while API keys belong to it. */
int teams_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e);
int teams_get(PGconn *c, const char *name, teams_team_t *out, store_err_t *e);
/* teams_get with the row locked until the transaction ends (read, change,
 * write without losing a concurrent update). */
int teams_get_locked(PGconn *c, const char *name, teams_team_t *out, store_err_t *e);
/* *out malloc'd (free()), by name. */
int teams_list(PGconn *c, teams_team_t **out, size_t *n, store_err_t *e);

#endif
