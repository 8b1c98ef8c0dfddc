/* modelsrc_impl.h - the lt_modelsrc struct and the helpers (defined in modelsrc.c) that the
 * format readers and writers share: modelsrc_gguf.c, modelsrc_hf.c, modelsrc_llama2c.c.
 * Not a public API. Leaves out: anything a reader defines (readers include this header;
 * modelsrc.c never calls back into them).
 */
#ifndef LT_MODELSRC_IMPL_H
#define LT_MODELSRC_IMPL_H

#include "gguf.h"
#include "modelsrc.h"
#include "safetensors.h"

struct lt_modelsrc {
    char *path;
    const char *format;      /* "gguf", "hf", "llama2c", "memory" */
    lt_llm_config cfg;
    lt_src_tensor *t;
    int n, cap;
    lt_vocab *vocab;
    bool vocab_borrowed;     /* a view's vocab: its base's, not freed here */
    lt_gguf *gguf;           /* GGUF mapping */
    lt_safetensors **st;     /* HF shards */
    int n_st;
    void *map;               /* llama2.c mapping */
    size_t map_size;
    void **owned;            /* buffers owned by the source (in-memory tensors, converted data) */
    int n_owned, cap_owned;
    int *hash;               /* open-addressing name index: tensor index + 1, 0 = empty */
    int hash_cap;            /* power of two, >= 2 * n */
};

lt_status lt_ms_new(lt_modelsrc **out, const char *path, const char *format, lt_err *err);
/* Appends a tensor descriptor (data still owned by a mapping or by src->owned). */
lt_status lt_ms_push(lt_modelsrc *src, const lt_src_tensor *t, lt_err *err);
/* Hands p to src (freed with lt_free at close). Frees p and fails on OOM. */
lt_status lt_ms_own(lt_modelsrc *src, void *p, lt_err *err);

/* Expected shape of a canonical tensor under cfg; false when the name is not canonical. */
bool lt_ms_expected_shape(const lt_llm_config *cfg, const char *name, int *ndim, int64_t *shape);
/* i-th tensor a model with cfg must have (false past the end). */
bool lt_ms_required(const lt_llm_config *cfg, int i, char name[96]);
/* Checks every required tensor is present and every canonical tensor's shape. */
lt_status lt_ms_check_tensors(const lt_modelsrc *src, lt_err *err);
void lt_ms_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* Tensor `name` of the source's safetensors shards (HF folders) into *out; NULL when no shard has it. */
const lt_src_tensor *lt_ms_find_shard_tensor(const lt_modelsrc *src, const char *name, lt_src_tensor *out);

/* Row permutation between rope conventions, per head of head_dim rows of row_bytes each.
 * to_adjacent: rotate_half layout (i, i+dh/2) -> adjacent pairs (2i, 2i+1), as llama.cpp's
 * convert_hf_to_gguf permute; else the inverse. */
void lt_ms_permute_rows(void *dst, const void *src, int n_head, int head_dim, size_t row_bytes, bool to_adjacent);

/* Data of t converted to dtype dt (through f32 with the dtype table's row conversions; the
 * same dtype is copied as it is) in a fresh lt_malloc buffer. */
lt_status lt_ms_convert(const lt_src_tensor *t, lt_dtype dt, void **out, size_t *nbytes, lt_err *err);
/* The same into dst (lt_ms_converted_bytes(t, dt) bytes). */
lt_status lt_ms_convert_into(const lt_src_tensor *t, lt_dtype dt, void *dst, lt_err *err);
/* Whether lt_ms_convert can make dt of t (row length a multiple of dt's block; both dtypes
 * convert through f32, or dt is t's own dtype); the error names the tensor. */
lt_status lt_ms_convert_check(const lt_src_tensor *t, lt_dtype dt, lt_err *err);
size_t lt_ms_converted_bytes(const lt_src_tensor *t, lt_dtype dt);

/* Llama 3.1 rope frequency divisors [head_dim/2] from cfg's llama3 scaling parameters. */
void lt_ms_llama3_factors(const lt_llm_config *cfg, float *out);

/* "blk.L.attn_q.weight" -> true and *layer = L, suffix = "attn_q.weight". */
bool lt_ms_split_layer(const char *name, int *layer, const char **suffix);

#endif
