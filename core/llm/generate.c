/* generate.c - see generate.h: one request through the engine (core/llm/engine.h), so plain
 * generation has one loop. */
#include "generate.h"

#include "engine.h"

lt_status lt_generate(lt_lm *m, const lt_tokenizer *tok, lt_kv_cache *kv, int seq, const int32_t *prompt,
                      int n_prompt, const lt_gen_params *p, lt_gen_cb cb, void *ud, int32_t *out_ids, int out_cap,
                      lt_gen_stats *st, lt_err *err) {
    lt_gen_stats dummy;
    if (!st) st = &dummy;
    *st = (lt_gen_stats){.n_prompt = n_prompt};
    if (n_prompt <= 0) return lt_err_set(err, LT_EINVAL, "generate: the prompt has no tokens");
    int ctx = lt_kv_max_ctx(kv);
    int start = lt_kv_seq_len(kv, seq);
    if (start + n_prompt > ctx)
        return lt_err_set(err, LT_ERANGE, "generate: prompt of %d tokens does not fit the context (%d of %d used)",
                          n_prompt, start, ctx);
    /* no token budget: the prompt goes in one forward, as a lone request always did */
    lt_engine_opts eo = {.policy = LT_POLICY_SARATHI, .tok = tok};
    lt_engine *e;
    LT_TRY(lt_engine_create(&e, m, kv, &eo, err));
    lt_req_params rp = {.prompt = prompt, .n_prompt = n_prompt, .gen = *p, .cb = cb, .ud = ud, .seq = seq,
                        .out_ids = out_ids, .out_cap = out_cap};
    int id;
    lt_status s = lt_engine_add(e, &rp, &id, err);
    while (s == LT_OK && !lt_engine_idle(e)) s = lt_engine_step(e, NULL, err);
    if (s == LT_OK) {
        const lt_req_result *r = lt_engine_result(e, id);
        *st = r->st;
        if (r->status != LT_OK) s = lt_err_set(err, r->status, "%s", r->msg);
    }
    lt_engine_free(e);
    return s;
}
