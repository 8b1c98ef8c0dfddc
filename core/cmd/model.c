/* model.c - the model commands: `load PATH|synthetic:PRESET [as NAME] [--tokenizer FILE]
 * [--ctx N]` (--ctx, else the `ctx` setting, else the model's context), `use NAME`,
 * `unload [NAME]`, `models`. A language model becomes a conversation (core/llm/conv.h) on a
 * backend made from the `device` and `threads` settings.
 * Leaves out: the readers (core/formats), architectures (the session's open_lm/open_synthetic).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "core/base/alloc.h"
#include "core/formats/modelsrc_open.h"
#include "core/text/vocab.h"

const char *lt_cmd_base_name(const char *path, char *buf, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b && b[1] ? b + 1 : path;
    snprintf(buf, cap, "%s", b);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = 0;
    return buf;
}

lt_status lt_cmd_open_lm(lt_session *s, const char *path, lt_backend *be, const lt_lm_opts *lo, lt_lm **out,
                         lt_tokenizer **tok, lt_err *err) {
    const lt_session_opts *so = lt_session_options(s);
    *out = NULL;
    if (tok) *tok = NULL;
    if (!strncmp(path, "synthetic:", 10)) {
        if (!so->open_synthetic) return lt_err_set(err, LT_EUNSUPPORTED, "synthetic models are not available here");
        return so->open_synthetic(out, path + 10, be, lo, err);
    }
    if (!so->open_lm) return lt_err_set(err, LT_EUNSUPPORTED, "no model opener in this session");
    char guess[4200];
    const char *tokp = tok ? lt_modelsrc_guess_tokenizer(path, guess, sizeof guess) : NULL; /* llama2.c ships one */
    lt_modelsrc *src = NULL;
    LT_TRY(lt_modelsrc_open(&src, path, tokp, err));
    lt_vocab *v = tok ? lt_modelsrc_take_vocab(src) : NULL;
    lt_status st = so->open_lm(out, src, be, lo, err);
    lt_modelsrc_close(src);
    if (st == LT_OK && v) {
        st = lt_tok_create(tok, v, err); /* takes v */
        v = NULL;
        if (st != LT_OK) {
            lt_lm_close(*out);
            *out = NULL;
        }
    }
    if (v) lt_vocab_free(v);
    return st;
}

/* Weight upload progress of a model load, shown as 20%..80% of the load; Esc stops it. */
typedef struct load_progress {
    lt_session *s;
    lt_sink *sink;
} load_progress;

static bool on_load_progress(void *ud, double f) {
    load_progress *lp = ud;
    lt_sink_progress(lp->sink, "load", 0.2 + 0.6 * f);
    return !lt_session_cancelled(lp->s);
}

#define LOAD_USAGE "load PATH|synthetic:PRESET [as NAME] [--tokenizer FILE] [--ctx N]"

static lt_status cmd_load(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *path = a->argv[1], *name = NULL, *tokp = NULL;
    int ctx = lt_session_settings(s)->ctx;
    for (int i = 2; i < a->argc; i++) {
        const char *w = a->argv[i];
        bool takes = !strcmp(w, "as") || !strcmp(w, "--tokenizer") || !strcmp(w, "--ctx");
        if (takes && i + 1 >= a->argc)
            return lt_err_set(err, LT_EINVAL, "load: %s needs a value; usage: %s", w, LOAD_USAGE);
        if (!strcmp(w, "as")) name = a->argv[++i];
        else if (!strcmp(w, "--tokenizer")) tokp = a->argv[++i];
        else if (!strcmp(w, "--ctx")) {
            lt_opt o; /* the ctx setting's range: `load --ctx` takes what `set ctx` takes */
            lt_settings_opt("ctx", "--ctx", NULL, &ctx, "context in tokens", &o);
            LT_TRY(lt_opts_value("load", &o, a->argv[++i], err));
        } else if (w[0] == '-' && w[1]) return lt_err_set(err, LT_EINVAL, "load: unknown option '%s'; usage: %s", w, LOAD_USAGE);
        else return lt_err_set(err, LT_EINVAL, "load: unexpected argument '%s'; usage: %s", w, LOAD_USAGE);
    }
    return lt_cmd_load_lm(s, path, name, tokp, ctx, sink, err);
}

lt_status lt_cmd_load_lm(lt_session *s, const char *path, const char *name, const char *tokp, int ctx, lt_sink *sink,
                         lt_err *err) {
    const lt_session_opts *so = lt_session_options(s);
    char nbuf[64];
    bool synth = !strncmp(path, "synthetic:", 10);
    if (!name) name = synth ? path + 10 : lt_cmd_base_name(path, nbuf, sizeof nbuf);
    if (!name[0] || strlen(name) >= sizeof nbuf) return lt_err_set(err, LT_EINVAL, "load: bad model name '%s'", name);
    if (lt_session_has_model(s, name))
        return lt_err_set(err, LT_EINVAL, "load: a model named '%s' is already loaded - 'use %s' to switch to it, or add "
                          "'as OTHER'", name, name);
    if (synth && !so->open_synthetic) return lt_err_set(err, LT_EUNSUPPORTED, "load: synthetic models are not available here");
    if (!synth && !so->open_lm) return lt_err_set(err, LT_EUNSUPPORTED, "load: no model opener in this session");

    if (lt_session_token_limit(s) >= 0) { /* replaying a load that was cancelled: it loaded nothing then either */
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[load of %s skipped: it was cancelled in the recording]\n", path);
        return LT_OK;
    }
    const lt_settings *set = lt_session_settings(s);
    lt_backend *be = NULL;
    lt_lm *lm = NULL;
    lt_tokenizer *tok = NULL;
    lt_modelsrc *src = NULL;
    lt_vocab *v = NULL;
    char format[16] = "synthetic";
    char guess[4200]; /* tokp may point here until the model source is recorded below */
    bool llama2c = false;
    lt_sink_progress(sink, "load", 0.0);
    load_progress lp = {s, sink};
    lt_lm_opts lo = {.progress = on_load_progress, .progress_ud = &lp};
    lt_backend_opts bo = {.n_threads = set->threads};
    lt_status st = lt_backend_create(&be, set->device, &bo, err);
    if (st == LT_OK && synth) {
        st = so->open_synthetic(&lm, path + 10, be, &lo, err);
        if (st == LT_OK && tokp) st = lt_modelsrc_load_tokenizer(&v, tokp, lt_lm_config(lm)->n_vocab, err);
    } else if (st == LT_OK) {
        if (!tokp) tokp = lt_modelsrc_guess_tokenizer(path, guess, sizeof guess); /* llama2.c ships one */
        st = lt_modelsrc_open(&src, path, tokp, err);
        if (st == LT_OK) {
            lt_sink_progress(sink, "load", 0.2);
            snprintf(format, sizeof format, "%s", lt_modelsrc_format(src));
            llama2c = !strcmp(format, "llama2c");
            v = lt_modelsrc_take_vocab(src);
            st = so->open_lm(&lm, src, be, &lo, err);
        }
    }
    if (st == LT_OK && v) {
        st = lt_tok_create(&tok, v, err);
        v = NULL;
    }
    lt_modelsrc_close(src);
    if (v) lt_vocab_free(v);
    if ((st == LT_OK || st == LT_ECANCELLED) && lt_session_cancelled(s)) {
        /* Esc while loading: drop it, a cancelled (not failed) command */
        lt_tok_free(tok);
        lt_lm_close(lm);
        lt_backend_free(be);
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[load of %s cancelled]\n", path);
        return LT_OK;
    }
    lt_conv *conv = NULL;
    if (st == LT_OK) {
        lt_sink_progress(sink, "load", 0.8);
        lt_conv_opts co = {.llama2c = llama2c, .synthetic = synth, .ctx = ctx};
        st = lt_conv_create(&conv, be, lm, tok, &co, err); /* owns be, lm, tok from here */
        be = NULL, lm = NULL, tok = NULL;
    }
    if (st == LT_OK) st = lt_session_add_llm(s, name, format, conv, err);
    if (st == LT_OK && !synth && (st = lt_session_set_model_source(s, name, path, tokp, err)) != LT_OK)
        lt_session_unload(s, name, NULL, 0, NULL); /* (out of memory) a failed load leaves nothing behind */
    if (st != LT_OK) {
        lt_tok_free(tok);
        lt_lm_close(lm);
        lt_backend_free(be);
        return lt_err_prefix(err, "load");
    }
    lt_sink_progress(sink, "load", 1.0);
    const lt_lm *m = lt_conv_lm(conv);
    const lt_llm_config *c = lt_lm_config(m);
    lt_sink_printf(sink, LT_TEXT_INFO, "loaded '%s' (%s, %s, %d layers, dim %d, vocab %d, ctx %d, %.1f MiB) on %s%s\n",
                   name, format, lt_dtype_name(m->wtype), c->n_layers, c->dim, c->n_vocab,
                   lt_kv_max_ctx(lt_conv_kv(conv)), m->weight_bytes / 1048576.0,
                   lt_backend_device(lt_conv_backend(conv)), lt_conv_tok(conv) ? "" : " - no tokenizer");
    char note[160];
    if (lt_lm_ctx_note(m, lt_kv_max_ctx(lt_conv_kv(conv)), note, sizeof note)) /* allowed, as llama.cpp does */
        lt_sink_printf(sink, LT_TEXT_INFO, "note: %s: text past it may degrade\n", note);
    int32_t shape[8] = {c->n_vocab, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->max_seq,
                        (int32_t)m->wtype};
    lt_session_set_digest(s, lt_digest_ids(shape, 8));
    return LT_OK;
}

static lt_status cmd_unload(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    char name[64];
    LT_TRY(lt_session_unload(s, a->argc > 1 ? a->argv[1] : NULL, name, sizeof name, err));
    lt_sink_printf(sink, LT_TEXT_INFO, "unloaded '%s'\n", name);
    return LT_OK;
}

static lt_status cmd_use(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    LT_TRY(lt_session_use(s, a->argv[1], err));
    lt_conv *c;
    LT_TRY(lt_session_llm(s, NULL, &c, NULL, err));
    int used, max;
    lt_conv_ctx_usage(c, &used, &max);
    lt_sink_printf(sink, LT_TEXT_INFO, "using '%s' (context %d of %d tokens)\n", a->argv[1], used, max);
    return LT_OK;
}

static lt_status cmd_models(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_model_info info[16];
    int n = lt_session_models(s, info, 16);
    uint64_t h = LT_FNV_INIT;
    if (!n) lt_sink_printf(sink, LT_TEXT_INFO, "no models loaded\n");
    for (int i = 0; i < n; i++) {
        lt_sink_printf(sink, LT_TEXT_INFO, "%c %-16s %-6s %-9s %-5s %8.1f MiB  ctx %-5d %s\n", info[i].current ? '*' : ' ',
                       info[i].name, info[i].kind, info[i].format, info[i].dtype, info[i].bytes / 1048576.0,
                       info[i].ctx, info[i].device);
        h = lt_fnv1a64(h, info[i].name, strlen(info[i].name) + 1);
        h = lt_fnv1a64(h, info[i].format, strlen(info[i].format) + 1);
    }
    lt_session_set_digest(s, h);
    return LT_OK;
}

static const lt_cmd_arg k_load_args[] = {{"PATH", "model file/folder, or synthetic:PRESET (tiny, small, llama-1b...)"},
                                         {NULL, NULL}};

static const lt_cmd_arg k_use_args[] = {{"NAME", "a loaded language model ('models' lists them)"}, {NULL, NULL}};

static const lt_cmd k_cmds[] = {
    {"load", "l", LOAD_USAGE, "load a model and make it current", 1, 7, k_load_args, true, cmd_load},
    {"use", NULL, "use NAME", "make a loaded language model current", 1, 1, k_use_args, true, cmd_use},
    {"unload", NULL, "unload [NAME]", "free a model (default: the current one)", 0, 1, NULL, true, cmd_unload},
    {"models", NULL, "models", "list the loaded models", 0, 0, NULL, true, cmd_models},
    {NULL},
};

const lt_cmd_table lt_cmd_model_table = {"model", k_cmds};
