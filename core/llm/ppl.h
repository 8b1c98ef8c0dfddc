/* ppl.h - perplexity of a language model on a text, computed as llama.cpp's llama-perplexity
 * computes it, the GPTQ papers' variant, and the KL divergence against a base model; the one
 * evaluation `lathe eval ppl` and the workbench's `eval ppl` share.
 *
 * What lt_ppl_eval computes (tools/perplexity/perplexity.cpp, perplexity() and
 * kl_divergence()):
 *  - the text is tokenized once, BOS first when the vocabulary adds one (lt_ppl_tokenize);
 *  - it is cut into n_chunk = n_tokens / ctx non-overlapping chunks of ctx tokens (capped by
 *    opts.n_chunks); the tail that does not fill a chunk is not used; at least 2 * ctx tokens;
 *  - each chunk is evaluated from an empty KV cache, its first token replaced by BOS when the
 *    vocabulary adds BOS (opts.bos >= 0), in forwards of at most opts.batch tokens (several
 *    whole chunks side by side as separate sequences when batch >= 2 * ctx);
 *  - scored: the logits at positions first .. ctx-2 predict the token after them, first =
 *    ctx/2 (llama-perplexity: the first half of each chunk is context only) or 0 with
 *    all_tokens (the GPTQ papers: every token of the window after the first);
 *  - nll = -log_softmax(logits)[next] in double (max in float, sum of expf in double, as
 *    llama.cpp); ppl = exp(mean nll); its standard error ppl * sqrt(var(nll) / (count - 1))
 *    with var = mean(nll^2) - mean(nll)^2 (llama.cpp's "PPL = X +/- Y"; 0 when var <= 0);
 *  - with a base model (--kld): the base runs the same batches; per scored position the KL
 *    divergence sum_i p_base(i) (log p_base(i) - log p(i)) in double over the whole
 *    vocabulary (llama.cpp stores the base log-probs in 16 bits and skips p_base < e^-16; this
 *    is the exact value), its mean and standard error as llama.cpp's mean_and_uncertainty
 *    (0 for 10 or fewer values), the top-1 agreement (the same argmax, first index on ties)
 *    with sqrt(p (1-p) / (count-1)), and the base model's own perplexity.
 * Progress is reported once before the first forward and after every forward; the callback may
 * stop the evaluation, which then returns LT_ECANCELLED with the result of the chunks
 * completed so far.
 *
 * Leaves out: reading options, printing and output formats (the front ends), opening models
 * and sizing their KV caches (the caller's; lt_ppl_shape says what fits), llama-perplexity's
 * --ppl-stride, its logits file and the HellaSwag / Winogrande / multiple-choice scores.
 */
#ifndef LT_PPL_H
#define LT_PPL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/opts.h"
#include "core/text/tokenizer.h"
#include "kv_cache.h"
#include "lm.h"

typedef struct lt_ppl_progress {
    int chunks_done, n_chunks; /* complete chunks */
    double frac;               /* tokens evaluated / all tokens to evaluate */
    double ppl;                /* running estimate over the complete chunks (0 before the first) */
    double elapsed_s, eta_s;   /* eta_s < 0 until something was measured */
    double tps;                /* tokens evaluated per second so far */
} lt_ppl_progress;

/* Return false to stop (lt_ppl_eval then returns LT_ECANCELLED). */
typedef bool (*lt_ppl_cb)(void *ud, const lt_ppl_progress *p);

typedef struct lt_ppl_opts {
    int ctx;          /* tokens per chunk: even, >= 4, <= the model's and the cache's context; 0 = 512 */
    int n_chunks;     /* at most this many chunks; <= 0 = every whole chunk of the text */
    int batch;        /* tokens per forward; 0 = 512 */
    bool all_tokens;  /* score every position 0 .. ctx-2 (GPTQ), not ctx/2 .. ctx-2 (llama.cpp) */
    int32_t bos;      /* replaces each chunk's first token; -1 = keep it (lt_ppl_bos says which) */
    /* --kld: the base model and a cache for it (base_kv may be kv when base == the model). A
     * base that is the evaluated model itself is not run again. NULL = no KL divergence. */
    lt_lm *base;
    lt_kv_cache *base_kv;
    lt_ppl_cb progress; /* may be NULL */
    void *ud;
} lt_ppl_opts;

typedef struct lt_ppl_result {
    double ppl, ppl_stderr;  /* exp(mean nll) and its standard error */
    double nll_mean;         /* mean negative log-likelihood (nats per token) */
    int64_t n_text;          /* tokens of the text given */
    int64_t n_scored;        /* predictions scored (n_chunks * (ctx - 1 - first)) */
    int n_chunks;            /* complete chunks evaluated */
    int n_chunks_total;      /* chunks asked for */
    int ctx, batch, n_par;   /* chunk length, tokens per forward, chunks per forward */
    bool all_tokens;
    double seconds;          /* wall time of the evaluation */
    /* with a base model */
    bool has_kld;
    double kld_mean, kld_stderr;
    double top1, top1_stderr;        /* fraction of positions with the same argmax, 0..1 */
    double base_ppl, base_ppl_stderr;
} lt_ppl_result;

/* The token that replaces each chunk's first token: BOS when the vocabulary adds BOS
 * (add_bos_token), else -1. */
int32_t lt_ppl_bos(const lt_tokenizer *tok);

/* Tokenizes text as llama-perplexity does (BOS first when the vocabulary adds it, special
 * token texts not parsed): *ids (lt_free it) and *n. */
lt_status lt_ppl_tokenize(const lt_tokenizer *tok, const char *text, size_t len, int32_t **ids, int64_t *n,
                          lt_err *err);
/* The same for a file (at most 1 GiB). */
lt_status lt_ppl_tokenize_file(const lt_tokenizer *tok, const char *path, int32_t **ids, int64_t *n, lt_err *err);

/* LT_OK when a and b are the same vocabulary (size, BOS, every token's text); otherwise
 * LT_EINVAL saying how they differ ("the base model has a vocabulary of 320 tokens, the
 * model 512"). */
lt_status lt_ppl_check_vocab(const lt_tokenizer *model, const lt_tokenizer *base, lt_err *err);

#define LT_PPL_MAX_PAR 256 /* chunks side by side at most */

/* What a cache for these options needs: *n_par chunks side by side per forward (batch / ctx,
 * at least 1, at most LT_PPL_MAX_PAR and the chunks asked for) and *max_rows rows of logits
 * per forward (for lt_lm_opts.max_logits). The defaults of o (ctx 0, batch 0) are applied. */
void lt_ppl_shape(const lt_ppl_opts *o, int *n_par, int *max_rows);

/* Runs the evaluation described at the top on ids[0..n) with m and kv (and o->base with
 * o->base_kv). Chunks run side by side up to lt_ppl_shape's n_par, fewer when the cache has
 * fewer free sequences or blocks; the sequences are taken from the caches and freed again.
 * Errors: LT_EINVAL for a bad ctx / batch or a base of another vocabulary size, LT_ERANGE
 * for a ctx beyond a model's or a cache's context, LT_EINVAL "you need at least 2*ctx
 * tokens" for a short text, those of the forward pass, LT_ECANCELLED (r holds the complete
 * chunks) when the callback stopped it. */
lt_status lt_ppl_eval(lt_lm *m, lt_kv_cache *kv, const int32_t *ids, int64_t n, const lt_ppl_opts *o,
                      lt_ppl_result *r, lt_err *err);

/* The report both front ends print, in lines ending in '\n': llama.cpp's "Final estimate:
 * PPL = X +/- Y", what was scored and how long it took, and with a base model the mean KL
 * divergence, the top-1 agreement and the base's perplexity. Returns the length it needed. */
size_t lt_ppl_format(const lt_ppl_result *r, char *buf, size_t cap);

/* The digest of a result as printed (the counts and ppl to 4 decimals, KLD to 6 and the
 * top-1 agreement to 4 when present), for the journal. */
uint64_t lt_ppl_digest(const lt_ppl_result *r);

/* ---- the options both front ends take ------------------------------------------------------ */

typedef struct lt_ppl_args {
    const char *file;   /* -f TEXT */
    const char *kld;    /* --kld BASE_MODEL (a path; in the workbench also a loaded model's name) */
    int ctx, n_chunks, batch;
    bool all_tokens;
} lt_ppl_args;

#define LT_PPL_N_OPTS 6
/* Defaults: ctx 512, every chunk, batch 512. */
void lt_ppl_args_default(lt_ppl_args *a);
/* Appends -f/--file, --ctx, --chunks, --batch, --all-tokens and --kld writing into a to table
 * (terminated by an entry with name NULL, cap entries in all) and terminates it again. */
void lt_ppl_opts_add(lt_ppl_args *a, lt_opt *table, int cap);

#endif
