/* serve_pane.h - the workbench's serve pane as text (STYLE P9: no curses here, unit-tested by
 * tests/test_layout.c and tests/test_serve_cmd.c): from `bench serve`'s view of the engine
 * (core/app/session.h, lt_serve_view) the title and one line per row: requests running,
 * waiting and done; the last step's decode and prefill tokens; sparklines of decode and of
 * prefill tokens per step over the latest steps (one scale for both); KV blocks on the device
 * and in host memory; a sparkline of the latest times between tokens with their median and
 * maximum; speculative acceptance. Rows that do not fit are left out from the end.
 */
#ifndef LT_TUI_SERVE_PANE_H
#define LT_TUI_SERVE_PANE_H

#include <stdbool.h>

#include "core/app/session.h"

#define LT_SERVE_PANE_LINE 512 /* bytes of a line (a sparkline of UTF-8 blocks is 3 bytes a cell) */
#define LT_SERVE_PANE_ROWS 8   /* rows the pane can fill */

/* Fills title and up to max_lines rows (at most LT_SERVE_PANE_ROWS) for a pane w cells wide;
 * utf8: sparklines of block characters, else ASCII. Returns the rows written. */
int lt_serve_pane_text(const lt_serve_view *v, int w, int max_lines, bool utf8, char title[LT_SERVE_PANE_LINE],
                       char lines[][LT_SERVE_PANE_LINE]);

/* A sparkline of the last cells values of v[0..n) (fewer when n is smaller) scaled to max
 * (max <= 0: the largest of them) into out (cap bytes): one block per value, empty for 0,
 * at least the lowest block for a positive value. Returns the cells written. */
int lt_sparkline(const float *v, int n, int cells, float max, bool utf8, char *out, int cap);

#endif
