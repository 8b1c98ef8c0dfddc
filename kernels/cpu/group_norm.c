/* group_norm.c - the CPU group_norm and channel_affine ops (a UNet's normalization and its
 * per-channel time conditioning), NCHW f32. Semantics in core/backend/backend.h; the CUDA twin
 * is kernels/cuda/group_norm.cu.
 *
 * group_norm: one job per (image, group); mean and biased variance in two passes with double
 * accumulators, then y = x * a + b per channel with a = gamma * rstd, b = beta - a * mean (the
 * form PyTorch's GroupNorm kernel applies), then the activation.
 * Leaves out: other normalizations (layer, instance), other layouts.
 */
#include <math.h>

#include "cpu_impl.h"

typedef struct gn_ctx {
    float *y;
    const float *x, *gamma, *beta;
    int N, C, groups, act;
    int64_t hw;
    float eps;
} gn_ctx;

static void gn_job(void *arg, int ith, int nth) {
    gn_ctx *c = arg;
    int cg = c->C / c->groups;
    int64_t j0, j1, len = (int64_t)cg * c->hw;
    lt_cpu_split((int64_t)c->N * c->groups, ith, nth, 1, &j0, &j1);
    for (int64_t j = j0; j < j1; j++) {
        const float *x = c->x + j * len;
        float *y = c->y + j * len;
        double s = 0, v = 0;
        for (int64_t i = 0; i < len; i++) s += x[i];
        double mean = s / (double)len;
        for (int64_t i = 0; i < len; i++) {
            double d = x[i] - mean;
            v += d * d;
        }
        float rstd = (float)(1.0 / sqrt(v / (double)len + (double)c->eps)), m = (float)mean;
        int c0 = (int)(j % c->groups) * cg;
        for (int k = 0; k < cg; k++) {
            float a = rstd * (c->gamma ? c->gamma[c0 + k] : 1.f);
            float b = (c->beta ? c->beta[c0 + k] : 0.f) - a * m;
            const float *xr = x + (int64_t)k * c->hw;
            float *yr = y + (int64_t)k * c->hw;
            for (int64_t i = 0; i < c->hw; i++) yr[i] = xr[i] * a + b;
            if (c->act != LT_ACT_LINEAR) lt_cpu_activate(NULL, yr, yr, c->hw, c->act);
        }
    }
}

void lt_cpu_group_norm(lt_pool *p, float *y, const float *x, const float *gamma, const float *beta, int N, int C,
                       int64_t hw, int groups, float eps, int act) {
    gn_ctx c = {y, x, gamma, beta, N, C, groups, act, hw, eps};
    lt_cpu_run(p, (int64_t)N * C * hw, gn_job, &c);
}

typedef struct ca_ctx {
    float *y;
    const float *x, *t;
    int N, C, act;
    int64_t hw;
    bool ss;
} ca_ctx;

static void ca_job(void *arg, int ith, int nth) {
    ca_ctx *c = arg;
    int64_t p0, p1;
    lt_cpu_split((int64_t)c->N * c->C, ith, nth, 1, &p0, &p1);
    for (int64_t pl = p0; pl < p1; pl++) {
        int64_t n = pl / c->C, ch = pl % c->C;
        const float *x = c->x + pl * c->hw;
        float *y = c->y + pl * c->hw;
        if (c->ss) {
            float sc = 1.f + c->t[n * 2 * c->C + ch], sh = c->t[n * 2 * c->C + c->C + ch];
            for (int64_t i = 0; i < c->hw; i++) y[i] = x[i] * sc + sh;
        } else {
            float b = c->t[n * c->C + ch];
            for (int64_t i = 0; i < c->hw; i++) y[i] = x[i] + b;
        }
        if (c->act != LT_ACT_LINEAR) lt_cpu_activate(NULL, y, y, c->hw, c->act);
    }
}

void lt_cpu_channel_affine(lt_pool *p, float *y, const float *x, const float *t, int N, int C, int64_t hw,
                           bool scale_shift, int act) {
    ca_ctx c = {y, x, t, N, C, act, hw, scale_shift};
    lt_cpu_run(p, (int64_t)N * C * hw, ca_job, &c);
}
