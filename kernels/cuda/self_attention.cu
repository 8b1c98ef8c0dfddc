/* self_attention.cu - the CUDA self_attention op: non-causal multi-head attention over the
 * H*W positions of each image, channel-major ([N, 3C, T] qkv in, [N, C, T] out), f32.
 * Semantics in core/backend/backend.h; the CPU twin (the reference in tests) is
 * kernels/cpu/self_attention.c.
 * One block per (query position, image*head): the T scores in shared memory (T <= 12288,
 * images x heads <= 65535, else LT_EUNSUPPORTED),
 * block max and sum, then each thread sums one output channel over the T positions.
 * Leaves out: tensor cores and tiling (a flash-attention kernel would be faster at large T).
 */
#include "vision.cuh"

#define I(t, d) ((int)(t)->shape[d])
#define LT_SA_MAX_T 12288

static __global__ void self_attention_kernel(float *y, const float *qkv, int C, int T, int D, int heads, float scale) {
    extern __shared__ float s[]; /* T scores, then 32 floats for the reductions */
    float *red = s + T;
    int i = blockIdx.x, nh = blockIdx.y, n = nh / heads, h = nh % heads;
    const float *q = qkv + ((int64_t)n * 3 * C + (int64_t)h * D) * T;
    const float *k = q + (int64_t)C * T, *v = k + (int64_t)C * T;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < T; j += blockDim.x) {
        float a = 0.f;
        for (int d = 0; d < D; d++) a += q[(int64_t)d * T + i] * k[(int64_t)d * T + j];
        a *= scale;
        s[j] = a;
        mx = fmaxf(mx, a);
    }
    mx = lt_cu_block_max(mx, red);
    float sum = 0.f;
    for (int j = threadIdx.x; j < T; j += blockDim.x) {
        float e = expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    sum = lt_cu_block_sum(sum, red); /* contains __syncthreads: every s[j] is written */
    float inv = 1.f / sum;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const float *vr = v + (int64_t)d * T;
        float a = 0.f;
        for (int j = 0; j < T; j++) a += s[j] * vr[j];
        y[((int64_t)n * C + (int64_t)h * D + d) * T + i] = a * inv;
    }
}

lt_status lt_cuda_self_attention(lt_backend *be, lt_tensor *y, const lt_tensor *qkv, int n_heads, float scale,
                                 lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int N = I(y, 0), C = I(y, 1);
    int64_t T = y->shape[2] * y->shape[3];
    if (T > LT_SA_MAX_T)
        return lt_err_set(err, LT_EUNSUPPORTED, "self_attention: %lld positions exceed the CUDA kernel's %d",
                          (long long)T, LT_SA_MAX_T);
    if ((int64_t)N * n_heads > 65535) /* gridDim.y's limit */
        return lt_err_set(err, LT_EUNSUPPORTED, "self_attention: %lld images x heads exceed the CUDA kernel's 65535",
                          (long long)N * n_heads);
    if (N == 0 || T == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    size_t shm = ((size_t)T + 32) * sizeof(float);
    if (shm > 48 * 1024) LT_CUDA_TRY(cudaFuncSetAttribute(self_attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shm), err);
    dim3 grid((unsigned)T, (unsigned)(N * n_heads));
    self_attention_kernel<<<grid, 128, shm, c->stream>>>((float *)y->data, (const float *)qkv->data, C, (int)T,
                                                          C / n_heads, n_heads, scale);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
