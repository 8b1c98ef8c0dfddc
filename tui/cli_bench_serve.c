/* cli_bench_serve.c - `lathe bench serve`: the serving benchmark (core/llm/bench_serve.h) over
 * the engine, printed as a table or one JSON object. Only argv, opening the model and its KV
 * cache, progress on stderr and the output formats live here. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "core/llm/bench_serve.h"
#include "cli.h"

static bool on_progress(void *ud, int done, int total) {
    (void)ud;
    fprintf(stderr, "\r  %d/%d requests", done, total);
    if (done == total) fputc('\n', stderr);
    return !lt_cli_interrupted();
}

static void add_lat(cJSON *o, const char *key, lt_lat l) {
    cJSON *j = cJSON_AddObjectToObject(o, key);
    cJSON_AddNumberToObject(j, "p50", l.p50);
    cJSON_AddNumberToObject(j, "p99", l.p99);
    cJSON_AddNumberToObject(j, "mean", l.mean);
}

static cJSON *result_json(const lt_serve_bench_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rate", r->rate);
    cJSON_AddNumberToObject(o, "completed", r->n_done);
    cJSON_AddNumberToObject(o, "failed", r->n_failed);
    cJSON_AddNumberToObject(o, "duration_s", r->duration_s);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)r->prompt_tokens);
    cJSON_AddNumberToObject(o, "output_tokens", (double)r->output_tokens);
    add_lat(o, "ttft_ms", r->ttft_ms);
    add_lat(o, "tpot_ms", r->tpot_ms);
    add_lat(o, "itl_ms", r->itl_ms);
    add_lat(o, "e2e_ms", r->e2e_ms);
    cJSON_AddNumberToObject(o, "throughput_tok_s", r->throughput_tok_s);
    cJSON_AddNumberToObject(o, "total_tok_s", r->total_tok_s);
    cJSON_AddNumberToObject(o, "requests_per_s", r->requests_per_s);
    cJSON_AddNumberToObject(o, "goodput_req_s", r->goodput_req_s);
    cJSON_AddNumberToObject(o, "steps", r->n_steps);
    cJSON_AddNumberToObject(o, "decode_tokens_per_step", r->decode_per_step);
    cJSON_AddNumberToObject(o, "prefill_tokens_per_step", r->prefill_per_step);
    cJSON_AddNumberToObject(o, "max_step_tokens", r->max_step_tokens);
    cJSON_AddNumberToObject(o, "preempted", r->n_preempted);
    cJSON_AddNumberToObject(o, "kv_blocks_peak", r->kv_blocks_peak);
    cJSON_AddNumberToObject(o, "kv_blocks_total", r->kv_blocks_total);
    if (r->kv_host_total) {
        cJSON_AddNumberToObject(o, "kv_host_blocks_peak", r->kv_host_peak);
        cJSON_AddNumberToObject(o, "kv_host_blocks_total", r->kv_host_total);
        cJSON_AddNumberToObject(o, "kv_spilled_blocks", (double)r->kv_spilled);
        cJSON_AddNumberToObject(o, "kv_fetched_blocks", (double)r->kv_fetched);
    }
    if (r->drafted) {
        cJSON_AddNumberToObject(o, "drafted", (double)r->drafted);
        cJSON_AddNumberToObject(o, "accepted", (double)r->accepted);
    }
    return o;
}

static void print_line(void *ud, const char *s) {
    (void)ud;
    puts(s);
}

int lt_cli_bench_serve(int argc, char **argv) {
    const char *model = NULL, *synth = NULL, *type = "q8_0", *device = NULL, *tokp = NULL;
    int threads = 0;
    bool json = false;
    lt_serve_bench_opts so = lt_serve_bench_defaults();
    const char *usage = "-m MODEL | --synthetic PRESET --requests N --rate R [options]";
    lt_opt opts[40] = {
        {"--model", "-m", LT_OPT_STR, &model, "model to serve"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {"--synthetic", NULL, LT_OPT_STR, &synth, "random weights shaped like tiny, llama-1b, llama-7b or llama-8b"},
        {"--type", NULL, LT_OPT_STR, &type, "synthetic weight type (default q8_0)"},
        lt_cli_threads_opt(&threads),
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        {"--json", NULL, LT_OPT_FLAG, &json, "print one JSON object"},
    };
    lt_serve_bench_opts_add(&so, opts, (int)(sizeof opts / sizeof opts[0]));
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("bench serve", usage, opts, argc, argv, pos, 0, &n_pos)) return LT_CLI_USAGE;
    lt_err err = {0};
    if (!model == !synth) {
        fprintf(stderr, "lathe bench serve: give either -m MODEL or --synthetic PRESET\n");
        lt_cli_usage("bench serve", usage, opts);
        return LT_CLI_USAGE;
    }
    if (lt_serve_bench_check(&so, &err) != LT_OK) {
        fprintf(stderr, "lathe bench serve: %s\n", err.msg);
        return LT_CLI_USAGE;
    }
    lt_backend *be = NULL;
    lt_lm *m = NULL, *draft = NULL;
    lt_tokenizer *tok = NULL;
    lt_kv_cache *kv = NULL;
    lt_serve_workload *w = NULL;
    lt_serve_bench_result trials[24];
    cJSON *jo = NULL;
    int rc = LT_CLI_FAIL;
    if (!lt_cli_backend(device, threads, &be)) goto done;
    /* one step is one forward: the model's chunk holds the budget (prefill-first: whole prompts) */
    int pmax = so.p_max;
    lt_lm_opts lo = {.max_batch = so.token_budget > 512 ? so.token_budget : 512};
    if (so.pol == LT_POLICY_PREFILL_FIRST && pmax > lo.max_batch) lo.max_batch = pmax;
    if (!lt_cli_open_lm_opts(NULL, model, tokp, synth, type, 0, &lo, be, &m, synth ? NULL : &tok, NULL)) goto done;
    if (lt_serve_workload_make(&w, &so, tok, lt_lm_config(m)->n_vocab, &err) != LT_OK) goto fail;
    int ctx = lt_serve_workload_max_ctx(w) + 1;
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, so.max_seqs);
    ko.n_blocks = so.kv_blocks;
    ko.host_blocks = so.kv_host_blocks;
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK) goto fail;
    if (so.draft_path) { /* the draft model of --spec draft:MODEL (synthetic:PRESET: random weights) */
        bool dsyn = !strncmp(so.draft_path, "synthetic:", 10);
        if (!lt_cli_open_lm_opts("draft model", dsyn ? NULL : so.draft_path, NULL, dsyn ? so.draft_path + 10 : NULL,
                                 type, 0, &lo, be, &draft, NULL, NULL))
            goto done;
        so.draft = draft;
    }
    if (lt_serve_bench_warmup(m, kv, tok, w, &so, &err) != LT_OK) goto fail;
    lt_cli_sigint_catch(NULL, NULL);
    int n_trials = 1;
    double capacity = 0;
    lt_status s = so.capacity
                      ? lt_serve_bench_capacity(m, kv, tok, w, &so, json ? NULL : on_progress, NULL, trials, &n_trials,
                                                &capacity, &err)
                      : lt_serve_bench_run(m, kv, tok, w, &so, so.rate, json ? NULL : on_progress, NULL, &trials[0], &err);
    lt_cli_sigint_release();
    if (s == LT_ECANCELLED) {
        rc = LT_CLI_INTERRUPTED;
        goto done;
    }
    if (s != LT_OK) goto fail;
    const char *name = synth ? synth : model;
    bool slo = so.slo_ttft_ms > 0 || so.slo_tpot_ms > 0;
    if (json) {
        jo = so.capacity ? cJSON_CreateObject() : result_json(&trials[0]);
        cJSON_AddStringToObject(jo, "model", name);
        cJSON_AddStringToObject(jo, "backend", lt_backend_name(be));
        cJSON_AddNumberToObject(jo, "threads", lt_backend_threads(be));
        cJSON_AddStringToObject(jo, "policy", lt_engine_policy_name(so.pol));
        cJSON_AddNumberToObject(jo, "token_budget", so.token_budget);
        cJSON_AddNumberToObject(jo, "max_seqs", so.max_seqs);
        if (so.spec_ngram || so.spec_draft) {
            cJSON_AddStringToObject(jo, "spec", so.spec_draft ? "draft" : "ngram");
            cJSON_AddNumberToObject(jo, "gamma", so.spec_draft ? so.spec_draft : so.spec_ngram);
            if (so.draft_path) cJSON_AddStringToObject(jo, "draft", so.draft_path);
        }
        cJSON_AddNumberToObject(jo, "requests", so.n_requests);
        cJSON_AddNumberToObject(jo, "burstiness", so.burstiness);
        if (slo || so.slo_tbt_ms > 0) {
            cJSON *sj = cJSON_AddObjectToObject(jo, "slo_ms");
            if (so.slo_ttft_ms > 0) cJSON_AddNumberToObject(sj, "ttft", so.slo_ttft_ms);
            if (so.slo_tpot_ms > 0) cJSON_AddNumberToObject(sj, "tpot", so.slo_tpot_ms);
            if (so.slo_tbt_ms > 0) cJSON_AddNumberToObject(sj, "tbt", so.slo_tbt_ms);
        }
        if (so.capacity) {
            cJSON_AddNumberToObject(jo, "capacity_req_s", capacity);
            cJSON *arr = cJSON_AddArrayToObject(jo, "trials");
            for (int i = 0; i < n_trials; i++) cJSON_AddItemToArray(arr, result_json(&trials[i]));
        }
        char *js = cJSON_PrintUnformatted(jo);
        puts(js);
        cJSON_free(js);
    } else {
        printf("model     %s (%s) on %s [%s], %d threads\n", name, lt_dtype_name(m->wtype), lt_backend_device(be),
               lt_backend_name(be), lt_backend_threads(be));
        printf("engine    policy %s, token budget %d, %d running at most, KV %d blocks of %d tokens\n",
               lt_engine_policy_name(so.pol), so.token_budget, so.max_seqs, lt_kv_blocks_total(kv),
               lt_kv_block_size(kv));
        if (lt_kv_host_blocks_total(kv))
            printf("kv host   %d blocks behind the device pool (attention over them on the CPU, merged)\n",
                   lt_kv_host_blocks_total(kv));
        if (so.spec_draft) printf("spec      draft model %s, %d drafts per step\n", so.draft_path, so.spec_draft);
        else if (so.spec_ngram) printf("spec      n-gram lookup, %d drafts per step\n", so.spec_ngram);
        lt_serve_bench_report(&so, trials, n_trials, capacity, print_line, NULL);
    }
    rc = LT_CLI_OK;
    goto done;
fail:
    fprintf(stderr, "lathe bench serve: %s\n", err.msg);
done:
    cJSON_Delete(jo);
    lt_serve_workload_free(w);
    lt_kv_free(kv);
    lt_lm_close(m);
    lt_lm_close(draft);
    lt_backend_free(be);
    lt_tok_free(tok);
    return rc;
}
