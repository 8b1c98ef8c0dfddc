/* pass.h - compression passes: a model's source and calibration text in, a new model file
 * and a report out. The source is the file a loaded model came from (the session's
 * lt_session_model_source); the loaded model is never touched: calibration opens its own
 * copy (f32 matrices) through the caller's open function. Progress goes up per layer and
 * stage; the callback returning false cancels, and nothing is left under the output path
 * (GGUF is written to OUT.tmp and renamed at the end).
 *
 * Passes now: "rtn" (round-to-nearest, no calibration), "gptq" (gptq.h, calibrated block
 * by block, calib.h) and "sparse24" (sparse24.h: N:M pruning by magnitude, wanda or sparsegpt,
 * the last two calibrated; 2:4 block matrices stored as s24_f16 / s24_q4, other N:M as f16, every
 * other tensor as in the source, lathe.sparsity.* keys in the GGUF), "smoothquant+" (smoothquant.h: the model smoothed, then "rtn")
 * and "slicegpt" (slicegpt.h: rotated and sliced, written as GGUF with lathe.slicegpt.* keys, matrices in
 * the source's float type). Output: GGUF with ggml's blocks of 32 (gq_gguf.h) for the block
 * matrices, every other tensor as llama.cpp's mix of the same file type leaves it (quantmix.h:
 * norms f32, the output / tied embedding Q6_K, ...). A Hugging Face folder (--format hf, or
 * a path without .gguf): AutoGPTQ (gptq_hf.h) for gptq / rtn / smoothquant+ (with quant_head the output
 * head too, as GPTQModel's lm_head: GPTQ from the final norm's output, which the last block's
 * advance captures, calib.h lt_calib_head; a tied head is untied), compressed-tensors
 * sparse-24-bitmask (ct_hf.h, through save.h) for sparse24's 2:4 f16 (4:8: a plain f16 folder).
 * With a mix (lt_pass_opts.mix, gptq / rtn, GGUF): every tensor as llama-quantize's mix, gptq's block
 * matrices on their own type's grid (K-quant super-blocks included, gptq.h lt_gptq_run_k).
 * Leaves out: printing, argv (the front ends), loading the result (the session).
 */
#ifndef LT_PASS_H
#define LT_PASS_H

#include <stdbool.h>
#include <stdint.h>

#include "calib.h"
#include "core/base/opts.h"
#include "core/formats/modelsrc.h"
#include "gptq.h"
#include "sparse24.h"
#include "slicegpt.h"
#include "smoothquant.h"

typedef struct lt_pass_event {
    const char *stage; /* "calibrate", "quantize", "advance", "write" */
    int layer, n_layers;
    double frac;       /* of the whole pass, 0..1 */
} lt_pass_event;

typedef struct lt_pass_opts {
    lt_gptq_opts q;
    lt_sparse_opts sp;  /* sparse24 */
    const char *skip;   /* sparse24: glob patterns of block matrices left dense (f16), or NULL */
    lt_calib_opts calib;
    lt_sq_opts sq; /* smoothquant+ */
    lt_slicegpt_opts sg; /* slicegpt */
    const char *format; /* "gguf", "hf", or NULL: GGUF when the path ends in .gguf, else hf */
    /* gptq / rtn / smoothquant+ as GGUF: over the mix, as lathe quantize's options (quantmix.h:
     * --output-tensor-type, --token-embedding-type, --shortcut-type); NULL = the mix's type */
    const char *output_type, *embd_type, *shortcut_type;
    /* gptq / rtn as GGUF: llama-quantize's mix (quantmix.h: "Q4_K_M", "Q6_K", ...) instead of bits/sym/group:
     * every tensor gets llama-quantize's type for that mix; gptq quantizes each block matrix onto its type's
     * grid (K-quant super-blocks: lt_gptq_run_k; Q4_0 .. Q8_0: groups of 32), other types (f16, iq4_*) and
     * rtn are written from the source by ggml's quantizers. NULL: the type of o->q */
    const char *mix;
    bool quant_head;    /* gptq / rtn to a folder: the output head too (GPTQ on the final norm's output), untied */
    /* calibration (gptq): the model is opened with open_lm on be; tok tokenizes the text */
    lt_lm_open_fn open_lm;
    lt_backend *be;
    const lt_tokenizer *tok;
    bool (*progress)(void *ud, const lt_pass_event *ev); /* false cancels; may be NULL */
    void *ud;
} lt_pass_opts;

typedef struct lt_pass_report {
    const char *method;
    lt_dtype type;           /* of the block matrices (GGUF) */
    char type_name[32];      /* what they became: "q4_0", or "gptq 4-bit g128" for a Hugging Face folder */
    int n_layers, n_matrices;
    int n_skipped;           /* sparse24: block matrices left dense by --skip */
    int n_by_mix;            /* block matrices the mix gives another type (written from the source); sparse24:
                                those pruned but stored as f16 (rows not whole s24_f16 blocks), in n_matrices */
    int n_windows, window;   /* calibration */
    bool head;               /* the output head was quantized too (--quant-head; not in n_matrices) */
    double loss;             /* GPTQ's summed loss (0 for rtn) */
    uint64_t n_elements, bytes_in, bytes_out; /* bytes_out of a folder: its model.safetensors */
    double seconds, calib_seconds, quant_seconds, write_seconds;
    lt_sq_result sq;         /* smoothquant+: alpha and the search curve (calib_seconds includes the search) */
    lt_slicegpt_result sg;   /* slicegpt: the widths, parameters before / after (n_elements = after) */
} lt_pass_report;

typedef struct lt_pass {
    const char *name, *help;
    bool calibrated; /* needs open_lm, be, tok */
} lt_pass;

const lt_pass *lt_pass_find(const char *name); /* NULL when unknown */
const lt_pass *lt_pass_at(int i);               /* the table; NULL past the end */

/* Runs pass `name` on src into out. Bad options are LT_EINVAL naming the option. */
lt_status lt_pass_run(const char *name, const lt_modelsrc *src, const char *out, const lt_pass_opts *o,
                      lt_pass_report *r, lt_err *err);

/* ---- the options both front ends take (lathe compress, the `compress` command) ----------- */
typedef struct lt_pass_args {
    const char *method, *calib, *format;
    const char *mask, *nm, *skip; /* sparse24 */
    const char *output_type, *embd_type, *shortcut_type; /* GGUF: the types of the head, the embedding, SliceGPT's shortcuts */
    const char *mix; /* GGUF: llama-quantize's mix (lt_pass_opts.mix) */
    int bits, group, calib_tokens, search_tokens; /* bits 0: the method's default (4; sparse24: 16) */
    float alpha; /* smoothquant+; < 0: searched */
    float slice; /* slicegpt: fraction of the embedding dimension removed */
    int round;   /* slicegpt: widths a multiple of this */
    bool sym, act_order, no_act_order, clip, alpha_per_layer, slice_head, center_embd, quant_head,
        full_shortcuts;
    float damp;
    uint64_t seed;
} lt_pass_args;
#define LT_PASS_N_OPTS 28
void lt_pass_args_default(lt_pass_args *a);
/* Appends the option rows (--method, --bits, --group, --sym, --act-order, --no-act-order, --clip, --damp,
 * --calib, --calib-tokens, --seed, --format, --quant-head, --mask, --nm, --skip, --alpha, --search-tokens,
 * --alpha-per-layer, --slice, --round, --slice-head, --center-embd, --full-shortcuts, --output-tensor-type,
 * --token-embedding-type, --shortcut-type, --mix) to table (terminated; cap rows). */
void lt_pass_opts_add(lt_pass_args *a, lt_opt *table, int cap);
/* Checks a and fills o's quantizer, calibration and format fields. gptq runs with act-order
 * (static groups) unless --no-act-order: on SmolLM2 calibrated on tinyshakespeare it is what
 * makes GPTQ beat round-to-nearest on other text (docs/PERF.md). */
lt_status lt_pass_args_apply(const lt_pass_args *a, lt_pass_opts *o, lt_err *err);
/* One line for the front ends: "4-bit, groups of 32, asymmetric, act-order" or "2:4 sparsegpt, f16 kept values". */
const char *lt_pass_args_describe(const lt_pass_args *a, const lt_pass_opts *o, char *buf, size_t n);

#endif
