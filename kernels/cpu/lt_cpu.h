/* lt_cpu.h - CPU kernels on raw pointers, and the thread pool they run on.
 *
 * These are the reference every other backend is tested against, and the CPU fast paths
 * (AVX2/F16C/FMA and AVX-512 VNNI chosen at run time, OpenBLAS sgemm for multi-row f32
 * products). All matrices are row-major; a weight w is [N, K] with rows in its dtype's layout
 * (lt_math.h).
 * Functions that take a pool split work across its threads; the caller's thread works too.
 * Each op's kernel is in the file named after it, as its CUDA twin in kernels/cuda is
 * (norm.c / norm.cu); the comments below name the file. The adapters from lt_tensor
 * arguments and the op table are in backend_cpu.c.
 * Leaves out: tensors, shape checks and errors (core/backend/ops.c checks arguments first).
 */
#ifndef LT_CPU_H
#define LT_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/cpu.h"
#include "core/base/status.h"
#include "kernels/lt_math.h"

/* ---- thread pool (pool.c) ------------------------------------------------------------------ */

typedef struct lt_pool lt_pool;

lt_status lt_pool_create(lt_pool **out, int n_threads /* 0 = online cores */, lt_err *err);
void lt_pool_free(lt_pool *p); /* NULL is a no-op */
int lt_pool_threads(const lt_pool *p);
/* Runs fn(ctx, ith, nth) for ith = 0..nth-1 on the pool's threads (the caller is thread 0)
 * and returns when all are done. Each ith runs exactly once, but not necessarily
 * concurrently: the caller also runs any ith that no worker has picked up by the time it
 * finishes its own (so fn must never wait for another ith). p may be NULL: runs
 * fn(ctx, 0, 1). Not reentrant. */
void lt_pool_run(lt_pool *p, void (*fn)(void *ctx, int ith, int nth), void *ctx);

/* lt_cpu_set_simd / lt_cpu_simd (turning the SIMD fast paths off for tests): core/base/cpu.h */

/* ---- conversion (quant.c) ------------------------------------------------------------------- */

/* One row of n elements (n a multiple of the block size) between f32 and dtype t: the dtype
 * table's conversions (core/base/dtype.h) with SIMD fast paths that give the same bits. */
void lt_cpu_dequant_row(lt_dtype t, const void *src, float *dst, int64_t n);
void lt_cpu_quant_row(lt_dtype t, const float *src, void *dst, int64_t n);

/* ---- ops (see core/backend/backend.h for the semantics) ------------------------------------- */

/* get_rows.c */
void lt_cpu_get_rows(lt_pool *p, float *y, const void *table, lt_dtype t, int64_t cols, const int32_t *ids,
                     int64_t n);
/* matmul.c: y[T,N] = x[T,K] . w[N,K]^T (+ bias[N]). */
void lt_cpu_matmul(lt_pool *p, float *y, const float *x, const void *w, lt_dtype wt, const float *bias, int64_t T,
                   int64_t N, int64_t K);
/* lowrank.c: y[T,K] += alpha . (x[T,K] . v^T) . v, v [R, K] f32, f16 or bf16; y may alias x.
 * _prepare reserves the pool's scratch (false when out of memory; without it the call allocates
 * its own and aborts if it cannot); _scratch is its size in bytes. */
void lt_cpu_lowrank(lt_pool *p, float *y, const float *x, const void *v, lt_dtype vt, float alpha, int64_t T, int64_t K,
                    int64_t R);
bool lt_cpu_lowrank_prepare(lt_pool *p, lt_dtype vt, int64_t T, int64_t K, int64_t R);
size_t lt_cpu_lowrank_scratch(int64_t T, int64_t K, int64_t R, int n_threads);
/* Reserves the pool's scratch memory lt_cpu_matmul needs for this dtype and T (quantized
 * activations, widened weight rows); false when out of memory. lt_cpu_matmul on a pool
 * without the reservation allocates it itself and aborts if it cannot. */
bool lt_cpu_matmul_prepare(lt_pool *p, lt_dtype wt, int64_t T, int64_t K);
/* Bytes of that scratch memory. */
size_t lt_cpu_matmul_scratch(lt_dtype wt, int64_t T, int64_t K, int n_threads);
/* matmul_q4r8.c: the dtype lt_cpu_matmul reads a matmul-only weight of dt [rows, cols] fastest in
 * (the backend's matrix_dtype slot): LT_Q4_0_R8 for q4_0 with rows a multiple of 8, unless the
 * environment has LT_CPU_Q4_0_PLAIN=1 (read once); dt otherwise. */
lt_dtype lt_cpu_matrix_dtype(lt_dtype dt, int64_t rows, int64_t cols);
/* norm.c */
void lt_cpu_rmsnorm(lt_pool *p, float *y, const float *x, const float *w, int64_t T, int64_t D, float eps);
/* rope.c */
/* the first n_rot (even, <= head_dim) dimensions of each head rotate; freqs [n_rot/2]; cos
 * and sin times scale */
void lt_cpu_rope(lt_pool *p, float *x, const int32_t *pos, const float *freqs, int64_t T, int n_heads, int head_dim,
                 int n_rot, bool neox, float scale);
/* elementwise.c; convert: rows of cols elements from dtype xt to yt, one of them f32 */
void lt_cpu_silu_mul(lt_pool *p, float *y, const float *gate, const float *up, int64_t n);
void lt_cpu_add(lt_pool *p, float *y, const float *a, const float *b, int64_t n);
void lt_cpu_convert(lt_pool *p, void *y, lt_dtype yt, const void *x, lt_dtype xt, int64_t rows, int64_t cols);
/* kv_store.c: stores rows of k, v [T, width] f32 into caches (dtype kvt: f32 or f16) at
 * row slots[t]. */
void lt_cpu_kv_store(lt_pool *p, void *kc, void *vc, lt_dtype kvt, int64_t width, const float *k, const float *v,
                     const int32_t *slots, int64_t T);
/* attention.c */
typedef struct lt_cpu_attn_args {
    float *out;               /* [T, H*Dh] */
    const float *q;           /* [T, H*Dh] */
    const void *kc, *vc;      /* [n_blocks*block_size, KVH*Dh] of kvt */
    lt_dtype kvt;
    const int32_t *tok_seq;   /* [T] */
    const int32_t *tok_ctx;   /* [T] */
    const int32_t *block_tables; /* [S, max_blocks] */
    int64_t T;
    int max_blocks, n_heads, n_kv_heads, head_dim, block_size;
    float scale;
    int window;               /* > 0: only the last `window` positions of each context */
    float *lse;               /* [T, H] or NULL: partial attention (negative blocks skipped) */
    bool prompt_gemm;         /* a batch of one sequence's consecutive positions may go by GEMMs
                                 (rounding then depends on the batch: see attention.c) */
} lt_cpu_attn_args;
void lt_cpu_attention(lt_pool *p, const lt_cpu_attn_args *a);
/* Merges partial attention o2/lse2 into out/lse ([T, H*Dh], [T, H]; see lt_op_attn_merge). */
void lt_cpu_attn_merge(float *out, float *lse, const float *o2, const float *lse2, int64_t T, int H, int Dh);
/* Largest head_dim lt_cpu_attention accepts. */
int lt_cpu_attention_max_head_dim(void);
/* argmax.c */
void lt_cpu_argmax(lt_pool *p, int32_t *out, const float *x, int64_t T, int64_t N);

/* ---- vision ops (NCHW f32, semantics in core/backend/backend.h) ------------------------------ */

#include "kernels/lt_vision.h"

/* conv.c: floats of im2col workspace lt_cpu_conv2d needs for one image (0: none). */
size_t lt_cpu_conv2d_work(int C, int H, int W, int OC, int K, int stride, int pad, int pad_extra, int groups);
/* y[N,OC,OH,OW] = act(conv(x[N,C,H,W], w[OC,C/groups,K,K]) + bias[OC]); work as above;
 * OH = (H + 2*pad + pad_extra - K)/stride + 1 (pad_extra: zeros below and right only). */
void lt_cpu_conv2d(lt_pool *p, float *y, const float *x, const float *w, const float *bias, float *work, int N, int C,
                   int H, int W, int OC, int K, int stride, int pad, int pad_extra, int groups, int act);
/* vision.c: darknet maxpool: out = (in + pad - size)/stride + 1, window origin -pad/2. */
void lt_cpu_maxpool2d(lt_pool *p, float *y, const float *x, int N, int C, int H, int W, int size, int stride,
                      int pad);
void lt_cpu_avgpool_global(lt_pool *p, float *y, const float *x, int N, int C, int H, int W);
void lt_cpu_upsample(lt_pool *p, float *y, const float *x, int N, int C, int H, int W, int stride, float scale);
/* Channels [x_c0, x_c0+n_c) of x [N,xc,hw] to channels [y_c0, ...) of y [N,yc,hw]. */
void lt_cpu_concat(lt_pool *p, float *y, int yc, const float *x, int xc, int N, int64_t hw, int y_c0, int x_c0,
                   int n_c);
void lt_cpu_activate(lt_pool *p, float *y, const float *x, int64_t n, int act);
/* x [N, A*(5+C), H, W] raw head output -> y [N, H*W*A, 5+C] (lt_yolo_decode_cell per row). */
void lt_cpu_yolo_decode(lt_pool *p, float *y, const float *x, int N, int H, int W, const lt_yolo_head *h);
/* Per-class greedy NMS over n boxes (left, top, width, height) sorted by score; keep[i] 0/1. */
void lt_cpu_nms(int32_t *keep, const float *boxes, const int32_t *classes, int64_t n, float iou, float contain);

/* ---- diffusion ops (NCHW f32, semantics in core/backend/backend.h) --------------------------- */

/* group_norm.c: GroupNorm over x [N, C, hw] (gamma/beta [C] or NULL), then act; y may alias x. */
void lt_cpu_group_norm(lt_pool *p, float *y, const float *x, const float *gamma, const float *beta, int N, int C,
                       int64_t hw, int groups, float eps, int act);
/* group_norm.c: y = act(x + t[n,c]) (t [N, C]) or act(x * (1 + t[n,c]) + t[n,C+c]) (t [N, 2C]). */
void lt_cpu_channel_affine(lt_pool *p, float *y, const float *x, const float *t, int N, int C, int64_t hw,
                           bool scale_shift, int act);
/* self_attention.c: qkv [N, 3C, T] -> y [N, C, T], heads of D = C/n_heads channels. */
void lt_cpu_self_attention(lt_pool *p, float *y, const float *qkv, int N, int C, int64_t T, int n_heads, float scale);
/* Reserves its scratch (score rows per thread) in the pool; false when out of memory. */
bool lt_cpu_self_attention_prepare(lt_pool *p, int D, int64_t T);

#endif
