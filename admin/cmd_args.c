/* cmd_args: flag walking and strict value parsing shared by the subcommands.
 *
 * Every message names the subcommand and the flag, says what was expected
 * and quotes what was given, so a typo in a script is found from the message
 * alone. Numbers are parsed whole (strtoll/strtod with an end check) and
 * range-checked; "12abc", "", " 5" and out-of-range values are refused.
 */
#include "cmd.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmd_args_init(cmd_args_t *a, const char *cmd, int argc, char **argv)
{
    a->argc = argc;
    a->argv = argv;
    a->i = 1; /* argv[0] is the subcommand itself */
    a->flags_done = false;
    a->name = NULL;
    a->value = NULL;
    a->cmd = cmd;
}

/* "--x=v" is not copied apart: `name` points at the whole argument and the
 * comparisons stop at '=', `value` points just past it. */
int cmd_args_next(cmd_args_t *a)
{
    a->name = NULL;
    a->value = NULL;
    while (a->i < a->argc) {
        const char *arg = a->argv[a->i++];
        if (!a->flags_done && strcmp(arg, "--") == 0) {
            a->flags_done = true;
            continue;
        }
        /* "-" alone is a positional (conventionally stdin); "-x" / "--x" are flags. */
        if (!a->flags_done && arg[0] == '-' && arg[1] != '\0') {
            a->name = arg;
            const char *eq = strchr(arg, '=');
            a->value = eq ? eq + 1 : NULL;
            return 1;
        }
        a->value = arg;
        return 1;
    }
    return 0;
}

bool cmd_args_is(const cmd_args_t *a, const char *name)
{
    if (!a->name)
        return false;
    size_t n = strlen(name);
    return strncmp(a->name, name, n) == 0 && (a->name[n] == '\0' || a->name[n] == '=');
}

/* The flag as typed, without any "=value", for messages. */
static int flag_len(const char *name)
{
    const char *eq = strchr(name, '=');
    return eq ? (int)(eq - name) : (int)strlen(name);
}

const char *cmd_args_value(cmd_args_t *a)
{
    if (a->value)
        return a->value;
    if (a->i >= a->argc) {
        fprintf(stderr, "%s: %.*s: missing value\n", a->cmd, flag_len(a->name), a->name);
        return NULL;
    }
    a->value = a->argv[a->i++];
    return a->value;
}

int cmd_args_no_value(const cmd_args_t *a)
{
    if (a->value) {
        fprintf(stderr, "%s: %.*s: takes no value, got '%s'\n", a->cmd, flag_len(a->name), a->name,
                a->value);
        return -1;
    }
    return 0;
}

int cmd_parse_int(const char *cmd, const char *flag, const char *text, long long min, long long max,
                  long long *out)
{
    char *end = NULL;
    errno = 0;
    /* strtoll skips leading blanks and accepts a sign; a flag value with
     * blanks around it is a quoting mistake, so refuse it. */
    long long v = (text[0] == ' ' || text[0] == '\t') ? 0 : strtoll(text, &end, 10);
    if (!end || end == text || *end != '\0') {
        fprintf(stderr, "%s: %s: expected an integer, got '%s'\n", cmd, flag, text);
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        fprintf(stderr, "%s: %s: expected an integer in %lld..%lld, got '%s'\n", cmd, flag, min,
                max, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_parse_double(const char *cmd, const char *flag, const char *text, double min, double max,
                     double *out)
{
    char *end = NULL;
    errno = 0;
    double v = (text[0] == ' ' || text[0] == '\t') ? 0 : strtod(text, &end);
    if (!end || end == text || *end != '\0') {
        fprintf(stderr, "%s: %s: expected a number, got '%s'\n", cmd, flag, text);
        return -1;
    }
    /* isfinite refuses "nan" and "inf", which strtod accepts. */
    if (errno == ERANGE || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, "%s: %s: expected a number in %g..%g, got '%s'\n", cmd, flag, min, max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_check_target(const char *cmd, const char *flag, const char *target)
{
    const char *port = NULL;
    if (target[0] == '\0')
        goto bad;
    /* Targets with a scheme are handed to gRPC's resolver as they are. */
    if (strstr(target, "://") || strncmp(target, "unix:", 5) == 0 ||
        strncmp(target, "unix-abstract:", 14) == 0)
        return 0;
    if (target[0] == '[') {
        const char *close = strchr(target, ']');
        if (!close || close == target + 1 || close[1] != ':')
            goto bad;
        port = close + 2;
    } else {
        const char *colon = strrchr(target, ':');
        if (!colon || colon == target || memchr(target, ':', (size_t)(colon - target)))
            goto bad;
        port = colon + 1;
    }
    long long n;
    char *end = NULL;
    errno = 0;
    n = (port[0] >= '0' && port[0] <= '9') ? strtoll(port, &end, 10) : -1;
    if (!end || *end != '\0' || errno == ERANGE || n < 1 || n > 65535)
        goto bad;
    return 0;
bad:
    fprintf(stderr, "%s: %s: expected HOST:PORT with a port in 1..65535, got '%s'\n", cmd, flag,
            target);
    return -1;
}

int cmd_env_defaults(const char *cmd, const char **target, const char **key)
{
    /* Flags win over the environment; the environment is checked as strictly. */
    if (!*target) {
        const char *env = getenv("LLMGW_TARGET");
        if (env && env[0]) {
            if (cmd_check_target(cmd, "LLMGW_TARGET", env) < 0)
                return -1;
            *target = env;
        } else {
            *target = CMD_DEFAULT_TARGET;
        }
    }
    if (!*key) {
        const char *env = getenv("LLMGW_API_KEY");
        if (env && env[0])
            *key = env;
    }
    return 0;
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see '%s --help')\n", cmd);
    return CMD_EXIT_USAGE;
}
