/* qdot_s24.c - CPU dot products for the 2:4 sparse weight types (s24_f16, s24_q4; blocks in
 * kernels/lt_quants.h), see lt_cpu_qdot in cpu_impl.h. Only the kept values are read: 2:4 f16
 * moves 9 bits per weight (56% of dense f16), 2:4 4-bit 3.5 (70% of q4_1's 5).
 *
 * The activations stay f32 (the "partner" row is a copy). Per 16 columns a block holds 8 kept
 * values with 2-bit positions; the kept activations are picked from the two 8-float halves of
 * the 16 columns with one permute each (lanes 0..3 from the low half, 4..7 from the high; the
 * indices come from a 256-entry table on each position byte) and multiplied with the 8 kept
 * weights (f16 widened by F16C, or 4-bit codes as d*q + m). Two accumulators (even and odd
 * blocks), summed at the end in one order. The 1- to 4-row forms are one inlined body, so a
 * row's float operations do not depend on how many rows go with it (batches equal single rows).
 * s24_q4 on AVX2 takes int8 activations instead (per 32 columns, f32 scale; rows_q4_i8 below):
 * measured 4x the f32 form's decode on llama-1b shapes (docs/PERF.md); LT_S24_Q4_F32=1 keeps the
 * f32 form.
 * Portable path: kept value by kept value, one accumulator, f32 activations.
 * Leaves out: AVX-512 forms (the loop is bound by the weight stream at decode), a sgemm path for
 * long prefills (dot products at every T).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_impl.h"

static size_t f32_row_bytes(int64_t K) { return (size_t)K * sizeof(float); }
static void copy_act(const float *x, void *xq, int64_t K) { memcpy(xq, x, (size_t)K * sizeof(float)); }

/* position of kept value k of a block (meta: the block's position bytes) */
static inline int pos_of(const uint8_t *meta, int k) { return (meta[k / 4] >> (2 * (k % 4))) & 3; }

/* ---- portable ---------------------------------------------------------------------------------- */

static inline __attribute__((always_inline)) void rows_f16_scalar(const uint8_t *w, const char *x, size_t stride,
                                                                   const int R, int64_t K, float *out) {
    float s[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < K / 16; b++) {
        const lt_block_s24_f16 *blk = (const lt_block_s24_f16 *)w + b;
        uint8_t meta[2] = {(uint8_t)(blk->meta & 255), (uint8_t)(blk->meta >> 8)};
        for (int k = 0; k < 8; k++) {
            const float v = lt_f16_to_f32(blk->v[k]);
            const int64_t col = 16 * b + 4 * (k / 2) + pos_of(meta, k);
            for (int r = 0; r < R; r++) s[r] += ((const float *)(x + (size_t)r * stride))[col] * v;
        }
    }
    for (int r = 0; r < R; r++) out[r] = s[r];
}

static inline __attribute__((always_inline)) void rows_q4_scalar(const uint8_t *w, const char *x, size_t stride,
                                                                  const int R, int64_t K, float *out) {
    float s[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < K / 64; b++) {
        const lt_block_s24_q4 *blk = (const lt_block_s24_q4 *)w + b;
        const float d = lt_f16_to_f32(blk->d), m = lt_f16_to_f32(blk->m);
        for (int k = 0; k < 32; k++) {
            const float v = (float)((blk->qs[k % 16] >> (4 * (k / 16))) & 15) * d + m;
            const int64_t col = 64 * b + 4 * (k / 2) + pos_of(blk->meta, k);
            for (int r = 0; r < R; r++) s[r] += ((const float *)(x + (size_t)r * stride))[col] * v;
        }
    }
    for (int r = 0; r < R; r++) out[r] = s[r];
}

#define S24_FNS(name, TARGET, ROWS)                                                                            \
    TARGET static float name##_dot(const void *w, const void *xq, int64_t K) {                                 \
        float o;                                                                                               \
        ROWS(w, xq, 0, 1, K, &o);                                                                              \
        return o;                                                                                              \
    }                                                                                                          \
    TARGET static void name##_dot4(const void *w, const char *xq, size_t stride, int R, int64_t K, float *out) { \
        switch (R) {                                                                                           \
        case 1: ROWS(w, xq, stride, 1, K, out); break;                                                         \
        case 2: ROWS(w, xq, stride, 2, K, out); break;                                                         \
        case 3: ROWS(w, xq, stride, 3, K, out); break;                                                         \
        default: ROWS(w, xq, stride, 4, K, out); break;                                                        \
        }                                                                                                      \
    }
#define NOTARGET
S24_FNS(f16_scalar, NOTARGET, rows_f16_scalar)
S24_FNS(q4_scalar, NOTARGET, rows_q4_scalar)
static const lt_cpu_qdot k_scalar[2] = {{f32_row_bytes, copy_act, f16_scalar_dot, f16_scalar_dot4},
                                        {f32_row_bytes, copy_act, q4_scalar_dot, q4_scalar_dot4}};

/* ---- AVX2 + FMA + F16C --------------------------------------------------------------------------- */

#if LT_X86

/* a position byte (4 kept values: 2 groups of 4 columns) -> the columns they read, 0..7 */
static _Alignas(16) int32_t k_lut[256][4];
static uint32_t k_lut8[256]; /* the same 4 columns as bytes */
static bool g_q4_f32;
static void lut_init(void) {
    for (int b = 0; b < 256; b++) {
        k_lut8[b] = 0;
        for (int k = 0; k < 4; k++) {
            k_lut[b][k] = 4 * (k / 2) + ((b >> (2 * k)) & 3);
            k_lut8[b] |= (uint32_t)k_lut[b][k] << (8 * k);
        }
    }
    const char *e = getenv("LT_S24_Q4_F32");
    g_q4_f32 = e && *e == '1';
}

/* the 8 kept activations of 16 columns at x (positions lo, hi: the two bytes) */
LT_AVX2 static inline __m256 pick8(const float *x, __m256i idx) {
    const __m256 a = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x), idx);
    const __m256 b = _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + 8), idx);
    return _mm256_blend_ps(a, b, 0xF0);
}
LT_AVX2 static inline __m256i idx8(uint8_t lo, uint8_t hi) {
    return _mm256_setr_m128i(_mm_load_si128((const __m128i *)k_lut[lo]), _mm_load_si128((const __m128i *)k_lut[hi]));
}

LT_AVX2 static inline __attribute__((always_inline)) void rows_f16_avx2(const uint8_t *w, const char *x,
                                                                         size_t stride, const int R, int64_t K,
                                                                         float *out) {
    __m256 a[4], c[4];
    for (int r = 0; r < R; r++) a[r] = c[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < K / 16; b++) {
        const uint8_t *blk = w + 18 * (size_t)b;
        if (!(b & 3)) lt_cpu_prefetch_ahead(blk, 2);
        const __m256i idx = idx8(blk[0], blk[1]);
        const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 2)));
        for (int r = 0; r < R; r++) {
            const __m256 g = pick8((const float *)(x + (size_t)r * stride) + 16 * b, idx);
            if (b & 1) c[r] = _mm256_fmadd_ps(g, v, c[r]);
            else a[r] = _mm256_fmadd_ps(g, v, a[r]);
        }
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(_mm256_add_ps(a[r], c[r]));
}

LT_AVX2 static inline __attribute__((always_inline)) void rows_q4_avx2(const uint8_t *w, const char *x, size_t stride,
                                                                        const int R, int64_t K, float *out) {
    __m256 a[4], c[4];
    for (int r = 0; r < R; r++) a[r] = c[r] = _mm256_setzero_ps();
    const __m128i m4 = _mm_set1_epi8(15);
    for (int64_t b = 0; b < K / 64; b++) {
        const lt_block_s24_q4 *blk = (const lt_block_s24_q4 *)w + b;
        lt_cpu_prefetch_ahead(blk, 1);
        const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)blk->d | (uint32_t)blk->m << 16)));
        const __m256 d = _mm256_broadcastss_ps(dm), m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
        const __m128i qs = _mm_loadu_si128((const __m128i *)blk->qs);
        const __m128i lo = _mm_and_si128(qs, m4), hi = _mm_and_si128(_mm_srli_epi16(qs, 4), m4);
        for (int s = 0; s < 4; s++) { /* kept 8s .. 8s+7: columns 16s .. 16s+15 */
            const __m128i q8 = s == 0 ? lo : s == 1 ? _mm_srli_si128(lo, 8) : s == 2 ? hi : _mm_srli_si128(hi, 8);
            const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q8)), d, m);
            const __m256i idx = idx8(blk->meta[2 * s], blk->meta[2 * s + 1]);
            for (int r = 0; r < R; r++) {
                const __m256 g = pick8((const float *)(x + (size_t)r * stride) + 64 * b + 16 * s, idx);
                if (s & 1) c[r] = _mm256_fmadd_ps(g, v, c[r]);
                else a[r] = _mm256_fmadd_ps(g, v, a[r]);
            }
        }
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(_mm256_add_ps(a[r], c[r]));
}

/* s24_q4 with int8 activations: per 32 columns 32 int8 (at 32 i) and an f32 scale (at K + 4 i),
 * x ~ d * q, d = max|x| / 127. A block's 32 kept activations are picked with one byte shuffle per
 * 32 columns (8 of each 16 per 128-bit lane), interleaved as the nibbles are (lane 0: kept 0..7
 * and 16..23, lane 1: 8..15 and 24..31), and dotted with the codes by maddubs; the min term takes
 * the kept activations' sum (maddubs with ones). Per block: (d_w * sum(q x) + m_w * sum(x)) * d_x. */
static size_t i8_row_bytes(int64_t K) { return (size_t)K + (size_t)(K / 32) * sizeof(float); }
static void quant_i8(const float *x, void *xq, int64_t K) {
    int8_t *q = xq;
    float *d = (float *)((char *)xq + K);
    for (int64_t b = 0; b < K / 32; b++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        const float db = amax / 127.0f, id = db > 0 ? 1.0f / db : 0.0f;
        for (int j = 0; j < 32; j++) q[32 * b + j] = (int8_t)lrintf(x[32 * b + j] * id);
        d[b] = db;
    }
}

static inline uint64_t sidx(uint8_t lo, uint8_t hi) {
    return (uint64_t)k_lut8[lo] | (uint64_t)(k_lut8[hi] + 0x08080808u) << 32;
}

LT_AVX2 static inline __attribute__((always_inline)) void rows_q4_i8(const uint8_t *w, const char *x, size_t stride,
                                                                      const int R, int64_t K, float *out) {
    __m256 a[4];
    for (int r = 0; r < R; r++) a[r] = _mm256_setzero_ps();
    const __m128i m4 = _mm_set1_epi8(15);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    const int64_t z = (int64_t)0x8080808080808080ll; /* shuffle to 0 */
    for (int64_t b = 0; b < K / 64; b++) {
        const lt_block_s24_q4 *blk = (const lt_block_s24_q4 *)w + b;
        lt_cpu_prefetch_ahead(blk, 1);
        const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)blk->d | (uint32_t)blk->m << 16)));
        const __m256 dw = _mm256_broadcastss_ps(dm), mw = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
        const __m128i qs = _mm_loadu_si128((const __m128i *)blk->qs);
        const __m128i lo = _mm_and_si128(qs, m4), hi = _mm_and_si128(_mm_srli_epi16(qs, 4), m4);
        const __m256i wv = _mm256_setr_m128i(_mm_unpacklo_epi64(lo, hi), _mm_unpackhi_epi64(lo, hi));
        const uint8_t *mt = blk->meta;
        const __m256i ia = _mm256_setr_epi64x((int64_t)sidx(mt[0], mt[1]), z, (int64_t)sidx(mt[2], mt[3]), z);
        const __m256i ib = _mm256_setr_epi64x((int64_t)sidx(mt[4], mt[5]), z, (int64_t)sidx(mt[6], mt[7]), z);
        for (int r = 0; r < R; r++) {
            const int8_t *xr = (const int8_t *)(x + (size_t)r * stride);
            const float *xd = (const float *)(x + (size_t)r * stride + K);
            const __m256i pa = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(xr + 64 * b)), ia);
            const __m256i pb = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(xr + 64 * b + 32)), ib);
            const __m256i xk = _mm256_unpacklo_epi64(pa, pb);
            const __m256i p32 = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, xk), ones16);
            const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xk), ones16);
            const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), dw, _mm256_mul_ps(_mm256_cvtepi32_ps(s32), mw));
            const float da = xd[2 * b], db = xd[2 * b + 1];
            a[r] = _mm256_fmadd_ps(v, _mm256_setr_ps(da, da, db, db, da, da, db, db), a[r]);
        }
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(a[r]);
}

S24_FNS(f16_avx2, LT_AVX2, rows_f16_avx2)
S24_FNS(q4_avx2, LT_AVX2, rows_q4_avx2)
S24_FNS(q4_i8, LT_AVX2, rows_q4_i8)
static const lt_cpu_qdot k_avx2[2] = {{f32_row_bytes, copy_act, f16_avx2_dot, f16_avx2_dot4},
                                      {i8_row_bytes, quant_i8, q4_i8_dot, q4_i8_dot4}};
/* the f32-activation s24_q4 form (exact activations; LT_S24_Q4_F32=1 picks it) */
static const lt_cpu_qdot k_q4_f32 = {f32_row_bytes, copy_act, q4_avx2_dot, q4_avx2_dot4};
#endif
#undef S24_FNS
#undef NOTARGET

const lt_cpu_qdot *lt_cpu_qdot_s24(lt_dtype wt, bool avx2) {
    if (wt != LT_S24_F16 && wt != LT_S24_Q4) return NULL;
    const int k = wt == LT_S24_Q4;
#if LT_X86
    if (avx2) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        pthread_once(&once, lut_init);
        return k && g_q4_f32 ? &k_q4_f32 : &k_avx2[k];
    }
#else
    (void)avx2;
#endif
    return &k_scalar[k];
}
