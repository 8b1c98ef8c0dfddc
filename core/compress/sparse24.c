/* sparse24.c - N:M pruning by magnitude, Wanda and SparseGPT (see sparse24.h). */
#include "sparse24.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/quants.h"
#include "linalg.h"

static const char *const k_masks[] = {"magnitude", "wanda", "sparsegpt"};

bool lt_sparse_mask_parse(const char *name, lt_sparse_mask *m) {
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, k_masks[i])) {
            *m = (lt_sparse_mask)i;
            return true;
        }
    return false;
}

const char *lt_sparse_mask_name(lt_sparse_mask m) { return (unsigned)m < 3 ? k_masks[m] : NULL; }

bool lt_sparse_nm_parse(const char *s, int *n, int *m) {
    int a, b, used = 0;
    if (!s || sscanf(s, "%d:%d%n", &a, &b, &used) != 2 || s[used] || a < 1 || b > 16 || a >= b) return false;
    *n = a, *m = b;
    return true;
}

lt_dtype lt_sparse_dtype(const lt_sparse_opts *o) {
    const int n = o->n ? o->n : 2, m = o->m ? o->m : 4;
    if (n != 2 || m != 4) return LT_F16;
    return o->bits == 4 ? LT_S24_Q4 : LT_S24_F16;
}

void lt_sparse_pack_row(lt_dtype dt, const lt_sparse_out *out, int r, int cols, void *dst) {
    const size_t off = (size_t)r * cols;
    switch (dt) {
    case LT_S24_Q4:
        lt_s24_pack_q4(out->q + off, out->keep + off, out->d + (size_t)r * (cols / 64), out->m + (size_t)r * (cols / 64),
                       cols, dst);
        break;
    case LT_S24_F16: lt_s24_pack_f16(out->wq + off, out->keep + off, cols, dst); break;
    default: lt_dtype_row_from_f32(LT_F16, out->wq + off, dst, cols); break;
    }
}

bool lt_sparse_skip_match(const char *patterns, const char *name) {
    for (const char *p = patterns; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char pat[256];
        if (n > 0 && n < sizeof pat) {
            memcpy(pat, p, n);
            pat[n] = 0;
            if (fnmatch(pat, name, 0) == 0) return true;
        }
        p = e ? e + 1 : p + n;
    }
    return false;
}

static float f16r(float x) { return lt_f16_to_f32(lt_f32_to_f16(x)); }

/* the 4-bit value of x under (d, m), its code in *code */
static inline float q4val(float x, float d, float m, uint8_t *code) {
    float v = rintf((x - m) / d);
    *code = (uint8_t)(v < 0 ? 0 : v > 15 ? 15 : v);
    return lt_mul_rn((float)*code, d) + m;
}

/* d, m of row r's 64-column block at c0 from x (the row's current weights) and keep */
static void block_params(const float *x, const uint8_t *keep, float *d, float *m) {
    float kv[32];
    uint8_t q[32];
    int k = 0;
    for (int j = 0; j < 64; j++)
        if (keep[j] && k < 32) kv[k++] = x[j];
    while (k < 32) kv[k++] = 0; /* not reached: 2:4 keeps 32 of 64 */
    lt_s24_q4_params(kv, q, d, m, NULL);
}

/* magnitude / wanda: scores, then the kept values as they are (f16) or rounded to 4 bits */
static void prune_scored(const float *w, int rows, int cols, const double *h, const lt_sparse_opts *o, int n, int m,
                         const lt_sparse_out *out, float *score) {
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * cols;
        uint8_t *kp = out->keep + (size_t)r * cols;
        float *wq = out->wq + (size_t)r * cols;
        for (int j = 0; j < cols; j++)
            score[j] = o->mask == LT_MASK_WANDA ? fabsf(wr[j]) * (float)sqrt(h[(size_t)j * cols + j]) : fabsf(wr[j]);
        lt_nm_keep(score, cols, n, m, kp);
        if (o->bits == 4)
            for (int b = 0; b < cols / 64; b++) {
                float *d = out->d + (size_t)r * (cols / 64) + b, *mm = out->m + (size_t)r * (cols / 64) + b;
                block_params(wr + 64 * b, kp + 64 * b, d, mm);
                for (int j = 64 * b; j < 64 * b + 64; j++)
                    wq[j] = kp[j] ? q4val(wr[j], *d, *mm, &out->q[(size_t)r * cols + j]) : 0.0f;
            }
        else
            for (int j = 0; j < cols; j++) wq[j] = kp[j] ? f16r(wr[j]) : 0.0f;
    }
}

/* SparseGPT with N:M (fasterprune's prunen/prunem loop) */
static lt_status prune_sparsegpt(const float *w, int rows, int cols, const lt_gptq_hinv *hv, const lt_sparse_opts *o,
                                 int n, int m, const lt_sparse_out *out, double *loss, lt_err *err) {
    const bool *dead;
    const float *U = lt_gptq_hinv_factor(hv, &dead);
    const int B = 128, nb = cols / 64;
    float *W = lt_malloc((size_t)rows * cols * sizeof(float)), *E = lt_malloc((size_t)rows * B * sizeof(float));
    float score[16];
    uint8_t pk[64];
    if (!W || !E) {
        lt_free(W), lt_free(E);
        return lt_err_set(err, LT_ENOMEM, "out of host memory for SparseGPT of a %d x %d matrix", rows, cols);
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) W[(size_t)r * cols + j] = dead[j] ? 0.0f : w[(size_t)r * cols + j];
    double ls = 0;
    for (int i1 = 0; i1 < cols; i1 += B) {
        const int i2 = i1 + B < cols ? i1 + B : cols, cnt = i2 - i1;
        for (int i = 0; i < cnt; i++) {
            const int col = i1 + i;
            const float dg = U[(size_t)col * cols + col];
            if (col % m == 0) /* the mask of the next m columns from the updated weights */
                for (int r = 0; r < rows; r++) {
                    const float *wr = W + (size_t)r * cols + col;
                    for (int j = 0; j < m; j++) {
                        const float u = U[(size_t)(col + j) * cols + col + j];
                        score[j] = wr[j] * wr[j] / (u * u);
                    }
                    lt_nm_keep(score, m, n, m, out->keep + (size_t)r * cols + col);
                }
            if (o->bits == 4 && col % 64 == 0) /* the block's d, m from a provisional mask of its columns */
                for (int r = 0; r < rows; r++) {
                    const float *wr = W + (size_t)r * cols + col;
                    float sc[64];
                    for (int j = 0; j < 64; j++) {
                        const float u = U[(size_t)(col + j) * cols + col + j];
                        sc[j] = wr[j] * wr[j] / (u * u);
                    }
                    lt_nm_keep(sc, 64, 2, 4, pk);
                    block_params(wr, pk, out->d + (size_t)r * nb + col / 64, out->m + (size_t)r * nb + col / 64);
                }
            for (int r = 0; r < rows; r++) {
                const size_t at = (size_t)r * cols + col;
                const float x = W[at];
                float q = 0.0f;
                if (out->keep[at])
                    q = o->bits == 4 ? q4val(x, out->d[(size_t)r * nb + col / 64], out->m[(size_t)r * nb + col / 64],
                                             &out->q[at])
                                     : f16r(x);
                out->wq[at] = q;
                ls += (double)(x - q) * (x - q) / ((double)dg * dg) / 2;
                E[(size_t)r * B + i] = (x - q) / dg;
            }
            if (col + 1 < i2) /* W[:, col+1:i2] -= E[:, i] U[col, col+1:i2] */
                lt_la_sger(rows, i2 - col - 1, -1.0f, E + i, B, U + (size_t)col * cols + col + 1, W + col + 1, cols);
        }
        if (i2 < cols) /* W[:, i2:] -= E U[i1:i2, i2:] */
            lt_la_sgemm(false, false, rows, cols - i2, cnt, -1.0f, E, B, U + (size_t)i1 * cols + i2, cols, 1.0f, W + i2,
                        cols);
    }
    if (loss) *loss = ls;
    lt_free(W), lt_free(E);
    return LT_OK;
}

lt_status lt_sparse_prune(const float *w, int rows, int cols, const double *h, const lt_gptq_hinv *hv,
                          const lt_sparse_opts *o, const lt_sparse_out *out, double *loss, lt_err *err) {
    const int n = o->n ? o->n : 2, m = o->m ? o->m : 4;
    if (loss) *loss = 0;
    if (rows <= 0 || cols <= 0) return lt_err_set(err, LT_EINVAL, "prune: bad shape %d x %d", rows, cols);
    if (n < 1 || n >= m || m > 16) return lt_err_set(err, LT_EINVAL, "prune: --nm %d:%d is not N:M with 1 <= N < M <= 16", n, m);
    if (cols % m) return lt_err_set(err, LT_EINVAL, "prune: --nm %d:%d: M does not divide the row length %d", n, m, cols);
    if (o->bits != 16 && o->bits != 4) return lt_err_set(err, LT_EINVAL, "prune: --bits %d: sparse24 keeps f16 (16) or 4-bit values", o->bits);
    if (o->bits == 4 && (n != 2 || m != 4))
        return lt_err_set(err, LT_EINVAL, "prune: --bits 4 is stored as s24_q4, which is 2:4 only (not %d:%d)", n, m);
    if (o->bits == 4 && cols % 64)
        return lt_err_set(err, LT_EINVAL, "prune: --bits 4 needs rows of a multiple of 64 (not %d)", cols);
    if (o->mask == LT_MASK_WANDA && !h) return lt_err_set(err, LT_EINVAL, "prune: wanda needs calibration statistics");
    if (o->mask == LT_MASK_SPARSEGPT) {
        if (!hv) return lt_err_set(err, LT_EINVAL, "prune: sparsegpt needs the inverse Hessian");
        if (m > 128 || 128 % m)
            return lt_err_set(err, LT_EINVAL, "prune: sparsegpt: --nm %d:%d: M must divide its block of 128", n, m);
        LT_TRY(lt_la_load(err));
        return prune_sparsegpt(w, rows, cols, hv, o, n, m, out, loss, err);
    }
    float *score = lt_malloc((size_t)cols * sizeof(float));
    if (!score) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    prune_scored(w, rows, cols, h, o, n, m, out, score);
    lt_free(score);
    return LT_OK;
}
