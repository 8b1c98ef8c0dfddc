/* app_draw.c - the workbench's panes (see app.c): the transcript with word wrap and the
 * detection preview, device memory, throughput, models, the status line, the input line and
 * the palette overlay. Runs on the UI thread; reads the shared state under the mutex.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "app_impl.h"
#include "curses.h"
#include "serve_pane.h"

/* ==== drawing ===================================================================== */

static void put(int y, int x, int w, const char *s) {
    if (w <= 0) return;
    move(y, x);
    /* write at most w cells: count UTF-8 lead bytes as one cell each */
    int cells = 0;
    const char *p = s;
    while (*p && cells < w) {
        const char *q = p + 1;
        while ((*q & 0xC0) == 0x80) q++;
        if ((unsigned char)*p < 32) addch(' '); /* a line break or tab would break the layout */
        else addnstr(p, (int)(q - p));
        p = q;
        cells++;
    }
}

static void putf(int y, int x, int w, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(y, x, w, buf);
}

static void title(app *a, lt_rect r, const char *t) {
    attron(A_REVERSE | A_BOLD);
    mvhline(r.y, r.x, ' ', r.w);
    put(r.y, r.x + 1, r.w - 2, t);
    attroff(A_REVERSE | A_BOLD);
}

static int attr_of(app *a, lt_text_kind k) {
    switch (k) {
    case LT_TEXT_USER: return a->colors ? COLOR_PAIR(C_USER) | A_BOLD : A_BOLD;
    case LT_TEXT_MODEL: return a->colors ? COLOR_PAIR(C_MODEL) : A_NORMAL;
    case LT_TEXT_MODEL_DRAFT: return a->colors ? COLOR_PAIR(C_DRAFT) : A_UNDERLINE;
    case LT_TEXT_INFO: return a->colors ? COLOR_PAIR(C_INFO) : A_DIM;
    default: return a->colors ? COLOR_PAIR(C_ERR) | A_BOLD : A_STANDOUT;
    }
}

/* Number of cells of a UTF-8 string (one per code point). */
static int cells(const char *s, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += (s[i] & 0xC0) != 0x80;
    return c;
}

/* Byte offset of cell k in s. */
static size_t cell_off(const char *s, size_t n, int k) {
    size_t i = 0;
    int c = 0;
    while (i < n) {
        if ((s[i] & 0xC0) != 0x80) {
            if (c == k) return i;
            c++;
        }
        i++;
    }
    return n;
}

/* Start of the row after the one starting at byte i: up to w cells, broken after the last
 * space when the text goes on (word wrap), or hard at w cells for a long word. */
static size_t next_row(const char *s, size_t n, size_t i, int w) {
    size_t j = i, last_space = 0;
    int c = 0;
    while (j < n && c < w) {
        if (s[j] == ' ') last_space = j + 1;
        j++;
        while (j < n && (s[j] & 0xC0) == 0x80) j++;
        c++;
    }
    if (j >= n) return n;
    if (s[j] == ' ') return j + 1; /* the break falls on a space: swallow it */
    if (last_space > i && (int)cells(s + i, last_space - i) > w / 2) return last_space;
    return j;
}

static int count_rows(const char *s, size_t n, int w) {
    int rows = 0;
    size_t i = 0;
    do {
        i = next_row(s, n, i, w);
        rows++;
    } while (i < n);
    return rows;
}

/* xterm-256 colour cube index of an RGB colour. */
static int cube(const uint8_t *rgb) {
    int l[3];
    for (int i = 0; i < 3; i++) l[i] = rgb[i] < 48 ? 0 : rgb[i] < 115 ? 1 : (rgb[i] - 35) / 40;
    return 16 + 36 * l[0] + 6 * l[1] + l[2];
}

/* The last preview in rows [y, y+h) of the main pane: the image in half-block cells (needs
 * UTF-8 and 256 colours; otherwise only the list) and its lines beside it (the first is the
 * heading: "2 detections", "step 20/50"). A later preview replaces it (its cells are made
 * again). mu held. Returns the rows used. */
static int draw_preview(app *a, int y, int x, int h, int w) {
    if (h < 3 || w < 20) return 0;
    bool image = a->utf8 && a->colors && COLORS >= 256;
    int list_w = w < 60 ? w / 2 : 30, img_w = w - list_w - 1;
    int used = 0;
    if (image && (a->pv_cols != img_w || a->pv_rows != h)) {
        lt_err err;
        lt_image_cells_free(&a->pv_cells);
        if (lt_image_to_cells(&a->pv_img, img_w, h, &a->pv_cells, &err) != LT_OK) image = false;
        a->pv_cols = img_w, a->pv_rows = h;
    }
    if (image && a->pv_cells.rows > 0) {
        const lt_image_cells *c = &a->pv_cells;
        for (int ry = 0; ry < c->rows; ry++)
            for (int rx = 0; rx < c->cols; rx++) {
                size_t o = ((size_t)ry * c->cols + rx) * 3;
                int pair = alloc_pair(cube(c->top + o), cube(c->bottom + o));
                cchar_t cc;
                setcchar(&cc, L"\u2580", A_NORMAL, 0, &pair);
                mvadd_wch(y + ry, x + rx, &cc);
            }
        used = c->rows;
        img_w = c->cols;
    } else {
        img_w = 0;
        put(y, x, w, "(image: needs UTF-8 + 256 colours)");
        used = 1;
    }
    int lx = x + img_w + (img_w ? 1 : 0), lw = x + w - lx, ly = y + (img_w ? 0 : 1);
    for (int i = 0; i < a->pv_n && ly < y + h; i++) { /* lines[0] is the heading */
        if (ly == y + h - 1 && i < a->pv_n - 1) {
            putf(ly++, lx, lw, "... %d more", a->pv_n - i);
            break;
        }
        put(ly++, lx, lw, a->pv_lines[i]);
    }
    if (ly - y > used) used = ly - y;
    return used;
}

static void draw_main(app *a, lt_rect r) {
    if (!lt_rect_visible(r)) return;
    int title_y = r.y;
    pthread_mutex_lock(&a->mu);
    if (a->pv_on) { /* the preview takes up to 3/5 of the pane; the transcript goes below */
        int ph = draw_preview(a, r.y + 1, r.x, (r.h - 1) * 3 / 5, r.w - 1);
        r.y += ph, r.h -= ph;
    }
    pthread_mutex_unlock(&a->mu);
    int h = r.h - 1, w = r.w - 1; /* title row; one column of margin before the side panes */
    if (w < 4) w = r.w;
    char buf[4096];
    pthread_mutex_lock(&a->mu);
    /* lines waiting for the worker, dimmed at the bottom of the pane (at most 3 rows) */
    int nq = a->n_queue, qrows = nq > 3 ? 3 : nq;
    if (qrows && h - qrows >= 2) {
        h -= qrows;
        r.h -= qrows;
        attron(A_DIM);
        for (int i = 0; i < qrows; i++) {
            int y = r.y + r.h + i;
            const char *q = a->queue[i].line;
            size_t ql = strcspn(q, "\n");
            int lines = 1;
            for (const char *p = q; (p = strchr(p, '\n')) != NULL; p++) lines++;
            if (i == qrows - 1 && nq > qrows) putf(y, r.x, w, "queued: %.*s ... and %d more", (int)ql, q, nq - qrows);
            else if (lines > 1) putf(y, r.x, w, "queued: %.*s [%d lines]", (int)ql, q, lines);
            else putf(y, r.x, w, "queued: %s", q);
        }
        attroff(A_DIM);
    }
    /* walk back from the newest line, counting wrapped rows, until the screen (plus the
     * scroll offset) is covered */
    int need = h + a->scroll, rows = 0, first = a->n_lines;
    while (first > 0 && rows < need) {
        tline *l = tl_at(a, first - 1);
        const char *s = l->s ? l->s : "";
        if (l->kind == LT_TEXT_USER) {
            snprintf(buf, sizeof buf, "%s%s", l->cont ? "  " : "> ", s);
            s = buf;
        }
        rows += count_rows(s, strlen(s), w);
        first--;
    }
    int max_scroll = rows > h ? rows - h : 0;
    if (a->scroll > max_scroll && first == 0) a->scroll = max_scroll;
    int skip = rows - h - a->scroll; /* rows above the visible area */
    if (skip < 0) skip = 0;
    int y = r.y + 1;
    for (int i = first; i < a->n_lines && y < r.y + r.h; i++) {
        tline *l = tl_at(a, i);
        const char *s = l->s ? l->s : "";
        if (l->kind == LT_TEXT_USER) {
            snprintf(buf, sizeof buf, "%s%s", l->cont ? "  " : "> ", s);
            s = buf;
        }
        size_t n = strlen(s), o = 0;
        attron(attr_of(a, l->kind));
        do {
            size_t e = next_row(s, n, o, w);
            if (skip > 0) skip--;
            else if (y < r.y + r.h) {
                move(y++, r.x);
                if (l->tint && s == l->s) { /* runs of drafted and verified bytes */
                    for (size_t j = o; j < e;) {
                        size_t q = j;
                        while (q < e && l->tint[q] == l->tint[j]) q++;
                        attrset(attr_of(a, l->tint[j] ? LT_TEXT_MODEL_DRAFT : l->kind));
                        addnstr(s + j, (int)(q - j));
                        j = q;
                    }
                    attrset(attr_of(a, l->kind));
                } else {
                    addnstr(s + o, (int)(e - o));
                }
            }
            o = e;
        } while (o < n && y < r.y + r.h);
        attroff(attr_of(a, l->kind));
    }
    char t[128];
    snprintf(t, sizeof t, "lathe - transcript%s", a->scroll ? " (scrolled: PgDn)" : "");
    pthread_mutex_unlock(&a->mu);
    title(a, (lt_rect){title_y, r.x, 1, r.w}, t);
}

static void fmt_bytes(char *b, size_t cap, double v) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    snprintf(b, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

/* "1016K", "4.0M", "22.8G": sizes for narrow panes. */
static void fmt_short(char *b, size_t cap, double v) {
    const char *u = "BKMGT";
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    snprintf(b, cap, v >= 100 || i == 0 ? "%.0f%c" : "%.1f%c", v, u[i]);
}

static void side_border(app *a, lt_rect r) {
    for (int y = r.y; y < r.y + r.h; y++) {
        if (a->utf8) mvaddstr(y, r.x, "\u2502");
        else mvaddch(y, r.x, '|');
    }
}

static void draw_device(app *a, lt_rect r) {
    if (!lt_rect_visible(r)) return;
    side_border(a, r);
    int x = r.x + 2, w = r.w - 3;
    char dev[96];
    bool host;
    lt_session_device_name(a->s, dev, sizeof dev, &host);
    title(a, (lt_rect){r.y, r.x, 1, r.w}, host ? (r.w >= 40 ? "device (host: process memory)" : "device (host memory)") : "device");
    put(r.y + 1, x, w, dev);
    if (!a->have_smp) return;
    const lt_metric_sample *m = &a->smp;
    double total = (double)m->mem_total;
    double used = 0;
    for (int c = 0; c < LT_MEM_CAT_COUNT; c++) used += (double)m->mem[c];
    double denom = total > 0 ? total : used > 0 ? used : 1;
    /* memory bar: weights / KV / scratch / other / free; distinct characters so it reads
     * without colour */
    int bw = w;
    const char ch[] = {'W', 'K', 'S', 'o', '.'};
    const int col[] = {C_W, C_K, C_S, C_O, C_F};
    double parts[5] = {(double)m->mem[LT_MEM_WEIGHTS], (double)m->mem[LT_MEM_KV], (double)m->mem[LT_MEM_SCRATCH],
                       (double)m->mem[LT_MEM_OTHER], m->mem_free ? (double)m->mem_free : total > used ? total - used : 0};
    int pos = 0;
    move(r.y + 2, x);
    for (int p = 0; p < 5; p++) {
        int cells_p = (int)(parts[p] / denom * bw + 0.5);
        if (parts[p] > 0 && cells_p == 0 && p < 4) cells_p = 1;
        if (p == 4) cells_p = bw - pos;
        if (pos + cells_p > bw) cells_p = bw - pos;
        if (a->colors) attron(COLOR_PAIR(col[p]));
        for (int i = 0; i < cells_p; i++) addch(ch[p]);
        if (a->colors) attroff(COLOR_PAIR(col[p]));
        pos += cells_p;
    }
    char b[5][32], tb[32];
    if (w >= 40) { /* roomy: words */
        for (int p = 0; p < 5; p++) fmt_bytes(b[p], sizeof b[p], parts[p]);
        fmt_bytes(tb, sizeof tb, total);
        putf(r.y + 3, x, w, "W weights %s  K kv %s", b[0], b[1]);
        putf(r.y + 4, x, w, "S scratch %s  o other %s", b[2], b[3]);
        if (r.h > 5) putf(r.y + 5, x, w, ". free %s of %s", b[4], tb);
    } else { /* narrow (80 columns): the bar's letters with short sizes */
        for (int p = 0; p < 5; p++) fmt_short(b[p], sizeof b[p], parts[p]);
        fmt_short(tb, sizeof tb, total);
        putf(r.y + 3, x, w, "W %s K %s S %s", b[0], b[1], b[2]);
        putf(r.y + 4, x, w, "o %s . %s/%s free", b[3], b[4], tb);
    }
    int uy = w >= 40 ? r.y + 6 : r.y + 5;
    /* On the CPU, why not CUDA: the module's state once something asked for it (never loads
     * it from here), below the util line, or in its place when the pane has no row left. */
    lt_module_state cs = host ? lt_backend_cuda_status(false, NULL, 0) : LT_MODULE_READY;
    bool cuda_line = cs != LT_MODULE_UNTRIED && cs != LT_MODULE_READY;
    int cy = uy + 1 < r.y + r.h ? uy + 1 : uy;
    if (uy < r.y + r.h && !(cuda_line && cy == uy)) {
        if (m->util >= 0) putf(uy, x, w, "util %.0f%%  %s", m->util, lt_nvml_name(a->nvml));
        else putf(uy, x, w, "util n/a (%s)", host ? "CPU backend" : "no NVML");
    }
    if (cuda_line && cy < r.y + r.h) putf(cy, x, w, "cuda: %s", lt_module_state_brief(cs));
}

/* The context meter: "ctx 123/8192" and a bar of the conversation's share of the model's
 * context (with_kv: "KV 3/64 ctx 123/8192" for short panes, no bar where it does not fit). */
static void draw_ctx(app *a, int y, int x, int w, const lt_metric_sample *m, bool with_kv) {
    char t[64];
    int k = with_kv ? snprintf(t, sizeof t, "KV %d/%d ctx %d/%d", m->kv_used, m->kv_total, m->ctx_used, m->ctx_max)
                    : snprintf(t, sizeof t, "ctx %d/%d", m->ctx_used, m->ctx_max);
    put(y, x, w, t);
    int bw = w - k - 3;
    if (bw > 24) bw = 24;
    if (bw < 4) return;
    double f = m->ctx_max > 0 ? (double)m->ctx_used / m->ctx_max : 0;
    if (f > 1) f = 1;
    int fill = (int)(f * bw + 0.5);
    if (m->ctx_used > 0 && fill == 0) fill = 1;
    move(y, x + k + 1);
    addch('[');
    int at = f >= 0.9 ? attr_of(a, LT_TEXT_ERROR) : a->colors ? (int)COLOR_PAIR(C_SPARK) : (int)A_BOLD;
    attron(at);
    for (int i = 0; i < fill; i++) addch('#');
    attroff(at);
    for (int i = fill; i < bw; i++) addch('.');
    addch(']');
}

static void draw_throughput(app *a, lt_rect r) {
    if (!lt_rect_visible(r)) return;
    side_border(a, r);
    int x = r.x + 2, w = r.w - 3;
    title(a, (lt_rect){r.y, r.x, 1, r.w}, "throughput (last minute)");
    if (!a->have_smp) return;
    static lt_metric_sample hist[1200];
    int n = lt_metrics_since(lt_session_metrics(a->s), SPARK_SECONDS, hist, 1200);
    /* sparkline: w buckets over the last minute, max decode tok/s in each */
    double mx = 0, b[256] = {0};
    if (w > 256) w = 256;
    double now = lt_now();
    for (int i = 0; i < n; i++) {
        int k = (int)((SPARK_SECONDS - (now - hist[i].t)) / SPARK_SECONDS * w);
        if (k < 0) k = 0;
        if (k >= w) k = w - 1;
        if (hist[i].decode_tps > b[k]) b[k] = hist[i].decode_tps;
        if (hist[i].decode_tps > mx) mx = hist[i].decode_tps;
    }
    static const char *blocks[] = {" ", "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
    static const char ascii[] = " .:-=+*##";
    move(r.y + 1, x);
    if (a->colors) attron(COLOR_PAIR(C_SPARK));
    for (int i = 0; i < w; i++) {
        int lv = mx > 0 ? (int)(b[i] / mx * 8 + 0.5) : 0;
        if (b[i] > 0 && lv == 0) lv = 1;
        if (a->utf8) addstr(blocks[lv]);
        else addch((chtype)ascii[lv]);
    }
    if (a->colors) attroff(COLOR_PAIR(C_SPARK));
    const lt_metric_sample *m = &a->smp;
    putf(r.y + 2, x, w, "peak   %8.1f tok/s", mx);
    if (w >= 36) putf(r.y + 3, x, w, "decode %8.1f tok/s (last %.1f)", m->decode_tps, m->last_decode_tps);
    else putf(r.y + 3, x, w, "decode %.1f (last %.1f)", m->decode_tps, m->last_decode_tps);
    putf(r.y + 4, x, w, "prefill%8.1f tok/s", m->prefill_tps);
    /* the context meter gets its own row on tall panes, and on short ones while no
     * speculative decoding needs that row; else it shares the KV row */
    bool tall = r.h >= 9, spec = m->spec_kind[0] != 0;
    int sy = r.y + 6; /* the first speculative-decoding row */
    if (r.h > 5) {
        if (tall || (!spec && r.h > 6)) putf(r.y + 5, x, w, "KV blocks %d / %d", m->kv_used, m->kv_total);
        else draw_ctx(a, r.y + 5, x, w, m, true);
    }
    if (r.h > 6 && (tall || !spec)) draw_ctx(a, r.y + 6, x, w, m, false);
    if (tall) sy++;
    if (sy < r.y + r.h && spec) { /* speculative decoding of the current model */
        char sp[32] = "-";
        if (m->spec_speedup > 0) snprintf(sp, sizeof sp, "%.2fx", m->spec_speedup);
        if (m->spec_levels == 0) putf(sy, x, w, "spec %s (no run yet)", m->spec_kind);
        else if (sy + 1 >= r.y + r.h)
            putf(sy, x, w, "spec %s acc %.0f%% len %.2f x %s", m->spec_kind, 100 * m->spec_accept[0],
                 m->spec_mean_len[0], sp);
        else {
            putf(sy, x, w, "spec %s accept %.0f%% len %.2f", m->spec_kind, 100 * m->spec_accept[0],
                 m->spec_mean_len[0]);
            putf(sy + 1, x, w, "speedup %s (%.1f tok/s)", sp, m->spec_tps);
            if (sy + 2 < r.y + r.h && m->spec_levels > 1)
                putf(sy + 2, x, w, "bottom accept %.0f%% len %.2f", 100 * m->spec_accept[1], m->spec_mean_len[1]);
        }
    }
}

static void draw_models(app *a, lt_rect r) {
    if (!lt_rect_visible(r)) return;
    side_border(a, r);
    int x = r.x + 2, w = r.w - 3;
    title(a, (lt_rect){r.y, r.x, 1, r.w}, "models");
    lt_model_info info[16];
    int n = lt_session_models(a->s, info, 16), y = r.y + 1;
    if (!n) put(y, x, w, "(none - /load PATH)");
    for (int i = 0; i < n && y < r.y + r.h; i++) {
        char sz[32];
        fmt_short(sz, sizeof sz, (double)info[i].bytes);
        if (info[i].current) attron(A_BOLD);
        bool llm = !strcmp(info[i].kind, "llm");
        if (llm) putf(y++, x, w, "%c%s %s %s", info[i].current ? '*' : ' ', info[i].name, info[i].dtype, sz);
        else putf(y++, x, w, " %s %s", info[i].name, sz); /* a session object: no dtype, context or current */
        if (info[i].current) attroff(A_BOLD);
        if (y < r.y + r.h && llm) putf(y++, x, w, "  %s ctx %d %s", info[i].format, info[i].ctx, info[i].device);
        else if (y < r.y + r.h) putf(y++, x, w, "  %s %s", info[i].kind, info[i].device);
    }
}

/* The last `compare` (core/compress/report.h) in the side column: per model a line of name,
 * bits per weight, size and decode tok/s, and one of both perplexities and the KLD against the
 * first (the original, marked '*'); the full table is in the transcript. */
static void draw_report(app *a, lt_rect r, const lt_creport *c) {
    if (!lt_rect_visible(r)) return;
    side_border(a, r);
    int x = r.x + 2, w = r.w - 3, y = r.y + 1;
    char t[96];
    snprintf(t, sizeof t, "compare %.24s %dx%d", c->text, c->n_chunks, c->ctx);
    title(a, (lt_rect){r.y, r.x, 1, r.w}, t);
    if (y < r.y + r.h) {
        attron(A_DIM);
        put(y++, x, w, "bpw size tg/s | ppl/all kld");
        attroff(A_DIM);
    }
    for (int i = 0; i < c->n && y < r.y + r.h; i++) {
        const lt_creport_row *m = &c->rows[i];
        char sz[32];
        fmt_short(sz, sizeof sz, (double)m->bytes);
        if (!i) attron(A_BOLD);
        putf(y++, x, w, "%c%-7.7s %5.2fb %5s %5.0f", i ? ' ' : '*', m->name, m->bpw, sz, m->decode_tps);
        if (!i) attroff(A_BOLD);
        if (y < r.y + r.h) putf(y++, x, w, "  %.2f/%.2f %.4f", m->ppl, m->ppl_all, m->kld);
    }
}

/* `bench serve`'s engine in the side column (tui/serve_pane.c writes the text): requests,
 * decode/prefill tokens per step, KV blocks, times between tokens. */
static void draw_serve(app *a, lt_rect r, const lt_serve_view *v) {
    if (!lt_rect_visible(r)) return;
    side_border(a, r);
    int x = r.x + 2, w = r.w - 3;
    char t[LT_SERVE_PANE_LINE], lines[LT_SERVE_PANE_ROWS][LT_SERVE_PANE_LINE];
    int n = lt_serve_pane_text(v, w, r.h - 1, a->utf8, t, lines);
    title(a, (lt_rect){r.y, r.x, 1, r.w}, t);
    for (int i = 0; i < n; i++) {
        bool spark = !strncmp(lines[i], "dec ", 4) || !strncmp(lines[i], "pre ", 4) ||
                     (!strncmp(lines[i], "tbt ", 4) && strncmp(lines[i], "tbt p50", 7) && strcmp(lines[i], "tbt -"));
        if (!spark) {
            put(r.y + 1 + i, x, w, lines[i]);
            continue;
        }
        put(r.y + 1 + i, x, 4, lines[i]);
        if (a->colors) attron(COLOR_PAIR(C_SPARK));
        move(r.y + 1 + i, x + 4);
        addstr(lines[i] + 4); /* the sparkline is already w - 5 cells at most */
        if (a->colors) attroff(COLOR_PAIR(C_SPARK));
    }
}

static void draw_status(app *a, lt_rect r) {
    if (!lt_rect_visible(r)) return;
    pthread_mutex_lock(&a->mu);
    bool busy = a->busy, prog = a->prog_on, err = a->status_err;
    double f = a->prog_frac, t0 = a->prog_t0, jt0 = a->job_t0;
    char what[32], status[512], job[64];
    snprintf(what, sizeof what, "%s", a->prog_what);
    snprintf(status, sizeof status, "%s", a->status);
    snprintf(job, sizeof job, "%s", a->job_name);
    pthread_mutex_unlock(&a->mu);
    move(r.y, r.x);
    clrtoeol();
    double now = lt_now();
    if (busy && prog) {
        int bw = r.w / 3 > 10 ? r.w / 3 : 10;
        int fill = (int)(f * bw);
        double el = now - t0, eta = f > 0.01 ? el * (1 - f) / f : -1;
        char bar[256];
        int k = 0;
        bar[k++] = '[';
        for (int i = 0; i < bw && k < 250; i++) bar[k++] = i < fill ? '#' : '.';
        bar[k++] = ']';
        bar[k] = 0;
        char etas[32];
        if (eta >= 0) snprintf(etas, sizeof etas, "ETA %.0fs", eta);
        else snprintf(etas, sizeof etas, "ETA --");
        attron(A_BOLD);
        putf(r.y, r.x, r.w, "%s %s %3.0f%% %s  (Esc cancels)", bar, what, f * 100, etas);
        attroff(A_BOLD);
    } else if (busy) {
        static const char spin[] = "|/-\\";
        attron(A_BOLD);
        putf(r.y, r.x, r.w, "%c running '%s' %.1fs (Esc cancels)", spin[(int)(now * 8) & 3], job, now - jt0);
        attroff(A_BOLD);
    } else if (status[0]) {
        int at = err ? attr_of(a, LT_TEXT_ERROR) : (int)A_NORMAL;
        attron(at);
        putf(r.y, r.x, r.w, "%s%s", err ? "error: " : "", status);
        attroff(at);
    } else {
        attron(A_DIM);
        put(r.y, r.x, r.w, "Ctrl-P palette  Enter run  Esc cancel  PgUp/PgDn scroll  /help  /quit");
        attroff(A_DIM);
    }
}

static void draw_input(app *a, lt_rect r) {
    if (!lt_rect_visible(r)) return;
    move(r.y, r.x);
    clrtoeol();
    if (a->palette_open) {
        attron(A_BOLD);
        putf(r.y, r.x, r.w, "palette> %s", a->pquery);
        attroff(A_BOLD);
        return;
    }
    /* a multi-line input shows the line the cursor is on, after "[N lines]" */
    char prompt[48] = "> ";
    const char *buf = rl_line_buffer ? rl_line_buffer : "";
    int pt = rl_point, nl = 1;
    if (pt > (int)strlen(buf)) pt = (int)strlen(buf);
    for (const char *p = buf; (p = strchr(p, '\n')) != NULL; p++) nl++;
    if (a->pasting) snprintf(prompt, sizeof prompt, "[pasting %zu bytes] ", a->paste_len);
    if (nl > 1) {
        const char *ls = buf + pt;
        while (ls > buf && ls[-1] != '\n') ls--;
        pt -= (int)(ls - buf);
        buf = ls;
        snprintf(prompt, sizeof prompt, "[%d lines] > ", nl);
    }
    int pw = (int)strlen(prompt), avail = r.w - pw - 1;
    int n = (int)strcspn(buf, "\n");
    int cur_cell = cells(buf, (size_t)pt);
    int start = cur_cell > avail ? cur_cell - avail : 0;
    attron(A_BOLD);
    put(r.y, r.x, r.w, prompt);
    attroff(A_BOLD);
    size_t o = cell_off(buf, (size_t)n, start);
    char *row = strndup(buf + o, (size_t)n - o);
    if (row) put(r.y, r.x + pw, avail, row);
    free(row);
    move(r.y, r.x + pw + cur_cell - start);
}

static void draw_palette(app *a, lt_rect m) {
    lt_palette_item items[128];
    const lt_cmd *cmds[128];
    int idx[128];
    int n = palette_items(a, items, cmds, 128);
    int k = lt_palette_filter(a->pquery, items, n, idx, 128);
    if (a->psel >= k) a->psel = k > 0 ? k - 1 : 0;
    int w = m.w - 1 < 100 ? m.w - 1 : 100, h = k + 3;
    if (h > m.h - 2) h = m.h - 2;
    if (w < 20 || h < 3) return;
    int y0 = m.y + 2, x0 = m.x + (m.w - 1 - w) / 2;
    for (int y = y0; y < y0 + h; y++) mvhline(y, x0, ' ', w);
    attron(A_BOLD);
    mvhline(y0, x0, '-', w);
    putf(y0, x0 + 2, w - 4, " commands (%d) - type to filter, Up/Down, Enter runs, Esc closes ", k);
    attroff(A_BOLD);
    putf(y0 + 1, x0 + 1, w - 2, "> %s", a->pquery);
    int rows = h - 3, top = a->psel >= rows ? a->psel - rows + 1 : 0;
    for (int i = 0; i < rows && top + i < k; i++) {
        const lt_cmd *c = cmds[idx[top + i]];
        bool sel = top + i == a->psel;
        if (sel) attron(A_REVERSE);
        mvhline(y0 + 2 + i, x0 + 1, ' ', w - 2);
        putf(y0 + 2 + i, x0 + 1, w - 2, "%-10s %-44s %s", c->name, c->usage, c->help ? c->help : "");
        if (sel) attroff(A_REVERSE);
    }
    mvhline(y0 + h - 1, x0, '-', w);
}

void draw(app *a) {
    lt_rect r[LT_PANE_COUNT];
    lt_layout_compute(LINES, COLS, r);
    erase();
    draw_main(a, r[LT_PANE_MAIN]);
    draw_device(a, r[LT_PANE_DEVICE]);
    draw_throughput(a, r[LT_PANE_THROUGHPUT]);
    lt_creport rep;
    lt_serve_view sv;
    bool side = lt_rect_visible(r[LT_PANE_MODELS]);
    bool have_rep = side && lt_session_creport(a->s, &rep);
    bool have_serve = side && lt_session_serve(a->s, &sv) && (sv.over_report || !have_rep); /* the later one */
    if (have_rep || have_serve) {
        /* a report shares the models pane: the models keep 4 rows on tall panes, none on short ones */
        lt_rect mo = r[LT_PANE_MODELS], re = mo;
        int keep = mo.h >= 12 ? 4 : 0;
        mo.h = keep, re.y += keep, re.h -= keep;
        draw_models(a, mo);
        if (have_serve) draw_serve(a, re, &sv);
        else draw_report(a, re, &rep);
    } else {
        draw_models(a, r[LT_PANE_MODELS]);
    }
    draw_status(a, r[LT_PANE_STATUS]);
    if (a->palette_open && lt_rect_visible(r[LT_PANE_MAIN])) draw_palette(a, r[LT_PANE_MAIN]);
    draw_input(a, r[LT_PANE_INPUT]);
    refresh();
}

