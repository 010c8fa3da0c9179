/* breaker_config: how a provider's circuit breakers trip, as the routing
 * table states it (a provider's "breaker" member). Part of the table's
 * schema, so both planes see it; the state machine that follows it is
 * routing/breaker.c. Plain data, copied freely.
 */
#ifndef LLMGW_BREAKER_CONFIG_H
#define LLMGW_BREAKER_CONFIG_H

typedef struct {
    int consecutive_failures; /* open after this many failures in a row; default 5 */
    double error_rate;        /* open when failures/results reaches this (0..1]; default 0.5 */
    int min_requests;         /* ... with at least this many results in the window; default 20 */
    int window_ms;            /* error-rate window (tumbling); default 30000 */
    int cooldown_ms;          /* open → half-open after this long; default 10000 */
    int half_open_probes;     /* attempts admitted at once while half-open; default 1 */
} breaker_config_t;

#define BREAKER_CONFIG_DEFAULT                                                                     \
    {                                                                                              \
        .consecutive_failures = 5, .error_rate = 0.5, .min_requests = 20, .window_ms = 30000,      \
        .cooldown_ms = 10000, .half_open_probes = 1                                                \
    }

#endif
