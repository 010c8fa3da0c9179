/* cmd_usage: `llmgw usage report --by team|key|provider|model --since T
 * [--until T] [--format table|csv|json]` — totals of the usage the data
 * planes reported (UsageService.GetUsageReport).
 *
 * Times are UTC: "2026-12-01", "2026-12-01T10:00:00Z", Unix milliseconds, or
 * a span back from now ("90m", "24h", "7d").
 */
#define _XOPEN_SOURCE 700 /* strptime */
#define _DEFAULT_SOURCE   /* timegm */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmgw/v1/usage.pb-c.h"

#define USAGE_CMD "llmgw usage"

static const char usage_usage[] =
    "usage: llmgw usage report --by team|key|provider|model --since T [--until T]\n"
    "                          [--format table|csv|json] [flags]\n"
    "\n"
    "Requests, errors, tokens and cost of the stored usage over [since, until),\n"
    "grouped by team, API key, provider or model, highest cost first.\n"
    "T: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC), Unix milliseconds, or a span\n"
    "back from now: 90m, 24h, 7d. --until defaults to now.\n"
    "\n"
    "flags:\n"
    "  --by G               team, key, provider or model (required)\n"
    "  --since T, --until T the range\n"
    "  --format F           table (default), csv or json (same as --output json)\n" CTL_COMMON_FLAGS
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

/* Unix ms of text; -1 after a message naming the flag. */
static int64_t usage_parse_time(const char *flag, const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    size_t n = strlen(text);
    char *end = NULL;
    if (n > 1 && strchr("mhd", text[n - 1]) && text[0] >= '0' && text[0] <= '9') {
        long long v = strtoll(text, &end, 10);
        if (end == text + n - 1 && v >= 0 && v <= 100LL * 365 * 24 * 60) {
            long long unit = text[n - 1] == 'm'   ? 60000LL
                             : text[n - 1] == 'h' ? 3600000LL
                                                  : 86400000LL;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - v * unit;
        }
    } else if (n > 0 && strspn(text, "0123456789") == n && n <= 15) {
        return strtoll(text, NULL, 10);
    } else {
        const char *rest = strptime(text, "%Y-%m-%d", &tm);
        if (rest && *rest == 'T')
            rest = strptime(rest, "T%H:%M:%SZ", &tm);
        if (rest && *rest == '\0' && tm.tm_year >= 70)
            return (int64_t)timegm(&tm) * 1000;
    }
    fprintf(stderr,
            USAGE_CMD ": %s: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, Unix ms or a span like "
                      "24h, got '%s'\n",
            flag, text);
    return -1;
}

typedef struct {
    ctl_opts_t ctl;
    const char *by, *format;
    int64_t since, until;
} usage_opts_t;

static int usage_parse(int argc, char **argv, usage_opts_t *o)
{
    cmd_args_t a;
    const char *verb = NULL, *v;
    bool have_since = false;
    memset(o, 0, sizeof(*o));
    ctl_opts_init(&o->ctl);
    cmd_args_init(&a, USAGE_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        if (!a.name) {
            if (verb) {
                cmd_usage_error(USAGE_CMD, "unexpected argument '%s'", a.value);
                return -1;
            }
            verb = a.value;
            continue;
        }
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(usage_usage, stdout);
            return 1;
        }
        if (cmd_args_is(&a, "--by")) {
            if (!(o->by = cmd_args_value(&a)))
                return -1;
            if (strcmp(o->by, "team") && strcmp(o->by, "key") && strcmp(o->by, "provider") &&
                strcmp(o->by, "model")) {
                cmd_usage_error(USAGE_CMD, "--by: expected team, key, provider or model, got '%s'",
                                o->by);
                return -1;
            }
        } else if (cmd_args_is(&a, "--since") || cmd_args_is(&a, "--until")) {
            bool since = cmd_args_is(&a, "--since");
            int64_t t;
            if (!(v = cmd_args_value(&a)) ||
                (t = usage_parse_time(since ? "--since" : "--until", v)) < 0)
                return -1;
            if (since) {
                o->since = t;
                have_since = true;
            } else {
                o->until = t;
            }
        } else if (cmd_args_is(&a, "--format")) {
            if (!(o->format = cmd_args_value(&a)))
                return -1;
            if (strcmp(o->format, "table") && strcmp(o->format, "csv") &&
                strcmp(o->format, "json")) {
                cmd_usage_error(USAGE_CMD, "--format: expected table, csv or json, got '%s'",
                                o->format);
                return -1;
            }
        } else {
            if ((common = ctl_common_flag(USAGE_CMD, &a, &o->ctl)) < 0)
                return -1;
            if (common == 0) {
                cmd_usage_error(USAGE_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                a.name);
                return -1;
            }
        }
    }
    if (!verb || strcmp(verb, "report") != 0) {
        cmd_usage_error(USAGE_CMD,
                        verb ? "unknown action '%s' (expected report)"
                             : "expected an action: report%s",
                        verb ? verb : "");
        return -1;
    }
    if (!o->by) {
        cmd_usage_error(USAGE_CMD, "report: --by: required");
        return -1;
    }
    if (!have_since) {
        cmd_usage_error(USAGE_CMD, "report: --since: required");
        return -1;
    }
    if (o->until && o->until <= o->since) {
        cmd_usage_error(USAGE_CMD, "--until: must be after --since");
        return -1;
    }
    if (o->format && strcmp(o->format, "json") == 0)
        o->ctl.json = true;
    return ctl_opts_finish(USAGE_CMD, &o->ctl);
}

static int usage_print(const usage_opts_t *o, const Llmgw__V1__UsageReportResponse *r)
{
    bool csv = o->format && strcmp(o->format, "csv") == 0;
    if (csv) {
        printf("%s,requests,errors,prompt_tokens,completion_tokens,cost_usd\n", o->by);
        for (size_t i = 0; i < r->n_rows; i++) {
            const Llmgw__V1__UsageReportRow *w = r->rows[i];
            cmd_csv_field(stdout, w->group);
            printf(",%lld,%lld,%lld,%lld,%.6f\n", (long long)w->requests, (long long)w->errors,
                   (long long)w->prompt_tokens, (long long)w->completion_tokens, w->cost_usd);
        }
        return CMD_EXIT_OK;
    }
    char title[16];
    snprintf(title, sizeof(title), "%s", o->by);
    for (char *p = title; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    const char *titles[] = {title,           "REQUESTS",          "ERRORS",
                            "PROMPT TOKENS", "COMPLETION TOKENS", "COST"};
    ctl_table_t *t = ctl_table_new(6, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < r->n_rows && rc == CMD_EXIT_OK; i++) {
        const Llmgw__V1__UsageReportRow *w = r->rows[i];
        char req[24], err[24], pt[24], ct[24], cost[32];
        snprintf(req, sizeof(req), "%lld", (long long)w->requests);
        snprintf(err, sizeof(err), "%lld", (long long)w->errors);
        snprintf(pt, sizeof(pt), "%lld", (long long)w->prompt_tokens);
        snprintf(ct, sizeof(ct), "%lld", (long long)w->completion_tokens);
        snprintf(cost, sizeof(cost), "$%.6f", w->cost_usd);
        const char *cells[] = {w->group[0] ? w->group : "(none)", req, err, pt, ct, cost};
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

int cmd_usage(int argc, char **argv)
{
    usage_opts_t o;
    ProtobufCMessage *resp = NULL;
    int pr = usage_parse(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    Llmgw__V1__UsageReportRequest req = LLMGW__V1__USAGE_REPORT_REQUEST__INIT;
    req.by = (char *)o.by;
    req.since_unix_ms = o.since;
    req.until_unix_ms = o.until;
    int rc = ctl_call(&o.ctl, "/llmgw.v1.UsageService/GetUsageReport", &req.base,
                      &llmgw__v1__usage_report_response__descriptor, &resp);
    if (rc != CMD_EXIT_OK)
        return rc;
    rc = o.ctl.json ? ctl_print_json(resp) : usage_print(&o, (const void *)resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
