/* qdot.c - the matmul for the lt_quants.h weight types (see lt_cpu_qdot in cpu_impl.h): the
 * activations are quantized once per call to the type's partner, then each weight row is dotted
 * with every activation row (tiles of 4 rows while the weight row is hot in L1).
 *
 * The family files (qdot_legacy.c, qdot_k.c, qdot_k2.c) give the partner quantizer and the dot products;
 * a type neither family has kernels for is still correct here through the generic path: the
 * activation row stays f32 and each weight block is dequantized (GGML's formulas) and dotted.
 * Leaves out: AVX-512 variants of the family kernels, row-interleaved repacking.
 */
#include <stdatomic.h>
#include <string.h>

#include "core/base/alloc.h"
#include "cpu_impl.h"

/* ---- generic path: f32 activations, dequantized weight blocks ------------------------------ */

static size_t f32_row_bytes(int64_t K) { return (size_t)K * sizeof(float); }
static void f32_copy(const float *x, void *xq, int64_t K) { memcpy(xq, x, (size_t)K * sizeof(float)); }

#define GENERIC(name, dt)                                                                        \
    static float name##_dot(const void *w, const void *xq, int64_t K) {                          \
        const float *x = xq;                                                                     \
        float s = 0.0f;                                                                          \
        for (int64_t j = 0; j < K; j++) s += lt_quants_get(dt, w, j) * x[j];                     \
        return s;                                                                                \
    }                                                                                            \
    static const lt_cpu_qdot name##_generic = {f32_row_bytes, f32_copy, name##_dot, NULL};
GENERIC(q4_1, LT_Q4_1)
GENERIC(q5_0, LT_Q5_0)
GENERIC(q5_1, LT_Q5_1)
GENERIC(iq4_nl, LT_IQ4_NL)
GENERIC(q2_K, LT_Q2_K)
GENERIC(q3_K, LT_Q3_K)
GENERIC(q4_K, LT_Q4_K)
GENERIC(q5_K, LT_Q5_K)
GENERIC(q6_K, LT_Q6_K)
GENERIC(iq4_xs, LT_IQ4_XS)
#undef GENERIC

static const lt_cpu_qdot *generic(lt_dtype wt) {
    switch (wt) {
    case LT_Q4_1: return &q4_1_generic;
    case LT_Q5_0: return &q5_0_generic;
    case LT_Q5_1: return &q5_1_generic;
    case LT_IQ4_NL: return &iq4_nl_generic;
    case LT_Q2_K: return &q2_K_generic;
    case LT_Q3_K: return &q3_K_generic;
    case LT_Q4_K: return &q4_K_generic;
    case LT_Q5_K: return &q5_K_generic;
    case LT_Q6_K: return &q6_K_generic;
    case LT_IQ4_XS: return &iq4_xs_generic;
    default: return NULL;
    }
}

const lt_cpu_qdot *lt_cpu_qdot_find(lt_dtype wt) {
    const bool avx2 = lt_cpu_has_avx2();
    const lt_cpu_qdot *q = lt_cpu_qdot_legacy(wt, avx2);
    if (!q) q = lt_cpu_qdot_k(wt, avx2);
    if (!q) q = lt_cpu_qdot_k2(wt, avx2);
    return q ? q : generic(wt);
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
