/* cmd_policy: `llmgw policy set|list|show|delete` — what requests may do,
 * for the organisation, a team or a key (GovernanceService).
 *
 * `set` states the whole policy: a setting not given is cleared (lists
 * empty, caps 0, logging off), so the command line is the policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_gov.h"
#include "llmgw/v1/governance.pb-c.h"

#define POLICY_CMD "llmgw policy"
#define POLICY_RPC "/llmgw.v1.GovernanceService/"

static const char policy_usage[] =
    "usage: llmgw policy set NAME [--scope org|team|key] [--team T | --key K] [settings] [flags]\n"
    "       llmgw policy list [flags]\n"
    "       llmgw policy show NAME [flags]\n"
    "       llmgw policy delete NAME [flags]\n"
    "\n"
    "A policy governs the whole organisation (scope org), a team or one API key. On a\n"
    "data plane the most specific one applies: the key's, else its team's, else the\n"
    "org's. `set` creates the policy or replaces all of its settings; one policy per\n"
    "target. Lists are comma-separated; empty lists mean no restriction.\n"
    "\n"
    "settings:\n"
    "  --scope S            org, team or key (default: team with --team, key with --key, else "
    "org)\n"
    "  --team T / --key K   the team or API key it governs\n"
    "  --allow-providers a,b    only these providers\n"
    "  --deny-providers a,b     never these providers\n"
    "  --allow-models m,..      only these models (provider/model or a bare model name)\n"
    "  --deny-models m,..       never these models\n"
    "  --regions r,..       a deployment's provider must be in one of these regions\n"
    "  --max-tokens N       cap on a request's max_tokens, 1..10000000\n"
    "  --max-prompt-bytes N cap on a request's prompt size, 1..67108864\n"
    "  --redact k,..        PII redacted from prompts: email, phone, card, iban\n"
    "  --log-prompts        data planes may log prompts (default: never)\n"
    "  --log-responses      data planes may log responses (default: never)\n"
    "\n"
    "flags:\n"
    "  --json               the answer as JSON (same as --output json)\n" CTL_COMMON_FLAGS
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

enum { P_SET, P_LIST, P_SHOW, P_DELETE };
static const char *const policy_verbs[] = {"set", "list", "show", "delete", NULL};
enum {
    F_SCOPE,
    F_TEAM,
    F_KEY,
    F_ALLOW_PROV,
    F_DENY_PROV,
    F_ALLOW_MODELS,
    F_DENY_MODELS,
    F_REGIONS,
    F_MAX_TOKENS,
    F_MAX_PROMPT,
    F_REDACT,
    F_LOG_PROMPTS,
    F_LOG_RESPONSES,
    F_N
};

/* The five list settings: flag index and where they go in the message. */
typedef struct {
    int flag;
    size_t msg_offset, n_offset;
} policy_list_t;

#define PL(f, field)                                                                               \
    {                                                                                              \
        f, offsetof(Llmgw__V1__Policy, field), offsetof(Llmgw__V1__Policy, n_##field)              \
    }
static const policy_list_t policy_lists[] = {
    PL(F_ALLOW_PROV, allowed_providers),
    PL(F_DENY_PROV, denied_providers),
    PL(F_ALLOW_MODELS, allowed_models),
    PL(F_DENY_MODELS, denied_models),
    PL(F_REGIONS, regions),
    PL(F_REDACT, redact),
};
#define POLICY_N_LISTS (sizeof(policy_lists) / sizeof(policy_lists[0]))

static void policy_print(const Llmgw__V1__Policy *p)
{
    char buf[6][512], created[32], updated[32];
    gov_join(p->allowed_providers, p->n_allowed_providers, buf[0], sizeof(buf[0]));
    gov_join(p->denied_providers, p->n_denied_providers, buf[1], sizeof(buf[1]));
    gov_join(p->allowed_models, p->n_allowed_models, buf[2], sizeof(buf[2]));
    gov_join(p->denied_models, p->n_denied_models, buf[3], sizeof(buf[3]));
    gov_join(p->regions, p->n_regions, buf[4], sizeof(buf[4]));
    gov_join(p->redact, p->n_redact, buf[5], sizeof(buf[5]));
    gov_time(p->created_unix_ms, created);
    gov_time(p->updated_unix_ms, updated);
    printf("name:              %s\nscope:             %s\ntarget:            %s\n"
           "allowed providers: %s\ndenied providers:  %s\nallowed models:    %s\n"
           "denied models:     %s\nregions:           %s\nmax tokens:        %d\n"
           "max prompt bytes:  %lld\nredact:            %s\nlog prompts:       %s\n"
           "log responses:     %s\ncreated:           %s\nupdated:           %s\n",
           p->name, p->scope, p->target[0] ? p->target : "-", buf[0], buf[1], buf[2], buf[3],
           buf[4], p->max_tokens, (long long)p->max_prompt_bytes, buf[5],
           p->log_prompts ? "yes" : "no", p->log_responses ? "yes" : "no", created, updated);
}

/* "a,b,!c": the allowed names, then the denied ones marked "!"; "-" for none. */
static void policy_allow_deny(char *const *allowed, size_t na, char *const *denied, size_t nd,
                              char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < na + nd; i++) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s%s", i ? "," : "", i < na ? "" : "!",
                 i < na ? allowed[i] : denied[i - na]);
    }
    if (!out[0])
        snprintf(out, size, "-");
}

static int policy_list_print(const Llmgw__V1__ListPoliciesResponse *l)
{
    static const char *const titles[] = {"NAME",    "SCOPE",      "TARGET", "PROVIDERS", "MODELS",
                                         "REGIONS", "MAX_TOKENS", "REDACT", "LOG"};
    ctl_table_t *t = ctl_table_new(9, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < l->n_policies && rc == CMD_EXIT_OK; i++) {
        const Llmgw__V1__Policy *p = l->policies[i];
        char prov[420], models[420], regions[200], redact[64], maxt[24], log[32];
        policy_allow_deny(p->allowed_providers, p->n_allowed_providers, p->denied_providers,
                          p->n_denied_providers, prov, sizeof(prov));
        policy_allow_deny(p->allowed_models, p->n_allowed_models, p->denied_models,
                          p->n_denied_models, models, sizeof(models));
        gov_join(p->regions, p->n_regions, regions, sizeof(regions));
        gov_join(p->redact, p->n_redact, redact, sizeof(redact));
        gov_limit(p->max_tokens, maxt);
        snprintf(log, sizeof(log), "%s",
                 p->log_prompts && p->log_responses ? "prompts,responses"
                 : p->log_prompts                   ? "prompts"
                 : p->log_responses                 ? "responses"
                                                    : "-");
        const char *cells[] = {p->name, p->scope, p->target[0] ? p->target : "-",
                               prov,    models,   regions,
                               maxt,    redact,   log};
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

/* Scope and target from --scope / --team / --key. -1 after a message. */
static int policy_target(gov_flag_t *f, const char **scope, const char **target)
{
    if (f[F_TEAM].seen && f[F_KEY].seen) {
        cmd_usage_error(POLICY_CMD, "--team and --key exclude each other");
        return -1;
    }
    const char *implied = f[F_TEAM].seen ? "team" : f[F_KEY].seen ? "key" : "org";
    *scope = f[F_SCOPE].seen ? f[F_SCOPE].str : implied;
    *target = f[F_TEAM].seen ? f[F_TEAM].str : f[F_KEY].seen ? f[F_KEY].str : "";
    if (strcmp(*scope, "org") != 0 && strcmp(*scope, "team") != 0 && strcmp(*scope, "key") != 0) {
        cmd_usage_error(POLICY_CMD, "--scope: expected org, team or key, got '%s'", *scope);
        return -1;
    }
    if (strcmp(*scope, implied) != 0) {
        if (strcmp(*scope, "org") == 0) {
            cmd_usage_error(POLICY_CMD, "%s: not with --scope org",
                            f[F_TEAM].seen ? "--team" : "--key");
            return -1;
        }
        cmd_usage_error(POLICY_CMD, "--scope %s: requires --%s", *scope, *scope);
        return -1;
    }
    return 0;
}

static int policy_set(gov_cli_t *g, gov_flag_t *f, ProtobufCMessage **resp)
{
    Llmgw__V1__Policy p = LLMGW__V1__POLICY__INIT;
    Llmgw__V1__SetPolicyRequest req = LLMGW__V1__SET_POLICY_REQUEST__INIT;
    const char *scope, *target;
    int rc = CMD_EXIT_RPC;
    if (policy_target(f, &scope, &target) < 0)
        return CMD_EXIT_USAGE;
    p.name = (char *)g->name;
    p.scope = (char *)scope;
    p.target = (char *)target;
    p.max_tokens = (int32_t)f[F_MAX_TOKENS].num;
    p.max_prompt_bytes = f[F_MAX_PROMPT].num;
    p.log_prompts = f[F_LOG_PROMPTS].seen;
    p.log_responses = f[F_LOG_RESPONSES].seen;
    for (size_t i = 0; i < POLICY_N_LISTS; i++) {
        const policy_list_t *pl = &policy_lists[i];
        if (f[pl->flag].seen && gov_split(f[pl->flag].str, (char ***)((char *)&p + pl->msg_offset),
                                          (size_t *)((char *)&p + pl->n_offset)) < 0)
            goto out;
    }
    req.policy = &p;
    rc = ctl_call(&g->ctl, POLICY_RPC "SetPolicy", &req.base, &llmgw__v1__policy_change__descriptor,
                  resp);
out:
    for (size_t i = 0; i < POLICY_N_LISTS; i++)
        gov_split_free(*(char ***)((char *)&p + policy_lists[i].msg_offset),
                       *(size_t *)((char *)&p + policy_lists[i].n_offset));
    return rc;
}

int cmd_policy(int argc, char **argv)
{
    const unsigned set = 1u << P_SET;
    gov_flag_t flags[F_N] = {
        [F_SCOPE] = {"--scope", GOV_STR, 0, 0, set, false, NULL, 0},
        [F_TEAM] = {"--team", GOV_STR, 0, 0, set, false, NULL, 0},
        [F_KEY] = {"--key", GOV_STR, 0, 0, set, false, NULL, 0},
        [F_ALLOW_PROV] = {"--allow-providers", GOV_LIST, 0, 0, set, false, NULL, 0},
        [F_DENY_PROV] = {"--deny-providers", GOV_LIST, 0, 0, set, false, NULL, 0},
        [F_ALLOW_MODELS] = {"--allow-models", GOV_LIST, 0, 0, set, false, NULL, 0},
        [F_DENY_MODELS] = {"--deny-models", GOV_LIST, 0, 0, set, false, NULL, 0},
        [F_REGIONS] = {"--regions", GOV_LIST, 0, 0, set, false, NULL, 0},
        [F_MAX_TOKENS] = {"--max-tokens", GOV_INT, 1, 10000000, set, false, NULL, 0},
        [F_MAX_PROMPT] = {"--max-prompt-bytes", GOV_INT, 1, 67108864, set, false, NULL, 0},
        [F_REDACT] = {"--redact", GOV_LIST, 0, 0, set, false, NULL, 0},
        [F_LOG_PROMPTS] = {"--log-prompts", GOV_BOOL, 0, 0, set, false, NULL, 0},
        [F_LOG_RESPONSES] = {"--log-responses", GOV_BOOL, 0, 0, set, false, NULL, 0},
    };
    gov_cli_t g = {.cmd = POLICY_CMD,
                   .usage = policy_usage,
                   .verbs = policy_verbs,
                   .verbs_with_name = ~(1u << P_LIST),
                   .flags = flags,
                   .n_flags = F_N};
    int pr = gov_parse(&g, argc, argv);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    ProtobufCMessage *resp = NULL;
    int rc;
    if (g.verb == P_SET) {
        rc = policy_set(&g, flags, &resp);
    } else if (g.verb == P_SHOW) {
        Llmgw__V1__GetPolicyRequest req = LLMGW__V1__GET_POLICY_REQUEST__INIT;
        req.name = (char *)g.name;
        rc = ctl_call(&g.ctl, POLICY_RPC "GetPolicy", &req.base, &llmgw__v1__policy__descriptor,
                      &resp);
    } else if (g.verb == P_DELETE) {
        Llmgw__V1__DeletePolicyRequest req = LLMGW__V1__DELETE_POLICY_REQUEST__INIT;
        req.name = (char *)g.name;
        rc = ctl_call(&g.ctl, POLICY_RPC "DeletePolicy", &req.base,
                      &llmgw__v1__governance_change__descriptor, &resp);
    } else {
        Llmgw__V1__ListPoliciesRequest req = LLMGW__V1__LIST_POLICIES_REQUEST__INIT;
        rc = ctl_call(&g.ctl, POLICY_RPC "ListPolicies", &req.base,
                      &llmgw__v1__list_policies_response__descriptor, &resp);
    }
    if (rc != CMD_EXIT_OK)
        return rc;
    if (g.ctl.json) {
        rc = ctl_print_json(resp);
    } else if (g.verb == P_SET) {
        Llmgw__V1__PolicyChange *c = (void *)resp;
        ctl_change_line("policy", g.name, c->created ? "created" : "replaced", c->table_version);
    } else if (g.verb == P_DELETE) {
        ctl_change_line("policy", g.name, "deleted",
                        ((Llmgw__V1__GovernanceChange *)resp)->table_version);
    } else if (g.verb == P_SHOW) {
        policy_print((const void *)resp);
    } else {
        rc = policy_list_print((const void *)resp);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
