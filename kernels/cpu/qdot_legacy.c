/* qdot_legacy.c - CPU dot products for q4_1, q5_0 and q5_1 weights (see lt_cpu_qdot in
 * cpu_impl.h), GGML's partners and arithmetic: q4_1 and q5_1 rows are dotted with q8_1
 * activations, q5_0 rows with q8_0. Per block the weight and activation integers are multiplied
 * and summed exactly (GGML's sumi), then scaled in f32: sum += (d_w * d_x) * sumi, plus
 * m_w * s_x for the types with a min (s_x: the q8_1 block's f16 d_x * sum(q_x)).
 *
 * Portable path: GGML's q8_1 / q8_0 blocks, one block after the other (the order of GGML's
 * generic dot products). AVX2 + FMA + F16C path: the activations go to an "extended" row that
 * holds each block's 32 int8 values 32-byte aligned, then per block the f32 scales GGML's
 * f16 ones stand for (q8_1: d and s side by side; q8_0: d, after the per-block correction
 * described below), so the inner loop converts no activation scale. The weights' nibbles
 * (plus 16 where the 5th bit is set) are unsigned, so they multiply the signed activations
 * directly (maddubs); q5_0's offset of -16 is one addition of -16 * (lane sums of x), kept
 * in the row per block. Each row is summed in two accumulators (even and odd blocks) and
 * the min terms (d_w*d_x, m_w*s_x computed as one 2-lane product) in a third, pairwise per
 * two blocks; the 1- to 4-row forms are one inlined body, so a row's float operations do not
 * depend on how many rows are computed with it (batches equal single rows). Weights are
 * prefetched 4 KiB ahead. Where the CPU has AVX-512 VL/BW/VNNI the same body runs with
 * dpbusd and a mask move for the 5th bits (the same integers, so the same bits as AVX2;
 * LT_CPU_NO_VNNI=1 keeps AVX2).
 * Activation bytes are identical on every path (lt_quant_q8_1 / the dtype table's q8_0).
 * Leaves out: 512-bit forms (two blocks per register, as matmul.c's q4_0: prefill would gain,
 * decode is memory-bound), GGML's round-half-even AVX2 q8_1 quantizer (lathe keeps the
 * reference quantizer's bytes on every path).
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_impl.h"

_Static_assert(LT_QK32 == LT_QK8_0, "the legacy types dot with q8_0 / q8_1 blocks of the same length");

#define NB(K) ((K) / LT_QK32)

/* ---- portable path: GGML's q8_1 / q8_0 blocks ------------------------------------------------ */

static size_t q8_1_row_bytes(int64_t K) { return (size_t)NB(K) * sizeof(lt_block_q8_1); }
static size_t q8_0_row_bytes(int64_t K) { return (size_t)NB(K) * sizeof(lt_block_q8_0); }

static void quant_q8_1(const float *x, void *xq, int64_t K) {
    lt_block_q8_1 *y = xq;
    for (int64_t i = 0; i < NB(K); i++) lt_quant_q8_1(x + i * LT_QK32, y + i);
}

static void quant_q8_0(const float *x, void *xq, int64_t K) { lt_cpu_quant_q8_0(x, xq, K); }

/* the 5-bit value of element j of a q5 block (qh: the block's high bits) */
static inline int q5_at(const uint8_t *qs, uint32_t qh, int j) { return lt_nib32(qs, j) | (int)((qh >> j & 1) << 4); }

static float dot_q4_1_scalar(const void *w, const void *xq, int64_t K) {
    const lt_block_q4_1 *b = w;
    const lt_block_q8_1 *x = xq;
    float s = 0.0f;
    for (int64_t i = 0; i < NB(K); i++) {
        int sum = 0;
        for (int j = 0; j < LT_QK32 / 2; j++)
            sum += (b[i].qs[j] & 15) * x[i].qs[j] + (b[i].qs[j] >> 4) * x[i].qs[j + LT_QK32 / 2];
        s += lt_f16_to_f32(b[i].d) * lt_f16_to_f32(x[i].d) * (float)sum + lt_f16_to_f32(b[i].m) * lt_f16_to_f32(x[i].s);
    }
    return s;
}

static float dot_q5_1_scalar(const void *w, const void *xq, int64_t K) {
    const lt_block_q5_1 *b = w;
    const lt_block_q8_1 *x = xq;
    float s = 0.0f;
    for (int64_t i = 0; i < NB(K); i++) {
        const uint32_t qh = lt_qh32(b[i].qh);
        int sum = 0;
        for (int j = 0; j < LT_QK32; j++) sum += q5_at(b[i].qs, qh, j) * x[i].qs[j];
        s += lt_f16_to_f32(b[i].d) * lt_f16_to_f32(x[i].d) * (float)sum + lt_f16_to_f32(b[i].m) * lt_f16_to_f32(x[i].s);
    }
    return s;
}

static float dot_q5_0_scalar(const void *w, const void *xq, int64_t K) {
    const lt_block_q5_0 *b = w;
    const lt_block_q8_0 *x = xq;
    float s = 0.0f;
    for (int64_t i = 0; i < NB(K); i++) {
        const uint32_t qh = lt_qh32(b[i].qh);
        int sum = 0;
        for (int j = 0; j < LT_QK32; j++) sum += (q5_at(b[i].qs, qh, j) - 16) * x[i].q[j];
        s += lt_f16_to_f32(b[i].d) * lt_f16_to_f32(x[i].d) * (float)sum;
    }
    return s;
}

static const lt_cpu_qdot k_q4_1_scalar = {q8_1_row_bytes, quant_q8_1, dot_q4_1_scalar, NULL};
static const lt_cpu_qdot k_q5_0_scalar = {q8_0_row_bytes, quant_q8_0, dot_q5_0_scalar, NULL};
static const lt_cpu_qdot k_q5_1_scalar = {q8_1_row_bytes, quant_q8_1, dot_q5_1_scalar, NULL};

/* ---- AVX2 path ---------------------------------------------------------------------------------- */

#if LT_X86

/* Extended activation rows (the matmul's rows start 64-byte aligned):
 *   q8_1 partner: qs of block i at 32 i, then (d_i, s_i) as f32 pairs at 32 nb + 8 i;
 *   q8_0 partner: qs at 32 i, then -16 * (the 8 lane sums of 4 qs) as int32 at 32 nb + 32 i,
 *                 then d_i as f32 at 64 nb + 4 i. */
static size_t x1_row_bytes(int64_t K) { return (size_t)NB(K) * 40; }
static size_t x0_row_bytes(int64_t K) { return (size_t)NB(K) * 68; }

/* the lane sums below: int32 lane l = sum of the products of bytes 4l..4l+3 */
LT_AVX2 static inline __m256i lane_sums(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* 32 floats -> 32 int8 of lt_quant_q8_1 / lt_quant_q8_0 (roundf(x * id) with id = 1 / (amax / 127)),
 * stored at q; returns d (f32, before f16 rounding) and the int32 lanes in sum8 */
LT_AVX2 static inline float q8_32(const float *x, int8_t *q, __m256i *sum8) {
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.49999997f);
    __m256 v[4] = {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)};
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float d = _mm_cvtss_f32(m4) / 127.0f;
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m256i qi[4];
    for (int k = 0; k < 4; k++) {
        __m256 t = _mm256_mul_ps(v[k], id);
        t = _mm256_add_ps(t, _mm256_or_ps(_mm256_and_ps(t, sign), half)); /* roundf, as dtype.c */
        qi[k] = _mm256_cvttps_epi32(t);
    }
    *sum8 = _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3]));
    const __m256i c = _mm256_packs_epi16(_mm256_packs_epi32(qi[0], qi[1]), _mm256_packs_epi32(qi[2], qi[3]));
    _mm256_store_si256((__m256i *)q, _mm256_permutevar8x32_epi32(c, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    return d;
}

LT_AVX2 static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* the same bytes and scales as lt_quant_q8_1, laid out as an extended q8_1 row (also the gq4
 * types' partner, qdot_gq.c) */
LT_AVX2 void lt_cpu_quant_x1_avx2(const float *x, void *xq, int64_t K);
LT_AVX2 void lt_cpu_quant_x1_avx2(const float *x, void *xq, int64_t K) {
    const int64_t nb = NB(K);
    int8_t *qs = xq;
    float *ds = (float *)((char *)xq + 32 * nb);
    for (int64_t i = 0; i < nb; i++) {
        __m256i s8;
        const float d = q8_32(x + 32 * i, qs + 32 * i, &s8);
        ds[2 * i] = lt_f16_to_f32(lt_f32_to_f16(d));
        ds[2 * i + 1] = lt_f16_to_f32(lt_f32_to_f16((float)hsum_i32(s8) * d));
    }
}

/* the bytes and scale of the dtype table's q8_0 (lt_quant_q8_0), as an extended q8_0 row */
LT_AVX2 static void quant_x0_avx2(const float *x, void *xq, int64_t K) {
    const int64_t nb = NB(K);
    int8_t *qs = xq;
    __m256i *nc = (__m256i *)((char *)xq + 32 * nb);
    float *d = (float *)((char *)xq + 64 * nb);
    for (int64_t i = 0; i < nb; i++) {
        __m256i s8;
        d[i] = lt_f16_to_f32(lt_f32_to_f16(q8_32(x + 32 * i, qs + 32 * i, &s8)));
        const __m256i q = _mm256_load_si256((const __m256i *)(qs + 32 * i));
        _mm256_store_si256(nc + i, _mm256_sub_epi32(_mm256_setzero_si256(), lane_sums(_mm256_set1_epi8(16), q)));
    }
}

/* 32 nibbles as bytes 0..15 (low nibbles: elements 0..15, high: 16..31) */
LT_AVX2 static inline __m256i nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(15));
}

/* 16 in byte j where bit j of the little-endian qh is set, else 0 */
LT_AVX2 static inline __m256i high_bits(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(16));
}

/* init + the lane sums of u (unsigned) times s (signed) */
LT_AVX2 static inline __m256i lanes(__m256i init, __m256i u, __m256i s) { return _mm256_add_epi32(init, lane_sums(u, s)); }

/* AVX-512 (VL, BW, VNNI) forms of the two: a mask move and dpbusd (the same integers) */
#define LT_VNNI256 LT_VNNI
LT_VNNI256 static inline __m256i high_bits_v(const uint8_t *qh) {
    uint32_t h;
    memcpy(&h, qh, 4);
    return _mm256_maskz_mov_epi8((__mmask32)h, _mm256_set1_epi8(16));
}
LT_VNNI256 static inline __m256i lanes_v(__m256i init, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(init, u, s); }

/* (d, m) of a weight block as f32 lanes 0, 1 */
LT_AVX2 static inline __m128 dm_f32(const uint16_t *dm) {
    uint32_t v;
    memcpy(&v, dm, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)v));
}

enum { W41, W50, W51 };

/* weight bytes this far ahead are prefetched (the hardware prefetcher alone leaves a single
 * thread's stream at about half the rate: measured on SmolLM2-shaped matrices) */
#define LEGACY_PF 4096

/* NAME(W, w, x, stride, R, nb, out): out[r] = activation row r (R of them, stride bytes apart
 * from x) . weight row w of nb blocks, with the target's HIGH and LANES.
 * Per row and block: the exact int32 lane sums l, p = (d_w, m_w) * (d_x, s_x) (q5_0: d_w * d_x),
 * acc += p[0] * l (acc a: even blocks, b: odd), and per pair of blocks ms += p_even + p_odd
 * (ms += p alone for a last odd block); out = hsum8(a + b) + ms[1]. */
#define LEGACY_ROWS(NAME, TARGET, HIGH, LANES)                                                                \
    TARGET static inline __attribute__((always_inline)) void NAME(const int W, const void *w, const char *x,     \
                                                                   size_t stride, const int R, int64_t nb,     \
                                                                   float *out) {                               \
        const lt_block_q4_1 *w41 = w;                                                                         \
        const lt_block_q5_0 *w50 = w;                                                                         \
        const lt_block_q5_1 *w51 = w;                                                                         \
        const size_t wb = W == W41 ? sizeof *w41 : W == W50 ? sizeof *w50 : sizeof *w51;                      \
        const size_t off = W == W50 ? 64 * (size_t)nb : 32 * (size_t)nb; /* scales */                         \
        __m256 a[4], b[4];                                                                                    \
        __m128 ms[4];                                                                                         \
        for (int r = 0; r < R; r++) a[r] = b[r] = _mm256_setzero_ps(), ms[r] = _mm_setzero_ps();              \
        int64_t i = 0;                                                                                        \
        for (; i + 2 <= nb; i += 2) {                                                                         \
            _mm_prefetch((const char *)w + (size_t)i * wb + LEGACY_PF, _MM_HINT_T0);                          \
            __m128 pe[4], po[4];                                                                              \
            LEGACY_BLOCK(i, a, pe, HIGH, LANES);                                                              \
            LEGACY_BLOCK(i + 1, b, po, HIGH, LANES);                                                          \
            if (W != W50)                                                                                     \
                for (int r = 0; r < R; r++) ms[r] = _mm_add_ps(ms[r], _mm_add_ps(pe[r], po[r]));              \
        }                                                                                                     \
        if (i < nb) {                                                                                         \
            __m128 pe[4];                                                                                     \
            LEGACY_BLOCK(i, a, pe, HIGH, LANES);                                                              \
            if (W != W50)                                                                                     \
                for (int r = 0; r < R; r++) ms[r] = _mm_add_ps(ms[r], pe[r]);                                 \
        }                                                                                                     \
        for (int r = 0; r < R; r++) {                                                                         \
            const float s = hsum8(_mm256_add_ps(a[r], b[r]));                                                 \
            out[r] = W == W50 ? s : s + _mm_cvtss_f32(_mm_movehdup_ps(ms[r]));                                \
        }                                                                                                     \
    }
/* block i of the weight row against the R activation rows: acc[r] += P[r][0] * lanes */
#define LEGACY_BLOCK(i, acc, P, HIGH, LANES)                                                                  \
    do {                                                                                                      \
        __m256i wu;                                                                                           \
        __m128 dm;                                                                                            \
        if (W == W41) wu = nibbles(w41[i].qs), dm = dm_f32(&w41[i].d);                                        \
        else if (W == W51) wu = _mm256_or_si256(nibbles(w51[i].qs), HIGH(w51[i].qh)), dm = dm_f32(&w51[i].d); \
        else wu = _mm256_or_si256(nibbles(w50[i].qs), HIGH(w50[i].qh)), dm = _mm_cvtph_ps(_mm_cvtsi32_si128(w50[i].d)); \
        for (int r = 0; r < R; r++) {                                                                         \
            const char *xr = x + (size_t)r * stride;                                                          \
            const __m256i xv = _mm256_load_si256((const __m256i *)(xr + 32 * (i)));                           \
            __m256i l;                                                                                        \
            if (W == W50) {                                                                                   \
                l = LANES(_mm256_load_si256((const __m256i *)(xr + 32 * nb + 32 * (i))), wu, xv);             \
                P[r] = _mm_mul_ss(dm, _mm_load_ss((const float *)(xr + off) + (i)));                          \
            } else {                                                                                          \
                l = LANES(_mm256_setzero_si256(), wu, xv);                                                    \
                P[r] = _mm_mul_ps(dm, _mm_castpd_ps(_mm_load_sd((const double *)(xr + off) + (i))));          \
            }                                                                                                 \
            acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(P[r]), _mm256_cvtepi32_ps(l), acc[r]);             \
        }                                                                                                     \
    } while (0)
LEGACY_ROWS(rows_avx2, LT_AVX2, high_bits, lanes)
LEGACY_ROWS(rows_vnni, LT_VNNI256, high_bits_v, lanes_v)
#undef LEGACY_ROWS
#undef LEGACY_BLOCK

/* dot and dot4 of weight type W on one path (rows_avx2 or rows_vnni) */
#define LEGACY_FNS(name, TARGET, ROWS, W)                                                                     \
    TARGET static float name##_dot(const void *w, const void *xq, int64_t K) {                                \
        float o;                                                                                              \
        ROWS(W, w, xq, 0, 1, NB(K), &o);                                                                      \
        return o;                                                                                             \
    }                                                                                                         \
    TARGET static void name##_dot4(const void *w, const char *xq, size_t stride, int R, int64_t K, float *out) { \
        switch (R) {                                                                                          \
        case 1: ROWS(W, w, xq, stride, 1, NB(K), out); break;                                                 \
        case 2: ROWS(W, w, xq, stride, 2, NB(K), out); break;                                                 \
        case 3: ROWS(W, w, xq, stride, 3, NB(K), out); break;                                                 \
        default: ROWS(W, w, xq, stride, 4, NB(K), out); break;                                                \
        }                                                                                                     \
    }
LEGACY_FNS(q4_1_avx2, LT_AVX2, rows_avx2, W41)
LEGACY_FNS(q5_0_avx2, LT_AVX2, rows_avx2, W50)
LEGACY_FNS(q5_1_avx2, LT_AVX2, rows_avx2, W51)
LEGACY_FNS(q4_1_vnni, LT_VNNI256, rows_vnni, W41)
LEGACY_FNS(q5_0_vnni, LT_VNNI256, rows_vnni, W50)
LEGACY_FNS(q5_1_vnni, LT_VNNI256, rows_vnni, W51)
#undef LEGACY_FNS

static const lt_cpu_qdot k_q4_1_avx2 = {x1_row_bytes, lt_cpu_quant_x1_avx2, q4_1_avx2_dot, q4_1_avx2_dot4};
static const lt_cpu_qdot k_q5_0_avx2 = {x0_row_bytes, quant_x0_avx2, q5_0_avx2_dot, q5_0_avx2_dot4};
static const lt_cpu_qdot k_q5_1_avx2 = {x1_row_bytes, lt_cpu_quant_x1_avx2, q5_1_avx2_dot, q5_1_avx2_dot4};
static const lt_cpu_qdot k_q4_1_vnni = {x1_row_bytes, lt_cpu_quant_x1_avx2, q4_1_vnni_dot, q4_1_vnni_dot4};
static const lt_cpu_qdot k_q5_0_vnni = {x0_row_bytes, quant_x0_avx2, q5_0_vnni_dot, q5_0_vnni_dot4};
static const lt_cpu_qdot k_q5_1_vnni = {x1_row_bytes, lt_cpu_quant_x1_avx2, q5_1_vnni_dot, q5_1_vnni_dot4};

#endif

const lt_cpu_qdot *lt_cpu_qdot_legacy(lt_dtype wt, bool avx2) {
#if LT_X86
    if (avx2) {
        const bool v = lt_cpu_has_vnni();
        switch (wt) {
        case LT_Q4_1: return v ? &k_q4_1_vnni : &k_q4_1_avx2;
        case LT_Q5_0: return v ? &k_q5_0_vnni : &k_q5_0_avx2;
        case LT_Q5_1: return v ? &k_q5_1_vnni : &k_q5_1_avx2;
        default: return NULL;
        }
    }
#else
    (void)avx2;
#endif
    switch (wt) {
    case LT_Q4_1: return &k_q4_1_scalar;
    case LT_Q5_0: return &k_q5_0_scalar;
    case LT_Q5_1: return &k_q5_1_scalar;
    default: return NULL;
    }
}
