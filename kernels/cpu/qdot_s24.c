/* qdot_s24.c - CPU dot products for the 2:4 sparse weight types (s24_f16, s24_q4; blocks in
 * kernels/lt_quants.h), see lt_cpu_qdot in cpu_impl.h. Only the kept values are read: 2:4 f16
 * moves 9 bits per weight (56% of dense f16), 2:4 4-bit 3.5 (70% of q4_1's 5).
 *
 * The activations stay f32 (the "partner" row is a copy). Per 16 columns a block holds 8 kept
 * values with 2-bit positions; the kept activations are picked from the two 8-float halves of
 * the 16 columns with one permute each (lanes 0..3 from the low half, 4..7 from the high; the
 * indices come from a 256-entry table on each position byte) and multiplied with the 8 kept
 * weights (f16 widened by F16C, or 4-bit codes as d*q + m). s24_f16 with AVX-512 builds the
 * indices in registers from the 16 position bits (shift, mask, base) and picks with one vpermt2ps
 * over the block's 16 activations; it keeps four accumulators (block b into b % 4), as its AVX2
 * form does, and both give the same bits. s24_q4's f32 form: two accumulators (even and odd
 * blocks). Accumulators are summed at the end in one order. The 1- to 4-row forms are one inlined
 * body, so a row's float operations do not depend on how many rows go with it (batches equal
 * single rows). Prompts of 8+ rows widen s24_f16 rows to f32 for sgemm (lt_cpu_s24_f16_widen).
 * s24_q4 on AVX2 takes int8 activations instead (per 32 columns, f32 scale; S24_Q4_I8_ROWS below),
 * in three forms chosen at run time: AVX2, AVX-512 VNNI (dpbusd) and VNNI + VBMI (vpermt2b picks
 * the kept activations, vpmultishiftqb computes its indices); LT_CPU_NO_VNNI=1 keeps AVX2. All
 * three give the same numbers (tests/test_qdot_s24.c); LT_S24_Q4_F32=1 keeps the f32 form.
 * Portable path: kept value by kept value, one accumulator, f32 activations.
 * Leaves out: zmm (512-bit) forms (2 vector ports for zmm against 3 for ymm on this Xeon), several
 * weight rows interleaved per call (tried for s24_f16: 4 rows streamed worse from memory than 1).
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

/* dot and dot4 of a form; at most MAXR (<= 4) activation rows per pass over the weight row
 * (s24_f16 under AVX2: 2, its 16 registers hold 2 rows' 8 accumulators; else 4) */
#define S24_FNS(name, TARGET, ROWS, MAXR)                                                                      \
    TARGET static float name##_dot(const void *w, const void *xq, int64_t K) {                                 \
        float o;                                                                                               \
        ROWS(w, xq, 0, 1, K, &o);                                                                              \
        return o;                                                                                              \
    }                                                                                                          \
    TARGET static void name##_dot4(const void *w, const char *xq, size_t stride, int R, int64_t K, float *out) { \
        int r = 0;                                                                                             \
        do { /* R >= 1: no early return before the vector code (tests/test_vzeroupper.sh) */                  \
            const char *xr = xq + (size_t)r * stride;                                                          \
            switch (R - r < MAXR ? R - r : MAXR) {                                                             \
            case 1: ROWS(w, xr, stride, 1, K, out + r); break;                                                 \
            case 2: ROWS(w, xr, stride, 2, K, out + r); break;                                                 \
            case 3: ROWS(w, xr, stride, (MAXR > 2 ? 3 : 1), K, out + r); break;                                \
            default: ROWS(w, xr, stride, (MAXR > 2 ? 4 : 1), K, out + r); break;                               \
            }                                                                                                  \
            r += MAXR;                                                                                         \
        } while (r < R);                                                                                       \
    }
#define NOTARGET
S24_FNS(f16_scalar, NOTARGET, rows_f16_scalar, 4)
S24_FNS(q4_scalar, NOTARGET, rows_q4_scalar, 4)
static const lt_cpu_qdot k_scalar[2] = {{f32_row_bytes, copy_act, f16_scalar_dot, f16_scalar_dot4},
                                        {f32_row_bytes, copy_act, q4_scalar_dot, q4_scalar_dot4}};

/* ---- AVX2 + FMA + F16C --------------------------------------------------------------------------- */

#if LT_X86

/* a position byte (4 kept values: 2 groups of 4 columns) -> the columns they read, 0..7 */
static _Alignas(16) int32_t k_lut[256][4];
/* the widening's inverse: a position byte -> per column of its 8 the kept value it holds (0..3,
 * lt_s24_slot's answer; + 4 in the second table, for the high byte) or -1 */
static _Alignas(32) int32_t k_inv[2][256][8];
static bool g_q4_f32, g_vbmi;
static void lut_init(void) {
    for (int b = 0; b < 256; b++) {
        const uint8_t meta[1] = {(uint8_t)b};
        for (int k = 0; k < 4; k++) k_lut[b][k] = 4 * (k / 2) + ((b >> (2 * k)) & 3);
        for (int j = 0; j < 8; j++) {
            const int slot = lt_s24_slot(meta, j);
            k_inv[0][b][j] = slot, k_inv[1][b][j] = slot < 0 ? -1 : slot + 4;
        }
    }
    const char *e = getenv("LT_S24_Q4_F32");
    g_q4_f32 = e && *e == '1';
    __builtin_cpu_init();
    g_vbmi = __builtin_cpu_supports("avx512vbmi");
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

/* s24_f16: one weight row against R activation rows (1..4), four accumulators per row (block b
 * into b % 4: four independent FMA chains, where two left the one-row decode waiting on FMA latency)
 * summed as (a0 + a1) + (a2 + a3) and hsum8, so each row gets the float operations of the one-row
 * form whatever R is (batches equal single rows). IDX turns a block (its position bits first) into
 * the pick indices, PICK the 16 activations of a block into the 8 kept, in kept order. Every form
 * picks the same values and does the same fmas: the same bits on AVX2 and AVX-512. */
#define S24_F16_BLOCK(bb, J, IDX, PICK)                                                                              \
    do {                                                                                                             \
        const uint8_t *blk = w + 18 * (size_t)(bb);                                                                  \
        const __m256i idx = IDX(blk);                                                                                \
        const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 2)));                               \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {                                                        \
            const __m256 g = PICK((const float *)(x + (size_t)r * stride) + 16 * (bb), idx);                         \
            acc[J][r] = _mm256_fmadd_ps(g, v, acc[J][r]);                                                            \
        }                                                                                                            \
    } while (0)
#define S24_F16_ROWS(NAME, TARGET, IDX, PICK)                                                                        \
    TARGET static inline __attribute__((always_inline)) void NAME(const uint8_t *w, const char *x, size_t stride,    \
                                                                  const int R, int64_t K, float *out) {              \
        __m256 acc[4][4];                                                                                            \
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++)                                                          \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) acc[j][r] = _mm256_setzero_ps();                    \
        const int64_t nb = K / 16;                                                                                   \
        int64_t b = 0;                                                                                               \
        for (; b + 4 <= nb; b += 4) {                                                                                \
            lt_cpu_prefetch_ahead(w + 18 * (size_t)b, 2); /* 72 bytes a step: 2 lines */                             \
            S24_F16_BLOCK(b, 0, IDX, PICK);                                                                          \
            S24_F16_BLOCK(b + 1, 1, IDX, PICK);                                                                      \
            S24_F16_BLOCK(b + 2, 2, IDX, PICK);                                                                      \
            S24_F16_BLOCK(b + 3, 3, IDX, PICK);                                                                      \
        }                                                                                                            \
        if (b < nb) S24_F16_BLOCK(b, 0, IDX, PICK);                                                                  \
        if (b + 1 < nb) S24_F16_BLOCK(b + 1, 1, IDX, PICK);                                                          \
        if (b + 2 < nb) S24_F16_BLOCK(b + 2, 2, IDX, PICK);                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                                          \
            out[r] = hsum8(_mm256_add_ps(_mm256_add_ps(acc[0][r], acc[1][r]), _mm256_add_ps(acc[2][r], acc[3][r]))); \
    }
#define IDX_AVX2(blk) idx8((blk)[0], (blk)[1])
S24_F16_ROWS(rows_f16_avx2, LT_AVX2, IDX_AVX2, pick8)

/* AVX-512 (VL, ymm with 32 registers): the indices from the position bits in registers - kept k
 * of a block reads column 4 * (k / 2) + (meta >> 2k & 3), and vpermt2ps picks from the block's 16
 * activations at once (the 32-bit load at the block reads its meta and the first value: the shifts
 * stop at bit 15) */
LT_VNNI static inline __m256i idx_512(const uint8_t *blk) {
    uint32_t m;
    memcpy(&m, blk, 4);
    const __m256i sh = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14), base = _mm256_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12);
    return _mm256_ternarylogic_epi32(_mm256_srlv_epi32(_mm256_set1_epi32((int)m), sh), _mm256_set1_epi32(3), base,
                                     0xEA); /* (pos & 3) | base */
}
LT_VNNI static inline __m256 pick_512(const float *x, __m256i idx) {
    return _mm256_permutex2var_ps(_mm256_loadu_ps(x), idx, _mm256_loadu_ps(x + 8));
}
S24_F16_ROWS(rows_f16_512, LT_VNNI, idx_512, pick_512)


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

/* s24_q4 with int8 activations, per 32 columns x ~ d * q, d = max|x| / 127 (32 int8 at 32 i).
 * Per 64 columns (a weight block) the 64 int8 are stored with the middle two 16-column chunks
 * swapped (columns 0..15, 32..47, 16..31, 48..63), and after the K bytes the block's two scales
 * as its 8 sum lanes want them (da x4, db x4). A block's 32 kept activations are picked into one
 * vector in kept order (lane 0: kept 0..15, the first 32 columns; lane 1: 16..31), dotted with the
 * codes (the low nibbles are kept 0..15, the high 16..31: one shift per lane) by maddubs + madd or
 * dpbusd; the min term takes the kept activations' sum (the same with ones). Per block and 4 kept
 * values (lane l: kept 4l..4l+3): (d_w * sum(q x) + m_w * sum(x)) * d_x into accumulator lane l;
 * at the end the lanes are put in the order of the first (table-index) kernel, (0 1 4 5 2 3 6 7),
 * before hsum8, so every form gives that kernel's numbers bit for bit (the integer sums are exact).
 * Forms: AVX2 (pshufb picks 8 of each 16 stored columns per 128-bit lane, 2 per block and row),
 * AVX-512 VNNI (dpbusd) with the same pick, and VNNI + VBMI (vpermt2b picks all 32 of the 64;
 * vpmultishiftqb pulls each kept value's 2 position bits out of the 8 meta bytes). The pick
 * indices are computed from the meta bytes in vector registers (s24_idx_*). */
static size_t i8_row_bytes(int64_t K) { return (size_t)K + (size_t)(K / 64) * 8 * sizeof(float); }
/* 32 floats -> 32 int8 in order (round to nearest even, as lrintf), d = max|x| / 127 */
LT_AVX2 static inline __attribute__((always_inline)) __m256i q8x32(const float *x, float *d) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], mx = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k), mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[k]));
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float amax = _mm_cvtss_f32(m), db = amax / 127.0f, id = db > 0 ? 1.0f / db : 0.0f;
    *d = db;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i i[4];
    for (int k = 0; k < 4; k++) i[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], vid));
    const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
LT_AVX2 static void quant_i8(const float *x, void *xq, int64_t K) {
    int8_t *q = xq;
    float *d = (float *)((char *)xq + K);
    for (int64_t b = 0; b < K / 64; b++) {
        float da, db;
        const __m256i v0 = q8x32(x + 64 * b, &da), v1 = q8x32(x + 64 * b + 32, &db);
        _mm256_storeu_si256((__m256i *)(q + 64 * b), _mm256_permute2x128_si256(v0, v1, 0x20));
        _mm256_storeu_si256((__m256i *)(q + 64 * b + 32), _mm256_permute2x128_si256(v0, v1, 0x31));
        _mm256_storeu_ps(d + 8 * b, _mm256_setr_ps(da, da, da, da, db, db, db, db));
    }
    _mm256_zeroupper(); /* back to SSE code (tests/test_vzeroupper.sh) */
}

static inline int64_t meta64(const uint8_t *meta) {
    int64_t v;
    memcpy(&v, meta, 8);
    return v;
}

/* AVX2 pick indices: byte j = the place of kept j within its 16 stored columns,
 * 4 * ((j % 8) / 2) + its 2-bit position. Each meta byte is replicated 4x, masked to its k-th
 * 2 bits, folded into the low nibble (a value in 0..3 or 4 * 0..3) and mapped to 0..3 by a table. */
LT_AVX2 static inline __m256i s24_idx_avx2(const uint8_t *meta) {
    const __m256i rep = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6,
                                         6, 6, 7, 7, 7, 7);
    const __m256i bits = _mm256_set1_epi32((int)0xC0300C03u);
    const __m256i lut = _mm256_setr_epi8(0, 1, 2, 3, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 1, 2, 3, 1, 0, 0, 0, 2, 0,
                                         0, 0, 3, 0, 0, 0);
    const __m256i base = _mm256_set1_epi64x(0x0C0C080804040000ll);
    const __m256i a = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi64x(meta64(meta)), rep), bits);
    const __m256i t = _mm256_and_si256(_mm256_or_si256(a, _mm256_srli_epi16(a, 4)), _mm256_set1_epi8(15));
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, t), base);
}
/* the kept activations of a block (x: its 64 stored int8) in kept order */
LT_AVX2 static inline __m256i s24_pick_avx2(const int8_t *x, __m256i idx) {
    const __m256i pa = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)x), idx);
    const __m256i pb = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(x + 32)), idx);
    return _mm256_blend_epi32(pa, pb, 0xCC);
}

#define LT_S24_VBMI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))
/* VBMI pick indices: byte j = the place of kept j among the block's 64 stored columns
 * (vpermt2b's index); kept k's position is bits 2k, 2k+1 of the 8 meta bytes as one
 * little-endian word */
LT_S24_VBMI static inline __m256i s24_idx_vbmi(const uint8_t *meta) {
    const __m256i sh = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40,
                                        42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62);
    const __m256i base = _mm256_setr_epi8(0, 0, 4, 4, 8, 8, 12, 12, 32, 32, 36, 36, 40, 40, 44, 44, 16, 16, 20, 20, 24,
                                          24, 28, 28, 48, 48, 52, 52, 56, 56, 60, 60);
    const __m256i pos = _mm256_multishift_epi64_epi8(sh, _mm256_set1_epi64x(meta64(meta)));
    return _mm256_ternarylogic_epi32(pos, _mm256_set1_epi8(3), base, 0xEA); /* (pos & 3) | base */
}
LT_S24_VBMI static inline __m256i s24_pick_vbmi(const int8_t *x, __m256i idx) {
    return _mm256_permutex2var_epi8(_mm256_loadu_si256((const __m256i *)x), idx,
                                    _mm256_loadu_si256((const __m256i *)(x + 32)));
}

/* sum over each 4 bytes of u (unsigned) * s (signed) */
LT_AVX2 static inline __m256i s24_dot_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
LT_VNNI static inline __m256i s24_dot_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

/* one body for the three forms: IDX / PICK the kept activations, DOT the 4-byte sums. Blocks in
 * pairs share one prefetch (56 bytes, under a cache line). */
#define S24_Q4_I8_BLOCK(bb, IDX, PICK, DOT)                                                                            \
    do {                                                                                                               \
        const lt_block_s24_q4 *blk = (const lt_block_s24_q4 *)w + (bb);                                                \
        const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk)); /* d, m, (meta) */                   \
        const __m256 dw = _mm256_broadcastss_ps(_mm256_castps256_ps128(dm)), mw = _mm256_permutevar8x32_ps(dm, one);   \
        const __m256i wv = _mm256_and_si256(                                                                           \
            _mm256_srlv_epi64(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)blk->qs)), nib), m4);       \
        const __m256i idx = IDX(blk->meta);                                                                            \
        for (int r = 0; r < R; r++) {                                                                                  \
            const char *xr = x + (size_t)r * stride;                                                                   \
            const __m256i xk = PICK((const int8_t *)xr + 64 * (bb), idx);                                              \
            const __m256i p32 = DOT(wv, xk), s32 = DOT(ones8, xk);                                                     \
            const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p32), dw, _mm256_mul_ps(_mm256_cvtepi32_ps(s32), mw)); \
            a[r] = _mm256_fmadd_ps(v, _mm256_loadu_ps((const float *)(xr + K) + 8 * (bb)), a[r]);                      \
        }                                                                                                              \
    } while (0)
#define S24_Q4_I8_ROWS(NAME, TARGET, IDX, PICK, DOT)                                                                   \
    TARGET static inline __attribute__((always_inline)) void NAME(const uint8_t *w, const char *x, size_t stride,      \
                                                                  const int R, int64_t K, float *out) {                \
        __m256 a[4];                                                                                                   \
        for (int r = 0; r < R; r++) a[r] = _mm256_setzero_ps();                                                        \
        const __m256i m4 = _mm256_set1_epi8(15), ones8 = _mm256_set1_epi8(1);                                          \
        const __m256i nib = _mm256_setr_epi64x(0, 0, 4, 4), one = _mm256_set1_epi32(1);                                \
        const int64_t nb = K / 64;                                                                                     \
        int64_t b = 0;                                                                                                 \
        for (; b + 2 <= nb; b += 2) {                                                                                  \
            lt_cpu_prefetch_ahead((const lt_block_s24_q4 *)w + b, 1);                                                  \
            S24_Q4_I8_BLOCK(b, IDX, PICK, DOT);                                                                        \
            S24_Q4_I8_BLOCK(b + 1, IDX, PICK, DOT);                                                                    \
        }                                                                                                              \
        if (b < nb) S24_Q4_I8_BLOCK(b, IDX, PICK, DOT);                                                                \
        const __m256i old = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);                                                 \
        for (int r = 0; r < R; r++) out[r] = hsum8(_mm256_permutevar8x32_ps(a[r], old));                               \
    }
S24_Q4_I8_ROWS(rows_q4_i8, LT_AVX2, s24_idx_avx2, s24_pick_avx2, s24_dot_avx2)
S24_Q4_I8_ROWS(rows_q4_vnni, LT_VNNI, s24_idx_avx2, s24_pick_avx2, s24_dot_vnni)
S24_Q4_I8_ROWS(rows_q4_vbmi, LT_S24_VBMI, s24_idx_vbmi, s24_pick_vbmi, s24_dot_vnni)

S24_FNS(f16_avx2, LT_AVX2, rows_f16_avx2, 2)
S24_FNS(f16_512, LT_VNNI, rows_f16_512, 4)
S24_FNS(q4_avx2, LT_AVX2, rows_q4_avx2, 4)
S24_FNS(q4_i8, LT_AVX2, rows_q4_i8, 4)
S24_FNS(q4_vnni, LT_VNNI, rows_q4_vnni, 4)
S24_FNS(q4_vbmi, LT_S24_VBMI, rows_q4_vbmi, 4)
static const lt_cpu_qdot k_avx2[2] = {{f32_row_bytes, copy_act, f16_avx2_dot, f16_avx2_dot4},
                                      {i8_row_bytes, quant_i8, q4_i8_dot, q4_i8_dot4}};
/* s24_q4's int8 forms: AVX2, VNNI, VNNI + VBMI (lt_cpu_qdot_s24_q4_form) */
static const lt_cpu_qdot k_q4_forms[3] = {{i8_row_bytes, quant_i8, q4_i8_dot, q4_i8_dot4},
                                          {i8_row_bytes, quant_i8, q4_vnni_dot, q4_vnni_dot4},
                                          {i8_row_bytes, quant_i8, q4_vbmi_dot, q4_vbmi_dot4}};
/* s24_f16 on AVX-512 (the same bits as k_avx2[0]) */
static const lt_cpu_qdot k_f16_512 = {f32_row_bytes, copy_act, f16_512_dot, f16_512_dot4};
/* the f32-activation s24_q4 form (exact activations; LT_S24_Q4_F32=1 picks it) */
static const lt_cpu_qdot k_q4_f32 = {f32_row_bytes, copy_act, q4_avx2_dot, q4_avx2_dot4};
#endif
#undef S24_FNS
#undef NOTARGET

#if LT_X86
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* per block: the 8 kept values widened once, placed by vpermps with the inverse table, the
 * pruned columns (index -1: sign bit set) blended to zero */
LT_AVX2 static void s24_widen_avx2(const lt_block_s24_f16 *b, float *out, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, out += 16) {
        const __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b[i].v));
        const __m256i lo = _mm256_load_si256((const __m256i *)k_inv[0][b[i].meta & 255]);
        const __m256i hi = _mm256_load_si256((const __m256i *)k_inv[1][b[i].meta >> 8]);
        _mm256_storeu_ps(out, _mm256_blendv_ps(_mm256_permutevar8x32_ps(v, lo), _mm256_setzero_ps(),
                                               _mm256_castsi256_ps(lo)));
        _mm256_storeu_ps(out + 8, _mm256_blendv_ps(_mm256_permutevar8x32_ps(v, hi), _mm256_setzero_ps(),
                                                   _mm256_castsi256_ps(hi)));
    }
}
#endif

void lt_cpu_s24_f16_widen(const void *row, float *out, int64_t K) {
    const lt_block_s24_f16 *b = row;
#if LT_X86
    if (lt_cpu_has_avx2()) {
        pthread_once(&g_once, lut_init);
        s24_widen_avx2(b, out, K / 16);
        return;
    }
#endif
    for (int64_t i = 0; i < K / 16; i++, out += 16) {
        const uint8_t meta[2] = {(uint8_t)(b[i].meta & 255), (uint8_t)(b[i].meta >> 8)};
        for (int j = 0; j < 16; j++) {
            const int k = lt_s24_slot(meta, j);
            out[j] = k < 0 ? 0.0f : lt_f16_to_f32(b[i].v[k]);
        }
    }
}

const lt_cpu_qdot *lt_cpu_qdot_s24(lt_dtype wt, bool avx2) {
    if (wt != LT_S24_F16 && wt != LT_S24_Q4) return NULL;
    const int k = wt == LT_S24_Q4;
#if LT_X86
    if (avx2) {
        pthread_once(&g_once, lut_init);
        if (!k) return lt_cpu_has_vnni() ? &k_f16_512 : &k_avx2[0];
        if (g_q4_f32) return &k_q4_f32;
        return lt_cpu_has_vnni() ? &k_q4_forms[g_vbmi ? 2 : 1] : &k_q4_forms[0];
    }
#else
    (void)avx2;
#endif
    return &k_scalar[k];
}

const lt_cpu_qdot *lt_cpu_qdot_s24_f16_form(int form) {
#if LT_X86
    if (form < 0 || form > 1 || !lt_cpu_has_avx2() || (form == 1 && !lt_cpu_has_vnni())) return NULL;
    pthread_once(&g_once, lut_init);
    return form ? &k_f16_512 : &k_avx2[0];
#else
    (void)form;
    return NULL;
#endif
}

const lt_cpu_qdot *lt_cpu_qdot_s24_q4_form(int form) {
#if LT_X86
    if (form < 0 || form > 2 || !lt_cpu_has_avx2() || (form > 0 && !lt_cpu_has_vnni())) return NULL;
    pthread_once(&g_once, lut_init);
    return form == 2 && !g_vbmi ? NULL : &k_q4_forms[form];
#else
    (void)form;
    return NULL;
#endif
}

#if LT_X86
LT_AVX2 static void idx_avx2(const uint8_t *meta, uint8_t *idx) {
    _mm256_storeu_si256((__m256i *)idx, s24_idx_avx2(meta));
}
LT_S24_VBMI static void idx_vbmi(const uint8_t *meta, uint8_t *idx) {
    _mm256_storeu_si256((__m256i *)idx, s24_idx_vbmi(meta));
}
#endif

bool lt_cpu_s24_q4_idx(int form, const uint8_t meta[8], uint8_t idx[32]) {
    if (!lt_cpu_qdot_s24_q4_form(form)) return false;
#if LT_X86
    if (form == 2) idx_vbmi(meta, idx);
    else idx_avx2(meta, idx);
#else
    (void)meta, (void)idx;
#endif
    return true;
}
