/* bench.c - `bench [-p PROMPT_TOKENS] [-n GEN_TOKENS]` (`bench serve` is serve.c's): prefill and decode speed of the
 * current model, measured exactly as `lathe bench` measures it (core/llm/bench.c: warm-up,
 * one prefill of random tokens, greedy decode from an empty context), with progress, live rates
 * for the panes and Esc to stop; the decoded ids are the result digest. The plain decode rate becomes the baseline of `spec`'s speedup.
 * Leaves out: the measurement itself (core/llm/bench.c, which `lathe bench` uses too).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "core/llm/bench.h"

/* Progress of the measurement: the load bar, the panes' live rates, Esc. */
typedef struct bench_ud {
    lt_session *s;
    lt_sink *sink;
} bench_ud;

static bool on_progress(void *ud, const lt_bench_progress *p) {
    bench_ud *b = ud;
    if (p->phase == LT_BENCH_DECODE && p->done == 0) {
        lt_session_report_rates(b->s, p->prefill_tps, -1, -1);
    } else if (p->phase == LT_BENCH_DECODE) {
        lt_sink_progress(b->sink, "bench", p->frac);
        lt_session_report_rates(b->s, -1, p->decode_tps, -1);
    } else {
        lt_sink_progress(b->sink, "bench", 0);
    }
    return !lt_session_cancelled(b->s);
}

static lt_status cmd_bench(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    if (a->argc > 1 && !strcmp(a->argv[1], "serve")) return lt_cmd_bench_serve(s, a, sink, err); /* serve.c */
    lt_conv *c;
    const char *name;
    LT_TRY(lt_session_llm(s, NULL, &c, &name, err));
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
    bench_ud b = {s, sink};
    lt_bench_opts o = {.n_prompt = np, .n_gen = ng, .warmup = true, .progress = on_progress, .ud = &b, .report_s = 0.1};
    lt_bench_result r;
    LT_TRY(lt_bench_lm(lt_conv_lm(c), kv, &o, &r, err));
    lt_session_report_rates(s, -1, 0, r.decode_tps > 0 ? r.decode_tps : -1);
    if (r.n_gen > 1) lt_conv_note_plain_rate(c, r.decode_tps); /* plain decoding: the baseline of spec's speedup */
    lt_sink_progress(sink, "bench", 1);
    lt_result *res = lt_session_result(s);
    res->cancelled = r.cancelled;
    res->n_tokens = r.n_gen;
    lt_session_set_digest(s, r.digest);
    lt_sink_printf(sink, LT_TEXT_INFO, "bench '%s' on %s: prefill %d tokens %.1f tok/s, decode %d tokens %.1f tok/s%s\n",
                   name, lt_backend_device(lt_conv_backend(c)), r.n_prompt, r.prefill_tps, r.n_gen, r.decode_tps,
                   r.cancelled ? " [cancelled]" : "");
    return LT_OK;
}

static const lt_cmd k_cmds[] = {
    {"bench", NULL, "bench [-p PROMPT_TOKENS] [-n GEN_TOKENS] | bench serve [--requests N] [--rate R] [options]",
     "measure prefill and decode speed of the current model; `bench serve`: many requests through the serving "
     "engine (the serve pane)",
     0, -1, NULL, true, cmd_bench},
    {NULL},
};

const lt_cmd_table lt_cmd_bench_table = {"bench", k_cmds};
