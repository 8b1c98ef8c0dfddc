/* modelsrc_slicegpt.h - TransformerCompression (SliceGPT) folders as a model source, read and
 * written: the layout microsoft/TransformerCompression's experiments/run_slicegpt.py --save-dir
 * writes and its hf_utils.load_sliced_model reads.
 *
 * A folder DIR holds NAME_SPARSITY.pt (torch.save of the sliced model's state dict, torchpt.h),
 * NAME_SPARSITY.json (their SlicingConfig.to_json_string(): per-layer widths), config.json (the
 * ORIGINAL model's Hugging Face config: hidden_size is the width every RMSN divides by) and the
 * tokenizer files copied beside them. State dict names: model.embed_tokens.weight [V, a0],
 * model.layers.L.self_attn.{q,k,v}_proj.weight [*, a_L], o_proj [b_L, H*Dh],
 * model.layers.L.mlp.{gate,up}_proj.weight [F, b_L], down_proj [c_L, F],
 * model.layers.L.attn_shortcut_Q [a_L, b_L], model.layers.L.mlp_shortcut_Q [b_L, c_L],
 * lm_head.weight [V, c_last] - and no norm weights: their RMSN modules have none (the norms were
 * folded into the linears). The source has the canonical sliced names of modelsrc.h
 * (docs: the SliceGPT contract): cfg.sliced, the untied output, norm weights of ones (f32), the
 * shortcut matrices transposed into [out, in] (blk.L.attn_shortcut.weight [b_L, a_L],
 * blk.L.ffn_shortcut.weight [c_L, b_L]). Every width is checked across the tensors and against
 * the JSON (when there is one); errors name the file, the tensor and both shapes.
 * Leaves out: their OPT / Phi adapters (parallel blocks), LoRA fine-tuned folders.
 */
#ifndef LT_MODELSRC_SLICEGPT_H
#define LT_MODELSRC_SLICEGPT_H

#include <stddef.h>

#include "core/base/status.h"
#include "modelsrc.h"

/* path: the folder (the .pt whose .json lies beside it: when several do, an error listing them,
 * and one is named as DIR/NAME.pt) or a .pt file in it (its .json, when present, is checked).
 * config.json must be beside the .pt; the vocab comes from the folder's tokenizer.json (none
 * without one: give a tokenizer as for any model). */
lt_status lt_modelsrc_open_slicegpt(lt_modelsrc **out, const char *path, lt_err *err);

typedef struct lt_slicegpt_write_opts {
    const char *model_name; /* the stem's first part (their Path(--model).name); NULL: the name in the
                               source's .pt stem when it was read from one, else cfg.name */
    double sparsity;        /* the stem's second part (their --sparsity, printed as Python prints a
                               float); negative: the source's stem's, else 1 - a0 / hidden_size */
} lt_slicegpt_write_opts;

/* Writes src into dir (created when missing) as TransformerCompression does: NAME_SPARSITY.pt
 * (f16; their order and names, the shortcut matrices transposed back, a low-rank one written out
 * in full as I - V^T V; a missing shortcut is the identity; q/k rows in Hugging Face's rope order),
 * NAME_SPARSITY.json, config.json (src's config, the original width) and, when src
 * has a vocab, tokenizer.json + tokenizer_config.json. src must be a Llama model without
 * biases whose norm weights are all 1 (a sliced one, or another whose norms were folded). */
lt_status lt_modelsrc_write_slicegpt(const lt_modelsrc *src, const char *dir, const lt_slicegpt_write_opts *o,
                                     lt_err *err);

/* "NAME_SPARSITY" as run_slicegpt.py names the files (f'{name}_{sparsity}': Python's repr of the
 * float, 0.25 -> "0.25", 0.1 -> "0.1", 0 -> "0.0"). */
void lt_slicegpt_stem(const char *model_name, double sparsity, char *out, size_t n);

#endif
