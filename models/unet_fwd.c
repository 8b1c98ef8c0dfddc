/* unet_fwd.c - the UNet2DModel forward pass over lt_op_* (diffusers' unet_2d.py,
 * unet_2d_blocks.py, resnet.py, attention_processor.py), for up to max_batch images.
 *
 * The time embedding's projection (sinusoid, Fourier features or table row) and the class
 * table lookup are computed on the host (a few hundred floats per image, diffusers' float32
 * formulas); everything else runs on the model's backend. Feature maps are NCHW views over
 * the buffers unet.c allocated: the skip connections are written in place by the down path
 * and read by the up path's concatenations; attention works channel-major (the q, k, v and
 * output projections are 1x1 convolutions), so nothing is transposed.
 * Leaves out: dropout (inference), the variants the config parser rejects.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unet_impl.h"

typedef struct fw {
    unet_model *m;
    lt_backend *be;
    int n;
    lt_err *err;
} fw;

static lt_tensor v4(const lt_tensor *buf, int n, int64_t c, int64_t h, int64_t w) {
    return lt_tensor_make(buf->be, LT_F32, buf->data, 4, (int64_t[]){n, c, h, w});
}

static lt_tensor v2(const lt_tensor *buf, int n, int64_t cols) { return lt_tensor_2d(buf->be, LT_F32, buf->data, n, cols); }

static lt_status conv(fw *f, lt_tensor *y, const lt_tensor *x, const unet_lin *l, int stride, int pad, int extra) {
    lt_conv2d_params p = {stride, pad, 1, LT_ACT_LINEAR, extra};
    size_t need = lt_conv2d_work_bytes(x, &l->w, &p);
    return lt_op_conv2d(f->be, y, x, &l->w, &l->b, &p, need ? &f->m->work : NULL, f->err);
}

/* y = x * s (the residual sums' output_scale_factor; lt_op_upsample with stride 1 scales). */
static lt_status scale(fw *f, lt_tensor *y, const lt_tensor *x, float s) {
    return lt_op_upsample(f->be, y, x, 1, 1.f / s, f->err);
}

/* ResnetBlock2D: y = (shortcut(x) + conv2(act(norm2(conv1(act(norm1(x))) + temb)))) / out_scale. */
static lt_status resnet(fw *f, const unet_res *r, const lt_tensor *x, lt_tensor *y) {
    unet_model *m = f->m;
    const lt_unet_config *u = &m->cfg;
    int n = f->n;
    int64_t H = x->shape[2], W = x->shape[3];
    lt_tensor a = v4(&m->t1, n, r->cin, H, W), b = v4(&m->t2, n, r->cout, H, W);
    LT_TRY(lt_op_group_norm(f->be, &a, x, &r->n1.g, &r->n1.b, u->norm_num_groups, u->norm_eps, LT_ACT_SWISH, f->err));
    LT_TRY(conv(f, &b, &a, &r->conv1, 1, 1, 0));
    lt_tensor te = v2(&m->temb_act, n, u->time_embed_dim), tp = v2(&m->tproj, n, r->temb.w.shape[0]);
    LT_TRY(lt_op_matmul(f->be, &tp, &te, &r->temb.w, &r->temb.b, f->err));
    lt_tensor a2 = v4(&m->t1, n, r->cout, H, W);
    if (!u->scale_shift) {
        LT_TRY(lt_op_channel_affine(f->be, &b, &b, &tp, false, LT_ACT_LINEAR, f->err));
        LT_TRY(lt_op_group_norm(f->be, &a2, &b, &r->n2.g, &r->n2.b, u->norm_num_groups, u->norm_eps, LT_ACT_SWISH,
                                f->err));
    } else {
        LT_TRY(lt_op_group_norm(f->be, &a2, &b, &r->n2.g, &r->n2.b, u->norm_num_groups, u->norm_eps, LT_ACT_LINEAR,
                                f->err));
        LT_TRY(lt_op_channel_affine(f->be, &a2, &a2, &tp, true, LT_ACT_SWISH, f->err));
    }
    bool sc = r->shortcut.w.data != NULL;
    if (r->out_scale == 1.f) {
        LT_TRY(conv(f, y, &a2, &r->conv2, 1, 1, 0));
        if (!sc) return lt_op_add(f->be, y, x, y, f->err);
        LT_TRY(conv(f, &b, x, &r->shortcut, 1, 0, 0));
        return lt_op_add(f->be, y, &b, y, f->err);
    }
    LT_TRY(conv(f, &b, &a2, &r->conv2, 1, 1, 0));
    const lt_tensor *res = x;
    if (sc) {
        LT_TRY(conv(f, y, x, &r->shortcut, 1, 0, 0));
        res = y;
    }
    LT_TRY(lt_op_add(f->be, &a2, res, &b, f->err));
    return scale(f, y, &a2, r->out_scale);
}

/* Attention: y = (out(attention(qkv(norm(x)))) + x) / rescale. */
static lt_status attention(fw *f, const unet_attn *a, const lt_tensor *x, lt_tensor *y) {
    unet_model *m = f->m;
    int n = f->n;
    int64_t C = a->c, H = x->shape[2], W = x->shape[3];
    const lt_tensor *src = x;
    lt_tensor nrm = v4(&m->t1, n, C, H, W), qkv = v4(&m->qkv, n, 3 * C, H, W), o = v4(&m->t2, n, C, H, W);
    if (a->has_norm) {
        LT_TRY(lt_op_group_norm(f->be, &nrm, x, &a->n.g, &a->n.b, a->groups, m->cfg.norm_eps, LT_ACT_LINEAR, f->err));
        src = &nrm;
    }
    LT_TRY(conv(f, &qkv, src, &a->qkv, 1, 0, 0));
    LT_TRY(lt_op_self_attention(f->be, &o, &qkv, a->heads, (float)(1.0 / sqrt((double)(C / a->heads))), f->err));
    if (a->rescale == 1.f) {
        LT_TRY(conv(f, y, &o, &a->out, 1, 0, 0));
        return lt_op_add(f->be, y, y, x, f->err);
    }
    LT_TRY(conv(f, &nrm, &o, &a->out, 1, 0, 0));
    LT_TRY(lt_op_add(f->be, &nrm, &nrm, x, f->err));
    return scale(f, y, &nrm, a->rescale);
}

/* A work buffer whose memory is neither a's nor b's. */
static lt_tensor *other(unet_model *m, const lt_tensor *a, const lt_tensor *b) {
    for (int i = 0; i < 3; i++)
        if (m->buf[i].data != a->data && (!b || m->buf[i].data != b->data)) return &m->buf[i];
    return NULL; /* unreachable: three buffers, two to avoid */
}

/* ---- the time embedding (host) --------------------------------------------------------------- */

static lt_status time_proj(fw *f, const float *t, float *e) {
    unet_model *m = f->m;
    const lt_unet_config *u = &m->cfg;
    int C0 = u->block_out[0], half = C0 / 2;
    for (int i = 0; i < f->n; i++) {
        float *ei = e + (size_t)i * m->temb_in;
        if (!isfinite(t[i]))
            return lt_err_set(f->err, LT_ERANGE, "unet: timestep %g of image %d is not finite", (double)t[i], i);
        if (u->time_type == LT_UNET_TIME_POSITIONAL) { /* embeddings.py get_timestep_embedding */
            float den = (float)half - u->freq_shift;
            for (int k = 0; k < half; k++) {
                float ex = ((float)-9.210340371976184 * (float)k) / den; /* -ln(10000) k / (half - shift) */
                float a = t[i] * expf(ex);
                float s = sinf(a), c = cosf(a);
                ei[k] = u->flip_sin_to_cos ? c : s;
                ei[half + k] = u->flip_sin_to_cos ? s : c;
            }
        } else if (u->time_type == LT_UNET_TIME_FOURIER) { /* GaussianFourierProjection, log=True */
            if (!(t[i] > 0))
                return lt_err_set(f->err, LT_ERANGE, "unet: timestep %g of image %d: a Fourier embedding takes t > 0",
                                  (double)t[i], i);
            float lx = logf(t[i]);
            for (int k = 0; k < C0; k++) {
                float a = lx * m->time_table[k] * 2.f * (float)M_PI;
                ei[k] = sinf(a);
                ei[C0 + k] = cosf(a);
            }
        } else { /* learned: a row of the table */
            int id = (int)t[i];
            if ((float)id != t[i] || id < 0 || id >= u->num_train_timesteps)
                return lt_err_set(f->err, LT_ERANGE,
                                  "unet: timestep %g of image %d: a learned embedding takes whole steps 0..%d",
                                  (double)t[i], i, u->num_train_timesteps - 1);
            memcpy(ei, m->time_table + (size_t)id * C0, (size_t)C0 * sizeof(float));
        }
    }
    return LT_OK;
}

static lt_status embed(fw *f, const float *t, const int *class_ids) {
    unet_model *m = f->m;
    const lt_unet_config *u = &m->cfg;
    int n = f->n, E = u->time_embed_dim;
    LT_TRY(time_proj(f, t, m->host_emb));
    lt_tensor tin = v2(&m->tin, n, m->temb_in), h = v2(&m->tmp_emb, n, E), te = v2(&m->temb, n, E);
    lt_tensor ta = v2(&m->temb_act, n, E);
    LT_TRY(lt_tensor_set(&tin, m->host_emb, lt_tensor_nbytes(&tin), f->err));
    LT_TRY(lt_op_matmul(f->be, &h, &tin, &m->t_lin1.w, &m->t_lin1.b, f->err));
    LT_TRY(lt_op_activate(f->be, &h, &h, LT_ACT_SWISH, f->err));
    LT_TRY(lt_op_matmul(f->be, &te, &h, &m->t_lin2.w, &m->t_lin2.b, f->err));
    if (u->class_type == LT_UNET_CLASS_TABLE) {
        for (int i = 0; i < n; i++)
            memcpy(m->host_emb + (size_t)i * E, m->class_table + (size_t)class_ids[i] * E, (size_t)E * sizeof(float));
        lt_tensor tc = v2(&m->tcls, n, E);
        LT_TRY(lt_tensor_set(&tc, m->host_emb, lt_tensor_nbytes(&tc), f->err));
        LT_TRY(lt_op_add(f->be, &te, &te, &tc, f->err));
    }
    return lt_op_activate(f->be, &ta, &te, LT_ACT_SWISH, f->err); /* every resnet applies SiLU to temb first */
}

/* ---- the whole network -------------------------------------------------------------------------- */

lt_status lt_unet_forward(unet_model *m, const float *x, int n, const float *t, const int *class_ids, float *out,
                          lt_err *err) {
    const lt_unet_config *u = &m->cfg;
    fw f = {m, m->head.be, n, err};
    int H = u->sample_h, W = u->sample_w, L = u->layers_per_block, nl = u->n_levels;
    LT_TRY(embed(&f, t, class_ids));

    lt_tensor xin = v4(&m->buf[0], n, u->in_channels, H, W);
    size_t xbytes = lt_tensor_nbytes(&xin);
    if (u->center_input_sample) {
        float *xc = malloc(xbytes);
        if (!xc) return lt_err_set(err, LT_ENOMEM, "unet: out of memory");
        for (size_t i = 0; i < xbytes / sizeof(float); i++) xc[i] = 2 * x[i] - 1.0f;
        lt_status st = lt_tensor_set(&xin, xc, xbytes, err);
        free(xc);
        LT_TRY(st);
    } else {
        LT_TRY(lt_tensor_set(&xin, x, xbytes, err));
    }

    /* down: every output is a skip connection, written in place */
    lt_tensor sk[LT_UNET_MAX_LEVELS * 66];
    int ns = 0;
    sk[ns] = v4(&m->skip[ns], n, u->block_out[0], H, W);
    LT_TRY(conv(&f, &sk[ns], &xin, &m->conv_in, 1, 1, 0));
    lt_tensor h = sk[ns++];
    for (int i = 0; i < nl; i++) {
        const unet_block *b = &m->down[i];
        int c = u->block_out[i];
        for (int j = 0; j < L; j++) {
            lt_tensor dst = v4(&m->skip[ns], n, c, b->res_h, b->res_w);
            if (b->attn) {
                lt_tensor mid = v4(&m->buf[0], n, c, b->res_h, b->res_w);
                LT_TRY(resnet(&f, &b->res[j], &h, &mid));
                LT_TRY(attention(&f, &b->attn[j], &mid, &dst));
            } else {
                LT_TRY(resnet(&f, &b->res[j], &h, &dst));
            }
            h = sk[ns++] = dst;
        }
        if (b->sampler) { /* Downsample2D: pad 1, or (downsample_padding 0) pad (0,1,0,1) */
            lt_tensor dst = v4(&m->skip[ns], n, c, b->res_h / 2, b->res_w / 2);
            int pad = u->downsample_padding;
            LT_TRY(conv(&f, &dst, &h, &b->samp, 2, pad, pad ? 0 : 1));
            h = sk[ns++] = dst;
        }
    }

    /* mid */
    int CL = u->block_out[nl - 1];
    if (u->mid_block) {
        const unet_block *b = &m->mid;
        lt_tensor a = v4(&m->buf[0], n, CL, b->res_h, b->res_w), c = v4(&m->buf[1], n, CL, b->res_h, b->res_w);
        LT_TRY(resnet(&f, &b->res[0], &h, &a));
        if (b->attn) {
            LT_TRY(attention(&f, &b->attn[0], &a, &c));
            LT_TRY(resnet(&f, &b->res[1], &c, &a));
        } else {
            LT_TRY(resnet(&f, &b->res[1], &a, &c));
            a = c;
        }
        h = a;
    }

    /* up: concat [h, skip] on channels, resnet, attention; then nearest x2 and a 3x3 conv */
    for (int i = 0; i < nl; i++) {
        const unet_block *b = &m->up[i];
        int c = u->block_out[nl - 1 - i];
        for (int j = 0; j <= L; j++) {
            const lt_tensor *s = &sk[--ns];
            int64_t hc = h.shape[1], scn = s->shape[1];
            lt_tensor cat = v4(&m->cc, n, hc + scn, b->res_h, b->res_w);
            LT_TRY(lt_op_concat(f.be, &cat, &h, 0, 0, (int)hc, err));
            LT_TRY(lt_op_concat(f.be, &cat, s, (int)hc, 0, (int)scn, err));
            lt_tensor *o1 = other(m, &h, NULL);
            lt_tensor r = v4(o1, n, c, b->res_h, b->res_w);
            LT_TRY(resnet(&f, &b->res[j], &cat, &r));
            if (b->attn) {
                lt_tensor a = v4(other(m, &r, NULL), n, c, b->res_h, b->res_w);
                LT_TRY(attention(&f, &b->attn[j], &r, &a));
                r = a;
            }
            h = r;
        }
        if (b->sampler) {
            lt_tensor upx = v4(&m->t1, n, c, 2 * b->res_h, 2 * b->res_w);
            LT_TRY(lt_op_upsample(f.be, &upx, &h, 2, 1.f, err));
            lt_tensor dst = v4(other(m, &h, NULL), n, c, 2 * b->res_h, 2 * b->res_w);
            LT_TRY(conv(&f, &dst, &upx, &b->samp, 1, 1, 0));
            h = dst;
        }
    }

    /* out: conv_out(SiLU(GroupNorm(h))) */
    lt_tensor a = v4(&m->t1, n, u->block_out[0], H, W), y = v4(&m->out, n, u->out_channels, H, W);
    LT_TRY(lt_op_group_norm(f.be, &a, &h, &m->norm_out.g, &m->norm_out.b, u->norm_num_groups, u->norm_eps,
                            LT_ACT_SWISH, err));
    LT_TRY(conv(&f, &y, &a, &m->conv_out, 1, 1, 0));
    LT_TRY(lt_tensor_get(&y, out, lt_tensor_nbytes(&y), err));
    if (u->time_type == LT_UNET_TIME_FOURIER) { /* sample / timesteps */
        size_t per = (size_t)u->out_channels * H * W;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < per; k++) out[i * per + k] = out[i * per + k] / t[i];
    }
    return LT_OK;
}
