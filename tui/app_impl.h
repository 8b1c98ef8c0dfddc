/* app_impl.h - the workbench's private state and the functions its files share:
 * tui/app.c (state, transcript, worker thread, main loop), tui/app_draw.c (the panes),
 * tui/app_input.c (readline, keys, completion, the palette). Not a public header.
 */
#ifndef LT_TUI_APP_IMPL_H
#define LT_TUI_APP_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/app/session.h"
#include "layout.h"
#include "nvml.h"
#include "palette.h"

/* ==== state ====================================================================== */

#define MAX_LINES 8000
#define SPARK_SECONDS 60.0
#define MAX_QUEUE 32

typedef struct tline {
    lt_text_kind kind;
    char *s;
    size_t len, cap;
    unsigned char *tint; /* per byte: 1 = an accepted speculative draft (NULL = none) */
    bool cont;           /* a user line after the first of a multi-line turn (drawn indented) */
} tline;

typedef struct qitem {
    char *line; /* the command line for lt_session_exec */
    bool echo;  /* shown as a user line when it starts (typed commands; chat echoes itself) */
} qitem;

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
    qitem queue[MAX_QUEUE]; /* command lines waiting for the worker, oldest first */
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
    bool pasting;        /* inside a bracketed paste: keys go to paste, not to readline */
    char *paste;         /* the pasted text so far (CR made LF) */
    size_t paste_len, paste_cap;
} app;

extern app *g_app; /* readline's callbacks carry no user pointer (tui/app.c) */

enum { C_USER = 1, C_MODEL, C_INFO, C_ERR, C_W, C_K, C_S, C_O, C_F, C_TITLE, C_SPARK, C_DRAFT };

/* ---- tui/app.c: transcript and worker (tl_* and say: any thread) ---------------------- */

tline *tl_at(app *a, int i); /* mu held */
void say(app *a, lt_text_kind k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void clear_queue(app *a);   /* mu held */
void preview_clear(app *a); /* mu held */
bool submit(app *a, const char *line);            /* not echoed (chat echoes itself) */
bool submit_as(app *a, const char *line, bool echo); /* echo: shown as a user line when it runs */
bool is_busy(app *a);
void run_line(app *a, const char *line);
/* Registers the workbench's own commands (save-transcript) with the session. */
void app_register_commands(app *a);

/* ---- tui/app_draw.c ------------------------------------------------------------------- */

void draw(app *a);

/* ---- tui/app_input.c ------------------------------------------------------------------ */

int rl_getc_cb(FILE *f);
int rl_avail_cb(void);
void rl_redisplay_cb(void);
void on_line(char *line);
char **complete(const char *text, int start, int end);
int palette_items(app *a, lt_palette_item *items, const lt_cmd **cmds, int cap);
void on_key(app *a, int c);
/* Bracketed paste: asks the terminal for it (ESC[?2004h) and teaches curses its two keys;
 * app_paste_mode(false) at exit (ESC[?2004l). */
void app_paste_mode(bool on);
/* Status line text with the matches when Tab completion is ambiguous. */
void app_show_matches(char **matches, int n, int max_len);

#endif
