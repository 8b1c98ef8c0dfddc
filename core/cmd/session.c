/* session.c - the session commands: `set [KEY VALUE]`, `session save PATH`, `replay FILE
 * [--check]`, `help [COMMAND]`, `quit`; and the list of built-in command tables.
 * Leaves out: the settings table (core/app/settings.c), the journal format and replay
 * (core/app/journal.c, replay.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmds.h"
#include "core/app/replay.h"
#include "core/base/fileio.h"
#include "detect.h"
#include "imagine.h"

const lt_cmd_table *const lt_cmd_builtin[] = {&lt_cmd_model_table, &lt_cmd_session_table, &lt_cmd_chat_table,
                                              &lt_cmd_bench_table, &lt_cmd_spec_table, &lt_cmd_eval_table,
                                              &lt_cmd_detect_table, &lt_cmd_imagine_table, &lt_cmd_compress_table, NULL};

static void print_settings(lt_session *s, lt_sink *sink) {
    char buf[LT_SETTINGS_SYSTEM_LEN + 1024];
    lt_settings_format(lt_session_settings(s), buf, sizeof buf);
    lt_sink_printf(sink, LT_TEXT_INFO, "%s\n", buf);
}

/* `set system TEXT` takes the rest of the line as typed (quotes and apostrophes included). */
static bool set_text_rest(const char *rest) {
    char key[32];
    size_t n = strcspn(rest, " \t\r\n");
    if (!n || n >= sizeof key) return false;
    memcpy(key, rest, n);
    key[n] = 0;
    return lt_settings_key_is_text(key);
}

/* A new system prompt applies from the start of a conversation: the conversations that
 * already started are cleared, each with a line that says so. */
static void restart_conversations(lt_session *s, lt_sink *sink) {
    lt_model_info info[16];
    int n = lt_session_models(s, info, 16);
    for (int i = 0; i < n; i++) {
        lt_conv *c;
        lt_err e;
        if (lt_session_llm(s, info[i].name, &c, NULL, &e) != LT_OK || lt_conv_chat_fresh(c)) continue;
        lt_conv_reset(c);
        lt_sink_printf(sink, LT_TEXT_INFO, "conversation with '%s' cleared: the system prompt applies from the start\n",
                       info[i].name);
    }
}

static lt_status cmd_set(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    if (a->argc == 1 && !a->rest[0]) {
        print_settings(s, sink);
        return LT_OK;
    }
    lt_settings n = *lt_session_settings(s);
    char key[32], d[LT_SETTINGS_SYSTEM_LEN + 64];
    if (a->argc == 1) { /* a text setting: KEY then the rest verbatim */
        size_t kl = strcspn(a->rest, " \t");
        snprintf(key, sizeof key, "%.*s", (int)(kl < sizeof key ? kl : sizeof key - 1), a->rest);
        const char *v = a->rest + kl + strspn(a->rest + kl, " \t");
        LT_TRY(lt_settings_apply(&n, key, v, err));
        snprintf(d, sizeof d, "%s=%s", key, v);
    } else {
        if (a->argc < 3)
            return lt_err_set(err, LT_EINVAL, "usage: set KEY VALUE (keys: %s)", lt_settings_keys());
        snprintf(key, sizeof key, "%s", a->argv[1]);
        LT_TRY(lt_settings_apply_list(&n, key, (const char *const *)a->argv + 2, a->argc - 2, err));
        size_t o = (size_t)snprintf(d, sizeof d, "%s=", key);
        for (int i = 2; i < a->argc && o < sizeof d; i++)
            o += (size_t)snprintf(d + o, sizeof d - o, "%s%s", i > 2 ? "\x1f" : "", a->argv[i]);
    }
    bool sys_changed = strcmp(n.system, lt_session_settings(s)->system) != 0;
    lt_session_update_settings(s, &n, !strcmp(key, "seed")); /* a new seed restarts the sequence of seeds */
    print_settings(s, sink);
    if (sys_changed) restart_conversations(s, sink);
    lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, d, strlen(d)));
    return LT_OK;
}

static lt_status cmd_session(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    if (a->argc != 3 || strcmp(a->argv[1], "save")) return lt_err_set(err, LT_EINVAL, "usage: session save PATH");
    const char *src = lt_session_journal_path(s), *dst = a->argv[2];
    if (!src) return lt_err_set(err, LT_ENOTFOUND, "session save: this session has no journal");
    struct stat a_st, b_st;
    if (stat(src, &a_st) == 0 && stat(dst, &b_st) == 0 && a_st.st_dev == b_st.st_dev && a_st.st_ino == b_st.st_ino)
        return lt_err_set(err, LT_EINVAL, "session save: %s is this session's own journal (it is saved as it goes)", dst);
    lt_err e;
    FILE *in = lt_file_fopen_regular(src, &e);
    if (!in) return lt_err_set(err, LT_EIO, "session save: cannot read the journal: %s", e.msg);
    lt_afile af; /* written beside dst and renamed over it: a failure leaves dst as it was */
    lt_status st = lt_afile_open(&af, dst, err);
    if (st != LT_OK) {
        fclose(in);
        return lt_err_prefix(err, "session save");
    }
    char buf[8192];
    size_t k;
    bool ok = true;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) ok = ok && fwrite(buf, 1, k, af.f) == k;
    ok = ok && !ferror(in);
    fclose(in);
    if (lt_afile_close(&af, ok, err) != LT_OK) return lt_err_prefix(err, "session save");
    lt_sink_printf(sink, LT_TEXT_INFO, "session saved to %s\n", dst);
    return LT_OK;
}

typedef struct replay_ud {
    lt_session *s; /* the session running `replay`: Esc there stops the replay between commands */
    lt_sink *sink;
} replay_ud;

static bool replay_report(void *ud, const lt_journal_entry *e, bool same, const char *detail) {
    replay_ud *r = ud;
    lt_sink_printf(r->sink, same ? LT_TEXT_INFO : LT_TEXT_ERROR, "%4d %-40.40s %s%s%s\n", e->line_no, e->line,
                   same ? "OK" : "DIFF", detail[0] ? " " : "", detail);
    return !lt_session_cancelled(r->s);
}

static lt_status cmd_replay(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *path = NULL;
    bool check = false;
    for (int i = 1; i < a->argc; i++) {
        const char *w = a->argv[i];
        if (!strcmp(w, "--check")) check = true;
        else if (w[0] == '-' && w[1]) return lt_err_set(err, LT_EINVAL, "replay: unknown option '%s'; usage: replay FILE [--check]", w);
        else if (!path) path = w;
        else return lt_err_set(err, LT_EINVAL, "replay: unexpected argument '%s'; usage: replay FILE [--check]", w);
    }
    if (!path) return lt_err_set(err, LT_EINVAL, "replay: give the session FILE; usage: replay FILE [--check]");
    const lt_settings *set = lt_session_settings(s);
    lt_session_opts o = *lt_session_options(s);
    if (o.replay_depth >= LT_REPLAY_MAX_DEPTH)
        return lt_err_set(err, LT_EINVAL, "replay %s: not run inside a replay (a journal never records `replay`)",
                          path);
    o.replay_depth++;
    o.journal = false;
    o.device = set->device;
    o.threads = set->threads;
    o.tables = NULL; /* every table this session has, registered below */
    lt_session *fresh;
    LT_TRY(lt_session_create(&fresh, &o, err));
    const lt_cmds *cmds = lt_session_commands(s);
    for (int i = 0; i < lt_cmds_n_tables(cmds); i++) {
        lt_status st = lt_session_add_commands(fresh, lt_cmds_table(cmds, i), err);
        if (st != LT_OK) {
            lt_session_free(fresh);
            return st;
        }
    }
    int first = 0, n = 0;
    lt_journal_damage dmg;
    replay_ud ud = {s, sink};
    lt_status r = lt_replay(path, fresh, NULL, check, replay_report, &ud, &first, &n, &dmg, err);
    lt_session_free(fresh);
    if (r == LT_ECANCELLED) { /* Esc: a cancelled command, not a failed one */
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[%s]\n", err->msg);
        lt_err_clear(err);
        return LT_OK;
    }
    if (r != LT_OK) return r;
    char note[512];
    lt_replay_damage_note(path, &dmg, note, sizeof note);
    if (note[0]) lt_sink_printf(sink, LT_TEXT_INFO, "%s\n", note);
    if (first) return lt_err_set(err, LT_EFORMAT, "replay %s: diverges at line %d", path, first);
    lt_sink_printf(sink, LT_TEXT_INFO, "replay %s: %d commands, all OK\n", path, n);
    return LT_OK;
}

static lt_status cmd_help(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const lt_cmds *cmds = lt_session_commands(s);
    if (a->argc > 1) {
        const lt_cmd *c;
        LT_TRY(lt_cmds_find(cmds, a->argv[1], &c, err));
        lt_sink_printf(sink, LT_TEXT_INFO, "%s - %s\n", c->usage, c->help);
        return LT_OK;
    }
    for (int i = 0, n = lt_cmds_count(cmds); i < n; i++) {
        const lt_cmd *c = lt_cmds_at(cmds, i);
        lt_sink_printf(sink, LT_TEXT_INFO, "%-48s %s\n", c->usage, c->help);
    }
    return LT_OK;
}

static lt_status cmd_quit(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_session_request_quit(s);
    return LT_OK;
}

static const lt_cmd_arg k_set_args[] = {{"KEY", "temp, top-k, top-p, min-p, repeat-penalty, repeat-last-n, seed, "
                                                "max-tokens, stop, system, ctx, device, threads, tint"},
                                        {"VALUE", "the new value"},
                                        {NULL, NULL}};
static const lt_cmd_arg k_session_args[] = {{"save", "the word 'save'"}, {"PATH", "where to copy the journal"}, {NULL, NULL}};
static const lt_cmd_arg k_replay_args[] = {{"FILE", "a .lathe session file"}, {NULL, NULL}};

static const lt_cmd k_cmds[] = {
    {"set", NULL, "set [KEY VALUE...]", "change a setting (no arguments: show them; `set system TEXT`, `set stop S...`)",
     0, -1, k_set_args, true, cmd_set, .text_rest = set_text_rest},
    {"session", NULL, "session save PATH", "copy this session's journal to PATH", 2, 2, k_session_args, false,
     cmd_session},
    {"replay", NULL, "replay FILE [--check]", "re-run a session file in a fresh session and compare results", 1, 2,
     k_replay_args, false, cmd_replay},
    {"help", "h", "help [COMMAND]", "list the commands or show one", 0, 1, NULL, false, cmd_help},
    {"quit", "q", "quit", "leave the workbench", 0, 0, NULL, false, cmd_quit, .exits = true},
    {NULL},
};

const lt_cmd_table lt_cmd_session_table = {"session", k_cmds};
