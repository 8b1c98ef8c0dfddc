/* diffusers.h - where the pieces of a Hugging Face diffusers folder are.
 *
 * A diffusers pipeline folder has model_index.json and one subfolder per component
 * (unet/config.json + unet/diffusion_pytorch_model.safetensors, scheduler/scheduler_config.json);
 * a component folder alone (config.json + diffusion_pytorch_model.safetensors, maybe with
 * scheduler_config.json beside it or in ../scheduler/) is accepted too. The UNet's config and
 * tensors are read by the model (models/unet.c), the scheduler's config by
 * core/diffusion/scheduler.c; this module only finds the files, once for both.
 * Leaves out: other pipeline components (VAE, text encoder), .bin (pickle) weights.
 */
#ifndef LT_DIFFUSERS_H
#define LT_DIFFUSERS_H

#include <stdbool.h>

#include "core/base/status.h"

#define LT_DIFFUSERS_PATH_MAX 4096

typedef struct lt_diffusers_paths {
    char unet_config[LT_DIFFUSERS_PATH_MAX];  /* .../config.json of the UNet */
    char unet_weights[LT_DIFFUSERS_PATH_MAX]; /* .../diffusion_pytorch_model.safetensors */
    char scheduler[LT_DIFFUSERS_PATH_MAX];    /* scheduler_config.json, "" when the folder has none */
    bool pipeline;                            /* path had model_index.json */
} lt_diffusers_paths;

/* Finds the UNet and scheduler files of a diffusers folder (pipeline or unet/ folder). A
 * folder without a UNet config or without safetensors weights (only .bin) is an error that
 * says what is missing. */
lt_status lt_diffusers_locate(const char *dir, lt_diffusers_paths *out, lt_err *err);

/* True when dir looks like a diffusers folder (model_index.json, or config.json with
 * diffusion_pytorch_model.safetensors beside it): what format sniffing asks. */
bool lt_diffusers_is_folder(const char *dir);

#endif
