/* matmul_s24.cu - the decode GEMV of the 2:4 sparse weight types (s24_f16, s24_q4; blocks in
 * kernels/lt_quants.h): y[T,N] = x[T,K] . w[N,K]^T (+ bias) for T <= 8, reading only the kept
 * values. One warp per output row; lane i takes blocks i, i + 32, ... of the row, so a warp
 * reads 32 consecutive blocks per step (576 bytes of s24_f16, 896 of s24_q4). s24_f16 blocks are
 * 18 bytes (2-byte loads); s24_q4 blocks 28 (4-byte loads, rows 4-byte aligned). Each kept value
 * multiplies the activation at its column (read through the read-only cache), f32 accumulation,
 * the kept values in block order as the CPU kernel takes them. Prefill (T > 8) dequantizes tiles
 * to f16 for cuBLAS in matmul.cu (lt_quants_get's formula through lt_cu_elem).
 * Leaves out: mma.sp tensor-core GEMM for prefill (cuSPARSELt / Sparse-Marlin's layout).
 */
#include "gemv.cuh"

template <int NT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_s24_f16(float *__restrict__ y, const float *__restrict__ x, const uint16_t *__restrict__ w,
                 const float *__restrict__ bias, int64_t N, int K) {
    const int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (n >= N) return;
    const int nb = K / 16;
    const uint16_t *wr = w + (size_t)n * nb * 9; /* 9 halfwords per block */
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int b = lane; b < nb; b += 32) {
        const uint16_t *blk = wr + (size_t)b * 9;
        const uint32_t meta = __ldg(blk);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const float v = lt_cu_h2f(__ldg(blk + 1 + k));
            const int col = 16 * b + 4 * (k >> 1) + ((meta >> (2 * k)) & 3);
#pragma unroll
            for (int t = 0; t < NT; t++) acc[t] += v * __ldg(x + (int64_t)t * K + col);
        }
    }
    gemv_store<NT>(y, bias, acc, N, n);
}

template <int NT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_s24_q4(float *__restrict__ y, const float *__restrict__ x, const uint32_t *__restrict__ w,
                const float *__restrict__ bias, int64_t N, int K) {
    const int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (n >= N) return;
    const int nb = K / 64;
    const uint32_t *wr = w + (size_t)n * nb * 7; /* 7 words per block */
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int b = lane; b < nb; b += 32) {
        const uint32_t *blk = wr + (size_t)b * 7;
        const uint32_t dm = __ldg(blk), m0 = __ldg(blk + 1), m1 = __ldg(blk + 2);
        const float d = lt_cu_h2f((uint16_t)(dm & 0xffff)), m = lt_cu_h2f((uint16_t)(dm >> 16));
        uint32_t qs[4];
#pragma unroll
        for (int i = 0; i < 4; i++) qs[i] = __ldg(blk + 3 + i);
#pragma unroll
        for (int k = 0; k < 32; k++) {
            const int j = k & 15; /* byte j of qs: low nibble kept j, high kept 16 + j */
            const int q = (qs[j >> 2] >> (8 * (j & 3) + 4 * (k >> 4))) & 15;
            const float v = (float)q * d + m;
            const uint32_t mw = k < 16 ? m0 : m1;
            const int col = 64 * b + 4 * (k >> 1) + ((mw >> (2 * (k & 15))) & 3);
#pragma unroll
            for (int t = 0; t < NT; t++) acc[t] += v * __ldg(x + (int64_t)t * K + col);
        }
    }
    gemv_store<NT>(y, bias, acc, N, n);
}

bool lt_cuda_s24_gemv_ok(lt_dtype t, const void *w) {
    return t == LT_S24_F16 ? ((uintptr_t)w & 1) == 0 : t == LT_S24_Q4 ? ((uintptr_t)w & 3) == 0 : false;
}

template <int NT>
static void launch(cudaStream_t st, float *y, const float *x, const void *w, lt_dtype wt, const float *bias, int64_t N,
                   int K) {
    const unsigned grid = lt_cu_blocks(N, GEMV_WARPS);
    const int th = GEMV_WARPS * 32;
    if (wt == LT_S24_F16) gemv_s24_f16<NT><<<grid, th, 0, st>>>(y, x, (const uint16_t *)w, bias, N, K);
    else gemv_s24_q4<NT><<<grid, th, 0, st>>>(y, x, (const uint32_t *)w, bias, N, K);
}

lt_status lt_cuda_gemv_s24(lt_cuda *c, float *y, const float *x, const void *w, lt_dtype wt, const float *bias, int T,
                           int64_t N, int K, lt_err *err) {
    cudaStream_t st = c->stream;
    switch (T) {
    case 1: launch<1>(st, y, x, w, wt, bias, N, K); break;
    case 2: launch<2>(st, y, x, w, wt, bias, N, K); break;
    case 3: launch<3>(st, y, x, w, wt, bias, N, K); break;
    case 4: launch<4>(st, y, x, w, wt, bias, N, K); break;
    case 5: launch<5>(st, y, x, w, wt, bias, N, K); break;
    case 6: launch<6>(st, y, x, w, wt, bias, N, K); break;
    case 7: launch<7>(st, y, x, w, wt, bias, N, K); break;
    default: launch<8>(st, y, x, w, wt, bias, N, K); break;
    }
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
