/* quantize.c - the quantize pass (see quantize.h): plan each tensor's type with the mix's
 * rules, check this build can write every planned type, write the GGUF through the model
 * source's writer with the llama.cpp file-type keys. */
#include "quantize.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/base/str.h"

static size_t tensor_bytes(const lt_src_tensor *t, lt_dtype dt) {
    int64_t rows = 1;
    for (int d = 0; d + 1 < t->ndim; d++) rows *= t->shape[d];
    return lt_row_bytes(dt, t->shape[t->ndim - 1]) * (size_t)rows;
}

static bool is_shortcut(const lt_src_tensor *s) {
    return s->ndim == 2 && (lt_str_ends(s->name, "_shortcut.weight") || lt_str_ends(s->name, "_shortcut_lr.weight"));
}

/* SliceGPT's shortcut matrices carry the whole residual stream, its massive activations
 * included: the mix's 4-bit round-to-nearest there took SmolLM2 sliced + GPTQ from ppl 657 to
 * ~43,000, q8_0 to 731 (docs/PERF.md): q8_0 is the default of a quantized mix, a float mix's type
 * otherwise; a row that is not whole blocks keeps the source's float type (f16 if quantized). The
 * low-rank form (*_shortcut_lr, a third of the numbers at 25% slicing) stays float: exact, and
 * read by lt_op_lowrank, which takes float factors only. */
static lt_dtype shortcut_type(const lt_src_tensor *s, const lt_quantmix *mix) {
    const bool src_float = s->dtype == LT_F32 || s->dtype == LT_F16 || s->dtype == LT_BF16;
    if (lt_str_ends(s->name, "_lr.weight")) { /* the low-rank form: a float type (lt_op_lowrank), f16 by default */
        const lt_dtype o = mix->shortcut_type;
        if (o == LT_F32 || o == LT_F16 || o == LT_BF16) return o;
        return lt_dtype_info(mix->base)->quantized ? LT_F16 : mix->base;
    }
    lt_dtype want = mix->shortcut_type != LT_DTYPE_COUNT ? mix->shortcut_type
                    : lt_dtype_info(mix->base)->quantized ? LT_Q8_0
                                                          : mix->base; /* F16 / BF16 / F32: that type */
    if (lt_dtype_info(want)->quantized && s->shape[1] % lt_dtype_block(want) != 0)
        want = src_float ? s->dtype : LT_F16; /* rows not whole blocks of the type */
    return want;
}

lt_status lt_quantize_plan(const lt_modelsrc *src, const lt_quantmix *mix, lt_dtype *types, lt_quantize_report *rep,
                           lt_err *err) {
    lt_quantize_report r = {0};
    int n = lt_modelsrc_n_tensors(src);
    lt_quantmix_tensor *t = lt_calloc((size_t)n + 1, sizeof *t);
    if (!t) return lt_err_set(err, LT_ENOMEM, "out of memory planning %d tensors", n);
    for (int i = 0; i < n; i++) {
        const lt_src_tensor *s = lt_modelsrc_tensor(src, i);
        t[i] = (lt_quantmix_tensor){s->name, s->ndim, s->shape, s->dtype};
    }
    lt_quantmix_model m;
    lt_quantmix_model_from_config(lt_modelsrc_config(src), &m);
    lt_status st = lt_quantmix_plan(mix, &m, t, n, types, &r.n_fallback, err);
    lt_free(t);
    if (st != LT_OK) return st;
    r.n_tensors = n;
    for (int i = 0; i < n; i++) {
        const lt_src_tensor *s = lt_modelsrc_tensor(src, i);
        /* what llama.cpp does not quantize keeps its type there; lathe's GGUF files hold
         * norms and biases as f32 (as llama.cpp's converter writes them) */
        if (!lt_quantmix_allows(s->name, s->ndim, s->shape)) types[i] = LT_F32;
        if (is_shortcut(s)) types[i] = shortcut_type(s, mix);
        lt_dtype to = types[i];
        int64_t numel = 1;
        for (int d = 0; d < s->ndim; d++) numel *= s->shape[d];
        r.n_elements += (uint64_t)numel;
        r.bytes_in += tensor_bytes(s, s->dtype);
        r.bytes_out += tensor_bytes(s, to);
        r.count[to]++;
        if (to != s->dtype) {
            r.n_converted++;
            if (lt_dtype_info(s->dtype)->quantized && lt_dtype_info(to)->quantized) r.n_requantized++;
            bool missing = !lt_dtype_info(to)->from_f32 || lt_dtype_info(to)->gguf_type < 0;
            for (int k = 0; missing && k < r.n_missing; k++) missing = r.missing[k] != to;
            if (missing) r.missing[r.n_missing++] = to;
        }
    }
    if (rep) *rep = r;
    return LT_OK;
}

/* The folder path goes into must exist (said before any work, and without the .tmp name) */
lt_status lt_quantize_check_folder(const char *path, lt_err *err) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) return LT_OK;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir) return lt_err_set(err, LT_EINVAL, "%s: the path is too long", path);
    memcpy(dir, path, n);
    dir[n] = 0;
    struct stat st;
    if (stat(dir, &st) != 0) return lt_err_set(err, LT_ENOTFOUND, "%s: the folder %s does not exist", path, dir);
    if (!S_ISDIR(st.st_mode)) return lt_err_set(err, LT_EINVAL, "%s: %s is not a folder", path, dir);
    return LT_OK;
}

lt_status lt_quantize(const lt_modelsrc *src, const char *path, const lt_quantmix *mix, const lt_quantize_opts *o,
                      lt_quantize_report *rep, lt_err *err) {
    LT_TRY(lt_quantize_check_folder(path, err));
    int n = lt_modelsrc_n_tensors(src);
    lt_dtype *types = lt_calloc((size_t)n + 1, sizeof *types);
    if (!types) return lt_err_set(err, LT_ENOMEM, "out of memory planning %d tensors", n);
    lt_quantize_report r;
    lt_status st = lt_quantize_plan(src, mix, types, &r, err);
    if (st == LT_OK && r.n_missing) {
        char names[256] = "";
        const char *first = "?";
        for (int k = 0; k < r.n_missing; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "",
                     lt_dtype_name(r.missing[k]));
        for (int i = 0; i < n; i++)
            if (types[i] == r.missing[0] && types[i] != lt_modelsrc_tensor(src, i)->dtype) {
                first = lt_modelsrc_tensor(src, i)->name;
                break;
            }
        st = lt_err_set(err, LT_EUNSUPPORTED,
                        "%s needs %s (e.g. for '%s'), which this build cannot write yet (no quantizer for it in the "
                        "dtype table)", mix->name, names, first);
    }
    if (st == LT_OK) {
        double t0 = lt_now();
        lt_gguf_write_opts wo = {.types = types,
                                 .has_file_type = true,
                                 .file_type = (int32_t)mix->ftype,
                                 .quantization_version = LT_QUANT_VERSION,
                                 .progress = o ? o->progress : NULL,
                                 .progress_ud = o ? o->ud : NULL};
        st = lt_modelsrc_write_gguf_opts(src, path, &wo, err);
        r.seconds = lt_now() - t0;
    }
    if (st == LT_OK && rep) *rep = r;
    lt_free(types);
    return st;
}
