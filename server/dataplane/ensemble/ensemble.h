/* ensemble: one request fanned out to several members, each an ordinary
 * pipeline request (same auth, route plan, fallback and deadline), and their
 * answers combined by the configured method (ensemble_methods.h):
 * CONSENSUS, VOTING (early stop once the majority is certain), WEIGHTED, or
 * CASCADE (members in order of price, escalating while the acceptance rule
 * fails). An optional judge model scores or picks among the answers.
 *
 * Thread model: ensemble_start runs on the caller's thread (a gRPC CQ thread)
 * and starts the members; member and judge completions arrive on the
 * upstream engine thread. The ensemble's mutex guards the member states and
 * counters; pipeline_start and pipeline_cancel are never called with it
 * held (a pipeline may complete inside pipeline_start). ensemble_cancel may
 * come from any thread.
 *
 * Ownership: the ensemble borrows the request and the arena until on_done
 * returned; the answer (ensemble_result_t.response) is built in that arena
 * and may point into the ensemble's own memory, so it is valid until
 * ensemble_release. The handle carries one reference for the caller, given
 * back with ensemble_release; on_done runs exactly once, before or after.
 */
#ifndef LLMGW_ENSEMBLE_H
#define LLMGW_ENSEMBLE_H

#include <stdint.h>

#include <grpc/status.h>

#include "arena.h"
#include "consistency.h"
#include "llmgw/v1/chat.pb-c.h"
#include "pipeline.h"
#include "table.h"

#define ENSEMBLE_MAX_MEMBERS 16

typedef struct ensemble_service ensemble_service_t;
typedef struct ensemble ensemble_t;

typedef struct {
    grpc_status_code status;
    const char *message; /* "" on success; names the field or lists each member's error */
    const Llmgw__V1__EnsembleResponse *response; /* on success */
} ensemble_result_t;

typedef void (*ensemble_done_fn)(void *ud, const ensemble_result_t *res);

/* Borrows the pipeline, the table slot and the consistency registry (NULL:
 * not recorded); they outlive the service. NULL when out of memory. */
ensemble_service_t *ensemble_service_new(pipeline_t *pl, table_slot_t *tables,
                                         consistency_t *consistency);
void ensemble_service_free(ensemble_service_t *s);
/* The table slot it was made with (borrowed), for a front door that
 * authenticates calls before handing them over. */
table_slot_t *ensemble_service_tables(ensemble_service_t *s);

typedef struct {
    const Llmgw__V1__EnsembleRequest *req;
    const char *authorization; /* raw header value or NULL */
    int64_t deadline_ms;       /* absolute monotonic; INT64_MAX when none */
    arena_t *arena;            /* the answer is built here, by the finishing thread */
    /* Set when the front door authenticated the call (scope ensembles)
     * against `table` (borrowed): `key` is used, `authorization` is not
     * checked again. NULL: ensemble_start authenticates. */
    table_t *table;
    const table_key_t *key;
    /* Out, may be NULL: on a RESOURCE_EXHAUSTED refusal by the key's or
     * team's rate limit, when to retry (ms). */
    int64_t *retry_after_ms;
} ensemble_params_t;

/* Checks the key (unless the front door did), validates the configuration
 * (INVALID_ARGUMENT / NOT_FOUND naming the field), admits the call against
 * the key's requests-per-minute limits and starts the members. NULL when the call ends
 * before any member started: *status and err say why and on_done never
 * runs. Otherwise on_done runs exactly once, possibly before this returns. */
ensemble_t *ensemble_start(ensemble_service_t *s, const ensemble_params_t *params,
                           ensemble_done_fn on_done, void *ud, grpc_status_code *status, char *err,
                           size_t errlen);
/* Any thread; idempotent. Cancels every member; on_done follows with
 * CANCELLED unless it already ran. */
void ensemble_cancel(ensemble_t *e);
void ensemble_release(ensemble_t *e);

#endif
