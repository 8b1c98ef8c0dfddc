/* modelsrc_gguf.h - GGUF as a model source: reads a GGUF file (gguf.h) into an lt_modelsrc
 * and writes one back.
 *
 * Reads general.architecture llama, mistral and qwen2 with their ARCH.* hyperparameters and
 * the tokenizer.ggml.* vocab. Leaves out: other architectures, partial rotary
 * (rope.dimension_count < head_dim), rope scaling other than linear (YaRN, dynamic), and
 * telling a GGUF file from other files (sniff.h, modelsrc_open.h).
 */
#ifndef LT_MODELSRC_GGUF_H
#define LT_MODELSRC_GGUF_H

#include "core/base/status.h"
#include "modelsrc.h"

/* Opens a GGUF file; the error names the file and the missing, bad or unsupported part. */
lt_status lt_modelsrc_open_gguf(lt_modelsrc **out, const char *path, lt_err *err);

/* Writes src as GGUF v3 (general.architecture = cfg.arch, llama-family keys, tokenizer.ggml.*
 * when a vocab is present). Tensors are converted to `dtype` where it applies (2-D weights
 * other than norms/biases; LT_DTYPE_COUNT keeps each tensor's own dtype). Writes PATH.tmp and
 * renames, so a failure never leaves a half file under PATH. */
lt_status lt_modelsrc_write_gguf(const lt_modelsrc *src, const char *path, lt_dtype dtype, lt_err *err);

#endif
