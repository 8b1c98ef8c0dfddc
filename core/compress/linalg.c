/* linalg.c - see linalg.h. */
#define _GNU_SOURCE
#include "linalg.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);
typedef void (*ssyrk_fn)(int, int, int, int, int, float, const float *, int, float, float *, int);
typedef void (*sger_fn)(int, int, int, float, const float *, int, const float *, int, float *, int);
typedef void (*potrf_fn)(const char *, const int *, double *, const int *, int *);

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static sgemm_fn g_sgemm;
static ssyrk_fn g_ssyrk;
static sger_fn g_sger;
static potrf_fn g_dpotrf, g_dpotri;

static void load(void) {
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    void (*set_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    if (set_threads) set_threads(1);
    g_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    g_ssyrk = (ssyrk_fn)dlsym(h, "cblas_ssyrk");
    g_sger = (sger_fn)dlsym(h, "cblas_sger");
    g_dpotrf = (potrf_fn)dlsym(h, "dpotrf_");
    g_dpotri = (potrf_fn)dlsym(h, "dpotri_");
}

lt_status lt_la_load(lt_err *err) {
    pthread_once(&g_once, load);
    if (!g_sgemm || !g_ssyrk || !g_sger || !g_dpotrf || !g_dpotri)
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "compression needs OpenBLAS with LAPACK (libopenblas.so.0: cblas_sgemm, cblas_ssyrk, dpotrf_, "
                          "dpotri_), which could not be loaded");
    return LT_OK;
}

/* CBLAS: RowMajor 101, NoTrans 111, Trans 112, Upper 121 */
void lt_la_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    g_sgemm(101, trans_a ? 112 : 111, trans_b ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void lt_la_sger(int m, int n, float alpha, const float *x, int incx, const float *y, float *a, int lda) {
    g_sger(101, m, n, alpha, x, incx, y, 1, a, lda);
}

void lt_la_ssyrk_at(int n, int k, const float *a, int lda, float *c, int ldc) {
    g_ssyrk(101, 121, 112, n, k, 1.0f, a, lda, 1.0f, c, ldc);
}

/* LAPACK is column-major: a symmetric row-major matrix reads the same, and a factor LAPACK
 * leaves in its lower triangle is, read row-major, the transpose: upper. */
lt_status lt_la_chol_inverse_upper(double *h, int n, lt_err *err) {
    int info = 0;
    g_dpotrf("L", &n, h, &n, &info); /* H = L L^T; row-major: upper M = L^T */
    if (info) return lt_err_set(err, LT_ERANGE, "Cholesky: the Hessian is not positive definite (column %d)", info);
    g_dpotri("L", &n, h, &n, &info); /* H^-1, lower col-major = upper row-major */
    if (info) return lt_err_set(err, LT_ERANGE, "Cholesky inverse: singular (column %d)", info);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) h[(size_t)i * n + j] = h[(size_t)j * n + i];
    g_dpotrf("L", &n, h, &n, &info); /* H^-1 = L L^T; row-major upper U = L^T, H^-1 = U^T U */
    if (info) return lt_err_set(err, LT_ERANGE, "Cholesky of the inverse: not positive definite (column %d)", info);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) h[(size_t)i * n + j] = 0;
    return LT_OK;
}
