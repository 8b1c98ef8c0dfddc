/* quant.c - row conversion between f32 and the weight dtypes for the CPU backend's kernels:
 * the host row conversions of the dtype table (core/base/dtype.c, which holds the AVX2 q8_0
 * quantizer and the F16C f16 widening, bit-identical to lt_math.h's formulas).
 * Leaves out: k-quants, importance matrices.
 */
#include "core/base/dtype.h"
#include "cpu_impl.h"

void lt_cpu_quant_q8_0(const float *x, lt_block_q8_0 *y, int64_t n) { lt_dtype_row_from_f32(LT_Q8_0, x, y, n); }

void lt_cpu_dequant_row(lt_dtype t, const void *src, float *dst, int64_t n) { lt_dtype_row_to_f32(t, src, dst, n); }

void lt_cpu_quant_row(lt_dtype t, const float *src, void *dst, int64_t n) { lt_dtype_row_from_f32(t, src, dst, n); }
