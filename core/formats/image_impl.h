/* image_impl.h - the decoders behind lt_image_load_mem, internal to core/formats (image.c,
 * image_jpeg.c, image_png.c). Not a public header: callers use image.h.
 *
 * Each decoder reads the header first, checks the dimensions against the pixel budget
 * (lt_image_check_budget) before it allocates anything the size of the image, then decodes
 * into out (3-channel planar float, darknet's layout). Errors name the image (name) and the
 * problem in one line; on error out is empty. Nothing here prints: the libraries' warnings and
 * errors are turned into lt_err messages.
 */
#ifndef LT_IMAGE_IMPL_H
#define LT_IMAGE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* LT_OK when a w x h image fits max_pixels (and the per-side limit); otherwise an
 * LT_EUNSUPPORTED error "NAME: image is WxH = P pixels, over the budget of B pixels ...". */
lt_status lt_image_check_budget(int64_t w, int64_t h, int64_t max_pixels, const char *name, lt_err *err);

/* The output image for a w x h decode (already checked against the budget), with an
 * out-of-memory message that names the image and its size. */
lt_status lt_image_alloc_named(lt_image *out, int w, int h, const char *name, lt_err *err);

/* Writes one decoded row of interleaved 8-bit RGB (w * 3 bytes) into row y of out, as
 * darknet's load_image_stb does (px / 255.f). */
void lt_image_put_rgb8_row(lt_image *out, int y, const uint8_t *rgb);

lt_status lt_image_decode_jpeg(lt_image *out, const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                               lt_err *err);
lt_status lt_image_decode_png(lt_image *out, const uint8_t *buf, size_t len, const char *name, int64_t max_pixels,
                              lt_err *err);

#endif
