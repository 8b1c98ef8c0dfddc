/* fuzz_llama2c.c - llama2.c checkpoints (the legacy header and the version-1 "ak42"
 * export) through lt_sniff and lt_modelsrc_open_llama2c: header plausibility, tensor
 * layout and sizes against the file length.
 * Input: the bytes of a checkpoint .bin. Seeds: tests/fuzz/corpus/llama2c (gen_corpus.c).
 */
#include "fuzz_common.h"

#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_llama2c.h"
#include "core/formats/sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    const char *p = fz_write("model.bin", data, size);
    lt_err err = {0};
    lt_sniffed sn;
    lt_status st = lt_sniff(p, &sn, &err);
    FZ_EXPECT_MSG(st, err, "lt_sniff");
    lt_modelsrc *m = NULL;
    err = (lt_err){0};
    st = lt_modelsrc_open_llama2c(&m, p, NULL, &err);
    FZ_EXPECT_MSG(st, err, "lt_modelsrc_open_llama2c");
    if (m) {
        for (int i = 0; i < lt_modelsrc_n_tensors(m); i++) {
            const lt_src_tensor *t = lt_modelsrc_tensor(m, i);
            fz_touch(t->data, t->nbytes);
        }
        lt_modelsrc_close(m);
    }
    fz_check_mem(mem0, "llama2c");
    return 0;
}
