/* layout.h - where each workbench pane goes, as a pure function of the terminal size
 * (STYLE P9: no curses here, unit-tested by tests/test_layout.c).
 *
 * Wide terminals (>= 100 columns) put a side column of device / throughput / models panes
 * right of the main transcript; from 60 to 99 columns the side column is narrower; below
 * 60 columns or 16 rows only the main pane, the status line and the input line remain.
 * The status line and the input line are the last two rows. Panes never overlap and
 * together cover the screen; hidden panes have zero size.
 */
#ifndef LT_TUI_LAYOUT_H
#define LT_TUI_LAYOUT_H

#include <stdbool.h>

typedef enum lt_pane {
    LT_PANE_MAIN = 0,
    LT_PANE_DEVICE,
    LT_PANE_THROUGHPUT,
    LT_PANE_MODELS,
    LT_PANE_STATUS,
    LT_PANE_INPUT,
    LT_PANE_COUNT
} lt_pane;

typedef struct lt_rect {
    int y, x, h, w; /* top-left corner and size in cells; h == 0 or w == 0: hidden */
} lt_rect;

/* Fills out[LT_PANE_COUNT] for a rows x cols screen (rows, cols >= 1). */
void lt_layout_compute(int rows, int cols, lt_rect out[LT_PANE_COUNT]);

/* True when the rect is shown. */
static inline bool lt_rect_visible(lt_rect r) { return r.h > 0 && r.w > 0; }

#endif
