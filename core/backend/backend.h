/* backend.h - devices and the op table, as seen by model code: the public header of
 * core/backend.
 *
 * A backend (CPU or CUDA) owns device memory and runs ops. Model code calls the lt_op_*
 * functions below with lt_tensors; each wrapper checks dtypes and shapes once (so a
 * backend never sees a malformed call) and dispatches through the backend's table
 * (core/backend/backend_impl.h). Ops may run asynchronously (CUDA stream order);
 * lt_backend_sync and lt_tensor_get wait. Nothing here knows which device runs an op.
 *
 * Memory is taken from a backend in large pieces by lt_arena (weights, scratch) and by
 * the KV cache; every allocation is tagged with a category for the memory meters.
 *
 * Implemented in core/backend/: backend.c (creation by name, memory, sync, transfers),
 * arena.c (arenas), capture.c (op capture), ops.c (the lt_op_* wrappers).
 * Leaves out: the kernels (kernels/cpu, kernels/cuda) and the KV cache (core/llm).
 */
#ifndef LT_BACKEND_H
#define LT_BACKEND_H

#include <stdbool.h>

#include "core/base/tensor.h"
#include "kernels/lt_vision.h" /* lt_act, lt_yolo_head */

typedef enum lt_mem_cat {
    LT_MEM_WEIGHTS = 0,
    LT_MEM_KV,
    LT_MEM_SCRATCH,
    LT_MEM_OTHER,
    LT_MEM_CAT_COUNT
} lt_mem_cat;

typedef struct lt_backend_opts {
    int n_threads; /* CPU worker threads; 0 = number of online cores */
    int device;    /* CUDA device ordinal */
} lt_backend_opts;

/* Creates a backend by name: "cpu", "cuda" or "auto" (cuda when its module loads and a
 * device is present, else cpu, quietly: lt_backend_cuda_status keeps the reason). A missing
 * module or GPU is an LT_EUNSUPPORTED error naming why ("device cuda: the CUDA module
 * liblathe-cuda.so was not found (looked in: ...)"). "cpu" never loads the CUDA module. */
lt_status lt_backend_create(lt_backend **out, const char *name, const lt_backend_opts *opts,
                            lt_err *err);
void lt_backend_free(lt_backend *be); /* NULL is a no-op */

/* ---- the CUDA backend is a module loaded at run time -----------------------------------
 * liblathe-cuda.so (kernels/cuda) holds the CUDA backend and is the only thing that links the
 * CUDA libraries. It is loaded the first time "cuda" or "auto" is asked for (never for
 * "cpu"), from the file $LATHE_CUDA_MODULE when that is set, else from the folder of the
 * running executable, else from the build folder this lathe was configured in. Loading is
 * tried once per process; the result (and why it failed) is kept. Thread-safe. */
typedef enum lt_module_state {
    LT_MODULE_UNTRIED = 0,  /* not looked for yet */
    LT_MODULE_NOT_FOUND,    /* no file in the search path */
    LT_MODULE_LOAD_FAILED,  /* dlopen failed: a missing CUDA library, a bad file, no memory */
    LT_MODULE_NOT_A_MODULE, /* loaded, but it has no lt_cuda_module_entry */
    LT_MODULE_ABI_MISMATCH, /* built from another version of lathe */
    LT_MODULE_NO_DEVICE,    /* loaded; no usable device (or no driver) */
    LT_MODULE_READY,        /* loaded, at least one device */
} lt_module_state;

/* True when the CUDA module loads and a device is usable (loads it when not tried yet). */
bool lt_backend_cuda_available(void);

/* The CUDA module's state, and one line about it in buf (when buf is not NULL):
 * "module PATH loaded, 1 device (CUDA runtime 13.0, driver 13.0)",
 * "module PATH loaded, 0 devices: cudaGetDeviceCount: ... (...)", "not available: REASON",
 * or, when probe is false and nothing has asked for it, "not loaded (only --device cuda or
 * auto loads it)". probe: look for and load the module now if that was not tried yet. */
lt_module_state lt_backend_cuda_status(bool probe, char *buf, size_t cap);
/* A few words for narrow panes: "module not found", "module failed to load", "no device". */
const char *lt_module_state_brief(lt_module_state s);
/* True when this build produced liblathe-cuda.so (configured with nvcc, LATHE_CUDA not OFF). */
bool lt_backend_cuda_built(void);

const char *lt_backend_name(const lt_backend *be);    /* "cpu" / "cuda" */
const char *lt_backend_device(const lt_backend *be);  /* "AMD EPYC (2 threads)", "NVIDIA H200" */
bool lt_backend_is_host(const lt_backend *be);        /* data pointers are host pointers */
int lt_backend_threads(const lt_backend *be);
/* The dtype a weight matrix of dtype dt and shape [rows, cols] that is only ever multiplied
 * (lt_op_matmul: not a get_rows table, never read back as rows) is best held in on this backend:
 * LT_Q4_0_R8 for q4_0 with rows a multiple of 8 on the CPU backend (its interleaved layout;
 * LT_CPU_Q4_0_PLAIN=1 in the environment keeps q4_0), dt itself otherwise. The bytes of such a
 * tensor come from lt_q4_0_r8_pack (core/base/quants.h). */
lt_dtype lt_backend_matrix_dtype(const lt_backend *be, lt_dtype dt, int64_t rows, int64_t cols);

/* Device memory: free and total bytes (host RAM for the CPU backend), and what lathe holds
 * per category. */
lt_status lt_backend_mem_info(lt_backend *be, size_t *free_b, size_t *total_b, lt_err *err);
size_t lt_backend_mem_used(const lt_backend *be, lt_mem_cat cat);
/* Of what a host backend holds for cat, the bytes resident in RAM now (mincore: pages never
 * touched, or swapped out, do not count); 0 on a device. */
size_t lt_backend_mem_resident(const lt_backend *be, lt_mem_cat cat);

/* Raw device memory. Failing allocations say how much was asked and how much was free. */
lt_status lt_backend_alloc(lt_backend *be, size_t bytes, lt_mem_cat cat, void **out, lt_err *err);
void lt_backend_release(lt_backend *be, void *ptr, size_t bytes, lt_mem_cat cat);

/* Waits for all queued work. */
lt_status lt_backend_sync(lt_backend *be, lt_err *err);

/* Host <-> tensor transfers of whole tensors (bytes must equal lt_tensor_nbytes), and
 * byte ranges. lt_tensor_get waits for queued work first. A backend may keep a whole tensor
 * set with lt_tensor_set in a layout of its own for its kernels (CUDA: gq4 matrices for the
 * W4A16 kernel); its ops and lt_tensor_get still see the tensor's bytes, and a range transfer
 * over part of such a tensor fails with LT_EUNSUPPORTED (set or get the whole tensor). */
lt_status lt_tensor_set(lt_tensor *t, const void *host, size_t bytes, lt_err *err);
lt_status lt_tensor_get(const lt_tensor *t, void *host, size_t bytes, lt_err *err);
lt_status lt_tensor_set_range(lt_tensor *t, size_t offset, const void *host, size_t bytes, lt_err *err);
lt_status lt_tensor_get_range(const lt_tensor *t, size_t offset, void *host, size_t bytes, lt_err *err);
/* Device-side copy of bytes between tensors of the same backend. */
lt_status lt_tensor_copy_range(lt_tensor *dst, size_t dst_off, const lt_tensor *src, size_t src_off,
                               size_t bytes, lt_err *err);

/* ---- arenas: one allocation, many tensors (weights, per-step scratch) ---------------- */

typedef struct lt_arena lt_arena;

lt_status lt_arena_create(lt_arena **out, lt_backend *be, size_t bytes, lt_mem_cat cat, lt_err *err);
void lt_arena_free(lt_arena *a); /* NULL is a no-op */
/* Carves a tensor (256-byte aligned). Running out is LT_ENOMEM naming the sizes. */
lt_status lt_arena_tensor(lt_arena *a, lt_tensor *out, lt_dtype dt, int ndim, const int64_t *shape,
                          lt_err *err);
void lt_arena_reset(lt_arena *a);
size_t lt_arena_used(const lt_arena *a);
size_t lt_arena_size(const lt_arena *a);
/* Bytes an arena needs to hold a tensor of this size (alignment included). */
size_t lt_arena_need(lt_dtype dt, int ndim, const int64_t *shape);

/* ---- op capture (CUDA graphs) ----------------------------------------------------------
 * A backend that can record ops (CUDA) turns the ops issued between capture_begin and
 * capture_end into a graph; graph_launch replays it with one launch: the same kernels with
 * the same arguments (so the same tensors and shapes), reading whatever the tensors hold at
 * replay time. While capturing, host transfers (lt_tensor_set/get), syncs and allocations
 * are errors, and an op that would have to grow a scratch buffer fails: run the sequence
 * once without capture first. After a successful capture_begin, always call capture_end:
 * with g NULL it abandons the recording; with *g holding an earlier graph, that graph is
 * updated in place when its shape allows (cheap), else replaced. */
typedef struct lt_graph lt_graph;

bool lt_backend_can_capture(const lt_backend *be);
lt_status lt_backend_capture_begin(lt_backend *be, lt_err *err);
lt_status lt_backend_capture_end(lt_backend *be, lt_graph **g, lt_err *err);
lt_status lt_backend_graph_launch(lt_backend *be, lt_graph *g, lt_err *err);
void lt_backend_graph_free(lt_backend *be, lt_graph *g); /* NULL g is a no-op */

/* ---- ops ------------------------------------------------------------------------------- */

/* y[i,:] = f32(table[ids[i],:]).  table [R, D] any dtype, ids [T] i32, y [T, D] f32.
 * Used for token embedding and for gathering rows (e.g. the rows that need logits). */
lt_status lt_op_get_rows(lt_backend *be, lt_tensor *y, const lt_tensor *table, const lt_tensor *ids,
                         lt_err *err);

/* y = x . w^T (+ bias).  x [T, K] f32, w [N, K] any dtype, bias [N] f32 or NULL, y [T, N] f32.
 * Quantized w may be computed with x quantized to 8 bits per block (as GGML does). */
lt_status lt_op_matmul(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w,
                       const lt_tensor *bias, lt_err *err);

/* y += alpha . (x . v^T) . v: a rank-R update through one stored factor.  x, y [T, K] f32 (y may
 * alias x: the update uses x as it was), v [R, K] f32, f16 or bf16.  SliceGPT's low-rank
 * shortcuts x - (x V^T) V are this with y = x and alpha = -1; v is read once. */
lt_status lt_op_lowrank(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *v, float alpha,
                        lt_err *err);

/* y = x / sqrt(mean(x^2) + eps) * w, per row.  x, y [T, D] f32 (may alias), w [D] f32. */
lt_status lt_op_rmsnorm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, float eps,
                        lt_err *err);

/* Rotary embedding in place on x [T, n_heads*head_dim] f32 at positions pos [T] i32.
 * freqs [n_rot/2] f32 are the per-pair inverse frequencies (rope scaling already applied by
 * the caller); their count gives the rotated dimensions n_rot <= head_dim: the first n_rot of
 * each head rotate, the rest pass through (partial rotary, llama.cpp's n_rot, transformers'
 * partial_rotary_factor). neox=false rotates adjacent pairs (2i, 2i+1) (GGUF llama,
 * llama2.c); neox=true rotates (i, i+n_rot/2) (Hugging Face, GGUF qwen2). cos and sin are
 * multiplied by scale (1 = plain rope; YaRN's and LongRoPE's attention factor, ggml's
 * attn_factor): the rotated dimensions grow by it, the passed-through ones do not. */
lt_status lt_op_rope(lt_backend *be, lt_tensor *x, const lt_tensor *pos, const lt_tensor *freqs,
                     int n_heads, int head_dim, bool neox, float scale, lt_err *err);

/* y = silu(gate) * up, elementwise, f32 (y may alias gate or up). */
lt_status lt_op_silu_mul(lt_backend *be, lt_tensor *y, const lt_tensor *gate, const lt_tensor *up,
                         lt_err *err);

/* y = a + b, elementwise, f32 (y may alias a or b). */
lt_status lt_op_add(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b, lt_err *err);

/* Writes rows of k, v [T, KVH*Dh] f32 into a layer's block pools kc, vc [n_blocks*block_size,
 * KVH*Dh] (f32 or f16) at rows slots [T] i32 (slot = block * block_size + offset). */
lt_status lt_op_kv_store(lt_backend *be, lt_tensor *kc, lt_tensor *vc, const lt_tensor *k,
                         const lt_tensor *v, const lt_tensor *slots, lt_err *err);

/* Paged attention. For each query token t (row of q [T, n_heads*head_dim] f32), over the
 * first tok_ctx[t] positions of the sequence whose block table is row tok_seq[t] of
 * block_tables [S, max_blocks] i32: softmax(scale * q.k) . v, with GQA (query head h reads
 * kv head h / (n_heads / n_kv_heads)). Causality is expressed by tok_ctx (pos + 1).
 * Implementations may split the context and merge partial (max, sum, acc) exactly. */
typedef struct lt_attn_meta {
    const lt_tensor *tok_seq;      /* [T] i32 */
    const lt_tensor *tok_ctx;      /* [T] i32, each in [1, max_blocks*block_size] */
    const lt_tensor *block_tables; /* [S, max_blocks] i32 */
    int n_heads, n_kv_heads, head_dim, block_size;
    float scale;
    int max_ctx; /* host-known upper bound of tok_ctx (for planning), > 0 */
    /* Sliding window: a token with context c sees positions max(0, c - window) .. c-1;
     * 0 = all c positions. */
    int window;
    /* Partial attention (a context split between pools, e.g. the KV cache's device and host
     * blocks): when lse is set ([T, n_heads] f32), each (token, head) also gets the natural
     * log of its softmax denominator, max + log(sum) over the positions seen (-inf when it
     * saw none; its output row is then 0), and a negative block-table entry is a block held
     * elsewhere: its positions are skipped. Two such partials of disjoint position sets
     * merge exactly with lt_op_attn_merge. Without lse every entry must name a block. */
    lt_tensor *lse;
    /* A batch that is one sequence's consecutive positions may be computed by GEMMs (the CPU);
     * a token's rounding then depends on the batch's shape, so only runs that do not need a
     * batch-independent result ask (calibration: models/llama.c under a probe). */
    bool prompt_gemm;
} lt_attn_meta;

lt_status lt_op_attention(lt_backend *be, lt_tensor *out, const lt_tensor *q, const lt_tensor *kc,
                          const lt_tensor *vc, const lt_attn_meta *m, lt_err *err);

/* Merges two partial attentions over disjoint position sets (lt_attn_meta.lse): out, lse
 * [T, H*Dh] / [T, H] f32 hold one partial and receive the merge; o2, lse2 the other:
 * M = max(lse, lse2), w = e^(lse - M), w2 = e^(lse2 - M),
 * out = (w out + w2 o2) / (w + w2), lse = M + log(w + w2) (rows where both are -inf: 0, -inf). */
lt_status lt_op_attn_merge(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *o2,
                           const lt_tensor *lse2, lt_err *err);

/* out[t] = argmax over row t of x [T, N] f32 (lowest index on ties; NaN is never chosen, a
 * row of only NaN gives 0); out [T] i32. */
lt_status lt_op_argmax(lt_backend *be, lt_tensor *out, const lt_tensor *x, lt_err *err);

/* Converts f32 rows to a weight dtype or back (y and x same shape, one of them f32).
 * Used to quantize weights on the device and by tests. */
lt_status lt_op_convert(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err);

/* ---- vision ops (detection): feature maps are NCHW f32 [N, C, H, W] ------------------------ */

typedef struct lt_conv2d_params {
    int stride, pad, groups; /* square kernels; pad on every side */
    lt_act act;              /* applied after the bias */
    int pad_extra;           /* more zero rows below and columns right of the input (0 usually;
                                diffusers' downsample_padding=0 is pad 0, pad_extra 1) */
} lt_conv2d_params;

/* Bytes of workspace lt_op_conv2d needs for input x [N,C,H,W] and weight w [OC,C/groups,K,K]
 * (0: none). It holds one image's im2col matrix, so it does not grow with N. */
size_t lt_conv2d_work_bytes(const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p);

/* y = act(conv2d(x, w) + bias).  x [N,C,H,W], w [OC, C/groups, K, K] f32, bias [OC] f32 or
 * NULL, y [N, OC, OH, OW] with OH = (H + 2*pad + pad_extra - K)/stride + 1. groups == C == OC is a
 * depthwise convolution. work: a tensor of at least lt_conv2d_work_bytes bytes, or NULL when
 * that is 0. y may not alias x. */
lt_status lt_op_conv2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *bias,
                       const lt_conv2d_params *p, lt_tensor *work, lt_err *err);

/* darknet's max pool: y [N,C,OH,OW], OH = (H + pad - size)/stride + 1, windows start at
 * -pad/2; cells outside the input are ignored. */
lt_status lt_op_maxpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, int size, int stride, int pad,
                          lt_err *err);

/* Global average pool: y [N,C,1,1] = mean over H, W of x [N,C,H,W]. */
lt_status lt_op_avgpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err);

/* Nearest-neighbour upsample by an integer stride, times scale: y [N,C,H*s,W*s]. */
lt_status lt_op_upsample(lt_backend *be, lt_tensor *y, const lt_tensor *x, int stride, float scale, lt_err *err);

/* Channel-range copy, the building block of concatenation (darknet's route): channels
 * [x_c0, x_c0+n_c) of x [N,XC,H,W] go to channels [y_c0, y_c0+n_c) of y [N,YC,H,W]. */
lt_status lt_op_concat(lt_backend *be, lt_tensor *y, const lt_tensor *x, int y_c0, int x_c0, int n_c,
                       lt_err *err);

/* y = act(x), elementwise f32 (y may alias x). */
lt_status lt_op_activate(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_act act, lt_err *err);

/* Decodes a YOLO head: x [N, A*(5+classes), H, W] raw output -> y [N, H*W*A, 5+classes], row
 * (cell i = row*W+col, anchor a) at i*A + a: box centre x, y and w, h relative to the
 * network input, objectness, objectness * p(class) (darknet's yolo layer + get_yolo_box). */
lt_status lt_op_yolo_decode(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_yolo_head *h, lt_err *err);

/* Per-class greedy NMS over n boxes sorted by descending score: keep[i] = 1 unless an
 * earlier kept box j of the same class overlaps box i with IoU > iou, or (contain > 0)
 * covers more than contain of the smaller box's area; else 0. boxes [n, 4] f32 (left, top,
 * width, height), classes [n] i32, keep [n] i32. */
lt_status lt_op_nms(lt_backend *be, lt_tensor *keep, const lt_tensor *boxes, const lt_tensor *classes, float iou,
                    float contain, lt_err *err);

/* ---- diffusion ops (UNet2DModel): NCHW f32 ----------------------------------------------------- */

/* Group normalization (PyTorch's GroupNorm): the C channels of each image form `groups` runs of
 * C/groups channels; each run's values are normalized by their mean and biased variance, then
 * y = act((x - mean) / sqrt(var + eps) * gamma[c] + beta[c]). x, y [N, C, H, W] f32 (may alias),
 * gamma, beta f32 [C] or NULL (1 and 0). */
lt_status lt_op_group_norm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *gamma,
                           const lt_tensor *beta, int groups, float eps, lt_act act, lt_err *err);

/* Conditioning a feature map per image and channel (a UNet's time embedding): x, y [N, C, H, W]
 * f32 (may alias). scale_shift false: y = act(x + t[n, c]), t [N, C]; true: y = act(x * (1 +
 * t[n, c]) + t[n, C + c]), t [N, 2C] (diffusers' "scale_shift": the scale half first). */
lt_status lt_op_channel_affine(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *t,
                               bool scale_shift, lt_act act, lt_err *err);

/* Non-causal multi-head self-attention over the T = H*W positions of each image, channel-major
 * as a 1x1 convolution writes it: qkv [N, 3C, H, W] f32 holds q (channels 0..C-1), k (C..2C-1)
 * and v (2C..3C-1); head h owns channels h*D..h*D+D-1 of each, D = C/n_heads. y [N, C, H, W]:
 * y[n, hD+d, i] = sum_j softmax_j(scale * q_i . k_j) v[d, j] (softmax in f32). */
lt_status lt_op_self_attention(lt_backend *be, lt_tensor *y, const lt_tensor *qkv, int n_heads, float scale,
                               lt_err *err);

#endif
