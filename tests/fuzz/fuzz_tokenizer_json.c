/* fuzz_tokenizer_json.c - Hugging Face tokenizers: tokenizer.json (+ tokenizer_config.json)
 * through lt_vocab_from_hf, then a tokenizer over what it accepted (fuzz_vocab.h: encode,
 * decode, stream, chat template).
 * Input: tokenizer.json, optionally a NUL byte and tokenizer_config.json.
 * Seeds: tests/fuzz/corpus/tokenizer_json (gen_corpus.c).
 */
#include "fuzz_common.h"
#include "fuzz_vocab.h"

#include "core/text/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    size_t n_tok, n_cfg;
    const uint8_t *cfg;
    fz_split(data, size, &n_tok, &cfg, &n_cfg);
    const char *p = fz_write("tokenizer.json", data, n_tok);
    if (cfg) fz_write("tokenizer_config.json", cfg, n_cfg);
    else fz_unlink("tokenizer_config.json");
    lt_vocab *v = NULL;
    lt_err err = {0};
    lt_status st = lt_vocab_from_hf(&v, p, &err);
    FZ_EXPECT_MSG(st, err, "lt_vocab_from_hf");
    if (v) fz_exercise_vocab(v);
    fz_check_mem(mem0, "tokenizer.json");
    return 0;
}
