/* matmul_q4r8.c - the matmul of q4_0 weights interleaved by 8 rows (LT_Q4_0_R8, lt_math.h), the
 * layout the CPU backend holds q4_0 matmul weights in (lt_cpu_matrix_dtype; llama.cpp's repack.cpp
 * does the same with its block_q4_0x8).
 *
 * The activations are quantized to q8_0 once per call (the dtype table's bytes, as every q8_0
 * partner), laid out per row as the 32 int8 of each block, then per block 8 * (sum of its int8)
 * as int32 and its scale as f32. A block column of a group holds one block of each of 8 weight
 * rows, so the 8 rows are 8 int32 lanes: four 32-byte loads give each row's 32 nibbles, 4 per
 * lane, against 4 activation bytes broadcast to every lane (maddubs + madd with AVX2, dpbusd with
 * AVX-512 VNNI: the same exact integers). Per row and block:
 *     s = sum_j w_j * x_j - 8 * sum_j x_j          (exact; w_j the unsigned nibble)
 *     acc = fma(d_w * d_x, (float)s, acc)           (one accumulator, blocks in order)
 * and the row's result is acc (plus bias). Those are the float operations of every path - the
 * portable one (fmaf), AVX2 and VNNI, one activation row or a tile of up to 8 - so a row's result
 * depends neither on the batch, nor on the tile, nor on the path (batches equal single rows, as
 * exact speculative decoding needs). Against plain q4_0 (matmul.c: 8 lane sums per block, two
 * accumulators, a horizontal sum) the result differs by float rounding only: the same integer
 * block sums and scales, summed in another order. Weights are prefetched 4 KiB ahead (one stream:
 * a group's blocks are contiguous).
 * Leaves out: 512-bit forms (two block columns per register), wider weight groups (16 rows).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "cpu_impl.h"

_Static_assert(sizeof(lt_block_q4_0x8) == 8 * sizeof(lt_block_q4_0), "a block column is 8 q4_0 blocks' bytes");

#define NB(K) ((K) / LT_QK4_0)
#define R8_RT 8      /* activation rows per tile at most */
#define R8_PF 4096   /* weight bytes prefetched ahead */

lt_dtype lt_cpu_matrix_dtype(lt_dtype dt, int64_t rows, int64_t cols) {
    static int plain = -1; /* LT_CPU_Q4_0_PLAIN=1: keep q4_0 (A/B measurements) */
    if (plain < 0) {
        const char *e = getenv("LT_CPU_Q4_0_PLAIN");
        plain = e && *e && strcmp(e, "0") != 0;
    }
    if (dt == LT_Q4_0 && !plain && rows > 0 && rows % 8 == 0 && cols % LT_QK4_0 == 0) return LT_Q4_0_R8;
    return dt;
}

/* ---- activation rows ------------------------------------------------------------------------ */

static size_t xr_stride(int64_t K) { return ((size_t)NB(K) * 40 + 63) & ~(size_t)63; }

size_t lt_cpu_q4r8_scratch(int64_t T, int64_t K) { return (size_t)T * xr_stride(K); }

/* int8 at 0, 8 * sums (int32) at 32 nb, scales (f32) at 36 nb */
static void quant_row(const float *x, char *row, int64_t K) {
    const int64_t nb = NB(K);
    int8_t *qs = (int8_t *)row;
    int32_t *bs = (int32_t *)(row + 32 * nb);
    float *d = (float *)(row + 36 * nb);
    lt_block_q8_0 b[16];
    for (int64_t i0 = 0; i0 < nb; i0 += 16) {
        const int64_t n = nb - i0 < 16 ? nb - i0 : 16;
        lt_cpu_quant_q8_0(x + i0 * LT_QK8_0, b, n * LT_QK8_0);
        for (int64_t k = 0; k < n; k++) {
            int s = 0;
            for (int j = 0; j < LT_QK8_0; j++) s += b[k].q[j];
            memcpy(qs + 32 * (i0 + k), b[k].q, 32);
            bs[i0 + k] = 8 * s;
            d[i0 + k] = lt_f16_to_f32(b[k].d);
        }
    }
}

/* ---- the kernels: out[8 r + l] = activation row r (of R, stride xs) . weight row l of group w ---- */

typedef void (*r8_fn)(const char *x, size_t xs, const lt_block_q4_0x8 *w, int64_t nb, float *out);

static void rows_scalar(const char *x, size_t xs, const lt_block_q4_0x8 *w, int64_t nb, int R, float *out) {
    for (int r = 0; r < R; r++) {
        const int8_t *qs = (const int8_t *)(x + (size_t)r * xs);
        const int32_t *bs = (const int32_t *)(x + (size_t)r * xs + 32 * nb);
        const float *d = (const float *)(x + (size_t)r * xs + 36 * nb);
        float acc[8] = {0};
        for (int64_t i = 0; i < nb; i++)
            for (int l = 0; l < 8; l++) {
                int s = 0;
                for (int p = 0; p < 4; p++)
                    for (int e = 0; e < 4; e++) {
                        const uint8_t b = w[i].q[32 * p + 4 * l + e];
                        s += (b & 15) * qs[32 * i + 4 * p + e] + (b >> 4) * qs[32 * i + 16 + 4 * p + e];
                    }
                acc[l] = fmaf(lt_f16_to_f32(w[i].d[l]) * d[i], (float)(s - bs[i]), acc[l]);
            }
        memcpy(out + 8 * r, acc, sizeof acc);
    }
}
#define SCALAR_FN(R) \
    static void r8s_##R(const char *x, size_t xs, const lt_block_q4_0x8 *w, int64_t nb, float *out) { rows_scalar(x, xs, w, nb, R, out); }
SCALAR_FN(1)
SCALAR_FN(2)
SCALAR_FN(3)
SCALAR_FN(4)
SCALAR_FN(5)
SCALAR_FN(6)
SCALAR_FN(7)
SCALAR_FN(8)
static const r8_fn k_scalar[R8_RT + 1] = {NULL, r8s_1, r8s_2, r8s_3, r8s_4, r8s_5, r8s_6, r8s_7, r8s_8};

#if LT_X86
static inline int32_t ld32(const char *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* VNNI: dpbusd accumulates the integers; else maddubs pairs summed as int16 (8 of them stay
 * within +-30720), then madd to int32 */
#define R8_ROWS(NAME, TARGET, VNNI)                                                                          \
    TARGET static inline __attribute__((always_inline)) void NAME(const char *x, size_t xs,                 \
                                                                  const lt_block_q4_0x8 *w, int64_t nb,      \
                                                                  const int R, float *out) {                 \
        const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);                                 \
        (void)ones;                                                                                          \
        __m256 acc[R8_RT];                                                                                   \
        for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();                                            \
        for (int64_t i = 0; i < nb; i++) {                                                                   \
            const char *wp = (const char *)(w + i);                                                          \
            _mm_prefetch(wp + R8_PF, _MM_HINT_T0);                                                           \
            _mm_prefetch(wp + R8_PF + 64, _MM_HINT_T0);                                                      \
            _mm_prefetch(wp + R8_PF + 128, _MM_HINT_T0);                                                     \
            __m256i s[R8_RT];                                                                                \
            for (int r = 0; r < R; r++)                                                                      \
                s[r] = VNNI ? _mm256_set1_epi32(-ld32(x + (size_t)r * xs + 32 * nb + 4 * i))                 \
                            : _mm256_setzero_si256();                                                        \
            for (int p = 0; p < 4; p++) {                                                                    \
                const __m256i v = _mm256_loadu_si256((const __m256i *)(w[i].q + 32 * p));                    \
                const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4); \
                for (int r = 0; r < R; r++) {                                                                \
                    const char *xr = x + (size_t)r * xs + 32 * i;                                            \
                    const __m256i a = _mm256_set1_epi32(ld32(xr + 4 * p)), b = _mm256_set1_epi32(ld32(xr + 16 + 4 * p)); \
                    R8_MAC(s[r], lo, a, hi, b, VNNI);                                                        \
                }                                                                                            \
            }                                                                                                \
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[i].d));                     \
            for (int r = 0; r < R; r++) {                                                                    \
                const char *xr = x + (size_t)r * xs;                                                         \
                float dx;                                                                                    \
                memcpy(&dx, xr + 36 * nb + 4 * i, 4);                                                        \
                const __m256i is = VNNI ? s[r]                                                               \
                                        : _mm256_sub_epi32(_mm256_madd_epi16(s[r], ones),                    \
                                                           _mm256_set1_epi32(ld32(xr + 32 * nb + 4 * i)));   \
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx)), _mm256_cvtepi32_ps(is), acc[r]); \
            }                                                                                                \
        }                                                                                                    \
        for (int r = 0; r < R; r++) _mm256_storeu_ps(out + 8 * r, acc[r]);                                  \
    }

#define R8_MAC_AVX2(s, lo, a, hi, b)                                                                         \
    s = _mm256_add_epi16(_mm256_add_epi16(s, _mm256_maddubs_epi16(lo, a)), _mm256_maddubs_epi16(hi, b))
#define R8_MAC(s, lo, a, hi, b, VNNI) R8_MAC_##VNNI(s, lo, a, hi, b)
#define R8_MAC_0 R8_MAC_AVX2
#define R8_MAC_1(s, lo, a, hi, b) s = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(s, lo, a), hi, b)
R8_ROWS(rows_avx2, LT_AVX2, 0)
R8_ROWS(rows_vnni, LT_VNNI, 1)

/* vzeroupper before returning to the driver's SSE code (matmul.c df16_v) */
#define SIMD_FN(R)                                                                                          \
    LT_AVX2 static void r8a_##R(const char *x, size_t xs, const lt_block_q4_0x8 *w, int64_t nb, float *out) { \
        rows_avx2(x, xs, w, nb, R, out);                                                                    \
        _mm256_zeroupper();                                                                                 \
    }                                                                                                       \
    LT_VNNI static void r8v_##R(const char *x, size_t xs, const lt_block_q4_0x8 *w, int64_t nb, float *out) { \
        rows_vnni(x, xs, w, nb, R, out);                                                                    \
        _mm256_zeroupper();                                                                                 \
    }
SIMD_FN(1)
SIMD_FN(2)
SIMD_FN(3)
SIMD_FN(4)
SIMD_FN(5)
SIMD_FN(6)
SIMD_FN(7)
SIMD_FN(8)
static const r8_fn k_avx2[R8_RT + 1] = {NULL, r8a_1, r8a_2, r8a_3, r8a_4, r8a_5, r8a_6, r8a_7, r8a_8};
static const r8_fn k_vnni[R8_RT + 1] = {NULL, r8v_1, r8v_2, r8v_3, r8v_4, r8v_5, r8v_6, r8v_7, r8v_8};
#endif

/* ---- the driver ----------------------------------------------------------------------------- */

typedef struct r8_ctx {
    const r8_fn *fns;
    int rt; /* rows per tile at most */
    float *y;
    const float *x;
    char *xq;
    size_t xs;
    const lt_block_q4_0x8 *w;
    const float *bias;
    int64_t T, N, K, chunk; /* chunk: groups per work item */
    _Atomic int64_t next;
} r8_ctx;

static void quant_job(void *arg, int ith, int nth) {
    r8_ctx *c = arg;
    int64_t t0, t1;
    lt_cpu_split(c->T, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) quant_row(c->x + t * c->K, c->xq + (size_t)t * c->xs, c->K);
}

static void dot_job(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    r8_ctx *c = arg;
    const int64_t nb = NB(c->K), groups = c->N / 8, items = (groups + c->chunk - 1) / c->chunk;
    const int64_t tiles = (c->T + c->rt - 1) / c->rt;
    for (;;) {
        const int64_t it = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (it >= items) break;
        const int64_t g0 = it * c->chunk, g1 = g0 + c->chunk < groups ? g0 + c->chunk : groups;
        for (int64_t g = g0; g < g1; g++) {
            const lt_block_q4_0x8 *wg = c->w + g * nb;
            for (int64_t j = 0; j < tiles; j++) { /* tile sizes as even as possible */
                const int64_t t0 = c->T * j / tiles, t1 = c->T * (j + 1) / tiles;
                float o[8 * R8_RT];
                c->fns[t1 - t0](c->xq + (size_t)t0 * c->xs, c->xs, wg, nb, o);
                for (int64_t t = t0; t < t1; t++)
                    for (int l = 0; l < 8; l++)
                        c->y[t * c->N + 8 * g + l] = o[8 * (t - t0) + l] + (c->bias ? c->bias[8 * g + l] : 0.0f);
            }
        }
    }
}

void lt_cpu_q4r8_matmul(lt_pool *p, void *scratch, float *y, const float *x, const void *w, const float *bias,
                        int64_t T, int64_t N, int64_t K) {
    const int nth = lt_pool_threads(p);
    r8_ctx c = {.fns = k_scalar, .rt = R8_RT, .y = y, .x = x, .xq = scratch, .xs = xr_stride(K), .w = w,
                .bias = bias, .T = T, .N = N, .K = K};
#if LT_X86
    /* VNNI for tiles of several rows; decoding (T = 1) from DRAM measured 6-27% slower with the
       256-bit EVEX code than with AVX2 (level with the plain q4_0 kernels with AVX2; docs/PERF.md,
       "q4_0 interleaved by 8 rows"), as matmul.c found for plain q4_0. Same bits either way. */
    if (lt_cpu_has_avx2()) {
        const bool v = lt_cpu_has_vnni() && T > 1;
        c.fns = v ? k_vnni : k_avx2, c.rt = v ? R8_RT : 4;
    }
#endif
    atomic_init(&c.next, 0);
    if (T >= 4) lt_pool_run(p, quant_job, &c);
    else quant_job(&c, 0, 1);
    /* ~256 KiB of weights per work item, at least 4 items per thread (as matmul.c) */
    const int64_t groups = N / 8, gbytes = NB(K) * (int64_t)sizeof(lt_block_q4_0x8);
    int64_t ch = (int64_t)(256 << 10) / (gbytes ? gbytes : 1);
    const int64_t per = (groups + 4 * nth - 1) / (4 * nth);
    if (ch > per) ch = per;
    c.chunk = ch < 1 ? 1 : ch;
    lt_pool_run(p, dot_job, &c);
}
