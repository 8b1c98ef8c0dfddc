/* test_dtype.c - the dtype traits table (core/base/dtype.h).
 *
 * Every entry against the block structs and lt_math.h's row size helpers (the invalid-dtype
 * entry too), names / GGUF ids / safetensors names both ways, and the host row conversions
 * of every dtype that has them: bytes and floats equal lt_math.h's scalar formulas element by
 * element, equal the CPU backend's lt_cpu_quant_row / lt_cpu_dequant_row with SIMD on and off,
 * and round trips through f32 keep f32 exact, are idempotent for f16/bf16 and stay within
 * the quantization bound for q8_0/q4_0/q4_1/q5_0/q5_1 (whose bytes also equal their reference
 * quantizers block by block); for the other lt_quants.h types (bytes: test_quants) the floats
 * equal lt_quants_get and the round trips stay within a per-type bound. All 65536 f16 and bf16
 * bit patterns widen as the formulas say. Leaves out: the aborts on i32 / invalid dtypes (they end the process).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "core/base/quants.h"
#include "kernels/cpu/lt_cpu.h"
#include "testutil.h"

/* ---- layout ------------------------------------------------------------------------------- */

static void test_layout(void) {
    static const struct {
        lt_dtype t;
        int block, bytes;
    } want[] = {
        {LT_F32, 1, (int)sizeof(float)},
        {LT_F16, 1, (int)sizeof(uint16_t)},
        {LT_BF16, 1, (int)sizeof(uint16_t)},
        {LT_Q8_0, LT_QK8_0, (int)sizeof(lt_block_q8_0)},
        {LT_Q4_0, LT_QK4_0, (int)sizeof(lt_block_q4_0)},
        {LT_I32, 1, (int)sizeof(int32_t)},
        /* GGML's block sizes (ggml-common.h) */
        {LT_Q4_1, 32, 20},   {LT_Q5_0, 32, 22},   {LT_Q5_1, 32, 24},   {LT_IQ4_NL, 32, 18},  {LT_Q2_K, 256, 84},
        {LT_Q3_K, 256, 110}, {LT_Q4_K, 256, 144}, {LT_Q5_K, 256, 176}, {LT_Q6_K, 256, 210}, {LT_IQ4_XS, 256, 136},
        /* GPTQ's groups (lt_quants.h): f16 d, f16 z, nibbles */
        {LT_GQ4_32, 32, 20}, {LT_GQ4_64, 64, 36}, {LT_GQ4_128, 128, 68},
        /* 2:4 sparse (lt_quants.h): positions + 8 f16 per 16; d, m, positions, 32 nibbles per 64 */
        {LT_S24_F16, 16, 18}, {LT_S24_Q4, 64, 28},
        /* compressed-tensors' bitmasks and shapes */
        {LT_U8, 1, 1}, {LT_I64, 1, 8},
        /* the CPU backend's q4_0 interleaved by 8 rows: a q4_0 row's bytes per row */
        {LT_Q4_0_R8, 32, 18},
    };
    CHECK(sizeof want / sizeof *want == LT_DTYPE_COUNT);
    /* GGML's block layouts: f16 scale + 32 int8 / 32 nibbles, packed */
    CHECK(LT_QK8_0 == 32 && sizeof(lt_block_q8_0) == 34);
    CHECK(LT_QK4_0 == 32 && sizeof(lt_block_q4_0) == 18);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        lt_dtype t = want[i].t;
        const lt_dtype_traits *d = lt_dtype_info(t);
        CHECKF(d && d->name && *d->name, "dtype %d has no table entry", (int)t);
        if (!d || !d->name) continue;
        CHECKF(d->block == want[i].block && d->block_bytes == want[i].bytes, "%s: block %d of %d bytes, want %d of %d",
               d->name, d->block, d->block_bytes, want[i].block, want[i].bytes);
        CHECKF(d->block == lt_dtype_block(t) && d->block_bytes == lt_dtype_block_bytes(t),
               "%s: the table and lt_dtype_block / lt_dtype_block_bytes disagree", d->name);
        CHECKF(lt_row_bytes(t, 5 * (int64_t)d->block) == 5 * (size_t)d->block_bytes, "%s: lt_row_bytes", d->name);
        CHECKF(d->quantized == (d->block > 1), "%s: quantized flag", d->name);
        const bool rows = !lt_dtype_is_int(t) && t != LT_Q4_0_R8; /* q4_0_r8's rows are interleaved */
        CHECKF((d->to_f32 != NULL) == rows && (d->from_f32 != NULL) == rows,
               "%s: conversions present for every dtype but the integers and q4_0_r8", d->name);
        CHECKF(lt_dtype_plain(t) == (t == LT_Q4_0_R8 ? LT_Q4_0 : t), "%s: lt_dtype_plain", d->name);
    }
    /* dtypes outside the enum: one "?" entry that matches what the helpers say of them */
    lt_dtype bad[] = {LT_DTYPE_COUNT, (lt_dtype)(LT_DTYPE_COUNT + 7), (lt_dtype)-1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const lt_dtype_traits *d = lt_dtype_info(bad[i]);
        CHECKF(d && !strcmp(d->name, "?") && !strcmp(lt_dtype_name(bad[i]), "?"), "dtype %d: not the invalid entry",
               (int)bad[i]);
        CHECK(d->block == lt_dtype_block(bad[i]) && d->block_bytes == lt_dtype_block_bytes(bad[i]));
        CHECK(d->block == 1 && d->block_bytes == 0 && lt_row_bytes(bad[i], 64) == 0);
        CHECK(d->gguf_type == -1 && !d->st_name && !d->quantized && !d->to_f32 && !d->from_f32);
    }
}

/* ---- names and file ids --------------------------------------------------------------------- */

static void test_names(void) {
    static const struct {
        lt_dtype t;
        const char *name;
        int gguf;
        const char *st;
    } want[] = {
        {LT_F32, "f32", 0, "F32"},   {LT_F16, "f16", 1, "F16"},  {LT_BF16, "bf16", 30, "BF16"},
        {LT_Q8_0, "q8_0", 8, NULL},  {LT_Q4_0, "q4_0", 2, NULL}, {LT_I32, "i32", -1, "I32"},
        {LT_GQ4_32, "gq4_32", -1, NULL}, {LT_GQ4_128, "gq4_128", -1, NULL},
        {LT_S24_F16, "s24_f16", 1024, NULL}, {LT_S24_Q4, "s24_q4", 1025, NULL},
        {LT_U8, "u8", -1, "U8"}, {LT_I64, "i64", -1, "I64"}, {LT_Q4_0_R8, "q4_0_r8", -1, NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const lt_dtype_traits *d = lt_dtype_info(want[i].t);
        CHECKF(!strcmp(d->name, want[i].name) && !strcmp(lt_dtype_name(want[i].t), want[i].name), "%s is named %s",
               want[i].name, d->name);
        CHECKF(d->gguf_type == want[i].gguf, "%s: GGUF type %d, want %d", d->name, d->gguf_type, want[i].gguf);
        CHECKF(want[i].st ? d->st_name && !strcmp(d->st_name, want[i].st) : !d->st_name, "%s: safetensors name %s",
               d->name, d->st_name ? d->st_name : "(none)");
    }
    for (int i = 0; i < LT_DTYPE_COUNT; i++) {
        lt_dtype t = (lt_dtype)i;
        const lt_dtype_traits *d = lt_dtype_info(t);
        CHECKF(lt_dtype_from_name(lt_dtype_name(t)) == t, "%s: name does not round-trip", d->name);
        for (int j = 0; j < i; j++) CHECKF(strcmp(d->name, lt_dtype_name((lt_dtype)j)), "%s named twice", d->name);
        if (d->gguf_type >= 0) CHECKF(lt_dtype_from_gguf((uint32_t)d->gguf_type) == t, "%s: GGUF id", d->name);
        if (d->st_name) CHECKF(lt_dtype_from_safetensors(d->st_name) == t, "%s: safetensors name", d->name);
    }
    /* unknown names and ids */
    const char *unknown[] = {"", "q8_0 ", "f", "float32", "?", "q8_K", "q4_K_M"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        CHECKF(lt_dtype_from_name(unknown[i]) == LT_DTYPE_COUNT, "name '%s' gives a dtype", unknown[i]);
    CHECK(lt_dtype_from_name(NULL) == LT_DTYPE_COUNT);
    /* names ignore case */
    CHECK(lt_dtype_from_name("F32") == LT_F32 && lt_dtype_from_name("Q4_K") == LT_Q4_K &&
          lt_dtype_from_name("IQ4_xs") == LT_IQ4_XS);
    /* GGML ids of types lathe does not read: Q8_1 9, Q8_K 15, IQ2_XXS 16, I32 26, F64 28, past the end */
    uint32_t ids[] = {9, 15, 16, 26, 28, 31, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        CHECKF(lt_dtype_from_gguf(ids[i]) == LT_DTYPE_COUNT, "GGUF type %u gives a dtype", ids[i]);
    const char *st[] = {"", "f32", "I8", "F64", "Q8_0", "q8_0", "i64"};
    for (size_t i = 0; i < sizeof st / sizeof *st; i++)
        CHECKF(lt_dtype_from_safetensors(st[i]) == LT_DTYPE_COUNT, "safetensors dtype '%s' gives a dtype", st[i]);
    CHECK(lt_dtype_from_safetensors(NULL) == LT_DTYPE_COUNT);
}

/* ---- row conversions ---------------------------------------------------------------------- */

#define NB 41 /* blocks per test row */
#define N (NB * 32)

/* Expected bytes of x as dtype t, element by element / block by block with lt_math.h. */
static void formula_from_f32(lt_dtype t, const float *x, void *row, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case LT_F32: memcpy((float *)row + i, x + i, 4); break;
        case LT_F16: ((uint16_t *)row)[i] = lt_f32_to_f16(x[i]); break;
        case LT_BF16: ((uint16_t *)row)[i] = lt_f32_to_bf16(x[i]); break;
        case LT_Q8_0:
            if (i % LT_QK8_0 == 0) lt_quant_q8_0(x + i, (lt_block_q8_0 *)row + i / LT_QK8_0);
            break;
        case LT_Q4_0:
            if (i % LT_QK4_0 == 0) lt_quant_q4_0(x + i, (lt_block_q4_0 *)row + i / LT_QK4_0);
            break;
        /* GGML's reference quantizers (quants.h; test_quants checks them against GGML), block by block */
        case LT_Q4_1:
            if (i % LT_QK32 == 0) lt_quantize_row_q4_1(x + i, (lt_block_q4_1 *)row + i / LT_QK32, LT_QK32);
            break;
        case LT_Q5_0:
            if (i % LT_QK32 == 0) lt_quantize_row_q5_0(x + i, (lt_block_q5_0 *)row + i / LT_QK32, LT_QK32);
            break;
        case LT_Q5_1:
            if (i % LT_QK32 == 0) lt_quantize_row_q5_1(x + i, (lt_block_q5_1 *)row + i / LT_QK32, LT_QK32);
            break;
        default: break;
        }
    }
}

/* Expected floats of row (dtype t), element by element with lt_math.h. */
static void formula_to_f32(lt_dtype t, const void *row, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case LT_F32: memcpy(y + i, (const float *)row + i, 4); break;
        case LT_F16: y[i] = lt_f16_to_f32(((const uint16_t *)row)[i]); break;
        case LT_BF16: y[i] = lt_bf16_to_f32(((const uint16_t *)row)[i]); break;
        case LT_Q8_0: y[i] = lt_q8_0_get((const lt_block_q8_0 *)row + i / LT_QK8_0, (int)(i % LT_QK8_0)); break;
        case LT_Q4_0: y[i] = lt_q4_0_get((const lt_block_q4_0 *)row + i / LT_QK4_0, (int)(i % LT_QK4_0)); break;
        default: y[i] = lt_quants_get(t, row, i); break; /* the lt_quants.h types */
        }
    }
}

/* Test inputs: normal values at scale, an all-zero block, a block of exact .5 ties; for the
 * unquantized types also subnormals, huge values, infinities, NaN and -0. */
static void make_input(lt_test_rng *r, float *x, float scale, bool specials) {
    lt_test_fill(r, x, N, scale);
    for (int i = 0; i < 32; i++) x[i] = 0.0f;
    for (int i = 32; i < 64; i++) x[i] = (float)(i - 48) * 0.5f;
    if (!specials) return;
    const float sp[] = {INFINITY, -INFINITY, NAN, -0.0f, 1e-8f, -3e-6f, 6e-5f, 65504.0f, 65520.0f, 1e30f, 3.4e38f,
                        1.17549435e-38f, 1e-45f, 5.9604645e-08f, 2.9802322e-08f};
    for (size_t i = 0; i < sizeof sp / sizeof *sp; i++) x[64 + 3 * i] = sp[i];
    for (int i = 0; i < 32; i++) { /* random bit patterns of every exponent */
        uint32_t u = lt_test_u32(r);
        memcpy(&x[N - 32 + i], &u, 4);
    }
}

/* The lt_quants.h types' round trips: |error| <= rel * (the block's max |x|) + levels * 2^-25
 * (levels: the largest multiple of the f16 scale an element can be, so that a scale rounded to
 * a subnormal f16, or to 0, stays in bound), from their worst case over 4000 rows of this test's
 * inputs (observed: q2_K 0.39, q3_K 0.24, iq4_nl 0.13, iq4_xs 0.13, q4_K 0.094, q5_K 0.055,
 * q6_K 0.019; the blocks are the types' own, 256 elements for the K-quants and iq4_xs). GGML's
 * bytes themselves are test_quants' business. False for the other dtypes. */
static bool quants_bound(lt_dtype t, double *rel, double *levels) {
    switch (t) {
    case LT_IQ4_NL: *rel = 0.16, *levels = 127; return true;
    case LT_Q2_K: *rel = 0.5, *levels = 60; return true;
    case LT_Q3_K: *rel = 0.3, *levels = 128; return true;
    case LT_IQ4_XS: *rel = 0.16, *levels = 4064; return true;
    case LT_Q4_K: *rel = 0.12, *levels = 1008; return true;
    case LT_Q5_K: *rel = 0.07, *levels = 2016; return true;
    case LT_Q6_K: *rel = 0.03, *levels = 4064; return true;
    case LT_GQ4_32:
    case LT_GQ4_64:
    case LT_GQ4_128: *rel = 0.07, *levels = 64; return true; /* min/max: half of (max - min) / 15 */
    /* 2:4 by magnitude: a pruned value is off by itself (<= the block's max); test_sparse24 checks
       the kept values and the masks */
    case LT_S24_F16: *rel = 1.0, *levels = 0; return true;
    case LT_S24_Q4: *rel = 1.0, *levels = 64; return true;
    default: return false;
    }
}

static void test_rows(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 17);
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *ye = malloc(N * sizeof *ye);
    float *yc = malloc(N * sizeof *yc);
    unsigned char *row = malloc(N * 4), *rowe = malloc(N * 4), *rowc = malloc(N * 4);
    for (int t0 = 0; t0 < LT_DTYPE_COUNT; t0++) {
        lt_dtype t = (lt_dtype)t0;
        const lt_dtype_traits *d = lt_dtype_info(t);
        if (!d->from_f32) continue;
        const int64_t n = N / d->block * d->block; /* 1280 for 256-element blocks */
        const size_t rb = lt_row_bytes(t, n);
        double rel = 0, levels = 0;
        const bool qt = quants_bound(t, &rel, &levels); /* no lt_math.h quantizer formula */
        for (int rep = 0; rep < 4; rep++) {
            make_input(&r, x, rep == 0 ? 1.0f : rep == 1 ? 1e-3f : rep == 2 ? 40.0f : 3e4f, !d->quantized);
            /* f32 -> dtype: the formulas' bytes, and the CPU backend's with SIMD on and off */
            memset(row, 0xa5, rb);
            lt_dtype_row_from_f32(t, x, row, n);
            if (!qt) {
                formula_from_f32(t, x, rowe, n);
                CHECKF(!memcmp(row, rowe, rb), "%s: f32 -> %s bytes differ from the formulas (rep %d)", d->name,
                       d->name, rep);
            }
            for (int simd = 0; simd < 2; simd++) {
                lt_cpu_set_simd(simd);
                lt_cpu_quant_row(t, x, rowc, n);
                CHECKF(!memcmp(row, rowc, rb), "%s: the table and lt_cpu_quant_row differ (simd %d)", d->name, simd);
            }
            /* dtype -> f32: the formulas' floats (bit for bit), and the CPU backend's */
            lt_dtype_row_to_f32(t, row, y, n);
            formula_to_f32(t, row, ye, n);
            CHECKF(!memcmp(y, ye, n * sizeof *y), "%s: %s -> f32 differs from the formulas (rep %d)", d->name, d->name,
                   rep);
            for (int simd = 0; simd < 2; simd++) {
                lt_cpu_set_simd(simd);
                lt_cpu_dequant_row(t, row, yc, n);
                CHECKF(!memcmp(y, yc, n * sizeof *y), "%s: the table and lt_cpu_dequant_row differ (simd %d)", d->name,
                       simd);
            }
            lt_cpu_set_simd(true);
            /* round trips */
            if (t == LT_F32) {
                CHECKF(!memcmp(x, y, N * sizeof *x), "f32 does not round-trip exactly");
            } else if (!d->quantized) {
                lt_dtype_row_from_f32(t, y, rowc, N);
                CHECKF(!memcmp(row, rowc, rb), "%s: a second trip through f32 changed the bytes", d->name);
            } else if (qt) {
                int bad = 0;
                for (int64_t b0 = 0; b0 < n; b0 += d->block) {
                    double amax = 0;
                    for (int j = 0; j < d->block; j++) amax = fmax(amax, fabs(x[b0 + j]));
                    if ((t == LT_S24_F16 || t == LT_S24_Q4) && amax >= 65504) continue; /* f16 values overflow */
                    const double bound = rel * amax + levels * ldexp(1, -25);
                    for (int j = 0; j < d->block; j++) bad += fabs((double)y[b0 + j] - x[b0 + j]) > bound;
                }
                CHECKF(bad == 0, "%s: %d values off by more than the quantization bound (rep %d)", d->name, bad, rep);
            } else {
                int bad = 0;
                for (int b = 0; b < NB; b++) {
                    double amax = 0, mn = INFINITY, mx = -INFINITY;
                    for (int j = 0; j < 32; j++) {
                        amax = fmax(amax, fabs(x[b * 32 + j]));
                        mn = fmin(mn, x[b * 32 + j]), mx = fmax(mx, x[b * 32 + j]);
                    }
                    /* half a step (q8_0: amax/127; q4_1, q5_1: (max - min)/15 or /31) or one step
                       (q4_0, q5_0: amax/8 or /16, the value opposite the max is clipped), plus the
                       f16 rounding of the scale (half an ulp, or 2^-25 where subnormal) per step and,
                       for the types with a min, that of the min */
                    const bool mins = t == LT_Q4_1 || t == LT_Q5_1;
                    if (mins && fabs(mn) >= 65520) continue; /* GGML's f16 min overflows to inf */
                    const double steps = t == LT_Q8_0 ? 127 : t == LT_Q4_0 ? 8 : t == LT_Q4_1 ? 15 : t == LT_Q5_0 ? 16 : 31;
                    const double step = (mins ? mx - mn : amax) / steps;
                    const double ds = fmax(step * ldexp(1, -11), ldexp(1, -25));
                    const double dm = mins ? fmax(fabs(mn) * ldexp(1, -11), ldexp(1, -25)) : 0.0;
                    const double half = t == LT_Q4_0 || t == LT_Q5_0 ? 1.0 : 0.5;
                    double bound = (half * step + steps * ds + dm) * (1 + 1e-6) + 1e-30;
                    for (int j = 0; j < 32; j++) bad += fabs((double)y[b * 32 + j] - x[b * 32 + j]) > bound;
                }
                CHECKF(bad == 0, "%s: %d values off by more than the quantization bound (rep %d)", d->name, bad, rep);
            }
        }
    }
    /* every f16 / bf16 bit pattern widens as the formulas say, and narrows back (NaN stays NaN) */
    static uint16_t all[65536], back[65536];
    static float wide[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    for (int k = 0; k < 4; k++) { /* f16 and bf16, fast paths off (bit for bit) and on (F16C quiets NaNs) */
        lt_dtype t = k & 1 ? LT_BF16 : LT_F16;
        bool simd = k >= 2;
        lt_cpu_set_simd(simd);
        lt_dtype_row_to_f32(t, all, wide, 65536);
        lt_dtype_row_from_f32(t, wide, back, 65536);
        lt_cpu_set_simd(true);
        int bad_wide = 0, bad_back = 0;
        for (int i = 0; i < 65536; i++) {
            float f = t == LT_BF16 ? lt_bf16_to_f32((uint16_t)i) : lt_f16_to_f32((uint16_t)i);
            bad_wide += simd && isnan(f) ? !isnan(wide[i]) : memcmp(&f, &wide[i], 4) != 0;
            bad_back += isnan(f) ? !isnan(t == LT_BF16 ? lt_bf16_to_f32(back[i]) : lt_f16_to_f32(back[i])) : back[i] != i;
        }
        CHECKF(bad_wide == 0, "%s: %d bit patterns widen differently from the formula", lt_dtype_name(t), bad_wide);
        CHECKF(bad_back == 0, "%s: %d bit patterns do not round-trip", lt_dtype_name(t), bad_back);
    }
    free(x), free(y), free(ye), free(yc), free(row), free(rowe), free(rowc);
}

int main(void) {
    test_layout();
    test_names();
    test_rows();
    return lt_test_done();
}
