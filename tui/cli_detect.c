/* cli_detect.c - `lathe detect` (darknet YOLO detection on images, text or JSON, annotated
 * PNG output) and `lathe bench detect` (images/s at batch 1 and a larger batch).
 *
 * Defaults to the bundled Yolo-Fastest 1.1 (assets/yolo), found relative to the current
 * directory or to the binary (BUILD/../assets/yolo).
 * Leaves out: video, directories of images (pass the files), other output formats.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "models/yolo.h"
#include "cli.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static bool exists(const char *p) { return access(p, R_OK) == 0; }

/* assets/yolo/NAME relative to the current directory, else to the binary's parent folder. */
static const char *bundled(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "assets/yolo/%s", name);
    if (exists(buf)) return buf;
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l > 0) {
        exe[l] = 0;
        char *s = strrchr(exe, '/');
        if (s) {
            *s = 0;
            if (snprintf(buf, n, "%s/../assets/yolo/%s", exe, name) < (int)n && exists(buf)) return buf;
        }
    }
    snprintf(buf, n, "assets/yolo/%s", name);
    return buf;
}

/* CFG with its extension replaced by .weights. */
static void sibling(const char *path, const char *ext, char *buf, size_t n) {
    snprintf(buf, n, "%s", path);
    char *dot = strrchr(buf, '.'), *sl = strrchr(buf, '/');
    if (dot && (!sl || dot > sl)) *dot = 0;
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "%s", ext);
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

typedef struct model_args {
    const char *cfg, *weights, *names, *device;
    int threads, batch;
    bool random;
    char cfg_buf[PATH_MAX], w_buf[PATH_MAX], names_buf[PATH_MAX]; /* defaults filled in */
} model_args;

static bool open_model(model_args *a, lt_backend **be, lt_yolo **m, char ***names, int *n_names) {
    lt_err err = {0};
    const char *cfg = a->cfg ? a->cfg : bundled("yolo-fastest-1.1.cfg", a->cfg_buf, sizeof a->cfg_buf);
    const char *w = a->weights;
    if (!w && !a->random) {
        if (!a->cfg) w = bundled("yolo-fastest-1.1.weights", a->w_buf, sizeof a->w_buf);
        else {
            sibling(cfg, ".weights", a->w_buf, sizeof a->w_buf);
            w = a->w_buf;
        }
    }
    if (!lt_cli_backend(a->device, a->threads, be)) return false;
    lt_dn_net *net;
    if (lt_darknet_parse(&net, cfg, &err) != LT_OK) goto fail;
    if (a->random ? lt_darknet_init_random(net, 1, &err) : lt_darknet_load_weights(net, w, &err)) {
        lt_darknet_free(net);
        goto fail;
    }
    if (lt_yolo_open_net(m, net, *be, a->batch, 0, &err) != LT_OK) goto fail;
    *names = NULL, *n_names = 0;
    const char *np = a->names;
    if (!np) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", cfg);
        char *sl = strrchr(dir, '/');
        if (sl) sl[1] = 0;
        else dir[0] = 0;
        if (snprintf(a->names_buf, sizeof a->names_buf, "%scoco.names", dir) < (int)sizeof a->names_buf &&
            exists(a->names_buf) && lt_yolo_classes(*m) == 80)
            np = a->names_buf;
    }
    if (np && lt_darknet_read_names(np, names, n_names, &err) != LT_OK) goto fail;
    if (np && *n_names < lt_yolo_classes(*m))
        fprintf(stderr, "lathe: warning: %s has %d names for %d classes\n", np, *n_names, lt_yolo_classes(*m));
    return true;
fail:
    fprintf(stderr, "lathe: %s\n", err.msg);
    lt_yolo_close(*m);
    *m = NULL;
    lt_backend_free(*be);
    *be = NULL;
    return false;
}

static const char *class_name(char **names, int n, int id, char *buf, size_t bn) {
    if (names && id < n) return names[id];
    snprintf(buf, bn, "class%d", id);
    return buf;
}

int lt_cli_detect(int argc, char **argv) {
    model_args a = {.batch = 4};
    lt_detect_opts o;
    lt_detect_opts_default(&o);
    const char *out = NULL;
    bool json = false;
    const char *usage = "[-m CFG --weights W] [--names NAMES] [--thresh 0.25] [--nms 0.45] [--tile N --overlap F] "
                        "[--out annotated.png] [--json] IMAGE...";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &a.cfg, "darknet .cfg (default: bundled Yolo-Fastest 1.1)"},
        {"--weights", "-w", LT_OPT_STR, &a.weights, "darknet .weights (default: the cfg's name with .weights)"},
        {"--names", NULL, LT_OPT_STR, &a.names, "class names, one per line (default: coco.names beside the cfg)"},
        {"--thresh", NULL, LT_OPT_FLOAT, &o.thresh, "probability threshold (default 0.25)"},
        {"--nms", NULL, LT_OPT_FLOAT, &o.nms, "NMS overlap threshold, 0 = off (default 0.45)"},
        {"--tile", NULL, LT_OPT_INT, &o.tile, "also run N x N pixel tiles (small objects in large images)"},
        {"--overlap", NULL, LT_OPT_FLOAT, &o.overlap, "tile overlap fraction (default 0.2)"},
        {"--out", "-o", LT_OPT_STR, &out, "annotated PNG (a folder when several images are given)"},
        {"--json", NULL, LT_OPT_FLAG, &json, "one JSON line per image"},
        {"--batch", NULL, LT_OPT_INT, &a.batch, "images/tiles per forward pass (default 4)"},
        {"--threads", "-t", LT_OPT_INT, &a.threads, "CPU threads (default: all cores)"},
        {"--device", NULL, LT_OPT_STR, &a.device, "cpu, cuda or auto (default auto)"},
        {0},
    };
    const char *pos[256];
    int n_pos;
    if (!lt_cli_parse("detect", usage, opts, argc, argv, pos, 256, &n_pos)) return 2;
    if (n_pos == 0) {
        fprintf(stderr, "lathe detect: give at least one IMAGE\n");
        lt_cli_usage("detect", usage, opts);
        return 2;
    }
    if (a.batch < 1 || a.batch > 1024) {
        fprintf(stderr, "lathe detect: --batch must be in 1..1024\n");
        return 2;
    }
    if (out && n_pos > 1 && mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "lathe detect: cannot create folder %s: %s\n", out, strerror(errno));
        return 1;
    }
    lt_backend *be = NULL;
    lt_yolo *m = NULL;
    char **names;
    int n_names, rc = 0;
    if (!open_model(&a, &be, &m, &names, &n_names)) return 1;
    for (int i = 0; i < n_pos; i++) {
        lt_err err = {0};
        lt_image im;
        lt_detection *d = NULL;
        int n = 0;
        double t0 = now_s();
        if (lt_image_load(&im, pos[i], &err) != LT_OK || lt_yolo_detect(m, &im, &o, &d, &n, &err) != LT_OK) {
            fprintf(stderr, "lathe detect: %s\n", err.msg);
            lt_image_free(&im);
            rc = 1;
            continue;
        }
        double ms = (now_s() - t0) * 1e3;
        char buf[32];
        if (json) {
            printf("{\"image\": ");
            json_str(stdout, pos[i]);
            printf(", \"width\": %d, \"height\": %d, \"detections\": [", im.w, im.h);
            for (int k = 0; k < n; k++) {
                printf("%s{\"class\": ", k ? ", " : "");
                json_str(stdout, class_name(names, n_names, d[k].class_id, buf, sizeof buf));
                printf(", \"class_id\": %d, \"confidence\": %.6f, \"box\": [%.3f, %.3f, %.3f, %.3f]}", d[k].class_id,
                       d[k].confidence, d[k].left, d[k].top, d[k].width, d[k].height);
            }
            printf("]}\n");
        } else {
            printf("%s: %d detection%s (%dx%d, %.1f ms)\n", pos[i], n, n == 1 ? "" : "s", im.w, im.h, ms);
            for (int k = 0; k < n; k++)
                printf("  %-14s %3.0f%%  left %5.0f  top %5.0f  width %5.0f  height %5.0f\n",
                       class_name(names, n_names, d[k].class_id, buf, sizeof buf), d[k].confidence * 100, d[k].left,
                       d[k].top, d[k].width, d[k].height);
        }
        fflush(stdout);
        if (out) {
            char path[PATH_MAX];
            if (n_pos > 1) {
                const char *base = strrchr(pos[i], '/');
                base = base ? base + 1 : pos[i];
                char stem[PATH_MAX];
                snprintf(stem, sizeof stem, "%s/%s", out, base);
                sibling(stem, ".png", path, sizeof path);
            } else {
                snprintf(path, sizeof path, "%s", out);
            }
            lt_yolo_draw(&im, d, n, names, n_names, lt_yolo_classes(m));
            if (lt_image_write_png(&im, path, &err) != LT_OK) {
                fprintf(stderr, "lathe detect: %s\n", err.msg);
                rc = 1;
            } else if (!json) {
                printf("  wrote %s\n", path);
            }
        }
        lt_free(d);
        lt_image_free(&im);
    }
    lt_darknet_free_names(names, n_names);
    lt_yolo_close(m);
    lt_backend_free(be);
    return rc;
}

/* ---- bench detect ---------------------------------------------------------------------------- */

typedef struct bench_res {
    double net_ips, e2e_ips; /* network only (input resized), end to end (resize + net + decode + NMS) */
} bench_res;

static bool bench_batch(lt_yolo *m, const lt_image *im, int batch, double min_s, bench_res *r) {
    lt_err err = {0};
    const lt_dn_net *net = lt_yolo_net(m);
    size_t in_sz = (size_t)net->c * net->h * net->w;
    float *in = lt_malloc(sizeof(float) * in_sz * batch);
    lt_image *ims = lt_malloc(sizeof *ims * batch);
    lt_detection **d = lt_malloc(sizeof *d * batch);
    int *cnt = lt_malloc(sizeof *cnt * batch);
    lt_image sized = {0};
    bool ok = in && ims && d && cnt && lt_image_resize(&sized, im, net->w, net->h, &err) == LT_OK;
    if (ok) {
        for (int i = 0; i < batch; i++) {
            memcpy(in + i * in_sz, sized.data, sizeof(float) * in_sz);
            ims[i] = *im;
        }
        ok = lt_yolo_forward(m, in, batch, &err) == LT_OK; /* warm-up */
    }
    int iters = 0;
    double t0 = now_s(), t = 0;
    while (ok && (t < min_s || iters < 3)) {
        ok = lt_yolo_forward(m, in, batch, &err) == LT_OK;
        iters++;
        t = now_s() - t0;
    }
    if (ok) r->net_ips = iters * batch / t;
    iters = 0, t0 = now_s(), t = 0;
    while (ok && (t < min_s || iters < 3)) {
        ok = lt_yolo_detect_many(m, ims, batch, NULL, d, cnt, &err) == LT_OK;
        for (int i = 0; ok && i < batch; i++) lt_free(d[i]);
        iters++;
        t = now_s() - t0;
    }
    if (ok) r->e2e_ips = iters * batch / t;
    if (!ok) fprintf(stderr, "lathe bench detect: %s\n", err.msg[0] ? err.msg : "out of memory");
    lt_image_free(&sized);
    lt_free(in), lt_free(ims), lt_free(d), lt_free(cnt);
    return ok;
}

int lt_cli_bench_detect(int argc, char **argv) {
    model_args a = {.batch = 16};
    bool json = false;
    float min_s = 2.f;
    const char *usage = "[-m CFG --weights W | -m CFG --random-weights] [--batch B] [--seconds S] [--json] [IMAGE]";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &a.cfg, "darknet .cfg (default: bundled Yolo-Fastest 1.1)"},
        {"--weights", "-w", LT_OPT_STR, &a.weights, "darknet .weights (default: the cfg's name with .weights)"},
        {"--random-weights", NULL, LT_OPT_FLAG, &a.random, "random weights (time a cfg without its weights)"},
        {"--batch", NULL, LT_OPT_INT, &a.batch, "the larger batch (default 16)"},
        {"--seconds", NULL, LT_OPT_FLOAT, &min_s, "time per measurement (default 2)"},
        {"--threads", "-t", LT_OPT_INT, &a.threads, "CPU threads (default: all cores)"},
        {"--device", NULL, LT_OPT_STR, &a.device, "cpu, cuda or auto (default auto)"},
        {"--json", NULL, LT_OPT_FLAG, &json, "print one JSON object"},
        {0},
    };
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("bench detect", usage, opts, argc, argv, pos, 1, &n_pos)) return 2;
    if (a.batch < 1 || a.batch > 1024 || !(min_s > 0 && min_s < 3600)) {
        fprintf(stderr, "lathe bench detect: --batch must be in 1..1024 and --seconds positive\n");
        return 2;
    }
    char ib[PATH_MAX];
    const char *img = n_pos ? pos[0] : bundled("dog.jpg", ib, sizeof ib);
    lt_backend *be = NULL;
    lt_yolo *m = NULL;
    char **names;
    int n_names;
    if (!open_model(&a, &be, &m, &names, &n_names)) return 1;
    lt_err err = {0};
    lt_image im;
    int rc = 0;
    bench_res r1 = {0}, rb = {0};
    if (lt_image_load(&im, img, &err) != LT_OK) {
        fprintf(stderr, "lathe bench detect: %s\n", err.msg);
        rc = 1;
    } else {
        if (!bench_batch(m, &im, 1, min_s, &r1) || !bench_batch(m, &im, a.batch, min_s, &rb)) rc = 1;
        lt_image_free(&im);
    }
    const lt_dn_net *net = lt_yolo_net(m);
    if (rc == 0) {
        double gflop = lt_darknet_flops(net) / 1e9;
        if (json) {
            printf("{\"bench\": \"detect\", \"model\": ");
            json_str(stdout, a.cfg ? a.cfg : "yolo-fastest-1.1");
            printf(", \"device\": ");
            json_str(stdout, lt_backend_device(be));
            printf(", \"input\": [%d, %d], \"gflop_per_image\": %.4f, \"batch\": %d, "
                   "\"network_ips_b1\": %.1f, \"end_to_end_ips_b1\": %.1f, \"network_ips\": %.1f, "
                   "\"end_to_end_ips\": %.1f}\n",
                   net->w, net->h, gflop, a.batch, r1.net_ips, r1.e2e_ips, rb.net_ips, rb.e2e_ips);
        } else {
            printf("detector  %s (%dx%d, %.3f GFLOP/image) on %s\n", a.cfg ? a.cfg : "yolo-fastest-1.1", net->w,
                   net->h, gflop, lt_backend_device(be));
            printf("batch 1    network %8.1f images/s   end to end %8.1f images/s\n", r1.net_ips, r1.e2e_ips);
            printf("batch %-4d network %8.1f images/s   end to end %8.1f images/s\n", a.batch, rb.net_ips,
                   rb.e2e_ips);
        }
    }
    lt_darknet_free_names(names, n_names);
    lt_yolo_close(m);
    lt_backend_free(be);
    return rc;
}
