/* matmul_quants.cu - block-wise kernels for GGML's quantized weight types: the fused-dequantization
 * GEMV of matmul for q4_1, q5_0, q5_1, iq4_nl, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs and the GPTQ gq4
 * types (T <= 8),
 * and dequantization of whole blocks to f16 (the weight tiles of matmul's cuBLAS path, T > 8) or to
 * f32 (the convert op) for those types and q8_0 / q4_0.
 *
 * Every kernel works in chunks of 16 elements of one block, unpacked by lt_quants_unpack
 * (kernels/lt_quants_unpack.h, shared with the CPU tests): two runs of 8 consecutive elements
 * with a scale and a min each, quant bytes read as 32-bit words (one 4-byte load, or two 2-byte
 * loads for the types whose blocks are only 2-byte aligned), consecutive chunks of a block from
 * consecutive bytes.
 * - GEMV: one warp per output row computes it for all T tokens, as matmul.cu's q8_0 / q4_0
 *   kernels: lane l takes chunk l % (QK/16) of blocks l / (QK/16), + 32 / (QK/16), ... (a warp
 *   reads 16 consecutive 32-element blocks or 2 consecutive super-blocks per step, each weight
 *   byte once per call). Types with a min (q4_1, q5_1, q2_K, q4_K, q5_K) dequantize the 16
 *   weights once (fmaf(d, q, m): exactly the dequantized values, the products d * q being exact)
 *   and dot them with each token's f32 activations (float4 loads); the others compute
 *   d * sum(q x) per run of 8, one FMA per weight and token. f32 throughout; one warp reduction
 *   per token at the end, bias fused.
 * - Dequantization: one thread per chunk, two 16-byte stores (f16) or four (f32) per chunk,
 *   bit-exact to lt_quants_get (f32), rounded to nearest even (f16).
 * Callers check lt_cuda_quant_blockwise first (a type with an unpack whose blocks are aligned
 * for its loads) and keep the element-wise kernels for anything else.
 * Leaves out: int8 dot products (dp4a / tensor cores) with quantized activations, a fused
 * dequant + GEMM for prefill.
 */
#include "gemv.cuh"
#include "kernels/lt_quants_unpack.h"

/* Block layout of each dtype with an unpack, at compile time. */
template <int DT> struct qblock;
#define QBLOCK(dt, blk_t, qk, name)                                                              \
    template <> struct qblock<dt> {                                                              \
        static constexpr int QK = qk;                                                            \
        static constexpr int BYTES = (int)sizeof(blk_t);                                         \
    };
LT_QUANTS_UNPACK_TYPES(QBLOCK)
#undef QBLOCK

bool lt_cuda_quant_blockwise(lt_dtype t, const void *p) {
    const int a = lt_quants_unpack_align(t);
    return a > 0 && (uintptr_t)p % (uintptr_t)a == 0;
}

/* ---- GEMV (T <= 8) ---------------------------------------------------------------------------- */

/* Types whose elements are d * q + m (a min); the others are d * q. */
template <int DT>
static constexpr bool has_min = DT == LT_Q4_1 || DT == LT_Q5_1 || DT == LT_Q2_K || DT == LT_Q4_K || DT == LT_Q5_K ||
                                DT == LT_GQ4_32 || DT == LT_GQ4_64 || DT == LT_GQ4_128;

/* p + x[0..8) . v[0..8) (x 16-byte aligned), one FMA chain. */
static __device__ __forceinline__ float dot8(float p, const float *x, const float *v) {
    const float4 a = *(const float4 *)x, b = *(const float4 *)(x + 4);
    p = fmaf(v[0], a.x, p), p = fmaf(v[1], a.y, p), p = fmaf(v[2], a.z, p), p = fmaf(v[3], a.w, p);
    p = fmaf(v[4], b.x, p), p = fmaf(v[5], b.y, p), p = fmaf(v[6], b.z, p), p = fmaf(v[7], b.w, p);
    return p;
}

template <int DT, int NT>
static __global__ void __launch_bounds__(GEMV_WARPS * 32)
    gemv_blocks(float *__restrict__ y, const float *__restrict__ x, const uint8_t *__restrict__ w,
                const float *__restrict__ bias, int64_t N, int K) {
    constexpr int QK = qblock<DT>::QK, BB = qblock<DT>::BYTES;
    constexpr int LPB = QK / LT_QU_CHUNK; /* lanes per block: 2 or 16 */
    constexpr int BPS = 32 / LPB;         /* blocks per warp step: 16 or 2 */
    const int64_t n = (int64_t)blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31, u = lane % LPB;
    if (n >= N) return; /* uniform per warp; no block-wide barrier follows */
    const int nb = K / QK;
    const uint8_t *wr = w + (size_t)n * (size_t)nb * BB;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.0f;
    for (int b = lane / LPB; b < nb; b += BPS) {
        lt_qchunk c;
        lt_quants_unpack((lt_dtype)DT, wr + (size_t)b * BB, u, &c);
        const float *xb = x + (int64_t)b * QK;
        if constexpr (has_min<DT>) {
            /* dequantize once (exact: the products d * q are exact), then one FMA per token */
            float v[LT_QU_CHUNK];
#pragma unroll
            for (int i = 0; i < LT_QU_CHUNK; i++) v[i] = fmaf(c.d[i >> 3], c.q[i], c.m[i >> 3]);
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const float *xt = xb + (int64_t)t * K;
                acc[t] += dot8(0.0f, xt + c.e[0], v) + dot8(0.0f, xt + c.e[1], v + 8);
            }
        } else {
            /* d * sum(q x) per run: one FMA per element and token */
#pragma unroll
            for (int t = 0; t < NT; t++) {
                const float *xt = xb + (int64_t)t * K;
                acc[t] = fmaf(c.d[0], dot8(0.0f, xt + c.e[0], c.q), fmaf(c.d[1], dot8(0.0f, xt + c.e[1], c.q + 8), acc[t]));
            }
        }
    }
    gemv_store<NT>(y, bias, acc, N, n);
}

template <int DT>
static void launch_gemv_blocks(cudaStream_t st, float *y, const float *x, const uint8_t *w, const float *bias, int T,
                               int64_t N, int K) {
    const unsigned grid = lt_cu_blocks(N, GEMV_WARPS);
    const int th = GEMV_WARPS * 32;
    switch (T) {
    case 1: gemv_blocks<DT, 1><<<grid, th, 0, st>>>(y, x, w, bias, N, K); break;
    case 2: gemv_blocks<DT, 2><<<grid, th, 0, st>>>(y, x, w, bias, N, K); break;
    case 3: gemv_blocks<DT, 3><<<grid, th, 0, st>>>(y, x, w, bias, N, K); break;
    case 4: gemv_blocks<DT, 4><<<grid, th, 0, st>>>(y, x, w, bias, N, K); break;
    case 5: gemv_blocks<DT, 5><<<grid, th, 0, st>>>(y, x, w, bias, N, K); break;
    case 6: gemv_blocks<DT, 6><<<grid, th, 0, st>>>(y, x, w, bias, N, K); break;
    case 7: gemv_blocks<DT, 7><<<grid, th, 0, st>>>(y, x, w, bias, N, K); break;
    default: gemv_blocks<DT, 8><<<grid, th, 0, st>>>(y, x, w, bias, N, K); break;
    }
}

lt_status lt_cuda_gemv_blocks(lt_cuda *c, float *y, const float *x, const void *w, lt_dtype wt, const float *bias,
                              int T, int64_t N, int K, lt_err *err) {
    const uint8_t *wb = (const uint8_t *)w;
    cudaStream_t st = c->stream;
    switch (wt) {
    case LT_Q4_1: launch_gemv_blocks<LT_Q4_1>(st, y, x, wb, bias, T, N, K); break;
    case LT_Q5_0: launch_gemv_blocks<LT_Q5_0>(st, y, x, wb, bias, T, N, K); break;
    case LT_Q5_1: launch_gemv_blocks<LT_Q5_1>(st, y, x, wb, bias, T, N, K); break;
    case LT_IQ4_NL: launch_gemv_blocks<LT_IQ4_NL>(st, y, x, wb, bias, T, N, K); break;
    case LT_Q2_K: launch_gemv_blocks<LT_Q2_K>(st, y, x, wb, bias, T, N, K); break;
    case LT_Q3_K: launch_gemv_blocks<LT_Q3_K>(st, y, x, wb, bias, T, N, K); break;
    case LT_Q4_K: launch_gemv_blocks<LT_Q4_K>(st, y, x, wb, bias, T, N, K); break;
    case LT_Q5_K: launch_gemv_blocks<LT_Q5_K>(st, y, x, wb, bias, T, N, K); break;
    case LT_Q6_K: launch_gemv_blocks<LT_Q6_K>(st, y, x, wb, bias, T, N, K); break;
    case LT_IQ4_XS: launch_gemv_blocks<LT_IQ4_XS>(st, y, x, wb, bias, T, N, K); break;
    /* GPTQ 4-bit (W4A16 decode): a warp reads 16 / 8 / 4 consecutive blocks per step */
    case LT_GQ4_32: launch_gemv_blocks<LT_GQ4_32>(st, y, x, wb, bias, T, N, K); break;
    case LT_GQ4_64: launch_gemv_blocks<LT_GQ4_64>(st, y, x, wb, bias, T, N, K); break;
    case LT_GQ4_128: launch_gemv_blocks<LT_GQ4_128>(st, y, x, wb, bias, T, N, K); break;
    default:
        return lt_err_set(err, LT_EUNSUPPORTED, "matmul: no block-wise GEMV for %s weights", lt_dtype_name(wt));
    }
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

/* ---- dequantization ----------------------------------------------------------------------------- */

static __device__ __forceinline__ uint32_t pack_h2(float a, float b) {
    __half2 h = __floats2half2_rn(a, b); /* a in the low half: the lower address */
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}

/* nchunks chunks of 16 elements of consecutive blocks at src -> element b*QK + e of dst, f16 or
 * f32 (dst 16-byte aligned). */
template <int DT, bool F16>
static __global__ void dequant_blocks(void *__restrict__ dst, const uint8_t *__restrict__ src, int64_t nchunks) {
    constexpr int QK = qblock<DT>::QK, BB = qblock<DT>::BYTES, LPB = QK / LT_QU_CHUNK;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < nchunks;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t b = i / LPB;
        lt_qchunk c;
        lt_quants_unpack((lt_dtype)DT, src + (size_t)b * BB, (int)(i % LPB), &c);
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float v[8];
#pragma unroll
            for (int k = 0; k < 8; k++) v[k] = lt_qchunk_value(&c, 8 * r + k);
            const int64_t e = b * QK + c.e[r];
            if (F16) {
                *(uint4 *)((uint16_t *)dst + e) =
                    make_uint4(pack_h2(v[0], v[1]), pack_h2(v[2], v[3]), pack_h2(v[4], v[5]), pack_h2(v[6], v[7]));
            } else {
                float4 *o = (float4 *)((float *)dst + e);
                o[0] = make_float4(v[0], v[1], v[2], v[3]);
                o[1] = make_float4(v[4], v[5], v[6], v[7]);
            }
        }
    }
}

template <int DT>
static void launch_dequant(lt_cuda *c, void *dst, bool f16, const uint8_t *src, int64_t n) {
    const int64_t nchunks = n / LT_QU_CHUNK;
    const unsigned grid = lt_cu_grid(c, nchunks, 256);
    if (f16) dequant_blocks<DT, true><<<grid, 256, 0, c->stream>>>(dst, src, nchunks);
    else dequant_blocks<DT, false><<<grid, 256, 0, c->stream>>>(dst, src, nchunks);
}

lt_status lt_cuda_dequant_blocks(lt_cuda *c, void *dst, lt_dtype dt, const void *src, lt_dtype st, int64_t n,
                                 lt_err *err) {
    if (n == 0) return LT_OK;
    const bool f16 = dt == LT_F16;
    const uint8_t *s = (const uint8_t *)src;
    switch (st) {
#define DQ_CASE(t, blk_t, qk, name)                                                                \
    case t: launch_dequant<t>(c, dst, f16, s, n); break;
        LT_QUANTS_UNPACK_TYPES(DQ_CASE)
#undef DQ_CASE
    default:
        return lt_err_set(err, LT_EUNSUPPORTED, "no block-wise dequantization of %s on cuda", lt_dtype_name(st));
    }
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
