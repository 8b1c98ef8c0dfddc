/* gptq_hf.h - writing a model whose linears are group-quantized (lt_gq_matrix, from GPTQ or RTN)
 * as an AutoGPTQ / GPTQModel Hugging Face folder that vLLM, transformers and lathe load:
 * per quantized linear <prefix>.qweight / .qzeros / .scales / .g_idx (layout in
 * core/formats/modelsrc_gptq.h), zeros in the gptq_v2 convention (stored as they are),
 * checkpoint_format "gptq_v2" in config.json's quantization_config and in quantize_config.json;
 * every other tensor of the source (embeddings, norms, an unquantized lm_head) as f16. A quantized
 * head ("output.weight", GPTQModel's lm_head: true) of a tied source is written untied (config.json
 * tie_word_embeddings false, the embedding kept as it was), as GPTQModel wants it.
 * Leaves out: v1 zeros (AutoGPTQ's zero - 1, which cannot hold a zero of 0), packing into
 * int16/int8, per-module bit widths (GPTQModel's "dynamic").
 */
#ifndef LT_GPTQ_HF_H
#define LT_GPTQ_HF_H

#include <stdbool.h>

#include "core/base/status.h"
#include "core/formats/modelsrc.h"
#include "gq.h"

/* One quantized linear: its canonical name in src ("blk.0.attn_q.weight", "output.weight" - also for a
 * tied head, which then has token_embd.weight's shape) and
 * its matrix (rows = outputs, in src's row order: q/k rows of a GGUF source are permuted to
 * Hugging Face's rope layout here, as lt_modelsrc_write_hf does for plain weights). */
typedef struct lt_gptq_tensor {
    const char *name;
    const lt_gq_matrix *m;
} lt_gptq_tensor;

typedef struct lt_gptq_write_opts {
    float damp_percent;   /* recorded in the config (0: 0.01) */
    bool static_groups;   /* recorded */
    bool true_sequential; /* recorded */
    /* every other tensor: f16 as AutoGPTQ writes them (any value but LT_DTYPE_COUNT), or with
     * LT_DTYPE_COUNT its own type where safetensors holds it, else f32 (exact: `save`) */
    lt_dtype other;
} lt_gptq_write_opts;

/* Writes dir (created if missing): config.json (+ quantization_config), quantize_config.json,
 * model.safetensors, the tokenizer when src has one. Every matrix must share bits (2, 3, 4, 8),
 * symmetry and group size (or all be one group per row: group_size -1); desc_act is set when a
 * matrix has a g_idx. o may be NULL. */
lt_status lt_gptq_write_hf(const lt_modelsrc *src, const char *dir, const lt_gptq_tensor *q, int n,
                           const lt_gptq_write_opts *o, lt_err *err);

#endif
