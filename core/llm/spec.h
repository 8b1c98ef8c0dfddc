/* spec.h - speculative decoding: a cheap drafter proposes tokens, the target model checks
 * them all in one batched forward over its paged KV cache, and rejected positions are rolled
 * back by truncating the cache.
 *
 * Acceptance is exact: with greedy sampling the output is token for token the plain greedy
 * output; with sampling, draft token d (drawn from the drafter's distribution q) is kept
 * with probability min(1, p(d)/q(d)), a rejection draws from max(0, p - q) normalised, and
 * when every draft is kept one bonus token is drawn from p, so the output follows the
 * target's distribution (p and q are lt_sampler_dist's final distributions).
 *
 * Draft sources:
 *  - DRAFT: a smaller model with the same vocabulary (its own KV cache).
 *  - NGRAM: prompt lookup - the tokens that followed the latest earlier occurrence of the
 *    context's last n-gram; no second model.
 *  - TRIFORCE: hierarchical. The target's own weights over a retrieval-based sparse view of
 *    its KV cache (chunks scored by the last query . the chunk's mean key, summed over
 *    heads and layers; the best chunks within a token budget plus the first chunk and the
 *    most recent ones) draft for the target; that level is itself drafted by a small model
 *    over a StreamingLLM cache (sink tokens + a recent window), or by n-gram lookup.
 * Optional adaptive gamma: grows by one after a fully accepted draft, shrinks by one when
 * less than half was accepted.
 *
 * Leaves out: tree drafts, per-head / per-layer chunk selection (one selection serves all
 * layers and heads, so views can share whole cache blocks), re-rotating keys of the
 * streaming window (tokens keep their true rotary positions).
 */
#ifndef LT_SPEC_H
#define LT_SPEC_H

#include "core/base/opts.h"
#include "generate.h"

typedef enum lt_spec_kind {
    LT_SPEC_OFF = 0, /* plain decoding through the same loop (a baseline) */
    LT_SPEC_NGRAM,
    LT_SPEC_DRAFT,
    LT_SPEC_TRIFORCE,
} lt_spec_kind;

typedef struct lt_spec_params {
    lt_spec_kind kind;
    int gamma;         /* tokens drafted per target step; 0 = 4 (TriForce: 6) */
    bool adaptive;     /* adapt gamma to the acceptance */
    int gamma_max;     /* adaptive upper bound; 0 = 12 */
    int ngram_max;     /* longest n-gram looked up; 0 = 4 (shortest is 1) */
    lt_lm *draft;      /* DRAFT: required; TRIFORCE: optional bottom level (NULL = n-gram) */
    /* TriForce */
    int budget;        /* retrieval view size in tokens; 0 = 4096 */
    int chunk;         /* chunk size in tokens, a multiple of the KV block size; 0 = the block size */
    int gamma_bottom;  /* tokens the bottom level drafts per retrieval step; 0 = 4 */
    int sinks;         /* StreamingLLM sink tokens of the bottom model (rounded up to blocks); 0 = 16 */
    int window;        /* StreamingLLM recent window of the bottom model; 0 = 256 */
} lt_spec_params;

/* Defaults for a kind (everything else 0 = default). */
lt_spec_params lt_spec_defaults(lt_spec_kind kind);
const char *lt_spec_kind_name(lt_spec_kind kind); /* "off", "ngram", "draft", "triforce" */

typedef struct lt_spec_level_stats {
    int64_t drafted;  /* draft tokens checked */
    int64_t accepted; /* of them accepted */
    int64_t steps;    /* verification forwards */
    double accept_rate; /* accepted / drafted */
    double mean_len;    /* tokens produced per verification (accepted + 1) */
} lt_spec_level_stats;

typedef struct lt_spec_stats {
    lt_gen_stats gen;
    /* level[0]: drafts verified by the target; level[1] (TriForce only): bottom drafts
     * verified by the retrieval level. */
    lt_spec_level_stats level[2];
    int n_levels;      /* 0 (off), 1, or 2 (TriForce) */
    int n_drafted_out; /* generated tokens that came from accepted drafts */
    int gamma;         /* gamma at the end (adaptive) */
} lt_spec_stats;

/* Called for each generated token like lt_gen_cb; drafted = the token was an accepted draft
 * (not the target's own correction or bonus token). Return false to stop. */
typedef bool (*lt_spec_cb)(void *ud, int32_t id, const char *text, size_t len, bool drafted);

typedef struct lt_spec lt_spec;

/* A speculative decoder for target over its cache kv (held, not owned; they must outlive
 * it). Checks the settings and the draft model (same vocabulary size as the target, else an
 * error); creates the draft model's own KV cache. TriForce needs a second free sequence slot
 * in kv and a chunk that is a multiple of its block size. Reusable across calls: the
 * drafters' caches are kept and re-synchronised with each call's context. */
lt_status lt_spec_create(lt_spec **out, lt_lm *target, lt_kv_cache *kv, const lt_spec_params *p, lt_err *err);
void lt_spec_free(lt_spec *s); /* NULL is a no-op */
const lt_spec_params *lt_spec_get_params(const lt_spec *s);

/* lt_generate with speculation: one request through the serving engine (core/llm/engine.h),
 * whose per-request speculation is the one speculative loop. seq already holds past[0..n_past) (n_past must equal its
 * length); past may be NULL when n_past is 0, or when the previous call of this lt_spec was
 * on the same sequence and nothing else changed it since (a chat: each turn passes NULL and
 * the sequence's length). prompt is appended and the continuation generated. As
 * lt_generate: the last generated token is not in the cache (except after an
 * end-of-generation stop), the repetition penalty sees the prompt and the generated
 * tokens, and a cancel is not an error. drafted (may be NULL, out_cap entries) marks
 * accepted drafts per generated token. */
lt_status lt_spec_generate(lt_spec *s, const lt_tokenizer *tok, int seq, const int32_t *past, int n_past,
                           const int32_t *prompt, int n_prompt, const lt_gen_params *gp, lt_spec_cb cb, void *ud,
                           int32_t *out_ids, bool *drafted, int out_cap, lt_spec_stats *stats, lt_err *err);

/* TriForce's drafter: the retrieval level (the target's weights over a sparse view of one
 * request's target cache) drafted by the bottom level (a draft model over a StreamingLLM cache,
 * or n-gram lookup), for the engine's spec_triforce requests. One request at a time. */
typedef struct lt_spec_tf lt_spec_tf;

/* A drafter for requests on target's cache kv (held; they must outlive it) with p's TriForce
 * settings (gamma_max, ngram_max, draft = the bottom model or NULL, budget, chunk, gamma_bottom,
 * sinks, window; 0 = defaults as lt_spec_params). Checks the chunk (whole KV blocks), the budget
 * (3 chunks at least) and a second sequence slot in kv; creates the bottom model's cache. */
lt_status lt_spec_tf_create(lt_spec_tf **out, lt_lm *target, lt_kv_cache *kv, const lt_spec_params *p, lt_err *err);
void lt_spec_tf_free(lt_spec_tf *t); /* NULL is a no-op */
/* Starts a request: the levels' samplers from sp (seeds sp.seed + 1 and 2 times 0x9E3779B97F4A7C15,
 * as the draft levels of a speculative run), statistics and chunk means reset. */
lt_status lt_spec_tf_begin(lt_spec_tf *t, const lt_sampler_params *sp, lt_err *err);
/* Where the target's forwards leave their last token's queries (lt_batch.q_last): the view's
 * chunk scores use the latest. */
float *lt_spec_tf_query(lt_spec_tf *t);
/* Drafts up to want tokens after toks[0..n) into toks[n..n + *k) (room for want + 1 there) with
 * their distributions q [*k][V]; sequence seq of the cache holds toks[0..n - 1); the repetition
 * penalty sees toks[pen0..]. */
lt_status lt_spec_tf_draft(lt_spec_tf *t, int seq, int32_t *toks, int n, int pen0, int want, float *q, int *k,
                           lt_err *err);
/* The bottom level's drafts verified by the retrieval level since lt_spec_tf_begin. */
void lt_spec_tf_stats(const lt_spec_tf *t, lt_spec_level_stats *st);

/* The acceptance rule above, one implementation for the serving engine (core/llm/engine.c)
 * and TriForce's retrieval level. hist[0..n) is the history the verifier's sampler smp sees (the repetition
 * penalty), drafts are at hist[n..n+k); logits [k+1][V] are the verifier's rows for the tokens
 * hist[n-1..n+k); q [k][V] the drafts' distributions, NULL for certain drafts (n-gram lookup: q is
 * one-hot). In order, row i's distribution p_i = lt_sampler_dist over hist[0..n+i); draft i is
 * kept when u * q(d) < p(d) (u uniform), else replaced by a draw from max(0, p_i - q_i) (from p_i
 * when that is empty) and the check ends; after k kept drafts one bonus token is drawn from p_k.
 * Returns m, the tokens now at hist[n..n+m) (m - 1 kept drafts, then the correction or bonus);
 * hist[n+m-1] is -1 when a row had no token to choose (NaN logits). p receives the verifier's
 * distributions: rows [m][V] when p_rows, else one row reused; resid is [V] scratch. */
int lt_spec_accept(lt_sampler *smp, int V, const float *logits, int32_t *hist, int n, int k, const float *q, float *p,
                   bool p_rows, float *resid);

/* Whether draft can propose tokens for target: the same vocabulary size and the same backend
 * (LT_EINVAL naming both otherwise; who names the caller, e.g. "engine: "). One check for
 * lt_spec_create, TriForce's drafter and the engine. */
lt_status lt_spec_draft_check(const lt_lm *target, const lt_lm *draft, const char *who, lt_err *err);

/* n-gram drafting (prompt lookup), for the engine and TriForce's bottom level: up to want
 * tokens after h[0..n) written to h[n..n+want): the continuation of the latest earlier
 * occurrence of the longest matching suffix (ngram_max down to 1 tokens); a match d tokens back
 * continues periodically (copying from the proposal itself), so a loop of period d is drafted
 * in full. Returns want, or 0 when no suffix recurs. */
int lt_spec_ngram_propose(int32_t *h, int n, int want, int ngram_max);

/* Parses a --spec / `/spec` value: "off", "ngram", "draft:MODEL", "triforce" or
 * "triforce:MODEL" (a draft model as TriForce's bottom level). *model points into text
 * after the colon, or is NULL. LT_EINVAL naming the choices otherwise. */
lt_status lt_spec_parse(const char *text, lt_spec_kind *kind, const char **model, lt_err *err);

/* --spec and --gamma of the serving engine (`lathe serve`, `lathe bench serve`; the request
 * fields of core/llm/engine.h): "ngram" gives *ngram = gamma, "draft:MODEL" *draft = gamma and
 * *model (gamma 0 = 4); "off" or NULL gives both 0 (LT_EINVAL when gamma is set). "triforce" is
 * LT_EINVAL: the server has no TriForce drafters per request (`lathe generate --spec triforce`). */
lt_status lt_spec_parse_engine(const char *spec, int gamma, int *ngram, int *draft, const char **model, lt_err *err);

/* The speculative decoding options as one declarative table (core/base/opts.h), shared by the
 * `spec` command, `lathe generate` and `lathe bench spec`: --gamma, --adaptive, --budget,
 * --chunk, --gamma-bottom, --window, writing into p. Appends them to table (terminated by an
 * entry with name NULL, cap entries in all) and terminates it again. */
#define LT_SPEC_N_OPTS 6
void lt_spec_opts_add(lt_spec_params *p, lt_opt *table, int cap);

#endif
