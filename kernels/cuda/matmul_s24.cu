/* matmul_s24.cu - the decode GEMV of the 2:4 sparse weight types (s24_f16, s24_q4; blocks in
 * kernels/lt_quants.h): y[T,N] = x[T,K] . w[N,K]^T (+ bias) for T <= 8, reading only the kept
 * values. One warp per output row; lane i takes blocks i, i + 32, ... of the row, so a warp
 * reads 32 consecutive blocks per step (576 bytes of s24_f16, 896 of s24_q4). s24_f16 blocks are
 * 18 bytes (2-byte loads); s24_q4 blocks 28 (4-byte loads, rows 4-byte aligned). Each kept value
 * multiplies the activation at its column (read through the read-only cache), f32 accumulation,
 * the kept values in block order as the CPU kernel takes them.
 * Prefill (T > 8) of s24_f16: a sparse tensor-core GEMM (mma.sp::ordered_metadata m16n8k32, f16 x
 * f16 -> f32; the positions of a pair are increasing, which the loader checks: lt_s24_check)
 * that reads the blocks as they are: kernels/lt_s24mma.h maps them to the A operand (the kept
 * values are its compressed 16 x 16 values, a block's meta halfword is the metadata of 16 columns
 * of a row). A CTA of 4 warps computes 64 rows x 64 tokens; per 32-column step the activations
 * are converted to f16 in shared memory (B operand) and each warp issues 8 mma.sp (16 rows x 8
 * tokens each) with its A fragments and metadata loaded from the blocks; bias in the epilogue.
 * s24_q4 prefill dequantizes tiles to f16 for cuBLAS in matmul.cu (lt_quants_get's formula
 * through lt_cu_elem).
 * Leaves out: cp.async pipelining / Sparse-Marlin's re-laid-out weights (one 2-byte load per
 * kept value pair here), mma.sp for s24_q4.
 */
#include "gemv.cuh"
#include "kernels/lt_s24mma.h"

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

/* ---- T > 8, s24_f16: mma.sp.sync.m16n8k32 ------------------------------------------------- */

#define S24MMA_WARPS 4
#define S24MMA_BM (S24MMA_WARPS * LT_S24MMA_M) /* rows of W per CTA */
#define S24MMA_BT 64                            /* tokens per CTA: 8 mma columns of 8 */
#define S24MMA_XS (LT_S24MMA_K + 8)             /* shared row stride in halves (conflict-free B reads) */

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
static __device__ __forceinline__ void mma_sp_16832(const uint32_t (&a)[4], const uint32_t (&b)[4], uint32_t e,
                                                    float (&c)[4]) {
    asm volatile("mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9,%10,%11}, {%0,%1,%2,%3}, %12, 0x0;\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(b[2]), "r"(b[3]), "r"(e));
}
#endif

static __global__ void __launch_bounds__(S24MMA_WARPS * 32)
    mma_s24_f16(float *__restrict__ y, const float *__restrict__ x, const uint16_t *__restrict__ w,
                const float *__restrict__ bias, int T, int64_t N, int K) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
    __shared__ __align__(16) uint16_t xs[S24MMA_BT * S24MMA_XS];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t n0 = (int64_t)blockIdx.x * S24MMA_BM + warp * LT_S24MMA_M;
    const int j0 = blockIdx.y * S24MMA_BT;
    float acc[S24MMA_BT / 8][4];
#pragma unroll
    for (int s = 0; s < S24MMA_BT / 8; s++)
#pragma unroll
        for (int i = 0; i < 4; i++) acc[s][i] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += LT_S24MMA_K) {
        __syncthreads(); /* the previous step's B reads are done */
        /* x[j0 .. +64][k0 .. +32] -> f16, zeros past T and K (thread: pairs of columns) */
        for (int p = threadIdx.x; p < S24MMA_BT * LT_S24MMA_K / 2; p += S24MMA_WARPS * 32) {
            const int jj = p / (LT_S24MMA_K / 2), kk = 2 * (p % (LT_S24MMA_K / 2));
            const int j = j0 + jj, k = k0 + kk; /* K % 16 == 0: k, k + 1 both in or both out */
            float v0 = 0.0f, v1 = 0.0f;
            if (j < T && k < K) {
                v0 = __ldg(x + (int64_t)j * K + k);
                v1 = __ldg(x + (int64_t)j * K + k + 1);
            }
            const __half2 h = __floats2half2_rn(v0, v1);
            *(__half2 *)(xs + jj * S24MMA_XS + kk) = h;
        }
        __syncthreads();
        if (n0 >= N) continue; /* warp-uniform; keeps taking part in the barriers */
        uint16_t ah[8];
        lt_s24mma_a(w, N, K, n0, k0, lane, ah);
        uint32_t a[4];
#pragma unroll
        for (int i = 0; i < 4; i++) a[i] = (uint32_t)ah[2 * i] | (uint32_t)ah[2 * i + 1] << 16;
        const uint32_t e = lt_s24mma_meta(w, N, K, n0, k0, lane);
        const int g = lane >> 2;
#pragma unroll
        for (int s = 0; s < S24MMA_BT / 8; s++) {
            uint32_t b[4];
            const uint16_t *row = xs + (8 * s + g) * S24MMA_XS;
#pragma unroll
            for (int r = 0; r < 4; r++) b[r] = *(const uint32_t *)(row + lt_s24mma_b_row(lane, 2 * r));
            mma_sp_16832(a, b, e, acc[s]);
        }
    }
    if (n0 >= N) return;
#pragma unroll
    for (int s = 0; s < S24MMA_BT / 8; s++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int r, col;
            lt_s24mma_c_pos(lane, i, &r, &col);
            const int64_t n = n0 + r;
            const int j = j0 + 8 * s + col;
            if (n < N && j < T) y[(int64_t)j * N + n] = acc[s][i] + (bias ? bias[n] : 0.0f);
        }
#else
    __trap(); /* the host never launches it below sm_80 (lt_cuda_s24_mma_ok) */
#endif
}

bool lt_cuda_s24_mma_ok(const lt_cuda *c, lt_dtype t, const void *w, int T) {
    return c->cc_major >= 8 && t == LT_S24_F16 && T > GEMV_MAX_T && ((uintptr_t)w & 1) == 0;
}

lt_status lt_cuda_matmul_s24_mma(lt_cuda *c, float *y, const float *x, const void *w, const float *bias, int T,
                                 int64_t N, int K, lt_err *err) {
    const dim3 grid(lt_cu_blocks(N, S24MMA_BM), (unsigned)((T + S24MMA_BT - 1) / S24MMA_BT));
    if (grid.y > 65535u)
        return lt_err_set(err, LT_EUNSUPPORTED, "matmul: %d tokens are too many for the s24_f16 kernel", T);
    mma_s24_f16<<<grid, S24MMA_WARPS * 32, 0, c->stream>>>(y, x, (const uint16_t *)w, bias, T, N, K);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
