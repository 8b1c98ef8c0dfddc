/* blas.c - OpenBLAS, loaded at run time the first time a product needs it.
 *
 * lathe splits every matrix product over its own thread pool and calls single-threaded
 * sgemm from each worker, so OpenBLAS must never start threads of its own. Linked the usual
 * way, its library constructor starts them before main() runs, and each of them allocates a
 * ~128 MiB buffer first thing: under an address-space limit (ulimit -v) that allocation fails
 * and OpenBLAS retries forever, so the process spins and then hangs at exit joining them.
 * Loading it here instead lets OPENBLAS_NUM_THREADS=1 be set first (no threads at all), and a
 * machine or a limit without room for it gets lathe's own exact loops (lt_pool_blas_ok) rather
 * than a hang. The variable is set when the first thread pool is created, before its threads
 * start (setenv is not safe beside a thread reading the environment); the library itself is
 * loaded only when a product first asks for sgemm (lt_pool_blas_ok): a quantized model's
 * forward never does, and a loaded OpenBLAS (with libgfortran) adds ~2 MiB to the resident
 * set. The CBLAS prototypes come from Debian's <cblas.h>; the library is
 * libopenblas.so.0 (Debian's alternatives pick the build).
 * Leaves out: other BLAS libraries.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "cpu_impl.h"

typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);

static pthread_once_t g_once = PTHREAD_ONCE_INIT, g_env_once = PTHREAD_ONCE_INIT;
static sgemm_fn g_sgemm;

static void set_env(void) { setenv("OPENBLAS_NUM_THREADS", "1", 1); } /* read by OpenBLAS's constructor: start no threads */

void lt_cpu_blas_prepare(void) { pthread_once(&g_env_once, set_env); }

static void load(void) {
    lt_cpu_blas_prepare(); /* a caller without a pool */
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    void (*set_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    if (set_threads) set_threads(1);
    g_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
}

bool lt_cpu_blas_load(void) {
    pthread_once(&g_once, load);
    return g_sgemm != NULL;
}

void lt_cpu_sgemm(bool trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc) {
    /* CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 (cblas.h) */
    g_sgemm(101, 111, trans_b ? 112 : 111, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}
