/* detect.c - see detect.h. */
#include "detect.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/assets.h"
#include "core/base/clock.h"
#include "core/base/digest.h"
#include "core/formats/darknet.h"

#define PATH_CAP 4096

/* ---- options ------------------------------------------------------------------------- */

void lt_detect_args_default(lt_detect_args *a) {
    memset(a, 0, sizeof *a);
    lt_detect_opts_default(&a->o);
}

int lt_detect_model_options(lt_opt *out, lt_detect_args *a) {
    out[0] = (lt_opt){"--model", "-m", LT_OPT_STR, &a->cfg, "darknet .cfg (default: bundled Yolo-Fastest 1.1)"};
    out[1] = (lt_opt){"--weights", "-w", LT_OPT_STR, &a->weights,
                      "darknet .weights (default: the cfg's name with .weights)"};
    return LT_DETECT_N_MODEL_OPTIONS;
}

int lt_detect_options(lt_opt *out, lt_detect_args *a) {
    int n = lt_detect_model_options(out, a);
    out[n++] = (lt_opt){"--names", NULL, LT_OPT_STR, &a->names,
                        "class names, one per line (default: coco.names beside the cfg)"};
    out[n++] = (lt_opt){"--thresh", NULL, LT_OPT_FLOAT, &a->o.thresh, "probability threshold (default 0.25)"};
    out[n++] = (lt_opt){"--nms", NULL, LT_OPT_FLOAT, &a->o.nms, "NMS overlap threshold, 0 = off (default 0.45)"};
    out[n++] = (lt_opt){"--tile", NULL, LT_OPT_INT, &a->o.tile,
                        "also run N x N pixel tiles (small objects in large images)"};
    out[n++] = (lt_opt){"--overlap", NULL, LT_OPT_FLOAT, &a->o.overlap, "tile overlap fraction (default 0.2)"};
    out[n++] = (lt_opt){"--max-pixels", NULL, LT_OPT_U64, &a->o.max_pixels,
                        "refuse images with more pixels than this (default 67108864 = 8192x8192)", 1,
                        (double)LT_IMAGE_MAX_PIXELS_CAP};
    return n;
}

lt_status lt_detect_bundled(const char *name, char *buf, size_t cap, lt_err *err) {
    char dir[PATH_CAP];
    if (lt_assets_dir(dir, sizeof dir, NULL) != LT_OK)
        return lt_err_set(err, LT_ENOTFOUND, "detect: bundled assets not found; give --model CFG --weights W");
    int n = snprintf(buf, cap, "%s/yolo/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return lt_err_set(err, LT_ERANGE, "detect: the path of %s is too long", name);
    return LT_OK;
}

/* ---- a detector with its class names ------------------------------------------------- */

struct lt_detect_model {
    lt_detector *det;
    char cfg[PATH_CAP];
    char names_path[PATH_CAP]; /* "" = none */
    char **names;
    int n_names;
};

/* path with its extension (if any) replaced by ext. */
static void with_ext(const char *path, const char *ext, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", path);
    char *dot = strrchr(buf, '.'), *sl = strrchr(buf, '/');
    if (dot && (!sl || dot > sl)) *dot = 0;
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s", ext);
}

/* NAME in the folder of path. */
static void beside(const char *path, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", path);
    char *sl = strrchr(buf, '/');
    if (sl) sl[1] = 0;
    else buf[0] = 0;
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s", name);
}

lt_status lt_detect_model_open(lt_detect_model **out, lt_detector_open_fn open, const lt_detect_args *a,
                               bool random_weights, lt_backend *be, int max_batch, lt_err *err) {
    *out = NULL;
    if (!open) return lt_err_set(err, LT_EUNSUPPORTED, "detect: no detector opener in this session");
    lt_detect_model *m = lt_calloc(1, sizeof *m);
    if (!m) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_status s = LT_OK;
    if (a->cfg) snprintf(m->cfg, sizeof m->cfg, "%s", a->cfg);
    else s = lt_detect_bundled("yolo-fastest-1.1.cfg", m->cfg, sizeof m->cfg, err);
    char wb[PATH_CAP];
    const char *weights = NULL;
    if (!random_weights) {
        if (a->weights) weights = a->weights;
        else with_ext(m->cfg, ".weights", wb, sizeof wb), weights = wb;
    }
    if (s == LT_OK) s = open(&m->det, m->cfg, weights, be, max_batch, err);
    if (s == LT_OK) {
        if (a->names) snprintf(m->names_path, sizeof m->names_path, "%s", a->names);
        else if (m->det->classes == 80) {
            beside(m->cfg, "coco.names", m->names_path, sizeof m->names_path);
            if (access(m->names_path, R_OK) != 0) m->names_path[0] = 0;
        }
        if (m->names_path[0]) s = lt_darknet_read_names(m->names_path, &m->names, &m->n_names, err);
    }
    if (s != LT_OK) {
        lt_detect_model_close(m);
        return s;
    }
    *out = m;
    return LT_OK;
}

void lt_detect_model_close(lt_detect_model *m) {
    if (!m) return;
    lt_detector_close(m->det);
    lt_darknet_free_names(m->names, m->n_names);
    lt_free(m);
}

lt_detector *lt_detect_model_detector(const lt_detect_model *m) { return m->det; }
const char *lt_detect_model_cfg(const lt_detect_model *m) { return m->cfg; }

char *const *lt_detect_model_names(const lt_detect_model *m, int *n, const char **path) {
    *n = m->n_names;
    if (path) *path = m->names_path[0] ? m->names_path : NULL;
    return m->names;
}

const char *lt_detect_model_class(const lt_detect_model *m, int class_id, char *buf, size_t cap) {
    if (m->names && class_id >= 0 && class_id < m->n_names) return m->names[class_id];
    snprintf(buf, cap, "class%d", class_id);
    return buf;
}

/* ---- one image file -------------------------------------------------------------------- */

lt_status lt_detect_file_with(lt_detector *d, char *const *names, int n_names, const char *path,
                              const lt_detect_opts *o, bool annotate, lt_detect_result *r, lt_err *err) {
    memset(r, 0, sizeof *r);
    double t0 = lt_now();
    LT_TRY(lt_image_load_max(&r->image, path, o ? (int64_t)o->max_pixels : 0, err));
    lt_status s = lt_detector_detect(d, &r->image, o, &r->dets, &r->n, err);
    r->seconds = lt_now() - t0;
    if (s != LT_OK) {
        lt_detect_result_free(r);
        return s;
    }
    if (annotate) lt_detect_draw(&r->image, r->dets, r->n, names, n_names, d->classes);
    return LT_OK;
}

lt_status lt_detect_file(lt_detect_model *m, const char *path, const lt_detect_opts *o, bool annotate,
                         lt_detect_result *r, lt_err *err) {
    return lt_detect_file_with(m->det, m->names, m->n_names, path, o, annotate, r, err);
}

void lt_detect_result_free(lt_detect_result *r) {
    if (!r) return;
    lt_image_free(&r->image);
    lt_free(r->dets);
    memset(r, 0, sizeof *r);
}

/* ---- results --------------------------------------------------------------------------- */

/* A pixel coordinate as an int: clamped first (a float beyond int's range must never be cast),
 * to a range wide enough that what is drawn is what the unclamped value would draw. */
static int px_coord(float v, int size) {
    if (v < -1) return -1;
    if (v > size + 64) return size + 64;
    return (int)v;
}

/* Whether the label rectangle at (x, y) of p[i] is inside the image and free of the shown
 * labels p[0..i). */
static bool label_fits(const lt_label_place *p, int i, int x, int y, int img_w, int img_h) {
    int w = p[i].w < img_w ? p[i].w : img_w, h = p[i].h;
    if (x < 0 || y < 0 || x + w > img_w || y + h > img_h) return false;
    for (int j = 0; j < i; j++) {
        const lt_label_place *q = &p[j];
        if (q->shown && x < q->x + q->w && q->x < x + p[i].w && y < q->y + q->h && q->y < y + h) return false;
    }
    return true;
}

/* Tries row y left-aligned with the box, then right-aligned (both pulled inside the image). */
static bool label_try_row(lt_label_place *p, int i, int y, int img_w, int img_h) {
    int xs[2] = {p[i].l, p[i].r + 1 - p[i].w};
    for (int k = 0; k < 2; k++) {
        int x = xs[k];
        if (x + p[i].w > img_w) x = img_w - p[i].w;
        if (x < 0) x = 0;
        if (label_fits(p, i, x, y, img_w, img_h)) {
            p[i].x = x, p[i].y = y, p[i].shown = true;
            return true;
        }
    }
    return false;
}

void lt_detect_place_labels(lt_label_place *p, int n, int img_w, int img_h) {
    for (int i = 0; i < n; i++) {
        lt_label_place *c = &p[i];
        c->shown = false;
        c->x = c->l, c->y = c->t;
        if (c->w <= 0 || c->h <= 0 || i >= LT_LABELS_MAX) continue;
        int rows[4] = {c->t - c->h, c->t, c->b + 1, c->b + 1 - c->h}; /* above, inside top, below, inside bottom */
        bool done = false;
        for (int k = 0; k < 4 && !done; k++) done = label_try_row(p, i, rows[k], img_w, img_h);
        int step = c->h / 2 > 0 ? c->h / 2 : 1; /* then the nearest free row up from above the box, or down */
        /* A shown label q blocks the rows y with q->y - h < y < q->y + q->h: at most (q->h + h) / step + 1 of
         * the rows tried each way. So among the first 1 + that sum over the shown labels, one is free (unless it
         * is off the image, and then so is every row beyond it): the search stops there, whatever the image's
         * height, and places every label it placed without the limit. */
        int64_t rows_max = 1;
        for (int j = 0; j < i; j++)
            if (p[j].shown) rows_max += (p[j].h + c->h) / step + 1;
        int64_t ku = 0, kd = 0; /* rows tried inside the image, up and down */
        for (int64_t d = step; !done && ((c->t - c->h - d >= 0 && ku < rows_max) || (c->t + d + c->h <= img_h && kd < rows_max));
             d += step) {
            int64_t yu = c->t - c->h - d, yd = c->t + d;
            ku += yu >= 0 && yu + c->h <= img_h, kd += yd >= 0 && yd + c->h <= img_h;
            done = label_try_row(p, i, (int)yu, img_w, img_h) || label_try_row(p, i, (int)yd, img_w, img_h);
        }
    }
}

void lt_detect_draw(lt_image *im, const lt_detection *d, int n, char *const *names, int n_names, int classes) {
    int th = (int)(im->h * .006f);
    if (th < 1) th = 1;
    int scale = im->h >= 600 ? 2 : 1;
    lt_label_place *pl = n > 0 ? lt_calloc((size_t)n, sizeof *pl) : NULL;
    int *idx = n > 0 ? lt_calloc((size_t)n, sizeof *idx) : NULL;
    char(*labels)[96] = n > 0 ? lt_calloc((size_t)n, sizeof *labels) : NULL;
    if (n > 0 && (!pl || !idx || !labels)) n = 0; /* out of memory: nothing drawn */
    int m = 0;
    for (int i = 0; i < n; i++) { /* the finite detections, their boxes and label sizes */
        if (!lt_detection_finite(&d[i])) continue;
        int l = px_coord(d[i].left, im->w), t = px_coord(d[i].top, im->h),
            r = px_coord(d[i].left + d[i].width, im->w), b = px_coord(d[i].top + d[i].height, im->h);
        if (l < 0) l = 0;
        if (t < 0) t = 0;
        if (r > im->w - 1) r = im->w - 1;
        if (b > im->h - 1) b = im->h - 1;
        float conf = d[i].confidence < 0 ? 0 : d[i].confidence > 1 ? 1 : d[i].confidence;
        if (names && d[i].class_id >= 0 && d[i].class_id < n_names)
            snprintf(labels[m], sizeof labels[m], "%s %d%%", names[d[i].class_id], (int)(conf * 100 + .5f));
        else snprintf(labels[m], sizeof labels[m], "class %d %d%%", d[i].class_id, (int)(conf * 100 + .5f));
        pl[m] = (lt_label_place){.l = l, .t = t, .r = r, .b = b, .w = lt_image_text_width(labels[m], scale) + 2 * scale,
                                 .h = 9 * scale};
        idx[m++] = i;
    }
    for (int k = m - 1; k >= 0; k--) { /* least confident first: the most confident box on top */
        float rgb[3];
        lt_image_class_color(d[idx[k]].class_id, classes, rgb);
        lt_image_draw_box(im, pl[k].l, pl[k].t, pl[k].r, pl[k].b, th, rgb);
    }
    lt_detect_place_labels(pl, m, im->w, im->h); /* labels over every box, none over another */
    for (int k = 0; k < m; k++) {
        if (!pl[k].shown) continue;
        float rgb[3];
        const float black[3] = {0, 0, 0};
        lt_image_class_color(d[idx[k]].class_id, classes, rgb);
        lt_image_fill_rect(im, pl[k].x, pl[k].y, pl[k].x + pl[k].w - 1, pl[k].y + pl[k].h - 1, rgb);
        lt_image_draw_text(im, pl[k].x + scale, pl[k].y + scale, labels[k], scale, black);
    }
    lt_free(pl);
    lt_free(idx);
    lt_free(labels);
}

/* A value x scale rounded to an int32, saturated; INT32_MIN for a non-finite one. */
static int32_t digest_q(float v, float scale) {
    float x = v * scale;
    if (!isfinite(x)) return INT32_MIN;
    if (x >= 2147483648.f) return INT32_MAX;
    if (x < -2147483648.f) return INT32_MIN + 1;
    return (int32_t)lrintf(x);
}

uint64_t lt_detect_digest(const lt_detection *d, int n) {
    uint64_t h = LT_FNV_INIT;
    for (int i = 0; i < n; i++) {
        int32_t v[6] = {d[i].class_id, digest_q(d[i].confidence, 1e4f), digest_q(d[i].left, 10),
                        digest_q(d[i].top, 10), digest_q(d[i].width, 10), digest_q(d[i].height, 10)};
        h = lt_fnv1a64(h, v, sizeof v);
    }
    return h;
}

void lt_detect_format_summary(char *buf, size_t cap, const char *path, const lt_detect_result *r) {
    snprintf(buf, cap, "%s: %d detection%s (%dx%d, %.1f ms)", path, r->n, r->n == 1 ? "" : "s", r->image.w,
             r->image.h, r->seconds * 1e3);
}

void lt_detect_format_line(char *buf, size_t cap, const lt_detection *d, const char *name) {
    if (!lt_detection_finite(d)) {
        snprintf(buf, cap, "  %-14s (non-finite box dropped)", name);
        return;
    }
    snprintf(buf, cap, "  %-14s %3.0f%%  left %5.0f  top %5.0f  width %5.0f  height %5.0f", name,
             d->confidence * 100, d->left, d->top, d->width, d->height);
}

void lt_detect_format_brief(char *buf, size_t cap, const lt_detection *d, char *const *names, int n_names) {
    if (!lt_detection_finite(d)) {
        snprintf(buf, cap, "class %d (non-finite box dropped)", d->class_id);
        return;
    }
    if (names && d->class_id >= 0 && d->class_id < n_names)
        snprintf(buf, cap, "%s %.2f [%.0f %.0f %.0f %.0f]", names[d->class_id], d->confidence, d->left, d->top,
                 d->width, d->height);
    else
        snprintf(buf, cap, "class %d %.2f [%.0f %.0f %.0f %.0f]", d->class_id, d->confidence, d->left, d->top,
                 d->width, d->height);
}
