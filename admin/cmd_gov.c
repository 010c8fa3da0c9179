/* cmd_gov: the governance subcommands' shared parser and formatting. See
 * cmd_gov.h. */
#include "cmd_gov.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* cmd_usage_error's message, returning -1 for the parser's callers. */
static int gov_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int gov_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see '%s --help')\n", cmd);
    return -1;
}

gov_flag_t *gov_flag(gov_cli_t *g, const char *flag)
{
    for (size_t i = 0; i < g->n_flags; i++)
        if (strcmp(g->flags[i].flag, flag) == 0)
            return &g->flags[i];
    return NULL;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): no
 * time zone of the machine is involved. */
static long long gov_days(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static bool gov_digits(const char *s, size_t n, unsigned *out)
{
    *out = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        *out = *out * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)". */
static int gov_parse_time(const char *s, long long *ms)
{
    unsigned y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, oh = 0, om = 0;
    size_t n = strlen(s);
    if (n < 10 || !gov_digits(s, 4, &y) || s[4] != '-' || !gov_digits(s + 5, 2, &mo) ||
        s[7] != '-' || !gov_digits(s + 8, 2, &d))
        return -1;
    const char *p = s + 10;
    long long off_s = 0;
    if (*p) {
        if ((*p != 'T' && *p != 't' && *p != ' ') || strlen(p) < 9 || !gov_digits(p + 1, 2, &h) ||
            p[3] != ':' || !gov_digits(p + 4, 2, &mi) || p[6] != ':' || !gov_digits(p + 7, 2, &sec))
            return -1;
        p += 9;
        if (*p == '.') {
            size_t k = 1;
            unsigned scale = 100;
            for (; isdigit((unsigned char)p[k]); k++, scale /= 10)
                frac += (unsigned)(p[k] - '0') * scale;
            if (k == 1)
                return -1;
            p += k;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && gov_digits(p + 1, 2, &oh) &&
                   p[3] == ':' && gov_digits(p + 4, 2, &om)) {
            off_s = (long long)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
            p += 6;
        } else {
            return -1;
        }
        if (*p)
            return -1;
    }
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60 ||
        oh > 23 || om > 59)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    long long secs = gov_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_s;
    *ms = secs * 1000 + frac;
    return 0;
}

/* "0" or N followed by s, m, h or d. */
static int gov_parse_duration(const char *s, long long *ms)
{
    char *end = NULL;
    if (!isdigit((unsigned char)s[0]))
        return -1;
    long long v = strtoll(s, &end, 10);
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    long long unit = !strcmp(end, "ms")  ? 1
                     : !strcmp(end, "s") ? 1000
                     : !strcmp(end, "m") ? 60000
                     : !strcmp(end, "h") ? 3600000
                     : !strcmp(end, "d") ? 86400000
                                         : 0;
    if (!unit || v < 0 || v > (long long)9e15 / unit)
        return -1;
    *ms = v * unit;
    return 0;
}

/* A list value: "a,b,c" with no empty entry. */
static int gov_check_list(const char *cmd, const char *flag, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || v[0] == ',' || v[n - 1] == ',' || strstr(v, ",,"))
        return gov_usage(cmd, "%s: empty entry in '%s' (expected a,b,c)", flag, v);
    return 0;
}

static int gov_take(gov_cli_t *g, cmd_args_t *a, gov_flag_t *f)
{
    const char *v = NULL;
    if (f->seen)
        return gov_usage(g->cmd, "%s: given twice", f->flag);
    f->seen = true;
    if (f->kind == GOV_BOOL) {
        if (cmd_args_no_value(a) < 0)
            return -1;
        f->num = 1;
        return 0;
    }
    if (!(v = cmd_args_value(a)))
        return -1;
    f->str = v;
    switch (f->kind) {
    case GOV_INT:
        return cmd_parse_int(g->cmd, f->flag, v, f->min, f->max, &f->num) < 0 ? -1 : 0;
    case GOV_LIST:
        return gov_check_list(g->cmd, f->flag, v);
    case GOV_TIME:
        if (gov_parse_time(v, &f->num) < 0)
            return gov_usage(g->cmd,
                             "%s: expected an RFC 3339 time like 2027-01-31T12:00:00Z, "
                             "got '%s'",
                             f->flag, v);
        return 0;
    case GOV_DURATION:
        if (gov_parse_duration(v, &f->num) < 0 || f->num < f->min || f->num > f->max)
            return gov_usage(g->cmd,
                             "%s: expected a duration like 90s, 30m, 1h or 30d (at most "
                             "%lldd), got '%s'",
                             f->flag, f->max / 86400000, v);
        return 0;
    default:
        return 0;
    }
}

int gov_parse(gov_cli_t *g, int argc, char **argv)
{
    cmd_args_t a;
    const char *verb = NULL;
    ctl_opts_init(&g->ctl);
    g->name = NULL;
    cmd_args_init(&a, g->cmd, argc, argv);
    while (cmd_args_next(&a)) {
        if (!a.name) {
            if (!verb)
                verb = a.value;
            else if (!g->name)
                g->name = a.value;
            else
                return gov_usage(g->cmd, "unexpected argument '%s'", a.value);
            continue;
        }
        if (cmd_args_is(&a, "-h") || cmd_args_is(&a, "--help")) {
            fputs(g->usage, stdout);
            return 1;
        }
        if (cmd_args_is(&a, "--json")) {
            if (cmd_args_no_value(&a) < 0)
                return -1;
            g->ctl.json = true;
            continue;
        }
        gov_flag_t *f = NULL;
        for (size_t i = 0; i < g->n_flags && !f; i++)
            if (cmd_args_is(&a, g->flags[i].flag))
                f = &g->flags[i];
        if (f) {
            if (gov_take(g, &a, f) < 0)
                return -1;
            continue;
        }
        int common = ctl_common_flag(g->cmd, &a, &g->ctl);
        if (common < 0)
            return -1;
        if (common == 0)
            return gov_usage(g->cmd, "unknown flag '%.*s'", (int)strcspn(a.name, "="), a.name);
    }
    char list[160] = "";
    for (size_t i = 0; g->verbs[i]; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                 g->verbs[i]);
    if (!verb)
        return gov_usage(g->cmd, "expected an action: %s", list);
    for (g->verb = 0; g->verbs[g->verb] && strcmp(g->verbs[g->verb], verb) != 0; g->verb++)
        ;
    if (!g->verbs[g->verb])
        return gov_usage(g->cmd, "unknown action '%s' (expected %s)", verb, list);
    bool named = (g->verbs_with_name >> g->verb) & 1u;
    if (named && !g->name)
        return gov_usage(g->cmd, "%s: NAME: required", verb);
    if (!named && g->name)
        return gov_usage(g->cmd, "unexpected argument '%s'", g->name);
    for (size_t i = 0; i < g->n_flags; i++)
        if (g->flags[i].seen && !((g->flags[i].verbs >> g->verb) & 1u))
            return gov_usage(g->cmd, "%s: not a flag of '%s'", g->flags[i].flag, verb);
    return ctl_opts_finish(g->cmd, &g->ctl);
}

int gov_split(const char *text, char ***items, size_t *n)
{
    size_t count = 1;
    *items = NULL;
    *n = 0;
    for (const char *p = text; *p; p++)
        count += *p == ',';
    char **v = calloc(count, sizeof(*v));
    if (!v)
        goto oom;
    const char *start = text;
    for (size_t i = 0; i < count; i++) {
        size_t len = strcspn(start, ",");
        if (!(v[i] = strndup(start, len))) {
            gov_split_free(v, i);
            goto oom;
        }
        start += len + 1;
    }
    *items = v;
    *n = count;
    return 0;
oom:
    fprintf(stderr, "error: out of memory\n");
    return -1;
}

void gov_split_free(char **items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        free(items[i]);
    free(items);
}

void gov_time(int64_t unix_ms, char out[32])
{
    if (unix_ms <= 0) {
        snprintf(out, 32, "-");
        return;
    }
    time_t secs = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void gov_join(char *const *items, size_t n, char *out, size_t size)
{
    out[0] = '\0';
    if (n == 0) {
        snprintf(out, size, "-");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(out);
        if (used + 1 >= size)
            break;
        snprintf(out + used, size - used, "%s%s", i ? "," : "", items[i]);
    }
}

void gov_limit(long long v, char out[24])
{
    if (v <= 0)
        snprintf(out, 24, "-");
    else
        snprintf(out, 24, "%lld", v);
}
