/* Unit tests for local_discovery.c: fake local servers (mini_http) on
 * ports handed to the prober instead of the presets' defaults; a closed
 * port; a server that lists nothing; the table flag and the merge into the
 * loaded table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "local_discovery.h"
#include "mini_http.h"
#include "table.h"

static void fake_ollama(void *ud, const mini_http_request_t *req, mini_http_response_t *resp)
{
    static const char tags[] = "{\"models\": [{\"name\": \"llama3:8b\", \"size\": 1},"
                               " {\"name\": \"has spaces\"}, {\"name\": \"qwen2.5:0.5b\"}]}";
    if (strcmp(req->path, "/api/tags") != 0) {
        resp->status = 404;
        return;
    }
    resp->body = tags;
    resp->body_len = sizeof(tags) - 1;
}

static void fake_vllm(void *ud, const mini_http_request_t *req, mini_http_response_t *resp)
{
    static const char models[] = "{\"object\": \"list\", \"data\": [{\"id\": "
                                 "\"Qwen/Qwen2.5-7B-Instruct\", \"object\": \"model\"}]}";
    if (strcmp(req->path, "/v1/models") != 0) {
        resp->status = 404;
        return;
    }
    resp->body = models;
    resp->body_len = sizeof(models) - 1;
}

static void fake_empty(void *ud, const mini_http_request_t *req, mini_http_response_t *resp)
{
    resp->body = "{\"data\": []}";
    resp->body_len = strlen(resp->body);
}

typedef struct {
    mini_http_t *ollama, *vllm, *empty;
    int closed_fd, closed_port;
    char ports[256];
    char dir[64];
} fx_t;

static int fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    fx->ollama = mini_http_start(fake_ollama, NULL);
    fx->vllm = mini_http_start(fake_vllm, NULL);
    fx->empty = mini_http_start(fake_empty, NULL);
    /* Bound, never listening: connecting is refused at once. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    fx->closed_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (!fx->ollama || !fx->vllm || !fx->empty || fx->closed_fd < 0 ||
        bind(fx->closed_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fx->closed_fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    fx->closed_port = ntohs(sa.sin_port);
    snprintf(fx->ports, sizeof(fx->ports),
             "ollama:%u,vllm:%u,lmstudio:%u,localai:%d,text-generation-webui:%d",
             mini_http_port(fx->ollama), mini_http_port(fx->vllm), mini_http_port(fx->empty),
             fx->closed_port, fx->closed_port);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/llmgw-ld-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    mini_http_stop(fx->ollama);
    mini_http_stop(fx->vllm);
    mini_http_stop(fx->empty);
    close(fx->closed_fd);
    char path[128];
    snprintf(path, sizeof(path), "%s/table.json", fx->dir);
    unlink(path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static const char *write_table(fx_t *fx, const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/table.json", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_probe_finds_servers_that_list_models_and_skips_the_rest(void **state)
{
    fx_t *fx = *state;
    local_discovery_opts_t o = {.enabled = true, .ports = fx->ports};
    char err[256] = "";
    json_t *found = local_discovery_probe(&o, NULL, err, sizeof(err));
    assert_non_null(found);
    assert_int_equal(json_array_size(found), 2);
    json_t *ol = json_array_get(found, 0);
    assert_string_equal(json_string_value(json_object_get(ol, "name")), "local-ollama");
    assert_string_equal(json_string_value(json_object_get(ol, "preset")), "ollama");
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%u/v1", mini_http_port(fx->ollama));
    assert_string_equal(json_string_value(json_object_get(ol, "base_url")), base);
    json_t *models = json_object_get(ol, "models");
    assert_int_equal(json_array_size(models), 2); /* "has spaces" is not a model name */
    assert_string_equal(json_string_value(json_object_get(json_array_get(models, 0), "name")),
                        "llama3:8b");
    json_t *vl = json_array_get(found, 1);
    assert_string_equal(json_string_value(json_object_get(vl, "name")), "local-vllm");
    json_decref(found);
}

static void test_probe_skips_our_own_listen_port(void **state)
{
    fx_t *fx = *state;
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", mini_http_port(fx->ollama));
    local_discovery_opts_t o = {.enabled = true, .ports = fx->ports, .skip_listen = {listen}};
    char err[256] = "";
    json_t *found = local_discovery_probe(&o, NULL, err, sizeof(err));
    assert_non_null(found);
    assert_int_equal(json_array_size(found), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(found, 0), "name")),
                        "local-vllm");
    json_decref(found);
}

static void test_bad_port_overrides_are_errors(void **state)
{
    char err[256] = "";
    local_discovery_opts_t o = {.enabled = true, .ports = "ollama:99999"};
    assert_null(local_discovery_probe(&o, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "expected preset:port, got 'ollama:99999'"));
    o.ports = "openai:8000";
    assert_null(local_discovery_probe(&o, NULL, err, sizeof(err)));
    assert_string_equal(err, "discover_local.openai: expected a local preset and a port 1..65535");
}

static void test_table_flag_merges_discovered_providers_into_the_table(void **state)
{
    fx_t *fx = *state;
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"discover_local\": {\"ollama\": %u, \"vllm\": %u, \"lmstudio\": %d, "
             "\"localai\": %d, \"text-generation-webui\": %d},"
             " \"providers\": [{\"name\": \"mine\", \"base_url\": "
             "\"http://127.0.0.1:%u/v1\", \"models\": [{\"name\": \"x\"}]}]}",
             mini_http_port(fx->ollama), mini_http_port(fx->vllm), fx->closed_port, fx->closed_port,
             fx->closed_port, mini_http_port(fx->vllm));
    char err[256] = "";
    local_discovery_opts_t o = {0};
    table_t *t = local_discovery_load_file(write_table(fx, text), &o, err, sizeof(err));
    if (!t)
        fail_msg("%s", err);
    /* vLLM's URL is already provider "mine": not added twice. */
    assert_int_equal(table_n_providers(t), 2);
    const table_provider_t *p = table_find_provider(t, "local-ollama");
    assert_non_null(p);
    assert_string_equal(p->preset, "ollama");
    assert_string_equal(p->auth_style, "none");
    assert_non_null(table_provider_find_model(p, "qwen2.5:0.5b"));
    assert_null(table_find_provider(t, "local-vllm"));
    table_unref(t);
}

static void test_without_flag_or_option_the_table_loads_as_is(void **state)
{
    fx_t *fx = *state;
    char err[256] = "";
    local_discovery_opts_t o = {0};
    table_t *t = local_discovery_load_file(
        write_table(fx, "{\"providers\": [{\"name\": \"a\", \"base_url\": \"http://h/v1\", "
                        "\"models\": [{\"name\": \"m\"}]}]}"),
        &o, err, sizeof(err));
    assert_non_null(t);
    assert_int_equal(table_n_providers(t), 1);
    table_unref(t);
    /* A broken file is explained by the table loader, unchanged. */
    assert_null(
        local_discovery_load_file(write_table(fx, "{\"providers\": 3}"), &o, err, sizeof(err)));
    assert_string_equal(err, "providers: expected a non-empty array");
    assert_null(local_discovery_load_file(
        write_table(fx, "{\"discover_local\": 1, \"providers\": []}"), &o, err, sizeof(err)));
    assert_non_null(strstr(err, "discover_local: expected true, false"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_finds_servers_that_list_models_and_skips_the_rest),
        cmocka_unit_test(test_probe_skips_our_own_listen_port),
        cmocka_unit_test(test_bad_port_overrides_are_errors),
        cmocka_unit_test(test_table_flag_merges_discovered_providers_into_the_table),
        cmocka_unit_test(test_without_flag_or_option_the_table_loads_as_is),
    };
    int rc = cmocka_run_group_tests(tests, fx_setup, fx_teardown);
    curl_global_cleanup();
    return rc;
}
