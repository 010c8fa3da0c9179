/* policy: see policy.h for what is enforced and in which order.
 *
 * Copy-on-write: a request is copied (shallowly, into the arena) only when a
 * field must change; messages that need no change are shared with the
 * original. The redaction bits of the table and of redact.c are the same.
 */
#include "policy.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

_Static_assert((unsigned)REDACT_EMAIL == (unsigned)TABLE_REDACT_EMAIL &&
                   (unsigned)REDACT_PHONE == (unsigned)TABLE_REDACT_PHONE &&
                   (unsigned)REDACT_CARD == (unsigned)TABLE_REDACT_CARD &&
                   (unsigned)REDACT_IBAN == (unsigned)TABLE_REDACT_IBAN,
               "redact.h and table.h disagree on the PII bits");

#define POLICY_LOG_TEXT_MAX 4096 /* bytes of one logged prompt message / response */

const table_policy_t *policy_for(const table_t *t, const table_key_t *key)
{
    return key ? key->policy : table_org_policy(t);
}

/* --- the route filter ----------------------------------------------------- */

/* `m->name` or "provider/model" in the list; compared in place, no copy
 * (this runs for every deployment of every request). */
static bool policy_model_listed(const table_names_t *l, const table_provider_t *p,
                                const table_model_t *m)
{
    size_t plen = strlen(p->name);
    for (size_t i = 0; i < l->n; i++) {
        const char *e = l->v[i];
        if (strcmp(e, m->name) == 0)
            return true;
        if (strncmp(e, p->name, plen) == 0 && e[plen] == '/' && strcmp(e + plen + 1, m->name) == 0)
            return true;
    }
    return false;
}

static const char *policy_exclude(void *ud, const table_provider_t *p, const table_model_t *m,
                                  char *why, size_t whylen)
{
    const table_policy_t *pol = ud;
    if (pol->allowed_providers.n && !table_names_has(&pol->allowed_providers, p->name))
        snprintf(why, whylen, "excluded by policy '%s' (provider: not in allowed_providers)",
                 pol->name);
    else if (table_names_has(&pol->denied_providers, p->name))
        snprintf(why, whylen, "excluded by policy '%s' (provider: in denied_providers)", pol->name);
    else if (pol->allowed_models.n && !policy_model_listed(&pol->allowed_models, p, m))
        snprintf(why, whylen, "excluded by policy '%s' (model: not in allowed_models)", pol->name);
    else if (policy_model_listed(&pol->denied_models, p, m))
        snprintf(why, whylen, "excluded by policy '%s' (model: in denied_models)", pol->name);
    else if (pol->regions.n && !(p->region && p->region[0]))
        snprintf(why, whylen, "excluded by policy '%s' (region: unknown, not in regions)",
                 pol->name);
    else if (pol->regions.n && !table_names_has(&pol->regions, p->region))
        snprintf(why, whylen, "excluded by policy '%s' (region: %s not in regions)", pol->name,
                 p->region);
    else
        return NULL;
    return why;
}

route_filter_t policy_route_filter(const table_policy_t *pol)
{
    route_filter_t f = {0};
    if (pol && (pol->allowed_providers.n || pol->denied_providers.n || pol->allowed_models.n ||
                pol->denied_models.n || pol->regions.n)) {
        f.exclude = policy_exclude;
        f.ud = (void *)pol;
    }
    return f;
}

/* --- redaction helpers ----------------------------------------------------- */

/* The redacted copy of s (in a), or s itself when nothing matched; NULL when
 * out of memory. */
static const char *policy_redact_str(arena_t *a, const char *s, size_t len, unsigned kinds,
                                     redact_counts_t *counts)
{
    buf_t b = BUF_INIT(len * 4 + 64);
    int n = redact_text(s, len, kinds, &b, counts);
    const char *out = s;
    if (n > 0)
        out = arena_strndup(a, b.data, b.len);
    else if (n < 0)
        out = NULL;
    buf_free(&b);
    return out;
}

/* A JSON string's value redacted in place; 1 changed, 0 not, -1 no memory. */
static int policy_redact_json_string(arena_t *a, json_t *v, unsigned kinds, redact_counts_t *counts)
{
    const char *s = json_string_value(v);
    if (!s)
        return 0;
    const char *r = policy_redact_str(a, s, json_string_length(v), kinds, counts);
    if (!r)
        return -1;
    if (r == s)
        return 0;
    return json_string_set(v, r) == 0 ? 1 : -1;
}

/* The text parts of an OpenAI content parts array, redacted: a copy in a,
 * or parts itself. Text that is not a JSON array is redacted as text. */
static const char *policy_redact_parts(arena_t *a, const char *parts, unsigned kinds,
                                       redact_counts_t *counts)
{
    json_t *root = json_loads(parts, JSON_DECODE_ANY, NULL);
    if (!json_is_array(root)) {
        json_decref(root);
        return policy_redact_str(a, parts, strlen(parts), kinds, counts);
    }
    int changed = 0;
    size_t i;
    json_t *part;
    json_array_foreach(root, i, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (!type || strcmp(type, "text") != 0)
            continue;
        int rc = policy_redact_json_string(a, json_object_get(part, "text"), kinds, counts);
        if (rc < 0) {
            json_decref(root);
            return NULL;
        }
        changed |= rc;
    }
    const char *out = parts;
    if (changed) {
        char *text = json_dumps(root, JSON_COMPACT);
        out = text ? arena_strdup(a, text) : NULL;
        free(text);
    }
    json_decref(root);
    return out;
}

static bool policy_has_parts(const Llmgw__V1__Message *m)
{
    return m->content_parts_json && m->content_parts_json[0];
}

/* --- chat requests ---------------------------------------------------------- */

static policy_status_t policy_deny(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static policy_status_t policy_deny(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return POLICY_DENIED;
}

static policy_status_t policy_nomem(char *err, size_t errlen)
{
    if (errlen)
        snprintf(err, errlen, "gateway: out of memory");
    return POLICY_NOMEM;
}

/* The request copy, made at the first change. */
static Llmgw__V1__ChatRequest *policy_copy(arena_t *a, const Llmgw__V1__ChatRequest *req,
                                           Llmgw__V1__ChatRequest **copy)
{
    if (*copy)
        return *copy;
    Llmgw__V1__ChatRequest *c = arena_alloc(a, sizeof(*c));
    Llmgw__V1__Message **msgs = arena_alloc(a, sizeof(*msgs) * (req->n_messages + 1));
    if (!c || !msgs)
        return NULL;
    *c = *req;
    if (req->n_messages)
        memcpy(msgs, req->messages, sizeof(*msgs) * req->n_messages);
    c->messages = msgs;
    *copy = c;
    return c;
}

static policy_status_t policy_redact_messages(const table_policy_t *pol, arena_t *a,
                                              const Llmgw__V1__ChatRequest *req,
                                              Llmgw__V1__ChatRequest **copy,
                                              redact_counts_t *counts, char *err, size_t errlen)
{
    for (size_t i = 0; i < req->n_messages; i++) {
        const Llmgw__V1__Message *m = req->messages[i];
        if (!m)
            continue;
        const char *before = policy_has_parts(m) ? m->content_parts_json : m->content;
        if (!before || !before[0])
            continue;
        const char *after = policy_has_parts(m)
                                ? policy_redact_parts(a, before, pol->redact, counts)
                                : policy_redact_str(a, before, strlen(before), pol->redact, counts);
        if (!after)
            return policy_nomem(err, errlen);
        if (after == before)
            continue;
        Llmgw__V1__Message *mc = arena_alloc(a, sizeof(*mc));
        if (!mc || !policy_copy(a, req, copy))
            return policy_nomem(err, errlen);
        *mc = *m;
        if (policy_has_parts(m))
            mc->content_parts_json = (char *)after;
        else
            mc->content = (char *)after;
        (*copy)->messages[i] = mc;
    }
    return POLICY_OK;
}

policy_status_t policy_apply_chat(const table_policy_t *pol, arena_t *a,
                                  const Llmgw__V1__ChatRequest *req,
                                  const Llmgw__V1__ChatRequest **out, redact_counts_t *counts,
                                  char *err, size_t errlen)
{
    *out = req;
    if (!pol)
        return POLICY_OK;
    Llmgw__V1__ChatRequest *copy = NULL;
    bool has_max = req->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
    if (pol->max_tokens > 0) {
        if (has_max && req->max_tokens > pol->max_tokens)
            return policy_deny(err, errlen,
                               "policy '%s': max_tokens %d over the policy's max_tokens %" PRId64,
                               pol->name, (int)req->max_tokens, pol->max_tokens);
        if (!has_max) {
            if (!policy_copy(a, req, &copy))
                return policy_nomem(err, errlen);
            copy->max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS;
            copy->max_tokens = (int32_t)pol->max_tokens;
        }
    }
    if (pol->max_prompt_bytes > 0) {
        size_t bytes = 0;
        for (size_t i = 0; i < req->n_messages; i++) {
            const Llmgw__V1__Message *m = req->messages[i];
            if (m)
                bytes += strlen(policy_has_parts(m) ? m->content_parts_json
                                                    : (m->content ? m->content : ""));
        }
        if (bytes > (size_t)pol->max_prompt_bytes)
            return policy_deny(err, errlen,
                               "policy '%s': messages: prompt of %zu bytes over the policy's "
                               "max_prompt_bytes %" PRId64,
                               pol->name, bytes, pol->max_prompt_bytes);
    }
    if (pol->redact) {
        policy_status_t st = policy_redact_messages(pol, a, req, &copy, counts, err, errlen);
        if (st != POLICY_OK)
            return st;
    }
    if (copy)
        *out = copy;
    return POLICY_OK;
}

/* --- raw bodies ----------------------------------------------------------- */

/* Bytes of a "prompt" / "input" member: a string or an array holding strings
 * (token-id arrays count nothing). */
static size_t policy_raw_bytes(const json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v);
    size_t n = 0, i;
    const json_t *x;
    if (json_is_array(v))
        json_array_foreach(v, i, x) n += json_is_string(x) ? json_string_length(x) : 0;
    return n;
}

static int policy_raw_redact(arena_t *a, json_t *v, unsigned kinds, redact_counts_t *counts)
{
    if (json_is_string(v))
        return policy_redact_json_string(a, v, kinds, counts);
    int changed = 0;
    size_t i;
    json_t *x;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            int rc = policy_redact_json_string(a, x, kinds, counts);
            if (rc < 0)
                return -1;
            changed |= rc;
        }
    }
    return changed;
}

policy_status_t policy_apply_raw(const table_policy_t *pol, arena_t *a, const char *raw_json,
                                 const char **out_json, redact_counts_t *counts, char *err,
                                 size_t errlen)
{
    *out_json = raw_json;
    if (!pol || (pol->max_tokens <= 0 && pol->max_prompt_bytes <= 0 && !pol->redact))
        return POLICY_OK;
    json_t *root = json_loads(raw_json, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return policy_deny(err, errlen, "policy '%s': body: expected a JSON object", pol->name);
    }
    policy_status_t st = POLICY_OK;
    json_t *mt = json_object_get(root, "max_tokens");
    if (pol->max_tokens > 0 && json_is_integer(mt) && json_integer_value(mt) > pol->max_tokens) {
        st = policy_deny(err, errlen,
                         "policy '%s': max_tokens %" JSON_INTEGER_FORMAT
                         " over the policy's max_tokens %" PRId64,
                         pol->name, json_integer_value(mt), pol->max_tokens);
        goto out;
    }
    const char *fields[] = {"prompt", "input"};
    size_t bytes = 0;
    for (size_t i = 0; i < 2; i++)
        bytes += policy_raw_bytes(json_object_get(root, fields[i]));
    if (pol->max_prompt_bytes > 0 && bytes > (size_t)pol->max_prompt_bytes) {
        st = policy_deny(err, errlen,
                         "policy '%s': prompt: %zu bytes over the policy's max_prompt_bytes "
                         "%" PRId64,
                         pol->name, bytes, pol->max_prompt_bytes);
        goto out;
    }
    if (pol->redact) {
        int changed = 0;
        for (size_t i = 0; i < 2; i++) {
            int rc = policy_raw_redact(a, json_object_get(root, fields[i]), pol->redact, counts);
            if (rc < 0) {
                st = policy_nomem(err, errlen);
                goto out;
            }
            changed |= rc;
        }
        if (changed) {
            char *text = json_dumps(root, JSON_COMPACT);
            const char *copy = text ? arena_strdup(a, text) : NULL;
            free(text);
            if (!copy) {
                st = policy_nomem(err, errlen);
                goto out;
            }
            *out_json = copy;
        }
    }
out:
    json_decref(root);
    return st;
}

/* --- logging ------------------------------------------------------------- */

/* s as a quoted log value: quotes, backslashes and control bytes escaped,
 * cut at POLICY_LOG_TEXT_MAX. */
static void policy_log_quote(buf_t *b, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n < POLICY_LOG_TEXT_MAX;
         p++, n++) {
        if (*p == '"' || *p == '\\')
            buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            buf_printf(b, "\\x%02x", *p);
        else
            buf_append_char(b, (char)*p);
    }
}

void policy_log_prompt(const table_policy_t *pol, const char *key,
                       const Llmgw__V1__ChatRequest *req)
{
    if (!pol || !pol->log_prompts)
        return;
    for (size_t i = 0; i < req->n_messages; i++) {
        const Llmgw__V1__Message *m = req->messages[i];
        if (!m)
            continue;
        buf_t b = BUF_INIT(4 * POLICY_LOG_TEXT_MAX + 16);
        policy_log_quote(&b, policy_has_parts(m) ? m->content_parts_json
                                                 : (m->content ? m->content : ""));
        log_debug("prompt (policy allows logging)",
                  "policy=%s key=%s message=%zu role=%s text=\"%s\"", pol->name, key ? key : "", i,
                  m->role ? m->role : "", buf_cstr(&b));
        buf_free(&b);
    }
}

void policy_log_response(const table_policy_t *pol, const char *key, const char *text)
{
    if (!pol || !pol->log_responses || !text)
        return;
    buf_t b = BUF_INIT(4 * POLICY_LOG_TEXT_MAX + 16);
    policy_log_quote(&b, text);
    log_debug("response (policy allows logging)", "policy=%s key=%s text=\"%s\"", pol->name,
              key ? key : "", buf_cstr(&b));
    buf_free(&b);
}
