/* cmd_provider: `llmgw provider add|list|show|edit|test|discover|remove` (update
 * is an alias of edit) — the
 * providers of the control plane's registry (RegistryService).
 *
 * The API key is read from --api-key-file (or --api-key, which other users
 * of the machine can see in the process list) and only ever sent; answers
 * say whether a key is stored, never the key.
 */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmgw/v1/control.pb-c.h"

#define PROVIDER_CMD "llmgw provider"
#define PROVIDER_MAX_HEADERS 32

static const char provider_usage[] =
    "usage: llmgw provider add NAME (--base-url URL | --preset P) [flags]\n"
    "       llmgw provider list [flags]\n"
    "       llmgw provider show NAME [flags]\n"
    "       llmgw provider edit NAME [flags]     (only the given settings change;\n"
    "                                             update is an alias)\n"
    "       llmgw provider remove NAME [flags]\n"
    "       llmgw provider test NAME [flags]       (GET /models with the stored credentials)\n"
    "       llmgw provider discover NAME [--dry-run] [flags]  (register what /models lists)\n"
    "\n"
    "provider settings:\n"
    "  --base-url URL              http:// or https:// base URL (e.g. https://api.openai.com/v1)\n"
    "  --preset P                  a provider preset (docs/providers.md: openai, groq, vllm,\n"
    "                              ...) filling every setting not given; custom: none\n"
    "  --auth-style S              bearer, x-api-key, api-key or none (default: the preset's,\n"
    "                              else bearer; edit: '' goes back to the preset's)\n"
    "  --wire-format F             openai or anthropic (default: the preset's, else openai)\n"
    "  --api-version V             Azure api-version / anthropic-version (default: the preset's)\n"
    "  --api-key-file PATH         read the API key from the first line of PATH\n"
    "  --api-key KEY               the API key (visible in the process list; prefer the file)\n"
    "  --clear-api-key             edit: remove the stored key\n"
    "  --header 'Name: value'      extra header, repeatable (edit: replaces the list)\n"
    "  --upstream-timeout-ms N     per-attempt timeout, 1..600000 (default 60000)\n"
    "  --region R                  region label\n"
    "  --enabled true|false        disabled providers are left out of the table\n"
    "\n"
    "common flags:\n" CTL_COMMON_FLAGS "  -h, --help                  show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

typedef struct {
    ctl_opts_t ctl;
    const char *verb;
    const char *name;
    const char *base_url, *auth_style, *api_key, *api_key_file, *region, *preset;
    const char *wire_format, *api_version;
    const char *headers[PROVIDER_MAX_HEADERS];
    size_t n_headers;
    bool headers_set, clear_key, dry_run;
    int enabled;                   /* -1 unset */
    long long upstream_timeout_ms; /* 0 unset */
} provider_opts_t;

static int provider_parse(int argc, char **argv, provider_opts_t *o)
{
    cmd_args_t a;
    const char *v;
    memset(o, 0, sizeof(*o));
    ctl_opts_init(&o->ctl);
    o->enabled = -1;
    cmd_args_init(&a, PROVIDER_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        if (!a.name) {
            if (!o->verb)
                o->verb = a.value;
            else if (!o->name)
                o->name = a.value;
            else
                return cmd_usage_error(PROVIDER_CMD, "unexpected argument '%s'", a.value), -1;
        } else if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(provider_usage, stdout);
            return 1;
        } else if ((common = ctl_common_flag(PROVIDER_CMD, &a, &o->ctl)) != 0) {
            if (common < 0)
                return -1;
        } else if (cmd_args_is(&a, "--base-url")) {
            if (!(o->base_url = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--auth-style")) {
            if (!(o->auth_style = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--wire-format")) {
            if (!(o->wire_format = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--api-version")) {
            if (!(o->api_version = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--api-key")) {
            if (!(o->api_key = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--api-key-file")) {
            if (!(o->api_key_file = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--clear-api-key")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->clear_key = true;
        } else if (cmd_args_is(&a, "--dry-run")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->dry_run = true;
        } else if (cmd_args_is(&a, "--header")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            if (!strchr(v, ':') || v[0] == ':')
                return cmd_usage_error(PROVIDER_CMD, "--header: expected 'Name: value', got '%s'",
                                       v),
                       -1;
            if (o->n_headers == PROVIDER_MAX_HEADERS)
                return cmd_usage_error(PROVIDER_CMD, "--header: at most %d", PROVIDER_MAX_HEADERS),
                       -1;
            o->headers[o->n_headers++] = v;
            o->headers_set = true;
        } else if (cmd_args_is(&a, "--upstream-timeout-ms")) {
            if (!(v = cmd_args_value(&a)) || cmd_parse_int(PROVIDER_CMD, "--upstream-timeout-ms", v,
                                                           1, 600000, &o->upstream_timeout_ms) < 0)
                return -1;
        } else if (cmd_args_is(&a, "--region")) {
            if (!(o->region = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--preset")) {
            if (!(o->preset = cmd_args_value(&a)))
                return -1;
        } else if (cmd_args_is(&a, "--enabled")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
                return cmd_usage_error(PROVIDER_CMD, "--enabled: expected true or false, got '%s'",
                                       v),
                       -1;
            o->enabled = strcmp(v, "true") == 0;
        } else {
            cmd_usage_error(PROVIDER_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
            return -1;
        }
    }
    if (!o->verb) {
        fputs(provider_usage, stderr);
        return -1;
    }
    if (o->api_key && o->api_key_file)
        return cmd_usage_error(PROVIDER_CMD, "--api-key and --api-key-file: give one"), -1;
    return ctl_opts_finish(PROVIDER_CMD, &o->ctl);
}

/* The first line of the key file, malloc'd, or NULL after a message. */
static char *provider_read_key(const char *path)
{
    char line[4200];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: --api-key-file: cannot open '%s'\n", PROVIDER_CMD, path);
        return NULL;
    }
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) {
        fprintf(stderr, "%s: --api-key-file: '%s' is empty\n", PROVIDER_CMD, path);
        return NULL;
    }
    return strdup(line);
}

/* Applies the given flags to p. Header strings point into argv / `store`. */
static int provider_apply(provider_opts_t *o, Llmgw__V1__Provider *p, Llmgw__V1__Header *hs,
                          Llmgw__V1__Header **hptrs, char (*store)[2][256], char **key)
{
    if (o->base_url)
        p->base_url = (char *)o->base_url;
    if (o->auth_style)
        p->auth_style = (char *)o->auth_style;
    if (o->region)
        p->region = (char *)o->region;
    if (o->preset)
        p->preset = (char *)o->preset;
    if (o->wire_format)
        p->wire_format = (char *)o->wire_format;
    if (o->api_version)
        p->api_version = (char *)o->api_version;
    if (o->enabled >= 0)
        p->enabled = o->enabled;
    if (o->upstream_timeout_ms)
        p->timeout_ms = (int)o->upstream_timeout_ms;
    if (o->api_key_file) {
        if (!(*key = provider_read_key(o->api_key_file)))
            return -1;
        p->api_key = *key;
    } else if (o->api_key) {
        p->api_key = (char *)o->api_key;
    }
    if (o->headers_set) {
        for (size_t i = 0; i < o->n_headers; i++) {
            const char *colon = strchr(o->headers[i], ':');
            const char *val = colon + 1;
            while (*val == ' ')
                val++;
            snprintf(store[i][0], sizeof(store[i][0]), "%.*s", (int)(colon - o->headers[i]),
                     o->headers[i]);
            snprintf(store[i][1], sizeof(store[i][1]), "%s", val);
            llmgw__v1__header__init(&hs[i]);
            hs[i].name = store[i][0];
            hs[i].value = store[i][1];
            hptrs[i] = &hs[i];
        }
        p->headers = hptrs;
        p->n_headers = o->n_headers;
    }
    return 0;
}

static int provider_print(const ctl_opts_t *o, Llmgw__V1__Provider **ps, size_t n,
                          const ProtobufCMessage *whole)
{
    if (o->json)
        return ctl_print_json(whole);
    static const char *const titles[] = {"NAME",   "PRESET",  "BASE URL", "AUTH",   "API KEY",
                                         "REGION", "TIMEOUT", "ENABLED",  "HEADERS"};
    ctl_table_t *t = ctl_table_new(9, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < n && rc == CMD_EXIT_OK; i++) {
        char timeout[24], headers[1024] = "";
        snprintf(timeout, sizeof(timeout), "%dms", ps[i]->timeout_ms);
        for (size_t h = 0; h < ps[i]->n_headers; h++)
            snprintf(headers + strlen(headers), sizeof(headers) - strlen(headers), "%s%s",
                     h ? "," : "", ps[i]->headers[h]->name);
        /* Empty settings are the preset's. */
        const char *cells[] = {ps[i]->name,
                               ps[i]->preset,
                               ps[i]->base_url[0] ? ps[i]->base_url : "(preset)",
                               ps[i]->auth_style[0] ? ps[i]->auth_style : "(preset)",
                               ps[i]->has_api_key ? "stored" : "none",
                               ps[i]->region,
                               timeout,
                               ps[i]->enabled ? "yes" : "no",
                               headers};
        if (ctl_table_row(t, cells) < 0)
            rc = CMD_EXIT_RPC;
    }
    if (rc == CMD_EXIT_OK)
        ctl_table_print(t);
    ctl_table_free(t);
    return rc;
}

static int provider_change(const provider_opts_t *o, const char *what, const ProtobufCMessage *resp)
{
    const Llmgw__V1__RegistryChange *c = (const void *)resp;
    if (o->ctl.json)
        return ctl_print_json(resp);
    ctl_change_line("provider", o->name, what, (long long)c->table_version);
    return CMD_EXIT_OK;
}

int cmd_provider(int argc, char **argv)
{
    provider_opts_t o;
    ProtobufCMessage *resp = NULL;
    char *key = NULL;
    int rc;
    Llmgw__V1__Header hs[PROVIDER_MAX_HEADERS];
    Llmgw__V1__Header *hptrs[PROVIDER_MAX_HEADERS];
    char store[PROVIDER_MAX_HEADERS][2][256];

    int pr = provider_parse(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    const char *v = o.verb;
    static const char *const verbs[] = {"add",  "list",   "show",   "get",  "update",
                                        "edit", "remove", "delete", "test", "discover"};
    bool known = false;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        known = known || strcmp(v, verbs[i]) == 0;
    if (!known)
        return cmd_usage_error(PROVIDER_CMD,
                               "unknown action '%s' (expected add, list, show, edit, remove, "
                               "test, discover)",
                               v);
    bool needs_name = strcmp(v, "list") != 0;
    if (needs_name && !o.name)
        return cmd_usage_error(PROVIDER_CMD, "%s: NAME: required", v);

    if (strcmp(v, "add") == 0) {
        if (!o.base_url && !o.preset)
            return cmd_usage_error(PROVIDER_CMD, "add: --base-url or --preset: required");
        if (o.clear_key)
            return cmd_usage_error(PROVIDER_CMD, "add: --clear-api-key: only for edit");
        Llmgw__V1__Provider p = LLMGW__V1__PROVIDER__INIT;
        p.name = (char *)o.name;
        p.auth_style = ""; /* the preset's; the registry makes it bearer for custom */
        p.preset = "custom";
        p.enabled = true;
        if (provider_apply(&o, &p, hs, hptrs, store, &key) < 0)
            return CMD_EXIT_USAGE;
        Llmgw__V1__CreateProviderRequest req = LLMGW__V1__CREATE_PROVIDER_REQUEST__INIT;
        req.provider = &p;
        rc = ctl_call(&o.ctl, "/llmgw.v1.RegistryService/CreateProvider", &req.base,
                      &llmgw__v1__registry_change__descriptor, &resp);
        if (rc == CMD_EXIT_OK)
            rc = provider_change(&o, "added", resp);
    } else if (strcmp(v, "update") == 0 || strcmp(v, "edit") == 0) {
        Llmgw__V1__GetProviderRequest g = LLMGW__V1__GET_PROVIDER_REQUEST__INIT;
        g.name = (char *)o.name;
        ProtobufCMessage *cur = NULL;
        rc = ctl_call(&o.ctl, "/llmgw.v1.RegistryService/GetProvider", &g.base,
                      &llmgw__v1__provider__descriptor, &cur);
        if (rc != CMD_EXIT_OK)
            return rc;
        Llmgw__V1__Provider *p = (void *)cur;
        Llmgw__V1__Header **orig_headers = p->headers;
        size_t orig_n = p->n_headers;
        char *orig_strings[7] = {p->base_url, p->auth_style,  p->region,     p->preset,
                                 p->api_key,  p->wire_format, p->api_version};
        if (provider_apply(&o, p, hs, hptrs, store, &key) < 0) {
            protobuf_c_message_free_unpacked(cur, NULL);
            return CMD_EXIT_USAGE;
        }
        Llmgw__V1__UpdateProviderRequest req = LLMGW__V1__UPDATE_PROVIDER_REQUEST__INIT;
        req.provider = p;
        req.clear_api_key = o.clear_key;
        rc = ctl_call(&o.ctl, "/llmgw.v1.RegistryService/UpdateProvider", &req.base,
                      &llmgw__v1__registry_change__descriptor, &resp);
        /* Give the unpacked message its own pointers back before freeing it. */
        p->headers = orig_headers;
        p->n_headers = orig_n;
        p->base_url = orig_strings[0];
        p->auth_style = orig_strings[1];
        p->region = orig_strings[2];
        p->preset = orig_strings[3];
        p->api_key = orig_strings[4];
        p->wire_format = orig_strings[5];
        p->api_version = orig_strings[6];
        protobuf_c_message_free_unpacked(cur, NULL);
        if (rc == CMD_EXIT_OK)
            rc = provider_change(&o, "updated", resp);
    } else if (strcmp(v, "remove") == 0 || strcmp(v, "delete") == 0) {
        Llmgw__V1__DeleteProviderRequest req = LLMGW__V1__DELETE_PROVIDER_REQUEST__INIT;
        req.name = (char *)o.name;
        rc = ctl_call(&o.ctl, "/llmgw.v1.RegistryService/DeleteProvider", &req.base,
                      &llmgw__v1__registry_change__descriptor, &resp);
        if (rc == CMD_EXIT_OK)
            rc = provider_change(&o, "removed", resp);
    } else if (strcmp(v, "show") == 0 || strcmp(v, "get") == 0) {
        Llmgw__V1__GetProviderRequest req = LLMGW__V1__GET_PROVIDER_REQUEST__INIT;
        req.name = (char *)o.name;
        rc = ctl_call(&o.ctl, "/llmgw.v1.RegistryService/GetProvider", &req.base,
                      &llmgw__v1__provider__descriptor, &resp);
        if (rc == CMD_EXIT_OK) {
            Llmgw__V1__Provider *p = (void *)resp;
            rc = provider_print(&o.ctl, &p, 1, resp);
        }
    } else if (strcmp(v, "test") == 0) {
        Llmgw__V1__TestConnectionRequest req = LLMGW__V1__TEST_CONNECTION_REQUEST__INIT;
        req.name = (char *)o.name;
        rc = ctl_call(&o.ctl, "/llmgw.v1.RegistryService/TestConnection", &req.base,
                      &llmgw__v1__test_connection_response__descriptor, &resp);
        if (rc == CMD_EXIT_OK) {
            Llmgw__V1__TestConnectionResponse *t = (void *)resp;
            if (o.ctl.json)
                rc = ctl_print_json(resp);
            else if (t->ok)
                printf("provider %s: ok, HTTP %d in %lld ms, %d models listed\n", o.name,
                       t->http_status, (long long)t->latency_ms, t->models_listed);
            else
                fprintf(stderr, "error: provider %s: failed after %lld ms: %s\n", o.name,
                        (long long)t->latency_ms, t->error);
            /* The provider being unreachable is this command's failure. */
            if (!t->ok)
                rc = CMD_EXIT_RPC;
        }
    } else if (strcmp(v, "discover") == 0) {
        Llmgw__V1__DiscoverModelsRequest req = LLMGW__V1__DISCOVER_MODELS_REQUEST__INIT;
        req.name = (char *)o.name;
        req.dry_run = o.dry_run;
        rc = ctl_call(&o.ctl, "/llmgw.v1.RegistryService/DiscoverModels", &req.base,
                      &llmgw__v1__discover_models_response__descriptor, &resp);
        if (rc == CMD_EXIT_OK) {
            Llmgw__V1__DiscoverModelsResponse *d = (void *)resp;
            if (o.ctl.json) {
                rc = ctl_print_json(resp);
            } else {
                for (size_t i = 0; i < d->n_listed; i++) {
                    bool added = false;
                    for (size_t k = 0; k < d->n_added && !added; k++)
                        added = strcmp(d->added[k], d->listed[i]) == 0;
                    printf("%s/%s%s\n", o.name, d->listed[i], added ? "  (added)" : "");
                }
                if (d->table_version > 0)
                    printf("%zu models added (table version %lld)\n", d->n_added,
                           (long long)d->table_version);
                else
                    printf("%zu models listed, none added\n", d->n_listed);
            }
        }
    } else if (strcmp(v, "list") == 0) {
        if (o.name)
            return cmd_usage_error(PROVIDER_CMD, "list: unexpected argument '%s'", o.name);
        Llmgw__V1__ListProvidersRequest req = LLMGW__V1__LIST_PROVIDERS_REQUEST__INIT;
        rc = ctl_call(&o.ctl, "/llmgw.v1.RegistryService/ListProviders", &req.base,
                      &llmgw__v1__list_providers_response__descriptor, &resp);
        if (rc == CMD_EXIT_OK) {
            Llmgw__V1__ListProvidersResponse *l = (void *)resp;
            rc = provider_print(&o.ctl, l->providers, l->n_providers, resp);
        }
    } else {
        return cmd_usage_error(PROVIDER_CMD,
                               "unknown action '%s' (expected add, list, show, edit, remove)", v);
    }
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    return rc;
}
