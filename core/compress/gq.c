/* gq.c - see gq.h. */
#include "gq.h"

#include <string.h>

#include "core/base/alloc.h"

lt_status lt_gq_alloc(lt_gq_matrix *m, int rows, int cols, int bits, int group, bool sym, bool act_order,
                      lt_err *err) {
    memset(m, 0, sizeof *m);
    if (rows <= 0 || cols <= 0) return lt_err_set(err, LT_EINVAL, "group quantization: bad shape %d x %d", rows, cols);
    if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 8)
        return lt_err_set(err, LT_EINVAL, "group quantization: %d bits is not one of 2, 3, 4, 5, 8", bits);
    if (group <= 0 || group > cols) group = cols;
    m->rows = rows, m->cols = cols, m->bits = bits, m->group = group, m->sym = sym;
    m->n_groups = (cols + group - 1) / group;
    size_t n = (size_t)rows * (size_t)cols, ng = (size_t)rows * (size_t)m->n_groups;
    m->q = lt_calloc(n, 1);
    m->scale = lt_calloc(ng, sizeof(float));
    m->zero = lt_calloc(ng, sizeof(float));
    m->g_idx = act_order ? lt_calloc((size_t)cols, sizeof(int32_t)) : NULL;
    if (!m->q || !m->scale || !m->zero || (act_order && !m->g_idx)) {
        lt_gq_free(m);
        return lt_err_set(err, LT_ENOMEM, "out of host memory for a %d x %d quantized matrix", rows, cols);
    }
    return LT_OK;
}

void lt_gq_free(lt_gq_matrix *m) {
    if (!m) return;
    lt_free(m->q);
    lt_free(m->scale);
    lt_free(m->zero);
    lt_free(m->g_idx);
    memset(m, 0, sizeof *m);
}

void lt_gq_dequant(const lt_gq_matrix *m, float *w) {
    for (int r = 0; r < m->rows; r++) {
        const float *sc = m->scale + (size_t)r * m->n_groups, *z = m->zero + (size_t)r * m->n_groups;
        const uint8_t *q = m->q + (size_t)r * m->cols;
        float *o = w + (size_t)r * m->cols;
        for (int c = 0; c < m->cols; c++) {
            int g = m->g_idx ? m->g_idx[c] : c / m->group;
            o[c] = sc[g] * ((float)q[c] - z[g]);
        }
    }
}
