/* serve.c - `bench serve [options]`: the serving benchmark of `lathe bench serve`
 * (core/llm/bench_serve.h: the same option table, warm-up, runs, capacity search and text
 * report) on the current model, as a cancellable job. Every engine step's snapshot feeds the
 * workbench's serve pane (lt_session_set_serve: running and waiting requests, decode and
 * prefill tokens per step, KV blocks, times between tokens); the report goes to the transcript.
 * Leaves out: --json (the CLI's output format), the HTTP server (`lathe serve`).
 */
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "core/base/clock.h"
#include "core/llm/bench_serve.h"

typedef struct serve_ud {
    lt_session *s;
    lt_sink *sink;
    lt_serve_view v;
    double t_pub; /* when the pane last got a snapshot */
    int done0;    /* requests of the capacity search's earlier trials */
} serve_ud;

static bool on_step(void *ud, const lt_engine *e, const lt_engine_stats *st) {
    (void)st;
    serve_ud *u = ud;
    lt_engine_snapshot_get(e, &u->v.eng); /* kept each step: the pane ends on the run's last step */
    u->v.done = u->done0 + (int)u->v.eng.n_finished;
    double now = lt_now();
    if (now - u->t_pub >= 0.05) { /* the pane redraws a few times a second: 20 snapshots a second are plenty */
        lt_session_set_serve(u->s, &u->v);
        u->t_pub = now;
    }
    return !lt_session_cancelled(u->s);
}

static bool on_progress(void *ud, int done, int total) {
    serve_ud *u = ud;
    if (done == total) u->done0 += total; /* the next trial (capacity) starts a fresh engine */
    lt_sink_progress(u->sink, "serve", total > 0 ? (double)done / total : 0);
    return !lt_session_cancelled(u->s);
}

static void to_sink(void *ud, const char *line) { lt_sink_printf(ud, LT_TEXT_INFO, "%s\n", line); }

#define SERVE_USAGE                                                                                               \
    "bench serve [--requests N] [--rate R] [--burstiness B] [--prompt-len N|MIN:MAX] [--output-len N|MIN:MAX] " \
    "[--dataset FILE] [--policy sarathi|prefill-first] [--token-budget T] [--max-seqs N] [--slo ttft:MS,tpot:MS] " \
    "[--capacity] [--spec ngram|draft:MODEL] [--gamma G]"

lt_status lt_cmd_bench_serve(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_lm *lm;
    lt_tokenizer *tok;
    lt_kv_cache *ckv;
    const char *name;
    lt_conv *c;
    LT_TRY(lt_session_llm(s, NULL, &c, &name, err));
    LT_TRY(lt_session_get_lm(s, NULL, &lm, &tok, &ckv, err));
    lt_serve_bench_opts so = lt_serve_bench_defaults();
    lt_opt opts[LT_SERVE_BENCH_N_OPTS + 1] = {{0}};
    lt_serve_bench_opts_add(&so, opts, LT_SERVE_BENCH_N_OPTS + 1);
    lt_args sub = *a; /* "serve" and its options, as `lathe bench serve` parses them */
    sub.argc = a->argc - 1;
    for (int i = 0; i < sub.argc; i++) sub.argv[i] = a->argv[i + 1];
    int n_pos;
    LT_TRY(lt_args_parse(&sub, "bench serve", SERVE_USAGE, opts, NULL, 0, &n_pos, err));
    if (lt_serve_bench_check(&so, err) != LT_OK) return lt_err_prefix(err, "bench serve");
    lt_backend *be = lt_lm_backend(lm);
    lt_serve_workload *w = NULL;
    lt_kv_cache *kv = NULL;
    lt_lm *draft = NULL;
    lt_status st = lt_serve_workload_make(&w, &so, tok, lt_lm_config(lm)->n_vocab, err);
    if (st == LT_OK) { /* its own cache: max-seqs sequences of the longest request */
        lt_kv_opts ko = lt_lm_kv_opts(lm, lt_serve_workload_max_ctx(w) + 1, so.max_seqs);
        st = lt_kv_create(&kv, be, &ko, err);
    }
    if (st == LT_OK && so.draft_path) {
        st = lt_cmd_open_lm(s, so.draft_path, be, NULL, &draft, NULL, err);
        if (st != LT_OK) lt_err_prefix(err, "bench serve: draft model");
        so.draft = draft;
    }
    serve_ud u = {.s = s, .sink = sink};
    snprintf(u.v.title, sizeof u.v.title, "%s %d%s", lt_engine_policy_name(so.pol), so.token_budget,
             so.spec_draft ? " +draft" : so.spec_ngram ? " +ngram" : "");
    u.v.total = so.capacity ? so.n_requests * (so.capacity_steps + 1) : so.n_requests;
    u.v.running = true;
    so.on_step = on_step;
    so.step_ud = &u;
    if (st == LT_OK) {
        lt_sink_progress(sink, "serve", 0);
        lt_session_set_serve(s, &u.v);
        lt_sink_printf(sink, LT_TEXT_INFO, "bench serve '%s' on %s: policy %s, token budget %d, %d running at most, "
                       "KV %d blocks of %d tokens\n", name, lt_backend_device(be), lt_engine_policy_name(so.pol),
                       so.token_budget, so.max_seqs, lt_kv_blocks_total(kv), lt_kv_block_size(kv));
        st = lt_serve_bench_warmup(lm, kv, tok, w, &so, err);
    }
    lt_serve_bench_result trials[24];
    int n_trials = 1;
    double capacity = 0;
    if (st == LT_OK)
        st = so.capacity ? lt_serve_bench_capacity(lm, kv, tok, w, &so, on_progress, &u, trials, &n_trials, &capacity,
                                                   err)
                         : lt_serve_bench_run(lm, kv, tok, w, &so, so.rate, on_progress, &u, &trials[0], err);
    bool cancelled = st == LT_ECANCELLED;
    if (u.v.total > 0 && (st == LT_OK || cancelled)) { /* the pane keeps the run's last state */
        u.v.running = false;
        lt_session_set_serve(s, &u.v);
    }
    lt_result *res = lt_session_result(s);
    if (cancelled) {
        res->cancelled = true;
        lt_sink_printf(sink, LT_TEXT_INFO, "bench serve: [cancelled]\n");
        st = LT_OK;
    } else if (st == LT_OK) {
        lt_serve_bench_report(&so, trials, n_trials, capacity, to_sink, sink);
        /* the digest: what the seeded workload produced (the counts, not the timings) */
        int64_t k[4] = {0};
        for (int i = 0; i < n_trials; i++) {
            k[0] += trials[i].n_done;
            k[1] += trials[i].n_failed;
            k[2] += trials[i].prompt_tokens;
            k[3] += trials[i].output_tokens;
        }
        lt_session_set_digest(s, lt_fnv1a64(LT_FNV_INIT, k, sizeof k));
        res->n_tokens = (int)k[3];
        lt_sink_progress(sink, "serve", 1);
    }
    lt_lm_close(draft);
    lt_kv_free(kv);
    lt_serve_workload_free(w);
    return st;
}
