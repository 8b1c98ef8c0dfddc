/* quantmix.h - llama.cpp's quantization mixes: what llama-quantize calls Q4_K_M, Q5_K_S,
 * Q8_0, ..., the llama_ftype number each writes as general.file_type, and the type each
 * tensor gets under it (src/llama-quant.cpp: tensor_allows_quantization, llama_tensor_get_type,
 * use_more_bits, tensor_type_fallback), as pure functions over names and shapes.
 *
 * The rules are those of the llama family (attention + dense FFN: llama, mistral, qwen2):
 * which tensors are never quantized (1-D, names not ending in "weight", norms), output.weight
 * and a tied token_embd (q6_K, or q8_0 when the row is not a multiple of the mix's block),
 * attn_v / ffn_down / attn_output per mix (more bits in the first and last eighth of the
 * layers and every third between, by use_more_bits), the 70B bump of attn_v, and the
 * fallbacks when a row is not a multiple of 256 (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0,
 * q2_K/q3_K -> q4_0, iq4_xs -> iq4_nl; f16 when not a multiple of 32 either).
 * llama.cpp decides attn_v and ffn_down by counters it advances while walking the tensors in
 * its loader's order (non-layer tensors, then blk.0, blk.1, ... each sorted by name):
 * lt_quantmix_plan walks in that order and keeps those counters.
 *
 * Leaves out: mixes that need types lathe does not have or an importance matrix (IQ1_*, IQ2_*,
 * IQ3_*, TQ1_0, TQ2_0, Q1_0, Q2_0, MXFP4_MOE, Q2_K_S, COPY), the importance matrix itself,
 * --tensor-type overrides and --leave-output-tensor, and other architectures' special cases: MoE
 * (n_expert == 8 bumps of attn_v/attn_k/attn_output, expert layer numbers parsed from names,
 * ffn_*_exps), Falcon (attn_output, ffn_down, output), fused attn_qkv / attn_kv_b tensors (counted
 * as attn_v as llama.cpp does, but no architecture lathe reads has them), GLM5-next,
 * BERT/T5/RWKV/Mamba/multimodal names never quantized.
 */
#ifndef LT_QUANTMIX_H
#define LT_QUANTMIX_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/dtype.h"
#include "core/base/status.h"
#include "core/formats/modelsrc.h"

/* llama_ftype (include/llama.h): the number written as general.file_type. */
typedef enum lt_ftype {
    LT_FTYPE_ALL_F32 = 0,
    LT_FTYPE_F16 = 1,
    LT_FTYPE_Q4_0 = 2,
    LT_FTYPE_Q4_1 = 3,
    LT_FTYPE_Q8_0 = 7,
    LT_FTYPE_Q5_0 = 8,
    LT_FTYPE_Q5_1 = 9,
    LT_FTYPE_Q2_K = 10,
    LT_FTYPE_Q3_K_S = 11,
    LT_FTYPE_Q3_K_M = 12,
    LT_FTYPE_Q3_K_L = 13,
    LT_FTYPE_Q4_K_S = 14,
    LT_FTYPE_Q4_K_M = 15,
    LT_FTYPE_Q5_K_S = 16,
    LT_FTYPE_Q5_K_M = 17,
    LT_FTYPE_Q6_K = 18,
    LT_FTYPE_IQ4_NL = 25,
    LT_FTYPE_IQ4_XS = 30,
    LT_FTYPE_BF16 = 32,
} lt_ftype;

/* general.quantization_version as llama-quantize writes it (GGML_QNT_VERSION). */
#define LT_QUANT_VERSION 2

/* A chosen mix. */
typedef struct lt_quantmix {
    const char *name; /* llama-quantize's canonical name: "Q4_K_M" (an alias gives its mix's name) */
    lt_ftype ftype;
    lt_dtype base;    /* the mix's default tensor type (llama_ftype_get_default_type) */
    bool pure;        /* llama-quantize --pure: base for every quantizable tensor, no mix rules
                       * (the row-length fallbacks still apply) */
    /* llama-quantize --output-tensor-type / --token-embedding-type: the type of output.weight
     * (and of a tied token_embd when embd_type is unset) / of token_embd.weight, over the mix
     * and --pure; LT_DTYPE_COUNT (what lt_quantmix_parse sets) = the mix decides. A row that
     * is not a multiple of the type's block falls back as the mix's types do. */
    lt_dtype output_type, embd_type;
    /* lathe's --shortcut-type: the type of SliceGPT's shortcut matrices (blk.N.attn_shortcut /
     * ffn_shortcut, core/compress/slicegpt.h); LT_DTYPE_COUNT = the default, q8_0
     * (core/compress/quantize.h). */
    lt_dtype shortcut_type;
} lt_quantmix;

/* Sets mix->output_type (which = "output"), embd_type ("embd") or shortcut_type ("shortcut")
 * from a tensor type name (llama-quantize's --output-tensor-type q8_0); a mix name or an
 * unknown type is LT_EINVAL naming the valid ones. */
lt_status lt_quantmix_set_override(lt_quantmix *mix, const char *which, const char *type, lt_err *err);
#define LT_QUANTMIX_SHORTCUT_HELP                                                                                     \
    "the type of SliceGPT's full shortcut matrices (default: q8_0 under a quantized type or mix; f16 keeps them " \
    "float); low-rank ones stay float (f16 unless this or the mix names f32 or bf16)"

/* TYPE as llama-quantize reads it: a mix name in any case ("Q4_K_M", "q4_k_m"), an alias
 * ("Q4_K" = Q4_K_M, "Q3_K" = Q3_K_M, "Q5_K" = Q5_K_M) or a llama_ftype number ("15"). Every
 * tensor type lathe writes also names a mix (q8_0 -> Q8_0, q4_K -> Q4_K_M, iq4_nl -> IQ4_NL,
 * f16 -> F16, ...); pure keeps that one type for every quantizable tensor. An unknown name is
 * LT_EINVAL with a message listing the valid types and mixes. */
lt_status lt_quantmix_parse(const char *type, bool pure, lt_quantmix *out, lt_err *err);

/* The i-th entry of the name table (llama-quantize's order; aliases included), with a short
 * description; false past the end. */
bool lt_quantmix_entry(int i, const char **name, const char **desc);

/* "Q4_0, Q4_1, ..., Q4_K_M, ..." for messages and help (the tensor types: lt_dtype_weight_names). */
const char *lt_quantmix_mix_names(void);

/* What the rules need to know of the model. */
typedef struct lt_quantmix_model {
    int n_layers;
    int n_gqa;   /* n_heads / n_kv_heads (llama.cpp's n_gqa()) */
    bool tied;   /* no output.weight: token_embd follows output.weight's rule */
    bool is_70b; /* llama.cpp's LLM_TYPE_70B: 80 layers (llama: and grouped-query attention) */
} lt_quantmix_model;

/* From a model config (tied_embeddings, head counts, layers, arch). */
void lt_quantmix_model_from_config(const lt_llm_config *cfg, lt_quantmix_model *out);

/* llama.cpp's counters at one tensor: attn_v tensors (and fused qkv) already visited / in the
 * model, ffn_down tensors already visited / layers. */
typedef struct lt_quantmix_pos {
    int i_attn_v, n_attn_v;
    int i_ffn_down, n_ffn_down;
} lt_quantmix_pos;

/* Whether llama.cpp quantizes this tensor at all (tensor_allows_quantization for the names a
 * llama-family model has): 2 dimensions or more (ggml's count: outer dimensions of 1 do not
 * count), a name ending in "weight", not a norm. */
bool lt_quantmix_allows(const char *name, int ndim, const int64_t *shape);

/* The type of one tensor under mix: what llama_tensor_get_type chooses for a tensor of this
 * name and shape (outermost first; the row is shape[ndim-1]) at counter position pos. Tensors
 * it does not quantize keep src. *fallback (may be NULL) says whether the row-length
 * fallback changed the type. A pure function: the caller advances pos (lt_quantmix_plan). */
lt_dtype lt_quantmix_tensor_type(const lt_quantmix *mix, const lt_quantmix_model *m, const char *name, int ndim,
                                 const int64_t *shape, lt_dtype src, const lt_quantmix_pos *pos, bool *fallback);

/* One tensor of a model to plan. */
typedef struct lt_quantmix_tensor {
    const char *name;
    int ndim;
    const int64_t *shape; /* outermost first */
    lt_dtype dtype;       /* the source's */
} lt_quantmix_tensor;

/* The types of a whole model's tensors (types[i] for t[i], in the caller's order): walks them
 * in llama.cpp's loader order with its counters (n_attn_v counted over the list, n_ffn_down =
 * m->n_layers). *n_fallback (may be NULL): tensors whose row length forced a fallback. */
lt_status lt_quantmix_plan(const lt_quantmix *mix, const lt_quantmix_model *m, const lt_quantmix_tensor *t, int n,
                           lt_dtype *types, int *n_fallback, lt_err *err);

#endif
