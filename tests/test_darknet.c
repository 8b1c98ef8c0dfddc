/* test_darknet.c - the darknet .cfg parser and .weights reader.
 *
 * The bundled Yolo-Fastest 1.1 cfg (layer count, head sizes, weights count = the file's),
 * yolov3-tiny, yolov3 and a yolov4-tiny-shaped cfg (route groups) parse with the sizes
 * darknet prints; batch norm folding against the formula; weights files with 32- and 64-bit
 * 'seen' headers; and malformed input: unknown keys and sections (error names the line),
 * bad values, references to later layers, channel mismatches, every truncation of a weights
 * file, extra bytes, NaN and negative variances, names files.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/darknet.h"
#include "testutil.h"

static lt_dn_net *parse(const char *text, lt_err *err) {
    lt_dn_net *n = NULL;
    if (lt_darknet_parse_text(&n, text, strlen(text), "t.cfg", err) != LT_OK) return NULL;
    return n;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

/* A weights file for net: header (major, minor, revision, seen with 64 bits when
 * major*10+minor >= 2) then the given floats. Returns its size. */
static size_t make_weights(const char *path, int major, int minor, const float *v, size_t n) {
    size_t hdr = (major * 10 + minor >= 2) ? 20 : 16;
    unsigned char *b = calloc(1, hdr + n * 4);
    int32_t h[3] = {major, minor, 0};
    memcpy(b, h, 12);
    memcpy(b + hdr, v, n * 4);
    write_file(path, b, hdr + n * 4);
    free(b);
    return hdr + n * 4;
}

static void test_bundled(void) {
    lt_err err = {0};
    lt_dn_net *net;
    const char *cfg = lt_test_path("assets/yolo/yolo-fastest-1.1.cfg");
    CHECKF(lt_darknet_parse(&net, cfg, &err) == LT_OK, "%s", err.msg);
    if (!net) return;
    CHECK(net->w == 320 && net->h == 320 && net->c == 3 && !net->letter_box);
    CHECK(net->n == 131);
    int yolo = 0, conv = 0, dw = 0;
    for (int i = 0; i < net->n; i++) {
        const lt_dn_layer *l = &net->layers[i];
        conv += l->type == LT_DN_CONV;
        dw += l->type == LT_DN_CONV && l->groups > 1 && l->groups == l->c;
        if (l->type == LT_DN_YOLO) {
            CHECK(l->out_c == 255 && l->head.classes == 80 && l->head.n_anchors == 3);
            CHECK(l->nms_kind == LT_NMS_GREEDY_DIOU);
            CHECK(yolo == 0 ? (l->h == 10 && l->w == 10 && l->head.anchors[0] == 115)
                            : (l->h == 20 && l->w == 20 && l->head.anchors[0] == 12));
            yolo++;
        }
    }
    CHECK(yolo == 2 && conv == 84 && dw >= 20);
    FILE *f = fopen(lt_test_path("assets/yolo/yolo-fastest-1.1.weights"), "rb");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fclose(f);
        CHECKF(lt_darknet_weights_count(net) * 4 + 20 == (size_t)sz, "count %zu, file %ld",
               lt_darknet_weights_count(net), sz);
    }
    CHECKF(lt_darknet_load_weights(net, lt_test_path("assets/yolo/yolo-fastest-1.1.weights"), &err) == LT_OK, "%s",
           err.msg);
    CHECK(net->loaded && net->major == 0 && net->minor == 2);
    CHECK(lt_darknet_params(net) > 200000 && lt_darknet_params(net) < 400000);
    lt_darknet_free(net);

    /* yolov3-tiny: 13x13 and 26x26 heads at 416, maxpool stride 1 keeps 13x13 */
    CHECKF(lt_darknet_parse(&net, lt_test_path("assets/yolo/yolov3-tiny.cfg"), &err) == LT_OK, "%s", err.msg);
    if (net) {
        CHECK(net->n == 24 && net->layers[11].type == LT_DN_MAXPOOL && net->layers[11].out_w == 13);
        CHECK(net->layers[16].type == LT_DN_YOLO && net->layers[16].w == 13 && net->layers[23].w == 26);
        CHECK(net->layers[21].c == 384 && net->layers[19].out_w == 26);
        CHECK(fabs(lt_darknet_flops(net) / 1e9 - 5.56) < 0.02); /* darknet's table: 5.56 billion */
        lt_darknet_free(net);
    }
    CHECKF(lt_darknet_parse(&net, lt_test_path("assets/yolo/yolov3.cfg"), &err) == LT_OK, "%s", err.msg);
    if (net) {
        /* the cfg is set for 608x608: heads 19, 38, 76; 140.69 billion operations (darknet's table) */
        CHECK(net->n == 107 && net->layers[82].type == LT_DN_YOLO && net->layers[82].w == 19 &&
              net->layers[94].w == 38 && net->layers[106].w == 76);
        CHECK(fabs(lt_darknet_flops(net) / 1e9 - 140.69) < 0.1);
        lt_darknet_free(net);
    }
}

/* yolov4-tiny's shape: CSP blocks with route groups=2 group_id=1. */
static const char *k_v4tiny =
    "[net]\nwidth=64\nheight=64\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\nstride=2\npad=1\nactivation=leaky\n"
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
    "[route]\nlayers = -1,-2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=1\nstride=1\npad=1\nactivation=leaky\n"
    "[route]\nlayers = -6,-1\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nbatch_normalize=1\nfilters=128\nsize=3\nstride=1\npad=1\nactivation=mish\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=255\nactivation=linear\n"
    "[yolo]\nmask = 3,4,5\nanchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319\nclasses=80\nnum=6\n"
    "scale_x_y = 1.05\nnms_kind=greedynms\nbeta_nms=0.6\nignore_thresh=.7\n"
    "[route]\nlayers = -3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=1\nstride=1\npad=1\nactivation=swish\n"
    "[upsample]\nstride=2\n"
    "[route]\nlayers = -1, 8\n"
    "[convolutional]\nsize=1\nstride=1\npad=1\nfilters=255\nactivation=linear\n"
    "[yolo]\nmask = 0,1,2\nanchors = 10,14,  23,27,  37,58,  81,82,  135,169,  344,319\nclasses=80\nnum=6\n"
    "scale_x_y = 1.05\n";

static void test_v4tiny(void) {
    lt_err err = {0};
    lt_dn_net *net = parse(k_v4tiny, &err);
    CHECKF(net != NULL, "%s", err.msg);
    if (!net) return;
    CHECK(net->layers[3].type == LT_DN_ROUTE && net->layers[3].out_c == 32 && net->layers[3].group_id == 1);
    CHECK(net->layers[6].out_c == 64 && net->layers[8].out_c == 128);
    CHECK(net->layers[9].out_w == 8 && net->layers[12].w == 8 && net->layers[12].head.scale_x_y == 1.05f);
    CHECK(net->layers[16].out_c == 192 && net->layers[18].w == 16);
    CHECK(net->layers[10].act == LT_ACT_MISH && net->layers[14].act == LT_ACT_SWISH);
    lt_darknet_free(net);
}

/* One conv with batch norm, one without: folding and both header versions. */
static void test_fold(void) {
    lt_err err = {0};
    const char *cfg = "[net]\nwidth=4\nheight=4\nchannels=2\n"
                      "[convolutional]\nbatch_normalize=1\nfilters=3\nsize=1\nstride=1\npad=0\nactivation=leaky\n"
                      "[convolutional]\nfilters=2\nsize=3\nstride=1\npad=1\nactivation=linear\n";
    lt_dn_net *net = parse(cfg, &err);
    CHECKF(net != NULL, "%s", err.msg);
    if (!net) return;
    size_t n = lt_darknet_weights_count(net);
    CHECK(n == 3 * 4 + 3 * 2 + 2 + 2 * 3 * 9);
    float v[80];
    for (size_t i = 0; i < n; i++) v[i] = 0.1f * (float)((i * 7) % 13) - 0.5f;
    for (int i = 9; i < 12; i++) v[i] = 0.2f + 0.1f * i; /* variances > 0 */
    const char *dir = lt_test_tmpdir("darknet");
    char path[512];
    snprintf(path, sizeof path, "%s/a.weights", dir);
    for (int ver = 0; ver < 2; ver++) {
        make_weights(path, 0, ver ? 2 : 1, v, n);
        CHECKF(lt_darknet_load_weights(net, path, &err) == LT_OK, "v%d: %s", ver, err.msg);
        CHECK(net->minor == (ver ? 2 : 1));
        const lt_dn_layer *l = &net->layers[0];
        double maxe = 0;
        for (int o = 0; o < 3; o++) {
            double sd = sqrt((double)v[9 + o] + 1e-5), sc = v[3 + o], mean = v[6 + o];
            maxe = fmax(maxe, fabs(l->biases[o] - (v[o] - sc * mean / sd)));
            for (int j = 0; j < 2; j++) maxe = fmax(maxe, fabs(l->weights[o * 2 + j] - v[12 + o * 2 + j] * sc / sd));
        }
        CHECKF(maxe < 1e-6, "folding error %g", maxe);
        CHECK(net->layers[1].biases[1] == v[19] && net->layers[1].weights[0] == v[20]);
    }
    /* every truncation, extra bytes, non-finite values, negative variance */
    size_t full = make_weights(path, 0, 2, v, n);
    FILE *f = fopen(path, "rb");
    unsigned char *b = malloc(full + 8);
    CHECK(fread(b, 1, full, f) == full);
    fclose(f);
    int ok = 0;
    for (size_t len = 0; len < full; len++) {
        write_file(path, b, len);
        lt_status s = lt_darknet_load_weights(net, path, &err);
        ok += s != LT_OK && err.msg[0] && net->loaded && net->layers[1].biases[1] == v[19]; /* old weights kept */
    }
    CHECKF(ok == (int)full, "%d of %zu truncations rejected", ok, full);
    write_file(path, b, full - 4);
    CHECK(lt_darknet_load_weights(net, path, &err) == LT_EFORMAT);
    CHECKF(strstr(err.msg, "truncated") && strstr(err.msg, "layer 1"), "%s", err.msg);
    memset(b + full, 0, 8);
    write_file(path, b, full + 8);
    CHECK(lt_darknet_load_weights(net, path, &err) == LT_EFORMAT && strstr(err.msg, "another cfg"));
    write_file(path, b, full + 2);
    CHECK(lt_darknet_load_weights(net, path, &err) == LT_EFORMAT);
    float nan = NAN;
    memcpy(b + 20 + 4 * 30, &nan, 4);
    write_file(path, b, full);
    CHECK(lt_darknet_load_weights(net, path, &err) == LT_EFORMAT && strstr(err.msg, "finite"));
    v[10] = -1.f;
    make_weights(path, 0, 2, v, n);
    CHECK(lt_darknet_load_weights(net, path, &err) == LT_EFORMAT && strstr(err.msg, "variance"));
    int32_t junk[5] = {123456, -7, 0, 0, 0};
    write_file(path, junk, sizeof junk);
    CHECK(lt_darknet_load_weights(net, path, &err) == LT_EFORMAT && strstr(err.msg, "header"));
    snprintf(path, sizeof path, "%s/missing.weights", dir);
    CHECK(lt_darknet_load_weights(net, path, &err) != LT_OK && strstr(err.msg, "missing.weights"));
    free(b);
    lt_darknet_free(net);
}

static void bad_cfg(const char *text, const char *want) {
    lt_err err = {0};
    lt_dn_net *net = parse(text, &err);
    CHECKF(net == NULL && strstr(err.msg, want) != NULL, "expected an error with '%s', got '%s'", want,
           net ? "(parsed)" : err.msg);
    lt_darknet_free(net);
}

static void test_malformed(void) {
    const char *H = "[net]\nwidth=32\nheight=32\nchannels=3\n";
    char t[1024];
#define CFG(body) (snprintf(t, sizeof t, "%s%s", H, body), t)
    bad_cfg(CFG("[convolutional]\nfilters=8\nsize=3\nfoo=1\n"), "t.cfg:8: unknown key 'foo' in [convolutional]");
    bad_cfg(CFG("[convolutional]\nfilters=8\n[region]\nclasses=3\n"), "t.cfg:7: unsupported section [region]");
    bad_cfg(CFG("[convolutional]\nfilters=eight\n"), "t.cfg:6: filters=eight: expected an integer");
    bad_cfg(CFG("[convolutional]\nfilters=8\nactivation=elu\n"), "activation 'elu' is not supported");
    bad_cfg(CFG("[convolutional]\nfilters=8\ngroups=2\n"), "groups=2 must divide");
    bad_cfg(CFG("[convolutional]\nfilters=8\nsize=3\ndilation=2\n"), "dilation=2 is not supported");
    bad_cfg(CFG("[convolutional]\nfilters=8\nsize=64\n"), "out of range");
    bad_cfg(CFG("[route]\nlayers=1\n"), "not an earlier layer");
    bad_cfg(CFG("[convolutional]\nfilters=8\n[route]\nlayers=-1,-3\n"), "not an earlier layer");
    bad_cfg(CFG("[route]\n"), "needs layers=");
    bad_cfg(CFG("[convolutional]\nfilters=8\n[shortcut]\nfrom=-1\n[shortcut]\nfrom=-3\nactivation=linear\n"),
            "not an earlier layer");
    bad_cfg(CFG("[convolutional]\nfilters=8\n[convolutional]\nfilters=8\nstride=2\n[shortcut]\nfrom=-2\n"),
            "only equal sizes");
    bad_cfg(CFG("[convolutional]\nfilters=20\n[yolo]\nmask=0,1\nanchors=1,2,3,4\nclasses=80\nnum=2\n"),
            "needs 170 input channels");
    bad_cfg(CFG("[convolutional]\nfilters=24\n[yolo]\nmask=0,5\nanchors=1,2,3,4\nclasses=7\nnum=2\n"),
            "mask value 5");
    bad_cfg(CFG("[convolutional]\nfilters=12\n[yolo]\nmask=0\nanchors=1,2,3\nclasses=7\nnum=2\n"),
            "needs 4 anchor values");
    bad_cfg(CFG("[convolutional]\nfilters=12\n[yolo]\nanchors=1,x\nclasses=7\n"), "comma-separated list");
    /* integers past int (through float: undefined behaviour before; found by tests/fuzz) */
    bad_cfg(CFG("[convolutional]\nfilters=8\n[route]\nlayers=-1,44444444444\n"), "list of integers");
    bad_cfg(CFG("[convolutional]\nfilters=8\n[shortcut]\nfrom=-9999999999\n"), "list of integers");
    bad_cfg(CFG("[convolutional]\nfilters=24\n[yolo]\nmask=0,16777217\nanchors=1,2,3,4\nclasses=7\nnum=2\n"),
            "list of integers");
    bad_cfg(CFG("[upsample]\nstride=-2\n"), "stride=-2");
    bad_cfg(CFG("[maxpool]\nsize=40\nstride=1\npadding=0\n"), "larger than");
    bad_cfg(CFG("filters=3\n[convolutional\n"), "malformed section header");
    bad_cfg(CFG("[convolutional]\nfilters\n"), "expected key=value");
    bad_cfg(CFG("[net]\nwidth=3\n"), "second [net]");
    bad_cfg("[convolutional]\nfilters=3\n", "the first section must be [net]");
    bad_cfg("filters=3\n[net]\n", "before the first [section]");
    bad_cfg("", "no sections");
    bad_cfg("[net]\nwidth=0\nheight=32\nchannels=3\n", "needs width");
    bad_cfg("[net]\nwidth=32\nheight=32\nchannels=3\n", "no layers");
    bad_cfg(CFG("[convolutional]\nfilters=3\nsize=9\nstride=8\n[convolutional]\nfilters=3\nsize=9\nstride=8\n"),
            "larger than the padded");
    /* known training keys, comments and odd whitespace are fine */
    lt_err err = {0};
    lt_dn_net *net = parse("# a comment\n[net]\n batch = 64\nwidth=32\r\nheight=32\nchannels=3\nmomentum=0.9\n"
                           "; another\n[convolutional]\nfilters=3\nsize=1\nstopbackward=1\nactivation=relu\n"
                           "[dropout]\nprobability=.5\n[avgpool]\n",
                           &err);
    CHECKF(net && net->n == 3 && net->layers[2].out_w == 1 && net->layers[0].act == LT_ACT_RELU, "%s", err.msg);
    lt_darknet_free(net);
    /* a file that is not a cfg at all */
    char bin[64];
    for (int i = 0; i < 64; i++) bin[i] = (char)(i * 37);
    bad_cfg(bin, "t.cfg:");
#undef CFG
}

static void test_names(void) {
    lt_err err = {0};
    char **names;
    int n;
    CHECKF(lt_darknet_read_names(lt_test_path("assets/yolo/coco.names"), &names, &n, &err) == LT_OK, "%s", err.msg);
    CHECK(n == 80 && !strcmp(names[0], "person") && !strcmp(names[16], "dog") && !strcmp(names[79], "toothbrush"));
    lt_darknet_free_names(names, n);
    char path[512];
    snprintf(path, sizeof path, "%s/empty.names", lt_test_tmpdir("darknet"));
    write_file(path, "\n\n", 2);
    CHECK(lt_darknet_read_names(path, &names, &n, &err) == LT_EFORMAT && strstr(err.msg, "no class names"));
}

int main(void) {
    test_bundled();
    test_v4tiny();
    test_fold();
    test_malformed();
    test_names();
    return lt_test_done();
}
