/* group_norm.cu - the CUDA group_norm and channel_affine ops, NCHW f32. Semantics in
 * core/backend/backend.h; the CPU twin (the reference in tests) is kernels/cpu/group_norm.c.
 * group_norm: one block per (image, group), two passes (mean, then the biased variance of the
 * deviations) in f32 block reductions, then y = x * a + b per channel and the activation.
 * Leaves out: Welford merging across blocks (one block per group is enough at UNet sizes).
 */
#include "vision.cuh"

#define I(t, d) ((int)(t)->shape[d])

static __global__ void group_norm_kernel(float *y, const float *x, const float *g, const float *b, int C, int64_t hw,
                                         int groups, float eps, int act) {
    __shared__ float sh[32];
    int cg = C / groups;
    int64_t len = (int64_t)cg * hw, j = blockIdx.x;
    const float *xp = x + j * len;
    float *yp = y + j * len;
    float s = 0.f;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) s += xp[i];
    float mean = lt_cu_block_sum(s, sh) / (float)len;
    float v = 0.f;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
        float d = xp[i] - mean;
        v += d * d;
    }
    float var = lt_cu_block_sum(v, sh) / (float)len;
    float rstd = rsqrtf(var + eps);
    int c0 = (int)(j % groups) * cg;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
        int c = c0 + (int)(i / hw);
        float a = rstd * (g ? g[c] : 1.f);
        float bb = (b ? b[c] : 0.f) - a * mean;
        yp[i] = lt_activate(xp[i] * a + bb, act);
    }
}

lt_status lt_cuda_group_norm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *gamma,
                             const lt_tensor *beta, int groups, float eps, lt_act act, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    int64_t blocks = (int64_t)I(x, 0) * groups;
    if (blocks == 0) return LT_OK;
    group_norm_kernel<<<(unsigned)blocks, 256, 0, c->stream>>>(
        (float *)y->data, (const float *)x->data, gamma ? (const float *)gamma->data : NULL,
        beta ? (const float *)beta->data : NULL, I(x, 1), x->shape[2] * x->shape[3], groups, eps, act);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

static __global__ void channel_affine_kernel(float *y, const float *x, const float *t, int64_t total, int C,
                                             int64_t hw, bool ss, int act) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t pl = i / hw, n = pl / C, ch = pl % C;
        float v = ss ? x[i] * (1.f + t[n * 2 * C + ch]) + t[n * 2 * C + C + ch] : x[i] + t[n * C + ch];
        y[i] = lt_activate(v, act);
    }
}

lt_status lt_cuda_channel_affine(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *t,
                                 bool scale_shift, lt_act act, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t total = lt_tensor_numel(x);
    if (total == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    channel_affine_kernel<<<lt_cu_grid(c, total, 256), 256, 0, c->stream>>>(
        (float *)y->data, (const float *)x->data, (const float *)t->data, total, I(x, 1), x->shape[2] * x->shape[3],
        scale_shift, act);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
