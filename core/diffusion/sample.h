/* sample.h - the sampling loop: a batch of images denoised by one or more lt_denoisers under
 * a scheduler (scheduler.h), with the noise of a noise stream (noise.h), as diffusers'
 * DDPMPipeline / DDIMPipeline run it: x = noise * init_sigma; for each step: the model sees
 * x * input_scale at the step's timestep, the scheduler steps x. Events go up through
 * callbacks: one per step (progress with an ETA), a preview image every few steps, and a
 * cancellation poll before each step (a cancelled run returns LT_OK with its partial sample).
 *
 * Time experts (RAPHAEL's time-MoE at the granularity of whole networks): with several
 * models, each step runs the model whose timestep range owns its timestep
 * (`--experts A:0-499,B:500-999`); the ranges may not overlap and must cover every timestep
 * the schedule uses.
 * The final images are diffusers' (x / 2 + 0.5).clamp(0, 1) as lt_images; a batch becomes one
 * grid (lt_sample_grid) and its digest is over the 8-bit RGB bytes (lt_sample_digest).
 * Leaves out: classifier-free guidance, latents (VAE decoding), img2img.
 */
#ifndef LT_SAMPLE_H
#define LT_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/diffusion/denoiser.h"
#include "core/diffusion/noise.h"
#include "core/diffusion/scheduler.h"
#include "core/formats/image.h"

#define LT_EXPERTS_MAX 8

/* `A:0-499,B:500-999`: a model (path or loaded name) per inclusive timestep range. */
typedef struct lt_experts {
    int n;
    struct {
        char model[512];
        int lo, hi;
    } r[LT_EXPERTS_MAX];
} lt_experts;

/* Parses an --experts value; empty names or ranges, lo > hi and overlapping ranges are errors
 * naming the part. */
lt_status lt_experts_parse(const char *spec, lt_experts *out, lt_err *err);
/* The expert owning timestep t, or -1. */
int lt_experts_find(const lt_experts *e, double t);
/* Checks that every timestep of the schedule has an expert (the first that has none is named). */
lt_status lt_experts_check(const lt_experts *e, const lt_scheduler *s, lt_err *err);

typedef struct lt_sample_step {
    int step, steps;       /* step just finished (1-based) of steps */
    double t;              /* its timestep */
    int expert;            /* the model that ran it (index into models) */
    double elapsed_s, eta_s;
} lt_sample_step;

typedef struct lt_sample_params {
    lt_denoiser *const *models; /* n_models >= 1; with experts, models[i] runs experts->r[i] */
    int n_models;
    const lt_experts *experts;  /* NULL with one model */
    const lt_scheduler *sched;
    lt_noise *noise;
    int batch;                  /* images (chunked by each model's max_batch) */
    const int *class_ids;       /* [batch]; NULL for unconditional models */
    int preview_every;          /* a preview after every k-th step (0 = none) */
    bool preview_sample;        /* preview the current sample instead of the x0 prediction */
    void (*on_step)(void *ud, const lt_sample_step *st);
    /* img: the batch as one grid in [0, 1], valid during the call */
    void (*on_preview)(void *ud, const lt_sample_step *st, const lt_image *img);
    bool (*cancelled)(void *ud); /* polled before each step; NULL = never */
    void *ud;
} lt_sample_params;

typedef struct lt_sample_result {
    float *x;            /* [batch, c, h, w]: the sample after steps_done steps (lt_malloc'd) */
    int batch, c, h, w;
    int steps_done;
    bool cancelled;
    double seconds;      /* the loop's wall time */
    double model_s;      /* time inside the denoisers */
    long long evals;     /* images evaluated by the denoisers (batch x steps) */
} lt_sample_result;

/* The number of noise values a run draws (the initial noise and each step's). */
size_t lt_sample_noise_need(const lt_scheduler *s, int batch, int c, int h, int w);

lt_status lt_sample_run(const lt_sample_params *p, lt_sample_result *out, lt_err *err);
void lt_sample_result_free(lt_sample_result *r); /* NULL is a no-op */

/* Image i of a [n, c, h, w] sample as diffusers' pipelines output it: (x / 2 + 0.5) clamped
 * to [0, 1]; 1-channel samples become grey RGB. */
lt_status lt_sample_image(const float *x, int i, int c, int h, int w, lt_image *out, lt_err *err);
/* All n images side by side in a grid of ceil(sqrt(n)) columns with 2-pixel black gaps (one
 * image: the image itself). */
lt_status lt_sample_grid(const float *x, int n, int c, int h, int w, lt_image *out, lt_err *err);
/* FNV-1a 64 of the image's 8-bit RGB bytes (what the PNG holds). */
uint64_t lt_sample_digest(const lt_image *im);

#endif
