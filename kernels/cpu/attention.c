/* attention.c - paged attention over the KV block pool (lt_cpu_attention).
 *
 * One work item per (query token, head), taken from an atomic counter. Each walks its
 * sequence's block table over the first tok_ctx positions, a block at a time, keeping an
 * online softmax (running max, running sum, rescaled f32 accumulator), as flash-decoding
 * does; everything is f32, f16 caches are widened on the fly.
 * With AVX2 (head_dim a multiple of 8): scores of 8 positions at once (8 accumulators,
 * one transposing reduction), their exponentials as one vector (exp8: Cephes' expf
 * polynomial, ~1 ulp), the weighted V sum with the accumulator held in registers over a
 * block's positions, and the query heads of a GQA group in one work item while the block's
 * K and V rows sit in L1 (when that leaves two items per thread). 2-2.5x faster than the
 * portable path's per-position calls at a 4096-token context (docs/PERF.md), where decode
 * spent most of its time here. Results are within float rounding of the portable path (not
 * bit-identical to it); a token's result never depends on the batch or the grouping.
 * A sliding window (args.window) starts the walk at the window's first position.
 * Partial attention (args.lse set): negative block-table entries are skipped and each item
 * also writes max + log(sum) of its softmax; lt_cpu_attn_merge combines two such partials.
 * args.prompt_gemm: one sequence's prompt by tiles of GEMMs instead (see prompt_gemm below).
 * Leaves out: ALiBi, soft-capping, sparse (retrieved) block lists.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "cpu_impl.h"

#define ATT_MAX_HEAD_DIM 1024 /* accumulator lives on the stack */
#define ATT_CHUNK 128         /* scores computed per step */
#define ATT_GROUP_MAX 16      /* query heads per work item (one GQA group) at most */
#define ATT_GROUP_FLOATS 4096 /* and their accumulators (16 KiB of stack, twice) */

typedef float (*kdot_fn)(const float *q, const void *k, int n);

/* The first position a token with context ctx attends to. */
static inline int att_first(const lt_cpu_attn_args *a, int ctx) {
    return a->window > 0 && ctx > a->window ? ctx - a->window : 0;
}
typedef void (*vaxpy_fn)(float *acc, float a, const void *v, int n);

static float kdot_f32(const float *q, const void *k, int n) {
    const float *kk = k;
    float s = 0;
    for (int i = 0; i < n; i++) s += q[i] * kk[i];
    return s;
}

static float kdot_f16(const float *q, const void *k, int n) {
    const uint16_t *kk = k;
    float s = 0;
    for (int i = 0; i < n; i++) s += q[i] * lt_f16_to_f32(kk[i]);
    return s;
}

static void vaxpy_f32(float *acc, float a, const void *v, int n) {
    const float *vv = v;
    for (int i = 0; i < n; i++) acc[i] += a * vv[i];
}

static void vaxpy_f16(float *acc, float a, const void *v, int n) {
    const uint16_t *vv = v;
    for (int i = 0; i < n; i++) acc[i] += a * lt_f16_to_f32(vv[i]);
}

#if LT_X86

LT_AVX2 static float kdot_f32_v(const float *q, const void *k, int n) {
    const float *kk = k;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kk + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_loadu_ps(kk + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(kk + i), a0);
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += q[i] * kk[i];
    return s;
}

LT_AVX2 static float kdot_f16_v(const float *q, const void *k, int n) {
    const uint16_t *kk = k;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kk + i))), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kk + i + 8))),
                             a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kk + i))), a0);
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += q[i] * lt_f16_to_f32(kk[i]);
    return s;
}

LT_AVX2 static void vaxpy_f32_v(float *acc, float a, const void *v, int n) {
    const float *vv = v;
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(vv + i), _mm256_loadu_ps(acc + i)));
    for (; i < n; i++) acc[i] += a * vv[i];
}

LT_AVX2 static void vaxpy_f16_v(float *acc, float a, const void *v, int n) {
    const uint16_t *vv = v;
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vv + i))),
                                                  _mm256_loadu_ps(acc + i)));
    for (; i < n; i++) acc[i] += a * lt_f16_to_f32(vv[i]);
}
#endif

typedef struct att_ctx {
    const lt_cpu_attn_args *a;
    kdot_fn kdot;
    vaxpy_fn vaxpy;
    /* the vector path (heads h0..h0+G-1 of token t, one KV head), or NULL */
    void (*heads)(const struct att_ctx *c, int64_t t, int h0, int G);
    int group; /* heads per work item with the vector path: the GQA group, or 1 */
    _Atomic int64_t next;
} att_ctx;

#if LT_X86
/* e^x for 8 lanes, x <= 0 (scores minus their running max): Cephes' expf (range reduction
 * by ln 2 in two parts, degree-5 polynomial, exponent by integer add), ~1 ulp; x below
 * -87.3 gives 0. */
LT_AVX2 static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3365447f);
    const __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_setzero_ps());
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

/* The 8 lane sums of a0..a7 as one vector (lane j = sum of aj). */
LT_AVX2 static inline __m256 sum8x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6,
                                    __m256 a7) {
    const __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
    const __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

#define LD_F32(p) _mm256_loadu_ps((const float *)(p))
#define LD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

/* Heads h0 .. h0+G-1 of token t, which share one KV head: per chunk of positions, each
 * head's scores, softmax update and weighted V sum, while the chunk's K and V rows stay in
 * L1 (so a group reads each row from L3 or memory once). Every head gets the same
 * operations whatever G is, so grouping never changes a result. */
#define ATT_HEADS_V(NAME, LD, ESZ)                                                                       \
    LT_AVX2 static void NAME(const att_ctx *c, int64_t t, int h0, int G) {                              \
        const lt_cpu_attn_args *a = c->a;                                                               \
        const int Dh = a->head_dim, bs = a->block_size;                                                 \
        const int kvh = h0 / (a->n_heads / a->n_kv_heads);                                              \
        const int64_t W = (int64_t)a->n_kv_heads * Dh;                                                  \
        const char *kc = (const char *)a->kc + (size_t)kvh * Dh * ESZ;                                  \
        const char *vc = (const char *)a->vc + (size_t)kvh * Dh * ESZ;                                  \
        const int32_t *bt = a->block_tables + (int64_t)a->tok_seq[t] * a->max_blocks;                  \
        const int ctx = a->tok_ctx[t];                                                                  \
        const size_t rs = (size_t)W * ESZ; /* bytes from one position to the next */                   \
        float acc[ATT_GROUP_FLOATS], qs[ATT_GROUP_FLOATS], s[ATT_GROUP_MAX][ATT_CHUNK + 8];             \
        float m[ATT_GROUP_MAX], l[ATT_GROUP_MAX];                                                       \
        for (int h = 0; h < G; h++) {                                                                   \
            const float *q = a->q + (t * a->n_heads + h0 + h) * (int64_t)Dh;                            \
            for (int i = 0; i < Dh; i++) acc[h * Dh + i] = 0.0f, qs[h * Dh + i] = q[i] * a->scale;    \
            m[h] = -INFINITY, l[h] = 0.0f;                                                              \
        }                                                                                               \
        const int first = att_first(a, ctx);                                                           \
        for (int p0 = first / bs * bs; p0 < ctx; p0 += bs) {                                            \
            if (bt[p0 / bs] < 0) continue; /* held elsewhere (partial attention) */                     \
            const char *kb = kc + (size_t)bt[p0 / bs] * bs * rs, *vb = vc + (size_t)bt[p0 / bs] * bs * rs; \
            const int nblk = ctx - p0 < bs ? ctx - p0 : bs;                                            \
            for (int j0 = first > p0 ? first - p0 : 0; j0 < nblk; j0 += ATT_CHUNK) {                    \
                const int n = nblk - j0 < ATT_CHUNK ? nblk - j0 : ATT_CHUNK;                            \
                const char *k0 = kb + (size_t)j0 * rs, *v0 = vb + (size_t)j0 * rs;                     \
                for (int h = 0; h < G; h++) {                                                           \
                    const float *qh = qs + h * Dh;                                                      \
                    float *sh = s[h];                                                                   \
                    int j = 0;                                                                          \
                    for (; j + 8 <= n; j += 8) { /* 8 scores at once */                                 \
                        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0; \
                        const char *kr = k0 + (size_t)j * rs;                                           \
                        for (int d = 0; d < Dh; d += 8) {                                               \
                            const __m256 qv = _mm256_loadu_ps(qh + d);                                  \
                            const size_t o = (size_t)d * ESZ;                                           \
                            c0 = _mm256_fmadd_ps(qv, LD(kr + o), c0);                                   \
                            c1 = _mm256_fmadd_ps(qv, LD(kr + rs + o), c1);                              \
                            c2 = _mm256_fmadd_ps(qv, LD(kr + 2 * rs + o), c2);                          \
                            c3 = _mm256_fmadd_ps(qv, LD(kr + 3 * rs + o), c3);                          \
                            c4 = _mm256_fmadd_ps(qv, LD(kr + 4 * rs + o), c4);                          \
                            c5 = _mm256_fmadd_ps(qv, LD(kr + 5 * rs + o), c5);                          \
                            c6 = _mm256_fmadd_ps(qv, LD(kr + 6 * rs + o), c6);                          \
                            c7 = _mm256_fmadd_ps(qv, LD(kr + 7 * rs + o), c7);                          \
                        }                                                                               \
                        _mm256_storeu_ps(sh + j, sum8x8(c0, c1, c2, c3, c4, c5, c6, c7));               \
                    }                                                                                   \
                    for (; j < n; j++) {                                                                \
                        const char *kr = k0 + (size_t)j * rs;                                           \
                        __m256 c0 = _mm256_setzero_ps();                                                \
                        for (int d = 0; d < Dh; d += 8)                                                 \
                            c0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + d), LD(kr + (size_t)d * ESZ), c0); \
                        sh[j] = hsum8(c0);                                                              \
                    }                                                                                   \
                    float mb = -INFINITY;                                                               \
                    for (int i = 0; i < n; i++) mb = sh[i] > mb ? sh[i] : mb;                           \
                    float *ah = acc + h * Dh;                                                           \
                    if (mb > m[h]) {                                                                    \
                        const float corr = expf(m[h] - mb); /* 0 on the first chunk */                  \
                        l[h] *= corr;                                                                   \
                        const __m256 cv = _mm256_set1_ps(corr);                                         \
                        for (int d = 0; d < Dh; d += 8) _mm256_storeu_ps(ah + d, _mm256_mul_ps(cv, _mm256_loadu_ps(ah + d))); \
                        m[h] = mb;                                                                      \
                    }                                                                                   \
                    const __m256 mv = _mm256_set1_ps(m[h]);                                             \
                    for (int i = n; i < ((n + 7) & ~7); i++) sh[i] = -INFINITY; /* pad: e^-inf = 0 */  \
                    __m256 ls = _mm256_setzero_ps();                                                    \
                    for (int i = 0; i < n; i += 8) {                                                    \
                        const __m256 pv = exp8(_mm256_sub_ps(_mm256_loadu_ps(sh + i), mv));            \
                        _mm256_storeu_ps(sh + i, pv);                                                   \
                        ls = _mm256_add_ps(ls, pv);                                                     \
                    }                                                                                   \
                    l[h] += hsum8(ls);                                                                  \
                    /* acc += sum_j p_j v_j, 64 dims (8 registers) at a time over the chunk */         \
                    for (int d0 = 0; d0 < Dh; d0 += 64) {                                               \
                        const int nd = Dh - d0 < 64 ? (Dh - d0) / 8 : 8;                                \
                        __m256 r[8];                                                                    \
                        for (int u = 0; u < nd; u++) r[u] = _mm256_loadu_ps(ah + d0 + 8 * u);           \
                        for (int jj = 0; jj < n; jj++) {                                                \
                            const __m256 pv = _mm256_set1_ps(sh[jj]);                                   \
                            const char *vr = v0 + (size_t)jj * rs + (size_t)d0 * ESZ;                   \
                            for (int u = 0; u < nd; u++) r[u] = _mm256_fmadd_ps(pv, LD(vr + (size_t)(8 * u) * ESZ), r[u]); \
                        }                                                                               \
                        for (int u = 0; u < nd; u++) _mm256_storeu_ps(ah + d0 + 8 * u, r[u]);           \
                    }                                                                                   \
                }                                                                                       \
            }                                                                                           \
        }                                                                                               \
        for (int h = 0; h < G; h++) {                                                                   \
            float *out = a->out + (t * a->n_heads + h0 + h) * (int64_t)Dh;                              \
            const float inv = l[h] > 0.0f ? 1.0f / l[h] : 0.0f;                                         \
            for (int i = 0; i < Dh; i++) out[i] = acc[h * Dh + i] * inv;                                \
            if (a->lse) a->lse[t * a->n_heads + h0 + h] = l[h] > 0.0f ? m[h] + logf(l[h]) : -INFINITY; \
        }                                                                                               \
    }
ATT_HEADS_V(att_heads_f32_v, LD_F32, 4)
ATT_HEADS_V(att_heads_f16_v, LD_F16, 2)
#undef ATT_HEADS_V
#undef LD_F32
#undef LD_F16
#endif

static void att_one(const att_ctx *c, int64_t t, int h) {
    const lt_cpu_attn_args *a = c->a;
    const int Dh = a->head_dim, bs = a->block_size;
    const int kvh = h / (a->n_heads / a->n_kv_heads);
    const int64_t W = (int64_t)a->n_kv_heads * Dh;
    const size_t esz = a->kvt == LT_F16 ? 2 : 4;
    const char *kc = a->kc, *vc = a->vc;
    const float *q = a->q + (t * a->n_heads + h) * (int64_t)Dh;
    float *out = a->out + (t * a->n_heads + h) * (int64_t)Dh;
    const int32_t *bt = a->block_tables + (int64_t)a->tok_seq[t] * a->max_blocks;
    const int ctx = a->tok_ctx[t];

    float acc[ATT_MAX_HEAD_DIM], s[ATT_CHUNK];
    for (int i = 0; i < Dh; i++) acc[i] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    const int first = att_first(a, ctx);
    for (int p0 = first / bs * bs; p0 < ctx; p0 += bs) {
        if (bt[p0 / bs] < 0) continue; /* held elsewhere (partial attention) */
        const int64_t base = (int64_t)bt[p0 / bs] * bs;
        const int nblk = ctx - p0 < bs ? ctx - p0 : bs;
        for (int j0 = first > p0 ? first - p0 : 0; j0 < nblk; j0 += ATT_CHUNK) {
            const int n = nblk - j0 < ATT_CHUNK ? nblk - j0 : ATT_CHUNK;
            float mb = -INFINITY;
            for (int j = 0; j < n; j++) {
                const int64_t row = base + j0 + j;
                s[j] = c->kdot(q, kc + ((size_t)row * (size_t)W + (size_t)kvh * Dh) * esz, Dh) * a->scale;
                if (s[j] > mb) mb = s[j];
            }
            if (mb > m) {
                const float corr = expf(m - mb); /* 0 on the first chunk */
                l *= corr;
                for (int i = 0; i < Dh; i++) acc[i] *= corr;
                m = mb;
            }
            for (int j = 0; j < n; j++) {
                const int64_t row = base + j0 + j;
                const float pj = expf(s[j] - m);
                l += pj;
                c->vaxpy(acc, pj, vc + ((size_t)row * (size_t)W + (size_t)kvh * Dh) * esz, Dh);
            }
        }
    }
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    for (int i = 0; i < Dh; i++) out[i] = acc[i] * inv;
    if (a->lse) a->lse[t * a->n_heads + h] = l > 0.0f ? m + logf(l) : -INFINITY;
}

static void att_job(void *arg, int ith, int nth) {
    att_ctx *c = arg;
    const int64_t items = c->a->T * (c->heads ? c->a->n_heads / c->group : c->a->n_heads);
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (it >= items) break;
        if (c->heads) {
            const int per = c->a->n_heads / c->group; /* items per token */
            c->heads(c, it / per, (int)(it % per) * c->group, c->group);
        } else {
            att_one(c, it / c->a->n_heads, (int)(it % c->a->n_heads));
        }
    }
}

/* ---- one prompt by GEMMs (args.prompt_gemm) ----------------------------------------------------
 * A batch that is one sequence's consecutive positions (tok_ctx rising by one) is taken in tiles
 * of PG_ROWS query tokens per KV head: the keys and values that the tile sees are gathered into
 * f32 rows, then per query head S = Q K^T (sgemm), each row's softmax over its own positions
 * (causal, sliding window) and O = P V (sgemm). The same arithmetic as the paths above up to float
 * rounding, but a token's rounding then depends on the tile it falls in - which is why callers ask
 * for it (calibration runs) rather than every prefill taking it. */
#define PG_ROWS 64
#define PG_MAX_CTX 8192 /* longer contexts keep the per-token path (scratch stays small) */
#define PG_SLOT 2

typedef struct pg_ctx {
    const lt_cpu_attn_args *a;
    char *scratch;
    size_t per_thread;
    int64_t tiles;
    _Atomic int64_t next;
} pg_ctx;

static void pg_gather(const lt_cpu_attn_args *a, const char *cache, int kvh, int k0, int k1, float *dst) {
    const int Dh = a->head_dim, bs = a->block_size;
    const int64_t W = (int64_t)a->n_kv_heads * Dh;
    const int32_t *bt = a->block_tables + (int64_t)a->tok_seq[0] * a->max_blocks;
    for (int p = k0; p < k1; p++) {
        const int64_t row = (int64_t)bt[p / bs] * bs + p % bs;
        float *d = dst + (size_t)(p - k0) * Dh;
        if (a->kvt == LT_F16) {
            const uint16_t *s = (const uint16_t *)cache + row * W + (int64_t)kvh * Dh;
            for (int i = 0; i < Dh; i++) d[i] = lt_f16_to_f32(s[i]);
        } else {
            memcpy(d, (const float *)cache + row * W + (int64_t)kvh * Dh, (size_t)Dh * sizeof(float));
        }
    }
}

/* softmax of s[lo, hi) in place (the rest of the row zeroed up to n); returns 1 / sum */
#if LT_X86
LT_AVX2 static float pg_softmax_v(float *s, int lo, int hi, int n, float scale) {
    float m = -INFINITY;
    for (int j = lo; j < hi; j++) m = s[j] > m ? s[j] : m;
    m *= scale;
    const __m256 sv = _mm256_set1_ps(scale), mv = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    int j = lo;
    for (; j + 8 <= hi; j += 8) {
        const __m256 e = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(s + j), sv, mv));
        _mm256_storeu_ps(s + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = hsum8(acc);
    for (; j < hi; j++) sum += s[j] = expf(s[j] * scale - m);
    for (j = 0; j < lo; j++) s[j] = 0;
    for (j = hi; j < n; j++) s[j] = 0;
    _mm256_zeroupper(); /* back to SSE code (tests/test_vzeroupper.sh) */
    return 1.0f / sum;
}
#endif

static float pg_softmax(float *s, int lo, int hi, int n, float scale) {
    float m = -INFINITY, sum = 0;
    for (int j = lo; j < hi; j++) m = s[j] > m ? s[j] : m;
    m *= scale;
    for (int j = lo; j < hi; j++) sum += s[j] = expf(s[j] * scale - m);
    for (int j = 0; j < lo; j++) s[j] = 0;
    for (int j = hi; j < n; j++) s[j] = 0;
    return 1.0f / sum;
}

static void pg_job(void *arg, int ith, int nth) {
    (void)nth;
    pg_ctx *c = arg;
    const lt_cpu_attn_args *a = c->a;
    const int Dh = a->head_dim, H = a->n_heads, G = a->n_heads / a->n_kv_heads;
    const int max_ctx = a->tok_ctx[a->T - 1];
    float *kt = (float *)(c->scratch + c->per_thread * (size_t)ith), *vt = kt + (size_t)max_ctx * Dh,
          *sc = vt + (size_t)max_ctx * Dh;
    const int64_t items = c->tiles * a->n_kv_heads;
    for (;;) {
        /* the last tiles (the most keys) first */
        const int64_t it = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (it >= items) break;
        const int64_t tile = c->tiles - 1 - it / a->n_kv_heads;
        const int kvh = (int)(it % a->n_kv_heads);
        const int64_t t0 = tile * PG_ROWS, t1 = t0 + PG_ROWS < a->T ? t0 + PG_ROWS : a->T;
        const int rows = (int)(t1 - t0), k0 = att_first(a, a->tok_ctx[t0]), k1 = a->tok_ctx[t1 - 1], n = k1 - k0;
        pg_gather(a, a->kc, kvh, k0, k1, kt);
        pg_gather(a, a->vc, kvh, k0, k1, vt);
        for (int h = kvh * G; h < (kvh + 1) * G; h++) {
            const float *q = a->q + (t0 * H + h) * (int64_t)Dh;
            float *out = a->out + (t0 * H + h) * (int64_t)Dh;
            lt_cpu_sgemm(true, rows, n, Dh, q, H * Dh, kt, Dh, sc, n);
            float inv[PG_ROWS];
            for (int r = 0; r < rows; r++) {
                const int ctx = a->tok_ctx[t0 + r], lo = att_first(a, ctx) - k0, hi = ctx - k0;
#if LT_X86
                if (lt_cpu_has_avx2()) {
                    inv[r] = pg_softmax_v(sc + (size_t)r * n, lo, hi, n, a->scale);
                    continue;
                }
#endif
                inv[r] = pg_softmax(sc + (size_t)r * n, lo, hi, n, a->scale);
            }
            lt_cpu_sgemm(false, rows, Dh, n, sc, n, vt, Dh, out, H * Dh);
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < Dh; i++) out[(size_t)r * H * Dh + i] *= inv[r];
        }
    }
}

/* The batch as one prompt by GEMMs when it is one (see above); false: take the per-token path. */
static bool prompt_gemm(lt_pool *p, const lt_cpu_attn_args *a) {
    if (!a->prompt_gemm || a->lse || a->T < PG_ROWS || !p || !lt_pool_blas_ok(p)) return false; /* not partial */
    for (int64_t t = 1; t < a->T; t++)
        if (a->tok_seq[t] != a->tok_seq[0] || a->tok_ctx[t] != a->tok_ctx[t - 1] + 1) return false;
    const int max_ctx = a->tok_ctx[a->T - 1];
    if (max_ctx > PG_MAX_CTX) return false;
    pg_ctx c = {.a = a, .tiles = (a->T + PG_ROWS - 1) / PG_ROWS};
    c.per_thread = ((size_t)2 * max_ctx * a->head_dim + (size_t)PG_ROWS * max_ctx) * sizeof(float) + 64;
    c.scratch = lt_pool_scratch(p, PG_SLOT, c.per_thread * (size_t)lt_pool_threads(p));
    if (!c.scratch) return false;
    atomic_init(&c.next, 0);
    lt_pool_run(p, pg_job, &c);
    return true;
}

void lt_cpu_attention(lt_pool *p, const lt_cpu_attn_args *a) {
    LT_ASSERT(a->head_dim <= ATT_MAX_HEAD_DIM && (a->kvt == LT_F32 || a->kvt == LT_F16));
    LT_ASSERT(a->n_kv_heads > 0 && a->n_heads % a->n_kv_heads == 0);
    if (prompt_gemm(p, a)) return;
    att_ctx c = {.a = a};
    atomic_init(&c.next, 0);
    const bool f16 = a->kvt == LT_F16;
    c.kdot = f16 ? kdot_f16 : kdot_f32;
    c.vaxpy = f16 ? vaxpy_f16 : vaxpy_f32;
#if LT_X86
    if (lt_cpu_has_avx2()) {
        c.kdot = f16 ? kdot_f16_v : kdot_f32_v;
        c.vaxpy = f16 ? vaxpy_f16_v : vaxpy_f32_v;
        if (a->head_dim % 8 == 0) {
            c.heads = f16 ? att_heads_f16_v : att_heads_f32_v;
            /* a GQA group per item when that still gives every thread two items */
            const int G = a->n_heads / a->n_kv_heads;
            c.group = G <= ATT_GROUP_MAX && G * a->head_dim <= ATT_GROUP_FLOATS &&
                              a->T * a->n_kv_heads >= 2 * (int64_t)lt_pool_threads(p)
                          ? G
                          : 1;
        }
    }
#endif
    int64_t work = 0;
    for (int64_t t = 0; t < a->T; t++) work += a->tok_ctx[t];
    work *= (int64_t)a->n_heads * a->head_dim;
    if (work < 16384) att_job(&c, 0, 1);
    else lt_pool_run(p, att_job, &c);
}

void lt_cpu_attn_merge(float *out, float *lse, const float *o2, const float *lse2, int64_t T, int H, int Dh) {
    for (int64_t r = 0; r < T * H; r++) {
        const float a = lse[r], b = lse2[r];
        float *o = out + r * Dh;
        const float *p = o2 + r * Dh;
        if (a == -INFINITY && b == -INFINITY) {
            for (int i = 0; i < Dh; i++) o[i] = 0.0f;
            continue;
        }
        const float M = a > b ? a : b;
        const float wa = expf(a - M), wb = expf(b - M), inv = 1.0f / (wa + wb);
        for (int i = 0; i < Dh; i++) o[i] = (wa * o[i] + wb * p[i]) * inv;
        lse[r] = M + logf(wa + wb);
    }
}

/* Exposed for lt_cpu_attention's callers that need the limit (the backend checks it). */
int lt_cpu_attention_max_head_dim(void) { return ATT_MAX_HEAD_DIM; }
