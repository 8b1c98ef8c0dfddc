/* qdot_k.c - CPU dot products for q4_K, q5_K and q6_K weights against activations quantized to
 * q8_K (see lt_cpu_qdot in cpu_impl.h), GGML's arithmetic: per 256-element super-block exact
 * integer sums of weight level x activation byte per sub-block, times the sub-block's 6-bit
 * (q4_K, q5_K) or signed 8-bit (q6_K) scale, minus the mins (q4_K, q5_K) through the activation
 * sums, then one f32 scaling by d_w * d_x per super-block, as ggml_vec_dot_q*_K_q8_K do.
 *
 * Activation rows are GGML's quantize_row_q8_K_ref bytes (lt_quant_q8_K; an AVX2 quantizer gives
 * the same bytes, exported as lt_cpu_quant_q8_K), stored in lathe's own row layout: all the
 * super-blocks' 256 bytes, then their sums, then their scales d. For q4_K / q5_K the bytes of each
 * 128 elements are kept in the weights' nibble order (elements 0-31, 64-95, 32-63, 96-127: the low
 * nibbles of 64 weight bytes, then the high ones) and the sums are per 32 elements (the mins'
 * sub-blocks); for q6_K both are in element order, sums per 16.
 *
 * Three paths, chosen at run time: portable C, AVX2 (GGML's lanes and f32 operations; q4_K and
 * q6_K give the bits of GGML's AVX2 vec_dot) and AVX-512 (BW, VL, VNNI: vpdpbusd sums of 4
 * products packed to words, sub-block scales applied by vpdpwssd), the latter where
 * lt_cpu_has_vnni says so. Within a path, dot and dot4 are one body (*_R below) instantiated for
 * 1..4 rows (a weight super-block unpacked once for all of them), so a row's float operations
 * never depend on how many rows share the call. The paths differ from each other in the order of
 * their f32 additions only. Weights are prefetched 2 KiB ahead (decode streams them from DRAM).
 * Leaves out: row-interleaved repacking (GGML's q4_K_8x8), AVX-VNNI without AVX-512, tiles of
 * more than 4 activation rows.
 */
#include <string.h>

#include "cpu_impl.h"

#define KQ LT_QK_K
#define KAI static inline __attribute__((always_inline))

/* ---- activation rows ----------------------------------------------------------------------- */

/* nb super-blocks: nb * 256 bytes, nb * 16 int16 sums, nb f32 scales */
static size_t act_bytes(int64_t K) { return (size_t)(K / KQ) * (KQ + 16 * sizeof(int16_t) + sizeof(float)); }

typedef struct kact {
    const int8_t *qs;
    const int16_t *sums;
    const float *d;
} kact;

KAI kact kact_of(const void *row, int64_t nb) {
    const int8_t *qs = row;
    const int16_t *s = (const int16_t *)(qs + nb * KQ);
    return (kact){qs, s, (const float *)(s + nb * 16)};
}

/* where element 64c + 32h + l (c 0..3, h 0..1, l 0..31) of a super-block sits in nibble order */
KAI int npos(int c, int h) { return 128 * (c >> 1) + 64 * h + 32 * (c & 1); }

/* One q8_K block (natural order) into the row layout of block i. */
static void act_store(const int8_t *q, const int16_t *bsums, float d, void *row, int64_t nb, int64_t i, bool nib) {
    int8_t *qs = (int8_t *)row + i * KQ;
    int16_t *s = (int16_t *)((int8_t *)row + nb * KQ) + 16 * i;
    if (nib) {
        for (int c = 0; c < 4; c++)
            for (int h = 0; h < 2; h++) memcpy(qs + npos(c, h), q + 64 * c + 32 * h, 32);
        for (int k = 0; k < 8; k++) s[k] = (int16_t)(bsums[2 * k] + bsums[2 * k + 1]);
        memset(s + 8, 0, 8 * sizeof *s);
    } else {
        memcpy(qs, q, KQ);
        memcpy(s, bsums, 16 * sizeof *s);
    }
    ((float *)((int8_t *)row + nb * KQ + nb * 16 * (int64_t)sizeof(int16_t)))[i] = d;
}

#if LT_X86
/* v stays as computed: keeps GCC from fusing a multiply and the add after it into an FMA where
 * GGML rounds twice */
#define OPAQUE(v) __asm__("" : "+x"(v))

/* GGML's quantize_row_q8_K_ref for one block, 8 lanes at a time: the same max (first element of
 * the largest magnitude), iscale, nearest_int (the 1.5 * 2^23 trick) and sums, so the same bytes */
LT_AVX2 static void q8K_block_avx2(const float *x, int8_t *q, int16_t *bsums, float *dout) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < KQ; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    if (amax == 0.0f) { /* also what the reference does for an all-zero block */
        memset(q, 0, KQ);
        memset(bsums, 0, 16 * sizeof *bsums);
        *dout = 0.0f;
        return;
    }
    float max = 0.0f;
    const __m256 va = _mm256_set1_ps(amax);
    for (int j = 0; j < KQ; j += 8) {
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));
        if (mask) {
            max = x[j + __builtin_ctz((unsigned)mask)];
            break;
        }
    }
    const float iscale = -127.0f / max;
    const __m256 vi = _mm256_set1_ps(iscale), magic = _mm256_set1_ps(12582912.f);
    const __m256i mant = _mm256_set1_epi32(0x007fffff), off = _mm256_set1_epi32(0x00400000);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i g[16]; /* per 16 elements, 8 lane sums */
    for (int b = 0; b < KQ / 32; b++) {
        __m256i v[4];
        for (int k = 0; k < 4; k++) {
            __m256 t = _mm256_mul_ps(vi, _mm256_loadu_ps(x + 32 * b + 8 * k));
            OPAQUE(t);
            t = _mm256_add_ps(t, magic);
            v[k] = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(t), mant), off);
        }
        /* |v| <= 127 (|x| <= |max|), so saturating packs are the reference's MIN(127, v) */
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        _mm256_storeu_si256((__m256i *)(q + 32 * b), _mm256_permutevar8x32_epi32(p, perm));
        g[2 * b] = _mm256_add_epi32(v[0], v[1]);
        g[2 * b + 1] = _mm256_add_epi32(v[2], v[3]);
    }
    __m256i r[2];
    for (int h = 0; h < 2; h++) {
        const __m256i *G = g + 8 * h;
        const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(G[0], G[1]), _mm256_hadd_epi32(G[2], G[3]));
        const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(G[4], G[5]), _mm256_hadd_epi32(G[6], G[7]));
        r[h] = _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
    }
    _mm256_storeu_si256((__m256i *)bsums, _mm256_permute4x64_epi64(_mm256_packs_epi32(r[0], r[1]), 0xD8));
    *dout = 1.0f / iscale;
}
#endif

static void q8K_block(const float *x, int8_t *q, int16_t *bsums, float *d, bool simd) {
#if LT_X86
    if (simd) {
        q8K_block_avx2(x, q, bsums, d);
        return;
    }
#endif
    (void)simd;
    lt_block_q8_K b;
    lt_quant_q8_K(x, &b);
    memcpy(q, b.qs, KQ);
    memcpy(bsums, b.bsums, sizeof b.bsums);
    *d = b.d;
}

void lt_cpu_quant_q8_K(const float *x, void *y, int64_t n) {
    lt_block_q8_K *b = y;
    const bool simd = lt_cpu_has_avx2();
    for (int64_t i = 0; i < n / KQ; i++) q8K_block(x + i * KQ, b[i].qs, b[i].bsums, &b[i].d, simd);
}

static void quant_act(const float *x, void *row, int64_t K, bool nib, bool simd) {
    const int64_t nb = K / KQ;
    int8_t q[KQ];
    int16_t bs[16];
    float d;
    for (int64_t i = 0; i < nb; i++) {
        q8K_block(x + i * KQ, q, bs, &d, simd);
        act_store(q, bs, d, row, nb, i, nib);
    }
}

static void quant_nib_s(const float *x, void *row, int64_t K) { quant_act(x, row, K, true, false); }
static void quant_nat_s(const float *x, void *row, int64_t K) { quant_act(x, row, K, false, false); }

/* ---- portable ----------------------------------------------------------------------------------- */

/* q4_K / q5_K: sum over the 8 sub-blocks of scale * (levels . bytes), and of min * sums */
static float dot_q45K_s(const void *wv, const void *xv, int64_t K, bool five) {
    const int64_t nb = K / KQ;
    const kact a = kact_of(xv, nb);
    float acc = 0.0f, accm = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *qs, *qh = NULL, *scales;
        uint16_t d, dmin;
        if (five) {
            const lt_block_q5_K *w = (const lt_block_q5_K *)wv + i;
            qs = w->qs, qh = w->qh, scales = w->scales, d = w->d, dmin = w->dmin;
        } else {
            const lt_block_q4_K *w = (const lt_block_q4_K *)wv + i;
            qs = w->qs, scales = w->scales, d = w->d, dmin = w->dmin;
        }
        const int8_t *xs = a.qs + i * KQ;
        int32_t S = 0, M = 0;
        for (int c = 0; c < 4; c++)
            for (int h = 0; h < 2; h++) {
                int sc, m;
                lt_scale_min_k4(2 * c + h, scales, &sc, &m);
                const int8_t *xp = xs + npos(c, h);
                int32_t s = 0;
                for (int l = 0; l < 32; l++) {
                    int v = (qs[32 * c + l] >> (4 * h)) & 15;
                    if (qh && (qh[l] >> (2 * c + h) & 1)) v += 16;
                    s += v * xp[l];
                }
                S += sc * s;
                M += m * a.sums[16 * i + 2 * c + h];
            }
        const float yd = a.d[i];
        acc += yd * lt_f16_to_f32(d) * (float)S;
        accm += yd * lt_f16_to_f32(dmin) * (float)M;
    }
    return acc - accm;
}

static float dot_q4K_s(const void *w, const void *x, int64_t K) { return dot_q45K_s(w, x, K, false); }
static float dot_q5K_s(const void *w, const void *x, int64_t K) { return dot_q45K_s(w, x, K, true); }

static float dot_q6K_s(const void *wv, const void *xv, int64_t K) {
    const int64_t nb = K / KQ;
    const kact a = kact_of(xv, nb);
    float acc = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const lt_block_q6_K *w = (const lt_block_q6_K *)wv + i;
        const int8_t *xs = a.qs + i * KQ;
        int32_t S = 0;
        for (int n = 0; n < 2; n++)
            for (int part = 0; part < 4; part++)     /* 32 elements 128n + 32part */
                for (int half = 0; half < 2; half++) { /* sub-block of 16 */
                    int32_t s = 0;
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        const int lo = (w->ql[64 * n + l + 32 * (part & 1)] >> (4 * (part >> 1))) & 15;
                        const int hi = (w->qh[32 * n + l] >> (2 * part)) & 3;
                        s += ((lo | (hi << 4)) - 32) * xs[128 * n + 32 * part + l];
                    }
                    S += w->scales[8 * n + 2 * part + half] * s;
                }
        acc += a.d[i] * lt_f16_to_f32(w->d) * (float)S;
    }
    return acc;
}

static const lt_cpu_qdot q4K_s = {act_bytes, quant_nib_s, dot_q4K_s, NULL};
static const lt_cpu_qdot q5K_s = {act_bytes, quant_nib_s, dot_q5K_s, NULL};
static const lt_cpu_qdot q6K_s = {act_bytes, quant_nat_s, dot_q6K_s, NULL};

#if LT_X86
/* ---- shared SIMD pieces --------------------------------------------------------------------- */

static void quant_nib_v(const float *x, void *row, int64_t K) { quant_act(x, row, K, true, true); }
static void quant_nat_v(const float *x, void *row, int64_t K) { quant_act(x, row, K, false, true); }

/* GGML's get_scale_min_k4 for all 8 at once: bytes 0..7 the 6-bit scales, 8..15 the mins. Reads 16
 * bytes from s (the 12 scale bytes and the first 4 of qh / qs after them in the block). */
LT_AVX2 KAI __m128i k4_scales_mins(const uint8_t *s) {
    const __m128i b = _mm_loadu_si128((const __m128i *)s);
    const __m128i P = _mm_shuffle_epi8(b, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i Q = _mm_shuffle_epi8(b, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i p1 = _mm_and_si128(P, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0));
    const __m128i p2 = _mm_and_si128(_mm_srli_epi16(P, 4), _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15));
    const __m128i p3 = _mm_srli_epi16(_mm_and_si128(Q, _mm_set1_epi8((char)0xC0)), 2);
    return _mm_or_si128(_mm_or_si128(p1, p2), p3);
}

LT_AVX2 KAI float hsum4(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Weight rows are one stream (rows are contiguous); the hardware prefetchers alone left a decoding
 * thread at ~60% of the rate it reaches with these lines requested 2 KiB ahead. */

/* pshufb index putting byte j of each 128-bit lane, zero-extended, into every 16-bit word */
#define WORD_OF(j) _mm256_set1_epi16((short)(0x8000 | (j)))

/* ---- AVX2 ----------------------------------------------------------------------------------- */

/* the fifth bit of nibble (c, h) of a q5_K block as 16 or 0: bit p = 2c + h of each qh byte */
#define HB16(hb, p)                                                                                    \
    ((p) <= 4 ? _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(1 << (p))), 4 - (p) < 0 ? 0 : 4 - (p)) \
              : _mm256_srli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8((char)(1 << (p)))), (p) - 4 < 0 ? 0 : (p) - 4))

LT_AVX2 KAI void q45K_avx2_R(const void *wv, const char *xr, size_t stride, const int R, int64_t K, float *out,
                             const bool five) {
    const int64_t nb = K / KQ;
    kact a[4];
    __m256 acc[4];
    __m128 accm[4];
    for (int r = 0; r < R; r++) {
        a[r] = kact_of(xr + (size_t)r * stride, nb);
        acc[r] = _mm256_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *qs, *qh = NULL, *scales;
        uint16_t d, dmin;
        if (five) {
            const lt_block_q5_K *w = (const lt_block_q5_K *)wv + i;
            qs = w->qs, qh = w->qh, scales = w->scales, d = w->d, dmin = w->dmin;
        } else {
            const lt_block_q4_K *w = (const lt_block_q4_K *)wv + i;
            qs = w->qs, scales = w->scales, d = w->d, dmin = w->dmin;
        }
        lt_cpu_prefetch_ahead(qs, 3);
        const __m128i sm = k4_scales_mins(scales);
        const __m256i sb = _mm256_broadcastsi128_si256(sm);
        const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
        const __m256i hb = five ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        __m256i sumi[4];
        for (int r = 0; r < R; r++) sumi[r] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m256i sl = _mm256_shuffle_epi8(sb, WORD_OF(2 * c)), sh = _mm256_shuffle_epi8(sb, WORD_OF(2 * c + 1));
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (five) {
                switch (c) { /* constant shifts per bit */
                case 0: lo = _mm256_or_si256(lo, HB16(hb, 0)), hi = _mm256_or_si256(hi, HB16(hb, 1)); break;
                case 1: lo = _mm256_or_si256(lo, HB16(hb, 2)), hi = _mm256_or_si256(hi, HB16(hb, 3)); break;
                case 2: lo = _mm256_or_si256(lo, HB16(hb, 4)), hi = _mm256_or_si256(hi, HB16(hb, 5)); break;
                default: lo = _mm256_or_si256(lo, HB16(hb, 6)), hi = _mm256_or_si256(hi, HB16(hb, 7)); break;
                }
            }
            for (int r = 0; r < R; r++) {
                const int8_t *xs = a[r].qs + i * KQ;
                const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(xs + npos(c, 0))));
                const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xs + npos(c, 1))));
                sumi[r] = _mm256_add_epi32(sumi[r], _mm256_add_epi32(_mm256_madd_epi16(sl, pl), _mm256_madd_epi16(sh, ph)));
            }
        }
        const float wd = _cvtsh_ss(d), wm = _cvtsh_ss(dmin);
        for (int r = 0; r < R; r++) {
            const float yd = a[r].d[i];
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(yd * wd), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
            const __m128i pm = _mm_madd_epi16(mins, _mm_loadu_si128((const __m128i *)(a[r].sums + 16 * i)));
            accm[r] = _mm_fmadd_ps(_mm_set1_ps(-yd * wm), _mm_cvtepi32_ps(pm), accm[r]);
        }
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]) + hsum4(accm[r]);
}

LT_AVX2 KAI void q6K_avx2_R(const void *wv, const char *xr, size_t stride, const int R, int64_t K, float *out) {
    const int64_t nb = K / KQ;
    kact a[4];
    __m256 acc[4];
    for (int r = 0; r < R; r++) {
        a[r] = kact_of(xr + (size_t)r * stride, nb);
        acc[r] = _mm256_setzero_ps();
    }
    const __m256i m15 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < nb; i++) {
        const lt_block_q6_K *w = (const lt_block_q6_K *)wv + i;
        lt_cpu_prefetch_ahead(w, 4);
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)w->scales);
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
        /* sub-block scales 0..7 (8..15) as words in both lanes */
        const __m256i sx[2] = {_mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc16)),
                               _mm256_broadcastsi128_si256(_mm256_extracti128_si256(sc16, 1))};
        __m256i sumi[4];
        for (int r = 0; r < R; r++) /* the -32 of every level, through the activation sums */
            sumi[r] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                       _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a[r].sums + 16 * i)), sc16), 5));
#pragma GCC unroll 2
        for (int n = 0; n < 2; n++) {
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * n));
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * n + 32));
            const __m256i bh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * n));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(b1, m15), _mm256_slli_epi16(_mm256_and_si256(bh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(b2, m15), _mm256_slli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(12)), 2));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m15), _mm256_and_si256(bh, _mm256_set1_epi8(48)));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m15),
                                   _mm256_srli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8((char)0xC0)), 2));
            __m256i s[4]; /* words 0..7: scale of sub-block 8n + 2k, 8..15: of 8n + 2k + 1 */
            for (int k = 0; k < 4; k++)
                s[k] = _mm256_shuffle_epi8(sx[n], _mm256_setr_epi8(4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k,
                                                                   4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                                                   4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,
                                                                   4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,
                                                                   4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3));
            for (int r = 0; r < R; r++) {
                const int8_t *xs = a[r].qs + i * KQ + 128 * n;
                __m256i t = sumi[r];
                for (int k = 0; k < 4; k++)
                    t = _mm256_add_epi32(t, _mm256_madd_epi16(s[k], _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(xs + 32 * k)))));
                sumi[r] = t;
            }
        }
        const float wd = _cvtsh_ss(w->d);
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(a[r].d[i] * wd), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

#define ISA_FNS(ATTR, NAME, BODY, ...)                                                                       \
    ATTR static float dot_##NAME(const void *w, const void *x, int64_t K) {                                  \
        float o;                                                                                             \
        BODY(w, x, 0, 1, K, &o, ##__VA_ARGS__);                                                               \
        return o;                                                                                            \
    }                                                                                                        \
    ATTR static void dot4_##NAME(const void *w, const char *x, size_t stride, int R, int64_t K, float *out) { \
        switch (R) {                                                                                         \
        case 1: BODY(w, x, stride, 1, K, out, ##__VA_ARGS__); break;                                          \
        case 2: BODY(w, x, stride, 2, K, out, ##__VA_ARGS__); break;                                          \
        case 3: BODY(w, x, stride, 3, K, out, ##__VA_ARGS__); break;                                          \
        default: BODY(w, x, stride, 4, K, out, ##__VA_ARGS__); break;                                         \
        }                                                                                                    \
    }

ISA_FNS(LT_AVX2, q4K_avx2, q45K_avx2_R, false)
ISA_FNS(LT_AVX2, q5K_avx2, q45K_avx2_R, true)
ISA_FNS(LT_AVX2, q6K_avx2, q6K_avx2_R)

static const lt_cpu_qdot q4K_avx2 = {act_bytes, quant_nib_v, dot_q4K_avx2, dot4_q4K_avx2};
static const lt_cpu_qdot q5K_avx2 = {act_bytes, quant_nib_v, dot_q5K_avx2, dot4_q5K_avx2};
static const lt_cpu_qdot q6K_avx2 = {act_bytes, quant_nat_v, dot_q6K_avx2, dot4_q6K_avx2};

/* ---- AVX-512 (F, BW, VL, VNNI) ---------------------------------------------------------------- */


/* pshufb index for the 4 lanes of 128 bits: words 0..3 of lane k take byte a0 (k < 2) or a1 (k >= 2)
 * of the lane, zero-extended, words 4..7 byte b0 or b1 */
#define LANE_WORDS(a0, b0, a1, b1)                                                                      \
    _mm512_setr_epi32(0x80008000 | (a0) | (a0) << 16, 0x80008000 | (a0) | (a0) << 16, 0x80008000 | (b0) | (b0) << 16, \
                      0x80008000 | (b0) | (b0) << 16, 0x80008000 | (a0) | (a0) << 16, 0x80008000 | (a0) | (a0) << 16, \
                      0x80008000 | (b0) | (b0) << 16, 0x80008000 | (b0) | (b0) << 16, 0x80008000 | (a1) | (a1) << 16, \
                      0x80008000 | (a1) | (a1) << 16, 0x80008000 | (b1) | (b1) << 16, 0x80008000 | (b1) | (b1) << 16, \
                      0x80008000 | (a1) | (a1) << 16, 0x80008000 | (a1) | (a1) << 16, 0x80008000 | (b1) | (b1) << 16, \
                      0x80008000 | (b1) | (b1) << 16)
/* the same for signed words: words 0..3 of lane k are word a of the lane, words 4..7 word b */
#define LANE_SWORDS(a, b)                                                                               \
    _mm512_setr_epi32((2 * (a)) | (2 * (a) + 1) << 8 | (2 * (a)) << 16 | (2 * (a) + 1) << 24,              \
                      (2 * (a)) | (2 * (a) + 1) << 8 | (2 * (a)) << 16 | (2 * (a) + 1) << 24,              \
                      (2 * (b)) | (2 * (b) + 1) << 8 | (2 * (b)) << 16 | (2 * (b) + 1) << 24,              \
                      (2 * (b)) | (2 * (b) + 1) << 8 | (2 * (b)) << 16 | (2 * (b) + 1) << 24,              \
                      (2 * (a) + 2) | (2 * (a) + 3) << 8 | (2 * (a) + 2) << 16 | (2 * (a) + 3) << 24,      \
                      (2 * (a) + 2) | (2 * (a) + 3) << 8 | (2 * (a) + 2) << 16 | (2 * (a) + 3) << 24,      \
                      (2 * (b) + 2) | (2 * (b) + 3) << 8 | (2 * (b) + 2) << 16 | (2 * (b) + 3) << 24,      \
                      (2 * (b) + 2) | (2 * (b) + 3) << 8 | (2 * (b) + 2) << 16 | (2 * (b) + 3) << 24,      \
                      (2 * (a) + 4) | (2 * (a) + 5) << 8 | (2 * (a) + 4) << 16 | (2 * (a) + 5) << 24,      \
                      (2 * (a) + 4) | (2 * (a) + 5) << 8 | (2 * (a) + 4) << 16 | (2 * (a) + 5) << 24,      \
                      (2 * (b) + 4) | (2 * (b) + 5) << 8 | (2 * (b) + 4) << 16 | (2 * (b) + 5) << 24,      \
                      (2 * (b) + 4) | (2 * (b) + 5) << 8 | (2 * (b) + 4) << 16 | (2 * (b) + 5) << 24,      \
                      (2 * (a) + 6) | (2 * (a) + 7) << 8 | (2 * (a) + 6) << 16 | (2 * (a) + 7) << 24,      \
                      (2 * (a) + 6) | (2 * (a) + 7) << 8 | (2 * (a) + 6) << 16 | (2 * (a) + 7) << 24,      \
                      (2 * (b) + 6) | (2 * (b) + 7) << 8 | (2 * (b) + 6) << 16 | (2 * (b) + 7) << 24,      \
                      (2 * (b) + 6) | (2 * (b) + 7) << 8 | (2 * (b) + 6) << 16 | (2 * (b) + 7) << 24)
/* bytes 0..31 bit a, bytes 32..63 bit b */
#define BITS_OF(a, b) \
    _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8((char)(1 << (a)))), _mm256_set1_epi8((char)(1 << (b))), 1)

LT_VNNI KAI float hsum16(__m512 v) {
    return hsum8(_mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

/* Sums of 4 products (vpdpbusd: unsigned levels x signed bytes) of two vectors of 64 levels,
 * packed to words (|sum| <= 4 * 63 * 128 < 2^15), so 128-bit lane k holds 4 sums from a, then 4
 * from b; then times the words of sc (two products summed per dword) into acc. Per 128 levels:
 * two vpdpbusd and one vpdpwssd where vpmaddubsw + vpmaddwd took four. */
LT_VNNI KAI __m512i dot128(__m512i acc, __m512i la, const int8_t *xa, __m512i lb, const int8_t *xb, __m512i sc) {
    const __m512i z = _mm512_setzero_si512();
    const __m512i pa = _mm512_dpbusd_epi32(z, la, _mm512_loadu_si512(xa));
    const __m512i pb = _mm512_dpbusd_epi32(z, lb, _mm512_loadu_si512(xb));
    return _mm512_dpwssd_epi32(acc, _mm512_packs_epi32(pa, pb), sc);
}

/* Each 64 weight bytes hold 128 levels: the low nibbles are elements 0-31 and 64-95 of that half
 * super-block (bytes 0..63 of the activations in nibble order), the high ones 32-63 and 96-127.
 * The four sums per lane of the low-nibble vector belong to sub-block 4h (lanes 0, 1) or 4h + 2
 * (lanes 2, 3), those of the high one to 4h + 1 or 4h + 3. */
LT_VNNI KAI void q45K_512_R(const void *wv, const char *xr, size_t stride, const int R, int64_t K, float *out,
                            const bool five) {
    const int64_t nb = K / KQ;
    kact a[4];
    __m512 acc[4];
    __m128 accm[4];
    for (int r = 0; r < R; r++) {
        a[r] = kact_of(xr + (size_t)r * stride, nb);
        acc[r] = _mm512_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    const __m512i m4 = _mm512_set1_epi8(15), c16 = _mm512_set1_epi8(16);
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *qs, *qh = NULL, *scales;
        uint16_t d, dmin;
        if (five) {
            const lt_block_q5_K *w = (const lt_block_q5_K *)wv + i;
            qs = w->qs, qh = w->qh, scales = w->scales, d = w->d, dmin = w->dmin;
        } else {
            const lt_block_q4_K *w = (const lt_block_q4_K *)wv + i;
            qs = w->qs, scales = w->scales, d = w->d, dmin = w->dmin;
        }
        lt_cpu_prefetch_ahead(qs, 3);
        const __m128i sm = k4_scales_mins(scales);
        const __m512i sb = _mm512_broadcast_i32x4(sm);
        const __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
        const __m512i S0 = _mm512_shuffle_epi8(sb, LANE_WORDS(0, 1, 2, 3));
        const __m512i S1 = _mm512_shuffle_epi8(sb, LANE_WORDS(4, 5, 6, 7));
        const __m512i q0 = _mm512_loadu_si512(qs), q1 = _mm512_loadu_si512(qs + 64);
        __m512i l0 = _mm512_and_si512(q0, m4), h0 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), m4);
        __m512i l1 = _mm512_and_si512(q1, m4), h1 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), m4);
        if (five) {
            const __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
            l0 = _mm512_mask_add_epi8(l0, _mm512_test_epi8_mask(hb, BITS_OF(0, 2)), l0, c16);
            h0 = _mm512_mask_add_epi8(h0, _mm512_test_epi8_mask(hb, BITS_OF(1, 3)), h0, c16);
            l1 = _mm512_mask_add_epi8(l1, _mm512_test_epi8_mask(hb, BITS_OF(4, 6)), l1, c16);
            h1 = _mm512_mask_add_epi8(h1, _mm512_test_epi8_mask(hb, BITS_OF(5, 7)), h1, c16);
        }
        const float wd = _cvtsh_ss(d), wm = _cvtsh_ss(dmin);
        for (int r = 0; r < R; r++) {
            const int8_t *xs = a[r].qs + i * KQ;
            __m512i p = dot128(_mm512_setzero_si512(), l0, xs, h0, xs + 64, S0);
            p = dot128(p, l1, xs + 128, h1, xs + 192, S1);
            const float yd = a[r].d[i];
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(yd * wd), _mm512_cvtepi32_ps(p), acc[r]);
            const __m128i pm = _mm_madd_epi16(mins, _mm_loadu_si128((const __m128i *)(a[r].sums + 16 * i)));
            accm[r] = _mm_fmadd_ps(_mm_set1_ps(-yd * wm), _mm_cvtepi32_ps(pm), accm[r]);
        }
    }
    for (int r = 0; r < R; r++) out[r] = hsum16(acc[r]) + hsum4(accm[r]);
}

/* Per 128 elements: 64 ql bytes (low nibbles: elements 0..63, high: 64..127) and 32 qh bytes
 * (2 bits each for elements l, l+32, l+64, l+96); levels 0..63 (the -32 goes through the
 * activation sums). The four sums per lane k of a vector of 64 levels belong to sub-block k of
 * its four. */
LT_VNNI KAI void q6K_512_R(const void *wv, const char *xr, size_t stride, const int R, int64_t K, float *out) {
    const int64_t nb = K / KQ;
    kact a[4];
    __m512 acc[4];
    for (int r = 0; r < R; r++) {
        a[r] = kact_of(xr + (size_t)r * stride, nb);
        acc[r] = _mm512_setzero_ps();
    }
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    for (int64_t i = 0; i < nb; i++) {
        const lt_block_q6_K *w = (const lt_block_q6_K *)wv + i;
        lt_cpu_prefetch_ahead(w, 4);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
        /* words a, a+4 of sub-blocks 0..7 (8..15) per lane */
        const __m512i S0 = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm256_castsi256_si128(sc16)), LANE_SWORDS(0, 4));
        const __m512i S1 = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm256_extracti128_si256(sc16, 1)), LANE_SWORDS(0, 4));
        __m512i L[4];
#pragma GCC unroll 2
        for (int n = 0; n < 2; n++) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * n));
            const __m512i QH = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            const __m512i ql = _mm512_loadu_si512(w->ql + 64 * n);
            /* (A & B) | C */
            L[2 * n] = _mm512_ternarylogic_epi32(ql, m4, _mm512_and_si512(_mm512_slli_epi16(QH, 4), m30), 0xEA);
            L[2 * n + 1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), m4, _mm512_and_si512(QH, m30), 0xEA);
        }
        const float wd = _cvtsh_ss(w->d);
        for (int r = 0; r < R; r++) {
            const int8_t *xs = a[r].qs + i * KQ;
            /* the -32 of every level, through the activation sums */
            const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(a[r].sums + 16 * i)), sc16), 5);
            __m512i p = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), corr));
            p = dot128(p, L[0], xs, L[1], xs + 64, S0);
            p = dot128(p, L[2], xs + 128, L[3], xs + 192, S1);
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r].d[i] * wd), _mm512_cvtepi32_ps(p), acc[r]);
        }
    }
    for (int r = 0; r < R; r++) out[r] = hsum16(acc[r]);
}

ISA_FNS(LT_VNNI, q4K_512, q45K_512_R, false)
ISA_FNS(LT_VNNI, q5K_512, q45K_512_R, true)
ISA_FNS(LT_VNNI, q6K_512, q6K_512_R)

static const lt_cpu_qdot q4K_512 = {act_bytes, quant_nib_v, dot_q4K_512, dot4_q4K_512};
static const lt_cpu_qdot q5K_512 = {act_bytes, quant_nib_v, dot_q5K_512, dot4_q5K_512};
static const lt_cpu_qdot q6K_512 = {act_bytes, quant_nat_v, dot_q6K_512, dot4_q6K_512};
#endif /* LT_X86 */

const lt_cpu_qdot *lt_cpu_qdot_k(lt_dtype wt, bool avx2) {
#if LT_X86
    if (avx2 && lt_cpu_has_vnni()) {
        switch (wt) {
        case LT_Q4_K: return &q4K_512;
        case LT_Q5_K: return &q5K_512;
        case LT_Q6_K: return &q6K_512;
        default: return NULL;
        }
    }
    if (avx2) {
        switch (wt) {
        case LT_Q4_K: return &q4K_avx2;
        case LT_Q5_K: return &q5K_avx2;
        case LT_Q6_K: return &q6K_avx2;
        default: return NULL;
        }
    }
#else
    (void)avx2;
#endif
    switch (wt) {
    case LT_Q4_K: return &q4K_s;
    case LT_Q5_K: return &q5K_s;
    case LT_Q6_K: return &q6K_s;
    default: return NULL;
    }
}
