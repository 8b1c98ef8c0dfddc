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
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                         double *, int);
typedef void (*dsyrk_fn)(int, int, int, int, int, double, const double *, int, double, double *, int);
typedef void (*syevd_fn)(const char *, const char *, const int *, double *, const int *, double *, double *,
                         const int *, int *, const int *, int *);
typedef void (*gesdd_fn)(const char *, const int *, const int *, double *, const int *, double *, double *, const int *,
                         double *, const int *, double *, const int *, int *, int *);

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static sgemm_fn g_sgemm;
static ssyrk_fn g_ssyrk;
static sger_fn g_sger;
static potrf_fn g_dpotrf, g_dpotri;
static dgemm_fn g_dgemm;
static dsyrk_fn g_dsyrk;
static syevd_fn g_dsyevd;
static gesdd_fn g_dgesdd;

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
    g_dgemm = (dgemm_fn)dlsym(h, "cblas_dgemm");
    g_dsyrk = (dsyrk_fn)dlsym(h, "cblas_dsyrk");
    g_dsyevd = (syevd_fn)dlsym(h, "dsyevd_");
    g_dgesdd = (gesdd_fn)dlsym(h, "dgesdd_");
}

lt_status lt_la_load(lt_err *err) {
    pthread_once(&g_once, load);
    if (!g_sgemm || !g_ssyrk || !g_sger || !g_dpotrf || !g_dpotri || !g_dgemm || !g_dsyrk || !g_dsyevd || !g_dgesdd)
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "compression needs OpenBLAS with LAPACK (libopenblas.so.0: cblas_sgemm, cblas_ssyrk, cblas_dgemm, "
                          "cblas_dsyrk, dpotrf_, dpotri_, dsyevd_, dgesdd_), which could not be loaded");
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

void lt_la_dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double *a, int lda,
                 const double *b, int ldb, double beta, double *c, int ldc) {
    g_dgemm(101, trans_a ? 112 : 111, trans_b ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void lt_la_dsyrk_at(int n, int k, const double *a, int lda, double *c, int ldc) {
    g_dsyrk(101, 121, 112, n, k, 1.0, a, lda, 1.0, c, ldc);
}

/* Row-major symmetric h reads the same column-major; dsyevd leaves eigenvector j in column j,
 * which row-major is row j: the transpose is taken while reordering. */
lt_status lt_la_eigh_desc(double *h, int n, double *vals, lt_err *err) {
    int info = 0, lwork = -1, liwork = -1, iw = 0;
    double wq = 0;
    g_dsyevd("V", "L", &n, h, &n, vals, &wq, &lwork, &iw, &liwork, &info); /* workspace query */
    if (info) return lt_err_set(err, LT_ERANGE, "dsyevd: workspace query failed (%d)", info);
    lwork = (int)wq + 1, liwork = iw + 1;
    double *work = malloc(sizeof(double) * (size_t)lwork + sizeof(double) * (size_t)n * n);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    if (!work || !iwork) {
        free(work), free(iwork);
        return lt_err_set(err, LT_ENOMEM, "dsyevd: out of memory (n = %d)", n);
    }
    g_dsyevd("V", "L", &n, h, &n, vals, work, &lwork, iwork, &liwork, &info);
    if (info) {
        free(work), free(iwork);
        return lt_err_set(err, LT_ERANGE, "dsyevd: the eigenvalues did not converge (%d)", info);
    }
    double *t = work + lwork; /* t[i][k] = component i of the k-th largest */
    for (int k = 0; k < n; k++)
        for (int i = 0; i < n; i++) t[(size_t)i * n + k] = h[(size_t)(n - 1 - k) * n + i];
    for (int k = 0; k < n / 2; k++) {
        double v = vals[k];
        vals[k] = vals[n - 1 - k], vals[n - 1 - k] = v;
    }
    for (size_t i = 0; i < (size_t)n * n; i++) h[i] = t[i];
    free(work), free(iwork);
    return LT_OK;
}

/* Row-major a[n x n] is the column-major a^T = U' S V'^T; so a = V' S U'^T: dgesdd's u (column-major
 * U') read row-major is a's V^T, and its vt read row-major is a's U. */
lt_status lt_la_svd(double *a, int n, double *u, double *s, double *vt, lt_err *err) {
    int info = 0, lwork = -1;
    double wq = 0;
    int *iwork = malloc(sizeof(int) * 8 * (size_t)n);
    if (!iwork) return lt_err_set(err, LT_ENOMEM, "dgesdd: out of memory (n = %d)", n);
    g_dgesdd("A", &n, &n, a, &n, s, vt, &n, u, &n, &wq, &lwork, iwork, &info); /* workspace query */
    double *work = info ? NULL : malloc(sizeof(double) * ((size_t)wq + 1));
    if (work) {
        lwork = (int)wq + 1;
        g_dgesdd("A", &n, &n, a, &n, s, vt, &n, u, &n, work, &lwork, iwork, &info);
    }
    free(work), free(iwork);
    if (!work && !info) return lt_err_set(err, LT_ENOMEM, "dgesdd: out of memory (n = %d)", n);
    if (info) return lt_err_set(err, LT_ERANGE, "dgesdd: the singular values did not converge (%d)", info);
    return LT_OK;
}
