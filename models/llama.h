/* llama.h - the Llama-family decoder (Llama 1/2/3.x, Mistral, Qwen2, TinyLlama, SmolLM,
 * llama2.c models) as a plain forward function over backend ops, behind core's lt_lm.
 * Batches larger than the scratch size are split into chunks internally.
 */
#ifndef LT_LLAMA_H
#define LT_LLAMA_H

#include <stdbool.h>

#include "core/llm/lm.h"

/* Opens a Llama-family model: copies the weights of src onto be (one arena), checking
 * every tensor's presence and shape; norm weights and biases become f32, matrices keep
 * their dtype. The result is an lt_lm (core/llm/lm.h); lt_lm_close frees it. */
lt_status lt_llama_open(lt_lm **out, const lt_modelsrc *src, lt_backend *be, const lt_lm_opts *o, lt_err *err);

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
lt_status lt_llama_open_synthetic(lt_lm **out, const lt_llm_config *cfg, lt_dtype dt, uint64_t seed,
                                  lt_backend *be, const lt_lm_opts *o, lt_err *err);
/* The session's `load synthetic:PRESET` (an lt_lm_synth_fn): the preset's shape, f32 weights,
 * seed 1234, so a journal replays to the same tokens. */
lt_status lt_llama_open_preset(lt_lm **out, const char *preset, lt_backend *be, const lt_lm_opts *o, lt_err *err);

#endif
