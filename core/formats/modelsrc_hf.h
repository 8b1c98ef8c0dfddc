/* modelsrc_hf.h - Hugging Face model folders as a model source: config.json +
 * model.safetensors (or shards listed in model.safetensors.index.json) + optional
 * tokenizer.json, read into an lt_modelsrc and written back.
 *
 * Leaves out: writing tokenizer.json, and finding the folder from a file inside it
 * (sniff.h, modelsrc_open.h do that).
 */
#ifndef LT_MODELSRC_HF_H
#define LT_MODELSRC_HF_H

#include "core/base/status.h"
#include "modelsrc.h"

/* Opens the model folder dir (config.json must be inside). */
lt_status lt_modelsrc_open_hf(lt_modelsrc **out, const char *dir, lt_err *err);

/* Writes a Hugging Face folder: config.json + model.safetensors (HF tensor names, f32/f16/bf16),
 * and, when src has a vocab, tokenizer.json + tokenizer_config.json (lt_vocab_write_hf). */
lt_status lt_modelsrc_write_hf(const lt_modelsrc *src, const char *dir, lt_dtype dtype, lt_err *err);

#endif
