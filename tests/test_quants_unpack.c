/* test_quants_unpack.c - the block-wise unpacking of kernels/lt_quants_unpack.h, the per-lane step
 * of the CUDA kernels for quantized weights (kernels/cuda/matmul_quants.cu), run on the CPU: the
 * same code the GPU runs, except for its three intrinsics (__ldg, __byte_perm, the f16 conversion),
 * which the header emulates on the host.
 * - The bit tricks: the byte -> float exponent trick, the 4-bit spread, the iq4_nl table words and
 *   their permute lookup against lt_iq4nl_value, q4_K's branch-free scale/min and q3_K's scale
 *   decoding against lt_quants.h's.
 * - Per type (q8_0, q4_0 and the ten lt_quants.h types), for random blocks (every byte random, so
 *   also subnormal, infinite and NaN scales) and for GGML's own blocks (tests/fixtures/quants): the
 *   chunks of a block cover each element exactly once in runs starting at multiples of 8, and each
 *   value lt_qchunk_value gives is bit-identical to lt_quants_get (GGML's dequantize_row_*); for
 *   the fixtures also to GGML's dequantized floats.
 * - The kernels' schedules replayed on the host: the GEMV's (lane l of a warp takes chunk
 *   l % (QK/16) of blocks l / (QK/16), + 32 / (QK/16), ...; fmaf(d, q, m), or d * sum(q x) for the
 *   types without a min) against a double-precision dot product of the getters' values, and the
 *   dequantization's (thread i -> chunk i % (QK/16) of block i / (QK/16)) output positions.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "kernels/lt_quants_unpack.h"
#include "testutil.h"

static lt_test_rng rng;

typedef struct qtype {
    lt_dtype t;
    const char *name;
    int qk, bytes;
} qtype;

static const qtype k_types[] = {
#define QT(dt, blk_t, qk, name) {dt, #name, qk, (int)sizeof(blk_t)},
    LT_QUANTS_UNPACK_TYPES(QT)
#undef QT
};
#define N_TYPES ((int)(sizeof k_types / sizeof *k_types))

/* The reference: element j of the block at blk. */
static float ref_get(lt_dtype t, const void *blk, int j) {
    switch (t) {
    case LT_Q8_0: return lt_q8_0_get((const lt_block_q8_0 *)blk, j);
    case LT_Q4_0: return lt_q4_0_get((const lt_block_q4_0 *)blk, j);
    default: return lt_quants_get(t, blk, j);
    }
}

static bool same_float(float a, float b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, 4); }

static bool has_min(lt_dtype t) {
    return t == LT_Q4_1 || t == LT_Q5_1 || t == LT_Q2_K || t == LT_Q4_K || t == LT_Q5_K || t == LT_GQ4_32 ||
           t == LT_GQ4_64 || t == LT_GQ4_128; /* gq4: m = -(d * z) */
}

/* ---- bit tricks ---------------------------------------------------------------------------------- */

static void test_tricks(void) {
    int bad = 0;
    for (uint32_t b = 0; b < 256; b++) {
        float q[4];
        const uint32_t v = b | ((b ^ 0x5a) << 8) | ((255 - b) << 16) | (((b * 7) & 255) << 24);
        lt_qu_f4(q, v, 0.0f);
        for (int i = 0; i < 4; i++) bad += q[i] != (float)((v >> (8 * i)) & 255);
        lt_qu_f4(q, v, 128.0f);
        for (int i = 0; i < 4; i++) bad += q[i] != (float)((int)((v >> (8 * i)) & 255) - 128);
        bad += lt_qu_i2f(b * 32771u) != (float)(b * 32771u);
    }
    CHECKF(bad == 0, "byte -> float trick: %d wrong", bad);
    for (uint32_t x = 0; x < 64; x++) {
        uint32_t want = 0;
        for (int k = 0; k < 4; k++) want |= ((x >> k) & 1u) << (8 * k);
        CHECKF(lt_qu_spread4(x) == want, "spread4(%u) = %08x, want %08x", x, lt_qu_spread4(x), want);
    }
    /* lt_byte_perm as CUDA documents __byte_perm: selector nibbles' bit 3 and s's high half ignored */
    CHECK(lt_byte_perm(0x33221100u, 0x77665544u, 0x3210u) == 0x33221100u);
    CHECK(lt_byte_perm(0x33221100u, 0x77665544u, 0xFFFF7654u) == 0x77665544u);
    CHECK(lt_byte_perm(0x33221100u, 0x77665544u, 0xC9A8u) == 0x44112200u);
    /* the table words hold kvalues + 128 */
    const uint32_t T[4] = {LT_IQ4NL_T0, LT_IQ4NL_T1, LT_IQ4NL_T2, LT_IQ4NL_T3};
    for (int i = 0; i < 16; i++)
        CHECKF((int)((T[i / 4] >> (8 * (i % 4))) & 255) == lt_iq4nl_value(i) + 128, "iq4_nl table byte %d", i);
    /* lookup of all 8 nibbles, every byte value in every position */
    bad = 0;
    for (int it = 0; it < 4096; it++) {
        uint32_t w = lt_test_u32(&rng);
        if (it < 256) w = (uint32_t)it * 0x01010101u;
        uint32_t lo, hi;
        lt_iq4nl_lookup8(w, &lo, &hi);
        for (int k = 0; k < 4; k++) {
            const uint32_t byte = (w >> (8 * k)) & 255;
            bad += (int)((lo >> (8 * k)) & 255) != lt_iq4nl_value(byte & 15) + 128;
            bad += (int)((hi >> (8 * k)) & 255) != lt_iq4nl_value(byte >> 4) + 128;
        }
    }
    CHECKF(bad == 0, "iq4_nl lookup: %d bytes wrong", bad);
    /* q4_K / q5_K scales and mins, q3_K scales, for random scale bytes */
    bad = 0;
    for (int it = 0; it < 2000; it++) {
        uint8_t sc[12];
        for (int i = 0; i < 12; i++) sc[i] = (uint8_t)lt_test_u32(&rng);
        uint32_t w[3];
        memcpy(w, sc, 12);
        for (int j = 0; j < 8; j++) {
            int s0, m0;
            uint32_t s1, m1;
            lt_scale_min_k4(j, sc, &s0, &m0);
            lt_qu_scale_min_k4(w[0], w[1], w[2], j, &s1, &m1);
            bad += (uint32_t)s0 != s1 || (uint32_t)m0 != m1;
        }
        for (int s = 0; s < 16; s++) bad += (uint32_t)lt_q3_K_scale(sc, s) != lt_qu_q3_K_scale(sc, s);
    }
    CHECKF(bad == 0, "scale decoding: %d wrong", bad);
}

/* ---- one block ---------------------------------------------------------------------------------- */

/* Unpacks every chunk of the block at blk and checks coverage and values against ref[] (when
 * given) and the getter; returns the number of mismatching elements. */
static int check_block(const qtype *q, const uint8_t *blk, const float *ref, const char *what) {
    int seen[256] = {0}, bad = 0, reported = 0;
    for (int u = 0; u < q->qk / LT_QU_CHUNK; u++) {
        lt_qchunk c;
        memset(&c, 0xAB, sizeof c);
        lt_quants_unpack(q->t, blk, u, &c);
        for (int r = 0; r < 2; r++) {
            if (c.e[r] < 0 || c.e[r] % 8 != 0 || c.e[r] + 8 > q->qk) {
                fprintf(stderr, "%s %s chunk %d: run %d starts at %d\n", q->name, what, u, r, c.e[r]);
                return bad + 1;
            }
            if (!has_min(q->t) && !(c.m[r] == 0.0f && signbit(c.m[r]))) {
                fprintf(stderr, "%s %s chunk %d: no min, but m = %g (must be -0)\n", q->name, what, u, c.m[r]);
                bad++;
            }
            for (int k = 0; k < 8; k++) {
                const int e = c.e[r] + k;
                seen[e]++;
                const float v = lt_qchunk_value(&c, 8 * r + k), g = ref_get(q->t, blk, e);
                const bool ok = same_float(v, g) && (!ref || same_float(v, ref[e]));
                if (!ok && reported++ < 3)
                    fprintf(stderr, "%s %s chunk %d element %d: %.9g, getter %.9g%s%.9g\n", q->name, what, u, e, v, g,
                            ref ? ", GGML " : "", ref ? ref[e] : 0.0);
                bad += !ok;
            }
        }
    }
    for (int e = 0; e < q->qk; e++)
        if (seen[e] != 1) {
            fprintf(stderr, "%s %s: element %d unpacked %d times\n", q->name, what, e, seen[e]);
            return bad + 1;
        }
    return bad;
}

/* The f16 fields (scales and mins) of a block, as offsets. */
static int f16_fields(lt_dtype t, int off[2]) {
    switch (t) {
    case LT_Q8_0: off[0] = offsetof(lt_block_q8_0, d); return 1;
    case LT_Q4_0: off[0] = offsetof(lt_block_q4_0, d); return 1;
    case LT_Q4_1: off[0] = offsetof(lt_block_q4_1, d), off[1] = offsetof(lt_block_q4_1, m); return 2;
    case LT_Q5_0: off[0] = offsetof(lt_block_q5_0, d); return 1;
    case LT_Q5_1: off[0] = offsetof(lt_block_q5_1, d), off[1] = offsetof(lt_block_q5_1, m); return 2;
    case LT_IQ4_NL: off[0] = offsetof(lt_block_iq4_nl, d); return 1;
    case LT_Q2_K: off[0] = offsetof(lt_block_q2_K, d), off[1] = offsetof(lt_block_q2_K, dmin); return 2;
    case LT_Q3_K: off[0] = offsetof(lt_block_q3_K, d); return 1;
    case LT_Q4_K: off[0] = offsetof(lt_block_q4_K, d), off[1] = offsetof(lt_block_q4_K, dmin); return 2;
    case LT_Q5_K: off[0] = offsetof(lt_block_q5_K, d), off[1] = offsetof(lt_block_q5_K, dmin); return 2;
    case LT_Q6_K: off[0] = offsetof(lt_block_q6_K, d); return 1;
    case LT_IQ4_XS: off[0] = offsetof(lt_block_iq4_xs, d); return 1;
    case LT_GQ4_32:
    case LT_GQ4_64:
    case LT_GQ4_128: off[0] = 0, off[1] = 2; return 2; /* d, z */
    default: return 0;
    }
}

/* n random blocks; sane: the f16 fields are finite values of moderate size (else random bits). */
static uint8_t *random_blocks(const qtype *q, int n, bool sane) {
    uint8_t *b = malloc((size_t)n * q->bytes);
    for (size_t i = 0; i < (size_t)n * q->bytes; i++) b[i] = (uint8_t)lt_test_u32(&rng);
    if (sane) {
        int off[2];
        const int nf = f16_fields(q->t, off);
        for (int i = 0; i < n; i++)
            for (int f = 0; f < nf; f++) {
                const uint16_t h = lt_f32_to_f16(0.05f * lt_test_normal(&rng));
                memcpy(b + (size_t)i * q->bytes + off[f], &h, 2);
            }
    }
    return b;
}

static void test_random_blocks(const qtype *q) {
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint8_t *b = random_blocks(q, 400, pass == 1);
        for (int i = 0; i < 400; i++) bad += check_block(q, b + (size_t)i * q->bytes, NULL, "random block");
        free(b);
    }
    CHECKF(bad == 0, "%s: %d elements of random blocks differ from lt_quants_get", q->name, bad);
}

/* ---- GGML's blocks (tests/fixtures/quants, see test_quants.c) ---------------------------------- */

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 65536;
            buf = realloc(buf, cap);
        }
        size_t r = fread(buf + *n, 1, cap - *n, f);
        if (r == 0) break;
        *n += r;
    }
    fclose(f);
    return buf;
}

static void test_fixture(const qtype *q) {
    if (q->t == LT_Q8_0 || q->t == LT_Q4_0) return; /* no fixture: covered by test_ops_cpu */
    if (q->t == LT_GQ4_32 || q->t == LT_GQ4_64 || q->t == LT_GQ4_128) return; /* not GGML's: test_gptq_hf.c */
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/quants/%s.bin", q->name);
    size_t n = 0;
    uint8_t *buf = read_all(lt_test_path(rel), &n);
    CHECKF(buf != NULL, "%s: fixture missing", rel);
    if (!buf) return;
    uint32_t h[7] = {0};
    if (n >= sizeof h) memcpy(h, buf, sizeof h);
    const uint32_t rows = h[3], cols = h[4], row_bytes = h[5], blocks = h[6];
    const size_t nx = (size_t)rows * cols;
    const size_t need = 28 + nx * 4 + (size_t)rows * row_bytes + nx * 4 + (size_t)blocks * q->bytes +
                        (size_t)blocks * q->qk * 4;
    const bool ok = n >= 28 && !memcmp(buf, "LTQF", 4) && h[1] == 1 && cols % q->qk == 0 &&
                    row_bytes == cols / q->qk * q->bytes && blocks > 0 && n == need;
    CHECKF(ok, "%s: unexpected layout", rel);
    if (!ok) {
        free(buf);
        return;
    }
    /* x, GGML's quantized rows, GGML's dequantization of them, hand-built blocks, their values */
    const uint8_t *qrows = buf + 28 + nx * 4, *hand = qrows + (size_t)rows * row_bytes + nx * 4;
    float *xq = malloc(nx * 4), *xhand = malloc((size_t)blocks * q->qk * 4);
    memcpy(xq, qrows + (size_t)rows * row_bytes, nx * 4);
    memcpy(xhand, hand + (size_t)blocks * q->bytes, (size_t)blocks * q->qk * 4);
    int bad = 0;
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t b = 0; b < cols / q->qk; b++)
            bad += check_block(q, qrows + (size_t)r * row_bytes + (size_t)b * q->bytes, xq + (size_t)r * cols + b * q->qk,
                               "GGML block");
    for (uint32_t b = 0; b < blocks; b++)
        bad += check_block(q, hand + (size_t)b * q->bytes, xhand + (size_t)b * q->qk, "hand-built block");
    CHECKF(bad == 0, "%s: %d elements of GGML's blocks differ", q->name, bad);
    free(xq);
    free(xhand);
    free(buf);
}

/* ---- the kernels' schedules --------------------------------------------------------------------- */

/* matmul_quants.cu's gemv_blocks for one row, lane by lane, against a double dot product. */
static void test_gemv_schedule(const qtype *q) {
    const int L = q->qk / LT_QU_CHUNK, BPS = 32 / L, T = 3;
    const int nb = q->qk == 32 ? 37 : 5; /* whole warp steps and a partial one */
    const int K = nb * q->qk;
    uint8_t *w = random_blocks(q, nb, true);
    float *x = malloc((size_t)T * K * sizeof *x);
    lt_test_fill(&rng, x, (int64_t)T * K, 1.0f);
    double worst = 0.0;
    for (int t = 0; t < T; t++) {
        double ref = 0.0, mag = 0.0;
        for (int b = 0; b < nb; b++)
            for (int j = 0; j < q->qk; j++) {
                const double p = (double)ref_get(q->t, w + (size_t)b * q->bytes, j) * x[(size_t)t * K + b * q->qk + j];
                ref += p, mag += fabs(p);
            }
        float sum = 0.0f; /* the warp reduction: any order */
        for (int lane = 0; lane < 32; lane++) {
            float acc = 0.0f;
            for (int b = lane / L; b < nb; b += BPS) {
                lt_qchunk c;
                lt_quants_unpack(q->t, w + (size_t)b * q->bytes, lane % L, &c);
                const float *xt = x + (size_t)t * K + (size_t)b * q->qk;
                float p[2] = {0.0f, 0.0f};
                for (int r = 0; r < 2; r++)
                    for (int k = 0; k < 8; k++) {
                        const float wv = has_min(q->t) ? fmaf(c.d[r], c.q[8 * r + k], c.m[r]) : c.q[8 * r + k];
                        p[r] = fmaf(wv, xt[c.e[r] + k], p[r]);
                    }
                acc = has_min(q->t) ? acc + p[0] + p[1] : fmaf(c.d[0], p[0], fmaf(c.d[1], p[1], acc));
            }
            sum += acc;
        }
        const double e = fabs(sum - ref) / (mag > 0 ? mag : 1.0);
        if (e > worst) worst = e;
    }
    CHECKF(worst < 1e-5, "%s: replayed GEMV off by %.3g (relative to sum |w x|)", q->name, worst);
    printf("%-8s gemv schedule (K=%d, %d lanes per block): rel err %.2e\n", q->name, K, L, worst);
    free(w);
    free(x);
}

/* matmul_quants.cu's dequant_blocks over consecutive blocks: flat output positions. */
static void test_dequant_schedule(const qtype *q) {
    const int L = q->qk / LT_QU_CHUNK, nb = 7, n = nb * q->qk;
    uint8_t *w = random_blocks(q, nb, true);
    float *out = malloc((size_t)n * sizeof *out);
    int *hits = calloc((size_t)n, sizeof *hits);
    for (int64_t i = 0; i < (int64_t)nb * L; i++) {
        const int64_t b = i / L;
        lt_qchunk c;
        lt_quants_unpack(q->t, w + (size_t)b * q->bytes, (int)(i % L), &c);
        for (int r = 0; r < 2; r++)
            for (int k = 0; k < 8; k++) {
                const int64_t e = b * q->qk + c.e[r] + k;
                out[e] = lt_qchunk_value(&c, 8 * r + k);
                hits[e]++;
            }
    }
    int bad = 0;
    for (int e = 0; e < n; e++)
        bad += hits[e] != 1 || !same_float(out[e], ref_get(q->t, w + (size_t)(e / q->qk) * q->bytes, e % q->qk));
    CHECKF(bad == 0, "%s: replayed dequantization: %d elements wrong", q->name, bad);
    free(w);
    free(out);
    free(hits);
}

int main(void) {
    lt_test_rng_seed(&rng, 20261206);
    test_tricks();
    for (int i = 0; i < N_TYPES; i++) {
        const qtype *q = &k_types[i];
        CHECKF(lt_dtype_block(q->t) == q->qk && lt_dtype_block_bytes(q->t) == q->bytes, "%s: layout", q->name);
        CHECKF(lt_quants_unpack_align(q->t) == (q->bytes % 4 == 0 ? 4 : 2), "%s: alignment", q->name);
        test_random_blocks(q);
        test_fixture(q);
        test_gemv_schedule(q);
        test_dequant_schedule(q);
    }
    CHECK(lt_quants_unpack_align(LT_F16) == 0 && lt_quants_unpack_align(LT_I32) == 0);
    return lt_test_done();
}
