/* get_rows.cu - y[i,:] = f32(table[ids[i],:]) for any table dtype (token embedding, row gather).
 *
 * One thread block per output row. An id outside [0, rows) yields a zero row (the device
 * cannot report it without synchronising; the CPU backend validates ids on the host).
 */
#include "cuda_common.cuh"

static __global__ void get_rows_kernel(float *y, const void *table, lt_dtype t, int64_t rows, int64_t cols,
                                       const int32_t *ids) {
    int64_t i = blockIdx.x;
    int32_t id = ids[i];
    float *dst = y + i * cols;
    if (id < 0 || id >= rows) {
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dst[j] = 0.0f;
        return;
    }
    const char *row = (const char *)table + (size_t)id * lt_row_bytes(t, cols);
    if (t == LT_F32) {
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dst[j] = ((const float *)row)[j];
    } else {
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dst[j] = lt_cu_elem(t, row, j);
    }
}

lt_status lt_cuda_get_rows(lt_backend *be, lt_tensor *y, const lt_tensor *table, const lt_tensor *ids, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t n = ids->shape[0], cols = table->shape[1];
    if (n == 0 || cols == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    const int G = lt_cuda_marlin_group(c, table, "get_rows", err); /* a gq4 table in the W4A16 layout */
    if (G < 0) return LT_EUNSUPPORTED;
    if (G > 0)
        return lt_cuda_marlin_get_rows(c, (float *)y->data, table->data, G, table->shape[0], cols,
                                       (const int32_t *)ids->data, n, err);
    int threads = cols >= 256 ? 256 : 64;
    get_rows_kernel<<<(unsigned)n, threads, 0, c->stream>>>((float *)y->data, table->data, table->dtype,
                                                            table->shape[0], cols, (const int32_t *)ids->data);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}
