/* modelsrc_ct.h - compressed-tensors checkpoints (neuralmagic/compressed-tensors, what vLLM
 * and llm-compressor read and write) inside Hugging Face folders: the 2:4 sparse format
 * "sparse-24-bitmask" of f16/bf16/f32 weights. modelsrc_hf.c calls lt_ct_read_config on
 * config.json and lt_ct_load when it says so; the writer is core/compress/ct_hf.c.
 *
 * Layout (compressed-tensors' Sparse24BitMaskCompressor): config.json "quantization_config" =
 * {"quant_method": "compressed-tensors", "version": ..., "sparsity_config": {"format":
 * "sparse-24-bitmask", "sparsity_structure": "2:4", "targets": [...], "ignore": [...],
 * "global_sparsity": ...}}; a 2:4 linear <prefix>.weight [N, K] is stored as three tensors
 *   <prefix>.compressed  [N, K/2]          the kept values of each row in column order (the
 *                                          weight's dtype)
 *   <prefix>.bitmask     U8 [N, ceil(K/8)] bit k % 8 of byte k / 8 of row n set when column k is
 *                                          kept (numpy packbits, bitorder little)
 *   <prefix>.shape       I64 [2, 1]        N, K
 * and every other tensor as in a plain folder.
 *
 * What lathe makes of it: f16 linears with exactly 2 kept of each 4 columns and K a multiple of
 * 16 become s24_f16 weights (the same values and positions); any other (bf16 / f32 values, a
 * group with another count, K not a multiple of 16) is decompressed to a dense matrix of its
 * dtype, exactly as compressed-tensors' decompressor does.
 * Leaves out: compressed-tensors quantization ("config_groups": int/float/pack-quantized,
 * marlin-24) and the unstructured "sparse-bitmask" format (LT_EUNSUPPORTED naming them).
 */
#ifndef LT_MODELSRC_CT_H
#define LT_MODELSRC_CT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"
#include "modelsrc.h"

typedef struct lt_ct_config {
    bool ct;       /* quant_method is "compressed-tensors" */
    bool sparse24; /* sparsity_config.format is "sparse-24-bitmask" */
} lt_ct_config;

struct cJSON;
/* What config.json (parsed; may be NULL) says; path names it in errors. A folder that is not
 * compressed-tensors gives c->ct false and LT_OK. */
lt_status lt_ct_read_config(const struct cJSON *config, const char *path, lt_ct_config *c, lt_err *err);

/* Replaces every linear of src whose <hf prefix>.compressed is in the folder's shards by its
 * weight (canonical name; s24_f16 or dense, above). */
lt_status lt_ct_load(lt_modelsrc *src, const lt_ct_config *c, lt_err *err);

/* numpy.packbits(keep, bitorder="little") of one row of n flags (ceil(n/8) bytes), and back. */
void lt_ct_pack_bits(const uint8_t *keep, int64_t n, uint8_t *bits);
void lt_ct_unpack_bits(const uint8_t *bits, int64_t n, uint8_t *keep);

#endif
