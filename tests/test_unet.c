/* test_unet.c - models/unet.c (diffusers' UNet2DModel) against diffusers itself: the folders in
 * tests/fixtures/unet/<case>/ (tools/gen_unet_fixtures.py: random weights, diffusers 0.42.1 on
 * torch CPU) hold the model and golden.safetensors with two calls of batch 2 (x_a, t_a, y_a,
 * x_b, ...; class_a/_b for class-conditional cases). lathe's output must match within 1e-4
 * relative (max |diff| / max |ref|) on the CPU backend. Also: the config parser, and the errors
 * for an unknown block type, another UNet class, .bin weights, a missing tensor and a tensor
 * of the wrong shape (each naming what is wrong).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/diffusion/bench.h"
#include "core/formats/diffusers.h"
#include "core/formats/safetensors.h"
#include "models/unet.h"
#include "testutil.h"

static lt_backend *g_be;

static const float *gold(lt_safetensors *st, const char *name, int64_t *n) {
    int64_t i = lt_st_find(st, name);
    if (i < 0) return NULL;
    lt_src_tensor t;
    lt_st_tensor(st, i, &t);
    *n = (int64_t)(t.nbytes / 4);
    return t.data;
}

static void golden_case(const char *name, int want_classes, int want_steps) {
    char dir[512], gp[600];
    snprintf(dir, sizeof dir, "%s/%s", lt_test_path("tests/fixtures/unet"), name);
    snprintf(gp, sizeof gp, "%s/golden.safetensors", dir);
    lt_err err = {0};
    lt_denoiser *d = NULL;
    CHECKF(lt_unet_open(&d, dir, g_be, 2, &err) == LT_OK, "%s: %s", name, err.msg);
    if (!d) return;
    CHECKF(d->num_classes == want_classes, "%s: %d classes", name, d->num_classes);
    CHECKF(d->num_train_timesteps == want_steps, "%s: %d steps", name, d->num_train_timesteps);
    CHECK(d->flops > 0 && d->mem_bytes > 0 && d->max_batch == 2);
    lt_safetensors *st = NULL;
    LT_ASSERT(lt_st_open(&st, gp, &err) == LT_OK);
    for (int k = 0; k < 2; k++) {
        char xn[16], tn[16], yn[16], cn[16];
        snprintf(xn, sizeof xn, "x_%c", 'a' + k), snprintf(tn, sizeof tn, "t_%c", 'a' + k);
        snprintf(yn, sizeof yn, "y_%c", 'a' + k), snprintf(cn, sizeof cn, "class_%c", 'a' + k);
        int64_t nx = 0, nt = 0, ny = 0, nc = 0;
        const float *x = gold(st, xn, &nx), *t = gold(st, tn, &nt), *y = gold(st, yn, &ny);
        const int *cls = (const int *)gold(st, cn, &nc);
        LT_ASSERT(x && t && y && nt == 2);
        CHECK(nx == 2LL * d->in_c * d->h * d->w && ny == 2LL * d->out_c * d->h * d->w);
        float *out = calloc((size_t)ny, sizeof(float));
        CHECKF(lt_denoiser_predict(d, x, 2, t, cls, out, &err) == LT_OK, "%s: %s", name, err.msg);
        double e = lt_test_rel_err_ff(out, y, ny);
        printf("%-14s call %c (t = %g, %g): max |diff| / max |ref| = %.3g\n", name, 'a' + k, (double)t[0],
               (double)t[1], e);
        CHECKF(e < 1e-4, "%s call %c: rel err %g", name, 'a' + k, e);
        /* one image alone gives the same numbers as in the batch */
        float *one = calloc((size_t)ny / 2, sizeof(float));
        CHECK(lt_denoiser_predict(d, x + nx / 2, 1, t + 1, cls ? cls + 1 : NULL, one, &err) == LT_OK);
        CHECKF(lt_test_rel_err_ff(one, y + ny / 2, ny / 2) < 1e-4, "%s: batch of one", name);
        free(one);
        free(out);
    }
    lt_st_close(st);
    lt_denoiser_close(d);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    LT_ASSERT(f != NULL);
    LT_ASSERT(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* A copy of the diffusers_new case with its config text edited (from -> to), opened; returns the
 * status and leaves the message in err. */
static lt_status open_edited(const char *tag, const char *from, const char *to, bool weights, lt_err *err) {
    char src[512], p[700];
    snprintf(src, sizeof src, "%s", lt_test_path("tests/fixtures/unet/diffusers_new"));
    const char *dir = lt_test_tmpdir(tag);
    snprintf(p, sizeof p, "%s/config.json", src);
    size_t n = 0;
    char *cfg = lt_test_read_file(p, &n);
    LT_ASSERT(cfg != NULL);
    char *hit = from ? strstr(cfg, from) : NULL;
    if (from) LT_ASSERT(hit != NULL);
    char *edited = malloc(n + 256);
    if (hit) {
        size_t pre = (size_t)(hit - cfg);
        memcpy(edited, cfg, pre);
        strcpy(edited + pre, to);
        strcat(edited, hit + strlen(from));
    } else {
        strcpy(edited, cfg);
    }
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_file(p, edited, strlen(edited));
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", src);
    size_t wn = 0;
    char *w = lt_test_read_file(p, &wn);
    LT_ASSERT(w != NULL);
    snprintf(p, sizeof p, "%s/%s", dir, weights ? "diffusion_pytorch_model.safetensors" : "diffusion_pytorch_model.bin");
    write_file(p, w, wn);
    free(w), free(cfg), free(edited);
    lt_denoiser *d = NULL;
    lt_status st = lt_unet_open(&d, dir, g_be, 1, err);
    lt_denoiser_close(d);
    return st;
}

static void errors(void) {
    lt_err err = {0};
    CHECK(open_edited("unet_ok", NULL, NULL, true, &err) == LT_OK);
    CHECKF(open_edited("unet_block", "\"AttnDownBlock2D\"", "\"CrossAttnDownBlock2D\"", true, &err) ==
                   LT_EUNSUPPORTED &&
               strstr(err.msg, "CrossAttnDownBlock2D") && strstr(err.msg, "down_block_types"),
           "%s", err.msg);
    CHECKF(open_edited("unet_class", "\"UNet2DModel\"", "\"UNet2DConditionModel\"", true, &err) == LT_EUNSUPPORTED &&
               strstr(err.msg, "UNet2DConditionModel"),
           "%s", err.msg);
    CHECKF(open_edited("unet_act", "\"silu\"", "\"gelu\"", true, &err) == LT_EUNSUPPORTED && strstr(err.msg, "act_fn"),
           "%s", err.msg);
    CHECKF(open_edited("unet_shift", "\"default\"", "\"spatial\"", true, &err) == LT_EUNSUPPORTED &&
               strstr(err.msg, "resnet_time_scale_shift"),
           "%s", err.msg);
    CHECKF(open_edited("unet_bin", NULL, NULL, false, &err) == LT_EUNSUPPORTED && strstr(err.msg, ".bin"), "%s",
           err.msg);
    CHECKF(open_edited("unet_missing", "\"layers_per_block\": 1", "\"layers_per_block\": 2", true, &err) ==
                   LT_EFORMAT &&
               strstr(err.msg, "down_blocks.0.resnets.1.norm1.weight is missing"),
           "%s", err.msg);
    CHECKF(open_edited("unet_shape", "\"norm_eps\"", "\"time_embedding_dim\": 40, \"norm_eps\"", true, &err) ==
                   LT_EFORMAT &&
               strstr(err.msg, "time_embedding.linear_1.weight has shape [32, 8], the config needs [40, 8]"),
           "%s", err.msg);
    /* a class-conditional model needs a class in range */
    lt_denoiser *d = NULL;
    CHECK(lt_unet_open(&d, lt_test_path("tests/fixtures/unet/class_cond"), g_be, 1, &err) == LT_OK);
    if (d) {
        float *x = calloc((size_t)d->in_c * d->h * d->w, sizeof(float)), *y = calloc((size_t)d->out_c * d->h * d->w, 4);
        float t = 5;
        int bad = 10;
        CHECK(lt_denoiser_predict(d, x, 1, &t, NULL, y, &err) == LT_EINVAL);
        CHECK(lt_denoiser_predict(d, x, 1, &t, &bad, y, &err) == LT_ERANGE);
        CHECK(lt_denoiser_predict(d, x, 2, &t, &bad, y, &err) == LT_EINVAL); /* max_batch 1 */
        free(x), free(y);
        lt_denoiser_close(d);
    }
    /* parser details */
    lt_unet_config u;
    const char *cifar = "{\"_class_name\": \"UNet2DModel\", \"attention_head_dim\": null, \"block_out_channels\": "
                        "[128, 256, 256, 256], \"down_block_types\": [\"DownBlock2D\", \"AttnDownBlock2D\", "
                        "\"DownBlock2D\", \"DownBlock2D\"], \"up_block_types\": [\"UpBlock2D\", \"UpBlock2D\", "
                        "\"AttnUpBlock2D\", \"UpBlock2D\"], \"downsample_padding\": 0, \"flip_sin_to_cos\": false, "
                        "\"freq_shift\": 1, \"norm_eps\": 1e-06, \"sample_size\": 32, \"dropout\": 0.0}";
    CHECKF(lt_unet_config_parse(cifar, strlen(cifar), "cifar", &u, &err) == LT_OK, "%s", err.msg);
    CHECK(u.n_levels == 4 && u.block_out[3] == 256 && !u.down_attn[0] && u.down_attn[1] && u.up_attn[2] &&
          !u.up_attn[3] && u.attention_head_dim == 0 && u.downsample_padding == 0 && !u.flip_sin_to_cos &&
          u.freq_shift == 1 && u.norm_eps == 1e-6f && u.time_embed_dim == 512 && u.norm_num_groups == 32 &&
          u.layers_per_block == 2 && u.mid_block && u.add_attention && !u.scale_shift);
    const char *bad[] = {"[1]", "{\"sample_size\": 30, \"block_out_channels\": [32, 64]}",
                         "{\"sample_size\": 32, \"block_out_channels\": [32, 64], \"down_block_types\": "
                         "[\"DownBlock2D\"], \"up_block_types\": [\"UpBlock2D\"]}",
                         "{\"sample_size\": 32, \"downsample_type\": \"resnet\"}",
                         "{\"sample_size\": 32, \"cross_attention_dim\": 768}",
                         "{\"sample_size\": 32, \"class_embed_type\": \"identity\"}",
                         /* no int conversion before the range check (tests/fuzz/regress/unet_config) */
                         "{\"sample_size\": [3.3e37, 16]}", "{\"sample_size\": 16.5}", "{\"sample_size\": -1e300}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        CHECKF(lt_unet_config_parse(bad[i], strlen(bad[i]), "bad", &u, &err) != LT_OK && err.msg[0], "bad config %zu",
               i);
    }
}

/* lt_diffusion_bench (`lathe bench imagine`) on every kind of time embedding: its warm-up
 * call must use a timestep the model takes (a learned table of 100 rows has no step 500). */
static void bench_case(const char *name) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", lt_test_path("tests/fixtures/unet"), name);
    lt_err err = {0};
    lt_denoiser *d = NULL;
    LT_ASSERT(lt_unet_open(&d, dir, g_be, 1, &err) == LT_OK);
    lt_diffusion_bench_result r;
    CHECKF(lt_diffusion_bench(d, 2, 1, NULL, NULL, &r, &err) == LT_OK, "bench %s: %s", name, err.msg);
    CHECKF(r.steps == 2 && r.unet_its > 0, "bench %s: %d steps, %g it/s", name, r.steps, r.unet_its);
    lt_denoiser_close(d);
}

int main(void) {
    lt_err err = {0};
    LT_ASSERT(lt_backend_create(&g_be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    golden_case("google_old", 0, 1000);
    golden_case("diffusers_new", 0, 1000);
    golden_case("no_attn", 0, 1000);
    golden_case("class_cond", 10, 1000);
    golden_case("scale_shift", 0, 1000);
    golden_case("fourier", 0, 1000);
    golden_case("learned", 0, 100);
    golden_case("no_attn_grey", 0, 1000);
    errors();
    bench_case("learned");
    bench_case("class_cond");
    lt_backend_free(g_be);
    return lt_test_done();
}
