/* report.h - the compression report: loaded models side by side, the first the original the
 * others were made from - size and bits per weight, perplexity on a text as llama-perplexity
 * scores it (second half of each chunk) and over all tokens (the GPTQ papers'), the KL
 * divergence and top-1 agreement against the original, prefill and decode tok/s. One
 * function measures a list of models (the `compare` command and its pane use it).
 *
 * Per model (the first one's KLD is 0: it is the base), all on its own KV cache:
 *  - size: with its source, the tensor data of the file (every tensor, as llama-quantize's
 *    "model size" counts it) and bits per weight = bytes * 8 / elements; without one, the
 *    weights it holds (lt_lm.weight_bytes) over the matrices' parameters;
 *  - lt_ppl_eval (core/llm/ppl.h) with the original as base (ppl, KLD, top-1), then again with
 *    all_tokens (ppl_all), same ctx and chunks;
 *  - lt_bench_lm (core/llm/bench.h): prefill of n_prompt tokens, decode of n_gen, warm-up first.
 * Leaves out: opening models, tokenizing the text (the caller's), printing (lt_creport_format).
 */
#ifndef LT_REPORT_H
#define LT_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/formats/modelsrc.h"
#include "core/llm/kv_cache.h"
#include "core/llm/lm.h"

#define LT_CREPORT_MAX 8

typedef struct lt_creport_model {
    const char *name;
    lt_lm *lm;
    lt_kv_cache *kv;
    const lt_modelsrc *src; /* may be NULL */
} lt_creport_model;

typedef struct lt_creport_event {
    int model, n_models;
    const char *stage; /* "ppl", "ppl all", "bench" */
    double frac;       /* of the whole report */
} lt_creport_event;

typedef struct lt_creport_opts {
    const int32_t *ids; /* the tokenized text (lt_ppl_tokenize) */
    int64_t n_ids;
    int ctx, n_chunks, batch; /* as lt_ppl_opts (0: 512, every chunk, 512) */
    int32_t bos;              /* lt_ppl_bos */
    int n_prompt, n_gen;      /* bench (0: 64, 32); n_gen < 0: no bench */
    bool (*progress)(void *ud, const lt_creport_event *e); /* false cancels: LT_ECANCELLED */
    void *ud;
} lt_creport_opts;

typedef struct lt_creport_row {
    char name[64];
    uint64_t bytes, n_weights;
    double bpw;
    double ppl, ppl_stderr, ppl_all, kld, kld_stderr, top1;
    double prefill_tps, decode_tps;
} lt_creport_row;

typedef struct lt_creport {
    int n;
    lt_creport_row rows[LT_CREPORT_MAX];
    char text[64];      /* the text's file name, for the title */
    int ctx, n_chunks;  /* chunks scored */
    int n_prompt, n_gen;
} lt_creport;

/* Measures m[0..n) (n 1..LT_CREPORT_MAX, m[0] the original) into *r (text: its name, left
 * "" here). Errors: LT_EINVAL for n out of range or models of other vocabulary sizes, those
 * of lt_ppl_eval and lt_bench_lm, LT_ECANCELLED. */
lt_status lt_creport_run(const lt_creport_model *m, int n, const lt_creport_opts *o, lt_creport *r, lt_err *err);

/* The table as text lines ending in '\n', none over 80 columns (a model name over 15
 * characters goes on a line of its own); returns the length it needed. */
size_t lt_creport_format(const lt_creport *r, char *buf, size_t cap);

#endif
