/* test_q4r8.c - q4_0 weights interleaved by 8 rows (LT_Q4_0_R8: kernels/cpu/matmul_q4r8.c, the
 * packing in core/base/quants_legacy.c, the backend's choice lt_backend_matrix_dtype).
 *
 * - pack then unpack gives the q4_0 rows back; the packed bytes are where lt_math.h says;
 * - the matmul against a float64 reference of the dequantized q4_0 weights times the dequantized
 *   q8_0 activations (GGML's definition of the q4_0 x q8_0 dot product), and against the plain
 *   q4_0 kernels (matmul.c) up to float rounding;
 * - bit for bit: every batch size 1..9, 17, 70 row by row against the row computed alone (exact
 *   speculative decoding), 1, 2 and 3 threads, and the portable path (SIMD off) against the SIMD
 *   one (every path does the same float operations per row);
 * - GGML's own vec_dot values (tests/fixtures/quants/q4_0_dot.bin, tools/gen_q4_0_dot_fixtures.py)
 *   for the plain and the interleaved matmuls, and lathe's q4_0 / q8_0 bytes against GGML's;
 * - through the CPU backend: lt_backend_matrix_dtype's choice, lt_op_matmul on the layout, and
 *   lt_op_get_rows / lt_op_convert refusing it (its rows cannot be read one by one).
 * Registered twice: as is, and with LT_CPU_NO_VNNI=1 (test_q4r8_avx2).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/base/quants.h"
#include "kernels/cpu/lt_cpu.h"
#include "testutil.h"

static lt_pool *g_pools[4]; /* index = threads */

static bool same_bits(const void *a, const void *b, size_t n) { return memcmp(a, b, n) == 0; }

static double h2d(uint16_t h) { return (double)lt_f16_to_f32(h); }

static void test_pack(void) {
    const int64_t N = 16, K = 96, nb = K / 32;
    lt_block_q4_0 *q = malloc(N * nb * sizeof *q), *back = malloc(N * nb * sizeof *q);
    lt_block_q4_0x8 *p = malloc(N / 8 * nb * sizeof *p);
    for (int64_t i = 0; i < N * nb; i++) {
        q[i].d = (uint16_t)(0x3000 + i);
        for (int j = 0; j < 16; j++) q[i].q[j] = (uint8_t)(i * 16 + j);
    }
    lt_q4_0_r8_pack(q, p, N, K);
    int bad = 0;
    for (int64_t g = 0; g < N / 8; g++)
        for (int64_t i = 0; i < nb; i++)
            for (int r = 0; r < 8; r++) {
                const lt_block_q4_0 *b = &q[(8 * g + r) * nb + i];
                bad += p[g * nb + i].d[r] != b->d;
                for (int j = 0; j < 16; j++) bad += p[g * nb + i].q[32 * (j / 4) + 4 * r + j % 4] != b->q[j];
            }
    CHECKF(bad == 0, "q4_0_r8 pack: %d bytes not where lt_math.h says", bad);
    lt_q4_0_r8_unpack(p, back, N, K);
    CHECK(same_bits(q, back, N * nb * sizeof *q));
    free(q), free(back), free(p);
}

static void check(int64_t T, int64_t N, int64_t K, bool with_bias, uint64_t seed) {
    lt_test_rng r;
    lt_test_rng_seed(&r, seed);
    const int64_t nb = K / 32;
    float *x = malloc(T * K * sizeof *x), *wf = malloc(N * K * sizeof *wf), *bias = malloc(N * sizeof *bias);
    lt_test_fill(&r, x, T * K, 1.0f);
    lt_test_fill(&r, wf, N * K, 0.1f);
    lt_test_fill(&r, bias, N, 1.0f);
    for (int64_t t = 0; t < T && K >= 64; t++) { /* roundf edge cases (d = 1) and an all-zero block */
        const float edge[8] = {127.0f, 0.49999997f, 2.5f, -2.5f, -0.5f, 0.5f, 126.5f, -1.5f};
        memcpy(x + t * K, edge, sizeof edge);
        for (int j = 8; j < 32; j++) x[t * K + j] = (float)((j * 37 + (int)t) % 201 - 100) + 0.25f;
        memset(x + t * K + 32, 0, 32 * sizeof *x);
    }
    lt_block_q4_0 *w = malloc(N * nb * sizeof *w);
    lt_block_q4_0x8 *w8 = malloc(N / 8 * nb * sizeof *w8);
    lt_block_q8_0 *xq = malloc(T * nb * sizeof *xq);
    for (int64_t n = 0; n < N; n++) lt_cpu_quant_row(LT_Q4_0, wf + n * K, w + n * nb, K);
    for (int64_t t = 0; t < T; t++) lt_cpu_quant_row(LT_Q8_0, x + t * K, xq + t * nb, K);
    lt_q4_0_r8_pack(w, w8, N, K);
    double *ref = malloc(T * N * sizeof *ref);
    for (int64_t t = 0; t < T; t++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t i = 0; i < nb; i++)
                for (int j = 0; j < 32; j++) {
                    const lt_block_q4_0 *b = &w[n * nb + i];
                    const int q = (j < 16 ? b->q[j] & 15 : b->q[j - 16] >> 4) - 8;
                    s += h2d(b->d) * q * h2d(xq[t * nb + i].d) * xq[t * nb + i].q[j];
                }
            ref[t * N + n] = s + (with_bias ? bias[n] : 0);
        }
    const float *bp = with_bias ? bias : NULL;
    float *y[4], *ys = malloc(T * N * sizeof(float)), *yp = malloc(T * N * sizeof(float)), *y1 = malloc(N * sizeof(float));
    for (int nt = 1; nt <= 3; nt++) {
        y[nt] = malloc(T * N * sizeof(float));
        CHECK(lt_cpu_matmul_prepare(g_pools[nt], LT_Q4_0_R8, T, K));
        lt_cpu_matmul(g_pools[nt], y[nt], x, w8, LT_Q4_0_R8, bp, T, N, K);
    }
    lt_cpu_matmul_prepare(g_pools[1], LT_Q4_0, T, K);
    lt_cpu_matmul(g_pools[1], yp, x, w, LT_Q4_0, bp, T, N, K);
    lt_cpu_set_simd(false);
    lt_cpu_matmul(NULL, ys, x, w8, LT_Q4_0_R8, bp, T, N, K);
    lt_cpu_set_simd(true);
    const double e = lt_test_rel_err(y[1], ref, T * N), ep = lt_test_rel_err_ff(y[1], yp, T * N);
    CHECKF(e <= 2e-6, "q4_0_r8 T=%lld N=%lld K=%lld: rel err %.3g against float64", (long long)T, (long long)N,
           (long long)K, e);
    CHECKF(ep <= 4e-6, "q4_0_r8 T=%lld N=%lld K=%lld: rel err %.3g against plain q4_0", (long long)T, (long long)N,
           (long long)K, ep);
    CHECKF(same_bits(ys, y[1], T * N * sizeof(float)), "q4_0_r8 T=%lld N=%lld K=%lld: portable path differs from SIMD",
           (long long)T, (long long)N, (long long)K);
    for (int nt = 2; nt <= 3; nt++)
        CHECKF(same_bits(y[1], y[nt], T * N * sizeof(float)), "q4_0_r8 T=%lld: %d threads differ from 1", (long long)T, nt);
    int bad = 0;
    for (int64_t t = 0; t < T && T > 1; t++) {
        lt_cpu_matmul(g_pools[2], y1, x + t * K, w8, LT_Q4_0_R8, bp, 1, N, K);
        bad += !same_bits(y1, y[1] + t * N, N * sizeof *y1);
    }
    CHECKF(bad == 0, "q4_0_r8 T=%lld: %d batched rows differ from the row computed alone", (long long)T, bad);
    for (int nt = 1; nt <= 3; nt++) free(y[nt]);
    free(x), free(wf), free(bias), free(w), free(w8), free(xq), free(ref), free(ys), free(yp), free(y1);
}

static void test_matmul(void) {
    const int64_t Ts[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 70};
    uint64_t seed = 1;
    for (int j = 0; j < 11; j++) {
        check(Ts[j], 40, j % 2 ? 96 : 160, j % 2 == 0, seed++); /* 3 and 5 blocks */
        check(Ts[j], 304, j % 3 ? 1024 + 32 : 576, j % 2 == 1, seed++);
    }
}

static void test_ggml(void) {
    size_t len = 0;
    char *buf = lt_test_read_file(lt_test_path("tests/fixtures/quants/q4_0_dot.bin"), &len);
    CHECKF(buf && len >= 20 && !memcmp(buf, "LTQD", 4), "tests/fixtures/quants/q4_0_dot.bin missing or bad");
    uint32_t h[4] = {0};
    if (buf && len >= 20) memcpy(h, buf + 4, sizeof h);
    const int64_t N = h[1], K = h[2], T = h[3], nb = K / 32;
    const size_t want = 20 + (size_t)(T * K + N * K) * 4 + (size_t)(N * nb * 18 + T * nb * 34) + (size_t)(T * N) * 4;
    CHECKF(h[0] == 1 && len == want && N % 8 == 0 && T * N <= 4096, "q4_0_dot.bin: version %u, %zu bytes (want %zu)",
           h[0], len, want);
    if (!buf || h[0] != 1 || len != want || N % 8 || T * N > 4096) {
        free(buf);
        return;
    }
    const float *x = (const float *)(buf + 20), *wf = x + T * K;
    const char *wq = (const char *)(wf + N * K), *xq = wq + N * nb * 18;
    float yg[4096], y[4096];
    memcpy(yg, xq + T * nb * 34, (size_t)(T * N) * 4);
    char *q = malloc((size_t)(N * nb * 34)), *w8 = malloc((size_t)(N * nb * 18));
    for (int64_t n = 0; n < N; n++) lt_cpu_quant_row(LT_Q4_0, wf + n * K, q + n * nb * 18, K);
    CHECKF(same_bits(q, wq, (size_t)(N * nb * 18)), "q4_0 bytes differ from GGML's");
    for (int64_t t = 0; t < T; t++) lt_cpu_quant_row(LT_Q8_0, x + t * K, q + t * nb * 34, K);
    CHECKF(same_bits(q, xq, (size_t)(T * nb * 34)), "q8_0 bytes differ from GGML's");
    lt_q4_0_r8_pack(wq, w8, N, K);
    for (int simd = 1; simd >= 0; simd--) {
        lt_cpu_set_simd(simd);
        for (int r8 = 0; r8 < 2; r8++) {
            lt_cpu_matmul(NULL, y, x, r8 ? w8 : wq, r8 ? LT_Q4_0_R8 : LT_Q4_0, NULL, T, N, K);
            const double e = lt_test_rel_err_ff(y, yg, T * N);
            CHECKF(e <= 2e-6, "%s (simd %d) against GGML's vec_dot: rel err %.3g", r8 ? "q4_0_r8" : "q4_0", simd, e);
        }
    }
    lt_cpu_set_simd(true);
    free(q), free(w8), free(buf);
}

static void test_backend(void) {
    lt_err err = {0};
    lt_backend *be = NULL;
    lt_backend_opts o = {.n_threads = 2};
    CHECK(lt_backend_create(&be, "cpu", &o, &err) == LT_OK);
    if (!be) return;
    CHECK(lt_backend_matrix_dtype(be, LT_Q4_0, 16, 64) == (getenv("LT_CPU_Q4_0_PLAIN") ? LT_Q4_0 : LT_Q4_0_R8));
    CHECK(lt_backend_matrix_dtype(be, LT_Q4_0, 5, 64) == LT_Q4_0);
    CHECK(lt_backend_matrix_dtype(be, LT_Q8_0, 16, 64) == LT_Q8_0);
    CHECK(lt_backend_matrix_dtype(NULL, LT_Q4_0, 16, 64) == LT_Q4_0);
    lt_arena *ar = NULL;
    CHECK(lt_arena_create(&ar, be, 1 << 20, LT_MEM_SCRATCH, &err) == LT_OK);
    lt_tensor x, w8, y, ids, g, wb;
    int64_t sx[2] = {3, 64}, s8[2] = {8, 64}, sy[2] = {3, 8}, si[1] = {2}, sg[2] = {2, 64};
    CHECK(lt_arena_tensor(ar, &x, LT_F32, 2, sx, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &w8, LT_Q4_0_R8, 2, s8, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &y, LT_F32, 2, sy, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &ids, LT_I32, 1, si, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &g, LT_F32, 2, sg, &err) == LT_OK);
    CHECK(lt_arena_tensor(ar, &wb, LT_F32, 2, s8, &err) == LT_OK);
    CHECK(lt_tensor_nbytes(&w8) == 8 * lt_row_bytes(LT_Q4_0, 64));
    lt_test_rng r;
    lt_test_rng_seed(&r, 3);
    float hx[3 * 64], hw[8 * 64], hy[3 * 8];
    lt_block_q4_0 q[8 * 2];
    lt_test_fill(&r, hx, 3 * 64, 1.0f);
    lt_test_fill(&r, hw, 8 * 64, 0.1f);
    for (int i = 0; i < 8; i++) lt_cpu_quant_row(LT_Q4_0, hw + 64 * i, q + 2 * i, 64);
    CHECK(lt_tensor_set(&x, hx, sizeof hx, &err) == LT_OK);
    lt_q4_0_r8_pack(q, w8.data, 8, 64);
    int32_t hid[2] = {1, 4};
    CHECK(lt_tensor_set(&ids, hid, sizeof hid, &err) == LT_OK);
    CHECK(lt_op_matmul(be, &y, &x, &w8, NULL, &err) == LT_OK);
    lt_cpu_matmul(NULL, hy, hx, w8.data, LT_Q4_0_R8, NULL, 3, 8, 64);
    CHECK(same_bits(y.data, hy, sizeof hy));
    lt_err_clear(&err);
    CHECK(lt_op_get_rows(be, &g, &w8, &ids, &err) == LT_EINVAL && strstr(err.msg, "q4_0_r8"));
    lt_err_clear(&err);
    CHECK(lt_op_convert(be, &wb, &w8, &err) == LT_EINVAL && err.msg[0]);
    lt_arena_free(ar);
    lt_backend_free(be);
}

int main(void) {
    lt_err err;
    for (int nt = 1; nt <= 3; nt++) LT_ASSERT(lt_pool_create(&g_pools[nt], nt, &err) == LT_OK);
    if (!lt_cpu_has_avx2()) printf("no AVX2: the portable path only\n");
    test_pack();
    test_matmul();
    test_ggml();
    test_backend();
    for (int nt = 1; nt <= 3; nt++) lt_pool_free(g_pools[nt]);
    return lt_test_done();
}
