/* test_smoothquant.c - SmoothQuant+ (core/compress/smoothquant.h) on the synthetic `tiny` model
 * (f32, 6 query heads over 2 KV heads: the v -> o fold per KV channel is exercised).
 *
 * - The factors on a hand-checked case (s = max|X|^a / max|W|^(1-a), clamps at 1e-5).
 * - The fold is what the formula says: attention norm / s and q/k/v columns * s; v rows / s
 *   and o's columns * s of every query head sharing that KV channel; ffn norm / s, gate/up
 *   columns * s; up rows / s, down columns * s - the factors recomputed here from the collected
 *   maxima and the source's weights.
 * - Smoothing alone (no quantization) leaves the logits unchanged within 1e-4 relative (also
 *   with q/k/v and MLP biases: v's and up's bias move with their rows).
 * - With outlier activation channels injected (a few norm weights x 25), smoothing before
 *   4-bit round-to-nearest gives a lower layer-output error than plain RTN on one layer, and
 *   a lower model error (logits against the unquantized model) at the searched alpha.
 * - Per layer (AWQ-style), the block-output search: alphas on the grid, the model scored.
 * - The pass (cancelled in the search: nothing written) writes a folder, reports a 21-point curve whose minimum is the chosen alpha.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/backend/backend.h"
#include "core/compress/pass.h"
#include "core/compress/smoothquant.h"
#include "core/formats/modelsrc_open.h"
#include "core/text/tokenizer.h"
#include "models/llama.h"
#include "testutil.h"

enum { T = 24, NW = 3 };

static void test_factors(void) {
    const float ax[4] = {4, 1, 0, 9}, aw[4] = {1, 4, 2, 1};
    float s[4];
    lt_sq_factors(ax, aw, 4, 0.5f, s);
    CHECKF(fabsf(s[0] - 2) < 1e-6f && fabsf(s[1] - 0.5f) < 1e-6f, "%g %g", s[0], s[1]);
    CHECKF(fabsf(s[2] - sqrtf(1e-5f) / sqrtf(2)) < 1e-7f, "%g", s[2]); /* a dead channel: max|X| clamped */
    CHECK(fabsf(s[3] - 3) < 1e-6f);
    lt_sq_factors(ax, aw, 4, 1.0f, s);
    CHECK(s[0] == 4 && s[1] == 1 && s[3] == 9);
    lt_sq_factors(ax, aw, 4, 0.0f, s);
    CHECK(s[0] == 1 && s[1] == 0.25f && s[2] == 0.5f);
}

static const float *tf(const lt_modelsrc *src, const char *name) {
    const lt_src_tensor *t = lt_modelsrc_find(src, name);
    CHECKF(t && t->dtype == LT_F32, "%s", name);
    return t ? t->data : NULL;
}

static void forward_logits(lt_lm *lm, lt_backend *be, const int32_t *tok, float *logits) {
    lt_err err = {0};
    lt_kv_cache *kv = NULL;
    lt_kv_opts ko = lt_lm_kv_opts(lm, T, 1);
    CHECK(lt_kv_create(&kv, be, &ko, &err) == LT_OK);
    int sq = 0;
    CHECK(lt_kv_seq_new(kv, &sq, &err) == LT_OK);
    int32_t pos[T], seq[T];
    bool want[T];
    for (int i = 0; i < T; i++) pos[i] = i, seq[i] = sq, want[i] = true;
    lt_batch b = {.n_tokens = T, .tokens = tok, .seq = seq, .pos = pos, .logits = want};
    CHECKF(lt_lm_forward(lm, kv, &b, logits, &err) == LT_OK, "%s", err.msg);
    lt_kv_free(kv);
}

static void logits_of(const lt_modelsrc *src, lt_backend *be, const int32_t *tok, float *logits) {
    lt_err err = {0};
    lt_lm *lm = NULL;
    CHECKF(lt_llama_open(&lm, src, be, &(lt_lm_opts){.max_batch = T, .max_logits = T}, &err) == LT_OK, "%s", err.msg);
    if (lm) forward_logits(lm, be, tok, logits);
    lt_lm_close(lm);
}

/* the tiny model, its stats over NW windows of T tokens; outliers: a few norm channels x 25 */
static void setup(lt_modelsrc **src, lt_backend **be, lt_sq_stats *st, int32_t *tok, bool outliers, uint64_t seed) {
    lt_err err = {0};
    lt_llm_config cfg;
    CHECK(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.qkv_bias = cfg.mlp_bias = seed == 4; /* the biases that move: v's and up's */
    CHECK(lt_llama_synthetic(src, &cfg, NULL, seed, &err) == LT_OK);
    if (!*be) CHECK(lt_backend_create(be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    for (int l = 0; outliers && l < cfg.n_layers; l++)
        for (int k = 0; k < 2; k++) {
            char nm[64];
            snprintf(nm, sizeof nm, "blk.%d.%s_norm.weight", l, k ? "ffn" : "attn");
            float *w = (float *)tf(*src, nm);
            for (int j = 5; w && j < cfg.dim; j += 31) w[j] *= 25;
        }
    lt_test_rng r;
    lt_test_rng_seed(&r, seed);
    for (int i = 0; i < NW * T; i++) tok[i] = (int32_t)(lt_test_u32(&r) % (uint32_t)cfg.n_vocab);
    lt_lm *lm = NULL;
    CHECK(lt_llama_open(&lm, *src, *be, &(lt_lm_opts){.max_batch = T, .max_logits = 1}, &err) == LT_OK);
    CHECKF(lm && lt_sq_collect(lm, tok, NW, T, st, NULL, NULL, &err) == LT_OK, "%s", err.msg);
    lt_lm_close(lm);
}

static void test_fold(void) {
    lt_err err = {0};
    lt_modelsrc *src = NULL, *sm = NULL;
    lt_backend *be = NULL;
    lt_sq_stats st = {0};
    int32_t tok[NW * T];
    setup(&src, &be, &st, tok, false, 3);
    if (!src || !st.amax[0]) return;
    const lt_llm_config *c = lt_modelsrc_config(src);
    const int D = c->dim, F = c->hidden_dim, hd = c->head_dim, QW = c->n_heads * hd, KW = c->n_kv_heads * hd;
    const int grp = c->n_heads / c->n_kv_heads;
    CHECK(grp == 3);
    const float alpha = 0.6f;
    CHECKF(lt_sq_smooth(src, &st, alpha, NULL, &sm, &err) == LT_OK, "%s", err.msg);
    if (!sm) return;
    double worst = 0;
#define REL(a, b) (fabs((double)(a) - (double)(b)) / fmax(fabs((double)(b)), 1e-30))
    for (int l = 0; l < c->n_layers; l++) {
        char nm[64];
#define W(src_, what) (snprintf(nm, sizeof nm, "blk.%d.%s", l, what), tf(src_, nm))
        const float *q = W(src, "attn_q.weight"), *k = W(src, "attn_k.weight"), *v = W(src, "attn_v.weight");
        const float *o = W(src, "attn_output.weight"), *an = W(src, "attn_norm.weight"), *fn = W(src, "ffn_norm.weight");
        const float *g = W(src, "ffn_gate.weight"), *u = W(src, "ffn_up.weight"), *d = W(src, "ffn_down.weight");
        const float *q2 = W(sm, "attn_q.weight"), *k2 = W(sm, "attn_k.weight"), *v2 = W(sm, "attn_v.weight");
        const float *o2 = W(sm, "attn_output.weight"), *an2 = W(sm, "attn_norm.weight"), *fn2 = W(sm, "ffn_norm.weight");
        const float *g2 = W(sm, "ffn_gate.weight"), *u2 = W(sm, "ffn_up.weight"), *d2 = W(sm, "ffn_down.weight");
        if (!q || !q2 || !o2 || !d2 || !u2 || !g2) return;
        /* q/k/v input: s_j = max|X_j|^a / max(|q_:,j|, |k_:,j|, |v_:,j|)^(1-a) */
        double s_qkv[256], s_gu[256], s_o[256], s_d[512];
        for (int j = 0; j < D; j++) {
            double wm = 0, gm = 0;
            for (int r = 0; r < QW; r++) wm = fmax(wm, fabs(q[r * D + j]));
            for (int r = 0; r < KW; r++) wm = fmax(wm, fmax(fabs(k[r * D + j]), fabs(v[r * D + j])));
            for (int r = 0; r < F; r++) gm = fmax(gm, fmax(fabs(g[r * D + j]), fabs(u[r * D + j])));
            s_qkv[j] = pow(st.amax[LT_LIN_QKV][l * D + j], alpha) / pow(wm, 1 - alpha);
            s_gu[j] = pow(st.amax[LT_LIN_GATE_UP][l * D + j], alpha) / pow(gm, 1 - alpha);
        }
        for (int ch = 0; ch < KW; ch++) { /* KV channel (head ch / hd, dim ch % hd): max over the 3 query heads */
            double xm = 0, wm = 0;
            for (int h = (ch / hd) * grp; h < (ch / hd + 1) * grp; h++) {
                int j = h * hd + ch % hd;
                xm = fmax(xm, st.amax[LT_LIN_O][l * QW + j]);
                for (int r = 0; r < D; r++) wm = fmax(wm, fabs(o[r * QW + j]));
            }
            s_o[ch] = pow(xm, alpha) / pow(wm, 1 - alpha);
        }
        for (int j = 0; j < F; j++) {
            double wm = 0;
            for (int r = 0; r < D; r++) wm = fmax(wm, fabs(d[r * F + j]));
            s_d[j] = pow(st.amax[LT_LIN_DOWN][l * F + j], alpha) / pow(wm, 1 - alpha);
        }
        for (int j = 0; j < D; j++) {
            worst = fmax(worst, REL(an2[j], an[j] / s_qkv[j]));
            worst = fmax(worst, REL(fn2[j], fn[j] / s_gu[j]));
            for (int r = 0; r < QW; r++) worst = fmax(worst, REL(q2[r * D + j], q[r * D + j] * s_qkv[j]));
            for (int r = 0; r < KW; r++) worst = fmax(worst, REL(k2[r * D + j], k[r * D + j] * s_qkv[j]));
            for (int r = 0; r < KW; r++) worst = fmax(worst, REL(v2[r * D + j], v[r * D + j] * s_qkv[j] / s_o[r]));
            for (int r = 0; r < F; r++) {
                worst = fmax(worst, REL(g2[r * D + j], g[r * D + j] * s_gu[j]));
                worst = fmax(worst, REL(u2[r * D + j], u[r * D + j] * s_gu[j] / s_d[r]));
            }
        }
        for (int r = 0; r < D; r++) {
            for (int j = 0; j < QW; j++)
                worst = fmax(worst, REL(o2[r * QW + j], o[r * QW + j] * s_o[(j / hd / grp) * hd + j % hd]));
            for (int j = 0; j < F; j++) worst = fmax(worst, REL(d2[r * F + j], d[r * F + j] * s_d[j]));
        }
#undef W
    }
    CHECKF(worst < 2e-5, "the folded weights differ from the formula by %g (relative)", worst);
    /* with biases: v's and up's divided by their rows' factors */
    lt_sq_stats sb = {0};
    lt_modelsrc *bsrc = NULL, *bsm = NULL;
    int32_t btok[NW * T];
    setup(&bsrc, &be, &sb, btok, false, 4);
    CHECK(bsrc && lt_modelsrc_find(bsrc, "blk.0.attn_v.bias") && lt_modelsrc_find(bsrc, "blk.0.ffn_up.bias"));
    if (bsrc && sb.amax[0]) {
        CHECK(lt_sq_smooth(bsrc, &sb, 0.5f, NULL, &bsm, &err) == LT_OK);
        int V = c->n_vocab;
        float *l0 = malloc(sizeof(float) * T * V), *l1 = malloc(sizeof(float) * T * V);
        logits_of(bsrc, be, btok, l0);
        if (bsm) logits_of(bsm, be, btok, l1);
        double dmax = 0, mag = 0;
        for (int i = 0; bsm && i < T * V; i++) dmax = fmax(dmax, fabs(l0[i] - l1[i])), mag = fmax(mag, fabs(l0[i]));
        CHECKF(dmax <= 1e-4 * mag, "with biases: smoothing alone moves the logits by %g (max %g)", dmax, mag);
        const float *b0 = tf(bsrc, "blk.1.attn_v.bias"), *b1 = bsm ? tf(bsm, "blk.1.attn_v.bias") : NULL;
        CHECK(b0 && b1 && b0[0] != b1[0]);
        free(l0), free(l1);
    }
    lt_modelsrc_close(bsm);
    lt_modelsrc_close(bsrc);
    lt_sq_stats_free(&sb);
    /* smoothing alone: the same logits */
    for (int a = 0; a < 3; a++) {
        lt_modelsrc *s2 = NULL;
        float al = a == 0 ? 0.0f : a == 1 ? 0.5f : 1.0f;
        CHECK(lt_sq_smooth(src, &st, al, NULL, &s2, &err) == LT_OK);
        int V = c->n_vocab;
        float *l0 = malloc(sizeof(float) * T * V), *l1 = malloc(sizeof(float) * T * V);
        logits_of(src, be, tok, l0);
        logits_of(s2, be, tok, l1);
        double dmax = 0, mag = 0;
        for (int i = 0; i < T * V; i++) dmax = fmax(dmax, fabs(l0[i] - l1[i])), mag = fmax(mag, fabs(l0[i]));
        CHECKF(dmax <= 1e-4 * mag, "alpha %.1f: smoothing alone moves the logits by %g (max %g)", al, dmax, mag);
        free(l0), free(l1);
        lt_modelsrc_close(s2);
    }
    lt_modelsrc_close(sm);
    lt_sq_stats_free(&st);
    lt_modelsrc_close(src);
    lt_backend_free(be);
}

/* model error: RMS of the logits' difference against the unquantized model */
static double model_err(const lt_modelsrc *ref, const lt_modelsrc *q, lt_backend *be, const int32_t *tok, int V) {
    float *l0 = malloc(sizeof(float) * T * V), *l1 = malloc(sizeof(float) * T * V);
    logits_of(ref, be, tok, l0);
    logits_of(q, be, tok, l1);
    double e = 0;
    for (int i = 0; i < T * V; i++) e += ((double)l0[i] - l1[i]) * ((double)l0[i] - l1[i]);
    free(l0), free(l1);
    return sqrt(e / (T * V));
}

static void test_beats_rtn(void) {
    lt_err err = {0};
    /* one layer: X with outlier channels, W random; ||W X^T - Q(W diag s) (X diag 1/s)^T|| */
    enum { R = 64, C = 128, N = 256 };
    lt_test_rng r;
    lt_test_rng_seed(&r, 11);
    float *w = malloc(sizeof(float) * R * C), *x = malloc(sizeof(float) * N * C), *ws = malloc(sizeof(float) * R * C);
    float *wq = malloc(sizeof(float) * R * C), ax[C], aw[C], s[C];
    lt_test_fill(&r, w, R * C, 0.05f);
    lt_test_fill(&r, x, N * C, 1);
    for (int t = 0; t < N; t++)
        for (int j = 3; j < C; j += 17) x[t * C + j] *= 40;
    for (int j = 0; j < C; j++) {
        ax[j] = aw[j] = 0;
        for (int t = 0; t < N; t++) ax[j] = fmaxf(ax[j], fabsf(x[t * C + j]));
        for (int i = 0; i < R; i++) aw[j] = fmaxf(aw[j], fabsf(w[i * C + j]));
    }
    lt_gptq_opts qo = {.bits = 4, .group = 32};
    double e_rtn = 0, e_sq = 0;
    for (int pass = 0; pass < 2; pass++) {
        lt_sq_factors(ax, aw, C, pass ? 0.5f : 0.0f, s);
        for (int i = 0; i < R * C; i++) ws[i] = pass ? w[i] * s[i % C] : w[i];
        lt_gq_matrix m;
        CHECK(lt_rtn(ws, R, C, &qo, &m, wq, &err) == LT_OK);
        lt_gq_free(&m);
        double e = 0;
        for (int i = 0; i < R; i++)
            for (int t = 0; t < N; t++) {
                double d = 0;
                for (int j = 0; j < C; j++)
                    d += ((double)w[i * C + j] - (double)wq[i * C + j] / (pass ? s[j] : 1)) * x[t * C + j];
                e += d * d;
            }
        *(pass ? &e_sq : &e_rtn) = sqrt(e);
    }
    CHECKF(e_sq < 0.8 * e_rtn, "layer error: smoothquant+ %g, rtn %g", e_sq, e_rtn);
    free(w), free(x), free(ws), free(wq);
    /* the model, at the searched alpha (scored here by the logits' error) */
    lt_modelsrc *src = NULL;
    lt_backend *be = NULL;
    lt_sq_stats st = {0};
    int32_t tok[NW * T];
    setup(&src, &be, &st, tok, true, 7);
    if (!src || !st.amax[0]) return;
    int V = lt_modelsrc_config(src)->n_vocab;
    lt_modelsrc *plain = NULL, *sm = NULL;
    lt_sq_stats ones = st;
    float *one = malloc(sizeof(float) * 4096);
    for (int i = 0; i < 4096; i++) one[i] = 1;
    for (int i = 0; i < LT_LIN_COUNT; i++) ones.amax[i] = one;
    CHECK(lt_sq_smooth(src, &ones, 1.0f, &qo, &plain, &err) == LT_OK); /* s = 1: plain RTN */
    double e_plain = plain ? model_err(src, plain, be, tok, V) : 0, best = INFINITY;
    float best_a = -1;
    for (int k = 0; k <= 20; k++) {
        CHECK(lt_sq_smooth(src, &st, k * 0.05f, &qo, &sm, &err) == LT_OK);
        double e = sm ? model_err(src, sm, be, tok, V) : INFINITY;
        if (e < best) best = e, best_a = k * 0.05f;
        lt_modelsrc_close(sm);
    }
    CHECKF(best < 0.9 * e_plain, "model error: smoothquant+ %g (alpha %.2f), rtn %g", best, best_a, e_plain);
    free(one);
    lt_modelsrc_close(plain);
    lt_sq_stats_free(&st);
    lt_modelsrc_close(src);
    lt_backend_free(be);
}

static bool stop_search(void *ud, const lt_pass_event *ev) {
    (void)ud;
    return strcmp(ev->stage, "search") != 0;
}

static void test_pass(void) {
    lt_err err = {0};
    lt_llm_config cfg;
    CHECK(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.n_vocab = 512; /* tok512.bin */
    lt_test_lm_kit kit;
    if (!lt_test_lm_kit_open(&kit, &cfg, 5)) return;
    lt_modelsrc *src = kit.src;
    lt_tokenizer *tok = kit.tok;
    lt_backend *be = kit.be;
    char out[1024];
    snprintf(out, sizeof out, "%s/tiny-sq", lt_test_tmpdir("smoothquant"));
    lt_pass_opts o = {.q = {.bits = 4, .group = 32},
                      .calib = {.file = lt_test_path("assets/text/tinyshakespeare-head.txt"), .n_tokens = 512,
                                .window = 64},
                      .sq = {.alpha = -1, .search_tokens = 256},
                      .open_lm = lt_llama_open, .be = be, .tok = tok};
    lt_pass_report r;
    /* cancelled in the search: nothing written */
    char never[1100];
    snprintf(never, sizeof never, "%s-cancelled", out);
    o.progress = stop_search;
    CHECK(lt_pass_run("smoothquant+", src, never, &o, &r, &err) == LT_ECANCELLED && strstr(err.msg, "not written"));
    struct stat sb;
    CHECK(stat(never, &sb) != 0);
    o.progress = NULL;
    CHECKF(lt_pass_run("smoothquant+", src, out, &o, &r, &err) == LT_OK, "%s", err.msg);
    CHECK(!strcmp(r.method, "smoothquant+") && r.n_matrices == 7 * cfg.n_layers);
    CHECK(r.sq.n == LT_SQ_GRID && r.sq.search_windows == 4 && r.sq.window == 64);
    double mn = INFINITY;
    for (int i = 0; i < r.sq.n; i++) mn = fmin(mn, r.sq.loss[i]);
    bool found = false;
    for (int i = 0; i < r.sq.n; i++) found |= r.sq.alphas[i] == r.sq.alpha && r.sq.loss[i] == mn;
    CHECK(found && r.sq.loss_float > 0 && r.sq.loss_rtn > 0);
    CHECK(r.sq.unsmoothed == (mn >= r.sq.loss_rtn)); /* searched: never worse than plain RTN */
    lt_modelsrc *back = NULL;
    CHECKF(lt_modelsrc_open(&back, out, NULL, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc_close(back);
    /* a fixed alpha: no search */
    o.sq.alpha = 0.5f;
    strcat(out, "-a05");
    CHECKF(lt_pass_run("smoothquant+", src, out, &o, &r, &err) == LT_OK, "%s", err.msg);
    CHECK(r.sq.n == 0 && r.sq.alpha == 0.5f && !r.sq.unsmoothed); /* a fixed alpha is kept */
    /* one alpha per layer (block output error) */
    o.sq.alpha = -1, o.sq.per_layer = true;
    snprintf(out + strlen(out) - 4, 8, "-pl");
    CHECKF(lt_pass_run("smoothquant+", src, out, &o, &r, &err) == LT_OK, "%s", err.msg);
    CHECK(r.sq.per_layer && r.sq.n == 0 && r.sq.loss_layers > 0 && r.sq.loss_rtn > 0);
    CHECK(!r.sq.unsmoothed); /* per layer, "none" is one of each block's candidates instead */
    for (int l = 0; l < cfg.n_layers; l++) { /* the grid, or -1: that block unsmoothed */
        float a = r.sq.layer_alpha[l] * 20;
        CHECKF(r.sq.layer_alpha[l] == -1.0f || (a >= 0 && a <= 20 && fabsf(a - roundf(a)) < 1e-4f), "layer %d: alpha %g",
               l, r.sq.layer_alpha[l]);
    }
    o.sq.per_layer = false;
    o.sq.alpha = 1.5f;
    CHECK(lt_pass_run("smoothquant+", src, out, &o, &r, &err) == LT_EINVAL && strstr(err.msg, "--alpha"));
    lt_pass_args pa;
    lt_pass_args_default(&pa);
    pa.alpha = 0.3f;
    lt_pass_opts po = {0};
    CHECK(lt_pass_args_apply(&pa, &po, &err) == LT_EINVAL && strstr(err.msg, "--alpha is for"));
    pa.method = "smoothquant+";
    CHECK(lt_pass_args_apply(&pa, &po, &err) == LT_OK && po.sq.alpha == 0.3f && po.sq.search_tokens == 4096);
    pa.alpha_per_layer = true;
    CHECK(lt_pass_args_apply(&pa, &po, &err) == LT_EINVAL && strstr(err.msg, "contradict"));
    lt_test_lm_kit_close(&kit);
}

int main(void) {
    test_factors();
    test_fold();
    test_beats_rtn();
    test_pass();
    return lt_test_done();
}
