/* app.c - the full-screen workbench: ncurses panes (main transcript, device, throughput,
 * models, status, input), GNU readline through its callback interface for the input line,
 * a command palette (Ctrl-P), and a worker thread that runs every command through the
 * session so the screen keeps redrawing (>= 10 Hz) while models load and text streams.
 *
 * Keys: Enter runs the input line (plain text = chat, "/cmd ..." = a command); Alt-Enter or
 * a trailing backslash starts a new line of the same input, and a paste (bracketed paste
 * mode) arrives as one input with its line breaks; Tab completes command names and file
 * paths; Ctrl-P opens the palette; Esc cancels the running job and drops the queued lines
 * (or closes the palette / clears the line); PgUp/PgDn scroll the transcript; Up/Down walk
 * the history; Ctrl-L redraws. Typed command lines are echoed into the transcript when they
 * run; lines typed while a job runs are shown as queued. When a command
 * sends a preview (lt_sink_preview; `detect` does), the main pane shows the image in
 * half-block colour cells with its lines beside it, above the transcript, until the next
 * command (or Esc when idle).
 * Leaves out: mouse support, images inside the scrollback.
 */
#include <errno.h>
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
#include "app_impl.h"
#include "cli_session.h"
#include "curses.h"
#include "startup.h"

app *g_app;

/* ==== transcript (any thread, mu held by the caller) ============================== */

tline *tl_at(app *a, int i) { return &a->lines[(a->head + i) % MAX_LINES]; }

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
    bool cont = false; /* a newline inside one user text: the next line continues the turn */
    for (size_t i = 0; i < n;) {
        tline *l = a->line_open && a->n_lines ? tl_at(a, a->n_lines - 1) : NULL;
        if (!l || (l->kind != k && l->len > 0)) {
            if (l) a->line_open = false;
            l = tl_new(a, k);
            l->cont = cont && k == LT_TEXT_USER;
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
            cont = true;
        }
    }
}

void say(app *a, lt_text_kind k, const char *fmt, ...) {
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

void clear_queue(app *a) { /* mu held */
    for (int i = 0; i < a->n_queue; i++) free(a->queue[i].line);
    a->n_queue = 0;
}

/* ==== preview =================================================================== */

void preview_clear(app *a) { /* mu held */
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

/* The job's name for the status line: the start of its line, line breaks as spaces. mu held. */
static void set_job(app *a, const char *line) {
    snprintf(a->job_name, sizeof a->job_name, "%.40s", line);
    for (char *p = a->job_name; *p; p++)
        if ((unsigned char)*p < 32) *p = ' ';
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
        qitem q = a->queue[0];
        char *line = q.line;
        memmove(a->queue, a->queue + 1, sizeof(qitem) * (size_t)(--a->n_queue));
        a->busy = true;
        set_job(a, line);
        a->job_t0 = lt_now();
        if (q.echo) { /* the typed command line, as a user line of the transcript */
            if (a->line_open) tl_append(a, LT_TEXT_INFO, "\n", 1);
            tl_append(a, LT_TEXT_USER, line, strlen(line));
            tl_append(a, LT_TEXT_USER, "\n", 1);
        }
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
                snprintf(a->status + strlen(a->status), sizeof a->status - strlen(a->status), " (%d %s)",
                         r->n_tokens, r->unit ? r->unit : "tokens");
            a->status_err = false;
        }
        a->busy = a->n_queue > 0;
        a->prog_on = false;
        free(line);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Queues a line for the worker (lines typed while a job runs wait their turn, shown dimmed
 * above the input line); false when the queue is full. */
bool submit_as(app *a, const char *line, bool echo) {
    pthread_mutex_lock(&a->mu);
    bool ok = a->n_queue < MAX_QUEUE;
    char *copy = ok ? strdup(line) : NULL;
    if (copy) {
        preview_clear(a);
        a->queue[a->n_queue++] = (qitem){copy, echo};
        if (!a->busy) {
            a->status[0] = 0;
            set_job(a, line);
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

bool submit(app *a, const char *line) { return submit_as(a, line, false); }

bool is_busy(app *a) {
    pthread_mutex_lock(&a->mu);
    bool b = a->busy;
    pthread_mutex_unlock(&a->mu);
    return b;
}

/* Runs a command line from the input line or the palette through the session (the main loop
 * leaves once lt_session_quit_requested says `quit` ran). A command marked `exits` (quit)
 * while a job runs cancels the job and leaves at once, since queued behind the job it would
 * wait for it to finish (the worker is inside lt_session_exec until then). */
void run_line(app *a, const char *line) {
    char word[32];
    size_t n = strcspn(line + 1, " \t\r\n");
    const lt_cmd *c = NULL;
    lt_err err;
    snprintf(word, sizeof word, "%.*s", (int)(n < sizeof word ? n : sizeof word - 1), line + 1);
    if (lt_cmds_find(lt_session_commands(a->s), word, &c, &err) != LT_OK) c = NULL;
    if (c && c->exits && is_busy(a)) {
        lt_session_cancel(a->s);
        a->quit = true;
        return;
    }
    submit_as(a, line, !(c && c->text)); /* chat and generate echo their text themselves */
}

/* ==== the workbench's own commands ================================================ */

/* `save-transcript FILE`: the transcript's text as shown (user lines with "> "), one line
 * per transcript line. Runs on the worker; reads the transcript under mu. */
static lt_status cmd_save_transcript(lt_session *s, const lt_args *args, lt_sink *sink, lt_err *err) {
    (void)s;
    app *a = g_app;
    const char *path = args->argv[1];
    FILE *f = fopen(path, "w");
    if (!f) return lt_err_set(err, LT_EIO, "save-transcript: cannot write '%s': %s", path, strerror(errno));
    pthread_mutex_lock(&a->mu);
    int n = a->n_lines;
    for (int i = 0; i < n; i++) {
        const tline *l = tl_at(a, i);
        const char *pre = l->kind != LT_TEXT_USER ? "" : l->cont ? "  " : "> ";
        fprintf(f, "%s%s\n", pre, l->s ? l->s : "");
    }
    pthread_mutex_unlock(&a->mu);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return lt_err_set(err, LT_EIO, "save-transcript: writing '%s' failed: %s", path, strerror(errno));
    lt_sink_printf(sink, LT_TEXT_INFO, "transcript saved to %s (%d lines)\n", path, n);
    return LT_OK;
}

static const lt_cmd_arg k_file_arg[] = {{"FILE", "the text file to write"}, {NULL, NULL}};

static const lt_cmd k_app_cmds[] = {
    {"save-transcript", NULL, "save-transcript FILE",
     "write the workbench transcript (prompts, output, messages) to FILE", 1, 1, k_file_arg, false,
     cmd_save_transcript},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, false, NULL},
};

static const lt_cmd_table k_app_table = {"workbench", k_app_cmds};

void app_register_commands(app *a) {
    lt_err err;
    if (lt_session_add_commands(a->s, &k_app_table, &err) != LT_OK) say(a, LT_TEXT_ERROR, "%s\n", err.msg);
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
    app_register_commands(a);
    history_multiline_entries = 1; /* multi-line inputs stay one entry (timestamps delimit them) */
    history_write_timestamps = 1;
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
    rl_completer_word_break_characters = " \t\n";
    rl_completion_display_matches_hook = app_show_matches;
    rl_completion_query_items = 0;
    rl_variable_bind("show-all-if-ambiguous", "on"); /* the matches go to the status line at once */
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
    app_paste_mode(true);
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
    app_paste_mode(false);
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
    free(a->paste);
    if (devnull) fclose(devnull);
    return 0;
}
