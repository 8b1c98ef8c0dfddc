/* matmul_t.c - y[T,N] += alpha . x[T,K] . w[K,N]: the weight read as stored (rows of N), not
 * transposed as in matmul.c. Semantics in core/backend/backend.h (lt_op_matmul_t); the CUDA twin
 * is in kernels/cuda/matmul.cu.
 *
 * Each thread owns a range of output columns and walks every weight row over it, in column
 * tiles of MT_TILE so the tile of y and of the widened weight row stay in L1: a weight element is
 * read from memory once per call, whatever T. Every output element gets the same sequence of
 * float operations (k = 0..K-1, one fused multiply-add each on AVX2), so a row's result does not
 * depend on T or on the thread count.
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
/* the same operations 8 columns at a time (f16 through F16C, f32 loaded) */
LT_AVX2 static void tile_avx2(const mt_ctx *c, int64_t c0, int64_t c1) {
    float wf[MT_TILE] __attribute__((aligned(32)));
    const int64_t n8 = c0 + (c1 - c0) / 8 * 8;
    for (int64_t k = 0; k < c->K; k++) {
        const float *w32 = NULL;
        if (c->wt == LT_F16) {
            const uint16_t *h = (const uint16_t *)c->w + (size_t)k * c->N;
            for (int64_t j = c0; j < n8; j += 8)
                _mm256_store_ps(wf + (j - c0), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + j))));
            for (int64_t j = n8; j < c1; j++) wf[j - c0] = lt_cpu_f16_1(h[j]);
            w32 = wf - c0;
        } else if (c->wt == LT_F32) {
            w32 = (const float *)c->w + (size_t)k * c->N;
        } else {
            widen(c, k, c0, c1, wf);
            w32 = wf - c0;
        }
        for (int64_t t = 0; t < c->T; t++) {
            const float a = c->alpha * c->x[t * c->K + k];
            const __m256 av = _mm256_set1_ps(a);
            float *y = c->y + t * c->N;
            for (int64_t j = c0; j < n8; j += 8)
                _mm256_storeu_ps(y + j, _mm256_fmadd_ps(av, _mm256_loadu_ps(w32 + j), _mm256_loadu_ps(y + j)));
            for (int64_t j = n8; j < c1; j++) y[j] = __builtin_fmaf(a, w32[j], y[j]);
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
        if (lt_cpu_has_avx2()) {
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
    lt_cpu_run(p, T * K * N / 4, mt_job, &c);
}
