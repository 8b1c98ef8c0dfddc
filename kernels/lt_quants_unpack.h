/* lt_quants_unpack.h - block-wise unpacking of GGML's quantized weight blocks: the per-lane step
 * of the CUDA kernels for quantized weights (kernels/cuda/matmul_quants.cu: fused-dequantization
 * GEMV, dequantization to f16 for cuBLAS and to f32 for the convert op), written once for host and
 * device so that tests/test_quants_unpack.c checks on the CPU the very logic the GPU runs.
 *
 * Chunks. A block of QK elements (32; 256 for the K-quants and iq4_xs) is cut into QK/16 chunks
 * of 16 elements. Chunk u (0 <= u < QK/16) is two runs of 8 consecutive elements of the block,
 * each run with one scale d and offset m: element e[r] + i (0 <= i < 8) of the block is
 *     lt_mul_rn(d[r], q[8r + i]) + m[r]                                   (lt_qchunk_value)
 * bit for bit what lt_quants_get / lt_q8_0_get / lt_q4_0_get give (GGML's dequantize_row_*):
 * m is -0.0f for the types without a min (adding -0 changes nothing, not even a zero's sign), a
 * min is stored negated (x - y == x + (-y) in IEEE arithmetic), and every product goes through
 * lt_mul_rn so nvcc cannot fuse it into the add. q holds small integers as floats, made with the
 * exponent trick (bits 0x4B0000bb are 2^23 + bb) instead of the device's slow int -> float
 * conversion. Runs start at multiples of 8 elements, so the matching activations or outputs are
 * 16-byte aligned float4 / 8-half groups.
 *
 * Loads. The chunks of a block read its bytes in order (chunk u's quant bytes sit next to chunk
 * u+1's), so lanes u, u+1, ... of a warp read consecutive words: coalesced. Quant bytes are read
 * as 32-bit words: one 4-byte load for the types whose block size is a multiple of 4 (q4_1, q5_1,
 * q2_K, q4_K, q5_K, iq4_xs: the block must be 4-byte aligned), two 2-byte loads for the others
 * (q8_0, q4_0, q5_0, iq4_nl, q3_K, q6_K: their blocks are only 2-byte aligned, like GGML's).
 * lt_quants_unpack_align says which; a row of whole blocks keeps its first block's alignment.
 * On the device the loads are __ldg (read-only cache), on the host memcpy.
 *
 * Leaves out: the importance-matrix types (IQ1/IQ2/IQ3), ternary and FP4 types (lathe has no
 * such dtypes); int8 dot products (dp4a) with quantized activations.
 */
#ifndef LT_QUANTS_UNPACK_H
#define LT_QUANTS_UNPACK_H

#include "lt_math.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#define LT_QU_UNROLL _Pragma("unroll")
#else
#define LT_QU_UNROLL
#endif

#define LT_QU_CHUNK 16 /* elements per chunk: two runs of 8 */

typedef struct lt_qchunk {
    float d[2], m[2];       /* per run: scale and (negated) min, -0.0f when the type has none */
    float q[LT_QU_CHUNK];   /* run r's integers at q[8r .. 8r+8) */
    int e[2];               /* first element of each run within the block (multiples of 8) */
} lt_qchunk;

/* Every type with a block-wise unpack: X(dtype, block struct, elements per block, suffix). */
#define LT_QUANTS_UNPACK_TYPES(X)                                                                  \
    X(LT_Q8_0, lt_block_q8_0, 32, q8_0)                                                            \
    X(LT_Q4_0, lt_block_q4_0, 32, q4_0)                                                            \
    X(LT_Q4_1, lt_block_q4_1, 32, q4_1)                                                            \
    X(LT_Q5_0, lt_block_q5_0, 32, q5_0)                                                            \
    X(LT_Q5_1, lt_block_q5_1, 32, q5_1)                                                            \
    X(LT_IQ4_NL, lt_block_iq4_nl, 32, iq4_nl)                                                      \
    X(LT_Q2_K, lt_block_q2_K, 256, q2_K)                                                           \
    X(LT_Q3_K, lt_block_q3_K, 256, q3_K)                                                           \
    X(LT_Q4_K, lt_block_q4_K, 256, q4_K)                                                           \
    X(LT_Q5_K, lt_block_q5_K, 256, q5_K)                                                           \
    X(LT_Q6_K, lt_block_q6_K, 256, q6_K)                                                           \
    X(LT_IQ4_XS, lt_block_iq4_xs, 256, iq4_xs)                                                    \
    X(LT_GQ4_32, lt_block_gq4_32, 32, gq4_32)                                                      \
    X(LT_GQ4_64, lt_block_gq4_64, 64, gq4_64)                                                      \
    X(LT_GQ4_128, lt_block_gq4_128, 128, gq4_128)

/* ---- loads and bit tricks ------------------------------------------------------------------ */

LT_HD uint32_t lt_qu_ld8(const uint8_t *p) {
#if defined(__CUDA_ARCH__)
    return __ldg(p);
#else
    return *p;
#endif
}

/* p 2-byte aligned */
LT_HD uint32_t lt_qu_ld16(const uint8_t *p) {
#if defined(__CUDA_ARCH__)
    return __ldg((const unsigned short *)p);
#else
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
#endif
}

/* 4 bytes (little-endian) at a 4-byte aligned p */
LT_HD uint32_t lt_qu_ld32(const uint8_t *p) {
#if defined(__CUDA_ARCH__)
    return __ldg((const unsigned int *)p);
#else
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
#endif
}

/* 4 bytes at a 2-byte aligned p: two 2-byte loads */
LT_HD uint32_t lt_qu_ld32h(const uint8_t *p) { return lt_qu_ld16(p) | (lt_qu_ld16(p + 2) << 16); }

/* f16 bits (the low 16 bits of h) -> float; the hardware conversion on the device (exact, as
 * lt_f16_to_f32). */
LT_HD float lt_qu_h2f(uint32_t h) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half((unsigned short)(h & 0xffff)));
#else
    return lt_f16_to_f32((uint16_t)(h & 0xffff));
#endif
}

/* CUDA's __byte_perm: byte n of the result is byte (s >> 4n) & 7 of the 8 bytes {x, y} (x's
 * bytes are 0..3); bit 3 of each selector nibble and the high 16 bits of s are ignored. */
LT_HD uint32_t lt_byte_perm(uint32_t x, uint32_t y, uint32_t s) {
#if defined(__CUDA_ARCH__)
    return __byte_perm(x, y, s);
#else
    const uint64_t v = (uint64_t)x | ((uint64_t)y << 32);
    uint32_t r = 0;
    for (int n = 0; n < 4; n++) r |= (uint32_t)((v >> (8 * ((s >> (4 * n)) & 7))) & 0xff) << (8 * n);
    return r;
#endif
}

/* A small non-negative integer (< 2^23) as float, exactly: no int -> float conversion. */
LT_HD float lt_qu_i2f(uint32_t v) { return lt_bits_f32(0x4B000000u | v) - 8388608.0f; }

/* q[i] = byte i of v - off (0 <= i < 4; off a small integer): one byte permute and one add each. */
LT_HD void lt_qu_f4(float *q, uint32_t v, float off) {
    const float base = 8388608.0f + off;
    LT_QU_UNROLL
    for (int i = 0; i < 4; i++) q[i] = lt_bits_f32(lt_byte_perm(v, 0x4B00u, 0x5440u | (uint32_t)i)) - base;
}

/* Bits 0..3 of x into bit 0 of bytes 0..3 (the four shifted copies do not overlap: no carries). */
LT_HD uint32_t lt_qu_spread4(uint32_t x) { return ((x & 15u) * 0x00204081u) & 0x01010101u; }

#define LT_QU_LO4 0x0f0f0f0fu

/* GGML's kvalues_iq4nl + 128 (1, 24, ..., 241) as bytes, four per word. */
#define LT_IQ4NL_T0 0x3F2D1801u
#define LT_IQ4NL_T1 0x766A5D4Fu
#define LT_IQ4NL_T2 0xA6998D81u
#define LT_IQ4NL_T3 0xF1D9C5B5u

/* The iq4_nl table (as kvalue + 128) of the 8 nibbles of w: *lo gets the low nibbles' values
 * (byte k: of byte k's low nibble), *hi the high nibbles'. GGML's get_int_from_table_16: the nibbles
 * of w are the selectors of byte permutes over the table's two halves. */
LT_HD void lt_iq4nl_lookup8(uint32_t w, uint32_t *lo, uint32_t *hi) {
    const uint32_t pick_hi = 0x32103210u | ((w & 0x88888888u) >> 1); /* byte n, or n+4 when bit 3 */
    uint32_t t[2];
    LT_QU_UNROLL
    for (int i = 0; i < 2; i++) {
        const uint32_t s = w >> (16 * i); /* nibbles: lo 2i, hi 2i, lo 2i+1, hi 2i+1 */
        const uint32_t a = lt_byte_perm(LT_IQ4NL_T0, LT_IQ4NL_T1, s), b = lt_byte_perm(LT_IQ4NL_T2, LT_IQ4NL_T3, s);
        t[i] = lt_byte_perm(a, b, pick_hi >> (16 * i));
    }
    *lo = lt_byte_perm(t[0], t[1], 0x6420u);
    *hi = lt_byte_perm(t[0], t[1], 0x7531u);
}

LT_HD void lt_qu_runs(lt_qchunk *c, float d0, float m0, int e0, float d1, float m1, int e1) {
    c->d[0] = d0, c->m[0] = m0, c->e[0] = e0;
    c->d[1] = d1, c->m[1] = m1, c->e[1] = e1;
}

/* 8 + 8 nibbles: the low nibbles of w0, w1 (run 0), then their high nibbles (run 1), minus off. */
LT_HD void lt_qu_nib16(lt_qchunk *c, uint32_t w0, uint32_t w1, float off) {
    lt_qu_f4(c->q, w0 & LT_QU_LO4, off);
    lt_qu_f4(c->q + 4, w1 & LT_QU_LO4, off);
    lt_qu_f4(c->q + 8, (w0 >> 4) & LT_QU_LO4, off);
    lt_qu_f4(c->q + 12, (w1 >> 4) & LT_QU_LO4, off);
}

/* ---- 32-element blocks: chunk u (0, 1) ------------------------------------------------------- */

/* q8_0: elements 16u .. 16u+15; int8 -> byte + 128 (xor 0x80), minus 128. */
LT_HD void lt_unpack_q8_0(const lt_block_q8_0 *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b;
    const float d = lt_qu_h2f(lt_qu_ld16(p));
    LT_QU_UNROLL
    for (int k = 0; k < 4; k++) lt_qu_f4(c->q + 4 * k, lt_qu_ld32h(p + 2 + 16 * u + 4 * k) ^ 0x80808080u, 128.0f);
    lt_qu_runs(c, d, -0.0f, 16 * u, d, -0.0f, 16 * u + 8);
}

/* The four nibble types: quant bytes 8u .. 8u+7 hold elements 8u.. (low nibbles) and 16+8u..
 * (high nibbles). */
LT_HD void lt_unpack_q4_0(const lt_block_q4_0 *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b;
    const float d = lt_qu_h2f(lt_qu_ld16(p));
    lt_qu_nib16(c, lt_qu_ld32h(p + 2 + 8 * u), lt_qu_ld32h(p + 6 + 8 * u), 8.0f);
    lt_qu_runs(c, d, -0.0f, 8 * u, d, -0.0f, 16 + 8 * u);
}

LT_HD void lt_unpack_q4_1(const lt_block_q4_1 *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b;
    const uint32_t dm = lt_qu_ld32(p);
    const float d = lt_qu_h2f(dm), m = lt_qu_h2f(dm >> 16);
    lt_qu_nib16(c, lt_qu_ld32(p + 4 + 8 * u), lt_qu_ld32(p + 8 + 8 * u), 0.0f);
    lt_qu_runs(c, d, m, 8 * u, d, m, 16 + 8 * u);
}

/* 5-bit: bit e of qh (little-endian u32) is element e's 5th bit. */
LT_HD void lt_qu_q5_16(lt_qchunk *c, uint32_t w0, uint32_t w1, uint32_t qh, int u, float off) {
    const uint32_t hl = qh >> (8 * u), hh = qh >> (16 + 8 * u);
    lt_qu_f4(c->q, (w0 & LT_QU_LO4) | (lt_qu_spread4(hl) << 4), off);
    lt_qu_f4(c->q + 4, (w1 & LT_QU_LO4) | (lt_qu_spread4(hl >> 4) << 4), off);
    lt_qu_f4(c->q + 8, ((w0 >> 4) & LT_QU_LO4) | (lt_qu_spread4(hh) << 4), off);
    lt_qu_f4(c->q + 12, ((w1 >> 4) & LT_QU_LO4) | (lt_qu_spread4(hh >> 4) << 4), off);
}

LT_HD void lt_unpack_q5_0(const lt_block_q5_0 *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* d 0, qh 2, qs 6 */
    const float d = lt_qu_h2f(lt_qu_ld16(p));
    lt_qu_q5_16(c, lt_qu_ld32h(p + 6 + 8 * u), lt_qu_ld32h(p + 10 + 8 * u), lt_qu_ld32h(p + 2), u, 16.0f);
    lt_qu_runs(c, d, -0.0f, 8 * u, d, -0.0f, 16 + 8 * u);
}

LT_HD void lt_unpack_q5_1(const lt_block_q5_1 *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* d 0, m 2, qh 4, qs 8 */
    const uint32_t dm = lt_qu_ld32(p);
    const float d = lt_qu_h2f(dm), m = lt_qu_h2f(dm >> 16);
    lt_qu_q5_16(c, lt_qu_ld32(p + 8 + 8 * u), lt_qu_ld32(p + 12 + 8 * u), lt_qu_ld32(p + 4), u, 0.0f);
    lt_qu_runs(c, d, m, 8 * u, d, m, 16 + 8 * u);
}

LT_HD void lt_unpack_iq4_nl(const lt_block_iq4_nl *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* d 0, qs 2 */
    const float d = lt_qu_h2f(lt_qu_ld16(p));
    uint32_t l0, h0, l1, h1;
    lt_iq4nl_lookup8(lt_qu_ld32h(p + 2 + 8 * u), &l0, &h0);
    lt_iq4nl_lookup8(lt_qu_ld32h(p + 6 + 8 * u), &l1, &h1);
    lt_qu_f4(c->q, l0, 128.0f);
    lt_qu_f4(c->q + 4, l1, 128.0f);
    lt_qu_f4(c->q + 8, h0, 128.0f);
    lt_qu_f4(c->q + 12, h1, 128.0f);
    lt_qu_runs(c, d, -0.0f, 8 * u, d, -0.0f, 16 + 8 * u);
}

/* ---- 256-element super-blocks: chunk u (0..15) ----------------------------------------------- */

/* q2_K and q3_K: element 128h + 32jj + L (L < 32) is bits 2jj of quant byte 32h + L (q3_K: its
 * high bit is bit 4h + jj of hmask[L]), in the 16-element group s = 8h + 2jj + L/16. Chunk u:
 * h = u/8, jj in {2jp, 2jp+1} with jp = (u/4)%2, L in 8r .. 8r+7 with r = u%4. */
LT_HD void lt_unpack_q2_K(const lt_block_q2_K *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* scales 0, qs 16, d 80, dmin 82 */
    const int h = u >> 3, jp = (u >> 2) & 1, r = u & 3;
    const uint32_t dd = lt_qu_ld32(p + 80);
    const float d = lt_qu_h2f(dd), dmin = lt_qu_h2f(dd >> 16);
    const uint32_t w0 = lt_qu_ld32(p + 16 + 32 * h + 8 * r), w1 = lt_qu_ld32(p + 20 + 32 * h + 8 * r);
    float dk[2], mk[2];
    LT_QU_UNROLL
    for (int k = 0; k < 2; k++) {
        const int jj = 2 * jp + k;
        const uint32_t sc = lt_qu_ld8(p + 8 * h + 2 * jj + (r >> 1));
        dk[k] = lt_mul_rn(d, lt_qu_i2f(sc & 15));
        mk[k] = -lt_mul_rn(dmin, lt_qu_i2f(sc >> 4));
        lt_qu_f4(c->q + 8 * k, (w0 >> (2 * jj)) & 0x03030303u, 0.0f);
        lt_qu_f4(c->q + 8 * k + 4, (w1 >> (2 * jj)) & 0x03030303u, 0.0f);
    }
    lt_qu_runs(c, dk[0], mk[0], 128 * h + 64 * jp + 8 * r, dk[1], mk[1], 128 * h + 64 * jp + 32 + 8 * r);
}

/* q3_K's 6-bit scale s (0..15) from the 12 scale bytes at sc, as lt_q3_K_scale. */
LT_HD uint32_t lt_qu_q3_K_scale(const uint8_t *sc, int s) {
    const uint32_t lo = (lt_qu_ld8(sc + (s & 7)) >> (4 * (s >> 3))) & 15; /* s < 8: low nibble */
    const uint32_t hi = (lt_qu_ld8(sc + 8 + (s & 3)) >> (2 * (s >> 2))) & 3;
    return lo | (hi << 4);
}

LT_HD void lt_unpack_q3_K(const lt_block_q3_K *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* hmask 0, qs 32, scales 96, d 108 */
    const int h = u >> 3, jp = (u >> 2) & 1, r = u & 3;
    const float d = lt_qu_h2f(lt_qu_ld16(p + 108));
    const uint32_t w0 = lt_qu_ld32h(p + 32 + 32 * h + 8 * r), w1 = lt_qu_ld32h(p + 36 + 32 * h + 8 * r);
    const uint32_t m0 = lt_qu_ld32h(p + 8 * r), m1 = lt_qu_ld32h(p + 4 + 8 * r);
    float dk[2];
    LT_QU_UNROLL
    for (int k = 0; k < 2; k++) {
        const int jj = 2 * jp + k, hs = 4 * h + jj;
        dk[k] = lt_mul_rn(d, lt_qu_i2f(lt_qu_q3_K_scale(p + 96, 8 * h + 2 * jj + (r >> 1))) - 32.0f);
        /* q = low 2 bits - 4 unless the hmask bit is set: (low | hbit << 2) - 4 */
        lt_qu_f4(c->q + 8 * k, ((w0 >> (2 * jj)) & 0x03030303u) | (((m0 >> hs) & 0x01010101u) << 2), 4.0f);
        lt_qu_f4(c->q + 8 * k + 4, ((w1 >> (2 * jj)) & 0x03030303u) | (((m1 >> hs) & 0x01010101u) << 2), 4.0f);
    }
    lt_qu_runs(c, dk[0], -0.0f, 128 * h + 64 * jp + 8 * r, dk[1], -0.0f, 128 * h + 64 * jp + 32 + 8 * r);
}

/* q4_K / q5_K's 6-bit scale and min j (0..7) from the 12 scale bytes as three words, as GGML's
 * get_scale_min_k4 (j < 4: the low 6 bits of bytes j and j+4; j >= 4: the nibbles of byte j+4
 * below the top 2 bits of bytes j-4 and j), without branches (lanes of a warp differ in j). */
LT_HD void lt_qu_scale_min_k4(uint32_t s0, uint32_t s1, uint32_t s2, int j, uint32_t *sc, uint32_t *mn) {
    const bool lo = j < 4;
    const int sh = 8 * (j & 3), top = sh + (lo ? 4 : 6);
    *sc = (((lo ? s0 : s2) >> sh) & 15) | (((s0 >> top) & 3) << 4);
    *mn = ((lo ? (s1 >> sh) : (s2 >> (sh + 4))) & 15) | (((s1 >> top) & 3) << 4);
}

/* q4_K and q5_K: quant byte 32c + l (c < 4, l < 32) holds element 64c + l (low nibble, scale
 * 2c) and 64c + 32 + l (high nibble, scale 2c+1); q5_K's 5th bits are bit 2c (2c+1) of qh[l].
 * Chunk u: c = u/4, l in 8r .. 8r+7 with r = u%4. */
LT_HD void lt_qu_k4_scales(const uint8_t *p, int cc, lt_qchunk *c, int e0) {
    const uint32_t dd = lt_qu_ld32(p);
    const float d = lt_qu_h2f(dd), dmin = lt_qu_h2f(dd >> 16);
    const uint32_t s0 = lt_qu_ld32(p + 4), s1 = lt_qu_ld32(p + 8), s2 = lt_qu_ld32(p + 12);
    uint32_t sc0, mn0, sc1, mn1;
    lt_qu_scale_min_k4(s0, s1, s2, 2 * cc, &sc0, &mn0);
    lt_qu_scale_min_k4(s0, s1, s2, 2 * cc + 1, &sc1, &mn1);
    lt_qu_runs(c, lt_mul_rn(d, lt_qu_i2f(sc0)), -lt_mul_rn(dmin, lt_qu_i2f(mn0)), e0, lt_mul_rn(d, lt_qu_i2f(sc1)),
               -lt_mul_rn(dmin, lt_qu_i2f(mn1)), e0 + 32);
}

LT_HD void lt_unpack_q4_K(const lt_block_q4_K *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* d 0, dmin 2, scales 4, qs 16 */
    const int cc = u >> 2, r = u & 3;
    lt_qu_nib16(c, lt_qu_ld32(p + 16 + 32 * cc + 8 * r), lt_qu_ld32(p + 20 + 32 * cc + 8 * r), 0.0f);
    lt_qu_k4_scales(p, cc, c, 64 * cc + 8 * r);
}

LT_HD void lt_unpack_q5_K(const lt_block_q5_K *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* d 0, dmin 2, scales 4, qh 16, qs 48 */
    const int cc = u >> 2, r = u & 3;
    const uint32_t w0 = lt_qu_ld32(p + 48 + 32 * cc + 8 * r), w1 = lt_qu_ld32(p + 52 + 32 * cc + 8 * r);
    const uint32_t h0 = lt_qu_ld32(p + 16 + 8 * r), h1 = lt_qu_ld32(p + 20 + 8 * r);
    LT_QU_UNROLL
    for (int k = 0; k < 2; k++) {
        const int hs = 2 * cc + k;
        lt_qu_f4(c->q + 8 * k, ((w0 >> (4 * k)) & LT_QU_LO4) | (((h0 >> hs) & 0x01010101u) << 4), 0.0f);
        lt_qu_f4(c->q + 8 * k + 4, ((w1 >> (4 * k)) & LT_QU_LO4) | (((h1 >> hs) & 0x01010101u) << 4), 0.0f);
    }
    lt_qu_k4_scales(p, cc, c, 64 * cc + 8 * r);
}

/* q6_K: element 128n + 32qd + l (n < 2, qd < 4, l < 32) is the low (qd < 2) or high nibble of
 * ql[64n + 32(qd%2) + l] with bits 2qd of qh[32n + l] above it, minus 32; its int8 scale is
 * scales[8n + 2qd + l/16]. Chunk u: n = u/8, qd in {q1, q1+2} with q1 = (u/4)%2, l in 8r..8r+7
 * with r = u%4: both runs come from the same ql and qh bytes. */
LT_HD void lt_unpack_q6_K(const lt_block_q6_K *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* ql 0, qh 128, scales 192, d 208 */
    const int n = u >> 3, q1 = (u >> 2) & 1, r = u & 3;
    const float d = lt_qu_h2f(lt_qu_ld16(p + 208));
    const uint32_t w0 = lt_qu_ld32h(p + 64 * n + 32 * q1 + 8 * r), w1 = lt_qu_ld32h(p + 64 * n + 32 * q1 + 8 * r + 4);
    const uint32_t h0 = lt_qu_ld32h(p + 128 + 32 * n + 8 * r), h1 = lt_qu_ld32h(p + 132 + 32 * n + 8 * r);
    float dk[2];
    LT_QU_UNROLL
    for (int k = 0; k < 2; k++) {
        const int qd = q1 + 2 * k;
        dk[k] = lt_mul_rn(d, (float)(int8_t)lt_qu_ld8(p + 192 + 8 * n + 2 * qd + (r >> 1)));
        lt_qu_f4(c->q + 8 * k, ((w0 >> (4 * k)) & LT_QU_LO4) | (((h0 >> (2 * qd)) & 0x03030303u) << 4), 32.0f);
        lt_qu_f4(c->q + 8 * k + 4, ((w1 >> (4 * k)) & LT_QU_LO4) | (((h1 >> (2 * qd)) & 0x03030303u) << 4), 32.0f);
    }
    lt_qu_runs(c, dk[0], -0.0f, 128 * n + 32 * q1 + 8 * r, dk[1], -0.0f, 128 * n + 32 * (q1 + 2) + 8 * r);
}

/* iq4_xs: sub-block ib (< 8) of 32 elements is an iq4_nl block without its own d: quant bytes
 * 16ib .. 16ib+15. Chunk u: ib = u/2, bytes 16ib + 8(u%2) .. +7. */
LT_HD void lt_unpack_iq4_xs(const lt_block_iq4_xs *b, int u, lt_qchunk *c) {
    const uint8_t *p = (const uint8_t *)b; /* d 0, scales_h 2, scales_l 4, qs 8 */
    const int ib = u >> 1, h = u & 1;
    const uint32_t dh = lt_qu_ld32(p), sl = lt_qu_ld32(p + 4);
    const uint32_t sc = ((sl >> (4 * ib)) & 15) | (((dh >> (16 + 2 * ib)) & 3) << 4);
    const float dl = lt_mul_rn(lt_qu_h2f(dh), lt_qu_i2f(sc) - 32.0f);
    uint32_t l0, h0, l1, h1;
    lt_iq4nl_lookup8(lt_qu_ld32(p + 8 + 16 * ib + 8 * h), &l0, &h0);
    lt_iq4nl_lookup8(lt_qu_ld32(p + 12 + 16 * ib + 8 * h), &l1, &h1);
    lt_qu_f4(c->q, l0, 128.0f);
    lt_qu_f4(c->q + 4, l1, 128.0f);
    lt_qu_f4(c->q + 8, h0, 128.0f);
    lt_qu_f4(c->q + 12, h1, 128.0f);
    lt_qu_runs(c, dl, -0.0f, 32 * ib + 8 * h, dl, -0.0f, 32 * ib + 16 + 8 * h);
}

/* ---- gq4 (GPTQ 4-bit groups of 32/64/128): chunk u (0 .. G/16) ----------------------------------- */

/* Sub-block u/2 of 16 bytes at 4 + 16 (u/2): bytes 8 (u%2) .. hold elements 32 (u/2) + 8 (u%2)..
 * (low nibbles) and 32 (u/2) + 16 + 8 (u%2).. (high); d * q + m with m = -(d * z), exact. */
LT_HD void lt_unpack_gq4(const uint8_t *p, int u, lt_qchunk *c) {
    const uint32_t dz = lt_qu_ld32(p);
    const float d = lt_qu_h2f(dz), m = -lt_mul_rn(d, lt_qu_h2f(dz >> 16));
    const int sb = u >> 1, h = u & 1;
    lt_qu_nib16(c, lt_qu_ld32(p + 4 + 16 * sb + 8 * h), lt_qu_ld32(p + 8 + 16 * sb + 8 * h), 0.0f);
    lt_qu_runs(c, d, m, 32 * sb + 8 * h, d, m, 32 * sb + 16 + 8 * h);
}
LT_HD void lt_unpack_gq4_32(const lt_block_gq4_32 *b, int u, lt_qchunk *c) { lt_unpack_gq4((const uint8_t *)b, u, c); }
LT_HD void lt_unpack_gq4_64(const lt_block_gq4_64 *b, int u, lt_qchunk *c) { lt_unpack_gq4((const uint8_t *)b, u, c); }
LT_HD void lt_unpack_gq4_128(const lt_block_gq4_128 *b, int u, lt_qchunk *c) { lt_unpack_gq4((const uint8_t *)b, u, c); }

/* ---- by dtype --------------------------------------------------------------------------------- */

/* Byte alignment a block of t needs for its chunk loads (4 or 2); 0: t has no block-wise unpack. */
LT_HD int lt_quants_unpack_align(lt_dtype t) {
    switch (t) {
    case LT_Q4_1:
    case LT_Q5_1:
    case LT_Q2_K:
    case LT_Q4_K:
    case LT_Q5_K:
    case LT_IQ4_XS:
    case LT_GQ4_32:
    case LT_GQ4_64:
    case LT_GQ4_128: return 4;
    case LT_Q8_0:
    case LT_Q4_0:
    case LT_Q5_0:
    case LT_IQ4_NL:
    case LT_Q3_K:
    case LT_Q6_K: return 2;
    default: return 0;
    }
}

/* Chunk u (0 <= u < block / LT_QU_CHUNK) of the block at blk; t must have an unpack. */
LT_HD void lt_quants_unpack(lt_dtype t, const void *blk, int u, lt_qchunk *c) {
    switch (t) {
#define LT_QU_CASE(dt, blk_t, qk, name)                                                            \
    case dt: lt_unpack_##name((const blk_t *)blk, u, c); break;
        LT_QUANTS_UNPACK_TYPES(LT_QU_CASE)
#undef LT_QU_CASE
    default: break;
    }
}

/* Element e[i/8] + i%8 of the chunk's block (0 <= i < 16), bit-exact. */
LT_HD float lt_qchunk_value(const lt_qchunk *c, int i) { return lt_mul_rn(c->d[i >> 3], c->q[i]) + c->m[i >> 3]; }

#endif /* LT_QUANTS_UNPACK_H */
