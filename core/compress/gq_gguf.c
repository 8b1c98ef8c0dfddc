/* gq_gguf.c - see gq_gguf.h. */
#include "gq_gguf.h"

#include <stdio.h>
#include <string.h>

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
