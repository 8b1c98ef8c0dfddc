/* elementwise.cu - silu_mul, add, and dtype conversion (f32 <-> f16/bf16/q8_0/q4_0; every
 * quantized type -> f32).
 *
 * Quantization runs one thread per 32-element block with the same lt_quant_q8_0/q4_0 as the
 * CPU backend (lt_math.h), so device-quantized weights match host-quantized ones bit for bit.
 * Dequantization is block-wise (matmul_quants.cu, 16 elements per thread, bit-exact to the CPU's
 * lt_quants_get) when the blocks are aligned for it, else one thread per element.
 * Leaves out: vectorized loads for silu_mul/add (these ops are a small share of a step);
 * quantizing to the lt_quants.h types on the device.
 */
#include "cuda_common.cuh"

static __global__ void silu_mul_kernel(float *y, const float *g, const float *u, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = lt_silu(g[i]) * u[i];
}

static __global__ void add_kernel(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

lt_status lt_cuda_silu_mul(lt_backend *be, lt_tensor *y, const lt_tensor *gate, const lt_tensor *up, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t n = lt_tensor_numel(y);
    if (n == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    silu_mul_kernel<<<lt_cu_grid(c, n, 256), 256, 0, c->stream>>>((float *)y->data, (const float *)gate->data,
                                                                  (const float *)up->data, n);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

lt_status lt_cuda_add(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t n = lt_tensor_numel(y);
    if (n == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    add_kernel<<<lt_cu_grid(c, n, 256), 256, 0, c->stream>>>((float *)y->data, (const float *)a->data,
                                                             (const float *)b->data, n);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

/* ---- conversion ---------------------------------------------------------------------------- */

/* dtype rows -> f32, one thread per element (f16/bf16, and blocks that are not aligned for
 * lt_cuda_dequant_blocks). */
static __global__ void dequant_kernel(float *y, const void *x, lt_dtype t, int64_t rows, int64_t cols) {
    size_t rb = lt_row_bytes(t, cols);
    int64_t n = rows * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / cols, j = i % cols;
        y[i] = lt_cu_elem(t, (const char *)x + (size_t)r * rb, j);
    }
}

/* f32 -> f16 or bf16, one thread per element. */
static __global__ void to_half_kernel(uint16_t *y, const float *x, int bf16, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = bf16 ? lt_f32_to_bf16(x[i]) : lt_f32_to_f16(x[i]);
}

/* f32 -> q8_0 / q4_0, one thread per block; x rows are contiguous so block b covers
 * elements [32b, 32b+32) of the flat array and lands at byte b*block_bytes. */
static constexpr int QK = LT_QK8_0; /* elements per block of either type */
static_assert(LT_QK4_0 == QK, "quant_kernel serves q8_0 and q4_0 with one block length");

static __global__ void quant_kernel(void *y, const float *x, lt_dtype t, int64_t nblocks) {
    for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < nblocks; b += (int64_t)gridDim.x * blockDim.x) {
        float v[QK];
        const float4 *src = (const float4 *)(x + b * QK); /* cudaMalloc'd rows of 32 floats: 16-byte aligned */
        for (int i = 0; i < QK / 4; i++) {
            float4 f = src[i];
            v[4 * i] = f.x, v[4 * i + 1] = f.y, v[4 * i + 2] = f.z, v[4 * i + 3] = f.w;
        }
        if (t == LT_Q8_0) lt_quant_q8_0(v, (lt_block_q8_0 *)y + b);
        else lt_quant_q4_0(v, (lt_block_q4_0 *)y + b);
    }
}

static __global__ void quant_kernel_unaligned(void *y, const float *x, lt_dtype t, int64_t nblocks) {
    for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < nblocks; b += (int64_t)gridDim.x * blockDim.x) {
        float v[QK];
        for (int i = 0; i < QK; i++) v[i] = x[b * QK + i];
        if (t == LT_Q8_0) lt_quant_q8_0(v, (lt_block_q8_0 *)y + b);
        else lt_quant_q4_0(v, (lt_block_q4_0 *)y + b);
    }
}

lt_status lt_cuda_f32_to_half(lt_cuda *c, void *dst, lt_dtype dt, const float *src, int64_t n, lt_err *err) {
    if (n == 0) return LT_OK;
    to_half_kernel<<<lt_cu_grid(c, n, 256), 256, 0, c->stream>>>((uint16_t *)dst, src, dt == LT_BF16, n);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

lt_status lt_cuda_convert(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t rows = lt_tensor_rows(x), cols = lt_tensor_cols(x), n = rows * cols;
    if (n == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    const int G = lt_cuda_marlin_group(c, x, "convert", err); /* a gq4 matrix in the W4A16 layout */
    if (G < 0) return LT_EUNSUPPORTED;
    if (G > 0) {
        if (y->dtype != LT_F32 && y->dtype != LT_F16)
            return lt_err_set(err, LT_EUNSUPPORTED,
                              "convert: a %s matrix held in the W4A16 kernel's layout on cuda converts to f32 or "
                              "f16 only, not %s", lt_dtype_name(x->dtype), lt_dtype_name(y->dtype));
        return lt_cuda_marlin_dequant(c, y->data, y->dtype, x->data, G, x->shape[0], x->shape[1], 0, x->shape[0], err);
    }
    const int Gy = lt_cuda_marlin_group(c, y, "convert", err); /* rewritten whole: plain rows again */
    if (Gy < 0) return LT_EUNSUPPORTED;
    if (Gy > 0) lt_marlin_table_forget(&c->marlin, y->data, lt_tensor_nbytes(y));
    if (x->dtype == y->dtype) {
        if (y->data != x->data)
            LT_CUDA_TRY(cudaMemcpyAsync(y->data, x->data, lt_tensor_nbytes(x), cudaMemcpyDeviceToDevice, c->stream),
                        err);
        return LT_OK;
    }
    if (y->dtype == LT_F32) {
        if (lt_cuda_quant_blockwise(x->dtype, x->data) && ((uintptr_t)y->data & 15) == 0)
            return lt_cuda_dequant_blocks(c, y->data, LT_F32, x->data, x->dtype, n, err);
        dequant_kernel<<<lt_cu_grid(c, n, 256), 256, 0, c->stream>>>((float *)y->data, x->data, x->dtype, rows, cols);
        LT_CUDA_LAUNCHED(err);
        return LT_OK;
    }
    const float *src = (const float *)x->data;
    switch (y->dtype) {
    case LT_F16:
    case LT_BF16: return lt_cuda_f32_to_half(c, y->data, y->dtype, src, n, err);
    case LT_Q8_0:
    case LT_Q4_0: {
        int64_t nb = n / lt_dtype_block(y->dtype);
        if (((uintptr_t)src & 15) == 0)
            quant_kernel<<<lt_cu_grid(c, nb, 128), 128, 0, c->stream>>>(y->data, src, y->dtype, nb);
        else
            quant_kernel_unaligned<<<lt_cu_grid(c, nb, 128), 128, 0, c->stream>>>(y->data, src, y->dtype, nb);
        LT_CUDA_LAUNCHED(err);
        return LT_OK;
    }
    default: return lt_err_set(err, LT_EUNSUPPORTED, "convert: f32 to %s is not supported on cuda",
                               lt_dtype_name(y->dtype));
    }
}
