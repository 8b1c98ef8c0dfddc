/* attention.cu - paged attention over the KV block pool (f32 or f16 pools, GQA).
 *
 * One kernel serves decode and prefill chunks. The grid is (token, head, split): the context
 * of each token is cut into splits of whole tiles (a tile is up to 256 positions, a multiple
 * of the KV block size when blocks are at most 256 positions). A thread block walks the
 * tiles of its split with an online softmax: per tile, each warp scores positions (q.k with
 * lanes across head_dim, block-table lookup per position), the block takes the tile max and
 * the probabilities, and each warp accumulates p * v for its positions in registers.
 * With one split (enough (token, head) pairs to fill the device, as in prefill) the block
 * writes the normalized output. With several (flash-decoding: few tokens, long contexts) it
 * writes its partial (max, sum, unnormalized acc) and a second kernel merges the splits
 * exactly: M = max m_s, out = sum acc_s e^(m_s - M) / sum l_s e^(m_s - M).
 * Positions whose block-table entry is outside the pool (negative: held elsewhere, partial
 * attention), or before a sliding window, are masked (never read). With meta.lse the kernel
 * also writes max + log(sum) per (token, head); attn_merge2_kernel merges two partials.
 * All metadata (tok_seq, tok_ctx, block tables) is read on the device; the host uses only
 * max_ctx to plan the grid, so a decode step can be captured in a CUDA graph. Up to
 * ATT_FIXED_T query tokens, every tile is its own split, so results are batch-invariant.
 * Leaves out: tensor-core (mma) tiles for prefill, sharing K/V tiles across the query heads
 * of a GQA group; head_dim above 256.
 */
#include "cuda_common.cuh"

#define ATT_WARPS 4
#define ATT_THREADS (ATT_WARPS * 32)
#define ATT_TILE_MAX 256
#define ATT_MAX_D 256
#define ATT_PER_LANE (ATT_MAX_D / 32)
#define ATT_FIXED_T 8 /* up to this many query tokens, one split per tile (batch-invariant) */

/* e^x correctly rounded to f32 (the build uses --use_fast_math, whose expf is approximate;
 * one exp per position is cheap next to the position's K and V loads). */
static __device__ __forceinline__ float exp_rn(float x) { return (float)exp((double)x); }

template <typename KV> static __device__ __forceinline__ float kv_load(const KV *p, int d);
template <> __device__ __forceinline__ float kv_load<float>(const float *p, int d) { return p[d]; }
template <> __device__ __forceinline__ float kv_load<uint16_t>(const uint16_t *p, int d) { return lt_cu_h2f(p[d]); }

typedef struct att_params {
    float *out;          /* [T, H*Dh] */
    float *part_acc;     /* [T, H, nsplit, Dh] when nsplit > 1 */
    float *part_ml;      /* [T, H, nsplit, 2] */
    float *lse;          /* [T, H] or NULL: max + log(sum), partial attention */
    const float *q;      /* [T, H*Dh] */
    const void *kc, *vc; /* [pool_rows, KVH*Dh] */
    const int32_t *tok_seq, *tok_ctx, *bt;
    int64_t pool_rows;
    int n_seqs, max_blocks, n_heads, n_kv_heads, head_dim, block_size;
    int tile, tiles_per_split, nsplit;
    float scale;
    int window; /* > 0: positions before ctx - window are masked (sliding window) */
} att_params;

template <typename KV>
static __global__ void __launch_bounds__(ATT_THREADS) attn_split_kernel(att_params a) {
    extern __shared__ long long smem_ll[];
    const int Dh = a.head_dim;
    long long *rows = smem_ll;               /* [tile] pool row per position, or -1 (first: 8-byte aligned) */
    float *q_s = (float *)(rows + a.tile);   /* [Dh] */
    float *sc = q_s + Dh;                    /* [tile] scores, then probabilities */
    float *red = sc + a.tile;                /* [ATT_WARPS * Dh] */
    float *sh = red + ATT_WARPS * Dh;        /* [32] reductions */

    const int t = blockIdx.x, h = blockIdx.y, sp = blockIdx.z;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int kvh = h / (a.n_heads / a.n_kv_heads);
    const int64_t width = (int64_t)a.n_kv_heads * Dh;
    const KV *kc = (const KV *)a.kc + kvh * Dh;
    const KV *vc = (const KV *)a.vc + kvh * Dh;

    int seq = a.tok_seq[t];
    int64_t ctx = a.tok_ctx[t];
    int64_t cap = (int64_t)a.max_blocks * a.block_size;
    if (seq < 0 || seq >= a.n_seqs) ctx = 0;
    if (ctx > cap) ctx = cap;
    const int32_t *btab = a.bt + (int64_t)(seq < 0 ? 0 : seq) * a.max_blocks;
    int64_t pool_blocks = a.pool_rows / a.block_size;
    const int64_t first = a.window > 0 && ctx > a.window ? ctx - a.window : 0; /* sliding window */

    const float *qr = a.q + ((int64_t)t * a.n_heads + h) * Dh;
    for (int d = threadIdx.x; d < Dh; d += ATT_THREADS) q_s[d] = qr[d] * a.scale;
    __syncthreads();

    float m = -INFINITY, l = 0.0f;
    float acc[ATT_PER_LANE];
#pragma unroll
    for (int i = 0; i < ATT_PER_LANE; i++) acc[i] = 0.0f;

    int64_t j_begin = (int64_t)sp * a.tiles_per_split * a.tile;
    int64_t j_end = j_begin + (int64_t)a.tiles_per_split * a.tile;
    if (j_end > ctx) j_end = ctx;
    for (int64_t j0 = j_begin; j0 < j_end; j0 += a.tile) {
        int n = (int)(j_end - j0 < a.tile ? j_end - j0 : a.tile);
        /* scores: one warp per position, lanes across head_dim */
        for (int jj = warp; jj < n; jj += ATT_WARPS) {
            int64_t j = j0 + jj;
            int32_t blk = btab[j / a.block_size];
            long long row = (blk >= 0 && blk < pool_blocks && j >= first) ? (long long)blk * a.block_size + j % a.block_size
                                                                          : -1;
            float s = -INFINITY;
            if (row >= 0) {
                const KV *kp = kc + row * width;
                float dot = 0.0f;
                for (int d = lane; d < Dh; d += 32) dot += q_s[d] * kv_load<KV>(kp, d);
                s = lt_cu_warp_sum(dot);
            }
            if (lane == 0) {
                sc[jj] = s;
                rows[jj] = row;
            }
        }
        __syncthreads();
        float lm = -INFINITY;
        for (int jj = threadIdx.x; jj < n; jj += ATT_THREADS) lm = fmaxf(lm, sc[jj]);
        float m_new = fmaxf(m, lt_cu_block_max(lm, sh)); /* block-uniform */
        if (m_new != -INFINITY) {
            float alpha = exp_rn(m - m_new); /* 0 while m is still -inf */
            float ls = 0.0f;
            for (int jj = threadIdx.x; jj < n; jj += ATT_THREADS) {
                float p = rows[jj] >= 0 ? exp_rn(sc[jj] - m_new) : 0.0f;
                sc[jj] = p;
                ls += p;
            }
            l = l * alpha + lt_cu_block_sum(ls, sh); /* its barriers publish sc */
#pragma unroll
            for (int i = 0; i < ATT_PER_LANE; i++) acc[i] *= alpha;
            for (int jj = warp; jj < n; jj += ATT_WARPS) {
                long long row = rows[jj];
                if (row < 0) continue;
                float p = sc[jj];
                const KV *vp = vc + row * width;
#pragma unroll
                for (int i = 0; i < ATT_PER_LANE; i++) {
                    int d = lane + 32 * i;
                    if (d < Dh) acc[i] += p * kv_load<KV>(vp, d);
                }
            }
            m = m_new;
        }
        __syncthreads(); /* sc and rows are rewritten by the next tile */
    }

    /* sum the warps' accumulators */
#pragma unroll
    for (int i = 0; i < ATT_PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < Dh) red[warp * Dh + d] = acc[i];
    }
    __syncthreads();
    int64_t th = (int64_t)t * a.n_heads + h;
    for (int d = threadIdx.x; d < Dh; d += ATT_THREADS) {
        float s = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++) s += red[w * Dh + d];
        if (a.nsplit == 1) a.out[th * Dh + d] = l > 0.0f ? s / l : 0.0f;
        else a.part_acc[(th * a.nsplit + sp) * Dh + d] = s;
    }
    if (a.nsplit == 1 && a.lse && threadIdx.x == 0) a.lse[th] = l > 0.0f ? m + logf(l) : -INFINITY;
    if (a.nsplit > 1 && threadIdx.x == 0) {
        a.part_ml[(th * a.nsplit + sp) * 2] = m;
        a.part_ml[(th * a.nsplit + sp) * 2 + 1] = l;
    }
}

/* Merges the nsplit partials of each (token, head) by log-sum-exp. */
static __global__ void __launch_bounds__(ATT_THREADS) attn_merge_kernel(att_params a) {
    extern __shared__ float smem[];
    float *wsh = smem;               /* [nsplit] weight e^(m_s - M) */
    float *sh = smem + a.nsplit;     /* [32] */
    const int Dh = a.head_dim, ns = a.nsplit;
    int64_t th = (int64_t)blockIdx.x * a.n_heads + blockIdx.y;
    const float *ml = a.part_ml + th * ns * 2;
    const float *pacc = a.part_acc + th * ns * Dh;

    float lm = -INFINITY;
    for (int s = threadIdx.x; s < ns; s += ATT_THREADS) lm = fmaxf(lm, ml[2 * s]);
    float M = lt_cu_block_max(lm, sh);
    float ls = 0.0f;
    for (int s = threadIdx.x; s < ns; s += ATT_THREADS) {
        float ms = ml[2 * s];
        float w = (ms == -INFINITY) ? 0.0f : exp_rn(ms - M);
        wsh[s] = w;
        ls += w * ml[2 * s + 1];
    }
    float L = lt_cu_block_sum(ls, sh); /* its barriers publish wsh */
    for (int d = threadIdx.x; d < Dh; d += ATT_THREADS) {
        float o = 0.0f;
        for (int s = 0; s < ns; s++) o += wsh[s] * pacc[(int64_t)s * Dh + d];
        a.out[th * Dh + d] = L > 0.0f ? o / L : 0.0f;
    }
    if (a.lse && threadIdx.x == 0) a.lse[th] = L > 0.0f ? M + logf(L) : -INFINITY;
}

/* lt_op_attn_merge: one block per (token, head) row. */
static __global__ void attn_merge2_kernel(float *out, float *lse, const float *o2, const float *lse2, int64_t rows,
                                          int Dh) {
    int64_t r = blockIdx.x;
    if (r >= rows) return;
    const float a = lse[r], b = lse2[r];
    const float M = fmaxf(a, b);
    const bool none = M == -INFINITY;
    const float wa = none ? 0.0f : exp_rn(a - M), wb = none ? 0.0f : exp_rn(b - M);
    const float inv = none ? 0.0f : 1.0f / (wa + wb);
    for (int d = threadIdx.x; d < Dh; d += blockDim.x)
        out[r * Dh + d] = (wa * out[r * Dh + d] + wb * o2[r * Dh + d]) * inv;
    __syncthreads(); /* every thread has read lse[r] */
    if (threadIdx.x == 0 && !none) lse[r] = M + logf(wa + wb);
}

lt_status lt_cuda_attn_merge(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *o2,
                             const lt_tensor *lse2, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t rows = lse->shape[0] * lse->shape[1];
    if (rows == 0) return LT_OK;
    if (rows > INT32_MAX) return lt_err_set(err, LT_EUNSUPPORTED, "attn_merge: %lld rows is too many", (long long)rows);
    LT_TRY(lt_cuda_enter(c, err));
    int Dh = (int)(out->shape[1] / lse->shape[1]);
    attn_merge2_kernel<<<(unsigned)rows, 128, 0, c->stream>>>((float *)out->data, (float *)lse->data,
                                                               (const float *)o2->data, (const float *)lse2->data, rows,
                                                               Dh);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

lt_status lt_cuda_attention(lt_backend *be, lt_tensor *out, const lt_tensor *q, const lt_tensor *kc,
                            const lt_tensor *vc, const lt_attn_meta *m, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    int64_t T = q->shape[0];
    if (T == 0) return LT_OK;
    if (m->head_dim > ATT_MAX_D)
        return lt_err_set(err, LT_EUNSUPPORTED, "attention: head_dim %d is above the cuda limit of %d", m->head_dim,
                          ATT_MAX_D);
    if (T > INT32_MAX || m->n_heads > 65535)
        return lt_err_set(err, LT_EUNSUPPORTED, "attention: %lld tokens x %d heads is too large for one launch",
                          (long long)T, m->n_heads);
    LT_TRY(lt_cuda_enter(c, err));

    att_params a;
    memset(&a, 0, sizeof a);
    a.out = (float *)out->data;
    a.q = (const float *)q->data;
    a.kc = kc->data;
    a.vc = vc->data;
    a.tok_seq = (const int32_t *)m->tok_seq->data;
    a.tok_ctx = (const int32_t *)m->tok_ctx->data;
    a.bt = (const int32_t *)m->block_tables->data;
    a.pool_rows = kc->shape[0];
    a.n_seqs = (int)m->block_tables->shape[0];
    a.max_blocks = (int)m->block_tables->shape[1];
    a.n_heads = m->n_heads;
    a.n_kv_heads = m->n_kv_heads;
    a.head_dim = m->head_dim;
    a.block_size = m->block_size;
    a.scale = m->scale;
    a.window = m->window;
    a.lse = m->lse ? (float *)m->lse->data : NULL;
    a.tile = m->block_size <= ATT_TILE_MAX ? (ATT_TILE_MAX / m->block_size) * m->block_size : ATT_TILE_MAX;

    int64_t tiles = ((int64_t)m->max_ctx + a.tile - 1) / a.tile;
    int64_t pairs = T * m->n_heads, nsplit, per;
    if (T <= ATT_FIXED_T) {
        /* Decode and speculative verification: one split per tile. A token's result then
           depends only on its own context, not on the batch or on max_ctx (splits past its
           context are empty and merge with weight exactly 0), so verifying drafted tokens
           gives the bits that decoding them one by one gives, and a captured decode step
           may plan with any upper bound of the context. */
        per = 1;
        nsplit = tiles < 1 ? 1 : tiles;
    } else {
        /* Prefill: enough (token, head, split) blocks to fill the device about 8 times over. */
        int64_t target = (int64_t)c->sm_count * 8;
        nsplit = pairs >= target ? 1 : (target + pairs - 1) / pairs;
        if (nsplit > tiles) nsplit = tiles;
        if (nsplit < 1) nsplit = 1;
        per = (tiles + nsplit - 1) / nsplit;
        nsplit = (tiles + per - 1) / per;
    }
    if (nsplit > 65535) { /* grid z limit: fewer, longer splits */
        per = (tiles + 65534) / 65535;
        nsplit = (tiles + per - 1) / per;
    }
    a.tiles_per_split = (int)per;
    a.nsplit = (int)nsplit;

    if (a.nsplit > 1) {
        size_t n_acc = (size_t)pairs * a.nsplit * a.head_dim, n_ml = (size_t)pairs * a.nsplit * 2;
        void *buf = NULL;
        LT_TRY(lt_cuda_scratch(c, LT_CUDA_SCR_ATTN, (n_acc + n_ml) * sizeof(float), &buf, err));
        a.part_acc = (float *)buf;
        a.part_ml = a.part_acc + n_acc;
    }

    size_t smem = (size_t)(a.head_dim + a.tile + ATT_WARPS * a.head_dim + 32) * sizeof(float) +
                  (size_t)a.tile * sizeof(long long);
    dim3 grid((unsigned)T, (unsigned)a.n_heads, (unsigned)a.nsplit);
    if (kc->dtype == LT_F16)
        attn_split_kernel<uint16_t><<<grid, ATT_THREADS, smem, c->stream>>>(a);
    else
        attn_split_kernel<float><<<grid, ATT_THREADS, smem, c->stream>>>(a);
    LT_CUDA_LAUNCHED(err);
    if (a.nsplit > 1) {
        size_t msmem = (size_t)(a.nsplit + 32) * sizeof(float);
        if (msmem > 48 * 1024)
            return lt_err_set(err, LT_EUNSUPPORTED, "attention: %d context splits exceed the merge kernel", a.nsplit);
        attn_merge_kernel<<<dim3((unsigned)T, (unsigned)a.n_heads), ATT_THREADS, msmem, c->stream>>>(a);
        LT_CUDA_LAUNCHED(err);
    }
    return LT_OK;
}
