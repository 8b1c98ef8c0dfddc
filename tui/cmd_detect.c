/* cmd_detect.c - the `detect` command of the command language (workbench, `lathe run`,
 * replay): runs the darknet detector (models/yolo.c) on an image, prints the detections,
 * optionally writes the annotated PNG, and keeps the annotated image for the front end's
 * preview (lt_detect_preview). The detector is loaded on first use as the session object
 * "detector" (kind "detector"; the bundled Yolo-Fastest 1.1 unless --model says otherwise)
 * on the device and threads of the session settings, and reused by later commands.
 * Leaves out: drawing in the terminal (the front end does that from lt_detect_preview).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/alloc.h"
#include "cli_session.h"
#include "cmd_detect.h"

#define OBJ_NAME "detector"
#define OBJ_KIND "detector"

typedef struct det_state {
    lt_backend *be;
    lt_yolo *m;
    char cfg[4200];
    char **names;
    int n_names;
    bool has_last;
    lt_image last;
    lt_detection *dets;
    int n;
} det_state;

static void state_close(void *p) {
    det_state *st = p;
    if (!st) return;
    lt_yolo_close(st->m);
    lt_backend_free(st->be);
    lt_darknet_free_names(st->names, st->n_names);
    lt_image_free(&st->last);
    lt_free(st->dets);
    lt_free(st);
}

static lt_status open_state(lt_session *s, const char *cfg, const char *weights, const char *names, det_state **out,
                            lt_err *err) {
    char assets[4096], cfgb[4200], wb[4200], nb[4200];
    if (!cfg) {
        if (!lt_cli_find_assets(assets, sizeof assets))
            return lt_err_set(err, LT_ENOTFOUND, "detect: bundled assets not found; give --model CFG --weights W");
        snprintf(cfgb, sizeof cfgb, "%.4000s/yolo/yolo-fastest-1.1.cfg", assets);
        cfg = cfgb;
    }
    if (!weights) {
        snprintf(wb, sizeof wb, "%.4000s", cfg);
        char *dot = strrchr(wb, '.'), *sl = strrchr(wb, '/');
        if (dot && (!sl || dot > sl)) *dot = 0;
        strcat(wb, ".weights");
        weights = wb;
    }
    const lt_settings *set = lt_session_settings(s);
    det_state *st = lt_calloc(1, sizeof *st);
    if (!st) return lt_err_set(err, LT_ENOMEM, "out of memory");
    snprintf(st->cfg, sizeof st->cfg, "%s", cfg);
    lt_backend_opts bo = {.n_threads = set->threads};
    lt_status r = lt_backend_create(&st->be, set->device[0] ? set->device : "auto", &bo, err);
    if (r == LT_OK) r = lt_yolo_open(&st->m, cfg, weights, st->be, 8, err);
    if (r == LT_OK && !names && lt_yolo_classes(st->m) == 80) {
        snprintf(nb, sizeof nb, "%.4000s", cfg);
        char *sl = strrchr(nb, '/');
        if (sl) sl[1] = 0;
        else nb[0] = 0;
        strcat(nb, "coco.names");
        FILE *f = fopen(nb, "r");
        if (f) fclose(f), names = nb;
    }
    if (r == LT_OK && names) r = lt_darknet_read_names(names, &st->names, &st->n_names, err);
    if (r != LT_OK) {
        state_close(st);
        return r;
    }
    *out = st;
    return LT_OK;
}

static bool num(const char *s, float *out) {
    char *e;
    float v = strtof(s, &e);
    if (e == s || *e) return false;
    *out = v;
    return true;
}

static uint64_t digest(const lt_detection *d, int n) {
    uint64_t h = LT_FNV_INIT;
    for (int i = 0; i < n; i++) {
        int32_t v[6] = {d[i].class_id, (int32_t)lrintf(d[i].confidence * 1e4f), (int32_t)lrintf(d[i].left * 10),
                        (int32_t)lrintf(d[i].top * 10), (int32_t)lrintf(d[i].width * 10),
                        (int32_t)lrintf(d[i].height * 10)};
        h = lt_fnv1a64(h, v, sizeof v);
    }
    return h;
}

static lt_status cmd_detect(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *image = NULL, *cfg = NULL, *weights = NULL, *names = NULL, *out = NULL;
    lt_detect_opts o;
    lt_detect_opts_default(&o);
    for (int i = 1; i < a->argc; i++) {
        const char *k = a->argv[i], *v = i + 1 < a->argc ? a->argv[i + 1] : NULL;
        float f;
        if (k[0] != '-' || k[1] == 0) {
            if (image) return lt_err_set(err, LT_EINVAL, "detect: one image at a time ('%s' and '%s')", image, k);
            image = k;
            continue;
        }
        if (!v) return lt_err_set(err, LT_EINVAL, "detect: %s needs a value", k);
        i++;
        if (!strcmp(k, "--model") || !strcmp(k, "-m")) cfg = v;
        else if (!strcmp(k, "--weights")) weights = v;
        else if (!strcmp(k, "--names")) names = v;
        else if (!strcmp(k, "--out") || !strcmp(k, "-o")) out = v;
        else if (!num(v, &f)) return lt_err_set(err, LT_EINVAL, "detect: %s expects a number, got '%s'", k, v);
        else if (!strcmp(k, "--thresh")) o.thresh = f;
        else if (!strcmp(k, "--nms")) o.nms = f;
        else if (!strcmp(k, "--tile")) o.tile = (int)f;
        else if (!strcmp(k, "--overlap")) o.overlap = f;
        else return lt_err_set(err, LT_EINVAL, "detect: unknown option '%s'", k);
    }
    if (!image) return lt_err_set(err, LT_EINVAL, "detect: give an IMAGE");
    det_state *st = lt_session_get_object(s, OBJ_NAME, OBJ_KIND);
    if (st && cfg && strcmp(cfg, st->cfg))
        return lt_err_set(err, LT_EINVAL, "detect: a detector from %s is loaded; `unload %s` to use another", st->cfg,
                          OBJ_NAME);
    if (!st) {
        if (sink && sink->progress) sink->progress(sink->ud, "detect: loading", 0);
        LT_TRY(open_state(s, cfg, weights, names, &st, err));
        lt_status r = lt_session_put_object(s, OBJ_NAME, OBJ_KIND, st, state_close, lt_yolo_mem_bytes(st->m),
                                            lt_backend_device(st->be), err);
        if (r != LT_OK) {
            state_close(st);
            return r;
        }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lt_detection *d;
    int n;
    lt_image ann;
    LT_TRY(lt_yolo_detect_file(st->m, image, &o, st->names, st->n_names, &d, &n, &ann, err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    lt_sink_printf(sink, LT_TEXT_INFO, "%s: %d detection%s (%dx%d, %.1f ms)\n", image, n, n == 1 ? "" : "s", ann.w,
                   ann.h, ms);
    for (int i = 0; i < n; i++) {
        char buf[32];
        const char *nm = d[i].class_id < st->n_names ? st->names[d[i].class_id] : buf;
        if (nm == buf) snprintf(buf, sizeof buf, "class%d", d[i].class_id);
        lt_sink_printf(sink, LT_TEXT_INFO, "  %-14s %3.0f%%  left %5.0f  top %5.0f  width %5.0f  height %5.0f\n", nm,
                       d[i].confidence * 100, d[i].left, d[i].top, d[i].width, d[i].height);
    }
    lt_status r = LT_OK;
    if (out) {
        r = lt_image_write_png(&ann, out, err);
        if (r == LT_OK) lt_sink_printf(sink, LT_TEXT_INFO, "wrote %s\n", out);
    }
    lt_image_free(&st->last);
    lt_free(st->dets);
    st->last = ann, st->dets = d, st->n = n, st->has_last = true;
    lt_session_set_digest(s, digest(d, n));
    return r;
}

static const lt_cmd_arg k_detect_args[] = {{"IMAGE", "a JPEG or PNG file"}, {NULL, NULL}};

static const lt_cmd k_detect_cmds[] = {
    {"detect", NULL,
     "detect IMAGE [--model CFG] [--weights W] [--names N] [--thresh 0.25] [--nms 0.45] [--tile N] [--overlap F] "
     "[--out PNG]",
     "find objects in an image (darknet YOLO; bundled Yolo-Fastest 1.1)", 1, -1, k_detect_args, true, cmd_detect},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, false, NULL},
};

const lt_cmd_table lt_cmd_detect_table = {"detect", k_detect_cmds};

bool lt_detect_preview(lt_session *s, const lt_image **img, const lt_detection **dets, int *n, char *const **names,
                       int *n_names) {
    det_state *st = lt_session_get_object(s, OBJ_NAME, OBJ_KIND);
    if (!st || !st->has_last) return false;
    *img = &st->last, *dets = st->dets, *n = st->n, *names = st->names, *n_names = st->n_names;
    return true;
}
