/* diffusers.h - where the pieces of a Hugging Face diffusers folder are.
 *
 * A diffusers pipeline folder has model_index.json and one subfolder per component
 * (unet/config.json + unet/diffusion_pytorch_model.safetensors, scheduler/scheduler_config.json);
 * a component folder alone (config.json + diffusion_pytorch_model.safetensors, maybe with
 * scheduler_config.json beside it or in ../scheduler/) is accepted too. The UNet's config and
 * tensors are read by the model (models/unet.c), the scheduler's config by
 * core/diffusion/scheduler.c; this module only finds the files, once for both.
 * It also parses the UNet2DModel config.json into lt_unet_config (here, below the model, so
 * the parser can be fuzzed alone).
 * Leaves out: other pipeline components (VAE, text encoder), .bin (pickle) weights.
 */
#ifndef LT_DIFFUSERS_H
#define LT_DIFFUSERS_H

#include <stdbool.h>

#include <stddef.h>

#include "core/base/status.h"

#define LT_DIFFUSERS_PATH_MAX 4096

typedef struct lt_diffusers_paths {
    char unet_config[LT_DIFFUSERS_PATH_MAX];  /* .../config.json of the UNet */
    char unet_weights[LT_DIFFUSERS_PATH_MAX]; /* .../diffusion_pytorch_model.safetensors */
    char scheduler[LT_DIFFUSERS_PATH_MAX];    /* scheduler_config.json, "" when the folder has none */
    bool pipeline;                            /* path had model_index.json */
} lt_diffusers_paths;

/* Finds the UNet and scheduler files of a diffusers folder (pipeline or unet/ folder). A
 * folder without a UNet config or without safetensors weights (only .bin) is an error that
 * says what is missing. */
lt_status lt_diffusers_locate(const char *dir, lt_diffusers_paths *out, lt_err *err);

/* True when dir looks like a diffusers folder (model_index.json, or config.json with
 * diffusion_pytorch_model.safetensors beside it): what format sniffing asks. */
bool lt_diffusers_is_folder(const char *dir);

/* ---- the UNet2DModel config (config.json of a diffusers UNet2DModel) -------------------------- */

#define LT_UNET_MAX_LEVELS 8

typedef enum lt_unet_time_type {
    LT_UNET_TIME_POSITIONAL = 0, /* sinusoid (get_timestep_embedding), no weights */
    LT_UNET_TIME_FOURIER,        /* Gaussian Fourier features of log(t) (time_proj.weight); output / t */
    LT_UNET_TIME_LEARNED,        /* a table of num_train_timesteps rows (time_proj.weight) */
} lt_unet_time_type;

typedef enum lt_unet_class_type {
    LT_UNET_CLASS_NONE = 0,
    LT_UNET_CLASS_TABLE,    /* class_embed_type null + num_class_embeds: class_embedding.weight rows */
} lt_unet_class_type;

/* Every field after resolving diffusers' defaults (unet_2d.py's __init__ arguments). */
typedef struct lt_unet_config {
    int sample_h, sample_w;      /* sample_size (an int, or [h, w]) */
    int in_channels, out_channels;
    bool center_input_sample;    /* x := 2x - 1 first */
    lt_unet_time_type time_type;
    int time_embed_dim;          /* time_embedding_dim, default 4 * block_out_channels[0] */
    float freq_shift;            /* the sinusoid's downscale_freq_shift */
    bool flip_sin_to_cos;        /* [cos, sin] rather than [sin, cos] */
    int n_levels;                /* len(block_out_channels) */
    int block_out[LT_UNET_MAX_LEVELS];
    bool down_attn[LT_UNET_MAX_LEVELS]; /* AttnDownBlock2D (else DownBlock2D) */
    bool up_attn[LT_UNET_MAX_LEVELS];   /* AttnUpBlock2D (else UpBlock2D), in up order */
    int layers_per_block;
    bool mid_block;              /* mid_block_type UNetMidBlock2D (false: null) */
    float mid_block_scale_factor;
    int downsample_padding;      /* 1: pad 1; 0: pad (0,1,0,1) */
    int attention_head_dim;      /* 0: null (one head as wide as the block) */
    int norm_num_groups;
    int attn_norm_num_groups;    /* 0: null (diffusers: norm_num_groups, none with scale_shift) */
    float norm_eps;
    bool scale_shift;            /* resnet_time_scale_shift "scale_shift" (else "default") */
    bool add_attention;          /* the mid block's attention */
    lt_unet_class_type class_type;
    int num_class_embeds;
    int num_train_timesteps;     /* 0: not in the config */
} lt_unet_config;

/* Parses a UNet2DModel config.json (json, len bytes; path names it in errors). Keys lathe does not
 * implement (other block types, cross-attention, other activations, resnet up/down samplers) are
 * LT_EUNSUPPORTED errors naming the key and value; malformed values are LT_EFORMAT. */
lt_status lt_unet_config_parse(const char *json, size_t len, const char *path, lt_unet_config *out, lt_err *err);

/* num_train_timesteps of a scheduler_config.json (json, len bytes); 1000 when it has none. */
lt_status lt_diffusers_sched_timesteps(const char *json, size_t len, const char *path, int *out, lt_err *err);

#endif
