/* test_unet_ops_cuda.c - the CUDA diffusion ops (kernels/cuda/group_norm.cu, self_attention.cu,
 * conv2d's pad_extra) against the CPU backend on random inputs, and a whole UNet fixture
 * (tests/fixtures/unet/google_old) on both. Skips (77) without the CUDA module or a device.
 * Tolerances (relative to max |cpu|): 1e-5 for group_norm/channel_affine, 1e-4 for attention
 * and convolutions (summation order, --use_fast_math exp), 1e-4 for the model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "models/unet.h"
#include "testutil.h"

static lt_backend *g_cpu, *g_gpu;
static lt_arena *g_ac, *g_ag;
static lt_test_rng g_rng;

typedef struct pair {
    lt_tensor c, g;
} pair;

static pair mkp(int ndim, const int64_t *shape, float scale) {
    lt_err err = {0};
    pair p;
    LT_ASSERT(lt_arena_tensor(g_ac, &p.c, LT_F32, ndim, shape, &err) == LT_OK);
    LT_ASSERT(lt_arena_tensor(g_ag, &p.g, LT_F32, ndim, shape, &err) == LT_OK);
    if (scale > 0) {
        lt_test_fill(&g_rng, p.c.data, lt_tensor_numel(&p.c), scale);
        LT_ASSERT(lt_tensor_set(&p.g, p.c.data, lt_tensor_nbytes(&p.c), &err) == LT_OK);
    }
    return p;
}

static void cmp(const pair *p, const char *what, double tol) {
    lt_err err = {0};
    size_t n = lt_tensor_numel(&p->c);
    float *h = malloc(n * sizeof(float));
    CHECK(lt_tensor_get(&p->g, h, n * sizeof(float), &err) == LT_OK);
    double e = lt_test_rel_err_ff(h, p->c.data, (int64_t)n);
    CHECKF(e < tol, "%s: gpu vs cpu rel err %g", what, e);
    free(h);
}

static void ops(void) {
    lt_err err = {0};
    lt_arena_reset(g_ac), lt_arena_reset(g_ag);
    pair x = mkp(4, (int64_t[]){2, 32, 16, 16}, 1), g = mkp(1, (int64_t[]){32}, 1), b = mkp(1, (int64_t[]){32}, 1);
    pair y = mkp(4, (int64_t[]){2, 32, 16, 16}, 0);
    for (int a = 0; a < 2; a++) {
        lt_act ac = a ? LT_ACT_SWISH : LT_ACT_LINEAR;
        CHECK(lt_op_group_norm(g_cpu, &y.c, &x.c, &g.c, &b.c, 8, 1e-6f, ac, &err) == LT_OK);
        CHECKF(lt_op_group_norm(g_gpu, &y.g, &x.g, &g.g, &b.g, 8, 1e-6f, ac, &err) == LT_OK, "%s", err.msg);
        cmp(&y, "group_norm", 1e-5);
    }
    pair t = mkp(2, (int64_t[]){2, 64}, 1);
    for (int ss = 0; ss < 2; ss++) {
        pair tt = t;
        if (!ss) tt.c = lt_tensor_2d(g_cpu, LT_F32, t.c.data, 2, 32), tt.g = lt_tensor_2d(g_gpu, LT_F32, t.g.data, 2, 32);
        CHECK(lt_op_channel_affine(g_cpu, &y.c, &x.c, &tt.c, ss, LT_ACT_SWISH, &err) == LT_OK);
        CHECKF(lt_op_channel_affine(g_gpu, &y.g, &x.g, &tt.g, ss, LT_ACT_SWISH, &err) == LT_OK, "%s", err.msg);
        cmp(&y, "channel_affine", 1e-5);
    }
    int cases[][5] = {{2, 16, 2, 8, 8}, {1, 64, 1, 16, 16}, {1, 24, 3, 5, 7}}; /* N, C, heads, H, W */
    for (int k = 0; k < 3; k++) {
        int N = cases[k][0], C = cases[k][1], Hh = cases[k][2], H = cases[k][3], W = cases[k][4];
        pair q = mkp(4, (int64_t[]){N, 3 * C, H, W}, 1), o = mkp(4, (int64_t[]){N, C, H, W}, 0);
        float sc = 1.f / sqrtf((float)(C / Hh));
        CHECK(lt_op_self_attention(g_cpu, &o.c, &q.c, Hh, sc, &err) == LT_OK);
        CHECKF(lt_op_self_attention(g_gpu, &o.g, &q.g, Hh, sc, &err) == LT_OK, "%s", err.msg);
        cmp(&o, "self_attention", 1e-4);
    }
    pair cx = mkp(4, (int64_t[]){2, 16, 8, 8}, 1), cw = mkp(4, (int64_t[]){16, 16, 3, 3}, 0.3f);
    pair cb = mkp(1, (int64_t[]){16}, 0.3f), cy = mkp(4, (int64_t[]){2, 16, 4, 4}, 0);
    lt_conv2d_params p = {2, 0, 1, LT_ACT_LINEAR, 1};
    size_t wb = lt_conv2d_work_bytes(&cx.c, &cw.c, &p);
    pair work = mkp(1, (int64_t[]){(int64_t)(wb / 4 + 1)}, 0);
    CHECK(lt_op_conv2d(g_cpu, &cy.c, &cx.c, &cw.c, &cb.c, &p, &work.c, &err) == LT_OK);
    CHECKF(lt_op_conv2d(g_gpu, &cy.g, &cx.g, &cw.g, &cb.g, &p, &work.g, &err) == LT_OK, "%s", err.msg);
    cmp(&cy, "conv2d pad_extra", 1e-4);
}

static void model(void) {
    lt_err err = {0};
    lt_denoiser *dc = NULL, *dg = NULL;
    const char *dir = lt_test_path("tests/fixtures/unet/google_old");
    CHECK(lt_unet_open(&dc, dir, g_cpu, 2, &err) == LT_OK);
    CHECKF(lt_unet_open(&dg, dir, g_gpu, 2, &err) == LT_OK, "%s", err.msg);
    if (dc && dg) {
        size_t n = 2 * (size_t)dc->in_c * dc->h * dc->w;
        float *x = malloc(n * 4), *yc = malloc(n * 4), *yg = malloc(n * 4), t[2] = {10, 700};
        lt_test_fill(&g_rng, x, (int64_t)n, 1);
        CHECK(lt_denoiser_predict(dc, x, 2, t, NULL, yc, &err) == LT_OK);
        CHECKF(lt_denoiser_predict(dg, x, 2, t, NULL, yg, &err) == LT_OK, "%s", err.msg);
        double e = lt_test_rel_err_ff(yg, yc, (int64_t)n);
        CHECKF(e < 1e-4, "unet gpu vs cpu %g", e);
        free(x), free(yc), free(yg);
    }
    lt_denoiser_close(dc), lt_denoiser_close(dg);
}

int main(void) {
    lt_err err = {0};
    int rc = lt_test_gpu_backends(&g_cpu, &g_gpu, LT_TEST_SELF);
    if (rc) return rc;
    LT_ASSERT(lt_arena_create(&g_ac, g_cpu, 16 << 20, LT_MEM_SCRATCH, &err) == LT_OK);
    LT_ASSERT(lt_arena_create(&g_ag, g_gpu, 16 << 20, LT_MEM_SCRATCH, &err) == LT_OK);
    lt_test_rng_seed(&g_rng, 5);
    ops();
    model();
    lt_arena_free(g_ac), lt_arena_free(g_ag);
    lt_backend_free(g_gpu), lt_backend_free(g_cpu);
    return lt_test_done();
}
