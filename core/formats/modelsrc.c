/* modelsrc.c - lt_modelsrc: common parts (format detection, in-memory sources, config and
 * shape checks, rope-convention permutation, dtype conversion through the dtype table's host
 * row conversions) and the GGUF reader/writer.
 *
 * The Hugging Face folder format lives in modelsrc_hf.c, llama2.c checkpoints in
 * modelsrc_llama2c.c. Leaves out: architectures other than llama/mistral/qwen2, partial
 * rotary (rope.dimension_count < head_dim), YaRN / dynamic rope scaling.
 */
#include "modelsrc_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

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
    lt_vocab_free(src->vocab);
    lt_free(src->t);
    lt_free(src->hash);
    lt_free(src->path);
    lt_free(src);
}

const char *lt_modelsrc_path(const lt_modelsrc *src) { return src->path; }
const char *lt_modelsrc_format(const lt_modelsrc *src) { return src->format; }
const lt_llm_config *lt_modelsrc_config(const lt_modelsrc *src) { return &src->cfg; }
int lt_modelsrc_n_tensors(const lt_modelsrc *src) { return src->n; }

const lt_src_tensor *lt_modelsrc_tensor(const lt_modelsrc *src, int i) {
    LT_ASSERT(i >= 0 && i < src->n);
    return &src->t[i];
}

const lt_src_tensor *lt_modelsrc_find(const lt_modelsrc *src, const char *name) {
    if (!src->hash_cap) return NULL;
    int h = src->hash[hash_slot(src, name)];
    return h ? &src->t[h - 1] : NULL;
}

const lt_vocab *lt_modelsrc_vocab(const lt_modelsrc *src) { return src->vocab; }

lt_vocab *lt_modelsrc_take_vocab(lt_modelsrc *src) {
    lt_vocab *v = src->vocab;
    src->vocab = NULL;
    return v;
}

lt_status lt_modelsrc_open(lt_modelsrc **out, const char *path, const char *tokenizer_path, lt_err *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return lt_err_set(err, LT_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        char cj[4096];
        snprintf(cj, sizeof cj, "%s/config.json", path);
        if (stat(cj, &sb) != 0)
            return lt_err_set(err, LT_ENOTFOUND, "%s: a directory without config.json is not a model folder", path);
        return lt_modelsrc_open_hf(out, path, err);
    }
    /* a file inside a Hugging Face folder (config.json, *.safetensors): open the folder */
    size_t pl = strlen(path);
    bool hf_file = (pl >= 12 && !strcmp(path + pl - 12, ".safetensors")) ||
                   (pl >= 11 && !strcmp(path + pl - 11, "config.json")) ||
                   (pl >= 11 && !strcmp(path + pl - 11, ".index.json"));
    if (hf_file) {
        char dir[4096], cj[4200];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        snprintf(cj, sizeof cj, "%s/config.json", dir);
        if (stat(cj, &sb) == 0) return lt_modelsrc_open_hf(out, dir, err);
        return lt_err_set(err, LT_ENOTFOUND, "%s: no config.json next to it; open the model folder instead", path);
    }
    FILE *f = fopen(path, "rb");
    if (!f) return lt_err_set(err, LT_EIO, "%s: cannot open: %s", path, strerror(errno));
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && memcmp(magic, "GGUF", 4) == 0) return lt_modelsrc_open_gguf(out, path, err);
    return lt_modelsrc_open_llama2c(out, path, tokenizer_path, err);
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
    if (c->max_seq < 1 || c->max_seq > (1 << 24)) BAD("%s: context length %d is out of range", what, c->max_seq);
    if (!(c->norm_eps > 0 && c->norm_eps < 1)) BAD("%s: RMS norm epsilon %g is out of range", what, c->norm_eps);
    if (!(c->rope_theta > 0 && isfinite(c->rope_theta))) BAD("%s: rope theta %g is invalid", what, c->rope_theta);
    if (c->rope_scaling != LT_ROPE_SCALING_NONE && !(c->rope_factor > 0 && isfinite(c->rope_factor)))
        BAD("%s: rope scaling factor %g is invalid", what, c->rope_factor);
    if (c->rope_scaling == LT_ROPE_SCALING_LLAMA3 &&
        !(c->rope_orig_ctx > 0 && c->rope_low_freq_factor > 0 && c->rope_high_freq_factor > c->rope_low_freq_factor))
        BAD("%s: llama3 rope scaling parameters are invalid", what);
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

bool lt_ms_required(const lt_llm_config *c, int i, char name[96]) {
    const char *glob[3] = {"token_embd.weight", "output_norm.weight", "output.weight"};
    int ng = c->tied_embeddings ? 2 : 3;
    if (i < ng) {
        snprintf(name, 96, "%s", glob[i]);
        return true;
    }
    i -= ng;
    int per = 9 + (c->qkv_bias ? 3 : 0);
    if (i >= per * c->n_layers) return false;
    int l = i / per, k = i % per;
    snprintf(name, 96, "blk.%d.%s", l, k < 9 ? k_layer_req[k] : k_layer_bias[k - 9]);
    return true;
}

lt_status lt_ms_check_tensors(const lt_modelsrc *src, lt_err *err) {
    char name[96], a[96], b[96];
    for (int i = 0; lt_ms_required(&src->cfg, i, name); i++)
        if (!lt_modelsrc_find(src, name))
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' is missing", src->path, name);
    for (int i = 0; i < src->n; i++) {
        const lt_src_tensor *t = &src->t[i];
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
        if (t->dtype == LT_I32)
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has integer type", src->path, t->name);
    }
    return LT_OK;
}

lt_status lt_modelsrc_expect(const lt_modelsrc *src, const char *name, int ndim, const int64_t *shape,
                             const lt_src_tensor **out, lt_err *err) {
    if (out) *out = NULL;
    const lt_src_tensor *t = lt_modelsrc_find(src, name);
    if (!t) return lt_err_set(err, LT_ENOTFOUND, "%s: tensor '%s' is missing", src->path, name);
    if (t->dtype == LT_I32 || t->dtype >= LT_DTYPE_COUNT)
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

lt_status lt_ms_convert(const lt_src_tensor *t, lt_dtype dt, void **out, size_t *nbytes, lt_err *err) {
    int64_t cols = t->shape[t->ndim - 1], rows = 1;
    for (int d = 0; d + 1 < t->ndim; d++) rows *= t->shape[d];
    if (cols % lt_dtype_block(dt))
        return lt_err_set(err, LT_EINVAL, "tensor '%s': row length %lld is not a multiple of the %s block size",
                          t->name, (long long)cols, lt_dtype_name(dt));
    if (dt != t->dtype && (!lt_dtype_info(t->dtype)->to_f32 || !lt_dtype_info(dt)->from_f32))
        return lt_err_set(err, LT_EINVAL, "tensor '%s': %s cannot be converted to %s", t->name,
                          lt_dtype_name(t->dtype), lt_dtype_name(dt));
    size_t irb = lt_row_bytes(t->dtype, cols), orb = lt_row_bytes(dt, cols);
    *nbytes = orb * (size_t)rows;
    *out = lt_malloc(*nbytes ? *nbytes : 1);
    if (!*out) return lt_err_set(err, LT_ENOMEM, "tensor '%s': out of memory converting", t->name);
    if (dt == t->dtype) {
        memcpy(*out, t->data, *nbytes);
        return LT_OK;
    }
    float *row = lt_malloc((size_t)cols * sizeof(float));
    void *in = lt_malloc(irb ? irb : 1);
    if (!row || !in) {
        lt_free(row);
        lt_free(in);
        lt_free(*out);
        *out = NULL;
        return lt_err_set(err, LT_ENOMEM, "tensor '%s': out of memory converting", t->name);
    }
    for (int64_t r = 0; r < rows; r++) {
        memcpy(in, (const char *)t->data + (size_t)r * irb, irb); /* the mapping may be unaligned */
        lt_dtype_row_to_f32(t->dtype, in, row, cols);
        lt_dtype_row_from_f32(dt, row, (char *)*out + (size_t)r * orb, cols);
    }
    lt_free(row);
    lt_free(in);
    return LT_OK;
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

/* ==== GGUF reader ========================================================================== */

static lt_status gk_u32(const lt_gguf *g, const char *arch, const char *key, bool required, int32_t def,
                        int32_t *out, lt_err *err) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (lt_gguf_find(g, k) < 0) {
        if (required) return lt_err_set(err, LT_EFORMAT, "%s: required key '%s' is missing", lt_gguf_path(g), k);
        *out = def;
        return LT_OK;
    }
    uint32_t v;
    LT_TRY(lt_gguf_get_u32(g, k, &v, err));
    if (v > INT32_MAX) return lt_err_set(err, LT_ERANGE, "%s: key '%s' = %u is too large", lt_gguf_path(g), k, v);
    *out = (int32_t)v;
    return LT_OK;
}

static lt_status gk_f32(const lt_gguf *g, const char *arch, const char *key, float def, float *out, lt_err *err) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (lt_gguf_find(g, k) < 0) {
        *out = def;
        return LT_OK;
    }
    return lt_gguf_get_f32(g, k, out, err);
}

static lt_status gguf_config(lt_modelsrc *src, const lt_gguf *g, lt_err *err) {
    const char *P = src->path;
    lt_llm_config *c = &src->cfg;
    lt_gguf_str s;
    if (lt_gguf_find(g, "general.architecture") < 0)
        return lt_err_set(err, LT_EFORMAT, "%s: general.architecture is missing", P);
    LT_TRY(lt_gguf_get_str(g, "general.architecture", &s, err));
    char arch[32];
    size_t k = s.n < sizeof arch - 1 ? (size_t)s.n : sizeof arch - 1;
    memcpy(arch, s.p, k);
    arch[k] = 0;
    for (size_t i = 0; i < k; i++)
        if ((unsigned char)arch[i] < 32 || (unsigned char)arch[i] > 126) arch[i] = '?';
    if (strlen(arch) != s.n || (strcmp(arch, "llama") && strcmp(arch, "mistral") && strcmp(arch, "qwen2")))
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "%s: architecture '%s' is not supported (supported: llama, mistral, qwen2)", P, arch);
    strcpy(c->arch, arch);
    if (lt_gguf_find(g, "general.name") >= 0 && lt_gguf_get_str(g, "general.name", &s, NULL) == LT_OK) {
        k = s.n < sizeof c->name - 1 ? (size_t)s.n : sizeof c->name - 1;
        memcpy(c->name, s.p, k);
        c->name[k] = 0;
    } else {
        const char *b = strrchr(P, '/');
        snprintf(c->name, sizeof c->name, "%s", b ? b + 1 : P);
    }
    LT_TRY(gk_u32(g, arch, "embedding_length", true, 0, &c->dim, err));
    LT_TRY(gk_u32(g, arch, "feed_forward_length", true, 0, &c->hidden_dim, err));
    LT_TRY(gk_u32(g, arch, "block_count", true, 0, &c->n_layers, err));
    LT_TRY(gk_u32(g, arch, "attention.head_count", true, 0, &c->n_heads, err));
    LT_TRY(gk_u32(g, arch, "attention.head_count_kv", false, c->n_heads, &c->n_kv_heads, err));
    LT_TRY(gk_u32(g, arch, "context_length", false, 2048, &c->max_seq, err));
    LT_TRY(gk_f32(g, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &c->norm_eps, err));
    LT_TRY(gk_f32(g, arch, "rope.freq_base", 10000.0f, &c->rope_theta, err));
    if (c->n_heads < 1) return lt_err_set(err, LT_EFORMAT, "%s: head count is 0", P);
    int32_t kl, rd;
    LT_TRY(gk_u32(g, arch, "attention.key_length", false, -1, &kl, err));
    LT_TRY(gk_u32(g, arch, "rope.dimension_count", false, -1, &rd, err));
    c->head_dim = kl >= 0 ? kl : rd >= 0 ? rd : c->dim / c->n_heads;
    if (rd >= 0 && rd != c->head_dim)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: partial rotary embeddings (rope dimension %d, head dimension %d) "
                          "are not supported", P, rd, c->head_dim);
    int32_t vl;
    LT_TRY(gk_u32(g, arch, "attention.value_length", false, c->head_dim, &vl, err));
    if (vl != c->head_dim)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: value length %d differs from key length %d", P, vl, c->head_dim);
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (lt_gguf_find(g, key) >= 0) {
        LT_TRY(lt_gguf_get_str(g, key, &s, err));
        char ty[32];
        k = s.n < sizeof ty - 1 ? (size_t)s.n : sizeof ty - 1;
        memcpy(ty, s.p, k);
        ty[k] = 0;
        for (size_t i = 0; i < k; i++)
            if ((unsigned char)ty[i] < 32 || (unsigned char)ty[i] > 126) ty[i] = '?';
        if (!strcmp(ty, "linear")) c->rope_scaling = LT_ROPE_SCALING_LINEAR;
        else if (strcmp(ty, "none") != 0)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: rope scaling '%s' is not supported (none, linear)", P, ty);
    }
    LT_TRY(gk_f32(g, arch, "rope.scaling.factor", 1.0f, &c->rope_factor, err));
    LT_TRY(gk_u32(g, arch, "rope.scaling.original_context_length", false, 0, &c->rope_orig_ctx, err));
    if (c->rope_scaling == LT_ROPE_SCALING_NONE) c->rope_factor = 0;
    c->rope_neox = strcmp(arch, "qwen2") == 0;
    return LT_OK;
}

lt_status lt_modelsrc_open_gguf(lt_modelsrc **out, const char *path, lt_err *err) {
    *out = NULL;
    lt_modelsrc *src = NULL;
    LT_TRY(lt_ms_new(&src, path, "gguf", err));
    lt_status st = lt_gguf_open(&src->gguf, path, err);
    if (!st) st = gguf_config(src, src->gguf, err);
    for (int64_t i = 0; !st && i < lt_gguf_n_tensors(src->gguf); i++) {
        lt_src_tensor t;
        lt_gguf_tensor(src->gguf, i, &t);
        st = lt_ms_push(src, &t, err);
    }
    if (!st) {
        const lt_src_tensor *e = lt_modelsrc_find(src, "token_embd.weight");
        if (!e || e->ndim != 2 || e->shape[0] > INT32_MAX)
            st = lt_err_set(err, LT_EFORMAT, "%s: tensor 'token_embd.weight' is missing or not 2-D", path);
        else src->cfg.n_vocab = (int32_t)e->shape[0];
    }
    if (!st) {
        src->cfg.tied_embeddings = lt_modelsrc_find(src, "output.weight") == NULL;
        src->cfg.qkv_bias = lt_modelsrc_find(src, "blk.0.attn_q.bias") != NULL;
        st = lt_llm_config_validate(&src->cfg, path, err);
    }
    if (!st) st = lt_ms_check_tensors(src, err);
    if (!st) {
        st = lt_vocab_from_gguf(&src->vocab, src->gguf, err);
        if (st == LT_ENOTFOUND) st = LT_OK;
        if (!st && src->vocab && src->vocab->n_tokens > src->cfg.n_vocab)
            st = lt_err_set(err, LT_EFORMAT, "%s: the vocab has %d tokens but token_embd.weight only %d rows", path,
                            src->vocab->n_tokens, src->cfg.n_vocab);
    }
    if (st) {
        lt_modelsrc_close(src);
        return st;
    }
    lt_err_clear(err);
    *out = src;
    return LT_OK;
}

/* ==== GGUF writer ========================================================================== */

static bool keep_f32(const lt_src_tensor *t) {
    return t->ndim != 2 || strstr(t->name, "norm") || strstr(t->name, ".bias") || !strcmp(t->name, "rope_freqs.weight");
}

static lt_status write_vocab_keys(lt_gguf_writer *w, const lt_vocab *v, lt_err *err) {
    static const char *const models[] = {"no_vocab", "llama", "gpt2", "bert", "t5"};
    if ((unsigned)v->type > LT_VOCAB_UGM || v->type == LT_VOCAB_NONE) return LT_OK;
    LT_TRY(lt_gguf_set_str(w, "tokenizer.ggml.model", models[v->type], err));
    if (v->pre[0]) LT_TRY(lt_gguf_set_str(w, "tokenizer.ggml.pre", v->pre, err));
    LT_TRY(lt_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, v->token_len,
                               (uint64_t)v->n_tokens, err));
    if (v->scores) LT_TRY(lt_gguf_set_arr_f32(w, "tokenizer.ggml.scores", v->scores, (uint64_t)v->n_tokens, err));
    if (v->token_types)
        LT_TRY(lt_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", v->token_types, (uint64_t)v->n_tokens, err));
    if (v->n_merges > 0)
        LT_TRY(lt_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, NULL,
                                   (uint64_t)v->n_merges, err));
    const char *keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
                          "tokenizer.ggml.eot_token_id"};
    int32_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id, v->eot_id};
    for (int i = 0; i < 5; i++)
        if (ids[i] >= 0) LT_TRY(lt_gguf_set_u32(w, keys[i], (uint32_t)ids[i], err));
    LT_TRY(lt_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", v->add_bos, err));
    LT_TRY(lt_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", v->add_eos, err));
    LT_TRY(lt_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", v->add_space_prefix, err));
    if (v->chat_template) LT_TRY(lt_gguf_set_str(w, "tokenizer.chat_template", v->chat_template, err));
    return LT_OK;
}

static lt_status write_gguf_keys(lt_gguf_writer *w, const lt_llm_config *c, lt_err *err) {
    char k[160];
    const char *a = c->arch;
#define KU(key, v) (snprintf(k, sizeof k, "%s.%s", a, key), lt_gguf_set_u32(w, k, (uint32_t)(v), err))
#define KF(key, v) (snprintf(k, sizeof k, "%s.%s", a, key), lt_gguf_set_f32(w, k, (v), err))
    LT_TRY(lt_gguf_set_str(w, "general.architecture", a, err));
    LT_TRY(lt_gguf_set_str(w, "general.name", c->name[0] ? c->name : "lathe", err));
    LT_TRY(KU("context_length", c->max_seq));
    LT_TRY(KU("embedding_length", c->dim));
    LT_TRY(KU("feed_forward_length", c->hidden_dim));
    LT_TRY(KU("block_count", c->n_layers));
    LT_TRY(KU("attention.head_count", c->n_heads));
    LT_TRY(KU("attention.head_count_kv", c->n_kv_heads));
    LT_TRY(KF("attention.layer_norm_rms_epsilon", c->norm_eps));
    LT_TRY(KF("rope.freq_base", c->rope_theta));
    LT_TRY(KU("rope.dimension_count", c->head_dim));
    if ((int64_t)c->head_dim * c->n_heads != c->dim) {
        LT_TRY(KU("attention.key_length", c->head_dim));
        LT_TRY(KU("attention.value_length", c->head_dim));
    }
    LT_TRY(KU("vocab_size", c->n_vocab));
    if (c->rope_scaling == LT_ROPE_SCALING_LINEAR) {
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        LT_TRY(lt_gguf_set_str(w, k, "linear", err));
        LT_TRY(KF("rope.scaling.factor", c->rope_factor));
        if (c->rope_orig_ctx > 0) LT_TRY(KU("rope.scaling.original_context_length", c->rope_orig_ctx));
    }
#undef KU
#undef KF
    return LT_OK;
}

/* Adds one (possibly converted / permuted) tensor; buffers go to *bufs for freeing. */
static lt_status gguf_add(lt_gguf_writer *w, const lt_src_tensor *t, lt_dtype want, int perm_heads, int head_dim,
                          bool to_adjacent, void ***bufs, int *n_bufs, lt_err *err) {
    void *data = NULL;
    size_t nb;
    LT_TRY(lt_ms_convert(t, want, &data, &nb, err));
    (*bufs)[(*n_bufs)++] = data;
    if (perm_heads > 0) {
        void *p = lt_malloc(nb ? nb : 1);
        if (!p) return lt_err_set(err, LT_ENOMEM, "out of memory");
        (*bufs)[(*n_bufs)++] = p;
        lt_ms_permute_rows(p, data, perm_heads, head_dim, lt_row_bytes(want, t->shape[t->ndim - 1]), to_adjacent);
        data = p;
    }
    return lt_gguf_add_tensor(w, t->name, want, t->ndim, t->shape, data, err);
}

lt_status lt_modelsrc_write_gguf(const lt_modelsrc *src, const char *path, lt_dtype dtype, lt_err *err) {
    const lt_llm_config *c = &src->cfg;
    LT_TRY(lt_llm_config_validate(c, src->path, err));
    bool is_llama = !strcmp(c->arch, "llama") || !strcmp(c->arch, "mistral");
    if (!is_llama && strcmp(c->arch, "qwen2"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: cannot write architecture '%s' as GGUF", path, c->arch);
    if (dtype != LT_DTYPE_COUNT && dtype == LT_I32)
        return lt_err_set(err, LT_EINVAL, "%s: i32 is not a weight dtype", path);
    bool file_neox = !is_llama; /* what llama.cpp expects for this architecture */
    bool permute = c->rope_neox != file_neox;
    lt_gguf_writer *w;
    LT_TRY(lt_gguf_writer_create(&w, err));
    void **bufs = lt_calloc((size_t)src->n * 2 + 2, sizeof *bufs);
    int n_bufs = 0;
    float *freqs = NULL;
    lt_status st = bufs ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    if (!st) st = write_gguf_keys(w, c, err);
    if (!st && src->vocab) st = write_vocab_keys(w, src->vocab, err);
    for (int i = 0; !st && i < src->n; i++) {
        const lt_src_tensor *t = &src->t[i];
        if (t->dtype == LT_I32) {
            st = lt_err_set(err, LT_EINVAL, "%s: tensor '%s' is i32, not a weight", path, t->name);
            break;
        }
        lt_dtype want = t->dtype;
        if (keep_f32(t)) want = LT_F32;
        else if (dtype != LT_DTYPE_COUNT) want = dtype;
        if (lt_dtype_block(want) > 1 && t->shape[t->ndim - 1] % lt_dtype_block(want)) want = LT_F16;
        int heads = 0, l;
        const char *suf;
        if (permute && lt_ms_split_layer(t->name, &l, &suf)) {
            if (!strcmp(suf, "attn_q.weight") || !strcmp(suf, "attn_q.bias")) heads = c->n_heads;
            if (!strcmp(suf, "attn_k.weight") || !strcmp(suf, "attn_k.bias")) heads = c->n_kv_heads;
        }
        st = gguf_add(w, t, want, heads, c->head_dim, !file_neox, &bufs, &n_bufs, err);
    }
    if (!st && c->rope_scaling == LT_ROPE_SCALING_LLAMA3 && !lt_modelsrc_find(src, "rope_freqs.weight")) {
        int64_t n = c->head_dim / 2;
        freqs = lt_malloc((size_t)n * sizeof *freqs);
        if (!freqs) st = lt_err_set(err, LT_ENOMEM, "out of memory");
        else {
            lt_ms_llama3_factors(c, freqs);
            st = lt_gguf_add_tensor(w, "rope_freqs.weight", LT_F32, 1, &n, freqs, err);
        }
    }
    if (!st) st = lt_gguf_write(w, path, err);
    for (int i = 0; i < n_bufs; i++) lt_free(bufs[i]);
    lt_free(bufs);
    lt_free(freqs);
    lt_gguf_writer_free(w);
    return st;
}
