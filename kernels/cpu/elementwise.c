/* elementwise.c - the CPU elementwise ops: silu_mul (y = silu(gate) * up), add, and convert
 * (rows between f32 and a weight dtype). Semantics in core/backend/backend.h; the CUDA twin
 * is kernels/cuda/elementwise.cu.
 * Leaves out: the per-dtype row conversions themselves (quant.c) and gelu (added with the
 * first model that needs it).
 */
#include "cpu_impl.h"

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
    lt_cpu_run(p, n * 4, silu_job, &c);
}

void lt_cpu_add(lt_pool *p, float *y, const float *a, const float *b, int64_t n) {
    ew_ctx c = {y, a, b, n};
    lt_cpu_run(p, n / 4, add_job, &c);
}

/* ---- convert ---------------------------------------------------------------------------------- */

typedef struct conv_ctx {
    void *y;
    const void *x;
    lt_dtype yt, xt;
    int64_t rows, cols;
} conv_ctx;

static void conv_job(void *arg, int ith, int nth) {
    conv_ctx *c = arg;
    int64_t r0 = c->rows * ith / nth, r1 = c->rows * (ith + 1) / nth;
    const size_t xr = lt_row_bytes(c->xt, c->cols), yr = lt_row_bytes(c->yt, c->cols);
    for (int64_t r = r0; r < r1; r++) {
        const char *src = (const char *)c->x + (size_t)r * xr;
        char *dst = (char *)c->y + (size_t)r * yr;
        if (c->xt == LT_F32) lt_cpu_quant_row(c->yt, (const float *)src, dst, c->cols);
        else lt_cpu_dequant_row(c->xt, src, (float *)dst, c->cols);
    }
}

void lt_cpu_convert(lt_pool *p, void *y, lt_dtype yt, const void *x, lt_dtype xt, int64_t rows, int64_t cols) {
    conv_ctx c = {y, x, yt, xt, rows, cols};
    lt_cpu_run(p, rows * cols, conv_job, &c);
}
