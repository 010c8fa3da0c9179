/* auth: "authorization: Bearer <key>" → the table's key, or a refusal.
 *
 * The only secret handled here is the caller's token; it is hashed by
 * table_find_key and never logged (the one copy, made when trailing
 * whitespace must be cut off, is wiped after use). A table without keys
 * turns auth off: every caller is anonymous (*key = NULL) whatever it sends.
 * Three messages only, so a caller learns nothing beyond "no usable token",
 * "token not known" and "token expired" (the last only to its holder: the
 * secret matched). A scope refusal names the key and the scope: the caller
 * proved who it is.
 */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#define AUTH_MISSING "authorization: missing bearer token"
#define AUTH_UNKNOWN "authorization: unknown API key"
#define AUTH_EXPIRED "authorization: API key expired"

static int auth_fail(char *err, size_t errlen, const char *msg)
{
    if (errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return -1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

int64_t auth_now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int auth_check(const table_t *t, const char *authorization, const table_key_t **key, char *err,
               size_t errlen)
{
    return auth_check_at(t, authorization, auth_now_unix_ms(), key, err, errlen);
}

int auth_check_at(const table_t *t, const char *authorization, int64_t now_unix_ms,
                  const table_key_t **key, char *err, size_t errlen)
{
    *key = NULL;
    if (errlen > 0)
        err[0] = '\0';
    if (!table_auth_enabled(t))
        return 0;
    if (authorization == NULL)
        return auth_fail(err, errlen, AUTH_MISSING);

    /* Scheme is case-insensitive (RFC 9110 §11.1), then one or more spaces,
     * then a token with no whitespace. Surrounding whitespace is optional
     * field whitespace and ignored; anything else after the token is junk. */
    const char *p = authorization;
    while (is_space(*p))
        p++;
    if (strncasecmp(p, "bearer", 6) != 0 || !is_space(p[6]))
        return auth_fail(err, errlen, AUTH_MISSING);
    p += 6;
    while (is_space(*p))
        p++;
    const char *tok = p;
    while (*p != '\0' && !is_space(*p)) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return auth_fail(err, errlen, AUTH_MISSING);
        p++;
    }
    size_t len = (size_t)(p - tok);
    while (is_space(*p))
        p++;
    if (len == 0 || *p != '\0')
        return auth_fail(err, errlen, AUTH_MISSING);

    /* With trailing whitespace the token needs its own terminator. Real keys
     * are far shorter than this buffer; a longer one is refused as unknown. */
    char stackbuf[1024];
    const char *secret = tok;
    if (tok[len] != '\0') {
        if (len >= sizeof(stackbuf))
            return auth_fail(err, errlen, AUTH_UNKNOWN);
        memcpy(stackbuf, tok, len);
        stackbuf[len] = '\0';
        secret = stackbuf;
    }
    bool expired = false;
    const table_key_t *k = table_match_key(t, secret, now_unix_ms, &expired);
    if (secret == stackbuf)
        OPENSSL_cleanse(stackbuf, len);
    if (k == NULL)
        return auth_fail(err, errlen, expired ? AUTH_EXPIRED : AUTH_UNKNOWN);
    *key = k;
    return 0;
}

const char *auth_scope_name(unsigned scope)
{
    switch (scope) {
    case TABLE_SCOPE_CHAT:
        return "chat";
    case TABLE_SCOPE_MODELS:
        return "models";
    case TABLE_SCOPE_ENSEMBLES:
        return "ensembles";
    case TABLE_SCOPE_ROUTING:
        return "routing";
    default:
        return "unknown";
    }
}

grpc_status_code auth_authorize(const table_t *t, const char *authorization, unsigned scope,
                                const table_key_t **key, char *err, size_t errlen)
{
    if (auth_check(t, authorization, key, err, errlen) < 0)
        return GRPC_STATUS_UNAUTHENTICATED;
    if (*key && !((*key)->scopes & scope)) {
        if (errlen > 0)
            snprintf(err, errlen, "authorization: key '%s' lacks scope '%s'", (*key)->name,
                     auth_scope_name(scope));
        *key = NULL;
        return GRPC_STATUS_PERMISSION_DENIED;
    }
    return GRPC_STATUS_OK;
}
