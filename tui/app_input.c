/* app_input.c - the workbench's input (see app.c): GNU readline through its callback
 * interface fed one key at a time, multi-line input (bracketed paste, Alt-Enter, a trailing
 * backslash), Tab completion (command names, file paths), the command palette and the key
 * map. UI thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_impl.h"
#include "curses.h"

/* ==== readline ==================================================================== */

static int rl_char;
static bool rl_avail;

int rl_getc_cb(FILE *f) {
    (void)f;
    rl_avail = false;
    return rl_char;
}
int rl_avail_cb(void) { return rl_avail; }
void rl_redisplay_cb(void) {} /* the frame draws rl_line_buffer itself */

static void rl_feed(int c) {
    rl_char = c;
    rl_avail = true;
    rl_callback_read_char();
}

void on_line(char *line) {
    app *a = g_app;
    if (!line) return;
    char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
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

/* Tab completes command names after a leading '/' ("/lo" -> "/load"). */
static char *complete_cmd(const char *text, int state) {
    static int i;
    if (!state) i = 0;
    const lt_cmds *c = lt_session_commands(g_app->s);
    size_t n = strlen(text + 1);
    for (const lt_cmd *k; (k = lt_cmds_at(c, i)) != NULL;) {
        i++;
        if (!strncmp(k->name, text + 1, n)) {
            char *m = malloc(strlen(k->name) + 2);
            if (m) sprintf(m, "/%s", k->name);
            return m;
        }
    }
    return NULL;
}

/* Commands whose first argument is a file (and `session save PATH`), and options whose value
 * is one (detect's --model is its cfg file, imagine's -m a folder; quantize's and spec's name a
 * loaded model). */
static const char *const k_path_cmds[] = {"load", "detect", "replay", "quantize", "save-transcript", NULL};
static const char *const k_path_opts[] = {"--tokenizer", "-f",           "--kld", "--weights", "--names",
                                          "--out",       "--init-noise", NULL};

static bool in_list(const char *const *l, const char *w) {
    for (int i = 0; l[i]; i++)
        if (!strcmp(l[i], w)) return true;
    return false;
}

/* True when the word at `start` of the input line is a file path: the file argument of a
 * command that takes one, the value of a path option, or a word that starts like a path. */
static bool wants_path(const char *buf, int start, const char *text) {
    char words[8][64];
    int n = 0;
    for (int i = 0; i < start && n < 8;) {
        while (i < start && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n')) i++;
        if (i >= start) break;
        int j = i;
        while (j < start && buf[j] != ' ' && buf[j] != '\t' && buf[j] != '\n') j++;
        snprintf(words[n++], sizeof words[0], "%.*s", j - i, buf + i);
        i = j;
    }
    if (n == 0 || words[0][0] != '/') return false; /* chat text */
    if (text[0] == '/' || text[0] == '~' || !strncmp(text, "./", 2) || !strncmp(text, "../", 3)) return true;
    const lt_cmd *c;
    lt_err err;
    if (lt_cmds_find(lt_session_commands(g_app->s), words[0] + 1, &c, &err) != LT_OK) return false;
    const char *prev = words[n - 1];
    if (in_list(k_path_opts, prev) ||
        ((!strcmp(c->name, "detect") || !strcmp(c->name, "imagine")) && (!strcmp(prev, "--model") || !strcmp(prev, "-m"))))
        return true;
    if (n == 1 && in_list(k_path_cmds, c->name)) return true;
    return n == 2 && !strcmp(c->name, "session") && !strcmp(words[1], "save");
}

char **complete(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1; /* only what is decided here */
    int lead = 0;
    while (lead < start && (rl_line_buffer[lead] == ' ' || rl_line_buffer[lead] == '\t')) lead++;
    if (lead == start && text[0] == '/') return rl_completion_matches(text, complete_cmd);
    if (wants_path(rl_line_buffer, start, text)) {
        rl_filename_completion_desired = 1;
        return rl_completion_matches(text, rl_filename_completion_function);
    }
    return NULL;
}

/* Readline's list of matches (Tab on an ambiguous word) goes to the status line. */
void app_show_matches(char **matches, int n, int max_len) {
    (void)max_len;
    app *a = g_app;
    char buf[512];
    int k = snprintf(buf, sizeof buf, "%d matches:", n);
    for (int i = 1; i <= n && k > 0 && (size_t)k < sizeof buf - 8; i++) {
        const char *m = matches[i];
        const char *slash = strrchr(m, '/');
        if (slash && slash[1] && slash != m) m = slash + 1; /* file names: the last part */
        k += snprintf(buf + k, sizeof buf - (size_t)k, " %s", m);
    }
    pthread_mutex_lock(&a->mu);
    snprintf(a->status, sizeof a->status, "%s", buf);
    a->status_err = false;
    pthread_mutex_unlock(&a->mu);
}

/* ==== multi-line input ============================================================ */

/* Codes for the bracketed-paste keys taught to curses (above every curses key). */
enum { K_PASTE_BEGIN = KEY_MAX + 1, K_PASTE_END = KEY_MAX + 2 };

void app_paste_mode(bool on) {
    if (on) {
        define_key("\033[200~", K_PASTE_BEGIN);
        define_key("\033[201~", K_PASTE_END);
    }
    fputs(on ? "\033[?2004h" : "\033[?2004l", stdout);
    fflush(stdout);
}

static void paste_add(app *a, int c) {
    if (c == '\r') c = '\n'; /* terminals send line ends as CR */
    if (a->paste_len + 2 > a->paste_cap) {
        size_t nc = a->paste_cap ? a->paste_cap * 2 : 256;
        char *np = realloc(a->paste, nc);
        if (!np) return;
        a->paste = np;
        a->paste_cap = nc;
    }
    a->paste[a->paste_len++] = (char)c;
    a->paste[a->paste_len] = 0;
}

/* The end of a paste: its text goes into the input line at the cursor, line breaks kept
 * (one trailing line end dropped); Enter then sends it as one command or chat turn. */
static void paste_end(app *a) {
    a->pasting = false;
    while (a->paste_len && a->paste[a->paste_len - 1] == '\n') a->paste[--a->paste_len] = 0;
    if (a->paste_len) rl_insert_text(a->paste);
    a->paste_len = 0;
}

/* Enter: a line ending in a backslash continues on a new line (the backslash becomes the
 * line break); otherwise readline accepts the line (on_line). */
static void enter(void) {
    if (rl_end > 0 && rl_line_buffer[rl_end - 1] == '\\') {
        rl_point = rl_end;
        rl_delete_text(rl_end - 1, rl_end);
        rl_point = rl_end;
        rl_insert_text("\n");
        return;
    }
    rl_feed('\n');
}

/* After an ESC: the keys of an escape sequence curses did not know arrive at once behind it.
 * Returns true when it was one (Alt-Enter, a paste bracket, Alt-key), false for a lone Esc. */
static bool esc_sequence(app *a) {
    timeout(5);
    int c = getch();
    timeout(0);
    if (c == ERR) return false;
    if (c == '\r' || c == '\n' || c == KEY_ENTER) { /* Alt-Enter: a line break in the input */
        if (a->pasting) paste_add(a, '\n');
        else rl_insert_text("\n");
        return true;
    }
    if (c == '[') { /* CSI: parameters up to a final byte */
        char seq[16];
        int n = 0;
        for (;;) {
            int d = getch();
            if (d == ERR || n >= (int)sizeof seq - 1) break;
            seq[n++] = (char)d;
            if (d >= 0x40 && d <= 0x7e) break;
        }
        seq[n] = 0;
        if (!strcmp(seq, "200~")) a->pasting = true, a->paste_len = 0;
        else if (!strcmp(seq, "201~") && a->pasting) paste_end(a);
        return true; /* other sequences (keys curses does not know) are dropped */
    }
    if (a->pasting) {
        paste_add(a, c);
        return true;
    }
    if (c >= 0 && c < 256) { /* Alt-key: readline's meta bindings (Alt-b, Alt-f...) */
        rl_feed(27);
        rl_feed(c);
    }
    return true;
}

/* ==== palette ===================================================================== */

int palette_items(app *a, lt_palette_item *items, const lt_cmd **cmds, int cap) {
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

/* ==== keys ======================================================================== */

void on_key(app *a, int c) {
    if (c == 27 && esc_sequence(a)) return;
    if (c == K_PASTE_BEGIN) {
        a->pasting = true;
        a->paste_len = 0;
        return;
    }
    if (c == K_PASTE_END) {
        if (a->pasting) paste_end(a);
        return;
    }
    if (a->pasting) { /* every key of a paste is text */
        if (c == KEY_ENTER) c = '\n';
        if (c >= 0 && c < 256) paste_add(a, c);
        return;
    }
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
            int dropped = a->n_queue;
            clear_queue(a); /* Esc means stop: queued lines are dropped too, and it says so */
            snprintf(a->status, sizeof a->status, "cancelling '%s'...", a->job_name);
            if (dropped)
                snprintf(a->status + strlen(a->status), sizeof a->status - strlen(a->status),
                         " - dropped %d queued line%s", dropped, dropped == 1 ? "" : "s");
            a->status_err = false;
            pthread_mutex_unlock(&a->mu);
            if (dropped) say(a, LT_TEXT_INFO, "dropped %d queued line%s\n", dropped, dropped == 1 ? "" : "s");
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
    case KEY_ENTER: enter(); return;
    case '\r': enter(); return;
    default:
        if (c >= 0 && c < 256) rl_feed(c);
    }
}

