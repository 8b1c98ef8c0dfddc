/* test_slicegpt.c - TransformerCompression (SliceGPT) folders (core/formats/modelsrc_slicegpt.c)
 * against one their code wrote (tests/fixtures/slicegpt-tiny, tools/gen_slicegpt_fixtures.py:
 * a GQA Llama sliced 25% by rotate_and_slice): the canonical tensors, the widths, the values
 * (their first values and sums, the shortcut matrices transposed), the vocab; the sniffing of
 * the folder and of its .pt; the errors for folders that are wrong or partial; lathe's writer
 * (the same .pt tensors in their order and the same SlicingConfig JSON byte for byte as their
 * code wrote, read back the same), `save --format slicegpt` (lt_save_model) and the stem names.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/dtype.h"
#include "core/compress/save.h"
#include "core/formats/modelsrc_open.h"
#include "core/formats/modelsrc_slicegpt.h"
#include "core/formats/sniff.h"
#include "core/formats/torchpt.h"
#include "tests/testutil.h"

#define FIX "tests/fixtures/slicegpt-tiny"
#define STEM "Llama-2-tiny_0.25"

static char g_fix[1024];

static const char *fpath(const char *name) {
    static char buf[4][1200];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", g_fix, name);
    return b;
}

static void copy_file(const char *from, const char *to) {
    size_t n = 0;
    char *b = lt_test_read_file(from, &n);
    FILE *f = fopen(to, "wb");
    if (b && f) fwrite(b, 1, n, f);
    if (f) fclose(f);
    free(b);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) fputs(text, f), fclose(f);
}

/* a fresh scratch folder holding the fixture's files (not its expected data) */
static const char *scratch(const char *name, bool with_pt) {
    static char dir[4][600];
    static int k;
    char *d = dir[k++ & 3];
    snprintf(d, sizeof dir[0], "%s", lt_test_tmpdir(name));
    static const char *const files[] = {"config.json", "tokenizer.json", "tokenizer_config.json", STEM ".json",
                                        STEM ".pt", "Other_0.3.pt", "Other_0.3.json", "x.pt"};
    char p[800];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", d, files[i]);
        unlink(p);
        if (i < 4 || (i == 4 && with_pt)) copy_file(fpath(files[i]), p);
    }
    return d;
}

static const char *sub(const char *dir, const char *name) {
    static char buf[4][1400];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* their name -> canonical name and whether it is transposed */
static bool canon_of(const char *their, char out[96], bool *tr) {
    *tr = false;
    if (!strcmp(their, "model.embed_tokens.weight")) return snprintf(out, 96, "token_embd.weight"), true;
    if (!strcmp(their, "lm_head.weight")) return snprintf(out, 96, "output.weight"), true;
    int l;
    char rest[96];
    if (sscanf(their, "model.layers.%d.%95s", &l, rest) != 2) return false;
    static const char *const map[][2] = {
        {"self_attn.q_proj.weight", "attn_q.weight"}, {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"}, {"self_attn.o_proj.weight", "attn_output.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},  {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},  {"attn_shortcut_Q", "attn_shortcut.weight"},
        {"mlp_shortcut_Q", "ffn_shortcut.weight"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(rest, map[i][0])) {
            *tr = i >= 7;
            return snprintf(out, 96, "blk.%d.%s", l, map[i][1]), true;
        }
    return false;
}

static void test_read(const cJSON *exp) {
    lt_modelsrc *src = NULL;
    lt_err err = {0};
    lt_status st = lt_modelsrc_open(&src, g_fix, NULL, &err);
    CHECKF(st == LT_OK, "open: %s", err.msg);
    if (st) return;
    const lt_llm_config *c = lt_modelsrc_config(src);
    CHECK(!strcmp(lt_modelsrc_format(src), "slicegpt"));
    CHECK(strstr(lt_modelsrc_path(src), STEM ".pt") != NULL);
    CHECK(c->sliced && !c->tied_embeddings && c->dim == 32 && c->n_layers == 2 && c->n_heads == 4 &&
          c->n_kv_heads == 2 && c->head_dim == 8 && c->hidden_dim == 64 && c->n_vocab == 260 && c->rope_neox);
    CHECKF(!strcmp(c->name, "Llama-2-tiny"), "name '%s'", c->name);
    CHECK(lt_modelsrc_vocab(src) && lt_modelsrc_vocab(src)->n_tokens == 260);
    CHECK(lt_modelsrc_file_bytes(src) > 60000);
    /* every tensor of their state dict, under its canonical name */
    int n_their = 0;
    for (const cJSON *t = cJSON_GetObjectItem(exp, "tensors")->child; t; t = t->next, n_their++) {
        const char *name = cJSON_GetObjectItem(t, "name")->valuestring;
        char cn[96];
        bool tr;
        CHECKF(canon_of(name, cn, &tr), "their tensor '%s'", name);
        const lt_src_tensor *s = lt_modelsrc_find(src, cn);
        CHECKF(s != NULL, "'%s' (%s) missing", cn, name);
        if (!s) continue;
        const cJSON *sh = cJSON_GetObjectItem(t, "shape");
        const int64_t r = cJSON_GetArrayItem(sh, 0)->valueint, k = cJSON_GetArrayItem(sh, 1)->valueint;
        CHECKF(s->ndim == 2 && s->shape[0] == (tr ? k : r) && s->shape[1] == (tr ? r : k) && s->dtype == LT_F16,
               "'%s': [%lld, %lld] %s", cn, (long long)s->shape[0], (long long)s->shape[1], lt_dtype_name(s->dtype));
        float *v = malloc((size_t)(r * k) * sizeof *v);
        lt_dtype_row_to_f32(s->dtype, s->data, v, r * k);
        double sum = 0;
        for (int64_t i = 0; i < r * k; i++) sum += v[i];
        int j = 0, bad = 0;
        for (const cJSON *f = cJSON_GetObjectItem(t, "first")->child; f; f = f->next, j++) /* their row 0 */
            bad += (float)f->valuedouble != v[tr ? (int64_t)j * r : j];
        CHECKF(!bad, "'%s': %d of their first values differ", cn, bad);
        double want = cJSON_GetObjectItem(t, "sum")->valuedouble;
        CHECKF(fabs(sum - want) <= 1e-9 * (1 + fabs(want)) * r * k, "'%s': sum %.9g, theirs %.9g", cn, sum, want);
        free(v);
    }
    CHECK(n_their == 20);
    /* the norms: ones, as wide as what they normalize (a 24, b 24; 24, 24; the head's input 32) */
    static const struct {
        const char *name;
        int64_t n;
    } norms[] = {{"blk.0.attn_norm.weight", 24}, {"blk.0.ffn_norm.weight", 24}, {"blk.1.attn_norm.weight", 24},
                 {"blk.1.ffn_norm.weight", 24},  {"output_norm.weight", 32}};
    for (size_t i = 0; i < 5; i++) {
        const lt_src_tensor *t = lt_modelsrc_find(src, norms[i].name);
        CHECKF(t && t->ndim == 1 && t->shape[0] == norms[i].n && t->dtype == LT_F32, "%s", norms[i].name);
        for (int64_t k = 0; t && k < t->shape[0]; k++) CHECK(((const float *)t->data)[k] == 1.0f);
    }
    CHECK(lt_modelsrc_n_tensors(src) == 20 + 5);
    lt_modelsrc_close(src);
    /* the .pt named: the same model */
    st = lt_modelsrc_open(&src, fpath(STEM ".pt"), NULL, &err);
    CHECKF(st == LT_OK && lt_modelsrc_n_tensors(src) == 25, "open the .pt: %s", err.msg);
    lt_modelsrc_close(src);
}

static void test_sniff(void) {
    lt_sniffed s;
    lt_err err = {0};
    CHECK(lt_sniff(g_fix, &s, &err) == LT_OK && s.kind == LT_FILE_SLICEGPT && !strcmp(s.dir, g_fix));
    CHECK(lt_sniff(fpath(STEM ".pt"), &s, &err) == LT_OK && s.kind == LT_FILE_SLICEGPT && !strcmp(s.dir, g_fix));
    /* a .pt alone: what is missing */
    const char *d = lt_test_tmpdir("slicegpt_lone");
    char p[800];
    snprintf(p, sizeof p, "%s/m_0.1.pt", d);
    copy_file(fpath(STEM ".pt"), p);
    CHECK(lt_sniff(p, &s, &err) == LT_ENOTFOUND && strstr(err.msg, "config.json"));
    lt_modelsrc *src = NULL;
    CHECK(lt_modelsrc_open(&src, p, NULL, &err) != LT_OK && strstr(err.msg, "config.json") && !src);
}

static void expect_fail(const char *path, const char *needle1, const char *needle2) {
    lt_modelsrc *src = NULL;
    lt_err err = {0};
    lt_status st = lt_modelsrc_open(&src, path, NULL, &err);
    CHECKF(st != LT_OK && !src, "%s opened", path);
    CHECKF(strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2)), "%s: '%s' (wanted '%s' and '%s')",
           path, err.msg, needle1, needle2 ? needle2 : "");
    lt_modelsrc_close(src);
}

/* the fixture's .pt again, with tensor `drop` left out, `extra` added, or `bad` (their name) given
 * a different shape */
static void rewrite_pt(const char *to, const char *drop, const char *extra, const char *bad) {
    lt_torchpt *pt = NULL;
    lt_err err = {0};
    if (lt_pt_open(&pt, fpath(STEM ".pt"), &err) != LT_OK) return;
    lt_st_entry e[32];
    lt_src_tensor t[32];
    int n = 0;
    static uint16_t ones[64] = {0x3c00, 0x3c00, 0x3c00, 0x3c00};
    for (int64_t i = 0; i < lt_pt_n_tensors(pt) && n < 30; i++) {
        lt_pt_tensor(pt, i, &t[n]);
        if (drop && !strcmp(t[n].name, drop)) continue;
        e[n] = (lt_st_entry){t[n].name, t[n].dtype, t[n].ndim, {t[n].shape[0], t[n].shape[1]}, t[n].data};
        if (bad && !strcmp(t[n].name, bad)) e[n].shape[1] -= 4;
        n++;
    }
    if (extra) e[n++] = (lt_st_entry){extra, LT_F16, 1, {24}, ones};
    lt_status st = lt_pt_write(to, NULL, e, n, &err);
    CHECKF(st == LT_OK, "%s", err.msg);
    lt_pt_close(pt);
}

static void test_errors(void) {
    /* two models in one folder: an error listing them; naming one opens it */
    const char *d = scratch("slicegpt_two", true);
    copy_file(fpath(STEM ".pt"), sub(d, "Other_0.3.pt"));
    copy_file(fpath(STEM ".json"), sub(d, "Other_0.3.json"));
    expect_fail(d, STEM ".pt", "Other_0.3.pt");
    lt_modelsrc *src = NULL;
    lt_err err = {0};
    CHECKF(lt_modelsrc_open(&src, sub(d, "Other_0.3.pt"), NULL, &err) == LT_OK &&
           !strcmp(lt_modelsrc_config(src)->name, "Other"), "%s", err.msg);
    lt_modelsrc_close(src);
    /* no .pt; no config.json */
    d = scratch("slicegpt_nopt", false);
    lt_sniffed s;
    CHECK(lt_sniff(d, &s, &err) == LT_OK && s.kind == LT_FILE_HF); /* config.json and nothing else: HF's message */
    expect_fail(d, "model.safetensors", NULL);
    CHECK(lt_modelsrc_open_slicegpt(&src, d, &err) == LT_ENOTFOUND && strstr(err.msg, "no .pt"));
    d = scratch("slicegpt_nocfg", true);
    unlink(sub(d, "config.json"));
    expect_fail(d, "config.json", NULL);
    CHECK(lt_modelsrc_open_slicegpt(&src, d, &err) == LT_ENOTFOUND && strstr(err.msg, "config.json"));
    /* the JSON disagrees with the tensors */
    d = scratch("slicegpt_json", true);
    size_t n = 0;
    char *j = lt_test_read_file(fpath(STEM ".json"), &n), *at = j ? strstr(j, "\"1\": 32") : NULL;
    if (at) memcpy(at, "\"1\": 30", 7);
    if (j) write_text(sub(d, STEM ".json"), j);
    free(j);
    expect_fail(d, "mlp_output_dimensions[1] is 30", "width 32");
    write_text(sub(d, STEM ".json"), "{\"parallel_blocks\": true}");
    expect_fail(d, "parallel_blocks", NULL);
    write_text(sub(d, STEM ".json"), "[1, 2");
    expect_fail(d, "not a JSON object", NULL);
    /* a tensor missing, one of no SliceGPT model (a norm), a wrong shape */
    d = scratch("slicegpt_pt", false);
    rewrite_pt(sub(d, STEM ".pt"), "model.layers.1.mlp.down_proj.weight", NULL, NULL);
    expect_fail(d, "'model.layers.1.mlp.down_proj.weight' is missing", NULL);
    rewrite_pt(sub(d, STEM ".pt"), NULL, "model.layers.0.input_layernorm.weight", NULL);
    expect_fail(d, "model.layers.0.input_layernorm.weight", "norm");
    rewrite_pt(sub(d, STEM ".pt"), NULL, NULL, "model.layers.0.self_attn.k_proj.weight");
    expect_fail(d, "model.layers.0.self_attn.k_proj.weight", "[16, 20], expected [16, 24]");
    rewrite_pt(sub(d, STEM ".pt"), NULL, NULL, "model.layers.1.mlp_shortcut_Q");
    expect_fail(d, "model.layers.1.mlp_shortcut_Q", "[24, 28], expected [24, 32]");
    /* shortcuts missing where the widths differ */
    rewrite_pt(sub(d, STEM ".pt"), "model.layers.1.mlp_shortcut_Q", NULL, NULL);
    expect_fail(d, "mlp_shortcut_Q' is missing", "24, 32");
    /* a damaged .pt */
    write_text(sub(d, STEM ".pt"), "PK\003\004 and then nothing of a zip archive");
    expect_fail(d, STEM ".pt", "zip");
}

static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = lt_test_read_file(a, &na), *y = lt_test_read_file(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x), free(y);
    return same;
}

static void test_write(void) {
    lt_modelsrc *src = NULL;
    lt_err err = {0};
    if (lt_modelsrc_open(&src, g_fix, NULL, &err) != LT_OK) return;
    const char *d = scratch("slicegpt_write", false);
    unlink(sub(d, "config.json")), unlink(sub(d, "tokenizer.json")), unlink(sub(d, "tokenizer_config.json"));
    unlink(sub(d, STEM ".json"));
    lt_status st = lt_modelsrc_write_slicegpt(src, d, NULL, &err);
    CHECKF(st == LT_OK, "write: %s", err.msg);
    /* their SlicingConfig JSON, byte for byte */
    CHECKF(same_file(sub(d, STEM ".json"), fpath(STEM ".json")), "the JSON differs from theirs");
    /* their state dict: the same names in the same order, shapes, dtypes and bytes */
    lt_torchpt *a = NULL, *b = NULL;
    CHECK(lt_pt_open(&a, fpath(STEM ".pt"), &err) == LT_OK);
    CHECKF(lt_pt_open(&b, sub(d, STEM ".pt"), &err) == LT_OK, "%s", err.msg);
    if (a && b) {
        CHECK(lt_pt_n_tensors(a) == lt_pt_n_tensors(b));
        for (int64_t i = 0; i < lt_pt_n_tensors(a) && i < lt_pt_n_tensors(b); i++) {
            lt_src_tensor x, y;
            lt_pt_tensor(a, i, &x), lt_pt_tensor(b, i, &y);
            CHECKF(!strcmp(x.name, y.name) && x.dtype == y.dtype && x.ndim == y.ndim && x.shape[0] == y.shape[0] &&
                   x.shape[1] == y.shape[1] && x.nbytes == y.nbytes && !memcmp(x.data, y.data, x.nbytes),
                   "tensor %lld: theirs '%s', lathe's '%s'", (long long)i, x.name, y.name);
        }
        CHECK(!strcmp(lt_pt_archive_name(b), STEM));
    }
    lt_pt_close(a), lt_pt_close(b);
    /* and read back: the same canonical model */
    lt_modelsrc *back = NULL;
    st = lt_modelsrc_open(&back, d, NULL, &err);
    CHECKF(st == LT_OK, "read back: %s", err.msg);
    for (int i = 0; back && i < lt_modelsrc_n_tensors(src); i++) {
        const lt_src_tensor *x = lt_modelsrc_tensor(src, i), *y = lt_modelsrc_find(back, x->name);
        CHECKF(y && y->nbytes == x->nbytes && !memcmp(x->data, y->data, x->nbytes), "'%s' differs", x->name);
    }
    CHECK(back && lt_modelsrc_vocab(back) && lt_modelsrc_vocab(back)->n_tokens == 260);
    lt_modelsrc_close(back);
    /* another name and sparsity */
    lt_slicegpt_write_opts o = {"SmolLM2-135M", 0.1};
    st = lt_modelsrc_write_slicegpt(src, d, &o, &err);
    CHECKF(st == LT_OK, "%s", err.msg);
    struct stat sb;
    CHECK(stat(sub(d, "SmolLM2-135M_0.1.pt"), &sb) == 0 && stat(sub(d, "SmolLM2-135M_0.1.json"), &sb) == 0);
    unlink(sub(d, "SmolLM2-135M_0.1.pt")), unlink(sub(d, "SmolLM2-135M_0.1.json"));
    /* save --format slicegpt: a new folder, written whole */
    char out[800];
    snprintf(out, sizeof out, "%s/saved", lt_test_tmpdir("slicegpt_save"));
    static const char *const files[] = {STEM ".pt", STEM ".json", "config.json", "tokenizer.json",
                                        "tokenizer_config.json"};
    for (size_t i = 0; i < 5; i++) unlink(sub(out, files[i]));
    rmdir(out);
    lt_save_opts so = {.format = "slicegpt"};
    lt_save_report r;
    st = lt_save_model(src, out, &so, &r, &err);
    CHECKF(st == LT_OK && !strcmp(r.format, "slicegpt") && r.bytes > 60000, "save: %s", err.msg);
    CHECK(same_file(sub(out, STEM ".pt"), sub(d, STEM ".pt")));
    st = lt_save_model(src, out, &so, &r, &err); /* not into a folder with files */
    CHECK(st == LT_EINVAL && strstr(err.msg, "not empty"));
    lt_modelsrc_close(src);
    /* a model whose norms are not folded cannot be written */
    CHECK(lt_modelsrc_open(&src, lt_test_path("assets/models/stories260K.bin"), NULL, &err) == LT_OK);
    if (src) {
        st = lt_modelsrc_write_slicegpt(src, lt_test_tmpdir("slicegpt_stories"), NULL, &err);
        CHECKF(st == LT_EUNSUPPORTED && strstr(err.msg, "norm"), "%s", err.msg);
    }
    lt_modelsrc_close(src);
}

static void test_stem(void) {
    char b[64];
    static const struct {
        double s;
        const char *want;
    } k[] = {{0.25, "m_0.25"}, {0.1, "m_0.1"}, {0.3, "m_0.3"}, {0, "m_0.0"}, {1e-05, "m_1e-05"},
             {1.0 - 512.0 / 576.0, "m_0.11111111111111116"}}; /* Python: repr(1 - 512/576) */
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        lt_slicegpt_stem("m", k[i].s, b, sizeof b);
        CHECKF(!strcmp(b, k[i].want), "%s, wanted %s", b, k[i].want);
    }
}

int main(void) {
    snprintf(g_fix, sizeof g_fix, "%s", lt_test_path(FIX));
    size_t n = 0;
    char *text = lt_test_read_file(fpath("expected.json"), &n);
    cJSON *exp = text ? cJSON_Parse(text) : NULL;
    CHECKF(exp != NULL, "no %s", fpath("expected.json"));
    if (exp) test_read(exp);
    cJSON_Delete(exp);
    free(text);
    test_sniff();
    test_errors();
    test_write();
    test_stem();
    return lt_test_done();
}
