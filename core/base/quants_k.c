/* quants_k.c - GGML's reference quantizers for q4_K, q5_K and q6_K (quants.h), and the search
 * helpers of quants_impl.h.
 *
 * Each follows ggml-quants.c's quantize_row_*_ref (what quantize_q4_K & co. call without an
 * importance matrix) operation for operation: the same float expressions in the same order, the
 * same integer conversions, so the bytes are GGML's (tests/test_quants.c checks them against
 * GGML's own output).
 * Leaves out: the importance-matrix variants (quantize_row_q*_K_impl).
 */
#include <math.h>
#include <string.h>

#include "quants.h"
#include "quants_impl.h"

/* ---- shared search helpers ---------------------------------------------------------------- */

float lt_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                          uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        const int l = lt_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)lt_qclamp(l, 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = lt_qclamp(lt_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* GGML's per-element weight of make_qx_quants */
static inline float qx_weight(const float *qw, int rmse_type, const float *x, int i) {
    if (qw) return qw[i];
    switch (rmse_type) {
    case 1: return x[i] * x[i];
    case 2: return 1;
    case 3: return fabsf(x[i]);
    default: return sqrtf(fabsf(x[i]));
    }
}

float lt_make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw) {
    float amax;
    const float max = lt_signed_absmax(x, n, &amax);
    if (amax < LT_GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.f;
    }
    float iscale = (float)-nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + lt_qclamp(lt_nearest_int(iscale * x[i]), -nmax, nmax - 1));
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = true;
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = lt_qclamp(lt_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = qx_weight(qw, rmse_type, x, i);
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = lt_qclamp(lt_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = qx_weight(qw, rmse_type, x, i);
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + lt_qclamp(lt_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ---- q4_K and q5_K: 8 sub-blocks of 32 with a 6-bit scale and min each ------------------------ */

/* The first half of a q4_K / q5_K super-block, shared: per sub-block of 32 the (scale, min) pair
 * from make_qkx2_quants (levels 0..nmax, GGML's rmin / nstep for the type), both quantized to 6
 * bits against the block's largest (packed into scales[12]; *d and *dmin are the f16 super
 * scales), then every element's level L (0..nmax) against the quantized pair. */
static void quant_k_scales_mins(const float *x, int nmax, float rmin, int nstep, uint8_t scales12[12], uint16_t *d_out,
                                uint16_t *dmin_out, uint8_t L[LT_QK_K]) {
    uint8_t Laux[32];
    float weights[32], mins[LT_QK_K / 32], scales[LT_QK_K / 32];
    float max_scale = 0, max_min = 0; /* the min is subtracted, so scales are never negative */
    for (int j = 0; j < LT_QK_K / 32; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = lt_make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep,
                                        false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < LT_QK_K / 32; j++) {
        uint8_t ls = (uint8_t)lt_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)lt_nearest_int(inv_min * mins[j]);
        if (ls > 63) ls = 63;
        if (lm > 63) lm = 63;
        if (j < 4) {
            scales12[j] = ls;
            scales12[j + 4] = lm;
        } else {
            scales12[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales12[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales12[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = lt_f32_to_f16(max_scale / 63.f);
    *dmin_out = lt_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < LT_QK_K / 32; j++) {
        int sc, m;
        lt_scale_min_k4(j, scales12, &sc, &m);
        const float d = lt_f16_to_f32(*d_out) * (float)sc;
        if (!d) continue;
        const float dm = lt_f16_to_f32(*dmin_out) * (float)m;
        for (int ii = 0; ii < 32; ii++) L[32 * j + ii] = (uint8_t)lt_qclamp(lt_nearest_int((x[32 * j + ii] + dm) / d), 0, nmax);
    }
}

void lt_quantize_row_q4_K(const float *x, void *out, int64_t n) {
    lt_block_q4_K *y = out;
    uint8_t L[LT_QK_K];
    for (int64_t i = 0; i < n / LT_QK_K; i++, x += LT_QK_K) {
        quant_k_scales_mins(x, 15, -1.f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
        uint8_t *q = y[i].qs;
        for (int j = 0; j < LT_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void lt_quantize_row_q5_K(const float *x, void *out, int64_t n) {
    lt_block_q5_K *y = out;
    uint8_t L[LT_QK_K];
    for (int64_t i = 0; i < n / LT_QK_K; i++, x += LT_QK_K) {
        quant_k_scales_mins(x, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, LT_QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int j = 0; j < LT_QK_K; j += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[l] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh[l] |= m2;
                }
                ql[l] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

/* ---- q6_K: 16 sub-blocks of 16 with a signed 8-bit scale each --------------------------------- */

void lt_quantize_row_q6_K(const float *x, void *out, int64_t n) {
    lt_block_q6_K *y = out;
    int8_t L[LT_QK_K];
    float scales[LT_QK_K / 16];
    for (int64_t i = 0; i < n / LT_QK_K; i++, x += LT_QK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < LT_QK_K / 16; ib++) {
            const float scale = lt_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, NULL);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < LT_GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            y[i].d = lt_f32_to_f16(0.f);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = lt_f32_to_f16(1 / iscale);
        for (int ib = 0; ib < LT_QK_K / 16; ib++) {
            const int v = lt_nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < LT_QK_K / 16; j++) {
            const float d = lt_f16_to_f32(y[i].d) * (float)y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(lt_qclamp(lt_nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < LT_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}
