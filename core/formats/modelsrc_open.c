/* modelsrc_open.c - lt_modelsrc_open (see modelsrc_open.h): sniffs the path once with
 * lt_sniff and hands it to the one reader for that format.
 *
 * Leaves out: looking at bytes or names itself (sniff.c does all of that) and reading any
 * format (modelsrc_gguf.c, modelsrc_hf.c, modelsrc_llama2c.c).
 */
#include "modelsrc_open.h"
#include "core/base/fileio.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "modelsrc_gguf.h"
#include "modelsrc_hf.h"
#include "modelsrc_llama2c.h"
#include "sniff.h"

#define MODEL_FORMATS                                                                                            \
    "expected a GGUF file, a Hugging Face model folder (config.json + *.safetensors) or a llama2.c checkpoint"

lt_status lt_modelsrc_open(lt_modelsrc **out, const char *path, const char *tokenizer_path, lt_err *err) {
    *out = NULL;
    lt_sniffed s;
    lt_status st = lt_sniff(path, &s, err);
    if (st == LT_EFORMAT && s.kind == LT_FILE_UNKNOWN)
        return lt_err_set(err, LT_EFORMAT, "%s: not a model file (%llu bytes, no format recognised): " MODEL_FORMATS,
                          path, (unsigned long long)s.size);
    if (st) return st;
    switch (s.kind) {
    case LT_FILE_GGUF: return lt_modelsrc_open_gguf(out, path, err);
    case LT_FILE_HF: return lt_modelsrc_open_hf(out, s.dir, err);
    case LT_FILE_LLAMA2C: return lt_modelsrc_open_llama2c(out, path, tokenizer_path, err);
    case LT_FILE_SAFETENSORS:
        return lt_err_set(err, LT_ENOTFOUND, "%s: no config.json next to it; open the model folder instead", path);
    case LT_FILE_LLAMA2C_TOKENIZER:
        return lt_err_set(err, LT_EFORMAT, "%s: %s, not a model (give it as the tokenizer of a llama2.c checkpoint): "
                          MODEL_FORMATS, path, s.what);
    default: return lt_err_set(err, LT_EFORMAT, "%s: %s, not a language model: " MODEL_FORMATS, path, s.what);
    }
}

const char *lt_modelsrc_guess_tokenizer(const char *path, char *buf, size_t cap) {
    if (access(path, F_OK) != 0) return NULL;
    const char *sl = strrchr(path, '/');
    if (sl) snprintf(buf, cap, "%.*s/tokenizer.bin", (int)(sl - path), path);
    else snprintf(buf, cap, "./tokenizer.bin");
    lt_err e;
    FILE *f = lt_file_fopen_regular(path, &e); /* a FIFO or device is no model: no guess */
    if (!f) return NULL;
    char magic[4] = {0};
    bool gguf = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
    if (f) fclose(f);
    return !gguf && access(buf, R_OK) == 0 ? buf : NULL;
}
