/* llama.h - the Llama-family decoder (Llama 1/2/3.x, Mistral, Qwen2, TinyLlama, SmolLM,
 * llama2.c models) as a plain forward function over backend ops.
 *
 * One forward call runs a batch of tokens from one or more sequences of a paged KV cache:
 * a prompt chunk, a single decode token, speculative drafts to verify, or a mix. Each
 * token carries its sequence and position; positions of a sequence must continue its
 * cached length. Batches larger than the scratch size are split into chunks.
 */
#ifndef LT_LLAMA_H
#define LT_LLAMA_H

#include <stdbool.h>

#include "../core/backend.h"
#include "../core/kv_cache.h"
#include "../core/modelsrc.h"

typedef struct lt_llama lt_llama;

typedef struct lt_llama_opts {
    int max_batch;    /* tokens per internal chunk (scratch size); 0 = 512 */
    int max_logits;   /* rows of logits one call may return; 0 = max_batch */
} lt_llama_opts;

/* Copies the weights of src onto be (one arena). Checks every tensor's presence and
 * shape; norm weights and biases become f32; matrices keep their dtype. */
lt_status lt_llama_open(lt_llama **out, const lt_modelsrc *src, lt_backend *be, const lt_llama_opts *o,
                        lt_err *err);
void lt_llama_close(lt_llama *m); /* NULL is a no-op */

const lt_llm_config *lt_llama_config(const lt_llama *m);
lt_backend *lt_llama_backend(const lt_llama *m);
/* Bytes of weights on the device, and those read per decoded token (all matrices, the
 * output head, one embedding row). */
size_t lt_llama_weight_bytes(const lt_llama *m);
size_t lt_llama_bytes_per_token(const lt_llama *m);
/* Dominant matrix dtype (for reports). */
lt_dtype lt_llama_wtype(const lt_llama *m);

/* Options for a KV cache that fits this model (layers, width); max_ctx defaults to the
 * model's context. */
lt_kv_opts lt_llama_kv_opts(const lt_llama *m, int max_ctx, int max_seqs);

typedef struct lt_batch {
    int n_tokens;
    const int32_t *tokens; /* [n] */
    const int32_t *seq;    /* [n] KV sequence of each token */
    const int32_t *pos;    /* [n] position of each token */
    const bool *logits;    /* [n] rows that want logits; NULL = only the last token */
} lt_batch;

/* Runs the batch, appends its K/V to the cache (each sequence's length becomes its last
 * position + 1), and writes logits for the requested rows in batch order into
 * logits[n_out * n_vocab] (host memory). On error the cache lengths are unchanged. */
lt_status lt_llama_forward(lt_llama *m, lt_kv_cache *kv, const lt_batch *b, float *logits, lt_err *err);

/* Convenience: tokens [n] of one sequence appended at its current length; logits of the
 * last token (all_logits: of every token) into logits. */
lt_status lt_llama_eval(lt_llama *m, lt_kv_cache *kv, int seq, const int32_t *tokens, int n, bool all_logits,
                        float *logits, lt_err *err);

/* Per-pair rotary inverse frequencies for cfg (rope scaling applied), [head_dim/2];
 * factors (may be NULL) divide them (GGUF rope_freqs). Shared with tests. */
void lt_llama_rope_freqs(const lt_llm_config *cfg, const float *factors, float *out);

/* Synthetic models: random weights with the shape of a named preset, for benchmarks and
 * tests. Presets: "tiny" (test-sized, GQA), "llama-1b" (TinyLlama 1.1B shape), "llama-7b"
 * (Llama 2 7B), "llama-8b" (Llama 3 8B). lt_llama_preset fills cfg (LT_ENOTFOUND listing
 * the presets for an unknown name). */
lt_status lt_llama_preset(const char *preset, lt_llm_config *cfg, lt_err *err);
/* A host model source of f32 weights (for writing files and tests; 4 bytes per parameter).
 * vocab (may be NULL) is taken over. */
lt_status lt_llama_synthetic(lt_modelsrc **out, const lt_llm_config *cfg, lt_vocab *vocab, uint64_t seed,
                             lt_err *err);
/* A model with matrices of dtype dt built directly on the backend (no host copy), so
 * 8B-parameter shapes fit; values repeat a random pool, which does not change speed. */
lt_status lt_llama_open_synthetic(lt_llama **out, const lt_llm_config *cfg, lt_dtype dt, uint64_t seed,
                                  lt_backend *be, const lt_llama_opts *o, lt_err *err);

#endif
