/* cli_common.c - option parsing and model/backend opening shared by the subcommands. */
#include <errno.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_open.h"
#include "models/llama.h"
#include "cli.h"

void lt_cli_usage(const char *cmd, const char *usage, const lt_opt *opts) {
    fprintf(stderr, "usage: lathe %s %s\n\noptions:\n", cmd, usage);
    for (const lt_opt *o = opts; o->name; o++) {
        char names[64];
        snprintf(names, sizeof names, "%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name);
        const char *arg = o->kind == LT_OPT_FLAG ? "" : o->kind == LT_OPT_STR ? " S" : " N";
        char left[80];
        snprintf(left, sizeof left, "%s%s", names, arg);
        fprintf(stderr, "  %-26s %s\n", left, o->help);
    }
}

static bool parse_num(const char *cmd, const lt_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case LT_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (*v && !*end && !errno && x >= INT32_MIN && x <= INT32_MAX) {
            *(int *)o->dst = (int)x;
            return true;
        }
        break;
    }
    case LT_OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (*v && !*end && !errno && v[0] != '-') {
            *(uint64_t *)o->dst = x;
            return true;
        }
        break;
    }
    case LT_OPT_FLOAT: {
        float x = strtof(v, &end);
        if (*v && !*end && !errno) {
            *(float *)o->dst = x;
            return true;
        }
        break;
    }
    default: break;
    }
    fprintf(stderr, "lathe %s: %s expects a %s, got '%s'\n", cmd, o->name,
            o->kind == LT_OPT_FLOAT ? "number" : "whole number", v);
    return false;
}

bool lt_cli_parse(const char *cmd, const char *usage, const lt_opt *opts, int argc, char **argv, const char **pos,
                  int max_pos, int *n_pos) {
    *n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            lt_cli_usage(cmd, usage, opts);
            exit(0);
        }
        const lt_opt *o = NULL;
        if (a[0] == '-' && a[1])
            for (const lt_opt *c = opts; c->name && !o; c++)
                if (!strcmp(a, c->name) || (c->alias && !strcmp(a, c->alias))) o = c;
        if (!o) {
            if (a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9')) {
                fprintf(stderr, "lathe %s: unknown option '%s'\n", cmd, a);
                lt_cli_usage(cmd, usage, opts);
                return false;
            }
            if (*n_pos >= max_pos) {
                fprintf(stderr, "lathe %s: unexpected argument '%s'\n", cmd, a);
                lt_cli_usage(cmd, usage, opts);
                return false;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        if (o->kind == LT_OPT_FLAG) {
            *(bool *)o->dst = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "lathe %s: %s needs a value\n", cmd, o->name);
            return false;
        }
        const char *v = argv[++i];
        if (o->kind == LT_OPT_STR) *(const char **)o->dst = v;
        else if (!parse_num(cmd, o, v)) return false;
    }
    return true;
}

bool lt_cli_open_model(const char *path, const char *tokenizer_path, lt_modelsrc **src, lt_tokenizer **tok) {
    lt_err err = {0};
    *src = NULL;
    if (tok) *tok = NULL;
    char guess[4096];
    if (!tokenizer_path && access(path, F_OK) == 0) {
        /* llama2.c models ship their tokenizer beside them as tokenizer.bin */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", path);
        snprintf(guess, sizeof guess, "%s/tokenizer.bin", dirname(tmp));
        FILE *f = fopen(path, "rb");
        char magic[4] = {0};
        bool gguf = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
        if (f) fclose(f);
        if (!gguf && access(guess, R_OK) == 0) tokenizer_path = guess;
    }
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
    lt_err err = {0};
    *m = NULL;
    if (tok) *tok = NULL;
    if (llama2c) *llama2c = false;
    if (synth) {
        lt_llm_config cfg;
        lt_dtype dt = lt_dtype_from_name(type ? type : "f16");
        if (dt == LT_DTYPE_COUNT || dt == LT_I32) {
            fprintf(stderr, "lathe: unknown --type '%s' (f32, f16, bf16, q8_0, q4_0)\n", type);
            return false;
        }
        if (lt_llama_preset(synth, &cfg, &err) == LT_OK) {
            if (cfg.max_seq < min_ctx) cfg.max_seq = min_ctx;
            lt_llama_open_synthetic(m, &cfg, dt, 1234, be, NULL, &err);
        }
    } else {
        lt_modelsrc *src = NULL;
        if (!lt_cli_open_model(path, tokp, &src, tok)) return false;
        if (llama2c) *llama2c = !strcmp(lt_modelsrc_format(src), "llama2c");
        lt_llama_open(m, src, be, NULL, &err);
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
