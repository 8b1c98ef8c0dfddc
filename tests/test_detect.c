/* test_detect.c - end-to-end detection.
 *
 * - The bundled Yolo-Fastest 1.1 on darknet's sample images reproduces darknet's own
 *   detections (tests/data/darknet_reference.txt, from AlexeyAB/darknet with the same cfg,
 *   weights and threshold): the same (box, class) pairs, confidences within 0.02, box edges
 *   within 2 px (observed: identical to the printed precision), on batch 1 and batched.
 * - lt_image_resize equals a transcription of darknet's resize_image on odd sizes.
 * - Whole networks with random weights (a yolov4-tiny-shaped cfg with route groups, mish,
 *   swish and scale_x_y; yolov3-tiny; yolov3 at 160x160) against a float64 naive forward
 *   written here, layer by layer.
 * - Tiling: a dog pasted small into a large canvas is found by the tiled run at its place.
 * - Corrupt, truncated, empty and missing images give clear errors (tests/test_image.c has
 *   the hostile files).
 * - A head whose activations overflow (inf, nan, and boxes that overflow in pixels) gives only
 *   its finite detections, whole, tiled and batched.
 */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"
#include "models/yolo.h"
#include "testutil.h"

static lt_backend *g_be;

/* ---- darknet reference ------------------------------------------------------------------------- */

typedef struct ref_img {
    char file[64];
    int w, h, n;
    lt_detection d[64];
} ref_img;

/* Reads the reference images whose lines start with tag ("image", or "lbimage" for the
 * letterboxed runs). */
static int read_ref(ref_img *imgs, int max, const char *tag) {
    size_t tl = strlen(tag);
    FILE *f = fopen(lt_test_path("tests/data/darknet_reference.txt"), "r");
    if (!f) return -1;
    char line[512];
    int n = -1;
    bool skip = true; /* until the first line of our tag */
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (!strncmp(line, tag, tl) && line[tl] == ' ') {
            if (++n >= max) break;
            ref_img *r = &imgs[n];
            if (sscanf(line + tl + 1, "%63s %d %d %d", r->file, &r->w, &r->h, &r->n) != 4) n--;
            r->n = 0;
            skip = false;
            continue;
        }
        if (isalpha((unsigned char)line[0])) { /* another section */
            if (n >= 0 && imgs[n].n >= 0) skip = true;
            continue;
        }
        if (skip) continue;
        if (n < 0) continue;
        lt_detection d;
        if (sscanf(line, "%d %f %f %f %f %f", &d.class_id, &d.confidence, &d.left, &d.top, &d.width, &d.height) == 6 &&
            imgs[n].n < 64)
            imgs[n].d[imgs[n].n++] = d;
    }
    fclose(f);
    return n + 1;
}

static bool same_det(const lt_detection *a, const lt_detection *b) {
    return a->class_id == b->class_id && fabsf(a->confidence - b->confidence) < 0.02f &&
           fabsf(a->left - b->left) <= 2 && fabsf(a->top - b->top) <= 2 &&
           fabsf(a->left + a->width - b->left - b->width) <= 2 && fabsf(a->top + a->height - b->top - b->height) <= 2;
}

/* Every reference detection matched by a distinct one of ours, and no extra ones. */
static int match(const lt_detection *got, int ng, const ref_img *r, const char *what) {
    bool used[256] = {0};
    int bad = 0;
    for (int i = 0; i < r->n; i++) {
        int k = -1;
        for (int j = 0; j < ng && k < 0; j++)
            if (!used[j] && same_det(&got[j], &r->d[i])) k = j;
        if (k < 0) {
            fprintf(stderr, "%s %s: darknet's class %d %.3f [%.1f %.1f %.1f %.1f] not found\n", what, r->file,
                    r->d[i].class_id, r->d[i].confidence, r->d[i].left, r->d[i].top, r->d[i].width, r->d[i].height);
            bad++;
        } else {
            used[k] = true;
        }
    }
    for (int j = 0; j < ng; j++)
        if (!used[j]) {
            fprintf(stderr, "%s %s: extra detection class %d %.3f\n", what, r->file, got[j].class_id,
                    got[j].confidence);
            bad++;
        }
    return bad;
}

static void test_reference(lt_yolo *m) {
    ref_img *ref = calloc(16, sizeof *ref);
    int n = read_ref(ref, 16, "image");
    CHECKF(n >= 7, "reference has %d images", n);
    lt_image ims[16];
    char path[256];
    int loaded = 0;
    for (int i = 0; i < n; i++) {
        lt_err err = {0};
        snprintf(path, sizeof path, "assets/yolo/%s", ref[i].file);
        CHECKF(lt_image_load(&ims[i], lt_test_path(path), &err) == LT_OK, "%s", err.msg);
        CHECK(ims[i].w == ref[i].w && ims[i].h == ref[i].h);
        loaded++;
    }
    if (loaded != n) return;
    /* one at a time */
    int total = 0;
    for (int i = 0; i < n; i++) {
        lt_err err = {0};
        lt_detection *d;
        int nd;
        CHECKF(lt_yolo_detect(m, &ims[i], NULL, &d, &nd, &err) == LT_OK, "%s", err.msg);
        CHECKF(match(d, nd, &ref[i], "batch 1") == 0, "%s differs from darknet", ref[i].file);
        total += nd;
        lt_free(d);
    }
    CHECK(total >= 40); /* the reference has 43 detections */
    /* all at once (batched forward) */
    lt_detection *ds[16];
    int cnt[16];
    lt_err err = {0};
    CHECKF(lt_yolo_detect_many(m, ims, n, NULL, ds, cnt, &err) == LT_OK, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        CHECKF(match(ds[i], cnt[i], &ref[i], "batched") == 0, "%s differs from darknet (batched)", ref[i].file);
        lt_free(ds[i]);
    }
    /* a lower threshold finds a superset; a higher one a subset */
    lt_detect_opts o;
    lt_detect_opts_default(&o);
    o.thresh = 0.5f;
    lt_detection *d;
    int nd;
    CHECK(lt_yolo_detect(m, &ims[0], &o, &d, &nd, &err) == LT_OK);
    int above = 0;
    for (int i = 0; i < ref[0].n; i++) above += ref[0].d[i].confidence > 0.5f;
    CHECKF(nd == above, "thresh 0.5: %d detections, darknet's list has %d above 0.5", nd, above);
    lt_free(d);
    /* invalid options */
    o.thresh = 1.5f;
    CHECK(lt_yolo_detect(m, &ims[0], &o, &d, &nd, &err) == LT_EINVAL && d == NULL);
    lt_detect_opts_default(&o);
    o.tile = 5;
    CHECK(lt_yolo_detect(m, &ims[0], &o, &d, &nd, &err) == LT_EINVAL && strstr(err.msg, "tile"));
    for (int i = 0; i < n; i++) lt_image_free(&ims[i]);
    free(ref);
}

/* The bundled cfg with letter_box=1 against darknet's -letter_box runs. */
static void test_letterbox_reference(void) {
    lt_err err = {0};
    ref_img *ref = calloc(16, sizeof *ref);
    int n = read_ref(ref, 16, "lbimage");
    CHECKF(n >= 3, "letterbox reference has %d images", n);
    char *text;
    size_t len;
    if (lt_file_read_all(lt_test_path("assets/yolo/yolo-fastest-1.1.cfg"), 1 << 20, &text, &len, &err) != LT_OK) {
        CHECKF(0, "%s", err.msg);
        free(ref);
        return;
    }
    char *lb = malloc(len + 32);
    char *p = strstr(text, "[net]");
    size_t head = p ? (size_t)(p - text) + 5 : 0;
    memcpy(lb, text, head);
    memcpy(lb + head, "\nletter_box=1\n", 14);
    memcpy(lb + head + 14, text + head, len - head);
    lt_dn_net *net;
    lt_yolo *m = NULL;
    CHECKF(lt_darknet_parse_text(&net, lb, len + 14, "letterbox.cfg", &err) == LT_OK, "%s", err.msg);
    if (net && net->letter_box == 1 &&
        lt_darknet_load_weights(net, lt_test_path("assets/yolo/yolo-fastest-1.1.weights"), &err) == LT_OK)
        CHECKF(lt_yolo_open_net(&m, net, g_be, 1, 0, &err) == LT_OK, "%s", err.msg);
    for (int i = 0; m && i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "assets/yolo/%s", ref[i].file);
        lt_image im;
        lt_detection *d;
        int nd;
        CHECKF(lt_image_load(&im, lt_test_path(path), &err) == LT_OK, "%s", err.msg);
        CHECKF(lt_yolo_detect(m, &im, NULL, &d, &nd, &err) == LT_OK, "%s", err.msg);
        CHECKF(match(d, nd, &ref[i], "letterbox") == 0, "%s differs from darknet -letter_box", ref[i].file);
        lt_free(d);
        lt_image_free(&im);
    }
    lt_yolo_close(m);
    lt_free(text);
    free(lb);
    free(ref);
}

/* ---- resize ------------------------------------------------------------------------------------------ */

static void test_resize(void) {
    lt_err err = {0};
    lt_test_rng r;
    lt_test_rng_seed(&r, 3);
    int sizes[][4] = {{37, 23, 16, 16}, {16, 16, 37, 23}, {1, 5, 7, 3}, {9, 9, 9, 9}, {640, 427, 320, 320}};
    for (int t = 0; t < 5; t++) {
        int iw = sizes[t][0], ih = sizes[t][1], w = sizes[t][2], h = sizes[t][3];
        lt_image in, out;
        CHECK(lt_image_alloc(&in, iw, ih, 3, 0, &err) == LT_OK);
        for (int i = 0; i < iw * ih * 3; i++) in.data[i] = lt_test_uniform(&r);
        CHECK(lt_image_resize(&out, &in, w, h, &err) == LT_OK);
        /* darknet's resize_image, transcribed: horizontal pass into part, then vertical */
        float *part = malloc(sizeof(float) * w * ih * 3), *ref = calloc((size_t)w * h * 3, sizeof(float));
        float ws = (float)(iw - 1) / (w - 1), hs = (float)(ih - 1) / (h - 1);
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < ih; y++)
                for (int x = 0; x < w; x++) {
                    const float *row = in.data + (k * ih + y) * iw;
                    float v;
                    if (x == w - 1 || iw == 1) v = row[iw - 1];
                    else {
                        float sx = x * ws;
                        int ix = (int)sx;
                        float dx = sx - ix;
                        v = (1 - dx) * row[ix] + dx * row[ix + 1];
                    }
                    part[(k * ih + y) * w + x] = v;
                }
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < h; y++) {
                float sy = y * hs;
                int iy = (int)sy;
                float dy = sy - iy;
                for (int x = 0; x < w; x++) {
                    ref[(k * h + y) * w + x] = (1 - dy) * part[(k * ih + iy) * w + x];
                    if (y != h - 1 && ih != 1) ref[(k * h + y) * w + x] += dy * part[(k * ih + iy + 1) * w + x];
                }
            }
        CHECKF(!memcmp(ref, out.data, sizeof(float) * w * h * 3), "resize %dx%d -> %dx%d differs", iw, ih, w, h);
        free(part), free(ref);
        /* letterbox: grey bars, content in the middle */
        lt_image lb;
        CHECK(lt_image_letterbox(&lb, &in, 32, 32, &err) == LT_OK && lb.w == 32 && lb.h == 32);
        if (iw > ih) CHECK(lb.data[0] == 0.5f);
        lt_image_free(&lb);
        lt_image_free(&in), lt_image_free(&out);
    }
}

/* ---- synthetic networks against a naive forward ------------------------------------------------------- */

static double act_ref(double x, int a) {
    switch (a) {
    case LT_ACT_LEAKY: return x > 0 ? x : 0.1 * x;
    case LT_ACT_RELU: return x > 0 ? x : 0;
    case LT_ACT_MISH: return x * tanh(x > 20 ? x : (x < -20 ? exp(x) : log1p(exp(x))));
    case LT_ACT_SWISH: return x / (1 + exp(-x));
    case LT_ACT_LOGISTIC: return 1 / (1 + exp(-x));
    default: return x;
    }
}

/* Runs net on one input in float64; returns each layer's output (caller frees). */
static double **naive_forward(const lt_dn_net *net, const float *input) {
    double **o = calloc(net->n, sizeof *o);
    size_t insz = (size_t)net->c * net->h * net->w;
    double *in0 = malloc(sizeof(double) * insz);
    for (size_t i = 0; i < insz; i++) in0[i] = input[i];
    for (int i = 0; i < net->n; i++) {
        const lt_dn_layer *l = &net->layers[i];
        const double *x = i ? o[i - 1] : in0;
        size_t osz = (size_t)l->out_c * l->out_h * l->out_w;
        double *y = o[i] = calloc(osz, sizeof(double));
        int H = l->h, W = l->w, OH = l->out_h, OW = l->out_w;
        switch (l->type) {
        case LT_DN_CONV: {
            int Cg = l->c / l->groups, OCg = l->filters / l->groups, K = l->size;
            for (int oc = 0; oc < l->filters; oc++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double s = l->biases[oc];
                        int g = oc / OCg;
                        for (int ci = 0; ci < Cg; ci++)
                            for (int kh = 0; kh < K; kh++)
                                for (int kw = 0; kw < K; kw++) {
                                    int iy = oy * l->stride + kh - l->pad, ix = ox * l->stride + kw - l->pad;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                    s += (double)l->weights[((oc * Cg + ci) * K + kh) * K + kw] *
                                         x[((g * Cg + ci) * H + iy) * W + ix];
                                }
                        y[(oc * OH + oy) * OW + ox] = act_ref(s, l->act);
                    }
            break;
        }
        case LT_DN_MAXPOOL:
            for (int c = 0; c < l->c; c++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        double mx = -DBL_MAX;
                        for (int a = 0; a < l->size; a++)
                            for (int b = 0; b < l->size; b++) {
                                int iy = oy * l->stride + a - l->pad / 2, ix = ox * l->stride + b - l->pad / 2;
                                if (iy >= 0 && iy < H && ix >= 0 && ix < W) mx = fmax(mx, x[(c * H + iy) * W + ix]);
                            }
                        y[(c * OH + oy) * OW + ox] = mx;
                    }
            break;
        case LT_DN_ROUTE: {
            size_t off = 0;
            for (int k = 0; k < l->n_inputs; k++) {
                const lt_dn_layer *s = &net->layers[l->inputs[k]];
                size_t part = (size_t)s->out_c / l->groups_route * s->out_h * s->out_w;
                memcpy(y + off, o[l->inputs[k]] + part * l->group_id, part * sizeof(double));
                off += part;
            }
            break;
        }
        case LT_DN_SHORTCUT:
            for (size_t q = 0; q < osz; q++) y[q] = act_ref(x[q] + o[l->from][q], l->act);
            break;
        case LT_DN_UPSAMPLE:
            for (int c = 0; c < l->c; c++)
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++)
                        y[(c * OH + oy) * OW + ox] = l->scale * x[(c * H + oy / l->stride) * W + ox / l->stride];
            break;
        case LT_DN_AVGPOOL:
            for (int c = 0; c < l->c; c++) {
                for (int q = 0; q < H * W; q++) y[c] += x[c * H * W + q];
                y[c] /= H * W;
            }
            break;
        default: memcpy(y, x, osz * sizeof(double)); break;
        }
    }
    free(in0);
    return o;
}

static void check_synthetic(const char *name, const char *text, size_t len) {
    lt_err err = {0};
    lt_dn_net *net;
    CHECKF(lt_darknet_parse_text(&net, text, len, name, &err) == LT_OK, "%s: %s", name, err.msg);
    if (!net) return;
    CHECK(lt_darknet_init_random(net, 11, &err) == LT_OK);
    int n = net->n;
    lt_dn_net *copy = NULL; /* the model takes net; keep a parsed twin with the same weights for the reference */
    lt_darknet_parse_text(&copy, text, len, name, &err);
    lt_darknet_init_random(copy, 11, &err);
    lt_yolo *m;
    CHECKF(lt_yolo_open_net(&m, net, g_be, 2, LT_YOLO_KEEP_OUTPUTS, &err) == LT_OK, "%s: %s", name, err.msg);
    if (!m) {
        lt_darknet_free(copy);
        return;
    }
    size_t insz = (size_t)copy->c * copy->h * copy->w;
    float *in = malloc(sizeof(float) * insz * 2);
    lt_test_rng r;
    lt_test_rng_seed(&r, 5);
    for (size_t i = 0; i < insz * 2; i++) in[i] = lt_test_uniform(&r);
    CHECKF(lt_yolo_forward(m, in, 2, &err) == LT_OK, "%s: %s", name, err.msg);
    double **ref = naive_forward(copy, in + insz); /* the second image of the batch */

    double worst = 0;
    int worst_layer = -1;
    for (int i = 0; i < n; i++) {
        if (copy->layers[i].type == LT_DN_YOLO) continue;
        float *o;
        size_t cnt;
        CHECK(lt_yolo_layer_output(m, i, &o, &cnt, &err) == LT_OK);
        size_t one = cnt / 2;
        double e = lt_test_rel_err(o + one, ref[i], (int64_t)one);
        if (e > worst) worst = e, worst_layer = i;
        lt_free(o);
    }
    CHECKF(worst < 1e-4, "%s: layer %d differs from the naive forward by %g", name, worst_layer, worst);
    /* the same network with shared activation buffers decodes the same heads */
    lt_dn_net *third = NULL;
    lt_yolo *ms = NULL;
    if (lt_darknet_parse_text(&third, text, len, name, &err) == LT_OK && lt_darknet_init_random(third, 11, &err) == LT_OK &&
        lt_yolo_open_net(&ms, third, g_be, 2, 0, &err) == LT_OK && lt_yolo_forward(ms, in, 2, &err) == LT_OK) {
        int same = 0, heads = 0;
        for (int i = 0; i < n; i++) {
            if (copy->layers[i].type != LT_DN_YOLO) continue;
            float *a, *b;
            size_t ca, cb;
            heads++;
            if (lt_yolo_layer_output(m, i, &a, &ca, &err) == LT_OK && lt_yolo_layer_output(ms, i, &b, &cb, &err) == LT_OK)
                same += ca == cb && !memcmp(a, b, ca * sizeof(float)), lt_free(a), lt_free(b);
        }
        CHECKF(heads > 0 && same == heads, "%s: shared buffers change %d of %d heads", name, heads - same, heads);
        float *o0;
        size_t c0;
        CHECK(lt_yolo_layer_output(ms, 0, &o0, &c0, &err) == LT_EINVAL && o0 == NULL); /* buffers are shared */
    } else {
        CHECKF(0, "%s: %s", name, err.msg);
    }
    lt_yolo_close(ms);
    /* detection runs and gives finite boxes */
    lt_image im;
    CHECK(lt_image_alloc(&im, 300, 200, 3, 0.3f, &err) == LT_OK);
    lt_detection *d;
    int nd;
    lt_detect_opts o;
    lt_detect_opts_default(&o);
    o.thresh = 0.05f;
    CHECKF(lt_yolo_detect(m, &im, &o, &d, &nd, &err) == LT_OK, "%s: %s", name, err.msg);
    int finite = 1;
    for (int i = 0; i < nd; i++) finite &= isfinite(d[i].left) && isfinite(d[i].width) && d[i].confidence > 0.05f;
    CHECK(finite);
    lt_free(d);
    lt_image_free(&im);
    for (int i = 0; i < n; i++) free(ref[i]);
    free(ref);
    free(in);
    lt_darknet_free(copy);
    lt_yolo_close(m);
}

static const char *k_v4tiny =
    "[net]\nwidth=64\nheight=64\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=mish\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=swish\n"
    "[route]\nlayers = -1,-2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=1\nstride=1\npad=1\nactivation=relu\n"
    "[route]\nlayers = -6,-1\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nfilters=64\nsize=3\nstride=1\npad=1\ngroups=64\nactivation=leaky\n"
    "[shortcut]\nfrom=-2\nactivation=leaky\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=27\nactivation=linear\n"
    "[yolo]\nmask = 3,4,5\nanchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319\nclasses=4\nnum=6\n"
    "scale_x_y = 1.05\nnms_kind=greedynms\nbeta_nms=0.6\n"
    "[route]\nlayers = -4\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=1\nstride=1\npad=1\nactivation=logistic\n"
    "[upsample]\nstride=2\n"
    "[route]\nlayers = -1, 8\n"
    "[dropout]\nprobability=.1\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=27\nactivation=linear\n"
    "[yolo]\nmask = 0,1,2\nanchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319\nclasses=4\nnum=6\n"
    "scale_x_y = 1.05\n";

static void test_synthetic(void) {
    check_synthetic("v4tiny-like", k_v4tiny, strlen(k_v4tiny));
    lt_err err = {0};
    char *text;
    size_t len;
    if (lt_file_read_all(lt_test_path("assets/yolo/yolov3-tiny.cfg"), 1 << 20, &text, &len, &err) == LT_OK) {
        char *p = strstr(text, "width=416"), *q = strstr(text, "height=416");
        if (p && q) memcpy(p, "width=128", 9), memcpy(q, "height=128", 10);
        check_synthetic("yolov3-tiny@128", text, len);
        lt_free(text);
    }
    if (lt_file_read_all(lt_test_path("assets/yolo/yolov3.cfg"), 1 << 20, &text, &len, &err) == LT_OK) {
        char *p = strstr(text, "width=608"), *q = strstr(text, "height=608");
        if (p && q) memcpy(p, "width=096", 9), memcpy(q, "height=096", 10);
        check_synthetic("yolov3@96", text, len);
        lt_free(text);
    }
}

/* ---- activations that overflow ----------------------------------------------------------------- */

/* A one-cell head with four anchors whose weights make its activations overflow: w = exp(inf),
 * x = logistic(nan), w = exp(85) (finite in the network's units, inf in pixels), and one
 * ordinary box. Only the ordinary box comes out: the others are dropped before NMS and never
 * reach the caller (lathe detect --json used to print inf, and drawing cast inf to int). */
static void test_nonfinite(void) {
    static const char *cfg = "[net]\nwidth=8\nheight=8\nchannels=3\n"
                             "[convolutional]\nfilters=24\nsize=8\nstride=8\npad=0\nactivation=linear\n"
                             "[yolo]\nmask=0,1,2,3\nanchors=2,2, 4,4, 6,6, 3,3\nclasses=1\nnum=4\n";
    lt_err err = {0};
    lt_dn_net *net;
    CHECKF(lt_darknet_parse_text(&net, cfg, strlen(cfg), "overflow.cfg", &err) == LT_OK, "%s", err.msg);
    if (!net) return;
    CHECK(lt_darknet_init_random(net, 1, &err) == LT_OK);
    lt_dn_layer *l = &net->layers[0];
    memset(l->weights, 0, sizeof(float) * 24 * 3 * 8 * 8);
    const float b[4][6] = {{0, 0, INFINITY, 0, 10, 10}, {NAN, 0, 0, 0, 10, 10}, {0, 0, 85, 0, 10, 10},
                           {0, 0, 0, 0, 10, 10}};
    memcpy(l->biases, b, sizeof b);
    lt_yolo *m;
    CHECKF(lt_yolo_open_net(&m, net, g_be, 2, 0, &err) == LT_OK, "%s", err.msg);
    if (!m) return;
    lt_image im;
    CHECK(lt_image_alloc(&im, 100, 80, 3, 0.5f, &err) == LT_OK);
    lt_detection *d = NULL;
    int nd = -1;
    CHECKF(lt_yolo_detect(m, &im, NULL, &d, &nd, &err) == LT_OK, "%s", err.msg);
    CHECKF(nd == 1 && d && d[0].class_id == 0 && d[0].confidence > 0.99f && fabsf(d[0].width - 37.5f) < 1e-3f &&
               fabsf(d[0].height - 30.f) < 1e-3f && fabsf(d[0].left - 31.25f) < 1e-3f,
           "%d detections", nd);
    lt_free(d);
    /* the same with NMS off, tiled (boxes merged through the backend's NMS op), and batched */
    lt_detect_opts o;
    lt_detect_opts_default(&o);
    o.nms = 0;
    CHECK(lt_yolo_detect(m, &im, &o, &d, &nd, &err) == LT_OK && nd == 1);
    lt_free(d);
    lt_detect_opts_default(&o);
    o.tile = 40;
    CHECKF(lt_yolo_detect(m, &im, &o, &d, &nd, &err) == LT_OK && nd >= 1, "%s", err.msg);
    bool finite = true;
    for (int i = 0; i < nd; i++) finite &= lt_detection_finite(&d[i]);
    CHECK(finite);
    lt_free(d);
    lt_image two[2] = {im, im};
    lt_detection *ds[2];
    int cnt[2];
    CHECK(lt_yolo_detect_many(m, two, 2, NULL, ds, cnt, &err) == LT_OK && cnt[0] == 1 && cnt[1] == 1);
    lt_free(ds[0]), lt_free(ds[1]);
    lt_image_free(&im);
    lt_yolo_close(m);
}

/* ---- tiling ---------------------------------------------------------------------------------------- */

static void test_tiling(lt_yolo *m) {
    lt_err err = {0};
    lt_image dog, canvas;
    if (lt_image_load(&dog, lt_test_path("assets/yolo/dog.jpg"), &err) != LT_OK) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    /* the dog photo at its size in the lower right of a 2400 x 1800 grey canvas */
    int ox = 1500, oy = 1100;
    CHECK(lt_image_alloc(&canvas, 2400, 1800, 3, 0.5f, &err) == LT_OK);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < dog.h; y++)
            memcpy(canvas.data + ((size_t)k * 1800 + oy + y) * 2400 + ox, dog.data + ((size_t)k * dog.h + y) * dog.w,
                   sizeof(float) * dog.w);
    lt_detect_opts o;
    lt_detect_opts_default(&o);
    lt_detection *full, *tiled, *ref;
    int nf, nt, nr;
    CHECK(lt_yolo_detect(m, &dog, &o, &ref, &nr, &err) == LT_OK);
    CHECK(lt_yolo_detect(m, &canvas, &o, &full, &nf, &err) == LT_OK);
    o.tile = 800;
    o.overlap = 0.25f;
    CHECKF(lt_yolo_detect(m, &canvas, &o, &tiled, &nt, &err) == LT_OK, "%s", err.msg);
    /* the photo's confident detections (car 88%, dog 65%) are found by the tiled run at their place */
    int found = 0, want = 0;
    for (int i = 0; i < nr; i++) {
        if (ref[i].confidence < 0.6f) continue;
        want++;
        for (int j = 0; j < nt; j++) {
            lt_detection t = tiled[j];
            if (t.class_id != ref[i].class_id) continue;
            float l = fmaxf(t.left, ref[i].left + ox), tp = fmaxf(t.top, ref[i].top + oy);
            float r = fminf(t.left + t.width, ref[i].left + ox + ref[i].width);
            float b = fminf(t.top + t.height, ref[i].top + oy + ref[i].height);
            float I = (r > l && b > tp) ? (r - l) * (b - tp) : 0;
            float U = t.width * t.height + ref[i].width * ref[i].height - I;
            if (I / U > 0.5f) {
                found++;
                break;
            }
        }
    }
    CHECKF(want >= 2 && found == want, "tiled run found %d of %d confident objects", found, want);
    CHECKF(nt > nf, "tiling found %d detections, the whole image %d", nt, nf);
    for (int j = 1; j < nt; j++) CHECK(tiled[j - 1].confidence >= tiled[j].confidence);
    /* merged: no two same-class boxes overlap more than the NMS threshold */
    int dup = 0;
    for (int i = 0; i < nt; i++)
        for (int j = i + 1; j < nt; j++) {
            lt_detection a = tiled[i], b = tiled[j];
            if (a.class_id != b.class_id) continue;
            float l = fmaxf(a.left, b.left), t = fmaxf(a.top, b.top);
            float r = fminf(a.left + a.width, b.left + b.width), bt = fminf(a.top + a.height, b.top + b.height);
            float I = (r > l && bt > t) ? (r - l) * (bt - t) : 0;
            dup += I / (a.width * a.height + b.width * b.height - I) > o.nms;
            dup += I / fminf(a.width * a.height, b.width * b.height) > 0.85f;
        }
    CHECK(dup == 0);
    lt_free(full), lt_free(tiled), lt_free(ref);
    /* a tile larger than the image is the plain run */
    o.tile = 4000;
    CHECK(lt_yolo_detect(m, &dog, &o, &tiled, &nt, &err) == LT_OK && nt == nr);
    lt_free(tiled);
    lt_image_free(&dog), lt_image_free(&canvas);
}

/* ---- bad images ---------------------------------------------------------------------------------------- */

static void test_bad_images(lt_yolo *m) {
    lt_err err = {0};
    lt_image im;
    const char *dir = lt_test_tmpdir("detect");
    char path[512];
    snprintf(path, sizeof path, "%s/nothere.jpg", dir);
    CHECK(lt_image_load(&im, path, &err) != LT_OK && strstr(err.msg, "nothere.jpg") && im.data == NULL);
    CHECK(lt_image_load_mem(&im, "", 0, "empty.png", &err) == LT_EFORMAT && strstr(err.msg, "empty.png"));
    char junk[300];
    for (int i = 0; i < 300; i++) junk[i] = (char)(i * 131 + 7);
    CHECK(lt_image_load_mem(&im, junk, sizeof junk, "junk.jpg", &err) == LT_EFORMAT && strstr(err.msg, "junk.jpg"));
    /* every prefix of a real JPEG header, and the file cut in half, fail cleanly or decode */
    char *jpg;
    size_t len;
    if (lt_file_read_all(lt_test_path("assets/yolo/eagle.jpg"), 1 << 22, &jpg, &len, &err) == LT_OK) {
        int clean = 0;
        for (size_t l = 0; l < 700; l += 7) {
            lt_status s = lt_image_load_mem(&im, jpg, l, "cut.jpg", &err);
            clean += (s != LT_OK && strstr(err.msg, "cut.jpg") != NULL) || (s == LT_OK && im.w == 773);
            lt_image_free(&im);
        }
        CHECK(clean == 100);
        memset(jpg + 2, 0x5a, 400); /* clobber the tables */
        lt_status s = lt_image_load_mem(&im, jpg, len, "mangled.jpg", &err);
        CHECK(s != LT_OK && strstr(err.msg, "mangled.jpg"));
        lt_image_free(&im);
        lt_free(jpg);
    }
    /* detect_file reports the path */
    lt_detection *d;
    int n;
    CHECK(lt_yolo_detect_file(m, path, NULL, NULL, 0, &d, &n, NULL, &err) != LT_OK && strstr(err.msg, "nothere"));
    /* and the happy path with an annotated image, written as PNG and read back */
    lt_image ann;
    char **names;
    int nn;
    CHECK(lt_darknet_read_names(lt_test_path("assets/yolo/coco.names"), &names, &nn, &err) == LT_OK);
    CHECKF(lt_yolo_detect_file(m, lt_test_path("assets/yolo/dog.jpg"), NULL, names, nn, &d, &n, &ann, &err) == LT_OK,
           "%s", err.msg);
    CHECK(n == 8 && ann.w == 768);
    snprintf(path, sizeof path, "%s/dog.png", dir);
    CHECKF(lt_image_write_png(&ann, path, &err) == LT_OK, "%s", err.msg);
    lt_image back;
    CHECK(lt_image_load(&back, path, &err) == LT_OK && back.w == 768 && back.h == 576);
    double diff = 0;
    for (size_t i = 0; back.data && i < (size_t)768 * 576 * 3; i++) diff = fmax(diff, fabs(back.data[i] - ann.data[i]));
    CHECKF(diff < 1.0 / 255, "PNG round trip differs by %g", diff);
    /* terminal preview cells: aspect kept, colours averaged */
    lt_image_cells cells;
    CHECK(lt_image_to_cells(&ann, 80, 24, &cells, &err) == LT_OK);
    CHECKF(cells.rows <= 24 && cells.cols <= 80 && abs(cells.cols - (int)(cells.rows * 2 * 768.0 / 576)) <= 2,
           "%d x %d cells", cells.cols, cells.rows);
    lt_image_cells_free(&cells);
    lt_image grey;
    CHECK(lt_image_alloc(&grey, 10, 10, 3, 0.5f, &err) == LT_OK);
    CHECK(lt_image_to_cells(&grey, 5, 100, &cells, &err) == LT_OK && cells.cols == 5 && cells.rows == 3 &&
          cells.top[0] == 128 && cells.bottom[3 * 5 * 3 - 1] == 128);
    lt_image_cells_free(&cells);
    CHECK(lt_image_to_cells(&grey, 0, 10, &cells, &err) == LT_EINVAL);
    /* enlarged by a whole factor: 10x10 into 53x22 cells is 40x20 (x4), pixel 2 is columns 8-11 */
    grey.data[2] = 1.0f;
    CHECK(lt_image_to_cells(&grey, 53, 22, &cells, &err) == LT_OK && cells.cols == 40 && cells.rows == 20 &&
          cells.top[3 * 7] == 128 && cells.top[3 * 8] == 255 && cells.top[3 * 11] == 255 && cells.top[3 * 12] == 128 &&
          cells.bottom[3 * 8] == 255 && cells.top[3 * (40 * 2 + 8)] == 128);
    lt_image_cells_free(&cells);
    lt_image_free(&grey);
    lt_image_free(&back), lt_image_free(&ann);
    lt_free(d);
    lt_darknet_free_names(names, nn);
}

int main(void) {
    lt_err err = {0};
    lt_backend_opts bo = {0};
    if (lt_backend_create(&g_be, "cpu", &bo, &err) != LT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    lt_yolo *m;
    if (lt_yolo_open(&m, lt_test_path("assets/yolo/yolo-fastest-1.1.cfg"),
                     lt_test_path("assets/yolo/yolo-fastest-1.1.weights"), g_be, 8, &err) != LT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_reference(m);
    test_letterbox_reference();
    test_resize();
    test_tiling(m);
    test_bad_images(m);
    lt_yolo_close(m);
    test_nonfinite();
    test_synthetic();
    lt_backend_free(g_be);
    return lt_test_done();
}
