/* app_input.c - the workbench's input (see app.c): GNU readline through its callback
 * interface fed one key at a time, Tab completion, the command palette and the key map.
 * UI thread only.
 */
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

char **complete(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1; /* no file-name completion */
    if (start == 1 && rl_line_buffer[0] == '/') return rl_completion_matches(text, complete_cmd);
    return NULL;
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

