/* test_vision_cuda.c - every vision op (conv2d dense/1x1/grouped/depthwise with each
 * activation, maxpool, avgpool, upsample, concat, activate, yolo_decode) and the whole
 * Yolo-Fastest detector on the CUDA backend against the CPU backend, on fresh random inputs.
 * Skips (77) when the build has no CUDA backend or no device is present.
 *
 * Tolerances (relative to max |cpu|): 1e-4 for conv2d (cuBLAS/direct summation order,
 * --use_fast_math exp), 1e-5 for the rest; detections: same classes, confidences within
 * 0.01, edges within 1 px.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/backend/backend.h"
#include "models/yolo.h"
#include "testutil.h"

static lt_backend *g_cpu, *g_gpu;
static lt_arena *g_ac, *g_ag;
static lt_test_rng g_rng;

typedef struct pair {
    lt_tensor c, g; /* same shape on cpu and gpu */
} pair;

static pair mkp(int ndim, const int64_t *shape, float scale) {
    lt_err err = {0};
    pair p;
    LT_ASSERT(lt_arena_tensor(g_ac, &p.c, LT_F32, ndim, shape, &err) == LT_OK);
    LT_ASSERT(lt_arena_tensor(g_ag, &p.g, LT_F32, ndim, shape, &err) == LT_OK);
    if (scale > 0) {
        lt_test_fill(&g_rng, p.c.data, lt_tensor_numel(&p.c), scale);
        LT_ASSERT(lt_tensor_set(&p.g, p.c.data, lt_tensor_nbytes(&p.c), &err) == LT_OK);
    }
    return p;
}

static double cmp(const pair *p, const char *what, double tol) {
    lt_err err = {0};
    size_t n = lt_tensor_numel(&p->c);
    float *h = malloc(n * sizeof(float));
    CHECK(lt_tensor_get(&p->g, h, n * sizeof(float), &err) == LT_OK);
    double e = lt_test_rel_err_ff(h, p->c.data, (int64_t)n);
    CHECKF(e < tol, "%s: gpu vs cpu rel err %g", what, e);
    free(h);
    return e;
}

static void conv(int N, int C, int H, int W, int OC, int K, int s, int pad, int groups, int act) {
    lt_err err = {0};
    lt_arena_reset(g_ac), lt_arena_reset(g_ag);
    pair x = mkp(4, (int64_t[]){N, C, H, W}, 1), w = mkp(4, (int64_t[]){OC, C / groups, K, K}, 0.3f);
    pair b = mkp(1, (int64_t[]){OC}, 0.3f);
    int OH = (H + 2 * pad - K) / s + 1, OW = (W + 2 * pad - K) / s + 1;
    pair y = mkp(4, (int64_t[]){N, OC, OH, OW}, 0);
    lt_conv2d_params p = {s, pad, groups, act};
    size_t wb = lt_conv2d_work_bytes(&x.c, &w.c, &p);
    pair work = mkp(1, (int64_t[]){(int64_t)(wb / 4 + 1)}, 0);
    CHECK(lt_op_conv2d(g_cpu, &y.c, &x.c, &w.c, &b.c, &p, wb ? &work.c : NULL, &err) == LT_OK);
    CHECKF(lt_op_conv2d(g_gpu, &y.g, &x.g, &w.g, &b.g, &p, wb ? &work.g : NULL, &err) == LT_OK, "%s", err.msg);
    char what[96];
    snprintf(what, sizeof what, "conv N%d C%d %dx%d OC%d K%d s%d g%d act%d", N, C, H, W, OC, K, s, groups, act);
    cmp(&y, what, 1e-4);
}

static void others(void) {
    lt_err err = {0};
    lt_arena_reset(g_ac), lt_arena_reset(g_ag);
    pair x = mkp(4, (int64_t[]){2, 6, 13, 11}, 1);
    pair mp = mkp(4, (int64_t[]){2, 6, 13, 11}, 0);
    CHECK(lt_op_maxpool2d(g_cpu, &mp.c, &x.c, 3, 1, 2, &err) == LT_OK);
    CHECK(lt_op_maxpool2d(g_gpu, &mp.g, &x.g, 3, 1, 2, &err) == LT_OK);
    cmp(&mp, "maxpool", 1e-7);
    pair ap = mkp(4, (int64_t[]){2, 6, 1, 1}, 0);
    CHECK(lt_op_avgpool2d(g_cpu, &ap.c, &x.c, &err) == LT_OK && lt_op_avgpool2d(g_gpu, &ap.g, &x.g, &err) == LT_OK);
    cmp(&ap, "avgpool", 1e-5);
    pair up = mkp(4, (int64_t[]){2, 6, 26, 22}, 0);
    CHECK(lt_op_upsample(g_cpu, &up.c, &x.c, 2, 1, &err) == LT_OK &&
          lt_op_upsample(g_gpu, &up.g, &x.g, 2, 1, &err) == LT_OK);
    cmp(&up, "upsample", 1e-7);
    pair cc = mkp(4, (int64_t[]){2, 9, 13, 11}, 1);
    CHECK(lt_op_concat(g_cpu, &cc.c, &x.c, 5, 2, 4, &err) == LT_OK &&
          lt_op_concat(g_gpu, &cc.g, &x.g, 5, 2, 4, &err) == LT_OK);
    cmp(&cc, "concat", 1e-7);
    for (int a = 0; a < LT_ACT_COUNT; a++) {
        pair z = mkp(4, (int64_t[]){1, 3, 40, 40}, 6);
        CHECK(lt_op_activate(g_cpu, &z.c, &z.c, a, &err) == LT_OK && lt_op_activate(g_gpu, &z.g, &z.g, a, &err) == LT_OK);
        cmp(&z, "activate", 1e-5);
    }
    lt_yolo_head h = {.n_anchors = 3, .anchors = {10, 14, 23, 27, 37, 58}, .classes = 80, .net_w = 320, .net_h = 320,
                      .scale_x_y = 1.05f};
    pair hx = mkp(4, (int64_t[]){2, 255, 10, 10}, 2), hy = mkp(3, (int64_t[]){2, 300, 85}, 0);
    CHECK(lt_op_yolo_decode(g_cpu, &hy.c, &hx.c, &h, &err) == LT_OK &&
          lt_op_yolo_decode(g_gpu, &hy.g, &hx.g, &h, &err) == LT_OK);
    cmp(&hy, "yolo_decode", 1e-5);
    /* NMS: the same keep flags */
    int n = 500;
    pair bx = mkp(2, (int64_t[]){n, 4}, 0);
    float *hb = bx.c.data;
    for (int i = 0; i < n; i++) {
        hb[4 * i] = 50.f * (i % 5) + 30 * lt_test_uniform(&g_rng), hb[4 * i + 1] = 30 * lt_test_uniform(&g_rng);
        hb[4 * i + 2] = 10 + 40 * lt_test_uniform(&g_rng), hb[4 * i + 3] = 10 + 40 * lt_test_uniform(&g_rng);
    }
    CHECK(lt_tensor_set(&bx.g, hb, 16 * n, &err) == LT_OK);
    lt_tensor cc_c, cc_g, kc, kg;
    CHECK(lt_arena_tensor(g_ac, &cc_c, LT_I32, 1, (int64_t[]){n}, &err) == LT_OK);
    CHECK(lt_arena_tensor(g_ag, &cc_g, LT_I32, 1, (int64_t[]){n}, &err) == LT_OK);
    CHECK(lt_arena_tensor(g_ac, &kc, LT_I32, 1, (int64_t[]){n}, &err) == LT_OK);
    CHECK(lt_arena_tensor(g_ag, &kg, LT_I32, 1, (int64_t[]){n}, &err) == LT_OK);
    for (int i = 0; i < n; i++) ((int32_t *)cc_c.data)[i] = i % 3;
    CHECK(lt_tensor_set(&cc_g, cc_c.data, 4 * n, &err) == LT_OK);
    CHECK(lt_op_nms(g_cpu, &kc, &bx.c, &cc_c, 0.45f, 0.85f, &err) == LT_OK);
    CHECKF(lt_op_nms(g_gpu, &kg, &bx.g, &cc_g, 0.45f, 0.85f, &err) == LT_OK, "%s", err.msg);
    int32_t *hk = malloc(4 * n);
    CHECK(lt_tensor_get(&kg, hk, 4 * n, &err) == LT_OK);
    CHECK(memcmp(hk, kc.data, 4 * n) == 0);
    free(hk);
}

static void detector(void) {
    lt_err err = {0};
    lt_yolo *mc, *mg;
    const char *cfg = lt_test_path("assets/yolo/yolo-fastest-1.1.cfg"), *w = lt_test_path("assets/yolo/yolo-fastest-1.1.weights");
    char cfgb[1024];
    snprintf(cfgb, sizeof cfgb, "%s", cfg);
    CHECK(lt_yolo_open(&mc, cfgb, w, g_cpu, 4, &err) == LT_OK);
    CHECKF(lt_yolo_open(&mg, cfgb, w, g_gpu, 4, &err) == LT_OK, "%s", err.msg);
    lt_image im;
    CHECK(lt_image_load(&im, lt_test_path("assets/yolo/dog.jpg"), &err) == LT_OK);
    lt_detection *dc, *dg;
    int nc, ng;
    CHECK(lt_yolo_detect(mc, &im, NULL, &dc, &nc, &err) == LT_OK);
    CHECKF(lt_yolo_detect(mg, &im, NULL, &dg, &ng, &err) == LT_OK, "%s", err.msg);
    CHECKF(nc == ng, "cpu %d detections, gpu %d", nc, ng);
    for (int i = 0; i < nc && i < ng; i++)
        CHECK(dc[i].class_id == dg[i].class_id && fabsf(dc[i].confidence - dg[i].confidence) < 0.01f &&
              fabsf(dc[i].left - dg[i].left) < 1 && fabsf(dc[i].width - dg[i].width) < 1);
    lt_free(dc), lt_free(dg);
    lt_image_free(&im);
    lt_yolo_close(mc), lt_yolo_close(mg);
}

int main(void) {
    lt_err err = {0};
    int rc = lt_test_gpu_backends(&g_cpu, &g_gpu, LT_TEST_SELF);
    if (rc) return rc;
    LT_ASSERT(lt_arena_create(&g_ac, g_cpu, 64 << 20, LT_MEM_SCRATCH, &err) == LT_OK);
    LT_ASSERT(lt_arena_create(&g_ag, g_gpu, 64 << 20, LT_MEM_SCRATCH, &err) == LT_OK);
    lt_test_rng_seed(&g_rng, 9);
    for (int a = 0; a < LT_ACT_COUNT; a++) conv(2, 5, 9, 11, 7, 3, 1, 1, 1, a);
    conv(1, 64, 20, 20, 128, 3, 1, 1, 1, LT_ACT_LEAKY); /* im2col + cuBLAS */
    conv(2, 96, 10, 10, 48, 1, 1, 0, 1, LT_ACT_LINEAR); /* 1x1 through cuBLAS */
    conv(1, 3, 33, 31, 16, 3, 2, 1, 1, LT_ACT_LEAKY);
    conv(1, 6, 10, 12, 4, 3, 1, 1, 2, LT_ACT_MISH);
    conv(2, 24, 17, 15, 24, 3, 2, 1, 24, LT_ACT_RELU);
    others();
    detector();
    lt_arena_free(g_ac), lt_arena_free(g_ag);
    lt_backend_free(g_gpu), lt_backend_free(g_cpu);
    return lt_test_done();
}
