/* generate.h - plain generation of one sequence: prefill a prompt into a KV sequence, then sample
 * and decode one token at a time, streaming text through a callback. It is a one-request use of
 * the engine (core/llm/engine.h), which serves many requests with the same loop.
 *
 * Used by `lathe generate`, the workbench's chat, scripts and tests. The callback sees
 * each token with its decoded text (whole UTF-8 characters only) and can cancel.
 */
#ifndef LT_GENERATE_H
#define LT_GENERATE_H

#include "core/base/clock.h"
#include "lm.h"
#include "sampler.h"
#include "core/text/tokenizer.h"

typedef struct lt_gen_params {
    lt_sampler_params sp;
    int n_predict;    /* tokens to generate; <= 0: until end of generation or context end */
    bool stop_at_bos; /* llama2.c models end a story with BOS */
    bool ignore_eos;
} lt_gen_params;

typedef enum lt_gen_stop {
    LT_GEN_STOP_LENGTH = 0, /* n_predict reached */
    LT_GEN_STOP_EOG,        /* end-of-generation token */
    LT_GEN_STOP_CONTEXT,    /* context full */
    LT_GEN_STOP_CANCEL,     /* the callback asked to stop */
    LT_GEN_STOP_STRING,     /* a stop sequence appeared (set by callers that match them, core/llm/stopstr.h) */
} lt_gen_stop;

typedef struct lt_gen_stats {
    int n_prompt, n_gen;
    double prefill_s, decode_s; /* wall time of the prompt pass and of the decode steps */
    lt_gen_stop stop;
} lt_gen_stats;

/* Called for each generated token; text may be empty (held UTF-8 bytes). Return false to stop. */
typedef bool (*lt_gen_cb)(void *ud, int32_t id, const char *text, size_t len);

/* Appends prompt[n_prompt] to sequence seq (which may already hold a conversation), then
 * generates. The last generated token is not fed back, so it is not in the cache yet: a
 * continuation passes it first. Generated ids go to out_ids (up to out_cap, may be NULL). tok may be NULL
 * (then text is empty). A cancel is not an error: stats->stop says why it ended. */
lt_status lt_generate(lt_lm *m, const lt_tokenizer *tok, lt_kv_cache *kv, int seq, const int32_t *prompt,
                      int n_prompt, const lt_gen_params *p, lt_gen_cb cb, void *ud, int32_t *out_ids, int out_cap,
                      lt_gen_stats *stats, lt_err *err);


#endif
