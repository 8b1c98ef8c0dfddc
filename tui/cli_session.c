/* cli_session.c - `lathe run SCRIPT|-` (a file of command lines through the session) and
 * `lathe replay FILE [--check|--report-only]` (re-run a journal headless, OK/DIFF per command;
 * exit 1 on any difference unless --report-only), plus the
 * helpers the workbench shares: the state directory and the session options that plug
 * models/ into core (language models, detectors) with every feature's command table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/app/journal.h"
#include "core/base/fileio.h"
#include "core/app/replay.h"
#include "core/app/session.h"
#include "core/cmd/cmds.h"
#include "models/llama.h"
#include "models/unet.h"
#include "models/yolo.h"
#include "cli.h"
#include "cli_session.h"

/* ---- shared helpers ------------------------------------------------------------------- */

const char *lt_cli_state_dir(char *buf, size_t cap) {
    const char *d = getenv("LATHE_STATE_DIR");
    if (d && d[0]) snprintf(buf, cap, "%s", d);
    else {
        const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
        if (xdg && xdg[0]) snprintf(buf, cap, "%s/lathe", xdg);
        else snprintf(buf, cap, "%s/.local/state/lathe", home && home[0] ? home : ".");
    }
    return buf;
}

lt_session_opts lt_cli_session_opts(const char *state_dir, bool journal) {
    lt_session_opts o = {.tables = lt_cmd_builtin};
    o.open_lm = lt_llama_open;
    o.open_synthetic = lt_llama_open_preset;
    o.open_detector = lt_yolo_open_detector;
    o.open_denoiser = lt_unet_open;
    o.state_dir = state_dir;
    o.journal = journal;
    return o;
}

lt_status lt_cli_session_create(lt_session **out, const char *state_dir, bool journal, lt_err *err) {
    lt_session_opts o = lt_cli_session_opts(state_dir, journal); /* every built-in command table */
    return lt_session_create(out, &o, err);
}

/* ---- headless sink -------------------------------------------------------------------- */

static void print_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    (void)ud;
    FILE *f = k == LT_TEXT_ERROR ? stderr : stdout;
    if (k == LT_TEXT_USER) fputs("> ", f);
    fwrite(s, 1, n, f);
    fflush(f);
}

/* ---- lathe run ------------------------------------------------------------------------ */

static void on_sigint_cancel(void *ud) { lt_session_cancel(ud); } /* an atomic store: signal-safe */

int lt_cli_run(int argc, char **argv) {
    bool no_journal = false, keep_going = false;
    const char *usage = "SCRIPT|- [--no-journal] [--keep-going]";
    lt_opt opts[] = {
        {"--no-journal", NULL, LT_OPT_FLAG, &no_journal, "do not record a session file"},
        {"--keep-going", "-k", LT_OPT_FLAG, &keep_going, "continue after a failing command"},
        {0},
    };
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("run", usage, opts, argc, argv, pos, 1, &n_pos)) return 2;
    if (n_pos != 1) {
        lt_cli_usage("run", usage, opts);
        return 2;
    }
    lt_err err = {0};
    FILE *f = strcmp(pos[0], "-") ? lt_file_fopen_regular(pos[0], &err) : stdin; /* a directory or FIFO: an error */
    if (!f) {
        fprintf(stderr, "lathe run: %s\n", err.msg);
        return 1;
    }
    char sd[4096];
    lt_session *s;
    if (lt_cli_session_create(&s, lt_cli_state_dir(sd, sizeof sd), !no_journal, &err) != LT_OK) {
        fprintf(stderr, "lathe run: %s\n", err.msg);
        if (f != stdin) fclose(f);
        return 1;
    }
    if (lt_session_journal_path(s)) fprintf(stderr, "journal: %s\n", lt_session_journal_path(s));
    lt_sink sink = {.text = print_text};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ln = 0, rc = 0;
    lt_cli_sigint_catch(on_sigint_cancel, s); /* Ctrl-C cancels the running command (journaled as such), then stops */
    while (!lt_cli_interrupted() && (len = getline(&line, &cap, f)) >= 0) {
        ln++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (lt_session_exec(s, line, &sink, &err) != LT_OK) {
            fprintf(stderr, "%s:%d: %s\n", pos[0], ln, err.msg);
            rc = 1;
            if (!keep_going) break;
        }
        if (lt_session_quit_requested(s)) break;
    }
    lt_cli_sigint_release();
    if (lt_cli_interrupted()) {
        fprintf(stderr, "lathe run: interrupted at %s:%d\n", pos[0], ln);
        rc = LT_CLI_INTERRUPTED;
    } else if (ferror(f)) {
        fprintf(stderr, "lathe run: %s: read failed: %s\n", pos[0], strerror(errno));
        rc = 1;
    }
    free(line);
    if (f != stdin) fclose(f);
    lt_session_free(s);
    return rc;
}

/* ---- lathe replay --------------------------------------------------------------------- */

static bool report(void *ud, const lt_journal_entry *e, bool same, const char *detail) {
    int *n_diff = ud;
    if (!same) (*n_diff)++;
    printf("%4d  %-48.48s %s%s%s\n", e->line_no, e->line, same ? "OK" : "DIFF", detail[0] ? " " : "", detail);
    fflush(stdout);
    return !lt_cli_interrupted();
}

static void quiet_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    bool *verbose = ud;
    if (*verbose || k == LT_TEXT_ERROR) print_text(NULL, k, s, n);
}

int lt_cli_replay(int argc, char **argv) {
    bool check = false, verbose = false, report_only = false;
    const char *usage = "FILE [--check | --report-only] [--verbose]";
    lt_opt opts[] = {
        {"--check", NULL, LT_OPT_FLAG, &check, "stop at the first command whose result differs (exit 1)"},
        {"--report-only", NULL, LT_OPT_FLAG, &report_only, "report every command and exit 0 even when results differ"},
        {"--verbose", "-v", LT_OPT_FLAG, &verbose, "print the commands' output too"},
        {0},
    };
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("replay", usage, opts, argc, argv, pos, 1, &n_pos)) return LT_CLI_USAGE;
    if (n_pos != 1) {
        fprintf(stderr, "lathe replay: %s\n", n_pos ? "one FILE at a time" : "give the session FILE to replay");
        lt_cli_usage("replay", usage, opts);
        return LT_CLI_USAGE;
    }
    if (check && report_only) {
        fprintf(stderr, "lathe replay: --check and --report-only exclude each other\n");
        return LT_CLI_USAGE;
    }
    lt_err err = {0};
    /* relative paths in the recorded commands resolve in the folder the session ran in */
    char jpath[4096], rec[4096], here[4096];
    if (!realpath(pos[0], jpath)) snprintf(jpath, sizeof jpath, "%s", pos[0]); /* the reader names the problem */
    if (lt_journal_cwd(jpath, rec, sizeof rec, &err) == LT_OK && rec[0] && getcwd(here, sizeof here) &&
        strcmp(rec, here)) {
        if (chdir(rec) == 0) fprintf(stderr, "lathe replay: running in %s, the folder the session ran in\n", rec);
        else fprintf(stderr, "lathe replay: the session ran in %s (%s); relative paths resolve here instead\n", rec,
                     strerror(errno));
    }
    err = (lt_err){0};
    pos[0] = jpath;
    lt_session *s;
    if (lt_cli_session_create(&s, NULL, false, &err) != LT_OK) {
        fprintf(stderr, "lathe replay: %s\n", err.msg);
        return LT_CLI_FAIL;
    }
    lt_sink sink = {.ud = &verbose, .text = quiet_text};
    int first = 0, n = 0, n_diff = 0;
    lt_journal_damage dmg;
    lt_cli_sigint_catch(on_sigint_cancel, s); /* Ctrl-C: cancel the command, stop after it, exit 130 */
    lt_status st = lt_replay(pos[0], s, &sink, check, report, &n_diff, &first, &n, &dmg, &err);
    lt_cli_sigint_release();
    char note[512];
    if (st == LT_OK) lt_replay_damage_note(pos[0], &dmg, note, sizeof note);
    if (st == LT_OK && note[0]) fprintf(stderr, "lathe replay: %s\n", note);
    lt_session_free(s);
    if (lt_cli_interrupted()) {
        fprintf(stderr, "lathe replay: interrupted after %d commands\n", n);
        return LT_CLI_INTERRUPTED;
    }
    if (st != LT_OK) {
        fprintf(stderr, "lathe replay: %s\n", err.msg);
        return LT_CLI_FAIL;
    }
    if (first) {
        if (check) fprintf(stderr, "lathe replay: %s:%d: result differs from the recording\n", pos[0], first);
        else
            fprintf(stderr, "lathe replay: %d of %d commands differ from the recording (the first on line %d)\n",
                    n_diff, n, first);
        return report_only ? LT_CLI_OK : LT_CLI_FAIL;
    }
    printf("%d commands replayed, all OK\n", n);
    return LT_CLI_OK;
}
