/* breaker: the circuit breaker of one deployment (provider + model).
 *
 * States: closed (traffic flows) → open after `consecutive_failures` failures
 * in a row, or when the failure rate over the current window reaches
 * `error_rate` with at least `min_requests` results → half-open once
 * `cooldown_ms` passed, admitting at most `half_open_probes` attempts at a
 * time → closed on the first success, open again on a failure.
 *
 * Invariants: a breaker_t is plain data with no lock of its own — the owner
 * (metrics.c, one mutex per deployment) serializes every call. Time is always
 * an argument (now_ms, monotonic), so tests drive the state machine without
 * sleeping. Only failures that say something about the deployment count
 * (connect, timeout, 5xx, bad answer); the caller reports everything else as
 * BREAKER_NEUTRAL, which frees a half-open probe slot and nothing more.
 */
#ifndef LLMGW_BREAKER_H
#define LLMGW_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "breaker_config.h"

typedef enum { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_HALF_OPEN } breaker_state_t;

typedef enum { BREAKER_SUCCESS = 0, BREAKER_FAILURE, BREAKER_NEUTRAL } breaker_outcome_t;

typedef struct {
    breaker_state_t state;
    int consecutive;         /* failures in a row */
    int64_t changed_ms;      /* when state last changed */
    int probes;              /* half-open attempts in flight */
    int64_t window_start_ms; /* the error-rate window */
    int window_results;
    int window_failures;
    char reason[128]; /* why it opened; "" when closed */
} breaker_t;

/* Closed, empty. Cannot fail. */
void breaker_init(breaker_t *b, int64_t now_ms);
/* Would an attempt be admitted now? Pure: changes nothing. */
bool breaker_available(const breaker_t *b, const breaker_config_t *c, int64_t now_ms);
/* Admits an attempt: moves open → half-open after the cool-down and takes a
 * probe slot when half-open. False when the attempt must be skipped. */
bool breaker_acquire(breaker_t *b, const breaker_config_t *c, int64_t now_ms);
/* The result of an admitted attempt. `reason` (may be NULL) says what failed. */
void breaker_record(breaker_t *b, const breaker_config_t *c, breaker_outcome_t o, int64_t now_ms,
                    const char *reason);
/* Opens the breaker now (an active health probe failed). */
void breaker_force_open(breaker_t *b, int64_t now_ms, const char *reason);
/* An open breaker goes half-open at once (an active health probe succeeded). */
void breaker_probe_ok(breaker_t *b, int64_t now_ms);
/* "closed", "open", "half_open". */
const char *breaker_state_name(breaker_state_t s);

#endif
