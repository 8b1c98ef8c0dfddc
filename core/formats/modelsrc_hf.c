/* modelsrc_hf.c - Hugging Face model folders: config.json + model.safetensors (or shards
 * listed in model.safetensors.index.json) + optional tokenizer.json, read and written.
 *
 * HF tensor names are mapped to the canonical GGUF-style names; every mapped tensor's shape
 * is checked against config.json. HF q/k rows use the rotate_half (neox) rope convention.
 * config.json is read as transformers reads it, old and new (rope_parameters or rope_theta +
 * rope_scaling; biases; sliding windows with layer_types); a key that would change the
 * math and that lathe does not implement is an error naming it.
 * LongRoPE's short/long factors become llama.cpp's tensors rope_factors_short/long.weight.
 * Leaves out: per-layer-type rope parameters, writing LongRoPE or partial rotary back,
 * tensors that are not part of the llama family, and finding the folder from a path
 * (sniff.c; the opener is modelsrc_open.c).
 */
#include "modelsrc_hf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/fileio.h"
#include "modelsrc_ct.h"
#include "modelsrc_gptq.h"
#include "modelsrc_impl.h"

#define HF_MAX_JSON (64u << 20)

/* ==== names ============================================================================== */

static const char *const k_map[][2] = {
    {"attn_norm.weight", "input_layernorm.weight"},   {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},     {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"}, {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},         {"attn_v.bias", "self_attn.v_proj.bias"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"}, {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},          {"ffn_down.weight", "mlp.down_proj.weight"},
    {"attn_output.bias", "self_attn.o_proj.bias"},     {"ffn_gate.bias", "mlp.gate_proj.bias"},
    {"ffn_up.bias", "mlp.up_proj.bias"},              {"ffn_down.bias", "mlp.down_proj.bias"},
};
static const char *const k_glob[][2] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};
#define N_MAP ((int)(sizeof k_map / sizeof k_map[0]))

/* HF -> canonical; false for names lathe does not use. */
static bool hf_to_canon(const char *hf, char out[96]) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(hf, k_glob[i][1])) return snprintf(out, 96, "%s", k_glob[i][0]), true;
    if (strncmp(hf, "model.layers.", 13) != 0) return false;
    const char *p = hf + 13;
    int l = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 6) l = l * 10 + (*p++ - '0'), nd++;
    if (!nd || *p != '.') return false;
    for (int i = 0; i < N_MAP; i++)
        if (!strcmp(p + 1, k_map[i][1])) return snprintf(out, 96, "blk.%d.%s", l, k_map[i][0]), true;
    return false;
}

static bool canon_to_hf(const char *c, char out[128]) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(c, k_glob[i][0])) return snprintf(out, 128, "%s", k_glob[i][1]), true;
    int l;
    const char *suf;
    if (!lt_ms_split_layer(c, &l, &suf)) return false;
    for (int i = 0; i < N_MAP; i++)
        if (!strcmp(suf, k_map[i][0])) return snprintf(out, 128, "model.layers.%d.%s", l, k_map[i][1]), true;
    return false;
}

bool lt_hf_tensor_name(const char *canon, char out[128]) { return canon_to_hf(canon, out); }

/* ==== reading ============================================================================ */

static lt_status read_json(const char *path, cJSON **out, lt_err *err) {
    *out = NULL;
    char *buf;
    size_t n;
    LT_TRY(lt_file_read_all(path, HF_MAX_JSON, &buf, &n, err));
    *out = cJSON_ParseWithLength(buf, n);
    lt_free(buf);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return lt_err_set(err, LT_EFORMAT, "%s: not a valid JSON object", path);
    }
    return LT_OK;
}

static lt_status j_int(const cJSON *o, const char *key, bool required, int32_t def, int32_t *out, const char *P,
                       lt_err *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) {
        if (required) return lt_err_set(err, LT_EFORMAT, "%s: '%s' is missing", P, key);
        *out = def;
        return LT_OK;
    }
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= -1) || j->valuedouble > INT32_MAX ||
        j->valuedouble != floor(j->valuedouble))
        return lt_err_set(err, LT_EFORMAT, "%s: '%s' is not a valid integer", P, key);
    *out = (int32_t)j->valuedouble;
    return LT_OK;
}

static lt_status j_num(const cJSON *o, const char *key, float def, float *out, const char *P, lt_err *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) {
        *out = def;
        return LT_OK;
    }
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
        return lt_err_set(err, LT_EFORMAT, "%s: '%s' is not a number", P, key);
    *out = (float)j->valuedouble;
    return LT_OK;
}

/* Keys that change the math of a model lathe runs but that it does not implement: an error
 * when present with a value other than their no-op (null, false, 0 or 1). */
static const char *const k_unsupported[] = {
    "attn_logit_softcapping", "final_logit_softcapping", "logits_scaling",   "embedding_multiplier",
    "residual_multiplier",    "attention_multiplier",   "use_qk_norm",      "qk_layernorm",
    "no_rope_layers",         "use_mrope",              "attention_chunk_size", "moe_intermediate_size",
    "num_local_experts",      "num_experts",            "mup_scale",
};

static bool j_noop(const cJSON *j) {
    return !j || cJSON_IsNull(j) || cJSON_IsFalse(j) ||
           (cJSON_IsNumber(j) && (j->valuedouble == 0 || j->valuedouble == 1)) ||
           (cJSON_IsArray(j) && cJSON_GetArraySize(j) == 0);
}

/* LongRoPE's per-pair factors from config.json, added to the source as llama.cpp's tensors
 * rope_factors_short.weight / rope_factors_long.weight (f32 [n_rot/2]). */
typedef struct hf_factors {
    float *f[2]; /* short, long */
    int n;
} hf_factors;

static lt_status j_factors(const cJSON *rp, const char *key, int n, float **out, const char *P, const char *rkey,
                           lt_err *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(rp, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return lt_err_set(err, LT_EFORMAT, "%s: %s '%s' must be a list of %d numbers (rotated dimensions / 2)", P, rkey,
                          key, n);
    *out = lt_malloc((size_t)n * sizeof(float));
    if (!*out) return lt_err_set(err, LT_ENOMEM, "out of memory");
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || !isfinite(e->valuedouble))
            return lt_err_set(err, LT_EFORMAT, "%s: %s '%s'[%d] is not a positive number", P, rkey, key, i);
        (*out)[i] = (float)e->valuedouble;
    }
    return LT_OK;
}

/* transformers' _compute_longrope_parameters: the original context (Phi3: the top-level key,
 * 4096 when missing, wins over the one in the rope parameters; others: the top-level key,
 * else the rope parameters', else max_position_embeddings), the factors, and the attention
 * factor (given, or sqrt(1 + ln(factor) / ln(original)) with factor = max_position_embeddings
 * / original when not given, 1 when factor <= 1). */
static lt_status hf_longrope(lt_llm_config *c, const cJSON *j, const cJSON *rp, const char *rkey, float attn,
                             hf_factors *fx, const char *P, lt_err *err) {
    c->rope_scaling = LT_ROPE_SCALING_LONGROPE;
    int32_t orig;
    LT_TRY(j_int(rp, "original_max_position_embeddings", false, c->max_seq, &orig, P, err));
    if (cJSON_GetObjectItemCaseSensitive(j, "original_max_position_embeddings") || !strcmp(c->arch, "phi3"))
        LT_TRY(j_int(j, "original_max_position_embeddings", false, 4096, &orig, P, err));
    if (orig < 1) return lt_err_set(err, LT_EFORMAT, "%s: 'original_max_position_embeddings' must be positive", P);
    c->rope_orig_ctx = orig;
    float f = 0;
    LT_TRY(j_num(rp, "factor", 0.0f, &f, P, err));
    double fac = f > 0 ? f : (double)c->max_seq / (double)orig;
    c->rope_factor = (float)fac;
    if (attn == 0) attn = fac <= 1 ? 1.0f : (float)sqrt(1 + log(fac) / log((double)orig));
    c->rope_attn_factor = attn;
    fx->n = lt_llm_n_rot(c) / 2;
    LT_TRY(j_factors(rp, "short_factor", fx->n, &fx->f[0], P, rkey, err));
    return j_factors(rp, "long_factor", fx->n, &fx->f[1], P, rkey, err);
}

/* The rope parameters: transformers 5's "rope_parameters" (theta and scaling in one
 * object), or the older top-level "rope_theta" + "rope_scaling". */
static lt_status hf_rope(lt_llm_config *c, const cJSON *j, hf_factors *fx, const char *P, lt_err *err) {
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(j, "rope_parameters");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
    const char *rkey = "rope_parameters";
    if (rp && !cJSON_IsNull(rp)) {
        if (!cJSON_IsObject(rp)) return lt_err_set(err, LT_EFORMAT, "%s: rope_parameters is not an object", P);
        for (const cJSON *e = rp->child; e; e = e->next)
            if (cJSON_IsObject(e))
                return lt_err_set(err, LT_EUNSUPPORTED,
                                  "%s: rope_parameters per layer type ('%.40s') are not supported", P, e->string);
        LT_TRY(j_num(j, "rope_theta", 10000.0f, &c->rope_theta, P, err));
        LT_TRY(j_num(rp, "rope_theta", c->rope_theta, &c->rope_theta, P, err));
    } else {
        LT_TRY(j_num(j, "rope_theta", 10000.0f, &c->rope_theta, P, err));
        rp = rs && !cJSON_IsNull(rs) ? rs : NULL;
        rkey = "rope_scaling";
        if (rp && !cJSON_IsObject(rp)) return lt_err_set(err, LT_EFORMAT, "%s: rope_scaling is not an object", P);
    }
    float prf = 1.0f;
    LT_TRY(j_num(j, "partial_rotary_factor", 1.0f, &prf, P, err));
    if (rp) LT_TRY(j_num(rp, "partial_rotary_factor", prf, &prf, P, err));
    /* transformers applies it in Phi3 (the first int(head_dim * factor) dimensions rotate); its
     * Llama, Mistral and Qwen2 ignore it in their default rope and fail on it in the others */
    bool phi3 = !strcmp(c->arch, "phi3");
    if (prf != 1.0f && !phi3)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: partial_rotary_factor %g is not supported for %s (only Phi3 "
                          "applies it)", P, prf, c->arch);
    if (prf <= 0 || prf > 1)
        return lt_err_set(err, LT_EFORMAT, "%s: partial_rotary_factor %g is out of (0, 1]", P, prf);
    c->n_rot = (int32_t)((float)c->head_dim * prf);
    if (c->n_rot % 2 || c->n_rot < 2)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: partial_rotary_factor %g gives %d rotated dimensions (must be "
                          "even)", P, prf, c->n_rot);
    if (c->n_rot == c->head_dim) c->n_rot = 0;
    if (!rp) return LT_OK;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
    if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(rp, "type");
    const char *ty = cJSON_IsString(t) ? t->valuestring : "default";
    if (phi3 && strcmp(ty, "default") && strcmp(ty, "longrope") && strcmp(ty, "su") && strcmp(ty, "yarn"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: %s type '%.32s' is not supported for Phi3 (default, longrope)", P,
                          rkey, ty);
    float attn = 0;
    LT_TRY(j_num(rp, "attention_factor", 0.0f, &attn, P, err));
    if (attn < 0) return lt_err_set(err, LT_EFORMAT, "%s: %s attention_factor is negative", P, rkey);
    if (!strcmp(ty, "longrope") || (phi3 && strcmp(ty, "default"))) {
        /* transformers' Phi3 reads su and yarn as longrope */
        return hf_longrope(c, j, rp, rkey, attn, fx, P, err);
    } else if (!strcmp(ty, "default") || !strcmp(ty, "dynamic")) {
        /* dynamic NTK changes the frequencies only past max_position_embeddings, which lathe's
         * context (max_seq) never exceeds: the default frequencies are exact within it */
        return LT_OK;
    } else if (!strcmp(ty, "linear")) {
        c->rope_scaling = LT_ROPE_SCALING_LINEAR;
        LT_TRY(j_num(rp, "factor", 1.0f, &c->rope_factor, P, err));
    } else if (!strcmp(ty, "llama3")) {
        c->rope_scaling = LT_ROPE_SCALING_LLAMA3;
        LT_TRY(j_num(rp, "factor", 8.0f, &c->rope_factor, P, err));
        LT_TRY(j_num(rp, "low_freq_factor", 1.0f, &c->rope_low_freq_factor, P, err));
        LT_TRY(j_num(rp, "high_freq_factor", 4.0f, &c->rope_high_freq_factor, P, err));
        LT_TRY(j_int(rp, "original_max_position_embeddings", false, 8192, &c->rope_orig_ctx, P, err));
    } else if (!strcmp(ty, "yarn")) {
        c->rope_scaling = LT_ROPE_SCALING_YARN;
        LT_TRY(j_int(rp, "original_max_position_embeddings", false, c->max_seq, &c->rope_orig_ctx, P, err));
        float f = 0;
        LT_TRY(j_num(rp, "factor", 0.0f, &f, P, err));
        if (f == 0 && c->rope_orig_ctx > 0) f = (float)c->max_seq / (float)c->rope_orig_ctx;
        c->rope_factor = f;
        LT_TRY(j_num(rp, "beta_fast", 32.0f, &c->rope_beta_fast, P, err));
        LT_TRY(j_num(rp, "beta_slow", 1.0f, &c->rope_beta_slow, P, err));
        const cJSON *tr = cJSON_GetObjectItemCaseSensitive(rp, "truncate");
        c->rope_yarn_no_truncate = cJSON_IsFalse(tr);
        if (attn == 0) {
            float ms = 0, msa = 0;
            LT_TRY(j_num(rp, "mscale", 0.0f, &ms, P, err));
            LT_TRY(j_num(rp, "mscale_all_dim", 0.0f, &msa, P, err));
            double g1 = f <= 1 ? 1.0 : 0.1 * (ms ? ms : 1) * log(f) + 1.0;
            double g2 = f <= 1 || !(ms && msa) ? 1.0 : 0.1 * msa * log(f) + 1.0;
            attn = (float)(g1 / g2);
        }
        c->rope_attn_factor = attn;
    } else {
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "%s: %s type '%.32s' is not supported (default, linear, dynamic, yarn, llama3, longrope)", P, rkey,
                          ty);
    }
    if (attn != 0 && c->rope_scaling != LT_ROPE_SCALING_YARN)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: %s attention_factor is only supported with yarn and longrope", P,
                          rkey);
    return LT_OK;
}

/* Which layers use the sliding window: Mistral: every layer; Qwen2: "layer_types" when
 * given, else the layers from max_window_layers on, and only with use_sliding_window. */
static lt_status hf_window(lt_llm_config *c, const cJSON *j, const char *P, lt_err *err) {
    bool mistral = !strcmp(c->arch, "mistral"), qwen2 = !strcmp(c->arch, "qwen2"), phi3 = !strcmp(c->arch, "phi3");
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(j, "layer_types");
    if (phi3) { /* transformers' Phi3: the window (none when missing or null) in every layer */
        int32_t w = 0;
        if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "sliding_window")))
            LT_TRY(j_int(j, "sliding_window", false, 0, &w, P, err));
        if (w < 0) return lt_err_set(err, LT_EFORMAT, "%s: 'sliding_window' is negative", P);
        lt_llm_set_window_all(c, w);
        return LT_OK;
    }
    if (!mistral && !qwen2) { /* transformers' Llama has no sliding window */
        if (lt && !cJSON_IsNull(lt))
            for (const cJSON *e = lt->child; e; e = e->next)
                if (!cJSON_IsString(e) || strcmp(e->valuestring, "full_attention"))
                    return lt_err_set(err, LT_EUNSUPPORTED, "%s: layer_types other than full_attention are not "
                                      "supported for llama", P);
        return LT_OK;
    }
    int32_t w = 0; /* transformers' Mistral: 4096 when the key is missing, none when null */
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(j, "sliding_window");
    if (!cJSON_IsNull(sw)) LT_TRY(j_int(j, "sliding_window", false, mistral ? 4096 : 0, &w, P, err));
    if (w < 0) return lt_err_set(err, LT_EFORMAT, "%s: 'sliding_window' is negative", P);
    if (qwen2 && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "use_sliding_window"))) w = 0;
    if (mistral || w == 0) {
        lt_llm_set_window_all(c, w);
        return LT_OK;
    }
    lt_llm_set_window_all(c, 0);
    c->sliding_window = w;
    if (qwen2 && lt && !cJSON_IsNull(lt)) { /* transformers' Mistral applies the window to every layer */
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->n_layers)
            return lt_err_set(err, LT_EFORMAT, "%s: 'layer_types' must list one type per layer (%d)", P, c->n_layers);
        int l = 0;
        for (const cJSON *e = lt->child; e; e = e->next, l++) {
            bool sl = cJSON_IsString(e) && !strcmp(e->valuestring, "sliding_attention");
            if (!sl && !(cJSON_IsString(e) && !strcmp(e->valuestring, "full_attention")))
                return lt_err_set(err, LT_EUNSUPPORTED, "%s: layer_types[%d] is not full_attention or "
                                  "sliding_attention", P, l);
            if (sl) c->swa_layers[l / 32] |= 1u << (l % 32);
        }
        return LT_OK;
    }
    int32_t first = 0;
    if (qwen2) LT_TRY(j_int(j, "max_window_layers", false, 28, &first, P, err));
    for (int l = first < 0 ? 0 : first; l < c->n_layers && l < 1024; l++) c->swa_layers[l / 32] |= 1u << (l % 32);
    return LT_OK;
}

static lt_status hf_config(lt_llm_config *c, const cJSON *j, hf_factors *fx, const char *P, lt_err *err) {
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const char *a0 = cJSON_IsArray(archs) && cJSON_IsString(archs->child) ? archs->child->valuestring : NULL;
    const char *m = cJSON_IsString(mt) ? mt->valuestring : NULL;
    if ((a0 && !strcmp(a0, "LlamaForCausalLM")) || (!a0 && m && !strcmp(m, "llama"))) strcpy(c->arch, "llama");
    else if ((a0 && !strcmp(a0, "MistralForCausalLM")) || (!a0 && m && !strcmp(m, "mistral"))) strcpy(c->arch, "mistral");
    else if ((a0 && !strcmp(a0, "Qwen2ForCausalLM")) || (!a0 && m && !strcmp(m, "qwen2"))) strcpy(c->arch, "qwen2");
    else if ((a0 && !strcmp(a0, "Phi3ForCausalLM")) || (!a0 && m && !strcmp(m, "phi3"))) strcpy(c->arch, "phi3");
    else
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "%s: architecture '%.64s' is not supported (LlamaForCausalLM, MistralForCausalLM, "
                          "Qwen2ForCausalLM, Phi3ForCausalLM)", P, a0 ? a0 : m ? m : "(none)");
    LT_TRY(j_int(j, "hidden_size", true, 0, &c->dim, P, err));
    LT_TRY(j_int(j, "intermediate_size", true, 0, &c->hidden_dim, P, err));
    LT_TRY(j_int(j, "num_hidden_layers", true, 0, &c->n_layers, P, err));
    LT_TRY(j_int(j, "num_attention_heads", true, 0, &c->n_heads, P, err));
    LT_TRY(j_int(j, "num_key_value_heads", false, c->n_heads, &c->n_kv_heads, P, err));
    LT_TRY(j_int(j, "vocab_size", true, 0, &c->n_vocab, P, err));
    LT_TRY(j_int(j, "max_position_embeddings", false, 2048, &c->max_seq, P, err));
    if (c->n_heads < 1) return lt_err_set(err, LT_EFORMAT, "%s: num_attention_heads must be positive", P);
    LT_TRY(j_int(j, "head_dim", false, c->dim / c->n_heads, &c->head_dim, P, err));
    LT_TRY(j_num(j, "rms_norm_eps", 1e-6f, &c->norm_eps, P, err));
    for (size_t i = 0; i < sizeof k_unsupported / sizeof k_unsupported[0]; i++)
        if (!j_noop(cJSON_GetObjectItemCaseSensitive(j, k_unsupported[i])))
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: '%s' is not supported", P, k_unsupported[i]);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    if (act && !cJSON_IsNull(act) && !(cJSON_IsString(act) && !strcmp(act->valuestring, "silu")))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: hidden_act '%.32s' is not supported (silu)", P,
                          cJSON_IsString(act) ? act->valuestring : "?");
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings");
    c->tied_embeddings = cJSON_IsTrue(tie);
    bool llama = !strcmp(c->arch, "llama");
    /* transformers: Llama's attention_bias covers q, k, v and o and mlp_bias the three MLP
     * projections; Qwen2 always has q/k/v biases (no o bias); Mistral has none */
    bool ab = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "attention_bias"));
    bool mb = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "mlp_bias"));
    c->qkv_bias = !strcmp(c->arch, "qwen2") || (llama && ab);
    c->attn_out_bias = llama && ab;
    c->mlp_bias = llama && mb;
    c->rope_neox = true;
    LT_TRY(hf_rope(c, j, fx, P, err));
    return hf_window(c, j, P, err);
}

static bool safe_shard_name(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 256;
}

static lt_status open_shard(lt_modelsrc *src, const char *dir, const char *file, lt_safetensors **out, lt_err *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    lt_safetensors **a = lt_realloc(src->st, (size_t)(src->n_st + 1) * sizeof *a);
    if (!a) return lt_err_set(err, LT_ENOMEM, "out of memory");
    src->st = a;
    LT_TRY(lt_st_open(&a[src->n_st], path, err));
    *out = a[src->n_st++];
    return LT_OK;
}

/* Phi3's fused projections: qkv_proj rows are q, k, v and gate_up_proj rows gate, up (in
 * that order); each part becomes its own tensor, a view of the fused one's rows. *handled
 * says whether t was one of them. */
static lt_status split_fused(lt_modelsrc *src, const lt_src_tensor *t, const char *spath, bool *handled, lt_err *err) {
    *handled = false;
    const lt_llm_config *c = &src->cfg;
    if (strcmp(c->arch, "phi3") || strncmp(t->name, "model.layers.", 13)) return LT_OK;
    const char *p = t->name + 13;
    int l = 0, nd = 0;
    while (*p >= '0' && *p <= '9' && nd < 6) l = l * 10 + (*p++ - '0'), nd++;
    if (!nd || *p != '.') return LT_OK;
    static const char *const qkv[] = {"attn_q.weight", "attn_k.weight", "attn_v.weight"};
    static const char *const gu[] = {"ffn_gate.weight", "ffn_up.weight"};
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim, f = c->hidden_dim;
    int64_t rows_qkv[] = {q, kv, kv}, rows_gu[] = {f, f};
    const char *const *names;
    const int64_t *rows;
    int n;
    if (!strcmp(p + 1, "self_attn.qkv_proj.weight")) names = qkv, rows = rows_qkv, n = 3;
    else if (!strcmp(p + 1, "mlp.gate_up_proj.weight")) names = gu, rows = rows_gu, n = 2;
    else return LT_OK;
    *handled = true;
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += rows[i];
    if (t->ndim != 2 || t->shape[0] != total || t->shape[1] != c->dim || t->nbytes % (size_t)total)
        return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' is not [%lld, %d] as config.json says", spath, t->name,
                          (long long)total, c->dim);
    size_t rb = t->nbytes / (size_t)total, off = 0;
    for (int i = 0; i < n; i++) {
        lt_src_tensor part = *t;
        snprintf(part.name, sizeof part.name, "blk.%d.%s", l, names[i]);
        part.shape[0] = rows[i];
        part.data = (const char *)t->data + off;
        part.nbytes = (size_t)rows[i] * rb;
        off += part.nbytes;
        int e_nd;
        int64_t s[4] = {0};
        if (!lt_ms_expected_shape(c, part.name, &e_nd, s))
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' does not fit config.json (layer out of range?)",
                              spath, t->name);
        LT_TRY(lt_ms_push(src, &part, err));
    }
    return LT_OK;
}

/* Maps and checks every tensor of one shard. */
static lt_status add_shard_tensors(lt_modelsrc *src, lt_safetensors *st, const char *spath, lt_err *err) {
    for (int64_t i = 0; i < lt_st_n_tensors(st); i++) {
        lt_src_tensor t;
        lt_st_tensor(st, i, &t);
        char canon[96];
        bool fused;
        LT_TRY(split_fused(src, &t, spath, &fused, err));
        if (fused || !hf_to_canon(t.name, canon)) continue;
        if (!strcmp(canon, "output.weight") && src->cfg.tied_embeddings) continue;
        int nd;
        int64_t s[4] = {0};
        if (!lt_ms_expected_shape(&src->cfg, canon, &nd, s))
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' does not fit config.json (layer out of range?)",
                              spath, t.name);
        bool ok = nd == t.ndim;
        for (int d = 0; ok && d < nd; d++) ok = s[d] == t.shape[d];
        if (!ok) {
            char a[96], b[96];
            lt_ms_shape_str(t.ndim, t.shape, a, sizeof a);
            lt_ms_shape_str(nd, s, b, sizeof b);
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' has shape %s, config.json says %s", spath, t.name, a,
                              b);
        }
        snprintf(t.name, sizeof t.name, "%s", canon);
        LT_TRY(lt_ms_push(src, &t, err));
    }
    return LT_OK;
}

/* config.json of dir into src->cfg (and LongRoPE's factor tensors), the name from the folder;
 * *ct: its compressed-tensors config when ct is not NULL; *gq / *gptq: its GPTQ config when gq is
 * not NULL (and it is not a compressed-tensors checkpoint) */
static lt_status hf_read_config(lt_modelsrc *src, const char *dir, lt_ct_config *ct, lt_gptq_config *gq, bool *gptq,
                                lt_err *err) {
    char path[4096];
    cJSON *j = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    LT_TRY(read_json(path, &j, err));
    hf_factors fx = {{NULL, NULL}, 0};
    lt_status st = hf_config(&src->cfg, j, &fx, path, err);
    if (!st && ct) st = lt_ct_read_config(j, path, ct, err); /* compressed-tensors (2:4) */
    if (!st && gq && !(ct && ct->ct)) st = lt_gptq_read_config(dir, j, gq, gptq, err);
    cJSON_Delete(j);
    static const char *const fnames[2] = {"rope_factors_short.weight", "rope_factors_long.weight"};
    for (int i = 0; i < 2; i++) {
        if (!st && fx.f[i]) st = lt_modelsrc_add_owned(src, fnames[i], LT_F32, 1, (int64_t[]){fx.n}, fx.f[i], err);
        lt_free(fx.f[i]);
    }
    LT_TRY(st);
    LT_TRY(lt_llm_config_validate(&src->cfg, path, err));
    snprintf(path, sizeof path, "%s", dir);
    for (size_t k = strlen(path); k > 1 && path[k - 1] == '/'; k--) path[k - 1] = 0;
    const char *b = strrchr(path, '/');
    snprintf(src->cfg.name, sizeof src->cfg.name, "%.120s", b ? b + 1 : path);
    return LT_OK;
}

lt_status lt_hf_read_config(lt_modelsrc *src, const char *dir, lt_err *err) {
    return hf_read_config(src, dir, NULL, NULL, NULL, err);
}

lt_status lt_hf_read_vocab(lt_modelsrc *src, const char *dir, lt_err *err) {
    char path[4096];
    struct stat sb;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (stat(path, &sb) != 0) return LT_OK;
    LT_TRY(lt_vocab_from_hf(&src->vocab, path, err));
    if (src->vocab && src->vocab->n_tokens > src->cfg.n_vocab)
        return lt_err_set(err, LT_EFORMAT, "%s: tokenizer has %d tokens but vocab_size is %d", dir,
                          src->vocab->n_tokens, src->cfg.n_vocab);
    return LT_OK;
}

static lt_status open_hf(lt_modelsrc *src, const char *dir, lt_err *err) {
    char path[4096];
    cJSON *j = NULL;
    lt_gptq_config gq;
    bool gptq = false;
    lt_ct_config ct = {0};
    lt_status st = LT_OK;
    LT_TRY(hf_read_config(src, dir, &ct, &gq, &gptq, err));

    struct stat sb;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (stat(path, &sb) == 0) {
        LT_TRY(read_json(path, &j, err));
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
        if (!cJSON_IsObject(wm)) st = lt_err_set(err, LT_EFORMAT, "%s: 'weight_map' is missing", path);
        /* open each distinct shard once (in order of first mention), then check that every
         * listed tensor is in its shard */
        const char **names = lt_calloc((size_t)cJSON_GetArraySize(wm) + 1, sizeof *names);
        if (!st && !names) st = lt_err_set(err, LT_ENOMEM, "out of memory");
        for (const cJSON *e = wm ? wm->child : NULL; !st && e; e = e->next) {
            if (!cJSON_IsString(e) || !safe_shard_name(e->valuestring)) {
                st = lt_err_set(err, LT_EFORMAT, "%s: tensor '%.96s' maps to an invalid file name", path, e->string);
                break;
            }
            int k = 0;
            while (k < src->n_st && strcmp(names[k], e->valuestring)) k++;
            char sp[4096];
            snprintf(sp, sizeof sp, "%s/%s", dir, e->valuestring);
            if (k == src->n_st) {
                lt_safetensors *sh = NULL;
                if (stat(sp, &sb) != 0) {
                    st = lt_err_set(err, LT_ENOTFOUND,
                                    "%s: shard '%s' listed in model.safetensors.index.json is missing", dir,
                                    e->valuestring);
                    break;
                }
                st = open_shard(src, dir, e->valuestring, &sh, err);
                if (!st) st = add_shard_tensors(src, sh, sp, err);
                if (st) break;
                names[k] = e->valuestring;
            }
            if (lt_st_find(src->st[k], e->string) < 0)
                st = lt_err_set(err, LT_EFORMAT,
                                "%s: tensor '%.96s' listed in model.safetensors.index.json is not in the shard", sp,
                                e->string);
        }
        lt_free(names);
        cJSON_Delete(j);
        LT_TRY(st);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (stat(path, &sb) != 0)
            return lt_err_set(err, LT_ENOTFOUND, "%s: neither model.safetensors nor model.safetensors.index.json "
                              "found", dir);
        lt_safetensors *sh = NULL;
        LT_TRY(open_shard(src, dir, "model.safetensors", &sh, err));
        LT_TRY(add_shard_tensors(src, sh, path, err));
    }
    if (gptq) LT_TRY(lt_gptq_load(src, &gq, err)); /* qweight/qzeros/scales -> the linears */
    if (ct.sparse24) LT_TRY(lt_ct_load(src, &ct, err)); /* compressed/bitmask/shape -> the linears */
    char name[96], hf[128];
    for (int i = 0; lt_ms_required(&src->cfg, i, name); i++)
        if (!lt_modelsrc_find(src, name)) {
            canon_to_hf(name, hf);
            return lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' is missing from the safetensors file(s)", dir, hf);
        }
    LT_TRY(lt_ms_check_tensors(src, err));
    return lt_hf_read_vocab(src, dir, err);
}

lt_status lt_modelsrc_open_hf(lt_modelsrc **out, const char *dir, lt_err *err) {
    *out = NULL;
    lt_modelsrc *src = NULL;
    LT_TRY(lt_ms_new(&src, dir, "hf", err));
    lt_status st = open_hf(src, dir, err);
    if (st) {
        lt_modelsrc_close(src);
        return st;
    }
    lt_err_clear(err);
    *out = src;
    return LT_OK;
}

/* ==== writing ============================================================================ */

static lt_status write_text(const char *path, const char *text, lt_err *err) {
    lt_afile af;
    LT_TRY(lt_afile_open(&af, path, err));
    size_t n = strlen(text);
    return lt_afile_close(&af, fwrite(text, 1, n, af.f) == n, err);
}

static const char *torch_dtype(lt_dtype t) {
    return t == LT_F16 ? "float16" : t == LT_BF16 ? "bfloat16" : "float32";
}

/* The shortest decimal that reads back as the same float (1e-05, not 9.99999974737875e-06). */
static double short_float(float f) {
    char b[40];
    for (int prec = 6; prec < 10; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, (double)f);
        if (strtof(b, NULL) == f) break;
    }
    return strtod(b, NULL);
}

/* The transformers class and model_type of a config, or why it has none. */
static lt_status hf_names(const lt_llm_config *c, const char *dir, const char **arch_out, const char **mtype_out,
                          lt_err *err) {
    if (c->rope_scaling == LT_ROPE_SCALING_LONGROPE)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: LongRoPE (longrope rope_scaling) is not written as a Hugging "
                          "Face folder here", dir);
    if (!strcmp(c->arch, "phi3") || lt_llm_n_rot(c) != c->head_dim)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: %s cannot be written as a Hugging Face folder here (Phi3's "
                          "fused projections are not written back; transformers' Llama ignores partial rotary)", dir,
                          !strcmp(c->arch, "phi3") ? "a Phi3 model" : "partial rotary");
    /* a llama GGUF with a sliding window is a Mistral model (llama.cpp writes them as llama) */
    bool mistral = !strcmp(c->arch, "mistral") ||
                   (!strcmp(c->arch, "llama") && c->sliding_window > 0 && !c->attn_out_bias && !c->mlp_bias);
    const char *arch = !strcmp(c->arch, "qwen2") ? "Qwen2ForCausalLM"
                       : mistral ? "MistralForCausalLM" : "LlamaForCausalLM";
    const char *mtype = !strcmp(c->arch, "qwen2") ? "qwen2" : mistral ? "mistral" : "llama";
    if (!strcmp(mtype, "llama") && c->sliding_window > 0)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: a Llama model with biases and a sliding window has no "
                          "transformers equivalent", dir);
    if (!strcmp(mtype, "llama") ? c->qkv_bias != c->attn_out_bias
                                : c->attn_out_bias || c->mlp_bias || (c->qkv_bias != !strcmp(mtype, "qwen2")))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: this combination of projection biases has no transformers "
                          "equivalent for %s", dir, mtype);
    for (int l = 1; mistral && l < c->n_layers; l++)
        if (lt_llm_layer_window(c, l) != lt_llm_layer_window(c, 0))
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: transformers' Mistral has no sliding window in some layers "
                              "only", dir);
    *arch_out = arch;
    *mtype_out = mtype;
    return LT_OK;
}

static lt_status write_config(const lt_modelsrc *src, const char *dir, lt_dtype dt, const char *qcfg, bool untie,
                              lt_err *err) {
    const lt_llm_config *c = &src->cfg;
    const char *arch, *mtype;
    LT_TRY(hf_names(c, dir, &arch, &mtype, err));
    bool mistral = !strcmp(mtype, "mistral");
    cJSON *j = cJSON_CreateObject();
    if (!j) return lt_err_set(err, LT_ENOMEM, "out of memory");
    cJSON *a = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString(arch));
    cJSON_AddStringToObject(j, "model_type", mtype);
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "intermediate_size", c->hidden_dim);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(j, "rms_norm_eps", short_float(c->norm_eps));
    cJSON_AddNumberToObject(j, "rope_theta", short_float(c->rope_theta));
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->max_seq);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied_embeddings && !untie);
    cJSON_AddNumberToObject(j, "vocab_size", c->n_vocab);
    cJSON_AddStringToObject(j, "torch_dtype", torch_dtype(dt));
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    if (src->vocab && src->vocab->bos_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", src->vocab->bos_id);
    if (src->vocab && src->vocab->eos_id >= 0) cJSON_AddNumberToObject(j, "eos_token_id", src->vocab->eos_id);
    if (!strcmp(mtype, "llama")) {
        cJSON_AddBoolToObject(j, "attention_bias", c->attn_out_bias);
        cJSON_AddBoolToObject(j, "mlp_bias", c->mlp_bias);
    }
    if (c->sliding_window > 0) {
        cJSON_AddNumberToObject(j, "sliding_window", c->sliding_window);
        if (!strcmp(mtype, "qwen2")) {
            cJSON_AddBoolToObject(j, "use_sliding_window", true);
            cJSON *lt = cJSON_AddArrayToObject(j, "layer_types");
            for (int l = 0; l < c->n_layers; l++)
                cJSON_AddItemToArray(lt, cJSON_CreateString(lt_llm_layer_window(c, l) ? "sliding_attention"
                                                                                      : "full_attention"));
        }
    } else if (mistral) {
        cJSON_AddNullToObject(j, "sliding_window");
    }
    if (c->rope_scaling != LT_ROPE_SCALING_NONE) {
        cJSON *r = cJSON_AddObjectToObject(j, "rope_scaling");
        bool l3 = c->rope_scaling == LT_ROPE_SCALING_LLAMA3, yarn = c->rope_scaling == LT_ROPE_SCALING_YARN;
        cJSON_AddStringToObject(r, "rope_type", l3 ? "llama3" : yarn ? "yarn" : "linear");
        cJSON_AddNumberToObject(r, "factor", short_float(c->rope_factor));
        if (l3) {
            cJSON_AddNumberToObject(r, "low_freq_factor", short_float(c->rope_low_freq_factor));
            cJSON_AddNumberToObject(r, "high_freq_factor", short_float(c->rope_high_freq_factor));
            cJSON_AddNumberToObject(r, "original_max_position_embeddings", c->rope_orig_ctx);
        }
        if (yarn) {
            cJSON_AddNumberToObject(r, "original_max_position_embeddings", c->rope_orig_ctx);
            cJSON_AddNumberToObject(r, "beta_fast", short_float(c->rope_beta_fast > 0 ? c->rope_beta_fast : 32));
            cJSON_AddNumberToObject(r, "beta_slow", short_float(c->rope_beta_slow > 0 ? c->rope_beta_slow : 1));
            if (c->rope_yarn_no_truncate) cJSON_AddBoolToObject(r, "truncate", false);
            if (c->rope_attn_factor > 0)
                cJSON_AddNumberToObject(r, "attention_factor", short_float(c->rope_attn_factor));
        }
    }
    if (qcfg) {
        cJSON *q = cJSON_Parse(qcfg);
        if (q) cJSON_AddItemToObject(j, "quantization_config", q);
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return lt_err_set(err, LT_ENOMEM, "out of memory");
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    lt_status st = write_text(path, text, err);
    free(text);
    return st;
}

lt_status lt_hf_write_config(const lt_modelsrc *src, const char *dir, lt_dtype dtype, lt_err *err) {
    LT_TRY(lt_llm_config_validate(&src->cfg, src->path, err));
    return write_config(src, dir, dtype, NULL, false, err);
}

lt_status lt_modelsrc_write_hf(const lt_modelsrc *src, const char *dir, lt_dtype dtype, lt_err *err) {
    return lt_modelsrc_write_hf_ex(src, dir, dtype, NULL, err);
}

lt_status lt_modelsrc_write_hf_ex(const lt_modelsrc *src, const char *dir, lt_dtype dtype, const lt_hf_extra *x,
                                  lt_err *err) {
    const lt_llm_config *c = &src->cfg;
    LT_TRY(lt_llm_config_validate(c, src->path, err));
    const char *hf_arch, *hf_type;
    LT_TRY(hf_names(c, dir, &hf_arch, &hf_type, err));
    if (dtype != LT_DTYPE_COUNT && !lt_dtype_info(dtype)->st_name)
        return lt_err_set(err, LT_EINVAL, "%s: safetensors holds f32, f16 or bf16, not %s", dir,
                          lt_dtype_name(dtype));
    lt_status vst = src->vocab ? lt_vocab_hf_check(src->vocab, err) : LT_OK; /* before anything is written */
    if (vst) {
        lt_err_prefix(err, "%s", dir);
        return vst;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return lt_err_set(err, LT_EIO, "%s: cannot create the folder: %s", dir, strerror(errno));
    const int nx = x ? x->n_entries : 0;
    lt_st_entry *e = lt_calloc((size_t)(src->n + nx) + 1, sizeof *e);
    void **bufs = lt_calloc((size_t)src->n * 2 + 1, sizeof *bufs);
    char (*names)[128] = lt_calloc((size_t)src->n + 1, sizeof *names);
    int nb = 0, ne = 0;
    lt_status st = (e && bufs && names) ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    lt_dtype cfg_dt = LT_F32;
    for (int i = 0; !st && i < src->n; i++) {
        const lt_src_tensor *t = &src->t[i];
        if (x && x->skip && x->skip(x->ctx, t->name)) continue;
        if (!canon_to_hf(t->name, names[ne])) {
            st = lt_err_set(err, LT_EUNSUPPORTED, "%s: tensor '%s' has no Hugging Face equivalent%s", dir, t->name,
                            !strcmp(t->name, "rope_freqs.weight") ? " (Llama 3.1 rope factors)"
                            : c->sliced ? " (a SliceGPT model: --format slicegpt writes TransformerCompression's folder)"
                                        : "");
            break;
        }
        lt_dtype want = dtype;
        if (want == LT_DTYPE_COUNT) /* the source's dtype where safetensors holds it, else f32 */
            want = lt_dtype_info(t->dtype)->st_name ? t->dtype : LT_F32;
        if (!strcmp(t->name, "token_embd.weight")) cfg_dt = want;
        void *data;
        size_t n;
        st = lt_ms_convert(t, want, &data, &n, err);
        if (st) break;
        bufs[nb++] = data;
        int l, heads = 0;
        const char *suf;
        if (!c->rope_neox && lt_ms_split_layer(t->name, &l, &suf)) {
            if (!strcmp(suf, "attn_q.weight") || !strcmp(suf, "attn_q.bias")) heads = c->n_heads;
            if (!strcmp(suf, "attn_k.weight") || !strcmp(suf, "attn_k.bias")) heads = c->n_kv_heads;
        }
        if (heads) {
            void *p = lt_malloc(n ? n : 1);
            if (!p) {
                st = lt_err_set(err, LT_ENOMEM, "out of memory");
                break;
            }
            bufs[nb++] = p;
            lt_ms_permute_rows(p, data, heads, c->head_dim, lt_row_bytes(want, t->ndim == 1 ? 1 : t->shape[t->ndim - 1]), false);
            data = p;
        }
        e[ne].name = names[ne];
        e[ne].dtype = want;
        e[ne].ndim = t->ndim;
        memcpy(e[ne].shape, t->shape, sizeof e[ne].shape);
        e[ne].data = data;
        ne++;
    }
    for (int i = 0; !st && i < nx; i++) e[ne++] = x->entries[i];
    if (!st) {
        char path[4096];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        st = lt_st_write(path, e, ne, err);
    }
    if (!st) st = write_config(src, dir, cfg_dt, x ? x->quant_config : NULL, x && x->untie, err);
    if (!st && src->vocab) st = lt_vocab_write_hf(src->vocab, dir, err); /* tokenizer.json + tokenizer_config.json */
    for (int i = 0; i < nb; i++) lt_free(bufs[i]);
    lt_free(bufs);
    lt_free(e);
    lt_free(names);
    return st;
}
