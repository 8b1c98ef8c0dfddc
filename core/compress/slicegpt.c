/* slicegpt.c - SliceGPT: fold, PCA, rotate and slice (see slicegpt.h). */
#include "slicegpt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "linalg.h"

int lt_slicegpt_width(int dim, double slice, int round) {
    if (round <= 0) round = 8;
    int d = (int)((1.0 - slice) * dim); /* the authors' int((1 - sparsity) * hidden_size) */
    d -= d % round;
    if (d < round) d = round < dim ? round : dim;
    return d;
}

const char *lt_slicegpt_shortcuts_str(const lt_slicegpt_result *r, char *buf, size_t n) {
    if (r->shortcut_rank_max < 0) snprintf(buf, n, "full");
    else snprintf(buf, n, "low-rank, rank <= %d", r->shortcut_rank_max);
    return buf;
}

/* ---- tensors ------------------------------------------------------------------------------ */

static const lt_src_tensor *need(const lt_modelsrc *src, const char *fmt, int l, lt_err *err) {
    char nm[96];
    snprintf(nm, sizeof nm, fmt, l);
    const lt_src_tensor *t = lt_modelsrc_find(src, nm);
    if (!t) lt_err_set(err, LT_EFORMAT, "slicegpt: %s has no tensor '%s'", lt_modelsrc_path(src), nm);
    return t;
}

/* a tensor's values as f32 (rows of any dtype) into a fresh buffer */
static float *to_f32(const lt_src_tensor *t) {
    int64_t cols = t->shape[t->ndim - 1], rows = 1;
    for (int d = 0; d < t->ndim - 1; d++) rows *= t->shape[d];
    float *w = lt_malloc(sizeof(float) * (size_t)(rows * cols));
    if (!w) return NULL;
    size_t rb = lt_row_bytes(t->dtype, cols);
    for (int64_t r = 0; r < rows; r++) lt_dtype_row_to_f32(t->dtype, (const char *)t->data + r * rb, w + r * cols, cols);
    return w;
}

static lt_status add_f32(lt_modelsrc *dst, const char *name, int nd, int64_t d0, int64_t d1, const float *w,
                         lt_err *err) {
    int64_t sh[2] = {d0, d1};
    return lt_modelsrc_add_owned(dst, name, LT_F32, nd, sh, w, err);
}

/* w [d0 x d1] (double) stored as dt */
static lt_status add_conv(lt_modelsrc *dst, const char *name, lt_dtype dt, int64_t d0, int64_t d1, const double *w,
                          lt_err *err) {
    size_t rb = lt_row_bytes(dt, d1);
    char *buf = lt_malloc(rb * (size_t)d0);
    float *row = lt_malloc(sizeof(float) * (size_t)d1);
    lt_status st = buf && row ? LT_OK : lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
    for (int64_t r = 0; st == LT_OK && r < d0; r++) {
        for (int64_t c = 0; c < d1; c++) row[c] = (float)w[r * d1 + c];
        lt_dtype_row_from_f32(dt, row, buf + (size_t)r * rb, d1);
    }
    int64_t sh[2] = {d0, d1};
    if (st == LT_OK) st = lt_modelsrc_add_owned(dst, name, dt, 2, sh, buf, err);
    lt_free(buf), lt_free(row);
    return st;
}

static lt_status add_ones(lt_modelsrc *dst, const char *name, int64_t n, lt_err *err) {
    float *o = lt_malloc(sizeof(float) * (size_t)n);
    if (!o) return lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
    for (int64_t i = 0; i < n; i++) o[i] = 1.0f;
    lt_status st = add_f32(dst, name, 1, n, 0, o, err);
    lt_free(o);
    return st;
}

/* ---- folding ------------------------------------------------------------------------------ */

/* W [rows x D] times g per column (the norm folded in), f32 into fold */
static lt_status fold_in(const lt_modelsrc *src, lt_modelsrc *fold, const char *name, const float *g, lt_err *err) {
    const lt_src_tensor *t = lt_modelsrc_find(src, name);
    if (!t) return lt_err_set(err, LT_EFORMAT, "slicegpt: %s has no tensor '%s'", lt_modelsrc_path(src), name);
    float *w = to_f32(t);
    if (!w) return lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
    const int64_t rows = t->shape[0], cols = t->shape[1];
    for (int64_t r = 0; g && r < rows; r++)
        for (int64_t c = 0; c < cols; c++) w[r * cols + c] = (float)((double)w[r * cols + c] * g[c]);
    lt_status st = add_f32(fold, name, 2, rows, cols, w, err);
    lt_free(w);
    return st;
}

/* The folded model: norms' weights in the linears after them, weightless norms, an untied head
 * (f32, the calibration model and the rotation's input). */
static lt_status fold_model(const lt_modelsrc *src, const lt_slicegpt_opts *o, lt_modelsrc **out, lt_err *err) {
    const lt_llm_config *c = lt_modelsrc_config(src);
    lt_llm_config fc = *c;
    fc.tied_embeddings = false;
    lt_modelsrc *f = NULL;
    LT_TRY(lt_modelsrc_derived(&f, src, &fc, err));
    const int64_t D = c->dim, V = c->n_vocab;
    lt_status st = LT_OK;
    float *g = NULL;
    const lt_src_tensor *e = need(src, "token_embd.weight", 0, err), *on = need(src, "output_norm.weight", 0, err);
    const lt_src_tensor *head = c->tied_embeddings ? e : need(src, "output.weight", 0, err);
    if (!e || !on || !head) st = LT_EFORMAT;
    if (st == LT_OK) { /* the embedding, rows centred if asked (the authors' fuse_modules) */
        float *w = to_f32(e);
        if (!w) st = lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
        for (int64_t r = 0; w && o->center_embd && r < V; r++) {
            double m = 0;
            for (int64_t i = 0; i < D; i++) m += w[r * D + i];
            m /= (double)D;
            for (int64_t i = 0; i < D; i++) w[r * D + i] = (float)(w[r * D + i] - m);
        }
        if (st == LT_OK) st = add_f32(f, "token_embd.weight", 2, V, D, w, err);
        lt_free(w);
    }
    if (st == LT_OK && !(g = to_f32(on))) st = lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
    if (st == LT_OK) { /* the head, with the final norm in it */
        float *w = to_f32(head);
        if (!w) st = lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
        for (int64_t r = 0; w && r < V; r++)
            for (int64_t i = 0; i < D; i++) w[r * D + i] = (float)((double)w[r * D + i] * g[i]);
        if (st == LT_OK) st = add_f32(f, "output.weight", 2, V, D, w, err);
        lt_free(w);
    }
    if (st == LT_OK) st = add_ones(f, "output_norm.weight", D, err);
    lt_free(g), g = NULL;
    char nm[96];
    for (int l = 0; st == LT_OK && l < c->n_layers; l++) {
        static const char *const norms[2] = {"attn_norm", "ffn_norm"};
        static const char *const reads[2][3] = {{"attn_q", "attn_k", "attn_v"}, {"ffn_gate", "ffn_up", NULL}};
        for (int k = 0; st == LT_OK && k < 2; k++) {
            const lt_src_tensor *n = need(src, k ? "blk.%d.ffn_norm.weight" : "blk.%d.attn_norm.weight", l, err);
            if (!n || !(g = to_f32(n))) st = n ? lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory") : LT_EFORMAT;
            for (int j = 0; st == LT_OK && j < 3 && reads[k][j]; j++) {
                snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, reads[k][j]);
                st = fold_in(src, f, nm, g, err);
            }
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, norms[k]);
            if (st == LT_OK) st = add_ones(f, nm, D, err);
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, k ? "ffn_down" : "attn_output");
            if (st == LT_OK) st = fold_in(src, f, nm, NULL, err);
            lt_free(g), g = NULL;
        }
    }
    /* everything else (q/k/v biases, rope factors) as it is */
    for (int i = 0; st == LT_OK && i < lt_modelsrc_n_tensors(src); i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        if (lt_modelsrc_find(f, t->name)) continue;
        float *w = to_f32(t);
        st = w ? lt_modelsrc_add_owned(f, t->name, LT_F32, t->ndim, t->shape, w, err)
               : lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
        lt_free(w);
    }
    if (st != LT_OK) {
        lt_modelsrc_close(f);
        return st;
    }
    *out = f;
    return LT_OK;
}

/* ---- calibration: the folded model's residual stream ------------------------------------- */

typedef struct cal {
    lt_lm *lm;
    lt_kv_cache *kv;
    const int32_t *tokens;
    int nw, win, D;
    int32_t *pos, *seq;
    bool *nol;
    float *X, *Y;   /* [nw * win * D]: the block's inputs (projected), its outputs */
    double *H;      /* [D * D]: sum of x^T x (upper triangle) */
    double *xd;     /* [win * D] */
    float *xf, *tmp; /* [win * D] */
    const float *P; /* mid: NULL = accumulate H, else project onto P (D x D) */
    lt_slicegpt_progress progress;
    void *ud;
    double frac;
    int layer, n_layers;
} cal;

static void accumulate(cal *c, const float *x, int rows) {
    for (size_t i = 0; i < (size_t)rows * c->D; i++) c->xd[i] = x[i];
    lt_la_dsyrk_at(c->D, rows, c->xd, c->D, c->H, c->D);
}

static lt_status on_mid(void *ud, int layer, lt_tensor *x, lt_err *err) {
    (void)layer;
    cal *c = ud;
    int rows = (int)lt_tensor_rows(x);
    LT_TRY(lt_tensor_get(x, c->xf, (size_t)rows * c->D * sizeof(float), err));
    if (!c->P) {
        accumulate(c, c->xf, rows);
        return LT_OK;
    }
    lt_la_sgemm(false, false, rows, c->D, c->D, 1.0f, c->xf, c->D, c->P, c->D, 0.0f, c->tmp, c->D);
    return lt_tensor_set(x, c->tmp, (size_t)rows * c->D * sizeof(float), err);
}

/* block `layer` over every window from X: mid sees the residual after attention; outputs into Y */
static lt_status run_windows(cal *c, int layer, bool want_out, lt_err *err) {
    size_t per = (size_t)c->win * c->D;
    for (int w = 0; w < c->nw; w++) {
        if (c->progress && !c->progress(c->ud, "pca", layer, c->frac))
            return lt_err_set(err, LT_ECANCELLED, "slicegpt: cancelled");
        lt_lm_probe pr = {.first = layer, .last = layer, .x_in = c->X + w * per, .x_out = want_out ? c->Y + w * per : NULL,
                          .mid = c->P || !want_out ? on_mid : NULL, .stop_after_mid = !want_out,
                          .ud = c};
        lt_kv_seq_truncate(c->kv, c->seq[0], 0);
        lt_batch b = {.n_tokens = c->win, .tokens = c->tokens + (size_t)w * c->win, .seq = c->seq, .pos = c->pos,
                      .logits = c->nol};
        c->lm->probe = &pr;
        lt_status st = lt_lm_forward(c->lm, c->kv, &b, NULL, err);
        c->lm->probe = NULL;
        LT_TRY(st);
    }
    return LT_OK;
}

/* H (damped by 1% of its mean diagonal) -> Q: columns = eigenvectors, descending eigenvalues */
static lt_status pca(cal *c, double *q, lt_err *err) {
    const int D = c->D;
    double mean = 0;
    for (int i = 0; i < D; i++) mean += c->H[(size_t)i * D + i];
    mean /= D;
    for (int i = 0; i < D; i++) c->H[(size_t)i * D + i] += 0.01 * mean;
    memcpy(q, c->H, sizeof(double) * (size_t)D * D);
    double *vals = lt_malloc(sizeof(double) * (size_t)D);
    if (!vals) return lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
    lt_status st = lt_la_eigh_desc(q, D, vals, err);
    lt_free(vals);
    if (st != LT_OK) lt_err_prefix(err, "slicegpt: PCA of layer %d", c->layer);
    return st;
}

/* P = Q[:, :k] Q[:, :k]^T (f32), or false when k == D (the identity) */
static bool projector(const double *q, int D, int k, double *pd, float *p) {
    if (k >= D) return false;
    lt_la_dgemm(false, true, D, D, k, 1.0, q, D, q, D, 0.0, pd, D);
    for (size_t i = 0; i < (size_t)D * D; i++) p[i] = (float)pd[i];
    return true;
}

/* ---- rotation ----------------------------------------------------------------------------- */

typedef struct rot {
    const lt_modelsrc *fold;
    lt_modelsrc *out;
    int D;
    double *a, *b; /* scratch, the largest matrix */
} rot;

static void widen(const float *w, double *d, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = w[i];
}

/* name [rows x D] . Q[:, :k] -> [rows x k] */
static lt_status rot_in(rot *r, const char *name, const double *q, int k, lt_dtype dt, lt_err *err) {
    const lt_src_tensor *t = lt_modelsrc_find(r->fold, name);
    const int rows = (int)t->shape[0], D = r->D;
    widen(t->data, r->a, (size_t)rows * D);
    lt_la_dgemm(false, false, rows, k, D, 1.0, r->a, D, q, D, 0.0, r->b, k);
    return add_conv(r->out, name, dt, rows, k, r->b, err);
}

/* Q[:, :k]^T . name [D x cols] -> [k x cols] */
static lt_status rot_out(rot *r, const char *name, const double *q, int k, lt_dtype dt, lt_err *err) {
    const lt_src_tensor *t = lt_modelsrc_find(r->fold, name);
    const int cols = (int)t->shape[1], D = r->D;
    widen(t->data, r->a, (size_t)D * cols);
    lt_la_dgemm(true, false, k, cols, D, 1.0, q, D, r->a, cols, 0.0, r->b, cols);
    return add_conv(r->out, name, dt, k, cols, r->b, err);
}

/* the shortcut [ky x kx] = Qy[:, :ky]^T Qx[:, :kx] */
static lt_status shortcut_full(rot *r, const char *name, const double *qx, int kx, const double *qy, int ky,
                               lt_dtype dt, lt_err *err) {
    lt_la_dgemm(true, false, ky, kx, r->D, 1.0, qy, r->D, qx, r->D, 0.0, r->b, kx);
    return add_conv(r->out, name, dt, ky, kx, r->b, err);
}

/* Qy's kept k columns turned within their span so that S = Qy[:, :k]^T Qx[:, :k] is symmetric
 * positive semi-definite (orthogonal Procrustes: M = Qx^T Qy = P diag(s) V^T, Qy <- Qy V P^T, then
 * S = P diag(s) P^T). Any rotation within the kept components leaves the function unchanged (the
 * authors' script applies a random one). Two k-dimensional subspaces of R^D share at least 2k - D
 * dimensions, where s = 1: so I - S has rank at most D - k. */
static lt_status align(rot *r, const double *qx, double *qy, int k, lt_err *err) {
    const int D = r->D;
    const size_t kk = (size_t)k * k;
    double *m = lt_malloc(sizeof(double) * (4 * kk + k)), *u = m + kk, *vt = u + kk, *rr = vt + kk, *s = rr + kk;
    if (!m) return lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
    lt_la_dgemm(true, false, k, k, D, 1.0, qx, D, qy, D, 0.0, m, k);
    lt_status st = lt_la_svd(m, k, u, s, vt, err);
    if (st == LT_OK) {
        lt_la_dgemm(true, true, k, k, k, 1.0, vt, k, u, k, 0.0, rr, k); /* R = V P^T */
        lt_la_dgemm(false, false, D, k, k, 1.0, qy, D, rr, k, 0.0, r->b, k);
        for (int i = 0; i < D; i++) memcpy(qy + (size_t)i * D, r->b + (size_t)i * k, sizeof(double) * k);
    }
    lt_free(m);
    return st;
}

/* The shortcut from x's kx kept components to y's ky (*rank: r in the low-rank form, else -1).
 * Aligned (align) and of one width k with 2 r < k: its low-rank form name_lr.weight [r x k] = V
 * with V^T V = I - S (rows sqrt(lambda_i) e_i^T for the eigenvalues lambda_i > 1e-6 of I - S;
 * x . S = x - (x V^T) V by lt_op_lowrank: r k numbers instead of k^2), no
 * tensor when r = 0 (the identity); else the full [ky x kx] matrix name.weight. */
static lt_status shortcut(rot *r, const char *name, const double *qx, int kx, const double *qy, int ky, bool low_rank,
                          lt_dtype dt, int *rank, lt_err *err) {
    char nm[112];
    snprintf(nm, sizeof nm, "%s.weight", name);
    *rank = -1;
    if (!low_rank || kx != ky) return shortcut_full(r, nm, qx, kx, qy, ky, dt, err);
    const int k = kx;
    double *h = lt_malloc(sizeof(double) * ((size_t)k * k + k)), *lam = h + (size_t)k * k;
    if (!h) return lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory");
    lt_la_dgemm(true, false, k, k, r->D, -1.0, qy, r->D, qx, r->D, 0.0, h, k); /* -S, then I - S */
    for (int i = 0; i < k; i++) h[(size_t)i * k + i] += 1.0;
    lt_status st = lt_la_eigh_desc(h, k, lam, err);
    int rk = 0;
    while (st == LT_OK && rk < k && lam[rk] > 1e-6) rk++;
    if (st == LT_OK && 2 * rk < k) {
        *rank = rk;
        for (int i = 0; i < rk; i++)
            for (int j = 0; j < k; j++) r->b[(size_t)i * k + j] = sqrt(lam[i]) * h[(size_t)j * k + i];
        snprintf(nm, sizeof nm, "%s_lr.weight", name);
        if (rk > 0) st = add_conv(r->out, nm, dt, rk, k, r->b, err);
    } else if (st == LT_OK) {
        st = shortcut_full(r, nm, qx, kx, qy, ky, dt, err);
    }
    lt_free(h);
    return st;
}

static lt_dtype keep_float(lt_dtype d) { return d == LT_F32 || d == LT_F16 || d == LT_BF16 ? d : LT_F16; }

static lt_status rotate_layer(rot *r, const lt_modelsrc *src, int l, const double *qi, int a, const double *qm, int b,
                              const double *qo, int c, bool low_rank, int rank[2], lt_err *err) {
    char nm[96];
    const lt_src_tensor *t = need(src, "blk.%d.attn_q.weight", l, err);
    if (!t) return LT_EFORMAT;
    const lt_dtype dt = keep_float(t->dtype);
#define NM(s) (snprintf(nm, sizeof nm, "blk.%d." s, l), nm)
    LT_TRY(add_ones(r->out, NM("attn_norm.weight"), a, err));
    LT_TRY(rot_in(r, NM("attn_q.weight"), qi, a, dt, err));
    LT_TRY(rot_in(r, NM("attn_k.weight"), qi, a, dt, err));
    LT_TRY(rot_in(r, NM("attn_v.weight"), qi, a, dt, err));
    LT_TRY(rot_out(r, NM("attn_output.weight"), qm, b, dt, err));
    LT_TRY(shortcut(r, NM("attn_shortcut"), qi, a, qm, b, low_rank, dt, &rank[0], err));
    LT_TRY(add_ones(r->out, NM("ffn_norm.weight"), b, err));
    LT_TRY(rot_in(r, NM("ffn_gate.weight"), qm, b, dt, err));
    LT_TRY(rot_in(r, NM("ffn_up.weight"), qm, b, dt, err));
    LT_TRY(rot_out(r, NM("ffn_down.weight"), qo, c, dt, err));
    LT_TRY(shortcut(r, NM("ffn_shortcut"), qm, b, qo, c, low_rank, dt, &rank[1], err));
    static const char *const bias[3] = {"attn_q.bias", "attn_k.bias", "attn_v.bias"};
    for (int i = 0; i < 3; i++) { /* q/k/v biases do not change */
        snprintf(nm, sizeof nm, "blk.%d.%s", l, bias[i]);
        const lt_src_tensor *bt = lt_modelsrc_find(r->fold, nm);
        if (bt) LT_TRY(lt_modelsrc_add_owned(r->out, nm, LT_F32, 1, bt->shape, bt->data, err));
    }
#undef NM
    return LT_OK;
}

/* ---- the pass ----------------------------------------------------------------------------- */

static uint64_t n_params(const lt_modelsrc *s) {
    uint64_t n = 0;
    for (int i = 0; i < lt_modelsrc_n_tensors(s); i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(s, i);
        uint64_t e = 1;
        for (int d = 0; d < t->ndim; d++) e *= (uint64_t)t->shape[d];
        n += e;
    }
    return n;
}

lt_status lt_slicegpt_run(const lt_modelsrc *src, const lt_slicegpt_opts *o, lt_lm_open_fn open_lm, lt_backend *be,
                          const int32_t *tokens, int n_windows, int window, lt_slicegpt_progress progress, void *ud,
                          lt_modelsrc **out, lt_slicegpt_result *res, lt_err *err) {
    *out = NULL;
    const lt_llm_config *cfg = lt_modelsrc_config(src);
    if (cfg->sliced) return lt_err_set(err, LT_EUNSUPPORTED, "slicegpt: %s is sliced already", lt_modelsrc_path(src));
    if (cfg->attn_out_bias || cfg->mlp_bias)
        return lt_err_set(err, LT_EUNSUPPORTED, "slicegpt: %s has output-projection biases (not rotated yet)",
                          lt_modelsrc_path(src));
    if (!(o->slice >= 0 && o->slice < 1))
        return lt_err_set(err, LT_EINVAL, "slicegpt: --slice %g is not in [0, 1)", o->slice);
    LT_TRY(lt_la_load(err));
    const int D = cfg->dim, L = cfg->n_layers, d = lt_slicegpt_width(D, o->slice, o->round);
    const int c_last = o->slice_head ? d : D;
    lt_slicegpt_result r = {.width = d, .head_width = c_last, .params_in = n_params(src), .shortcut_rank_max = -1};
    double t0 = lt_now();
    lt_modelsrc *fold = NULL, *os = NULL;
    cal c = {.tokens = tokens, .nw = n_windows, .win = window, .D = D, .progress = progress, .ud = ud, .n_layers = L};
    rot ro = {.D = D};
    const size_t nx = (size_t)n_windows * window * D, dd = (size_t)D * D;
    size_t big = (size_t)cfg->n_vocab * D;
    if ((size_t)cfg->hidden_dim * D > big) big = (size_t)cfg->hidden_dim * D;
    double *qi = lt_malloc(sizeof(double) * dd), *qm = lt_malloc(sizeof(double) * dd),
           *qo = lt_malloc(sizeof(double) * dd), *pd = lt_malloc(sizeof(double) * dd);
    float *pf = lt_malloc(sizeof(float) * dd);
    c.X = lt_malloc(sizeof(float) * nx), c.Y = lt_malloc(sizeof(float) * nx);
    c.H = lt_malloc(sizeof(double) * dd), c.xd = lt_malloc(sizeof(double) * (size_t)window * D);
    c.xf = lt_malloc(sizeof(float) * (size_t)window * D), c.tmp = lt_malloc(sizeof(float) * (size_t)window * D);
    c.pos = lt_malloc(sizeof(int32_t) * (size_t)window), c.seq = lt_calloc((size_t)window, sizeof(int32_t));
    c.nol = lt_calloc((size_t)window, 1);
    ro.a = lt_malloc(sizeof(double) * big), ro.b = lt_malloc(sizeof(double) * big);
    lt_status st = qi && qm && qo && pd && pf && c.X && c.Y && c.H && c.xd && c.xf && c.tmp && c.pos && c.seq && c.nol &&
                           ro.a && ro.b
                       ? LT_OK
                       : lt_err_set(err, LT_ENOMEM, "slicegpt: out of memory (%zu MiB of calibration signals)",
                                    nx * 8 >> 20);
    if (st == LT_OK && progress && !progress(ud, "fold", 0, 0.0)) st = lt_err_set(err, LT_ECANCELLED, "slicegpt: cancelled");
    if (st == LT_OK) st = fold_model(src, o, &fold, err);
    if (st == LT_OK) {
        lt_lm_opts lo = {.max_batch = window, .max_logits = 1, .f32_matrices = true};
        st = open_lm(&c.lm, fold, be, &lo, err);
    }
    if (st == LT_OK) {
        lt_kv_opts ko = lt_lm_kv_opts(c.lm, window, 1);
        st = lt_kv_create(&c.kv, be, &ko, err);
        int sq = 0;
        if (st == LT_OK) st = lt_kv_seq_new(c.kv, &sq, err);
        for (int i = 0; i < window; i++) c.pos[i] = i, c.seq[i] = sq;
    }
    lt_llm_config oc = *cfg;
    oc.sliced = true, oc.tied_embeddings = false;
    if (st == LT_OK) st = lt_modelsrc_derived(&os, src, &oc, err);
    ro.fold = fold, ro.out = os;
    /* the embeddings: the first signal */
    const lt_src_tensor *emb = st == LT_OK ? lt_modelsrc_find(fold, "token_embd.weight") : NULL;
    for (size_t i = 0; emb && i < (size_t)n_windows * window; i++) {
        int32_t tk = tokens[i];
        if (tk < 0 || tk >= cfg->n_vocab) {
            st = lt_err_set(err, LT_ERANGE, "slicegpt: calibration token %d is outside the vocabulary", tk);
            break;
        }
        memcpy(c.X + i * D, (const float *)emb->data + (size_t)tk * D, sizeof(float) * D);
    }
    r.calib_seconds += lt_now() - t0;
    double t1 = lt_now();
    if (st == LT_OK) {
        memset(c.H, 0, sizeof(double) * dd);
        for (int w = 0; w < n_windows; w++) accumulate(&c, c.X + (size_t)w * window * D, window);
        st = pca(&c, qi, err);
    }
    if (st == LT_OK && projector(qi, D, d, pd, pf)) { /* the inputs of block 0: projected */
        lt_la_sgemm(false, false, n_windows * window, D, D, 1.0f, c.X, D, pf, D, 0.0f, c.Y, D);
        float *t = c.X;
        c.X = c.Y, c.Y = t;
    }
    r.pca_seconds += lt_now() - t1;
    if (st == LT_OK) {
        const lt_src_tensor *e = lt_modelsrc_find(src, "token_embd.weight");
        st = rot_in(&ro, "token_embd.weight", qi, d, keep_float(e->dtype), err);
    }
    int a = d;
    for (int l = 0; st == LT_OK && l < L; l++) {
        const int b = d, cw = l == L - 1 ? c_last : d;
        c.layer = l, c.frac = (double)l / L;
        if (progress && !progress(ud, "pca", l, c.frac)) {
            st = lt_err_set(err, LT_ECANCELLED, "slicegpt: cancelled");
            break;
        }
        t1 = lt_now();
        /* Q': the residual after attention, the block's input already projected */
        memset(c.H, 0, sizeof(double) * dd);
        c.P = NULL;
        st = run_windows(&c, l, false, err);
        if (st == LT_OK) st = pca(&c, qm, err);
        if (st == LT_OK && !o->full_shortcuts && a == b) st = align(&ro, qi, qm, b, err);
        /* Q_{l+1}: the block's output, with the residual after attention projected onto Q'[:, :b] */
        if (st == LT_OK) {
            c.P = projector(qm, D, b, pd, pf) ? pf : NULL;
            st = run_windows(&c, l, true, err);
        }
        if (st == LT_OK) {
            memset(c.H, 0, sizeof(double) * dd);
            for (int w = 0; w < n_windows; w++) accumulate(&c, c.Y + (size_t)w * window * D, window);
            st = pca(&c, qo, err);
        }
        if (st == LT_OK && !o->full_shortcuts && cw == b) st = align(&ro, qm, qo, b, err);
        r.pca_seconds += lt_now() - t1;
        t1 = lt_now();
        if (st == LT_OK && progress && !progress(ud, "rotate", l, (l + 0.9) / L))
            st = lt_err_set(err, LT_ECANCELLED, "slicegpt: cancelled");
        int rank[2] = {-1, -1};
        if (st == LT_OK) st = rotate_layer(&ro, src, l, qi, a, qm, b, qo, cw, !o->full_shortcuts, rank, err);
        for (int i = 0; i < 2; i++) r.shortcut_rank_max = rank[i] > r.shortcut_rank_max ? rank[i] : r.shortcut_rank_max;
        r.rotate_seconds += lt_now() - t1;
        if (st == LT_OK && l + 1 < L) { /* the next block's inputs: the outputs projected onto Q_{l+1}[:, :c] */
            if (projector(qo, D, cw, pd, pf)) lt_la_sgemm(false, false, n_windows * window, D, D, 1.0f, c.Y, D, pf, D,
                                                         0.0f, c.X, D);
            else {
                float *t = c.X;
                c.X = c.Y, c.Y = t;
            }
        }
        double *t = qi;
        qi = qo, qo = t;
        a = cw;
    }
    /* the head: W Q_L[:, :c_last]; the final norm weightless */
    if (st == LT_OK) st = add_ones(os, "output_norm.weight", c_last, err);
    if (st == LT_OK) {
        const lt_src_tensor *h = lt_modelsrc_find(src, cfg->tied_embeddings ? "token_embd.weight" : "output.weight");
        st = rot_in(&ro, "output.weight", qi, c_last, keep_float(h->dtype), err);
    }
    for (int i = 0; st == LT_OK && i < lt_modelsrc_n_tensors(fold); i++) { /* rope factors and such */
        const lt_src_tensor *t = lt_modelsrc_tensor(fold, i);
        if (!lt_modelsrc_find(os, t->name) && strncmp(t->name, "blk.", 4))
            st = lt_modelsrc_add_owned(os, t->name, LT_F32, t->ndim, t->shape, t->data, err);
    }
    if (st == LT_OK) {
        r.params_out = n_params(os);
        if (progress && !progress(ud, "rotate", L - 1, 1.0)) st = lt_err_set(err, LT_ECANCELLED, "slicegpt: cancelled");
    }
    lt_kv_free(c.kv);
    lt_lm_close(c.lm);
    lt_modelsrc_close(fold);
    lt_free(qi), lt_free(qm), lt_free(qo), lt_free(pd), lt_free(pf);
    lt_free(c.X), lt_free(c.Y), lt_free(c.H), lt_free(c.xd), lt_free(c.xf), lt_free(c.tmp);
    lt_free(c.pos), lt_free(c.seq), lt_free(c.nol), lt_free(ro.a), lt_free(ro.b);
    if (st != LT_OK) {
        lt_modelsrc_close(os);
        return st;
    }
    if (res) *res = r;
    *out = os;
    return LT_OK;
}
