/* cp_auth: admin-token checks for every control-plane RPC.
 *
 * The source of truth is the admin_tokens table (SHA-256 hashes only); this
 * module keeps the active hashes in memory so a check never waits on
 * PostgreSQL. The set is reloaded when a token change is notified
 * (cp_auth_load, from the listener thread), every CP_AUTH_RELOAD_MS as a
 * safety net, and on a miss: a token not in the set may have been created on
 * another replica a moment ago, so the call goes to a worker thread that
 * reloads (unless a reload started after the miss) and looks again.
 *
 * Invariants: no plaintext token is kept — a bearer value is hashed and
 * dropped; hashes are compared with CRYPTO_memcmp. cp_auth_check never
 * touches PostgreSQL and never blocks beyond a short mutex, so it is safe on
 * a completion-queue thread; cp_auth_recheck and cp_auth_refresh run on
 * workers or the listener. Reloads are serialized, and concurrent misses
 * share one. Roles are interned static strings ("admin", "operator",
 * "auditor"); a check yields the token's name and role (cp_caller_t), which
 * handlers put on every audit row.
 */
#ifndef LLMGW_CP_AUTH_H
#define LLMGW_CP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "admin_tokens.h"
#include "cp_work.h"
#include "grpc_server.h"
#include "pg_pool.h"

#define CP_AUTH_RELOAD_MS 60000
/* last_used_at is written at most this often per token and replica. */
#define CP_AUTH_TOUCH_MS 60000

typedef struct cp_auth cp_auth_t;

/* The admin behind a call. */
typedef struct {
    char name[72];    /* the admin token's name */
    const char *role; /* interned: "admin", "operator", "auditor" */
} cp_caller_t;

/* What a miss carries to the worker that looks again. */
typedef struct {
    unsigned char sha256[ADMIN_TOKENS_SHA256_LEN];
    uint64_t seen_reloads; /* reloads started when the cache missed */
} cp_auth_ticket_t;

typedef enum {
    CP_AUTH_OK,      /* *who set */
    CP_AUTH_PENDING, /* not in the cache: pass the ticket to cp_auth_recheck */
    CP_AUTH_REFUSED, /* the call was finished UNAUTHENTICATED */
} cp_auth_result_t;

/* An empty cache; pool and work are borrowed (work runs last_used_at
 * updates). NULL when out of memory. Load it with cp_auth_refresh. */
cp_auth_t *cp_auth_new(pg_pool_t *pool, cp_work_t *work);
void cp_auth_free(cp_auth_t *a);
/* Completion-queue safe. A call without `authorization: Bearer <token>` is
 * finished UNAUTHENTICATED (REFUSED). */
cp_auth_result_t cp_auth_check(cp_auth_t *a, gs_call_t *call, cp_caller_t *who,
                               cp_auth_ticket_t *ticket);
/* On a worker: reloads from PostgreSQL unless a reload started after the
 * miss, then looks again. 0 with *who set, or -1 after finishing the call
 * (UNAUTHENTICATED; UNAVAILABLE when the database cannot be read). */
int cp_auth_recheck(cp_auth_t *a, gs_call_t *call, const cp_auth_ticket_t *ticket,
                    cp_caller_t *who);
/* The same two steps for a bearer token that did not come with a gRPC call
 * (the console's JSON API, cp_http.c). check: OK with *who set, PENDING with
 * the ticket filled, REFUSED when token is NULL or empty (never touches
 * PostgreSQL). recheck, on a worker: 0 with *who set; -1 when the token is
 * not valid, -2 when the tokens cannot be read; details says which. */
cp_auth_result_t cp_auth_check_token(cp_auth_t *a, const char *token, cp_caller_t *who,
                                     cp_auth_ticket_t *ticket);
int cp_auth_recheck_token(cp_auth_t *a, const cp_auth_ticket_t *ticket, cp_caller_t *who,
                          char *details, size_t dlen);
/* Reloads the active hashes over c (outside a transaction is fine: one
 * SELECT). 0 or -1 with e filled; the old set stays on failure. */
int cp_auth_load(cp_auth_t *a, PGconn *c, store_err_t *e);
/* cp_auth_load over a pooled connection. */
int cp_auth_refresh(cp_auth_t *a, store_err_t *e);
/* Active tokens in the cache (for logs and tests). */
size_t cp_auth_count(cp_auth_t *a);
/* The interned role for a stored role name, NULL for an unknown one. */
const char *cp_auth_role(const char *name);
/* "Bearer <token>" -> the token, else NULL (scheme case-insensitive, one
 * space; an empty token is NULL). Pure. */
const char *cp_auth_bearer(const char *header);

#endif
