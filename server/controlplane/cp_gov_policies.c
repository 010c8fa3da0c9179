/* cp_gov_policies: the policy RPCs of GovernanceService. See
 * cp_governance.h; the rules a policy must satisfy are policies.h's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_gov.h"
#include "cp_validate.h"
#include "policies.h"
#include "store_msg.h"

/* A repeated string field as a store list (borrowed). */
static store_list_t pol_list(char **items, size_t n)
{
    store_list_t l = {items, n};
    return l;
}

/* A request's policy as the storage struct (lists borrowed from m). */
static int pol_from_msg(const Llmgw__V1__Policy *m, policies_policy_t *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    if (cp_validate_name("policy.name", m->name, 64, "", err, errlen) < 0)
        return -1;
    if (strlen(m->scope) >= sizeof(p->scope) || strlen(m->target) > 64) {
        snprintf(err, errlen,
                 strlen(m->target) > 64 ? "policy.target: longer than 64 characters"
                                        : "policy.scope: expected one of org, team, key");
        return -1;
    }
    snprintf(p->name, sizeof(p->name), "%s", m->name);
    snprintf(p->scope, sizeof(p->scope), "%s", m->scope);
    snprintf(p->target, sizeof(p->target), "%s", m->target);
    p->allowed_providers = pol_list(m->allowed_providers, m->n_allowed_providers);
    p->denied_providers = pol_list(m->denied_providers, m->n_denied_providers);
    p->allowed_models = pol_list(m->allowed_models, m->n_allowed_models);
    p->denied_models = pol_list(m->denied_models, m->n_denied_models);
    p->regions = pol_list(m->regions, m->n_regions);
    p->max_tokens = m->max_tokens;
    p->max_prompt_bytes = m->max_prompt_bytes;
    p->log_prompts = m->log_prompts;
    p->log_responses = m->log_responses;
    for (size_t i = 0; i < m->n_redact; i++) {
        unsigned b = policies_redact_parse(m->redact[i]);
        if (!b) {
            snprintf(err, errlen,
                     "policy.redact[%zu]: expected one of email, phone, card, iban, got '%.64s'", i,
                     m->redact[i]);
            return -1;
        }
        if (p->redact & b) {
            snprintf(err, errlen, "policy.redact[%zu]: '%s' is listed twice", i, m->redact[i]);
            return -1;
        }
        p->redact |= b;
    }
    store_err_t e = {0};
    if (policies_validate(p, &e) < 0) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* *dst = copies of l (n entries). -1 when out of memory. */
static int pol_copy(char ***dst, size_t *n, const store_list_t *l)
{
    *n = 0;
    if (!l->n)
        return 0;
    if (!(*dst = calloc(l->n, sizeof(**dst))))
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        if (store_msg_str(&(*dst)[i], l->items[i]) < 0)
            return -1;
        *n = i + 1;
    }
    return 0;
}

static Llmgw__V1__Policy *pol_msg(const policies_policy_t *p)
{
    Llmgw__V1__Policy *m = malloc(sizeof(*m));
    if (!m)
        return NULL;
    llmgw__v1__policy__init(m);
    m->max_tokens = p->max_tokens;
    m->max_prompt_bytes = p->max_prompt_bytes;
    m->log_prompts = p->log_prompts;
    m->log_responses = p->log_responses;
    m->created_unix_ms = p->created_unix_ms;
    m->updated_unix_ms = p->updated_unix_ms;
    if (store_msg_str(&m->name, p->name) < 0 || store_msg_str(&m->scope, p->scope) < 0 ||
        store_msg_str(&m->target, p->target) < 0 ||
        pol_copy(&m->allowed_providers, &m->n_allowed_providers, &p->allowed_providers) < 0 ||
        pol_copy(&m->denied_providers, &m->n_denied_providers, &p->denied_providers) < 0 ||
        pol_copy(&m->allowed_models, &m->n_allowed_models, &p->allowed_models) < 0 ||
        pol_copy(&m->denied_models, &m->n_denied_models, &p->denied_models) < 0 ||
        pol_copy(&m->regions, &m->n_regions, &p->regions) < 0)
        goto fail;
    if (p->redact && !(m->redact = calloc(4, sizeof(*m->redact))))
        goto fail;
    for (size_t i = 0; policies_redact_name(i); i++)
        if (p->redact & (1u << i)) {
            if (store_msg_str(&m->redact[m->n_redact], policies_redact_name(i)) < 0)
                goto fail;
            m->n_redact++;
        }
    return m;
fail:
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return NULL;
}

/* Policy `name` as it is now, a message (NULL with e filled). */
static Llmgw__V1__Policy *pol_read(PGconn *c, const char *name, store_err_t *e)
{
    policies_policy_t got;
    if (policies_get(c, name, &got, e) < 0)
        return NULL;
    Llmgw__V1__Policy *m = pol_msg(&got);
    policies_free(&got);
    if (!m)
        store_fail(e, STORE_HARD, "policies: out of memory");
    return m;
}

static int tx_pol_set(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    const policies_policy_t *p = t->req;
    bool created = false;
    if (policies_set(c, t->who, p, &created, e) < 0)
        return -1;
    Llmgw__V1__PolicyChange *out = malloc(sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "policies: out of memory");
    llmgw__v1__policy_change__init(out);
    t->out = &out->base;
    out->created = created;
    return (out->policy = pol_read(c, p->name, e)) ? 0 : -1;
}

static grpc_status_code rpc_pol_set(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                    ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__SetPolicyRequest *r = (void *)req;
    policies_policy_t p;
    if (!r->policy) {
        snprintf(details, dlen, "policy: required");
        return GRPC_STATUS_INVALID_ARGUMENT;
    }
    if (pol_from_msg(r->policy, &p, details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {
        .who = who, .fn = tx_pol_set, .req = &p, .action = "policy.set", .object = p.name};
    grpc_status_code st = cp_gov_run(cp, &t, true, details, dlen);
    if (st == GRPC_STATUS_OK) {
        ((Llmgw__V1__PolicyChange *)t.out)->table_version = t.version;
        *resp = t.out;
    }
    return st;
}

static int tx_pol_delete(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    if (policies_delete(c, t->who, t->req, e) < 0)
        return -1;
    Llmgw__V1__GovernanceChange *out = malloc(sizeof(*out));
    if (!out)
        return store_fail(e, STORE_HARD, "policies: out of memory");
    llmgw__v1__governance_change__init(out);
    t->out = &out->base;
    return 0;
}

static grpc_status_code rpc_pol_delete(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                       ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__DeletePolicyRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who,
                     .fn = tx_pol_delete,
                     .req = r->name,
                     .action = "policy.delete",
                     .object = r->name};
    grpc_status_code st = cp_gov_run(cp, &t, true, details, dlen);
    if (st == GRPC_STATUS_OK) {
        ((Llmgw__V1__GovernanceChange *)t.out)->table_version = t.version;
        *resp = t.out;
    }
    return st;
}

static int tx_pol_get(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    Llmgw__V1__Policy *m = pol_read(c, t->req, e);
    t->out = m ? &m->base : NULL;
    return m ? 0 : -1;
}

static grpc_status_code rpc_pol_get(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                    ProtobufCMessage **resp, char *details, size_t dlen)
{
    Llmgw__V1__GetPolicyRequest *r = (void *)req;
    if (cp_validate_name("name", r->name, 64, "", details, dlen) < 0)
        return GRPC_STATUS_INVALID_ARGUMENT;
    cp_gov_tx_t t = {.who = who, .fn = tx_pol_get, .req = r->name};
    grpc_status_code st = cp_gov_run(cp, &t, false, details, dlen);
    if (st == GRPC_STATUS_OK)
        *resp = t.out;
    return st;
}

static int tx_pol_list(PGconn *c, cp_gov_tx_t *t, store_err_t *e)
{
    policies_policy_t *rows = NULL;
    size_t n = 0;
    if (policies_list(c, &rows, &n, e) < 0)
        return -1;
    Llmgw__V1__ListPoliciesResponse *out = malloc(sizeof(*out));
    if (!out)
        goto oom;
    llmgw__v1__list_policies_response__init(out);
    t->out = &out->base;
    if (n && !(out->policies = calloc(n, sizeof(*out->policies))))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!(out->policies[i] = pol_msg(&rows[i])))
            goto oom;
        out->n_policies = i + 1;
    }
    policies_list_free(rows, n);
    return 0;
oom:
    policies_list_free(rows, n);
    return store_fail(e, STORE_HARD, "policies: out of memory");
}

static grpc_status_code rpc_pol_list(cp_t *cp, const audit_actor_t *who, ProtobufCMessage *req,
                                     ProtobufCMessage **resp, char *details, size_t dlen)
{
    cp_gov_tx_t t = {.who = who, .fn = tx_pol_list};
    grpc_status_code st = cp_gov_run(cp, &t, false, details, dlen);
    if (st == GRPC_STATUS_OK)
        *resp = t.out;
    return st;
}

#define POL(name, req, fn)                                                                         \
    {                                                                                              \
        "/llmgw.v1.GovernanceService/" name, &llmgw__v1__##req##__descriptor, fn,                  \
            CP_ACCESS_POLICIES, NULL                                                               \
    }

cp_rpc_method_t cp_gov_policy_methods[] = {
    POL("SetPolicy", set_policy_request, rpc_pol_set),
    POL("GetPolicy", get_policy_request, rpc_pol_get),
    POL("ListPolicies", list_policies_request, rpc_pol_list),
    POL("DeletePolicy", delete_policy_request, rpc_pol_delete),
};
const size_t cp_gov_n_policy_methods =
    sizeof(cp_gov_policy_methods) / sizeof(cp_gov_policy_methods[0]);
