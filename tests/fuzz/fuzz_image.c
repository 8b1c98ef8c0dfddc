/* fuzz_image.c - images (JPEG through libjpeg-turbo, PNG through libpng; other formats refused)
 * via lt_image_load_mem_max, then what the detection path does with a loaded image: darknet's
 * resize and letterbox to a small network size, a crop, drawing, RGB and terminal cells.
 * Input: the bytes of an image file. Seeds: tests/fuzz/corpus/image (gen_corpus.c).
 */
#include "fuzz_common.h"

#include <stdbool.h>

#include "core/formats/image.h"

/* Small images only: the default budget (2^26 pixels) would let a 100-byte header make each
 * run allocate hundreds of MB, and libFuzzer stops at 2 GB; the budget check itself is what
 * refuses the larger ones (regress/image/image-huge-gif-oom.gif). */
#define FUZZ_MAX_PIXELS (1 << 21)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    lt_image im = {0};
    lt_err err = {0};
    lt_status st = lt_image_load_mem_max(&im, data, size, "fuzz", FUZZ_MAX_PIXELS, &err);
    FZ_EXPECT_MSG(st, err, "lt_image_load_mem_max");
    if (st == LT_OK) {
        if (im.w < 1 || im.h < 1 || im.c != 3 || !im.data) abort();
        fz_touch(im.data, sizeof(float) * (size_t)im.w * (size_t)im.h * 3);
        lt_image r = {0}, lb = {0}, cr = {0};
        if (lt_image_resize(&r, &im, 16, 12, &err) == LT_OK) fz_touch(r.data, sizeof(float) * 16 * 12 * 3);
        if (lt_image_letterbox(&lb, &im, 16, 16, &err) == LT_OK) fz_touch(lb.data, sizeof(float) * 16 * 16 * 3);
        if (lt_image_crop(&cr, &im, im.w / 3, im.h / 3, 8, 8, &err) == LT_OK) fz_touch(cr.data, sizeof(float) * 64 * 3);
        float rgb[3] = {1, 0, 0};
        lt_image_draw_box(&r, -3, 2, 40, 9, 2, rgb);
        lt_image_fill_rect(&r, 5, -5, 8, 100, rgb);
        lt_image_draw_text(&r, 1, 1, "dog 0.98", 1, rgb);
        uint8_t *px = NULL;
        if (lt_image_to_rgb8(&r, &px, &err) == LT_OK) {
            fz_touch(px, 16 * 12 * 3);
            lt_free(px);
        }
        lt_image_cells cells = {0};
        if (lt_image_to_cells(&im, 20, 10, &cells, &err) == LT_OK) lt_image_cells_free(&cells);
        lt_image_free(&r);
        lt_image_free(&lb);
        lt_image_free(&cr);
        lt_image_free(&im);
    }
    fz_check_mem(mem0, "image");
    return 0;
}
