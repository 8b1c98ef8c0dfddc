/* detector.c - the model-independent parts of lt_detector: defaults and the calls that go
 * through the implementation's ops table. */
#include "detector.h"

#include <math.h>

void lt_detect_opts_default(lt_detect_opts *o) {
    o->thresh = 0.25f;
    o->nms = 0.45f;
    o->tile = 0;
    o->overlap = 0.2f;
    o->max_pixels = LT_IMAGE_MAX_PIXELS;
}

bool lt_detection_finite(const lt_detection *d) {
    return isfinite(d->confidence) && isfinite(d->left) && isfinite(d->top) && isfinite(d->width) &&
           isfinite(d->height) && isfinite(d->left + d->width) && isfinite(d->top + d->height);
}

int lt_detections_keep_finite(lt_detection *d, int n) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (lt_detection_finite(&d[i])) d[k++] = d[i];
    return k;
}

lt_status lt_detector_detect_many(lt_detector *d, const lt_image *ims, int n, const lt_detect_opts *o,
                                  lt_detection **dets, int *counts, lt_err *err) {
    lt_detect_opts def;
    if (!o) lt_detect_opts_default(&def), o = &def;
    lt_status s = d->ops->detect_many(d, ims, n, o, dets, counts, err);
    if (s == LT_OK)
        for (int i = 0; i < n; i++) counts[i] = lt_detections_keep_finite(dets[i], counts[i]);
    return s;
}

lt_status lt_detector_detect(lt_detector *d, const lt_image *im, const lt_detect_opts *o, lt_detection **dets,
                             int *count, lt_err *err) {
    return lt_detector_detect_many(d, im, 1, o, dets, count, err);
}

lt_status lt_detector_forward(lt_detector *d, const float *input, int n, lt_err *err) {
    return d->ops->forward(d, input, n, err);
}

void lt_detector_close(lt_detector *d) {
    if (d) d->ops->close(d);
}
