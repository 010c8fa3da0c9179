/* uerror: normalizes upstream failures (HTTP statuses, transport outcomes,
 * unusable 2xx answers) into one uerror_t.
 *
 * Invariants: every function fills the whole struct; `type` points at a
 * static string; `message` is NUL-terminated, never empty, free of control
 * characters and valid UTF-8 (a protobuf string field must be, and other
 * languages' clients reject one that is not), so it can go into logs, gRPC
 * status messages and Attempt.error as is.
 *
 * Status policy. The request may be tried elsewhere (retryable) when the
 * failure is about this provider's state: timeouts, conflicts, rate limits,
 * server errors. It may not when another provider would reject it the same
 * way (400/413/422 and other 4xx) or when the provider refused us (401/403,
 * 404): those surface to the caller with the matching gRPC status.
 */
#include "uerror.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "utf8.h"

/* Error bodies are small; a larger body is not worth parsing as JSON. */
#define UERROR_MAX_JSON_BYTES (256 * 1024)
/* A body that is not an error object is quoted this far. */
#define UERROR_EXCERPT_BYTES 200
/* Retry-After beyond a day is treated as a day. */
#define UERROR_MAX_RETRY_AFTER_S 86400

/* Copies up to `max` bytes of src into e->message: control characters (NUL
 * included) become spaces, runs of spaces collapse, the ends are trimmed and
 * bytes that are not UTF-8 become '?'; "..." marks a cut, which always falls
 * between characters. Leaves message empty when src holds nothing printable. */
static void uerror_set_sanitized(uerror_t *e, const char *src, size_t len, size_t max)
{
    const unsigned char *s = (const unsigned char *)src;
    char *out = e->message;
    size_t cap = sizeof(e->message) - 4; /* room for "..." and NUL */
    if (max > cap)
        max = cap;
    size_t o = 0;
    bool cut = false;
    bool space = false;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x20 || s[i] == 0x7f || s[i] == ' ') {
            space = o > 0;
            i++;
            continue;
        }
        size_t clen = utf8_seq_len(s + i, s + len);
        const char *ch = (const char *)s + i;
        size_t emit = clen;
        if (clen == 0) {
            ch = "?";
            emit = clen = 1;
        }
        if (o + (space ? 1 : 0) + emit > max) {
            cut = true;
            break;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        memcpy(out + o, ch, emit);
        o += emit;
        i += clen;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* The provider's message from an error body: OpenAI's
 * {"error":{"message":"..."}}, or the {"error":"..."} and {"message":"..."}
 * shapes other providers use. NULL when the body is none of these. The
 * returned string belongs to `root`. */
static const char *uerror_json_message(json_t *root)
{
    if (!json_is_object(root))
        return NULL;
    json_t *err = json_object_get(root, "error");
    if (json_is_object(err)) {
        json_t *m = json_object_get(err, "message");
        if (json_is_string(m))
            return json_string_value(m);
    }
    if (json_is_string(err))
        return json_string_value(err);
    json_t *m = json_object_get(root, "message");
    if (json_is_string(m))
        return json_string_value(m);
    return NULL;
}

static void uerror_message_from_body(uerror_t *e, long http_status, const char *body, size_t len)
{
    e->message[0] = '\0';
    if (body && len > 0 && len <= UERROR_MAX_JSON_BYTES) {
        json_error_t jerr;
        json_t *root = json_loadb(body, len, 0, &jerr);
        const char *m = uerror_json_message(root);
        if (m)
            uerror_set_sanitized(e, m, strlen(m), sizeof(e->message));
        json_decref(root);
    }
    if (e->message[0] == '\0' && body && len > 0)
        uerror_set_sanitized(e, body, len, UERROR_EXCERPT_BYTES);
    if (e->message[0] == '\0')
        snprintf(e->message, sizeof(e->message), "upstream returned HTTP %ld", http_status);
}

/* Retry-After (RFC 9110 section 10.2.3): delay-seconds or an HTTP-date.
 * -1 when absent or unreadable; a date in the past is 0. */
static int64_t uerror_parse_retry_after(const char *v)
{
    if (!v)
        return -1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    if (n == 0)
        return -1;

    size_t digits = 0;
    while (digits < n && isdigit((unsigned char)v[digits]))
        digits++;
    if (digits == n) {
        int64_t s = 0;
        for (size_t i = 0; i < n && s <= UERROR_MAX_RETRY_AFTER_S; i++)
            s = s * 10 + (v[i] - '0');
        if (s > UERROR_MAX_RETRY_AFTER_S)
            s = UERROR_MAX_RETRY_AFTER_S;
        return s * 1000;
    }
    /* Anything else must be a date; curl_getdate rejects "-5", "1.5",
     * "5s" and other junk with -1. */
    char date[64];
    if (n >= sizeof(date))
        return -1;
    memcpy(date, v, n);
    date[n] = '\0';
    time_t when = curl_getdate(date, NULL);
    if (when == (time_t)-1)
        return -1;
    time_t now = time(NULL);
    if (when <= now)
        return 0;
    int64_t delta = (int64_t)(when - now);
    if (delta > UERROR_MAX_RETRY_AFTER_S)
        delta = UERROR_MAX_RETRY_AFTER_S;
    return delta * 1000;
}

static void uerror_classify(uerror_t *e, const char *type, bool retryable, grpc_status_code st)
{
    e->type = type;
    e->retryable = retryable;
    e->grpc_status = st;
}

void uerror_from_http(uerror_t *e, long http_status, const char *body, size_t len,
                      const char *retry_after)
{
    memset(e, 0, sizeof(*e));
    e->http_status = http_status >= 0 && http_status <= 999 ? (int)http_status : 0;
    e->retry_after_ms = uerror_parse_retry_after(retry_after);

    switch (http_status) {
    case 400:
    case 413:
    case 422:
        uerror_classify(e, "invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT);
        break;
    case 401:
        /* The provider refused the gateway's own key: a misconfiguration
         * the caller cannot fix, so not UNAUTHENTICATED (which would blame
         * the caller's key). */
        uerror_classify(e, "auth", false, GRPC_STATUS_INTERNAL);
        break;
    case 403:
        uerror_classify(e, "permission", false, GRPC_STATUS_PERMISSION_DENIED);
        break;
    case 404:
        uerror_classify(e, "not_found", false, GRPC_STATUS_NOT_FOUND);
        break;
    case 408:
        /* The provider timed our request out: its state, not the caller's
         * deadline, so another provider may still answer in time. */
        uerror_classify(e, "timeout", true, GRPC_STATUS_UNAVAILABLE);
        break;
    case 409:
        uerror_classify(e, "conflict", true, GRPC_STATUS_UNAVAILABLE);
        break;
    case 429:
        uerror_classify(e, "rate_limit", true, GRPC_STATUS_RESOURCE_EXHAUSTED);
        break;
    default:
        if (http_status >= 500 && http_status <= 599)
            uerror_classify(e, "server", true, GRPC_STATUS_UNAVAILABLE);
        else if (http_status >= 400 && http_status <= 499)
            uerror_classify(e, "invalid_request", false, GRPC_STATUS_INVALID_ARGUMENT);
        else if (http_status >= 200 && http_status <= 299)
            /* Not an error status: the caller could not use the answer. */
            uerror_classify(e, "bad_response", true, GRPC_STATUS_UNAVAILABLE);
        else
            uerror_classify(e, "server", true, GRPC_STATUS_UNAVAILABLE);
        break;
    }
    uerror_message_from_body(e, http_status, body, len);
}

void uerror_from_transport(uerror_t *e, upstream_outcome_t outcome, const char *detail)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_ms = -1;
    const char *fallback;
    switch (outcome) {
    case UPSTREAM_ERR_CONNECT:
        uerror_classify(e, "connect", true, GRPC_STATUS_UNAVAILABLE);
        fallback = "could not connect to the upstream";
        break;
    case UPSTREAM_ERR_TIMEOUT:
        uerror_classify(e, "timeout", true, GRPC_STATUS_DEADLINE_EXCEEDED);
        fallback = "upstream timed out";
        break;
    case UPSTREAM_ERR_CANCELLED:
        uerror_classify(e, "cancelled", false, GRPC_STATUS_CANCELLED);
        fallback = "upstream request cancelled";
        break;
    case UPSTREAM_ERR_TOO_LARGE:
        uerror_classify(e, "too_large", true, GRPC_STATUS_UNAVAILABLE);
        fallback = "upstream response too large";
        break;
    case UPSTREAM_ERR_ABORTED:
        uerror_classify(e, "bad_response", true, GRPC_STATUS_UNAVAILABLE);
        fallback = "upstream stream aborted";
        break;
    case UPSTREAM_ERR_TRANSFER:
        uerror_classify(e, "bad_response", true, GRPC_STATUS_UNAVAILABLE);
        fallback = "upstream connection broke mid-response";
        break;
    case UPSTREAM_OK:
    default:
        /* Not a transport failure: called for an outcome it does not
         * describe. Still a well-formed, retryable error. */
        uerror_classify(e, "bad_response", true, GRPC_STATUS_UNAVAILABLE);
        fallback = "unexpected upstream outcome";
        break;
    }
    if (detail)
        uerror_set_sanitized(e, detail, strlen(detail), sizeof(e->message));
    if (e->message[0] == '\0')
        snprintf(e->message, sizeof(e->message), "%s", fallback);
}

void uerror_bad_response(uerror_t *e, long http_status, const char *detail)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_ms = -1;
    e->http_status = http_status >= 0 && http_status <= 999 ? (int)http_status : 0;
    uerror_classify(e, "bad_response", true, GRPC_STATUS_UNAVAILABLE);
    if (detail)
        uerror_set_sanitized(e, detail, strlen(detail), sizeof(e->message));
    if (e->message[0] == '\0')
        snprintf(e->message, sizeof(e->message), "upstream returned an invalid response");
}
