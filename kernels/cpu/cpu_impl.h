/* cpu_impl.h - private helpers shared by the CPU kernel files (not part of any public API).
 *
 * Run-time CPU feature detection, row partitioning, running small ops on the calling thread,
 * pool scratch buffers and the q8_0 activation quantizer. The SIMD bodies live in the .c
 * files as __attribute__((target)) functions, so the build needs no -mavx2 flag and runs on
 * any x86-64 (or other) CPU; -DLT_NO_SIMD builds the portable paths only (to check that
 * they compile).
 */
#ifndef LT_CPU_IMPL_H
#define LT_CPU_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "lt_cpu.h"

#include "core/base/cpu.h" /* LT_X86, LT_AVX2, lt_cpu_has_avx2 */

#if LT_X86
/* Sum of the 8 lanes (the same order everywhere, so results do not depend on the caller). */
LT_AVX2 static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One f16 (bits) as f32 through F16C. */
LT_AVX2 static inline float lt_cpu_f16_1(uint16_t h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

/* Asks for `lines` cache lines LT_CPU_PF_AHEAD bytes past p into L1 (never faults): the K-quant
 * kernels stream their weight rows this far ahead (this VM's hardware prefetcher alone leaves a
 * core latency-bound; PERF.md "Quantized GGUF types"). */
#define LT_CPU_PF_AHEAD 2048
LT_AVX2 static inline __attribute__((always_inline)) void lt_cpu_prefetch_ahead(const void *p, int lines) {
    for (int k = 0; k < lines; k++) _mm_prefetch((const char *)p + LT_CPU_PF_AHEAD + 64 * k, _MM_HINT_T0);
}
#endif

/* Rows [*r0, *r1) of n for thread ith of nth, in whole multiples of align. */
static inline void lt_cpu_split(int64_t n, int ith, int nth, int64_t align, int64_t *r0, int64_t *r1) {
    int64_t chunks = (n + align - 1) / align;
    int64_t c0 = chunks * ith / nth, c1 = chunks * (ith + 1) / nth;
    *r0 = c0 * align < n ? c0 * align : n;
    *r1 = c1 * align < n ? c1 * align : n;
}

/* Work (about one element each) below which an op runs on the calling thread only: waking
 * the pool would cost more than the work. */
#define LT_CPU_SMALL_WORK 16384

/* fn(ctx, 0, 1) on the calling thread when work < LT_CPU_SMALL_WORK, else on the pool. */
static inline void lt_cpu_run(lt_pool *p, int64_t work, void (*fn)(void *, int, int), void *ctx) {
    if (work < LT_CPU_SMALL_WORK) fn(ctx, 0, 1);
    else lt_pool_run(p, fn, ctx);
}

/* One f32 row against one f32, f16 or bf16 weight row of K: the dot product lt_cpu_matmul
 * computes each output with below a few activation rows (matmul.c). */
float lt_cpu_dot(lt_dtype wt, const float *x, const void *w, int64_t K);

/* A buffer of at least bytes, kept by the pool between calls (one per slot, slots
 * 0..LT_POOL_SCRATCH_SLOTS-1; contents are not preserved when it grows). NULL when out of
 * memory. Only the thread calling lt_pool_run may use it, outside the run's workers' writes. */
#define LT_POOL_SCRATCH_SLOTS 4
void *lt_pool_scratch(lt_pool *p, int slot, size_t bytes);

/* True when OpenBLAS can be called from all of p's threads (p NULL: the calling thread only).
 * OpenBLAS allocates a ~128 MiB buffer per calling thread on first use and spins forever when
 * that allocation fails (an address space or data limit, `ulimit -v`); so before the first call
 * the pool checks that the address space for those buffers can be reserved, once. When it
 * cannot, kernels take their own (slower, exact) paths instead of sgemm. */
bool lt_pool_blas_ok(lt_pool *p);

/* blas.c: sets OPENBLAS_NUM_THREADS=1 (once, before the first thread pool starts threads);
 * loads OpenBLAS (once, on first need; true when it is there) and calls its single-threaded
 * sgemm: c[m, n] = a[m, k] * b (b [k, n], or [n, k] transposed), row-major. Only after
 * lt_pool_blas_ok said yes. */
void lt_cpu_blas_prepare(void);
bool lt_cpu_blas_load(void);
void lt_cpu_sgemm(bool trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc);

/* Q8_0 activation rows for the quantized matmul (same bits as lt_cpu_quant_row). */
void lt_cpu_quant_q8_0(const float *x, lt_block_q8_0 *y, int64_t n);


/* qdot_k.c: n floats (a multiple of 256) -> q8_K blocks, the bytes of GGML's
 * quantize_row_q8_K_ref (lt_quant_q8_K), 8 lanes at a time where AVX2 is on. */
void lt_cpu_quant_q8_K(const float *x, void *y, int64_t n);

/* The matmul of a weight type whose rows are dotted with activation rows quantized once per call
 * to a partner type (GGML's vec_dot_type: q8_0, q8_1 or q8_K), for the lt_quants.h types.
 * A row's result never depends on how many activation rows the call has (speculative decoding
 * verifies a batch and must get the numbers decoding one token gives). */
typedef struct lt_cpu_qdot {
    size_t (*act_row_bytes)(int64_t K);                    /* one quantized activation row */
    void (*quant_act)(const float *x, void *xq, int64_t K); /* f32 row -> partner row */
    float (*dot)(const void *w, const void *xq, int64_t K); /* weight row . activation row */
    /* optional: R (1..4) activation rows, stride bytes apart, against one weight row; for each
       row exactly the float operations of dot (so batches equal single rows) */
    void (*dot4)(const void *w, const char *xq, size_t stride, int R, int64_t K, float *out);
} lt_cpu_qdot;

/* qdot.c: the pieces for wt (kernels chosen for this CPU), or NULL when wt is not one of the
 * lt_quants.h types; and the matmul that drives them. */
const lt_cpu_qdot *lt_cpu_qdot_find(lt_dtype wt);
size_t lt_cpu_qdot_scratch(const lt_cpu_qdot *q, int64_t T, int64_t K);
void lt_cpu_qdot_matmul(lt_pool *p, const lt_cpu_qdot *q, void *scratch, float *y, const float *x, const void *w,
                        lt_dtype wt, const float *bias, int64_t T, int64_t N, int64_t K);

/* matmul_q4r8.c: the matmul of LT_Q4_0_R8 weights (N a multiple of 8) and the scratch it needs
 * (the activations quantized to q8_0) */
size_t lt_cpu_q4r8_scratch(int64_t T, int64_t K);
void lt_cpu_q4r8_matmul(lt_pool *p, void *scratch, float *y, const float *x, const void *w, const float *bias,
                        int64_t T, int64_t N, int64_t K);

/* Per family (NULL when wt is not theirs): q4_1/q5_0/q5_1 (qdot_legacy.c), q4_K/q5_K/q6_K
 * (qdot_k.c), q2_K/q3_K/iq4_nl/iq4_xs (qdot_k2.c); avx2 picks the SIMD kernels. */
const lt_cpu_qdot *lt_cpu_qdot_legacy(lt_dtype wt, bool avx2);
const lt_cpu_qdot *lt_cpu_qdot_k(lt_dtype wt, bool avx2);
const lt_cpu_qdot *lt_cpu_qdot_k2(lt_dtype wt, bool avx2);
/* qdot_legacy.c: n floats -> the extended q8_1 row of its AVX2 path (int8 per 32, then (d, s) as
 * f32 pairs; lt_quant_q8_1's bytes and scales); AVX2 + FMA + F16C only */
#if LT_X86
LT_AVX2 void lt_cpu_quant_x1_avx2(const float *x, void *xq, int64_t K);
#endif
/* gq4_32 / gq4_64 / gq4_128 (qdot_gq.c) */
const lt_cpu_qdot *lt_cpu_qdot_gq(lt_dtype wt, bool avx2);
/* s24_f16 / s24_q4, 2:4 sparse (qdot_s24.c): only the kept weights read (s24_q4 with AVX2: int8
 * activations) */
const lt_cpu_qdot *lt_cpu_qdot_s24(lt_dtype wt, bool avx2);
/* K columns of an s24_f16 row as f32 (the dtype table's values: kept f16 widened, pruned 0), for
 * the sgemm path of long prompts; F16C where AVX2 is on */
void lt_cpu_s24_f16_widen(const void *row, float *out, int64_t K);
/* s24_q4's int8-activation forms one by one (0 AVX2, 1 AVX-512 VNNI, 2 VNNI + VBMI; NULL where
 * this CPU or LT_CPU_NO_VNNI rules it out; lt_cpu_qdot_s24 takes the last one available), and
 * the pick indices a form computes from a block's 8 meta bytes (false where it is not available;
 * forms 0 and 1 share theirs), for tests */
const lt_cpu_qdot *lt_cpu_qdot_s24_q4_form(int form);
/* s24_f16's forms likewise (0 AVX2, 1 AVX-512; the same bits), for tests */
const lt_cpu_qdot *lt_cpu_qdot_s24_f16_form(int form);
bool lt_cpu_s24_q4_idx(int form, const uint8_t meta[8], uint8_t idx[32]);

#endif
