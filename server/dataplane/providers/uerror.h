/* uerror: one normalized shape for every upstream failure, whatever the
 * provider or adapter: the class, whether falling back is allowed, and the
 * gRPC status to return when it is not (or when nothing is left to try).
 */
#ifndef LLMGW_UERROR_H
#define LLMGW_UERROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/status.h>

#include "upstream.h"

typedef struct {
    int http_status;   /* 0 when no response */
    const char *type;  /* static: "connect", "timeout", "rate_limit", "server",
                          "bad_response", "invalid_request", "auth", "permission",
                          "not_found", "conflict", "cancelled", "too_large" */
    char message[512]; /* the provider's error.message when it sent one */
    bool retryable;    /* may fall back to the next candidate */
    grpc_status_code grpc_status;
    int64_t retry_after_ms; /* from Retry-After (seconds or HTTP date); -1 none */
} uerror_t;

/* From a completed HTTP exchange whose status is not 2xx. Reads OpenAI's
 * {"error":{"message","type","code"}} body (and tolerates any other body).
 * 408/409/429/5xx are retryable; 400/401/403/404/413/422 are not. */
void uerror_from_http(uerror_t *e, long http_status, const char *body, size_t len,
                      const char *retry_after);
/* From a transport outcome (not UPSTREAM_OK). Connect, timeout and transfer
 * errors are retryable; cancellation is not. */
void uerror_from_transport(uerror_t *e, upstream_outcome_t outcome, const char *detail);
/* A 2xx answer we could not understand: retryable, type "bad_response". */
void uerror_bad_response(uerror_t *e, long http_status, const char *detail);

#endif
