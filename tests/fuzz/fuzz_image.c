/* fuzz_image.c - images (JPEG, PNG, BMP, GIF, PNM, ... through stb_image) via
 * lt_image_load_mem, then what the detection path does with a loaded image: darknet's
 * resize and letterbox to a small network size, a crop, drawing, RGB and terminal cells.
 * Input: the bytes of an image file. Seeds: tests/fuzz/corpus/image (gen_corpus.c).
 */
#include "fuzz_common.h"

#include <stdbool.h>

/* a private copy of stb_image, for stbi_info_from_memory only (known_huge below); its
 * warnings stay off to the end of the file (gcc reports unused statics there) */
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <stb_image.h>

#include "core/formats/image.h"

/* Known, not yet fixed (tests/fuzz/crashes/README.md): stb_image 2.27 (Debian's libstb-dev,
 * which core/formats/image.c compiles in) builds a JPEG Huffman table without checking that
 * the 16 code counts of a DHT segment sum to at most 256, and writes past stbi__huffman's
 * size[257] and values[256] (inside its decoder struct, so ASan does not see it; UBSan does).
 * Inputs with such a table are skipped here, so that the fuzzer looks for other bugs, until
 * image.c guards against it (or a fixed stb_image, 2.28+, is used); then delete this. Every
 * FF C4 in the input is treated as a DHT marker (stb takes one anywhere between segments). */
static bool known_stb_dht_overflow(const uint8_t *d, size_t n) {
    if (n < 2 || d[0] != 0xff || d[1] != 0xd8) return false;
    for (size_t i = 2; i + 4 <= n; i++) {
        if (d[i] != 0xff || d[i + 1] != 0xc4) continue;
        long left = ((long)d[i + 2] << 8 | d[i + 3]) - 2;
        size_t p = i + 4;
        while (left > 0 && p < n) {
            long sum = 0;
            for (size_t k = 1; k <= 16; k++) sum += p + k < n ? d[p + k] : 0;
            if (sum > 256) return true;
            p += 17 + (size_t)sum;
            left -= 17 + sum;
        }
    }
    return false;
}

/* Known, not yet fixed: lt_image_load_mem accepts any size up to 2^28 pixels whatever the
 * file's length, so a 45-byte GIF header claiming 19714 x 12357 makes stb allocate 2.2 GB
 * (and lathe would add 12 bytes a pixel for its float copy). Images over 2^21 pixels are
 * skipped here (so that libFuzzer's 2 GB limit does not stop every run on it, and big decodes
 * do not eat the time); raise this when image.c bounds what it decodes. */
static bool known_huge(const uint8_t *d, size_t n) {
    int w = 0, h = 0, c = 0;
    if (n > 0x7fffffff || !stbi_info_from_memory(d, (int)n, &w, &h, &c)) return false;
    return (int64_t)w * h > (1 << 21);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (known_stb_dht_overflow(data, size) || known_huge(data, size)) return 0;
    size_t mem0 = lt_mem_used();
    lt_image im = {0};
    lt_err err = {0};
    lt_status st = lt_image_load_mem(&im, data, size, "fuzz", &err);
    FZ_EXPECT_MSG(st, err, "lt_image_load_mem");
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
