/* test_quantize.c - the quantize pass (core/compress/quantize.h) on synthetic llama models.
 *
 * The plan is the mix's rules (types, sizes, fallbacks, requantized count); written files read
 * back with every tensor in its planned type, general.file_type and
 * general.quantization_version as llama-quantize writes them, quantized bytes equal to the
 * dtype table's row conversion of the source, tensors already in their type copied byte for
 * byte, norms as f32; progress events in order ending with bytes_done == bytes_total; a
 * cancelled write, a missing folder and a planned type without a quantizer leave no file.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/compress/quantize.h"
#include "core/formats/gguf.h"
#include "core/formats/modelsrc_gguf.h"
#include "models/llama.h"
#include "testutil.h"

static lt_modelsrc *synth(int dim, int hidden, int layers, bool tied) {
    lt_llm_config c = {.arch = "llama", .name = "q", .n_vocab = 320, .dim = dim, .hidden_dim = hidden,
                       .n_layers = layers, .n_heads = 4, .n_kv_heads = 2, .head_dim = dim / 4, .max_seq = 64,
                       .norm_eps = 1e-5f, .rope_theta = 10000.0f, .tied_embeddings = tied};
    lt_modelsrc *src = NULL;
    lt_err err = {0};
    CHECKF(lt_llama_synthetic(&src, &c, NULL, 7, &err) == LT_OK, "%s", err.msg);
    return src;
}

static bool exists(const char *p) { return access(p, F_OK) == 0; }

static lt_dtype plan_of(const lt_modelsrc *src, const lt_dtype *types, const char *name) {
    for (int i = 0; i < lt_modelsrc_n_tensors(src); i++)
        if (!strcmp(lt_modelsrc_tensor(src, i)->name, name)) return types[i];
    return LT_DTYPE_COUNT;
}

static void test_plan(void) {
    /* dim 256: rows of 256 take k-quants; hidden 320 (ffn_down rows) falls back; untied */
    lt_modelsrc *src = synth(256, 320, 8, false);
    if (!src) return;
    int n = lt_modelsrc_n_tensors(src);
    lt_dtype *types = lt_calloc((size_t)n, sizeof *types);
    lt_quantmix mix;
    lt_quantize_report r;
    lt_err err = {0};
    CHECK(lt_quantmix_parse("Q4_K_M", false, &mix, NULL) == LT_OK);
    CHECKF(lt_quantize_plan(src, &mix, types, &r, &err) == LT_OK, "%s", err.msg);
    CHECK(plan_of(src, types, "token_embd.weight") == LT_Q4_K);
    CHECK(plan_of(src, types, "output.weight") == LT_Q6_K);
    CHECK(plan_of(src, types, "output_norm.weight") == LT_F32);
    CHECK(plan_of(src, types, "blk.0.attn_norm.weight") == LT_F32);
    CHECK(plan_of(src, types, "blk.0.attn_q.weight") == LT_Q4_K);
    /* use_more_bits(i, 8): i < 1, i >= 7, (i - 1) % 3 == 2 -> layers 0, 3, 6, 7 */
    static const lt_dtype v[8] = {LT_Q6_K, LT_Q4_K, LT_Q4_K, LT_Q6_K, LT_Q4_K, LT_Q4_K, LT_Q6_K, LT_Q6_K};
    for (int l = 0; l < 8; l++) {
        char b[64];
        snprintf(b, sizeof b, "blk.%d.attn_v.weight", l);
        CHECKF(plan_of(src, types, b) == v[l], "%s", b);
        snprintf(b, sizeof b, "blk.%d.ffn_down.weight", l); /* q6_K -> q8_0, q4_K -> q5_0 (320 % 256) */
        CHECKF(plan_of(src, types, b) == (v[l] == LT_Q6_K ? LT_Q8_0 : LT_Q5_0), "%s: %s", b,
               lt_dtype_name(plan_of(src, types, b)));
    }
    CHECK(r.n_tensors == n && r.n_fallback == 8 && r.n_converted == n - 2 * 8 - 1 && r.n_requantized == 0);
    int total = 0;
    for (int t = 0; t < LT_DTYPE_COUNT; t++) total += r.count[t];
    CHECK(total == n && r.count[LT_F32] == 2 * 8 + 1);
    CHECK(r.bytes_in == 4 * r.n_elements && r.bytes_out < r.bytes_in / 4);
    /* pure: one type, after the fallback */
    CHECK(lt_quantmix_parse("Q4_K_M", true, &mix, NULL) == LT_OK);
    CHECK(lt_quantize_plan(src, &mix, types, &r, &err) == LT_OK);
    CHECK(plan_of(src, types, "output.weight") == LT_Q4_K && plan_of(src, types, "blk.3.attn_v.weight") == LT_Q4_K);
    CHECK(plan_of(src, types, "blk.3.ffn_down.weight") == LT_Q5_0 && r.n_fallback == 8);
    lt_free(types);
    lt_modelsrc_close(src);
}

typedef struct events {
    int n, stop_at;
    uint64_t last_done, total;
    bool ordered, ended;
} events;

static bool on_event(void *ud, const lt_gguf_write_event *ev) {
    events *e = ud;
    if (ev->name) {
        e->ordered &= ev->i == e->n && ev->bytes_done >= e->last_done && ev->bytes_done <= ev->bytes_total;
        e->n++;
    } else {
        e->ended = ev->i == ev->n && ev->bytes_done == ev->bytes_total;
    }
    e->last_done = ev->bytes_done;
    e->total = ev->bytes_total;
    return e->stop_at < 0 || e->n <= e->stop_at;
}

/* the file at path holds every tensor of src in its planned type (and q8_0 bytes as the dtype
 * table makes them) */
static void check_file(const lt_modelsrc *src, const char *path, const lt_quantmix *mix) {
    lt_err err = {0};
    int n = lt_modelsrc_n_tensors(src);
    lt_dtype *types = lt_calloc((size_t)n, sizeof *types);
    CHECK(lt_quantize_plan(src, mix, types, NULL, &err) == LT_OK);
    lt_modelsrc *back = NULL;
    CHECKF(lt_modelsrc_open_gguf(&back, path, &err) == LT_OK, "%s", err.msg);
    if (!back) {
        lt_free(types);
        return;
    }
    CHECK(lt_modelsrc_n_tensors(back) == n);
    for (int i = 0; i < n; i++) {
        const lt_src_tensor *a = lt_modelsrc_tensor(src, i), *b = lt_modelsrc_find(back, a->name);
        CHECKF(b && b->dtype == types[i], "%s: %s, planned %s", a->name, b ? lt_dtype_name(b->dtype) : "missing",
               lt_dtype_name(types[i]));
        if (!b || b->dtype != types[i] || strstr(a->name, "attn_q") || strstr(a->name, "attn_k")) continue;
        /* (q/k rows are permuted between rope conventions; the others are as converted) */
        int64_t cols = a->shape[a->ndim - 1], rows = b->nbytes / lt_row_bytes(b->dtype, cols);
        size_t rb = lt_row_bytes(b->dtype, cols);
        void *row = lt_malloc(rb);
        float *x = lt_malloc((size_t)cols * sizeof *x);
        bool same = true;
        for (int64_t r = 0; r < rows && same; r++) {
            lt_dtype_row_to_f32(a->dtype, (const char *)a->data + r * lt_row_bytes(a->dtype, cols), x, cols);
            lt_dtype_row_from_f32(b->dtype, x, row, cols);
            same = !memcmp(row, (const char *)b->data + r * rb, rb);
        }
        CHECKF(same, "%s: bytes differ from the dtype table's %s rows", a->name, lt_dtype_name(b->dtype));
        lt_free(row);
        lt_free(x);
    }
    lt_modelsrc_close(back);
    lt_gguf *g = NULL;
    CHECK(lt_gguf_open(&g, path, &err) == LT_OK);
    uint32_t ft = 99, qv = 99;
    CHECK(g && lt_gguf_get_u32(g, "general.file_type", &ft, &err) == LT_OK && ft == (uint32_t)mix->ftype);
    CHECK(g && lt_gguf_get_u32(g, "general.quantization_version", &qv, &err) == LT_OK && qv == 2);
    lt_gguf_close(g);
    lt_free(types);
}

static void test_write(void) {
    const char *dir = lt_test_tmpdir("quantize");
    mkdir(dir, 0755);
    char path[512], tmp[600], qpath[512];
    snprintf(path, sizeof path, "%s/q.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(qpath, sizeof qpath, "%s/q8.gguf", dir);
    unlink(path);
    lt_modelsrc *src = synth(64, 96, 3, true); /* tied, rows of 64 and 96 */
    if (!src) return;
    lt_err err = {0};
    static const char *const mixes[] = {"Q8_0", "Q4_0", "F16", "BF16", "F32", "q8_0"};
    for (int k = 0; k < 6; k++) {
        lt_quantmix mix;
        CHECK(lt_quantmix_parse(mixes[k], k == 5, &mix, NULL) == LT_OK);
        events e = {.stop_at = -1, .ordered = true};
        lt_quantize_opts o = {.progress = on_event, .ud = &e};
        lt_quantize_report r;
        CHECKF(lt_quantize(src, path, &mix, &o, &r, &err) == LT_OK, "%s: %s", mixes[k], err.msg);
        CHECKF(e.n == lt_modelsrc_n_tensors(src) && e.ordered && e.ended && e.total > 0, "%s: %d events", mixes[k],
               e.n);
        CHECK(r.seconds >= 0 && r.bytes_out > 0);
        check_file(src, path, &mix);
        if (k == 0) rename(path, qpath);
    }
    /* Q4_0: the tied embeddings follow output.weight (q6_K, 64 % 256 -> q8_0) */
    lt_modelsrc *back = NULL;
    CHECK(lt_modelsrc_open_gguf(&back, qpath, &err) == LT_OK);
    if (back) {
        /* requantizing a q8_0 file as Q8_0: every tensor copied as it is */
        lt_quantmix mix;
        lt_quantmix_parse("Q8_0", false, &mix, NULL);
        lt_quantize_report r;
        CHECK(lt_quantize(back, path, &mix, NULL, &r, &err) == LT_OK);
        CHECK(r.n_converted == 0 && r.n_requantized == 0 && r.bytes_out == r.bytes_in);
        lt_modelsrc *again = NULL;
        CHECK(lt_modelsrc_open_gguf(&again, path, &err) == LT_OK);
        for (int i = 0; again && i < lt_modelsrc_n_tensors(back); i++) {
            const lt_src_tensor *a = lt_modelsrc_tensor(back, i), *b = lt_modelsrc_find(again, a->name);
            CHECKF(b && b->dtype == a->dtype && b->nbytes == a->nbytes && !memcmp(a->data, b->data, a->nbytes), "%s",
                   a->name);
        }
        lt_modelsrc_close(again);
        /* and as Q4_0: the q8_0 matrices are requantized */
        lt_quantmix_parse("Q4_0", false, &mix, NULL);
        CHECK(lt_quantize(back, path, &mix, NULL, &r, &err) == LT_OK);
        CHECK(r.n_requantized > 0 && r.n_converted == r.n_requantized);
        lt_modelsrc_close(back);
    }
    /* Esc half way: LT_ECANCELLED, the old file stays, no .tmp */
    struct stat before, after;
    stat(path, &before);
    lt_quantmix q8;
    lt_quantmix_parse("Q8_0", false, &q8, NULL);
    events e = {.stop_at = 5, .ordered = true};
    lt_quantize_opts o = {.progress = on_event, .ud = &e};
    CHECK(lt_quantize(src, path, &q8, &o, NULL, &err) == LT_ECANCELLED);
    CHECK(stat(path, &after) == 0 && after.st_size == before.st_size && !exists(tmp));
    /* a missing folder: said before anything is done */
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/missing/q.gguf", dir);
    CHECK(lt_quantize(src, nodir, &q8, NULL, NULL, &err) == LT_ENOTFOUND && strstr(err.msg, "does not exist"));
    /* a planned type without a quantizer (while the new types' quantizers are pending) */
    lt_modelsrc *big = synth(256, 512, 2, false);
    lt_quantmix kq;
    lt_quantmix_parse("Q4_K_M", false, &kq, NULL);
    lt_quantize_report r;
    CHECK(big && lt_quantize_plan(big, &kq, (lt_dtype[64]){0}, &r, &err) == LT_OK);
    unlink(path);
    if (r.n_missing > 0) {
        CHECK(lt_quantize(big, path, &kq, NULL, NULL, &err) == LT_EUNSUPPORTED && strstr(err.msg, "cannot write"));
        CHECK(!exists(path) && !exists(tmp));
    } else {
        CHECKF(lt_quantize(big, path, &kq, NULL, NULL, &err) == LT_OK, "%s", err.msg);
        check_file(big, path, &kq);
    }
    lt_modelsrc_close(big);
    lt_modelsrc_close(src);
}

/* a source in rotate-half rope order (as Hugging Face stores llama): q/k rows are permuted on
 * the way to GGUF exactly as the plain writer permutes them */
static void test_permuted(void) {
    lt_llm_config c = {.arch = "llama", .name = "p", .n_vocab = 320, .dim = 64, .hidden_dim = 96, .n_layers = 2,
                       .n_heads = 4, .n_kv_heads = 2, .head_dim = 16, .max_seq = 64, .norm_eps = 1e-5f,
                       .rope_theta = 10000.0f, .rope_neox = true};
    lt_modelsrc *src = NULL;
    lt_err err = {0};
    CHECKF(lt_llama_synthetic(&src, &c, NULL, 3, &err) == LT_OK, "%s", err.msg);
    if (!src) return;
    const char *dir = lt_test_tmpdir("quantize");
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/perm_q.gguf", dir);
    snprintf(b, sizeof b, "%s/perm_w.gguf", dir);
    lt_quantmix mix;
    lt_quantmix_parse("Q8_0", false, &mix, NULL);
    CHECKF(lt_quantize(src, a, &mix, NULL, NULL, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_modelsrc_write_gguf(src, b, LT_Q8_0, &err) == LT_OK, "%s", err.msg);
    lt_modelsrc *x = NULL, *y = NULL;
    CHECK(lt_modelsrc_open_gguf(&x, a, &err) == LT_OK && lt_modelsrc_open_gguf(&y, b, &err) == LT_OK);
    for (int i = 0; x && y && i < lt_modelsrc_n_tensors(x); i++) {
        const lt_src_tensor *p = lt_modelsrc_tensor(x, i), *q = lt_modelsrc_find(y, p->name);
        CHECKF(q && q->dtype == p->dtype && q->nbytes == p->nbytes && !memcmp(p->data, q->data, p->nbytes), "%s",
               p->name);
    }
    lt_modelsrc_close(x);
    lt_modelsrc_close(y);
    lt_modelsrc_close(src);
}

int main(void) {
    test_plan();
    test_write();
    test_permuted();
    return lt_test_done();
}
