/* app.c - the full-screen workbench: ncurses panes (main transcript, device, throughput,
 * models, status, input), GNU readline through its callback interface for the input line,
 * a command palette (Ctrl-P), and a worker thread that runs every command through the
 * session so the screen keeps redrawing (>= 10 Hz) while models load and text streams.
 *
 * Keys: Enter runs the input line (plain text = chat, "/cmd ..." = a command); Ctrl-P opens
 * the palette; Esc cancels the running job (or closes the palette / clears the line);
 * PgUp/PgDn scroll the transcript; Up/Down walk the history; Ctrl-L redraws. When a command
 * sends a preview (lt_sink_preview; `detect` does), the main pane shows the image in
 * half-block colour cells with its lines beside it, above the transcript, until the next
 * command (or Esc when idle).
 * Leaves out: mouse support, images inside the scrollback.
 */
#include <langinfo.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/backend/backend.h"
#include "core/llm/generate.h"
#include "core/app/session.h"
#include "cli_session.h"
#include "curses.h"
#include "layout.h"
#include "nvml.h"
#include "palette.h"
#include "startup.h"

/* ==== state ====================================================================== */

#define MAX_LINES 8000
#define SPARK_SECONDS 60.0
#define MAX_QUEUE 32

typedef struct tline {
    lt_text_kind kind;
    char *s;
    size_t len, cap;
    unsigned char *tint; /* per byte: 1 = an accepted speculative draft (NULL = none) */
} tline;

typedef struct app {
    lt_session *s;
    lt_nvml *nvml;
    bool utf8, colors;
    char history_path[4200];

    /* shared with the worker: guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tline lines[MAX_LINES];
    int head, n_lines; /* ring of transcript lines */
    bool line_open;    /* the last line has no newline yet */
    char *queue[MAX_QUEUE]; /* command lines waiting for the worker, oldest first */
    int n_queue;
    bool busy, stop;
    char job_name[64];
    double job_t0;
    char prog_what[32];
    double prog_frac, prog_t0;
    bool prog_on;
    char status[512];
    bool status_err;
    /* the last preview a command sent, copied by the worker (the command owns the original) */
    lt_image pv_img;
    char **pv_lines; /* one per item found, e.g. "dog 0.98 [l t w h]" */
    int pv_n;
    bool pv_on;
    lt_image_cells pv_cells; /* cached for the size it was made for */
    int pv_cols, pv_rows;

    /* UI thread only */
    int scroll; /* rows scrolled up from the bottom */
    bool palette_open;
    char pquery[128];
    int psel;
    bool quit;
    double last_sample;
    lt_metric_sample smp;
    bool have_smp;
} app;

static app *g_app; /* readline's callbacks carry no user pointer */

enum { C_USER = 1, C_MODEL, C_INFO, C_ERR, C_W, C_K, C_S, C_O, C_F, C_TITLE, C_SPARK, C_DRAFT };

/* ==== transcript (any thread, mu held by the caller) ============================== */

static tline *tl_at(app *a, int i) { return &a->lines[(a->head + i) % MAX_LINES]; }

static tline *tl_new(app *a, lt_text_kind k) {
    tline *l;
    if (a->n_lines == MAX_LINES) {
        l = tl_at(a, 0);
        a->head = (a->head + 1) % MAX_LINES;
        a->n_lines--;
        free(l->s);
        free(l->tint);
        memset(l, 0, sizeof *l);
    }
    l = tl_at(a, a->n_lines++);
    memset(l, 0, sizeof *l);
    l->kind = k;
    return l;
}

static void tl_append(app *a, lt_text_kind k, const char *s, size_t n) {
    bool drafted = k == LT_TEXT_MODEL_DRAFT; /* model text, tinted */
    if (drafted) k = LT_TEXT_MODEL;
    for (size_t i = 0; i < n;) {
        tline *l = a->line_open && a->n_lines ? tl_at(a, a->n_lines - 1) : NULL;
        if (!l || (l->kind != k && l->len > 0)) {
            if (l) a->line_open = false;
            l = tl_new(a, k);
            a->line_open = true;
        }
        l->kind = k;
        const char *nl = memchr(s + i, '\n', n - i);
        size_t take = nl ? (size_t)(nl - (s + i)) : n - i;
        if (l->len + take + 1 > l->cap) {
            size_t nc = (l->len + take + 1) * 2;
            char *ns = realloc(l->s, nc);
            if (!ns) return;
            l->s = ns;
            if (l->tint) {
                unsigned char *nt = realloc(l->tint, nc);
                if (!nt) return;
                memset(nt + l->cap, 0, nc - l->cap);
                l->tint = nt;
            }
            l->cap = nc;
        }
        if (drafted && !l->tint) l->tint = calloc(1, l->cap ? l->cap : 1);
        if (l->tint) memset(l->tint + l->len, drafted, take);
        for (size_t j = 0; j < take; j++) { /* tabs and control bytes would break the layout */
            char ch = s[i + j];
            l->s[l->len++] = ch == '\t' ? ' ' : ((unsigned char)ch < 32 ? '?' : ch);
        }
        l->s[l->len] = 0;
        i += take;
        if (nl) {
            i++;
            a->line_open = false;
        }
    }
}

static void say(app *a, lt_text_kind k, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    pthread_mutex_lock(&a->mu);
    if (a->line_open) tl_append(a, k, "\n", 1);
    tl_append(a, k, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    pthread_mutex_unlock(&a->mu);
}

/* ==== worker ===================================================================== */

static void sink_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    app *a = ud;
    pthread_mutex_lock(&a->mu);
    if (k == LT_TEXT_USER && a->line_open) tl_append(a, k, "\n", 1);
    tl_append(a, k, s, n);
    pthread_mutex_unlock(&a->mu);
}

static void sink_progress(void *ud, const char *what, double f) {
    app *a = ud;
    pthread_mutex_lock(&a->mu);
    if (!a->prog_on || strcmp(a->prog_what, what)) {
        snprintf(a->prog_what, sizeof a->prog_what, "%s", what);
        a->prog_t0 = lt_now();
        a->prog_on = true;
    }
    a->prog_frac = f;
    if (f >= 1.0) a->prog_on = false;
    pthread_mutex_unlock(&a->mu);
}

static void clear_queue(app *a) { /* mu held */
    for (int i = 0; i < a->n_queue; i++) free(a->queue[i]);
    a->n_queue = 0;
}

/* ==== preview =================================================================== */

static void preview_clear(app *a) { /* mu held */
    lt_image_free(&a->pv_img);
    lt_image_cells_free(&a->pv_cells);
    a->pv_cols = a->pv_rows = 0;
    for (int i = 0; i < a->pv_n; i++) free(a->pv_lines[i]);
    free(a->pv_lines);
    a->pv_lines = NULL;
    a->pv_n = 0;
    a->pv_on = false;
}

/* The sink's preview callback (worker thread, while a command runs): copies the image and
 * its lines, then swaps them in under mu. */
static void sink_preview(void *ud, const lt_image *img, const char *const *lines, int n) {
    app *a = ud;
    lt_image copy = {0};
    lt_err err;
    if (lt_image_alloc(&copy, img->w, img->h, img->c, 0, &err) != LT_OK) return;
    memcpy(copy.data, img->data, sizeof(float) * (size_t)img->w * img->h * img->c);
    char **mine = calloc((size_t)n + 1, sizeof *mine);
    for (int i = 0; mine && i < n; i++) mine[i] = strdup(lines[i]);
    pthread_mutex_lock(&a->mu);
    preview_clear(a);
    a->pv_img = copy;
    a->pv_lines = mine;
    a->pv_n = mine ? n : 0;
    a->pv_on = true;
    pthread_mutex_unlock(&a->mu);
}

static void *worker(void *ud) {
    app *a = ud;
    lt_sink sink = {.ud = a, .text = sink_text, .progress = sink_progress, .tint = true, .preview = sink_preview};
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->n_queue && !a->stop) pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop) { /* quitting: jobs not started yet are dropped */
            clear_queue(a);
            a->busy = false;
            break;
        }
        char *line = a->queue[0];
        memmove(a->queue, a->queue + 1, sizeof(char *) * (size_t)(--a->n_queue));
        a->busy = true;
        snprintf(a->job_name, sizeof a->job_name, "%.40s", line);
        a->job_t0 = lt_now();
        pthread_mutex_unlock(&a->mu);
        lt_err err = {0};
        lt_status st = lt_session_exec(a->s, line, &sink, &err);
        const lt_result *r = lt_session_last(a->s);
        pthread_mutex_lock(&a->mu);
        if (a->line_open) tl_append(a, LT_TEXT_INFO, "\n", 1);
        if (st != LT_OK) {
            snprintf(a->status, sizeof a->status, "%s", err.msg);
            a->status_err = true;
            tl_append(a, LT_TEXT_ERROR, err.msg, strlen(err.msg));
            tl_append(a, LT_TEXT_ERROR, "\n", 1);
        } else if (r->cmd[0]) {
            snprintf(a->status, sizeof a->status, "%s %s in %.2f s", r->cmd, r->cancelled ? "cancelled" : "done",
                     r->seconds);
            if (r->n_tokens)
                snprintf(a->status + strlen(a->status), sizeof a->status - strlen(a->status), " (%d tokens)",
                         r->n_tokens);
            a->status_err = false;
        }
        a->busy = a->n_queue > 0;
        a->prog_on = false;
        free(line);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Queues a line for the worker (lines typed while a job runs wait their turn); false when
 * the queue is full. */
static bool submit(app *a, const char *line) {
    pthread_mutex_lock(&a->mu);
    bool ok = a->n_queue < MAX_QUEUE;
    char *copy = ok ? strdup(line) : NULL;
    if (copy) {
        preview_clear(a);
        a->queue[a->n_queue++] = copy;
        if (!a->busy) {
            a->status[0] = 0;
            snprintf(a->job_name, sizeof a->job_name, "%.40s", line);
            a->job_t0 = lt_now();
        }
        a->busy = true;
        pthread_cond_signal(&a->cv);
    } else {
        snprintf(a->status, sizeof a->status, "too many commands waiting - Esc cancels the running job");
        a->status_err = true;
    }
    pthread_mutex_unlock(&a->mu);
    a->scroll = 0;
    return copy != NULL;
}

static bool is_busy(app *a) {
    pthread_mutex_lock(&a->mu);
    bool b = a->busy;
    pthread_mutex_unlock(&a->mu);
    return b;
}

/* Runs a command line from the input line or the palette through the session (the main loop
 * leaves once lt_session_quit_requested says `quit` ran). A command marked `exits` (quit)
 * while a job runs cancels the job and leaves at once, since queued behind the job it would
 * wait for it to finish (the worker is inside lt_session_exec until then). */
static void run_line(app *a, const char *line) {
    if (is_busy(a)) {
        char word[32];
        size_t n = strcspn(line + 1, " \t");
        const lt_cmd *c;
        lt_err err;
        snprintf(word, sizeof word, "%.*s", (int)(n < sizeof word ? n : sizeof word - 1), line + 1);
        if (lt_cmds_find(lt_session_commands(a->s), word, &c, &err) == LT_OK && c->exits) {
            lt_session_cancel(a->s);
            a->quit = true;
            return;
        }
    }
    submit(a, line);
}

/* ==== readline ==================================================================== */

static int rl_char;
static bool rl_avail;

static int rl_getc_cb(FILE *f) {
    (void)f;
    rl_avail = false;
    return rl_char;
}
static int rl_avail_cb(void) { return rl_avail; }
static void rl_redisplay_cb(void) {} /* the frame draws rl_line_buffer itself */

static void rl_feed(int c) {
    rl_char = c;
    rl_avail = true;
    rl_callback_read_char();
}

static void on_line(char *line) {
    app *a = g_app;
    if (!line) return;
    char *p = line;
    while (*p == ' ') p++;
    if (*p) {
        add_history(line);
        if (a->history_path[0]) append_history(1, a->history_path);
        if (*p == '/') {
            run_line(a, p);
        } else {
            size_t n = strlen(p) + 8;
            char *cmd = malloc(n);
            if (cmd) {
                snprintf(cmd, n, "chat %s", p);
                submit(a, cmd);
                free(cmd);
            }
        }
    }
    free(line);
}

/* Tab completes command names after a leading '/'. */
static char *complete_cmd(const char *text, int state) {
    static int i;
    if (!state) i = 0;
    const lt_cmds *c = lt_session_commands(g_app->s);
    size_t n = strlen(text);
    for (const lt_cmd *k; (k = lt_cmds_at(c, i)) != NULL;) {
        i++;
        if (!strncmp(k->name, text, n)) return strdup(k->name);
    }
    return NULL;
}

static char **complete(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1; /* no file-name completion */
    if (start == 1 && rl_line_buffer[0] == '/') return rl_completion_matches(text, complete_cmd);
    return NULL;
}

/* ==== palette ===================================================================== */

static int palette_items(app *a, lt_palette_item *items, const lt_cmd **cmds, int cap) {
    const lt_cmds *c = lt_session_commands(a->s);
    int n = lt_cmds_count(c);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) {
        cmds[i] = lt_cmds_at(c, i);
        items[i] = (lt_palette_item){cmds[i]->name, cmds[i]->alias, cmds[i]->usage, cmds[i]->help};
    }
    return n;
}

static void palette_run(app *a) {
    lt_palette_item items[128];
    const lt_cmd *cmds[128];
    int idx[128];
    int n = palette_items(a, items, cmds, 128);
    int k = lt_palette_filter(a->pquery, items, n, idx, 128);
    a->palette_open = false;
    if (k == 0) return;
    if (a->psel >= k) a->psel = k - 1;
    const lt_cmd *c = cmds[idx[a->psel]];
    if (c->min_args > 0) { /* ask for the missing arguments on the input line */
        char pre[96];
        snprintf(pre, sizeof pre, "/%s ", c->name);
        rl_replace_line(pre, 0);
        rl_point = rl_end;
        char ask[400] = "";
        for (int i = 0; c->args && c->args[i].name && i < c->min_args; i++)
            snprintf(ask + strlen(ask), sizeof ask - strlen(ask), "%s%s (%s)", i ? ", " : "", c->args[i].name,
                     c->args[i].help);
        pthread_mutex_lock(&a->mu);
        snprintf(a->status, sizeof a->status, "%s needs %s - type and press Enter", c->name, ask[0] ? ask : "arguments");
        a->status_err = false;
        pthread_mutex_unlock(&a->mu);
        return;
    }
    char line[96];
    snprintf(line, sizeof line, "/%s", c->name);
    run_line(a, line);
}

static void palette_key(app *a, int c) {
    size_t n = strlen(a->pquery);
    if (c == 27) a->palette_open = false;
    else if (c == KEY_UP) a->psel = a->psel > 0 ? a->psel - 1 : 0;
    else if (c == KEY_DOWN) a->psel++;
    else if (c == '\n' || c == '\r' || c == KEY_ENTER) palette_run(a);
    else if (c == KEY_BACKSPACE || c == 127 || c == 8) {
        if (n) a->pquery[n - 1] = 0;
        a->psel = 0;
    } else if (c >= 32 && c < 127 && n + 1 < sizeof a->pquery) {
        a->pquery[n] = (char)c;
        a->pquery[n + 1] = 0;
        a->psel = 0;
    }
}

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
        addnstr(p, (int)(q - p));
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
 * UTF-8 and 256 colours; otherwise only the list) and its lines beside it, headed by their
 * count (the detections of `detect`). mu held. Returns the rows used. */
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
    putf(ly++, lx, lw, "%d detection%s", a->pv_n, a->pv_n == 1 ? "" : "s");
    for (int i = 0; i < a->pv_n && ly < y + h; i++) {
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
    /* walk back from the newest line, counting wrapped rows, until the screen (plus the
     * scroll offset) is covered */
    int need = h + a->scroll, rows = 0, first = a->n_lines;
    while (first > 0 && rows < need) {
        tline *l = tl_at(a, first - 1);
        const char *s = l->s ? l->s : "";
        if (l->kind == LT_TEXT_USER) {
            snprintf(buf, sizeof buf, "> %s", s);
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
            snprintf(buf, sizeof buf, "> %s", s);
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
    if (r.h > 5) putf(r.y + 5, x, w, "KV blocks %d / %d", m->kv_used, m->kv_total);
    if (r.h > 6 && m->spec_kind[0]) { /* speculative decoding of the current model */
        char sp[32] = "-";
        if (m->spec_speedup > 0) snprintf(sp, sizeof sp, "%.2fx", m->spec_speedup);
        if (m->spec_levels == 0) putf(r.y + 6, x, w, "spec %s (no run yet)", m->spec_kind);
        else if (r.h <= 7)
            putf(r.y + 6, x, w, "spec %s acc %.0f%% len %.2f x %s", m->spec_kind, 100 * m->spec_accept[0],
                 m->spec_mean_len[0], sp);
        else {
            putf(r.y + 6, x, w, "spec %s accept %.0f%% len %.2f", m->spec_kind, 100 * m->spec_accept[0],
                 m->spec_mean_len[0]);
            putf(r.y + 7, x, w, "speedup %s (%.1f tok/s)", sp, m->spec_tps);
            if (r.h > 8 && m->spec_levels > 1)
                putf(r.y + 8, x, w, "bottom accept %.0f%% len %.2f", 100 * m->spec_accept[1], m->spec_mean_len[1]);
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
        putf(y++, x, w, "%c%s %s %s", info[i].current ? '*' : ' ', info[i].name, info[i].dtype, sz);
        if (info[i].current) attroff(A_BOLD);
        if (y < r.y + r.h) putf(y++, x, w, "  %s ctx %d %s", info[i].format, info[i].ctx, info[i].device);
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
    const char *prompt = "> ";
    int pw = 2, avail = r.w - pw - 1;
    const char *buf = rl_line_buffer ? rl_line_buffer : "";
    int n = (int)strlen(buf), pt = rl_point;
    int cur_cell = cells(buf, (size_t)pt);
    int start = cur_cell > avail ? cur_cell - avail : 0;
    attron(A_BOLD);
    put(r.y, r.x, r.w, prompt);
    attroff(A_BOLD);
    size_t o = cell_off(buf, (size_t)n, start);
    put(r.y, r.x + pw, avail, buf + o);
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

static void draw(app *a) {
    lt_rect r[LT_PANE_COUNT];
    lt_layout_compute(LINES, COLS, r);
    erase();
    draw_main(a, r[LT_PANE_MAIN]);
    draw_device(a, r[LT_PANE_DEVICE]);
    draw_throughput(a, r[LT_PANE_THROUGHPUT]);
    draw_models(a, r[LT_PANE_MODELS]);
    draw_status(a, r[LT_PANE_STATUS]);
    if (a->palette_open && lt_rect_visible(r[LT_PANE_MAIN])) draw_palette(a, r[LT_PANE_MAIN]);
    draw_input(a, r[LT_PANE_INPUT]);
    refresh();
}

/* ==== keys ======================================================================== */

static void on_key(app *a, int c) {
    if (a->palette_open) {
        palette_key(a, c);
        return;
    }
    lt_rect r[LT_PANE_COUNT];
    lt_layout_compute(LINES, COLS, r);
    int page = r[LT_PANE_MAIN].h > 2 ? r[LT_PANE_MAIN].h - 2 : 1;
    switch (c) {
    case 16: /* Ctrl-P */
        a->palette_open = true;
        a->pquery[0] = 0;
        a->psel = 0;
        return;
    case 27: /* Esc */
    case 3:  /* Ctrl-C */
        if (is_busy(a)) {
            lt_session_cancel(a->s);
            pthread_mutex_lock(&a->mu);
            clear_queue(a); /* Esc means stop: queued lines are dropped too */
            snprintf(a->status, sizeof a->status, "cancelling '%s'...", a->job_name);
            a->status_err = false;
            pthread_mutex_unlock(&a->mu);
        } else {
            rl_replace_line("", 0);
            rl_point = 0;
            pthread_mutex_lock(&a->mu);
            preview_clear(a);
            pthread_mutex_unlock(&a->mu);
        }
        return;
    case 12: /* Ctrl-L */
        clearok(curscr, TRUE);
        return;
    case KEY_PPAGE: a->scroll += page; return;
    case KEY_NPAGE: a->scroll = a->scroll > page ? a->scroll - page : 0; return;
    case KEY_RESIZE: return;
    case KEY_UP: rl_get_previous_history(1, 0); return;
    case KEY_DOWN: rl_get_next_history(1, 0); return;
    case KEY_LEFT: rl_backward_char(1, 0); return;
    case KEY_RIGHT: rl_forward_char(1, 0); return;
    case KEY_HOME: rl_beg_of_line(1, 0); return;
    case KEY_END: rl_end_of_line(1, 0); return;
    case KEY_DC: rl_delete(1, 0); return;
    case KEY_BACKSPACE: rl_feed(127); return;
    case KEY_ENTER: rl_feed('\n'); return;
    case '\r': rl_feed('\n'); return;
    default:
        if (c >= 0 && c < 256) rl_feed(c);
    }
}

/* ==== main ======================================================================== */

static void sample(app *a) {
    lt_metric_sample m;
    lt_session_sample(a->s, &m); /* also appends to the ring */
    double util;
    size_t used, total;
    if (a->nvml && lt_nvml_query(a->nvml, &util, &used, &total)) {
        m.util = util;
        if (!m.mem_total && total) m.mem_total = total, m.mem_free = total - used;
    }
    a->smp = m;
    a->have_smp = true;
}

/* The worker thread: the start-up (tui/startup.c: config lines, then the model), then the queue. */
static lt_startup g_plan;
static void *startup_then_work(void *ud) {
    app *a = ud;
    lt_sink sink = {.ud = a, .text = sink_text, .progress = sink_progress, .tint = true, .preview = sink_preview};
    char st[sizeof a->status];
    bool bad = false;
    lt_startup_run(a->s, &g_plan, &sink, st, sizeof st, &bad);
    lt_startup_free(&g_plan);
    pthread_mutex_lock(&a->mu);
    if (a->line_open) tl_append(a, LT_TEXT_INFO, "\n", 1);
    snprintf(a->status, sizeof a->status, "%s", st);
    a->status_err = bad;
    a->busy = a->n_queue > 0;
    a->prog_on = false;
    pthread_mutex_unlock(&a->mu);
    return worker(a);
}

int lt_workbench_main(int argc, char **argv) {
    char sd[4096];
    lt_err err = {0};
    lt_wb_args args;
    int rc = lt_wb_parse_args(argc, argv, &args);
    if (rc) return rc == 1 ? 0 : 2;
    if (lt_wb_startup_plan(&args, &g_plan, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        return 1;
    }
    setlocale(LC_ALL, "");
    static app A;
    app *a = &A;
    g_app = a;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    lt_cli_state_dir(sd, sizeof sd);
    if (lt_cli_session_create(&a->s, sd, true, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        lt_startup_free(&g_plan);
        return 1;
    }
    snprintf(a->history_path, sizeof a->history_path, "%s/history", sd);
    using_history();
    if (read_history(a->history_path) != 0) write_history(a->history_path); /* creates it for append_history */
    FILE *devnull = fopen("/dev/null", "w");
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_prep_term_function = NULL;
    rl_deprep_term_function = NULL;
    rl_getc_function = rl_getc_cb;
    rl_input_available_hook = rl_avail_cb;
    rl_redisplay_function = rl_redisplay_cb;
    if (devnull) rl_outstream = devnull;
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = " /";
    rl_callback_handler_install("", on_line);

    a->nvml = lt_nvml_open(0);
    a->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
    set_escdelay(25);
    initscr();
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    timeout(40);
    if (has_colors() && !getenv("NO_COLOR")) {
        start_color();
        use_default_colors();
        a->colors = true;
        init_pair(C_USER, COLOR_GREEN, -1);
        init_pair(C_MODEL, -1, -1);
        init_pair(C_DRAFT, COLOR_YELLOW, -1); /* accepted speculative drafts */
        init_pair(C_INFO, COLOR_CYAN, -1);
        init_pair(C_ERR, COLOR_RED, -1);
        init_pair(C_W, COLOR_BLACK, COLOR_BLUE);
        init_pair(C_K, COLOR_BLACK, COLOR_MAGENTA);
        init_pair(C_S, COLOR_BLACK, COLOR_YELLOW);
        init_pair(C_O, COLOR_BLACK, COLOR_WHITE);
        init_pair(C_F, COLOR_GREEN, -1);
        init_pair(C_TITLE, COLOR_BLACK, COLOR_CYAN);
        init_pair(C_SPARK, COLOR_GREEN, -1);
    }
    say(a, LT_TEXT_INFO, "%s\n", g_plan.welcome);
    if (lt_session_journal_path(a->s)) say(a, LT_TEXT_INFO, "journal: %s\n", lt_session_journal_path(a->s));
    a->busy = true; /* the start-up runs first, as one job */
    snprintf(a->job_name, sizeof a->job_name, "start-up");
    a->job_t0 = lt_now();
    pthread_t th;
    pthread_create(&th, NULL, startup_then_work, a);

    double last_draw = 0;
    while (!a->quit) {
        int c = getch();
        if (c != ERR) {
            on_key(a, c);
            timeout(0); /* drain what is queued (pasted text) before drawing */
            int k = 0;
            while (!a->quit && k++ < 512 && (c = getch()) != ERR) on_key(a, c);
            timeout(40);
        }
        double now = lt_now();
        if (now - a->last_sample >= 0.2) {
            sample(a);
            a->last_sample = now;
        }
        if (now - last_draw >= 0.05 || c != ERR) {
            draw(a);
            last_draw = now;
        }
        if (lt_session_quit_requested(a->s)) a->quit = true;
    }
    lt_session_cancel(a->s);
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    /* a job still running sees the cancel flag; wait for it */
    while (is_busy(a)) {
        lt_session_cancel(a->s);
        usleep(10000);
    }
    pthread_join(th, NULL);
    endwin();
    rl_callback_handler_remove();
    history_truncate_file(a->history_path, 1000);
    const char *jp = lt_session_journal_path(a->s);
    if (jp) printf("session journal: %s\n", jp);
    lt_session_free(a->s);
    lt_nvml_close(a->nvml);
    for (int i = 0; i < a->n_lines; i++) free(tl_at(a, i)->s), free(tl_at(a, i)->tint);
    clear_queue(a);
    preview_clear(a);
    if (devnull) fclose(devnull);
    return 0;
}
