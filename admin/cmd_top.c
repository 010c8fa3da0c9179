/* cmd_top: `llmgw top` — the web console's four panels in the terminal:
 * Provider Registry, Routing Intelligence, Performance Analytics and
 * Optimization (top_panel.h), full screen with ncurses and refreshed every
 * interval; `--once` (or stdout not a terminal) prints one plain snapshot.
 * This file: the flags, the refresh loop and the keys; the calls are
 * top_data.c, the panels' text top_registry.c, top_routing.c, top_perf.c
 * and top_optim.c (its suggestions suggest.c), the drawing top_draw.c.
 *
 * A resize (KEY_RESIZE) lays the panels out again at once: a 2 x 2 grid
 * when the terminal has room, else stacked and clipped (top_draw.h).
 *
 * A control plane that goes away: the failed refresh keeps the last figures
 * on screen with "control plane unreachable — showing figures from
 * HH:MM:SS, retrying"; every interval opens a fresh channel and tries again,
 * and the line goes once an answer comes. 'q' (or Ctrl-C) quits.
 *
 * Thread model: one thread; the calls of a refresh run one after the other
 * on a channel of their own, each bounded by --timeout-ms (at most
 * TOP_CALL_MAX_MS), and the first that finds the control plane unreachable
 * ends the refresh, so a hung control plane cannot freeze the screen.
 */
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

#include "timefmt.h"
#include "top_data.h"
#include "top_draw.h"
#include "top_panel.h"

#define TOP_CMD "llmgw top"
#define TOP_CALL_MAX_MS 3000

static const char top_usage[] =
    "usage: llmgw top [--since T] [--interval-ms N] [--once] [flags]\n"
    "\n"
    "The web console's four panels in the terminal: Provider Registry (status\n"
    "per provider), Routing Intelligence (strategy, selection and fallback chain\n"
    "per route), Performance Analytics (latency, success, throughput, cost per\n"
    "provider) and Optimization (month-to-date cost, budgets, quality and\n"
    "consistency, suggestions). Refreshed every interval, laid out 2 x 2 when\n"
    "the terminal is wide enough and stacked otherwise. q quits. With --once,\n"
    "or when stdout is not a terminal, one plain snapshot is printed.\n"
    "\n"
    "flags:\n"
    "  --since T            the window of the performance and routing figures: a\n"
    "                       span back from now (15m, 1h, 7d; default 15m), RFC 3339,\n"
    "                       YYYY-MM-DD or Unix ms (registry status, cost to date,\n"
    "                       budgets and suggestions cover the month)\n"
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

static int64_t top_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* --- one refresh ------------------------------------------------------------------------ */

/* Whether the terminal's locale shows UTF-8 (✓ ⚠ ✗ —); else ASCII. */
static bool top_utf8(void)
{
    setlocale(LC_ALL, "");
    return strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
}

static int top_refresh(const top_opts_t *o, top_data_t *d, top_snap_t *s, bool utf8, char *err,
                       size_t errlen)
{
    top_source_t src = {
        .target = o->ctl.target,
        .token = o->ctl.token,
        .timeout_ms = o->ctl.timeout_ms < TOP_CALL_MAX_MS ? o->ctl.timeout_ms : TOP_CALL_MAX_MS,
        .span_ms = o->span_ms,
        .since_ms = o->since_ms,
    };
    int rc = top_data_fetch(&src, d, err, errlen);
    if (rc == 0)
        top_snap_build(s, d, utf8);
    top_data_clear(d); /* the snapshot holds text only */
    return rc;
}

static void top_header(const top_opts_t *o, int64_t at_ms, char *out, size_t n)
{
    char since[40], at[40];
    timefmt_rfc3339(at_ms, at, sizeof(at));
    if (o->span_ms > 0)
        snprintf(since, sizeof(since), "last %lld min", (long long)(o->span_ms / 60000));
    else
        timefmt_rfc3339(o->since_ms, since, sizeof(since));
    snprintf(out, n, "llmgw top  %s  window %s  at %s  (q quits)", o->ctl.target, since, at);
}

/* --- plain snapshot --------------------------------------------------------------------- */

static int top_once(const top_opts_t *o)
{
    top_data_t *d = calloc(1, sizeof(*d));
    top_snap_t *s = malloc(sizeof(*s));
    char err[512], head[TOP_LINE];
    int rc = CMD_EXIT_RPC;
    if (!d || !s) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    if (top_refresh(o, d, s, top_utf8(), err, sizeof(err)) < 0) {
        fprintf(stderr, "error: %s\n", err);
        goto out;
    }
    top_header(o, s->at_ms, head, sizeof(head));
    top_draw_plain(stdout, head, s);
    rc = CMD_EXIT_OK;
out:
    free(d);
    free(s);
    return rc;
}

/* --- full screen ------------------------------------------------------------------------- */

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
    (void)sig;
    top_stop = 1;
}

static int top_screen(const top_opts_t *o)
{
    top_data_t *d = calloc(1, sizeof(*d));
    top_snap_t *s = malloc(sizeof(*s)), *next = malloc(sizeof(*next));
    if (!d || !s || !next) {
        free(d);
        free(s);
        free(next);
        fprintf(stderr, "error: out of memory\n");
        return CMD_EXIT_RPC;
    }
    bool utf8 = top_utf8();
    const char *dash = top_dash(utf8);
    signal(SIGINT, top_on_signal);
    signal(SIGTERM, top_on_signal);
    initscr();
    cbreak();
    noecho();
    curs_set(0);
    keypad(stdscr, TRUE);
    timeout(100);
    bool have = false;
    char status[600] = "connecting...", err[512], head[TOP_LINE];
    int64_t next_fetch = 0;
    top_header(o, top_now_ms(), head, sizeof(head));
    while (!top_stop) {
        int64_t now = top_now_ms();
        if (now >= next_fetch) {
            if (top_refresh(o, d, next, utf8, err, sizeof(err)) == 0) {
                top_snap_t *t = s;
                s = next;
                next = t;
                have = true;
                char at[16];
                top_hms(s->at_ms, at, sizeof(at));
                snprintf(status, sizeof(status), "updated %s", at);
                top_header(o, s->at_ms, head, sizeof(head));
            } else {
                const char *what = strncmp(err, "UNAUTHENTICATED:", 16) == 0
                                       ? "control plane refused the token"
                                       : "control plane unreachable";
                char at[16];
                if (have) {
                    top_hms(s->at_ms, at, sizeof(at));
                    snprintf(status, sizeof(status), "%s %s showing figures from %s, retrying (%s)",
                             what, dash, at, err);
                } else {
                    snprintf(status, sizeof(status), "%s %s retrying (%s)", what, dash, err);
                }
            }
            next_fetch = top_now_ms() + o->interval_ms;
            top_draw_screen(head, status, have ? s : NULL);
        }
        int ch = getch();
        if (ch == 'q' || ch == 'Q')
            break;
        if (ch == KEY_RESIZE)
            top_draw_screen(head, status, have ? s : NULL);
    }
    endwin();
    free(d);
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
