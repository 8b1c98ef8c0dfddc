/* test_creport.c - the compression report (core/compress/report.h) on the bundled stories260K
 * and a round-to-nearest copy of it (lt_pass_run "rtn" to a temp GGUF): the copy has fewer
 * bits per weight and a KL divergence above 0, the original KLD 0 and top-1 100%, every
 * perplexity finite and above 1, speeds measured; the table names both; cancelling stops it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/base/alloc.h"
#include "core/compress/pass.h"
#include "core/compress/report.h"
#include "core/formats/modelsrc_open.h"
#include "core/llm/ppl.h"
#include "core/text/tokenizer.h"
#include "models/llama.h"
#include "testutil.h"

static bool stop_now(void *ud, const lt_creport_event *e) {
    (void)ud;
    return e->model == 0 && e->frac < 0.1;
}

int main(void) {
    lt_err err = {0};
    lt_backend *be = NULL;
    lt_modelsrc *src = NULL, *src4 = NULL;
    lt_vocab *v = NULL;
    lt_tokenizer *tok = NULL;
    CHECK(lt_backend_create(&be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    CHECKF(lt_modelsrc_open(&src, lt_test_path("assets/models/stories260K.bin"), NULL, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_vocab_from_llama2c(&v, lt_test_path("assets/models/tok512.bin"), 512, &err) == LT_OK, "%s", err.msg);
    CHECK(lt_tok_create(&tok, v, &err) == LT_OK);
    if (!be || !src || !tok) return lt_test_done();
    char out[1024];
    snprintf(out, sizeof out, "%s/rtn.gguf", lt_test_tmpdir("creport"));
    lt_pass_opts po = {.q = {.bits = 4, .group = 32, .sym = true}};
    lt_pass_report pr;
    CHECKF(lt_pass_run("rtn", src, out, &po, &pr, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_modelsrc_open(&src4, out, NULL, &err) == LT_OK, "%s", err.msg);
    lt_lm *lm[2] = {0};
    lt_kv_cache *kv[2] = {0};
    const lt_modelsrc *s[2] = {src, src4};
    for (int i = 0; i < 2 && s[i]; i++) {
        CHECK(lt_llama_open(&lm[i], s[i], be, &(lt_lm_opts){.max_logits = 128}, &err) == LT_OK);
        lt_kv_opts ko = lt_lm_kv_opts(lm[i], 128, 4);
        if (lm[i]) CHECK(lt_kv_create(&kv[i], be, &ko, &err) == LT_OK);
    }
    int32_t *ids = NULL;
    int64_t n = 0;
    CHECK(lt_ppl_tokenize_file(tok, lt_test_path("assets/text/tinyshakespeare-head.txt"), &ids, &n, &err) == LT_OK);
    if (kv[0] && kv[1] && ids) {
        lt_creport_model m[2] = {{"orig", lm[0], kv[0], src}, {"rtn", lm[1], kv[1], src4}};
        lt_creport_opts o = {.ids = ids, .n_ids = n, .ctx = 128, .n_chunks = 3, .batch = 128, .bos = lt_ppl_bos(tok),
                             .n_prompt = 16, .n_gen = 8};
        lt_creport r;
        CHECKF(lt_creport_run(m, 2, &o, &r, &err) == LT_OK, "%s", err.msg);
        CHECK(r.n == 2 && r.n_chunks == 3 && r.ctx == 128);
        CHECK(r.rows[0].kld == 0 && r.rows[0].top1 == 1);
        CHECKF(r.rows[1].kld > 0 && r.rows[1].top1 < 1, "kld %g top1 %g", r.rows[1].kld, r.rows[1].top1);
        CHECKF(r.rows[1].bpw < r.rows[0].bpw && r.rows[0].bpw == 32, "bpw %g %g", r.rows[0].bpw, r.rows[1].bpw);
        CHECK(r.rows[1].bytes < r.rows[0].bytes && r.rows[0].n_weights == r.rows[1].n_weights);
        for (int i = 0; i < 2; i++) {
            CHECKF(isfinite(r.rows[i].ppl) && r.rows[i].ppl > 1 && isfinite(r.rows[i].ppl_all) && r.rows[i].ppl_all > 1,
                   "ppl %g %g", r.rows[i].ppl, r.rows[i].ppl_all);
            CHECK(r.rows[i].prefill_tps > 0 && r.rows[i].decode_tps > 0);
        }
        CHECK(r.rows[0].ppl != r.rows[1].ppl);
        char text[2048];
        lt_creport_format(&r, text, sizeof text);
        CHECK(strstr(text, "orig ") && strstr(text, "rtn ") && strstr(text, "KLD"));
        /* the transcript's table fits 80 columns, also with a long model name (then on a line of its own) */
        snprintf(r.rows[1].name, sizeof r.rows[1].name, "smollm2-sparsegpt-2of4-q4");
        snprintf(r.text, sizeof r.text, "a-rather-long-held-out-text-file-name-for-scoring.txt");
        r.rows[1].ppl = 12345.678, r.rows[1].prefill_tps = 98765.4;
        size_t len = lt_creport_format(&r, text, sizeof text);
        CHECK(len < sizeof text);
        int lines = 0, widest = 0;
        for (const char *p = text; *p; lines++) {
            const char *e = strchr(p, '\n');
            CHECKF(e != NULL, "a line without its newline: %s", p);
            if (!e) break;
            if ((int)(e - p) > widest) widest = (int)(e - p);
            p = e + 1;
        }
        CHECKF(widest <= 80, "a line of %d columns:\n%s", widest, text);
        CHECKF(lines == 7 && strstr(text, "\nsmollm2-sparsegpt-2of4-q4\n"), "%d lines:\n%s", lines, text);
        /* without a source: the weights held over the matrices' parameters */
        m[1].src = NULL;
        o.n_gen = -1;
        CHECKF(lt_creport_run(m, 2, &o, &r, &err) == LT_OK, "%s", err.msg);
        CHECK(r.rows[1].bpw > 4 && r.rows[1].bpw < 16 && r.rows[1].decode_tps == 0);
        o.progress = stop_now;
        CHECK(lt_creport_run(m, 2, &o, &r, &err) == LT_ECANCELLED);
        CHECK(lt_creport_run(m, 0, &o, &r, &err) == LT_EINVAL);
    }
    lt_free(ids);
    for (int i = 0; i < 2; i++) lt_kv_free(kv[i]), lt_lm_close(lm[i]);
    lt_modelsrc_close(src), lt_modelsrc_close(src4);
    lt_tok_free(tok);
    lt_backend_free(be);
    return lt_test_done();
}
