/* vision.cu - the CUDA vision ops besides conv2d: darknet's maxpool, global average pool,
 * nearest upsample, channel-range copy, activation, YOLO head decoding and per-class NMS.
 * NCHW f32. Semantics in core/backend/backend.h; the CPU twin (the reference in tests) is
 * kernels/cpu/vision.c, and conv2d is in conv.cu. Scalar formulas come from
 * kernels/lt_vision.h, shared with the CPU kernels.
 * Leaves out: half precision, average pooling other than global, CUDA graphs.
 */
#include "vision.cuh"

#define I(t, d) ((int)(t)->shape[d])

/* ---- pooling, upsample, concat, activate ---------------------------------------------------- */

static __global__ void maxpool_kernel(float *y, const float *x, int64_t planes, int H, int W, int size, int stride,
                                      int pad, int OH, int OW) {
    int64_t total = planes * OH * OW;
    int off = -pad / 2;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int j = (int)(i % OW), r = (int)((i / OW) % OH);
        int64_t q = i / ((int64_t)OW * OH);
        const float *xp = x + q * H * W;
        float m = -3.402823466e38f;
        for (int n = 0; n < size; n++)
            for (int k = 0; k < size; k++) {
                int cy = off + r * stride + n, cx = off + j * stride + k;
                if (cy >= 0 && cy < H && cx >= 0 && cx < W) m = fmaxf(m, xp[(int64_t)cy * W + cx]);
            }
        y[i] = m;
    }
}

lt_status lt_cuda_maxpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, int size, int stride, int pad,
                            lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    int64_t planes = (int64_t)I(x, 0) * I(x, 1);
    int64_t total = planes * I(y, 2) * I(y, 3);
    maxpool_kernel<<<lt_cu_grid(c, total, 256), 256, 0, c->stream>>>((float *)y->data, (const float *)x->data, planes,
                                                                     I(x, 2), I(x, 3), size, stride, pad, I(y, 2),
                                                                     I(y, 3));
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

/* One block per plane. */
static __global__ void avgpool_kernel(float *y, const float *x, int64_t hw) {
    __shared__ float sh[32];
    const float *xp = x + blockIdx.x * hw;
    float s = 0.f;
    for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) s += xp[i];
    s = lt_cu_block_sum(s, sh);
    if (threadIdx.x == 0) y[blockIdx.x] = s / hw;
}

lt_status lt_cuda_avgpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    unsigned planes = (unsigned)((int64_t)I(x, 0) * I(x, 1));
    avgpool_kernel<<<planes, 256, 0, c->stream>>>((float *)y->data, (const float *)x->data,
                                                  (int64_t)I(x, 2) * I(x, 3));
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

static __global__ void upsample_kernel(float *y, const float *x, int64_t planes, int H, int W, int s, float scale) {
    int OH = H * s, OW = W * s;
    int64_t total = planes * OH * OW;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int j = (int)(i % OW), r = (int)((i / OW) % OH);
        int64_t q = i / ((int64_t)OW * OH);
        y[i] = scale * x[(q * H + r / s) * W + j / s];
    }
}

lt_status lt_cuda_upsample(lt_backend *be, lt_tensor *y, const lt_tensor *x, int stride, float scale, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    int64_t planes = (int64_t)I(x, 0) * I(x, 1);
    upsample_kernel<<<lt_cu_grid(c, lt_tensor_numel(y), 256), 256, 0, c->stream>>>(
        (float *)y->data, (const float *)x->data, planes, I(x, 2), I(x, 3), stride, scale);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

lt_status lt_cuda_concat(lt_backend *be, lt_tensor *y, const lt_tensor *x, int y_c0, int x_c0, int n_c, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    if (n_c == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    size_t hw = (size_t)I(x, 2) * I(x, 3), row = n_c * hw * sizeof(float);
    /* one row per image: n_c planes, strided by each tensor's channel count */
    LT_CUDA_TRY(cudaMemcpy2DAsync((float *)y->data + y_c0 * hw, I(y, 1) * hw * sizeof(float),
                                  (const float *)x->data + x_c0 * hw, I(x, 1) * hw * sizeof(float), row, I(x, 0),
                                  cudaMemcpyDeviceToDevice, c->stream),
                err);
    return LT_OK;
}

static __global__ void activate_kernel(float *y, const float *x, int64_t n, int act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = lt_activate(x[i], act);
}

lt_status lt_cuda_activate(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_act act, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t n = lt_tensor_numel(y);
    if (n == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    activate_kernel<<<lt_cu_grid(c, n, 256), 256, 0, c->stream>>>((float *)y->data, (const float *)x->data, n, act);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

/* ---- YOLO decode: one thread per (image, cell, anchor) ---------------------------------------- */

static __global__ void yolo_decode_kernel(float *y, const float *x, int N, int H, int W, lt_yolo_head h) {
    int64_t hw = (int64_t)H * W, A = h.n_anchors, E = 5 + h.classes, total = N * hw * A;
    for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
        int a = (int)(t % A);
        int64_t i = (t / A) % hw, n = t / (A * hw);
        lt_yolo_decode_cell(y + t * E, x + (n * A + a) * E * hw + i, hw, (int)(i % W), (int)(i / W), W, H, &h, a);
    }
}

lt_status lt_cuda_yolo_decode(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_yolo_head *h, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    int64_t total = (int64_t)I(x, 0) * I(x, 2) * I(x, 3) * h->n_anchors;
    yolo_decode_kernel<<<lt_cu_grid(c, total, 128), 128, 0, c->stream>>>((float *)y->data, (const float *)x->data,
                                                                         I(x, 0), I(x, 2), I(x, 3), *h);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

/* ---- NMS: one block walks the boxes in score order; its threads suppress in parallel ---------- */

static __global__ void nms_kernel(int32_t *keep, const float *boxes, const int32_t *cls, int64_t n, float iou,
                                  float contain) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) keep[i] = 1;
    __syncthreads();
    for (int64_t i = 0; i < n; i++) {
        if (keep[i]) /* final: every earlier box has been applied */
            for (int64_t j = i + 1 + threadIdx.x; j < n; j += blockDim.x)
                if (keep[j] && cls[j] == cls[i] && lt_box_suppresses(boxes + 4 * i, boxes + 4 * j, iou, contain))
                    keep[j] = 0;
        __syncthreads();
    }
}

lt_status lt_cuda_nms(lt_backend *be, lt_tensor *keep, const lt_tensor *boxes, const lt_tensor *classes, float iou,
                      float contain, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t n = boxes->shape[0];
    if (n == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    nms_kernel<<<1, 256, 0, c->stream>>>((int32_t *)keep->data, (const float *)boxes->data,
                                         (const int32_t *)classes->data, n, iou, contain);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
