/* spec_triforce.c - TriForce's drafter (see spec.h): the retrieval level, a sparse view of one
 * request's target cache, drafted by the bottom level.
 *
 * Levels: lv[1] is the retrieval level (the target's weights over the view), lv[2] drafts for
 * it (a draft model over a StreamingLLM cache, or n-gram lookup); the engine's target verifies
 * lv[1]'s drafts. Every model level keeps the tokens it has fed (ctok, by true position) and,
 * before each use, truncates its cache to the longest prefix that agrees with the current
 * context, so rollback after a rejection is just that truncation. A level's cache rows [0, head)
 * are frozen (sinks, retrieved chunks); rows from head hold the true positions [tstart, fed)
 * contiguously, rotated at their true positions (lt_batch.rope_pos).
 *
 * The view: the target's sequence is cut into chunks of `chunk` tokens (whole KV blocks). Each
 * full chunk keeps a mean key per layer and KV head (read back from the cache once, when the
 * chunk is complete). Before each drafting every candidate chunk is scored, per layer and query
 * head, by the target's latest query . the chunk's mean key; the scores are softmax-normalised
 * over chunks per (layer, head) and summed. The view is the first chunk, the best chunks within
 * the budget (in their original order), and the most recent full chunk plus the partial one,
 * composed from the target's own blocks (lt_kv_seq_compose, no copy). New tokens go after them,
 * rotated at their true positions.
 * Leaves out: per-head or per-layer selections (one block table serves all of them).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "spec.h"

enum { LV_RETRIEVAL = 1, LV_MODEL, LV_NGRAM };

typedef struct spec_level {
    int kind;
    lt_lm *lm;
    lt_kv_cache *kv;
    int seq;      /* -1: none */
    /* cache rows [0, head) are frozen; rows from head hold true positions [tstart, fed) */
    int head, tstart, fed;
    bool trimmed;  /* rows and true positions differ (tokens were dropped) */
    int sinks, window; /* StreamingLLM (window 0 = keep everything) */
    int32_t *ctok; /* [hist_cap] tokens fed, by true position */
    float *logits; /* [(gmax + 2) * V] */
    lt_sampler *smp;
    int gamma;     /* when this level drafts: tokens per step */
    lt_spec_level_stats st; /* when this level verifies */
} spec_level;

typedef struct scored {
    float s;
    int32_t ch;
} scored;

struct lt_spec_tf {
    lt_spec_params p;
    lt_lm *target;
    lt_kv_cache *kv;
    int V, gmax;
    spec_level lv[3]; /* [1] retrieval, [2] bottom */
    lt_kv_cache *draft_kv;
    int tseq;      /* the target's sequence being drafted for */
    int32_t *hist; /* [hist_cap] context + drafts */
    int hist_cap;
    int pen0;      /* the repetition penalty looks at hist[pen0..] */
    float *q2;     /* [(gmax + 2) * V] */
    float *rbuf;   /* [V] */
    int32_t *bidx, *bpos, *brope, *bseq; /* batch staging */
    bool *bwant;
    float *tf_q;     /* [n_layers * n_heads * head_dim] last query of the target */
    float *tf_mean;  /* [n_layers][max_chunks][kv width] mean key per chunk */
    float *tf_score; /* [max_chunks] */
    float *tf_rows;  /* [block_size * kv width] keys read back */
    float *tf_tmp;   /* [max_chunks] */
    scored *tf_pairs; /* [max_chunks] */
    int32_t *tf_sel; /* [max_chunks] */
    int tf_max_chunks, tf_n_mean;
};

/* ---- levels ------------------------------------------------------------------------------ */

static lt_status level_init(lt_spec_tf *S, spec_level *L, int kind, lt_lm *lm, lt_kv_cache *kv, lt_err *err) {
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
    lt_sampler_params p = lt_sampler_defaults();
    p.temp = 0; /* replaced per request */
    return lt_sampler_create(&L->smp, &p, S->V, err);
}

static lt_status level_reset(spec_level *L, lt_err *err) {
    if (L->seq >= 0) lt_kv_seq_free(L->kv, L->seq);
    L->seq = -1;
    L->fed = 0;
    L->head = L->tstart = L->sinks;
    L->trimmed = false;
    return lt_kv_seq_new(L->kv, &L->seq, err);
}

static void level_free(spec_level *L) {
    if (L->kind == LV_MODEL && L->kv && L->seq >= 0 && lt_kv_seq_valid(L->kv, L->seq)) lt_kv_seq_free(L->kv, L->seq);
    lt_free(L->ctok);
    lt_free(L->logits);
    lt_sampler_free(L->smp);
}

/* Drops the last round-trip's divergent tail: keeps the longest prefix of the fed tokens
 * that agrees with hist[0..n), and at most n - 1 of them (the last token is always fed
 * again, to get its logits). */
static lt_status level_sync(lt_spec_tf *S, spec_level *L, int n, lt_err *err) {
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
static lt_status level_trim(lt_spec_tf *S, spec_level *L, int extra, lt_err *err) {
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
static lt_status level_feed(lt_spec_tf *S, spec_level *L, int to, int n_logits, float *q_last, lt_err *err) {
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

/* ---- drafting and verification --------------------------------------------------------------- */

static void level_account(spec_level *L, int drafted, int accepted) {
    L->st.drafted += drafted;
    L->st.accepted += accepted;
    L->st.steps++;
}

static void adapt(lt_spec_tf *S, spec_level *D, int drafted, int accepted) {
    if (!S->p.adaptive || drafted <= 0) return;
    if (accepted == drafted && D->gamma < S->gmax) D->gamma++;
    else if (2 * accepted < drafted && D->gamma > 1) D->gamma--;
}

static lt_status verify(lt_spec_tf *S, int li, int n, int k, const float *qd, float *pout, int *m_out, lt_err *err);

/* Level li (>= 1) drafts up to want tokens after hist[0..n) into hist[n..n+k), with their
 * distributions under level li in q rows [k][V]. */
/* A level's logits had no token that can be chosen (all NaN): an error, never a wild id. */
static lt_status nan_logits(int pos, lt_err *err) {
    return lt_err_set(err, LT_EFORMAT, "the model produced NaN logits at position %d", pos);
}

static lt_status draft(lt_spec_tf *S, int li, int n, int want, float *q, int *k_out, lt_err *err) {
    spec_level *L = &S->lv[li];
    int V = S->V;
    *k_out = 0;
    if (want <= 0) return LT_OK;
    if (L->kind == LV_NGRAM) {
        int k = lt_spec_ngram_propose(S->hist, n, want, S->p.ngram_max);
        for (int i = 0; i < k; i++) {
            memset(q + (size_t)i * V, 0, (size_t)V * sizeof(float));
            q[(size_t)i * V + S->hist[n + i]] = 1.0f;
        }
        *k_out = k;
        return LT_OK;
    }
    if (li == 1) { /* the retrieval level: drafted itself by the bottom level, verified here */
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
static lt_status verify(lt_spec_tf *S, int li, int n, int k, const float *qd, float *pout, int *m_out, lt_err *err) {
    spec_level *L = &S->lv[li];
    int V = S->V;
    LT_TRY(level_sync(S, L, n, err));
    LT_TRY(level_feed(S, L, n + k, k + 1, NULL, err));
    int m = lt_spec_accept(L->smp, V, L->logits, S->hist + S->pen0, n - S->pen0, k, qd, pout, true, S->rbuf);
    if (S->hist[n + m - 1] < 0) return nan_logits(n + m - 2, err);
    level_account(L, k, m - 1);
    *m_out = m;
    return LT_OK;
}

/* Mean keys of chunks [tf_n_mean, n_full) of the target's sequence. */
static lt_status update_means(lt_spec_tf *S, int seq, int n_full, lt_err *err) {
    const lt_llm_config *c = lt_lm_config(S->target);
    int kvw = c->n_kv_heads * c->head_dim, bs = lt_kv_block_size(S->kv), C = S->p.chunk;
    for (int ch = S->tf_n_mean; ch < n_full; ch++) {
        for (int l = 0; l < c->n_layers; l++) {
            float *mean = S->tf_mean + ((size_t)l * S->tf_max_chunks + ch) * kvw;
            memset(mean, 0, (size_t)kvw * sizeof(float));
            lt_tensor *K = lt_kv_k(S->kv, l);
            for (int b = 0; b < C / bs; b++) {
                int32_t slot = lt_kv_slot(S->kv, seq, ch * C + b * bs);
                lt_tensor rows = lt_tensor_row_view(K, slot, bs);
                LT_TRY(lt_tensor_get(&rows, S->tf_rows, lt_tensor_nbytes(&rows), err));
                const uint16_t *h16 = (const uint16_t *)S->tf_rows;
                for (int r = 0; r < bs; r++)
                    for (int j = 0; j < kvw; j++)
                        mean[j] += K->dtype == LT_F16 ? lt_f16_to_f32(h16[(size_t)r * kvw + j])
                                                      : S->tf_rows[(size_t)r * kvw + j];
            }
            for (int j = 0; j < kvw; j++) mean[j] /= (float)C;
        }
    }
    if (n_full > S->tf_n_mean) S->tf_n_mean = n_full;
    return LT_OK;
}

/* Sums over layers and query heads of softmax_c(q . mean_k(c) / sqrt(d)) for chunks [lo, hi). */
static void score_chunks(lt_spec_tf *S, int lo, int hi) {
    const lt_llm_config *c = lt_lm_config(S->target);
    int H = c->n_heads, G = H / c->n_kv_heads, Dh = c->head_dim, kvw = c->n_kv_heads * Dh;
    float *agg = S->tf_score, *lg = S->tf_tmp, scale = 1.0f / sqrtf((float)Dh);
    for (int ch = lo; ch < hi; ch++) agg[ch] = 0;
    for (int l = 0; l < c->n_layers; l++) {
        for (int h = 0; h < H; h++) {
            const float *q = S->tf_q + ((size_t)l * H + h) * Dh;
            const float *m0 = S->tf_mean + (size_t)l * S->tf_max_chunks * kvw + (size_t)(h / G) * Dh;
            float mx = -INFINITY;
            double z = 0;
            for (int ch = lo; ch < hi; ch++) {
                const float *m = m0 + (size_t)ch * kvw;
                float d = 0;
                for (int j = 0; j < Dh; j++) d += q[j] * m[j];
                lg[ch] = d * scale;
                if (lg[ch] > mx) mx = lg[ch];
            }
            for (int ch = lo; ch < hi; ch++) z += exp((double)(lg[ch] - mx));
            for (int ch = lo; ch < hi; ch++) agg[ch] += (float)(exp((double)(lg[ch] - mx)) / z);
        }
    }
}

static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->ch - y->ch;
}

static int cmp_int(const void *a, const void *b) { return *(const int32_t *)a - *(const int32_t *)b; }

static void tf_release(lt_spec_tf *S) {
    spec_level *R = &S->lv[1];
    if (R->seq >= 0 && lt_kv_seq_valid(R->kv, R->seq)) lt_kv_seq_free(R->kv, R->seq);
    R->seq = -1;
}

/* Builds the retrieval view (level 1) of the target's first n - 1 tokens (all its sequence). */
static lt_status tf_build(lt_spec_tf *S, int n, lt_err *err) {
    spec_level *R = &S->lv[1];
    tf_release(S);
    if (lt_kv_seq_len(S->kv, S->tseq) != n - 1)
        return lt_err_set(err, LT_EINVAL, "TriForce: the target's sequence holds %d tokens, not the %d drafted after",
                          lt_kv_seq_len(S->kv, S->tseq), n - 1);
    int Lt = n - 1, bs = lt_kv_block_size(S->kv), C = S->p.chunk, cpb = C / bs;
    int nb_all = (Lt + bs - 1) / bs, k = 0;
    if (Lt < 1) return lt_err_set(err, LT_EINVAL, "TriForce: empty context");
    if (Lt <= S->p.budget) { /* the whole cache fits the budget: the view is all of it */
        for (int b = 0; b < nb_all; b++) S->bidx[k++] = b;
        R->head = R->tstart = 0;
        R->trimmed = false;
    } else {
        int n_full = Lt / C, tail_start = (n_full - 1) * C;
        if (S->tf_n_mean > n_full) S->tf_n_mean = n_full;
        LT_TRY(update_means(S, S->tseq, n_full, err));
        int lo = 1, hi = n_full - 1; /* candidates: not the first chunk, not the recent ones */
        int slots = (S->p.budget - (Lt - tail_start)) / C - 1;
        int nsel = 0;
        if (hi > lo && slots > 0) {
            score_chunks(S, lo, hi);
            scored *sc = S->tf_pairs;
            for (int ch = lo; ch < hi; ch++) sc[ch - lo] = (scored){S->tf_score[ch], ch};
            qsort(sc, (size_t)(hi - lo), sizeof *sc, cmp_scored);
            nsel = hi - lo < slots ? hi - lo : slots;
            for (int i = 0; i < nsel; i++) S->tf_sel[i] = sc[i].ch;
            qsort(S->tf_sel, (size_t)nsel, sizeof(int32_t), cmp_int);
        }
        for (int b = 0; b < cpb; b++) S->bidx[k++] = b; /* the first chunk */
        for (int i = 0; i < nsel; i++)
            for (int b = 0; b < cpb; b++) S->bidx[k++] = S->tf_sel[i] * cpb + b;
        for (int b = tail_start / bs; b < nb_all; b++) S->bidx[k++] = b;
        R->head = (1 + nsel) * C;
        R->tstart = tail_start;
        R->trimmed = true;
    }
    LT_TRY(lt_kv_seq_compose(S->kv, S->tseq, S->bidx, k, &R->seq, err));
    R->fed = Lt;
    memcpy(R->ctok, S->hist, (size_t)Lt * sizeof(int32_t));
    return LT_OK;
}

/* ---- the drafter ----------------------------------------------------------------------------- */

void lt_spec_tf_free(lt_spec_tf *S) {
    if (!S) return;
    tf_release(S);
    for (int i = 1; i < 3; i++) level_free(&S->lv[i]);
    lt_kv_free(S->draft_kv);
    lt_free(S->hist);
    lt_free(S->q2);
    lt_free(S->rbuf);
    lt_free(S->bidx);
    lt_free(S->tf_q);
    lt_free(S->tf_mean);
    lt_free(S->tf_score);
    lt_free(S->tf_sel);
    lt_free(S->tf_rows);
    lt_free(S->tf_tmp);
    lt_free(S->tf_pairs);
    lt_free(S);
}

lt_status lt_spec_tf_create(lt_spec_tf **out, lt_lm *target, lt_kv_cache *kv, const lt_spec_params *pp, lt_err *err) {
    *out = NULL;
    lt_spec_params p = *pp;
    if (p.gamma < 0 || p.gamma_max < 0 || p.budget < 0 || p.chunk < 0 || p.gamma_bottom < 0 || p.sinks < 0 ||
        p.window < 0 || p.ngram_max < 0)
        return lt_err_set(err, LT_EINVAL, "speculation: gamma, budget, chunk, sinks and window must not be negative");
    if (p.gamma == 0) p.gamma = 6;
    if (p.gamma_max == 0) p.gamma_max = 12;
    if (p.gamma_max < p.gamma) p.gamma_max = p.gamma;
    if (p.gamma_bottom == 0) p.gamma_bottom = 4;
    if (p.gamma > 64 || p.gamma_max > 64 || p.gamma_bottom > 64)
        return lt_err_set(err, LT_EINVAL, "speculation: gamma above 64 is not supported");
    if (p.ngram_max == 0) p.ngram_max = 4;
    if (p.budget == 0) p.budget = 4096;
    if (p.window == 0) p.window = 256;
    if (p.sinks == 0) p.sinks = 16;
    int bs = lt_kv_block_size(kv);
    if (p.chunk == 0) p.chunk = bs;
    if (p.chunk % bs)
        return lt_err_set(err, LT_EINVAL,
                          "TriForce chunk of %d tokens is not a multiple of the KV block size %d "
                          "(create the cache with block_size = chunk)",
                          p.chunk, bs);
    if (p.budget < 3 * p.chunk)
        return lt_err_set(err, LT_EINVAL, "TriForce budget of %d tokens holds fewer than 3 chunks of %d", p.budget,
                          p.chunk);
    if (lt_kv_max_seqs(kv) < 2)
        return lt_err_set(err, LT_EINVAL, "TriForce needs a KV cache with a second sequence slot");
    int V = lt_lm_config(target)->n_vocab;
    if (p.draft) LT_TRY(lt_spec_draft_check(target, p.draft, "TriForce: ", err));
    lt_spec_tf *S = lt_calloc(1, sizeof *S);
    if (!S) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    S->p = p;
    S->target = target;
    S->kv = kv;
    S->V = V;
    S->tseq = -1;
    S->lv[1].seq = S->lv[2].seq = -1;
    S->gmax = p.gamma_max > p.gamma_bottom ? p.gamma_max : p.gamma_bottom;
    S->hist_cap = lt_kv_max_ctx(kv) + S->gmax + 4;
    S->hist = lt_malloc((size_t)S->hist_cap * sizeof(int32_t));
    S->q2 = lt_malloc((size_t)(S->gmax + 2) * V * sizeof(float));
    S->rbuf = lt_malloc((size_t)V * sizeof(float));
    int bcap = lt_kv_max_ctx(kv) + S->gmax + 4;
    if (p.window / 2 + 32 > bcap) bcap = p.window / 2 + 32;
    S->bidx = lt_malloc((size_t)bcap * (3 * sizeof(int32_t) + sizeof(bool)) + (size_t)bcap * sizeof(int32_t));
    const lt_llm_config *c = lt_lm_config(target);
    int kvw = c->n_kv_heads * c->head_dim;
    S->tf_max_chunks = lt_kv_max_ctx(kv) / p.chunk + 1;
    S->tf_q = lt_calloc((size_t)c->n_layers * c->n_heads * c->head_dim, sizeof(float));
    S->tf_mean = lt_malloc((size_t)c->n_layers * S->tf_max_chunks * kvw * sizeof(float));
    S->tf_score = lt_malloc((size_t)S->tf_max_chunks * sizeof(float));
    S->tf_sel = lt_malloc((size_t)S->tf_max_chunks * sizeof(int32_t));
    S->tf_rows = lt_malloc((size_t)bs * kvw * sizeof(float));
    S->tf_tmp = lt_malloc((size_t)S->tf_max_chunks * sizeof(float));
    S->tf_pairs = lt_malloc((size_t)S->tf_max_chunks * sizeof(scored));
    lt_status s = LT_OK;
    if (!S->hist || !S->q2 || !S->rbuf || !S->bidx || !S->tf_q || !S->tf_mean || !S->tf_score || !S->tf_sel ||
        !S->tf_rows || !S->tf_tmp || !S->tf_pairs)
        s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (s == LT_OK) {
        S->bpos = S->bidx + bcap;
        S->brope = S->bpos + bcap;
        S->bseq = S->brope + bcap;
        S->bwant = (bool *)(S->bseq + bcap);
        s = level_init(S, &S->lv[1], LV_RETRIEVAL, target, kv, err);
    }
    spec_level *B = &S->lv[2];
    if (s == LT_OK) s = level_init(S, B, p.draft ? LV_MODEL : LV_NGRAM, p.draft, NULL, err);
    B->gamma = p.gamma_bottom;
    if (s == LT_OK && p.draft) { /* the bottom model's StreamingLLM cache: sinks + window + one piece + drafts */
        B->sinks = (p.sinks + bs - 1) / bs * bs;
        B->window = p.window < 2 * bs ? 2 * bs : p.window;
        lt_kv_opts ko = lt_lm_kv_opts(p.draft, lt_kv_max_ctx(kv), 2);
        ko.block_size = bs;
        int piece = B->window / 2 > 80 ? B->window / 2 : 80;
        ko.n_blocks = (B->sinks + B->window + piece + S->gmax + 2 * bs) / bs + 8;
        s = lt_kv_create(&S->draft_kv, lt_lm_backend(p.draft), &ko, err);
        if (s != LT_OK) lt_err_prefix(err, "draft model cache");
        B->kv = S->draft_kv;
        B->head = B->tstart = B->sinks;
        if (s == LT_OK) s = lt_kv_seq_new(B->kv, &B->seq, err);
    }
    if (s != LT_OK) {
        lt_spec_tf_free(S);
        return s;
    }
    *out = S;
    return LT_OK;
}

lt_status lt_spec_tf_begin(lt_spec_tf *S, const lt_sampler_params *sp, lt_err *err) {
    for (int i = 1; i < 3; i++) {
        spec_level *L = &S->lv[i];
        lt_sampler_params p = *sp;
        p.seed = sp->seed + (uint64_t)i * 0x9E3779B97F4A7C15ull;
        lt_sampler *ns;
        LT_TRY(lt_sampler_create(&ns, &p, S->V, err));
        lt_sampler_free(L->smp);
        L->smp = ns;
        L->st = (lt_spec_level_stats){0};
    }
    if (!S->p.adaptive) S->lv[2].gamma = S->p.gamma_bottom;
    S->tf_n_mean = 0; /* chunk means belong to the previous request's sequence */
    return LT_OK;
}

float *lt_spec_tf_query(lt_spec_tf *S) { return S->tf_q; }

lt_status lt_spec_tf_draft(lt_spec_tf *S, int seq, int32_t *toks, int n, int pen0, int want, float *q, int *k,
                           lt_err *err) {
    *k = 0;
    if (want <= 0) return LT_OK;
    if (n + want + 1 > S->hist_cap || want > S->gmax)
        return lt_err_set(err, LT_ERANGE, "TriForce: %d drafts after %d tokens do not fit", want, n);
    memcpy(S->hist, toks, (size_t)n * sizeof(int32_t));
    S->pen0 = pen0;
    S->tseq = seq;
    lt_status s = tf_build(S, n, err);
    if (s == LT_OK) s = draft(S, 1, n, want, q, k, err);
    tf_release(S);
    if (s != LT_OK) {
        *k = 0;
        return s;
    }
    memcpy(toks + n, S->hist + n, (size_t)*k * sizeof(int32_t));
    return LT_OK;
}

void lt_spec_tf_stats(const lt_spec_tf *S, lt_spec_level_stats *o) {
    *o = S->lv[1].st;
    o->accept_rate = o->drafted ? (double)o->accepted / (double)o->drafted : 0;
    o->mean_len = o->steps ? (double)(o->accepted + o->steps) / (double)o->steps : 0;
}
