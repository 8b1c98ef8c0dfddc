/* detect.c - the `detect` command (see detect.h) over the shared detection pipeline
 * (core/vision/detect.h) and the public session API only.
 * Leaves out: the pipeline itself (defaults, loading, drawing, digests and line formats live
 * in core/vision/detect.c, shared with `lathe detect`).
 */
#include "detect.h"

#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/opts.h"
#include "core/vision/detect.h"

#define OBJ_NAME "detector"
#define OBJ_KIND "detector"
#define LINE_CAP 256

/* The session object: the backend the detector runs on and the detector with its names. */
typedef struct det_state {
    lt_backend *be;
    lt_detect_model *m;
} det_state;

static void state_close(void *p) {
    det_state *st = p;
    if (!st) return;
    lt_detect_model_close(st->m);
    lt_backend_free(st->be);
    lt_free(st);
}

/* Opens the detector on the device and threads of the session settings and hands it to the
 * session. */
static lt_status load(lt_session *s, const lt_detect_args *da, det_state **out, lt_err *err) {
    const lt_settings *set = lt_session_settings(s);
    det_state *st = lt_calloc(1, sizeof *st);
    if (!st) return lt_err_set(err, LT_ENOMEM, "out of memory");
    lt_backend_opts bo = {.n_threads = set->threads};
    lt_status r = lt_backend_create(&st->be, set->device[0] ? set->device : "auto", &bo, err);
    if (r == LT_OK) r = lt_detect_model_open(&st->m, lt_session_options(s)->open_detector, da, false, st->be, 8, err);
    if (r == LT_OK)
        r = lt_session_put_object(s, OBJ_NAME, OBJ_KIND, st, state_close, lt_detect_model_detector(st->m)->mem_bytes,
                                  lt_backend_device(st->be), err);
    if (r != LT_OK) {
        state_close(st);
        return r;
    }
    *out = st;
    return LT_OK;
}

/* The annotated image with one "dog 0.98 [l t w h]" line per detection, for the front end. */
static void preview(lt_sink *sink, const lt_detect_model *m, const lt_detect_result *r) {
    if (!sink || !sink->preview) return;
    int n_names;
    char *const *names = lt_detect_model_names(m, &n_names, NULL);
    char *buf = lt_malloc((size_t)(r->n + 1) * LINE_CAP);
    const char **lines = lt_malloc(sizeof *lines * (size_t)(r->n + 1));
    if (!buf || !lines) {
        lt_free(buf), lt_free(lines);
        return;
    }
    snprintf(buf, LINE_CAP, "%d detection%s", r->n, r->n == 1 ? "" : "s"); /* the heading */
    lines[0] = buf;
    for (int i = 0; i < r->n; i++) {
        lt_detect_format_brief(buf + (size_t)(i + 1) * LINE_CAP, LINE_CAP, &r->dets[i], names, n_names);
        lines[i + 1] = buf + (size_t)(i + 1) * LINE_CAP;
    }
    lt_sink_preview(sink, &r->image, lines, r->n + 1);
    lt_free(buf), lt_free(lines);
}

static lt_status cmd_detect(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_detect_args da;
    lt_detect_args_default(&da);
    const char *out = NULL;
    lt_opt opts[LT_DETECT_N_OPTIONS + 2];
    int k = lt_detect_options(opts, &da);
    opts[k++] = (lt_opt){"--out", "-o", LT_OPT_STR, &out, "write the annotated image as PNG"};
    opts[k] = (lt_opt){0};
    const char *pos[LT_CMD_MAX_ARGS];
    int n_pos;
    bool help;
    LT_TRY(lt_opts_parse("detect", opts, a->argc, a->argv, 1, pos, LT_CMD_MAX_ARGS, &n_pos, &help, err));
    if (help) {
        char usage[2048];
        lt_opts_usage(opts, usage, sizeof usage);
        lt_sink_printf(sink, LT_TEXT_INFO, "usage: %s\n%s", lt_cmd_detect_table.cmds[0].usage, usage);
        return LT_OK;
    }
    if (n_pos > 1) return lt_err_set(err, LT_EINVAL, "detect: one image at a time ('%s' and '%s')", pos[0], pos[1]);
    if (n_pos == 0) return lt_err_set(err, LT_EINVAL, "detect: give an IMAGE");
    const char *image = pos[0];
    det_state *st = lt_session_get_object(s, OBJ_NAME, OBJ_KIND);
    if (st && da.cfg && strcmp(da.cfg, lt_detect_model_cfg(st->m)))
        return lt_err_set(err, LT_EINVAL, "detect: a detector from %s is loaded; `unload %s` to use another",
                          lt_detect_model_cfg(st->m), OBJ_NAME);
    if (!st) {
        if (sink && sink->progress) sink->progress(sink->ud, "detect: loading", 0);
        LT_TRY(load(s, &da, &st, err));
    }
    lt_detect_result r;
    LT_TRY(lt_detect_file(st->m, image, &da.o, true, &r, err));
    char line[LINE_CAP + 4096];
    lt_detect_format_summary(line, sizeof line, image, &r);
    lt_sink_printf(sink, LT_TEXT_INFO, "%s\n", line);
    for (int i = 0; i < r.n; i++) {
        char nb[32];
        lt_detect_format_line(line, sizeof line, &r.dets[i], lt_detect_model_class(st->m, r.dets[i].class_id, nb, sizeof nb));
        lt_sink_printf(sink, LT_TEXT_INFO, "%s\n", line);
    }
    lt_status rc = LT_OK;
    if (out) {
        rc = lt_image_write_png(&r.image, out, err);
        if (rc == LT_OK) lt_sink_printf(sink, LT_TEXT_INFO, "wrote %s\n", out);
    }
    lt_session_set_digest(s, lt_detect_digest(r.dets, r.n));
    if (rc == LT_OK) preview(sink, st->m, &r);
    lt_detect_result_free(&r);
    return rc;
}

static const lt_cmd_arg k_detect_args[] = {{"IMAGE", "a JPEG or PNG file"}, {NULL, NULL}};

static const lt_cmd k_detect_cmds[] = {
    {"detect", NULL,
     "detect IMAGE [--model CFG] [--weights W] [--names N] [--thresh 0.25] [--nms 0.45] [--tile N] [--overlap F] "
     "[--max-pixels N] [--out PNG]",
     "find objects in an image (darknet YOLO; bundled Yolo-Fastest 1.1)", 1, -1, k_detect_args, true, cmd_detect},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, false, NULL},
};

const lt_cmd_table lt_cmd_detect_table = {"detect", k_detect_cmds};
