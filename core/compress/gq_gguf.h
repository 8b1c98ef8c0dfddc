/* gq_gguf.h - a group-quantized matrix (gq.h) with groups of 32 as ggml's blocks, written
 * from its codes (no rounding again): symmetric 4-bit -> Q4_0 (d = scale; ggml's zero is 8),
 * asymmetric 4-bit -> Q4_1 (d = scale, m = f16(-scale * zero)), symmetric 5-bit -> Q5_0,
 * asymmetric 5-bit -> Q5_1, symmetric 8-bit -> Q8_0 (q - 128 as int8). Scales are stored as
 * f16: GPTQ with lt_gptq_opts.ggml has already rounded them, so the blocks dequantize to
 * exactly the weights it chose.
 * And back (lt_gq_from_blocks): Q4_0, Q8_0, Q4_1 and the gq4 types as codes, scales and zeros,
 * for writing a GGUF model as an AutoGPTQ folder (core/compress/save.c).
 * Leaves out: other group sizes and bit widths (AutoGPTQ folders: the HF writer), K-quants.
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

#endif
