/* llmgw: the command-line client. main dispatches to one subcommand per
 * cmd_*.c file; each parses its own flags and returns the exit status
 * (0 ok, 1 the call failed, 2 bad arguments — see cmd.h).
 *
 * stdout is checked at exit: an answer that could not be written (a full
 * disk, a closed pipe) must not exit 0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "cmd_ctl.h"

#define LLMGW_VERSION "0.1.0"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} main_cmd_t;

static const main_cmd_t main_cmds[] = {
    {"chat", cmd_chat, "send one chat completion to a data plane (Complete / Stream)"},
    {"models", cmd_models, "list the routes and models a data plane serves (ListModels)"},
    {"ensemble", cmd_ensemble,
     "send one prompt to several models and combine the answers (Ensemble)"},
    {"eval", cmd_eval, "score a prompt set across candidates; gate on quality, latency, cost"},
    {"provider", cmd_provider,
     "manage the control plane's providers (add, list, show, edit, test, discover, remove)"},
    {"model", cmd_model, "manage the models of the control plane's providers"},
    {"route", cmd_route, "manage the control plane's routes"},
    {"nodes", cmd_nodes, "data-plane nodes: acked table version, last seen, last NACK"},
    {"table", cmd_table, "show the latest published routing table (keys redacted)"},
    {"migrate", cmd_migrate, "apply pending database migrations (PostgreSQL)"},
    {"audit", cmd_audit, "the audit log: list, export (csv, jsonl), verify its hash chain"},
    {"token", cmd_token, "manage the control plane's admin tokens (create, list, revoke)"},
    {"team", cmd_team, "manage teams and their rate limits (create, list, show, update, delete)"},
    {"key", cmd_key, "manage API keys (create, list, show, update, revoke, rotate, delete)"},
    {"policy", cmd_policy, "manage request policies (set, list, show, delete)"},
    {"budget", cmd_budget, "spending limits with their spend (set, list, show, delete)"},
    {"usage", cmd_usage, "usage totals by team, key, provider or model (report)"},
    {"health", cmd_health,
     "ask a data plane or control plane whether it is serving (Health/Check)"},
    {"report", cmd_report, "fleet analytics: cost by group and day, provider performance"},
    {"top", cmd_top, "the fleet's analytics panels, live in the terminal (--once: a snapshot)"},
};

#define MAIN_N_CMDS (sizeof(main_cmds) / sizeof(main_cmds[0]))

static void main_usage(FILE *out)
{
    fputs("usage: llmgw [--version] [--help] <command> [<flags>]\n\ncommands:\n", out);
    for (size_t i = 0; i < MAIN_N_CMDS; i++)
        fprintf(out, "  %-8s %s\n", main_cmds[i].name, main_cmds[i].summary);
    fputs("\nRun 'llmgw <command> --help' for a command's flags.\n"
          "environment: LLMGW_TARGET (data plane address, default " CMD_DEFAULT_TARGET "),\n"
          "             LLMGW_API_KEY (bearer key when --key is absent),\n"
          "             LLMGW_TLS_CA, LLMGW_TLS_CERT, LLMGW_TLS_KEY (TLS: the server's CA,\n"
          "             the client certificate and key for mTLS; docs/tls.md)\n",
          out);
}

static const main_cmd_t *main_find(const char *name)
{
    for (size_t i = 0; i < MAIN_N_CMDS; i++)
        if (strcmp(main_cmds[i].name, name) == 0)
            return &main_cmds[i];
    return NULL;
}

int main(int argc, char **argv)
{
    int rc;

    if (argc < 2) {
        main_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        main_usage(stdout);
        rc = CMD_EXIT_OK;
    } else if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("llmgw %s\n", LLMGW_VERSION);
        rc = CMD_EXIT_OK;
    } else if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            main_usage(stdout);
            rc = CMD_EXIT_OK;
        } else {
            const main_cmd_t *c = main_find(argv[2]);
            if (!c) {
                fprintf(stderr, "llmgw: help: unknown command '%s'\n", argv[2]);
                return CMD_EXIT_USAGE;
            }
            char *help_argv[] = {argv[2], "--help", NULL};
            rc = c->run(2, help_argv);
        }
    } else {
        const main_cmd_t *c = main_find(name);
        if (!c) {
            fprintf(stderr, "llmgw: unknown command '%s'\n\n", name);
            main_usage(stderr);
            return CMD_EXIT_USAGE;
        }
        rc = c->run(argc - 1, argv + 1);
    }

    if (fflush(stdout) == EOF || ferror(stdout)) {
        fprintf(stderr, "error: stdout: %s\n", strerror(errno));
        return CMD_EXIT_RPC;
    }
    return rc;
}
