/* kv_store.c - the CPU kv_store op: rows of K and V written into a layer's paged pools at
 * their slots, as f32 or rounded to f16. Semantics in core/backend/backend.h; the CUDA twin
 * is kernels/cuda/kv_store.cu.
 * Leaves out: checking the slots (the CPU backend's adapter does, kernels/cpu/backend_cpu.c);
 * quantized caches.
 */
#include <string.h>

#include "cpu_impl.h"

static void store_row(void *cache, lt_dtype kvt, int64_t width, int64_t row, const float *src) {
    if (kvt == LT_F32) {
        memcpy((float *)cache + row * width, src, (size_t)width * sizeof(float));
    } else {
        uint16_t *d = (uint16_t *)cache + row * width;
        for (int64_t i = 0; i < width; i++) d[i] = lt_f32_to_f16(src[i]);
    }
}

void lt_cpu_kv_store(lt_pool *p, void *kc, void *vc, lt_dtype kvt, int64_t width, const float *k, const float *v,
                     const int32_t *slots, int64_t T) {
    LT_ASSERT(kvt == LT_F32 || kvt == LT_F16);
    for (int64_t t = 0; t < T; t++) {
        store_row(kc, kvt, width, slots[t], k + t * width);
        store_row(vc, kvt, width, slots[t], v + t * width);
    }
}
