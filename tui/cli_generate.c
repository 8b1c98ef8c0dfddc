/* cli_generate.c - `lathe generate`: prompt in, streamed continuation out. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/generate.h"
#include "../models/llama.h"
#include "cli.h"

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

static bool on_token(void *ud, int32_t id, const char *text, size_t len) {
    (void)ud;
    (void)id;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return !g_interrupted;
}

int lt_cli_generate(int argc, char **argv) {
    const char *model = NULL, *tokp = NULL, *prompt = NULL, *device = NULL;
    int n = 256, threads = 0, ctx = 0, kv_blocks = 0;
    bool ignore_eos = false;
    lt_sampler_params sp = lt_sampler_defaults();
    sp.seed = 0;
    const char *usage = "-m MODEL -p TEXT [options]";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &model, "GGUF file, Hugging Face folder or llama2.c checkpoint"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, "llama2.c tokenizer .bin (default: tokenizer.bin beside the model)"},
        {"--prompt", "-p", LT_OPT_STR, &prompt, "prompt text"},
        {"--n-predict", "-n", LT_OPT_INT, &n, "tokens to generate (default 256; -1 = until end of text)"},
        {"--temp", NULL, LT_OPT_FLOAT, &sp.temp, "temperature (default 0.8; 0 = greedy)"},
        {"--top-k", NULL, LT_OPT_INT, &sp.top_k, "keep the k most likely tokens (default 40; 0 = off)"},
        {"--top-p", NULL, LT_OPT_FLOAT, &sp.top_p, "nucleus sampling mass (default 0.95; 1 = off)"},
        {"--min-p", NULL, LT_OPT_FLOAT, &sp.min_p, "drop tokens below min-p x the top probability (default 0.05)"},
        {"--repeat-penalty", NULL, LT_OPT_FLOAT, &sp.repeat_penalty, "penalty for recent tokens (default 1 = off)"},
        {"--seed", "-s", LT_OPT_U64, &sp.seed, "random seed (default 0)"},
        {"--threads", "-t", LT_OPT_INT, &threads, "CPU threads (default: all cores)"},
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        {"--ctx", "-c", LT_OPT_INT, &ctx, "context length (default: the model's)"},
        {"--kv-blocks", NULL, LT_OPT_INT, &kv_blocks, "KV cache blocks of 16 tokens (default: from context and free memory)"},
        {"--ignore-eos", NULL, LT_OPT_FLAG, &ignore_eos, "keep generating past end-of-text"},
        {0},
    };
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("generate", usage, opts, argc, argv, pos, 0, &n_pos)) return 2;
    if (!model || !prompt) {
        fprintf(stderr, "lathe generate: %s is required\n", !model ? "-m MODEL" : "-p TEXT");
        lt_cli_usage("generate", usage, opts);
        return 2;
    }
    lt_modelsrc *src = NULL;
    lt_tokenizer *tok = NULL;
    lt_backend *be = NULL;
    lt_lm *m = NULL;
    lt_kv_cache *kv = NULL;
    int32_t *ids = NULL;
    int rc = 1;
    lt_err err = {0};
    if (!lt_cli_open_model(model, tokp, &src, &tok)) goto done;
    if (!tok) {
        fprintf(stderr, "lathe: %s has no tokenizer; pass --tokenizer FILE\n", model);
        goto done;
    }
    if (!lt_cli_backend(device, threads, &be)) goto done;
    bool llama2c = !strcmp(lt_modelsrc_format(src), "llama2c");
    if (lt_llama_open(&m, src, be, NULL, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        goto done;
    }
    lt_modelsrc_close(src); /* weights now live on the backend */
    src = NULL;
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, 1);
    ko.n_blocks = kv_blocks;
    int seq;
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK || lt_kv_seq_new(kv, &seq, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        goto done;
    }
    size_t plen = strlen(prompt);
    int64_t cap = (int64_t)plen + 8;
    ids = lt_malloc((size_t)cap * sizeof(int32_t));
    int64_t np = ids ? lt_tok_encode(tok, prompt, plen, true, false, ids, cap) : -1;
    if (np < 0 || np > cap) {
        fprintf(stderr, "lathe: cannot tokenize the prompt\n");
        goto done;
    }
    if (np == 0) { /* no BOS in this vocab and an empty prompt: start from BOS anyway */
        ids[0] = lt_tok_bos(tok) >= 0 ? lt_tok_bos(tok) : 0;
        np = 1;
    }
    lt_gen_params gp = {.sp = sp, .n_predict = n, .stop_at_bos = llama2c, .ignore_eos = ignore_eos};
    fputs(prompt, stdout);
    fflush(stdout);
    signal(SIGINT, on_sigint);
    lt_gen_stats st;
    if (lt_generate(m, tok, kv, seq, ids, (int)np, &gp, on_token, NULL, NULL, 0, &st, &err) != LT_OK) {
        fprintf(stderr, "\nlathe: %s\n", err.msg);
        goto done;
    }
    signal(SIGINT, SIG_DFL);
    fputc('\n', stdout);
    fflush(stdout);
    fprintf(stderr, "prompt tokens: %d, prefill: %.1f tok/s, decode: %.1f tok/s (%d tokens, %s)%s\n", st.n_prompt,
            st.prefill_s > 0 ? st.n_prompt / st.prefill_s : 0.0, st.decode_s > 0 ? st.n_gen / st.decode_s : 0.0,
            st.n_gen, lt_backend_name(be), st.stop == LT_GEN_STOP_CANCEL ? " [interrupted]" : "");
    rc = 0;
done:
    lt_free(ids);
    lt_kv_free(kv);
    lt_lm_close(m);
    lt_backend_free(be);
    lt_tok_free(tok);
    lt_modelsrc_close(src);
    return rc;
}
