/* modelsrc.c - the model-source object (see modelsrc.h): tensor list with a name index,
 * ownership of mappings and buffers, in-memory sources, config and shape checks, and the
 * helpers every format reader and writer shares (modelsrc_impl.h): rope-convention
 * permutation, dtype conversion (the dtype table's host row conversions), Llama 3 rope factors.
 *
 * Leaves out: every file format (modelsrc_gguf.c, modelsrc_hf.c, modelsrc_llama2c.c) and
 * choosing one for a path (modelsrc_open.c); nothing here calls into those files.
 */
#include "modelsrc_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"

/* ==== common ============================================================================ */

lt_status lt_ms_new(lt_modelsrc **out, const char *path, const char *format, lt_err *err) {
    lt_modelsrc *s = lt_calloc(1, sizeof *s);
    if (!s || !(s->path = lt_strdup(path ? path : ""))) {
        lt_free(s);
        return lt_err_set(err, LT_ENOMEM, "out of memory");
    }
    s->format = format;
    *out = s;
    return LT_OK;
}

static uint32_t name_hash(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s) h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* Slot of name in src->hash: its entry, or the empty slot where it would go. */
static int hash_slot(const lt_modelsrc *src, const char *name) {
    int mask = src->hash_cap - 1, i = (int)(name_hash(name) & (uint32_t)mask);
    while (src->hash[i] && strcmp(src->t[src->hash[i] - 1].name, name) != 0) i = (i + 1) & mask;
    return i;
}

static lt_status hash_grow(lt_modelsrc *src, lt_err *err) {
    int cap = src->hash_cap ? src->hash_cap * 2 : 256;
    int *h = lt_calloc((size_t)cap, sizeof *h);
    if (!h) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", src->path);
    lt_free(src->hash);
    src->hash = h;
    src->hash_cap = cap;
    for (int i = 0; i < src->n; i++) h[hash_slot(src, src->t[i].name)] = i + 1;
    return LT_OK;
}

lt_status lt_ms_push(lt_modelsrc *src, const lt_src_tensor *t, lt_err *err) {
    if (src->n >= INT32_MAX / 4) return lt_err_set(err, LT_EFORMAT, "%s: too many tensors", src->path);
    if (2 * (src->n + 1) > src->hash_cap) LT_TRY(hash_grow(src, err));
    int slot = hash_slot(src, t->name);
    if (src->hash[slot]) return lt_err_set(err, LT_EFORMAT, "%s: duplicate tensor '%s'", src->path, t->name);
    if (src->n == src->cap) {
        int cap = src->cap ? src->cap * 2 : 64;
        lt_src_tensor *nt = lt_realloc(src->t, (size_t)cap * sizeof *nt);
        if (!nt) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", src->path);
        src->t = nt;
        src->cap = cap;
    }
    src->t[src->n++] = *t;
    src->hash[slot] = src->n;
    return LT_OK;
}

lt_status lt_ms_own(lt_modelsrc *src, void *p, lt_err *err) {
    if (src->n_owned == src->cap_owned) {
        int cap = src->cap_owned ? src->cap_owned * 2 : 32;
        void **o = lt_realloc(src->owned, (size_t)cap * sizeof *o);
        if (!o) {
            lt_free(p);
            return lt_err_set(err, LT_ENOMEM, "%s: out of memory", src->path);
        }
        src->owned = o;
        src->cap_owned = cap;
    }
    src->owned[src->n_owned++] = p;
    return LT_OK;
}

void lt_modelsrc_close(lt_modelsrc *src) {
    if (!src) return;
    for (int i = 0; i < src->n_owned; i++) lt_free(src->owned[i]);
    lt_free(src->owned);
    for (int i = 0; i < src->n_st; i++) lt_st_close(src->st[i]);
    lt_free(src->st);
    lt_gguf_close(src->gguf);
    lt_file_unmap(src->map, src->map_size);
    if (!src->vocab_borrowed) lt_vocab_free(src->vocab);
    lt_free(src->t);
    lt_free(src->hash);
    lt_free(src->path);
    lt_free(src);
}

const char *lt_modelsrc_path(const lt_modelsrc *src) { return src->path; }
const char *lt_modelsrc_format(const lt_modelsrc *src) { return src->format; }
const lt_llm_config *lt_modelsrc_config(const lt_modelsrc *src) { return &src->cfg; }
int lt_modelsrc_n_tensors(const lt_modelsrc *src) { return src->n; }

size_t lt_modelsrc_file_bytes(const lt_modelsrc *src) {
    size_t n = src->map_size + (src->gguf ? lt_gguf_file_size(src->gguf) : 0);
    for (int i = 0; i < src->n_st; i++) n += lt_st_file_size(src->st[i]);
    return n;
}

const lt_src_tensor *lt_modelsrc_tensor(const lt_modelsrc *src, int i) {
    LT_ASSERT(i >= 0 && i < src->n);
    return &src->t[i];
}

const lt_src_tensor *lt_modelsrc_find(const lt_modelsrc *src, const char *name) {
    if (!src->hash_cap) return NULL;
    int h = src->hash[hash_slot(src, name)];
    return h ? &src->t[h - 1] : NULL;
}

void lt_modelsrc_drop(const lt_modelsrc *src, const lt_src_tensor *t) {
    (void)src; /* every mapping a source holds is private and read-only (lt_file_map) */
    if (t && t->mapped) lt_file_map_drop(t->data, t->nbytes);
}

const lt_vocab *lt_modelsrc_vocab(const lt_modelsrc *src) { return src->vocab; }

lt_vocab *lt_modelsrc_take_vocab(lt_modelsrc *src) {
    if (src->vocab_borrowed) return NULL;
    lt_vocab *v = src->vocab;
    src->vocab = NULL;
    return v;
}

void lt_modelsrc_set_vocab(lt_modelsrc *src, lt_vocab *v) {
    if (!src->vocab_borrowed) lt_vocab_free(src->vocab);
    src->vocab_borrowed = false;
    src->vocab = v;
}

lt_status lt_llm_config_validate(const lt_llm_config *c, const char *what, lt_err *err) {
#define BAD(...) return lt_err_set(err, LT_EFORMAT, __VA_ARGS__)
    const int32_t MAXD = 1 << 20;
    if (c->dim < 1 || c->dim > MAXD) BAD("%s: model dimension %d is out of range", what, c->dim);
    if (c->hidden_dim < 1 || c->hidden_dim > MAXD) BAD("%s: FFN dimension %d is out of range", what, c->hidden_dim);
    if (c->n_layers < 1 || c->n_layers > 1024) BAD("%s: layer count %d is out of range", what, c->n_layers);
    if (c->n_vocab < 1 || c->n_vocab > (1 << 22)) BAD("%s: vocab size %d is out of range", what, c->n_vocab);
    if (c->n_heads < 1 || c->n_heads > 4096) BAD("%s: head count %d is out of range", what, c->n_heads);
    if (c->n_kv_heads < 1 || c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads)
        BAD("%s: %d KV heads do not divide %d heads", what, c->n_kv_heads, c->n_heads);
    if (c->head_dim < 2 || c->head_dim % 2 || c->head_dim > 4096)
        BAD("%s: head dimension %d must be even and in 2..4096", what, c->head_dim);
    if ((int64_t)c->n_heads * c->head_dim > MAXD) BAD("%s: heads x head_dim is too large", what);
    if (c->n_rot < 0 || c->n_rot > c->head_dim || c->n_rot % 2)
        BAD("%s: rotary dimensions %d must be even and at most head_dim %d", what, c->n_rot, c->head_dim);
    if (c->max_seq < 1 || c->max_seq > (1 << 24)) BAD("%s: context length %d is out of range", what, c->max_seq);
    if (!(c->norm_eps > 0 && c->norm_eps < 1)) BAD("%s: RMS norm epsilon %g is out of range", what, c->norm_eps);
    if (!(c->rope_theta > 0 && isfinite(c->rope_theta))) BAD("%s: rope theta %g is invalid", what, c->rope_theta);
    if (c->rope_scaling != LT_ROPE_SCALING_NONE && !(c->rope_factor > 0 && isfinite(c->rope_factor)))
        BAD("%s: rope scaling factor %g is invalid", what, c->rope_factor);
    if (c->rope_scaling == LT_ROPE_SCALING_LLAMA3 &&
        !(c->rope_orig_ctx > 0 && c->rope_low_freq_factor > 0 && c->rope_high_freq_factor > c->rope_low_freq_factor))
        BAD("%s: llama3 rope scaling parameters are invalid", what);
    if (c->rope_scaling == LT_ROPE_SCALING_YARN && !(c->rope_orig_ctx > 0))
        BAD("%s: yarn rope scaling needs the original context length", what);
    if (c->rope_attn_factor != 0 && !(c->rope_attn_factor > 0 && isfinite(c->rope_attn_factor)))
        BAD("%s: rope attention factor %g is invalid", what, c->rope_attn_factor);
    if (c->sliding_window < 0) BAD("%s: sliding window %d is negative", what, c->sliding_window);
#undef BAD
    return LT_OK;
}

void lt_ms_shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

bool lt_ms_split_layer(const char *name, int *layer, const char **suffix) {
    if (strncmp(name, "blk.", 4) != 0) return false;
    const char *p = name + 4;
    int l = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 6) l = l * 10 + (*p++ - '0'), nd++;
    if (!nd || *p != '.') return false;
    *layer = l;
    *suffix = p + 1;
    return true;
}

bool lt_ms_expected_shape(const lt_llm_config *c, const char *name, int *nd, int64_t *s) {
    int64_t D = c->dim, F = c->hidden_dim, V = c->n_vocab, Q = (int64_t)c->n_heads * c->head_dim,
            KV = (int64_t)c->n_kv_heads * c->head_dim;
    *nd = 2;
    int l;
    const char *suf;
    if (c->sliced) { /* widths from the shapes (lt_modelsrc_slice_widths); here only what does not change */
        if (!strcmp(name, "rope_freqs.weight")) *nd = 1, s[0] = c->head_dim / 2;
        else if (lt_ms_split_layer(name, &l, &suf) && l < c->n_layers && !strcmp(suf, "attn_q.bias")) *nd = 1, s[0] = Q;
        else if (lt_ms_split_layer(name, &l, &suf) && l < c->n_layers &&
                 (!strcmp(suf, "attn_k.bias") || !strcmp(suf, "attn_v.bias"))) *nd = 1, s[0] = KV;
        else if (lt_ms_split_layer(name, &l, &suf) && l < c->n_layers &&
                 (!strcmp(suf, "ffn_gate.bias") || !strcmp(suf, "ffn_up.bias"))) *nd = 1, s[0] = F;
        else return false;
        return true;
    }
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight")) s[0] = V, s[1] = D;
    else if (!strcmp(name, "output_norm.weight")) *nd = 1, s[0] = D;
    else if (!strcmp(name, "rope_freqs.weight")) *nd = 1, s[0] = c->head_dim / 2;
    else if (lt_ms_split_layer(name, &l, &suf) && l < c->n_layers) {
        if (!strcmp(suf, "attn_norm.weight") || !strcmp(suf, "ffn_norm.weight")) *nd = 1, s[0] = D;
        else if (!strcmp(suf, "attn_q.weight")) s[0] = Q, s[1] = D;
        else if (!strcmp(suf, "attn_k.weight") || !strcmp(suf, "attn_v.weight")) s[0] = KV, s[1] = D;
        else if (!strcmp(suf, "attn_output.weight")) s[0] = D, s[1] = Q;
        else if (!strcmp(suf, "attn_q.bias")) *nd = 1, s[0] = Q;
        else if (!strcmp(suf, "attn_k.bias") || !strcmp(suf, "attn_v.bias")) *nd = 1, s[0] = KV;
        else if (!strcmp(suf, "attn_output.bias") || !strcmp(suf, "ffn_down.bias")) *nd = 1, s[0] = D;
        else if (!strcmp(suf, "ffn_gate.bias") || !strcmp(suf, "ffn_up.bias")) *nd = 1, s[0] = F;
        else if (!strcmp(suf, "ffn_gate.weight") || !strcmp(suf, "ffn_up.weight")) s[0] = F, s[1] = D;
        else if (!strcmp(suf, "ffn_down.weight")) s[0] = D, s[1] = F;
        else return false;
    } else return false;
    return true;
}

static const char *const k_layer_req[] = {"attn_norm.weight", "attn_q.weight",   "attn_k.weight",
                                          "attn_v.weight",    "attn_output.weight", "ffn_norm.weight",
                                          "ffn_gate.weight",  "ffn_up.weight",   "ffn_down.weight"};
static const char *const k_layer_bias[] = {"attn_q.bias", "attn_k.bias", "attn_v.bias"};
static const char *const k_layer_obias[] = {"attn_output.bias"};
static const char *const k_layer_mbias[] = {"ffn_gate.bias", "ffn_up.bias", "ffn_down.bias"};

bool lt_ms_required(const lt_llm_config *c, int i, char name[96]) {
    const char *glob[3] = {"token_embd.weight", "output_norm.weight", "output.weight"};
    int ng = c->tied_embeddings && !c->sliced ? 2 : 3;
    if (i < ng) {
        snprintf(name, 96, "%s", glob[i]);
        return true;
    }
    i -= ng;
    /* per layer: the 9 weights, then the biases the config names */
    const char *list[16];
    int per = 0;
    for (int k = 0; k < 9; k++) list[per++] = k_layer_req[k];
    for (int k = 0; c->qkv_bias && k < 3; k++) list[per++] = k_layer_bias[k];
    if (c->attn_out_bias) list[per++] = k_layer_obias[0];
    for (int k = 0; c->mlp_bias && k < 3; k++) list[per++] = k_layer_mbias[k];
    if (i >= per * c->n_layers) return false;
    snprintf(name, 96, "blk.%d.%s", i / per, list[i % per]);
    return true;
}

/* One tensor of a sliced model: present (unless optional) with the shape it must have. */
static lt_status slice_expect(const lt_modelsrc *src, const char *name, int nd, int64_t d0, int64_t d1, bool optional,
                              const lt_src_tensor **out, lt_err *err) {
    const lt_src_tensor *t = lt_modelsrc_find(src, name);
    *out = t;
    if (!t && optional) return LT_OK;
    if (!t) return lt_err_set(err, LT_EFORMAT, "%s: sliced model: tensor '%s' is missing", src->path, name);
    int64_t s[2] = {d0, d1};
    bool ok = t->ndim == nd;
    for (int d = 0; ok && d < nd; d++) ok = t->shape[d] == s[d];
    if (!ok) {
        char a[96], b[96];
        lt_ms_shape_str(t->ndim, t->shape, a, sizeof a);
        lt_ms_shape_str(nd, s, b, sizeof b);
        return lt_err_set(err, LT_EFORMAT, "%s: sliced model: tensor '%s' has shape %s, expected %s", src->path, name,
                          a, b);
    }
    return LT_OK;
}

/* blk.L.NAME_lr.weight, SliceGPT's shortcut in low-rank form (slicegpt.h): [r, a] with r < a, only
 * where the widths on both sides are a and the full NAME.weight is absent */
static lt_status slice_lowrank(const lt_modelsrc *src, int l, const char *name, int64_t a, int64_t b, lt_err *err) {
    char nm[96], full[96];
    snprintf(nm, sizeof nm, "blk.%d.%s_lr.weight", l, name);
    snprintf(full, sizeof full, "blk.%d.%s.weight", l, name);
    const lt_src_tensor *t = lt_modelsrc_find(src, nm);
    if (!t) return LT_OK;
    if (a != b || lt_modelsrc_find(src, full))
        return lt_err_set(err, LT_EFORMAT, "%s: sliced model: '%s' needs equal widths on both sides and no '%s'",
                          src->path, nm, full);
    if (t->ndim != 2 || t->shape[1] != a || t->shape[0] < 1 || t->shape[0] >= a ||
        (t->dtype != LT_F32 && t->dtype != LT_F16 && t->dtype != LT_BF16))
        return lt_err_set(err, LT_EFORMAT, "%s: sliced model: '%s' must be f32, f16 or bf16 [r, %lld] with r < %lld",
                          src->path, nm, (long long)a, (long long)a);
    return LT_OK;
}

lt_status lt_modelsrc_slice_widths(const lt_modelsrc *src, int32_t *w, lt_err *err) {
    const lt_llm_config *c = &src->cfg;
    const int64_t D = c->dim, F = c->hidden_dim, V = c->n_vocab, Q = (int64_t)c->n_heads * c->head_dim,
                  KV = (int64_t)c->n_kv_heads * c->head_dim;
    if (!c->sliced) return lt_err_set(err, LT_EINVAL, "%s: not a sliced model", src->path);
    char nm[96];
    const lt_src_tensor *t;
    /* a width read off a tensor's dimension: 1..D */
#define WIDTH(var, tname, dim)                                                                                        \
    do {                                                                                                              \
        const lt_src_tensor *wt_ = lt_modelsrc_find(src, tname);                                                      \
        if (!wt_ || wt_->ndim != 2)                                                                                   \
            return lt_err_set(err, LT_EFORMAT, "%s: sliced model: tensor '%s' is missing or not 2-D", src->path,      \
                              tname);                                                                                 \
        var = wt_->shape[dim];                                                                                        \
        if (var < 1 || var > D)                                                                                       \
            return lt_err_set(err, LT_EFORMAT, "%s: sliced model: tensor '%s' gives a residual width of %lld, not "   \
                              "in 1..%lld (embedding_length)", src->path, tname, (long long)var, (long long)D);       \
    } while (0)
    int64_t a, b, cw;
    WIDTH(a, "token_embd.weight", 1);
    LT_TRY(slice_expect(src, "token_embd.weight", 2, V, a, false, &t, err));
    w[0] = (int32_t)a;
    for (int l = 0; l < c->n_layers; l++) {
#define EXPECT(nd, d0, d1, opt, suffix)                                                                               \
    (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), slice_expect(src, nm, nd, d0, d1, opt, &t, err))
        snprintf(nm, sizeof nm, "blk.%d.attn_output.weight", l);
        WIDTH(b, nm, 0);
        snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
        WIDTH(cw, nm, 0);
        LT_TRY(EXPECT(1, a, 0, false, "attn_norm.weight"));
        LT_TRY(EXPECT(2, Q, a, false, "attn_q.weight"));
        LT_TRY(EXPECT(2, KV, a, false, "attn_k.weight"));
        LT_TRY(EXPECT(2, KV, a, false, "attn_v.weight"));
        LT_TRY(EXPECT(2, b, Q, false, "attn_output.weight"));
        LT_TRY(EXPECT(1, b, 0, !c->attn_out_bias, "attn_output.bias"));
        LT_TRY(EXPECT(2, b, a, a == b, "attn_shortcut.weight"));
        LT_TRY(slice_lowrank(src, l, "attn_shortcut", a, b, err));
        LT_TRY(EXPECT(1, b, 0, false, "ffn_norm.weight"));
        LT_TRY(EXPECT(2, F, b, false, "ffn_gate.weight"));
        LT_TRY(EXPECT(2, F, b, false, "ffn_up.weight"));
        LT_TRY(EXPECT(2, cw, F, false, "ffn_down.weight"));
        LT_TRY(EXPECT(1, cw, 0, !c->mlp_bias, "ffn_down.bias"));
        LT_TRY(EXPECT(2, cw, b, b == cw, "ffn_shortcut.weight"));
        LT_TRY(slice_lowrank(src, l, "ffn_shortcut", b, cw, err));
#undef EXPECT
        w[1 + 2 * l] = (int32_t)b;
        w[2 + 2 * l] = (int32_t)cw;
        a = cw;
    }
#undef WIDTH
    LT_TRY(slice_expect(src, "output_norm.weight", 1, a, 0, false, &t, err));
    LT_TRY(slice_expect(src, "output.weight", 2, V, a, false, &t, err));
    return LT_OK;
}

lt_status lt_ms_check_tensors(const lt_modelsrc *src, lt_err *err) {
    char name[96], a[96], b[96];
    for (int i = 0; lt_ms_required(&src->cfg, i, name); i++)
        if (!lt_modelsrc_find(src, name))
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' is missing", src->path, name);
    if (src->cfg.sliced) {
        int32_t *w = lt_malloc(sizeof(int32_t) * (1 + 2 * (size_t)src->cfg.n_layers));
        if (!w) return lt_err_set(err, LT_ENOMEM, "out of memory");
        lt_status st = lt_modelsrc_slice_widths(src, w, err);
        lt_free(w);
        LT_TRY(st);
    }
    for (int i = 0; i < src->n; i++) {
        const lt_src_tensor *t = &src->t[i];
        int l;
        const char *suf;
        if (!src->cfg.sliced && lt_ms_split_layer(t->name, &l, &suf) &&
            (!strncmp(suf, "attn_shortcut", 13) || !strncmp(suf, "ffn_shortcut", 12)))
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' belongs to a SliceGPT model, but the file does not say "
                              "it is sliced (lathe.slicegpt.* keys)", src->path, t->name);
        int nd;
        int64_t s[4] = {0};
        if (!lt_ms_expected_shape(&src->cfg, t->name, &nd, s)) continue;
        bool ok = nd == t->ndim;
        for (int d = 0; ok && d < nd; d++) ok = s[d] == t->shape[d];
        if (!ok) {
            lt_ms_shape_str(t->ndim, t->shape, a, sizeof a);
            lt_ms_shape_str(nd, s, b, sizeof b);
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has shape %s, the model config says %s", src->path,
                              t->name, a, b);
        }
        if (lt_dtype_is_int(t->dtype))
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has integer type", src->path, t->name);
    }
    return LT_OK;
}

lt_status lt_modelsrc_expect(const lt_modelsrc *src, const char *name, int ndim, const int64_t *shape,
                             const lt_src_tensor **out, lt_err *err) {
    if (out) *out = NULL;
    const lt_src_tensor *t = lt_modelsrc_find(src, name);
    if (!t) return lt_err_set(err, LT_ENOTFOUND, "%s: tensor '%s' is missing", src->path, name);
    if (lt_dtype_is_int(t->dtype) || t->dtype >= LT_DTYPE_COUNT)
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has type %s, expected a float or quantized type",
                          src->path, name, lt_dtype_name(t->dtype));
    bool ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
    if (!ok) {
        char a[96], b[96];
        lt_ms_shape_str(t->ndim, t->shape, a, sizeof a);
        lt_ms_shape_str(ndim, shape, b, sizeof b);
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has shape %s, expected %s", src->path, name, a, b);
    }
    if (out) *out = t;
    return LT_OK;
}

/* ---- in-memory sources ------------------------------------------------------------------- */

lt_status lt_modelsrc_create(lt_modelsrc **out, const lt_llm_config *cfg, lt_vocab *vocab, const char *name,
                             lt_err *err) {
    *out = NULL;
    lt_status st = lt_ms_new(out, name ? name : "memory", "memory", err);
    if (st) {
        lt_vocab_free(vocab);
        return st;
    }
    (*out)->cfg = *cfg;
    (*out)->vocab = vocab;
    return LT_OK;
}

lt_status lt_modelsrc_add_owned(lt_modelsrc *src, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                                const void *data, lt_err *err) {
    lt_src_tensor t;
    memset(&t, 0, sizeof t);
    if (!name || strlen(name) >= sizeof t.name) return lt_err_set(err, LT_EINVAL, "tensor name too long");
    if (dt < 0 || dt >= LT_DTYPE_COUNT || ndim < 1 || ndim > LT_MAX_DIMS)
        return lt_err_set(err, LT_EINVAL, "tensor '%s': bad dtype or rank", name);
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] <= 0) return lt_err_set(err, LT_EINVAL, "tensor '%s': bad shape", name);
        numel *= shape[d];
        t.shape[d] = shape[d];
    }
    if (shape[ndim - 1] % lt_dtype_block(dt))
        return lt_err_set(err, LT_EINVAL, "tensor '%s': row length not a multiple of the block size", name);
    strcpy(t.name, name);
    t.dtype = dt;
    t.ndim = ndim;
    t.nbytes = (size_t)(numel / lt_dtype_block(dt)) * (size_t)lt_dtype_block_bytes(dt);
    void *p = lt_malloc(t.nbytes ? t.nbytes : 1);
    if (!p) return lt_err_set(err, LT_ENOMEM, "tensor '%s': out of memory", name);
    memcpy(p, data, t.nbytes);
    t.data = p;
    LT_TRY(lt_ms_own(src, p, err));
    return lt_ms_push(src, &t, err);
}

lt_status lt_modelsrc_view(lt_modelsrc **out, const lt_modelsrc *base, lt_err *err) {
    *out = NULL;
    lt_modelsrc *v = NULL;
    LT_TRY(lt_ms_new(&v, base->path, "memory", err));
    v->cfg = base->cfg;
    v->vocab = base->vocab;
    v->vocab_borrowed = true;
    lt_status st = LT_OK;
    for (int i = 0; st == LT_OK && i < base->n; i++) st = lt_ms_push(v, &base->t[i], err);
    if (st != LT_OK) {
        lt_modelsrc_close(v);
        return st;
    }
    *out = v;
    return LT_OK;
}

lt_status lt_modelsrc_derived(lt_modelsrc **out, const lt_modelsrc *base, const lt_llm_config *cfg, lt_err *err) {
    *out = NULL;
    lt_modelsrc *v = NULL;
    LT_TRY(lt_ms_new(&v, base->path, "memory", err));
    v->cfg = *cfg;
    v->vocab = base->vocab;
    v->vocab_borrowed = true;
    *out = v;
    return LT_OK;
}

lt_status lt_modelsrc_replace(lt_modelsrc *src, const char *name, lt_dtype dt, const void *data, lt_err *err) {
    lt_src_tensor *t = (lt_src_tensor *)lt_modelsrc_find(src, name);
    if (!t) return lt_err_set(err, LT_ENOTFOUND, "%s: no tensor '%s' to replace", src->path, name);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d];
    if (t->shape[t->ndim - 1] % lt_dtype_block(dt))
        return lt_err_set(err, LT_EINVAL, "tensor '%s': row length not a multiple of %s's block", name, lt_dtype_name(dt));
    size_t nb = (size_t)(numel / lt_dtype_block(dt)) * (size_t)lt_dtype_block_bytes(dt);
    void *p = lt_malloc(nb ? nb : 1);
    if (!p) return lt_err_set(err, LT_ENOMEM, "tensor '%s': out of memory", name);
    memcpy(p, data, nb);
    LT_TRY(lt_ms_own(src, p, err));
    t->data = p, t->dtype = dt, t->nbytes = nb;
    return LT_OK;
}

/* ---- conversions ------------------------------------------------------------------------- */

void lt_ms_permute_rows(void *dst, const void *src, int n_head, int head_dim, size_t row_bytes, bool to_adjacent) {
    int half = head_dim / 2;
    for (int h = 0; h < n_head; h++)
        for (int i = 0; i < half; i++)
            for (int j = 0; j < 2; j++) {
                size_t adj = (size_t)h * head_dim + 2 * i + j, neox = (size_t)h * head_dim + (size_t)j * half + i;
                size_t d = to_adjacent ? adj : neox, s = to_adjacent ? neox : adj;
                memcpy((char *)dst + d * row_bytes, (const char *)src + s * row_bytes, row_bytes);
            }
}

lt_status lt_ms_convert_check(const lt_src_tensor *t, lt_dtype dt, lt_err *err) {
    int64_t cols = t->shape[t->ndim - 1];
    if (cols % lt_dtype_block(dt))
        return lt_err_set(err, LT_EINVAL, "tensor '%s': row length %lld is not a multiple of the %s block size",
                          t->name, (long long)cols, lt_dtype_name(dt));
    if (dt != t->dtype && (!lt_dtype_info(t->dtype)->to_f32 || !lt_dtype_info(dt)->from_f32))
        return lt_err_set(err, LT_EINVAL, "tensor '%s': %s cannot be converted to %s", t->name,
                          lt_dtype_name(t->dtype), lt_dtype_name(dt));
    return LT_OK;
}

size_t lt_ms_converted_bytes(const lt_src_tensor *t, lt_dtype dt) {
    int64_t cols = t->shape[t->ndim - 1], rows = 1;
    for (int d = 0; d + 1 < t->ndim; d++) rows *= t->shape[d];
    return lt_row_bytes(dt, cols) * (size_t)rows;
}

lt_status lt_ms_convert_into(const lt_src_tensor *t, lt_dtype dt, void *dst, lt_err *err) {
    LT_TRY(lt_ms_convert_check(t, dt, err));
    int64_t cols = t->shape[t->ndim - 1], rows = 1;
    for (int d = 0; d + 1 < t->ndim; d++) rows *= t->shape[d];
    if (dt == t->dtype) {
        memcpy(dst, t->data, lt_ms_converted_bytes(t, dt));
        return LT_OK;
    }
    size_t irb = lt_row_bytes(t->dtype, cols), orb = lt_row_bytes(dt, cols);
    float *row = lt_malloc((size_t)cols * sizeof(float));
    void *in = lt_malloc(irb ? irb : 1);
    if (!row || !in) {
        lt_free(row);
        lt_free(in);
        return lt_err_set(err, LT_ENOMEM, "tensor '%s': out of memory converting", t->name);
    }
    for (int64_t r = 0; r < rows; r++) {
        memcpy(in, (const char *)t->data + (size_t)r * irb, irb); /* the mapping may be unaligned */
        lt_dtype_row_to_f32(t->dtype, in, row, cols);
        lt_dtype_row_from_f32(dt, row, (char *)dst + (size_t)r * orb, cols);
    }
    lt_free(row);
    lt_free(in);
    return LT_OK;
}

lt_status lt_ms_convert(const lt_src_tensor *t, lt_dtype dt, void **out, size_t *nbytes, lt_err *err) {
    *out = NULL;
    LT_TRY(lt_ms_convert_check(t, dt, err));
    *nbytes = lt_ms_converted_bytes(t, dt);
    *out = lt_malloc(*nbytes ? *nbytes : 1);
    if (!*out) return lt_err_set(err, LT_ENOMEM, "tensor '%s': out of memory converting", t->name);
    lt_status st = lt_ms_convert_into(t, dt, *out, err);
    if (st != LT_OK) {
        lt_free(*out);
        *out = NULL;
    }
    return st;
}

void lt_ms_llama3_factors(const lt_llm_config *c, float *out) {
    /* as llama.cpp's convert_hf_to_gguf.py (LlamaModel.generate_extra_tensors) */
    double base = c->rope_theta, factor = c->rope_factor, lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
    double old = c->rope_orig_ctx, lo_wl = old / lo, hi_wl = old / hi;
    int dim = c->head_dim;
    for (int i = 0; i < dim / 2; i++) {
        float freq = (float)(1.0 / pow(base, (double)(2 * i) / dim));
        double wl = 2 * M_PI / freq;
        if (wl < hi_wl) out[i] = 1.0f;
        else if (wl > lo_wl) out[i] = (float)factor;
        else {
            double smooth = (old / wl - lo) / (hi - lo);
            out[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
        }
    }
}

const lt_src_tensor *lt_ms_find_shard_tensor(const lt_modelsrc *src, const char *name, lt_src_tensor *out) {
    for (int k = 0; k < src->n_st; k++) {
        const int64_t i = lt_st_find(src->st[k], name);
        if (i >= 0) {
            lt_st_tensor(src->st[k], i, out);
            return out;
        }
    }
    return NULL;
}
