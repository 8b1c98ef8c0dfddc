/* detector.c - the model-independent parts of lt_detector: defaults and the calls that go
 * through the implementation's ops table. */
#include "detector.h"

void lt_detect_opts_default(lt_detect_opts *o) {
    o->thresh = 0.25f;
    o->nms = 0.45f;
    o->tile = 0;
    o->overlap = 0.2f;
}

lt_status lt_detector_detect_many(lt_detector *d, const lt_image *ims, int n, const lt_detect_opts *o,
                                  lt_detection **dets, int *counts, lt_err *err) {
    lt_detect_opts def;
    if (!o) lt_detect_opts_default(&def), o = &def;
    return d->ops->detect_many(d, ims, n, o, dets, counts, err);
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
