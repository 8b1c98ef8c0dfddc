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

static lt_status smooth_layer(const lt_modelsrc *src, lt_modelsrc *view, const lt_sq_stats *st, int l, float alpha,
                              const lt_gptq_opts *q, lt_err *err) {
    const lt_llm_config *c = lt_modelsrc_config(src);
    const int D = c->dim, F = c->hidden_dim, hd = c->head_dim, QW = c->n_heads * hd, KW = c->n_kv_heads * hd;
    const int grp = c->n_heads / c->n_kv_heads;
    static const char *const nm[T_N] = {"attn_norm.weight", "ffn_norm.weight", "attn_q.weight", "attn_k.weight",
                                        "attn_v.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight",
                                        "ffn_down.weight", "attn_v.bias", "ffn_up.bias"};
    const int64_t shp[T_N][2] = {{1, D}, {1, D}, {QW, D}, {KW, D}, {KW, D}, {D, QW}, {F, D}, {F, D}, {D, F}, {1, KW}, {1, F}};
    float *t[T_N] = {0};
    char name[T_N][96];
    int maxn = D > F ? D : F;
    if (QW > maxn) maxn = QW;
    float *s = lt_malloc((size_t)maxn * sizeof(float)), *wm = lt_malloc((size_t)maxn * sizeof(float));
    float *xm = lt_malloc((size_t)maxn * sizeof(float)), *wq = NULL;
    lt_status r = s && wm && xm ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
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
        if (q && i >= T_Q && i <= T_DOWN) {
            lt_gq_matrix m;
            r = lt_rtn(t[i], (int)shp[i][0], (int)shp[i][1], q, &m, wq, err);
            if (r != LT_OK) break;
            lt_gq_free(&m);
            memcpy(t[i], wq, (size_t)(shp[i][0] * shp[i][1]) * sizeof(float));
        }
        r = lt_modelsrc_replace(view, name[i], LT_F32, t[i], err);
    }
    for (int i = 0; i < T_N; i++) lt_free(t[i]);
    lt_free(s), lt_free(wm), lt_free(xm), lt_free(wq);
    return r;
}

lt_status lt_sq_smooth(const lt_modelsrc *src, const lt_sq_stats *st, float alpha, const lt_gptq_opts *q,
                       lt_modelsrc **out, lt_err *err) {
    *out = NULL;
    const lt_llm_config *c = lt_modelsrc_config(src);
    if (c->n_layers != st->n_layers || c->dim != st->cols[LT_LIN_QKV] || c->hidden_dim != st->cols[LT_LIN_DOWN])
        return lt_err_set(err, LT_EINVAL, "smoothquant+: the statistics are of another model");
    if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads)
        return lt_err_set(err, LT_EUNSUPPORTED, "smoothquant+: %d heads do not group over %d KV heads", c->n_heads,
                          c->n_kv_heads);
    lt_modelsrc *v = NULL;
    LT_TRY(lt_modelsrc_view(&v, src, err));
    lt_status r = LT_OK;
    for (int l = 0; r == LT_OK && l < c->n_layers; l++) r = smooth_layer(src, v, st, l, alpha, q, err);
    if (r != LT_OK) {
        lt_modelsrc_close(v);
        return r;
    }
    *out = v;
    return LT_OK;
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

/* the loss of src smoothed at alpha (alpha < 0: not smoothed) and quantized with q (NULL: not) */
static lt_status score(const lt_modelsrc *src, const lt_sq_stats *st, float alpha, const lt_gptq_opts *q,
                       lt_lm_open_fn open_lm, lt_backend *be, const int32_t *tokens, int nw, int window, double *loss,
                       lt_err *err) {
    lt_modelsrc *v = NULL;
    lt_sq_stats none = *st;
    float *ones = NULL;
    lt_status r = LT_OK;
    if (alpha < 0 && q) { /* alpha 1 with every activation maximum 1: s = 1 everywhere */
        int maxc = 0;
        for (int i = 0; i < LT_LIN_COUNT; i++) maxc = st->cols[i] * st->n_layers > maxc ? st->cols[i] * st->n_layers : maxc;
        if (!(ones = lt_malloc((size_t)maxc * sizeof(float)))) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        for (int i = 0; i < maxc; i++) ones[i] = 1;
        for (int i = 0; i < LT_LIN_COUNT; i++) none.amax[i] = ones;
        st = &none, alpha = 1;
    }
    if (q) r = lt_sq_smooth(src, st, alpha, q, &v, err);
    lt_lm *lm = NULL;
    lt_lm_opts lo = {.max_batch = window, .max_logits = window};
    if (r == LT_OK) r = open_lm(&lm, v ? v : src, be, &lo, err);
    if (r == LT_OK) r = lt_sq_loss(lm, tokens, nw, window, loss, err);
    lt_lm_close(lm);
    lt_modelsrc_close(v);
    lt_free(ones);
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
    res->alpha = so->alpha;
    if (r == LT_OK && so->alpha < 0) {
        lt_calib_opts sc = *co;
        sc.n_tokens = so->search_tokens > 0 ? so->search_tokens : 4096;
        r = lt_calib_windows(tok, &sc, &stoks, &snw, &swin, err);
        res->search_windows = snw, res->window = swin;
        double best = INFINITY;
        const int n_all = LT_SQ_GRID + 2;
        for (int k = 0; r == LT_OK && k < n_all; k++) {
            ru.frac = (double)k / n_all;
            if (progress && !progress(ud, "search", ru.frac)) {
                r = lt_err_set(err, LT_ECANCELLED, "smoothquant+: cancelled");
                break;
            }
            double loss = 0;
            if (k == 0) r = score(src, &st, -1, NULL, open_lm, be, stoks, snw, swin, &res->loss_float, err);
            else if (k == 1) r = score(src, &st, -1, q, open_lm, be, stoks, snw, swin, &res->loss_rtn, err);
            else {
                float a = (float)(k - 2) / (LT_SQ_GRID - 1);
                r = score(src, &st, a, q, open_lm, be, stoks, snw, swin, &loss, err);
                res->alphas[res->n] = a, res->loss[res->n++] = loss;
                if (r == LT_OK && loss < best) best = loss, res->alpha = a;
            }
        }
    }
    lt_free(stoks);
    if (r == LT_OK) r = lt_sq_smooth(src, &st, res->alpha, NULL, smoothed, err);
    lt_sq_stats_free(&st);
    res->seconds = lt_now() - t0;
    return r;
}
