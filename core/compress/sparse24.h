/* sparse24.h - N:M structured pruning of one matrix (2:4 by default): of each M consecutive
 * input weights of a row, N are kept. Three ways to choose them:
 *  - magnitude: the N largest |w|;
 *  - wanda (Sun et al. 2023, locuslab/wanda): the N largest |w_ij| * ||X_j||_2, the input
 *    column's norm over the calibration tokens (sqrt of the Hessian's diagonal), per output row;
 *  - sparsegpt (Frantar & Alistarh 2023, IST-DASLab/sparsegpt's fasterprune with prunen/prunem):
 *    the inverse Hessian's upper Cholesky factor U (gptq.h's, damped, no act-order), columns in
 *    lazy blocks of 128; at each group of M columns the mask keeps the N largest w^2 / U_jj^2 of
 *    the updated weights, and every column's error (w - q) / U_jj is propagated to the columns
 *    after it, as GPTQ does.
 * The kept values: f16 (bits 16; the propagation uses the f16-rounded values), or 4-bit (bits
 * 4, 2:4 only: s24_q4's quantizer per block of 64 columns = 32 kept values, min/max with f16 d
 * and m, core/base/quants.h). With sparsegpt the 4-bit quantization happens in the same pass
 * (SparseGPT's joint mode): a block's d and m come from the updated weights when the loop
 * reaches the block (its kept values chosen provisionally by the same score), then each kept
 * value is quantized as its column is reached and the quantization error is propagated too.
 * Leaves out: unstructured sparsity ratios, collecting H (calib.c), storage (quants_s24.c).
 */
#ifndef LT_SPARSE24_H
#define LT_SPARSE24_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/dtype.h"
#include "gptq.h"

typedef enum lt_sparse_mask { LT_MASK_MAGNITUDE, LT_MASK_WANDA, LT_MASK_SPARSEGPT } lt_sparse_mask;

/* "magnitude", "wanda", "sparsegpt" <-> the enum; false / NULL when unknown */
bool lt_sparse_mask_parse(const char *name, lt_sparse_mask *m);
const char *lt_sparse_mask_name(lt_sparse_mask m);
/* "2:4", "4:8", ...: 1 <= n < m <= 16; false when malformed */
bool lt_sparse_nm_parse(const char *s, int *n, int *m);

typedef struct lt_sparse_opts {
    lt_sparse_mask mask;
    int n, m;   /* keep n of each m; 0: 2 of 4 */
    int bits;   /* 16 (f16 kept values) or 4 (2:4 only) */
    float damp; /* sparsegpt: as gptq.h's (0 = 0.01) */
} lt_sparse_opts;

/* What one matrix became (arrays the caller allocates): keep and wq rows * cols (wq: the chosen
 * weights, 0 where pruned); with bits 4 also the codes q (rows * cols, meaningful where kept)
 * and d, m (rows * cols / 64). */
typedef struct lt_sparse_out {
    uint8_t *keep;
    float *wq;
    uint8_t *q;
    float *d, *m;
} lt_sparse_out;

/* Prunes w (rows x cols). h: cols x cols sum of x x^T (wanda; NULL for magnitude); hv: the
 * inverse made with lt_gptq_hinv_create(h, act_order false) (sparsegpt; may be shared by the
 * matrices of one input). loss (may be NULL): sparsegpt's sum (w - q)^2 / U_jj^2 / 2 (else 0). */
lt_status lt_sparse_prune(const float *w, int rows, int cols, const double *h, const lt_gptq_hinv *hv,
                          const lt_sparse_opts *o, const lt_sparse_out *out, double *loss, lt_err *err);

/* The dtype a pruned matrix is stored in: s24_f16 / s24_q4 for 2:4, f16 (zeros stored) else. */
lt_dtype lt_sparse_dtype(const lt_sparse_opts *o);
/* One row of a pruned matrix as dt (s24_f16: cols a multiple of 16; s24_q4: of 64, bits 4; f16:
 * the chosen weights with the zeros) - row r of out, cols wide - into dst. */
void lt_sparse_pack_row(lt_dtype dt, const lt_sparse_out *out, int r, int cols, void *dst);

/* Comma-separated glob patterns (fnmatch) of tensor names left dense: true when name matches. */
bool lt_sparse_skip_match(const char *patterns, const char *name);

#endif
