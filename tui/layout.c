/* layout.c - see layout.h. */
#include "layout.h"

#include <string.h>

void lt_layout_compute(int rows, int cols, lt_rect out[LT_PANE_COUNT]) {
    memset(out, 0, sizeof(lt_rect) * LT_PANE_COUNT);
    if (rows < 1 || cols < 1) return;
    if (rows == 1) { /* only the input line fits */
        out[LT_PANE_INPUT] = (lt_rect){0, 0, 1, cols};
        return;
    }
    out[LT_PANE_INPUT] = (lt_rect){rows - 1, 0, 1, cols};
    out[LT_PANE_STATUS] = (lt_rect){rows - 2, 0, 1, cols};
    int body = rows - 2;
    if (body <= 0) return;
    if (cols < 60 || rows < 16) {
        out[LT_PANE_MAIN] = (lt_rect){0, 0, body, cols};
        return;
    }
    int side = cols >= 160 ? 48 : cols >= 100 ? cols * 3 / 10 : 30;
    if (side < 30) side = 30;
    int main_w = cols - side;
    out[LT_PANE_MAIN] = (lt_rect){0, 0, body, main_w};
    /* side column: device (memory bar + numbers), throughput (sparkline), models (rest) */
    int dev_h = 7, thr_h = 7;
    if (body >= 30) dev_h = 8, thr_h = 9;
    int models_h = body - dev_h - thr_h;
    if (models_h < 3) { /* short screens: drop the models pane into what is left */
        models_h = 0;
        thr_h = body - dev_h;
    }
    out[LT_PANE_DEVICE] = (lt_rect){0, main_w, dev_h, side};
    out[LT_PANE_THROUGHPUT] = (lt_rect){dev_h, main_w, thr_h, side};
    if (models_h > 0) out[LT_PANE_MODELS] = (lt_rect){dev_h + thr_h, main_w, models_h, side};
}
