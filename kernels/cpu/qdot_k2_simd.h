/* qdot_k2_simd.h - the x86 row kernels of qdot_k2.c, included twice by it: once for AVX2
 * (K2_VNNI 0) and once for AVX-512 BW/VL/VNNI (K2_VNNI 1: 32 vector registers, and the
 * byte/word products summed into int32 lanes by vpdpbusd / vpdpwssd). Both give the same int32
 * lane sums (no partial sum comes near int16 saturation) and do the same float operations, so
 * their results are bit-identical. The includer defines K2_TARGET (the function attribute),
 * K2_NAME(x) (x with the variant's suffix) and K2_VNNI.
 */

#if K2_VNNI
/* 32 u8 x 32 s8 -> 8 int32 sums of 4 */
#define K2_DOT8(a, b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b)
/* acc + int16 pairs p times int16 s, pairwise summed */
#define K2_ACC16(acc, p, s) _mm256_dpwssd_epi32(acc, p, s)
#else
#define K2_DOT8(a, b) _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1))
#define K2_ACC16(acc, p, s) _mm256_add_epi32(acc, _mm256_madd_epi16(p, s))
#endif


K2_TARGET LT_INLINE void K2_NAME(q2_K_rows)(const lt_block_q2_K *w, const char *xq, size_t stride, const int R, int64_t nb,
                                 float *out) {
    ROWS_SETUP(lt_block_q8_K);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xF);
    for (int64_t i = 0; i < nb; i++) {
        lt_cpu_prefetch_ahead(w + i, 2);
        /* d and dmin are adjacent: one conversion */
        uint32_t dd;
        memcpy(&dd, &w[i].d, 4);
        const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dd));
        const float dw = _mm_cvtss_f32(dm), mw = _mm_cvtss_f32(_mm_movehdup_ps(dm));
        const __m128i ms = _mm_loadu_si128((const __m128i *)w[i].scales);
        const __m256i mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(ms, 4), m4));
        for (int r = 0; r < R; r++) {
            const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y[r][i].bsums));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(-y[r][i].d * mw), _mm256_cvtepi32_ps(prod), acc[r]);
        }
        __m256i sc[2];
        scales16(_mm_and_si128(ms, m4), sc);
        __m256i sumi[4];
        for (int r = 0; r < R; r++) sumi[r] = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * j));
            for (int k = 0; k < 4; k++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i s = scale_pair(sc[j], k);
                for (int r = 0; r < R; r++) {
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(y[r][i].qs + 128 * j + 32 * k));
                    sumi[r] = K2_ACC16(sumi[r], _mm256_maddubs_epi16(q, x), s);
                }
            }
        }
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[r][i].d * dw), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

K2_TARGET LT_INLINE void K2_NAME(q3_K_rows)(const lt_block_q3_K *w, const char *xq, size_t stride, const int R, int64_t nb,
                                 float *out) {
    ROWS_SETUP(lt_block_q8_K);
    const __m256i m3 = _mm256_set1_epi8(3), neg4 = _mm256_set1_epi8(-4), zero = _mm256_setzero_si256();
    for (int64_t i = 0; i < nb; i++) {
        lt_cpu_prefetch_ahead(w + i, 2);
        /* the 16 6-bit scales minus 32 (GGML's kmask unpacking) */
        uint32_t a[3];
        memcpy(a, w[i].scales, 12);
        const uint32_t k1 = 0x03030303, k2 = 0x0f0f0f0f;
        const __m128i s8 = _mm_sub_epi8(_mm_setr_epi32((int)((a[0] & k2) | (((a[2] >> 0) & k1) << 4)),
                                                       (int)((a[1] & k2) | (((a[2] >> 2) & k1) << 4)),
                                                       (int)(((a[0] >> 4) & k2) | (((a[2] >> 4) & k1) << 4)),
                                                       (int)(((a[1] >> 4) & k2) | (((a[2] >> 6) & k1) << 4))),
                                        _mm_set1_epi8(32));
        __m256i sc[2];
        scales16(s8, sc);
        const __m256i hbits = _mm256_loadu_si256((const __m256i *)w[i].hmask);
        __m256i sumi[4];
        for (int r = 0; r < R; r++) sumi[r] = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * j));
            for (int k = 0; k < 4; k++) {
                const __m256i s = scale_pair(sc[j], k);
                const __m256i ql = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                if (R == 1) {
                    const int b = 4 * j + k;
                    const __m256i qh = _mm256_slli_epi16(
                        _mm256_srli_epi16(_mm256_andnot_si256(hbits, _mm256_slli_epi16(_mm256_set1_epi8(1), b)), b), 2);
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(y[0][i].qs + 128 * j + 32 * k));
                    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(ql, x), _mm256_maddubs_epi16(qh, x));
                    sumi[0] = K2_ACC16(sumi[0], p, s);
                    continue;
                }
                /* level - 4 where the high bit is clear: 0..3 | 0xFC is level - 4 */
                const __m256i hb = _mm256_and_si256(hbits, _mm256_set1_epi8((char)(1 << (4 * j + k))));
                const __m256i q = _mm256_or_si256(ql, _mm256_and_si256(_mm256_cmpeq_epi8(hb, zero), neg4));
                const __m256i aq = _mm256_sign_epi8(q, q);
                for (int r = 0; r < R; r++) {
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(y[r][i].qs + 128 * j + 32 * k));
                    sumi[r] = K2_ACC16(sumi[r], mul_signed(aq, q, x), s);
                }
            }
        }
        const float dw = lt_cpu_f16_1(w[i].d);
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(y[r][i].d * dw), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}


K2_TARGET LT_INLINE void K2_NAME(iq4_xs_rows)(const lt_block_iq4_xs *w, const char *xq, size_t stride, const int R, int64_t nb,
                                   float *out) {
    ROWS_SETUP(lt_block_q8_K);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)k_iq4nl));
    for (int64_t i = 0; i < nb; i++) {
        lt_cpu_prefetch_ahead(w + i, 3);
        __m256i sumi[4];
        for (int r = 0; r < R; r++) sumi[r] = _mm256_setzero_si256();
        for (int ib = 0; ib < LT_QK_K / 32; ib++) {
            const __m256i q = iq4_values(table, w[i].qs + 16 * ib), aq = _mm256_sign_epi8(q, q);
            const __m256i s = _mm256_set1_epi16((int16_t)(lt_iq4_xs_scale(&w[i], ib) - 32));
            for (int r = 0; r < R; r++) {
                const __m256i x = _mm256_loadu_si256((const __m256i *)(y[r][i].qs + 32 * ib));
                sumi[r] = K2_ACC16(sumi[r], mul_signed(aq, q, x), s);
            }
        }
        const float dw = lt_cpu_f16_1(w[i].d);
        for (int r = 0; r < R; r++)
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[r][i].d), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
    }
    for (int r = 0; r < R; r++) out[r] = hsum8(acc[r]);
}

/* GGML's: even blocks into one accumulator, odd blocks into another, the last block of an odd
 * count in scalar after the horizontal sum (an FMA, as GCC and clang compile GGML's `sumf +=
 * d * sum` for FMA targets) */

K2_TARGET LT_INLINE void K2_NAME(iq4_nl_rows)(const lt_block_iq4_nl *w, const char *xq, size_t stride, const int R, int64_t nb,
                                   float *out) {
    const lt_block_q8_0 *y[4];
    const float *ys[4];
    __m256 acc1[4], acc2[4];
    for (int r = 0; r < R; r++) {
        y[r] = (const lt_block_q8_0 *)(xq + (size_t)r * stride);
        ys[r] = (const float *)(xq + (size_t)r * stride + q8s_off(nb));
        acc1[r] = acc2[r] = _mm256_setzero_ps();
    }
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)k_iq4nl));
#define IQ4_NL_PAIR(i, S1, S2)                                                                   \
    do {                                                                                         \
        const __m256i q1 = iq4_values(table, w[i].qs), aq1 = _mm256_sign_epi8(q1, q1);          \
        const __m256i q2 = iq4_values(table, w[(i) + 1].qs), aq2 = _mm256_sign_epi8(q2, q2);    \
        for (int r = 0; r < R; r++) {                                                            \
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)y[r][i].q);                   \
            const __m256i x2 = _mm256_loadu_si256((const __m256i *)y[r][(i) + 1].q);             \
            const __m256i p1 = K2_DOT8(aq1, _mm256_sign_epi8(x1, q1));                          \
            const __m256i p2 = K2_DOT8(aq2, _mm256_sign_epi8(x2, q2));                          \
            acc1[r] = _mm256_fmadd_ps(S1, _mm256_cvtepi32_ps(p1), acc1[r]);                      \
            acc2[r] = _mm256_fmadd_ps(S2, _mm256_cvtepi32_ps(p2), acc2[r]);                      \
        }                                                                                        \
    } while (0)
    int64_t i = 0;
    /* 8 blocks at a time: the products of the scales (GGML's d_x * d_w per block, the same
       rounding as one multiply each) stored once, each broadcast from memory */
    for (; i + 8 <= nb; i += 8) {
        lt_cpu_prefetch_ahead(w + i, 3);
        const __m256 dw = iq4_nl_scales8(w + i);
        float s[4][8];
        for (int r = 0; r < R; r++) _mm256_storeu_ps(s[r], _mm256_mul_ps(_mm256_loadu_ps(ys[r] + i), dw));
        for (int j = 0; j < 8; j += 2)
            IQ4_NL_PAIR(i + j, _mm256_broadcast_ss(&s[r][j]), _mm256_broadcast_ss(&s[r][j + 1]));
    }
    for (; i + 1 < nb; i += 2) {
        lt_cpu_prefetch_ahead(w + i, 1);
        const float d1 = lt_cpu_f16_1(w[i].d), d2 = lt_cpu_f16_1(w[i + 1].d);
        IQ4_NL_PAIR(i, _mm256_set1_ps(ys[r][i] * d1), _mm256_set1_ps(ys[r][i + 1] * d2));
    }
#undef IQ4_NL_PAIR
    for (int r = 0; r < R; r++) {
        out[r] = hsum8(_mm256_add_ps(acc1[r], acc2[r]));
        if (i < nb) {
            const float d = ys[r][i] * lt_cpu_f16_1(w[i].d);
            out[r] = fmaf(d, (float)iq4_block_sum(w[i].qs, y[r][i].q), out[r]);
        }
    }
}

/* one-row dot products and the 1..4-row form (the same inlined kernel, R fixed per call) */
#define KERNELS(name, WT, NB)                                                                     \
    K2_TARGET static float K2_NAME(name##_dot)(const void *w, const void *xq, int64_t K) {                \
        float o;                                                                                  \
        K2_NAME(name##_rows)((const WT *)w, (const char *)xq, 0, 1, (NB), &o);                             \
        return o;                                                                                 \
    }                                                                                             \
    K2_TARGET static void K2_NAME(name##_dot4)(const void *w, const char *xq, size_t stride, int R, int64_t K, float *out) { \
        const WT *wb = w;                                                                         \
        switch (R) {                                                                              \
        case 1: K2_NAME(name##_rows)(wb, xq, stride, 1, (NB), out); break;                                 \
        case 2: K2_NAME(name##_rows)(wb, xq, stride, 2, (NB), out); break;                                 \
        case 3: K2_NAME(name##_rows)(wb, xq, stride, 3, (NB), out); break;                                 \
        default: K2_NAME(name##_rows)(wb, xq, stride, 4, (NB), out); break;                                \
        }                                                                                         \
    }
KERNELS(q2_K, lt_block_q2_K, K / LT_QK_K)
KERNELS(q3_K, lt_block_q3_K, K / LT_QK_K)
KERNELS(iq4_xs, lt_block_iq4_xs, K / LT_QK_K)
KERNELS(iq4_nl, lt_block_iq4_nl, K / LT_QK32)
#undef KERNELS

static const lt_cpu_qdot K2_NAME(k_q2_K) = {q8_K_row_bytes, quant_q8_K, K2_NAME(q2_K_dot), K2_NAME(q2_K_dot4)};
static const lt_cpu_qdot K2_NAME(k_q3_K) = {q8_K_row_bytes, quant_q8_K, K2_NAME(q3_K_dot), K2_NAME(q3_K_dot4)};
static const lt_cpu_qdot K2_NAME(k_iq4_xs) = {q8_K_row_bytes, quant_q8_K, K2_NAME(iq4_xs_dot), K2_NAME(iq4_xs_dot4)};
static const lt_cpu_qdot K2_NAME(k_iq4_nl) = {q8s_row_bytes, quant_q8s, K2_NAME(iq4_nl_dot), K2_NAME(iq4_nl_dot4)};

#undef K2_DOT8
#undef K2_ACC16
