/* cp_probe: GET /models with libcurl's easy interface. See cp_probe.h.
 *
 * Accepts OpenAI's {"data": [{"id": …}]} and a bare array of such objects or
 * strings. The answer is capped at 4 MiB.
 */
#include "cp_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"

#define CP_PROBE_MAX_BODY (4u << 20)
#define CP_PROBE_MAX_TIMEOUT_MS 10000

static size_t cp_probe_write(char *data, size_t size, size_t n, void *ctx)
{
    buf_t *b = ctx;
    return buf_append(b, data, size * n) == 0 ? size * n : 0;
}

static int64_t cp_probe_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Collects the ids of a model list; -1 when the body has another shape. */
static int cp_probe_parse(const char *body, cp_probe_t *p)
{
    json_t *root = json_loads(body, 0, NULL);
    json_t *list = json_is_array(root) ? root : json_object_get(root, "data");
    int rc = -1;
    if (!json_is_array(list))
        goto out;
    size_t n = json_array_size(list);
    if (n && !(p->ids = calloc(n, sizeof(char *))))
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(list, i);
        const char *id =
            json_is_string(m) ? json_string_value(m) : json_string_value(json_object_get(m, "id"));
        if (!id || !*id)
            continue;
        if (!(p->ids[p->n_ids] = strdup(id)))
            goto out;
        p->n_ids++;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int cp_probe_models(const providers_endpoint_t *ep, cp_probe_t *p)
{
    memset(p, 0, sizeof(*p));
    buf_t body = BUF_INIT(CP_PROBE_MAX_BODY);
    buf_t url = BUF_INIT(4096);
    buf_t auth = BUF_INIT(8192);
    struct curl_slist *headers = NULL;
    int rc = -1;
    CURL *h = curl_easy_init();
    if (!h || buf_printf(&url, "%s/models", ep->base_url) < 0) {
        snprintf(p->error, sizeof(p->error), "out of memory");
        goto out;
    }
    if (ep->api_key && strcmp(ep->auth_style, "none") != 0) {
        int w = strcmp(ep->auth_style, "bearer") == 0
                    ? buf_printf(&auth, "Authorization: Bearer %s", ep->api_key)
                    : buf_printf(&auth, "%s: %s", ep->auth_style, ep->api_key);
        if (w < 0 || !(headers = curl_slist_append(headers, auth.data)))
            goto oom;
    }
    for (size_t i = 0; i < ep->n_headers; i++) {
        struct curl_slist *nh = curl_slist_append(headers, ep->headers[i]);
        if (!nh)
            goto oom;
        headers = nh;
    }
    long timeout = ep->timeout_ms > 0 && ep->timeout_ms < CP_PROBE_MAX_TIMEOUT_MS
                       ? ep->timeout_ms
                       : CP_PROBE_MAX_TIMEOUT_MS;
    curl_easy_setopt(h, CURLOPT_URL, url.data);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cp_probe_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    int64_t t0 = cp_probe_now_ms();
    CURLcode cc = curl_easy_perform(h);
    p->latency_ms = cp_probe_now_ms() - t0;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    p->http_status = (int)status;
    if (cc != CURLE_OK) {
        snprintf(p->error, sizeof(p->error), "GET /models: %s", curl_easy_strerror(cc));
        goto out;
    }
    if (status < 200 || status > 299) {
        snprintf(p->error, sizeof(p->error), "GET /models: HTTP %ld", status);
        goto out;
    }
    if (cp_probe_parse(body.len ? body.data : "", p) < 0) {
        snprintf(p->error, sizeof(p->error), "GET /models: not a JSON model list");
        goto out;
    }
    rc = 0;
    goto out;
oom:
    snprintf(p->error, sizeof(p->error), "out of memory");
out:
    curl_slist_free_all(headers);
    if (h)
        curl_easy_cleanup(h);
    if (auth.data)
        memset(auth.data, 0, auth.len);
    buf_free(&auth);
    buf_free(&url);
    buf_free(&body);
    return rc;
}

void cp_probe_free(cp_probe_t *p)
{
    for (size_t i = 0; i < p->n_ids; i++)
        free(p->ids[i]);
    free(p->ids);
    p->ids = NULL;
    p->n_ids = 0;
}
