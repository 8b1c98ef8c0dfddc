/* qdot_k2.c - CPU dot products for q2_K, q3_K, iq4_nl and iq4_xs weights (see lt_cpu_qdot in
 * cpu_impl.h), GGML's algorithms: the weight levels times the partner activation's int8 values
 * summed exactly in integers per block, then scaled and accumulated in f32.
 *
 * Partners (GGML's vec_dot_type): q2_K, q3_K and iq4_xs dot q8_K rows (lt_cpu_quant_q8_K: the
 * bytes of GGML's quantize_row_q8_K_ref, which GGML's x86 build also uses); iq4_nl dots q8_0 rows
 * (the backend's q8_0 quantizer) followed by each block's scale widened to f32 once per row.
 * Three paths, chosen at run time. Portable C does GGML's generic float operations
 * (ggml-cpu/quants.c). AVX2 does those of GGML's AVX2 kernels (ggml-cpu/arch/x86/quants.c): the
 * same 8 int32 lane sums per block, the same FMA order and final horizontal sum, so a row's result
 * has the bits of ggml_vec_dot_*'s x86 build for the same activation blocks. AVX-512 VNNI (where
 * lt_cpu_has_vnni) is the AVX2 source with 32 registers and vpdpbusd / vpdpwssd: bit-identical to
 * AVX2 (qdot_k2_simd.h holds both). The SIMD row kernels take 1..4 activation rows (dot4): a
 * weight block is unpacked once for all of them and each row gets exactly the operations of the
 * one-row kernel, so batched rows equal single rows.
 * Leaves out: 512-bit vectors, GGML's row-interleaved repacking (repack.cpp).
 */
#include <math.h>
#include <string.h>

#include "cpu_impl.h"

/* GGML's kvalues_iq4nl as a byte table (SIMD lookups); lt_iq4nl_value is the scalar form */
static const int8_t k_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* ---- activations ----------------------------------------------------------------------------- */

static size_t q8_K_row_bytes(int64_t K) { return (size_t)(K / LT_QK_K) * sizeof(lt_block_q8_K); }

static void quant_q8_K(const float *x, void *xq, int64_t K) { lt_cpu_quant_q8_K(x, xq, K); }

/* iq4_nl's partner row: the q8_0 blocks, then (4-byte aligned) each block's scale as f32 */
static size_t q8s_off(int64_t nb) { return ((size_t)nb * sizeof(lt_block_q8_0) + 3) & ~(size_t)3; }
static size_t q8s_row_bytes(int64_t K) { return q8s_off(K / LT_QK32) + (size_t)(K / LT_QK32) * sizeof(float); }

static void quant_q8s(const float *x, void *xq, int64_t K) {
    const int64_t nb = K / LT_QK32;
    lt_block_q8_0 *b = xq;
    float *sc = (float *)((char *)xq + q8s_off(nb));
    lt_cpu_quant_q8_0(x, b, K);
    for (int64_t i = 0; i < nb; i++) sc[i] = lt_f16_to_f32(b[i].d);
}

/* ---- portable: GGML's generic dot products ------------------------------------------------- */

static float dot_q2_K(const void *vw, const void *vx, int64_t K) {
    const lt_block_q2_K *w = vw;
    const lt_block_q8_K *y = vx;
    float sumf = 0;
    for (int64_t i = 0; i < K / LT_QK_K; i++) {
        const uint8_t *q2 = w[i].qs, *sc = w[i].scales;
        const int8_t *q8 = y[i].qs;
        int summs = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (sc[j] >> 4);
        const float dall = y[i].d * lt_f16_to_f32(w[i].d);
        const float dmin = y[i].d * lt_f16_to_f32(w[i].dmin);
        int isum = 0, is = 0;
        for (int k = 0; k < LT_QK_K / 128; k++) {
            for (int shift = 0; shift < 8; shift += 2) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += q8[l] * ((q2[l] >> shift) & 3);
                isum += (sc[is++] & 0xF) * s;
                s = 0;
                for (int l = 16; l < 32; l++) s += q8[l] * ((q2[l] >> shift) & 3);
                isum += (sc[is++] & 0xF) * s;
                q8 += 32;
            }
            q2 += 32;
        }
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

static float dot_q3_K(const void *vw, const void *vx, int64_t K) {
    const lt_block_q3_K *w = vw;
    const lt_block_q8_K *y = vx;
    float sums[8] = {0};
    for (int64_t i = 0; i < K / LT_QK_K; i++) {
        int8_t a[LT_QK_K];
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++)
                    a[128 * j + 32 * k + l] = (int8_t)(((w[i].qs[32 * j + l] >> (2 * k)) & 3) -
                                                       ((w[i].hmask[l] & (1 << (4 * j + k))) ? 0 : 4));
        int32_t aux32[8] = {0};
        const int8_t *q8 = y[i].qs;
        for (int g = 0; g < LT_QK_K / 16; g++) {
            const int sc = lt_q3_K_scale(w[i].scales, g) - 32;
            for (int l = 0; l < 8; l++) aux32[l] += sc * (q8[16 * g + l] * a[16 * g + l]);
            for (int l = 0; l < 8; l++) aux32[l] += sc * (q8[16 * g + 8 + l] * a[16 * g + 8 + l]);
        }
        const float d = lt_f16_to_f32(w[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * (float)aux32[l];
    }
    float sumf = 0;
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

/* sum of 32 iq4 values (nibbles of qs[16], GGML's order) times 32 int8 */
static int iq4_block_sum(const uint8_t *qs, const int8_t *q8) {
    int s1 = 0, s2 = 0;
    for (int j = 0; j < 16; j++) {
        s1 += q8[j] * k_iq4nl[qs[j] & 0xF];
        s2 += q8[j + 16] * k_iq4nl[qs[j] >> 4];
    }
    return s1 + s2;
}

static float dot_iq4_xs(const void *vw, const void *vx, int64_t K) {
    const lt_block_iq4_xs *w = vw;
    const lt_block_q8_K *y = vx;
    float sumf = 0;
    for (int64_t i = 0; i < K / LT_QK_K; i++) {
        const float d4d8 = lt_f16_to_f32(w[i].d) * y[i].d;
        for (int ib = 0; ib < LT_QK_K / 32; ib++) {
            const float dl = d4d8 * (float)(lt_iq4_xs_scale(&w[i], ib) - 32);
            sumf += dl * (float)iq4_block_sum(w[i].qs + 16 * ib, y[i].qs + 32 * ib);
        }
    }
    return sumf;
}

static float dot_iq4_nl(const void *vw, const void *vx, int64_t K) {
    const int64_t nb = K / LT_QK32;
    const lt_block_iq4_nl *w = vw;
    const lt_block_q8_0 *y = vx;
    const float *ys = (const float *)((const char *)vx + q8s_off(nb));
    float sumf = 0;
    for (int64_t i = 0; i < nb; i++) {
        const float d = ys[i] * lt_f16_to_f32(w[i].d);
        sumf += d * (float)iq4_block_sum(w[i].qs, y[i].q);
    }
    return sumf;
}

static const lt_cpu_qdot k_q2_K = {q8_K_row_bytes, quant_q8_K, dot_q2_K, NULL};
static const lt_cpu_qdot k_q3_K = {q8_K_row_bytes, quant_q8_K, dot_q3_K, NULL};
static const lt_cpu_qdot k_iq4_xs = {q8_K_row_bytes, quant_q8_K, dot_iq4_xs, NULL};
static const lt_cpu_qdot k_iq4_nl = {q8s_row_bytes, quant_q8s, dot_iq4_nl, NULL};

#if LT_X86
/* ---- x86: GGML's AVX2 kernels, 1..R activation rows per weight row ------------------------ */

#define LT_INLINE static inline __attribute__((always_inline))


/* The weight rows of a matmul are one contiguous stream; the hardware prefetchers alone leave a
 * decoding thread well below the rate it reaches with lines requested 2 KiB ahead (as qdot_k.c). */

/* int16 scale s of a 16-scale vector to the low 128-bit lane, s + 1 to the high one (GGML's
 * get_scale_shuffle_q3k(s / 2) on vectors holding 8 scales twice) */
LT_AVX2 LT_INLINE __m256i scale_pair(__m256i sc, int k) {
    const int lo = 4 * k, hi = 4 * k + 2;
    return _mm256_shuffle_epi8(sc, _mm256_setr_m128i(_mm_set1_epi16((int16_t)(lo | (lo + 1) << 8)),
                                                     _mm_set1_epi16((int16_t)(hi | (hi + 1) << 8))));
}

/* 16 int8 scales -> {scales 0..7 twice, scales 8..15 twice} as int16 */
LT_AVX2 LT_INLINE void scales16(__m128i s8, __m256i out[2]) {
    const __m256i all = _mm256_cvtepi8_epi16(s8);
    const __m128i lo = _mm256_castsi256_si128(all), hi = _mm256_extracti128_si256(all, 1);
    out[0] = _mm256_setr_m128i(lo, lo);
    out[1] = _mm256_setr_m128i(hi, hi);
}

/* 32 int8 x (|x| <= 127) times 32 int8 w as 16 int16 pair sums, given aw = |w| (GGML's
 * mul_add_epi8 with |w| hoisted out of the per-row work) */
LT_AVX2 LT_INLINE __m256i mul_signed(__m256i aw, __m256i w, __m256i x) {
    return _mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w));
}

#define ROWS_SETUP(YT)                                                                           \
    const YT *y[4];                                                                              \
    for (int r = 0; r < R; r++) y[r] = (const YT *)(xq + (size_t)r * stride);                    \
    __m256 acc[4];                                                                               \
    for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps()

/* 32 iq4 values of one block: low nibbles (elements 0..15) in the low lane, high in the high
 * (table: the 16 values in both lanes; one shuffle, the bytes loaded once into both lanes) */
LT_AVX2 LT_INLINE __m256i iq4_values(__m256i table, const uint8_t *qs) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_blend_epi32(b, _mm256_srli_epi16(b, 4), 0xF0),
                                                       _mm256_set1_epi8(0xF)));
}

/* 8 f16 scales 18 bytes apart (iq4_nl blocks) as f32: the halves packed in general registers,
 * one conversion (a conversion per block would cost as much as the block's products) */
LT_AVX2 LT_INLINE __m256 iq4_nl_scales8(const lt_block_iq4_nl *w) {
    uint64_t lo = 0, hi = 0;
    for (int j = 0; j < 4; j++) {
        lo |= (uint64_t)w[j].d << (16 * j);
        hi |= (uint64_t)w[j + 4].d << (16 * j);
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
}

/* the row kernels, for AVX2 and for AVX-512 VNNI (qdot_k2_simd.h) */
#define K2_TARGET LT_AVX2
#define K2_NAME(x) x##_avx2
#define K2_VNNI 0
#include "qdot_k2_simd.h"
#undef K2_TARGET
#undef K2_NAME
#undef K2_VNNI
#define K2_TARGET LT_VNNI
#define K2_NAME(x) x##_vnni
#define K2_VNNI 1
#include "qdot_k2_simd.h"
#undef K2_TARGET
#undef K2_NAME
#undef K2_VNNI

#endif

const lt_cpu_qdot *lt_cpu_qdot_k2(lt_dtype wt, bool avx2) {
#if LT_X86
    if (avx2) {
        const bool v = lt_cpu_has_vnni();
        switch (wt) {
        case LT_Q2_K: return v ? &k_q2_K_vnni : &k_q2_K_avx2;
        case LT_Q3_K: return v ? &k_q3_K_vnni : &k_q3_K_avx2;
        case LT_IQ4_NL: return v ? &k_iq4_nl_vnni : &k_iq4_nl_avx2;
        case LT_IQ4_XS: return v ? &k_iq4_xs_vnni : &k_iq4_xs_avx2;
        default: return NULL;
        }
    }
#else
    (void)avx2;
#endif
    switch (wt) {
    case LT_Q2_K: return &k_q2_K;
    case LT_Q3_K: return &k_q3_K;
    case LT_IQ4_NL: return &k_iq4_nl;
    case LT_IQ4_XS: return &k_iq4_xs;
    default: return NULL;
    }
}
