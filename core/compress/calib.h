/* calib.h - calibration for the compression passes: windows of tokens sampled from a text,
 * and the block-by-block run that gives each block's linear layers their input statistics.
 *
 * Windows: the text is tokenized whole (no BOS), and n_tokens / window windows start at
 * positions drawn by a seeded generator (splitmix64) uniformly in [0, len - window], as
 * IST-DASLab/gptq's datautils draw theirs; a text shorter than asked gives fewer windows (at
 * least one; a text shorter than a window gives one window of the whole text).
 * The run (true-sequential): the hidden states of all windows entering one block are kept
 * (n_windows x window x dim floats: one block's activations at a time). lt_calib_hessians
 * runs that block alone over every window (the model's forward with a probe, lm.h) and sums
 * x^T x of the input of each of its linear layers (f32 per window, added in double);
 * lt_calib_advance runs the block again - after the pass has put its quantized weights back
 * with set_matrix - and its outputs become the next block's inputs.
 * Leaves out: what the statistics are used for (gptq.c), the model (any lt_lm with a probe).
 */
#ifndef LT_CALIB_H
#define LT_CALIB_H

#include <stdint.h>

#include "core/llm/lm.h"
#include "core/text/tokenizer.h"

typedef struct lt_calib_opts {
    const char *file; /* the text; NULL: the bundled tinyshakespeare (assets/text) */
    int64_t n_tokens; /* 0: 128 x 512 */
    int window;       /* tokens per window; 0: 512 */
    uint64_t seed;    /* the windows' draw */
} lt_calib_opts;

/* The default calibration text's path (assets/text/tinyshakespeare.txt). */
lt_status lt_calib_default_file(char *path, size_t cap, lt_err *err);

/* Tokenizes the text and draws the windows: tokens[*n_windows * *window] (lt_free). */
lt_status lt_calib_windows(const lt_tokenizer *tok, const lt_calib_opts *o, int32_t **tokens, int *n_windows,
                           int *window, lt_err *err);

typedef struct lt_calib lt_calib;

/* A run over lm (opened with max_batch >= window) on the windows (copied). */
lt_status lt_calib_create(lt_calib **out, lt_lm *lm, const int32_t *tokens, int n_windows, int window, lt_err *err);
void lt_calib_free(lt_calib *c); /* NULL-safe */

/* Sums of x^T x of the inputs of block `layer`'s linear layers (LT_LIN_* order) over every
 * calibration token: h[i] is cols x cols double, owned by the run, valid until the next call.
 * Layers must be taken in order 0, 1, ... with lt_calib_advance between them. cancel (may be
 * NULL) is polled between windows: true stops with LT_ECANCELLED. */
lt_status lt_calib_hessians(lt_calib *c, int layer, double *const **h, int *cols, bool (*cancel)(void *ud),
                            void *ud, lt_err *err);
lt_status lt_calib_advance(lt_calib *c, int layer, bool (*cancel)(void *ud), void *ud, lt_err *err);
/* lt_calib_advance of the last layer that also sums x^T x of the output head's input (the final
 * norm of its outputs, the probe's `head`) over every calibration token: *h is cols x cols
 * double, owned by the run. */
lt_status lt_calib_head(lt_calib *c, int layer, double **h, int *cols, bool (*cancel)(void *ud), void *ud,
                        lt_err *err);

#endif
