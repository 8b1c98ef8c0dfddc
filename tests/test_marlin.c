/* test_marlin.c - the CUDA W4A16 kernel's weight layout (kernels/lt_marlin.h) and its lanes'
 * arithmetic (kernels/cuda/matmul_marlin.cu), proven on the CPU.
 * - Packing random gq4 matrices (groups of 32, 64, 128): every element read back through the
 *   layout (lt_marlin_get, and whole tiles lane by lane: lt_marlin_lane_values) is bit-identical to the gq4 rows' own value (lt_gq4_get), the unpack
 *   gives the rows back byte for byte, and shapes / zero points the layout cannot hold are refused.
 * - The kernel replayed lane by lane with its schedule (lt_marlin_make_plan, lt_marlin_warp_tiles):
 *   each lane's 16-byte code load and scale/zero loads at the kernel's offsets, the lop3 /
 *   magic-number dequantization in f16 arithmetic ((q | 0x6400) - (1024 + z), the high nibble
 *   as fma(1024 + 16 q, 1/16, -(64 + z)), times the scale), the activation fragments read from the
 *   shared-memory image the kernel builds, and mma.sync.m16n8k16 done as a warp does it: the A, B
 *   and C fragments gathered and scattered by the PTX ISA's documented layouts ("Matrix Fragments
 *   for mma.m16n8k16", .f16 A/B, .f32 C), then the warps' and the splits' partial sums in the
 *   kernel's order. Y = X . W^T is compared with a double-precision product of the f16-rounded
 *   operands (tight: a single misplaced code shows) and with the exact gq4 weights (the f16
 *   roundings of a W4A16 kernel), and every output is written exactly once per split.
 * - The CUDA backend's table of packed matrices (lookups, writes over them, reallocations) against a
 *   plain list.
 * What only a GPU run checks (tests/test_ops_cuda.c's gq4 cases, tools/gpu-check.sh): the device
 * code itself (cp.async pipeline, the inline PTX, the shared-memory reduction) and its speed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/lt_marlin.h"
#include "testutil.h"

static lt_test_rng rng;

static float h2f(uint16_t h) { return lt_f16_to_f32(h); }
static uint16_t f2h(float f) { return lt_f32_to_f16(f); }

/* Random gq4 rows: d = +-[2^-10, 2^-4) in f16, z an integer 0..15 (16 now and then: AutoGPTQ's
 * v1 zeros + 1), codes random. */
static uint8_t *random_gq4(int64_t N, int64_t K, int G) {
    const size_t bb = 4 + (size_t)G / 2, n = (size_t)(N * (K / G));
    uint8_t *b = malloc(n * bb);
    for (size_t i = 0; i < n; i++) {
        uint8_t *blk = b + i * bb;
        float d = ldexpf(1.0f + lt_test_uniform(&rng), -10 + (int)(lt_test_u32(&rng) % 6));
        if (lt_test_u32(&rng) & 1) d = -d;
        uint16_t dh = f2h(d), zh = f2h((float)(lt_test_u32(&rng) % 50 == 0 ? 16 : lt_test_u32(&rng) % 16));
        memcpy(blk, &dh, 2);
        memcpy(blk + 2, &zh, 2);
        for (int k = 0; k < G / 2; k++) blk[4 + k] = (uint8_t)lt_test_u32(&rng);
    }
    return b;
}

static float gq4_ref(const uint8_t *rows, int64_t K, int G, int64_t n, int64_t k) {
    const size_t bb = 4 + (size_t)G / 2;
    const uint8_t *blk = rows + (size_t)(n * (K / G) + k / G) * bb;
    uint16_t d, z;
    memcpy(&d, blk, 2);
    memcpy(&z, blk + 2, 2);
    return lt_gq4_get(d, z, blk + 4, (int)(k % G));
}

static void test_pack(int64_t N, int64_t K, int G) {
    uint8_t *rows = random_gq4(N, K, G);
    const size_t bytes = (size_t)(N * (K / G)) * (4 + (size_t)G / 2);
    uint8_t *packed = malloc(bytes), *back = malloc(bytes);
    CHECK(lt_marlin_sz_off(N, K, G, N / 64, 0) == bytes); /* the records end where the rows did */
    CHECK(lt_marlin_pack(rows, packed, N, K, G) == 0);
    int64_t bad = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) {
            float a = lt_marlin_get(packed, N, K, G, n, k), b = gq4_ref(rows, K, G, n, k);
            bad += memcmp(&a, &b, 4) != 0;
        }
    CHECKF(bad == 0, "%lld of %lld elements differ (N %lld K %lld G %d)", (long long)bad, (long long)(N * K),
           (long long)N, (long long)K, G);
    /* the whole-tile reads (get_rows, cuBLAS's f16 tiles): every lane's 32 values at their places */
    int64_t seen = 0;
    bad = 0;
    for (int64_t nb = 0; nb < N / 64; nb++)
        for (int64_t kt = 0; kt < K / 16; kt++)
            for (int lane = 0; lane < 32; lane++) {
                float v[32];
                lt_marlin_lane_values(packed, N, K, G, nb, kt, lane, v);
                for (int i = 0; i < 32; i++) {
                    const int j = i / 4, e = i % 4;
                    const int64_t n = 64 * nb + 8 * j + lane / 4, k = 16 * kt + 2 * (lane % 4) + (e & 1) + 8 * (e >> 1);
                    const float r = gq4_ref(rows, K, G, n, k);
                    bad += memcmp(&v[i], &r, 4) != 0, seen++;
                }
            }
    CHECKF(bad == 0 && seen == N * K, "lane values: %lld of %lld differ", (long long)bad, (long long)seen);
    lt_marlin_unpack(packed, back, N, K, G);
    CHECK(memcmp(back, rows, bytes) == 0);
    free(rows);
    free(packed);
    free(back);
}

static void test_refusals(void) {
    CHECK(lt_marlin_check(NULL, 64, 128, 32) == 0);
    CHECK(lt_marlin_check(NULL, 96, 128, 32) == 1);  /* N % 64 */
    CHECK(lt_marlin_check(NULL, 64, 96, 64) == 1);   /* K % G */
    CHECK(lt_marlin_check(NULL, 64, 128, 8) == 1);   /* G % 16 */
    uint8_t *rows = random_gq4(64, 64, 32);
    uint16_t z = f2h(2.5f);
    memcpy(rows + 7 * 20 + 2, &z, 2); /* block 7's zero point */
    uint8_t out[64 * 2 * 20];
    memset(out, 0xab, sizeof out);
    CHECK(lt_marlin_pack(rows, out, 64, 64, 32) == 2);
    CHECK(out[0] == 0xab); /* nothing written */
    z = f2h(-1.0f);
    memcpy(rows + 7 * 20 + 2, &z, 2);
    CHECK(lt_marlin_check(rows, 64, 64, 32) == 2);
    free(rows);
}

/* ---- the kernel, lane by lane ---------------------------------------------------------------- */

/* f16 arithmetic as the device's __hadd2 / __hmul2 / __hfma2 do it: exact result, rounded once */
static uint16_t hadd(uint16_t a, uint16_t b) { return f2h((float)((double)h2f(a) + h2f(b))); }
static uint16_t hmul(uint16_t a, uint16_t b) { return f2h((float)((double)h2f(a) * h2f(b))); }
static uint16_t hfma(uint16_t a, uint16_t b, uint16_t c) { return f2h((float)((double)h2f(a) * h2f(b) + h2f(c))); }
static uint32_t lop3_and_or(uint32_t a, uint32_t b, uint32_t c) { return (a & b) | c; } /* lut 0xea */

typedef struct lane_regs {
    uint16_t a[8];    /* A fragment: a0..a3 as 8 halves (low half first) */
    uint16_t b[8][4]; /* B fragments of the 8 sub-tiles: b0 (2 halves), b1 (2 halves) */
    float c[8][4];    /* accumulators */
    uint16_t s[8], nz1024[8], nz64[8];
} lane_regs;

/* PTX ISA m16n8k16 .f16: A element i of a lane (g, t); B element i; C element i. */
static int a_row(int g, int i) { return g + 8 * ((i / 2) % 2); }
static int a_col(int t, int i) { return 2 * t + (i % 2) + 8 * (i / 4); }
static int b_row(int t, int i) { return 2 * t + (i % 2) + 8 * (i / 2); }
static int c_row(int g, int i) { return g + 8 * (i / 2); }
static int c_col(int t, int i) { return 2 * t + (i % 2); }

/* Y [T, N] as the kernel computes it (sm: the multiprocessor count the plan is made for). */
static void emulate(const uint8_t *W, const float *x, float *y, int *writes, int64_t N, int64_t K, int G, int T,
                    int sm) {
    const lt_marlin_plan p = lt_marlin_make_plan(N, K, T, sm);
    const int wkn = LT_MARLIN_WARPS / p.wn;
    CHECK(p.tps <= LT_MARLIN_MAX_TPS && p.splits * p.tps >= K / 16 && (p.splits - 1) * p.tps < K / 16);
    const int AS = p.tps * 16 + 8; /* the kernel's row stride in halves */
    uint16_t *sA = malloc(sizeof(uint16_t) * 16 * (size_t)AS);
    float *part = calloc((size_t)p.splits * T * N, sizeof(float));
    lane_regs *L = malloc(sizeof(lane_regs) * 32 * LT_MARLIN_WARPS);
    for (int mz = 0; mz < p.mchunks; mz++)
        for (int s = 0; s < p.splits; s++) {
            const int64_t k0 = (int64_t)s * p.tps * 16;
            const int Tm = T - 16 * mz < 16 ? T - 16 * mz : 16;
            /* the CTA's shared activations: rows < Tm, its k-range in f16 */
            for (int r = 0; r < Tm; r++)
                for (int kk = 0; kk < p.tps * 16 && k0 + kk < K; kk++)
                    sA[r * AS + kk] = f2h(x[(int64_t)(16 * mz + r) * K + k0 + kk]);
            for (int64_t cn = 0; cn < N / (64 * p.wn); cn++) {
                for (int w = 0; w < LT_MARLIN_WARPS; w++) {
                    const int wn = w % p.wn, wk = w / p.wn;
                    const int64_t nb = cn * p.wn + wn;
                    int kt0, kt1;
                    lt_marlin_warp_tiles(&p, K, s, wk, &kt0, &kt1);
                    lane_regs *R = L + 32 * w;
                    memset(R, 0, sizeof(lane_regs) * 32);
                    for (int kt = kt0; kt < kt1; kt++) {
                        for (int lane = 0; lane < 32; lane++) {
                            const int g = lane / 4, t = lane % 4;
                            lane_regs *r = R + lane;
                            if (kt == kt0 || (kt * 16) % G == 0) { /* a new group: its record */
                                const uint8_t *rec = W + lt_marlin_sz_off(N, K, G, nb, kt * 16 / G);
                                uint16_t sc[8], zz[8];
                                memcpy(sc, rec + 16 * g, 16);
                                memcpy(zz, rec + 128 + 16 * g, 16);
                                for (int j = 0; j < 8; j++) {
                                    r->s[j] = sc[j];
                                    r->nz1024[j] = hadd(zz[j], f2h(1024.0f)) ^ 0x8000; /* -(1024 + z) */
                                    r->nz64[j] = hadd(zz[j], f2h(64.0f)) ^ 0x8000;
                                }
                            }
                            uint32_t q[4];
                            memcpy(q, W + lt_marlin_tile_off(nb, kt, K) + 16 * (size_t)lane, 16);
                            const int kk = (int)(kt * 16 - k0);
                            for (int i = 0; i < 8; i++) {
                                const int row = a_row(g, i);
                                r->a[i] = row < Tm ? sA[row * AS + kk + a_col(t, i)] : 0;
                            }
                            for (int m = 0; m < 4; m++) {
                                uint32_t v = q[m];
                                for (int h = 0; h < 2; h++, v >>= 8) {
                                    const int j = 2 * m + h;
                                    const uint32_t lo = lop3_and_or(v, 0x000f000fu, 0x64006400u);
                                    const uint32_t hi = lop3_and_or(v, 0x00f000f0u, 0x64006400u);
                                    for (int e = 0; e < 2; e++) {
                                        const uint16_t l = (uint16_t)(lo >> (16 * e)), u = (uint16_t)(hi >> (16 * e));
                                        r->b[j][e] = hmul(hadd(l, r->nz1024[j]), r->s[j]);
                                        r->b[j][2 + e] = hmul(hfma(u, f2h(1.0f / 16), r->nz64[j]), r->s[j]);
                                    }
                                }
                            }
                        }
                        /* the warp's 8 mma.sync: gather A and B by the fragment layouts, scatter D */
                        float A[16][16], B[16][8];
                        for (int lane = 0; lane < 32; lane++)
                            for (int i = 0; i < 8; i++) A[a_row(lane / 4, i)][a_col(lane % 4, i)] = h2f(R[lane].a[i]);
                        for (int j = 0; j < 8; j++) {
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) B[b_row(lane % 4, i)][lane / 4] = h2f(R[lane].b[j][i]);
                            for (int lane = 0; lane < 32; lane++)
                                for (int i = 0; i < 4; i++) {
                                    const int row = c_row(lane / 4, i), col = c_col(lane % 4, i);
                                    double d = R[lane].c[j][i];
                                    for (int k = 0; k < 16; k++) d += (double)A[row][k] * B[k][col];
                                    R[lane].c[j][i] = (float)d;
                                }
                        }
                    }
                }
                /* warps wk > 0 hand their sums to wk = 0 (in wk order), which stores them */
                for (int wn = 0; wn < p.wn; wn++)
                    for (int lane = 0; lane < 32; lane++)
                        for (int j = 0; j < 8; j++)
                            for (int i = 0; i < 4; i++) {
                                float v = L[32 * wn + lane].c[j][i];
                                for (int wk = 1; wk < wkn; wk++) v += L[32 * (wk * p.wn + wn) + lane].c[j][i];
                                const int row = 16 * mz + c_row(lane / 4, i);
                                const int64_t n = (cn * p.wn + wn) * 64 + 8 * j + c_col(lane % 4, i);
                                if (row >= T) continue;
                                part[((size_t)s * T + row) * N + n] = v;
                                writes[(size_t)row * N + n]++;
                            }
            }
        }
    for (int64_t i = 0; i < (int64_t)T * N; i++) { /* the split reduction, in split order */
        float v = 0.0f;
        for (int s = 0; s < p.splits; s++) v += part[(size_t)s * T * N + i];
        y[i] = v;
    }
    free(sA);
    free(part);
    free(L);
}

static void test_kernel(int64_t N, int64_t K, int G, int T, int sm) {
    uint8_t *rows = random_gq4(N, K, G);
    const size_t bytes = (size_t)(N * (K / G)) * (4 + (size_t)G / 2);
    uint8_t *W = malloc(bytes);
    CHECK(lt_marlin_pack(rows, W, N, K, G) == 0);
    float *x = malloc(sizeof(float) * (size_t)T * K), *y = malloc(sizeof(float) * (size_t)T * N);
    int *writes = calloc((size_t)T * N, sizeof(int));
    lt_test_fill(&rng, x, (int64_t)T * K, 1.0f);
    emulate(W, x, y, writes, N, K, G, T, sm);
    const lt_marlin_plan p = lt_marlin_make_plan(N, K, T, sm);
    int64_t bad16 = 0, bad = 0, badw = 0;
    double worst16 = 0, worst = 0;
    for (int t = 0; t < T; t++)
        for (int64_t n = 0; n < N; n++) {
            double r16 = 0, r = 0, abs16 = 0, absr = 0;
            for (int64_t k = 0; k < K; k++) {
                const float w = gq4_ref(rows, K, G, n, k), xv = x[(int64_t)t * K + k];
                const double a16 = h2f(f2h(xv)), w16 = h2f(f2h(w));
                r16 += a16 * w16, abs16 += fabs(a16 * w16);
                r += (double)xv * w, absr += fabs((double)xv * w);
            }
            const double v = y[(size_t)t * N + n], e16 = fabs(v - r16) / (abs16 + 1e-30),
                         e = fabs(v - r) / (absr + 1e-30);
            worst16 = e16 > worst16 ? e16 : worst16, worst = e > worst ? e : worst;
            bad16 += e16 > 2e-5, bad += e > 2e-3, badw += writes[(size_t)t * N + n] != p.splits;
        }
    CHECKF(bad16 == 0 && bad == 0 && badw == 0,
           "N %lld K %lld G %d T %d (wn %d, %d splits of %d tiles, %d m-chunks): %lld off the f16 product (worst "
           "%.2g of sum |x w|), %lld off the exact one (worst %.2g), %lld outputs not written once per split",
           (long long)N, (long long)K, G, T, p.wn, p.splits, p.tps, p.mchunks, (long long)bad16, worst16,
           (long long)bad, worst, (long long)badw);
    free(rows);
    free(W);
    free(x);
    free(y);
    free(writes);
}

static void test_plan(void) {
    /* SmolLM2-135M's shapes and a 7B's on an H100 (132 SMs) */
    const int64_t shapes[][2] = {{576, 576}, {192, 576}, {1536, 576}, {576, 1536}, {4096, 4096}, {11008, 4096},
                                 {4096, 11008}, {49152, 576}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int T = 1; T <= LT_MARLIN_MAX_T; T += 15) {
            const int64_t N = shapes[i][0], K = shapes[i][1];
            const lt_marlin_plan p = lt_marlin_make_plan(N, K, T, 132);
            const int64_t KT = K / 16;
            int covered = 1;
            /* the warps' k-tiles cover [0, KT) exactly once */
            int *seen = calloc((size_t)KT, sizeof(int));
            for (int s = 0; s < p.splits; s++)
                for (int wk = 0; wk < LT_MARLIN_WARPS / p.wn; wk++) {
                    int a, b;
                    lt_marlin_warp_tiles(&p, K, s, wk, &a, &b);
                    for (int kt = a; kt < b; kt++) seen[kt]++;
                }
            for (int64_t kt = 0; kt < KT; kt++) covered &= seen[kt] == 1;
            free(seen);
            CHECKF(covered && p.tps <= LT_MARLIN_MAX_TPS && (N / 64) % p.wn == 0 && p.mchunks == (T + 15) / 16,
                   "plan for [%d, %lld] x [%lld, %lld]^T", T, (long long)K, (long long)N, (long long)K);
        }
}

/* The table of packed matrices against a plain list: random adds, plain writes (whole cover:
 * forgotten; part: refused, nothing forgotten), forgets (reallocation) and lookups, addresses
 * in a small range so that everything overlaps everything now and then. */
static void test_table(void) {
    enum { CAP = 64, SPAN = 4096 };
    static lt_marlin_entry store[CAP];
    lt_marlin_table t = {store, 0, CAP};
    static unsigned char own[SPAN]; /* entry id + 1 owning each byte, 0: none (the plain list) */
    memset(own, 0, sizeof own);
    char *const base = (char *)own; /* addresses only: the table never dereferences them */
    int bad = 0;
    for (int step = 0; step < 20000; step++) {
        const size_t a = lt_test_u32(&rng) % SPAN, len = 1 + lt_test_u32(&rng) % 200;
        const size_t b = a + len <= SPAN ? a + len : SPAN;
        const int op = (int)(lt_test_u32(&rng) % 4);
        if (op == 0 && t.n < CAP) { /* add */
            lt_marlin_table_add(&t, (lt_marlin_entry){base + a, b - a, LT_GQ4_32, 64, 64});
            for (size_t i = 0; i < SPAN; i++) /* what it overlapped is gone */
                if (own[i]) {
                    size_t s0 = i, s1 = i;
                    while (s1 < SPAN && own[s1] == own[i]) s1++;
                    if (s0 < b && a < s1) memset(own + s0, 0, s1 - s0);
                    i = s1 - 1;
                }
            bool used[256] = {false}; /* an id no live entry has, so neighbours stay apart */
            for (size_t i = 0; i < SPAN; i++) used[own[i]] = true;
            int id = 1;
            while (used[id]) id++;
            memset(own + a, id, b - a);
        } else if (op == 1) { /* a plain write */
            bool partial = false;
            for (size_t i = 0; i < SPAN; i++)
                if (own[i]) {
                    size_t s1 = i;
                    while (s1 < SPAN && own[s1] == own[i]) s1++;
                    if (i < b && a < s1 && (i < a || s1 > b)) partial = true;
                    i = s1 - 1;
                }
            const int r = lt_marlin_table_written(&t, base + a, b - a);
            bad += partial != (r >= 0);
            if (!partial) memset(own + a, 0, b - a);
        } else if (op == 2) { /* memory reallocated */
            lt_marlin_table_forget(&t, base + a, b - a);
            for (size_t i = 0; i < SPAN; i++)
                if (own[i]) {
                    size_t s1 = i;
                    while (s1 < SPAN && own[s1] == own[i]) s1++;
                    if (i < b && a < s1) memset(own + i, 0, s1 - i);
                    i = s1 - 1;
                }
        }
        /* lookups agree, and the table is sorted without overlaps */
        bool any = false;
        for (size_t i = a; i < b; i++) any |= own[i] != 0;
        bad += any != (lt_marlin_table_find(&t, base + a, b - a) >= 0);
        size_t covered = 0, owned = 0;
        for (int i = 0; i < t.n; i++) {
            covered += t.e[i].bytes;
            if (i && (char *)t.e[i - 1].data + t.e[i - 1].bytes > (const char *)t.e[i].data) bad++;
        }
        for (size_t i = 0; i < SPAN; i++) owned += own[i] != 0;
        bad += covered != owned;
    }
    CHECKF(bad == 0, "%d disagreements between the table and a plain list", bad);
}

int main(void) {
    lt_test_rng_seed(&rng, 15);
    test_refusals();
    test_table();
    test_pack(64, 128, 32);
    test_pack(192, 576, 64);
    test_pack(128, 384, 128);
    test_plan();
    test_kernel(64, 128, 32, 1, 132);    /* one CTA, a split per pair of tiles */
    test_kernel(192, 576, 64, 3, 132);   /* wn 1: three n-blocks, warps split k */
    test_kernel(256, 1024, 128, 16, 4);  /* wn 4, one full m-chunk, splits from the 512-column cap */
    test_kernel(128, 2048, 128, 20, 132); /* wn 2, two m-chunks (the second partly empty) */
    test_kernel(384, 256, 32, 64, 2);    /* four m-chunks */
    test_kernel(64, 96 * 16, 32, 7, 1);  /* k-tiles not a multiple of the warps' parts */
    return lt_test_done();
}
