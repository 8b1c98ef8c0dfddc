/* cli_serve.c - `lathe serve`: the OpenAI-compatible HTTP server (core/app/server.h) on one
 * model. Only argv, opening the model and its KV cache, the log on stderr and waiting for
 * Ctrl-C (or SIGTERM) live here. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/app/server.h"
#include "cli.h"

static volatile sig_atomic_t g_term;
static void on_term(int sig) {
    (void)sig;
    g_term = 1;
}

static void log_stderr(void *ud, const char *line) {
    (void)ud;
    fprintf(stderr, "lathe serve: %s\n", line);
}

int lt_cli_serve(int argc, char **argv) {
    const char *model = NULL, *tokp = NULL, *device = NULL, *name = NULL, *policy = NULL, *kv_type = "f16";
    int threads = 0, ctx = 0, kv_blocks = 0, kv_host = 0;
    lt_server_opts so = lt_server_defaults();
    so.sp.seed = LT_SERVER_SEED_FRESH;
    const char *usage = "-m MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY] [options]";
    lt_opt opts[40] = {
        {"--model", "-m", LT_OPT_STR, &model, "GGUF file, Hugging Face folder or llama2.c checkpoint"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {"--name", NULL, LT_OPT_STR, &name, "the model's name in /v1/models and answers (default: the file's name)"},
        {0}, /* -n */
        {0}, {0}, {0}, {0}, {0}, {0}, /* the sampling rows (shared with `lathe generate`): a request's defaults */
        lt_cli_threads_opt(&threads),
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        lt_cli_setting_opt("ctx", "--ctx", "-c", LT_OPT_INT, &ctx, "context length of each request (default: the model's)"),
        {"--kv-host-blocks", NULL, LT_OPT_INT, &kv_host, LT_KV_HOST_HELP, 0, 1 << 28},
        {"--kv-blocks", "--kv-device-blocks", LT_OPT_INT, &kv_blocks,
         "KV cache blocks of 16 tokens shared by all requests (default: max-concurrency full contexts, "
         "at most half the free memory)", 1, 1 << 28},
        {"--kv-type", NULL, LT_OPT_STR, &kv_type,
         "KV cache element type: f16 (default, as the chat and llama.cpp) or f32 (as lathe generate)"},
    };
    opts[3] = lt_cli_setting_opt("max-tokens", "--n-predict", "-n", LT_OPT_INT, &so.n_predict,
                                 "max tokens of an answer when the request does not say (default -1: until end "
                                 "of text or the context)");
    opts[3].lo = -1;
    lt_cli_sampling_opts(opts + 4, &so.sp);
    opts[9].help = "seed of requests that give none (default: a fresh seed per request, as OpenAI's API)";
    lt_server_opts_add(&so, &policy, opts, (int)(sizeof opts / sizeof opts[0]));
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("serve", usage, opts, argc, argv, pos, 0, &n_pos)) return LT_CLI_USAGE;
    lt_err err = {0};
    if (!model) {
        fprintf(stderr, "lathe serve: -m MODEL is required\n");
        lt_cli_usage("serve", usage, opts);
        return LT_CLI_USAGE;
    }
    if (strcmp(kv_type, "f16") != 0 && strcmp(kv_type, "f32") != 0) {
        fprintf(stderr, "lathe serve: --kv-type expects f16 or f32, got '%s'\n", kv_type);
        return LT_CLI_USAGE;
    }
    if (lt_server_opts_check(&so, policy, &err) != LT_OK) {
        fprintf(stderr, "lathe serve: %s\n", err.msg);
        return LT_CLI_USAGE;
    }
    lt_backend *be = NULL;
    lt_lm *m = NULL, *draft = NULL;
    lt_tokenizer *tok = NULL;
    lt_kv_cache *kv = NULL;
    lt_server *srv = NULL;
    int rc = LT_CLI_FAIL;
    bool llama2c = false;
    if (!lt_cli_backend(device, threads, &be)) goto done;
    /* one engine step is one forward: the model's chunk holds the budget (prefill-first: whole prompts) */
    lt_lm_opts lo = {.max_batch = so.engine.token_budget > 512 ? so.engine.token_budget : 512};
    if (!lt_cli_open_lm_opts(NULL, model, tokp, NULL, NULL, 0, &lo, be, &m, &tok, &llama2c)) goto done;
    if (!tok) {
        fprintf(stderr, "lathe serve: %s has no tokenizer; pass --tokenizer FILE\n", model);
        goto done;
    }
    char note[160];
    if (lt_lm_ctx_note(m, ctx, note, sizeof note)) fprintf(stderr, "lathe serve: note: %s: text past it may degrade\n", note);
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, so.max_concurrency);
    ko.n_blocks = kv_blocks;
    ko.host_blocks = kv_host;
    ko.dtype = strcmp(kv_type, "f32") == 0 ? LT_F32 : LT_F16;
    if (so.engine.policy == LT_POLICY_PREFILL_FIRST) { /* whole prompts in one forward */
        lt_lm_close(m);
        m = NULL;
        lt_tok_free(tok);
        tok = NULL;
        lo.max_batch = ko.max_ctx;
        if (!lt_cli_open_lm_opts(NULL, model, tokp, NULL, NULL, 0, &lo, be, &m, &tok, &llama2c)) goto done;
    }
    if (so.draft_path) { /* --spec draft:MODEL: the draft model, on the same backend */
        if (!lt_cli_open_lm_opts("draft model", so.draft_path, NULL, NULL, NULL, 0, &lo, be, &draft, NULL, NULL))
            goto done;
        so.engine.draft = draft;
    }
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK) {
        fprintf(stderr, "lathe serve: %s\n", err.msg);
        goto done;
    }
    if (!name) { /* the file's (or folder's) name */
        const char *p = model + strlen(model);
        while (p > model && p[-1] == '/') p--;
        const char *end = p;
        while (p > model && p[-1] != '/') p--;
        static char base[256];
        snprintf(base, sizeof base, "%.*s", (int)(end - p), p);
        name = base;
    }
    so.model_name = name;
    so.stop_at_bos = llama2c;
    so.log = log_stderr;
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error value, not a signal */
    if (lt_server_start(&srv, m, tok, kv, &so, &err) != LT_OK) {
        fprintf(stderr, "lathe serve: %s\n", err.msg);
        goto done;
    }
    int total = lt_kv_blocks_total(kv);
    const char *h = strchr(so.host, ':') ? "[" : "", *t = strchr(so.host, ':') ? "]" : "";
    fprintf(stderr,
            "lathe serve: %s on %s, context %d, %d KV blocks (%s), up to %d requests at once (%s, budget %d)\n"
            "lathe serve: listening on http://%s%s%s:%d (Ctrl-C stops)\n",
            name, lt_backend_name(be), lt_kv_max_ctx(kv), total, kv_type, so.max_concurrency,
            lt_engine_policy_name(so.engine.policy), so.engine.token_budget, h, so.host, t, lt_server_port(srv));
    if (so.spec_ngram || (so.spec_draft && draft))
        fprintf(stderr, "lathe serve: speculation: %s%s, %d drafts per step\n",
                so.spec_draft ? "draft model " : "n-gram lookup", so.spec_draft ? so.draft_path : "",
                so.spec_draft ? so.spec_draft : so.spec_ngram);
    lt_cli_sigint_catch(NULL, NULL);
    signal(SIGTERM, on_term);
    while (!lt_cli_interrupted() && !g_term) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "lathe serve: stopping\n");
    lt_server_free(srv);
    srv = NULL;
    lt_cli_sigint_release();
    rc = LT_CLI_OK;
done:
    lt_server_free(srv);
    lt_kv_free(kv);
    lt_lm_close(m);
    lt_lm_close(draft);
    lt_backend_free(be);
    lt_tok_free(tok);
    return rc;
}
