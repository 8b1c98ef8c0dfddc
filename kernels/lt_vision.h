/* lt_vision.h - scalar math of the vision ops, shared by the CPU and CUDA kernels.
 *
 * Holds the activation functions with darknet's exact formulas (leaky slope 0.1, mish with
 * darknet's softplus threshold 20, logistic as 1/(1+expf(-x))) and the parameters of the
 * YOLO head decoding. Leaves out: the kernels themselves (conv.c / conv.cu and vision.c /
 * vision.cu in kernels/cpu and kernels/cuda).
 */
#ifndef LT_VISION_H
#define LT_VISION_H

#include <stdbool.h>

#include "lt_math.h"

/* Activations a convolution (or shortcut) may apply to its output. */
typedef enum lt_act {
    LT_ACT_LINEAR = 0,
    LT_ACT_LEAKY,
    LT_ACT_RELU,
    LT_ACT_MISH,
    LT_ACT_SWISH,
    LT_ACT_LOGISTIC,
    LT_ACT_COUNT
} lt_act;

LT_HD float lt_logistic(float x) { return 1.f / (1.f + expf(-x)); }

LT_HD float lt_softplus_dn(float x) {
    if (x > 20.f) return x;
    if (x < -20.f) return expf(x);
    return logf(expf(x) + 1.f);
}

LT_HD float lt_tanh_dn(float x) { return (2.f / (1.f + expf(-2.f * x)) - 1.f); }

/* f(x) for activation a (darknet's activations.h formulas). */
LT_HD float lt_activate(float x, int a) {
    switch (a) {
    case LT_ACT_LEAKY: return x > 0 ? x : .1f * x;
    case LT_ACT_RELU: return x * (x > 0);
    case LT_ACT_MISH: return x * lt_tanh_dn(lt_softplus_dn(x));
    case LT_ACT_SWISH: return x * lt_logistic(x);
    case LT_ACT_LOGISTIC: return lt_logistic(x);
    default: return x;
    }
}

#define LT_YOLO_MAX_ANCHORS 16

/* One YOLO head: the anchors of its mask (pixels of the network input), the class count,
 * the network input size, darknet's scale_x_y and new_coords. */
typedef struct lt_yolo_head {
    int n_anchors;
    float anchors[2 * LT_YOLO_MAX_ANCHORS]; /* (w, h) pairs */
    int classes;
    int net_w, net_h;
    float scale_x_y;
    int new_coords;
} lt_yolo_head;

/* Decodes one (cell, anchor) of a head's raw output. x points at the raw value of entry 0
 * of that anchor at that cell; entries are hw apart (darknet's CHW layout). Writes 5 +
 * classes values to out: box centre x, y and size w, h relative to the network input,
 * objectness, then objectness * class probability for each class (as darknet does). */
LT_HD void lt_yolo_decode_cell(float *out, const float *x, int64_t hw, int col, int row, int lw, int lh,
                                const lt_yolo_head *h, int a) {
    float tx = x[0], ty = x[hw], tw = x[2 * hw], th = x[3 * hw];
    float obj;
    if (h->new_coords) {
        obj = x[4 * hw];
    } else {
        tx = lt_logistic(tx);
        ty = lt_logistic(ty);
        obj = lt_logistic(x[4 * hw]);
    }
    float s = h->scale_x_y, b = (float)(-0.5 * (h->scale_x_y - 1));
    tx = tx * s + b;
    ty = ty * s + b;
    out[0] = (col + tx) / lw;
    out[1] = (row + ty) / lh;
    if (h->new_coords) {
        out[2] = tw * tw * 4 * h->anchors[2 * a] / h->net_w;
        out[3] = th * th * 4 * h->anchors[2 * a + 1] / h->net_h;
    } else {
        out[2] = (float)(exp((double)tw) * h->anchors[2 * a] / h->net_w); /* double, as darknet */
        out[3] = (float)(exp((double)th) * h->anchors[2 * a + 1] / h->net_h);
    }
    out[4] = obj;
    for (int j = 0; j < h->classes; j++) {
        float p = x[(int64_t)(5 + j) * hw];
        if (!h->new_coords) p = lt_logistic(p);
        out[5 + j] = obj * p;
    }
}

/* True when box a (left, top, width, height) suppresses box b in greedy NMS: IoU > iou,
 * or (contain > 0) the intersection covers more than contain of the smaller box. */
LT_HD bool lt_box_suppresses(const float *a, const float *b, float iou, float contain) {
    float l = fmaxf(a[0], b[0]), t = fmaxf(a[1], b[1]);
    float r = fminf(a[0] + a[2], b[0] + b[2]), bt = fminf(a[1] + a[3], b[1] + b[3]);
    if (r <= l || bt <= t) return false;
    float in = (r - l) * (bt - t), aa = a[2] * a[3], ab = b[2] * b[3], un = aa + ab - in, sm = fminf(aa, ab);
    /* correctly rounded divisions: the CUDA build's fast math would not be */
    if (un > 0 && lt_div_rn(in, un) > iou) return true;
    return contain > 0 && sm > 0 && lt_div_rn(in, sm) > contain;
}

#endif
