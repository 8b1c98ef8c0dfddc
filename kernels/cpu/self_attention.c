/* self_attention.c - the CPU self_attention op: non-causal multi-head attention over the H*W
 * positions of each image, channel-major (q, k, v as a 1x1 convolution writes them), f32.
 * Semantics in core/backend/backend.h; the CUDA twin is kernels/cuda/self_attention.cu.
 *
 * Work items are blocks of up to RB query positions of one (image, head); each thread takes a
 * contiguous run of items. Per item, with Q, K, V the head's [D, T] planes:
 *   Qt = Q[:, i0:i1]^T                     (rows x D, transposed into scratch)
 *   S  = Qt . K                            (rows x T, OpenBLAS sgemm)
 *   S  = softmax(scale * S) row by row     (f32, max subtracted first)
 *   Y[:, i0:i1] = V . S^T                  (D x rows, written with leading dimension T)
 * Plain loops stand in for sgemm where OpenBLAS cannot run (lt_pool_blas_ok).
 * Leaves out: masks, causal attention (kernels/cpu/attention.c does paged causal attention).
 */
#include <math.h>
#include <string.h>

#include "core/base/alloc.h"
#include "cpu_impl.h"

#define RB 64 /* query positions per work item */
#define ATTN_SLOT 1

static size_t per_thread(int D, int64_t T) { return ((size_t)RB * D + (size_t)RB * T) * sizeof(float); }

bool lt_cpu_self_attention_prepare(lt_pool *p, int D, int64_t T) {
    return !p || lt_pool_scratch(p, ATTN_SLOT, per_thread(D, T) * (size_t)lt_pool_threads(p)) != NULL;
}

typedef struct sa_ctx {
    float *y;
    const float *qkv;
    char *scratch;
    int N, C, H, D;
    int64_t T, blocks;
    float scale;
    bool blas;
} sa_ctx;

static void item(const sa_ctx *c, int64_t it, float *qt, float *s) {
    int64_t blk = it % c->blocks, nh = it / c->blocks;
    int n = (int)(nh / c->H), h = (int)(nh % c->H), D = c->D;
    int64_t T = c->T, i0 = blk * RB, rows = T - i0 < RB ? T - i0 : RB;
    const float *q = c->qkv + ((int64_t)n * 3 * c->C + (int64_t)h * D) * T;
    const float *k = q + (int64_t)c->C * T, *v = k + (int64_t)c->C * T;
    float *y = c->y + ((int64_t)n * c->C + (int64_t)h * D) * T + i0;
    for (int d = 0; d < D; d++)
        for (int64_t r = 0; r < rows; r++) qt[r * D + d] = q[(int64_t)d * T + i0 + r];
    if (c->blas) {
        lt_cpu_sgemm(false, (int)rows, (int)T, D, qt, D, k, (int)T, s, (int)T);
    } else {
        for (int64_t r = 0; r < rows; r++) {
            float *sr = s + r * T;
            for (int64_t j = 0; j < T; j++) sr[j] = 0;
            for (int d = 0; d < D; d++) {
                float a = qt[r * D + d];
                const float *kr = k + (int64_t)d * T;
                for (int64_t j = 0; j < T; j++) sr[j] += a * kr[j];
            }
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        float *sr = s + r * T, m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < T; j++) {
            sr[j] *= c->scale;
            m = sr[j] > m ? sr[j] : m;
        }
        for (int64_t j = 0; j < T; j++) {
            sr[j] = expf(sr[j] - m);
            sum += sr[j];
        }
        float inv = 1.f / sum;
        for (int64_t j = 0; j < T; j++) sr[j] *= inv;
    }
    if (c->blas) {
        lt_cpu_sgemm(true, D, (int)rows, (int)T, v, (int)T, s, (int)T, y, (int)T);
    } else {
        for (int d = 0; d < D; d++) {
            const float *vr = v + (int64_t)d * T;
            for (int64_t r = 0; r < rows; r++) {
                const float *sr = s + r * T;
                float a = 0;
                for (int64_t j = 0; j < T; j++) a += vr[j] * sr[j];
                y[(int64_t)d * T + r] = a;
            }
        }
    }
}

static void sa_job(void *arg, int ith, int nth) {
    sa_ctx *c = arg;
    int64_t a, b;
    lt_cpu_split((int64_t)c->N * c->H * c->blocks, ith, nth, 1, &a, &b);
    float *qt = (float *)(c->scratch + per_thread(c->D, c->T) * (size_t)ith), *s = qt + (size_t)RB * c->D;
    for (int64_t it = a; it < b; it++) item(c, it, qt, s);
}

void lt_cpu_self_attention(lt_pool *p, float *y, const float *qkv, int N, int C, int64_t T, int n_heads, float scale) {
    int D = C / n_heads, nth = p ? lt_pool_threads(p) : 1;
    char *owned = NULL, *scr = p ? lt_pool_scratch(p, ATTN_SLOT, per_thread(D, T) * (size_t)nth) : NULL;
    if (!scr) scr = owned = lt_aligned_alloc(per_thread(D, T)); /* no pool: one thread */
    LT_ASSERT(scr != NULL); /* callers reserve with lt_cpu_self_attention_prepare first */
    sa_ctx c = {y, qkv, scr, N, C, n_heads, D, T, (T + RB - 1) / RB, scale, lt_pool_blas_ok(p)};
    if (owned || (int64_t)N * C * T * T < 65536) sa_job(&c, 0, 1);
    else lt_pool_run(p, sa_job, &c);
    lt_aligned_free(owned);
}
