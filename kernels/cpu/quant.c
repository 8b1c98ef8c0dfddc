/* quant.c - row conversion between f32 and the weight dtypes (f16, bf16, q8_0, q4_0).
 *
 * The scalar conversions are the dtype table's (core/base/dtype.h: lt_math.h's formulas,
 * GGML's reference rounding, so rows are bit-identical to llama.cpp's); this file adds the
 * fast paths that give the same bits: an AVX2 q8_0 quantizer (also used for matmul
 * activations) and F16C f16 -> f32. Also holds the run-time CPU feature check.
 * Leaves out: k-quants, importance matrices.
 */
#include <stdlib.h>
#include <string.h>

#include "core/base/dtype.h"
#include "cpu_impl.h"

#if LT_X86
#include <cpuid.h>
#endif

static int g_simd_off; /* lt_cpu_set_simd(false) */

void lt_cpu_set_simd(bool enabled) { __atomic_store_n(&g_simd_off, !enabled, __ATOMIC_RELAXED); }

bool lt_cpu_simd(void) { return lt_cpu_has_avx2(); }

bool lt_cpu_has_avx2(void) {
    static int cached = -1;
    if (__atomic_load_n(&g_simd_off, __ATOMIC_RELAXED)) return false;
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c < 0) {
        c = 0;
#if LT_X86
        __builtin_cpu_init();
        unsigned a, b, cx, d;
        /* F16C is CPUID.1:ECX bit 29 (clang's __builtin_cpu_supports does not know it) */
        bool f16c = __get_cpuid(1, &a, &b, &cx, &d) && (cx >> 29 & 1);
        c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#endif
        const char *e = getenv("LT_CPU_SCALAR");
        if (e && *e && strcmp(e, "0")) c = 0;
        __atomic_store_n(&cached, c, __ATOMIC_RELAXED);
    }
    return c != 0;
}

/* ---- q8_0 ------------------------------------------------------------------------------------ */

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

void lt_cpu_quant_q8_0(const float *x, lt_block_q8_0 *y, int64_t n) {
#if LT_X86
    if (lt_cpu_has_avx2()) {
        quant_q8_0_avx2(x, y, n / LT_QK8_0);
        return;
    }
#endif
    lt_dtype_row_from_f32(LT_Q8_0, x, y, n);
}

/* ---- f16 ------------------------------------------------------------------------------------- */

#if LT_X86
LT_AVX2 static void f16_to_f32_avx2(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++) d[i] = lt_f16_to_f32(s[i]);
}
#endif

/* ---- public ---------------------------------------------------------------------------------- */

void lt_cpu_dequant_row(lt_dtype t, const void *src, float *dst, int64_t n) {
#if LT_X86
    if (t == LT_F16 && lt_cpu_has_avx2()) {
        f16_to_f32_avx2(src, dst, n);
        return;
    }
#endif
    lt_dtype_row_to_f32(t, src, dst, n);
}

void lt_cpu_quant_row(lt_dtype t, const float *src, void *dst, int64_t n) {
    if (t == LT_Q8_0) lt_cpu_quant_q8_0(src, dst, n);
    else lt_dtype_row_from_f32(t, src, dst, n);
}
