/* test_quantmix.c - llama.cpp's quantization mixes (core/compress/quantmix.h).
 *
 * Names as llama-quantize reads them (any case, aliases, ftype numbers, a clear error listing
 * the valid ones); the row-length fallbacks and which tensors are never quantized; the rules
 * spelled out as tables for a SmolLM2-like model (30 layers, dim 576: every 576-long row
 * falls back) and a Llama-2-7B-like one (32 layers, dim 4096, MHA; also with GQA 4 and as
 * 70B); and every tensor of five models under 19 mixes against the types llama.cpp's
 * llama-quantize chose (tests/fixtures/quantmix/, made by tools/quantmix-fixtures.py:
 * SmolLM2-135M, stories260K, and stand-ins for Llama-2-7B, Llama-3-8B and Llama-2-70B),
 * with the tensors handed over in reverse order (the plan walks them in llama.cpp's order).
 */
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "core/compress/quantmix.h"
#include "testutil.h"

/* ---- names ------------------------------------------------------------------------------------ */

static void test_parse(void) {
    static const struct {
        const char *in;
        const char *name;
        lt_ftype ftype;
        lt_dtype base;
    } ok[] = {
        {"Q4_K_M", "Q4_K_M", LT_FTYPE_Q4_K_M, LT_Q4_K}, {"q4_k_m", "Q4_K_M", LT_FTYPE_Q4_K_M, LT_Q4_K},
        {"Q4_K", "Q4_K_M", LT_FTYPE_Q4_K_M, LT_Q4_K},   {"q4_K", "Q4_K_M", LT_FTYPE_Q4_K_M, LT_Q4_K},
        {"q3_K", "Q3_K_M", LT_FTYPE_Q3_K_M, LT_Q3_K},   {"Q5_K", "Q5_K_M", LT_FTYPE_Q5_K_M, LT_Q5_K},
        {"Q4_K_S", "Q4_K_S", LT_FTYPE_Q4_K_S, LT_Q4_K}, {"Q5_K_S", "Q5_K_S", LT_FTYPE_Q5_K_S, LT_Q5_K},
        {"Q5_K_M", "Q5_K_M", LT_FTYPE_Q5_K_M, LT_Q5_K}, {"Q3_K_S", "Q3_K_S", LT_FTYPE_Q3_K_S, LT_Q3_K},
        {"Q3_K_L", "Q3_K_L", LT_FTYPE_Q3_K_L, LT_Q3_K}, {"q2_K", "Q2_K", LT_FTYPE_Q2_K, LT_Q2_K},
        {"Q6_K", "Q6_K", LT_FTYPE_Q6_K, LT_Q6_K},       {"q8_0", "Q8_0", LT_FTYPE_Q8_0, LT_Q8_0},
        {"q4_0", "Q4_0", LT_FTYPE_Q4_0, LT_Q4_0},       {"q4_1", "Q4_1", LT_FTYPE_Q4_1, LT_Q4_1},
        {"q5_0", "Q5_0", LT_FTYPE_Q5_0, LT_Q5_0},       {"q5_1", "Q5_1", LT_FTYPE_Q5_1, LT_Q5_1},
        {"iq4_nl", "IQ4_NL", LT_FTYPE_IQ4_NL, LT_IQ4_NL}, {"IQ4_XS", "IQ4_XS", LT_FTYPE_IQ4_XS, LT_IQ4_XS},
        {"f16", "F16", LT_FTYPE_F16, LT_F16},           {"BF16", "BF16", LT_FTYPE_BF16, LT_BF16},
        {"f32", "F32", LT_FTYPE_ALL_F32, LT_F32},       {"15", "Q4_K_M", LT_FTYPE_Q4_K_M, LT_Q4_K},
        {"12", "Q3_K_M", LT_FTYPE_Q3_K_M, LT_Q3_K},     {"0", "F32", LT_FTYPE_ALL_F32, LT_F32},
        {"32", "BF16", LT_FTYPE_BF16, LT_BF16},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        lt_quantmix q;
        lt_err err = {0};
        CHECKF(lt_quantmix_parse(ok[i].in, i % 2, &q, &err) == LT_OK, "%s: %s", ok[i].in, err.msg);
        CHECKF(!strcmp(q.name, ok[i].name) && q.ftype == ok[i].ftype && q.base == ok[i].base && q.pure == (i % 2),
               "%s -> %s %d %s", ok[i].in, q.name, q.ftype, lt_dtype_name(q.base));
    }
    /* every GGML tensor type lathe writes into GGUF names a mix whose own type it is; lathe's own
       2:4 types (made by pruning, not by a mix) are neither parsed nor listed as --type values */
    for (int t = 0; t < LT_DTYPE_COUNT; t++) {
        if (t == LT_I32 || lt_dtype_info((lt_dtype)t)->gguf_type < 0) continue; /* gq4_*: no GGML type */
        lt_quantmix q;
        char names[256];
        if (lt_dtype_info((lt_dtype)t)->gguf_type >= LT_GGUF_LATHE_TYPES) {
            CHECKF(lt_quantmix_parse(lt_dtype_name((lt_dtype)t), true, &q, NULL) == LT_EINVAL, "%s",
                   lt_dtype_name((lt_dtype)t));
            CHECKF(!strstr(lt_dtype_weight_names(names, sizeof names), lt_dtype_name((lt_dtype)t)), "%s listed",
                   lt_dtype_name((lt_dtype)t));
            CHECK(strstr(lt_dtype_matrix_names(names, sizeof names), lt_dtype_name((lt_dtype)t)) != NULL);
            continue;
        }
        CHECKF(lt_quantmix_parse(lt_dtype_name((lt_dtype)t), true, &q, NULL) == LT_OK && q.base == (lt_dtype)t,
               "%s", lt_dtype_name((lt_dtype)t));
        CHECK(strstr(lt_dtype_weight_names(names, sizeof names), lt_dtype_name((lt_dtype)t)) != NULL);
    }
    const char *bad[] = {"q3", "Q4_K_X", "IQ2_XXS", "Q2_K_S", "COPY", "", "7b", "99", "i32", NULL};
    for (int i = 0; i < 10; i++) {
        lt_quantmix q;
        lt_err err = {0};
        CHECKF(lt_quantmix_parse(bad[i], false, &q, &err) == LT_EINVAL, "%s accepted", bad[i] ? bad[i] : "NULL");
        CHECKF(strstr(err.msg, "Q4_K_M") && strstr(err.msg, "iq4_xs") && strstr(err.msg, "unknown type"), "%s",
               err.msg);
    }
    int n = 0;
    const char *name, *desc;
    while (lt_quantmix_entry(n, &name, &desc)) {
        CHECK(name && desc && *desc);
        n++;
    }
    CHECK(n == 22); /* 19 mixes and 3 aliases */
}

/* ---- single tensors ------------------------------------------------------------------------------ */

static void test_rules_basic(void) {
    lt_quantmix q8, q4km, q4km_pure;
    lt_quantmix_parse("Q8_0", false, &q8, NULL);
    lt_quantmix_parse("Q4_K_M", false, &q4km, NULL);
    lt_quantmix_parse("Q4_K_M", true, &q4km_pure, NULL);
    lt_quantmix_model m = {.n_layers = 30, .n_gqa = 3, .tied = true};
    lt_quantmix_pos pos = {0, 30, 0, 30};
    int64_t s1[1] = {576}, s2[2] = {576, 576}, s_one[2] = {1, 576}, s_odd[2] = {64, 172}, s_100[2] = {64, 100};
    bool fell;
    /* never quantized: 1-D, norms, biases, a 2-D tensor with an outer dimension of 1 */
    CHECK(!lt_quantmix_allows("blk.0.attn_norm.weight", 1, s1));
    CHECK(!lt_quantmix_allows("blk.0.attn_norm.weight", 2, s2));
    CHECK(!lt_quantmix_allows("output_norm.weight", 2, s2));
    CHECK(!lt_quantmix_allows("blk.0.attn_q.bias", 2, s2));
    CHECK(!lt_quantmix_allows("blk.0.attn_q.weight", 2, s_one));
    CHECK(!lt_quantmix_allows("blk.0.ffn_gate_inp.weight", 2, s2));
    CHECK(lt_quantmix_allows("blk.0.attn_q.weight", 2, s2));
    CHECK(lt_quantmix_tensor_type(&q4km, &m, "blk.0.attn_norm.weight", 1, s1, LT_F32, &pos, NULL) == LT_F32);
    CHECK(lt_quantmix_tensor_type(&q4km, &m, "blk.0.attn_norm.weight", 1, s1, LT_BF16, &pos, NULL) == LT_BF16);
    /* the fallbacks for a 576-long row */
    static const struct {
        const char *mix;
        lt_dtype want;
    } fb[] = {{"Q4_K_S", LT_Q5_0}, {"Q5_K_S", LT_Q5_1}, {"Q6_K", LT_Q8_0},   {"Q2_K", LT_Q4_0},
              {"Q3_K_S", LT_Q4_0}, {"IQ4_XS", LT_IQ4_NL}, {"IQ4_NL", LT_IQ4_NL}, {"Q8_0", LT_Q8_0}};
    for (size_t i = 0; i < sizeof fb / sizeof *fb; i++) {
        lt_quantmix q;
        lt_quantmix_parse(fb[i].mix, true, &q, NULL);
        lt_dtype t = lt_quantmix_tensor_type(&q, &m, "blk.5.attn_q.weight", 2, s2, LT_F32, &pos, &fell);
        CHECKF(t == fb[i].want && fell == (q.base != fb[i].want), "%s: %s", fb[i].mix, lt_dtype_name(t));
    }
    /* rows not a multiple of 32: f16, whatever the type */
    CHECK(lt_quantmix_tensor_type(&q8, &m, "blk.0.ffn_down.weight", 2, s_odd, LT_F32, &pos, &fell) == LT_F16 && fell);
    CHECK(lt_quantmix_tensor_type(&q4km, &m, "blk.0.ffn_down.weight", 2, s_100, LT_F32, &pos, &fell) == LT_F16);
    /* pure: one type (after the fallback), also for the tied embeddings */
    int64_t emb[2] = {49152, 576}, emb256[2] = {49152, 512};
    CHECK(lt_quantmix_tensor_type(&q4km_pure, &m, "token_embd.weight", 2, emb, LT_F32, &pos, NULL) == LT_Q5_0);
    CHECK(lt_quantmix_tensor_type(&q4km_pure, &m, "token_embd.weight", 2, emb256, LT_F32, &pos, NULL) == LT_Q4_K);
    /* the mix: tied embeddings follow output.weight (q8_0 when the row is not a multiple of 256) */
    CHECK(lt_quantmix_tensor_type(&q4km, &m, "token_embd.weight", 2, emb, LT_F32, &pos, NULL) == LT_Q8_0);
    CHECK(lt_quantmix_tensor_type(&q4km, &m, "token_embd.weight", 2, emb256, LT_F32, &pos, NULL) == LT_Q6_K);
    m.tied = false;
    CHECK(lt_quantmix_tensor_type(&q4km, &m, "token_embd.weight", 2, emb256, LT_F32, &pos, NULL) == LT_Q4_K);
    CHECK(lt_quantmix_tensor_type(&q4km, &m, "output.weight", 2, emb256, LT_F32, &pos, NULL) == LT_Q6_K);
    CHECK(lt_quantmix_tensor_type(&q8, &m, "output.weight", 2, emb256, LT_F32, &pos, NULL) == LT_Q8_0);
    /* a tensor already in its type is still chosen by the rules (the writer then copies it) */
    CHECK(lt_quantmix_tensor_type(&q8, &m, "blk.1.attn_q.weight", 2, s2, LT_Q8_0, &pos, NULL) == LT_Q8_0);
    /* --output-tensor-type / --token-embedding-type, as llama-quantize (llama-cpp-python
     * 0.3.36's llama.cpp) chose them for SmolLM2-135M f16 (tied, 576-wide) with Q4_0: f16 -> token_embd f16; --token-embedding-type
     * q8_0 -> q8_0; both (q8_0, f16) -> f16 (the embedding's own option wins); q4_K -> q5_0
     * (576 is not a multiple of 256: the row fallback) */
    lt_quantmix q40;
    lt_err err = {0};
    lt_quantmix_parse("Q4_0", false, &q40, NULL);
    CHECK(q40.output_type == LT_DTYPE_COUNT && q40.embd_type == LT_DTYPE_COUNT);
    m.tied = true;
    lt_quantmix o = q40;
    CHECK(lt_quantmix_set_override(&o, "output", "f16", &err) == LT_OK);
    CHECK(lt_quantmix_tensor_type(&o, &m, "token_embd.weight", 2, emb, LT_F32, &pos, NULL) == LT_F16);
    CHECK(lt_quantmix_tensor_type(&o, &m, "blk.0.attn_q.weight", 2, s2, LT_F32, &pos, NULL) == LT_Q4_0);
    o = q40;
    CHECK(lt_quantmix_set_override(&o, "embd", "q8_0", &err) == LT_OK);
    CHECK(lt_quantmix_tensor_type(&o, &m, "token_embd.weight", 2, emb, LT_F32, &pos, NULL) == LT_Q8_0);
    CHECK(lt_quantmix_set_override(&o, "output", "q8_0", &err) == LT_OK);
    CHECK(lt_quantmix_set_override(&o, "embd", "f16", &err) == LT_OK);
    CHECK(lt_quantmix_tensor_type(&o, &m, "token_embd.weight", 2, emb, LT_F32, &pos, NULL) == LT_F16);
    o = q40;
    CHECK(lt_quantmix_set_override(&o, "output", "q4_K", &err) == LT_OK);
    CHECK(lt_quantmix_tensor_type(&o, &m, "token_embd.weight", 2, emb, LT_F32, &pos, &fell) == LT_Q5_0 && fell);
    m.tied = false; /* untied: output.weight takes the output type, token_embd keeps the mix's */
    CHECK(lt_quantmix_tensor_type(&o, &m, "output.weight", 2, emb256, LT_F32, &pos, NULL) == LT_Q4_K);
    CHECK(lt_quantmix_tensor_type(&o, &m, "token_embd.weight", 2, emb256, LT_F32, &pos, NULL) == LT_Q4_0);
    /* pure and an f16 mix still take the overrides (llama-quantize checks them first) */
    lt_quantmix pf;
    lt_quantmix_parse("F16", true, &pf, NULL);
    CHECK(lt_quantmix_set_override(&pf, "output", "q8_0", &err) == LT_OK);
    CHECK(lt_quantmix_tensor_type(&pf, &m, "output.weight", 2, emb256, LT_F32, &pos, NULL) == LT_Q8_0);
    /* not a tensor type: a mix name, an unknown name, a 2:4 type pruning makes */
    static const char *const bad[] = {"Q4_K_M", "q9_9", "s24_f16", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECKF(lt_quantmix_set_override(&o, "output", bad[i], &err) == LT_EINVAL, "%s accepted", bad[i]);
        CHECKF(strstr(err.msg, "--output-tensor-type") && strstr(err.msg, "q8_0"), "%s", err.msg);
    }
}

/* ---- whole models as tables ------------------------------------------------------------------- */

typedef struct model {
    int n;
    char names[800][64];
    int64_t shapes[800][2];
    int ndims[800];
    lt_quantmix_tensor t[800];
    lt_dtype types[800];
} model;

static void add(model *md, const char *name, int64_t rows, int64_t cols) {
    int i = md->n++;
    snprintf(md->names[i], sizeof md->names[i], "%s", name);
    md->ndims[i] = rows ? 2 : 1;
    md->shapes[i][0] = rows ? rows : cols;
    md->shapes[i][1] = cols;
    md->t[i] = (lt_quantmix_tensor){md->names[i], md->ndims[i], md->shapes[i], LT_F32};
}

/* the tensors of a llama model in a converter's file order (embeddings, layers, output) */
static void build(model *md, int n_layers, int dim, int hidden, int heads, int kv_heads, int vocab, bool tied) {
    md->n = 0;
    int kv = dim / heads * kv_heads;
    char b[48];
    add(md, "token_embd.weight", vocab, dim);
    for (int l = 0; l < n_layers; l++) {
#define L(s, r, c) (snprintf(b, sizeof b, "blk.%d." s, l), add(md, b, r, c))
        L("attn_norm.weight", 0, dim);
        L("attn_q.weight", dim, dim);
        L("attn_k.weight", kv, dim);
        L("attn_v.weight", kv, dim);
        L("attn_output.weight", dim, dim);
        L("ffn_norm.weight", 0, dim);
        L("ffn_gate.weight", hidden, dim);
        L("ffn_up.weight", hidden, dim);
        L("ffn_down.weight", dim, hidden);
#undef L
    }
    add(md, "output_norm.weight", 0, dim);
    if (!tied) add(md, "output.weight", vocab, dim);
}

static lt_dtype type_of(const model *md, const char *name) {
    for (int i = 0; i < md->n; i++)
        if (!strcmp(md->names[i], name)) return md->types[i];
    return LT_DTYPE_COUNT;
}

static lt_dtype layer_type(const model *md, int l, const char *suffix) {
    char b[80];
    snprintf(b, sizeof b, "blk.%d.%s", l, suffix);
    return type_of(md, b);
}

static void plan(model *md, const char *mixname, int n_layers, int n_gqa, bool is_70b, int *n_fallback) {
    lt_quantmix q;
    lt_err err = {0};
    CHECK(lt_quantmix_parse(mixname, false, &q, &err) == LT_OK);
    lt_quantmix_model m = {.n_layers = n_layers, .n_gqa = n_gqa, .tied = false, .is_70b = is_70b};
    CHECKF(lt_quantmix_plan(&q, &m, md->t, md->n, md->types, n_fallback, &err) == LT_OK, "%s", err.msg);
}

static bool in(int l, const int *set) {
    for (; *set >= 0; set++)
        if (*set == l) return true;
    return false;
}

/* a layer-indexed rule: layers in `set` get `a`, the others `b` */
static void expect_layers(const model *md, const char *what, const char *suffix, int n_layers, const int *set,
                          lt_dtype a, lt_dtype b) {
    for (int l = 0; l < n_layers; l++) {
        lt_dtype t = layer_type(md, l, suffix), want = in(l, set) ? a : b;
        CHECKF(t == want, "%s: blk.%d.%s is %s, want %s", what, l, suffix, lt_dtype_name(t), lt_dtype_name(want));
    }
}

static void expect_all(const model *md, const char *what, const char *suffix, int n_layers, lt_dtype t) {
    static const int none[] = {-1};
    expect_layers(md, what, suffix, n_layers, none, t, t);
}

static void test_smollm2_table(void) {
    static model md;
    /* SmolLM2-135M: 30 layers, dim 576, hidden 1536, 9 heads, 3 KV heads, vocab 49152, tied */
    build(&md, 30, 576, 1536, 9, 3, 49152, true);
    /* use_more_bits(i, 30): i < 3, i >= 26, (i - 3) % 3 == 2 */
    static const int more[] = {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29, -1};
    int nf;
    plan(&md, "Q4_K_M", 30, 3, false, &nf);
    CHECK(type_of(&md, "token_embd.weight") == LT_Q8_0); /* tied: q6_K -> 576 % 256 -> q8_0 */
    CHECK(type_of(&md, "output_norm.weight") == LT_F32);
    expect_layers(&md, "Q4_K_M", "attn_v.weight", 30, more, LT_Q8_0, LT_Q5_0);    /* q6_K / q4_K, fallen back */
    expect_layers(&md, "Q4_K_M", "ffn_down.weight", 30, more, LT_Q6_K, LT_Q4_K);  /* 1536 = 6 x 256 */
    expect_all(&md, "Q4_K_M", "attn_q.weight", 30, LT_Q5_0);
    expect_all(&md, "Q4_K_M", "attn_output.weight", 30, LT_Q5_0);
    expect_all(&md, "Q4_K_M", "ffn_up.weight", 30, LT_Q5_0);
    expect_all(&md, "Q4_K_M", "attn_norm.weight", 30, LT_F32);
    /* every matrix with 576-long rows but the embeddings (q8_0 by the output rule itself), as
     * llama-quantize reports: "180 of 272 tensor(s) required fallback quantization" */
    CHECKF(nf == 30 * 6, "%d fallbacks", nf);
    plan(&md, "Q5_K_M", 30, 3, false, NULL);
    expect_layers(&md, "Q5_K_M", "attn_v.weight", 30, more, LT_Q8_0, LT_Q5_1);
    expect_layers(&md, "Q5_K_M", "ffn_down.weight", 30, more, LT_Q6_K, LT_Q5_K);
    expect_all(&md, "Q5_K_M", "ffn_gate.weight", 30, LT_Q5_1);
    plan(&md, "Q6_K", 30, 3, false, NULL);
    CHECK(type_of(&md, "token_embd.weight") == LT_Q8_0);
    expect_all(&md, "Q6_K", "attn_k.weight", 30, LT_Q8_0);
    expect_all(&md, "Q6_K", "ffn_down.weight", 30, LT_Q6_K);
    plan(&md, "Q3_K_M", 30, 3, false, NULL);
    static const int first2[] = {0, 1, -1}, first1[] = {0, -1}, first3[] = {0, 1, 2, -1}, first4[] = {0, 1, 2, 3, -1};
    expect_layers(&md, "Q3_K_M", "attn_v.weight", 30, first2, LT_Q5_1, LT_Q5_0); /* q5_K / q4_K, fallen back */
    expect_layers(&md, "Q3_K_M", "ffn_down.weight", 30, first1, LT_Q5_K, LT_Q4_K); /* 30 / 16 = 1 */
    expect_all(&md, "Q3_K_M", "attn_output.weight", 30, LT_Q5_0);
    expect_all(&md, "Q3_K_M", "attn_q.weight", 30, LT_Q4_0);
    plan(&md, "Q4_K_S", 30, 3, false, NULL);
    expect_layers(&md, "Q4_K_S", "attn_v.weight", 30, first4, LT_Q5_1, LT_Q5_0);
    expect_layers(&md, "Q4_K_S", "ffn_down.weight", 30, first3, LT_Q5_K, LT_Q4_K);
    plan(&md, "IQ4_XS", 30, 3, false, NULL); /* GQA 3: attn_v keeps the mix's type */
    expect_all(&md, "IQ4_XS", "attn_v.weight", 30, LT_IQ4_NL);
    expect_layers(&md, "IQ4_XS", "ffn_down.weight", 30, first3, LT_Q5_K, LT_IQ4_XS);
    plan(&md, "Q8_0", 30, 3, false, NULL);
    CHECK(type_of(&md, "token_embd.weight") == LT_Q8_0);
    expect_all(&md, "Q8_0", "ffn_down.weight", 30, LT_Q8_0);
    plan(&md, "F16", 30, 3, false, NULL);
    CHECK(type_of(&md, "token_embd.weight") == LT_F16);
    expect_all(&md, "F16", "attn_v.weight", 30, LT_F16);
    expect_all(&md, "F16", "ffn_norm.weight", 30, LT_F32);
}

static void test_llama_table(void) {
    static model md;
    /* Llama-2-7B: 32 layers, dim 4096, hidden 11008 (= 43 x 256), 32 heads (MHA), vocab 32000 */
    build(&md, 32, 4096, 11008, 32, 32, 32000, false);
    /* use_more_bits(i, 32): i < 4, i >= 28, (i - 4) % 3 == 2 */
    static const int more[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31, -1};
    static const int first2[] = {0, 1, -1}, first4[] = {0, 1, 2, 3, -1};
    int nf;
    plan(&md, "Q4_K_M", 32, 1, false, &nf);
    CHECK(nf == 0);
    CHECK(type_of(&md, "token_embd.weight") == LT_Q4_K);
    CHECK(type_of(&md, "output.weight") == LT_Q6_K);
    CHECK(type_of(&md, "output_norm.weight") == LT_F32);
    expect_layers(&md, "Q4_K_M", "attn_v.weight", 32, more, LT_Q6_K, LT_Q4_K);
    expect_layers(&md, "Q4_K_M", "ffn_down.weight", 32, more, LT_Q6_K, LT_Q4_K);
    expect_all(&md, "Q4_K_M", "attn_q.weight", 32, LT_Q4_K);
    expect_all(&md, "Q4_K_M", "attn_k.weight", 32, LT_Q4_K);
    expect_all(&md, "Q4_K_M", "attn_output.weight", 32, LT_Q4_K);
    expect_all(&md, "Q4_K_M", "ffn_gate.weight", 32, LT_Q4_K);
    plan(&md, "Q5_K_M", 32, 1, false, NULL);
    expect_layers(&md, "Q5_K_M", "attn_v.weight", 32, more, LT_Q6_K, LT_Q5_K);
    expect_layers(&md, "Q5_K_M", "ffn_down.weight", 32, more, LT_Q6_K, LT_Q5_K);
    CHECK(type_of(&md, "token_embd.weight") == LT_Q5_K);
    plan(&md, "Q5_K_S", 32, 1, false, NULL);
    expect_all(&md, "Q5_K_S", "attn_v.weight", 32, LT_Q5_K);
    CHECK(type_of(&md, "output.weight") == LT_Q6_K);
    plan(&md, "Q4_K_S", 32, 1, false, NULL);
    expect_layers(&md, "Q4_K_S", "attn_v.weight", 32, first4, LT_Q5_K, LT_Q4_K);
    expect_layers(&md, "Q4_K_S", "ffn_down.weight", 32, first4, LT_Q5_K, LT_Q4_K);
    plan(&md, "Q3_K_S", 32, 1, false, NULL);
    expect_all(&md, "Q3_K_S", "attn_v.weight", 32, LT_Q3_K);
    expect_all(&md, "Q3_K_S", "ffn_down.weight", 32, LT_Q3_K);
    CHECK(type_of(&md, "output.weight") == LT_Q6_K && type_of(&md, "token_embd.weight") == LT_Q3_K);
    plan(&md, "Q3_K_M", 32, 1, false, NULL);
    expect_layers(&md, "Q3_K_M", "attn_v.weight", 32, first2, LT_Q5_K, LT_Q4_K);
    expect_layers(&md, "Q3_K_M", "ffn_down.weight", 32, first2, LT_Q5_K, LT_Q4_K); /* 32 / 16 = 2 */
    expect_all(&md, "Q3_K_M", "attn_output.weight", 32, LT_Q4_K);
    expect_all(&md, "Q3_K_M", "attn_q.weight", 32, LT_Q3_K);
    plan(&md, "Q3_K_L", 32, 1, false, NULL);
    expect_all(&md, "Q3_K_L", "attn_v.weight", 32, LT_Q5_K);
    expect_all(&md, "Q3_K_L", "ffn_down.weight", 32, LT_Q5_K);
    expect_all(&md, "Q3_K_L", "attn_output.weight", 32, LT_Q5_K);
    expect_all(&md, "Q3_K_L", "ffn_up.weight", 32, LT_Q3_K);
    plan(&md, "Q2_K", 32, 1, false, NULL);
    expect_all(&md, "Q2_K", "attn_v.weight", 32, LT_Q3_K);
    expect_all(&md, "Q2_K", "ffn_down.weight", 32, LT_Q3_K);
    expect_all(&md, "Q2_K", "attn_output.weight", 32, LT_Q3_K);
    expect_all(&md, "Q2_K", "attn_k.weight", 32, LT_Q2_K);
    CHECK(type_of(&md, "token_embd.weight") == LT_Q2_K && type_of(&md, "output.weight") == LT_Q6_K);
    plan(&md, "Q6_K", 32, 1, false, NULL);
    expect_all(&md, "Q6_K", "attn_v.weight", 32, LT_Q6_K);
    CHECK(type_of(&md, "output.weight") == LT_Q6_K && type_of(&md, "token_embd.weight") == LT_Q6_K);
    plan(&md, "Q8_0", 32, 1, false, NULL);
    CHECK(type_of(&md, "output.weight") == LT_Q8_0 && type_of(&md, "token_embd.weight") == LT_Q8_0);
    plan(&md, "Q4_0", 32, 1, false, NULL);
    CHECK(type_of(&md, "output.weight") == LT_Q6_K && type_of(&md, "token_embd.weight") == LT_Q4_0);
    expect_all(&md, "Q4_0", "ffn_down.weight", 32, LT_Q4_0);
    plan(&md, "IQ4_NL", 32, 1, false, NULL);
    expect_all(&md, "IQ4_NL", "attn_v.weight", 32, LT_IQ4_NL);
    expect_layers(&md, "IQ4_NL", "ffn_down.weight", 32, first4, LT_Q5_K, LT_IQ4_NL);
    /* grouped-query attention (Llama-3-8B: 32 heads, 8 KV heads): attn_v gets more bits */
    build(&md, 32, 4096, 14336, 32, 8, 128256, false);
    plan(&md, "Q2_K", 32, 4, false, NULL);
    expect_all(&md, "Q2_K GQA", "attn_v.weight", 32, LT_Q4_K);
    plan(&md, "IQ4_XS", 32, 4, false, NULL);
    expect_all(&md, "IQ4_XS GQA", "attn_v.weight", 32, LT_Q5_K);
    plan(&md, "Q4_K_M", 32, 4, false, NULL);
    expect_layers(&md, "Q4_K_M GQA", "attn_v.weight", 32, more, LT_Q6_K, LT_Q4_K);
    /* 70B (80 layers, GQA 8): q3_K / q4_K attn_v become q5_K */
    build(&md, 80, 8192, 28672, 64, 8, 32000, false);
    plan(&md, "Q3_K_S", 80, 8, true, NULL);
    expect_all(&md, "Q3_K_S 70B", "attn_v.weight", 80, LT_Q5_K);
    expect_all(&md, "Q3_K_S 70B", "attn_q.weight", 80, LT_Q3_K);
    plan(&md, "Q4_K_M", 80, 8, true, NULL);
    /* use_more_bits(i, 80): i < 10, i >= 70, (i - 10) % 3 == 2: q6_K; the rest q4_K -> q5_K */
    for (int l = 0; l < 80; l++) {
        bool more80 = l < 10 || l >= 70 || (l - 10) % 3 == 2;
        CHECKF(layer_type(&md, l, "attn_v.weight") == (more80 ? LT_Q6_K : LT_Q5_K), "70B blk.%d.attn_v", l);
        CHECKF(layer_type(&md, l, "ffn_down.weight") == (more80 ? LT_Q6_K : LT_Q4_K), "70B blk.%d.ffn_down", l);
    }
    lt_llm_config cfg = {.arch = "llama", .n_layers = 80, .n_heads = 64, .n_kv_heads = 8};
    lt_quantmix_model m;
    lt_quantmix_model_from_config(&cfg, &m);
    CHECK(m.is_70b && m.n_gqa == 8 && !m.tied);
    cfg.n_kv_heads = 64; /* 65B: MHA */
    lt_quantmix_model_from_config(&cfg, &m);
    CHECK(!m.is_70b && m.n_gqa == 1);
}

/* ---- llama-quantize's choices -------------------------------------------------------------------- */

static void test_fixture(const char *file) {
    const char *path = lt_test_path(file);
    FILE *f = fopen(path, "r");
    CHECKF(f != NULL, "cannot open %s", path);
    if (!f) return;
    static char names[1024][64];
    static int64_t shapes[1024][4];
    static lt_quantmix_tensor t[1024];
    static lt_dtype want[32][1024], got[1024];
    char mixes[32][16], line[1024], arch[32] = "";
    int n_mix = 0, n = 0, n_layers = 0, heads = 0, kv_heads = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (!strncmp(line, "config:", 7)) {
            CHECK(sscanf(line, "config: arch=%31s n_layers=%d n_heads=%d n_kv_heads=%d", arch, &n_layers, &heads,
                         &kv_heads) == 4);
            continue;
        }
        char *save, *tok = strtok_r(line, " \n", &save);
        if (!strcmp(tok, "mixes:")) {
            while ((tok = strtok_r(NULL, " \n", &save)) && n_mix < 32) snprintf(mixes[n_mix++], 16, "%s", tok);
            continue;
        }
        if (n >= 1024) break;
        snprintf(names[n], sizeof names[n], "%s", tok);
        char *shape = strtok_r(NULL, " \n", &save), *src = strtok_r(NULL, " \n", &save);
        int nd = 0;
        for (char *s2, *d = strtok_r(shape, "x", &s2); d && nd < 4; d = strtok_r(NULL, "x", &s2))
            shapes[n][nd++] = atoll(d);
        t[n] = (lt_quantmix_tensor){names[n], nd, shapes[n], lt_dtype_from_name(src)};
        for (int k = 0; k < n_mix; k++) want[k][n] = lt_dtype_from_name(strtok_r(NULL, " \n", &save));
        n++;
    }
    fclose(f);
    CHECKF(n > 0 && n_mix > 0 && n_layers > 0, "%s: no rows", file);
    /* hand the tensors over in reverse (a file order that is not llama.cpp's) */
    static lt_quantmix_tensor rev[1024];
    for (int i = 0; i < n; i++) rev[i] = t[n - 1 - i];
    lt_llm_config cfg = {.n_layers = n_layers, .n_heads = heads, .n_kv_heads = kv_heads};
    snprintf(cfg.arch, sizeof cfg.arch, "%s", arch);
    bool has_output = false;
    for (int i = 0; i < n; i++) has_output |= !strcmp(names[i], "output.weight");
    cfg.tied_embeddings = !has_output;
    lt_quantmix_model m;
    lt_quantmix_model_from_config(&cfg, &m);
    int bad = 0;
    for (int k = 0; k < n_mix; k++) {
        lt_quantmix q;
        lt_err err = {0};
        CHECKF(lt_quantmix_parse(mixes[k], false, &q, &err) == LT_OK, "%s", err.msg);
        CHECKF(!strcmp(q.name, mixes[k]), "%s", q.name);
        CHECKF(lt_quantmix_plan(&q, &m, rev, n, got, NULL, &err) == LT_OK, "%s", err.msg);
        for (int i = 0; i < n; i++) {
            lt_dtype w = want[k][n - 1 - i];
            if (got[i] == w) lt_test_passed++;
            else if (bad++ < 20) {
                lt_test_failed++;
                fprintf(stderr, "%s %s: %s is %s, llama-quantize chose %s\n", file, mixes[k], rev[i].name,
                        lt_dtype_name(got[i]), lt_dtype_name(w));
            } else lt_test_failed++;
        }
    }
    printf("%s: %d tensors x %d mixes, %d differ from llama-quantize\n", file, n, n_mix, bad);
}

int main(void) {
    test_parse();
    test_rules_basic();
    test_smollm2_table();
    test_llama_table();
    test_fixture("tests/fixtures/quantmix/smollm2.txt");
    test_fixture("tests/fixtures/quantmix/stories260k.txt");
    test_fixture("tests/fixtures/quantmix/llama32_mha.txt");
    test_fixture("tests/fixtures/quantmix/llama32_gqa4.txt");
    test_fixture("tests/fixtures/quantmix/llama80_gqa8.txt");
    return lt_test_done();
}
