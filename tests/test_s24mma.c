/* test_s24mma.c - the s24_f16 prefill kernel on the sparse tensor cores (kernels/cuda/
 * matmul_s24.cu, mma.sp::ordered_metadata m16n8k32 f16) proven on the CPU through kernels/lt_s24mma.h.
 * - The kernel replayed CTA by CTA, warp by warp and lane by lane with its schedule (64 rows x
 *   64 tokens per CTA, 32-column steps): the shared-memory image of the activations it builds
 *   (f32 -> f16, round to nearest even, zeros past T and K), each lane's A values and metadata
 *   register from the blocks (lt_s24mma_a / lt_s24mma_meta), its B registers from the shared
 *   image at lt_s24mma_b_row, and its epilogue through lt_s24mma_c_pos with the bias.
 * - mma.sp done as the PTX ISA describes it, written here from the manual and not through the
 *   helper: the compressed 16 x 16 A gathered from the lanes by the m16n8k16 .f16 A layout, the
 *   metadata of sparsity selector 0 (threads 0 and 1 of each group of four: row g in bits 0..15,
 *   row g + 8 in bits 16..31, thread t covering 4-column chunks 4t .. 4t + 3, 4 bits per chunk
 *   with the first and second kept value's position), nibbles that are not increasing
 *   (ordered_metadata's rule) counted as failures, the A row expanded to 32 columns, B gathered
 *   by the m16n8k32 .f16 B layout and D scattered by the f32 C layout; every A, B and D element
 *   owned by exactly one lane.
 * - Y compared with a float64 product of the masked weights (lt_s24_f16_get) and the f16-rounded
 *   activations: only summation order differs, so a single misplaced value or metadata bit shows.
 * What only a GPU run checks (tests/test_ops_cuda.c's s24_f16 cases, tools/gpu-check.sh): that the
 * hardware agrees with the manual as read here, and the kernel's speed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/lt_quants.h"
#include "kernels/lt_s24mma.h"
#include "testutil.h"

static lt_test_rng rng;

#define CTA_WARPS 4
#define CTA_BM (CTA_WARPS * LT_S24MMA_M)
#define CTA_BT 64
#define XS_STRIDE (LT_S24MMA_K + 8) /* the kernel's padded shared rows */

/* Random s24_f16 rows: two distinct positions of each 4 in increasing order, values ~ N(0, 1). */
static lt_block_s24_f16 *random_s24(int64_t N, int K) {
    const int64_t nb = N * (K / 16);
    lt_block_s24_f16 *b = calloc((size_t)nb, sizeof *b);
    for (int64_t i = 0; i < nb; i++) {
        uint16_t meta = 0;
        for (int c = 0; c < 4; c++) {
            int p0 = (int)(lt_test_u32(&rng) % 4), p1 = (int)(lt_test_u32(&rng) % 3);
            if (p1 >= p0) p1++;
            if (p1 < p0) { int s = p0; p0 = p1; p1 = s; }
            meta |= (uint16_t)((p0 | p1 << 2) << (4 * c));
        }
        b[i].meta = meta;
        for (int k = 0; k < 8; k++) b[i].v[k] = lt_f32_to_f16(lt_test_normal(&rng));
    }
    return b;
}

/* One mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32, sparsity selector 0, from the
 * 32 lanes' registers as the PTX ISA lays them out; d[16][8] += A . B. Returns the count of
 * ownership / metadata violations. */
static int mma_sp_emulate(const uint16_t a[32][8], const uint16_t b[32][8], const uint32_t e[32], double d[16][8]) {
    double ac[16][16], A[16][32], B[32][8];
    int own_a[16][16] = {{0}}, own_b[32][8] = {{0}}, bad = 0;
    for (int lane = 0; lane < 32; lane++) {
        const int g = lane >> 2, t = lane & 3;
        for (int i = 0; i < 8; i++) { /* A: dense m16n8k16 .f16 layout over the compressed 16 x 16 */
            const int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
            const int col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
            ac[row][col] = lt_f16_to_f32(a[lane][i]);
            own_a[row][col]++;
        }
        for (int i = 0; i < 8; i++) { /* B: m16n8k32 .f16 */
            const int row = t * 2 + (i & 1) + 8 * (i / 2);
            B[row][g] = lt_f16_to_f32(b[lane][i]);
            own_b[row][g]++;
        }
    }
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) bad += own_a[r][c] != 1;
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 8; c++) bad += own_b[r][c] != 1;
    /* metadata, selector 0: lanes 4g + 0 / 4g + 1 */
    memset(A, 0, sizeof A);
    for (int g = 0; g < 8; g++)
        for (int t = 0; t < 2; t++)
            for (int half = 0; half < 2; half++) {
                const int row = g + 8 * half;
                const uint32_t bits = e[4 * g + t] >> (16 * half);
                for (int q = 0; q < 4; q++) {
                    const int chunk = 4 * t + q, nib = (int)(bits >> (4 * q)) & 15;
                    const int i0 = nib & 3, i1 = nib >> 2;
                    if (i0 >= i1) { bad++; continue; } /* ordered_metadata: increasing positions */
                    A[row][4 * chunk + i0] = ac[row][2 * chunk];
                    A[row][4 * chunk + i1] = ac[row][2 * chunk + 1];
                }
            }
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 8; n++) {
            double s = 0;
            for (int k = 0; k < 32; k++) s += A[m][k] * B[k][n];
            d[m][n] += s;
        }
    return bad;
}

/* The kernel, replayed: y[T][N] (NAN where it writes nothing); returns the violations. */
static int replay(float *y, const float *x, const lt_block_s24_f16 *wb, const float *bias, int T, int64_t N, int K,
                  int *writes) {
    const uint16_t *w = (const uint16_t *)wb;
    uint16_t *xs = malloc(sizeof(uint16_t) * CTA_BT * XS_STRIDE);
    int bad = 0;
    for (int64_t bx = 0; bx < (N + CTA_BM - 1) / CTA_BM; bx++)
        for (int by = 0; by < (T + CTA_BT - 1) / CTA_BT; by++) {
            const int j0 = by * CTA_BT;
            static double acc[CTA_WARPS][CTA_BT / 8][16][8];
            memset(acc, 0, sizeof acc);
            for (int k0 = 0; k0 < K; k0 += LT_S24MMA_K) {
                for (int jj = 0; jj < CTA_BT; jj++)
                    for (int kk = 0; kk < LT_S24MMA_K; kk++) {
                        const int j = j0 + jj, k = k0 + kk;
                        xs[jj * XS_STRIDE + kk] = lt_f32_to_f16(j < T && k < K ? x[(int64_t)j * K + k] : 0.0f);
                    }
                for (int wp = 0; wp < CTA_WARPS; wp++) {
                    const int64_t n0 = bx * CTA_BM + wp * LT_S24MMA_M;
                    if (n0 >= N) continue;
                    uint16_t a[32][8];
                    uint32_t e[32];
                    for (int lane = 0; lane < 32; lane++) {
                        lt_s24mma_a(w, N, K, n0, k0, lane, a[lane]);
                        e[lane] = lt_s24mma_meta(w, N, K, n0, k0, lane);
                    }
                    for (int s = 0; s < CTA_BT / 8; s++) {
                        uint16_t b[32][8];
                        for (int lane = 0; lane < 32; lane++)
                            for (int i = 0; i < 8; i++)
                                b[lane][i] = xs[(8 * s + (lane >> 2)) * XS_STRIDE + lt_s24mma_b_row(lane, i)];
                        /* the kernel reads b_i, b_i+1 as one 32-bit word: adjacent halves */
                        for (int lane = 0; lane < 32; lane++)
                            for (int r = 0; r < 4; r++)
                                bad += lt_s24mma_b_row(lane, 2 * r + 1) != lt_s24mma_b_row(lane, 2 * r) + 1 ||
                                       lt_s24mma_b_row(lane, 2 * r) % 2 != 0;
                        bad += mma_sp_emulate((const uint16_t(*)[8])a, (const uint16_t(*)[8])b, e, acc[wp][s]);
                    }
                }
            }
            for (int wp = 0; wp < CTA_WARPS; wp++) {
                const int64_t n0 = bx * CTA_BM + wp * LT_S24MMA_M;
                if (n0 >= N) continue;
                for (int s = 0; s < CTA_BT / 8; s++)
                    for (int lane = 0; lane < 32; lane++)
                        for (int i = 0; i < 4; i++) {
                            int r, col;
                            lt_s24mma_c_pos(lane, i, &r, &col);
                            /* the f32 C layout, from the manual */
                            bad += r != (lane >> 2) + (i >= 2 ? 8 : 0) || col != (lane % 4) * 2 + (i & 1);
                            const int64_t n = n0 + r;
                            const int j = j0 + 8 * s + col;
                            if (n < N && j < T) {
                                y[(int64_t)j * N + n] = (float)acc[wp][s][r][col] + (bias ? bias[n] : 0.0f);
                                writes[(int64_t)j * N + n]++;
                            }
                        }
            }
        }
    free(xs);
    return bad;
}

static void test_kernel(int64_t N, int K, int T, int with_bias) {
    lt_block_s24_f16 *w = random_s24(N, K);
    float *x = malloc(sizeof(float) * (size_t)T * K), *y = malloc(sizeof(float) * (size_t)T * N);
    float *bias = with_bias ? malloc(sizeof(float) * (size_t)N) : NULL;
    int *writes = calloc((size_t)T * N, sizeof(int));
    lt_test_fill(&rng, x, (int64_t)T * K, 1.0f);
    if (bias) lt_test_fill(&rng, bias, N, 1.0f);
    for (int64_t i = 0; i < (int64_t)T * N; i++) y[i] = NAN;
    const int bad = replay(y, x, w, bias, T, N, K, writes);
    CHECKF(bad == 0, "N %lld K %d T %d: %d fragment ownership / metadata violations", (long long)N, K, T, bad);
    int once = 1;
    double worst = 0;
    for (int j = 0; j < T; j++)
        for (int64_t n = 0; n < N; n++) {
            const lt_block_s24_f16 *row = w + n * (K / 16);
            double ref = bias ? bias[n] : 0.0, mag = fabs(ref);
            for (int k = 0; k < K; k++) {
                const double p = (double)lt_s24_f16_get(row + k / 16, k % 16) *
                                 (double)lt_f16_to_f32(lt_f32_to_f16(x[(int64_t)j * K + k]));
                ref += p;
                mag += fabs(p);
            }
            once &= writes[(int64_t)j * N + n] == 1;
            const double e = fabs((double)y[(int64_t)j * N + n] - ref) / (mag + 1e-30);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    CHECKF(once, "N %lld K %d T %d: an output written other than once", (long long)N, K, T);
    /* float64 sums of the same products; the f32 store of y is the only rounding that matters */
    CHECKF(worst < 1e-6, "N %lld K %d T %d: worst error %.3g of the sum of |products|", (long long)N, K, T, worst);
    free(w);
    free(x);
    free(y);
    free(bias);
    free(writes);
}

/* The helper itself on one block: the metadata halfword of row g / g + 8 goes to lanes 4g, 4g+1
 * unchanged, padding rows read as zeros with a valid pattern. */
static void test_edges(void) {
    lt_block_s24_f16 *w = random_s24(3, 16); /* 3 rows, one block each: K % 32 == 16 */
    const uint16_t *wh = (const uint16_t *)w;
    for (int lane = 0; lane < 32; lane++) {
        const int g = lane >> 2, t = lane & 3;
        const uint32_t e = lt_s24mma_meta(wh, 3, 16, 0, 0, lane);
        uint16_t a[8];
        lt_s24mma_a(wh, 3, 16, 0, 0, lane, a);
        if (t >= 2) {
            CHECK(e == 0);
        } else {
            const uint32_t lo = g < 3 && t == 0 ? w[g].meta : LT_S24MMA_META_PAD;
            CHECKF(e == (lo | LT_S24MMA_META_PAD << 16), "lane %d meta %08x", lane, (unsigned)e);
        }
        for (int i = 0; i < 8; i++) {
            const int row = g + 8 * ((i >> 1) & 1), blk = i >> 2;
            const uint16_t want = row < 3 && blk == 0 ? w[row].v[2 * t + (i & 1)] : 0;
            CHECK(a[i] == want);
        }
    }
    free(w);
}

int main(void) {
    lt_test_rng_seed(&rng, 17);
    test_edges();
    test_kernel(64, 64, 64, 1);    /* one CTA exactly */
    test_kernel(100, 80, 9, 0);    /* ragged rows, K % 32 == 16, the smallest prefill T */
    test_kernel(16, 16, 130, 1);   /* one block per row, three token tiles */
    test_kernel(200, 160, 33, 1);  /* several CTAs both ways */
    test_kernel(48, 1024, 20, 0);  /* long rows */
    return lt_test_done();
}
