/* lt_quants.h - GGML's block-quantized weight types beyond q8_0/q4_0: the block structs (byte for
 * byte GGML's ggml-common.h, so GGUF tensors are used as they are) and, per type, the value of
 * one element, computed with exactly the float operations of GGML's dequantize_row_* (so a
 * dequantized row is bit-identical to GGML's reference on the host, and on the device where
 * lt_mul_rn keeps nvcc from fusing a multiply into an add).
 *
 * Included twice by lt_math.h: first for the structs (before the dtype layout list, which needs
 * their sizes), then with LT_QUANTS_FORMULAS defined for the formulas (which need lt_math.h's
 * half conversion). Include lt_math.h, not this file.
 * Also the two activation-only partner types of GGML's CPU dot products: q8_1 (q8_0 plus the
 * block's d * sum(q), for weights with a min) and q8_K (256 int8 with an f32 scale and 16-element
 * sums, for the K-quants and iq4_xs), with their reference quantizers.
 * Leaves out: the importance-matrix types (IQ1/IQ2/IQ3), ternary types, MXFP4/NVFP4; quantizers
 * of the weight types (core/base/quants_legacy.c, quants_k.c, quants_k2.c; host only).
 */
#ifndef LT_QUANTS_H
#define LT_QUANTS_H

#include <stdint.h>

#define LT_QK32 32 /* elements per q4_1 / q5_0 / q5_1 / iq4_nl / q8_1 block */
#define LT_QK_K 256 /* elements per K-quant / iq4_xs / q8_K super-block */

typedef struct lt_block_q4_1 {
    uint16_t d, m; /* f16 scale and min */
    uint8_t qs[LT_QK32 / 2];
} lt_block_q4_1;

typedef struct lt_block_q5_0 {
    uint16_t d;
    uint8_t qh[4]; /* 5th bit of element e: bit e of qh read as a little-endian u32 */
    uint8_t qs[LT_QK32 / 2];
} lt_block_q5_0;

typedef struct lt_block_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[LT_QK32 / 2];
} lt_block_q5_1;

typedef struct lt_block_iq4_nl {
    uint16_t d;
    uint8_t qs[LT_QK32 / 2];
} lt_block_iq4_nl;

typedef struct lt_block_q8_1 { /* activations only */
    uint16_t d, s;             /* f16 scale, f16 of d * sum(qs) */
    int8_t qs[LT_QK32];
} lt_block_q8_1;

typedef struct lt_block_q2_K {
    uint8_t scales[LT_QK_K / 16]; /* low nibble scale, high nibble min, per 16 elements */
    uint8_t qs[LT_QK_K / 4];
    uint16_t d, dmin;
} lt_block_q2_K;

typedef struct lt_block_q3_K {
    uint8_t hmask[LT_QK_K / 8];
    uint8_t qs[LT_QK_K / 4];
    uint8_t scales[12]; /* 16 6-bit scales */
    uint16_t d;
} lt_block_q3_K;

typedef struct lt_block_q4_K {
    uint16_t d, dmin;
    uint8_t scales[12]; /* 8 6-bit scales and 8 6-bit mins */
    uint8_t qs[LT_QK_K / 2];
} lt_block_q4_K;

typedef struct lt_block_q5_K {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[LT_QK_K / 8];
    uint8_t qs[LT_QK_K / 2];
} lt_block_q5_K;

typedef struct lt_block_q6_K {
    uint8_t ql[LT_QK_K / 2];
    uint8_t qh[LT_QK_K / 4];
    int8_t scales[LT_QK_K / 16];
    uint16_t d;
} lt_block_q6_K;

typedef struct lt_block_iq4_xs {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[LT_QK_K / 64];
    uint8_t qs[LT_QK_K / 2];
} lt_block_iq4_xs;

/* Group-quantized 4-bit weights (GPTQ / AutoGPTQ, not GGML types): one block = one group of G
 * (32, 64 or 128) consecutive input columns of a row, f16 scale d and f16 integer zero z (0..15),
 * then G/32 sub-blocks of 16 bytes in q4_0's nibble order (low nibbles: elements 0..15 of the
 * sub-block, high: 16..31). x = d*q - d*z (both products exact, so this is d*(q - z) exactly). */
#define LT_GQ4_BLOCK(G) \
    struct {            \
        uint16_t d, z;  \
        uint8_t qs[(G) / 2]; \
    }
typedef LT_GQ4_BLOCK(32) lt_block_gq4_32;
typedef LT_GQ4_BLOCK(64) lt_block_gq4_64;
typedef LT_GQ4_BLOCK(128) lt_block_gq4_128;

/* 2:4 sparse weights (lathe's own types, not GGML's): of each group of 4 consecutive input
 * columns exactly 2 are stored, in increasing column order, each with its 2-bit position in the
 * group. Kept value k of a block (group k / 2) has its position in bits 2 (k % 4) .. of meta byte
 * k / 4 (a little-endian bit stream, 2 bits per kept value).
 * s24_f16: 16 columns = 8 kept f16 values + 16 bits of positions (18 bytes; 56% of f16's 32).
 * s24_q4: 64 columns = 32 kept values as 4-bit codes, x = d*q + m (q4_1's formula, f16 d and
 * m per block), nibbles in q4_0's order (low nibble of qs[i]: kept i, high: kept 16 + i). */
typedef struct lt_block_s24_f16 {
    uint16_t meta;
    uint16_t v[8];
} lt_block_s24_f16;
typedef struct lt_block_s24_q4 {
    uint16_t d, m;
    uint8_t meta[8];
    uint8_t qs[16];
} lt_block_s24_q4;

typedef struct lt_block_q8_K { /* activations only */
    float d;
    int8_t qs[LT_QK_K];
    int16_t bsums[LT_QK_K / 16]; /* sum of each 16 qs */
} lt_block_q8_K;

#ifdef __cplusplus
#define LT_QSIZE_(T, n) static_assert(sizeof(T) == (n), #T " must match GGML's block size")
#else
#define LT_QSIZE_(T, n) _Static_assert(sizeof(T) == (n), #T " must match GGML's block size")
#endif
LT_QSIZE_(lt_block_q4_1, 20);
LT_QSIZE_(lt_block_q5_0, 22);
LT_QSIZE_(lt_block_q5_1, 24);
LT_QSIZE_(lt_block_iq4_nl, 18);
LT_QSIZE_(lt_block_q8_1, 36);
LT_QSIZE_(lt_block_q2_K, 84);
LT_QSIZE_(lt_block_q3_K, 110);
LT_QSIZE_(lt_block_q4_K, 144);
LT_QSIZE_(lt_block_q5_K, 176);
LT_QSIZE_(lt_block_q6_K, 210);
LT_QSIZE_(lt_block_iq4_xs, 136);
LT_QSIZE_(lt_block_q8_K, 292);
LT_QSIZE_(lt_block_gq4_32, 20);
LT_QSIZE_(lt_block_gq4_64, 36);
LT_QSIZE_(lt_block_gq4_128, 68);
LT_QSIZE_(lt_block_s24_f16, 18);
LT_QSIZE_(lt_block_s24_q4, 28);
#undef LT_QSIZE_

#endif /* LT_QUANTS_H */

/* ==== formulas (second inclusion, from lt_math.h) ========================================== */
#if defined(LT_QUANTS_FORMULAS) && !defined(LT_QUANTS_FORMULAS_DONE)
#define LT_QUANTS_FORMULAS_DONE

/* GGML's kvalues_iq4nl */
LT_HD int lt_iq4nl_value(int i) {
    const int8_t k[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    return k[i & 15];
}

/* Nibble j (0..31) of a 32-element block in GGML's order: low nibbles of bytes 0..15, then high. */
LT_HD int lt_nib32(const uint8_t *qs, int j) { return j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4); }

/* GGML's get_scale_min_k4: 6-bit scale and min j (0..7) of a q4_K / q5_K block. */
LT_HD void lt_scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* 6-bit scale s (0..15) of a q3_K block, as GGML unpacks it (before the -32). */
LT_HD int lt_q3_K_scale(const uint8_t *sc, int s) {
    int lo = s < 8 ? (sc[s] & 0xF) : (sc[s - 8] >> 4);
    int hi = (sc[8 + (s & 3)] >> (2 * (s >> 2))) & 3;
    return lo | (hi << 4);
}

/* 6-bit scale ib (0..7) of an iq4_xs block. */
LT_HD int lt_iq4_xs_scale(const lt_block_iq4_xs *b, int ib) {
    return ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b->scales_h >> (2 * ib)) & 3) << 4);
}

/* ---- element j of one block, as GGML's dequantize_row_* computes it ---------------------- */

LT_HD float lt_q4_1_get(const lt_block_q4_1 *b, int j) {
    return lt_mul_rn((float)lt_nib32(b->qs, j), lt_f16_to_f32(b->d)) + lt_f16_to_f32(b->m);
}

LT_HD uint32_t lt_qh32(const uint8_t *qh) {
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) | ((uint32_t)qh[3] << 24);
}

LT_HD float lt_q5_0_get(const lt_block_q5_0 *b, int j) {
    int q = lt_nib32(b->qs, j) | (int)(((lt_qh32(b->qh) >> j) & 1) << 4);
    return (float)(q - 16) * lt_f16_to_f32(b->d);
}

LT_HD float lt_q5_1_get(const lt_block_q5_1 *b, int j) {
    int q = lt_nib32(b->qs, j) | (int)(((lt_qh32(b->qh) >> j) & 1) << 4);
    return lt_mul_rn((float)q, lt_f16_to_f32(b->d)) + lt_f16_to_f32(b->m);
}

LT_HD float lt_iq4_nl_get(const lt_block_iq4_nl *b, int j) {
    return lt_f16_to_f32(b->d) * (float)lt_iq4nl_value(lt_nib32(b->qs, j));
}

LT_HD float lt_q2_K_get(const lt_block_q2_K *b, int j) {
    const int s = j / 16, h = s / 8, sh = 2 * ((s % 8) / 2), k = s % 2, l = j % 16;
    const int q = (b->qs[32 * h + 16 * k + l] >> sh) & 3;
    const int sc = b->scales[s];
    const float dl = lt_f16_to_f32(b->d) * (float)(sc & 0xF), ml = lt_f16_to_f32(b->dmin) * (float)(sc >> 4);
    return lt_mul_rn(dl, (float)q) - ml;
}

LT_HD float lt_q3_K_get(const lt_block_q3_K *b, int j) {
    const int s = j / 16, h = s / 8, jj = (s % 8) / 2, k = s % 2, l = j % 16;
    const int lo = (b->qs[32 * h + 16 * k + l] >> (2 * jj)) & 3;
    const int q = lo - ((b->hmask[16 * k + l] & (1 << (4 * h + jj))) ? 0 : 4);
    const float dl = lt_f16_to_f32(b->d) * (float)(lt_q3_K_scale(b->scales, s) - 32);
    return dl * (float)q;
}

LT_HD float lt_q4_K_get(const lt_block_q4_K *b, int j) {
    const int c = j / 64, half = (j % 64) / 32, l = j % 32;
    int sc, m;
    lt_scale_min_k4(2 * c + half, b->scales, &sc, &m);
    const float d1 = lt_f16_to_f32(b->d) * (float)sc, m1 = lt_f16_to_f32(b->dmin) * (float)m;
    const int q = half ? (b->qs[32 * c + l] >> 4) : (b->qs[32 * c + l] & 0xF);
    return lt_mul_rn(d1, (float)q) - m1;
}

LT_HD float lt_q5_K_get(const lt_block_q5_K *b, int j) {
    const int c = j / 64, half = (j % 64) / 32, l = j % 32;
    int sc, m;
    lt_scale_min_k4(2 * c + half, b->scales, &sc, &m);
    const float d1 = lt_f16_to_f32(b->d) * (float)sc, m1 = lt_f16_to_f32(b->dmin) * (float)m;
    const int q = (half ? (b->qs[32 * c + l] >> 4) : (b->qs[32 * c + l] & 0xF)) +
                  ((b->qh[l] & (1 << (2 * c + half))) ? 16 : 0);
    return lt_mul_rn(d1, (float)q) - m1;
}

LT_HD float lt_q6_K_get(const lt_block_q6_K *b, int j) {
    const int n = j / 128, qd = (j % 128) / 32, l = j % 32;
    const int qlb = b->ql[64 * n + l + 32 * (qd & 1)];
    const int q = (((qd >> 1) ? (qlb >> 4) : (qlb & 0xF)) | (((b->qh[32 * n + l] >> (2 * qd)) & 3) << 4)) - 32;
    return lt_f16_to_f32(b->d) * (float)b->scales[8 * n + l / 16 + 2 * qd] * (float)q;
}

LT_HD float lt_iq4_xs_get(const lt_block_iq4_xs *b, int j) {
    const int ib = j / 32, r = j % 32;
    const float dl = lt_f16_to_f32(b->d) * (float)(lt_iq4_xs_scale(b, ib) - 32);
    return dl * (float)lt_iq4nl_value(lt_nib32(b->qs + 16 * ib, r));
}

/* Element j (0 <= j < G) of a gq4 block of G elements (qs: the block's nibble bytes). */
LT_HD float lt_gq4_get(uint16_t dh, uint16_t zh, const uint8_t *qs, int j) {
    const float d = lt_f16_to_f32(dh), z = lt_f16_to_f32(zh);
    return lt_mul_rn(d, (float)lt_nib32(qs + 16 * (j / 32), j % 32)) + -lt_mul_rn(d, z);
}

/* The kept value (0 .. 2 * (columns / 4)) that column j (0 <= j < 4 * groups) of a 2:4 block
 * holds, or -1 when the column is pruned; meta: the block's position bits. */
LT_HD int lt_s24_slot(const uint8_t *meta, int j) {
    const int k = 2 * (j / 4), p = j % 4;
    const int p0 = (meta[k / 4] >> (2 * (k % 4))) & 3, p1 = (meta[(k + 1) / 4] >> (2 * ((k + 1) % 4))) & 3;
    return p == p0 ? k : p == p1 ? k + 1 : -1;
}

LT_HD float lt_s24_f16_get(const lt_block_s24_f16 *b, int j) {
    uint8_t meta[2] = {(uint8_t)(b->meta & 255), (uint8_t)(b->meta >> 8)};
    const int k = lt_s24_slot(meta, j);
    return k < 0 ? 0.0f : lt_f16_to_f32(b->v[k]);
}

LT_HD float lt_s24_q4_get(const lt_block_s24_q4 *b, int j) {
    const int k = lt_s24_slot(b->meta, j);
    if (k < 0) return 0.0f;
    const int q = (b->qs[k % 16] >> (4 * (k / 16))) & 15;
    return lt_mul_rn((float)q, lt_f16_to_f32(b->d)) + lt_f16_to_f32(b->m);
}

/* Element j of a row of any of these types (block-relative arithmetic done here), or NAN when t
 * is not one of them. */
LT_HD float lt_quants_get(lt_dtype t, const void *row, int64_t j) {
    const int i32 = (int)(j % LT_QK32), iK = (int)(j % LT_QK_K);
    const int64_t b32 = j / LT_QK32, bK = j / LT_QK_K;
    switch (t) {
    case LT_Q4_1: return lt_q4_1_get((const lt_block_q4_1 *)row + b32, i32);
    case LT_Q5_0: return lt_q5_0_get((const lt_block_q5_0 *)row + b32, i32);
    case LT_Q5_1: return lt_q5_1_get((const lt_block_q5_1 *)row + b32, i32);
    case LT_IQ4_NL: return lt_iq4_nl_get((const lt_block_iq4_nl *)row + b32, i32);
    case LT_Q2_K: return lt_q2_K_get((const lt_block_q2_K *)row + bK, iK);
    case LT_Q3_K: return lt_q3_K_get((const lt_block_q3_K *)row + bK, iK);
    case LT_Q4_K: return lt_q4_K_get((const lt_block_q4_K *)row + bK, iK);
    case LT_Q5_K: return lt_q5_K_get((const lt_block_q5_K *)row + bK, iK);
    case LT_Q6_K: return lt_q6_K_get((const lt_block_q6_K *)row + bK, iK);
    case LT_IQ4_XS: return lt_iq4_xs_get((const lt_block_iq4_xs *)row + bK, iK);
#define LT_GQ4_GET_(G)                                                                               \
    {                                                                                                \
        const lt_block_gq4_##G *b = (const lt_block_gq4_##G *)row + j / (G);                         \
        return lt_gq4_get(b->d, b->z, b->qs, (int)(j % (G)));                                        \
    }
    case LT_GQ4_32: LT_GQ4_GET_(32)
    case LT_GQ4_64: LT_GQ4_GET_(64)
    case LT_GQ4_128: LT_GQ4_GET_(128)
#undef LT_GQ4_GET_
    case LT_S24_F16: return lt_s24_f16_get((const lt_block_s24_f16 *)row + j / 16, (int)(j % 16));
    case LT_S24_Q4: return lt_s24_q4_get((const lt_block_s24_q4 *)row + j / 64, (int)(j % 64));
    default: return NAN;
    }
}

/* ---- activation partners -------------------------------------------------------------------- */

/* GGML's nearest_int: round half to even via the 1.5*2^23 trick (|f| <= 4194303). */
LT_HD int lt_nearest_int(float f) {
    float v = f + 12582912.f;
    uint32_t i = lt_f32_bits(v);
    return (int)(i & 0x007fffff) - 0x00400000;
}

/* 32 floats -> one q8_1 block, GGML's quantize_row_q8_1_ref. */
LT_HD void lt_quant_q8_1(const float *x, lt_block_q8_1 *y) {
    float amax = 0.0f;
    for (int j = 0; j < LT_QK32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = lt_div_rn(amax, 127.0f);
    const float id = d != 0.0f ? lt_div_rn(1.0f, d) : 0.0f;
    y->d = lt_f32_to_f16(d);
    int sum = 0;
    for (int j = 0; j < LT_QK32; j++) {
        y->qs[j] = (int8_t)roundf(lt_mul_rn(x[j], id));
        sum += y->qs[j];
    }
    y->s = lt_f32_to_f16(lt_mul_rn((float)sum, d));
}

/* 256 floats -> one q8_K block, GGML's quantize_row_q8_K_ref. */
LT_HD void lt_quant_q8_K(const float *x, lt_block_q8_K *y) {
    float amax;
    const float max = lt_signed_absmax(x, LT_QK_K, &amax);
    if (amax == 0.0f) {
        y->d = 0.0f;
        for (int j = 0; j < LT_QK_K; j++) y->qs[j] = 0;
        for (int j = 0; j < LT_QK_K / 16; j++) y->bsums[j] = 0;
        return;
    }
    const float iscale = lt_div_rn(-127.0f, max);
    for (int j = 0; j < LT_QK_K; j++) {
        const int v = lt_nearest_int(lt_mul_rn(iscale, x[j]));
        y->qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < LT_QK_K / 16; j++) {
        int sum = 0;
        for (int i = 0; i < 16; i++) sum += y->qs[16 * j + i];
        y->bsums[j] = (int16_t)sum;
    }
    y->d = lt_div_rn(1.0f, iscale);
}

#endif /* LT_QUANTS_FORMULAS */
