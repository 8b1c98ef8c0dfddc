/* test_llama_forward.c - the Llama forward pass against an independent float64 naive
 * forward written here, for tiny random models with odd sizes, GQA, tied and untied
 * embeddings, qkv bias with neox rope (Qwen2), llama3 rope scaling. Also: prefill in one
 * batch == token by token == chunked; several sequences in one batch == separately; the
 * same model written as GGUF, HF safetensors and llama2.c gives the same logits; quantized
 * copies stay close; bad batches are errors that leave the cache intact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_llama2c.h"
#include "core/formats/modelsrc_open.h"
#include "models/llama.h"
#include "testutil.h"

/* ---- float64 reference ----------------------------------------------------------------- */

static const float *W(const lt_modelsrc *src, const char *fmt, int l) {
    char name[96];
    snprintf(name, sizeof name, fmt, l);
    const lt_src_tensor *t = lt_modelsrc_find(src, name);
    LT_ASSERT(t && t->dtype == LT_F32);
    return t->data;
}

/* y[n] = w[n, k] . x[k] (+ b) */
static void mv(double *y, const float *w, const double *x, int n, int k, const float *b) {
    for (int i = 0; i < n; i++) {
        double s = b ? b[i] : 0;
        for (int j = 0; j < k; j++) s += (double)w[(size_t)i * k + j] * x[j];
        y[i] = s;
    }
}

static void rms(double *y, const double *x, const float *w, int n, double eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * r * w[i];
}

static void ref_freqs(const lt_llm_config *c, double *f) {
    int dh = c->head_dim;
    for (int i = 0; i < dh / 2; i++) {
        double fr = 1.0 / pow(c->rope_theta, 2.0 * i / dh);
        if (c->rope_scaling == LT_ROPE_SCALING_LINEAR) fr /= c->rope_factor;
        if (c->rope_scaling == LT_ROPE_SCALING_LLAMA3) {
            double lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor, orig = c->rope_orig_ctx;
            double wl = 2 * M_PI / fr;
            if (wl > orig / lo) fr /= c->rope_factor;
            else if (wl >= orig / hi) {
                double sm = (orig / wl - lo) / (hi - lo);
                fr = (1 - sm) * fr / c->rope_factor + sm * fr;
            }
        }
        f[i] = fr;
    }
}

static void ref_rope(double *x, int heads, int dh, int pos, const double *f, bool neox) {
    for (int h = 0; h < heads; h++) {
        double *v = x + (size_t)h * dh;
        for (int i = 0; i < dh / 2; i++) {
            int a = neox ? i : 2 * i, b = neox ? i + dh / 2 : 2 * i + 1;
            double c = cos(pos * f[i]), s = sin(pos * f[i]);
            double x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

/* Logits [n, V] of every position of tokens[n], computed from scratch in float64. */
static double *ref_forward(const lt_modelsrc *src, const int32_t *tokens, int n) {
    const lt_llm_config *c = lt_modelsrc_config(src);
    int D = c->dim, F = c->hidden_dim, H = c->n_heads, KH = c->n_kv_heads, dh = c->head_dim, V = c->n_vocab;
    int QW = H * dh, KW = KH * dh;
    double *x = calloc((size_t)n * D, 8), *xb = calloc(D > QW ? D : QW, 8), *q = calloc(QW, 8);
    double *K = calloc((size_t)c->n_layers * n * KW, 8), *Vv = calloc((size_t)c->n_layers * n * KW, 8);
    double *att = calloc(QW, 8), *h1 = calloc(F, 8), *h2 = calloc(F, 8), *tmp = calloc(D > F ? D : F, 8);
    double *sc = calloc(n, 8), *freqs = calloc(dh / 2, 8), *out = calloc((size_t)n * V, 8);
    ref_freqs(c, freqs);
    const float *emb = W(src, "token_embd.weight", 0);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < D; i++) x[(size_t)t * D + i] = emb[(size_t)tokens[t] * D + i];
    for (int t = 0; t < n; t++) {
        double *xt = x + (size_t)t * D;
        for (int l = 0; l < c->n_layers; l++) {
            double *Kl = K + (size_t)l * n * KW, *Vl = Vv + (size_t)l * n * KW;
            rms(xb, xt, W(src, "blk.%d.attn_norm.weight", l), D, c->norm_eps);
            mv(q, W(src, "blk.%d.attn_q.weight", l), xb, QW, D, c->qkv_bias ? W(src, "blk.%d.attn_q.bias", l) : NULL);
            mv(Kl + (size_t)t * KW, W(src, "blk.%d.attn_k.weight", l), xb, KW, D,
               c->qkv_bias ? W(src, "blk.%d.attn_k.bias", l) : NULL);
            mv(Vl + (size_t)t * KW, W(src, "blk.%d.attn_v.weight", l), xb, KW, D,
               c->qkv_bias ? W(src, "blk.%d.attn_v.bias", l) : NULL);
            ref_rope(q, H, dh, t, freqs, c->rope_neox);
            ref_rope(Kl + (size_t)t * KW, KH, dh, t, freqs, c->rope_neox);
            for (int h = 0; h < H; h++) {
                int kh = h / (H / KH);
                double mx = -1e300, sum = 0;
                for (int p = 0; p <= t; p++) {
                    double s = 0;
                    for (int i = 0; i < dh; i++) s += q[h * dh + i] * Kl[(size_t)p * KW + kh * dh + i];
                    sc[p] = s / sqrt((double)dh);
                    if (sc[p] > mx) mx = sc[p];
                }
                for (int p = 0; p <= t; p++) sum += (sc[p] = exp(sc[p] - mx));
                for (int i = 0; i < dh; i++) {
                    double a = 0;
                    for (int p = 0; p <= t; p++) a += sc[p] / sum * Vl[(size_t)p * KW + kh * dh + i];
                    att[h * dh + i] = a;
                }
            }
            mv(tmp, W(src, "blk.%d.attn_output.weight", l), att, D, QW, NULL);
            for (int i = 0; i < D; i++) xt[i] += tmp[i];
            rms(xb, xt, W(src, "blk.%d.ffn_norm.weight", l), D, c->norm_eps);
            mv(h1, W(src, "blk.%d.ffn_gate.weight", l), xb, F, D, NULL);
            mv(h2, W(src, "blk.%d.ffn_up.weight", l), xb, F, D, NULL);
            for (int i = 0; i < F; i++) h1[i] = h1[i] / (1 + exp(-h1[i])) * h2[i];
            mv(tmp, W(src, "blk.%d.ffn_down.weight", l), h1, D, F, NULL);
            for (int i = 0; i < D; i++) xt[i] += tmp[i];
        }
        rms(xb, xt, W(src, "output_norm.weight", 0), D, c->norm_eps);
        mv(out + (size_t)t * V, W(src, c->tied_embeddings ? "token_embd.weight" : "output.weight", 0), xb, V, D, NULL);
    }
    free(x), free(xb), free(q), free(K), free(Vv), free(att), free(h1), free(h2), free(tmp), free(sc), free(freqs);
    return out;
}

/* ---- lathe side -------------------------------------------------------------------------- */

typedef struct run {
    lt_lm *m;
    lt_kv_cache *kv;
} run;

static void run_open(run *r, const lt_modelsrc *src, lt_backend *be, int max_batch) {
    lt_err err;
    lt_lm_opts o = {.max_batch = max_batch};
    if (lt_llama_open(&r->m, src, be, &o, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_kv_opts ko = lt_lm_kv_opts(r->m, 64, 4);
    ko.block_size = 4; /* many blocks even for short sequences */
    if (lt_kv_create(&r->kv, be, &ko, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
}

static void run_close(run *r) {
    lt_kv_free(r->kv);
    lt_lm_close(r->m);
}

/* All-position logits via one batch. */
static float *lathe_logits(run *r, const int32_t *tok, int n) {
    lt_err err;
    int V = lt_lm_config(r->m)->n_vocab, seq;
    float *out = malloc((size_t)n * V * 4);
    LT_ASSERT(lt_kv_seq_new(r->kv, &seq, &err) == LT_OK);
    if (lt_lm_eval(r->m, r->kv, seq, tok, n, true, out, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_kv_seq_free(r->kv, seq);
    return out;
}

static double max_rel(const float *a, const double *b, size_t n) { return lt_test_rel_err(a, b, (int64_t)n); }

static void check_model(const char *label, const lt_llm_config *cfg, lt_backend *be) {
    lt_err err;
    lt_modelsrc *src;
    CHECK(lt_llama_synthetic(&src, cfg, NULL, 99, &err) == LT_OK);
    int n = 13, V = cfg->n_vocab;
    int32_t tok[13];
    for (int i = 0; i < n; i++) tok[i] = (i * 37 + 5) % V;
    double *ref = ref_forward(src, tok, n);

    run r;
    run_open(&r, src, be, 0);
    float *all = lathe_logits(&r, tok, n);
    double e = max_rel(all, ref, (size_t)n * V);
    CHECKF(e < 1e-4, "%s: batch logits vs float64: rel err %g", label, e);

    /* token by token */
    int seq;
    float *one = malloc((size_t)V * 4);
    CHECK(lt_kv_seq_new(r.kv, &seq, &err) == LT_OK);
    double worst = 0;
    for (int t = 0; t < n; t++) {
        CHECK(lt_lm_eval(r.m, r.kv, seq, &tok[t], 1, false, one, &err) == LT_OK);
        worst = fmax(worst, lt_test_rel_err(one, ref + (size_t)t * V, V));
    }
    CHECKF(worst < 1e-4, "%s: decode logits vs float64: rel err %g", label, worst);

    /* bad batches: wrong position, bad token; the cache stays as it was */
    int len = lt_kv_seq_len(r.kv, seq), used = lt_kv_blocks_used(r.kv);
    int32_t badpos = len + 1, s32 = seq, badtok = V;
    lt_batch b = {.n_tokens = 1, .tokens = &tok[0], .seq = &s32, .pos = &badpos};
    CHECK(lt_lm_forward(r.m, r.kv, &b, one, &err) == LT_EINVAL && strstr(err.msg, "position"));
    b.pos = &len;
    b.tokens = &badtok;
    CHECK(lt_lm_forward(r.m, r.kv, &b, one, &err) == LT_ERANGE && strstr(err.msg, "vocabulary"));
    CHECK(lt_kv_seq_len(r.kv, seq) == len && lt_kv_blocks_used(r.kv) == used);
    lt_kv_seq_free(r.kv, seq);

    /* two sequences interleaved in one batch == each alone; second one forked from a prefix */
    {
        int s1, s2;
        CHECK(lt_kv_seq_new(r.kv, &s1, &err) == LT_OK);
        CHECK(lt_lm_eval(r.m, r.kv, s1, tok, 5, false, one, &err) == LT_OK);
        CHECK(lt_kv_seq_fork(r.kv, s1, &s2, &err) == LT_OK);
        int32_t bt[8], bs[8], bp[8];
        bool want[8];
        for (int i = 0; i < 8; i++) {
            int which = i % 2, k = i / 2; /* s1 gets tok[5..8], s2 gets tok[9..12] */
            bs[i] = which ? s2 : s1;
            bt[i] = tok[which ? 9 + k : 5 + k];
            bp[i] = 5 + k;
            want[i] = true;
        }
        float *lg = malloc((size_t)8 * V * 4);
        lt_batch bb = {.n_tokens = 8, .tokens = bt, .seq = bs, .pos = bp, .logits = want};
        CHECK(lt_lm_forward(r.m, r.kv, &bb, lg, &err) == LT_OK);
        /* s1 rows equal the reference rows 5..8 */
        double e1 = 0;
        for (int k = 0; k < 4; k++) e1 = fmax(e1, lt_test_rel_err(lg + (size_t)(2 * k) * V, ref + (size_t)(5 + k) * V, V));
        CHECKF(e1 < 1e-4, "%s: batched sequence 1: %g", label, e1);
        /* s2 rows equal a fresh run of tok[0..4] + tok[9..12] */
        int32_t alt[9];
        memcpy(alt, tok, 5 * 4);
        memcpy(alt + 5, tok + 9, 4 * 4);
        double *ref2 = ref_forward(src, alt, 9);
        double e2 = 0;
        for (int k = 0; k < 4; k++) e2 = fmax(e2, lt_test_rel_err(lg + (size_t)(2 * k + 1) * V, ref2 + (size_t)(5 + k) * V, V));
        CHECKF(e2 < 1e-4, "%s: batched forked sequence 2: %g", label, e2);
        free(ref2);
        free(lg);
        lt_kv_seq_free(r.kv, s1);
        lt_kv_seq_free(r.kv, s2);
    }
    run_close(&r);

    /* tiny scratch: the batch is cut into chunks of 3 tokens, same logits */
    run small;
    run_open(&small, src, be, 3);
    float *chunked = lathe_logits(&small, tok, n);
    CHECKF(lt_test_rel_err_ff(chunked, all, (int64_t)n * V) < 1e-5, "%s: chunked prefill differs", label);
    run_close(&small);
    free(chunked);
    free(one);
    free(all);
    free(ref);
    lt_modelsrc_close(src);
}

/* The same weights through each file format: identical logits. */
static void check_formats(lt_backend *be) {
    lt_err err;
    lt_llm_config cfg;
    LT_ASSERT(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    lt_modelsrc *src;
    CHECK(lt_llama_synthetic(&src, &cfg, NULL, 5, &err) == LT_OK);
    int32_t tok[7] = {1, 17, 33, 250, 4, 99, 123};
    run r;
    run_open(&r, src, be, 0);
    float *base = lathe_logits(&r, tok, 7);
    run_close(&r);
    const char *dir = lt_test_tmpdir("forward_formats");
    char path[512];
    for (int f = 0; f < 3; f++) {
        lt_status s;
        if (f == 0) {
            snprintf(path, sizeof path, "%s/m.gguf", dir);
            s = lt_modelsrc_write_gguf(src, path, LT_DTYPE_COUNT, &err);
        } else if (f == 1) {
            snprintf(path, sizeof path, "%s/hf", dir);
            s = lt_modelsrc_write_hf(src, path, LT_F32, &err);
        } else {
            snprintf(path, sizeof path, "%s/m.bin", dir);
            s = lt_modelsrc_write_llama2c(src, path, &err);
        }
        CHECKF(s == LT_OK, "write %s: %s", path, err.msg);
        if (s != LT_OK) continue;
        lt_modelsrc *back;
        s = lt_modelsrc_open(&back, path, NULL, &err);
        CHECKF(s == LT_OK, "read %s: %s", path, err.msg);
        if (s != LT_OK) continue;
        run_open(&r, back, be, 0);
        float *lg = lathe_logits(&r, tok, 7);
        double e = lt_test_rel_err_ff(lg, base, (int64_t)7 * cfg.n_vocab);
        CHECKF(e < 1e-5, "%s: logits differ from the source by %g", path, e);
        run_close(&r);
        free(lg);
        lt_modelsrc_close(back);
    }
    /* quantized GGUF copies: close to f32 */
    /* Bound on the relative RMS error of the logits, ||a - b|| / ||b||, about 2x what each
     * type's rounding gives on this random model (measured: f16 8e-4, bf16 6.7e-3, q8_0
     * 2.7e-2, q4_0 0.29 - every matrix incl. embeddings quantized, activations too for q8_0/
     * q4_0). This checks the whole path end to end; the kernels' exactness against the
     * dequantized weights is tested in test_ops_cpu. */
    lt_dtype qt[] = {LT_F16, LT_BF16, LT_Q8_0, LT_Q4_0};
    double tol[] = {2e-3, 1.5e-2, 6e-2, 0.6};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/m-%s.gguf", dir, lt_dtype_name(qt[i]));
        lt_status s = lt_modelsrc_write_gguf(src, path, qt[i], &err);
        CHECKF(s == LT_OK, "%s", err.msg);
        lt_modelsrc *back;
        if (s != LT_OK || lt_modelsrc_open(&back, path, NULL, &err) != LT_OK) continue;
        CHECK(lt_modelsrc_find(back, "blk.0.attn_q.weight")->dtype == qt[i]);
        run_open(&r, back, be, 0);
        float *lg = lathe_logits(&r, tok, 7);
        double num = 0, den = 0;
        for (int64_t j = 0; j < (int64_t)7 * cfg.n_vocab; j++) {
            num += ((double)lg[j] - base[j]) * ((double)lg[j] - base[j]);
            den += (double)base[j] * base[j];
        }
        double e = sqrt(num / den);
        printf("%s logits: relative RMS error %.2e vs f32\n", lt_dtype_name(qt[i]), e);
        CHECKF(e < tol[i], "%s: relative RMS error %g vs f32 (bound %g)", lt_dtype_name(qt[i]), e, tol[i]);
        run_close(&r);
        if (qt[i] == LT_Q4_0) {
            /* q4_0 matrices are held interleaved by 8 rows on the CPU (q4_0_r8): putting the
               source's f32 weights back through set_matrix (as compression passes do) quantizes
               and packs them to the file's bytes again, so the logits are the same bits */
            CHECK(lt_backend_matrix_dtype(be, LT_Q4_0, cfg.dim, cfg.dim) == LT_Q4_0_R8 || getenv("LT_CPU_Q4_0_PLAIN"));
            run_open(&r, back, be, 0);
            static const char *const mn[LT_MAT_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate",
                                                          "ffn_up", "ffn_down"};
            for (int l = 0; l < cfg.n_layers; l++)
                for (int mi = 0; mi < LT_MAT_COUNT; mi++) {
                    char tn[64];
                    snprintf(tn, sizeof tn, "blk.%d.%s.weight", l, mn[mi]);
                    const lt_src_tensor *t = lt_modelsrc_find(src, tn);
                    const int64_t ne = t->shape[0] * t->shape[1];
                    float *wf = malloc((size_t)ne * sizeof *wf);
                    lt_dtype_row_to_f32(t->dtype, t->data, wf, ne);
                    CHECKF(r.m->ops->set_matrix(r.m, l, (lt_lm_matrix)mi, wf, &err) == LT_OK, "set_matrix: %s", err.msg);
                    free(wf);
                }
            float *lg2 = lathe_logits(&r, tok, 7);
            CHECK(!memcmp(lg, lg2, (size_t)7 * cfg.n_vocab * sizeof *lg));
            free(lg2);
            run_close(&r);
        }
        free(lg);
        lt_modelsrc_close(back);
    }
    free(base);
    lt_modelsrc_close(src);
}

int main(void) {
    lt_backend *be;
    lt_err err;
    LT_ASSERT(lt_backend_create(&be, "cpu", NULL, &err) == LT_OK);
    lt_llm_config c;
    LT_ASSERT(lt_llama_preset("tiny", &c, &err) == LT_OK);
    check_model("llama GQA untied", &c, be);
    c.tied_embeddings = true;
    c.n_kv_heads = 1; /* MQA */
    check_model("llama MQA tied", &c, be);
    LT_ASSERT(lt_llama_preset("tiny", &c, &err) == LT_OK);
    snprintf(c.arch, sizeof c.arch, "qwen2");
    c.qkv_bias = true;
    c.rope_neox = true;
    c.rope_theta = 1000000.0f;
    check_model("qwen2 bias neox", &c, be);
    LT_ASSERT(lt_llama_preset("tiny", &c, &err) == LT_OK);
    c.rope_scaling = LT_ROPE_SCALING_LLAMA3;
    c.rope_factor = 8, c.rope_low_freq_factor = 1, c.rope_high_freq_factor = 4, c.rope_orig_ctx = 64;
    c.rope_theta = 500000.0f;
    check_model("llama3 rope scaling", &c, be);
    /* odd sizes: head_dim 10, hidden 37 */
    LT_ASSERT(lt_llama_preset("tiny", &c, &err) == LT_OK);
    c.dim = 40, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 10, c.hidden_dim = 37, c.n_vocab = 61;
    check_model("odd sizes", &c, be);
    check_formats(be);
    lt_backend_free(be);
    return lt_test_done();
}
