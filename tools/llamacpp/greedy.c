/* greedy.c - llama.cpp's greedy ids for a prompt given as token ids (f32 KV cache):
 *   greedy MODEL.gguf N_GEN ID...
 * Built and run by tools/llamacpp/check.sh against a llama.cpp build outside this repository. */
#include <stdio.h>
#include <stdlib.h>
#include "llama.h"
#include "ggml.h"
int main(int argc, char **argv) {
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *m = llama_model_load_from_file(argv[1], mp);
    if (!m) { fprintf(stderr, "load failed\n"); return 1; }
    int ngen = atoi(argv[2]), n = argc - 3;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256; cp.type_k = GGML_TYPE_F32; cp.type_v = GGML_TYPE_F32; cp.n_batch = 256; cp.no_perf = 1;
    struct llama_context *ctx = llama_init_from_model(m, cp);
    if (!ctx) { fprintf(stderr, "ctx failed\n"); return 1; }
    llama_token toks[512];
    for (int i = 0; i < n; i++) toks[i] = atoi(argv[3 + i]);
    const struct llama_vocab *v = llama_model_get_vocab(m);
    int nv = llama_vocab_n_tokens(v);
    if (nv <= 0) nv = 256;
    struct llama_batch b = llama_batch_get_one(toks, n);
    for (int g = 0; g < ngen; g++) {
        if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
        float *lg = llama_get_logits_ith(ctx, -1);
        int best = 0;
        for (int i = 1; i < nv; i++) if (lg[i] > lg[best]) best = i;
        printf("%d ", best);
        toks[n] = best;
        b = llama_batch_get_one(&toks[n], 1);
        n++;
    }
    printf("\n");
    return 0;
}
