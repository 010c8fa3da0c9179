/* cp_budgets: BudgetService bodies. See cp_budgets.h. */
#include "cp_budgets.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget_leases.h"
#include "budgets.h"
#include "cp_publish.h"
#include "cp_rpc.h"
#include "cp_usage.h"
#include "cp_validate.h"
#include "llmgw/v1/usage.pb-c.h"
#include "log.h"
#include "store_tx.h"
#include "table_versions.h"

typedef struct {
    const audit_actor_t *who;
    budgets_budget_t b;
    bool created;
    int64_t version;
} cp_budget_set_t;

static int tx_set(PGconn *c, void *ctx, store_err_t *e)
{
    cp_budget_set_t *s = ctx;
    budgets_budget_t old;
    store_err_t probe = {0};
    s->created = budgets_get(c, s->b.name, &old, &probe) < 0;
    if (s->created && probe.code != STORE_NOT_FOUND) {
        *e = probe;
        return -1;
    }
    int rc = s->created ? budgets_insert(c, s->who, &s->b, e) : budgets_update(c, s->who, &s->b, e);
    if (rc < 0)
        return -1;
    return cp_publish(c, &s->version, e);
}

static grpc_status_code cp_budgets_change(cp_t *cp, store_tx_fn fn, void *ctx,
                                          ProtobufCMessage **resp, char *details, size_t dlen)
{
    store_err_t e = {0};
    if (store_run_transaction(cp->pool, false, fn, ctx, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    Llmgw__V1__BudgetChange *out = malloc(sizeof(*out));
    if (!out) {
        snprintf(details, dlen, "control plane: out of memory");
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    }
    llmgw__v1__budget_change__init(out);
    *resp = &out->base;
    return GRPC_STATUS_OK;
}

static grpc_status_code rpc_set_budget(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__SetBudgetRequest *r = (void *)req;
    if (!r->budget) {
        snprintf(details, dlen, "budget: required");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    const Llmgw__V1__Budget *in = r->budget;
    cp_budget_set_t s = {.who = who};
    if (strlen(in->name) >= sizeof(s.b.name) || strlen(in->scope) >= sizeof(s.b.scope) ||
        strlen(in->target) >= sizeof(s.b.target) || strlen(in->period) >= sizeof(s.b.period)) {
        snprintf(details, dlen,
                 strlen(in->name) >= sizeof(s.b.name)     ? "budget.name: too long"
                 : strlen(in->scope) >= sizeof(s.b.scope) ? "budget.scope: expected one of org, "
                                                            "team, key, provider"
                 : strlen(in->target) >= sizeof(s.b.target)
                     ? "budget.target: too long"
                     : "budget.period: expected one of daily, weekly, monthly, total");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    snprintf(s.b.name, sizeof(s.b.name), "%s", in->name);
    snprintf(s.b.scope, sizeof(s.b.scope), "%s", in->scope);
    snprintf(s.b.target, sizeof(s.b.target), "%s", in->target);
    snprintf(s.b.period, sizeof(s.b.period), "%s", in->period);
    s.b.limit_usd = in->limit_usd;
    s.b.hard = in->hard;
    store_err_t e = {0};
    if (budgets_validate(&s.b, &e) < 0) {
        snprintf(details, dlen, "%s", e.msg);
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    grpc_status_code st = cp_budgets_change(cp, tx_set, &s, resp, details, dlen);
    if (st == GRPC_STATUS_OK) {
        Llmgw__V1__BudgetChange *out = (void *)*resp;
        out->table_version = s.version;
        out->created = s.created;
        log_info("budget set", "budget=%s created=%d table_version=%" PRId64 " actor=%s", s.b.name,
                 s.created, s.version, who->name);
    }
    return st;
}

typedef struct {
    const audit_actor_t *who;
    const char *name;
    int64_t version;
} cp_budget_del_t;

static int tx_delete(PGconn *c, void *ctx, store_err_t *e)
{
    cp_budget_del_t *d = ctx;
    if (budgets_delete(c, d->who, d->name, e) < 0)
        return -1;
    return cp_publish(c, &d->version, e);
}

static grpc_status_code rpc_delete_budget(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                          ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__DeleteBudgetRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_budget_del_t d = {.who = who, .name = r->name};
    grpc_status_code st = cp_budgets_change(cp, tx_delete, &d, resp, details, dlen);
    if (st == GRPC_STATUS_OK) {
        ((Llmgw__V1__BudgetChange *)*resp)->table_version = d.version;
        log_info("budget deleted", "budget=%s table_version=%" PRId64 " actor=%s", r->name,
                 d.version, who->name);
    }
    return st;
}

/* --- reads ---------------------------------------------------------------------- */

/* A BudgetStatus of b (malloc'd; NULL when out of memory). */
static Llmgw__V1__BudgetStatus *cp_budget_status(const budgets_budget_t *b,
                                                 const budget_leases_status_t *st)
{
    Llmgw__V1__BudgetStatus *s = malloc(sizeof(*s));
    Llmgw__V1__Budget *m = malloc(sizeof(*m));
    if (!s || !m) {
        free(s);
        free(m);
        return NULL;
    }
    llmgw__v1__budget_status__init(s);
    llmgw__v1__budget__init(m);
    s->budget = m;
    m->name = strdup(b->name);
    m->scope = strdup(b->scope);
    m->target = strdup(b->target);
    m->period = strdup(b->period);
    if (!m->name || !m->scope || !m->target || !m->period) {
        protobuf_c_message_free_unpacked(&s->base, NULL);
        return NULL;
    }
    m->limit_usd = b->limit_usd;
    m->hard = b->hard;
    s->spent_usd = st->spent_usd;
    s->remaining_usd = b->limit_usd > st->spent_usd ? b->limit_usd - st->spent_usd : 0;
    s->percent = st->spent_usd / b->limit_usd * 100.0;
    s->period_start_unix_ms = st->period_start_unix_ms;
    s->period_end_unix_ms = st->period_end_unix_ms;
    s->leased_usd = st->leased_usd;
    return s;
}

typedef struct {
    const char *name; /* NULL: all */
    int64_t now_ms;
    ProtobufCMessage *out;
} cp_budget_read_t;

static void cp_budget_read_reset(cp_budget_read_t *rd)
{
    if (rd->out)
        protobuf_c_message_free_unpacked(rd->out, NULL);
    rd->out = NULL;
}

static int tx_get(PGconn *c, void *ctx, store_err_t *e)
{
    cp_budget_read_t *rd = ctx;
    cp_budget_read_reset(rd);
    budgets_budget_t b;
    budget_leases_status_t st;
    if (budgets_get(c, rd->name, &b, e) < 0 || budget_leases_status(c, &b, rd->now_ms, &st, e) < 0)
        return -1;
    Llmgw__V1__BudgetStatus *s = cp_budget_status(&b, &st);
    if (!s)
        return store_fail(e, STORE_HARD, "budgets: out of memory");
    rd->out = &s->base;
    return 0;
}

static int tx_list(PGconn *c, void *ctx, store_err_t *e)
{
    cp_budget_read_t *rd = ctx;
    cp_budget_read_reset(rd);
    budgets_budget_t *bs = NULL;
    size_t n = 0;
    Llmgw__V1__ListBudgetsResponse *out = malloc(sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "budgets: out of memory");
    llmgw__v1__list_budgets_response__init(out);
    rd->out = &out->base;
    if (budgets_list(c, &bs, &n, e) < 0)
        return -1;
    int rc = 0;
    if (n && !(out->budgets = calloc(n, sizeof(*out->budgets)))) {
        rc = store_fail(e, STORE_HARD, "budgets: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        budget_leases_status_t st;
        if ((rc = budget_leases_status(c, &bs[i], rd->now_ms, &st, e)) < 0)
            goto out;
        if (!(out->budgets[out->n_budgets] = cp_budget_status(&bs[i], &st))) {
            rc = store_fail(e, STORE_HARD, "budgets: out of memory");
            goto out;
        }
        out->n_budgets++;
    }
out:
    free(bs);
    return rc;
}

static grpc_status_code cp_budget_read(cp_t *cp, store_tx_fn fn, cp_budget_read_t *rd,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    store_err_t e = {0};
    rd->now_ms = cp_usage_now_ms();
    if (store_run_transaction(cp->pool, false, fn, rd, &e) < 0) {
        cp_budget_read_reset(rd);
        snprintf(details, dlen, "%s", e.msg);
        return cp_status_from_store(e.code);
    }
    *resp = rd->out;
    return GRPC_STATUS_OK;
}

static grpc_status_code rpc_get_budget(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__GetBudgetRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_budget_read_t rd = {.name = r->name};
    return cp_budget_read(cp, tx_get, &rd, resp, details, dlen);
}

static grpc_status_code rpc_list_budgets(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                         ProtobufCMessage **resp, char *details, size_t dlen)
{
    cp_budget_read_t rd = {0};
    return cp_budget_read(cp, tx_list, &rd, resp, details, dlen);
}

#define REG(name, req, fn, cls)                                                                    \
    {                                                                                              \
        "/llmgw.v1.BudgetService/" name, &llmgw__v1__##req##__descriptor, fn, cls, NULL            \
    }

static cp_rpc_method_t cp_budgets_methods[] = {
    REG("SetBudget", set_budget_request, rpc_set_budget, CP_ACCESS_BUDGETS_WRITE),
    REG("GetBudget", get_budget_request, rpc_get_budget, CP_ACCESS_BUDGETS_READ),
    REG("ListBudgets", list_budgets_request, rpc_list_budgets, CP_ACCESS_BUDGETS_READ),
    REG("DeleteBudget", delete_budget_request, rpc_delete_budget, CP_ACCESS_BUDGETS_WRITE),
};

int cp_budgets_register(cp_t *cp)
{
    return cp_rpc_register(cp, cp_budgets_methods,
                           sizeof(cp_budgets_methods) / sizeof(cp_budgets_methods[0]));
}
