/* test_gptq_k.c - GPTQ onto ggml's K-quant grids (core/compress/gptq.h lt_gptq_run_k,
 * gq_gguf.h lt_gq_k_*) and compress --mix (pass.h) on a tiny synthetic model.
 *
 * - For q2_K .. q6_K, with and without act-order, on random layers with correlated inputs:
 *   the blocks dequantize (lathe's GGML formulas, lt_dtype_row_to_f32) to exactly the weights
 *   GPTQ chose and propagated, and the layer-output error ||(W - Q) X^T|| is below plain
 *   quantization's (ggml's quantizer, what llama-quantize writes without an importance matrix).
 * - With nothing to feed forward (H = I: no off-diagonal terms, so each column is rounded on
 *   its own) the blocks are byte for byte ggml's own quantization of the row - the scales are
 *   ggml's and the codes its rounding (lathe's quantizer is GGML's byte for byte: test_quants).
 * - The pass with --mix Q4_K_M / Q3_K_M / Q6_K on a model whose rows are 256 (K-quants) and 320
 *   (ffn_down: the fallbacks q5_0 / q4_0 / q8_0) writes every tensor in the type lathe quantize
 *   plans for that mix (quantmix.c, llama-quantize's rules), with every block matrix done by
 *   GPTQ; --mix with other methods, a Hugging Face folder or --bits is refused by name.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "core/compress/gptq.h"
#include "core/compress/gq_gguf.h"
#include "core/compress/pass.h"
#include "core/compress/quantize.h"
#include "core/compress/quantmix.h"
#include "core/formats/modelsrc_gguf.h"
#include "kernels/lt_quants.h"
#include "models/llama.h"
#include "testutil.h"

static const lt_dtype k_types[] = {LT_Q2_K, LT_Q3_K, LT_Q4_K, LT_Q5_K, LT_Q6_K};

/* GPTQ of w [rows x cols] with the Hessian h onto type t (act-order ao): the blocks (malloc'd; NULL
 * after a failed check), the weights it chose into wq and its loss into *loss when not NULL */
static char *run_k(const float *w, int rows, int cols, const double *h, lt_dtype t, int ao, float *wq, double *loss) {
    char *blocks = malloc(lt_row_bytes(t, cols) * rows);
    lt_gptq_opts o = {.act_order = ao};
    lt_gptq_hinv *hv = NULL;
    lt_err err = {0};
    CHECK(lt_gptq_hinv_create(&hv, h, cols, &o, &err) == LT_OK);
    lt_status st = hv ? lt_gptq_run_k(w, rows, cols, hv, t, &o, blocks, wq, loss, &err) : LT_EINVAL;
    CHECKF(st == LT_OK, "%s (act-order %d): %s", lt_dtype_name(t), ao, err.msg);
    lt_gptq_hinv_free(hv);
    if (st != LT_OK) free(blocks);
    return st == LT_OK ? blocks : NULL;
}

static void test_exact_and_better(void) {
    enum { ROWS = 16, COLS = 512, N = 1024 };
    lt_test_rng rng;
    lt_test_rng_seed(&rng, 11);
    float *x = malloc(sizeof(float) * N * COLS), *w = malloc(sizeof(float) * ROWS * COLS);
    float *wq = malloc(sizeof(float) * ROWS * COLS), *d = malloc(sizeof(float) * ROWS * COLS);
    float *p = malloc(sizeof(float) * ROWS * COLS);
    double *h = malloc(sizeof(double) * COLS * COLS);
    lt_test_correlated_inputs(&rng, N, COLS, x, h);
    lt_test_fill(&rng, w, ROWS * COLS, 0.05f);
    for (int i = 0; i < ROWS * COLS; i += 37) w[i] *= 6; /* a few outliers, as real weights have */
    for (int k = 0; k < 5; k++)
        for (int ao = 0; ao < 2; ao++) {
            const lt_dtype t = k_types[k];
            const size_t rb = lt_row_bytes(t, COLS);
            double loss = -1;
            char *blocks = run_k(w, ROWS, COLS, h, t, ao, wq, &loss), *plain = malloc(rb * ROWS);
            if (!blocks) {
                free(plain);
                continue;
            }
            for (int r = 0; r < ROWS; r++) {
                lt_dtype_row_to_f32(t, blocks + r * rb, d + r * COLS, COLS);
                lt_dtype_row_from_f32(t, w + r * COLS, plain + r * rb, COLS);
                lt_dtype_row_to_f32(t, plain + r * rb, p + r * COLS, COLS);
            }
            CHECKF(!memcmp(d, wq, sizeof(float) * ROWS * COLS), "%s (act-order %d): the blocks differ from GPTQ's "
                   "weights", lt_dtype_name(t), ao);
            double eg = lt_test_out_err(w, wq, x, ROWS, COLS, N), ep = lt_test_out_err(w, p, x, ROWS, COLS, N);
            printf("%s act-order %d: output error gptq %.4g, plain %.4g (%.2fx)\n", lt_dtype_name(t), ao, eg, ep,
                   ep / eg);
            CHECKF(eg < ep, "%s (act-order %d): gptq %g, plain %g", lt_dtype_name(t), ao, eg, ep);
            CHECK(loss > 0);
            free(blocks), free(plain);
        }
    free(x), free(w), free(wq), free(d), free(p), free(h);
}

static void test_identity_is_ggml(void) {
    enum { ROWS = 8, COLS = 768 };
    lt_test_rng rng;
    lt_test_rng_seed(&rng, 5);
    float *w = malloc(sizeof(float) * ROWS * COLS);
    double *h = calloc((size_t)COLS * COLS, sizeof(double));
    lt_test_fill(&rng, w, ROWS * COLS, 0.02f);
    for (int i = 0; i < ROWS * COLS; i += 53) w[i] *= 8;
    for (int i = 0; i < COLS; i++) h[(size_t)i * COLS + i] = 1;
    for (int k = 0; k < 5; k++)
        for (int ao = 0; ao < 2; ao++) {
            const lt_dtype t = k_types[k];
            const size_t rb = lt_row_bytes(t, COLS);
            char *blocks = run_k(w, ROWS, COLS, h, t, ao, NULL, NULL), *plain = malloc(rb * ROWS);
            if (!blocks) {
                free(plain);
                continue;
            }
            for (int r = 0; r < ROWS; r++) lt_dtype_row_from_f32(t, w + r * COLS, plain + r * rb, COLS);
            CHECKF(!memcmp(blocks, plain, rb * ROWS), "%s (act-order %d): H = I is not ggml's quantization",
                   lt_dtype_name(t), ao);
            free(blocks), free(plain);
        }
    /* bad input, named */
    lt_gptq_hinv *hv = NULL;
    lt_gptq_opts o = {0};
    lt_err err = {0};
    CHECK(lt_gptq_hinv_create(&hv, h, 256, &o, &err) == LT_OK);
    char buf[256 * 210];
    CHECK(lt_gptq_run_k(w, 1, 256, hv, LT_Q4_0, &o, buf, NULL, NULL, &err) == LT_EINVAL && strstr(err.msg, "q4_0"));
    lt_gptq_hinv_free(hv);
    free(w), free(h);
}

static void test_pass_mix(void) {
    lt_err err = {0};
    lt_llm_config cfg;
    CHECK(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.n_vocab = 512; /* tok512.bin */
    cfg.dim = 256, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.head_dim = 64, cfg.hidden_dim = 320; /* ffn_down's rows: 320, not 256s */
    lt_test_lm_kit kit;
    if (!lt_test_lm_kit_open(&kit, &cfg, 9)) return;
    const char *dir = lt_test_tmpdir("gptq_k");
    char out[1024];
    snprintf(out, sizeof out, "%s/tiny-k.gguf", dir);
    lt_pass_opts o = {.q = {.bits = 4, .group = 32, .act_order = true},
                      .calib = {.file = lt_test_path("assets/text/tinyshakespeare-head.txt"), .n_tokens = 1024,
                                .window = 128},
                      .open_lm = lt_llama_open, .be = kit.be, .tok = kit.tok};
    static const char *mixes[] = {"Q4_K_M", "Q3_K_M", "Q6_K"};
    const int nt = lt_modelsrc_n_tensors(kit.src);
    lt_dtype *plan = calloc((size_t)nt, sizeof *plan);
    for (int mi = 0; mi < 3; mi++) {
        o.mix = mixes[mi];
        lt_pass_report r;
        err.msg[0] = 0;
        CHECKF(lt_pass_run("gptq", kit.src, out, &o, &r, &err) == LT_OK, "%s: %s", mixes[mi], err.msg);
        CHECKF(r.n_matrices == 7 * cfg.n_layers && r.n_by_mix == 0, "%s: %d by gptq, %d by the mix", mixes[mi],
               r.n_matrices, r.n_by_mix);
        lt_quantmix mix;
        lt_quantize_report qr;
        CHECK(lt_quantmix_parse(mixes[mi], false, &mix, &err) == LT_OK);
        CHECK(lt_quantize_plan(kit.src, &mix, plan, &qr, &err) == LT_OK);
        lt_modelsrc *got = NULL;
        CHECKF(lt_modelsrc_open_gguf(&got, out, &err) == LT_OK, "%s", err.msg);
        int n_k = 0, n_fb = 0;
        for (int i = 0; got && i < nt; i++) {
            const lt_src_tensor *s = lt_modelsrc_tensor(kit.src, i), *g = lt_modelsrc_find(got, s->name);
            CHECKF(g && g->dtype == plan[i], "%s: %s is %s, lathe quantize plans %s", mixes[mi], s->name,
                   g ? lt_dtype_name(g->dtype) : "missing", lt_dtype_name(plan[i]));
            if (strncmp(s->name, "blk.", 4)) continue;
            n_k += lt_gq_k_sub(plan[i]) > 0;
            n_fb += s->ndim == 2 && !lt_gq_k_sub(plan[i]);
        }
        CHECKF(n_k >= 6 * cfg.n_layers && n_fb >= cfg.n_layers, "%s: %d K-quant block matrices, %d others", mixes[mi],
               n_k, n_fb);
        CHECK(!strcmp(r.type_name, mix.name) || strstr(r.type_name, mix.name));
        lt_modelsrc_close(got);
    }
    free(plan);
    /* refused, by name */
    CHECK(lt_pass_run("sparse24", kit.src, out, &o, NULL, &err) == LT_EINVAL && strstr(err.msg, "--mix"));
    char hf[1100];
    snprintf(hf, sizeof hf, "%s/tiny-k-hf", dir);
    CHECK(lt_pass_run("gptq", kit.src, hf, &o, NULL, &err) == LT_EINVAL && strstr(err.msg, "--mix"));
    o.mix = "Q4_K_Q";
    CHECK(lt_pass_run("gptq", kit.src, out, &o, NULL, &err) == LT_EINVAL && strstr(err.msg, "Q4_K_Q"));
    lt_pass_args a;
    lt_pass_args_default(&a);
    a.mix = "Q4_K_M", a.bits = 4;
    lt_pass_opts po = {0};
    CHECK(lt_pass_args_apply(&a, &po, &err) == LT_EINVAL && strstr(err.msg, "--bits"));
    a.bits = 0, a.method = "smoothquant+";
    CHECK(lt_pass_args_apply(&a, &po, &err) == LT_EINVAL && strstr(err.msg, "--mix"));
    a.method = "gptq";
    CHECK(lt_pass_args_apply(&a, &po, &err) == LT_OK && po.mix && po.q.act_order);
    lt_test_lm_kit_close(&kit);
}

int main(void) {
    test_identity_is_ggml();
    test_exact_and_better();
    test_pass_mix();
    return lt_test_done();
}
