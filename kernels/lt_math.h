/* lt_math.h - scalar math shared by the CPU and CUDA kernels (one definition of each formula).
 *
 * Everything here is static inline and marked LT_HD so nvcc compiles it for host and device.
 * Holds: the dtype enum, the quantized block layouts (identical to GGML's, so GGUF tensors are
 * used as they are) and LT_DTYPE_LAYOUTS, the one list of each dtype's block size and bytes
 * (the row size helpers here and core/base/dtype.c's traits table are both built from it);
 * half/bfloat16 conversion, SiLU, and the per-block quantize / dequantize formulas.
 */
#ifndef LT_MATH_H
#define LT_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define LT_HD __host__ __device__ __forceinline__
#else
#define LT_HD static inline
#endif

/* ---- dtypes -------------------------------------------------------------------------- */

typedef enum lt_dtype {
    LT_F32 = 0,
    LT_F16,
    LT_BF16,
    LT_Q8_0, /* blocks of 32: f16 scale d, 32 x int8 q; x = d * q                 (34 bytes) */
    LT_Q4_0, /* blocks of 32: f16 scale d, 16 bytes; x[i] = d * ((q & 15) - 8) for the low
                nibble of byte i (i < 16) and the high nibble of byte i-16 (i >= 16) (18 bytes) */
    LT_I32,  /* token ids, positions, block tables */
    /* GGML's other weight types, blocks as in ggml-common.h (lt_quants.h has the structs and the
       formulas): 32-element blocks */
    LT_Q4_1,   /* d, m, 16 nibble bytes: x = d*q + m                                   (20 bytes) */
    LT_Q5_0,   /* d, qh[4], 16 nibble bytes: x = d*(q - 16), q 5 bits                  (22 bytes) */
    LT_Q5_1,   /* d, m, qh[4], 16 nibble bytes: x = d*q + m                            (24 bytes) */
    LT_IQ4_NL, /* d, 16 nibble bytes: x = d*kvalues[q] (a fixed non-linear table)      (18 bytes) */
    /* 256-element super-blocks ("K-quants") */
    LT_Q2_K,   /* 16 sub-blocks of 16, 4-bit scale and min each                        (84 bytes) */
    LT_Q3_K,   /* 16 sub-blocks of 16, 6-bit scales, 3-bit q                          (110 bytes) */
    LT_Q4_K,   /* 8 sub-blocks of 32, 6-bit scale and min each                        (144 bytes) */
    LT_Q5_K,   /* as Q4_K plus a high bit per element                                 (176 bytes) */
    LT_Q6_K,   /* 16 sub-blocks of 16, int8 scales, 6-bit q                           (210 bytes) */
    LT_IQ4_XS, /* 8 sub-blocks of 32, 6-bit scales, kvalues[q]                        (136 bytes) */
    /* group-quantized 4-bit (GPTQ): one block per group of 32/64/128 inputs, f16 d and integer
       zero z, x = d*(q - z) (lt_quants.h)                              (20, 36, 68 bytes) */
    LT_GQ4_32,
    LT_GQ4_64,
    LT_GQ4_128,
    /* 2:4 sparse (lathe's own, GGUF ids 1024/1025): of each 4 consecutive inputs 2 are kept, with
       a 2-bit position each (lt_quants.h): f16 kept values per 16 inputs (18 bytes: 9 bits per
       weight), or 4-bit kept values with an f16 scale and min per 64 inputs (28 bytes: 3.5) */
    LT_S24_F16,
    LT_S24_Q4,
    /* integers of compressed-tensors folders (core/formats/modelsrc_ct.h): safetensors "U8" (2:4
       bitmasks) and "I64" (the dense shape of each compressed weight); not numbers, no GGUF type */
    LT_U8,
    LT_I64,
    /* q4_0 rows interleaved in groups of 8 (lt_block_q4_0x8): the CPU backend's layout for q4_0
       matmul weights (lt_backend_matrix_dtype), made at load time and never written to files.
       Per row it holds what q4_0 holds (18 bytes per 32 elements); rows are not contiguous, so
       there are no row conversions (core/base/quants.h packs and unpacks whole groups) */
    LT_Q4_0_R8,
    LT_DTYPE_COUNT
} lt_dtype;

#define LT_QK8_0 32 /* elements per q8_0 block */
#define LT_QK4_0 32 /* elements per q4_0 block */

typedef struct lt_block_q8_0 {
    uint16_t d; /* f16 bits */
    int8_t q[LT_QK8_0];
} lt_block_q8_0;

typedef struct lt_block_q4_0 {
    uint16_t d; /* f16 bits */
    uint8_t q[LT_QK4_0 / 2];
} lt_block_q4_0;

/* One block column of a group of 8 q4_0 rows (LT_Q4_0_R8): the 8 rows' f16 scales, then their
 * quant bytes in 4-byte pieces, q[32 p + 4 r + e] = byte 4 p + e of row r's q4_0 block (p 0..3,
 * r 0..7, e 0..3). A 32-byte load at 32 p holds elements 4p..4p+3 (low nibbles) and 16+4p..
 * 16+4p+3 (high nibbles) of all 8 rows, 4 bytes per row: the int32 lane r of a dot product with
 * 4 activation bytes broadcast is row r's. A group of rows is nb such blocks in a row. */
typedef struct lt_block_q4_0x8 {
    uint16_t d[8]; /* f16 bits */
    uint8_t q[8 * LT_QK4_0 / 2];
} lt_block_q4_0x8;

#include "lt_quants.h" /* the other GGML block structs (formulas at the end of this file) */

/* X(dtype, elements per block, bytes per block) for every dtype: the one place these are
 * written. The helpers below switch over it; core/base/dtype.c's traits table takes its
 * block and block_bytes from it (and checks that every dtype is listed). */
#define LT_DTYPE_LAYOUTS(X)                                                                        \
    X(LT_F32, 1, 4)                                                                                \
    X(LT_F16, 1, 2)                                                                                \
    X(LT_BF16, 1, 2)                                                                               \
    X(LT_Q8_0, LT_QK8_0, (int)sizeof(lt_block_q8_0))                                               \
    X(LT_Q4_0, LT_QK4_0, (int)sizeof(lt_block_q4_0))                                               \
    X(LT_I32, 1, 4)                                                                                \
    X(LT_Q4_1, LT_QK32, (int)sizeof(lt_block_q4_1))                                                \
    X(LT_Q5_0, LT_QK32, (int)sizeof(lt_block_q5_0))                                                \
    X(LT_Q5_1, LT_QK32, (int)sizeof(lt_block_q5_1))                                                \
    X(LT_IQ4_NL, LT_QK32, (int)sizeof(lt_block_iq4_nl))                                            \
    X(LT_Q2_K, LT_QK_K, (int)sizeof(lt_block_q2_K))                                                \
    X(LT_Q3_K, LT_QK_K, (int)sizeof(lt_block_q3_K))                                                \
    X(LT_Q4_K, LT_QK_K, (int)sizeof(lt_block_q4_K))                                                \
    X(LT_Q5_K, LT_QK_K, (int)sizeof(lt_block_q5_K))                                                \
    X(LT_Q6_K, LT_QK_K, (int)sizeof(lt_block_q6_K))                                                \
    X(LT_IQ4_XS, LT_QK_K, (int)sizeof(lt_block_iq4_xs))                                           \
    X(LT_GQ4_32, 32, (int)sizeof(lt_block_gq4_32))                                                 \
    X(LT_GQ4_64, 64, (int)sizeof(lt_block_gq4_64))                                                 \
    X(LT_GQ4_128, 128, (int)sizeof(lt_block_gq4_128))                                             \
    X(LT_S24_F16, 16, (int)sizeof(lt_block_s24_f16))                                               \
    X(LT_S24_Q4, 64, (int)sizeof(lt_block_s24_q4))                                                 \
    X(LT_U8, 1, 1)                                                                                 \
    X(LT_I64, 1, 8)                                                                                \
    X(LT_Q4_0_R8, LT_QK4_0, (int)sizeof(lt_block_q4_0)) /* per row: a group is 8 rows' bytes */

/* elements per block (1 for an invalid dtype), bytes per block (0 for an invalid dtype) */
LT_HD int lt_dtype_block(lt_dtype t) {
    switch (t) {
#define LT_LAYOUT_BLOCK_(dt, block, bytes) case dt: return block;
        LT_DTYPE_LAYOUTS(LT_LAYOUT_BLOCK_)
#undef LT_LAYOUT_BLOCK_
    default: return 1;
    }
}

LT_HD int lt_dtype_block_bytes(lt_dtype t) {
    switch (t) {
#define LT_LAYOUT_BYTES_(dt, block, bytes) case dt: return bytes;
        LT_DTYPE_LAYOUTS(LT_LAYOUT_BYTES_)
#undef LT_LAYOUT_BYTES_
    default: return 0;
    }
}

/* Bytes of a row of n elements (n must be a multiple of the block size). */
LT_HD size_t lt_row_bytes(lt_dtype t, int64_t n) {
    return (size_t)(n / lt_dtype_block(t)) * (size_t)lt_dtype_block_bytes(t);
}

/* ---- half and bfloat16 ---------------------------------------------------------------- */

LT_HD uint32_t lt_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

LT_HD float lt_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half -> float, exact for every input including subnormals, inf and NaN. */
LT_HD float lt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return lt_bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (exp == 31) return lt_bits_f32(sign | 0x7f800000u | (man << 13));
    return lt_bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* float -> IEEE half, round to nearest even, overflow to inf, NaN kept NaN. */
LT_HD uint16_t lt_f32_to_f16(float f) {
    uint32_t x = lt_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520 -> inf */
    if (ax < 0x38800000u) {                                   /* below 2^-14: subnormal half */
        /* value / 2^-24 rounded to nearest even, using float arithmetic (exact here) */
        float v = lt_bits_f32(ax) * 16777216.0f;
        float r = rintf(v);
        return (uint16_t)(sign | (uint32_t)r);
    }
    uint32_t mant_odd = (ax >> 13) & 1;
    ax += 0xfff + mant_odd; /* round to nearest even on the 13 dropped bits */
    return (uint16_t)(sign | (((ax >> 23) - 112) << 10) | ((ax >> 13) & 0x3ff));
}

LT_HD float lt_bf16_to_f32(uint16_t h) { return lt_bits_f32((uint32_t)h << 16); }

LT_HD uint16_t lt_f32_to_bf16(float f) {
    uint32_t x = lt_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ---- activations ---------------------------------------------------------------------- */

LT_HD float lt_silu(float x) { return x / (1.0f + expf(-x)); }

/* ---- quantized blocks ------------------------------------------------------------------- */

/* a / b correctly rounded, also in device code built with --use_fast_math (which would
 * otherwise use an approximate division), so CPU and CUDA quantizers make identical blocks. */
LT_HD float lt_div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

/* a * b rounded, never fused into an FMA with a following add (nvcc contracts by default). */
LT_HD float lt_mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

/* Element j (0..31) of a Q8_0 / Q4_0 block as f32. */
LT_HD float lt_q8_0_get(const lt_block_q8_0 *b, int j) { return lt_f16_to_f32(b->d) * (float)b->q[j]; }

LT_HD float lt_q4_0_get(const lt_block_q4_0 *b, int j) {
    int q = j < LT_QK4_0 / 2 ? (b->q[j] & 15) : (b->q[j - LT_QK4_0 / 2] >> 4);
    return lt_f16_to_f32(b->d) * (float)(q - 8);
}

/* One Q8_0 / Q4_0 block -> its 32 floats (the same values as lt_q8_0_get / lt_q4_0_get). */
LT_HD void lt_dequant_q8_0(const lt_block_q8_0 *b, float *y) {
    const float d = lt_f16_to_f32(b->d);
    for (int j = 0; j < LT_QK8_0; j++) y[j] = d * (float)b->q[j];
}

LT_HD void lt_dequant_q4_0(const lt_block_q4_0 *b, float *y) {
    const float d = lt_f16_to_f32(b->d);
    for (int j = 0; j < LT_QK4_0 / 2; j++) {
        y[j] = d * (float)((b->q[j] & 15) - 8);
        y[j + LT_QK4_0 / 2] = d * (float)((b->q[j] >> 4) - 8);
    }
}

/* The value of largest magnitude among n floats (the first of equals; 0 when all are 0), and
 * that magnitude in *amax: where GGML's quantizers take their scale from. */
LT_HD float lt_signed_absmax(const float *x, int n, float *amax) {
    float max = 0.0f, a = 0.0f;
    for (int j = 0; j < n; j++) {
        const float ax = fabsf(x[j]);
        if (ax > a) {
            a = ax;
            max = x[j];
        }
    }
    *amax = a;
    return max;
}

/* 32 floats -> one Q8_0 block, exactly GGML's quantize_row_q8_0_ref: d = amax / 127,
 * q = roundf(x * (1 / d)) (0 when d = 0). */
LT_HD void lt_quant_q8_0(const float *x, lt_block_q8_0 *y) {
    float amax = 0.0f;
    for (int j = 0; j < LT_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = lt_div_rn(amax, 127.0f);
    float id = d != 0.0f ? lt_div_rn(1.0f, d) : 0.0f;
    y->d = lt_f32_to_f16(d);
    for (int j = 0; j < LT_QK8_0; j++) y->q[j] = (int8_t)roundf(lt_mul_rn(x[j], id));
}

/* 32 floats -> one Q4_0 block, exactly GGML's quantize_row_q4_0_ref: d = max / -8 where max
 * is the value of largest magnitude, q = min(15, (int8)(x / d + 8.5)). */
LT_HD void lt_quant_q4_0(const float *x, lt_block_q4_0 *y) {
    float amax;
    const float max = lt_signed_absmax(x, LT_QK4_0, &amax);
    float d = lt_div_rn(max, -8.0f);
    float id = d != 0.0f ? lt_div_rn(1.0f, d) : 0.0f;
    y->d = lt_f32_to_f16(d);
    for (int j = 0; j < LT_QK4_0 / 2; j++) {
        int8_t a = (int8_t)(lt_mul_rn(x[j], id) + 8.5f), b = (int8_t)(lt_mul_rn(x[j + LT_QK4_0 / 2], id) + 8.5f);
        uint8_t q0 = (uint8_t)(a < 15 ? a : 15), q1 = (uint8_t)(b < 15 ? b : 15);
        y->q[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

/* element getters and block dequantization of the lt_quants.h types */
#define LT_QUANTS_FORMULAS
#include "lt_quants.h"

#endif
