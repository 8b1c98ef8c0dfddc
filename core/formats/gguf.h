/* gguf.h - GGUF v2/v3 reader and writer.
 *
 * The reader mmaps the file read-only and validates the whole header at open: magic,
 * version, counts, every string and array length, every key/value type, every tensor's
 * dims, type, offset and size against the file length, alignment, and that tensor data
 * ranges do not overlap. After a successful open every accessor is memory safe.
 * Tensor types: those with a GGUF id in the dtype table (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K, IQ4_XS); a file with others is one LT_EUNSUPPORTED error
 * naming every such type with its tensor count.
 *
 * The writer collects key/values and tensors (data pointers are borrowed until write, or a
 * fill function produces each tensor's bytes as it is written) and writes GGUF v3 with
 * 32-byte alignment.
 */
#ifndef LT_GGUF_H
#define LT_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"
#include "core/text/vocab.h"
#include "src_tensor.h"

typedef enum lt_gguf_type {
    LT_GGUF_UINT8 = 0,
    LT_GGUF_INT8 = 1,
    LT_GGUF_UINT16 = 2,
    LT_GGUF_INT16 = 3,
    LT_GGUF_UINT32 = 4,
    LT_GGUF_INT32 = 5,
    LT_GGUF_FLOAT32 = 6,
    LT_GGUF_BOOL = 7,
    LT_GGUF_STRING = 8,
    LT_GGUF_ARRAY = 9,
    LT_GGUF_UINT64 = 10,
    LT_GGUF_INT64 = 11,
    LT_GGUF_FLOAT64 = 12,
} lt_gguf_type;

/* A string inside the mapping: not NUL-terminated. */
typedef struct lt_gguf_str {
    const char *p;
    uint64_t n;
} lt_gguf_str;

typedef struct lt_gguf lt_gguf;

lt_status lt_gguf_open(lt_gguf **out, const char *path, lt_err *err);
void lt_gguf_close(lt_gguf *g); /* NULL is a no-op */

const char *lt_gguf_path(const lt_gguf *g);
uint32_t lt_gguf_version(const lt_gguf *g);
size_t lt_gguf_file_size(const lt_gguf *g); /* bytes of the file (the mapping) */
/* Drops the resident pages of the header (key/values, tensor infos: everything before the
 * tensor data) once a reader has taken what it needs, e.g. the vocab (megabytes for a large
 * one); a later accessor call faults them back in from the file (lt_file_map_drop). */
void lt_gguf_drop_header(const lt_gguf *g);

/* Key/values. */
int64_t lt_gguf_n_kv(const lt_gguf *g);
int64_t lt_gguf_find(const lt_gguf *g, const char *key); /* index or -1 */
lt_gguf_str lt_gguf_kv_key(const lt_gguf *g, int64_t i);
lt_gguf_type lt_gguf_kv_type(const lt_gguf *g, int64_t i);
/* Typed getters by key. LT_ENOTFOUND when absent, LT_EFORMAT (naming key, expected and
 * found type) when of the wrong type. Integer getters accept any integer type whose value
 * fits; get_f32 accepts FLOAT32/FLOAT64. */
lt_status lt_gguf_get_u32(const lt_gguf *g, const char *key, uint32_t *out, lt_err *err);
lt_status lt_gguf_get_i32(const lt_gguf *g, const char *key, int32_t *out, lt_err *err);
lt_status lt_gguf_get_u64(const lt_gguf *g, const char *key, uint64_t *out, lt_err *err);
lt_status lt_gguf_get_f32(const lt_gguf *g, const char *key, float *out, lt_err *err);
lt_status lt_gguf_get_bool(const lt_gguf *g, const char *key, bool *out, lt_err *err);
lt_status lt_gguf_get_str(const lt_gguf *g, const char *key, lt_gguf_str *out, lt_err *err);
/* Arrays: element type and count. Numeric arrays expose their raw little-endian elements;
 * string arrays are read element by element (O(1), an index is built at open). */
lt_status lt_gguf_get_arr(const lt_gguf *g, const char *key, lt_gguf_type *elem, uint64_t *n,
                          const void **data /* numeric only, else NULL */, lt_err *err);
lt_status lt_gguf_arr_str(const lt_gguf *g, const char *key, uint64_t i, lt_gguf_str *out, lt_err *err);

/* Tensors. */
int64_t lt_gguf_n_tensors(const lt_gguf *g);
/* Fills out with the tensor's name, dtype, shape (outermost first, i.e. GGUF's ne reversed),
 * data pointer into the mapping, and byte size. */
void lt_gguf_tensor(const lt_gguf *g, int64_t i, lt_src_tensor *out);

/* Builds a vocab from tokenizer.ggml.* (model "llama" -> SPM, "gpt2" -> BPE, "bert" -> WPM,
 * "t5" -> UGM, "no_vocab" / absent -> LT_ENOTFOUND). */
lt_status lt_vocab_from_gguf(lt_vocab **out, const lt_gguf *g, lt_err *err);

/* ---- writer ------------------------------------------------------------------------------ */

typedef struct lt_gguf_writer lt_gguf_writer;

lt_status lt_gguf_writer_create(lt_gguf_writer **out, lt_err *err);
void lt_gguf_writer_free(lt_gguf_writer *w); /* NULL is a no-op */

lt_status lt_gguf_set_str(lt_gguf_writer *w, const char *key, const char *val, lt_err *err);
lt_status lt_gguf_set_u32(lt_gguf_writer *w, const char *key, uint32_t val, lt_err *err);
lt_status lt_gguf_set_i32(lt_gguf_writer *w, const char *key, int32_t val, lt_err *err);
lt_status lt_gguf_set_f32(lt_gguf_writer *w, const char *key, float val, lt_err *err);
lt_status lt_gguf_set_bool(lt_gguf_writer *w, const char *key, bool val, lt_err *err);
lt_status lt_gguf_set_arr_str(lt_gguf_writer *w, const char *key, const char *const *vals, const uint32_t *lens,
                              uint64_t n, lt_err *err); /* lens may be NULL (strlen) */
lt_status lt_gguf_set_arr_f32(lt_gguf_writer *w, const char *key, const float *vals, uint64_t n, lt_err *err);
lt_status lt_gguf_set_arr_i32(lt_gguf_writer *w, const char *key, const int32_t *vals, uint64_t n, lt_err *err);

/* Adds a tensor; shape outermost first; data is borrowed until lt_gguf_write returns. */
lt_status lt_gguf_add_tensor(lt_gguf_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                             const void *data, lt_err *err);

/* Produces a tensor's bytes while lt_gguf_write writes the file: fills buf (size bytes, the
 * tensor's size from its dtype and shape). Called once per tensor, in the order added; an
 * error stops the write (PATH is left as it was) and is what lt_gguf_write returns. */
typedef lt_status (*lt_gguf_fill_fn)(void *ud, void *buf, size_t size, lt_err *err);

/* Adds a tensor whose data fill produces at write time (one tensor in memory at a time:
 * the writer keeps one buffer as large as the largest of them). */
lt_status lt_gguf_add_tensor_fill(lt_gguf_writer *w, const char *name, lt_dtype dt, int ndim, const int64_t *shape,
                                  lt_gguf_fill_fn fill, void *ud, lt_err *err);

/* Writes PATH.tmp, fsyncs, renames to PATH. */
lt_status lt_gguf_write(lt_gguf_writer *w, const char *path, lt_err *err);

#endif
