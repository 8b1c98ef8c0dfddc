/* spec_run.c - the lt_spec object of spec.h: lt_spec_generate as one request through the
 * serving engine (core/llm/engine.c runs the drafting and verification of every kind;
 * TriForce's drafter is spec_triforce.c).
 *
 * What an lt_spec keeps between calls: the conversation's tokens (a chat's next call may pass
 * past = NULL), the draft model's cache and its sequence (holding a prefix of that
 * conversation, so the next turn's draft reads only what is new), TriForce's drafter (its
 * bottom model's StreamingLLM cache), and adaptive gamma.
 */
#include <string.h>

#include "core/base/alloc.h"
#include "engine.h"
#include "spec.h"

struct lt_spec {
    lt_spec_params p;
    lt_lm *target;
    lt_kv_cache *kv;
    int V;
    lt_kv_cache *draft_kv; /* DRAFT: the draft model's cache, kept across calls */
    int dseq;              /* its sequence: holds hist[0 .. its length) */
    lt_spec_tf *tf;        /* TRIFORCE */
    int gamma;             /* drafts per step (adaptive: carried to the next call) */
    int32_t *hist;         /* the last call's tokens: past, prompt, generated (rec_n of them) */
    int hist_cap;
    int rec_n, rec_seq;    /* rec_seq -1: no record */
};

const lt_spec_params *lt_spec_get_params(const lt_spec *s) { return &s->p; }

void lt_spec_free(lt_spec *s) {
    if (!s) return;
    lt_spec_tf_free(s->tf);
    lt_kv_free(s->draft_kv);
    lt_free(s->hist);
    lt_free(s);
}

lt_status lt_spec_create(lt_spec **out, lt_lm *target, lt_kv_cache *kv, const lt_spec_params *pp, lt_err *err) {
    *out = NULL;
    lt_spec_params p = *pp;
    if (p.kind < LT_SPEC_OFF || p.kind > LT_SPEC_TRIFORCE) return lt_err_set(err, LT_EINVAL, "speculation: bad kind");
    if (p.gamma < 0 || p.gamma_max < 0 || p.budget < 0 || p.chunk < 0 || p.gamma_bottom < 0 || p.sinks < 0 ||
        p.window < 0 || p.ngram_max < 0)
        return lt_err_set(err, LT_EINVAL, "speculation: gamma, budget, chunk, sinks and window must not be negative");
    if (p.gamma_max == 0) p.gamma_max = 12;
    if (p.gamma == 0) p.gamma = p.kind == LT_SPEC_TRIFORCE ? 6 : 4;
    if (p.gamma > 64 || p.gamma_max > 64 || p.gamma_bottom > 64)
        return lt_err_set(err, LT_EINVAL, "speculation: gamma above 64 is not supported");
    if (p.gamma_max < p.gamma) p.gamma_max = p.gamma;
    if (p.ngram_max == 0) p.ngram_max = 4;
    if (p.kind == LT_SPEC_TRIFORCE) { /* the TriForce defaults, reported by lt_spec_get_params */
        if (p.gamma_bottom == 0) p.gamma_bottom = 4;
        if (p.budget == 0) p.budget = 4096;
        if (p.window == 0) p.window = 256;
        if (p.sinks == 0) p.sinks = 16;
        if (p.chunk == 0) p.chunk = lt_kv_block_size(kv);
    }
    int V = lt_lm_config(target)->n_vocab;
    if (p.kind == LT_SPEC_DRAFT && !p.draft)
        return lt_err_set(err, LT_EINVAL, "speculation: 'draft' needs a draft model");
    if (p.kind != LT_SPEC_DRAFT && p.kind != LT_SPEC_TRIFORCE) p.draft = NULL;
    if (p.draft) LT_TRY(lt_spec_draft_check(target, p.draft, "", err));
    lt_spec *S = lt_calloc(1, sizeof *S);
    if (!S) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    S->p = p;
    S->target = target;
    S->kv = kv;
    S->V = V;
    S->dseq = -1;
    S->rec_seq = -1;
    S->gamma = p.gamma;
    S->hist_cap = lt_kv_max_ctx(kv) + 2;
    S->hist = lt_malloc((size_t)S->hist_cap * sizeof(int32_t));
    lt_status s = S->hist ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (s == LT_OK && p.kind == LT_SPEC_TRIFORCE) s = lt_spec_tf_create(&S->tf, target, kv, &p, err);
    if (s == LT_OK && p.kind == LT_SPEC_DRAFT) {
        lt_kv_opts ko = lt_lm_kv_opts(p.draft, lt_kv_max_ctx(kv), 2);
        ko.block_size = lt_kv_block_size(kv);
        s = lt_kv_create(&S->draft_kv, lt_lm_backend(p.draft), &ko, err);
        if (s != LT_OK) lt_err_prefix(err, "draft model cache");
        if (s == LT_OK) s = lt_kv_seq_new(S->draft_kv, &S->dseq, err);
    }
    if (s != LT_OK) {
        lt_spec_free(S);
        return s;
    }
    *out = S;
    return LT_OK;
}

/* The engine's callbacks report drafted tokens; lt_spec_generate's record them too. */
typedef struct spec_out {
    lt_spec_cb cb;
    void *ud;
    bool *drafted;
    int cap, n;
} spec_out;

static bool on_token(void *ud, int32_t id, const char *text, size_t len, bool drafted) {
    spec_out *o = ud;
    if (id >= 0 && o->drafted && o->n < o->cap) o->drafted[o->n] = drafted;
    if (id >= 0) o->n++;
    return o->cb ? o->cb(o->ud, id, text, len, drafted) : true;
}

lt_status lt_spec_generate(lt_spec *S, const lt_tokenizer *tok, int seq, const int32_t *past, int n_past,
                           const int32_t *prompt, int n_prompt, const lt_gen_params *gp, lt_spec_cb cb, void *ud,
                           int32_t *out_ids, bool *drafted, int out_cap, lt_spec_stats *st, lt_err *err) {
    lt_spec_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    st->gen.n_prompt = n_prompt;
    st->n_levels = S->p.kind == LT_SPEC_OFF ? 0 : S->p.kind == LT_SPEC_TRIFORCE ? 2 : 1;
    if (n_prompt <= 0) return lt_err_set(err, LT_EINVAL, "generate: the prompt has no tokens");
    if (!lt_kv_seq_valid(S->kv, seq)) return lt_err_set(err, LT_EINVAL, "generate: sequence %d does not exist", seq);
    if (lt_kv_seq_len(S->kv, seq) != n_past)
        return lt_err_set(err, LT_EINVAL, "speculation: sequence %d holds %d tokens but %d past tokens were given",
                          seq, lt_kv_seq_len(S->kv, seq), n_past);
    if (n_past > 0 && !past) { /* what the previous call on this sequence left */
        if (S->rec_seq != seq || S->rec_n < n_past)
            return lt_err_set(err, LT_EINVAL,
                              "speculation: the %d tokens already in sequence %d are unknown to it (pass them, or "
                              "start the conversation with speculation on)",
                              n_past, seq);
        past = S->hist;
    }
    int ctx = lt_kv_max_ctx(S->kv);
    if (n_past + n_prompt > ctx)
        return lt_err_set(err, LT_ERANGE, "generate: prompt of %d tokens does not fit the context (%d of %d used)",
                          n_prompt, n_past, ctx);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= S->V)
            return lt_err_set(err, LT_ERANGE, "generate: token id %d outside the vocabulary", prompt[i]);
    /* the draft's sequence keeps what agrees with this call's past (a chat: all it had) */
    if (S->draft_kv) {
        int dl = lt_kv_seq_len(S->draft_kv, S->dseq), common = 0;
        if (S->rec_seq < 0 || dl > S->rec_n) dl = 0;
        if (dl > n_past) dl = n_past;
        while (common < dl && past[common] == S->hist[common]) common++;
        lt_kv_seq_truncate(S->draft_kv, S->dseq, common);
    }
    if (n_past && past != S->hist) memmove(S->hist, past, (size_t)n_past * sizeof(int32_t));
    S->rec_seq = -1;
    if (!S->p.adaptive) S->gamma = S->p.gamma;

    lt_engine_opts eo = {.policy = LT_POLICY_SARATHI, .tok = tok, .draft = S->draft_kv ? S->p.draft : NULL,
                         .draft_kv = S->draft_kv};
    lt_engine *e;
    LT_TRY(lt_engine_create(&e, S->target, S->kv, &eo, err));
    spec_out so = {.cb = cb, .ud = ud, .drafted = drafted, .cap = out_cap};
    lt_req_params rp = {.prompt = prompt, .n_prompt = n_prompt, .gen = *gp, .spec_cb = on_token, .ud = &so,
                        .seq = seq, .out_ids = out_ids, .out_cap = out_cap, .past = n_past ? S->hist : NULL,
                        .n_past = n_past, .spec_adaptive = S->p.adaptive, .gamma_max = S->p.gamma_max,
                        .ngram_max = S->p.ngram_max};
    if (S->p.kind == LT_SPEC_NGRAM) rp.spec_ngram = S->gamma;
    if (S->p.kind == LT_SPEC_DRAFT) {
        rp.spec_draft = S->gamma;
        rp.keep_draft = true;
        rp.draft_seq = S->dseq;
    }
    if (S->p.kind == LT_SPEC_TRIFORCE) {
        rp.spec_triforce = S->gamma;
        rp.tf = S->tf;
    }
    int id;
    lt_status s = lt_engine_add(e, &rp, &id, err);
    while (s == LT_OK && !lt_engine_idle(e)) s = lt_engine_step(e, NULL, err);
    if (s == LT_OK) {
        const lt_req_result *r = lt_engine_result(e, id);
        st->gen = r->st;
        if (r->status != LT_OK) s = lt_err_set(err, r->status, "%s", r->msg);
        lt_spec_level_stats *l0 = &st->level[0];
        l0->drafted = r->drafted;
        l0->accepted = r->accepted;
        l0->steps = r->spec_steps;
        l0->accept_rate = l0->drafted ? (double)l0->accepted / (double)l0->drafted : 0;
        l0->mean_len = l0->steps ? (double)(l0->accepted + l0->steps) / (double)l0->steps : 0;
        if (S->tf) lt_spec_tf_stats(S->tf, &st->level[1]);
        st->n_drafted_out = r->n_drafted_out;
        st->gamma = r->gamma;
        if (S->p.adaptive && r->gamma > 0) S->gamma = r->gamma;
        int ng;
        const int32_t *gen = lt_engine_tokens(e, id, &ng);
        if (s == LT_OK && n_past + n_prompt + ng <= S->hist_cap) { /* remembered for a call with past = NULL */
            memcpy(S->hist + n_past, prompt, (size_t)n_prompt * sizeof(int32_t));
            memcpy(S->hist + n_past + n_prompt, gen, (size_t)ng * sizeof(int32_t));
            S->rec_n = n_past + n_prompt + ng;
            S->rec_seq = seq;
        }
    }
    lt_engine_free(e);
    if (S->draft_kv && S->rec_seq < 0) lt_kv_seq_truncate(S->draft_kv, S->dseq, 0);
    return s;
}
