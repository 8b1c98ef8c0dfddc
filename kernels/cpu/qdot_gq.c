/* qdot_gq.c - CPU dot products for the gq4 weight types (group-quantized 4-bit, GPTQ; blocks of
 * 32/64/128 in lt_quants.h), see lt_cpu_qdot in cpu_impl.h.
 *
 * The activations are q8_1 (int8 per 32 with the block's d and d * sum(q), as for q4_1): a gq4
 * element is d_w * (q - z), so per 32-element sub-block the dot is
 *     d_w * d_x * sum(q * x_q) - (d_w * z) * s_x,
 * q4_1's formula with the min m_w = -d_w * z (exact in f32: d_w is an f16, z an integer < 16).
 * The integer sums are exact; the scales are applied in f32 per sub-block.
 * Measured on SmolLM2-shaped matrices (docs/PERF.md): int8 activations beat f32 ones on the
 * memory-bound decode (a gq4 row is read once per token; the unpack and maddubs are cheaper
 * than 32 FMAs per sub-block) - the same trade GGML makes.
 *
 * Portable path: q8_1 blocks, one sub-block after the other. AVX2 + FMA + F16C path: the
 * extended q8_1 row of qdot_legacy.c (int8 at 32 i, then (d_i, s_i) as f32 pairs), the nibbles
 * of a sub-block as 32 unsigned bytes against the signed activations (maddubs), one f32 FMA per
 * sub-block into even/odd accumulators and the min terms in a third; the 1- to 4-row forms are
 * one inlined body so a row's float operations do not depend on how many rows go with it
 * (batches equal single rows). AVX-512 VL/BW/VNNI: the same with dpbusd (the same integers, so
 * the same bits as AVX2; LT_CPU_NO_VNNI=1 keeps AVX2).
 * Leaves out: 2/3/8-bit codes (loaded as f16), act-order permutations (loaded as f16 unless the
 * groups are runs of 32 columns).
 */
#include <string.h>

#include "cpu_impl.h"

static int gq_block(lt_dtype t) { return t == LT_GQ4_32 ? 32 : t == LT_GQ4_64 ? 64 : 128; }

/* ---- portable ------------------------------------------------------------------------------------ */

static size_t q8_1_row_bytes(int64_t K) { return (size_t)(K / 32) * sizeof(lt_block_q8_1); }

static void quant_q8_1(const float *x, void *xq, int64_t K) {
    lt_block_q8_1 *y = xq;
    for (int64_t i = 0; i < K / 32; i++) lt_quant_q8_1(x + i * 32, y + i);
}

static inline float dot_scalar(const int G, const void *w, const void *xq, int64_t K) {
    const uint8_t *wb = w;
    const size_t bb = 4 + (size_t)G / 2;
    const lt_block_q8_1 *x = xq;
    float s = 0.0f;
    for (int64_t b = 0; b < K / G; b++) {
        const uint8_t *blk = wb + (size_t)b * bb;
        uint16_t dh, zh;
        memcpy(&dh, blk, 2);
        memcpy(&zh, blk + 2, 2);
        const float d = lt_f16_to_f32(dh), m = -(d * lt_f16_to_f32(zh));
        for (int sb = 0; sb < G / 32; sb++) {
            const uint8_t *qs = blk + 4 + 16 * sb;
            const lt_block_q8_1 *xb = x + b * (G / 32) + sb;
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += (qs[j] & 15) * xb->qs[j] + (qs[j] >> 4) * xb->qs[j + 16];
            s += d * lt_f16_to_f32(xb->d) * (float)sum + m * lt_f16_to_f32(xb->s);
        }
    }
    return s;
}
static float dot32_scalar(const void *w, const void *xq, int64_t K) { return dot_scalar(32, w, xq, K); }
static float dot64_scalar(const void *w, const void *xq, int64_t K) { return dot_scalar(64, w, xq, K); }
static float dot128_scalar(const void *w, const void *xq, int64_t K) { return dot_scalar(128, w, xq, K); }
static const lt_cpu_qdot k_scalar[3] = {{q8_1_row_bytes, quant_q8_1, dot32_scalar, NULL},
                                        {q8_1_row_bytes, quant_q8_1, dot64_scalar, NULL},
                                        {q8_1_row_bytes, quant_q8_1, dot128_scalar, NULL}};

/* ---- AVX2 / AVX-512 VNNI -------------------------------------------------------------------------- */

#if LT_X86

static size_t x1_row_bytes(int64_t K) { return (size_t)(K / 32) * 40; }

LT_AVX2 static inline __m256i nib32(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(15));
}
LT_AVX2 static inline __m256i lanes_a(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
LT_VNNI static inline __m256i lanes_v(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }

#define GQ_PF 4096

/* out[r] = activation row r (R rows, stride bytes apart) . weight row w, G-element blocks */
#define GQ_ROWS(NAME, TARGET, LANES)                                                                           \
    TARGET static inline __attribute__((always_inline)) void NAME(const int G, const uint8_t *w, const char *x,  \
                                                                   size_t stride, const int R, int64_t K,        \
                                                                   float *out) {                                 \
        const int64_t nb = K / 32;                                                                              \
        const size_t bb = 4 + (size_t)G / 2;                                                                    \
        __m256 a[4], b[4];                                                                                      \
        __m128 ms[4];                                                                                           \
        for (int r = 0; r < R; r++) a[r] = b[r] = _mm256_setzero_ps(), ms[r] = _mm_setzero_ps();                \
        for (int64_t blk = 0; blk < K / G; blk++) {                                                             \
            const uint8_t *wb = w + (size_t)blk * bb;                                                           \
            _mm_prefetch((const char *)wb + GQ_PF, _MM_HINT_T0);                                                \
            uint32_t dz;                                                                                        \
            memcpy(&dz, wb, 4);                                                                                 \
            const __m128 dzf = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dz)); /* d, z */                             \
            const float dw = _mm_cvtss_f32(dzf), zw = _mm_cvtss_f32(_mm_movehdup_ps(dzf));                    \
            const __m128 dmw = _mm_setr_ps(dw, -(dw * zw), 0.0f, 0.0f); /* (d_w, m_w) */                       \
            for (int sb = 0; sb < G / 32; sb++) {                                                               \
                const int64_t i = blk * (G / 32) + sb;                                                          \
                const __m256i wu = nib32(wb + 4 + 16 * sb);                                                     \
                for (int r = 0; r < R; r++) {                                                                   \
                    const char *xr = x + (size_t)r * stride;                                                    \
                    const __m256i l = LANES(wu, _mm256_load_si256((const __m256i *)(xr + 32 * i)));              \
                    const __m128 p =                                                                            \
                        _mm_mul_ps(dmw, _mm_castpd_ps(_mm_load_sd((const double *)(xr + 32 * nb) + i)));        \
                    if (i & 1) b[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), _mm256_cvtepi32_ps(l), b[r]);  \
                    else a[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), _mm256_cvtepi32_ps(l), a[r]);         \
                    ms[r] = _mm_add_ps(ms[r], p);                                                               \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        for (int r = 0; r < R; r++) out[r] = hsum8(_mm256_add_ps(a[r], b[r])) + _mm_cvtss_f32(_mm_movehdup_ps(ms[r])); \
    }
GQ_ROWS(rows_avx2, LT_AVX2, lanes_a)
GQ_ROWS(rows_vnni, LT_VNNI, lanes_v)
#undef GQ_ROWS

#define GQ_FNS(name, TARGET, ROWS, G)                                                                          \
    TARGET static float name##_dot(const void *w, const void *xq, int64_t K) {                                 \
        float o;                                                                                               \
        ROWS(G, w, xq, 0, 1, K, &o);                                                                           \
        return o;                                                                                              \
    }                                                                                                          \
    TARGET static void name##_dot4(const void *w, const char *xq, size_t stride, int R, int64_t K, float *out) {  \
        switch (R) {                                                                                           \
        case 1: ROWS(G, w, xq, stride, 1, K, out); break;                                                      \
        case 2: ROWS(G, w, xq, stride, 2, K, out); break;                                                      \
        case 3: ROWS(G, w, xq, stride, 3, K, out); break;                                                      \
        default: ROWS(G, w, xq, stride, 4, K, out); break;                                                     \
        }                                                                                                      \
    }
GQ_FNS(g32_avx2, LT_AVX2, rows_avx2, 32)
GQ_FNS(g64_avx2, LT_AVX2, rows_avx2, 64)
GQ_FNS(g128_avx2, LT_AVX2, rows_avx2, 128)
GQ_FNS(g32_vnni, LT_VNNI, rows_vnni, 32)
GQ_FNS(g64_vnni, LT_VNNI, rows_vnni, 64)
GQ_FNS(g128_vnni, LT_VNNI, rows_vnni, 128)
#undef GQ_FNS

static const lt_cpu_qdot k_avx2[3] = {{x1_row_bytes, lt_cpu_quant_x1_avx2, g32_avx2_dot, g32_avx2_dot4},
                                      {x1_row_bytes, lt_cpu_quant_x1_avx2, g64_avx2_dot, g64_avx2_dot4},
                                      {x1_row_bytes, lt_cpu_quant_x1_avx2, g128_avx2_dot, g128_avx2_dot4}};
static const lt_cpu_qdot k_vnni[3] = {{x1_row_bytes, lt_cpu_quant_x1_avx2, g32_vnni_dot, g32_vnni_dot4},
                                      {x1_row_bytes, lt_cpu_quant_x1_avx2, g64_vnni_dot, g64_vnni_dot4},
                                      {x1_row_bytes, lt_cpu_quant_x1_avx2, g128_vnni_dot, g128_vnni_dot4}};
#endif

const lt_cpu_qdot *lt_cpu_qdot_gq(lt_dtype wt, bool avx2) {
    if (wt != LT_GQ4_32 && wt != LT_GQ4_64 && wt != LT_GQ4_128) return NULL;
    const int k = gq_block(wt) == 32 ? 0 : gq_block(wt) == 64 ? 1 : 2;
#if LT_X86
    if (avx2) return lt_cpu_has_vnni() ? &k_vnni[k] : &k_avx2[k];
#else
    (void)avx2;
#endif
    return &k_scalar[k];
}
