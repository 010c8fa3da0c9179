/* cmd_health: `llmgw health` — asks a data plane or control plane for its
 * serving status over grpc.health.v1.Health/Check (grpc_health.c), so a
 * container health check, a load balancer script or an operator can probe
 * either binary with the one CLI the images ship. The status goes to stdout,
 * the exit status says it: 0 SERVING, 1 anything else or no answer.
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc_client.h"

#define HEALTH_CMD "llmgw health"
#define HEALTH_DEFAULT_TIMEOUT_MS 3000

static const char health_usage[] =
    "usage: llmgw health [flags]\n"
    "\n"
    "Asks a data plane or control plane for its serving status\n"
    "(grpc.health.v1.Health/Check) and prints it: SERVING, NOT_SERVING, ...\n"
    "\n"
    "flags:\n"
    "  --target HOST:PORT  address (env LLMGW_TARGET, default " CMD_DEFAULT_TARGET ")\n"
    "  --service NAME      one service (\"llmgw.v1.ChatService\"); default \"\": the server\n"
    "  --timeout-ms N      deadline of the call in ms, 1..86400000 (default 3000)\n"
    "  -h, --help          show this help\n"
    "\n"
    "exit status: 0 serving, 1 not serving or no answer, 2 bad arguments\n";

static const char *health_status_name(int s)
{
    switch (s) {
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING:
        return "SERVING";
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING:
        return "NOT_SERVING";
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN:
        return "SERVICE_UNKNOWN";
    default:
        return "UNKNOWN";
    }
}

int cmd_health(int argc, char **argv)
{
    cmd_args_t a;
    const char *target = NULL, *service = "", *v;
    long long n;
    int timeout_ms = HEALTH_DEFAULT_TIMEOUT_MS;

    cmd_args_init(&a, HEALTH_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        if (!a.name)
            return cmd_usage_error(HEALTH_CMD, "unexpected argument '%s'", a.value);
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(health_usage, stdout);
            return CMD_EXIT_OK;
        } else if (cmd_args_is(&a, "--target")) {
            if (!(target = cmd_args_value(&a)) ||
                cmd_check_target(HEALTH_CMD, "--target", target) < 0)
                return CMD_EXIT_USAGE;
        } else if (cmd_args_is(&a, "--service")) {
            if (!(service = cmd_args_value(&a)))
                return CMD_EXIT_USAGE;
        } else if (cmd_args_is(&a, "--timeout-ms")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(HEALTH_CMD, "--timeout-ms", v, 1, CMD_MAX_TIMEOUT_MS, &n) < 0)
                return CMD_EXIT_USAGE;
            timeout_ms = (int)n;
        } else {
            return cmd_usage_error(HEALTH_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                   a.name);
        }
    }
    const char *key = NULL;
    if (cmd_env_defaults(HEALTH_CMD, &target, &key) < 0)
        return CMD_EXIT_USAGE;

    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    uint8_t packed[1024];
    size_t len = grpc__health__v1__health_check_request__get_packed_size(&req);
    if (len > sizeof(packed))
        return cmd_usage_error(HEALTH_CMD, "--service: longer than 1000 bytes");
    grpc__health__v1__health_check_request__pack(&req, packed);

    int rc = CMD_EXIT_RPC;
    buf_t resp = BUF_INIT(64 << 10), details = BUF_INIT(4096);
    gc_channel_t *ch = cmd_channel_open(target);
    if (!ch) {
        fprintf(stderr, "error: %s: cannot create a channel\n", target);
        goto out;
    }
    grpc_status_code st = gc_unary(ch, "/grpc.health.v1.Health/Check", NULL, timeout_ms, packed,
                                   len, &resp, &details);
    if (st != GRPC_STATUS_OK) {
        fprintf(stderr, "error: %s: %s: %.*s\n", target, gc_status_name(st), (int)details.len,
                details.data ? details.data : "");
        goto out;
    }
    Grpc__Health__V1__HealthCheckResponse *r =
        grpc__health__v1__health_check_response__unpack(NULL, resp.len, (const uint8_t *)resp.data);
    if (!r) {
        fprintf(stderr, "error: %s: the answer is not a HealthCheckResponse\n", target);
        goto out;
    }
    printf("%s\n", health_status_name(r->status));
    if (r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
        rc = CMD_EXIT_OK;
    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
out:
    gc_channel_free(ch);
    buf_free(&resp);
    buf_free(&details);
    return rc;
}
