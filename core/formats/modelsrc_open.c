/* modelsrc_open.c - lt_modelsrc_open (see modelsrc_open.h): sniffs the path once with
 * lt_sniff and hands it to the one reader for that format.
 *
 * Leaves out: looking at bytes or names itself (sniff.c does all of that) and reading any
 * format (modelsrc_gguf.c, modelsrc_hf.c, modelsrc_llama2c.c).
 */
#include "modelsrc_open.h"
#include "core/base/fileio.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "modelsrc_gguf.h"
#include "modelsrc_hf.h"
#include "modelsrc_llama2c.h"
#include "modelsrc_slicegpt.h"
#include "sniff.h"

#define TOKENIZER_FORMATS "expected a llama2.c tokenizer .bin, a tokenizer.json (or its model folder) or a GGUF file"
#define MODEL_FORMATS                                                                                            \
    "expected a GGUF file, a Hugging Face model folder (config.json + *.safetensors), a SliceGPT folder "        \
    "(NAME_SPARSITY.pt + .json + config.json) or a llama2.c checkpoint"

lt_status lt_modelsrc_load_tokenizer(lt_vocab **out, const char *path, int32_t n_vocab, lt_err *err) {
    *out = NULL;
    lt_sniffed s;
    lt_status st = lt_sniff(path, &s, err);
    char p[4200];
    if (s.kind == LT_FILE_DIR) { /* a folder without config.json: its tokenizer.json, if any */
        snprintf(p, sizeof p, "%s/tokenizer.json", path);
        if (access(p, R_OK) == 0) st = LT_OK, s.kind = LT_FILE_HF, snprintf(s.dir, sizeof s.dir, "%s", path);
        else return lt_err_set(err, LT_EIO, "tokenizer: %s: not a regular file (a directory), and no tokenizer.json in it: "
                               TOKENIZER_FORMATS, path);
    }
    if (st && (s.kind != LT_FILE_UNKNOWN || st == LT_EIO)) {
        lt_err_prefix(err, "tokenizer");
        return st;
    }
    size_t n = strlen(path);
    bool json = n >= 14 && !strcmp(path + n - 14, "tokenizer.json"); /* else *config.json: its folder */
    if (s.kind == LT_FILE_GGUF) {
        lt_gguf *g = NULL;
        st = lt_gguf_open(&g, path, err);
        if (!st) st = lt_vocab_from_gguf(out, g, err);
        lt_gguf_close(g);
        if (!st && !*out) st = lt_err_set(err, LT_ENOTFOUND, "%s: a GGUF file without a vocab (tokenizer.ggml.*)", path);
    } else if ((s.kind == LT_FILE_HF || s.kind == LT_FILE_SLICEGPT) && !json) { /* a model folder (or a file in
                                                                            it): its tokenizer.json */
        snprintf(p, sizeof p, "%s/tokenizer.json", s.dir);
        st = lt_vocab_from_hf(out, p, err);
    } else if (s.kind == LT_FILE_UNKNOWN && n >= 5 && !strcmp(path + n - 5, ".json")) {
        st = lt_vocab_from_hf(out, path, err);
    } else if (s.kind == LT_FILE_LLAMA2C_TOKENIZER || s.kind == LT_FILE_UNKNOWN) {
        st = lt_vocab_from_llama2c(out, path, n_vocab, err);
    } else {
        return lt_err_set(err, LT_EFORMAT, "%s: %s, not a tokenizer: " TOKENIZER_FORMATS, path, s.what);
    }
    if (st) return st;
    if (n_vocab > 0 && (*out)->n_tokens > n_vocab) {
        st = lt_err_set(err, LT_EFORMAT, "%s: the tokenizer has %d tokens but the model only %d embedding rows", path,
                        (*out)->n_tokens, n_vocab);
        lt_vocab_free(*out);
        *out = NULL;
    }
    return st;
}

lt_status lt_modelsrc_open(lt_modelsrc **out, const char *path, const char *tokenizer_path, lt_err *err) {
    *out = NULL;
    lt_sniffed s;
    lt_status st = lt_sniff(path, &s, err);
    if (st == LT_EFORMAT && s.kind == LT_FILE_UNKNOWN)
        return lt_err_set(err, LT_EFORMAT, "%s: not a model file (%llu bytes, no format recognised): " MODEL_FORMATS,
                          path, (unsigned long long)s.size);
    if (st) return st;
    switch (s.kind) {
    case LT_FILE_GGUF: st = lt_modelsrc_open_gguf(out, path, err); break;
    case LT_FILE_HF: st = lt_modelsrc_open_hf(out, s.dir, err); break;
    case LT_FILE_LLAMA2C: st = lt_modelsrc_open_llama2c(out, path, NULL, err); break;
    case LT_FILE_SLICEGPT: st = lt_modelsrc_open_slicegpt(out, path, err); break;
    case LT_FILE_DIFFUSERS:
        return lt_err_set(err, LT_EFORMAT,
                          "%s: a diffusers folder (an image diffusion model), not a language model: make images with "
                          "`imagine -m %s` (lathe imagine -m DIR)",
                          path, s.dir);
    case LT_FILE_SAFETENSORS:
        return lt_err_set(err, LT_ENOTFOUND, "%s: no config.json next to it; open the model folder instead", path);
    case LT_FILE_LLAMA2C_TOKENIZER:
        return lt_err_set(err, LT_EFORMAT, "%s: %s, not a model (give it as the tokenizer of a llama2.c checkpoint): "
                          MODEL_FORMATS, path, s.what);
    default: return lt_err_set(err, LT_EFORMAT, "%s: %s, not a language model: " MODEL_FORMATS, path, s.what);
    }
    if (st || !tokenizer_path) return st;
    lt_vocab *v = NULL; /* a named tokenizer replaces (or provides) the vocab of every format */
    st = lt_modelsrc_load_tokenizer(&v, tokenizer_path, lt_modelsrc_config(*out)->n_vocab, err);
    if (st) {
        lt_modelsrc_close(*out);
        *out = NULL;
        return st;
    }
    lt_modelsrc_set_vocab(*out, v);
    return LT_OK;
}

static bool has_prefix_suffix(const char *s, const char *pre, const char *suf) {
    size_t n = strlen(s), a = strlen(pre), b = strlen(suf);
    return n >= a + b && !strncmp(s, pre, a) && !strcmp(s + n - b, suf);
}

const char *lt_modelsrc_guess_tokenizer(const char *path, char *buf, size_t cap) {
    lt_sniffed s;
    lt_err e;
    if (lt_sniff(path, &s, &e) != LT_OK || s.kind != LT_FILE_LLAMA2C) return NULL;
    const char *sl = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", sl ? (int)(sl - path) : 1, sl ? path : ".");
    if (sl && sl == path) snprintf(dir, sizeof dir, "/");
    snprintf(buf, cap, "%s/tokenizer.bin", dir);
    if (access(buf, R_OK) == 0) return buf;
    /* else the one tok*.bin of the folder, when it holds a vocab for this model */
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int found = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (has_prefix_suffix(de->d_name, "tok", ".bin") && found++ == 0) snprintf(buf, cap, "%s/%s", dir, de->d_name);
    closedir(d);
    if (found != 1) return NULL;
    lt_modelsrc *src = NULL;
    lt_vocab *v = NULL;
    bool fits = lt_modelsrc_open_llama2c(&src, path, NULL, &e) == LT_OK &&
                lt_vocab_from_llama2c(&v, buf, lt_modelsrc_config(src)->n_vocab, &e) == LT_OK;
    lt_vocab_free(v);
    lt_modelsrc_close(src);
    return fits ? buf : NULL;
}
