/* cp_probe: one blocking GET {base_url}/models to a provider, for
 * TestConnection and DiscoverModels. Runs on a worker thread (never a
 * completion-queue thread); the timeout is the provider's, capped at 10 s.
 * The API key goes only into the request header, never into a message.
 */
#ifndef LLMGW_CP_PROBE_H
#define LLMGW_CP_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "providers.h"

typedef struct {
    int http_status; /* 0 when no answer */
    int64_t latency_ms;
    char **ids; /* model ids listed (malloc'd), NULL when none */
    size_t n_ids;
    char error[256]; /* "" when the list was read */
} cp_probe_t;

/* 0 when a JSON model list came back with a 2xx; -1 with p->error filled. */
int cp_probe_models(const providers_endpoint_t *ep, cp_probe_t *p);
void cp_probe_free(cp_probe_t *p);

#endif
