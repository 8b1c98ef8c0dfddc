/* unet.c - diffusers' UNet2DModel as an lt_denoiser (unet.h): the folder, the config
 * (core/formats/diffusers.h parses it), the weights and the activation buffers. The forward
 * pass over lt_op_* is in unet_fwd.c; both share unet_impl.h.
 *
 * Weights are read from diffusion_pytorch_model.safetensors (f32, f16 or bf16; held as f32 on
 * the device) by diffusers' names; the attention projections are found under either
 * convention diffusers loads: to_q/to_k/to_v/to_out.0 (diffusers-trained) or
 * query/key/value/proj_attn (old Google-converted checkpoints; modeling_utils.py
 * _fix_state_dict_keys_on_load), as [C, C] or [C, C, 1, 1], and are stacked into one qkv 1x1
 * convolution. A missing tensor or one of the wrong shape is an LT_EFORMAT naming it.
 * Activations live in one arena sized for max_batch images from the config (the largest
 * tensor per level, the skip connections, the im2col workspace).
 * Leaves out: .bin (pickle) weights, UNet2DConditionModel (text conditioning), the skip and
 * resnet-sampler block variants (the config parser rejects them).
 */
#include "unet_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"
#include "core/formats/safetensors.h"
#include "core/formats/sniff.h"

/* ---- loading ------------------------------------------------------------------------------ */

typedef struct loader {
    unet_model *m;
    lt_safetensors *st;
    const char *file;
    float *host; /* conversion buffer */
    size_t host_n;
    double flops; /* per image */
    lt_err *err;
} loader;

/* The tensor `name` (or, when alt is not NULL and name is absent, `alt`), with numel elements
 * and, when dims match, the shape given; into host f32 (ld->host). */
static lt_status fetch(loader *ld, const char *name, const char *alt, int ndim, const int64_t *shape,
                       lt_src_tensor *t) {
    int64_t i = lt_st_find(ld->st, name);
    if (i < 0 && alt) i = lt_st_find(ld->st, alt);
    if (i < 0)
        return lt_err_set(ld->err, LT_EFORMAT, "%s: tensor %s is missing (the config needs it)", ld->file, name);
    lt_st_tensor(ld->st, i, t);
    int64_t want = 1, have = 1;
    for (int d = 0; d < ndim; d++) want *= shape[d];
    for (int d = 0; d < t->ndim; d++) have *= t->shape[d];
    bool ok = t->dtype == LT_F32 || t->dtype == LT_F16 || t->dtype == LT_BF16;
    /* the same dims, or (attention projections) [C, C] against [C, C, 1, 1] */
    bool shape_ok = want == have && t->ndim >= 1 && t->shape[0] == shape[0];
    if (t->ndim == ndim)
        for (int d = 0; d < ndim; d++) shape_ok = shape_ok && t->shape[d] == shape[d];
    if (!ok)
        return lt_err_set(ld->err, LT_EUNSUPPORTED, "%s: tensor %s is %s (f32, f16 or bf16 expected)", ld->file,
                          t->name, lt_dtype_name(t->dtype));
    if (!shape_ok) {
        char a[96], b[96];
        lt_tensor tmp = lt_tensor_make(NULL, LT_F32, NULL, ndim, shape);
        lt_tensor got = lt_tensor_make(NULL, LT_F32, NULL, t->ndim, t->shape);
        return lt_err_set(ld->err, LT_EFORMAT, "%s: tensor %s has shape %s, the config needs %s", ld->file, t->name,
                          lt_shape_str(&got, a, sizeof a), lt_shape_str(&tmp, b, sizeof b));
    }
    if ((size_t)have > ld->host_n) {
        float *h = realloc(ld->host, (size_t)have * sizeof(float));
        if (!h) return lt_err_set(ld->err, LT_ENOMEM, "%s: out of memory reading %s", ld->file, t->name);
        ld->host = h, ld->host_n = (size_t)have;
    }
    lt_dtype_row_to_f32(t->dtype, t->data, ld->host, have);
    return LT_OK;
}

/* Loads name into a new device tensor of the given shape. */
static lt_status load(loader *ld, lt_tensor *out, const char *name, const char *alt, int ndim, const int64_t *shape) {
    lt_src_tensor t;
    LT_TRY(fetch(ld, name, alt, ndim, shape, &t));
    LT_TRY(lt_arena_tensor(ld->m->weights, out, LT_F32, ndim, shape, ld->err));
    return lt_tensor_set(out, ld->host, lt_tensor_nbytes(out), ld->err);
}

static lt_status load_norm(loader *ld, unet_norm *n, const char *prefix, int c) {
    char a[160], b[160];
    snprintf(a, sizeof a, "%s.weight", prefix);
    snprintf(b, sizeof b, "%s.bias", prefix);
    int64_t s[1] = {c};
    LT_TRY(load(ld, &n->g, a, NULL, 1, s));
    return load(ld, &n->b, b, NULL, 1, s);
}

/* A conv (k > 0: [oc, ic, k, k]) or a linear layer (k == 0: [oc, ic]), with its bias; flops for
 * hw output positions. */
static lt_status load_lin(loader *ld, unet_lin *l, const char *prefix, int oc, int ic, int k, int64_t hw) {
    char a[160], b[160];
    snprintf(a, sizeof a, "%s.weight", prefix);
    snprintf(b, sizeof b, "%s.bias", prefix);
    int64_t w4[4] = {oc, ic, k, k}, w2[2] = {oc, ic}, bs[1] = {oc};
    LT_TRY(load(ld, &l->w, a, NULL, k ? 4 : 2, k ? w4 : w2));
    ld->flops += 2.0 * oc * ic * (k ? k * k : 1) * (double)hw;
    return load(ld, &l->b, b, NULL, 1, bs);
}

static lt_status load_res(loader *ld, unet_res *r, const char *p, int cin, int cout, int64_t hw, float scale) {
    const lt_unet_config *u = &ld->m->cfg;
    char s[160];
    r->cin = cin, r->cout = cout, r->out_scale = scale;
    snprintf(s, sizeof s, "%s.norm1", p);
    LT_TRY(load_norm(ld, &r->n1, s, cin));
    snprintf(s, sizeof s, "%s.conv1", p);
    LT_TRY(load_lin(ld, &r->conv1, s, cout, cin, 3, hw));
    snprintf(s, sizeof s, "%s.time_emb_proj", p);
    LT_TRY(load_lin(ld, &r->temb, s, u->scale_shift ? 2 * cout : cout, u->time_embed_dim, 0, 1));
    snprintf(s, sizeof s, "%s.norm2", p);
    LT_TRY(load_norm(ld, &r->n2, s, cout));
    snprintf(s, sizeof s, "%s.conv2", p);
    LT_TRY(load_lin(ld, &r->conv2, s, cout, cout, 3, hw));
    if (cin != cout) {
        snprintf(s, sizeof s, "%s.conv_shortcut", p);
        LT_TRY(load_lin(ld, &r->shortcut, s, cout, cin, 1, hw));
    }
    ld->flops += 12.0 * (cin + cout) * hw; /* norms, activations, adds (rough) */
    return LT_OK;
}

/* to_q/to_k/to_v (or query/key/value) stacked into one [3C, C, 1, 1] convolution. */
static lt_status load_attn(loader *ld, unet_attn *a, const char *p, int c, int64_t hw, bool norm, int groups,
                           float rescale) {
    const lt_unet_config *u = &ld->m->cfg;
    a->c = c, a->heads = u->attention_head_dim ? c / u->attention_head_dim : 1;
    a->has_norm = norm, a->groups = groups, a->rescale = rescale;
    char s[160], alt[160];
    if (norm) {
        snprintf(s, sizeof s, "%s.group_norm", p);
        LT_TRY(load_norm(ld, &a->n, s, c));
    }
    static const char *const nw[3] = {"to_q", "to_k", "to_v"}, *const old[3] = {"query", "key", "value"};
    int64_t qs[4] = {3 * c, c, 1, 1}, bs[1] = {3 * c}, one[4] = {c, c, 1, 1}, ob[1] = {c};
    LT_TRY(lt_arena_tensor(ld->m->weights, &a->qkv.w, LT_F32, 4, qs, ld->err));
    LT_TRY(lt_arena_tensor(ld->m->weights, &a->qkv.b, LT_F32, 1, bs, ld->err));
    lt_src_tensor t;
    for (int i = 0; i < 3; i++) {
        snprintf(s, sizeof s, "%s.%s.weight", p, nw[i]);
        snprintf(alt, sizeof alt, "%s.%s.weight", p, old[i]);
        LT_TRY(fetch(ld, s, alt, 4, one, &t));
        LT_TRY(lt_tensor_set_range(&a->qkv.w, (size_t)i * c * c * sizeof(float), ld->host,
                                   (size_t)c * c * sizeof(float), ld->err));
        snprintf(s, sizeof s, "%s.%s.bias", p, nw[i]);
        snprintf(alt, sizeof alt, "%s.%s.bias", p, old[i]);
        LT_TRY(fetch(ld, s, alt, 1, ob, &t));
        LT_TRY(lt_tensor_set_range(&a->qkv.b, (size_t)i * c * sizeof(float), ld->host, (size_t)c * sizeof(float),
                                   ld->err));
    }
    snprintf(s, sizeof s, "%s.to_out.0.weight", p);
    snprintf(alt, sizeof alt, "%s.proj_attn.weight", p);
    LT_TRY(load(ld, &a->out.w, s, alt, 4, one));
    snprintf(s, sizeof s, "%s.to_out.0.bias", p);
    snprintf(alt, sizeof alt, "%s.proj_attn.bias", p);
    LT_TRY(load(ld, &a->out.b, s, alt, 1, ob));
    ld->flops += 8.0 * c * c * hw + 4.0 * (double)hw * hw * c;
    return LT_OK;
}

/* A host copy of a whole tensor (time_proj.weight, class_embedding.weight). */
static lt_status load_host(loader *ld, float **out, const char *name, int ndim, const int64_t *shape) {
    lt_src_tensor t;
    LT_TRY(fetch(ld, name, NULL, ndim, shape, &t));
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    *out = malloc((size_t)n * sizeof(float));
    if (!*out) return lt_err_set(ld->err, LT_ENOMEM, "%s: out of memory for %s", ld->file, name);
    memcpy(*out, ld->host, (size_t)n * sizeof(float));
    return LT_OK;
}

static lt_status alloc_blocks(unet_block *b, int n_res, bool attn, lt_err *err) {
    b->n_res = n_res;
    b->res = calloc((size_t)n_res, sizeof *b->res);
    b->attn = attn ? calloc((size_t)n_res, sizeof *b->attn) : NULL;
    if (!b->res || (attn && !b->attn)) return lt_err_set(err, LT_ENOMEM, "unet: out of memory");
    return LT_OK;
}

static lt_status load_all(loader *ld) {
    unet_model *m = ld->m;
    const lt_unet_config *u = &m->cfg;
    int C0 = u->block_out[0], E = u->time_embed_dim, H = u->sample_h, W = u->sample_w;
    char p[160];
    m->temb_in = u->time_type == LT_UNET_TIME_FOURIER ? 2 * C0 : C0;
    if (u->time_type == LT_UNET_TIME_FOURIER) LT_TRY(load_host(ld, &m->time_table, "time_proj.weight", 1, (int64_t[]){C0}));
    if (u->time_type == LT_UNET_TIME_LEARNED)
        LT_TRY(load_host(ld, &m->time_table, "time_proj.weight", 2, (int64_t[]){u->num_train_timesteps, C0}));
    LT_TRY(load_lin(ld, &m->t_lin1, "time_embedding.linear_1", E, m->temb_in, 0, 1));
    LT_TRY(load_lin(ld, &m->t_lin2, "time_embedding.linear_2", E, E, 0, 1));
    if (u->class_type == LT_UNET_CLASS_TABLE)
        LT_TRY(load_host(ld, &m->class_table, "class_embedding.weight", 2, (int64_t[]){u->num_class_embeds, E}));
    LT_TRY(load_lin(ld, &m->conv_in, "conv_in", C0, u->in_channels, 3, (int64_t)H * W));
    int L = u->layers_per_block, n = u->n_levels;
    /* down */
    int out_c = C0;
    for (int i = 0; i < n; i++) {
        unet_block *b = &m->down[i];
        int in_c = out_c;
        out_c = u->block_out[i];
        b->res_h = H >> i, b->res_w = W >> i;
        int64_t hw = (int64_t)b->res_h * b->res_w;
        LT_TRY(alloc_blocks(b, L, u->down_attn[i], ld->err));
        for (int j = 0; j < L; j++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d", i, j);
            LT_TRY(load_res(ld, &b->res[j], p, j ? out_c : in_c, out_c, hw, 1));
            if (b->attn) {
                snprintf(p, sizeof p, "down_blocks.%d.attentions.%d", i, j);
                LT_TRY(load_attn(ld, &b->attn[j], p, out_c, hw, true, u->norm_num_groups, 1));
            }
        }
        if ((b->sampler = i < n - 1)) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i);
            LT_TRY(load_lin(ld, &b->samp, p, out_c, out_c, 3, hw / 4));
        }
    }
    /* mid */
    int CL = u->block_out[n - 1];
    if (u->mid_block) {
        unet_block *b = &m->mid;
        b->res_h = H >> (n - 1), b->res_w = W >> (n - 1);
        int64_t hw = (int64_t)b->res_h * b->res_w;
        LT_TRY(alloc_blocks(b, 2, u->add_attention, ld->err));
        float s = u->mid_block_scale_factor;
        LT_TRY(load_res(ld, &b->res[0], "mid_block.resnets.0", CL, CL, hw, s));
        LT_TRY(load_res(ld, &b->res[1], "mid_block.resnets.1", CL, CL, hw, s));
        if (b->attn) {
            int g = u->attn_norm_num_groups ? u->attn_norm_num_groups : (u->scale_shift ? 0 : u->norm_num_groups);
            LT_TRY(load_attn(ld, &b->attn[0], "mid_block.attentions.0", CL, hw, g > 0, g, s));
        }
    }
    /* up */
    out_c = CL;
    for (int i = 0; i < n; i++) {
        unet_block *b = &m->up[i];
        int prev = out_c;
        out_c = u->block_out[n - 1 - i];
        int in_c = u->block_out[n - 1 - (i + 1 < n ? i + 1 : n - 1)];
        b->res_h = H >> (n - 1 - i), b->res_w = W >> (n - 1 - i);
        int64_t hw = (int64_t)b->res_h * b->res_w;
        LT_TRY(alloc_blocks(b, L + 1, u->up_attn[i], ld->err));
        for (int j = 0; j <= L; j++) {
            int skip_c = j == L ? in_c : out_c, res_in = j == 0 ? prev : out_c;
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d", i, j);
            LT_TRY(load_res(ld, &b->res[j], p, res_in + skip_c, out_c, hw, 1));
            if (b->attn) {
                snprintf(p, sizeof p, "up_blocks.%d.attentions.%d", i, j);
                LT_TRY(load_attn(ld, &b->attn[j], p, out_c, hw, true, u->norm_num_groups, 1));
            }
        }
        if ((b->sampler = i < n - 1)) {
            snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.conv", i);
            LT_TRY(load_lin(ld, &b->samp, p, out_c, out_c, 3, hw * 4));
        }
    }
    LT_TRY(load_norm(ld, &m->norm_out, "conv_norm_out", C0));
    return load_lin(ld, &m->conv_out, "conv_out", u->out_channels, C0, 3, (int64_t)H * W);
}

/* ---- activations ---------------------------------------------------------------------------- */

static lt_status make_acts(unet_model *m, lt_err *err) {
    const lt_unet_config *u = &m->cfg;
    int B = m->head.max_batch, n = u->n_levels, H = u->sample_h, W = u->sample_w, L = u->layers_per_block;
    int64_t big = 0, qkv = 0, work = 0, cmax = 0;
    for (int l = 0; l < n; l++) {
        int64_t c = u->block_out[l];
        if (l > 0 && u->block_out[l - 1] > c) c = u->block_out[l - 1];
        if (l + 1 < n && u->block_out[l + 1] > c) c = u->block_out[l + 1];
        int64_t hw = (int64_t)(H >> l) * (W >> l);
        if (2 * c * hw > big) big = 2 * c * hw;
        if (9 * 2 * c * hw > work) work = 9 * 2 * c * hw;
        if ((u->down_attn[l] || u->up_attn[n - 1 - l] || (l == n - 1 && u->mid_block && u->add_attention)) &&
            3 * u->block_out[l] * hw > qkv)
            qkv = 3 * u->block_out[l] * hw;
        if (u->block_out[l] > cmax) cmax = u->block_out[l];
    }
    int64_t full = (int64_t)H * W;
    if (u->in_channels * full > big) big = u->in_channels * full;
    if (u->out_channels * full > big) big = u->out_channels * full;
    if (9 * u->in_channels * full > work) work = 9 * u->in_channels * full;
    /* the skip connections: conv_in, each down resnet (or attention) output, each downsample */
    int64_t shapes[LT_UNET_MAX_LEVELS * 66][2];
    int ns = 0;
    shapes[ns][0] = u->block_out[0], shapes[ns++][1] = full;
    for (int l = 0; l < n; l++) {
        for (int j = 0; j < L; j++) shapes[ns][0] = u->block_out[l], shapes[ns++][1] = (int64_t)(H >> l) * (W >> l);
        if (l < n - 1) shapes[ns][0] = u->block_out[l], shapes[ns++][1] = (int64_t)(H >> (l + 1)) * (W >> (l + 1));
    }
    int64_t E = u->time_embed_dim, tw = 2 * cmax > E ? 2 * cmax : E, tin = m->temb_in > E ? m->temb_in : E;
    size_t bytes = 0;
#define NEED_T(nd, ...) (bytes += lt_arena_need(LT_F32, nd, (int64_t[]){__VA_ARGS__}))
    for (int i = 0; i < 6; i++) NEED_T(2, B, big); /* buf[3], t1, t2, cc */
    NEED_T(2, B, qkv ? qkv : 1);
    NEED_T(1, work);
    NEED_T(2, B, (int64_t)u->out_channels * full);
    for (int i = 0; i < ns; i++) NEED_T(2, B, shapes[i][0] * shapes[i][1]);
    for (int i = 0; i < 6; i++) NEED_T(2, B, tw > tin ? tw : tin);
#undef NEED_T
    LT_TRY(lt_arena_create(&m->acts, m->head.be, bytes, LT_MEM_SCRATCH, err));
    lt_arena *a = m->acts;
#define MK(dst, nd, ...) LT_TRY(lt_arena_tensor(a, &(dst), LT_F32, nd, (int64_t[]){__VA_ARGS__}, err))
    for (int i = 0; i < 3; i++) MK(m->buf[i], 2, B, big);
    MK(m->t1, 2, B, big);
    MK(m->t2, 2, B, big);
    MK(m->cc, 2, B, big);
    MK(m->qkv, 2, B, qkv ? qkv : 1);
    MK(m->work, 1, work);
    MK(m->out, 4, B, u->out_channels, H, W);
    for (int i = 0; i < ns; i++) MK(m->skip[i], 2, B, shapes[i][0] * shapes[i][1]);
    m->n_skip = ns;
    MK(m->tin, 2, B, tin);
    MK(m->temb, 2, B, E);
    MK(m->temb_act, 2, B, E);
    MK(m->tproj, 2, B, tw);
    MK(m->tcls, 2, B, E);
    MK(m->tmp_emb, 2, B, E);
#undef MK
    m->host_emb = malloc((size_t)B * (size_t)tin * sizeof(float));
    if (!m->host_emb) return lt_err_set(err, LT_ENOMEM, "unet: out of memory");
    return LT_OK;
}

/* ---- the denoiser face ------------------------------------------------------------------------ */

static void free_block(unet_block *b) {
    free(b->res);
    free(b->attn);
}

static void unet_close(lt_denoiser *d) {
    unet_model *m = (unet_model *)d;
    for (int i = 0; i < LT_UNET_MAX_LEVELS; i++) free_block(&m->down[i]), free_block(&m->up[i]);
    free_block(&m->mid);
    free(m->time_table);
    free(m->class_table);
    free(m->host_emb);
    lt_arena_free(m->weights);
    lt_arena_free(m->acts);
    free(m);
}

static lt_status unet_predict(lt_denoiser *d, const float *x, int n, const float *t, const int *class_ids, float *out,
                              lt_err *err) {
    return lt_unet_forward((unet_model *)d, x, n, t, class_ids, out, err);
}

static const lt_denoiser_ops k_unet_ops = {.family = "unet2d", .predict = unet_predict, .close = unet_close};

static lt_status read_text(const char *path, char **buf, size_t *len, lt_err *err) {
    return lt_file_read_all(path, 16u << 20, buf, len, err);
}

/* lt_diffusers_locate failed on path: when path is another kind of model or file, say so and
 * where it goes instead of what the diffusers folder lacks. */
static lt_status not_diffusers(const char *path, lt_status st, lt_err *err) {
    lt_sniffed s;
    lt_err e = {0};
    if (lt_sniff(path, &s, &e) != LT_OK) return st;
    const char *use = NULL;
    switch (s.kind) {
    case LT_FILE_GGUF:
    case LT_FILE_LLAMA2C: use = "a language model: open it with `load` (lathe chat -m)"; break;
    case LT_FILE_HF: {
        char p[4200];
        snprintf(p, sizeof p, "%s/model.safetensors", s.dir);
        FILE *f = fopen(p, "rb");
        if (!f) return st; /* a UNet folder with .bin weights, or something else: locate's message */
        fclose(f);
        use = "a language model: open it with `load` (lathe chat -m)";
        break;
    }
    case LT_FILE_DARKNET_CFG:
    case LT_FILE_DARKNET_WEIGHTS: use = "a detector: run it with `detect`"; break;
    case LT_FILE_IMAGE:
    case LT_FILE_LLAMA2C_TOKENIZER:
    case LT_FILE_SAFETENSORS: use = "not a model folder"; break;
    case LT_FILE_DIFFUSERS:
        if (!strcmp(s.dir, path)) return st; /* the folder itself: locate's message says what is missing */
        return lt_err_set(err, LT_EINVAL, "%s: a file of a diffusers folder: give the folder (imagine -m %s)", path,
                          s.dir);
    default: return st;
    }
    return lt_err_set(err, LT_EFORMAT,
                      "%s: %s, %s; imagine -m takes a diffusers UNet2DModel folder (config.json + "
                      "diffusion_pytorch_model.safetensors, or a pipeline folder with model_index.json)",
                      path, s.what, use);
}

static lt_status open_model(unet_model *m, const char *path, lt_err *err) {
    lt_diffusers_paths dp;
    lt_status lst = lt_diffusers_locate(path, &dp, err);
    if (lst) return not_diffusers(path, lst, err);
    char *txt = NULL;
    size_t len = 0;
    LT_TRY(read_text(dp.unet_config, &txt, &len, err));
    lt_status st = lt_unet_config_parse(txt, len, dp.unet_config, &m->cfg, err);
    lt_free(txt);
    if (st) return st;
    int steps = m->cfg.num_train_timesteps ? m->cfg.num_train_timesteps : 1000;
    if (dp.scheduler[0]) {
        LT_TRY(read_text(dp.scheduler, &txt, &len, err));
        st = lt_diffusers_sched_timesteps(txt, len, dp.scheduler, &steps, err);
        lt_free(txt);
        if (st) return st;
    }
    const lt_unet_config *u = &m->cfg;
    m->head.in_c = u->in_channels, m->head.out_c = u->out_channels;
    m->head.h = u->sample_h, m->head.w = u->sample_w;
    m->head.num_train_timesteps = steps;
    m->head.num_classes = u->class_type == LT_UNET_CLASS_TABLE ? u->num_class_embeds : 0;

    loader ld = {.m = m, .file = dp.unet_weights, .err = err};
    LT_TRY(lt_st_open(&ld.st, dp.unet_weights, err));
    size_t wbytes = 0;
    for (int64_t i = 0; i < lt_st_n_tensors(ld.st); i++) {
        lt_src_tensor t;
        lt_st_tensor(ld.st, i, &t);
        wbytes += lt_arena_need(LT_F32, t.ndim ? t.ndim : 1, t.ndim ? t.shape : (int64_t[]){1});
    }
    st = lt_arena_create(&m->weights, m->head.be, wbytes + 4096, LT_MEM_WEIGHTS, err);
    if (!st) st = load_all(&ld);
    lt_st_close(ld.st);
    free(ld.host);
    if (st) return st;
    m->head.flops = ld.flops;
    LT_TRY(make_acts(m, err));
    m->head.mem_bytes = lt_arena_size(m->weights) + lt_arena_size(m->acts);
    return LT_OK;
}

lt_status lt_unet_open(lt_denoiser **out, const char *path, lt_backend *be, int max_batch, lt_err *err) {
    if (!out || !path || !be) return lt_err_set(err, LT_EINVAL, "unet: missing output, path or backend");
    *out = NULL;
    if (max_batch < 1 || max_batch > 4096)
        return lt_err_set(err, LT_EINVAL, "%s: max batch %d out of range (1..4096)", path, max_batch);
    unet_model *m = calloc(1, sizeof *m);
    if (!m) return lt_err_set(err, LT_ENOMEM, "unet: out of memory");
    m->head.ops = &k_unet_ops;
    m->head.be = be;
    m->head.max_batch = max_batch;
    lt_status st = open_model(m, path, err);
    if (st) {
        unet_close(&m->head);
        return st;
    }
    *out = &m->head;
    return LT_OK;
}
