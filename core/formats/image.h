/* image.h - images for the vision models: loading (JPEG through libjpeg-turbo with stb_image's
 * pixel arithmetic, PNG through libpng), darknet's exact resize and letterbox, cropping,
 * drawing boxes and labels, and PNG writing.
 *
 * An lt_image is planar float in [0, 1]: data[(ch * h + y) * w + x], channels R, G, B, the
 * layout darknet feeds its networks, so a resized image is a network input as it is.
 * Loading is safe on hostile files: the header is checked against a pixel budget before
 * anything the size of the image is allocated, and the decoders are Debian's security-
 * maintained libjpeg-turbo and libpng (image.c says why, and how the pixels stay darknet's).
 * Leaves out: colour spaces, EXIF orientation (darknet ignores it too), formats other than
 * JPEG and PNG (GIF, BMP, PNM, TGA are refused by name: convert them to PNG), anti-aliased
 * drawing.
 */
#ifndef LT_IMAGE_H
#define LT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"

typedef struct lt_image {
    int w, h, c;
    float *data; /* [c, h, w], lt_malloc'd; NULL for an empty image */
} lt_image;

/* Largest width or height lt_image_load accepts (larger images are a clear error). */
#define LT_IMAGE_MAX_SIDE 32768

/* The pixel budget: the most pixels (width x height) an image may declare before it is
 * decoded, by default 2^26 = 67,108,864 (8192 x 8192; 768 MiB as an lt_image). A file that
 * declares more is refused from its header alone ("image is 16384x16384 = 268.4M pixels,
 * over the budget of 67.1M pixels"), before any image-sized allocation, so a tiny file cannot
 * claim gigabytes. `lathe detect --max-pixels N` (lt_detect_opts.max_pixels) raises or lowers
 * it, up to LT_IMAGE_MAX_PIXELS_CAP (an lt_image holds at most 2^31 floats). */
#define LT_IMAGE_MAX_PIXELS (1ll << 26)
#define LT_IMAGE_MAX_PIXELS_CAP ((1ll << 31) / 3)

/* Loads a JPEG or PNG file as 3-channel RGB (grey, palette and RGBA are converted, as
 * darknet's stb_image does), within the default pixel budget. A missing, corrupt, truncated,
 * over-budget or unsupported file is a one-line error naming it and the reason. */
lt_status lt_image_load(lt_image *out, const char *path, lt_err *err);
/* The same from bytes in memory (name is used in messages). */
lt_status lt_image_load_mem(lt_image *out, const void *buf, size_t len, const char *name, lt_err *err);
/* The same with a pixel budget of max_pixels (0 = LT_IMAGE_MAX_PIXELS; at most
 * LT_IMAGE_MAX_PIXELS_CAP). */
lt_status lt_image_load_max(lt_image *out, const char *path, int64_t max_pixels, lt_err *err);
lt_status lt_image_load_mem_max(lt_image *out, const void *buf, size_t len, const char *name, int64_t max_pixels,
                                lt_err *err);

/* A w x h x c image filled with value. */
lt_status lt_image_alloc(lt_image *out, int w, int h, int c, float value, lt_err *err);
void lt_image_free(lt_image *im); /* NULL or empty is a no-op; leaves *im empty */

/* darknet's resize_image: two-pass bilinear with corner-aligned sampling (scale (in-1)/(out-1)),
 * the same float operations in the same order, so results are bit-identical to darknet's. */
lt_status lt_image_resize(lt_image *out, const lt_image *in, int w, int h, lt_err *err);
/* darknet's letterbox_image: resize keeping the aspect ratio, centred on a 0.5 grey canvas. */
lt_status lt_image_letterbox(lt_image *out, const lt_image *in, int w, int h, lt_err *err);
/* The region [x, x+w) x [y, y+h) of in (clipped to the image; cells outside are 0.5). */
lt_status lt_image_crop(lt_image *out, const lt_image *in, int x, int y, int w, int h, lt_err *err);

/* darknet's colour for a class (its get_color over the offset class*123457 % classes). */
void lt_image_class_color(int class_id, int classes, float rgb[3]);
/* Draws a rectangle outline with edges [left, right] x [top, bottom] (clipped). */
void lt_image_draw_box(lt_image *im, int left, int top, int right, int bottom, int thickness, const float rgb[3]);
/* Fills [left, right] x [top, bottom] (clipped). */
void lt_image_fill_rect(lt_image *im, int left, int top, int right, int bottom, const float rgb[3]);
/* Draws text in a 5x7 pixel font magnified by scale, top-left corner at (x, y). Characters
 * outside printable ASCII are drawn as '?'. Returns the width drawn in pixels. */
int lt_image_draw_text(lt_image *im, int x, int y, const char *text, int scale, const float rgb[3]);
/* Width in pixels lt_image_draw_text would take. */
int lt_image_text_width(const char *text, int scale);

/* Interleaved 8-bit RGB (w*h*3 bytes, lt_malloc'd), e.g. for a terminal preview. */
lt_status lt_image_to_rgb8(const lt_image *im, uint8_t **out, lt_err *err);
/* Writes a PNG (RGB, 8 bits), atomically. */
lt_status lt_image_write_png(const lt_image *im, const char *path, lt_err *err);

/* A terminal preview in half-block cells ("\u2580" upper half block: foreground = top pixel,
 * background = bottom pixel), so each cell shows two square-ish pixels. */
typedef struct lt_image_cells {
    int cols, rows;
    uint8_t *top, *bottom; /* [rows * cols * 3] RGB each, lt_malloc'd */
} lt_image_cells;

/* Fits im into at most max_cols x max_rows cells keeping its aspect ratio (a cell is taken
 * as twice as tall as wide), averaging the source pixels under each half cell. A smaller image
 * is enlarged by a whole factor (an 8x8 digit in 53x22 cells: 40x20, each pixel 5x5 half
 * cells), so every pixel shows at the same size. */
lt_status lt_image_to_cells(const lt_image *im, int max_cols, int max_rows, lt_image_cells *out, lt_err *err);
void lt_image_cells_free(lt_image_cells *c); /* NULL or empty is a no-op */

#endif
