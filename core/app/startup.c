/* startup.c - see startup.h. */
#include "startup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/commands.h"
#include "core/base/alloc.h"
#include "core/base/assets.h"

static const char *k_chat_welcome =
    "lathe workbench - type a message to chat, /help for commands, Ctrl-P for the palette";
static const char *k_story_welcome =
    "lathe workbench - type a prompt to continue the story, /help for commands, Ctrl-P for the palette";
static const char *k_empty_welcome =
    "lathe workbench - no model loaded: /load PATH [as NAME] loads one (GGUF, Hugging Face folder, llama2.c), "
    "/help for commands, Ctrl-P for the palette";

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = n >= 0 ? lt_malloc((size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

static lt_status add_step(lt_startup *p, char *line, int config_line, lt_err *err) {
    if (!line) return lt_err_set(err, LT_ENOMEM, "start-up: out of memory");
    lt_startup_step *ns = lt_realloc(p->steps, sizeof *ns * (size_t)(p->n_steps + 1));
    if (!ns) {
        lt_free(line);
        return lt_err_set(err, LT_ENOMEM, "start-up: out of memory");
    }
    p->steps = ns;
    p->steps[p->n_steps++] = (lt_startup_step){line, config_line};
    return LT_OK;
}

/* True when a command line's first word is `load` (or its alias `l`). */
static bool is_load(const char *line) {
    while (*line == ' ' || *line == '\t') line++;
    if (*line == '/') line++;
    size_t n = strcspn(line, " \t");
    return (n == 4 && !strncmp(line, "load", 4)) || (n == 1 && line[0] == 'l');
}

/* The config's lines, blank lines and # comments left out. */
static lt_status add_config(lt_startup *p, const char *text, bool *loads, lt_err *err) {
    int no = 0;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        no++;
        while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t')) n--;
        size_t k = strspn(l, " \t");
        if (k < n && l[k] != '#') {
            char *line = fmt("%.*s", (int)(n - k), l + k);
            LT_TRY(add_step(p, line, no, err));
            if (is_load(line)) *loads = true;
        }
        l = e ? e + 1 : l + strlen(l);
    }
    return LT_OK;
}

lt_status lt_startup_plan(lt_startup *out, const lt_startup_in *in, lt_err *err) {
    memset(out, 0, sizeof *out);
    lt_startup *p = out;
    bool config_loads = false;
    lt_status st = LT_OK;
    if (in->config_error) snprintf(p->config_error, sizeof p->config_error, "%s", in->config_error);
    if (in->config_text) st = add_config(p, in->config_text, &config_loads, err);
    if (st == LT_OK && in->device && in->device[0]) {
        char *q = lt_cmd_quote(in->device);
        st = add_step(p, q ? fmt("set device %s", q) : NULL, 0, err);
        lt_free(q);
    }
    if (st == LT_OK && in->threads > 0) st = add_step(p, fmt("set threads %d", in->threads), 0, err);
    const char *dir = in->models_dir ? in->models_dir : "the models folder";
    if (st == LT_OK && in->model) {
        char *m = lt_cmd_quote(in->model), *t = in->tokenizer ? lt_cmd_quote(in->tokenizer) : NULL;
        bool oom = !m || (in->tokenizer && !t);
        st = add_step(p, oom ? NULL : fmt("load %s%s%s", m, t ? " --tokenizer " : "", t ? t : ""), 0, err);
        lt_free(m);
        lt_free(t);
        snprintf(p->welcome, sizeof p->welcome, "%s", k_chat_welcome);
    } else if (st == LT_OK && in->have_default && in->models_dir) {
        char *path = fmt("%s/%s", in->models_dir, LT_DEFAULT_MODEL_FILE), *q = path ? lt_cmd_quote(path) : NULL;
        p->default_line = q ? fmt("load %s as %s", q, LT_DEFAULT_MODEL_NAME) : NULL;
        lt_free(path);
        lt_free(q);
        if (!p->default_line) st = lt_err_set(err, LT_ENOMEM, "start-up: out of memory");
        snprintf(p->welcome, sizeof p->welcome, "%s", k_chat_welcome);
    } else if (st == LT_OK && in->assets) {
        char *m = fmt("%s/models/stories260K.bin", in->assets), *t = fmt("%s/models/tok512.bin", in->assets);
        char *qm = m ? lt_cmd_quote(m) : NULL, *qt = t ? lt_cmd_quote(t) : NULL;
        p->default_line = qm && qt ? fmt("load %s as stories260K --tokenizer %s", qm, qt) : NULL;
        lt_free(m), lt_free(t), lt_free(qm), lt_free(qt);
        if (!p->default_line) st = lt_err_set(err, LT_ENOMEM, "start-up: out of memory");
        snprintf(p->welcome, sizeof p->welcome, "%s", config_loads ? k_chat_welcome : k_story_welcome);
        snprintf(p->notice, sizeof p->notice,
                 "SmolLM2 not found in %s - run tools/fetch-model.sh; using the bundled stories260K", dir);
    } else if (st == LT_OK) {
        snprintf(p->welcome, sizeof p->welcome, "%s", config_loads ? k_chat_welcome : k_empty_welcome);
        snprintf(p->notice, sizeof p->notice,
                 "no model loaded: SmolLM2 not found in %s and no bundled assets (LATHE_ASSETS) - "
                 "/load PATH loads one; tools/fetch-model.sh fetches SmolLM2",
                 dir);
    }
    if (st != LT_OK) lt_startup_free(p);
    return st;
}

void lt_startup_free(lt_startup *p) {
    if (!p) return;
    for (int i = 0; i < p->n_steps; i++) lt_free(p->steps[i].line);
    lt_free(p->steps);
    lt_free(p->default_line);
    memset(p, 0, sizeof *p);
}

lt_status lt_startup_config_path(char *path, size_t cap, lt_err *err) {
    const char *env = getenv("LATHE_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int len;
    if (env && env[0]) len = snprintf(path, cap, "%s", env);
    else if (xdg && xdg[0]) len = snprintf(path, cap, "%s/lathe/config", xdg);
    else len = snprintf(path, cap, "%s/.config/lathe/config", home && home[0] ? home : ".");
    if (len < 0 || (size_t)len >= cap)
        return lt_err_set(err, LT_ERANGE, "the config file's path does not fit in %zu bytes", cap);
    return LT_OK;
}

static bool has_lm(lt_session *s) {
    lt_conv *conv;
    const char *name;
    lt_err e;
    return lt_session_llm(s, NULL, &conv, &name, &e) == LT_OK;
}

/* Runs one line; on failure reports it (prefixed "config:N: " for a config line) to the
 * sink and into msg (when msg is still empty). */
static bool exec_step(lt_session *s, const char *line, int config_line, lt_sink *sink, char *msg, size_t cap) {
    lt_err err = {0};
    if (lt_session_exec(s, line, sink, &err) == LT_OK) return true;
    char m[LT_ERR_MSG_MAX + 32];
    if (config_line > 0) snprintf(m, sizeof m, "config:%d: %s", config_line, err.msg);
    else snprintf(m, sizeof m, "%s", err.msg);
    lt_sink_printf(sink, LT_TEXT_ERROR, "%s\n", m);
    if (!msg[0]) snprintf(msg, cap, "%s", m);
    return false;
}

int lt_startup_run(lt_session *s, const lt_startup *p, lt_sink *sink, char *status, size_t cap, bool *status_err) {
    char cfg_err[LT_ERR_MSG_MAX + 32] = "", load_err[LT_ERR_MSG_MAX + 32] = "";
    int failed = 0;
    bool stopped = false, noticed = false;
    if (p->config_error[0]) {
        snprintf(cfg_err, sizeof cfg_err, "config: %s", p->config_error);
        lt_sink_printf(sink, LT_TEXT_ERROR, "%s\n", cfg_err);
        failed++;
    }
    for (int i = 0; i < p->n_steps && !stopped; i++) {
        const lt_startup_step *st = &p->steps[i];
        if (!exec_step(s, st->line, st->config_line, sink, st->config_line ? cfg_err : load_err,
                      st->config_line ? sizeof cfg_err : sizeof load_err))
            failed++;
        stopped = lt_session_cancelled(s) || lt_session_quit_requested(s);
    }
    if (!stopped && !has_lm(s)) {
        if (p->notice[0]) {
            lt_sink_printf(sink, LT_TEXT_INFO, "%s\n", p->notice);
            noticed = true;
        }
        if (p->default_line && !exec_step(s, p->default_line, 0, sink, load_err, sizeof load_err)) failed++;
        stopped = lt_session_cancelled(s);
    }
    const lt_result *r = lt_session_last(s);
    *status_err = load_err[0] || cfg_err[0];
    if (load_err[0]) snprintf(status, cap, "%s", load_err);
    else if (cfg_err[0]) snprintf(status, cap, "%s", cfg_err);
    else if (stopped && lt_session_cancelled(s)) snprintf(status, cap, "start-up cancelled");
    else if (noticed) snprintf(status, cap, "%s", p->notice);
    else if (r && r->cmd[0]) snprintf(status, cap, "%s %s in %.2f s", r->cmd, r->cancelled ? "cancelled" : "done", r->seconds);
    else if (cap) status[0] = 0;
    return failed;
}
