/* denoiser.h - a loaded denoising network as the diffusion engine sees it: a noisy image
 * batch and a timestep in, the network's prediction out (noise, sample or v, as its
 * scheduler config says), plus what a front end or a benchmark needs to know about it.
 *
 * models/ implements it (models/unet.c: lt_unet_open returns an lt_denoiser, a diffusers
 * UNet2DModel), as models/llama.c implements core/llm/lm.h; the schedulers and the sampling
 * loop (core/diffusion/scheduler.h, sample.h) and the `imagine` command use only this
 * interface, and receive the function that opens one from the session's creator, so core
 * never depends on a model file.
 * Leaves out: text conditioning (Stable Diffusion's cross-attention), VAEs (latent models),
 * the noise schedule (the scheduler's business).
 */
#ifndef LT_DENOISER_H
#define LT_DENOISER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/backend/backend.h"

typedef struct lt_denoiser lt_denoiser;

typedef struct lt_denoiser_ops {
    const char *family; /* "unet2d" */
    /* One network evaluation on n (1..max_batch) images: x is host f32 [n, in_c, h, w], t[i]
     * the (possibly fractional) timestep of image i, class_ids[i] its class label (NULL when
     * the model is unconditional; each in [0, num_classes) otherwise), out host f32
     * [n, out_c, h, w]. */
    lt_status (*predict)(lt_denoiser *d, const float *x, int n, const float *t, const int *class_ids, float *out,
                         lt_err *err);
    void (*close)(lt_denoiser *d);
} lt_denoiser_ops;

/* The common head of every denoiser; implementations embed it first and fill it. */
struct lt_denoiser {
    const lt_denoiser_ops *ops;
    lt_backend *be;
    int in_c, out_c;    /* channels in and out (3 and 3 for RGB pixel models) */
    int h, w;           /* the sample size the model was trained at (config sample_size) */
    int max_batch;      /* images per predict call */
    int num_classes;    /* class-conditional models: labels 0..num_classes-1; 0 = unconditional */
    int num_train_timesteps; /* from the model's scheduler config when known, else 1000 */
    size_t mem_bytes;   /* device memory held (weights + activations) */
    double flops;       /* floating-point operations per image (one predict) */
};

/* Opens a denoiser from a diffusers folder (the pipeline folder with model_index.json, or
 * its unet/ folder, or a folder with config.json + diffusion_pytorch_model.safetensors; see
 * core/formats/diffusers.h) with activations for up to max_batch images per call. */
typedef lt_status (*lt_denoiser_open_fn)(lt_denoiser **out, const char *path, lt_backend *be, int max_batch,
                                         lt_err *err);

/* One network evaluation (see lt_denoiser_ops.predict); checks n and the class ids. */
lt_status lt_denoiser_predict(lt_denoiser *d, const float *x, int n, const float *t, const int *class_ids,
                              float *out, lt_err *err);
void lt_denoiser_close(lt_denoiser *d); /* NULL is a no-op */

#endif
