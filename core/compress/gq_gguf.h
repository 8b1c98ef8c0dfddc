/* gq_gguf.h - a group-quantized matrix (gq.h) with groups of 32 as ggml's blocks, written
 * from its codes (no rounding again): symmetric 4-bit -> Q4_0 (d = scale; ggml's zero is 8),
 * asymmetric 4-bit -> Q4_1 (d = scale, m = f16(-scale * zero)), symmetric 5-bit -> Q5_0,
 * asymmetric 5-bit -> Q5_1, symmetric 8-bit -> Q8_0 (q - 128 as int8). Scales are stored as
 * f16: GPTQ with lt_gptq_opts.ggml has already rounded them, so the blocks dequantize to
 * exactly the weights it chose.
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

#endif
