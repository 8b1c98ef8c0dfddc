/* image.c - image loading, darknet-exact resizing, drawing and PNG output (see image.h).
 *
 * stb_image and stb_image_write (Debian's libstb, header-only) are compiled here, once.
 * resize and letterbox repeat darknet's image.c arithmetic operation for operation, because
 * detections are only reproducible when the network sees the same input floats.
 * Leaves out: anything but 8-bit decoding; 16-bit PNGs are reduced to 8 bits by stb.
 */
#include "image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STBI_MALLOC(sz) lt_malloc(sz)
#define STBI_REALLOC(p, sz) lt_realloc(p, sz)
#define STBI_FREE(p) lt_free(p)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBIW_MALLOC(sz) lt_malloc(sz)
#define STBIW_REALLOC(p, sz) lt_realloc(p, sz)
#define STBIW_FREE(p) lt_free(p)
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

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

static lt_status from_rgb8(lt_image *out, const unsigned char *px, int w, int h, const char *name, lt_err *err) {
    lt_status s = lt_image_alloc(out, w, h, 3, 0.f, err);
    if (s != LT_OK) return lt_err_set(err, s, "%s: %s", name, err->msg);
    /* darknet's load_image_stb: data[k*w*h + j*w + i] = px[j*w*c + i*c + k] / 255. */
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < h; j++)
            for (int i = 0; i < w; i++)
                out->data[(size_t)k * w * h + (size_t)j * w + i] = (float)px[((size_t)j * w + i) * 3 + k] / 255.f;
    return LT_OK;
}

lt_status lt_image_load_mem(lt_image *out, const void *buf, size_t len, const char *name, lt_err *err) {
    memset(out, 0, sizeof *out);
    int w, h, c;
    if (len == 0) return lt_err_set(err, LT_EFORMAT, "%s: empty file, not an image", name);
    if (len > (size_t)INT32_MAX) return lt_err_set(err, LT_EFORMAT, "%s: file too large", name);
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &c))
        return lt_err_set(err, LT_EFORMAT, "%s: not a readable image (%s); JPEG, PNG, BMP, GIF, TGA, PNM are supported",
                          name, stbi_failure_reason());
    if (w < 1 || h < 1 || w > LT_IMAGE_MAX_SIDE || h > LT_IMAGE_MAX_SIDE || (int64_t)w * h > (1ll << 28))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: %dx%d image is too large (at most %d per side, 2^28 pixels)",
                          name, w, h, LT_IMAGE_MAX_SIDE);
    unsigned char *px = stbi_load_from_memory(buf, (int)len, &w, &h, &c, 3);
    if (!px) return lt_err_set(err, LT_EFORMAT, "%s: cannot decode image (%s)", name, stbi_failure_reason());
    lt_status s = from_rgb8(out, px, w, h, name, err);
    stbi_image_free(px);
    return s;
}

lt_status lt_image_load(lt_image *out, const char *path, lt_err *err) {
    memset(out, 0, sizeof *out);
    void *map;
    size_t size;
    LT_TRY(lt_file_map(path, 1, "an image", &map, &size, err));
    lt_status s = lt_image_load_mem(out, map, size, path, err);
    lt_file_unmap(map, size);
    return s;
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
