/* scheduler.h - the noise schedulers of diffusers 0.42.1: DDPMScheduler, DDIMScheduler and
 * EulerDiscreteScheduler, with their update formulas reproduced operation for operation
 * (scheduling_ddpm.py, scheduling_ddim.py, scheduling_euler_discrete.py), and the reader of a
 * diffusers scheduler_config.json.
 *
 * The tables follow torch's arithmetic: betas are float32 (torch.linspace's two-sided
 * formula), alphas = 1 - betas in float32, alphas_cumprod accumulated in double and rounded
 * to float32 per element (torch's CPU cumprod); Euler's sigmas are computed in float32 and
 * interpolated in double (np.interp), then rounded to float32. The per-element updates run in
 * double from those float32 scalars, so trajectories agree with diffusers to ~1e-6 relative
 * (tests/test_scheduler.c against tests/fixtures/sched, tools/gen_sched_fixtures.py).
 *
 * One sampling run: lt_scheduler_create(config, steps, eta), then for i = 0..steps-1: the
 * model sees x * lt_scheduler_input_scale(i) at timestep lt_scheduler_timestep(i), and
 * lt_scheduler_step(i) turns its output into the next sample, drawing noise when
 * lt_scheduler_step_draws(i) says so (DDPM's variance for t > 0, DDIM with eta > 0). The
 * initial noise is scaled by lt_scheduler_init_sigma().
 * Leaves out: learned variances (variance_type learned / learned_range / *_log),
 * trained_betas, rescale_betas_zero_snr, Karras / exponential / beta sigmas, Euler's s_churn,
 * the other diffusers schedulers (PNDM, DPM-Solver...): each is a named error.
 */
#ifndef LT_SCHEDULER_H
#define LT_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/status.h"

typedef enum lt_sched_kind { LT_SCHED_DDPM = 0, LT_SCHED_DDIM, LT_SCHED_EULER } lt_sched_kind;
typedef enum lt_beta_schedule { LT_BETA_LINEAR = 0, LT_BETA_SCALED_LINEAR, LT_BETA_SQUAREDCOS_CAP_V2 } lt_beta_schedule;
typedef enum lt_pred_type { LT_PRED_EPSILON = 0, LT_PRED_SAMPLE, LT_PRED_V } lt_pred_type;
typedef enum lt_spacing { LT_SPACING_LEADING = 0, LT_SPACING_TRAILING, LT_SPACING_LINSPACE } lt_spacing;
typedef enum lt_variance_type { LT_VAR_FIXED_SMALL = 0, LT_VAR_FIXED_LARGE } lt_variance_type;

typedef struct lt_sched_config {
    lt_sched_kind kind;
    int num_train_timesteps; /* 1000 */
    double beta_start, beta_end;
    lt_beta_schedule beta_schedule;
    lt_pred_type prediction_type;
    lt_spacing timestep_spacing; /* default leading (DDPM, DDIM), linspace (Euler) */
    int steps_offset;
    lt_variance_type variance_type; /* DDPM */
    bool clip_sample;               /* DDPM, DDIM (default true) */
    double clip_sample_range;       /* 1.0 */
    bool thresholding;              /* DDPM, DDIM: dynamic thresholding of x0 (Imagen) */
    double dynamic_thresholding_ratio, sample_max_value; /* 0.995, 1.0 */
    bool set_alpha_to_one;          /* DDIM (default true) */
} lt_sched_config;

/* "ddpm", "ddim", "euler" (also the diffusers class names DDPMScheduler, DDIMScheduler,
 * EulerDiscreteScheduler). LT_EINVAL naming the known ones otherwise. */
lt_status lt_sched_kind_parse(const char *name, lt_sched_kind *out, lt_err *err);
const char *lt_sched_kind_name(lt_sched_kind k); /* "ddpm" */

/* diffusers' defaults of that scheduler class. */
void lt_sched_config_default(lt_sched_config *c, lt_sched_kind kind);

/* Reads scheduler_config.json text (what: the file's name for messages). The scheduler is
 * kind_name when given ("ddim"; the config's other keys still apply, as from_config does),
 * else the config's _class_name. Keys are applied over that class's defaults; a key whose
 * value changes the math in a way lathe does not implement (trained_betas, use_karras_sigmas
 * true, variance_type learned...) or a key lathe does not know is an error naming the file and
 * the key. Keys that belong to other scheduler classes (variance_type under DDIM) are ignored,
 * as diffusers does. */
lt_status lt_sched_config_parse(const char *json, size_t len, const char *what, const char *kind_name,
                                lt_sched_config *out, lt_err *err);
/* The same from a file; path NULL or "" = the defaults of kind_name (which must be given). */
lt_status lt_sched_config_read(const char *path, const char *kind_name, lt_sched_config *out, lt_err *err);

typedef struct lt_scheduler lt_scheduler;

/* A schedule of steps inference steps (1..num_train_timesteps); eta is DDIM's noise weight
 * (0..1; any other scheduler requires 0). */
lt_status lt_scheduler_create(lt_scheduler **out, const lt_sched_config *c, int steps, double eta, lt_err *err);
void lt_scheduler_free(lt_scheduler *s); /* NULL is a no-op */

const lt_sched_config *lt_scheduler_config(const lt_scheduler *s);
int lt_scheduler_steps(const lt_scheduler *s);
/* The timestep the model sees at step i (integer-valued; Euler's are floats in diffusers). */
double lt_scheduler_timestep(const lt_scheduler *s, int i);
/* The initial noise's standard deviation (1, or Euler's init_noise_sigma). */
double lt_scheduler_init_sigma(const lt_scheduler *s);
/* The factor the model input is multiplied by at step i (1, or Euler's 1/sqrt(sigma^2+1)). */
double lt_scheduler_input_scale(const lt_scheduler *s, int i);
/* True when step i draws one noise value per sample element. */
bool lt_scheduler_step_draws(const lt_scheduler *s, int i);
/* The alphas_cumprod table (num_train_timesteps float32 values, for tests). */
const float *lt_scheduler_alphas_cumprod(const lt_scheduler *s);

/* Step i for n images of per elements each: model_out and x are [n * per]; x is replaced by
 * the previous sample; noise ([n * per] standard normals) is required when
 * lt_scheduler_step_draws(i) and ignored otherwise; x0 (may be NULL) receives the predicted
 * original sample (after clipping / thresholding). */
lt_status lt_scheduler_step(const lt_scheduler *s, int i, const float *model_out, float *x, const float *noise,
                            float *x0, int n, size_t per, lt_err *err);

#endif
