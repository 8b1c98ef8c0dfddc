/* matmul.cu - y[T,N] = x[T,K] . w[N,K]^T (+ bias[N]) for f32, f16, bf16 and every quantized
 * weight type (the kernels of GGML's other block types are in matmul_quants.cu).
 *
 * T <= 8 (decode, short verification batches): own GEMV kernels, one warp per output row n
 * computing it for all T tokens at once, so each weight byte is read once per call. Weights
 * are read with 16-byte loads (f32/f16/bf16; q8_0/q4_0 blocks are only 2-byte aligned, so
 * four lanes share a block, each reading 8 (q8_0) or 4 (q4_0) contiguous quant bytes with
 * 2-byte loads: a warp reads 8 whole consecutive blocks per step). The lt_quants.h types use
 * matmul_quants.cu's block-wise GEMV (16-element chunks per lane); the 2:4 sparse types
 * matmul_s24.cu's. Dequantization is fused,
 * accumulation is f32. Rows whose size or alignment rules out vector loads take a scalar
 * kernel.
 * T > 8 (prefill): s24_f16 weights take matmul_s24.cu's mma.sp kernel; the rest cuBLAS
 * GemmEx, f32 accumulate and output. f32 weights: plain f32 GEMM
 * (no TF32). f16/bf16 weights: x is converted to the weight's type in a scratch buffer.
 * Quantized weights: x goes to f16, and the weight is dequantized to f16 tile by tile
 * (up to 64 MiB per tile; block-wise by matmul_quants.cu) into a second scratch buffer, each
 * tile one GemmEx.
 * gq4 matrices uploaded in the W4A16 layout (matmul_marlin.cu's table) take that kernel for
 * T <= LT_MARLIN_MAX_T and its element reads for the f16 tiles above; other gq4 matrices the
 * block-wise GEMV / tiles.
 * lowrank (y += alpha . (x . v^T) . v, v [R, K] f32/f16/bf16): the matmul into scratch, then one
 * thread per output element.
 * Leaves out: int8 tensor-core paths, fused bias in the GEMM epilogue (cublasLt).
 */
#include "gemv.cuh"
#include "kernels/lt_marlin.h"

#define WTILE_BYTES ((size_t)64 << 20)

/* f32 weights, K % 4 == 0, 16-byte aligned rows. */
template <int NT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_f32(float *__restrict__ y, const float *__restrict__ x, const float *__restrict__ w,
             const float *__restrict__ bias, int64_t N, int K) {
    int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (n >= N) return; /* uniform per warp; no block-wide barrier follows */
    const float4 *wr = (const float4 *)(w + n * K);
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int i = lane; i < K / 4; i += 32) {
        float4 a = __ldg(wr + i);
#pragma unroll
        for (int t = 0; t < NT; t++) DOT4(acc[t], x + (int64_t)t * K, 4 * i, a.x, a.y, a.z, a.w);
    }
    gemv_store<NT>(y, bias, acc, N, n);
}

/* Two packed 16-bit values -> floats (lo is the element at the lower address). */
static __device__ __forceinline__ float2 unpack_f16(uint32_t u) {
    return __half22float2(*(const __half2 *)&u);
}
static __device__ __forceinline__ float2 unpack_bf16(uint32_t u) {
    return make_float2(__uint_as_float(u << 16), __uint_as_float(u & 0xffff0000u));
}

/* f16 or bf16 weights, K % 8 == 0, 16-byte aligned rows: 8 weights per 16-byte load. */
template <int NT, bool BF16>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_h(float *__restrict__ y, const float *__restrict__ x, const uint16_t *__restrict__ w,
           const float *__restrict__ bias, int64_t N, int K) {
    int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (n >= N) return;
    const uint4 *wr = (const uint4 *)(w + n * K);
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int i = lane; i < K / 8; i += 32) {
        uint4 raw = __ldg(wr + i);
        float2 p0 = BF16 ? unpack_bf16(raw.x) : unpack_f16(raw.x);
        float2 p1 = BF16 ? unpack_bf16(raw.y) : unpack_f16(raw.y);
        float2 p2 = BF16 ? unpack_bf16(raw.z) : unpack_f16(raw.z);
        float2 p3 = BF16 ? unpack_bf16(raw.w) : unpack_f16(raw.w);
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float *xt = x + (int64_t)t * K;
            DOT4(acc[t], xt, 8 * i, p0.x, p0.y, p1.x, p1.y);
            DOT4(acc[t], xt, 8 * i + 4, p2.x, p2.y, p3.x, p3.y);
        }
    }
    gemv_store<NT>(y, bias, acc, N, n);
}

/* q8_0 weights: lane s = lane%4 of a block reads quants [8s, 8s+8) (four 2-byte loads). */
template <int NT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_q8_0(float *__restrict__ y, const float *__restrict__ x, const lt_block_q8_0 *__restrict__ w,
              const float *__restrict__ bias, int64_t N, int K) {
    int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31, s = lane & 3;
    if (n >= N) return;
    int nb = K / LT_QK8_0;
    const lt_block_q8_0 *wr = w + n * nb;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int b = lane >> 2; b < nb; b += 8) {
        const lt_block_q8_0 *blk = wr + b;
        float d = lt_cu_h2f(__ldg(&blk->d));
        const uint16_t *q16 = (const uint16_t *)(blk->q + 8 * s);
        float q[8];
#pragma unroll
        for (int k = 0; k < 4; k++) {
            uint16_t u = __ldg(q16 + k);
            q[2 * k] = (float)(int8_t)(u & 0xff);
            q[2 * k + 1] = (float)(int8_t)(u >> 8);
        }
        int e = b * LT_QK8_0 + 8 * s;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float *xt = x + (int64_t)t * K;
            float p = 0.0f;
            DOT4(p, xt, e, q[0], q[1], q[2], q[3]);
            DOT4(p, xt, e + 4, q[4], q[5], q[6], q[7]);
            acc[t] += d * p;
        }
    }
    gemv_store<NT>(y, bias, acc, N, n);
}

/* q4_0 weights: lane s = lane%4 of a block reads quant bytes [4s, 4s+4): elements 4s..4s+3
 * (low nibbles) and 16+4s..16+4s+3 (high nibbles). */
template <int NT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_q4_0(float *__restrict__ y, const float *__restrict__ x, const lt_block_q4_0 *__restrict__ w,
              const float *__restrict__ bias, int64_t N, int K) {
    int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31, s = lane & 3;
    if (n >= N) return;
    int nb = K / LT_QK4_0;
    const lt_block_q4_0 *wr = w + n * nb;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int b = lane >> 2; b < nb; b += 8) {
        const lt_block_q4_0 *blk = wr + b;
        float d = lt_cu_h2f(__ldg(&blk->d));
        const uint16_t *q16 = (const uint16_t *)(blk->q + 4 * s);
        uint32_t u = (uint32_t)__ldg(q16) | ((uint32_t)__ldg(q16 + 1) << 16);
        float lo[4], hi[4];
#pragma unroll
        for (int k = 0; k < 4; k++) {
            lo[k] = (float)((int)((u >> (8 * k)) & 15) - 8);
            hi[k] = (float)((int)((u >> (8 * k + 4)) & 15) - 8);
        }
        int e = b * LT_QK4_0 + 4 * s;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            const float *xt = x + (int64_t)t * K;
            float p = 0.0f;
            DOT4(p, xt, e, lo[0], lo[1], lo[2], lo[3]);
            DOT4(p, xt, e + LT_QK4_0 / 2, hi[0], hi[1], hi[2], hi[3]);
            acc[t] += d * p;
        }
    }
    gemv_store<NT>(y, bias, acc, N, n);
}

/* Any dtype, any size or alignment: element by element. */
template <int NT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_scalar(float *__restrict__ y, const float *__restrict__ x, const void *__restrict__ w, lt_dtype wt,
                const float *__restrict__ bias, int64_t N, int K) {
    int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (n >= N) return;
    const char *wr = (const char *)w + (size_t)n * lt_row_bytes(wt, K);
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int k = lane; k < K; k += 32) {
        float a = lt_cu_elem(wt, wr, k);
#pragma unroll
        for (int t = 0; t < NT; t++) acc[t] += a * x[(int64_t)t * K + k];
    }
    gemv_store<NT>(y, bias, acc, N, n);
}

enum { K_F32, K_F16, K_BF16, K_Q8_0, K_Q4_0, K_BLOCKS, K_SCALAR };

template <int NT>
static void launch_gemv(int kind, cudaStream_t st, float *y, const float *x, const void *w, lt_dtype wt,
                        const float *bias, int64_t N, int K) {
    unsigned grid = lt_cu_blocks(N, GEMV_WARPS);
    const int th = GEMV_WARPS * 32;
    switch (kind) {
    case K_F32: gemv_f32<NT><<<grid, th, 0, st>>>(y, x, (const float *)w, bias, N, K); break;
    case K_F16: gemv_h<NT, false><<<grid, th, 0, st>>>(y, x, (const uint16_t *)w, bias, N, K); break;
    case K_BF16: gemv_h<NT, true><<<grid, th, 0, st>>>(y, x, (const uint16_t *)w, bias, N, K); break;
    case K_Q8_0: gemv_q8_0<NT><<<grid, th, 0, st>>>(y, x, (const lt_block_q8_0 *)w, bias, N, K); break;
    case K_Q4_0: gemv_q4_0<NT><<<grid, th, 0, st>>>(y, x, (const lt_block_q4_0 *)w, bias, N, K); break;
    default: gemv_scalar<NT><<<grid, th, 0, st>>>(y, x, w, wt, bias, N, K); break;
    }
}

static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

static int gemv_kind(lt_dtype wt, const void *w, const void *x, int K) {
    bool xa = aligned16(x) && K % 4 == 0; /* every token row 16-byte aligned */
    switch (wt) {
    case LT_F32: return xa && aligned16(w) ? K_F32 : K_SCALAR;
    case LT_F16: return xa && K % 8 == 0 && aligned16(w) ? K_F16 : K_SCALAR;
    case LT_BF16: return xa && K % 8 == 0 && aligned16(w) ? K_BF16 : K_SCALAR;
    case LT_Q8_0: return xa && ((uintptr_t)w & 1) == 0 ? K_Q8_0 : K_SCALAR;
    case LT_Q4_0: return xa && ((uintptr_t)w & 1) == 0 ? K_Q4_0 : K_SCALAR;
    default: return xa && lt_cuda_quant_blockwise(wt, w) ? K_BLOCKS : K_SCALAR; /* matmul_quants.cu */
    }
}

static lt_status gemv(lt_cuda *c, float *y, const float *x, const void *w, lt_dtype wt, const float *bias, int T,
                      int64_t N, int K, lt_err *err) {
    if (lt_cuda_s24_gemv_ok(wt, w)) return lt_cuda_gemv_s24(c, y, x, w, wt, bias, T, N, K, err); /* 2:4 sparse */
    int kind = gemv_kind(wt, w, x, K);
    if (kind == K_BLOCKS) return lt_cuda_gemv_blocks(c, y, x, w, wt, bias, T, N, K, err);
    cudaStream_t st = c->stream;
    switch (T) {
    case 1: launch_gemv<1>(kind, st, y, x, w, wt, bias, N, K); break;
    case 2: launch_gemv<2>(kind, st, y, x, w, wt, bias, N, K); break;
    case 3: launch_gemv<3>(kind, st, y, x, w, wt, bias, N, K); break;
    case 4: launch_gemv<4>(kind, st, y, x, w, wt, bias, N, K); break;
    case 5: launch_gemv<5>(kind, st, y, x, w, wt, bias, N, K); break;
    case 6: launch_gemv<6>(kind, st, y, x, w, wt, bias, N, K); break;
    case 7: launch_gemv<7>(kind, st, y, x, w, wt, bias, N, K); break;
    default: launch_gemv<8>(kind, st, y, x, w, wt, bias, N, K); break;
    }
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

/* ---- T > 8: cuBLAS ----------------------------------------------------------------------- */

/* Rows [0, rows) of a quantized matrix -> f16, one thread per element (blocks not aligned for
 * lt_cuda_dequant_blocks). */
static __global__ void dequant_f16_kernel(uint16_t *dst, const void *w, lt_dtype wt, int64_t rows, int K) {
    size_t rb = lt_row_bytes(wt, K);
    int64_t n = rows * K;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / K;
        int k = (int)(i - r * K);
        dst[i] = lt_f32_to_f16(lt_cu_elem(wt, (const char *)w + (size_t)r * rb, k));
    }
}

static __global__ void add_bias_kernel(float *y, const float *bias, int64_t T, int64_t N) {
    int64_t n = T * N;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] += bias[i % N];
}

/* Column-major view: y^T [N, T] = w [K, N]^T . x^T [K, T] (row-major w[N,K] is col-major K x N). */
static lt_status gemm(lt_cuda *c, float *y, const void *w, cudaDataType wtype, const void *x, cudaDataType xtype,
                      int T, int N, int K, int ldy, lt_err *err) {
    const float one = 1.0f, zero = 0.0f;
    LT_CUBLAS_TRY(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &one, w, wtype, K, x, xtype, K, &zero, y,
                               CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                  err);
    return LT_OK;
}

/* G > 0: w is a gq4 matrix in the W4A16 layout (matmul_marlin.cu), its tiles dequantized from it */
static lt_status matmul_blas(lt_cuda *c, float *y, const float *x, const void *w, lt_dtype wt, int G, int T, int N,
                             int K, lt_err *err) {
    if (wt == LT_F32) return gemm(c, y, w, CUDA_R_32F, x, CUDA_R_32F, T, N, K, N, err);

    /* activations in the weight's 16-bit type (f16 for quantized weights) */
    lt_dtype at = wt == LT_BF16 ? LT_BF16 : LT_F16;
    cudaDataType ct = at == LT_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    void *xa = NULL;
    LT_TRY(lt_cuda_scratch(c, LT_CUDA_SCR_ACT, (size_t)T * K * 2, &xa, err));
    LT_TRY(lt_cuda_f32_to_half(c, xa, at, x, (int64_t)T * K, err));
    if (wt == LT_F16 || wt == LT_BF16) return gemm(c, y, w, ct, xa, ct, T, N, K, N, err);

    if (lt_dtype_block(wt) == 1) /* every blocked type dequantizes (block-wise or through lt_cu_elem) */
        return lt_err_set(err, LT_EUNSUPPORTED, "matmul: %s weights are not supported on cuda", lt_dtype_name(wt));
    /* a tile starts at a whole row of whole blocks: it keeps w's alignment */
    const bool blockwise = lt_cuda_quant_blockwise(wt, w);
    int64_t tile = (int64_t)(WTILE_BYTES / ((size_t)K * 2));
    if (tile < 1) tile = 1;
    if (tile > N) tile = N;
    void *wt16 = NULL;
    LT_TRY(lt_cuda_scratch(c, LT_CUDA_SCR_WTILE, (size_t)tile * K * 2, &wt16, err));
    size_t rb = lt_row_bytes(wt, K);
    for (int64_t n0 = 0; n0 < N; n0 += tile) {
        int64_t nt = N - n0 < tile ? N - n0 : tile;
        const char *wsrc = (const char *)w + (size_t)n0 * rb;
        if (G > 0) {
            LT_TRY(lt_cuda_marlin_dequant(c, wt16, LT_F16, w, G, N, K, n0, nt, err));
        } else if (blockwise) {
            LT_TRY(lt_cuda_dequant_blocks(c, wt16, LT_F16, wsrc, wt, nt * K, err));
        } else {
            dequant_f16_kernel<<<lt_cu_grid(c, nt * K, 256), 256, 0, c->stream>>>((uint16_t *)wt16, wsrc, wt, nt, K);
            LT_CUDA_LAUNCHED(err);
        }
        /* tile rows n0..n0+nt are columns n0.. of y (leading dimension N) */
        LT_TRY(gemm(c, y + n0, wt16, CUDA_R_16F, xa, CUDA_R_16F, T, (int)nt, K, N, err));
    }
    return LT_OK;
}

lt_status lt_cuda_matmul(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *bias,
                         lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t T = x->shape[0], K = x->shape[1], N = w->shape[0];
    if (T == 0 || N == 0) return LT_OK;
    if (K > INT32_MAX / 2 || N > INT32_MAX || T > INT32_MAX)
        return lt_err_set(err, LT_EUNSUPPORTED, "matmul: [%lld, %lld] x [%lld, %lld] is too large for cuda",
                          (long long)T, (long long)K, (long long)N, (long long)K);
    LT_TRY(lt_cuda_enter(c, err));
    float *yd = (float *)y->data;
    const float *bd = bias ? (const float *)bias->data : NULL;
    /* a gq4 matrix uploaded in the W4A16 layout: its kernel up to LT_MARLIN_MAX_T tokens */
    const int G = lt_cuda_marlin_group(c, w, "matmul", err);
    if (G < 0) return LT_EUNSUPPORTED;
    if (G > 0 && T <= LT_MARLIN_MAX_T)
        return lt_cuda_matmul_marlin(c, yd, (const float *)x->data, w->data, G, bd, (int)T, N, K, err);
    if (K == 0) { /* empty sum: y = bias or 0 */
        LT_CUDA_TRY(cudaMemsetAsync(yd, 0, (size_t)T * N * sizeof(float), c->stream), err);
    } else if (T <= GEMV_MAX_T && G == 0) {
        return gemv(c, yd, (const float *)x->data, w->data, w->dtype, bd, (int)T, N, (int)K, err);
    } else if (G == 0 && lt_cuda_s24_mma_ok(c, w->dtype, w->data, (int)T)) { /* 2:4 sparse tensor cores */
        return lt_cuda_matmul_s24_mma(c, yd, (const float *)x->data, w->data, bd, (int)T, N, (int)K, err);
    } else {
        LT_TRY(matmul_blas(c, yd, (const float *)x->data, w->data, w->dtype, G, (int)T, (int)N, (int)K, err));
    }
    if (bd) {
        add_bias_kernel<<<lt_cu_grid(c, T * N, 256), 256, 0, c->stream>>>(yd, bd, T, N);
        LT_CUDA_LAUNCHED(err);
    }
    return LT_OK;
}

/* ---- lowrank: y[T,K] += alpha . (x[T,K] . v^T) . v, v [R, K] ------------------------------------- */

/* z = x . v^T by lt_cuda_matmul into a scratch buffer, then one thread per output element walking
 * the R rows of v in order with one fused multiply-add each, from zero, then y += alpha * sum (a
 * warp reads 32 consecutive columns of a row per step). y may alias x: the second kernel reads z
 * only. The CPU sums the same products in groups of rows (kernels/cpu/lowrank.c), so the two
 * agree to rounding, not bit for bit. */
static __device__ __forceinline__ float lr_widen(float v, int) { return v; }
static __device__ __forceinline__ float lr_widen(uint16_t v, int bf16) {
    return bf16 ? __uint_as_float((uint32_t)v << 16) : __half2float(__ushort_as_half(v));
}

template <typename W>
static __global__ void lowrank_kernel(float *__restrict__ y, const float *__restrict__ z, const W *__restrict__ v,
                                      int bf16, float alpha, int R, int64_t K) {
    const int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t t = blockIdx.y;
    if (j >= K) return;
    float acc = 0.0f;
    for (int k = 0; k < R; k++) acc = fmaf(__ldg(z + t * R + k), lr_widen(__ldg(v + (int64_t)k * K + j), bf16), acc);
    y[t * K + j] = fmaf(alpha, acc, y[t * K + j]);
}

lt_status lt_cuda_lowrank(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *v, float alpha,
                          lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    const int64_t T = x->shape[0], K = x->shape[1], R = v->shape[0];
    if (T == 0 || K == 0 || R == 0) return LT_OK;
    if (R > INT32_MAX || T > 65535 || K > INT32_MAX)
        return lt_err_set(err, LT_EUNSUPPORTED, "lowrank: [%lld, %lld] through [%lld, %lld] is too large for cuda",
                          (long long)T, (long long)K, (long long)R, (long long)K);
    LT_TRY(lt_cuda_enter(c, err));
    void *zd = NULL;
    LT_TRY(lt_cuda_scratch(c, LT_CUDA_SCR_LOWRANK, (size_t)T * (size_t)R * sizeof(float), &zd, err));
    lt_tensor z = lt_tensor_2d(be, LT_F32, zd, T, R);
    LT_TRY(lt_cuda_matmul(be, &z, x, v, NULL, err));
    const dim3 grid((unsigned)((K + 127) / 128), (unsigned)T);
    float *yd = (float *)y->data;
    if (v->dtype == LT_F32)
        lowrank_kernel<float><<<grid, 128, 0, c->stream>>>(yd, (const float *)zd, (const float *)v->data, 0, alpha,
                                                           (int)R, K);
    else /* f16 or bf16 (the op's wrapper admits nothing else) */
        lowrank_kernel<uint16_t><<<grid, 128, 0, c->stream>>>(yd, (const float *)zd, (const uint16_t *)v->data,
                                                              v->dtype == LT_BF16, alpha, (int)R, K);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
