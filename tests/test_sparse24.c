/* test_sparse24.c - N:M pruning (core/compress/sparse24.h), the 2:4 weight types s24_f16 / s24_q4
 * (core/base/quants_s24.c, kernels/cpu/qdot_s24.c) and the sparse24 pass.
 *
 * - Every mask (magnitude, wanda, sparsegpt) keeps exactly N of each M (2:4, 4:8, 1:4).
 * - Ties: lt_nm_keep prunes the columns torch.topk(largest=False) picks on the CPU, as the
 *   authors' code does (tests/fixtures/topk/ties.txt, tools/gen_topk_fixtures.py: every pattern
 *   of 4 scores over 4 values, groups of 8, 16, and of 60 that reach introselect's heap select).
 * - The CPU matmul over s24_f16 / s24_q4 equals the dense product of the masked weights (float64
 *   reference), with SIMD on and off; batched rows equal single rows.
 * - On a tiny layer with correlated inputs: ||(W - W')X|| of sparsegpt < wanda < magnitude.
 * - The pass writes a GGUF whose s24 matrices reload bit-exactly (every byte, and the masks keep 2
 *   of 4), left dense where --skip says; bad --mask / --nm / --skip / --bits are errors naming them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/base/dtype.h"
#include "core/base/quants.h"
#include "core/compress/pass.h"
#include "core/compress/sparse24.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/gguf.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/text/tokenizer.h"
#include "kernels/cpu/lt_cpu.h"
#include "models/llama.h"
#include "testutil.h"

static lt_test_rng rng;


enum { ROWS = 24, COLS = 256, NX = 600 };

/* prunes w with mask mk at n:m, bits; checks the counts; returns ||(W - W')X|| */
static double prune_one(const float *w, const float *x, const double *h, lt_sparse_mask mk, int n, int m, int bits) {
    lt_err err = {0};
    lt_sparse_opts o = {.mask = mk, .n = n, .m = m, .bits = bits};
    uint8_t *keep = calloc(ROWS * COLS, 1), *q = calloc(ROWS * COLS, 1);
    float *wq = calloc(ROWS * COLS, 4), *d = calloc(ROWS * COLS / 64, 4), *mm = calloc(ROWS * COLS / 64, 4);
    lt_sparse_out out = {keep, wq, q, d, mm};
    lt_gptq_hinv *hv = NULL;
    if (mk == LT_MASK_SPARSEGPT)
        CHECK(lt_gptq_hinv_create(&hv, h, COLS, &(lt_gptq_opts){.bits = 4}, &err) == LT_OK);
    double loss = -1;
    CHECKF(lt_sparse_prune(w, ROWS, COLS, h, hv, &o, &out, &loss, &err) == LT_OK, "%s", err.msg);
    int bad = 0, zero = 0;
    for (int r = 0; r < ROWS; r++)
        for (int g = 0; g < COLS; g += m) {
            int k = 0;
            for (int j = 0; j < m; j++) {
                k += keep[r * COLS + g + j] != 0;
                zero += !keep[r * COLS + g + j] && wq[r * COLS + g + j] != 0;
            }
            bad += k != n;
        }
    CHECKF(bad == 0 && zero == 0, "%s %d:%d: %d groups without exactly %d kept, %d pruned values not 0",
           lt_sparse_mask_name(mk), n, m, bad, n, zero);
    CHECK(mk == LT_MASK_SPARSEGPT ? loss > 0 : loss == 0);
    if (bits == 4 && n == 2 && m == 4) { /* the packed row holds exactly the chosen weights */
        char row[COLS / 64 * 28];
        float back[COLS];
        int diff = 0;
        for (int r = 0; r < ROWS; r++) {
            lt_sparse_pack_row(LT_S24_Q4, &out, r, COLS, row);
            lt_dtype_row_to_f32(LT_S24_Q4, row, back, COLS);
            for (int c = 0; c < COLS; c++) diff += memcmp(&back[c], &wq[r * COLS + c], 4) != 0;
        }
        CHECKF(diff == 0, "%s 4-bit: %d packed weights differ from the chosen ones", lt_sparse_mask_name(mk), diff);
    }
    double e = lt_test_out_err(w, wq, x, ROWS, COLS, NX);
    lt_gptq_hinv_free(hv);
    free(keep), free(q), free(wq), free(d), free(mm);
    return e;
}

static void test_masks(void) {
    float *w = malloc(sizeof(float) * ROWS * COLS), *x = malloc(sizeof(float) * NX * COLS);
    double *h = malloc(sizeof(double) * COLS * COLS);
    lt_test_fill(&rng, w, ROWS * COLS, 0.1f);
    lt_test_correlated_inputs(&rng, NX, COLS, x, h);
    static const int nm[3][2] = {{2, 4}, {4, 8}, {1, 4}};
    for (int bits = 16; bits >= 4; bits -= 12)
        for (int k = 0; k < 3; k++) {
            if (bits == 4 && k) break;
            double e[3];
            for (int mk = 0; mk < 3; mk++) e[mk] = prune_one(w, x, h, (lt_sparse_mask)mk, nm[k][0], nm[k][1], bits);
            CHECKF(e[LT_MASK_SPARSEGPT] < e[LT_MASK_WANDA] && e[LT_MASK_WANDA] < e[LT_MASK_MAGNITUDE],
                   "%d:%d %d-bit: ||(W - W')X|| sparsegpt %g, wanda %g, magnitude %g", nm[k][0], nm[k][1], bits,
                   e[LT_MASK_SPARSEGPT], e[LT_MASK_WANDA], e[LT_MASK_MAGNITUDE]);
        }
    /* wanda without statistics, sparsegpt without an inverse, bad shapes */
    lt_err err = {0};
    uint8_t keep[64];
    float wq[64];
    lt_sparse_out out = {keep, wq};
    CHECK(lt_sparse_prune(w, 1, 64, NULL, NULL, &(lt_sparse_opts){.mask = LT_MASK_WANDA, .bits = 16}, &out, NULL,
                          &err) == LT_EINVAL && strstr(err.msg, "wanda"));
    CHECK(lt_sparse_prune(w, 1, 64, NULL, NULL, &(lt_sparse_opts){.mask = LT_MASK_SPARSEGPT, .bits = 16}, &out, NULL,
                          &err) == LT_EINVAL && strstr(err.msg, "sparsegpt"));
    CHECK(lt_sparse_prune(w, 1, 60, NULL, NULL, &(lt_sparse_opts){.n = 4, .m = 8, .bits = 16}, &out, NULL, &err) ==
              LT_EINVAL && strstr(err.msg, "4:8"));
    CHECK(lt_sparse_prune(w, 1, 64, NULL, NULL, &(lt_sparse_opts){.n = 4, .m = 8, .bits = 4}, &out, NULL, &err) ==
              LT_EINVAL && strstr(err.msg, "2:4 only"));
    free(w), free(x), free(h);
}

/* ---- the weight types and the CPU matmul -------------------------------------------------------- */

static void test_matmul(lt_dtype t) {
    enum { N = 40, K = 384, T = 7 };
    const size_t rb = lt_row_bytes(t, K);
    float *wf = malloc(N * K * 4), *x = malloc(T * K * 4), *ys = malloc(T * N * 4), *yb = malloc(T * N * 4);
    char *w = malloc(rb * N);
    lt_test_fill(&rng, wf, N * K, 0.1f);
    lt_test_fill(&rng, x, T * K, 1.0f);
    for (int n = 0; n < N; n++) lt_dtype_row_from_f32(t, wf + n * K, w + n * rb, K);
    /* the masked weights as stored: exactly 2 of each 4 nonzero (random weights are never 0) */
    int bad = 0;
    for (int n = 0; n < N; n++) {
        lt_dtype_row_to_f32(t, w + n * rb, wf + n * K, K);
        for (int g = 0; g < K; g += 4) bad += (wf[n * K + g] != 0) + (wf[n * K + g + 1] != 0) +
                                             (wf[n * K + g + 2] != 0) + (wf[n * K + g + 3] != 0) != 2;
    }
    CHECKF(bad == 0, "%s: %d groups of 4 without 2 nonzero weights", lt_dtype_name(t), bad);
    lt_pool *p = NULL;
    lt_err err = {0};
    CHECK(lt_pool_create(&p, 2, &err) == LT_OK);
    for (int simd = 0; simd < 2; simd++) {
        lt_cpu_set_simd(simd);
        for (int r = 0; r < T; r++) lt_cpu_matmul(p, ys + r * N, x + r * K, w, t, NULL, 1, N, K);
        for (int tt = 2; tt <= T; tt++) {
            lt_cpu_matmul(p, yb, x, w, t, NULL, tt, N, K);
            CHECKF(!memcmp(ys, yb, (size_t)tt * N * 4), "%s simd %d: %d rows at once differ from one by one",
                   lt_dtype_name(t), simd, tt);
        }
        double worst = 0;
        for (int r = 0; r < T; r++)
            for (int n = 0; n < N; n++) {
                double ref = 0, mag = 0;
                for (int k = 0; k < K; k++)
                    ref += (double)wf[n * K + k] * x[r * K + k], mag += fabs((double)wf[n * K + k] * x[r * K + k]);
                worst = fmax(worst, fabs(ys[r * N + n] - ref) / mag);
            }
        /* s24_q4 on AVX2 quantizes the activations to int8 per 32 (as q8_1 does for q4_1) */
        const double tol = t == LT_S24_Q4 && simd ? 1e-2 : 1e-6;
        CHECKF(worst < tol, "%s simd %d: the sparse matmul is %g (of sum |w x|) off the dense float64 product",
               lt_dtype_name(t), simd, worst);
    }
    lt_cpu_set_simd(true);
    /* a prefill-sized call (rows widened to f32 for sgemm when OpenBLAS is there; s24_q4 on AVX2
       takes its dot products up to 383 rows) */
    const int TP = t == LT_S24_Q4 ? 400 : 20;
    float *xp = malloc(TP * K * 4), *yp = malloc(TP * N * 4);
    lt_test_fill(&rng, xp, TP * K, 1.0f);
    CHECK(lt_cpu_matmul_prepare(p, t, TP, K));
    lt_cpu_matmul(p, yp, xp, w, t, NULL, TP, N, K);
    double worst = 0;
    for (int r = 0; r < TP; r++)
        for (int n = 0; n < N; n++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; k++)
                ref += (double)wf[n * K + k] * xp[r * K + k], mag += fabs((double)wf[n * K + k] * xp[r * K + k]);
            worst = fmax(worst, fabs(yp[r * N + n] - ref) / mag);
        }
    CHECKF(worst < 1e-5, "%s: %d rows at once are %g (of sum |w x|) off the float64 product", lt_dtype_name(t), TP,
           worst);
    free(xp), free(yp);
    lt_pool_free(p);
    free(wf), free(x), free(ys), free(yb), free(w);
}

/* A file whose position bits repeat a column (hand-made: lathe's writers never do it) is refused
 * when the model loads, naming the tensor - the kernels and the element-wise decode would read it
 * differently. */
static void check_malformed(const lt_modelsrc *got, const char *path, lt_backend *be) {
    lt_block_s24_f16 b[4];
    float w[64];
    for (int i = 0; i < 64; i++) w[i] = (float)((i * 37) % 11) - 5.0f;
    lt_quantize_row_s24_f16(w, b, 64);
    CHECK(lt_s24_check(LT_S24_F16, b, 64) == -1);
    b[2].meta = (uint16_t)(b[2].meta & ~3u); /* group 0 of block 2: p0 = 0 */
    b[2].meta = (uint16_t)(b[2].meta & ~(3u << 2)); /* p1 = 0 too */
    CHECK(lt_s24_check(LT_S24_F16, b, 64) == 2);
    CHECK(lt_s24_check(LT_F32, w, 64) == -1);

    const lt_src_tensor *t = lt_modelsrc_find(got, "blk.0.ffn_up.weight");
    size_t n = 0;
    char *bytes = lt_test_read_file(path, &n);
    CHECK(t && bytes && t->nbytes >= 64);
    if (!t || !bytes) {
        free(bytes);
        return;
    }
    size_t at = n;
    for (size_t i = 0; i + t->nbytes <= n; i++)
        if (!memcmp(bytes + i, t->data, t->nbytes)) {
            at = i;
            break;
        }
    CHECK(at < n);
    if (at < n) {
        lt_block_s24_f16 first;
        memcpy(&first, bytes + at, sizeof first);
        first.meta = (uint16_t)(first.meta | 3u | (3u << 2)); /* group 0 keeps column 3 twice */
        memcpy(bytes + at, &first, sizeof first);
        char bad[1100];
        snprintf(bad, sizeof bad, "%s.bad.gguf", path);
        FILE *f = fopen(bad, "wb");
        CHECK(f && fwrite(bytes, 1, n, f) == n);
        if (f) fclose(f);
        lt_err err = {0};
        lt_modelsrc *src = NULL;
        lt_lm *lm = NULL;
        CHECKF(lt_modelsrc_open_gguf(&src, bad, &err) == LT_OK, "%s", err.msg);
        CHECK(src && lt_llama_open(&lm, src, be, &(lt_lm_opts){.max_batch = 4, .max_logits = 1}, &err) == LT_EFORMAT);
        CHECKF(strstr(err.msg, "blk.0.ffn_up.weight") && strstr(err.msg, "malformed 2:4"), "%s", err.msg);
        lt_lm_close(lm);
        lt_modelsrc_close(src);
    }
    free(bytes);
}

/* ---- the pass ---------------------------------------------------------------------------------- */

static void test_pass(void) {
    lt_err err = {0};
    lt_llm_config cfg;
    CHECK(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.n_vocab = 512;
    cfg.dim = 128, cfg.hidden_dim = 192, cfg.n_heads = 8, cfg.head_dim = 16; /* rows of 64 (s24_q4's block) */
    lt_test_lm_kit kit;
    if (!lt_test_lm_kit_open(&kit, &cfg, 5)) return;
    lt_modelsrc *src = kit.src;
    lt_tokenizer *tok = kit.tok;
    lt_backend *be = kit.be;
    char out[1024];
    snprintf(out, sizeof out, "%s/tiny-s24.gguf", lt_test_tmpdir("sparse24"));
    static const char *const masks[] = {"magnitude", "wanda", "sparsegpt"};
    for (int k = 0; k < 4; k++) {
        lt_pass_args a;
        lt_pass_args_default(&a);
        a.method = "sparse24", a.mask = masks[k % 3], a.calib = lt_test_path("assets/text/tinyshakespeare-head.txt");
        a.calib_tokens = 512;
        if (k == 3) a.bits = 4, a.skip = "blk.0.*,*.ffn_down*";
        lt_pass_opts o = {0};
        CHECKF(lt_pass_args_apply(&a, &o, &err) == LT_OK, "%s", err.msg);
        o.calib.window = 128, o.open_lm = lt_llama_open, o.be = be, o.tok = tok;
        lt_pass_report r;
        CHECKF(lt_pass_run("sparse24", src, out, &o, &r, &err) == LT_OK, "%s: %s", masks[k % 3], err.msg);
        const lt_dtype want = k == 3 ? LT_S24_Q4 : LT_S24_F16;
        CHECK(r.n_matrices + r.n_skipped == 7 * cfg.n_layers && !strcmp(r.type_name, lt_dtype_name(want)));
        CHECK(k == 3 ? r.n_skipped == 7 + (cfg.n_layers - 1) : r.n_skipped == 0);
        lt_modelsrc *got = NULL;
        CHECKF(lt_modelsrc_open_gguf(&got, out, &err) == LT_OK, "%s", err.msg);
        if (!got) continue;
        /* lathe's keys */
        lt_gguf *g = NULL;
        CHECK(lt_gguf_open(&g, out, &err) == LT_OK);
        lt_gguf_str sv = {0}, mv = {0};
        CHECK(g && lt_gguf_get_str(g, "lathe.sparsity", &sv, &err) == LT_OK &&
              lt_gguf_get_str(g, "lathe.sparsity.mask", &mv, &err) == LT_OK);
        CHECK(sv.n == 3 && !memcmp(sv.p, "2:4", 3) && mv.n == strlen(masks[k % 3]) && !memcmp(mv.p, masks[k % 3], mv.n));
        lt_gguf_close(g);
        for (int l = 0; l < cfg.n_layers; l++) {
            char nm[64];
            snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", l);
            const lt_src_tensor *t = lt_modelsrc_find(got, nm), *s = lt_modelsrc_find(src, nm);
            const bool dense = k == 3 && l == 0;
            CHECKF(t && t->dtype == (dense ? s->dtype : want), "%s: %s", nm, t ? lt_dtype_name(t->dtype) : "missing");
            if (dense && t) CHECK(t->nbytes == s->nbytes && !memcmp(t->data, s->data, t->nbytes));
            snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
            t = lt_modelsrc_find(got, nm);
            CHECK(t && (k == 3 ? t->dtype != want : t->dtype == want));
        }
        /* bit-exact reload: written again from what was read, the file's bytes do not change */
        char again[1100];
        snprintf(again, sizeof again, "%s.again.gguf", out);
        CHECKF(lt_modelsrc_write_gguf(got, again, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
        lt_modelsrc *g2 = NULL;
        CHECK(lt_modelsrc_open_gguf(&g2, again, &err) == LT_OK);
        int diff = 0;
        for (int i = 0; g2 && i < lt_modelsrc_n_tensors(got); i++) {
            const lt_src_tensor *t = lt_modelsrc_tensor(got, i), *u = lt_modelsrc_find(g2, t->name);
            diff += !u || u->dtype != t->dtype || u->nbytes != t->nbytes || memcmp(u->data, t->data, t->nbytes);
        }
        CHECKF(g2 && diff == 0, "%d tensors differ after a reload", diff);
        lt_modelsrc_close(g2);
        /* the model opens and runs on the s24 weights */
        lt_lm *lm = NULL;
        CHECKF(lt_llama_open(&lm, got, be, &(lt_lm_opts){.max_batch = 4, .max_logits = 1}, &err) == LT_OK, "%s",
               err.msg);
        lt_lm_close(lm);
        if (k == 0) check_malformed(got, out, be);
        if (k == 0) { /* --format hf: compressed-tensors sparse-24-bitmask, the same blocks (test_ct.c: the layout) */
            char hdir[1100];
            snprintf(hdir, sizeof hdir, "%s/tiny-s24-ct", lt_test_tmpdir("sparse24_ct"));
            static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json",
                                                "tokenizer_config.json"};
            char fp[1200];
            for (size_t f = 0; f < sizeof files / sizeof *files; f++) { /* a previous run's folder */
                snprintf(fp, sizeof fp, "%s/%s", hdir, files[f]);
                remove(fp);
            }
            remove(hdir);
            o.format = "hf";
            CHECKF(lt_pass_run("sparse24", src, hdir, &o, &r, &err) == LT_OK, "hf: %s", err.msg);
            CHECK(!strcmp(r.type_name, "compressed-tensors 2:4 f16"));
            lt_modelsrc *h = NULL;
            CHECKF(lt_modelsrc_open_hf(&h, hdir, &err) == LT_OK, "hf reload: %s", err.msg);
            int n = 0, same = 0;
            for (int i = 0; h && i < lt_modelsrc_n_tensors(got); i++) {
                const lt_src_tensor *t = lt_modelsrc_tensor(got, i), *u = lt_modelsrc_find(h, t->name);
                if (t->dtype != LT_S24_F16 || strstr(t->name, "attn_q") || strstr(t->name, "attn_k")) continue;
                n++; /* q/k rows are in Hugging Face's rope order there */
                same += u && u->dtype == t->dtype && u->nbytes == t->nbytes && !memcmp(u->data, t->data, t->nbytes);
            }
            CHECKF(n == 5 * cfg.n_layers && same == n, "hf: %d of %d s24 matrices equal the GGUF's", same, n);
            lt_modelsrc_close(h);
            o.sp.bits = 4;
            CHECK(lt_pass_run("sparse24", src, hdir, &o, &r, &err) == LT_EUNSUPPORTED && strstr(err.msg, "GGUF only"));
        }
        lt_modelsrc_close(got);
    }
    /* errors naming the option */
    static const struct {
        const char *method, *mask, *nm, *skip;
        int bits;
        const char *want;
    } bad[] = {
        {"sparse24", "random", NULL, NULL, 0, "--mask 'random'"}, {"sparse24", NULL, "2-4", NULL, 0, "--nm '2-4'"},
        {"sparse24", NULL, "4:4", NULL, 0, "--nm '4:4'"},         {"sparse24", NULL, "4:8", NULL, 4, "2:4 only"},
        {"sparse24", NULL, NULL, NULL, 8, "not 8"},                {"gptq", "wanda", NULL, NULL, 0, "--mask is for"},
        {"rtn", NULL, NULL, "blk.0.*", 0, "--skip is for"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lt_pass_args a;
        lt_pass_args_default(&a);
        a.method = bad[i].method, a.mask = bad[i].mask, a.nm = bad[i].nm, a.skip = bad[i].skip, a.bits = bad[i].bits;
        lt_pass_opts o = {0};
        err.msg[0] = 0;
        CHECKF(lt_pass_args_apply(&a, &o, &err) == LT_EINVAL && strstr(err.msg, bad[i].want), "case %zu: %s", i,
               err.msg);
    }
    lt_pass_args a;
    lt_pass_args_default(&a);
    a.method = "sparse24", a.mask = "magnitude", a.skip = "blk.0.*,attn_qq*";
    lt_pass_opts o = {0};
    CHECK(lt_pass_args_apply(&a, &o, &err) == LT_OK);
    lt_pass_report r;
    CHECK(lt_pass_run("sparse24", src, out, &o, &r, &err) == LT_EINVAL && strstr(err.msg, "'attn_qq*' matches no"));
    a.skip = "blk.0.*,,x";
    CHECK(lt_pass_args_apply(&a, &o, &err) == LT_OK);
    CHECK(lt_pass_run("sparse24", src, out, &o, &r, &err) == LT_EINVAL && strstr(err.msg, "empty"));
    o.skip = NULL, o.format = "parquet";
    CHECK(lt_pass_run("sparse24", src, out, &o, &r, &err) == LT_EINVAL && strstr(err.msg, "--format 'parquet'"));
    lt_test_lm_kit_close(&kit);
}

static void test_topk_ties(void) {
    FILE *f = fopen(lt_test_path("tests/fixtures/topk/ties.txt"), "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[1024];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        int m, k, off;
        if (sscanf(line, "%d %d |%n", &m, &k, &off) != 2 || m < 2 || m > 64 || k < 1 || k >= m) {
            CHECKF(0, "bad fixture line: %s", line);
            break;
        }
        float sc[64];
        uint8_t keep[64], want[64] = {0};
        char *p = line + off;
        for (int i = 0; i < m; i++) sc[i] = strtof(p, &p);
        p = strchr(p, '|');
        for (int i = 0; p && i < k; i++) {
            long c = strtol(p + (i == 0), &p, 10);
            if (c >= 0 && c < m) want[c] = 1;
        }
        lt_nm_keep(sc, m, m - k, m, keep);
        int ok = 1;
        for (int i = 0; i < m; i++) ok &= (keep[i] == 0) == (want[i] == 1);
        if (!ok && bad++ < 5) CHECKF(0, "ties: %s", line);
        n++;
    }
    fclose(f);
    CHECKF(n >= 1000 && bad == 0, "%d groups, %d differ from torch.topk", n, bad);
}

int main(void) {
    lt_test_rng_seed(&rng, 24);
    test_topk_ties();
    test_masks();
    test_matmul(LT_S24_F16);
    test_matmul(LT_S24_Q4);
    test_pass();
    return lt_test_done();
}
