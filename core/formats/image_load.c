/* image_load.c - lt_image_load*: the one entry point that reads an image file or buffer,
 * picks the decoder by the magic bytes (image_jpeg.c, image_png.c; why those decoders:
 * image.c's header) and refuses other formats by name.
 * Leaves out: decoding itself, writing (image.c).
 */
#include <string.h>

#include "core/base/fileio.h"
#include "image_impl.h"

/* What a file that is neither JPEG nor PNG is, by its magic bytes (NULL: unknown). */
static const char *other_image(const uint8_t *h, size_t n) {
    if (n >= 6 && (!memcmp(h, "GIF87a", 6) || !memcmp(h, "GIF89a", 6))) return "a GIF image";
    if (n >= 2 && h[0] == 'B' && h[1] == 'M') return "a BMP image";
    if (n >= 3 && h[0] == 'P' && h[1] >= '1' && h[1] <= '6' && (h[2] == '\n' || h[2] == ' ' || h[2] == '\r' ||
                                                                 h[2] == '\t'))
        return "a PNM image";
    return NULL;
}

lt_status lt_image_load_mem_max(lt_image *out, const void *buf, size_t len, const char *name, int64_t max_pixels,
                                lt_err *err) {
    memset(out, 0, sizeof *out);
    const uint8_t *b = buf;
    if (max_pixels == 0) max_pixels = LT_IMAGE_MAX_PIXELS;
    if (max_pixels < 1 || max_pixels > LT_IMAGE_MAX_PIXELS_CAP)
        return lt_err_set(err, LT_EINVAL, "%s: pixel budget %lld not in 1..%lld", name, (long long)max_pixels,
                          (long long)LT_IMAGE_MAX_PIXELS_CAP);
    if (len == 0) return lt_err_set(err, LT_EFORMAT, "%s: empty file, not an image", name);
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return lt_image_decode_jpeg(out, b, len, name, max_pixels, err);
    if (len >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return lt_image_decode_png(out, b, len, name, max_pixels, err);
    const char *what = other_image(b, len);
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

