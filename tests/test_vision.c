/* test_vision.c - the detector interface and the shared detection pipeline without a real
 * model: a stand-in detector (fixed boxes) behind lt_detector_open_fn drives
 * lt_detect_model_open (default weights, names and random weights), lt_detect_file, the
 * digest (pinned: journals recorded by older builds must replay), the report and preview
 * lines, the option table the `detect` command and `lathe detect` share, and the `detect`
 * command through a session (output, preview through the sink, digest, reuse and unload of
 * the session object, errors); plus the assets folder lookup. Non-finite boxes (a detector
 * whose activations overflowed) never come out of the interface, and the lines, the digest and
 * drawing stay defined for them and for huge finite ones; the pixel budget option reaches
 * loading.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/assets.h"
#include "core/base/digest.h"
#include "core/cmd/cmds.h"
#include "core/cmd/detect.h"
#include "core/vision/detect.h"
#include "testutil.h"

/* ---- a stand-in detector --------------------------------------------------------------- */

typedef struct fake {
    lt_detector base;
    char cfg[512], weights[512]; /* weights "" = random */
    lt_detect_opts last;
} fake;

static int g_opens, g_closes, g_classes = 20;
static fake *g_fake;

static const lt_detection k_dets[2] = {{16, 0.98f, 10, 20, 30, 40}, {3, 0.5f, 1.25f, 2, 3, 4}};

/* What a detector whose activations overflowed would return, around one good box. */
static bool g_nonfinite;
static const lt_detection k_bad[5] = {{1, 0.9f, INFINITY, 2, 3, 4},
                                      {2, NAN, 1, 2, 3, 4},
                                      {3, 0.8f, 3e38f, 2, 3e38f, 4}, /* finite, but its right edge is not */
                                      {4, 0.7f, 5, 6, 7, 8},
                                      {5, 0.6f, 1, -INFINITY, 3, 4}};

static lt_status fake_detect_many(lt_detector *d, const lt_image *ims, int n, const lt_detect_opts *o,
                                  lt_detection **dets, int *counts, lt_err *err) {
    ((fake *)d)->last = *o;
    if (g_nonfinite) {
        for (int i = 0; i < n; i++) {
            dets[i] = lt_malloc(sizeof k_bad);
            memcpy(dets[i], k_bad, sizeof k_bad);
            counts[i] = 5;
        }
        return LT_OK;
    }
    for (int i = 0; i < n; i++) {
        dets[i] = lt_malloc(sizeof k_dets);
        memcpy(dets[i], k_dets, sizeof k_dets);
        counts[i] = 2;
    }
    return LT_OK;
}

static lt_status fake_forward(lt_detector *d, const float *in, int n, lt_err *err) { return LT_OK; }

static void fake_close(lt_detector *d) {
    g_closes++;
    if ((fake *)d == g_fake) g_fake = NULL;
    lt_free(d);
}

static const lt_detector_ops k_fake_ops = {"fake", fake_detect_many, fake_forward, fake_close};

static lt_status fake_open(lt_detector **out, const char *cfg, const char *weights, lt_backend *be, int max_batch,
                           lt_err *err) {
    *out = NULL;
    if (strstr(cfg, "missing")) return lt_err_set(err, LT_EIO, "%s: cannot open", cfg);
    fake *f = lt_calloc(1, sizeof *f);
    f->base = (lt_detector){.ops = &k_fake_ops, .be = be, .classes = g_classes, .max_batch = max_batch,
                            .in_w = 32, .in_h = 32, .in_c = 3, .mem_bytes = 1234, .flops = 1e6};
    snprintf(f->cfg, sizeof f->cfg, "%s", cfg);
    snprintf(f->weights, sizeof f->weights, "%s", weights ? weights : "");
    g_opens++;
    g_fake = f;
    *out = &f->base;
    return LT_OK;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

/* ---- results: digest and lines ----------------------------------------------------------- */

static void test_results(void) {
    CHECK(lt_detect_digest(NULL, 0) == LT_FNV_INIT);
    /* the digest journals hold for these boxes (as recorded by builds before this pipeline) */
    uint64_t h = lt_detect_digest(k_dets, 2);
    CHECKF(h == 0xa5893d3413ac076full, "digest %016llx", (unsigned long long)h);
    int32_t v[6] = {16, 9800, 100, 200, 300, 400};
    CHECK(lt_detect_digest(k_dets, 1) == lt_fnv1a64(LT_FNV_INIT, v, sizeof v));

    char buf[256];
    lt_detect_format_line(buf, sizeof buf, &k_dets[0], "dog");
    CHECKF(!strcmp(buf, "  dog             98%  left    10  top    20  width    30  height    40"), "'%s'", buf);
    char *names[] = {"a", "b", "c", "bicycle"};
    lt_detect_format_brief(buf, sizeof buf, &k_dets[1], names, 4);
    CHECKF(!strcmp(buf, "bicycle 0.50 [1 2 3 4]"), "'%s'", buf);
    lt_detect_format_brief(buf, sizeof buf, &k_dets[0], names, 4);
    CHECKF(!strcmp(buf, "class 16 0.98 [10 20 30 40]"), "'%s'", buf);
    lt_detect_format_brief(buf, sizeof buf, &k_dets[0], NULL, 0);
    CHECKF(!strcmp(buf, "class 16 0.98 [10 20 30 40]"), "'%s'", buf);
    lt_detect_result r = {.image = {.w = 640, .h = 480}, .n = 1, .seconds = 0.01234};
    lt_detect_format_summary(buf, sizeof buf, "x.jpg", &r);
    CHECKF(!strcmp(buf, "x.jpg: 1 detection (640x480, 12.3 ms)"), "'%s'", buf);
    r.n = 0;
    lt_detect_format_summary(buf, sizeof buf, "x.jpg", &r);
    CHECKF(!strcmp(buf, "x.jpg: 0 detections (640x480, 12.3 ms)"), "'%s'", buf);
}

/* ---- non-finite and huge boxes in the report lines, the digest and drawing ------------------ */

static void test_nonfinite_results(void) {
    char buf[256];
    for (int i = 0; i < 5; i++) {
        lt_detect_format_line(buf, sizeof buf, &k_bad[i], "x");
        CHECKF(!strstr(buf, "inf") && !strstr(buf, "nan") && (i == 3) == !strstr(buf, "non-finite"), "'%s'", buf);
        lt_detect_format_brief(buf, sizeof buf, &k_bad[i], NULL, 0);
        CHECKF(!strstr(buf, "inf") && !strstr(buf, "nan") && (i == 3) == !strstr(buf, "non-finite"), "'%s'", buf);
        CHECK(lt_detection_finite(&k_bad[i]) == (i == 3));
    }
    lt_detection keep[5];
    memcpy(keep, k_bad, sizeof keep);
    CHECK(lt_detections_keep_finite(keep, 5) == 1 && keep[0].class_id == 4);
    /* the digest: non-finite values count as INT32_MIN, huge ones saturate (no undefined casts) */
    lt_detection huge = {7, 0.5f, -1e30f, 1e30f, INFINITY, NAN};
    int32_t v[6] = {7, 5000, INT32_MIN + 1, INT32_MAX, INT32_MIN, INT32_MIN};
    CHECK(lt_detect_digest(&huge, 1) == lt_fnv1a64(LT_FNV_INIT, v, sizeof v));
    /* drawing: non-finite boxes are skipped; huge finite ones are clamped before becoming ints */
    lt_err err = {0};
    lt_image im, ref;
    CHECK(lt_image_alloc(&im, 40, 30, 3, 0.5f, &err) == LT_OK && lt_image_alloc(&ref, 40, 30, 3, 0.5f, &err) == LT_OK);
    lt_detection bad[3] = {k_bad[0], k_bad[1], k_bad[4]};
    lt_detect_draw(&im, bad, 3, NULL, 0, 10);
    CHECK(!memcmp(im.data, ref.data, sizeof(float) * 40 * 30 * 3));
    lt_detection wide = {2, 2.5f, -1e30f, 10, 2e30f, 1e20f}; /* conf above 1, box past every edge */
    lt_detect_draw(&im, &wide, 1, NULL, 0, 10);
    float rgb[3];
    lt_image_class_color(2, 10, rgb);
    CHECK(im.data[10 * 40 + 35] == rgb[0] && im.data[10 * 40 + 0] == rgb[0]); /* its top edge, across */
    /* clamping changes nothing that is drawn: far below the image as just below it */
    lt_detection far[2] = {{2, 0.5f, 5, 1e9f, 5, 5}, {3, 0.5f, -4e9f, -1e12f, 3e9f, 9e18f}},
                 near[2] = {{2, 0.5f, 5, 1000, 5, 5}, {3, 0.5f, -4000, -1000, 3000, 5000}};
    for (int i = 0; i < 2; i++) {
        lt_image a, b;
        CHECK(lt_image_alloc(&a, 40, 30, 3, 0.5f, &err) == LT_OK && lt_image_alloc(&b, 40, 30, 3, 0.5f, &err) == LT_OK);
        lt_detect_draw(&a, &far[i], 1, NULL, 0, 10);
        lt_detect_draw(&b, &near[i], 1, NULL, 0, 10);
        CHECKF(!memcmp(a.data, b.data, sizeof(float) * 40 * 30 * 3), "box %d draws differently when clamped", i);
        lt_image_free(&a), lt_image_free(&b);
    }
    lt_detection neg = {-3, 0.5f, 5, 5, 5, 5}; /* a negative class id draws with a valid colour */
    lt_detect_draw(&im, &neg, 1, NULL, 0, 10);
    lt_image_free(&im), lt_image_free(&ref);
}

/* ---- the shared option table ------------------------------------------------------------- */

static void test_options(void) {
    lt_detect_args da;
    lt_detect_args_default(&da);
    CHECK(!da.cfg && !da.weights && !da.names && da.o.thresh == 0.25f && da.o.nms == 0.45f && da.o.tile == 0 &&
          da.o.overlap == 0.2f);
    const char *out = NULL;
    bool json = false;
    lt_opt opts[LT_DETECT_N_OPTIONS + 3];
    int k = lt_detect_options(opts, &da);
    CHECK(k == LT_DETECT_N_OPTIONS);
    opts[k++] = (lt_opt){"--out", "-o", LT_OPT_STR, &out, "png"};
    opts[k++] = (lt_opt){"--json", NULL, LT_OPT_FLAG, &json, "json"};
    opts[k] = (lt_opt){0};
    char *argv[] = {"detect", "-m", "a.cfg", "-w", "a.weights", "--names", "n.txt", "--thresh", "0.3", "--nms",
                    "0.2", "--tile", "320", "--overlap", "0.1", "img.jpg", "-o", "o.png", "--json"};
    const char *pos[4];
    int n_pos;
    bool help;
    lt_err err;
    CHECK(lt_opts_parse("detect", opts, 19, argv, 1, pos, 4, &n_pos, &help, &err) == LT_OK);
    CHECK(n_pos == 1 && !strcmp(pos[0], "img.jpg") && !help && json && !strcmp(out, "o.png"));
    CHECK(!strcmp(da.cfg, "a.cfg") && !strcmp(da.weights, "a.weights") && !strcmp(da.names, "n.txt"));
    CHECK(da.o.thresh == 0.3f && da.o.nms == 0.2f && da.o.tile == 320 && da.o.overlap == 0.1f);
    char *bad[] = {"detect", "--tile", "1.5"};
    CHECK(lt_opts_parse("detect", opts, 3, bad, 1, pos, 4, &n_pos, &help, &err) == LT_EINVAL &&
          strstr(err.msg, "--tile"));
    /* the model options alone (lathe bench detect): the same first two entries */
    lt_opt two[LT_DETECT_N_MODEL_OPTIONS];
    CHECK(lt_detect_model_options(two, &da) == 2 && !strcmp(two[0].name, "--model") &&
          !strcmp(two[0].alias, "-m") && !strcmp(two[1].name, "--weights") && two[0].dst == opts[0].dst &&
          !strcmp(two[1].help, opts[1].help));
}

/* ---- the pipeline over a detector -------------------------------------------------------- */

static void test_pipeline(const char *dir, const char *img) {
    lt_err err = {0};
    lt_backend *be;
    lt_backend_opts bo = {.n_threads = 1};
    CHECK(lt_backend_create(&be, "cpu", &bo, &err) == LT_OK);
    char cfg[512], names[512], coco[512];
    snprintf(cfg, sizeof cfg, "%s/net.v2.cfg", dir);
    snprintf(names, sizeof names, "%s/names.txt", dir);
    snprintf(coco, sizeof coco, "%s/coco.names", dir);
    write_text(names, "a\nb\nc\nbicycle\n");
    lt_detect_args da;
    lt_detect_args_default(&da);
    da.cfg = cfg;
    lt_detect_model *m;
    /* weights beside the cfg; no names for a 20-class model */
    g_classes = 20;
    CHECKF(lt_detect_model_open(&m, fake_open, &da, false, be, 3, &err) == LT_OK, "%s", err.msg);
    char want[600];
    snprintf(want, sizeof want, "%s/net.v2.weights", dir);
    CHECK(g_fake && !strcmp(g_fake->weights, want) && g_fake->base.max_batch == 3);
    CHECK(!strcmp(lt_detect_model_cfg(m), cfg) && lt_detect_model_detector(m) == &g_fake->base);
    int n_names;
    const char *np;
    CHECK(lt_detect_model_names(m, &n_names, &np) == NULL && n_names == 0 && np == NULL);
    char nb[32];
    CHECK(!strcmp(lt_detect_model_class(m, 7, nb, sizeof nb), "class7"));
    lt_detect_result r;
    lt_detect_opts o;
    lt_detect_opts_default(&o);
    o.tile = 99;
    CHECKF(lt_detect_file(m, img, &o, true, &r, &err) == LT_OK, "%s", err.msg);
    CHECK(r.n == 2 && r.image.w == 40 && r.image.h == 30 && r.seconds >= 0 && g_fake->last.tile == 99);
    CHECK(r.dets && r.dets[0].class_id == 16);
    lt_detect_result_free(&r);
    CHECK(r.n == 0 && r.dets == NULL && r.image.data == NULL);
    /* a detector returning non-finite boxes: only the finite one comes through the interface */
    g_nonfinite = true;
    CHECKF(lt_detect_file(m, img, NULL, true, &r, &err) == LT_OK, "%s", err.msg);
    CHECKF(r.n == 1 && r.dets[0].class_id == 4, "%d detections", r.n);
    lt_detect_result_free(&r);
    g_nonfinite = false;
    /* the pixel budget travels with the options: 40x30 = 1200 pixels */
    o.max_pixels = 1000;
    CHECK(lt_detect_file(m, img, &o, false, &r, &err) == LT_EUNSUPPORTED && strstr(err.msg, "over the budget") &&
          strstr(err.msg, "img.png"));
    o.max_pixels = 1200;
    CHECK(lt_detect_file(m, img, &o, false, &r, &err) == LT_OK && r.image.w == 40);
    lt_detect_result_free(&r);
    char nothere[600];
    snprintf(nothere, sizeof nothere, "%s/nothere.jpg", dir);
    CHECK(lt_detect_file(m, nothere, NULL, false, &r, &err) != LT_OK && strstr(err.msg, "nothere.jpg") &&
          r.image.data == NULL);
    lt_detect_model_close(m);
    CHECK(g_closes == 1);
    /* an 80-class model picks up coco.names beside its cfg; given weights and names win */
    write_text(coco, "person\nbicycle\n");
    g_classes = 80;
    CHECK(lt_detect_model_open(&m, fake_open, &da, false, be, 1, &err) == LT_OK);
    CHECK(lt_detect_model_names(m, &n_names, &np) != NULL && n_names == 2 && np && !strcmp(np, coco));
    CHECK(!strcmp(lt_detect_model_class(m, 1, nb, sizeof nb), "bicycle"));
    lt_detect_model_close(m);
    da.weights = "w.bin", da.names = names;
    CHECK(lt_detect_model_open(&m, fake_open, &da, false, be, 1, &err) == LT_OK);
    CHECK(!strcmp(g_fake->weights, "w.bin") && lt_detect_model_names(m, &n_names, &np) && n_names == 4 &&
          !strcmp(np, names));
    lt_detect_model_close(m);
    /* random weights: the opener gets none */
    CHECK(lt_detect_model_open(&m, fake_open, &da, true, be, 1, &err) == LT_OK && g_fake->weights[0] == 0);
    lt_detect_model_close(m);
    /* errors: the opener's, a missing names file, no opener */
    da.cfg = "missing.cfg";
    CHECK(lt_detect_model_open(&m, fake_open, &da, false, be, 1, &err) == LT_EIO && m == NULL &&
          strstr(err.msg, "missing.cfg"));
    da.cfg = cfg, da.names = nothere;
    int closes = g_closes;
    CHECK(lt_detect_model_open(&m, fake_open, &da, false, be, 1, &err) != LT_OK && m == NULL && g_closes == closes + 1);
    CHECK(lt_detect_model_open(&m, NULL, &da, false, be, 1, &err) == LT_EUNSUPPORTED && m == NULL);
    lt_detect_model_close(NULL);
    /* the default model is the bundled one */
    lt_detect_args_default(&da);
    CHECK(lt_detect_model_open(&m, fake_open, &da, false, be, 1, &err) == LT_OK);
    CHECK(strstr(lt_detect_model_cfg(m), "/yolo/yolo-fastest-1.1.cfg") && strstr(g_fake->weights, "/yolo/yolo-fastest-1.1.weights"));
    CHECK(lt_detect_model_names(m, &n_names, &np) && n_names == 80 && strstr(np, "/yolo/coco.names"));
    lt_detect_model_close(m);
    remove(coco);
    g_classes = 20;
    lt_backend_free(be);
}

/* ---- the `detect` command through a session ---------------------------------------------- */

typedef struct capture {
    char text[8192];
    int previews, pv_w, pv_h, pv_n;
    char pv_lines[4][128];
} capture;

static void cap_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    capture *c = ud;
    size_t l = strlen(c->text);
    snprintf(c->text + l, sizeof c->text - l, "%.*s", (int)n, s);
}

static void cap_preview(void *ud, const lt_image *img, const char *const *lines, int n) {
    capture *c = ud;
    c->previews++;
    c->pv_w = img->w, c->pv_h = img->h, c->pv_n = n;
    for (int i = 0; i < n && i < 4; i++) snprintf(c->pv_lines[i], sizeof c->pv_lines[i], "%s", lines[i]);
}

static lt_status run(lt_session *s, capture *c, lt_err *err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static lt_status run(lt_session *s, capture *c, lt_err *err, const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    memset(c, 0, sizeof *c);
    lt_sink sink = {.ud = c, .text = cap_text, .preview = cap_preview};
    return lt_session_exec(s, line, &sink, err);
}

static void test_command(const char *dir, const char *img) {
    lt_err err = {0};
    lt_session_opts so = {.tables = lt_cmd_builtin, .open_detector = fake_open, .device = "cpu", .threads = 1};
    lt_session *s;
    CHECK(lt_session_create(&s, &so, &err) == LT_OK);
    char names[512], cfg[512], png[512];
    snprintf(names, sizeof names, "%s/names17.txt", dir);
    snprintf(cfg, sizeof cfg, "%s/net.cfg", dir);
    snprintf(png, sizeof png, "%s/out.png", dir);
    write_text(names, "n0\nn1\nn2\nn3\nn4\nn5\nn6\nn7\nn8\nn9\nn10\nn11\nn12\nn13\nn14\nn15\ndog\n");
    capture c;
    int opens = g_opens, closes = g_closes;
    lt_status st = run(s, &c, &err, "detect %s --model %s --names %s --thresh 0.5 --nms 0.1 --tile 64 --overlap 0.3 -o %s",
                       img, cfg, names, png);
    CHECKF(st == LT_OK, "%s", err.msg);
    CHECK(g_opens == opens + 1 && g_fake && g_fake->base.max_batch == 8);
    char want[700];
    snprintf(want, sizeof want, "%s/net.weights", dir);
    CHECK(g_fake && !strcmp(g_fake->weights, want));
    CHECK(g_fake && g_fake->last.thresh == 0.5f && g_fake->last.nms == 0.1f && g_fake->last.tile == 64 &&
          g_fake->last.overlap == 0.3f);
    snprintf(want, sizeof want, "%s: 2 detections (40x30, ", img);
    CHECKF(strstr(c.text, want) && strstr(c.text, "\n  dog             98%  left    10  top    20  width    30  height    40\n") &&
               strstr(c.text, "\n  n3              50%  left     1  top     2") && strstr(c.text, "wrote ") &&
               strstr(c.text, png),
           "%s", c.text);
    CHECK(access(png, R_OK) == 0);
    CHECKF(c.previews == 1 && c.pv_w == 40 && c.pv_h == 30 && c.pv_n == 3 && !strcmp(c.pv_lines[0], "2 detections") &&
               !strcmp(c.pv_lines[1], "dog 0.98 [10 20 30 40]") && !strcmp(c.pv_lines[2], "n3 0.50 [1 2 3 4]"),
           "%d previews, '%s' '%s'", c.previews, c.pv_lines[1], c.pv_lines[2]);
    const lt_result *r = lt_session_last(s);
    CHECK(!strcmp(r->cmd, "detect") && r->has_digest && r->digest == lt_detect_digest(k_dets, 2));
    lt_model_info mi[4];
    int nm = lt_session_models(s, mi, 4);
    CHECK(nm == 1 && !strcmp(mi[0].name, "detector") && !strcmp(mi[0].kind, "detector") && mi[0].bytes == 1234);
    /* the loaded detector is reused; another cfg needs `unload detector` first */
    CHECK(run(s, &c, &err, "detect %s", img) == LT_OK && g_opens == opens + 1 && c.previews == 1);
    CHECK(run(s, &c, &err, "detect %s --model other.cfg", img) == LT_EINVAL && strstr(err.msg, "unload detector"));
    CHECK(run(s, &c, &err, "unload detector") == LT_OK && g_closes == closes + 1);
    /* a class without a name: its id in the report and the preview */
    write_text(names, "a\nb\nc\nbicycle\n");
    st = run(s, &c, &err, "detect %s --model %s --names %s", img, cfg, names);
    CHECKF(st == LT_OK && g_opens == opens + 2, "%s", err.msg);
    CHECKF(strstr(c.text, "\n  class16         98%") && strstr(c.text, "\n  bicycle         50%") &&
               !strcmp(c.pv_lines[1], "class 16 0.98 [10 20 30 40]") && !strcmp(c.pv_lines[2], "bicycle 0.50 [1 2 3 4]"),
           "%s / %s", c.text, c.pv_lines[1]);
    CHECK(run(s, &c, &err, "unload detector") == LT_OK);
    /* errors, and nothing loaded after them */
    CHECK(run(s, &c, &err, "detect %s --model missing.cfg", img) == LT_EIO && strstr(err.msg, "missing.cfg"));
    CHECK(run(s, &c, &err, "detect %s --thresh x", img) == LT_EINVAL &&
          !strcmp(err.msg, "detect: --thresh expects a number, got 'x'"));
    CHECK(run(s, &c, &err, "detect a.jpg b.jpg") == LT_EINVAL &&
          !strcmp(err.msg, "detect: one image at a time ('a.jpg' and 'b.jpg')"));
    CHECK(run(s, &c, &err, "detect %s --bogus 1", img) == LT_EINVAL && strstr(err.msg, "unknown option '--bogus'"));
    CHECK(lt_session_models(s, mi, 4) == 0 && c.previews == 0);
    CHECK(run(s, &c, &err, "detect --help") == LT_OK && strstr(c.text, "--overlap") && strstr(c.text, "--out"));
    lt_session_free(s);
    /* no opener: a clear error */
    so.open_detector = NULL;
    CHECK(lt_session_create(&s, &so, &err) == LT_OK);
    CHECK(run(s, &c, &err, "detect %s --model %s", img, cfg) == LT_EUNSUPPORTED && strstr(err.msg, "opener"));
    lt_session_free(s);
}

static void test_assets(void) {
    lt_err err = {0};
    char dir[4096], want[4096];
    CHECK(realpath(lt_test_path("assets"), want) != NULL);
    setenv("LATHE_ASSETS", lt_test_path("assets"), 1);
    CHECKF(lt_assets_dir(dir, sizeof dir, &err) == LT_OK && !strcmp(dir, want), "%s", err.msg);
    CHECK(lt_assets_dir(dir, 4, &err) == LT_ERANGE);
    /* a folder without the model is skipped: the one beside the executable (BUILD/..) is found */
    setenv("LATHE_ASSETS", lt_test_tmpdir("vision-empty"), 1);
    CHECKF(lt_assets_dir(dir, sizeof dir, &err) == LT_OK && !strcmp(dir, want), "%s", err.msg);
    char p[4200];
    CHECK(lt_detect_bundled("dog.jpg", p, sizeof p, &err) == LT_OK && access(p, R_OK) == 0);
    unsetenv("LATHE_ASSETS");
}

int main(void) {
    const char *dir = lt_test_tmpdir("vision");
    char img[512];
    snprintf(img, sizeof img, "%s/img.png", dir);
    lt_image im;
    lt_err err = {0};
    if (lt_image_alloc(&im, 40, 30, 3, 0.5f, &err) != LT_OK || lt_image_write_png(&im, img, &err) != LT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    lt_image_free(&im);
    test_results();
    test_nonfinite_results();
    test_options();
    test_assets();
    test_pipeline(dir, img);
    test_command(dir, img);
    return lt_test_done();
}
