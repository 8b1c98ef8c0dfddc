/* modelsrc_gptq.h - AutoGPTQ / GPTQModel checkpoints inside Hugging Face folders: the
 * quantization config (config.json "quantization_config" or quantize_config.json) and the
 * per-linear tensors <prefix>.qweight / .qzeros / .scales / .g_idx, unpacked and turned into
 * the weights lathe runs (modelsrc_hf.c calls lt_gptq_load when the config says GPTQ); plus
 * AutoGPTQ's bit packing both ways, which the writer (core/compress/gptq_hf.c) uses.
 *
 * Layout (K inputs, N outputs, G groups): qweight int32 [K*bits/32, N], column n a little-endian
 * bit stream over the rows with input k at bit bits*k (3-bit values cross word boundaries);
 * qzeros int32 [G, N*bits/32], row g a bit stream with output n at bit bits*n; scales f16 [G, N];
 * g_idx int32 [K] (the group of each input). w[n][k] = scale[g][n] * (q[k][n] - z[g][n]) with
 * z = stored + 1 for checkpoint_format "gptq" (v1: AutoGPTQ packs zero - 1) and z = stored for
 * "gptq_v2". A symmetric checkpoint labelled "gptq" whose stored zeros are all 2^(bits-1) holds
 * v2 zeros (some GPTQModel exports do that; vLLM detects it the same way) and is read as v2.
 *
 * What lathe runs: 4-bit matrices whose groups are runs of 32 inputs (any group size that is a
 * multiple of 32, -1, act-order with static groups) become gq4_32/64/128 weights (exactly the
 * checkpoint's values: f16 scales, integer zeros); 2-, 3- and 8-bit matrices, and act-order
 * groups that are not such runs, are dequantized to f16 at load (a rounding of the exact values).
 * A quantized lm_head (GPTQModel's "lm_head": true; untied, lm_head.qweight ...) is read as the
 * output matrix, also where config.json still says tie_word_embeddings.
 * Leaves out: GPTQModel's int16/int8 pack_dtype, "marlin" checkpoint_format, per-module
 * "dynamic" overrides, quantized embeddings.
 */
#ifndef LT_MODELSRC_GPTQ_H
#define LT_MODELSRC_GPTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"
#include "modelsrc.h"

typedef struct lt_gptq_config {
    int bits;          /* 2, 3, 4, 8 */
    int group;         /* inputs per group; -1: one group per row */
    bool sym, desc_act, static_groups;
    bool v2;           /* zero convention of the file as read (after the mislabel check) */
    bool lm_head;      /* lm_head quantized too */
} lt_gptq_config;

struct cJSON;
/* The GPTQ config of a folder: config.json's "quantization_config" (config: the parsed
 * config.json, or NULL) or else dir/quantize_config.json. *found is false (and LT_OK) when
 * neither says GPTQ. */
lt_status lt_gptq_read_config(const char *dir, const struct cJSON *config, lt_gptq_config *q, bool *found,
                              lt_err *err);

/* Replaces every linear of src whose <hf prefix>.qweight is in the folder's shards by its
 * unpacked weight (canonical name, gq4_* or f16). */
lt_status lt_gptq_load(lt_modelsrc *src, const lt_gptq_config *q, lt_err *err);

/* AutoGPTQ's packing: n values of bits (2, 3, 4, 8) each as a little-endian stream of 32-bit
 * words, value i at bit bits*i, the words stride int32s apart (qweight: stride N; qzeros: 1). */
void lt_gptq_pack_bits(const uint8_t *v, int64_t n, int bits, int32_t *words, int64_t stride);
void lt_gptq_unpack_bits(const int32_t *words, int64_t stride, int bits, int64_t n, uint8_t *v);

#endif
