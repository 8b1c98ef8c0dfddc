/* test_unet_ops_cpu.c - the CPU diffusion ops (kernels/cpu/group_norm.c, self_attention.c) and
 * conv2d's pad_extra against float64 references written here, through the lt_op_* wrappers of
 * a "cpu" backend with 1 and 3 threads (bit-identical), plus the wrappers' shape errors.
 * (test_ops_cpu.c is near the 1,200-line limit; test_unet_ops_cuda.c checks CUDA against these.)
 * Tolerance: 2e-6 relative to max |reference| (f32 rounding only; observed ~3e-7).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "testutil.h"

static lt_test_rng g_rng;

static double act(double v, lt_act a) { return a == LT_ACT_SWISH ? v / (1 + exp(-v)) : v; }

static void ref_group_norm(double *y, const float *x, const float *g, const float *b, int N, int C, int hw, int G,
                           float eps, lt_act a) {
    int cg = C / G;
    for (int n = 0; n < N; n++)
        for (int gi = 0; gi < G; gi++) {
            const float *xp = x + ((size_t)n * C + (size_t)gi * cg) * hw;
            double s = 0, v = 0, len = (double)cg * hw;
            for (int i = 0; i < cg * hw; i++) s += xp[i];
            double m = s / len;
            for (int i = 0; i < cg * hw; i++) v += (xp[i] - m) * (xp[i] - m);
            double r = 1 / sqrt(v / len + eps);
            for (int i = 0; i < cg * hw; i++) {
                int c = gi * cg + i / hw;
                y[((size_t)n * C + (size_t)gi * cg) * hw + i] = act((xp[i] - m) * r * g[c] + b[c], a);
            }
        }
}

static void ref_attention(double *y, const float *qkv, int N, int C, int T, int H, float scale) {
    int D = C / H;
    double *s = malloc(sizeof(double) * T);
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            const float *q = qkv + ((size_t)n * 3 * C + (size_t)h * D) * T, *k = q + (size_t)C * T,
                        *v = k + (size_t)C * T;
            for (int i = 0; i < T; i++) {
                double m = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    double a = 0;
                    for (int d = 0; d < D; d++) a += (double)q[d * T + i] * k[d * T + j];
                    s[j] = a * scale;
                    m = s[j] > m ? s[j] : m;
                }
                for (int j = 0; j < T; j++) sum += (s[j] = exp(s[j] - m));
                for (int d = 0; d < D; d++) {
                    double a = 0;
                    for (int j = 0; j < T; j++) a += s[j] * v[d * T + j];
                    y[((size_t)n * C + (size_t)h * D + d) * T + i] = a / sum;
                }
            }
        }
    free(s);
}

static lt_tensor mk(lt_arena *a, int ndim, const int64_t *shape, float scale) {
    lt_err err = {0};
    lt_tensor t;
    LT_ASSERT(lt_arena_tensor(a, &t, LT_F32, ndim, shape, &err) == LT_OK);
    if (scale > 0) lt_test_fill(&g_rng, t.data, lt_tensor_numel(&t), scale);
    return t;
}

static void run(lt_backend *be, lt_arena *ar, float *first[3], int pass) {
    lt_err err = {0};
    lt_arena_reset(ar);
    lt_test_rng_seed(&g_rng, 77);
    int fi = 0;
    /* group norm, with and without SiLU, in place */
    for (int a = 0; a < 2; a++) {
        int N = 2, C = 12, H = 5, W = 7, G = 3;
        lt_tensor x = mk(ar, 4, (int64_t[]){N, C, H, W}, 2), g = mk(ar, 1, (int64_t[]){C}, 1),
                  b = mk(ar, 1, (int64_t[]){C}, 1), y = mk(ar, 4, (int64_t[]){N, C, H, W}, 0);
        for (int i = 0; i < N * C * H * W; i++) ((float *)x.data)[i] += 3.f; /* a mean to remove */
        double *r = malloc(sizeof(double) * N * C * H * W);
        lt_act ac = a ? LT_ACT_SWISH : LT_ACT_LINEAR;
        ref_group_norm(r, x.data, g.data, b.data, N, C, H * W, G, 1e-5f, ac);
        CHECKF(lt_op_group_norm(be, &y, &x, &g, &b, G, 1e-5f, ac, &err) == LT_OK, "%s", err.msg);
        CHECKF(lt_test_rel_err(y.data, r, N * C * H * W) < 2e-6, "group_norm act %d: %g", a,
               lt_test_rel_err(y.data, r, N * C * H * W));
        CHECK(lt_op_group_norm(be, &x, &x, &g, &b, G, 1e-5f, ac, &err) == LT_OK); /* in place */
        CHECK(memcmp(x.data, y.data, lt_tensor_nbytes(&y)) == 0);
        if (pass == 0) first[fi] = malloc(lt_tensor_nbytes(&y)), memcpy(first[fi], y.data, lt_tensor_nbytes(&y));
        else CHECKF(memcmp(first[fi], y.data, lt_tensor_nbytes(&y)) == 0, "group_norm differs across thread counts");
        fi++;
        free(r);
    }
    /* channel_affine: add, and scale_shift with SiLU */
    {
        int N = 2, C = 5, hw = 6;
        lt_tensor x = mk(ar, 4, (int64_t[]){N, C, 2, 3}, 1), t = mk(ar, 2, (int64_t[]){N, 2 * C}, 1),
                  y = mk(ar, 4, (int64_t[]){N, C, 2, 3}, 0);
        lt_tensor t1 = lt_tensor_2d(be, LT_F32, t.data, N, C);
        double r[60], r2[60];
        const float *xp = x.data, *tp = t.data;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < hw; i++) {
                    int k = (n * C + c) * hw + i;
                    r[k] = (double)xp[k] + tp[n * C + c];
                    r2[k] = act((double)xp[k] * (1 + (double)tp[n * 2 * C + c]) + tp[n * 2 * C + C + c], LT_ACT_SWISH);
                }
        CHECK(lt_op_channel_affine(be, &y, &x, &t1, false, LT_ACT_LINEAR, &err) == LT_OK);
        CHECKF(lt_test_rel_err(y.data, r, 60) < 2e-7, "channel_affine add");
        CHECK(lt_op_channel_affine(be, &y, &x, &t, true, LT_ACT_SWISH, &err) == LT_OK);
        CHECKF(lt_test_rel_err(y.data, r2, 60) < 2e-6, "channel_affine scale_shift");
        CHECK(lt_op_channel_affine(be, &y, &x, &t, false, LT_ACT_LINEAR, &err) == LT_EINVAL && strstr(err.msg, "[N, C]"));
    }
    /* self-attention: several heads, T not a multiple of the kernel's row block */
    int cases[][4] = {{2, 12, 3, 1}, {1, 16, 1, 70}, {2, 8, 2, 100}}; /* N, C, heads, T (h = 1, w = T) */
    for (int k = 0; k < 3; k++) {
        int N = cases[k][0], C = cases[k][1], Hh = cases[k][2], T = cases[k][3];
        if (k == 0) T = 9;
        lt_tensor q = mk(ar, 4, (int64_t[]){N, 3 * C, 1, T}, 1), y = mk(ar, 4, (int64_t[]){N, C, 1, T}, 0);
        double *r = malloc(sizeof(double) * N * C * T);
        float sc = 1.f / sqrtf((float)(C / Hh));
        ref_attention(r, q.data, N, C, T, Hh, sc);
        CHECKF(lt_op_self_attention(be, &y, &q, Hh, sc, &err) == LT_OK, "%s", err.msg);
        double e = lt_test_rel_err(y.data, r, N * C * T);
        CHECKF(e < 2e-6, "self_attention case %d: %g", k, e);
        if (k == 2) {
            if (pass == 0) first[2] = malloc(lt_tensor_nbytes(&y)), memcpy(first[2], y.data, lt_tensor_nbytes(&y));
            else CHECKF(memcmp(first[2], y.data, lt_tensor_nbytes(&y)) == 0, "attention differs across thread counts");
        }
        free(r);
        CHECK(lt_op_self_attention(be, &y, &q, 5, sc, &err) == LT_EINVAL);
    }
    /* conv2d pad_extra: diffusers' downsample_padding 0 = zeros below and right, stride 2 */
    {
        int N = 2, C = 3, H = 6, W = 8, OC = 4;
        lt_tensor x = mk(ar, 4, (int64_t[]){N, C, H, W}, 1), w = mk(ar, 4, (int64_t[]){OC, C, 3, 3}, 1),
                  b = mk(ar, 1, (int64_t[]){OC}, 1), y = mk(ar, 4, (int64_t[]){N, OC, H / 2, W / 2}, 0);
        lt_conv2d_params p = {2, 0, 1, LT_ACT_LINEAR, 1};
        lt_tensor work = mk(ar, 1, (int64_t[]){(int64_t)lt_conv2d_work_bytes(&x, &w, &p) / 4 + 1}, 0);
        CHECKF(lt_op_conv2d(be, &y, &x, &w, &b, &p, &work, &err) == LT_OK, "%s", err.msg);
        double r[2 * 4 * 3 * 4];
        const float *xp = x.data, *wp = w.data, *bp = b.data;
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
                for (int oy = 0; oy < H / 2; oy++)
                    for (int ox = 0; ox < W / 2; ox++) {
                        double s = bp[o];
                        for (int c = 0; c < C; c++)
                            for (int kh = 0; kh < 3; kh++)
                                for (int kw = 0; kw < 3; kw++) {
                                    int iy = 2 * oy + kh, ix = 2 * ox + kw;
                                    if (iy < H && ix < W)
                                        s += (double)wp[((o * C + c) * 3 + kh) * 3 + kw] * xp[((n * C + c) * H + iy) * W + ix];
                                }
                        r[((n * OC + o) * (H / 2) + oy) * (W / 2) + ox] = s;
                    }
        CHECKF(lt_test_rel_err(y.data, r, N * OC * (H / 2) * (W / 2)) < 2e-6, "conv2d pad_extra");
    }
}

int main(void) {
    lt_err err = {0};
    float *first[3] = {0};
    int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        lt_backend *be = NULL;
        LT_ASSERT(lt_backend_create(&be, "cpu", &(lt_backend_opts){.n_threads = threads[k]}, &err) == LT_OK);
        lt_arena *ar = NULL;
        LT_ASSERT(lt_arena_create(&ar, be, 16 << 20, LT_MEM_SCRATCH, &err) == LT_OK);
        run(be, ar, first, k);
        lt_arena_free(ar);
        lt_backend_free(be);
    }
    for (int i = 0; i < 3; i++) free(first[i]);
    return lt_test_done();
}
