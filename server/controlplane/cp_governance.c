/* cp_governance: the GovernanceService runner, team RPCs and registration.
 * See cp_governance.h; keys are in cp_gov_keys.c, policies in
 * cp_gov_policies.c. */
#include "cp_governance.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_gov.h"
#include "cp_publish.h"
#include "cp_validate.h"
#include "log.h"
#include "store_msg.h"
#include "store_tx.h"
#include "table_versions.h"
#include "teams.h"

typedef struct {
    cp_gov_tx_t *t;
    bool publish;
} cp_gov_run_t;

static int cp_gov_tx_fn(PGconn *c, void *ctx, store_err_t *e)
{
    cp_gov_run_t *run = ctx;
    cp_gov_tx_t *t = run->t;
    if (t->out)
        protobuf_c_message_free_unpacked(t->out, NULL);
    t->out = NULL;
    t->version = 0;
    if (t->fn(c, t, e) < 0)
        return -1;
    return run->publish ? cp_publish(c, &t->version, e) : 0;
}

grpc_status_code cp_gov_run(cp_t *cp, cp_gov_tx_t *t, bool publish, char *details, size_t dlen)
{
    cp_gov_run_t run = {t, publish};
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, cp_gov_tx_fn, &run, &e) < 0) {
        if (t->out)
            protobuf_c_message_free_unpacked(t->out, NULL);
        t->out = NULL;
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    if (publish)
        log_info("governance changed", "action=%s object=%s table_version=%" PRId64, t->action,
                 t->object, t->version);
    return GRPC_STATUS_OK;
}

int64_t cp_gov_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cp_gov_mask(char **mask, size_t n, const char *const *allowed, unsigned *bits, char *err,
                size_t errlen)
{
    *bits = 0;
    if (n == 0) {
        snprintf(err, errlen, "update_mask: name at least one field to change");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (allowed[k] && strcmp(allowed[k], mask[i]) != 0)
            k++;
        if (!allowed[k]) {
            char list[256] = "";
            for (size_t j = 0; allowed[j]; j++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", j ? ", " : "",
                         allowed[j]);
            snprintf(err, errlen, "update_mask[%zu]: expected one of %s", i, list);
            return -1;
        }
        if (*bits & (1u << k)) {
            snprintf(err, errlen, "update_mask[%zu]: '%s' is listed twice", i, mask[i]);
            return -1;
        }
        *bits |= 1u << k;
    }
    return 0;
}

/* --- teams ----------------------------------------------------------------- */

static Llmgw__V1__Team *team_msg(const teams_team_t *t)
{
    Llmgw__V1__Team *m = malloc(sizeof(*m));
    if (!m)
        return NULL;
    llmgw__v1__team__init(m);
    m->requests_per_min = t->requests_per_min;
    m->tokens_per_min = t->tokens_per_min;
    m->created_unix_ms = t->created_unix_ms;
    m->updated_unix_ms = t->updated_unix_ms;
    m->n_keys = t->n_keys;
    if (store_msg_str(&m->name, t->name) < 0 ||
        store_msg_str(&m->description, t->description) < 0) {
        protobuf_c_message_free_unpacked(&m->base, NULL);
        return NULL;
    }
    return m;
}

/* Reads team `name` back into a TeamChange answer. */
static int team_change_out(PGconn *c, cp_gov_tx_t *t, const char *name, store_err_t *e)
{
    teams_team_t got;
    if (teams_get(c, name, &got, e) < 0)
        return -1;
    Llmgw__V1__TeamChange *out = malloc(sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "teams: out of memory");
    llmgw__v1__team_change__init(out);
    t->out = &out->base;
    if (!(out->team = team_msg(&got)))
        return store_fail(e, STORE_HARD, "teams: out of memory");
    return 0;
}

/* Copies a request's team into the storage struct; -1 (err) when a string
 * does not fit. */
static int team_from_msg(const Llmgw__V1__Team *m, teams_team_t *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (cp_validate_name("team.name", m->name, 64, "", err, errlen) < 0)
        return -1;
    if (strlen(m->description) > TEAMS_DESCRIPTION_MAX) {
        snprintf(err, errlen, "team.description: longer than %d bytes", TEAMS_DESCRIPTION_MAX);
        return -1;
    }
    snprintf(t->name, sizeof(t->name), "%s", m->name);
    snprintf(t->description, sizeof(t->description), "%s", m->description);
    t->requests_per_min = m->requests_per_min;
    t->tokens_per_min = m->tokens_per_min;
    store_err_t e = {0};
    if (teams_validate(t, &e) < 0) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    return 0;
}

static int tx_team_create(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    const teams_team_t *team = t->req;
    if (teams_insert(c, t->who, team, e) < 0)
        return -1;
    return team_change_out(c, t, team->name, e);
}

static grpc_status_code rpc_team_create(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                        ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__CreateTeamRequest *r = (void *)req;
    teams_team_t team;
    if (!r->team) {
        snprintf(details, dlen, "team: required");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (team_from_msg(r->team, &team, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who,
                     .fn = tx_team_create,
                     .req = &team,
                     .action = "team.create",
                     .object = team.name};
    grpc_status_code st = cp_gov_run(cp, &t, true, details, dlen);
    if (st == GRPC_STATUS_OK) {
        ((Llmgw__V1__TeamChange *)t.out)->table_version = t.version;
        *resp = t.out;
    }
    return st;
}

static const char *const team_mask_fields[] = {"description", "requests_per_min", "tokens_per_min",
                                               NULL};

static int tx_team_update(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    const Llmgw__V1__UpdateTeamRequest *r = t->req;
    teams_team_t team;
    unsigned bits = 0;
    char err[256];
    if (cp_gov_mask(r->update_mask, r->n_update_mask, team_mask_fields, &bits, err, sizeof(err)) <
        0)
        return store_fail(e, STORE_INVALID, "%s", err);
    if (teams_get_locked(c, r->name, &team, e) < 0)
        return -1;
    if (bits & 1u) {
        if (strlen(r->description) > TEAMS_DESCRIPTION_MAX)
            return store_fail(e, STORE_INVALID, "team.description: longer than %d bytes",
                              TEAMS_DESCRIPTION_MAX);
        snprintf(team.description, sizeof(team.description), "%s", r->description);
    }
    if (bits & 2u)
        team.requests_per_min = r->requests_per_min;
    if (bits & 4u)
        team.tokens_per_min = r->tokens_per_min;
    if (teams_update(c, t->who, &team, e) < 0)
        return -1;
    return team_change_out(c, t, r->name, e);
}

static grpc_status_code rpc_team_update(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                        ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__UpdateTeamRequest *r = (void *)req;
    unsigned bits;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0 ||
        cp_gov_mask(r->update_mask, r->n_update_mask, team_mask_fields, &bits, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {
        .who = who, .fn = tx_team_update, .req = r, .action = "team.update", .object = r->name};
    grpc_status_code st = cp_gov_run(cp, &t, true, details, dlen);
    if (st == GRPC_STATUS_OK) {
        ((Llmgw__V1__TeamChange *)t.out)->table_version = t.version;
        *resp = t.out;
    }
    return st;
}

static int tx_team_delete(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    if (teams_delete(c, t->who, t->req, e) < 0)
        return -1;
    Llmgw__V1__GovernanceChange *out = malloc(sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "teams: out of memory");
    llmgw__v1__governance_change__init(out);
    t->out = &out->base;
    return 0;
}

static grpc_status_code rpc_team_delete(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                        ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__DeleteTeamRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who,
                     .fn = tx_team_delete,
                     .req = r->name,
                     .action = "team.delete",
                     .object = r->name};
    grpc_status_code st = cp_gov_run(cp, &t, true, details, dlen);
    if (st == GRPC_STATUS_OK) {
        ((Llmgw__V1__GovernanceChange *)t.out)->table_version = t.version;
        *resp = t.out;
    }
    return st;
}

static int tx_team_get(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    teams_team_t got;
    if (teams_get(c, t->req, &got, e) < 0)
        return -1;
    Llmgw__V1__Team *m = team_msg(&got);
    if (!m)
        return store_fail(e, STORE_HARD, "teams: out of memory");
    t->out = &m->base;
    return 0;
}

static grpc_status_code rpc_team_get(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                     ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__GetTeamRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who, .fn = tx_team_get, .req = r->name};
    grpc_status_code st = cp_gov_run(cp, &t, false, details, dlen);
    if (st == GRPC_STATUS_OK)
        *resp = t.out;
    return st;
}

static int tx_team_list(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    teams_team_t *rows = NULL;
    size_t n = 0;
    if (teams_list(c, &rows, &n, e) < 0)
        return -1;
    Llmgw__V1__ListTeamsResponse *out = malloc(sizeof(*out));
    if (!out)
        goto oom;
    llmgw__v1__list_teams_response__init(out);
    t->out = &out->base;
    if (n && !(out->teams = calloc(n, sizeof(*out->teams))))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!(out->teams[i] = team_msg(&rows[i])))
            goto oom;
        out->n_teams = i + 1;
    }
    free(rows);
    return 0;
oom:
    free(rows);
    return store_fail(e, STORE_HARD, "teams: out of memory");
}

static grpc_status_code rpc_team_list(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                      ProtobufCMessage **resp, char *details, size_t dlen)
{
    cp_gov_tx_t t = {.who = who, .fn = tx_team_list};
    grpc_status_code st = cp_gov_run(cp, &t, false, details, dlen);
    if (st == GRPC_STATUS_OK)
        *resp = t.out;
    return st;
}

#define TEAM(name, req, fn)                                                                        \
    {                                                                                              \
        "/llmgw.v1.GovernanceService/" name, &llmgw__v1__##req##__descriptor, fn, CP_ACCESS_KEYS,  \
            NULL                                                                                   \
    }

static cp_rpc_method_t cp_gov_team_methods[] = {
    TEAM("CreateTeam", create_team_request, rpc_team_create),
    TEAM("GetTeam", get_team_request, rpc_team_get),
    TEAM("ListTeams", list_teams_request, rpc_team_list),
    TEAM("UpdateTeam", update_team_request, rpc_team_update),
    TEAM("DeleteTeam", delete_team_request, rpc_team_delete),
};

int cp_governance_register(cp_t *cp)
{
    if (cp_rpc_register(cp, cp_gov_team_methods,
                        sizeof(cp_gov_team_methods) / sizeof(cp_gov_team_methods[0])) < 0 ||
        cp_rpc_register(cp, cp_gov_key_methods, cp_gov_n_key_methods) < 0 ||
        cp_rpc_register(cp, cp_gov_policy_methods, cp_gov_n_policy_methods) < 0)
        return -1;
    return 0;
}
