/* fuzz_hf.c - Hugging Face model folders: config.json + model.safetensors through the
 * safetensors reader (lt_st_open and its accessors) and the folder reader (lt_modelsrc_open:
 * config keys, HF names, shapes checked against the config).
 * Input: config.json, a NUL byte, then model.safetensors (no NUL: config.json alone, no
 * weights). Seeds: tests/fuzz/corpus/hf (gen_corpus.c).
 */
#include "fuzz_common.h"

#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_open.h"
#include "core/formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    size_t n_cfg, n_st;
    const uint8_t *st_bytes;
    fz_split(data, size, &n_cfg, &st_bytes, &n_st);
    fz_write("config.json", data, n_cfg);
    const char *stp = NULL;
    if (st_bytes) stp = fz_write("model.safetensors", st_bytes, n_st);
    else fz_unlink("model.safetensors");

    lt_err err = {0};
    lt_status st;
    if (stp) {
        lt_safetensors *s = NULL;
        st = lt_st_open(&s, stp, &err);
        FZ_EXPECT_MSG(st, err, "lt_st_open");
        if (s) {
            for (int64_t i = 0; i < lt_st_n_tensors(s); i++) {
                lt_src_tensor t;
                lt_st_tensor(s, i, &t);
                fz_touch(t.data, t.nbytes);
                fz_sink ^= (uint8_t)lt_st_find(s, t.name);
            }
            lt_st_find(s, "model.embed_tokens.weight");
            lt_st_close(s);
        }
    }
    lt_modelsrc *m = NULL;
    err = (lt_err){0};
    st = lt_modelsrc_open(&m, fz_dir(), NULL, &err);
    FZ_EXPECT_MSG(st, err, "lt_modelsrc_open(hf)");
    if (m) {
        for (int i = 0; i < lt_modelsrc_n_tensors(m); i++) {
            const lt_src_tensor *t = lt_modelsrc_tensor(m, i);
            fz_touch(t->data, t->nbytes);
        }
        lt_modelsrc_close(m);
    }
    fz_check_mem(mem0, "hf");
    return 0;
}
