/* yolo.h - darknet YOLO detectors (Yolo-Fastest, yolov3, yolov3-tiny, yolov4-tiny, ...) as
 * a plain forward pass over backend ops, with darknet's box decoding, thresholds and NMS,
 * and a tiled mode for small objects in large images.
 *
 * lt_yolo_detect reproduces `darknet detector test`: the image is resized to the network
 * size (letterboxed when the cfg says letter_box=1), every (box, class) whose probability
 * objectness * p(class) exceeds the threshold is kept, and boxes are suppressed per class
 * with the NMS the cfg's last [yolo] section names (greedy IoU, or DIoU for greedynms).
 * With tiling, the image is also cut into overlapping tiles, each run at network resolution;
 * the boxes are mapped back to the image and merged with per-class greedy NMS (IoU, plus
 * containment, which drops the parts of objects that tile edges cut off).
 * Every lt_yolo is also an lt_detector (core/vision/detector.h): lt_yolo_open_detector is the
 * opener a session's creator hands to core (lt_session_opts.open_detector).
 * Leaves out: training, [region] heads, multi-label output formats beyond lt_detection.
 */
#ifndef LT_YOLO_H
#define LT_YOLO_H

#include "core/backend/backend.h"
#include "core/formats/darknet.h"
#include "core/formats/image.h"
#include "core/vision/detector.h"

typedef struct lt_yolo lt_yolo;

/* lt_detection, lt_detect_opts and lt_detect_opts_default live in core/vision/detector.h. */

/* Opens a detector from a .cfg and .weights, with activations for up to max_batch images
 * (tiles count as images) per forward pass. weights_path NULL = random weights (seed 1, as
 * lt_darknet_init_random), for timing a cfg without its weights. */
lt_status lt_yolo_open(lt_yolo **out, const char *cfg_path, const char *weights_path, lt_backend *be, int max_batch,
                       lt_err *err);
/* The same as a core detector (an lt_detector_open_fn); lt_detector_close closes it. */
lt_status lt_yolo_open_detector(lt_detector **out, const char *cfg_path, const char *weights_path, lt_backend *be,
                                int max_batch, lt_err *err);
/* The detector view of m (the same object; closing either closes both). */
lt_detector *lt_yolo_detector(lt_yolo *m);

/* Flags of lt_yolo_open_net. Without KEEP_OUTPUTS, activation buffers are shared between
 * layers whose lifetimes do not overlap (a fraction of the memory). */
#define LT_YOLO_KEEP_OUTPUTS 1 /* every layer keeps its output, for lt_yolo_layer_output */

/* The same from a parsed network with weights (lt_darknet_load_weights / _init_random);
 * takes ownership of net, also on failure. */
lt_status lt_yolo_open_net(lt_yolo **out, lt_dn_net *net, lt_backend *be, int max_batch, int flags, lt_err *err);
void lt_yolo_close(lt_yolo *m); /* NULL is a no-op */

const lt_dn_net *lt_yolo_net(const lt_yolo *m);
int lt_yolo_classes(const lt_yolo *m);
int lt_yolo_max_batch(const lt_yolo *m);
/* Bytes of device memory held (weights + activations). */
size_t lt_yolo_mem_bytes(const lt_yolo *m);

/* Runs the network on n (<= max_batch) network-sized inputs [n, c, h, w] (host floats in
 * [0, 1], lt_image layout) and keeps the decoded heads for lt_yolo_layer_output. */
lt_status lt_yolo_forward(lt_yolo *m, const float *input, int n, lt_err *err);
/* Copies layer i's output for the last forward (n images, [n, c, h, w]; for [yolo] layers
 * the decoded rows [n, h*w*anchors, 5+classes]) into a new lt_malloc'd buffer. Layers
 * other than [yolo] need a detector opened with LT_YOLO_KEEP_OUTPUTS. */
lt_status lt_yolo_layer_output(lt_yolo *m, int layer, float **out, size_t *count, lt_err *err);

/* Detects objects in n images (each tiled when o->tile > 0): dets[i] (lt_malloc'd, may be
 * NULL when counts[i] is 0) gets image i's detections, sorted by confidence when tiled and
 * in darknet's order otherwise. o may be NULL for the defaults. */
lt_status lt_yolo_detect_many(lt_yolo *m, const lt_image *ims, int n, const lt_detect_opts *o, lt_detection **dets,
                              int *counts, lt_err *err);
/* One image. */
lt_status lt_yolo_detect(lt_yolo *m, const lt_image *im, const lt_detect_opts *o, lt_detection **dets, int *count,
                         lt_err *err);

/* Loads the image at path, detects, and returns the detections and, when annotated is not
 * NULL, a copy of the image with them drawn (lt_detect_draw). Front ends use lt_detect_file
 * (core/vision/detect.h), which does the same through the lt_detector interface. */
lt_status lt_yolo_detect_file(lt_yolo *m, const char *path, const lt_detect_opts *o, char *const *names,
                              int n_names, lt_detection **dets, int *count, lt_image *annotated, lt_err *err);

/* Per-class greedy NMS over pixel boxes: a box is dropped when a more confident box of its
 * class overlaps it with IoU > thresh, or (contain > 0) covers more than contain of the
 * smaller box's area. Keeps survivors in place, sorted by confidence; returns their count. */
int lt_yolo_nms(lt_detection *d, int n, float thresh, float contain);

#endif
