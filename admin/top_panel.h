/* top_panel: the text of `llmgw top`'s four panels — Provider Registry,
 * Routing Intelligence, Performance Analytics, Optimization, the web
 * console's four (docs/analytics.md, "llmgw top") — built from one refresh's
 * answers (top_data.h). One file per panel: top_registry.c, top_routing.c,
 * top_perf.c, top_optim.c; this one holds what they share.
 *
 * A panel is plain lines, drawn clipped (top_draw.c) or printed as they are
 * (--once). Lines past TOP_MAX_LINES are dropped, longer ones cut at
 * TOP_LINE - 1 bytes (never inside a UTF-8 character).
 */
#ifndef LLMGW_TOP_PANEL_H
#define LLMGW_TOP_PANEL_H

#include <stdbool.h>
#include <stdint.h>

#include "llmgw/v1/analytics.pb-c.h"
#include "top_data.h"

#define TOP_PANELS 4
#define TOP_MAX_LINES 96
#define TOP_LINE 320

typedef struct {
    const char *title;
    char lines[TOP_MAX_LINES][TOP_LINE];
    int n;
} top_panel_t;

typedef struct {
    top_panel_t panel[TOP_PANELS];
    int64_t at_ms;
} top_snap_t;

/* Builds the four panels of d into s. utf8: the terminal shows ✓ ⚠ ✗ and
 * "—"; else their ASCII stand-ins. */
void top_snap_build(top_snap_t *s, const top_data_t *d, bool utf8);

/* --- for the panel files ---------------------------------------------------------------- */
void top_panel_line(top_panel_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void top_registry(top_panel_t *p, const top_data_t *d, bool utf8);
void top_routing(top_panel_t *p, const top_data_t *d, bool utf8);
void top_perf(top_panel_t *p, const top_data_t *d);
void top_optim(top_panel_t *p, const top_data_t *d, bool utf8);

/* Appends to buf (capacity cap, *used bytes so far, NUL-terminated): cut
 * at cap - 1, after which nothing more is added. */
void top_append(char *buf, size_t cap, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The group's row in a CostReport answer, NULL when absent (or r NULL). */
const Llmgw__V1__CostGroup *top_cost_group(const Llmgw__V1__CostReportResponse *r,
                                           const char *group);
/* "HH:MM:SS", local time. */
void top_hms(int64_t unix_ms, char *out, size_t n);
/* "—" or "-". */
const char *top_dash(bool utf8);

#endif
