/* save.h - writing a loaded model's source to another file: the `save NAME PATH` command's
 * work, through the writers `lathe convert` and `lathe compress` use.
 *
 * GGUF (PATH ends in .gguf, or format "gguf"): every tensor keeps its type (a compressed
 * model's Q4_0 blocks are copied as they are; lt_modelsrc_write_gguf_opts); the gq4 weights of
 * an AutoGPTQ folder become Q4_0 when symmetric (exactly: the same f16 scales and codes); other
 * types GGUF cannot hold (asymmetric gq4) are an error listing the tensors and types.
 * Hugging Face folder (else, or format "hf"): block matrices in a type with a GPTQ form
 * (gq_gguf.h lt_gq_from_blocks: Q4_0, Q8_0, GPTQ-written Q4_1, gq4) become an AutoGPTQ
 * gptq_v2 folder (gptq_hf.h) - they must all share bits, symmetry and a group size (the
 * smallest block of them all is used); every other tensor is written in its own type where
 * safetensors holds it (f32, f16, bf16), else dequantized to f32 (an exact widening). Block
 * matrices in a type without a GPTQ form (K-quants, Q5_x, ...) are an error listing them.
 * With no quantized block matrices the folder is a plain one (lt_modelsrc_write_hf). A model with
 * 2:4 matrices (s24_f16) becomes a compressed-tensors sparse-24-bitmask folder (ct_hf.h; s24_q4
 * is an error: save it as GGUF).
 * SliceGPT folder (format "slicegpt"): TransformerCompression's layout (modelsrc_slicegpt.h:
 * NAME_SPARSITY.pt in f16 + .json + config.json + tokenizer files), for a sliced model (or any
 * Llama model whose norm weights are all 1).
 * Nothing half-written is left under PATH: GGUF goes through PATH.tmp (lt_afile), a folder is
 * written as PATH.tmp-XXXXXX beside it and renamed when complete (removed on an error or a
 * cancel); PATH must be a new or empty folder (LT_EINVAL otherwise: another model's files would
 * be read with the new ones).
 * Leaves out: argv and printing (the command), loading what was written.
 */
#ifndef LT_SAVE_H
#define LT_SAVE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/formats/modelsrc.h"

typedef struct lt_save_opts {
    const char *format; /* "gguf", "hf", "slicegpt", or NULL: GGUF when path ends in .gguf, else hf */
    const char *model_name; /* slicegpt: the files' NAME (NULL: the source's, see lt_slicegpt_write_opts) */
    double sparsity;        /* slicegpt: the files' SPARSITY (0: the source's) */
    bool (*progress)(void *ud, double frac); /* false cancels (GGUF: nothing left under path) */
    void *ud;
} lt_save_opts;

typedef struct lt_save_report {
    char format[12];     /* "gguf", "hf", "slicegpt" */
    int n_tensors;       /* tensors of the source */
    int n_gptq;          /* hf: written as AutoGPTQ linears; gguf: gq4 written as Q4_0 */
    int n_sparse;        /* hf: written as compressed-tensors 2:4 linears */
    int bits, group;     /* theirs */
    bool sym;
    double max_dev;      /* largest weight change of Q4_1 mins made integer zeros (0: exact) */
    uint64_t bytes;      /* GGUF: the file; hf: model.safetensors; slicegpt: the .pt */
} lt_save_report;

lt_status lt_save_model(const lt_modelsrc *src, const char *path, const lt_save_opts *o, lt_save_report *r,
                        lt_err *err);

/* A sliced model (the slicegpt pass's result) as a new TransformerCompression folder dir (new or
 * empty; written beside it and renamed when complete): DIR/MODEL_NAME_SPARSITY.pt + .json +
 * config.json + tokenizer files, which their hf_utils.load_sliced_model(model_name, dir,
 * sparsity=sparsity) reads (model_name NULL: the source's name). lt_save_model with format
 * "slicegpt". */
lt_status lt_slicegpt_save_folder(const lt_modelsrc *sliced, const char *dir, const char *model_name,
                                  double sparsity, lt_err *err);

#endif
