/* modelsrc_gguf.c - GGUF model sources (see modelsrc_gguf.h): the llama-family keys and
 * tensors of a GGUF file (read through gguf.c) into an lt_modelsrc, and an lt_modelsrc back
 * to GGUF v3, permuting q/k rows where the file's rope convention differs from the source's.
 *
 * Mistral is written as llama.cpp's converter writes it (general.architecture = llama, the
 * window as llama.attention.sliding_window, which llama.cpp reads but does not apply to
 * llama; lathe applies it).
 * Partial rotary is rope.dimension_count < head_dim (llama.cpp's n_rot). LongRoPE is llama.cpp's
 * rope_factors_short/long.weight tensors with rope.scaling.attn_factor and original_context_length.
 * SliceGPT models (cfg.sliced) carry lathe.slicegpt.version (u32 1) and lathe.slicegpt.widths (i32
 * [1 + 2 * block_count]: d_emb, then b_L, c_L per layer), checked against the tensor shapes.
 * Leaves out: architectures other than llama/mistral/qwen2 (phi3 from a Hugging Face folder is
 * not written: llama.cpp's phi3 keeps fused qkv / gate_up tensors), sliding windows in some
 * layers only, partial rotary that would need a q/k row permutation.
 */
#include "modelsrc_gguf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "modelsrc_impl.h"

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
    if (rd > c->head_dim || rd == 0 || (rd > 0 && rd % 2))
        return lt_err_set(err, LT_EFORMAT, "%s: rope dimension %d does not fit head dimension %d", P, rd, c->head_dim);
    c->n_rot = rd > 0 && rd < c->head_dim ? rd : 0; /* partial rotary: the first rd dimensions rotate */
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
        else if (!strcmp(ty, "yarn")) c->rope_scaling = LT_ROPE_SCALING_YARN;
        else if (strcmp(ty, "none") != 0)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: rope scaling '%s' is not supported (none, linear, yarn)", P,
                              ty);
    }
    LT_TRY(gk_f32(g, arch, "rope.scaling.factor", 1.0f, &c->rope_factor, err));
    LT_TRY(gk_u32(g, arch, "rope.scaling.original_context_length", false, 0, &c->rope_orig_ctx, err));
    if (c->rope_scaling == LT_ROPE_SCALING_NONE) c->rope_factor = 0;
    if (c->rope_scaling == LT_ROPE_SCALING_YARN) {
        /* llama.cpp's YaRN: the attention factor is 1 + 0.1 ln(factor), times attn_factor */
        float af;
        LT_TRY(gk_f32(g, arch, "rope.scaling.yarn_beta_fast", 32.0f, &c->rope_beta_fast, err));
        LT_TRY(gk_f32(g, arch, "rope.scaling.yarn_beta_slow", 1.0f, &c->rope_beta_slow, err));
        LT_TRY(gk_f32(g, arch, "rope.scaling.attn_factor", 1.0f, &af, err));
        c->rope_attn_factor = af * (c->rope_factor > 1 ? 1.0f + 0.1f * logf(c->rope_factor) : 1.0f);
    } else { /* llama.cpp multiplies every rope's cos/sin by it (LongRoPE's attention factor) */
        LT_TRY(gk_f32(g, arch, "rope.scaling.attn_factor", 1.0f, &c->rope_attn_factor, err));
        if (!(c->rope_attn_factor > 0) || !isfinite(c->rope_attn_factor))
            return lt_err_set(err, LT_EFORMAT, "%s: rope.scaling.attn_factor %g must be positive", P,
                              (double)c->rope_attn_factor);
        if (c->rope_attn_factor == 1.0f) c->rope_attn_factor = 0;
    }
    int32_t sw;
    LT_TRY(gk_u32(g, arch, "attention.sliding_window", false, 0, &sw, err));
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", arch);
    if (sw > 0 && lt_gguf_find(g, key) >= 0)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: '%s' (sliding window in some layers) is not supported", P, key);
    lt_llm_set_window_all(c, sw);
    c->rope_neox = strcmp(arch, "qwen2") == 0;
    if (lt_gguf_find(g, "lathe.slicegpt.version") >= 0) { /* lathe's SliceGPT models (README, formats) */
        uint32_t v;
        LT_TRY(lt_gguf_get_u32(g, "lathe.slicegpt.version", &v, err));
        if (v != 1)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: lathe.slicegpt.version %u is not supported (1)", P, v);
        c->sliced = true;
    } else if (lt_gguf_find(g, "lathe.slicegpt.widths") >= 0)
        return lt_err_set(err, LT_EFORMAT, "%s: lathe.slicegpt.widths without lathe.slicegpt.version", P);
    return LT_OK;
}

/* The widths a sliced GGUF declares (lathe.slicegpt.widths: d_emb, then b_L, c_L per layer) against
 * the ones its tensors have (lt_modelsrc_slice_widths, which checked the shapes). */
static lt_status gguf_slice_check(const lt_modelsrc *src, lt_err *err) {
    const char *P = src->path;
    const int L = src->cfg.n_layers, n = 1 + 2 * L;
    lt_gguf_type et;
    uint64_t cnt;
    const void *data;
    if (lt_gguf_find(src->gguf, "lathe.slicegpt.widths") < 0)
        return lt_err_set(err, LT_EFORMAT, "%s: lathe.slicegpt.widths is missing", P);
    LT_TRY(lt_gguf_get_arr(src->gguf, "lathe.slicegpt.widths", &et, &cnt, &data, err));
    if (et != LT_GGUF_INT32 || cnt != (uint64_t)n)
        return lt_err_set(err, LT_EFORMAT, "%s: lathe.slicegpt.widths must be %d int32 values (d_emb, then b, c per "
                          "layer), found %llu%s", P, n, (unsigned long long)cnt, et != LT_GGUF_INT32 ? " of another type" : "");
    int32_t *w = lt_malloc(sizeof(int32_t) * (size_t)n);
    if (!w) return lt_err_set(err, LT_ENOMEM, "out of memory");
    lt_status st = lt_modelsrc_slice_widths(src, w, err);
    for (int i = 0; st == LT_OK && i < n; i++) {
        int32_t kv;
        memcpy(&kv, (const char *)data + 4 * (size_t)i, 4);
        if (kv == w[i]) continue;
        char tn[96];
        if (i == 0) snprintf(tn, sizeof tn, "token_embd.weight");
        else snprintf(tn, sizeof tn, "blk.%d.%s.weight", (i - 1) / 2, i % 2 ? "attn_output" : "ffn_down");
        st = lt_err_set(err, LT_EFORMAT, "%s: lathe.slicegpt.widths[%d] is %d, but tensor '%s' has width %d", P, i, kv,
                        tn, w[i]);
    }
    lt_free(w);
    return st;
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
        src->cfg.tied_embeddings = lt_modelsrc_find(src, "output.weight") == NULL && !src->cfg.sliced;
        src->cfg.qkv_bias = lt_modelsrc_find(src, "blk.0.attn_q.bias") != NULL;
        src->cfg.attn_out_bias = lt_modelsrc_find(src, "blk.0.attn_output.bias") != NULL;
        src->cfg.mlp_bias = lt_modelsrc_find(src, "blk.0.ffn_gate.bias") != NULL;
        /* LongRoPE as llama.cpp stores it: factor tensors, no scaling type (rope_freqs wins) */
        if (lt_modelsrc_find(src, "rope_factors_long.weight") && !lt_modelsrc_find(src, "rope_freqs.weight") &&
            src->cfg.rope_scaling == LT_ROPE_SCALING_NONE) {
            src->cfg.rope_scaling = LT_ROPE_SCALING_LONGROPE;
            if (src->cfg.rope_orig_ctx <= 0) src->cfg.rope_orig_ctx = src->cfg.max_seq;
            src->cfg.rope_factor = (float)src->cfg.max_seq / (float)src->cfg.rope_orig_ctx; /* informative */
        }
        st = lt_llm_config_validate(&src->cfg, path, err);
    }
    if (!st) st = lt_ms_check_tensors(src, err);
    if (!st && src->cfg.sliced) st = gguf_slice_check(src, err);
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
    lt_gguf_drop_header(src->gguf); /* the vocab and config are copied out */
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
    if (v->hf_pipeline || v->n_tpl_extra[0] || v->n_tpl_extra[1])
        return lt_err_set(err, LT_EUNSUPPORTED, "the tokenizer's %s has no GGUF (llama.cpp) form",
                          v->hf_pipeline ? "tokenizer.json normalizer / pre-tokenizer pipeline"
                                         : "TemplateProcessing with several special tokens on a side");
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
    /* llama.cpp writes Mistral (the HF architecture) as llama, its sliding window as a key */
    const char *a = !strcmp(c->arch, "mistral") ? "llama" : c->arch;
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
    LT_TRY(KU("rope.dimension_count", lt_llm_n_rot(c)));
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
    if (c->rope_scaling == LT_ROPE_SCALING_LONGROPE) /* with the factor tensors, as llama.cpp's converter */
        LT_TRY(KU("rope.scaling.original_context_length", c->rope_orig_ctx));
    if (c->rope_scaling != LT_ROPE_SCALING_YARN && c->rope_attn_factor > 0 && c->rope_attn_factor != 1.0f)
        LT_TRY(KF("rope.scaling.attn_factor", c->rope_attn_factor));
    if (c->rope_scaling == LT_ROPE_SCALING_YARN) {
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        LT_TRY(lt_gguf_set_str(w, k, "yarn", err));
        LT_TRY(KF("rope.scaling.factor", c->rope_factor));
        LT_TRY(KU("rope.scaling.original_context_length", c->rope_orig_ctx));
        LT_TRY(KF("rope.scaling.yarn_beta_fast", c->rope_beta_fast > 0 ? c->rope_beta_fast : 32.0f));
        LT_TRY(KF("rope.scaling.yarn_beta_slow", c->rope_beta_slow > 0 ? c->rope_beta_slow : 1.0f));
        float def = c->rope_factor > 1 ? 1.0f + 0.1f * logf(c->rope_factor) : 1.0f;
        float af = c->rope_attn_factor > 0 ? c->rope_attn_factor : def;
        if (fabsf(af - def) > 1e-6f * def) LT_TRY(KF("rope.scaling.attn_factor", af / def));
    }
    if (c->sliding_window > 0) LT_TRY(KU("attention.sliding_window", c->sliding_window));
#undef KU
#undef KF
    return LT_OK;
}

/* One tensor's bytes at write time (lt_gguf_fill_fn): converted to its dtype, q/k rows
 * permuted where the rope conventions differ, after telling the progress callback. */
typedef struct wctx wctx;
typedef struct wtensor_job {
    wctx *w;
    const lt_src_tensor *t;
    int index;
    lt_dtype want;
    int perm_heads; /* > 0: permute rows per head */
} wtensor_job;

struct wctx {
    const lt_gguf_write_opts *o;
    int head_dim;
    bool to_adjacent;
    int n;
    uint64_t done, total;
    void *tmp; /* permutation scratch */
};

static lt_status fill_tensor(void *ud, void *buf, size_t size, lt_err *err) {
    wtensor_job *j = ud;
    wctx *w = j->w;
    if (w->o && w->o->progress) {
        lt_gguf_write_event ev = {j->index, w->n, j->t->name, j->t->dtype, j->want, w->done, w->total};
        if (!w->o->progress(w->o->progress_ud, &ev))
            return lt_err_set(err, LT_ECANCELLED, "writing stopped at tensor '%s'", j->t->name);
    }
    void *dst = j->perm_heads > 0 ? w->tmp : buf;
    const void *given = w->o && w->o->data ? w->o->data[j->index] : NULL;
    if (given) memcpy(dst, given, size);
    else LT_TRY(lt_ms_convert_into(j->t, j->want, dst, err));
    if (j->perm_heads > 0) /* a bias permutes like the weight's rows: one value a row */
        lt_ms_permute_rows(buf, dst, j->perm_heads, w->head_dim,
                           lt_row_bytes(j->want, j->t->ndim == 1 ? 1 : j->t->shape[j->t->ndim - 1]), w->to_adjacent);
    w->done += (size + 31) / 32 * 32; /* as bytes_total counts it: padded to the alignment */
    return LT_OK;
}

void lt_modelsrc_gguf_types(const lt_modelsrc *src, lt_dtype dtype, lt_dtype *types) {
    for (int i = 0; i < src->n; i++) {
        const lt_src_tensor *t = &src->t[i];
        lt_dtype want = t->dtype;
        if (keep_f32(t)) want = LT_F32;
        else if (dtype != LT_DTYPE_COUNT) want = dtype;
        if (lt_dtype_block(want) > 1 && t->shape[t->ndim - 1] % lt_dtype_block(want)) want = LT_F16;
        types[i] = want;
    }
}

lt_status lt_modelsrc_write_gguf(const lt_modelsrc *src, const char *path, lt_dtype dtype, lt_err *err) {
    if (dtype != LT_DTYPE_COUNT && lt_dtype_is_int(dtype))
        return lt_err_set(err, LT_EINVAL, "%s: %s is not a weight dtype", path, lt_dtype_name(dtype));
    lt_dtype *types = lt_calloc((size_t)src->n + 1, sizeof *types);
    if (!types) return lt_err_set(err, LT_ENOMEM, "out of memory");
    lt_modelsrc_gguf_types(src, dtype, types);
    lt_gguf_write_opts o = {.types = types};
    lt_status st = lt_modelsrc_write_gguf_opts(src, path, &o, err);
    lt_free(types);
    return st;
}

lt_status lt_modelsrc_write_gguf_opts(const lt_modelsrc *src, const char *path, const lt_gguf_write_opts *o,
                                      lt_err *err) {
    const lt_llm_config *c = &src->cfg;
    LT_TRY(lt_llm_config_validate(c, src->path, err));
    bool is_llama = !strcmp(c->arch, "llama") || !strcmp(c->arch, "mistral");
    if (!is_llama && strcmp(c->arch, "qwen2"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: cannot write architecture '%s' as GGUF", path, c->arch);
    for (int l = 1; l < c->n_layers; l++)
        if (lt_llm_layer_window(c, l) != lt_llm_layer_window(c, 0))
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: a sliding window in some layers only cannot be written as "
                              "GGUF", path);
    if (c->rope_scaling == LT_ROPE_SCALING_YARN && c->rope_yarn_no_truncate)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: YaRN without truncation cannot be written as GGUF", path);
    bool file_neox = !is_llama; /* what llama.cpp expects for this architecture */
    bool permute = c->rope_neox != file_neox;
    if (permute && lt_llm_n_rot(c) != c->head_dim)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: partial rotary (%d of %d dimensions) in the other rope "
                          "convention than %s's cannot be written as GGUF", path, c->n_rot, c->head_dim, c->arch);
    wctx w = {.o = o, .head_dim = c->head_dim, .to_adjacent = !file_neox, .n = src->n};
    size_t tmp_n = 0;
    /* every tensor's type is checked before the file is created */
    for (int i = 0; i < src->n; i++) {
        const lt_src_tensor *t = &src->t[i];
        lt_dtype want = o && o->types ? o->types[i] : keep_f32(t) ? LT_F32 : t->dtype;
        if (lt_dtype_is_int(t->dtype) || lt_dtype_is_int(want))
            return lt_err_set(err, LT_EINVAL, "%s: tensor '%s' is %s, not a weight", path, t->name,
                              lt_dtype_name(lt_dtype_is_int(t->dtype) ? t->dtype : want));
        if ((unsigned)want >= LT_DTYPE_COUNT || lt_dtype_info(want)->gguf_type < 0)
            return lt_err_set(err, LT_EINVAL, "%s: tensor '%s': %s cannot be stored in GGUF", path, t->name,
                              lt_dtype_name(want));
        if (!(o && o->data && o->data[i])) LT_TRY(lt_ms_convert_check(t, want, err));
        w.total += (lt_ms_converted_bytes(t, want) + 31) / 32 * 32;
        if (permute && lt_ms_converted_bytes(t, want) > tmp_n) tmp_n = lt_ms_converted_bytes(t, want);
    }
    lt_gguf_writer *gw;
    LT_TRY(lt_gguf_writer_create(&gw, err));
    wtensor_job *jobs = lt_calloc((size_t)src->n + 1, sizeof *jobs);
    float *freqs = NULL;
    lt_status st = jobs ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    if (!st && permute && tmp_n && !(w.tmp = lt_malloc(tmp_n))) st = lt_err_set(err, LT_ENOMEM, "out of memory");
    if (!st) st = write_gguf_keys(gw, c, err);
    if (!st && c->sliced) { /* SliceGPT: the widths, checked against the shapes (README, formats) */
        int32_t *sw = lt_malloc(sizeof(int32_t) * (1 + 2 * (size_t)c->n_layers));
        st = sw ? lt_modelsrc_slice_widths(src, sw, err) : lt_err_set(err, LT_ENOMEM, "out of memory");
        if (!st) st = lt_gguf_set_u32(gw, "lathe.slicegpt.version", 1, err);
        if (!st) st = lt_gguf_set_arr_i32(gw, "lathe.slicegpt.widths", sw, 1 + 2 * (uint64_t)c->n_layers, err);
        lt_free(sw);
    }
    if (!st && o && o->has_file_type) st = lt_gguf_set_u32(gw, "general.file_type", (uint32_t)o->file_type, err);
    if (!st && o && o->quantization_version > 0)
        st = lt_gguf_set_u32(gw, "general.quantization_version", (uint32_t)o->quantization_version, err);
    for (int i = 0; !st && o && i < o->n_kv; i++) st = lt_gguf_set_str(gw, o->kv[2 * i], o->kv[2 * i + 1], err);
    if (!st && src->vocab) st = write_vocab_keys(gw, src->vocab, err);
    for (int i = 0; !st && i < src->n; i++) {
        const lt_src_tensor *t = &src->t[i];
        wtensor_job *j = &jobs[i];
        *j = (wtensor_job){&w, t, i, o && o->types ? o->types[i] : keep_f32(t) ? LT_F32 : t->dtype, 0};
        int l;
        const char *suf;
        if (permute && lt_ms_split_layer(t->name, &l, &suf)) {
            if (!strcmp(suf, "attn_q.weight") || !strcmp(suf, "attn_q.bias")) j->perm_heads = c->n_heads;
            if (!strcmp(suf, "attn_k.weight") || !strcmp(suf, "attn_k.bias")) j->perm_heads = c->n_kv_heads;
        }
        st = lt_gguf_add_tensor_fill(gw, t->name, j->want, t->ndim, t->shape, fill_tensor, j, err);
    }
    if (!st && c->rope_scaling == LT_ROPE_SCALING_LLAMA3 && !lt_modelsrc_find(src, "rope_freqs.weight")) {
        int64_t n = c->head_dim / 2;
        freqs = lt_malloc((size_t)n * sizeof *freqs);
        if (!freqs) st = lt_err_set(err, LT_ENOMEM, "out of memory");
        else {
            lt_ms_llama3_factors(c, freqs);
            st = lt_gguf_add_tensor(gw, "rope_freqs.weight", LT_F32, 1, &n, freqs, err);
        }
    }
    if (!st) st = lt_gguf_write(gw, path, err);
    if (!st && o && o->progress) {
        lt_gguf_write_event ev = {src->n, src->n, NULL, LT_DTYPE_COUNT, LT_DTYPE_COUNT, w.done, w.total};
        o->progress(o->progress_ud, &ev);
    }
    lt_free(w.tmp);
    lt_free(jobs);
    lt_free(freqs);
    lt_gguf_writer_free(gw);
    return st;
}
