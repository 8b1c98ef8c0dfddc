/* test_vision_cpu.c - the vision ops (conv2d dense/grouped/depthwise with every activation,
 * maxpool, avgpool, upsample, concat, activate, yolo_decode) on the "cpu" backend through
 * the public lt_op_* wrappers, each against a float64 naive implementation written here
 * from darknet's definitions; and the wrappers' shape checks. The kernels are
 * kernels/cpu/conv.c and vision.c; test_vision_cuda.c checks CUDA's against them.
 *
 * Tolerances (relative to max |reference|): conv2d 1e-5 (f32 accumulation over up to
 * 3*3*48 terms); elementwise and decode 2e-6; maxpool, upsample, concat exact.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/backend/backend.h"
#include "kernels/cpu/lt_cpu.h"
#include "models/yolo.h"
#include "testutil.h"

static lt_backend *g_be;
static lt_test_rng g_rng;

/* A host-backed tensor of the cpu backend (data lt_malloc'd; the cpu backend uses host pointers). */
static lt_tensor mk(int ndim, const int64_t *shape) {
    lt_tensor t = lt_tensor_make(g_be, LT_F32, NULL, ndim, shape);
    t.data = lt_malloc(lt_tensor_nbytes(&t) + 64);
    return t;
}
static lt_tensor mk4(int64_t n, int64_t c, int64_t h, int64_t w) { return mk(4, (int64_t[]){n, c, h, w}); }
static void rnd(lt_tensor *t, float scale) { lt_test_fill(&g_rng, t->data, lt_tensor_numel(t), scale); }
static float *F(const lt_tensor *t) { return t->data; }

static double act_ref(double x, int a) {
    switch (a) {
    case LT_ACT_LEAKY: return x > 0 ? x : 0.1 * x;
    case LT_ACT_RELU: return x > 0 ? x : 0;
    case LT_ACT_MISH: {
        double sp = x > 20 ? x : (x < -20 ? exp(x) : log1p(exp(x)));
        return x * tanh(sp);
    }
    case LT_ACT_SWISH: return x / (1 + exp(-x));
    case LT_ACT_LOGISTIC: return 1 / (1 + exp(-x));
    default: return x;
    }
}

/* ---- conv2d ------------------------------------------------------------------------------------ */

static void check_conv(int N, int C, int H, int W, int OC, int K, int stride, int pad, int groups, int act) {
    lt_err err = {0};
    lt_tensor x = mk4(N, C, H, W), w = mk4(OC, C / groups, K, K), b = mk(1, (int64_t[]){OC});
    rnd(&x, 1), rnd(&w, 0.5f), rnd(&b, 0.5f);
    int OH = (H + 2 * pad - K) / stride + 1, OW = (W + 2 * pad - K) / stride + 1;
    lt_tensor y = mk4(N, OC, OH, OW);
    lt_conv2d_params p = {stride, pad, groups, act};
    size_t wb = lt_conv2d_work_bytes(&x, &w, &p);
    lt_tensor work = mk(1, (int64_t[]){(int64_t)(wb / 4 + 1)});
    lt_status s = lt_op_conv2d(g_be, &y, &x, &w, &b, &p, wb ? &work : NULL, &err);
    CHECKF(s == LT_OK, "conv2d: %s", err.msg);
    int Cg = C / groups, OCg = OC / groups;
    double *ref = malloc(sizeof(double) * N * OC * OH * OW);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    int g = o / OCg;
                    double sum = F(&b)[o];
                    for (int ci = 0; ci < Cg; ci++)
                        for (int kh = 0; kh < K; kh++)
                            for (int kw = 0; kw < K; kw++) {
                                int iy = oy * stride + kh - pad, ix = ox * stride + kw - pad;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                sum += (double)F(&w)[((o * Cg + ci) * K + kh) * K + kw] *
                                       F(&x)[((n * C + g * Cg + ci) * H + iy) * W + ix];
                            }
                    ref[((n * OC + o) * OH + oy) * OW + ox] = act_ref(sum, act);
                }
    double e = lt_test_rel_err(F(&y), ref, (int64_t)N * OC * OH * OW);
    CHECKF(e < 1e-5, "conv2d N%d C%d %dx%d OC%d K%d s%d p%d g%d act %d: rel err %g", N, C, H, W, OC, K, stride, pad,
           groups, act, e);
    free(ref);
    lt_free(x.data), lt_free(w.data), lt_free(b.data), lt_free(y.data), lt_free(work.data);
}

/* ---- pooling, upsample, concat, activate -------------------------------------------------------- */

static void check_maxpool(int N, int C, int H, int W, int size, int stride, int pad) {
    lt_err err = {0};
    lt_tensor x = mk4(N, C, H, W);
    rnd(&x, 1);
    int OH = (H + pad - size) / stride + 1, OW = (W + pad - size) / stride + 1;
    lt_tensor y = mk4(N, C, OH, OW);
    CHECKF(lt_op_maxpool2d(g_be, &y, &x, size, stride, pad, &err) == LT_OK, "maxpool: %s", err.msg);
    int bad = 0;
    for (int q = 0; q < N * C; q++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                float m = -FLT_MAX;
                for (int n = 0; n < size; n++)
                    for (int k = 0; k < size; k++) {
                        int cy = -(pad / 2) + i * stride + n, cx = -(pad / 2) + j * stride + k;
                        if (cy >= 0 && cy < H && cx >= 0 && cx < W && F(&x)[(q * H + cy) * W + cx] > m)
                            m = F(&x)[(q * H + cy) * W + cx];
                    }
                bad += F(&y)[(q * OH + i) * OW + j] != m;
            }
    CHECKF(bad == 0, "maxpool %dx%d size %d stride %d pad %d: %d wrong", H, W, size, stride, pad, bad);
    lt_free(x.data), lt_free(y.data);
}

static void check_misc(void) {
    lt_err err = {0};
    /* avgpool */
    lt_tensor x = mk4(2, 5, 7, 3), y = mk4(2, 5, 1, 1);
    rnd(&x, 1);
    CHECK(lt_op_avgpool2d(g_be, &y, &x, &err) == LT_OK);
    double ref[10];
    for (int q = 0; q < 10; q++) {
        ref[q] = 0;
        for (int i = 0; i < 21; i++) ref[q] += F(&x)[q * 21 + i];
        ref[q] /= 21;
    }
    CHECK(lt_test_rel_err(F(&y), ref, 10) < 2e-6);
    lt_free(y.data);
    /* upsample */
    lt_tensor u = mk4(2, 5, 14, 6);
    CHECK(lt_op_upsample(g_be, &u, &x, 2, 1.5f, &err) == LT_OK);
    int bad = 0;
    for (int q = 0; q < 10; q++)
        for (int i = 0; i < 14; i++)
            for (int j = 0; j < 6; j++) bad += F(&u)[(q * 14 + i) * 6 + j] != 1.5f * F(&x)[(q * 7 + i / 2) * 3 + j / 2];
    CHECKF(bad == 0, "upsample: %d wrong", bad);
    lt_free(u.data);
    /* concat: channels [1, 4) of x to channels [2, 5) of c */
    lt_tensor c = mk4(2, 6, 7, 3);
    memset(c.data, 0, lt_tensor_nbytes(&c));
    CHECK(lt_op_concat(g_be, &c, &x, 2, 1, 3, &err) == LT_OK);
    bad = 0;
    for (int n = 0; n < 2; n++)
        for (int ch = 0; ch < 6; ch++)
            for (int i = 0; i < 21; i++) {
                float want = (ch >= 2 && ch < 5) ? F(&x)[(n * 5 + ch - 1) * 21 + i] : 0.f;
                bad += F(&c)[(n * 6 + ch) * 21 + i] != want;
            }
    CHECKF(bad == 0, "concat: %d wrong", bad);
    CHECK(lt_op_concat(g_be, &c, &x, 4, 1, 3, &err) == LT_EINVAL); /* past the output's channels */
    lt_free(c.data);
    /* activate, every activation, in place and out of place */
    for (int a = 0; a < LT_ACT_COUNT; a++) {
        lt_tensor z = mk4(1, 3, 50, 40);
        rnd(&z, 8);
        double *r = malloc(sizeof(double) * 6000);
        for (int i = 0; i < 6000; i++) r[i] = act_ref(F(&z)[i], a);
        CHECK(lt_op_activate(g_be, &z, &z, a, &err) == LT_OK);
        double e = lt_test_rel_err(F(&z), r, 6000);
        CHECKF(e < 2e-6, "activation %d: rel err %g", a, e);
        free(r);
        lt_free(z.data);
    }
    lt_free(x.data);
}

/* ---- yolo decode ---------------------------------------------------------------------------------- */

static void check_decode(int new_coords, float sxy) {
    lt_err err = {0};
    lt_yolo_head h = {.n_anchors = 3, .anchors = {10, 14, 23, 27, 37, 58}, .classes = 4, .net_w = 96, .net_h = 64,
                      .scale_x_y = sxy, .new_coords = new_coords};
    int N = 2, H = 4, W = 6, E = 9, A = 3;
    lt_tensor x = mk4(N, A * E, H, W), y = mk(3, (int64_t[]){N, H * W * A, E});
    rnd(&x, 2);
    if (new_coords) /* new_coords heads end in a logistic conv: values in (0, 1) */
        for (int64_t i = 0; i < lt_tensor_numel(&x); i++) F(&x)[i] = 1 / (1 + expf(-F(&x)[i]));
    CHECKF(lt_op_yolo_decode(g_be, &y, &x, &h, &err) == LT_OK, "decode: %s", err.msg);
    double *ref = malloc(sizeof(double) * N * H * W * A * E);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < H * W; i++)
            for (int a = 0; a < A; a++) {
                const float *p = F(&x) + (int64_t)(n * A * E + a * E) * H * W + i;
                double *o = ref + ((int64_t)(n * H * W + i) * A + a) * E;
                double v[9];
                for (int e = 0; e < E; e++) v[e] = p[e * H * W];
                if (!new_coords) {
                    v[0] = act_ref(v[0], LT_ACT_LOGISTIC), v[1] = act_ref(v[1], LT_ACT_LOGISTIC);
                    for (int e = 4; e < E; e++) v[e] = act_ref(v[e], LT_ACT_LOGISTIC);
                }
                v[0] = v[0] * sxy - 0.5 * (sxy - 1), v[1] = v[1] * sxy - 0.5 * (sxy - 1);
                o[0] = (i % W + v[0]) / W;
                o[1] = (i / W + v[1]) / H;
                o[2] = (new_coords ? v[2] * v[2] * 4 : exp(v[2])) * h.anchors[2 * a] / 96;
                o[3] = (new_coords ? v[3] * v[3] * 4 : exp(v[3])) * h.anchors[2 * a + 1] / 64;
                o[4] = v[4];
                for (int e = 5; e < E; e++) o[e] = v[4] * v[e];
            }
    double e = lt_test_rel_err(F(&y), ref, (int64_t)N * H * W * A * E);
    CHECKF(e < 2e-6, "decode new_coords %d scale_x_y %g: rel err %g", new_coords, sxy, e);
    free(ref);
    lt_free(x.data), lt_free(y.data);
}

/* ---- NMS ------------------------------------------------------------------------------------------- */

static void check_nms(float contain) {
    lt_err err = {0};
    int n = 400;
    lt_detection *d = malloc(sizeof *d * n);
    for (int i = 0; i < n; i++) { /* boxes clustered around 8 centres so many overlap */
        int c = i % 8;
        d[i].class_id = (int)(lt_test_u32(&g_rng) % 3);
        d[i].confidence = lt_test_uniform(&g_rng);
        d[i].left = 40.f * c + 20 * lt_test_uniform(&g_rng);
        d[i].top = 30.f * (c % 3) + 20 * lt_test_uniform(&g_rng);
        d[i].width = 10 + 40 * lt_test_uniform(&g_rng);
        d[i].height = 10 + 40 * lt_test_uniform(&g_rng);
    }
    lt_detection *h = malloc(sizeof *d * n);
    memcpy(h, d, sizeof *d * n);
    int kept = lt_yolo_nms(h, n, 0.45f, contain); /* sorts h by confidence */
    lt_tensor b = mk(2, (int64_t[]){n, 4});
    lt_tensor c = lt_tensor_make(g_be, LT_I32, lt_malloc(4 * n), 1, (int64_t[]){n});
    lt_tensor k = lt_tensor_make(g_be, LT_I32, lt_malloc(4 * n), 1, (int64_t[]){n});
    /* the op on the same order as lt_yolo_nms sorted to: rebuild it from a sorted copy */
    lt_detection *sorted = malloc(sizeof *d * n);
    memcpy(sorted, d, sizeof *d * n);
    for (int i = 0; i < n; i++) /* selection order by confidence (ties impossible with random floats) */
        for (int j = i + 1; j < n; j++)
            if (sorted[j].confidence > sorted[i].confidence) {
                lt_detection t = sorted[i];
                sorted[i] = sorted[j], sorted[j] = t;
            }
    for (int i = 0; i < n; i++) {
        float *bx = F(&b) + 4 * i;
        bx[0] = sorted[i].left, bx[1] = sorted[i].top, bx[2] = sorted[i].width, bx[3] = sorted[i].height;
        ((int32_t *)c.data)[i] = sorted[i].class_id;
    }
    CHECKF(lt_op_nms(g_be, &k, &b, &c, 0.45f, contain, &err) == LT_OK, "%s", err.msg);
    /* naive reference in double */
    int *ref = malloc(sizeof(int) * n), bad = 0, nref = 0;
    for (int i = 0; i < n; i++) {
        ref[i] = 1;
        for (int j = 0; j < i && ref[i]; j++) {
            if (!ref[j] || sorted[j].class_id != sorted[i].class_id) continue;
            double l = fmax(sorted[i].left, sorted[j].left), t = fmax(sorted[i].top, sorted[j].top);
            double r = fmin(sorted[i].left + sorted[i].width, sorted[j].left + sorted[j].width);
            double bt = fmin(sorted[i].top + sorted[i].height, sorted[j].top + sorted[j].height);
            if (r <= l || bt <= t) continue;
            double in = (r - l) * (bt - t), ai = (double)sorted[i].width * sorted[i].height,
                   aj = (double)sorted[j].width * sorted[j].height;
            if (in / (ai + aj - in) > 0.45 || (contain > 0 && in / fmin(ai, aj) > contain)) ref[i] = 0;
        }
        nref += ref[i];
        bad += ref[i] != ((int32_t *)k.data)[i];
    }
    CHECKF(bad == 0 && nref > 20 && nref < n * 3 / 4, "nms contain %g: %d differ from the reference (%d kept)", contain, bad,
           nref);
    CHECKF(kept == nref, "lt_yolo_nms kept %d, the reference %d", kept, nref);
    CHECK(lt_op_nms(g_be, &k, &c, &c, 0.45f, 0, &err) == LT_EINVAL); /* boxes must be f32 [n, 4] */
    free(d), free(h), free(sorted), free(ref);
    lt_free(b.data), lt_free(c.data), lt_free(k.data);
}

/* ---- wrapper checks ------------------------------------------------------------------------------- */

static void check_errors(void) {
    lt_err err = {0};
    lt_tensor x = mk4(1, 4, 8, 8), w = mk4(6, 4, 3, 3), y = mk4(1, 6, 8, 8), bad = mk4(1, 6, 7, 8);
    lt_conv2d_params p = {1, 1, 1, LT_ACT_LEAKY};
    size_t wb = lt_conv2d_work_bytes(&x, &w, &p);
    CHECK(wb == 4 * 9 * 64 * sizeof(float));
    CHECK(lt_op_conv2d(g_be, &bad, &x, &w, NULL, &p, NULL, &err) == LT_EINVAL && strstr(err.msg, "conv2d"));
    CHECK(lt_op_conv2d(g_be, &y, &x, &w, NULL, &p, NULL, &err) == LT_EINVAL && strstr(err.msg, "workspace"));
    lt_conv2d_params g3 = {1, 1, 3, LT_ACT_LEAKY}; /* 4 channels do not split into 3 groups */
    CHECK(lt_op_conv2d(g_be, &y, &x, &w, NULL, &g3, NULL, &err) == LT_EINVAL);
    lt_conv2d_params ba = {1, 1, 1, (lt_act)99};
    CHECK(lt_op_conv2d(g_be, &y, &x, &w, NULL, &ba, NULL, &err) == LT_EINVAL);
    CHECK(lt_op_maxpool2d(g_be, &y, &x, 2, 2, 1, &err) == LT_EINVAL);
    CHECK(lt_op_upsample(g_be, &y, &x, 2, 1, &err) == LT_EINVAL);
    lt_yolo_head h = {.n_anchors = 3, .classes = 80, .net_w = 8, .net_h = 8, .scale_x_y = 1};
    lt_tensor d = mk(3, (int64_t[]){1, 64 * 3, 85});
    CHECK(lt_op_yolo_decode(g_be, &d, &x, &h, &err) == LT_EINVAL && strstr(err.msg, "anchors"));
    lt_free(x.data), lt_free(w.data), lt_free(y.data), lt_free(bad.data), lt_free(d.data);
}

int main(void) {
    lt_err err = {0};
    lt_test_rng_seed(&g_rng, 7);
    for (int run = 0; run < 3; run++) { /* 1 thread, 2 threads, 2 threads without SIMD */
        int threads = run == 0 ? 1 : 2;
        lt_cpu_set_simd(run < 2);
        lt_backend_opts o = {.n_threads = threads};
        if (lt_backend_create(&g_be, "cpu", &o, &err) != LT_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        for (int a = 0; a < LT_ACT_COUNT; a++) check_conv(2, 5, 9, 11, 7, 3, 1, 1, 1, a);
        check_conv(1, 3, 33, 31, 16, 3, 2, 1, 1, LT_ACT_LEAKY);   /* stride 2 */
        check_conv(2, 48, 20, 20, 40, 1, 1, 0, 1, LT_ACT_LINEAR); /* 1x1: direct sgemm, threaded */
        check_conv(1, 8, 40, 40, 64, 3, 1, 1, 1, LT_ACT_LEAKY);   /* threaded im2col + sgemm */
        check_conv(1, 6, 10, 12, 4, 3, 1, 1, 2, LT_ACT_MISH);     /* grouped */
        check_conv(2, 12, 17, 15, 12, 3, 1, 1, 12, LT_ACT_LEAKY); /* depthwise */
        check_conv(1, 24, 40, 40, 24, 3, 2, 1, 24, LT_ACT_RELU);  /* depthwise, stride 2, threaded */
        check_conv(1, 4, 9, 9, 4, 5, 1, 2, 4, LT_ACT_SWISH);      /* depthwise 5x5 */
        check_conv(1, 3, 5, 6, 2, 5, 1, 0, 1, LT_ACT_LOGISTIC);   /* kernel = most of the input */
        check_maxpool(2, 3, 13, 13, 2, 2, 1);  /* darknet default pad = size-1 */
        check_maxpool(1, 4, 13, 13, 2, 1, 1);  /* yolov3-tiny's stride-1 pool */
        check_maxpool(1, 2, 12, 10, 3, 1, 2);
        check_maxpool(1, 64, 40, 40, 5, 1, 4); /* SPP-style */
        check_maxpool(1, 2, 9, 8, 3, 2, 0);
        check_misc();
        check_decode(0, 1.f);
        check_decode(0, 1.05f);
        check_decode(1, 2.f);
        check_errors();
        check_nms(0);
        check_nms(0.85f);
        lt_backend_free(g_be);
    }
    lt_cpu_set_simd(true);
    return lt_test_done();
}
