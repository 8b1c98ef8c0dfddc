/* detector.h - a loaded object detector as the engine sees it: images in, boxes with a
 * class and a confidence out, plus what a front end or a benchmark needs to know about it
 * (classes, input size, memory, work per image).
 *
 * models/ implements it (models/yolo.c: lt_yolo_open_detector returns an lt_detector), as
 * models/llama.c implements core/llm/lm.h; the detection pipeline (core/vision/detect.h) and
 * the `detect` command use only this interface, and receive the function that opens a
 * detector from the session's creator (lt_session_opts.open_detector), so core never
 * depends on a model file.
 * Leaves out: segmentation, keypoints, tracking across frames; how a model decodes its
 * boxes or suppresses duplicates (the implementation's business).
 */
#ifndef LT_DETECTOR_H
#define LT_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/backend/backend.h"
#include "core/formats/image.h"

/* One (box, class) pair, in pixels of the original image. */
typedef struct lt_detection {
    int class_id;
    float confidence;                /* objectness * p(class) */
    float left, top, width, height;  /* may extend past the image edges, as darknet's */
} lt_detection;

typedef struct lt_detect_opts {
    float thresh;   /* keep (box, class) pairs with a probability above this (darknet -thresh), 0.25 */
    float nms;      /* NMS overlap threshold, 0.45 (darknet's); 0 turns NMS off */
    int tile;       /* 0: whole image only; N: also N x N pixel tiles (clipped to the image) */
    float overlap;  /* fraction of a tile shared with its neighbour, in [0, 0.9]; 0.2 */
    uint64_t max_pixels; /* the pixel budget for loading an image file (core/formats/image.h):
                            LT_IMAGE_MAX_PIXELS; 0 = that default */
} lt_detect_opts;

/* Fills the defaults above. */
void lt_detect_opts_default(lt_detect_opts *o);

typedef struct lt_detector lt_detector;

typedef struct lt_detector_ops {
    const char *family; /* "darknet-yolo" */
    /* Detects objects in n images (each tiled when o->tile > 0): dets[i] (lt_malloc'd, may
     * be NULL when counts[i] is 0) gets image i's detections. o is never NULL here. On
     * error every dets[i] is NULL. */
    lt_status (*detect_many)(lt_detector *d, const lt_image *ims, int n, const lt_detect_opts *o,
                             lt_detection **dets, int *counts, lt_err *err);
    /* The network alone on n (<= max_batch) inputs already sized [n, in_c, in_h, in_w]
     * (host floats in [0, 1], lt_image layout): what a benchmark times without the image
     * preparation and box decoding around it. */
    lt_status (*forward)(lt_detector *d, const float *input, int n, lt_err *err);
    void (*close)(lt_detector *d);
} lt_detector_ops;

/* The common head of every detector; implementations embed it first and fill it. */
struct lt_detector {
    const lt_detector_ops *ops;
    lt_backend *be;
    int classes;
    int max_batch;           /* images (tiles count as images) per forward pass */
    int in_w, in_h, in_c;    /* the network's input */
    size_t mem_bytes;        /* device memory held (weights + activations) */
    double flops;            /* floating-point operations per image (one forward) */
};

/* Opens a detector from a model description (cfg_path: a darknet .cfg for
 * lt_yolo_open_detector) and its weights, with activations for up to max_batch images per
 * forward pass. weights_path NULL = random weights (a fixed seed; for timing a model
 * without its weights). */
typedef lt_status (*lt_detector_open_fn)(lt_detector **out, const char *cfg_path, const char *weights_path,
                                         lt_backend *be, int max_batch, lt_err *err);

/* True when every number of d (confidence, box, and its right and bottom edges) is finite. */
bool lt_detection_finite(const lt_detection *d);
/* Keeps the detections of d[0..n) that are finite, in order; returns how many. */
int lt_detections_keep_finite(lt_detection *d, int n);

/* Detects objects in n images; o may be NULL for the defaults. See lt_detector_ops. Whatever
 * the implementation returns, a detection with a non-finite number (activations that
 * overflowed) never comes out of here. */
lt_status lt_detector_detect_many(lt_detector *d, const lt_image *ims, int n, const lt_detect_opts *o,
                                  lt_detection **dets, int *counts, lt_err *err);
/* One image. */
lt_status lt_detector_detect(lt_detector *d, const lt_image *im, const lt_detect_opts *o, lt_detection **dets,
                             int *count, lt_err *err);
/* The network alone on n prepared inputs (see lt_detector_ops.forward). */
lt_status lt_detector_forward(lt_detector *d, const float *input, int n, lt_err *err);
void lt_detector_close(lt_detector *d); /* NULL is a no-op */

#endif
