/* test_gguf.c - GGUF reader and writer: every key/value type (hand-built file), every
 * supported tensor dtype (writer round trip), typed getters, vocab metadata, the documented
 * errors, and the real vocab-only GGUF files under assets/vocab/ when present.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/gguf.h"
#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_open.h"
#include "testutil.h"

static char g_tmp[1024];

static const char *tmp_path(const char *name) {
    static char buf[4][1200];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, 1200, "%s/%s", g_tmp, name);
    return b;
}

/* ---- a tiny byte builder for hand-made files --------------------------------------------- */

typedef struct bb {
    uint8_t p[1 << 16];
    size_t n;
} bb;

static void b_raw(bb *b, const void *x, size_t n) {
    memcpy(b->p + b->n, x, n);
    b->n += n;
}
static void b_u8(bb *b, uint8_t v) { b_raw(b, &v, 1); }
static void b_u16(bb *b, uint16_t v) { b_raw(b, &v, 2); }
static void b_u32(bb *b, uint32_t v) { b_raw(b, &v, 4); }
static void b_u64(bb *b, uint64_t v) { b_raw(b, &v, 8); }
static void b_str(bb *b, const char *s) {
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static void b_key(bb *b, const char *k, uint32_t t) {
    b_str(b, k);
    b_u32(b, t);
}
static void b_pad(bb *b, size_t a) {
    while (b->n % a) b_u8(b, 0);
}

static void save(const char *path, const bb *b) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b->p, 1, b->n, f);
        fclose(f);
    }
}

/* A file with every kv type and one f32 tensor [2, 32]; the knobs break one thing each. */
typedef struct knobs {
    uint32_t version, tensor_type, align, ndim;
    uint64_t ne0, off2;
    bool dup_key, dup_tensor, bad_bool;
    uint32_t type2; /* type of the second tensor (F32 = 0 unless set) */
} knobs;

static void build_all_types(bb *b, knobs k) {
    b->n = 0;
    b_raw(b, "GGUF", 4);
    b_u32(b, k.version);
    b_u64(b, 2);  /* tensors */
    b_u64(b, 17 + (k.dup_key ? 1 : 0)); /* kvs */
    b_key(b, "t.u8", LT_GGUF_UINT8), b_u8(b, 200);
    b_key(b, "t.i8", LT_GGUF_INT8), b_u8(b, (uint8_t)-5);
    b_key(b, "t.u16", LT_GGUF_UINT16), b_u16(b, 60000);
    b_key(b, "t.i16", LT_GGUF_INT16), b_u16(b, (uint16_t)-300);
    b_key(b, "t.u32", LT_GGUF_UINT32), b_u32(b, 4000000000u);
    b_key(b, "t.i32", LT_GGUF_INT32), b_u32(b, (uint32_t)-70000);
    float f = 1.5f;
    b_key(b, "t.f32", LT_GGUF_FLOAT32), b_raw(b, &f, 4);
    b_key(b, "t.bool", LT_GGUF_BOOL), b_u8(b, k.bad_bool ? 2 : 1);
    b_key(b, "t.str", LT_GGUF_STRING), b_str(b, "hello");
    b_key(b, "t.u64", LT_GGUF_UINT64), b_u64(b, 1ull << 40);
    b_key(b, "t.i64", LT_GGUF_INT64), b_u64(b, (uint64_t)-3);
    double d = 2.25;
    b_key(b, "t.f64", LT_GGUF_FLOAT64), b_raw(b, &d, 8);
    b_key(b, "t.arr_i16", LT_GGUF_ARRAY), b_u32(b, LT_GGUF_INT16), b_u64(b, 3);
    b_u16(b, 1), b_u16(b, 2), b_u16(b, 3);
    b_key(b, "t.arr_str", LT_GGUF_ARRAY), b_u32(b, LT_GGUF_STRING), b_u64(b, 3);
    b_str(b, "a"), b_str(b, ""), b_raw(b, "\x08\0\0\0\0\0\0\0x\0yz\xff\xfe\x01q", 16);
    b_key(b, "t.arr_arr", LT_GGUF_ARRAY), b_u32(b, LT_GGUF_ARRAY), b_u64(b, 2);
    b_u32(b, LT_GGUF_UINT8), b_u64(b, 2), b_u8(b, 1), b_u8(b, 2);
    b_u32(b, LT_GGUF_STRING), b_u64(b, 1), b_str(b, "nested");
    b_key(b, "general.alignment", LT_GGUF_UINT32), b_u32(b, k.align);
    b_key(b, "t.empty_arr", LT_GGUF_ARRAY), b_u32(b, LT_GGUF_FLOAT32), b_u64(b, 0);
    if (k.dup_key) b_key(b, "t.u8", LT_GGUF_UINT8), b_u8(b, 1);
    /* tensors: a [2, ne0] and b [ne0] */
    b_str(b, "blk.0.attn_q.weight");
    b_u32(b, k.ndim);
    b_u64(b, k.ne0);
    for (uint32_t i = 1; i < k.ndim; i++) b_u64(b, 2);
    b_u32(b, k.tensor_type);
    b_u64(b, 0);
    b_str(b, k.dup_tensor ? "blk.0.attn_q.weight" : "b");
    b_u32(b, 1);
    b_u64(b, k.ne0);
    b_u32(b, k.type2);
    b_u64(b, k.off2);
    b_pad(b, k.align ? k.align : 32);
    for (int i = 0; i < 64 + 32; i++) {
        float v = (float)i;
        b_raw(b, &v, 4);
    }
}

static knobs good_knobs(void) {
    knobs k = {3, 0, 64, 2, 32, 256, false, false, false};
    return k;
}

static void test_all_kv_types(void) {
    static bb b;
    lt_err err = {0};
    const char *p = tmp_path("types.gguf");
    build_all_types(&b, good_knobs());
    save(p, &b);
    lt_gguf *g = NULL;
    CHECKF(lt_gguf_open(&g, p, &err) == LT_OK, "%s", err.msg);
    if (!g) return;
    CHECK(lt_gguf_version(g) == 3 && lt_gguf_n_kv(g) == 17 && lt_gguf_n_tensors(g) == 2);
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f;
    bool bo;
    lt_gguf_str s;
    CHECK(lt_gguf_get_u32(g, "t.u8", &u32, &err) == LT_OK && u32 == 200);
    CHECK(lt_gguf_get_i32(g, "t.i8", &i32, &err) == LT_OK && i32 == -5);
    CHECK(lt_gguf_get_u32(g, "t.i8", &u32, &err) == LT_ERANGE && err.msg[0]);
    CHECK(lt_gguf_get_u32(g, "t.u16", &u32, &err) == LT_OK && u32 == 60000);
    CHECK(lt_gguf_get_i32(g, "t.i16", &i32, &err) == LT_OK && i32 == -300);
    CHECK(lt_gguf_get_u32(g, "t.u32", &u32, &err) == LT_OK && u32 == 4000000000u);
    CHECK(lt_gguf_get_i32(g, "t.u32", &i32, &err) == LT_ERANGE);
    CHECK(lt_gguf_get_i32(g, "t.i32", &i32, &err) == LT_OK && i32 == -70000);
    CHECK(lt_gguf_get_f32(g, "t.f32", &f, &err) == LT_OK && f == 1.5f);
    CHECK(lt_gguf_get_bool(g, "t.bool", &bo, &err) == LT_OK && bo);
    CHECK(lt_gguf_get_str(g, "t.str", &s, &err) == LT_OK && s.n == 5 && !memcmp(s.p, "hello", 5));
    CHECK(lt_gguf_get_u64(g, "t.u64", &u64, &err) == LT_OK && u64 == (1ull << 40));
    CHECK(lt_gguf_get_u32(g, "t.u64", &u32, &err) == LT_ERANGE);
    CHECK(lt_gguf_get_i32(g, "t.i64", &i32, &err) == LT_OK && i32 == -3);
    CHECK(lt_gguf_get_f32(g, "t.f64", &f, &err) == LT_OK && f == 2.25f);
    CHECK(lt_gguf_get_f32(g, "t.str", &f, &err) == LT_EFORMAT && strstr(err.msg, "t.str") &&
          strstr(err.msg, "string"));
    CHECK(lt_gguf_get_u32(g, "missing.key", &u32, &err) == LT_ENOTFOUND && strstr(err.msg, "missing.key"));
    lt_gguf_type et;
    uint64_t n;
    const void *data;
    CHECK(lt_gguf_get_arr(g, "t.arr_i16", &et, &n, &data, &err) == LT_OK && et == LT_GGUF_INT16 && n == 3 &&
          data && ((const int16_t *)data)[2] == 3);
    CHECK(lt_gguf_get_arr(g, "t.arr_str", &et, &n, &data, &err) == LT_OK && et == LT_GGUF_STRING && n == 3 &&
          data == NULL);
    CHECK(lt_gguf_arr_str(g, "t.arr_str", 0, &s, &err) == LT_OK && s.n == 1 && s.p[0] == 'a');
    CHECK(lt_gguf_arr_str(g, "t.arr_str", 1, &s, &err) == LT_OK && s.n == 0);
    CHECK(lt_gguf_arr_str(g, "t.arr_str", 2, &s, &err) == LT_OK && s.n == 8 && s.p[1] == 0 && s.p[7] == 'q');
    CHECK(lt_gguf_arr_str(g, "t.arr_str", 3, &s, &err) == LT_ERANGE);
    CHECK(lt_gguf_get_arr(g, "t.arr_arr", &et, &n, &data, &err) == LT_OK && et == LT_GGUF_ARRAY && n == 2 &&
          data == NULL);
    CHECK(lt_gguf_get_arr(g, "t.empty_arr", &et, &n, &data, &err) == LT_OK && n == 0);
    CHECK(lt_gguf_arr_str(g, "t.arr_i16", 0, &s, &err) == LT_EFORMAT);
    int64_t i = lt_gguf_find(g, "t.f64");
    CHECK(i >= 0 && lt_gguf_kv_type(g, i) == LT_GGUF_FLOAT64);
    s = lt_gguf_kv_key(g, i);
    CHECK(s.n == 5 && !memcmp(s.p, "t.f64", 5));
    lt_src_tensor t;
    lt_gguf_tensor(g, 0, &t);
    CHECK(!strcmp(t.name, "blk.0.attn_q.weight") && t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 32 &&
          t.dtype == LT_F32 && t.nbytes == 256);
    CHECK(((uintptr_t)t.data % 64) == 0 && ((const float *)t.data)[33] == 33.0f);
    lt_gguf_tensor(g, 1, &t);
    CHECK(t.ndim == 1 && t.shape[0] == 32 && ((const float *)t.data)[0] == 64.0f);
    lt_gguf_close(g);

    /* each knob breaks the file in one documented way */
    struct { knobs k; lt_status want; const char *msg; } bad[] = {
        {{2, 0, 64, 2, 32, 256, 0, 0, 0}, LT_OK, NULL},
        {{4, 0, 64, 2, 32, 256, 0, 0, 0}, LT_EFORMAT, "version"},
        {{1, 0, 64, 2, 32, 256, 0, 0, 0}, LT_EUNSUPPORTED, "v1"},
        {{3, 16, 64, 2, 32, 256, 0, 0, 0}, LT_EUNSUPPORTED,
         "types.gguf: lathe does not support the types of 1 tensor: IQ2_XXS (1 tensor) (supported: F32, F16, "
         "BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS)"},
        {{3, 15, 64, 2, 32, 256, 0, 0, 0}, LT_EUNSUPPORTED, "Q8_K (1 tensor)"},
        {{3, 16, 64, 2, 32, 256, 0, 0, 0, 19}, LT_EUNSUPPORTED, "of 2 tensors: IQ2_XXS (1 tensor), IQ1_S (1 tensor) ("},
        {{3, 16, 64, 2, 32, 256, 0, 0, 0, 16}, LT_EUNSUPPORTED, "of 2 tensors: IQ2_XXS (2 tensors) ("},
        {{3, 12, 64, 2, 32, 256, 0, 0, 0}, LT_EFORMAT, "row length 32 is not a multiple of the Q4_K block (256)"},
        {{3, 99, 64, 2, 32, 256, 0, 0, 0}, LT_EFORMAT, "unknown type"},
        {{3, 0, 48, 2, 32, 256, 0, 0, 0}, LT_EFORMAT, "power of two"},
        {{3, 0, 64, 5, 32, 256, 0, 0, 0}, LT_EFORMAT, "dimensions"},
        {{3, 0, 64, 2, 0, 256, 0, 0, 0}, LT_EFORMAT, "dimension"},
        {{3, 8, 64, 2, 33, 256, 0, 0, 0}, LT_EFORMAT, "multiple"},
        {{3, 0, 64, 2, 32, 128, 0, 0, 0}, LT_EFORMAT, "overlap"},
        {{3, 0, 64, 2, 32, 100, 0, 0, 0}, LT_EFORMAT, "aligned"},
        {{3, 0, 64, 2, 32, 1 << 20, 0, 0, 0}, LT_EFORMAT, "outside the file"},
        {{3, 0, 64, 2, 32, 256, 1, 0, 0}, LT_EFORMAT, "duplicate key 't.u8'"},
        {{3, 0, 64, 2, 32, 256, 0, 1, 0}, LT_EFORMAT, "duplicate tensor"},
        {{3, 0, 64, 2, 32, 256, 0, 0, 1}, LT_EFORMAT, "t.bool"},
    };
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
        build_all_types(&b, bad[j].k);
        save(p, &b);
        lt_status st = lt_gguf_open(&g, p, &err);
        CHECKF(st == bad[j].want && (st == LT_OK || (strstr(err.msg, bad[j].msg) && g == NULL)), "case %zu: %s", j,
               err.msg);
        lt_gguf_close(g);
        g = NULL;
    }
}

/* Writer round trip: every setter, every supported tensor dtype. */
static void test_writer(void) {
    lt_err err = {0};
    lt_gguf_writer *w = NULL;
    CHECK(lt_gguf_writer_create(&w, &err) == LT_OK);
    if (!w) return;
    const char *strs[] = {"zero", "o\0ne", ""};
    uint32_t lens[] = {4, 4, 0};
    float fa[] = {1, -2, 3.5f};
    int32_t ia[] = {-1, 7};
    CHECK(lt_gguf_set_str(w, "k.str", "value", &err) == LT_OK);
    CHECK(lt_gguf_set_u32(w, "k.u32", 123, &err) == LT_OK);
    CHECK(lt_gguf_set_i32(w, "k.i32", -9, &err) == LT_OK);
    CHECK(lt_gguf_set_f32(w, "k.f32", 0.25f, &err) == LT_OK);
    CHECK(lt_gguf_set_bool(w, "k.bool", false, &err) == LT_OK);
    CHECK(lt_gguf_set_arr_str(w, "k.astr", strs, lens, 3, &err) == LT_OK);
    CHECK(lt_gguf_set_arr_f32(w, "k.af32", fa, 3, &err) == LT_OK);
    CHECK(lt_gguf_set_arr_i32(w, "k.ai32", ia, 2, &err) == LT_OK);
    CHECK(lt_gguf_set_u32(w, "k.u32", 1, &err) == LT_EINVAL); /* duplicate */
    lt_test_rng r;
    lt_test_rng_seed(&r, 3);
    const lt_dtype dts[] = {LT_F32, LT_F16, LT_BF16, LT_Q8_0, LT_Q4_0};
    uint8_t *bufs[5];
    size_t sizes[5];
    int64_t shape[3] = {2, 3, 64};
    for (int i = 0; i < 5; i++) {
        sizes[i] = lt_row_bytes(dts[i], 64) * 6;
        bufs[i] = malloc(sizes[i]);
        for (size_t j = 0; j < sizes[i]; j++) bufs[i][j] = (uint8_t)lt_test_u32(&r);
        if (dts[i] == LT_Q8_0 || dts[i] == LT_Q4_0) /* keep scales finite (not needed, but tidy) */
            for (size_t j = 0; j < sizes[i]; j += (size_t)lt_dtype_block_bytes(dts[i])) bufs[i][j + 1] &= 0x3b;
        char name[32];
        snprintf(name, sizeof name, "t.%s", lt_dtype_name(dts[i]));
        CHECKF(lt_gguf_add_tensor(w, name, dts[i], 3, shape, bufs[i], &err) == LT_OK, "%s", err.msg);
    }
    int64_t odd[1] = {33};
    CHECK(lt_gguf_add_tensor(w, "bad", LT_Q8_0, 1, odd, bufs[0], &err) == LT_EINVAL);
    CHECK(lt_gguf_add_tensor(w, "t.f32", LT_F32, 1, odd, bufs[0], &err) == LT_EINVAL);
    const char *p = tmp_path("written.gguf");
    CHECKF(lt_gguf_write(w, p, &err) == LT_OK, "%s", err.msg);
    lt_gguf_writer_free(w);
    lt_gguf *g = NULL;
    CHECKF(lt_gguf_open(&g, p, &err) == LT_OK, "%s", err.msg);
    if (g) {
        lt_gguf_str s;
        uint32_t u;
        int32_t i32;
        float f;
        bool b = true;
        CHECK(lt_gguf_version(g) == 3 && lt_gguf_n_kv(g) == 8 && lt_gguf_n_tensors(g) == 5);
        CHECK(lt_gguf_get_str(g, "k.str", &s, &err) == LT_OK && s.n == 5 && !memcmp(s.p, "value", 5));
        CHECK(lt_gguf_get_u32(g, "k.u32", &u, &err) == LT_OK && u == 123);
        CHECK(lt_gguf_get_i32(g, "k.i32", &i32, &err) == LT_OK && i32 == -9);
        CHECK(lt_gguf_get_f32(g, "k.f32", &f, &err) == LT_OK && f == 0.25f);
        CHECK(lt_gguf_get_bool(g, "k.bool", &b, &err) == LT_OK && !b);
        CHECK(lt_gguf_arr_str(g, "k.astr", 1, &s, &err) == LT_OK && s.n == 4 && !memcmp(s.p, "o\0ne", 4));
        CHECK(lt_gguf_arr_str(g, "k.astr", 2, &s, &err) == LT_OK && s.n == 0);
        lt_gguf_type et;
        uint64_t n;
        const void *data;
        CHECK(lt_gguf_get_arr(g, "k.af32", &et, &n, &data, &err) == LT_OK && et == LT_GGUF_FLOAT32 && n == 3 &&
              !memcmp(data, fa, sizeof fa));
        CHECK(lt_gguf_get_arr(g, "k.ai32", &et, &n, &data, &err) == LT_OK && et == LT_GGUF_INT32 && n == 2 &&
              !memcmp(data, ia, sizeof ia));
        for (int i = 0; i < 5; i++) {
            lt_src_tensor t;
            lt_gguf_tensor(g, i, &t);
            char name[32];
            snprintf(name, sizeof name, "t.%s", lt_dtype_name(dts[i]));
            CHECKF(!strcmp(t.name, name) && t.dtype == dts[i] && t.ndim == 3 && t.shape[0] == 2 && t.shape[1] == 3 &&
                       t.shape[2] == 64 && t.nbytes == sizes[i] && !memcmp(t.data, bufs[i], sizes[i]) &&
                       (uintptr_t)t.data % 32 == 0,
                   "tensor %s", name);
        }
        lt_vocab *v = NULL;
        CHECK(lt_vocab_from_gguf(&v, g, &err) == LT_ENOTFOUND && v == NULL);
        lt_gguf_close(g);
    }
    for (int i = 0; i < 5; i++) free(bufs[i]);
}

/* Vocab metadata round trip (BPE with merges and every special id). */
static void test_vocab_keys(void) {
    lt_err err = {0};
    lt_gguf_writer *w = NULL;
    CHECK(lt_gguf_writer_create(&w, &err) == LT_OK);
    if (!w) return;
    const char *toks[] = {"<s>", "</s>", "a", "b", "ab", "\xc4\xa0" "a", "<|eot|>"};
    float scores[] = {0, 0, -1, -2, -3, -4, 0};
    int32_t types[] = {3, 3, 1, 1, 1, 1, 3};
    const char *merges[] = {"a b", "\xc4\xa0 a"};
    lt_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", &err);
    lt_gguf_set_str(w, "tokenizer.ggml.pre", "llama3", &err);
    lt_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 7, &err);
    lt_gguf_set_arr_f32(w, "tokenizer.ggml.scores", scores, 7, &err);
    lt_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, 7, &err);
    lt_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2, &err);
    lt_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 0, &err);
    lt_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 1, &err);
    lt_gguf_set_u32(w, "tokenizer.ggml.eot_token_id", 6, &err);
    lt_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", 1, &err);
    lt_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true, &err);
    lt_gguf_set_str(w, "tokenizer.chat_template", "{{ messages }}", &err);
    const char *p = tmp_path("vocab.gguf");
    CHECKF(lt_gguf_write(w, p, &err) == LT_OK, "%s", err.msg);
    lt_gguf_writer_free(w);
    lt_gguf *g = NULL;
    CHECKF(lt_gguf_open(&g, p, &err) == LT_OK, "%s", err.msg);
    lt_vocab *v = NULL;
    if (g) CHECKF(lt_vocab_from_gguf(&v, g, &err) == LT_OK, "%s", err.msg);
    if (v) {
        CHECK(v->type == LT_VOCAB_BPE && !strcmp(v->pre, "llama3") && v->n_tokens == 7 && v->n_merges == 2);
        CHECK(!strcmp(v->tokens[5], "\xc4\xa0" "a") && v->token_len[5] == 3 && v->scores[3] == -2 &&
              v->token_types[6] == 3);
        CHECK(!strcmp(v->merges[1], "\xc4\xa0 a"));
        CHECK(v->bos_id == 0 && v->eos_id == 1 && v->eot_id == 6 && v->pad_id == 1 && v->unk_id == -1);
        CHECK(v->add_bos && !v->add_eos && !v->add_space_prefix);
        CHECK(v->chat_template && !strcmp(v->chat_template, "{{ messages }}"));
    }
    lt_vocab_free(v);
    lt_gguf_close(g);

    /* unsupported architecture through lt_modelsrc_open */
    CHECK(lt_gguf_writer_create(&w, &err) == LT_OK);
    lt_gguf_set_str(w, "general.architecture", "phi3", &err);
    p = tmp_path("phi3.gguf");
    CHECK(lt_gguf_write(w, p, &err) == LT_OK);
    lt_gguf_writer_free(w);
    lt_modelsrc *m = NULL;
    CHECK(lt_modelsrc_open(&m, p, NULL, &err) == LT_EUNSUPPORTED && strstr(err.msg, "'phi3'") && m == NULL);
}

/* The real vocab-only GGUF files (llama.cpp's tokenizer tests), when assets has them. */
static int test_real_vocab_files(void) {
    const char *dir = lt_test_path("assets/vocab");
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    lt_err err = {0};
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".gguf")) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        lt_gguf *g = NULL;
        CHECKF(lt_gguf_open(&g, p, &err) == LT_OK, "%s", err.msg);
        if (!g) continue;
        n++;
        lt_gguf_str s;
        CHECKF(lt_gguf_get_str(g, "tokenizer.ggml.model", &s, &err) == LT_OK, "%s", err.msg);
        lt_vocab *v = NULL;
        lt_status st = lt_vocab_from_gguf(&v, g, &err);
        bool spm = s.n == 5 && !memcmp(s.p, "llama", 5), bpe = s.n == 4 && !memcmp(s.p, "gpt2", 4);
        if (spm || bpe) {
            CHECKF(st == LT_OK, "%s: %s", e->d_name, err.msg);
            uint64_t nt = 0;
            lt_gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &nt, NULL, &err);
            CHECK(v && (uint64_t)v->n_tokens == nt && v->type == (spm ? LT_VOCAB_SPM : LT_VOCAB_BPE));
            if (v && bpe) CHECKF(v->n_merges > 0, "%s", e->d_name);
        } else {
            CHECKF(st == LT_OK || err.msg[0], "%s", e->d_name);
        }
        lt_vocab_free(v);
        lt_gguf_close(g);
    }
    closedir(d);
    return n;
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "%s", lt_test_tmpdir("gguf"));
    size_t mem0 = lt_mem_used();
    test_all_kv_types();
    test_writer();
    test_vocab_keys();
    int n = test_real_vocab_files();
    if (!n) fprintf(stderr, "note: assets/vocab/*.gguf absent, real-file part skipped\n");
    CHECKF(lt_mem_used() == mem0, "leaked %zu bytes", lt_mem_used() - mem0);
    return lt_test_done();
}
