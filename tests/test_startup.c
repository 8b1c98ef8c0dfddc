/* test_startup.c - what the workbench opens with (core/app/startup.c) and the folders it
 * looks in (core/base/assets.c): the plan for SmolLM2 present / absent, no assets folder,
 * -m with options, a config file with and without a `load`; quoting of odd paths; the config,
 * models and default-model lookups under their environment variables; and the plan run
 * through a session on the bundled stories260K: a failing config line is reported as
 * "config:LINE: message" and the rest runs, a config `load` keeps the default model out,
 * no model at all is not an error, a failing -m load is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/app/startup.h"
#include "core/base/assets.h"
#include "core/cmd/cmds.h"
#include "models/llama.h"
#include "testutil.h"

static bool has(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

static void test_plans(void) {
    lt_startup p;
    lt_err err;
    /* SmolLM2 in the models folder: loaded by default as smollm2, chat welcome, no notice */
    lt_startup_in in = {.assets = "/a", .models_dir = "/m", .have_default = true};
    CHECK(lt_startup_plan(&p, &in, &err) == LT_OK);
    CHECK(p.n_steps == 0);
    CHECKF(p.default_line && !strcmp(p.default_line, "load \"/m/SmolLM2-135M-Instruct.Q4_1.gguf\" as smollm2"), "%s",
           p.default_line);
    CHECK(has(p.welcome, "type a message to chat"));
    CHECK(!p.notice[0]);
    lt_startup_free(&p);

    /* absent: the bundled stories260K, and the status line says why */
    in.have_default = false;
    CHECK(lt_startup_plan(&p, &in, &err) == LT_OK);
    CHECKF(p.default_line && !strcmp(p.default_line, "load \"/a/models/stories260K.bin\" as stories260K --tokenizer "
                                                     "\"/a/models/tok512.bin\""),
           "%s", p.default_line);
    CHECKF(!strcmp(p.notice, "SmolLM2 not found in /m - run tools/fetch-model.sh; using the bundled stories260K"), "%s",
           p.notice);
    CHECK(has(p.welcome, "continue the story"));
    lt_startup_free(&p);

    /* no assets folder either: no model, and how to load one */
    in.assets = NULL;
    CHECK(lt_startup_plan(&p, &in, &err) == LT_OK);
    CHECK(p.n_steps == 0 && !p.default_line);
    CHECKF(has(p.notice, "no model loaded") && has(p.notice, "/load PATH") && has(p.notice, "tools/fetch-model.sh"),
           "%s", p.notice);
    CHECK(has(p.welcome, "no model loaded") && has(p.welcome, "/load PATH"));
    lt_startup_free(&p);

    /* -m with options: set lines, then the model; never a default model */
    lt_startup_in m = {.assets = "/a", .models_dir = "/m", .have_default = true, .model = "/x/my \"odd\" m\\.gguf",
                       .tokenizer = "/x/t.bin", .device = "cpu", .threads = 3};
    CHECK(lt_startup_plan(&p, &m, &err) == LT_OK);
    CHECK(p.n_steps == 3 && !p.default_line && !p.notice[0]);
    if (p.n_steps == 3) {
        CHECKF(!strcmp(p.steps[0].line, "set device \"cpu\""), "%s", p.steps[0].line);
        CHECKF(!strcmp(p.steps[1].line, "set threads 3"), "%s", p.steps[1].line);
        CHECKF(!strcmp(p.steps[2].line, "load \"/x/my \\\"odd\\\" m\\\\.gguf\" --tokenizer \"/x/t.bin\""), "%s",
               p.steps[2].line);
        CHECK(p.steps[0].config_line == 0 && p.steps[2].config_line == 0);
    }
    CHECK(has(p.welcome, "type a message to chat"));
    lt_startup_free(&p);

    /* a config without a load: its lines (numbered as in the file) before the default model */
    lt_startup_in c = {.assets = "/a", .models_dir = "/m", .have_default = true,
                       .config_text = "# my settings\n\n  set temp 0.3  \r\nset top-k 5"};
    CHECK(lt_startup_plan(&p, &c, &err) == LT_OK);
    CHECK(p.n_steps == 2);
    if (p.n_steps == 2) {
        CHECKF(!strcmp(p.steps[0].line, "set temp 0.3") && p.steps[0].config_line == 3, "%s %d", p.steps[0].line,
               p.steps[0].config_line);
        CHECK(!strcmp(p.steps[1].line, "set top-k 5") && p.steps[1].config_line == 4);
    }
    CHECK(p.default_line && has(p.default_line, "as smollm2"));
    lt_startup_free(&p);

    /* a config with a load, SmolLM2 absent: the default stays planned (it runs only when the
     * load fails), the welcome talks about chatting */
    c.have_default = false;
    c.config_text = "/load m.gguf as x\n# done\n";
    CHECK(lt_startup_plan(&p, &c, &err) == LT_OK);
    CHECK(p.n_steps == 1 && p.steps[0].config_line == 1 && !strcmp(p.steps[0].line, "/load m.gguf as x"));
    CHECK(p.default_line && has(p.default_line, "stories260K"));
    CHECK(has(p.welcome, "type a message to chat"));
    lt_startup_free(&p);
    lt_startup_free(NULL);
}

static void test_lookups(void) {
    char buf[4300];
    lt_err err;
    setenv("LATHE_CONFIG", "/c/file", 1);
    CHECK(lt_startup_config_path(buf, sizeof buf, &err) == LT_OK && !strcmp(buf, "/c/file"));
    unsetenv("LATHE_CONFIG");
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    CHECK(lt_startup_config_path(buf, sizeof buf, &err) == LT_OK && !strcmp(buf, "/xdg/lathe/config"));
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", "/h", 1);
    CHECK(lt_startup_config_path(buf, sizeof buf, &err) == LT_OK && !strcmp(buf, "/h/.config/lathe/config"));
    CHECK(lt_startup_config_path(buf, 8, &err) == LT_ERANGE);

    unsetenv("LATHE_MODELS");
    unsetenv("XDG_CACHE_HOME");
    CHECK(lt_models_dir(buf, sizeof buf, &err) == LT_OK && !strcmp(buf, "/h/.cache/lathe/models"));
    setenv("XDG_CACHE_HOME", "/cache", 1);
    CHECK(lt_models_dir(buf, sizeof buf, &err) == LT_OK && !strcmp(buf, "/cache/lathe/models"));
    const char *dir = lt_test_tmpdir("startup_models");
    setenv("LATHE_MODELS", dir, 1);
    CHECK(lt_models_dir(buf, sizeof buf, &err) == LT_OK && !strcmp(buf, dir));
    CHECK(lt_models_dir(buf, 4, &err) == LT_ERANGE);
    char want[4300];
    snprintf(want, sizeof want, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", dir);
    remove(want);
    CHECK(lt_default_model_path(buf, sizeof buf, &err) == LT_ENOTFOUND);
    CHECKF(!strcmp(buf, want), "%s", buf);
    char msg[4400];
    snprintf(msg, sizeof msg, "SmolLM2 not found in %s - run tools/fetch-model.sh", dir);
    CHECKF(!strcmp(err.msg, msg), "%s", err.msg);
    FILE *f = fopen(want, "w");
    if (f) fclose(f);
    CHECK(lt_default_model_path(buf, sizeof buf, &err) == LT_OK && !strcmp(buf, want));
    remove(want);
    mkdir(want, 0755); /* a folder by that name is not the model */
    CHECK(lt_default_model_path(buf, sizeof buf, &err) == LT_ENOTFOUND);
    rmdir(want);
}

/* ---- the plan run through a session ---------------------------------------------------- */

typedef struct collect {
    char text[16384];
    size_t n;
} collect;

static void on_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    collect *c = ud;
    const char *tag = k == LT_TEXT_ERROR ? "E:" : "";
    size_t t = strlen(tag);
    if (c->n + n + t + 1 >= sizeof c->text) return;
    memcpy(c->text + c->n, tag, t);
    memcpy(c->text + c->n + t, s, n);
    c->n += t + n;
    c->text[c->n] = 0;
}

static lt_session *new_session(void) {
    lt_session_opts o = {.tables = lt_cmd_builtin, .open_lm = lt_llama_open, .threads = 2};
    lt_session *s = NULL;
    lt_err err;
    if (lt_session_create(&s, &o, &err) != LT_OK) fprintf(stderr, "session: %s\n", err.msg);
    return s;
}

/* Plans from in, runs it on a fresh session; returns the session (the caller frees it). */
static lt_session *run(const lt_startup_in *in, collect *c, char *status, size_t cap, bool *bad, int *failed) {
    lt_startup p;
    lt_err err;
    memset(c, 0, sizeof *c);
    if (lt_startup_plan(&p, in, &err) != LT_OK) {
        fprintf(stderr, "plan: %s\n", err.msg);
        return NULL;
    }
    lt_session *s = new_session();
    lt_sink sink = {.ud = c, .text = on_text};
    *failed = s ? lt_startup_run(s, &p, &sink, status, cap, bad) : -1;
    lt_startup_free(&p);
    return s;
}

static void test_run(void) {
    char assets[4096], status[1024], load[8400];
    snprintf(assets, sizeof assets, "%s", lt_test_path("assets"));
    collect c;
    bool bad;
    int failed;

    /* SmolLM2 absent, a config with a bad line between two good ones */
    lt_startup_in in = {.assets = assets, .models_dir = "/nowhere", .config_text = "set temp 0.3\nfrobnicate 1\nset top-k 5\n"};
    lt_session *s = run(&in, &c, status, sizeof status, &bad, &failed);
    CHECK(s && failed == 1);
    if (s) {
        CHECKF(has(c.text, "E:config:2: unknown command 'frobnicate'"), "%s", c.text);
        CHECK(lt_session_settings(s)->temp == 0.3f && lt_session_settings(s)->top_k == 5);
        CHECK(lt_session_has_model(s, "stories260K"));
        CHECK(has(c.text, "SmolLM2 not found in /nowhere - run tools/fetch-model.sh; using the bundled stories260K\n"));
        CHECK(has(c.text, "loaded 'stories260K'"));
        CHECKF(bad && has(status, "config:2: unknown command"), "%s", status);
    }
    lt_session_free(s);

    /* the same without the bad line: the status line carries the fallback notice */
    in.config_text = "set temp 0.3\n";
    s = run(&in, &c, status, sizeof status, &bad, &failed);
    CHECK(s && failed == 0 && !bad);
    CHECKF(!strcmp(status, "SmolLM2 not found in /nowhere - run tools/fetch-model.sh; using the bundled stories260K"), "%s",
           status);
    lt_session_free(s);

    /* a config that loads a language model: the default one is not loaded */
    snprintf(load, sizeof load, "load \"%s/models/stories260K.bin\" as mine --tokenizer \"%s/models/tok512.bin\"\n", assets,
             assets);
    in.config_text = load;
    s = run(&in, &c, status, sizeof status, &bad, &failed);
    CHECK(s && failed == 0 && !bad);
    if (s) {
        CHECK(lt_session_has_model(s, "mine") && !lt_session_has_model(s, "stories260K"));
        CHECKF(!has(c.text, "SmolLM2 not found"), "%s", c.text);
        CHECKF(has(status, "load done in"), "%s", status);
    }
    lt_session_free(s);

    /* a config whose load fails: reported, and the default model still loads */
    in.config_text = "load /nowhere/x.gguf as x\n";
    s = run(&in, &c, status, sizeof status, &bad, &failed);
    CHECK(s && failed == 1 && bad && has(status, "config:1: load"));
    CHECK(s && lt_session_has_model(s, "stories260K"));
    lt_session_free(s);

    /* neither SmolLM2 nor the assets: no model, not an error; the notice says how to load one */
    lt_startup_in none = {.models_dir = "/nowhere"};
    s = run(&none, &c, status, sizeof status, &bad, &failed);
    CHECK(s && failed == 0 && !bad);
    CHECKF(has(status, "no model loaded") && has(status, "/load PATH"), "%s", status);
    CHECK(has(c.text, "no model loaded"));
    lt_model_info mi[4];
    CHECK(s && lt_session_models(s, mi, 4) == 0);
    lt_session_free(s);

    /* -m: that model (named after its file) and the option lines; a failing -m is an error */
    char model[4200], tok[4200];
    snprintf(model, sizeof model, "%s/models/stories260K.bin", assets);
    snprintf(tok, sizeof tok, "%s/models/tok512.bin", assets);
    lt_startup_in m = {.assets = assets, .models_dir = "/nowhere", .model = model, .tokenizer = tok, .threads = 1,
                       .device = "cpu"};
    s = run(&m, &c, status, sizeof status, &bad, &failed);
    CHECK(s && failed == 0 && !bad);
    if (s) {
        CHECK(lt_session_has_model(s, "stories260K") && lt_session_settings(s)->threads == 1);
        CHECK(!has(c.text, "SmolLM2 not found"));
    }
    lt_session_free(s);
    m.model = "/nowhere/x.gguf";
    m.tokenizer = NULL;
    m.device = "nonsense";
    s = run(&m, &c, status, sizeof status, &bad, &failed);
    CHECK(s && failed == 2 && bad);
    CHECKF(has(status, "device") && !has(status, "config:"), "%s", status); /* the first failure */
    CHECKF(has(c.text, "E:load: "), "%s", c.text);
    CHECK(s && lt_session_models(s, mi, 4) == 0); /* -m failed: no fallback model either */
    lt_session_free(s);

    /* a config file that could not be read */
    lt_startup_in ce = {.assets = assets, .models_dir = "/nowhere", .config_error = "/c: Permission denied"};
    s = run(&ce, &c, status, sizeof status, &bad, &failed);
    CHECK(s && failed == 1 && bad && !strcmp(status, "config: /c: Permission denied"));
    CHECK(has(c.text, "E:config: /c: Permission denied"));
    CHECK(s && lt_session_has_model(s, "stories260K"));
    lt_session_free(s);
}

int main(void) {
    test_plans();
    test_lookups();
    test_run();
    return lt_test_done();
}
