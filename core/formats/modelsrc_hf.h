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
#include "safetensors.h"

/* Opens the model folder dir (config.json must be inside). */
lt_status lt_modelsrc_open_hf(lt_modelsrc **out, const char *dir, lt_err *err);

/* Writes a Hugging Face folder: config.json + model.safetensors (HF tensor names, f32/f16/bf16),
 * and, when src has a vocab, tokenizer.json + tokenizer_config.json (lt_vocab_write_hf). */
/* The Hugging Face name of a canonical tensor name ("blk.0.attn_q.weight" ->
 * "model.layers.0.self_attn.q_proj.weight"); false when it has none. */
bool lt_hf_tensor_name(const char *canon, char out[128]);

lt_status lt_modelsrc_write_hf(const lt_modelsrc *src, const char *dir, lt_dtype dtype, lt_err *err);

/* What a writer on top (core/compress/gptq_hf.c: AutoGPTQ folders) adds to a plain folder:
 * source tensors it replaces (skip, by canonical name), more safetensors entries (HF names),
 * config.json's "quantization_config" (JSON object text), and untie: tie_word_embeddings false
 * (the entries hold an lm_head of a tied source). */
typedef struct lt_hf_extra {
    bool (*skip)(void *ctx, const char *canon);
    void *ctx;
    const lt_st_entry *entries;
    int n_entries;
    const char *quant_config;
    bool untie;
} lt_hf_extra;
lt_status lt_modelsrc_write_hf_ex(const lt_modelsrc *src, const char *dir, lt_dtype dtype, const lt_hf_extra *x,
                                  lt_err *err);

/* The pieces of a Hugging Face folder that the folders built on it share (a SliceGPT folder,
 * modelsrc_slicegpt.h, is config.json + tokenizer files + its own weights): config.json of dir
 * read into src's config (as lt_modelsrc_open_hf reads it; LongRoPE's factors added as tensors,
 * the name from the folder), its tokenizer.json into src's vocab (none when the folder has none;
 * more tokens than vocab_size is an error), and config.json written for src's config (dtype:
 * its torch_dtype). */
lt_status lt_hf_read_config(lt_modelsrc *src, const char *dir, lt_err *err);
lt_status lt_hf_read_vocab(lt_modelsrc *src, const char *dir, lt_err *err);
lt_status lt_hf_write_config(const lt_modelsrc *src, const char *dir, lt_dtype dtype, lt_err *err);

#endif
