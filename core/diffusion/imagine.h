/* imagine.h - image generation as `imagine` (core/cmd/imagine.c) and `lathe imagine`
 * (tui/cli_imagine.c) both run it: one option table, the scheduler chosen and read from the
 * model's scheduler_config.json, the noise stream, the loop (sample.h), the PNG output and
 * the digest. The front ends only find the models (session objects or files) and report.
 *
 * Defaults follow diffusers' pipelines: the scheduler class of the model's config; 1000 steps
 * for DDPM (DDPMPipeline), 50 for DDIM and Euler (DDIMPipeline); eta 0; one image.
 * --out PNG writes the batch as one grid; --out DIR/ (an existing folder, or a path ending in
 * '/') writes DIR/000.png, DIR/001.png ... one per image; --scale K enlarges what is written
 * (nearest neighbour). The digest is FNV-1a 64 over the unscaled grid's 8-bit RGB bytes, so a
 * replay with the same seed (or noise file) checks the image.
 * Class-conditional models without --class get the classes spread over the batch
 * (lt_imagine_classes); an unconditional model refuses --class.
 * Leaves out: text prompts (no text encoder), guidance, latent models.
 */
#ifndef LT_IMAGINE_H
#define LT_IMAGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/opts.h"
#include "core/diffusion/sample.h"

#define LT_IMAGINE_MAX_BATCH 256
#define LT_IMAGINE_MAX_SCALE 32
#define LT_IMAGINE_NO_SEED UINT64_MAX

typedef struct lt_imagine_args {
    const char *model;      /* -m DIR|NAME (the front end resolves it) */
    int steps;              /* 0 = the pipeline's default */
    const char *scheduler;  /* "ddpm" | "ddim" | "euler"; NULL = the config's class */
    uint64_t seed;          /* LT_IMAGINE_NO_SEED = the front end's choice */
    int class_id;           /* -1 = not given: unconditional models, or the default classes
                               of a class-conditional one (lt_imagine_classes) */
    int batch;              /* images, default 1 */
    float eta;              /* DDIM's noise weight */
    const char *init_noise; /* a noise stream file (noise.h) instead of the seed */
    const char *experts;    /* "A:0-499,B:500-999" */
    const char *out;        /* PNG file or folder */
    int preview_every;      /* a preview every k steps; 0 = about 10 previews per run */
    int scale;              /* the PNG files' pixels scaled up k times (nearest); 0/1 = as made */
} lt_imagine_args;

#define LT_IMAGINE_N_OPTIONS 12

void lt_imagine_args_default(lt_imagine_args *a);
/* Fills opts[0..LT_IMAGINE_N_OPTIONS) with the shared options writing into a (not
 * terminated: the caller may add its own and then the {0} entry); returns the count. */
int lt_imagine_options(lt_opt *opts, lt_imagine_args *a);

/* The scheduler of a run: config (path of scheduler_config.json, NULL/"" = none: --scheduler
 * picks, or DDPM with the model's num_train_timesteps), --scheduler, --steps, --eta. */
lt_status lt_imagine_scheduler(const lt_imagine_args *a, const char *config, int num_train_timesteps,
                               lt_scheduler **out, lt_err *err);

/* The class label of each of a run's a->batch images for a model with num_classes classes
 * (> 0): a->class_id for all when given, else spread evenly in order: image i gets
 * i * num_classes / batch (rounded down), so a batch of num_classes gets each class once and
 * a batch of 10 x num_classes each class ten times in a row (one grid row per class with
 * 10 columns). */
void lt_imagine_classes(const lt_imagine_args *a, int num_classes, int *cls);

typedef struct lt_imagine_hooks {
    void (*on_step)(void *ud, const lt_sample_step *st);
    /* img: the batch's grid; line: "step 20/50 t 599 ddim" */
    void (*on_preview)(void *ud, const lt_sample_step *st, const lt_image *img, const char *line);
    bool (*cancelled)(void *ud);
    void *ud;
} lt_imagine_hooks;

typedef struct lt_imagine_result {
    lt_image grid;        /* the batch as one image (empty when cancelled) */
    int batch, steps, steps_done;
    int w, h;             /* one image's size */
    bool cancelled;
    uint64_t seed;        /* the seed used (LT_IMAGINE_NO_SEED with --init-noise) */
    uint64_t digest;      /* of grid (0 when cancelled) */
    char scheduler[16];
    double seconds, model_s;
    long long evals;
    int n_written;        /* PNG files written */
    char written[512];    /* the file, or the folder */
} lt_imagine_result;

/* Runs a.batch images through models (one, or one per expert range of a->experts, in its
 * order) with the scheduler read from sched_config; a->seed must be set unless
 * a->init_noise is. Writes a->out unless the run was cancelled. */
lt_status lt_imagine_run(const lt_imagine_args *a, lt_denoiser *const *models, int n_models, const char *sched_config,
                         const lt_imagine_hooks *hooks, lt_imagine_result *out, lt_err *err);
void lt_imagine_result_free(lt_imagine_result *r); /* NULL is a no-op */

/* One line: "imagine: 4 images 32x32, ddim 50 steps, seed 7, 3.2 s (15.6 it/s), digest ..." */
void lt_imagine_format_summary(char *buf, size_t cap, const lt_imagine_result *r);

#endif
