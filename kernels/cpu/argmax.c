/* argmax.c - the CPU argmax op (greedy sampling): the index of each row's largest value,
 * lowest index on ties, NaN never chosen. Semantics in core/backend/backend.h; the CUDA twin
 * is kernels/cuda/argmax.cu.
 * Leaves out: top-k and sampling (core's sampler works on the host).
 */
#include "cpu_impl.h"

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
    lt_cpu_run(p, T * N, argmax_job, &c);
}
