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
