/* unet.h - diffusers' UNet2DModel as a denoiser (core/diffusion/denoiser.h), written over the
 * lt_op_* table only, so it runs on every backend. */
#ifndef LT_UNET_H
#define LT_UNET_H

#include "core/diffusion/denoiser.h"

/* Opens a diffusers UNet2DModel folder (see lt_denoiser_open_fn). */
lt_status lt_unet_open(lt_denoiser **out, const char *path, lt_backend *be, int max_batch, lt_err *err);

#endif
