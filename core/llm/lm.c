/* lm.c - the model-independent parts of lt_lm. */
#include "lm.h"

#include <stdio.h>

#include "core/base/alloc.h"

lt_status lt_lm_forward(lt_lm *lm, lt_kv_cache *kv, const lt_batch *b, float *logits, lt_err *err) {
    return lm->ops->forward(lm, kv, b, logits, err);
}

void lt_lm_close(lt_lm *lm) {
    if (lm) lm->ops->close(lm);
}

lt_kv_opts lt_lm_kv_opts(const lt_lm *lm, int max_ctx, int max_seqs) {
    lt_kv_opts o = {0};
    o.n_layers = lm->cfg.n_layers;
    o.width = lm->cfg.n_kv_heads * lm->cfg.head_dim;
    o.max_ctx = max_ctx > 0 ? max_ctx : lm->cfg.max_seq;
    o.max_seqs = max_seqs;
    o.dtype = LT_F32;
    return o;
}

bool lt_lm_ctx_note(const lt_lm *lm, int ctx, char *buf, size_t cap) {
    bool beyond = lm->cfg.max_seq > 0 && ctx > lm->cfg.max_seq;
    if (cap) buf[0] = 0;
    if (beyond && cap) snprintf(buf, cap, "ctx %d is beyond the model's trained context (%d)", ctx, lm->cfg.max_seq);
    return beyond;
}

lt_status lt_lm_eval(lt_lm *lm, lt_kv_cache *kv, int seq, const int32_t *tokens, int n, bool all_logits,
                     float *logits, lt_err *err) {
    if (n <= 0) return lt_err_set(err, LT_EINVAL, "eval: no tokens");
    if (!lt_kv_seq_valid(kv, seq)) return lt_err_set(err, LT_EINVAL, "eval: sequence %d does not exist", seq);
    int32_t *aux = lt_malloc((size_t)n * 2 * sizeof(int32_t));
    bool *want = lt_malloc((size_t)n);
    if (!aux || !want) {
        lt_free(aux);
        lt_free(want);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    int p0 = lt_kv_seq_len(kv, seq);
    for (int i = 0; i < n; i++) {
        aux[i] = seq;
        aux[n + i] = p0 + i;
        want[i] = all_logits || i == n - 1;
    }
    lt_batch b = {.n_tokens = n, .tokens = tokens, .seq = aux, .pos = aux + n, .logits = want};
    lt_status s = lt_lm_forward(lm, kv, &b, logits, err);
    lt_free(aux);
    lt_free(want);
    return s;
}
