/* test_scheduler.c - DDPM, DDIM and Euler against diffusers 0.42.1 (tests/fixtures/sched,
 * tools/gen_sched_fixtures.py): the timesteps, init sigma and alphas_cumprod, the trajectory
 * step by step through lt_scheduler_step with the recorded noise stream, and the final sample
 * through the whole loop (lt_sample_run over the test denoiser, the stream read from a file);
 * then the config reader's errors, the noise files' errors and the seeded generator. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/diffusion/noise.h"
#include "core/diffusion/sample.h"
#include "core/diffusion/scheduler.h"
#include "testutil.h"

#define TOL 1e-5

static double g_max_err[3];

static float *floats(const cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    float *v = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
    int i = 0;
    for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next) v[i++] = (float)e->valuedouble;
    return v;
}

static void write_raw(const char *path, const float *v, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(v, sizeof(float), n, f);
    fclose(f);
}

static void run_case(const cJSON *cs, float a, float b, const char *dir) {
    const char *name = cJSON_GetObjectItem(cs, "name")->valuestring;
    char *cfg = cJSON_PrintUnformatted(cJSON_GetObjectItem(cs, "config"));
    int steps = cJSON_GetObjectItem(cs, "steps")->valueint;
    double eta = cJSON_GetObjectItem(cs, "eta")->valuedouble;
    const cJSON *shape = cJSON_GetObjectItem(cs, "shape");
    int B = cJSON_GetArrayItem(shape, 0)->valueint, C = cJSON_GetArrayItem(shape, 1)->valueint;
    int H = cJSON_GetArrayItem(shape, 2)->valueint, W = cJSON_GetArrayItem(shape, 3)->valueint;
    size_t per = (size_t)C * H * W, total = per * B;
    lt_err err = {0};
    lt_sched_config c;
    lt_scheduler *s = NULL;
    lt_status r = lt_sched_config_parse(cfg, strlen(cfg), name, NULL, &c, &err);
    if (r == LT_OK) r = lt_scheduler_create(&s, &c, steps, eta, &err);
    CHECKF(r == LT_OK, "%s: %s", name, err.msg);
    free(cfg);
    if (r != LT_OK) return;
    int n_ts, n_ac, n_noise, n_traj;
    float *ts = floats(cJSON_GetObjectItem(cs, "timesteps"), &n_ts);
    float *ac = floats(cJSON_GetObjectItem(cs, "alphas_cumprod_at_t"), &n_ac);
    float *noise = floats(cJSON_GetObjectItem(cs, "noise"), &n_noise);
    const cJSON *traj = cJSON_GetObjectItem(cs, "traj");
    n_traj = cJSON_GetArraySize(traj);
    CHECKF(n_ts == steps && n_traj == steps, "%s: fixture shape", name);
    for (int i = 0; i < n_ts && i < steps; i++) {
        CHECKF(lt_scheduler_timestep(s, i) == ts[i], "%s: timestep %d: %g vs %g", name, i,
               lt_scheduler_timestep(s, i), ts[i]);
        const float *mine = lt_scheduler_alphas_cumprod(s);
        float m = mine[(int)ts[i]];
        CHECKF(fabsf(m - ac[i]) <= 2e-7f * ac[i] + 1e-12f, "%s: alphas_cumprod[%g] %.9g vs %.9g", name, ts[i], m, ac[i]);
    }
    double isg = cJSON_GetObjectItem(cs, "init_sigma")->valuedouble;
    CHECKF(fabs(lt_scheduler_init_sigma(s) - isg) <= 1e-6 * isg, "%s: init sigma %.9g vs %.9g", name,
           lt_scheduler_init_sigma(s), isg);
    CHECKF((size_t)n_noise == lt_sample_noise_need(s, B, C, H, W), "%s: noise stream %d values, lathe draws %zu", name,
           n_noise, lt_sample_noise_need(s, B, C, H, W));

    /* step by step */
    float *x = malloc(sizeof(float) * total), *in = malloc(sizeof(float) * total), *m = malloc(sizeof(float) * total);
    size_t pos = total;
    for (size_t j = 0; j < total; j++) x[j] = (float)(noise[j] * lt_scheduler_init_sigma(s));
    double worst = 0;
    for (int i = 0; i < steps; i++) {
        double sc = lt_scheduler_input_scale(s, i);
        float t = (float)lt_scheduler_timestep(s, i);
        for (size_t j = 0; j < total; j++) {
            in[j] = (float)(x[j] * sc);
            m[j] = a * in[j] + b * sinf(t / 100.0f);
        }
        const float *z = NULL;
        if (lt_scheduler_step_draws(s, i)) {
            z = pos + total <= (size_t)n_noise ? noise + pos : NULL;
            pos += total;
        }
        r = lt_scheduler_step(s, i, m, x, z, NULL, B, per, &err);
        CHECKF(r == LT_OK, "%s step %d: %s", name, i, err.msg);
        int nr;
        float *ref = floats(cJSON_GetArrayItem(traj, i), &nr);
        double e = lt_test_rel_err_ff(x, ref, (int64_t)total);
        if (e > worst) worst = e;
        CHECKF(e <= TOL, "%s: step %d (t %g): relative error %.3g", name, i, t, e);
        if (i == steps - 1) memcpy(in, ref, sizeof(float) * total); /* keep the final reference */
        free(ref);
    }
    lt_sched_kind k = lt_scheduler_config(s)->kind;
    if (worst > g_max_err[k]) g_max_err[k] = worst;
    printf("  %-32s max rel err %.2e\n", name, worst);

    /* the whole loop, the noise from a raw file */
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    write_raw(path, noise, (size_t)n_noise);
    lt_noise *nz = NULL;
    r = lt_noise_file(&nz, path, &err);
    CHECKF(r == LT_OK, "%s: %s", name, err.msg);
    lt_denoiser *d = lt_test_denoiser(C, H, W, 1, 0, a, b, 0, NULL); /* batch 1: chunking too */
    lt_sample_params p = {.models = &d, .n_models = 1, .sched = s, .noise = nz, .batch = B};
    lt_sample_result res;
    if (r == LT_OK) r = lt_sample_run(&p, &res, &err);
    CHECKF(r == LT_OK, "%s: sample: %s", name, err.msg);
    if (r == LT_OK) {
        double e = lt_test_rel_err_ff(res.x, in, (int64_t)total);
        CHECKF(e <= TOL && res.steps_done == steps && !res.cancelled, "%s: loop: rel err %.3g", name, e);
        CHECK(res.evals == (long long)B * steps);
        lt_sample_result_free(&res);
    }
    lt_denoiser_close(d);
    lt_noise_free(nz);
    lt_scheduler_free(s);
    free(ts), free(ac), free(noise), free(x), free(in), free(m);
}

static void expect_cfg_error(const char *json, const char *kind, const char *needle) {
    lt_err err = {0};
    lt_sched_config c;
    lt_status r = lt_sched_config_parse(json, strlen(json), "scheduler_config.json", kind, &c, &err);
    CHECKF(r != LT_OK && strstr(err.msg, needle), "config %s: wanted an error with '%s', got %d '%s'", json, needle,
           (int)r, err.msg);
}

static void test_config_errors(void) {
    expect_cfg_error("{\"_class_name\": \"PNDMScheduler\"}", NULL, "PNDMScheduler is not implemented");
    expect_cfg_error("{\"_class_name\": \"DDPMScheduler\", \"variance_type\": \"learned_range\"}", NULL,
                     "variance_type 'learned_range'");
    expect_cfg_error("{\"_class_name\": \"DDPMScheduler\", \"trained_betas\": [0.1, 0.2]}", NULL, "trained_betas");
    expect_cfg_error("{\"_class_name\": \"DDPMScheduler\", \"beta_schedule\": \"sigmoid\"}", NULL, "sigmoid");
    expect_cfg_error("{\"_class_name\": \"DDPMScheduler\", \"frobnicate\": 3}", NULL, "unknown key 'frobnicate'");
    expect_cfg_error("{\"_class_name\": \"DDPMScheduler\", \"clip_sample\": 3}", NULL, "'clip_sample' should be");
    expect_cfg_error("{\"_class_name\": \"EulerDiscreteScheduler\", \"use_karras_sigmas\": true}", NULL,
                     "use_karras_sigmas = true");
    expect_cfg_error("{\"_class_name\": \"DDPMScheduler\"}", "heun", "unknown scheduler 'heun'");
    expect_cfg_error("{}", NULL, "no _class_name");
    expect_cfg_error("[1]", NULL, "not a JSON object");
    /* a DDPM config read as DDIM: DDPM's keys are ignored, the shared ones kept */
    const char *ddpm = "{\"_class_name\": \"DDPMScheduler\", \"variance_type\": \"fixed_large\", \"beta_end\": 0.03, "
                       "\"skip_prk_steps\": true}";
    lt_sched_config c;
    lt_err err = {0};
    CHECK(lt_sched_config_parse(ddpm, strlen(ddpm), "x", "euler", &c, &err) == LT_OK);
    CHECK(c.kind == LT_SCHED_EULER && c.beta_end == 0.03 && c.timestep_spacing == LT_SPACING_LINSPACE);
    CHECK(lt_sched_config_parse(ddpm, strlen(ddpm), "x", NULL, &c, &err) == LT_OK);
    CHECK(c.kind == LT_SCHED_DDPM && c.variance_type == LT_VAR_FIXED_LARGE && c.clip_sample);
    lt_scheduler *s = NULL;
    CHECK(lt_scheduler_create(&s, &c, 0, 0, &err) == LT_ERANGE && strstr(err.msg, "0 steps"));
    CHECK(lt_scheduler_create(&s, &c, 10, 0.5, &err) == LT_EINVAL && strstr(err.msg, "eta applies to ddim"));
    /* DDIM's eta: above 1 the direction term is the root of a negative number (NaN); 1 is fine */
    lt_sched_config_default(&c, LT_SCHED_DDIM);
    CHECK(lt_scheduler_create(&s, &c, 50, 1.5, &err) == LT_EINVAL && strstr(err.msg, "eta 1.5"));
    for (int steps = 1; steps <= 1000; steps += steps < 20 ? 1 : 37) {
        LT_ASSERT(lt_scheduler_create(&s, &c, steps, 1.0, &err) == LT_OK);
        float x[4] = {1, -1, 0.5f, 2}, m[4] = {0.1f, 0.2f, -0.3f, 0.4f}, z[4] = {0.5f, -0.5f, 1, -1};
        bool finite = true;
        for (int i = 0; i < steps; i++) {
            LT_ASSERT(lt_scheduler_step(s, i, m, x, z, NULL, 1, 4, &err) == LT_OK);
            for (int j = 0; j < 4; j++) finite = finite && isfinite(x[j]);
        }
        CHECKF(finite, "ddim eta 1, %d steps: a non-finite sample", steps);
        lt_scheduler_free(s);
    }
    lt_sched_config tr = c;
    tr.timestep_spacing = LT_SPACING_TRAILING;
    CHECK(lt_scheduler_create(&s, &tr, 61, 0, &err) == LT_EUNSUPPORTED && strstr(err.msg, "makes 62 timesteps"));
    CHECK(lt_scheduler_create(&s, &tr, 60, 0, &err) == LT_OK);
    lt_scheduler_free(s);
    s = NULL;
    c.steps_offset = 500;
    CHECK(lt_scheduler_create(&s, &c, 2, 0, &err) == LT_ERANGE && strstr(err.msg, "outside"));
}

static void test_noise(const char *dir) {
    lt_err err = {0};
    lt_noise *a = NULL, *b = NULL;
    CHECK(lt_noise_seeded(&a, 42, &err) == LT_OK && lt_noise_seeded(&b, 42, &err) == LT_OK);
    float x[4001], y[4001];
    lt_noise_draw(a, x, 1, &err);
    lt_noise_draw(a, x + 1, 4000, &err); /* split draws give the same stream */
    lt_noise_draw(b, y, 4001, &err);
    CHECK(!memcmp(x, y, sizeof x));
    double s1 = 0, s2 = 0;
    for (int i = 0; i < 4001; i++) s1 += x[i], s2 += (double)x[i] * x[i];
    CHECKF(fabs(s1 / 4001) < 0.05 && fabs(s2 / 4001 - 1) < 0.06, "normal moments %g %g", s1 / 4001, s2 / 4001);
    lt_noise_free(a), lt_noise_free(b);
    /* files */
    char p[1024];
    snprintf(p, sizeof p, "%s/short.f32", dir);
    write_raw(p, x, 10);
    CHECK(lt_noise_file(&a, p, &err) == LT_OK);
    CHECK(lt_noise_check(a, 24, 3, 2, 2, "initial 24", &err) == LT_ERANGE && strstr(err.msg, "holds 10 noise values"));
    lt_noise_free(a);
    snprintf(p, sizeof p, "%s/odd.f32", dir);
    FILE *f = fopen(p, "wb");
    fwrite(x, 1, 7, f);
    fclose(f);
    CHECK(lt_noise_file(&a, p, &err) == LT_EFORMAT && strstr(err.msg, "whole number of float32"));
    /* an empty stream reads (it was a memcpy from NULL: tests/fuzz/regress/noise) and is too short */
    snprintf(p, sizeof p, "%s/empty.f32", dir);
    fclose(fopen(p, "wb"));
    CHECK(lt_noise_file(&a, p, &err) == LT_OK);
    CHECK(lt_noise_check(a, 1, 3, 2, 2, "initial 12", &err) == LT_ERANGE && strstr(err.msg, "holds 0 noise values"));
    lt_noise_free(a);
    /* .npy: float64 refused, a wrong shape refused, a good one read */
    snprintf(p, sizeof p, "%s/n.npy", dir);
    const char *hdr_f8 = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
    const char *hdr_sh = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 4, 4), }";
    const char *hdr_ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 2, 2), }";
    const char *hdrs[3] = {hdr_f8, hdr_sh, hdr_ok};
    for (int k = 0; k < 3; k++) {
        f = fopen(p, "wb");
        char h[128];
        int hl = snprintf(h, sizeof h, "%-117s\n", hdrs[k]);
        fwrite("\x93NUMPY\x01\x00", 1, 8, f);
        unsigned char l2[2] = {(unsigned char)hl, 0};
        fwrite(l2, 1, 2, f);
        fwrite(h, 1, (size_t)hl, f);
        fwrite(x, sizeof(float), 48, f);
        fclose(f);
        a = NULL;
        lt_status r = lt_noise_file(&a, p, &err);
        if (k == 0) CHECKF(r == LT_EFORMAT && strstr(err.msg, "dtype <f8"), "%s", err.msg);
        if (k == 1) CHECKF(r == LT_OK && lt_noise_check(a, 24, 3, 2, 2, "", &err) == LT_EFORMAT &&
                               strstr(err.msg, "shape ends in [3, 4, 4]"), "%s", err.msg);
        if (k == 2) {
            CHECKF(r == LT_OK && lt_noise_check(a, 24, 3, 2, 2, "", &err) == LT_OK, "%s", err.msg);
            float z[24];
            CHECK(lt_noise_draw(a, z, 24, &err) == LT_OK && !memcmp(z, x, sizeof z));
        }
        lt_noise_free(a);
    }
}

static void test_experts(void) {
    lt_experts e;
    lt_err err = {0};
    CHECK(lt_experts_parse("A:0-499,B:500-999", &e, &err) == LT_OK && e.n == 2 && e.r[1].lo == 500 &&
          !strcmp(e.r[1].model, "B"));
    CHECK(lt_experts_find(&e, 499) == 0 && lt_experts_find(&e, 500) == 1 && lt_experts_find(&e, 1000) == -1);
    CHECK(lt_experts_parse("A:0-500,B:500-999", &e, &err) == LT_EINVAL && strstr(err.msg, "overlaps"));
    CHECK(lt_experts_parse("A:5-1", &e, &err) == LT_EINVAL && strstr(err.msg, "5 > 1"));
    CHECK(lt_experts_parse("A", &e, &err) == LT_EINVAL && strstr(err.msg, "MODEL:LO-HI"));
    CHECK(lt_experts_parse("A:x-3", &e, &err) == LT_EINVAL && strstr(err.msg, "LO-HI"));
    CHECK(lt_experts_parse("/m/c:1/unet:0-10", &e, &err) == LT_OK && !strcmp(e.r[0].model, "/m/c:1/unet"));
    /* coverage of the schedule */
    lt_sched_config c;
    lt_sched_config_default(&c, LT_SCHED_DDIM);
    lt_scheduler *s = NULL;
    CHECK(lt_scheduler_create(&s, &c, 10, 0, &err) == LT_OK);
    CHECK(lt_experts_parse("A:0-499,B:600-999", &e, &err) == LT_OK);
    CHECK(lt_experts_check(&e, s, &err) == LT_ERANGE && strstr(err.msg, "timestep 500"));
    /* routing: two denoisers that differ; each step runs the owner of its timestep */
    CHECK(lt_experts_parse("lo:0-499,hi:500-999", &e, &err) == LT_OK);
    int calls[2] = {0, 0};
    lt_denoiser *d[2] = {lt_test_denoiser(3, 2, 2, 4, 0, 0.5f, 0.75f, 0, &calls[0]),
                         lt_test_denoiser(3, 2, 2, 4, 0, 0.25f, 0.5f, 0, &calls[1])};
    lt_noise *nz;
    lt_noise_seeded(&nz, 7, &err);
    lt_sample_params p = {.models = d, .n_models = 2, .experts = &e, .sched = s, .noise = nz, .batch = 2};
    lt_sample_result res;
    CHECKF(lt_sample_run(&p, &res, &err) == LT_OK, "%s", err.msg);
    CHECKF(calls[0] == 5 && calls[1] == 5, "expert calls %d %d", calls[0], calls[1]);
    lt_sample_result_free(&res);
    lt_noise_free(nz);
    lt_denoiser_close(d[0]), lt_denoiser_close(d[1]);
    lt_scheduler_free(s);
}

/* A model whose output is NaN stops the run at the first step with an error naming the step
 * (the NaN would spread into every pixel); a NaN sample still makes defined image bytes. */
static void test_non_finite(void) {
    lt_err err = {0};
    lt_sched_config c;
    lt_sched_config_default(&c, LT_SCHED_DDIM);
    lt_scheduler *s = NULL;
    LT_ASSERT(lt_scheduler_create(&s, &c, 4, 0, &err) == LT_OK);
    lt_denoiser *d = lt_test_denoiser(1, 2, 2, 2, 0, NAN, 0, 0, NULL);
    lt_noise *nz;
    LT_ASSERT(lt_noise_seeded(&nz, 1, &err) == LT_OK);
    lt_sample_params p = {.models = &d, .n_models = 1, .sched = s, .noise = nz, .batch = 2};
    lt_sample_result res;
    lt_status r = lt_sample_run(&p, &res, &err);
    CHECKF(r == LT_ERANGE && strstr(err.msg, "step 1 of 4") && strstr(err.msg, "not finite"), "%d %s", (int)r,
           err.msg);
    if (r == LT_OK) lt_sample_result_free(&res);
    float x[4] = {NAN, INFINITY, -INFINITY, 0};
    lt_image im;
    LT_ASSERT(lt_sample_image(x, 0, 1, 2, 2, &im, &err) == LT_OK);
    CHECK(im.data[0] == 0 && im.data[1] == 1 && im.data[2] == 0 && im.data[3] == 0.5f);
    lt_image_free(&im);
    lt_denoiser_close(d);
    lt_noise_free(nz);
    lt_scheduler_free(s);
}

int main(void) {
    size_t len;
    char *txt = lt_test_read_file(lt_test_path("tests/fixtures/sched/cases.json"), &len);
    CHECK(txt != NULL);
    if (!txt) return lt_test_done();
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    const char *dir = lt_test_tmpdir("test_scheduler");
    const cJSON *model = cJSON_GetObjectItem(root, "model");
    float a = (float)cJSON_GetObjectItem(model, "a")->valuedouble, b = (float)cJSON_GetObjectItem(model, "b")->valuedouble;
    printf("diffusers %s\n", cJSON_GetObjectItem(root, "diffusers")->valuestring);
    const cJSON *cases = cJSON_GetObjectItem(root, "cases");
    for (const cJSON *cs = cases->child; cs; cs = cs->next) run_case(cs, a, b, dir);
    printf("max rel err: ddpm %.2e, ddim %.2e, euler %.2e\n", g_max_err[0], g_max_err[1], g_max_err[2]);
    cJSON_Delete(root);
    test_config_errors();
    test_noise(dir);
    test_experts();
    test_non_finite();
    return lt_test_done();
}
