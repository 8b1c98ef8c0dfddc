/* matmul_marlin.cu - the W4A16 matmul of the GPTQ weight types (gq4_32 / gq4_64 / gq4_128) for
 * batches of 1 to LT_MARLIN_MAX_T tokens, after IST-DASLab/marlin, over the device layout of
 * kernels/lt_marlin.h; and what keeps that layout invisible: the table of packed tensors, their
 * upload (packed on the host), download (unpacked on the host), and element reads on the device
 * (get_rows, convert, the f16 tiles of cuBLAS for larger batches).
 *
 * The kernel (one CTA = 4 warps, schedule lt_marlin_make_plan; tests/test_marlin.c replays it on
 * the CPU lane by lane):
 * - Weights are streamed once: per k-tile, each lane cp.async's its own 16 bytes of codes (a warp:
 *   512 contiguous bytes; L2 evict-first) and, at a group's first tile, its 16 bytes of scales and of zeros, into
 *   a private shared-memory slot of a MARLIN_STAGES-deep ring; a lane reads back only what it
 *   copied, so cp.async.wait_group alone orders it (no barrier in the loop).
 * - Dequantization in registers, exact up to one rounding: lop3 puts a nibble pair into the
 *   mantissas of 1024.0h (0x6400), so (q | 0x6400) - (1024 + z) = q - z exactly, and the high
 *   nibbles (times 16) go through fma(v, 1/16, -(64 + z)); one __hmul2 by the group's scale.
 * - mma.sync.m16n8k16 f16 x f16 -> f32: the activations (f32 rows converted to f16 once per CTA
 *   into shared memory, rows >= T read as zeros) are the A operand, each lane's 16 code bytes the
 *   B operands of eight 8-column sub-tiles.
 * - The warps splitting a CTA's k-range add up through shared memory; several k-splits write
 *   partials that a second kernel sums in split order (deterministic), adding the bias.
 * Leaves out (Marlin has them): striped partitioning across SMs with in-place global reduction,
 * ldmatrix and swizzled activation tiles, several m16 tiles per warp (batches above 16 run one
 * CTA per 16 rows, each reading the weights again; above LT_MARLIN_MAX_T cuBLAS takes over),
 * act-order (g_idx) permutations, 8-bit codes.
 */
#include "cuda_common.cuh"
#include "kernels/lt_marlin.h"

#define MARLIN_STAGES 4

static int gq4_group(lt_dtype t) { return t == LT_GQ4_32 ? 32 : t == LT_GQ4_64 ? 64 : t == LT_GQ4_128 ? 128 : 0; }
#define MARLIN_THREADS (32 * LT_MARLIN_WARPS)

/* One k-tile of one lane in flight: codes, and (at a group's first tile) scales and zeros. */
struct __align__(16) marlin_slot {
    uint4 q, s, z;
};

/* the ring, then the activations (rows of the largest m-chunk), which the reduction reuses */
static size_t marlin_smem(const lt_marlin_plan *p, int T) {
    const size_t ring = sizeof(marlin_slot) * MARLIN_STAGES * MARLIN_THREADS;
    const size_t act = (size_t)(T < 16 ? T : 16) * (size_t)(p->tps * 16 + 8) * 2;
    const size_t red = (size_t)(LT_MARLIN_WARPS / p->wn - 1) * (size_t)p->wn * 32 * 32 * sizeof(float);
    return ring + (act > red ? act : red);
}

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define MARLIN_DEVICE 1
/* The "memory" clobbers keep the compiler from moving a lane's shared-memory reads of its slot
 * across the copy into it or the wait for it (there is no barrier in the loop to do that). */
static __device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(a), "l"(gmem) : "memory");
}
/* the same for weights read once: marked evict-first in L2 (as Marlin does), which keeps the
 * activations and the k-splits' partials there */
static __device__ __forceinline__ void cp_async16_stream(void *smem, const void *gmem) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(smem);
    asm volatile("{\n"
                 "  .reg .b64 pol;\n"
                 "  createpolicy.fractional.L2::evict_first.b64 pol, 1.0;\n"
                 "  cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, pol;\n"
                 "}\n" ::"r"(a),
                 "l"(gmem)
                 : "memory");
}
static __device__ __forceinline__ void cp_async_commit(void) { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> static __device__ __forceinline__ void cp_async_wait(void) {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

/* (a & b) | c in one instruction */
static __device__ __forceinline__ uint32_t lop3_and_or(uint32_t a, uint32_t b, uint32_t c) {
    uint32_t r;
    asm volatile("lop3.b32 %0, %1, %2, %3, 0xea;\n" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

static __device__ __forceinline__ __half2 u2h2(uint32_t u) {
    __half2 h;
    memcpy(&h, &u, 4);
    return h;
}
static __device__ __forceinline__ uint32_t h22u(__half2 h) {
    uint32_t u;
    memcpy(&u, &h, 4);
    return u;
}

/* c += A (16x16, row) . B (16x8, col), f16 inputs, f32 accumulators */
static __device__ __forceinline__ void mma_16816(const uint32_t (&a)[4], uint32_t b0, uint32_t b1, float (&c)[4]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif

template <int WN>
static __global__ void __launch_bounds__(MARLIN_THREADS)
    marlin_kernel(float *__restrict__ y, float *__restrict__ part, const float *__restrict__ x,
                  const uint8_t *__restrict__ W, const float *__restrict__ bias, int T, int N, int K, int G,
                  lt_marlin_plan p) {
#ifdef MARLIN_DEVICE
    constexpr int WKN = LT_MARLIN_WARPS / WN;
    extern __shared__ uint4 smem[];
    marlin_slot *ring = (marlin_slot *)smem;                                     /* [stage][thread] */
    uint16_t *sA = (uint16_t *)(ring + MARLIN_STAGES * MARLIN_THREADS);          /* [Tm][AS] f16 */
    float *red = (float *)sA;                                                    /* after the loop */
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    const int wn = warp % WN, wk = warp / WN, s = blockIdx.y, mz = blockIdx.z;
    const int64_t nb = (int64_t)blockIdx.x * WN + wn;
    const int k0 = s * p.tps * 16, klen = min(p.tps * 16, K - k0), Tm = min(16, T - 16 * mz);
    const int AS = p.tps * 16 + 8; /* row stride in halves: 8 tps + 4 words, conflict-free A reads */
    int kt0, kt1;
    lt_marlin_warp_tiles(&p, K, s, wk, &kt0, &kt1);
    const uint8_t *wt = W + lt_marlin_tile_off(nb, 0, K) + 16 * lane;
    const uint8_t *wsz = W + lt_marlin_sz_off(N, K, G, nb, 0) + 16 * g;
    marlin_slot *mine = ring + threadIdx.x;

    /* issue tile kt into stage st (an empty group past the end keeps the counting uniform) */
    auto fetch = [&](int kt, int st) {
        if (kt < kt1) {
            marlin_slot *d = mine + st * MARLIN_THREADS;
            cp_async16_stream(&d->q, wt + (size_t)kt * LT_MARLIN_TILE_BYTES);
            if (kt == kt0 || (kt * 16) % G == 0) {
                const uint8_t *r = wsz + (size_t)(kt * 16 / G) * LT_MARLIN_SZ_BYTES;
                cp_async16(&d->s, r);
                cp_async16(&d->z, r + 128);
            }
        }
        cp_async_commit();
    };
#pragma unroll
    for (int i = 0; i < MARLIN_STAGES - 1; i++) fetch(kt0 + i, i);

    /* the CTA's activations in f16 while the first tiles are in flight */
    const float *xm = x + (int64_t)16 * mz * K + k0;
    const int hp = klen / 2;
    for (int i = threadIdx.x; i < Tm * hp; i += MARLIN_THREADS) {
        const int r = i / hp, c = 2 * (i - r * hp);
        const float *src = xm + (int64_t)r * K + c;
        *(__half2 *)(sA + r * AS + c) = __floats2half2_rn(src[0], src[1]);
    }
    __syncthreads();

    float acc[8][4];
#pragma unroll
    for (int j = 0; j < 8; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    uint32_t sc[8], nz1024[8], nz64[8]; /* per sub-tile: scale, -(1024 + z), -(64 + z) as half2 */
    const __half2 h16 = __float2half2_rn(1.0f / 16.0f);
    const __half c1024 = __float2half(1024.0f), c64 = __float2half(64.0f);
    for (int kt = kt0, st = 0; kt < kt1; kt++, st = st == MARLIN_STAGES - 1 ? 0 : st + 1) {
        fetch(kt + MARLIN_STAGES - 1, st == 0 ? MARLIN_STAGES - 1 : st - 1);
        cp_async_wait<MARLIN_STAGES - 1>(); /* tile kt's group has landed */
        const marlin_slot *d = mine + st * MARLIN_THREADS;
        if (kt == kt0 || (kt * 16) % G == 0) {
            const uint4 sv = d->s, zv = d->z;
            const uint32_t sw[4] = {sv.x, sv.y, sv.z, sv.w}, zw[4] = {zv.x, zv.y, zv.z, zv.w};
#pragma unroll
            for (int j = 0; j < 8; j++) { /* half j of the 16 bytes: the low half of word j / 2 first */
                const __half sj = __ushort_as_half((unsigned short)(sw[j / 2] >> (16 * (j & 1))));
                const __half zj = __ushort_as_half((unsigned short)(zw[j / 2] >> (16 * (j & 1))));
                sc[j] = h22u(__half2half2(sj));
                nz1024[j] = h22u(__half2half2(__hneg(__hadd(zj, c1024))));
                nz64[j] = h22u(__half2half2(__hneg(__hadd(zj, c64))));
            }
        }
        const uint4 q4 = d->q;
        const int kk = kt * 16 - k0 + 2 * t;
        uint32_t a[4];
        a[0] = g < Tm ? *(const uint32_t *)(sA + g * AS + kk) : 0u;
        a[1] = g + 8 < Tm ? *(const uint32_t *)(sA + (g + 8) * AS + kk) : 0u;
        a[2] = g < Tm ? *(const uint32_t *)(sA + g * AS + kk + 8) : 0u;
        a[3] = g + 8 < Tm ? *(const uint32_t *)(sA + (g + 8) * AS + kk + 8) : 0u;
        const uint32_t qw[4] = {q4.x, q4.y, q4.z, q4.w};
#pragma unroll
        for (int m = 0; m < 4; m++) {
            uint32_t v = qw[m];
#pragma unroll
            for (int h = 0; h < 2; h++, v >>= 8) {
                const int j = 2 * m + h;
                const uint32_t lo = lop3_and_or(v, 0x000f000fu, 0x64006400u);
                const uint32_t hi = lop3_and_or(v, 0x00f000f0u, 0x64006400u);
                const __half2 b0 = __hmul2(__hadd2(u2h2(lo), u2h2(nz1024[j])), u2h2(sc[j]));
                const __half2 b1 = __hmul2(__hfma2(u2h2(hi), h16, u2h2(nz64[j])), u2h2(sc[j]));
                mma_16816(a, h22u(b0), h22u(b1), acc[j]);
            }
        }
    }
    cp_async_wait<0>();
    __syncthreads(); /* every warp is done with sA: it becomes the reduction buffer */

    /* warps wk > 0 hand their sums to wk = 0, which adds them in wk order and stores */
    if (WKN > 1 && wk > 0) {
        float *r = red + ((size_t)(wk - 1) * WN + wn) * 32 * 32;
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
            for (int i = 0; i < 4; i++) r[(4 * j + i) * 32 + lane] = acc[j][i];
    }
    if (WKN > 1) __syncthreads();
    if (wk != 0) return;
#pragma unroll
    for (int j = 0; j < 8; j++)
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float v = acc[j][i];
            for (int o = 1; o < WKN; o++) v += red[(((size_t)(o - 1) * WN + wn) * 32 + 4 * j + i) * 32 + lane];
            const int row = g + 8 * (i / 2);
            if (row >= Tm) continue;
            const int64_t tg = 16 * mz + row, n = nb * 64 + 8 * j + 2 * t + (i & 1);
            if (p.splits == 1) y[tg * N + n] = v + (bias ? bias[n] : 0.0f);
            else part[((int64_t)s * T + tg) * N + n] = v;
        }
#else
    __trap(); /* the host never launches it below sm_80 */
#endif
}

static __global__ void marlin_reduce(float *__restrict__ y, const float *__restrict__ part,
                                     const float *__restrict__ bias, int splits, int64_t TN, int N) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < TN; i += (int64_t)gridDim.x * blockDim.x) {
        float v = 0.0f;
        for (int s = 0; s < splits; s++) v += part[(int64_t)s * TN + i];
        y[i] = v + (bias ? bias[i % N] : 0.0f);
    }
}

template <int WN>
static void launch_marlin(cudaStream_t st, const lt_marlin_plan &p, float *y, float *part, const float *x,
                          const uint8_t *w, const float *bias, int T, int N, int K, int G) {
    const dim3 grid((unsigned)(N / (64 * WN)), (unsigned)p.splits, (unsigned)p.mchunks);
    marlin_kernel<WN><<<grid, MARLIN_THREADS, marlin_smem(&p, T), st>>>(y, part, x, w, bias, T, N, K, G, p);
}

lt_status lt_cuda_matmul_marlin(lt_cuda *c, float *y, const float *x, const void *w, int G, const float *bias, int T,
                                int64_t N, int64_t K, lt_err *err) {
    if (T < 1 || T > LT_MARLIN_MAX_T || lt_marlin_check(NULL, N, K, G) != 0)
        return lt_err_set(err, LT_EINVAL, "matmul: the gq4 kernel takes 1..%d tokens, [N, K] multiples of 64 and %d",
                          LT_MARLIN_MAX_T, G);
    const lt_marlin_plan p = lt_marlin_make_plan(N, K, T, c->sm_count);
    if (p.splits > 65535)
        return lt_err_set(err, LT_EUNSUPPORTED, "matmul: K = %lld is too long for the gq4 kernel's grid", (long long)K);
    float *part = NULL;
    if (p.splits > 1)
        LT_TRY(lt_cuda_scratch(c, LT_CUDA_SCR_SPLITK, (size_t)p.splits * (size_t)T * (size_t)N * sizeof(float),
                               (void **)&part, err));
    const uint8_t *wb = (const uint8_t *)w;
    switch (p.wn) {
    case 4: launch_marlin<4>(c->stream, p, y, part, x, wb, bias, T, (int)N, (int)K, G); break;
    case 2: launch_marlin<2>(c->stream, p, y, part, x, wb, bias, T, (int)N, (int)K, G); break;
    default: launch_marlin<1>(c->stream, p, y, part, x, wb, bias, T, (int)N, (int)K, G); break;
    }
    LT_CUDA_LAUNCHED(err);
    if (p.splits > 1) {
        marlin_reduce<<<lt_cu_grid(c, (int64_t)T * N, 256), 256, 0, c->stream>>>(y, part, bias, p.splits,
                                                                                  (int64_t)T * N, (int)N);
        LT_CUDA_LAUNCHED(err);
    }
    return LT_OK;
}

/* ---- element reads of a packed matrix ------------------------------------------------------ */

/* rows [n0, n0 + rows) of the packed W [N, K] -> dst [rows, K], f16 or f32: one thread per lane
 * of a tile of the n-blocks those rows touch (a coalesced 16-byte read, 32 values out) */
template <bool F16>
static __global__ void marlin_dequant(void *__restrict__ dst, const uint8_t *__restrict__ W, int64_t N, int64_t K,
                                      int G, int64_t n0, int64_t rows) {
    const int64_t KT = K / LT_MARLIN_TK, nb0 = n0 / LT_MARLIN_TN;
    const int64_t total = ((n0 + rows - 1) / LT_MARLIN_TN - nb0 + 1) * KT * 32;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int lane = (int)(i & 31), g = lane / 4, t = lane % 4;
        const int64_t kt = (i / 32) % KT, nb = nb0 + i / (32 * KT);
        float v[32];
        lt_marlin_lane_values(W, N, K, G, nb, kt, lane, v);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int64_t r = nb * LT_MARLIN_TN + 8 * j + g - n0;
            if (r < 0 || r >= rows) continue;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int64_t o = r * K + kt * LT_MARLIN_TK + 2 * t + (e & 1) + 8 * (e >> 1);
                if (F16) ((__half *)dst)[o] = __float2half_rn(v[4 * j + e]);
                else ((float *)dst)[o] = v[4 * j + e];
            }
        }
    }
}

lt_status lt_cuda_marlin_dequant(lt_cuda *c, void *dst, lt_dtype dt, const void *w, int G, int64_t N, int64_t K,
                                 int64_t n0, int64_t rows, lt_err *err) {
    if (rows <= 0 || K <= 0) return LT_OK;
    const int64_t lanes = ((n0 + rows - 1) / LT_MARLIN_TN - n0 / LT_MARLIN_TN + 1) * (K / LT_MARLIN_TK) * 32;
    const unsigned grid = lt_cu_grid(c, lanes, 256);
    if (dt == LT_F16)
        marlin_dequant<true><<<grid, 256, 0, c->stream>>>(dst, (const uint8_t *)w, N, K, G, n0, rows);
    else marlin_dequant<false><<<grid, 256, 0, c->stream>>>(dst, (const uint8_t *)w, N, K, G, n0, rows);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

static __global__ void marlin_get_rows(float *y, const uint8_t *W, int64_t N, int64_t K, int G, const int32_t *ids) {
    const int32_t id = ids[blockIdx.x];
    float *dst = y + (int64_t)blockIdx.x * K;
    for (int64_t j = threadIdx.x; j < K; j += blockDim.x)
        dst[j] = id < 0 || id >= N ? 0.0f : lt_marlin_get(W, N, K, G, id, j);
}

lt_status lt_cuda_marlin_get_rows(lt_cuda *c, float *y, const void *w, int G, int64_t N, int64_t K,
                                  const int32_t *ids, int64_t n, lt_err *err) {
    if (n == 0 || K == 0) return LT_OK;
    marlin_get_rows<<<(unsigned)n, K >= 256 ? 256 : 64, 0, c->stream>>>(y, (const uint8_t *)w, N, K, G, ids);
    LT_CUDA_LAUNCHED(err);
    return LT_OK;
}

/* ---- the packed matrices: lookups, upload, download ------------------------------------------ */

int lt_cuda_marlin_group(const lt_cuda *c, const lt_tensor *t, const char *op, lt_err *err) {
    if (c->marlin.n == 0) return 0;
    const size_t nb = lt_tensor_nbytes(t);
    const int i = lt_marlin_table_find(&c->marlin, t->data, nb);
    if (i < 0) return 0;
    const lt_marlin_entry *e = &c->marlin.e[i];
    if (e->data == t->data && e->bytes == nb && e->dtype == t->dtype && t->ndim == 2 && t->shape[0] == e->N &&
        t->shape[1] == e->K)
        return gq4_group(e->dtype);
    lt_err_set(err, LT_EUNSUPPORTED,
               "%s: the memory of a %s [%lld, %lld] matrix held in the W4A16 kernel's layout on cuda, read as "
               "another tensor (a view or a different shape/dtype); only the whole matrix can be used",
               op, lt_dtype_name(e->dtype), (long long)e->N, (long long)e->K);
    return -1;
}

lt_status lt_cuda_marlin_upload(lt_cuda *c, lt_tensor *t, const void *host, bool *done, lt_err *err) {
    *done = false;
    const int G = gq4_group(t->dtype);
    if (c->marlin_off || G == 0 || t->ndim != 2 || c->cc_major < 8 || (uintptr_t)t->data % 16) return LT_OK;
    const int64_t N = t->shape[0], K = t->shape[1];
    if (lt_marlin_check(host, N, K, G) != 0) return LT_OK; /* stays in rows: the GEMV reads it */
    const size_t bytes = lt_tensor_nbytes(t);
    if (c->marlin.n == c->marlin.cap) {
        const int cap = c->marlin.cap ? 2 * c->marlin.cap : 64;
        void *p = lt_realloc(c->marlin.e, (size_t)cap * sizeof *c->marlin.e);
        if (!p) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        c->marlin.e = (lt_marlin_entry *)p;
        c->marlin.cap = cap;
    }
    void *tmp = lt_malloc(bytes);
    if (!tmp) return lt_err_set(err, LT_ENOMEM, "out of host memory (%zu bytes to re-lay out a %s matrix)", bytes,
                                lt_dtype_name(t->dtype));
    (void)lt_marlin_pack(host, tmp, N, K, G);
    lt_marlin_table_forget(&c->marlin, t->data, bytes); /* what was there is gone, whatever comes */
    /* pageable source: returns once staged, so tmp may go right away */
    cudaError_t e = cudaMemcpyAsync(t->data, tmp, bytes, cudaMemcpyHostToDevice, c->stream);
    lt_free(tmp);
    if (e != cudaSuccess) return lt_cuda_fail(err, e, "cudaMemcpyAsync (packed gq4 upload)", __FILE__, __LINE__);
    lt_marlin_table_add(&c->marlin, (lt_marlin_entry){t->data, bytes, t->dtype, N, K});
    *done = true;
    return LT_OK;
}

lt_status lt_cuda_marlin_download(lt_cuda *c, int i, void *host, const void *src, size_t bytes, lt_err *err) {
    const lt_marlin_entry *e = &c->marlin.e[i];
    if (src != e->data || bytes != e->bytes)
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "tensor get: part of a %s [%lld, %lld] matrix held in the W4A16 kernel's layout on cuda; "
                          "only the whole matrix can be read back",
                          lt_dtype_name(e->dtype), (long long)e->N, (long long)e->K);
    void *tmp = lt_malloc(bytes);
    if (!tmp) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    cudaError_t ce = cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (ce == cudaSuccess) ce = cudaStreamSynchronize(c->stream);
    if (ce != cudaSuccess) {
        lt_free(tmp);
        return lt_cuda_fail(err, ce, "cudaMemcpyAsync (packed gq4 download)", __FILE__, __LINE__);
    }
    lt_marlin_unpack(tmp, host, e->N, e->K, gq4_group(e->dtype));
    lt_free(tmp);
    return LT_OK;
}
