/* modelsrc_slicegpt.c - see modelsrc_slicegpt.h. The config and tokenizer are read and written
 * by the Hugging Face folder code (modelsrc_hf.h), the state dict by torchpt.h.
 */
#include "modelsrc_slicegpt.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"
#include "core/base/str.h"
#include "modelsrc_hf.h"
#include "modelsrc_impl.h"
#include "torchpt.h"

#define SG_LAYOUT "a SliceGPT folder holds NAME_SPARSITY.pt, NAME_SPARSITY.json and config.json"

static bool is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The .pt of a folder: the one with a .json beside it (or the folder's only .pt). */
static lt_status pick_pt(const char *dir, char *out, size_t cap, lt_err *err) {
    DIR *d = opendir(dir);
    if (!d) return lt_err_set(err, LT_EIO, "%s: cannot read the folder: %s", dir, strerror(errno));
    int n_pt = 0, n_paired = 0;
    char list[400] = "", only[1024] = "", paired[1024] = "";
    for (struct dirent *e; (e = readdir(d));) {
        const size_t nl = strlen(e->d_name);
        if (!lt_str_ends(e->d_name, ".pt") || nl > 900) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (!is_file(p)) continue;
        n_pt++;
        snprintf(only, sizeof only, "%s", e->d_name);
        snprintf(p, sizeof p, "%s/%.*s.json", dir, (int)(nl - 3), e->d_name);
        if (!is_file(p)) continue;
        n_paired++;
        snprintf(paired, sizeof paired, "%s", e->d_name);
        size_t l = strlen(list);
        if (l < sizeof list - 80) snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", e->d_name);
        else if (!strstr(list, "...")) snprintf(list + l, sizeof list - l, ", ...");
    }
    closedir(d);
    if (n_paired > 1)
        return lt_err_set(err, LT_EINVAL, "%s: %d SliceGPT models (%s): name one, as %s/NAME_SPARSITY.pt", dir,
                          n_paired, list, dir);
    if (n_paired == 1) return snprintf(out, cap, "%s/%s", dir, paired), LT_OK;
    if (n_pt == 1) return snprintf(out, cap, "%s/%s", dir, only), LT_OK;
    if (n_pt == 0) return lt_err_set(err, LT_ENOTFOUND, "%s: no .pt file (" SG_LAYOUT ")", dir);
    return lt_err_set(err, LT_EINVAL, "%s: %d .pt files and none with its .json beside it: name one, as "
                      "%s/NAME_SPARSITY.pt", dir, n_pt, dir);
}

/* ---- reading -------------------------------------------------------------------------------- */

enum { M_Q, M_K, M_V, M_O, M_GATE, M_UP, M_DOWN, M_SA, M_SF, M_N };
static const char *const k_canon[M_N] = {"attn_q.weight",   "attn_k.weight", "attn_v.weight",
                                         "attn_output.weight", "ffn_gate.weight", "ffn_up.weight",
                                         "ffn_down.weight", "attn_shortcut.weight", "ffn_shortcut.weight"};

/* their name of layer tensor m */
static void their_name(int l, int m, char out[128]) {
    if (m == M_SA) snprintf(out, 128, "model.layers.%d.attn_shortcut_Q", l);
    else if (m == M_SF) snprintf(out, 128, "model.layers.%d.mlp_shortcut_Q", l);
    else {
        char c[96];
        snprintf(c, sizeof c, "blk.%d.%s", l, k_canon[m]);
        lt_hf_tensor_name(c, out);
    }
}

typedef struct sg_read {
    const char *P; /* the .pt */
    lt_llm_config *cfg;
    lt_src_tensor embd, head;
    lt_src_tensor (*lt)[M_N]; /* per layer; name[0] == 0: absent */
    int32_t *a, *b, *c;       /* widths per layer */
} sg_read;

/* the state dict's tensors by their names; anything else is an error */
static lt_status sort_tensors(sg_read *r, const lt_torchpt *pt, lt_err *err) {
    const int nl = r->cfg->n_layers;
    for (int64_t i = 0; i < lt_pt_n_tensors(pt); i++) {
        lt_src_tensor t;
        lt_pt_tensor(pt, i, &t);
        if (!strcmp(t.name, "model.embed_tokens.weight")) {
            r->embd = t;
            continue;
        }
        if (!strcmp(t.name, "lm_head.weight")) {
            r->head = t;
            continue;
        }
        if (lt_str_ends(t.name, "rotary_emb.inv_freq")) continue; /* a buffer older transformers saved */
        int l = -1, m = -1;
        if (!strncmp(t.name, "model.layers.", 13)) {
            l = atoi(t.name + 13);
            char hf[128];
            for (int k = 0; l >= 0 && l < nl && k < M_N && m < 0; k++) {
                their_name(l, k, hf);
                if (!strcmp(hf, t.name)) m = k;
            }
        }
        if (m < 0) {
            bool norm = strstr(t.name, "norm") != NULL;
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' is not part of a sliced %d-layer Llama model%s", r->P,
                              t.name, nl, norm ? " (SliceGPT folds the norm weights into the linears: its state "
                                                 "dict has none)" : "");
        }
        r->lt[l][m] = t;
    }
    if (!r->embd.name[0])
        return lt_err_set(err, LT_EFORMAT, "%s: tensor 'model.embed_tokens.weight' is missing", r->P);
    if (!r->head.name[0]) return lt_err_set(err, LT_EFORMAT, "%s: tensor 'lm_head.weight' is missing", r->P);
    for (int l = 0; l < nl; l++)
        for (int m = 0; m < M_SA; m++)
            if (!r->lt[l][m].name[0]) {
                char hf[128];
                their_name(l, m, hf);
                return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' is missing", r->P, hf);
            }
    return LT_OK;
}

static lt_status want2(const sg_read *r, const lt_src_tensor *t, int64_t d0, int64_t d1, const char *why,
                       lt_err *err) {
    if (t->ndim == 2 && t->shape[0] == d0 && t->shape[1] == d1) return LT_OK;
    char a[96];
    lt_ms_shape_str(t->ndim, t->shape, a, sizeof a);
    return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has shape %s, expected [%lld, %lld] (%s)", r->P, t->name, a,
                      (long long)d0, (long long)d1, why);
}

static lt_status width_ok(const sg_read *r, const lt_src_tensor *t, int d, int32_t *w, lt_err *err) {
    if (t->ndim != 2 || t->shape[d] < 1 || t->shape[d] > r->cfg->dim) {
        char a[96];
        lt_ms_shape_str(t->ndim, t->shape, a, sizeof a);
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has shape %s: a width of 1 to hidden_size %d expected in "
                          "dimension %d", r->P, t->name, a, r->cfg->dim, d);
    }
    *w = (int32_t)t->shape[d];
    return LT_OK;
}

/* the widths from the shapes, every shape checked against them and config.json */
static lt_status check_shapes(sg_read *r, lt_err *err) {
    const lt_llm_config *c = r->cfg;
    const int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim, F = c->hidden_dim;
    int32_t a0 = 0;
    LT_TRY(width_ok(r, &r->embd, 1, &a0, err));
    LT_TRY(want2(r, &r->embd, c->n_vocab, a0, "vocab_size x embedding width", err));
    int32_t prev = a0;
    for (int l = 0; l < c->n_layers; l++) {
        lt_src_tensor *t = r->lt[l];
        r->a[l] = prev;
        LT_TRY(want2(r, &t[M_Q], q, prev, "heads x head_dim, the previous block's output width", err));
        LT_TRY(want2(r, &t[M_K], kv, prev, "kv heads x head_dim, the block's input width", err));
        LT_TRY(want2(r, &t[M_V], kv, prev, "kv heads x head_dim, the block's input width", err));
        LT_TRY(width_ok(r, &t[M_O], 0, &r->b[l], err));
        LT_TRY(want2(r, &t[M_O], r->b[l], q, "the attention's output width x heads x head_dim", err));
        LT_TRY(want2(r, &t[M_GATE], F, r->b[l], "intermediate_size x the attention's output width", err));
        LT_TRY(want2(r, &t[M_UP], F, r->b[l], "intermediate_size x the attention's output width", err));
        LT_TRY(width_ok(r, &t[M_DOWN], 0, &r->c[l], err));
        LT_TRY(want2(r, &t[M_DOWN], r->c[l], F, "the block's output width x intermediate_size", err));
        /* theirs: attn_shortcut_Q [a, b], mlp_shortcut_Q [b, c]; absent: the identity */
        if (t[M_SA].name[0]) LT_TRY(want2(r, &t[M_SA], r->a[l], r->b[l], "input x attention output width", err));
        else if (r->a[l] != r->b[l])
            return lt_err_set(err, LT_EFORMAT, "%s: 'model.layers.%d.attn_shortcut_Q' is missing and the widths "
                              "differ (%d, %d)", r->P, l, r->a[l], r->b[l]);
        if (t[M_SF].name[0]) LT_TRY(want2(r, &t[M_SF], r->b[l], r->c[l], "attention output x block output width", err));
        else if (r->b[l] != r->c[l])
            return lt_err_set(err, LT_EFORMAT, "%s: 'model.layers.%d.mlp_shortcut_Q' is missing and the widths "
                              "differ (%d, %d)", r->P, l, r->b[l], r->c[l]);
        prev = r->c[l];
    }
    return want2(r, &r->head, c->n_vocab, prev, "vocab_size x the last block's output width", err);
}

/* the SlicingConfig JSON's widths against the tensors' */
static lt_status check_json(const sg_read *r, const char *jpath, lt_err *err) {
    char *buf;
    size_t n;
    LT_TRY(lt_file_read_all(jpath, 16u << 20, &buf, &n, err));
    cJSON *j = cJSON_ParseWithLength(buf, n);
    lt_free(buf);
    lt_status st = LT_OK;
    const lt_llm_config *c = r->cfg;
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(j, "const_dimension");
    const bool has_const = cJSON_IsNumber(cd);
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(j, "hidden_size"), *ln = cJSON_GetObjectItemCaseSensitive(j, "layers_num");
    if (!cJSON_IsObject(j)) {
        st = lt_err_set(err, LT_EFORMAT, "%s: not a JSON object (their SlicingConfig)", jpath);
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "parallel_blocks"))) {
        st = lt_err_set(err, LT_EUNSUPPORTED, "%s: parallel_blocks (Phi-2 style) is not supported: lathe reads "
                        "sliced Llama models", jpath);
    } else if (cJSON_IsNumber(hs) && hs->valuedouble != c->dim) {
        st = lt_err_set(err, LT_EFORMAT, "%s: hidden_size %g, config.json says %d", jpath, hs->valuedouble, c->dim);
    } else if (cJSON_IsNumber(ln) && ln->valuedouble != c->n_layers) {
        st = lt_err_set(err, LT_EFORMAT, "%s: layers_num %g, config.json says %d", jpath, ln->valuedouble, c->n_layers);
    }
    static const char *const keys[] = {"embedding_dimensions", "attention_input_dimensions",
                                       "attention_output_dimensions", "mlp_input_dimensions", "mlp_output_dimensions"};
    for (int k = 0; !st && k < 5; k++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
        if (d && !cJSON_IsObject(d)) {
            st = lt_err_set(err, LT_EFORMAT, "%s: '%s' is not an object", jpath, keys[k]);
            break;
        }
        for (int l = 0; !st && l < (k == 0 ? 1 : c->n_layers); l++) {
            char idx[16];
            snprintf(idx, sizeof idx, "%d", l);
            const cJSON *v = d ? cJSON_GetObjectItemCaseSensitive(d, idx) : NULL;
            if (!v && !has_const) {
                if (k == 0 || !d || cJSON_GetArraySize(d) == 0) continue; /* not recorded: the shapes decide */
                st = lt_err_set(err, LT_EFORMAT, "%s: '%s' has no entry for layer %d", jpath, keys[k], l);
                break;
            }
            const double want = v ? (cJSON_IsNumber(v) ? v->valuedouble : -1) : cd->valuedouble;
            const int32_t got = k == 0 ? r->a[0] : k == 1 ? r->a[l] : k == 4 ? r->c[l] : r->b[l];
            /* the const-dimension form (no dicts) says nothing of the last block's output: the head's width */
            if (!v && k == 4 && l == c->n_layers - 1) continue;
            if (want != got)
                st = lt_err_set(err, LT_EFORMAT, "%s: %s[%d] is %g but the tensors of %s have width %d", jpath, keys[k],
                                l, want, r->P, got);
        }
    }
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(j, "head_dimension");
    if (!st && cJSON_IsNumber(hd) && hd->valuedouble != (double)r->head.shape[1])
        st = lt_err_set(err, LT_EFORMAT, "%s: head_dimension %g but 'lm_head.weight' has width %lld", jpath,
                        hd->valuedouble, (long long)r->head.shape[1]);
    cJSON_Delete(j);
    return st;
}

/* a tensor of the .pt into src under a canonical name: mapped data as it is, a copy of the
 * reader's own copies (they go with the reader); transposed when asked */
static lt_status put(lt_modelsrc *src, const lt_src_tensor *t, const char *canon, bool transpose, lt_err *err) {
    lt_src_tensor c = *t;
    snprintf(c.name, sizeof c.name, "%s", canon);
    if (transpose || !t->mapped) {
        void *d = lt_malloc(t->nbytes ? t->nbytes : 1);
        if (!d) return lt_err_set(err, LT_ENOMEM, "out of memory for '%s'", canon);
        if (transpose) {
            const int64_t R = t->shape[0], C = t->shape[1];
            const size_t es = lt_dtype_info(t->dtype)->block_bytes;
            for (int64_t i = 0; i < R; i++)
                for (int64_t k = 0; k < C; k++)
                    memcpy((char *)d + (size_t)(k * R + i) * es, (const char *)t->data + (size_t)(i * C + k) * es, es);
            c.shape[0] = C, c.shape[1] = R;
        } else {
            memcpy(d, t->data, t->nbytes);
        }
        LT_TRY(lt_ms_own(src, d, err));
        c.data = d, c.mapped = false;
    }
    return lt_ms_push(src, &c, err);
}

static lt_status ones(lt_modelsrc *src, const char *name, int32_t n, lt_err *err) {
    float *one = lt_malloc((size_t)n * sizeof *one);
    if (!one) return lt_err_set(err, LT_ENOMEM, "out of memory");
    for (int32_t i = 0; i < n; i++) one[i] = 1.0f;
    lt_status st = lt_modelsrc_add_owned(src, name, LT_F32, 1, (int64_t[]){n}, one, err);
    lt_free(one);
    return st;
}

static lt_status open_sg(lt_modelsrc *src, const char *pt_path, lt_torchpt **ptp, lt_err *err) {
    char dir[4096], jpath[4200];
    const char *sl = strrchr(pt_path, '/');
    snprintf(dir, sizeof dir, "%.*s", sl ? (int)(sl - pt_path) : 1, sl ? pt_path : ".");
    if (sl == pt_path) snprintf(dir, sizeof dir, "/");
    snprintf(jpath, sizeof jpath, "%s/config.json", dir);
    if (!is_file(jpath))
        return lt_err_set(err, LT_ENOTFOUND, "%s: no config.json beside it (" SG_LAYOUT ", the original model's "
                          "config copied beside them)", pt_path);
    LT_TRY(lt_hf_read_config(src, dir, err));
    lt_llm_config *c = &src->cfg;
    if (strcmp(c->arch, "llama") || c->qkv_bias || c->attn_out_bias || c->mlp_bias)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s/config.json: a %s model%s: lathe reads SliceGPT folders of Llama "
                          "models", dir, c->arch, c->qkv_bias || c->mlp_bias ? " with biases" : "");
    if (src->n) return lt_err_set(err, LT_EUNSUPPORTED, "%s/config.json: LongRoPE is not supported here", dir);
    c->sliced = true;
    c->tied_embeddings = false; /* their fusion clones the head: lm_head is always its own tensor */
    /* the name: their Path(--model).name, the stem up to its last '_' */
    const char *base = sl ? sl + 1 : pt_path, *us = strrchr(base, '_');
    if (us && us > base) snprintf(c->name, sizeof c->name, "%.*s", (int)(us - base) < 120 ? (int)(us - base) : 120, base);
    LT_TRY(lt_pt_open(ptp, pt_path, err));
    lt_torchpt *pt = *ptp;
    const int nl = c->n_layers;
    sg_read r = {.P = pt_path, .cfg = c};
    r.lt = lt_calloc((size_t)nl, sizeof *r.lt);
    r.a = lt_calloc((size_t)nl * 3, sizeof *r.a);
    lt_status st = r.lt && r.a ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    if (!st) r.b = r.a + nl, r.c = r.b + nl;
    if (!st) st = sort_tensors(&r, pt, err);
    if (!st) st = check_shapes(&r, err);
    snprintf(jpath, sizeof jpath, "%.*s.json", (int)strlen(pt_path) - 3, pt_path);
    if (!st && is_file(jpath)) st = check_json(&r, jpath, err);
    char nm[96];
    if (!st) st = put(src, &r.embd, "token_embd.weight", false, err);
    for (int l = 0; !st && l < nl; l++) {
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l);
        st = ones(src, nm, r.a[l], err);
        for (int m = 0; !st && m < M_N; m++) {
            if (m == M_GATE) { /* in block order: the FFN's norm after the attention's shortcut */
                snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l);
                if ((st = ones(src, nm, r.b[l], err))) break;
            }
            if (m == M_SA || m == M_SF) continue;
            snprintf(nm, sizeof nm, "blk.%d.%s", l, k_canon[m]);
            st = put(src, &r.lt[l][m], nm, false, err);
            if (!st && m == M_O && r.lt[l][M_SA].name[0]) {
                snprintf(nm, sizeof nm, "blk.%d.%s", l, k_canon[M_SA]);
                st = put(src, &r.lt[l][M_SA], nm, true, err);
            }
            if (!st && m == M_DOWN && r.lt[l][M_SF].name[0]) {
                snprintf(nm, sizeof nm, "blk.%d.%s", l, k_canon[M_SF]);
                st = put(src, &r.lt[l][M_SF], nm, true, err);
            }
        }
    }
    if (!st) st = ones(src, "output_norm.weight", (int32_t)r.head.shape[1], err);
    if (!st) st = put(src, &r.head, "output.weight", false, err);
    lt_free(r.lt), lt_free(r.a);
    LT_TRY(st);
    LT_TRY(lt_hf_read_vocab(src, dir, err));
    lt_pt_take_map(pt, &src->map, &src->map_size); /* the source keeps the file's mapping */
    return LT_OK;
}

lt_status lt_modelsrc_open_slicegpt(lt_modelsrc **out, const char *path, lt_err *err) {
    *out = NULL;
    char pt_path[4096];
    struct stat sb;
    if (stat(path, &sb) != 0) return lt_err_set(err, LT_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        for (size_t k = strlen(dir); k > 1 && dir[k - 1] == '/'; k--) dir[k - 1] = 0;
        LT_TRY(pick_pt(dir, pt_path, sizeof pt_path, err));
    } else if (lt_str_ends(path, ".pt")) {
        snprintf(pt_path, sizeof pt_path, "%s", path);
    } else {
        return lt_err_set(err, LT_EINVAL, "%s: not a SliceGPT folder or .pt file (" SG_LAYOUT ")", path);
    }
    lt_modelsrc *src = NULL;
    LT_TRY(lt_ms_new(&src, pt_path, "slicegpt", err));
    lt_torchpt *pt = NULL;
    lt_status st = open_sg(src, pt_path, &pt, err);
    lt_pt_close(pt);
    if (st) {
        lt_modelsrc_close(src);
        return st;
    }
    lt_err_clear(err);
    *out = src;
    return LT_OK;
}

/* ---- writing -------------------------------------------------------------------------------- */

void lt_slicegpt_stem(const char *model_name, double sparsity, char *out, size_t n) {
    char f[40];
    for (int p = 1; p <= 17; p++) { /* Python's repr: the shortest that reads back */
        snprintf(f, sizeof f, "%.*g", p, sparsity);
        if (strtod(f, NULL) == sparsity) break;
    }
    if (!strpbrk(f, ".eni")) strcat(f, ".0"); /* 0 -> 0.0 */
    snprintf(out, n, "%s_%s", model_name, f);
}

typedef struct sg_write {
    const lt_modelsrc *src;
    const char *dir;
    lt_st_entry *e;
    int ne;
    void **bufs;
    int nb;
} sg_write;

static const lt_src_tensor *need(const sg_write *w, const char *name, lt_err *err) {
    const lt_src_tensor *t = lt_modelsrc_find(w->src, name);
    if (!t) lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' is missing from the model", w->dir, name);
    return t;
}

/* t as f16 (transposed, or the identity of n when t is NULL) under their name */
static lt_status add(sg_write *w, const lt_src_tensor *t, bool transpose, int32_t n, const char *name, lt_err *err) {
    char *nm = lt_malloc(128);
    if (!nm) return lt_err_set(err, LT_ENOMEM, "out of memory");
    w->bufs[w->nb++] = nm;
    snprintf(nm, 128, "%s", name);
    lt_st_entry *e = &w->e[w->ne++];
    e->name = nm, e->dtype = LT_F16, e->ndim = 2;
    if (!t) {
        uint16_t *id = lt_calloc((size_t)n * (size_t)n, sizeof *id);
        if (!id) return lt_err_set(err, LT_ENOMEM, "out of memory");
        w->bufs[w->nb++] = id;
        float one = 1.0f;
        for (int32_t i = 0; i < n; i++) lt_dtype_row_from_f32(LT_F16, &one, &id[(size_t)i * (size_t)n + (size_t)i], 1);
        e->shape[0] = e->shape[1] = n, e->data = id;
        return LT_OK;
    }
    e->shape[0] = t->shape[0], e->shape[1] = t->shape[1];
    if (t->dtype == LT_F16 && !transpose) { /* as it is: no copy */
        e->data = t->data;
        return LT_OK;
    }
    void *d;
    size_t nb;
    LT_TRY(lt_ms_convert(t, LT_F16, &d, &nb, err));
    w->bufs[w->nb++] = d;
    e->data = d;
    if (transpose) {
        uint16_t *tr = lt_malloc(nb ? nb : 1);
        if (!tr) return lt_err_set(err, LT_ENOMEM, "out of memory");
        w->bufs[w->nb++] = tr;
        const int64_t R = t->shape[0], C = t->shape[1];
        for (int64_t i = 0; i < R; i++)
            for (int64_t k = 0; k < C; k++) tr[k * R + i] = ((const uint16_t *)d)[i * C + k];
        e->data = tr, e->shape[0] = C, e->shape[1] = R;
    }
    return LT_OK;
}

/* lathe's low-rank shortcut V [r, n] (modelsrc.h) as their full matrix I - V^T V (symmetric), f16 */
static lt_status add_lowrank(sg_write *w, const lt_src_tensor *v, const char *name, lt_err *err) {
    const int64_t r = v->shape[0], n = v->shape[1];
    char *nm = lt_malloc(128);
    float *vf = lt_malloc(sizeof(float) * (size_t)(r * n)), *row = lt_malloc(sizeof(float) * (size_t)n);
    uint16_t *s = lt_malloc(sizeof(uint16_t) * (size_t)(n * n));
    if (nm) w->bufs[w->nb++] = nm;
    if (s) w->bufs[w->nb++] = s;
    if (!nm || !vf || !row || !s) {
        lt_free(vf), lt_free(row);
        return lt_err_set(err, LT_ENOMEM, "out of memory");
    }
    const size_t rb = lt_row_bytes(v->dtype, n);
    for (int64_t k = 0; k < r; k++) lt_dtype_row_to_f32(v->dtype, (const char *)v->data + k * rb, vf + k * n, n);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < n; j++) {
            double acc = i == j;
            for (int64_t k = 0; k < r; k++) acc -= (double)vf[k * n + i] * vf[k * n + j];
            row[j] = (float)acc;
        }
        lt_dtype_row_from_f32(LT_F16, row, s + i * n, n);
    }
    lt_free(vf), lt_free(row);
    snprintf(nm, 128, "%s", name);
    lt_st_entry *e = &w->e[w->ne++];
    e->name = nm, e->dtype = LT_F16, e->ndim = 2, e->shape[0] = e->shape[1] = n, e->data = s;
    return LT_OK;
}

/* t as f16 under their name, a q/k matrix (heads > 0) of a GGUF-order source (adjacent rope pairs)
 * with its rows put back in Hugging Face's rotate-half order (convert_hf_to_gguf's permutation undone) */
static lt_status add_rope_rows(sg_write *w, const lt_src_tensor *t, int heads, const char *name, lt_err *err) {
    LT_TRY(add(w, t, false, 0, name, err));
    if (!heads) return LT_OK;
    lt_st_entry *e = &w->e[w->ne - 1];
    const size_t n = (size_t)e->shape[0] * e->shape[1] * sizeof(uint16_t);
    void *p = lt_malloc(n ? n : 1);
    if (!p) return lt_err_set(err, LT_ENOMEM, "out of memory");
    w->bufs[w->nb++] = p;
    lt_ms_permute_rows(p, e->data, heads, lt_modelsrc_config(w->src)->head_dim,
                       lt_row_bytes(LT_F16, e->shape[1]), false);
    e->data = p;
    return LT_OK;
}

static lt_status norm_ones(const sg_write *w, const char *name, lt_err *err) {
    const lt_src_tensor *t = lt_modelsrc_find(w->src, name);
    if (!t) return LT_OK;
    const int64_t n = t->ndim == 1 ? t->shape[0] : 0;
    float *v = lt_malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return lt_err_set(err, LT_ENOMEM, "out of memory");
    if (n) lt_dtype_row_to_f32(t->dtype, t->data, v, n);
    int64_t i = 0;
    while (i < n && v[i] == 1.0f) i++;
    lt_status st = i == n ? LT_OK
                          : lt_err_set(err, LT_EUNSUPPORTED, "%s: '%s'[%lld] is %g: a SliceGPT folder has no norm "
                                       "weights (every one must be 1: a sliced model, or one whose norms were folded)",
                                       w->dir, name, (long long)i, (double)v[i]);
    lt_free(v);
    return st;
}

static lt_status write_json(const char *path, const lt_llm_config *c, const int32_t *a, const int32_t *b,
                            const int32_t *cc, int32_t head, lt_err *err) {
    lt_afile af;
    LT_TRY(lt_afile_open(&af, path, err));
    FILE *f = af.f;
    bool ok = fprintf(f, "{\"hidden_size\": %d, \"layers_num\": %d, \"do_slice_head\": %s, \"parallel_blocks\": false, "
                      "\"embedding_dimensions\": {\"0\": %d}", c->dim, c->n_layers, head != c->dim ? "true" : "false",
                      a[0]) > 0;
    static const char *const keys[] = {"attention_input_dimensions", "attention_output_dimensions",
                                       "mlp_input_dimensions", "mlp_output_dimensions"};
    for (int k = 0; k < 4; k++) {
        ok &= fprintf(f, ", \"%s\": {", keys[k]) > 0;
        for (int l = 0; l < c->n_layers; l++)
            ok &= fprintf(f, "%s\"%d\": %d", l ? ", " : "", l, k == 0 ? a[l] : k == 3 ? cc[l] : b[l]) > 0;
        ok &= fputc('}', f) != EOF;
    }
    ok &= fprintf(f, ", \"head_dimension\": %d, \"const_dimension\": null}", head) > 0;
    return lt_afile_close(&af, ok, err);
}

lt_status lt_modelsrc_write_slicegpt(const lt_modelsrc *src, const char *dir, const lt_slicegpt_write_opts *o,
                                     lt_err *err) {
    const lt_llm_config *c = lt_modelsrc_config(src);
    LT_TRY(lt_llm_config_validate(c, lt_modelsrc_path(src), err));
    if (strcmp(c->arch, "llama") || c->qkv_bias || c->attn_out_bias || c->mlp_bias)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: a SliceGPT folder holds a Llama model without biases, not %s%s",
                          dir, c->arch, c->qkv_bias || c->attn_out_bias || c->mlp_bias ? " with biases" : "");
    if (lt_modelsrc_vocab(src)) {
        lt_status vst = lt_vocab_hf_check(lt_modelsrc_vocab(src), err);
        if (vst) return lt_err_prefix(err, "%s", dir);
    }
    const int nl = c->n_layers;
    sg_write w = {.src = src, .dir = dir};
    int32_t *wd = lt_calloc((size_t)nl * 3 + 1, sizeof *wd);
    w.e = lt_calloc((size_t)nl * M_N + 3, sizeof *w.e);
    w.bufs = lt_calloc((size_t)(nl * M_N + 3) * 3, sizeof *w.bufs);
    lt_status st = wd && w.e && w.bufs ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    int32_t *a = wd, *b = wd + nl, *cc = wd + 2 * nl, head = 0;
    char nm[96], their[128];
    const lt_src_tensor *embd = st ? NULL : need(&w, "token_embd.weight", err);
    if (!st && !embd) st = LT_EFORMAT;
    if (!st) st = add(&w, embd, false, 0, "model.embed_tokens.weight", err);
    int32_t prev = embd ? (int32_t)embd->shape[1] : 0;
    for (int l = 0; !st && l < nl; l++) {
        const lt_src_tensor *t[M_N] = {0};
        for (int m = 0; !st && m < M_N; m++) {
            snprintf(nm, sizeof nm, "blk.%d.%s", l, k_canon[m]);
            t[m] = m >= M_SA ? lt_modelsrc_find(src, nm) : need(&w, nm, err);
            if (!t[m] && m < M_SA) st = LT_EFORMAT;
        }
        if (st) break;
        a[l] = prev, b[l] = (int32_t)t[M_O]->shape[0], cc[l] = (int32_t)t[M_DOWN]->shape[0];
        prev = cc[l];
        if (t[M_Q]->shape[1] != a[l] || (t[M_SA] && (t[M_SA]->shape[0] != b[l] || t[M_SA]->shape[1] != a[l])) ||
            (t[M_SF] && (t[M_SF]->shape[0] != cc[l] || t[M_SF]->shape[1] != b[l])) ||
            (!t[M_SA] && a[l] != b[l]) || (!t[M_SF] && b[l] != cc[l])) {
            st = lt_err_set(err, LT_EFORMAT, "%s: the widths of block %d do not chain (input %d, attention %d, "
                            "output %d)", dir, l, a[l], b[l], cc[l]);
            break;
        }
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l);
        st = norm_ones(&w, nm, err);
        snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l);
        if (!st) st = norm_ones(&w, nm, err);
        /* their order: the layer's own parameters (mlp_shortcut_Q, attn_shortcut_Q), then its modules; a
           low-rank shortcut (only between equal widths, checked by the reader) written out in full */
        const lt_src_tensor *lr[2];
        for (int h = 0; h < 2; h++) {
            snprintf(nm, sizeof nm, h ? "blk.%d.attn_shortcut_lr.weight" : "blk.%d.ffn_shortcut_lr.weight", l);
            lr[h] = lt_modelsrc_find(src, nm);
        }
        their_name(l, M_SF, their);
        if (!st) st = lr[0] ? add_lowrank(&w, lr[0], their, err) : add(&w, t[M_SF], true, b[l], their, err);
        their_name(l, M_SA, their);
        if (!st) st = lr[1] ? add_lowrank(&w, lr[1], their, err) : add(&w, t[M_SA], true, a[l], their, err);
        for (int m = 0; !st && m < M_SA; m++) {
            their_name(l, m, their);
            const int heads = c->rope_neox ? 0 : m == M_Q ? c->n_heads : m == M_K ? c->n_kv_heads : 0;
            st = add_rope_rows(&w, t[m], heads, their, err);
        }
    }
    if (!st) st = norm_ones(&w, "output_norm.weight", err);
    const lt_src_tensor *out = st ? NULL : lt_modelsrc_find(src, "output.weight");
    if (!st && !out) out = embd; /* tied: the head is the embedding (their fusion clones it) */
    if (!st && out->shape[1] != prev)
        st = lt_err_set(err, LT_EFORMAT, "%s: the head's width %lld is not the last block's %d", dir,
                        (long long)out->shape[1], prev);
    if (!st) head = prev, st = add(&w, out, false, 0, "lm_head.weight", err);
    /* the stem */
    char name[128] = "", stem[200], path[4400];
    double sp = o && o->sparsity >= 0 ? o->sparsity : -1;
    const char *sp_path = lt_modelsrc_path(src);
    if (sp_path && lt_str_ends(sp_path, ".pt")) { /* read from one of their folders: its stem */
        const char *base = strrchr(sp_path, '/');
        base = base ? base + 1 : sp_path;
        const char *us = strrchr(base, '_');
        char *end = NULL;
        double v = us ? strtod(us + 1, &end) : -1;
        if (us && end && !strcmp(end, ".pt") && v >= 0 && v < 1) {
            snprintf(name, sizeof name, "%.*s", (int)(us - base) < 127 ? (int)(us - base) : 127, base);
            if (sp < 0) sp = v;
        }
    }
    if (o && o->model_name) snprintf(name, sizeof name, "%s", o->model_name);
    if (!name[0]) snprintf(name, sizeof name, "%s", c->name[0] ? c->name : "model");
    for (char *p = name; *p; p++)
        if (*p == '/') *p = '_';
    if (sp < 0) sp = embd ? 1.0 - (double)embd->shape[1] / c->dim : 0;
    lt_slicegpt_stem(name, sp, stem, sizeof stem);
    if (!st && mkdir(dir, 0777) != 0 && errno != EEXIST)
        st = lt_err_set(err, LT_EIO, "%s: cannot create the folder: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/%s.pt", dir, stem);
    if (!st) st = lt_pt_write(path, NULL, w.e, w.ne, err);
    snprintf(path, sizeof path, "%s/%s.json", dir, stem);
    if (!st) st = write_json(path, c, a, b, cc, head, err);
    if (!st) st = lt_hf_write_config(src, dir, LT_F16, err);
    if (!st && lt_modelsrc_vocab(src)) st = lt_vocab_write_hf(lt_modelsrc_vocab(src), dir, err);
    for (int i = 0; w.bufs && i < w.nb; i++) lt_free(w.bufs[i]);
    lt_free(w.bufs), lt_free(w.e), lt_free(wd);
    return st;
}
