/* tensor.h - lt_tensor: a typed, shaped, contiguous view of backend memory.
 *
 * Shapes are written outermost first, like numpy and safetensors: a weight matrix of a
 * Linear layer is [out, in], each row contiguous (quantized rows are runs of blocks).
 * Activations are [tokens, features] f32. A tensor does not own memory: it is a view into
 * an lt_arena (weights, scratch) or into the KV block pool. Views of row ranges are cheap.
 * Per-dtype facts (names, block sizes, conversions) are in dtype.h, included here.
 */
#ifndef LT_TENSOR_H
#define LT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "kernels/lt_math.h"
#include "status.h"

#define LT_MAX_DIMS 4

typedef struct lt_backend lt_backend;

typedef struct lt_tensor {
    lt_dtype dtype;
    int ndim;
    int64_t shape[LT_MAX_DIMS]; /* outermost first; shape[ndim-1] is contiguous */
    void *data;                 /* backend memory (host pointer on the CPU backend) */
    lt_backend *be;             /* backend owning data */
} lt_tensor;

/* Number of elements, rows (product of all but the last dim), bytes. */
int64_t lt_tensor_numel(const lt_tensor *t);
int64_t lt_tensor_rows(const lt_tensor *t);
int64_t lt_tensor_cols(const lt_tensor *t);
size_t lt_tensor_nbytes(const lt_tensor *t);

/* A view of rows [r0, r0+n) of t (rows as in lt_tensor_rows), as a 2-D tensor. */
lt_tensor lt_tensor_row_view(const lt_tensor *t, int64_t r0, int64_t n);

/* Builds a tensor header (no memory) of the given shape. */
lt_tensor lt_tensor_make(lt_backend *be, lt_dtype dt, void *data, int ndim, const int64_t *shape);
static inline lt_tensor lt_tensor_2d(lt_backend *be, lt_dtype dt, void *data, int64_t rows, int64_t cols) {
    int64_t s[2] = {rows, cols};
    return lt_tensor_make(be, dt, data, 2, s);
}
static inline lt_tensor lt_tensor_1d(lt_backend *be, lt_dtype dt, void *data, int64_t n) {
    return lt_tensor_make(be, dt, data, 1, &n);
}

/* "[4096, 11008]" into buf; returns buf. */
const char *lt_shape_str(const lt_tensor *t, char *buf, size_t n);

#endif
