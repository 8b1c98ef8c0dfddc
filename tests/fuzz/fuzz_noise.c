/* fuzz_noise.c - a noise stream file (--init-noise) through lt_noise_file, as a .npy (magic,
 * versions 1-3, the header's descr / fortran_order / shape) and as raw float32, then
 * lt_noise_check against a run's shape and lt_noise_draw of the whole stream.
 * Input: the file's bytes.
 * Seeds: tests/fuzz/corpus/noise (.npy streams of tests/fixtures/imagine and hand-made headers).
 */
#include "fuzz_common.h"

#include "core/diffusion/noise.h"

static void one(const char *name, const uint8_t *data, size_t size) {
    const char *p = fz_write(name, data, size);
    lt_noise *n = NULL;
    lt_err err = {0};
    lt_status st = lt_noise_file(&n, p, &err);
    FZ_EXPECT_MSG(st, err, "lt_noise_file");
    if (st == LT_OK) {
        err = (lt_err){0};
        st = lt_noise_check(n, 12, 3, 2, 2, "fuzz", &err);
        FZ_EXPECT_MSG(st, err, "lt_noise_check");
        float buf[64];
        for (;;) {
            err = (lt_err){0};
            st = lt_noise_draw(n, buf, 64, &err);
            FZ_EXPECT_MSG(st, err, "lt_noise_draw");
            if (st != LT_OK) break;
            fz_touch(buf, sizeof buf);
        }
        while (lt_noise_draw(n, buf, 1, &err) == LT_OK) fz_touch(buf, sizeof buf[0]);
        lt_noise_free(n);
    }
    fz_unlink(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    one("noise.npy", data, size);
    one("noise.f32", data, size);
    fz_check_mem(mem0, "noise");
    return 0;
}
