/* lt_marlin.h - the device layout of a gq4 matrix for the CUDA W4A16 kernel (kernels/cuda/
 * matmul_marlin.cu), after IST-DASLab/marlin: the 4-bit codes re-laid out offline so that one
 * 16-byte load per lane holds that lane's B fragments of eight mma.sync.m16n8k16 tiles, and the
 * scales and zero points per group in the order the lanes read them. Written once for host and
 * device: the CUDA backend packs on the host at upload (lt_marlin_pack), undoes it for downloads
 * (lt_marlin_unpack), its kernels read elements back (lt_marlin_get: get_rows, dequantization
 * for cuBLAS), and tests/test_marlin.c emulates the kernel's lanes over this very indexing.
 *
 * The matrix W [N, K] (y = x . W^T; element W[n][k] = d * (q - z) of group k / G of row n, the
 * gq4 types of kernels/lt_quants.h) needs N % 64 == 0 and K % G == 0 (G = 32, 64, 128, so K % 16
 * == 0). It is cut into n-blocks of 64 rows (nb = n / 64) and k-tiles of 16 columns (kt = k / 16).
 * Codes: tile (nb, kt) is 512 bytes at ((nb * K/16) + kt) * 512, so an n-block's tiles follow
 * each other along k (a CTA streams its k-range contiguously). Inside a tile, lane L = 4 g + t
 * (g = L / 4, t = L % 4: the mma's groupID and thread-in-group) owns 16 bytes at 16 L: four
 * 32-bit words m = 0..3, word m holding the B fragments of the 8-column sub-tiles j = 2m and
 * 2m + 1 (columns 64 nb + 8 j + g of W). An m16n8k16 B fragment (PTX ISA, "Matrix Fragments for
 * mma.m16n8k16" with .f16) is b0 = (B[2t][g], B[2t+1][g]), b1 = (B[2t+8][g], B[2t+9][g]) with
 * B[k][n] = W[n][k]; in the word (as Marlin's lop3 dequantization wants it):
 *     bits  0..3 / 16..19: sub-tile 2m,   k = 2t, 2t+1     (b0)
 *     bits  4..7 / 20..23: sub-tile 2m,   k = 2t+8, 2t+9   (b1, the codes times 16)
 *     bits  8..11 / 24..27 and 12..15 / 28..31: the same for sub-tile 2m + 1 (word >> 8)
 * Scales and zeros: after the codes (N K / 2 bytes), one 256-byte record per (nb, group gi) at
 * N K / 2 + (nb * K/G + gi) * 256: 64 f16 scales, then 64 f16 zeros, element 8 g + j of each for
 * column 64 nb + 8 j + g, so lane (g, t) reads its eight sub-tiles' scales with one 16-byte load
 * and its zeros with another. Byte count: N K / 2 + N K / G * 4, the gq4 rows' own (one f16 d,
 * one f16 z, G / 2 code bytes per group), so the packed matrix fits the tensor's allocation.
 * Zero points must be integers in [0, 1023] (exact in f16 as 1024 + z): GPTQ's are 0..15.
 * Also the host-side table of which device allocations hold packed matrices (lt_marlin_table).
 */
#ifndef LT_MARLIN_H
#define LT_MARLIN_H

#include <stddef.h>
#include <stdint.h>

#include "lt_math.h"

#define LT_MARLIN_TN 64          /* rows of W (output columns) per n-block */
#define LT_MARLIN_TK 16          /* k per tile: the mma's K */
#define LT_MARLIN_TILE_BYTES 512 /* 64 x 16 codes: 16 bytes per lane */
#define LT_MARLIN_SZ_BYTES 256   /* per (n-block, group): 64 f16 scales, 64 f16 zeros */

/* Byte offset of tile (nb, kt); lane L's 16 bytes follow at + 16 L. */
LT_HD size_t lt_marlin_tile_off(int64_t nb, int64_t kt, int64_t K) {
    return ((size_t)nb * (size_t)(K / LT_MARLIN_TK) + (size_t)kt) * LT_MARLIN_TILE_BYTES;
}

/* Byte offset of the scale/zero record of (nb, group gi). */
LT_HD size_t lt_marlin_sz_off(int64_t N, int64_t K, int G, int64_t nb, int64_t gi) {
    return (size_t)N * (size_t)K / 2 + ((size_t)nb * (size_t)(K / G) + (size_t)gi) * LT_MARLIN_SZ_BYTES;
}

/* Where the code of W[n][k] lives: the byte offset of its 32-bit word and the bit shift in it
 * (the word read little-endian, as the device does). */
LT_HD void lt_marlin_locate(int64_t n, int64_t k, int64_t K, size_t *word_off, int *shift) {
    const int64_t nb = n / LT_MARLIN_TN, kt = k / LT_MARLIN_TK;
    const int c = (int)(n % LT_MARLIN_TN), kk = (int)(k % LT_MARLIN_TK);
    const int j = c / 8, g = c % 8;           /* sub-tile, groupID */
    const int t = (kk % 8) / 2, odd = kk & 1; /* thread in group; b0/b1 half */
    const int hi8 = kk >= 8;                  /* b1: k = 2t+8, 2t+9 */
    *word_off = lt_marlin_tile_off(nb, kt, K) + (size_t)(4 * g + t) * 16 + (size_t)(j / 2) * 4;
    *shift = (j & 1) * 8 + hi8 * 4 + odd * 16;
}

/* Index (in f16 elements) of column n's entry in its record's scales (+ 64: zeros). */
LT_HD int lt_marlin_sz_index(int64_t n) {
    const int c = (int)(n % LT_MARLIN_TN);
    return 8 * (c % 8) + c / 8;
}

/* d * (q - z) exactly as lt_gq4_get computes it (d*q - d*z, each product exact) */
LT_HD float lt_marlin_dq(uint16_t dh, uint16_t zh, uint32_t q) {
    const float d = lt_f16_to_f32(dh), z = lt_f16_to_f32(zh);
    return lt_mul_rn(d, (float)q) + -lt_mul_rn(d, z);
}

/* W[n][k] of a packed matrix: d * (q - z), the value lt_gq4_get gives for the gq4 rows. */
LT_HD float lt_marlin_get(const void *p, int64_t N, int64_t K, int G, int64_t n, int64_t k) {
    const uint8_t *b = (const uint8_t *)p;
    size_t wo;
    int sh;
    lt_marlin_locate(n, k, K, &wo, &sh);
    uint32_t w;
    memcpy(&w, b + wo, 4);
    const uint16_t *sz = (const uint16_t *)(b + lt_marlin_sz_off(N, K, G, n / LT_MARLIN_TN, k / G));
    const int i = lt_marlin_sz_index(n);
    return lt_marlin_dq(sz[i], sz[64 + i], (w >> sh) & 15u);
}

/* The 32 values lane L (g = L / 4, t = L % 4) of tile (nb, kt) holds, read as the kernel reads
 * them (one 16-byte load of codes, its scales and zeros): v[4 j + e] is W[64 nb + 8 j + g][16 kt
 * + 2 t + (e & 1) + 8 (e >> 1)], bit for bit lt_marlin_get's value (the dequantization of whole
 * tiles: get_rows' and cuBLAS's f16 tiles). */
LT_HD void lt_marlin_lane_values(const void *p, int64_t N, int64_t K, int G, int64_t nb, int64_t kt, int lane,
                                 float v[32]) {
    const uint8_t *b = (const uint8_t *)p;
    const int g = lane / 4;
    uint32_t w[4];
#ifdef __CUDA_ARCH__
    const uint4 q4 = *(const uint4 *)(b + lt_marlin_tile_off(nb, kt, K) + 16 * (size_t)lane);
    w[0] = q4.x, w[1] = q4.y, w[2] = q4.z, w[3] = q4.w;
#else
    memcpy(w, b + lt_marlin_tile_off(nb, kt, K) + 16 * (size_t)lane, 16);
#endif
    const uint16_t *sz = (const uint16_t *)(b + lt_marlin_sz_off(N, K, G, nb, kt * LT_MARLIN_TK / G)) + 8 * g;
#ifdef __CUDA_ARCH__
#pragma unroll /* v stays in registers */
#endif
    for (int j = 0; j < 8; j++) {
        const uint32_t q = w[j / 2] >> (8 * (j & 1));
        const uint16_t d = sz[j], z = sz[64 + j];
        v[4 * j + 0] = lt_marlin_dq(d, z, q & 15u);         /* k = 2t     (bits 0..3)   */
        v[4 * j + 1] = lt_marlin_dq(d, z, (q >> 16) & 15u); /* k = 2t + 1 (bits 16..19) */
        v[4 * j + 2] = lt_marlin_dq(d, z, (q >> 4) & 15u);  /* k = 2t + 8 (bits 4..7)   */
        v[4 * j + 3] = lt_marlin_dq(d, z, (q >> 20) & 15u); /* k = 2t + 9 (bits 20..23) */
    }
}

/* ---- the kernel's schedule (matmul_marlin.cu; replayed by tests/test_marlin.c) -----------------
 * A CTA is 4 warps: wn = warp % wn_count picks one of wn_count n-blocks (the CTA covers
 * 64 wn_count output columns), wk = warp / wn_count one of 4 / wn_count parts of the CTA's
 * k-range. grid = (N / (64 wn_count), splits, mchunks): split s takes k-tiles [s tps, (s+1) tps)
 * (at most LT_MARLIN_MAX_TPS: its activations fit the shared memory), m-chunk mz the rows
 * [16 mz, 16 mz + 16) of x. Several splits: each writes a partial [T, N] and a second kernel
 * adds them up in split order (deterministic). */
#define LT_MARLIN_WARPS 4
#define LT_MARLIN_MAX_TPS 32 /* k-tiles per split: 512 columns of activations in shared memory */
#define LT_MARLIN_MAX_T 64   /* batches up to this run the kernel (4 m-chunks); above, cuBLAS */

typedef struct lt_marlin_plan {
    int wn;      /* n-blocks per CTA: 4, 2 or 1 (the largest dividing N / 64) */
    int splits;  /* k-ranges */
    int tps;     /* k-tiles per split */
    int mchunks; /* 16-row chunks of x */
} lt_marlin_plan;

/* The schedule for x [T, K] . W [N, K]^T on a device of sm_count multiprocessors: enough CTAs
 * for two per multiprocessor where K allows (each warp keeps at least 2 k-tiles). */
LT_HD lt_marlin_plan lt_marlin_make_plan(int64_t N, int64_t K, int64_t T, int sm_count) {
    lt_marlin_plan p;
    const int64_t nblk = N / LT_MARLIN_TN, KT = K / LT_MARLIN_TK;
    p.wn = nblk % 4 == 0 ? 4 : nblk % 2 == 0 ? 2 : 1;
    p.mchunks = (int)((T + 15) / 16);
    const int64_t ctas = nblk / p.wn * p.mchunks;
    int64_t splits = (KT + LT_MARLIN_MAX_TPS - 1) / LT_MARLIN_MAX_TPS;
    int64_t want = (2 * (int64_t)(sm_count > 0 ? sm_count : 1) + ctas - 1) / ctas;
    const int64_t most = KT / (2 * (LT_MARLIN_WARPS / p.wn)); /* >= 2 tiles per warp */
    if (want > most) want = most;
    if (want > splits) splits = want;
    if (splits < 1) splits = 1;
    p.tps = (int)((KT + splits - 1) / splits);
    p.splits = (int)((KT + p.tps - 1) / p.tps); /* no empty split */
    return p;
}

/* The k-tiles [*kt0, *kt1) warp part wk (0 .. 4 / wn - 1) of split s works on (may be empty). */
LT_HD void lt_marlin_warp_tiles(const lt_marlin_plan *p, int64_t K, int s, int wk, int *kt0, int *kt1) {
    const int KT = (int)(K / LT_MARLIN_TK), wkn = LT_MARLIN_WARPS / p->wn;
    const int b = s * p->tps, e = b + p->tps < KT ? b + p->tps : KT;
    const int per = (p->tps + wkn - 1) / wkn;
    const int w0 = b + wk * per, w1 = w0 + per;
    *kt0 = w0 < e ? w0 : e;
    *kt1 = w1 < e ? w1 : e;
}

/* Whether an N x K gq4 matrix of group G can take the layout: 0 yes, 1 the shape (N % 64,
 * K % G), 2 a zero point that is not an integer in [0, 1023] (src: the gq4 rows, may be NULL to
 * check the shape only). */
static inline int lt_marlin_check(const void *src, int64_t N, int64_t K, int G) {
    if (G <= 0 || N <= 0 || K <= 0 || N % LT_MARLIN_TN || K % G || G % LT_MARLIN_TK) return 1;
    if (!src) return 0;
    const size_t bb = 4 + (size_t)G / 2;
    const uint8_t *s = (const uint8_t *)src;
    for (int64_t b = 0; b < N * (K / G); b++) {
        uint16_t zh;
        memcpy(&zh, s + (size_t)b * bb + 2, 2);
        const float z = lt_f16_to_f32(zh);
        if (!(z >= 0.0f && z <= 1023.0f) || z != (float)(int)z) return 2;
    }
    return 0;
}

/* gq4 rows (N rows of K / G blocks: f16 d, f16 z, G / 2 code bytes in q4_0's order) -> the
 * packed layout in dst (the same byte count; src and dst must not overlap). Returns
 * lt_marlin_check's answer; dst is written only when it is 0. */
static inline int lt_marlin_pack(const void *src, void *dst, int64_t N, int64_t K, int G) {
    const int ok = lt_marlin_check(src, N, K, G);
    if (ok) return ok;
    const size_t bb = 4 + (size_t)G / 2;
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *o = (uint8_t *)dst;
    memset(o, 0, (size_t)N * (size_t)K / 2);
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < K / G; gi++) {
            const uint8_t *blk = s + (size_t)(n * (K / G) + gi) * bb;
            uint16_t *sz = (uint16_t *)(o + lt_marlin_sz_off(N, K, G, n / LT_MARLIN_TN, gi));
            const int i = lt_marlin_sz_index(n);
            memcpy(&sz[i], blk, 2);
            memcpy(&sz[64 + i], blk + 2, 2);
            for (int e = 0; e < G; e++) {
                size_t wo;
                int sh;
                lt_marlin_locate(n, gi * G + e, K, &wo, &sh);
                uint32_t w;
                memcpy(&w, o + wo, 4);
                w |= (uint32_t)lt_nib32(blk + 4 + 16 * (e / 32), e % 32) << sh;
                memcpy(o + wo, &w, 4);
            }
        }
    return 0;
}

/* The packed layout back to gq4 rows (dst: N * K / G blocks; no overlap with src). */
static inline void lt_marlin_unpack(const void *src, void *dst, int64_t N, int64_t K, int G) {
    const size_t bb = 4 + (size_t)G / 2;
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *o = (uint8_t *)dst;
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < K / G; gi++) {
            uint8_t *blk = o + (size_t)(n * (K / G) + gi) * bb;
            const uint16_t *sz = (const uint16_t *)(s + lt_marlin_sz_off(N, K, G, n / LT_MARLIN_TN, gi));
            const int i = lt_marlin_sz_index(n);
            memcpy(blk, &sz[i], 2);
            memcpy(blk + 2, &sz[64 + i], 2);
            memset(blk + 4, 0, (size_t)G / 2);
            for (int e = 0; e < G; e++) {
                size_t wo;
                int sh;
                lt_marlin_locate(n, gi * G + e, K, &wo, &sh);
                uint32_t w;
                memcpy(&w, s + wo, 4);
                const uint8_t q = (uint8_t)((w >> sh) & 15u);
                uint8_t *qs = blk + 4 + 16 * (e / 32);
                const int r = e % 32;
                qs[r % 16] |= (uint8_t)(r < 16 ? q : q << 4);
            }
        }
}

/* ---- the table of packed matrices (the CUDA backend's; host only) ------------------------------
 * Which device allocations hold a matrix in this layout, by address: entries never overlap and are
 * kept sorted, so a lookup (every matmul and transfer while any exist) is a binary search. The
 * caller grows e (cap) before lt_marlin_table_add. */
typedef struct lt_marlin_entry {
    const void *data;
    size_t bytes;
    lt_dtype dtype;
    int64_t N, K;
} lt_marlin_entry;

typedef struct lt_marlin_table {
    lt_marlin_entry *e;
    int n, cap;
} lt_marlin_table;

/* the first entry ending after address a (n when none) */
static inline int lt_marlin_table_after(const lt_marlin_table *t, uintptr_t a) {
    int lo = 0, hi = t->n;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if ((uintptr_t)t->e[mid].data + t->e[mid].bytes <= a) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* An entry overlapping [p, p + bytes) (bytes 0: the byte at p), or -1. */
static inline int lt_marlin_table_find(const lt_marlin_table *t, const void *p, size_t bytes) {
    const int i = lt_marlin_table_after(t, (uintptr_t)p);
    return i < t->n && (uintptr_t)t->e[i].data < (uintptr_t)p + (bytes ? bytes : 1) ? i : -1;
}

/* Drops every entry overlapping [p, p + bytes). */
static inline void lt_marlin_table_forget(lt_marlin_table *t, const void *p, size_t bytes) {
    const int i = lt_marlin_table_after(t, (uintptr_t)p);
    int j = i;
    while (j < t->n && (uintptr_t)t->e[j].data < (uintptr_t)p + (bytes ? bytes : 1)) j++;
    if (j > i) memmove(t->e + i, t->e + j, (size_t)(t->n - j) * sizeof *t->e);
    t->n -= j - i;
}

/* Adds e in its place, first dropping what it overlaps; needs n < cap. */
static inline void lt_marlin_table_add(lt_marlin_table *t, lt_marlin_entry e) {
    lt_marlin_table_forget(t, e.data, e.bytes);
    const int at = lt_marlin_table_after(t, (uintptr_t)e.data);
    memmove(t->e + at + 1, t->e + at, (size_t)(t->n - at) * sizeof *t->e);
    t->e[at] = e;
    t->n++;
}

/* A plain write over [p, p + bytes): the entries it covers whole are forgotten (plain bytes
 * again) and -1 returned; if it covers one only in part, that one's index (nothing forgotten:
 * the caller refuses the write, half of a matrix in each layout being nothing). */
static inline int lt_marlin_table_written(lt_marlin_table *t, const void *p, size_t bytes) {
    const uintptr_t a = (uintptr_t)p, b = a + bytes;
    for (int i = lt_marlin_table_after(t, a); i < t->n && (uintptr_t)t->e[i].data < b; i++)
        if ((uintptr_t)t->e[i].data < a || (uintptr_t)t->e[i].data + t->e[i].bytes > b) return i;
    lt_marlin_table_forget(t, p, bytes);
    return -1;
}

#endif
