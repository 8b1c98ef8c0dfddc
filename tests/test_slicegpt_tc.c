/* test_slicegpt_tc.c - lathe's forward of a SliceGPT model against the authors' own
 * (microsoft/TransformerCompression): the folder their code sliced and saved
 * (tests/fixtures/slicegpt-tiny, tools/gen_slicegpt_fixtures.py: a GQA Llama sliced 25% by
 * rotate_and_slice), opened as lathe opens any model and run on the fixture's token sequence;
 * every position's logits must match their sliced model's (logits.f32, computed in float32 from
 * the float16 weights they saved) within 1e-4 relative. The same after the folder is written
 * again by lathe (lt_modelsrc_write_slicegpt) and converted to GGUF.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_open.h"
#include "core/formats/modelsrc_slicegpt.h"
#include "core/llm/kv_cache.h"
#include "core/llm/lm.h"
#include "models/llama.h"
#include "tests/testutil.h"

#define FIX "tests/fixtures/slicegpt-tiny"

typedef struct expected {
    int32_t tokens[64];
    int n, V;
    float *logits; /* [n, V] */
} expected;

static bool load_expected(expected *e) {
    size_t len = 0;
    char *text = lt_test_read_file(lt_test_path(FIX "/expected.json"), &len);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!j) return false;
    e->n = 0;
    for (const cJSON *t = cJSON_GetObjectItem(j, "tokens")->child; t && e->n < 64; t = t->next)
        e->tokens[e->n++] = (int32_t)t->valueint;
    e->V = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "logits_shape"), 1)->valueint;
    cJSON_Delete(j);
    size_t nb = 0;
    e->logits = (float *)lt_test_read_file(lt_test_path(FIX "/logits.f32"), &nb);
    return e->logits && nb == (size_t)e->n * (size_t)e->V * sizeof(float);
}

/* the largest relative error over the positions (max |a-b| / max |b| per row), -1 on failure */
static double run(const char *path, lt_backend *be, const expected *e) {
    lt_err err = {0};
    lt_modelsrc *src = NULL;
    if (lt_modelsrc_open(&src, path, NULL, &err) != LT_OK) {
        CHECKF(0, "%s: %s", path, err.msg);
        return -1;
    }
    lt_lm *m = NULL;
    lt_lm_opts o = {.max_batch = 8}; /* the sequence in two chunks */
    lt_status st = lt_llama_open(&m, src, be, &o, &err);
    lt_modelsrc_close(src);
    if (st != LT_OK) {
        CHECKF(0, "%s: open: %s", path, err.msg);
        return -1;
    }
    CHECK(m->cfg.n_vocab == e->V);
    lt_kv_opts ko = lt_lm_kv_opts(m, e->n + 1, 1);
    lt_kv_cache *kv = NULL;
    int seq = -1;
    double worst = -1;
    float *lg = malloc((size_t)e->n * (size_t)e->V * sizeof(float));
    if (lt_kv_create(&kv, be, &ko, &err) == LT_OK && lt_kv_seq_new(kv, &seq, &err) == LT_OK &&
        lt_lm_eval(m, kv, seq, e->tokens, e->n, true, lg, &err) == LT_OK) {
        worst = 0;
        for (int r = 0; r < e->n; r++) {
            double rel = lt_test_rel_err_ff(lg + (size_t)r * e->V, e->logits + (size_t)r * e->V, e->V);
            if (rel > worst) worst = rel;
        }
    } else {
        CHECKF(0, "%s: eval: %s", path, err.msg);
    }
    free(lg);
    lt_kv_free(kv);
    lt_lm_close(m);
    return worst;
}

int main(void) {
    expected e = {0};
    CHECKF(load_expected(&e), "the fixture %s", FIX);
    lt_backend *be = NULL;
    lt_err err = {0};
    if (!e.logits || lt_backend_create(&be, "cpu", NULL, &err) != LT_OK) return lt_test_done();
    const char *fix = lt_test_path(FIX);
    double rel = run(fix, be, &e);
    CHECKF(rel >= 0 && rel < 1e-4, "their folder: logits differ from their model's by %.3g relative", rel);
    printf("their folder: largest relative logit difference %.3g\n", rel);
    /* written again by lathe, and as GGUF: the same model */
    lt_modelsrc *src = NULL;
    char out[600], gguf[700];
    snprintf(out, sizeof out, "%s", lt_test_tmpdir("slicegpt_tc"));
    snprintf(gguf, sizeof gguf, "%s/sliced.gguf", out);
    CHECK(lt_modelsrc_open(&src, fix, NULL, &err) == LT_OK);
    if (src) {
        CHECKF(lt_modelsrc_write_slicegpt(src, out, NULL, &err) == LT_OK, "%s", err.msg);
        CHECKF(lt_modelsrc_write_gguf(src, gguf, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
        lt_modelsrc_close(src);
        rel = run(out, be, &e);
        CHECKF(rel >= 0 && rel < 1e-4, "lathe's folder: %.3g relative", rel);
        rel = run(gguf, be, &e);
        CHECKF(rel >= 0 && rel < 1e-4, "as GGUF: %.3g relative", rel);
    }
    free(e.logits);
    lt_backend_free(be);
    return lt_test_done();
}
