/* cmd_route: `llmgw route add|list|show|remove` — routes of the registry.
 * A deployment is written PROVIDER/MODEL[,weight=W][,priority=P]; model
 * names may hold ':' and '/', never ','. */
#include "cmd_ctl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmgw/v1/control.pb-c.h"

#define ROUTE_CMD "llmgw route"
#define ROUTE_MAX_DEPLOYMENTS 64

static const char route_usage[] =
    "usage: llmgw route add NAME --deployment PROVIDER/MODEL[,weight=W][,priority=P]...\n"
    "                       [--strategy S] [settings] [flags]\n"
    "       llmgw route list [flags]\n"
    "       llmgw route show NAME [flags]\n"
    "       llmgw route edit NAME [--strategy S] [--deployment D]... [settings] [flags]\n"
    "                                 (update is an alias)\n"
    "                       (deployments given replace the list; settings not given are kept)\n"
    "       llmgw route remove NAME [flags]\n"
    "\n"
    "  --strategy S          priority (default), weighted, cost, latency, quality, balanced,\n"
    "                        custom (docs/routing-table.md)\n"
    "  --deployment D        repeatable; weight > 0 (default 1), lower priority first (default 0)\n"
    "\n"
    "settings:\n"
    "  --weights W           balanced/custom scoring: cost=N,latency=N,quality=N,success=N\n"
    "                        (each 0..1000000, absent ones 0; required by custom)\n"
    "  --default-weights     edit: drop the weights (balanced uses the defaults again)\n"
    "  --tolerance X         scoring strategies: load-balance within this fraction, 0..1\n"
    "  --max-attempts N      at most N upstream attempts per request, 0..128 (0: all)\n"
    "  --cache-ttl-ms N      cache answers for N ms, 1..86400000\n"
    "  --cache-max-temperature X  cache only requests with temperature <= X, 0..2 (default 0)\n"
    "  --no-cache            edit: stop caching this route's answers\n"
    "\n"
    "common flags:\n" CTL_COMMON_FLAGS "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

typedef struct {
    Llmgw__V1__Deployment d;
    char provider[128];
    char model[256];
} route_dep_t;

static int route_parse_dep(const char *text, route_dep_t *rd)
{
    llmgw__v1__deployment__init(&rd->d);
    rd->d.weight = 1;
    size_t head = strcspn(text, ",");
    const char *slash = memchr(text, '/', head);
    if (!slash || slash == text || (size_t)(slash - text) + 1 >= head ||
        head - (size_t)(slash - text) >= sizeof(rd->model) ||
        slash - text >= (long)sizeof(rd->provider))
        return cmd_usage_error(
                   ROUTE_CMD,
                   "--deployment: expected PROVIDER/MODEL[,weight=W][,priority=P], got '%s'", text),
               -1;
    snprintf(rd->provider, sizeof(rd->provider), "%.*s", (int)(slash - text), text);
    snprintf(rd->model, sizeof(rd->model), "%.*s", (int)(head - (size_t)(slash - text) - 1),
             slash + 1);
    rd->d.provider = rd->provider;
    rd->d.model = rd->model;
    const char *p = text + head;
    while (*p == ',') {
        p++;
        size_t n = strcspn(p, ",");
        char item[64];
        snprintf(item, sizeof(item), "%.*s", (int)n, p);
        long long prio;
        if (strncmp(item, "weight=", 7) == 0) {
            if (cmd_parse_double(ROUTE_CMD, "--deployment weight", item + 7, 0.000001, 1000000,
                                 &rd->d.weight) < 0)
                return -1;
        } else if (strncmp(item, "priority=", 9) == 0) {
            if (cmd_parse_int(ROUTE_CMD, "--deployment priority", item + 9, -1000000, 1000000,
                              &prio) < 0)
                return -1;
            rd->d.priority = (int)prio;
        } else {
            return cmd_usage_error(
                       ROUTE_CMD, "--deployment: unknown option '%s' (expected weight=, priority=)",
                       item),
                   -1;
        }
        p += n;
    }
    return 0;
}

/* The flags that set a route's scoring, retry and cache settings. */
typedef struct {
    Llmgw__V1__RouteWeights weights;
    Llmgw__V1__RouteCache cache;
    bool set_weights, clear_weights, set_tolerance, set_attempts, set_ttl, set_max_temp, no_cache;
    double tolerance;
    long long attempts;
} route_settings_t;

static int route_parse_weights(const char *text, Llmgw__V1__RouteWeights *w)
{
    llmgw__v1__route_weights__init(w);
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ",");
        char item[64];
        snprintf(item, sizeof(item), "%.*s", (int)n, p);
        char *eq = strchr(item, '=');
        double *slot = NULL;
        if (eq) {
            *eq = '\0';
            slot = strcmp(item, "cost") == 0      ? &w->cost
                   : strcmp(item, "latency") == 0 ? &w->latency
                   : strcmp(item, "quality") == 0 ? &w->quality
                   : strcmp(item, "success") == 0 ? &w->success
                                                  : NULL;
        }
        if (!slot)
            return cmd_usage_error(ROUTE_CMD,
                                   "--weights: expected cost=N,latency=N,quality=N,success=N, "
                                   "got '%s'",
                                   text),
                   -1;
        char flag[80];
        snprintf(flag, sizeof(flag), "--weights %s", item);
        if (cmd_parse_double(ROUTE_CMD, flag, eq + 1, 0, 1000000, slot) < 0)
            return -1;
        p += n;
        if (*p == ',')
            p++;
    }
    if (w->cost + w->latency + w->quality + w->success <= 0)
        return cmd_usage_error(ROUTE_CMD, "--weights: expected at least one weight > 0"), -1;
    return 0;
}

/* 1: a: was a settings flag (parsed into s), 0: not one, -1: bad value. */
static int route_settings_flag(cmd_args_t *a, route_settings_t *s)
{
    const char *v;
    if (cmd_args_is(a, "--weights")) {
        if (!(v = cmd_args_value(a)) || route_parse_weights(v, &s->weights) < 0)
            return -1;
        s->set_weights = true;
    } else if (cmd_args_is(a, "--default-weights")) {
        s->clear_weights = true;
    } else if (cmd_args_is(a, "--tolerance")) {
        if (!(v = cmd_args_value(a)) ||
            cmd_parse_double(ROUTE_CMD, "--tolerance", v, 0, 1, &s->tolerance) < 0)
            return -1;
        s->set_tolerance = true;
    } else if (cmd_args_is(a, "--max-attempts")) {
        if (!(v = cmd_args_value(a)) ||
            cmd_parse_int(ROUTE_CMD, "--max-attempts", v, 0, 128, &s->attempts) < 0)
            return -1;
        s->set_attempts = true;
    } else if (cmd_args_is(a, "--cache-ttl-ms")) {
        long long ttl;
        if (!(v = cmd_args_value(a)) ||
            cmd_parse_int(ROUTE_CMD, "--cache-ttl-ms", v, 1, 86400000, &ttl) < 0)
            return -1;
        s->cache.ttl_ms = ttl;
        s->set_ttl = true;
    } else if (cmd_args_is(a, "--cache-max-temperature")) {
        if (!(v = cmd_args_value(a)) || cmd_parse_double(ROUTE_CMD, "--cache-max-temperature", v, 0,
                                                         2, &s->cache.max_temperature) < 0)
            return -1;
        s->set_max_temp = true;
    } else if (cmd_args_is(a, "--no-cache")) {
        s->no_cache = true;
    } else {
        return 0;
    }
    return 1;
}

/* Applies the settings flags to r. r may point at s's sub-messages afterwards:
 * a caller editing an unpacked message saves r's own pointers first and puts
 * them back before freeing it. */
static int route_settings_apply(route_settings_t *s, Llmgw__V1__Route *r, const char *verb)
{
    if (s->set_weights && s->clear_weights)
        return cmd_usage_error(ROUTE_CMD, "--weights and --default-weights: give one"), -1;
    if (s->no_cache && (s->set_ttl || s->set_max_temp))
        return cmd_usage_error(ROUTE_CMD, "--no-cache and --cache-*: give one"), -1;
    if (s->set_weights)
        r->weights = &s->weights;
    else if (s->clear_weights)
        r->weights = NULL;
    if (s->set_tolerance) {
        r->tolerance_opt_case = LLMGW__V1__ROUTE__TOLERANCE_OPT_TOLERANCE;
        r->tolerance = s->tolerance;
    }
    if (s->set_attempts)
        r->max_attempts = (int32_t)s->attempts;
    if (s->no_cache) {
        r->cache = NULL;
    } else if (s->set_ttl || s->set_max_temp) {
        if (!s->set_ttl && !r->cache)
            return cmd_usage_error(ROUTE_CMD,
                                   "%s: --cache-max-temperature: needs --cache-ttl-ms (the route "
                                   "is not cached)",
                                   verb),
                   -1;
        if (!s->set_ttl)
            s->cache.ttl_ms = r->cache->ttl_ms;
        if (!s->set_max_temp)
            s->cache.max_temperature = r->cache ? r->cache->max_temperature : 0;
        r->cache = &s->cache;
    }
    return 0;
}

/* The SETTINGS cell: what the route sets beyond its strategy. */
static void route_settings_text(const Llmgw__V1__Route *r, char *out, size_t n)
{
    int len = snprintf(out, n, "%s", "");
    if (r->weights)
        len += snprintf(out + len, n - (size_t)len, "weights=%g/%g/%g/%g ", r->weights->cost,
                        r->weights->latency, r->weights->quality, r->weights->success);
    if (r->tolerance_opt_case && (size_t)len < n)
        len += snprintf(out + len, n - (size_t)len, "tolerance=%g ", r->tolerance);
    if (r->max_attempts && (size_t)len < n)
        len += snprintf(out + len, n - (size_t)len, "max_attempts=%d ", r->max_attempts);
    if (r->cache && (size_t)len < n)
        len += snprintf(out + len, n - (size_t)len, "cache=%lldms(t<=%g) ",
                        (long long)r->cache->ttl_ms, r->cache->max_temperature);
    if (len > 0 && (size_t)len <= n && out[len - 1] == ' ')
        out[len - 1] = '\0';
    if (!out[0])
        snprintf(out, n, "-");
}

static int route_print(const ctl_opts_t *o, Llmgw__V1__Route **rs, size_t n,
                       const ProtobufCMessage *whole)
{
    if (o->json)
        return ctl_print_json(whole);
    static const char *const titles[] = {"NAME", "STRATEGY", "SETTINGS", "DEPLOYMENTS"};
    ctl_table_t *t = ctl_table_new(4, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < n && rc == CMD_EXIT_OK; i++) {
        char deps[4096] = "";
        for (size_t k = 0; k < rs[i]->n_deployments; k++) {
            Llmgw__V1__Deployment *d = rs[i]->deployments[k];
            snprintf(deps + strlen(deps), sizeof(deps) - strlen(deps), "%s%s/%s(w=%g,p=%d)",
                     k ? " " : "", d->provider, d->model, d->weight, d->priority);
        }
        char settings[256];
        route_settings_text(rs[i], settings, sizeof(settings));
        const char *cells[] = {rs[i]->name, rs[i]->strategy, settings, deps};
        if (ctl_table_row(t, cells) < 0)
            rc = CMD_EXIT_RPC;
    }
    if (rc == CMD_EXIT_OK)
        ctl_table_print(t);
    ctl_table_free(t);
    return rc;
}

int cmd_route(int argc, char **argv)
{
    ctl_opts_t ctl;
    cmd_args_t a;
    const char *verb = NULL, *name = NULL, *strategy = NULL;
    static route_dep_t deps[ROUTE_MAX_DEPLOYMENTS];
    Llmgw__V1__Deployment *dptrs[ROUTE_MAX_DEPLOYMENTS];
    size_t n_deps = 0;
    ProtobufCMessage *resp = NULL;
    route_settings_t settings;
    int rc;

    memset(&settings, 0, sizeof(settings));
    llmgw__v1__route_cache__init(&settings.cache);
    ctl_opts_init(&ctl);
    cmd_args_init(&a, ROUTE_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        const char *v;
        if (!a.name) {
            if (!verb)
                verb = a.value;
            else if (!name)
                name = a.value;
            else
                return cmd_usage_error(ROUTE_CMD, "unexpected argument '%s'", a.value);
        } else if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(route_usage, stdout);
            return CMD_EXIT_OK;
        } else if ((common = ctl_common_flag(ROUTE_CMD, &a, &ctl)) != 0 ||
                   (common = route_settings_flag(&a, &settings)) != 0) {
            if (common < 0)
                return CMD_EXIT_USAGE;
        } else if (cmd_args_is(&a, "--strategy")) {
            if (!(strategy = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
            static const char *const known[] = {"priority", "weighted", "cost",   "latency",
                                                "quality",  "balanced", "custom", NULL};
            size_t k = 0;
            while (known[k] && strcmp(strategy, known[k]) != 0)
                k++;
            if (!known[k])
                return cmd_usage_error(ROUTE_CMD,
                                       "--strategy: expected priority, weighted, cost, latency, "
                                       "quality, balanced or custom, got '%s'",
                                       strategy);
        } else if (cmd_args_is(&a, "--deployment")) {
            if (!(v = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
            if (n_deps == ROUTE_MAX_DEPLOYMENTS)
                return cmd_usage_error(ROUTE_CMD, "--deployment: at most %d",
                                       ROUTE_MAX_DEPLOYMENTS);
            if (route_parse_dep(v, &deps[n_deps]) < 0)
                return CMD_EXIT_USAGE;
            dptrs[n_deps] = &deps[n_deps].d;
            n_deps++;
        } else {
            return cmd_usage_error(ROUTE_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                   a.name);
        }
    }
    if (!verb) {
        fputs(route_usage, stderr);
        return CMD_EXIT_USAGE;
    }
    if (ctl_opts_finish(ROUTE_CMD, &ctl) < 0)
        return CMD_EXIT_USAGE;
    if (strcmp(verb, "list") == 0) {
        if (name)
            return cmd_usage_error(ROUTE_CMD, "list: unexpected argument '%s'", name);
        Llmgw__V1__ListRoutesRequest req = LLMGW__V1__LIST_ROUTES_REQUEST__INIT;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/ListRoutes", &req.base,
                      &llmgw__v1__list_routes_response__descriptor, &resp);
        if (rc == CMD_EXIT_OK) {
            Llmgw__V1__ListRoutesResponse *l = (void *)resp;
            rc = route_print(&ctl, l->routes, l->n_routes, resp);
        }
        goto out;
    }
    if (!name)
        return cmd_usage_error(ROUTE_CMD, "%s: NAME: required", verb);
    if (strcmp(verb, "show") == 0 || strcmp(verb, "get") == 0) {
        Llmgw__V1__GetRouteRequest req = LLMGW__V1__GET_ROUTE_REQUEST__INIT;
        req.name = (char *)name;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/GetRoute", &req.base,
                      &llmgw__v1__route__descriptor, &resp);
        if (rc == CMD_EXIT_OK) {
            Llmgw__V1__Route *r = (void *)resp;
            rc = route_print(&ctl, &r, 1, resp);
        }
        goto out;
    }
    if (strcmp(verb, "add") == 0) {
        if (n_deps == 0)
            return cmd_usage_error(ROUTE_CMD, "add: --deployment: at least one required");
        Llmgw__V1__Route r = LLMGW__V1__ROUTE__INIT;
        r.name = (char *)name;
        r.strategy = (char *)(strategy ? strategy : "priority");
        r.deployments = dptrs;
        r.n_deployments = n_deps;
        if (settings.clear_weights || settings.no_cache)
            return cmd_usage_error(ROUTE_CMD, "add: --default-weights and --no-cache are for edit");
        if (route_settings_apply(&settings, &r, verb) < 0)
            return CMD_EXIT_USAGE;
        Llmgw__V1__CreateRouteRequest req = LLMGW__V1__CREATE_ROUTE_REQUEST__INIT;
        req.route = &r;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/CreateRoute", &req.base,
                      &llmgw__v1__registry_change__descriptor, &resp);
    } else if (strcmp(verb, "update") == 0 || strcmp(verb, "edit") == 0) {
        Llmgw__V1__GetRouteRequest g = LLMGW__V1__GET_ROUTE_REQUEST__INIT;
        g.name = (char *)name;
        ProtobufCMessage *cur = NULL;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/GetRoute", &g.base,
                      &llmgw__v1__route__descriptor, &cur);
        if (rc != CMD_EXIT_OK)
            return rc;
        Llmgw__V1__Route *r = (void *)cur;
        char *orig_strategy = r->strategy;
        Llmgw__V1__Deployment **orig_deps = r->deployments;
        size_t orig_n = r->n_deployments;
        Llmgw__V1__RouteWeights *orig_weights = r->weights;
        Llmgw__V1__RouteCache *orig_cache = r->cache;
        if (route_settings_apply(&settings, r, verb) < 0) {
            protobuf_c_message_free_unpacked(cur, NULL);
            return CMD_EXIT_USAGE;
        }
        if (strategy)
            r->strategy = (char *)strategy;
        if (n_deps) {
            r->deployments = dptrs;
            r->n_deployments = n_deps;
        }
        Llmgw__V1__UpdateRouteRequest req = LLMGW__V1__UPDATE_ROUTE_REQUEST__INIT;
        req.route = r;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/UpdateRoute", &req.base,
                      &llmgw__v1__registry_change__descriptor, &resp);
        /* Give the unpacked message its own pointers back before freeing it. */
        r->strategy = orig_strategy;
        r->deployments = orig_deps;
        r->n_deployments = orig_n;
        r->weights = orig_weights;
        r->cache = orig_cache;
        protobuf_c_message_free_unpacked(cur, NULL);
    } else if (strcmp(verb, "remove") == 0 || strcmp(verb, "delete") == 0) {
        Llmgw__V1__DeleteRouteRequest req = LLMGW__V1__DELETE_ROUTE_REQUEST__INIT;
        req.name = (char *)name;
        rc = ctl_call(&ctl, "/llmgw.v1.RegistryService/DeleteRoute", &req.base,
                      &llmgw__v1__registry_change__descriptor, &resp);
    } else {
        return cmd_usage_error(
            ROUTE_CMD, "unknown action '%s' (expected add, list, show, edit, remove)", verb);
    }
    if (rc == CMD_EXIT_OK) {
        if (ctl.json)
            rc = ctl_print_json(resp);
        else
            ctl_change_line("route", name,
                            strcmp(verb, "add") == 0           ? "added"
                            : verb[0] == 'u' || verb[0] == 'e' ? "updated"
                                                               : "removed",
                            (long long)((Llmgw__V1__RegistryChange *)resp)->table_version);
    }
out:
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
