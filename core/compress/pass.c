/* pass.c - the pass table, the rtn/gptq pass (block by block) and the shared options (see pass.h). */
#include "pass.h"

#include <stdio.h>
#include <sys/stat.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/formats/modelsrc_gguf.h"
#include "gptq_hf.h"
#include "gq_gguf.h"
#include "quantize.h"

static const lt_pass k_passes[] = {
    {"gptq", "GPTQ: each block's matrices quantized against its calibration inputs (error feedback through the "
             "inverse Hessian), block by block", true},
    {"rtn", "round-to-nearest with the same quantizer (the baseline; no calibration)", false},
    {"smoothquant+", "SmoothQuant+: activation outlier channels smoothed into the weights (alpha searched on the "
                     "calibration loss), then round-to-nearest", true},
};
#define N_PASSES (int)(sizeof k_passes / sizeof k_passes[0])

const lt_pass *lt_pass_at(int i) { return i >= 0 && i < N_PASSES ? &k_passes[i] : NULL; }

const lt_pass *lt_pass_find(const char *name) {
    for (int i = 0; name && i < N_PASSES; i++)
        if (!strcmp(k_passes[i].name, name)) return &k_passes[i];
    return NULL;
}

/* the block matrices, in lt_lm_matrix order, and the input each reads */
static const char *const k_mat_names[LT_MAT_COUNT] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                      "ffn_gate", "ffn_up", "ffn_down"};
static const lt_lm_lin_input k_mat_input[LT_MAT_COUNT] = {LT_LIN_QKV, LT_LIN_QKV, LT_LIN_QKV, LT_LIN_O,
                                                          LT_LIN_GATE_UP, LT_LIN_GATE_UP, LT_LIN_DOWN};

typedef struct run {
    const lt_pass_opts *o;
    lt_pass_event ev;
    bool cancelled;
} run;

static bool tell(run *r, const char *stage, int layer, double frac) {
    r->ev = (lt_pass_event){stage, layer, r->ev.n_layers, frac};
    if (r->o->progress && !r->o->progress(r->o->ud, &r->ev)) r->cancelled = true;
    return !r->cancelled;
}

static bool sq_progress(void *ud, const char *stage, double frac) {
    run *r = ud;
    return tell(r, stage, 0, 0.6 * frac);
}

static bool calib_cancel(void *ud) {
    run *r = ud;
    return !tell(r, r->ev.stage, r->ev.layer, r->ev.frac);
}

static bool write_progress(void *ud, const lt_gguf_write_event *e) {
    run *r = ud;
    double f = e->bytes_total ? (double)e->bytes_done / (double)e->bytes_total : 1;
    return tell(r, "write", r->ev.n_layers, 0.95 + 0.05 * f);
}

static lt_status read_f32(const lt_src_tensor *t, float *w) {
    int64_t rows = t->shape[0], cols = t->shape[1];
    size_t rb = lt_row_bytes(t->dtype, cols);
    for (int64_t r = 0; r < rows; r++) lt_dtype_row_to_f32(t->dtype, (const char *)t->data + r * rb, w + r * cols, cols);
    return LT_OK;
}

static const char *ggml_mix_name(lt_dtype t) {
    switch (t) {
    case LT_Q4_0: return "Q4_0";
    case LT_Q4_1: return "Q4_1";
    case LT_Q5_0: return "Q5_0";
    case LT_Q5_1: return "Q5_1";
    default: return "Q8_0";
    }
}

lt_status lt_pass_run(const char *name, const lt_modelsrc *src0, const char *out, const lt_pass_opts *o,
                      lt_pass_report *rep, lt_err *err) {
    const lt_modelsrc *src = src0;
    double t_start = lt_now();
    const lt_pass *p = lt_pass_find(name);
    if (!p) return lt_err_set(err, LT_EINVAL, "compress: unknown --method '%s' (gptq, rtn, smoothquant+)",
                              name ? name : "");
    const bool gptq = !strcmp(p->name, "gptq"), sq = !strcmp(p->name, "smoothquant+");
    const char *fmt = o->format;
    if (!fmt) {
        size_t n = strlen(out);
        fmt = n > 5 && !strcmp(out + n - 5, ".gguf") ? "gguf" : "hf";
    }
    if (strcmp(fmt, "gguf") && strcmp(fmt, "hf"))
        return lt_err_set(err, LT_EINVAL, "compress: --format '%s' is not gguf or hf", fmt);
    /* hf: an AutoGPTQ folder (core/compress/gptq_hf.h) with every linear of every block quantized;
     * gguf: ggml's blocks under llama.cpp's mix for that type */
    const bool hf = !strcmp(fmt, "hf");
    char why[256];
    lt_dtype type = hf ? LT_Q8_0 : lt_gq_ggml_type(o->q.bits, o->q.sym, o->q.group, why, sizeof why);
    if (type == LT_DTYPE_COUNT) return lt_err_set(err, LT_EINVAL, "compress: %s", why);
    if (hf && o->q.bits != 2 && o->q.bits != 3 && o->q.bits != 4 && o->q.bits != 8)
        return lt_err_set(err, LT_EINVAL, "compress: --format hf takes --bits 2, 3, 4 or 8, not %d", o->q.bits);
    if (o->q.act_order && !gptq) return lt_err_set(err, LT_EINVAL, "compress: --act-order is for --method gptq");
    if (p->calibrated && (!o->open_lm || !o->be || !o->tok))
        return lt_err_set(err, LT_EINVAL, "compress: %s needs the model's tokenizer for its calibration text", p->name);
    LT_TRY(lt_quantize_check_folder(out, err));
    lt_quantmix mix;
    LT_TRY(lt_quantmix_parse(ggml_mix_name(type), false, &mix, err));
    lt_modelsrc *smoothed = NULL; /* smoothquant+: the smoothed model, then quantized as rtn */
    lt_sq_result sqr = {0};
    if (sq) {
        run sr = {.o = o, .ev = {.n_layers = lt_modelsrc_config(src)->n_layers}};
        lt_gptq_opts qo = o->q;
        qo.ggml = !hf;
        lt_status s2 = lt_sq_run(src, &o->sq, &qo, &o->calib, o->open_lm, o->be, o->tok, sq_progress, &sr, &smoothed,
                                 &sqr, err);
        if (s2 == LT_ECANCELLED || sr.cancelled) {
            lt_modelsrc_close(smoothed);
            return lt_err_set(err, LT_ECANCELLED, "compress: cancelled; %s was not written", out);
        }
        if (s2 != LT_OK) return lt_err_prefix(err, "compress");
        src = smoothed;
    }
    const double fb = sq ? 0.6 : 0; /* the loop's share of the progress starts here */
    const lt_llm_config *cfg = lt_modelsrc_config(src);
    int nt = lt_modelsrc_n_tensors(src);
    lt_dtype *types = lt_calloc((size_t)nt + 1, sizeof *types);
    void **data = lt_calloc((size_t)nt + 1, sizeof *data);
    lt_gq_matrix *hq = hf ? lt_calloc((size_t)cfg->n_layers * LT_MAT_COUNT + 1, sizeof *hq) : NULL; /* hf's matrices */
    lt_gptq_tensor *hn = hf ? lt_calloc((size_t)cfg->n_layers * LT_MAT_COUNT + 1, sizeof *hn) : NULL;
    char (*hnames)[96] = hf ? lt_calloc((size_t)cfg->n_layers * LT_MAT_COUNT + 1, sizeof *hnames) : NULL;
    int n_hq = 0;
    lt_pass_report r = {.method = p->name, .type = type, .n_layers = cfg->n_layers, .sq = sqr};
    if (sq) r.calib_seconds = sqr.seconds, r.n_windows = sqr.calib_windows, r.window = sqr.calib_window;
    run ru = {.o = o, .ev = {.n_layers = cfg->n_layers}};
    lt_lm *lm = NULL;
    lt_calib *cal = NULL;
    int32_t *tokens = NULL;
    float *w = NULL, *wq = NULL;
    lt_quantize_report qr;
    lt_status st = types && data && (!hf || (hq && hn && hnames)) ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (st == LT_OK) st = lt_quantize_plan(src, &mix, types, &qr, err);
    if (st == LT_OK && qr.n_missing)
        st = lt_err_set(err, LT_EUNSUPPORTED, "compress: the %s mix needs %s, which this build cannot write", mix.name,
                        lt_dtype_name(qr.missing[0]));
    size_t maxw = 0;
    for (int i = 0; st == LT_OK && i < nt; i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        if (t->ndim == 2 && (size_t)(t->shape[0] * t->shape[1]) > maxw) maxw = (size_t)(t->shape[0] * t->shape[1]);
    }
    if (st == LT_OK && (!(w = lt_malloc(maxw * sizeof(float))) || !(wq = lt_malloc(maxw * sizeof(float)))))
        st = lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (st == LT_OK && gptq) {
        double t0 = lt_now();
        if (tell(&ru, "calibrate", 0, 0)) st = lt_calib_windows(o->tok, &o->calib, &tokens, &r.n_windows, &r.window, err);
        lt_lm_opts lo = {.max_batch = r.window, .max_logits = 1, .f32_matrices = true};
        if (st == LT_OK && !ru.cancelled) st = o->open_lm(&lm, src, o->be, &lo, err);
        if (st == LT_OK && !ru.cancelled && !lm->ops->set_matrix)
            st = lt_err_set(err, LT_EUNSUPPORTED, "compress: the %s model cannot take weights back", lm->ops->family);
        if (st == LT_OK && !ru.cancelled) st = lt_calib_create(&cal, lm, tokens, r.n_windows, r.window, err);
        r.calib_seconds += lt_now() - t0;
    }
    for (int l = 0; st == LT_OK && !ru.cancelled && l < cfg->n_layers; l++) {
        double f0 = fb + (0.95 - fb) * l / cfg->n_layers, fl = (0.95 - fb) / cfg->n_layers;
        double *const *h = NULL;
        int hcols[LT_LIN_COUNT];
        if (gptq) {
            double t0 = lt_now();
            ru.ev = (lt_pass_event){"calibrate", l, cfg->n_layers, f0};
            st = lt_calib_hessians(cal, l, &h, hcols, calib_cancel, &ru, err);
            r.calib_seconds += lt_now() - t0;
        }
        lt_gptq_hinv *hv[LT_LIN_COUNT] = {0};
        for (int mi = 0; st == LT_OK && mi < LT_MAT_COUNT; mi++) {
            if (!tell(&ru, "quantize", l, f0 + fl * (0.45 + 0.05 * mi))) break;
            char nm[96];
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, k_mat_names[mi]);
            const lt_src_tensor *t = lt_modelsrc_find(src, nm);
            if (!t || t->ndim != 2) {
                st = lt_err_set(err, LT_EFORMAT, "compress: %s has no 2-D tensor '%s'", lt_modelsrc_path(src), nm);
                break;
            }
            int idx = (int)(t - lt_modelsrc_tensor(src, 0));
            if (!hf && types[idx] != type) { /* the mix wants another type here: written from the source */
                r.n_by_mix++;
                continue;
            }
            double t0 = lt_now();
            int rows = (int)t->shape[0], cols = (int)t->shape[1];
            read_f32(t, w);
            lt_gptq_opts qo = o->q;
            qo.ggml = !hf; /* ggml's grid and f16-rounded scales for its blocks; AutoGPTQ's own grid otherwise */
            lt_gq_matrix m;
            double loss = 0;
            lt_lm_lin_input in = k_mat_input[mi];
            if (gptq && !hv[in] && hcols[in] == cols) st = lt_gptq_hinv_create(&hv[in], h[in], cols, &qo, err);
            if (st == LT_OK)
                st = gptq ? hv[in] ? lt_gptq_run(w, rows, cols, hv[in], &qo, &m, wq, &loss, err)
                                   : lt_err_set(err, LT_EFORMAT, "its input has %d columns", hcols[in])
                          : lt_rtn(w, rows, cols, &qo, &m, wq, err);
            if (st != LT_OK) {
                lt_err_prefix(err, "compress: %s", nm);
                break;
            }
            r.loss += loss;
            if (hf) { /* kept for the folder writer */
                snprintf(hnames[n_hq], sizeof hnames[n_hq], "%s", nm);
                hq[n_hq] = m;
                hn[n_hq] = (lt_gptq_tensor){hnames[n_hq], &hq[n_hq]};
                n_hq++;
            } else {
                size_t bytes = lt_row_bytes(type, cols) * (size_t)rows;
                data[idx] = lt_malloc(bytes);
                st = data[idx] ? lt_gq_to_ggml(&m, type, data[idx], err) : lt_err_set(err, LT_ENOMEM, "out of memory");
                lt_gq_free(&m);
            }
            if (st == LT_OK && gptq) st = lm->ops->set_matrix(lm, l, (lt_lm_matrix)mi, wq, err);
            r.n_matrices++;
            r.quant_seconds += lt_now() - t0;
        }
        for (int i = 0; i < LT_LIN_COUNT; i++) lt_gptq_hinv_free(hv[i]);
        if (st == LT_OK && gptq && !ru.cancelled) {
            double t0 = lt_now();
            ru.ev = (lt_pass_event){"advance", l, cfg->n_layers, f0 + 0.9 * fl};
            if (l + 1 < cfg->n_layers) st = lt_calib_advance(cal, l, calib_cancel, &ru, err);
            r.calib_seconds += lt_now() - t0;
        }
    }
    lt_calib_free(cal);
    lt_lm_close(lm);
    lt_free(tokens), lt_free(w), lt_free(wq);
    if (st == LT_OK && !ru.cancelled && hf) {
        double t0 = lt_now();
        lt_gptq_write_opts wo = {.damp_percent = o->q.damp, .static_groups = o->q.act_order, .true_sequential = gptq};
        tell(&ru, "write", cfg->n_layers, 0.95);
        st = lt_gptq_write_hf(src, out, hn, n_hq, &wo, err);
        r.write_seconds = lt_now() - t0;
        char sp[4200];
        struct stat sb;
        snprintf(sp, sizeof sp, "%s/model.safetensors", out);
        if (st == LT_OK && stat(sp, &sb) == 0) qr.bytes_out = (uint64_t)sb.st_size;
    } else if (st == LT_OK && !ru.cancelled) {
        double t0 = lt_now();
        lt_gguf_write_opts wo = {.types = types, .data = (const void *const *)data, .has_file_type = true,
                                 .file_type = (int32_t)mix.ftype, .quantization_version = LT_QUANT_VERSION,
                                 .progress = write_progress, .progress_ud = &ru};
        st = lt_modelsrc_write_gguf_opts(src, out, &wo, err);
        r.write_seconds = lt_now() - t0;
    }
    if (ru.cancelled || st == LT_ECANCELLED)
        st = lt_err_set(err, LT_ECANCELLED, "compress: cancelled; %s was not written", out);
    for (int i = 0; i < n_hq; i++) lt_gq_free(&hq[i]);
    lt_free(hq), lt_free(hn), lt_free(hnames);
    for (int i = 0; data && i < nt; i++) lt_free(data[i]);
    lt_free(data), lt_free(types);
    r.n_elements = qr.n_elements, r.bytes_in = qr.bytes_in, r.bytes_out = qr.bytes_out;
    if (smoothed) { /* the size of what came in, not of the f32 smoothed view */
        r.bytes_in = 0;
        for (int i = 0; i < lt_modelsrc_n_tensors(src0); i++) r.bytes_in += lt_modelsrc_tensor(src0, i)->nbytes;
    }
    if (hf) snprintf(r.type_name, sizeof r.type_name, "gptq %d-bit g%d", o->q.bits, o->q.group > 0 ? o->q.group : -1);
    else snprintf(r.type_name, sizeof r.type_name, "%s", lt_dtype_name(type));
    lt_modelsrc_close(smoothed);
    r.seconds = lt_now() - t_start;
    if (rep) *rep = r;
    return st;
}

/* ---- options --------------------------------------------------------------------------------- */

void lt_pass_args_default(lt_pass_args *a) {
    memset(a, 0, sizeof *a);
    a->method = "gptq";
    a->bits = 4;
    a->group = 32;
    a->calib_tokens = 128 * 512;
    a->damp = 0.01f;
    a->alpha = -1;
    a->search_tokens = 4096;
}

void lt_pass_opts_add(lt_pass_args *a, lt_opt *table, int cap) {
    const lt_opt o[LT_PASS_N_OPTS] = {
        {"--method", NULL, LT_OPT_STR, &a->method, "gptq (calibrated, default) or rtn (round-to-nearest)"},
        {"--bits", NULL, LT_OPT_INT, &a->bits, "bits per weight: 4 (default), 5, 8 (GGUF); 2, 3 for other formats", 2, 8},
        {"--group", NULL, LT_OPT_INT, &a->group, "weights per scale (default 32: ggml's blocks; -1: a whole row)", -1,
         1 << 20},
        {"--sym", NULL, LT_OPT_FLAG, &a->sym, "symmetric (no zero point: Q4_0/Q5_0/Q8_0); default asymmetric (Q4_1/Q5_1)"},
        {"--act-order", NULL, LT_OPT_FLAG, &a->act_order,
         "gptq: columns by decreasing Hessian diagonal, groups fixed from the original weights (static groups, "
         "so blocks stay contiguous); the default for gptq"},
        {"--no-act-order", NULL, LT_OPT_FLAG, &a->no_act_order,
         "gptq: columns in order, each group's range from the updated weights (the reference's default)"},
        {"--clip", NULL, LT_OPT_FLAG, &a->clip, "search a clipped range per group (MSE, as the reference's --mse)"},
        {"--damp", NULL, LT_OPT_FLOAT, &a->damp, "gptq: damping, a fraction of the Hessian's mean diagonal (0.01)",
         1e-6, 10},
        {"--calib", NULL, LT_OPT_STR, &a->calib, "gptq: calibration text (default: assets/text/tinyshakespeare.txt)"},
        {"--calib-tokens", NULL, LT_OPT_INT, &a->calib_tokens,
         "gptq: calibration tokens, in windows of 512 (default 65536 = 128 x 512)", 2, 1 << 26},
        {"--seed", NULL, LT_OPT_U64, &a->seed, "gptq: seed of the calibration windows' draw (default 0)"},
        {"--format", NULL, LT_OPT_STR, &a->format, "gguf or hf (default: gguf when OUT ends in .gguf)"},
        {"--alpha", NULL, LT_OPT_FLOAT, &a->alpha,
         "smoothquant+: the migration strength 0..1 (default: searched on 0, 0.05, ..., 1)", 0, 1},
        {"--search-tokens", NULL, LT_OPT_INT, &a->search_tokens,
         "smoothquant+: calibration tokens scoring each alpha of the search (default 4096)", 2, 1 << 24},
        {"--alpha-per-layer", NULL, LT_OPT_FLAG, &a->alpha_per_layer,
         "smoothquant+: one alpha per layer, each minimising its block's output error (AWQ-style)"},
    };
    int n = 0;
    while (table[n].name) n++;
    LT_ASSERT(n + LT_PASS_N_OPTS < cap);
    memcpy(table + n, o, sizeof o);
    table[n + LT_PASS_N_OPTS] = (lt_opt){0};
}

lt_status lt_pass_args_apply(const lt_pass_args *a, lt_pass_opts *o, lt_err *err) {
    if (!lt_pass_find(a->method))
        return lt_err_set(err, LT_EINVAL, "compress: unknown --method '%s' (gptq, rtn, smoothquant+)", a->method);
    bool sq = !strcmp(a->method, "smoothquant+");
    if (!sq && (a->alpha >= 0 || a->alpha_per_layer))
        return lt_err_set(err, LT_EINVAL, "compress: --alpha%s is for --method smoothquant+",
                          a->alpha >= 0 ? "" : "-per-layer");
    if (a->alpha >= 0 && a->alpha_per_layer)
        return lt_err_set(err, LT_EINVAL, "compress: --alpha and --alpha-per-layer contradict each other");
    if (a->bits != 2 && a->bits != 3 && a->bits != 4 && a->bits != 5 && a->bits != 8)
        return lt_err_set(err, LT_EINVAL, "compress: --bits %d is not one of 2, 3, 4, 5, 8", a->bits);
    if (a->group != -1 && a->group != 32 && a->group != 64 && a->group != 128)
        return lt_err_set(err, LT_EINVAL, "compress: --group %d is not one of -1, 32, 64, 128", a->group);
    bool gptq = !strcmp(a->method, "gptq");
    if (a->act_order && a->no_act_order)
        return lt_err_set(err, LT_EINVAL, "compress: --act-order and --no-act-order contradict each other");
    if (a->act_order && !gptq) return lt_err_set(err, LT_EINVAL, "compress: --act-order is for --method gptq");
    o->q = (lt_gptq_opts){.bits = a->bits, .group = a->group, .sym = a->sym, .act_order = gptq && !a->no_act_order,
                          .clip = a->clip, .damp = a->damp};
    o->calib = (lt_calib_opts){.file = a->calib, .n_tokens = a->calib_tokens, .seed = a->seed};
    o->format = a->format;
    o->sq = (lt_sq_opts){.alpha = a->alpha, .search_tokens = a->search_tokens, .per_layer = a->alpha_per_layer};
    return LT_OK;
}
