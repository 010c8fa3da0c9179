/* top_draw: `llmgw top`'s screen (ncurses) and its plain snapshot.
 *
 * Screen: a header line, a status line, then the four panels in a 2 x 2
 * grid when the terminal has room (TOP_GRID_MIN_COLS x TOP_GRID_MIN_LINES),
 * else stacked one above the other, each a quarter of the height (at least
 * its title). Every panel is clipped to its box, by display columns, so
 * nothing wraps and no UTF-8 character is split.
 */
#ifndef LLMGW_TOP_DRAW_H
#define LLMGW_TOP_DRAW_H

#include <stdbool.h>
#include <stdio.h>

#include "top_panel.h"

#define TOP_GRID_MIN_COLS 150
#define TOP_GRID_MIN_LINES 30

/* Redraws the whole screen (curses must be initialised). s NULL: no
 * figures yet, only the header and the status. */
void top_draw_screen(const char *header, const char *status, const top_snap_t *s);
/* The snapshot as plain text: "== Title ==" then each line. */
void top_draw_plain(FILE *f, const char *header, const top_snap_t *s);

#endif
