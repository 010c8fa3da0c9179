/* policies: what requests may do (table `policies`), for the whole
 * organisation, a team or an API key: allowed models and providers,
 * regions, a max_tokens cap, PII redaction and whether prompts and responses
 * may be logged.
 *
 * Invariants: at most one policy per target; empty lists mean "no
 * restriction" and max_tokens 0 "no cap"; logging is off unless a policy
 * turns it on. Every change runs inside the caller's transaction and appends
 * its audit row there. A policy goes when its target does. Storage only: the
 * GovernanceService RPCs come with the governance issue.
 */
#ifndef LLMGW_POLICIES_H
#define LLMGW_POLICIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "audit.h"
#include "store.h"
#include "store_list.h"

#define POLICIES_LIST_MAX 256 /* entries per list */
#define POLICIES_MAX_TOKENS 10000000

typedef struct {
    char name[72];   /* [A-Za-z0-9._-]{1,64} */
    char scope[8];   /* "org", "team", "key" */
    char target[72]; /* the team or key name; "" for org */
    /* Borrowed on input; owned by a policy read back (policies_free). */
    store_list_t allowed_models; /* "provider/model" or a route name */
    store_list_t allowed_providers;
    store_list_t regions;
    int32_t max_tokens; /* 0: no cap */
    bool pii_redaction;
    bool log_prompts, log_responses;
    int64_t created_unix_ms, updated_unix_ms; /* output only */
} policies_policy_t;

/* Field checks before any SQL: 0, or -1 with e (STORE_INVALID) naming the
 * field ("policy.allowed_models[2]: ..."). */
int policies_validate(const policies_policy_t *p, store_err_t *e);
/* STORE_CONFLICT for a taken name or a second policy of one target;
 * STORE_INVALID "policy.target: team 'x' does not exist". */
int policies_insert(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, store_err_t *e);
/* Replaces every setting of policy p->name. STORE_NOT_FOUND when absent. */
int policies_update(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, store_err_t *e);
int policies_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e);
/* Fills *out (free its lists with policies_free). */
int policies_get(PGconn *c, const char *name, policies_policy_t *out, store_err_t *e);
/* Policies by name; free with policies_list_free. */
int policies_list(PGconn *c, policies_policy_t **out, size_t *n, store_err_t *e);
/* Frees the lists of a policy read back (not p itself). */
void policies_free(policies_policy_t *p);
void policies_list_free(policies_policy_t *ps, size_t n);

#endif
