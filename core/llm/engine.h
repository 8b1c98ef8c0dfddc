/* engine.h - many requests over one model and one paged KV cache: each engine step builds ONE
 * lt_batch from the requests' tokens and runs one forward.
 *
 * A request carries its prompt, sampling settings (seed included), a token limit, stop
 * conditions (end-of-generation, stop strings, length, context) and a per-token stream
 * callback that may cancel. The scheduler (policies, as in the serving literature):
 *  - LT_POLICY_SARATHI (Sarathi-Serve's stall-free batching, vLLM v1): a step takes every
 *    running decode first (one token each), then continues partially prefilled prompts, then
 *    admits waiting prompts, chunked so the step holds at most token_budget tokens. Decodes
 *    never wait for a long prompt.
 *  - LT_POLICY_PREFILL_FIRST (vLLM v0 / Orca's baseline): while prompts wait, a step runs whole
 *    prompts only (as many as the budget holds, at least one) and running decodes pause.
 * When the KV pool runs out, the newest running request is preempted by recompute (vLLM): its
 * blocks are freed and it waits again at the head of the queue with prompt + generated tokens
 * as its new prompt; its stream and sampler carry on, so the output does not change.
 *
 * Same numbers as alone: a row of the batch sees only its own sequence (attention) and the
 * per-row matmuls; on kernel paths whose rows do not depend on the batch size (the quantized
 * types q8_0, q4_0, q4_1, ..., K-quants; see kernels/cpu/matmul.c), a request's greedy tokens
 * do not depend on what it was batched with or how its prompt was chunked. f32 / f16 / bf16 /
 * 2:4 / gq4 matrices switch from dot products to sgemm at 8 rows (f16 on AVX-512 VNNI: 32), so
 * their rows can differ in the last bits between a batch of 1 and a batch of many.
 *
 * The engine is single-threaded: add, cancel and step are called from one thread.
 * Speculative decoding per request (the one speculative loop; core/llm/spec.h's lt_spec_generate
 * is a one-request use of it): n-gram drafts (lt_req_params.spec_ngram), a draft model's
 * (spec_draft, with lt_engine_opts.draft) or TriForce's (spec_triforce, with the request's own
 * lt_spec_tf drafter: a retrieval view of its target cache, itself drafted by a bottom level)
 * ride in the same batch as one row each, verified by core/llm/spec.h's acceptance rule
 * (lt_spec_accept); rejected positions are truncated. A speculating request reads its prompt but
 * the last token as prefill; the last one opens its first verification (drafted as every
 * later one). Gamma can adapt to the acceptance (spec_adaptive, as spec.h). The draft model has
 * its own KV cache (the engine's, or the caller's lt_engine_opts.draft_kv) with a sequence per
 * drafting request (or the caller's, kept across requests: draft_seq); it reads the prompt in the
 * target's prefill chunks and drafts as gamma batched forwards over every drafting request of
 * the step, before the target's. TriForce drafts one request at a time (its levels are forwards
 * of that request alone) and takes the target's latest query from the batch's last row: a step
 * puts one TriForce request last.
 * Leaves out: TriForce for requests without their own drafter (the serving engine's --spec; a
 * drafter serves one unfinished request at a time), priorities, prefix sharing between requests.
 */
#ifndef LT_ENGINE_H
#define LT_ENGINE_H

#include "generate.h"
#include "spec.h"

typedef enum lt_engine_policy { LT_POLICY_SARATHI = 0, LT_POLICY_PREFILL_FIRST } lt_engine_policy;

const char *lt_engine_policy_name(lt_engine_policy p); /* "sarathi", "prefill-first" */
/* "sarathi" or "prefill-first"; LT_EINVAL naming both otherwise. */
lt_status lt_engine_policy_parse(const char *s, lt_engine_policy *p, lt_err *err);

typedef struct lt_engine_opts {
    lt_engine_policy policy;
    int token_budget;          /* tokens per step; 0 = no limit (whole prompts in one step) */
    int max_running;           /* requests holding a KV sequence at once; 0 = the cache's max_seqs */
    const lt_tokenizer *tok;   /* may be NULL: no text, no end-of-generation or stop strings */
    /* A draft model for requests with spec_draft > 0 (held, not owned): the target's vocabulary
     * and backend; the engine creates its KV cache (the target's context and block size,
     * max_running sequences, the target pool's blocks + 2 per sequence). NULL = none. */
    lt_lm *draft;
    /* The draft model's cache to use instead (held, not owned; NULL = the engine makes one):
     * a caller that keeps a draft sequence across requests (lt_req_params.draft_seq) owns it. */
    lt_kv_cache *draft_kv;
} lt_engine_opts;

typedef struct lt_req_params {
    const int32_t *prompt; /* [n_prompt] tokens, copied */
    int n_prompt;
    lt_gen_params gen;     /* sampler (seed included), n_predict, stop_at_bos, ignore_eos */
    const char *const *stops; /* stop strings (core/llm/stopstr.h; need the tokenizer) */
    int n_stops;
    /* Per token (text held back by stop strings is not passed); id -1 = the text held at the
     * end. Returning false cancels the request (stop LT_GEN_STOP_CANCEL). May be NULL. */
    lt_gen_cb cb;
    void *ud;
    /* -1: the engine takes a fresh KV sequence and frees it at the end (preemptible). >= 0: an
     * existing sequence that may already hold a conversation; the prompt is appended and the
     * sequence kept at the end as lt_generate leaves it (not preemptible). */
    int seq;
    int32_t *out_ids; /* optional: generated ids (up to out_cap) */
    int out_cap;
    double t_arrival; /* when the request arrived (lt_now seconds); 0 = at lt_engine_add */
    /* Speculative decoding inside the engine: > 0 = each decode step of this request drafts up
     * to this many tokens by n-gram lookup (prompt lookup: the continuation of the latest earlier
     * occurrence of the context's last n-gram, ngram_max down to 1 tokens; 0 = 4) and verifies
     * them in the same batch; acceptance as core/llm/spec.h (exact: greedy output is plain
     * greedy output, sampling follows the target distribution). */
    int spec_ngram;
    int ngram_max;
    /* > 0 = each decode step of this request drafts up to this many tokens with the engine's
     * draft model (lt_engine_opts.draft), verified as above; exclusive with spec_ngram. */
    int spec_draft;
    /* > 0 = each decode step drafts up to this many tokens with TriForce's drafter tf (held; one
     * request at a time uses it; lt_engine_add calls lt_spec_tf_begin); exclusive as above. */
    int spec_triforce;
    lt_spec_tf *tf;
    /* Adaptive gamma (any kind): +1 after a fully accepted draft (up to gamma_max, 0 = 12), -1
     * when less than half was accepted. */
    bool spec_adaptive;
    int gamma_max;
    /* The tokens seq already holds (seq >= 0; n_past must be its length; copied), so drafters
     * see the conversation: n-gram lookup searches it, the draft model reads it at its true
     * positions, TriForce views it. NULL: drafts see the request's own tokens only. */
    const int32_t *past;
    int n_past;
    /* keep_draft: the draft model reads into the caller's sequence draft_seq of
     * lt_engine_opts.draft_kv, which holds a prefix of past (longer is cut); at the end it holds
     * a prefix of past + prompt + generated tokens (its length says how much). */
    bool keep_draft;
    int draft_seq;
    /* Instead of cb when set: drafted = the token was an accepted draft. */
    lt_spec_cb spec_cb;
} lt_req_params;

/* What became of a request (lt_engine_result). */
typedef struct lt_req_result {
    bool finished;
    lt_status status;  /* LT_OK, or the error that ended it (NaN logits, a pool too small for it) */
    char msg[256];     /* the error's message */
    lt_gen_stats st;   /* n_prompt, n_gen, stop; prefill_s = admission to first token, decode_s = the rest */
    int n_preempted;   /* times it was preempted (and recomputed) */
    int64_t drafted, accepted; /* speculative tokens checked and accepted */
    int64_t spec_steps;        /* verification forwards (speculating requests) */
    int n_drafted_out;         /* generated tokens that were accepted drafts */
    int gamma;                 /* drafts per step at the end (adaptive) */
    double t_arrival, t_first, t_done; /* lt_now seconds; 0 = not yet */
} lt_req_result;

/* One step's numbers. */
typedef struct lt_engine_stats {
    int n_decode, n_prefill; /* tokens of the batch: decodes (with their drafts) and prompt (or recompute) tokens */
    int n_running, n_waiting; /* requests after the step */
    int n_preempted;          /* preemptions during the step */
    int n_finished;           /* requests that ended during the step */
    int kv_used, kv_total;    /* KV blocks after the step */
    int kv_host_used, kv_host_total; /* blocks of the KV host pool (0 without one) */
    double seconds;           /* the forward's wall time */
} lt_engine_stats;

/* What the engine is doing, for a live view (the workbench's serve pane): the latest steps. */
#define LT_ENGINE_HIST 64
typedef struct lt_engine_snapshot {
    int n_running, n_waiting;         /* requests now */
    int n_decode, n_prefill;          /* tokens of the last step (as lt_engine_stats) */
    int kv_used, kv_total;            /* KV blocks in the (device) pool */
    int kv_host_used, kv_host_total;  /* blocks in the host-memory pool (0: none) */
    int64_t n_steps, n_finished, n_preempted; /* since lt_engine_create (steps that ran a forward) */
    int64_t drafted, accepted;        /* speculative tokens checked and accepted, all requests */
    /* the last n_hist steps, oldest first: decode and prefill tokens of each */
    int n_hist;
    int hist_decode[LT_ENGINE_HIST], hist_prefill[LT_ENGINE_HIST];
    /* the last n_tbt times between two tokens of one request (ms), oldest first */
    int n_tbt;
    float tbt_ms[LT_ENGINE_HIST];
} lt_engine_snapshot;

typedef struct lt_engine lt_engine;

/* An engine over lm and kv (held, not owned; they must outlive it). */
lt_status lt_engine_create(lt_engine **out, lt_lm *lm, lt_kv_cache *kv, const lt_engine_opts *o, lt_err *err);
void lt_engine_free(lt_engine *e); /* NULL is a no-op; frees the sequences of unfinished requests it owns */

/* Queues a request; *id names it. LT_EINVAL for an empty prompt or a bad sequence, LT_ERANGE when
 * the prompt cannot fit the context. */
lt_status lt_engine_add(lt_engine *e, const lt_req_params *p, int *id, lt_err *err);
/* Ends a request now (stop LT_GEN_STOP_CANCEL; the text held back goes to its callback) and frees
 * its KV blocks. Unknown or finished ids are ignored. */
void lt_engine_cancel(lt_engine *e, int id);

/* One step: schedules, runs one forward, samples, streams, finishes. With nothing to do it
 * returns LT_OK and st->n_decode + st->n_prefill == 0. An error of the forward itself is
 * returned (the cache is as before the step); a request's own failure only ends that request.
 * st may be NULL. */
lt_status lt_engine_step(lt_engine *e, lt_engine_stats *st, lt_err *err);

int lt_engine_n_running(const lt_engine *e);
int lt_engine_n_waiting(const lt_engine *e);
bool lt_engine_idle(const lt_engine *e); /* nothing running or waiting */
/* NULL for an unknown or forgotten id. Valid until lt_engine_free or lt_engine_forget. */
const lt_req_result *lt_engine_result(const lt_engine *e, int id);
/* Frees a finished request's record (its result and tokens); a no-op for a request still
 * running or waiting, or an unknown id. A long-running caller (the HTTP server) forgets each
 * request once it has read its result, so the engine's memory does not grow with the requests
 * served (an 8-byte slot per id remains). */
void lt_engine_forget(lt_engine *e, int id);
/* The engine now, with its latest steps and times between tokens. */
void lt_engine_snapshot_get(const lt_engine *e, lt_engine_snapshot *out);
/* The generated ids of a request so far (*n of them). */
const int32_t *lt_engine_tokens(const lt_engine *e, int id, int *n);

#endif
