/* argmax.cu - index of the largest value of each row (lowest index on ties), one thread
 * block per row. NaN values are never chosen; a row of only NaN gives index 0.
 */
#include "cuda_common.cuh"

#define ARGMAX_THREADS 256

static __device__ __forceinline__ bool better(float v, int i, float bv, int bi) {
    return v > bv || (v == bv && i < bi);
}

static __global__ void argmax_kernel(int32_t *out, const float *x, int64_t N) {
    __shared__ float sv[ARGMAX_THREADS / 32];
    __shared__ int si[ARGMAX_THREADS / 32];
    const float *xr = x + blockIdx.x * N;
    float bv = -INFINITY;
    int bi = INT32_MAX;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) {
        float v = xr[j];
        if (better(v, (int)j, bv, bi)) bv = v, bi = (int)j;
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (better(ov, oi, bv, bi)) bv = ov, bi = oi;
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) sv[w] = bv, si[w] = bi;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < ARGMAX_THREADS / 32; k++)
            if (better(sv[k], si[k], bv, bi)) bv = sv[k], bi = si[k];
        out[blockIdx.x] = bi == INT32_MAX ? 0 : bi;
    }
}

lt_status lt_cuda_argmax(lt_backend *be, lt_tensor *out, const lt_tensor *x, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t T = x->shape[0], N = x->shape[1];
    if (T == 0) return LT_OK;
    if (N > INT32_MAX) return lt_err_set(err, LT_EUNSUPPORTED, "argmax: rows of %lld values", (long long)N);
    LT_TRY(lt_cuda_enter(c, err));
    argmax_kernel<<<(unsigned)T, ARGMAX_THREADS, 0, c->stream>>>((int32_t *)out->data, (const float *)x->data, N);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
