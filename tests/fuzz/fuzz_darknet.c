/* fuzz_darknet.c - darknet networks: .cfg text through lt_darknet_parse_text (sections, keys,
 * layer sizes) and, when it parses, a .weights file through lt_darknet_load_weights (header
 * versions, counts, batch-norm folding), plus the summaries (params, flops).
 * Input: the .cfg text, optionally a NUL byte and the .weights bytes.
 * Seeds: tests/fuzz/corpus/darknet (assets/yolo cfgs, a tiny network with weights).
 */
#include "fuzz_common.h"

#include "core/formats/darknet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t mem0 = lt_mem_used();
    size_t n_cfg, n_w;
    const uint8_t *w;
    fz_split(data, size, &n_cfg, &w, &n_w);
    lt_dn_net *net = NULL;
    lt_err err = {0};
    lt_status st = lt_darknet_parse_text(&net, (const char *)data, n_cfg, "fuzz.cfg", &err);
    FZ_EXPECT_MSG(st, err, "lt_darknet_parse_text");
    if (net) {
        fz_sink ^= (uint8_t)lt_darknet_params(net);
        fz_sink ^= (uint8_t)(lt_darknet_flops(net) > 1e9);
        fz_sink ^= (uint8_t)lt_darknet_weights_count(net);
        for (int i = 0; i < net->n; i++) fz_sink ^= (uint8_t)lt_darknet_type_name(net->layers[i].type)[0];
        if (w) {
            const char *p = fz_write("net.weights", w, n_w);
            err = (lt_err){0};
            st = lt_darknet_load_weights(net, p, &err);
            FZ_EXPECT_MSG(st, err, "lt_darknet_load_weights");
            if (st == LT_OK)
                for (int i = 0; i < net->n; i++) {
                    const lt_dn_layer *l = &net->layers[i];
                    if (l->type != LT_DN_CONV) continue;
                    fz_touch(l->weights, sizeof(float) * (size_t)l->filters * (size_t)(l->c / l->groups) *
                                             (size_t)l->size * (size_t)l->size);
                    fz_touch(l->biases, sizeof(float) * (size_t)l->filters);
                }
        }
        lt_darknet_free(net);
    }
    fz_check_mem(mem0, "darknet");
    return 0;
}
