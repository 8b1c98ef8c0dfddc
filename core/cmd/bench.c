/* bench.c - `bench [-p PROMPT_TOKENS] [-n GEN_TOKENS]`: prefill and decode speed of the
 * current model, with progress, live rates for the panes and Esc to stop; the decoded ids are
 * the result digest. The plain decode rate becomes the baseline of `spec`'s speedup.
 * Leaves out: the measurement itself (core/llm/bench.c, which `lathe bench` uses too).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "core/base/alloc.h"
#include "core/base/clock.h"

static lt_status cmd_bench(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_conv *c;
    const char *name;
    LT_TRY(lt_session_llm(s, NULL, &c, &name, err));
    lt_lm *m = lt_conv_lm(c);
    lt_kv_cache *kv = lt_conv_kv(c);
    int ctx = lt_kv_max_ctx(kv);
    int np = ctx / 4 < 128 ? ctx / 4 : 128, ng = ctx / 4 < 64 ? ctx / 4 : 64;
    lt_opt opts[] = {
        {"-p", NULL, LT_OPT_INT, &np, "prompt tokens", 1, ctx},
        {"-n", NULL, LT_OPT_INT, &ng, "generated tokens", 1, ctx},
        {NULL},
    };
    int n_pos;
    LT_TRY(lt_args_parse(a, "bench", "bench [-p PROMPT_TOKENS] [-n GEN_TOKENS]", opts, NULL, 0, &n_pos, err));
    if (lt_session_token_limit(s) >= 0) ng = lt_session_token_limit(s); /* replay of a cancelled bench */
    if (np + ng > ctx) return lt_err_set(err, LT_ERANGE, "bench: -p %d plus -n %d exceeds the context (%d)", np, ng, ctx);
    int V = lt_lm_config(m)->n_vocab;
    float *logits = lt_malloc((size_t)V * sizeof(float));
    int32_t *ids = lt_malloc((size_t)(np + ng) * sizeof(int32_t));
    int seq = -1;
    lt_status r = logits && ids ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    uint64_t x = 42;
    for (long i = 0; i < np && ids; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((x >> 33) % (uint64_t)V);
    }
    double pre_s = 0, dec_s = 0;
    int done = 0;
    if (r == LT_OK) r = lt_kv_seq_new(kv, &seq, err);
    if (r == LT_OK) {
        lt_sink_progress(sink, "bench", 0);
        double t0 = lt_now();
        r = lt_lm_eval(m, kv, seq, ids, np, false, logits, err);
        pre_s = lt_now() - t0;
        if (r == LT_OK) lt_session_report_rates(s, np / pre_s, -1, -1);
        double t1 = lt_now(), tl = t1;
        while (r == LT_OK && done < ng && !lt_session_cancelled(s)) {
            int32_t cur = lt_argmax(logits, V);
            ids[np + done] = cur;
            r = lt_lm_eval(m, kv, seq, &cur, 1, false, logits, err);
            done++;
            double now = lt_now();
            if (now - tl > 0.1) {
                lt_sink_progress(sink, "bench", (double)done / ng);
                lt_session_report_rates(s, -1, done / (now - t1), -1);
                tl = now;
            }
        }
        dec_s = lt_now() - t1;
        lt_kv_seq_free(kv, seq);
    }
    if (r == LT_OK) {
        double dtps = done > 0 ? done / dec_s : 0;
        lt_session_report_rates(s, -1, 0, dtps > 0 ? dtps : -1);
        if (done > 1) lt_conv_note_plain_rate(c, dtps); /* plain decoding: the baseline of spec's speedup */
        lt_sink_progress(sink, "bench", 1);
        lt_result *res = lt_session_result(s);
        res->cancelled = done < ng;
        res->n_tokens = done;
        lt_session_set_digest(s, lt_digest_ids(ids + np, done));
        lt_sink_printf(sink, LT_TEXT_INFO, "bench '%s' on %s: prefill %d tokens %.1f tok/s, decode %d tokens %.1f tok/s%s\n",
                       name, lt_backend_device(lt_conv_backend(c)), np, np / pre_s, done, dtps,
                       res->cancelled ? " [cancelled]" : "");
    }
    lt_free(logits);
    lt_free(ids);
    return r;
}

static const lt_cmd k_cmds[] = {
    {"bench", NULL, "bench [-p PROMPT_TOKENS] [-n GEN_TOKENS]", "measure prefill and decode speed of the current model",
     0, 4, NULL, true, cmd_bench},
    {NULL},
};

const lt_cmd_table lt_cmd_bench_table = {"bench", k_cmds};
