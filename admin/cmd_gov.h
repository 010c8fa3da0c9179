/* cmd_gov: what `llmgw team`, `llmgw key` and `llmgw policy` share — one
 * table-driven parser for "VERB [NAME] [flags]", comma lists, times
 * (RFC 3339) and durations ("90s", "30m", "1h", "30d"), and the common output
 * bits (a time column, a joined list).
 *
 * A flag is declared once with its kind, its range and the verbs that take
 * it; the parser refuses (exit 2) an unknown verb or flag, a flag of another
 * verb, a missing NAME, a repeated flag and a value out of range, each time
 * naming the flag. `--json` is the same as `--output json`.
 */
#ifndef LLMGW_CMD_GOV_H
#define LLMGW_CMD_GOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd_ctl.h"

typedef enum {
    GOV_STR,      /* any text */
    GOV_INT,      /* an integer in [min, max] */
    GOV_LIST,     /* "a,b,c": non-empty entries, split with gov_split */
    GOV_BOOL,     /* takes no value */
    GOV_TIME,     /* RFC 3339 ("2027-01-31T12:00:00Z", "...+02:00") or a date; num = Unix ms */
    GOV_DURATION, /* "0", "90s", "30m", "1h", "30d"; num = ms in [min, max] */
} gov_kind_t;

typedef struct {
    const char *flag; /* "--team" */
    gov_kind_t kind;
    long long min, max;
    unsigned verbs; /* bit i: verbs[i] takes it */
    /* Filled by gov_parse. */
    bool seen;
    const char *str;
    long long num;
} gov_flag_t;

typedef struct {
    const char *cmd;          /* "llmgw key" */
    const char *usage;        /* the --help text */
    const char *const *verbs; /* NULL-terminated */
    unsigned verbs_with_name; /* bit i: verbs[i] requires NAME */
    gov_flag_t *flags;
    size_t n_flags;
    /* Filled by gov_parse. */
    ctl_opts_t ctl;
    size_t verb; /* index into verbs */
    const char *name;
} gov_cli_t;

/* 0 parsed, 1 help shown, -1 bad usage (message printed). */
int gov_parse(gov_cli_t *g, int argc, char **argv);
/* The flag `flag` of g (must be declared). */
gov_flag_t *gov_flag(gov_cli_t *g, const char *flag);

/* Splits a GOV_LIST value into malloc'd copies (*items, free with
 * gov_split_free). -1 when out of memory (message printed). */
int gov_split(const char *text, char ***items, size_t *n);
void gov_split_free(char **items, size_t n);

/* Unix ms as "2026-12-03T06:00:00Z", or "-" for 0. */
void gov_time(int64_t unix_ms, char out[32]);
/* Items joined by ",", or "-" when none (truncated to fit). */
void gov_join(char *const *items, size_t n, char *out, size_t size);
/* A limit for a table cell: the number, or "-" for 0 (unlimited). */
void gov_limit(long long v, char out[24]);

#endif
