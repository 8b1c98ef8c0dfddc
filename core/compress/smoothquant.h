/* smoothquant.h - SmoothQuant+ (arXiv 2312.03788): activation outlier channels smoothed into
 * the weights, folded exactly into the model, then group-wise round-to-nearest (gptq.h's lt_rtn).
 *
 * Factors (SmoothQuant's form): s_j = max|X_j|^alpha / max|W_:,j|^(1-alpha), both maxima
 * clamped to >= 1e-5, X_j the calibration activations of input channel j of a linear group
 * (over every calibration token of the unchanged model), W_:,j that column over every matrix
 * reading the input. Folded per block (exact: the model computes the same function):
 *  - attn_norm /= s, q/k/v columns *= s (s from the q/k/v input);
 *  - ffn_norm /= s, gate/up columns *= s (the gate/up input);
 *  - ffn_up rows (and its bias) /= s, ffn_down columns *= s (the down input: silu(gate) * up
 *    is linear in up);
 *  - attn_v rows (and its bias) /= s, attn_output columns *= s, one factor per KV channel
 *    (head g, dim d): attention is linear in V, and o's input channels h*head_dim + d of every
 *    query head h sharing KV head g read it, so they all take the same factor, made from the
 *    maxima over that group of channels (activations and o's columns). With no grouping
 *    (n_kv_heads = n_heads) this is the plain per-channel factor.
 * Alpha: searched on 0, 0.05, ..., 1 (one alpha for the model, as the paper does), scoring
 * each by the smoothed and quantized model's mean next-token loss on the first
 * search_tokens of the calibration windows (every position after the first of each window);
 * the unsmoothed quantized model (plain RTN) and the unquantized one are scored too, and when
 * no alpha beats plain RTN the model is left unsmoothed (lt_sq_result.unsmoothed).
 * A matrix whose rows do not split into the quantizer's groups is scored unquantized (the GGUF
 * pass writes it in the type llama.cpp's mix falls back to).
 * Per layer (an option, as AWQ's auto_scale): the search windows' hidden states are run block by
 * block through the unquantized model; each block's alpha minimises the squared error of its
 * output with its weights smoothed and quantized, or quantized unsmoothed (alpha -1: never worse
 * than RTN on its own objective) (put in through set_matrix: q/k/v and gate/up
 * take Q(W diag s) diag(1/s), the same function as the folded norms) against its unquantized
 * output, and the model with those alphas is scored by the same loss. Models with q/k/v or MLP
 * biases are refused there (set_matrix cannot move a bias).
 * Leaves out: activation quantization (W8A8 SmoothQuant), AWQ's clipping search.
 */
#ifndef LT_SMOOTHQUANT_H
#define LT_SMOOTHQUANT_H

#include <stdbool.h>
#include <stdint.h>

#include "calib.h"
#include "core/formats/modelsrc.h"
#include "gptq.h"

#define LT_SQ_GRID 21 /* alphas 0, 0.05, ..., 1 */

/* Per-layer maxima of |activation| per input channel: amax[i][layer * cols[i] + j] (LT_LIN_* order). */
typedef struct lt_sq_stats {
    int n_layers;
    int cols[LT_LIN_COUNT];
    float *amax[LT_LIN_COUNT];
} lt_sq_stats;

/* Runs lm (unchanged) over the windows through its probe, keeping the maxima. cancel may be NULL. */
lt_status lt_sq_collect(lt_lm *lm, const int32_t *tokens, int n_windows, int window, lt_sq_stats *st,
                        bool (*cancel)(void *ud), void *ud, lt_err *err);
void lt_sq_stats_free(lt_sq_stats *st); /* frees the arrays; NULL-safe */

/* s[j] for n channels from the activation and weight maxima. */
void lt_sq_factors(const float *amax_x, const float *amax_w, int n, float alpha, float *s);

/* The smoothed model as a view of src (lt_modelsrc_view; src must outlive it): every block's
 * norms and matrices replaced by f32 folded ones. q non-NULL: each block matrix is also
 * round-to-nearest quantized (the view holds the dequantized weights: what is scored). */
lt_status lt_sq_smooth(const lt_modelsrc *src, const lt_sq_stats *st, float alpha, const lt_gptq_opts *q,
                       lt_modelsrc **out, lt_err *err);
/* The same with one alpha per layer (alpha[n_layers]). */
lt_status lt_sq_smooth_layers(const lt_modelsrc *src, const lt_sq_stats *st, const float *alpha,
                              const lt_gptq_opts *q, lt_modelsrc **out, lt_err *err);

/* Mean next-token loss (nats) of lm over the windows (every position after the first). */
lt_status lt_sq_loss(lt_lm *lm, const int32_t *tokens, int n_windows, int window, double *loss, lt_err *err);

typedef struct lt_sq_opts {
    float alpha;           /* >= 0: fixed; < 0: searched */
    int64_t search_tokens; /* calibration tokens scoring each alpha; 0: 4096 */
    bool per_layer;        /* one alpha per layer (AWQ-style: each block's output error), see above */
} lt_sq_opts;

#define LT_SQ_MAX_LAYERS 256

typedef struct lt_sq_result {
    float alpha;                /* chosen */
    int n;                      /* points of the curve (0 with a fixed alpha) */
    float alphas[LT_SQ_GRID];
    double loss[LT_SQ_GRID];    /* the quantized smoothed model's loss at each alpha */
    double loss_rtn, loss_float; /* no smoothing, quantized; neither (0 when not searched) */
    int calib_windows, calib_window; /* the maxima's */
    int search_windows, window;
    bool per_layer;                       /* layer_alpha holds the chosen alphas, loss_layers their model's loss */
    float layer_alpha[LT_SQ_MAX_LAYERS];
    double loss_layers;
    /* One alpha searched, and none scored below plain RTN on the search windows: the model is
     * quantized unsmoothed (the returned view is src unchanged), so a searched SmoothQuant+ is
     * never worse than RTN on its own calibration loss. (Per layer, each block's candidates
     * include no smoothing: layer_alpha -1.) */
    bool unsmoothed;
    double seconds;
} lt_sq_result;

/* Calibrates (maxima over co's windows), searches alpha when so->alpha < 0 (q: the quantizer
 * the pass then applies), and returns the smoothed, unquantized model as a view of src.
 * progress (may be NULL) gets a stage and 0..1; false cancels (LT_ECANCELLED). */
lt_status lt_sq_run(const lt_modelsrc *src, const lt_sq_opts *so, const lt_gptq_opts *q, const lt_calib_opts *co,
                    lt_lm_open_fn open_lm, lt_backend *be, const lt_tokenizer *tok,
                    bool (*progress)(void *ud, const char *stage, double frac), void *ud, lt_modelsrc **smoothed,
                    lt_sq_result *r, lt_err *err);

#endif
