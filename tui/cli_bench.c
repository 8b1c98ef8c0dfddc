/* cli_bench.c - `lathe bench`: prefill and decode speed of a model with the two rooflines
 * the backend measures itself, as text or JSON; and `lathe bench spec`: plain against
 * speculative decoding (core/llm/spec.h) side by side.
 *
 * Only the command line lives here - argv parsing, opening the model and its KV cache, and
 * the output formats. What is measured (warm-up, one prefill of --prompt random tokens,
 * --gen tokens decoded greedily from an empty context like llama-bench's tg; the plain and
 * speculative runs of bench spec) is core/llm/bench.h, the measurement the workbench's
 * `bench` uses too. Leaves out: `lathe bench detect` (tui/cli_detect.c), `lathe bench imagine`
 * (tui/cli_imagine.c), `lathe bench serve` (tui/cli_bench_serve.c). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/llm/bench.h"
#include "models/llama.h"
#include "cli.h"

/* ---- lathe bench spec ------------------------------------------------------------------- */

typedef struct spec_case {
    char name[300];
    lt_spec_kind kind;
    lt_lm *draft;
} spec_case;

static int bench_spec(int argc, char **argv) {
    const char *model = NULL, *synth = NULL, *type = "q8_0", *device = NULL, *tokp = NULL, *spec = NULL,
               *draft_path = NULL, *text = NULL;
    int threads = 0, n_gen = 128, n_prompt = 0, repeat = 1, runs = 3, self_prompt = 0;
    bool json = false;
    lt_spec_params so = {0}; /* the speculative options (the table `spec` uses) */
    float temp = 0;
    const char *usage = "-m TARGET | --synthetic PRESET [--spec ngram|draft:MODEL|triforce[:MODEL]|all] [options]";
    lt_opt opts[40] = {
        {"--model", "-m", LT_OPT_STR, &model, "target model"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {"--synthetic", NULL, LT_OPT_STR, &synth, "random target shaped like tiny, llama-1b, llama-7b or llama-8b"},
        {"--type", NULL, LT_OPT_STR, &type, "synthetic weight type (default q8_0)"},
        {"--spec", NULL, LT_OPT_STR, &spec, "source to measure; all (default) = ngram, draft, triforce as applicable"},
        {"--draft", NULL, LT_OPT_STR, &draft_path, "draft model for --spec all"},
        {"--prompt", "-p", LT_OPT_STR, &text, "prompt text (default: a story opening)"},
        {"--repeat", NULL, LT_OPT_INT, &repeat, "repeat the prompt text N times (makes prompt lookup effective)"},
        {"--prompt-tokens", NULL, LT_OPT_INT, &n_prompt, "instead: a prompt of N random tokens (long-context runs)"},
        {"--self-prompt", NULL, LT_OPT_INT, &self_prompt,
         "append the target's own N-token greedy continuation to the prompt first"},
        {"--gen", "-n", LT_OPT_INT, &n_gen, "tokens to generate (default 128)"},
        lt_cli_setting_opt("temp", "--temp", NULL, LT_OPT_FLOAT, &temp,
                           "temperature (default 0 = greedy, output checked against plain)"),
        {"--runs", NULL, LT_OPT_INT, &runs, "best of N runs of each (default 3)"},
        lt_cli_threads_opt(&threads),
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        {"--json", NULL, LT_OPT_FLAG, &json, "print one JSON object"},
    };
    lt_spec_opts_add(&so, opts, (int)(sizeof opts / sizeof opts[0]));
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("bench spec", usage, opts, argc, argv, pos, 0, &n_pos)) return 2;
    if (!model == !synth) {
        fprintf(stderr, "lathe bench spec: give either -m TARGET or --synthetic PRESET\n");
        lt_cli_usage("bench spec", usage, opts);
        return 2;
    }
    if (n_gen < 1 || repeat < 1 || runs < 1 || n_prompt < 0 || self_prompt < 0) {
        fprintf(stderr, "lathe bench spec: counts and sizes must be positive\n");
        return 2;
    }
    lt_err err = {0};
    spec_case cases[8];
    memset(cases, 0, sizeof cases);
    int nc = 0;
    lt_backend *be = NULL;
    lt_lm *m = NULL, *draft = NULL;
    lt_tokenizer *tok = NULL;
    lt_kv_cache *kv = NULL;
    int32_t *ids = NULL, *ref = NULL;
    char *buf = NULL;
    cJSON *jo = NULL;
    int rc = 1;
    if (spec && strcmp(spec, "all")) {
        const char *mp;
        lt_spec_kind k;
        if (lt_spec_parse(spec, &k, &mp, &err) != LT_OK) {
            fprintf(stderr, "lathe bench spec: %s\n", err.msg);
            return 2;
        }
        if (k == LT_SPEC_OFF) {
            fprintf(stderr, "lathe bench spec: --spec off has nothing to compare\n");
            return 2;
        }
        if (mp) draft_path = mp;
        cases[nc].kind = k;
        snprintf(cases[nc++].name, sizeof cases[0].name, "%s", spec);
    }
    if (!lt_cli_backend(device, threads, &be)) goto done;
    const char *name = synth ? synth : model;
    int need = (n_prompt > 0 ? n_prompt : 64) + self_prompt + n_gen + 80;
    if (!lt_cli_open_lm(NULL, model, tokp, synth, type, need, be, &m, synth ? NULL : &tok, NULL)) goto done;
    if (draft_path && !lt_cli_open_lm("draft model", draft_path, NULL, NULL, NULL, 0, be, &draft, NULL, NULL))
        goto done;
    if (nc == 0) { /* all applicable sources */
        cases[nc].kind = LT_SPEC_NGRAM;
        snprintf(cases[nc++].name, sizeof cases[0].name, "ngram");
        if (draft) {
            cases[nc].kind = LT_SPEC_DRAFT;
            snprintf(cases[nc++].name, sizeof cases[0].name, "draft:%s", draft_path);
        }
        cases[nc].kind = LT_SPEC_TRIFORCE;
        snprintf(cases[nc++].name, sizeof cases[0].name, "triforce");
        if (draft) {
            cases[nc].kind = LT_SPEC_TRIFORCE;
            cases[nc].draft = draft;
            snprintf(cases[nc++].name, sizeof cases[0].name, "triforce:%s", draft_path);
        }
    } else {
        cases[0].draft = draft;
    }
    for (int i = 0; i < nc; i++)
        if (cases[i].kind == LT_SPEC_DRAFT) cases[i].draft = draft;
    const lt_llm_config *c = lt_lm_config(m);
    /* the prompt */
    int np = 0;
    if (n_prompt > 0 || !tok) {
        if (n_prompt <= 0) n_prompt = 64;
        ids = lt_malloc((size_t)n_prompt * sizeof(int32_t));
        if (!ids) goto done;
        lt_bench_prompt_ids(ids, n_prompt, c->n_vocab);
        np = n_prompt;
    } else {
        if (!text) text = "Once upon a time, there was a little girl named Lily. She loved to play outside.";
        size_t tl = strlen(text), bl = (tl + 1) * (size_t)repeat + 1;
        buf = lt_malloc(bl);
        if (!buf) goto done;
        buf[0] = 0;
        for (int i = 0; i < repeat; i++) {
            if (i) strcat(buf, " ");
            strcat(buf, text);
        }
        int64_t n = 0;
        lt_err terr = {0};
        if (lt_tok_encode_all(tok, buf, strlen(buf), true, false, 0, &ids, &n, &terr) != LT_OK || n <= 0) {
            fprintf(stderr, "lathe bench: cannot tokenize the prompt%s%s\n", terr.msg[0] ? ": " : "", terr.msg);
            goto done;
        }
        np = (int)n;
    }
    int ctx = np + self_prompt + n_gen + 80;
    if (ctx > c->max_seq && !synth) {
        fprintf(stderr, "lathe bench spec: prompt (%d) + generation (%d) exceed the model's context %d\n", np, n_gen,
                c->max_seq);
        rc = 2;
        goto done;
    }
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, 2);
    ko.block_size = so.chunk > 0 ? so.chunk : 16;
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK) goto fail;
    if (self_prompt > 0) { /* the model's own continuation */
        int32_t *big = lt_realloc(ids, (size_t)(np + self_prompt) * sizeof(int32_t));
        if (!big) goto done;
        ids = big;
        if (lt_bench_self_prompt(m, kv, ids, np, self_prompt, &np, &err) != LT_OK) goto fail;
    }
    ref = lt_malloc((size_t)n_gen * sizeof(int32_t));
    if (!ref) goto done;
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = n_gen, .ignore_eos = true};
    gp.sp.temp = temp;
    gp.sp.seed = 1;
    lt_bench_decode plain; /* best of --runs after a short warm-up: the machine may be shared */
    if (lt_bench_plain(m, kv, ids, np, &gp, runs, ref, &plain, &err) != LT_OK) goto fail;
    double plain_tps = plain.tps;
    if (json) {
        jo = cJSON_CreateObject();
        cJSON_AddStringToObject(jo, "model", name);
        cJSON_AddStringToObject(jo, "type", lt_dtype_name(m->wtype));
        cJSON_AddStringToObject(jo, "backend", lt_backend_name(be));
        cJSON_AddStringToObject(jo, "device", lt_backend_device(be));
        cJSON_AddNumberToObject(jo, "threads", lt_backend_threads(be));
        cJSON_AddNumberToObject(jo, "prompt_tokens", np);
        cJSON_AddNumberToObject(jo, "temp", temp);
        cJSON *pj = cJSON_AddObjectToObject(jo, "plain");
        cJSON_AddNumberToObject(pj, "tokens", plain.n_gen);
        cJSON_AddNumberToObject(pj, "tok_s", plain_tps);
    } else {
        printf("model     %s (%s) on %s [%s], prompt %d tokens, %d generated, temp %g\n", name,
               lt_dtype_name(m->wtype), lt_backend_device(be), lt_backend_name(be), np, n_gen, temp);
        printf("%-34s %9s %8s %9s %9s %7s\n", "source", "tok/s", "speedup", "accepted", "mean len", "exact");
        printf("%-34s %9.1f %8s %9s %9s %7s\n", "plain", plain_tps, "1.00x", "-", "-", "-");
    }
    cJSON *arr = json ? cJSON_AddArrayToObject(jo, "spec") : NULL;
    for (int i = 0; i < nc; i++) {
        lt_spec_params sp = lt_spec_defaults(cases[i].kind);
        sp.draft = cases[i].draft;
        sp.gamma = so.gamma;
        sp.adaptive = so.adaptive;
        sp.budget = so.budget;
        sp.chunk = so.chunk;
        sp.gamma_bottom = so.gamma_bottom;
        sp.window = so.window;
        lt_bench_decode sr;
        if (lt_bench_spec(m, kv, &sp, ids, np, &gp, runs, ref, plain.n_gen, &sr, &err) != LT_OK) goto fail;
        const lt_spec_stats st = sr.st;
        double tps = sr.tps;
        bool exact = sr.exact;
        const char *ex = temp > 0 ? "n/a" : exact ? "yes" : "NO";
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "source", cases[i].name);
            cJSON_AddNumberToObject(o, "tok_s", tps);
            cJSON_AddNumberToObject(o, "speedup", plain_tps > 0 ? tps / plain_tps : 0);
            cJSON_AddNumberToObject(o, "acceptance_rate", st.level[0].accept_rate);
            cJSON_AddNumberToObject(o, "mean_accepted_length", st.level[0].mean_len);
            cJSON_AddNumberToObject(o, "drafted", (double)st.level[0].drafted);
            cJSON_AddNumberToObject(o, "accepted", (double)st.level[0].accepted);
            cJSON_AddNumberToObject(o, "target_steps", (double)st.level[0].steps);
            if (st.n_levels > 1) {
                cJSON_AddNumberToObject(o, "bottom_acceptance_rate", st.level[1].accept_rate);
                cJSON_AddNumberToObject(o, "bottom_mean_accepted_length", st.level[1].mean_len);
            }
            if (temp <= 0) cJSON_AddBoolToObject(o, "exact", exact);
            cJSON_AddItemToArray(arr, o);
        } else {
            char acc[32], len[32];
            snprintf(acc, sizeof acc, "%.1f%%", 100.0 * st.level[0].accept_rate);
            snprintf(len, sizeof len, "%.2f", st.level[0].mean_len);
            printf("%-34.34s %9.1f %7.2fx %9s %9s %7s\n", cases[i].name, tps, plain_tps > 0 ? tps / plain_tps : 0, acc,
                   len, ex);
            if (st.n_levels > 1)
                printf("%-34s %9s %8s %8.1f%% %9.2f %7s\n", "  (bottom level -> retrieval)", "", "",
                       100.0 * st.level[1].accept_rate, st.level[1].mean_len, "");
        }
        if (temp <= 0 && !exact) fprintf(stderr, "lathe bench spec: %s did not reproduce plain greedy output\n",
                                         cases[i].name);
    }
    if (json) {
        char *js = cJSON_PrintUnformatted(jo);
        puts(js);
        cJSON_free(js);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "lathe: %s\n", err.msg);
done:
    cJSON_Delete(jo);
    lt_free(buf);
    lt_free(ids);
    lt_free(ref);
    lt_kv_free(kv);
    lt_lm_close(draft);
    lt_lm_close(m);
    lt_backend_free(be);
    lt_tok_free(tok);
    return rc;
}

int lt_cli_bench(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "spec")) return bench_spec(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "detect")) return lt_cli_bench_detect(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "imagine")) return lt_cli_bench_imagine(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "serve")) return lt_cli_bench_serve(argc - 1, argv + 1);
    const char *model = NULL, *synth = NULL, *type = "f16", *device = NULL, *tokp = NULL;
    int threads = 0, n_prompt = 512, n_gen = 128;
    bool json = false;
    const char *usage = "-m MODEL | --synthetic PRESET [--type T] [options]   (or: lathe bench spec ...)";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &model, "model to measure"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, "llama2.c tokenizer (not needed for timing)"},
        {"--synthetic", NULL, LT_OPT_STR, &synth, "random weights shaped like tiny, llama-1b, llama-7b or llama-8b"},
        {"--type", NULL, LT_OPT_STR, &type, "synthetic weight type: f32, f16, bf16, q8_0, q4_0, q4_K, ... (default f16)"},
        {"--prompt", "-p", LT_OPT_INT, &n_prompt, "prefill tokens (default 512)"},
        {"--gen", "-n", LT_OPT_INT, &n_gen, "decode tokens (default 128)"},
        lt_cli_threads_opt(&threads),
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        {"--json", NULL, LT_OPT_FLAG, &json, "print one JSON object"},
        {0},
    };
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("bench", usage, opts, argc, argv, pos, 0, &n_pos)) return 2;
    if (!model == !synth) {
        fprintf(stderr, "lathe bench: give either -m MODEL or --synthetic PRESET\n");
        lt_cli_usage("bench", usage, opts);
        return 2;
    }
    if (n_prompt < 1 || n_gen < 1) {
        fprintf(stderr, "lathe bench: --prompt and --gen must be positive\n");
        return 2;
    }
    lt_tokenizer *tok = NULL;
    lt_backend *be = NULL;
    lt_lm *m = NULL;
    lt_kv_cache *kv = NULL;
    int rc = 1;
    lt_err err = {0};
    if (!lt_cli_backend(device, threads, &be)) goto done;
    const char *name = synth ? synth : model;
    if (!lt_cli_open_lm(NULL, model, tokp, synth, type, 0, be, &m, synth ? NULL : &tok, NULL)) goto done;
    int ctx = n_prompt > n_gen ? n_prompt : n_gen;
    if (ctx < 16) ctx = 16;
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, 2);
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK) goto fail;
    lt_bench_result r;
    lt_bench_opts bo = {.n_prompt = n_prompt, .n_gen = n_gen, .warmup = true};
    if (lt_bench_lm(m, kv, &bo, &r, &err) != LT_OK) goto fail;
    lt_bench_roofline(be, &r);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", name);
        cJSON_AddStringToObject(o, "type", lt_dtype_name(m->wtype));
        cJSON_AddStringToObject(o, "backend", lt_backend_name(be));
        cJSON_AddStringToObject(o, "device", lt_backend_device(be));
        cJSON_AddNumberToObject(o, "threads", lt_backend_threads(be));
        cJSON_AddNumberToObject(o, "params", r.params);
        cJSON_AddNumberToObject(o, "weight_bytes", r.weight_bytes);
        cJSON_AddNumberToObject(o, "model_file_bytes", r.model_file_bytes);
        cJSON_AddNumberToObject(o, "peak_rss_bytes", r.peak_rss_bytes);
        cJSON_AddNumberToObject(o, "kv_bytes", r.kv_bytes);
        cJSON_AddNumberToObject(o, "scratch_bytes", r.scratch_bytes);
        cJSON_AddNumberToObject(o, "kv_resident_bytes", r.kv_resident_bytes);
        cJSON_AddNumberToObject(o, "scratch_resident_bytes", r.scratch_resident_bytes);
        if (r.model_file_bytes > 0) {
            cJSON_AddNumberToObject(o, "peak_rss_over_file", r.peak_rss_over_file);
            cJSON_AddNumberToObject(o, "peak_rss_over_file_excl_kv_scratch", r.peak_rss_over_file_excl_kv_scratch);
            cJSON_AddNumberToObject(o, "peak_rss_over_file_excl_kv_scratch_resident",
                                    r.peak_rss_over_file_excl_kv_scratch_resident);
        }
        cJSON *p = cJSON_AddObjectToObject(o, "prefill");
        cJSON_AddNumberToObject(p, "tokens", r.n_prompt);
        cJSON_AddNumberToObject(p, "seconds", r.prefill_s);
        cJSON_AddNumberToObject(p, "tok_s", r.prefill_tps);
        cJSON_AddNumberToObject(p, "achieved_tflops", r.prefill_flops / 1e12);
        cJSON_AddNumberToObject(p, "peak_gemm_tflops", r.peak_gemm_flops / 1e12);
        cJSON_AddNumberToObject(p, "roofline_fraction", r.prefill_roofline);
        cJSON *d = cJSON_AddObjectToObject(o, "decode");
        cJSON_AddNumberToObject(d, "tokens", r.n_gen);
        cJSON_AddNumberToObject(d, "seconds", r.decode_s);
        cJSON_AddNumberToObject(d, "tok_s", r.decode_tps);
        cJSON_AddNumberToObject(d, "bytes_per_token", r.bytes_per_token);
        cJSON_AddNumberToObject(d, "achieved_gbs", r.achieved_bps / 1e9);
        cJSON_AddNumberToObject(d, "peak_copy_gbs", r.peak_copy_bps / 1e9);
        cJSON_AddNumberToObject(d, "roofline_fraction", r.decode_roofline);
        if (lt_backend_can_capture(be)) {
            cJSON *g = cJSON_AddObjectToObject(d, "graphs");
            cJSON_AddNumberToObject(g, "captures", (double)m->graph_captures);
            cJSON_AddNumberToObject(g, "replays", (double)m->graph_replays);
            if (m->graph_off[0]) cJSON_AddStringToObject(g, "off", m->graph_off);
        }
        char *s = cJSON_PrintUnformatted(o);
        puts(s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        printf("model     %s (%s, %.0fM parameters, %.1f MiB of weights)\n", name, lt_dtype_name(m->wtype),
               r.params / 1e6, r.weight_bytes / 1048576.0);
        printf("device    %s [%s]\n", lt_backend_device(be), lt_backend_name(be));
        printf("prefill   %d tokens: %.1f tok/s (%.3f TFLOP/s; dense GEMM %.3f TFLOP/s, %.0f%%)\n", r.n_prompt,
               r.prefill_tps, r.prefill_flops / 1e12, r.peak_gemm_flops / 1e12, 100.0 * r.prefill_roofline);
        printf("decode    %d tokens: %.2f tok/s, %.2f ms/token\n", r.n_gen, r.decode_tps,
               r.decode_tps > 0 ? 1000.0 / r.decode_tps : 0);
        printf("memory    %.1f MiB read per token, %.2f GB/s achieved, %.2f GB/s copy peak (%.0f%%)\n",
               r.bytes_per_token / 1048576.0, r.achieved_bps / 1e9, r.peak_copy_bps / 1e9, 100.0 * r.decode_roofline);
        if (r.model_file_bytes > 0)
            printf("host      %.1f MiB peak resident (model file %.1f MiB, %.2fx; KV %.1f + scratch %.1f MiB "
                   "reserved, %.2fx without them; %.1f + %.1f MiB resident, %.2fx without those)\n",
                   r.peak_rss_bytes / 1048576.0, r.model_file_bytes / 1048576.0, r.peak_rss_over_file,
                   r.kv_bytes / 1048576.0, r.scratch_bytes / 1048576.0, r.peak_rss_over_file_excl_kv_scratch,
                   r.kv_resident_bytes / 1048576.0, r.scratch_resident_bytes / 1048576.0,
                   r.peak_rss_over_file_excl_kv_scratch_resident);
        else printf("host      %.1f MiB peak resident\n", r.peak_rss_bytes / 1048576.0);
        if (lt_backend_can_capture(be))
            printf("graphs    %lld decode steps replayed, %lld captured%s%s\n", (long long)m->graph_replays,
                   (long long)m->graph_captures, m->graph_off[0] ? "; off: " : "", m->graph_off);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "lathe: %s\n", err.msg);
done:
    lt_kv_free(kv);
    lt_lm_close(m);
    lt_backend_free(be);
    lt_tok_free(tok);
    return rc;
}
