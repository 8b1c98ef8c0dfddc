/* test_gptq_hf.c - AutoGPTQ / GPTQModel folders and the gq4 weight types:
 *  - AutoGPTQ's bit packing (2, 3, 4, 8 bits, 3-bit values across words) round-trips;
 *  - fixtures packed by AutoGPTQ's own pack() loops (tools/gen_gptq_fixtures.py, both zero
 *    conventions, a "gptq" label over v2 zeros, act-order, 2/3/8 bits) load and dequantize to the
 *    expected weights: exactly for 4-bit (gq4), to the f16 rounding for the others;
 *  - a folder lathe writes (lt_gptq_write_hf) reloads bit-exactly, on q/k rows too, and a tied
 *    model's quantized head (--quant-head) as an untied lm_head beside the unchanged embedding;
 *  - the CPU matmul over gq4: close to f32 over the dequantized weights, and batched rows (2..7)
 *    bit-identical to single rows, with the SIMD paths on and off.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"
#include "core/base/quants.h"
#include "core/compress/gptq_hf.h"
#include "core/formats/modelsrc_gptq.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/safetensors.h"
#include "kernels/cpu/lt_cpu.h"
#include "testutil.h"

static lt_test_rng rng;

static void test_bits(void) {
    const int bits[4] = {2, 3, 4, 8};
    for (int b = 0; b < 4; b++) {
        uint8_t v[96], w[96];
        int32_t words[2 * 24]; /* 96 values of up to 8 bits: 24 words */
        for (int i = 0; i < 96; i++) v[i] = (uint8_t)(lt_test_u32(&rng) & ((1u << bits[b]) - 1));
        lt_gptq_pack_bits(v, 96, bits[b], words, 2); /* stride 2: a column of a 2-wide qweight */
        lt_gptq_unpack_bits(words, 2, bits[b], 96, w);
        CHECKF(!memcmp(v, w, 96), "%d-bit values do not round-trip", bits[b]);
    }
    /* 3 bits: value 10 straddles words 0 and 1 (bits 30..32), as AutoGPTQ packs it */
    uint8_t v[32] = {0};
    v[10] = 7;
    int32_t w[3];
    lt_gptq_pack_bits(v, 32, 3, w, 1);
    CHECK((uint32_t)w[0] == 0xC0000000u && w[1] == 1 && w[2] == 0);
}

static const char *k_lin[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

static void test_fixture(const char *name, lt_dtype want) {
    char rel[256], dir[1024], path[1100];
    snprintf(rel, sizeof rel, "tests/fixtures/gptq/%s", name);
    snprintf(dir, sizeof dir, "%s", lt_test_path(rel));
    lt_err err = {0};
    lt_modelsrc *src = NULL;
    CHECKF(lt_modelsrc_open_hf(&src, dir, &err) == LT_OK, "%s: %s", name, err.msg);
    if (!src) return;
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    lt_safetensors *ex = NULL;
    CHECK(lt_st_open(&ex, path, &err) == LT_OK);
    for (int i = 0; ex && i < 7; i++) {
        char canon[96], hf[128];
        snprintf(canon, sizeof canon, "blk.0.%s.weight", k_lin[i]);
        const lt_src_tensor *t = lt_modelsrc_find(src, canon);
        CHECKF(t != NULL, "%s: %s missing", name, canon);
        if (!t) continue;
        CHECKF(t->dtype == want, "%s: %s is %s, want %s", name, canon, lt_dtype_name(t->dtype), lt_dtype_name(want));
        lt_hf_tensor_name(canon, hf);
        lt_src_tensor e;
        const int64_t ei = lt_st_find(ex, hf);
        CHECK(ei >= 0);
        if (ei < 0) continue;
        lt_st_tensor(ex, ei, &e);
        const int64_t n = t->shape[0] * t->shape[1];
        CHECK(e.shape[0] == t->shape[0] && e.shape[1] == t->shape[1]);
        float *y = malloc((size_t)n * sizeof *y);
        for (int64_t r = 0; r < t->shape[0]; r++)
            lt_dtype_row_to_f32(t->dtype, (const char *)t->data + r * lt_row_bytes(t->dtype, t->shape[1]),
                                y + r * t->shape[1], t->shape[1]);
        const float *x = e.data;
        int bad = 0;
        for (int64_t k = 0; k < n; k++) {
            const float w = t->dtype == LT_F16 ? lt_f16_to_f32(lt_f32_to_f16(x[k])) : x[k];
            bad += memcmp(&w, &y[k], 4) != 0;
        }
        CHECKF(bad == 0, "%s: %s: %d of %lld weights differ from AutoGPTQ's", name, canon, bad, (long long)n);
        free(y);
    }
    lt_st_close(ex);
    lt_modelsrc_close(src);
}

/* random GPTQ-like matrices for every linear of a fixture model, written by lathe and read back */
static void test_write_reload(int bits, int group) {
    lt_err err = {0};
    lt_modelsrc *src = NULL;
    CHECK(lt_modelsrc_open_hf(&src, lt_test_path("tests/fixtures/gptq/v2_4b_g64_sym"), &err) == LT_OK);
    if (!src) return;
    lt_gq_matrix m[7];
    lt_gptq_tensor q[7];
    char names[7][96];
    for (int i = 0; i < 7; i++) {
        snprintf(names[i], 96, "blk.0.%s.weight", k_lin[i]);
        const lt_src_tensor *t = lt_modelsrc_find(src, names[i]);
        CHECK(lt_gq_alloc(&m[i], (int)t->shape[0], (int)t->shape[1], bits, group, false, false, &err) == LT_OK);
        for (int64_t k = 0; k < (int64_t)m[i].rows * m[i].cols; k++) m[i].q[k] = (uint8_t)(lt_test_u32(&rng) % (1u << bits));
        for (int64_t g = 0; g < (int64_t)m[i].rows * m[i].n_groups; g++) {
            m[i].scale[g] = lt_f16_to_f32(lt_f32_to_f16(0.01f + 0.05f * lt_test_uniform(&rng)));
            m[i].zero[g] = (float)(lt_test_u32(&rng) % (1u << bits)); /* 0 included: v2 holds it */
        }
        q[i] = (lt_gptq_tensor){names[i], &m[i]};
    }
    const char *dir = lt_test_tmpdir("gptq_write");
    CHECKF(lt_gptq_write_hf(src, dir, q, 7, NULL, &err) == LT_OK, "write: %s", err.msg);
    lt_modelsrc *back = NULL;
    CHECKF(lt_modelsrc_open_hf(&back, dir, &err) == LT_OK, "reload: %s", err.msg);
    for (int i = 0; back && i < 7; i++) {
        const lt_src_tensor *t = lt_modelsrc_find(back, names[i]);
        const int64_t n = (int64_t)m[i].rows * m[i].cols;
        float *w = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
        lt_gq_dequant(&m[i], w);
        for (int64_t r = 0; r < m[i].rows; r++)
            lt_dtype_row_to_f32(t->dtype, (const char *)t->data + r * lt_row_bytes(t->dtype, m[i].cols),
                                y + r * m[i].cols, m[i].cols);
        int bad = 0;
        for (int64_t k = 0; k < n; k++) {
            const float e = bits == 4 ? w[k] : lt_f16_to_f32(lt_f32_to_f16(w[k]));
            bad += memcmp(&e, &y[k], 4) != 0;
        }
        CHECKF(bad == 0 && (bits != 4 || lt_gq4_block(t->dtype)), "%d-bit g%d %s: %d weights differ after reload (%s)",
               bits, group, names[i], bad, lt_dtype_name(t->dtype));
        free(w), free(y);
        lt_gq_free(&m[i]);
    }
    lt_modelsrc_close(back);
    lt_modelsrc_close(src);
}

/* --quant-head's folder: a tied model's head written as GPTQModel's lm_head (untied), read back
 * bit-exactly beside the embedding it was tied to */
static void test_head_reload(void) {
    lt_err err = {0};
    lt_modelsrc *src = NULL;
    CHECK(lt_modelsrc_open_hf(&src, lt_test_path("tests/fixtures/hf/qwen2_tied"), &err) == LT_OK);
    if (!src) return;
    CHECK(lt_modelsrc_config(src)->tied_embeddings && !lt_modelsrc_find(src, "output.weight"));
    const lt_src_tensor *emb = lt_modelsrc_find(src, "token_embd.weight");
    lt_gq_matrix m[2];
    lt_gptq_tensor q[2];
    const char *names[2] = {"blk.0.ffn_up.weight", "output.weight"};
    for (int i = 0; i < 2; i++) {
        const lt_src_tensor *t = i ? emb : lt_modelsrc_find(src, names[i]);
        CHECK(lt_gq_alloc(&m[i], (int)t->shape[0], (int)t->shape[1], 4, 32, false, false, &err) == LT_OK);
        for (int64_t k = 0; k < (int64_t)m[i].rows * m[i].cols; k++) m[i].q[k] = (uint8_t)(lt_test_u32(&rng) % 16);
        for (int64_t g = 0; g < (int64_t)m[i].rows * m[i].n_groups; g++) {
            m[i].scale[g] = lt_f16_to_f32(lt_f32_to_f16(0.01f + 0.05f * lt_test_uniform(&rng)));
            m[i].zero[g] = (float)(lt_test_u32(&rng) % 16);
        }
        q[i] = (lt_gptq_tensor){names[i], &m[i]};
    }
    const char *dir = lt_test_tmpdir("gptq_head");
    CHECKF(lt_gptq_write_hf(src, dir, q, 2, NULL, &err) == LT_OK, "write: %s", err.msg);
    lt_modelsrc *back = NULL;
    CHECKF(lt_modelsrc_open_hf(&back, dir, &err) == LT_OK, "reload: %s", err.msg);
    if (back) {
        lt_gptq_config gc;
        bool found = false;
        CHECK(lt_gptq_read_config(dir, NULL, &gc, &found, &err) == LT_OK && found && gc.lm_head);
        CHECK(!lt_modelsrc_config(back)->tied_embeddings);
        for (int i = 0; i < 2; i++) {
            const lt_src_tensor *t = lt_modelsrc_find(back, names[i]);
            CHECKF(t && lt_gq4_block(t->dtype), "%s: %s", names[i], t ? lt_dtype_name(t->dtype) : "missing");
            if (!t || !lt_gq4_block(t->dtype)) continue;
            const int64_t n = (int64_t)m[i].rows * m[i].cols;
            float *w = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
            lt_gq_dequant(&m[i], w);
            for (int64_t r = 0; r < m[i].rows; r++)
                lt_dtype_row_to_f32(t->dtype, (const char *)t->data + r * lt_row_bytes(t->dtype, m[i].cols),
                                    y + r * m[i].cols, m[i].cols);
            CHECKF(!memcmp(w, y, (size_t)n * 4), "%s differs after reload", names[i]);
            free(w), free(y);
        }
        /* the embedding it was tied to: as it was, to the f16 rounding AutoGPTQ folders store */
        const lt_src_tensor *e2 = lt_modelsrc_find(back, "token_embd.weight");
        CHECK(e2 && e2->ndim == 2 && e2->shape[0] == emb->shape[0] && e2->shape[1] == emb->shape[1]);
        const int64_t ne = emb->shape[0] * emb->shape[1], c = emb->shape[1];
        float *a = malloc((size_t)ne * 4), *b = malloc((size_t)ne * 4);
        int bad = 0;
        for (int64_t r = 0; e2 && r < emb->shape[0]; r++) {
            lt_dtype_row_to_f32(emb->dtype, (const char *)emb->data + r * lt_row_bytes(emb->dtype, c), a + r * c, c);
            lt_dtype_row_to_f32(e2->dtype, (const char *)e2->data + r * lt_row_bytes(e2->dtype, c), b + r * c, c);
        }
        for (int64_t k = 0; e2 && k < ne; k++) bad += lt_f16_to_f32(lt_f32_to_f16(a[k])) != b[k];
        CHECKF(bad == 0, "the embedding: %d values differ", bad);
        free(a), free(b);
    }
    /* a folder made elsewhere whose config still says tied: the quantized lm_head is the head */
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = NULL;
    size_t len = 0;
    CHECK(lt_file_read_all(path, 1 << 20, &text, &len, &err) == LT_OK);
    char *tie = text ? strstr(text, "\"tie_word_embeddings\":") : NULL;
    char *f = tie ? strstr(tie, "false") : NULL;
    CHECK(f != NULL);
    if (f) {
        memcpy(f, "true ", 5);
        FILE *fp = fopen(path, "w");
        CHECK(fp && fwrite(text, 1, len, fp) == len);
        if (fp) fclose(fp);
    }
    lt_free(text);
    lt_modelsrc_close(back);
    back = NULL;
    CHECKF(lt_modelsrc_open_hf(&back, dir, &err) == LT_OK, "reload tied: %s", err.msg);
    const lt_src_tensor *t = back ? lt_modelsrc_find(back, "output.weight") : NULL;
    CHECK(t && lt_gq4_block(t->dtype) && !lt_modelsrc_config(back)->tied_embeddings);
    for (int i = 0; i < 2; i++) lt_gq_free(&m[i]);
    lt_modelsrc_close(back);
    lt_modelsrc_close(src);
}

static void test_matmul(lt_dtype t) {
    enum { N = 48, K = 384, T = 7 };
    const size_t rb = lt_row_bytes(t, K);
    float *wf = malloc(N * K * 4), *x = malloc(T * K * 4), *ys = malloc(T * N * 4), *yb = malloc(T * N * 4);
    char *w = malloc(rb * N);
    lt_test_fill(&rng, wf, N * K, 0.1f);
    lt_test_fill(&rng, x, T * K, 1.0f);
    for (int n = 0; n < N; n++) lt_dtype_row_from_f32(t, wf + n * K, w + n * rb, K);
    for (int n = 0; n < N; n++) lt_dtype_row_to_f32(t, w + n * rb, wf + n * K, K); /* the weights as quantized */
    lt_pool *p = NULL;
    lt_err err = {0};
    CHECK(lt_pool_create(&p, 2, &err) == LT_OK);
    for (int simd = 0; simd < 2; simd++) {
        lt_cpu_set_simd(simd);
        for (int r = 0; r < T; r++) lt_cpu_matmul(p, ys + r * N, x + r * K, w, t, NULL, 1, N, K);
        for (int tt = 2; tt <= T; tt++) {
            lt_cpu_matmul(p, yb, x, w, t, NULL, tt, N, K);
            CHECKF(!memcmp(ys, yb, (size_t)tt * N * 4), "%s simd %d: %d rows at once differ from one by one",
                   lt_dtype_name(t), simd, tt);
        }
        double e = 0, s = 0;
        for (int r = 0; r < T; r++)
            for (int n = 0; n < N; n++) {
                double ref = 0;
                for (int k = 0; k < K; k++) ref += (double)wf[n * K + k] * x[r * K + k];
                e += (ys[r * N + n] - ref) * (ys[r * N + n] - ref), s += ref * ref;
            }
        CHECKF(sqrt(e / s) < 0.02, "%s simd %d: relative error %g against f32", lt_dtype_name(t), simd, sqrt(e / s));
    }
    lt_cpu_set_simd(true);
    lt_pool_free(p);
    free(wf), free(x), free(ys), free(yb), free(w);
}

int main(void) {
    lt_test_rng_seed(&rng, 15);
    test_bits();
    test_fixture("v1_4b_g32_asym", LT_GQ4_32);
    test_fixture("v2_4b_g64_sym", LT_GQ4_64);
    test_fixture("v2_labelled_v1_4b_row", LT_GQ4_64); /* a "gptq" label over v2 zeros */
    test_fixture("v1_3b_g32_actorder", LT_F16);
    test_fixture("v2_8b_g32_asym", LT_F16);
    test_fixture("v1_2b_g64_sym", LT_F16);
    test_write_reload(4, 32);
    test_write_reload(4, 64);
    test_write_reload(3, 32);
    test_write_reload(8, -1);
    test_head_reload();
    test_matmul(LT_GQ4_32);
    test_matmul(LT_GQ4_64);
    test_matmul(LT_GQ4_128);
    return lt_test_done();
}
