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
#include "save.h"
#include "save.h"

static const lt_pass k_passes[] = {
    {"gptq", "GPTQ: each block's matrices quantized against its calibration inputs (error feedback through the "
             "inverse Hessian), block by block", true},
    {"rtn", "round-to-nearest with the same quantizer (the baseline; no calibration)", false},
    {"sparse24", "2:4 (N:M) structured sparsity: --mask magnitude, wanda or sparsegpt (calibrated block by block), "
                 "kept values f16 or 4-bit (--bits 4)", true},
    {"smoothquant+", "SmoothQuant+: activation outlier channels smoothed into the weights (alpha searched on the "
                     "calibration loss), then round-to-nearest", true},
    {"slicegpt", "SliceGPT: the residual stream rotated onto its principal components (calibrated, layer by layer) "
                 "and sliced to fewer dimensions (--slice); dense matrices, shortcut matrices on the residual", true},
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

/* --quant-head: the output matrix (the embedding when tied) by GPTQ on h (the final norm's
 * x^T x) or round-to-nearest, with the block matrices' options; w, wq hold any matrix of src */
static lt_status quant_head(const lt_modelsrc *src, const lt_pass_opts *o, bool gptq, const double *h, int hcols,
                            float *w, float *wq, lt_gq_matrix *m, double *loss_sum, lt_err *err) {
    const lt_src_tensor *t = lt_modelsrc_find(src, "output.weight");
    if (!t) t = lt_modelsrc_find(src, "token_embd.weight"); /* tied */
    if (!t || t->ndim != 2)
        return lt_err_set(err, LT_EFORMAT, "compress: --quant-head: %s has no output head matrix", lt_modelsrc_path(src));
    const int rows = (int)t->shape[0], cols = (int)t->shape[1];
    if (gptq && hcols != cols)
        return lt_err_set(err, LT_EFORMAT, "compress: output.weight: its input has %d columns, not %d", hcols, cols);
    read_f32(t, w);
    lt_gptq_opts qo = o->q;
    qo.ggml = false; /* AutoGPTQ's grid, as the folder's other matrices */
    double loss = 0;
    lt_status st = gptq ? lt_gptq(w, rows, cols, h, &qo, m, wq, &loss, err) : lt_rtn(w, rows, cols, &qo, m, wq, err);
    if (st != LT_OK) return lt_err_prefix(err, "compress: output.weight");
    *loss_sum += loss;
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

static const char *nm_name(const lt_pass_opts *o) {
    static _Thread_local char b[16];
    snprintf(b, sizeof b, "%d:%d", o->sp.n ? o->sp.n : 2, o->sp.m ? o->sp.m : 4);
    return b;
}

/* sparse24's plan: every tensor as in the source (vectors f32, as the GGUF writer keeps them),
 * the block matrices not skipped in the pass's type; each --skip pattern must name one */
static lt_status sparse_plan(const lt_modelsrc *src, const lt_llm_config *cfg, const char *skip, lt_dtype type,
                             int nk, int gm, lt_dtype *types, lt_quantize_report *qr, lt_err *err) {
    memset(qr, 0, sizeof *qr);
    int nt = lt_modelsrc_n_tensors(src);
    for (int i = 0; i < nt; i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        types[i] = t->ndim != 2 || strstr(t->name, "norm") || strstr(t->name, ".bias") ? LT_F32 : t->dtype;
        if (!lt_dtype_info(types[i])->from_f32 || lt_dtype_info(types[i])->gguf_type < 0) types[i] = LT_F16;
    }
    for (const char *p = skip; p && *p;) { /* each pattern names at least one block matrix */
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char pat[256];
        if (n == 0 || n >= sizeof pat)
            return lt_err_set(err, LT_EINVAL, "compress: --skip '%s': an empty or overlong pattern", skip);
        memcpy(pat, p, n), pat[n] = 0;
        bool hit = false;
        for (int l = 0; l < cfg->n_layers && !hit; l++)
            for (int mi = 0; mi < LT_MAT_COUNT && !hit; mi++) {
                char nm[96];
                snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, k_mat_names[mi]);
                hit = lt_sparse_skip_match(pat, nm);
            }
        if (!hit)
            return lt_err_set(err, LT_EINVAL, "compress: --skip pattern '%s' matches no block matrix (names such as "
                                              "blk.0.ffn_down.weight)", pat);
        p = e ? e + 1 : p + n;
    }
    for (int l = 0; l < cfg->n_layers; l++)
        for (int mi = 0; mi < LT_MAT_COUNT; mi++) {
            char nm[96];
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", l, k_mat_names[mi]);
            const lt_src_tensor *t = lt_modelsrc_find(src, nm);
            /* rows that are not whole s24_f16 blocks: pruned all the same, stored as f16 with the zeros */
            if (!t || lt_sparse_skip_match(skip, nm)) continue;
            /* said before any calibration: rows the pruning cannot take (not after layer l's) */
            if (type == LT_S24_Q4 && t->shape[1] % 64)
                return lt_err_set(err, LT_EINVAL, "compress: --bits 4 stores rows in blocks of 64 inputs; %s has %lld "
                                  "- leave it dense with --skip, or keep f16 values", nm, (long long)t->shape[1]);
            if (t->shape[1] % gm)
                return lt_err_set(err, LT_EINVAL, "compress: --nm %d:%d: %s has rows of %lld inputs, not groups of %d - "
                                  "leave it dense with --skip", nk, gm, nm, (long long)t->shape[1], gm);
            types[t - lt_modelsrc_tensor(src, 0)] = t->shape[1] % lt_dtype_block(type) && type == LT_S24_F16 ? LT_F16 : type;
        }
    for (int i = 0; i < nt; i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        int64_t ne = 1;
        for (int d = 0; d < t->ndim; d++) ne *= t->shape[d];
        qr->n_elements += (uint64_t)ne;
        qr->bytes_in += t->nbytes;
        const int64_t rl = t->shape[t->ndim - 1];
        qr->bytes_out += lt_row_bytes(types[i], rl) * (uint64_t)(ne / rl);
    }
    return LT_OK;
}

/* One block matrix pruned (sparse24.h) into its rows of the pass's type (*data, allocated here); wq
 * gets the chosen weights (for set_matrix). */
static lt_status sparse_matrix(const lt_pass_opts *o, lt_dtype dt, const float *w, int rows, int cols, const double *h,
                               const lt_gptq_hinv *hv, void **data, float *wq, double *loss, lt_err *err) {
    const size_t n = (size_t)rows * cols, rb = lt_row_bytes(dt, cols);
    lt_sparse_out so = {.keep = lt_malloc(n), .wq = wq};
    if (o->sp.bits == 4) {
        so.q = lt_calloc(n, 1);
        so.d = lt_malloc(n / 64 * sizeof(float) + 4), so.m = lt_malloc(n / 64 * sizeof(float) + 4);
    }
    *data = lt_malloc(rb * (size_t)rows);
    lt_status st = so.keep && *data && (o->sp.bits != 4 || (so.q && so.d && so.m))
                       ? LT_OK
                       : lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (st == LT_OK) st = lt_sparse_prune(w, rows, cols, h, hv, &o->sp, &so, loss, err);
    for (int r = 0; st == LT_OK && r < rows; r++) lt_sparse_pack_row(dt, &so, r, cols, (char *)*data + rb * r);
    lt_free(so.keep), lt_free(so.q), lt_free(so.d), lt_free(so.m);
    return st;
}

static bool sg_progress(void *ud, const char *stage, int layer, double frac) {
    run *r = ud;
    return tell(r, stage, layer, 0.95 * frac);
}

/* slicegpt: calibration windows, the sliced source (slicegpt.h), GGUF with lathe.slicegpt.* */
static lt_status slicegpt_pass(const lt_modelsrc *src, const char *out, const char *fmt, const lt_pass_opts *o,
                               lt_pass_report *rep, lt_err *err) {
    double t_start = lt_now();
    if (!strcmp(fmt, "hf"))
        return lt_err_set(err, LT_EUNSUPPORTED, "compress: slicegpt writes GGUF (lathe.slicegpt.* keys; OUT ending in "
                                                ".gguf) or a TransformerCompression folder (--format slicegpt)");
    if (!o->open_lm || !o->be || !o->tok)
        return lt_err_set(err, LT_EINVAL, "compress: slicegpt needs the model's tokenizer for its calibration text");
    const lt_llm_config *cfg = lt_modelsrc_config(src);
    lt_pass_report r = {.method = "slicegpt", .type = LT_F16, .n_layers = cfg->n_layers};
    run ru = {.o = o, .ev = {.n_layers = cfg->n_layers}};
    int32_t *tokens = NULL;
    lt_modelsrc *sl = NULL;
    lt_status st = LT_OK;
    if (tell(&ru, "calibrate", 0, 0)) st = lt_calib_windows(o->tok, &o->calib, &tokens, &r.n_windows, &r.window, err);
    if (st == LT_OK && !ru.cancelled)
        st = lt_slicegpt_run(src, &o->sg, o->open_lm, o->be, tokens, r.n_windows, r.window, sg_progress, &ru, &sl,
                             &r.sg, err);
    if (st != LT_OK && st != LT_ECANCELLED) lt_err_prefix(err, "compress");
    lt_free(tokens);
    r.calib_seconds = r.sg.calib_seconds + r.sg.pca_seconds, r.quant_seconds = r.sg.rotate_seconds;
    if (st == LT_OK && !ru.cancelled) {
        double t0 = lt_now();
        if (!strcmp(fmt, "slicegpt")) { /* their layout: NAME_SPARSITY.pt + .json + config.json */
            if (!tell(&ru, "write", r.n_layers, 0.99)) st = LT_ECANCELLED;
            else { /* their name: the model's, without a file extension (their files are NAME_SPARSITY.*) */
                char name[128];
                snprintf(name, sizeof name, "%s", cfg->name);
                char *dot = strrchr(name, '.');
                if (dot && (!strcmp(dot, ".bin") || !strcmp(dot, ".gguf") || !strcmp(dot, ".pt"))) *dot = 0;
                st = lt_slicegpt_save_folder(sl, out, name[0] ? name : NULL, o->sg.slice, err);
            }
        } else {
            lt_gguf_write_opts wo = {.progress = write_progress, .progress_ud = &ru};
            st = lt_modelsrc_write_gguf_opts(sl, out, &wo, err);
        }
        r.write_seconds = lt_now() - t0;
    }
    if (ru.cancelled || st == LT_ECANCELLED) st = lt_err_set(err, LT_ECANCELLED, "compress: cancelled; %s was not written", out);
    for (int i = 0; i < lt_modelsrc_n_tensors(src); i++) r.bytes_in += lt_modelsrc_tensor(src, i)->nbytes;
    for (int i = 0; sl && i < lt_modelsrc_n_tensors(sl); i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(sl, i);
        r.bytes_out += t->nbytes;
        if (t->ndim == 2 && strstr(t->name, "blk.")) r.n_matrices++, r.type = t->dtype;
    }
    r.n_elements = r.sg.params_out;
    snprintf(r.type_name, sizeof r.type_name, "%s, width %d", lt_dtype_name(r.type), r.sg.width);
    lt_modelsrc_close(sl);
    r.seconds = lt_now() - t_start;
    if (rep) *rep = r;
    return st;
}

lt_status lt_pass_run(const char *name, const lt_modelsrc *src0, const char *out, const lt_pass_opts *o,
                      lt_pass_report *rep, lt_err *err) {
    const lt_modelsrc *src = src0;
    double t_start = lt_now();
    const lt_pass *p = lt_pass_find(name);
    if (!p)
        return lt_err_set(err, LT_EINVAL, "compress: unknown --method '%s' (gptq, rtn, sparse24, smoothquant+, slicegpt)",
                          name ? name : "");
    const bool sparse = !strcmp(p->name, "sparse24"), sq = !strcmp(p->name, "smoothquant+");
    /* calibrated: gptq, and sparse24's wanda / sparsegpt (the Hessians, then each block's outputs
       from the pruned weights); smoothquant+ calibrates in lt_sq_run */
    const bool gptq = !strcmp(p->name, "gptq") || (sparse && o->sp.mask != LT_MASK_MAGNITUDE);
    const char *fmt = o->format;
    if (!fmt) {
        size_t n = strlen(out);
        fmt = n > 5 && !strcmp(out + n - 5, ".gguf") ? "gguf" : "hf";
    }
    if (strcmp(fmt, "gguf") && strcmp(fmt, "hf") && strcmp(fmt, "slicegpt"))
        return lt_err_set(err, LT_EINVAL, "compress: --format '%s' is not gguf, hf or slicegpt", fmt);
    if (!strcmp(fmt, "slicegpt") && strcmp(p->name, "slicegpt"))
        return lt_err_set(err, LT_EINVAL, "compress: --format slicegpt is for --method slicegpt");
    if (!strcmp(p->name, "slicegpt")) return slicegpt_pass(src, out, fmt, o, rep, err);
    if (sq && lt_modelsrc_config(src)->sliced)
        return lt_err_set(err, LT_EUNSUPPORTED, "compress: smoothquant+ does not take a sliced (SliceGPT) model yet");
    /* hf: an AutoGPTQ folder (core/compress/gptq_hf.h) with every linear of every block quantized;
     * gguf: ggml's blocks under llama.cpp's mix for that type */
    const bool hf = !strcmp(fmt, "hf");
    if (sparse && hf && lt_sparse_dtype(&o->sp) == LT_S24_Q4)
        return lt_err_set(err, LT_EUNSUPPORTED, "compress: sparse24 --bits 4 (s24_q4) is written as GGUF only; the "
                          "Hugging Face folder (compressed-tensors sparse-24-bitmask) holds f16 kept values (--bits 16)");
    char why[256];
    const bool mixed = o->mix != NULL;
    if (mixed && (sparse || sq))
        return lt_err_set(err, LT_EINVAL, "compress: --mix is for --method gptq or rtn");
    if (mixed && hf)
        return lt_err_set(err, LT_EINVAL, "compress: --mix is for GGUF output (llama-quantize's mixes); a Hugging Face "
                                          "folder takes --bits/--group");
    lt_quantmix mix;
    if (mixed && lt_quantmix_parse(o->mix, false, &mix, err) != LT_OK) return lt_err_prefix(err, "compress: --mix");
    lt_dtype type = sparse ? lt_sparse_dtype(&o->sp)
                    : hf   ? LT_Q8_0
                    : mixed ? mix.base
                           : lt_gq_ggml_type(o->q.bits, o->q.sym, o->q.group, why, sizeof why);
    if (type == LT_DTYPE_COUNT) return lt_err_set(err, LT_EINVAL, "compress: %s", why);
    if (hf && !sparse && o->q.bits != 2 && o->q.bits != 3 && o->q.bits != 4 && o->q.bits != 8)
        return lt_err_set(err, LT_EINVAL, "compress: --format hf takes --bits 2, 3, 4 or 8, not %d", o->q.bits);
    if (o->q.act_order && (!gptq || sparse)) return lt_err_set(err, LT_EINVAL, "compress: --act-order is for --method gptq");
    if (o->quant_head && (sparse || sq))
        return lt_err_set(err, LT_EINVAL, "compress: --quant-head is for --method gptq or rtn");
    if (o->quant_head && !hf)
        return lt_err_set(err, LT_EINVAL, "compress: --quant-head is for a Hugging Face folder (--format hf, GPTQModel's "
                                          "lm_head); in GGUF llama.cpp's mix already gives the head its own type");
    if ((gptq || sq) && (!o->open_lm || !o->be || !o->tok))
        return lt_err_set(err, LT_EINVAL, "compress: %s needs the model's tokenizer for its calibration text",
                          sparse ? lt_sparse_mask_name(o->sp.mask) : p->name);
    LT_TRY(lt_quantize_check_folder(out, err));
    if (!mixed) LT_TRY(lt_quantmix_parse(ggml_mix_name(type), false, &mix, err));
    if (hf && (o->output_type || o->embd_type || o->shortcut_type))
        return lt_err_set(err, LT_EINVAL, "compress: %s is for GGUF output (the Hugging Face folder keeps the other "
                          "tensors as in the source)", o->output_type ? "--output-tensor-type"
                          : o->embd_type ? "--token-embedding-type" : "--shortcut-type");
    if ((o->output_type && lt_quantmix_set_override(&mix, "output", o->output_type, err) != LT_OK) ||
        (o->embd_type && lt_quantmix_set_override(&mix, "embd", o->embd_type, err) != LT_OK) ||
        (o->shortcut_type && lt_quantmix_set_override(&mix, "shortcut", o->shortcut_type, err) != LT_OK))
        return lt_err_prefix(err, "compress");
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
    double *hh = NULL; /* the head's x^T x (--quant-head with gptq) */
    int hh_cols = 0;
    lt_quantize_report qr;
    lt_status st = types && data && (!hf || (hq && hn && hnames)) ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (st == LT_OK && sparse) st = sparse_plan(src, cfg, o->skip, type, o->sp.n ? o->sp.n : 2, o->sp.m ? o->sp.m : 4, types, &qr, err);
    else if (st == LT_OK) st = lt_quantize_plan(src, &mix, types, &qr, err);
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
            if (sparse && lt_sparse_skip_match(o->skip, nm)) { /* left dense: written from the source */
                r.n_skipped++;
                continue;
            }
            /* GGUF: the mix's type of this matrix; with --mix gptq takes any type with a grid (groups of 32 or
               K-quant super-blocks), otherwise only the pass's type */
            const lt_dtype tt = hf || sparse ? type : types[idx];
            int gbits = 0;
            bool gsym = false;
            const bool kq = mixed && gptq && lt_gq_k_sub(tt) && t->shape[1] % LT_QK_K == 0;
            const bool gg = !hf && !sparse && lt_gq_ggml_grid(tt, &gbits, &gsym);
            if (!hf && !sparse && (mixed ? !gptq || !(kq || gg) : tt != type)) { /* written from the source */
                r.n_by_mix++;
                continue;
            }
            double t0 = lt_now();
            int rows = (int)t->shape[0], cols = (int)t->shape[1];
            read_f32(t, w);
            lt_gptq_opts qo = o->q;
            if (sparse) qo = (lt_gptq_opts){.bits = 4, .damp = o->sp.damp}; /* sparsegpt's inverse: no act-order */
            qo.ggml = !hf; /* ggml's grid and f16-rounded scales for its blocks; AutoGPTQ's own grid otherwise */
            if (mixed && gg) qo.bits = gbits, qo.sym = gsym, qo.group = 32;
            lt_gq_matrix m;
            double loss = 0;
            lt_lm_lin_input in = k_mat_input[mi];
            const bool need_hv = gptq && (!sparse || o->sp.mask == LT_MASK_SPARSEGPT);
            if (need_hv && !hv[in] && hcols[in] == cols) st = lt_gptq_hinv_create(&hv[in], h[in], cols, &qo, err);
            if (st == LT_OK && sparse) {
                if (gptq && hcols[in] != cols) st = lt_err_set(err, LT_EFORMAT, "its input has %d columns", hcols[in]);
                else st = sparse_matrix(o, types[idx], w, rows, cols, gptq ? h[in] : NULL, hv[in], &data[idx], wq, &loss, err);
                if (types[idx] != type) r.n_by_mix++; /* row length: f16 */
            } else if (st == LT_OK && kq) {
                if (hcols[in] != cols) st = lt_err_set(err, LT_EFORMAT, "its input has %d columns", hcols[in]);
                else if (!(data[idx] = lt_malloc(lt_row_bytes(tt, cols) * (size_t)rows)))
                    st = lt_err_set(err, LT_ENOMEM, "out of host memory");
                else st = lt_gptq_run_k(w, rows, cols, hv[in], tt, &qo, data[idx], wq, &loss, err);
            } else if (st == LT_OK)
                st = gptq ? hv[in] ? lt_gptq_run(w, rows, cols, hv[in], &qo, &m, wq, &loss, err)
                                   : lt_err_set(err, LT_EFORMAT, "its input has %d columns", hcols[in])
                          : lt_rtn(w, rows, cols, &qo, &m, wq, err);
            if (st != LT_OK) {
                lt_err_prefix(err, "compress: %s", nm);
                break;
            }
            r.loss += loss;
            if (sparse || kq) {
            } else if (hf) { /* kept for the folder writer */
                snprintf(hnames[n_hq], sizeof hnames[n_hq], "%s", nm);
                hq[n_hq] = m;
                hn[n_hq] = (lt_gptq_tensor){hnames[n_hq], &hq[n_hq]};
                n_hq++;
            } else {
                size_t bytes = lt_row_bytes(tt, cols) * (size_t)rows;
                data[idx] = lt_malloc(bytes);
                st = data[idx] ? lt_gq_to_ggml(&m, tt, data[idx], err) : lt_err_set(err, LT_ENOMEM, "out of memory");
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
            else if (o->quant_head) st = lt_calib_head(cal, l, &hh, &hh_cols, calib_cancel, &ru, err);
            r.calib_seconds += lt_now() - t0;
        }
    }
    if (st == LT_OK && !ru.cancelled && o->quant_head) { /* the head, from the final norm's output (gptq) */
        double t0 = lt_now();
        st = quant_head(src, o, gptq, hh, hh_cols, w, wq, &hq[n_hq], &r.loss, err);
        if (st == LT_OK) hn[n_hq] = (lt_gptq_tensor){"output.weight", &hq[n_hq]}, n_hq++, r.head = true;
        r.quant_seconds += lt_now() - t0;
    }
    lt_calib_free(cal);
    lt_lm_close(lm);
    lt_free(tokens), lt_free(w), lt_free(wq);
    if (st == LT_OK && !ru.cancelled && hf && sparse) { /* compressed-tensors (ct_hf.h) through save.c */
        double t0 = lt_now();
        tell(&ru, "write", cfg->n_layers, 0.95);
        lt_modelsrc *view = NULL;
        st = lt_modelsrc_view(&view, src, err);
        for (int i = 0; st == LT_OK && i < nt; i++)
            if (data[i]) st = lt_modelsrc_replace(view, lt_modelsrc_tensor(src, i)->name, types[i], data[i], err);
        lt_save_opts so = {.format = "hf"};
        lt_save_report sr;
        if (st == LT_OK) st = lt_save_model(view, out, &so, &sr, err);
        if (st == LT_OK) qr.bytes_out = sr.bytes;
        lt_modelsrc_close(view);
        r.write_seconds = lt_now() - t0;
    } else if (st == LT_OK && !ru.cancelled && hf) {
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
        lt_gguf_write_opts wo = {.types = types, .data = (const void *const *)data, .has_file_type = !sparse,
                                 .file_type = (int32_t)mix.ftype, .quantization_version = LT_QUANT_VERSION,
                                 .progress = write_progress, .progress_ud = &ru};
        char nm[16];
        const char *kv[8] = {"lathe.sparsity", nm, "lathe.sparsity.mask", lt_sparse_mask_name(o->sp.mask),
                             "lathe.sparsity.type", lt_dtype_name(type), "lathe.sparsity.skip", o->skip ? o->skip : ""};
        snprintf(nm, sizeof nm, "%d:%d", o->sp.n ? o->sp.n : 2, o->sp.m ? o->sp.m : 4);
        if (sparse) wo.kv = kv, wo.n_kv = 4;
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
    if (hf && sparse && type == LT_S24_F16) snprintf(r.type_name, sizeof r.type_name, "compressed-tensors 2:4 f16");
    else if (hf && !sparse) snprintf(r.type_name, sizeof r.type_name, "gptq %d-bit g%d", o->q.bits, o->q.group > 0 ? o->q.group : -1);
    else if (mixed) snprintf(r.type_name, sizeof r.type_name, "%s mix", mix.name);
    else if (sparse && type == LT_F16) snprintf(r.type_name, sizeof r.type_name, "f16 (%s)", nm_name(o));
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
    a->bits = 0; /* 4, or 16 for sparse24 */
    a->group = 32;
    a->calib_tokens = 128 * 512;
    a->damp = 0.01f;
    a->alpha = -1;
    a->search_tokens = 4096;
    a->slice = -1; /* slicegpt: 0.25 unless given */
    a->round = 8;
}

void lt_pass_opts_add(lt_pass_args *a, lt_opt *table, int cap) {
    const lt_opt o[LT_PASS_N_OPTS] = {
        {"--method", NULL, LT_OPT_STR, &a->method,
         "gptq (calibrated, default), rtn (round-to-nearest), sparse24 (2:4 structured sparsity), smoothquant+ or "
         "slicegpt (rotate and slice)"},
        {"--bits", NULL, LT_OPT_INT, &a->bits,
         "bits per weight: 4 (default), 5, 8 (GGUF); 2, 3 for other formats; sparse24: 16 (f16 kept values, "
         "default) or 4",
         2, 16},
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
        {"--format", NULL, LT_OPT_STR, &a->format,
         "gguf, hf (AutoGPTQ, or compressed-tensors 2:4 for sparse24) or slicegpt (a TransformerCompression folder, "
         "for --method slicegpt) (default: gguf when OUT ends in .gguf, else hf)"},
        {"--quant-head", NULL, LT_OPT_FLAG, &a->quant_head,
         "gptq/rtn to a folder: quantize the output head (lm_head) too, as GPTQModel's lm_head (untied from the "
         "embeddings; gptq calibrates it on the final norm's output)"},
        {"--mask", NULL, LT_OPT_STR, &a->mask,
         "sparse24: magnitude, wanda or sparsegpt (default; wanda and sparsegpt are calibrated)"},
        {"--nm", NULL, LT_OPT_STR, &a->nm, "sparse24: keep N of each M inputs, 2:4 (default, stored as s24_*) or "
                                           "another N:M such as 4:8 (stored as f16)"},
        {"--skip", NULL, LT_OPT_STR, &a->skip,
         "sparse24: comma-separated glob patterns of block matrices left dense, e.g. 'blk.0.*,*.ffn_down*'"},
        {"--alpha", NULL, LT_OPT_FLOAT, &a->alpha,
         "smoothquant+: the migration strength 0..1 (default: searched on 0, 0.05, ..., 1)", 0, 1},
        {"--search-tokens", NULL, LT_OPT_INT, &a->search_tokens,
         "smoothquant+: calibration tokens scoring each alpha of the search (default 4096)", 2, 1 << 24},
        {"--alpha-per-layer", NULL, LT_OPT_FLAG, &a->alpha_per_layer,
         "smoothquant+: one alpha per layer, each minimising its block's output error (AWQ-style)"},
        {"--slice", NULL, LT_OPT_FLOAT, &a->slice,
         "slicegpt: fraction of the embedding dimension removed (default 0.25; 0 = rotate only)", 0, 0.99},
        {"--round", NULL, LT_OPT_INT, &a->round, "slicegpt: kept widths rounded down to a multiple of this (default 8)",
         1, 1024},
        {"--slice-head", NULL, LT_OPT_FLAG, &a->slice_head,
         "slicegpt: slice the last block's output and the head too (the authors' default keeps them whole)"},
        {"--center-embd", NULL, LT_OPT_FLAG, &a->center_embd,
         "slicegpt: subtract each embedding row's mean first, as the authors' code does (changes an RMSNorm model)"},
        {"--full-shortcuts", NULL, LT_OPT_FLAG, &a->full_shortcuts,
         "slicegpt: the authors' full d x d shortcut matrices (default: bases aligned, shortcuts stored exactly in "
         "low-rank form, rank <= D - d)"},
        {"--output-tensor-type", NULL, LT_OPT_STR, &a->output_type,
         "GGUF: the type of output.weight (and of a tied token_embd), as lathe quantize's option"},
        {"--token-embedding-type", NULL, LT_OPT_STR, &a->embd_type, "GGUF: the type of token_embd.weight"},
        {"--shortcut-type", NULL, LT_OPT_STR, &a->shortcut_type, "GGUF: " LT_QUANTMIX_SHORTCUT_HELP},
        {"--mix", NULL, LT_OPT_STR, &a->mix,
         "GGUF, gptq/rtn: llama-quantize's mix (Q4_K_M, Q6_K, Q3_K_M, Q5_0, ...; lathe quantize's names) instead of "
         "--bits/--sym/--group: every tensor gets llama-quantize's type, gptq fits each block matrix to its type's "
         "grid (K-quant super-blocks too)"},
    };
    int n = 0;
    while (table[n].name) n++;
    LT_ASSERT(n + LT_PASS_N_OPTS < cap);
    memcpy(table + n, o, sizeof o);
    table[n + LT_PASS_N_OPTS] = (lt_opt){0};
}

static lt_status sparse_args(const lt_pass_args *a, lt_pass_opts *o, lt_err *err) {
    const int bits = a->bits ? a->bits : 16;
    lt_sparse_mask mk = LT_MASK_SPARSEGPT;
    int n = 2, m = 4;
    if (a->mask && !lt_sparse_mask_parse(a->mask, &mk))
        return lt_err_set(err, LT_EINVAL, "compress: unknown --mask '%s' (magnitude, wanda, sparsegpt)", a->mask);
    if (a->nm && !lt_sparse_nm_parse(a->nm, &n, &m))
        return lt_err_set(err, LT_EINVAL, "compress: --nm '%s' is not N:M with 1 <= N < M <= 16 (2:4, 4:8)", a->nm);
    if (bits != 16 && bits != 4)
        return lt_err_set(err, LT_EINVAL, "compress: sparse24 keeps f16 (--bits 16) or 4-bit (--bits 4) values, not %d",
                          bits);
    if (bits == 4 && (n != 2 || m != 4))
        return lt_err_set(err, LT_EINVAL, "compress: --bits 4 is stored as s24_q4, which is 2:4 only (not --nm %s)",
                          a->nm);
    if (a->act_order || a->sym || a->clip || a->group != 32)
        return lt_err_set(err, LT_EINVAL, "compress: %s is for gptq/rtn; sparse24's 4-bit blocks are fixed (32 kept "
                                          "values, min/max)",
                          a->act_order ? "--act-order" : a->sym ? "--sym" : a->clip ? "--clip" : "--group");
    if (a->skip && !a->skip[0]) return lt_err_set(err, LT_EINVAL, "compress: --skip is empty");
    o->sp = (lt_sparse_opts){.mask = mk, .n = n, .m = m, .bits = bits, .damp = a->damp};
    o->skip = a->skip;
    o->q = (lt_gptq_opts){.bits = 4, .group = 32, .damp = a->damp};
    o->calib = (lt_calib_opts){.file = a->calib, .n_tokens = a->calib_tokens, .seed = a->seed};
    o->format = a->format;
    return LT_OK;
}

lt_status lt_pass_args_apply(const lt_pass_args *a, lt_pass_opts *o, lt_err *err) {
    if (!lt_pass_find(a->method))
        return lt_err_set(err, LT_EINVAL, "compress: unknown --method '%s' (gptq, rtn, sparse24, smoothquant+, slicegpt)",
                          a->method);
    if (a->mix && strcmp(a->method, "gptq") && strcmp(a->method, "rtn"))
        return lt_err_set(err, LT_EINVAL, "compress: --mix is for --method gptq or rtn");
    if (a->quant_head && strcmp(a->method, "gptq") && strcmp(a->method, "rtn"))
        return lt_err_set(err, LT_EINVAL, "compress: --quant-head is for --method gptq or rtn");
    bool sq = !strcmp(a->method, "smoothquant+");
    if (!sq && (a->alpha >= 0 || a->alpha_per_layer))
        return lt_err_set(err, LT_EINVAL, "compress: --alpha%s is for --method smoothquant+",
                          a->alpha >= 0 ? "" : "-per-layer");
    if (a->alpha >= 0 && a->alpha_per_layer)
        return lt_err_set(err, LT_EINVAL, "compress: --alpha and --alpha-per-layer contradict each other");
    const bool sg = !strcmp(a->method, "slicegpt");
    if (!sg && (a->slice >= 0 || a->round != 8 || a->slice_head || a->center_embd || a->full_shortcuts))
        return lt_err_set(err, LT_EINVAL, "compress: %s is for --method slicegpt",
                          a->slice >= 0           ? "--slice"
                          : a->round != 8         ? "--round"
                          : a->slice_head         ? "--slice-head"
                          : a->center_embd        ? "--center-embd"
                                                  : "--full-shortcuts");
    const char *ty = a->output_type ? "--output-tensor-type" : a->embd_type ? "--token-embedding-type"
                     : a->shortcut_type ? "--shortcut-type" : NULL;
    if (ty && (sg || !strcmp(a->method, "sparse24")))
        return lt_err_set(err, LT_EINVAL, "compress: %s is for gptq, rtn and smoothquant+ (%s keeps the source's types)",
                          ty, a->method);
    if (ty) { /* checked here, before any calibration */
        lt_quantmix mx;
        lt_quantmix_parse("Q8_0", false, &mx, err);
        if ((a->output_type && lt_quantmix_set_override(&mx, "output", a->output_type, err) != LT_OK) ||
            (a->embd_type && lt_quantmix_set_override(&mx, "embd", a->embd_type, err) != LT_OK) ||
            (a->shortcut_type && lt_quantmix_set_override(&mx, "shortcut", a->shortcut_type, err) != LT_OK))
            return lt_err_prefix(err, "compress");
    }
    if (sg) {
        if (a->bits || a->sym || a->act_order || a->no_act_order || a->clip || a->group != 32 || a->mask || a->nm || a->skip)
            return lt_err_set(err, LT_EINVAL, "compress: slicegpt keeps the source's float matrices (no --bits, --group, "
                                              "--sym, --act-order, --clip, --mask, --nm, --skip); quantize its output "
                                              "with a second compress");
        o->sg = (lt_slicegpt_opts){.slice = a->slice >= 0 ? a->slice : 0.25, .round = a->round,
                                   .slice_head = a->slice_head, .center_embd = a->center_embd,
                                   .full_shortcuts = a->full_shortcuts};
        o->calib = (lt_calib_opts){.file = a->calib, .n_tokens = a->calib_tokens, .seed = a->seed};
        o->format = a->format;
        return LT_OK;
    }
    o->output_type = a->output_type, o->embd_type = a->embd_type, o->shortcut_type = a->shortcut_type;
    if (!strcmp(a->method, "sparse24")) return sparse_args(a, o, err);
    if (a->mask || a->nm || a->skip)
        return lt_err_set(err, LT_EINVAL, "compress: %s is for --method sparse24", a->mask ? "--mask" : a->nm ? "--nm" : "--skip");
    if (a->mix) { /* checked here, before any calibration */
        lt_quantmix mx;
        if (a->bits || a->sym || a->clip || a->group != 32 || a->quant_head)
            return lt_err_set(err, LT_EINVAL, "compress: --mix sets every tensor's type; leave out %s",
                              a->bits ? "--bits" : a->sym ? "--sym" : a->clip ? "--clip" : a->group != 32 ? "--group"
                                                                                                    : "--quant-head");
        if (lt_quantmix_parse(a->mix, false, &mx, err) != LT_OK) return lt_err_prefix(err, "compress: --mix");
    }
    o->mix = a->mix;
    const int bits = a->bits ? a->bits : 4;
    if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 8)
        return lt_err_set(err, LT_EINVAL, "compress: --bits %d is not one of 2, 3, 4, 5, 8", bits);
    if (a->group != -1 && a->group != 32 && a->group != 64 && a->group != 128)
        return lt_err_set(err, LT_EINVAL, "compress: --group %d is not one of -1, 32, 64, 128", a->group);
    bool gptq = !strcmp(a->method, "gptq");
    if (a->act_order && a->no_act_order)
        return lt_err_set(err, LT_EINVAL, "compress: --act-order and --no-act-order contradict each other");
    if (a->act_order && !gptq) return lt_err_set(err, LT_EINVAL, "compress: --act-order is for --method gptq");
    o->quant_head = a->quant_head;
    o->q = (lt_gptq_opts){.bits = bits, .group = a->group, .sym = a->sym, .act_order = gptq && !a->no_act_order,
                          .clip = a->clip, .damp = a->damp};
    o->calib = (lt_calib_opts){.file = a->calib, .n_tokens = a->calib_tokens, .seed = a->seed};
    o->format = a->format;
    o->sq = (lt_sq_opts){.alpha = a->alpha, .search_tokens = a->search_tokens, .per_layer = a->alpha_per_layer};
    return LT_OK;
}

const char *lt_pass_args_describe(const lt_pass_args *a, const lt_pass_opts *o, char *buf, size_t n) {
    if (!strcmp(a->method, "slicegpt"))
        snprintf(buf, n, "slice %.2f, widths rounded down to multiples of %d%s%s%s", o->sg.slice, o->sg.round,
                 o->sg.slice_head ? ", head sliced" : "", o->sg.center_embd ? ", embeddings centred" : "",
                 o->sg.full_shortcuts ? ", full shortcut matrices" : "");
    else if (!strcmp(a->method, "sparse24"))
        snprintf(buf, n, "%d:%d %s, %s kept values%s%s", o->sp.n, o->sp.m, lt_sparse_mask_name(o->sp.mask),
                 o->sp.bits == 4 ? "4-bit" : "f16", o->skip ? ", dense: " : "", o->skip ? o->skip : "");
    else if (o->mix)
        snprintf(buf, n, "llama-quantize's %s mix%s", o->mix, o->q.act_order ? ", act-order" : "");
    else
        snprintf(buf, n, "%d-bit, groups of %d, %s%s%s%s", o->q.bits, a->group, a->sym ? "symmetric" : "asymmetric",
                 o->q.act_order ? ", act-order" : "", a->clip ? ", clip" : "", o->quant_head ? ", head quantized" : "");
    return buf;
}
