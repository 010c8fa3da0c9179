/* breaker: the per-deployment circuit breaker state machine (see breaker.h).
 *
 * The error-rate window is tumbling rather than sliding: it costs three
 * integers, and a breaker only needs "most recent results are bad", not an
 * exact rate; the consecutive-failure rule catches a sudden outage at once.
 */
#include "breaker.h"

#include <stdio.h>
#include <string.h>

void breaker_init(breaker_t *b, int64_t now_ms)
{
    memset(b, 0, sizeof(*b));
    b->state = BREAKER_CLOSED;
    b->changed_ms = now_ms;
    b->window_start_ms = now_ms;
}

static void breaker_set(breaker_t *b, breaker_state_t s, int64_t now_ms)
{
    b->state = s;
    b->changed_ms = now_ms;
    b->probes = 0;
    if (s == BREAKER_CLOSED) {
        b->consecutive = 0;
        b->reason[0] = '\0';
        b->window_start_ms = now_ms;
        b->window_results = 0;
        b->window_failures = 0;
    }
}

static void breaker_open(breaker_t *b, int64_t now_ms, const char *why, const char *detail)
{
    breaker_set(b, BREAKER_OPEN, now_ms);
    snprintf(b->reason, sizeof(b->reason), "%s%s%s", why, detail && detail[0] ? ": " : "",
             detail ? detail : "");
}

bool breaker_available(const breaker_t *b, const breaker_config_t *c, int64_t now_ms)
{
    switch (b->state) {
    case BREAKER_CLOSED:
        return true;
    case BREAKER_OPEN:
        return now_ms - b->changed_ms >= c->cooldown_ms;
    case BREAKER_HALF_OPEN:
        return b->probes < c->half_open_probes;
    }
    return false;
}

bool breaker_acquire(breaker_t *b, const breaker_config_t *c, int64_t now_ms)
{
    if (b->state == BREAKER_CLOSED)
        return true;
    if (b->state == BREAKER_OPEN) {
        if (now_ms - b->changed_ms < c->cooldown_ms)
            return false;
        breaker_set(b, BREAKER_HALF_OPEN, now_ms);
    }
    if (b->probes >= c->half_open_probes)
        return false;
    b->probes++;
    return true;
}

void breaker_record(breaker_t *b, const breaker_config_t *c, breaker_outcome_t o, int64_t now_ms,
                    const char *reason)
{
    if (b->state == BREAKER_HALF_OPEN) {
        if (b->probes > 0)
            b->probes--;
        if (o == BREAKER_SUCCESS)
            breaker_set(b, BREAKER_CLOSED, now_ms);
        else if (o == BREAKER_FAILURE)
            breaker_open(b, now_ms, "half-open probe failed", reason);
        return;
    }
    if (o == BREAKER_NEUTRAL || b->state == BREAKER_OPEN)
        return; /* a result that started before the breaker opened changes nothing */
    if (now_ms - b->window_start_ms >= c->window_ms) {
        b->window_start_ms = now_ms;
        b->window_results = 0;
        b->window_failures = 0;
    }
    b->window_results++;
    if (o == BREAKER_SUCCESS) {
        b->consecutive = 0;
        return;
    }
    b->window_failures++;
    b->consecutive++;
    char why[96];
    if (b->consecutive >= c->consecutive_failures) {
        snprintf(why, sizeof(why), "%d consecutive failures", b->consecutive);
        breaker_open(b, now_ms, why, reason);
    } else if (b->window_results >= c->min_requests &&
               (double)b->window_failures >= c->error_rate * (double)b->window_results) {
        snprintf(why, sizeof(why), "error rate %d/%d over %d ms", b->window_failures,
                 b->window_results, c->window_ms);
        breaker_open(b, now_ms, why, reason);
    }
}

void breaker_force_open(breaker_t *b, int64_t now_ms, const char *reason)
{
    if (b->state != BREAKER_OPEN)
        breaker_open(b, now_ms, "health probe failed", reason);
    else
        b->changed_ms = now_ms; /* still failing: the cool-down starts over */
}

void breaker_probe_ok(breaker_t *b, int64_t now_ms)
{
    if (b->state == BREAKER_OPEN)
        breaker_set(b, BREAKER_HALF_OPEN, now_ms);
}

const char *breaker_state_name(breaker_state_t s)
{
    switch (s) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "closed";
}
