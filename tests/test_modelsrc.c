/* test_modelsrc.c - model sources: llama2.c legacy vs v1 checkpoints, round trips of tiny
 * random models through GGUF, Hugging Face folders (single and sharded) and llama2.c, the
 * rope-convention permutation, the documented error messages, and format sniffing (every
 * kind lt_sniff knows, from files the other tests wrote and the bundled assets).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/formats/gguf.h"
#include "core/formats/image.h"
#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_llama2c.h"
#include "core/formats/modelsrc_open.h"
#include "core/formats/safetensors.h"
#include "core/formats/sniff.h"
#include "testutil.h"

static char g_tmp[1024];

static const char *tmp_path(const char *name) {
    static char buf[4][1200];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 1200, "%s/%s", g_tmp, name);
    return b;
}

static bool same_tensor_data(const lt_src_tensor *a, const lt_src_tensor *b) {
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return memcmp(a->data, b->data, a->nbytes) == 0;
}

/* ---- llama2.c: legacy vs version 1 ------------------------------------------------------ */

static void test_stories(void) {
    const char *legacy = lt_test_path("assets/models/stories260K.bin");
    const char *v1 = lt_test_path("assets/models/stories260K_v1.bin");
    const char *tok = lt_test_path("assets/models/tok512.bin");
    lt_err err = {0};
    lt_modelsrc *a = NULL, *b = NULL;
    CHECKF(lt_modelsrc_open(&a, legacy, tok, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_modelsrc_open(&b, v1, NULL, &err) == LT_OK, "%s", err.msg);
    if (!a || !b) {
        lt_modelsrc_close(a);
        lt_modelsrc_close(b);
        return;
    }
    CHECK(!strcmp(lt_modelsrc_format(a), "llama2c"));
    const lt_llm_config *ca = lt_modelsrc_config(a), *cb = lt_modelsrc_config(b);
    CHECK(ca->dim == 64 && ca->hidden_dim == 172 && ca->n_layers == 5 && ca->n_heads == 8 && ca->n_kv_heads == 4);
    CHECK(ca->n_vocab == 512 && ca->max_seq == 512 && ca->head_dim == 8 && ca->tied_embeddings && !ca->rope_neox);
    CHECK(ca->norm_eps == 1e-5f && ca->rope_theta == 10000.0f && !strcmp(ca->arch, "llama"));
    lt_llm_config x = *ca, y = *cb;
    memset(x.name, 0, sizeof x.name);
    memset(y.name, 0, sizeof y.name);
    CHECK(memcmp(&x, &y, sizeof x) == 0);
    CHECK(lt_modelsrc_n_tensors(a) == lt_modelsrc_n_tensors(b));
    CHECK(lt_modelsrc_n_tensors(a) == 2 + 9 * 5);
    int same = 0;
    for (int i = 0; i < lt_modelsrc_n_tensors(a); i++) {
        const lt_src_tensor *ta = lt_modelsrc_tensor(a, i), *tb = lt_modelsrc_find(b, ta->name);
        if (tb && same_tensor_data(ta, tb)) same++;
        else fprintf(stderr, "tensor %s differs between legacy and v1\n", ta->name);
    }
    CHECK(same == lt_modelsrc_n_tensors(a));
    /* a value check against the raw file: first embedding float follows the 28-byte header */
    FILE *f = fopen(legacy, "rb");
    float raw[2] = {0};
    if (f) {
        fseek(f, 28, SEEK_SET);
        CHECK(fread(raw, 4, 2, f) == 2);
        fclose(f);
    }
    const lt_src_tensor *emb = lt_modelsrc_find(a, "token_embd.weight");
    CHECK(emb && emb->shape[0] == 512 && emb->shape[1] == 64 && memcmp(emb->data, raw, 8) == 0);
    const lt_vocab *v = lt_modelsrc_vocab(a);
    CHECK(v && v->n_tokens == 512);
    CHECK(lt_modelsrc_vocab(b) == NULL);

    /* the llama2.c writer reproduces the legacy file byte for byte, except freq_cis */
    const char *out = tmp_path("stories_rewrite.bin");
    CHECKF(lt_modelsrc_write_llama2c(b, out, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc *c = NULL;
    CHECKF(lt_modelsrc_open(&c, out, NULL, &err) == LT_OK, "%s", err.msg);
    if (c) {
        same = 0;
        for (int i = 0; i < lt_modelsrc_n_tensors(a); i++) {
            const lt_src_tensor *ta = lt_modelsrc_tensor(a, i), *tc = lt_modelsrc_find(c, ta->name);
            same += tc && same_tensor_data(ta, tc);
        }
        CHECK(same == lt_modelsrc_n_tensors(a));
        lt_modelsrc_close(c);
    }

    /* GGUF with the tokenizer: config, tensors and vocab survive */
    const char *g = tmp_path("stories.gguf");
    CHECKF(lt_modelsrc_write_gguf(a, g, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_modelsrc_open(&c, g, NULL, &err) == LT_OK, "%s", err.msg);
    if (c) {
        CHECK(!strcmp(lt_modelsrc_format(c), "gguf"));
        x = *lt_modelsrc_config(c);
        y = *ca;
        memset(x.name, 0, sizeof x.name);
        memset(y.name, 0, sizeof y.name);
        CHECK(memcmp(&x, &y, sizeof x) == 0);
        same = 0;
        for (int i = 0; i < lt_modelsrc_n_tensors(a); i++) {
            const lt_src_tensor *ta = lt_modelsrc_tensor(a, i), *tc = lt_modelsrc_find(c, ta->name);
            same += tc && same_tensor_data(ta, tc);
        }
        CHECK(same == lt_modelsrc_n_tensors(a));
        const lt_vocab *vc = lt_modelsrc_vocab(c);
        CHECK(vc && v && vc->n_tokens == v->n_tokens && vc->type == v->type && vc->bos_id == v->bos_id &&
              vc->eos_id == v->eos_id && vc->add_space_prefix == v->add_space_prefix);
        bool tok_ok = vc && v;
        for (int i = 0; tok_ok && i < v->n_tokens; i++)
            tok_ok = vc->token_len[i] == v->token_len[i] && !memcmp(vc->tokens[i], v->tokens[i], v->token_len[i]) &&
                     (!v->scores || vc->scores[i] == v->scores[i]);
        CHECK(tok_ok);
        lt_vocab *taken = lt_modelsrc_take_vocab(c);
        CHECK(taken && lt_modelsrc_vocab(c) == NULL);
        lt_vocab_free(taken);
        lt_modelsrc_close(c);
    }

    /* truncated checkpoint: the size check names what the header implies */
    const char *tr = tmp_path("trunc.bin");
    FILE *in = fopen(legacy, "rb"), *o = fopen(tr, "wb");
    if (in && o) {
        char buf[65536];
        size_t n, total = 0;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
            fwrite(buf, 1, n, o);
            total += n;
        }
        fclose(o);
        CHECK(truncate(tr, (off_t)total - 4) == 0);
    } else if (o) fclose(o);
    if (in) fclose(in);
    CHECK(lt_modelsrc_open(&c, tr, NULL, &err) == LT_EFORMAT && strstr(err.msg, "implies") && c == NULL);

    lt_modelsrc *xs = NULL;
    CHECKF(lt_modelsrc_open(&xs, lt_test_path("assets/models/llama2xs_model.bin"), NULL, &err) == LT_OK, "%s",
           err.msg);
    if (xs) CHECK(lt_modelsrc_config(xs)->hidden_dim == 192 && lt_modelsrc_config(xs)->max_seq == 256);
    lt_modelsrc_close(xs);
    lt_modelsrc_close(a);
    lt_modelsrc_close(b);
}

/* ---- tiny random models ------------------------------------------------------------------ */

typedef struct variant {
    const char *arch;
    bool tied, neox, bias;
} variant;

static lt_llm_config tiny_cfg(const variant *v) {
    lt_llm_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.arch, sizeof c.arch, "%s", v->arch);
    snprintf(c.name, sizeof c.name, "tiny-%s", v->arch);
    c.n_vocab = 37;
    c.dim = 40;
    c.hidden_dim = 72;
    c.n_layers = 2;
    c.n_heads = 5;
    c.n_kv_heads = 1;
    c.head_dim = 8;
    c.max_seq = 64;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.rope_neox = v->neox;
    c.tied_embeddings = v->tied;
    c.qkv_bias = v->bias;
    if (!strcmp(v->arch, "mistral")) lt_llm_set_window_all(&c, 24); /* Mistral's sliding window */
    return c;
}

static lt_status add_rand(lt_modelsrc *s, lt_test_rng *r, const char *name, int nd, int64_t d0, int64_t d1,
                          lt_err *err) {
    int64_t shape[2] = {d0, d1}, n = nd == 2 ? d0 * d1 : d0;
    float *x = malloc((size_t)n * 4);
    lt_test_fill(r, x, n, 0.5f);
    lt_status st = lt_modelsrc_add_owned(s, name, LT_F32, nd, shape, x, err);
    free(x);
    return st;
}

/* Builds the tiny model; skip names one tensor to leave out (or NULL). */
static lt_modelsrc *tiny_model(const variant *v, uint64_t seed, const char *skip) {
    lt_llm_config c = tiny_cfg(v);
    lt_modelsrc *s = NULL;
    lt_err err = {0};
    if (lt_modelsrc_create(&s, &c, NULL, c.name, &err) != LT_OK) return NULL;
    lt_test_rng r;
    lt_test_rng_seed(&r, seed);
    int64_t D = c.dim, F = c.hidden_dim, Q = c.n_heads * c.head_dim, KV = c.n_kv_heads * c.head_dim;
    lt_status st = add_rand(s, &r, "token_embd.weight", 2, c.n_vocab, D, &err);
    if (!st) st = add_rand(s, &r, "output_norm.weight", 1, D, 0, &err);
    if (!st && !c.tied_embeddings) st = add_rand(s, &r, "output.weight", 2, c.n_vocab, D, &err);
    char name[96];
    struct { const char *suf; int nd; int64_t d0, d1; bool bias; } L[] = {
        {"attn_norm.weight", 1, D, 0, 0}, {"attn_q.weight", 2, Q, D, 0},   {"attn_k.weight", 2, KV, D, 0},
        {"attn_v.weight", 2, KV, D, 0},   {"attn_output.weight", 2, D, Q, 0}, {"attn_q.bias", 1, Q, 0, 1},
        {"attn_k.bias", 1, KV, 0, 1},     {"attn_v.bias", 1, KV, 0, 1},     {"ffn_norm.weight", 1, D, 0, 0},
        {"ffn_gate.weight", 2, F, D, 0},  {"ffn_up.weight", 2, F, D, 0},    {"ffn_down.weight", 2, D, F, 0}};
    for (int l = 0; !st && l < c.n_layers; l++)
        for (size_t i = 0; !st && i < sizeof L / sizeof L[0]; i++) {
            if (L[i].bias && !c.qkv_bias) continue;
            snprintf(name, sizeof name, "blk.%d.%s", l, L[i].suf);
            if (skip && !strcmp(skip, name)) continue;
            st = add_rand(s, &r, name, L[i].nd, L[i].d0, L[i].d1, &err);
        }
    if (st) {
        fprintf(stderr, "tiny_model: %s\n", err.msg);
        lt_modelsrc_close(s);
        return NULL;
    }
    return s;
}

/* Compares every tensor of orig with back; q/k rows must equal orig permuted when perm is
 * set (to_adjacent gives the direction). */
static void compare_model(const lt_modelsrc *orig, const lt_modelsrc *back, bool perm, bool to_adjacent,
                          const char *what) {
    const lt_llm_config *c = lt_modelsrc_config(orig);
    int ok = 0, n = lt_modelsrc_n_tensors(orig);
    for (int i = 0; i < n; i++) {
        const lt_src_tensor *a = lt_modelsrc_tensor(orig, i), *b = lt_modelsrc_find(back, a->name);
        if (!b) {
            fprintf(stderr, "%s: %s missing\n", what, a->name);
            continue;
        }
        int heads = 0;
        if (perm && strstr(a->name, "attn_q.")) heads = c->n_heads;
        if (perm && strstr(a->name, "attn_k.")) heads = c->n_kv_heads;
        if (heads) {
            /* expected = permuted original rows */
            size_t rb = a->nbytes / (size_t)a->shape[0];
            char *exp = malloc(a->nbytes);
            int hd = c->head_dim, half = hd / 2;
            for (int h = 0; h < heads; h++)
                for (int k = 0; k < half; k++)
                    for (int j = 0; j < 2; j++) {
                        int adj = h * hd + 2 * k + j, nx = h * hd + j * half + k;
                        int dst = to_adjacent ? adj : nx, src = to_adjacent ? nx : adj;
                        memcpy(exp + (size_t)dst * rb, (const char *)a->data + (size_t)src * rb, rb);
                    }
            bool eq = b->nbytes == a->nbytes && b->dtype == a->dtype && !memcmp(exp, b->data, a->nbytes);
            free(exp);
            if (eq) ok++;
            else fprintf(stderr, "%s: %s not the permuted original\n", what, a->name);
        } else if (same_tensor_data(a, b)) {
            ok++;
        } else {
            fprintf(stderr, "%s: %s differs\n", what, a->name);
        }
    }
    CHECKF(ok == n && lt_modelsrc_n_tensors(back) == n, "%s: %d of %d tensors equal (%d read)", what, ok, n,
           lt_modelsrc_n_tensors(back));
}

static bool cfg_equal_but(const lt_llm_config *a, const lt_llm_config *b, bool neox) {
    lt_llm_config x = *a, y = *b;
    memset(x.name, 0, sizeof x.name);
    memset(y.name, 0, sizeof y.name);
    x.rope_neox = neox;
    return memcmp(&x, &y, sizeof x) == 0;
}

/* rope on one head: adjacent pairs (2i, 2i+1) or neox pairs (i, i + d/2) */
static void rope(float *x, int d, int pos, bool neox) {
    for (int i = 0; i < d / 2; i++) {
        float th = pos * powf(10000.0f, -2.0f * i / d), cs = cosf(th), sn = sinf(th);
        int a = neox ? i : 2 * i, b = neox ? i + d / 2 : 2 * i + 1;
        float x0 = x[a], x1 = x[b];
        x[a] = x0 * cs - x1 * sn;
        x[b] = x0 * sn + x1 * cs;
    }
}

/* The permutation is the one that makes adjacent-pair rope on permuted rows equal neox rope
 * on the original rows: check q.k scores after rope agree. */
static void test_permutation_math(void) {
    const int d = 8;
    lt_test_rng r;
    lt_test_rng_seed(&r, 5);
    float q[8], k[8], qp[8], kp[8];
    lt_test_fill(&r, q, d, 1);
    lt_test_fill(&r, k, d, 1);
    for (int i = 0; i < d / 2; i++)
        for (int j = 0; j < 2; j++) {
            qp[2 * i + j] = q[j * d / 2 + i];
            kp[2 * i + j] = k[j * d / 2 + i];
        }
    rope(q, d, 3, true);
    rope(k, d, 7, true);
    rope(qp, d, 3, false);
    rope(kp, d, 7, false);
    float s1 = 0, s2 = 0;
    for (int i = 0; i < d; i++) s1 += q[i] * k[i], s2 += qp[i] * kp[i];
    CHECKF(fabsf(s1 - s2) < 1e-5f, "%g vs %g", s1, s2);
}

static void test_roundtrips(void) {
    const variant vars[] = {
        {"llama", false, false, false}, /* as from GGUF / llama2.c */
        {"llama", true, true, false},   /* as from HF */
        {"qwen2", true, true, true},    /* qwen2 with biases */
        {"mistral", false, true, false},
    };
    lt_err err = {0};
    for (size_t vi = 0; vi < sizeof vars / sizeof vars[0]; vi++) {
        const variant *v = &vars[vi];
        lt_modelsrc *m = tiny_model(v, 100 + vi, NULL), *b = NULL;
        CHECK(m != NULL);
        if (!m) continue;
        const lt_llm_config *c = lt_modelsrc_config(m);
        char what[64];
        bool file_neox = !strcmp(v->arch, "qwen2");

        /* GGUF, own dtypes */
        const char *g = tmp_path("tiny.gguf");
        snprintf(what, sizeof what, "gguf %s/%zu", v->arch, vi);
        CHECKF(lt_modelsrc_write_gguf(m, g, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
        CHECKF(lt_modelsrc_open(&b, g, NULL, &err) == LT_OK, "%s", err.msg);
        if (b) {
            lt_llm_config want = *c; /* llama.cpp's convention: Mistral is written as llama */
            if (!strcmp(want.arch, "mistral")) memset(want.arch, 0, sizeof want.arch), strcpy(want.arch, "llama");
            CHECKF(cfg_equal_but(&want, lt_modelsrc_config(b), file_neox), "%s config", what);
            CHECK(lt_modelsrc_config(b)->sliding_window == c->sliding_window);
            compare_model(m, b, c->rope_neox != file_neox, !file_neox, what);
            /* back through HF and GGUF again: q/k return to the GGUF rows bit for bit */
            const char *hd = tmp_path("tiny-hf2");
            CHECKF(lt_modelsrc_write_hf(b, hd, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
            lt_modelsrc *h = NULL, *g2 = NULL;
            CHECKF(lt_modelsrc_open(&h, hd, NULL, &err) == LT_OK, "%s", err.msg);
            if (h) {
                CHECK(lt_modelsrc_config(h)->rope_neox);
                const char *g2p = tmp_path("tiny2.gguf");
                CHECKF(lt_modelsrc_write_gguf(h, g2p, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
                CHECKF(lt_modelsrc_open(&g2, g2p, NULL, &err) == LT_OK, "%s", err.msg);
                if (g2) compare_model(b, g2, false, false, "gguf->hf->gguf");
                lt_modelsrc_close(g2);
                lt_modelsrc_close(h);
            }
            lt_modelsrc_close(b);
            b = NULL;
        }

        /* GGUF f16 and q8_0: 2-D weights converted, norms/biases kept f32 */
        for (int qi = 0; qi < 2; qi++) {
            lt_dtype dt = qi ? LT_Q8_0 : LT_F16;
            CHECKF(lt_modelsrc_write_gguf(m, g, dt, &err) == LT_OK, "%s", err.msg);
            CHECKF(lt_modelsrc_open(&b, g, NULL, &err) == LT_OK, "%s", err.msg);
            if (!b) continue;
            const lt_src_tensor *n = lt_modelsrc_find(b, "blk.1.ffn_norm.weight");
            const lt_src_tensor *up = lt_modelsrc_find(b, "blk.0.ffn_up.weight");
            const lt_src_tensor *dn = lt_modelsrc_find(b, "blk.0.ffn_down.weight");
            const lt_src_tensor *upo = lt_modelsrc_find(m, "blk.0.ffn_up.weight");
            CHECK(n && n->dtype == LT_F32);
            /* ffn_up rows have 40 elements: not a whole q8_0 block, so they fall back to f16 */
            CHECK(up && up->dtype == LT_F16);
            CHECK(dn && dn->dtype == LT_F16); /* 72 is not a multiple of 32 either */
            if (up && upo) {
                bool ok = true;
                const uint16_t *h16 = up->data;
                const float *f = upo->data;
                for (int64_t i = 0; i < 72 * 40 && ok; i++) ok = h16[i] == lt_f32_to_f16(f[i]);
                CHECK(ok);
            }
            lt_modelsrc_close(b);
            b = NULL;
        }

        /* HF folder, f32 */
        const char *hd = tmp_path("tiny-hf");
        snprintf(what, sizeof what, "hf %s/%zu", v->arch, vi);
        CHECKF(lt_modelsrc_write_hf(m, hd, LT_F32, &err) == LT_OK, "%s", err.msg);
        CHECKF(lt_modelsrc_open(&b, hd, NULL, &err) == LT_OK, "%s", err.msg);
        if (b) {
            CHECK(!strcmp(lt_modelsrc_format(b), "hf"));
            CHECKF(cfg_equal_but(c, lt_modelsrc_config(b), true), "%s config", what);
            compare_model(m, b, !c->rope_neox, false, what);
            lt_modelsrc_close(b);
            b = NULL;
        }

        /* llama2.c where expressible */
        const char *lp = tmp_path("tiny.bin");
        lt_status st = lt_modelsrc_write_llama2c(m, lp, &err);
        if (v->bias) {
            CHECK(st == LT_EUNSUPPORTED && strstr(err.msg, "biases"));
        } else if (c->sliding_window) {
            CHECK(st == LT_EUNSUPPORTED && strstr(err.msg, "sliding window"));
        } else {
            /* head_dim 8 * 5 heads == dim 40: expressible */
            CHECKF(st == LT_OK, "%s", err.msg);
            snprintf(what, sizeof what, "llama2c %s/%zu", v->arch, vi);
            CHECKF(lt_modelsrc_open(&b, lp, NULL, &err) == LT_OK, "%s", err.msg);
            if (b) {
                lt_llm_config want = *c;
                memset(want.arch, 0, sizeof want.arch);
                strcpy(want.arch, "llama");
                const lt_llm_config *bc = lt_modelsrc_config(b);
                CHECKF(cfg_equal_but(&want, bc, false), "%s config: %s %d %d %d", what, bc->arch, bc->n_vocab,
                       bc->tied_embeddings, bc->max_seq);
                compare_model(m, b, c->rope_neox, true, what);
                lt_modelsrc_close(b);
                b = NULL;
            }
        }
        lt_modelsrc_close(m);
    }
}

/* ---- HF: shards and errors ---------------------------------------------------------------- */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) b[0] = 0;
    fclose(f);
    return b;
}

static void test_hf_sharded_and_errors(void) {
    variant v = {"llama", false, true, false};
    lt_modelsrc *m = tiny_model(&v, 7, NULL), *b = NULL;
    lt_err err = {0};
    if (!m) {
        CHECK(0);
        return;
    }
    const char *dir = tmp_path("shard-hf");
    CHECKF(lt_modelsrc_write_hf(m, dir, LT_F32, &err) == LT_OK, "%s", err.msg);
    char p[1300], p1[1300], p2[1300], pi[1300];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    snprintf(pi, sizeof pi, "%s/model.safetensors.index.json", dir);
    lt_safetensors *st = NULL;
    CHECKF(lt_st_open(&st, p, &err) == LT_OK, "%s", err.msg);
    if (!st) return;
    int64_t n = lt_st_n_tensors(st), h = n / 2;
    lt_st_entry *e = calloc((size_t)n, sizeof *e);
    lt_src_tensor *t = calloc((size_t)n, sizeof *t);
    size_t cap = 1 << 16, len = 0;
    char *idx = malloc(cap);
    len += (size_t)snprintf(idx + len, cap - len, "{\"metadata\": {}, \"weight_map\": {");
    for (int64_t i = 0; i < n; i++) {
        lt_st_tensor(st, i, &t[i]);
        e[i].name = t[i].name;
        e[i].dtype = t[i].dtype;
        e[i].ndim = t[i].ndim;
        memcpy(e[i].shape, t[i].shape, sizeof e[i].shape);
        e[i].data = t[i].data;
        len += (size_t)snprintf(idx + len, cap - len, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
                                i ? ", " : "", t[i].name, i < h ? 1 : 2);
    }
    snprintf(idx + len, cap - len, "}}");
    CHECKF(lt_st_write(p1, e, h, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_st_write(p2, e + h, n - h, &err) == LT_OK, "%s", err.msg);
    lt_st_close(st);
    unlink(p);
    write_file(pi, idx);
    CHECKF(lt_modelsrc_open(&b, dir, NULL, &err) == LT_OK, "%s", err.msg);
    if (b) {
        compare_model(m, b, false, false, "sharded"); /* neox source: no permutation */
        lt_modelsrc_close(b);
    }
    /* a listed tensor absent from its shard */
    char *bad = strdup(idx);
    char *pos = strstr(bad, "model.norm.weight");
    if (pos) memcpy(pos, "model.nrm0.weight", 17);
    write_file(pi, bad);
    CHECK(lt_modelsrc_open(&b, dir, NULL, &err) == LT_EFORMAT && strstr(err.msg, "model.nrm0.weight"));
    free(bad);
    /* a missing shard */
    write_file(pi, idx);
    char p3[1400];
    snprintf(p3, sizeof p3, "%s.moved", p2);
    CHECK(rename(p2, p3) == 0);
    CHECK(lt_modelsrc_open(&b, dir, NULL, &err) == LT_ENOTFOUND && strstr(err.msg, "00002-of-00002") &&
          strstr(err.msg, "missing"));
    CHECK(rename(p3, p2) == 0);
    CHECKF(lt_modelsrc_open(&b, dir, NULL, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc_close(b);
    free(idx);
    free(e);
    free(t);

    /* config/shape mismatch, with the documented message */
    const char *d2 = tmp_path("mismatch-hf");
    CHECKF(lt_modelsrc_write_hf(m, d2, LT_F32, &err) == LT_OK, "%s", err.msg);
    snprintf(p, sizeof p, "%s/config.json", d2);
    char *cfg = read_file(p);
    char *q = cfg ? strstr(cfg, "\"intermediate_size\":") : NULL;
    CHECK(q != NULL);
    if (q) {
        char *num = strstr(q, "72");
        if (num) memcpy(num, "71", 2);
        write_file(p, cfg);
        CHECK(lt_modelsrc_open(&b, d2, NULL, &err) == LT_EFORMAT);
        CHECKF(strstr(err.msg, "model.safetensors: tensor 'model.layers.0.mlp.") &&
                   strstr(err.msg, "' has shape [72, 40], config.json says [71, 40]"),
               "%s", err.msg);
    }
    free(cfg);
    lt_modelsrc_close(m);

    /* a missing tensor, in HF and in GGUF */
    m = tiny_model(&v, 8, "blk.1.ffn_up.weight");
    const char *d3 = tmp_path("missing-hf");
    CHECKF(lt_modelsrc_write_hf(m, d3, LT_F32, &err) == LT_OK, "%s", err.msg);
    CHECK(lt_modelsrc_open(&b, d3, NULL, &err) == LT_EFORMAT);
    CHECKF(strstr(err.msg, "tensor 'model.layers.1.mlp.up_proj.weight' is missing"), "%s", err.msg);
    const char *g3 = tmp_path("missing.gguf");
    CHECKF(lt_modelsrc_write_gguf(m, g3, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    CHECK(lt_modelsrc_open(&b, g3, NULL, &err) == LT_EFORMAT);
    CHECKF(strstr(err.msg, "tensor 'blk.1.ffn_up.weight' is missing"), "%s", err.msg);
    CHECK(lt_modelsrc_write_llama2c(m, tmp_path("missing.bin"), &err) == LT_ENOTFOUND);
    lt_modelsrc_close(m);

    /* a folder without config.json */
    const char *d4 = tmp_path("empty-dir");
    mkdir(d4, 0755);
    CHECK(lt_modelsrc_open(&b, d4, NULL, &err) != LT_OK && strstr(err.msg, "config.json"));
}

static void test_expect_and_validate(void) {
    variant v = {"llama", true, false, false};
    lt_modelsrc *m = tiny_model(&v, 9, NULL);
    lt_err err = {0};
    if (!m) return;
    const lt_src_tensor *t = NULL;
    int64_t good[2] = {72, 40}, bad[2] = {72, 41};
    CHECK(lt_modelsrc_expect(m, "blk.0.ffn_up.weight", 2, good, &t, &err) == LT_OK && t);
    CHECK(lt_modelsrc_expect(m, "blk.0.ffn_up.weight", 2, bad, &t, &err) == LT_EFORMAT && !t);
    CHECKF(strstr(err.msg, "has shape [72, 40], expected [72, 41]"), "%s", err.msg);
    CHECK(lt_modelsrc_expect(m, "nope.weight", 1, good, &t, &err) == LT_ENOTFOUND && strstr(err.msg, "nope"));
    lt_llm_config c = *lt_modelsrc_config(m);
    CHECK(lt_llm_config_validate(&c, "x", &err) == LT_OK);
    c.n_kv_heads = 2;
    CHECK(lt_llm_config_validate(&c, "x", &err) == LT_EFORMAT && err.msg[0]);
    c = *lt_modelsrc_config(m);
    c.head_dim = 7;
    CHECK(lt_llm_config_validate(&c, "x", &err) == LT_EFORMAT);
    c = *lt_modelsrc_config(m);
    c.n_layers = 2000;
    CHECK(lt_llm_config_validate(&c, "x", &err) == LT_EFORMAT);
    c = *lt_modelsrc_config(m);
    c.n_vocab = (1 << 22) + 1;
    CHECK(lt_llm_config_validate(&c, "x", &err) == LT_EFORMAT);
    /* duplicate names are refused */
    float one = 1;
    int64_t s1 = 1;
    CHECK(lt_modelsrc_add_owned(m, "output_norm.weight", LT_F32, 1, &s1, &one, &err) != LT_OK);
    /* llama3 rope scaling becomes rope_freqs.weight in GGUF */
    lt_modelsrc_close(m);
    v.neox = true;
    m = tiny_model(&v, 10, NULL);
    if (!m) return;
    lt_llm_config *mc = (lt_llm_config *)lt_modelsrc_config(m); /* test-only tweak */
    mc->rope_scaling = LT_ROPE_SCALING_LLAMA3;
    mc->rope_factor = 8;
    mc->rope_low_freq_factor = 1;
    mc->rope_high_freq_factor = 4;
    mc->rope_orig_ctx = 16;
    const char *g = tmp_path("l3.gguf");
    CHECKF(lt_modelsrc_write_gguf(m, g, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc *b = NULL;
    CHECKF(lt_modelsrc_open(&b, g, NULL, &err) == LT_OK, "%s", err.msg);
    if (b) {
        const lt_src_tensor *rf = lt_modelsrc_find(b, "rope_freqs.weight");
        CHECK(rf && rf->ndim == 1 && rf->shape[0] == 4 && rf->dtype == LT_F32);
        if (rf) {
            const float *f = rf->data;
            /* head_dim 8: wavelength of pair 0 is 2*pi, between 16/4 and 16/1: smoothed;
             * pair 3's (2*pi*1000) exceeds 16: the full factor */
            double wl = 2 * M_PI, sm = (16 / wl - 1) / (4 - 1), f0 = 1 / ((1 - sm) / 8 + sm);
            CHECKF(fabs(f[0] - f0) < 1e-5 && f[3] == 8.0f, "%g %g", f[0], f[3]);
        }
        CHECK(lt_modelsrc_write_hf(b, tmp_path("l3-hf"), LT_F32, &err) == LT_EUNSUPPORTED);
        lt_modelsrc_close(b);
    }
    CHECK(lt_modelsrc_write_llama2c(m, tmp_path("l3.bin"), &err) == LT_EUNSUPPORTED && strstr(err.msg, "rope"));
    /* HF keeps the llama3 parameters */
    CHECKF(lt_modelsrc_write_hf(m, tmp_path("l3-hf2"), LT_F32, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_modelsrc_open(&b, tmp_path("l3-hf2"), NULL, &err) == LT_OK, "%s", err.msg);
    if (b) {
        const lt_llm_config *bc = lt_modelsrc_config(b);
        CHECK(bc->rope_scaling == LT_ROPE_SCALING_LLAMA3 && bc->rope_factor == 8 && bc->rope_orig_ctx == 16 &&
              bc->rope_high_freq_factor == 4);
        lt_modelsrc_close(b);
    }
    /* linear rope scaling survives GGUF and HF */
    mc->rope_scaling = LT_ROPE_SCALING_LINEAR;
    mc->rope_factor = 2;
    mc->rope_low_freq_factor = mc->rope_high_freq_factor = 0;
    mc->rope_orig_ctx = 0;
    g = tmp_path("lin.gguf");
    CHECKF(lt_modelsrc_write_gguf(m, g, LT_DTYPE_COUNT, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_modelsrc_open(&b, g, NULL, &err) == LT_OK, "%s", err.msg);
    if (b) {
        CHECK(lt_modelsrc_config(b)->rope_scaling == LT_ROPE_SCALING_LINEAR && lt_modelsrc_config(b)->rope_factor == 2);
        CHECK(!lt_modelsrc_find(b, "rope_freqs.weight"));
        lt_modelsrc_close(b);
    }
    CHECKF(lt_modelsrc_write_hf(m, tmp_path("lin-hf"), LT_F32, &err) == LT_OK, "%s", err.msg);
    /* opening a file inside the folder opens the folder */
    char cj[1300];
    snprintf(cj, sizeof cj, "%s/model.safetensors", tmp_path("lin-hf"));
    CHECKF(lt_modelsrc_open(&b, cj, NULL, &err) == LT_OK, "%s", err.msg);
    if (b) {
        CHECK(!strcmp(lt_modelsrc_format(b), "hf"));
        CHECK(lt_modelsrc_config(b)->rope_scaling == LT_ROPE_SCALING_LINEAR && lt_modelsrc_config(b)->rope_factor == 2);
        lt_modelsrc_close(b);
    }
    lt_modelsrc_close(m);
}

/* ---- format sniffing (sniff.h) and the opener's errors ------------------------------------- */

static void expect_kind(const char *path, lt_file_kind kind, const char *what) {
    lt_sniffed sn;
    lt_err err = {0};
    lt_status st = lt_sniff(path, &sn, &err);
    CHECKF(st == LT_OK && sn.kind == kind && strstr(sn.what, what), "%s: status %d kind %d (%s) want %d: %s", path,
           st, sn.kind, sn.what, kind, err.msg);
}

static void test_sniff(void) {
    lt_sniffed sn;
    lt_err err = {0};
    /* files the other tests wrote, and the bundled assets */
    expect_kind(tmp_path("stories.gguf"), LT_FILE_GGUF, "GGUF");
    expect_kind(lt_test_path("assets/vocab/ggml-vocab-gpt-2.gguf"), LT_FILE_GGUF, "GGUF");
    expect_kind(lt_test_path("assets/models/stories260K.bin"), LT_FILE_LLAMA2C, "llama2.c checkpoint");
    expect_kind(lt_test_path("assets/models/stories260K_v1.bin"), LT_FILE_LLAMA2C, "llama2.c checkpoint");
    expect_kind(lt_test_path("assets/models/llama2xs_model.bin"), LT_FILE_LLAMA2C, "llama2.c checkpoint");
    expect_kind(tmp_path("stories_rewrite.bin"), LT_FILE_LLAMA2C, "llama2.c checkpoint");
    expect_kind(tmp_path("trunc.bin"), LT_FILE_LLAMA2C, "llama2.c checkpoint"); /* the reader says what is wrong */
    expect_kind(lt_test_path("assets/models/tok512.bin"), LT_FILE_LLAMA2C_TOKENIZER, "tokenizer");
    expect_kind(lt_test_path("assets/yolo/yolo-fastest-1.1.cfg"), LT_FILE_DARKNET_CFG, ".cfg");
    expect_kind(lt_test_path("assets/yolo/yolov3-tiny.cfg"), LT_FILE_DARKNET_CFG, ".cfg");
    expect_kind(lt_test_path("assets/yolo/yolo-fastest-1.1.weights"), LT_FILE_DARKNET_WEIGHTS, ".weights");
    expect_kind(lt_test_path("assets/yolo/dog.jpg"), LT_FILE_IMAGE, "JPEG");
    /* a Hugging Face folder, and files inside it standing for it */
    const char *hf = tmp_path("shard-hf");
    char p[1400], q[1400];
    expect_kind(hf, LT_FILE_HF, "Hugging Face");
    CHECK(lt_sniff(hf, &sn, &err) == LT_OK && !strcmp(sn.dir, hf));
    snprintf(p, sizeof p, "%s/config.json", hf);
    expect_kind(p, LT_FILE_HF, "Hugging Face");
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", hf);
    CHECK(lt_sniff(p, &sn, &err) == LT_OK && sn.kind == LT_FILE_HF && !strcmp(sn.dir, hf));
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", hf);
    expect_kind(p, LT_FILE_HF, "Hugging Face");
    /* a safetensors file alone is a safetensors file, not a model */
    snprintf(q, sizeof q, "%s/model-00001-of-00002.safetensors", hf);
    char *data = NULL;
    FILE *f = fopen(q, "rb");
    size_t n = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        n = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        data = malloc(n ? n : 1);
        CHECK(data && fread(data, 1, n, f) == n);
        fclose(f);
    }
    const char *lone = tmp_path("lone.safetensors");
    f = fopen(lone, "wb");
    if (f && data) fwrite(data, 1, n, f);
    if (f) fclose(f);
    free(data);
    expect_kind(lone, LT_FILE_SAFETENSORS, "safetensors");
    lt_modelsrc *m = NULL;
    CHECK(lt_modelsrc_open(&m, lone, NULL, &err) == LT_ENOTFOUND && strstr(err.msg, "config.json") && !m);
    /* images by magic bytes, whatever the name */
    lt_image im;
    if (lt_image_alloc(&im, 4, 3, 3, 0.5f, &err) == LT_OK) {
        const char *png = tmp_path("picture.bin");
        CHECKF(lt_image_write_png(&im, png, &err) == LT_OK, "%s", err.msg);
        expect_kind(png, LT_FILE_IMAGE, "PNG");
        CHECK(lt_modelsrc_open(&m, png, NULL, &err) == LT_EFORMAT && strstr(err.msg, "PNG image") &&
              strstr(err.msg, "GGUF") && strstr(err.msg, "llama2.c checkpoint") && !m);
        lt_image_free(&im);
    }
    /* a darknet .cfg with comments before [net] */
    const char *cfg = tmp_path("net.txt");
    write_file(cfg, "# a comment\n\n; another\n  [ net ]\nwidth=32\n");
    expect_kind(cfg, LT_FILE_DARKNET_CFG, ".cfg");
    /* the opener names what a non-model file is and what it expected */
    CHECK(lt_modelsrc_open(&m, lt_test_path("assets/models/tok512.bin"), NULL, &err) == LT_EFORMAT &&
          strstr(err.msg, "tokenizer") && strstr(err.msg, "GGUF") && !m);
    CHECK(lt_modelsrc_open(&m, lt_test_path("assets/yolo/dog.jpg"), NULL, &err) == LT_EFORMAT &&
          strstr(err.msg, "JPEG image") && strstr(err.msg, "Hugging Face") && !m);
    /* unknown: a clear error naming the formats expected */
    const char *unk = tmp_path("notes.txt");
    write_file(unk, "just some text, not a model\n");
    CHECK(lt_sniff(unk, &sn, &err) == LT_EFORMAT && sn.kind == LT_FILE_UNKNOWN);
    CHECKF(strstr(err.msg, "notes.txt") && strstr(err.msg, "unknown file format") && strstr(err.msg, "GGUF") &&
               strstr(err.msg, "Hugging Face") && strstr(err.msg, "llama2.c") && strstr(err.msg, "darknet") &&
               strstr(err.msg, "image"),
           "%s", err.msg);
    CHECK(lt_modelsrc_open(&m, unk, NULL, &err) == LT_EFORMAT && !m);
    CHECKF(strstr(err.msg, "notes.txt") && strstr(err.msg, "not a model file") && strstr(err.msg, "GGUF") &&
               strstr(err.msg, "Hugging Face") && strstr(err.msg, "llama2.c checkpoint"),
           "%s", err.msg);
    const char *empty = tmp_path("empty.bin");
    write_file(empty, "");
    CHECK(lt_sniff(empty, &sn, &err) == LT_EFORMAT && sn.kind == LT_FILE_UNKNOWN && sn.size == 0);
    /* a directory without config.json: named, with what it lacks */
    const char *d = tmp_path("empty-dir");
    CHECK(lt_sniff(d, &sn, &err) == LT_ENOTFOUND && sn.kind == LT_FILE_DIR && strstr(err.msg, "config.json") &&
          strstr(err.msg, "empty-dir"));
    /* a folder file with no config.json beside it, and a missing path */
    const char *idx = tmp_path("model.safetensors.index.json");
    write_file(idx, "{}");
    CHECK(lt_sniff(idx, &sn, &err) == LT_ENOTFOUND && strstr(err.msg, "config.json"));
    CHECK(lt_sniff(tmp_path("nothere.gguf"), &sn, &err) == LT_EIO && strstr(err.msg, "nothere.gguf"));
    /* diffusers folders (a UNet folder, a pipeline with model_index.json and no config.json, a file
     * in one): their own kind, and `load` sends them to `imagine -m` */
    const char *unet = lt_test_path("tests/fixtures/unet/google_old");
    expect_kind(unet, LT_FILE_DIFFUSERS, "diffusers");
    CHECK(lt_sniff(unet, &sn, &err) == LT_OK && !strcmp(sn.dir, unet));
    char up[4200];
    snprintf(up, sizeof up, "%s/diffusion_pytorch_model.safetensors", unet);
    CHECK(lt_sniff(up, &sn, &err) == LT_OK && sn.kind == LT_FILE_DIFFUSERS && !strcmp(sn.dir, unet));
    snprintf(up, sizeof up, "%s/scheduler_config.json", unet);
    expect_kind(up, LT_FILE_DIFFUSERS, "diffusers");
    const char *pipe = tmp_path("pipeline");
    mkdir(pipe, 0755);
    write_file(tmp_path("pipeline/model_index.json"), "{\"_class_name\": \"DDPMPipeline\"}");
    expect_kind(pipe, LT_FILE_DIFFUSERS, "diffusers");
    expect_kind(tmp_path("pipeline/model_index.json"), LT_FILE_DIFFUSERS, "diffusers");
    lt_modelsrc *ms = NULL;
    CHECKF(lt_modelsrc_open(&ms, unet, NULL, &err) == LT_EFORMAT && !ms && strstr(err.msg, "a diffusers folder") &&
               strstr(err.msg, "imagine -m"),
           "%s", err.msg);
    /* the shared llama2.c header test */
    CHECK(lt_sniff_llama2c_dims(64, 172, 5, 8, 4, 512, 512));
    CHECK(!lt_sniff_llama2c_dims(64, 172, 5, 8, 3, 512, 512) && !lt_sniff_llama2c_dims(64, 0, 5, 8, 4, 512, 512));
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "%s", lt_test_tmpdir("modelsrc"));
    size_t mem0 = lt_mem_used();
    test_permutation_math();
    test_stories();
    test_roundtrips();
    test_hf_sharded_and_errors();
    test_expect_and_validate();
    test_sniff();
    CHECKF(lt_mem_used() == mem0, "leaked %zu bytes", lt_mem_used() - mem0);
    return lt_test_done();
}
