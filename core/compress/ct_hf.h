/* ct_hf.h - writing a model whose block linears are 2:4 sparse (s24_f16) as a compressed-tensors
 * Hugging Face folder, the "sparse-24-bitmask" format vLLM and llm-compressor read (layout in
 * core/formats/modelsrc_ct.h): per s24_f16 linear <prefix>.compressed (f16 [N, K/2], the kept
 * values), .bitmask (u8 [N, K/8]) and .shape (i64 [2, 1]); config.json's quantization_config
 * {"quant_method": "compressed-tensors", "sparsity_config": {"format": "sparse-24-bitmask",
 * "sparsity_structure": "2:4", "targets": ["Linear"], "ignore": ["lm_head", the dense block
 * linears], "global_sparsity": zeros of the 2:4 matrices / their size}} - llm-compressor's form;
 * every other tensor as a plain folder keeps it (its own type where safetensors holds it, else f32;
 * dense f16 linears stay dense: --skip, 4:8).
 * Leaves out: 2:4 with 4-bit values (s24_q4: compressed-tensors calls that marlin-24, with its own
 * packing; LT_EUNSUPPORTED), compressing dense weights that happen to be 2:4.
 */
#ifndef LT_CT_HF_H
#define LT_CT_HF_H

#include <stdbool.h>

#include "core/base/status.h"
#include "core/formats/modelsrc.h"

/* Whether src has an s24 matrix (s24_f16 or s24_q4): the folder for it is compressed-tensors. */
bool lt_ct_has_sparse(const lt_modelsrc *src);

/* Writes dir (created if missing): config.json (+ quantization_config), model.safetensors and
 * the tokenizer when src has one. q/k rows of a GGUF source are permuted to Hugging Face's rope
 * layout, as lt_modelsrc_write_hf does for plain weights (2:4 runs along a row: unchanged). */
lt_status lt_ct_write_hf(const lt_modelsrc *src, const char *dir, lt_err *err);

#endif
