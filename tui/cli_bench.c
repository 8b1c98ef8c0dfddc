/* cli_bench.c - `lathe bench`: prefill and decode speed of a model, with the memory
 * roofline the backend itself measures (a device-to-device copy), as text or JSON.
 *
 * Decode is measured like llama-bench's tg: batch 1 from an empty context, greedy on the
 * model's own logits. Prefill is one prompt of --prompt tokens (default 512). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/generate.h"
#include "../models/llama.h"
#include "cli.h"

/* Best-of-3 copy bandwidth (read + write bytes per second) over a 256 MiB buffer. */
static double copy_bandwidth(lt_backend *be) {
    size_t bytes = 256u << 20;
    void *mem = NULL;
    lt_err err;
    if (lt_backend_alloc(be, 2 * bytes, LT_MEM_OTHER, &mem, &err) != LT_OK) return 0;
    lt_tensor t = lt_tensor_1d(be, LT_F32, mem, (int64_t)(2 * bytes / 4));
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = lt_now();
        if (lt_tensor_copy_range(&t, bytes, &t, 0, bytes, &err) != LT_OK || lt_backend_sync(be, &err) != LT_OK) break;
        double dt = lt_now() - t0;
        if (r > 0 && dt > 0 && 2.0 * bytes / dt > best) best = 2.0 * bytes / dt; /* first run warms pages */
    }
    lt_backend_release(be, mem, 2 * bytes, LT_MEM_OTHER);
    return best;
}

int lt_cli_bench(int argc, char **argv) {
    const char *model = NULL, *synth = NULL, *type = "f16", *device = NULL, *tokp = NULL;
    int threads = 0, n_prompt = 512, n_gen = 128;
    bool json = false;
    const char *usage = "-m MODEL | --synthetic PRESET [--type T] [options]";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &model, "model to measure"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, "llama2.c tokenizer (not needed for timing)"},
        {"--synthetic", NULL, LT_OPT_STR, &synth, "random weights shaped like tiny, llama-1b, llama-7b or llama-8b"},
        {"--type", NULL, LT_OPT_STR, &type, "synthetic weight type: f32, f16, bf16, q8_0, q4_0 (default f16)"},
        {"--prompt", "-p", LT_OPT_INT, &n_prompt, "prefill tokens (default 512)"},
        {"--gen", "-n", LT_OPT_INT, &n_gen, "decode tokens (default 128)"},
        {"--threads", "-t", LT_OPT_INT, &threads, "CPU threads (default: all cores)"},
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
    lt_modelsrc *src = NULL;
    lt_tokenizer *tok = NULL;
    lt_backend *be = NULL;
    lt_lm *m = NULL;
    lt_kv_cache *kv = NULL;
    float *logits = NULL;
    int32_t *ids = NULL;
    int rc = 1;
    lt_err err = {0};
    if (!lt_cli_backend(device, threads, &be)) goto done;
    const char *name;
    if (synth) {
        lt_llm_config cfg;
        lt_dtype dt = lt_dtype_from_name(type);
        if (dt == LT_DTYPE_COUNT || dt == LT_I32) {
            fprintf(stderr, "lathe bench: unknown --type '%s' (f32, f16, bf16, q8_0, q4_0)\n", type);
            rc = 2;
            goto done;
        }
        if (lt_llama_preset(synth, &cfg, &err) != LT_OK ||
            lt_llama_open_synthetic(&m, &cfg, dt, 1234, be, NULL, &err) != LT_OK) {
            fprintf(stderr, "lathe: %s\n", err.msg);
            goto done;
        }
        name = synth;
    } else {
        if (!lt_cli_open_model(model, tokp, &src, &tok)) goto done;
        if (lt_llama_open(&m, src, be, NULL, &err) != LT_OK) {
            fprintf(stderr, "lathe: %s\n", err.msg);
            goto done;
        }
        name = model;
    }
    const lt_llm_config *c = lt_lm_config(m);
    int ctx = n_prompt > n_gen ? n_prompt : n_gen;
    if (ctx < 16) ctx = 16;
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, 2);
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        goto done;
    }
    logits = lt_malloc((size_t)c->n_vocab * sizeof(float));
    ids = lt_malloc((size_t)n_prompt * sizeof(int32_t));
    if (!logits || !ids) goto done;
    uint64_t r = 42;
    for (int i = 0; i < n_prompt; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((r >> 33) % (uint64_t)c->n_vocab);
    }
    int seq;
    /* warm-up: threads, caches, page faults */
    if (lt_kv_seq_new(kv, &seq, &err) != LT_OK ||
        lt_lm_eval(m, kv, seq, ids, n_prompt < 16 ? n_prompt : 16, false, logits, &err) != LT_OK) {
        fprintf(stderr, "lathe: %s\n", err.msg);
        goto done;
    }
    lt_kv_seq_free(kv, seq);

    if (lt_kv_seq_new(kv, &seq, &err) != LT_OK) goto fail;
    double t0 = lt_now();
    if (lt_lm_eval(m, kv, seq, ids, n_prompt, false, logits, &err) != LT_OK) goto fail;
    double prefill_s = lt_now() - t0;
    lt_kv_seq_free(kv, seq);

    if (lt_kv_seq_new(kv, &seq, &err) != LT_OK) goto fail;
    int32_t cur = ids[0];
    t0 = lt_now();
    for (int i = 0; i < n_gen; i++) {
        if (lt_lm_eval(m, kv, seq, &cur, 1, false, logits, &err) != LT_OK) goto fail;
        cur = lt_argmax(logits, c->n_vocab);
    }
    double decode_s = lt_now() - t0;
    lt_kv_seq_free(kv, seq);

    double peak = copy_bandwidth(be);
    size_t bpt = m->bytes_per_token;
    /* K and V bytes read per decoded token at the mean context (n_gen / 2), f32 cache */
    double kv_read = (double)n_gen / 2 * 2 * c->n_layers * c->n_kv_heads * c->head_dim * 4;
    double pre_tps = n_prompt / prefill_s, dec_tps = n_gen / decode_s;
    double achieved = ((double)bpt + kv_read) * dec_tps;
    double params = 0;
    {
        double D = c->dim, F = c->hidden_dim, QW = (double)c->n_heads * c->head_dim,
               KW = (double)c->n_kv_heads * c->head_dim;
        params = c->n_layers * (D * QW * 2 + D * KW * 2 + 3 * D * F) + (double)c->n_vocab * D;
    }
    double prefill_tflops = 2.0 * params * pre_tps / 1e12;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", name);
        cJSON_AddStringToObject(o, "type", lt_dtype_name(m->wtype));
        cJSON_AddStringToObject(o, "backend", lt_backend_name(be));
        cJSON_AddStringToObject(o, "device", lt_backend_device(be));
        cJSON_AddNumberToObject(o, "threads", lt_backend_threads(be));
        cJSON_AddNumberToObject(o, "params", params);
        cJSON_AddNumberToObject(o, "weight_bytes", (double)m->weight_bytes);
        cJSON *p = cJSON_AddObjectToObject(o, "prefill");
        cJSON_AddNumberToObject(p, "tokens", n_prompt);
        cJSON_AddNumberToObject(p, "seconds", prefill_s);
        cJSON_AddNumberToObject(p, "tok_s", pre_tps);
        cJSON_AddNumberToObject(p, "achieved_tflops", prefill_tflops);
        cJSON *d = cJSON_AddObjectToObject(o, "decode");
        cJSON_AddNumberToObject(d, "tokens", n_gen);
        cJSON_AddNumberToObject(d, "seconds", decode_s);
        cJSON_AddNumberToObject(d, "tok_s", dec_tps);
        cJSON_AddNumberToObject(d, "bytes_per_token", (double)bpt + kv_read);
        cJSON_AddNumberToObject(d, "achieved_gbs", achieved / 1e9);
        cJSON_AddNumberToObject(d, "peak_copy_gbs", peak / 1e9);
        cJSON_AddNumberToObject(d, "roofline_fraction", peak > 0 ? achieved / peak : 0);
        char *s = cJSON_PrintUnformatted(o);
        puts(s);
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        printf("model     %s (%s, %.0fM parameters, %.1f MiB of weights)\n", name, lt_dtype_name(m->wtype),
               params / 1e6, m->weight_bytes / 1048576.0);
        printf("device    %s [%s]\n", lt_backend_device(be), lt_backend_name(be));
        printf("prefill   %d tokens: %.1f tok/s (%.3f TFLOP/s)\n", n_prompt, pre_tps, prefill_tflops);
        printf("decode    %d tokens: %.2f tok/s, %.2f ms/token\n", n_gen, dec_tps, 1000.0 / dec_tps);
        printf("memory    %.1f MiB read per token, %.2f GB/s achieved, %.2f GB/s copy peak (%.0f%%)\n",
               ((double)bpt + kv_read) / 1048576.0, achieved / 1e9, peak / 1e9,
               peak > 0 ? 100.0 * achieved / peak : 0);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "lathe: %s\n", err.msg);
done:
    lt_free(ids);
    lt_free(logits);
    lt_kv_free(kv);
    lt_lm_close(m);
    lt_backend_free(be);
    lt_tok_free(tok);
    lt_modelsrc_close(src);
    return rc;
}
