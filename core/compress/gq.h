/* gq.h - a group-quantized matrix as GPTQ and round-to-nearest produce it, before it is packed
 * into any file or weight format: the integer codes, the per-group scales and zero points, and
 * the group of each input column (act-order makes that non-monotone).
 *
 * Rows are output features, columns input features (W is rows x cols, y = W x), as in GGUF and
 * Hugging Face's nn.Linear weight. The dequantized weight is
 *     w[r][c] = scale[r * n_groups + g] * ((float)q[r * cols + c] - zero[r * n_groups + g]),
 *     g = g_idx ? g_idx[c] : c / group
 * with q in [0, 2^bits - 1] and zero an integer in that range (symmetric: 2^(bits-1)), which is
 * what AutoGPTQ's checkpoints store (gptq_v2 zero convention) and what maps onto ggml's blocks
 * (Q4_0: zero 8; Q4_1: min = -scale * zero).
 * The writers (AutoGPTQ folders, GGUF blocks) and the group-quantized weight type read this.
 * Leaves out: producing it (gptq.c, rtn), packing (the writers).
 */
#ifndef LT_GQ_H
#define LT_GQ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"

typedef struct lt_gq_matrix {
    int rows, cols;   /* out x in */
    int bits;         /* 2, 3, 4, 5, 8 */
    int group;        /* columns per group (cols when the whole row is one group) */
    int n_groups;     /* ceil(cols / group) */
    bool sym;         /* zero == 2^(bits-1) everywhere */
    uint8_t *q;       /* rows * cols codes */
    float *scale;     /* rows * n_groups */
    float *zero;      /* rows * n_groups, integer-valued */
    int32_t *g_idx;   /* cols, or NULL: column c is in group c / group */
} lt_gq_matrix;

/* Allocates the arrays of a rows x cols matrix (codes zeroed; g_idx only with act_order).
 * group <= 0 means one group per row. */
lt_status lt_gq_alloc(lt_gq_matrix *m, int rows, int cols, int bits, int group, bool sym, bool act_order,
                      lt_err *err);
void lt_gq_free(lt_gq_matrix *m); /* frees the arrays (the struct itself is the caller's); NULL-safe */

/* Writes the dequantized weight (rows * cols floats) into w. */
void lt_gq_dequant(const lt_gq_matrix *m, float *w);

#endif
