/* quants_k2.c - GGML's reference quantizers for q2_K, q3_K, iq4_nl and iq4_xs (see quants.h):
 * what ggml_quantize_chunk runs for these types without an importance matrix
 * (quantize_row_q2_K_ref, quantize_row_q3_K_ref, quantize_iq4_nl / quantize_iq4_xs, the last two
 * through quantize_row_iq4_nl_impl with 7 tries). Every float operation is GGML's, in GGML's
 * order (lt_base is built without FMA contraction, as ggml-base is), so the blocks are
 * byte-identical (tests/test_quants.c checks them against GGML's own output).
 * Leaves out: the importance-matrix variants (quantize_row_*_impl with quant_weights).
 */
#include <math.h>
#include <string.h>

#include "quants.h"
#include "quants_impl.h"

/* The 2-bit planes of a K-quant super-block: byte l of each 32-byte group holds elements l,
 * l+32, l+64, l+96 of its 128 (levels 0..3). */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < LT_QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* ---- q2_K ----------------------------------------------------------------------------------- */

static void quantize_q2_K_block(const float *x, lt_block_q2_K *y) {
    uint8_t L[LT_QK_K], Laux[16];
    float weights[16], mins[LT_QK_K / 16], scales[LT_QK_K / 16];
    const float q4scale = 15.f;
    float max_scale = 0, max_min = 0; /* the min is subtracted, so scales are never negative */
    for (int j = 0; j < LT_QK_K / 16; j++) {
        for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
        scales[j] = lt_make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
        const float iscale = q4scale / max_scale;
        for (int j = 0; j < LT_QK_K / 16; j++) y->scales[j] = (uint8_t)lt_nearest_int(iscale * scales[j]);
        y->d = lt_f32_to_f16(max_scale / q4scale);
    } else {
        for (int j = 0; j < LT_QK_K / 16; j++) y->scales[j] = 0;
        y->d = lt_f32_to_f16(0.f);
    }
    if (max_min > 0) {
        const float iscale = q4scale / max_min;
        for (int j = 0; j < LT_QK_K / 16; j++) y->scales[j] |= (uint8_t)(lt_nearest_int(iscale * mins[j]) << 4);
        y->dmin = lt_f32_to_f16(max_min / q4scale);
    } else {
        y->dmin = lt_f32_to_f16(0.f);
    }
    for (int j = 0; j < LT_QK_K / 16; j++) {
        const float d = lt_f16_to_f32(y->d) * (float)(y->scales[j] & 0xF);
        if (d == 0.0f) continue; /* keeps make_qkx2_quants' levels, as GGML does */
        const float dm = lt_f16_to_f32(y->dmin) * (float)(y->scales[j] >> 4);
        for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)lt_qclamp(lt_nearest_int((x[16 * j + i] + dm) / d), 0, 3);
    }
    pack_2bit(L, y->qs);
}

void lt_quantize_row_q2_K(const float *x, void *y, int64_t n) {
    lt_block_q2_K *b = y;
    for (int64_t i = 0; i < n / LT_QK_K; i++) quantize_q2_K_block(x + i * LT_QK_K, b + i);
}

/* ---- q3_K ----------------------------------------------------------------------------------- */

/* GGML's make_q3_quants with do_rmse: n values -> levels L[i] in 0..2*nmax-1 (value L - nmax)
 * and the returned scale, fitted by up to 5 rounds of x^2-weighted coordinate descent. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = lt_signed_absmax(x, n, &amax);
    if (amax < LT_GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = lt_qclamp(lt_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                const int nl = lt_qclamp(lt_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (nl != L[i]) {
                    slx += w * x[i] * (float)nl;
                    sl2 += w * (float)nl * (float)nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

static void quantize_q3_K_block(const float *x, lt_block_q3_K *y) {
    int8_t L[LT_QK_K];
    float scales[LT_QK_K / 16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < LT_QK_K / 16; j++) {
        scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
        const float s = fabsf(scales[j]);
        if (s > amax) {
            amax = s;
            max_scale = scales[j];
        }
    }
    memset(y->scales, 0, sizeof y->scales);
    if (max_scale != 0.0f) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < LT_QK_K / 16; j++) {
            int8_t l = (int8_t)lt_nearest_int(iscale * scales[j]);
            l = (int8_t)(lt_qclamp(l, -32, 31) + 32);
            if (j < 8) y->scales[j] = (uint8_t)(l & 0xF);
            else y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            l >>= 4;
            y->scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
        }
        y->d = lt_f32_to_f16(1 / iscale);
    } else {
        y->d = lt_f32_to_f16(0.0f);
    }
    const float d16 = lt_f16_to_f32(y->d);
    for (int j = 0; j < LT_QK_K / 16; j++) {
        const float d = d16 * (float)(lt_q3_K_scale(y->scales, j) - 32);
        if (d == 0.0f) continue; /* keeps make_q3_quants' levels, as GGML does */
        for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(lt_qclamp(lt_nearest_int(x[16 * j + i] / d), -4, 3) + 4);
    }
    /* the high bit (level > 3) of element j goes to bit j/32 of hmask[j%32] */
    memset(y->hmask, 0, sizeof y->hmask);
    uint8_t lo[LT_QK_K];
    for (int j = 0; j < LT_QK_K; j++) {
        lo[j] = (uint8_t)L[j];
        if (L[j] > 3) {
            y->hmask[j % 32] |= (uint8_t)(1 << (j / 32));
            lo[j] = (uint8_t)(L[j] - 4);
        }
    }
    pack_2bit(lo, y->qs);
}

void lt_quantize_row_q3_K(const float *x, void *y, int64_t n) {
    lt_block_q3_K *b = y;
    for (int64_t i = 0; i < n / LT_QK_K; i++) quantize_q3_K_block(x + i * LT_QK_K, b + i);
}

/* ---- iq4_nl / iq4_xs --------------------------------------------------------------------------- */

/* GGML's best_index_int8: the index of the value of the sorted table v[16] nearest to x (the
 * lower one on a tie). */
static int best_index(const int8_t *v, float x) {
    if (x <= v[0]) return 0;
    if (x >= v[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (x < v[mid]) hi = mid;
        else lo = mid;
    }
    return x - v[hi - 1] < v[hi] - x ? hi - 1 : hi;
}

#define IQ4_NTRY 7 /* what quantize_iq4_nl / quantize_iq4_xs pass */

/* GGML's quantize_row_iq4_nl_impl without weights, ntry 7: one super-block of `super` values
 * (32: iq4_nl, 256: iq4_xs) in blocks of 32 -> the f16 scale *dh, the nibbles q4 and, for
 * iq4_xs, the 6-bit block scales (scales_h, scales_l). */
static void quantize_iq4_super(int super, const float *x, const int8_t *values, uint16_t *dh, uint8_t *q4,
                               uint16_t *scales_h, uint8_t *scales_l) {
    enum { BS = 32 };
    float scales[LT_QK_K / BS], weight[BS];
    uint8_t L[LT_QK_K];
    const int nb = super / BS;
    memset(q4, 0, (size_t)super / 2);
    *dh = lt_f32_to_f16(0.0f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < nb; ib++) {
        const float *xb = x + ib * BS;
        uint8_t *Lb = L + ib * BS;
        for (int j = 0; j < BS; j++) weight[j] = xb[j] * xb[j];
        float amax;
        const float max = lt_signed_absmax(xb, BS, &amax);
        if (amax < LT_GROUP_MAX_EPS) {
            scales[ib] = 0;
            continue;
        }
        float d = -max / (float)values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < BS; j++) {
            const int l = best_index(values, id * xb[j]);
            Lb[j] = (uint8_t)l;
            const float q = values[l], w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
        float best = d * sumqx;
        for (int itry = -IQ4_NTRY; itry <= IQ4_NTRY; itry++) {
            id = (float)(itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < BS; j++) {
                const float q = values[best_index(values, id * xb[j])], w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        const float abs_d = fabsf(d);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = d;
        }
    }
    if (nb > 1) {
        *scales_h = 0;
        const float d = -max_scale / 32; /* -0.0 for an all-zero super-block, as in GGML */
        *dh = lt_f32_to_f16(d);
        const float id = d != 0.0f ? 1 / d : 0.0f;
        for (int ib = 0; ib < nb; ib++) {
            int l = lt_qclamp(lt_nearest_int(id * scales[ib]), -32, 31);
            const float dl = d * (float)l;
            const float idl = dl != 0.0f ? 1 / dl : 0.0f;
            for (int j = 0; j < BS; j++) L[ib * BS + j] = (uint8_t)best_index(values, idl * x[ib * BS + j]);
            l += 32;
            if (ib % 2 == 0) scales_l[ib / 2] = (uint8_t)(l & 0xF);
            else scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4);
            *scales_h |= (uint16_t)((l >> 4) << (2 * (ib % 8)));
        }
    } else {
        *dh = lt_f32_to_f16(scales[0]);
        const float id = scales[0] != 0.0f ? 1 / scales[0] : 0.0f;
        for (int j = 0; j < super; j++) L[j] = (uint8_t)best_index(values, id * x[j]);
    }
    for (int i = 0; i < super / 32; i++)
        for (int j = 0; j < 16; j++) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

static void iq4_values(int8_t v[16]) {
    for (int i = 0; i < 16; i++) v[i] = (int8_t)lt_iq4nl_value(i);
}

void lt_quantize_row_iq4_nl(const float *x, void *y, int64_t n) {
    lt_block_iq4_nl *b = y;
    int8_t v[16];
    iq4_values(v);
    for (int64_t i = 0; i < n / LT_QK32; i++) quantize_iq4_super(LT_QK32, x + i * LT_QK32, v, &b[i].d, b[i].qs, NULL, NULL);
}

void lt_quantize_row_iq4_xs(const float *x, void *y, int64_t n) {
    lt_block_iq4_xs *b = y;
    int8_t v[16];
    iq4_values(v);
    for (int64_t i = 0; i < n / LT_QK_K; i++)
        quantize_iq4_super(LT_QK_K, x + i * LT_QK_K, v, &b[i].d, b[i].qs, &b[i].scales_h, b[i].scales_l);
}
