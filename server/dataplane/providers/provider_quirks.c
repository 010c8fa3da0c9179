/* provider_quirks: presets' quirks applied to requests and URLs. See
 * provider_quirks.h.
 *
 * The common case (no quirk touches the body) costs nothing beyond the
 * OpenAI builder; a body with fields to remove is parsed back, edited and
 * dumped again, which only quirky providers pay for.
 */
#include "provider_quirks.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jscan.h"
#include "openai.h"

static const char *pq_name(const table_provider_t *p)
{
    return p->preset ? p->preset : "none";
}

/* {"type": "text"} asks for nothing a provider could lack. */
static bool pq_is_text_format(const char *response_format_json)
{
    json_t *rf = json_loads(response_format_json, 0, NULL);
    const char *type = json_string_value(json_object_get(rf, "type"));
    bool text = type && strcmp(type, "text") == 0;
    json_decref(rf);
    return text;
}

bool provider_quirks_reject(const table_provider_t *p, const Llmgw__V1__ChatRequest *req, char *err,
                            size_t errlen)
{
    const table_quirks_t *q = &p->quirks;
    if (!q->tools && req->tools_json && req->tools_json[0]) {
        snprintf(err, errlen, "tools_json: provider '%s' (preset %s) does not accept tools",
                 p->name, pq_name(p));
        return true;
    }
    if (!q->json_mode && req->response_format_json && req->response_format_json[0] &&
        !pq_is_text_format(req->response_format_json)) {
        snprintf(err, errlen,
                 "response_format_json: provider '%s' (preset %s) does not accept JSON mode",
                 p->name, pq_name(p));
        return true;
    }
    for (size_t i = 0; !q->vision && i < req->n_messages; i++) {
        const char *parts = req->messages[i] ? req->messages[i]->content_parts_json : NULL;
        if (parts && strstr(parts, "image_url")) {
            snprintf(err, errlen,
                     "messages[%zu].content_parts_json: provider '%s' (preset %s) does not "
                     "accept images",
                     i, p->name, pq_name(p));
            return true;
        }
    }
    return false;
}

/* --- preparing a request for a provider ----------------------------------- */

static bool pq_azure(const table_provider_t *p)
{
    return p->auth_style && strcmp(p->auth_style, "api-key") == 0;
}

const char *provider_quirks_api_version(const table_provider_t *p, const char *req_version)
{
    if (req_version && req_version[0] && pq_azure(p))
        return req_version;
    return p->api_version;
}

/* Members of OpenAI's chat request that Anthropic's Messages API has no
 * place for: dropped with a warning rather than sent (Anthropic refuses
 * unknown members). n is handled apart: 1 is dropped silently, more refused. */
static const char *const pq_anthropic_drop[] = {"logprobs",
                                                "top_logprobs",
                                                "logit_bias",
                                                "seed",
                                                "parallel_tool_calls",
                                                "store",
                                                "service_tier",
                                                "reasoning_effort",
                                                "audio",
                                                "modalities",
                                                "prediction",
                                                "web_search_options",
                                                "verbosity",
                                                "prompt_cache_key",
                                                "safety_identifier",
                                                "metadata",
                                                "frequency_penalty",
                                                "presence_penalty",
                                                NULL};

/* Fields ChatRequest models: whether req sets field `name`, and clearing it
 * in a copy. */
static bool pq_modeled(Llmgw__V1__ChatRequest *r, const char *name, bool clear)
{
    bool set = false;
#define PQ_OPT(field, NAME)                                                                        \
    if (!strcmp(name, #field)) {                                                                   \
        set = r->field##_opt_case == LLMGW__V1__CHAT_REQUEST__##NAME##_OPT_##NAME;                 \
        if (clear && set)                                                                          \
            r->field##_opt_case = LLMGW__V1__CHAT_REQUEST__##NAME##_OPT__NOT_SET;                  \
        return set;                                                                                \
    }
    PQ_OPT(temperature, TEMPERATURE)
    PQ_OPT(top_p, TOP_P)
    PQ_OPT(max_tokens, MAX_TOKENS)
    PQ_OPT(seed, SEED)
    PQ_OPT(presence_penalty, PRESENCE_PENALTY)
    PQ_OPT(frequency_penalty, FREQUENCY_PENALTY)
#undef PQ_OPT
#define PQ_STR(field, key)                                                                         \
    if (!strcmp(name, key)) {                                                                      \
        set = r->field && r->field[0];                                                             \
        if (clear && set)                                                                          \
            r->field = "";                                                                         \
        return set;                                                                                \
    }
    PQ_STR(user, "user")
    PQ_STR(tools_json, "tools")
    PQ_STR(tool_choice_json, "tool_choice")
    PQ_STR(response_format_json, "response_format")
#undef PQ_STR
    if (!strcmp(name, "stop")) {
        set = r->n_stop > 0;
        if (clear)
            r->n_stop = 0;
    }
    return set;
}

/* Whether `name` is among p's fields to drop (quirks.drop_fields, or the
 * anthropic wire format's list). */
static bool pq_drops(const table_provider_t *p, bool anthropic, const char *name)
{
    for (size_t i = 0; i < p->quirks.n_drop_fields; i++)
        if (!strcmp(p->quirks.drop_fields[i], name))
            return true;
    for (size_t i = 0; anthropic && pq_anthropic_drop[i]; i++)
        if (!strcmp(pq_anthropic_drop[i], name))
            return true;
    return false;
}

/* Anthropic refuses nonzero penalties by name (anthropic.c); a zero one is a
 * client's default and goes silently. */
static bool pq_penalty_kept(const Llmgw__V1__ChatRequest *r, const char *name)
{
    if (!strcmp(name, "presence_penalty"))
        return r->presence_penalty != 0;
    if (!strcmp(name, "frequency_penalty"))
        return r->frequency_penalty != 0;
    return false;
}

static int pq_note(buf_t *dropped, const char *name)
{
    return buf_printf(dropped, "%s%s", dropped->len ? ", " : "", name);
}

/* extra_body_json without the members p drops (names noted in `dropped`),
 * with `prefix` ("\"max_completion_tokens\":5" or "") put first. NULL
 * (with *oom) on failure; the original text when nothing changes. */
static const char *pq_rewrite_extra(const table_provider_t *p, bool anthropic, const char *extra,
                                    const char *prefix, arena_t *a, buf_t *dropped, bool *n_many,
                                    bool *oom)
{
    jscan_value_t root, k, v;
    jscan_iter_t it;
    *oom = false;
    bool has = extra && extra[0] && jscan_document(extra, strlen(extra), &root, NULL) == 0 &&
               root.type == JSCAN_OBJECT;
    if (!has && !prefix[0])
        return extra; /* the builder reports malformed text */
    buf_t b = BUF_INIT((extra ? strlen(extra) : 0) + strlen(prefix) + 8);
    bool changed = prefix[0] != '\0';
    int rc = buf_append_char(&b, '{');
    if (rc == 0 && prefix[0])
        rc = buf_append_str(&b, prefix);
    if (has)
        jscan_iter_init(&it, &root);
    while (has && rc == 0 && jscan_object_next(&it, &k, &v, NULL) == 1) {
        char name[64] = "";
        if (k.len < sizeof(name))
            jscan_string_decode(&k, name);
        if (anthropic && !strcmp(name, "n")) {
            int64_t n = 1;
            if (v.type == JSCAN_NUMBER && jscan_int64(&v, &n) == 0 && n > 1) {
                *n_many = true;
                continue;
            }
            changed = true; /* n: 1 means one choice, which Anthropic gives */
            continue;
        }
        if (name[0] && pq_drops(p, anthropic, name)) {
            changed = true;
            if (pq_note(dropped, name) < 0)
                rc = -1;
            continue;
        }
        char *dst;
        if ((b.len > 1 && buf_append_char(&b, ',') < 0) || buf_append(&b, k.p, k.len) < 0 ||
            buf_append_char(&b, ':') < 0 || !(dst = buf_space(&b, v.len))) {
            rc = -1;
            break;
        }
        buf_commit(&b, jscan_compact(&v, dst));
    }
    if (rc == 0)
        rc = buf_append_char(&b, '}');
    const char *outp = extra;
    if (rc < 0)
        *oom = true;
    else if (changed)
        outp = b.len == 2 ? "" : arena_strdup(a, buf_cstr(&b));
    if (changed && !outp)
        *oom = true;
    buf_free(&b);
    return outp;
}

int provider_quirks_prepare(const table_provider_t *p, const Llmgw__V1__ChatRequest *req,
                            arena_t *a, const Llmgw__V1__ChatRequest **out, const char **warning,
                            char *err, size_t errlen)
{
    bool anthropic = p->wire_format && strcmp(p->wire_format, "anthropic") == 0;
    buf_t dropped = BUF_INIT(1024), warn = BUF_INIT(2048);
    Llmgw__V1__ChatRequest *copy = arena_alloc(a, sizeof(*copy));
    int rc = -1;
    *out = req;
    *warning = NULL;
    if (!copy)
        goto oom;
    *copy = *req;
    bool changed = false;

    /* Modeled fields p cannot take. */
    static const char *const modeled[] = {
        "temperature", "top_p", "seed",        "presence_penalty", "frequency_penalty", "stop",
        "user",        "tools", "tool_choice", "response_format",  "max_tokens"};
    for (size_t i = 0; i < sizeof(modeled) / sizeof(modeled[0]); i++) {
        const char *f = modeled[i];
        if (!pq_drops(p, anthropic, f) || !pq_modeled(copy, f, false))
            continue;
        if (anthropic && pq_penalty_kept(copy, f))
            continue; /* refused by name when the body is built */
        bool silent =
            anthropic && (!strcmp(f, "presence_penalty") || !strcmp(f, "frequency_penalty"));
        pq_modeled(copy, f, true);
        changed = true;
        if (!silent && pq_note(&dropped, f) < 0)
            goto oom;
    }

    /* The completion limit under p's name for it. */
    char prefix[64] = "";
    const char *field = p->quirks.max_tokens_field ? p->quirks.max_tokens_field : "max_tokens";
    if (!anthropic && pq_azure(p)) {
        const char *v = provider_quirks_api_version(p, req->api_version);
        if (v && strcmp(v, "2024-09-01") < 0)
            field = "max_tokens"; /* older Azure versions know only max_tokens */
    }
    if (!anthropic && !strcmp(field, "max_completion_tokens") &&
        copy->max_tokens_opt_case == LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT_MAX_TOKENS) {
        snprintf(prefix, sizeof(prefix), "\"max_completion_tokens\":%d", (int)copy->max_tokens);
        copy->max_tokens_opt_case = LLMGW__V1__CHAT_REQUEST__MAX_TOKENS_OPT__NOT_SET;
        changed = true;
    }

    bool oom = false, n_many = false;
    const char *extra =
        pq_rewrite_extra(p, anthropic, req->extra_body_json, prefix, a, &dropped, &n_many, &oom);
    if (oom)
        goto oom;
    if (n_many) {
        snprintf(err, errlen, "n: provider '%s' (wire format anthropic) returns one choice",
                 p->name);
        goto done;
    }
    if (extra != req->extra_body_json) {
        copy->extra_body_json = (char *)extra;
        changed = true;
    }
    if (dropped.len && buf_printf(&warn, "dropped %s for %s", buf_cstr(&dropped), p->name) < 0)
        goto oom;
    if (req->api_version && req->api_version[0] && !pq_azure(p)) {
        if (buf_printf(&warn, "%sapi-version ignored for %s", warn.len ? "; " : "", p->name) < 0)
            goto oom;
        copy->api_version = "";
        changed = true;
    }
    if (warn.len && !(*warning = arena_strdup(a, buf_cstr(&warn))))
        goto oom;
    if (changed)
        *out = copy;
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "gateway: out of memory");
done:
    buf_free(&dropped);
    buf_free(&warn);
    return rc;
}

static int pq_dump_cb(const char *s, size_t n, void *ud)
{
    return buf_append(ud, s, n);
}

int provider_quirks_build_openai(const table_provider_t *p, const Llmgw__V1__ChatRequest *req,
                                 const char *upstream_model, bool stream, buf_t *out, char *err,
                                 size_t errlen)
{
    if (p && provider_quirks_reject(p, req, err, errlen))
        return -1;
    bool drop_stream_options = p && stream && !p->quirks.stream_options;
    if (!p || (!drop_stream_options && p->quirks.n_drop_fields == 0))
        return openai_build_chat_request(req, upstream_model, stream, out, err, errlen);
    /* provider_quirks_prepare has usually removed the fields already: the
     * body is parsed back only when one of them is still in it. */
    if (!drop_stream_options) {
        size_t orig = out->len;
        if (openai_build_chat_request(req, upstream_model, stream, out, err, errlen) < 0)
            return -1;
        bool found = false;
        for (size_t i = 0; !found && i < p->quirks.n_drop_fields; i++) {
            char key[80];
            snprintf(key, sizeof(key), "\"%s\":", p->quirks.drop_fields[i]);
            found = strstr(out->data + orig, key) != NULL;
        }
        if (!found)
            return 0;
        out->len = orig;
        out->data[orig] = '\0';
    }

    buf_t tmp = BUF_INIT(out->cap);
    json_t *root = NULL;
    int rc = -1;
    if (openai_build_chat_request(req, upstream_model, stream, &tmp, err, errlen) < 0)
        goto out;
    root = json_loadb(tmp.data, tmp.len, 0, NULL);
    if (!root) {
        snprintf(err, errlen, "request: out of memory");
        goto out;
    }
    if (drop_stream_options)
        json_object_del(root, "stream_options");
    for (size_t i = 0; i < p->quirks.n_drop_fields; i++)
        json_object_del(root, p->quirks.drop_fields[i]);
    size_t orig = out->len;
    if (json_dump_callback(root, pq_dump_cb, out, JSON_COMPACT) < 0) {
        if (out->len > orig) {
            out->len = orig;
            out->data[orig] = '\0';
        }
        snprintf(err, errlen, "request body: exceeds the size cap or out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    buf_free(&tmp);
    return rc;
}

/* RFC 3986 unreserved characters pass; everything else is %XX. */
static int pq_append_escaped(buf_t *b, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || strchr("-._~", *c);
        if (plain ? buf_append_char(b, (char)*c) < 0 : buf_printf(b, "%%%02X", *c) < 0)
            return -1;
    }
    return 0;
}

char *provider_quirks_url(const table_provider_t *p, const char *path, bool chat,
                          const char *upstream_model, arena_t *a)
{
    return provider_quirks_url_version(p, path, chat, upstream_model, NULL, a);
}

char *provider_quirks_url_version(const table_provider_t *p, const char *path, bool chat,
                                  const char *upstream_model, const char *api_version, arena_t *a)
{
    const char *version = provider_quirks_api_version(p, api_version);
    buf_t b = BUF_INIT(64 * 1024);
    char *url = NULL;
    const char *tmpl = chat && p->quirks.chat_path ? p->quirks.chat_path : path;
    if (buf_append_str(&b, p->base_url) < 0)
        goto out;
    for (const char *c = tmpl; *c;) {
        if (strncmp(c, "{model}", 7) == 0) {
            if (pq_append_escaped(&b, upstream_model ? upstream_model : "") < 0)
                goto out;
            c += 7;
        } else if (buf_append_char(&b, *c++) < 0) {
            goto out;
        }
    }
    if (version && pq_azure(p) &&
        (buf_printf(&b, "%capi-version=", strchr(tmpl, '?') ? '&' : '?') < 0 ||
         pq_append_escaped(&b, version) < 0))
        goto out;
    url = arena_strdup(a, buf_cstr(&b));
out:
    buf_free(&b);
    return url;
}

Llmgw__V1__ModelCapabilities *provider_quirks_capabilities(arena_t *a, const table_provider_t *p,
                                                           const table_model_t *m)
{
    Llmgw__V1__ModelCapabilities *c = arena_alloc(a, sizeof(*c));
    if (!c)
        return NULL;
    llmgw__v1__model_capabilities__init(c);
    bool anthropic = p->wire_format && strcmp(p->wire_format, "anthropic") == 0;
    c->tools = m->tools && p->quirks.tools;
    c->vision = m->vision && p->quirks.vision;
    c->json_mode = m->json_mode && p->quirks.json_mode;
    c->stream_usage = anthropic || p->quirks.stream_options; /* message_delta carries usage */
    c->wire_format = (char *)(p->wire_format ? p->wire_format : "openai");
    c->preset = (char *)(p->preset ? p->preset : "");
    return c;
}
