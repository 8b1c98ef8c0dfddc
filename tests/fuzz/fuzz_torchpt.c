/* fuzz_torchpt.c - torch.save files (core/formats/torchpt.c: libzip's archive, the state-dict
 * pickle subset, storages and tensor bounds) and the SliceGPT folder reader on top
 * (core/formats/modelsrc_slicegpt.c: names, widths, transposed shortcuts).
 * Input: a .pt file; it is read alone (lt_pt_open and every accessor), then as the
 * Llama-2-tiny_0.25.pt of a folder whose config.json is the SliceGPT fixture's
 * (tests/fixtures/slicegpt-tiny: hidden 32, 2 layers, 4 heads, 2 KV heads, vocab 260).
 * Seeds: tests/fuzz/corpus/torchpt (gen_corpus.c: lathe's writer and torch's own files).
 */
#include "fuzz_common.h"

#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_open.h"
#include "core/formats/torchpt.h"

static const char k_config[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 32, \"intermediate_size\": 64, "
    "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 260, "
    "\"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-05, \"tie_word_embeddings\": true}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    const char *p = fz_write("Llama-2-tiny_0.25.pt", data, size);
    fz_write("config.json", (const uint8_t *)k_config, sizeof k_config - 1);
    lt_err err = {0};
    lt_torchpt *pt = NULL;
    lt_status st = lt_pt_open(&pt, p, &err);
    FZ_EXPECT_MSG(st, err, "lt_pt_open");
    if (pt) {
        for (int64_t i = 0; i < lt_pt_n_tensors(pt); i++) {
            lt_src_tensor t;
            lt_pt_tensor(pt, i, &t);
            fz_touch(t.data, t.nbytes);
            fz_sink ^= (uint8_t)lt_pt_find(pt, t.name);
        }
        fz_sink ^= (uint8_t)lt_pt_archive_name(pt)[0];
        lt_pt_close(pt);
    }
    lt_modelsrc *m = NULL;
    err = (lt_err){0};
    st = lt_modelsrc_open(&m, fz_dir(), NULL, &err);
    FZ_EXPECT_MSG(st, err, "lt_modelsrc_open(slicegpt)");
    if (m) {
        for (int i = 0; i < lt_modelsrc_n_tensors(m); i++) {
            const lt_src_tensor *t = lt_modelsrc_tensor(m, i);
            fz_touch(t->data, t->nbytes);
        }
        lt_modelsrc_close(m);
    }
    fz_check_mem(mem0, "torchpt");
    return 0;
}
