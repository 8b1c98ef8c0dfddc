/* bench.c - the speed of a denoiser (see bench.h). */
#include "bench.h"

#include <string.h>

#include "core/base/alloc.h"
#include "core/diffusion/sample.h"

lt_status lt_diffusion_bench(lt_denoiser *d, int steps, int batch, bool (*cancelled)(void *ud), void *ud,
                             lt_diffusion_bench_result *out, lt_err *err) {
    memset(out, 0, sizeof *out);
    if (!d) return lt_err_set(err, LT_EINVAL, "bench imagine: no model");
    if (batch < 1) return lt_err_set(err, LT_EINVAL, "bench imagine: batch %d", batch);
    lt_sched_config c;
    lt_sched_config_default(&c, LT_SCHED_DDIM);
    if (d->num_train_timesteps > 0) c.num_train_timesteps = d->num_train_timesteps;
    lt_scheduler *s = NULL;
    LT_TRY(lt_scheduler_create(&s, &c, steps, 0, err));
    int *cls = lt_calloc((size_t)batch, sizeof(int)); /* class 0 for class-conditional models */
    lt_noise *nz = NULL;
    lt_status r = cls ? lt_noise_seeded(&nz, 0, err) : lt_err_set(err, LT_ENOMEM, "out of memory");
    /* warm-up: one evaluation of a chunk, untimed */
    size_t per = (size_t)d->in_c * d->h * d->w;
    int nb = batch < d->max_batch ? batch : d->max_batch;
    float *x = lt_calloc(per * (size_t)nb, sizeof(float)), *o = lt_malloc(sizeof(float) * per * (size_t)nb);
    float *t = lt_malloc(sizeof(float) * (size_t)nb);
    if (r == LT_OK && (!x || !o || !t)) r = lt_err_set(err, LT_ENOMEM, "out of memory");
    /* the schedule's first timestep: one every time embedding takes (a learned table may have
     * fewer rows than 500; a Fourier embedding refuses 0) */
    for (int i = 0; r == LT_OK && i < nb; i++) t[i] = (float)lt_scheduler_timestep(s, 0);
    if (r == LT_OK) r = lt_denoiser_predict(d, x, nb, t, d->num_classes ? cls : NULL, o, err);
    lt_free(x), lt_free(o), lt_free(t);
    lt_sample_params p = {.models = &d, .n_models = 1, .sched = s, .noise = nz, .batch = batch,
                          .class_ids = d->num_classes ? cls : NULL, .cancelled = cancelled, .ud = ud};
    lt_sample_result sr = {0};
    if (r == LT_OK) r = lt_sample_run(&p, &sr, err);
    if (r == LT_OK) {
        out->steps = sr.steps_done, out->batch = batch, out->seconds = sr.seconds, out->model_s = sr.model_s;
        out->cancelled = sr.cancelled;
        out->unet_its = sr.model_s > 0 ? sr.steps_done / sr.model_s : 0;
        out->images_per_s = sr.seconds > 0 && !sr.cancelled ? batch / sr.seconds : 0;
        out->gflops = sr.model_s > 0 ? d->flops * (double)sr.evals / sr.model_s / 1e9 : 0;
    }
    lt_sample_result_free(&sr);
    lt_noise_free(nz);
    lt_free(cls);
    lt_scheduler_free(s);
    return r;
}
