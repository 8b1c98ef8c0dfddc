/* compress.c - the compression commands: `compress NAME gptq|rtn [options] [as NEWNAME]` runs
 * a compression pass (core/compress/pass.h) on the source of loaded model NAME, writes
 * NEWNAME.gguf (or --out) and loads it as NEWNAME beside the original (Esc cancels: nothing
 * written, the original unchanged); `quantize OUT.gguf TYPE [--pure] [--output-tensor-type T]
 * [--token-embedding-type T] [--model NAME]`
 * writes the source file of a loaded language model (the current one by default) as GGUF with
 * one of llama.cpp's mixes, through the quantize pass `lathe quantize` runs
 * (core/compress/quantize.h): progress in the status bar, Esc stops it (nothing is written),
 * llama-quantize's size summary in the transcript. The digest is the number of tensors of each
 * written type and the bytes written.
 * `save NAME PATH [--format gguf|hf|slicegpt]` writes loaded model NAME's source (for a compressed
 * model: the file compress wrote) as GGUF, a Hugging Face folder (AutoGPTQ for GPTQ-quantized
 * matrices) or a TransformerCompression (SliceGPT) folder through core/compress/save.h; its
 * digest is that of the bytes written.
 * Leaves out: the pass and the rules (core/compress), models that came from no file
 * (synthetic ones: there is nothing to read again).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "core/base/opts.h"
#include "core/compress/pass.h"
#include "core/compress/quantize.h"
#include "core/compress/save.h"
#include "core/formats/modelsrc_open.h"

static const char k_usage[] =
    "quantize OUT.gguf TYPE [--pure] [--output-tensor-type T] [--token-embedding-type T] [--shortcut-type T] "
    "[--model NAME]";

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
    const char *model = NULL, *out_type = NULL, *embd_type = NULL, *sc_type = NULL;
    bool pure = false;
    lt_opt opts[] = {
        {"--pure", NULL, LT_OPT_FLAG, &pure, "TYPE for every quantizable tensor, no mix rules"},
        {"--output-tensor-type", NULL, LT_OPT_STR, &out_type, "the type of output.weight (and of a tied token_embd)"},
        {"--token-embedding-type", NULL, LT_OPT_STR, &embd_type, "the type of token_embd.weight"},
        {"--shortcut-type", NULL, LT_OPT_STR, &sc_type, LT_QUANTMIX_SHORTCUT_HELP},
        {"--model", NULL, LT_OPT_STR, &model, "the loaded model to read (default: the current one)"},
        {NULL},
    };
    const char *pos[2];
    int n_pos;
    LT_TRY(lt_args_parse(a, "quantize", k_usage, opts, pos, 2, &n_pos, err));
    if (n_pos != 2) return lt_err_set(err, LT_EINVAL, "quantize: expected OUT.gguf and TYPE; usage: %s", k_usage);
    lt_quantmix mix;
    if (lt_quantmix_parse(pos[1], pure, &mix, err) != LT_OK ||
        (out_type && lt_quantmix_set_override(&mix, "output", out_type, err) != LT_OK) ||
        (embd_type && lt_quantmix_set_override(&mix, "embd", embd_type, err) != LT_OK) ||
        (sc_type && lt_quantmix_set_override(&mix, "shortcut", sc_type, err) != LT_OK))
        return lt_err_prefix(err, "quantize");
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

/* ---- compress NAME gptq|rtn|sparse24|smoothquant+|slicegpt [options] [as NEWNAME] ------------------------------------ */

static const char k_compress_usage[] =
    "compress NAME gptq|rtn|sparse24|smoothquant+|slicegpt [--out FILE.gguf] [--bits 4] [--group 32] [--sym] [--no-act-order] "
    "[--clip] [--damp F] [--mask magnitude|wanda|sparsegpt] [--nm 2:4] [--skip PATTERNS] [--alpha A | --alpha-per-layer] "
    "[--search-tokens N] [--slice 0.25] [--round 8] [--slice-head] [--full-shortcuts] [--output-tensor-type T] [--token-embedding-type T] "
    "[--shortcut-type T] [--mix Q4_K_M] [--calib FILE] [--calib-tokens N] [--seed N] [as NEWNAME]";

typedef struct pass_ud {
    lt_session *s;
    lt_sink *sink;
} pass_ud;

static bool on_pass_progress(void *ud, const lt_pass_event *ev) {
    pass_ud *p = ud;
    lt_sink_progress(p->sink, "compress", ev->frac);
    return !lt_session_cancelled(p->s);
}

static lt_status cmd_compress(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *out = NULL;
    lt_pass_args pa;
    lt_pass_args_default(&pa);
    lt_opt opts[LT_PASS_N_OPTS + 2] = {
        {"--out", "-o", LT_OPT_STR, &out, "the GGUF file to write (default: NEWNAME.gguf here)"}, {0}};
    lt_pass_opts_add(&pa, opts, LT_PASS_N_OPTS + 2);
    const char *pos[4];
    int n_pos;
    LT_TRY(lt_args_parse(a, "compress", k_compress_usage, opts, pos, 4, &n_pos, err));
    if (n_pos != 2 && !(n_pos == 4 && !strcmp(pos[2], "as")))
        return lt_err_set(err, LT_EINVAL, "compress: expected NAME, a method and optionally 'as NEWNAME'; usage: %s",
                          k_compress_usage);
    pa.method = pos[1];
    lt_pass_opts po = {0};
    LT_TRY(lt_pass_args_apply(&pa, &po, err));
    const char *name, *path, *tokp;
    if (lt_session_model_source(s, pos[0], &name, &path, &tokp, err) != LT_OK) return lt_err_prefix(err, "compress");
    char newname[64], outbuf[4200];
    snprintf(newname, sizeof newname, "%s", n_pos == 4 ? pos[3] : "");
    if (!newname[0]) snprintf(newname, sizeof newname, "%.40s-%s", name, pa.method);
    if (lt_session_has_model(s, newname))
        return lt_err_set(err, LT_EINVAL, "compress: a model named '%s' is already loaded - add 'as OTHER'", newname);
    if (!out) {
        snprintf(outbuf, sizeof outbuf, "%s.gguf", newname);
        out = outbuf;
    }
    if (lt_session_token_limit(s) >= 0) { /* replaying a compress that was cancelled: it wrote nothing then */
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[compress of %s skipped: it was cancelled in the recording]\n", name);
        return LT_OK;
    }
    lt_lm *lm;
    lt_tokenizer *tok = NULL;
    lt_kv_cache *kv;
    LT_TRY(lt_session_get_lm(s, name, &lm, &tok, &kv, err));
    lt_backend *be = NULL;
    lt_modelsrc *src = NULL;
    lt_backend_opts bo = {.n_threads = lt_session_settings(s)->threads};
    lt_status st = lt_backend_create(&be, lt_session_settings(s)->device, &bo, err);
    if (st == LT_OK) st = lt_modelsrc_open(&src, path, tokp, err);
    char desc[320];
    lt_sink_printf(sink, LT_TEXT_INFO, "compressing '%s' (%s) with %s: %s -> %s\n", name, path, pa.method,
                   lt_pass_args_describe(&pa, &po, desc, sizeof desc), out);
    pass_ud pu = {s, sink};
    po.open_lm = lt_session_options(s)->open_lm, po.be = be, po.tok = tok;
    po.progress = on_pass_progress, po.ud = &pu;
    lt_pass_report r = {0};
    if (st == LT_OK) st = lt_pass_run(pa.method, src, out, &po, &r, err);
    lt_modelsrc_close(src);
    lt_backend_free(be);
    if (st == LT_ECANCELLED && lt_session_cancelled(s)) {
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[compress cancelled: %s was not written; '%s' is unchanged]\n", out, name);
        return LT_OK;
    }
    if (st != LT_OK) return lt_err_prefix(err, "compress");
    double ne = r.n_elements ? (double)r.n_elements : 1;
    lt_sink_printf(sink, LT_TEXT_INFO,
                   "%s: %d block matrices as %s%s; %.2f MiB (%.2f BPW) -> %.2f MiB (%.2f BPW); calibration %d x %d "
                   "tokens; %.1f s (calibration %.1f s, quantization %.1f s)\n",
                   r.method, r.n_matrices, r.type_name, r.n_by_mix ? " (some by the mix)" : "",
                   r.bytes_in / 1048576.0, r.bytes_in * 8.0 / ne, r.bytes_out / 1048576.0, r.bytes_out * 8.0 / ne,
                   r.n_windows, r.window, r.seconds, r.calib_seconds, r.quant_seconds);
    if (!strcmp(r.method, "slicegpt")) {
        char sc[64];
        lt_sink_printf(sink, LT_TEXT_INFO,
                       "slicegpt: residual width %d (head %d); parameters %llu -> %llu; shortcuts %s\n", r.sg.width,
                       r.sg.head_width, (unsigned long long)r.sg.params_in, (unsigned long long)r.sg.params_out,
                       lt_slicegpt_shortcuts_str(&r.sg, sc, sizeof sc));
    }
    if (!strcmp(r.method, "smoothquant+") && r.sq.per_layer) {
        lt_sink_printf(sink, LT_TEXT_INFO, "alpha per layer:");
        for (int l = 0; l < r.n_layers; l++) {
            if (r.sq.layer_alpha[l] < 0) lt_sink_printf(sink, LT_TEXT_INFO, " none");
            else lt_sink_printf(sink, LT_TEXT_INFO, " %.2f", r.sq.layer_alpha[l]);
        }
        lt_sink_printf(sink, LT_TEXT_INFO, " (loss: unquantized %.4f, rtn %.4f, per-layer alphas %.4f)\n",
                       r.sq.loss_float, r.sq.loss_rtn, r.sq.loss_layers);
    } else if (!strcmp(r.method, "smoothquant+")) {
        lt_sink_printf(sink, LT_TEXT_INFO, "alpha %.2f%s", r.sq.alpha, r.sq.n ? " (searched; loss:" : " (--alpha)\n");
        if (r.sq.n) {
            lt_sink_printf(sink, LT_TEXT_INFO, " unquantized %.4f, rtn %.4f;", r.sq.loss_float, r.sq.loss_rtn);
            for (int i = 0; i < r.sq.n; i++)
                lt_sink_printf(sink, LT_TEXT_INFO, " %.2f:%.4f", r.sq.alphas[i], r.sq.loss[i]);
            lt_sink_printf(sink, LT_TEXT_INFO, ")\n");
        }
    }
    if (!strcmp(r.method, "smoothquant+") && r.sq.unsmoothed)
        lt_sink_printf(sink, LT_TEXT_INFO, "no alpha beat plain RTN on the search windows: quantized unsmoothed "
                       "(= rtn; --alpha A forces one)\n");
    return lt_cmd_load_lm(s, out, newname, NULL, lt_session_settings(s)->ctx, sink, err);
}

/* ---- save NAME PATH ------------------------------------------------------------------------------ */

static const char k_save_usage[] = "save NAME PATH [--format gguf|hf|slicegpt]";

static bool on_save_progress(void *ud, double frac) {
    pass_ud *p = ud;
    lt_sink_progress(p->sink, "save", frac);
    return !lt_session_cancelled(p->s);
}

static lt_status cmd_save(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    const char *format = NULL;
    lt_opt opts[] = {{"--format", NULL, LT_OPT_STR, &format,
                      "gguf, hf or slicegpt (a TransformerCompression folder; default: gguf when PATH ends in .gguf, "
                      "else hf)"},
                     {NULL}};
    const char *pos[2];
    int n_pos;
    LT_TRY(lt_args_parse(a, "save", k_save_usage, opts, pos, 2, &n_pos, err));
    if (n_pos != 2) return lt_err_set(err, LT_EINVAL, "save: expected NAME and PATH; usage: %s", k_save_usage);
    const char *name, *path, *tokp;
    if (lt_session_model_source(s, pos[0], &name, &path, &tokp, err) != LT_OK) return lt_err_prefix(err, "save");
    char ra[PATH_MAX], rb[PATH_MAX];
    if (realpath(path, ra) && realpath(pos[1], rb) && !strcmp(ra, rb))
        return lt_err_set(err, LT_EINVAL, "save: %s is the file '%s' was loaded from - choose another PATH", pos[1],
                          name);
    if (lt_session_token_limit(s) >= 0) { /* replaying a save that was cancelled */
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[save of %s skipped: it was cancelled in the recording]\n", name);
        return LT_OK;
    }
    lt_modelsrc *src = NULL;
    if (lt_modelsrc_open(&src, path, tokp, err) != LT_OK) return lt_err_prefix(err, "save");
    lt_sink_progress(sink, "save", 0);
    pass_ud pu = {s, sink};
    lt_save_opts so = {.format = format, .progress = on_save_progress, .ud = &pu};
    lt_save_report r;
    lt_status st = lt_save_model(src, pos[1], &so, &r, err);
    lt_modelsrc_close(src);
    if (st == LT_ECANCELLED && lt_session_cancelled(s)) {
        lt_session_result(s)->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "[save cancelled: %s was not written]\n", pos[1]);
        return LT_OK;
    }
    if (st != LT_OK) return lt_err_prefix(err, "save");
    uint64_t h = lt_fnv1a64(LT_FNV_INIT, &r.bytes, sizeof r.bytes);
    lt_session_set_digest(s, h);
    char gq[128] = "";
    if (r.n_gptq && !strcmp(r.format, "gguf"))
        snprintf(gq, sizeof gq, "; %d GPTQ matrices as q4_0", r.n_gptq);
    else if (r.n_gptq)
        snprintf(gq, sizeof gq, "; %d matrices as AutoGPTQ gptq_v2 %d-bit groups of %d%s%s", r.n_gptq, r.bits,
                 r.group, r.sym ? " sym" : "", r.max_dev > 0 ? " (Q4_1 mins made integer zeros)" : "");
    else if (r.n_sparse)
        snprintf(gq, sizeof gq, "; %d 2:4 matrices as compressed-tensors sparse-24-bitmask", r.n_sparse);
    lt_sink_printf(sink, LT_TEXT_INFO, "saved '%s' (%s) to %s as %s: %d tensors, %.2f MiB%s\n", name, path, pos[1],
                   !strcmp(r.format, "gguf") ? "GGUF"
                   : !strcmp(r.format, "hf") ? "a Hugging Face folder"
                                             : "a SliceGPT (TransformerCompression) folder",
                   r.n_tensors, r.bytes / 1048576.0,
                   gq);
    if (r.max_dev > 0)
        lt_sink_printf(sink, LT_TEXT_INFO, "  largest weight change from that rounding: %.3g\n", r.max_dev);
    return LT_OK;
}

static const lt_cmd_arg k_compress_args[] = {
    {"NAME", "the loaded model to compress (its source file is read again; the model itself is not changed)"},
    {"METHOD", "gptq (calibrated), rtn (round-to-nearest), sparse24, smoothquant+ or slicegpt (rotate and slice)"},
    {NULL, NULL}};

static const lt_cmd_arg k_quantize_args[] = {
    {"OUT.gguf", "the GGUF file to write"},
    {"TYPE", "a tensor type (q8_0, q4_K, ...) or a llama-quantize mix (Q4_K_M, Q5_K_S, ...)"},
    {NULL, NULL}};

static const lt_cmd_arg k_save_args[] = {
    {"NAME", "a loaded model (its source file is written; a compressed model's is the file compress wrote)"},
    {"PATH", "FILE.gguf, or a folder for a Hugging Face model (AutoGPTQ layout for GPTQ-quantized matrices)"},
    {NULL, NULL}};

static const lt_cmd k_cmds[] = {
    {"save", NULL, k_save_usage, "write a loaded model as GGUF or a Hugging Face folder (AutoGPTQ for GPTQ weights)",
     2, 4, k_save_args, true, cmd_save},
    {"quantize", NULL, k_usage, "write the current model's source as GGUF with a llama.cpp mix (Q4_K_M...)", 2, 5,
     k_quantize_args, true, cmd_quantize},
    {"compress", NULL, k_compress_usage, "GPTQ or round-to-nearest of a loaded model to GGUF, loaded as a new model", 2,
     -1, k_compress_args, true, cmd_compress},
    {NULL},
};

const lt_cmd_table lt_cmd_compress_table = {"compress", k_cmds};
