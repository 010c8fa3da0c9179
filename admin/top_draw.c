/* top_draw: drawing `llmgw top` (see top_draw.h). */
#define _XOPEN_SOURCE 700  /* wcwidth */
#define NCURSES_WIDECHAR 1 /* the wide-character calls: panels hold ✓ ⚠ ✗ and — */
#include "top_draw.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* text at (y, x), at most w columns. */
static void top_draw_text(int y, int x, const char *text, int w)
{
    if (w <= 0)
        return;
    wchar_t wide[TOP_LINE];
    size_t n = mbstowcs(wide, text, TOP_LINE - 1);
    if (n == (size_t)-1) { /* not valid in this locale: bytes as they are */
        mvaddnstr(y, x, text, w);
        return;
    }
    wide[n] = L'\0';
    /* Cut by display columns, not characters. */
    int cols = 0;
    size_t k = 0;
    for (; k < n; k++) {
        int cw = wcwidth(wide[k]);
        if (cw < 0)
            cw = 1;
        if (cols + cw > w)
            break;
        cols += cw;
    }
    mvaddnwstr(y, x, wide, (int)k);
}

/* One panel in the box (y, x, h, w): a title bar, then its lines clipped. */
static void top_draw_panel(const top_panel_t *p, int y, int x, int h, int w)
{
    if (h < 1 || w < 4)
        return;
    attron(A_REVERSE);
    mvhline(y, x, ' ', w);
    top_draw_text(y, x + 1, p->title, w - 2);
    attroff(A_REVERSE);
    for (int k = 0; k < p->n && k < h - 1; k++)
        top_draw_text(y + 1 + k, x + 1, p->lines[k], w - 2);
}

void top_draw_screen(const char *header, const char *status, const top_snap_t *s)
{
    erase();
    int rows = LINES, cols = COLS;
    top_draw_text(0, 0, header, cols);
    if (status[0]) {
        attron(A_BOLD);
        top_draw_text(1, 0, status, cols);
        attroff(A_BOLD);
    }
    if (s) {
        int top = 2, avail = rows - top;
        if (cols >= TOP_GRID_MIN_COLS && rows >= TOP_GRID_MIN_LINES) {
            int hw = cols / 2, hh = avail / 2;
            top_draw_panel(&s->panel[0], top, 0, hh, hw);
            top_draw_panel(&s->panel[1], top, hw, hh, cols - hw);
            top_draw_panel(&s->panel[2], top + hh, 0, avail - hh, hw);
            top_draw_panel(&s->panel[3], top + hh, hw, avail - hh, cols - hw);
        } else {
            /* Stacked: each panel gets a quarter, at least its title. */
            int each = avail / TOP_PANELS > 1 ? avail / TOP_PANELS : 1;
            for (int i = 0; i < TOP_PANELS; i++) {
                int h = i < TOP_PANELS - 1 ? each : avail - (TOP_PANELS - 1) * each;
                top_draw_panel(&s->panel[i], top + i * each, 0, h, cols);
            }
        }
    }
    refresh();
}

void top_draw_plain(FILE *f, const char *header, const top_snap_t *s)
{
    fprintf(f, "%s\n", header);
    for (int i = 0; i < TOP_PANELS; i++) {
        fprintf(f, "\n== %s ==\n", s->panel[i].title);
        for (int k = 0; k < s->panel[i].n; k++)
            fprintf(f, "%s\n", s->panel[i].lines[k]);
    }
}
