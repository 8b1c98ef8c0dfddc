/* fuzz_llama2c_tok.c - llama2.c tokenizer .bin files (max token length, then score /
 * length / bytes records) through lt_sniff and lt_vocab_from_llama2c, for the bundled
 * vocabulary size (512) and one taken from the input's length, then a tokenizer over what
 * the reader accepted (fuzz_vocab.h).
 * Input: the bytes of a tokenizer .bin. Seeds: tests/fuzz/corpus/llama2c_tok.
 */
#include "fuzz_common.h"
#include "fuzz_vocab.h"

#include "core/formats/sniff.h"
#include "core/text/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    const char *p = fz_write("tokenizer.bin", data, size);
    lt_err err = {0};
    lt_sniffed sn;
    lt_status st = lt_sniff(p, &sn, &err);
    FZ_EXPECT_MSG(st, err, "lt_sniff");
    int32_t sizes[] = {512, (int32_t)(1 + size % 700), 0, -1};
    for (int k = 0; k < 4; k++) {
        lt_vocab *v = NULL;
        err = (lt_err){0};
        st = lt_vocab_from_llama2c(&v, p, sizes[k], &err);
        FZ_EXPECT_MSG(st, err, "lt_vocab_from_llama2c");
        if (v) fz_exercise_vocab(v);
    }
    fz_check_mem(mem0, "llama2c tokenizer");
    return 0;
}
