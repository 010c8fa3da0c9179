/* top_panel: what the four panel builders share (see top_panel.h). */
#define _DEFAULT_SOURCE /* localtime_r */
#include "top_panel.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void top_panel_line(top_panel_t *p, const char *fmt, ...)
{
    if (p->n >= TOP_MAX_LINES)
        return;
    char *line = p->lines[p->n++];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, TOP_LINE, fmt, ap);
    va_end(ap);
    if (n >= TOP_LINE) {
        /* Cut: back off continuation bytes so no character is split. */
        size_t end = TOP_LINE - 1;
        while (end > 0 && ((unsigned char)line[end] & 0xC0) == 0x80)
            end--;
        line[end] = '\0';
    }
}

void top_append(char *buf, size_t cap, size_t *used, const char *fmt, ...)
{
    if (*used + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n < 0)
        buf[*used] = '\0';
    else
        *used = (size_t)n >= cap - *used ? cap - 1 : *used + (size_t)n;
}

const Llmgw__V1__CostGroup *top_cost_group(const Llmgw__V1__CostReportResponse *r,
                                           const char *group)
{
    for (size_t i = 0; r && i < r->n_groups; i++)
        if (strcmp(r->groups[i]->group, group) == 0)
            return r->groups[i];
    return NULL;
}

void top_hms(int64_t unix_ms, char *out, size_t n)
{
    time_t s = (time_t)(unix_ms / 1000);
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(out, n, "%H:%M:%S", &tm);
}

const char *top_dash(bool utf8)
{
    return utf8 ? "\xe2\x80\x94" : "-";
}

void top_snap_build(top_snap_t *s, const top_data_t *d, bool utf8)
{
    memset(s, 0, sizeof(*s));
    s->at_ms = d->at_ms;
    s->panel[0].title = "Provider Registry";
    s->panel[1].title = "Routing Intelligence";
    s->panel[2].title = "Performance Analytics";
    s->panel[3].title = "Optimization";
    top_registry(&s->panel[0], d, utf8);
    top_routing(&s->panel[1], d, utf8);
    top_perf(&s->panel[2], d);
    top_optim(&s->panel[3], d, utf8);
}
