/* bench.h - the one prefill/decode measurement of a language model that both front ends use
 * (`lathe bench` and the workbench's `bench`), the two rooflines a backend measures itself,
 * and the runs of `lathe bench spec` (plain against speculative decoding on one prompt).
 *
 * What lt_bench_lm measures (like llama-bench's pp/tg), each phase on a fresh sequence of the
 * caller's KV cache that it frees again:
 *  - warm-up (opts.warmup): one eval of min(16, n_prompt) prompt tokens (threads, caches,
 *    page faults), not timed;
 *  - prefill: one lt_lm_eval of n_prompt pseudo-random tokens (lt_bench_prompt_ids);
 *  - decode: n_gen single-token evals at batch 1 from an EMPTY context, starting with the
 *    prompt's first token and greedy (lt_argmax) on the model's own logits. The decoded ids
 *    (the argmax after each eval) are digested with lt_digest_ids: for a given model the
 *    digest depends only on the number of tokens decoded, so a replay of a cancelled run
 *    that decodes the same count reproduces it.
 * The progress callback sees each phase start and the decode tokens (live rate) and may
 * cancel; a cancel is not an error (result.cancelled, counts of what was done).
 *
 * Leaves out: printing and output formats (the CLI and the workbench format the result),
 * opening models and sizing the KV cache (the caller's), sampling (decode is greedy; bench
 * spec takes the caller's lt_gen_params), and batched / multi-sequence throughput.
 */
#ifndef LT_BENCH_H
#define LT_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "spec.h"

/* ---- prefill and decode speed ----------------------------------------------------------- */

typedef enum lt_bench_phase {
    LT_BENCH_WARMUP = 0, /* about to run the warm-up */
    LT_BENCH_PREFILL,    /* about to run the prefill */
    LT_BENCH_DECODE,     /* decode starts (done 0) or is under way */
} lt_bench_phase;

typedef struct lt_bench_progress {
    lt_bench_phase phase;
    int done, total;    /* decode tokens done and asked for (0 before decode) */
    double frac;        /* done / total: 0 before decode (and when total is 0) */
    double prefill_tps; /* prefill tokens per second once the prefill ran, else 0 */
    double decode_tps;  /* live: done / decode seconds so far (0 before the first token) */
} lt_bench_progress;

/* Return false to stop the measurement (it then ends with result.cancelled). */
typedef bool (*lt_bench_cb)(void *ud, const lt_bench_progress *p);

typedef struct lt_bench_opts {
    int n_prompt;         /* prefill tokens, 1 .. the KV cache's context */
    int n_gen;            /* decode tokens, 0 .. the KV cache's context */
    bool warmup;          /* run the warm-up first (the CLI does; a replay need not) */
    lt_bench_cb progress; /* may be NULL: called at each phase start and during decode */
    void *ud;
    /* Least seconds between decode progress calls; 0 = after every decoded token (cancel is
     * checked at each call, so 0 stops soonest). Phase starts are always reported. */
    double report_s;
} lt_bench_opts;

typedef struct lt_bench_result {
    /* what ran */
    int n_prompt;   /* tokens prefilled: opts.n_prompt, or 0 when cancelled before the prefill */
    int n_gen;      /* tokens decoded: opts.n_gen, fewer when cancelled */
    bool cancelled; /* the callback stopped it */
    double prefill_s, decode_s;
    double prefill_tps, decode_tps; /* 0 when the phase did not run */
    uint64_t digest;                /* lt_digest_ids of the n_gen decoded ids */
    /* derived from the model's shape and the rates */
    double params;             /* attention + MLP matrices of every layer + one n_vocab x dim matrix */
    double weight_bytes;       /* the model's weights on the device */
    double kv_bytes_per_token; /* K and V read per decoded token at the mean context (n_gen / 2) */
    double bytes_per_token;    /* weight bytes read per decoded token + kv_bytes_per_token */
    double achieved_bps;       /* bytes_per_token * decode_tps: bytes read per second in decode */
    double prefill_flops;      /* 2 * params * prefill_tps: FLOP per second in prefill */
    /* host memory: the process's peak resident set (lt_sysmem_peak_rss) once prefill and
     * decode have run - the model's weights, KV cache and scratch, before the rooflines'
     * buffers - and the size of the model's file(s) (0 for synthetic weights) */
    double peak_rss_bytes;
    double model_file_bytes;
    /* what the memory goal ("peak RSS at most 1.1x the model file plus KV and
     * scratch") leaves out: the bytes the model's backend holds for KV caches and for
     * scratch (lt_backend_mem_used: the model's activation arena sized for its largest batch,
     * block tables), as reserved - the resident part is smaller where they are used sparsely */
    double kv_bytes;
    double scratch_bytes;
    /* peak_rss_bytes / model_file_bytes, and the same after taking away kv_bytes and
     * scratch_bytes where they are host memory (a device keeps them out of the RSS: nothing
     * is taken away there); 0 without a file (synthetic weights) */
    double peak_rss_over_file;
    double peak_rss_over_file_excl_kv_scratch;
    /* the resident part of kv_bytes and scratch_bytes after the run (lt_backend_mem_resident;
     * 0 on a device), and the peak less those over the file: the memory goal counted by what
     * KV and scratch really hold in RAM (huge pages make a touched KV page resident whole) */
    double kv_resident_bytes;
    double scratch_resident_bytes;
    double peak_rss_over_file_excl_kv_scratch_resident;
    /* rooflines (lt_bench_roofline; 0 until measured or when a buffer did not fit) */
    double peak_copy_bps;    /* lt_bench_copy_bandwidth: decode's ceiling */
    double peak_gemm_flops;  /* lt_bench_gemm_peak: prefill's ceiling */
    double decode_roofline;  /* achieved_bps / peak_copy_bps (0 without a peak) */
    double prefill_roofline; /* prefill_flops / peak_gemm_flops (0 without a peak) */
} lt_bench_result;

/* The benchmark prompt: n pseudo-random ids in [0, n_vocab) from an LCG seeded 42 (the same
 * ids for the same vocabulary size on every host). */
void lt_bench_prompt_ids(int32_t *ids, int n, int n_vocab);

/* Runs the measurement described at the top on m with fresh sequences of kv (freed again,
 * also on errors and cancels; kv needs one free sequence slot and blocks for
 * max(n_prompt, n_gen) tokens) and fills *r (the roofline fields stay 0). Errors:
 * LT_EINVAL for bad counts, LT_ERANGE when a count exceeds lt_kv_max_ctx(kv), and those of
 * lt_lm_eval (e.g. LT_ENOMEM when the cache's blocks run out). */
lt_status lt_bench_lm(lt_lm *m, lt_kv_cache *kv, const lt_bench_opts *o, lt_bench_result *r, lt_err *err);

/* Best-of-3 device-to-device copy bandwidth of be over a 256 MiB buffer, read + write bytes
 * per second (0 when the buffer does not fit). */
double lt_bench_copy_bandwidth(lt_backend *be);

/* The dense GEMM rate of be's matmul op, measured the way prefill uses it: f16 weights [N, K]
 * times f32 activations [512, K] (N = K = 8192 on a device, 2048 on the host; cuBLAS GemmEx
 * on CUDA, widened sgemm on the CPU). FLOP per second, best of 3 (0 when it does not fit). */
double lt_bench_gemm_peak(lt_backend *be);

/* Measures both peaks on be and fills r's roofline fields from r's rates. */
void lt_bench_roofline(lt_backend *be, lt_bench_result *r);

/* ---- plain against speculative decoding (`lathe bench spec`) ---------------------------- */

typedef struct lt_bench_decode {
    double tps;        /* decode tokens per second, best of the runs */
    int n_gen;         /* tokens generated by the last run */
    lt_spec_stats st;  /* the last run's statistics (lt_bench_spec; n_levels 0 for plain) */
    bool exact;        /* lt_bench_spec: the last run generated exactly the reference ids */
} lt_bench_decode;

/* Appends the model's own greedy continuation of ids[0..n) - n_more tokens (fewer at an
 * end) - to ids (room for n + n_more), *n_out = the new length. A prompt that repeats itself,
 * on which prompt lookup can draft. Uses a fresh sequence of kv and frees it. */
lt_status lt_bench_self_prompt(lt_lm *m, lt_kv_cache *kv, int32_t *ids, int n, int n_more, int *n_out, lt_err *err);

/* Plain decoding through lt_generate: a short warm-up (4 tokens after min(16, n_prompt) of
 * the prompt), then runs (>= 1) times prompt + gp->n_predict tokens on a fresh sequence,
 * keeping the best decode rate. ids (may be NULL; room for gp->n_predict) receives the last
 * run's tokens: the reference lt_bench_spec compares with. */
lt_status lt_bench_plain(lt_lm *m, lt_kv_cache *kv, const int32_t *prompt, int n_prompt, const lt_gen_params *gp,
                         int runs, int32_t *ids, lt_bench_decode *r, lt_err *err);

/* The same with speculation sp (a fresh lt_spec for each run), runs times, best rate;
 * r->exact says whether the last run generated ref[0..n_ref) exactly (meaningful when gp is
 * greedy: speculation must then reproduce plain decoding token for token). */
lt_status lt_bench_spec(lt_lm *m, lt_kv_cache *kv, const lt_spec_params *sp, const int32_t *prompt, int n_prompt,
                        const lt_gen_params *gp, int runs, const int32_t *ref, int n_ref, lt_bench_decode *r,
                        lt_err *err);

#endif
