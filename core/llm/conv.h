/* conv.h - one language model's conversation: the model with its backend, tokenizer and KV
 * cache, the chat sequence and the tokens in it, the token sampled but not yet fed, and the
 * speculative decoder chat and one-off generations decode through when one is set.
 *
 * A session keeps one lt_conv per loaded language model; the chat, generate, bench and spec
 * commands work through it. The statistics (decode rates, speculative acceptance) may be read
 * from another thread (lt_conv_stats) while a command runs.
 * Leaves out: settings and seeds (the caller passes lt_gen_params), printing, journaling.
 */
#ifndef LT_CONV_H
#define LT_CONV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/llm/generate.h"
#include "core/llm/lm.h"
#include "core/llm/spec.h"
#include "core/text/tokenizer.h"

typedef struct lt_conv lt_conv;

typedef struct lt_conv_opts {
    bool llama2c;   /* a llama2.c model: a story ends with BOS */
    bool synthetic; /* random weights: no notion of the end of a text (generations ignore EOS) */
    int ctx;        /* context of the cache in tokens; 0 = the model's */
} lt_conv_opts;

/* Takes ownership of be, lm and tok (tok may be NULL), also on failure; makes a KV cache of
 * o->ctx tokens or the model's context (f16, room for a second sequence) and the chat sequence. */
lt_status lt_conv_create(lt_conv **out, lt_backend *be, lt_lm *lm, lt_tokenizer *tok, const lt_conv_opts *o,
                         lt_err *err);
void lt_conv_free(lt_conv *c); /* NULL is a no-op */

lt_backend *lt_conv_backend(const lt_conv *c);
lt_lm *lt_conv_lm(const lt_conv *c);
lt_tokenizer *lt_conv_tok(const lt_conv *c); /* NULL when the model came without one */
lt_kv_cache *lt_conv_kv(const lt_conv *c);
int lt_conv_chat_seq(const lt_conv *c);
const lt_conv_opts *lt_conv_options(const lt_conv *c);

/* The generation parameters for this model: p with stop_at_bos (llama2.c) and ignore_eos
 * (synthetic) filled in. */
lt_gen_params lt_conv_gen_params(const lt_conv *c, lt_sampler_params sp, int n_predict);

/* True when the next chat turn starts a conversation (it gets BOS). */
bool lt_conv_chat_fresh(const lt_conv *c);

/* Encodes text (rendered through the chat template when chat is set and the model has one;
 * BOS when first). A system prompt (NULL or "" = none) goes first when chat and first are
 * set: as the template's system message, or as a paragraph of plain text before the user's
 * for a model without a template. *ids has one free slot before the n tokens (ids[0]), for a
 * pending token; lt_free it. parse_special: special-token text in the text (<|im_start|>) becomes
 * that token (always so for text rendered through a template). */
lt_status lt_conv_encode(const lt_conv *c, const char *system, const char *text, bool first, bool chat,
                         bool parse_special, int32_t **ids,
                         int *n, lt_err *err);

/* What a run produced. */
typedef struct lt_conv_run_result {
    lt_gen_stats st;  /* counts, times, why it stopped */
    uint64_t digest;  /* of the generated ids (lt_digest_ids) */
} lt_conv_run_result;

/* Generates on seq (the chat sequence or one from lt_kv_seq_new) from the prompt ids[1..n]
 * (ids as lt_conv_encode made them). With use_pending the token sampled last time but not yet
 * fed goes first, and the last token of this run becomes pending. Decodes through the
 * speculative decoder when one is set. cb gets every piece of text (drafted = an accepted
 * draft token); returning false stops the run (stop LT_GEN_STOP_CANCEL). n_predict 0 only
 * feeds the prompt (a replay of a run cancelled before its first token). */
lt_status lt_conv_run(lt_conv *c, int seq, int32_t *ids, int n, bool use_pending, const lt_gen_params *gp, lt_spec_cb cb,
                      void *ud, lt_conv_run_result *r, lt_err *err);

/* The error lt_conv_run gives when the prompt (with a pending token) does not fit on seq. */
lt_status lt_conv_check_room(const lt_conv *c, int seq, int n, bool use_pending, lt_err *err);

/* Closes the chat turn the last run left open: the pending token becomes the end-of-turn
 * token (EOS; BOS for a llama2.c model: a new story), as when the model ends its turn itself.
 * For a reply cut by a stop sequence (the last sampled token, which holds stop text, is
 * dropped). A reply cut by max-tokens or Ctrl-C stays open: the next turn goes on from its
 * last token (as llama.cpp's server does). */
void lt_conv_end_turn(lt_conv *c);

/* The token sampled but not yet fed (-1 = none): the next chat turn starts with it. */
int32_t lt_conv_pending(const lt_conv *c);

/* Clears the conversation (its cache, pending token and history). */
void lt_conv_reset(lt_conv *c);

/* ---- speculative decoding ----------------------------------------------------------------- */

/* Installs a speculative decoder built from p (p->draft, when set, becomes owned by the
 * conversation, also on failure). TriForce
 * may need a cache with chunk-sized blocks and more sequences: then the conversation gets a new
 * cache and starts over (*new_cache set). */
lt_status lt_conv_set_spec(lt_conv *c, const lt_spec_params *p, bool *new_cache, lt_err *err);
/* Describes the installed decoder for `spec` and the panes ("ngram (gamma 4)"). */
void lt_conv_spec_describe(lt_conv *c, const char *desc);
/* Back to plain decoding. */
void lt_conv_spec_off(lt_conv *c);
/* The installed decoder's parameters, or NULL. */
const lt_spec_params *lt_conv_spec_params(const lt_conv *c);

typedef struct lt_conv_stats {
    bool spec_on;
    lt_spec_kind spec_kind;
    char spec_desc[160];  /* "" when off */
    lt_spec_stats spec;   /* of the last speculative run (n_levels 0 = none yet) */
    double plain_tps;     /* last plain decode rate; 0 = none measured */
    double spec_tps;      /* last speculative decode rate */
} lt_conv_stats;

/* A consistent copy of the statistics (any thread). */
void lt_conv_stats_get(lt_conv *c, lt_conv_stats *out);
/* The cache's blocks in use and in all, and its context in tokens (any thread). */
void lt_conv_kv_usage(lt_conv *c, int *used, int *total, int *max_ctx);
/* Tokens in the chat sequence (pending token included) and the model's context (any thread). */
void lt_conv_ctx_usage(lt_conv *c, int *used, int *max_ctx);
/* Records a plain decoding rate measured elsewhere (bench): the baseline of spec's speedup. */
void lt_conv_note_plain_rate(lt_conv *c, double tps);

#endif
