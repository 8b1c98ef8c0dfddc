/* gen_corpus.c - writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/)
 * with lathe's own writers, so the seeds are valid files of today's formats: tiny GGUF
 * models and vocab-only GGUFs, Hugging Face folders (config.json NUL model.safetensors),
 * tokenizer.json files, llama2.c checkpoints and tokenizers, darknet cfgs (from assets/yolo)
 * and a tiny network with its weights, images in every container stb reads that
 * stb_image_write can make plus hand-made GIF/PNM, journals, command scripts, diffusers UNet and
 * scheduler configs and noise streams (from the committed tests/fixtures/unet and imagine).
 * Usage: fuzz_gen_corpus CORPUS_DIR [ASSETS_DIR]  (tests/fuzz/run.sh --regen runs it).
 * The corpus is committed; regenerate it when a format changes and commit the difference.
 */
#include "fuzz_common.h"

#include <errno.h>
/* a private copy of the writer (lathe's image.c only uses its PNG part): its JPEG encoder
 * shifts ints past their range, which UBSan rejects, so CMake builds this file without UBSan */
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "core/formats/stb_quiet.h"
LT_STB_QUIET_BEGIN
#include <stb_image_write.h>
LT_STB_QUIET_END

#include "core/app/journal.h"
#include "core/base/alloc.h"
#include "core/formats/darknet.h"
#include "core/formats/gguf.h"
#include "core/formats/image.h"
#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_llama2c.h"
#include "core/formats/torchpt.h"
#include "core/text/vocab.h"

static const char *g_out, *g_assets;
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static float frand(void) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (float)(g_rng >> 40) / (float)(1 << 24) - 0.5f;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "gen_corpus: %s: %s\n", what, msg);
    exit(1);
}

static const char *out_path(const char *target, const char *name) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", g_out, target);
    mkdir(b, 0755);
    snprintf(b, sizeof buf[0], "%s/%s/%s", g_out, target, name);
    return b;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)l + 1);
    *n = fread(b, 1, (size_t)l, f);
    fclose(f);
    return b;
}

/* Writes the parts, joined by NUL bytes (the targets' two-file inputs). */
static void put(const char *target, const char *name, const void *a, size_t na, const void *b, size_t nb) {
    const char *p = out_path(target, name);
    FILE *f = fopen(p, "wb");
    if (!f) die(p, strerror(errno));
    fwrite(a, 1, na, f);
    if (b) {
        fputc(0, f);
        fwrite(b, 1, nb, f);
    }
    fclose(f);
}

static void put_text(const char *target, const char *name, const char *text) {
    put(target, name, text, strlen(text), NULL, 0);
}

/* ---- models ------------------------------------------------------------------------------ */

static lt_vocab *tiny_vocab(bool spm) {
    lt_vocab *v = lt_vocab_create();
    const char *bpe[] = {"<unk>", "<s>", "</s>", "a", "b", "c", "ab", "bc", "abc", "\xc4\xa0", "\304\240a"};
    const char *sp[] = {"<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "\xe2\x96\x81", "a", "b", "ab", "\342\226\201a",
                        "\342\226\201ab"};
    const char **toks = spm ? sp : bpe;
    int n = 11;
    v->type = spm ? LT_VOCAB_SPM : LT_VOCAB_BPE;
    snprintf(v->pre, sizeof v->pre, "%s", spm ? "" : "gpt-2");
    v->n_tokens = n;
    v->tokens = lt_calloc((size_t)n, sizeof *v->tokens);
    v->token_len = lt_calloc((size_t)n, sizeof *v->token_len);
    v->scores = lt_calloc((size_t)n, sizeof *v->scores);
    v->token_types = lt_calloc((size_t)n, sizeof *v->token_types);
    for (int i = 0; i < n; i++) {
        v->tokens[i] = lt_strdup(toks[i]);
        v->token_len[i] = (uint32_t)strlen(toks[i]);
        v->scores[i] = -(float)i;
        v->token_types[i] = i < 3 ? LT_TOKTYPE_CONTROL : LT_TOKTYPE_NORMAL;
        if (spm && (i == 3 || i == 4)) v->token_types[i] = LT_TOKTYPE_BYTE;
    }
    if (!spm) {
        const char *merges[] = {"a b", "b c", "ab c", "\xc4\xa0 a"};
        v->n_merges = 4;
        v->merges = lt_calloc(4, sizeof *v->merges);
        for (int i = 0; i < 4; i++) v->merges[i] = lt_strdup(merges[i]);
        v->chat_template = lt_strdup("{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}");
    } else {
        v->add_space_prefix = true;
        v->chat_template = lt_strdup("[INST] <<SYS>> {{ m }} [/INST]");
    }
    v->unk_id = 0, v->bos_id = 1, v->eos_id = 2;
    v->add_bos = true;
    return v;
}

/* A llama-family model with dim D (heads of 4 when D = 8, of 16 when D = 32), one layer. */
static lt_modelsrc *tiny_model(const char *arch, int dim, bool tied, lt_vocab *vocab) {
    lt_llm_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.arch, sizeof c.arch, "%s", arch);
    snprintf(c.name, sizeof c.name, "tiny");
    c.n_vocab = 11;
    c.dim = dim;
    c.hidden_dim = dim * 2;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.head_dim = dim / 2;
    c.max_seq = 8;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.tied_embeddings = tied;
    c.qkv_bias = !strcmp(arch, "qwen2");
    c.rope_neox = c.qkv_bias;
    lt_modelsrc *m = NULL;
    lt_err err = {0};
    if (lt_modelsrc_create(&m, &c, vocab, "tiny", &err)) die("lt_modelsrc_create", err.msg);
    int64_t D = dim, F = 2 * dim, Dh = dim / 2, V = 11;
    struct { const char *name; int nd; int64_t s0, s1; } T[] = {
        {"token_embd.weight", 2, V, D},          {"output_norm.weight", 1, D, 0},     {"output.weight", 2, V, D},
        {"blk.0.attn_norm.weight", 1, D, 0},     {"blk.0.attn_q.weight", 2, 2 * Dh, D},
        {"blk.0.attn_k.weight", 2, Dh, D},       {"blk.0.attn_v.weight", 2, Dh, D},
        {"blk.0.attn_output.weight", 2, D, 2 * Dh}, {"blk.0.ffn_norm.weight", 1, D, 0},
        {"blk.0.ffn_gate.weight", 2, F, D},      {"blk.0.ffn_up.weight", 2, F, D},
        {"blk.0.ffn_down.weight", 2, D, F},      {"blk.0.attn_q.bias", 1, 2 * Dh, 0},
        {"blk.0.attn_k.bias", 1, Dh, 0},         {"blk.0.attn_v.bias", 1, Dh, 0}};
    float x[64 * 64];
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        if (tied && !strcmp(T[i].name, "output.weight")) continue;
        if (!c.qkv_bias && strstr(T[i].name, ".bias")) continue;
        int64_t s[2] = {T[i].s0, T[i].s1}, ne = T[i].nd == 2 ? s[0] * s[1] : s[0];
        for (int64_t j = 0; j < ne; j++) x[j] = strstr(T[i].name, "norm") ? 1.0f : frand();
        if (lt_modelsrc_add_owned(m, T[i].name, LT_F32, T[i].nd, s, x, &err)) die(T[i].name, err.msg);
    }
    return m;
}

static void gguf_seeds(void) {
    lt_err err = {0};
    struct { const char *name, *arch; int dim; bool tied, spm; lt_dtype dt; } S[] = {
        {"llama-bpe-f32.gguf", "llama", 8, false, false, LT_F32},
        {"llama-spm-f16-tied.gguf", "llama", 8, true, true, LT_F16},
        {"qwen2-bf16.gguf", "qwen2", 8, false, false, LT_BF16},
        {"llama-q8_0.gguf", "llama", 32, true, true, LT_Q8_0},
        {"mistral-q4_0.gguf", "mistral", 32, true, false, LT_Q4_0},
    };
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        lt_modelsrc *m = tiny_model(S[i].arch, S[i].dim, S[i].tied, tiny_vocab(S[i].spm));
        if (lt_modelsrc_write_gguf(m, out_path("gguf", S[i].name), S[i].dt, &err)) die(S[i].name, err.msg);
        lt_modelsrc_close(m);
    }
    /* vocab only: every key type the reader knows, arrays of each kind */
    lt_gguf_writer *w = NULL;
    if (lt_gguf_writer_create(&w, &err)) die("gguf writer", err.msg);
    const char *toks[] = {"<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "h", "e", "he", "\xc4\xa0", "\xc4\xa0h"};
    float scores[10];
    int32_t types[10];
    for (int i = 0; i < 10; i++) scores[i] = -(float)i, types[i] = i < 5 ? LT_TOKTYPE_CONTROL : LT_TOKTYPE_NORMAL;
    const char *merges[] = {"h e", "\xc4\xa0 h"};
    lt_gguf_set_str(w, "general.architecture", "qwen2", &err);
    lt_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", &err);
    lt_gguf_set_str(w, "tokenizer.ggml.pre", "qwen2", &err);
    lt_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 10, &err);
    lt_gguf_set_arr_f32(w, "tokenizer.ggml.scores", scores, 10, &err);
    lt_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, 10, &err);
    lt_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2, &err);
    lt_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1, &err);
    lt_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 4, &err);
    lt_gguf_set_i32(w, "tokenizer.ggml.padding_token_id", -1, &err);
    lt_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false, &err);
    lt_gguf_set_f32(w, "qwen2.rope.freq_base", 1e6f, &err);
    lt_gguf_set_str(w, "tokenizer.chat_template", "{{ '<|im_start|>' + m.role }}", &err);
    if (lt_gguf_write(w, out_path("gguf", "vocab-qwen2.gguf"), &err)) die("vocab gguf", err.msg);
    lt_gguf_writer_free(w);
}

static void hf_seeds(void) {
    lt_err err = {0};
    struct { const char *name, *arch; bool tied; lt_dtype dt; } S[] = {
        {"llama-f32", "llama", false, LT_F32},
        {"llama-bf16-tied", "llama", true, LT_BF16},
        {"qwen2-f16", "qwen2", false, LT_F16},
    };
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++) {
        lt_modelsrc *m = tiny_model(S[i].arch, 8, S[i].tied, NULL);
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/hf-tmp", fz_dir());
        if (lt_modelsrc_write_hf(m, dir, S[i].dt, &err)) die(S[i].name, err.msg);
        lt_modelsrc_close(m);
        char p[1100];
        size_t nc, ns;
        snprintf(p, sizeof p, "%s/config.json", dir);
        uint8_t *c = slurp(p, &nc);
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        uint8_t *s = slurp(p, &ns);
        put("hf", S[i].name, c, nc, s, ns);
        free(c);
        free(s);
    }
    /* a config with the optional keys (rope scaling, sliding window, explicit head_dim) */
    lt_modelsrc *m = tiny_model("llama", 8, false, NULL);
    char dir[1024], p[1100];
    snprintf(dir, sizeof dir, "%s/hf-tmp", fz_dir());
    if (lt_modelsrc_write_hf(m, dir, LT_F32, &err)) die("hf rope", err.msg);
    lt_modelsrc_close(m);
    size_t ns;
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    uint8_t *s = slurp(p, &ns);
    const char *cfg =
        "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 8,"
        " \"intermediate_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"num_key_value_heads\": 1,"
        " \"head_dim\": 4, \"vocab_size\": 11, \"max_position_embeddings\": 8, \"rms_norm_eps\": 1e-05,"
        " \"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0,"
        " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192},"
        " \"tie_word_embeddings\": false, \"torch_dtype\": \"float32\", \"sliding_window\": null}";
    put("hf", "llama3-rope", cfg, strlen(cfg), s, ns);
    free(s);
    /* AutoGPTQ folders (config.json's quantization_config; qweight/qzeros/scales/g_idx): the
     * committed fixtures of tests/fixtures/gptq (tools/gen_gptq_fixtures.py), v1 and v2 zeros */
    static const char *const gptq[] = {"v1_3b_g32_actorder", "v2_4b_g64_sym"};
    for (int i = 0; i < 2; i++) {
        char cp[256], mp[256], name[64];
        snprintf(cp, sizeof cp, "tests/fixtures/gptq/%s/config.json", gptq[i]);
        snprintf(mp, sizeof mp, "tests/fixtures/gptq/%s/model.safetensors", gptq[i]);
        snprintf(name, sizeof name, "gptq-%s", gptq[i]);
        size_t nc, nm;
        uint8_t *c = slurp(cp, &nc), *m = slurp(mp, &nm);
        put("hf", name, c, nc, m, nm);
        free(c);
        free(m);
    }
}

static void tokenizer_json_seeds(void) {
    const char *bpe =
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"\\u0120\": 4,"
        " \"he\": 5, \"ll\": 6, \"hell\": 7, \"hello\": 8, \"\\u0120h\": 9, \"w\": 10},"
        " \"merges\": [\"h e\", [\"l\", \"l\"], \"he ll\", \"hell o\", \"\\u0120 h\"]},"
        " \"added_tokens\": [{\"id\": 11, \"content\": \"<|begin|>\", \"special\": true},"
        " {\"id\": 12, \"content\": \"<tool>\", \"special\": false}],"
        " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\":"
        " {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
        "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}},"
        " {\"type\": \"ByteLevel\"}]}}";
    const char *bpe_cfg =
        "{\"bos_token\": \"<|begin|>\", \"eos_token\": {\"content\": \"<tool>\"}, \"add_bos_token\": true,"
        " \"chat_template\": \"{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>{% endfor %}\"}";
    put("tokenizer_json", "bpe-llama3", bpe, strlen(bpe), bpe_cfg, strlen(bpe_cfg));
    put_text("tokenizer_json", "bpe-llama3-noconfig", bpe);
    const char *gpt2 =
        "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null,"
        " \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\\u0120\": 3, \"\\u0120a\": 4, \"<|endoftext|>\": 5},"
        " \"merges\": [\"a b\", \"\\u0120 a\"]}, \"added_tokens\": [{\"id\": 5, \"content\": \"<|endoftext|>\","
        " \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}],"
        " \"normalizer\": null, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false,"
        " \"trim_offsets\": true, \"use_regex\": true}, \"decoder\": {\"type\": \"ByteLevel\"}}";
    const char *gpt2_cfg = "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": \"<|endoftext|>\","
                           " \"chat_template\": \"{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}\"}";
    put("tokenizer_json", "bpe-gpt2", gpt2, strlen(gpt2), gpt2_cfg, strlen(gpt2_cfg));
    /* SentencePiece-style (llama 2 exported by transformers): byte_fallback + Metaspace */
    char *j = malloc(1 << 16);
    size_t w = 0;
    w += (size_t)sprintf(j + w, "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"unk_token\": \"<unk>\","
                                " \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2");
    for (int b = 0; b < 256; b++) w += (size_t)sprintf(j + w, ", \"<0x%02X>\": %d", b, 3 + b);
    w += (size_t)sprintf(j + w, ", \"\\u2581\": 259, \"a\": 260, \"b\": 261, \"\\u2581a\": 262, \"ab\": 263,"
                                " \"\\u2581ab\": 264}, \"merges\": [\"a b\", \"\\u2581 a\", \"\\u2581 ab\"]},"
                                " \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
                                " {\"id\": 1, \"content\": \"<s>\", \"special\": true},"
                                " {\"id\": 2, \"content\": \"</s>\", \"special\": true}],"
                                " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\","
                                " \"prepend\": \"\\u2581\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"},"
                                " \"content\": \"\\u2581\"}]}, \"pre_tokenizer\": null}");
    const char *spm_cfg = "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_bos_token\": true, \"chat_template\":"
                          " \"{{ bos_token }}[INST] <<SYS>> ... [/INST]\"}";
    put("tokenizer_json", "spm-bytefallback", j, w, spm_cfg, strlen(spm_cfg));
    free(j);
    put_text("tokenizer_json", "wordpiece", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}");
}

/* llama2.c version-1 export (the layout spelled out independently of the reader). */
static void write_v1(const lt_modelsrc *m, const char *path) {
    const lt_llm_config *c = lt_modelsrc_config(m);
    FILE *f = fopen(path, "wb");
    if (!f) die(path, strerror(errno));
    uint8_t hdr[256] = {0};
    uint32_t magic = 0x616b3432, ver = 1;
    int32_t p[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->n_vocab, c->max_seq};
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, &ver, 4);
    memcpy(hdr + 8, p, 28);
    hdr[36] = c->tied_embeddings;
    fwrite(hdr, 1, 256, f);
    const char *order[] = {"attn_norm", "ffn_norm", "-output_norm", "-token_embd", "attn_q", "attn_k", "attn_v",
                           "attn_output", "ffn_gate", "ffn_down", "ffn_up"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        char name[96];
        if (order[i][0] == '-') snprintf(name, sizeof name, "%s.weight", order[i] + 1);
        else snprintf(name, sizeof name, "blk.0.%s.weight", order[i]);
        const lt_src_tensor *t = lt_modelsrc_find(m, name);
        if (!t) die("write_v1", name);
        fwrite(t->data, 1, t->nbytes, f);
    }
    if (!c->tied_embeddings) {
        const lt_src_tensor *t = lt_modelsrc_find(m, "output.weight");
        fwrite(t->data, 1, t->nbytes, f);
    }
    fclose(f);
}

static void llama2c_seeds(void) {
    lt_err err = {0};
    lt_modelsrc *m = tiny_model("llama", 8, false, NULL);
    if (lt_modelsrc_write_llama2c(m, out_path("llama2c", "legacy.bin"), &err)) die("llama2c", err.msg);
    lt_modelsrc_close(m);
    m = tiny_model("llama", 8, true, NULL);
    if (lt_modelsrc_write_llama2c(m, out_path("llama2c", "legacy-tied.bin"), &err)) die("llama2c tied", err.msg);
    write_v1(m, out_path("llama2c", "v1-tied.bin"));
    lt_modelsrc_close(m);
    m = tiny_model("llama", 8, false, NULL);
    write_v1(m, out_path("llama2c", "v1.bin"));
    lt_modelsrc_close(m);
    /* tokenizers: the bundled one and a tiny one (max_len, then score, length, bytes) */
    char p[1024];
    snprintf(p, sizeof p, "%s/models/tok512.bin", g_assets);
    size_t n;
    uint8_t *b = slurp(p, &n);
    put("llama2c_tok", "tok512.bin", b, n, NULL, 0);
    free(b);
    const char *toks[] = {"<unk>", "\n<s>\n", "\n</s>\n", "<0x0A>", "<0xE2>", " ", "a", "b", " a", "ab", " ab",
                          "\xc3\xa9"};
    FILE *f = fopen(out_path("llama2c_tok", "tiny.bin"), "wb");
    int32_t max_len = 6;
    fwrite(&max_len, 4, 1, f);
    for (int i = 0; i < 12; i++) {
        float s = -(float)i;
        int32_t l = (int32_t)strlen(toks[i]);
        fwrite(&s, 4, 1, f);
        fwrite(&l, 4, 1, f);
        fwrite(toks[i], 1, (size_t)l, f);
    }
    fclose(f);
}

/* ---- darknet ------------------------------------------------------------------------------ */

static const char k_tiny_cfg[] =
    "[net]\nwidth=8\nheight=8\nchannels=3\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nfilters=4\nsize=1\nstride=1\ngroups=2\nactivation=mish\n\n"
    "[route]\nlayers=-1,-2\n\n"
    "[upsample]\nstride=2\n\n"
    "[convolutional]\nfilters=4\nsize=1\nactivation=relu\n\n"
    "[shortcut]\nfrom=-6\nactivation=linear\n\n"
    "[avgpool]\n\n";

static const char k_yolo_cfg[] =
    "[net]\nwidth=8\nheight=8\nchannels=3\nletter_box=1\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=swish\n\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=14\nactivation=linear\n\n"
    "[yolo]\nmask = 0,1\nanchors = 2,3, 4,5, 6,7\nclasses=2\nnum=3\nscale_x_y=1.05\nnms_kind=greedynms\n"
    "beta_nms=0.6\n\n"
    "[dropout]\nprobability=.1\n";

static void weights_seed(const char *name, const char *cfg, int major, int minor) {
    lt_dn_net *net = NULL;
    lt_err err = {0};
    if (lt_darknet_parse_text(&net, cfg, strlen(cfg), name, &err)) die(name, err.msg);
    size_t n = lt_darknet_weights_count(net);
    size_t hdr = 12 + (major * 10 + minor >= 2 ? 8 : 4);
    uint8_t *w = calloc(1, hdr + 4 * n);
    int32_t v[3] = {major, minor, 0};
    memcpy(w, v, 12);
    float *f = (float *)(w + hdr);
    for (size_t i = 0; i < n; i++) f[i] = 0.6f + frand(); /* positive: valid batch-norm variances */
    put("darknet", name, cfg, strlen(cfg), w, hdr + 4 * n);
    free(w);
    lt_darknet_free(net);
}

static void darknet_seeds(void) {
    const char *cfgs[] = {"yolov3-tiny.cfg", "yolo-fastest-1.1.cfg"};
    for (int i = 0; i < 2; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/yolo/%s", g_assets, cfgs[i]);
        size_t n;
        uint8_t *b = slurp(p, &n);
        put("darknet", cfgs[i], b, n, NULL, 0);
        free(b);
    }
    weights_seed("tiny-v0.2", k_tiny_cfg, 0, 2);
    weights_seed("yolo-v0.1", k_yolo_cfg, 0, 1);
}

/* ---- images ------------------------------------------------------------------------------- */

static void image_seeds(void) {
    enum { W = 7, H = 5 };
    uint8_t rgb[W * H * 3], rgba[W * H * 4], grey[W * H];
    for (int i = 0; i < W * H; i++) {
        rgb[3 * i] = (uint8_t)(i * 37), rgb[3 * i + 1] = (uint8_t)(i * 11), rgb[3 * i + 2] = (uint8_t)(255 - i * 5);
        memcpy(rgba + 4 * i, rgb + 3 * i, 3), rgba[4 * i + 3] = (uint8_t)(i * 7);
        grey[i] = (uint8_t)(i * 7);
    }
    stbi_write_png(out_path("image", "rgb.png"), W, H, 3, rgb, W * 3);
    stbi_write_png(out_path("image", "rgba.png"), W, H, 4, rgba, W * 4);
    stbi_write_png(out_path("image", "grey.png"), W, H, 1, grey, W);
    stbi_write_jpg(out_path("image", "rgb.jpg"), W, H, 3, rgb, 90);
    stbi_write_jpg(out_path("image", "grey.jpg"), W, H, 1, grey, 50);
    stbi_write_bmp(out_path("image", "rgb.bmp"), W, H, 3, rgb);
    stbi_write_tga(out_path("image", "rgba.tga"), W, H, 4, rgba);
    float hdr[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) hdr[i] = (float)rgb[i] / 64.0f;
    stbi_write_hdr(out_path("image", "rgb.hdr"), W, H, 3, hdr);
    /* binary PNM (P6) and a 2x1 GIF, by hand */
    char pnm[64];
    int k = snprintf(pnm, sizeof pnm, "P6\n3 2\n255\n");
    FILE *f = fopen(out_path("image", "rgb.ppm"), "wb");
    fwrite(pnm, 1, (size_t)k, f);
    fwrite(rgb, 1, 3 * 2 * 3, f);
    fclose(f);
    static const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 2, 0, 1, 0, 0x80, 0, 0, 0xff, 0, 0, 0, 0, 0xff,
                                  0x2c, 0, 0, 0, 0, 2, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b};
    put("image", "tiny.gif", gif, sizeof gif, NULL, 0);
    /* a cut-down real photo: dog.jpg's SOI, its frame, tables and restart interval (the
     * segments from SOF0 on, without the EXIF/ICC/Photoshop ones before it), 1500 bytes of
     * its scan, EOI: a truncated 768x576 baseline JPEG */
    char p[1024];
    snprintf(p, sizeof p, "%s/yolo/dog.jpg", g_assets);
    size_t n;
    uint8_t *b = slurp(p, &n);
    size_t i = 2, sof = 0, sos = 0;
    while (i + 4 < n && b[i] == 0xff) {
        if (b[i + 1] == 0xc0 && !sof) sof = i;
        if (b[i + 1] == 0xda) {
            sos = i;
            break;
        }
        i += 2 + (size_t)(b[i + 2] << 8 | b[i + 3]);
    }
    if (!sof || !sos || sos + 1600 > n) die(p, "no SOF0/SOS where expected");
    size_t end = sos + 1600;
    uint8_t *cut = malloc(2 + (end - sof) + 2);
    memcpy(cut, b, 2);
    memcpy(cut + 2, b + sof, end - sof);
    cut[2 + end - sof] = 0xff, cut[3 + end - sof] = 0xd9;
    put("image", "dog-cut.jpg", cut, 4 + end - sof, NULL, 0);
    free(cut);
    free(b);
}

/* ---- journals and command lines ------------------------------------------------------------ */

static void journal_seeds(void) {
    lt_err err = {0};
    lt_journal *j = NULL;
    const char *p = out_path("journal", "session.lathe");
    if (lt_journal_open(&j, p, &err)) die("journal", err.msg);
    lt_journal_entry e = {0};
    e.line = "load \"models/stories260K.bin\" as s --tokenizer tok512.bin";
    snprintf(e.cmd, sizeof e.cmd, "load");
    snprintf(e.time, sizeof e.time, "2026-01-01T00:00:00Z");
    e.params.temp = 0.8f, e.params.top_k = 40, e.params.top_p = 0.95f, e.params.min_p = 0.05f;
    snprintf(e.params.device, sizeof e.params.device, "cpu");
    lt_journal_append(j, &e, &err);
    e.line = "chat \"quoted\" text \\ and \xc3\xa9";
    snprintf(e.cmd, sizeof e.cmd, "chat");
    e.has_digest = true, e.digest = 0xfedcba9876543210ull, e.seed = 18446744073709551615ull, e.n_tokens = 17;
    e.cancelled = true, e.ms = 12.5;
    lt_journal_append(j, &e, &err);
    e.line = "load x";
    snprintf(e.cmd, sizeof e.cmd, "load");
    e.code = LT_EIO, e.cancelled = false, e.has_digest = false;
    snprintf(e.msg, sizeof e.msg, "x: cannot open: No such file or directory");
    lt_journal_append(j, &e, &err);
    lt_journal_close(j);
    size_t n;
    uint8_t *b = slurp(p, &n);
    put("journal", "truncated.lathe", b, n - 20, NULL, 0);
    free(b);
    put_text("journal", "header-only.lathe", "{\"lathe_journal\":1,\"created\":\"2026-11-26T09:00:00Z\"}\n");
}

static void command_seeds(void) {
    put_text("commands", "basics",
             "help\nhelp load\nh gen\nset\nset temp 0.7\nset top-k 0\nset seed 18446744073709551615\n"
             "set device cuda\nset threads 1024\nset tint off\nset max-tokens 1\nmodels\n# a comment\n\n");
    put_text("commands", "models",
             "load model.gguf as a --tokenizer tok.bin\nload synthetic:tiny\nunload\nunload a\nmodels\nreset\n"
             "chat Once upon a time\nc hi\ngenerate -n 5 Tom\ngen -n -1 x\nbench -p 16 -n 8\n/quit\n");
    put_text("commands", "spec",
             "spec\nspec ngram\nspec draft m.bin --gamma 4 --adaptive\nspec triforce --budget 4096 --chunk 16 --draft d\n"
             "spec off\nspec bogus\n");
    put_text("commands", "quoting",
             "chat \"unterminated\ngenerate 'single quoted' and \"double\" \\\"escaped\\\" \\\\\n"
             "set \"temp\" '0.5'\nlod x\nsess save here.lathe\nreplay . --check\nreplay none.lathe\n"
             "a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7 8 9\n");
    put_text("commands", "detect",
             "detect\ndetect dog.jpg --thresh 0.5 --nms 0.4 --tile 320 --overlap 0.3\ndetect a b\n"
             "detect x.jpg --model y.cfg --weights y.weights --names n --out o.png\ndetect --help\n");
}

/* ---- diffusion: UNet config.json, scheduler_config.json, noise streams ---------------------- */

static void put_file(const char *target, const char *name, const char *path, const char *extra) {
    size_t n;
    uint8_t *b = slurp(path, &n);
    put(target, name, b, n, extra, extra ? strlen(extra) : 0);
    free(b);
}

static void diffusion_seeds(void) {
    static const char *const unets[] = {"google_old", "diffusers_new", "no_attn", "class_cond",
                                        "scale_shift", "fourier", "learned", "no_attn_grey"};
    char p[256], name[64];
    for (size_t i = 0; i < sizeof unets / sizeof unets[0]; i++) {
        snprintf(p, sizeof p, "tests/fixtures/unet/%s/config.json", unets[i]);
        put_file("unet_config", unets[i], p, i == 0 ? "{\"num_train_timesteps\": 1000}" : NULL);
    }
    const char *cifar = "{\"_class_name\": \"UNet2DModel\", \"sample_size\": [32, 16], \"attention_head_dim\": null, "
                        "\"block_out_channels\": [128, 256], \"down_block_types\": [\"DownBlock2D\", \"AttnDownBlock2D\"], "
                        "\"up_block_types\": [\"AttnUpBlock2D\", \"UpBlock2D\"], \"mid_block_type\": null, "
                        "\"attn_norm_num_groups\": 8, \"num_train_timesteps\": 500}";
    put_text("unet_config", "hw-no-mid", cifar);
    static const char *const scheds[] = {"diffusers_new", "no_attn_grey", "class_cond"};
    for (size_t i = 0; i < sizeof scheds / sizeof scheds[0]; i++) {
        snprintf(p, sizeof p, "tests/fixtures/imagine/%s/scheduler_config.json", scheds[i]);
        put_file("sched_config", scheds[i], p, NULL);
    }
    put_file("sched_config", "google_old", "tests/fixtures/unet/google_old/scheduler_config.json", NULL);
    put_text("sched_config", "ddim-sd",
             "{\"_class_name\": \"DDIMScheduler\", \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, "
             "\"beta_end\": 0.012, \"steps_offset\": 1, \"set_alpha_to_one\": false, \"clip_sample\": false, "
             "\"thresholding\": true, \"dynamic_thresholding_ratio\": 0.9, \"sample_max_value\": 1.5}");
    put_text("sched_config", "euler-v-trailing",
             "{\"_class_name\": \"EulerDiscreteScheduler\", \"num_train_timesteps\": 100, \"prediction_type\": "
             "\"v_prediction\", \"timestep_spacing\": \"trailing\", \"interpolation_type\": \"linear\", "
             "\"use_karras_sigmas\": false}");
    put_text("sched_config", "ddpm-leading-linspace",
             "{\"_class_name\": \"DDPMScheduler\", \"num_train_timesteps\": 20, \"timestep_spacing\": \"linspace\", "
             "\"variance_type\": \"fixed_large\", \"prediction_type\": \"sample\", \"clip_sample_range\": 0.5}");
    put_file("noise", "grey-ddim.npy", "tests/fixtures/imagine/no_attn_grey/noise_ddim.npy", NULL);
    /* a 1-D stream in a version 2 header, and a raw float32 one */
    float v[12];
    for (int i = 0; i < 12; i++) v[i] = frand() * 4;
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }");
    while ((hl + 12 + 1) % 64) hdr[hl++] = ' ';
    hdr[hl++] = '\n';
    uint8_t b[256];
    memcpy(b, "\x93NUMPY\x02\x00", 8);
    b[8] = (uint8_t)hl, b[9] = b[10] = b[11] = 0;
    memcpy(b + 12, hdr, (size_t)hl);
    memcpy(b + 12 + hl, v, sizeof v);
    snprintf(name, sizeof name, "v2-1d.npy");
    put("noise", name, b, 12 + (size_t)hl + sizeof v, NULL, 0);
    put("noise", "raw.f32", v, sizeof v, NULL, 0);
}

/* ---- torch.save files: torch's own (the SliceGPT fixture, tools/gen_slicegpt_fixtures.py) and lathe's */

static void torchpt_seeds(void) {
    put_file("torchpt", "slicegpt-tiny.pt", "tests/fixtures/slicegpt-tiny/Llama-2-tiny_0.25.pt", NULL);
    static const char *const torch_files[] = {"shared", "sd_mixed", "noncontig", "list"};
    char p[256], name[64];
    for (size_t i = 0; i < sizeof torch_files / sizeof torch_files[0]; i++) {
        snprintf(p, sizeof p, "tests/fixtures/slicegpt-tiny/torch/%s.pt", torch_files[i]);
        snprintf(name, sizeof name, "torch-%s.pt", torch_files[i]);
        put_file("torchpt", name, p, NULL);
    }
    uint16_t h[24];
    float f[6];
    for (int i = 0; i < 24; i++) h[i] = (uint16_t)(0x3c00 + i);
    for (int i = 0; i < 6; i++) f[i] = frand();
    lt_st_entry e[3] = {{"model.layers.0.attn_shortcut_Q", LT_F16, 2, {4, 6}, h},
                        {"b", LT_BF16, 1, {3}, h},
                        {"lm_head.weight", LT_F32, 2, {2, 3}, f}};
    lt_err err = {0};
    if (lt_pt_write(out_path("torchpt", "lathe.pt"), "lathe", e, 3, &err) != LT_OK) die("lathe.pt", err.msg);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [ASSETS_DIR]\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    g_assets = argc > 2 ? argv[2] : "assets";
    mkdir(g_out, 0755);
    gguf_seeds();
    hf_seeds();
    tokenizer_json_seeds();
    llama2c_seeds();
    darknet_seeds();
    image_seeds();
    journal_seeds();
    command_seeds();
    diffusion_seeds();
    torchpt_seeds();
    fprintf(stderr, "gen_corpus: wrote %s\n", g_out);
    return 0;
}
