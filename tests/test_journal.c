/* test_journal.c - session files: write/read round trip, entries on disk as soon as a
 * command finishes (before the session closes), a truncated last line, malformed lines
 * named by number, versions, and replay of a real session (bundled model, a cancelled
 * generation included) that matches, then diverges at a tampered digest; command lines with
 * line breaks (a pasted chat turn) as one entry that replays. */
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/digest.h"
#include "core/app/journal.h"
#include "core/app/replay.h"
#include "core/cmd/cmds.h"
#include "models/llama.h"
#include "testutil.h"

static const char *g_dir;

static const char *write_file(const char *name, const char *text) {
    static char path[8][1024];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 1024, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
    return p;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    b[fread(b, 1, (size_t)n, f)] = 0;
    fclose(f);
    return b;
}

static void test_roundtrip(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/rt.lathe", g_dir);
    lt_journal *j;
    lt_err err;
    CHECK(lt_journal_open(&j, path, &err) == LT_OK);
    lt_journal_entry e = {0};
    e.line = "chat \"quoted\" text";
    strcpy(e.cmd, "chat");
    strcpy(e.time, "2026-01-01T00:00:00Z");
    e.has_digest = true;
    e.digest = 0xfedcba9876543210ull;
    e.seed = 18446744073709551615ull;
    e.n_tokens = 17;
    e.cancelled = true;
    e.params.temp = 0.7f;
    e.params.repeat_penalty = 1.1f;
    e.params.repeat_last_n = 64;
    e.params.ctx = 2048;
    e.params.n_stops = 2;
    strcpy(e.params.stops[0], "\nUser:");
    strcpy(e.params.stops[1], "###");
    memset(e.params.system, 'x', 100); /* a long system prompt: its head, length and digest */
    memcpy(e.params.system + 79, "\xC3\xA9", 2); /* an 'é' across the 80-byte cut: left out whole */
    e.params.system[100] = 0;
    CHECK(lt_journal_append(j, &e, &err) == LT_OK && e.n == 1);
    lt_journal_entry f = {0};
    f.line = "load x";
    strcpy(f.cmd, "load");
    f.code = LT_EIO;
    strcpy(f.msg, "x: cannot open");
    CHECK(lt_journal_append(j, &f, &err) == LT_OK && f.n == 2);
    /* on disk before close */
    lt_journal_entry *es;
    int n;
    lt_journal_damage trunc;
    CHECK(lt_journal_read(path, &es, &n, &trunc, &err) == LT_OK && n == 2 && !trunc.truncated);
    lt_journal_entries_free(es, n);
    lt_journal_close(j);
    /* the header records the working folder, where the commands' relative paths resolve */
    char rec[4096], here[4096];
    CHECK(lt_journal_cwd(path, rec, sizeof rec, &err) == LT_OK && getcwd(here, sizeof here) && !strcmp(rec, here));
    CHECK(lt_journal_cwd(path, rec, 4, &err) == LT_OK && rec[0] == 0); /* does not fit: none */
    CHECK(lt_journal_read(path, &es, &n, &trunc, &err) == LT_OK && n == 2);
    if (n == 2) {
        CHECK(!strcmp(es[0].line, "chat \"quoted\" text") && !strcmp(es[0].cmd, "chat") && es[0].line_no == 2);
        CHECK(es[0].has_digest && es[0].digest == 0xfedcba9876543210ull && es[0].seed == 18446744073709551615ull);
        CHECK(es[0].cancelled && es[0].code == LT_OK && es[0].n_tokens == 17);
        CHECK(es[1].code != LT_OK && !es[1].has_digest && !strcmp(es[1].msg, "x: cannot open") && es[1].line_no == 3);
    }
    lt_journal_entries_free(es, n);
    /* the format names its version, and floats are written short */
    char *text = slurp(path);
    CHECK(text && strncmp(text, "{\"lathe_journal\":1,", 19) == 0 && strstr(text, "\"temp\":0.7,"));
    /* the chat settings are recorded too (the system prompt as its head, length and digest) */
    char sys_fnv[64], sys_head[128];
    snprintf(sys_head, sizeof sys_head, "\"system\":\"%.79s...\",", e.params.system);
    snprintf(sys_fnv, sizeof sys_fnv, "\"system_len\":100,\"system_fnv\":\"%016" PRIx64 "\"",
             lt_fnv1a64(LT_FNV_INIT, e.params.system, 100));
    CHECKF(text && strstr(text, "\"repeat_penalty\":1.1,\"repeat_last_n\":64,\"ctx\":2048,") &&
               strstr(text, "\"stop\":[\"\\nUser:\",\"###\"]") && strstr(text, sys_fnv) &&
               strstr(text, sys_head),
           "%s", text ? text : "(none)");
    CHECK(text && strstr(text, "\"stop\":[],\"system\":\"\",\"device\""));
    free(text);
    lt_journal_close(NULL);
    CHECK(lt_journal_open(&j, "/nonexistent/dir/x.lathe", &err) == LT_EIO);
}

static void test_bad_files(void) {
    const char *hdr = "{\"lathe_journal\":1,\"created\":\"x\"}\n";
    const char *ok = "{\"n\":1,\"line\":\"models\",\"cmd\":\"models\",\"status\":\"ok\",\"digest\":\"0000000000000001\"}\n";
    char buf[2048];
    lt_journal_entry *es;
    int n;
    lt_journal_damage trunc;
    lt_err err;
    /* truncated last line (kill -9 during a write): dropped and reported */
    snprintf(buf, sizeof buf, "%s%s%s", hdr, ok, "{\"n\":2,\"line\":\"chat hel");
    CHECK(lt_journal_read(write_file("trunc.lathe", buf), &es, &n, &trunc, &err) == LT_OK && n == 1 && trunc.truncated);
    lt_journal_entries_free(es, n);
    /* a torn line in the middle (a write that failed part way) is skipped and named */
    snprintf(buf, sizeof buf, "%s%s%s%s", hdr, ok, "{\"n\":2,\"line\":\"chat\n", ok);
    CHECK(lt_journal_read(write_file("mid.lathe", buf), &es, &n, &trunc, &err) == LT_OK && n == 2 &&
          trunc.n_torn == 1 && trunc.torn[0] == 3 && !trunc.truncated);
    lt_journal_entries_free(es, n);
    char note[512];
    lt_replay_damage_note("mid.lathe", &trunc, note, sizeof note);
    CHECKF(strstr(note, "mid.lathe: skipped 1 torn entry") && strstr(note, "line 3"), "%s", note);
    /* ... and an entry appended after the tear on the same line is recovered */
    snprintf(buf, sizeof buf, "%s%s%s%s", hdr, ok, "{\"n\":2,\"line\":\"ch", ok);
    CHECK(lt_journal_read(write_file("glued.lathe", buf), &es, &n, &trunc, &err) == LT_OK && n == 2 &&
          trunc.n_torn == 1 && trunc.torn[0] == 3);
    lt_journal_entries_free(es, n);
    /* a line with no end (replay /dev/zero, a runaway file) stops at the cap with an error;
     * FIFOs and devices are refused at once, never read */
    char *big = malloc(LT_JOURNAL_MAX_LINE + 64);
    FILE *bf = fopen(write_file("long.lathe", hdr), "ab");
    memset(big, 'x', LT_JOURNAL_MAX_LINE + 10);
    CHECK(bf && fwrite(big, 1, LT_JOURNAL_MAX_LINE + 10, bf) == LT_JOURNAL_MAX_LINE + 10);
    if (bf) fclose(bf);
    free(big);
    char longp[1100];
    snprintf(longp, sizeof longp, "%s/long.lathe", g_dir);
    CHECKF(lt_journal_read(longp, &es, &n, &trunc, &err) == LT_OK && n == 0 && trunc.n_long == 1 &&
               trunc.long_lines[0] == 2,
           "%s", err.msg);
    lt_journal_entries_free(es, n);
    lt_replay_damage_note("long.lathe", &trunc, note, sizeof note);
    CHECKF(strstr(note, "skipped 1 entry longer than 1048576 bytes on line 2"), "%s", note);
    CHECKF(lt_journal_read("/dev/zero", &es, &n, &trunc, &err) == LT_EIO && strstr(err.msg, "not a regular file"), "%s",
           err.msg);
    char fifo[1100];
    snprintf(fifo, sizeof fifo, "%s/fifo.lathe", g_dir);
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECKF(lt_journal_read(fifo, &es, &n, &trunc, &err) == LT_EIO && strstr(err.msg, "a FIFO"), "%s", err.msg);
    snprintf(buf, sizeof buf, "%s%s\n%s", hdr, ok, ok);
    CHECK(lt_journal_read(write_file("empty_line.lathe", buf), &es, &n, &trunc, &err) == LT_EFORMAT &&
          strstr(err.msg, ":3:"));
    snprintf(buf, sizeof buf, "%s{\"n\":1,\"cmd\":\"x\",\"status\":\"ok\"}\n", hdr);
    CHECK(lt_journal_read(write_file("noline.lathe", buf), &es, &n, &trunc, &err) == LT_EFORMAT &&
          strstr(err.msg, ":2: entry has no 'line'"));
    snprintf(buf, sizeof buf, "%s{\"n\":1,\"line\":\"x\",\"status\":\"ok\",\"digest\":\"xyz\"}\n", hdr);
    CHECK(lt_journal_read(write_file("baddigest.lathe", buf), &es, &n, &trunc, &err) == LT_EFORMAT &&
          strstr(err.msg, "digest"));
    snprintf(buf, sizeof buf, "%s{\"n\":1,\"line\":\"x\",\"status\":\"maybe\"}\n", hdr);
    CHECK(lt_journal_read(write_file("badstatus.lathe", buf), &es, &n, &trunc, &err) == LT_EFORMAT &&
          strstr(err.msg, "maybe"));
    CHECK(lt_journal_read(write_file("v9.lathe", "{\"lathe_journal\":9}\n"), &es, &n, &trunc, &err) == LT_EFORMAT &&
          strstr(err.msg, "v9"));
    CHECK(lt_journal_read(write_file("nohdr.lathe", ok), &es, &n, &trunc, &err) == LT_EFORMAT &&
          strstr(err.msg, ":1:"));
    CHECK(lt_journal_read(write_file("empty.lathe", ""), &es, &n, &trunc, &err) == LT_EFORMAT);
    CHECK(lt_journal_read("/nonexistent.lathe", &es, &n, &trunc, &err) == LT_EIO);
    CHECK(lt_journal_read(write_file("hdronly.lathe", hdr), &es, &n, &trunc, &err) == LT_OK && n == 0);
    lt_journal_entries_free(es, n);
}

/* ---- replay ------------------------------------------------------------------------ */

typedef struct canceller {
    lt_session *s;
    int chunks, cancel_after;
    bool cancel_load;
} canceller;

static void cancel_progress(void *ud, const char *what, double f) {
    canceller *c = ud;
    if (c->cancel_load && !strcmp(what, "load")) lt_session_cancel(c->s);
}

static void cancel_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    canceller *c = ud;
    if (k == LT_TEXT_MODEL && c->cancel_after > 0 && ++c->chunks == c->cancel_after) lt_session_cancel(c->s);
}

typedef struct report_log {
    int n_ok, n_diff, last_line;
    int stop_after; /* report says stop after this many entries (0: never) */
} report_log;

static bool on_report(void *ud, const lt_journal_entry *e, bool same, const char *detail) {
    report_log *r = ud;
    if (same) r->n_ok++;
    else r->n_diff++;
    r->last_line = e->line_no;
    return r->stop_after == 0 || r->n_ok + r->n_diff < r->stop_after;
}

static void test_replay(void) {
    char state[1024], line[2048];
    snprintf(state, sizeof state, "%s/state", g_dir);
    lt_session_opts o = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open, .open_synthetic = lt_llama_open_preset, .state_dir = state,
                         .journal = true};
    lt_session *s;
    lt_err err;
    CHECK(lt_session_create(&s, &o, &err) == LT_OK);
    const char *jp = lt_session_journal_path(s);
    CHECK(jp && strstr(jp, "/sessions/") && strstr(jp, ".lathe"));
    char journal[1024];
    snprintf(journal, sizeof journal, "%s", jp);
    canceller c = {s, 0, 0};
    lt_sink sink = {.ud = &c, .text = cancel_text, .progress = cancel_progress};
    snprintf(line, sizeof line, "load %s as st --tokenizer %s", lt_test_path("assets/models/stories260K.bin"),
             lt_test_path("assets/models/tok512.bin"));
    const char *script[] = {line, "set seed 11", "set max-tokens 40", "chat Once upon a time", "chat The cat",
                            "models", "set temp 0", "generate -n 12 Tom had", "bench -p 16 -n 8", "lod",
                            "set top-k 0", "load /nonexistent.gguf", NULL};
    int n_journaled = 0;
    for (int i = 0; script[i]; i++) {
        lt_status st = lt_session_exec(s, script[i], &sink, &err);
        if (strcmp(script[i], "lod")) n_journaled++; /* unknown commands are not executed */
        (void)st;
    }
    /* a generation cancelled after a few tokens is recorded as cancelled */
    CHECK(lt_session_exec(s, "set temp 0.9", &sink, &err) == LT_OK);
    c.chunks = 0;
    c.cancel_after = 7;
    CHECK(lt_session_exec(s, "chat and then", &sink, &err) == LT_OK && lt_session_last(s)->cancelled);
    int cancelled_tokens = lt_session_last(s)->n_tokens;
    CHECK(cancelled_tokens >= 6 && cancelled_tokens < 40);
    c.cancel_after = 0;
    CHECK(lt_session_exec(s, "chat and after that", &sink, &err) == LT_OK); /* continues after the partial reply */
    CHECK(lt_session_exec(s, "help", &sink, &err) == LT_OK);              /* not journaled */
    /* a load cancelled while it runs loads nothing and is recorded as cancelled */
    c.cancel_load = true;
    CHECK(lt_session_exec(s, "load synthetic:tiny as t2", &sink, &err) == LT_OK && lt_session_last(s)->cancelled);
    c.cancel_load = false;
    lt_model_info mi[4];
    CHECK(lt_session_models(s, mi, 4) == 1);
    CHECK(lt_session_exec(s, "models", &sink, &err) == LT_OK);
    n_journaled += 5;
    /* every completed command is already on disk while the session is open */
    lt_journal_entry *es;
    int n;
    lt_journal_damage trunc;
    CHECK(lt_journal_read(journal, &es, &n, &trunc, &err) == LT_OK);
    CHECKF(n == n_journaled, "%d entries, expected %d", n, n_journaled);
    int cancelled_line = 0;
    for (int i = 0; i < n; i++)
        if (es[i].cancelled) cancelled_line = es[i].line_no;
    CHECK(cancelled_line > 0);
    lt_journal_entries_free(es, n);
    /* session save copies it */
    char saved[1100];
    snprintf(saved, sizeof saved, "session save %s/copy.lathe", g_dir);
    CHECK(lt_session_exec(s, saved, &sink, &err) == LT_OK);
    lt_session_free(s);

    /* replay in a fresh session: everything matches */
    lt_session_opts ro = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open, .open_synthetic = lt_llama_open_preset};
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    report_log rl = {0};
    int first = -1, total = 0;
    CHECK(lt_replay(journal, s, NULL, true, on_report, &rl, &first, &total, &trunc, &err) == LT_OK);
    CHECKF(first == 0 && rl.n_diff == 0 && rl.n_ok == n_journaled && total == n_journaled, "first diff %d, %d ok",
           first, rl.n_ok);
    lt_session_free(s);
    /* the report callback stops a replay between commands (Esc): LT_ECANCELLED, nothing after */
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    report_log stop = {.stop_after = 2};
    CHECKF(lt_replay(journal, s, NULL, false, on_report, &stop, &first, &total, NULL, &err) == LT_ECANCELLED &&
               stop.n_ok + stop.n_diff == 2 && strstr(err.msg, "stopped after 2 of"),
           "%s", err.msg);
    lt_session_free(s);

    /* the copy replays the same way, through the session's replay command */
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    snprintf(saved, sizeof saved, "replay %s/copy.lathe --check", g_dir);
    CHECKF(lt_session_exec(s, saved, NULL, &err) == LT_OK, "%s", err.msg);
    lt_session_free(s);

    /* tamper with the digest of the second chat: replay diverges exactly there */
    char *text = slurp(journal);
    char *p = strstr(text, "\"line\":\"chat The cat\"");
    CHECK(p != NULL);
    int tampered_line = 1;
    for (char *q = text; q < p; q++) tampered_line += *q == '\n';
    char *d = p ? strstr(p, "\"digest\":\"") : NULL;
    if (d) {
        d += 10;
        *d = *d == '0' ? '1' : '0';
    }
    const char *bad = write_file("tampered.lathe", text);
    free(text);
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    rl = (report_log){0};
    CHECK(lt_replay(bad, s, NULL, true, on_report, &rl, &first, &total, &trunc, &err) == LT_OK);
    CHECKF(first == tampered_line && rl.n_diff == 1 && rl.last_line == tampered_line, "first %d, expected %d", first,
           tampered_line);
    lt_session_free(s);
    /* without stopping, the rest still replays (the cancelled chat included) */
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    rl = (report_log){0};
    CHECK(lt_replay(bad, s, NULL, false, on_report, &rl, &first, &total, &trunc, &err) == LT_OK);
    CHECK(first == tampered_line && rl.n_diff == 1 && rl.n_ok == n_journaled - 1);
    lt_session_free(s);
    /* the session command reports the line */
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    snprintf(saved, sizeof saved, "replay %s --check", bad);
    CHECK(lt_session_exec(s, saved, NULL, &err) == LT_EFORMAT);
    char want[64];
    snprintf(want, sizeof want, "line %d", tampered_line);
    CHECKF(strstr(err.msg, want) != NULL, "%s", err.msg);
    lt_session_free(s);
}

/* A command from another module: its digest is the hash of its argument. */
static lt_status echo_exec(lt_session *s, const lt_args *a, lt_sink *k, lt_err *e) {
    lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, a->argv[1], strlen(a->argv[1])));
    lt_session_result(s)->n_tokens = (int)strlen(a->argv[1]);
    return LT_OK;
}
static const lt_cmd k_echo[] = {{"echo", NULL, "echo WORD", "hash a word", 1, 1, NULL, true, echo_exec}, {NULL}};
static const lt_cmd_table k_echo_table = {"echo", k_echo};

/* Journals and replays (through the session's replay command, which makes a fresh session)
 * include commands that other modules registered. */
static void test_extension_replay(void) {
    char state[1024], line[1200], path[1100];
    snprintf(state, sizeof state, "%s/state-ext", g_dir);
    lt_session_opts o = {.tables = lt_cmd_builtin, .state_dir = state, .journal = true};
    lt_session *s;
    lt_err err;
    CHECK(lt_session_create(&s, &o, &err) == LT_OK);
    CHECK(lt_session_add_commands(s, &k_echo_table, &err) == LT_OK);
    CHECK(lt_session_exec(s, "echo hello", NULL, &err) == LT_OK && lt_session_last(s)->n_tokens == 5);
    CHECK(lt_session_exec(s, "echo world", NULL, &err) == LT_OK);
    snprintf(path, sizeof path, "%s", lt_session_journal_path(s));
    lt_session_free(s);
    lt_session_opts ro = {.tables = lt_cmd_builtin};
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    snprintf(line, sizeof line, "replay %s --check", path);
    CHECK(lt_session_exec(s, line, NULL, &err) == LT_ENOTFOUND || err.code != LT_OK); /* echo is unknown here */
    CHECK(lt_session_add_commands(s, &k_echo_table, &err) == LT_OK);
    CHECKF(lt_session_exec(s, line, NULL, &err) == LT_OK, "%s", err.msg);
    lt_session_free(s);
}

/* A multi-line input (the workbench sends a paste as one chat turn): the journal escapes the
 * line breaks of a command line (one entry per file line) and reads them back, the chat
 * command gets the text with its line breaks, and the session replays. */
typedef struct user_text {
    char buf[256];
} user_text;

static void keep_user(void *ud, lt_text_kind k, const char *s, size_t n) {
    user_text *u = ud;
    size_t have = strlen(u->buf);
    if (k == LT_TEXT_USER && have + n < sizeof u->buf) memcpy(u->buf + have, s, n), u->buf[have + n] = 0;
}

static void test_multiline(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ml.lathe", g_dir);
    const char *text = "chat first line\nsecond \"line\"\r\n\tthird \\ line\n";
    lt_journal *j;
    lt_err err;
    CHECK(lt_journal_open(&j, path, &err) == LT_OK);
    lt_journal_entry e = {0};
    e.line = (char *)text;
    strcpy(e.cmd, "chat");
    CHECK(lt_journal_append(j, &e, &err) == LT_OK);
    lt_journal_close(j);
    char *raw = slurp(path);
    int file_lines = 0;
    for (char *p = raw; p && *p; p++) file_lines += *p == '\n';
    CHECKF(file_lines == 2, "%d lines in the file (header + one entry)", file_lines);
    free(raw);
    lt_journal_entry *es;
    int n;
    CHECK(lt_journal_read(path, &es, &n, NULL, &err) == LT_OK && n == 1);
    if (n == 1) CHECKF(!strcmp(es[0].line, text), "read back '%s'", es[0].line);
    lt_journal_entries_free(es, n);

    char state[1024], line[2048];
    snprintf(state, sizeof state, "%s/state-ml", g_dir);
    lt_session_opts o = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open, .state_dir = state, .journal = true};
    lt_session *s;
    CHECK(lt_session_create(&s, &o, &err) == LT_OK);
    user_text u = {{0}};
    lt_sink sink = {.ud = &u, .text = keep_user};
    snprintf(line, sizeof line, "load %s --tokenizer %s", lt_test_path("assets/models/stories260K.bin"),
             lt_test_path("assets/models/tok512.bin"));
    CHECKF(lt_session_exec(s, line, NULL, &err) == LT_OK, "%s", err.msg);
    CHECK(lt_session_exec(s, "set max-tokens\n12", NULL, &err) == LT_OK); /* a line break separates words */
    CHECK(lt_session_exec(s, "chat Once upon\na time\nthere was", &sink, &err) == LT_OK);
    CHECKF(!strcmp(u.buf, "Once upon\na time\nthere was\n"), "chat echoed '%s'", u.buf);
    CHECK(lt_session_exec(s, "chat and\nthen", NULL, &err) == LT_OK);
    char jp[1100];
    snprintf(jp, sizeof jp, "%s", lt_session_journal_path(s));
    lt_session_free(s);
    CHECK(lt_journal_read(jp, &es, &n, NULL, &err) == LT_OK && n == 4);
    if (n == 4) CHECKF(!strcmp(es[2].line, "chat Once upon\na time\nthere was"), "journal: '%s'", es[2].line);
    lt_journal_entries_free(es, n);
    lt_session_opts ro = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open};
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    report_log rl = {0};
    int first = -1, total = 0;
    CHECKF(lt_replay(jp, s, NULL, true, on_report, &rl, &first, &total, NULL, &err) == LT_OK, "%s", err.msg);
    CHECKF(first == 0 && rl.n_diff == 0 && rl.n_ok == 4, "first diff %d, %d ok", first, rl.n_ok);
    lt_session_free(s);
}

/* The (last) journal a session wrote under STATE/sessions, or "". */
static void find_journal(const char *state, char *path, size_t cap) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/sessions", state);
    path[0] = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".lathe")) snprintf(path, cap, "%s/%s", dir, e->d_name);
    if (d) closedir(d);
}

/* A process killed with SIGKILL right after its commands loses none of them. */
static void test_kill9(void) {
    char state[1024];
    snprintf(state, sizeof state, "%s/state-kill", g_dir);
    pid_t pid = fork();
    if (pid == 0) {
        lt_session_opts o = {.tables = lt_cmd_builtin, .state_dir = state, .journal = true};
        lt_session *s;
        lt_err err;
        if (lt_session_create(&s, &o, &err) != LT_OK) _exit(3);
        lt_session_exec(s, "set seed 1", NULL, &err);
        lt_session_exec(s, "set temp 0.5", NULL, &err);
        lt_session_exec(s, "set top-k 7", NULL, &err);
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char path[1400];
    find_journal(state, path, sizeof path);
    lt_journal_entry *es;
    int n = 0;
    lt_journal_damage trunc;
    lt_err err;
    CHECK(path[0] && lt_journal_read(path, &es, &n, &trunc, &err) == LT_OK && n == 3 && !trunc.truncated);
    if (n == 3) CHECK(!strcmp(es[2].line, "set top-k 7"));
    if (path[0] && n) lt_journal_entries_free(es, n);
}

/* The reliability findings: a write that fails part way (file size limit = a full disk)
 * leaves no torn line and later entries append cleanly; `session save` refuses to copy the
 * journal onto itself; a journal that replays itself stops at a depth limit. */
static void test_failures(void) {
    char state[1024], line[1400];
    snprintf(state, sizeof state, "%s/state-fail-%d", g_dir, (int)getpid()); /* one journal in it */
    pid_t pid = fork();
    if (pid == 0) { /* the child writes under a file size limit */
        signal(SIGXFSZ, SIG_IGN);
        lt_session_opts o = {.tables = lt_cmd_builtin, .state_dir = state, .journal = true};
        lt_session *s;
        lt_err err;
        if (lt_session_create(&s, &o, &err) != LT_OK) _exit(3);
        lt_session_exec(s, "set seed 1", NULL, &err);
        struct stat sb;
        if (stat(lt_session_journal_path(s), &sb) != 0) _exit(4);
        struct rlimit rl = {(rlim_t)sb.st_size + 20, RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &rl);
        lt_session_exec(s, "set temp 0.5", NULL, &err); /* fails to record: reported, not torn */
        rl.rlim_cur = RLIM_INFINITY;
        setrlimit(RLIMIT_FSIZE, &rl);
        lt_session_exec(s, "set top-k 7", NULL, &err);
        lt_session_free(s);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char path[1400];
    find_journal(state, path, sizeof path);
    lt_journal_entry *es;
    int n = 0;
    lt_journal_damage dmg;
    lt_err err;
    CHECK(path[0] && lt_journal_read(path, &es, &n, &dmg, &err) == LT_OK && n == 2 && dmg.n_torn == 0 &&
          !dmg.truncated);
    if (n == 2) CHECK(!strcmp(es[0].line, "set seed 1") && !strcmp(es[1].line, "set top-k 7") && es[1].n == 2);
    if (n) lt_journal_entries_free(es, n);

    /* session save onto its own journal: refused, the journal intact */
    strcat(state, "-save");
    lt_session_opts o = {.tables = lt_cmd_builtin, .state_dir = state, .journal = true};
    lt_session *s;
    CHECK(lt_session_create(&s, &o, &err) == LT_OK);
    CHECK(lt_session_exec(s, "set seed 3", NULL, &err) == LT_OK);
    snprintf(line, sizeof line, "session save %s", lt_session_journal_path(s));
    CHECKF(lt_session_exec(s, line, NULL, &err) == LT_EINVAL && strstr(err.msg, "own journal"), "%s", err.msg);
    CHECK(lt_journal_read(lt_session_journal_path(s), &es, &n, &dmg, &err) == LT_OK && n == 1);
    if (n) lt_journal_entries_free(es, n);
    lt_session_free(s);

    /* a journal whose entry replays the journal itself */
    char self[1100];
    snprintf(self, sizeof self, "%s/self.lathe", g_dir);
    snprintf(line, sizeof line,
             "{\"lathe_journal\":1}\n{\"n\":1,\"line\":\"replay %s\",\"cmd\":\"replay\",\"status\":\"ok\"}\n",
             self);
    write_file("self.lathe", line);
    lt_session_opts ro = {.tables = lt_cmd_builtin};
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    snprintf(line, sizeof line, "replay %s", self);
    CHECKF(lt_session_exec(s, line, NULL, &err) != LT_OK && strstr(err.msg, "diverges"), "%s", err.msg);
    lt_session_free(s);
    int first = 0, total = 0;
    CHECK(lt_session_create(&s, &ro, &err) == LT_OK);
    report_log rl = {0};
    CHECK(lt_replay(self, s, NULL, false, on_report, &rl, &first, &total, NULL, &err) == LT_OK && first == 2);
    lt_session_free(s);
}

int main(void) {
    g_dir = lt_test_tmpdir("journal");
    test_failures();
    test_kill9();
    test_extension_replay();
    test_roundtrip();
    test_bad_files();
    test_replay();
    test_multiline();
    return lt_test_done();
}
