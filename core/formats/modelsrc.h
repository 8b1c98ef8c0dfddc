/* modelsrc.h - the model-source object: a model file opened for loading, with its
 * hyperparameters, named tensors and vocab, plus the checks every reader shares.
 *
 * Every reader (modelsrc_gguf.h, modelsrc_hf.h, modelsrc_llama2c.h) produces the same thing:
 * an lt_llm_config, a list of tensors under canonical GGUF-style names with shapes written
 * outermost first ([out, in] for a Linear weight), data pointing into read-only mmaps that
 * the source owns, and optionally a vocab. Every offset and size was checked against the
 * file length before a pointer was formed. Models copy what they need onto their backend.
 * Leaves out: reading or writing any file format (the per-format modules), and picking the
 * reader for a path (modelsrc_open.h, which sniffs the format with sniff.h).
 *
 * Canonical names (L = layer index):
 *   token_embd.weight [V, D]          output_norm.weight [D]         output.weight [V, D] (absent if tied)
 *   blk.L.attn_norm.weight [D]        blk.L.attn_q.weight [H*Dh, D]  blk.L.attn_k.weight [KVH*Dh, D]
 *   blk.L.attn_v.weight [KVH*Dh, D]   blk.L.attn_output.weight [D, H*Dh]
 *   blk.L.attn_q.bias / attn_k.bias / attn_v.bias (qwen2)
 *   blk.L.ffn_norm.weight [D]         blk.L.ffn_gate.weight [F, D]   blk.L.ffn_up.weight [F, D]
 *   blk.L.ffn_down.weight [D, F]
 * Rotary convention travels in cfg.rope_neox (see lt_op_rope), so q/k rows are never
 * permuted at load time.
 *
 * SliceGPT (cfg.sliced, core/compress/slicegpt.h): the residual stream has a width per place,
 * taken from the tensor shapes (lt_modelsrc_slice_widths): a_L (block L's input; a_0 = d_emb),
 * b_L (after attention), c_L (block output, = a_{L+1}); every RMSNorm still divides by the
 * original width cfg.dim (SliceGPT's RMSN); the head is untied. Per layer:
 *   token_embd.weight [V, d_emb]   blk.L.attn_norm.weight [a_L]   attn_q/k/v.weight [*, a_L]
 *   attn_output.weight [b_L, H*Dh] blk.L.attn_shortcut.weight [b_L, a_L] (absent: identity, a_L = b_L)
 *   ffn_norm.weight [b_L]          ffn_gate/up.weight [F, b_L]    ffn_down.weight [c_L, F]
 *   blk.L.ffn_shortcut.weight [c_L, b_L] (absent: identity)       output_norm [c_last], output [V, c_last]
 *   or, in place of a shortcut between equal widths, blk.L.attn_shortcut_lr.weight / ffn_shortcut_lr.weight
 *   [r, a] (f32/f16/bf16, r < a): the shortcut S = I - V^T V in low-rank form (x.S = x - (x V^T) V)
 * The block: x (a) -> x.S_attn^T + attn(rmsnorm_D(x)) (b) -> x.S_ffn^T + ffn(rmsnorm_D(x)) (c).
 */
#ifndef LT_MODELSRC_H
#define LT_MODELSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/tensor.h"
#include "core/text/vocab.h"
#include "src_tensor.h"

typedef enum lt_rope_scaling {
    LT_ROPE_SCALING_NONE = 0,
    LT_ROPE_SCALING_LINEAR, /* positions divided by factor */
    LT_ROPE_SCALING_LLAMA3, /* Llama 3.1 frequency-dependent scaling */
    LT_ROPE_SCALING_YARN,   /* YaRN: ramp between interpolated and original frequencies, attention factor */
    /* LongRoPE (Phi3): per-pair factors divide the frequencies, the tensors rope_factors_short.weight
     * and rope_factors_long.weight (f32 [n_rot/2]): the long ones when the context a model runs
     * with (its KV cache per sequence) exceeds rope_orig_ctx, as llama.cpp; attention factor */
    LT_ROPE_SCALING_LONGROPE,
} lt_rope_scaling;

typedef struct lt_llm_config {
    char arch[32];       /* "llama", "qwen2", "mistral", "phi3" (family names as GGUF's general.architecture) */
    char name[128];      /* general.name or folder name */
    int32_t n_vocab;
    int32_t dim;         /* D */
    int32_t hidden_dim;  /* F */
    int32_t n_layers;
    int32_t n_heads;     /* H */
    int32_t n_kv_heads;  /* KVH */
    int32_t head_dim;    /* Dh (usually D / H) */
    int32_t max_seq;     /* training context */
    float norm_eps;
    float rope_theta;
    bool rope_neox;      /* rotate (i, i+n_rot/2) instead of (2i, 2i+1) */
    int32_t n_rot;       /* rotated dimensions of each head (partial rotary: transformers'
                            partial_rotary_factor, GGUF rope.dimension_count); 0 = head_dim */
    lt_rope_scaling rope_scaling;
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int32_t rope_orig_ctx;
    float rope_beta_fast, rope_beta_slow; /* YaRN ramp (32, 1 when 0) */
    bool rope_yarn_no_truncate;           /* YaRN: correction range not rounded (transformers' truncate=false) */
    float rope_attn_factor;               /* YaRN, LongRoPE: cos/sin multiplier (rotated dims only); 0 = 1 */
    bool tied_embeddings;
    bool qkv_bias;      /* q/k/v projections have biases */
    bool attn_out_bias; /* the output projection has a bias */
    bool mlp_bias;      /* gate/up/down projections have biases */
    bool sliced;
    /* Sliding-window attention: a query at position p sees keys at p-W+1..p, in the layers
     * whose bit is set in swa_layers; 0 = every layer sees its whole context. */
    int32_t sliding_window;
    uint32_t swa_layers[32]; /* bit l%32 of word l/32 (layers < 1024) */
} lt_llm_config;

/* The rotated dimensions of each head: cfg.n_rot, or head_dim when 0. */
static inline int32_t lt_llm_n_rot(const lt_llm_config *c) {
    return c->n_rot > 0 && c->n_rot < c->head_dim ? c->n_rot : c->head_dim;
}

/* The attention window of layer l (0 = none). */
static inline int32_t lt_llm_layer_window(const lt_llm_config *c, int l) {
    return c->sliding_window > 0 && l >= 0 && l < 1024 && (c->swa_layers[l / 32] >> (l % 32) & 1u) ? c->sliding_window : 0;
}
/* Sets the window of every layer. */
static inline void lt_llm_set_window_all(lt_llm_config *c, int32_t w) {
    c->sliding_window = w;
    for (int i = 0; i < 32; i++) c->swa_layers[i] = w > 0 ? 0xffffffffu : 0;
}

typedef struct lt_modelsrc lt_modelsrc;

void lt_modelsrc_close(lt_modelsrc *src); /* NULL is a no-op */

const char *lt_modelsrc_path(const lt_modelsrc *src);
const char *lt_modelsrc_format(const lt_modelsrc *src); /* "gguf", "hf", "llama2c", "memory" */
const lt_llm_config *lt_modelsrc_config(const lt_modelsrc *src);
/* Bytes of the file(s) the source maps (every shard of a Hugging Face folder); 0 in memory. */
size_t lt_modelsrc_file_bytes(const lt_modelsrc *src);
int lt_modelsrc_n_tensors(const lt_modelsrc *src);
const lt_src_tensor *lt_modelsrc_tensor(const lt_modelsrc *src, int i);
const lt_src_tensor *lt_modelsrc_find(const lt_modelsrc *src, const char *name); /* NULL if absent */
/* Says that t's data was copied out (onto a backend) and will not be read again soon: when t
 * lies in a file mapping, its resident pages leave the process (lt_file_map_drop); a later
 * read still sees the same bytes, faulted back in from the file. A no-op for data the source
 * owns. A model's loader calls it after each tensor, so loading holds one copy of the
 * weights (plus the tensor in flight) instead of the copy and the whole mapped file. */
void lt_modelsrc_drop(const lt_modelsrc *src, const lt_src_tensor *t);
/* The vocab, or NULL when the source has none. Ownership stays with the source unless
 * taken with lt_modelsrc_take_vocab (then the caller frees it). */
const lt_vocab *lt_modelsrc_vocab(const lt_modelsrc *src);
lt_vocab *lt_modelsrc_take_vocab(lt_modelsrc *src);
/* Replaces the source's vocab with v (taken over; NULL leaves none). */
void lt_modelsrc_set_vocab(lt_modelsrc *src, lt_vocab *v);

/* SliceGPT's widths of a sliced source (cfg.sliced), from its tensor shapes and checked against
 * each other: w[0] = d_emb, then per layer L w[1 + 2L] = b_L, w[2 + 2L] = c_L (1 + 2 * n_layers
 * values, each in 1..cfg.dim). Errors name the file, the tensor, the expected and the found shape. */
lt_status lt_modelsrc_slice_widths(const lt_modelsrc *src, int32_t *w, lt_err *err);

/* Checks cfg for sane values (positive, divisible heads, bounded sizes). `what` names the file. */
lt_status lt_llm_config_validate(const lt_llm_config *cfg, const char *what, lt_err *err);

/* Looks up `name` and checks dtype class and shape; the message names the file, the tensor,
 * the expected and the found shape. ndim/shape as expected. */
lt_status lt_modelsrc_expect(const lt_modelsrc *src, const char *name, int ndim, const int64_t *shape,
                             const lt_src_tensor **out, lt_err *err);

/* ---- building a source in memory (synthetic models, tests, converters) ---------------- */
/* An empty source holding cfg; tensors added with lt_modelsrc_add_owned are copied into
 * memory the source owns. vocab (may be NULL) is taken over. */
lt_status lt_modelsrc_create(lt_modelsrc **out, const lt_llm_config *cfg, lt_vocab *vocab, const char *name,
                             lt_err *err);
lt_status lt_modelsrc_add_owned(lt_modelsrc *src, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                                const void *data, lt_err *err);
/* A view of base (a compression pass's transformed model): an in-memory source with base's
 * config, path and tensors (their data still base's) and base's vocab (borrowed: base must
 * outlive the view); lt_modelsrc_replace gives one tensor new data (copied, owned by the
 * view; same shape, dtype dt). base is never changed. */
lt_status lt_modelsrc_view(lt_modelsrc **out, const lt_modelsrc *base, lt_err *err);
lt_status lt_modelsrc_replace(lt_modelsrc *src, const char *name, lt_dtype dt, const void *data, lt_err *err);
/* An empty in-memory source with base's path and vocab (borrowed: base must outlive it) and the
 * config cfg (a pass that changes shapes, e.g. SliceGPT, adds every tensor with add_owned). */
lt_status lt_modelsrc_derived(lt_modelsrc **out, const lt_modelsrc *base, const lt_llm_config *cfg, lt_err *err);

#endif
