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
    if (p->api_version && p->auth_style && strcmp(p->auth_style, "api-key") == 0 &&
        (buf_printf(&b, "%capi-version=", strchr(tmpl, '?') ? '&' : '?') < 0 ||
         pq_append_escaped(&b, p->api_version) < 0))
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
