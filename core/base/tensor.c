/* tensor.c - tensor header arithmetic (no memory is owned here). */
#include "tensor.h"

#include <stdio.h>
#include <string.h>

int64_t lt_tensor_numel(const lt_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int64_t lt_tensor_cols(const lt_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

int64_t lt_tensor_rows(const lt_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i + 1 < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t lt_tensor_nbytes(const lt_tensor *t) {
    return (size_t)lt_tensor_rows(t) * lt_row_bytes(t->dtype, lt_tensor_cols(t));
}

lt_tensor lt_tensor_make(lt_backend *be, lt_dtype dt, void *data, int ndim, const int64_t *shape) {
    lt_tensor t;
    memset(&t, 0, sizeof t);
    LT_ASSERT(ndim >= 1 && ndim <= LT_MAX_DIMS);
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.data = data;
    t.be = be;
    return t;
}

lt_tensor lt_tensor_row_view(const lt_tensor *t, int64_t r0, int64_t n) {
    int64_t cols = lt_tensor_cols(t);
    LT_ASSERT(r0 >= 0 && n >= 0 && r0 + n <= lt_tensor_rows(t));
    size_t rb = lt_row_bytes(t->dtype, cols);
    return lt_tensor_2d(t->be, t->dtype, t->data ? (char *)t->data + (size_t)r0 * rb : NULL, n, cols);
}

const char *lt_shape_str(const lt_tensor *t, char *buf, size_t n) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < t->ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
    return buf;
}
