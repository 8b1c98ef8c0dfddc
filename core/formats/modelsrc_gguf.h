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
 * other than norms/biases; LT_DTYPE_COUNT keeps each tensor's own dtype; a row length that
 * is not a multiple of dtype's block gives f16). Writes PATH.tmp and renames, so a failure
 * never leaves a half file under PATH. */
lt_status lt_modelsrc_write_gguf(const lt_modelsrc *src, const char *path, lt_dtype dtype, lt_err *err);

/* The per-tensor dtypes lt_modelsrc_write_gguf writes for `dtype` (types[lt_modelsrc_n_tensors]). */
void lt_modelsrc_gguf_types(const lt_modelsrc *src, lt_dtype dtype, lt_dtype *types);

/* Progress of a write: sent before tensor i of n is converted and written, and once more
 * after the file is complete (i == n, name NULL). Sizes count tensor data (padded). */
typedef struct lt_gguf_write_event {
    int i, n;
    const char *name;
    lt_dtype from, to;    /* the source tensor's dtype and the one written */
    uint64_t bytes_done;  /* tensor data written before this tensor */
    uint64_t bytes_total; /* tensor data of the whole file */
} lt_gguf_write_event;

typedef struct lt_gguf_write_opts {
    /* The dtype of each tensor of src, in lt_modelsrc_tensor order (a tensor already in it is
     * copied as it is); NULL keeps each tensor's own (norms and biases as f32). */
    const lt_dtype *types;
    /* Optional: bytes to write instead of converting the source's, per tensor (NULL entries
     * convert), already in types[i] (a compression pass's own blocks). */
    const void *const *data;
    bool has_file_type;           /* write general.file_type = file_type (llama_ftype numbering) */
    int32_t file_type;
    int32_t quantization_version; /* general.quantization_version when > 0 */
    /* Optional: n_kv string keys written after those (kv[2i] the key, kv[2i+1] the value), e.g.
     * lathe's own lathe.sparsity.* (README, formats). */
    const char *const *kv;
    int n_kv;
    /* false stops the write: LT_ECANCELLED, nothing left under PATH. May be NULL. */
    bool (*progress)(void *ud, const lt_gguf_write_event *ev);
    void *progress_ud;
} lt_gguf_write_opts;

/* Writes src as GGUF v3 as lt_modelsrc_write_gguf does, with a chosen dtype per tensor, the
 * file-type keys and progress; one tensor is converted and held in memory at a time. Every
 * tensor's dtype is checked (storable in GGUF, row length a multiple of its block, a
 * conversion exists) before PATH.tmp is created; the error names the tensor. */
lt_status lt_modelsrc_write_gguf_opts(const lt_modelsrc *src, const char *path, const lt_gguf_write_opts *o,
                                      lt_err *err);

#endif
