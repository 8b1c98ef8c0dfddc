/* norm.c - the CPU rmsnorm op: y = w * (ss * x) with ss = 1/sqrtf(mean(x^2) + eps), per row,
 * as llama2.c's run.c computes it (the sum of squares is accumulated in double). Semantics
 * in core/backend/backend.h; the CUDA twin is kernels/cuda/norm.cu.
 * Leaves out: layernorm (added with the first model that needs it).
 */
#include <math.h>

#include "cpu_impl.h"

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
    lt_cpu_run(p, T * D, norm_job, &c);
}
