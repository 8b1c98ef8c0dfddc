/* modelsrc_open.h - opening a model source by path: the format is sniffed (sniff.h) and the
 * matching reader (GGUF, Hugging Face folder, llama2.c checkpoint) opens it.
 *
 * The top of core/formats: it includes every reader; no reader includes it. Leaves out:
 * writing (call the per-format writers in modelsrc_gguf.h, modelsrc_hf.h,
 * modelsrc_llama2c.h).
 */
#ifndef LT_MODELSRC_OPEN_H
#define LT_MODELSRC_OPEN_H

#include "core/base/status.h"
#include "modelsrc.h"

/* Opens a model by path, detecting the format: a directory with config.json (Hugging Face)
 * or a config.json / *.safetensors / *.index.json file inside one, a file starting with
 * "GGUF", or a llama2.c checkpoint. tokenizer_path (may be NULL) names a separate llama2.c
 * tokenizer .bin; GGUF and HF carry their own. Anything else is an error naming what the
 * path is (when lt_sniff knows) and the model formats expected. */
lt_status lt_modelsrc_open(lt_modelsrc **out, const char *path, const char *tokenizer_path, lt_err *err);

/* The tokenizer a llama2.c model ships beside it: DIR/tokenizer.bin for a model at DIR/x that
 * is not a GGUF file, when that file exists. Returns buf, or NULL when there is none. The
 * workbench's `load` and the command line both use it when no tokenizer is named. */
const char *lt_modelsrc_guess_tokenizer(const char *path, char *buf, size_t cap);

#endif
