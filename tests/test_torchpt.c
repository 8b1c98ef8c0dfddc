/* test_torchpt.c - torch.save files (core/formats/torchpt.c): files torch wrote
 * (tests/fixtures/slicegpt-tiny/torch, tools/gen_slicegpt_fixtures.py: shared storages with an
 * offset, bf16/f16/f32, a module's state dict with _metadata) read against torch's own values;
 * the files lathe cannot read (float64, a list, the legacy format) refused with
 * what is wrong; lathe's writer read back (names, shapes, bytes; the same file written twice is
 * the same bytes); truncated and damaged archives refused without a crash.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "core/formats/torchpt.h"
#include "tests/testutil.h"

static const char *fix(const char *name) {
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "tests/fixtures/slicegpt-tiny/torch/%s", name);
    return lt_test_path(b);
}

static void check_against_torch(const char *file, const cJSON *exp) {
    lt_torchpt *pt = NULL;
    lt_err err = {0};
    lt_status st = lt_pt_open(&pt, fix(file), &err);
    CHECKF(st == LT_OK, "%s: %s", file, err.msg);
    if (st) return;
    CHECK(lt_pt_n_tensors(pt) == cJSON_GetArraySize(exp));
    int i = 0;
    for (const cJSON *e = exp->child; e; e = e->next, i++) {
        lt_src_tensor t;
        lt_pt_tensor(pt, i, &t);
        CHECKF(!strcmp(t.name, e->string), "%s: tensor %d is '%s', torch says '%s'", file, i, t.name, e->string);
        const char *dt = cJSON_GetObjectItem(e, "dtype")->valuestring;
        lt_dtype want = !strcmp(dt, "float16") ? LT_F16 : !strcmp(dt, "bfloat16") ? LT_BF16 : LT_F32;
        CHECKF(t.dtype == want, "%s: '%s' is %s", file, t.name, lt_dtype_name(t.dtype));
        const cJSON *sh = cJSON_GetObjectItem(e, "shape");
        CHECK(t.ndim == cJSON_GetArraySize(sh));
        int64_t numel = 1;
        for (int d = 0; d < t.ndim && d < 4; d++) {
            CHECK(t.shape[d] == cJSON_GetArrayItem(sh, d)->valueint);
            numel *= t.shape[d];
        }
        CHECK(t.nbytes == (size_t)numel * lt_dtype_info(t.dtype)->block_bytes);
        CHECK(lt_pt_find(pt, t.name) == i);
        float *v = malloc((size_t)numel * sizeof *v + 4);
        lt_dtype_row_to_f32(t.dtype, t.data, v, numel);
        const cJSON *vals = cJSON_GetObjectItem(e, "values");
        int k = 0, bad = 0;
        for (const cJSON *x = vals->child; x; x = x->next, k++) bad += (float)x->valuedouble != v[k];
        CHECKF(k == numel && !bad, "%s: '%s': %d of %d values differ from torch's", file, t.name, bad, k);
        free(v);
    }
    CHECK(lt_pt_find(pt, "absent") == -1);
    lt_pt_close(pt);
}

static void expect_refused(const char *path, lt_status code, const char *needle) {
    lt_torchpt *pt = NULL;
    lt_err err = {0};
    lt_status st = lt_pt_open(&pt, path, &err);
    CHECKF(st != LT_OK && pt == NULL, "%s opened", path);
    CHECKF(code == LT_OK || st == code, "%s: status %d, message '%s'", path, st, err.msg);
    CHECKF(err.msg[0] && (!needle || strstr(err.msg, needle)), "%s: message '%s' (wanted '%s')", path, err.msg,
           needle ? needle : "");
    lt_pt_close(pt);
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, n, f);
    fclose(f);
}

static void test_write_read(void) {
    const char *dir = lt_test_tmpdir("torchpt");
    char p1[600], p2[600];
    snprintf(p1, sizeof p1, "%s/sd.pt", dir);
    snprintf(p2, sizeof p2, "%s/again.pt", dir);
    lt_test_rng r;
    lt_test_rng_seed(&r, 7);
    float f32[2 * 3 * 4], src[300];
    lt_test_fill(&r, f32, 24, 1);
    lt_test_fill(&r, src, 300, 1);
    uint16_t f16[300], bf16[7];
    lt_dtype_row_from_f32(LT_F16, src, f16, 300);
    lt_dtype_row_from_f32(LT_BF16, src, bf16, 7);
    float scalar = 3.25f;
    lt_st_entry e[5] = {
        {"model.embed_tokens.weight", LT_F16, 2, {30, 10}, f16},
        {"model.layers.0.attn_shortcut_Q", LT_F32, 3, {2, 3, 4}, f32},
        {"b", LT_BF16, 1, {7}, bf16},
        {"s", LT_F32, 0, {0}, &scalar},
        {"empty", LT_F16, 2, {0, 5}, f16},
    };
    lt_err err = {0};
    lt_status st = lt_pt_write(p1, "sd", e, 5, &err);
    CHECKF(st == LT_OK, "write: %s", err.msg);
    lt_torchpt *pt = NULL;
    st = lt_pt_open(&pt, p1, &err);
    CHECKF(st == LT_OK, "read back: %s", err.msg);
    if (st) return;
    CHECK(!strcmp(lt_pt_archive_name(pt), "sd"));
    CHECK(lt_pt_n_tensors(pt) == 5);
    lt_st_entry back[5];
    lt_src_tensor t[5];
    for (int i = 0; i < 5 && i < lt_pt_n_tensors(pt); i++) {
        lt_pt_tensor(pt, i, &t[i]);
        CHECKF(!strcmp(t[i].name, e[i].name) && t[i].dtype == e[i].dtype && t[i].ndim == e[i].ndim, "tensor %d", i);
        int64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) {
            CHECK(t[i].shape[d] == e[i].shape[d]);
            numel *= e[i].shape[d];
        }
        size_t nb = (size_t)numel * lt_dtype_info(e[i].dtype)->block_bytes;
        CHECK(t[i].nbytes == nb && (nb == 0 || !memcmp(t[i].data, e[i].data, nb)));
        CHECKF(nb == 0 || ((uintptr_t)t[i].data % 64 == 0 && t[i].mapped), "tensor %d: data not 64-byte aligned in "
               "the mapping", i); /* torch's alignment */
        back[i] = (lt_st_entry){t[i].name, t[i].dtype, t[i].ndim, {t[i].shape[0], t[i].shape[1], t[i].shape[2]},
                                t[i].data};
    }
    /* what was read, written again (same archive name): the same bytes */
    st = lt_pt_write(p2, "sd", back, 5, &err);
    CHECKF(st == LT_OK, "write again: %s", err.msg);
    lt_pt_close(pt);
    size_t n1 = 0, n2 = 0;
    char *b1 = lt_test_read_file(p1, &n1), *b2 = lt_test_read_file(p2, &n2);
    CHECKF(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1), "the rewritten file differs (%zu, %zu bytes)", n1, n2);

    /* every truncation refused cleanly (a zip's directory is at its end) */
    char tp[620];
    snprintf(tp, sizeof tp, "%s/trunc.pt", dir);
    int opened = 0;
    for (size_t k = 0; b1 && k < n1; k += (k < 64 ? 1 : 37)) {
        write_bytes(tp, b1, k);
        lt_torchpt *q = NULL;
        lt_err e2 = {0};
        if (lt_pt_open(&q, tp, &e2) == LT_OK) opened++;
        else CHECKF(e2.msg[0], "truncated at %zu: an error without a message", k);
        lt_pt_close(q);
    }
    CHECKF(opened == 0, "%d truncated files opened", opened);
    /* damaged bytes anywhere: an error or a file that reads, never a crash; a damaged data.pkl
     * byte (the pickle starts right after the first local header) is refused or read */
    int refused = 0;
    for (size_t k = 0; b1 && k < n1; k += 7) {
        char *c = malloc(n1);
        memcpy(c, b1, n1);
        c[k] ^= 0x5a;
        write_bytes(tp, c, n1);
        free(c);
        lt_torchpt *q = NULL;
        lt_err e2 = {0};
        if (lt_pt_open(&q, tp, &e2) != LT_OK) {
            refused++;
            CHECK(e2.msg[0] != 0);
        }
        for (int64_t i = 0; q && i < lt_pt_n_tensors(q); i++) {
            lt_src_tensor x;
            lt_pt_tensor(q, i, &x);
            volatile uint8_t s = 0;
            for (size_t j = 0; j < x.nbytes; j++) s ^= ((const uint8_t *)x.data)[j];
        }
        lt_pt_close(q);
    }
    CHECK(refused > 0);
    free(b1), free(b2);

    /* bad writes */
    lt_st_entry dup[2] = {{"a", LT_F16, 1, {2}, f16}, {"a", LT_F16, 1, {2}, f16}};
    CHECK(lt_pt_write(p2, NULL, dup, 2, &err) == LT_EINVAL && strstr(err.msg, "twice"));
    lt_st_entry q8 = {"q", LT_Q8_0, 1, {32}, f16};
    CHECK(lt_pt_write(p2, NULL, &q8, 1, &err) == LT_EINVAL && strstr(err.msg, "q8_0"));
}

static void test_not_torch(void) {
    const char *dir = lt_test_tmpdir("torchpt_bad");
    char p[600];
    snprintf(p, sizeof p, "%s/text.pt", dir);
    write_bytes(p, "hello, this is not a zip archive at all", 39);
    expect_refused(p, LT_EFORMAT, "no zip archive");
    /* a zip archive that is not torch's: entries not in a folder */
    static const uint8_t empty_zip[22] = {'P', 'K', 5, 6};
    snprintf(p, sizeof p, "%s/empty.pt", dir);
    write_bytes(p, empty_zip, sizeof empty_zip);
    expect_refused(p, LT_EFORMAT, NULL);
    expect_refused(lt_test_path("tests/fixtures/slicegpt-tiny/config.json"), LT_EFORMAT, NULL);
}

int main(void) {
    size_t n = 0;
    char *text = lt_test_read_file(fix("expected.json"), &n);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    CHECKF(j != NULL, "no %s", fix("expected.json"));
    if (j) {
        check_against_torch("shared.pt", cJSON_GetObjectItem(j, "shared.pt"));
        check_against_torch("sd_mixed.pt", cJSON_GetObjectItem(j, "sd_mixed.pt"));
        /* strided views of one storage (transposed; a column slice at an offset), gathered */
        check_against_torch("noncontig.pt", cJSON_GetObjectItem(j, "noncontig.pt"));
    }
    cJSON_Delete(j);
    free(text);
    expect_refused(fix("f64.pt"), LT_EUNSUPPORTED, "torch.DoubleStorage");
    expect_refused(fix("expanded.pt"), LT_EFORMAT, "overlap"); /* 8 elements over a storage of 1 */
    expect_refused(fix("list.pt"), LT_EUNSUPPORTED, "EMPTY_LIST");
    expect_refused(fix("legacy.pt"), LT_EUNSUPPORTED, "legacy");
    test_write_read();
    test_not_torch();
    return lt_test_done();
}
