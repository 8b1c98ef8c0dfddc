/* serve_pane.c - see serve_pane.h. */
#include "serve_pane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lt_sparkline(const float *v, int n, int cells, float max, bool utf8, char *out, int cap) {
    static const char *blocks[] = {" ", "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
    static const char ascii[] = " .:-=+*##";
    int k = n < cells ? n : cells, o = 0;
    if (cap > 0) out[0] = 0;
    if (k <= 0 || cap <= 0) return 0;
    const float *p = v + n - k;
    if (max <= 0)
        for (int i = 0; i < k; i++)
            if (p[i] > max) max = p[i];
    int wrote = 0;
    for (int i = 0; i < k; i++) {
        int lv = max > 0 ? (int)(p[i] / max * 8 + 0.5f) : 0;
        if (lv > 8) lv = 8;
        if (p[i] > 0 && lv == 0) lv = 1;
        const char *c = utf8 ? blocks[lv] : (char[2]){ascii[lv], 0};
        int len = (int)strlen(c);
        if (o + len >= cap) break;
        memcpy(out + o, c, (size_t)len);
        o += len;
        wrote++;
    }
    out[o] = 0;
    return wrote;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int lt_serve_pane_text(const lt_serve_view *v, int w, int max_lines, bool utf8, char title[LT_SERVE_PANE_LINE],
                       char lines[][LT_SERVE_PANE_LINE]) {
    const lt_engine_snapshot *e = &v->eng;
    snprintf(title, LT_SERVE_PANE_LINE, "serve %s%s", v->title, v->running ? "" : " (done)");
    if (max_lines > LT_SERVE_PANE_ROWS) max_lines = LT_SERVE_PANE_ROWS;
    char rows[LT_SERVE_PANE_ROWS][LT_SERVE_PANE_LINE];
    int n = 0;
    snprintf(rows[n++], LT_SERVE_PANE_LINE, "run %d wait %d done %d/%d", e->n_running, e->n_waiting, v->done,
             v->total);
    snprintf(rows[n++], LT_SERVE_PANE_LINE, "step %lld: %d decode + %d prefill", (long long)e->n_steps, e->n_decode,
             e->n_prefill);
    /* decode and prefill tokens per step, one scale */
    float dec[LT_ENGINE_HIST], pre[LT_ENGINE_HIST], mx = 0;
    for (int i = 0; i < e->n_hist; i++) {
        dec[i] = (float)e->hist_decode[i];
        pre[i] = (float)e->hist_prefill[i];
        if (dec[i] > mx) mx = dec[i];
        if (pre[i] > mx) mx = pre[i];
    }
    int cells = w - 5 > 0 ? w - 5 : 0;
    char sp[LT_SERVE_PANE_LINE - 8];
    lt_sparkline(dec, e->n_hist, cells, mx, utf8, sp, sizeof sp);
    snprintf(rows[n++], LT_SERVE_PANE_LINE, "dec %s", sp);
    lt_sparkline(pre, e->n_hist, cells, mx, utf8, sp, sizeof sp);
    snprintf(rows[n++], LT_SERVE_PANE_LINE, "pre %s", sp);
    snprintf(rows[n++], LT_SERVE_PANE_LINE, "KV %d/%d dev %d/%d host", e->kv_used, e->kv_total, e->kv_host_used,
             e->kv_host_total);
    lt_sparkline(e->tbt_ms, e->n_tbt, cells, 0, utf8, sp, sizeof sp);
    snprintf(rows[n++], LT_SERVE_PANE_LINE, "tbt %s", sp);
    float s[LT_ENGINE_HIST];
    memcpy(s, e->tbt_ms, (size_t)e->n_tbt * sizeof(float));
    qsort(s, (size_t)e->n_tbt, sizeof(float), cmp_float);
    if (e->n_tbt > 0)
        snprintf(rows[n++], LT_SERVE_PANE_LINE, "tbt p50 %.1f max %.1f ms", s[e->n_tbt / 2], s[e->n_tbt - 1]);
    else
        snprintf(rows[n++], LT_SERVE_PANE_LINE, "tbt -");
    if (e->drafted > 0)
        snprintf(rows[n++], LT_SERVE_PANE_LINE, "spec %lld/%lld accepted (%.0f%%)", (long long)e->accepted,
                 (long long)e->drafted, 100.0 * (double)e->accepted / (double)e->drafted);
    int k = n < max_lines ? n : max_lines;
    for (int i = 0; i < k; i++) memcpy(lines[i], rows[i], LT_SERVE_PANE_LINE);
    return k < 0 ? 0 : k;
}
