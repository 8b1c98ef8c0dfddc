/* test_commands.c - the command language: splitting lines (quotes, escapes), the registry
 * (exact, alias, unique prefix, ambiguous, unknown with "did you mean"), argument counts
 * and usage lines, extra tables registered by other modules, and the same errors coming
 * back from lt_session_exec without crashing or changing state. */
#include <stdio.h>
#include <string.h>

#include "core/app/commands.h"
#include "core/app/session.h"
#include "core/base/alloc.h"
#include "core/cmd/cmds.h"
#include "testutil.h"

static lt_status noop(lt_session *s, const lt_args *a, lt_sink *k, lt_err *e) { return LT_OK; }

static const lt_cmd k_a[] = {
    {"load", "l", "load PATH [as NAME]", "load a model", 1, 3, NULL, true, noop},
    {"list", NULL, "list", "list things", 0, 0, NULL, true, noop},
    {"bench", NULL, "bench [-n N]", "measure", 0, 2, NULL, true, noop},
    {"quit", "q", "quit", "leave", 0, 0, NULL, false, noop},
    {NULL},
};
static const lt_cmd k_clash[] = {{"bench", NULL, "bench", "again", 0, 0, NULL, true, noop}, {NULL}};
static const lt_cmd k_alias_clash[] = {{"lower", "l", "lower", "x", 0, 0, NULL, true, noop}, {NULL}};

static void test_split(void) {
    char buf[256];
    lt_args a;
    lt_err err;
    CHECK(lt_cmd_split("  load  models/x.gguf as   big ", buf, sizeof buf, &a, &err) == LT_OK);
    CHECK(a.argc == 4 && !strcmp(a.argv[0], "load") && !strcmp(a.argv[1], "models/x.gguf") && !strcmp(a.argv[3], "big"));
    CHECK(!strcmp(a.rest, "models/x.gguf as   big "));
    CHECK(lt_cmd_split("load \"my model.gguf\" 'single q' a\\ b \"esc\\\"aped\"", buf, sizeof buf, &a, &err) == LT_OK);
    CHECK(a.argc == 5 && !strcmp(a.argv[1], "my model.gguf") && !strcmp(a.argv[2], "single q") &&
          !strcmp(a.argv[3], "a b") && !strcmp(a.argv[4], "esc\"aped"));
    CHECK(lt_cmd_split("x\"\"", buf, sizeof buf, &a, &err) == LT_OK && a.argc == 1 && !strcmp(a.argv[0], "x"));
    CHECK(lt_cmd_split("", buf, sizeof buf, &a, &err) == LT_OK && a.argc == 0);
    CHECK(lt_cmd_split("   \t ", buf, sizeof buf, &a, &err) == LT_OK && a.argc == 0);
    CHECK(lt_cmd_split("load \"unterminated", buf, sizeof buf, &a, &err) == LT_EINVAL && strstr(err.msg, "unterminated"));
    CHECK(lt_cmd_split("a b c d e f g h", buf, 6, &a, &err) == LT_ERANGE);
    char many[256] = "";
    for (int i = 0; i < 40; i++) strcat(many, "x ");
    CHECK(lt_cmd_split(many, buf, sizeof buf, &a, &err) == LT_EINVAL && strstr(err.msg, "too many"));
}

/* lt_cmd_quote: any value, of any length, comes back from lt_cmd_split as one word */
static void test_quote(void) {
    const char *vals[] = {"plain", "two words", "say \"hi\"", "back\\slash\\", "'single'", "", "tab\there"};
    static char big[10000], buf[30000];
    lt_args a;
    lt_err err;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char *q = lt_cmd_quote(vals[i]), line[200];
        snprintf(line, sizeof line, "set %s", q);
        CHECKF(lt_cmd_split(line, buf, sizeof buf, &a, &err) == LT_OK && a.argc == 2 && !strcmp(a.argv[1], vals[i]),
               "'%s' quoted as %s", vals[i], q);
        lt_free(q);
    }
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = i % 97 == 0 ? '"' : i % 89 == 0 ? '\\' : 'a' + i % 26;
    char *q = lt_cmd_quote(big);
    CHECK(q && strlen(q) > sizeof big); /* not cut at some buffer's size */
    CHECK(q && lt_cmd_split(q, buf, sizeof buf, &a, &err) == LT_OK && a.argc == 1 && !strcmp(a.argv[0], big));
    lt_free(q);
}

/* lt_cmd_escape: control characters become visible escapes, the rest stays */
static void test_escape(void) {
    char b[64];
    CHECK(!strcmp(lt_cmd_escape("a\nb\tc\r\x01\x7f \"q\" \xc3\xa9", b, sizeof b),
                  "a\\nb\\tc\\r\\x01\\x7f \"q\" \xc3\xa9"));
    CHECK(!strcmp(lt_cmd_escape("ab\n", b, 4), "ab")); /* an escape is never cut in half */
    CHECK(!strcmp(lt_cmd_escape("", b, sizeof b), ""));
    char big[LT_CMD_ESCAPED_CAP(8)];
    CHECK(!strcmp(lt_cmd_escape("\x01\x02\x03\x04\x05\x06\x07\x08", big, sizeof big),
                  "\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08"));
}

static void test_registry(void) {
    lt_cmds *c;
    lt_err err;
    CHECK(lt_cmds_create(&c, &err) == LT_OK);
    lt_cmd_table t = {"test", k_a};
    CHECK(lt_cmds_add(c, &t, &err) == LT_OK);
    CHECK(lt_cmds_count(c) == 4 && !strcmp(lt_cmds_at(c, 2)->name, "bench") && lt_cmds_at(c, 4) == NULL);
    const lt_cmd *k;
    CHECK(lt_cmds_find(c, "load", &k, &err) == LT_OK && !strcmp(k->name, "load"));
    CHECK(lt_cmds_find(c, "l", &k, &err) == LT_OK && !strcmp(k->name, "load")); /* alias beats prefix */
    CHECK(lt_cmds_find(c, "ben", &k, &err) == LT_OK && !strcmp(k->name, "bench"));
    CHECK(lt_cmds_find(c, "lo", &k, &err) == LT_OK && !strcmp(k->name, "load"));
    CHECK(lt_cmds_find(c, "li", &k, &err) == LT_OK && !strcmp(k->name, "list"));
    k = NULL;
    /* "l" is an alias, but a two-letter prefix shared by nothing else is unique; make an
     * ambiguous one: none here, so register another table first */
    CHECK(lt_cmds_find(c, "lod", &k, &err) == LT_ENOTFOUND && k == NULL);
    CHECKF(!strcmp(err.msg, "unknown command 'lod' - did you mean 'load'?"), "%s", err.msg);
    CHECK(lt_cmds_find(c, "bnech", &k, &err) == LT_ENOTFOUND && strstr(err.msg, "did you mean 'bench'"));
    CHECK(lt_cmds_find(c, "xyzzy", &k, &err) == LT_ENOTFOUND && !strstr(err.msg, "did you mean") &&
          strstr(err.msg, "unknown command 'xyzzy'"));
    /* another module's table: clashes are refused, new names are found */
    lt_cmd_table clash = {"other", k_clash}, aclash = {"other", k_alias_clash};
    CHECK(lt_cmds_add(c, &clash, &err) == LT_EINVAL && strstr(err.msg, "bench"));
    CHECK(lt_cmds_add(c, &aclash, &err) == LT_EINVAL && strstr(err.msg, "lower"));
    static const lt_cmd ext[] = {{"lookup", NULL, "lookup X", "x", 1, 1, NULL, true, noop}, {NULL}};
    lt_cmd_table te = {"ext", ext};
    CHECK(lt_cmds_add(c, &te, &err) == LT_OK && lt_cmds_count(c) == 5);
    CHECK(lt_cmds_find(c, "lo", &k, &err) == LT_EINVAL && strstr(err.msg, "ambiguous") && strstr(err.msg, "load") &&
          strstr(err.msg, "lookup"));
    CHECK(lt_cmds_find(c, "loo", &k, &err) == LT_OK && !strcmp(k->name, "lookup"));
    /* argument counts */
    char buf[128];
    lt_args a;
    lt_cmds_find(c, "load", &k, &err);
    lt_cmd_split("load", buf, sizeof buf, &a, &err);
    CHECK(lt_cmd_check_args(k, &a, &err) == LT_EINVAL && !strcmp(err.msg, "usage: load PATH [as NAME]"));
    lt_cmd_split("load a as b c", buf, sizeof buf, &a, &err);
    CHECK(lt_cmd_check_args(k, &a, &err) == LT_EINVAL);
    lt_cmd_split("load a as b", buf, sizeof buf, &a, &err);
    CHECK(lt_cmd_check_args(k, &a, &err) == LT_OK && lt_args_find(&a, "as") == 2 && lt_args_find(&a, "--x") < 0);
    CHECK(lt_edit_distance("kitten", "sitting") == 3 && lt_edit_distance("", "abc") == 3 &&
          lt_edit_distance("same", "same") == 0);
    lt_cmds_free(c);
    lt_cmds_free(NULL);
}

static int g_ext_runs;
static lt_status ext_exec(lt_session *s, const lt_args *a, lt_sink *k, lt_err *e) {
    g_ext_runs++;
    lt_session_set_digest(s, 42);
    if (a->argc > 1 && !strcmp(a->argv[1], "fail")) return lt_err_set(e, LT_EINVAL, "probe: failed on purpose");
    return LT_OK;
}

static void test_session_errors(void) {
    lt_session *s;
    lt_err err;
    lt_session_opts o = {.tables = lt_cmd_builtin};
    CHECK(lt_session_create(&s, &o, &err) == LT_OK);
    CHECK(lt_session_exec(s, "lod x", NULL, &err) == LT_ENOTFOUND &&
          !strcmp(err.msg, "unknown command 'lod' - did you mean 'load'?"));
    CHECK(lt_session_exec(s, "/lod x", NULL, &err) == LT_ENOTFOUND);
    CHECK(lt_session_exec(s, "  # the workbench's own comment, \"unbalanced", NULL, &err) == LT_OK); /* lathe run */
    CHECK(lt_session_exec(s, "chat", NULL, &err) == LT_EINVAL && !strcmp(err.msg, "usage: chat TEXT"));
    CHECK(lt_session_exec(s, "models extra", NULL, &err) == LT_EINVAL && strstr(err.msg, "usage: models"));
    CHECK(lt_session_exec(s, "set temp", NULL, &err) == LT_EINVAL && strstr(err.msg, "usage: set KEY VALUE"));
    CHECK(lt_session_exec(s, "set temp hot", NULL, &err) == LT_EINVAL && strstr(err.msg, "temp"));
    CHECK(lt_session_exec(s, "set top-p 2", NULL, &err) == LT_EINVAL);
    CHECK(lt_session_exec(s, "set colour red", NULL, &err) == LT_EINVAL && strstr(err.msg, "unknown setting"));
    CHECK(lt_session_settings(s)->temp > 0.79f && lt_session_settings(s)->temp < 0.81f); /* unchanged */
    CHECK(lt_session_exec(s, "set temp 0.7", NULL, &err) == LT_OK && lt_session_settings(s)->temp == 0.7f);
    CHECK(lt_session_exec(s, "set seed 12", NULL, &err) == LT_OK && lt_session_settings(s)->seed == 12);
    CHECK(lt_session_exec(s, "set seed -1", NULL, &err) == LT_EINVAL && lt_session_settings(s)->seed == 12);
    CHECK(lt_session_exec(s, "set device tpu", NULL, &err) == LT_EINVAL);
    CHECK(lt_session_exec(s, "chat hello", NULL, &err) == LT_ENOTFOUND && strstr(err.msg, "no model loaded"));
    CHECK(lt_session_exec(s, "load x.gguf", NULL, &err) == LT_EUNSUPPORTED); /* no opener given */
    CHECK(lt_session_exec(s, "load \"unterminated", NULL, &err) == LT_EINVAL);
    CHECK(lt_session_exec(s, "", NULL, &err) == LT_OK && lt_session_exec(s, "# comment", NULL, &err) == LT_OK);
    CHECK(lt_session_exec(s, "help", NULL, &err) == LT_OK && lt_session_exec(s, "help load", NULL, &err) == LT_OK);
    CHECK(lt_session_exec(s, "help nothing", NULL, &err) == LT_ENOTFOUND);
    CHECK(lt_session_exec(s, "session save /tmp/x", NULL, &err) == LT_ENOTFOUND); /* no journal */
    CHECK(!lt_session_quit_requested(s));
    CHECK(lt_session_exec(s, "q", NULL, &err) == LT_OK && lt_session_quit_requested(s));
    /* a feature registers its own table; it runs through the same exec */
    static const lt_cmd ext[] = {{"probe", NULL, "probe IMAGE", "find objects", 1, 1, NULL, true, ext_exec}, {NULL}};
    static const lt_cmd_table te = {"probe", ext};
    CHECK(lt_session_add_commands(s, &te, &err) == LT_OK);
    CHECK(lt_session_add_commands(s, &te, &err) == LT_EINVAL);
    CHECK(lt_session_exec(s, "probe img.png", NULL, &err) == LT_OK && g_ext_runs == 1);
    CHECK(lt_session_last(s)->has_digest && lt_session_last(s)->digest == 42 &&
          !strcmp(lt_session_last(s)->cmd, "probe"));
    CHECK(lt_session_exec(s, "probe fail", NULL, &err) == LT_EINVAL && g_ext_runs == 2 &&
          lt_session_last(s)->code == LT_EINVAL);
    CHECK(lt_session_exec(s, "probe", NULL, &err) == LT_EINVAL && g_ext_runs == 2);
    /* generic object slot */
    static int closed;
    int *obj = &closed;
    CHECK(lt_session_put_object(s, "yolo", "detector", obj, NULL, 1234, "cpu", &err) == LT_OK);
    CHECK(lt_session_get_object(s, "yolo", "detector") == obj && !lt_session_get_object(s, "yolo", "llm"));
    CHECK(lt_session_put_object(s, "yolo", "detector", obj, NULL, 0, NULL, &err) == LT_EINVAL);
    lt_model_info mi[4];
    CHECK(lt_session_models(s, mi, 4) == 1 && !strcmp(mi[0].kind, "detector") && mi[0].bytes == 1234);
    CHECK(lt_session_get_lm(s, "yolo", NULL, NULL, NULL, &err) == LT_ENOTFOUND);
    CHECK(lt_session_exec(s, "unload yolo", NULL, &err) == LT_OK && lt_session_models(s, mi, 4) == 0);
    lt_session_free(s);
    lt_session_free(NULL);
}

/* Random lines built from command words, numbers, quotes and junk never crash the session
 * and never leave it without an error message when they fail. */
static void test_fuzz(void) {
    static const char *words[] = {"load", "unload", "models", "set", "temp", "top-k", "seed", "max-tokens", "device",
                                  "threads", "chat", "reset", "generate", "-n", "bench", "-p", "session", "save",
                                  "replay", "--check", "help", "as", "--tokenizer", "synthetic:", "\"", "'", "\\",
                                  "-1", "0", "1e400", "nan", "99999999999999999999", "/", "#", "", "\t", "lod"};
    const int nw = (int)(sizeof words / sizeof words[0]);
    lt_session *s;
    lt_err err;
    lt_session_opts o = {.tables = lt_cmd_builtin};
    CHECK(lt_session_create(&s, &o, &err) == LT_OK);
    lt_test_rng r;
    lt_test_rng_seed(&r, 7);
    int failures_without_message = 0;
    for (int it = 0; it < 3000; it++) {
        char line[512] = "";
        int n = 1 + (int)(lt_test_u32(&r) % 6);
        for (int k = 0; k < n; k++) {
            const char *w = words[lt_test_u32(&r) % (uint32_t)nw];
            if (strlen(line) + strlen(w) + 2 < sizeof line) {
                strcat(line, w);
                if (lt_test_u32(&r) % 4) strcat(line, " ");
            }
        }
        if (!strncmp(line, "quit", 4) || strstr(line, "replay") || strstr(line, "save")) continue;
        lt_status st = lt_session_exec(s, line, NULL, &err);
        if (st != LT_OK && !err.msg[0]) failures_without_message++;
    }
    CHECK(failures_without_message == 0);
    lt_session_free(s);
}

int main(void) {
    test_split();
    test_quote();
    test_escape();
    test_fuzz();
    test_registry();
    test_session_errors();
    return lt_test_done();
}
