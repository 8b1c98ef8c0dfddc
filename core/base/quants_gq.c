/* quants_gq.c - the gq4 weight types (group-quantized 4-bit, kernels/lt_quants.h): packing codes,
 * scales and zero points (GPTQ's, AutoGPTQ's) into blocks, and a round-to-nearest quantizer as
 * the dtype table's from_f32 (min/max per group, asymmetric, as IST-DASLab/gptq's quantizer with
 * groups: scale = (max - min) / 15, zero = round(-min / scale), the range always holding 0).
 * Leaves out: GPTQ itself (core/compress), 2/3/8-bit codes (loaded as f16).
 */
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "quants.h"

int lt_gq4_block(lt_dtype t) { return t == LT_GQ4_32 ? 32 : t == LT_GQ4_64 ? 64 : t == LT_GQ4_128 ? 128 : 0; }

lt_dtype lt_gq4_dtype_for(int group, int64_t cols, const int32_t *g_idx) {
    static const int gs[3] = {128, 64, 32};
    static const lt_dtype ts[3] = {LT_GQ4_128, LT_GQ4_64, LT_GQ4_32};
    if (group <= 0 || group > cols) group = (int)cols;
    for (int k = 0; k < 3; k++) {
        const int G = gs[k];
        if (cols % G || (group % G && (int64_t)group != cols)) continue;
        bool ok = true;
        for (int64_t c = 0; g_idx && ok && c < cols; c++) ok = g_idx[c] == g_idx[c - c % G];
        if (ok) return ts[k];
    }
    return LT_DTYPE_COUNT;
}

void lt_gq4_pack_row(lt_dtype t, const uint8_t *q, const float *scale, const float *zero, const int32_t *g_idx,
                     int group, int64_t cols, void *row) {
    const int G = lt_gq4_block(t);
    const size_t bb = (size_t)lt_dtype_block_bytes(t);
    if (group <= 0 || group > cols) group = (int)cols;
    for (int64_t b = 0; b < cols / G; b++) {
        uint8_t *blk = (uint8_t *)row + (size_t)b * bb;
        const int64_t c0 = b * G;
        const int g = g_idx ? g_idx[c0] : (int)(c0 / group);
        const uint16_t d = lt_f32_to_f16(scale[g]), z = lt_f32_to_f16(zero[g]);
        memcpy(blk, &d, 2);
        memcpy(blk + 2, &z, 2);
        uint8_t *qs = blk + 4;
        for (int s = 0; s < G / 32; s++)
            for (int i = 0; i < 16; i++)
                qs[16 * s + i] = (uint8_t)((q[c0 + 32 * s + i] & 15) | (q[c0 + 32 * s + 16 + i] & 15) << 4);
    }
}

/* min/max round-to-nearest of one group of G floats into codes, scale, zero */
static void rtn_group(const float *x, int G, uint8_t *q, float *scale, float *zero) {
    float mn = 0.0f, mx = 0.0f;
    for (int i = 0; i < G; i++) mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
    if (mn == mx) mn = -1.0f, mx = 1.0f; /* gptq's quantizer: an all-zero group */
    float s = lt_f16_to_f32(lt_f32_to_f16((mx - mn) / 15.0f));
    if (s == 0.0f) s = lt_f16_to_f32(1); /* the smallest f16 subnormal */
    float z = roundf(-mn / s);
    z = z < 0 ? 0 : z > 15 ? 15 : z;
    for (int i = 0; i < G; i++) {
        float v = roundf(x[i] / s) + z;
        q[i] = (uint8_t)(v < 0 ? 0 : v > 15 ? 15 : v);
    }
    *scale = s, *zero = z;
}

static void quantize_row_gq4(lt_dtype t, const float *x, void *y, int64_t n) {
    const int G = lt_gq4_block(t);
    uint8_t q[128];
    for (int64_t b = 0; b < n / G; b++) {
        float s, z;
        rtn_group(x + b * G, G, q, &s, &z);
        lt_gq4_pack_row(t, q, &s, &z, NULL, G, G, (uint8_t *)y + (size_t)b * (size_t)lt_dtype_block_bytes(t));
    }
}

void lt_quantize_row_gq4_32(const float *x, void *y, int64_t n) { quantize_row_gq4(LT_GQ4_32, x, y, n); }
void lt_quantize_row_gq4_64(const float *x, void *y, int64_t n) { quantize_row_gq4(LT_GQ4_64, x, y, n); }
void lt_quantize_row_gq4_128(const float *x, void *y, int64_t n) { quantize_row_gq4(LT_GQ4_128, x, y, n); }
