/* quantmix.c - llama.cpp's quantization mixes and per-tensor type rules (see quantmix.h),
 * transcribed from src/llama-quant.cpp (llama-cpp-python 0.3.36's llama.cpp): the branches
 * of llama_tensor_get_type_impl that the supported mixes reach for a dense llama-family model,
 * in the same order, so that every tensor gets the type llama-quantize gives it. */
#include "quantmix.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/alloc.h"

/* ---- the names (tools/quantize/quantize.cpp's QUANT_OPTIONS, the mixes lathe can write) ---- */

typedef struct mix_entry {
    const char *name;
    lt_ftype ftype;
    lt_dtype base;
    bool alias; /* another name for a mix listed under its own name */
    const char *desc;
} mix_entry;

static const mix_entry k_mixes[] = {
    {"Q4_0", LT_FTYPE_Q4_0, LT_Q4_0, false, "q4_0; output.weight q6_K"},
    {"Q4_1", LT_FTYPE_Q4_1, LT_Q4_1, false, "q4_1; output.weight q6_K"},
    {"Q5_0", LT_FTYPE_Q5_0, LT_Q5_0, false, "q5_0; output.weight q6_K"},
    {"Q5_1", LT_FTYPE_Q5_1, LT_Q5_1, false, "q5_1; output.weight q6_K"},
    {"Q2_K", LT_FTYPE_Q2_K, LT_Q2_K, false, "q2_K; attn_v q3_K/q4_K, ffn_down and attn_output q3_K"},
    {"Q3_K", LT_FTYPE_Q3_K_M, LT_Q3_K, true, "alias for Q3_K_M"},
    {"Q3_K_S", LT_FTYPE_Q3_K_S, LT_Q3_K, false, "q3_K everywhere but output.weight (q6_K)"},
    {"Q3_K_M", LT_FTYPE_Q3_K_M, LT_Q3_K, false, "q3_K; attn_v q5_K/q4_K, attn_output q4_K, ffn_down q5_K/q4_K"},
    {"Q3_K_L", LT_FTYPE_Q3_K_L, LT_Q3_K, false, "q3_K; attn_v, attn_output and ffn_down q5_K"},
    {"IQ4_NL", LT_FTYPE_IQ4_NL, LT_IQ4_NL, false, "iq4_nl; first eighth of ffn_down q5_K"},
    {"IQ4_XS", LT_FTYPE_IQ4_XS, LT_IQ4_XS, false, "iq4_xs; first eighth of ffn_down q5_K"},
    {"Q4_K", LT_FTYPE_Q4_K_M, LT_Q4_K, true, "alias for Q4_K_M"},
    {"Q4_K_S", LT_FTYPE_Q4_K_S, LT_Q4_K, false, "q4_K; first attn_v and first eighth of ffn_down q5_K"},
    {"Q4_K_M", LT_FTYPE_Q4_K_M, LT_Q4_K, false, "q4_K; half of attn_v and ffn_down q6_K (use_more_bits)"},
    {"Q5_K", LT_FTYPE_Q5_K_M, LT_Q5_K, true, "alias for Q5_K_M"},
    {"Q5_K_S", LT_FTYPE_Q5_K_S, LT_Q5_K, false, "q5_K everywhere but output.weight (q6_K)"},
    {"Q5_K_M", LT_FTYPE_Q5_K_M, LT_Q5_K, false, "q5_K; half of attn_v and ffn_down q6_K (use_more_bits)"},
    {"Q6_K", LT_FTYPE_Q6_K, LT_Q6_K, false, "q6_K"},
    {"Q8_0", LT_FTYPE_Q8_0, LT_Q8_0, false, "q8_0"},
    {"F16", LT_FTYPE_F16, LT_F16, false, "f16 (norms stay f32)"},
    {"BF16", LT_FTYPE_BF16, LT_BF16, false, "bf16 (norms stay f32)"},
    {"F32", LT_FTYPE_ALL_F32, LT_F32, false, "f32"},
};
#define N_MIXES ((int)(sizeof k_mixes / sizeof k_mixes[0]))

bool lt_quantmix_entry(int i, const char **name, const char **desc) {
    if (i < 0 || i >= N_MIXES) return false;
    if (name) *name = k_mixes[i].name;
    if (desc) *desc = k_mixes[i].desc;
    return true;
}

const char *lt_quantmix_mix_names(void) {
    return "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K, "
           "IQ4_NL, IQ4_XS, F16, BF16, F32 (aliases: Q3_K = Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M)";
}

static void fill(lt_quantmix *out, const mix_entry *e, bool pure) {
    const mix_entry *c = e;
    if (e->alias) /* report the mix under its own name */
        for (int i = 0; i < N_MIXES; i++)
            if (!k_mixes[i].alias && k_mixes[i].ftype == e->ftype) c = &k_mixes[i];
    *out = (lt_quantmix){c->name, c->ftype, c->base, pure, LT_DTYPE_COUNT, LT_DTYPE_COUNT, LT_DTYPE_COUNT};
}

lt_status lt_quantmix_parse(const char *type, bool pure, lt_quantmix *out, lt_err *err) {
    if (type && *type) {
        for (int i = 0; i < N_MIXES; i++)
            if (!strcasecmp(type, k_mixes[i].name)) {
                fill(out, &k_mixes[i], pure);
                return LT_OK;
            }
        bool digits = strlen(type) < 4;
        for (const char *p = type; *p; p++) digits &= isdigit((unsigned char)*p) != 0;
        if (digits)
            for (int i = 0; i < N_MIXES; i++)
                if (!k_mixes[i].alias && (int)k_mixes[i].ftype == atoi(type)) {
                    fill(out, &k_mixes[i], pure);
                    return LT_OK;
                }
    }
    char names[256];
    return lt_err_set(err, LT_EINVAL, "unknown type '%s': a tensor type (%s) or a mix (%s)", type ? type : "",
                      lt_dtype_weight_names(names, sizeof names), lt_quantmix_mix_names());
}

lt_status lt_quantmix_set_override(lt_quantmix *mix, const char *which, const char *type, lt_err *err) {
    const bool out = !strcmp(which, "output"), sc = !strcmp(which, "shortcut");
    const char *opt = out ? "--output-tensor-type" : sc ? "--shortcut-type" : "--token-embedding-type";
    const lt_dtype dt = lt_dtype_from_name(type);
    const lt_dtype_traits *d = lt_dtype_info(dt);
    if (dt == LT_DTYPE_COUNT || !d->from_f32 || d->gguf_type < 0 || d->gguf_type >= LT_GGUF_LATHE_TYPES) {
        char names[256];
        return lt_err_set(err, LT_EINVAL, "%s: '%s' is not a tensor type (one of: %s)", opt, type ? type : "",
                          lt_dtype_weight_names(names, sizeof names));
    }
    if (out) mix->output_type = dt;
    else if (sc) mix->shortcut_type = dt;
    else mix->embd_type = dt;
    return LT_OK;
}

/* ---- the model ------------------------------------------------------------------------------ */

void lt_quantmix_model_from_config(const lt_llm_config *cfg, lt_quantmix_model *out) {
    out->n_layers = cfg->n_layers;
    out->n_gqa = cfg->n_kv_heads > 0 ? cfg->n_heads / cfg->n_kv_heads : 1;
    out->tied = cfg->tied_embeddings;
    /* src/models/llama.cpp: 80 layers is 70B with grouped-query attention (65B without);
     * src/models/qwen2.cpp: 80 layers is 70B */
    out->is_70b = cfg->n_layers == 80 && (!strcmp(cfg->arch, "qwen2") || cfg->n_heads != cfg->n_kv_heads);
}

/* ---- the rules ------------------------------------------------------------------------------- */

typedef enum category { /* tensor_get_category */
    CAT_TOKEN_EMBD,
    CAT_ATTN_Q,
    CAT_ATTN_V,
    CAT_ATTN_K,
    CAT_ATTN_QKV,
    CAT_ATTN_KV_B,
    CAT_ATTN_OUTPUT,
    CAT_FFN_UP,
    CAT_FFN_GATE,
    CAT_FFN_DOWN,
    CAT_OUTPUT,
    CAT_OTHER,
} category;

static category category_of(const char *name) {
    if (!strcmp(name, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight")) return CAT_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(name, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
    if (strstr(name, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(name, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (strstr(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (strstr(name, "ffn_up")) return CAT_FFN_UP;
    if (strstr(name, "ffn_gate")) return CAT_FFN_GATE;
    if (strstr(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

static bool is_attn_v(category c) { return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B; }

/* ggml_n_dims: dimensions up to the last one longer than 1 (shape here is outermost first) */
static int ggml_ndims(int ndim, const int64_t *shape) {
    int lead = 0;
    while (lead < ndim - 1 && shape[lead] == 1) lead++;
    return ndim - lead;
}

bool lt_quantmix_allows(const char *name, int ndim, const int64_t *shape) {
    if (ggml_ndims(ndim, shape) < 2) return false;
    size_t n = strlen(name);
    if (n < 6 || strcmp(name + n - 6, "weight") != 0) return false;
    if (strstr(name, "_norm.weight")) return false;
    /* the names tensor_allows_quantization keeps unquantized in every architecture (expert
     * gates, tiny or positional tables); none occurs in a llama-family model, listed so a
     * source carrying one is still written as llama-quantize would */
    static const char *const never[] = {"ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
                                        "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
                                        "indexer.k_proj.weight", "indexer.q_proj.weight", "time_mix_first.weight",
                                        "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
                                        "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
                                        "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
                                        "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
                                        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
                                        "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.",
                                        "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
                                        "mm.a.code_embd"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(name, never[i])) return false;
    return strcmp(name, "position_embd.weight") != 0 && strcmp(name, "token_types.weight") != 0;
}

static bool use_more_bits(int i_layer, int n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

/* llama_tensor_get_type_impl for the mixes of the table and a dense model */
static lt_dtype mix_rule(const lt_quantmix *mix, const lt_quantmix_model *m, category cat, int64_t ncols,
                         const lt_quantmix_pos *pos, lt_dtype t) {
    const lt_ftype f = mix->ftype;
    if (cat == CAT_OUTPUT || (m->tied && cat == CAT_TOKEN_EMBD)) {
        /* (Falcon: always q8_0; the IQ1/IQ2 mixes: q5_K) */
        if (ncols % lt_dtype_block(t)) t = LT_Q8_0;
        else if (t != LT_Q8_0) t = LT_Q6_K;
    } else if (cat == CAT_TOKEN_EMBD) {
        /* an untied token_embd keeps the mix's type (the IQ1/IQ2/IQ3/TQ mixes change it) */
    } else if (is_attn_v(cat)) {
        if (f == LT_FTYPE_Q2_K) t = m->n_gqa >= 4 ? LT_Q4_K : LT_Q3_K;
        else if (f == LT_FTYPE_Q3_K_M) t = pos->i_attn_v < 2 ? LT_Q5_K : LT_Q4_K;
        else if (f == LT_FTYPE_Q3_K_L) t = LT_Q5_K;
        else if ((f == LT_FTYPE_IQ4_NL || f == LT_FTYPE_IQ4_XS) && m->n_gqa >= 4) t = LT_Q5_K;
        else if ((f == LT_FTYPE_Q4_K_M || f == LT_FTYPE_Q5_K_M) && use_more_bits(pos->i_attn_v, pos->n_attn_v))
            t = LT_Q6_K;
        else if (f == LT_FTYPE_Q4_K_S && pos->i_attn_v < 4) t = LT_Q5_K;
        /* 70B: 8 heads share each attn_v row, so it is 8x smaller than attn_q: more bits */
        if (m->is_70b && (t == LT_Q3_K || t == LT_Q4_K)) t = LT_Q5_K;
        /* (8 experts: q8_0) */
    } else if (cat == CAT_FFN_DOWN) {
        /* dense: the layer is the counter (MoE parses it from the name) */
        int i = pos->i_ffn_down, n = pos->n_ffn_down;
        if (f == LT_FTYPE_Q2_K) t = LT_Q3_K;
        else if (f == LT_FTYPE_Q3_K_M) t = i < n / 16 ? LT_Q5_K : LT_Q4_K; /* (Falcon: q3_K unless use_more_bits) */
        else if (f == LT_FTYPE_Q3_K_L) t = LT_Q5_K;                         /* (Falcon: q4_K) */
        else if (f == LT_FTYPE_Q4_K_M) {
            if (use_more_bits(i, n)) t = LT_Q6_K; /* (Falcon: q6_K / q5_K / q4_K by layer) */
        } else if (i < n / 8 && (f == LT_FTYPE_IQ4_NL || f == LT_FTYPE_IQ4_XS)) t = LT_Q5_K; /* (no imatrix) */
        else if (f == LT_FTYPE_Q5_K_M && use_more_bits(i, n)) t = LT_Q6_K;
        else if (f == LT_FTYPE_Q4_K_S && i < n / 8) t = LT_Q5_K;
        /* (Q4_0 / Q5_0 with an importance matrix: q4_1 / q5_1 in the first eighth) */
    } else if (cat == CAT_ATTN_OUTPUT) {
        /* (8 experts and Falcon differ) */
        if (f == LT_FTYPE_Q2_K) t = LT_Q3_K;
        else if (f == LT_FTYPE_Q3_K_M) t = LT_Q4_K;
        else if (f == LT_FTYPE_Q3_K_L) t = LT_Q5_K;
    } else if (cat == CAT_ATTN_QKV) {
        if (f == LT_FTYPE_Q3_K_M || f == LT_FTYPE_Q3_K_L) t = LT_Q4_K;
        else if (f == LT_FTYPE_Q4_K_M) t = LT_Q5_K;
        else if (f == LT_FTYPE_Q5_K_M) t = LT_Q6_K;
    }
    /* attn_k, attn_q, ffn_gate, ffn_up: only the IQ3 mixes change them */
    return t;
}

/* tensor_type_fallback: a type whose block does not divide the row */
static lt_dtype row_fallback(lt_dtype t, int64_t ncols, bool *fell) {
    if (ncols % lt_dtype_block(t) == 0) return t;
    *fell = true;
    lt_dtype r = t;
    switch (t) {
    case LT_IQ4_XS: r = LT_IQ4_NL; break;
    case LT_Q2_K:
    case LT_Q3_K: r = LT_Q4_0; break;
    case LT_Q4_K: r = LT_Q5_0; break;
    case LT_Q5_K: r = LT_Q5_1; break;
    case LT_Q6_K: r = LT_Q8_0; break;
    default: break; /* a 32-block type: no smaller block to demote to */
    }
    if (ncols % lt_dtype_block(r)) r = LT_F16; /* rows not a multiple of 32 */
    return r;
}

lt_dtype lt_quantmix_tensor_type(const lt_quantmix *mix, const lt_quantmix_model *m, const char *name, int ndim,
                                 const int64_t *shape, lt_dtype src, const lt_quantmix_pos *pos, bool *fallback) {
    bool fell = false;
    lt_dtype t = src;
    const category cat = category_of(name);
    lt_dtype over = LT_DTYPE_COUNT; /* llama_tensor_get_type: the user's types win over the mix */
    if (cat == CAT_TOKEN_EMBD)
        over = mix->embd_type != LT_DTYPE_COUNT ? mix->embd_type : m->tied ? mix->output_type : LT_DTYPE_COUNT;
    else if (cat == CAT_OUTPUT) over = mix->output_type;
    if (over != LT_DTYPE_COUNT && lt_quantmix_allows(name, ndim, shape)) {
        t = lt_dtype_info(over)->quantized ? row_fallback(over, shape[ndim - 1], &fell) : over;
    } else if (lt_quantmix_allows(name, ndim, shape)) {
        t = mix->base;
        if (lt_dtype_info(t)->quantized) { /* f16/bf16/f32 mixes: that type, no rules */
            int64_t ncols = shape[ndim - 1];
            if (!mix->pure) t = mix_rule(mix, m, cat, ncols, pos, t);
            t = row_fallback(t, ncols, &fell);
        }
    }
    if (fallback) *fallback = fell;
    return t;
}

/* ---- a whole model, in llama.cpp's order ------------------------------------------------------- */

static int layer_of(const char *name) {
    int l = -1;
    if (sscanf(name, "blk.%d.", &l) != 1) l = -1;
    return l;
}

typedef struct walk_key {
    int layer; /* blk.N -> N; other tensors -1 */
    const char *name;
    int index;
} walk_key;

/* llama_model_loader's weight_name_comparer: layer number (none = -1), then the name */
static int cmp_walk(const void *a, const void *b) {
    const walk_key *x = a, *y = b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

lt_status lt_quantmix_plan(const lt_quantmix *mix, const lt_quantmix_model *m, const lt_quantmix_tensor *t, int n,
                           lt_dtype *types, int *n_fallback, lt_err *err) {
    if (n_fallback) *n_fallback = 0;
    if (n <= 0) return LT_OK;
    walk_key *order = lt_malloc((size_t)n * sizeof *order);
    if (!order) return lt_err_set(err, LT_ENOMEM, "out of memory planning %d tensors", n);
    lt_quantmix_model mm = *m;
    mm.tied = true; /* llama.cpp: tied until output.weight is seen */
    lt_quantmix_pos pos = {0, 0, 0, m->n_layers};
    for (int i = 0; i < n; i++) {
        order[i] = (walk_key){layer_of(t[i].name), t[i].name, i};
        category c = category_of(t[i].name);
        if (is_attn_v(c)) pos.n_attn_v++;
        if (c == CAT_OUTPUT) mm.tied = false;
    }
    qsort(order, (size_t)n, sizeof *order, cmp_walk);
    bool counts = !mix->pure && lt_dtype_info(mix->base)->quantized; /* impl runs, counters move */
    for (int k = 0; k < n; k++) {
        const lt_quantmix_tensor *x = &t[order[k].index];
        bool fell;
        types[order[k].index] = lt_quantmix_tensor_type(mix, &mm, x->name, x->ndim, x->shape, x->dtype, &pos, &fell);
        if (fell && n_fallback) (*n_fallback)++;
        if (counts && lt_quantmix_allows(x->name, x->ndim, x->shape)) {
            category c = category_of(x->name);
            if (is_attn_v(c)) pos.i_attn_v++;
            if (c == CAT_FFN_DOWN) pos.i_ffn_down++;
        }
    }
    lt_free(order);
    return LT_OK;
}
