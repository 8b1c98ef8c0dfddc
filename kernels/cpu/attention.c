/* attention.c - paged attention over the KV block pool (lt_cpu_attention).
 *
 * One work item per (query token, head), taken from an atomic counter. Each walks its
 * sequence's block table over the first tok_ctx positions, a block at a time, keeping an
 * online softmax (running max, running sum, rescaled f32 accumulator), as flash-decoding
 * does; everything is f32, f16 caches are widened on the fly. Leaves out: sliding windows,
 * ALiBi, soft-capping, sparse (retrieved) block lists.
 */
#include <math.h>
#include <stdatomic.h>

#include "cpu_impl.h"

#define ATT_MAX_HEAD_DIM 1024 /* accumulator lives on the stack */
#define ATT_CHUNK 128         /* scores computed per step */

typedef float (*kdot_fn)(const float *q, const void *k, int n);
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
    _Atomic int64_t next;
} att_ctx;

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
    for (int p0 = 0; p0 < ctx; p0 += bs) {
        const int64_t base = (int64_t)bt[p0 / bs] * bs;
        const int nblk = ctx - p0 < bs ? ctx - p0 : bs;
        for (int j0 = 0; j0 < nblk; j0 += ATT_CHUNK) {
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
}

static void att_job(void *arg, int ith, int nth) {
    att_ctx *c = arg;
    const int64_t items = c->a->T * c->a->n_heads;
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (it >= items) break;
        att_one(c, it / c->a->n_heads, (int)(it % c->a->n_heads));
    }
}

void lt_cpu_attention(lt_pool *p, const lt_cpu_attn_args *a) {
    LT_ASSERT(a->head_dim <= ATT_MAX_HEAD_DIM && (a->kvt == LT_F32 || a->kvt == LT_F16));
    LT_ASSERT(a->n_kv_heads > 0 && a->n_heads % a->n_kv_heads == 0);
    att_ctx c = {.a = a};
    atomic_init(&c.next, 0);
    const bool f16 = a->kvt == LT_F16;
    c.kdot = f16 ? kdot_f16 : kdot_f32;
    c.vaxpy = f16 ? vaxpy_f16 : vaxpy_f32;
#if LT_X86
    if (lt_cpu_has_avx2()) {
        c.kdot = f16 ? kdot_f16_v : kdot_f32_v;
        c.vaxpy = f16 ? vaxpy_f16_v : vaxpy_f32_v;
    }
#endif
    int64_t work = 0;
    for (int64_t t = 0; t < a->T; t++) work += a->tok_ctx[t];
    work *= (int64_t)a->n_heads * a->head_dim;
    if (work < 16384) att_job(&c, 0, 1);
    else lt_pool_run(p, att_job, &c);
}

/* Exposed for lt_cpu_attention's callers that need the limit (the backend checks it). */
int lt_cpu_attention_max_head_dim(void) { return ATT_MAX_HEAD_DIM; }
