/* image.c - images in memory: allocation, the pixel budget, darknet-exact resizing, drawing
 * and PNG output (see image.h). Loading a file (choosing the decoder) is image_load.c.
 *
 * Decoding. darknet reads images with stb_image, and lathe reproduces darknet's detections only
 * when the network sees the same floats, so the pixels must be stb_image's. stb_image itself
 * (Debian's 2.27) is not safe on hostile files: a 139-byte JPEG overflows its Huffman size
 * table, progressive JPEGs with missing scans read uninitialised coefficients, and it has no
 * notion of a budget. lathe decodes instead with Debian's security-maintained libraries:
 * - JPEG (image_jpeg.c): libjpeg-turbo parses the file and entropy-decodes the coefficients
 *   (the hostile-input part), and stb_image's own dequantize/IDCT/upsampling/colour arithmetic,
 *   transcribed, makes the pixels. libjpeg-turbo's full decode cannot be used as it is: with
 *   its most stb-like settings (ISLOW IDCT, fancy upsampling) it differs from stb in 0.7-13% of
 *   the bytes of the bundled images (by up to 3 levels); the transcription is byte-identical.
 * - PNG (image_png.c): libpng, with transforms that give stb's 8-bit RGB (PNG is lossless).
 * Why not a newer stb_image: a vendored single-header decoder is still parsing hostile input
 * in-process with no maintainer shipping its security fixes to this machine; libjpeg-turbo
 * and libpng get Debian's security updates, and are what every other program here trusts.
 * Every decode first reads the header and checks it against the pixel budget (image.h).
 * GIF, BMP, PNM and TGA (which stb also read) are refused by name. stb_image_write (Debian's
 * libstb, header-only) still writes PNGs: it never reads untrusted bytes.
 * resize and letterbox repeat darknet's image.c arithmetic operation for operation, because
 * detections are only reproducible when the network sees the same input floats.
 * Leaves out: anything but 8-bit output; 16-bit PNGs are reduced to their high byte, as stb does.
 */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"
#include "image_impl.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBIW_MALLOC(sz) lt_malloc(sz)
#define STBIW_REALLOC(p, sz) lt_realloc(p, sz)
#define STBIW_FREE(p) lt_free(p)
#include "stb_quiet.h"
LT_STB_QUIET_BEGIN
#include <stb_image_write.h>
LT_STB_QUIET_END

/* ---- basics ---------------------------------------------------------------------------------- */

lt_status lt_image_alloc(lt_image *out, int w, int h, int c, float value, lt_err *err) {
    memset(out, 0, sizeof *out);
    if (w < 1 || h < 1 || c < 1 || (int64_t)w * h * c > (1ll << 31))
        return lt_err_set(err, LT_EINVAL, "image size %dx%dx%d out of range", w, h, c);
    out->data = lt_malloc(sizeof(float) * (size_t)w * h * c);
    if (!out->data) return lt_err_set(err, LT_ENOMEM, "out of memory for a %dx%d image", w, h);
    out->w = w, out->h = h, out->c = c;
    for (size_t i = 0; i < (size_t)w * h * c; i++) out->data[i] = value;
    return LT_OK;
}

void lt_image_free(lt_image *im) {
    if (!im) return;
    lt_free(im->data);
    memset(im, 0, sizeof *im);
}

/* ---- loading --------------------------------------------------------------------------------- */

/* "268.4M" for a million pixels and more, the exact count below. */
static void pixel_count(char *buf, size_t cap, int64_t n) {
    if (n >= 1000000) snprintf(buf, cap, "%.1fM", (double)n / 1e6);
    else snprintf(buf, cap, "%lld", (long long)n);
}

lt_status lt_image_check_budget(int64_t w, int64_t h, int64_t max_pixels, const char *name, lt_err *err) {
    if (w < 1 || h < 1) return lt_err_set(err, LT_EFORMAT, "%s: image is %lldx%lld: empty", name, (long long)w,
                                          (long long)h);
    if (w > LT_IMAGE_MAX_SIDE || h > LT_IMAGE_MAX_SIDE)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: image is %lldx%lld, over the limit of %d pixels per side", name,
                          (long long)w, (long long)h, LT_IMAGE_MAX_SIDE);
    if (w * h > max_pixels) {
        char have[32], budget[32];
        pixel_count(have, sizeof have, w * h);
        pixel_count(budget, sizeof budget, max_pixels);
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "%s: image is %lldx%lld = %s pixels, over the budget of %s pixels; downscale it, or raise "
                          "the budget (--max-pixels, at most %lld)",
                          name, (long long)w, (long long)h, have, budget, (long long)LT_IMAGE_MAX_PIXELS_CAP);
    }
    return LT_OK;
}

lt_status lt_image_alloc_named(lt_image *out, int w, int h, const char *name, lt_err *err) {
    lt_status s = lt_image_alloc(out, w, h, 3, 0.f, err);
    if (s == LT_ENOMEM)
        return lt_err_set(err, s, "%s: out of memory for a %dx%d image (%.0f MiB as floats)", name, w, h,
                          (double)w * h * 3 * sizeof(float) / (1 << 20));
    if (s != LT_OK) return lt_err_prefix(err, "%s", name);
    return LT_OK;
}

void lt_image_put_rgb8_row(lt_image *out, int y, const uint8_t *px) {
    /* darknet's load_image_stb: data[k*w*h + j*w + i] = px[j*w*c + i*c + k] / 255. */
    int w = out->w;
    for (int k = 0; k < 3; k++) {
        float *dst = out->data + (size_t)k * w * out->h + (size_t)y * w;
        for (int i = 0; i < w; i++) dst[i] = (float)px[(size_t)i * 3 + k] / 255.f;
    }
}

/* ---- darknet resize / letterbox ------------------------------------------------------------ */

static inline float px_get(const lt_image *m, int x, int y, int c) {
    return m->data[(size_t)c * m->h * m->w + (size_t)y * m->w + x];
}
static inline void px_set(lt_image *m, int x, int y, int c, float v) {
    m->data[(size_t)c * m->h * m->w + (size_t)y * m->w + x] = v;
}
static inline void px_add(lt_image *m, int x, int y, int c, float v) {
    m->data[(size_t)c * m->h * m->w + (size_t)y * m->w + x] += v;
}

lt_status lt_image_resize(lt_image *out, const lt_image *im, int w, int h, lt_err *err) {
    LT_TRY(lt_image_alloc(out, w, h, im->c, 0.f, err));
    if (im->w == w && im->h == h) {
        memcpy(out->data, im->data, sizeof(float) * (size_t)w * h * im->c);
        return LT_OK;
    }
    lt_image part;
    lt_status s = lt_image_alloc(&part, w, im->h, im->c, 0.f, err);
    if (s != LT_OK) {
        lt_image_free(out);
        return s;
    }
    /* w == 1 or h == 1 divide by zero in darknet (inf scale, then never used past index 0) */
    float w_scale = w > 1 ? (float)(im->w - 1) / (w - 1) : 0.f;
    float h_scale = h > 1 ? (float)(im->h - 1) / (h - 1) : 0.f;
    for (int k = 0; k < im->c; ++k)
        for (int r = 0; r < im->h; ++r)
            for (int c = 0; c < w; ++c) {
                float val = 0;
                if (c == w - 1 || im->w == 1) {
                    val = px_get(im, im->w - 1, r, k);
                } else {
                    float sx = c * w_scale;
                    int ix = (int)sx;
                    float dx = sx - ix;
                    val = (1 - dx) * px_get(im, ix, r, k) + dx * px_get(im, ix + 1, r, k);
                }
                px_set(&part, c, r, k, val);
            }
    for (int k = 0; k < im->c; ++k)
        for (int r = 0; r < h; ++r) {
            float sy = r * h_scale;
            int iy = (int)sy;
            float dy = sy - iy;
            for (int c = 0; c < w; ++c) px_set(out, c, r, k, (1 - dy) * px_get(&part, c, iy, k));
            if (r == h - 1 || im->h == 1) continue;
            for (int c = 0; c < w; ++c) px_add(out, c, r, k, dy * px_get(&part, c, iy + 1, k));
        }
    lt_image_free(&part);
    return LT_OK;
}

lt_status lt_image_letterbox(lt_image *out, const lt_image *im, int w, int h, lt_err *err) {
    int new_w = im->w, new_h = im->h;
    if (((float)w / im->w) < ((float)h / im->h)) {
        new_w = w;
        new_h = (im->h * w) / im->w;
    } else {
        new_h = h;
        new_w = (im->w * h) / im->h;
    }
    if (new_w < 1) new_w = 1;
    if (new_h < 1) new_h = 1;
    lt_image r;
    LT_TRY(lt_image_resize(&r, im, new_w, new_h, err));
    lt_status s = lt_image_alloc(out, w, h, im->c, .5f, err);
    if (s == LT_OK) {
        int dx = (w - new_w) / 2, dy = (h - new_h) / 2;
        for (int k = 0; k < im->c; k++)
            for (int y = 0; y < new_h; y++)
                for (int x = 0; x < new_w; x++) px_set(out, dx + x, dy + y, k, px_get(&r, x, y, k));
    }
    lt_image_free(&r);
    return s;
}

lt_status lt_image_crop(lt_image *out, const lt_image *in, int x, int y, int w, int h, lt_err *err) {
    LT_TRY(lt_image_alloc(out, w, h, in->c, .5f, err));
    for (int k = 0; k < in->c; k++)
        for (int j = 0; j < h; j++) {
            int sy = y + j;
            if (sy < 0 || sy >= in->h) continue;
            for (int i = 0; i < w; i++) {
                int sx = x + i;
                if (sx >= 0 && sx < in->w) px_set(out, i, j, k, px_get(in, sx, sy, k));
            }
        }
    return LT_OK;
}

/* ---- drawing --------------------------------------------------------------------------------- */

void lt_image_class_color(int class_id, int classes, float rgb[3]) {
    static const float colors[6][3] = {{1, 0, 1}, {0, 0, 1}, {0, 1, 1}, {0, 1, 0}, {1, 1, 0}, {1, 0, 0}};
    if (classes < 1) classes = 1;
    int offset = (int)(((int64_t)class_id * 123457) % classes);
    if (offset < 0) offset += classes; /* a negative id must not index before the table */
    float ratio = ((float)offset / classes) * 5;
    int i = (int)floorf(ratio), j = (int)ceilf(ratio);
    ratio -= i;
    if (i > 5) i = 5;
    if (j > 5) j = 5;
    for (int c = 0; c < 3; c++) rgb[c] = (1 - ratio) * colors[i][2 - c] + ratio * colors[j][2 - c];
}

void lt_image_fill_rect(lt_image *im, int l, int t, int r, int b, const float rgb[3]) {
    if (l < 0) l = 0;
    if (t < 0) t = 0;
    if (r >= im->w) r = im->w - 1;
    if (b >= im->h) b = im->h - 1;
    for (int k = 0; k < im->c && k < 3; k++)
        for (int y = t; y <= b; y++)
            for (int x = l; x <= r; x++) px_set(im, x, y, k, rgb[k]);
}

void lt_image_draw_box(lt_image *im, int l, int t, int r, int b, int th, const float rgb[3]) {
    for (int i = 0; i < th; i++) {
        lt_image_fill_rect(im, l + i, t + i, r - i, t + i, rgb);
        lt_image_fill_rect(im, l + i, b - i, r - i, b - i, rgb);
        lt_image_fill_rect(im, l + i, t + i, l + i, b - i, rgb);
        lt_image_fill_rect(im, r - i, t + i, r - i, b - i, rgb);
    }
}

/* 5x8 glyphs for ASCII 32..126, column-major, bit 0 at the top (the classic 5x7 LCD font). */
static const uint8_t k_font[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x56, 0x20, 0x50}, {0x00, 0x08, 0x07, 0x03, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x2A, 0x1C, 0x7F, 0x1C, 0x2A}, {0x08, 0x08, 0x3E, 0x08, 0x08},
    {0x00, 0x80, 0x70, 0x30, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x00, 0x60, 0x60, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
    {0x72, 0x49, 0x49, 0x49, 0x46}, {0x21, 0x41, 0x49, 0x4D, 0x33}, {0x18, 0x14, 0x12, 0x7F, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x31}, {0x41, 0x21, 0x11, 0x09, 0x07},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x46, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x00, 0x14, 0x00, 0x00},
    {0x00, 0x40, 0x34, 0x00, 0x00}, {0x00, 0x08, 0x14, 0x22, 0x41}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x59, 0x09, 0x06}, {0x3E, 0x41, 0x5D, 0x59, 0x4E},
    {0x7C, 0x12, 0x11, 0x12, 0x7C}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
    {0x7F, 0x41, 0x41, 0x41, 0x3E}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},
    {0x3E, 0x41, 0x41, 0x51, 0x73}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
    {0x7F, 0x02, 0x1C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
    {0x26, 0x49, 0x49, 0x49, 0x32}, {0x03, 0x01, 0x7F, 0x01, 0x03}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x03, 0x04, 0x78, 0x04, 0x03}, {0x61, 0x59, 0x49, 0x4D, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x41},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x41, 0x7F}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x03, 0x07, 0x08, 0x00}, {0x20, 0x54, 0x54, 0x78, 0x40},
    {0x7F, 0x28, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x28}, {0x38, 0x44, 0x44, 0x28, 0x7F},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x00, 0x08, 0x7E, 0x09, 0x02}, {0x18, 0xA4, 0xA4, 0x9C, 0x78},
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x40, 0x3D, 0x00},
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x78, 0x04, 0x78},
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0xFC, 0x18, 0x24, 0x24, 0x18},
    {0x18, 0x24, 0x24, 0x18, 0xFC}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x24},
    {0x04, 0x04, 0x3F, 0x44, 0x24}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x4C, 0x90, 0x90, 0x90, 0x7C},
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x77, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x02, 0x01, 0x02, 0x04, 0x02},
};

int lt_image_text_width(const char *text, int scale) { return (int)strlen(text) * 6 * scale; }

int lt_image_draw_text(lt_image *im, int x, int y, const char *text, int scale, const float rgb[3]) {
    int x0 = x;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++, x += 6 * scale) {
        int ch = (*p >= 32 && *p <= 126) ? *p - 32 : '?' - 32;
        for (int col = 0; col < 5; col++)
            for (int row = 0; row < 8; row++)
                if (k_font[ch][col] >> row & 1)
                    lt_image_fill_rect(im, x + col * scale, y + row * scale, x + col * scale + scale - 1,
                                       y + row * scale + scale - 1, rgb);
    }
    return x - x0;
}

/* ---- output ---------------------------------------------------------------------------------- */

lt_status lt_image_to_rgb8(const lt_image *im, uint8_t **out, lt_err *err) {
    *out = NULL;
    if (!im->data || im->c < 1) return lt_err_set(err, LT_EINVAL, "empty image");
    uint8_t *b = lt_malloc((size_t)im->w * im->h * 3);
    if (!b) return lt_err_set(err, LT_ENOMEM, "out of memory for a %dx%d image", im->w, im->h);
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            for (int k = 0; k < 3; k++) {
                float v = px_get(im, x, y, im->c >= 3 ? k : 0);
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                b[((size_t)y * im->w + x) * 3 + k] = (uint8_t)(v * 255.f + .5f);
            }
    *out = b;
    return LT_OK;
}

static void png_write_cb(void *ctx, void *data, int size) {
    lt_afile *af = ctx;
    if (af->f && fwrite(data, 1, (size_t)size, af->f) != (size_t)size) {
        /* remembered through ferror(af->f) */
    }
}

lt_status lt_image_write_png(const lt_image *im, const char *path, lt_err *err) {
    uint8_t *rgb;
    LT_TRY(lt_image_to_rgb8(im, &rgb, err));
    lt_afile af;
    lt_status s = lt_afile_open(&af, path, err);
    if (s != LT_OK) {
        lt_free(rgb);
        return s;
    }
    int ok = stbi_write_png_to_func(png_write_cb, &af, im->w, im->h, 3, rgb, im->w * 3);
    lt_free(rgb);
    return lt_afile_close(&af, ok && !ferror(af.f), err);
}

/* ---- terminal preview ------------------------------------------------------------------------ */

lt_status lt_image_to_cells(const lt_image *im, int max_cols, int max_rows, lt_image_cells *out, lt_err *err) {
    memset(out, 0, sizeof *out);
    if (!im->data || im->c < 1) return lt_err_set(err, LT_EINVAL, "empty image");
    if (max_cols < 1 || max_rows < 1) return lt_err_set(err, LT_EINVAL, "no room for a preview (%dx%d cells)", max_cols,
                                                        max_rows);
    double scale = fmin((double)max_cols / im->w, 2.0 * max_rows / im->h);
    if (scale > 1) scale = floor(scale); /* enlarging: every pixel the same size */
    int pw = (int)(im->w * scale), ph = (int)(im->h * scale);
    if (pw < 1) pw = 1;
    if (ph < 2) ph = 2;
    if (pw > max_cols) pw = max_cols;
    int rows = (ph + 1) / 2;
    if (rows > max_rows) rows = max_rows;
    out->top = lt_malloc((size_t)rows * pw * 3);
    out->bottom = lt_malloc((size_t)rows * pw * 3);
    if (!out->top || !out->bottom) {
        lt_image_cells_free(out);
        return lt_err_set(err, LT_ENOMEM, "out of memory for a preview");
    }
    out->cols = pw, out->rows = rows;
    for (int py = 0; py < 2 * rows; py++) {
        int y0 = (int)((int64_t)py * im->h / (2 * rows)), y1 = (int)((int64_t)(py + 1) * im->h / (2 * rows));
        if (y1 <= y0) y1 = y0 + 1;
        for (int px = 0; px < pw; px++) {
            int x0 = (int)((int64_t)px * im->w / pw), x1 = (int)((int64_t)(px + 1) * im->w / pw);
            if (x1 <= x0) x1 = x0 + 1;
            uint8_t *dst = (py & 1 ? out->bottom : out->top) + ((size_t)(py / 2) * pw + px) * 3;
            for (int k = 0; k < 3; k++) {
                int ch = im->c >= 3 ? k : 0;
                double sum = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) sum += px_get(im, x, y, ch);
                double v = sum / ((double)(y1 - y0) * (x1 - x0));
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                dst[k] = (uint8_t)(v * 255 + .5);
            }
        }
    }
    return LT_OK;
}

void lt_image_cells_free(lt_image_cells *c) {
    if (!c) return;
    lt_free(c->top);
    lt_free(c->bottom);
    memset(c, 0, sizeof *c);
}
