/* lowrank.c - y[T,K] += alpha . (x[T,K] . V^T) . V for V [R, K] f32/f16/bf16: SliceGPT's low-rank
 * shortcut x - (x V^T) V in one pass over V. Semantics in core/backend/backend.h (lt_op_lowrank);
 * the CUDA twin is in kernels/cuda/matmul.cu.
 *
 * The rows of V are cut into fixed groups of LR_G (more for large R, so there are at most LR_GMAX
 * groups); each thread takes a contiguous run of groups (one stream through V), and per group
 * takes z = x . V_g^T (the matmul's dot products, lt_cpu_dot) and then, the rows still in L1,
 * the group's share z . V_g into the group's partial [T, K] (f16 widened on the fly; bf16 and
 * the portable path widen the group's rows first). The calling thread adds the partials in group
 * order and y += alpha * sum. V is read from memory once: the former pair of ops (matmul, then a
 * transposed product) read it twice and woke the pool twice, and SmolLM2 sliced 25% decoded ~10%
 * slower with its shortcuts than without them (PERF.md, "Shortcuts in exact low-rank form").
 * Every output element gets the same float operations whatever the thread count and T (each
 * group's share is one fused multiply-add per row of V in order from zero; the portable path
 * differs only in its dot products' order). y may alias x: x is read only inside the pool run,
 * y written only after it. Rows of x go LR_T at a time (the partials stay small), each block
 * one pool run.
 * From LR_GEMM_T rows (long prompts, where the dot products lose to sgemm as in lt_cpu_matmul):
 * z by lt_cpu_matmul, V widened once, z . V by sgemm in blocks of rows (bits independent of the
 * thread count, not of T).
 * Leaves out: quantized V (the shortcut factors are f16 or f32).
 */
#include <stdatomic.h>
#include <string.h>

#include "cpu_impl.h"

#include "core/base/alloc.h"
#include "kernels/lt_math.h"

#define LR_G 16    /* rows of V per group at least */
#define LR_GMAX 32 /* groups at most (the caller's sum reads them all) */
#define LR_T 16    /* rows of x per pool run */
#define LR_GEMM_T 32 /* from this many rows of x: the matmul, then sgemm (as lt_cpu_matmul for f16) */
#define LR_SLOT 3  /* the pool's scratch slot (matmul 0, self-attention 1, paged attention 2) */

typedef struct lr_ctx {
    const float *x;  /* rows [t0, t0 + T) of the input */
    const char *v;   /* V, R rows of v_row bytes */
    lt_dtype vt;
    size_t v_row;
    int64_t T, K, R, g_rows, groups;
    float *part;     /* [groups][T][K]: each group's share */
    float *wide;     /* per thread: a group's rows as f32 [g_rows][K] (f16, bf16), then z [T][g_rows] */
} lr_ctx;

static int64_t group_rows(int64_t R) {
    const int64_t g = (R + LR_GMAX - 1) / LR_GMAX;
    return g < LR_G ? LR_G : g;
}

/* floats of the partials; of one thread's widened rows and z */
static size_t part_floats(int64_t T, int64_t K, int64_t R) {
    const int64_t gr = group_rows(R), groups = (R + gr - 1) / gr, t = T < LR_T ? T : LR_T;
    return (size_t)groups * (size_t)t * (size_t)K;
}

static size_t thread_floats(int64_t K, int64_t R) { return (size_t)group_rows(R) * (size_t)(K + LR_T); }

/* long prompts: z [T, R], V widened [R, K], z . V [T, K] */
static size_t gemm_floats(int64_t T, int64_t K, int64_t R) {
    return (size_t)T * (size_t)R + (size_t)R * (size_t)K + (size_t)T * (size_t)K;
}

static size_t scratch_bytes(int64_t T, int64_t K, int64_t R, int nth) {
    const size_t fused = part_floats(T, K, R) + (size_t)nth * thread_floats(K, R);
    const size_t gemm = T >= LR_GEMM_T ? gemm_floats(T, K, R) : 0; /* (fused when OpenBLAS cannot run) */
    return (fused > gemm ? fused : gemm) * sizeof(float);
}

/* p[t][:] = z[t][0] w[0][:] + ... + z[t][n-1] w[n-1][:], one fused multiply-add per row in order
 * from zero (w: n rows of K floats, z [T][n]) */
static void share_portable(const float *z, const float *w, int64_t n, int64_t T, int64_t K, float *p) {
    for (int64_t t = 0; t < T; t++) {
        float *pt = p + t * K;
        for (int64_t j = 0; j < K; j++) pt[j] = 0.0f;
        for (int64_t k = 0; k < n; k++) {
            const float a = z[t * n + k];
            for (int64_t j = 0; j < K; j++) pt[j] = __builtin_fmaf(a, w[k * K + j], pt[j]);
        }
    }
}

static void add_portable(float *s, const float *a, int64_t n) {
    for (int64_t i = 0; i < n; i++) s[i] += a[i];
}

static void apply_portable(float *y, const float *s, float alpha, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = __builtin_fmaf(alpha, s[i], y[i]);
}

#if LT_X86
/* columns [j, j + 8 nb) of the share of one output row in registers (share_portable's
 * operations); nb is a constant at each call (inlined) */
LT_AVX2 static inline __attribute__((always_inline)) void share_cols(const float *z, const void *w, bool f16,
                                                                     int64_t n, int64_t K, float *p, int64_t j,
                                                                     const int nb) {
    __m256 acc[8];
    for (int b = 0; b < nb; b++) acc[b] = _mm256_setzero_ps();
    for (int64_t k = 0; k < n; k++) {
        const __m256 a = _mm256_set1_ps(z[k]);
        const uint16_t *wh = (const uint16_t *)w + k * K + j;
        const float *wf = (const float *)w + k * K + j;
        for (int b = 0; b < nb; b++) {
            const __m256 wv = f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wh + 8 * b))) : _mm256_loadu_ps(wf + 8 * b);
            acc[b] = _mm256_fmadd_ps(a, wv, acc[b]);
        }
    }
    for (int b = 0; b < nb; b++) _mm256_storeu_ps(p + j + 8 * b, acc[b]);
}

/* f32 or f16 rows as stored: 64 columns at a time, then 8, then the last few one at a time */
LT_AVX2 static void share_avx2(const float *z, const void *w, bool f16, int64_t n, int64_t T, int64_t K, float *p) {
    for (int64_t t = 0; t < T; t++) {
        const float *zt = z + t * n;
        float *pt = p + t * K;
        int64_t j = 0;
        for (; j + 64 <= K; j += 64) share_cols(zt, w, f16, n, K, pt, j, 8);
        for (; j + 8 <= K; j += 8) share_cols(zt, w, f16, n, K, pt, j, 1);
        for (; j < K; j++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < n; k++)
                acc = __builtin_fmaf(zt[k], f16 ? lt_cpu_f16_1(((const uint16_t *)w)[k * K + j]) : ((const float *)w)[k * K + j], acc);
            pt[j] = acc;
        }
    }
    _mm256_zeroupper();
}

LT_AVX2 static void add_avx2(float *s, const float *a, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(s + i, _mm256_add_ps(_mm256_loadu_ps(s + i), _mm256_loadu_ps(a + i)));
    for (; i < n; i++) s[i] += a[i];
    _mm256_zeroupper();
}

LT_AVX2 static void apply_avx2(float *y, const float *s, float alpha, int64_t n) {
    const __m256 a = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(s + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = __builtin_fmaf(alpha, s[i], y[i]);
    _mm256_zeroupper();
}
#endif

/* (fmaf without -mfma is a libm call: these loops take the AVX2 forms where the CPU has them) */
static void add_to(float *s, const float *a, int64_t n) {
#if LT_X86
    if (lt_cpu_has_avx2()) return add_avx2(s, a, n);
#endif
    add_portable(s, a, n);
}

static void apply(float *y, const float *s, float alpha, int64_t n) {
#if LT_X86
    if (lt_cpu_has_avx2()) return apply_avx2(y, s, alpha, n);
#endif
    apply_portable(y, s, alpha, n);
}

/* Slot ith takes a contiguous run of groups (one stream through V for the prefetchers); which
 * slot computes a group does not change its bits. */
static void lr_job(void *arg, int ith, int nth) {
    const lr_ctx *c = arg;
    int64_t g0, g1;
    lt_cpu_split(c->groups, ith, nth, 1, &g0, &g1);
    float *wide = c->wide + (size_t)ith * thread_floats(c->K, c->R), *z = wide + c->g_rows * c->K;
    for (int64_t g = g0; g < g1; g++) {
        const int64_t k0 = g * c->g_rows, n = k0 + c->g_rows < c->R ? c->g_rows : c->R - k0;
        const char *rows = c->v + (size_t)k0 * c->v_row;
        float *p = c->part + (size_t)g * (size_t)c->T * (size_t)c->K;
        for (int64_t t = 0; t < c->T; t++)
            for (int64_t k = 0; k < n; k++) z[t * n + k] = lt_cpu_dot(c->vt, c->x + t * c->K, rows + (size_t)k * c->v_row, c->K);
#if LT_X86
        if (c->vt != LT_BF16 && lt_cpu_has_avx2()) { /* f16 widened on the fly, as by the dot product */
            share_avx2(z, rows, c->vt == LT_F16, n, c->T, c->K, p);
            continue;
        }
#endif
        const float *w = (const float *)rows;
        if (c->vt != LT_F32) {
            for (int64_t k = 0; k < n; k++) lt_cpu_dequant_row(c->vt, rows + (size_t)k * c->v_row, wide + k * c->K, c->K);
            w = wide;
        }
        share_portable(z, w, n, c->T, c->K, p);
    }
}

typedef struct lr_gemm_ctx {
    const float *z, *vf;
    float *out;
    int64_t T, K, R;
    _Atomic int64_t next; /* next block of LR_T rows */
} lr_gemm_ctx;

/* out = z . vf, blocks of LR_T rows (OpenBLAS single-threaded on each; the blocks do not depend on
 * the thread count, so neither do the bits) */
static void gemm_job(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    lr_gemm_ctx *c = arg;
    for (;;) {
        const int64_t t0 = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed) * LR_T;
        if (t0 >= c->T) break;
        const int64_t n = c->T - t0 < LR_T ? c->T - t0 : LR_T;
        lt_cpu_sgemm(false, (int)n, (int)c->K, (int)c->R, c->z + t0 * c->R, (int)c->R, c->vf, (int)c->K,
                     c->out + t0 * c->K, (int)c->K);
    }
}

/* T >= LR_GEMM_T: z = x . V^T by lt_cpu_matmul (its sgemm path), V widened once, z . V by
 * sgemm over row ranges, then y += alpha * (z . V). */
static void lowrank_gemm(lt_pool *p, float *scr, float *y, const float *x, const void *v, lt_dtype vt, float alpha,
                         int64_t T, int64_t K, int64_t R) {
    float *z = scr, *vf = z + T * R, *out = vf + R * K;
    lt_cpu_matmul(p, z, x, v, vt, NULL, T, R, K);
    const size_t v_row = lt_row_bytes(vt, K);
    for (int64_t k = 0; k < R; k++) {
        if (vt == LT_F32) memcpy(vf + k * K, (const char *)v + (size_t)k * v_row, (size_t)K * sizeof(float));
        else lt_cpu_dequant_row(vt, (const char *)v + (size_t)k * v_row, vf + k * K, K);
    }
    lr_gemm_ctx c = {.z = z, .vf = vf, .out = out, .T = T, .K = K, .R = R};
    atomic_init(&c.next, 0);
    lt_pool_run(p, gemm_job, &c);
    apply(y, out, alpha, T * K);
}

bool lt_cpu_lowrank_prepare(lt_pool *p, lt_dtype vt, int64_t T, int64_t K, int64_t R) {
    if (!p) return true;
    if (T >= LR_GEMM_T && !lt_cpu_matmul_prepare(p, vt, T, K)) return false;
    return lt_pool_scratch(p, LR_SLOT, scratch_bytes(T, K, R, lt_pool_threads(p))) != NULL;
}

size_t lt_cpu_lowrank_scratch(int64_t T, int64_t K, int64_t R, int n_threads) {
    return scratch_bytes(T, K, R, n_threads);
}

void lt_cpu_lowrank(lt_pool *p, float *y, const float *x, const void *v, lt_dtype vt, float alpha, int64_t T, int64_t K,
                    int64_t R) {
    if (T <= 0 || K <= 0 || R <= 0) return;
    const size_t bytes = scratch_bytes(T, K, R, lt_pool_threads(p));
    void *owned = NULL;
    float *part = p ? lt_pool_scratch(p, LR_SLOT, bytes) : (owned = lt_aligned_alloc(bytes));
    LT_ASSERT(part != NULL); /* callers reserve with lt_cpu_lowrank_prepare first */
    if (T >= LR_GEMM_T && lt_pool_blas_ok(p)) {
        lowrank_gemm(p, part, y, x, v, vt, alpha, T, K, R);
        lt_aligned_free(owned);
        return;
    }
    const int64_t gr = group_rows(R), groups = (R + gr - 1) / gr;
    for (int64_t t0 = 0; t0 < T; t0 += LR_T) {
        const int64_t n = T - t0 < LR_T ? T - t0 : LR_T;
        const lr_ctx c = {.x = x + t0 * K, .v = v, .vt = vt, .v_row = lt_row_bytes(vt, K), .T = n, .K = K, .R = R,
                          .g_rows = gr, .groups = groups, .part = part, .wide = part + part_floats(T, K, R)};
        lt_cpu_run(p, n * K * R, lr_job, (void *)&c);
        for (int64_t g = 1; g < groups; g++) /* the shares summed in group order, into group 0's */
            add_to(part, part + (size_t)g * (size_t)n * (size_t)K, n * K);
        apply(y + t0 * K, part, alpha, n * K);
    }
    lt_aligned_free(owned);
}
