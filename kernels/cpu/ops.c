/* ops.c - the elementwise and per-row CPU ops: get_rows, rmsnorm, rope, silu_mul, add,
 * kv_store, argmax (semantics in core/backend.h).
 *
 * Formulas follow llama2.c's run.c so that a model run here matches it closely: rmsnorm is
 * w * (ss * x) with ss = 1/sqrtf(mean(x^2) + eps) (the sum of squares is accumulated in
 * double), rope uses cosf/sinf of the float angle pos * freq. Small calls run on the calling
 * thread only, since waking the pool would cost more than the work.
 * Leaves out: layernorm, gelu and the vision ops (added with the models that need them).
 */
#include <math.h>
#include <string.h>

#include "cpu_impl.h"

#define SMALL_WORK 16384 /* elements below which an op runs single-threaded */

static void run(lt_pool *p, int64_t work, void (*fn)(void *, int, int), void *ctx) {
    if (work < SMALL_WORK) fn(ctx, 0, 1);
    else lt_pool_run(p, fn, ctx);
}

/* ---- get_rows ------------------------------------------------------------------------------- */

typedef struct rows_ctx {
    float *y;
    const char *table;
    lt_dtype t;
    int64_t cols, n;
    const int32_t *ids;
} rows_ctx;

static void rows_job(void *arg, int ith, int nth) {
    rows_ctx *c = arg;
    int64_t r0, r1;
    lt_cpu_split(c->n, ith, nth, 1, &r0, &r1);
    size_t rb = lt_row_bytes(c->t, c->cols);
    for (int64_t i = r0; i < r1; i++) lt_cpu_dequant_row(c->t, c->table + (size_t)c->ids[i] * rb, c->y + i * c->cols, c->cols);
}

void lt_cpu_get_rows(lt_pool *p, float *y, const void *table, lt_dtype t, int64_t cols, const int32_t *ids,
                     int64_t n) {
    rows_ctx c = {y, table, t, cols, n, ids};
    run(p, n * cols, rows_job, &c);
}

/* ---- rmsnorm ---------------------------------------------------------------------------------- */

typedef struct norm_ctx {
    float *y;
    const float *x, *w;
    int64_t T, D;
    float eps;
} norm_ctx;

static void norm_job(void *arg, int ith, int nth) {
    norm_ctx *c = arg;
    int64_t t0, t1;
    lt_cpu_split(c->T, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const float *x = c->x + t * c->D;
        float *y = c->y + t * c->D;
        double s[4] = {0, 0, 0, 0};
        int64_t j = 0;
        for (; j + 4 <= c->D; j += 4)
            for (int k = 0; k < 4; k++) s[k] += (double)x[j + k] * x[j + k];
        for (; j < c->D; j++) s[0] += (double)x[j] * x[j];
        float ss = (float)(((s[0] + s[1]) + (s[2] + s[3])) / (double)c->D);
        ss += c->eps;
        ss = 1.0f / sqrtf(ss);
        for (j = 0; j < c->D; j++) y[j] = c->w[j] * (ss * x[j]);
    }
}

void lt_cpu_rmsnorm(lt_pool *p, float *y, const float *x, const float *w, int64_t T, int64_t D, float eps) {
    norm_ctx c = {y, x, w, T, D, eps};
    run(p, T * D, norm_job, &c);
}

/* ---- rope ------------------------------------------------------------------------------------ */

typedef struct rope_ctx {
    float *x;
    const int32_t *pos;
    const float *freqs;
    int64_t T;
    int n_heads, head_dim;
    bool neox;
} rope_ctx;

static void rope_job(void *arg, int ith, int nth) {
    rope_ctx *c = arg;
    int64_t t0, t1;
    lt_cpu_split(c->T, ith, nth, 1, &t0, &t1);
    const int half = c->head_dim / 2;
    for (int64_t t = t0; t < t1; t++) {
        const float fpos = (float)c->pos[t];
        for (int i = 0; i < half; i++) {
            const float val = fpos * c->freqs[i];
            const float fcr = cosf(val), fci = sinf(val);
            for (int h = 0; h < c->n_heads; h++) {
                float *v = c->x + (t * c->n_heads + h) * (int64_t)c->head_dim;
                int i0 = c->neox ? i : 2 * i, i1 = c->neox ? i + half : 2 * i + 1;
                const float v0 = v[i0], v1 = v[i1];
                v[i0] = v0 * fcr - v1 * fci;
                v[i1] = v0 * fci + v1 * fcr;
            }
        }
    }
}

void lt_cpu_rope(lt_pool *p, float *x, const int32_t *pos, const float *freqs, int64_t T, int n_heads, int head_dim,
                 bool neox) {
    rope_ctx c = {x, pos, freqs, T, n_heads, head_dim, neox};
    /* cosf/sinf dominate: count them as the work */
    run(p, T * (head_dim / 2) * 16, rope_job, &c);
}

/* ---- silu_mul, add ---------------------------------------------------------------------------- */

typedef struct ew_ctx {
    float *y;
    const float *a, *b;
    int64_t n;
} ew_ctx;

static void silu_job(void *arg, int ith, int nth) {
    ew_ctx *c = arg;
    int64_t i0, i1;
    lt_cpu_split(c->n, ith, nth, 16, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) c->y[i] = lt_silu(c->a[i]) * c->b[i];
}

static void add_job(void *arg, int ith, int nth) {
    ew_ctx *c = arg;
    int64_t i0, i1;
    lt_cpu_split(c->n, ith, nth, 16, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) c->y[i] = c->a[i] + c->b[i];
}

void lt_cpu_silu_mul(lt_pool *p, float *y, const float *gate, const float *up, int64_t n) {
    ew_ctx c = {y, gate, up, n};
    run(p, n * 4, silu_job, &c);
}

void lt_cpu_add(lt_pool *p, float *y, const float *a, const float *b, int64_t n) {
    ew_ctx c = {y, a, b, n};
    run(p, n / 4, add_job, &c);
}

/* ---- kv_store ---------------------------------------------------------------------------------- */

static void store_row(void *cache, lt_dtype kvt, int64_t width, int64_t row, const float *src) {
    if (kvt == LT_F32) {
        memcpy((float *)cache + row * width, src, (size_t)width * sizeof(float));
    } else {
        uint16_t *d = (uint16_t *)cache + row * width;
        for (int64_t i = 0; i < width; i++) d[i] = lt_f32_to_f16(src[i]);
    }
}

void lt_cpu_kv_store(lt_pool *p, void *kc, void *vc, lt_dtype kvt, int64_t width, const float *k, const float *v,
                     const int32_t *slots, int64_t T) {
    LT_ASSERT(kvt == LT_F32 || kvt == LT_F16);
    for (int64_t t = 0; t < T; t++) {
        store_row(kc, kvt, width, slots[t], k + t * width);
        store_row(vc, kvt, width, slots[t], v + t * width);
    }
}

/* ---- argmax ----------------------------------------------------------------------------------- */

typedef struct argmax_ctx {
    int32_t *out;
    const float *x;
    int64_t T, N;
} argmax_ctx;

static void argmax_job(void *arg, int ith, int nth) {
    argmax_ctx *c = arg;
    int64_t t0, t1;
    lt_cpu_split(c->T, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const float *x = c->x + t * c->N;
        int64_t best = 0; /* NaN is never chosen (a row of only NaN gives 0), as on CUDA */
        for (int64_t i = 1; i < c->N; i++)
            if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
        c->out[t] = (int32_t)best;
    }
}

void lt_cpu_argmax(lt_pool *p, int32_t *out, const float *x, int64_t T, int64_t N) {
    argmax_ctx c = {out, x, T, N};
    run(p, T * N, argmax_job, &c);
}
