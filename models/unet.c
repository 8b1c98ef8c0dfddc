/* unet.c - diffusers' UNet2DModel (unet.h). Being built (issue 16): this placeholder only
 * says so, and is replaced by the forward pass within the same piece of work. */
#include "unet.h"

lt_status lt_unet_open(lt_denoiser **out, const char *path, lt_backend *be, int max_batch, lt_err *err) {
    (void)be;
    (void)max_batch;
    if (out) *out = NULL;
    return lt_err_set(err, LT_EUNSUPPORTED, "%s: UNet2DModel is not built yet", path ? path : "(null)");
}
