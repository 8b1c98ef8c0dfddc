/* safetensors.h - safetensors reader and writer (Hugging Face weights).
 *
 * Reader: mmaps the file, parses the JSON header with cJSON, and validates it: header
 * length within the file, every entry's dtype, shape and data_offsets (in range, size =
 * product(shape) * dtype size, no overlaps). F32, F16, BF16 and the integers I32 / U8 / I64 (packed
 * quantized weights, bitmasks, shapes) are supported; other dtypes
 * are an LT_EUNSUPPORTED error naming the tensor.
 */
#ifndef LT_SAFETENSORS_H
#define LT_SAFETENSORS_H

#include <stdint.h>

#include "core/base/status.h"
#include "src_tensor.h"

typedef struct lt_safetensors lt_safetensors;

lt_status lt_st_open(lt_safetensors **out, const char *path, lt_err *err);
void lt_st_close(lt_safetensors *st); /* NULL is a no-op */

int64_t lt_st_n_tensors(const lt_safetensors *st);
size_t lt_st_file_size(const lt_safetensors *st); /* bytes of the file (the mapping) */
/* Fills out (name as stored in the file, shape outermost first, data into the mapping). */
void lt_st_tensor(const lt_safetensors *st, int64_t i, lt_src_tensor *out);
int64_t lt_st_find(const lt_safetensors *st, const char *name); /* index or -1 */

/* Writer: tensors (name, dtype f32/f16/bf16, shape, data) -> one safetensors file,
 * written to PATH.tmp then renamed. */
typedef struct lt_st_entry {
    const char *name;
    lt_dtype dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
} lt_st_entry;

lt_status lt_st_write(const char *path, const lt_st_entry *entries, int64_t n, lt_err *err);

#endif
