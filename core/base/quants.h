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

#include <stdint.h>

void lt_quantize_row_q4_1(const float *x, void *y, int64_t n);
void lt_quantize_row_q5_0(const float *x, void *y, int64_t n);
void lt_quantize_row_q5_1(const float *x, void *y, int64_t n);
void lt_quantize_row_q4_K(const float *x, void *y, int64_t n);
void lt_quantize_row_q5_K(const float *x, void *y, int64_t n);
void lt_quantize_row_q6_K(const float *x, void *y, int64_t n);
void lt_quantize_row_q2_K(const float *x, void *y, int64_t n);
void lt_quantize_row_q3_K(const float *x, void *y, int64_t n);
void lt_quantize_row_iq4_nl(const float *x, void *y, int64_t n);
void lt_quantize_row_iq4_xs(const float *x, void *y, int64_t n);

#endif
