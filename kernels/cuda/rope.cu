/* rope.cu - rotary position embedding in place, one thread per rotated pair.
 *
 * The angle pos * freq is formed in f32 exactly as on the CPU; its sine and cosine are taken
 * in double precision, because --use_fast_math turns sinf/cosf into approximations that are
 * poor for the large angles of late positions. cos and sin are multiplied by `scale` (the
 * attention factor; 1 = plain rope), as on the CPU.
 */
#include "cuda_common.cuh"

static __global__ void rope_kernel(float *x, const int32_t *pos, const float *freqs, int64_t T, int n_heads,
                                   int head_dim, int n_rot, int neox, float scale) {
    int half = n_rot / 2; /* dimensions past n_rot pass through */
    int64_t n = T * n_heads * half;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int p = (int)(i % half);
        int64_t th = i / half; /* token * n_heads + head */
        int64_t t = th / n_heads;
        float *xh = x + th * head_dim;
        float theta = __fmul_rn((float)pos[t], freqs[p]);
        double sd, cd;
        sincos((double)theta, &sd, &cd);
        float s = (float)sd * scale, co = (float)cd * scale;
        int i0 = neox ? p : 2 * p, i1 = neox ? p + half : 2 * p + 1;
        float a = xh[i0], b = xh[i1];
        xh[i0] = a * co - b * s;
        xh[i1] = a * s + b * co;
    }
}

lt_status lt_cuda_rope(lt_backend *be, lt_tensor *x, const lt_tensor *pos, const lt_tensor *freqs, int n_heads,
                       int head_dim, bool neox, float scale, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int n_rot = (int)lt_tensor_numel(freqs) * 2;
    int64_t T = x->shape[0], n = T * n_heads * (n_rot / 2);
    if (n == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    rope_kernel<<<lt_cu_grid(c, n, 256), 256, 0, c->stream>>>((float *)x->data, (const int32_t *)pos->data,
                                                              (const float *)freqs->data, T, n_heads, head_dim,
                                                              n_rot, neox ? 1 : 0, scale);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
