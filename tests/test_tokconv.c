/* test_tokconv.c - tokenizers travel with models (issue #13): the llama.c tokenizer guess finds
 * the bundled tok512.bin; stories260K converted to GGUF, a Hugging Face folder and llama2.c
 * carries its tokenizer and encodes/decodes as tok512 does; every llama.cpp test vocab
 * (assets/vocab) and SmolLM2's survive tokenizer.json (lathe's writer, lathe's reader) with
 * the same ids on llama.cpp's test strings; --tokenizer replaces a GGUF's vocab; a byte-level
 * BPE vocab cannot become a llama2.c tokenizer and nothing is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/formats/gguf.h"
#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_llama2c.h"
#include "core/formats/modelsrc_open.h"
#include "core/text/tokenizer.h"
#include "core/text/vocab.h"
#include "testutil.h"

static char g_tmp[1024];

static const char *tmp_path(const char *name) {
    static char buf[4][1200];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 1200, "%s/%s", g_tmp, name);
    return b;
}

static const char *SENTENCES[] = {
    "Once upon a time, there was a little girl named Lily.",
    "She loved to play outside in the park with her dog, Max!",
    "  two leading spaces and   three inside",
    "Numbers 12345 and symbols #@$%^&*() ok?",
    "caf\xC3\xA9 na\xC3\xAFve \xE2\x9C\x93 \xF0\x9F\x98\x80 end",
    "line one\nline two\n\n\ttabbed",
    "",
};

static lt_tokenizer *tok_of(lt_vocab *v, const char *what) {
    lt_err err = {0};
    lt_tokenizer *t = NULL;
    CHECKF(v != NULL, "%s: no vocab", what);
    if (!v) return NULL;
    CHECKF(lt_tok_create(&t, v, &err) == LT_OK, "%s: %s", what, err.msg);
    return t;
}

static lt_tokenizer *load_tok(const char *path, int32_t n_vocab) {
    lt_err err = {0};
    lt_vocab *v = NULL;
    CHECKF(lt_modelsrc_load_tokenizer(&v, path, n_vocab, &err) == LT_OK, "%s: %s", path, err.msg);
    return v ? tok_of(v, path) : NULL;
}

/* Opens a model as every front end does (the guess when no tokenizer is named) and returns
 * its tokenizer (NULL when it has none). */
static lt_tokenizer *model_tok(const char *path, const char *tokp) {
    lt_err err = {0};
    char guess[4200];
    if (!tokp) tokp = lt_modelsrc_guess_tokenizer(path, guess, sizeof guess);
    lt_modelsrc *src = NULL;
    CHECKF(lt_modelsrc_open(&src, path, tokp, &err) == LT_OK, "%s: %s", path, err.msg);
    if (!src) return NULL;
    lt_vocab *v = lt_modelsrc_take_vocab(src);
    lt_modelsrc_close(src);
    return v ? tok_of(v, path) : NULL;
}

/* Same ids for text under a and b (both add_special settings); same decoded text. */
static bool same_encoding(const lt_tokenizer *a, const lt_tokenizer *b, const char *text, size_t len,
                          const char *what) {
    static int32_t ia[65536], ib[65536];
    for (int sp = 0; sp < 2; sp++) {
        int64_t na = lt_tok_encode(a, text, len, sp, false, ia, 65536);
        int64_t nb = lt_tok_encode(b, text, len, sp, false, ib, 65536);
        if (na != nb || na < 0 || memcmp(ia, ib, sizeof(int32_t) * (size_t)na)) {
            fprintf(stderr, "%s: '%.*s' (add_special %d): %lld vs %lld ids\n", what, (int)(len < 60 ? len : 60), text,
                    sp, (long long)na, (long long)nb);
            for (int64_t k = 0; k < na && k < 30; k++) fprintf(stderr, " %d", ia[k]);
            fprintf(stderr, "\n");
            for (int64_t k = 0; k < nb && k < 30; k++) fprintf(stderr, " %d", ib[k]);
            fprintf(stderr, "\n");
            return false;
        }
        for (int64_t k = 0; k < na; k++) {
            char pa[256], pb[256];
            size_t la = lt_tok_piece(a, ia[k], false, pa, sizeof pa), lb = lt_tok_piece(b, ib[k], false, pb, sizeof pb);
            if (la != lb || memcmp(pa, pb, la < sizeof pa ? la : sizeof pa)) {
                fprintf(stderr, "%s: token %d decodes differently\n", what, ia[k]);
                return false;
            }
        }
    }
    return true;
}

static void check_sentences(const lt_tokenizer *ref, const lt_tokenizer *t, const char *what) {
    CHECKF(t != NULL, "%s: no tokenizer", what);
    if (!t || !ref) return;
    for (size_t i = 0; i < sizeof SENTENCES / sizeof *SENTENCES; i++)
        CHECKF(same_encoding(ref, t, SENTENCES[i], strlen(SENTENCES[i]), what), "%s: sentence %zu", what, i);
}

/* ---- stories260K without --tokenizer -------------------------------------------------------- */

static void test_stories(void) {
    const char *model = lt_test_path("assets/models/stories260K.bin");
    const char *tok512 = lt_test_path("assets/models/tok512.bin");
    char guess[4200];
    const char *g = lt_modelsrc_guess_tokenizer(model, guess, sizeof guess);
    CHECKF(g && strstr(g, "tok512.bin"), "guess for stories260K: %s", g ? g : "(none)");
    CHECK(lt_modelsrc_guess_tokenizer(lt_test_path("assets/models/tok512.bin"), guess, sizeof guess) == NULL);

    lt_tokenizer *ref = load_tok(tok512, 512);
    lt_tokenizer *t0 = model_tok(model, NULL);
    check_sentences(ref, t0, "stories260K by path");
    lt_tok_free(t0);

    lt_err err = {0};
    lt_modelsrc *src = NULL;
    CHECKF(lt_modelsrc_open(&src, model, lt_modelsrc_guess_tokenizer(model, guess, sizeof guess), &err) == LT_OK,
           "%s", err.msg);
    if (!src) {
        lt_tok_free(ref);
        return;
    }
    /* GGUF */
    CHECKF(lt_modelsrc_write_gguf(src, tmp_path("s.gguf"), LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    lt_tokenizer *tg = model_tok(tmp_path("s.gguf"), NULL);
    check_sentences(ref, tg, "stories260K -> GGUF");
    lt_tok_free(tg);
    /* Hugging Face folder */
    CHECKF(lt_modelsrc_write_hf(src, tmp_path("hf"), LT_F32, &err) == LT_OK, "%s", err.msg);
    CHECK(access(tmp_path("hf/tokenizer.json"), R_OK) == 0);
    CHECK(access(tmp_path("hf/tokenizer_config.json"), R_OK) == 0);
    lt_tokenizer *th = model_tok(tmp_path("hf"), NULL);
    check_sentences(ref, th, "stories260K -> HF");
    lt_tok_free(th);
    /* llama2.c: tokenizer.bin beside it, byte for byte tok512 */
    mkdir(tmp_path("l2c"), 0777);
    CHECKF(lt_modelsrc_write_llama2c(src, tmp_path("l2c/m.bin"), &err) == LT_OK, "%s", err.msg);
    size_t la = 0, lb = 0;
    char *a = lt_test_read_file(tmp_path("l2c/tokenizer.bin"), &la), *b = lt_test_read_file(tok512, &lb);
    CHECK(a && b && la == lb && !memcmp(a, b, la));
    free(a);
    free(b);
    lt_tokenizer *tl = model_tok(tmp_path("l2c/m.bin"), NULL);
    check_sentences(ref, tl, "stories260K -> llama2.c");
    lt_tok_free(tl);
    /* again into the same folder: the identical tokenizer.bin is kept */
    CHECKF(lt_modelsrc_write_llama2c(src, tmp_path("l2c/m2.bin"), &err) == LT_OK, "%s", err.msg);
    /* a folder whose tokenizer.bin holds another tokenizer: refused before anything is written, it stays */
    mkdir(tmp_path("l2c-other"), 0777);
    unlink(tmp_path("l2c-other/m.bin"));
    FILE *of = fopen(tmp_path("l2c-other/tokenizer.bin"), "wb");
    if (of) fputs("another tokenizer", of), fclose(of);
    CHECKF(lt_modelsrc_write_llama2c(src, tmp_path("l2c-other/m.bin"), &err) == LT_EINVAL &&
               strstr(err.msg, "already exists and holds another tokenizer"),
           "%s", err.msg);
    CHECK(access(tmp_path("l2c-other/m.bin"), F_OK) != 0);
    a = lt_test_read_file(tmp_path("l2c-other/tokenizer.bin"), &la);
    CHECK(a && la == strlen("another tokenizer") && !memcmp(a, "another tokenizer", la));
    free(a);
    /* a checkpoint path whose tokenizer.bin path does not fit: LT_ERANGE, not a truncated name */
    char longp[4300];
    memset(longp, 'd', sizeof longp);
    memcpy(longp, "/nonexistent/", 13);
    snprintf(longp + 4190, sizeof longp - 4190, "/m.bin");
    CHECKF(lt_modelsrc_write_llama2c(src, longp, &err) == LT_ERANGE && strstr(err.msg, "does not fit"), "%s", err.msg);
    lt_modelsrc_close(src);

    /* HF folder -> llama2.c: the SPM vocab read from tokenizer.json goes back to llama2.c */
    lt_modelsrc *hf = NULL;
    CHECKF(lt_modelsrc_open(&hf, tmp_path("hf"), NULL, &err) == LT_OK, "%s", err.msg);
    mkdir(tmp_path("l2c2"), 0777);
    if (hf) CHECKF(lt_modelsrc_write_llama2c(hf, tmp_path("l2c2/m.bin"), &err) == LT_OK, "%s", err.msg);
    lt_modelsrc_close(hf);
    lt_tokenizer *tl2 = model_tok(tmp_path("l2c2/m.bin"), NULL);
    check_sentences(ref, tl2, "stories260K -> HF -> llama2.c");
    lt_tok_free(tl2);
    lt_tok_free(ref);
}

/* ---- --tokenizer for a GGUF input; a model folder as tokenizer ---------------------------- */

static void test_tokenizer_override(void) {
    const char *model = lt_test_path("assets/models/stories260K.bin");
    lt_err err = {0};
    lt_modelsrc *src = NULL;
    CHECKF(lt_modelsrc_open(&src, model, NULL, &err) == LT_OK, "%s", err.msg); /* no tokenizer named: none */
    if (!src) return;
    CHECK(lt_modelsrc_vocab(src) == NULL);
    CHECKF(lt_modelsrc_write_gguf(src, tmp_path("bare.gguf"), LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc_close(src);
    lt_tokenizer *none = model_tok(tmp_path("bare.gguf"), NULL);
    CHECK(none == NULL);
    lt_tok_free(none);
    lt_tokenizer *ref = load_tok(lt_test_path("assets/models/tok512.bin"), 512);
    char toks[4][1200], bare[1200];
    snprintf(toks[0], sizeof toks[0], "%s", lt_test_path("assets/models/tok512.bin"));
    snprintf(toks[1], sizeof toks[1], "%s", tmp_path("s.gguf"));
    snprintf(toks[2], sizeof toks[2], "%s", tmp_path("hf/tokenizer.json"));
    snprintf(toks[3], sizeof toks[3], "%s", tmp_path("hf"));
    snprintf(bare, sizeof bare, "%s", tmp_path("bare.gguf"));
    for (int i = 0; i < 4; i++) {
        lt_tokenizer *t = model_tok(bare, toks[i]);
        check_sentences(ref, t, toks[i]);
        lt_tok_free(t);
    }
    /* a vocab larger than the model, and a file that is no tokenizer: errors naming the file */
    lt_modelsrc *bad = NULL;
    CHECK(lt_modelsrc_open(&bad, bare, lt_test_path("assets/vocab/ggml-vocab-gpt-2.gguf"), &err) ==
              LT_EFORMAT &&
          strstr(err.msg, "embedding rows") && bad == NULL);
    CHECK(lt_modelsrc_open(&bad, bare, tmp_path("l2c/m.bin"), &err) != LT_OK &&
          strstr(err.msg, "not a tokenizer") && bad == NULL);
    lt_tok_free(ref);
}

/* ---- every llama.cpp test vocab through tokenizer.json ------------------------------------- */

static int roundtrip_vocab(lt_vocab *v, const char *what, const char *inp_path) {
    lt_err err = {0};
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/vocab-%s", g_tmp, what);
    mkdir(dir, 0777);
    CHECKF(lt_vocab_write_hf(v, dir, &err) == LT_OK, "%s: %s", what, err.msg);
    char tj[1400];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    lt_vocab *back = NULL;
    CHECKF(lt_vocab_from_hf(&back, tj, &err) == LT_OK, "%s: %s", what, err.msg);
    if (!back) return 1;
    CHECKF(back->type == v->type && back->n_tokens <= v->n_tokens, "%s: type %d/%d, %d/%d tokens", what, back->type,
           v->type, back->n_tokens, v->n_tokens);
    CHECKF(back->bos_id == v->bos_id && back->add_bos == v->add_bos && back->add_eos == v->add_eos, "%s: bos", what);
    CHECKF((!v->chat_template && !back->chat_template) ||
               (v->chat_template && back->chat_template && !strcmp(v->chat_template, back->chat_template)),
           "%s: chat template", what);
    lt_tokenizer *a = tok_of(v, what), *b = tok_of(back, tj);
    int bad = 0, n = 0;
    size_t il = 0;
    char *inp = inp_path ? lt_test_read_file(inp_path, &il) : NULL;
    const char *SEP = "\n__ggml_vocab_test__\n";
    for (char *ip = inp; a && b && ip && *ip; n++) {
        char *e = strstr(ip, SEP);
        if (!e) break;
        bad += !same_encoding(a, b, ip, (size_t)(e - ip), what);
        ip = e + strlen(SEP);
    }
    for (size_t i = 0; a && b && i < sizeof SENTENCES / sizeof *SENTENCES; i++, n++)
        bad += !same_encoding(a, b, SENTENCES[i], strlen(SENTENCES[i]), what);
    CHECKF(bad == 0, "%s: %d of %d strings encode differently after tokenizer.json", what, bad, n);
    free(inp);
    lt_tok_free(a);
    lt_tok_free(b);
    return bad;
}

static lt_vocab *gguf_vocab(const char *path) {
    lt_err err = {0};
    lt_vocab *v = NULL;
    CHECKF(lt_modelsrc_load_tokenizer(&v, path, 0, &err) == LT_OK, "%s: %s", path, err.msg);
    return v;
}

static void test_llama_cpp_vocabs(void) {
    static const char *VOCABS[] = {"llama-spm", "phi-3",  "gpt-2",        "mpt",            "starcoder",
                                   "refact",    "falcon", "deepseek-llm", "deepseek-coder", NULL};
    for (int i = 0; VOCABS[i]; i++) {
        char rel[256], irel[300];
        snprintf(rel, sizeof rel, "assets/vocab/ggml-vocab-%s.gguf", VOCABS[i]);
        snprintf(irel, sizeof irel, "%s.inp", rel);
        char inp[4200];
        snprintf(inp, sizeof inp, "%s", lt_test_path(irel));
        lt_vocab *v = gguf_vocab(lt_test_path(rel));
        if (v) roundtrip_vocab(v, VOCABS[i], inp);
    }
}

/* ---- SmolLM2: byte-level BPE with a chat template --------------------------------------------- */

static void test_smollm2(void) {
    const char *path = lt_test_smollm2("test_tokconv (its SmolLM2 part)");
    if (!path) return;
    lt_vocab *v = gguf_vocab(path);
    if (!v) return;
    CHECK(v->type == LT_VOCAB_BPE && v->chat_template != NULL);
    roundtrip_vocab(v, "smollm2", lt_test_path("assets/vocab/ggml-vocab-starcoder.gguf.inp"));
    size_t n = 0;
    char *cfg = lt_test_read_file(tmp_path("vocab-smollm2/tokenizer_config.json"), &n);
    CHECK(cfg && strstr(cfg, "\"chat_template\"") && strstr(cfg, "<|im_start|>"));
    free(cfg);
    /* a byte-level BPE vocab cannot become a llama2.c tokenizer: a clear error, nothing written */
    lt_vocab *b = gguf_vocab(path);
    lt_err err = {0};
    if (b) {
        CHECK(lt_vocab_write_llama2c(b, tmp_path("bpe-tokenizer.bin"), &err) == LT_EUNSUPPORTED &&
              strstr(err.msg, "byte-level BPE"));
        CHECK(access(tmp_path("bpe-tokenizer.bin"), F_OK) != 0);
    }
    lt_vocab_free(b);
}

/* A byte-level BPE model (gpt-2's vocab on a tiny random model) to llama2.c: the error names
 * why before the checkpoint or tokenizer.bin exist. Needs no SmolLM2. */
static void test_bpe_to_llama2c(void) {
    lt_vocab *v = gguf_vocab(lt_test_path("assets/vocab/ggml-vocab-gpt-2.gguf"));
    if (!v) return;
    lt_llm_config cfg = {.arch = "llama", .n_vocab = v->n_tokens, .dim = 8, .hidden_dim = 16, .n_layers = 1,
                         .n_heads = 2, .n_kv_heads = 2, .head_dim = 4, .max_seq = 16, .norm_eps = 1e-5f,
                         .rope_theta = 10000.0f, .tied_embeddings = true};
    lt_err err = {0};
    lt_modelsrc *src = NULL;
    CHECKF(lt_modelsrc_create(&src, &cfg, v, "bpe", &err) == LT_OK, "%s", err.msg);
    if (!src) return;
    int64_t emb[2] = {cfg.n_vocab, 8}, vec[1] = {8}, sq[2] = {8, 8}, up[2] = {16, 8}, down[2] = {8, 16};
    float *z = lt_calloc((size_t)cfg.n_vocab * 8, sizeof(float));
    bool ok = z && !lt_modelsrc_add_owned(src, "token_embd.weight", LT_F32, 2, emb, z, &err) &&
              !lt_modelsrc_add_owned(src, "output_norm.weight", LT_F32, 1, vec, z, &err);
    const char *names[] = {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
                           "ffn_norm.weight",  "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"};
    const int64_t *shapes[] = {vec, sq, sq, sq, sq, vec, up, up, down};
    for (int i = 0; ok && i < 9; i++) {
        char name[96];
        snprintf(name, sizeof name, "blk.0.%s", names[i]);
        ok = !lt_modelsrc_add_owned(src, name, LT_F32, shapes[i] == vec ? 1 : 2, shapes[i], z, &err);
    }
    CHECKF(ok, "%s", err.msg);
    lt_free(z);
    mkdir(tmp_path("bpe"), 0777);
    CHECK(lt_modelsrc_write_llama2c(src, tmp_path("bpe/m.bin"), &err) == LT_EUNSUPPORTED &&
          strstr(err.msg, "byte-level BPE") && strstr(err.msg, "m.bin"));
    CHECK(access(tmp_path("bpe/m.bin"), F_OK) != 0 && access(tmp_path("bpe/tokenizer.bin"), F_OK) != 0);
    /* the same model as a HF folder keeps the vocab */
    CHECKF(lt_modelsrc_write_hf(src, tmp_path("bpe-hf"), LT_F32, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc_close(src);
    lt_tokenizer *ref = tok_of(gguf_vocab(lt_test_path("assets/vocab/ggml-vocab-gpt-2.gguf")), "gpt-2");
    lt_tokenizer *t = model_tok(tmp_path("bpe-hf"), NULL);
    check_sentences(ref, t, "gpt-2 model -> HF");
    lt_tok_free(t);
    lt_tok_free(ref);
}

/* A SentencePiece vocab with no unk (-1): llama2.c's token 0 is <unk>, so one whose token 0 holds
 * other text cannot be written (its text would be lost); one whose token 0 is "<unk>" can. */
static void test_no_unk_to_llama2c(void) {
    lt_vocab *v = gguf_vocab(lt_test_path("assets/models/tok512.bin"));
    if (!v) return;
    lt_err err = {0};
    v->unk_id = -1; /* token 0 is still "<unk>": nothing is lost */
    CHECKF(lt_vocab_llama2c_check(v, 0, &err) == LT_OK, "%s", err.msg);
    char *t0 = v->tokens[0]; /* token 0 becomes token 100's text (owned pointers swapped) */
    uint32_t l0 = v->token_len[0];
    v->tokens[0] = v->tokens[100], v->token_len[0] = v->token_len[100];
    v->tokens[100] = t0, v->token_len[100] = l0;
    CHECKF(lt_vocab_llama2c_check(v, 0, &err) == LT_EUNSUPPORTED && strstr(err.msg, "without <unk>"), "%s", err.msg);
    unlink(tmp_path("no-unk-tokenizer.bin")); /* a left-over of an earlier run */
    CHECK(lt_vocab_write_llama2c(v, tmp_path("no-unk-tokenizer.bin"), &err) == LT_EUNSUPPORTED);
    CHECK(access(tmp_path("no-unk-tokenizer.bin"), F_OK) != 0);
    v->unk_id = 0; /* the same vocab with token 0 as its unk: llama2.c's <unk> */
    CHECKF(lt_vocab_llama2c_check(v, 0, &err) == LT_OK, "%s", err.msg);
    lt_vocab_free(v);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "%s", lt_test_tmpdir("tokconv"));
    test_stories();
    test_tokenizer_override();
    test_llama_cpp_vocabs();
    test_smollm2();
    test_bpe_to_llama2c();
    test_no_unk_to_llama2c();
    return lt_test_done();
}
