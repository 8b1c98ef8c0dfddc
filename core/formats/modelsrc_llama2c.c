/* modelsrc_llama2c.c - llama2.c checkpoints: the legacy format (7 int32 header + f32
 * weights, layer-stacked) and the version-1 export ("ak42" magic, 256-byte header), read
 * via mmap into per-layer canonical tensors; and a legacy-format writer.
 *
 * llama2.c uses the adjacent-pair rope convention, theta 10000 and RMS norm eps 1e-5, and
 * the file size must equal exactly what the header implies. The header's plausibility test
 * and the "ak42" magic are sniff.h's, so sniffing and reading agree on what a checkpoint is.
 * Leaves out: the version-2 (Q8_0) export, writing the version-1 format, deciding that a
 * path is a checkpoint (sniff.c; the opener is modelsrc_open.c).
 */
#include "modelsrc_llama2c.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"
#include "modelsrc_impl.h"
#include "sniff.h"

#define L2C_MAGIC LT_LLAMA2C_MAGIC
#define L2C_V1_HEADER 256

/* Adds tensor name (layer l, or -1 for a global) at byte offset off with shape. */
static lt_status push_f32(lt_modelsrc *src, const char *name, int l, const uint8_t *base, uint64_t off, int ndim,
                          int64_t d0, int64_t d1, lt_err *err) {
    lt_src_tensor t;
    memset(&t, 0, sizeof t);
    if (l >= 0) snprintf(t.name, sizeof t.name, "blk.%d.%s", l, name);
    else snprintf(t.name, sizeof t.name, "%s", name);
    t.dtype = LT_F32;
    t.ndim = ndim;
    t.shape[0] = d0;
    t.shape[1] = d1;
    t.data = base + off;
    t.mapped = true;
    t.nbytes = (size_t)(d0 * (ndim == 2 ? d1 : 1)) * 4;
    return lt_ms_push(src, &t, err);
}

typedef struct l2c_hdr {
    int32_t dim, hidden, layers, heads, kv_heads, vocab, seq;
    bool shared;
    int version; /* 0 legacy, 1 */
} l2c_hdr;

static lt_status parse_header(const uint8_t *m, size_t size, const char *P, l2c_hdr *h, lt_err *err) {
    int32_t v[9];
    if (size < 28) return lt_err_set(err, LT_EFORMAT, "%s: too small to be a llama2.c checkpoint (%zu bytes)", P, size);
    memcpy(v, m, 28);
    uint32_t magic;
    memcpy(&magic, m, 4);
    if (magic == L2C_MAGIC) {
        if (size < L2C_V1_HEADER)
            return lt_err_set(err, LT_EFORMAT, "%s: truncated llama2.c v1 header", P);
        memcpy(v, m, 36);
        if (v[1] != 1)
            return lt_err_set(err, v[1] == 2 ? LT_EUNSUPPORTED : LT_EFORMAT,
                              "%s: llama2.c export version %d is not supported (only legacy and version 1)", P, v[1]);
        h->version = 1;
        h->dim = v[2], h->hidden = v[3], h->layers = v[4], h->heads = v[5], h->kv_heads = v[6];
        h->vocab = v[7], h->seq = v[8];
        uint8_t sc = m[36];
        if (sc > 1) return lt_err_set(err, LT_EFORMAT, "%s: bad shared_classifier flag %u", P, sc);
        h->shared = sc == 1;
        if (h->vocab <= 0) return lt_err_set(err, LT_EFORMAT, "%s: vocab size %d must be positive", P, h->vocab);
    } else {
        h->version = 0;
        h->dim = v[0], h->hidden = v[1], h->layers = v[2], h->heads = v[3], h->kv_heads = v[4];
        h->vocab = v[5], h->seq = v[6];
        h->shared = h->vocab > 0;
        if (h->vocab == INT32_MIN) return lt_err_set(err, LT_EFORMAT, "%s: invalid vocab size", P);
        if (h->vocab < 0) h->vocab = -h->vocab;
    }
    if (!lt_sniff_llama2c_dims(h->dim, h->hidden, h->layers, h->heads, h->kv_heads, h->vocab, h->seq))
        return lt_err_set(err, LT_EFORMAT,
                          "%s: not a llama2.c checkpoint (implausible header: dim %d, hidden %d, layers %d, heads %d, "
                          "kv_heads %d, vocab %d, seq_len %d)", P, h->dim, h->hidden, h->layers, h->heads,
                          h->kv_heads, h->vocab, h->seq);
    return LT_OK;
}

static lt_status map_weights(lt_modelsrc *src, const l2c_hdr *h, const uint8_t *m, size_t size, lt_err *err) {
    const char *P = src->path;
    int64_t D = h->dim, F = h->hidden, L = h->layers, V = h->vocab, hs = D / h->heads, KV = hs * h->kv_heads;
    /* element counts of each block, in float32 units */
    uint64_t n_emb = (uint64_t)V * D, n_norm = (uint64_t)L * D, n_q = (uint64_t)L * D * D,
             n_kv = (uint64_t)L * KV * D, n_ffn = (uint64_t)L * F * D, n_fc = (uint64_t)h->seq * hs / 2;
    uint64_t total = n_emb + 2 * n_norm + 2 * n_q + 2 * n_kv + 3 * n_ffn + D + (h->shared ? 0 : n_emb);
    uint64_t hdr = h->version ? L2C_V1_HEADER : 28;
    if (!h->version) total += 2 * n_fc;
    uint64_t want = hdr + total * 4;
    if (want != size)
        return lt_err_set(err, LT_EFORMAT,
                          "%s: file is %zu bytes, the llama2.c header (dim %d, hidden %d, layers %d, heads %d, kv_heads "
                          "%d, vocab %d%s, seq_len %d) implies %llu", P, size, h->dim, h->hidden, h->layers, h->heads,
                          h->kv_heads, h->vocab, h->shared ? "" : " unshared", h->seq, (unsigned long long)want);
    uint64_t o = hdr;
#define AT(n) (o += (uint64_t)(n) * 4, o - (uint64_t)(n) * 4)
    uint64_t emb, an, fn, fin, q, k, v, wo, w1, w2, w3, cls = 0;
    if (h->version == 0) {
        emb = AT(n_emb), an = AT(n_norm), q = AT(n_q), k = AT(n_kv), v = AT(n_kv), wo = AT(n_q), fn = AT(n_norm);
        w1 = AT(n_ffn), w2 = AT(n_ffn), w3 = AT(n_ffn), fin = AT(D);
        o += 2 * n_fc * 4; /* freq_cis_real, freq_cis_imag */
    } else {
        an = AT(n_norm), fn = AT(n_norm), fin = AT(D), emb = AT(n_emb), q = AT(n_q), k = AT(n_kv), v = AT(n_kv);
        wo = AT(n_q), w1 = AT(n_ffn), w2 = AT(n_ffn), w3 = AT(n_ffn);
    }
    if (!h->shared) cls = AT(n_emb);
#undef AT
    LT_TRY(push_f32(src, "token_embd.weight", -1, m, emb, 2, V, D, err));
    LT_TRY(push_f32(src, "output_norm.weight", -1, m, fin, 1, D, 0, err));
    if (!h->shared) LT_TRY(push_f32(src, "output.weight", -1, m, cls, 2, V, D, err));
    for (int l = 0; l < L; l++) {
        uint64_t lD = (uint64_t)l * D * 4, lQ = (uint64_t)l * D * D * 4, lK = (uint64_t)l * KV * D * 4,
                 lF = (uint64_t)l * F * D * 4;
        LT_TRY(push_f32(src, "attn_norm.weight", l, m, an + lD, 1, D, 0, err));
        LT_TRY(push_f32(src, "attn_q.weight", l, m, q + lQ, 2, D, D, err));
        LT_TRY(push_f32(src, "attn_k.weight", l, m, k + lK, 2, KV, D, err));
        LT_TRY(push_f32(src, "attn_v.weight", l, m, v + lK, 2, KV, D, err));
        LT_TRY(push_f32(src, "attn_output.weight", l, m, wo + lQ, 2, D, D, err));
        LT_TRY(push_f32(src, "ffn_norm.weight", l, m, fn + lD, 1, D, 0, err));
        LT_TRY(push_f32(src, "ffn_gate.weight", l, m, w1 + lF, 2, F, D, err));
        LT_TRY(push_f32(src, "ffn_down.weight", l, m, w2 + lF, 2, D, F, err));
        LT_TRY(push_f32(src, "ffn_up.weight", l, m, w3 + lF, 2, F, D, err));
    }
    return LT_OK;
}

static lt_status open_l2c(lt_modelsrc *src, const char *path, const char *tok, lt_err *err) {
    void *m;
    size_t msize;
    LT_TRY(lt_file_map(path, 28, "a llama2.c checkpoint", &m, &msize, err));
    src->map = m;
    src->map_size = msize;
    l2c_hdr h = {0};
    LT_TRY(parse_header(m, src->map_size, path, &h, err));
    lt_llm_config *c = &src->cfg;
    strcpy(c->arch, "llama");
    const char *b = strrchr(path, '/');
    snprintf(c->name, sizeof c->name, "%s", b ? b + 1 : path);
    c->n_vocab = h.vocab;
    c->dim = h.dim;
    c->hidden_dim = h.hidden;
    c->n_layers = h.layers;
    c->n_heads = h.heads;
    c->n_kv_heads = h.kv_heads;
    c->head_dim = h.dim / h.heads;
    c->max_seq = h.seq;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->rope_neox = false;
    c->tied_embeddings = h.shared;
    LT_TRY(lt_llm_config_validate(c, path, err));
    LT_TRY(map_weights(src, &h, m, src->map_size, err));
    LT_TRY(lt_ms_check_tensors(src, err));
    if (tok) LT_TRY(lt_vocab_from_llama2c(&src->vocab, tok, h.vocab, err));
    return LT_OK;
}

lt_status lt_modelsrc_open_llama2c(lt_modelsrc **out, const char *path, const char *tokenizer_path, lt_err *err) {
    *out = NULL;
    lt_modelsrc *src = NULL;
    LT_TRY(lt_ms_new(&src, path, "llama2c", err));
    lt_status st = open_l2c(src, path, tokenizer_path, err);
    if (st) {
        lt_modelsrc_close(src);
        return st;
    }
    lt_err_clear(err);
    *out = src;
    return LT_OK;
}

/* ==== writer ============================================================================= */

/* Writes tensor `name` as f32 (q/k rows permuted to adjacent pairs when heads > 0). */
static bool put_tensor(FILE *f, const lt_modelsrc *src, const char *name, int heads, lt_err *err, lt_status *st) {
    const lt_src_tensor *t = lt_modelsrc_find(src, name);
    if (!t) {
        *st = lt_err_set(err, LT_ENOTFOUND, "%s: tensor '%s' is missing", src->path, name);
        return false;
    }
    void *data;
    size_t n;
    if ((*st = lt_ms_convert(t, LT_F32, &data, &n, err))) return false;
    if (heads > 0) {
        void *p = lt_malloc(n ? n : 1);
        if (!p) {
            lt_free(data);
            *st = lt_err_set(err, LT_ENOMEM, "out of memory");
            return false;
        }
        lt_ms_permute_rows(p, data, heads, src->cfg.head_dim, (size_t)t->shape[1] * 4, true);
        lt_free(data);
        data = p;
    }
    bool ok = fwrite(data, 1, n, f) == n;
    lt_free(data);
    if (!ok) *st = lt_err_set(err, LT_EIO, "write failed: %s", strerror(errno));
    return ok;
}

lt_status lt_modelsrc_write_llama2c(const lt_modelsrc *src, const char *path, lt_err *err) {
    const lt_llm_config *c = &src->cfg;
    LT_TRY(lt_llm_config_validate(c, src->path, err));
    const char *why = c->qkv_bias || c->attn_out_bias || c->mlp_bias ? "biases"
                      : c->sliding_window > 0                     ? "a sliding window"
                      : c->rope_scaling != LT_ROPE_SCALING_NONE   ? "rope scaling"
                      : lt_modelsrc_find(src, "rope_freqs.weight") ? "rope frequency factors"
                      : (int64_t)c->head_dim * c->n_heads != c->dim ? "head_dim != dim / n_heads"
                      : c->rope_theta != 10000.0f                 ? "rope theta other than 10000"
                      : c->norm_eps != 1e-5f                      ? "RMS norm epsilon other than 1e-5"
                                                                  : NULL;
    if (why) return lt_err_set(err, LT_EUNSUPPORTED, "%s: the llama2.c format cannot express %s", path, why);
    char tokpath[4200];
    char *tok = NULL; /* the tokenizer.bin bytes, NULL when none is to be written */
    size_t tok_n = 0;
    if (src->vocab) { /* its tokenizer goes beside it as tokenizer.bin: checked before anything is written */
        const char *sl = strrchr(path, '/');
        int len = snprintf(tokpath, sizeof tokpath, "%.*stokenizer.bin", sl ? (int)(sl - path + 1) : 0, path);
        if (len < 0 || (size_t)len >= sizeof tokpath)
            return lt_err_set(err, LT_ERANGE, "the path of the tokenizer.bin beside the checkpoint does not fit in "
                              "%zu bytes: %s", sizeof tokpath, path);
        if (!strcmp(sl ? sl + 1 : path, "tokenizer.bin"))
            return lt_err_set(err, LT_EINVAL, "%s: the checkpoint's tokenizer is written beside it as tokenizer.bin; "
                              "name the checkpoint otherwise", path);
        lt_status vst = lt_vocab_llama2c_check(src->vocab, c->n_vocab, err);
        if (!vst) vst = lt_vocab_llama2c_bytes(src->vocab, &tok, &tok_n, err);
        if (vst) {
            lt_err_prefix(err, "%s", path);
            return vst;
        }
        /* an existing tokenizer.bin is kept when it holds these bytes, and never replaced by others */
        struct stat sb;
        if (lstat(tokpath, &sb) == 0) {
            char *old = NULL;
            size_t old_n = 0;
            lt_err rerr = {0};
            bool same = S_ISREG(sb.st_mode) && (size_t)sb.st_size == tok_n &&
                        lt_file_read_all(tokpath, tok_n + 1, &old, &old_n, &rerr) == LT_OK && old_n == tok_n &&
                        !memcmp(old, tok, tok_n);
            lt_free(old);
            lt_free(tok);
            tok = NULL;
            if (!same)
                return lt_err_set(err, LT_EINVAL, "%s: %s already exists and holds another tokenizer; remove it or "
                                  "write the checkpoint into another folder", path, tokpath);
        }
    }
    lt_afile af;
    lt_status ost = lt_afile_open(&af, path, err);
    if (ost) {
        lt_free(tok);
        return ost;
    }
    FILE *f = af.f;
    int32_t hdr[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                      c->tied_embeddings ? c->n_vocab : -c->n_vocab, c->max_seq};
    lt_status st = LT_OK;
    bool ok = fwrite(hdr, 4, 7, f) == 7;
    int qh = c->rope_neox ? c->n_heads : 0, kh = c->rope_neox ? c->n_kv_heads : 0;
    char name[96];
    ok = ok && put_tensor(f, src, "token_embd.weight", 0, err, &st);
#define EACH(suffix, heads)                                                                       \
    for (int l = 0; ok && l < c->n_layers; l++) {                                               \
        snprintf(name, sizeof name, "blk.%d.%s", l, suffix);                                    \
        ok = put_tensor(f, src, name, heads, err, &st);                                         \
    }
    EACH("attn_norm.weight", 0)
    EACH("attn_q.weight", qh)
    EACH("attn_k.weight", kh)
    EACH("attn_v.weight", 0)
    EACH("attn_output.weight", 0)
    EACH("ffn_norm.weight", 0)
    EACH("ffn_gate.weight", 0)
    EACH("ffn_down.weight", 0)
    EACH("ffn_up.weight", 0)
#undef EACH
    ok = ok && put_tensor(f, src, "output_norm.weight", 0, err, &st);
    /* freq_cis_real, freq_cis_imag [seq_len, head_size/2] (unused by readers, kept for llama2.c) */
    int hs = c->head_dim;
    for (int part = 0; ok && part < 2; part++)
        for (int p = 0; ok && p < c->max_seq; p++)
            for (int i = 0; ok && i < hs / 2; i++) {
                float fr = (float)(1.0 / pow(10000.0, (double)(2 * i) / hs)), a = (float)p * fr;
                float v = part ? sinf(a) : cosf(a);
                ok = fwrite(&v, 4, 1, f) == 1;
            }
    if (ok && !c->tied_embeddings) ok = put_tensor(f, src, "output.weight", 0, err, &st);
    if (st) { /* put_tensor's own error stands */
        lt_afile_abort(&af);
        lt_free(tok);
        return st;
    }
    st = lt_afile_close(&af, ok, err);
    if (st == LT_OK && tok) { /* tokenizer.bin, unless an identical one is already there */
        st = lt_afile_open(&af, tokpath, err);
        if (st == LT_OK) st = lt_afile_close(&af, fwrite(tok, 1, tok_n, af.f) == tok_n, err);
    }
    lt_free(tok);
    return st;
}
