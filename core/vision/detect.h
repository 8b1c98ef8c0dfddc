/* detect.h - the one detection pipeline that every front end uses (the `detect` command of
 * the command language, `lathe detect`, `lathe bench detect`): the options they share, the
 * defaults for what a user leaves out (the bundled Yolo-Fastest 1.1 under the assets folder,
 * weights beside the cfg, coco.names beside an 80-class cfg), detecting one image file
 * (load, detect, draw the annotated image), the digest of a result for journals and
 * replays, and the text lines a front end shows for it.
 *
 * A front end adds only its own output (text, JSON, PNG paths, a terminal preview) and its
 * own timing loops; the detector itself is an lt_detector (detector.h) opened through the
 * lt_detector_open_fn its creator passes in.
 * Leaves out: printing, video, folders of images, other model families' defaults.
 */
#ifndef LT_DETECT_H
#define LT_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/opts.h"
#include "detector.h"

/* ---- options ------------------------------------------------------------------------- */

/* What a user says about a detector and a run. */
typedef struct lt_detect_args {
    const char *cfg;     /* --model: the model's .cfg; NULL = the bundled Yolo-Fastest 1.1 */
    const char *weights; /* --weights; NULL = the cfg's path with .weights */
    const char *names;   /* --names: class names, one a line; NULL = coco.names beside an 80-class cfg */
    lt_detect_opts o;    /* --thresh, --nms, --tile, --overlap, --max-pixels */
} lt_detect_args;

/* No paths, lt_detect_opts_default. */
void lt_detect_args_default(lt_detect_args *a);

#define LT_DETECT_N_MODEL_OPTIONS 2
#define LT_DETECT_N_OPTIONS 8
/* Writes the table entries (core/base/opts.h) for --model/-m and --weights/-w, with their
 * values going into a, to out[0..LT_DETECT_N_MODEL_OPTIONS); returns that count. */
int lt_detect_model_options(lt_opt *out, lt_detect_args *a);
/* The same two, then --names, --thresh, --nms, --tile, --overlap, --max-pixels (the pixel
 * budget of an image file, core/formats/image.h): out[0..LT_DETECT_N_OPTIONS).
 * A front end appends its own options and the terminating {0}. */
int lt_detect_options(lt_opt *out, lt_detect_args *a);

/* The path of a bundled detection asset ("yolo-fastest-1.1.cfg", "dog.jpg"): ASSETS/yolo/NAME
 * under lt_assets_dir. LT_ENOTFOUND when there is no assets folder. */
lt_status lt_detect_bundled(const char *name, char *buf, size_t cap, lt_err *err);

/* ---- a detector with its class names ------------------------------------------------- */

typedef struct lt_detect_model lt_detect_model;

/* Resolves a's paths (defaults above) and opens the detector with open on be (the caller
 * keeps be; it must outlive the model), for up to max_batch images per forward pass, then
 * reads the class names. random_weights opens the cfg with random weights (a->weights is
 * ignored). */
lt_status lt_detect_model_open(lt_detect_model **out, lt_detector_open_fn open, const lt_detect_args *a,
                               bool random_weights, lt_backend *be, int max_batch, lt_err *err);
void lt_detect_model_close(lt_detect_model *m); /* NULL is a no-op */

lt_detector *lt_detect_model_detector(const lt_detect_model *m);
/* The cfg it was opened from (a->cfg, or the bundled one's absolute path). */
const char *lt_detect_model_cfg(const lt_detect_model *m);
/* The class names (NULL and 0 when there are none) and the file they came from (NULL = none;
 * path may be NULL when not wanted). A file may hold fewer names than the model has classes. */
char *const *lt_detect_model_names(const lt_detect_model *m, int *n, const char **path);
/* The name of a class, or "class<id>" (in buf) for one without a name. */
const char *lt_detect_model_class(const lt_detect_model *m, int class_id, char *buf, size_t cap);

/* ---- one image file -------------------------------------------------------------------- */

typedef struct lt_detect_result {
    lt_image image;      /* the image as loaded; with the detections drawn when annotated */
    lt_detection *dets;  /* [n], lt_malloc'd (NULL when n is 0) */
    int n;
    double seconds;      /* loading + detecting (not drawing) */
} lt_detect_result;

/* Loads the image at path within o->max_pixels, detects (o NULL = defaults) and, when
 * annotate is set, draws the boxes and labels onto r->image. Errors name the file. On error
 * r is empty. */
lt_status lt_detect_file(lt_detect_model *m, const char *path, const lt_detect_opts *o, bool annotate,
                         lt_detect_result *r, lt_err *err);
/* The same for a detector and class names (may be NULL) that are not an lt_detect_model. */
lt_status lt_detect_file_with(lt_detector *d, char *const *names, int n_names, const char *path,
                              const lt_detect_opts *o, bool annotate, lt_detect_result *r, lt_err *err);
void lt_detect_result_free(lt_detect_result *r); /* NULL or empty is a no-op; leaves *r empty */

/* ---- results --------------------------------------------------------------------------- */

/* Where a box's label goes. In: the box's edges in pixels ([l, r] x [t, b], inside the image)
 * and the label's size w x h. Out: the label's rectangle [x, x + w) x [y, y + h), or shown
 * false when no free place was found (the box is drawn without its label). */
typedef struct lt_label_place {
    int l, t, r, b, w, h; /* in */
    int x, y;             /* out */
    bool shown;           /* out */
} lt_label_place;

/* Places the labels of p[0..n) in that order (the first gets the best place) so that no two
 * shown labels overlap and each lies inside the img_w x img_h image (a label wider than the
 * image starts at x 0): above the box's top edge when that is free and inside the image,
 * else inside the box under its top edge, else below the box, else inside over its bottom
 * edge (each left-aligned with the box, else right-aligned), else the nearest free row above
 * the box or down from its top edge (in steps of half a label; the search ends where the
 * labels placed so far cannot block every row, so its length does not grow with the image's
 * height). Only the first LT_LABELS_MAX labels are placed (the rest are not shown), which
 * bounds the work whatever n is. Pure: no drawing. */
#define LT_LABELS_MAX 256
void lt_detect_place_labels(lt_label_place *p, int n, int img_w, int img_h);

/* Draws boxes and "name 87%" labels (darknet's class colours for `classes` classes) onto im,
 * the labels placed by lt_detect_place_labels (the most confident first, none covering
 * another). names may be NULL (labels show "class K"). A detection with a non-finite number
 * is skipped; coordinates are clamped before they become ints. */
void lt_detect_draw(lt_image *im, const lt_detection *d, int n, char *const *names, int n_names, int classes);

/* The digest a journal records for a detection result: FNV-1a 64 over (class, confidence
 * x 1e4, left/top/width/height x 10) of every detection, rounded to 32-bit integers
 * (saturated; a non-finite value counts as INT32_MIN). */
uint64_t lt_detect_digest(const lt_detection *d, int n);

/* "PATH: N detections (WxH, T ms)" for a result. */
void lt_detect_format_summary(char *buf, size_t cap, const char *path, const lt_detect_result *r);
/* "  dog             98%  left    10  top    20  width    30  height    40": one detection of
 * a text report, with its class name. These line formats never print inf or nan: a
 * detection with a non-finite number reads "(non-finite box dropped)". */
void lt_detect_format_line(char *buf, size_t cap, const lt_detection *d, const char *name);
/* "dog 0.98 [10 20 30 40]" (or "class 16 0.98 [...]" without a name): one detection beside
 * a preview image. */
void lt_detect_format_brief(char *buf, size_t cap, const lt_detection *d, char *const *names, int n_names);

#endif
