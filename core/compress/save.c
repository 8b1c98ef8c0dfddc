/* save.c - see save.h. */
#include "save.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/quants.h"
#include "core/formats/modelsrc_gguf.h"
#include "core/formats/modelsrc_hf.h"
#include "core/formats/modelsrc_slicegpt.h"
#include "ct_hf.h"
#include "gptq_hf.h"
#include "gq_gguf.h"
#include "quantize.h"

/* a GPTQ candidate: a 2-D matrix of a block */
static bool block_matrix(const lt_src_tensor *t) { return t->ndim == 2 && !strncmp(t->name, "blk.", 4); }

static bool has_gptq_form(lt_dtype t) {
    return t == LT_Q4_0 || t == LT_Q4_1 || t == LT_Q8_0 || lt_gq4_block(t) > 0;
}

/* "blk.0.attn_q.weight (q6_K), ... (N tensors)" for the tensors bad() picks */
static void list_tensors(const lt_modelsrc *src, bool (*bad)(const lt_src_tensor *), char *buf, size_t cap) {
    int n = 0;
    buf[0] = 0;
    for (int i = 0; i < lt_modelsrc_n_tensors(src); i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        if (!bad(t)) continue;
        size_t l = strlen(buf);
        if (n < 4) snprintf(buf + l, cap - l, "%s%s (%s)", n ? ", " : "", t->name, lt_dtype_name(t->dtype));
        n++;
    }
    if (n > 4) snprintf(buf + strlen(buf), cap - strlen(buf), " and %d more", n - 4);
}

static bool not_gguf(const lt_src_tensor *t) { return lt_dtype_info(t->dtype)->gguf_type < 0; }
static bool not_hf(const lt_src_tensor *t) {
    return block_matrix(t) && lt_dtype_info(t->dtype)->quantized && !has_gptq_form(t->dtype);
}

static bool no_pack(const lt_src_tensor *t) { /* AutoGPTQ packs each column's codes into 32-bit words */
    return block_matrix(t) && has_gptq_form(t->dtype) && t->shape[0] * (t->dtype == LT_Q8_0 ? 8 : 4) % 32;
}

typedef struct gctx {
    const lt_save_opts *o;
} gctx;

static bool gguf_progress(void *ud, const lt_gguf_write_event *e) {
    const gctx *g = ud;
    double f = e->bytes_total ? (double)e->bytes_done / (double)e->bytes_total : 1;
    return !g->o->progress || g->o->progress(g->o->ud, f);
}

/* gq4 weights with every zero 8 are Q4_0 blocks exactly (same f16 scales and codes): *out
 * gets them (lt_malloc'd); false when some zero is not 8 */
static lt_status gq4_as_q4_0(const lt_src_tensor *t, void **out, bool *ok, lt_err *err) {
    *out = NULL, *ok = false;
    lt_gq_matrix m;
    LT_TRY(lt_gq_from_blocks(t->data, t->dtype, (int)t->shape[0], (int)t->shape[1], 32, &m, NULL, err));
    lt_status st = LT_OK;
    if (m.sym) {
        *out = lt_malloc(lt_row_bytes(LT_Q4_0, m.cols) * (size_t)m.rows);
        st = *out ? lt_gq_to_ggml(&m, LT_Q4_0, *out, err) : lt_err_set(err, LT_ENOMEM, "out of host memory");
        *ok = st == LT_OK;
    }
    lt_gq_free(&m);
    return st;
}

static lt_status save_gguf(const lt_modelsrc *src, const char *path, const lt_save_opts *o, lt_save_report *r,
                           lt_err *err) {
    LT_TRY(lt_quantize_check_folder(path, err)); /* said of PATH, not of the PATH.tmp it is written as */
    int nt = lt_modelsrc_n_tensors(src);
    lt_dtype *types = lt_calloc((size_t)nt + 1, sizeof *types);
    void **data = lt_calloc((size_t)nt + 1, sizeof *data);
    lt_status st = types && data ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    char list[512] = "";
    int nbad = 0;
    for (int i = 0; st == LT_OK && i < nt; i++) { /* symmetric gq4 -> Q4_0; other gq4 has no GGUF type */
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        types[i] = t->dtype;
        if (!not_gguf(t)) continue;
        bool ok = false;
        if (lt_gq4_block(t->dtype)) st = gq4_as_q4_0(t, &data[i], &ok, err);
        if (ok) {
            types[i] = LT_Q4_0, r->n_gptq++;
        } else if (st == LT_OK && nbad++ < 4) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s (%s%s)", l ? ", " : "", t->name, lt_dtype_name(t->dtype),
                     lt_gq4_block(t->dtype) ? " with zero points other than 8" : "");
        }
    }
    if (st == LT_OK && nbad)
        st = lt_err_set(err, LT_EUNSUPPORTED, "%s: GGUF cannot hold %s%s - save it as a Hugging Face folder (a path "
                        "without .gguf)", path, list, nbad > 4 ? " and more" : "");
    gctx g = {o};
    lt_gguf_write_opts wo = {.types = types, .data = (const void *const *)data, .progress = gguf_progress,
                             .progress_ud = &g};
    if (st == LT_OK) st = lt_modelsrc_write_gguf_opts(src, path, &wo, err);
    struct stat sb;
    if (st == LT_OK && stat(path, &sb) == 0) r->bytes = (uint64_t)sb.st_size;
    for (int i = 0; data && i < nt; i++) lt_free(data[i]);
    lt_free(types), lt_free(data);
    return st;
}

static lt_status save_hf(const lt_modelsrc *src, const char *dir, const lt_save_opts *o, lt_save_report *r,
                         lt_err *err) {
    char list[512], sp[4300];
    struct stat sb;
    if (lt_ct_has_sparse(src)) { /* 2:4: compressed-tensors' sparse-24-bitmask */
        if (o->progress && !o->progress(o->ud, 0)) return lt_err_set(err, LT_ECANCELLED, "save cancelled");
        LT_TRY(lt_ct_write_hf(src, dir, err));
        for (int i = 0; i < lt_modelsrc_n_tensors(src); i++) r->n_sparse += lt_modelsrc_tensor(src, i)->dtype == LT_S24_F16;
        snprintf(sp, sizeof sp, "%s/model.safetensors", dir);
        if (stat(sp, &sb) == 0) r->bytes = (uint64_t)sb.st_size;
        return LT_OK;
    }
    list_tensors(src, not_hf, list, sizeof list);
    if (list[0])
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: a Hugging Face folder holds GPTQ linears (from Q4_0, Q8_0, "
                          "GPTQ's Q4_1 or gq4) and f32/f16/bf16 tensors, not %s - save it as .gguf", dir, list);
    list_tensors(src, no_pack, list, sizeof list);
    if (list[0])
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: AutoGPTQ packs the codes of each output into 32-bit words, so "
                          "it needs outputs in multiples of 8; %s do not fit - save it as .gguf", dir, list);
    int nt = lt_modelsrc_n_tensors(src), nq = 0, group = 128;
    for (int i = 0; i < nt; i++) {
        const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
        if (!block_matrix(t) || !has_gptq_form(t->dtype)) continue;
        int b = lt_gq4_block(t->dtype) ? lt_gq4_block(t->dtype) : 32;
        if (b < group) group = b;
        nq++;
    }
    lt_status st = LT_OK;
    if (o->progress && !o->progress(o->ud, 0)) return lt_err_set(err, LT_ECANCELLED, "save cancelled");
    if (!nq) {
        st = lt_modelsrc_write_hf(src, dir, LT_DTYPE_COUNT, err);
    } else {
        lt_gq_matrix *m = lt_calloc((size_t)nq, sizeof *m);
        lt_gptq_tensor *q = lt_calloc((size_t)nq, sizeof *q);
        st = m && q ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
        int k = 0;
        for (int i = 0; st == LT_OK && i < nt; i++) {
            const lt_src_tensor *t = lt_modelsrc_tensor(src, i);
            if (!block_matrix(t) || !has_gptq_form(t->dtype)) continue;
            double dev = 0;
            st = lt_gq_from_blocks(t->data, t->dtype, (int)t->shape[0], (int)t->shape[1], group, &m[k], &dev, err);
            if (st != LT_OK) {
                lt_err_prefix(err, "%s: %s", dir, t->name);
                break;
            }
            if (dev > r->max_dev) r->max_dev = dev;
            q[k] = (lt_gptq_tensor){t->name, &m[k]};
            k++;
            if (o->progress && !o->progress(o->ud, 0.5 * k / nq)) st = lt_err_set(err, LT_ECANCELLED, "save cancelled");
        }
        if (st == LT_OK) {
            lt_gptq_write_opts wo = {.other = LT_DTYPE_COUNT};
            st = lt_gptq_write_hf(src, dir, q, nq, &wo, err);
        }
        if (st == LT_OK) r->bits = m[0].bits, r->group = m[0].group, r->sym = m[0].sym, r->n_gptq = nq;
        for (int i = 0; m && i < nq; i++) lt_gq_free(&m[i]);
        lt_free(m), lt_free(q);
    }
    snprintf(sp, sizeof sp, "%s/model.safetensors", dir);
    if (st == LT_OK && stat(sp, &sb) == 0) r->bytes = (uint64_t)sb.st_size;
    return st;
}

/* a TransformerCompression (SliceGPT) folder: NAME_SPARSITY.pt + .json + config.json + tokenizer */
static lt_status save_sg(const lt_modelsrc *src, const char *dir, const lt_save_opts *o, lt_save_report *r,
                         lt_err *err) {
    if (o->progress && !o->progress(o->ud, 0)) return lt_err_set(err, LT_ECANCELLED, "save cancelled");
    lt_slicegpt_write_opts so = {.model_name = o->model_name, .sparsity = o->sparsity > 0 ? o->sparsity : -1};
    LT_TRY(lt_modelsrc_write_slicegpt(src, dir, &so, err));
    DIR *d = opendir(dir); /* the bytes of the .pt it wrote */
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        char p[4500];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (n > 3 && !strcmp(e->d_name + n - 3, ".pt") && stat(p, &sb) == 0) r->bytes = (uint64_t)sb.st_size;
    }
    if (d) closedir(d);
    return LT_OK;
}

/* ---- the folder: written under a temporary name, renamed when complete -------------------------- */

/* the files of a folder the writers filled (flat), then the folder */
static void remove_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        char p[4500];
        for (struct dirent *e; (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* PATH must be new or an empty folder: files of another model left beside the new ones
 * (a quantize_config.json, shards and their index) would be read with them */
static lt_status check_new_folder(const char *dir, lt_err *err) {
    struct stat sb;
    if (stat(dir, &sb) != 0) return LT_OK;
    if (!S_ISDIR(sb.st_mode)) return lt_err_set(err, LT_EINVAL, "%s exists and is not a folder", dir);
    DIR *d = opendir(dir);
    if (!d) return lt_err_set(err, LT_EIO, "%s: cannot read the folder: %s", dir, strerror(errno));
    bool empty = true;
    for (struct dirent *e; empty && (e = readdir(d));) empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty ? LT_OK
                 : lt_err_set(err, LT_EINVAL, "%s: the folder exists and is not empty - save writes a whole new "
                              "folder (choose another PATH or remove it)", dir);
}

typedef lt_status (*folder_writer)(const lt_modelsrc *src, const char *dir, const lt_save_opts *o,
                                   lt_save_report *r, lt_err *err);

static lt_status save_folder_atomic(const lt_modelsrc *src, const char *path, const lt_save_opts *o,
                                    lt_save_report *r, folder_writer write, lt_err *err) {
    char dir[4096], tmp[4200];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* "out/" is the folder out */
    if (n >= sizeof dir) return lt_err_set(err, LT_EINVAL, "%s: the path is too long", path);
    memcpy(dir, path, n), dir[n] = 0;
    LT_TRY(check_new_folder(dir, err));
    LT_TRY(lt_quantize_check_folder(dir, err));
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", dir);
    if (!mkdtemp(tmp)) return lt_err_set(err, LT_EIO, "%s: cannot create a folder beside it: %s", dir, strerror(errno));
    lt_status st = write(src, tmp, o, r, err);
    if (st == LT_OK && rename(tmp, dir) != 0) /* onto nothing or an empty folder */
        st = lt_err_set(err, LT_EIO, "%s: cannot rename the written folder %s to it: %s", dir, tmp, strerror(errno));
    if (st != LT_OK) {
        remove_folder(tmp);
        /* the writers name the folder they wrote in their errors: say PATH instead of its temporary name */
        char *at = err ? strstr(err->msg, tmp) : NULL;
        if (err && at) {
            char rest[sizeof err->msg];
            snprintf(rest, sizeof rest, "%s", at + strlen(tmp));
            snprintf(at, sizeof err->msg - (size_t)(at - err->msg), "%s%s", dir, rest);
        }
    }
    return st;
}

lt_status lt_slicegpt_save_folder(const lt_modelsrc *sliced, const char *dir, const char *model_name,
                                  double sparsity, lt_err *err) {
    lt_save_opts o = {.format = "slicegpt", .model_name = model_name, .sparsity = sparsity};
    lt_save_report r;
    return lt_save_model(sliced, dir, &o, &r, err);
}

lt_status lt_save_model(const lt_modelsrc *src, const char *path, const lt_save_opts *o, lt_save_report *r,
                        lt_err *err) {
    static const lt_save_opts none = {0};
    if (!o) o = &none;
    memset(r, 0, sizeof *r);
    const char *fmt = o->format;
    if (!fmt) {
        size_t n = strlen(path);
        fmt = n > 5 && !strcmp(path + n - 5, ".gguf") ? "gguf" : "hf";
    }
    if (strcmp(fmt, "gguf") && strcmp(fmt, "hf") && strcmp(fmt, "slicegpt"))
        return lt_err_set(err, LT_EINVAL, "save: unknown format '%s' (gguf, hf, slicegpt)", fmt);
    snprintf(r->format, sizeof r->format, "%s", fmt);
    r->n_tensors = lt_modelsrc_n_tensors(src);
    lt_status st = !strcmp(fmt, "gguf")  ? save_gguf(src, path, o, r, err)
                   : !strcmp(fmt, "hf") ? save_folder_atomic(src, path, o, r, save_hf, err)
                                        : save_folder_atomic(src, path, o, r, save_sg, err);
    if (st == LT_OK && o->progress) o->progress(o->ud, 1);
    return st;
}
