/* lm.h - a loaded language model as the engine sees it: one forward call over a batch of
 * tokens in a paged KV cache, plus its configuration and sizes.
 *
 * models/ implements it (models/llama.c: lt_llama_open returns an lt_lm); core's generation
 * loop, speculative decoding, scheduler and session use only this interface, so core never
 * depends on a model file. A batch may hold a prompt chunk, a decode token, drafted tokens
 * to verify, or tokens of several sequences; each token names its sequence and position,
 * and positions of a sequence must continue its cached length.
 */
#ifndef LT_LM_H
#define LT_LM_H

#include <stdbool.h>

#include "core/backend/backend.h"
#include "kv_cache.h"
#include "core/formats/modelsrc.h"

typedef struct lt_batch {
    int n_tokens;
    const int32_t *tokens; /* [n] */
    const int32_t *seq;    /* [n] KV sequence of each token */
    const int32_t *pos;    /* [n] position of each token */
    const bool *logits;    /* [n] rows that want logits; NULL = only the last token */
    /* Optional (speculative decoding, TriForce): the rotary position of each token, when a
     * sequence is a sparse view of a longer context (cache index pos, true position
     * rope_pos); NULL = pos. */
    const int32_t *rope_pos;
    /* Optional output: the rotated queries of the batch's last token for every layer,
     * [n_layers * n_heads * head_dim] floats (host); NULL = not wanted. */
    float *q_last;
} lt_batch;

typedef struct lt_lm lt_lm;

/* The inputs of a block's linear layers, as a probe sees them (an input several projections
 * share is seen once: q, k and v read the attention norm's output; gate and up the FFN norm's). */
typedef enum lt_lm_lin_input { LT_LIN_QKV, LT_LIN_O, LT_LIN_GATE_UP, LT_LIN_DOWN, LT_LIN_COUNT } lt_lm_lin_input;
/* A block's matrices (lt_lm_ops.set_matrix). */
typedef enum lt_lm_matrix { LT_MAT_Q, LT_MAT_K, LT_MAT_V, LT_MAT_O, LT_MAT_GATE, LT_MAT_UP, LT_MAT_DOWN, LT_MAT_COUNT }
    lt_lm_matrix;

/* Calibration (core/compress/calib.c): set lm->probe and a forward runs only layers
 * [first, last], starting from the hidden state x_in (host, n_tokens x the width entering
 * `first`: lt_lm_width_in; NULL: the token embeddings) and leaving the hidden state after `last`
 * in x_out (n_tokens x lt_lm_width_out(last); may be NULL); no logits are computed. `input` (may
 * be NULL) sees the input of each linear layer of those layers, rows = the chunk's tokens, before
 * the matmul; chunk_t0 is the chunk's first token in the batch. `mid` (may be NULL) sees the
 * residual after attention (before the FFN norm; lt_lm_width_mid columns) and may rewrite it
 * (lt_tensor_set): the FFN then reads what it left (SliceGPT's calibration projects it). */
typedef struct lt_lm_probe {
    int first, last;
    const float *x_in;
    float *x_out;
    lt_status (*input)(void *ud, int layer, lt_lm_lin_input which, const lt_tensor *x, lt_err *err);
    void *ud;
    bool inputs_only; /* stop once `last`'s last linear input was seen (x_out is then not written) */
    lt_status (*mid)(void *ud, int layer, lt_tensor *x, lt_err *err);
    bool stop_after_mid; /* stop once `last`'s mid was seen (x_out is then not written) */
    /* `head` (may be NULL) sees the output head's input - the final norm of the hidden state after
     * the last layer - when `last` is the model's last layer (the lm_head's calibration) */
    lt_status (*head)(void *ud, const lt_tensor *x, lt_err *err);
} lt_lm_probe;

typedef struct lt_lm_ops {
    const char *family; /* "llama" */
    /* Runs the batch, appends its K/V to the cache, writes logits of the requested rows in
     * batch order into logits[n_out * n_vocab] (host). On error cache lengths are unchanged. */
    lt_status (*forward)(lt_lm *lm, lt_kv_cache *kv, const lt_batch *b, float *logits, lt_err *err);
    void (*close)(lt_lm *lm);
    /* Optional: replaces a block's matrix with w (rows x cols f32, host), converted to the
     * matrix's dtype (a compression pass puts its quantized weights back this way). */
    lt_status (*set_matrix)(lt_lm *lm, int layer, lt_lm_matrix which, const float *w, lt_err *err);
} lt_lm_ops;

/* The common head of every model object; implementations embed it first and fill it. */
struct lt_lm {
    const lt_lm_ops *ops;
    lt_llm_config cfg;
    lt_backend *be;
    size_t weight_bytes;    /* weights on the device */
    size_t bytes_per_token; /* weight bytes read per decoded token */
    uint64_t n_params;      /* elements of every weight (a tied embedding once); 0 = not counted */
    lt_dtype wtype;         /* dominant matrix dtype */
    size_t file_bytes;      /* size of the file(s) the weights were read from; 0 when synthetic */
    /* decode-step graphs, on backends that capture ops (CUDA): graphs captured, decode
     * steps replayed from one, and why graphs were turned off after a failed capture */
    int64_t graph_captures, graph_replays;
    char graph_off[192];
    const lt_lm_probe *probe; /* NULL except while a compression pass calibrates */
    /* SliceGPT (cfg.sliced): d_emb, then b_L, c_L per layer (lt_modelsrc_slice_widths), owned by
     * the model; NULL when every width is cfg.dim */
    const int32_t *slice_widths;
};

/* The residual's width entering block l, after its attention, and leaving it. */
static inline int lt_lm_width_in(const lt_lm *lm, int l) {
    return lm->slice_widths ? lm->slice_widths[l ? 2 * l : 0] : lm->cfg.dim;
}
static inline int lt_lm_width_mid(const lt_lm *lm, int l) {
    return lm->slice_widths ? lm->slice_widths[1 + 2 * l] : lm->cfg.dim;
}
static inline int lt_lm_width_out(const lt_lm *lm, int l) {
    return lm->slice_widths ? lm->slice_widths[2 + 2 * l] : lm->cfg.dim;
}

/* Options every model's open function takes. */
typedef struct lt_lm_opts {
    int max_batch;  /* tokens per internal chunk (scratch size); 0 = 512 */
    int max_logits; /* rows of logits per internal chunk; 0 = min(max_batch, 64) */
    /* Optional: called as the weights reach the device with the fraction done (0..1, by
     * bytes); returning false stops the load, which then fails with LT_ECANCELLED. */
    bool (*progress)(void *ud, double frac);
    void *progress_ud;
    bool f32_matrices; /* matrices converted to f32 on load (calibration: exact weights put back) */
} lt_lm_opts;

/* Opens a model from a source on a backend (e.g. lt_llama_open). */
typedef lt_status (*lt_lm_open_fn)(lt_lm **out, const lt_modelsrc *src, lt_backend *be, const lt_lm_opts *o,
                                   lt_err *err);

lt_status lt_lm_forward(lt_lm *lm, lt_kv_cache *kv, const lt_batch *b, float *logits, lt_err *err);
void lt_lm_close(lt_lm *lm); /* NULL is a no-op */

static inline const lt_llm_config *lt_lm_config(const lt_lm *lm) { return &lm->cfg; }
static inline lt_backend *lt_lm_backend(const lt_lm *lm) { return lm->be; }

/* Options for a KV cache that fits this model (layers, width); max_ctx 0 = the model's
 * context; max_seqs 0 = 8. */
lt_kv_opts lt_lm_kv_opts(const lt_lm *lm, int max_ctx, int max_seqs);

/* A context beyond the one the model was trained on is allowed (as llama.cpp does) but worth
 * a word: writes "ctx N is beyond the model's trained context (M)" into buf and returns true
 * when ctx > the model's max_seq (> 0); else buf = "" and false. */
bool lt_lm_ctx_note(const lt_lm *lm, int ctx, char *buf, size_t cap);

/* Appends tokens [n] to one sequence at its current length; logits of the last token (or,
 * with all_logits, of every token) into logits. */
lt_status lt_lm_eval(lt_lm *lm, lt_kv_cache *kv, int seq, const int32_t *tokens, int n, bool all_logits,
                     float *logits, lt_err *err);

#endif
