/* cmd: the subcommands of the `llmgw` CLI and the helpers they share.
 *
 * Every subcommand takes the arguments after its own name (argv[0] is the
 * subcommand) and returns the process exit status: CMD_EXIT_OK, CMD_EXIT_RPC
 * when the call failed (the message was printed as "error: <STATUS>:
 * <details>"), CMD_EXIT_USAGE when the arguments were wrong (the message
 * names the flag). Answers go to stdout, diagnostics to stderr, so the answer
 * can be piped.
 */
#ifndef LLMGW_CMD_H
#define LLMGW_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "grpc_client.h"

#define CMD_EXIT_OK 0
#define CMD_EXIT_RPC 1
#define CMD_EXIT_USAGE 2

#define CMD_DEFAULT_TARGET "127.0.0.1:50051"
#define CMD_DEFAULT_TIMEOUT_MS 60000
#define CMD_MAX_TIMEOUT_MS 86400000 /* one day */

/* Subcommands. */
int cmd_chat(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_ensemble(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_health(int argc, char **argv);

/* --- flag parsing (cmd_args.c) ---------------------------------------------
 * Flags are "--name value" or "--name=value"; "--" ends the flags. A walker
 * over argv hands out one flag or positional at a time. */
typedef struct {
    int argc;
    char **argv;
    int i;             /* next argv index */
    bool flags_done;   /* "--" seen */
    const char *name;  /* current flag, e.g. "--model"; NULL for a positional */
    const char *value; /* "=value" part, or the positional itself */
    const char *cmd;   /* subcommand name for messages */
} cmd_args_t;

void cmd_args_init(cmd_args_t *a, const char *cmd, int argc, char **argv);
/* 1: one item (flag or positional) is current; 0: argv is exhausted. */
int cmd_args_next(cmd_args_t *a);
/* True when the current item is the flag `name` (e.g. "--model"). */
bool cmd_args_is(const cmd_args_t *a, const char *name);
/* The current flag's value ("--x=v" or the next argument). NULL after
 * printing "<cmd>: <flag>: missing value" when there is none. */
const char *cmd_args_value(cmd_args_t *a);
/* Fails (returns -1) after printing a message when the current flag carries
 * "=value" although it takes none. */
int cmd_args_no_value(const cmd_args_t *a);

/* Strict numbers: the whole text must parse and lie in [min, max]; on failure
 * prints "<cmd>: <flag>: expected …, got '<text>'" and returns -1. */
int cmd_parse_int(const char *cmd, const char *flag, const char *text, long long min, long long max,
                  long long *out);
int cmd_parse_double(const char *cmd, const char *flag, const char *text, double min, double max,
                     double *out);
/* A gRPC target: "HOST:PORT" (port 1..65535), "[v6]:PORT", or an URI with a
 * scheme ("dns:///…", "unix:…"). Prints and returns -1 when malformed. */
int cmd_check_target(const char *cmd, const char *flag, const char *target);
/* Fills what the flags left NULL from the environment: *target from
 * LLMGW_TARGET (checked like --target; default CMD_DEFAULT_TARGET), *key from
 * LLMGW_API_KEY (stays NULL when unset or empty). -1 after a message. */
int cmd_env_defaults(const char *cmd, const char **target, const char **key);
/* One CSV cell on f (cmd_csv.c): as is, or quoted when it holds a comma, a
 * quote or a line break (RFC 4180). No separator. */
void cmd_csv_field(FILE *f, const char *s);
/* Prints "<cmd>: <fmt…>" and a pointer to --help on stderr; returns
 * CMD_EXIT_USAGE. */
int cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- calls (cmd_rpc.c) ------------------------------------------------------
 * A connection is one channel plus what every call carries: the bearer key and
 * the per-call timeout. Calls do not print: on failure they return -1 and keep
 * the status and details for cmd_conn_report, so a caller that has written a
 * partial answer can end its line first. */
typedef struct cmd_conn cmd_conn_t;

/* NULL after printing "error: …" when the channel cannot be created.
 * api_key NULL: no authorization metadata. */
cmd_conn_t *cmd_conn_open(const char *target, const char *api_key, int timeout_ms);
/* A channel to target: TLS when LLMGW_TLS_CA (and for mTLS LLMGW_TLS_CERT,
 * LLMGW_TLS_KEY) name PEM files, else plaintext. NULL after printing why
 * (cmd_tls.c). */
gc_channel_t *cmd_channel_open(const char *target);
void cmd_conn_close(cmd_conn_t *c);
/* Packs `req`, calls `method` and unpacks the answer as `resp_desc` into
 * *resp (the caller frees it with protobuf_c_message_free_unpacked). */
int cmd_conn_unary(cmd_conn_t *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp);

/* Called for each message of a server stream; the message is freed after
 * the callback returns. A negative return cancels the call. */
typedef int (*cmd_stream_fn)(const ProtobufCMessage *msg, void *ctx);
/* One server-streaming call, each message unpacked as `msg_desc`. 0 when the
 * stream ended with OK, -1 otherwise (also when on_msg stopped it). */
int cmd_conn_stream(cmd_conn_t *c, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *msg_desc, cmd_stream_fn on_msg, void *ctx);
/* Prints "error: <STATUS>: <details>" for the last failed call; returns
 * CMD_EXIT_RPC. */
int cmd_conn_report(const cmd_conn_t *c);
/* The same "<STATUS>: <details>" into out, printing nothing (full-screen
 * commands show it in place). */
void cmd_conn_error(const cmd_conn_t *c, char *out, size_t outlen);

#endif
