/* conv.cu - the CUDA conv2d op: a direct kernel for depthwise, grouped and small convolutions,
 * im2col + cuBLAS sgemm for large dense ones, with fused bias and activation. NCHW f32.
 * Semantics in core/backend/backend.h; the CPU twin (the reference in tests) is
 * kernels/cpu/conv.c, and the other vision ops are in vision.cu. Activation formulas come
 * from kernels/lt_vision.h, shared with the CPU kernels.
 * pad_extra (zeros below and right) needs only the bounds checks: OH, OW come from y.
 * Leaves out: tensor cores / half precision, Winograd, CUDA graphs.
 */
#include "vision.cuh"

#define I(t, d) ((int)(t)->shape[d])

/* ---- conv2d ------------------------------------------------------------------------------ */

static __global__ void conv_direct_kernel(float *y, const float *x, const float *w, const float *b, int N, int C,
                                          int H, int W, int OC, int K, int stride, int pad, int groups, int OH, int OW,
                                          int act) {
    int64_t total = (int64_t)N * OC * OH * OW;
    int Cg = C / groups, OCg = OC / groups;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int ox = (int)(i % OW), oy = (int)((i / OW) % OH), oc = (int)((i / ((int64_t)OW * OH)) % OC);
        int n = (int)(i / ((int64_t)OW * OH * OC));
        int g = oc / OCg;
        const float *xp = x + ((int64_t)n * C + (int64_t)g * Cg) * H * W;
        const float *wp = w + (int64_t)oc * Cg * K * K;
        float s = 0.f;
        int iy0 = oy * stride - pad, ix0 = ox * stride - pad;
        for (int ci = 0; ci < Cg; ci++)
            for (int kh = 0; kh < K; kh++) {
                int iy = iy0 + kh;
                if (iy < 0 || iy >= H) continue;
                for (int kw = 0; kw < K; kw++) {
                    int ix = ix0 + kw;
                    if (ix >= 0 && ix < W) s += wp[(ci * K + kh) * K + kw] * xp[((int64_t)ci * H + iy) * W + ix];
                }
            }
        y[i] = lt_activate(s + (b ? b[oc] : 0.f), act);
    }
}

static __global__ void im2col_kernel(float *col, const float *x, int Cg, int H, int W, int K, int stride, int pad,
                                     int OH, int OW) {
    int64_t ohw = (int64_t)OH * OW, total = (int64_t)Cg * K * K * ohw;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / ohw, p = i % ohw;
        int kw = (int)(r % K), kh = (int)((r / K) % K), ci = (int)(r / K / K);
        int oy = (int)(p / OW), ox = (int)(p % OW);
        int iy = oy * stride + kh - pad, ix = ox * stride + kw - pad;
        col[i] = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[((int64_t)ci * H + iy) * W + ix] : 0.f;
    }
}

static __global__ void bias_act_kernel(float *y, const float *b, int64_t total, int64_t hw, int OC, int act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = lt_activate(y[i] + (b ? b[(i / hw) % OC] : 0.f), act);
}

lt_status lt_cuda_conv2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *bias,
                         const lt_conv2d_params *p, lt_tensor *work, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    int N = I(x, 0), C = I(x, 1), H = I(x, 2), W = I(x, 3), OC = I(w, 0), K = I(w, 2);
    int OH = I(y, 2), OW = I(y, 3);
    int64_t total = (int64_t)N * OC * OH * OW, ohw = (int64_t)OH * OW;
    const float *b = bias ? (const float *)bias->data : NULL;
    int Kg = C / p->groups * K * K;
    bool direct1x1 = K == 1 && p->stride == 1 && p->pad == 0 && p->pad_extra == 0;
    if (p->groups > 1 || Kg < 256 || (!direct1x1 && !work)) {
        conv_direct_kernel<<<lt_cu_grid(c, total, 256), 256, 0, c->stream>>>(
            (float *)y->data, (const float *)x->data, (const float *)w->data, b, N, C, H, W, OC, K, p->stride, p->pad,
            p->groups, OH, OW, p->act);
        LT_CUDA_LAUNCHED(err);
        return LT_OK;
    }
    /* dense: Y[OC, OHW] = W[OC, Kg] . B[Kg, OHW] per image; column-major cuBLAS computes
     * Y^T = B^T . W^T with B^T (OHW x Kg, ld OHW) and W^T (Kg x OC, ld Kg). */
    const float one = 1.f, zero = 0.f;
    for (int n = 0; n < N; n++) {
        const float *xn = (const float *)x->data + (int64_t)n * C * H * W;
        const float *B = xn;
        if (!direct1x1) {
            im2col_kernel<<<lt_cu_grid(c, (int64_t)Kg * ohw, 256), 256, 0, c->stream>>>(
                (float *)work->data, xn, C, H, W, K, p->stride, p->pad, OH, OW);
            LT_CUDA_LAUNCHED(err);
            B = (const float *)work->data;
        }
        LT_CUBLAS_TRY(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)ohw, OC, Kg, &one, B, (int)ohw,
                                  (const float *)w->data, Kg, &zero, (float *)y->data + (int64_t)n * OC * ohw,
                                  (int)ohw),
                      err);
    }
    bias_act_kernel<<<lt_cu_grid(c, total, 256), 256, 0, c->stream>>>((float *)y->data, b, total, ohw, OC, p->act);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
