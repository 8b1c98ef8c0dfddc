/* linalg.h - the dense linear algebra the compression passes need, from OpenBLAS (its BLAS
 * and the LAPACK routines it carries), loaded at run time as kernels/cpu/blas.c loads it
 * (OPENBLAS_NUM_THREADS=1 before the library starts: no threads of its own, no hang under
 * an address-space limit). Debian's liblapacke is not linked for the same reason: it pulls
 * libopenblas in at start-up through liblapack.so.3. Row-major throughout.
 * Leaves out: anything on a device; BLAS for the forward (kernels/cpu).
 */
#ifndef LT_LINALG_H
#define LT_LINALG_H

#include <stdbool.h>

#include "core/base/status.h"

/* Loads OpenBLAS once; LT_EUNSUPPORTED saying why when it cannot be loaded. */
lt_status lt_la_load(lt_err *err);

/* c[m x n] = beta * c + alpha * a[m x k] * b[k x n] (b transposed: b is n x k), f32. */
void lt_la_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc);
/* a[m x n] += alpha * x y^T (x strided by incx). */
void lt_la_sger(int m, int n, float alpha, const float *x, int incx, const float *y, float *a, int lda);
/* The upper triangle of c[n x n] += a^T a, a being k x n (f32). */
void lt_la_ssyrk_at(int n, int k, const float *a, int lda, float *c, int ldc);

/* c[m x n] = beta * c + alpha * a . b, float64 (as lt_la_sgemm). */
void lt_la_dgemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double *a, int lda,
                 const double *b, int ldb, double beta, double *c, int ldc);
/* The upper triangle of c[n x n] += a^T a, a being k x n (float64). */
void lt_la_dsyrk_at(int n, int k, const double *a, int lda, double *c, int ldc);
/* Eigen-decomposition of the symmetric h[n x n] (LAPACK dsyevd; h overwritten): vals[n] in
 * descending order, h[i][k] = component i of the k-th eigenvector (columns, as
 * torch.linalg.eigh sorted by descending eigenvalue). */
lt_status lt_la_eigh_desc(double *h, int n, double *vals, lt_err *err);

/* Singular value decomposition of a[n x n] (LAPACK dgesdd; a overwritten): a = u . diag(s) . vt,
 * s[n] descending, u and vt [n x n] orthogonal. */
lt_status lt_la_svd(double *a, int n, double *u, double *s, double *vt, lt_err *err);

/* The upper Cholesky factor of the inverse of the symmetric positive definite h[n x n]
 * (double, overwritten): h = U with H^-1 = U^T U, zeros below the diagonal (GPTQ's Hinv).
 * LT_ERANGE when h is not positive definite. */
lt_status lt_la_chol_inverse_upper(double *h, int n, lt_err *err);

#endif
