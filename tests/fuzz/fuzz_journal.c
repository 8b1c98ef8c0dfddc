/* fuzz_journal.c - session journals (.lathe: a header line, then one JSON object per
 * command) through lt_journal_read (header, every field, a truncated last line), then
 * lt_replay of what it read in a session with the built-in commands and no model openers
 * (the `replay FILE [--check]` path: re-execution, status and digest comparison).
 * Input: the bytes of a journal. Seeds: tests/fuzz/corpus/journal (written by lt_journal_*).
 *
 * Replays run inside the scratch folder, and a journal with a line holding a '/' (a path
 * that could name any file) or a line that is itself a `replay` is read but not replayed
 * (nested replays are bounded, LT_REPLAY_MAX_DEPTH, but up to 64^4 of them would only burn
 * the fuzzer's time; tests/test_reliability.sh runs a self-replaying journal).
 */
#include "fuzz_common.h"

#include "core/app/journal.h"
#include "core/app/replay.h"
#include "core/cmd/cmds.h"

static bool report(void *ud, const lt_journal_entry *e, bool same, const char *detail) {
    (void)ud, (void)same;
    fz_touch(e->line, strlen(e->line) + 1);
    fz_touch(detail, strlen(detail) + 1);
    return true;
}

static void sink_text(void *ud, lt_text_kind kind, const char *s, size_t n) {
    (void)ud, (void)kind;
    fz_touch(s, n);
}

/* May these entries be re-executed here? (see the top) */
static bool replayable(lt_session *s, const lt_journal_entry *e, int n) {
    for (int i = 0; i < n; i++) {
        if (strchr(e[i].line, '/')) return false;
        char buf[4096];
        lt_args a;
        const lt_cmd *c;
        lt_err err;
        const char *l = e[i].line;
        while (*l == ' ' || *l == '\t') l++;
        if (*l == '/') l++;
        if (lt_cmd_split(l, buf, sizeof buf, &a, &err) == LT_OK && a.argc > 0 &&
            lt_cmds_find(lt_session_commands(s), a.argv[0], &c, &err) == LT_OK && !strcmp(c->name, "replay"))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    const char *p = fz_write("s.lathe", data, size);
    lt_journal_entry *e = NULL;
    int n = -1;
    lt_journal_damage truncated;
    lt_err err = {0};
    lt_status st = lt_journal_read(p, &e, &n, &truncated, &err);
    FZ_EXPECT_MSG(st, err, "lt_journal_read");
    if (st != LT_OK) {
        fz_check_mem(mem0, "journal");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (!e[i].line) abort(); /* an entry always has its line */
        fz_touch(e[i].line, strlen(e[i].line) + 1);
        if (!memchr(e[i].cmd, 0, sizeof e[i].cmd) || !memchr(e[i].msg, 0, sizeof e[i].msg) ||
            !memchr(e[i].time, 0, sizeof e[i].time))
            abort(); /* fixed-size fields are NUL-terminated */
        fz_touch(e[i].cmd, strlen(e[i].cmd) + 1);
        fz_touch(e[i].msg, strlen(e[i].msg) + 1);
        fz_touch(e[i].time, strlen(e[i].time) + 1);
    }
    lt_session_opts o = {.tables = lt_cmd_builtin, .device = "cpu", .threads = 1};
    lt_session *s = NULL;
    if (lt_session_create(&s, &o, &err) != LT_OK) abort();
    if (n <= 64 && replayable(s, e, n)) {
        fz_enter();
        lt_sink sink = {.text = sink_text};
        int first = 0, n_run = 0;
        lt_journal_damage trunc2;
        err = (lt_err){0};
        st = lt_replay("s.lathe", s, &sink, size & 1, report, NULL, &first, &n_run, &trunc2, &err);
        FZ_EXPECT_MSG(st, err, "lt_replay");
        fz_leave();
    }
    lt_session_free(s);
    lt_journal_entries_free(e, n);
    fz_check_mem(mem0, "journal");
    return 0;
}
