/* ext_hooks: the hooks extensions registered (llmgw/extension.h), and one
 * request's run through the request hooks.
 *
 * The tables are filled at startup (ext_loader.c, before any request) and
 * only read afterwards, without a lock. With nothing registered every
 * entry point is one load and a compare: no extension, no cost.
 *
 * A request's run (ext_call_t) calls the request hooks in registration
 * order, each on the request as the previous ones left it (a rewrite
 * replaces the JSON the next hook sees). A hook that answers PENDING stops
 * the run; its api->request_complete calls the run's wake function once,
 * from whatever thread the plugin uses, and the owner resumes the run on its
 * own event loop with ext_call_run again. A refusal ends the run.
 */
#ifndef LLMGW_EXT_HOOKS_H
#define LLMGW_EXT_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "llmgw/extension.h"

#define EXT_HOOKS_MAX 32 /* of each kind */

/* Registration (startup only). `ext` names the extension in logs and
 * listings (borrowed for the process's life). 0, or -1 with err. */
int ext_hooks_add_request(const llmgw_ext_request_hook_t *h, void *state, const char *ext,
                          char *err, size_t errlen);
int ext_hooks_add_response(const llmgw_ext_response_hook_t *h, void *state, const char *ext,
                           char *err, size_t errlen);
int ext_hooks_add_usage(const llmgw_ext_usage_hook_t *h, void *state, const char *ext, char *err,
                        size_t errlen);
/* Forgets every hook (after the extensions were shut down; tests). */
void ext_hooks_clear(void);

bool ext_hooks_have_request(void);
bool ext_hooks_have_response(void);
bool ext_hooks_have_usage(void);

/* Every response hook, on one answer or chunk. */
void ext_hooks_response(const llmgw_ext_response_t *r);
/* Every usage hook, on one finished request. */
void ext_hooks_usage(const llmgw_ext_usage_t *u);

/* --- one request through the request hooks --------------------------------- */

typedef struct ext_call ext_call_t;

typedef enum {
    EXT_CALL_PASS = 0, /* go on; ext_call_rewritten says whether the JSON changed */
    EXT_CALL_REFUSE,   /* refused: ext_call_http_status / ext_call_message */
    EXT_CALL_PENDING,  /* a hook answers later: wake(ud) follows, once */
} ext_call_state_t;

/* A run over `req` (request_json, door, key, team and headers are copied;
 * req->kind is read when req->struct_size holds it, else chat; hooks whose
 * `kinds` exclude it are skipped;
 * the struct itself and the strings may go after the call). wake(ud) is
 * called from any thread when a pending hook completes. NULL when out of
 * memory. */
ext_call_t *ext_call_new(const llmgw_ext_request_t *req, void (*wake)(void *ud), void *ud);
/* Runs the hooks not yet run. Never while a hook is pending. */
ext_call_state_t ext_call_run(ext_call_t *c);
/* After PASS: whether any hook rewrote the request, and its JSON now. */
bool ext_call_rewritten(const ext_call_t *c);
const char *ext_call_json(const ext_call_t *c, size_t *len);
/* After REFUSE: the hook's HTTP status (400..599) and message (with the
 * extension's name: "extension prompt_guard: prompt is 9000 bytes, over
 * 4096"). */
int ext_call_http_status(const ext_call_t *c);
const char *ext_call_message(const ext_call_t *c);
/* Not while a hook is pending. */
void ext_call_free(ext_call_t *c);

/* api->request_complete (the ticket is the call). */
void ext_call_complete(llmgw_ext_ticket_t *ticket);

#endif
