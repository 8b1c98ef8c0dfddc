/* spec_triforce.c - TriForce's retrieval level: a sparse view of the target's KV cache.
 *
 * The target's sequence is cut into chunks of `chunk` tokens (whole KV blocks). Each full
 * chunk keeps a mean key per layer and KV head (read back from the cache once, when the
 * chunk is complete). Before each target step every candidate chunk is scored, per layer
 * and query head, by the target's latest query . the chunk's mean key; the scores are
 * softmax-normalised over chunks per (layer, head) and summed. The view is the first chunk,
 * the best chunks within the budget (in their original order), and the most recent full
 * chunk plus the partial one, composed from the target's own blocks (lt_kv_seq_compose, no
 * copy). New tokens go after them, rotated at their true positions.
 * Leaves out: per-head or per-layer selections (one block table serves all of them).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "spec_impl.h"

typedef struct scored {
    float s;
    int32_t ch;
} scored;

lt_status spec_tf_init(lt_spec *S, lt_err *err) {
    const lt_llm_config *c = lt_lm_config(S->target);
    int kvw = c->n_kv_heads * c->head_dim, bs = lt_kv_block_size(S->kv);
    S->tf_max_chunks = lt_kv_max_ctx(S->kv) / S->p.chunk + 1;
    S->tf_q = lt_calloc((size_t)c->n_layers * c->n_heads * c->head_dim, sizeof(float));
    S->tf_mean = lt_malloc((size_t)c->n_layers * S->tf_max_chunks * kvw * sizeof(float));
    S->tf_score = lt_malloc((size_t)S->tf_max_chunks * sizeof(float));
    S->tf_sel = lt_malloc((size_t)S->tf_max_chunks * sizeof(int32_t));
    S->tf_rows = lt_malloc((size_t)bs * kvw * sizeof(float));
    S->tf_tmp = lt_malloc((size_t)S->tf_max_chunks * sizeof(float));
    S->tf_pairs = lt_malloc((size_t)S->tf_max_chunks * sizeof(scored));
    S->tf_n_mean = 0;
    if (!S->tf_q || !S->tf_mean || !S->tf_score || !S->tf_sel || !S->tf_rows || !S->tf_tmp || !S->tf_pairs)
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    return LT_OK;
}

void spec_tf_free(lt_spec *S) {
    lt_free(S->tf_q);
    lt_free(S->tf_mean);
    lt_free(S->tf_score);
    lt_free(S->tf_sel);
    lt_free(S->tf_rows);
    lt_free(S->tf_tmp);
    lt_free(S->tf_pairs);
}

void spec_tf_release(lt_spec *S) {
    spec_level *R = &S->lv[1];
    if (R->seq >= 0 && lt_kv_seq_valid(R->kv, R->seq)) lt_kv_seq_free(R->kv, R->seq);
    R->seq = -1;
}

/* Mean keys of chunks [tf_n_mean, n_full) of the target's sequence. */
static lt_status update_means(lt_spec *S, int seq, int n_full, lt_err *err) {
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
static void score_chunks(lt_spec *S, int lo, int hi) {
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

lt_status spec_tf_build(lt_spec *S, int n, lt_err *err) {
    spec_level *T = &S->lv[0], *R = &S->lv[1];
    spec_tf_release(S);
    /* the target holds exactly hist[0..n-1) */
    int lim = T->fed < n - 1 ? T->fed : n - 1, common = 0;
    while (common < lim && T->ctok[common] == S->hist[common]) common++;
    if (common < T->fed) {
        lt_kv_seq_truncate(S->kv, T->seq, common);
        T->fed = common;
    }
    if (T->fed < n - 1) {
        /* rare: catch up (as a verification would) */
        int32_t *pos = S->bpos, *sq = S->bseq;
        bool *want = S->bwant;
        int m = n - 1 - T->fed;
        for (int i = 0; i < m; i++) {
            pos[i] = T->fed + i;
            sq[i] = T->seq;
            want[i] = false;
        }
        lt_batch b = {.n_tokens = m, .tokens = S->hist + T->fed, .seq = sq, .pos = pos, .logits = want,
                      .q_last = S->tf_q};
        LT_TRY(lt_lm_forward(T->lm, S->kv, &b, T->logits, err));
        memcpy(T->ctok + T->fed, S->hist + T->fed, (size_t)m * sizeof(int32_t));
        T->fed = n - 1;
    }
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
        LT_TRY(update_means(S, T->seq, n_full, err));
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
    LT_TRY(lt_kv_seq_compose(S->kv, T->seq, S->bidx, k, &R->seq, err));
    R->fed = Lt;
    memcpy(R->ctok, S->hist, (size_t)Lt * sizeof(int32_t));
    return LT_OK;
}
