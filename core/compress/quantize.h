/* quantize.h - the quantize pass: a model source (any format lathe reads) written as GGUF
 * with one of llama.cpp's mixes, as llama-quantize writes it.
 *
 * Each tensor's type comes from the mix's rules (quantmix.h); tensors llama.cpp never
 * quantizes (norms, biases: 1-D) are written as f32; a tensor already in its type is copied
 * as it is, any other is dequantized to f32 and quantized with the dtype table's row
 * conversions (lt_dtype_row_to_f32 / lt_dtype_row_from_f32, which give GGML's bytes). The
 * file carries general.file_type (the mix's llama_ftype) and general.quantization_version 2.
 * One tensor is held in memory at a time; progress flows up through a callback that can stop
 * the write (nothing is left under the output path then). `lathe quantize`, `lathe convert
 * --type` and the workbench's `quantize` all run this.
 * Leaves out: the rules themselves (quantmix.h), importance matrices, reading or writing
 * formats (core/formats), printing (the front ends).
 */
#ifndef LT_QUANTIZE_H
#define LT_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/formats/modelsrc.h"
#include "core/formats/modelsrc_gguf.h"
#include "quantmix.h"

/* What a quantization does (the plan) and did (after lt_quantize). Sizes count tensor data,
 * as llama-quantize's "model size" / "quant size" lines do. */
typedef struct lt_quantize_report {
    int n_tensors;
    int n_converted;   /* tensors whose type changes */
    int n_requantized; /* of those, quantized tensors quantized again (quality is lost twice) */
    int n_fallback;    /* tensors whose row length forced a fallback type */
    uint64_t n_elements;
    uint64_t bytes_in, bytes_out;
    int count[LT_DTYPE_COUNT]; /* tensors written in each dtype */
    lt_dtype missing[LT_DTYPE_COUNT]; /* planned dtypes this build cannot write (no quantizer) */
    int n_missing;
    double seconds;    /* the write (lt_quantize only) */
} lt_quantize_report;

/* The dtype of each tensor of src under mix (types[lt_modelsrc_n_tensors(src)]) and the
 * planned report. Never fails on a dtype lathe cannot write yet: rep->missing lists them.
 * SliceGPT's shortcut matrices are not in llama.cpp's mix (they carry the whole residual
 * stream): mix->shortcut_type, else q8_0 under a quantized mix (docs/PERF.md, SliceGPT: 4-bit
 * breaks SmolLM2, 8-bit costs it 11-13% perplexity) and a float mix's type under F16/BF16/F32; a row
 * that is not whole blocks of the type keeps the source's float type (f16 from a quantized one). */
lt_status lt_quantize_plan(const lt_modelsrc *src, const lt_quantmix *mix, lt_dtype *types, lt_quantize_report *rep,
                           lt_err *err);

typedef struct lt_quantize_opts {
    /* before each tensor (i of n, its name, source and written dtype, bytes written so far)
     * and once at the end (name NULL); false stops: LT_ECANCELLED. May be NULL. */
    bool (*progress)(void *ud, const lt_gguf_write_event *ev);
    void *ud;
} lt_quantize_opts;

/* The folder `path` goes into must exist (checked before any work; the message has no .tmp). */
lt_status lt_quantize_check_folder(const char *path, lt_err *err);

/* Writes src to path (GGUF v3; PATH.tmp, then renamed) under mix. A planned dtype this build
 * cannot write is LT_EUNSUPPORTED naming the dtypes and a tensor, before anything is written.
 * rep (may be NULL) gets the plan's figures and the time taken. */
lt_status lt_quantize(const lt_modelsrc *src, const char *path, const lt_quantmix *mix, const lt_quantize_opts *o,
                      lt_quantize_report *rep, lt_err *err);

#endif
