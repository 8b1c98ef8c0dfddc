/* gemv.cuh - what the GEMV kernels of matmul.cu (f32, f16, bf16, q8_0, q4_0) and matmul_quants.cu
 * (the other quantized types) share: the launch shape (one warp per output row, GEMV_WARPS rows per
 * thread block, up to GEMV_MAX_T tokens per call), the 4-element dot product with float4
 * activation loads, and the warp reduction + bias + store of a row's T results.
 */
#ifndef LT_CUDA_GEMV_CUH
#define LT_CUDA_GEMV_CUH

#include "cuda_common.cuh"

#define GEMV_WARPS 4 /* output rows per thread block */
#define GEMV_MAX_T 8

/* Adds x[t] . v over 4 consecutive elements starting at element e of each token row (xp + e
 * 16-byte aligned). */
#define DOT4(acc, xp, e, a0, a1, a2, a3)                                                     \
    do {                                                                                     \
        float4 xv_ = *(const float4 *)((xp) + (e));                                          \
        (acc) += (a0) * xv_.x + (a1) * xv_.y + (a2) * xv_.z + (a3) * xv_.w;                  \
    } while (0)

/* Sums each token's partial over the warp; lane 0 writes y[t, n] (+ bias[n]). */
template <int NT>
static __device__ __forceinline__ void gemv_store(float *y, const float *bias, const float (&acc)[NT], int64_t N,
                                                  int64_t n) {
    float b = bias ? bias[n] : 0.0f;
#pragma unroll
    for (int t = 0; t < NT; t++) {
        float s = lt_cu_warp_sum(acc[t]);
        if ((threadIdx.x & 31) == 0) y[t * N + n] = s + b;
    }
}

#endif
