/* cmd_budget: `llmgw budget set|list|show|delete` — spending limits
 * (BudgetService, docs/usage.md). `list` and `show` print each budget's spend
 * in its current period: spent, remaining, percent and when the period ends.
 */
#include "cmd_ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmgw/v1/usage.pb-c.h"

#define BUDGET_CMD "llmgw budget"

static const char budget_usage[] =
    "usage: llmgw budget set NAME (--org | --team T | --key K | --provider P)\n"
    "                   --limit-usd X [--period daily|weekly|monthly|total] [--hard | --soft]\n"
    "       llmgw budget list [flags]\n"
    "       llmgw budget show NAME [flags]\n"
    "       llmgw budget delete NAME [flags]\n"
    "\n"
    "A budget limits what the organisation, a team, an API key or a provider may\n"
    "spend per period (periods start at 00:00 UTC; weeks on Monday). Once a hard\n"
    "budget is spent, every data plane refuses the requests it covers\n"
    "(RESOURCE_EXHAUSTED / HTTP 429 naming the budget); a soft budget only alerts.\n"
    "`set` creates the budget or replaces all its settings.\n"
    "\n"
    "flags:\n"
    "  --org | --team T | --key K | --provider P   set: what the budget covers\n"
    "  --limit-usd X        set: the limit in US dollars, > 0 and <= 1e9\n"
    "  --period P           set: daily, weekly, monthly (default), total\n"
    "  --hard | --soft      set: refuse past the limit (default) or only alert\n" CTL_COMMON_FLAGS
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed, 2 bad arguments\n";

typedef struct {
    ctl_opts_t ctl;
    const char *verb, *name;
    const char *scope, *target, *period;
    double limit_usd;
    bool have_limit;
    int hard; /* -1 unset */
} budget_opts_t;

static int budget_scope_flag(budget_opts_t *o, const char *scope, const char *target)
{
    if (o->scope) {
        cmd_usage_error(BUDGET_CMD, "--org, --team, --key, --provider: give exactly one");
        return -1;
    }
    o->scope = scope;
    o->target = target;
    return 0;
}

/* 0 parsed, 1 help shown, -1 bad usage (message printed). */
static int budget_parse(int argc, char **argv, budget_opts_t *o)
{
    cmd_args_t a;
    memset(o, 0, sizeof(*o));
    o->hard = -1;
    ctl_opts_init(&o->ctl);
    cmd_args_init(&a, BUDGET_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        const char *v;
        if (!a.name) {
            if (!o->verb) {
                o->verb = a.value;
            } else if (!o->name) {
                o->name = a.value;
            } else {
                cmd_usage_error(BUDGET_CMD, "unexpected argument '%s'", a.value);
                return -1;
            }
            continue;
        }
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(budget_usage, stdout);
            return 1;
        }
        if (cmd_args_is(&a, "--org")) {
            if (cmd_args_no_value(&a) < 0 || budget_scope_flag(o, "org", "") < 0)
                return -1;
        } else if (cmd_args_is(&a, "--team") || cmd_args_is(&a, "--key") ||
                   cmd_args_is(&a, "--provider")) {
            const char *scope = cmd_args_is(&a, "--team")  ? "team"
                                : cmd_args_is(&a, "--key") ? "key"
                                                           : "provider";
            if (!(v = cmd_args_value(&a)) || budget_scope_flag(o, scope, v) < 0)
                return -1;
        } else if (cmd_args_is(&a, "--period")) {
            if (!(o->period = cmd_args_value(&a)))
                return -1;
            if (strcmp(o->period, "daily") && strcmp(o->period, "weekly") &&
                strcmp(o->period, "monthly") && strcmp(o->period, "total")) {
                cmd_usage_error(BUDGET_CMD,
                                "--period: expected daily, weekly, monthly or total, got '%s'",
                                o->period);
                return -1;
            }
        } else if (cmd_args_is(&a, "--limit-usd")) {
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_double(BUDGET_CMD, "--limit-usd", v, 0, 1e9, &o->limit_usd) < 0)
                return -1;
            if (!(o->limit_usd > 0)) {
                cmd_usage_error(BUDGET_CMD, "--limit-usd: expected a number > 0, got '%s'", v);
                return -1;
            }
            o->have_limit = true;
        } else if (cmd_args_is(&a, "--hard") || cmd_args_is(&a, "--soft")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            int hard = cmd_args_is(&a, "--hard");
            if (o->hard >= 0 && o->hard != hard) {
                cmd_usage_error(BUDGET_CMD, "--hard, --soft: give one");
                return -1;
            }
            o->hard = hard;
        } else {
            if ((common = ctl_common_flag(BUDGET_CMD, &a, &o->ctl)) < 0)
                return -1;
            if (common == 0) {
                cmd_usage_error(BUDGET_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                a.name);
                return -1;
            }
        }
    }
    if (!o->verb) {
        cmd_usage_error(BUDGET_CMD, "expected an action: set, list, show or delete");
        return -1;
    }
    bool set = strcmp(o->verb, "set") == 0, list = strcmp(o->verb, "list") == 0;
    if (!set && !list && strcmp(o->verb, "show") != 0 && strcmp(o->verb, "delete") != 0) {
        cmd_usage_error(BUDGET_CMD, "unknown action '%s' (expected set, list, show, delete)",
                        o->verb);
        return -1;
    }
    if (!list && !o->name) {
        cmd_usage_error(BUDGET_CMD, "%s: NAME: required", o->verb);
        return -1;
    }
    if (list && o->name) {
        cmd_usage_error(BUDGET_CMD, "unexpected argument '%s'", o->name);
        return -1;
    }
    if (set && !o->scope) {
        cmd_usage_error(BUDGET_CMD, "set: one of --org, --team, --key, --provider: required");
        return -1;
    }
    if (set && !o->have_limit) {
        cmd_usage_error(BUDGET_CMD, "set: --limit-usd: required");
        return -1;
    }
    if (!set && (o->scope || o->have_limit || o->period || o->hard >= 0)) {
        cmd_usage_error(BUDGET_CMD, "%s: takes no budget settings (only set does)", o->verb);
        return -1;
    }
    return ctl_opts_finish(BUDGET_CMD, &o->ctl);
}

static void budget_time(int64_t unix_ms, char out[32])
{
    if (unix_ms <= 0) {
        snprintf(out, 32, "never");
        return;
    }
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int budget_print(const Llmgw__V1__BudgetStatus *const *bs, size_t n)
{
    static const char *const titles[] = {"NAME",  "SCOPE",     "TARGET",  "PERIOD", "LIMIT",
                                         "SPENT", "REMAINING", "PERCENT", "ENDS",   "ENFORCEMENT"};
    ctl_table_t *t = ctl_table_new(10, titles);
    int rc = t ? CMD_EXIT_OK : CMD_EXIT_RPC;
    for (size_t i = 0; i < n && rc == CMD_EXIT_OK; i++) {
        const Llmgw__V1__BudgetStatus *s = bs[i];
        const Llmgw__V1__Budget *b = s->budget;
        if (!b)
            continue;
        char limit[32], spent[32], left[32], pct[32], ends[32];
        snprintf(limit, sizeof(limit), "$%.2f", b->limit_usd);
        snprintf(spent, sizeof(spent), "$%.4f", s->spent_usd);
        snprintf(left, sizeof(left), "$%.4f", s->remaining_usd);
        snprintf(pct, sizeof(pct), "%.1f%%", s->percent);
        budget_time(s->period_end_unix_ms, ends);
        const char *cells[] = {
            b->name, b->scope, b->target[0] ? b->target : "-", b->period, limit, spent, left,
            pct,     ends,     b->hard ? "hard" : "soft"};
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

int cmd_budget(int argc, char **argv)
{
    budget_opts_t o;
    ProtobufCMessage *resp = NULL;
    int rc, pr = budget_parse(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    if (strcmp(o.verb, "set") == 0) {
        Llmgw__V1__Budget b = LLMGW__V1__BUDGET__INIT;
        b.name = (char *)o.name;
        b.scope = (char *)o.scope;
        b.target = (char *)o.target;
        b.period = (char *)(o.period ? o.period : "monthly");
        b.limit_usd = o.limit_usd;
        b.hard = o.hard != 0;
        Llmgw__V1__SetBudgetRequest req = LLMGW__V1__SET_BUDGET_REQUEST__INIT;
        req.budget = &b;
        rc = ctl_call(&o.ctl, "/llmgw.v1.BudgetService/SetBudget", &req.base,
                      &llmgw__v1__budget_change__descriptor, &resp);
        if (rc != CMD_EXIT_OK)
            return rc;
        Llmgw__V1__BudgetChange *c = (void *)resp;
        if (o.ctl.json)
            rc = ctl_print_json(resp);
        else
            ctl_change_line("budget", o.name, c->created ? "created" : "updated",
                            (long long)c->table_version);
    } else if (strcmp(o.verb, "delete") == 0) {
        Llmgw__V1__DeleteBudgetRequest req = LLMGW__V1__DELETE_BUDGET_REQUEST__INIT;
        req.name = (char *)o.name;
        rc = ctl_call(&o.ctl, "/llmgw.v1.BudgetService/DeleteBudget", &req.base,
                      &llmgw__v1__budget_change__descriptor, &resp);
        if (rc != CMD_EXIT_OK)
            return rc;
        if (o.ctl.json)
            rc = ctl_print_json(resp);
        else
            ctl_change_line("budget", o.name, "deleted",
                            (long long)((Llmgw__V1__BudgetChange *)resp)->table_version);
    } else if (strcmp(o.verb, "show") == 0) {
        Llmgw__V1__GetBudgetRequest req = LLMGW__V1__GET_BUDGET_REQUEST__INIT;
        req.name = (char *)o.name;
        rc = ctl_call(&o.ctl, "/llmgw.v1.BudgetService/GetBudget", &req.base,
                      &llmgw__v1__budget_status__descriptor, &resp);
        if (rc != CMD_EXIT_OK)
            return rc;
        const Llmgw__V1__BudgetStatus *s = (void *)resp;
        rc = o.ctl.json ? ctl_print_json(resp) : budget_print(&s, 1);
    } else {
        Llmgw__V1__ListBudgetsRequest req = LLMGW__V1__LIST_BUDGETS_REQUEST__INIT;
        rc = ctl_call(&o.ctl, "/llmgw.v1.BudgetService/ListBudgets", &req.base,
                      &llmgw__v1__list_budgets_response__descriptor, &resp);
        if (rc != CMD_EXIT_OK)
            return rc;
        const Llmgw__V1__ListBudgetsResponse *l = (void *)resp;
        rc = o.ctl.json
                 ? ctl_print_json(resp)
                 : budget_print((const Llmgw__V1__BudgetStatus *const *)l->budgets, l->n_budgets);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}
