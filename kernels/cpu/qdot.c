/* qdot.c - the matmul for the lt_quants.h weight types (see lt_cpu_qdot in cpu_impl.h): the
 * activations are quantized once per call to the type's partner, then each weight row is dotted
 * with every activation row (tiles of 4 rows while the weight row is hot in L1).
 *
 * The family files (qdot_legacy.c, qdot_k.c, qdot_k2.c) give the partner quantizer and the dot
 * products (portable, AVX2 and AVX-512 VNNI forms, chosen at run time).
 * Leaves out: row-interleaved repacking (llama.cpp's repack.cpp), activation tiles wider than 4.
 */
#include <stdatomic.h>
#include <string.h>

#include "core/base/alloc.h"
#include "cpu_impl.h"

const lt_cpu_qdot *lt_cpu_qdot_find(lt_dtype wt) {
    const bool avx2 = lt_cpu_has_avx2();
    const lt_cpu_qdot *q = lt_cpu_qdot_legacy(wt, avx2);
    if (!q) q = lt_cpu_qdot_k(wt, avx2);
    if (!q) q = lt_cpu_qdot_gq(wt, avx2);
    if (!q) q = lt_cpu_qdot_s24(wt, avx2);
    return q ? q : lt_cpu_qdot_k2(wt, avx2);
}

/* ---- the matmul ------------------------------------------------------------------------------ */

static size_t act_stride(const lt_cpu_qdot *q, int64_t K) { return (q->act_row_bytes(K) + 63) & ~(size_t)63; }

size_t lt_cpu_qdot_scratch(const lt_cpu_qdot *q, int64_t T, int64_t K) { return (size_t)T * act_stride(q, K); }

typedef struct qd_ctx {
    const lt_cpu_qdot *q;
    float *y;
    const float *x;
    const char *w;
    const float *bias;
    char *xq;
    size_t xrow, wrow;
    int64_t T, N, K, chunk;
    _Atomic int64_t next;
} qd_ctx;

static void quant_job(void *arg, int ith, int nth) {
    qd_ctx *c = arg;
    int64_t t0, t1;
    lt_cpu_split(c->T, ith, nth, 1, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) c->q->quant_act(c->x + t * c->K, c->xq + (size_t)t * c->xrow, c->K);
}

static void dot_job(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    qd_ctx *c = arg;
    const int64_t items = (c->N + c->chunk - 1) / c->chunk;
    for (;;) {
        const int64_t it = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (it >= items) break;
        const int64_t n0 = it * c->chunk, n1 = n0 + c->chunk < c->N ? n0 + c->chunk : c->N;
        for (int64_t n = n0; n < n1; n++) {
            const char *wr = c->w + (size_t)n * c->wrow;
            const float b = c->bias ? c->bias[n] : 0.0f;
            int64_t t = 0;
            if (c->q->dot4) {
                for (; t < c->T; t += 4) {
                    const int R = c->T - t < 4 ? (int)(c->T - t) : 4;
                    float o[4];
                    c->q->dot4(wr, c->xq + (size_t)t * c->xrow, c->xrow, R, c->K, o);
                    for (int r = 0; r < R; r++) c->y[(t + r) * c->N + n] = o[r] + b;
                }
            }
            for (; t < c->T; t++) c->y[t * c->N + n] = c->q->dot(wr, c->xq + (size_t)t * c->xrow, c->K) + b;
        }
    }
}

void lt_cpu_qdot_matmul(lt_pool *p, const lt_cpu_qdot *q, void *scratch, float *y, const float *x, const void *w,
                        lt_dtype wt, const float *bias, int64_t T, int64_t N, int64_t K) {
    const int nth = lt_pool_threads(p);
    qd_ctx c = {.q = q, .y = y, .x = x, .w = w, .bias = bias, .xq = scratch, .xrow = act_stride(q, K),
                .wrow = lt_row_bytes(wt, K), .T = T, .N = N, .K = K};
    atomic_init(&c.next, 0);
    if (T >= 4) lt_pool_run(p, quant_job, &c);
    else quant_job(&c, 0, 1);
    /* ~256 KiB of weights per work item, at least 4 items per thread (as matmul.c) */
    int64_t ch = (int64_t)((256 << 10) / (c.wrow ? c.wrow : 1));
    const int64_t per = (N + 4 * nth - 1) / (4 * nth);
    if (ch > per) ch = per;
    c.chunk = ch < 1 ? 1 : ch;
    lt_pool_run(p, dot_job, &c);
}
