/* test_gptq.c - GPTQ and round-to-nearest (core/compress/gptq.h), their ggml blocks
 * (gq_gguf.h) and the pass (pass.h) on a tiny synthetic model.
 *
 * - On random layers with correlated inputs, GPTQ's layer-output error ||(W - Q) X^T|| is
 *   below RTN's for every bit width, group size, sym/asym and act-order; also with a group
 *   that does not divide the row (a shorter last group, as the reference's).
 * - A 4 x 4 case and a 24-column one (lazy blocks of 5, so the block GEMM runs) against a
 *   plain float64 GPTQ written here from the paper (explicit inverse, full-row updates).
 * - Groups of 32 as Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 blocks dequantize (lathe's GGML formulas) to
 *   exactly the weights GPTQ chose.
 * - The pass on a synthetic model writes a GGUF whose block matrices are the chosen type; a
 *   pass cancelled half-way leaves no file (nor OUT.tmp) and the source's bytes unchanged.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/backend/backend.h"
#include "core/base/dtype.h"
#include "core/base/quants.h"
#include "core/compress/gptq.h"
#include "core/compress/gq_gguf.h"
#include "core/compress/pass.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_open.h"
#include "core/text/tokenizer.h"
#include "models/llama.h"
#include "testutil.h"


static void test_beats_rtn(void) {
    enum { ROWS = 24, COLS = 128, N = 512 };
    lt_test_rng rng;
    lt_test_rng_seed(&rng, 7);
    float *x = malloc(sizeof(float) * N * COLS), *w = malloc(sizeof(float) * ROWS * COLS);
    float *qr = malloc(sizeof(float) * ROWS * COLS), *qg = malloc(sizeof(float) * ROWS * COLS);
    float *dq = malloc(sizeof(float) * ROWS * COLS);
    double *h = malloc(sizeof(double) * COLS * COLS);
    lt_test_correlated_inputs(&rng, N, COLS, x, h);
    lt_test_fill(&rng, w, ROWS * COLS, 0.1f);
    static const int bits[] = {2, 3, 4, 5, 8}, groups[] = {-1, 32, 64, 128};
    int n = 0;
    for (int b = 0; b < 5; b++)
        for (int g = 0; g < 4; g++)
            for (int sym = 0; sym < 2; sym++)
                for (int ao = 0; ao < 2; ao++)
                    for (int gg = 0; gg < 2; gg++) {
                        lt_gptq_opts o = {.bits = bits[b], .group = groups[g], .sym = sym, .act_order = ao,
                                          .ggml = gg};
                        lt_gq_matrix mr, mg;
                        lt_err err = {0};
                        lt_gptq_opts ro = o;
                        ro.act_order = false;
                        CHECK(lt_rtn(w, ROWS, COLS, &ro, &mr, qr, &err) == LT_OK);
                        double loss = -1;
                        CHECKF(lt_gptq(w, ROWS, COLS, h, &o, &mg, qg, &loss, &err) == LT_OK, "%s", err.msg);
                        double er = lt_test_out_err(w, qr, x, ROWS, COLS, N), eg = lt_test_out_err(w, qg, x, ROWS, COLS, N);
                        CHECKF(eg < er, "bits %d group %d sym %d act-order %d ggml %d: gptq %g, rtn %g", bits[b],
                               groups[g], sym, ao, gg, eg, er);
                        CHECK(loss >= 0);
                        if (!(gg && !sym)) { /* the codes are the weights (ggml's asym offset aside) */
                            lt_gq_dequant(&mg, dq);
                            CHECK(!memcmp(dq, qg, sizeof(float) * ROWS * COLS));
                            lt_gq_dequant(&mr, dq);
                            CHECK(!memcmp(dq, qr, sizeof(float) * ROWS * COLS));
                        }
                        if (ao) CHECK(mg.g_idx && mg.g_idx[COLS - 1] == (COLS - 1) / mg.group);
                        lt_gq_free(&mr), lt_gq_free(&mg);
                        n++;
                    }
    printf("gptq beats rtn in %d settings\n", n);
    free(x), free(w), free(qr), free(qg), free(dq), free(h);
}

/* A group that does not divide the row (SmolLM2's 576 columns in groups of 128): the last
 * group is shorter, as in the reference (W[:, i:i + groupsize]); its range is its own columns'. */
static void test_partial_group(void) {
    enum { ROWS = 16, COLS = 160, N = 256, G = 128 };
    lt_test_rng rng;
    lt_test_rng_seed(&rng, 11);
    float *x = malloc(sizeof(float) * N * COLS), *w = malloc(sizeof(float) * ROWS * COLS);
    float *qr = malloc(sizeof(float) * ROWS * COLS), *qg = malloc(sizeof(float) * ROWS * COLS);
    float *dq = malloc(sizeof(float) * ROWS * COLS);
    double *h = malloc(sizeof(double) * COLS * COLS);
    lt_test_correlated_inputs(&rng, N, COLS, x, h);
    lt_test_fill(&rng, w, ROWS * COLS, 0.1f);
    for (int bits = 3; bits <= 4; bits++)
        for (int ao = 0; ao < 2; ao++) {
            lt_gptq_opts o = {.bits = bits, .group = G, .act_order = ao};
            lt_gq_matrix mr, mg;
            lt_err err = {0};
            lt_gptq_opts ro = o;
            ro.act_order = false;
            CHECKF(lt_rtn(w, ROWS, COLS, &ro, &mr, qr, &err) == LT_OK, "%s", err.msg);
            CHECKF(lt_gptq(w, ROWS, COLS, h, &o, &mg, qg, NULL, &err) == LT_OK, "%s", err.msg);
            CHECK(mr.n_groups == 2 && mg.n_groups == 2);
            int maxq = (1 << bits) - 1;
            for (int r = 0; r < ROWS; r++) { /* the last group's range: columns 128..159 of this row only */
                float lo = 0, hi = 0;
                for (int c = G; c < COLS; c++) {
                    float v = w[r * COLS + c];
                    lo = v < lo ? v : lo, hi = v > hi ? v : hi;
                }
                float want = (hi - lo) / (float)maxq;
                CHECKF(fabsf(mr.scale[r * 2 + 1] - want) <= 1e-6f * want, "row %d: rtn scale %g, want %g", r,
                       mr.scale[r * 2 + 1], want);
                if (ao) /* static groups: from the original weights, as rtn's */
                    CHECK(mg.scale[r * 2 + 1] == mr.scale[r * 2 + 1] && mg.zero[r * 2 + 1] == mr.zero[r * 2 + 1]);
            }
            double er = lt_test_out_err(w, qr, x, ROWS, COLS, N), eg = lt_test_out_err(w, qg, x, ROWS, COLS, N);
            CHECKF(eg < er, "bits %d act-order %d, partial group: gptq %g, rtn %g", bits, ao, eg, er);
            lt_gq_dequant(&mg, dq);
            CHECK(!memcmp(dq, qg, sizeof(float) * ROWS * COLS));
            lt_gq_free(&mr), lt_gq_free(&mg);
        }
    free(x), free(w), free(qr), free(qg), free(dq), free(h);
}

/* ---- a float64 GPTQ from the paper: H^-1 by Gauss-Jordan, its upper Cholesky, column by
 * column with every later column updated at once; min/max quantizer per row (group = cols) */
static void ref_gptq(const double *w0, int rows, int cols, const double *h0, int bits, double *q) {
    int maxq = (1 << bits) - 1;
    double *w = malloc(sizeof(double) * rows * cols), *h = malloc(sizeof(double) * cols * cols);
    double *inv = calloc((size_t)cols * cols, sizeof(double)), *u = calloc((size_t)cols * cols, sizeof(double));
    memcpy(w, w0, sizeof(double) * rows * cols);
    memcpy(h, h0, sizeof(double) * cols * cols);
    double mean = 0;
    for (int i = 0; i < cols; i++) mean += h[i * cols + i] / cols;
    for (int i = 0; i < cols; i++) h[i * cols + i] += 0.01 * mean, inv[i * cols + i] = 1;
    for (int i = 0; i < cols; i++) { /* Gauss-Jordan (SPD: no pivoting) */
        double p = h[i * cols + i];
        for (int j = 0; j < cols; j++) h[i * cols + j] /= p, inv[i * cols + j] /= p;
        for (int k = 0; k < cols; k++)
            if (k != i) {
                double f = h[k * cols + i];
                for (int j = 0; j < cols; j++) h[k * cols + j] -= f * h[i * cols + j], inv[k * cols + j] -= f * inv[i * cols + j];
            }
    }
    for (int i = 0; i < cols; i++) { /* inv = U^T U, U upper */
        double s = inv[i * cols + i];
        for (int k = 0; k < i; k++) s -= u[k * cols + i] * u[k * cols + i];
        u[i * cols + i] = sqrt(s);
        for (int j = i + 1; j < cols; j++) {
            double t = inv[i * cols + j];
            for (int k = 0; k < i; k++) t -= u[k * cols + i] * u[k * cols + j];
            u[i * cols + j] = t / u[i * cols + i];
        }
    }
    for (int r = 0; r < rows; r++) {
        double mn = 0, mx = 0;
        for (int c = 0; c < cols; c++) mn = fmin(mn, w0[r * cols + c]), mx = fmax(mx, w0[r * cols + c]);
        double sc = (mx - mn) / maxq, z = nearbyint(-mn / sc);
        for (int c = 0; c < cols; c++) {
            double x = w[r * cols + c], k = fmin(fmax(nearbyint(x / sc) + z, 0), maxq);
            q[r * cols + c] = sc * (k - z);
            double e = (x - q[r * cols + c]) / u[c * cols + c];
            for (int j = c + 1; j < cols; j++) w[r * cols + j] -= e * u[c * cols + j];
        }
    }
    free(w), free(h), free(inv), free(u);
}

static void compare_ref(int rows, int cols, int bits, int block, uint64_t seed, double min_same) {
    lt_test_rng rng;
    lt_test_rng_seed(&rng, seed);
    int n = 4 * cols;
    float *x = malloc(sizeof(float) * n * cols), *w = malloc(sizeof(float) * rows * cols);
    float *q = malloc(sizeof(float) * rows * cols);
    double *h = malloc(sizeof(double) * cols * cols), *wd = malloc(sizeof(double) * rows * cols);
    double *qd = malloc(sizeof(double) * rows * cols);
    lt_test_correlated_inputs(&rng, n, cols, x, h);
    lt_test_fill(&rng, w, (int64_t)rows * cols, 1);
    for (int i = 0; i < rows * cols; i++) wd[i] = w[i];
    ref_gptq(wd, rows, cols, h, bits, qd);
    lt_gptq_opts o = {.bits = bits, .group = -1, .block = block};
    lt_gq_matrix m;
    lt_err err = {0};
    CHECKF(lt_gptq(w, rows, cols, h, &o, &m, q, NULL, &err) == LT_OK, "%s", err.msg);
    int same = 0;
    double worst = 0;
    for (int i = 0; i < rows * cols; i++) {
        double d = fabs(q[i] - qd[i]);
        same += d < 1e-5 * (1 + fabs(qd[i]));
        worst = d > worst ? d : worst;
    }
    CHECKF(same >= min_same * rows * cols, "%d x %d, %d bits: %d of %d weights as the float64 reference (worst %g)",
           rows, cols, bits, same, rows * cols, worst);
    lt_gq_free(&m);
    free(x), free(w), free(q), free(h), free(wd), free(qd);
}

static void test_reference(void) {
    compare_ref(4, 4, 3, 0, 11, 1.0);
    compare_ref(4, 4, 2, 0, 12, 1.0);
    compare_ref(4, 4, 4, 2, 13, 1.0);
    compare_ref(6, 24, 4, 5, 14, 0.97); /* float32 vs float64: a rare rounding tie may flip */
}

/* ---- ggml blocks ---------------------------------------------------------------------------------- */

static void test_ggml_exact(void) {
    enum { ROWS = 8, COLS = 96, N = 256 };
    lt_test_rng rng;
    lt_test_rng_seed(&rng, 3);
    float *x = malloc(sizeof(float) * N * COLS), *w = malloc(sizeof(float) * ROWS * COLS);
    float *q = malloc(sizeof(float) * ROWS * COLS), *d = malloc(sizeof(float) * ROWS * COLS);
    double *h = malloc(sizeof(double) * COLS * COLS);
    lt_test_correlated_inputs(&rng, N, COLS, x, h);
    lt_test_fill(&rng, w, ROWS * COLS, 0.05f);
    static const struct {
        int bits;
        bool sym;
        lt_dtype t;
    } k[] = {{4, true, LT_Q4_0}, {4, false, LT_Q4_1}, {5, true, LT_Q5_0}, {5, false, LT_Q5_1}, {8, true, LT_Q8_0}};
    for (int i = 0; i < 5; i++)
        for (int ao = 0; ao < 2; ao++) {
            lt_gptq_opts o = {.bits = k[i].bits, .group = 32, .sym = k[i].sym, .act_order = ao, .ggml = true};
            lt_gq_matrix m;
            lt_err err = {0};
            CHECK(lt_gq_ggml_type(k[i].bits, k[i].sym, 32, NULL, 0) == k[i].t);
            CHECK(lt_gptq(w, ROWS, COLS, h, &o, &m, q, NULL, &err) == LT_OK);
            size_t rb = lt_row_bytes(k[i].t, COLS);
            char *blocks = malloc(rb * ROWS);
            CHECK(lt_gq_to_ggml(&m, k[i].t, blocks, &err) == LT_OK);
            for (int r = 0; r < ROWS; r++) lt_dtype_row_to_f32(k[i].t, blocks + r * rb, d + r * COLS, COLS);
            CHECKF(!memcmp(d, q, sizeof(float) * ROWS * COLS), "%s (act-order %d): the blocks differ from GPTQ's "
                   "weights", lt_dtype_name(k[i].t), ao);
            lt_gq_free(&m);
            free(blocks);
        }
    char why[256];
    CHECK(lt_gq_ggml_type(3, true, 32, why, sizeof why) == LT_DTYPE_COUNT && strstr(why, "--bits 3"));
    CHECK(lt_gq_ggml_type(4, true, 128, NULL, 0) == LT_DTYPE_COUNT);
    CHECK(lt_gq_ggml_type(8, false, 32, NULL, 0) == LT_DTYPE_COUNT);
    free(x), free(w), free(q), free(d), free(h);
}

/* ---- the pass on a synthetic model ------------------------------------------------------------- */

typedef struct stop_at {
    int layer;
    int calls;
} stop_at;

static bool stop_progress(void *ud, const lt_pass_event *ev) {
    stop_at *s = ud;
    s->calls++;
    return ev->layer < s->layer;
}

static uint64_t src_digest(const lt_modelsrc *src) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < lt_modelsrc_n_tensors(src); i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        const unsigned char *p = t->data;
        for (size_t k = 0; k < t->nbytes; k++) h = (h ^ p[k]) * 1099511628211ull;
    }
    return h;
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
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
    uint64_t before = src_digest(src);
    const char *dir = lt_test_tmpdir("gptq");
    char out[1024], tmp[1100];
    snprintf(out, sizeof out, "%s/tiny.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    remove(out), remove(tmp); /* from an earlier run */
    lt_pass_opts o = {.q = {.bits = 4, .group = 32, .sym = true},
                      .calib = {.file = lt_test_path("assets/text/tinyshakespeare-head.txt"), .n_tokens = 1024,
                                .window = 128},
                      .open_lm = lt_llama_open, .be = be, .tok = tok};
    /* cancelled in layer 1: nothing written, the source as it was */
    stop_at s = {.layer = 1};
    o.progress = stop_progress, o.ud = &s;
    lt_pass_report r;
    CHECK(lt_pass_run("gptq", src, out, &o, &r, &err) == LT_ECANCELLED);
    CHECK(strstr(err.msg, "not written") != NULL);
    CHECK(!exists(out) && !exists(tmp));
    CHECK(src_digest(src) == before);
    /* cancelled while writing */
    s = (stop_at){.layer = cfg.n_layers};
    CHECK(lt_pass_run("rtn", src, out, &o, &r, &err) == LT_ECANCELLED);
    CHECK(!exists(out) && !exists(tmp));
    /* the whole pass */
    o.progress = NULL;
    for (int m = 0; m < 2; m++) {
        const char *method = m ? "rtn" : "gptq";
        err.msg[0] = 0;
        CHECKF(lt_pass_run(method, src, out, &o, &r, &err) == LT_OK, "%s: %s", method, err.msg);
        CHECK(r.n_matrices + r.n_by_mix == 7 * cfg.n_layers && r.n_matrices > 0);
        CHECK(m || (r.n_windows == 8 && r.window == 128));
        lt_modelsrc *got = NULL;
        CHECK(lt_modelsrc_open_gguf(&got, out, &err) == LT_OK);
        const lt_src_tensor *t = got ? lt_modelsrc_find(got, "blk.1.ffn_down.weight") : NULL;
        CHECK(t && t->dtype == LT_Q4_0);
        lt_modelsrc_close(got);
    }
    CHECK(src_digest(src) == before);
    /* options the pass refuses, naming them */
    o.q.bits = 3;
    CHECK(lt_pass_run("gptq", src, out, &o, &r, &err) == LT_EINVAL && strstr(err.msg, "--bits 3"));
    o.q.bits = 4;
    snprintf(tmp, sizeof tmp, "%s/tiny-hf", dir);
    /* a path without .gguf is an AutoGPTQ folder, which reads back as a GPTQ checkpoint */
    CHECKF(lt_pass_run("gptq", src, tmp, &o, &r, &err) == LT_OK, "%s", err.msg);
    CHECK(!strncmp(r.type_name, "gptq 4-bit", 10) && r.n_matrices > 0 && r.bytes_out > 0);
    lt_modelsrc *back = NULL;
    CHECKF(lt_modelsrc_open(&back, tmp, NULL, &err) == LT_OK, "%s", err.msg);
    const lt_src_tensor *bt = back ? lt_modelsrc_find(back, "blk.0.attn_q.weight") : NULL;
    CHECK(bt && bt->ndim == 2);
    lt_modelsrc_close(back);
    /* --quant-head: the head by GPTQ on the final norm's output, read back as a gq4 lm_head; refused for GGUF */
    o.quant_head = true;
    CHECKF(lt_pass_run("gptq", src, tmp, &o, &r, &err) == LT_OK, "%s", err.msg);
    CHECK(r.head && r.loss > 0);
    back = NULL;
    CHECKF(lt_modelsrc_open(&back, tmp, NULL, &err) == LT_OK, "%s", err.msg);
    bt = back ? lt_modelsrc_find(back, "output.weight") : NULL;
    CHECKF(bt && lt_gq4_block(bt->dtype), "the head: %s", bt ? lt_dtype_name(bt->dtype) : "missing");
    lt_modelsrc_close(back);
    CHECK(lt_pass_run("gptq", src, out, &o, &r, &err) == LT_EINVAL && strstr(err.msg, "--quant-head"));
    o.quant_head = false;
    o.q.bits = 5;
    CHECK(lt_pass_run("gptq", src, tmp, &o, &r, &err) == LT_EINVAL && strstr(err.msg, "--format hf takes --bits"));
    o.q.bits = 4;
    CHECK(lt_pass_run("awq", src, out, &o, &r, &err) == LT_EINVAL && strstr(err.msg, "--method"));
    lt_test_lm_kit_close(&kit);
}

/* ---- the probe and the calibration run --------------------------------------------------------- */

static void rmsnorm_row(const float *x, const float *w, int d, float eps, float *y) {
    double ss = 0;
    for (int i = 0; i < d; i++) ss += (double)x[i] * x[i];
    float s = 1.0f / sqrtf((float)(ss / d) + eps);
    for (int i = 0; i < d; i++) y[i] = x[i] * s * w[i];
}

static void test_probe(void) {
    lt_err err = {0};
    lt_llm_config cfg;
    CHECK(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    lt_modelsrc *src = NULL;
    lt_backend *be = NULL;
    lt_lm *lm = NULL;
    lt_kv_cache *kv = NULL;
    CHECK(lt_llama_synthetic(&src, &cfg, NULL, 9, &err) == LT_OK);
    CHECK(lt_backend_create(&be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    CHECK(lt_llama_open(&lm, src, be, &(lt_lm_opts){.max_batch = 32, .f32_matrices = true}, &err) == LT_OK);
    lt_kv_opts ko = lt_lm_kv_opts(lm, 64, 1);
    CHECK(lt_kv_create(&kv, be, &ko, &err) == LT_OK);
    if (!lm || !kv) return;
    enum { T = 20 };
    int D = cfg.dim, V = cfg.n_vocab, L = cfg.n_layers, sq = 0;
    int32_t tok[T], pos[T], seqs[T];
    bool none[T] = {0};
    CHECK(lt_kv_seq_new(kv, &sq, &err) == LT_OK);
    for (int i = 0; i < T; i++) tok[i] = (i * 37 + 5) % V, pos[i] = i, seqs[i] = sq;
    lt_batch b = {.n_tokens = T, .tokens = tok, .seq = seqs, .pos = pos};
    float *logits = malloc(sizeof(float) * V), *x = malloc(sizeof(float) * T * D), *y = malloc(sizeof(float) * T * D);
    CHECK(lt_lm_forward(lm, kv, &b, logits, &err) == LT_OK);
    /* layer by layer through the probe, then the head by hand: the same logits */
    b.logits = none;
    for (int l = 0; l < L; l++) {
        lt_kv_seq_truncate(kv, sq, 0);
        lt_lm_probe pr = {.first = l, .last = l, .x_in = l ? x : NULL, .x_out = y};
        lm->probe = &pr;
        CHECK(lt_lm_forward(lm, kv, &b, NULL, &err) == LT_OK);
        lm->probe = NULL;
        memcpy(x, y, sizeof(float) * T * D);
    }
    const lt_src_tensor *on = lt_modelsrc_find(src, "output_norm.weight"), *ow = lt_modelsrc_find(src, "output.weight");
    float *hn = malloc(sizeof(float) * D);
    rmsnorm_row(x + (T - 1) * D, on->data, D, cfg.norm_eps, hn);
    double worst = 0;
    for (int v = 0; v < V; v++) {
        double s = 0;
        for (int i = 0; i < D; i++) s += (double)((const float *)ow->data)[(size_t)v * D + i] * hn[i];
        worst = fmax(worst, fabs(s - logits[v]));
    }
    CHECKF(worst < 1e-3, "logits through the probe differ by %g", worst);
    /* the calibration run's first Hessian: x^T x of the attention norm's output */
    int32_t wins[2 * T];
    for (int i = 0; i < 2 * T; i++) wins[i] = tok[i % T] + i / T;
    lt_calib *cal = NULL;
    CHECK(lt_calib_create(&cal, lm, wins, 2, T, &err) == LT_OK);
    double *const *h = NULL;
    int hc[LT_LIN_COUNT];
    CHECK(cal && lt_calib_hessians(cal, 0, &h, hc, NULL, NULL, &err) == LT_OK);
    if (h) {
        const lt_src_tensor *emb = lt_modelsrc_find(src, "token_embd.weight"), *an = lt_modelsrc_find(src, "blk.0.attn_norm.weight");
        double *ref = calloc((size_t)D * D, sizeof(double)), rel = 0, mag = 0;
        for (int t = 0; t < 2 * T; t++) {
            rmsnorm_row((const float *)emb->data + (size_t)wins[t] * D, an->data, D, cfg.norm_eps, hn);
            for (int i = 0; i < D; i++)
                for (int j = 0; j < D; j++) ref[i * D + j] += (double)hn[i] * hn[j];
        }
        for (int i = 0; i < D * D; i++) rel = fmax(rel, fabs(ref[i] - h[LT_LIN_QKV][i])), mag = fmax(mag, fabs(ref[i]));
        CHECK(hc[LT_LIN_QKV] == D && hc[LT_LIN_DOWN] == cfg.hidden_dim);
        CHECKF(rel < 1e-4 * mag, "H of the q/k/v input differs by %g (max %g)", rel, mag);
        free(ref);
    }
    CHECK(lt_calib_advance(cal, 0, NULL, NULL, &err) == LT_OK);
    lt_calib_free(cal);
    /* the head's H (lt_calib_head after the last layer): x^T x of the final norm of the states above,
     * over two identical windows */
    for (int i = 0; i < 2 * T; i++) wins[i] = tok[i % T];
    cal = NULL;
    CHECK(lt_calib_create(&cal, lm, wins, 2, T, &err) == LT_OK);
    for (int l = 0; cal && l + 1 < L; l++) CHECK(lt_calib_advance(cal, l, NULL, NULL, &err) == LT_OK);
    double *hh = NULL;
    int hcols = 0;
    CHECK(cal && lt_calib_head(cal, 0, &hh, &hcols, NULL, NULL, &err) == LT_EINVAL); /* not the last layer */
    CHECKF(cal && lt_calib_head(cal, L - 1, &hh, &hcols, NULL, NULL, &err) == LT_OK, "%s", err.msg);
    if (hh) {
        double *ref = calloc((size_t)D * D, sizeof(double)), rel = 0, mag = 0;
        for (int t = 0; t < T; t++) {
            rmsnorm_row(x + (size_t)t * D, on->data, D, cfg.norm_eps, hn);
            for (int i = 0; i < D; i++)
                for (int j = 0; j < D; j++) ref[i * D + j] += 2.0 * hn[i] * hn[j];
        }
        for (int i = 0; i < D * D; i++) rel = fmax(rel, fabs(ref[i] - hh[i])), mag = fmax(mag, fabs(ref[i]));
        CHECK(hcols == D);
        CHECKF(rel < 1e-4 * mag, "H of the head's input differs by %g (max %g)", rel, mag);
        free(ref);
    }
    lt_calib_free(cal);
    free(logits), free(x), free(y), free(hn);
    lt_kv_free(kv);
    lt_lm_close(lm);
    lt_backend_free(be);
    lt_modelsrc_close(src);
}

int main(void) {
    test_probe();
    test_reference();
    test_beats_rtn();
    test_partial_group();
    test_ggml_exact();
    test_pass();
    return lt_test_done();
}
