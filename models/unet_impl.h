/* unet_impl.h - the UNet2DModel's private structures, shared by models/unet.c (config,
 * weights, sizes, the lt_denoiser face) and models/unet_fwd.c (the forward pass over ops).
 * Not a public header: only those two files include it.
 */
#ifndef LT_UNET_IMPL_H
#define LT_UNET_IMPL_H

#include "core/formats/diffusers.h"
#include "unet.h"

/* A convolution or linear layer on the device: w [OC, IC, K, K] (linear: [N, K]), b [OC]. */
typedef struct unet_lin {
    lt_tensor w, b;
} unet_lin;

typedef struct unet_norm {
    lt_tensor g, b; /* gamma, beta [C] */
} unet_norm;

/* ResnetBlock2D. */
typedef struct unet_res {
    int cin, cout;
    unet_norm n1, n2;
    unet_lin conv1, conv2, temb, shortcut; /* shortcut.w.data NULL: identity */
    float out_scale;                       /* output_scale_factor */
} unet_res;

/* The attention block of AttnDown/Up/Mid blocks (diffusers' Attention, _from_deprecated_attn_block). */
typedef struct unet_attn {
    int c, heads;
    bool has_norm;
    int groups;
    unet_norm n;
    unet_lin qkv, out; /* qkv.w [3C, C, 1, 1] (to_q, to_k, to_v stacked), out.w [C, C, 1, 1] */
    float rescale;     /* rescale_output_factor */
} unet_attn;

/* One down or up block (or the mid block: resnets n_res = 2 with one attention between). */
typedef struct unet_block {
    int n_res;
    unet_res *res;
    unet_attn *attn; /* NULL when the block has none; else n_res entries (mid: 1) */
    bool sampler;    /* a downsampler or upsampler follows */
    unet_lin samp;   /* its 3x3 convolution */
    int res_h, res_w; /* the resolution the block's resnets run at */
} unet_block;

typedef struct unet_model {
    lt_denoiser head; /* first: an lt_denoiser * points here */
    lt_unet_config cfg;
    lt_arena *weights, *acts;
    unet_lin conv_in, conv_out, t_lin1, t_lin2;
    unet_norm norm_out;
    float *time_table;  /* host: fourier W [C0] or learned [num_train_timesteps, C0] */
    float *class_table; /* host: [num_class_embeds, time_embed_dim] */
    int temb_in;        /* width of the time projection (C0, or 2*C0 for fourier) */
    unet_block down[LT_UNET_MAX_LEVELS], up[LT_UNET_MAX_LEVELS], mid;
    /* activations (max_batch images each) */
    lt_tensor buf[3], t1, t2, cc, qkv, work, out;
    lt_tensor skip[LT_UNET_MAX_LEVELS * 66];
    int n_skip;
    lt_tensor tin, temb, temb_act, tproj, tcls, tmp_emb; /* [max_batch, ...] */
    float *host_emb;                                    /* [max_batch, max(temb_in, time_embed_dim)] */
} unet_model;

/* unet_fwd.c: one evaluation of n images (the lt_denoiser predict). */
lt_status lt_unet_forward(unet_model *m, const float *x, int n, const float *t, const int *class_ids, float *out,
                          lt_err *err);

#endif
