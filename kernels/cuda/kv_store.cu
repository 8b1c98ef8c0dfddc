/* kv_store.cu - writes rows of k and v into the paged key/value pools at row slots[t].
 *
 * One thread block per token; f16 pools are written with lt_f32_to_f16 (round to nearest
 * even, as on the CPU). A slot outside the pool is skipped (used for padding tokens).
 */
#include "cuda_common.cuh"

static __global__ void kv_store_kernel(void *kc, void *vc, int f16, int64_t width, int64_t pool_rows, const float *k,
                                       const float *v, const int32_t *slots) {
    int64_t t = blockIdx.x;
    int32_t s = slots[t];
    if (s < 0 || s >= pool_rows) return;
    const float *kr = k + t * width, *vr = v + t * width;
    if (f16) {
        uint16_t *kd = (uint16_t *)kc + (int64_t)s * width, *vd = (uint16_t *)vc + (int64_t)s * width;
        for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
            kd[j] = lt_f32_to_f16(kr[j]);
            vd[j] = lt_f32_to_f16(vr[j]);
        }
    } else {
        float *kd = (float *)kc + (int64_t)s * width, *vd = (float *)vc + (int64_t)s * width;
        for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
            kd[j] = kr[j];
            vd[j] = vr[j];
        }
    }
}

lt_status lt_cuda_kv_store(lt_backend *be, lt_tensor *kc, lt_tensor *vc, const lt_tensor *k, const lt_tensor *v,
                           const lt_tensor *slots, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t T = k->shape[0], width = k->shape[1];
    if (T == 0 || width == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    kv_store_kernel<<<(unsigned)T, width >= 256 ? 256 : 64, 0, c->stream>>>(
        kc->data, vc->data, kc->dtype == LT_F16, width, kc->shape[0], (const float *)k->data,
        (const float *)v->data, (const int32_t *)slots->data);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
