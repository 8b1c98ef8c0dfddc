/* image_load.c - lt_image_load*: the one entry point that reads an image file or buffer,
 * picks the decoder by the magic bytes (image_jpeg.c, image_png.c; why those decoders:
 * image.c's header) and refuses other formats by name.
 * Leaves out: decoding itself, writing (image.c).
 */
#include <string.h>

#include "core/base/fileio.h"
#include "image_impl.h"
#include "sniff.h"

lt_status lt_image_load_mem_max(lt_image *out, const void *buf, size_t len, const char *name, int64_t max_pixels,
                                lt_err *err) {
    memset(out, 0, sizeof *out);
    const uint8_t *b = buf;
    if (max_pixels == 0) max_pixels = LT_IMAGE_MAX_PIXELS;
    if (max_pixels < 1 || max_pixels > LT_IMAGE_MAX_PIXELS_CAP)
        return lt_err_set(err, LT_EINVAL, "%s: pixel budget %lld not in 1..%lld", name, (long long)max_pixels,
                          (long long)LT_IMAGE_MAX_PIXELS_CAP);
    if (len == 0) return lt_err_set(err, LT_EFORMAT, "%s: empty file, not an image", name);
    const char *what = lt_sniff_image(b, len); /* the one place that knows image magic bytes */
    if (what && !strcmp(what, "a JPEG image")) return lt_image_decode_jpeg(out, b, len, name, max_pixels, err);
    if (what && !strcmp(what, "a PNG image")) return lt_image_decode_png(out, b, len, name, max_pixels, err);
    if (what)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: %s; lathe reads JPEG and PNG images: convert it to PNG", name,
                          what);
    return lt_err_set(err, LT_EFORMAT, "%s: not a readable image (neither JPEG nor PNG); JPEG and PNG are supported",
                      name);
}

lt_status lt_image_load_mem(lt_image *out, const void *buf, size_t len, const char *name, lt_err *err) {
    return lt_image_load_mem_max(out, buf, len, name, 0, err);
}

lt_status lt_image_load_max(lt_image *out, const char *path, int64_t max_pixels, lt_err *err) {
    memset(out, 0, sizeof *out);
    void *map;
    size_t size;
    LT_TRY(lt_file_map(path, 1, "an image", &map, &size, err));
    lt_status s = lt_image_load_mem_max(out, map, size, path, max_pixels, err);
    lt_file_unmap(map, size);
    return s;
}

lt_status lt_image_load(lt_image *out, const char *path, lt_err *err) { return lt_image_load_max(out, path, 0, err); }

