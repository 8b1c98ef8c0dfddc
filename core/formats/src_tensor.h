/* src_tensor.h - lt_src_tensor: one named tensor inside a file a reader has mapped (GGUF,
 * safetensors, llama2.c), as the container readers report it and model sources list it.
 *
 * A plain descriptor with no functions, below gguf.h, safetensors.h and modelsrc.h so the
 * container readers need nothing from the model-source object. Leaves out: ownership (the
 * reader or source that made the mapping owns the data; `mapped` says whether there is one).
 */
#ifndef LT_SRC_TENSOR_H
#define LT_SRC_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/tensor.h"

typedef struct lt_src_tensor {
    char name[96];
    lt_dtype dtype;
    int ndim;
    int64_t shape[LT_MAX_DIMS]; /* outermost first */
    const void *data;           /* points into the source's mapping */
    size_t nbytes;
    bool mapped;                /* data lies in a read-only file mapping (lt_file_map), whose
                                   pages may be dropped (lt_file_map_drop); false for memory
                                   a source owns (in-memory sources, converted data) */
} lt_src_tensor;

#endif
