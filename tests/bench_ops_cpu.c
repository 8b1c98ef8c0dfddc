/* bench_ops_cpu.c - the CPU matmul kernels timed alone (not a test; built beside the tests):
 * matvec GB/s per weight type over copies of the weight larger than the L3 cache (as a real
 * model's layers are), one thread's GB/s per CPU second (what a shared machine's other jobs took
 * left out), and T=64 GFLOP/s; thread-pool overhead.
 *
 *     build/bench_ops_cpu                       every type, llama-7b's and SmolLM2's shapes
 *     LT_BENCH_DT=q8_0 build/bench_ops_cpu      one type
 *     LT_BENCH_HOT=1 ...                        one copy, kept in the caches (the kernel's own speed)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/backend/backend.h"
#include "kernels/cpu/cpu_impl.h"
#include "kernels/cpu/lt_cpu.h"
#include "testutil.h"

static lt_pool *g_pools[3]; /* index = threads */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void noop_job(void *arg, int ith, int nth) { (void)arg; }

/* matvec GB/s over copies of the weight that together exceed the L3 cache (as a real
 * model's layers do), and T=64 GFLOP/s; LT_BENCH_DT=q8_0 limits it to one dtype, LT_BENCH_HOT=1
 * reads one copy */
static void bench(void) {
    const lt_dtype ts[17] = {LT_F32,  LT_F16,  LT_BF16, LT_Q8_0, LT_Q4_0,   LT_Q4_1,   LT_Q5_0,    LT_Q5_1,  LT_Q4_K,
                             LT_Q5_K, LT_Q6_K, LT_Q2_K, LT_Q3_K, LT_IQ4_XS, LT_IQ4_NL, LT_S24_F16, LT_S24_Q4};
    /* llama-7b's attention and FFN shapes, SmolLM2-135M's (576 x 576, up 1536 x 576, down 576 x 1536) */
    const int64_t Ns[5] = {4096, 11008, 576, 1536, 576}, Ks[5] = {4096, 4096, 576, 576, 1536};
    const char *only = getenv("LT_BENCH_DT");
    lt_test_rng r;
    lt_test_rng_seed(&r, 99);
    float *x = malloc(128 * 4096 * 4), *wf = malloc(11008 * 4096 * 4), *y = malloc(128 * 11008 * 4);
    lt_test_fill(&r, x, 128 * 4096, 1.0f);
    lt_test_fill(&r, wf, 11008 * 4096, 0.05f);
    for (int nt = 1; nt <= 2; nt++) {
        double t0 = now_s();
        for (int i = 0; i < 20000; i++) lt_pool_run(g_pools[nt], noop_job, NULL);
        printf("pool %d threads: %.2f us per run\n", nt, (now_s() - t0) / 20000 * 1e6);
    }
    for (int k = 0; k < (int)(sizeof ts / sizeof *ts); k++) {
        if (only && strcmp(only, lt_dtype_name(ts[k]))) continue;
        for (int a = 0; a < 5; a++) {
            int64_t N = Ns[a], K = Ks[a];
            if (K % lt_dtype_block(ts[k])) continue;
            size_t rb = lt_row_bytes(ts[k], K), mat = N * rb;
            /* LT_BENCH_HOT=1: one copy, kept in the caches (the kernel's own speed) */
            const char *hot = getenv("LT_BENCH_HOT");
            int copies = hot && *hot == '1' ? 1 : (int)((256u << 20) / mat) + 1;
            char *w = malloc(mat * copies);
            for (int64_t n = 0; n < N; n++) lt_cpu_quant_row(ts[k], wf + n * K, w + n * rb, K);
            for (int c = 1; c < copies; c++) memcpy(w + c * mat, w, mat);
            for (int nt = 1; nt <= 2; nt++) {
                lt_cpu_matmul_prepare(g_pools[nt], ts[k], 128, K);
                /* best of 5 windows of 0.1 s: the machine may be shared */
                double us = 1e30, cus = 1e30, t0, c0, t;
                for (int win = 0, reps = 0; win < 5; win++) {
                    int wr = 0;
                    t0 = now_s(), c0 = thread_cpu_s();
                    while ((t = now_s() - t0) < 0.1) {
                        lt_cpu_matmul(g_pools[nt], y, x, w + (reps++ % copies) * mat, ts[k], NULL, 1, N, K);
                        wr++;
                    }
                    if (t / wr * 1e6 < us) us = t / wr * 1e6;
                    if ((thread_cpu_s() - c0) / wr * 1e6 < cus) cus = (thread_cpu_s() - c0) / wr * 1e6;
                }
                double gbs = (double)mat / (us * 1e-6) / 1e9;
                /* one thread runs on the caller: its CPU time leaves out what a shared machine's
                   other jobs took (the wall-clock figure does not) */
                char cpu[48] = "";
                if (nt == 1) snprintf(cpu, sizeof cpu, " (%6.2f per CPU s)", (double)mat / (cus * 1e-6) / 1e9);
                int reps2 = 0;
                t0 = now_s();
                while ((t = now_s() - t0) < 0.5) {
                    lt_cpu_matmul(g_pools[nt], y, x, w + (reps2 % copies) * mat, ts[k], NULL, 64, N, K);
                    reps2++;
                }
                printf("%-5s %5lldx%-5lld %d thr: matvec %6.2f GB/s%s %8.1f us | T=64 %6.1f GFLOP/s\n",
                       lt_dtype_name(ts[k]), (long long)N, (long long)K, nt, gbs, cpu, us,
                       2.0 * 64 * N * K * reps2 / t / 1e9);
            }
            free(w);
        }
    }
    free(x), free(wf), free(y);
}

int main(void) {
    lt_err err;
    for (int nt = 1; nt <= 2; nt++)
        if (lt_pool_create(&g_pools[nt], nt, &err) != LT_OK) {
            fprintf(stderr, "pool: %s\n", err.msg);
            return 1;
        }
    bench();
    for (int nt = 1; nt <= 2; nt++) lt_pool_free(g_pools[nt]);
    return 0;
}
