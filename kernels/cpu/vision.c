/* vision.c - the CPU vision ops besides conv2d: darknet's maxpool, global average pool,
 * nearest upsample, channel-range copy (route/concat), elementwise activation, YOLO head
 * decoding and per-class NMS. NCHW f32. Semantics in core/backend/backend.h; the CUDA twin is
 * kernels/cuda/vision.cu, and conv2d is in conv.c. Scalar formulas (activations, box decoding,
 * overlap) come from kernels/lt_vision.h, shared with CUDA.
 * Leaves out: average pooling other than global, other upsampling modes.
 */
#include <float.h>
#include <string.h>

#include "cpu_impl.h"

/* ---- maxpool (darknet: offset -pad/2, out = (in + pad - size)/stride + 1) ------------------ */

typedef struct pool_ctx {
    float *y;
    const float *x;
    int64_t planes;
    int H, W, size, stride, pad, OH, OW;
} pool_ctx;

static void maxpool_job(void *arg, int ith, int nth) {
    pool_ctx *c = arg;
    int64_t p0, p1;
    lt_cpu_split(c->planes, ith, nth, 1, &p0, &p1);
    int off = -c->pad / 2;
    for (int64_t p = p0; p < p1; p++) {
        const float *x = c->x + p * c->H * c->W;
        float *y = c->y + p * c->OH * c->OW;
        for (int i = 0; i < c->OH; i++)
            for (int j = 0; j < c->OW; j++) {
                float m = -FLT_MAX;
                for (int n = 0; n < c->size; n++)
                    for (int k = 0; k < c->size; k++) {
                        int cy = off + i * c->stride + n, cx = off + j * c->stride + k;
                        if (cy >= 0 && cy < c->H && cx >= 0 && cx < c->W) {
                            float v = x[(int64_t)cy * c->W + cx];
                            if (v > m) m = v;
                        }
                    }
                y[(int64_t)i * c->OW + j] = m;
            }
    }
}

void lt_cpu_maxpool2d(lt_pool *p, float *y, const float *x, int N, int C, int H, int W, int size, int stride,
                      int pad) {
    pool_ctx c = {y, x, (int64_t)N * C, H, W, size, stride, pad, (H + pad - size) / stride + 1,
                  (W + pad - size) / stride + 1};
    if (c.planes * c.OH * c.OW * size * size < 32768) maxpool_job(&c, 0, 1);
    else lt_pool_run(p, maxpool_job, &c);
}

void lt_cpu_avgpool_global(lt_pool *p, float *y, const float *x, int N, int C, int H, int W) {
    int64_t hw = (int64_t)H * W;
    for (int64_t q = 0; q < (int64_t)N * C; q++) {
        float s = 0.f;
        for (int64_t i = 0; i < hw; i++) s += x[q * hw + i];
        y[q] = s / hw;
    }
}

/* ---- upsample, concat, activate ------------------------------------------------------------- */

typedef struct up_ctx {
    float *y;
    const float *x;
    int64_t planes;
    int H, W, s;
    float scale;
} up_ctx;

static void up_job(void *arg, int ith, int nth) {
    up_ctx *c = arg;
    int64_t p0, p1;
    lt_cpu_split(c->planes, ith, nth, 1, &p0, &p1);
    int OW = c->W * c->s;
    for (int64_t p = p0; p < p1; p++) {
        const float *x = c->x + p * c->H * c->W;
        float *y = c->y + p * c->H * c->s * OW;
        for (int i = 0; i < c->H * c->s; i++)
            for (int j = 0; j < OW; j++) y[(int64_t)i * OW + j] = c->scale * x[(int64_t)(i / c->s) * c->W + j / c->s];
    }
}

void lt_cpu_upsample(lt_pool *p, float *y, const float *x, int N, int C, int H, int W, int stride, float scale) {
    up_ctx c = {y, x, (int64_t)N * C, H, W, stride, scale};
    if (c.planes * H * W * stride * stride < 32768) up_job(&c, 0, 1);
    else lt_pool_run(p, up_job, &c);
}

void lt_cpu_concat(lt_pool *p, float *y, int yc, const float *x, int xc, int N, int64_t hw, int y_c0, int x_c0,
                   int n_c) {
    for (int n = 0; n < N; n++)
        memcpy(y + ((int64_t)n * yc + y_c0) * hw, x + ((int64_t)n * xc + x_c0) * hw, sizeof(float) * n_c * hw);
}

typedef struct act_ctx {
    float *y;
    const float *x;
    int64_t n;
    int act;
} act_ctx;

static void act_job(void *arg, int ith, int nth) {
    act_ctx *c = arg;
    int64_t i0, i1;
    lt_cpu_split(c->n, ith, nth, 16, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) c->y[i] = lt_activate(c->x[i], c->act);
}

void lt_cpu_activate(lt_pool *p, float *y, const float *x, int64_t n, int act) {
    act_ctx c = {y, x, n, act};
    if (n < 32768) act_job(&c, 0, 1);
    else lt_pool_run(p, act_job, &c);
}

/* ---- YOLO head decoding ------------------------------------------------------------------------ */

void lt_cpu_yolo_decode(lt_pool *p, float *y, const float *x, int N, int H, int W, const lt_yolo_head *h) {
    int64_t hw = (int64_t)H * W, E = 5 + h->classes, A = h->n_anchors;
    for (int n = 0; n < N; n++) {
        const float *xn = x + (int64_t)n * A * E * hw;
        float *yn = y + (int64_t)n * hw * A * E;
        for (int64_t i = 0; i < hw; i++)
            for (int a = 0; a < A; a++)
                lt_yolo_decode_cell(yn + (i * A + a) * E, xn + (int64_t)a * E * hw + i, hw, (int)(i % W),
                                    (int)(i / W), W, H, h, a);
    }
}

/* ---- NMS ------------------------------------------------------------------------------------ */

void lt_cpu_nms(int32_t *keep, const float *boxes, const int32_t *classes, int64_t n, float iou, float contain) {
    for (int64_t i = 0; i < n; i++) {
        keep[i] = 1;
        for (int64_t j = 0; j < i && keep[i]; j++)
            if (keep[j] && classes[j] == classes[i] && lt_box_suppresses(boxes + 4 * j, boxes + 4 * i, iou, contain))
                keep[i] = 0;
    }
}
