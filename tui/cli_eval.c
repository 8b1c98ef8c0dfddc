/* cli_eval.c - `lathe eval ppl`: the perplexity of a model on a text file as llama-perplexity
 * computes it (or every token of each chunk, --all-tokens), optionally with the KL divergence
 * against a base model (--kld), as text or one JSON object; progress with ETA on stderr,
 * Ctrl-C stops it and prints the estimate over the chunks done.
 *
 * Only the command line lives here - argv, opening the models and their KV caches (sized by
 * lt_ppl_shape), progress and the output formats. The evaluation, its options table and its
 * report are core/llm/ppl.h, which the workbench's `eval ppl` uses too. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/base/fileio.h"
#include "core/llm/ppl.h"
#include "cli.h"

typedef struct progress_ud {
    bool tty, printed;
    double last;
} progress_ud;

/* "chunk 3/40, PPL 12.3456, 1.2 s, ETA 14 s": over one line on a terminal, else a line a second. */
static bool on_progress(void *ud, const lt_ppl_progress *p) {
    progress_ud *u = ud;
    double now = lt_now();
    bool end = p->chunks_done == p->n_chunks && p->frac >= 1;
    if (p->frac > 0 && (end || now - u->last >= (u->tty ? 0.1 : 1.0))) {
        u->last = now;
        char eta[32] = "ETA --";
        if (p->eta_s >= 0) snprintf(eta, sizeof eta, "ETA %.0f s", p->eta_s);
        char ppl[32] = "--";
        if (p->chunks_done > 0) snprintf(ppl, sizeof ppl, "%.4f", p->ppl);
        fprintf(stderr, "%schunk %d/%d, PPL %s, %.1f tok/s, %.1f s, %s%s", u->tty ? "\r" : "", p->chunks_done,
                p->n_chunks, ppl, p->tps, p->elapsed_s, eta, u->tty ? "\033[K" : "\n");
        u->printed = true;
    }
    return !lt_cli_interrupted();
}

static void json_out(const char *model, const char *file, const char *base, const lt_ppl_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddNumberToObject(o, "ppl", r->ppl);
    cJSON_AddNumberToObject(o, "ppl_stderr", r->ppl_stderr);
    cJSON_AddNumberToObject(o, "nll_mean", r->nll_mean);
    cJSON_AddNumberToObject(o, "tokens_scored", (double)r->n_scored);
    cJSON_AddNumberToObject(o, "text_tokens", (double)r->n_text);
    cJSON_AddNumberToObject(o, "chunks", r->n_chunks);
    cJSON_AddNumberToObject(o, "ctx", r->ctx);
    cJSON_AddNumberToObject(o, "batch", r->batch);
    cJSON_AddNumberToObject(o, "parallel", r->n_par);
    cJSON_AddStringToObject(o, "scored", r->all_tokens ? "all-tokens" : "second-half");
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    cJSON_AddNumberToObject(o, "tokens_per_second", r->seconds > 0 ? (double)r->n_chunks * r->ctx / r->seconds : 0);
    if (r->has_kld) {
        cJSON_AddStringToObject(o, "base", base);
        cJSON_AddNumberToObject(o, "kld_mean", r->kld_mean);
        cJSON_AddNumberToObject(o, "kld_stderr", r->kld_stderr);
        cJSON_AddNumberToObject(o, "top1_agreement", r->top1);
        cJSON_AddNumberToObject(o, "top1_stderr", r->top1_stderr);
        cJSON_AddNumberToObject(o, "base_ppl", r->base_ppl);
        cJSON_AddNumberToObject(o, "base_ppl_stderr", r->base_ppl_stderr);
    }
    char *s = cJSON_PrintUnformatted(o);
    puts(s);
    cJSON_free(s);
    cJSON_Delete(o);
}

static int eval_ppl(int argc, char **argv) {
    const char *model = NULL, *tokp = NULL, *device = NULL;
    int threads = 0;
    bool json = false;
    lt_ppl_args a;
    lt_ppl_args_default(&a);
    const char *usage = "-m MODEL -f TEXT [--ctx 512] [--chunks N] [--batch 512] [--all-tokens] [--kld BASE] [--json]";
    lt_opt opts[8 + LT_PPL_N_OPTS] = {
        {"--model", "-m", LT_OPT_STR, &model, "GGUF file, Hugging Face folder or llama2.c checkpoint"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        lt_cli_threads_opt(&threads),
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        {"--json", NULL, LT_OPT_FLAG, &json, "print one JSON object"},
    };
    lt_ppl_opts_add(&a, opts, (int)(sizeof opts / sizeof opts[0]));
    int n_pos;
    if (!lt_cli_parse("eval ppl", usage, opts, argc, argv, NULL, 0, &n_pos)) return 2;
    if (!model || !a.file) {
        fprintf(stderr, "lathe eval ppl: %s is required\n", !model ? "-m MODEL" : "-f TEXT");
        lt_cli_usage("eval ppl", usage, opts);
        return 2;
    }
    lt_err err = {0};
    char *text = NULL;
    size_t len = 0;
    if (lt_file_read_all(a.file, (size_t)1 << 30, &text, &len, &err) != LT_OK) { /* before loading anything */
        fprintf(stderr, "lathe eval ppl: %s\n", err.msg);
        return 1;
    }
    lt_ppl_opts po = {.ctx = a.ctx, .n_chunks = a.n_chunks, .batch = a.batch, .all_tokens = a.all_tokens};
    int n_par, max_rows;
    lt_ppl_shape(&po, &n_par, &max_rows);
    lt_lm_opts lo = {.max_batch = n_par > 1 ? n_par * a.ctx : (a.batch < a.ctx ? a.batch : a.ctx),
                     .max_logits = max_rows > 0 ? max_rows : 1};
    lt_backend *be = NULL;
    lt_lm *m = NULL, *base = NULL;
    lt_tokenizer *tok = NULL, *btok = NULL;
    lt_kv_cache *kv = NULL, *bkv = NULL;
    int32_t *ids = NULL;
    int64_t n = 0;
    int rc = 1;
    if (!lt_cli_backend(device, threads, &be) ||
        !lt_cli_open_lm_opts(NULL, model, tokp, NULL, NULL, 0, &lo, be, &m, &tok, NULL))
        goto done;
    if (!tok) {
        fprintf(stderr, "lathe eval ppl: %s has no tokenizer; pass --tokenizer FILE\n", model);
        goto done;
    }
    if (a.kld && !lt_cli_open_lm_opts("base model", a.kld, NULL, NULL, NULL, 0, &lo, be, &base, &btok, NULL))
        goto done;
    if (btok && lt_ppl_check_vocab(tok, btok, &err) != LT_OK) goto fail;
    if (lt_ppl_tokenize(tok, text, len, &ids, &n, &err) != LT_OK) {
        lt_err_prefix(&err, "%s", a.file);
        goto fail;
    }
    lt_free(text);
    text = NULL;
    /* caches for the chunks side by side (a ctx beyond the model's context is the evaluation's error) */
    int mctx = lt_lm_config(m)->max_seq;
    lt_kv_opts ko = lt_lm_kv_opts(m, a.ctx < mctx || mctx <= 0 ? a.ctx : mctx, n_par);
    ko.dtype = LT_F16; /* as the workbench (and llama.cpp) keep it */
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK) goto fail;
    if (base) {
        int bctx = lt_lm_config(base)->max_seq;
        lt_kv_opts bo = lt_lm_kv_opts(base, a.ctx < bctx || bctx <= 0 ? a.ctx : bctx, n_par);
        bo.dtype = LT_F16;
        if (lt_kv_create(&bkv, be, &bo, &err) != LT_OK) goto fail;
    }
    progress_ud pu = {.tty = isatty(STDERR_FILENO), .last = lt_now()};
    po.bos = lt_ppl_bos(tok);
    po.base = base, po.base_kv = bkv;
    po.progress = on_progress, po.ud = &pu;
    lt_cli_sigint_catch(NULL, NULL);
    lt_ppl_result r;
    lt_status st = lt_ppl_eval(m, kv, ids, n, &po, &r, &err);
    lt_cli_sigint_release();
    if (pu.printed && pu.tty) fputc('\n', stderr);
    char report[1024];
    if (st == LT_ECANCELLED) {
        lt_ppl_format(&r, report, sizeof report);
        fprintf(stderr, "lathe eval ppl: interrupted after %d of %d chunks%s\n%s", r.n_chunks, r.n_chunks_total,
                r.n_chunks ? "; over those:" : "", r.n_chunks ? report : "");
        rc = LT_CLI_INTERRUPTED;
        goto done;
    }
    if (st != LT_OK) goto fail;
    if (json) {
        json_out(model, a.file, a.kld, &r);
    } else {
        lt_ppl_format(&r, report, sizeof report);
        printf("perplexity of %s on %s\n%s", model, a.file, report);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "lathe eval ppl: %s\n", strncmp(err.msg, "eval ppl: ", 10) ? err.msg : err.msg + 10);
done:
    lt_free(text);
    lt_free(ids);
    lt_kv_free(bkv);
    lt_kv_free(kv);
    lt_lm_close(base);
    lt_lm_close(m);
    lt_tok_free(btok);
    lt_tok_free(tok);
    lt_backend_free(be);
    return rc;
}

int lt_cli_eval(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "ppl")) return eval_ppl(argc - 1, argv + 1);
    fprintf(stderr, "usage: lathe eval ppl -m MODEL -f TEXT [options]   (`lathe eval ppl --help` lists them)\n");
    return 2;
}
