/* quants.h - GGML's reference quantizers for the lt_quants.h weight types: a row of n floats (n a
 * multiple of the type's block) -> blocks byte-identical to what GGML's ggml_quantize_chunk
 * writes without an importance matrix (what llama-quantize writes without --imatrix).
 *
 * Host only; the dtype table (dtype.c) calls them as its from_f32 conversions. One file per
 * family: quants_legacy.c (q4_1, q5_0, q5_1), quants_k.c (q4_K, q5_K, q6_K), quants_k2.c (q2_K,
 * q3_K, iq4_nl, iq4_xs).
 * Leaves out: importance-matrix weighting (llama-quantize --imatrix), the IQ1/IQ2/IQ3 types.
 */
#ifndef LT_QUANTS_ROWS_H
#define LT_QUANTS_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/lt_math.h"

void lt_quantize_row_q4_1(const float *x, void *y, int64_t n);
void lt_quantize_row_q5_0(const float *x, void *y, int64_t n);
void lt_quantize_row_q5_1(const float *x, void *y, int64_t n);

/* q4_0 rows <-> LT_Q4_0_R8 groups (lt_block_q4_0x8 in lt_math.h): rows (a multiple of 8) plain
 * q4_0 rows of K elements (a multiple of 32) packed into rows / 8 groups, and back (the same
 * bytes; src and dst must not overlap). */
void lt_q4_0_r8_pack(const void *src, void *dst, int64_t rows, int64_t K);
void lt_q4_0_r8_unpack(const void *src, void *dst, int64_t rows, int64_t K);
void lt_quantize_row_q4_K(const float *x, void *y, int64_t n);
void lt_quantize_row_q5_K(const float *x, void *y, int64_t n);
void lt_quantize_row_q6_K(const float *x, void *y, int64_t n);
void lt_quantize_row_q2_K(const float *x, void *y, int64_t n);
void lt_quantize_row_q3_K(const float *x, void *y, int64_t n);
void lt_quantize_row_iq4_nl(const float *x, void *y, int64_t n);
void lt_quantize_row_iq4_xs(const float *x, void *y, int64_t n);

/* The gq4 types (quants_gq.c): round-to-nearest, min/max per group (not a GGML type). */
void lt_quantize_row_gq4_32(const float *x, void *y, int64_t n);
void lt_quantize_row_gq4_64(const float *x, void *y, int64_t n);
void lt_quantize_row_gq4_128(const float *x, void *y, int64_t n);
/* Elements per block of a gq4 type (32, 64, 128), 0 for any other dtype. */
int lt_gq4_block(lt_dtype t);
/* The gq4 type (largest block first) whose blocks each lie inside one group of a row of cols
 * columns quantized in groups of group (<= 0: the whole row) with the given group of each column
 * (g_idx, or NULL: c / group); LT_DTYPE_COUNT when none fits (cols not a multiple of 32, or
 * act-order groups that are not runs of 32). */
lt_dtype lt_gq4_dtype_for(int group, int64_t cols, const int32_t *g_idx);
/* One row of cols codes (0..15) with its per-group scale and integer zero (indexed by group)
 * -> blocks of t (scale and zero rounded to f16). */
void lt_gq4_pack_row(lt_dtype t, const uint8_t *q, const float *scale, const float *zero, const int32_t *g_idx,
                     int group, int64_t cols, void *row);

/* The 2:4 sparse types (quants_s24.c, kernels/lt_quants.h). keep[j] != 0 marks the kept
 * columns of a row of n (a multiple of the block): exactly 2 of each 4 (not checked here).
 * lt_nm_keep: keep the n_keep largest score of each m consecutive (m <= 64); on ties the columns
 * torch.topk(largest=False) on the CPU prunes, as the authors' pruning code does (quants_s24.c). */
void lt_nm_keep(const float *score, int64_t n, int n_keep, int m, uint8_t *keep);
/* w's kept values as f16 -> s24_f16 blocks. */
void lt_s24_pack_f16(const float *w, const uint8_t *keep, int64_t n, void *row);
/* Kept codes q[j] (0..15, read only where kept) with d[b], m[b] per block of 64 -> s24_q4. */
void lt_s24_pack_q4(const uint8_t *q, const uint8_t *keep, const float *d, const float *m, int64_t n, void *row);
/* The s24_q4 quantizer of one block's 32 kept values x[0..32): min/max, d = f16((max-min)/15),
 * m = f16(min), q = clamp(round((x - m) / d)); the chosen values into xq (may be NULL). */
void lt_s24_q4_params(const float *x, uint8_t *q, float *d, float *m, float *xq);
/* from_f32 of the dtype table: magnitude 2:4 (the 2 largest |x| of each 4), then pack. */
void lt_quantize_row_s24_f16(const float *x, void *y, int64_t n);
void lt_quantize_row_s24_q4(const float *x, void *y, int64_t n);
/* The first block of n elements of s24 data whose position bits are not two distinct columns
 * in increasing order per group (a malformed file: the kernels would disagree), or -1 when every
 * block is well formed; -1 for other dtypes. */
int64_t lt_s24_check(lt_dtype dt, const void *data, int64_t n);

#endif
