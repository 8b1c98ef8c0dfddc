/* norm.cu - RMSNorm: y = x / sqrt(mean(x^2) + eps) * w, one thread block per row.
 *
 * y may alias x: each thread rewrites only the elements it read, after the block-wide sum.
 */
#include "cuda_common.cuh"

static __global__ void rmsnorm_kernel(float *y, const float *x, const float *w, int64_t D, float eps) {
    __shared__ float sh[32];
    const float *xr = x + blockIdx.x * D;
    float *yr = y + blockIdx.x * D;
    float ss = 0.0f;
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) ss += xr[j] * xr[j];
    ss = lt_cu_block_sum(ss, sh);
    float r = 1.0f / sqrtf(__fdiv_rn(ss, (float)D) + eps);
    for (int64_t j = threadIdx.x; j < D; j += blockDim.x) yr[j] = w[j] * (r * xr[j]); /* CPU order */
}

lt_status lt_cuda_rmsnorm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, float eps,
                          lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t T = x->shape[0], D = x->shape[1];
    if (T == 0 || D == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    int threads = D >= 1024 ? 512 : D >= 256 ? 256 : 64;
    rmsnorm_kernel<<<(unsigned)T, threads, 0, c->stream>>>((float *)y->data, (const float *)x->data,
                                                           (const float *)w->data, D, eps);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
