/* cli_generate.c - `lathe generate`: prompt in, streamed continuation out, optionally with
 * speculative decoding (--spec ngram|draft:MODEL|triforce[:MODEL], core/llm/spec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/llm/generate.h"
#include "core/llm/spec.h"
#include "models/llama.h"
#include "cli.h"

static bool on_token(void *ud, int32_t id, const char *text, size_t len) {
    (void)ud;
    (void)id;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return !lt_cli_interrupted();
}

/* Speculative tokens; with --tint-drafts accepted drafts are printed green. */
static bool on_spec_token(void *ud, int32_t id, const char *text, size_t len, bool drafted) {
    bool tint = *(const bool *)ud && drafted && len;
    if (tint) fputs("\033[32m", stdout);
    fwrite(text, 1, len, stdout);
    if (tint) fputs("\033[0m", stdout);
    fflush(stdout);
    (void)id;
    return !lt_cli_interrupted();
}

int lt_cli_generate(int argc, char **argv) {
    const char *model = NULL, *tokp = NULL, *prompt = NULL, *device = NULL;
    int n = 256, threads = 0, ctx = 0, kv_blocks = 0, kv_host = 0;
    bool ignore_eos = false, tint = false, no_parse_special = false;
    const char *spec = NULL;
    lt_spec_params so = {0}; /* the speculative options (the table `spec` uses) */
    lt_sampler_params sp = lt_sampler_defaults();
    sp.seed = 0;
    const char *usage = "-m MODEL -p TEXT [options]";
    lt_opt opts[32] = {
        {"--model", "-m", LT_OPT_STR, &model, "GGUF file, Hugging Face folder or llama2.c checkpoint"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {"--prompt", "-p", LT_OPT_STR, &prompt, "prompt text"},
        {0}, /* -n: the setting max-tokens' range, and -1 */
        {0}, {0}, {0}, {0}, {0}, {0}, /* the sampling rows (shared with `lathe serve`) */
        lt_cli_threads_opt(&threads),
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        lt_cli_setting_opt("ctx", "--ctx", "-c", LT_OPT_INT, &ctx, "context length (default: the model's)"),
        {"--kv-blocks", "--kv-device-blocks", LT_OPT_INT, &kv_blocks,
         "device KV cache blocks of 16 tokens (default: from context and free memory)"},
        {"--kv-host-blocks", NULL, LT_OPT_INT, &kv_host, LT_KV_HOST_HELP, 0, 1 << 28},
        {"--ignore-eos", NULL, LT_OPT_FLAG, &ignore_eos, "keep generating past end-of-text"},
        {"--spec", NULL, LT_OPT_STR, &spec, "speculative decoding: off, ngram, draft:MODEL, triforce[:MODEL]"},
        {"--tint-drafts", NULL, LT_OPT_FLAG, &tint, "print accepted draft tokens in green"},
        {"--no-parse-special", NULL, LT_OPT_FLAG, &no_parse_special,
         "special-token text in the prompt (<|im_start|>) stays plain text"},
    };
    opts[3] = lt_cli_setting_opt("max-tokens", "--n-predict", "-n", LT_OPT_INT, &n,
                                 "tokens to generate (default 256; -1 = until end of text)");
    opts[3].lo = -1;
    lt_cli_sampling_opts(opts + 4, &sp);
    lt_spec_opts_add(&so, opts, (int)(sizeof opts / sizeof opts[0]));
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("generate", usage, opts, argc, argv, pos, 0, &n_pos)) return 2;
    if (!model || !prompt) {
        fprintf(stderr, "lathe generate: %s is required\n", !model ? "-m MODEL" : "-p TEXT");
        lt_cli_usage("generate", usage, opts);
        return 2;
    }
    lt_tokenizer *tok = NULL;
    lt_backend *be = NULL;
    lt_lm *m = NULL, *draft = NULL;
    lt_kv_cache *kv = NULL;
    lt_spec *sd = NULL;
    int32_t *ids = NULL;
    int rc = 1;
    lt_err err = {0};
    lt_spec_kind kind = LT_SPEC_OFF;
    const char *draft_path = NULL;
    if (spec && lt_spec_parse(spec, &kind, &draft_path, &err) != LT_OK) {
        fprintf(stderr, "lathe generate: %s\n", err.msg);
        return 2;
    }
    bool llama2c;
    if (!lt_cli_backend(device, threads, &be) ||
        !lt_cli_open_lm(NULL, model, tokp, NULL, NULL, 0, be, &m, &tok, &llama2c))
        goto done;
    if (!tok) {
        fprintf(stderr, "lathe: %s has no tokenizer; pass --tokenizer FILE\n", model);
        goto done;
    }
    if (draft_path && !lt_cli_open_lm("draft model", draft_path, NULL, NULL, NULL, 0, be, &draft, NULL, NULL))
        goto done;
    char note[160];
    if (lt_lm_ctx_note(m, ctx, note, sizeof note))
        fprintf(stderr, "lathe generate: note: %s: text past it may degrade\n", note);
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, kind == LT_SPEC_TRIFORCE ? 2 : 1);
    ko.n_blocks = kv_blocks;
    ko.host_blocks = kv_host;
    if (kind == LT_SPEC_TRIFORCE && so.chunk > 0) ko.block_size = so.chunk;
    int seq;
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK || lt_kv_seq_new(kv, &seq, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        goto done;
    }
    if (spec) {
        lt_spec_params spp = lt_spec_defaults(kind);
        spp.draft = draft;
        spp.gamma = so.gamma;
        spp.adaptive = so.adaptive;
        spp.budget = so.budget;
        spp.chunk = so.chunk;
        spp.gamma_bottom = so.gamma_bottom;
        spp.window = so.window;
        if (lt_spec_create(&sd, m, kv, &spp, &err) != LT_OK) {
            fprintf(stderr, "lathe: %s\n", err.msg);
            goto done;
        }
    }
    size_t plen = strlen(prompt);
    int64_t np = 0;
    /* one free slot: an empty prompt still gets BOS below */
    if (lt_tok_encode_all(tok, prompt, plen, true, !no_parse_special, 0, &ids, &np, &err) != LT_OK) {
        fprintf(stderr, "lathe generate: cannot tokenize the prompt: %s\n", err.msg);
        goto done;
    }
    if (np == 0) { /* no BOS in this vocab and an empty prompt: start from BOS anyway */
        ids[0] = lt_tok_bos(tok) >= 0 ? lt_tok_bos(tok) : 0;
        np = 1;
    }
    lt_gen_params gp = {.sp = sp, .n_predict = n, .stop_at_bos = llama2c, .ignore_eos = ignore_eos};
    fputs(prompt, stdout);
    fflush(stdout);
    lt_cli_sigint_catch(NULL, NULL);
    lt_gen_stats st;
    lt_spec_stats sst;
    lt_status gs = sd ? lt_spec_generate(sd, tok, seq, NULL, 0, ids, (int)np, &gp, on_spec_token, &tint, NULL, NULL,
                                         0, &sst, &err)
                      : lt_generate(m, tok, kv, seq, ids, (int)np, &gp, on_token, NULL, NULL, 0, &st, &err);
    if (sd) st = sst.gen;
    lt_cli_sigint_release();
    if (gs != LT_OK) {
        fprintf(stderr, "\nlathe: %s\n", err.msg);
        goto done;
    }
    fputc('\n', stdout);
    fflush(stdout);
    fprintf(stderr, "prompt tokens: %d, prefill: %.1f tok/s, decode: %.1f tok/s (%d tokens, %s)%s\n", st.n_prompt,
            st.prefill_s > 0 ? st.n_prompt / st.prefill_s : 0.0, st.decode_s > 0 ? st.n_gen / st.decode_s : 0.0,
            st.n_gen, lt_backend_name(be), st.stop == LT_GEN_STOP_CANCEL ? " [interrupted]" : "");
    if (sd && sst.n_levels > 0) {
        fprintf(stderr, "speculation: %s, %lld of %lld drafts accepted (%.1f%%), %.2f tokens per target step",
                spec, (long long)sst.level[0].accepted, (long long)sst.level[0].drafted,
                100.0 * sst.level[0].accept_rate, sst.level[0].mean_len);
        if (sst.n_levels > 1)
            fprintf(stderr, "; bottom level %lld of %lld accepted (%.1f%%), %.2f per retrieval step",
                    (long long)sst.level[1].accepted, (long long)sst.level[1].drafted,
                    100.0 * sst.level[1].accept_rate, sst.level[1].mean_len);
        fputc('\n', stderr);
    }
    rc = st.stop == LT_GEN_STOP_CANCEL || lt_cli_interrupted() ? LT_CLI_INTERRUPTED : LT_CLI_OK;
done:
    lt_free(ids);
    lt_spec_free(sd);
    lt_kv_free(kv);
    lt_lm_close(draft);
    lt_lm_close(m);
    lt_backend_free(be);
    lt_tok_free(tok);
    return rc;
}
