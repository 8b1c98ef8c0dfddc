/* test_slicegpt.c - SliceGPT (issue #18): the sliced forward, its GGUF form and the pass.
 *
 * - A hand-built sliced model (random shortcut matrices, unequal widths, one shortcut left out
 *   where two widths are equal, random norm weights) against a float64 forward written here:
 *   RMSN over the original width, GQA attention with rope, SwiGLU, the shortcuts, untied head.
 * - That model written as GGUF (lathe.slicegpt.* keys) and read back gives identical logits.
 * - Malformed sliced models are refused with the tensor / key named: a shortcut of the wrong
 *   shape, unequal widths without a shortcut, shortcut tensors in an unsliced file, widths that
 *   disagree with the tensors, a version lathe does not know.
 * - The pass (core/compress/slicegpt.h) on a tiny random Llama with GQA in f32: with --slice 0 the
 *   folded, rotated model gives the original's logits within 1e-4 relative (computational
 *   invariance); --slice 0.25 gives the expected widths, shapes and parameter count; the pass's GGUF
 *   reloads with the same logits; GPTQ of the sliced model calibrates over its widths and stays sliced.
 * - The quantize plan's shortcut types (q8_0 by default under a quantized mix, --shortcut-type) and
 *   compress's --output-tensor-type / --token-embedding-type / --shortcut-type.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/base/alloc.h"
#include "core/compress/pass.h"
#include "core/compress/quantize.h"
#include "core/compress/slicegpt.h"
#include "core/formats/gguf.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_open.h"
#include "core/formats/modelsrc_slicegpt.h"
#include "core/text/tokenizer.h"
#include "models/llama.h"
#include "testutil.h"

static lt_test_rng rng;

enum { DIM = 64, HID = 96, NL = 3, NH = 4, NKV = 2, HD = 16, VOC = 200, NT = 9 };
/* d_emb, then b, c per layer; layer 1 keeps b = a (no attention shortcut), layer 2's c = D */
static const int32_t k_widths[1 + 2 * NL] = {48, 40, 56, 56, 32, 48, 64};

static void add(lt_modelsrc *src, const char *name, int64_t d0, int64_t d1, bool norm) {
    lt_err err = {0};
    int64_t n = d0 * (d1 ? d1 : 1), shape[2] = {d0, d1};
    float *b = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) b[i] = norm ? 1.0f + 0.3f * lt_test_normal(&rng) : lt_test_normal(&rng) / sqrtf(d1 ? d1 : d0);
    CHECKF(lt_modelsrc_add_owned(src, name, LT_F32, d1 ? 2 : 1, shape, b, &err) == LT_OK, "%s", err.msg);
    free(b);
}

static lt_llm_config tiny_cfg(bool sliced) {
    lt_llm_config c = {0};
    snprintf(c.arch, sizeof c.arch, "llama");
    snprintf(c.name, sizeof c.name, "sliced tiny");
    c.n_vocab = VOC, c.dim = DIM, c.hidden_dim = HID, c.n_layers = NL, c.n_heads = NH, c.n_kv_heads = NKV;
    c.head_dim = HD, c.max_seq = 64, c.norm_eps = 1e-5f, c.rope_theta = 10000.0f, c.sliced = sliced;
    return c;
}

/* The hand-built sliced model; skip names a tensor left out, bad_shape one given a wrong shape. */
static lt_modelsrc *build_sliced(const char *skip, const char *bad_shape) {
    lt_err err = {0};
    lt_llm_config c = tiny_cfg(true);
    lt_modelsrc *src = NULL;
    CHECKF(lt_modelsrc_create(&src, &c, NULL, "sliced tiny", &err) == LT_OK, "%s", err.msg);
    if (!src) return NULL;
    lt_test_rng_seed(&rng, 7);
    char nm[96];
#define ADD(d0, d1, norm, ...)                                                                                  \
    do {                                                                                                        \
        snprintf(nm, sizeof nm, __VA_ARGS__);                                                                   \
        if (!skip || strcmp(skip, nm)) add(src, nm, d0, (bad_shape && !strcmp(bad_shape, nm)) ? d1 + 8 : d1, norm); \
    } while (0)
    ADD(VOC, k_widths[0], false, "token_embd.weight");
    for (int l = 0; l < NL; l++) {
        int a = k_widths[l ? 2 * l : 0], b = k_widths[1 + 2 * l], cw = k_widths[2 + 2 * l];
        ADD(a, 0, true, "blk.%d.attn_norm.weight", l);
        ADD(NH * HD, a, false, "blk.%d.attn_q.weight", l);
        ADD(NKV * HD, a, false, "blk.%d.attn_k.weight", l);
        ADD(NKV * HD, a, false, "blk.%d.attn_v.weight", l);
        ADD(b, NH * HD, false, "blk.%d.attn_output.weight", l);
        if (a != b) ADD(b, a, false, "blk.%d.attn_shortcut.weight", l);
        ADD(b, 0, true, "blk.%d.ffn_norm.weight", l);
        ADD(HID, b, false, "blk.%d.ffn_gate.weight", l);
        ADD(HID, b, false, "blk.%d.ffn_up.weight", l);
        ADD(cw, HID, false, "blk.%d.ffn_down.weight", l);
        ADD(cw, b, false, "blk.%d.ffn_shortcut.weight", l);
    }
    ADD(k_widths[2 * NL], 0, true, "output_norm.weight");
    ADD(VOC, k_widths[2 * NL], false, "output.weight");
#undef ADD
    return src;
}

static const float *T(const lt_modelsrc *src, const char *fmt, int l) {
    char nm[96];
    snprintf(nm, sizeof nm, fmt, l);
    const lt_src_tensor *t = lt_modelsrc_find(src, nm);
    return t ? (const float *)t->data : NULL;
}

/* y[n x r] = x[n x k] . w^T, w [r x k] f32, in double */
static void mm(const double *x, const float *w, double *y, int n, int k, int r) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r; j++) {
            double s = 0;
            for (int q = 0; q < k; q++) s += x[i * k + q] * w[j * k + q];
            y[i * r + j] = s;
        }
}

/* RMSN over the original width D of rows of width d, times the norm weight */
static void rmsn(const double *x, const float *g, double *y, int n, int d) {
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
        double r = 1.0 / sqrt(ss / DIM + 1e-5);
        for (int j = 0; j < d; j++) y[i * d + j] = x[i * d + j] * r * g[j];
    }
}

static void rope(double *x, int n, int heads) {
    for (int t = 0; t < n; t++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < HD / 2; i++) {
                double f = pow(10000.0, -2.0 * i / HD), th = t * f, c = cos(th), s = sin(th);
                double *p = x + (size_t)t * heads * HD + h * HD + 2 * i;
                double a = p[0], b = p[1];
                p[0] = a * c - b * s, p[1] = a * s + b * c;
            }
}

/* logits [NT x VOC] of tokens through the sliced model, float64 */
static void reference(const lt_modelsrc *src, const int32_t *tok, double *logits) {
    double *x = calloc(NT * DIM, sizeof(double)), *h = calloc(NT * DIM, sizeof(double)),
           *y = calloc(NT * DIM, sizeof(double)), *q = calloc(NT * NH * HD, sizeof(double)),
           *k = calloc(NT * NKV * HD, sizeof(double)), *v = calloc(NT * NKV * HD, sizeof(double)),
           *att = calloc(NT * NH * HD, sizeof(double)), *g = calloc(NT * HID, sizeof(double)),
           *u = calloc(NT * HID, sizeof(double)), *r = calloc(NT * DIM, sizeof(double));
    const float *emb = T(src, "token_embd.weight", 0);
    int a = k_widths[0];
    for (int t = 0; t < NT; t++)
        for (int j = 0; j < a; j++) x[t * a + j] = emb[tok[t] * a + j];
    for (int l = 0; l < NL; l++) {
        int b = k_widths[1 + 2 * l], cw = k_widths[2 + 2 * l];
        rmsn(x, T(src, "blk.%d.attn_norm.weight", l), h, NT, a);
        mm(h, T(src, "blk.%d.attn_q.weight", l), q, NT, a, NH * HD);
        mm(h, T(src, "blk.%d.attn_k.weight", l), k, NT, a, NKV * HD);
        mm(h, T(src, "blk.%d.attn_v.weight", l), v, NT, a, NKV * HD);
        rope(q, NT, NH), rope(k, NT, NKV);
        for (int t = 0; t < NT; t++)
            for (int hh = 0; hh < NH; hh++) {
                int kh = hh / (NH / NKV);
                double sc[NT], mx = -1e300, sum = 0;
                for (int s = 0; s <= t; s++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++) d += q[(t * NH + hh) * HD + i] * k[(s * NKV + kh) * HD + i];
                    sc[s] = d / sqrt(HD);
                    mx = sc[s] > mx ? sc[s] : mx;
                }
                for (int s = 0; s <= t; s++) sum += sc[s] = exp(sc[s] - mx);
                for (int i = 0; i < HD; i++) {
                    double o = 0;
                    for (int s = 0; s <= t; s++) o += sc[s] / sum * v[(s * NKV + kh) * HD + i];
                    att[(t * NH + hh) * HD + i] = o;
                }
            }
        mm(att, T(src, "blk.%d.attn_output.weight", l), y, NT, NH * HD, b);
        const float *sa = T(src, "blk.%d.attn_shortcut.weight", l);
        if (sa) mm(x, sa, r, NT, a, b);
        else memcpy(r, x, sizeof(double) * NT * a);
        for (int i = 0; i < NT * b; i++) x[i] = r[i] + y[i];
        rmsn(x, T(src, "blk.%d.ffn_norm.weight", l), h, NT, b);
        mm(h, T(src, "blk.%d.ffn_gate.weight", l), g, NT, b, HID);
        mm(h, T(src, "blk.%d.ffn_up.weight", l), u, NT, b, HID);
        for (int i = 0; i < NT * HID; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        mm(g, T(src, "blk.%d.ffn_down.weight", l), y, NT, HID, cw);
        const float *sf = T(src, "blk.%d.ffn_shortcut.weight", l);
        if (sf) mm(x, sf, r, NT, b, cw);
        else memcpy(r, x, sizeof(double) * NT * b);
        for (int i = 0; i < NT * cw; i++) x[i] = r[i] + y[i];
        a = cw;
    }
    rmsn(x, T(src, "output_norm.weight", 0), h, NT, a);
    mm(h, T(src, "output.weight", 0), logits, NT, a, VOC);
    free(x), free(h), free(y), free(q), free(k), free(v), free(att), free(g), free(u), free(r);
}

/* all logits [NT x VOC] of the model on tok; false when it cannot be opened (err says why) */
static bool run_lm(const lt_modelsrc *src, lt_backend *be, const int32_t *tok, int n, float *out, lt_err *err) {
    lt_lm *lm = NULL;
    if (lt_llama_open(&lm, src, be, &(lt_lm_opts){.max_batch = 64, .max_logits = 64}, err) != LT_OK) return false;
    lt_kv_opts ko = lt_lm_kv_opts(lm, 64, 1);
    lt_kv_cache *kv = NULL;
    int seq = 0;
    bool ok = lt_kv_create(&kv, be, &ko, err) == LT_OK && lt_kv_seq_new(kv, &seq, err) == LT_OK &&
              lt_lm_eval(lm, kv, seq, tok, n, true, out, err) == LT_OK;
    lt_kv_free(kv);
    lt_lm_close(lm);
    return ok;
}

static double rel_err(const float *a, const float *b, int64_t n) { return lt_test_rel_err_ff(a, b, n); }

static void test_forward_and_gguf(lt_backend *be) {
    lt_err err = {0};
    lt_modelsrc *src = build_sliced(NULL, NULL);
    if (!src) return;
    int32_t tok[NT];
    for (int i = 0; i < NT; i++) tok[i] = (int32_t)(lt_test_u32(&rng) % VOC);
    double *ref = malloc(sizeof(double) * NT * VOC);
    float *got = malloc(sizeof(float) * NT * VOC), *back = malloc(sizeof(float) * NT * VOC);
    reference(src, tok, ref);
    CHECKF(run_lm(src, be, tok, NT, got, &err), "%s", err.msg);
    double e = lt_test_rel_err(got, ref, NT * VOC);
    CHECKF(e < 1e-4, "sliced forward vs float64 reference: rel err %.3g", e);
    /* decode token by token equals the batch */
    {
        lt_lm *lm = NULL;
        lt_kv_cache *kv = NULL;
        int seq = 0;
        float one[VOC];
        double worst = 0;
        CHECKF(lt_llama_open(&lm, src, be, &(lt_lm_opts){.max_batch = 8, .max_logits = 1}, &err) == LT_OK, "%s", err.msg);
        lt_kv_opts ko = lt_lm_kv_opts(lm, 64, 1);
        CHECK(lm && lt_kv_create(&kv, be, &ko, &err) == LT_OK && lt_kv_seq_new(kv, &seq, &err) == LT_OK);
        for (int t = 0; lm && kv && t < NT; t++) {
            CHECK(lt_lm_eval(lm, kv, seq, &tok[t], 1, false, one, &err) == LT_OK);
            double et = rel_err(one, got + t * VOC, VOC);
            worst = et > worst ? et : worst;
        }
        CHECKF(worst < 1e-5, "decode steps vs the batch: rel err %.3g", worst);
        lt_kv_free(kv);
        lt_lm_close(lm);
    }
    /* GGUF: written with lathe.slicegpt.* and read back, identical logits */
    char path[4200];
    snprintf(path, sizeof path, "%s/sliced.gguf", lt_test_tmpdir("slicegpt"));
    CHECKF(lt_modelsrc_write_gguf(src, path, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc *rd = NULL;
    CHECKF(lt_modelsrc_open_gguf(&rd, path, &err) == LT_OK, "%s", err.msg);
    if (rd) {
        CHECK(lt_modelsrc_config(rd)->sliced && !lt_modelsrc_config(rd)->tied_embeddings);
        CHECKF(run_lm(rd, be, tok, NT, back, &err), "%s", err.msg);
        CHECKF(memcmp(back, got, sizeof(float) * NT * VOC) == 0, "GGUF round trip changed the logits (rel %.3g)",
               rel_err(back, got, NT * VOC));
        lt_modelsrc_close(rd);
    }
    /* the widths key patched to disagree with the tensors: refused, naming both */
    size_t len = 0;
    char *f = lt_test_read_file(path, &len);
    char *k = f ? memmem(f, len, "lathe.slicegpt.widths", 21) : NULL;
    CHECK(k != NULL);
    if (k) {
        int32_t bad = 40; /* d_emb is 48 */
        memcpy(k + 21 + 4 + 4 + 8, &bad, 4); /* key, value type, element type, count, then the values */
        char p2[4300];
        snprintf(p2, sizeof p2, "%s.bad.gguf", path);
        FILE *o = fopen(p2, "wb");
        fwrite(f, 1, len, o);
        fclose(o);
        lt_err e2 = {0};
        CHECK(lt_modelsrc_open_gguf(&rd, p2, &e2) == LT_EFORMAT);
        CHECKF(strstr(e2.msg, "lathe.slicegpt.widths[0] is 40") && strstr(e2.msg, "token_embd.weight") &&
                   strstr(e2.msg, "48"),
               "%s", e2.msg);
    }
    free(f);
    free(ref), free(got), free(back);
    lt_modelsrc_close(src);
}

static void expect_refused(lt_backend *be, const char *skip, const char *bad, const char *want1, const char *want2) {
    lt_err err = {0};
    lt_modelsrc *src = build_sliced(skip, bad);
    lt_lm *lm = NULL;
    CHECK(src && lt_llama_open(&lm, src, be, &(lt_lm_opts){.max_batch = 8}, &err) == LT_EFORMAT);
    CHECKF(strstr(err.msg, want1) && strstr(err.msg, want2), "'%s' lacks '%s' / '%s'", err.msg, want1, want2);
    lt_lm_close(lm);
    lt_modelsrc_close(src);
}

static void test_malformed(lt_backend *be) {
    expect_refused(be, NULL, "blk.0.attn_shortcut.weight", "blk.0.attn_shortcut.weight", "expected [40, 48]");
    expect_refused(be, NULL, "blk.1.ffn_down.weight", "blk.1.ffn_down.weight", "expected [32, 96]");
    expect_refused(be, "blk.0.ffn_shortcut.weight", NULL, "blk.0.ffn_shortcut.weight", "missing");
    expect_refused(be, NULL, "output.weight", "output.weight", "expected [200, 64]");
    /* shortcut tensors in a file without the keys; a version lathe does not know */
    lt_err err = {0};
    lt_modelsrc *src = build_sliced(NULL, NULL);
    lt_llm_config c = tiny_cfg(false);
    lt_modelsrc *plain = NULL;
    CHECKF(lt_llama_synthetic(&plain, &c, NULL, 5, &err) == LT_OK, "%s", err.msg);
    if (plain) add(plain, "blk.0.attn_shortcut.weight", DIM, DIM, false);
    char path[4200];
    snprintf(path, sizeof path, "%s/plain_shortcut.gguf", lt_test_tmpdir("slicegpt"));
    CHECKF(plain && lt_modelsrc_write_gguf(plain, path, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc *rd = NULL;
    CHECK(lt_modelsrc_open_gguf(&rd, path, &err) == LT_EFORMAT);
    CHECKF(strstr(err.msg, "blk.0.attn_shortcut.weight") && strstr(err.msg, "lathe.slicegpt"), "%s", err.msg);
    lt_modelsrc_close(rd);
    lt_modelsrc_close(plain);
    /* version 2 */
    snprintf(path, sizeof path, "%s/v2.gguf", lt_test_tmpdir("slicegpt"));
    CHECKF(lt_modelsrc_write_gguf(src, path, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    size_t len = 0;
    char *f = lt_test_read_file(path, &len);
    char *k = f ? memmem(f, len, "lathe.slicegpt.version", 22) : NULL;
    CHECK(k != NULL);
    if (k) {
        uint32_t two = 2;
        memcpy(k + 22 + 4, &two, 4);
        FILE *o = fopen(path, "wb");
        fwrite(f, 1, len, o);
        fclose(o);
        CHECK(lt_modelsrc_open_gguf(&rd, path, &err) == LT_EUNSUPPORTED);
        CHECKF(strstr(err.msg, "lathe.slicegpt.version 2"), "%s", err.msg);
    }
    free(f);
    lt_modelsrc_close(src);
}

/* ---- the pass -------------------------------------------------------------------------- */

/* The quantize plan's shortcut types: q8_0 under a quantized mix where the rows are whole blocks
 * (docs/PERF.md: 4-bit breaks SmolLM2, q8_0 costs ~11%), the source's float type where not, the
 * float mix's type under F16, --shortcut-type over both; a sliced model with a q8_0 shortcut runs
 * within 1% of the float64 forward. */
static void test_shortcut_types(lt_backend *be) {
    lt_err err = {0};
    lt_modelsrc *src = build_sliced(NULL, NULL);
    if (!src) return;
    int n = lt_modelsrc_n_tensors(src);
    lt_dtype *types = calloc((size_t)n, sizeof *types);
    const lt_src_tensor *t0 = lt_modelsrc_tensor(src, 0);
    const int i_a2 = (int)(lt_modelsrc_find(src, "blk.2.attn_shortcut.weight") - t0); /* [48 x 32]: whole blocks */
    const int i_a0 = (int)(lt_modelsrc_find(src, "blk.0.attn_shortcut.weight") - t0); /* [40 x 48]: not */
    const int i_out = (int)(lt_modelsrc_find(src, "output.weight") - t0);
    lt_quantmix mix;
    CHECK(lt_quantmix_parse("Q4_1", false, &mix, &err) == LT_OK);
    CHECKF(lt_quantize_plan(src, &mix, types, NULL, &err) == LT_OK, "%s", err.msg);
    CHECKF(types[i_a2] == LT_Q8_0 && types[i_a0] == LT_F32, "Q4_1: shortcuts %s, %s", lt_dtype_name(types[i_a2]),
           lt_dtype_name(types[i_a0]));
    CHECK(lt_quantmix_set_override(&mix, "shortcut", "f16", &err) == LT_OK);
    CHECK(lt_quantmix_set_override(&mix, "output", "q4_0", &err) == LT_OK);
    CHECKF(lt_quantize_plan(src, &mix, types, NULL, &err) == LT_OK, "%s", err.msg);
    CHECK(types[i_a2] == LT_F16 && types[i_a0] == LT_F16 && types[i_out] == LT_Q4_0);
    CHECK(lt_quantmix_set_override(&mix, "shortcut", "q4_0", &err) == LT_OK);
    CHECKF(lt_quantize_plan(src, &mix, types, NULL, &err) == LT_OK, "%s", err.msg);
    CHECK(types[i_a2] == LT_Q4_0 && types[i_a0] == LT_F32);
    CHECK(lt_quantmix_set_override(&mix, "shortcut", "Q4_K_M", &err) == LT_EINVAL && strstr(err.msg, "--shortcut-type"));
    CHECK(lt_quantmix_parse("F16", false, &mix, &err) == LT_OK);
    CHECKF(lt_quantize_plan(src, &mix, types, NULL, &err) == LT_OK, "%s", err.msg);
    CHECK(types[i_a2] == LT_F16 && types[i_a0] == LT_F16);
    /* everything f32 but the one q8_0 shortcut: the forward follows the float64 one closely */
    CHECK(lt_quantmix_parse("F32", false, &mix, &err) == LT_OK);
    CHECK(lt_quantmix_set_override(&mix, "shortcut", "q8_0", &err) == LT_OK);
    char path[4200];
    snprintf(path, sizeof path, "%s/sliced-q8sc.gguf", lt_test_tmpdir("slicegpt"));
    CHECKF(lt_quantize(src, path, &mix, NULL, NULL, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc *rd = NULL;
    CHECKF(lt_modelsrc_open_gguf(&rd, path, &err) == LT_OK, "%s", err.msg);
    if (rd) {
        const lt_src_tensor *a2 = lt_modelsrc_find(rd, "blk.2.attn_shortcut.weight");
        const lt_src_tensor *a0 = lt_modelsrc_find(rd, "blk.0.attn_shortcut.weight");
        CHECK(a2 && a2->dtype == LT_Q8_0 && a0 && a0->dtype == LT_F32);
        int32_t tok[NT];
        for (int i = 0; i < NT; i++) tok[i] = (int32_t)(lt_test_u32(&rng) % VOC);
        double *ref = malloc(sizeof(double) * NT * VOC);
        float *got = malloc(sizeof(float) * NT * VOC);
        reference(src, tok, ref);
        CHECKF(run_lm(rd, be, tok, NT, got, &err), "%s", err.msg);
        double e = lt_test_rel_err(got, ref, NT * VOC);
        CHECKF(e > 1e-6 && e < 1e-2, "q8_0 shortcut vs float64 reference: rel err %.3g", e);
        free(ref), free(got);
        lt_modelsrc_close(rd);
    }
    free(types);
    lt_modelsrc_close(src);
}

static bool stop_after(void *ud, const lt_pass_event *ev) {
    (void)ev;
    return ++*(int *)ud < 5;
}

static void test_pass(void) {
    lt_err err = {0};
    lt_llm_config cfg;
    CHECK(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.n_vocab = 512, cfg.dim = 64, cfg.hidden_dim = 96, cfg.n_layers = 2, cfg.n_heads = 4, cfg.n_kv_heads = 2;
    cfg.head_dim = 16; /* GQA: 2 queries per KV head */
    lt_test_lm_kit kit;
    if (!lt_test_lm_kit_open(&kit, &cfg, 11)) return;
    lt_calib_opts co = {.file = lt_test_path("assets/text/tinyshakespeare-head.txt"), .n_tokens = 1024, .window = 128};
    int32_t *tokens = NULL;
    int nw = 0, win = 0;
    CHECKF(lt_calib_windows(kit.tok, &co, &tokens, &nw, &win, &err) == LT_OK, "%s", err.msg);
    CHECK(nw == 8 && win == 128);
    enum { N = 24 };
    int32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (int32_t)((i * 37 + 5) % 512);
    float *ref = malloc(sizeof(float) * N * 512), *got = malloc(sizeof(float) * N * 512),
          *back = malloc(sizeof(float) * N * 512);
    CHECKF(run_lm(kit.src, kit.be, tok, N, ref, &err), "%s", err.msg);
    /* --slice 0: folded and rotated, nothing removed: the same function */
    lt_modelsrc *sl = NULL;
    lt_slicegpt_result res;
    lt_slicegpt_opts o = {.slice = 0};
    CHECKF(lt_slicegpt_run(kit.src, &o, lt_llama_open, kit.be, tokens, nw, win, NULL, NULL, &sl, &res, &err) == LT_OK,
           "%s", err.msg);
    if (sl) {
        CHECK(res.width == 64 && res.head_width == 64 && lt_modelsrc_config(sl)->sliced);
        CHECKF(run_lm(sl, kit.be, tok, N, got, &err), "%s", err.msg);
        double e = rel_err(got, ref, N * 512);
        CHECKF(e < 1e-4, "--slice 0: logits vs the original: rel err %.3g", e);
        /* lathe's form: every basis aligned to the one before it, so with nothing removed each shortcut is the
           identity and none is stored */
        for (int i = 0; i < lt_modelsrc_n_tensors(sl); i++)
            CHECKF(!strstr(lt_modelsrc_tensor(sl, i)->name, "shortcut"), "--slice 0: %s stored",
                   lt_modelsrc_tensor(sl, i)->name);
        lt_modelsrc_close(sl);
        sl = NULL;
    }
    o.full_shortcuts = true; /* the authors' form: PCA bases, full shortcut matrices */
    CHECKF(lt_slicegpt_run(kit.src, &o, lt_llama_open, kit.be, tokens, nw, win, NULL, NULL, &sl, &res, &err) == LT_OK,
           "%s", err.msg);
    if (sl) {
        CHECKF(run_lm(sl, kit.be, tok, N, got, &err), "%s", err.msg);
        double e = rel_err(got, ref, N * 512);
        CHECKF(e < 1e-4, "--slice 0 --full-shortcuts: logits vs the original: rel err %.3g", e);
        /* the shortcuts are orthogonal (products of two rotations), not the identity */
        const lt_src_tensor *s0 = lt_modelsrc_find(sl, "blk.0.attn_shortcut.weight");
        CHECK(s0 && s0->shape[0] == 64 && s0->shape[1] == 64);
        if (s0) {
            const float *q = s0->data;
            double off = 0, orth = 0;
            for (int i = 0; i < 64; i++)
                for (int j = 0; j < 64; j++) {
                    double d = 0;
                    for (int k = 0; k < 64; k++) d += (double)q[i * 64 + k] * q[j * 64 + k];
                    orth = fmax(orth, fabs(d - (i == j)));
                    off = fmax(off, fabs(q[i * 64 + j] - (i == j)));
                }
            CHECKF(orth < 1e-5 && off > 0.1, "attn shortcut: |SS^T - I| %.3g, |S - I| %.3g", orth, off);
        }
        lt_modelsrc_close(sl);
        sl = NULL;
    }
    o.full_shortcuts = false;
    /* the authors' centring of the embedding rows changes an RMSNorm model's function */
    o.center_embd = true;
    CHECKF(lt_slicegpt_run(kit.src, &o, lt_llama_open, kit.be, tokens, nw, win, NULL, NULL, &sl, &res, &err) == LT_OK,
           "%s", err.msg);
    if (sl && run_lm(sl, kit.be, tok, N, got, &err)) CHECK(rel_err(got, ref, N * 512) > 1e-3);
    lt_modelsrc_close(sl);
    sl = NULL;
    /* --slice 0.25: widths int(0.75 * 64) = 48, the last block's output and the head whole */
    o = (lt_slicegpt_opts){.slice = 0.25};
    CHECKF(lt_slicegpt_run(kit.src, &o, lt_llama_open, kit.be, tokens, nw, win, NULL, NULL, &sl, &res, &err) == LT_OK,
           "%s", err.msg);
    if (sl) {
        int32_t w[5];
        CHECKF(lt_modelsrc_slice_widths(sl, w, &err) == LT_OK, "%s", err.msg);
        CHECKF(w[0] == 48 && w[1] == 48 && w[2] == 48 && w[3] == 48 && w[4] == 64, "widths %d %d %d %d %d", w[0], w[1],
               w[2], w[3], w[4]);
        const uint64_t V = 512, D = 64, d = 48, F = 96, QW = 64, KW = 32;
        uint64_t want = V * d + V * D + D; /* embedding, head, final norm */
        for (int l = 0; l < 2; l++) {
            uint64_t a = d, b = d, c = l == 1 ? D : d, rk[2] = {0, 0};
            for (int h = 0; h < 2; h++) { /* low-rank shortcuts between equal widths: rank <= D - d = 16 */
                char nm[64];
                snprintf(nm, sizeof nm, h ? "blk.%d.ffn_shortcut_lr.weight" : "blk.%d.attn_shortcut_lr.weight", l);
                const lt_src_tensor *v = lt_modelsrc_find(sl, nm);
                CHECKF((v != NULL) == (h == 0 || l == 0), "%s present: %d", nm, v != NULL);
                if (v) CHECKF(v->shape[0] >= 1 && v->shape[0] <= 16 && v->shape[1] == 48, "%s: [%lld, %lld]", nm,
                              (long long)v->shape[0], (long long)v->shape[1]);
                rk[h] = v ? (uint64_t)v->shape[0] : 0;
            }
            want += a + (QW + 2 * KW) * a + b * QW + rk[0] * a + b + 2 * F * b + c * F + (l == 1 ? c * b : rk[1] * b);
        }
        CHECKF(res.params_out == want && res.width == 48 && res.head_width == 64, "parameters %llu, expected %llu",
               (unsigned long long)res.params_out, (unsigned long long)want);
        lt_lm *lm = NULL; /* the loaded model counts the same parameters (bench, the report pane) */
        CHECKF(lt_llama_open(&lm, sl, kit.be, &(lt_lm_opts){.max_batch = 8}, &err) == LT_OK, "%s", err.msg);
        CHECKF(lm && lm->n_params == want, "loaded: %llu parameters", lm ? (unsigned long long)lm->n_params : 0ull);
        lt_lm_close(lm);
        const lt_src_tensor *t = lt_modelsrc_find(sl, "blk.1.ffn_shortcut.weight");
        CHECK(t && t->shape[0] == 64 && t->shape[1] == 48);
        CHECKF(run_lm(sl, kit.be, tok, N, got, &err), "%s", err.msg);
        double e = rel_err(got, ref, N * 512);
        CHECKF(e > 1e-4 && e < 1.0, "--slice 0.25: logits moved by %.3g", e);
        /* the authors' form keeps the same subspaces: the same function, with full shortcut matrices */
        lt_modelsrc *fs = NULL;
        lt_slicegpt_opts of = {.slice = 0.25, .full_shortcuts = true};
        CHECKF(lt_slicegpt_run(kit.src, &of, lt_llama_open, kit.be, tokens, nw, win, NULL, NULL, &fs, NULL, &err) ==
                   LT_OK, "%s", err.msg);
        if (fs && run_lm(fs, kit.be, tok, N, back, &err)) {
            double ef = rel_err(back, got, N * 512);
            CHECKF(ef < 1e-5, "--slice 0.25: low-rank vs full shortcuts: rel err %.3g", ef);
            CHECK(lt_modelsrc_find(fs, "blk.0.attn_shortcut.weight") && !lt_modelsrc_find(fs, "blk.0.attn_shortcut_lr.weight"));
        }
        lt_modelsrc_close(fs);
        /* in the authors' folder the low-rank shortcut is written out: I - V^T V (f16); q/k rows go back to
           Hugging Face's rope order (this model's are GGUF's), so the folder is the same model */
        const char *fd = lt_test_tmpdir("slicegpt_lowrank");
        CHECKF(lt_modelsrc_write_slicegpt(sl, fd, NULL, &err) == LT_OK, "%s", err.msg);
        lt_modelsrc *rb = NULL;
        CHECKF(lt_modelsrc_open(&rb, fd, NULL, &err) == LT_OK, "%s", err.msg);
        const lt_src_tensor *v = lt_modelsrc_find(sl, "blk.0.attn_shortcut_lr.weight"),
                            *S = rb ? lt_modelsrc_find(rb, "blk.0.attn_shortcut.weight") : NULL;
        CHECK(v && v->dtype == LT_F32 && S && S->dtype == LT_F16 && S->shape[0] == 48 && S->shape[1] == 48);
        if (v && S) {
            const float *vf = v->data;
            double worst = 0;
            for (int i = 0; i < 48; i++)
                for (int j = 0; j < 48; j++) {
                    double want = i == j;
                    for (int k = 0; k < v->shape[0]; k++) want -= (double)vf[k * 48 + i] * vf[k * 48 + j];
                    worst = fmax(worst, fabs(lt_f16_to_f32(((const uint16_t *)S->data)[i * 48 + j]) - want));
                }
            CHECKF(worst < 1e-3, "the written shortcut vs I - V^T V: %.3g", worst);
        }
        if (rb && run_lm(rb, kit.be, tok, N, back, &err))
            CHECKF(rel_err(back, got, N * 512) < 1e-2, "the folder (f16) vs lathe's model: %.3g", rel_err(back, got, N * 512));
        lt_modelsrc_close(rb);
        /* the pass (lathe compress --method slicegpt --slice 0.25) writes the same model as GGUF */
        lt_pass_args pa;
        lt_pass_args_default(&pa);
        pa.method = "slicegpt", pa.slice = 0.25f, pa.calib = co.file, pa.calib_tokens = 1024;
        lt_pass_opts po = {0};
        CHECKF(lt_pass_args_apply(&pa, &po, &err) == LT_OK, "%s", err.msg);
        po.calib.window = 128, po.open_lm = lt_llama_open, po.be = kit.be, po.tok = kit.tok;
        char path[4200];
        snprintf(path, sizeof path, "%s/tiny-sliced.gguf", lt_test_tmpdir("slicegpt"));
        lt_pass_report r;
        CHECKF(lt_pass_run("slicegpt", kit.src, path, &po, &r, &err) == LT_OK, "%s", err.msg);
        CHECK(r.sg.params_out == want && r.n_windows == 8);
        lt_modelsrc *rd = NULL;
        CHECKF(lt_modelsrc_open_gguf(&rd, path, &err) == LT_OK, "%s", err.msg);
        if (rd) {
            CHECKF(run_lm(rd, kit.be, tok, N, back, &err), "%s", err.msg);
            CHECKF(memcmp(back, got, sizeof(float) * N * 512) == 0, "pass output vs in-memory: rel %.3g",
                   rel_err(back, got, N * 512));
            /* slice, then GPTQ: calibration over the per-layer widths; the result stays sliced */
            lt_pass_args ga;
            lt_pass_args_default(&ga);
            ga.calib = co.file, ga.calib_tokens = 1024;
            ga.output_type = "q4_0", ga.shortcut_type = "f16"; /* lathe quantize's overrides, on compress too */
            lt_pass_opts go = {0};
            CHECKF(lt_pass_args_apply(&ga, &go, &err) == LT_OK, "%s", err.msg);
            go.calib.window = 128, go.open_lm = lt_llama_open, go.be = kit.be, go.tok = kit.tok;
            char qpath[4300];
            snprintf(qpath, sizeof qpath, "%s.q4.gguf", path);
            CHECKF(lt_pass_run("gptq", rd, qpath, &go, &r, &err) == LT_OK, "%s", err.msg);
            /* attn_output and ffn_down (rows of 64 / 96) as Q4_1; inputs of width 48 are not whole blocks of 32 */
            CHECKF(r.n_matrices == 2 * 2 && r.n_by_mix == 5 * 2, "%d matrices, %d by the mix", r.n_matrices, r.n_by_mix);
            lt_modelsrc *q4 = NULL;
            CHECKF(lt_modelsrc_open_gguf(&q4, qpath, &err) == LT_OK, "%s", err.msg);
            if (q4) {
                CHECK(lt_modelsrc_config(q4)->sliced);
                const lt_src_tensor *sc = lt_modelsrc_find(q4, "blk.1.attn_shortcut_lr.weight");
                const lt_src_tensor *head = lt_modelsrc_find(q4, "output.weight");
                CHECK(sc && sc->dtype == LT_F16 && head && head->dtype == LT_Q4_0);
                float *ql = malloc(sizeof(float) * N * 512);
                CHECKF(run_lm(q4, kit.be, tok, N, ql, &err), "%s", err.msg);
                double eq = rel_err(ql, got, N * 512);
                CHECKF(eq > 0 && eq < 0.5, "sliced + gptq vs sliced: rel err %.3g", eq);
                free(ql);
                lt_modelsrc_close(q4);
            }
            lt_modelsrc_close(rd);
        }
        /* cancelled midway: LT_ECANCELLED and nothing under the path */
        char cpath[4300];
        snprintf(cpath, sizeof cpath, "%s.cancelled.gguf", path);
        int calls = 0;
        po.progress = stop_after, po.ud = &calls;
        CHECK(lt_pass_run("slicegpt", kit.src, cpath, &po, &r, &err) == LT_ECANCELLED && calls > 3);
        FILE *cf = fopen(cpath, "rb");
        CHECK(cf == NULL);
        if (cf) fclose(cf);
        po.progress = NULL;
        /* options of other methods are refused */
        pa.bits = 4;
        CHECK(lt_pass_args_apply(&pa, &po, &err) == LT_EINVAL && strstr(err.msg, "slicegpt"));
        lt_pass_args_default(&pa);
        pa.method = "gptq", pa.slice = 0.2f;
        CHECK(lt_pass_args_apply(&pa, &po, &err) == LT_EINVAL && strstr(err.msg, "--slice"));
        lt_pass_args_default(&pa); /* the type overrides: GGUF of gptq / rtn / smoothquant+ only, types checked */
        pa.method = "slicegpt", pa.output_type = "q8_0";
        CHECK(lt_pass_args_apply(&pa, &po, &err) == LT_EINVAL && strstr(err.msg, "--output-tensor-type"));
        pa.method = "rtn", pa.output_type = NULL, pa.shortcut_type = "q9_0";
        CHECK(lt_pass_args_apply(&pa, &po, &err) == LT_EINVAL && strstr(err.msg, "--shortcut-type") &&
              strstr(err.msg, "q9_0"));
        pa.shortcut_type = NULL, pa.embd_type = "q8_0", pa.format = "hf";
        CHECKF(lt_pass_args_apply(&pa, &po, &err) == LT_OK, "%s", err.msg);
        CHECK(lt_pass_run("rtn", kit.src, path, &po, &r, &err) == LT_EINVAL && strstr(err.msg, "--token-embedding-type"));
        lt_modelsrc_close(sl);
    }
    CHECK(lt_slicegpt_width(576, 0.10, 8) == 512 && lt_slicegpt_width(576, 0.20, 8) == 456 &&
          lt_slicegpt_width(576, 0.25, 8) == 432 && lt_slicegpt_width(576, 0.30, 8) == 400);
    lt_free(tokens);
    free(ref), free(got), free(back);
    lt_test_lm_kit_close(&kit);
}

int main(void) {
    lt_err err = {0};
    lt_backend *be = NULL;
    if (lt_backend_create(&be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) != LT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_forward_and_gguf(be);
    test_malformed(be);
    test_shortcut_types(be);
    lt_backend_free(be);
    test_pass();
    return lt_test_done();
}
