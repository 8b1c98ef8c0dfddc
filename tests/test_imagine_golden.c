/* test_imagine_golden.c - whole sampling runs against diffusers' pipelines: the random-weight
 * UNets of tests/fixtures/unet/<model>/ denoised for 10 steps by lathe's loop (lt_sample_run
 * with lt_unet_open, the scheduler read from the case's scheduler_config.json, the noise stream
 * of tests/fixtures/imagine/<model>/noise_<run>.npy|.f32) must give diffusers' DDPMPipeline /
 * DDIMPipeline images (images.safetensors, tools/gen_imagine_fixtures.py) within 1e-3 (max
 * |diff| over the [0, 1] pixels); one Euler run (the pipelines' loop with init_noise_sigma and
 * scale_model_input) too. One run also goes through lt_imagine_run (the code of `lathe
 * imagine` and the `imagine` command: --scheduler ddim, --init-noise, --out PNG) and its PNG
 * is read back.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/diffusion/imagine.h"
#include "core/diffusion/sample.h"
#include "core/formats/image.h"
#include "core/formats/safetensors.h"
#include "models/unet.h"
#include "testutil.h"

#define TOL 1e-3

static lt_backend *g_be;

typedef struct gcase {
    const char *model, *run, *kind, *noise; /* noise: file name in tests/fixtures/imagine/<model>/ */
    double eta;
    int batch;
    bool sched_in_unet; /* scheduler_config.json in the unet folder (else beside the noise) */
} gcase;

static const gcase k_cases[] = {
    {"google_old", "ddpm", "ddpm", "noise_ddpm.npy", 0, 1, true},
    {"google_old", "ddim", "ddim", "noise_ddim.f32", 0, 1, true},
    {"google_old", "ddim_eta05", "ddim", "noise_ddim_eta05.npy", 0.5, 1, true},
    {"diffusers_new", "ddpm", "ddpm", "noise_ddpm.npy", 0, 2, false},
    {"diffusers_new", "ddim", "ddim", "noise_ddim.npy", 0, 2, false},
    {"no_attn_grey", "ddpm", "ddpm", "noise_ddpm.npy", 0, 2, false},
    {"no_attn_grey", "ddim", "ddim", "noise_ddim.npy", 0, 2, false},
    {"no_attn_grey", "euler", "euler", "noise_euler.npy", 0, 2, false},
    {"class_cond", "ddpm", "ddpm", "noise_ddpm.npy", 0, 2, false},
    {"class_cond", "ddim", "ddim", "noise_ddim.npy", 0, 2, false},
};

static const void *gold(lt_safetensors *st, const char *name, int64_t *n) {
    int64_t i = lt_st_find(st, name);
    if (i < 0) return NULL;
    lt_src_tensor t;
    lt_st_tensor(st, i, &t);
    *n = (int64_t)(t.nbytes / 4);
    return t.data;
}

/* max |a - ref| where a is image i as an lt_image ([3, h, w]; grey in every plane) and ref the
 * pipeline's [n, h, w, c] array */
static double image_err(const lt_image *a, const float *ref, int i, int c) {
    double e = 0;
    int h = a->h, w = a->w;
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float r = ref[(((size_t)i * h + y) * w + x) * c + (c == 3 ? k : 0)];
                double d = fabs((double)a->data[((size_t)k * h + y) * w + x] - r);
                if (d > e) e = d;
            }
    return e;
}

static void paths(const gcase *g, char *unet, char *sched, char *noise, char *imgs, size_t cap) {
    snprintf(unet, cap, "%s/%s", lt_test_path("tests/fixtures/unet"), g->model);
    const char *fx = lt_test_path("tests/fixtures/imagine");
    if (g->sched_in_unet) snprintf(sched, cap, "%s/scheduler_config.json", unet);
    else snprintf(sched, cap, "%s/%s/scheduler_config.json", fx, g->model);
    snprintf(noise, cap, "%s/%s/%s", fx, g->model, g->noise);
    snprintf(imgs, cap, "%s/%s/images.safetensors", fx, g->model);
}

static double worst = 0;

static void golden_run(const gcase *g) {
    char unet[512], sched[600], noise[600], imgs[600], iname[64];
    paths(g, unet, sched, noise, imgs, sizeof unet);
    lt_err err = {0};
    lt_denoiser *d = NULL;
    lt_scheduler *s = NULL;
    lt_noise *nz = NULL;
    lt_safetensors *st = NULL;
    lt_sched_config c;
    CHECKF(lt_unet_open(&d, unet, g_be, 2, &err) == LT_OK, "%s: %s", g->model, err.msg);
    CHECKF(lt_sched_config_read(sched, g->kind, &c, &err) == LT_OK, "%s: %s", sched, err.msg);
    CHECKF(lt_scheduler_create(&s, &c, 10, g->eta, &err) == LT_OK, "%s: %s", sched, err.msg);
    CHECKF(lt_noise_file(&nz, noise, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_st_open(&st, imgs, &err) == LT_OK, "%s", err.msg);
    if (!d || !s || !nz || !st) goto done;
    snprintf(iname, sizeof iname, "img_%s", g->run);
    int64_t nref = 0, ncls = 0;
    const float *ref = gold(st, iname, &nref);
    const int *cls = gold(st, "classes", &ncls);
    LT_ASSERT(ref != NULL && nref == (int64_t)g->batch * d->in_c * d->h * d->w);
    CHECK(d->num_classes ? ncls == g->batch : cls == NULL);
    lt_sample_params p = {.models = &d, .n_models = 1, .sched = s, .noise = nz, .batch = g->batch, .class_ids = cls};
    lt_sample_result r = {0};
    CHECKF(lt_sample_run(&p, &r, &err) == LT_OK, "%s %s: %s", g->model, g->run, err.msg);
    CHECK(r.steps_done == 10 && r.evals == 10LL * g->batch);
    /* the stream was used to its end: diffusers drew exactly what lathe drew */
    float extra;
    CHECKF(lt_noise_draw(nz, &extra, 1, &err) == LT_ERANGE, "%s %s: noise left over", g->model, g->run);
    double e = 0;
    for (int i = 0; r.x && i < g->batch; i++) {
        lt_image im;
        LT_ASSERT(lt_sample_image(r.x, i, r.c, r.h, r.w, &im, &err) == LT_OK);
        double ei = image_err(&im, ref, i, d->in_c);
        if (ei > e) e = ei;
        lt_image_free(&im);
    }
    if (e > worst) worst = e;
    printf("%-14s %-10s batch %d: max |diff| %.3g\n", g->model, g->run, g->batch, e);
    CHECKF(e <= TOL, "%s %s: max |diff| %g > %g", g->model, g->run, e, TOL);
    lt_sample_result_free(&r);
done:
    lt_st_close(st);
    lt_noise_free(nz);
    lt_scheduler_free(s);
    lt_denoiser_close(d);
}

/* google_old's DDIM run as `lathe imagine -m tests/fixtures/unet/google_old --scheduler ddim
 * --steps 10 --init-noise noise_ddim.f32 --out F.png` does it; the PNG read back is diffusers'
 * image to within one 8-bit step (plus the tolerance). */
static void imagine_run(void) {
    const gcase *g = &k_cases[1];
    char unet[512], sched[600], noise[600], imgs[600], png[600];
    paths(g, unet, sched, noise, imgs, sizeof unet);
    snprintf(png, sizeof png, "%s/x.png", lt_test_tmpdir("imagine_golden"));
    lt_err err = {0};
    lt_denoiser *d = NULL;
    LT_ASSERT(lt_unet_open(&d, unet, g_be, 1, &err) == LT_OK);
    lt_imagine_args a;
    lt_imagine_args_default(&a);
    a.model = unet, a.steps = 10, a.scheduler = "ddim", a.init_noise = noise, a.out = png;
    lt_imagine_result res;
    CHECKF(lt_imagine_run(&a, &d, 1, sched, NULL, &res, &err) == LT_OK, "%s", err.msg);
    CHECK(res.n_written == 1 && res.steps_done == 10 && !strcmp(res.scheduler, "ddim"));
    lt_safetensors *st = NULL;
    LT_ASSERT(lt_st_open(&st, imgs, &err) == LT_OK);
    int64_t n = 0;
    const float *ref = gold(st, "img_ddim", &n);
    LT_ASSERT(ref != NULL);
    double e = image_err(&res.grid, ref, 0, 3);
    printf("lt_imagine_run google_old ddim: max |diff| %.3g\n", e);
    CHECKF(e <= TOL, "lt_imagine_run: %g", e);
    lt_image im;
    CHECKF(lt_image_load(&im, png, &err) == LT_OK, "%s", err.msg);
    if (im.data) {
        CHECK(im.w == 16 && im.h == 16);
        double ep = image_err(&im, ref, 0, 3);
        printf("its PNG: max |diff| %.3g (8-bit)\n", ep);
        CHECKF(ep <= 0.5 / 255 + TOL, "PNG: %g", ep);
        lt_image_free(&im);
    }
    lt_imagine_result_free(&res);
    /* DDPM needs a step's noise after the initial one: the DDIM stream is too short, said before
     * the run starts */
    a.scheduler = "ddpm", a.out = NULL;
    CHECKF(lt_imagine_run(&a, &d, 1, sched, NULL, &res, &err) == LT_ERANGE && strstr(err.msg, "noise_ddim.f32") &&
               strstr(err.msg, "holds 768 noise values, this run draws 7680"),
           "%s", err.msg);
    lt_st_close(st);
    lt_denoiser_close(d);
}

int main(void) {
    lt_err err = {0};
    LT_ASSERT(lt_backend_create(&g_be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) golden_run(&k_cases[i]);
    printf("worst max |diff| %.3g (tolerance %g)\n", worst, TOL);
    imagine_run();
    lt_backend_free(g_be);
    return lt_test_done();
}
