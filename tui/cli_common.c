/* cli_common.c - option parsing and model/backend opening shared by the subcommands. */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/app/settings.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"
#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_open.h"
#include "models/llama.h"
#include "cli.h"

void lt_cli_usage(const char *cmd, const char *usage, const lt_opt *opts) {
    char buf[8192];
    lt_opts_usage(opts, buf, sizeof buf);
    fprintf(stderr, "usage: lathe %s %s\n\noptions:\n%s", cmd, usage, buf);
}

lt_opt lt_cli_setting_opt(const char *key, const char *name, const char *alias, lt_opt_kind kind, void *dst,
                          const char *help) {
    lt_opt o = {name, alias, kind, dst, help, 0, 0};
    lt_opt s;
    if (lt_settings_opt(key, name, alias, dst, help, &s)) o.lo = s.lo, o.hi = s.hi; /* dst's type stays kind */
    return o;
}

int lt_cli_sampling_opts(lt_opt *rows, lt_sampler_params *sp) {
    rows[0] = lt_cli_setting_opt("temp", "--temp", NULL, LT_OPT_FLOAT, &sp->temp, "temperature (default 0.8; 0 = greedy)");
    rows[1] = lt_cli_setting_opt("top-k", "--top-k", NULL, LT_OPT_INT, &sp->top_k,
                                 "keep the k most likely tokens (default 40; 0 = off)");
    rows[2] = lt_cli_setting_opt("top-p", "--top-p", NULL, LT_OPT_FLOAT, &sp->top_p,
                                 "nucleus sampling mass (default 0.95; 1 = off)");
    rows[3] = lt_cli_setting_opt("min-p", "--min-p", NULL, LT_OPT_FLOAT, &sp->min_p,
                                 "drop tokens below min-p x the top probability (default 0.05)");
    rows[4] = lt_cli_setting_opt("repeat-penalty", "--repeat-penalty", NULL, LT_OPT_FLOAT, &sp->repeat_penalty,
                                 "penalty for recent tokens (default 1 = off)");
    rows[5] = lt_cli_setting_opt("seed", "--seed", "-s", LT_OPT_U64, &sp->seed, "random seed (default 0)");
    return LT_CLI_SAMPLING_ROWS;
}

lt_opt lt_cli_threads_opt(int *threads) {
    return lt_cli_setting_opt("threads", "--threads", "-t", LT_OPT_INT, threads, "CPU threads (default: all cores)");
}

/* ---- Ctrl-C ------------------------------------------------------------------------------ */

static volatile sig_atomic_t g_sigint;
static void (*g_on_sigint)(void *);
static void *g_on_sigint_ud;

static void on_sigint(int sig) {
    (void)sig;
    if (g_sigint) { /* the second Ctrl-C: do not wait for the work to notice, but leave no PATH.tmp */
        lt_afile_unlink_open();
        _exit(LT_CLI_INTERRUPTED);
    }
    g_sigint = 1;
    if (g_on_sigint) g_on_sigint(g_on_sigint_ud);
}

void lt_cli_sigint_catch(void (*on)(void *ud), void *ud) {
    g_sigint = 0;
    g_on_sigint = on;
    g_on_sigint_ud = ud;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART; /* reads and writes go on; the work polls the flag */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

void lt_cli_sigint_release(void) {
    signal(SIGINT, SIG_DFL);
    g_on_sigint = NULL;
}

bool lt_cli_interrupted(void) { return g_sigint != 0; }

bool lt_cli_parse(const char *cmd, const char *usage, const lt_opt *opts, int argc, char **argv, const char **pos,
                  int max_pos, int *n_pos) {
    char what[64];
    snprintf(what, sizeof what, "lathe %s", cmd);
    bool help = false;
    lt_err err = {0};
    if (lt_opts_parse(what, opts, argc, argv, 1, pos, max_pos, n_pos, &help, &err) != LT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        if (strstr(err.msg, "unknown option") || strstr(err.msg, "unexpected argument")) lt_cli_usage(cmd, usage, opts);
        return false;
    }
    if (help) {
        lt_cli_usage(cmd, usage, opts);
        exit(0);
    }
    return true;
}

bool lt_cli_open_model(const char *path, const char *tokenizer_path, lt_modelsrc **src, lt_tokenizer **tok) {
    lt_err err = {0};
    *src = NULL;
    if (tok) *tok = NULL;
    char guess[4200];
    if (!tokenizer_path) tokenizer_path = lt_modelsrc_guess_tokenizer(path, guess, sizeof guess); /* llama2.c */
    if (lt_modelsrc_open(src, path, tokenizer_path, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        return false;
    }
    if (!tok) return true; /* the caller keeps the vocab inside the source */
    lt_vocab *v = lt_modelsrc_take_vocab(*src);
    if (v && lt_tok_create(tok, v, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        lt_modelsrc_close(*src);
        *src = NULL;
        return false;
    }
    return true;
}

bool lt_cli_backend(const char *device, int threads, lt_backend **be) {
    lt_err err = {0};
    lt_backend_opts o = {.n_threads = threads};
    if (lt_backend_create(be, device ? device : "auto", &o, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        return false;
    }
    return true;
}

bool lt_cli_open_lm(const char *what, const char *path, const char *tokp, const char *synth, const char *type,
                    int min_ctx, lt_backend *be, lt_lm **m, lt_tokenizer **tok, bool *llama2c) {
    return lt_cli_open_lm_opts(what, path, tokp, synth, type, min_ctx, NULL, be, m, tok, llama2c);
}

bool lt_cli_open_lm_opts(const char *what, const char *path, const char *tokp, const char *synth, const char *type,
                         int min_ctx, const lt_lm_opts *lo, lt_backend *be, lt_lm **m, lt_tokenizer **tok,
                         bool *llama2c) {
    lt_err err = {0};
    *m = NULL;
    if (tok) *tok = NULL;
    if (llama2c) *llama2c = false;
    if (synth) {
        lt_llm_config cfg;
        lt_dtype dt = lt_dtype_from_name(type ? type : "f16");
        if (dt == LT_DTYPE_COUNT || dt == LT_I32) {
            char names[256];
            fprintf(stderr, "lathe: unknown --type '%s' (%s)\n", type, lt_dtype_matrix_names(names, sizeof names));
            return false;
        }
        if (lt_llama_preset(synth, &cfg, &err) == LT_OK) {
            if (cfg.max_seq < min_ctx) cfg.max_seq = min_ctx;
            lt_llama_open_synthetic(m, &cfg, dt, 1234, be, lo, &err);
        }
    } else {
        lt_modelsrc *src = NULL;
        if (!lt_cli_open_model(path, tokp, &src, tok)) return false;
        if (llama2c) *llama2c = !strcmp(lt_modelsrc_format(src), "llama2c");
        lt_llama_open(m, src, be, lo, &err);
        lt_modelsrc_close(src); /* the weights now live on the backend */
    }
    if (*m) return true;
    fprintf(stderr, "lathe: %s: %s\n", what ? what : synth ? synth : path, err.msg);
    if (tok) {
        lt_tok_free(*tok);
        *tok = NULL;
    }
    return false;
}

void lt_cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}
