/* matmul_t.c - y[T,N] += alpha . x[T,K] . w[K,N]: the weight read as stored (rows of N), not
 * transposed as in matmul.c. Semantics in core/backend/backend.h (lt_op_matmul_t); the CUDA twin
 * is in kernels/cuda/matmul.cu.
 *
 * Each thread owns a range of output columns and walks every weight row over it, in column tiles
 * of MT_TILE. AVX2 (f16, f32): 64 columns of an output row at a time with their accumulators in
 * registers, down all K weight rows (strided reads of 128 or 256 bytes, which the prefetcher
 * follows; at SliceGPT's shapes the weight sits in L2 from the lt_op_matmul just before);
 * portable and bf16: a widened weight row applied to every output row. Every output element gets
 * the same sequence of float operations (k = 0..K-1, one fused multiply-add each), so a row's
 * result depends neither on T, the thread count nor the path.
 * Leaves out: quantized weights (the shortcut factors it serves are f16 or f32); sgemm for large
 * T (at SliceGPT's ranks the op is a small share of a prefill).
 */
#include "cpu_impl.h"

#include "kernels/lt_math.h"

#define MT_TILE 256

typedef struct mt_ctx {
    float *y;
    const float *x;
    const void *w;
    lt_dtype wt;
    float alpha;
    int64_t T, K, N;
} mt_ctx;

/* columns [c0, c1) of one weight row as f32 */
static void widen(const mt_ctx *c, int64_t k, int64_t c0, int64_t c1, float *out) {
    const size_t at = (size_t)k * c->N;
    for (int64_t j = c0; j < c1; j++)
        out[j - c0] = c->wt == LT_F32   ? ((const float *)c->w)[at + j]
                      : c->wt == LT_F16 ? lt_f16_to_f32(((const uint16_t *)c->w)[at + j])
                                        : lt_bf16_to_f32(((const uint16_t *)c->w)[at + j]);
}

static void tile_portable(const mt_ctx *c, int64_t c0, int64_t c1) {
    float wf[MT_TILE];
    for (int64_t k = 0; k < c->K; k++) {
        widen(c, k, c0, c1, wf);
        for (int64_t t = 0; t < c->T; t++) {
            const float a = c->alpha * c->x[t * c->K + k];
            float *y = c->y + t * c->N;
            for (int64_t j = c0; j < c1; j++) y[j] = __builtin_fmaf(a, wf[j - c0], y[j]);
        }
    }
}

#if LT_X86
/* columns [j, j + 8 nb) of output row t, accumulated in registers over every k in order (each
 * element: tile_portable's fused multiply-adds). nb is a constant at each call (inlined). */
LT_AVX2 static inline __attribute__((always_inline)) void mt_cols(const mt_ctx *c, int64_t t, int64_t j, const int nb) {
    float *y = c->y + t * c->N + j;
    const float *x = c->x + t * c->K;
    const uint16_t *wh = (const uint16_t *)c->w + j;
    const float *wf = (const float *)c->w + j;
    __m256 acc[8];
    for (int b = 0; b < nb; b++) acc[b] = _mm256_loadu_ps(y + 8 * b);
    for (int64_t k = 0; k < c->K; k++, wh += c->N, wf += c->N) {
        const __m256 a = _mm256_set1_ps(c->alpha * x[k]);
        for (int b = 0; b < nb; b++) {
            const __m256 w = c->wt == LT_F16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wh + 8 * b)))
                                             : _mm256_loadu_ps(wf + 8 * b);
            acc[b] = _mm256_fmadd_ps(a, w, acc[b]);
        }
    }
    for (int b = 0; b < nb; b++) _mm256_storeu_ps(y + 8 * b, acc[b]);
}

/* f16 and f32 weights: 64 columns per pass with the accumulators in registers, then 8, then the
 * last few one at a time */
LT_AVX2 static void tile_avx2(const mt_ctx *c, int64_t c0, int64_t c1) {
    for (int64_t t = 0; t < c->T; t++) {
        int64_t j = c0;
        for (; j + 64 <= c1; j += 64) mt_cols(c, t, j, 8);
        for (; j + 8 <= c1; j += 8) mt_cols(c, t, j, 1);
        for (; j < c1; j++) {
            float acc = c->y[t * c->N + j];
            for (int64_t k = 0; k < c->K; k++) {
                const size_t at = (size_t)k * c->N + j;
                const float w = c->wt == LT_F16 ? lt_cpu_f16_1(((const uint16_t *)c->w)[at]) : ((const float *)c->w)[at];
                acc = __builtin_fmaf(c->alpha * c->x[t * c->K + k], w, acc);
            }
            c->y[t * c->N + j] = acc;
        }
    }
}
#endif

static void mt_job(void *arg, int ith, int nth) {
    const mt_ctx *c = arg;
    int64_t j0, j1;
    lt_cpu_split(c->N, ith, nth, 16, &j0, &j1);
    for (int64_t c0 = j0; c0 < j1; c0 += MT_TILE) {
        const int64_t c1 = c0 + MT_TILE < j1 ? c0 + MT_TILE : j1;
#if LT_X86
        if (c->wt != LT_BF16 && lt_cpu_has_avx2()) {
            tile_avx2(c, c0, c1);
            continue;
        }
#endif
        tile_portable(c, c0, c1);
    }
}

void lt_cpu_matmul_t(lt_pool *p, float *y, const float *x, const void *w, lt_dtype wt, float alpha, int64_t T,
                     int64_t K, int64_t N) {
    mt_ctx c = {y, x, w, wt, alpha, T, K, N};
    lt_cpu_run(p, T * K * N, mt_job, &c);
}
