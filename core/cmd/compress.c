/* compress.c - the compression commands: `quantize OUT.gguf TYPE [--pure] [--model NAME]`
 * writes the source file of a loaded language model (the current one by default) as GGUF with
 * one of llama.cpp's mixes, through the quantize pass `lathe quantize` runs
 * (core/compress/quantize.h): progress in the status bar, Esc stops it (nothing is written),
 * llama-quantize's size summary in the transcript. The digest is the number of tensors of each
 * written type and the bytes written.
 * Leaves out: the pass and the rules (core/compress), models that came from no file
 * (synthetic ones: there is nothing to read again).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "core/base/opts.h"
#include "core/compress/quantize.h"
#include "core/formats/modelsrc_open.h"

static const char k_usage[] = "quantize OUT.gguf TYPE [--pure] [--model NAME]";

typedef struct quant_ud {
    lt_session *s;
    lt_sink *sink;
} quant_ud;

static bool on_progress(void *ud, const lt_gguf_write_event *ev) {
    quant_ud *q = ud;
    if (ev->bytes_total) lt_sink_progress(q->sink, "quantize", (double)ev->bytes_done / (double)ev->bytes_total);
    return !lt_session_cancelled(q->s);
}

static lt_status cmd_quantize(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *model = NULL;
    bool pure = false;
    lt_opt opts[] = {
        {"--pure", NULL, LT_OPT_FLAG, &pure, "TYPE for every quantizable tensor, no mix rules"},
        {"--model", NULL, LT_OPT_STR, &model, "the loaded model to read (default: the current one)"},
        {NULL},
    };
    const char *pos[2];
    int n_pos;
    LT_TRY(lt_args_parse(a, "quantize", k_usage, opts, pos, 2, &n_pos, err));
    if (n_pos != 2) return lt_err_set(err, LT_EINVAL, "quantize: expected OUT.gguf and TYPE; usage: %s", k_usage);
    lt_quantmix mix;
    if (lt_quantmix_parse(pos[1], pure, &mix, err) != LT_OK) return lt_err_prefix(err, "quantize");
    const char *name, *path, *tokp;
    if (lt_session_model_source(s, model, &name, &path, &tokp, err) != LT_OK) return lt_err_prefix(err, "quantize");
    if (lt_session_token_limit(s) >= 0) { /* replaying a quantize that was cancelled: it wrote nothing then */
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[quantize of %s skipped: it was cancelled in the recording]\n", name);
        return LT_OK;
    }
    lt_modelsrc *src = NULL;
    if (lt_modelsrc_open(&src, path, tokp, err) != LT_OK) return lt_err_prefix(err, "quantize");
    lt_sink_printf(sink, LT_TEXT_INFO, "quantizing '%s' (%s) to %s as %s%s\n", name, path, pos[0], mix.name,
                   mix.pure ? " --pure" : "");
    lt_sink_progress(sink, "quantize", 0);
    quant_ud q = {s, sink};
    lt_quantize_opts o = {.progress = on_progress, .ud = &q};
    lt_quantize_report r;
    lt_status st = lt_quantize(src, pos[0], &mix, &o, &r, err);
    lt_modelsrc_close(src);
    if (st == LT_ECANCELLED && lt_session_cancelled(s)) {
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[quantize cancelled: %s was not written]\n", pos[0]);
        return LT_OK;
    }
    if (st != LT_OK) return lt_err_prefix(err, "quantize");
    lt_sink_progress(sink, "quantize", 1);
    double ne = r.n_elements ? (double)r.n_elements : 1;
    char types[512] = "";
    uint64_t h = LT_FNV_INIT;
    for (int t = 0; t < LT_DTYPE_COUNT; t++)
        if (r.count[t]) {
            snprintf(types + strlen(types), sizeof types - strlen(types), " %d %s", r.count[t],
                     lt_dtype_name((lt_dtype)t));
            int32_t v[2] = {t, r.count[t]};
            h = lt_fnv1a64(h, v, sizeof v);
        }
    h = lt_fnv1a64(h, &r.bytes_out, sizeof r.bytes_out);
    lt_session_set_digest(s, h);
    lt_sink_printf(sink, LT_TEXT_INFO,
                   "model size = %.2f MiB (%.2f BPW), quant size = %.2f MiB (%.2f BPW); %d tensors:%s%s; wrote %s "
                   "(general.file_type %d) in %.2f s\n",
                   r.bytes_in / 1048576.0, r.bytes_in * 8.0 / ne, r.bytes_out / 1048576.0, r.bytes_out * 8.0 / ne,
                   r.n_tensors, types, r.n_fallback ? " (some fell back: row length)" : "", pos[0], (int)mix.ftype,
                   r.seconds);
    return LT_OK;
}

static const lt_cmd_arg k_quantize_args[] = {
    {"OUT.gguf", "the GGUF file to write"},
    {"TYPE", "a tensor type (q8_0, q4_K, ...) or a llama-quantize mix (Q4_K_M, Q5_K_S, ...)"},
    {NULL, NULL}};

static const lt_cmd k_cmds[] = {
    {"quantize", NULL, k_usage, "write the current model's source as GGUF with a llama.cpp mix (Q4_K_M...)", 2, 5,
     k_quantize_args, true, cmd_quantize},
    {NULL},
};

const lt_cmd_table lt_cmd_compress_table = {"compress", k_cmds};
