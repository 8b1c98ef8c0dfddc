/* cuda_common.cuh - what every CUDA kernel file shares: the backend object, error macros,
 * scratch buffers, conversions and warp/block reductions, and the op entry points that
 * backend_cuda.cu puts in the lt_backend_ops table.
 *
 * Errors: every CUDA and cuBLAS call goes through LT_CUDA_TRY / LT_CUBLAS_TRY, which turn a
 * failure into an lt_err (LT_ENOMEM for out-of-memory, LT_EDEVICE otherwise) and return;
 * nothing here aborts. After each kernel launch, LT_CUDA_LAUNCHED(err) checks
 * cudaGetLastError. Ops never synchronise: they queue work on the backend's stream.
 * Leaves out: multi-GPU (one backend = one device, one stream).
 */
#ifndef LT_CUDA_COMMON_CUH
#define LT_CUDA_COMMON_CUH

/* System headers first, so the extern "C" block below only wraps lathe's C declarations. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/lt_marlin.h"
#include "kernels/lt_math.h"

extern "C" {
#include "core/base/alloc.h"
#include "core/base/status.h"
#include "core/base/tensor.h"
}
#include "core/backend/backend_impl.h" /* has its own extern "C" guard */

/* ---- errors ------------------------------------------------------------------------------ */

/* Fills err from a failed CUDA call (clearing CUDA's last-error state) and returns the status. */
lt_status lt_cuda_fail(lt_err *err, cudaError_t e, const char *what, const char *file, int line);
lt_status lt_cublas_fail(lt_err *err, cublasStatus_t s, const char *what, const char *file, int line);

#define LT_CUDA_TRY(call, err)                                                               \
    do {                                                                                     \
        cudaError_t e_ = (call);                                                             \
        if (e_ != cudaSuccess) return lt_cuda_fail((err), e_, #call, __FILE__, __LINE__);    \
    } while (0)

#define LT_CUBLAS_TRY(call, err)                                                             \
    do {                                                                                     \
        cublasStatus_t s_ = (call);                                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) return lt_cublas_fail((err), s_, #call, __FILE__, __LINE__); \
    } while (0)

/* After a <<<...>>> launch: reports a bad configuration or an earlier asynchronous fault. */
#define LT_CUDA_LAUNCHED(err) LT_CUDA_TRY(cudaGetLastError(), err)

/* ---- the backend object ------------------------------------------------------------------ */

/* Scratch buffers, one per use, each grown on demand (stream-ordered, no synchronisation).
 * Two uses in flight within one op never share a slot; consecutive ops may reuse a slot
 * because everything runs in order on one stream. */
enum {
    LT_CUDA_SCR_ACT = 0, /* matmul: activations converted to f16/bf16 */
    LT_CUDA_SCR_WTILE,   /* matmul: quantized weight tile dequantized to f16 */
    LT_CUDA_SCR_ATTN,    /* attention: partial (max, sum, acc) of each context split */
    LT_CUDA_SCR_SPLITK,  /* matmul_marlin.cu: the k-splits' partial [T, N] */
    LT_CUDA_SCR_LOWRANK, /* lowrank: x . v^T [T, R] */
    LT_CUDA_SCR_COUNT
};

#define LT_CUDA_MAX_RETIRED 32

typedef struct lt_cuda {
    lt_backend base; /* first: an lt_backend * points here */
    int device;
    int sm_count;
    int cc_major;     /* compute capability: the W4A16 kernel needs 8.x (mma.sync, cp.async) */
    bool async_alloc; /* cudaMallocAsync is available (device memory pools) */
    cudaStream_t stream;
    cublasHandle_t blas;
    void *scr[LT_CUDA_SCR_COUNT];
    size_t scr_bytes[LT_CUDA_SCR_COUNT];
    /* A captured graph keeps the scratch pointers its ops used. A slot used while capturing
     * is pinned: when it grows later, its old buffer is retired (kept, not freed) until no
     * graph is left, so a replay never reads freed memory. */
    bool scr_pinned[LT_CUDA_SCR_COUNT];
    void *retired[LT_CUDA_MAX_RETIRED];
    int n_retired, n_graphs;
    /* the gq4 matrices uploaded in the W4A16 layout (whole tensors, by data pointer); marlin_off:
     * LATHE_CUDA_MARLIN=0 keeps every gq4 matrix in rows (the GEMV, for comparisons) */
    lt_marlin_table marlin;
    bool marlin_off;
    /* cudaMalloc'd blocks and their sizes, so that a release forgets the packed matrices that
     * lived in it (the op passes the pointer alone) */
    struct lt_cuda_block {
        void *p;
        size_t bytes;
    } *blocks;
    int n_blocks, cap_blocks;
} lt_cuda;

static inline lt_cuda *lt_cuda_of(lt_backend *be) { return (lt_cuda *)be; }

/* Makes this backend's device current on the calling thread (ops may come from any thread). */
lt_status lt_cuda_enter(lt_cuda *c, lt_err *err);

/* A scratch buffer of at least bytes in slot; the old contents are not kept. */
lt_status lt_cuda_scratch(lt_cuda *c, int slot, size_t bytes, void **out, lt_err *err);

/* ---- device helpers ---------------------------------------------------------------------- */

/* Hardware half -> float (bit-identical to lt_f16_to_f32, which is the spec). */
static __device__ __forceinline__ float lt_cu_h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }

/* One element j of a row of dtype t (any dtype but I32), as f32. */
static __device__ __forceinline__ float lt_cu_elem(lt_dtype t, const void *row, int64_t j) {
    switch (t) {
    case LT_F32: return ((const float *)row)[j];
    case LT_F16: return lt_cu_h2f(((const uint16_t *)row)[j]);
    case LT_BF16: return lt_bf16_to_f32(((const uint16_t *)row)[j]);
    case LT_Q8_0: return lt_q8_0_get((const lt_block_q8_0 *)row + j / LT_QK8_0, (int)(j % LT_QK8_0));
    case LT_Q4_0: return lt_q4_0_get((const lt_block_q4_0 *)row + j / LT_QK4_0, (int)(j % LT_QK4_0));
    default: return lt_quants_get(t, row, j); /* the lt_quants.h types (NaN for i32) */
    }
}

static __device__ __forceinline__ float lt_cu_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float lt_cu_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
 * sh must hold 32 floats; the call contains __syncthreads, so all threads must reach it. */
static __device__ __forceinline__ float lt_cu_block_sum(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = lt_cu_warp_sum(v);
    __syncthreads(); /* sh may still be read from a previous call */
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return lt_cu_warp_sum(v);
}

static __device__ __forceinline__ float lt_cu_block_max(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = lt_cu_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return lt_cu_warp_max(v);
}

static inline unsigned lt_cu_blocks(int64_t n, int per) { return (unsigned)((n + per - 1) / per); }

/* Grid size for grid-stride loops over n items: enough blocks to fill the device. */
static inline unsigned lt_cu_grid(const lt_cuda *c, int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads, cap = (int64_t)c->sm_count * 16;
    if (b > cap) b = cap;
    return (unsigned)(b < 1 ? 1 : b);
}

/* ---- op entry points (one .cu file each; semantics in core/backend/backend.h) ---------------------- */

lt_status lt_cuda_get_rows(lt_backend *be, lt_tensor *y, const lt_tensor *table, const lt_tensor *ids, lt_err *err);
lt_status lt_cuda_lowrank(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *v, float alpha,
                          lt_err *err);
lt_status lt_cuda_matmul(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *bias,
                         lt_err *err);
lt_status lt_cuda_rmsnorm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, float eps, lt_err *err);
lt_status lt_cuda_rope(lt_backend *be, lt_tensor *x, const lt_tensor *pos, const lt_tensor *freqs, int n_heads,
                       int head_dim, bool neox, float scale, lt_err *err);
lt_status lt_cuda_silu_mul(lt_backend *be, lt_tensor *y, const lt_tensor *gate, const lt_tensor *up, lt_err *err);
lt_status lt_cuda_add(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b, lt_err *err);
lt_status lt_cuda_convert(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err);
lt_status lt_cuda_kv_store(lt_backend *be, lt_tensor *kc, lt_tensor *vc, const lt_tensor *k, const lt_tensor *v,
                           const lt_tensor *slots, lt_err *err);
lt_status lt_cuda_attention(lt_backend *be, lt_tensor *out, const lt_tensor *q, const lt_tensor *kc,
                            const lt_tensor *vc, const lt_attn_meta *m, lt_err *err);
lt_status lt_cuda_attn_merge(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *o2,
                             const lt_tensor *lse2, lt_err *err);
lt_status lt_cuda_argmax(lt_backend *be, lt_tensor *out, const lt_tensor *x, lt_err *err);

/* Shared by matmul.cu: f32 rows -> f16 or bf16 (dt) rows, n elements, on the stream. */
lt_status lt_cuda_f32_to_half(lt_cuda *c, void *dst, lt_dtype dt, const float *src, int64_t n, lt_err *err);

/* matmul_quants.cu: block-wise kernels for the quantized types with an unpack in
 * kernels/lt_quants_unpack.h (q8_0, q4_0 and GGML's other types).
 * lt_cuda_quant_blockwise: t has one and p (a block) is aligned for its loads (4 or 2 bytes).
 * lt_cuda_gemv_blocks: y[T,N] = x[T,K] . w[N,K]^T (+ bias) for T <= 8 and the lt_quants.h
 * types (not q8_0 / q4_0, which matmul.cu serves), x 16-byte aligned.
 * lt_cuda_dequant_blocks: n elements (whole blocks) of dtype st at src -> dst as dt (LT_F16 or
 * LT_F32), dst 16-byte aligned; f32 is bit-exact to lt_quants_get. */
bool lt_cuda_quant_blockwise(lt_dtype t, const void *p);
lt_status lt_cuda_gemv_blocks(lt_cuda *c, float *y, const float *x, const void *w, lt_dtype wt, const float *bias,
                              int T, int64_t N, int K, lt_err *err);
lt_status lt_cuda_dequant_blocks(lt_cuda *c, void *dst, lt_dtype dt, const void *src, lt_dtype st, int64_t n,
                                 lt_err *err);
/* matmul_marlin.cu: the W4A16 kernel of the gq4 types over kernels/lt_marlin.h's layout and
 * the table of packed tensors that keeps the layout invisible.
 * lt_cuda_matmul_marlin: y[T,N] = x[T,K] . w^T (+ bias), 1 <= T <= LT_MARLIN_MAX_T, w packed.
 * lt_cuda_marlin_dequant: rows [n0, n0 + rows) of a packed w -> dst [rows, K] as dt (f16/f32).
 * lt_cuda_marlin_get_rows: y[i,:] = w[ids[i],:] as f32 (an id outside [0, N): zeros).
 * lt_cuda_marlin_group: 0 when t is not packed, its group size G when t is exactly a packed
 * matrix, -1 with err ("OP: ...") when t overlaps one without being it.
 * lt_cuda_marlin_upload: uploads a whole tensor packed when it is a gq4 matrix the layout holds
 * (*done true), else leaves it to a plain copy (*done false).
 * lt_cuda_marlin_download: the whole packed entry i back into host as gq4 rows; refuses a part.
 * The table itself (find, forget, the rule for plain writes) is lt_marlin_table (lt_marlin.h). */
lt_status lt_cuda_matmul_marlin(lt_cuda *c, float *y, const float *x, const void *w, int G, const float *bias, int T,
                                int64_t N, int64_t K, lt_err *err);
lt_status lt_cuda_marlin_dequant(lt_cuda *c, void *dst, lt_dtype dt, const void *w, int G, int64_t N, int64_t K,
                                 int64_t n0, int64_t rows, lt_err *err);
lt_status lt_cuda_marlin_get_rows(lt_cuda *c, float *y, const void *w, int G, int64_t N, int64_t K,
                                  const int32_t *ids, int64_t n, lt_err *err);
int lt_cuda_marlin_group(const lt_cuda *c, const lt_tensor *t, const char *op, lt_err *err);
lt_status lt_cuda_marlin_upload(lt_cuda *c, lt_tensor *t, const void *host, bool *done, lt_err *err);
lt_status lt_cuda_marlin_download(lt_cuda *c, int i, void *host, const void *src, size_t bytes, lt_err *err);

/* matmul_s24.cu: the GEMV (T <= 8) of the 2:4 sparse types, reading only the kept values;
 * lt_cuda_s24_gemv_ok: t is s24_f16 (w 2-byte aligned) or s24_q4 (4-byte aligned). */
bool lt_cuda_s24_gemv_ok(lt_dtype t, const void *w);
lt_status lt_cuda_gemv_s24(lt_cuda *c, float *y, const float *x, const void *w, lt_dtype wt, const float *bias, int T,
                           int64_t N, int K, lt_err *err);
/* matmul_s24.cu: prefill of s24_f16 on the sparse tensor cores (mma.sp m16n8k32, kernels/lt_s24mma.h),
 * bias included; lt_cuda_s24_mma_ok: an sm_80+ device, t is s24_f16 (w 2-byte aligned) and T > GEMV_MAX_T. */
bool lt_cuda_s24_mma_ok(const lt_cuda *c, lt_dtype t, const void *w, int T);
lt_status lt_cuda_matmul_s24_mma(lt_cuda *c, float *y, const float *x, const void *w, const float *bias, int T,
                                 int64_t N, int K, lt_err *err);

#endif
