/* test_image.c - image loading: exact pixels, and hostile files.
 *
 * - Exactness: lathe's JPEG decoder (libjpeg-turbo's entropy decoding + stb_image's pixel
 *   arithmetic) gives the floats stb_image 2.27 gives - darknet's decoder, which the
 *   detection references depend on - byte for byte on the bundled images and on generated
 *   JPEGs: baseline and progressive, restart markers, every chroma subsampling stb handles
 *   (incl. 3x1 through its generic upsampler), odd sizes down to 1x1, quality 100, grey, RGB,
 *   CMYK and YCCK; arithmetic-coded files (stb cannot read them) equal their Huffman twins.
 *   PNG through libpng equals stb on every colour type and bit depth, with tRNS, interlaced.
 *   stb_image is compiled into this test only, as the reference, and only ever sees files
 *   made here or the bundled ones.
 * - Hostile files (the reliability issue's repros), each a clear one-line error or a clean
 *   decode, under ASan/UBSan: truncated and garbage JPEGs, mutated JPEGs, the 139-byte JPEG
 *   whose Huffman counts overflow stb's table, an oversubscribed Huffman table, progressive
 *   JPEGs with missing scans (deterministic: no uninitialised memory) or cut off, a scan bomb,
 *   coefficients at the extremes of a short (stb's scalar IDCT overflows on them),
 *   a tiny PNG declaring 16384x16384 (refused from its header, without allocating), a JPEG
 *   declaring 20000x20000, the --max-pixels budget, truncated and corrupt PNGs, the
 *   out-of-memory message for a huge image (formatted once, naming the file), and GIF/BMP
 *   refused by name.
 */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <jpeglib.h>
#include <png.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"
#include "core/formats/image.h"
#include "testutil.h"

/* the reference decoder: stb_image 2.27 (Debian's libstb), JPEG and PNG only */
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include "core/formats/stb_quiet.h"
LT_STB_QUIET_BEGIN
#include <stb_image.h>
LT_STB_QUIET_END
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function" /* stb's static declarations, at the end of the file */
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized" /* inside stb, seen where it is inlined */
#endif

#if defined(__SANITIZE_ADDRESS__)
#define LT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LT_TEST_ASAN 1
#endif
#endif

/* ---- helpers ------------------------------------------------------------------------------------- */

/* Floats of ours that differ from stb's 8-bit RGB / 255 (as darknet converts it); -1 when
 * either side fails or the sizes differ. */
static long diff_from_stb(const uint8_t *buf, size_t len, const char *name) {
    int w, h, c;
    unsigned char *ref = stbi_load_from_memory(buf, (int)len, &w, &h, &c, 3);
    lt_image im;
    lt_err err = {0};
    lt_status s = lt_image_load_mem(&im, buf, len, name, &err);
    long bad = -1;
    if (!ref) fprintf(stderr, "%s: stb cannot read it: %s\n", name, stbi_failure_reason());
    if (s != LT_OK) fprintf(stderr, "%s: %s\n", name, err.msg);
    if (ref && s == LT_OK && im.w == w && im.h == h && im.c == 3) {
        bad = 0;
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    bad += im.data[((size_t)k * h + y) * w + x] != (float)ref[((size_t)y * w + x) * 3 + k] / 255.f;
    }
    stbi_image_free(ref);
    lt_image_free(&im);
    return bad;
}

/* A deterministic picture with gradients, edges and noise (so chroma and AC terms matter). */
static uint8_t *picture(int w, int h, int ch, uint32_t seed) {
    uint8_t *p = malloc((size_t)w * h * ch);
    lt_test_rng r;
    lt_test_rng_seed(&r, seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < ch; k++) {
                int v = (x * 255 / (w > 1 ? w - 1 : 1)) * (k + 1) / 2 + (y * 97 / (h > 1 ? h : 1)) * (2 - k % 3);
                if (((x / 5) + (y / 3) + k) % 4 == 0) v = 255 - v;
                v += (int)(lt_test_u32(&r) % 41) - 20;
                p[((size_t)y * w + x) * ch + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

static int64_t maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- generated JPEGs (libjpeg's encoder) ------------------------------------------------------ */

typedef struct jgen {
    const char *what;
    int w, h;
    J_COLOR_SPACE in_cs, jpeg_cs; /* input: JCS_RGB, JCS_GRAYSCALE or JCS_CMYK */
    int samp[4][2];               /* h, v per component; {0} = libjpeg's default */
    int quality;
    bool progressive, arith, restart;
    bool separate_scans; /* sequential, one scan per component */
} jgen;

static void jgen_error(j_common_ptr c) {
    char msg[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, msg);
    fprintf(stderr, "test_image: libjpeg: %s\n", msg);
    abort(); /* encoding what this test made cannot fail */
}

static void jgen_quiet(j_common_ptr c) { (void)c; } /* e.g. "quantization tables are too coarse" */

static uint8_t *make_jpeg(const jgen *g, size_t *len) {
    int ch = g->in_cs == JCS_GRAYSCALE ? 1 : g->in_cs == JCS_CMYK ? 4 : 3;
    uint8_t *px = picture(g->w, g->h, ch, (uint32_t)(g->w * 131 + g->h));
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    e.error_exit = jgen_error, e.output_message = jgen_quiet;
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long outlen = 0;
    jpeg_mem_dest(&c, &out, &outlen);
    c.image_width = (JDIMENSION)g->w, c.image_height = (JDIMENSION)g->h;
    c.input_components = ch, c.in_color_space = g->in_cs;
    jpeg_set_defaults(&c);
    if (g->jpeg_cs != JCS_UNKNOWN) jpeg_set_colorspace(&c, g->jpeg_cs);
    jpeg_set_quality(&c, g->quality, TRUE);
    for (int i = 0; i < c.num_components && g->samp[0][0]; i++)
        c.comp_info[i].h_samp_factor = g->samp[i][0], c.comp_info[i].v_samp_factor = g->samp[i][1];
    if (g->progressive) jpeg_simple_progression(&c);
    if (g->arith) c.arith_code = TRUE;
    if (g->restart) c.restart_in_rows = 1;
    static jpeg_scan_info scans[4];
    if (g->separate_scans) {
        for (int i = 0; i < c.num_components; i++)
            scans[i] = (jpeg_scan_info){1, {i, 0, 0, 0}, 0, 63, 0, 0};
        c.scan_info = scans, c.num_scans = c.num_components;
    }
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = px + (size_t)c.next_scanline * g->w * ch;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(px);
    uint8_t *copy = malloc(outlen);
    memcpy(copy, out, outlen);
    free(out);
    *len = outlen;
    return copy;
}

static const jgen k_jpegs[] = {
    {"4:4:4", 37, 29, JCS_RGB, JCS_UNKNOWN, {{1, 1}, {1, 1}, {1, 1}}, 90, false, false, false},
    {"4:2:2", 37, 29, JCS_RGB, JCS_UNKNOWN, {{2, 1}, {1, 1}, {1, 1}}, 90, false, false, false},
    {"4:4:0", 37, 29, JCS_RGB, JCS_UNKNOWN, {{1, 2}, {1, 1}, {1, 1}}, 90, false, false, false},
    {"4:2:0", 37, 29, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 75, false, false, false},
    {"4:2:0 1x1", 1, 1, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 75, false, false, false},
    {"4:2:0 2x1", 2, 1, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 75, false, false, false},
    {"4:2:0 16x16", 16, 16, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 75, false, false, false},
    {"4:2:0 200x3", 200, 3, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 75, false, false, false},
    {"4:2:0 q100", 41, 23, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 100, false, false, false},
    {"4:1:1", 45, 13, JCS_RGB, JCS_UNKNOWN, {{4, 1}, {1, 1}, {1, 1}}, 85, false, false, false},
    {"3x1 (generic)", 31, 7, JCS_RGB, JCS_UNKNOWN, {{3, 1}, {1, 1}, {1, 1}}, 85, false, false, false},
    {"2x2/1x1/2x1", 35, 33, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {2, 1}}, 85, false, false, false},
    {"progressive 4:2:0", 53, 41, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 80, true, false, false},
    {"progressive 4:4:4", 19, 27, JCS_RGB, JCS_UNKNOWN, {{1, 1}, {1, 1}, {1, 1}}, 95, true, false, false},
    {"restart markers", 70, 35, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 80, false, false, true},
    {"progressive + restart", 70, 35, JCS_RGB, JCS_UNKNOWN, {{2, 1}, {1, 1}, {1, 1}}, 80, true, false, true},
    {"grey", 23, 19, JCS_GRAYSCALE, JCS_UNKNOWN, {{0}}, 80, false, false, false},
    {"grey progressive", 33, 9, JCS_GRAYSCALE, JCS_UNKNOWN, {{0}}, 80, true, false, false},
    {"RGB (no YCbCr)", 29, 17, JCS_RGB, JCS_RGB, {{1, 1}, {1, 1}, {1, 1}}, 90, false, false, false},
    {"CMYK (Adobe)", 21, 15, JCS_CMYK, JCS_CMYK, {{1, 1}, {1, 1}, {1, 1}, {1, 1}}, 90, false, false, false},
    {"YCCK (Adobe)", 21, 15, JCS_CMYK, JCS_YCCK, {{2, 2}, {1, 1}, {1, 1}, {2, 2}}, 90, false, false, false},
};

static void test_jpeg_exact(void) {
    /* the bundled images: what the darknet reference detections were computed from */
    const char *assets[] = {"dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg", "scream.jpg"};
    lt_err err = {0};
    for (size_t i = 0; i < sizeof assets / sizeof *assets; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "assets/yolo/%s", assets[i]);
        char *buf;
        size_t len;
        if (lt_file_read_all(lt_test_path(rel), 1 << 24, &buf, &len, &err) != LT_OK) {
            CHECKF(0, "%s", err.msg);
            continue;
        }
        long d = diff_from_stb((const uint8_t *)buf, len, assets[i]);
        CHECKF(d == 0, "%s: %ld floats differ from stb_image's", assets[i], d);
        lt_free(buf);
    }
    for (size_t i = 0; i < sizeof k_jpegs / sizeof *k_jpegs; i++) {
        size_t len;
        uint8_t *j = make_jpeg(&k_jpegs[i], &len);
        long d = diff_from_stb(j, len, k_jpegs[i].what);
        CHECKF(d == 0, "%s JPEG (%dx%d): %ld floats differ from stb_image's", k_jpegs[i].what, k_jpegs[i].w,
               k_jpegs[i].h, d);
        /* arithmetic coding carries the same coefficients: the same pixels */
        if (k_jpegs[i].in_cs != JCS_CMYK) {
            jgen a = k_jpegs[i];
            a.arith = true;
            size_t alen;
            uint8_t *aj = make_jpeg(&a, &alen);
            lt_image x, y;
            CHECK(lt_image_load_mem(&x, j, len, "huffman", &err) == LT_OK);
            CHECKF(lt_image_load_mem(&y, aj, alen, "arith", &err) == LT_OK, "%s", err.msg);
            CHECKF(x.data && y.data && !memcmp(x.data, y.data, sizeof(float) * 3 * x.w * x.h),
                   "%s: arithmetic-coded twin decodes differently", k_jpegs[i].what);
            lt_image_free(&x), lt_image_free(&y);
            free(aj);
        }
        free(j);
    }
}

/* A 16x16 grey JPEG whose dequantized coefficients are all +-32767 (16-bit quantizers, legal
 * outside baseline): stb 2.27's scalar int IDCT overflows on it (undefined behaviour, which
 * UBSan reports); ours must not. */
static uint8_t *extreme_jpeg(size_t *len) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    e.error_exit = jgen_error, e.output_message = jgen_quiet;
    jpeg_create_compress(&c);
    unsigned char *out = NULL;
    unsigned long outlen = 0;
    jpeg_mem_dest(&c, &out, &outlen);
    c.image_width = 16, c.image_height = 16, c.input_components = 1, c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    unsigned int q[64];
    for (int k = 0; k < 64; k++) q[k] = 32767;
    jpeg_add_quant_table(&c, 0, q, 100, FALSE);
    jvirt_barray_ptr arr[1];
    arr[0] = (*c.mem->request_virt_barray)((j_common_ptr)&c, JPOOL_IMAGE, TRUE, 2, 2, 1);
    (*c.mem->realize_virt_arrays)((j_common_ptr)&c);
    for (JDIMENSION by = 0; by < 2; by++) {
        JBLOCKARRAY row = (*c.mem->access_virt_barray)((j_common_ptr)&c, arr[0], by, 1, TRUE);
        for (int bx = 0; bx < 2; bx++)
            for (int k = 0; k < 64; k++) row[0][bx][k] = (JCOEF)((k * 7 + bx + (int)by) % 3 ? 1 : -1);
    }
    jpeg_write_coefficients(&c, arr);
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    uint8_t *copy = malloc(outlen);
    memcpy(copy, out, outlen);
    free(out);
    *len = outlen;
    return copy;
}

/* ---- generated PNGs (libpng's encoder) -------------------------------------------------------- */

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static void mb_write(png_structp png, png_bytep data, size_t n) {
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->n, data, n);
    m->n += n;
}
static void mb_flush(png_structp png) { (void)png; }

/* A w x h PNG of colour type ct and depth bits (random samples), optionally interlaced, with a
 * tRNS chunk; a palette of pal_n entries (indices stay below it). */
static uint8_t *make_png(int w, int h, int ct, int depth, bool interlace, bool trns, int pal_n, int level,
                         bool zero, size_t *len) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    membuf m = {0};
    if (setjmp(png_jmpbuf(png))) abort();
    png_set_write_fn(png, &m, mb_write, mb_flush);
    png_set_compression_level(png, level);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ct,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    lt_test_rng r;
    lt_test_rng_seed(&r, (uint64_t)(w * 7 + h * 13 + ct * 17 + depth));
    png_color pal[256];
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        for (int i = 0; i < pal_n; i++)
            pal[i].red = (png_byte)lt_test_u32(&r), pal[i].green = (png_byte)lt_test_u32(&r),
            pal[i].blue = (png_byte)lt_test_u32(&r);
        png_set_PLTE(png, info, pal, pal_n);
    }
    if (trns) {
        png_byte alpha[256];
        for (int i = 0; i < 256; i++) alpha[i] = (png_byte)(i * 37);
        png_color_16 tc = {0, 3, 5, 7, 3};
        if (ct == PNG_COLOR_TYPE_PALETTE) png_set_tRNS(png, info, alpha, pal_n, NULL);
        else png_set_tRNS(png, info, NULL, 0, &tc);
    }
    png_write_info(png, info);
    int chans = ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_PALETTE ? 1 : ct == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                : ct == PNG_COLOR_TYPE_RGB                                ? 3
                                                                          : 4;
    size_t rowbytes = ((size_t)w * chans * depth + 7) / 8;
    uint8_t *rows = calloc(h, rowbytes);
    for (int y = 0; y < h && !zero; y++)
        for (size_t b = 0; b < rowbytes; b++) {
            uint8_t v = (uint8_t)lt_test_u32(&r);
            if (ct == PNG_COLOR_TYPE_PALETTE) { /* every packed index below pal_n */
                int per = 8 / depth;
                v = 0;
                for (int q = 0; q < per; q++) v = (uint8_t)(v << depth | (lt_test_u32(&r) % pal_n));
            }
            rows[(size_t)y * rowbytes + b] = v;
        }
    png_bytep *rp = malloc(sizeof *rp * h);
    for (int y = 0; y < h; y++) rp[y] = rows + (size_t)y * rowbytes;
    png_write_image(png, rp);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rp), free(rows);
    *len = m.n;
    return m.p;
}

static void test_png_exact(void) {
    static const struct {
        int ct, depth;
        bool interlace, trns;
        int pal_n;
    } k[] = {
        {PNG_COLOR_TYPE_GRAY, 1, false, false, 0},      {PNG_COLOR_TYPE_GRAY, 2, false, false, 0},
        {PNG_COLOR_TYPE_GRAY, 4, false, false, 0},      {PNG_COLOR_TYPE_GRAY, 8, false, false, 0},
        {PNG_COLOR_TYPE_GRAY, 16, false, false, 0},     {PNG_COLOR_TYPE_GRAY, 8, false, true, 0},
        {PNG_COLOR_TYPE_GRAY_ALPHA, 8, false, false, 0}, {PNG_COLOR_TYPE_GRAY_ALPHA, 16, false, false, 0},
        {PNG_COLOR_TYPE_RGB, 8, false, false, 0},       {PNG_COLOR_TYPE_RGB, 16, false, false, 0},
        {PNG_COLOR_TYPE_RGB, 8, false, true, 0},        {PNG_COLOR_TYPE_RGBA, 8, false, false, 0},
        {PNG_COLOR_TYPE_RGBA, 16, false, false, 0},     {PNG_COLOR_TYPE_PALETTE, 1, false, false, 2},
        {PNG_COLOR_TYPE_PALETTE, 2, false, false, 3},   {PNG_COLOR_TYPE_PALETTE, 4, false, true, 11},
        {PNG_COLOR_TYPE_PALETTE, 8, false, true, 200},  {PNG_COLOR_TYPE_RGB, 8, true, false, 0},
        {PNG_COLOR_TYPE_GRAY, 2, true, false, 0},       {PNG_COLOR_TYPE_PALETTE, 4, true, false, 16},
        {PNG_COLOR_TYPE_RGBA, 16, true, false, 0},
    };
    const int sizes[][2] = {{13, 7}, {1, 1}, {33, 2}};
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        for (size_t s = 0; s < 3; s++) {
            size_t len;
            uint8_t *p = make_png(sizes[s][0], sizes[s][1], k[i].ct, k[i].depth, k[i].interlace, k[i].trns,
                                  k[i].pal_n, 6, false, &len);
            char name[96];
            snprintf(name, sizeof name, "png type %d, %d bits%s%s, %dx%d", k[i].ct, k[i].depth,
                     k[i].interlace ? ", interlaced" : "", k[i].trns ? ", tRNS" : "", sizes[s][0], sizes[s][1]);
            long d = diff_from_stb(p, len, name);
            CHECKF(d == 0, "%s: %ld floats differ from stb_image's", name, d);
            free(p);
        }
}

/* ---- hostile JPEGs ------------------------------------------------------------------------------ */

/* A load that must fail with a one-line message naming the file (and containing want, if
 * given), leaving the image empty. */
static bool fails_clearly(const void *buf, size_t len, const char *name, const char *want, lt_status *code) {
    lt_image im;
    lt_err err = {0};
    lt_status s = lt_image_load_mem(&im, buf, len, name, &err);
    if (code) *code = s;
    bool ok = s != LT_OK && im.data == NULL && strstr(err.msg, name) == err.msg && !strchr(err.msg, '\n') &&
              (!want || strstr(err.msg, want));
    if (!ok || getenv("LATHE_TEST_VERBOSE")) fprintf(stderr, "%s: status %d, message '%s'\n", name, s, err.msg);
    lt_image_free(&im);
    return ok;
}

/* The same, or a clean decode of the expected size (w < 0: any size). */
static bool fails_or_decodes(const void *buf, size_t len, const char *name, int w, int h) {
    lt_image im;
    lt_err err = {0};
    lt_status s = lt_image_load_mem(&im, buf, len, name, &err);
    bool ok = s == LT_OK ? (w < 0 || (im.w == w && im.h == h)) && im.data != NULL
                         : im.data == NULL && strstr(err.msg, name) == err.msg && !strchr(err.msg, '\n');
    if (!ok || getenv("LATHE_TEST_VERBOSE"))
        fprintf(stderr, "%s: status %d, %dx%d, message '%s'\n", name, s, im.w, im.h, s ? err.msg : "");
    lt_image_free(&im);
    return ok;
}

/* The segments of a JPEG: offsets of each marker (FF xx, not RSTn/FF00 inside entropy data). */
static int jpeg_markers(const uint8_t *j, size_t len, size_t *at, uint8_t *kind, int max) {
    int n = 0;
    size_t i = 2;
    at[n] = 0, kind[n++] = 0xD8;
    while (i + 2 <= len && n < max) {
        if (j[i] != 0xFF) return -1;
        uint8_t m = j[i + 1];
        at[n] = i, kind[n++] = m;
        if (m == 0xD9 || i + 4 > len) break;
        size_t seg = 2 + ((size_t)j[i + 2] << 8 | j[i + 3]);
        i += seg;
        if (m == 0xDA) /* entropy-coded data up to the next marker that is not FF00 or RSTn */
            while (i + 1 < len && !(j[i] == 0xFF && j[i + 1] != 0 && !(j[i + 1] >= 0xD0 && j[i + 1] <= 0xD7))) i++;
    }
    return n;
}

static void test_bad_jpegs(void) {
    lt_err err = {0};
    char *eagle;
    size_t elen;
    if (lt_file_read_all(lt_test_path("assets/yolo/eagle.jpg"), 1 << 22, &eagle, &elen, &err) != LT_OK) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    /* truncated: in the header, in the scan, one byte short */
    CHECK(fails_clearly(eagle, 2, "cut2.jpg", NULL, NULL));
    CHECK(fails_clearly(eagle, 200, "cut200.jpg", NULL, NULL));
    CHECK(fails_clearly(eagle, elen / 2, "half.jpg", "truncated JPEG", NULL));
    CHECK(fails_clearly(eagle, elen - 2, "noeoi.jpg", "truncated JPEG", NULL) ||
          fails_or_decodes(eagle, elen - 2, "noeoi.jpg", 773, 512));
    int clean = 0, tries = 0;
    for (size_t l = 0; l < elen; l += elen / 61 + 1, tries++) clean += fails_or_decodes(eagle, l, "cut.jpg", 773, 512);
    CHECKF(clean == tries, "%d of %d truncations handled", clean, tries);
    /* garbage after a JPEG signature */
    uint8_t junk[300] = {0xFF, 0xD8, 0xFF};
    for (int i = 3; i < 300; i++) junk[i] = (uint8_t)(i * 131 + 7);
    CHECK(fails_clearly(junk, sizeof junk, "junk.jpg", NULL, NULL));
    /* mutated files: single bytes changed anywhere (markers, tables, entropy data) */
    lt_test_rng r;
    lt_test_rng_seed(&r, 99);
    uint8_t *m = malloc(elen);
    clean = 0;
    int n_mut = 150;
    for (int t = 0; t < n_mut; t++) {
        memcpy(m, eagle, elen);
        int flips = 1 + (int)(lt_test_u32(&r) % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = t < 100 ? lt_test_u32(&r) % 700 : lt_test_u32(&r) % elen; /* mostly the header */
            m[at] = (uint8_t)lt_test_u32(&r);
        }
        clean += fails_or_decodes(m, elen, "mutated.jpg", -1, -1); /* a mutated size may decode too */
    }
    CHECKF(clean == n_mut, "%d of %d mutated JPEGs handled", clean, n_mut);
    free(m);
    lt_free(eagle);

    /* the 139-byte JPEG: Huffman code counts summing to 4080 (stb 2.27 writes past its 257-entry
     * size table while building it) */
    uint8_t h[139], *p = h;
    *p++ = 0xFF, *p++ = 0xD8;
    *p++ = 0xFF, *p++ = 0xDB, *p++ = 0, *p++ = 67, *p++ = 0; /* DQT 0, all ones */
    for (int i = 0; i < 64; i++) *p++ = 1;
    const uint8_t sof[] = {0xFF, 0xC0, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0};
    memcpy(p, sof, sizeof sof), p += sizeof sof;
    *p++ = 0xFF, *p++ = 0xC4, *p++ = 0, *p++ = 19, *p++ = 0x00; /* DHT DC 0: 16 counts */
    for (int i = 0; i < 16; i++) *p++ = 0xFF;
    const uint8_t sos[] = {0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0};
    memcpy(p, sos, sizeof sos), p += sizeof sos;
    while (p < h + 137) *p++ = 0x55;
    *p++ = 0xFF, *p++ = 0xD9;
    CHECK(p - h == 139);
    CHECK(fails_clearly(h, sizeof h, "huffman139.jpg", "Huffman", NULL));
    /* an oversubscribed table within 256 codes: three codes of length 1 */
    uint8_t o[160];
    size_t at = (size_t)(sizeof sof + 2 + 69);
    memcpy(o, h, at);
    const uint8_t dht[] = {0xFF, 0xC4, 0, 22, 0x00, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3};
    memcpy(o + at, dht, sizeof dht), at += sizeof dht;
    memcpy(o + at, sos, sizeof sos), at += sizeof sos;
    for (int i = 0; i < 20; i++) o[at++] = 0x55;
    o[at++] = 0xFF, o[at++] = 0xD9;
    CHECK(fails_clearly(o, at, "oversubscribed.jpg", NULL, NULL));

    /* coefficients at the extremes of a short: decodes, defined (UBSan checks the IDCT) */
    size_t xlen;
    uint8_t *xj = extreme_jpeg(&xlen);
    CHECK(fails_or_decodes(xj, xlen, "extreme.jpg", 16, 16));
    lt_image xi;
    CHECK(lt_image_load_mem(&xi, xj, xlen, "extreme.jpg", &err) == LT_OK && xi.w == 16);
    lt_image_free(&xi);
    free(xj);

    /* progressive JPEGs with scans missing */
    jgen g = {"progressive", 64, 48, JCS_RGB, JCS_UNKNOWN, {{2, 2}, {1, 1}, {1, 1}}, 85, true, false, false};
    size_t plen;
    uint8_t *pj = make_jpeg(&g, &plen);
    size_t mk[64];
    uint8_t kind[64];
    int nm = jpeg_markers(pj, plen, mk, kind, 64);
    int sos_i[32], n_sos = 0;
    for (int i = 0; i < nm; i++)
        if (kind[i] == 0xDA && n_sos < 32) sos_i[n_sos++] = i;
    CHECKF(nm > 0 && n_sos >= 6 && kind[nm - 1] == 0xD9, "%d markers, %d scans", nm, n_sos);
    if (nm > 0 && n_sos >= 6) {
        uint8_t *v = malloc(plen);
        /* the first two scans, then EOI: decodes, the same every time (no uninitialised memory) */
        size_t keep = mk[sos_i[2]];
        memcpy(v, pj, keep);
        v[keep] = 0xFF, v[keep + 1] = 0xD9;
        lt_image a, b;
        CHECKF(lt_image_load_mem(&a, v, keep + 2, "twoscans.jpg", &err) == LT_OK, "%s", err.msg);
        for (int round = 0; round < 2; round++) { /* dirty the heap between the decodes */
            void *junkp[64];
            for (int i = 0; i < 64; i++) junkp[i] = malloc(32768), memset(junkp[i], round ? 0x5A : 0xA5, 32768);
            for (int i = 0; i < 64; i++) free(junkp[i]);
        }
        CHECK(lt_image_load_mem(&b, v, keep + 2, "twoscans.jpg", &err) == LT_OK);
        CHECK(a.data && b.data && a.w == 64 && !memcmp(a.data, b.data, sizeof(float) * 3 * 64 * 48));
        lt_image_free(&b);
        /* every scan but the last two: decodes; close to the full image */
        keep = mk[sos_i[n_sos - 2]];
        memcpy(v, pj, keep);
        v[keep] = 0xFF, v[keep + 1] = 0xD9;
        lt_image full;
        CHECK(lt_image_load_mem(&b, v, keep + 2, "lessscans.jpg", &err) == LT_OK);
        CHECK(lt_image_load_mem(&full, pj, plen, "full.jpg", &err) == LT_OK);
        double mad = 0;
        for (size_t i = 0; b.data && full.data && i < (size_t)3 * 64 * 48; i++) mad += fabs(b.data[i] - full.data[i]);
        mad /= 3 * 64 * 48;
        CHECKF(b.data && mad < 0.05, "missing refinement scans: mean difference %g", mad);
        lt_image_free(&a), lt_image_free(&b), lt_image_free(&full);
        /* the DC scan removed, the AC scans kept */
        size_t dc0 = mk[sos_i[0]], dc1 = mk[sos_i[1]];
        memcpy(v, pj, dc0);
        memcpy(v + dc0, pj + dc1, plen - dc1);
        CHECK(fails_or_decodes(v, plen - (dc1 - dc0), "nodc.jpg", 64, 48));
        /* cut right after a scan, without EOI: truncated */
        CHECK(fails_clearly(pj, mk[sos_i[3]], "cutscan.jpg", "truncated JPEG", NULL));
        /* the last refinement scan repeated: a progression libjpeg calls bogus */
        size_t s0 = mk[sos_i[n_sos - 1]], s1 = mk[nm - 1], one = s1 - s0;
        uint8_t *rep = malloc(s0 + one * 3 + 2);
        memcpy(rep, pj, s0);
        for (int i = 0; i < 3; i++) memcpy(rep + s0 + one * i, pj + s0, one);
        rep[s0 + one * 3] = 0xFF, rep[s0 + one * 3 + 1] = 0xD9;
        CHECK(fails_or_decodes(rep, s0 + one * 3 + 2, "repeated.jpg", 64, 48));
        free(rep);
        free(v);
    }
    free(pj);

    /* a scan bomb: a sequential file with one scan per component, its last scan repeated 600
     * times (each a valid scan): refused after LT_JPEG_MAX_SCANS, not decoded 600 times */
    jgen sg = {"separate scans", 64, 48, JCS_RGB, JCS_UNKNOWN, {{1, 1}, {1, 1}, {1, 1}}, 85, false, false, false, true};
    size_t slen;
    uint8_t *sj = make_jpeg(&sg, &slen);
    CHECK(diff_from_stb(sj, slen, "separate scans") == 0);
    nm = jpeg_markers(sj, slen, mk, kind, 64);
    int last_sos = -1;
    for (int i = 0; i < nm; i++)
        if (kind[i] == 0xDA) last_sos = i;
    CHECKF(nm > 0 && last_sos > 0 && kind[nm - 1] == 0xD9, "%d markers", nm);
    if (nm > 0 && last_sos > 0) {
        size_t s0 = mk[last_sos], one = mk[nm - 1] - s0;
        uint8_t *bomb = malloc(s0 + one * 600 + 2);
        memcpy(bomb, sj, s0);
        for (int i = 0; i < 600; i++) memcpy(bomb + s0 + one * i, sj + s0, one);
        bomb[s0 + one * 600] = 0xFF, bomb[s0 + one * 600 + 1] = 0xD9;
        double t0 = now_s();
        CHECK(fails_clearly(bomb, s0 + one * 600 + 2, "bomb.jpg", "more than 500 scans", NULL));
        CHECKF(now_s() - t0 < 20, "scan bomb: %.1f s", now_s() - t0);
        /* 100 repeats are within the limit: the last scan wins, as in any sequential file */
        bomb[s0 + one * 100] = 0xFF, bomb[s0 + one * 100 + 1] = 0xD9;
        CHECK(fails_or_decodes(bomb, s0 + one * 100 + 2, "repeats.jpg", 64, 48));
        free(bomb);
    }
    free(sj);

    /* a JPEG declaring 20000x20000 in a 200-byte file: over the budget, from the header */
    uint8_t big[200];
    memcpy(big, h, sizeof h);
    big[2 + 69 + 5] = 20000 >> 8, big[2 + 69 + 6] = 20000 & 255; /* SOF height */
    big[2 + 69 + 7] = 20000 >> 8, big[2 + 69 + 8] = 20000 & 255; /* SOF width */
    /* a valid DHT instead of the overflowing one, so that only the size is wrong */
    size_t dh = 2 + 69 + sizeof sof;
    const uint8_t okdht[] = {0xFF, 0xC4, 0, 20, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(big + dh, okdht, sizeof okdht);
    memcpy(big + dh + sizeof okdht, sos, sizeof sos);
    size_t bl = dh + sizeof okdht + sizeof sos;
    big[bl++] = 0, big[bl++] = 0xFF, big[bl++] = 0xD9;
    int64_t rss0 = maxrss_kb();
    CHECK(fails_clearly(big, bl, "wide.jpg", "image is 20000x20000 = 400.0M pixels, over the budget of 67.1M pixels",
                        NULL));
    CHECKF(maxrss_kb() - rss0 < 64 * 1024, "refusing wide.jpg grew the process by %lld KiB",
           (long long)(maxrss_kb() - rss0));
}

/* ---- hostile PNGs ------------------------------------------------------------------------------- */

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static size_t put_chunk(uint8_t *dst, const char *type, const uint8_t *data, uint32_t n) {
    dst[0] = (uint8_t)(n >> 24), dst[1] = (uint8_t)(n >> 16), dst[2] = (uint8_t)(n >> 8), dst[3] = (uint8_t)n;
    memcpy(dst + 4, type, 4);
    if (n) memcpy(dst + 8, data, n);
    uint32_t c = crc32_png(dst + 4, 4 + n);
    dst[8 + n] = (uint8_t)(c >> 24), dst[9 + n] = (uint8_t)(c >> 16), dst[10 + n] = (uint8_t)(c >> 8),
    dst[11 + n] = (uint8_t)c;
    return 12 + n;
}

/* data as a zlib stream of one stored (uncompressed) deflate block; returns its length. */
static size_t stored_zlib(uint8_t *out, const uint8_t *data, size_t n) {
    size_t k = 0;
    out[k++] = 0x78, out[k++] = 0x01, out[k++] = 0x01; /* zlib header; final stored block */
    out[k++] = (uint8_t)n, out[k++] = (uint8_t)(n >> 8), out[k++] = (uint8_t)~n, out[k++] = (uint8_t)(~n >> 8);
    memcpy(out + k, data, n), k += n;
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) a = (a + data[i]) % 65521, b = (b + a) % 65521;
    uint32_t ad = b << 16 | a;
    out[k++] = (uint8_t)(ad >> 24), out[k++] = (uint8_t)(ad >> 16), out[k++] = (uint8_t)(ad >> 8), out[k++] = (uint8_t)ad;
    return k;
}

/* A tiny PNG declaring w x h RGB: IHDR, a few bytes of zlib data, IEND. */
static size_t tiny_png(uint8_t *out, uint32_t w, uint32_t h) {
    memcpy(out, "\x89PNG\r\n\x1a\n", 8);
    size_t n = 8;
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                        8, 2, 0, 0, 0};
    n += put_chunk(out + n, "IHDR", ihdr, 13);
    const uint8_t idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01}; /* zlib of one zero byte */
    n += put_chunk(out + n, "IDAT", idat, sizeof idat);
    n += put_chunk(out + n, "IEND", NULL, 0);
    return n;
}

static void test_bad_pngs(void) {
    lt_err err = {0};
    uint8_t buf[256];
    /* the repro: 16384x16384 in a tiny file used to take 3.9 GB */
    size_t n = tiny_png(buf, 16384, 16384);
    int64_t rss0 = maxrss_kb();
    double t0 = now_s();
    lt_status code;
    CHECK(fails_clearly(buf, n, "huge.png", "huge.png: image is 16384x16384 = 268.4M pixels, over the budget of 67.1M "
                                            "pixels; downscale it, or raise the budget (--max-pixels",
                        &code));
    CHECK(code == LT_EUNSUPPORTED);
    CHECKF(maxrss_kb() - rss0 < 64 * 1024 && now_s() - t0 < 1, "refusing huge.png: +%lld KiB, %.2f s",
           (long long)(maxrss_kb() - rss0), now_s() - t0);
    n = tiny_png(buf, 40000, 10);
    CHECK(fails_clearly(buf, n, "wide.png", "over the limit of 32768 pixels per side", NULL));
    n = tiny_png(buf, 0x7fffffff, 0x7fffffff);
    CHECK(fails_clearly(buf, n, "max.png", "2147483647x2147483647", NULL));
    /* the budget is a parameter: a 37x29 image against 1000 and 1073 pixels */
    size_t len;
    uint8_t *p = make_png(37, 29, PNG_COLOR_TYPE_RGB, 8, false, false, 0, 6, false, &len);
    lt_image im;
    CHECK(lt_image_load_mem_max(&im, p, len, "small.png", 1000, &err) == LT_EUNSUPPORTED &&
          strstr(err.msg, "image is 37x29 = 1073 pixels, over the budget of 1000 pixels") && !im.data);
    CHECKF(lt_image_load_mem_max(&im, p, len, "small.png", 37 * 29, &err) == LT_OK && im.w == 37, "%s", err.msg);
    lt_image_free(&im);
    CHECK(lt_image_load_mem_max(&im, p, len, "small.png", -5, &err) == LT_EINVAL && strstr(err.msg, "budget"));
    /* truncated anywhere, and corrupt bytes */
    int clean = 0, tries = 0;
    for (size_t l = 1; l < len; l += 7, tries++) {
        lt_status s;
        clean += fails_clearly(p, l, "cut.png", NULL, &s);
    }
    CHECKF(clean == tries, "%d of %d truncated PNGs refused", clean, tries);
    CHECK(fails_clearly(p, len - 20, "short.png", "truncated PNG", NULL));
    uint8_t *m = malloc(len);
    lt_test_rng r;
    lt_test_rng_seed(&r, 7);
    clean = 0;
    for (int t = 0; t < 100; t++) {
        memcpy(m, p, len);
        m[8 + lt_test_u32(&r) % (len - 8)] ^= (uint8_t)(1 + lt_test_u32(&r) % 255);
        clean += fails_or_decodes(m, len, "flipped.png", 37, 29);
    }
    CHECKF(clean == 100, "%d of 100 corrupted PNGs handled", clean);
    free(m);
    free(p);
    /* a palette image whose indices run past its palette */
    uint8_t pal[256];
    n = 8;
    memcpy(pal, "\x89PNG\r\n\x1a\n", 8);
    const uint8_t ihdr[13] = {0, 0, 0, 16, 0, 0, 0, 4, 8, 3, 0, 0, 0};
    n += put_chunk(pal + n, "IHDR", ihdr, 13);
    const uint8_t plte[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9};
    n += put_chunk(pal + n, "PLTE", plte, 12);
    uint8_t raw[4 * 17], z[4 * 17 + 11];
    for (int i = 0; i < 4 * 17; i++) raw[i] = i % 17 ? (uint8_t)(i * 37) : 0; /* filter 0, indices up to 255 */
    n += put_chunk(pal + n, "IDAT", z, (uint32_t)stored_zlib(z, raw, sizeof raw));
    n += put_chunk(pal + n, "IEND", NULL, 0);
    CHECK(fails_or_decodes(pal, n, "palette.png", 16, 4));
    /* other formats: named, refused */
    CHECK(fails_clearly("GIF89a\x01\x00\x01\x00", 10, "anim.gif", "a GIF image; lathe reads JPEG and PNG", &code) &&
          code == LT_EUNSUPPORTED);
    CHECK(fails_clearly("BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18, "pic.bmp", "a BMP image", NULL));
    CHECK(fails_clearly("not an image", 12, "text.png", "not a readable image", &code) && code == LT_EFORMAT);
}

/* ---- out of memory: the message names the image once (it used to be formatted into itself) ---- */

static void test_oom_message(void) {
#ifdef LT_TEST_ASAN
    fprintf(stderr, "test_image: the out-of-memory check needs an address-space limit; skipped under ASan\n");
#else
    uint8_t buf[256];
    size_t n = tiny_png(buf, 8192, 8192); /* within the budget: 768 MiB of floats */
    struct rlimit old, lim;
    getrlimit(RLIMIT_AS, &old);
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1) pages = 0;
        fclose(f);
    }
    lim = old;
    lim.rlim_cur = (rlim_t)pages * 4096 + (256u << 20);
    if (pages <= 0 || setrlimit(RLIMIT_AS, &lim) != 0) {
        fprintf(stderr, "test_image: cannot limit the address space; out-of-memory check skipped\n");
        return;
    }
    lt_image im;
    lt_err err = {0};
    size_t used = lt_mem_used();
    lt_status s = lt_image_load_mem(&im, buf, n, "big.png", &err);
    setrlimit(RLIMIT_AS, &old);
    CHECKF(s == LT_ENOMEM && !strcmp(err.msg, "big.png: out of memory for a 8192x8192 image (768 MiB as floats)") &&
               !im.data && lt_mem_used() == used,
           "status %d, '%s'", s, err.msg);
    lt_image_free(&im);
#endif
}

int main(void) {
    test_jpeg_exact();
    test_png_exact();
    test_bad_jpegs();
    test_bad_pngs();
    test_oom_message();
    return lt_test_done();
}
