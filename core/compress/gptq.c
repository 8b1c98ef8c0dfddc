/* gptq.c - GPTQ and round-to-nearest (see gptq.h). */
#include "gptq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "gq_gguf.h"
#include "kernels/lt_math.h"
#include "kernels/lt_quants.h"
#include "linalg.h"

typedef struct qparams {
    float scale, zero, m; /* m: ggml's asymmetric offset (d*q + m) */
} qparams;

static float f16r(float x) {
    float r = lt_f16_to_f32(lt_f32_to_f16(x));
    return r != 0 ? r : x < 0 ? -5.9604645e-8f : 5.9604645e-8f; /* the smallest f16: a scale never becomes 0 */
}

/* The chosen weight of w under p, its code in *code. */
static inline float qval(const lt_gptq_opts *o, int maxq, const qparams *p, float w, uint8_t *code) {
    float q = rintf(w / p->scale) + p->zero;
    q = q < 0 ? 0 : q > (float)maxq ? (float)maxq : q;
    *code = (uint8_t)q;
    if (o->ggml && !o->sym) return q * p->scale + p->m;
    return p->scale * (q - p->zero);
}

static qparams params_of(const lt_gptq_opts *o, int maxq, float xmin, float xmax) {
    qparams p;
    if (o->ggml && o->sym) { /* ggml's grid: the value of largest magnitude lands on -2^(bits-1) */
        float half = (float)((maxq + 1) / 2), ms = -xmin >= xmax ? xmin : xmax;
        p.scale = f16r(ms / -half);
        p.zero = half;
        p.m = -p.scale * p.zero;
        return p;
    }
    p.scale = (xmax - xmin) / (float)maxq;
    if (o->ggml) p.scale = f16r(p.scale);
    if (o->sym) p.zero = (float)((maxq + 1) / 2);
    else {
        p.zero = rintf(-xmin / p.scale);
        p.zero = p.zero < 0 ? 0 : p.zero > (float)maxq ? (float)maxq : p.zero;
    }
    p.m = o->ggml ? lt_f16_to_f32(lt_f32_to_f16(-p.scale * p.zero)) : -p.scale * p.zero;
    return p;
}

/* The quantizer of x[0..n) (stride 1), as quant.py's find_params (and its mse search). */
static qparams find_params(const lt_gptq_opts *o, int maxq, const float *x, int n) {
    float xmin = 0, xmax = 0;
    for (int i = 0; i < n; i++) {
        xmin = x[i] < xmin ? x[i] : xmin;
        xmax = x[i] > xmax ? x[i] : xmax;
    }
    if (o->sym && !o->ggml) {
        xmax = -xmin > xmax ? -xmin : xmax;
        if (xmin < 0) xmin = -xmax;
    }
    if (xmin == 0 && xmax == 0) xmin = -1, xmax = 1;
    qparams best = params_of(o, maxq, xmin, xmax);
    if (!o->clip) return best;
    double best_err = INFINITY;
    for (int i = 0; i < 80; i++) { /* grid 100, maxshrink 0.8, norm 2.4 */
        float s = 1.0f - (float)i / 100.0f;
        qparams p = params_of(o, maxq, s * xmin, s * xmax);
        double e = 0;
        uint8_t c;
        for (int k = 0; k < n; k++) e += pow(fabs((double)qval(o, maxq, &p, x[k], &c) - x[k]), 2.4);
        if (e < best_err) best_err = e, best = p;
    }
    return best;
}

static lt_status check_opts(const lt_gptq_opts *o, int rows, int cols, lt_err *err) {
    if (rows <= 0 || cols <= 0) return lt_err_set(err, LT_EINVAL, "quantize: bad shape %d x %d", rows, cols);
    if (o->bits != 2 && o->bits != 3 && o->bits != 4 && o->bits != 5 && o->bits != 8)
        return lt_err_set(err, LT_EINVAL, "quantize: --bits %d is not one of 2, 3, 4, 5, 8", o->bits);
    return LT_OK; /* a group that does not divide the row leaves a shorter last group, as the reference's */
}

/* columns of group g: the last one may be shorter */
static inline int group_len(int cols, int gs, int g) {
    return cols - g * gs < gs ? cols - g * gs : gs;
}

static void set_params(lt_gq_matrix *m, int r, int g, const qparams *p) {
    m->scale[(size_t)r * m->n_groups + g] = p->scale;
    m->zero[(size_t)r * m->n_groups + g] = p->zero;
}

lt_status lt_rtn(const float *w, int rows, int cols, const lt_gptq_opts *o, lt_gq_matrix *out, float *wq,
                 lt_err *err) {
    LT_TRY(check_opts(o, rows, cols, err));
    LT_TRY(lt_gq_alloc(out, rows, cols, o->bits, o->group, o->sym, false, err));
    int maxq = (1 << o->bits) - 1, gs = out->group;
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < out->n_groups; g++) {
            const float *x = w + (size_t)r * cols + (size_t)g * gs;
            int n = group_len(cols, gs, g);
            qparams p = find_params(o, maxq, x, n);
            set_params(out, r, g, &p);
            for (int k = 0; k < n; k++) {
                size_t i = (size_t)r * cols + (size_t)g * gs + k;
                float v = qval(o, maxq, &p, x[k], &out->q[i]);
                if (wq) wq[i] = v;
            }
        }
    return LT_OK;
}

/* diag-descending order, ties by index (torch.argsort is not stable; any order is valid) */
static const double *g_diag;
static int cmp_diag(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (g_diag[i] != g_diag[j]) return g_diag[i] > g_diag[j] ? -1 : 1;
    return i - j;
}

struct lt_gptq_hinv {
    int cols;
    int *perm;  /* column order (act-order) */
    bool *dead; /* H_ii == 0 */
    float *U;   /* upper Cholesky of the damped inverse, in perm order */
};

const float *lt_gptq_hinv_factor(const lt_gptq_hinv *hv, const bool **dead) {
    if (dead) *dead = hv->dead;
    return hv->U;
}

void lt_gptq_hinv_free(lt_gptq_hinv *p) {
    if (!p) return;
    lt_free(p->perm), lt_free(p->dead), lt_free(p->U);
    lt_free(p);
}

lt_status lt_gptq_hinv_create(lt_gptq_hinv **out, const double *h, int cols, const lt_gptq_opts *o, lt_err *err) {
    *out = NULL;
    LT_TRY(lt_la_load(err));
    size_t nh = (size_t)cols * cols;
    lt_gptq_hinv *p = lt_calloc(1, sizeof *p);
    double *H = lt_malloc(nh * sizeof(double)), *H0 = lt_malloc(nh * sizeof(double)), *d = NULL;
    lt_status st = LT_OK;
    if (!p || !H || !H0 || !(p->perm = lt_malloc((size_t)cols * sizeof(int))) ||
        !(p->dead = lt_calloc((size_t)cols, sizeof(bool))) || !(p->U = lt_malloc(nh * sizeof(float))) ||
        !(d = lt_malloc((size_t)cols * sizeof(double)))) {
        st = lt_err_set(err, LT_ENOMEM, "out of host memory for a %d x %d Hessian", cols, cols);
        goto done;
    }
    p->cols = cols;
    memcpy(H0, h, nh * sizeof(double));
    for (int i = 0; i < cols; i++) { /* dead inputs */
        p->perm[i] = i;
        if (H0[(size_t)i * cols + i] == 0) {
            H0[(size_t)i * cols + i] = 1;
            p->dead[i] = true;
        }
        d[i] = H0[(size_t)i * cols + i];
    }
    if (o->act_order) {
        g_diag = d;
        qsort(p->perm, (size_t)cols, sizeof(int), cmp_diag);
        g_diag = NULL;
        for (int i = 0; i < cols; i++)
            for (int j = 0; j < cols; j++) H[(size_t)i * cols + j] = H0[(size_t)p->perm[i] * cols + p->perm[j]];
        memcpy(H0, H, nh * sizeof(double));
    }
    double mean = 0;
    for (int i = 0; i < cols; i++) mean += H0[(size_t)i * cols + i];
    mean /= cols;
    double lambda = (o->damp > 0 ? o->damp : 0.01) * mean;
    for (int tries = 0;; tries++) {
        memcpy(H, H0, nh * sizeof(double));
        for (int i = 0; i < cols; i++) H[(size_t)i * cols + i] += lambda;
        st = lt_la_chol_inverse_upper(H, cols, err);
        if (st == LT_OK || tries == 3) break;
        lambda *= 10;
    }
    if (st == LT_OK)
        for (size_t i = 0; i < nh; i++) p->U[i] = (float)H[i];
done:
    lt_free(H), lt_free(H0), lt_free(d);
    if (st != LT_OK) lt_gptq_hinv_free(p);
    else *out = p;
    return st;
}

/* What GPTQ quantizes each column to: ggml/AutoGPTQ groups (gq, P: one qparams per row and group,
 * chosen over span = group columns) or a K-quant type's super-blocks (kt: span 256, K: one grid
 * per row and sub-block, the block's header in blocks). */
typedef struct grid {
    const lt_gptq_opts *o;
    int maxq, span, sub, n_sub, cols;
    lt_gq_matrix *out; /* gq: scales and zeros recorded here */
    qparams *P;
    lt_dtype kt; /* LT_DTYPE_COUNT: gq */
    lt_gq_k_grid *K;
    char *blocks;
    size_t rb;
} grid;

/* The parameters of row r's span starting at column c0 (x: its current weights, in column order). */
static void grid_choose(grid *g, int r, int c0, const float *x) {
    if (g->kt != LT_DTYPE_COUNT) {
        lt_gq_k_params(g->kt, x, g->blocks + (size_t)r * g->rb + (size_t)(c0 / LT_QK_K) * lt_dtype_block_bytes(g->kt),
                       g->K + (size_t)r * g->n_sub + c0 / g->sub);
        return;
    }
    int gi = c0 / g->span;
    g->P[(size_t)r * g->n_sub + gi] = find_params(g->o, g->maxq, x, group_len(g->cols, g->span, gi));
    set_params(g->out, r, gi, &g->P[(size_t)r * g->n_sub + gi]);
}

static inline float grid_quant(const grid *g, int r, int orig, float x, uint8_t *code) {
    size_t i = (size_t)r * g->n_sub + orig / g->sub;
    if (g->kt != LT_DTYPE_COUNT) return lt_gq_k_value(g->kt, &g->K[i], x, code);
    return qval(g->o, g->maxq, &g->P[i], x, code);
}

/* GPTQ's loop over g's grid: codes (rows x cols, original column order) and wq. */
static lt_status gptq_loop(const float *w, int rows, int cols, const lt_gptq_hinv *hv, grid *gr, uint8_t *codes,
                           float *wq, double *loss, lt_err *err) {
    const lt_gptq_opts *o = gr->o;
    const int B = o->block > 0 ? o->block : 128, span = gr->span;
    const int *perm = hv->perm;
    const float *U = hv->U;
    size_t nw = (size_t)rows * cols;
    float *W = lt_malloc(nw * sizeof(float));
    float *E = lt_malloc((size_t)rows * B * sizeof(float)), *wo = lt_malloc((size_t)cols * sizeof(float));
    lt_status st = LT_OK;
    if (!W || !E || !wo) {
        st = lt_err_set(err, LT_ENOMEM, "out of host memory for GPTQ of a %d x %d matrix", rows, cols);
        goto done;
    }
    for (int r = 0; r < rows; r++) {
        float *row = W + (size_t)r * cols;
        memcpy(row, w + (size_t)r * cols, (size_t)cols * sizeof(float));
        for (int i = 0; i < cols; i++)
            if (hv->dead[i]) row[i] = 0;
    }
    /* spans fixed beforehand: the whole row, or static groups with act-order */
    const bool fixed = span == cols || o->act_order;
    if (fixed)
        for (int r = 0; r < rows; r++)
            for (int c0 = 0; c0 < cols; c0 += span) grid_choose(gr, r, c0, W + (size_t)r * cols + c0);
    if (o->act_order)
        for (int r = 0; r < rows; r++) { /* W's columns in perm order */
            float *row = W + (size_t)r * cols;
            for (int i = 0; i < cols; i++) wo[i] = row[perm[i]];
            memcpy(row, wo, (size_t)cols * sizeof(float));
        }
    double ls = 0;
    for (int i1 = 0; i1 < cols; i1 += B) {
        int i2 = i1 + B < cols ? i1 + B : cols, cnt = i2 - i1;
        for (int i = 0; i < cnt; i++) {
            int col = i1 + i, orig = perm[col];
            if (!fixed && col % span == 0) /* dynamic groups: from the updated weights */
                for (int r = 0; r < rows; r++) grid_choose(gr, r, col, W + (size_t)r * cols + col);
            float d = U[(size_t)col * cols + col];
            const float *urow = U + (size_t)col * cols;
            for (int r = 0; r < rows; r++) {
                float *wr = W + (size_t)r * cols;
                float x = wr[col];
                uint8_t code;
                float q = grid_quant(gr, r, orig, x, &code);
                codes[(size_t)r * cols + orig] = code;
                if (wq) wq[(size_t)r * cols + orig] = q;
                ls += (double)(x - q) * (x - q) / ((double)d * d) / 2;
                float e = (x - q) / d;
                E[(size_t)r * B + i] = e;
            }
            if (col + 1 < i2) /* W[:, col+1:i2] -= E[:, i] U[col, col+1:i2] */
                lt_la_sger(rows, i2 - col - 1, -1.0f, E + i, B, urow + col + 1, W + col + 1, cols);
        }
        if (i2 < cols) /* W[:, i2:] -= E U[i1:i2, i2:] */
            lt_la_sgemm(false, false, rows, cols - i2, cnt, -1.0f, E, B, U + (size_t)i1 * cols + i2, cols, 1.0f,
                        W + i2, cols);
    }
    if (loss) *loss = ls;
done:
    lt_free(W), lt_free(E), lt_free(wo);
    return st;
}

lt_status lt_gptq_run(const float *w, int rows, int cols, const lt_gptq_hinv *hv, const lt_gptq_opts *o,
                      lt_gq_matrix *out, float *wq, double *loss, lt_err *err) {
    LT_TRY(check_opts(o, rows, cols, err));
    if (hv->cols != cols) return lt_err_set(err, LT_EINVAL, "GPTQ: a %d-column Hessian for %d columns", hv->cols, cols);
    LT_TRY(lt_gq_alloc(out, rows, cols, o->bits, o->group, o->sym, o->act_order, err));
    grid gr = {.o = o, .maxq = (1 << o->bits) - 1, .span = out->group, .sub = out->group, .n_sub = out->n_groups,
               .cols = cols, .out = out, .kt = LT_DTYPE_COUNT};
    gr.P = lt_malloc((size_t)rows * out->n_groups * sizeof(qparams));
    lt_status st = gr.P ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory for GPTQ of a %d x %d matrix", rows, cols);
    if (st == LT_OK && o->act_order)
        for (int c = 0; c < cols; c++) out->g_idx[c] = c / out->group;
    if (st == LT_OK) st = gptq_loop(w, rows, cols, hv, &gr, out->q, wq, loss, err);
    if (st != LT_OK) lt_gq_free(out);
    lt_free(gr.P);
    return st;
}

lt_status lt_gptq_run_k(const float *w, int rows, int cols, const lt_gptq_hinv *hv, lt_dtype t,
                        const lt_gptq_opts *o, void *blocks, float *wq, double *loss, lt_err *err) {
    const int sub = lt_gq_k_sub(t);
    if (!sub) return lt_err_set(err, LT_EINVAL, "GPTQ: %s is not a K-quant type (q2_K .. q6_K)", lt_dtype_name(t));
    if (rows <= 0 || cols <= 0 || cols % LT_QK_K)
        return lt_err_set(err, LT_EINVAL, "GPTQ: %s needs rows of a multiple of %d weights, not %d", lt_dtype_name(t),
                          LT_QK_K, cols);
    if (hv->cols != cols) return lt_err_set(err, LT_EINVAL, "GPTQ: a %d-column Hessian for %d columns", hv->cols, cols);
    grid gr = {.o = o, .span = LT_QK_K, .sub = sub, .n_sub = cols / sub, .cols = cols, .kt = t, .blocks = blocks,
               .rb = lt_row_bytes(t, cols)};
    gr.K = lt_malloc((size_t)rows * gr.n_sub * sizeof *gr.K);
    uint8_t *codes = lt_malloc((size_t)rows * cols);
    lt_status st = gr.K && codes ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory for GPTQ of a %d x %d matrix",
                                                      rows, cols);
    if (st == LT_OK) st = gptq_loop(w, rows, cols, hv, &gr, codes, wq, loss, err);
    for (int r = 0; st == LT_OK && r < rows; r++)
        for (int b = 0; b < cols / LT_QK_K; b++)
            lt_gq_k_pack(t, codes + (size_t)r * cols + (size_t)b * LT_QK_K,
                         (char *)blocks + (size_t)r * gr.rb + (size_t)b * lt_dtype_block_bytes(t));
    lt_free(gr.K), lt_free(codes);
    return st;
}

lt_status lt_gptq(const float *w, int rows, int cols, const double *h, const lt_gptq_opts *o, lt_gq_matrix *out,
                  float *wq, double *loss, lt_err *err) {
    LT_TRY(check_opts(o, rows, cols, err));
    lt_gptq_hinv *hv;
    LT_TRY(lt_gptq_hinv_create(&hv, h, cols, o, err));
    lt_status st = lt_gptq_run(w, rows, cols, hv, o, out, wq, loss, err);
    lt_gptq_hinv_free(hv);
    return st;
}
