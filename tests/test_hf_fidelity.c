/* test_hf_fidelity.c - Hugging Face folders as transformers 5 saves them, against
 * transformers' own outputs (tests/fixtures/hf, made by tools/gen_hf_fixtures.py; CI needs
 * no torch): Llama with rope_parameters (theta 500000, llama3 scaling), Llama with
 * attention_bias and mlp_bias, Mistral with a 16-token sliding window, Qwen2 with tied
 * embeddings, Llama with YaRN, Qwen2 with the window in one of its layers, Phi3 with partial
 * rotary, Phi3 with LongRoPE (short factors; long factors). For each: the logits of the 64
 * prompt positions within 1e-4 relative and the
 * 64 greedy ids that follow equal transformers'. The Mistral model written as GGUF carries
 * llama.cpp's names (general.architecture = llama, llama.attention.sliding_window) and gives
 * the same logits read back. Config keys lathe does not implement are errors naming them.
 */
#define _GNU_SOURCE /* realpath, symlink */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/formats/gguf.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_open.h"
#include "models/llama.h"
#include "testutil.h"

#define N_PROMPT 64
#define N_GEN 64

typedef struct expected {
    int32_t prompt[N_PROMPT], gen[N_GEN];
    float *logits; /* [N_PROMPT, vocab] */
} expected;

static bool read_expected(const char *dir, int vocab, expected *e) {
    char path[512];
    snprintf(path, sizeof path, "%s/expected.txt", dir);
    FILE *f = fopen(path, "r");
    CHECKF(f != NULL, "%s missing", path);
    if (!f) return false;
    bool ok = true;
    for (int i = 0; ok && i < N_PROMPT; i++) ok = fscanf(f, "%d", &e->prompt[i]) == 1;
    for (int i = 0; ok && i < N_GEN; i++) ok = fscanf(f, "%d", &e->gen[i]) == 1;
    fclose(f);
    CHECKF(ok, "%s: bad ids", path);
    snprintf(path, sizeof path, "%s/logits.bin", dir);
    f = fopen(path, "rb");
    CHECKF(f != NULL, "%s missing", path);
    if (!f || !ok) {
        if (f) fclose(f);
        return false;
    }
    size_t n = (size_t)N_PROMPT * vocab;
    e->logits = malloc(n * sizeof(float));
    ok = fread(e->logits, sizeof(float), n, f) == n && fgetc(f) == EOF;
    fclose(f);
    CHECKF(ok, "%s: expected %zu floats", path, n);
    return ok;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Runs the prompt (all logits) and 64 greedy steps; returns the max relative logit error
 * (max |a-b| / max |b| per row) or -1 on failure; *greedy_ok tells whether the ids match. */
static int g_ctx = N_PROMPT + N_GEN + 1; /* the KV cache's context (LongRoPE chooses its factors by it) */

static double run_model(const lt_modelsrc *src, lt_backend *be, const expected *e, bool *greedy_ok, int *first_bad,
                        float *logits_out) {
    lt_err err;
    lt_lm *m = NULL;
    lt_lm_opts o = {.max_batch = 24}; /* the prompt in several chunks */
    if (lt_llama_open(&m, src, be, &o, &err) != LT_OK) {
        CHECKF(0, "open: %s", err.msg);
        return -1;
    }
    int V = m->cfg.n_vocab;
    lt_kv_opts ko = lt_lm_kv_opts(m, g_ctx, 2);
    ko.block_size = 8; /* windows that start inside a block */
    lt_kv_cache *kv = NULL;
    int seq = -1;
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK || lt_kv_seq_new(kv, &seq, &err) != LT_OK) {
        CHECKF(0, "kv: %s", err.msg);
        lt_lm_close(m);
        return -1;
    }
    float *lg = malloc((size_t)N_PROMPT * V * sizeof(float));
    double worst = -1;
    if (lt_lm_eval(m, kv, seq, e->prompt, N_PROMPT, true, lg, &err) == LT_OK) {
        worst = 0;
        for (int r = 0; r < N_PROMPT; r++) {
            double rel = lt_test_rel_err_ff(lg + (size_t)r * V, e->logits + (size_t)r * V, V);
            if (rel > worst) worst = rel;
        }
        if (logits_out) memcpy(logits_out, lg, (size_t)N_PROMPT * V * sizeof(float));
        *greedy_ok = true;
        *first_bad = -1;
        int tok = argmax(lg + (size_t)(N_PROMPT - 1) * V, V);
        for (int i = 0; i < N_GEN; i++) {
            if (tok != e->gen[i] && *greedy_ok) *greedy_ok = false, *first_bad = i;
            if (i + 1 == N_GEN) break;
            int32_t t = e->gen[i]; /* continue from transformers' ids so one miss shows once */
            if (lt_lm_eval(m, kv, seq, &t, 1, false, lg, &err) != LT_OK) {
                CHECKF(0, "decode: %s", err.msg);
                *greedy_ok = false;
                break;
            }
            tok = argmax(lg, V);
        }
    } else {
        CHECKF(0, "prefill: %s", err.msg);
    }
    free(lg);
    lt_kv_free(kv);
    lt_lm_close(m);
    return worst;
}

static void fixture(lt_backend *be, const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/hf/%s", name);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", lt_test_path(rel));
    lt_err err;
    lt_modelsrc *src = NULL;
    if (lt_modelsrc_open(&src, dir, NULL, &err) != LT_OK) {
        CHECKF(0, "%s: %s", name, err.msg);
        return;
    }
    const lt_llm_config *c = lt_modelsrc_config(src);
    expected e = {0};
    if (read_expected(dir, c->n_vocab, &e)) {
        bool gok = false;
        int bad = -1;
        double rel = run_model(src, be, &e, &gok, &bad, NULL);
        printf("%-16s max relative logit error %.3g, greedy %s\n", name, rel, gok ? "equal" : "DIFFERS");
        CHECKF(rel >= 0 && rel < 1e-4, "%s: logits differ from transformers' by %.3g relative", name, rel);
        CHECKF(gok, "%s: greedy id %d differs from transformers'", name, bad);
    }
    free(e.logits);
    lt_modelsrc_close(src);
}

/* What each fixture's config.json means. */
static void configs(void) {
    lt_err err;
    lt_modelsrc *src = NULL;
    CHECK(lt_modelsrc_open(&src, lt_test_path("tests/fixtures/hf/llama3_rope"), NULL, &err) == LT_OK);
    if (src) {
        const lt_llm_config *c = lt_modelsrc_config(src);
        CHECK(c->rope_theta == 500000.0f && c->rope_scaling == LT_ROPE_SCALING_LLAMA3 && c->rope_factor == 8.0f &&
              c->rope_orig_ctx == 256 && c->sliding_window == 0);
        lt_modelsrc_close(src);
    }
    CHECK(lt_modelsrc_open(&src, lt_test_path("tests/fixtures/hf/llama_bias"), NULL, &err) == LT_OK);
    if (src) {
        const lt_llm_config *c = lt_modelsrc_config(src);
        CHECK(c->qkv_bias && c->attn_out_bias && c->mlp_bias);
        CHECK(lt_modelsrc_find(src, "blk.1.ffn_down.bias") && lt_modelsrc_find(src, "blk.0.attn_output.bias"));
        lt_modelsrc_close(src);
    }
    CHECK(lt_modelsrc_open(&src, lt_test_path("tests/fixtures/hf/mistral_swa"), NULL, &err) == LT_OK);
    if (src) {
        const lt_llm_config *c = lt_modelsrc_config(src);
        CHECK(c->sliding_window == 16 && lt_llm_layer_window(c, 0) == 16 && lt_llm_layer_window(c, 1) == 16);
        CHECK(!c->qkv_bias && !c->attn_out_bias && !c->mlp_bias);
        lt_modelsrc_close(src);
    }
    CHECK(lt_modelsrc_open(&src, lt_test_path("tests/fixtures/hf/qwen2_tied"), NULL, &err) == LT_OK);
    if (src) {
        const lt_llm_config *c = lt_modelsrc_config(src);
        CHECK(c->tied_embeddings && c->qkv_bias && !c->attn_out_bias && c->rope_theta == 1e6f);
        CHECK(lt_llm_layer_window(c, 0) == 0);
        lt_modelsrc_close(src);
    }
    CHECK(lt_modelsrc_open(&src, lt_test_path("tests/fixtures/hf/llama_yarn"), NULL, &err) == LT_OK);
    if (src) {
        const lt_llm_config *c = lt_modelsrc_config(src);
        CHECK(c->rope_scaling == LT_ROPE_SCALING_YARN && c->rope_factor == 4.0f && c->rope_orig_ctx == 64);
        lt_modelsrc_close(src);
    }
    CHECK(lt_modelsrc_open(&src, lt_test_path("tests/fixtures/hf/qwen2_swa_layers"), NULL, &err) == LT_OK);
    if (src) {
        const lt_llm_config *c = lt_modelsrc_config(src);
        CHECK(lt_llm_layer_window(c, 0) == 0 && lt_llm_layer_window(c, 1) == 16);
        lt_modelsrc_close(src);
    }
    /* LongRoPE: Phi3's top-level original_max_position_embeddings, the attention factor of
     * transformers' _compute_longrope_parameters, the factors as llama.cpp's tensors */
    CHECK(lt_modelsrc_open(&src, lt_test_path("tests/fixtures/hf/phi3_longrope"), NULL, &err) == LT_OK);
    if (src) {
        const lt_llm_config *c = lt_modelsrc_config(src);
        CHECK(c->rope_scaling == LT_ROPE_SCALING_LONGROPE && c->rope_orig_ctx == 256 && c->n_rot == 8);
        CHECK(fabsf(c->rope_attn_factor - (float)sqrt(1 + log(4.0) / log(256.0))) < 1e-6f);
        const lt_src_tensor *s = lt_modelsrc_find(src, "rope_factors_short.weight");
        const lt_src_tensor *l = lt_modelsrc_find(src, "rope_factors_long.weight");
        CHECK(s && l && s->dtype == LT_F32 && s->shape[0] == 4 && l->shape[0] == 4);
        if (s && l) CHECK(((const float *)s->data)[3] == 2.0f && ((const float *)l->data)[3] == 12.0f);
        lt_modelsrc_close(src);
    }
}

/* config.json variants: each is an error naming the key, or reads as transformers reads it. */
static lt_status open_config_w(const char *json, const char *weights, lt_llm_config *cfg, lt_err *err) {
    const char *d = lt_test_tmpdir("hf_cfg");
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", d);
    FILE *f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    /* the weights of a fixture (the variants keep its shapes) */
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    unlink(path);
    char target[4096];
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/hf/%s/model.safetensors", weights);
    if (!realpath(lt_test_path(rel), target) || symlink(target, path))
        return LT_EIO;
    lt_modelsrc *src = NULL;
    lt_status s = lt_modelsrc_open(&src, d, NULL, err);
    if (s == LT_OK) *cfg = *lt_modelsrc_config(src);
    lt_modelsrc_close(src);
    return s;
}

static lt_status open_config(const char *json, lt_llm_config *cfg, lt_err *err) {
    return open_config_w(json, "llama3_rope", cfg, err);
}

#define BASE                                                                                                   \
    "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128, "           \
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 256, " \
    "\"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-5"

static void config_errors(void) {
    struct {
        const char *json, *needle;
    } bad[] = {
        {BASE ", \"partial_rotary_factor\": 0.5}", "partial_rotary_factor"},
        {BASE ", \"rope_parameters\": {\"rope_type\": \"longrope\", \"rope_theta\": 10000, "
              "\"short_factor\": [1], \"long_factor\": [1]}}", "'short_factor' must be a list of 8 numbers"},
        {BASE ", \"rope_parameters\": {\"rope_type\": \"longrope\", \"rope_theta\": 10000, "
              "\"short_factor\": [1,1,1,1,1,1,1,1], \"long_factor\": [1,1,1,1,1,1,1,-2]}}", "'long_factor'[7]"},
        {BASE ", \"rope_scaling\": {\"type\": \"su\"}}", "rope_scaling type 'su'"},
        {BASE ", \"hidden_act\": \"gelu\"}", "hidden_act"},
        {BASE ", \"attn_logit_softcapping\": 50.0}", "attn_logit_softcapping"},
        {BASE ", \"rope_parameters\": {\"rope_type\": \"linear\", \"rope_theta\": 10000, \"factor\": 2, "
              "\"attention_factor\": 2}}", "attention_factor"},
        {BASE ", \"layer_types\": [\"sliding_attention\", \"full_attention\"]}", "layer_types"},
        {BASE ", \"rope_parameters\": {\"full_attention\": {\"rope_theta\": 10000}}}", "per layer type"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lt_llm_config c;
        lt_err err = {0};
        lt_status s = open_config(bad[i].json, &c, &err);
        CHECKF(s != LT_OK && strstr(err.msg, bad[i].needle), "variant %zu: '%s' (want '%s')", i, err.msg,
               bad[i].needle);
    }
    lt_llm_config c;
    lt_err err = {0};
    /* the older layout: rope_theta at the top, rope_scaling beside it */
    CHECKF(open_config(BASE ", \"rope_theta\": 500000.0, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4}}",
                       &c, &err) == LT_OK, "%s", err.msg);
    CHECK(c.rope_theta == 500000.0f && c.rope_scaling == LT_ROPE_SCALING_LINEAR && c.rope_factor == 4.0f);
    /* rope_parameters wins over nothing: theta inside it */
    CHECK(open_config(BASE ", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}}", &c,
                      &err) == LT_OK);
    CHECK(c.rope_theta == 1e6f && c.rope_scaling == LT_ROPE_SCALING_NONE);
    /* dynamic NTK is the default within the context */
    CHECK(open_config(BASE ", \"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 2}}", &c, &err) == LT_OK);
    CHECK(c.rope_scaling == LT_ROPE_SCALING_NONE);
    /* yarn: the attention factor of the paper */
    CHECK(open_config(BASE ", \"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 10000, \"factor\": 4, "
                           "\"original_max_position_embeddings\": 512}}", &c, &err) == LT_OK);
    CHECK(c.rope_scaling == LT_ROPE_SCALING_YARN && c.rope_orig_ctx == 512 &&
          fabsf(c.rope_attn_factor - (float)(0.1 * log(4.0) + 1)) < 1e-6f && c.rope_beta_fast == 32);
    /* a Mistral config without the key: transformers' default window */
    CHECK(open_config("{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128, "
                      "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                      "\"vocab_size\": 256}", &c, &err) == LT_OK);
    CHECK(c.sliding_window == 4096 && lt_llm_layer_window(&c, 1) == 4096);
    /* Qwen2: the window only with use_sliding_window, from max_window_layers on */
    CHECKF(open_config_w("{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128, "
                         "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                         "\"vocab_size\": 256, \"tie_word_embeddings\": true, \"sliding_window\": 32, "
                         "\"use_sliding_window\": true, \"max_window_layers\": 1}", "qwen2_tied", &c, &err) == LT_OK,
           "%s", err.msg);
    CHECK(lt_llm_layer_window(&c, 0) == 0 && lt_llm_layer_window(&c, 1) == 32);
    CHECK(open_config_w("{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128, "
                        "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                        "\"vocab_size\": 256, \"tie_word_embeddings\": true, \"sliding_window\": 32, "
                        "\"use_sliding_window\": false}", "qwen2_tied", &c, &err) == LT_OK);
    CHECK(c.sliding_window == 0 && lt_llm_layer_window(&c, 1) == 0);
}

/* Each fixture written as GGUF (llama.cpp's conventions: Mistral as llama with
 * llama.attention.sliding_window, q/k rows and biases permuted for llama's rope) gives the
 * same logits read back. */
static void as_gguf(lt_backend *be, const char *name) {
    lt_err err;
    lt_modelsrc *src = NULL, *back = NULL;
    char rel[128], dir[512];
    snprintf(rel, sizeof rel, "tests/fixtures/hf/%s", name);
    snprintf(dir, sizeof dir, "%s", lt_test_path(rel));
    if (lt_modelsrc_open(&src, dir, NULL, &err) != LT_OK) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", lt_test_tmpdir("hf_gguf"), name);
    CHECKF(lt_modelsrc_write_gguf(src, path, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    const lt_llm_config *c = lt_modelsrc_config(src);
    lt_gguf *g = NULL;
    if (!strcmp(name, "mistral_swa") && lt_gguf_open(&g, path, &err) == LT_OK) {
        lt_gguf_str s;
        CHECK(lt_gguf_get_str(g, "general.architecture", &s, &err) == LT_OK && s.n == 5 && !memcmp(s.p, "llama", 5));
        uint32_t w = 0;
        CHECK(lt_gguf_get_u32(g, "llama.attention.sliding_window", &w, &err) == LT_OK && w == 16);
        lt_gguf_close(g);
    }
    expected e = {0};
    if (lt_modelsrc_open(&back, path, NULL, &err) == LT_OK && read_expected(dir, c->n_vocab, &e)) {
        CHECK(lt_modelsrc_config(back)->sliding_window == c->sliding_window);
        bool gok = false;
        int bad;
        double rel_err = run_model(back, be, &e, &gok, &bad, NULL);
        printf("%-16s max relative logit error %.3g, greedy %s (as GGUF)\n", name, rel_err, gok ? "equal" : "DIFFERS");
        CHECKF(rel_err >= 0 && rel_err < 1e-4 && gok, "%s as GGUF: %.3g", name, rel_err);
    } else {
        CHECKF(0, "reopen: %s", err.msg);
    }
    free(e.logits);
    lt_modelsrc_close(back);
    lt_modelsrc_close(src);
}

/* The window is what makes Mistral match: without it the rows past 16 positions differ. */
static void window_matters(lt_backend *be) {
    lt_err err;
    lt_modelsrc *src = NULL;
    const char *dir = lt_test_path("tests/fixtures/hf/mistral_swa");
    if (lt_modelsrc_open(&src, dir, NULL, &err) != LT_OK) return;
    lt_modelsrc *copy = NULL;
    lt_llm_config c = *lt_modelsrc_config(src);
    lt_llm_set_window_all(&c, 0);
    expected e = {0};
    if (read_expected(dir, c.n_vocab, &e)) {
        CHECK(lt_modelsrc_create(&copy, &c, NULL, "nowindow", &err) == LT_OK);
        for (int i = 0; copy && i < lt_modelsrc_n_tensors(src); i++) {
            const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
            CHECK(lt_modelsrc_add_owned(copy, t->name, t->dtype, t->ndim, t->shape, t->data, &err) == LT_OK);
        }
        bool gok;
        int bad;
        double rel = copy ? run_model(copy, be, &e, &gok, &bad, NULL) : -1;
        CHECKF(rel > 1e-3, "without the window the logits should differ (%.3g)", rel);
    }
    free(e.logits);
    lt_modelsrc_close(copy);
    lt_modelsrc_close(src);
}

/* Phi3: its rope types other than default are longrope (su and yarn read as longrope, as
 * transformers does), and neither writer takes it (llama.cpp's phi3 keeps the fused
 * projections; lathe does not fuse them back). */
static void phi3_errors(void) {
#define PHI3                                                                                                   \
    "{\"architectures\": [\"Phi3ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128, "             \
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 256, " \
    "\"rms_norm_eps\": 1e-5, "
    const char *bad[][2] = {
        {PHI3 "\"rope_parameters\": {\"rope_type\": \"longrope\", \"rope_theta\": 10000, \"short_factor\": [1], "
              "\"long_factor\": [1]}}", "'short_factor' must be a list of 8"},
        {PHI3 "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2}}", "'short_factor' must be a list"},
        {PHI3 "\"partial_rotary_factor\": 0.1875}", "must be even"},
    };
    for (int i = 0; i < 3; i++) {
        lt_llm_config c;
        lt_err err = {0};
        lt_status s = open_config_w(bad[i][0], "phi3_partial", &c, &err);
        CHECKF(s != LT_OK && strstr(err.msg, bad[i][1]), "phi3 variant %d: '%s' (want '%s')", i, err.msg, bad[i][1]);
    }
    lt_llm_config c;
    lt_err err = {0};
    CHECKF(open_config_w(PHI3 "\"partial_rotary_factor\": 0.5}", "phi3_partial", &c, &err) == LT_OK &&
           c.n_rot == 8 && !strcmp(c.arch, "phi3"), "phi3 n_rot %d: %s", c.n_rot, err.msg);
    /* the legacy name su, the original context 4096 by default, a given attention factor */
    CHECKF(open_config_w(PHI3 "\"max_position_embeddings\": 8192, \"rope_scaling\": {\"type\": \"su\", "
                         "\"short_factor\": [1,1,1,1,1,1,1,1], \"long_factor\": [2,2,2,2,2,2,2,2], "
                         "\"attention_factor\": 1.5}}", "phi3_partial", &c, &err) == LT_OK, "%s", err.msg);
    CHECK(c.rope_scaling == LT_ROPE_SCALING_LONGROPE && c.rope_orig_ctx == 4096 && c.rope_attn_factor == 1.5f);
#undef PHI3
    lt_modelsrc *src = NULL;
    if (lt_modelsrc_open(&src, lt_test_path("tests/fixtures/hf/phi3_partial"), NULL, &err) != LT_OK) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/phi3.gguf", lt_test_tmpdir("hf_gguf"));
    CHECKF(lt_modelsrc_write_gguf(src, path, LT_DTYPE_COUNT, &err) == LT_EUNSUPPORTED && strstr(err.msg, "phi3"),
           "phi3 as GGUF: %s", err.msg);
    CHECKF(lt_modelsrc_write_hf(src, lt_test_tmpdir("hf_phi3_out"), LT_DTYPE_COUNT, &err) == LT_EUNSUPPORTED &&
           strstr(err.msg, "Phi3"), "phi3 as a HF folder: %s", err.msg);
    lt_modelsrc_close(src);
}

/* LongRoPE's factors are chosen by the context the model runs with, as llama.cpp chooses
 * them (n_ctx > original: long), not by the current length as transformers does (it
 * switches per forward call when positions + 1 exceed the original). Both fixtures are
 * made so the two rules agree: phi3_longrope stays within its original 256 (short factors;
 * lathe's KV cache holds 129), phi3_longrope_long sends the 64-token prompt in one call to
 * transformers past its original 32 (long factors, also for rows 0..31 of that call, and
 * for the greedy steps, each a full forward of 65+ tokens) and lathe's context of 129 > 32
 * takes the long factors for every row. Where they differ - a prompt shorter than the
 * original in a long context - lathe keeps one set of frequencies for the whole cache, so
 * cached keys never mix the two. Here: the short fixture in a context past 256 takes the
 * long factors, and its logits move away from transformers' short-factor ones. */
static void longrope_ctx(lt_backend *be) {
    lt_err err;
    lt_modelsrc *src = NULL;
    const char *dir = lt_test_path("tests/fixtures/hf/phi3_longrope");
    if (lt_modelsrc_open(&src, dir, NULL, &err) != LT_OK) return;
    expected e = {0};
    if (read_expected(dir, lt_modelsrc_config(src)->n_vocab, &e)) {
        bool gok;
        int bad;
        g_ctx = 300;
        double rel = run_model(src, be, &e, &gok, &bad, NULL);
        g_ctx = N_PROMPT + N_GEN + 1;
        printf("%-16s in a context of 300 (long factors): max relative logit error %.3g\n", "phi3_longrope", rel);
        CHECKF(rel > 1e-3, "a context past the original should take the long factors (%.3g)", rel);
    }
    free(e.logits);
    lt_modelsrc_close(src);
}

/* A llama LongRoPE model as GGUF: the factors travel as llama.cpp's tensors with
 * rope.scaling.attn_factor and original_context_length, and read back the same. */
static void longrope_gguf(void) {
    const char *d = lt_test_tmpdir("hf_longrope");
    char path[512], target[4096];
    snprintf(path, sizeof path, "%s/config.json", d);
    FILE *f = fopen(path, "w");
    fputs(BASE ", \"rope_parameters\": {\"rope_type\": \"longrope\", \"rope_theta\": 10000, "
          "\"original_max_position_embeddings\": 512, \"short_factor\": [1,1,1,1,1,1,1,1.5], "
          "\"long_factor\": [1,2,3,4,5,6,7,8]}}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    unlink(path);
    if (!realpath(lt_test_path("tests/fixtures/hf/llama3_rope/model.safetensors"), target) || symlink(target, path)) {
        CHECK(0);
        return;
    }
    lt_err err;
    lt_modelsrc *src = NULL, *back = NULL;
    CHECKF(lt_modelsrc_open(&src, d, NULL, &err) == LT_OK, "%s", err.msg);
    if (!src) return;
    const lt_llm_config *c = lt_modelsrc_config(src);
    CHECK(c->rope_scaling == LT_ROPE_SCALING_LONGROPE && c->rope_orig_ctx == 512);
    CHECK(fabsf(c->rope_attn_factor - (float)sqrt(1 + log(4.0) / log(512.0))) < 1e-6f);
    snprintf(path, sizeof path, "%s/longrope.gguf", lt_test_tmpdir("hf_gguf"));
    CHECKF(lt_modelsrc_write_gguf(src, path, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_modelsrc_open(&back, path, NULL, &err) == LT_OK, "%s", err.msg);
    if (back) {
        const lt_llm_config *b = lt_modelsrc_config(back);
        CHECK(b->rope_scaling == LT_ROPE_SCALING_LONGROPE && b->rope_orig_ctx == 512 &&
              fabsf(b->rope_attn_factor - c->rope_attn_factor) < 1e-7f);
        const lt_src_tensor *l = lt_modelsrc_find(back, "rope_factors_long.weight");
        const lt_src_tensor *s = lt_modelsrc_find(back, "rope_factors_short.weight");
        CHECK(l && s && l->dtype == LT_F32 && l->shape[0] == 8);
        if (l && s) CHECK(((const float *)l->data)[7] == 8.0f && ((const float *)s->data)[7] == 1.5f);
    }
    CHECKF(lt_modelsrc_write_hf(src, lt_test_tmpdir("hf_longrope_out"), LT_DTYPE_COUNT, &err) == LT_EUNSUPPORTED &&
           strstr(err.msg, "LongRoPE"), "longrope as a HF folder: %s", err.msg);
    lt_modelsrc_close(back);
    lt_modelsrc_close(src);
}

int main(void) {
    lt_backend *be = NULL;
    lt_err err;
    if (lt_backend_create(&be, "cpu", NULL, &err) != LT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    configs();
    config_errors();
    phi3_errors();
    const char *names[] = {"llama3_rope", "llama_bias", "mistral_swa", "qwen2_tied", "llama_yarn", "qwen2_swa_layers",
                           "phi3_partial", "phi3_longrope", "phi3_longrope_long"};
    for (int i = 0; i < 9; i++) fixture(be, names[i]);
    for (int i = 0; i < 5; i++) as_gguf(be, names[i]); /* not qwen2_swa_layers: GGUF has no per-layer window */
    window_matters(be);
    longrope_ctx(be);
    longrope_gguf();
    lt_backend_free(be);
    return lt_test_done();
}
