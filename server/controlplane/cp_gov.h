/* cp_gov: what the GovernanceService files share (cp_governance.c: teams
 * and the runner; cp_gov_keys.c: API keys; cp_gov_policies.c: policies).
 *
 * A change or read runs as cp_gov_tx_t: `fn` does the storage work inside
 * the transaction and leaves the answer in `out`; a retried transaction
 * starts over, so `out` is freed before each attempt. For a change the
 * runner publishes the next routing-table version after `fn` and keeps it in
 * `version`.
 */
#ifndef LLMGW_CP_GOV_H
#define LLMGW_CP_GOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "cp_rpc.h"
#include "llmgw/v1/governance.pb-c.h"
#include "store.h"

typedef struct cp_gov_tx cp_gov_tx_t;
struct cp_gov_tx {
    const audit_actor_t *who;
    int (*fn)(PGconn *c, cp_gov_tx_t *t, store_err_t *e);
    const void *req;       /* the decoded request */
    const char *secret;    /* a minted secret (keys), else NULL */
    ProtobufCMessage *out; /* the answer, built by fn */
    int64_t version;       /* published by a change */
    const char *action;    /* for the log line: "team.create" */
    const char *object;    /* for the log line: the name */
};

/* Runs t as a change (publish = true) or a read. OK, or a status with
 * details filled; t->out is the answer on OK (NULL otherwise). */
grpc_status_code cp_gov_run(cp_t *cp, cp_gov_tx_t *t, bool publish, char *details, size_t dlen);

/* Unix milliseconds now (wall clock). */
int64_t cp_gov_now_ms(void);

/* update_mask checks: every entry one of `allowed` (NULL-terminated), no
 * repeats, at least one entry. Fills *bits (bit i = allowed[i]). 0 or -1. */
int cp_gov_mask(char **mask, size_t n, const char *const *allowed, unsigned *bits, char *err,
                size_t errlen);

/* Registration tables of the key and policy methods. */
extern cp_rpc_method_t cp_gov_key_methods[];
extern const size_t cp_gov_n_key_methods;
extern cp_rpc_method_t cp_gov_policy_methods[];
extern const size_t cp_gov_n_policy_methods;

#endif
