/* test_digits.c - the bundled image model's samples are recognisable (issue #16): lathe
 * samples 100 digits with assets/models/digits-unet (10 per class: the default classes of a
 * batch of 100, lt_imagine_classes; DDIM 50 steps, eta 0, as the folder's
 * scheduler_config.json says; seed 1) through the core sampling API, and the
 * logistic-regression judge tests/fixtures/digits/logreg.json (tools/digits_classifier.py,
 * trained on the same data, 96.7% on held-out real digits) labels them; at least 80% must
 * get the class asked for. Prints the per-class accuracy. LATHE_DIGITS_SEED=S samples
 * another seed (to measure, not in CI). Skips (77) when the assets folder is absent. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/assets.h"
#include "core/diffusion/imagine.h"
#include "core/diffusion/sample.h"
#include "core/formats/diffusers.h"
#include "models/unet.h"
#include "testutil.h"

#define N_CLASSES 10
#define PER_CLASS 10
#define BATCH (N_CLASSES * PER_CLASS)
#define PIX 64

typedef struct judge {
    float coef[N_CLASSES][PIX], icpt[N_CLASSES];
} judge;

static int load_judge(judge *j) {
    char *txt = lt_test_read_file(lt_test_path("tests/fixtures/digits/logreg.json"), NULL);
    if (!txt) return 0;
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    const cJSON *coef = cJSON_GetObjectItem(root, "coef"), *icpt = cJSON_GetObjectItem(root, "intercept");
    int ok = root && cJSON_GetArraySize(coef) == N_CLASSES && cJSON_GetArraySize(icpt) == N_CLASSES &&
             cJSON_GetObjectItem(root, "classes")->valueint == N_CLASSES;
    for (int c = 0; ok && c < N_CLASSES; c++) {
        const cJSON *row = cJSON_GetArrayItem(coef, c);
        ok = cJSON_GetArraySize(row) == PIX;
        for (int k = 0; ok && k < PIX; k++) j->coef[c][k] = (float)cJSON_GetArrayItem(row, k)->valuedouble;
        j->icpt[c] = (float)cJSON_GetArrayItem(icpt, c)->valuedouble;
    }
    cJSON_Delete(root);
    return ok;
}

/* The judge's label of a model-space 8x8 image x in [-1, 1]: p = clamp(x/2 + 0.5, 0, 1),
 * row-major, argmax of coef . p + intercept. */
static int classify(const judge *j, const float *x) {
    int best = 0;
    double best_v = -1e30;
    for (int c = 0; c < N_CLASSES; c++) {
        double v = j->icpt[c];
        for (int k = 0; k < PIX; k++) {
            float p = x[k] / 2 + 0.5f;
            v += j->coef[c][k] * (p < 0 ? 0 : p > 1 ? 1 : p);
        }
        if (v > best_v) best_v = v, best = c;
    }
    return best;
}

int main(void) {
    char dir[4200];
    lt_err err = {0};
    if (lt_default_denoiser_path(dir, sizeof dir, &err) != LT_OK) {
        printf("skipped: %s\n", err.msg);
        return 77;
    }
    judge j;
    CHECK(load_judge(&j));
    lt_backend *be = NULL;
    lt_denoiser *d = NULL;
    CHECK(lt_backend_create(&be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    CHECKF(lt_unet_open(&d, dir, be, BATCH, &err) == LT_OK, "%s", err.msg);
    if (!d) return lt_test_done();
    CHECK(d->in_c == 1 && d->h == 8 && d->w == 8 && d->num_classes == N_CLASSES);

    /* the run's settings as `imagine --batch 100 --seed 1` makes them without other options */
    lt_imagine_args a;
    lt_imagine_args_default(&a);
    a.batch = BATCH;
    const char *env = getenv("LATHE_DIGITS_SEED");
    a.seed = env && env[0] ? strtoull(env, NULL, 10) : 1;
    lt_diffusers_paths dp;
    CHECK(lt_diffusers_locate(dir, &dp, &err) == LT_OK && dp.scheduler[0]);
    lt_scheduler *s = NULL;
    CHECKF(lt_imagine_scheduler(&a, dp.scheduler, d->num_train_timesteps, &s, &err) == LT_OK, "%s", err.msg);
    CHECK(lt_scheduler_config(s)->kind == LT_SCHED_DDIM && lt_scheduler_steps(s) == 50);
    int cls[BATCH];
    lt_imagine_classes(&a, d->num_classes, cls);
    for (int i = 0; i < BATCH; i++) CHECK(cls[i] == i / PER_CLASS);
    lt_noise *nz = NULL;
    CHECK(lt_noise_seeded(&nz, a.seed, &err) == LT_OK);
    lt_sample_params p = {.models = &d, .n_models = 1, .sched = s, .noise = nz, .batch = BATCH, .class_ids = cls};
    lt_sample_result r = {0};
    CHECKF(lt_sample_run(&p, &r, &err) == LT_OK, "%s", err.msg);
    if (r.x) {
        CHECK(r.batch == BATCH && r.c == 1 && r.h == 8 && r.w == 8 && r.steps_done == 50);
        int hit[N_CLASSES] = {0}, total = 0;
        for (int i = 0; i < BATCH; i++) {
            int got = classify(&j, r.x + (size_t)i * PIX);
            if (got == cls[i]) hit[cls[i]]++, total++;
        }
        printf("digits-unet, DDIM 50 steps, seed %llu: %d/%d labelled as asked (%.1f s, %.0f images/s)\nper class:",
               (unsigned long long)a.seed, total, BATCH, r.seconds, BATCH / (r.seconds > 0 ? r.seconds : 1));
        for (int c = 0; c < N_CLASSES; c++) printf(" %d:%d%%", c, 100 * hit[c] / PER_CLASS);
        printf("\n");
        CHECKF(total >= BATCH * 8 / 10, "%d%% < 80%%", total * 100 / BATCH);
    }
    lt_sample_result_free(&r);
    lt_noise_free(nz);
    lt_scheduler_free(s);
    lt_denoiser_close(d);
    lt_backend_free(be);
    return lt_test_done();
}
