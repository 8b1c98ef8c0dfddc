/* gptq.h - GPTQ (Frantar et al., arXiv 2210.17323, as IST-DASLab/gptq's gptq.py/quant.py do
 * it) and round-to-nearest with the same quantizer, one matrix at a time, producing the
 * group-quantized matrix of gq.h.
 *
 * The quantizer is the reference's min/max one per output row and group: the range always
 * holds 0; asymmetric scale = (max - min) / maxq, zero = round(-min / scale); symmetric
 * max = max(|min|, max), zero = 2^(bits-1); q = clamp(round(w / scale) + zero, 0, maxq).
 * `clip` searches shrunken ranges (the reference's mse option: grid 100, shrink up to 0.8,
 * |error|^2.4). `ggml` makes the chosen weights exactly what ggml's blocks hold: the scale is
 * rounded to f16 before the group is quantized, and asymmetric weights are d*q + m with
 * m = f16(-d * zero) (Q4_1 / Q5_1's formula), so a GGUF written from the codes dequantizes to
 * exactly the weights GPTQ chose and propagated. Symmetric groups then also take ggml's grid
 * (Q4_0/Q5_0's quantizer): the scale is the signed value of largest magnitude over
 * -2^(bits-1), possibly negative, so that value is exact and the steps are max/8 (4 bits), not
 * the reference's 2*max/15.
 * GPTQ: H = sum of x x^T over calibration rows (double); dead columns (H_ii = 0) are zeroed;
 * H += damp * mean(diag H) * I (damping grows tenfold, up to 3 times, while H is not positive
 * definite); U = upper Cholesky of H^-1; columns in lazy blocks of 128, one GEMM per block;
 * groups are taken from the updated weights as the loop reaches them, or, with act_order
 * (columns in order of decreasing H_ii), fixed beforehand from the original weights per
 * contiguous group of original columns (static groups: g_idx stays c / group).
 * K-quants (lt_gptq_run_k): the grid is a ggml K-quant type's (gq_gguf.h lt_gq_k_*): when the
 * loop reaches a super-block's first column (or, with act-order, beforehand from the original
 * weights: static groups), ggml's own quantizer picks that row's super-block scales and mins
 * from its current weights; the columns are then quantized one by one to that grid, the error
 * fed forward through U as above, and the codes packed into the blocks.
 * Leaves out: collecting H (calib.c), packing (gguf_gq.c, the writers).
 */
#ifndef LT_GPTQ_H
#define LT_GPTQ_H

#include <stdbool.h>

#include "core/base/dtype.h"
#include "gq.h"

typedef struct lt_gptq_opts {
    int bits;       /* 2, 3, 4, 5, 8 */
    int group;      /* columns per group (the last one shorter when it does not divide the row); <= 0: one group per row */
    bool sym;
    bool act_order; /* GPTQ only */
    bool clip;      /* MSE range search per group */
    bool ggml;      /* f16 scales and ggml's asymmetric formula (see above) */
    float damp;     /* fraction of mean(diag H); 0 = 0.01 */
    int block;      /* lazy batch columns; 0 = 128 */
} lt_gptq_opts;

/* Round-to-nearest of w (rows x cols, row-major) into out (allocated here); wq (may be NULL,
 * rows x cols) gets the chosen weights. */
lt_status lt_rtn(const float *w, int rows, int cols, const lt_gptq_opts *o, lt_gq_matrix *out, float *wq,
                 lt_err *err);

/* GPTQ of w given h (cols x cols, sum of x x^T; copied, not changed). loss (may be NULL) gets
 * the reference's sum (w - q)^2 / U_ii^2 / 2. */
lt_status lt_gptq(const float *w, int rows, int cols, const double *h, const lt_gptq_opts *o, lt_gq_matrix *out,
                  float *wq, double *loss, lt_err *err);

/* The same in two steps, so matrices that read the same input (q, k, v; gate, up) share one
 * inverse: the damped inverse's factor (and the act-order permutation) of h, then GPTQ of w
 * with it (o's act_order and damp must be those it was made with). */
typedef struct lt_gptq_hinv lt_gptq_hinv;
lt_status lt_gptq_hinv_create(lt_gptq_hinv **out, const double *h, int cols, const lt_gptq_opts *o, lt_err *err);
void lt_gptq_hinv_free(lt_gptq_hinv *p); /* NULL-safe */
lt_status lt_gptq_run(const float *w, int rows, int cols, const lt_gptq_hinv *hv, const lt_gptq_opts *o,
                      lt_gq_matrix *out, float *wq, double *loss, lt_err *err);
/* GPTQ of w onto the grid of K-quant type t (q2_K, q3_K, q4_K, q5_K, q6_K; cols a multiple of
 * 256) into blocks (rows * lt_row_bytes(t, cols) bytes, written here); o's act_order and block
 * are used (hv made with the same act_order), its bits, group, sym, clip and ggml are not. wq
 * (may be NULL) gets exactly what the blocks dequantize to. */
lt_status lt_gptq_run_k(const float *w, int rows, int cols, const lt_gptq_hinv *hv, lt_dtype t, const lt_gptq_opts *o,
                        void *blocks, float *wq, double *loss, lt_err *err);
/* The inverse's upper factor U (cols x cols, row-major, in the permuted order: the identity when
 * made without act_order) and the dead inputs (H_ii == 0); SparseGPT (sparse24.c) shares them. */
const float *lt_gptq_hinv_factor(const lt_gptq_hinv *hv, const bool **dead);

#endif
