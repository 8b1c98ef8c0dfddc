/* lt_s24mma.h - the s24_f16 rows (kernels/lt_quants.h) as the sparse A operand of
 * mma.sp::ordered_metadata.sync.aligned.m16n8k32.row.col.f32.f16.f16.f32, read straight from the
 * blocks (no re-layout at upload). Written once for host and device: the prefill kernel in
 * kernels/cuda/matmul_s24.cu assembles its fragments with these functions and
 * tests/test_s24mma.c replays a warp's lanes through them on the CPU.
 *
 * The product Y[T, N] = X[T, K] . W^T is computed as D[16 x 8] += A[16 x 32] . B[32 x 8] per mma:
 * A = 16 rows of W (output features n0 .. n0 + 15) over 32 input columns k0 .. k0 + 31 (two
 * s24_f16 blocks per row), B[k][j] = X[token j][k0 + k] (8 tokens), D[m][j] = Y[j][n0 + m].
 * Fragments (PTX ISA, "Matrix fragments for multiply-accumulate operation with sparse matrix A",
 * m16n8k32 .f16; groupID g = lane >> 2, threadID_in_group t = lane % 4):
 *   A (4 x .f16x2, the compressed 16 x 16 matrix, laid out as a dense m16n8k16 A fragment):
 *     a0,a1: row g, compressed columns 2t, 2t+1;  a2,a3: row g+8, the same columns;
 *     a4,a5: row g, columns 2t+8, 2t+9;           a6,a7: row g+8, columns 2t+8, 2t+9.
 *     Compressed columns 2c, 2c+1 are the two kept values of the 4-column chunk c (columns
 *     4c .. 4c+3 of the 32), so columns 0..7 are kept values 0..7 of the row's first block and
 *     8..15 those of its second: a0,a1 = block 0's v[2t], v[2t+1], a4,a5 = block 1's.
 *   B (4 x .f16x2): b(2r), b(2r+1) = B[2t + 8r][g], B[2t + 8r + 1][g] for r = 0..3.
 *   C/D (4 x f32): c0,c1 = D[g][2t], D[g][2t+1]; c2,c3 = D[g+8][2t], D[g+8][2t+1].
 *   Metadata (sparsity selector 0: threads t = 0 and 1 of each group supply it): per 4-column
 *     chunk 4 bits, the positions (0..3) of its first and second kept value in bits 0-1 and 2-3,
 *     chunks in increasing order from bit 0 (ordered_metadata: first < second, as s24
 *     blocks store them and the loader checks, lt_s24_check); thread t (0 or 1) holds chunks 4t .. 4t+3 of row g
 *     in bits 0..15 and of row g+8 in bits 16..31. That is an s24_f16 block's own meta field
 *     (kept value k's position at bits 2k): lane (g, t < 2) takes block t of rows g and g+8.
 * Rows at or past N and columns at or past K (K % 16 == 0, so a whole block) read as zeros with
 * the metadata of positions 0 and 1 (0x4444, a valid pattern).
 */
#ifndef LT_S24MMA_H
#define LT_S24MMA_H

#include <stdint.h>

#include "lt_math.h"

#define LT_S24MMA_M 16   /* rows of W per mma */
#define LT_S24MMA_N 8    /* tokens per mma */
#define LT_S24MMA_K 32   /* input columns per mma: two s24_f16 blocks */
#define LT_S24MMA_META_PAD 0x4444u

/* Halfword index of block b of row n (9 halfwords per block: meta, then v[0..7]). */
LT_HD int64_t lt_s24mma_blk(int64_t n, int64_t b, int K) { return (n * (int64_t)(K / 16) + b) * 9; }

/* Lane's A fragment for rows n0.. and columns k0.. (k0 % 32 == 0): a[i] the f16 bits of a_i. */
LT_HD void lt_s24mma_a(const uint16_t *w, int64_t N, int K, int64_t n0, int k0, int lane, uint16_t a[8]) {
    const int g = lane >> 2, t = lane & 3;
    for (int h = 0; h < 2; h++)         /* block h of the two: a0..a3 (h = 0), a4..a7 (h = 1) */
        for (int r = 0; r < 2; r++) {   /* row g (r = 0), g + 8 (r = 1) */
            const int64_t n = n0 + g + 8 * r;
            const int b = k0 / 16 + h;
            uint16_t v0 = 0, v1 = 0;
            if (n < N && 16 * b < K) {
                const uint16_t *blk = w + lt_s24mma_blk(n, b, K);
                v0 = blk[1 + 2 * t];
                v1 = blk[2 + 2 * t];
            }
            a[4 * h + 2 * r] = v0;
            a[4 * h + 2 * r + 1] = v1;
        }
}

/* Lane's metadata register (sparsity selector 0); 0 for lanes with t >= 2 (not read). */
LT_HD uint32_t lt_s24mma_meta(const uint16_t *w, int64_t N, int K, int64_t n0, int k0, int lane) {
    const int g = lane >> 2, t = lane & 3;
    if (t >= 2) return 0;
    const int b = k0 / 16 + t;
    uint32_t m = 0;
    for (int r = 0; r < 2; r++) {
        const int64_t n = n0 + g + 8 * r;
        const uint32_t h = n < N && 16 * b < K ? w[lt_s24mma_blk(n, b, K)] : LT_S24MMA_META_PAD;
        m |= h << (16 * r);
    }
    return m;
}

/* Row of B (0..31) that b_i (i = 0..7) of any lane holds (its column: g = lane >> 2). */
LT_HD int lt_s24mma_b_row(int lane, int i) { return 2 * (lane & 3) + (i & 1) + 8 * (i >> 1); }

/* Row (0..15) and column (0..7) of D that c_i (i = 0..3) of the lane holds. */
LT_HD void lt_s24mma_c_pos(int lane, int i, int *row, int *col) {
    *row = (lane >> 2) + 8 * (i >> 1);
    *col = 2 * (lane & 3) + (i & 1);
}

#endif
