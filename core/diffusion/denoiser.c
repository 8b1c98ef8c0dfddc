/* denoiser.c - the checks every denoiser call gets (denoiser.h). */
#include "denoiser.h"

lt_status lt_denoiser_predict(lt_denoiser *d, const float *x, int n, const float *t, const int *class_ids,
                              float *out, lt_err *err) {
    if (!d || !x || !t || !out)
        return lt_err_set(err, LT_EINVAL, "denoiser: missing model, input, timesteps or output");
    if (n < 1 || n > d->max_batch)
        return lt_err_set(err, LT_EINVAL, "denoiser: batch of %d images (this model takes 1 to %d)", n,
                          d->max_batch);
    if (d->num_classes > 0) {
        if (!class_ids)
            return lt_err_set(err, LT_EINVAL,
                              "denoiser: the model is class-conditional (%d classes): give a class", d->num_classes);
        for (int i = 0; i < n; i++)
            if (class_ids[i] < 0 || class_ids[i] >= d->num_classes)
                return lt_err_set(err, LT_ERANGE, "denoiser: class %d is out of range (the model has %d: 0-%d)",
                                  class_ids[i], d->num_classes, d->num_classes - 1);
    }
    return d->ops->predict(d, x, n, t, d->num_classes > 0 ? class_ids : NULL, out, err);
}

void lt_denoiser_close(lt_denoiser *d) {
    if (d) d->ops->close(d);
}
