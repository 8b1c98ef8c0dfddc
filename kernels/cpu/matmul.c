/* matmul.c - y[T,N] = x[T,K] . w[N,K]^T (+ bias) for every weight dtype.
 *
 * Work is split over the pool by chunks of weight rows, taken from an atomic counter so a
 * thread slowed by a neighbour does not hold the others back.
 *  - q8_0 / q4_0: the activations are quantized to q8_0 once per call, then each weight row
 *    is dotted (integer products per block, as GGML does) with every activation row of a
 *    tile while it is hot in L1. A row's result does not depend on T, so decoding one token
 *    and verifying a batch give identical numbers. With AVX-512 VNNI a weight block pair is
 *    unpacked once for a tile of up to 8 activation rows whose accumulators stay in registers
 *    (same float operations per row as the AVX2 path, so the same bits).
 *  - f16 / bf16: dot products with f32 accumulation for small T (on AVX-512, f16 weights are
 *    widened once per tile of activation rows, again with the per-row operations of the dot
 *    product); for larger T chunks of weight rows are widened to f32 and multiplied with
 *    OpenBLAS sgemm.
 *  - f32: dot products below DOT_MAX_T rows (so a row does not depend on T, as for f16),
 *    OpenBLAS sgemm per row chunk from there.
 * AVX2+FMA+F16C and AVX-512 (F, BW, VL, VNNI) paths are chosen at run time (LT_CPU_NO_VNNI=1
 * keeps AVX-512 off); scalar paths are portable.
 *  - the lt_quants.h types (q4_1 ... q6_K, iq4_*): qdot.c, with the family kernels.
 *  - q4_0 interleaved by 8 rows (LT_Q4_0_R8, how the CPU backend holds q4_0 matmul weights):
 *    matmul_q4r8.c. The q4_0 paths here serve q4_0 tensors made outside lt_backend_matrix_dtype.
 *  - the 2:4 sparse types (s24_*) and GPTQ's gq4_*: qdot_s24.c / qdot_gq.c below DOT_MAX_T rows
 *    (with AVX2: s24_q4 below S24_Q4_GEMM_T, s24_f16 below S24_F16_GEMM_T); from there rows
 *    widened to f32 (the dtype table's formula) and sgemm, as f16.
 * Leaves out: AVX-VNNI (256-bit, no AVX-512) variants.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "cpu_impl.h"

#define QTILE_T 64        /* activation rows per tile for quantized weights (L2 resident) */
#define F16_RT 4          /* activation rows per tile for f16 weights on AVX-512 */
#define F16_MIN_T 3       /* f16 on AVX-512: dot products below this many rows, */
#define F16_GEMM_T 32     /* tiles below this many, sgemm from it */
/* s24_q4 with AVX2: dot products below this many rows (its int8 kernel reads the 4-bit codes as
 * they are; widening them to f32 costs more than sgemm saves until then: SmolLM2 prefill 147-258
 * tok/s by dots against 10 widened at 16 rows, 1.06-1.17x at 256, sgemm 1.2x at 512) */
#define S24_Q4_GEMM_T 384
/* s24_f16 with AVX2: dot products below this many rows (SmolLM2 prefill, 2 threads, idle machine,
 * 2026-12-07: 16 rows 451 tok/s by dots against 250 widened, 32: 414 / 368, 40: 415 / 439, 48:
 * 427 / 484, 64: 415 / 525) */
#define S24_F16_GEMM_T 36
#define DOT_MAX_T 8       /* below this many rows, f16/bf16 use dot products */
#define WIDEN_BYTES (1 << 20) /* f32 buffer per thread for widened f16/bf16 rows */

/* q4_0 weight blocks are dotted with the q8_0 activation blocks at the same position */
_Static_assert(LT_QK4_0 == LT_QK8_0, "q4_0 and q8_0 blocks must hold the same number of elements");

/* ---- scalar dot products ------------------------------------------------------------------ */

static float dot_f32_scalar(const float *x, const float *w, int64_t K) {
    float s[4] = {0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 4 <= K; k += 4)
        for (int j = 0; j < 4; j++) s[j] += x[k + j] * w[k + j];
    float r = (s[0] + s[1]) + (s[2] + s[3]);
    for (; k < K; k++) r += x[k] * w[k];
    return r;
}

static float dot_f16_scalar(const float *x, const uint16_t *w, int64_t K) {
    float s = 0;
    for (int64_t k = 0; k < K; k++) s += x[k] * lt_f16_to_f32(w[k]);
    return s;
}

static float dot_bf16_scalar(const float *x, const uint16_t *w, int64_t K) {
    float s = 0;
    for (int64_t k = 0; k < K; k++) s += x[k] * lt_bf16_to_f32(w[k]);
    return s;
}

static float dot_q8_0_scalar(const lt_block_q8_0 *xq, const lt_block_q8_0 *w, int64_t nb) {
    float s = 0;
    for (int64_t i = 0; i < nb; i++) {
        int sum = 0;
        for (int j = 0; j < LT_QK8_0; j++) sum += (int)xq[i].q[j] * (int)w[i].q[j];
        s += (float)sum * (lt_f16_to_f32(w[i].d) * lt_f16_to_f32(xq[i].d));
    }
    return s;
}

static float dot_q4_0_scalar(const lt_block_q8_0 *xq, const lt_block_q4_0 *w, int64_t nb) {
    float s = 0;
    for (int64_t i = 0; i < nb; i++) {
        int sum = 0;
        for (int j = 0; j < LT_QK4_0 / 2; j++) {
            sum += ((w[i].q[j] & 15) - 8) * (int)xq[i].q[j];
            sum += ((w[i].q[j] >> 4) - 8) * (int)xq[i].q[j + LT_QK4_0 / 2];
        }
        s += (float)sum * (lt_f16_to_f32(w[i].d) * lt_f16_to_f32(xq[i].d));
    }
    return s;
}

/* ---- AVX2 dot products ---------------------------------------------------------------------- */

#if LT_X86

LT_AVX2 static float dot_f32_avx2(const float *x, const float *w, int64_t K) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(w + k), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(w + k + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), _mm256_loadu_ps(w + k + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), _mm256_loadu_ps(w + k + 24), a3);
    }
    for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(w + k), a0);
    float r = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; k < K; k++) r += x[k] * w[k];
    return r;
}

/* the last K % 8 products of an f16 dot product (one function, so the tiled AVX-512 path
   rounds exactly as dot_f16_avx2 does) */
__attribute__((noinline)) LT_AVX2 static float f16_tail(float r, const float *x, const uint16_t *w, int64_t k,
                                                        int64_t K) {
    for (; k < K; k++) r += x[k] * lt_f16_to_f32(w[k]);
    return r;
}

/* Long rows (the FFN down projection: K = hidden size) do not leave the f32 activation row in
 * L1 beside the weight stream (x alone is 4K bytes), and decode then streamed f16 weights
 * 15-25% slower from one core than for K = dim. Prefetching the weights ahead brings it back.
 * Measured on Zen 4 (session 2): 8 KiB ahead into L2 for K = 5632 and 14336, off for K <= 4096
 * where it cost a little. On the Xeon VM of 2026-12-06 (Sapphire Rapids, AVX-512) prefetching
 * 2 KiB ahead into L1 for every K is best: SmolLM2-135M f16 (K = 576 and 1536) decodes 26 ->
 * 31-33 tok/s on 2 threads, the 1.1B shape 7.0 -> 8.2-8.4 (4 KiB: 7.0, 8 KiB: 7.0, 1 KiB:
 * 8.0-8.3; PERF.md, "Quantized GGUF types"). PF_MIN_K keeps the switch. The arithmetic is the
 * same either way. */
#define PF_MIN_K 0
#define PF_DIST 2048

LT_AVX2 static float dot_f16_avx2(const float *x, const uint16_t *w, int64_t K) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
#define LD16(o) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + k + (o))))
#define F16_STEP()                                                                            \
    do {                                                                                      \
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), LD16(0), a0);                             \
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), LD16(8), a1);                         \
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 16), LD16(16), a2);                       \
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 24), LD16(24), a3);                       \
    } while (0)
    if (K > PF_MIN_K) {
        for (; k + 32 <= K; k += 32) {
            _mm_prefetch((const char *)(w + k) + PF_DIST, _MM_HINT_T0); /* never faults */
            F16_STEP();
        }
    }
    for (; k + 32 <= K; k += 32) F16_STEP();
#undef F16_STEP
    for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), LD16(0), a0);
#undef LD16
    return f16_tail(hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))), x, w, k, K);
}

LT_AVX2 static float dot_bf16_avx2(const float *x, const uint16_t *w, int64_t K) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t k = 0;
#define LDB(o)                                                                                  \
    _mm256_castsi256_ps(                                                                        \
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + k + (o)))), 16))
    const bool pf = K > PF_MIN_K; /* as in dot_f16_avx2 */
    for (; k + 16 <= K; k += 16) {
        if (pf && !(k & 31)) _mm_prefetch((const char *)(w + k) + PF_DIST, _MM_HINT_T0);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), LDB(0), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), LDB(8), a1);
    }
    for (; k + 8 <= K; k += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), LDB(0), a0);
#undef LDB
    float r = hsum8(_mm256_add_ps(a0, a1));
    for (; k < K; k++) r += x[k] * lt_bf16_to_f32(w[k]);
    return r;
}

/* Quantized weights multiply "extended" q8_0 activation rows: a row's q8_0 blocks, then
 * (32-byte aligned) per block the 8 lane sums of 8*x (for q4_0 weights only; grouped as the
 * products below are), then per block the f32 scale. The precomputed scale saves a conversion
 * per block; the lane sums let q4_0's unsigned nibbles multiply x directly (maddubs) with
 * the -8 offset applied as one subtraction. Integer block sums are exact, so results equal
 * GGML's integer dot products up to the f32 scaling and accumulation. */
static inline size_t xq_corr_off(int64_t nb) { return ((size_t)nb * sizeof(lt_block_q8_0) + 31) & ~(size_t)31; }
static inline size_t xq_sc_off(int64_t nb, int corr) { return xq_corr_off(nb) + (corr ? (size_t)nb * 32 : 0); }
static inline size_t xq_ext_row_bytes(int64_t nb, int corr) {
    return (xq_sc_off(nb, corr) + (size_t)nb * 4 + 31) & ~(size_t)31;
}


/* noipa: GCC 12.2's IPA (modref + pure-const) deleted the calls to an earlier form of this
 * function at -O1 and above, as if its stores were invisible (the tests caught it); it is
 * called once per activation row, so keeping it opaque costs nothing. */
#ifdef __clang__
#define LT_NOIPA __attribute__((noinline))
#else
#define LT_NOIPA __attribute__((noipa))
#endif
LT_NOIPA LT_AVX2 static void xq_extend(char *row, int64_t nb, int with_corr) {
    const lt_block_q8_0 *xq = (const lt_block_q8_0 *)row;
    __m256i *corr = (__m256i *)(row + xq_corr_off(nb));
    float *sc = (float *)(row + xq_sc_off(nb, with_corr));
    for (int64_t i = 0; i < nb; i++) {
        if (with_corr) {
            const __m256i x = _mm256_loadu_si256((const __m256i *)xq[i].q);
            corr[i] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), x), _mm256_set1_epi16(1));
        }
        sc[i] = lt_cpu_f16_1(xq[i].d);
    }
}

/* 8 lane sums of the products of 32 signed bytes (GGML's mul_sum_i8_pairs_float) */
LT_AVX2 static inline __m256 q8_block(__m256i w, const lt_block_q8_0 *xq, int64_t i) {
    const __m256i ax = _mm256_sign_epi8(w, w);
    const __m256i sy = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)xq[i].q), w);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1)));
}

LT_AVX2 static inline __m256i q4u_bytes(const uint8_t *q) {
    const __m128i t = _mm_loadu_si128((const __m128i *)q);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(15));
}

/* the same lane sums for unsigned nibbles wu (0..15) minus 8 */
LT_AVX2 static inline __m256 q4_block(__m256i wu, const lt_block_q8_0 *xq, const __m256i *corr, int64_t i) {
    const __m256i p = _mm256_maddubs_epi16(wu, _mm256_loadu_si256((const __m256i *)xq[i].q));
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), _mm256_load_si256(corr + i)));
}

#define XQ_PARTS(row, nb, CORR)                                                                  \
    const lt_block_q8_0 *xq = (const lt_block_q8_0 *)(row);                                    \
    const __m256i *corr = (const __m256i *)((row) + xq_corr_off(nb));                          \
    const float *sc = (const float *)((row) + xq_sc_off(nb, CORR));                            \
    (void)corr

/* Quantized weight rows are prefetched this far ahead into L1 in the one-row kernels: one
 * thread's stream of a DRAM-resident matrix then runs about twice as fast (the same measured
 * for the lt_quants.h types, qdot_legacy.c). The arithmetic is unchanged. */
#define Q_PF 4096

/* One row: two accumulators over alternate blocks. The 4-row forms below do exactly the
 * same operations per row (so a row's result does not depend on T). */
#define DOT1(NAME, WT, BLOCK, CORR)                                                              \
    LT_AVX2 static float NAME(const char *row, const WT *w, int64_t nb) {                       \
        XQ_PARTS(row, nb, CORR);                                                                 \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                                \
        int64_t i = 0;                                                                           \
        for (; i + 2 <= nb; i += 2) {                                                            \
            _mm_prefetch((const char *)(w + i) + Q_PF, _MM_HINT_T0); /* never faults */        \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(lt_cpu_f16_1(w[i].d) * sc[i]), BLOCK(i), a0);          \
            a1 = _mm256_fmadd_ps(_mm256_set1_ps(lt_cpu_f16_1(w[i + 1].d) * sc[i + 1]), BLOCK(i + 1), a1); \
        }                                                                                        \
        if (i < nb) a0 = _mm256_fmadd_ps(_mm256_set1_ps(lt_cpu_f16_1(w[i].d) * sc[i]), BLOCK(i), a0);  \
        return hsum8(_mm256_add_ps(a0, a1));                                                     \
    }
#define Q8B(i) q8_block(_mm256_loadu_si256((const __m256i *)w[i].q), xq, i)
#define Q4B(i) q4_block(q4u_bytes(w[i].q), xq, corr, i)
DOT1(dot_q8_0_x, lt_block_q8_0, Q8B, 0)
DOT1(dot_q4_0_x, lt_block_q4_0, Q4B, 1)
#undef Q8B
#undef Q4B

#define Q8B4(i, r) q8_block(wv, x##r, i)
#define Q4B4(i, r) q4_block(wv, x##r, c##r, i)
#define STEP4(acc, i, LOADW, BLOCK)                                                              \
    do {                                                                                         \
        const __m256i wv = LOADW(i);                                                             \
        const float dw = lt_cpu_f16_1(w[i].d);                                                          \
        acc##0 = _mm256_fmadd_ps(_mm256_set1_ps(dw * s0[i]), BLOCK(i, 0), acc##0);                \
        acc##1 = _mm256_fmadd_ps(_mm256_set1_ps(dw * s1[i]), BLOCK(i, 1), acc##1);                \
        acc##2 = _mm256_fmadd_ps(_mm256_set1_ps(dw * s2[i]), BLOCK(i, 2), acc##2);                \
        acc##3 = _mm256_fmadd_ps(_mm256_set1_ps(dw * s3[i]), BLOCK(i, 3), acc##3);                \
    } while (0)
#define DOT4(NAME, WT, LOADW, BLOCK, CORR)                                                       \
    LT_AVX2 static void NAME(const char *const xr[4], const WT *w, int64_t nb, float out[4]) {  \
        const size_t co = xq_corr_off(nb), so = xq_sc_off(nb, CORR);                             \
        const lt_block_q8_0 *x0 = (const void *)xr[0], *x1 = (const void *)xr[1];               \
        const lt_block_q8_0 *x2 = (const void *)xr[2], *x3 = (const void *)xr[3];               \
        const __m256i *c0 = (const void *)(xr[0] + co), *c1 = (const void *)(xr[1] + co);       \
        const __m256i *c2 = (const void *)(xr[2] + co), *c3 = (const void *)(xr[3] + co);       \
        const float *s0 = (const void *)(xr[0] + so), *s1 = (const void *)(xr[1] + so);         \
        const float *s2 = (const void *)(xr[2] + so), *s3 = (const void *)(xr[3] + so);         \
        (void)c0, (void)c1, (void)c2, (void)c3;                                                  \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                              \
        __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;                                               \
        int64_t i = 0;                                                                           \
        for (; i + 2 <= nb; i += 2) {                                                            \
            STEP4(a, i, LOADW, BLOCK);                                                           \
            STEP4(b, i + 1, LOADW, BLOCK);                                                       \
        }                                                                                        \
        if (i < nb) STEP4(a, i, LOADW, BLOCK);                                                   \
        out[0] = hsum8(_mm256_add_ps(a0, b0));                                                   \
        out[1] = hsum8(_mm256_add_ps(a1, b1));                                                   \
        out[2] = hsum8(_mm256_add_ps(a2, b2));                                                   \
        out[3] = hsum8(_mm256_add_ps(a3, b3));                                                   \
    }
#define STEP2(acc, i, LOADW, BLOCK)                                                              \
    do {                                                                                         \
        const __m256i wv = LOADW(i);                                                             \
        const float dw = lt_cpu_f16_1(w[i].d);                                                          \
        acc##0 = _mm256_fmadd_ps(_mm256_set1_ps(dw * s0[i]), BLOCK(i, 0), acc##0);                \
        acc##1 = _mm256_fmadd_ps(_mm256_set1_ps(dw * s1[i]), BLOCK(i, 1), acc##1);                \
    } while (0)
#define DOT2(NAME, WT, LOADW, BLOCK, CORR)                                                       \
    LT_AVX2 static void NAME(const char *const xr[2], const WT *w, int64_t nb, float out[2]) {  \
        const size_t co = xq_corr_off(nb), so = xq_sc_off(nb, CORR);                             \
        const lt_block_q8_0 *x0 = (const void *)xr[0], *x1 = (const void *)xr[1];               \
        const __m256i *c0 = (const void *)(xr[0] + co), *c1 = (const void *)(xr[1] + co);       \
        const float *s0 = (const void *)(xr[0] + so), *s1 = (const void *)(xr[1] + so);         \
        (void)c0, (void)c1;                                                                      \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;                              \
        int64_t i = 0;                                                                           \
        for (; i + 2 <= nb; i += 2) {                                                            \
            STEP2(a, i, LOADW, BLOCK);                                                           \
            STEP2(b, i + 1, LOADW, BLOCK);                                                       \
        }                                                                                        \
        if (i < nb) STEP2(a, i, LOADW, BLOCK);                                                   \
        out[0] = hsum8(_mm256_add_ps(a0, b0));                                                   \
        out[1] = hsum8(_mm256_add_ps(a1, b1));                                                   \
    }
#define LOAD_Q8(i) _mm256_loadu_si256((const __m256i *)w[i].q)
#define LOAD_Q4(i) q4u_bytes(w[i].q)
DOT4(dot4_q8_0_x, lt_block_q8_0, LOAD_Q8, Q8B4, 0)
DOT4(dot4_q4_0_x, lt_block_q4_0, LOAD_Q4, Q4B4, 1)
DOT2(dot2_q8_0_x, lt_block_q8_0, LOAD_Q8, Q8B4, 0)
DOT2(dot2_q4_0_x, lt_block_q4_0, LOAD_Q4, Q4B4, 1)

#endif

#if LT_X86
/* ---- AVX-512 VNNI (quantized weights) ------------------------------------------------------------
 * Activation rows take a third layout: the row's q8_0 blocks (only read to build the rest),
 * then per pair of blocks (i, i+1) their 64 bytes with the sign bit flipped (x + 128,
 * unsigned), 4-byte groups interleaved (i's first, i+1's first, i's second, ...), then the f32
 * scales. So one zmm holds two consecutive blocks: its even lanes play the part of the AVX2
 * path's accumulator a0 (even blocks) and its odd lanes of a1 (odd blocks), and the scales
 * of a pair are one 8-byte broadcast. Per block and row the float operations are exactly
 * those of dot_q8_0_x / dot_q4_0_x (scale = d_w * d_x, lanes = the 8 exact integer sums of 4
 * products, acc += scale * lanes), so all the paths give the same bits. The integer sums are
 * dpbusd(unsigned x + 128, signed w) - 128 * (lane sums of w); the correction depends on the
 * weight block only, so a weight pair is loaded, unpacked and corrected once for up to
 * VNNI_RT activation rows, whose accumulators stay in registers. */
#define VNNI_RT 8

static inline size_t xv_u_off(int64_t nb) { return ((size_t)nb * sizeof(lt_block_q8_0) + 63) & ~(size_t)63; }
static inline size_t xv_s_off(int64_t nb) { return xv_u_off(nb) + (((size_t)nb * 32 + 63) & ~(size_t)63); }
static inline size_t xv_row_bytes(int64_t nb) { return xv_s_off(nb) + (((size_t)nb * 4 + 8 + 63) & ~(size_t)63); }

/* dword lanes 0..7 of a and 0..7 of b interleaved: a0 b0 a1 b1 ... */
LT_VNNI static inline __m512i ilv32(__m512i ab) {
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15), ab);
}

LT_NOIPA LT_VNNI static void xv_extend(char *row, int64_t nb) {
    const lt_block_q8_0 *xq = (const lt_block_q8_0 *)row;
    uint8_t *u = (uint8_t *)(row + xv_u_off(nb));
    float *s = (float *)(row + xv_s_off(nb));
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    for (int64_t i = 0; i < nb; i += 2) {
        const __m512i lo = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)xq[i].q));
        const __m512i ab = i + 1 < nb ? _mm512_inserti64x4(lo, _mm256_loadu_si256((const __m256i *)xq[i + 1].q), 1)
                                      : _mm512_inserti64x4(lo, _mm256_set1_epi8((char)0x80), 1);
        _mm512_storeu_si512(u + 32 * i, _mm512_xor_si512(ilv32(ab), x80));
        s[i] = lt_cpu_f16_1(xq[i].d);
        s[i + 1] = i + 1 < nb ? lt_cpu_f16_1(xq[i + 1].d) : 0.0f;
    }
}

/* weights of blocks i, i+1 as signed bytes, interleaved as above (i+1 absent when one: zero) */
LT_VNNI static inline __m512i wv_q8(const lt_block_q8_0 *w, int64_t i, bool one) {
    const __m512i lo = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w[i].q));
    const __m512i hi = one ? _mm512_setzero_si512() : _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w[i + 1].q));
    return _mm512_permutex2var_epi32(lo, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), hi);
}

LT_VNNI static inline __m512i wv_q4(const lt_block_q4_0 *w, int64_t i, bool one) {
    const __m128i a = _mm_loadu_si128((const __m128i *)w[i].q);
    const __m256i t = one ? _mm256_zextsi128_si256(a)
                          : _mm256_inserti128_si256(_mm256_castsi128_si256(a), _mm_loadu_si128((const __m128i *)w[i + 1].q), 1);
    /* 128-bit lanes: low nibbles i, low i+1, high i, high i+1 */
    __m512i b = _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1);
    b = _mm512_sub_epi8(_mm512_and_si512(b, _mm512_set1_epi8(15)), _mm512_set1_epi8(8));
    b = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15), b);
    return one ? _mm512_maskz_mov_epi32(0x5555, b) : b;
}

/* f32 (d_a, d_b) repeated 8 times */
LT_VNNI static inline __m512 wd_pair(uint16_t a, uint16_t b) {
    const __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)a | (uint32_t)b << 16)));
    return _mm512_castpd_ps(_mm512_broadcastsd_pd(_mm_castps_pd(d)));
}

#define VNNI_STEP(p, ONE)                                                                                \
    do {                                                                                                 \
        const __m512i wv = Q4 ? wv_q4(w4, 2 * (p), ONE) : wv_q8(w8, 2 * (p), ONE);                       \
        const uint16_t d0 = Q4 ? w4[2 * (p)].d : w8[2 * (p)].d;                                          \
        const uint16_t d1 = ONE ? 0 : Q4 ? w4[2 * (p) + 1].d : w8[2 * (p) + 1].d;                        \
        const __m512 dw = wd_pair(d0, d1);                                                               \
        const __m512i nc = _mm512_sub_epi32(_mm512_setzero_si512(),                                      \
                                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), x80, wv));       \
        for (int r = 0; r < RT; r++) {                                                                   \
            const char *xr = x + (size_t)r * xrow;                                                       \
            const __m512i l = _mm512_dpbusd_epi32(nc, _mm512_load_si512(xr + uo + 64 * (p)), wv);        \
            int64_t s2;                                                                                  \
            memcpy(&s2, xr + so + 8 * (p), 8);                                                           \
            const __m512 sc = _mm512_mul_ps(dw, _mm512_castsi512_ps(_mm512_set1_epi64(s2)));             \
            if (ONE) acc[r] = _mm512_mask3_fmadd_ps(sc, _mm512_cvtepi32_ps(l), acc[r], 0x5555);          \
            else acc[r] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(l), acc[r]);                            \
        }                                                                                                \
    } while (0)

/* out[r] = row r (of RT, xrow bytes apart from x) . weight row w of nb blocks */
LT_VNNI static inline __attribute__((always_inline)) void vnni_rows(const char *x, size_t xrow, const void *w,
                                                                    int64_t nb, const bool Q4, const int RT,
                                                                    float *out) {
    const lt_block_q8_0 *w8 = w;
    const lt_block_q4_0 *w4 = w;
    const size_t uo = xv_u_off(nb), so = xv_s_off(nb);
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    __m512 acc[VNNI_RT];
    for (int r = 0; r < RT; r++) acc[r] = _mm512_setzero_ps();
    const int64_t np = nb / 2;
    const size_t wb = Q4 ? sizeof *w4 : sizeof *w8;
    for (int64_t p = 0; p < np; p++) {
        _mm_prefetch((const char *)w + (size_t)(2 * p) * wb + Q_PF, _MM_HINT_T0); /* never faults */
        VNNI_STEP(p, false);
    }
    if (nb & 1) VNNI_STEP(np, true);
    const __m512i de = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (int r = 0; r < RT; r++) {
        const __m512 a = _mm512_permutexvar_ps(de, acc[r]); /* a0 | a1 */
        const __m256 a0 = _mm512_castps512_ps256(a);
        const __m256 a1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
        out[r] = hsum8(_mm256_add_ps(a0, a1));
    }
}

/* f16 weights: the f32 activation rows of a tile against one weight row, each row with the
 * operations of dot_f16_avx2 (zmm p = its a0 | a1, q = a2 | a3), the weights widened once. */
LT_VNNI static inline __attribute__((always_inline)) void f16_rows(const float *x, int64_t K, const uint16_t *w,
                                                                   const int RT, float *out) {
    __m512 p[VNNI_RT], q[VNNI_RT];
    for (int r = 0; r < RT; r++) p[r] = q[r] = _mm512_setzero_ps();
    int64_t k = 0;
    const bool pf = K > PF_MIN_K; /* as in dot_f16_avx2 */
    for (; k + 32 <= K; k += 32) {
        if (pf) _mm_prefetch((const char *)(w + k) + PF_DIST, _MM_HINT_T0);
        const __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + k)));
        const __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + k + 16)));
        for (int r = 0; r < RT; r++) {
            p[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * K + k), w0, p[r]);
            q[r] = _mm512_fmadd_ps(_mm512_loadu_ps(x + r * K + k + 16), w1, q[r]);
        }
    }
    for (; k + 8 <= K; k += 8) {
        const __m512 wv = _mm512_zextps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + k))));
        for (int r = 0; r < RT; r++)
            p[r] = _mm512_mask3_fmadd_ps(_mm512_zextps256_ps512(_mm256_loadu_ps(x + r * K + k)), wv, p[r], 0x00FF);
    }
    for (int r = 0; r < RT; r++) {
        const __m256 a0 = _mm512_castps512_ps256(p[r]), a2 = _mm512_castps512_ps256(q[r]);
        const __m256 a1 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p[r]), 1));
        const __m256 a3 = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(q[r]), 1));
        out[r] = f16_tail(hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))), x + r * K, w, k, K);
    }
}
typedef void (*f16t_fn)(const float *x, int64_t K, const uint16_t *w, float *out);
#define F16T_FN(R)                                                                                        \
    LT_VNNI static void f16t_##R(const float *x, int64_t K, const uint16_t *w, float *out) {             \
        f16_rows(x, K, w, R, out);                                                                        \
        _mm256_zeroupper(); /* see df16_v */                                                              \
    }
F16T_FN(1)
F16T_FN(2)
F16T_FN(3)
F16T_FN(4)
F16T_FN(5)
F16T_FN(6)
F16T_FN(7)
F16T_FN(8)
static const f16t_fn f16t_fns[VNNI_RT + 1] = {NULL, f16t_1, f16t_2, f16t_3, f16t_4, f16t_5, f16t_6, f16t_7, f16t_8};

typedef void (*vnni_fn)(const char *x, size_t xrow, const void *w, int64_t nb, float *out);
#define VNNI_FN(R)                                                                                        \
    LT_VNNI static void vnni_q8_##R(const char *x, size_t xrow, const void *w, int64_t nb, float *out) {  \
        vnni_rows(x, xrow, w, nb, false, R, out);                                                         \
    }                                                                                                     \
    LT_VNNI static void vnni_q4_##R(const char *x, size_t xrow, const void *w, int64_t nb, float *out) {  \
        vnni_rows(x, xrow, w, nb, true, R, out);                                                          \
    }
VNNI_FN(1)
VNNI_FN(2)
VNNI_FN(3)
VNNI_FN(4)
VNNI_FN(5)
VNNI_FN(6)
VNNI_FN(7)
VNNI_FN(8)
static const vnni_fn vnni_fns[2][VNNI_RT + 1] = {
    {NULL, vnni_q8_1, vnni_q8_2, vnni_q8_3, vnni_q8_4, vnni_q8_5, vnni_q8_6, vnni_q8_7, vnni_q8_8},
    {NULL, vnni_q4_1, vnni_q4_2, vnni_q4_3, vnni_q4_4, vnni_q4_5, vnni_q4_6, vnni_q4_7, vnni_q4_8},
};
#endif


/* ---- the job ---------------------------------------------------------------------------------- */

typedef struct mm_ctx {
    float *y;
    const float *x;
    const char *w;
    lt_dtype wt;
    const float *bias;
    int64_t T, N, K;
    size_t w_row;        /* bytes per weight row */
    const char *xq;      /* q8_0 activations, xq_row bytes per row */
    size_t xq_row;
    float *widen;        /* per-thread f32 buffers of chunk*K floats */
    int64_t chunk;       /* weight rows per work item */
    bool avx2;
    bool vnni;           /* AVX-512 VNNI path for q8_0 / q4_0 */
    _Atomic int64_t next; /* next work item */
} mm_ctx;

typedef float (*dot_fn)(const void *x, const void *w, int64_t K);

static float dq8_s(const void *x, const void *w, int64_t K) { return dot_q8_0_scalar(x, w, K / LT_QK8_0); }
static float dq4_s(const void *x, const void *w, int64_t K) { return dot_q4_0_scalar(x, w, K / LT_QK8_0); }
static float df32_s(const void *x, const void *w, int64_t K) { return dot_f32_scalar(x, w, K); }
static float df16_s(const void *x, const void *w, int64_t K) { return dot_f16_scalar(x, w, K); }
static float dbf16_s(const void *x, const void *w, int64_t K) { return dot_bf16_scalar(x, w, K); }
#if LT_X86
LT_AVX2 static float dq8_v(const void *x, const void *w, int64_t K) { return dot_q8_0_x(x, w, K / LT_QK8_0); }
LT_AVX2 static float dq4_v(const void *x, const void *w, int64_t K) { return dot_q4_0_x(x, w, K / LT_QK8_0); }
LT_AVX2 static float df32_v(const void *x, const void *w, int64_t K) { return dot_f32_avx2(x, w, K); }
/* GCC leaves the upper halves of the vector registers dirty when an AVX function ends in a call
 * to another one (f16_tail): the caller (mm_dot_job, baseline SSE code) then paid for every SSE
 * instruction after the return - SmolLM2's f16 head (49152 x 576) ran at 4-5 GB/s instead of
 * 8-10 on this Xeon (docs/PERF.md, "f16 decode"). vzeroupper before returning to SSE code. */
LT_AVX2 static float df16_v(const void *x, const void *w, int64_t K) {
    const float r = dot_f16_avx2(x, w, K);
    _mm256_zeroupper();
    return r;
}
LT_AVX2 static float dbf16_v(const void *x, const void *w, int64_t K) { return dot_bf16_avx2(x, w, K); }
#endif

static dot_fn pick_dot(lt_dtype wt, bool avx2) {
#if LT_X86
    if (avx2) {
        switch (wt) {
        case LT_F32: return df32_v;
        case LT_F16: return df16_v;
        case LT_BF16: return dbf16_v;
        case LT_Q8_0: return dq8_v;
        case LT_Q4_0: return dq4_v;
        default: break;
        }
    }
#endif
    switch (wt) {
    case LT_F32: return df32_s;
    case LT_F16: return df16_s;
    case LT_BF16: return dbf16_s;
    case LT_Q8_0: return dq8_s;
    case LT_Q4_0: return dq4_s;
    default: LT_ASSERT(!"matmul: bad weight dtype");
    }
    return NULL;
}

float lt_cpu_dot(lt_dtype wt, const float *x, const void *w, int64_t K) {
    LT_ASSERT(wt == LT_F32 || wt == LT_F16 || wt == LT_BF16);
    return pick_dot(wt, lt_cpu_has_avx2())(x, w, K);
}

static inline float bias_of(const mm_ctx *c, int64_t n) { return c->bias ? c->bias[n] : 0.0f; }

/* Dot-product path: each weight row against every activation row (tiles of QTILE_T). */
static void mm_dot_job(void *arg, int ith, int nth) {
    mm_ctx *c = arg;
    const dot_fn dot = pick_dot(c->wt, c->avx2);
    const bool quant = c->wt == LT_Q8_0 || c->wt == LT_Q4_0;
    const char *xs = quant ? c->xq : (const char *)c->x;
    const size_t xrow = quant ? c->xq_row : (size_t)c->K * sizeof(float);
    const int64_t items = (c->N + c->chunk - 1) / c->chunk;
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (it >= items) break;
        int64_t n0 = it * c->chunk, n1 = n0 + c->chunk < c->N ? n0 + c->chunk : c->N;
#if LT_X86
        if (c->wt == LT_F16 && c->vnni && c->T >= F16_MIN_T) {
            const int64_t tiles = (c->T + F16_RT - 1) / F16_RT;
            for (int64_t j = 0; j < tiles; j++) {
                const int64_t t0 = c->T * j / tiles, t1 = c->T * (j + 1) / tiles;
                const f16t_fn fn = f16t_fns[t1 - t0];
                for (int64_t n = n0; n < n1; n++) {
                    float o[VNNI_RT];
                    fn(c->x + t0 * c->K, c->K, (const uint16_t *)(c->w + (size_t)n * c->w_row), o);
                    const float b = bias_of(c, n);
                    for (int64_t t = t0; t < t1; t++) c->y[t * c->N + n] = o[t - t0] + b;
                }
            }
            continue;
        }
        if (quant && c->vnni) {
            /* tiles of at most VNNI_RT rows (sizes as even as possible), each against every
               weight row of the item while the tile's activations stay in L1 */
            const int64_t tiles = (c->T + VNNI_RT - 1) / VNNI_RT, nb = c->K / LT_QK8_0;
            for (int64_t j = 0; j < tiles; j++) {
                const int64_t t0 = c->T * j / tiles, t1 = c->T * (j + 1) / tiles;
                const vnni_fn fn = vnni_fns[c->wt == LT_Q4_0][t1 - t0];
                const char *x0 = xs + (size_t)t0 * xrow;
                for (int64_t n = n0; n < n1; n++) {
                    float o[VNNI_RT];
                    fn(x0, xrow, c->w + (size_t)n * c->w_row, nb, o);
                    const float b = bias_of(c, n);
                    for (int64_t t = t0; t < t1; t++) c->y[t * c->N + n] = o[t - t0] + b;
                }
            }
            continue;
        }
#endif
        for (int64_t t0 = 0; t0 < c->T; t0 += QTILE_T) {
            int64_t t1 = t0 + QTILE_T < c->T ? t0 + QTILE_T : c->T;
            for (int64_t n = n0; n < n1; n++) {
                const char *wr = c->w + (size_t)n * c->w_row;
                const float b = bias_of(c, n);
                int64_t t = t0;
#if LT_X86
                if (quant && c->avx2) {
                    for (; t + 4 <= t1; t += 4) {
                        const char *xr[4];
                        float o[4];
                        for (int r = 0; r < 4; r++) xr[r] = xs + (size_t)(t + r) * xrow;
                        if (c->wt == LT_Q8_0) dot4_q8_0_x(xr, (const lt_block_q8_0 *)wr, c->K / LT_QK8_0, o);
                        else dot4_q4_0_x(xr, (const lt_block_q4_0 *)wr, c->K / LT_QK8_0, o);
                        for (int r = 0; r < 4; r++) c->y[(t + r) * c->N + n] = o[r] + b;
                    }
                    if (t + 2 <= t1) {
                        const char *xr[2] = {xs + (size_t)t * xrow, xs + (size_t)(t + 1) * xrow};
                        float o[2];
                        if (c->wt == LT_Q8_0) dot2_q8_0_x(xr, (const lt_block_q8_0 *)wr, c->K / LT_QK8_0, o);
                        else dot2_q4_0_x(xr, (const lt_block_q4_0 *)wr, c->K / LT_QK8_0, o);
                        c->y[t * c->N + n] = o[0] + b;
                        c->y[(t + 1) * c->N + n] = o[1] + b;
                        t += 2;
                    }
                }
#endif
                for (; t < t1; t++) c->y[t * c->N + n] = dot(xs + (size_t)t * xrow, wr, c->K) + b;
            }
        }
    }
}

/* sgemm path: f32 weights directly, f16/bf16 widened chunk by chunk into the thread's buffer. */
static void mm_gemm_job(void *arg, int ith, int nth) {
    mm_ctx *c = arg;
    const int64_t items = (c->N + c->chunk - 1) / c->chunk;
    float *buf = c->widen ? c->widen + (size_t)ith * (size_t)c->chunk * (size_t)c->K : NULL;
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (it >= items) break;
        int64_t n0 = it * c->chunk, n1 = n0 + c->chunk < c->N ? n0 + c->chunk : c->N;
        const float *wf;
        if (c->wt == LT_F32) {
            wf = (const float *)c->w + n0 * c->K;
        } else {
            for (int64_t n = n0; n < n1; n++) {
                const uint16_t *src = (const uint16_t *)(c->w + (size_t)n * c->w_row);
                float *dst = buf + (n - n0) * c->K;
                if (c->wt == LT_S24_F16) {
                    lt_cpu_s24_f16_widen(src, dst, c->K);
                    continue;
                }
                lt_cpu_dequant_row(c->wt, src, dst, c->K);
            }
            wf = buf;
        }
        lt_cpu_sgemm(true, (int)c->T, (int)(n1 - n0), (int)c->K, c->x, (int)c->K, wf, (int)c->K, c->y + n0, (int)c->N);
        if (c->bias)
            for (int64_t t = 0; t < c->T; t++)
                for (int64_t n = n0; n < n1; n++) c->y[t * c->N + n] += c->bias[n];
    }
}

typedef struct quant_ctx {
    const float *x;
    char *xq;
    size_t xq_row;
    int64_t T, K;
    int extend; /* 0: plain q8_0 rows; 1: extended (scales); 2: extended with q4_0 sums; 3: VNNI layout */
} quant_ctx;

static void quant_job(void *arg, int ith, int nth) {
    quant_ctx *q = arg;
    int64_t t0, t1;
    lt_cpu_split(q->T, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        char *row = q->xq + (size_t)t * q->xq_row;
        lt_cpu_quant_q8_0(q->x + t * q->K, (lt_block_q8_0 *)row, q->K);
#if LT_X86
        if (q->extend == 3) xv_extend(row, q->K / LT_QK8_0);
        else if (q->extend) xq_extend(row, q->K / LT_QK8_0, q->extend == 2);
#endif
    }
}

/* bytes of one activation row as the quantized dot products read it */
static size_t xq_row_bytes(lt_dtype wt, int64_t K, bool avx2, bool vnni) {
#if LT_X86
    if (vnni) return xv_row_bytes(K / LT_QK8_0);
    if (avx2) return xq_ext_row_bytes(K / LT_QK8_0, wt == LT_Q4_0);
#endif
    return lt_row_bytes(LT_Q8_0, K);
}

/* AVX-512 path for this call: all of them where the CPU has it, except q4_0 decoding (one
 * row), where the AVX2 dot product measured a few percent faster (same bits either way) */
static bool use_vnni(lt_dtype wt, int64_t T) { return lt_cpu_has_vnni() && !(wt == LT_Q4_0 && T == 1); }

/* Types with a fused dot product for decode whose prefill widens rows to f32 for sgemm (their
 * dot products, made for one row, lose to sgemm once a tile of activation rows can share the
 * widened weights): the 2:4 types and GPTQ's group-4-bit ones. */
static bool widened_qtype(lt_dtype wt) {
    return wt == LT_S24_F16 || wt == LT_S24_Q4 || wt == LT_GQ4_32 || wt == LT_GQ4_64 || wt == LT_GQ4_128;
}

static bool use_gemm(lt_dtype wt, int64_t T) {
    if (wt == LT_F32) return T >= DOT_MAX_T; /* dot products below: batch-invariant (speculation) */
    if (wt == LT_S24_Q4 && lt_cpu_has_avx2()) return T >= S24_Q4_GEMM_T;
    if (wt == LT_S24_F16 && lt_cpu_has_avx2()) return T >= S24_F16_GEMM_T;
    if (widened_qtype(wt)) return T >= DOT_MAX_T; /* rows widened to f32, as f16 */
    if (wt == LT_F16 && lt_cpu_has_vnni()) return T >= F16_GEMM_T;
    if (wt == LT_F16 || wt == LT_BF16) return T >= DOT_MAX_T;
    return false;
}

static int64_t gemm_chunk(int64_t K) {
    int64_t ch = WIDEN_BYTES / (int64_t)sizeof(float) / (K > 0 ? K : 1);
    ch = ch / 8 * 8;
    return ch < 8 ? 8 : ch > 256 ? 256 : ch;
}

/* (The scratch may be sized for the sgemm path and then not used when OpenBLAS cannot run.) */
size_t lt_cpu_matmul_scratch(lt_dtype wt, int64_t T, int64_t K, int n_threads) {
    if (wt == LT_Q4_0_R8) return lt_cpu_q4r8_scratch(T, K);
    const lt_cpu_qdot *qd = lt_cpu_qdot_find(wt);
    if (qd && widened_qtype(wt) && use_gemm(wt, T)) {
        size_t g = (size_t)n_threads * (size_t)gemm_chunk(K) * (size_t)K * sizeof(float), d = lt_cpu_qdot_scratch(qd, T, K);
        return g > d ? g : d; /* the qdot path still runs when OpenBLAS cannot */
    }
    if (qd) return lt_cpu_qdot_scratch(qd, T, K);
    if (wt == LT_Q8_0 || wt == LT_Q4_0) return (size_t)T * xq_row_bytes(wt, K, lt_cpu_has_avx2(), use_vnni(wt, T));
    if ((wt == LT_F16 || wt == LT_BF16) && use_gemm(wt, T))
        return (size_t)n_threads * (size_t)gemm_chunk(K) * (size_t)K * sizeof(float);
    return 0;
}

bool lt_cpu_matmul_prepare(lt_pool *p, lt_dtype wt, int64_t T, int64_t K) {
    size_t need = lt_cpu_matmul_scratch(wt, T, K, lt_pool_threads(p));
    return need == 0 || !p || lt_pool_scratch(p, 0, need) != NULL;
}

void lt_cpu_matmul(lt_pool *p, float *y, const float *x, const void *w, lt_dtype wt, const float *bias, int64_t T,
                   int64_t N, int64_t K) {
    if (T <= 0 || N <= 0) return;
    if (K == 0) {
        for (int64_t t = 0; t < T; t++)
            for (int64_t n = 0; n < N; n++) y[t * N + n] = bias ? bias[n] : 0.0f;
        return;
    }
    const int nth = lt_pool_threads(p);
    if (wt == LT_Q4_0_R8) { /* q4_0 interleaved by 8 rows: matmul_q4r8.c */
        void *owned = NULL, *scratch = p ? lt_pool_scratch(p, 0, lt_cpu_q4r8_scratch(T, K))
                                         : (owned = lt_aligned_alloc(lt_cpu_q4r8_scratch(T, K)));
        LT_ASSERT(scratch != NULL); /* callers reserve with lt_cpu_matmul_prepare first */
        lt_cpu_q4r8_matmul(p, scratch, y, x, w, bias, T, N, K);
        lt_aligned_free(owned);
        return;
    }
    const lt_cpu_qdot *qd = lt_cpu_qdot_find(wt);
    if (qd && use_gemm(wt, T) && lt_pool_blas_ok(p)) qd = NULL; /* 2:4 / gq4 prefill: widened rows + sgemm below */
    if (qd) {
        void *owned = NULL, *scratch = p ? lt_pool_scratch(p, 0, lt_cpu_qdot_scratch(qd, T, K))
                                         : (owned = lt_aligned_alloc(lt_cpu_qdot_scratch(qd, T, K)));
        LT_ASSERT(scratch != NULL); /* callers reserve with lt_cpu_matmul_prepare first */
        lt_cpu_qdot_matmul(p, qd, scratch, y, x, w, wt, bias, T, N, K);
        lt_aligned_free(owned);
        return;
    }
    mm_ctx c = {.y = y, .x = x, .w = w, .wt = wt, .bias = bias, .T = T, .N = N, .K = K,
                .w_row = lt_row_bytes(wt, K), .avx2 = lt_cpu_has_avx2(), .vnni = use_vnni(wt, T)};
    atomic_init(&c.next, 0);
    size_t need = lt_cpu_matmul_scratch(wt, T, K, nth);
    void *scratch = NULL, *owned = NULL;
    if (need) {
        scratch = p ? lt_pool_scratch(p, 0, need) : (owned = lt_aligned_alloc(need));
        LT_ASSERT(scratch != NULL); /* callers reserve with lt_cpu_matmul_prepare first */
    }
    if (use_gemm(wt, T) && lt_pool_blas_ok(p)) {
        if (wt == LT_F32) {
            /* ~8 items, so a busy neighbour core does not stall the call; the split depends
               on N only, so results do not change with the thread count */
            int64_t ch = (N / 8 + 15) / 16 * 16;
            c.chunk = ch < 64 ? 64 : ch;
        } else {
            c.chunk = gemm_chunk(K);
        }
        c.widen = scratch;
        lt_pool_run(p, mm_gemm_job, &c);
    } else {
        if (wt == LT_Q8_0 || wt == LT_Q4_0) {
            c.xq = scratch;
            c.xq_row = xq_row_bytes(wt, K, c.avx2, c.vnni);
            quant_ctx q = {x, scratch, c.xq_row, T, K, c.vnni ? 3 : c.avx2 ? (wt == LT_Q4_0 ? 2 : 1) : 0};
            if (T >= 4) lt_pool_run(p, quant_job, &q);
            else quant_job(&q, 0, 1);
        }
        /* ~256 KiB of weights per work item (long streams for the prefetcher, few atomics),
           but at least 4 items per thread so the load balances */
        int64_t ch = (int64_t)((256 << 10) / (c.w_row ? c.w_row : 1));
        int64_t per = (N + 4 * nth - 1) / (4 * nth);
        if (ch > per) ch = per;
        c.chunk = ch < 1 ? 1 : ch;
        lt_pool_run(p, mm_dot_job, &c);
    }
    lt_aligned_free(owned);
}
