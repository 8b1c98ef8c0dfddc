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
 * "GGUF", or a llama2.c checkpoint. tokenizer_path (may be NULL) names a tokenizer that
 * replaces, or provides, the model's vocab whatever the model's format: a llama2.c tokenizer
 * .bin, a tokenizer.json (or a folder holding one) or a GGUF file (its tokenizer.ggml.*
 * vocab); see lt_modelsrc_load_tokenizer. Anything else is an error naming what the path is
 * (when lt_sniff knows) and the model formats expected. */
lt_status lt_modelsrc_open(lt_modelsrc **out, const char *path, const char *tokenizer_path, lt_err *err);

/* Reads the vocab of a tokenizer file for a model of n_vocab embedding rows (0: unknown): a
 * GGUF file's tokenizer.ggml.* vocab, a Hugging Face tokenizer.json (+ the
 * tokenizer_config.json beside it; a model folder means its tokenizer.json), or else a
 * llama2.c tokenizer .bin (n_vocab tokens of it). A vocab larger than n_vocab is an error. */
lt_status lt_modelsrc_load_tokenizer(lt_vocab **out, const char *path, int32_t n_vocab, lt_err *err);

/* The tokenizer a llama2.c model ships beside it, for a path that sniffs as a llama2.c
 * checkpoint (never for GGUF or Hugging Face models, which carry their own): DIR/tokenizer.bin
 * when it exists; else the only tok*.bin file in DIR (the bundled assets/models/tok512.bin)
 * when it holds enough tokens for the model. Returns buf, or NULL when there is none. The
 * workbench's `load` and the command line both use it when no tokenizer is named. */
const char *lt_modelsrc_guess_tokenizer(const char *path, char *buf, size_t cap);

#endif
