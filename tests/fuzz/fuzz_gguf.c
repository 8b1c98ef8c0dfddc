/* fuzz_gguf.c - GGUF files: the reader (lt_gguf_open and every accessor), the vocab built
 * from tokenizer.ggml.* and a tokenizer over it, format sniffing, and the model source the
 * GGUF reader makes (lt_modelsrc_open: hyperparameters, canonical tensors).
 * Input: the bytes of a .gguf file. Seeds: tests/fuzz/corpus/gguf (gen_corpus.c).
 */
#include "fuzz_common.h"
#include "fuzz_vocab.h"

#include "core/formats/gguf.h"
#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_open.h"
#include "core/formats/sniff.h"

static void touch_src(const lt_modelsrc *m) {
    for (int i = 0; i < lt_modelsrc_n_tensors(m); i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(m, i);
        fz_touch(t->data, t->nbytes);
    }
    const lt_vocab *v = lt_modelsrc_vocab(m);
    if (v)
        for (int i = 0; i < v->n_tokens; i++) fz_touch(v->tokens[i], v->token_len[i] + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    const char *p = fz_write("in.gguf", data, size);
    lt_err err = {0};
    lt_sniffed sn;
    lt_status st = lt_sniff(p, &sn, &err);
    FZ_EXPECT_MSG(st, err, "lt_sniff");

    lt_gguf *g = NULL;
    err = (lt_err){0};
    st = lt_gguf_open(&g, p, &err);
    FZ_EXPECT_MSG(st, err, "lt_gguf_open");
    if (g) {
        fz_sink ^= (uint8_t)lt_gguf_version(g);
        for (int64_t i = 0; i < lt_gguf_n_kv(g); i++) {
            lt_gguf_str k = lt_gguf_kv_key(g, i);
            fz_touch(k.p, k.n);
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(k.n < 255 ? k.n : 255), k.p);
            uint32_t u32;
            int32_t i32;
            uint64_t u64;
            float f;
            bool b;
            lt_gguf_str s;
            lt_gguf_type elem;
            uint64_t n;
            const void *arr;
            lt_gguf_get_u32(g, key, &u32, &err);
            lt_gguf_get_i32(g, key, &i32, &err);
            lt_gguf_get_u64(g, key, &u64, &err);
            lt_gguf_get_f32(g, key, &f, &err);
            lt_gguf_get_bool(g, key, &b, &err);
            if (lt_gguf_get_str(g, key, &s, &err) == LT_OK) fz_touch(s.p, s.n);
            if (lt_gguf_get_arr(g, key, &elem, &n, &arr, &err) == LT_OK) {
                if (elem == LT_GGUF_STRING) {
                    for (uint64_t j = 0; j < n && j < 64; j++)
                        if (lt_gguf_arr_str(g, key, j, &s, &err) == LT_OK) fz_touch(s.p, s.n);
                    lt_gguf_arr_str(g, key, n, &s, &err); /* one past the end: an error */
                } else if (arr && n) {
                    fz_touch(arr, 1);
                }
            }
        }
        for (int64_t i = 0; i < lt_gguf_n_tensors(g); i++) {
            lt_src_tensor t;
            lt_gguf_tensor(g, i, &t);
            fz_touch(t.data, t.nbytes);
        }
        lt_vocab *v = NULL;
        err = (lt_err){0};
        st = lt_vocab_from_gguf(&v, g, &err);
        FZ_EXPECT_MSG(st, err, "lt_vocab_from_gguf");
        if (v) fz_exercise_vocab(v);
        lt_gguf_close(g);
    }

    lt_modelsrc *m = NULL;
    err = (lt_err){0};
    st = lt_modelsrc_open(&m, p, NULL, &err);
    FZ_EXPECT_MSG(st, err, "lt_modelsrc_open");
    if (m) touch_src(m);
    lt_modelsrc_close(m);
    fz_check_mem(mem0, "gguf");
    return 0;
}
