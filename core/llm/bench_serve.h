/* bench_serve.h - `lathe bench serve`: an in-process load generator over the engine
 * (core/llm/engine.h), with vLLM's benchmark_serving conventions.
 *
 * Requests arrive at --rate per second with gamma-distributed gaps (shape = burstiness, mean
 * 1/rate; burstiness 1 = Poisson, < 1 burstier, > 1 smoother; rate 0 = all at once). Prompts
 * are random token ids with lengths uniform in --prompt-len MIN:MAX, or the "prompt" strings of
 * a JSONL dataset, tokenized; outputs are --output-len MIN:MAX tokens, end-of-generation ignored
 * (vLLM's --ignore-eos), greedy. Metrics (each request from its arrival): TTFT (first token),
 * TPOT ((e2e - ttft) / (tokens - 1)), ITL (every gap between tokens, pooled), E2E; P50 / P99
 * (linear interpolation, as numpy) and mean; request and output-token throughput over the run;
 * goodput = requests per second meeting every SLO of --slo. The capacity search (Sarathi-Serve)
 * measures the throughput with everything at once, then bisects the rate for the highest whose
 * P99 time between tokens (ITL) meets the SLO.
 * Leaves out: HTTP (requests go straight into the engine), ShareGPT's conversation format.
 */
#ifndef LT_BENCH_SERVE_H
#define LT_BENCH_SERVE_H

#include "core/base/opts.h"
#include "engine.h"

typedef struct lt_serve_bench_opts {
    int n_requests;       /* --requests (default 32) */
    float rate;           /* --rate requests per second; 0 = all at once */
    float burstiness;     /* --burstiness (default 1) */
    const char *prompt_len; /* --prompt-len N or MIN:MAX (default 128:512) */
    const char *output_len; /* --output-len N or MIN:MAX (default 32:128) */
    const char *dataset;    /* --dataset FILE.jsonl with {"prompt": "..."} per line */
    const char *policy;     /* --policy sarathi|prefill-first */
    int token_budget;       /* --token-budget (default 512) */
    int max_seqs;           /* --max-seqs: requests running at once (default 16) */
    const char *slo;        /* --slo ttft:MS,tpot:MS,tbt:MS */
    uint64_t seed;          /* --seed (default 0): prompts, lengths and arrivals */
    bool capacity;          /* --capacity: the capacity search */
    int capacity_steps;     /* --capacity-steps bisection steps (default 5) */
    int spec_ngram;         /* --spec-ngram G: n-gram speculation inside the engine, G drafts per step */
    const char *spec;       /* --spec ngram|draft:MODEL (core/llm/spec.h's lt_spec_parse_engine) */
    int gamma;              /* --gamma drafts per step of --spec (default 4) */
    /* set by the caller: the draft model of --spec draft:MODEL, opened (see draft_path) */
    lt_lm *draft;
    /* set by the caller: called after every engine step (the workbench's serve pane); false stops
     * the run (LT_ECANCELLED); may be NULL */
    bool (*on_step)(void *ud, const lt_engine *e, const lt_engine_stats *st);
    void *step_ud;
    int kv_blocks;          /* --kv-blocks / --kv-device-blocks: device KV pool (0 = full contexts) */
    int kv_host_blocks;     /* --kv-host-blocks: the host pool behind it (0 = none) */
    /* parsed by lt_serve_bench_check */
    int spec_draft;         /* draft-model drafts per step (0 = none) */
    const char *draft_path; /* MODEL of --spec draft:MODEL (points into spec) */
    int p_min, p_max, o_min, o_max;
    lt_engine_policy pol;
    float slo_ttft_ms, slo_tpot_ms, slo_tbt_ms; /* 0 = none */
} lt_serve_bench_opts;

lt_serve_bench_opts lt_serve_bench_defaults(void);

/* The options as one declarative table (core/base/opts.h), appended to table (cap entries in all,
 * terminated by an entry with name NULL). */
#define LT_SERVE_BENCH_N_OPTS 18
void lt_serve_bench_opts_add(lt_serve_bench_opts *o, lt_opt *table, int cap);
/* Parses and checks the string options into the numeric fields; LT_EINVAL naming the option. */
lt_status lt_serve_bench_check(lt_serve_bench_opts *o, lt_err *err);

typedef struct lt_lat { double p50, p99, mean; } lt_lat;

typedef struct lt_serve_bench_result {
    double rate;            /* offered rate (0 = all at once) */
    int n_done, n_failed;
    double duration_s;      /* first arrival to last token */
    int64_t prompt_tokens, output_tokens;
    lt_lat ttft_ms, tpot_ms, itl_ms, e2e_ms;
    double requests_per_s, throughput_tok_s, total_tok_s, goodput_req_s;
    int n_good;
    int n_steps, n_preempted, max_step_tokens, kv_blocks_peak, kv_blocks_total;
    int kv_host_peak, kv_host_total; /* host pool blocks: most used at once, all */
    int64_t kv_spilled, kv_fetched;  /* blocks moved to the host pool and back during the run */
    double decode_per_step, prefill_per_step; /* mean tokens per step */
    int64_t drafted, accepted;                /* --spec-ngram: drafts checked and accepted */
} lt_serve_bench_result;

/* The report as text lines, one call of line per line (without a line break): the load, the
 * latency table, throughput, steps and speculation; with capacity (n_trials > 0) the trials'
 * table and the capacity instead. */
void lt_serve_bench_report(const lt_serve_bench_opts *o, const lt_serve_bench_result *trials, int n_trials,
                           double capacity, void (*line)(void *ud, const char *s), void *ud);

/* The requests of a run: prompts (random ids or the dataset's, tokenized with tok) and output
 * lengths, drawn from o->seed. */
typedef struct lt_serve_workload lt_serve_workload;
lt_status lt_serve_workload_make(lt_serve_workload **out, const lt_serve_bench_opts *o, const lt_tokenizer *tok,
                                 int n_vocab, lt_err *err);
void lt_serve_workload_free(lt_serve_workload *w);
int lt_serve_workload_max_ctx(const lt_serve_workload *w); /* longest prompt + output */

/* The warm-up both front ends run before measuring: two short random requests through the
 * engine (threads, caches, page faults). */
lt_status lt_serve_bench_warmup(lt_lm *lm, lt_kv_cache *kv, const lt_tokenizer *tok, const lt_serve_workload *w,
                                const lt_serve_bench_opts *o, lt_err *err);

/* One run at rate (0 = all at once) through a fresh engine over lm and kv (kv needs o->max_seqs
 * sequences); progress (may be NULL) sees requests done and total and may stop the run
 * (LT_ECANCELLED). */
typedef bool (*lt_serve_progress)(void *ud, int done, int total);
lt_status lt_serve_bench_run(lt_lm *lm, lt_kv_cache *kv, const lt_tokenizer *tok, const lt_serve_workload *w,
                             const lt_serve_bench_opts *o, double rate, lt_serve_progress progress, void *ud,
                             lt_serve_bench_result *r, lt_err *err);

/* The capacity search: trials[0] at rate 0 (all at once: the throughput ceiling R; not judged,
 * as nothing arrives during decodes), then o->capacity_steps bisections of (0, R) with arrivals
 * at the rate; *capacity = the highest rate tried whose P99 ITL met the SLO (tbt, else tpot),
 * 0 when none did. trials needs room for capacity_steps + 1. */
lt_status lt_serve_bench_capacity(lt_lm *lm, lt_kv_cache *kv, const lt_tokenizer *tok, const lt_serve_workload *w,
                                  const lt_serve_bench_opts *o, lt_serve_progress progress, void *ud,
                                  lt_serve_bench_result *trials, int *n_trials, double *capacity, lt_err *err);

#endif
