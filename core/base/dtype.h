/* dtype.h - the dtype traits table: per lt_dtype its name, block layout, file-format type ids
 * and host row conversions to and from f32.
 *
 * One entry per dtype, in one table (dtype.c); code that needs a dtype's name, size, GGUF or
 * safetensors id, or a host conversion asks the table instead of switching on the dtype.
 * Elements and bytes per block come from LT_DTYPE_LAYOUTS in kernels/lt_math.h (device code
 * needs them too, through lt_dtype_block / lt_row_bytes), so the two cannot disagree.
 * The conversions are the scalar formulas of lt_math.h: bit-identical to the CPU backend's
 * SIMD paths and to the CUDA convert op. Host code outside a backend (format readers and
 * writers, model loading) converts rows with lt_dtype_row_to_f32 / lt_dtype_row_from_f32.
 * Leaves out: dtypes lathe does not store (IQ1/IQ2/IQ3, ternary, FP4, f64, i8 and 16-bit integers), conversion
 * between two non-f32 dtypes (go through f32), and device memory (the backends' convert op).
 */
#ifndef LT_DTYPE_H
#define LT_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/lt_math.h"

typedef struct lt_dtype_traits {
    const char *name;    /* "f32", "q8_0", ... ("?" for the invalid-dtype entry) */
    int block;           /* elements per block (1: not blocked) */
    int block_bytes;     /* bytes per block */
    int gguf_type;       /* GGML type id of GGUF tensors; -1 if lathe keeps no such tensors in GGUF */
    const char *st_name; /* safetensors "dtype" string; NULL if lathe keeps no such tensors there */
    bool quantized;      /* blocks of scaled integers (block > 1) */
    /* n elements (a multiple of block) of a row -> f32; NULL: not numbers (i32) */
    void (*to_f32)(const void *row, float *out, int64_t n);
    /* f32 -> a row of n elements (a multiple of block); NULL: cannot be written */
    void (*from_f32)(const float *x, void *row, int64_t n);
} lt_dtype_traits;

/* The entry of t. Never NULL: a t outside [0, LT_DTYPE_COUNT) gets an entry named "?" with
 * block 1, 0 bytes, no file ids and no conversions (what lt_dtype_block and
 * lt_dtype_block_bytes say of it). */
const lt_dtype_traits *lt_dtype_info(lt_dtype t);

/* The dtype's name ("f32", "q8_0", "q4_K", ...: GGML's spelling; "?" when invalid) and the
 * inverse, which ignores case ("Q4_K" and "q4_k" name q4_K). */
const char *lt_dtype_name(lt_dtype t);
/* These three give LT_DTYPE_COUNT when no dtype matches (name may be NULL). */
lt_dtype lt_dtype_from_name(const char *name);
lt_dtype lt_dtype_from_gguf(uint32_t gguf_type);
lt_dtype lt_dtype_from_safetensors(const char *st_name);

/* i32, u8, i64: integers (ids, packed codes, bitmasks, shapes), not weights. */
static inline bool lt_dtype_is_int(lt_dtype t) { return t == LT_I32 || t == LT_U8 || t == LT_I64; }

/* The dtype whose values t's bytes hold: LT_Q4_0 for LT_Q4_0_R8 (q4_0 rows interleaved by 8, a
 * backend's layout), t itself otherwise. What a model reports as its weight type. */
static inline lt_dtype lt_dtype_plain(lt_dtype t) { return t == LT_Q4_0_R8 ? LT_Q4_0 : t; }

/* lathe's own GGUF tensor type ids (the 2:4 sparse types) start here, above GGML's range. */
#define LT_GGUF_LATHE_TYPES 1024

/* "f32, f16, bf16, q8_0, q4_0, q4_1, ...": every dtype a weight can be quantized to as GGUF (those
 * with a from_f32 conversion and a GGML type id; not lathe's own 2:4 types, which pruning makes),
 * in table order, into buf (n bytes, 256 is enough); returns buf. */
const char *lt_dtype_weight_names(char *buf, size_t n);
/* The same and lathe's own GGUF types (s24_f16, s24_q4): every type a synthetic model's
 * matrices can have. */
const char *lt_dtype_matrix_names(char *buf, size_t n);

/* One row of n elements (a multiple of the block size) between dtype t and f32, on the host.
 * Aborts (LT_ASSERT) when t has no such conversion (i32, an invalid dtype). */
void lt_dtype_row_to_f32(lt_dtype t, const void *row, float *out, int64_t n);
void lt_dtype_row_from_f32(lt_dtype t, const float *x, void *row, int64_t n);

#endif
