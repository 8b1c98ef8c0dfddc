/* fuzz_commands.c - command lines: splitting (quotes, escapes, argument limits), lookup by
 * name / alias / prefix with suggestions, argument-count checks, and lt_session_exec over the
 * built-in command tables (lt_cmd_builtin) in a session with no model openers and no journal.
 * Input: command lines, one per line (at most 64), run in order in one fresh session.
 *
 * Nothing may touch the file system outside the scratch folder: the lines run inside it
 * (chdir there and back around each input; it stays empty: no opener, no journal, so `load`, `spec draft`,
 * `detect` and `session save` fail before opening anything), and lines with a '/' after the
 * optional leading one are split and looked up but not executed, so `replay` can only name
 * "." or ".." (folders) or files that do not exist.
 * Seeds: tests/fuzz/corpus/commands.
 */
#include "fuzz_common.h"

#include "core/app/session.h"
#include "core/cmd/cmds.h"

static void sink_text(void *ud, lt_text_kind kind, const char *s, size_t n) {
    (void)ud, (void)kind;
    fz_touch(s, n);
}

static void sink_progress(void *ud, const char *what, double frac) {
    (void)ud, (void)frac;
    fz_touch(what, strlen(what));
}

static void sink_preview(void *ud, const lt_image *img, const char *const *lines, int n_lines) {
    (void)ud;
    fz_touch(img->data, sizeof(float) * (size_t)img->w * (size_t)img->h * (size_t)img->c);
    for (int i = 0; i < n_lines; i++) fz_touch(lines[i], strlen(lines[i]));
}

static void one_line(lt_session *s, const char *line) {
    const lt_cmds *cmds = lt_session_commands(s);
    char buf[4096];
    lt_args a;
    lt_err err = {0};
    const char *l = line;
    while (*l == ' ' || *l == '\t') l++;
    if (*l == '/') l++;
    lt_status st = lt_cmd_split(l, buf, sizeof buf, &a, &err);
    FZ_EXPECT_MSG(st, err, "lt_cmd_split");
    if (st == LT_OK && a.argc > 0) {
        if (a.argc > LT_CMD_MAX_ARGS) abort();
        for (int i = 0; i < a.argc; i++) fz_touch(a.argv[i], strlen(a.argv[i]) + 1);
        if (a.rest) fz_touch(a.rest, strlen(a.rest) + 1);
        const lt_cmd *c = NULL;
        err = (lt_err){0};
        st = lt_cmds_find(cmds, a.argv[0], &c, &err);
        FZ_EXPECT_MSG(st, err, "lt_cmds_find");
        if (st == LT_OK) {
            err = (lt_err){0};
            st = lt_cmd_check_args(c, &a, &err);
            FZ_EXPECT_MSG(st, err, "lt_cmd_check_args");
        }
        if (a.argc > 1 && strlen(a.argv[0]) < 256 && strlen(a.argv[1]) < 256)
            fz_sink ^= (uint8_t)lt_edit_distance(a.argv[0], a.argv[1]);
    }
    if (strchr(l, '/')) return; /* a path: could name any file (see the top) */
    lt_sink sink = {.text = sink_text, .progress = sink_progress, .preview = sink_preview, .tint = true};
    err = (lt_err){0};
    st = lt_session_exec(s, line, &sink, &err);
    FZ_EXPECT_MSG(st, err, "lt_session_exec");
    fz_touch(lt_session_last(s)->msg, strlen(lt_session_last(s)->msg) + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    fz_enter();
    lt_session_opts o = {.tables = lt_cmd_builtin, .device = "cpu", .threads = 1};
    lt_session *s = NULL;
    lt_err err = {0};
    if (lt_session_create(&s, &o, &err) != LT_OK) {
        fprintf(stderr, "lt_session_create: %s\n", err.msg);
        abort();
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    int n_lines = 0;
    for (char *p = text; n_lines < 64 && p <= text + size && !lt_session_quit_requested(s); n_lines++) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        one_line(s, p);
        if (!e) break;
        p = e + 1;
    }
    free(text);
    lt_session_free(s);
    fz_leave();
    fz_check_mem(mem0, "commands");
    return 0;
}
