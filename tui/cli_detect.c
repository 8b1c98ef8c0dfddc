/* cli_detect.c - `lathe detect` (detection on images as text or JSON lines, annotated PNGs)
 * and `lathe bench detect` (images/s at batch 1 and a larger batch, network alone and end to
 * end).
 *
 * Only what is the command line's own lives here: argv parsing (over the option table
 * core/vision/detect.h shares with the `detect` command), the output formats, several
 * images per run, and the benchmark's timing loop. Defaults (the bundled Yolo-Fastest 1.1),
 * loading, detecting, drawing and the report lines come from the shared pipeline
 * (core/vision/detect.h); the detector from models/yolo through the lt_detector interface.
 * Leaves out: video, directories of images (pass the files), other output formats.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/vision/detect.h"
#include "models/yolo.h"
#include "cli.h"

/* A JSON number with prec decimals; null for a non-finite value (printf's "inf"/"nan" are not
 * JSON). The pipeline already drops non-finite detections: this keeps the output valid anyway. */
static void json_num(FILE *f, double v, int prec) {
    if (isfinite(v)) fprintf(f, "%.*f", prec, v);
    else fputs("null", f);
}

/* The backend and the detector with its names (through the shared pipeline); prints errors. */
static bool open_model(const lt_detect_args *da, bool random, const char *device, int threads, int batch,
                       lt_backend **be, lt_detect_model **m) {
    lt_err err = {0};
    *m = NULL;
    if (!lt_cli_backend(device, threads, be)) return false;
    if (lt_detect_model_open(m, lt_yolo_open_detector, da, random, *be, batch, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        lt_backend_free(*be);
        *be = NULL;
        return false;
    }
    int n_names, classes = lt_detect_model_detector(*m)->classes;
    const char *np;
    lt_detect_model_names(*m, &n_names, &np);
    if (np && n_names < classes)
        fprintf(stderr, "lathe: warning: %s has %d names for %d classes\n", np, n_names, classes);
    return true;
}

/* PATH with its extension replaced by .png inside folder dir. */
static void png_in(const char *dir, const char *path, char *buf, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, cap, "%s/%s", dir, base);
    char *dot = strrchr(buf, '.'), *sl = strrchr(buf, '/');
    if (dot && (!sl || dot > sl)) *dot = 0;
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, ".png");
}

int lt_cli_detect(int argc, char **argv) {
    lt_detect_args da;
    lt_detect_args_default(&da);
    const char *out = NULL, *device = NULL;
    int batch = 4, threads = 0;
    bool json = false;
    const char *usage = "[-m CFG --weights W] [--names NAMES] [--thresh 0.25] [--nms 0.45] [--tile N --overlap F] "
                        "[--max-pixels N] [--out annotated.png] [--json] IMAGE...";
    lt_opt opts[LT_DETECT_N_OPTIONS + 6];
    int k = lt_detect_options(opts, &da);
    opts[k++] = (lt_opt){"--out", "-o", LT_OPT_STR, &out, "annotated PNG (a folder when several images are given)"};
    opts[k++] = (lt_opt){"--json", NULL, LT_OPT_FLAG, &json, "one JSON line per image"};
    opts[k++] = (lt_opt){"--batch", NULL, LT_OPT_INT, &batch, "images/tiles per forward pass (default 4)"};
    opts[k++] = lt_cli_threads_opt(&threads);
    opts[k++] = (lt_opt){"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"};
    opts[k] = (lt_opt){0};
    const char *pos[256];
    int n_pos;
    if (!lt_cli_parse("detect", usage, opts, argc, argv, pos, 256, &n_pos)) return 2;
    if (n_pos == 0) {
        fprintf(stderr, "lathe detect: give at least one IMAGE\n");
        lt_cli_usage("detect", usage, opts);
        return 2;
    }
    if (batch < 1 || batch > 1024) {
        fprintf(stderr, "lathe detect: --batch must be in 1..1024\n");
        return 2;
    }
    if (out && n_pos > 1 && mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "lathe detect: cannot create folder %s: %s\n", out, strerror(errno));
        return 1;
    }
    lt_backend *be = NULL;
    lt_detect_model *m = NULL;
    int rc = 0;
    if (!open_model(&da, false, device, threads, batch, &be, &m)) return 1;
    for (int i = 0; i < n_pos; i++) {
        lt_err err = {0};
        lt_detect_result r;
        if (lt_detect_file(m, pos[i], &da.o, out != NULL, &r, &err) != LT_OK) {
            fprintf(stderr, "lathe detect: %s\n", err.msg);
            rc = 1;
            continue;
        }
        char buf[32], line[PATH_MAX + 256];
        if (json) {
            printf("{\"image\": ");
            lt_cli_json_str(stdout, pos[i]);
            printf(", \"width\": %d, \"height\": %d, \"detections\": [", r.image.w, r.image.h);
            for (int j = 0; j < r.n; j++) {
                const lt_detection *d = &r.dets[j];
                printf("%s{\"class\": ", j ? ", " : "");
                lt_cli_json_str(stdout, lt_detect_model_class(m, d->class_id, buf, sizeof buf));
                printf(", \"class_id\": %d, \"confidence\": ", d->class_id);
                json_num(stdout, d->confidence, 6);
                const float box[4] = {d->left, d->top, d->width, d->height};
                printf(", \"box\": [");
                for (int q = 0; q < 4; q++) {
                    if (q) printf(", ");
                    json_num(stdout, box[q], 3);
                }
                printf("]}");
            }
            printf("]}\n");
        } else {
            lt_detect_format_summary(line, sizeof line, pos[i], &r);
            printf("%s\n", line);
            for (int j = 0; j < r.n; j++) {
                lt_detect_format_line(line, sizeof line, &r.dets[j],
                                      lt_detect_model_class(m, r.dets[j].class_id, buf, sizeof buf));
                printf("%s\n", line);
            }
        }
        fflush(stdout);
        if (out) {
            char path[PATH_MAX];
            if (n_pos > 1) png_in(out, pos[i], path, sizeof path);
            else snprintf(path, sizeof path, "%s", out);
            if (lt_image_write_png(&r.image, path, &err) != LT_OK) {
                fprintf(stderr, "lathe detect: %s\n", err.msg);
                rc = 1;
            } else if (!json) {
                printf("  wrote %s\n", path);
            }
        }
        lt_detect_result_free(&r);
    }
    lt_detect_model_close(m);
    lt_backend_free(be);
    return rc;
}

/* ---- bench detect ---------------------------------------------------------------------------- */

typedef struct bench_res {
    double net_ips, e2e_ips; /* network only (input resized), end to end (resize + net + decode + NMS) */
} bench_res;

static bool bench_batch(lt_detector *det, const lt_image *im, int batch, double min_s, bench_res *r) {
    lt_err err = {0};
    size_t in_sz = (size_t)det->in_c * det->in_h * det->in_w;
    float *in = lt_malloc(sizeof(float) * in_sz * batch);
    lt_image *ims = lt_malloc(sizeof *ims * batch);
    lt_detection **d = lt_malloc(sizeof *d * batch);
    int *cnt = lt_malloc(sizeof *cnt * batch);
    lt_image sized = {0};
    bool ok = in && ims && d && cnt && lt_image_resize(&sized, im, det->in_w, det->in_h, &err) == LT_OK;
    if (ok) {
        for (int i = 0; i < batch; i++) {
            memcpy(in + i * in_sz, sized.data, sizeof(float) * in_sz);
            ims[i] = *im;
        }
        ok = lt_detector_forward(det, in, batch, &err) == LT_OK; /* warm-up */
    }
    int iters = 0;
    double t0 = lt_now(), t = 0;
    while (ok && (t < min_s || iters < 3)) {
        ok = lt_detector_forward(det, in, batch, &err) == LT_OK;
        iters++;
        t = lt_now() - t0;
    }
    if (ok) r->net_ips = iters * batch / t;
    iters = 0, t0 = lt_now(), t = 0;
    while (ok && (t < min_s || iters < 3)) {
        ok = lt_detector_detect_many(det, ims, batch, NULL, d, cnt, &err) == LT_OK;
        for (int i = 0; ok && i < batch; i++) lt_free(d[i]);
        iters++;
        t = lt_now() - t0;
    }
    if (ok) r->e2e_ips = iters * batch / t;
    if (!ok) fprintf(stderr, "lathe bench detect: %s\n", err.msg[0] ? err.msg : "out of memory");
    lt_image_free(&sized);
    lt_free(in), lt_free(ims), lt_free(d), lt_free(cnt);
    return ok;
}

int lt_cli_bench_detect(int argc, char **argv) {
    lt_detect_args da;
    lt_detect_args_default(&da);
    const char *device = NULL;
    int batch = 16, threads = 0;
    bool json = false, random = false;
    float min_s = 2.f;
    const char *usage = "[-m CFG --weights W | -m CFG --random-weights] [--batch B] [--seconds S] [--json] [IMAGE]";
    lt_opt opts[LT_DETECT_N_MODEL_OPTIONS + 7];
    int k = lt_detect_model_options(opts, &da);
    opts[k++] = (lt_opt){"--random-weights", NULL, LT_OPT_FLAG, &random, "random weights (time a cfg without its weights)"};
    opts[k++] = (lt_opt){"--batch", NULL, LT_OPT_INT, &batch, "the larger batch (default 16)"};
    opts[k++] = (lt_opt){"--seconds", NULL, LT_OPT_FLOAT, &min_s, "time per measurement (default 2)"};
    opts[k++] = lt_cli_threads_opt(&threads);
    opts[k++] = (lt_opt){"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"};
    opts[k++] = (lt_opt){"--json", NULL, LT_OPT_FLAG, &json, "print one JSON object"};
    opts[k] = (lt_opt){0};
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("bench detect", usage, opts, argc, argv, pos, 1, &n_pos)) return 2;
    if (batch < 1 || batch > 1024 || !(min_s > 0 && min_s < 3600)) {
        fprintf(stderr, "lathe bench detect: --batch must be in 1..1024 and --seconds positive\n");
        return 2;
    }
    lt_err err = {0};
    char ib[PATH_MAX];
    const char *img = n_pos ? pos[0] : ib;
    if (!n_pos && lt_detect_bundled("dog.jpg", ib, sizeof ib, &err) != LT_OK) {
        fprintf(stderr, "lathe bench detect: %s\n", err.msg);
        return 1;
    }
    lt_backend *be = NULL;
    lt_detect_model *m = NULL;
    if (!open_model(&da, random, device, threads, batch, &be, &m)) return 1;
    lt_detector *det = lt_detect_model_detector(m);
    lt_image im;
    int rc = 0;
    bench_res r1 = {0}, rb = {0};
    if (lt_image_load(&im, img, &err) != LT_OK) {
        fprintf(stderr, "lathe bench detect: %s\n", err.msg);
        rc = 1;
    } else {
        if (!bench_batch(det, &im, 1, min_s, &r1) || !bench_batch(det, &im, batch, min_s, &rb)) rc = 1;
        lt_image_free(&im);
    }
    if (rc == 0) {
        double gflop = det->flops / 1e9;
        if (json) {
            printf("{\"bench\": \"detect\", \"model\": ");
            lt_cli_json_str(stdout, da.cfg ? da.cfg : "yolo-fastest-1.1");
            printf(", \"device\": ");
            lt_cli_json_str(stdout, lt_backend_device(be));
            printf(", \"input\": [%d, %d], \"gflop_per_image\": %.4f, \"batch\": %d, "
                   "\"network_ips_b1\": %.1f, \"end_to_end_ips_b1\": %.1f, \"network_ips\": %.1f, "
                   "\"end_to_end_ips\": %.1f}\n",
                   det->in_w, det->in_h, gflop, batch, r1.net_ips, r1.e2e_ips, rb.net_ips, rb.e2e_ips);
        } else {
            printf("detector  %s (%dx%d, %.3f GFLOP/image) on %s\n", da.cfg ? da.cfg : "yolo-fastest-1.1", det->in_w,
                   det->in_h, gflop, lt_backend_device(be));
            printf("batch 1    network %8.1f images/s   end to end %8.1f images/s\n", r1.net_ips, r1.e2e_ips);
            printf("batch %-4d network %8.1f images/s   end to end %8.1f images/s\n", batch, rb.net_ips,
                   rb.e2e_ips);
        }
    }
    lt_detect_model_close(m);
    lt_backend_free(be);
    return rc;
}
