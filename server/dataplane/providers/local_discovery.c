/* local_discovery: probe 127.0.0.1 for local LLM servers. See
 * local_discovery.h.
 *
 * Probes use libcurl's easy interface on the calling thread: discovery runs
 * at table load, before or beside serving, never on the request path. A
 * response body is capped; model names that the table would reject are
 * skipped rather than failing the whole table.
 */
#include "local_discovery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <curl/curl.h>

#include "buf.h"
#include "log.h"
#include "presets.h"

#define LD_BODY_CAP (1u << 20)
#define LD_MAX_MODELS 256
#define LD_MODEL_NAME_MAX 128
#define LD_TABLE_MAX (16u << 20)
#define LD_TIMEOUT_MS_DEFAULT 300

static size_t ld_write(char *p, size_t size, size_t n, void *ud)
{
    return buf_append(ud, p, size * n) < 0 ? 0 : size * n;
}

/* GET url into body; the HTTP status, or -1 when nothing answered. */
static long ld_get(const char *url, int timeout_ms, buf_t *body)
{
    CURL *e = curl_easy_init();
    long status = -1;
    if (!e)
        return -1;
    buf_reset(body);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*"); /* 127.0.0.1 never goes through a proxy */
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ld_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

static bool ld_model_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LD_MODEL_NAME_MAX)
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("._-:/@+", *c)))
            return false;
    return true;
}

/* The model names of a listing: Ollama's {"models": [{"name"}]} or OpenAI's
 * {"data": [{"id"}]}. A new array of {"name": ...}; empty when none. */
static json_t *ld_models(const buf_t *body)
{
    json_t *out = json_array();
    json_t *root = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    json_t *list = json_object_get(root, "models");
    const char *key = "name";
    if (!json_is_array(list)) {
        list = json_object_get(root, "data");
        key = "id";
    }
    size_t i;
    json_t *m;
    json_array_foreach(json_is_array(list) ? list : NULL, i, m)
    {
        const char *name = json_string_value(json_object_get(m, key));
        if (!out || json_array_size(out) >= LD_MAX_MODELS)
            break;
        if (name && ld_model_name_ok(name))
            json_array_append_new(out, json_pack("{s:s}", "name", name));
    }
    json_decref(root);
    return out;
}

static int ld_listen_port(const char *listen)
{
    const char *colon = listen ? strrchr(listen, ':') : NULL;
    return colon ? atoi(colon + 1) : -1;
}

/* "ollama:11435,vllm:9000" -> ports[name] = port. */
static int ld_parse_ports(const char *spec, json_t *ports, char *err, size_t errlen)
{
    while (spec && *spec) {
        const char *end = strchr(spec, ',');
        size_t n = end ? (size_t)(end - spec) : strlen(spec);
        char item[96];
        snprintf(item, sizeof(item), "%.*s", (int)(n < sizeof(item) - 1 ? n : sizeof(item) - 1),
                 spec);
        char *colon = strchr(item, ':');
        char *tail = NULL;
        long port = colon ? strtol(colon + 1, &tail, 10) : 0;
        if (!colon || tail == colon + 1 || *tail || port < 1 || port > 65535) {
            snprintf(err, errlen, "--discover-local: expected preset:port, got '%s'", item);
            return -1;
        }
        *colon = '\0';
        if (json_object_set_new(ports, item, json_integer(port)) < 0) {
            snprintf(err, errlen, "--discover-local: out of memory");
            return -1;
        }
        spec = end ? end + 1 : NULL;
    }
    return 0;
}

json_t *local_discovery_probe(const local_discovery_opts_t *o, json_t *ports, char *err,
                              size_t errlen)
{
    presets_local_t local[16];
    size_t n = presets_local(local, 16);
    json_t *overrides = json_object();
    json_t *found = json_array();
    buf_t body = BUF_INIT(LD_BODY_CAP);
    int timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : LD_TIMEOUT_MS_DEFAULT;
    if (!overrides || !found) {
        snprintf(err, errlen, "discover_local: out of memory");
        goto fail;
    }
    if (json_is_object(ports) && json_object_update(overrides, ports) < 0) {
        snprintf(err, errlen, "discover_local: out of memory");
        goto fail;
    }
    if (o && ld_parse_ports(o->ports, overrides, err, errlen) < 0)
        goto fail;
    const char *name;
    json_t *v;
    json_object_foreach(overrides, name, v)
    {
        size_t k = 0;
        while (k < n && strcmp(local[k].name, name) != 0)
            k++;
        if (k == n || !json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > 65535) {
            snprintf(err, errlen, "discover_local.%s: expected a local preset and a port 1..65535",
                     name);
            goto fail;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *ov = json_object_get(overrides, local[i].name);
        int port = ov ? (int)json_integer_value(ov) : local[i].port;
        bool skip = false;
        for (size_t s = 0; o && s < LOCAL_DISCOVERY_MAX_SKIP; s++)
            skip = skip || ld_listen_port(o->skip_listen[s]) == port;
        if (skip) {
            log_info("local discovery skips our own port", "preset=%s port=%d", local[i].name,
                     port);
            continue;
        }
        char url[256];
        json_t *models = NULL;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, local[i].models_path);
        long status = ld_get(url, timeout_ms, &body);
        if (status == 200)
            models = ld_models(&body);
        if ((!models || json_array_size(models) == 0) &&
            strcmp(local[i].models_path, "/v1/models") != 0) {
            json_decref(models);
            models = NULL;
            snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/models", port);
            if (ld_get(url, timeout_ms, &body) == 200)
                models = ld_models(&body);
        }
        if (!models || json_array_size(models) == 0) {
            json_decref(models);
            continue;
        }
        char pname[64], base[128];
        snprintf(pname, sizeof(pname), "local-%s", local[i].name);
        snprintf(base, sizeof(base), "http://127.0.0.1:%d%s", port, local[i].base_path);
        json_t *entry = json_pack("{s:s,s:s,s:s,s:o}", "name", pname, "preset", local[i].name,
                                  "base_url", base, "models", models);
        if (!entry || json_array_append_new(found, entry) < 0) {
            snprintf(err, errlen, "discover_local: out of memory");
            goto fail;
        }
        log_info("local server found", "preset=%s base_url=%s models=%zu", local[i].name, base,
                 json_array_size(json_object_get(entry, "models")));
    }
    json_decref(overrides);
    buf_free(&body);
    return found;
fail:
    json_decref(overrides);
    json_decref(found);
    buf_free(&body);
    return NULL;
}

/* Whether the table has a provider with this name or base_url already. */
static bool ld_known(json_t *providers, json_t *entry)
{
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *base = json_string_value(json_object_get(entry, "base_url"));
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p)
    {
        const char *pn = json_string_value(json_object_get(p, "name"));
        const char *pb = json_string_value(json_object_get(p, "base_url"));
        if ((pn && strcmp(pn, name) == 0) || (pb && strcmp(pb, base) == 0))
            return true;
    }
    return false;
}

table_t *local_discovery_load_file(const char *path, const local_discovery_opts_t *o, char *err,
                                   size_t errlen)
{
    json_error_t jerr;
    table_t *t = NULL;
    json_t *found = NULL;
    struct stat st;
    /* A file the table loader would refuse (missing, too large) is left to it. */
    if (stat(path, &st) < 0 || st.st_size > (off_t)LD_TABLE_MAX)
        return table_load_file(path, err, errlen);
    json_t *root = json_load_file(path, 0, &jerr);
    json_t *flag = json_object_get(root, "discover_local");
    bool wanted = (o && o->enabled) || (flag && !json_is_false(flag));
    if (!json_is_object(root) || !wanted) {
        /* Nothing to add, or a file the table loader must explain. */
        json_decref(root);
        return table_load_file(path, err, errlen);
    }
    if (flag && !json_is_boolean(flag) && !json_is_object(flag)) {
        snprintf(err, errlen, "discover_local: expected true, false or {\"<preset>\": <port>}");
        goto out;
    }
    found = local_discovery_probe(o, json_is_object(flag) ? flag : NULL, err, errlen);
    if (!found)
        goto out;
    json_object_del(root, "discover_local");
    json_t *providers = json_object_get(root, "providers");
    if (!providers) {
        providers = json_array();
        if (!providers || json_object_set_new(root, "providers", providers) < 0) {
            snprintf(err, errlen, "discover_local: out of memory");
            goto out;
        }
    }
    if (json_is_array(providers)) {
        size_t i;
        json_t *entry;
        json_array_foreach(found, i, entry)
        {
            if (!ld_known(providers, entry) && json_array_append(providers, entry) < 0) {
                snprintf(err, errlen, "discover_local: out of memory");
                goto out;
            }
        }
    }
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text) {
        snprintf(err, errlen, "discover_local: out of memory");
        goto out;
    }
    t = table_load_json(text, strlen(text), err, errlen);
    free(text);
out:
    json_decref(found);
    json_decref(root);
    return t;
}
