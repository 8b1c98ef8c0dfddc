/* gq_gguf.h - a group-quantized matrix (gq.h) with groups of 32 as ggml's blocks, written
 * from its codes (no rounding again): symmetric 4-bit -> Q4_0 (d = scale; ggml's zero is 8),
 * asymmetric 4-bit -> Q4_1 (d = scale, m = f16(-scale * zero)), symmetric 5-bit -> Q5_0,
 * asymmetric 5-bit -> Q5_1, symmetric 8-bit -> Q8_0 (q - 128 as int8). Scales are stored as
 * f16: GPTQ with lt_gptq_opts.ggml has already rounded them, so the blocks dequantize to
 * exactly the weights it chose.
 * And back (lt_gq_from_blocks): Q4_0, Q8_0, Q4_1 and the gq4 types as codes, scales and zeros,
 * for writing a GGUF model as an AutoGPTQ folder (core/compress/save.c).
 * K-quants (lt_gq_k_*): a super-block of 256 columns as GPTQ's grid. ggml's own quantizer
 * (core/base/quants.h, llama-quantize's without an importance matrix) picks the block's f16
 * d/dmin and its sub-block scales/mins from 256 weights; each sub-block (32 columns for
 * q4_K/q5_K, 16 for q2_K/q3_K/q6_K; along the row, column j of the block in sub-block j / sub)
 * is then the grid d1 * q - m1 (q2_K, q4_K, q5_K: q in 0..maxq) or d1 * q (q3_K, q6_K: q in
 * -4..3, -32..31) with d1, m1 computed as ggml's dequantizer does, so the value returned for a
 * code is bit-for-bit what the block dequantizes to once the codes are packed into it.
 * Leaves out: other group sizes and bit widths (AutoGPTQ folders: the HF writer), importance-
 * matrix scale searches.
 */
#ifndef LT_GQ_GGUF_H
#define LT_GQ_GGUF_H

#include "core/base/dtype.h"
#include "gq.h"

/* The ggml type of (bits, sym, group 32), or LT_DTYPE_COUNT with a message naming what fits. */
lt_dtype lt_gq_ggml_type(int bits, bool sym, int group, char *why, size_t cap);

/* Packs m (its type: lt_gq_ggml_type) into out (lt_row_bytes(type, cols) * rows bytes). */
lt_status lt_gq_to_ggml(const lt_gq_matrix *m, lt_dtype type, void *out, lt_err *err);

/* The matrix (rows x cols, row-major blocks of t) as group-quantized codes with groups of
 * `group` columns (a divisor of t's block: 32 for Q4_0/Q4_1/Q8_0, 32/64/128 for gq4_*; a
 * block's scale and zero repeated over its groups). Q4_0 -> 4-bit symmetric (zero 8), Q8_0 ->
 * 8-bit symmetric (zero 128), gq4 -> 4-bit with its zeros (sym when every zero is 8): exact.
 * Q4_1 (d, m) -> zero = round(-m / d) when that is within 0.01 of an integer in 0..15 (what
 * GPTQ writes: m = f16(-scale * zero)); *max_dev (may be NULL) gets the largest |d*(q-z) -
 * (d*q + m)| over such blocks (0 for the exact types). Other types, or Q4_1 blocks whose
 * mins are no integer multiple of their scale: LT_EUNSUPPORTED saying which. */
lt_status lt_gq_from_blocks(const void *data, lt_dtype t, int rows, int cols, int group, lt_gq_matrix *m,
                            double *max_dev, lt_err *err);

/* The bits and symmetry of GPTQ's groups of 32 that type t holds (the inverse of
 * lt_gq_ggml_type); false for other types. */
bool lt_gq_ggml_grid(lt_dtype t, int *bits, bool *sym);

/* One K-quant sub-block's grid. */
typedef struct lt_gq_k_grid {
    float d1, m1;
} lt_gq_k_grid;

/* Columns per sub-block of K-quant t (32: q4_K, q5_K; 16: q2_K, q3_K, q6_K), 0 for other types. */
int lt_gq_k_sub(lt_dtype t);
/* ggml's quantization of x[0..256) into one block of t (written to block: its scales stay,
 * lt_gq_k_pack later replaces its codes) and the grid of each of its 256 / sub sub-blocks. */
void lt_gq_k_params(lt_dtype t, const float *x, void *block, lt_gq_k_grid *g);
/* The grid point nearest x (clamped) as its code (what lt_gq_k_pack stores) and its exact value. */
float lt_gq_k_value(lt_dtype t, const lt_gq_k_grid *g, float x, uint8_t *code);
/* Codes q[0..256) (lt_gq_k_value's) into the block, keeping its d, dmin and scales. */
void lt_gq_k_pack(lt_dtype t, const uint8_t *q, void *block);

#endif
