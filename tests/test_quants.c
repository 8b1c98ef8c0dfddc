/* test_quants.c - GGML's block types against GGML itself: for every lt_quants.h type,
 * dequantization of GGML-written blocks and of hand-built random blocks is bit-identical to
 * GGML's dequantize_row_*, and lathe's quantizer writes the bytes GGML's reference quantizer
 * (what llama-quantize writes without an importance matrix) writes for the same floats; the
 * activation partners q8_1 / q8_K likewise.
 * Expected outputs: tests/fixtures/quants/<type>.bin, made by tools/gen_quant_fixtures.py
 * (README.md beside them names the GGML version).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "testutil.h"

typedef struct fixture {
    uint32_t type, rows, cols, row_bytes, blocks;
    float *x, *xq, *xhand;
    uint8_t *q, *hand;
} fixture;

static void *take(const uint8_t **p, const uint8_t *end, size_t n) {
    if ((size_t)(end - *p) < n) return NULL;
    void *m = malloc(n ? n : 1);
    memcpy(m, *p, n);
    *p += n;
    return m;
}

static bool load(const char *name, fixture *f, int block, int block_bytes) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/quants/%s.bin", name);
    FILE *fp = fopen(lt_test_path(rel), "rb");
    CHECKF(fp != NULL, "%s: fixture missing", rel);
    if (!fp) return false;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    const uint8_t *p = buf + 28, *end = buf + n;
    uint32_t h[7];
    memcpy(h, buf, sizeof h);
    memset(f, 0, sizeof *f);
    f->type = h[2], f->rows = h[3], f->cols = h[4], f->row_bytes = h[5], f->blocks = h[6];
    bool ok = n >= 28 && !memcmp(buf, "LTQF", 4) && h[1] == 1 && f->row_bytes == f->cols / block * block_bytes;
    CHECKF(ok, "%s: bad header", rel);
    if (!ok) return false;
    size_t nx = (size_t)f->rows * f->cols;
    f->x = take(&p, end, nx * 4);
    f->q = take(&p, end, (size_t)f->rows * f->row_bytes);
    if (f->blocks) {
        f->xq = take(&p, end, nx * 4);
        f->hand = take(&p, end, (size_t)f->blocks * block_bytes);
        f->xhand = take(&p, end, (size_t)f->blocks * block * 4);
    }
    ok = f->x && f->q && (!f->blocks || (f->xq && f->hand && f->xhand)) && p == end;
    CHECKF(ok, "%s: truncated or too long", rel);
    return ok;
}

static void unload(fixture *f) { free(f->x), free(f->xq), free(f->xhand), free(f->q), free(f->hand); }

/* index of the first differing float (bitwise), or -1 */
static long first_diff(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, 4)) return (long)i;
    return -1;
}

static void test_weight_type(lt_dtype t) {
    const lt_dtype_traits *d = lt_dtype_info(t);
    fixture f;
    if (!load(d->name, &f, d->block, d->block_bytes)) return;
    CHECKF(f.type == (uint32_t)d->gguf_type, "%s: fixture is of GGML type %u", d->name, f.type);
    size_t nx = (size_t)f.rows * f.cols;
    float *y = malloc(nx * 4 + (size_t)f.blocks * d->block * 4);
    /* dequantization of GGML's quantized rows and of hand-built blocks */
    for (uint32_t r = 0; r < f.rows; r++) lt_dtype_row_to_f32(t, f.q + (size_t)r * f.row_bytes, y + r * f.cols, f.cols);
    long i = first_diff(y, f.xq, nx);
    CHECKF(i < 0, "%s: dequantized GGML rows differ from GGML at %ld: %.9g vs %.9g", d->name, i, i < 0 ? 0 : y[i],
           i < 0 ? 0 : f.xq[i]);
    lt_dtype_row_to_f32(t, f.hand, y, (int64_t)f.blocks * d->block);
    i = first_diff(y, f.xhand, (size_t)f.blocks * d->block);
    CHECKF(i < 0, "%s: dequantized hand-built blocks differ from GGML at %ld: %.9g vs %.9g", d->name, i,
           i < 0 ? 0 : y[i], i < 0 ? 0 : f.xhand[i]);
    /* quantization */
    CHECKF(d->from_f32 != NULL, "%s: no quantizer", d->name);
    if (d->from_f32) {
        uint8_t *q = malloc((size_t)f.rows * f.row_bytes);
        for (uint32_t r = 0; r < f.rows; r++) lt_dtype_row_from_f32(t, f.x + r * f.cols, q + (size_t)r * f.row_bytes, f.cols);
        for (uint32_t r = 0; r < f.rows; r++) {
            const uint8_t *a = q + (size_t)r * f.row_bytes, *b = f.q + (size_t)r * f.row_bytes;
            size_t k = 0;
            while (k < f.row_bytes && a[k] == b[k]) k++;
            CHECKF(k == f.row_bytes, "%s: quantized row %u differs from GGML's at byte %zu (block %zu)", d->name, r, k,
                   k / (size_t)d->block_bytes);
        }
        free(q);
    }
    free(y);
    unload(&f);
}

static void test_partners(void) {
    fixture f;
    if (load("q8_1", &f, LT_QK32, (int)sizeof(lt_block_q8_1))) {
        lt_block_q8_1 *b = malloc(f.row_bytes);
        for (uint32_t r = 0; r < f.rows; r++) {
            for (uint32_t k = 0; k < f.cols / LT_QK32; k++) lt_quant_q8_1(f.x + r * f.cols + k * LT_QK32, b + k);
            CHECKF(!memcmp(b, f.q + (size_t)r * f.row_bytes, f.row_bytes), "q8_1: row %u differs from GGML's", r);
        }
        free(b);
        unload(&f);
    }
    if (load("q8_K", &f, LT_QK_K, (int)sizeof(lt_block_q8_K))) {
        lt_block_q8_K *b = malloc(f.row_bytes);
        for (uint32_t r = 0; r < f.rows; r++) {
            for (uint32_t k = 0; k < f.cols / LT_QK_K; k++) lt_quant_q8_K(f.x + r * f.cols + k * LT_QK_K, b + k);
            const lt_block_q8_K *g = (const lt_block_q8_K *)(f.q + (size_t)r * f.row_bytes);
            for (uint32_t k = 0; k < f.cols / LT_QK_K; k++) {
                bool same = !memcmp(&b[k].d, &g[k].d, 4) && !memcmp(b[k].qs, g[k].qs, LT_QK_K) &&
                            (g[k].d == 0.0f || !memcmp(b[k].bsums, g[k].bsums, sizeof b[k].bsums));
                CHECKF(same, "q8_K: row %u block %u differs from GGML's", r, k);
            }
        }
        free(b);
        unload(&f);
    }
}

int main(void) {
    const lt_dtype ts[] = {LT_Q4_1, LT_Q5_0, LT_Q5_1, LT_IQ4_NL, LT_Q2_K,
                           LT_Q3_K, LT_Q4_K, LT_Q5_K, LT_Q6_K,   LT_IQ4_XS};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) test_weight_type(ts[i]);
    test_partners();
    return lt_test_done();
}
