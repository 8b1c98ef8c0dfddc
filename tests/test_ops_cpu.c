/* test_ops_cpu.c - every CPU kernel against a float64 naive implementation written here
 * (the kernels are kernels/cpu/<op>.c; test_ops_cuda.c then checks CUDA against them).
 *
 * Fresh random inputs (fixed seeds), odd sizes, every weight dtype, SIMD and portable
 * paths, 1/2/3 threads (results must be bit-identical across thread counts), f16/bf16
 * conversion exhaustively, GGML-identical quantization, paged attention with GQA and
 * shuffled block tables, and the public lt_op_* wrappers on a "cpu" backend (shape errors
 * are LT_EINVAL with a message, bad ids LT_ERANGE).
 *
 * Tolerances (relative to max |reference|):
 *   matmul f32/f16/bf16: 1e-5 (the weights are exact in f32; only f32 accumulation error,
 *     ~K * 2^-24 / sqrt(K) for K up to 2059; observed <= 1.4e-6).
 *   matmul q8_0/q4_0/q4_1/q5_0/q5_1: 2e-6 against the product of the dequantized weights and
 *     the activations as quantized to the weight type's partner, q8_0 or q8_1 (for q4_1/q5_1
 *     the min times the block's f16 sum s, as GGML; block sums are exact integers; only the
 *     f32 scaling and accumulation round; observed <= 5e-7), and 3e-2 against the unquantized
 *     activations (q8_0 rounding of x is up to 1/254 of each block's max; observed ~9e-3).
 *   matmul q4_K/q5_K/q6_K: the same bounds, against activations quantized to q8_K (observed
 *     <= 5e-7: the mins' sum is subtracted in f32, so a little more cancellation); q2_K, q3_K,
 *     iq4_xs (q8_K) and iq4_nl (q8_0) likewise.
 *   rmsnorm, silu_mul, rope, attention: 2e-6 (observed <= 2.6e-7); add: 2e-7.
 * The kernels timed alone: tests/bench_ops_cpu.c (build/bench_ops_cpu).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/alloc.h"
#include "core/backend/backend.h"
#include "kernels/cpu/cpu_impl.h" /* lt_cpu_quant_q8_K, the K-quants' activation quantizer */
#include "kernels/cpu/lt_cpu.h"
#include "testutil.h"

static lt_pool *g_pools[4]; /* index = threads; [0] = NULL pool */

/* ---- naive references ------------------------------------------------------------------------ */

static double h2d(uint16_t h) { /* half -> double from the definition */
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0) v = ldexp(m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* GGML quantize_row_q8_0_ref / quantize_row_q4_0_ref, written out independently */
static void ref_quant_q8_0(const float *x, lt_block_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) {
            float v = fabsf(x[i * 32 + j]);
            amax = amax > v ? amax : v;
        }
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lt_f32_to_f16(d);
        for (int j = 0; j < 32; j++) y[i].q[j] = (int8_t)roundf(x[i * 32 + j] * id);
    }
}

static void ref_quant_q4_0(const float *x, lt_block_q4_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            const float v = x[i * 32 + j];
            if (amax < fabsf(v)) {
                amax = fabsf(v);
                max = v;
            }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lt_f32_to_f16(d);
        for (int j = 0; j < 16; j++) {
            const float x0 = x[i * 32 + j] * id, x1 = x[i * 32 + 16 + j] * id;
            const int8_t a = (int8_t)(x0 + 8.5f), b = (int8_t)(x1 + 8.5f);
            const uint8_t xi0 = a < 15 ? a : 15, xi1 = b < 15 ? b : 15;
            y[i].q[j] = xi0 | (uint8_t)(xi1 << 4);
        }
    }
}

/* GGML quantize_row_q8_1_ref (the activations of q4_1 / q5_1 weights): q8_0's bytes plus
 * s = f16(d * sum of the block's q) */
static void ref_quant_q8_1(const float *x, lt_block_q8_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[i * 32 + j]));
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = lt_f32_to_f16(d);
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            y[i].qs[j] = (int8_t)roundf(x[i * 32 + j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = lt_f32_to_f16((float)sum * d);
    }
}

/* the types whose blocks carry a min (their activation partner is q8_1) and that min of block b
 * (bytes 2..3 after the f16 scale) */
static bool has_min(lt_dtype t) { return t == LT_Q4_1 || t == LT_Q5_1; }
static double ref_min(lt_dtype t, const void *row, int64_t b) {
    const uint8_t *blk = (const uint8_t *)row + b * (t == LT_Q4_1 ? 20 : 24);
    return h2d((uint16_t)(blk[2] | blk[3] << 8));
}

/* the 5-bit value of element j of a q5_0 / q5_1 block whose qh starts at qh and qs at qs */
static int ref_q5(const uint8_t *qh, const uint8_t *qs, int j) {
    const uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    return (j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4)) | (int)((h >> j & 1) << 4);
}

/* GGML's kvalues_iq4nl */
static const int k_iq4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* naive dequantization into doubles (exact: d * q + m; GGML's f32 formula rounds this once) */
static void ref_dequant(lt_dtype t, const void *src, double *dst, int64_t n) {
    const uint8_t *b = src;
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case LT_F32: dst[i] = ((const float *)src)[i]; break;
        case LT_F16: dst[i] = h2d(((const uint16_t *)src)[i]); break;
        case LT_BF16: {
            uint32_t u = (uint32_t)((const uint16_t *)src)[i] << 16;
            float f;
            memcpy(&f, &u, 4);
            dst[i] = f;
            break;
        }
        case LT_Q8_0: {
            const uint8_t *blk = b + (i / 32) * 34;
            dst[i] = h2d((uint16_t)(blk[0] | blk[1] << 8)) * (int8_t)blk[2 + i % 32];
            break;
        }
        case LT_Q4_0: {
            const uint8_t *blk = b + (i / 32) * 18;
            int j = (int)(i % 32);
            int q = j < 16 ? (blk[2 + j] & 15) : (blk[2 + j - 16] >> 4);
            dst[i] = h2d((uint16_t)(blk[0] | blk[1] << 8)) * (q - 8);
            break;
        }
        case LT_Q4_1: {
            const uint8_t *blk = b + (i / 32) * 20;
            int j = (int)(i % 32);
            int q = j < 16 ? (blk[4 + j] & 15) : (blk[4 + j - 16] >> 4);
            dst[i] = h2d((uint16_t)(blk[0] | blk[1] << 8)) * q + h2d((uint16_t)(blk[2] | blk[3] << 8));
            break;
        }
        case LT_Q5_0: {
            const uint8_t *blk = b + (i / 32) * 22;
            dst[i] = h2d((uint16_t)(blk[0] | blk[1] << 8)) * (ref_q5(blk + 2, blk + 6, (int)(i % 32)) - 16);
            break;
        }
        case LT_Q5_1: {
            const uint8_t *blk = b + (i / 32) * 24;
            dst[i] = h2d((uint16_t)(blk[0] | blk[1] << 8)) * ref_q5(blk + 4, blk + 8, (int)(i % 32)) +
                     h2d((uint16_t)(blk[2] | blk[3] << 8));
            break;
        }
        case LT_Q4_K:
        case LT_Q5_K: { /* d * scale * q - dmin * min, 6-bit scale/min pairs packed as GGML packs them */
            const bool five = t == LT_Q5_K;
            const uint8_t *blk = b + (i / 256) * (five ? 176 : 144);
            const int j = (int)(i % 256), c = j / 64, h = (j % 64) / 32, l = j % 32, s = 2 * c + h;
            const uint8_t *sc = blk + 4, *qh = blk + 16, *qs = blk + (five ? 48 : 16);
            const int scale = s < 4 ? sc[s] & 63 : (sc[s + 4] & 15) | ((sc[s - 4] >> 6) << 4);
            const int min = s < 4 ? sc[s + 4] & 63 : (sc[s + 4] >> 4) | ((sc[s] >> 6) << 4);
            int q = (qs[32 * c + l] >> (4 * h)) & 15;
            if (five) q += ((qh[l] >> s) & 1) << 4;
            dst[i] = h2d((uint16_t)(blk[0] | blk[1] << 8)) * scale * q - h2d((uint16_t)(blk[2] | blk[3] << 8)) * min;
            break;
        }
        case LT_Q6_K: { /* d * scale * (q - 32), 4 low bits in ql, 2 high bits in qh */
            const uint8_t *blk = b + (i / 256) * 210, *ql = blk, *qh = blk + 128;
            const int8_t *sc = (const int8_t *)(blk + 192);
            const int j = (int)(i % 256), n = j / 128, part = (j % 128) / 32, l = j % 32;
            const int lo = (ql[64 * n + 32 * (part % 2) + l] >> (4 * (part / 2))) & 15;
            const int hi = (qh[32 * n + l] >> (2 * part)) & 3;
            dst[i] = h2d((uint16_t)(blk[208] | blk[209] << 8)) * sc[j / 16] * ((lo | hi << 4) - 32);
            break;
        }
        case LT_Q2_K: { /* d * (scale & 15) * q - dmin * (scale >> 4), 2-bit q in 4 planes per 128 */
            const uint8_t *blk = b + (i / 256) * 84, *qs = blk + 16;
            const int j = (int)(i % 256), sc = blk[j / 16];
            const int q = (qs[32 * (j / 128) + j % 32] >> (2 * ((j % 128) / 32))) & 3;
            dst[i] = h2d((uint16_t)(blk[80] | blk[81] << 8)) * (sc & 15) * q - h2d((uint16_t)(blk[82] | blk[83] << 8)) * (sc >> 4);
            break;
        }
        case LT_Q3_K: { /* d * (scale - 32) * (q - 4 unless the hmask bit is set), 6-bit scales */
            const uint8_t *blk = b + (i / 256) * 110, *hm = blk, *qs = blk + 32, *sc = blk + 96;
            const int j = (int)(i % 256), h = j / 128, part = (j % 128) / 32, l = j % 32, s = j / 16;
            const int q = ((qs[32 * h + l] >> (2 * part)) & 3) - (((hm[l] >> (4 * h + part)) & 1) ? 0 : 4);
            const int scale = (s < 8 ? sc[s] & 15 : sc[s - 8] >> 4) | (((sc[8 + s % 4] >> (2 * (s / 4))) & 3) << 4);
            dst[i] = h2d((uint16_t)(blk[108] | blk[109] << 8)) * (scale - 32) * q;
            break;
        }
        case LT_IQ4_NL: { /* d * kvalues[nibble] */
            const uint8_t *blk = b + (i / 32) * 18;
            const int j = (int)(i % 32), nib = j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4;
            dst[i] = h2d((uint16_t)(blk[0] | blk[1] << 8)) * k_iq4[nib];
            break;
        }
        case LT_IQ4_XS: { /* d * (6-bit scale - 32) * kvalues[nibble] per 32 */
            const uint8_t *blk = b + (i / 256) * 136, *qs = blk + 8 + 16 * ((i % 256) / 32);
            const int ib = (int)(i % 256) / 32, j = (int)(i % 32), nib = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
            const int sh = blk[2] | blk[3] << 8;
            const int ls = ((blk[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
            dst[i] = h2d((uint16_t)(blk[0] | blk[1] << 8)) * (ls - 32) * k_iq4[nib];
            break;
        }
        default: break;
        }
    }
}

static bool is_kquant(lt_dtype t) { return t == LT_Q4_K || t == LT_Q5_K || t == LT_Q6_K; }
/* the types besides the K-quants above whose activations are q8_K: q2_K, q3_K, iq4_xs (iq4_nl takes q8_0), as in GGML */
static bool partner_q8_K(lt_dtype t) { return t == LT_Q2_K || t == LT_Q3_K || t == LT_IQ4_XS; }

static void set_threads_simd(bool simd) { lt_cpu_set_simd(simd); }

static bool same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

/* ---- f16 / bf16 ------------------------------------------------------------------------------- */

static bool is_nearest_half(float f, uint16_t h) {
    double v = f, got = h2d(h);
    if (fabs(v) >= 65520.0) return isinf(got) && (got > 0) == (v > 0);
    if (isinf(got)) return false;
    uint16_t mag = h & 0x7fff;
    double dn = mag > 0 ? h2d((uint16_t)((h & 0x8000) | (mag - 1))) : -got;
    double up = h2d((uint16_t)((h & 0x8000) | (mag + 1)));
    double e = fabs(v - got), e1 = fabs(v - dn), e2 = fabs(v - up);
    if (e > e1 || e > e2) return false;
    if ((e == e1 && mag > 0) || e == e2) return (h & 1) == 0; /* tie: even mantissa */
    return true;
}

static void test_half(void) {
    int bad_rt = 0, bad_val = 0, bad_simd = 0;
    static uint16_t all[65536];
    static float widened[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    lt_cpu_dequant_row(LT_F16, all, widened, 65536); /* SIMD path where available */
    for (int i = 0; i < 65536; i++) {
        float f = lt_f16_to_f32((uint16_t)i);
        double r = h2d((uint16_t)i);
        if (isnan(r) ? !isnan(f) : (double)f != r) bad_val++;
        uint16_t back = lt_f32_to_f16(f);
        if (isnan(r) ? ((back & 0x7c00) != 0x7c00 || !(back & 0x3ff)) : back != (uint16_t)i) bad_rt++;
        if (isnan(r) ? !isnan(widened[i]) : widened[i] != f) bad_simd++;
    }
    CHECKF(bad_val == 0, "%d halves widen wrongly", bad_val);
    CHECKF(bad_rt == 0, "%d halves do not round-trip", bad_rt);
    CHECKF(bad_simd == 0, "%d halves differ between the F16C and scalar paths", bad_simd);

    lt_test_rng r;
    lt_test_rng_seed(&r, 11);
    int bad_round = 0, bad_bf = 0;
    for (int i = 0; i < 200000; i++) {
        /* random sign, exponent in [-30, 17], random mantissa: covers subnormals, overflow */
        uint32_t u = (lt_test_u32(&r) & 0x807fffffu) | ((uint32_t)(127 - 30 + lt_test_u32(&r) % 48) << 23);
        if (i % 4 == 0) u &= 0xffffe000u | (1u << 12); /* exact ties and near-ties */
        float f;
        memcpy(&f, &u, 4);
        if (!is_nearest_half(f, lt_f32_to_f16(f))) {
            if (bad_round++ < 3) fprintf(stderr, "f16 rounding of %.9g gave %04x\n", f, lt_f32_to_f16(f));
        }
        /* bf16: nearest even among bf16 neighbours, computed in double */
        uint16_t b = lt_f32_to_bf16(f);
        double got = lt_bf16_to_f32(b), dn = lt_bf16_to_f32((uint16_t)(b - 1)), up = lt_bf16_to_f32((uint16_t)(b + 1));
        double e = fabs((double)f - got);
        if (e > fabs((double)f - dn) || e > fabs((double)f - up) ||
            ((e == fabs((double)f - dn) || e == fabs((double)f - up)) && (b & 1)))
            bad_bf++;
    }
    CHECKF(bad_round == 0, "%d floats round to the wrong half", bad_round);
    CHECKF(bad_bf == 0, "%d floats round to the wrong bfloat16", bad_bf);
    int bad_bfrt = 0;
    for (int i = 0; i < 65536; i++) {
        float f = lt_bf16_to_f32((uint16_t)i);
        if (!isnan(f) && lt_f32_to_bf16(f) != (uint16_t)i) bad_bfrt++;
    }
    CHECKF(bad_bfrt == 0, "%d bfloat16 values do not round-trip", bad_bfrt);
}

/* ---- quantization ------------------------------------------------------------------------------- */

/* The K-quants' activation quantizer (AVX2 and portable) writes the bytes of lt_quant_q8_K, which
 * test_quants checks against GGML's quantize_row_q8_K_ref: random blocks at three scales, an
 * all-zero block, the largest magnitude twice with both signs (the first one is the max), and
 * exact .5 ties for nearest_int (iscale = -2). */
static void test_quant_q8_K(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 5);
    const int64_t n = 256 * 12;
    float *x = malloc(n * sizeof *x);
    lt_block_q8_K *q = malloc(n / 256 * sizeof *q), *qr = malloc(n / 256 * sizeof *qr);
    for (int rep = 0; rep < 3; rep++) {
        lt_test_fill(&r, x, n, rep == 0 ? 1.0f : rep == 1 ? 1e-3f : 40.0f);
        for (int j = 0; j < 256; j++) x[j] = 0.0f;
        x[256 + 17] = -9.5f, x[256 + 200] = 9.5f;
        for (int j = 0; j < 256; j++) x[512 + j] = (float)(j - 128) * 0.25f;
        x[512] = 63.5f;
        for (int64_t b = 0; b < n / 256; b++) lt_quant_q8_K(x + 256 * b, qr + b);
        for (int simd = 0; simd < 2; simd++) {
            set_threads_simd(simd);
            memset(q, 0x55, n / 256 * sizeof *q);
            lt_cpu_quant_q8_K(x, q, n);
            CHECKF(same_bits(q, qr, n / 256 * sizeof *q), "q8_K differs from lt_quant_q8_K (simd %d, scale %d)", simd, rep);
        }
        set_threads_simd(true);
    }
    free(x), free(q), free(qr);
}

static void test_quant(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 3);
    const int64_t n = 32 * 257;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double *yd = malloc(n * sizeof *yd);
    lt_block_q8_0 *q8 = malloc(n / 32 * sizeof *q8), *q8r = malloc(n / 32 * sizeof *q8r);
    lt_block_q4_0 *q4 = malloc(n / 32 * sizeof *q4), *q4r = malloc(n / 32 * sizeof *q4r);
    for (int rep = 0; rep < 3; rep++) {
        lt_test_fill(&r, x, n, rep == 0 ? 1.0f : rep == 1 ? 1e-3f : 40.0f);
        for (int64_t i = 0; i < 32; i++) x[i] = 0.0f;     /* an all-zero block */
        for (int64_t i = 32; i < 64; i++) x[i] = (float)(i - 48) * 0.5f; /* exact .5 ties */
        ref_quant_q8_0(x, q8r, n);
        ref_quant_q4_0(x, q4r, n);
        for (int simd = 0; simd < 2; simd++) {
            set_threads_simd(simd);
            lt_cpu_quant_row(LT_Q8_0, x, q8, n);
            lt_cpu_quant_row(LT_Q4_0, x, q4, n);
            CHECKF(same_bits(q8, q8r, n / 32 * sizeof *q8), "q8_0 differs from GGML's reference (simd %d)", simd);
            CHECKF(same_bits(q4, q4r, n / 32 * sizeof *q4), "q4_0 differs from GGML's reference (simd %d)", simd);
        }
        set_threads_simd(true);
        /* dequantization matches the naive formula, and the round-trip error is bounded */
        lt_dtype ts[2] = {LT_Q8_0, LT_Q4_0};
        for (int k = 0; k < 2; k++) {
            const void *q = k == 0 ? (const void *)q8 : (const void *)q4;
            lt_cpu_dequant_row(ts[k], q, y, n);
            ref_dequant(ts[k], q, yd, n);
            int bad_deq = 0, bad_err = 0;
            for (int64_t b = 0; b < n / 32; b++) {
                double amax = 0;
                for (int j = 0; j < 32; j++) amax = fmax(amax, fabs(x[b * 32 + j]));
                /* q8_0: half a step of amax/127; q4_0: one step of amax/8 (the value opposite
                   the max is clipped to 7 steps); plus the rounding of the scale to f16:
                   the stored f16 scale is off by at most half an ulp (2^-11 relative, or 2^-25
                   absolute where it is subnormal), times at most 127 resp. 8 steps */
                double dsc = k == 0 ? amax / 127 : amax / 8;
                double dq = fmax(dsc * ldexp(1, -11), ldexp(1, -25));
                double bound = k == 0 ? 0.5 * dsc + 127 * dq : dsc + 8 * dq;
                bound = bound * (1 + 1e-6) + 1e-30;
                for (int j = 0; j < 32; j++) {
                    int64_t i = b * 32 + j;
                    if ((double)y[i] != yd[i]) bad_deq++;
                    if (fabs(y[i] - (double)x[i]) > bound) bad_err++;
                }
            }
            CHECKF(bad_deq == 0, "%s: %d dequantized values differ from the formula", lt_dtype_name(ts[k]), bad_deq);
            CHECKF(bad_err == 0, "%s: %d values exceed the round-trip bound", lt_dtype_name(ts[k]), bad_err);
        }
        /* f16 / bf16 rows equal the scalar conversions */
        uint16_t *h = malloc(n * 2);
        lt_cpu_quant_row(LT_F16, x, h, n);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) bad += h[i] != lt_f32_to_f16(x[i]);
        lt_cpu_quant_row(LT_BF16, x, h, n);
        for (int64_t i = 0; i < n; i++) bad += h[i] != lt_f32_to_bf16(x[i]);
        CHECKF(bad == 0, "%d f16/bf16 row elements differ from the scalar conversion", bad);
        free(h);
    }
    free(x), free(y), free(yd), free(q8), free(q8r), free(q4), free(q4r);
}

/* ---- matmul ------------------------------------------------------------------------------------- */

static void check_matmul(lt_dtype wt, int64_t T, int64_t N, int64_t K, bool with_bias, uint64_t seed) {
    lt_test_rng r;
    lt_test_rng_seed(&r, seed);
    float *x = malloc(T * K * sizeof *x), *wf = malloc(N * K * sizeof *wf), *bias = malloc(N * sizeof *bias);
    lt_test_fill(&r, x, T * K, 1.0f);
    lt_test_fill(&r, wf, N * K, 0.1f);
    lt_test_fill(&r, bias, N, 1.0f);
    if (wt != LT_F32 && wt != LT_F16 && wt != LT_BF16 && K >= 64)
        for (int64_t t = 0; t < T; t++) {
            /* activation blocks that catch a wrong roundf (d = 1: x * id = x; ties go away from
               zero, 0.49999997 down) and an all-zero block (d = 0) */
            const float edge[8] = {127.0f, 0.49999997f, 2.5f, -2.5f, -0.5f, 0.5f, 126.5f, -1.5f};
            memcpy(x + t * K, edge, sizeof edge);
            for (int j = 8; j < 32; j++) x[t * K + j] = (float)((j * 37 + (int)t) % 201 - 100) + 0.25f;
            memset(x + t * K + 32, 0, 32 * sizeof *x);
        }
    size_t wrow = lt_row_bytes(wt, K);
    char *w = malloc(N * wrow + 1);
    for (int64_t n = 0; n < N; n++) lt_cpu_quant_row(wt, wf + n * K, w + n * wrow, K);
    /* references */
    double *wd = malloc(N * K * sizeof *wd), *xd = malloc(T * K * sizeof *xd), *xqd = malloc(T * K * sizeof *xqd);
    for (int64_t n = 0; n < N; n++) ref_dequant(wt, w + n * wrow, wd + n * K, K);
    for (int64_t i = 0; i < T * K; i++) xd[i] = x[i];
    /* quantized weights dot activations quantized to their partner: q8_1 for the types with a
       min (whose part m * sum(x) GGML takes as m * s, s = the q8_1 block's f16 d * sum(q)),
       q8_0 for the others */
    const bool quant = wt != LT_F32 && wt != LT_F16 && wt != LT_BF16, mins = has_min(wt);
    const int64_t nb = K / 32;
    double *xs = calloc(T * nb + 1, sizeof *xs), *wm = calloc(N * nb + 1, sizeof *wm);
    if (is_kquant(wt) || partner_q8_K(wt)) { /* activations quantized to q8_K (checked against GGML by test_quants) */
        lt_block_q8_K xq;
        for (int64_t t = 0; t < T; t++)
            for (int64_t k = 0; k < K; k += 256) {
                lt_quant_q8_K(x + t * K + k, &xq);
                for (int j = 0; j < 256; j++) xqd[t * K + k + j] = (double)xq.d * xq.qs[j];
            }
    } else if (mins) {
        lt_block_q8_1 *xq = malloc(nb * sizeof *xq);
        for (int64_t t = 0; t < T; t++) {
            ref_quant_q8_1(x + t * K, xq, K);
            for (int64_t k = 0; k < K; k++) xqd[t * K + k] = h2d(xq[k / 32].d) * xq[k / 32].qs[k % 32];
            for (int64_t b = 0; b < nb; b++) xs[t * nb + b] = h2d(xq[b].s);
        }
        for (int64_t n = 0; n < N; n++)
            for (int64_t b = 0; b < nb; b++) wm[n * nb + b] = ref_min(wt, w + n * wrow, b);
        free(xq);
    } else if (quant) {
        lt_block_q8_0 *xq = malloc(nb * sizeof *xq);
        for (int64_t t = 0; t < T; t++) {
            ref_quant_q8_0(x + t * K, xq, K);
            ref_dequant(LT_Q8_0, xq, xqd + t * K, K);
        }
        free(xq);
    } else {
        memcpy(xqd, xd, T * K * sizeof *xd);
    }
    double *ref = malloc(T * N * sizeof *ref), *ref_x = malloc(T * N * sizeof *ref_x);
    for (int64_t t = 0; t < T; t++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0, s2 = 0;
            for (int64_t k = 0; k < K; k++) {
                const double m = mins ? wm[n * nb + k / 32] : 0.0; /* d * q = value - m, exactly */
                s += xqd[t * K + k] * (wd[n * K + k] - m), s2 += xd[t * K + k] * wd[n * K + k];
            }
            for (int64_t b = 0; mins && b < nb; b++) s += wm[n * nb + b] * xs[t * nb + b];
            ref[t * N + n] = s + (with_bias ? bias[n] : 0);
            ref_x[t * N + n] = s2 + (with_bias ? bias[n] : 0);
        }
    float *y[4], *ys = malloc(T * N * sizeof(float));
    for (int nt = 1; nt <= 3; nt++) {
        y[nt] = malloc(T * N * sizeof(float));
        lt_cpu_matmul_prepare(g_pools[nt], wt, T, K);
        lt_cpu_matmul(g_pools[nt], y[nt], x, w, wt, with_bias ? bias : NULL, T, N, K);
    }
    set_threads_simd(false);
    lt_cpu_matmul(NULL, ys, x, w, wt, with_bias ? bias : NULL, T, N, K);
    set_threads_simd(true);
    double e = lt_test_rel_err(y[1], ref, T * N), es = lt_test_rel_err(ys, ref, T * N);
    const double tol = quant ? 2e-6 : 1e-5;
    CHECKF(e <= tol, "matmul %s T=%lld N=%lld K=%lld: rel err %.3g", lt_dtype_name(wt), (long long)T, (long long)N,
           (long long)K, e);
    CHECKF(es <= tol, "matmul %s (portable path) T=%lld N=%lld K=%lld: rel err %.3g", lt_dtype_name(wt), (long long)T,
           (long long)N, (long long)K, es);
    if (quant) {
        double ex = lt_test_rel_err(y[1], ref_x, T * N);
        CHECKF(ex <= 3e-2, "matmul %s vs unquantized activations: rel err %.3g", lt_dtype_name(wt), ex);
    }
    for (int nt = 2; nt <= 3; nt++)
        CHECKF(same_bits(y[1], y[nt], T * N * sizeof(float)), "matmul %s T=%lld: %d threads differ from 1",
               lt_dtype_name(wt), (long long)T, nt);
    /* rows of a batch equal the same rows computed alone (decode vs verify): quantized
       weights at any T, f32/f16/bf16 below 8 rows (from there they go to sgemm) */
    if ((quant || T < 8) && T > 1) {
        float *y1 = malloc(N * sizeof *y1);
        int bad = 0;
        for (int64_t t = 0; t < T; t++) {
            lt_cpu_matmul(g_pools[2], y1, x + t * K, w, wt, with_bias ? bias : NULL, 1, N, K);
            bad += !same_bits(y1, y[1] + t * N, N * sizeof *y1);
        }
        CHECKF(bad == 0, "matmul %s T=%lld: %d batched rows differ from the row computed alone", lt_dtype_name(wt),
               (long long)T, bad);
        free(y1);
    }
    for (int nt = 1; nt <= 3; nt++) free(y[nt]);
    free(ys), free(x), free(wf), free(bias), free(w), free(wd), free(xd), free(xqd), free(ref), free(ref_x);
    free(xs), free(wm);
}

static void test_matmul(void) {
    const lt_dtype ts[8] = {LT_F32, LT_F16, LT_BF16, LT_Q8_0, LT_Q4_0, LT_Q4_1, LT_Q5_0, LT_Q5_1};
    const int64_t Ts[5] = {1, 3, 8, 17, 70};
    uint64_t seed = 100;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 5; j++) {
            bool quant = i >= 3;
            check_matmul(ts[i], Ts[j], 37, quant ? 96 : 99, j % 2 == 0, seed++);
            check_matmul(ts[i], Ts[j], 301, 160, j % 2 == 1, seed++);
        }
    check_matmul(LT_Q8_0, 2, 513, 1024, true, seed++);
    check_matmul(LT_F16, 1, 257, 2048 + 8 + 3, false, seed++);
    /* q4_1 / q5_0 / q5_1 (qdot_legacy.c): every batch size to 9 (tiles of 4 rows, then 1 to 3),
       and long rows with an odd number of blocks */
    const int64_t Tq[6] = {2, 4, 5, 6, 7, 9};
    for (int i = 5; i < 8; i++) {
        for (int j = 0; j < 6; j++) check_matmul(ts[i], Tq[j], 37, j % 2 ? 96 : 160, j % 2 == 0, seed++);
        check_matmul(ts[i], 2, 513, 1024 + 32, true, seed++);
    }
    /* the K-quants (K a multiple of 256): every batch size up to 9 (tiles of 4 and their
       remainders), 17 and 70 */
    const lt_dtype kt[3] = {LT_Q4_K, LT_Q5_K, LT_Q6_K};
    const int64_t kT[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 70};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 11; j++) {
            check_matmul(kt[i], kT[j], 37, 256, j % 2 == 0, seed++);
            check_matmul(kt[i], kT[j], 301, 768, j % 2 == 1, seed++);
        }
    check_matmul(LT_Q4_K, 1, 2048, 4096, false, seed++);
}

/* q2_K, q3_K, iq4_xs (q8_K partner, K a multiple of 256) and iq4_nl (q8_0 partner; 160 = an odd
   block count, GGML's scalar tail): batched rows against single rows for T = 1..9, 17, 70 */
static void test_matmul_k2(void) {
    const lt_dtype ts[4] = {LT_Q2_K, LT_Q3_K, LT_IQ4_XS, LT_IQ4_NL};
    const int64_t Ts[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 70};
    uint64_t seed = 900;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 11; j++) {
            const int64_t K = ts[i] == LT_IQ4_NL ? (j % 2 ? 160 : 576) : (j % 2 ? 256 : 768);
            check_matmul(ts[i], Ts[j], j % 3 ? 37 : 301, K, j % 2 == 0, seed++);
        }
}

/* ---- get_rows, rmsnorm, rope, silu_mul, add, argmax, kv_store --------------------------------------- */

/* y += alpha . (x . v^T) . v, v [R, K]: against float64; the same bits with 1, 2 or 3 threads and
 * in place (y = x); below 32 rows for any T (a row's result does not depend on the others);
 * without SIMD (its own dot products) against float64. R = 600 takes groups of more than 16
 * rows; T = 45 the sgemm path of long prompts. */
static void test_lowrank(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 47);
    const lt_dtype dts[3] = {LT_F32, LT_F16, LT_BF16};
    const int64_t Ks[3] = {437, 40, 437}, Rs[3] = {150, 600, 150}, Ts[3] = {19, 19, 45};
    for (int si = 0; si < 3; si++) {
        const int64_t K = Ks[si], R = Rs[si], T = Ts[si];
        float *v = malloc(R * K * 4), *x = malloc(T * K * 4), *y0 = malloc(T * K * 4), *y[5];
        uint16_t *vh = malloc(R * K * 2);
        double *ref = malloc(T * K * 8), *z = malloc(R * 8);
        for (int i = 0; i < 5; i++) y[i] = malloc(T * K * 4);
        lt_test_fill(&r, x, T * K, 1.0f);
        lt_test_fill(&r, y0, T * K, 1.0f);
        for (int di = 0; di < 3; di++) {
            lt_test_fill(&r, v, R * K, 0.5f / (float)sqrt((double)K));
            const void *vd = v;
            if (dts[di] != LT_F32) {
                for (int64_t i = 0; i < R * K; i++) vh[i] = dts[di] == LT_F16 ? lt_f32_to_f16(v[i]) : lt_f32_to_bf16(v[i]);
                for (int64_t i = 0; i < R * K; i++) v[i] = dts[di] == LT_F16 ? lt_f16_to_f32(vh[i]) : lt_bf16_to_f32(vh[i]);
                vd = vh;
            }
            for (int64_t t = 0; t < T; t++) {
                for (int64_t k = 0; k < R; k++) {
                    z[k] = 0;
                    for (int64_t i = 0; i < K; i++) z[k] += (double)x[t * K + i] * v[k * K + i];
                }
                for (int64_t j = 0; j < K; j++) {
                    double s = y0[t * K + j];
                    for (int64_t k = 0; k < R; k++) s -= 0.75 * z[k] * v[k * K + j];
                    ref[t * K + j] = s;
                }
            }
            for (int u = 0; u < 4; u++) { /* pools 1, 2, 3; then 1 thread without SIMD */
                memcpy(y[u], y0, T * K * 4);
                if (u == 3) set_threads_simd(false);
                lt_cpu_lowrank(g_pools[u < 3 ? u + 1 : 1], y[u], x, vd, dts[di], -0.75f, T, K, R);
                set_threads_simd(true);
            }
            for (int u = 0; u < 4; u += 3) {
                double e = lt_test_rel_err(y[u], ref, T * K);
                CHECKF(e <= 1e-5, "lowrank %s K=%lld R=%lld %s: rel err %.3g", lt_dtype_name(dts[di]), (long long)K,
                       (long long)R, u ? "portable" : "simd", e);
            }
            for (int u = 1; u < 3; u++)
                CHECKF(same_bits(y[0], y[u], T * K * 4), "lowrank %s: %d threads", lt_dtype_name(dts[di]), u + 1);
            if (T < 32) { /* one row alone gives the bits it gets in the batch */
                memcpy(y[2], y0 + 4 * K, 4 * K);
                lt_cpu_lowrank(g_pools[2], y[2], x + 4 * K, vd, dts[di], -0.75f, 1, K, R);
                CHECK(same_bits(y[2], y[0] + 4 * K, 4 * K));
            }
            /* in place: y = x updated through its own values */
            memcpy(y[3], x, T * K * 4), memcpy(y[4], x, T * K * 4);
            lt_cpu_lowrank(g_pools[2], y[3], y[3], vd, dts[di], -0.75f, T, K, R);
            lt_cpu_lowrank(g_pools[2], y[4], x, vd, dts[di], -0.75f, T, K, R);
            CHECK(same_bits(y[3], y[4], T * K * 4));
        }
        for (int i = 0; i < 5; i++) free(y[i]);
        free(v), free(x), free(y0), free(vh), free(ref), free(z);
    }
}

static void test_get_rows(void) {
    const lt_dtype ts[8] = {LT_F32, LT_F16, LT_BF16, LT_Q8_0, LT_Q4_0, LT_Q4_1, LT_Q5_0, LT_Q5_1};
    lt_test_rng r;
    lt_test_rng_seed(&r, 21);
    const int64_t R = 50, D = 2048 + 64; /* large enough to use the pool */
    float *tf = malloc(R * D * sizeof *tf), *y = malloc(20 * D * sizeof *y);
    double *yd = malloc(D * sizeof *yd);
    lt_test_fill(&r, tf, R * D, 1.0f);
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = (int32_t)(lt_test_u32(&r) % R);
    ids[3] = 0, ids[4] = R - 1;
    for (int k = 0; k < 8; k++) {
        size_t rb = lt_row_bytes(ts[k], D);
        char *tab = malloc(R * rb);
        for (int64_t i = 0; i < R; i++) lt_cpu_quant_row(ts[k], tf + i * D, tab + i * rb, D);
        for (int nt = 1; nt <= 2; nt++) {
            lt_cpu_get_rows(g_pools[nt], y, tab, ts[k], D, ids, 20);
            int bad = 0;
            for (int i = 0; i < 20; i++) {
                ref_dequant(ts[k], tab + ids[i] * rb, yd, D);
                /* GGML's f32 formulas round the exact value once (d * q is exact in f32) */
                for (int64_t j = 0; j < D; j++) bad += y[i * D + j] != (float)yd[j];
            }
            CHECKF(bad == 0, "get_rows %s (%d threads): %d values differ", lt_dtype_name(ts[k]), nt, bad);
        }
        free(tab);
    }
    free(tf), free(y), free(yd);
}

static void test_rmsnorm(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 31);
    const int64_t Ts[3] = {1, 3, 17}, D = 1000 + 3;
    float *x = malloc(17 * D * 4), *w = malloc(D * 4), *y[3], *yin = malloc(17 * D * 4);
    double *ref = malloc(17 * D * 8);
    lt_test_fill(&r, w, D, 1.0f);
    for (int a = 0; a < 3; a++) {
        int64_t T = Ts[a];
        for (int64_t t = 0; t < T; t++) /* small rows make eps matter */
            lt_test_fill(&r, x + t * D, D, t % 2 ? 3.0f : 3e-3f);
        for (int64_t t = 0; t < T; t++) {
            double ss = 0;
            for (int64_t j = 0; j < D; j++) ss += (double)x[t * D + j] * x[t * D + j];
            double inv = 1.0 / sqrt(ss / D + 1e-5);
            for (int64_t j = 0; j < D; j++) ref[t * D + j] = (double)w[j] * inv * x[t * D + j];
        }
        for (int nt = 1; nt <= 2; nt++) {
            y[nt] = malloc(T * D * 4);
            lt_cpu_rmsnorm(g_pools[nt], y[nt], x, w, T, D, 1e-5f);
        }
        double e = lt_test_rel_err(y[1], ref, T * D);
        CHECKF(e <= 2e-6, "rmsnorm T=%lld: rel err %.3g", (long long)T, e);
        CHECK(same_bits(y[1], y[2], T * D * 4));
        memcpy(yin, x, T * D * 4); /* in place (y aliases x) */
        lt_cpu_rmsnorm(g_pools[2], yin, yin, w, T, D, 1e-5f);
        CHECK(same_bits(yin, y[1], T * D * 4));
        free(y[1]), free(y[2]);
    }
    free(x), free(w), free(yin), free(ref);
}

static void test_rope(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 41);
    const int H = 5, Dh = 48;
    const int64_t T = 40;
    float *x = malloc(T * H * Dh * 4), *y = malloc(T * H * Dh * 4), *y2 = malloc(T * H * Dh * 4), freqs[24];
    double *ref = malloc(T * H * Dh * 8);
    int32_t pos[40];
    for (int i = 0; i < Dh / 2; i++) freqs[i] = 1.0f / powf(10000.0f, (2 * i) / (float)Dh);
    for (int64_t t = 0; t < T; t++) pos[t] = t < 3 ? (int32_t)t : (int32_t)(lt_test_u32(&r) % 5000);
    lt_test_fill(&r, x, T * H * Dh, 1.0f);
    for (int mode = 0; mode < 8; mode++) { /* neox or pairs; all dimensions or the first 20 (partial); scale */
        int neox = mode & 1, n_rot = mode & 2 ? 20 : Dh;
        float sc = mode & 4 ? 1.25f : 1.0f; /* the attention factor: rotated dimensions only */
        for (int64_t k = 0; k < T * H * Dh; k++) ref[k] = x[k];
        for (int64_t t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < n_rot / 2; i++) {
                    const float val = (float)pos[t] * freqs[i]; /* the float angle, as llama2.c */
                    double c = cos((double)val) * sc, s = sin((double)val) * sc;
                    int i0 = neox ? i : 2 * i, i1 = neox ? i + n_rot / 2 : 2 * i + 1;
                    const float *v = x + (t * H + h) * Dh;
                    ref[(t * H + h) * Dh + i0] = v[i0] * c - v[i1] * s;
                    ref[(t * H + h) * Dh + i1] = v[i0] * s + v[i1] * c;
                }
        memcpy(y, x, T * H * Dh * 4);
        memcpy(y2, x, T * H * Dh * 4);
        lt_cpu_rope(g_pools[1], y, pos, freqs, T, H, Dh, n_rot, neox, sc);
        lt_cpu_rope(g_pools[2], y2, pos, freqs, T, H, Dh, n_rot, neox, sc);
        double e = lt_test_rel_err(y, ref, T * H * Dh);
        CHECKF(e <= 2e-6, "rope neox=%d n_rot=%d scale=%g: rel err %.3g", neox, n_rot, sc, e);
        CHECK(same_bits(y, y2, T * H * Dh * 4));
    }
    free(x), free(y), free(y2), free(ref);
}

static void test_elementwise(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 51);
    const int64_t n = 70001;
    float *a = malloc(n * 4), *b = malloc(n * 4), *y1 = malloc(n * 4), *y2 = malloc(n * 4);
    double *ref = malloc(n * 8);
    lt_test_fill(&r, a, n, 4.0f);
    lt_test_fill(&r, b, n, 1.0f);
    for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] / (1.0 + exp(-(double)a[i])) * b[i];
    lt_cpu_silu_mul(g_pools[1], y1, a, b, n);
    lt_cpu_silu_mul(g_pools[2], y2, a, b, n);
    double e = lt_test_rel_err(y1, ref, n);
    CHECKF(e <= 2e-6, "silu_mul: rel err %.3g", e);
    CHECK(same_bits(y1, y2, n * 4));
    for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] + b[i];
    lt_cpu_add(g_pools[1], y1, a, b, n);
    lt_cpu_add(g_pools[2], y2, a, b, n);
    e = lt_test_rel_err(y1, ref, n);
    CHECKF(e <= 2e-7, "add: rel err %.3g", e);
    CHECK(same_bits(y1, y2, n * 4));
    memcpy(y2, a, n * 4); /* aliasing: y = a */
    lt_cpu_add(g_pools[2], y2, y2, b, n);
    CHECK(same_bits(y1, y2, n * 4));

    /* argmax: lowest index on ties */
    const int64_t T = 5, N = 32003;
    float *x = malloc(T * N * 4);
    lt_test_fill(&r, x, T * N, 1.0f);
    int32_t want[5], got1[5], got2[5];
    for (int64_t t = 0; t < T; t++) {
        int64_t m = (int64_t)(lt_test_u32(&r) % N);
        x[t * N + m] = 100.0f;
        if (t % 2 == 0) x[t * N + N - 1] = 100.0f; /* a tie after it */
        if (t == 1) x[t * N + 0] = 100.0f, m = 0;   /* a tie at index 0 */
        want[t] = (int32_t)m;
    }
    lt_cpu_argmax(g_pools[1], got1, x, T, N);
    lt_cpu_argmax(g_pools[2], got2, x, T, N);
    CHECK(memcmp(got1, want, sizeof want) == 0 && memcmp(got2, want, sizeof want) == 0);
    /* NaN is never chosen, also at index 0; a row of only NaN gives 0 */
    float nrow[6] = {NAN, 1.0f, NAN, 3.0f, -2.0f, 3.0f}, nans[3] = {NAN, NAN, NAN};
    int32_t gi;
    lt_cpu_argmax(NULL, &gi, nrow, 1, 6);
    CHECK(gi == 3);
    lt_cpu_argmax(NULL, &gi, nans, 1, 3);
    CHECK(gi == 0);
    free(a), free(b), free(y1), free(y2), free(ref), free(x);
}

static void test_kv_store(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 61);
    const int64_t rows = 64, W = 40, T = 5;
    int32_t slots[5] = {17, 3, 63, 0, 40};
    float k[5 * 40], v[5 * 40];
    lt_test_fill(&r, k, T * W, 1.0f);
    lt_test_fill(&r, v, T * W, 1.0f);
    for (int f16 = 0; f16 < 2; f16++) {
        lt_dtype kvt = f16 ? LT_F16 : LT_F32;
        size_t es = f16 ? 2 : 4;
        char *kc = malloc(rows * W * es), *vc = malloc(rows * W * es);
        memset(kc, 0x5a, rows * W * es);
        memset(vc, 0x5a, rows * W * es);
        lt_cpu_kv_store(g_pools[2], kc, vc, kvt, W, k, v, slots, T);
        int bad = 0, touched = 0;
        for (int64_t row = 0; row < rows; row++) {
            int t = -1;
            for (int i = 0; i < T; i++)
                if (slots[i] == row) t = i;
            for (int64_t j = 0; j < W; j++) {
                if (t < 0) {
                    touched += ((unsigned char)kc[(row * W + j) * es] != 0x5a) + ((unsigned char)vc[(row * W + j) * es] != 0x5a);
                    continue;
                }
                float kk = f16 ? lt_f16_to_f32(((uint16_t *)kc)[row * W + j]) : ((float *)kc)[row * W + j];
                float vv = f16 ? lt_f16_to_f32(((uint16_t *)vc)[row * W + j]) : ((float *)vc)[row * W + j];
                float ek = f16 ? lt_f16_to_f32(lt_f32_to_f16(k[t * W + j])) : k[t * W + j];
                float ev = f16 ? lt_f16_to_f32(lt_f32_to_f16(v[t * W + j])) : v[t * W + j];
                bad += kk != ek || vv != ev;
            }
        }
        CHECKF(bad == 0 && touched == 0, "kv_store %s: %d wrong values, %d other rows touched", lt_dtype_name(kvt), bad,
               touched);
        free(kc), free(vc);
    }
}

/* ---- attention --------------------------------------------------------------------------------- */

static void test_attention(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 71);
    const int H = 6, KVH = 2, bs = 16, MB = 24, S = 3;
    const int dims[2] = {40, 64};
    for (int di = 0; di < 2; di++) {
        const int Dh = dims[di];
        const int n_blocks = S * MB;
        const int64_t W = (int64_t)KVH * Dh, rows = (int64_t)n_blocks * bs;
        /* block tables: a shuffled permutation of all blocks */
        int32_t perm[72], bt[3 * 24];
        for (int i = 0; i < n_blocks; i++) perm[i] = i;
        for (int i = n_blocks - 1; i > 0; i--) {
            int j = (int)(lt_test_u32(&r) % (i + 1));
            int32_t tmp = perm[i];
            perm[i] = perm[j], perm[j] = tmp;
        }
        memcpy(bt, perm, sizeof bt);
        /* tokens: contexts 1, non-multiples of bs, a full block, long ones */
        int32_t tok_seq[9] = {0, 0, 0, 1, 1, 2, 2, 2, 2}, tok_ctx[9] = {1, 2, 17, 16, 33, 300, 301, 383, 5};
        const int64_t T = 9;
        float *q = malloc(T * H * Dh * 4), *out1 = malloc(T * H * Dh * 4), *out2 = malloc(T * H * Dh * 4);
        float *outs = malloc(T * H * Dh * 4);
        float *kf = malloc(rows * W * 4), *vf = malloc(rows * W * 4);
        lt_test_fill(&r, q, T * H * Dh, 1.0f);
        lt_test_fill(&r, kf, rows * W, 1.0f);
        lt_test_fill(&r, vf, rows * W, 1.0f);
        /* f32 and f16 caches, without and with a sliding window (starting inside a block;
           longer than a chunk of scores) */
        for (int combo = 0; combo < 6; combo++) {
            const int f16 = combo & 1, win = (int[]){0, 37, 200}[combo >> 1];
            lt_dtype kvt = f16 ? LT_F16 : LT_F32;
            void *kc = kf, *vc = vf;
            uint16_t *kh = NULL, *vh = NULL;
            if (f16) {
                kh = malloc(rows * W * 2), vh = malloc(rows * W * 2);
                lt_cpu_quant_row(LT_F16, kf, kh, rows * W);
                lt_cpu_quant_row(LT_F16, vf, vh, rows * W);
                kc = kh, vc = vh;
            }
            double *ref = malloc(T * H * Dh * 8), *sc = malloc(400 * 8), ref_lse[9 * 6];
            const float scale = 1.0f / sqrtf((float)Dh);
            for (int64_t t = 0; t < T; t++)
                for (int h = 0; h < H; h++) {
                    int kvh = h / (H / KVH);
                    const float *qq = q + (t * H + h) * Dh;
                    double mx = -INFINITY, sum = 0;
                    const int first = win && tok_ctx[t] > win ? tok_ctx[t] - win : 0;
                    for (int p = first; p < tok_ctx[t]; p++) {
                        int64_t row = (int64_t)bt[tok_seq[t] * MB + p / bs] * bs + p % bs;
                        double s = 0;
                        for (int i = 0; i < Dh; i++) {
                            double kk = f16 ? h2d(kh[row * W + kvh * Dh + i]) : kf[row * W + kvh * Dh + i];
                            s += qq[i] * kk;
                        }
                        sc[p] = s * scale;
                        mx = fmax(mx, sc[p]);
                    }
                    for (int p = first; p < tok_ctx[t]; p++) sum += (sc[p] = exp(sc[p] - mx));
                    ref_lse[t * H + h] = mx + log(sum);
                    for (int i = 0; i < Dh; i++) {
                        double acc = 0;
                        for (int p = first; p < tok_ctx[t]; p++) {
                            int64_t row = (int64_t)bt[tok_seq[t] * MB + p / bs] * bs + p % bs;
                            double vv = f16 ? h2d(vh[row * W + kvh * Dh + i]) : vf[row * W + kvh * Dh + i];
                            acc += sc[p] * vv;
                        }
                        ref[(t * H + h) * Dh + i] = acc / sum;
                    }
                }
            lt_cpu_attn_args a = {.out = out1, .q = q, .kc = kc, .vc = vc, .kvt = kvt, .tok_seq = tok_seq,
                                  .tok_ctx = tok_ctx, .block_tables = bt, .T = T, .max_blocks = MB, .n_heads = H,
                                  .n_kv_heads = KVH, .head_dim = Dh, .block_size = bs, .scale = scale,
                                  .window = win};
            lt_cpu_attention(g_pools[1], &a);
            a.out = out2;
            lt_cpu_attention(g_pools[2], &a);
            set_threads_simd(false);
            a.out = outs;
            lt_cpu_attention(g_pools[2], &a);
            set_threads_simd(true);
            double e = lt_test_rel_err(out1, ref, T * H * Dh), es = lt_test_rel_err(outs, ref, T * H * Dh);
            CHECKF(e <= 2e-6, "attention Dh=%d %s window %d: rel err %.3g", Dh, lt_dtype_name(kvt), win, e);
            CHECKF(es <= 2e-6, "attention Dh=%d %s window %d (portable): rel err %.3g", Dh, lt_dtype_name(kvt), win,
                   es);
            CHECK(same_bits(out1, out2, T * H * Dh * 4));
            /* a token's result depends neither on the batch nor on how heads are grouped into
               work items: the first two tokens alone on 3 threads (one head per item there, a
               GQA group per item above) */
            a.out = out2;
            a.T = 2;
            lt_cpu_attention(g_pools[3], &a);
            CHECK(same_bits(out1, out2, 2 * H * Dh * 4));
            a.T = T;
            /* partial attention: the blocks split at random between two parts (negative
               entries skipped), each part's output and lse merged by log-sum-exp equal the
               whole; the whole's lse is max + log(sum) of the reference */
            {
                int32_t btA[3 * 24], btB[3 * 24];
                for (int i = 0; i < S * MB; i++) {
                    bool inA = lt_test_u32(&r) & 1;
                    btA[i] = inA ? bt[i] : -1;
                    btB[i] = inA ? -1 : bt[i];
                }
                float *oA = malloc(T * H * Dh * 4), *oB = malloc(T * H * Dh * 4), lA[9 * 6], lB[9 * 6], lW[9 * 6];
                lt_cpu_attn_args pa = a;
                pa.out = oA, pa.lse = lA, pa.block_tables = btA;
                lt_cpu_attention(g_pools[2], &pa);
                pa.out = oB, pa.lse = lB, pa.block_tables = btB;
                lt_cpu_attention(g_pools[1], &pa);
                lt_cpu_attn_merge(oA, lA, oB, lB, T, H, Dh);
                double ep = lt_test_rel_err(oA, ref, T * H * Dh);
                CHECKF(ep <= 4e-6, "split attention Dh=%d %s window %d: rel err %.3g", Dh, lt_dtype_name(kvt), win, ep);
                pa = a;
                pa.out = out2, pa.lse = lW;
                lt_cpu_attention(g_pools[2], &pa);
                CHECK(same_bits(out1, out2, T * H * Dh * 4)); /* asking for lse changes nothing */
                double lmax = 0;
                for (int i = 0; i < T * H; i++)
                    lmax = fmax(lmax, fmax(fabs(lW[i] - ref_lse[i]), fabs(lA[i] - ref_lse[i])));
                CHECKF(lmax <= 1e-5, "attention lse Dh=%d %s window %d: abs err %.3g", Dh, lt_dtype_name(kvt), win,
                       lmax);
                /* a part that sees no position: output 0, lse -inf, and the merge takes the other */
                int32_t none[3 * 24];
                for (int i = 0; i < S * MB; i++) none[i] = -1;
                pa = a;
                pa.out = oB, pa.lse = lB, pa.block_tables = none;
                lt_cpu_attention(g_pools[1], &pa);
                CHECK(lB[0] == -INFINITY && oB[0] == 0.0f && lB[T * H - 1] == -INFINITY);
                memcpy(oA, out1, T * H * Dh * 4);
                memcpy(lA, lW, sizeof lA);
                lt_cpu_attn_merge(oA, lA, oB, lB, T, H, Dh);
                CHECK(same_bits(oA, out1, T * H * Dh * 4) && same_bits(lA, lW, sizeof lA));
                free(oA), free(oB);
            }
            /* context 1 returns exactly the first value row of the head */
            for (int h = 0; h < H; h++) {
                int64_t row = (int64_t)bt[0] * bs;
                double want = f16 ? h2d(vh[row * W + (h / 3) * Dh + 5]) : vf[row * W + (h / 3) * Dh + 5];
                CHECK(out1[h * Dh + 5] == (float)want);
            }
            free(ref), free(sc), free(kh), free(vh);
        }
        free(q), free(out1), free(out2), free(outs), free(kf), free(vf);
    }
}

/* a prompt by GEMMs (args.prompt_gemm: one sequence's consecutive positions, tiles of 64 queries)
 * against the per-token path: a continued prompt (contexts 101..290, three tiles and a partial
 * one) over shuffled blocks, f32 and f16 caches, with and without a sliding window */
static void test_attention_prompt(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 72);
    enum { H = 6, KVH = 2, Dh = 64, bs = 16, MB = 24, T = 190 };
    const int64_t W = (int64_t)KVH * Dh, rows = (int64_t)MB * bs;
    int32_t bt[MB], seq[T], ctx[T];
    for (int i = 0; i < MB; i++) bt[i] = i;
    for (int i = MB - 1; i > 0; i--) {
        int j = (int)(lt_test_u32(&r) % (i + 1));
        int32_t x = bt[i];
        bt[i] = bt[j], bt[j] = x;
    }
    for (int t = 0; t < T; t++) seq[t] = 0, ctx[t] = 101 + t;
    float *q = malloc((size_t)T * H * Dh * 4), *o1 = malloc((size_t)T * H * Dh * 4), *o2 = malloc((size_t)T * H * Dh * 4);
    float *kf = malloc(rows * W * 4), *vf = malloc(rows * W * 4);
    uint16_t *kh = malloc(rows * W * 2), *vh = malloc(rows * W * 2);
    lt_test_fill(&r, q, (int64_t)T * H * Dh, 1.0f);
    lt_test_fill(&r, kf, rows * W, 1.0f);
    lt_test_fill(&r, vf, rows * W, 1.0f);
    lt_cpu_quant_row(LT_F16, kf, kh, rows * W);
    lt_cpu_quant_row(LT_F16, vf, vh, rows * W);
    for (int combo = 0; combo < 4; combo++) {
        const int f16 = combo & 1, win = combo >> 1 ? 37 : 0;
        lt_cpu_attn_args a = {.out = o1, .q = q, .kc = f16 ? (void *)kh : kf, .vc = f16 ? (void *)vh : vf,
                              .kvt = f16 ? LT_F16 : LT_F32, .tok_seq = seq, .tok_ctx = ctx, .block_tables = bt, .T = T,
                              .max_blocks = MB, .n_heads = H, .n_kv_heads = KVH, .head_dim = Dh, .block_size = bs,
                              .scale = 0.125f, .window = win};
        lt_cpu_attention(g_pools[2], &a);
        a.out = o2, a.prompt_gemm = true;
        lt_cpu_attention(g_pools[2], &a);
        double worst = 0, mag = 0;
        for (int64_t i = 0; i < (int64_t)T * H * Dh; i++) worst = fmax(worst, fabs((double)o1[i] - o2[i])), mag = fmax(mag, fabs(o1[i]));
        CHECKF(worst <= 1e-5 * mag, "prompt by GEMMs, %s window %d: max diff %.3g (max %.3g)", f16 ? "f16" : "f32", win,
               worst, mag);
    }
    free(q), free(o1), free(o2), free(kf), free(vf), free(kh), free(vh);
}

/* ---- thread pool -------------------------------------------------------------------------------- */

typedef struct count_ctx {
    int hits[8];
    int nth[8];
} count_ctx;

static void count_job(void *arg, int ith, int nth) {
    count_ctx *c = arg;
    c->hits[ith]++;
    c->nth[ith] = nth;
}

static void test_pool(void) {
    count_ctx c = {{0}, {0}};
    for (int i = 0; i < 1000; i++) lt_pool_run(g_pools[3], count_job, &c);
    /* slots must each run once even when workers have gone to sleep (futex path) */
    struct timespec ms = {0, 2000000};
    for (int i = 0; i < 5; i++) {
        nanosleep(&ms, NULL);
        lt_pool_run(g_pools[3], count_job, &c);
    }
    CHECK(c.nth[0] == 3 && c.nth[2] == 3 && c.hits[0] == 1005 && c.hits[1] == 1005 && c.hits[2] == 1005);
    memset(&c, 0, sizeof c);
    lt_pool_run(NULL, count_job, &c);
    CHECK(c.nth[0] == 1 && c.hits[0] == 1);
    CHECK(lt_pool_threads(g_pools[2]) == 2 && lt_pool_threads(NULL) == 1);
    lt_pool_free(NULL);
}

/* ---- through the backend ------------------------------------------------------------------------ */

static void test_backend(void) {
    lt_err err = {0};
    lt_backend *be = NULL;
    lt_backend_opts o = {.n_threads = 2};
    CHECK(lt_backend_create(&be, "cpu", &o, &err) == LT_OK);
    if (!be) return;
    CHECK(!strcmp(lt_backend_name(be), "cpu") && lt_backend_is_host(be) && lt_backend_threads(be) == 2);
    CHECKF(strstr(lt_backend_device(be), "2 threads") != NULL, "device '%s'", lt_backend_device(be));
    size_t fr = 0, tot = 0;
    CHECK(lt_backend_mem_info(be, &fr, &tot, &err) == LT_OK && tot > 0 && fr <= tot);

    lt_arena *ar = NULL;
    CHECK(lt_arena_create(&ar, be, 1 << 20, LT_MEM_SCRATCH, &err) == LT_OK);
    lt_tensor x, w, wq, y, y2, bias, ids;
    int64_t sx[2] = {3, 64}, sw[2] = {5, 64}, sy[2] = {3, 5}, sb[1] = {5}, si[1] = {2};
    CHECK(lt_arena_tensor(ar, &x, LT_F32, 2, sx, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &w, LT_F32, 2, sw, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &wq, LT_Q8_0, 2, sw, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &y, LT_F32, 2, sy, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &y2, LT_F32, 2, sy, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &bias, LT_F32, 1, sb, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &ids, LT_I32, 1, si, &err) == LT_OK);
    lt_test_rng r;
    lt_test_rng_seed(&r, 81);
    float hx[3 * 64], hw[5 * 64], hb[5], hy[15], hy2[15];
    lt_test_fill(&r, hx, 3 * 64, 1.0f);
    lt_test_fill(&r, hw, 5 * 64, 1.0f);
    lt_test_fill(&r, hb, 5, 1.0f);
    CHECK(lt_tensor_set(&x, hx, sizeof hx, &err) == LT_OK);
    CHECK(lt_tensor_set(&w, hw, sizeof hw, &err) == LT_OK);
    CHECK(lt_tensor_set(&bias, hb, sizeof hb, &err) == LT_OK);
    CHECK(lt_op_matmul(be, &y, &x, &w, &bias, &err) == LT_OK);
    CHECK(lt_tensor_get(&y, hy, sizeof hy, &err) == LT_OK);
    lt_cpu_matmul(NULL, hy2, hx, hw, LT_F32, hb, 3, 5, 64);
    CHECK(lt_test_rel_err_ff(hy, hy2, 15) <= 1e-6);
    /* convert to q8_0 and multiply: equals the raw kernel on the same bytes */
    CHECK(lt_op_convert(be, &wq, &w, &err) == LT_OK);
    CHECK(lt_op_matmul(be, &y2, &x, &wq, NULL, &err) == LT_OK);
    CHECK(lt_tensor_get(&y2, hy, sizeof hy, &err) == LT_OK);
    lt_cpu_matmul(NULL, hy2, hx, wq.data, LT_Q8_0, NULL, 3, 5, 64);
    CHECK(same_bits(hy, hy2, sizeof hy));
    /* lowrank: x -= (x . w^T) . w in place (w [5, 64] the factor), the raw kernel's bits; quantized
       factors and partly overlapping outputs refused */
    float hx2[3 * 64];
    memcpy(hx2, hx, sizeof hx);
    CHECK(lt_op_lowrank(be, &x, &x, &w, -1.0f, &err) == LT_OK);
    CHECK(lt_tensor_get(&x, hx, sizeof hx, &err) == LT_OK);
    lt_cpu_lowrank(NULL, hx2, hx2, hw, LT_F32, -1.0f, 3, 64, 5);
    CHECK(same_bits(hx, hx2, sizeof hx));
    lt_err_clear(&err);
    CHECK(lt_op_lowrank(be, &x, &x, &wq, -1.0f, &err) == LT_EINVAL);
    CHECKF(strstr(err.msg, "lowrank") && strstr(err.msg, "f16"), "message '%s'", err.msg);
    lt_tensor x12 = lt_tensor_2d(be, LT_F32, (float *)x.data + 64, 2, 64), x01 = lt_tensor_2d(be, LT_F32, x.data, 2, 64);
    lt_err_clear(&err);
    CHECK(lt_op_lowrank(be, &x12, &x01, &w, -1.0f, &err) == LT_EINVAL);
    CHECKF(strstr(err.msg, "alias"), "message '%s'", err.msg);

    /* shape errors are LT_EINVAL with a message naming the op */
    lt_err_clear(&err);
    lt_tensor xbad = lt_tensor_2d(be, LT_F32, x.data, 3, 32);
    CHECK(lt_op_matmul(be, &y, &xbad, &w, NULL, &err) == LT_EINVAL);
    CHECKF(strstr(err.msg, "matmul") != NULL, "message '%s'", err.msg);
    lt_err_clear(&err);
    lt_tensor ybad = lt_tensor_2d(be, LT_F32, y.data, 3, 4);
    CHECK(lt_op_matmul(be, &ybad, &x, &w, NULL, &err) == LT_EINVAL && err.msg[0]);
    lt_err_clear(&err);
    CHECK(lt_op_rmsnorm(be, &y, &x, &bias, 1e-5f, &err) == LT_EINVAL && err.msg[0]);
    lt_err_clear(&err);
    CHECK(lt_op_add(be, &y, &x, &y, &err) == LT_EINVAL && err.msg[0]);
    /* bad data: an id outside the table is LT_ERANGE */
    int32_t hid[2] = {1, 5};
    CHECK(lt_tensor_set(&ids, hid, sizeof hid, &err) == LT_OK);
    lt_tensor g = lt_tensor_2d(be, LT_F32, y.data, 2, 64);
    lt_tensor gbuf;
    int64_t sg[2] = {2, 64};
    CHECK(lt_arena_tensor(ar, &gbuf, LT_F32, 2, sg, &err) == LT_OK);
    (void)g;
    lt_err_clear(&err);
    CHECK(lt_op_get_rows(be, &gbuf, &w, &ids, &err) == LT_ERANGE && err.msg[0]);
    hid[1] = 4;
    CHECK(lt_tensor_set(&ids, hid, sizeof hid, &err) == LT_OK);
    CHECK(lt_op_get_rows(be, &gbuf, &wq, &ids, &err) == LT_OK);
    float hg[128];
    CHECK(lt_tensor_get(&gbuf, hg, sizeof hg, &err) == LT_OK);
    float row4[64];
    lt_cpu_dequant_row(LT_Q8_0, (const char *)wq.data + 4 * lt_row_bytes(LT_Q8_0, 64), row4, 64);
    CHECK(same_bits(hg + 64, row4, sizeof row4));

    /* convert: f32 -> q4_0 gives GGML's bytes; q4_0 -> f32 gives the formula's values */
    lt_tensor w4, wback;
    CHECK(lt_arena_tensor(ar, &w4, LT_Q4_0, 2, sw, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &wback, LT_F32, 2, sw, &err) == LT_OK);
    CHECK(lt_op_convert(be, &w4, &w, &err) == LT_OK);
    lt_block_q4_0 q4r[5 * 2];
    ref_quant_q4_0(hw, q4r, 5 * 64);
    CHECK(same_bits(w4.data, q4r, sizeof q4r));
    CHECK(lt_op_convert(be, &wback, &w4, &err) == LT_OK);
    double wd[5 * 64];
    ref_dequant(LT_Q4_0, q4r, wd, 5 * 64);
    int bad = 0;
    for (int i = 0; i < 5 * 64; i++) bad += (double)((float *)wback.data)[i] != wd[i];
    CHECK(bad == 0);

    /* kv_store and attention: bad slots, sequences and block-table entries are LT_ERANGE */
    lt_tensor kc, vc, kv, slots, q, out, seq, ctx, bt;
    int64_t skc[2] = {32, 16}, skv[2] = {1, 16}, s1[1] = {1}, sq[2] = {1, 32}, sbt[2] = {2, 4};
    CHECK(lt_arena_tensor(ar, &kc, LT_F16, 2, skc, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &vc, LT_F16, 2, skc, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &kv, LT_F32, 2, skv, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &slots, LT_I32, 1, s1, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &q, LT_F32, 2, sq, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &out, LT_F32, 2, sq, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &seq, LT_I32, 1, s1, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &ctx, LT_I32, 1, s1, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &bt, LT_I32, 2, sbt, &err) == LT_OK);
    memset(kc.data, 0, lt_tensor_nbytes(&kc));
    memset(vc.data, 0, lt_tensor_nbytes(&vc));
    for (int i = 0; i < 16; i++) ((float *)kv.data)[i] = (float)i;
    for (int i = 0; i < 32; i++) ((float *)q.data)[i] = 0.5f;
    ((int32_t *)slots.data)[0] = 32;
    lt_err_clear(&err);
    CHECK(lt_op_kv_store(be, &kc, &vc, &kv, &kv, &slots, &err) == LT_ERANGE && err.msg[0]);
    ((int32_t *)slots.data)[0] = 13; /* block 3, offset 1 */
    CHECK(lt_op_kv_store(be, &kc, &vc, &kv, &kv, &slots, &err) == LT_OK);
    int32_t tables[8] = {3, 1, 0, 2, 7, 0, 0, 0};
    memcpy(bt.data, tables, sizeof tables);
    ((int32_t *)seq.data)[0] = 0;
    ((int32_t *)ctx.data)[0] = 2;
    lt_attn_meta m = {.tok_seq = &seq, .tok_ctx = &ctx, .block_tables = &bt, .n_heads = 2, .n_kv_heads = 1,
                      .head_dim = 16, .block_size = 4, .scale = 0.25f, .max_ctx = 16};
    lt_err_clear(&err);
    CHECK(lt_op_attention(be, &out, &q, &kc, &vc, &m, &err) == LT_OK);
    /* positions 0 (zeros) and 1 (0..15): both heads see softmax over {0, 0.25*0.5*120} */
    double sc1 = 0.25 * 0.5 * 120, p1 = exp(sc1) / (1 + exp(sc1));
    CHECK(fabs(((float *)out.data)[16 + 5] - 5 * p1) < 1e-5);
    ((int32_t *)seq.data)[0] = 1; /* table row 1 names block 7 of 8: fine */
    CHECK(lt_op_attention(be, &out, &q, &kc, &vc, &m, &err) == LT_OK);
    tables[4] = 8;
    memcpy(bt.data, tables, sizeof tables);
    lt_err_clear(&err);
    CHECK(lt_op_attention(be, &out, &q, &kc, &vc, &m, &err) == LT_ERANGE && err.msg[0]);
    ((int32_t *)seq.data)[0] = 2;
    lt_err_clear(&err);
    CHECK(lt_op_attention(be, &out, &q, &kc, &vc, &m, &err) == LT_ERANGE && err.msg[0]);
    ((int32_t *)seq.data)[0] = 0;
    ((int32_t *)ctx.data)[0] = 17;
    lt_err_clear(&err);
    CHECK(lt_op_attention(be, &out, &q, &kc, &vc, &m, &err) == LT_ERANGE && err.msg[0]);
    /* a negative entry (a block held elsewhere) only with partial attention (lse) */
    tables[4] = -1;
    memcpy(bt.data, tables, sizeof tables);
    ((int32_t *)seq.data)[0] = 1;
    ((int32_t *)ctx.data)[0] = 2;
    lt_err_clear(&err);
    CHECK(lt_op_attention(be, &out, &q, &kc, &vc, &m, &err) == LT_ERANGE && err.msg[0]);
    lt_tensor lse, lse_bad;
    int64_t sl[2] = {1, 2}, slb[2] = {1, 3};
    CHECK(lt_arena_tensor(ar, &lse, LT_F32, 2, sl, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &lse_bad, LT_F32, 2, slb, &err) == LT_OK);
    m.lse = &lse;
    CHECK(lt_op_attention(be, &out, &q, &kc, &vc, &m, &err) == LT_OK);
    CHECK(((float *)lse.data)[0] == -INFINITY && ((float *)out.data)[0] == 0.0f);
    m.lse = &lse_bad;
    lt_err_clear(&err);
    CHECK(lt_op_attention(be, &out, &q, &kc, &vc, &m, &err) == LT_EINVAL && strstr(err.msg, "lse"));
    lt_err_clear(&err);
    CHECK(lt_op_attn_merge(be, &out, &lse_bad, &out, &lse, &err) == LT_EINVAL && err.msg[0]);
    lt_arena_free(ar);
    lt_backend_free(be);
}

int main(void) {
    lt_err err;
    for (int nt = 1; nt <= 3; nt++)
        if (lt_pool_create(&g_pools[nt], nt, &err) != LT_OK) {
            fprintf(stderr, "pool: %s\n", err.msg);
            return 1;
        }
    printf("SIMD paths: %s\n", lt_cpu_simd() ? "AVX2+FMA+F16C" : "none (portable only)");
    test_pool();
    test_half();
    test_quant();
    test_quant_q8_K();
    test_matmul();
    test_matmul_k2();
    test_lowrank();
    test_get_rows();
    test_rmsnorm();
    test_rope();
    test_elementwise();
    test_kv_store();
    test_attention();
    test_attention_prompt();
    test_backend();
    for (int nt = 1; nt <= 3; nt++) lt_pool_free(g_pools[nt]);
    return lt_test_done();
}
