/* slicegpt.h - SliceGPT (Ashkboos et al. 2024, microsoft/TransformerCompression): a Llama-family
 * model rotated by the principal components of its residual stream and sliced to fewer
 * dimensions, with plain dense matrices afterwards (cfg.sliced, core/formats/modelsrc.h).
 *
 * What it does, as the authors' rotate_and_slice_sequential:
 * - folds every RMSNorm weight into the linears that read it (q/k/v; gate/up; the head, which is
 *   untied from the embedding) and leaves weightless norms that divide by the original width D;
 * - PCA of each residual-stream signal over the calibration windows: H = sum X^T X in float64,
 *   1% of its mean diagonal added, eigenvectors by descending eigenvalue (LAPACK dsyevd) = Q;
 * - sequential, layer by layer on the already sliced upstream: Q_0 from the embeddings; per layer
 *   Q' from the residual after attention and Q_{l+1} from the block output, each computed with
 *   everything before it already sliced (the signals are projections onto the kept
 *   components, run through the original folded block - the same numbers as the authors' runs
 *   with shortcut Q^T in the original basis);
 * - the embedding E Q_0[:, :d], attention inputs W Q_l[:, :d], attention output Q'^T W_o (d rows),
 *   MLP inputs W Q', MLP output Q_{l+1}^T W_down, the head W_head Q_L; shortcuts
 *   attn = Q_l[:, :a]^T Q'[:, :b] and ffn = Q'[:, :b]^T Q_{l+1}[:, :c], stored transposed
 *   ([out, in]) as blk.L.attn_shortcut.weight / blk.L.ffn_shortcut.weight (full_shortcuts).
 * lathe's default form of the shortcuts: each basis Q', Q_{l+1} is turned within its kept
 * components (a rotation there leaves the function unchanged; the authors use a random one) to
 * make the shortcut from the basis before it symmetric (orthogonal Procrustes, LAPACK dgesdd).
 * Two d-dimensional subspaces of R^D share at least 2d - D dimensions, so I - shortcut then has
 * rank r <= D - d, and the shortcut is stored exactly as blk.L.*_shortcut_lr.weight [r, d]
 * (x . S = x - (x V^T) V: r d numbers instead of d^2, a third at 25% slicing; no tensor at all
 * when r = 0, as at --slice 0). Widths that differ (the last block without slice_head) keep the
 * full matrix.
 * Widths: d = int((1 - slice) * D) rounded down to a multiple of `round` (the authors' default 8),
 * the same everywhere (their ConstSlicingScheduler) except the last block's output and the head,
 * which keep D unless slice_head (their default: not sliced).
 * Choices (README, docs/PERF.md): the final orientation is the PCA basis (the authors' script
 * defaults to a random rotation within the kept components, which leaves the function unchanged);
 * the embedding rows are not centred (the authors subtract each row's mean for every model; on an
 * RMSNorm model that changes the function: center_embd does it anyway).
 * Weights are transformed in float64 and stored in the source's float type (f32, f16, bf16;
 * quantized sources become f16).
 * Leaves out: parallel-block models (Phi-2, GPT-J), LayerNorm models (OPT: the mean baked into
 * the linears), per-layer slicing schedules, the HF folder (core/formats' TransformerCompression reader/writer).
 */
#ifndef LT_SLICEGPT_H
#define LT_SLICEGPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/llm/lm.h"

typedef struct lt_slicegpt_opts {
    double slice;      /* fraction of D removed, 0 <= slice < 1 */
    int round;         /* widths a multiple of this (0: 8) */
    bool slice_head;   /* the last block's output and the head sliced too */
    bool center_embd;  /* subtract each embedding row's mean (the authors' fuse_modules) */
    bool full_shortcuts; /* the authors' shortcut matrices, PCA-oriented; else aligned, low-rank */
} lt_slicegpt_opts;

/* The kept width for D: int((1 - slice) * D) rounded down to a multiple of round (at least round). */
int lt_slicegpt_width(int dim, double slice, int round);

/* Progress (stage "fold", "pca", "rotate"; layer of n_layers; frac 0..1); false cancels. */
typedef bool (*lt_slicegpt_progress)(void *ud, const char *stage, int layer, double frac);

typedef struct lt_slicegpt_result {
    int width;             /* d */
    int head_width;        /* c_last */
    int shortcut_rank_max; /* the largest rank of a shortcut in the low-rank form (-1: none is) */
    uint64_t params_in, params_out;
    double calib_seconds, pca_seconds, rotate_seconds;
} lt_slicegpt_result;

/* "full", or "low-rank, rank <= R" (the report's words for the shortcuts) into buf. */
const char *lt_slicegpt_shortcuts_str(const lt_slicegpt_result *r, char *buf, size_t n);

/* Slices src into *out (an in-memory source, cfg.sliced, canonical names; the caller closes it).
 * Calibration: the folded model opened with open_lm on be (f32 matrices, max_batch >= window)
 * over tokens [n_windows x window]. */
lt_status lt_slicegpt_run(const lt_modelsrc *src, const lt_slicegpt_opts *o, lt_lm_open_fn open_lm, lt_backend *be,
                          const int32_t *tokens, int n_windows, int window, lt_slicegpt_progress progress, void *ud,
                          lt_modelsrc **out, lt_slicegpt_result *res, lt_err *err);

#endif
