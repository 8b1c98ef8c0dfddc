/* quants_legacy.c - GGML's reference quantizers for q4_1, q5_0 and q5_1 (see quants.h): the
 * bytes llama-quantize writes for these types without an importance matrix.
 *
 * Per block of 32: q4_1 / q5_1 take d = (max - min) / (2^bits - 1) and m = min, then
 * q = trunc((x - min) / d + 0.5) (q4_1 capped at 15); q5_0 takes d = max / -16 where max is the
 * value of largest magnitude (the first one, on ties), then q = min(31, trunc(x / d + 16.5)).
 * Each step is GGML's float operation in GGML's order (multiply by 1/d, never divide by d; the
 * truncation through int8 or uint8 as GGML casts), so the bytes match tests/fixtures/quants.
 * Host code compiled without FMA (the default x86-64 target), so no multiply is fused with the
 * add that follows it.
 * Also the packing of q4_0 rows into the CPU backend's interleaved groups (LT_Q4_0_R8) and back.
 */
#include "quants.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/lt_math.h"

/* smallest and largest of a block, GGML's comparisons (NaNs are skipped the same way) */
static void block_min_max(const float *x, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < LT_QK32; j++) {
        const float v = x[j];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    *mn = lo, *mx = hi;
}

static void put_qh(uint8_t qh[4], uint32_t bits) { memcpy(qh, &bits, 4); } /* little-endian, as GGML */

void lt_quantize_row_q4_1(const float *x, void *y, int64_t n) {
    lt_block_q4_1 *b = y;
    for (int64_t i = 0; i < n / LT_QK32; i++, x += LT_QK32) {
        float mn, mx;
        block_min_max(x, &mn, &mx);
        const float d = (mx - mn) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lt_f32_to_f16(d);
        b[i].m = lt_f32_to_f16(mn);
        for (int j = 0; j < LT_QK32 / 2; j++) {
            const float x0 = lt_mul_rn(x[j] - mn, id), x1 = lt_mul_rn(x[j + LT_QK32 / 2] - mn, id);
            const int8_t a = (int8_t)(x0 + 0.5f), c = (int8_t)(x1 + 0.5f);
            const uint8_t q0 = (uint8_t)(a < 15 ? a : 15), q1 = (uint8_t)(c < 15 ? c : 15);
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void lt_quantize_row_q5_0(const float *x, void *y, int64_t n) {
    lt_block_q5_0 *b = y;
    for (int64_t i = 0; i < n / LT_QK32; i++, x += LT_QK32) {
        float amax;
        const float max = lt_signed_absmax(x, LT_QK32, &amax);
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lt_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < LT_QK32 / 2; j++) {
            const int8_t a = (int8_t)(lt_mul_rn(x[j], id) + 16.5f);
            const int8_t c = (int8_t)(lt_mul_rn(x[j + LT_QK32 / 2], id) + 16.5f);
            const uint8_t q0 = (uint8_t)(a < 31 ? a : 31), q1 = (uint8_t)(c < 31 ? c : 31);
            b[i].qs[j] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
            qh |= (uint32_t)((q0 & 16) >> 4) << j;
            qh |= (uint32_t)((q1 & 16) >> 4) << (j + LT_QK32 / 2);
        }
        put_qh(b[i].qh, qh);
    }
}

void lt_quantize_row_q5_1(const float *x, void *y, int64_t n) {
    lt_block_q5_1 *b = y;
    for (int64_t i = 0; i < n / LT_QK32; i++, x += LT_QK32) {
        float mn, mx;
        block_min_max(x, &mn, &mx);
        const float d = (mx - mn) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = lt_f32_to_f16(d);
        b[i].m = lt_f32_to_f16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < LT_QK32 / 2; j++) {
            const uint8_t q0 = (uint8_t)(lt_mul_rn(x[j] - mn, id) + 0.5f);
            const uint8_t q1 = (uint8_t)(lt_mul_rn(x[j + LT_QK32 / 2] - mn, id) + 0.5f);
            b[i].qs[j] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
            qh |= (uint32_t)((q0 & 16) >> 4) << j;
            qh |= (uint32_t)((q1 & 16) >> 4) << (j + LT_QK32 / 2);
        }
        put_qh(b[i].qh, qh);
    }
}

/* ---- q4_0 rows interleaved by 8 (LT_Q4_0_R8) ------------------------------------------------- */

void lt_q4_0_r8_pack(const void *src, void *dst, int64_t rows, int64_t K) {
    const int64_t nb = K / LT_QK4_0;
    const lt_block_q4_0 *in = src;
    lt_block_q4_0x8 *out = dst;
    for (int64_t g = 0; g < rows / 8; g++)
        for (int64_t i = 0; i < nb; i++) {
            lt_block_q4_0x8 *o = out + g * nb + i;
            for (int r = 0; r < 8; r++) {
                const lt_block_q4_0 *b = in + (8 * g + r) * nb + i;
                o->d[r] = b->d;
                for (int p = 0; p < 4; p++) memcpy(o->q + 32 * p + 4 * r, b->q + 4 * p, 4);
            }
        }
}

void lt_q4_0_r8_unpack(const void *src, void *dst, int64_t rows, int64_t K) {
    const int64_t nb = K / LT_QK4_0;
    const lt_block_q4_0x8 *in = src;
    lt_block_q4_0 *out = dst;
    for (int64_t g = 0; g < rows / 8; g++)
        for (int64_t i = 0; i < nb; i++) {
            const lt_block_q4_0x8 *o = in + g * nb + i;
            for (int r = 0; r < 8; r++) {
                lt_block_q4_0 *b = out + (8 * g + r) * nb + i;
                b->d = o->d[r];
                for (int p = 0; p < 4; p++) memcpy(b->q + 4 * p, o->q + 32 * p + 4 * r, 4);
            }
        }
}
