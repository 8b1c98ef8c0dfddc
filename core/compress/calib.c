/* calib.c - calibration windows and the block-by-block run (see calib.h). */
#include "calib.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/assets.h"
#include "core/base/fileio.h"
#include "linalg.h"

lt_status lt_calib_default_file(char *path, size_t cap, lt_err *err) {
    char dir[4096];
    LT_TRY(lt_assets_dir(dir, sizeof dir, err));
    if ((size_t)snprintf(path, cap, "%s/text/tinyshakespeare.txt", dir) >= cap)
        return lt_err_set(err, LT_ERANGE, "calibration: the assets path is too long");
    return LT_OK;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

lt_status lt_calib_windows(const lt_tokenizer *tok, const lt_calib_opts *o, int32_t **tokens, int *n_windows,
                           int *window, lt_err *err) {
    *tokens = NULL;
    char def[4096];
    const char *path = o->file;
    if (!path) {
        LT_TRY(lt_calib_default_file(def, sizeof def, err));
        path = def;
    }
    int win = o->window > 0 ? o->window : 512;
    int64_t want = o->n_tokens > 0 ? o->n_tokens : (int64_t)128 * 512;
    if (want < win) win = (int)want;
    char *text = NULL;
    size_t len = 0;
    LT_TRY(lt_file_read_all(path, (size_t)1 << 30, &text, &len, err));
    int64_t cap = (int64_t)len + 16;
    int32_t *ids = lt_malloc((size_t)cap * sizeof(int32_t));
    if (!ids) {
        lt_free(text);
        return lt_err_set(err, LT_ENOMEM, "out of host memory tokenizing %s", path);
    }
    int64_t n = lt_tok_encode(tok, text, len, false, false, ids, cap);
    lt_free(text);
    if (n < 2) {
        lt_free(ids);
        return lt_err_set(err, LT_EINVAL, "calibration: %s gives %lld tokens; it needs at least 2", path,
                          (long long)(n < 0 ? 0 : n));
    }
    if (n < win) win = (int)n;
    int64_t nw = want / win;
    if (nw > n / win) nw = n / win; /* a short text: fewer windows */
    if (nw < 1) nw = 1;
    int32_t *out = lt_malloc((size_t)nw * win * sizeof(int32_t));
    if (!out) {
        lt_free(ids);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    uint64_t s = o->seed;
    for (int64_t w = 0; w < nw; w++) {
        int64_t start = (int64_t)(splitmix(&s) % (uint64_t)(n - win + 1));
        memcpy(out + w * win, ids + start, (size_t)win * sizeof(int32_t));
    }
    lt_free(ids);
    *tokens = out;
    *n_windows = (int)nw;
    *window = win;
    return LT_OK;
}

struct lt_calib {
    lt_lm *lm;
    lt_kv_cache *kv;
    int32_t *tokens, *pos, *seq;
    bool *no_logits;
    int n_windows, window, dim; /* dim: the widest residual (cfg.dim); a sliced model's layers are narrower */
    float *x, *y;      /* hidden states entering / leaving the block, all windows */
    bool have_x;       /* x holds hidden states (else the block is the first: embeddings) */
    int cols[LT_LIN_COUNT];
    double *h[LT_LIN_COUNT];
    float *hf;         /* one window's x^T x */
    float *xh;         /* one window's input of a linear layer (host) */
    double *hh;        /* the head's x^T x (lt_calib_head), head_cols x head_cols */
    int head_cols;
};

void lt_calib_free(lt_calib *c) {
    if (!c) return;
    lt_kv_free(c->kv);
    lt_free(c->tokens), lt_free(c->pos), lt_free(c->seq), lt_free(c->no_logits);
    lt_free(c->x), lt_free(c->y), lt_free(c->hf), lt_free(c->xh), lt_free(c->hh);
    for (int i = 0; i < LT_LIN_COUNT; i++) lt_free(c->h[i]);
    lt_free(c);
}

lt_status lt_calib_create(lt_calib **out, lt_lm *lm, const int32_t *tokens, int n_windows, int window, lt_err *err) {
    *out = NULL;
    LT_TRY(lt_la_load(err));
    const lt_llm_config *cfg = lt_lm_config(lm);
    lt_calib *c = lt_calloc(1, sizeof *c);
    if (!c) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    c->lm = lm, c->n_windows = n_windows, c->window = window, c->dim = cfg->dim;
    c->cols[LT_LIN_QKV] = c->cols[LT_LIN_GATE_UP] = cfg->dim;
    c->cols[LT_LIN_O] = cfg->n_heads * cfg->head_dim;
    c->cols[LT_LIN_DOWN] = cfg->hidden_dim;
    int maxc = 0;
    for (int i = 0; i < LT_LIN_COUNT; i++) maxc = c->cols[i] > maxc ? c->cols[i] : maxc;
    size_t nx = (size_t)n_windows * window * cfg->dim;
    c->tokens = lt_malloc((size_t)n_windows * window * sizeof(int32_t));
    c->pos = lt_malloc((size_t)window * sizeof(int32_t));
    c->seq = lt_calloc((size_t)window, sizeof(int32_t));
    c->no_logits = lt_calloc((size_t)window, 1);
    c->x = lt_malloc(nx * sizeof(float));
    c->y = lt_malloc(nx * sizeof(float));
    c->hf = lt_malloc((size_t)maxc * maxc * sizeof(float));
    c->xh = lt_malloc((size_t)window * maxc * sizeof(float));
    bool ok = c->tokens && c->pos && c->seq && c->no_logits && c->x && c->y && c->hf && c->xh;
    for (int i = 0; i < LT_LIN_COUNT && ok; i++)
        ok = (c->h[i] = lt_malloc((size_t)c->cols[i] * c->cols[i] * sizeof(double))) != NULL;
    lt_status st = ok ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory for calibration (%zu MiB of hidden "
                                                          "states)", nx * 8 >> 20);
    if (st == LT_OK) {
        memcpy(c->tokens, tokens, (size_t)n_windows * window * sizeof(int32_t));
        for (int i = 0; i < window; i++) c->pos[i] = i;
        lt_kv_opts ko = lt_lm_kv_opts(lm, window, 1);
        st = lt_kv_create(&c->kv, lt_lm_backend(lm), &ko, err);
        int sq = 0;
        if (st == LT_OK) st = lt_kv_seq_new(c->kv, &sq, err);
        for (int i = 0; st == LT_OK && i < window; i++) c->seq[i] = sq;
    }
    if (st != LT_OK) {
        lt_calib_free(c);
        return st;
    }
    *out = c;
    return LT_OK;
}

/* Rows [r0, r1) of the upper triangle of x^T x (x: rows x cols) into hf (f32), then added to h
 * (double): the diagonal block by ssyrk, the block right of it by one sgemm. */
typedef struct xtx_part {
    const float *x;
    float *hf;
    double *h;
    int rows, cols, r0, r1;
} xtx_part;

static void *xtx_run(void *arg) {
    const xtx_part *p = arg;
    const int n = p->cols, w = p->r1 - p->r0;
    if (w <= 0) return NULL;
    for (int i = p->r0; i < p->r1; i++) memset(p->hf + (size_t)i * n + i, 0, (size_t)(p->r1 - i) * sizeof(float));
    lt_la_ssyrk_at(w, p->rows, p->x + p->r0, n, p->hf + (size_t)p->r0 * n + p->r0, n);
    if (p->r1 < n)
        lt_la_sgemm(true, false, w, n - p->r1, p->rows, 1.0f, p->x + p->r0, n, p->x + p->r1, n, 0.0f,
                    p->hf + (size_t)p->r0 * n + p->r1, n);
    for (int i = p->r0; i < p->r1; i++) {
        double *hr = p->h + (size_t)i * n;
        const float *fr = p->hf + (size_t)i * n;
        for (int j = i; j < n; j++) hr[j] += fr[j];
    }
    return NULL;
}

/* x^T x of x (rows x cols, on the model's backend) added to h */
static lt_status accumulate(lt_calib *c, double *h, int cols, const lt_tensor *x, lt_err *err) {
    int rows = (int)lt_tensor_rows(x);
    LT_TRY(lt_tensor_get(x, c->xh, (size_t)rows * cols * sizeof(float), err));
    /* two halves of the triangle's area, the first on a thread of its own (the forward's pool
     * is idle here): rows [0, s) hold s^2/2 + s(n-s) elements, [s, n) (n-s)^2/2 */
    int s = cols - (int)lround(cols / sqrt(2.0));
    s = s / 16 * 16;
    xtx_part a = {c->xh, c->hf, h, rows, cols, 0, s}, b = a;
    b.r0 = s, b.r1 = cols;
    pthread_t t;
    bool threaded = s > 0 && cols >= 64 && pthread_create(&t, NULL, xtx_run, &a) == 0;
    if (!threaded) b.r0 = 0;
    xtx_run(&b);
    if (threaded) pthread_join(t, NULL);
    return LT_OK;
}

static lt_status on_input(void *ud, int layer, lt_lm_lin_input which, const lt_tensor *x, lt_err *err) {
    (void)layer;
    lt_calib *c = ud;
    return accumulate(c, c->h[which], c->cols[which], x, err);
}

static lt_status on_head(void *ud, const lt_tensor *x, lt_err *err) {
    lt_calib *c = ud;
    return accumulate(c, c->hh, c->head_cols, x, err);
}

/* Runs block `layer` over every window: the hook (may be NULL) sees its inputs; outputs
 * into y when want_out. */
static lt_status run_block(lt_calib *c, int layer, bool hook, bool want_out, bool head, bool (*cancel)(void *),
                           void *ud, lt_err *err) {
    /* each window's rows have the residual's width there (sliced models: per layer) */
    size_t per_in = (size_t)c->window * lt_lm_width_in(c->lm, layer),
           per_out = (size_t)c->window * lt_lm_width_out(c->lm, layer);
    lt_status st = LT_OK;
    for (int w = 0; w < c->n_windows && st == LT_OK; w++) {
        if (cancel && cancel(ud)) return lt_err_set(err, LT_ECANCELLED, "calibration cancelled");
        lt_lm_probe pr = {.first = layer, .last = layer, .x_in = c->have_x ? c->x + w * per_in : NULL,
                          .x_out = want_out ? c->y + w * per_out : NULL, .input = hook ? on_input : NULL, .ud = c,
                          .inputs_only = !want_out, .head = head ? on_head : NULL};
        lt_kv_seq_truncate(c->kv, c->seq[0], 0);
        lt_batch b = {.n_tokens = c->window, .tokens = c->tokens + (size_t)w * c->window, .seq = c->seq,
                      .pos = c->pos, .logits = c->no_logits};
        c->lm->probe = &pr;
        st = lt_lm_forward(c->lm, c->kv, &b, NULL, err);
        c->lm->probe = NULL;
    }
    return st;
}

/* the lower triangle of h (n x n) from its upper */
static void mirror(double *h, int n) {
    for (int r = 1; r < n; r++)
        for (int k = 0; k < r; k++) h[(size_t)r * n + k] = h[(size_t)k * n + r];
}

lt_status lt_calib_hessians(lt_calib *c, int layer, double *const **h, int *cols, bool (*cancel)(void *ud),
                            void *ud, lt_err *err) {
    c->cols[LT_LIN_QKV] = lt_lm_width_in(c->lm, layer); /* a sliced model's widths (<= cfg.dim) */
    c->cols[LT_LIN_GATE_UP] = lt_lm_width_mid(c->lm, layer);
    for (int i = 0; i < LT_LIN_COUNT; i++) memset(c->h[i], 0, (size_t)c->cols[i] * c->cols[i] * sizeof(double));
    LT_TRY(run_block(c, layer, true, false, false, cancel, ud, err));
    for (int i = 0; i < LT_LIN_COUNT; i++) { /* the lower triangle from the upper */
        mirror(c->h[i], c->cols[i]);
        cols[i] = c->cols[i];
    }
    *h = c->h;
    return LT_OK;
}

lt_status lt_calib_head(lt_calib *c, int layer, double **h, int *cols, bool (*cancel)(void *ud), void *ud,
                        lt_err *err) {
    const lt_llm_config *cfg = lt_lm_config(c->lm);
    if (layer != cfg->n_layers - 1)
        return lt_err_set(err, LT_EINVAL, "calibration: the head's inputs follow the last layer (%d), not %d",
                          cfg->n_layers - 1, layer);
    c->head_cols = lt_lm_width_out(c->lm, layer);
    if (!c->hh && !(c->hh = lt_malloc((size_t)cfg->dim * cfg->dim * sizeof(double))))
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    memset(c->hh, 0, (size_t)c->head_cols * c->head_cols * sizeof(double));
    LT_TRY(run_block(c, layer, false, true, true, cancel, ud, err));
    float *t = c->x;
    c->x = c->y, c->y = t;
    c->have_x = true;
    mirror(c->hh, c->head_cols);
    *h = c->hh, *cols = c->head_cols;
    return LT_OK;
}

lt_status lt_calib_advance(lt_calib *c, int layer, bool (*cancel)(void *ud), void *ud, lt_err *err) {
    LT_TRY(run_block(c, layer, false, true, false, cancel, ud, err));
    float *t = c->x;
    c->x = c->y, c->y = t;
    c->have_x = true;
    return LT_OK;
}
