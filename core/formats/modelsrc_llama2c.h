/* modelsrc_llama2c.h - llama2.c checkpoints as a model source: the legacy format and the
 * version-1 ("ak42") export read into an lt_modelsrc, and the legacy format written back.
 *
 * Leaves out: the version-2 (Q8_0) export, writing version 1, and guessing whether a file
 * is a checkpoint at all (sniff.h: the legacy format has no magic).
 */
#ifndef LT_MODELSRC_LLAMA2C_H
#define LT_MODELSRC_LLAMA2C_H

#include "core/base/status.h"
#include "modelsrc.h"

/* Opens a checkpoint; tokenizer_path (may be NULL) names its llama2.c tokenizer .bin. */
lt_status lt_modelsrc_open_llama2c(lt_modelsrc **out, const char *path, const char *tokenizer_path, lt_err *err);

/* Writes a llama2.c checkpoint (legacy header, f32). Only for models llama2.c can express.
 * When src has a vocab, it is written beside the checkpoint as DIR/tokenizer.bin (what
 * lt_modelsrc_guess_tokenizer finds); a vocab the llama2.c tokenizer format cannot hold
 * (byte-level BPE, lt_vocab_llama2c_check) is an error before anything is written, and so is
 * an existing DIR/tokenizer.bin with other bytes (one with the same bytes is kept) and a path
 * whose DIR/tokenizer.bin does not fit (LT_ERANGE). */
lt_status lt_modelsrc_write_llama2c(const lt_modelsrc *src, const char *path, lt_err *err);

#endif
