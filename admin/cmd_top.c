/* cmd_top: `llmgw top` — the fleet's four analytics panels (providers'
 * performance, cost by provider, routing decisions, throughput) from
 * AnalyticsService, full screen with ncurses, refreshed every interval;
 * `--once` (or stdout not a terminal) prints one plain snapshot.
 *
 * Screen: a header line, a status line, then the panels in a 2 x 2 grid
 * when the terminal has room (TOP_GRID_MIN_COLS x TOP_GRID_MIN_LINES), else
 * stacked one above the other; a resize (KEY_RESIZE) lays them out again.
 * Every panel is clipped to its box, so nothing wraps.
 *
 * A control plane that goes away: the failed refresh keeps the last figures
 * on screen with "control plane unreachable — showing figures from
 * HH:MM:SS, retrying"; every interval opens a fresh channel and tries again,
 * and the line goes once an answer comes. 'q' (or Ctrl-C) quits.
 *
 * Thread model: one thread; the four calls of a refresh run one after the
 * other on a channel of their own, each bounded by --timeout-ms (at most
 * TOP_CALL_MAX_MS, so a hung control plane cannot freeze the screen).
 */
#define _DEFAULT_SOURCE /* localtime_r */
#include "cmd_ctl.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llmgw/v1/analytics.pb-c.h"
#include "timefmt.h"

#define TOP_CMD "llmgw top"
#define TOP_MAX_LINES 64
#define TOP_LINE 256
#define TOP_GRID_MIN_COLS 150
#define TOP_GRID_MIN_LINES 30
#define TOP_CALL_MAX_MS 3000
#define TOP_SPARK_MINUTES 30

static const char top_usage[] =
    "usage: llmgw top [--since T] [--interval-ms N] [--once] [flags]\n"
    "\n"
    "The fleet's four analytics panels — providers (p50/p99 latency, TTFT,\n"
    "tokens/s, success), cost by provider, routing decisions and throughput —\n"
    "refreshed every interval, laid out 2 x 2 when the terminal is wide enough\n"
    "and stacked otherwise. q quits. With --once, or when stdout is not a\n"
    "terminal, one plain snapshot is printed.\n"
    "\n"
    "flags:\n"
    "  --since T            the window's start: a span back from now (15m, 1h, 7d;\n"
    "                       default 15m), RFC 3339, YYYY-MM-DD or Unix ms\n"
    "  --interval-ms N      refresh interval, 200..60000 (default 1000)\n"
    "  --once               print one snapshot and exit\n" CTL_COMMON_FLAGS
    "  -h, --help           show this help\n"
    "\n"
    "exit status: 0 done, 1 the call failed (--once), 2 bad arguments\n";

typedef struct {
    ctl_opts_t ctl;
    int64_t span_ms;  /* > 0: since = now - span */
    int64_t since_ms; /* else a fixed start */
    int interval_ms;
    bool once;
} top_opts_t;

typedef struct {
    const char *title;
    char lines[TOP_MAX_LINES][TOP_LINE];
    int n;
} top_panel_t;

typedef struct {
    top_panel_t panels[4];
    int64_t at_ms; /* when fetched (wall clock) */
} top_snap_t;

static int64_t top_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void top_hms(int64_t unix_ms, char *out, size_t n)
{
    time_t s = (time_t)(unix_ms / 1000);
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(out, n, "%H:%M:%S", &tm);
}

static int top_parse(int argc, char **argv, top_opts_t *o)
{
    cmd_args_t a;
    const char *v;
    memset(o, 0, sizeof(*o));
    ctl_opts_init(&o->ctl);
    o->span_ms = 15 * 60000;
    o->interval_ms = 1000;
    cmd_args_init(&a, TOP_CMD, argc, argv);
    while (cmd_args_next(&a)) {
        int common;
        if (!a.name)
            return cmd_usage_error(TOP_CMD, "unexpected argument '%s'", a.value), -1;
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(top_usage, stdout);
            return 1;
        }
        if (cmd_args_is(&a, "--since")) {
            if (!(v = cmd_args_value(&a)))
                return -1;
            size_t n = strlen(v);
            char err[160];
            if (n > 1 && strchr("mhd", v[n - 1]) && strspn(v, "0123456789") == n - 1 &&
                strtoll(v, NULL, 10) > 0 && strtoll(v, NULL, 10) <= 400LL * 24 * 60) {
                long long k = strtoll(v, NULL, 10);
                o->span_ms = k * (v[n - 1] == 'm'   ? 60000LL
                                  : v[n - 1] == 'h' ? 3600000LL
                                                    : 86400000LL);
            } else if (timefmt_parse(v, &o->since_ms, err, sizeof(err)) == 0) {
                o->span_ms = 0;
            } else {
                return cmd_usage_error(TOP_CMD,
                                       "--since: expected a span like 15m, 1h, 7d or an RFC 3339 "
                                       "time, got '%s'",
                                       v),
                       -1;
            }
        } else if (cmd_args_is(&a, "--interval-ms")) {
            long long n;
            if (!(v = cmd_args_value(&a)) ||
                cmd_parse_int(TOP_CMD, "--interval-ms", v, 200, 60000, &n) < 0)
                return -1;
            o->interval_ms = (int)n;
        } else if (cmd_args_is(&a, "--once")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            o->once = true;
        } else {
            if ((common = ctl_common_flag(TOP_CMD, &a, &o->ctl)) < 0)
                return -1;
            if (common == 0)
                return cmd_usage_error(TOP_CMD, "unknown flag '%.*s'", (int)strcspn(a.name, "="),
                                       a.name),
                       -1;
        }
    }
    if (o->ctl.json)
        return cmd_usage_error(TOP_CMD, "--output json: not for top (use llmgw report)"), -1;
    return ctl_opts_finish(TOP_CMD, &o->ctl);
}

/* --- the panels' text --------------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static void top_line(top_panel_t *p, const char *fmt, ...)
{
    if (p->n >= TOP_MAX_LINES)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->lines[p->n++], TOP_LINE, fmt, ap);
    va_end(ap);
}

static void top_fill_providers(top_panel_t *p, const Llmgw__V1__ProviderPerformanceResponse *r)
{
    top_line(p, "%-28s %8s %7s %8s %8s %8s %7s %7s", "DEPLOYMENT", "ATTEMPTS", "SUCCESS", "P50 MS",
             "P99 MS", "TTFT P50", "TOK/S", "BREAKER");
    for (size_t i = 0; i < r->n_deployments; i++) {
        const Llmgw__V1__DeploymentPerformance *d = r->deployments[i];
        char dep[160];
        snprintf(dep, sizeof(dep), "%s/%s", d->provider, d->model);
        top_line(p, "%-28.28s %8lld %6.1f%% %8.1f %8.1f %8.1f %7.1f %7lld", dep,
                 (long long)d->attempts, d->success_rate * 100, d->latency_p50_ms,
                 d->latency_p99_ms, d->ttft_p50_ms, d->tokens_per_s, (long long)d->breaker_opened);
    }
    if (r->n_deployments == 0)
        top_line(p, "(no traffic in the window)");
}

static void top_fill_cost(top_panel_t *p, const Llmgw__V1__CostReportResponse *r)
{
    top_line(p, "%-20s %9s %14s %7s %12s", "PROVIDER", "REQUESTS", "COST", "SHARE", "COST/1K OK");
    for (size_t i = 0; i < r->n_groups; i++) {
        const Llmgw__V1__CostGroup *g = r->groups[i];
        top_line(p, "%-20.20s %9lld %14.6f %6.1f%% %12.4f", g->group[0] ? g->group : "(none)",
                 (long long)g->requests, g->cost_usd, g->share * 100, g->cost_per_1k_ok_usd);
    }
    if (r->total)
        top_line(p, "%-20s %9lld %14.6f %6.1f%% %12.4f", "TOTAL", (long long)r->total->requests,
                 r->total->cost_usd, r->total->cost_usd > 0 ? 100.0 : 0.0,
                 r->total->cost_per_1k_ok_usd);
}

static void top_fill_routing(top_panel_t *p, const Llmgw__V1__RoutingDecisionsResponse *r)
{
    char reasons[TOP_LINE] = "";
    size_t used = 0;
    for (size_t i = 0; i < r->n_top_reasons && used < sizeof(reasons); i++)
        used += (size_t)snprintf(reasons + used, sizeof(reasons) - used, "%s%s=%lld", i ? " " : "",
                                 r->top_reasons[i]->reason, (long long)r->top_reasons[i]->count);
    top_line(p, "decisions %lld  reasons: %s", (long long)r->total_decisions,
             reasons[0] ? reasons : "-");
    top_line(p, "%-12s %-9s %-24s %-12s %7s %6s", "ROUTE", "STRATEGY", "DEPLOYMENT", "REASON",
             "COUNT", "SHARE");
    for (size_t i = 0; i < r->n_decisions; i++) {
        const Llmgw__V1__DecisionRow *d = r->decisions[i];
        char dep[160];
        snprintf(dep, sizeof(dep), "%s/%s", d->provider[0] ? d->provider : "-", d->model);
        top_line(p, "%-12.12s %-9.9s %-24.24s %-12.12s %7lld %5.1f%%",
                 d->route[0] ? d->route : "(direct)", d->strategy, dep, d->reason,
                 (long long)d->count, d->share * 100);
    }
    for (size_t i = 0; i < r->n_deployments; i++) {
        const Llmgw__V1__DeploymentRouting *d = r->deployments[i];
        if (d->fallbacks || d->breaker_opened)
            top_line(p, "%s/%s: %lld fallbacks, breaker opened %lld", d->provider, d->model,
                     (long long)d->fallbacks, (long long)d->breaker_opened);
    }
}

static void top_fill_throughput(top_panel_t *p, const Llmgw__V1__ThroughputResponse *r)
{
    char peak_at[16] = "-";
    if (r->peak_unix_ms)
        top_hms(r->peak_unix_ms, peak_at, sizeof(peak_at));
    top_line(p, "requests %lld  current %.2f req/s  average %.3f req/s  peak %.2f req/s at %s",
             (long long)r->total_requests, r->current_rps, r->average_rps, r->peak_rps, peak_at);
    /* The last minutes as a bar per minute, oldest left. */
    static const char levels[] = " .:-=+*#%@";
    double max = 0;
    for (size_t i = 0; i < r->n_points; i++)
        if (r->points[i]->requests_per_s > max)
            max = r->points[i]->requests_per_s;
    char spark[TOP_SPARK_MINUTES + 1];
    int64_t end = r->until_unix_ms - r->until_unix_ms % 60000;
    for (int k = 0; k < TOP_SPARK_MINUTES; k++) {
        int64_t minute = end - (int64_t)(TOP_SPARK_MINUTES - 1 - k) * 60000;
        double v = 0;
        for (size_t i = 0; i < r->n_points; i++)
            if (r->points[i]->unix_ms == minute)
                v = r->points[i]->requests_per_s;
        int lv = max > 0 ? (int)(v / max * 9 + 0.999) : 0;
        spark[k] = levels[lv < 0 ? 0 : lv > 9 ? 9 : lv];
    }
    spark[TOP_SPARK_MINUTES] = '\0';
    top_line(p, "last %d min [%s]", TOP_SPARK_MINUTES, spark);
}

/* One refresh: four calls on a fresh channel. 0, or -1 with err. */
static int top_fetch(const top_opts_t *o, top_snap_t *s, char *err, size_t errlen)
{
    int64_t now = top_now_ms();
    char since[40];
    timefmt_rfc3339(o->span_ms > 0 ? now - o->span_ms : o->since_ms, since, sizeof(since));
    int timeout = o->ctl.timeout_ms < TOP_CALL_MAX_MS ? o->ctl.timeout_ms : TOP_CALL_MAX_MS;
    cmd_conn_t *c = cmd_conn_open(o->ctl.target, o->ctl.token, timeout);
    if (!c) {
        snprintf(err, errlen, "cannot open a channel to %s", o->ctl.target);
        return -1;
    }
    memset(s, 0, sizeof(*s));
    s->panels[0].title = "Providers";
    s->panels[1].title = "Cost by provider";
    s->panels[2].title = "Routing decisions";
    s->panels[3].title = "Throughput";
    ProtobufCMessage *m[4] = {NULL};
    Llmgw__V1__ProviderPerformanceRequest pr = LLMGW__V1__PROVIDER_PERFORMANCE_REQUEST__INIT;
    Llmgw__V1__CostReportRequest cr = LLMGW__V1__COST_REPORT_REQUEST__INIT;
    Llmgw__V1__RoutingDecisionsRequest rr = LLMGW__V1__ROUTING_DECISIONS_REQUEST__INIT;
    Llmgw__V1__ThroughputRequest tr = LLMGW__V1__THROUGHPUT_REQUEST__INIT;
    pr.since = cr.since = rr.since = tr.since = since;
    cr.group_by = "provider";
    int rc = -1;
    if (cmd_conn_unary(c, "/llmgw.v1.AnalyticsService/ProviderPerformance", &pr.base,
                       &llmgw__v1__provider_performance_response__descriptor, &m[0]) < 0 ||
        cmd_conn_unary(c, "/llmgw.v1.AnalyticsService/CostReport", &cr.base,
                       &llmgw__v1__cost_report_response__descriptor, &m[1]) < 0 ||
        cmd_conn_unary(c, "/llmgw.v1.AnalyticsService/RoutingDecisions", &rr.base,
                       &llmgw__v1__routing_decisions_response__descriptor, &m[2]) < 0 ||
        cmd_conn_unary(c, "/llmgw.v1.AnalyticsService/Throughput", &tr.base,
                       &llmgw__v1__throughput_response__descriptor, &m[3]) < 0) {
        cmd_conn_error(c, err, errlen);
        goto out;
    }
    top_fill_providers(&s->panels[0], (const void *)m[0]);
    top_fill_cost(&s->panels[1], (const void *)m[1]);
    top_fill_routing(&s->panels[2], (const void *)m[2]);
    top_fill_throughput(&s->panels[3], (const void *)m[3]);
    s->at_ms = now;
    rc = 0;
out:
    for (int i = 0; i < 4; i++)
        if (m[i])
            protobuf_c_message_free_unpacked(m[i], NULL);
    cmd_conn_close(c);
    return rc;
}

/* --- plain snapshot --------------------------------------------------------------------- */

static int top_once(const top_opts_t *o)
{
    top_snap_t *s = malloc(sizeof(*s));
    char err[512];
    if (!s) {
        fprintf(stderr, "error: out of memory\n");
        return CMD_EXIT_RPC;
    }
    if (top_fetch(o, s, err, sizeof(err)) < 0) {
        fprintf(stderr, "error: %s\n", err);
        free(s);
        return CMD_EXIT_RPC;
    }
    char at[40];
    timefmt_rfc3339(s->at_ms, at, sizeof(at));
    printf("llmgw top  %s  at %s\n", o->ctl.target, at);
    for (int i = 0; i < 4; i++) {
        printf("\n== %s ==\n", s->panels[i].title);
        for (int k = 0; k < s->panels[i].n; k++)
            printf("%s\n", s->panels[i].lines[k]);
    }
    free(s);
    return CMD_EXIT_OK;
}

/* --- full screen ------------------------------------------------------------------------- */

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
    (void)sig;
    top_stop = 1;
}

/* One panel in the box (y, x, h, w): a title bar, then lines clipped. */
static void top_draw_panel(const top_panel_t *p, int y, int x, int h, int w)
{
    if (h < 1 || w < 4)
        return;
    attron(A_REVERSE);
    mvhline(y, x, ' ', w);
    mvaddnstr(y, x + 1, p->title, w - 2);
    attroff(A_REVERSE);
    for (int k = 0; k < p->n && k < h - 1; k++)
        mvaddnstr(y + 1 + k, x + 1, p->lines[k], w - 2);
}

static void top_draw(const top_opts_t *o, const top_snap_t *s, bool have, const char *status)
{
    erase();
    int rows = LINES, cols = COLS;
    char head[TOP_LINE];
    snprintf(head, sizeof(head), "llmgw top  %s  window %s  (q quits)", o->ctl.target,
             o->span_ms > 0 ? "rolling" : "fixed start");
    mvaddnstr(0, 0, head, cols);
    if (status[0]) {
        attron(A_BOLD);
        mvaddnstr(1, 0, status, cols);
        attroff(A_BOLD);
    }
    if (have) {
        int top = 2, avail = rows - top;
        if (cols >= TOP_GRID_MIN_COLS && rows >= TOP_GRID_MIN_LINES) {
            int hw = cols / 2, hh = avail / 2;
            top_draw_panel(&s->panels[0], top, 0, hh, hw);
            top_draw_panel(&s->panels[1], top, hw, hh, cols - hw);
            top_draw_panel(&s->panels[2], top + hh, 0, avail - hh, hw);
            top_draw_panel(&s->panels[3], top + hh, hw, avail - hh, cols - hw);
        } else {
            /* Stacked: each panel gets a quarter, at least its title. */
            int each = avail / 4 > 1 ? avail / 4 : 1;
            for (int i = 0; i < 4; i++) {
                int h = i < 3 ? each : avail - 3 * each;
                top_draw_panel(&s->panels[i], top + i * each, 0, h, cols);
            }
        }
    }
    refresh();
}

static int top_screen(const top_opts_t *o)
{
    top_snap_t *s = malloc(sizeof(*s)), *next = malloc(sizeof(*next));
    if (!s || !next) {
        free(s);
        free(next);
        fprintf(stderr, "error: out of memory\n");
        return CMD_EXIT_RPC;
    }
    setlocale(LC_ALL, "");
    const char *dash = strcmp(nl_langinfo(CODESET), "UTF-8") == 0 ? "\xe2\x80\x94" : "-";
    signal(SIGINT, top_on_signal);
    signal(SIGTERM, top_on_signal);
    initscr();
    cbreak();
    noecho();
    curs_set(0);
    keypad(stdscr, TRUE);
    timeout(100);
    bool have = false;
    char status[600] = "connecting...", err[512];
    int64_t next_fetch = 0;
    while (!top_stop) {
        int64_t now = top_now_ms();
        if (now >= next_fetch) {
            if (top_fetch(o, next, err, sizeof(err)) == 0) {
                top_snap_t *t = s;
                s = next;
                next = t;
                have = true;
                char at[16];
                top_hms(s->at_ms, at, sizeof(at));
                snprintf(status, sizeof(status), "updated %s", at);
            } else if (have) {
                char at[16];
                top_hms(s->at_ms, at, sizeof(at));
                snprintf(status, sizeof(status),
                         "control plane unreachable %s showing figures from %s, retrying (%s)",
                         dash, at, err);
            } else {
                snprintf(status, sizeof(status), "control plane unreachable %s retrying (%s)", dash,
                         err);
            }
            next_fetch = top_now_ms() + o->interval_ms;
            top_draw(o, s, have, status);
        }
        int ch = getch();
        if (ch == 'q' || ch == 'Q')
            break;
        if (ch == KEY_RESIZE)
            top_draw(o, s, have, status);
    }
    endwin();
    free(s);
    free(next);
    return CMD_EXIT_OK;
}

int cmd_top(int argc, char **argv)
{
    top_opts_t o;
    int pr = top_parse(argc, argv, &o);
    if (pr != 0)
        return pr > 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
    if (o.once || !isatty(STDOUT_FILENO))
        return top_once(&o);
    return top_screen(&o);
}
