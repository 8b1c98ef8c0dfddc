/* conv.c - the CPU conv2d op (dense, grouped, depthwise) with fused bias and activation,
 * NCHW f32. Semantics in core/backend/backend.h; the CUDA twin is kernels/cuda/conv.cu. The
 * other vision ops (pooling, upsample, concat, activate, YOLO decode, NMS) are in vision.c.
 *
 * Dense and grouped convolutions are im2col + OpenBLAS sgemm (1x1 stride-1 convolutions
 * multiply the input directly); the sgemm columns are split across the pool's threads
 * (OpenBLAS itself runs single-threaded, see pool.c). Depthwise convolutions are direct
 * loops, one plane per job. Formulas of the activations are in kernels/lt_vision.h.
 * pad_extra zero rows/columns below/right of the input need nothing more than the bounds checks.
 * Leaves out: Winograd/FFT convolution, dilation, asymmetric kernels and strides.
 */
#include <math.h>
#include <string.h>

#include "cpu_impl.h"

static int out_dim(int in, int k, int stride, int pad, int extra) { return (in + 2 * pad + extra - k) / stride + 1; }

size_t lt_cpu_conv2d_work(int C, int H, int W, int OC, int K, int stride, int pad, int pad_extra, int groups) {
    int Cg = C / groups, OCg = OC / groups;
    if (Cg == 1 && OCg == 1 && groups > 1) return 0;            /* depthwise: direct */
    if (K == 1 && stride == 1 && pad == 0 && pad_extra == 0) return 0; /* input is the matrix */
    int64_t oh = out_dim(H, K, stride, pad, pad_extra), ow = out_dim(W, K, stride, pad, pad_extra);
    return (size_t)Cg * K * K * (size_t)(oh * ow);
}

/* ---- im2col ----------------------------------------------------------------------------- */

typedef struct im2col_ctx {
    const float *x; /* [Cg, H, W] */
    float *col;     /* [Cg*K*K, OH*OW] */
    int Cg, H, W, K, stride, pad, OH, OW;
} im2col_ctx;

static void im2col_job(void *arg, int ith, int nth) {
    im2col_ctx *c = arg;
    int64_t rows = (int64_t)c->Cg * c->K * c->K, r0, r1;
    lt_cpu_split(rows, ith, nth, 1, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        int kw = (int)(r % c->K), kh = (int)((r / c->K) % c->K), ci = (int)(r / c->K / c->K);
        const float *xp = c->x + (int64_t)ci * c->H * c->W;
        float *dst = c->col + r * c->OH * c->OW;
        for (int oy = 0; oy < c->OH; oy++) {
            int iy = oy * c->stride + kh - c->pad;
            float *d = dst + (int64_t)oy * c->OW;
            if (iy < 0 || iy >= c->H) {
                memset(d, 0, sizeof(float) * c->OW);
                continue;
            }
            const float *row = xp + (int64_t)iy * c->W;
            for (int ox = 0; ox < c->OW; ox++) {
                int ix = ox * c->stride + kw - c->pad;
                d[ox] = (ix >= 0 && ix < c->W) ? row[ix] : 0.f;
            }
        }
    }
}

/* ---- sgemm split by columns -------------------------------------------------------------- */

typedef struct gemm_ctx {
    const float *a, *b; /* a [M, K], b [K, N] (ldb = N) */
    float *c;           /* [M, N] */
    int M, N, K;
    bool blas;          /* false: OpenBLAS cannot run here (lt_pool_blas_ok); plain loops */
} gemm_ctx;

static void gemm_job(void *arg, int ith, int nth) {
    gemm_ctx *g = arg;
    int64_t n0, n1;
    lt_cpu_split(g->N, ith, nth, 16, &n0, &n1);
    if (n1 <= n0) return;
    if (!g->blas) { /* c[m, n0:n1] = sum_k a[m, k] b[k, n0:n1], rows of b streamed */
        for (int m = 0; m < g->M; m++) {
            float *cr = g->c + (int64_t)m * g->N;
            for (int64_t n = n0; n < n1; n++) cr[n] = 0;
            for (int k = 0; k < g->K; k++) {
                const float av = g->a[(int64_t)m * g->K + k], *br = g->b + (int64_t)k * g->N;
                for (int64_t n = n0; n < n1; n++) cr[n] += av * br[n];
            }
        }
        return;
    }
    lt_cpu_sgemm(false, g->M, (int)(n1 - n0), g->K, g->a, g->K, g->b + n0, g->N, g->c + n0, g->N);
}

/* ---- bias + activation over planes --------------------------------------------------------- */

typedef struct bias_ctx {
    float *y;
    const float *bias;
    int64_t planes, hw;
    int C, act;
} bias_ctx;

static void act_inplace(float *y, int64_t n, int act);

static void bias_job(void *arg, int ith, int nth) {
    bias_ctx *c = arg;
    int64_t p0, p1;
    lt_cpu_split(c->planes, ith, nth, 1, &p0, &p1);
    for (int64_t p = p0; p < p1; p++) {
        float b = c->bias ? c->bias[p % c->C] : 0.f;
        float *y = c->y + p * c->hw;
        for (int64_t i = 0; i < c->hw; i++) y[i] += b;
        act_inplace(y, c->hw, c->act);
    }
}

/* ---- depthwise ------------------------------------------------------------------------------ */

typedef struct dw_ctx {
    float *y;
    const float *x, *w, *bias;
    int N, C, H, W, K, stride, pad, OH, OW, act;
} dw_ctx;

/* Activation over n values, with the common cases as plain loops the compiler vectorizes. */
static void act_inplace(float *y, int64_t n, int act) {
    if (act == LT_ACT_LINEAR) return;
    if (act == LT_ACT_LEAKY) {
        /* max(v,0) + .1*min(v,0): equal to darknet's v > 0 ? v : .1f*v for every finite v */
        int64_t i = 0;
#if LT_X86
        const __m128 z = _mm_setzero_ps(), k = _mm_set1_ps(.1f);
        for (; i + 4 <= n; i += 4) {
            __m128 v = _mm_loadu_ps(y + i);
            _mm_storeu_ps(y + i, _mm_add_ps(_mm_max_ps(v, z), _mm_mul_ps(k, _mm_min_ps(v, z))));
        }
#endif
        for (; i < n; i++) y[i] = y[i] > 0 ? y[i] : .1f * y[i];
    } else if (act == LT_ACT_RELU) {
        int64_t i = 0;
#if LT_X86
        const __m128 z = _mm_setzero_ps();
        for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, _mm_max_ps(_mm_loadu_ps(y + i), z));
#endif
        for (; i < n; i++) y[i] = y[i] > 0 ? y[i] : 0.f;
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = lt_activate(y[i], act);
    }
}

/* One depthwise plane, tap by tap: y = b + sum over taps of w[tap] * shifted x. Each tap
 * is a pass over the valid output range (contiguous when stride is 1, so it vectorizes). */
static inline __attribute__((always_inline)) void dw_plane(float *y, const float *x, const float *w, float b, int H,
                                                          int W, int K, int stride, int pad, int OH, int OW, int act) {
    for (int64_t i = 0; i < (int64_t)OH * OW; i++) y[i] = b;
    for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++) {
            float wv = w[kh * K + kw];
            int lo = 0, hi = OW; /* ox with 0 <= ox*stride + kw - pad < W */
            while (lo < OW && lo * stride + kw - pad < 0) lo++;
            while (hi > lo && (hi - 1) * stride + kw - pad >= W) hi--;
            for (int oy = 0; oy < OH; oy++) {
                int iy = oy * stride + kh - pad;
                if (iy < 0 || iy >= H) continue;
                const float *xr = x + (int64_t)iy * W + kw - pad;
                float *yr = y + (int64_t)oy * OW;
                if (stride == 1) {
                    for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox];
                } else if (stride == 2) {
                    for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[2 * ox];
                } else {
                    for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[(int64_t)ox * stride];
                }
            }
        }
    act_inplace(y, (int64_t)OH * OW, act);
}

static void dw_planes(const dw_ctx *c, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
        int ch = (int)(p % c->C);
        dw_plane(c->y + p * c->OH * c->OW, c->x + p * c->H * c->W, c->w + (int64_t)ch * c->K * c->K,
                 c->bias ? c->bias[ch] : 0.f, c->H, c->W, c->K, c->stride, c->pad, c->OH, c->OW, c->act);
    }
}

#if LT_X86
/* The same code compiled for AVX2 (wider vectors; no FMA, so results equal the SSE path). */
__attribute__((target("avx2"))) static void dw_planes_avx2(const dw_ctx *c, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
        int ch = (int)(p % c->C);
        dw_plane(c->y + p * c->OH * c->OW, c->x + p * c->H * c->W, c->w + (int64_t)ch * c->K * c->K,
                 c->bias ? c->bias[ch] : 0.f, c->H, c->W, c->K, c->stride, c->pad, c->OH, c->OW, c->act);
    }
}
#endif

static void dw_job(void *arg, int ith, int nth) {
    dw_ctx *c = arg;
    int64_t p0, p1;
    lt_cpu_split((int64_t)c->N * c->C, ith, nth, 1, &p0, &p1);
#if LT_X86
    if (lt_cpu_simd()) {
        dw_planes_avx2(c, p0, p1);
        return;
    }
#endif
    dw_planes(c, p0, p1);
}

void lt_cpu_conv2d(lt_pool *p, float *y, const float *x, const float *w, const float *bias, float *work, int N, int C,
                   int H, int W, int OC, int K, int stride, int pad, int pad_extra, int groups, int act) {
    int OH = out_dim(H, K, stride, pad, pad_extra), OW = out_dim(W, K, stride, pad, pad_extra);
    int Cg = C / groups, OCg = OC / groups;
    int64_t ohw = (int64_t)OH * OW, hw = (int64_t)H * W;
    if (groups > 1 && Cg == 1 && OCg == 1) {
        dw_ctx c = {y, x, w, bias, N, C, H, W, K, stride, pad, OH, OW, act};
        if ((int64_t)N * C * ohw * K * K < 32768) dw_job(&c, 0, 1);
        else lt_pool_run(p, dw_job, &c);
        return;
    }
    int Kg = Cg * K * K;
    bool direct = (K == 1 && stride == 1 && pad == 0 && pad_extra == 0);
    for (int n = 0; n < N; n++) {
        for (int g = 0; g < groups; g++) {
            const float *xg = x + ((int64_t)n * C + (int64_t)g * Cg) * hw;
            const float *b = xg;
            if (!direct) {
                im2col_ctx ic = {xg, work, Cg, H, W, K, stride, pad, OH, OW};
                if ((int64_t)Kg * ohw < 32768) im2col_job(&ic, 0, 1);
                else lt_pool_run(p, im2col_job, &ic);
                b = work;
            }
            gemm_ctx gc = {w + (int64_t)g * OCg * Kg, b, y + ((int64_t)n * OC + (int64_t)g * OCg) * ohw, OCg, (int)ohw,
                           Kg, lt_pool_blas_ok(p)};
            if ((int64_t)OCg * ohw * Kg < 262144 || ohw < 32) gemm_job(&gc, 0, 1);
            else lt_pool_run(p, gemm_job, &gc);
        }
    }
    bias_ctx bc = {y, bias, (int64_t)N * OC, ohw, OC, act};
    if ((int64_t)N * OC * ohw < 32768) bias_job(&bc, 0, 1);
    else lt_pool_run(p, bias_job, &bc);
}
