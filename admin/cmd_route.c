/* cmd_route: `llmgw route add|list|show|remove` — routes of the registry.
 * A deployment is written PROVIDER/MODEL[,weight=W][,priority=P]; model
 * names may hold ':' and '/', never ','. */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmgw/v1/control.pb-c.h"

#define ROUTE_CMD "llmgw route"
#define ROUTE_MAX_DEPLOYMENTS 64

static const char route_usage[] =
    "usage: llmgw route add NAME --deployment PROVIDER/MODEL[,weight=W][,priority=P]...\n"
    "                       [--strategy priority|weighted] [flags]\n"
    "       llmgw route list [flags]\n"
    "       llmgw route show NAME [flags]\n"
    "       llmgw route edit NAME [--strategy S] [--deployment D]... [flags]\n"
    "                                 (update is an alias)\n"
    "                       (deployments given replace the list; others are kept)\n"
    "       llmgw route remove NAME [flags]\n"
    "\n"
    "  --strategy S          priority (default) or weighted\n"
    "  --deployment D        repeatable; weight > 0 (default 1), lower priority first (default 0)\n"
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

static int route_print(const ctl_opts_t *o, Llmgw__V1__Route **rs, size_t n,
                       const ProtobufCMessage *whole)
{
    if (o->json)
        return ctl_print_json(whole);
    static const char *const titles[] = {"NAME", "STRATEGY", "DEPLOYMENTS"};
    ctl_table_t *t = ctl_table_new(3, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < n && rc == CMD_EXIT_OK; i++) {
        char deps[4096] = "";
        for (size_t k = 0; k < rs[i]->n_deployments; k++) {
            Llmgw__V1__Deployment *d = rs[i]->deployments[k];
            snprintf(deps + strlen(deps), sizeof(deps) - strlen(deps), "%s%s/%s(w=%g,p=%d)",
                     k ? " " : "", d->provider, d->model, d->weight, d->priority);
        }
        const char *cells[] = {rs[i]->name, rs[i]->strategy, deps};
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
    int rc;

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
        } else if ((common = ctl_common_flag(ROUTE_CMD, &a, &ctl)) != 0) {
            if (common < 0)
                return CMD_EXIT_USAGE;
        } else if (cmd_args_is(&a, "--strategy")) {
            if (!(strategy = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
            if (strcmp(strategy, "priority") != 0 && strcmp(strategy, "weighted") != 0)
                return cmd_usage_error(
                    ROUTE_CMD, "--strategy: expected priority or weighted, got '%s'", strategy);
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
