/* test_qdot_s24.c - the int8-activation forms of the s24_q4 dot product (kernels/cpu/qdot_s24.c):
 * AVX2, AVX-512 VNNI and VNNI + VBMI, each where this CPU has it; and s24_f16's AVX2 and AVX-512
 * forms (dot, dot4) against their documented float operations,
 * and its widening for sgemm against the dtype table.
 *
 * - The pick indices each form computes in vector registers from a block's 8 meta bytes equal the
 *   table-built ones of the first kernel (k_lut8 per meta byte, 8 added for a group's second
 *   byte), for all 256 values of every meta byte.
 * - dot and dot4 (1..4 rows) give bit-for-bit the float operations of the first (table-index)
 *   kernel, written out in scalar C: per block and 4 kept values (one accumulator lane, in that
 *   kernel's lane order) fma(sum(q x), d_w, sum(x) * m_w), then fma with the activation scale
 *   into the lane; the 8 lanes summed as hsum8 does. So every form gives the numbers the first
 *   kernel gave, batches equal single rows, and the vector index construction picks the right
 *   columns.
 * Without AVX2 only the widening's portable path runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "kernels/cpu/cpu_impl.h"
#include "kernels/lt_math.h"
#include "testutil.h"

static const char *k_form[3] = {"AVX2", "VNNI", "VNNI+VBMI"};

/* the first kernel's table: a meta byte's 4 kept values -> their columns among 8 */
static uint8_t lut8(uint8_t m, int k) { return (uint8_t)(4 * (k / 2) + ((m >> (2 * k)) & 3)); }

/* byte j of a form's indices (kept j), from the tables: the 8 bytes of 16 columns come from one
 * pair of meta bytes (the first kernel's sidx(lo, hi)); VBMI adds where the activations store
 * those 16 columns (middle chunks swapped) */
static uint8_t want_idx(int form, const uint8_t *meta, int j) {
    const int h = j / 8, k = j % 8;
    const uint8_t in16 = (uint8_t)(k < 4 ? lut8(meta[2 * h], k) : lut8(meta[2 * h + 1], k - 4) + 8);
    static const uint8_t at[4] = {0, 32, 16, 48};
    return form == 2 ? (uint8_t)(in16 + at[h]) : in16;
}

static void test_idx(int form) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 7);
    int bad = 0, n = 0;
    for (int at = 0; at < 8; at++)
        for (int v = 0; v < 256; v++) {
            uint8_t meta[8], got[32];
            for (int i = 0; i < 8; i++) meta[i] = (uint8_t)lt_test_u32(&r);
            meta[at] = (uint8_t)v;
            if (!lt_cpu_s24_q4_idx(form, meta, got)) return;
            for (int j = 0; j < 32; j++) bad += got[j] != want_idx(form, meta, j);
            n++;
        }
    CHECKF(bad == 0, "%s: %d of %d index bytes differ from the table-built ones", k_form[form], bad, n * 32);
}

/* the kernel's float operations in scalar C on the f32 activations x (quantized here as the
 * kernels document: per 32, d = max|x| / 127, q = round(x / d)) */
static float emulate(const uint8_t *w, const float *x, int64_t K) {
    int8_t *q = malloc((size_t)K);
    float *dx = malloc(sizeof(float) * (size_t)(K / 32));
    for (int64_t c = 0; c < K / 32; c++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * c + j]));
        dx[c] = amax / 127.0f;
        const float id = dx[c] > 0 ? 1.0f / dx[c] : 0.0f;
        for (int j = 0; j < 32; j++) q[32 * c + j] = (int8_t)lrintf(x[32 * c + j] * id);
    }
    float a[8] = {0};
    static const int first[8] = {0, 4, 16, 20, 8, 12, 24, 28}; /* lane l: kept first[l] .. +3 */
    for (int64_t b = 0; b < K / 64; b++) {
        const lt_block_s24_q4 *blk = (const lt_block_s24_q4 *)w + b;
        const float dw = lt_f16_to_f32(blk->d), mw = lt_f16_to_f32(blk->m);
        for (int l = 0; l < 8; l++) {
            int32_t p = 0, s = 0;
            for (int k = first[l]; k < first[l] + 4; k++) {
                const int code = (blk->qs[k % 16] >> (4 * (k / 16))) & 15;
                const int pos = (blk->meta[k / 4] >> (2 * (k % 4))) & 3;
                const int xv = q[64 * b + 4 * (k / 2) + pos];
                p += code * xv, s += xv;
            }
            const float sm = (float)s * mw;
            const float v = fmaf((float)p, dw, sm);
            a[l] = fmaf(v, dx[2 * b + first[l] / 16], a[l]); /* kept 0..15: the first 32 columns */
        }
    }
    free(q), free(dx);
    float s[4];
    for (int i = 0; i < 4; i++) s[i] = a[i] + a[i + 4];
    const float lo = s[0] + s[2], hi = s[1] + s[3];
    return lo + hi;
}

/* Of N weight rows x 1..R activation rows: the dot and dot4 results that are not bit for bit
 * emul's (the documented float operations). R <= 4. */
static int count_bad(const lt_cpu_qdot *q, const uint8_t *w, size_t rb, const char *xq, size_t ab, const float *x,
                     int N, int R, int64_t K, float (*emul)(const uint8_t *, const float *, int64_t)) {
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int rr = 1; rr <= R; rr++) {
            float out[4];
            q->dot4(w + n * rb, xq, ab, rr, K, out);
            for (int t = 0; t < rr; t++) {
                const float want = emul(w + n * rb, x + t * K, K);
                const float one = q->dot(w + n * rb, xq + t * ab, K);
                bad += memcmp(&out[t], &want, 4) != 0 || memcmp(&one, &want, 4) != 0;
            }
        }
    return bad;
}

static void test_dot(int form) {
    const lt_cpu_qdot *q = lt_cpu_qdot_s24_q4_form(form);
    if (!q) return;
    enum { N = 6, R = 4 };
    static const int64_t Ks[3] = {64, 576, 2048}; /* 1, 9 (odd: a pair and a single), 32 blocks */
    lt_test_rng r;
    lt_test_rng_seed(&r, 13);
    for (int ki = 0; ki < 3; ki++) {
        const int64_t K = Ks[ki];
        const size_t rb = lt_row_bytes(LT_S24_Q4, K), ab = (q->act_row_bytes(K) + 63) & ~(size_t)63;
        float *wf = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * R * K);
        uint8_t *w = malloc(rb * N);
        char *xq = aligned_alloc(64, ab * R);
        lt_test_fill(&r, wf, N * K, 0.1f);
        lt_test_fill(&r, x, R * K, 1.0f);
        for (int i = 0; i < K; i += 7) x[i] = 0; /* zero activations and an all-zero 32 */
        memset(x + K, 0, 32 * sizeof(float));
        for (int n = 0; n < N; n++) lt_dtype_row_from_f32(LT_S24_Q4, wf + n * K, w + n * rb, K);
        for (int t = 0; t < R; t++) q->quant_act(x + t * K, xq + t * ab, K);
        int bad = count_bad(q, w, rb, xq, ab, x, N, R, K, emulate);
        CHECKF(bad == 0, "%s K=%lld: %d dot products differ from the documented float operations", k_form[form],
               (long long)K, bad);
        free(wf), free(x), free(w), free(xq);
    }
}

/* ---- s24_f16 ---------------------------------------------------------------------------------- */

static const char *k_f16_form[2] = {"AVX2", "AVX-512"};

/* the documented float operations of the s24_f16 forms in scalar C: per block one fma per kept
 * value into lane k of accumulator b % 4, then hsum8((a0 + a1) + (a2 + a3)) */
static float emulate_f16(const uint8_t *w, const float *x, int64_t K) {
    float a[4][8] = {{0}};
    for (int64_t b = 0; b < K / 16; b++) {
        const lt_block_s24_f16 *blk = (const lt_block_s24_f16 *)w + b;
        for (int k = 0; k < 8; k++) {
            const int col = 4 * (k / 2) + ((blk->meta >> (2 * k)) & 3);
            a[b % 4][k] = fmaf(x[16 * b + col], lt_f16_to_f32(blk->v[k]), a[b % 4][k]);
        }
    }
    float s[8], t[4];
    for (int l = 0; l < 8; l++) s[l] = (a[0][l] + a[1][l]) + (a[2][l] + a[3][l]);
    for (int i = 0; i < 4; i++) t[i] = s[i] + s[i + 4];
    const float lo = t[0] + t[2], hi = t[1] + t[3];
    return lo + hi;
}

/* dot and dot4 (1..4 activation rows) of each form against the emulation, bit for bit: so the
 * forms agree, batches equal single rows, and the register-built indices (AVX-512) pick the
 * columns the tables (AVX2) do */
static void test_f16_dot(int form) {
    const lt_cpu_qdot *q = lt_cpu_qdot_s24_f16_form(form);
    if (!q) return;
    enum { N = 7, R = 4 };
    static const int64_t Ks[5] = {16, 48, 112, 576, 1536}; /* 1, 3, 7 (tails), 36, 96 blocks */
    lt_test_rng r;
    lt_test_rng_seed(&r, 17);
    for (int ki = 0; ki < 5; ki++) {
        const int64_t K = Ks[ki];
        const size_t rb = lt_row_bytes(LT_S24_F16, K), ab = (q->act_row_bytes(K) + 63) & ~(size_t)63;
        float *wf = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * R * K);
        uint8_t *w = malloc(rb * N);
        char *xq = aligned_alloc(64, ab * R);
        lt_test_fill(&r, wf, N * K, 0.1f);
        lt_test_fill(&r, x, R * K, 1.0f);
        for (int n = 0; n < N; n++) lt_dtype_row_from_f32(LT_S24_F16, wf + n * K, w + n * rb, K);
        for (int t = 0; t < R; t++) q->quant_act(x + t * K, xq + t * ab, K);
        int bad = count_bad(q, w, rb, xq, ab, x, N, R, K, emulate_f16);
        CHECKF(bad == 0, "s24_f16 %s K=%lld: %d dot products differ from the documented float operations",
               k_f16_form[form], (long long)K, bad);
        free(wf), free(x), free(w), free(xq);
    }
}

/* the widening of the sgemm path equals the dtype table's values, on well-formed blocks and on
 * random position bits (malformed: two kept values in one column), with and without SIMD */
static void test_f16_widen(void) {
    enum { K = 1024 };
    lt_test_rng r;
    lt_test_rng_seed(&r, 23);
    float wf[K], want[K], got[K];
    lt_block_s24_f16 b[K / 16];
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        lt_test_fill(&r, wf, K, 1.0f);
        lt_dtype_row_from_f32(LT_S24_F16, wf, b, K);
        if (pass)
            for (int i = 0; i < K / 16; i++) b[i].meta = (uint16_t)lt_test_u32(&r);
        lt_dtype_row_to_f32(LT_S24_F16, b, want, K);
        for (int simd = 0; simd < 2; simd++) {
            lt_cpu_set_simd(simd);
            memset(got, 0xff, sizeof got);
            lt_cpu_s24_f16_widen(b, got, K);
            bad += memcmp(got, want, sizeof got) != 0;
        }
        lt_cpu_set_simd(true);
    }
    CHECKF(bad == 0, "s24_f16 widening: %d of 4 rows differ from the dtype table's", bad);
}

int main(void) {
    test_f16_widen();
    for (int form = 0; form < 2; form++) {
        printf("s24_f16 %s: %s\n", k_f16_form[form], lt_cpu_qdot_s24_f16_form(form) ? "checked" : "not on this CPU");
        test_f16_dot(form);
    }
    if (!lt_cpu_qdot_s24_q4_form(0)) { /* the widening's portable path was checked */
        printf("no AVX2: the SIMD forms do not run here\n");
        return lt_test_done();
    }
    for (int form = 0; form < 3; form++) {
        printf("%s: %s\n", k_form[form], lt_cpu_qdot_s24_q4_form(form) ? "checked" : "not on this CPU");
        test_idx(form);
        test_dot(form);
    }
    return lt_test_done();
}
