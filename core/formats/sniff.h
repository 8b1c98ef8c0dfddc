/* sniff.h - format sniffing, in one place: given a path, what kind of file lathe sees there
 * (GGUF, Hugging Face model folder, safetensors, llama2.c checkpoint or tokenizer, darknet
 * .cfg or .weights, image), from magic bytes, a plausible header, or the folder layout.
 *
 * Reads at most the first 4 KiB of a file and never parses it beyond that: the readers still
 * validate everything. Below every reader (it needs only core/base), so any opener or reader
 * can ask. Leaves out: opening anything (modelsrc_open.h opens model sources), TGA images
 * (no magic bytes), GGUF or safetensors files that are not models.
 */
#ifndef LT_SNIFF_H
#define LT_SNIFF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"

typedef enum lt_file_kind {
    LT_FILE_UNKNOWN = 0,       /* none of these (lt_sniff returns LT_EFORMAT naming what it expected) */
    LT_FILE_DIR,               /* a directory without config.json (lt_sniff returns LT_ENOTFOUND) */
    LT_FILE_GGUF,              /* a file starting with "GGUF" */
    LT_FILE_HF,                /* a Hugging Face model folder: a directory holding config.json, or a
                                  *config.json, *.safetensors or *.index.json file beside one */
    LT_FILE_SAFETENSORS,       /* a *.safetensors file with no config.json beside it */
    LT_FILE_LLAMA2C,           /* a llama2.c checkpoint: "ak42" magic (exports of version 1 and later)
                                  or a plausible legacy header (7 int32, no magic) */
    LT_FILE_LLAMA2C_TOKENIZER, /* a llama2.c tokenizer .bin: max token length, then (score, length,
                                  bytes) records */
    LT_FILE_DARKNET_CFG,       /* a darknet network .cfg: its first section is [net] or [network] */
    LT_FILE_DARKNET_WEIGHTS,   /* a *.weights file with a darknet version header */
    LT_FILE_IMAGE,             /* JPEG, PNG, GIF, BMP or binary PNM (P5/P6), by magic bytes */
    LT_FILE_DIFFUSERS,         /* a diffusers folder (lt_diffusers_is_folder: model_index.json, or
                                  config.json + diffusion_pytorch_model.safetensors), or a
                                  config.json, *.safetensors or model_index.json file in one: an image
                                  diffusion model for `imagine -m DIR`, not a language model */
    LT_FILE_SLICEGPT,          /* a SliceGPT folder as TransformerCompression saves it (modelsrc_slicegpt.h):
                                  config.json, no model.safetensors, a torch.save .pt (a zip archive); or a
                                  .pt file with config.json beside it */
} lt_file_kind;

typedef struct lt_sniffed {
    lt_file_kind kind;
    const char *what; /* for messages: "a GGUF file", "a PNG image", ... (static text) */
    uint64_t size;    /* file size in bytes; 0 for directories */
    char dir[4096];   /* LT_FILE_HF, LT_FILE_DIFFUSERS, LT_FILE_SLICEGPT: the model folder (path itself,
                         or the folder holding the file) */
} lt_sniffed;

/* Says what path is. LT_OK with out->kind for everything recognised. Errors (out->kind is
 * still set): LT_EIO when path cannot be opened or is not a regular file or directory;
 * LT_ENOTFOUND for a directory without config.json, or a *config.json / *.index.json file
 * with no config.json beside it; LT_EFORMAT for an unrecognised file, naming the formats
 * lathe reads. */
lt_status lt_sniff(const char *path, lt_sniffed *out, lt_err *err);

/* What image the first n bytes of a file are, by magic bytes: "a JPEG image", "a PNG image",
 * "a GIF image", "a BMP image", "a PNM image", or NULL. lt_sniff and the image loader share it. */
const char *lt_sniff_image(const void *head, size_t n);

/* "ak42": the magic of llama2.c's version-1 and later exports (little-endian uint32). */
#define LT_LLAMA2C_MAGIC 0x616b3432u

/* The llama2.c header plausibility test, shared by lt_sniff and the llama2.c reader: dims
 * in range, heads dividing dim into even head sizes, kv_heads dividing heads. vocab as a
 * positive count (the legacy header's sign, shared/unshared classifier, already removed). */
bool lt_sniff_llama2c_dims(int32_t dim, int32_t hidden, int32_t layers, int32_t heads, int32_t kv_heads,
                           int32_t vocab, int32_t seq_len);

#endif
