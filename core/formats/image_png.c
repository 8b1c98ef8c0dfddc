/* image_png.c - PNG decoding through Debian's libpng 1.6 (security-maintained, fuzzed upstream).
 *
 * PNG is lossless, so any correct decoder gives the pixels; the transforms below give what
 * stb_image (darknet's decoder) gives for 3 channels: palettes expanded, grey replicated to
 * R=G=B, 1/2/4-bit grey scaled by bit replication, 16-bit samples cut to their high byte,
 * alpha dropped (not composited), gamma and colour profiles ignored. tests/test_image.c
 * compares it with stb_image 2.27 on every colour type, bit depth, interlaced or not.
 *
 * Safety: IHDR is read and checked against the pixel budget before anything the size of the
 * image is allocated (libpng's own width limit is lifted so that the budget's message is the
 * one a user sees); libpng checks chunk lengths and CRCs of critical chunks; a file whose image data ends early
 * is an error. Warnings are dropped and errors become the message: nothing is printed.
 * Leaves out: APNG frames after the first (libpng reads the default image), Apple's CgBI.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <png.h>

#include "core/base/alloc.h"
#include "image_impl.h"

typedef struct pctx {
    const uint8_t *buf;
    size_t len, pos;
    bool truncated;
    char msg[256];
} pctx;

static void p_error(png_structp png, png_const_charp msg) {
    pctx *p = png_get_error_ptr(png);
    snprintf(p->msg, sizeof p->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void p_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; } /* never print */

static void p_read(png_structp png, png_bytep dst, size_t n) {
    pctx *p = png_get_io_ptr(png);
    if (n > p->len - p->pos) {
        p->truncated = true;
        png_error(png, "the file ends early");
    }
    memcpy(dst, p->buf + p->pos, n);
    p->pos += n;
}

lt_status lt_image_decode_png(lt_image *out, const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                              lt_err *err) {
    memset(out, 0, sizeof *out);
    pctx p = {buf, len, 0, false, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &p, p_error, p_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory starting the PNG decoder", name);
    }
    /* set after setjmp and read after a longjmp: volatile */
    uint8_t *volatile rows = NULL;
    volatile lt_status s = LT_OK;
    if (setjmp(png_jmpbuf(png))) {
        if (s == LT_OK && p.truncated)
            s = lt_err_set(err, LT_EFORMAT, "%s: truncated PNG: the file ends before its image data does", name);
        else if (s == LT_OK) s = lt_err_set(err, LT_EFORMAT, "%s: corrupt or unsupported PNG (%s)", name, p.msg);
        png_destroy_read_struct(&png, &info, NULL);
        lt_free(rows);
        lt_image_free(out);
        return s;
    }
    png_set_read_fn(png, &p, p_read);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff); /* PNG's own maximum: the budget below speaks */
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    s = lt_image_check_budget(w, h, max_pixels, name, err);
    if (s != LT_OK) png_longjmp(png, 1);
    if (depth == 16) png_set_strip_16(png); /* stb: the high byte */
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((ch != 3 && ch != 4) || png_get_bit_depth(png, info) != 8 || rowbytes != (size_t)w * ch) {
        snprintf(p.msg, sizeof p.msg, "colour type %d, %d bits: unexpected layout after conversion", ctype, depth);
        png_longjmp(png, 1);
    }
    s = lt_image_alloc_named(out, (int)w, (int)h, name, err);
    if (s != LT_OK) png_longjmp(png, 1);
    /* interlaced images need every row at once; others are read a row at a time */
    size_t nrows = passes > 1 ? h : 1;
    rows = lt_malloc(rowbytes * nrows + (size_t)w * 3);
    if (!rows) {
        s = lt_err_set(err, LT_ENOMEM, "%s: out of memory decoding a %ux%u PNG", name, w, h);
        png_longjmp(png, 1);
    }
    uint8_t *rgb = rows + rowbytes * nrows;
    if (passes > 1) {
        for (int pass = 0; pass < passes; pass++)
            for (png_uint_32 y = 0; y < h; y++) png_read_row(png, rows + rowbytes * y, NULL);
    }
    for (png_uint_32 y = 0; y < h; y++) {
        uint8_t *r = rows + (passes > 1 ? rowbytes * y : 0);
        if (passes == 1) png_read_row(png, r, NULL);
        const uint8_t *src = r;
        if (ch == 4) { /* stb drops alpha */
            for (png_uint_32 x = 0; x < w; x++) memcpy(rgb + 3 * x, r + 4 * x, 3);
            src = rgb;
        }
        lt_image_put_rgb8_row(out, (int)y, src);
    }
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    lt_free(rows);
    return LT_OK;
}
