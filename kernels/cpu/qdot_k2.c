/* qdot_k2.c - CPU dot products for q2_K, q3_K, iq4_nl and iq4_xs weights (see lt_cpu_qdot in
 * cpu_impl.h), GGML's algorithms: the weight levels times the partner activation's int8 values
 * summed exactly in integers per block, then scaled and accumulated in f32.
 *
 * Partners (GGML's vec_dot_type): q2_K, q3_K and iq4_xs dot q8_K rows (lt_cpu_quant_q8_K: the bytes
 * of GGML's quantize_row_q8_K_ref, which GGML's x86 build also uses); iq4_nl dots q8_0 rows (the backend's q8_0
 * quantizer) followed by each block's scale widened to f32 once per row.
 * The portable dot products do GGML's generic float operations (ggml-cpu/quants.c), the AVX2 ones
 * those of GGML's AVX2 kernels (ggml-cpu/arch/x86/quants.c): the same 8 int32 lane sums per
 * block, the same FMA order and final horizontal sum, so a row's result has GGML's bits for the
 * same activation blocks. The AVX2 row kernels take 1..4 activation rows (dot4): a weight block
 * is unpacked once for all of them and each row gets exactly the operations of the one-row
 * kernel, so batched rows equal single rows.
 * Leaves out: AVX-512 / VNNI variants, GGML's row-interleaved repacking (repack.cpp).
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
/* ---- AVX2: GGML's x86 kernels, 1..R activation rows per weight row ------------------------ */

#define LT_INLINE static inline __attribute__((always_inline))

LT_AVX2 static inline float f16_1(uint16_t h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

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

LT_AVX2 LT_INLINE void q2_K_rows(const lt_block_q2_K *w, const char *xq, size_t stride, const int R, int64_t nb,
                                 float *out) {
    ROWS_SETUP(lt_block_q8_K);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xF);
    for (int64_t i = 0; i < nb; i++) {
        /* d and dmin are adjacent: one conversion */
        uint32_t dd;
        memcpy(&dd, &w[i].d, 4);
        const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dd));
        const float dw = _mm_cvtss_f32(dm), mw = _mm_cvtss_f32(_mm_movehdup_ps(dm));
        const __m128i ms = _mm_loadu_si128((const __m128i *)w[i].scales);
        const __m256i mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(ms, 4), m4));
        for (int r = 0; r < R; r++) {
            const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[r][i].bsums));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(-y[r][i].d * mw), _mm256_cvtepi32_ps(prod), acc[r]);
        }
        __m256i sc[2];
        scales16(_mm_and_si128(ms, m4), sc);
        __m256i sumi[4];
        for (int r = 0; r < R; r++) sumi[r] = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * j));
            for (int k = 0; k < 4; k++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i s = scale_pair(sc[j], k);
                for (int r = 0; r < R; r++) {
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(y[r][i].qs + 128 * j + 32 * k));
                    sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, x)));
                }
            }
        }
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[r][i].d * dw), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

LT_AVX2 LT_INLINE void q3_K_rows(const lt_block_q3_K *w, const char *xq, size_t stride, const int R, int64_t nb,
                                 float *out) {
    ROWS_SETUP(lt_block_q8_K);
    const __m256i m3 = _mm256_set1_epi8(3), neg4 = _mm256_set1_epi8(-4), zero = _mm256_setzero_si256();
    for (int64_t i = 0; i < nb; i++) {
        /* the 16 6-bit scales minus 32 (GGML's kmask unpacking) */
        uint32_t a[3];
        memcpy(a, w[i].scales, 12);
        const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f;
        const __m128i s8 = _mm_sub_epi8(_mm_setr_epi32((int)((a[0] & k2) | (((a[2] >> 0) & k1) << 4)),
                                                       (int)((a[1] & k2) | (((a[2] >> 2) & k1) << 4)),
                                                       (int)(((a[0] >> 4) & k2) | (((a[2] >> 4) & k1) << 4)),
                                                       (int)(((a[1] >> 4) & k2) | (((a[2] >> 6) & k1) << 4))),
                                        _mm_set1_epi8(32));
        __m256i sc[2];
        scales16(s8, sc);
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)w[i].hmask);
        __m256i sumi[4];
        for (int r = 0; r < R; r++) sumi[r] = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * j));
            for (int k = 0; k < 4; k++) {
                const __m256i s = scale_pair(sc[j], k);
                const __m256i ql = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                if (R == 1) {
                    const int b = 4 * j + k;
                    const __m256i qh = _mm256_slli_epi16(
                        _mm256_srli_epi16(_mm256_andnot_si256(hbits, _mm256_slli_epi16(_mm256_set1_epi8(1), b)), b), 2);
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(y[0][i].qs + 128 * j + 32 * k));
                    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(ql, x), _mm256_maddubs_epi16(qh, x));
                    sumi[0] = _mm256_add_epi32(sumi[0], _mm256_madd_epi16(s, p));
                    continue;
                }
                /* level - 4 where the high bit is clear: 0..3 | 0xFC is level - 4 */
                const __m256i hb = _mm256_and_si256(hbits, _mm256_set1_epi8((char)(1 << (4 * j + k))));
                const __m256i q = _mm256_or_si256(ql, _mm256_and_si256(_mm256_cmpeq_epi8(hb, zero), neg4));
                const __m256i aq = _mm256_sign_epi8(q, q);
                for (int r = 0; r < R; r++) {
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(y[r][i].qs + 128 * j + 32 * k));
                    sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(s, mul_signed(aq, q, x)));
                }
            }
        }
        const float dw = f16_1(w[i].d);
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[r][i].d * dw), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

/* 32 iq4 values of one block: low nibbles (elements 0..15) in the low lane, high in the high
 * (table: the 16 values in both lanes; one shuffle, the bytes loaded once into both lanes) */
LT_AVX2 LT_INLINE __m256i iq4_values(__m256i table, const uint8_t *qs) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_blend_epi32(b, _mm256_srli_epi16(b, 4), 0xF0),
                                                       _mm256_set1_epi8(0xF)));
}

LT_AVX2 LT_INLINE void iq4_xs_rows(const lt_block_iq4_xs *w, const char *xq, size_t stride, const int R, int64_t nb,
                                   float *out) {
    ROWS_SETUP(lt_block_q8_K);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)k_iq4nl));
    for (int64_t i = 0; i < nb; i++) {
        __m256i sumi[4];
        for (int r = 0; r < R; r++) sumi[r] = _mm256_setzero_si256();
        for (int ib = 0; ib < LT_QK_K / 32; ib++) {
            const __m256i q = iq4_values(table, w[i].qs + 16 * ib), aq = _mm256_sign_epi8(q, q);
            const __m256i s = _mm256_set1_epi16((int16_t)(lt_iq4_xs_scale(&w[i], ib) - 32));
            for (int r = 0; r < R; r++) {
                const __m256i x = _mm256_loadu_si256((const __m256i *)(y[r][i].qs + 32 * ib));
                sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(mul_signed(aq, q, x), s));
            }
        }
        const float dw = f16_1(w[i].d);
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[r][i].d), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

/* GGML's: even blocks into one accumulator, odd blocks into another, the last block of an odd
 * count in scalar after the horizontal sum (an FMA, as GCC and clang compile GGML's `sumf +=
 * d * sum` for FMA targets) */
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

LT_AVX2 LT_INLINE void iq4_nl_rows(const lt_block_iq4_nl *w, const char *xq, size_t stride, const int R, int64_t nb,
                                   float *out) {
    const lt_block_q8_0 *y[4];
    const float *ys[4];
    __m256 acc1[4], acc2[4];
    for (int r = 0; r < R; r++) {
        y[r] = (const lt_block_q8_0 *)(xq + (size_t)r * stride);
        ys[r] = (const float *)(xq + (size_t)r * stride + q8s_off(nb));
        acc1[r] = acc2[r] = _mm256_setzero_ps();
    }
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)k_iq4nl));
    const __m256i ones = _mm256_set1_epi16(1);
#define IQ4_NL_PAIR(i, S1, S2)                                                                   \
    do {                                                                                         \
        const __m256i q1 = iq4_values(table, w[i].qs), aq1 = _mm256_sign_epi8(q1, q1);          \
        const __m256i q2 = iq4_values(table, w[(i) + 1].qs), aq2 = _mm256_sign_epi8(q2, q2);    \
        for (int r = 0; r < R; r++) {                                                            \
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)y[r][i].q);                   \
            const __m256i x2 = _mm256_loadu_si256((const __m256i *)y[r][(i) + 1].q);             \
            const __m256i p1 = _mm256_madd_epi16(mul_signed(aq1, q1, x1), ones);                 \
            const __m256i p2 = _mm256_madd_epi16(mul_signed(aq2, q2, x2), ones);                 \
            acc1[r] = _mm256_fmadd_ps(S1, _mm256_cvtepi32_ps(p1), acc1[r]);                      \
            acc2[r] = _mm256_fmadd_ps(S2, _mm256_cvtepi32_ps(p2), acc2[r]);                      \
        }                                                                                        \
    } while (0)
    int64_t i = 0;
    /* 8 blocks at a time: the products of the scales (GGML's d_x * d_w per block, the same
       rounding as one multiply each) stored once, each broadcast from memory */
    for (; i + 8 <= nb; i += 8) {
        const __m256 dw = iq4_nl_scales8(w + i);
        float s[4][8];
        for (int r = 0; r < R; r++) _mm256_storeu_ps(s[r], _mm256_mul_ps(_mm256_loadu_ps(ys[r] + i), dw));
        for (int j = 0; j < 8; j += 2)
            IQ4_NL_PAIR(i + j, _mm256_broadcast_ss(&s[r][j]), _mm256_broadcast_ss(&s[r][j + 1]));
    }
    for (; i + 1 < nb; i += 2) {
        const float d1 = f16_1(w[i].d), d2 = f16_1(w[i + 1].d);
        IQ4_NL_PAIR(i, _mm256_set1_ps(ys[r][i] * d1), _mm256_set1_ps(ys[r][i + 1] * d2));
    }
#undef IQ4_NL_PAIR
    for (int r = 0; r < R; r++) {
        out[r] = hsum8(_mm256_add_ps(acc1[r], acc2[r]));
        if (i < nb) {
            const float d = ys[r][i] * f16_1(w[i].d);
            out[r] = fmaf(d, (float)iq4_block_sum(w[i].qs, y[r][i].q), out[r]);
        }
    }
}

/* one-row dot products and the 1..4-row form (the same inlined kernel, R fixed per call) */
#define KERNELS(name, WT, NB)                                                                     \
    LT_AVX2 static float name##_dot_v(const void *w, const void *xq, int64_t K) {                \
        float o;                                                                                  \
        name##_rows((const WT *)w, (const char *)xq, 0, 1, (NB), &o);                             \
        return o;                                                                                 \
    }                                                                                             \
    LT_AVX2 static void name##_dot4_v(const void *w, const char *xq, size_t stride, int R, int64_t K, float *out) { \
        const WT *wb = w;                                                                         \
        switch (R) {                                                                              \
        case 1: name##_rows(wb, xq, stride, 1, (NB), out); break;                                 \
        case 2: name##_rows(wb, xq, stride, 2, (NB), out); break;                                 \
        case 3: name##_rows(wb, xq, stride, 3, (NB), out); break;                                 \
        default: name##_rows(wb, xq, stride, 4, (NB), out); break;                                \
        }                                                                                         \
    }
KERNELS(q2_K, lt_block_q2_K, K / LT_QK_K)
KERNELS(q3_K, lt_block_q3_K, K / LT_QK_K)
KERNELS(iq4_xs, lt_block_iq4_xs, K / LT_QK_K)
KERNELS(iq4_nl, lt_block_iq4_nl, K / LT_QK32)
#undef KERNELS

static const lt_cpu_qdot k_q2_K_v = {q8_K_row_bytes, quant_q8_K, q2_K_dot_v, q2_K_dot4_v};
static const lt_cpu_qdot k_q3_K_v = {q8_K_row_bytes, quant_q8_K, q3_K_dot_v, q3_K_dot4_v};
static const lt_cpu_qdot k_iq4_xs_v = {q8_K_row_bytes, quant_q8_K, iq4_xs_dot_v, iq4_xs_dot4_v};
static const lt_cpu_qdot k_iq4_nl_v = {q8s_row_bytes, quant_q8s, iq4_nl_dot_v, iq4_nl_dot4_v};
#endif

const lt_cpu_qdot *lt_cpu_qdot_k2(lt_dtype wt, bool avx2) {
#if LT_X86
    if (avx2) {
        switch (wt) {
        case LT_Q2_K: return &k_q2_K_v;
        case LT_Q3_K: return &k_q3_K_v;
        case LT_IQ4_NL: return &k_iq4_nl_v;
        case LT_IQ4_XS: return &k_iq4_xs_v;
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
