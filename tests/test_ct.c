/* test_ct.c - compressed-tensors 2:4 folders (sparse-24-bitmask):
 *  - a folder made by compressed-tensors' own compressor (tools/gen_ct_fixtures.py) loads as
 *    s24_f16 linears equal to the dense pruned weights (expected.safetensors) exactly;
 *  - lathe's writer (lt_ct_write_hf) gives back their compressed / bitmask / shape tensors byte
 *    for byte, and the written folder reloads to the same blocks;
 *  - a bitmask that is not 2 of each 4 loads dense (their decompressor's values), one that does
 *    not keep half a row is an error; their quantization and other sparsity formats are refused;
 *    s24_q4 is refused by the writer.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "core/base/quants.h"
#include "core/compress/ct_hf.h"
#include "core/formats/modelsrc_ct.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/safetensors.h"
#include "testutil.h"

static const char *k_lin[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

static void test_bits(void) {
    uint8_t keep[20] = {1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1}, back[20], bits[3];
    lt_ct_pack_bits(keep, 20, bits);
    CHECK(bits[0] == 0x65 && bits[1] == 0xC3 && bits[2] == 0x09); /* numpy.packbits(bitorder="little") */
    lt_ct_unpack_bits(bits, 20, back);
    CHECK(!memcmp(keep, back, 20));
}

/* every linear of src against expected.safetensors: dtype want, values exactly */
static void compare(const lt_modelsrc *src, const lt_safetensors *ex, lt_dtype want, const char *what) {
    for (int i = 0; i < 7; i++) {
        char canon[96], hf[128];
        snprintf(canon, sizeof canon, "blk.0.%s.weight", k_lin[i]);
        lt_hf_tensor_name(canon, hf);
        const lt_src_tensor *t = lt_modelsrc_find(src, canon);
        lt_src_tensor e;
        const int64_t j = lt_st_find(ex, hf);
        CHECKF(t && j >= 0, "%s: %s missing", what, canon);
        if (!t || j < 0) continue;
        lt_st_tensor(ex, j, &e);
        CHECKF(t->dtype == want, "%s: %s is %s, want %s", what, canon, lt_dtype_name(t->dtype), lt_dtype_name(want));
        const int64_t N = t->shape[0], K = t->shape[1];
        CHECK(e.shape[0] == N && e.shape[1] == K && e.dtype == LT_F16);
        float *y = malloc((size_t)(N * K) * 4), *x = malloc((size_t)(N * K) * 4);
        for (int64_t r = 0; r < N; r++) {
            lt_dtype_row_to_f32(t->dtype, (const char *)t->data + r * lt_row_bytes(t->dtype, K), y + r * K, K);
            lt_dtype_row_to_f32(LT_F16, (const char *)e.data + r * K * 2, x + r * K, K);
        }
        CHECKF(!memcmp(x, y, (size_t)(N * K) * 4), "%s: %s differs from the dense pruned weights", what, canon);
        if (t->dtype == LT_S24_F16) CHECK(lt_s24_check(LT_S24_F16, t->data, N * K) < 0);
        free(x), free(y);
    }
}

static lt_safetensors *open_st(const char *dir, const char *file) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    lt_safetensors *st = NULL;
    lt_err err = {0};
    CHECKF(lt_st_open(&st, path, &err) == LT_OK, "%s: %s", path, err.msg);
    return st;
}

static void test_fixture_and_write(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", lt_test_path("tests/fixtures/ct/s24"));
    lt_err err = {0};
    lt_modelsrc *src = NULL;
    CHECKF(lt_modelsrc_open_hf(&src, dir, &err) == LT_OK, "open: %s", err.msg);
    lt_safetensors *ex = open_st(lt_test_path("tests/fixtures/ct"), "expected.safetensors");
    if (!src || !ex) return;
    compare(src, ex, LT_S24_F16, "their folder");
    CHECK(lt_ct_has_sparse(src));

    /* lathe's writer: their tensors byte for byte */
    const char *out = lt_test_tmpdir("ct_write");
    CHECKF(lt_ct_write_hf(src, out, &err) == LT_OK, "write: %s", err.msg);
    lt_safetensors *theirs = open_st(dir, "model.safetensors"), *ours = open_st(out, "model.safetensors");
    int n = 0;
    for (int64_t i = 0; theirs && ours && i < lt_st_n_tensors(theirs); i++) {
        lt_src_tensor a, b;
        lt_st_tensor(theirs, i, &a);
        const size_t l = strlen(a.name);
        const bool ct = l > 11 && (!strcmp(a.name + l - 11, ".compressed") || !strcmp(a.name + l - 8, ".bitmask") ||
                                   !strcmp(a.name + l - 6, ".shape"));
        const int64_t j = lt_st_find(ours, a.name);
        CHECKF(j >= 0, "written folder lacks %s", a.name);
        if (j < 0) continue;
        lt_st_tensor(ours, j, &b);
        CHECKF(a.dtype == b.dtype && a.ndim == b.ndim && a.nbytes == b.nbytes && !memcmp(a.data, b.data, a.nbytes),
               "%s: lathe's %s [%lld...] differs from compressed-tensors' %s", a.name, lt_dtype_name(b.dtype),
               (long long)b.shape[0], lt_dtype_name(a.dtype));
        n += ct;
    }
    CHECKF(n == 21, "%d compressed-tensors entries compared (want 7 x 3)", n);
    char *cfg = NULL;
    char cpath[1200];
    snprintf(cpath, sizeof cpath, "%s/config.json", out);
    cfg = lt_test_read_file(cpath, NULL);
    cJSON *j = cfg ? cJSON_Parse(cfg) : NULL;
    lt_ct_config cc;
    CHECK(j && lt_ct_read_config(j, cpath, &cc, &err) == LT_OK && cc.ct && cc.sparse24);
    cJSON_Delete(j);
    free(cfg);
    lt_modelsrc *back = NULL;
    CHECKF(lt_modelsrc_open_hf(&back, out, &err) == LT_OK, "reload: %s", err.msg);
    if (back) compare(back, ex, LT_S24_F16, "lathe's folder");
    lt_modelsrc_close(back);

    /* s24_q4 has no compressed-tensors form here (marlin-24) */
    lt_modelsrc *view = NULL;
    CHECK(lt_modelsrc_view(&view, src, &err) == LT_OK);
    const lt_src_tensor *dn = lt_modelsrc_find(src, "blk.0.ffn_down.weight");
    if (view && dn) {
        const int64_t N = dn->shape[0], K = dn->shape[1];
        float *w = malloc((size_t)(N * K) * 4);
        void *q = malloc(lt_row_bytes(LT_S24_Q4, K) * (size_t)N);
        for (int64_t r = 0; r < N; r++) {
            lt_dtype_row_to_f32(dn->dtype, (const char *)dn->data + r * lt_row_bytes(dn->dtype, K), w + r * K, K);
            lt_quantize_row_s24_q4(w + r * K, (char *)q + r * lt_row_bytes(LT_S24_Q4, K), K);
        }
        CHECK(lt_modelsrc_replace(view, dn->name, LT_S24_Q4, q, &err) == LT_OK);
        lt_status st = lt_ct_write_hf(view, lt_test_tmpdir("ct_q4"), &err);
        CHECKF(st == LT_EUNSUPPORTED && strstr(err.msg, "marlin-24"), "s24_q4: %d %s", st, err.msg);
        free(w), free(q);
    }
    lt_modelsrc_close(view);
    lt_st_close(theirs), lt_st_close(ours), lt_st_close(ex);
    lt_modelsrc_close(src);
}

/* their folder with q_proj's bitmask changed (row 0: 3 + 1 in its first two groups; or 3 + 2) */
static lt_status write_bad(const char *out, bool half, lt_err *err) {
    char dir[1024], cmd[4200];
    snprintf(dir, sizeof dir, "%s", lt_test_path("tests/fixtures/ct/s24"));
    lt_safetensors *st = open_st(dir, "model.safetensors");
    if (!st) return LT_EIO;
    const int64_t n = lt_st_n_tensors(st);
    lt_st_entry *e = calloc((size_t)n, sizeof *e);
    lt_src_tensor *t = calloc((size_t)n, sizeof *t);
    uint8_t *bm = NULL;
    for (int64_t i = 0; i < n; i++) {
        lt_st_tensor(st, i, &t[i]);
        e[i] = (lt_st_entry){.name = t[i].name, .dtype = t[i].dtype, .ndim = t[i].ndim, .data = t[i].data};
        memcpy(e[i].shape, t[i].shape, sizeof e[i].shape);
        if (!strcmp(t[i].name, "model.layers.0.self_attn.q_proj.bitmask")) {
            bm = malloc(t[i].nbytes);
            memcpy(bm, t[i].data, t[i].nbytes);
            uint8_t keep[32];
            lt_ct_unpack_bits(bm, 32, keep);
            for (int c = 0; c < 4; c++) keep[c] = 1; /* group 0 keeps 4 */
            if (half) { /* group 1 keeps 0: still 16 of 32 in the row */
                for (int c = 4; c < 8; c++) keep[c] = 0;
            }
            lt_ct_pack_bits(keep, 32, bm);
            e[i].data = bm;
        }
    }
    snprintf(cmd, sizeof cmd, "%s/config.json", out);
    char *cfg = NULL;
    char src_cfg[1100];
    snprintf(src_cfg, sizeof src_cfg, "%s/config.json", dir);
    size_t len = 0;
    cfg = lt_test_read_file(src_cfg, &len);
    FILE *f = fopen(cmd, "wb");
    if (f && cfg) fwrite(cfg, 1, len, f);
    if (f) fclose(f);
    free(cfg);
    snprintf(cmd, sizeof cmd, "%s/model.safetensors", out);
    lt_status s = lt_st_write(cmd, e, n, err);
    free(bm), free(e), free(t);
    lt_st_close(st);
    return s;
}

static void test_bad(void) {
    lt_err err = {0};
    const char *d1 = lt_test_tmpdir("ct_not24");
    CHECK(write_bad(d1, true, &err) == LT_OK);
    lt_modelsrc *src = NULL;
    CHECKF(lt_modelsrc_open_hf(&src, d1, &err) == LT_OK, "not 2:4: %s", err.msg);
    const lt_src_tensor *q = src ? lt_modelsrc_find(src, "blk.0.attn_q.weight") : NULL;
    CHECKF(q && q->dtype == LT_F16, "a 4+0 group: q_proj is %s (want dense f16)", q ? lt_dtype_name(q->dtype) : "-");
    const lt_src_tensor *k = src ? lt_modelsrc_find(src, "blk.0.attn_k.weight") : NULL;
    CHECK(k && k->dtype == LT_S24_F16);
    if (q) { /* their decompressor: the kept values in order at the set bits of row 0 */
        lt_safetensors *st = open_st(lt_test_path("tests/fixtures/ct/s24"), "model.safetensors");
        lt_src_tensor c;
        lt_st_tensor(st, lt_st_find(st, "model.layers.0.self_attn.q_proj.compressed"), &c);
        const uint16_t *v = c.data, *w = q->data;
        CHECK(w[0] == v[0] && w[1] == v[1] && w[2] == v[2] && w[3] == v[3] && w[4] == 0 && w[7] == 0);
        lt_st_close(st);
    }
    lt_modelsrc_close(src);
    const char *d2 = lt_test_tmpdir("ct_nothalf");
    CHECK(write_bad(d2, false, &err) == LT_OK);
    src = NULL;
    lt_status st = lt_modelsrc_open_hf(&src, d2, &err);
    CHECKF(st == LT_EFORMAT && strstr(err.msg, "q_proj.bitmask") && strstr(err.msg, "not half"), "%d %s", st, err.msg);
    lt_modelsrc_close(src);

    static const char *const cfgs[][2] = {
        {"{\"quantization_config\":{\"quant_method\":\"compressed-tensors\",\"config_groups\":{\"group_0\":{}}}}",
         "config_groups"},
        {"{\"quantization_config\":{\"quant_method\":\"compressed-tensors\",\"sparsity_config\":{\"format\":"
         "\"sparse-bitmask\"}}}", "sparse-bitmask"},
        {"{\"quantization_config\":{\"quant_method\":\"compressed-tensors\",\"sparsity_config\":{\"format\":"
         "\"sparse-24-bitmask\",\"sparsity_structure\":\"4:8\"}}}", "4:8"},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) {
        cJSON *j = cJSON_Parse(cfgs[i][0]);
        lt_ct_config c;
        lt_status s = lt_ct_read_config(j, "config.json", &c, &err);
        CHECKF(s != LT_OK && strstr(err.msg, cfgs[i][1]) && strstr(err.msg, "config.json"), "%s: %d %s", cfgs[i][1], s,
               err.msg);
        cJSON_Delete(j);
    }
    cJSON *j = cJSON_Parse("{\"quantization_config\":{\"quant_method\":\"gptq\",\"bits\":4}}");
    lt_ct_config c;
    CHECK(lt_ct_read_config(j, "config.json", &c, &err) == LT_OK && !c.ct);
    cJSON_Delete(j);
}

int main(void) {
    test_bits();
    test_fixture_and_write();
    test_bad();
    return lt_test_done();
}
