/* test_ops_cuda.c - every op on the CUDA backend (kernels/cuda/<op>.cu) against the CPU
 * backend (checked on its own by test_ops_cpu.c), on the same fresh random inputs (copied
 * with lt_tensor_set/get), plus device out-of-memory handling.
 *
 * Tolerances, relative to max |cpu result|: 1e-5 where the CUDA path computes in f32 from
 * the same bytes, 1e-2 where it rounds to f16/bf16 or where quantized weights meet f32 (the
 * CPU may quantize activations to 8 bits), 0 for dequantization (convert to f32). Each check
 * prints one line with its error. GGML's other block types (q4_1 ... iq4_xs) are random blocks
 * with moderate scales (no host quantizer needed: both backends read the same bytes). At the
 * end, not a check: the time of a decode-shaped matmul per weight type ("speed:" lines), and of
 * the gq4 W4A16 kernel at T = 1 and 16 against the device's copy bandwidth.
 * Skips (77) when the build has no CUDA backend or no device is present.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/base/clock.h"
#include "core/base/dtype.h"
#include "testutil.h"

static lt_backend *cpu, *gpu;
static lt_test_rng rng;

/* ---- tensors on both backends ------------------------------------------------------------- */

#define MAX_BUFS 64
static struct {
    lt_backend *be;
    void *p;
    size_t n;
} bufs[MAX_BUFS];
static int n_bufs;

/* A tensor whose data starts off bytes into a fresh allocation (off > 0: a misaligned view). */
static lt_tensor alloc_at(lt_backend *be, lt_dtype dt, int ndim, int64_t d0, int64_t d1, size_t off) {
    int64_t sh[2] = {d0, d1};
    lt_tensor t = lt_tensor_make(be, dt, NULL, ndim, sh);
    size_t n = lt_tensor_nbytes(&t) + off;
    lt_err err;
    void *p = NULL;
    if (n_bufs == MAX_BUFS || lt_backend_alloc(be, n, LT_MEM_OTHER, &p, &err) != LT_OK) {
        fprintf(stderr, "test setup: cannot allocate %zu bytes on %s\n", n, lt_backend_name(be));
        exit(1);
    }
    bufs[n_bufs].be = be, bufs[n_bufs].p = p, bufs[n_bufs].n = n;
    n_bufs++;
    t.data = (char *)p + off;
    return t;
}

static lt_tensor alloc_t(lt_backend *be, lt_dtype dt, int ndim, int64_t d0, int64_t d1) {
    return alloc_at(be, dt, ndim, d0, d1, 0);
}

static void release_all(void) {
    for (int i = 0; i < n_bufs; i++) lt_backend_release(bufs[i].be, bufs[i].p, bufs[i].n, LT_MEM_OTHER);
    n_bufs = 0;
}

typedef struct pair {
    lt_tensor c, g; /* the same tensor on the CPU and on the CUDA backend */
} pair;

static void set_t(lt_tensor *t, const void *host) {
    lt_err err;
    if (lt_tensor_set(t, host, lt_tensor_nbytes(t), &err) != LT_OK) {
        fprintf(stderr, "test setup: set: %s\n", err.msg);
        exit(1);
    }
}

/* A [d0, d1] (ndim 2) or [d0] (ndim 1) tensor on both backends, filled from host if given; the
 * CUDA one starts off bytes into its allocation. */
static pair mk_at(lt_dtype dt, int ndim, int64_t d0, int64_t d1, const void *host, size_t off) {
    pair p;
    p.c = alloc_t(cpu, dt, ndim, d0, d1);
    p.g = alloc_at(gpu, dt, ndim, d0, d1, off);
    if (host) {
        set_t(&p.c, host);
        set_t(&p.g, host);
    }
    return p;
}

static pair mk(lt_dtype dt, int ndim, int64_t d0, int64_t d1, const void *host) {
    return mk_at(dt, ndim, d0, d1, host, 0);
}

static float *randf(int64_t n, float scale) {
    float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    lt_test_fill(&rng, x, n, scale);
    return x;
}

/* f32 rows -> bytes of dtype dt, with the shared scalar formulas of lt_math.h. */
static void *host_quant(lt_dtype dt, const float *x, int64_t rows, int64_t cols) {
    size_t rb = lt_row_bytes(dt, cols);
    unsigned char *out = malloc(rows * rb + 1);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        unsigned char *o = out + r * rb;
        for (int64_t j = 0; j < cols; j += lt_dtype_block(dt)) {
            switch (dt) {
            case LT_F32: memcpy(o + j * 4, xr + j, 4); break;
            case LT_F16: ((uint16_t *)o)[j] = lt_f32_to_f16(xr[j]); break;
            case LT_BF16: ((uint16_t *)o)[j] = lt_f32_to_bf16(xr[j]); break;
            case LT_Q8_0: lt_quant_q8_0(xr + j, (lt_block_q8_0 *)o + j / LT_QK8_0); break;
            case LT_Q4_0: lt_quant_q4_0(xr + j, (lt_block_q4_0 *)o + j / LT_QK4_0); break;
            case LT_S24_F16: /* 2:4 by magnitude (the dtype table's quantizer) */
            case LT_S24_Q4:
                lt_dtype_row_from_f32(dt, xr + j, o + lt_row_bytes(dt, j), lt_dtype_block(dt));
                break;
            default: break;
            }
        }
    }
    return out;
}

/* GGML's other block types (lt_quants.h; CUDA kernels in matmul_quants.cu). */
static const lt_dtype k_qtypes[] = {LT_Q4_1, LT_Q5_0, LT_Q5_1, LT_IQ4_NL, LT_Q2_K,
                                    LT_Q3_K, LT_Q4_K, LT_Q5_K, LT_Q6_K,   LT_IQ4_XS};
#define N_QTYPES ((int)(sizeof k_qtypes / sizeof *k_qtypes))

/* rows x cols of dtype dt as random blocks: random quant and scale bytes, the f16 scales and mins
 * N(0, 0.05^2), so the values stay well inside f16 (the cuBLAS path rounds weights to f16). The
 * CPU backend reads the same bytes, so no quantizer is needed. */
static void *random_blocks(lt_dtype dt, int64_t rows, int64_t cols) {
    const size_t bb = (size_t)lt_dtype_block_bytes(dt), nb = (size_t)(rows * cols / lt_dtype_block(dt));
    unsigned char *out = malloc(nb * bb + 1);
    for (size_t i = 0; i < nb * bb; i++) out[i] = (unsigned char)lt_test_u32(&rng);
    size_t off[2];
    int nf = 0;
    switch (dt) {
    case LT_Q4_1: off[0] = offsetof(lt_block_q4_1, d), off[1] = offsetof(lt_block_q4_1, m), nf = 2; break;
    case LT_Q5_0: off[0] = offsetof(lt_block_q5_0, d), nf = 1; break;
    case LT_Q5_1: off[0] = offsetof(lt_block_q5_1, d), off[1] = offsetof(lt_block_q5_1, m), nf = 2; break;
    case LT_IQ4_NL: off[0] = offsetof(lt_block_iq4_nl, d), nf = 1; break;
    case LT_Q2_K: off[0] = offsetof(lt_block_q2_K, d), off[1] = offsetof(lt_block_q2_K, dmin), nf = 2; break;
    case LT_Q3_K: off[0] = offsetof(lt_block_q3_K, d), nf = 1; break;
    case LT_Q4_K: off[0] = offsetof(lt_block_q4_K, d), off[1] = offsetof(lt_block_q4_K, dmin), nf = 2; break;
    case LT_Q5_K: off[0] = offsetof(lt_block_q5_K, d), off[1] = offsetof(lt_block_q5_K, dmin), nf = 2; break;
    case LT_Q6_K: off[0] = offsetof(lt_block_q6_K, d), nf = 1; break;
    case LT_IQ4_XS: off[0] = offsetof(lt_block_iq4_xs, d), nf = 1; break;
    default: break;
    }
    for (size_t b = 0; b < nb; b++)
        for (int f = 0; f < nf; f++) {
            uint16_t h = lt_f32_to_f16(0.05f * lt_test_normal(&rng));
            memcpy(out + b * bb + off[f], &h, 2);
        }
    return out;
}

/* Whole tensor as f32 (f32 or f16 tensors). */
static float *get_f32(const lt_tensor *t) {
    int64_t n = lt_tensor_numel(t);
    size_t nb = lt_tensor_nbytes(t);
    float *out = malloc((size_t)(n ? n : 1) * sizeof *out);
    void *raw = malloc(nb ? nb : 1);
    lt_err err;
    lt_status s = lt_tensor_get(t, raw, nb, &err);
    CHECKF(s == LT_OK, "get from %s: %s", lt_backend_name(t->be), err.msg);
    if (s != LT_OK) memset(raw, 0, nb);
    for (int64_t i = 0; i < n; i++)
        out[i] = t->dtype == LT_F16 ? lt_f16_to_f32(((uint16_t *)raw)[i]) : ((float *)raw)[i];
    free(raw);
    return out;
}

static void op_ok(lt_status s, const lt_err *err, const char *what, const char *be) {
    CHECKF(s == LT_OK, "%s on %s: %s", what, be, err->msg);
}

/* Compares the two results of p and prints one line. */
static void compare(const char *what, const pair *p, double tol) {
    int64_t n = lt_tensor_numel(&p->c);
    float *a = get_f32(&p->g), *b = get_f32(&p->c);
    double e = lt_test_rel_err_ff(a, b, n);
    CHECKF(e <= tol, "%s: rel err %.3g above %.0e", what, e, tol);
    printf("%-58s rel err %.2e (tol %.0e) %s\n", what, e, tol, e <= tol ? "ok" : "FAIL");
    free(a);
    free(b);
}

static double tol_for(lt_dtype dt) { return dt == LT_F32 ? 1e-5 : 1e-2; }

static const lt_dtype k_wtypes[] = {LT_F32, LT_F16, LT_BF16, LT_Q8_0, LT_Q4_0};
static const int k_T[] = {1, 5, 64};

/* ---- ops ------------------------------------------------------------------------------------ */

static void check_get_rows(void) {
    for (int di = 0; di < 5; di++) {
        lt_dtype dt = k_wtypes[di];
        int64_t R = 50, D = lt_dtype_block(dt) > 1 ? 96 : 37;
        float *tab = randf(R * D, 1.0f);
        void *tq = host_quant(dt, tab, R, D);
        for (int ti = 0; ti < 3; ti++) {
            int T = k_T[ti];
            int32_t ids[64];
            for (int i = 0; i < T; i++) ids[i] = (int32_t)(lt_test_u32(&rng) % R);
            pair t = mk(dt, 2, R, D, tq), id = mk(LT_I32, 1, T, 0, ids), y = mk(LT_F32, 2, T, D, NULL);
            lt_err e1, e2;
            op_ok(lt_op_get_rows(cpu, &y.c, &t.c, &id.c, &e1), &e1, "get_rows", "cpu");
            op_ok(lt_op_get_rows(gpu, &y.g, &t.g, &id.g, &e2), &e2, "get_rows", "cuda");
            char what[96];
            snprintf(what, sizeof what, "get_rows %s T=%d D=%lld", lt_dtype_name(dt), T, (long long)D);
            compare(what, &y, 1e-5); /* same bytes, exact dequantization */
            release_all();
        }
        free(tab);
        free(tq);
    }
}

/* get_rows of GGML's other block types (lt_cu_elem, element by element). */
static void check_get_rows_quants(void) {
    for (int di = 0; di < N_QTYPES; di++) {
        lt_dtype dt = k_qtypes[di];
        int64_t R = 50, D = 2 * (int64_t)lt_dtype_block(dt);
        void *tq = random_blocks(dt, R, D);
        int T = 5;
        int32_t ids[5];
        for (int i = 0; i < T; i++) ids[i] = (int32_t)(lt_test_u32(&rng) % R);
        pair t = mk(dt, 2, R, D, tq), id = mk(LT_I32, 1, T, 0, ids), y = mk(LT_F32, 2, T, D, NULL);
        lt_err e1, e2;
        op_ok(lt_op_get_rows(cpu, &y.c, &t.c, &id.c, &e1), &e1, "get_rows", "cpu");
        op_ok(lt_op_get_rows(gpu, &y.g, &t.g, &id.g, &e2), &e2, "get_rows", "cuda");
        char what[96];
        snprintf(what, sizeof what, "get_rows %s T=%d D=%lld", lt_dtype_name(dt), T, (long long)D);
        compare(what, &y, 1e-5);
        release_all();
        free(tq);
    }
}

/* y = x . w^T (+ b when b) on both backends for weight pair pw [N, K], compared within tol;
 * note ends the case's name. Releases every pair. */
static void matmul_pair(lt_dtype dt, int T, int64_t N, int64_t K, pair *pw, const float *x, const float *b,
                        const char *note, double tol) {
    pair px = mk(LT_F32, 2, T, K, x), pb = mk(LT_F32, 1, N, 0, b), py = mk(LT_F32, 2, T, N, NULL);
    lt_err e1, e2;
    op_ok(lt_op_matmul(cpu, &py.c, &px.c, &pw->c, b ? &pb.c : NULL, &e1), &e1, "matmul", "cpu");
    op_ok(lt_op_matmul(gpu, &py.g, &px.g, &pw->g, b ? &pb.g : NULL, &e2), &e2, "matmul", "cuda");
    char what[96];
    snprintf(what, sizeof what, "matmul %s T=%d N=%lld K=%lld%s%s", lt_dtype_name(dt), T, (long long)N, (long long)K,
             b ? " +bias" : "", note);
    compare(what, &py, tol);
    release_all();
}

/* off: the CUDA weight starts off bytes into its allocation (misaligned views take the
 * element-wise kernels). */
static void matmul_case_at(lt_dtype dt, int T, int64_t N, int64_t K, bool with_bias, size_t off) {
    bool qtype = lt_dtype_block(dt) > 1 && dt != LT_Q8_0 && dt != LT_Q4_0 && dt != LT_S24_F16 &&
                 dt != LT_S24_Q4; /* no host quantizer yet */
    float *w = qtype ? NULL : randf(N * K, 0.5f), *x = randf((int64_t)T * K, 1.0f), *b = randf(N, 1.0f);
    void *wq = qtype ? random_blocks(dt, N, K) : host_quant(dt, w, N, K);
    pair pw = mk_at(dt, 2, N, K, wq, off);
    /* f32 weights with T > 8 go through cuBLAS in f32; the others round to 16 bits */
    matmul_pair(dt, T, N, K, &pw, x, with_bias ? b : NULL, off ? (off & 1 ? " w+1" : " w+2") : "", tol_for(dt));
    free(w), free(x), free(b), free(wq);
}

static void matmul_case(lt_dtype dt, int T, int64_t N, int64_t K, bool with_bias) {
    matmul_case_at(dt, T, N, K, with_bias, 0);
}

static void check_matmul(void) {
    static const int Ts[] = {1, 2, 5, 8, 9, 64};
    for (int di = 0; di < 5; di++) {
        lt_dtype dt = k_wtypes[di];
        bool quant = lt_dtype_block(dt) > 1;
        for (int ti = 0; ti < 6; ti++) {
            int T = Ts[ti];
            matmul_case(dt, T, 67, quant ? 96 : 40, ti % 2 == 0); /* vector paths, N not a multiple of 4 */
            if (!quant) matmul_case(dt, T, 33, 37, true);          /* odd K: scalar GEMV, odd cuBLAS sizes */
        }
        matmul_case(dt, 1, 300, 1024, true); /* longer rows: many iterations per lane */
        matmul_case(dt, 64, 300, 1024, false);
        /* quantized prefill dequantizes 64 MiB f16 tiles: 2200 rows of 16384 take two */
        if (quant) matmul_case(dt, 9, 2200, 16384, true);
    }
}

/* 2:4 sparse (s24_f16, s24_q4): T <= 8 matmul_s24.cu's GEMV over the kept values; T > 8
 * s24_f16 its mma.sp kernel (kernels/lt_s24mma.h: ragged rows and token tiles, K % 32 == 16),
 * s24_q4 f16 tiles + cuBLAS; at a 1-byte offset the element-wise GEMV / tiles + cuBLAS. */
static void check_matmul_s24(void) {
    static const int Ts[] = {1, 2, 3, 8, 9, 70};
    for (int di = 0; di < 2; di++) {
        const lt_dtype dt = di ? LT_S24_Q4 : LT_S24_F16;
        for (int ti = 0; ti < 6; ti++) matmul_case(dt, Ts[ti], 67, 192, ti % 2 == 0);
        matmul_case(dt, 1, 300, 4096, true); /* many steps per lane */
        matmul_case(dt, 8, 300, 4096, false);
        matmul_case_at(dt, 3, 67, 192, true, 1);
    }
    static const int Tp[] = {16, 17, 64, 100, 128};
    for (int ti = 0; ti < 5; ti++) {
        matmul_case(LT_S24_F16, Tp[ti], 67, 192, ti % 2 == 0);
        matmul_case(LT_S24_F16, Tp[ti], 130, 208, ti % 2 == 1); /* K % 32 == 16 */
    }
    matmul_case(LT_S24_F16, 128, 300, 4096, true);
    matmul_case_at(LT_S24_F16, 16, 67, 192, true, 1);
}

/* GGML's other block types: T <= 8 the block-wise GEMV (matmul_quants.cu), T > 8 block-wise
 * dequantization to f16 + cuBLAS. */
static void check_matmul_quants(void) {
    static const int Ts[] = {1, 2, 3, 8, 9, 70};
    for (int di = 0; di < N_QTYPES; di++) {
        lt_dtype dt = k_qtypes[di];
        const int64_t qk = lt_dtype_block(dt);
        for (int ti = 0; ti < 6; ti++) /* 3 blocks of 32 (a partial warp step) or 3 super-blocks (1.5) */
            matmul_case(dt, Ts[ti], 67, 3 * qk, ti % 2 == 0);
        matmul_case(dt, 1, 300, qk == 32 ? 4128 : 4096, true); /* many steps per row */
        matmul_case(dt, 8, 300, qk == 32 ? 4128 : 4096, false);
        matmul_case(dt, 70, 300, 2 * qk, true);
    }
    /* weights at a 2-byte offset: 4-byte loads ruled out for q4_K (scalar GEMV, element-wise
     * dequantization), fine for q6_K (2-byte loads); at 1 byte nothing block-wise is possible */
    matmul_case_at(LT_Q4_K, 1, 67, 512, true, 2);
    matmul_case_at(LT_Q4_K, 9, 67, 512, true, 2);
    matmul_case_at(LT_Q6_K, 1, 67, 512, true, 2);
    matmul_case_at(LT_Q6_K, 9, 67, 512, false, 1);
    matmul_case_at(LT_Q5_0, 3, 67, 96, true, 1);
    /* two 64 MiB f16 tiles of dequantized weights (4- and 2-byte aligned blocks) */
    matmul_case(LT_Q4_K, 9, 2200, 16384, true);
    matmul_case(LT_Q6_K, 9, 2200, 16384, false);
}

static void check_rmsnorm(void) {
    static const int64_t Ds[] = {37, 1000};
    for (int di = 0; di < 2; di++)
        for (int ti = 0; ti < 3; ti++) {
            int T = k_T[ti];
            int64_t D = Ds[di];
            float *x = randf(T * D, 2.0f), *w = randf(D, 1.0f);
            pair px = mk(LT_F32, 2, T, D, x), pw = mk(LT_F32, 1, D, 0, w), py = mk(LT_F32, 2, T, D, NULL);
            lt_err e1, e2;
            op_ok(lt_op_rmsnorm(cpu, &py.c, &px.c, &pw.c, 1e-5f, &e1), &e1, "rmsnorm", "cpu");
            op_ok(lt_op_rmsnorm(gpu, &py.g, &px.g, &pw.g, 1e-5f, &e2), &e2, "rmsnorm", "cuda");
            char what[96];
            snprintf(what, sizeof what, "rmsnorm T=%d D=%lld", T, (long long)D);
            compare(what, &py, 1e-5);
            /* in place (y aliases x) */
            op_ok(lt_op_rmsnorm(cpu, &px.c, &px.c, &pw.c, 1e-6f, &e1), &e1, "rmsnorm", "cpu");
            op_ok(lt_op_rmsnorm(gpu, &px.g, &px.g, &pw.g, 1e-6f, &e2), &e2, "rmsnorm", "cuda");
            snprintf(what, sizeof what, "rmsnorm in place T=%d D=%lld", T, (long long)D);
            compare(what, &px, 1e-5);
            release_all();
            free(x), free(w);
        }
}

static void check_rope(void) {
    static const int dims[][2] = {{3, 10}, {4, 64}}; /* heads, head_dim */
    for (int ci = 0; ci < 2; ci++)
        for (int mode = 0; mode < 8; mode++) /* neox or pairs; every dimension or half (partial rotary); scale */
            for (int ti = 0; ti < 3; ti++) {
                int neox = mode & 1, T = k_T[ti], H = dims[ci][0], Dh = dims[ci][1], n_rot = mode & 2 ? Dh / 2 : Dh;
                float sc = mode & 4 ? 1.19f : 1.0f;
                if (n_rot % 2) n_rot++;
                float *x = randf((int64_t)T * H * Dh, 1.0f), fr[64];
                int32_t pos[64];
                for (int i = 0; i < n_rot / 2; i++) fr[i] = powf(10000.0f, -2.0f * i / n_rot);
                for (int i = 0; i < T; i++) pos[i] = (int32_t)(lt_test_u32(&rng) % 4096);
                pair px = mk(LT_F32, 2, T, (int64_t)H * Dh, x), pp = mk(LT_I32, 1, T, 0, pos);
                pair pf = mk(LT_F32, 1, n_rot / 2, 0, fr);
                lt_err e1, e2;
                op_ok(lt_op_rope(cpu, &px.c, &pp.c, &pf.c, H, Dh, neox, sc, &e1), &e1, "rope", "cpu");
                op_ok(lt_op_rope(gpu, &px.g, &pp.g, &pf.g, H, Dh, neox, sc, &e2), &e2, "rope", "cuda");
                char what[96];
                snprintf(what, sizeof what, "rope %s T=%d heads=%d head_dim=%d n_rot=%d scale=%g", neox ? "neox" : "pairs",
                         T, H, Dh, n_rot, sc);
                compare(what, &px, 1e-5);
                release_all();
                free(x);
            }
}

static void check_elementwise(void) {
    static const int64_t ns[] = {1, 1001, 64 * 96};
    for (int i = 0; i < 3; i++) {
        int64_t n = ns[i];
        float *a = randf(n, 3.0f), *b = randf(n, 1.0f);
        pair pa = mk(LT_F32, 1, n, 0, a), pb = mk(LT_F32, 1, n, 0, b), py = mk(LT_F32, 1, n, 0, NULL);
        lt_err e1, e2;
        char what[96];
        op_ok(lt_op_silu_mul(cpu, &py.c, &pa.c, &pb.c, &e1), &e1, "silu_mul", "cpu");
        op_ok(lt_op_silu_mul(gpu, &py.g, &pa.g, &pb.g, &e2), &e2, "silu_mul", "cuda");
        snprintf(what, sizeof what, "silu_mul n=%lld", (long long)n);
        compare(what, &py, 1e-5);
        op_ok(lt_op_add(cpu, &py.c, &pa.c, &pb.c, &e1), &e1, "add", "cpu");
        op_ok(lt_op_add(gpu, &py.g, &pa.g, &pb.g, &e2), &e2, "add", "cuda");
        snprintf(what, sizeof what, "add n=%lld", (long long)n);
        compare(what, &py, 1e-5);
        /* aliasing: a = silu(a) * b, then a = a + a */
        op_ok(lt_op_silu_mul(cpu, &pa.c, &pa.c, &pb.c, &e1), &e1, "silu_mul", "cpu");
        op_ok(lt_op_silu_mul(gpu, &pa.g, &pa.g, &pb.g, &e2), &e2, "silu_mul", "cuda");
        op_ok(lt_op_add(cpu, &pa.c, &pa.c, &pa.c, &e1), &e1, "add", "cpu");
        op_ok(lt_op_add(gpu, &pa.g, &pa.g, &pa.g, &e2), &e2, "add", "cuda");
        snprintf(what, sizeof what, "silu_mul + add in place n=%lld", (long long)n);
        compare(what, &pa, 1e-5);
        release_all();
        free(a), free(b);
    }
}

/* x += alpha . (x . v^T) . v in place (v [R, K]): the same products summed in another grouping, so
 * to rounding */
static void check_lowrank(void) {
    static const int Ts[] = {1, 3, 70};
    for (int di = 0; di < 3; di++)
        for (int ti = 0; ti < 3; ti++) {
            const lt_dtype dt = k_wtypes[di];
            const int T = Ts[ti];
            const int64_t R = 144, K = 437;
            float *v = randf(R * K, 0.05f), *x = randf((int64_t)T * K, 1.0f);
            void *vq = host_quant(dt, v, R, K);
            pair pv = mk(dt, 2, R, K, vq), px = mk(LT_F32, 2, T, K, x);
            lt_err e1, e2;
            op_ok(lt_op_lowrank(cpu, &px.c, &px.c, &pv.c, -1.0f, &e1), &e1, "lowrank", "cpu");
            op_ok(lt_op_lowrank(gpu, &px.g, &px.g, &pv.g, -1.0f, &e2), &e2, "lowrank", "cuda");
            char what[96];
            snprintf(what, sizeof what, "lowrank %s T=%d R=%lld K=%lld", lt_dtype_name(dt), T, (long long)R,
                     (long long)K);
            compare(what, &px, 1e-5);
            release_all();
            free(v), free(x), free(vq);
        }
}

static void check_convert(void) {
    for (int di = 1; di < 5; di++) {
        lt_dtype dt = k_wtypes[di];
        int64_t R = 7, C = lt_dtype_block(dt) > 1 ? 160 : 37;
        float *x = randf(R * C, 2.0f);
        x[3] = 0.0f; /* a few special values */
        x[5] = dt == LT_F16 ? 65000.0f : 65.0f; /* near the f16 limit */
        for (int j = 0; j < 32; j++) x[C + j] = 0.0f; /* an all-zero block in row 1 */
        pair px = mk(LT_F32, 2, R, C, x), pq = mk(dt, 2, R, C, NULL), pb = mk(LT_F32, 2, R, C, NULL);
        lt_err e1, e2;
        char what[96];
        /* f32 -> dt on each backend, then the bytes must match */
        op_ok(lt_op_convert(cpu, &pq.c, &px.c, &e1), &e1, "convert", "cpu");
        op_ok(lt_op_convert(gpu, &pq.g, &px.g, &e2), &e2, "convert", "cuda");
        size_t nb = lt_tensor_nbytes(&pq.c);
        unsigned char *qc = malloc(nb), *qg = malloc(nb);
        CHECK(lt_tensor_get(&pq.c, qc, nb, &e1) == LT_OK);
        CHECK(lt_tensor_get(&pq.g, qg, nb, &e2) == LT_OK);
        size_t diff = 0;
        for (size_t i = 0; i < nb; i++) diff += qc[i] != qg[i];
        /* the same formulas (lt_math.h; divisions and products correctly rounded on the
         * device too) must give the same bytes */
        CHECKF(diff == 0, "convert f32->%s: %zu of %zu bytes differ", lt_dtype_name(dt), diff, nb);
        snprintf(what, sizeof what, "convert f32 -> %s bytes", lt_dtype_name(dt));
        printf("%-58s %zu of %zu differ %s\n", what, diff, nb, diff ? "(see round trip)" : "ok");
        /* dt -> f32 on each backend from its own bytes */
        op_ok(lt_op_convert(cpu, &pb.c, &pq.c, &e1), &e1, "convert", "cpu");
        op_ok(lt_op_convert(gpu, &pb.g, &pq.g, &e2), &e2, "convert", "cuda");
        snprintf(what, sizeof what, "convert f32 -> %s -> f32 [%lld, %lld]", lt_dtype_name(dt), (long long)R,
                 (long long)C);
        compare(what, &pb, lt_dtype_block(dt) > 1 ? 1e-2 : 1e-5);
        /* dt -> f32 of the very same bytes must be exact */
        set_t(&pq.g, qc);
        op_ok(lt_op_convert(gpu, &pb.g, &pq.g, &e2), &e2, "convert", "cuda");
        snprintf(what, sizeof what, "convert %s -> f32, same bytes", lt_dtype_name(dt));
        compare(what, &pb, 1e-6);
        release_all();
        free(x), free(qc), free(qg);
    }
}

/* GGML's other block types -> f32: block-wise (matmul_quants.cu), and element-wise into a
 * misaligned f32 view; both bit-exact to the CPU (the same formulas on the same bytes). */
static void check_convert_quants(void) {
    for (int di = 0; di < N_QTYPES; di++) {
        lt_dtype dt = k_qtypes[di];
        int64_t R = 7, C = 2 * (int64_t)lt_dtype_block(dt);
        void *q = random_blocks(dt, R, C);
        for (size_t off = 0; off <= 4; off += 4) {
            pair pq = mk(dt, 2, R, C, q), pb = mk_at(LT_F32, 2, R, C, NULL, off);
            lt_err e1, e2;
            op_ok(lt_op_convert(cpu, &pb.c, &pq.c, &e1), &e1, "convert", "cpu");
            op_ok(lt_op_convert(gpu, &pb.g, &pq.g, &e2), &e2, "convert", "cuda");
            char what[96];
            snprintf(what, sizeof what, "convert %s -> f32 [%lld, %lld]%s", lt_dtype_name(dt), (long long)R,
                     (long long)C, off ? " into y+4" : "");
            compare(what, &pb, 0.0);
            release_all();
        }
        free(q);
    }
}

/* Not a check: microseconds per lt_op_matmul(w) on a random [T, K] input, over reps calls after
 * one warm-up (every call must succeed); what gets the line's label "speed: matmul TYPE T= N= K=". */
static double time_matmul(const lt_tensor *w, int T, int reps, char what[96]) {
    const int64_t N = w->shape[0], K = w->shape[1];
    lt_tensor x = alloc_t(gpu, LT_F32, 2, T, K), y = alloc_t(gpu, LT_F32, 2, T, N);
    float *xh = randf((int64_t)T * K, 1.0f);
    set_t(&x, xh);
    free(xh);
    lt_err err;
    bool ok = lt_op_matmul(gpu, &y, &x, w, NULL, &err) == LT_OK && lt_backend_sync(gpu, &err) == LT_OK;
    double t0 = lt_now();
    for (int r = 0; r < reps && ok; r++) ok = lt_op_matmul(gpu, &y, &x, w, NULL, &err) == LT_OK;
    ok = ok && lt_backend_sync(gpu, &err) == LT_OK;
    const double us = (lt_now() - t0) / reps * 1e6;
    CHECKF(ok, "matmul speed %s T=%d: %s", lt_dtype_name(w->dtype), T, err.msg);
    snprintf(what, 96, "speed: matmul %s T=%d N=%lld K=%lld", lt_dtype_name(w->dtype), T, (long long)N, (long long)K);
    return us;
}

/* Not a check: GEMV time per weight type at a decode shape (Llama-3-8B's FFN up, 14336 x 4096),
 * as the weight bandwidth it reaches. */
static void report_gemv_speed(void) {
    if (LT_TEST_SELF) return;
    static const lt_dtype ts[] = {LT_F16,  LT_Q8_0, LT_Q4_0, LT_Q4_1, LT_Q5_0, LT_Q5_1, LT_IQ4_NL,
                                  LT_Q2_K, LT_Q3_K, LT_Q4_K, LT_Q5_K, LT_Q6_K, LT_IQ4_XS};
    const int64_t N = 14336, K = 4096;
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        lt_dtype dt = ts[i];
        lt_tensor w = alloc_t(gpu, dt, 2, N, K);
        void *wq = random_blocks(dt, N, K); /* plain random bytes for f16/q8_0/q4_0 too: timing only */
        set_t(&w, wq);
        free(wq);
        for (int T = 1; T <= 8; T *= 8) {
            char what[96];
            const double us = time_matmul(&w, T, 50, what);
            printf("%-58s %8.1f us  %6.0f GB/s of weights\n", what, us, lt_tensor_nbytes(&w) / (us * 1e3));
        }
        release_all();
    }
}

/* ---- GPTQ gq4 (matmul_marlin.cu: the W4A16 kernel over kernels/lt_marlin.h's layout) ----------
 * gq4 matrices with integer zero points and N % 64 == 0 go up re-laid out (lt_tensor_set): the
 * kernel for T <= 64, dequantized f16 tiles + cuBLAS above; get_rows, convert and downloads read
 * the layout back. Other shapes or fractional zeros stay in rows (matmul_quants.cu's GEMV). */

/* rows x cols gq4 blocks: f16 scales N(0, 0.05^2), zero points integers 0..15 (frac: 0.5 added
 * to one of them, which keeps the matrix in rows), random codes */
static void *random_gq4(lt_dtype dt, int64_t rows, int64_t cols, bool frac) {
    const size_t bb = (size_t)lt_dtype_block_bytes(dt), nb = (size_t)(rows * cols / lt_dtype_block(dt));
    unsigned char *out = malloc(nb * bb + 1);
    for (size_t i = 0; i < nb * bb; i++) out[i] = (unsigned char)lt_test_u32(&rng);
    for (size_t b = 0; b < nb; b++) {
        uint16_t d = lt_f32_to_f16(0.05f * lt_test_normal(&rng)), z = lt_f32_to_f16((float)(lt_test_u32(&rng) % 16));
        if (frac && b == nb / 2) z = lt_f32_to_f16(7.5f);
        memcpy(out + b * bb, &d, 2);
        memcpy(out + b * bb + 2, &z, 2);
    }
    return out;
}

static void gq4_case(lt_dtype dt, int T, int64_t N, int64_t K, bool with_bias, bool frac) {
    float *x = randf((int64_t)T * K, 1.0f), *b = randf(N, 1.0f);
    void *wq = random_gq4(dt, N, K, frac);
    pair pw = mk(dt, 2, N, K, wq);
    matmul_pair(dt, T, N, K, &pw, x, with_bias ? b : NULL, frac ? " (rows)" : "", 1e-2);
    free(x), free(b), free(wq);
}

static void check_gq4(void) {
    static const lt_dtype ts[] = {LT_GQ4_32, LT_GQ4_64, LT_GQ4_128};
    static const int Ts[] = {1, 2, 5, 8, 9, 16, 17, 64, 70};
    for (int di = 0; di < 3; di++) {
        const lt_dtype dt = ts[di];
        for (int ti = 0; ti < 9; ti++) gq4_case(dt, Ts[ti], 192, 384, ti % 2 == 0, false); /* 3 n-blocks */
        gq4_case(dt, 1, 256, 4096, true, false);  /* 4 n-blocks per CTA, many k-splits */
        gq4_case(dt, 16, 256, 4096, false, false);
        gq4_case(dt, 3, 128, 1024, true, false);  /* 2 n-blocks per CTA */
        gq4_case(dt, 3, 67, 384, true, false);    /* N % 64: stays in rows, the GEMV */
        gq4_case(dt, 3, 128, 384, true, true);    /* a fractional zero point: rows */
    }
    /* the layout read back: get_rows, convert, a download, and the refusals of parts */
    const lt_dtype dt = LT_GQ4_64;
    const int64_t R = 128, D = 256;
    void *q = random_gq4(dt, R, D, false);
    int32_t ids[5] = {0, 127, 64, 5, 63};
    pair t = mk(dt, 2, R, D, q), id = mk(LT_I32, 1, 5, 0, ids), y = mk(LT_F32, 2, 5, D, NULL);
    pair f = mk(LT_F32, 2, R, D, NULL);
    lt_err e1, e2;
    op_ok(lt_op_get_rows(cpu, &y.c, &t.c, &id.c, &e1), &e1, "get_rows", "cpu");
    op_ok(lt_op_get_rows(gpu, &y.g, &t.g, &id.g, &e2), &e2, "get_rows", "cuda");
    compare("get_rows gq4_64 [128, 256] (layout read back)", &y, 0.0);
    op_ok(lt_op_convert(cpu, &f.c, &t.c, &e1), &e1, "convert", "cpu");
    op_ok(lt_op_convert(gpu, &f.g, &t.g, &e2), &e2, "convert", "cuda");
    compare("convert gq4_64 -> f32 [128, 256] (layout read back)", &f, 0.0);
    const size_t nb = lt_tensor_nbytes(&t.g);
    unsigned char *back = malloc(nb);
    CHECKF(lt_tensor_get(&t.g, back, nb, &e2) == LT_OK && memcmp(back, q, nb) == 0, "gq4 download: %s",
           "not the uploaded bytes");
    if (!LT_TEST_SELF) {
        lt_status s = lt_tensor_get_range(&t.g, 64, back, 128, &e2);
        CHECKF(s == LT_EUNSUPPORTED && strstr(e2.msg, "W4A16"), "a partial download is refused: %s", e2.msg);
        s = lt_tensor_set_range(&t.g, 64, back, 128, &e2);
        CHECKF(s == LT_EUNSUPPORTED && strstr(e2.msg, "whole tensor"), "a partial upload is refused: %s", e2.msg);
    }
    release_all();
    free(back);
    free(q);
}

/* Not a check: the W4A16 kernel at decode shapes (Llama-3-8B's FFN up, 14336 x 4096) against the
 * device's copy bandwidth (the goal: >= 80% of it at batch 1). LATHE_CUDA_MARLIN=0 gives
 * the GEMV's figures for the same lines. */
static void report_gq4_speed(void) {
    if (LT_TEST_SELF) return;
    const int64_t N = 14336, K = 4096;
    const int reps = 50;
    lt_err err;
    double copy_gbs = 0;
    {
        lt_tensor a = alloc_t(gpu, LT_F32, 2, N, K), b = alloc_t(gpu, LT_F32, 2, N, K);
        const size_t nb = lt_tensor_nbytes(&a);
        bool ok = lt_tensor_copy_range(&b, 0, &a, 0, nb, &err) == LT_OK && lt_backend_sync(gpu, &err) == LT_OK;
        double t0 = lt_now();
        for (int r = 0; r < reps && ok; r++) ok = lt_tensor_copy_range(&b, 0, &a, 0, nb, &err) == LT_OK;
        ok = ok && lt_backend_sync(gpu, &err) == LT_OK;
        const double us = (lt_now() - t0) / reps * 1e6;
        copy_gbs = 2.0 * nb / (us * 1e3); /* read + write */
        CHECKF(ok, "copy speed: %s", err.msg);
        printf("%-58s %8.1f us  %6.0f GB/s read+written\n", "speed: device copy 224 MiB", us, copy_gbs);
        release_all();
    }
    static const lt_dtype ts[] = {LT_GQ4_32, LT_GQ4_128};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        const lt_dtype dt = ts[i];
        lt_tensor w = alloc_t(gpu, dt, 2, N, K);
        void *wq = random_gq4(dt, N, K, false);
        set_t(&w, wq);
        free(wq);
        for (int T = 1; T <= 16; T *= 16) {
            char what[96];
            const double us = time_matmul(&w, T, reps, what), gbs = lt_tensor_nbytes(&w) / (us * 1e3);
            printf("%-58s %8.1f us  %6.0f GB/s of weights (%.0f%% of copy)\n", what, us, gbs,
                   copy_gbs > 0 ? 100.0 * gbs / copy_gbs : 0.0);
        }
        release_all();
    }
}

/* Not a check: prefill time of s24_f16 (matmul_s24.cu's mma.sp kernel) against dense f16
 * (cuBLAS) at Llama-3-8B's FFN up shape, T = 16 and 128 tokens, as TFLOP/s of the dense product. */
static void report_s24_prefill_speed(void) {
    if (LT_TEST_SELF) return;
    const int64_t N = 14336, K = 4096;
    const int reps = 20;
    static const lt_dtype ts[] = {LT_F16, LT_S24_F16};
    float *wf = randf(N * K, 1.0f);
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        const lt_dtype dt = ts[i];
        lt_tensor w = alloc_t(gpu, dt, 2, N, K);
        void *wq = host_quant(dt, wf, N, K); /* s24_f16: valid (increasing) positions */
        set_t(&w, wq);
        free(wq);
        for (int T = 16; T <= 128; T *= 8) {
            char what[96];
            const double us = time_matmul(&w, T, reps, what);
            printf("%-58s %8.1f us  %6.1f TFLOP/s (dense-equivalent)\n", what, us, 2.0 * T * N * K / (us * 1e6));
        }
        release_all();
    }
    free(wf);
}

static void check_kv_store(void) {
    for (int f16 = 0; f16 < 2; f16++)
        for (int ti = 0; ti < 3; ti++) {
            int T = k_T[ti];
            lt_dtype kvt = f16 ? LT_F16 : LT_F32;
            int64_t nblk = 10, bs = 16, width = 2 * 24, rows = nblk * bs;
            float *k = randf(T * width, 1.0f), *v = randf(T * width, 1.0f), *init = randf(rows * width, 1.0f);
            void *iq = host_quant(kvt, init, rows, width);
            int32_t slots[64], perm[160];
            for (int i = 0; i < rows; i++) perm[i] = i;
            for (int i = (int)rows - 1; i > 0; i--) { /* distinct random slots */
                int j = (int)(lt_test_u32(&rng) % (uint32_t)(i + 1)), tmp = perm[i];
                perm[i] = perm[j], perm[j] = tmp;
            }
            for (int i = 0; i < T; i++) slots[i] = perm[i];
            pair kc = mk(kvt, 2, rows, width, iq), vc = mk(kvt, 2, rows, width, iq);
            pair pk = mk(LT_F32, 2, T, width, k), pv = mk(LT_F32, 2, T, width, v), ps = mk(LT_I32, 1, T, 0, slots);
            lt_err e1, e2;
            op_ok(lt_op_kv_store(cpu, &kc.c, &vc.c, &pk.c, &pv.c, &ps.c, &e1), &e1, "kv_store", "cpu");
            op_ok(lt_op_kv_store(gpu, &kc.g, &vc.g, &pk.g, &pv.g, &ps.g, &e2), &e2, "kv_store", "cuda");
            char what[96];
            snprintf(what, sizeof what, "kv_store %s T=%d keys", lt_dtype_name(kvt), T);
            compare(what, &kc, 0.0); /* a copy (f16: the same rounding): exact */
            snprintf(what, sizeof what, "kv_store %s T=%d values", lt_dtype_name(kvt), T);
            compare(what, &vc, 0.0);
            release_all();
            free(k), free(v), free(init), free(iq);
        }
}

/* Attention over nseq sequences of lengths len[] whose blocks are scattered through the pool
 * in shuffled order; T query tokens are spread over the sequences at random positions. */
static void attention_case_w(lt_dtype kvt, int H, int KVH, int Dh, int bs, int nseq, const int *len, int T, int win) {
    int max_len = 0, need = 0;
    for (int s = 0; s < nseq; s++) {
        if (len[s] > max_len) max_len = len[s];
        need += (len[s] + bs - 1) / bs;
    }
    int max_blocks = (max_len + bs - 1) / bs + 1; /* one spare column, filled with -1 */
    int nblk = need + 3;                          /* spare pool blocks nobody uses */
    int64_t width = (int64_t)KVH * Dh, rows = (int64_t)nblk * bs;
    int *perm = malloc(nblk * sizeof *perm);
    for (int i = 0; i < nblk; i++) perm[i] = i;
    for (int i = nblk - 1; i > 0; i--) {
        int j = (int)(lt_test_u32(&rng) % (uint32_t)(i + 1)), tmp = perm[i];
        perm[i] = perm[j], perm[j] = tmp;
    }
    int32_t *bt = malloc((size_t)nseq * max_blocks * sizeof *bt);
    int used = 0;
    for (int s = 0; s < nseq; s++)
        for (int b = 0; b < max_blocks; b++)
            bt[s * max_blocks + b] = b < (len[s] + bs - 1) / bs ? perm[used++] : -1;
    int32_t *tseq = malloc(T * sizeof *tseq), *tctx = malloc(T * sizeof *tctx);
    int max_ctx = 1;
    for (int t = 0; t < T; t++) {
        int s = (int)(lt_test_u32(&rng) % (uint32_t)nseq);
        /* mostly full contexts (decode), some earlier positions (prefill chunk rows) */
        int c = (t % 3 == 0) ? len[s] : 1 + (int)(lt_test_u32(&rng) % (uint32_t)len[s]);
        tseq[t] = s, tctx[t] = c;
        if (c > max_ctx) max_ctx = c;
    }
    float *kf = randf(rows * width, 1.0f), *vf = randf(rows * width, 1.0f), *q = randf((int64_t)T * H * Dh, 1.0f);
    void *kq = host_quant(kvt, kf, rows, width), *vq = host_quant(kvt, vf, rows, width);
    pair pk = mk(kvt, 2, rows, width, kq), pv = mk(kvt, 2, rows, width, vq);
    pair pq = mk(LT_F32, 2, T, (int64_t)H * Dh, q), po = mk(LT_F32, 2, T, (int64_t)H * Dh, NULL);
    pair ps = mk(LT_I32, 1, T, 0, tseq), pc = mk(LT_I32, 1, T, 0, tctx), pt = mk(LT_I32, 2, nseq, max_blocks, bt);
    lt_attn_meta mc = {&ps.c, &pc.c, &pt.c, H, KVH, Dh, bs, 1.0f / sqrtf((float)Dh), max_ctx, win, NULL};
    lt_attn_meta mg = {&ps.g, &pc.g, &pt.g, H, KVH, Dh, bs, 1.0f / sqrtf((float)Dh), max_ctx, win, NULL};
    lt_err e1, e2;
    op_ok(lt_op_attention(cpu, &po.c, &pq.c, &pk.c, &pv.c, &mc, &e1), &e1, "attention", "cpu");
    op_ok(lt_op_attention(gpu, &po.g, &pq.g, &pk.g, &pv.g, &mg, &e2), &e2, "attention", "cuda");
    char what[128];
    snprintf(what, sizeof what, "attention %s T=%d H=%d/%d Dh=%d bs=%d ctx<=%d window %d", lt_dtype_name(kvt), T, H,
             KVH, Dh, bs, max_ctx, win);
    /* same cache bytes on both sides; f16 caches only change the load */
    compare(what, &po, kvt == LT_F32 ? 1e-5 : 1e-4);
    if (win == 0) {
        /* partial attention (the KV host pool's split): blocks after each sequence's first
           dropped at random (negative entries), outputs and lse against the CPU, then the
           merge op on the two backends */
        for (int s = 0; s < nseq; s++)
            for (int b = 1; b < max_blocks; b++)
                if (lt_test_u32(&rng) & 1) bt[s * max_blocks + b] = -1;
        pair pt2 = mk(LT_I32, 2, nseq, max_blocks, bt), pl = mk(LT_F32, 2, T, H, NULL);
        pair po2 = mk(LT_F32, 2, T, (int64_t)H * Dh, NULL), pl2 = mk(LT_F32, 2, T, H, NULL);
        mc.block_tables = &pt2.c, mg.block_tables = &pt2.g;
        mc.lse = &pl.c, mg.lse = &pl.g;
        op_ok(lt_op_attention(cpu, &po.c, &pq.c, &pk.c, &pv.c, &mc, &e1), &e1, "partial attention", "cpu");
        op_ok(lt_op_attention(gpu, &po.g, &pq.g, &pk.g, &pv.g, &mg, &e2), &e2, "partial attention", "cuda");
        snprintf(what, sizeof what, "partial attention %s T=%d H=%d/%d Dh=%d bs=%d", lt_dtype_name(kvt), T, H, KVH,
                 Dh, bs);
        compare(what, &po, kvt == LT_F32 ? 1e-5 : 1e-4);
        snprintf(what, sizeof what, "partial attention lse %s T=%d H=%d/%d Dh=%d", lt_dtype_name(kvt), T, H, KVH, Dh);
        compare(what, &pl, 1e-5);
        float *o2 = randf((int64_t)T * H * Dh, 1.0f), *l2 = randf((int64_t)T * H, 4.0f);
        set_t(&po2.c, o2), set_t(&po2.g, o2), set_t(&pl2.c, l2), set_t(&pl2.g, l2);
        op_ok(lt_op_attn_merge(cpu, &po.c, &pl.c, &po2.c, &pl2.c, &e1), &e1, "attn_merge", "cpu");
        op_ok(lt_op_attn_merge(gpu, &po.g, &pl.g, &po2.g, &pl2.g, &e2), &e2, "attn_merge", "cuda");
        snprintf(what, sizeof what, "attn_merge T=%d H=%d Dh=%d", T, H, Dh);
        compare(what, &po, 1e-5);
        compare(what, &pl, 1e-6);
        free(o2), free(l2);
    }
    release_all();
    free(perm), free(bt), free(tseq), free(tctx), free(kf), free(vf), free(q), free(kq), free(vq);
}

static void attention_case(lt_dtype kvt, int H, int KVH, int Dh, int bs, int nseq, const int *len, int T) {
    attention_case_w(kvt, H, KVH, Dh, bs, nseq, len, T, 0);
}

static void check_attention(void) {
    static const int lens1[] = {37, 100, 5};
    static const int lens2[] = {1000, 17};
    static const int lens3[] = {2000, 300, 1};
    for (int f16 = 0; f16 < 2; f16++) {
        lt_dtype kvt = f16 ? LT_F16 : LT_F32;
        for (int ti = 0; ti < 3; ti++) {
            int T = k_T[ti];
            attention_case(kvt, 4, 2, 64, 16, 3, lens1, T);  /* GQA 2, short contexts */
            attention_case(kvt, 6, 1, 40, 32, 2, lens2, T);  /* GQA 6, head_dim not a multiple of 32 */
            attention_case(kvt, 2, 2, 128, 7, 3, lens1, T);  /* block size not dividing the tile */
        }
        attention_case(kvt, 8, 2, 64, 16, 3, lens3, 64);  /* several tiles per split */
        attention_case(kvt, 32, 8, 64, 16, 3, lens3, 64); /* one split, many tiles (prefill) */
        attention_case(kvt, 4, 4, 32, 512, 2, lens2, 1);  /* blocks larger than a tile */
        /* sliding windows: starting inside a block, spanning tiles, decode and prefill */
        attention_case_w(kvt, 4, 2, 64, 16, 3, lens1, 1, 21);
        attention_case_w(kvt, 8, 2, 64, 16, 3, lens3, 64, 300);
        attention_case_w(kvt, 32, 8, 64, 16, 3, lens3, 64, 700);
    }
}

static void check_argmax(void) {
    static const int64_t Ns[] = {1, 33, 32000};
    for (int ni = 0; ni < 3; ni++)
        for (int ti = 0; ti < 3; ti++) {
            int T = k_T[ti];
            int64_t N = Ns[ni];
            float *x = randf(T * N, 1.0f);
            for (int t = 0; t < T; t++) { /* plant a tie for the maximum in some rows, NaN in others */
                if (t % 4 == 1) x[t * N] = NAN; /* never chosen, also at index 0 */
                if (t % 2 || N < 3) continue;
                int64_t a = lt_test_u32(&rng) % N, b = lt_test_u32(&rng) % N;
                x[t * N + a] = x[t * N + b] = 10.0f;
            }
            pair px = mk(LT_F32, 2, T, N, x), po = mk(LT_I32, 1, T, 0, NULL);
            lt_err e1, e2;
            op_ok(lt_op_argmax(cpu, &po.c, &px.c, &e1), &e1, "argmax", "cpu");
            op_ok(lt_op_argmax(gpu, &po.g, &px.g, &e2), &e2, "argmax", "cuda");
            int32_t rc[64], rg[64];
            CHECK(lt_tensor_get(&po.c, rc, T * sizeof(int32_t), &e1) == LT_OK);
            CHECK(lt_tensor_get(&po.g, rg, T * sizeof(int32_t), &e2) == LT_OK);
            int bad = 0;
            for (int t = 0; t < T; t++) bad += rc[t] != rg[t];
            CHECKF(bad == 0, "argmax T=%d N=%lld: %d rows differ", T, (long long)N, bad);
            char what[96];
            snprintf(what, sizeof what, "argmax T=%d N=%lld", T, (long long)N);
            printf("%-58s %d rows differ %s\n", what, bad, bad ? "FAIL" : "ok");
            release_all();
            free(x);
        }
}

static void check_oom(void) {
    lt_err err;
    void *p = (void *)1;
    size_t used = lt_backend_mem_used(gpu, LT_MEM_OTHER);
    lt_status s = lt_backend_alloc(gpu, (size_t)1 << 50, LT_MEM_OTHER, &p, &err); /* 1 PiB */
    CHECKF(s == LT_ENOMEM, "huge allocation returned %d", (int)s);
    CHECK(p == NULL);
    CHECK(strlen(err.msg) > 0 && strstr(err.msg, "cannot allocate"));
    CHECK(lt_backend_mem_used(gpu, LT_MEM_OTHER) == used);
    printf("%-58s %s\n", "out of memory message:", err.msg);
    /* the backend still works */
    float a[100], b[100];
    for (int i = 0; i < 100; i++) a[i] = (float)i, b[i] = 0.5f;
    pair pa = mk(LT_F32, 1, 100, 0, a), pb = mk(LT_F32, 1, 100, 0, b), py = mk(LT_F32, 1, 100, 0, NULL);
    lt_err e1, e2;
    op_ok(lt_op_add(cpu, &py.c, &pa.c, &pb.c, &e1), &e1, "add", "cpu");
    op_ok(lt_op_add(gpu, &py.g, &pa.g, &pb.g, &e2), &e2, "add after OOM", "cuda");
    compare("add after a failed allocation", &py, 0.0);
    CHECK(lt_backend_sync(gpu, &err) == LT_OK);
    release_all();
}

int main(void) {
    lt_err err;
    int rc = lt_test_gpu_backends(&cpu, &gpu, LT_TEST_SELF);
    if (rc) return rc;
    const char *dev = LT_TEST_SELF ? "cpu" : "cuda";
    size_t fr = 0, tot = 0;
    CHECK(lt_backend_mem_info(gpu, &fr, &tot, &err) == LT_OK && tot > 0 && fr <= tot);
    CHECK(!strcmp(lt_backend_name(gpu), dev) && lt_backend_is_host(gpu) == !strcmp(dev, "cpu"));
    printf("device: %s, %.1f of %.1f GiB free\n", lt_backend_device(gpu), fr / 1073741824.0, tot / 1073741824.0);
    lt_test_rng_seed(&rng, 1234);

    check_get_rows();
    check_get_rows_quants();
    check_matmul();
    check_matmul_quants();
    check_matmul_s24();
    check_lowrank();
    check_gq4();
    check_rmsnorm();
    check_rope();
    check_elementwise();
    check_convert();
    check_convert_quants();
    check_kv_store();
    check_attention();
    check_argmax();
    check_oom();
    report_gemv_speed();
    report_gq4_speed();
    report_s24_prefill_speed();

    lt_backend_free(cpu);
    lt_backend_free(gpu);
    return lt_test_done();
}
