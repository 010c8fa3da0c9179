/* cmd_team: `llmgw team create|list|show|update|delete` — the teams API
 * keys and policies belong to, with team-wide rate limits
 * (GovernanceService). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_gov.h"
#include "llmgw/v1/governance.pb-c.h"

#define TEAM_CMD "llmgw team"
#define TEAM_RPC "/llmgw.v1.GovernanceService/"

static const char team_usage[] =
    "usage: llmgw team create NAME [--description D] [--rpm N] [--tpm N] [flags]\n"
    "       llmgw team list [flags]\n"
    "       llmgw team show NAME [flags]\n"
    "       llmgw team update NAME [--description D] [--rpm N] [--tpm N] [flags]\n"
    "       llmgw team delete NAME [flags]\n"
    "\n"
    "Teams own API keys and policies. Their limits apply to all the team's keys\n"
    "together, on each data plane (0: unlimited). A team that still owns keys\n"
    "cannot be deleted. Every change publishes a new routing table.\n"
    "\n"
    "flags:\n"
    "  --description D      free text, at most 256 bytes\n"
    "  --rpm N              requests per minute for the team, 0..10000000\n"
    "  --tpm N              tokens per minute for the team, 0..10000000000\n"
    "  --json               the answer as JSON (same as --output json)\n" CTL_COMMON_FLAGS
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

enum { T_CREATE, T_LIST, T_SHOW, T_UPDATE, T_DELETE };
static const char *const team_verbs[] = {"create", "list", "show", "update", "delete", NULL};
#define T_WRITE (1u << T_CREATE | 1u << T_UPDATE)

static void team_print(const Llmgw__V1__Team *t)
{
    char created[32], updated[32], rpm[24], tpm[24];
    gov_time(t->created_unix_ms, created);
    gov_time(t->updated_unix_ms, updated);
    gov_limit(t->requests_per_min, rpm);
    gov_limit(t->tokens_per_min, tpm);
    printf("name:         %s\ndescription:  %s\nrpm:          %s\ntpm:          %s\n"
           "keys:         %d\ncreated:      %s\nupdated:      %s\n",
           t->name, t->description[0] ? t->description : "-", rpm, tpm, t->n_keys, created,
           updated);
}

static int team_list_print(const Llmgw__V1__ListTeamsResponse *l)
{
    static const char *const titles[] = {"NAME", "RPM", "TPM", "KEYS", "DESCRIPTION"};
    ctl_table_t *t = ctl_table_new(5, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < l->n_teams && rc == CMD_EXIT_OK; i++) {
        const Llmgw__V1__Team *m = l->teams[i];
        char rpm[24], tpm[24], keys[16];
        gov_limit(m->requests_per_min, rpm);
        gov_limit(m->tokens_per_min, tpm);
        snprintf(keys, sizeof(keys), "%d", m->n_keys);
        const char *cells[] = {m->name, rpm, tpm, keys, m->description};
        if (ctl_table_row(t, cells) < 0)
            rc = CMD_EXIT_RPC;
    }
    if (rc == CMD_EXIT_OK)
        ctl_table_print(t);
    else
        fprintf(stderr, "error: out of memory\n");
    ctl_table_free(t);
    return rc;
}

int cmd_team(int argc, char **argv)
{
    gov_flag_t flags[] = {
        {"--description", GOV_STR, 0, 0, T_WRITE, false, NULL, 0},
        {"--rpm", GOV_INT, 0, 10000000, T_WRITE, false, NULL, 0},
        {"--tpm", GOV_INT, 0, 10000000000LL, T_WRITE, false, NULL, 0},
    };
    gov_cli_t g = {.cmd = TEAM_CMD,
                   .usage = team_usage,
                   .verbs = team_verbs,
                   .verbs_with_name = ~(1u << T_LIST),
                   .flags = flags,
                   .n_flags = sizeof(flags) / sizeof(flags[0])};
    int pr = gov_parse(&g, argc, argv);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    gov_flag_t *desc = &flags[0], *rpm = &flags[1], *tpm = &flags[2];
    ProtobufCMessage *resp = NULL;
    int rc = CMD_EXIT_OK;
    long long version = -1;

    if (g.verb == T_CREATE) {
        Llmgw__V1__Team team = LLMGW__V1__TEAM__INIT;
        Llmgw__V1__CreateTeamRequest req = LLMGW__V1__CREATE_TEAM_REQUEST__INIT;
        team.name = (char *)g.name;
        team.description = (char *)(desc->seen ? desc->str : "");
        team.requests_per_min = (int32_t)rpm->num;
        team.tokens_per_min = tpm->num;
        req.team = &team;
        rc = ctl_call(&g.ctl, TEAM_RPC "CreateTeam", &req.base, &llmgw__v1__team_change__descriptor,
                      &resp);
        if (rc == CMD_EXIT_OK)
            version = ((Llmgw__V1__TeamChange *)resp)->table_version;
    } else if (g.verb == T_UPDATE) {
        Llmgw__V1__UpdateTeamRequest req = LLMGW__V1__UPDATE_TEAM_REQUEST__INIT;
        char *mask[3];
        req.name = (char *)g.name;
        req.update_mask = mask;
        if (desc->seen) {
            mask[req.n_update_mask++] = "description";
            req.description = (char *)desc->str;
        }
        if (rpm->seen) {
            mask[req.n_update_mask++] = "requests_per_min";
            req.requests_per_min = (int32_t)rpm->num;
        }
        if (tpm->seen) {
            mask[req.n_update_mask++] = "tokens_per_min";
            req.tokens_per_min = tpm->num;
        }
        if (req.n_update_mask == 0)
            return cmd_usage_error(TEAM_CMD, "update: name at least one of --description, --rpm, "
                                             "--tpm");
        rc = ctl_call(&g.ctl, TEAM_RPC "UpdateTeam", &req.base, &llmgw__v1__team_change__descriptor,
                      &resp);
        if (rc == CMD_EXIT_OK)
            version = ((Llmgw__V1__TeamChange *)resp)->table_version;
    } else if (g.verb == T_DELETE) {
        Llmgw__V1__DeleteTeamRequest req = LLMGW__V1__DELETE_TEAM_REQUEST__INIT;
        req.name = (char *)g.name;
        rc = ctl_call(&g.ctl, TEAM_RPC "DeleteTeam", &req.base,
                      &llmgw__v1__governance_change__descriptor, &resp);
        if (rc == CMD_EXIT_OK)
            version = ((Llmgw__V1__GovernanceChange *)resp)->table_version;
    } else if (g.verb == T_SHOW) {
        Llmgw__V1__GetTeamRequest req = LLMGW__V1__GET_TEAM_REQUEST__INIT;
        req.name = (char *)g.name;
        rc = ctl_call(&g.ctl, TEAM_RPC "GetTeam", &req.base, &llmgw__v1__team__descriptor, &resp);
        if (rc == CMD_EXIT_OK && !g.ctl.json)
            team_print((const void *)resp);
    } else {
        Llmgw__V1__ListTeamsRequest req = LLMGW__V1__LIST_TEAMS_REQUEST__INIT;
        rc = ctl_call(&g.ctl, TEAM_RPC "ListTeams", &req.base,
                      &llmgw__v1__list_teams_response__descriptor, &resp);
        if (rc == CMD_EXIT_OK && !g.ctl.json)
            rc = team_list_print((const void *)resp);
    }
    if (rc != CMD_EXIT_OK)
        return rc;
    if (g.ctl.json)
        rc = ctl_print_json(resp);
    else if (version >= 0)
        ctl_change_line("team", g.name,
                        g.verb == T_CREATE   ? "created"
                        : g.verb == T_UPDATE ? "updated"
                                             : "deleted",
                        version);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
