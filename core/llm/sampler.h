/* sampler.h - choosing the next token from logits: greedy, temperature, top-k, top-p,
 * min-p, repetition penalty, with a seeded RNG (the same seed gives the same tokens).
 *
 * Order, as llama.cpp's default chain: repetition penalty -> top-k -> top-p -> min-p ->
 * temperature -> softmax -> draw. temp <= 0 is greedy (argmax, lowest id on ties), with the
 * repetition penalty still applied. lt_sampler_dist exposes the final distribution so tests
 * and speculative decoding (rejection sampling) use exactly what sampling uses.
 */
#ifndef LT_SAMPLER_H
#define LT_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"

typedef struct lt_sampler_params {
    float temp;           /* <= 0: greedy */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n;/* how many recent tokens the penalty looks at */
    uint64_t seed;
} lt_sampler_params;

/* Defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05, penalty 1.0 over 64, seed 0. */
lt_sampler_params lt_sampler_defaults(void);

typedef struct lt_sampler lt_sampler;

lt_status lt_sampler_create(lt_sampler **out, const lt_sampler_params *p, int32_t n_vocab, lt_err *err);
void lt_sampler_free(lt_sampler *s); /* NULL is a no-op */
const lt_sampler_params *lt_sampler_get_params(const lt_sampler *s);
void lt_sampler_reseed(lt_sampler *s, uint64_t seed);

/* The final distribution over the vocabulary for these logits and history: probs[n_vocab]
 * (zeros outside the kept set; one-hot for greedy). logits are not modified. */
void lt_sampler_dist(lt_sampler *s, const float *logits, const int32_t *hist, int n_hist, float *probs);

/* Draws a token (advances the RNG unless greedy). A NaN logit is never chosen; -1 when no
 * logit can be (all NaN or -inf): the caller reports "the model produced NaN logits". */
int32_t lt_sampler_sample(lt_sampler *s, const float *logits, const int32_t *hist, int n_hist);

/* Draws an index from probs[n] with the sampler's RNG (for speculative decoding); -1 when
 * no probability is positive and finite. */
int32_t lt_sampler_draw(lt_sampler *s, const float *probs, int32_t n);
/* A uniform number in [0, 1) from the sampler's RNG. */
double lt_sampler_uniform(lt_sampler *s);

/* Index of the largest value (lowest index on ties), NaN skipped; -1 when all are NaN. */
int32_t lt_argmax(const float *x, int32_t n);

#endif
