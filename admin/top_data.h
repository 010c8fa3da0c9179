/* top_data: one refresh of `llmgw top` — every control-plane answer the four
 * panels are drawn from, fetched one call after another on a fresh channel.
 *
 * A call refused for a reason of its own (PERMISSION_DENIED for a role that
 * may not read budgets, UNIMPLEMENTED on an older control plane) leaves its
 * answer NULL with the reason, and the panel says so; a control plane that
 * cannot be reached (UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED, an
 * undecodable answer) fails the whole refresh at once, so a hung control
 * plane costs one call's timeout, not one per call.
 *
 * Ownership: top_data_t owns its answers; top_data_clear frees them.
 */
#ifndef LLMGW_TOP_DATA_H
#define LLMGW_TOP_DATA_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define TOP_BUCKETS 12                /* the last hour in 5-minute buckets */
#define TOP_BUCKET_MS (5 * 60 * 1000) /* as the console's BUCKET_MS */

typedef enum {
    TOP_PROVIDERS,    /* RegistryService/ListProviders */
    TOP_MODELS,       /* RegistryService/ListModels */
    TOP_ROUTES,       /* RegistryService/ListRoutes */
    TOP_NODES,        /* DistributionService/ListNodes */
    TOP_BUDGETS,      /* BudgetService/ListBudgets */
    TOP_MTD_PROVIDER, /* CostReport by provider, month to date */
    TOP_MTD_MODEL,    /* CostReport by model, month to date */
    TOP_COST,         /* CostReport by provider, the window */
    TOP_PERF,         /* ProviderPerformance, the window */
    TOP_DECISIONS,    /* RoutingDecisions, the window */
    TOP_QUALITY,      /* Quality, the window */
    TOP_THROUGHPUT,   /* Throughput, the window */
    TOP_BUCKET0,      /* CostReport by provider, TOP_BUCKETS 5-minute buckets */
    TOP_CALLS = TOP_BUCKET0 + TOP_BUCKETS
} top_call_t;

typedef struct {
    ProtobufCMessage *msg; /* NULL: refused, see err */
    char err[256];
} top_answer_t;

typedef struct {
    top_answer_t answer[TOP_CALLS];
    int64_t at_ms;    /* when fetched (wall clock) */
    int64_t since_ms; /* the window */
    int64_t until_ms;
    int64_t month_ms; /* the start of the UTC month of at_ms */
} top_data_t;

typedef struct {
    const char *target;
    const char *token;
    int timeout_ms;   /* per call */
    int64_t span_ms;  /* > 0: the window is the last span_ms */
    int64_t since_ms; /* else it starts here */
} top_source_t;

/* Fetches every answer into d (cleared first). 0, or -1 with err
 * ("<STATUS>: <details>") when the control plane could not be reached; d
 * is then empty. */
int top_data_fetch(const top_source_t *src, top_data_t *d, char *err, size_t errlen);
void top_data_clear(top_data_t *d);
/* The answer of call c, NULL when refused. */
const void *top_data_get(const top_data_t *d, top_call_t c);
/* Why call c was refused ("" when answered). */
const char *top_data_err(const top_data_t *d, top_call_t c);

#endif
