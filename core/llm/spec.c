/* spec.c - speculative decoding's settings, parsing, option rows, the draft-model check and
 * the acceptance rule (see spec.h), which the serving engine (core/llm/engine.c) and TriForce's
 * drafter (spec_triforce.c) use. The lt_spec object, one engine request per call, is
 * spec_run.c (it sits above the engine, so that the engine never includes its own caller).
 */
#include "spec.h"

#include <string.h>


lt_spec_params lt_spec_defaults(lt_spec_kind kind) {
    lt_spec_params p = {0};
    p.kind = kind;
    return p;
}

const char *lt_spec_kind_name(lt_spec_kind k) {
    switch (k) {
    case LT_SPEC_NGRAM: return "ngram";
    case LT_SPEC_DRAFT: return "draft";
    case LT_SPEC_TRIFORCE: return "triforce";
    default: return "off";
    }
}

lt_status lt_spec_parse(const char *text, lt_spec_kind *kind, const char **model, lt_err *err) {
    static const lt_spec_kind all[] = {LT_SPEC_OFF, LT_SPEC_NGRAM, LT_SPEC_DRAFT, LT_SPEC_TRIFORCE};
    *model = NULL;
    const char *colon = text ? strchr(text, ':') : NULL;
    size_t n = text ? (colon ? (size_t)(colon - text) : strlen(text)) : 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *name = lt_spec_kind_name(all[i]);
        if (!text || strlen(name) != n || strncmp(text, name, n)) continue;
        *kind = all[i];
        if (colon) *model = colon + 1;
        if (all[i] == LT_SPEC_DRAFT && (!colon || !colon[1]))
            return lt_err_set(err, LT_EINVAL, "speculation 'draft' needs a model: draft:MODEL");
        if (colon && (all[i] == LT_SPEC_OFF || all[i] == LT_SPEC_NGRAM || !colon[1]))
            return lt_err_set(err, LT_EINVAL, "speculation '%s' takes no model", name);
        return LT_OK;
    }
    return lt_err_set(err, LT_EINVAL, "unknown speculation '%s' (off, ngram, draft:MODEL, triforce[:MODEL])",
                      text ? text : "");
}

lt_status lt_spec_parse_engine(const char *spec, int gamma, int *ngram, int *draft, const char **model, lt_err *err) {
    *ngram = *draft = 0;
    *model = NULL;
    lt_spec_kind k = LT_SPEC_OFF;
    if (spec && lt_spec_parse(spec, &k, model, err) != LT_OK) return lt_err_prefix(err, "--spec");
    if (k == LT_SPEC_TRIFORCE)
        return lt_err_set(err, LT_EINVAL,
                          "--spec triforce needs a TriForce drafter per request, which the server does not "
                          "keep (lathe generate and the chat have one): ngram or draft:MODEL here");
    if (k == LT_SPEC_OFF && gamma > 0) return lt_err_set(err, LT_EINVAL, "--gamma needs --spec ngram or --spec draft:MODEL");
    if (gamma < 0 || gamma > 64) return lt_err_set(err, LT_EINVAL, "--gamma expects 1..64 drafts, got %d", gamma);
    if (k == LT_SPEC_NGRAM) *ngram = gamma > 0 ? gamma : 4;
    if (k == LT_SPEC_DRAFT) *draft = gamma > 0 ? gamma : 4;
    return LT_OK;
}

int lt_spec_accept(lt_sampler *smp, int V, const float *logits, int32_t *hist, int n, int k, const float *q, float *p,
                   bool p_rows, float *resid) {
    for (int i = 0; i <= k; i++) {
        float *pi = p + (p_rows ? (size_t)i * V : 0);
        lt_sampler_dist(smp, logits + (size_t)i * V, hist, n + i, pi);
        if (i == k) { /* everything accepted: one bonus token */
            hist[n + k] = lt_sampler_draw(smp, pi, V);
            return k + 1;
        }
        int32_t d = hist[n + i];
        const float *qi = q ? q + (size_t)i * V : NULL;
        double pd = pi[d], qv = qi ? qi[d] : 1.0, u = lt_sampler_uniform(smp);
        if (qv > 0 && u * qv < pd) continue; /* accept with probability min(1, p/q) */
        double tot = 0;                       /* residual max(0, p - q), normalised by the draw */
        for (int j = 0; j < V; j++) {
            float qj = qi ? qi[j] : (j == d ? 1.0f : 0.0f);
            resid[j] = pi[j] > qj ? pi[j] - qj : 0.0f;
            tot += resid[j];
        }
        hist[n + i] = tot > 0 ? lt_sampler_draw(smp, resid, V) : lt_sampler_draw(smp, pi, V);
        return i + 1;
    }
    return 0; /* not reached */
}


void lt_spec_opts_add(lt_spec_params *p, lt_opt *table, int cap) {
    const lt_opt o[LT_SPEC_N_OPTS] = {
        {"--gamma", NULL, LT_OPT_INT, &p->gamma, "tokens drafted per target step (default 4; TriForce 6)", 1, 64},
        {"--adaptive", NULL, LT_OPT_FLAG, &p->adaptive, "adapt gamma to the acceptance rate"},
        {"--budget", NULL, LT_OPT_INT, &p->budget, "TriForce retrieval cache in tokens (default 4096)", 1, 1 << 20},
        {"--chunk", NULL, LT_OPT_INT, &p->chunk, "TriForce chunk in tokens (default 16; also the KV block size)", 1,
         4096},
        {"--gamma-bottom", NULL, LT_OPT_INT, &p->gamma_bottom, "TriForce: tokens the bottom level drafts (default 4)", 1,
         64},
        {"--window", NULL, LT_OPT_INT, &p->window, "TriForce: StreamingLLM window of the bottom model (default 256)", 1,
         1 << 20},
    };
    int n = 0;
    while (table[n].name) n++;
    LT_ASSERT(n + LT_SPEC_N_OPTS < cap);
    memcpy(table + n, o, sizeof o);
    table[n + LT_SPEC_N_OPTS] = (lt_opt){0};
}

lt_status lt_spec_draft_check(const lt_lm *target, const lt_lm *draft, const char *who, lt_err *err) {
    int V = lt_lm_config(target)->n_vocab, Vd = lt_lm_config(draft)->n_vocab;
    if (Vd != V)
        return lt_err_set(err, LT_EINVAL,
                          "%sthe draft model has a vocabulary of %d tokens, the target %d: speculative decoding needs "
                          "a draft model with the target's tokenizer",
                          who, Vd, V);
    if (lt_lm_backend(draft) != lt_lm_backend(target))
        return lt_err_set(err, LT_EINVAL, "%sthe draft model and the target must be on the same backend", who);
    return LT_OK;
}

int lt_spec_ngram_propose(int32_t *h, int n, int want, int ngram_max) {
    for (int g = ngram_max; g >= 1 && want > 0; g--) {
        if (n < g + 1) continue;
        for (int st = n - g - 1; st >= 0; st--) {
            if (memcmp(h + st, h + n - g, (size_t)g * sizeof(int32_t))) continue;
            for (int k = 0; k < want; k++) h[n + k] = h[st + g + k]; /* st + g + k < n + k */
            return want;
        }
    }
    return 0;
}
