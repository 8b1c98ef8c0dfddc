/* dtype.c - the dtype traits table (see dtype.h) and the host row conversions.
 *
 * The conversions are loops over lt_math.h's formulas (lt_f32_to_f16, lt_quant_q8_0, ...), the
 * reference the CUDA kernels match bit for bit, with two fast paths that give the same bits for
 * every finite input (cpu.h): an AVX2 q8_0 quantizer (also the CPU backend's activation
 * quantizer) and F16C f16 widening (NaN payloads may come out quiet there).
 * Leaves out: the other SIMD kernels (kernels/cpu).
 */
#include "dtype.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cpu.h"
#include "quants.h"
#include "status.h"

/* ---- row conversions --------------------------------------------------------------------- */

static void f32_to_f32(const void *row, float *out, int64_t n) { memcpy(out, row, (size_t)n * sizeof(float)); }
static void f32_from_f32(const float *x, void *row, int64_t n) { memcpy(row, x, (size_t)n * sizeof(float)); }

#if LT_X86
LT_AVX2 static void f16_to_f32_avx2(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    _mm256_zeroupper(); /* before the SSE calls below (GCC leaves the state dirty there; see matmul.c df16_v) */
    for (; i < n; i++) d[i] = lt_f16_to_f32(s[i]);
}
#endif

static void f16_to_f32(const void *row, float *out, int64_t n) {
    const uint16_t *s = row;
#if LT_X86
    if (lt_cpu_has_avx2()) {
        f16_to_f32_avx2(s, out, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) out[i] = lt_f16_to_f32(s[i]);
}

static void f16_from_f32(const float *x, void *row, int64_t n) {
    uint16_t *d = row;
    for (int64_t i = 0; i < n; i++) d[i] = lt_f32_to_f16(x[i]);
}

static void bf16_to_f32(const void *row, float *out, int64_t n) {
    const uint16_t *s = row;
    for (int64_t i = 0; i < n; i++) out[i] = lt_bf16_to_f32(s[i]);
}

static void bf16_from_f32(const float *x, void *row, int64_t n) {
    uint16_t *d = row;
    for (int64_t i = 0; i < n; i++) d[i] = lt_f32_to_bf16(x[i]);
}

static void q8_0_to_f32(const void *row, float *out, int64_t n) {
    const lt_block_q8_0 *b = row;
    for (int64_t i = 0; i < n / LT_QK8_0; i++) lt_dequant_q8_0(b + i, out + i * LT_QK8_0);
}

#if LT_X86
LT_AVX2 static void quant_q8_0_avx2(const float *x, lt_block_q8_0 *y, int64_t nb) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 half = _mm256_set1_ps(0.49999997f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * LT_QK8_0;
        __m256 v0 = _mm256_loadu_ps(xb), v1 = _mm256_loadu_ps(xb + 8);
        __m256 v2 = _mm256_loadu_ps(xb + 16), v3 = _mm256_loadu_ps(xb + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = lt_f32_to_f16(d);
        const __m256 vid = _mm256_set1_ps(id);
        __m256 s[4] = {v0, v1, v2, v3};
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = _mm256_mul_ps(s[k], vid);
            /* roundf: half away from zero, as trunc(v + copysign(0.5 - 2^-25, v)) */
            v = _mm256_add_ps(v, _mm256_or_ps(_mm256_and_ps(v, sign), half));
            q[k] = _mm256_cvttps_epi32(v);
        }
        __m256i a = _mm256_packs_epi32(q[0], q[1]), b = _mm256_packs_epi32(q[2], q[3]);
        __m256i c = _mm256_packs_epi16(a, b);
        c = _mm256_permutevar8x32_epi32(c, perm);
        _mm256_storeu_si256((__m256i *)y[i].q, c);
    }
}
#endif

static void q8_0_from_f32(const float *x, void *row, int64_t n) {
    lt_block_q8_0 *b = row;
#if LT_X86
    if (lt_cpu_has_avx2()) {
        quant_q8_0_avx2(x, b, n / LT_QK8_0);
        return;
    }
#endif
    for (int64_t i = 0; i < n / LT_QK8_0; i++) lt_quant_q8_0(x + i * LT_QK8_0, b + i);
}

static void q4_0_to_f32(const void *row, float *out, int64_t n) {
    const lt_block_q4_0 *b = row;
    for (int64_t i = 0; i < n / LT_QK4_0; i++) lt_dequant_q4_0(b + i, out + i * LT_QK4_0);
}

static void q4_0_from_f32(const float *x, void *row, int64_t n) {
    lt_block_q4_0 *b = row;
    for (int64_t i = 0; i < n / LT_QK4_0; i++) lt_quant_q4_0(x + i * LT_QK4_0, b + i);
}

/* the lt_quants.h types, element by element with GGML's dequantization formulas */
static void quants_to_f32(lt_dtype t, const void *row, float *out, int64_t n) {
    for (int64_t j = 0; j < n; j++) out[j] = lt_quants_get(t, row, j);
}
#define QUANTS_TO_F32(name, dt) \
    static void name##_to_f32(const void *row, float *out, int64_t n) { quants_to_f32(dt, row, out, n); }
QUANTS_TO_F32(q4_1, LT_Q4_1)
QUANTS_TO_F32(q5_0, LT_Q5_0)
QUANTS_TO_F32(q5_1, LT_Q5_1)
QUANTS_TO_F32(iq4_nl, LT_IQ4_NL)
QUANTS_TO_F32(q2_K, LT_Q2_K)
QUANTS_TO_F32(q3_K, LT_Q3_K)
QUANTS_TO_F32(q4_K, LT_Q4_K)
QUANTS_TO_F32(q5_K, LT_Q5_K)
QUANTS_TO_F32(q6_K, LT_Q6_K)
QUANTS_TO_F32(iq4_xs, LT_IQ4_XS)
/* gq4 block by block: lt_gq4_get's arithmetic with the block's d and -d*z computed once (the
 * element-wise form converted both f16s per element; prefill widens every row through here) */
#define GQ4_TO_F32(G)                                                                                          \
    static void gq4_##G##_to_f32(const void *row, float *out, int64_t n) {                                  \
        const lt_block_gq4_##G *b = row;                                                                     \
        for (int64_t i = 0; i < n / (G); i++, out += (G)) {                                                  \
            const float d = lt_f16_to_f32(b[i].d), mdz = -lt_mul_rn(d, lt_f16_to_f32(b[i].z));              \
            for (int j = 0; j < (G); j++) out[j] = lt_mul_rn(d, (float)lt_nib32(b[i].qs + 16 * (j / 32), j % 32)) + mdz; \
        }                                                                                                    \
    }
GQ4_TO_F32(32)
GQ4_TO_F32(64)
GQ4_TO_F32(128)
#undef GQ4_TO_F32
QUANTS_TO_F32(s24_f16, LT_S24_F16)
QUANTS_TO_F32(s24_q4, LT_S24_Q4)
#undef QUANTS_TO_F32

/* ---- the table ----------------------------------------------------------------------------- */

/* LT_F32_BLOCK_, LT_F32_BYTES_, ... from the layout list; a dtype listed twice would redefine
 * its constants, and LT_LAYOUTS_ checks that none is missing. */
#define LAYOUT_CONSTS_(dt, blk, bytes) dt##_BLOCK_ = (blk), dt##_BYTES_ = (bytes),
#define LAYOUT_COUNT_(dt, blk, bytes) +1
enum { LT_DTYPE_LAYOUTS(LAYOUT_CONSTS_) LT_LAYOUTS_ = 0 LT_DTYPE_LAYOUTS(LAYOUT_COUNT_) };
_Static_assert((int)LT_LAYOUTS_ == (int)LT_DTYPE_COUNT, "LT_DTYPE_LAYOUTS (lt_math.h) must list every dtype");

#define ROW(dt, nm, gguf, st, to, from)                                                                  \
    [dt] = {.name = nm, .block = dt##_BLOCK_, .block_bytes = dt##_BYTES_, .gguf_type = gguf, .st_name = st, \
            .quantized = dt##_BLOCK_ > 1, .to_f32 = to, .from_f32 = from}

/* GGML type ids: F32 0, F16 1, Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q2_K..Q6_K 10..14,
 * IQ4_NL 20, IQ4_XS 23, BF16 30; i32 (GGML's 26) is left out on purpose: lathe keeps no i32
 * tensors in GGUF. Safetensors' "I32" holds AutoGPTQ's packed qweight / qzeros / g_idx, "U8" and
 * "I64" compressed-tensors' 2:4 bitmasks and shapes. */
static const lt_dtype_traits k_traits[LT_DTYPE_COUNT] = {
    ROW(LT_F32, "f32", 0, "F32", f32_to_f32, f32_from_f32),
    ROW(LT_F16, "f16", 1, "F16", f16_to_f32, f16_from_f32),
    ROW(LT_BF16, "bf16", 30, "BF16", bf16_to_f32, bf16_from_f32),
    ROW(LT_Q8_0, "q8_0", 8, NULL, q8_0_to_f32, q8_0_from_f32),
    ROW(LT_Q4_0, "q4_0", 2, NULL, q4_0_to_f32, q4_0_from_f32),
    ROW(LT_I32, "i32", -1, "I32", NULL, NULL),
    ROW(LT_Q4_1, "q4_1", 3, NULL, q4_1_to_f32, lt_quantize_row_q4_1),
    ROW(LT_Q5_0, "q5_0", 6, NULL, q5_0_to_f32, lt_quantize_row_q5_0),
    ROW(LT_Q5_1, "q5_1", 7, NULL, q5_1_to_f32, lt_quantize_row_q5_1),
    ROW(LT_IQ4_NL, "iq4_nl", 20, NULL, iq4_nl_to_f32, lt_quantize_row_iq4_nl),
    ROW(LT_Q2_K, "q2_K", 10, NULL, q2_K_to_f32, lt_quantize_row_q2_K),
    ROW(LT_Q3_K, "q3_K", 11, NULL, q3_K_to_f32, lt_quantize_row_q3_K),
    ROW(LT_Q4_K, "q4_K", 12, NULL, q4_K_to_f32, lt_quantize_row_q4_K),
    ROW(LT_Q5_K, "q5_K", 13, NULL, q5_K_to_f32, lt_quantize_row_q5_K),
    ROW(LT_Q6_K, "q6_K", 14, NULL, q6_K_to_f32, lt_quantize_row_q6_K),
    ROW(LT_IQ4_XS, "iq4_xs", 23, NULL, iq4_xs_to_f32, lt_quantize_row_iq4_xs),
    /* not GGML types: held in AutoGPTQ folders as qweight/qzeros/scales (modelsrc_gptq.c) */
    ROW(LT_GQ4_32, "gq4_32", -1, NULL, gq4_32_to_f32, lt_quantize_row_gq4_32),
    ROW(LT_GQ4_64, "gq4_64", -1, NULL, gq4_64_to_f32, lt_quantize_row_gq4_64),
    ROW(LT_GQ4_128, "gq4_128", -1, NULL, gq4_128_to_f32, lt_quantize_row_gq4_128),
    /* lathe's GGUF extension (README, formats): ids above GGML's range, so GGML's readers refuse the
       file ("invalid ggml type"); from_f32 prunes by magnitude (quants_s24.c) */
    ROW(LT_S24_F16, "s24_f16", LT_GGUF_LATHE_TYPES, NULL, s24_f16_to_f32, lt_quantize_row_s24_f16),
    ROW(LT_S24_Q4, "s24_q4", LT_GGUF_LATHE_TYPES + 1, NULL, s24_q4_to_f32, lt_quantize_row_s24_q4),
    /* compressed-tensors' bitmasks and shapes (core/formats/modelsrc_ct.c) */
    ROW(LT_U8, "u8", -1, "U8", NULL, NULL),
    ROW(LT_I64, "i64", -1, "I64", NULL, NULL),
    /* the CPU backend's interleaved q4_0 (lt_math.h): no file ids, no row conversions (rows are
       not contiguous; lt_q4_0_r8_pack / _unpack in quants.h convert whole groups of 8) */
    ROW(LT_Q4_0_R8, "q4_0_r8", -1, NULL, NULL, NULL),
};

static const lt_dtype_traits k_invalid = {.name = "?", .block = 1, .block_bytes = 0, .gguf_type = -1};

const lt_dtype_traits *lt_dtype_info(lt_dtype t) {
    return ((int)t >= 0 && t < LT_DTYPE_COUNT) ? &k_traits[t] : &k_invalid;
}

const char *lt_dtype_name(lt_dtype t) { return lt_dtype_info(t)->name; }

lt_dtype lt_dtype_from_name(const char *name) {
    for (int i = 0; name && i < LT_DTYPE_COUNT; i++)
        if (strcasecmp(name, k_traits[i].name) == 0) return (lt_dtype)i;
    return LT_DTYPE_COUNT;
}

lt_dtype lt_dtype_from_gguf(uint32_t gguf_type) {
    for (int i = 0; i < LT_DTYPE_COUNT; i++)
        if (k_traits[i].gguf_type >= 0 && (uint32_t)k_traits[i].gguf_type == gguf_type) return (lt_dtype)i;
    return LT_DTYPE_COUNT;
}

lt_dtype lt_dtype_from_safetensors(const char *st_name) {
    for (int i = 0; st_name && i < LT_DTYPE_COUNT; i++)
        if (k_traits[i].st_name && strcmp(st_name, k_traits[i].st_name) == 0) return (lt_dtype)i;
    return LT_DTYPE_COUNT;
}

static const char *names_of(char *buf, size_t n, int max_gguf) {
    size_t o = 0;
    if (n) buf[0] = 0;
    for (int i = 0; i < LT_DTYPE_COUNT; i++)
        if (k_traits[i].from_f32 && k_traits[i].gguf_type >= 0 && k_traits[i].gguf_type < max_gguf && o < n)
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", k_traits[i].name);
    return buf;
}

const char *lt_dtype_weight_names(char *buf, size_t n) { return names_of(buf, n, LT_GGUF_LATHE_TYPES); }
const char *lt_dtype_matrix_names(char *buf, size_t n) { return names_of(buf, n, INT_MAX); }

void lt_dtype_row_to_f32(lt_dtype t, const void *row, float *out, int64_t n) {
    const lt_dtype_traits *d = lt_dtype_info(t);
    LT_ASSERT(d->to_f32 != NULL);
    d->to_f32(row, out, n);
}

void lt_dtype_row_from_f32(lt_dtype t, const float *x, void *row, int64_t n) {
    const lt_dtype_traits *d = lt_dtype_info(t);
    LT_ASSERT(d->from_f32 != NULL);
    d->from_f32(x, row, n);
}
