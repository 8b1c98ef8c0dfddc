/* smoothquant.c - SmoothQuant+: factors, the exact fold, the alpha search (see smoothquant.h). */
#include "smoothquant.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/base/dtype.h"

/* ---- activation maxima ------------------------------------------------------------------------ */

typedef struct collect {
    lt_sq_stats *st;
    float *buf;
} collect;

static lt_status on_input(void *ud, int layer, lt_lm_lin_input which, const lt_tensor *x, lt_err *err) {
    collect *c = ud;
    int cols = c->st->cols[which], rows = (int)lt_tensor_rows(x);
    LT_TRY(lt_tensor_get(x, c->buf, (size_t)rows * cols * sizeof(float), err));
    float *m = c->st->amax[which] + (size_t)layer * cols;
    for (int r = 0; r < rows; r++) {
        const float *xr = c->buf + (size_t)r * cols;
        for (int j = 0; j < cols; j++) m[j] = fmaxf(m[j], fabsf(xr[j]));
    }
    return LT_OK;
}

void lt_sq_stats_free(lt_sq_stats *st) {
    if (!st) return;
    for (int i = 0; i < LT_LIN_COUNT; i++) lt_free(st->amax[i]), st->amax[i] = NULL;
}

lt_status lt_sq_collect(lt_lm *lm, const int32_t *tokens, int n_windows, int window, lt_sq_stats *st,
                        bool (*cancel)(void *ud), void *ud, lt_err *err) {
    const lt_llm_config *cfg = lt_lm_config(lm);
    memset(st, 0, sizeof *st);
    st->n_layers = cfg->n_layers;
    st->cols[LT_LIN_QKV] = st->cols[LT_LIN_GATE_UP] = cfg->dim;
    st->cols[LT_LIN_O] = cfg->n_heads * cfg->head_dim;
    st->cols[LT_LIN_DOWN] = cfg->hidden_dim;
    int maxc = 0;
    bool ok = true;
    for (int i = 0; i < LT_LIN_COUNT; i++) {
        maxc = st->cols[i] > maxc ? st->cols[i] : maxc;
        ok &= (st->amax[i] = lt_calloc((size_t)cfg->n_layers * st->cols[i], sizeof(float))) != NULL;
    }
    collect c = {st, lt_malloc((size_t)window * maxc * sizeof(float))};
    int32_t *pos = lt_malloc((size_t)window * sizeof(int32_t)), *seq = lt_calloc((size_t)window, sizeof(int32_t));
    bool *no = lt_calloc((size_t)window, 1);
    lt_kv_cache *kv = NULL;
    lt_status st_ = ok && c.buf && pos && seq && no ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    int sq = 0;
    if (st_ == LT_OK) {
        lt_kv_opts ko = lt_lm_kv_opts(lm, window, 1);
        st_ = lt_kv_create(&kv, lt_lm_backend(lm), &ko, err);
    }
    if (st_ == LT_OK) st_ = lt_kv_seq_new(kv, &sq, err);
    for (int i = 0; st_ == LT_OK && i < window; i++) pos[i] = i, seq[i] = sq;
    for (int w = 0; st_ == LT_OK && w < n_windows; w++) {
        if (cancel && cancel(ud)) {
            st_ = lt_err_set(err, LT_ECANCELLED, "calibration cancelled");
            break;
        }
        lt_lm_probe pr = {.first = 0, .last = cfg->n_layers - 1, .input = on_input, .ud = &c, .inputs_only = true};
        lt_kv_seq_truncate(kv, sq, 0);
        lt_batch b = {.n_tokens = window, .tokens = tokens + (size_t)w * window, .seq = seq, .pos = pos, .logits = no};
        lm->probe = &pr;
        st_ = lt_lm_forward(lm, kv, &b, NULL, err);
        lm->probe = NULL;
    }
    lt_kv_free(kv);
    lt_free(c.buf), lt_free(pos), lt_free(seq), lt_free(no);
    if (st_ != LT_OK) lt_sq_stats_free(st);
    return st_;
}

/* ---- factors and the fold ---------------------------------------------------------------------- */

void lt_sq_factors(const float *amax_x, const float *amax_w, int n, float alpha, float *s) {
    for (int j = 0; j < n; j++) {
        double x = fmax(amax_x[j], 1e-5), w = fmax(amax_w[j], 1e-5);
        s[j] = (float)fmax(pow(x, alpha) / pow(w, 1.0 - alpha), 1e-5);
    }
}

static lt_status read_f32(const lt_modelsrc *src, const char *name, int64_t rows, int64_t cols, float **out,
                          lt_err *err) {
    *out = NULL;
    const lt_src_tensor *t = lt_modelsrc_find(src, name);
    if (!t) return lt_err_set(err, LT_EFORMAT, "smoothquant+: %s has no tensor '%s'", lt_modelsrc_path(src), name);
    int64_t r = t->ndim == 2 ? t->shape[0] : 1, c = t->ndim == 2 ? t->shape[1] : t->shape[0];
    if (t->ndim > 2 || r != rows || c != cols)
        return lt_err_set(err, LT_EFORMAT, "smoothquant+: '%s' is not %lld x %lld", name, (long long)rows,
                          (long long)cols);
    float *w = lt_malloc((size_t)(rows * cols) * sizeof(float));
    if (!w) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    size_t rb = lt_row_bytes(t->dtype, cols);
    for (int64_t i = 0; i < rows; i++) lt_dtype_row_to_f32(t->dtype, (const char *)t->data + i * rb, w + i * cols, cols);
    *out = w;
    return LT_OK;
}

/* column maxima of |w| (rows x cols) into m (maxed in) */
static void col_absmax(const float *w, int rows, int cols, float *m) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) m[j] = fmaxf(m[j], fabsf(w[(size_t)r * cols + j]));
}
static void scale_cols(float *w, int rows, int cols, const float *s) {
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) w[(size_t)r * cols + j] *= s[j];
}
static void div_rows(float *w, int rows, int cols, const float *s) {
    for (int r = 0; r < rows; r++) {
        float inv = 1.0f / s[r];
        for (int j = 0; j < cols; j++) w[(size_t)r * cols + j] *= inv;
    }
}

enum { T_ANORM, T_FNORM, T_Q, T_K, T_V, T_O, T_GATE, T_UP, T_DOWN, T_BV, T_BUP, T_N };

/* one block's tensors smoothed (and quantized with q): t[i] rows x cols (shp), NULL for an absent
 * bias; s_qkv, s_gu: the factors folded into the two norms */
typedef struct sq_layer {
    float *t[T_N];
    char name[T_N][96];
    int64_t shp[T_N][2];
    float *s_qkv, *s_gu;
} sq_layer;

static void layer_free(sq_layer *L) {
    for (int i = 0; i < T_N; i++) lt_free(L->t[i]), L->t[i] = NULL;
    lt_free(L->s_qkv), lt_free(L->s_gu);
    L->s_qkv = L->s_gu = NULL;
}

static lt_status smooth_layer(const lt_modelsrc *src, const lt_sq_stats *st, int l, float alpha, const lt_gptq_opts *q,
                              sq_layer *L, lt_err *err) {
    const lt_llm_config *c = lt_modelsrc_config(src);
    const int D = c->dim, F = c->hidden_dim, hd = c->head_dim, QW = c->n_heads * hd, KW = c->n_kv_heads * hd;
    const int grp = c->n_heads / c->n_kv_heads;
    static const char *const nm[T_N] = {"attn_norm.weight", "ffn_norm.weight", "attn_q.weight", "attn_k.weight",
                                        "attn_v.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight",
                                        "ffn_down.weight", "attn_v.bias", "ffn_up.bias"};
    const int64_t shp[T_N][2] = {{1, D}, {1, D}, {QW, D}, {KW, D}, {KW, D}, {D, QW}, {F, D}, {F, D}, {D, F}, {1, KW}, {1, F}};
    memset(L, 0, sizeof *L);
    memcpy(L->shp, shp, sizeof shp);
    float **t = L->t;
    char(*name)[96] = L->name;
    int maxn = D > F ? D : F;
    if (QW > maxn) maxn = QW;
    float *s = lt_malloc((size_t)maxn * sizeof(float)), *wm = lt_malloc((size_t)maxn * sizeof(float));
    float *xm = lt_malloc((size_t)maxn * sizeof(float)), *wq = NULL;
    L->s_qkv = lt_malloc((size_t)D * sizeof(float)), L->s_gu = lt_malloc((size_t)D * sizeof(float));
    lt_status r = s && wm && xm && L->s_qkv && L->s_gu ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    for (int i = 0; r == LT_OK && i < T_N; i++) {
        snprintf(name[i], sizeof name[i], "blk.%d.%s", l, nm[i]);
        if ((i == T_BV || i == T_BUP) && !lt_modelsrc_find(src, name[i])) continue; /* no bias */
        r = read_f32(src, name[i], shp[i][0], shp[i][1], &t[i], err);
    }
    if (r == LT_OK) { /* q/k/v */
        memset(wm, 0, (size_t)D * sizeof(float));
        for (int i = T_Q; i <= T_V; i++) col_absmax(t[i], (int)shp[i][0], D, wm);
        lt_sq_factors(st->amax[LT_LIN_QKV] + (size_t)l * D, wm, D, alpha, s);
        for (int j = 0; j < D; j++) t[T_ANORM][j] /= s[j];
        memcpy(L->s_qkv, s, (size_t)D * sizeof(float));
        for (int i = T_Q; i <= T_V; i++) scale_cols(t[i], (int)shp[i][0], D, s);
        /* v -> o, one factor per KV channel, from the maxima over the query heads sharing it */
        memset(wm, 0, (size_t)QW * sizeof(float));
        col_absmax(t[T_O], D, QW, wm);
        const float *ax = st->amax[LT_LIN_O] + (size_t)l * QW;
        for (int ch = 0; ch < KW; ch++) {
            int g = ch / hd, d = ch % hd;
            float a = 0, b = 0;
            for (int h = g * grp; h < (g + 1) * grp; h++) a = fmaxf(a, ax[h * hd + d]), b = fmaxf(b, wm[h * hd + d]);
            xm[ch] = a, s[ch] = b; /* s holds the weight maxima for a moment */
        }
        memcpy(wm, s, (size_t)KW * sizeof(float));
        lt_sq_factors(xm, wm, KW, alpha, s);
        div_rows(t[T_V], KW, D, s);
        if (t[T_BV])
            for (int ch = 0; ch < KW; ch++) t[T_BV][ch] /= s[ch];
        for (int rr = 0; rr < D; rr++)
            for (int h = 0; h < c->n_heads; h++)
                for (int d = 0; d < hd; d++) t[T_O][(size_t)rr * QW + h * hd + d] *= s[(h / grp) * hd + d];
        /* gate/up */
        memset(wm, 0, (size_t)D * sizeof(float));
        col_absmax(t[T_GATE], F, D, wm);
        col_absmax(t[T_UP], F, D, wm);
        lt_sq_factors(st->amax[LT_LIN_GATE_UP] + (size_t)l * D, wm, D, alpha, s);
        for (int j = 0; j < D; j++) t[T_FNORM][j] /= s[j];
        memcpy(L->s_gu, s, (size_t)D * sizeof(float));
        scale_cols(t[T_GATE], F, D, s);
        scale_cols(t[T_UP], F, D, s);
        /* up -> down */
        memset(wm, 0, (size_t)F * sizeof(float));
        col_absmax(t[T_DOWN], D, F, wm);
        lt_sq_factors(st->amax[LT_LIN_DOWN] + (size_t)l * F, wm, F, alpha, s);
        div_rows(t[T_UP], F, D, s);
        if (t[T_BUP])
            for (int j = 0; j < F; j++) t[T_BUP][j] /= s[j];
        scale_cols(t[T_DOWN], D, F, s);
    }
    if (r == LT_OK && q && !(wq = lt_malloc((size_t)(D > F ? D : F) * (size_t)(QW > F ? QW : F) * sizeof(float))))
        r = lt_err_set(err, LT_ENOMEM, "out of host memory");
    for (int i = 0; r == LT_OK && i < T_N; i++) {
        if (!t[i]) continue;
        /* as the pass: a row that does not split into groups keeps its (mix's) type, scored here unquantized */
        if (q && i >= T_Q && i <= T_DOWN && !(q->group > 0 && shp[i][1] % q->group)) {
            lt_gq_matrix m;
            r = lt_rtn(t[i], (int)shp[i][0], (int)shp[i][1], q, &m, wq, err);
            if (r != LT_OK) break;
            lt_gq_free(&m);
            memcpy(t[i], wq, (size_t)(shp[i][0] * shp[i][1]) * sizeof(float));
        }
    }
    lt_free(s), lt_free(wm), lt_free(xm), lt_free(wq);
    if (r != LT_OK) layer_free(L);
    return r;
}

static lt_status check_model(const lt_llm_config *c, const lt_sq_stats *st, lt_err *err) {
    if (c->n_layers != st->n_layers || c->dim != st->cols[LT_LIN_QKV] || c->hidden_dim != st->cols[LT_LIN_DOWN])
        return lt_err_set(err, LT_EINVAL, "smoothquant+: the statistics are of another model");
    if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads)
        return lt_err_set(err, LT_EUNSUPPORTED, "smoothquant+: %d heads do not group over %d KV heads", c->n_heads,
                          c->n_kv_heads);
    return LT_OK;
}

static lt_status ones_stats(const lt_sq_stats *st, lt_sq_stats *ones, float **buf, lt_err *err);

lt_status lt_sq_smooth_layers(const lt_modelsrc *src, const lt_sq_stats *st, const float *alpha,
                              const lt_gptq_opts *q, lt_modelsrc **out, lt_err *err) {
    *out = NULL;
    const lt_llm_config *c = lt_modelsrc_config(src);
    LT_TRY(check_model(c, st, err));
    lt_modelsrc *v = NULL;
    LT_TRY(lt_modelsrc_view(&v, src, err));
    lt_status r = LT_OK;
    lt_sq_stats none; /* alpha -1 (a layer left unsmoothed) with q: factors of 1, quantized */
    float *ones = NULL;
    for (int l = 0; r == LT_OK && l < c->n_layers; l++) {
        if (alpha[l] < 0 && !q) continue; /* unsmoothed, unquantized: the source's tensors */
        if (alpha[l] < 0 && !ones) r = ones_stats(st, &none, &ones, err);
        if (r != LT_OK) break;
        sq_layer L;
        r = smooth_layer(src, alpha[l] < 0 ? &none : st, l, alpha[l] < 0 ? 1.0f : alpha[l], q, &L, err);
        for (int i = 0; r == LT_OK && i < T_N; i++)
            if (L.t[i]) r = lt_modelsrc_replace(v, L.name[i], LT_F32, L.t[i], err);
        layer_free(&L);
    }
    lt_free(ones);
    if (r != LT_OK) {
        lt_modelsrc_close(v);
        return r;
    }
    *out = v;
    return LT_OK;
}

lt_status lt_sq_smooth(const lt_modelsrc *src, const lt_sq_stats *st, float alpha, const lt_gptq_opts *q,
                       lt_modelsrc **out, lt_err *err) {
    *out = NULL;
    int n = lt_modelsrc_config(src)->n_layers;
    float *a = lt_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (!a) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    for (int l = 0; l < n; l++) a[l] = alpha;
    lt_status r = lt_sq_smooth_layers(src, st, a, q, out, err);
    lt_free(a);
    return r;
}
/* ---- the loss and the search ---------------------------------------------------------------------- */

lt_status lt_sq_loss(lt_lm *lm, const int32_t *tokens, int n_windows, int window, double *loss, lt_err *err) {
    const int V = lt_lm_config(lm)->n_vocab;
    *loss = 0;
    if (window < 2) return lt_err_set(err, LT_EINVAL, "smoothquant+: a scoring window needs 2 tokens");
    float *logits = lt_malloc((size_t)window * V * sizeof(float));
    int32_t *pos = lt_malloc((size_t)window * sizeof(int32_t)), *seq = lt_calloc((size_t)window, sizeof(int32_t));
    bool *want = lt_malloc((size_t)window);
    lt_kv_cache *kv = NULL;
    int sq = 0;
    lt_status st = logits && pos && seq && want ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (st == LT_OK) {
        lt_kv_opts ko = lt_lm_kv_opts(lm, window, 1);
        st = lt_kv_create(&kv, lt_lm_backend(lm), &ko, err);
    }
    if (st == LT_OK) st = lt_kv_seq_new(kv, &sq, err);
    for (int i = 0; st == LT_OK && i < window; i++) pos[i] = i, seq[i] = sq, want[i] = i + 1 < window;
    double sum = 0;
    int64_t n = 0;
    for (int w = 0; st == LT_OK && w < n_windows; w++) {
        const int32_t *tk = tokens + (size_t)w * window;
        lt_kv_seq_truncate(kv, sq, 0);
        lt_batch b = {.n_tokens = window, .tokens = tk, .seq = seq, .pos = pos, .logits = want};
        st = lt_lm_forward(lm, kv, &b, logits, err);
        for (int i = 0; st == LT_OK && i + 1 < window; i++) { /* -log_softmax(logits)[next], as ppl.h */
            const float *lg = logits + (size_t)i * V;
            float mx = lg[0];
            for (int v = 1; v < V; v++) mx = fmaxf(mx, lg[v]);
            double se = 0;
            for (int v = 0; v < V; v++) se += expf(lg[v] - mx);
            sum += log(se) + mx - lg[tk[i + 1]];
            n++;
        }
    }
    lt_kv_free(kv);
    lt_free(logits), lt_free(pos), lt_free(seq), lt_free(want);
    if (st == LT_OK) *loss = n ? sum / (double)n : 0;
    return st;
}

typedef struct sq_run {
    bool (*progress)(void *ud, const char *stage, double frac);
    void *ud;
    double frac;
} sq_run;

static bool sq_cancel(void *ud) {
    sq_run *r = ud;
    return r->progress && !r->progress(r->ud, "calibrate", r->frac);
}

/* st with every maximum 1: at alpha 1, s = 1 everywhere (no smoothing) */
static lt_status ones_stats(const lt_sq_stats *st, lt_sq_stats *ones, float **buf, lt_err *err) {
    int n = 0;
    for (int i = 0; i < LT_LIN_COUNT; i++) n = st->cols[i] * st->n_layers > n ? st->cols[i] * st->n_layers : n;
    if (!(*buf = lt_malloc((size_t)(n > 0 ? n : 1) * sizeof(float)))) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    for (int i = 0; i < n; i++) (*buf)[i] = 1;
    *ones = *st;
    for (int i = 0; i < LT_LIN_COUNT; i++) ones->amax[i] = *buf;
    return LT_OK;
}

/* the loss of src smoothed at alpha (or per layer at la; alpha < 0: not smoothed) and quantized
 * with q (NULL: neither) */
static lt_status score(const lt_modelsrc *src, const lt_sq_stats *st, float alpha, const float *la,
                       const lt_gptq_opts *q, lt_lm_open_fn open_lm, lt_backend *be, const int32_t *tokens, int nw,
                       int window, double *loss, lt_err *err) {
    lt_modelsrc *v = NULL;
    lt_sq_stats none;
    float *ones = NULL;
    lt_status r = LT_OK;
    if (alpha < 0 && !la && q) {
        LT_TRY(ones_stats(st, &none, &ones, err));
        st = &none, alpha = 1;
    }
    if (q) r = la ? lt_sq_smooth_layers(src, st, la, q, &v, err) : lt_sq_smooth(src, st, alpha, q, &v, err);
    lt_lm *lm = NULL;
    lt_lm_opts lo = {.max_batch = window, .max_logits = window};
    if (r == LT_OK) r = open_lm(&lm, v ? v : src, be, &lo, err);
    if (r == LT_OK) r = lt_sq_loss(lm, tokens, nw, window, loss, err);
    lt_lm_close(lm);
    lt_modelsrc_close(v);
    lt_free(ones);
    return r;
}

/* ---- per-layer alpha ---------------------------------------------------------------------------- */

typedef struct blockrun {
    lt_lm *lm;
    lt_kv_cache *kv;
    int32_t *pos, *seq;
    bool *no;
    const int32_t *tokens;
    int nw, win, dim;
} blockrun;

/* block l over every window: x (NULL: embeddings) -> y */
static lt_status run_block(blockrun *b, int l, const float *x, float *y, lt_err *err) {
    size_t per = (size_t)b->win * b->dim;
    lt_status st = LT_OK;
    for (int w = 0; st == LT_OK && w < b->nw; w++) {
        lt_lm_probe pr = {.first = l, .last = l, .x_in = x ? x + w * per : NULL, .x_out = y + w * per};
        lt_kv_seq_truncate(b->kv, b->seq[0], 0);
        lt_batch bt = {.n_tokens = b->win, .tokens = b->tokens + (size_t)w * b->win, .seq = b->seq, .pos = b->pos,
                       .logits = b->no};
        b->lm->probe = &pr;
        st = lt_lm_forward(b->lm, b->kv, &bt, NULL, err);
        b->lm->probe = NULL;
    }
    return st;
}

static const lt_lm_matrix k_mat[T_N] = {[T_Q] = LT_MAT_Q, [T_K] = LT_MAT_K, [T_V] = LT_MAT_V, [T_O] = LT_MAT_O,
                                        [T_GATE] = LT_MAT_GATE, [T_UP] = LT_MAT_UP, [T_DOWN] = LT_MAT_DOWN};

/* puts block l's matrices into lm: smoothed at alpha and quantized (q), with the norm factors
 * moved back into q/k/v and gate/up's columns; q NULL and alpha < 0: the source's own */
static lt_status put_layer(lt_lm *lm, const lt_modelsrc *src, const lt_sq_stats *st, int l, float alpha,
                           const lt_gptq_opts *q, lt_err *err) {
    sq_layer L;
    lt_sq_stats ones;
    float *one = NULL;
    if (alpha < 0) {
        LT_TRY(ones_stats(st, &ones, &one, err));
        st = &ones, alpha = 1;
    }
    lt_status r = smooth_layer(src, st, l, alpha, q, &L, err);
    lt_free(one);
    for (int i = T_Q; r == LT_OK && i <= T_DOWN; i++) {
        int rows = (int)L.shp[i][0], cols = (int)L.shp[i][1];
        const float *sc = i <= T_V ? L.s_qkv : i == T_GATE || i == T_UP ? L.s_gu : NULL;
        for (int rr = 0; sc && rr < rows; rr++)
            for (int j = 0; j < cols; j++) L.t[i][(size_t)rr * cols + j] /= sc[j];
        r = lm->ops->set_matrix(lm, l, k_mat[i], L.t[i], err);
    }
    layer_free(&L);
    return r;
}

static lt_status search_layers(const lt_modelsrc *src, const lt_sq_stats *st, const lt_gptq_opts *q,
                               lt_lm_open_fn open_lm, lt_backend *be, const int32_t *tokens, int nw, int win,
                               float *alpha, sq_run *ru, lt_err *err) {
    const lt_llm_config *c = lt_modelsrc_config(src);
    if (c->n_layers > LT_SQ_MAX_LAYERS)
        return lt_err_set(err, LT_EUNSUPPORTED, "smoothquant+: --alpha-per-layer takes at most %d layers", LT_SQ_MAX_LAYERS);
    if (c->qkv_bias || c->mlp_bias)
        return lt_err_set(err, LT_EUNSUPPORTED, "smoothquant+: --alpha-per-layer cannot move the biases of this model");
    blockrun b = {.tokens = tokens, .nw = nw, .win = win, .dim = c->dim};
    size_t nx = (size_t)nw * win * c->dim;
    float *x = lt_malloc(nx * sizeof(float)), *yr = lt_malloc(nx * sizeof(float)), *y = lt_malloc(nx * sizeof(float));
    b.pos = lt_malloc((size_t)win * sizeof(int32_t)), b.seq = lt_calloc((size_t)win, sizeof(int32_t));
    b.no = lt_calloc((size_t)win, 1);
    lt_status r = x && yr && y && b.pos && b.seq && b.no ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_lm_opts lo = {.max_batch = win, .max_logits = 1, .f32_matrices = true};
    if (r == LT_OK) r = open_lm(&b.lm, src, be, &lo, err);
    if (r == LT_OK && !b.lm->ops->set_matrix)
        r = lt_err_set(err, LT_EUNSUPPORTED, "smoothquant+: the %s model cannot take weights back", b.lm->ops->family);
    int sq = 0;
    if (r == LT_OK) {
        lt_kv_opts ko = lt_lm_kv_opts(b.lm, win, 1);
        r = lt_kv_create(&b.kv, be, &ko, err);
    }
    if (r == LT_OK) r = lt_kv_seq_new(b.kv, &sq, err);
    for (int i = 0; r == LT_OK && i < win; i++) b.pos[i] = i, b.seq[i] = sq;
    bool have_x = false;
    for (int l = 0; r == LT_OK && l < c->n_layers; l++) {
        r = run_block(&b, l, have_x ? x : NULL, yr, err); /* the unquantized output */
        double best = INFINITY;
        for (int k = 0; r == LT_OK && k <= LT_SQ_GRID; k++) { /* the grid, then no smoothing (-1) */
            ru->frac = (l + (double)k / (LT_SQ_GRID + 1)) / c->n_layers;
            if (ru->progress && !ru->progress(ru->ud, "search", ru->frac)) {
                r = lt_err_set(err, LT_ECANCELLED, "smoothquant+: cancelled");
                break;
            }
            float a = k < LT_SQ_GRID ? (float)k / (LT_SQ_GRID - 1) : -1.0f;
            r = put_layer(b.lm, src, st, l, a, q, err);
            if (r == LT_OK) r = run_block(&b, l, have_x ? x : NULL, y, err);
            double e = 0;
            for (size_t i = 0; r == LT_OK && i < nx; i++) e += ((double)y[i] - yr[i]) * ((double)y[i] - yr[i]);
            if (r == LT_OK && e < best) best = e, alpha[l] = a;
        }
        if (r == LT_OK) r = put_layer(b.lm, src, st, l, -1, NULL, err); /* the source's weights back */
        float *t = x;
        x = yr, yr = t, have_x = true;
    }
    lt_kv_free(b.kv);
    lt_lm_close(b.lm);
    lt_free(x), lt_free(yr), lt_free(y), lt_free(b.pos), lt_free(b.seq), lt_free(b.no);
    return r;
}

lt_status lt_sq_run(const lt_modelsrc *src, const lt_sq_opts *so, const lt_gptq_opts *q, const lt_calib_opts *co,
                    lt_lm_open_fn open_lm, lt_backend *be, const lt_tokenizer *tok,
                    bool (*progress)(void *ud, const char *stage, double frac), void *ud, lt_modelsrc **smoothed,
                    lt_sq_result *res, lt_err *err) {
    double t0 = lt_now();
    *smoothed = NULL;
    memset(res, 0, sizeof *res);
    if (!open_lm || !be || !tok) return lt_err_set(err, LT_EINVAL, "smoothquant+ needs the model's tokenizer");
    if (so->alpha > 1) return lt_err_set(err, LT_EINVAL, "smoothquant+: --alpha %g is not in 0..1", so->alpha);
    if (so->alpha >= 0 && so->per_layer)
        return lt_err_set(err, LT_EINVAL, "smoothquant+: --alpha and --alpha-per-layer contradict each other");
    sq_run ru = {progress, ud, 0};
    int32_t *tokens = NULL, *stoks = NULL;
    int nw = 0, win = 0, snw = 0, swin = 0;
    lt_sq_stats st = {0};
    lt_lm *lm = NULL;
    lt_status r = lt_calib_windows(tok, co, &tokens, &nw, &win, err);
    lt_lm_opts lo = {.max_batch = win, .max_logits = 1};
    if (r == LT_OK) r = open_lm(&lm, src, be, &lo, err);
    if (r == LT_OK && !lm->ops->set_matrix) /* the families with a probe */
        r = lt_err_set(err, LT_EUNSUPPORTED, "smoothquant+: the %s model has no calibration probe", lm->ops->family);
    if (r == LT_OK) r = lt_sq_collect(lm, tokens, nw, win, &st, sq_cancel, &ru, err);
    lt_lm_close(lm);
    lt_free(tokens);
    res->calib_windows = nw, res->calib_window = win;
    res->alpha = so->alpha;
    res->per_layer = so->per_layer;
    float *la = NULL;
    double best = INFINITY; /* the best alpha's loss */
    if (r == LT_OK && (so->alpha < 0 || so->per_layer)) {
        lt_calib_opts sc = *co;
        sc.n_tokens = so->search_tokens > 0 ? so->search_tokens : 4096;
        r = lt_calib_windows(tok, &sc, &stoks, &snw, &swin, err);
        res->search_windows = snw, res->window = swin;
        const int n_all = so->per_layer ? 3 : LT_SQ_GRID + 2;
        if (r == LT_OK && so->per_layer) {
            la = res->layer_alpha;
            r = search_layers(src, &st, q, open_lm, be, stoks, snw, swin, la, &ru, err);
            if (r == LT_OK) r = score(src, &st, 0, la, q, open_lm, be, stoks, snw, swin, &res->loss_layers, err);
        }
        for (int k = 0; r == LT_OK && k < n_all; k++) {
            ru.frac = (double)k / n_all;
            if (progress && !progress(ud, "search", ru.frac)) {
                r = lt_err_set(err, LT_ECANCELLED, "smoothquant+: cancelled");
                break;
            }
            double loss = 0;
            if (k == 0) r = score(src, &st, -1, NULL, NULL, open_lm, be, stoks, snw, swin, &res->loss_float, err);
            else if (k == 1) r = score(src, &st, -1, NULL, q, open_lm, be, stoks, snw, swin, &res->loss_rtn, err);
            else if (!so->per_layer) {
                float a = (float)(k - 2) / (LT_SQ_GRID - 1);
                r = score(src, &st, a, NULL, q, open_lm, be, stoks, snw, swin, &loss, err);
                res->alphas[res->n] = a, res->loss[res->n++] = loss;
                if (r == LT_OK && loss < best) best = loss, res->alpha = a;
            }
        }
    }
    lt_free(stoks);
    if (r == LT_OK && so->alpha < 0 && !so->per_layer) /* searched: never worse than plain RTN */
        res->unsmoothed = best >= res->loss_rtn;
    if (r == LT_OK && res->unsmoothed) r = lt_modelsrc_view(smoothed, src, err);
    else if (r == LT_OK)
        r = la ? lt_sq_smooth_layers(src, &st, la, NULL, smoothed, err) : lt_sq_smooth(src, &st, res->alpha, NULL, smoothed, err);
    lt_sq_stats_free(&st);
    res->seconds = lt_now() - t0;
    return r;
}
