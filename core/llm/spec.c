/* spec.c - speculative decoding over lt_lm (see spec.h).
 *
 * Levels: level 0 is the target over the caller's sequence; level 1 drafts for it (n-gram,
 * a draft model, or TriForce's retrieval view of the target's own cache); level 2 (TriForce
 * only) drafts for level 1. Every model level keeps the tokens it has fed (ctok, by true
 * position) and, before each use, truncates its cache to the longest prefix that agrees with
 * the current context, so rollback after a rejection is just that truncation. A level's
 * cache rows [0, head) are frozen (sinks, retrieved chunks); rows from head hold the true
 * positions [tstart, fed) contiguously, rotated at their true positions (lt_batch.rope_pos).
 * The chunk scoring of the retrieval level lives in spec_triforce.c.
 */
#include "spec.h"

#include <math.h>
#include <string.h>

#include "core/base/alloc.h"
#include "spec_impl.h"

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
                          "--spec triforce runs in lathe generate's own loop, not in the serving engine "
                          "(ngram or draft:MODEL here)");
    if (k == LT_SPEC_OFF && gamma > 0) return lt_err_set(err, LT_EINVAL, "--gamma needs --spec ngram or --spec draft:MODEL");
    if (gamma < 0 || gamma > 64) return lt_err_set(err, LT_EINVAL, "--gamma expects 1..64 drafts, got %d", gamma);
    if (k == LT_SPEC_NGRAM) *ngram = gamma > 0 ? gamma : 4;
    if (k == LT_SPEC_DRAFT) *draft = gamma > 0 ? gamma : 4;
    return LT_OK;
}

const lt_spec_params *lt_spec_get_params(const lt_spec *s) { return &s->p; }

/* ---- levels ------------------------------------------------------------------------------ */

static lt_status level_init(lt_spec *S, spec_level *L, int kind, lt_lm *lm, lt_kv_cache *kv, uint64_t seed,
                            const lt_sampler_params *sp, lt_err *err) {
    L->kind = kind;
    L->lm = lm;
    L->kv = kv;
    L->seq = -1;
    L->ctok = lt_calloc((size_t)S->hist_cap, sizeof(int32_t));
    if (!L->ctok) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (kind != LV_NGRAM) {
        L->logits = lt_malloc((size_t)(S->gmax + 2) * S->V * sizeof(float));
        if (!L->logits) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    lt_sampler_params p = *sp;
    p.seed = seed;
    return lt_sampler_create(&L->smp, &p, S->V, err);
}

static void level_drop_seq(spec_level *L) {
    if (L->seq >= 0 && L->own_seq) lt_kv_seq_free(L->kv, L->seq);
    if (L->own_seq) L->seq = -1;
    L->fed = 0;
    L->head = L->tstart = L->sinks;
    L->trimmed = false;
}

static lt_status level_reset(spec_level *L, lt_err *err) {
    level_drop_seq(L);
    return lt_kv_seq_new(L->kv, &L->seq, err);
}

static void level_free(spec_level *L) {
    if (!L) return;
    if (L->kv && L->seq >= 0 && L->own_seq && lt_kv_seq_valid(L->kv, L->seq)) lt_kv_seq_free(L->kv, L->seq);
    lt_free(L->ctok);
    lt_free(L->logits);
    lt_sampler_free(L->smp);
}

void lt_spec_free(lt_spec *s) {
    if (!s) return;
    for (int i = 0; i < SPEC_MAX_LEVELS; i++) level_free(&s->lv[i]);
    lt_kv_free(s->draft_kv);
    lt_free(s->hist);
    lt_free(s->q1);
    lt_free(s->q2);
    lt_free(s->pbuf);
    lt_free(s->rbuf);
    lt_free(s->bidx);
    spec_tf_free(s);
    lt_free(s);
}

/* Drops the last round-trip's divergent tail: keeps the longest prefix of the fed tokens
 * that agrees with hist[0..n), and at most n - 1 of them (the last token is always fed
 * again, to get its logits). */
static lt_status level_sync(lt_spec *S, spec_level *L, int n, lt_err *err) {
    int lim = L->fed < n - 1 ? L->fed : n - 1, common = 0;
    while (common < lim && L->ctok[common] == S->hist[common]) common++;
    if (common == L->fed) return LT_OK;
    if (L->trimmed && common < L->tstart) {
        if (L->kind == LV_RETRIEVAL) return lt_err_set(err, LT_EINVAL, "speculation: retrieval view out of step");
        return level_reset(L, err);
    }
    lt_kv_seq_truncate(L->kv, L->seq, L->head + common - L->tstart);
    L->fed = common;
    return LT_OK;
}

/* StreamingLLM: drops whole blocks after the sinks so that `extra` more tokens fit the
 * window. */
static lt_status level_trim(lt_spec *S, spec_level *L, int extra, lt_err *err) {
    if (L->window <= 0 || L->fed <= L->tstart) return LT_OK;
    int bs = lt_kv_block_size(L->kv), tail = L->fed - L->tstart;
    if (tail + extra <= L->window) return LT_OK;
    int drop = (tail + extra - L->window + bs - 1) / bs, full = tail / bs;
    if (drop > full) drop = full;
    if (drop <= 0) return LT_OK;
    int len = lt_kv_seq_len(L->kv, L->seq), nb = (len + bs - 1) / bs;
    int k = 0;
    for (int b = 0; b < L->head / bs; b++) S->bidx[k++] = b;
    for (int b = L->head / bs + drop; b < nb; b++) S->bidx[k++] = b;
    int nseq;
    LT_TRY(lt_kv_seq_compose(L->kv, L->seq, S->bidx, k, &nseq, err));
    lt_kv_seq_free(L->kv, L->seq);
    L->seq = nseq;
    L->tstart += drop * bs;
    L->trimmed = true;
    return LT_OK;
}

/* Feeds hist[L->fed .. to) to a model level; logits of the last n_logits rows into L->logits. */
static lt_status level_feed(lt_spec *S, spec_level *L, int to, int n_logits, float *q_last, lt_err *err) {
    int piece_max = L->window > 0 ? (L->window / 2 > 80 ? L->window / 2 : 80) : to - L->fed;
    while (L->fed < to) {
        int from = L->fed, n = to - from < piece_max ? to - from : piece_max;
        if (to - from - n > 0 && to - from - n < n_logits) n = to - from - n_logits; /* logits in the last piece */
        bool last = from + n == to;
        LT_TRY(level_trim(S, L, n, err));
        int32_t *pos = S->bpos, *rp = S->brope, *sq = S->bseq;
        bool *want = S->bwant;
        for (int i = 0; i < n; i++) {
            rp[i] = from + i;
            pos[i] = L->head + from + i - L->tstart;
            sq[i] = L->seq;
            want[i] = last && i >= n - n_logits;
        }
        lt_batch b = {.n_tokens = n, .tokens = S->hist + from, .seq = sq, .pos = pos, .logits = want,
                      .rope_pos = rp, .q_last = last ? q_last : NULL};
        LT_TRY(lt_lm_forward(L->lm, L->kv, &b, L->logits, err));
        memcpy(L->ctok + from, S->hist + from, (size_t)n * sizeof(int32_t));
        L->fed = from + n;
    }
    return LT_OK;
}

/* ---- n-gram lookup ------------------------------------------------------------------------- */

/* Proposes want tokens after hist[0..n) into hist[n..]: the continuation of the latest
 * earlier occurrence of the longest matching suffix (ngram_max down to 1 tokens). A match d
 * tokens back continues periodically (copying from the proposal itself), so a loop of
 * period d is drafted in full. */
static int ngram_propose(lt_spec *S, int n, int want) {
    int32_t *h = S->hist;
    for (int g = S->ngram_max; g >= 1; g--) {
        if (n < g + 1) continue;
        for (int st = n - g - 1; st >= 0; st--) {
            if (memcmp(h + st, h + n - g, (size_t)g * sizeof(int32_t))) continue;
            for (int k = 0; k < want; k++) h[n + k] = h[st + g + k]; /* st + g + k < n + k */
            return want;
        }
    }
    return 0;
}

/* ---- drafting and verification --------------------------------------------------------------- */

static void level_account(spec_level *L, int drafted, int accepted) {
    L->st.drafted += drafted;
    L->st.accepted += accepted;
    L->st.steps++;
}

static void adapt(lt_spec *S, spec_level *D, int drafted, int accepted) {
    if (!S->p.adaptive || drafted <= 0) return;
    if (accepted == drafted && D->gamma < S->gmax) D->gamma++;
    else if (2 * accepted < drafted && D->gamma > 1) D->gamma--;
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

static lt_status verify(lt_spec *S, int li, int n, int k, const float *qd, float *pout, int *m_out, lt_err *err);

/* Level li (>= 1) drafts up to want tokens after hist[0..n) into hist[n..n+k), with their
 * distributions under level li in q rows [k][V]. */
/* A level's logits had no token that can be chosen (all NaN): an error, never a wild id. */
static lt_status nan_logits(int pos, lt_err *err) {
    return lt_err_set(err, LT_EFORMAT, "the model produced NaN logits at position %d", pos);
}

static lt_status draft(lt_spec *S, int li, int n, int want, float *q, int *k_out, lt_err *err) {
    spec_level *L = &S->lv[li];
    int V = S->V;
    *k_out = 0;
    if (want <= 0) return LT_OK;
    if (L->kind == LV_NGRAM) {
        int k = ngram_propose(S, n, want);
        for (int i = 0; i < k; i++) {
            memset(q + (size_t)i * V, 0, (size_t)V * sizeof(float));
            q[(size_t)i * V + S->hist[n + i]] = 1.0f;
        }
        *k_out = k;
        return LT_OK;
    }
    if (li + 1 < S->n_levels && li + 1 < SPEC_MAX_LEVELS) { /* drafted itself by the level below, verified here */
        spec_level *D = &S->lv[li + 1];
        int have = 0;
        while (have < want) {
            int k2 = D->gamma < want - have ? D->gamma : want - have, got = 0, m = 0;
            LT_TRY(draft(S, li + 1, n + have, k2, S->q2, &got, err));
            LT_TRY(verify(S, li, n + have, got, S->q2, q + (size_t)have * V, &m, err));
            adapt(S, D, got, m - 1);
            have += m;
        }
        *k_out = want; /* a bonus token past want is dropped: a prefix of an exact sample */
        return LT_OK;
    }
    /* plain autoregressive drafting */
    LT_TRY(level_sync(S, L, n, err));
    LT_TRY(level_feed(S, L, n, 1, NULL, err));
    for (int i = 0; i < want; i++) {
        float *qi = q + (size_t)i * V;
        lt_sampler_dist(L->smp, L->logits, S->hist + S->pen0, n + i - S->pen0, qi);
        S->hist[n + i] = lt_sampler_draw(L->smp, qi, V);
        if (S->hist[n + i] < 0) return nan_logits(n + i - 1, err);
        if (i + 1 < want) LT_TRY(level_feed(S, L, n + i + 1, 1, NULL, err));
    }
    *k_out = want;
    return LT_OK;
}

/* Level li checks drafts hist[n..n+k) (distributions qd [k][V]) in one forward; accepted
 * drafts stay, then a correction or bonus token; m = tokens now in hist[n..n+m). pout
 * receives level li's distribution of each of them (rows [m][V]). */
static lt_status verify(lt_spec *S, int li, int n, int k, const float *qd, float *pout, int *m_out, lt_err *err) {
    spec_level *L = &S->lv[li];
    int V = S->V;
    LT_TRY(level_sync(S, L, n, err));
    bool want_q = li == 0 && S->tf && n + k > S->p.budget; /* the retrieval view will be sparse */
    LT_TRY(level_feed(S, L, n + k, k + 1, want_q ? S->tf_q : NULL, err));
    int m = lt_spec_accept(L->smp, V, L->logits, S->hist + S->pen0, n - S->pen0, k, qd, pout, true, S->rbuf);
    if (S->hist[n + m - 1] < 0) return nan_logits(n + m - 2, err);
    level_account(L, k, m - 1);
    *m_out = m;
    return LT_OK;
}

/* ---- create ------------------------------------------------------------------------------- */

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
    if (p.gamma_bottom == 0) p.gamma_bottom = 4;
    if (p.ngram_max == 0) p.ngram_max = 4;
    if (p.budget == 0) p.budget = 4096;
    if (p.window == 0) p.window = 256;
    if (p.sinks == 0) p.sinks = 16;
    int bs = lt_kv_block_size(kv);
    if (p.chunk == 0) p.chunk = bs;
    int V = lt_lm_config(target)->n_vocab;
    if (p.kind == LT_SPEC_DRAFT && !p.draft)
        return lt_err_set(err, LT_EINVAL, "speculation: 'draft' needs a draft model");
    if (p.kind != LT_SPEC_DRAFT && p.kind != LT_SPEC_TRIFORCE) p.draft = NULL;
    if (p.draft && lt_lm_config(p.draft)->n_vocab != V)
        return lt_err_set(err, LT_EINVAL,
                          "draft model has a vocabulary of %d tokens, the target %d: speculative decoding needs "
                          "a draft model with the target's tokenizer",
                          lt_lm_config(p.draft)->n_vocab, V);
    if (p.draft && lt_lm_backend(p.draft) != lt_lm_backend(target))
        return lt_err_set(err, LT_EINVAL, "draft model and target must be on the same backend");
    if (p.kind == LT_SPEC_TRIFORCE) {
        if (p.chunk % bs)
            return lt_err_set(err, LT_EINVAL,
                              "TriForce chunk of %d tokens is not a multiple of the KV block size %d "
                              "(create the cache with block_size = chunk)",
                              p.chunk, bs);
        if (p.budget < 3 * p.chunk)
            return lt_err_set(err, LT_EINVAL, "TriForce budget of %d tokens holds fewer than 3 chunks of %d",
                              p.budget, p.chunk);
        if (lt_kv_max_seqs(kv) < 2)
            return lt_err_set(err, LT_EINVAL, "TriForce needs a KV cache with a second sequence slot");
    }
    lt_spec *S = lt_calloc(1, sizeof *S);
    if (!S) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    S->p = p;
    S->rec_seq = -1;
    S->target = target;
    S->kv = kv;
    S->V = V;
    S->gmax = p.gamma_max > p.gamma_bottom ? p.gamma_max : p.gamma_bottom;
    S->ngram_max = p.ngram_max;
    S->hist_cap = lt_kv_max_ctx(kv) + S->gmax + 4;
    S->hist = lt_malloc((size_t)S->hist_cap * sizeof(int32_t));
    S->q1 = lt_malloc((size_t)(S->gmax + 2) * V * sizeof(float));
    S->q2 = lt_malloc((size_t)(S->gmax + 2) * V * sizeof(float));
    S->pbuf = lt_malloc((size_t)(S->gmax + 2) * V * sizeof(float));
    S->rbuf = lt_malloc((size_t)V * sizeof(float));
    int bcap = lt_kv_max_ctx(kv) + S->gmax + 4;
    if (p.window > 0 && p.window / 2 + 32 > bcap) bcap = p.window / 2 + 32;
    S->bidx = lt_malloc((size_t)bcap * (3 * sizeof(int32_t) + sizeof(bool)) + (size_t)bcap * sizeof(int32_t));
    lt_status s = LT_OK;
    if (!S->hist || !S->q1 || !S->q2 || !S->pbuf || !S->rbuf || !S->bidx)
        s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (s == LT_OK) {
        S->bpos = S->bidx + bcap;
        S->brope = S->bpos + bcap;
        S->bseq = S->brope + bcap;
        S->bwant = (bool *)(S->bseq + bcap);
    }
    lt_sampler_params sp = lt_sampler_defaults();
    sp.temp = 0; /* replaced per call */
    if (s == LT_OK) s = level_init(S, &S->lv[0], LV_TARGET, target, kv, 0, &sp, err);
    S->lv[0].own_seq = false;
    S->n_levels = 1;
    if (s == LT_OK && p.kind != LT_SPEC_OFF) {
        /* the level drafting for the target */
        spec_level *L1 = &S->lv[1];
        int k1 = p.kind == LT_SPEC_NGRAM ? LV_NGRAM : p.kind == LT_SPEC_DRAFT ? LV_MODEL : LV_RETRIEVAL;
        s = level_init(S, L1, k1, k1 == LV_RETRIEVAL ? target : p.draft, NULL, 0x5bd1e995, &sp, err);
        L1->gamma = p.gamma;
        S->n_levels = 2;
        if (s == LT_OK && p.kind == LT_SPEC_TRIFORCE) {
            spec_level *L2 = &S->lv[2];
            s = level_init(S, L2, p.draft ? LV_MODEL : LV_NGRAM, p.draft, NULL, 0x9e3779b9, &sp, err);
            L2->gamma = p.gamma_bottom;
            if (p.draft) {
                L2->sinks = (p.sinks + bs - 1) / bs * bs;
                L2->window = p.window < 2 * bs ? 2 * bs : p.window;
            }
            S->n_levels = 3;
            S->tf = true;
            L1->kv = kv;
            L1->own_seq = true;
            if (s == LT_OK) s = spec_tf_init(S, err);
        }
        spec_level *M = p.kind == LT_SPEC_DRAFT ? L1 : p.kind == LT_SPEC_TRIFORCE && p.draft ? &S->lv[2] : NULL;
        if (s == LT_OK && M) {
            lt_kv_opts ko = lt_lm_kv_opts(p.draft, lt_kv_max_ctx(kv), 2);
            ko.block_size = bs;
            if (M->window > 0) { /* sinks + window + one fed piece + drafts */
                int piece = M->window / 2 > 80 ? M->window / 2 : 80;
                ko.n_blocks = (M->sinks + M->window + piece + S->gmax + 2 * bs) / bs + 8;
            }
            s = lt_kv_create(&S->draft_kv, lt_lm_backend(p.draft), &ko, err);
            if (s != LT_OK) lt_err_prefix(err, "draft model cache");
            M->kv = S->draft_kv;
            M->own_seq = true;
            M->head = M->tstart = M->sinks;
            if (s == LT_OK) s = lt_kv_seq_new(M->kv, &M->seq, err);
        }
    }
    if (s != LT_OK) {
        lt_spec_free(S);
        return s;
    }
    *out = S;
    return LT_OK;
}

/* ---- the generation loop -------------------------------------------------------------------- */

static void level_stats(const spec_level *L, lt_spec_level_stats *o) {
    *o = L->st;
    o->accept_rate = L->st.drafted ? (double)L->st.accepted / (double)L->st.drafted : 0;
    o->mean_len = L->st.steps ? (double)(L->st.accepted + L->st.steps) / (double)L->st.steps : 0;
}

lt_status lt_spec_generate(lt_spec *S, const lt_tokenizer *tok, int seq, const int32_t *past, int n_past,
                           const int32_t *prompt, int n_prompt, const lt_gen_params *gp, lt_spec_cb cb, void *ud,
                           int32_t *out_ids, bool *drafted, int out_cap, lt_spec_stats *st, lt_err *err) {
    lt_spec_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    st->gen.n_prompt = n_prompt;
    st->n_levels = S->n_levels - 1;
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
        past = S->rec;
    }
    int ctx = lt_kv_max_ctx(S->kv), V = S->V;
    if (n_past + n_prompt > ctx)
        return lt_err_set(err, LT_ERANGE, "generate: prompt of %d tokens does not fit the context (%d of %d used)",
                          n_prompt, n_past, ctx);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= V)
            return lt_err_set(err, LT_ERANGE, "generate: token id %d outside the vocabulary", prompt[i]);
    /* samplers: the target's draws use the caller's seed; drafters derive theirs */
    for (int i = 0; i < S->n_levels; i++) {
        spec_level *L = &S->lv[i];
        lt_sampler_params sp = gp->sp;
        sp.seed = gp->sp.seed + (uint64_t)i * 0x9E3779B97F4A7C15ull;
        lt_sampler *ns;
        LT_TRY(lt_sampler_create(&ns, &sp, V, err));
        lt_sampler_free(L->smp);
        L->smp = ns;
        L->st = (spec_level_counters){0};
        if (i > 0 && !S->p.adaptive) L->gamma = i == 1 ? S->p.gamma : S->p.gamma_bottom;
    }
    if (n_past && past != S->hist) memmove(S->hist, past, (size_t)n_past * sizeof(int32_t));
    memcpy(S->hist + n_past, prompt, (size_t)n_prompt * sizeof(int32_t));
    S->rec_seq = -1;
    S->tf_n_mean = 0; /* chunk means belong to the previous call's sequence */
    int n = n_past + n_prompt;
    S->pen0 = n_past;
    spec_level *T = &S->lv[0];
    T->seq = seq;
    T->fed = n_past;
    T->head = T->tstart = 0;
    T->trimmed = false;
    if (n_past) memcpy(T->ctok, past, (size_t)n_past * sizeof(int32_t));

    lt_status s = LT_OK;
    double t0 = lt_now();
    /* prefill all but the last prompt token (it opens the first verification batch) */
    if (n - 1 > T->fed) s = level_feed(S, T, n - 1, 0, S->tf && n - 1 > S->p.budget ? S->tf_q : NULL, err);
    for (int i = 1; i < S->n_levels && s == LT_OK; i++) {
        spec_level *L = &S->lv[i];
        if (L->kind != LV_MODEL) continue;
        s = level_sync(S, L, n, err);
        if (s == LT_OK) s = level_feed(S, L, n - 1, 0, NULL, err);
    }
    st->gen.prefill_s = lt_now() - t0;

    lt_tok_stream ts;
    lt_tok_stream_init(&ts);
    ts.prev_id = prompt[n_prompt - 1];
    char text[256];
    bool eog_stop = false;
    double t1 = lt_now();
    spec_level *D = S->n_levels > 1 ? &S->lv[1] : NULL;
    while (s == LT_OK) {
        int left = gp->n_predict > 0 ? gp->n_predict - st->gen.n_gen : ctx;
        if (left <= 0) {
            st->gen.stop = LT_GEN_STOP_LENGTH;
            break;
        }
        if (n > ctx) {
            st->gen.stop = LT_GEN_STOP_CONTEXT;
            break;
        }
        int g = D ? D->gamma : 0;
        if (g > left - 1) g = left - 1;
        if (g > ctx - n) g = ctx - n;
        int k = 0, m = 0;
        if (g > 0 && S->tf) s = spec_tf_build(S, n, err);
        if (g > 0 && s == LT_OK) s = draft(S, 1, n, g, S->q1, &k, err);
        if (S->tf) spec_tf_release(S);
        if (s == LT_OK) s = verify(S, 0, n, k, S->q1, S->pbuf, &m, err);
        if (s != LT_OK) break;
        if (D) adapt(S, D, k, m - 1);
        bool stop = false;
        for (int i = 0; i < m && !stop; i++) {
            int32_t id = S->hist[n];
            bool eog = tok && !gp->ignore_eos && lt_tok_is_eog(tok, id);
            if (gp->stop_at_bos && tok && id == lt_tok_bos(tok)) eog = true;
            if (eog) {
                st->gen.stop = LT_GEN_STOP_EOG;
                eog_stop = stop = true;
                break;
            }
            bool dr = i < m - 1;
            if (out_ids && st->gen.n_gen < out_cap) out_ids[st->gen.n_gen] = id;
            if (drafted && st->gen.n_gen < out_cap) drafted[st->gen.n_gen] = dr;
            st->gen.n_gen++;
            st->n_drafted_out += dr;
            n++;
            size_t len = tok ? lt_tok_stream_feed(tok, &ts, id, text, sizeof text) : 0;
            if (cb && !cb(ud, id, text, len, dr)) {
                st->gen.stop = LT_GEN_STOP_CANCEL;
                stop = true;
            } else if (n - 1 >= ctx) {
                st->gen.stop = LT_GEN_STOP_CONTEXT;
                stop = true;
            } else if (gp->n_predict > 0 && st->gen.n_gen >= gp->n_predict) {
                st->gen.stop = LT_GEN_STOP_LENGTH;
                stop = true;
            }
        }
        if (stop) break;
    }
    /* leave the cache as lt_generate does: every emitted token but the last (all of them
     * after an end-of-generation stop) */
    if (lt_kv_seq_valid(S->kv, seq)) {
        int keep = eog_stop ? n : n - 1;
        if (keep < lt_kv_seq_len(S->kv, seq)) lt_kv_seq_truncate(S->kv, seq, keep);
        if (s == LT_OK && lt_kv_seq_len(S->kv, seq) < keep) { /* the token before EOG was never fed */
            T->fed = lt_kv_seq_len(S->kv, seq);
            s = level_feed(S, T, keep, 0, NULL, err);
        }
    }
    T->seq = -1;
    if (s == LT_OK) { /* remembered for a next call that passes past = NULL */
        S->rec = S->hist;
        S->rec_n = n;
        S->rec_seq = seq;
    }
    if (tok && cb && s == LT_OK) {
        size_t len = lt_tok_stream_flush(tok, &ts, text, sizeof text);
        if (len) cb(ud, -1, text, len, false);
    }
    st->gen.decode_s = lt_now() - t1;
    if (S->n_levels > 1) level_stats(&S->lv[0], &st->level[0]);
    if (S->n_levels > 2) level_stats(&S->lv[1], &st->level[1]);
    st->gamma = D ? D->gamma : 0;
    return s;
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
