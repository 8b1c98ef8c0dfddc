/* test_formats_fuzz.c - robustness of the model file readers against damaged files.
 *
 * Starts from small valid files (GGUF with vocab and q8_0/f32 tensors, an HF folder's
 * model.safetensors and config.json, llama2.c legacy and version-1 checkpoints, a llama2.c
 * tokenizer) and feeds every reader truncations (all lengths near the headers, a coarse
 * grid over the rest) and a few thousand seeded random mutations, many aimed at the
 * length / count / offset fields. Every open (and lt_sniff on every damaged file) must
 * return OK or an error with a message, and never crash or hang; opened sources have every
 * tensor byte read. Run it under ASan.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/formats/gguf.h"
#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_llama2c.h"
#include "core/formats/modelsrc_open.h"
#include "core/formats/safetensors.h"
#include "core/formats/sniff.h"
#include "testutil.h"

static char g_tmp[1024];
static lt_test_rng g_rng;
static int g_opens, g_ok;
static int g_scale = 1; /* LATHE_FUZZ_SCALE multiplies the mutation counts (longer local runs) */

static const char *tmp_path(const char *name) {
    static char buf[4][1200];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 1200, "%s/%s", g_tmp, name);
    return b;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)l + 1);
    *n = fread(b, 1, (size_t)l, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n) {
    unlink(path); /* a fresh file: rewriting by truncation makes some filesystems flush on close */
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(b, 1, n, f);
    fclose(f);
}

/* ---- openers: each returns after checking status/message and touching the data ---------- */

static volatile uint8_t g_sink;

static void touch_src(const lt_modelsrc *m) {
    uint8_t acc = 0;
    for (int i = 0; i < lt_modelsrc_n_tensors(m); i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(m, i);
        const uint8_t *p = t->data;
        if (t->nbytes) acc ^= p[0] ^ p[t->nbytes - 1] ^ p[t->nbytes / 2];
    }
    const lt_vocab *v = lt_modelsrc_vocab(m);
    if (v)
        for (int i = 0; i < v->n_tokens; i++) acc ^= (uint8_t)v->token_len[i];
    g_sink = acc;
}

static void result(lt_status st, const lt_err *err, const char *what) {
    g_opens++;
    if (st == LT_OK) g_ok++;
    else CHECKF(err->msg[0] != 0, "%s: status %d with an empty message", what, st);
}

/* lt_sniff on the damaged file: a kind and a description, or an error with a message. */
static void sniff(const char *p) {
    lt_sniffed s;
    lt_err err = {0};
    lt_status st = lt_sniff(p, &s, &err);
    if (st == LT_OK) CHECKF(s.kind != LT_FILE_UNKNOWN && s.what && s.what[0], "lt_sniff: OK without a kind");
    else CHECKF(err.msg[0] != 0 && s.what, "lt_sniff: status %d with an empty message", st);
}

static void open_gguf(const char *p) {
    sniff(p);
    lt_err err = {0};
    lt_gguf *g = NULL;
    lt_status st = lt_gguf_open(&g, p, &err);
    result(st, &err, "lt_gguf_open");
    if (g) {
        for (int64_t i = 0; i < lt_gguf_n_tensors(g); i++) {
            lt_src_tensor t;
            lt_gguf_tensor(g, i, &t);
            const uint8_t *d = t.data;
            g_sink ^= d[0] ^ d[t.nbytes - 1];
        }
        lt_vocab *v = NULL;
        err.msg[0] = 0;
        st = lt_vocab_from_gguf(&v, g, &err);
        result(st, &err, "lt_vocab_from_gguf");
        lt_vocab_free(v);
        lt_gguf_close(g);
    }
    lt_modelsrc *m = NULL;
    err.msg[0] = 0;
    st = lt_modelsrc_open(&m, p, NULL, &err);
    result(st, &err, "lt_modelsrc_open(gguf)");
    if (m) touch_src(m);
    lt_modelsrc_close(m);
}

static const char *g_hf_dir;

static void open_st(const char *p) {
    lt_err err = {0};
    lt_safetensors *s = NULL;
    lt_status st = lt_st_open(&s, p, &err);
    result(st, &err, "lt_st_open");
    if (s) {
        for (int64_t i = 0; i < lt_st_n_tensors(s); i++) {
            lt_src_tensor t;
            lt_st_tensor(s, i, &t);
            if (t.nbytes) g_sink ^= ((const uint8_t *)t.data)[t.nbytes - 1];
        }
        lt_st_close(s);
    }
    lt_modelsrc *m = NULL;
    err.msg[0] = 0;
    st = lt_modelsrc_open(&m, g_hf_dir, NULL, &err);
    result(st, &err, "lt_modelsrc_open(hf)");
    if (m) touch_src(m);
    lt_modelsrc_close(m);
}

static void open_hf_dir(const char *p) {
    (void)p;
    lt_err err = {0};
    lt_modelsrc *m = NULL;
    lt_status st = lt_modelsrc_open(&m, g_hf_dir, NULL, &err);
    result(st, &err, "lt_modelsrc_open(hf config)");
    if (m) touch_src(m);
    lt_modelsrc_close(m);
}

static void open_l2c(const char *p) {
    sniff(p);
    lt_err err = {0};
    lt_modelsrc *m = NULL;
    lt_status st = lt_modelsrc_open_llama2c(&m, p, NULL, &err);
    result(st, &err, "lt_modelsrc_open_llama2c");
    if (m) touch_src(m);
    lt_modelsrc_close(m);
}

static void open_tok(const char *p) {
    sniff(p);
    lt_err err = {0};
    lt_vocab *v = NULL;
    lt_status st = lt_vocab_from_llama2c(&v, p, 512, &err);
    result(st, &err, "lt_vocab_from_llama2c");
    lt_vocab_free(v);
}

/* ---- the fuzz driver ---------------------------------------------------------------------- */

static const uint64_t k_vals[] = {0, 1, 2, 3, 4, 7, 8, 31, 32, 33, 255, 0x7fff, 0xffff, 0x7fffffff, 0x80000000u,
                                  0xffffffffu, 0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
                                  0xffffffffffffffffull};

/* seed: path of a valid file; target: where mutated copies go; header: bytes worth aiming
 * at; text: mutate with JSON-ish characters instead of raw bytes. */
static void fuzz(const char *what, const char *seed, const char *target, size_t header, int n_mut, bool text,
                 void (*open_fn)(const char *)) {
    size_t n = 0;
    uint8_t *orig = slurp(seed, &n);
    CHECKF(orig && n > 0, "%s: seed file %s", what, seed);
    if (!orig) return;
    uint8_t *b = malloc(n + 1);
    int opens0 = g_opens, ok0 = g_ok;
    if (header > n) header = n;
    /* the seed itself opens */
    spit(target, orig, n);
    int before = g_ok;
    open_fn(target);
    CHECKF(g_ok > before, "%s: the unmodified seed does not open", what);
    /* truncations: every length through the header (+64), a coarse grid, the last bytes */
    for (size_t len = 0; len < n; len++) {
        bool near = len <= header + 64 || len + 16 >= n;
        bool grid = len % (n / 64 + 1) == 0;
        if (!near && !grid) continue;
        spit(target, orig, len);
        open_fn(target);
    }
    /* mutations */
    static const char jchars[] = "{}[]\":,0123456789-.eE \\tfnul";
    for (int it = 0; it < n_mut * g_scale; it++) {
        memcpy(b, orig, n);
        int k = 1 + (int)(lt_test_u32(&g_rng) % 4);
        for (int j = 0; j < k; j++) {
            uint32_t r = lt_test_u32(&g_rng);
            size_t region = (r & 1) && header ? header : n;
            size_t pos = lt_test_u32(&g_rng) % region;
            if (text) {
                b[pos] = (uint8_t)jchars[lt_test_u32(&g_rng) % (sizeof jchars - 1)];
            } else if ((r >> 1) % 3 == 0) {
                b[pos] = (uint8_t)lt_test_u32(&g_rng);
            } else {
                /* a length/count/offset-like field: aligned u32 or u64 with an edge value */
                uint64_t v = k_vals[lt_test_u32(&g_rng) % (sizeof k_vals / sizeof k_vals[0])];
                if (lt_test_u32(&g_rng) % 4 == 0) v = (uint64_t)n + (lt_test_u32(&g_rng) % 64) - 32;
                size_t w = (r >> 3) & 1 ? 8 : 4;
                pos &= ~(size_t)3;
                if (pos + w <= n) memcpy(b + pos, &v, w);
            }
        }
        spit(target, b, n);
        open_fn(target);
    }
    fprintf(stderr, "%-22s %7zu bytes: %5d opens, %5d ok\n", what, n, g_opens - opens0, g_ok - ok0);
    spit(target, orig, n); /* leave the valid file in place for the next fuzzer */
    free(b);
    free(orig);
}

/* ---- seed files ---------------------------------------------------------------------------- */

static lt_vocab *small_vocab(void) {
    lt_vocab *v = lt_vocab_create();
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "c", "ab", "bc", "abc", "\xc4\xa0", "\xc4\xa0" "a"};
    int n = (int)(sizeof toks / sizeof toks[0]);
    v->type = LT_VOCAB_BPE;
    snprintf(v->pre, sizeof v->pre, "gpt-2");
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
    }
    const char *merges[] = {"a b", "b c", "ab c", "\xc4\xa0 a"};
    v->n_merges = 4;
    v->merges = lt_calloc(4, sizeof *v->merges);
    for (int i = 0; i < 4; i++) v->merges[i] = lt_strdup(merges[i]);
    v->unk_id = 0, v->bos_id = 1, v->eos_id = 2;
    v->add_bos = true;
    v->chat_template = lt_strdup("{% for m in messages %}{{ m.content }}{% endfor %}");
    return v;
}

static lt_modelsrc *small_model(bool tied, bool with_vocab) {
    lt_llm_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.arch, "llama");
    strcpy(c.name, "fuzz");
    c.n_vocab = 11;
    c.dim = 32;
    c.hidden_dim = 64;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.head_dim = 16;
    c.max_seq = 16;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.tied_embeddings = tied;
    lt_modelsrc *m = NULL;
    lt_err err = {0};
    if (lt_modelsrc_create(&m, &c, with_vocab ? small_vocab() : NULL, "fuzz", &err)) return NULL;
    struct { const char *name; int nd; int64_t s0, s1; } T[] = {
        {"token_embd.weight", 2, 11, 32},     {"output_norm.weight", 1, 32, 0},   {"output.weight", 2, 11, 32},
        {"blk.0.attn_norm.weight", 1, 32, 0}, {"blk.0.attn_q.weight", 2, 32, 32}, {"blk.0.attn_k.weight", 2, 16, 32},
        {"blk.0.attn_v.weight", 2, 16, 32},   {"blk.0.attn_output.weight", 2, 32, 32},
        {"blk.0.ffn_norm.weight", 1, 32, 0},  {"blk.0.ffn_gate.weight", 2, 64, 32},
        {"blk.0.ffn_up.weight", 2, 64, 32},   {"blk.0.ffn_down.weight", 2, 32, 64}};
    float *x = malloc(64 * 64 * 4);
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        if (tied && !strcmp(T[i].name, "output.weight")) continue;
        int64_t s[2] = {T[i].s0, T[i].s1}, ne = T[i].nd == 2 ? s[0] * s[1] : s[0];
        lt_test_fill(&g_rng, x, ne, 0.3f);
        if (lt_modelsrc_add_owned(m, T[i].name, LT_F32, T[i].nd, s, x, &err)) fprintf(stderr, "%s\n", err.msg);
    }
    free(x);
    return m;
}

/* llama2.c version-1 export of m (the layout is spelled out independently of the reader). */
static bool write_v1(const lt_modelsrc *m, const char *path) {
    const lt_llm_config *c = lt_modelsrc_config(m);
    FILE *f = fopen(path, "wb");
    if (!f) return false;
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
        for (int l = 0; l < (order[i][0] == '-' ? 1 : c->n_layers); l++) {
            char name[96];
            if (order[i][0] == '-') snprintf(name, sizeof name, "%s.weight", order[i] + 1);
            else snprintf(name, sizeof name, "blk.%d.%s.weight", l, order[i]);
            const lt_src_tensor *t = lt_modelsrc_find(m, name);
            if (!t) {
                fclose(f);
                return false;
            }
            fwrite(t->data, 1, t->nbytes, f);
        }
    }
    if (!c->tied_embeddings) {
        const lt_src_tensor *t = lt_modelsrc_find(m, "output.weight");
        fwrite(t->data, 1, t->nbytes, f);
    }
    fclose(f);
    return true;
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "%s", lt_test_tmpdir("formats_fuzz"));
    const char *sc = getenv("LATHE_FUZZ_SCALE"), *sd = getenv("LATHE_FUZZ_SEED");
    if (sc && atoi(sc) > 0) g_scale = atoi(sc);
    lt_test_rng_seed(&g_rng, sd ? strtoull(sd, NULL, 0) : 20240611);
    size_t mem0 = lt_mem_used();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lt_err err = {0};

    /* GGUF with vocab and q8_0 weights */
    lt_modelsrc *m = small_model(false, true);
    CHECK(m != NULL);
    if (!m) return lt_test_done();
    const char *gseed = tmp_path("seed.gguf");
    CHECKF(lt_modelsrc_write_gguf(m, gseed, LT_Q8_0, &err) == LT_OK, "%s", err.msg);
    fuzz("gguf", gseed, tmp_path("fuzz.gguf"), 2048, 3000, false, open_gguf);

    /* HF folder: model.safetensors and config.json */
    const char *hseed = tmp_path("seed-hf"), *hdir = tmp_path("fuzz-hf");
    g_hf_dir = hdir;
    CHECKF(lt_modelsrc_write_hf(m, hseed, LT_BF16, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_modelsrc_write_hf(m, hdir, LT_BF16, &err) == LT_OK, "%s", err.msg);
    char sp[1300], dp[1300], cp[1300], cdp[1300];
    snprintf(sp, sizeof sp, "%s/model.safetensors", hseed);
    snprintf(dp, sizeof dp, "%s/model.safetensors", hdir);
    snprintf(cp, sizeof cp, "%s/config.json", hseed);
    snprintf(cdp, sizeof cdp, "%s/config.json", hdir);
    size_t sn = 0;
    uint8_t *sb = slurp(sp, &sn);
    uint64_t hl = 0;
    if (sb && sn >= 8) memcpy(&hl, sb, 8);
    free(sb);
    fuzz("safetensors", sp, dp, (size_t)hl + 8, 2000, false, open_st);
    fuzz("safetensors (json)", sp, dp, (size_t)hl + 8, 800, true, open_st);
    fuzz("config.json", cp, cdp, 0, 800, true, open_hf_dir);
    lt_modelsrc_close(m);

    /* llama2.c: legacy (untied) and version 1 (tied) */
    m = small_model(false, false);
    const char *lseed = tmp_path("seed.bin"), *vseed = tmp_path("seed_v1.bin");
    CHECKF(lt_modelsrc_write_llama2c(m, lseed, &err) == LT_OK, "%s", err.msg);
    fuzz("llama2c legacy", lseed, tmp_path("fuzz.bin"), 28, 1000, false, open_l2c);
    lt_modelsrc_close(m);
    m = small_model(true, false);
    CHECK(write_v1(m, vseed));
    /* the v1 reader agrees with the model it was written from */
    lt_modelsrc *r = NULL;
    CHECKF(lt_modelsrc_open(&r, vseed, NULL, &err) == LT_OK, "%s", err.msg);
    if (r) {
        int same = 0;
        for (int i = 0; i < lt_modelsrc_n_tensors(m); i++) {
            const lt_src_tensor *a = lt_modelsrc_tensor(m, i), *b = lt_modelsrc_find(r, a->name);
            same += b && b->nbytes == a->nbytes && !memcmp(a->data, b->data, a->nbytes);
        }
        CHECK(same == lt_modelsrc_n_tensors(m) && lt_modelsrc_n_tensors(r) == same);
        CHECK(lt_modelsrc_config(r)->tied_embeddings && lt_modelsrc_config(r)->n_kv_heads == 1);
        lt_modelsrc_close(r);
    }
    fuzz("llama2c v1", vseed, tmp_path("fuzz_v1.bin"), 256, 1000, false, open_l2c);
    lt_modelsrc_close(m);

    /* llama2.c tokenizer */
    const char *tok = lt_test_path("assets/models/tok512.bin");
    if (access(tok, R_OK) == 0) fuzz("llama2c tokenizer", tok, tmp_path("fuzz_tok.bin"), 64, 1500, false, open_tok);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr, "%d opens (%d ok) in %.1f s\n", g_opens, g_ok, secs);
    CHECKF(secs < 60.0 * g_scale, "took %.1f s", secs);
    CHECKF(lt_mem_used() == mem0, "leaked %zu bytes", lt_mem_used() - mem0);
    return lt_test_done();
}
