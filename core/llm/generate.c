/* generate.c - see generate.h. */
#include "generate.h"

#include "core/base/alloc.h"
#include "core/base/clock.h"

lt_status lt_generate(lt_lm *m, const lt_tokenizer *tok, lt_kv_cache *kv, int seq, const int32_t *prompt,
                      int n_prompt, const lt_gen_params *p, lt_gen_cb cb, void *ud, int32_t *out_ids, int out_cap,
                      lt_gen_stats *st, lt_err *err) {
    lt_gen_stats dummy;
    if (!st) st = &dummy;
    *st = (lt_gen_stats){.n_prompt = n_prompt};
    if (n_prompt <= 0) return lt_err_set(err, LT_EINVAL, "generate: the prompt has no tokens");
    int32_t V = lt_lm_config(m)->n_vocab;
    int ctx = lt_kv_max_ctx(kv);
    int start = lt_kv_seq_len(kv, seq);
    if (start + n_prompt > ctx)
        return lt_err_set(err, LT_ERANGE, "generate: prompt of %d tokens does not fit the context (%d of %d used)",
                          n_prompt, start, ctx);
    int hist_cap = start + n_prompt + (p->n_predict > 0 ? p->n_predict : ctx) + 1;
    if (hist_cap > ctx + 1) hist_cap = ctx + 1;
    float *logits = lt_malloc((size_t)V * sizeof(float));
    int32_t *hist = lt_malloc((size_t)hist_cap * sizeof(int32_t));
    lt_sampler *smp = NULL;
    lt_status s = LT_OK;
    if (!logits || !hist) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    if (s == LT_OK) s = lt_sampler_create(&smp, &p->sp, V, err);
    int n_hist = 0;
    for (int i = 0; i < n_prompt && n_hist < hist_cap; i++) hist[n_hist++] = prompt[i];

    double t0 = lt_now();
    if (s == LT_OK) s = lt_lm_eval(m, kv, seq, prompt, n_prompt, false, logits, err);
    st->prefill_s = lt_now() - t0;

    lt_tok_stream ts;
    lt_tok_stream_init(&ts);
    ts.prev_id = prompt[n_prompt - 1];
    char text[256];
    double t1 = lt_now();
    while (s == LT_OK) {
        if (p->n_predict > 0 && st->n_gen >= p->n_predict) {
            st->stop = LT_GEN_STOP_LENGTH;
            break;
        }
        int32_t id = lt_sampler_sample(smp, logits, hist, n_hist);
        if (id < 0) {
            s = lt_err_set(err, LT_EFORMAT, "the model produced NaN logits at position %d",
                           lt_kv_seq_len(kv, seq) - 1);
            break;
        }
        bool eog = tok && !p->ignore_eos && lt_tok_is_eog(tok, id);
        if (p->stop_at_bos && tok && id == lt_tok_bos(tok)) eog = true;
        if (eog) {
            st->stop = LT_GEN_STOP_EOG;
            break;
        }
        if (out_ids && st->n_gen < out_cap) out_ids[st->n_gen] = id;
        st->n_gen++;
        if (n_hist < hist_cap) hist[n_hist++] = id;
        size_t len = tok ? lt_tok_stream_feed(tok, &ts, id, text, sizeof text) : 0;
        if (cb && !cb(ud, id, text, len)) {
            st->stop = LT_GEN_STOP_CANCEL;
            break;
        }
        if (lt_kv_seq_len(kv, seq) >= ctx) {
            st->stop = LT_GEN_STOP_CONTEXT;
            break;
        }
        if (p->n_predict > 0 && st->n_gen >= p->n_predict) {
            st->stop = LT_GEN_STOP_LENGTH; /* no forward for a token nobody will sample from */
            break;
        }
        s = lt_lm_eval(m, kv, seq, &id, 1, false, logits, err);
    }
    if (tok && cb && s == LT_OK) {
        size_t len = lt_tok_stream_flush(tok, &ts, text, sizeof text);
        if (len) cb(ud, -1, text, len);
    }
    st->decode_s = lt_now() - t1;
    lt_sampler_free(smp);
    lt_free(logits);
    lt_free(hist);
    return s;
}
