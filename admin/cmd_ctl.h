/* cmd_ctl: what the control-plane subcommands share — the common flags
 * (--target, --token, --output, --timeout-ms), one unary call that prints its
 * failure, JSON output and aligned text tables.
 *
 * Defaults: --target from LLMGW_CONTROL_TARGET, else CTL_DEFAULT_TARGET;
 * --token from LLMGW_ADMIN_TOKEN (required: every control-plane RPC is
 * authenticated). Exit codes as cmd.h: 0 ok, 1 the call failed, 2 bad usage.
 */
#ifndef LLMGW_CMD_CTL_H
#define LLMGW_CMD_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "cmd.h"

#define CTL_DEFAULT_TARGET "127.0.0.1:50052"
#define CTL_COMMON_FLAGS                                                                           \
    "  --target HOST:PORT   control plane (env LLMGW_CONTROL_TARGET, default " CTL_DEFAULT_TARGET  \
    ")\n"                                                                                          \
    "  --token T            admin token (env LLMGW_ADMIN_TOKEN)\n"                                 \
    "  --output table|json  output format (default table)\n"                                       \
    "  --timeout-ms N       deadline of the call, 1..86400000 (default 60000)\n"

/* Subcommands (one file each). */
int cmd_provider(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_route(int argc, char **argv);
int cmd_nodes(int argc, char **argv);
int cmd_table(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_team(int argc, char **argv); /* governance: cmd_team.c, cmd_key.c, cmd_policy.c */
int cmd_key(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_budget(int argc, char **argv); /* cmd_budget.c */
int cmd_usage(int argc, char **argv);  /* cmd_usage.c */
int cmd_report(int argc, char **argv); /* cmd_report.c: report cost | providers */
int cmd_top(int argc, char **argv);    /* cmd_top.c: the four analytics panels */

typedef struct {
    const char *target;
    const char *token;
    bool json;
    int timeout_ms;
} ctl_opts_t;

void ctl_opts_init(ctl_opts_t *o);
/* 1: the current flag was a common one (consumed); 0: not common; -1: bad
 * value (message printed). */
int ctl_common_flag(const char *cmd, cmd_args_t *a, ctl_opts_t *o);
/* Fills defaults from the environment; -1 after a message (no token). */
int ctl_opts_finish(const char *cmd, ctl_opts_t *o);
/* One call; on failure prints "error: <STATUS>: <details>" and returns
 * CMD_EXIT_RPC, else CMD_EXIT_OK with *resp set (free with
 * protobuf_c_message_free_unpacked(*resp, NULL)). */
int ctl_call(const ctl_opts_t *o, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);
/* Prints "<what> <name> <done> (table version N)" — or, for version 0,
 * that no table was published because no enabled provider has a model. */
void ctl_change_line(const char *what, const char *name, const char *done, long long version);
/* Prints m as pretty JSON on stdout. CMD_EXIT_OK or CMD_EXIT_RPC. */
int ctl_print_json(const ProtobufCMessage *m);

/* A text table: columns padded to their widest cell. */
typedef struct ctl_table ctl_table_t;
ctl_table_t *ctl_table_new(size_t n_cols, const char *const *titles);
/* Copies n_cols cells. -1 on allocation failure. */
int ctl_table_row(ctl_table_t *t, const char *const *cells);
void ctl_table_print(const ctl_table_t *t);
void ctl_table_free(ctl_table_t *t);

#endif
