/* policies: what requests may do (table `policies`), for the whole
 * organisation, a team or an API key: allowed / denied providers and models,
 * regions, caps on max_tokens and prompt size, the PII kinds redacted from
 * prompts and whether prompts and responses may be logged.
 *
 * Invariants: at most one policy per target; empty lists mean "no
 * restriction", caps of 0 "no cap"; logging is off unless a policy turns it
 * on; no name is both allowed and denied in one policy; named providers are
 * registered, named regions are some registered provider's region and a
 * key target is not revoked when the policy is written. Every change runs
 * inside the caller's transaction and appends its audit row there (a
 * replacement shows the settings before and after). A policy goes when its
 * target does. GovernanceService (cp_governance.c) calls this and publishes
 * a routing-table version in the same transaction.
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
#define POLICIES_MAX_PROMPT_BYTES 67108864LL /* 64 MiB */

/* PII kinds redacted from prompts (a bit set; the same bits as the routing
 * table's TABLE_REDACT_*). */
enum {
    POLICIES_REDACT_EMAIL = 1u << 0,
    POLICIES_REDACT_PHONE = 1u << 1,
    POLICIES_REDACT_CARD = 1u << 2,
    POLICIES_REDACT_IBAN = 1u << 3,
};
#define POLICIES_REDACT_ALL 0xfu

typedef struct {
    char name[72];   /* [A-Za-z0-9._-]{1,64} */
    char scope[8];   /* "org", "team", "key" */
    char target[72]; /* the team or key name; "" for org */
    /* Borrowed on input; owned by a policy read back (policies_free). */
    store_list_t allowed_models; /* "provider/model" or a bare model name */
    store_list_t denied_models;
    store_list_t allowed_providers;
    store_list_t denied_providers;
    store_list_t regions;     /* [a-z0-9-]{1,32} each */
    int32_t max_tokens;       /* 0: no cap */
    int64_t max_prompt_bytes; /* 0: no cap */
    unsigned redact;          /* POLICIES_REDACT_* */
    bool log_prompts, log_responses;
    int64_t created_unix_ms, updated_unix_ms; /* output only */
} policies_policy_t;

/* The bit of "email", "phone", "card" or "iban"; 0 when unknown. */
unsigned policies_redact_parse(const char *name);
/* The name of redaction kind i (0..3), NULL past the end. */
const char *policies_redact_name(size_t i);
/* True when s is a region name: [a-z0-9-]{1,32}. */
bool policies_region_ok(const char *s);

/* Field checks before any SQL: 0, or -1 with e (STORE_INVALID) naming the
 * field ("policy.allowed_models[2]: ..."). */
int policies_validate(const policies_policy_t *p, store_err_t *e);
/* STORE_CONFLICT for a taken name or a second policy of one target;
 * STORE_INVALID "policy.target: team 'x' does not exist", an unregistered
 * provider or a region no provider is in. */
int policies_insert(PGconn *c, const audit_actor_t *who, const policies_policy_t *p,
                    store_err_t *e);
/* Replaces every setting of policy p->name. STORE_NOT_FOUND when absent. */
int policies_update(PGconn *c, const audit_actor_t *who, const policies_policy_t *p,
                    store_err_t *e);
/* Inserts p, or replaces the policy of that name; *created says which. */
int policies_set(PGconn *c, const audit_actor_t *who, const policies_policy_t *p, bool *created,
                 store_err_t *e);
int policies_delete(PGconn *c, const audit_actor_t *who, const char *name, store_err_t *e);
/* Fills *out (free its lists with policies_free). */
int policies_get(PGconn *c, const char *name, policies_policy_t *out, store_err_t *e);
/* Policies by name; free with policies_list_free. */
int policies_list(PGconn *c, policies_policy_t **out, size_t *n, store_err_t *e);
/* Frees the lists of a policy read back (not p itself). */
void policies_free(policies_policy_t *p);
void policies_list_free(policies_policy_t *ps, size_t n);

#endif
