/* cmd_nodes: `llmgw nodes` (each data-plane node's acked version, last seen
 * and last NACK) and `llmgw table show` (the latest published routing table,
 * API keys redacted) — DistributionService. */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "llmgw/v1/control.pb-c.h"

#define NODES_CMD "llmgw nodes"
#define TABLE_CMD "llmgw table"

static const char nodes_usage[] =
    "usage: llmgw nodes [flags]\n"
    "\n"
    "Lists every data-plane node that subscribed to the control plane: its acked\n"
    "routing-table version against the latest, when it was last seen, its last NACK.\n"
    "\n"
    "flags:\n" CTL_COMMON_FLAGS "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 listed, 1 the call failed, 2 bad arguments\n";

static const char table_usage[] =
    "usage: llmgw table show [flags]\n"
    "\n"
    "Prints the latest published routing table (JSON; API keys redacted).\n"
    "\n"
    "flags:\n" CTL_COMMON_FLAGS "  -h, --help            show this help\n"
    "\n"
    "exit status: 0 shown, 1 the call failed, 2 bad arguments\n";

/* Common flags only, plus the expected positionals. 1: help shown. */
static int ctl_only_flags(const char *cmd, const char *usage, int argc, char **argv, ctl_opts_t *o,
                          const char **positional)
{
    cmd_args_t a;
    ctl_opts_init(o);
    cmd_args_init(&a, cmd, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        if (!a.name) {
            if (positional && !*positional) {
                *positional = a.value;
                continue;
            }
            cmd_usage_error(cmd, "unexpected argument '%s'", a.value);
            return -1;
        }
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(usage, stdout);
            return 1;
        }
        if ((common = ctl_common_flag(cmd, &a, o)) < 0)
            return -1;
        if (common == 0) {
            cmd_usage_error(cmd, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
            return -1;
        }
    }
    return ctl_opts_finish(cmd, o);
}

int cmd_nodes(int argc, char **argv)
{
    ctl_opts_t o;
    ProtobufCMessage *resp = NULL;
    int pr = ctl_only_flags(NODES_CMD, nodes_usage, argc, argv, &o, NULL);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    Llmgw__V1__ListNodesRequest req = LLMGW__V1__LIST_NODES_REQUEST__INIT;
    int rc = ctl_call(&o, "/llmgw.v1.DistributionService/ListNodes", &req.base,
                      &llmgw__v1__list_nodes_response__descriptor, &resp);
    if (rc != CMD_EXIT_OK)
        return rc;
    Llmgw__V1__ListNodesResponse *l = (void *)resp;
    if (o.json) {
        rc = ctl_print_json(resp);
    } else {
        static const char *const titles[] = {"NODE",   "GROUP",     "ACKED",
                                             "LATEST", "LAST SEEN", "LAST NACK"};
        ctl_table_t *t = ctl_table_new(6, titles);
        rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
        for (size_t i = 0; i < l->n_nodes && rc == CMD_EXIT_OK; i++) {
            Llmgw__V1__Node *n = l->nodes[i];
            char acked[24], latest[24], seen[32], nack[600] = "-";
            snprintf(acked, sizeof(acked), "%lld", (long long)n->acked_version);
            snprintf(latest, sizeof(latest), "%lld", (long long)l->latest_version);
            time_t secs = (time_t)(n->last_seen_unix_ms / 1000);
            struct tm tm;
            gmtime_r(&secs, &tm);
            strftime(seen, sizeof(seen), "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (n->nacked_version)
                snprintf(nack, sizeof(nack), "v%lld: %.500s", (long long)n->nacked_version,
                         n->last_nack_error);
            const char *cells[] = {n->node_id, n->group, acked, latest, seen, nack};
            if (ctl_table_row(t, cells) < 0)
                rc = CMD_EXIT_RPC;
        }
        if (rc == CMD_EXIT_OK)
            ctl_table_print(t);
        ctl_table_free(t);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

int cmd_table(int argc, char **argv)
{
    ctl_opts_t o;
    const char *verb = NULL;
    ProtobufCMessage *resp = NULL;
    int pr = ctl_only_flags(TABLE_CMD, table_usage, argc, argv, &o, &verb);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    if (!verb || strcmp(verb, "show") != 0)
        return cmd_usage_error(TABLE_CMD, "expected the action 'show'");
    Llmgw__V1__GetRoutingTableRequest req = LLMGW__V1__GET_ROUTING_TABLE_REQUEST__INIT;
    int rc = ctl_call(&o, "/llmgw.v1.DistributionService/GetRoutingTable", &req.base,
                      &llmgw__v1__routing_table__descriptor, &resp);
    if (rc != CMD_EXIT_OK)
        return rc;
    Llmgw__V1__RoutingTable *t = (void *)resp;
    if (o.json) {
        rc = ctl_print_json(resp);
    } else {
        json_t *j = json_loads(t->table_json, 0, NULL);
        fprintf(stderr, "routing table version %lld sha256 %s\n", (long long)t->version,
                t->checksum_sha256);
        if (j) {
            json_dumpf(j, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(j);
        } else {
            puts(t->table_json);
        }
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
