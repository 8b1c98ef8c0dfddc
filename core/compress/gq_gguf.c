/* gq_gguf.c - see gq_gguf.h. */
#include "gq_gguf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/quants.h"
#include "kernels/lt_quants.h"

lt_dtype lt_gq_ggml_type(int bits, bool sym, int group, char *why, size_t cap) {
    lt_dtype t = LT_DTYPE_COUNT;
    if (group == 32) {
        if (bits == 4) t = sym ? LT_Q4_0 : LT_Q4_1;
        else if (bits == 5) t = sym ? LT_Q5_0 : LT_Q5_1;
        else if (bits == 8 && sym) t = LT_Q8_0;
    }
    if (t == LT_DTYPE_COUNT && why)
        snprintf(why, cap, "GGUF holds --group 32 with --bits 4 or 5 (sym: Q4_0/Q5_0, asym: Q4_1/Q5_1) or --bits 8 "
                           "--sym (Q8_0); --bits %d --group %d%s has no ggml block", bits, group, sym ? " --sym" : "");
    return t;
}

lt_status lt_gq_to_ggml(const lt_gq_matrix *m, lt_dtype type, void *out, lt_err *err) {
    if (lt_gq_ggml_type(m->bits, m->sym, m->group, NULL, 0) != type)
        return lt_err_set(err, LT_EINVAL, "%s cannot hold %d-bit %s groups of %d", lt_dtype_name(type), m->bits,
                          m->sym ? "symmetric" : "asymmetric", m->group);
    if (m->cols % 32)
        return lt_err_set(err, LT_EINVAL, "%s blocks need rows of a multiple of 32 weights, not %d", lt_dtype_name(type),
                          m->cols);
    if (m->g_idx)
        for (int c = 0; c < m->cols; c++)
            if (m->g_idx[c] != c / 32)
                return lt_err_set(err, LT_EINVAL, "GGUF blocks need contiguous groups (act-order with static groups)");
    size_t rb = lt_row_bytes(type, m->cols);
    for (int r = 0; r < m->rows; r++) {
        char *row = (char *)out + (size_t)r * rb;
        const uint8_t *q = m->q + (size_t)r * m->cols;
        for (int g = 0; g < m->n_groups; g++) {
            float sc = m->scale[(size_t)r * m->n_groups + g], z = m->zero[(size_t)r * m->n_groups + g];
            uint16_t d = lt_f32_to_f16(sc), mn = lt_f32_to_f16(-sc * z);
            const uint8_t *qg = q + (size_t)g * 32;
            uint8_t qs[16], qh[4] = {0};
            for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((qg[j] & 15) | ((qg[j + 16] & 15) << 4));
            for (int j = 0; j < 32; j++)
                if (qg[j] & 16) qh[j / 8] |= (uint8_t)(1u << (j % 8));
            switch (type) {
            case LT_Q4_0: {
                lt_block_q4_0 *b = (lt_block_q4_0 *)row + g;
                b->d = d;
                memcpy(b->q, qs, 16);
            } break;
            case LT_Q4_1: {
                lt_block_q4_1 *b = (lt_block_q4_1 *)row + g;
                b->d = d, b->m = mn;
                memcpy(b->qs, qs, 16);
            } break;
            case LT_Q5_0: {
                lt_block_q5_0 *b = (lt_block_q5_0 *)row + g;
                b->d = d;
                memcpy(b->qh, qh, 4), memcpy(b->qs, qs, 16);
            } break;
            case LT_Q5_1: {
                lt_block_q5_1 *b = (lt_block_q5_1 *)row + g;
                b->d = d, b->m = mn;
                memcpy(b->qh, qh, 4), memcpy(b->qs, qs, 16);
            } break;
            default: { /* LT_Q8_0 */
                lt_block_q8_0 *b = (lt_block_q8_0 *)row + g;
                b->d = d;
                for (int j = 0; j < 32; j++) b->q[j] = (int8_t)((int)qg[j] - 128);
            }
            }
        }
    }
    return LT_OK;
}

/* the 4-bit codes of a q4_0-ordered 16-byte sub-block */
static void nibbles(const uint8_t *qs, uint8_t *q) {
    for (int j = 0; j < 16; j++) q[j] = qs[j] & 15, q[j + 16] = qs[j] >> 4;
}

lt_status lt_gq_from_blocks(const void *data, lt_dtype t, int rows, int cols, int group, lt_gq_matrix *m,
                            double *max_dev, lt_err *err) {
    memset(m, 0, sizeof *m);
    if (max_dev) *max_dev = 0;
    const int gqb = lt_gq4_block(t);
    const int B = gqb ? gqb : t == LT_Q4_0 || t == LT_Q4_1 || t == LT_Q8_0 ? 32 : 0;
    if (!B) return lt_err_set(err, LT_EUNSUPPORTED, "%s has no GPTQ form (Q4_0, Q4_1, Q8_0 and gq4 do)", lt_dtype_name(t));
    if (group <= 0 || B % group || group % 32 || cols % B)
        return lt_err_set(err, LT_EINVAL, "%s: groups of %d do not divide its blocks of %d (%d columns)",
                          lt_dtype_name(t), group, B, cols);
    const int bits = t == LT_Q8_0 ? 8 : 4;
    LT_TRY(lt_gq_alloc(m, rows, cols, bits, group, t != LT_Q4_1 && !gqb, false, err));
    const size_t rb = lt_row_bytes(t, cols), bb = (size_t)lt_dtype_block_bytes(t);
    const int per = B / group;
    bool all8 = true;
    double dev = 0;
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = (const uint8_t *)data + (size_t)r * rb;
        uint8_t *q = m->q + (size_t)r * cols;
        for (int b = 0; b < cols / B; b++) {
            const uint8_t *blk = row + (size_t)b * bb;
            uint16_t hd, hz;
            memcpy(&hd, blk, 2), memcpy(&hz, blk + 2, 2);
            float d = lt_f16_to_f32(hd), z;
            uint8_t *qb = q + (size_t)b * B;
            if (t == LT_Q4_0) {
                z = 8, nibbles(((const lt_block_q4_0 *)blk)->q, qb);
            } else if (t == LT_Q8_0) {
                z = 128;
                for (int j = 0; j < 32; j++) qb[j] = (uint8_t)(((const lt_block_q8_0 *)blk)->q[j] + 128);
            } else if (t == LT_Q4_1) {
                const float mn = lt_f16_to_f32(hz);
                const double zf = d != 0 ? -(double)mn / d : 0;
                z = (float)nearbyint(zf);
                if ((d == 0 && mn != 0) || fabs(zf - z) > 0.01 || z < 0 || z > 15) {
                    lt_gq_free(m);
                    return lt_err_set(err, LT_EUNSUPPORTED, "q4_1 block %d of row %d has min %g and scale %g: not an "
                                      "integer zero point (not written by GPTQ)", b, r, (double)mn, (double)d);
                }
                nibbles(((const lt_block_q4_1 *)blk)->qs, qb);
                double e = fabs((double)d * z + mn);
                if (e > dev) dev = e;
            } else { /* gq4: d, z, then B/32 q4_0-ordered sub-blocks */
                z = lt_f16_to_f32(hz);
                for (int s = 0; s < B / 32; s++) nibbles(blk + 4 + 16 * s, qb + 32 * s);
            }
            all8 &= z == 8;
            for (int g = 0; g < per; g++) {
                m->scale[(size_t)r * m->n_groups + b * per + g] = d;
                m->zero[(size_t)r * m->n_groups + b * per + g] = z;
            }
        }
    }
    if (gqb) m->sym = all8;
    if (max_dev) *max_dev = dev;
    return LT_OK;
}

/* ---- K-quant super-blocks as GPTQ's grid ------------------------------------------------------ */

int lt_gq_k_sub(lt_dtype t) {
    switch (t) {
    case LT_Q4_K:
    case LT_Q5_K: return 32;
    case LT_Q2_K:
    case LT_Q3_K:
    case LT_Q6_K: return 16;
    default: return 0;
    }
}

void lt_gq_k_params(lt_dtype t, const float *x, void *block, lt_gq_k_grid *g) {
    switch (t) {
    case LT_Q2_K: {
        lt_quantize_row_q2_K(x, block, LT_QK_K);
        const lt_block_q2_K *b = block;
        const float d = lt_f16_to_f32(b->d), dmin = lt_f16_to_f32(b->dmin);
        for (int s = 0; s < 16; s++)
            g[s] = (lt_gq_k_grid){d * (float)(b->scales[s] & 0xF), dmin * (float)(b->scales[s] >> 4)};
    } break;
    case LT_Q3_K: {
        lt_quantize_row_q3_K(x, block, LT_QK_K);
        const lt_block_q3_K *b = block;
        for (int s = 0; s < 16; s++) g[s] = (lt_gq_k_grid){lt_f16_to_f32(b->d) * (float)(lt_q3_K_scale(b->scales, s) - 32), 0};
    } break;
    case LT_Q4_K:
    case LT_Q5_K: {
        const uint8_t *sc8;
        float d, dmin;
        if (t == LT_Q4_K) {
            lt_quantize_row_q4_K(x, block, LT_QK_K);
            const lt_block_q4_K *b = block;
            sc8 = b->scales, d = lt_f16_to_f32(b->d), dmin = lt_f16_to_f32(b->dmin);
        } else {
            lt_quantize_row_q5_K(x, block, LT_QK_K);
            const lt_block_q5_K *b = block;
            sc8 = b->scales, d = lt_f16_to_f32(b->d), dmin = lt_f16_to_f32(b->dmin);
        }
        for (int s = 0; s < 8; s++) {
            int sc, m;
            lt_scale_min_k4(s, sc8, &sc, &m);
            g[s] = (lt_gq_k_grid){d * (float)sc, dmin * (float)m};
        }
    } break;
    default: { /* LT_Q6_K */
        lt_quantize_row_q6_K(x, block, LT_QK_K);
        const lt_block_q6_K *b = block;
        for (int s = 0; s < 16; s++) g[s] = (lt_gq_k_grid){lt_f16_to_f32(b->d) * (float)b->scales[s], 0};
    }
    }
}

float lt_gq_k_value(lt_dtype t, const lt_gq_k_grid *g, float x, uint8_t *code) {
    /* unsigned codes (d1 * q - m1): q2_K, q4_K, q5_K; signed (d1 * (q - zero)): q3_K, q6_K */
    const int maxq = t == LT_Q2_K ? 3 : t == LT_Q3_K ? 7 : t == LT_Q4_K ? 15 : t == LT_Q5_K ? 31 : 63;
    const bool sgn = t == LT_Q3_K || t == LT_Q6_K;
    const int zero = sgn ? (maxq + 1) / 2 : 0;
    int q = 0;
    if (g->d1 != 0) {
        float v = rintf((sgn ? x : x + g->m1) / g->d1);
        v = v < (float)-zero ? (float)-zero : v > (float)(maxq - zero) ? (float)(maxq - zero) : v;
        q = (int)v;
    }
    *code = (uint8_t)(q + zero);
    if (sgn) return g->d1 * (float)q; /* lt_q3_K_get / lt_q6_K_get: dl * q */
    return lt_mul_rn(g->d1, (float)q) - g->m1;
}

void lt_gq_k_pack(lt_dtype t, const uint8_t *q, void *block) {
    switch (t) {
    case LT_Q2_K: {
        lt_block_q2_K *b = block;
        memset(b->qs, 0, sizeof b->qs);
        for (int j = 0; j < LT_QK_K; j++) {
            const int s = j / 16, h = s / 8, sh = 2 * ((s % 8) / 2), k = s % 2, l = j % 16;
            b->qs[32 * h + 16 * k + l] |= (uint8_t)((q[j] & 3) << sh);
        }
    } break;
    case LT_Q3_K: {
        lt_block_q3_K *b = block;
        memset(b->qs, 0, sizeof b->qs), memset(b->hmask, 0, sizeof b->hmask);
        for (int j = 0; j < LT_QK_K; j++) {
            const int s = j / 16, h = s / 8, jj = (s % 8) / 2, k = s % 2, l = j % 16;
            b->qs[32 * h + 16 * k + l] |= (uint8_t)((q[j] & 3) << (2 * jj));
            if (q[j] & 4) b->hmask[16 * k + l] |= (uint8_t)(1 << (4 * h + jj));
        }
    } break;
    case LT_Q4_K:
    case LT_Q5_K: {
        uint8_t *qs = t == LT_Q4_K ? ((lt_block_q4_K *)block)->qs : ((lt_block_q5_K *)block)->qs;
        uint8_t *qh = t == LT_Q5_K ? ((lt_block_q5_K *)block)->qh : NULL;
        memset(qs, 0, LT_QK_K / 2);
        if (qh) memset(qh, 0, LT_QK_K / 8);
        for (int j = 0; j < LT_QK_K; j++) {
            const int c = j / 64, half = (j % 64) / 32, l = j % 32;
            qs[32 * c + l] |= (uint8_t)((q[j] & 15) << (4 * half));
            if (qh && (q[j] & 16)) qh[l] |= (uint8_t)(1 << (2 * c + half));
        }
    } break;
    default: { /* LT_Q6_K */
        lt_block_q6_K *b = block;
        memset(b->ql, 0, sizeof b->ql), memset(b->qh, 0, sizeof b->qh);
        for (int j = 0; j < LT_QK_K; j++) {
            const int n = j / 128, qd = (j % 128) / 32, l = j % 32;
            b->ql[64 * n + l + 32 * (qd & 1)] |= (uint8_t)((q[j] & 15) << (4 * (qd >> 1)));
            b->qh[32 * n + l] |= (uint8_t)(((q[j] >> 4) & 3) << (2 * qd));
        }
    }
    }
}

bool lt_gq_ggml_grid(lt_dtype t, int *bits, bool *sym) {
    switch (t) {
    case LT_Q4_0: *bits = 4, *sym = true; return true;
    case LT_Q4_1: *bits = 4, *sym = false; return true;
    case LT_Q5_0: *bits = 5, *sym = true; return true;
    case LT_Q5_1: *bits = 5, *sym = false; return true;
    case LT_Q8_0: *bits = 8, *sym = true; return true;
    default: return false;
    }
}
