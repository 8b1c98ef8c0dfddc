/* ops.c - the validating lt_op_* wrappers: the single place where op arguments are checked
 * (dtypes, shapes, the same backend, a non-NULL slot), so every backend can trust its inputs,
 * then a dispatch through the backend's table. A mismatch is an LT_EINVAL naming the op and
 * the shapes; an op the backend lacks is LT_EUNSUPPORTED. Also lt_conv2d_work_bytes.
 * Leaves out: index data the wrappers cannot see cheaply on a device (token ids, slots,
 * block tables; the CPU backend checks those), and computing anything.
 */
#include <math.h>

#include "backend_impl.h"
#include "core/base/dtype.h"

/* ---- op validation -------------------------------------------------------------------- */

static lt_status bad(lt_err *err, const char *op, const char *what, const lt_tensor *t) {
    char sh[96];
    return lt_err_set(err, LT_EINVAL, "%s: %s (%s %s)", op, what, t ? lt_dtype_name(t->dtype) : "",
                      t ? lt_shape_str(t, sh, sizeof sh) : "");
}

#define NEED(cond, what, t)                                                                  \
    do {                                                                                     \
        if (!(cond)) return bad(err, OPNAME, what, t);                                       \
    } while (0)

static lt_status check_be(lt_backend *be, const char *op, const lt_tensor *t, lt_err *err) {
    if (t && t->be != be) return bad(err, op, "tensor lives on another backend", t);
    return LT_OK;
}

static lt_status slot(lt_backend *be, const void *fn, const char *op, lt_err *err) {
    if (!fn) return lt_err_set(err, LT_EUNSUPPORTED, "%s: not implemented on the %s backend", op, be->ops->name);
    return LT_OK;
}

#define CHECK_BE(...)                                                                        \
    do {                                                                                     \
        const lt_tensor *ts_[] = {__VA_ARGS__};                                              \
        for (size_t i_ = 0; i_ < sizeof ts_ / sizeof ts_[0]; i_++)                           \
            LT_TRY(check_be(be, OPNAME, ts_[i_], err));                                      \
    } while (0)

static bool is_mat(const lt_tensor *t, lt_dtype dt) { return t->ndim == 2 && t->dtype == dt; }

/* the bytes of a and b share an address (same memory space: the caller checked the backend) */
static bool overlap(const lt_tensor *a, const lt_tensor *b) {
    const char *pa = a->data, *pb = b->data;
    return pa < pb + lt_tensor_nbytes(b) && pb < pa + lt_tensor_nbytes(a);
}

lt_status lt_op_get_rows(lt_backend *be, lt_tensor *y, const lt_tensor *table, const lt_tensor *ids, lt_err *err) {
#define OPNAME "get_rows"
    LT_TRY(slot(be, (const void *)be->ops->get_rows, OPNAME, err));
    CHECK_BE(y, table, ids);
    NEED(table->ndim == 2 && table->dtype != LT_I32, "table must be a 2-D weight", table);
    NEED(lt_dtype_info(table->dtype)->to_f32 != NULL, "table rows cannot be read one by one (q4_0_r8: matmul only)",
         table);
    NEED(ids->ndim == 1 && ids->dtype == LT_I32, "ids must be 1-D i32", ids);
    NEED(is_mat(y, LT_F32) && y->shape[0] == ids->shape[0] && y->shape[1] == table->shape[1],
         "output must be f32 [ids, cols]", y);
    return be->ops->get_rows(be, y, table, ids, err);
#undef OPNAME
}

lt_status lt_op_matmul(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w,
                       const lt_tensor *bias, lt_err *err) {
#define OPNAME "matmul"
    LT_TRY(slot(be, (const void *)be->ops->matmul, OPNAME, err));
    CHECK_BE(y, x, w, bias);
    NEED(is_mat(x, LT_F32), "input must be 2-D f32", x);
    NEED(w->ndim == 2 && w->dtype != LT_I32 && w->shape[1] == x->shape[1], "weight must be [N, K] with K = input cols", w);
    NEED(is_mat(y, LT_F32) && y->shape[0] == x->shape[0] && y->shape[1] == w->shape[0], "output must be f32 [T, N]", y);
    if (bias) NEED(bias->dtype == LT_F32 && lt_tensor_numel(bias) == w->shape[0], "bias must be f32 [N]", bias);
    NEED(y->data != x->data, "output may not alias input", y);
    NEED(w->dtype != LT_Q4_0_R8 || lt_backend_matrix_dtype(be, LT_Q4_0, w->shape[0], w->shape[1]) == LT_Q4_0_R8,
         "q4_0_r8 weights are this backend's layout only where lt_backend_matrix_dtype makes them", w);
    return be->ops->matmul(be, y, x, w, bias, err);
#undef OPNAME
}

lt_status lt_op_lowrank(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *v, float alpha,
                        lt_err *err) {
#define OPNAME "lowrank"
    LT_TRY(slot(be, (const void *)be->ops->lowrank, OPNAME, err));
    CHECK_BE(y, x, v);
    NEED(is_mat(x, LT_F32), "input must be 2-D f32", x);
    NEED(v->ndim == 2 && (v->dtype == LT_F32 || v->dtype == LT_F16 || v->dtype == LT_BF16) &&
             v->shape[1] == x->shape[1],
         "factor must be f32, f16 or bf16 [R, K] with K = input cols", v);
    NEED(is_mat(y, LT_F32) && y->shape[0] == x->shape[0] && y->shape[1] == x->shape[1], "output must be f32 [T, K]", y);
    NEED(y->data == x->data || !overlap(y, x), "output may alias the input only exactly", y);
    return be->ops->lowrank(be, y, x, v, alpha, err);
#undef OPNAME
}

lt_status lt_op_rmsnorm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, float eps, lt_err *err) {
#define OPNAME "rmsnorm"
    LT_TRY(slot(be, (const void *)be->ops->rmsnorm, OPNAME, err));
    CHECK_BE(y, x, w);
    NEED(is_mat(x, LT_F32), "input must be 2-D f32", x);
    NEED(is_mat(y, LT_F32) && y->shape[0] == x->shape[0] && y->shape[1] == x->shape[1], "output shape", y);
    NEED(w->dtype == LT_F32 && lt_tensor_numel(w) == x->shape[1], "weight must be f32 [D]", w);
    return be->ops->rmsnorm(be, y, x, w, eps, err);
#undef OPNAME
}

lt_status lt_op_rope(lt_backend *be, lt_tensor *x, const lt_tensor *pos, const lt_tensor *freqs, int n_heads,
                     int head_dim, bool neox, float scale, lt_err *err) {
#define OPNAME "rope"
    LT_TRY(slot(be, (const void *)be->ops->rope, OPNAME, err));
    CHECK_BE(x, pos, freqs);
    NEED(is_mat(x, LT_F32) && x->shape[1] == (int64_t)n_heads * head_dim && head_dim % 2 == 0,
         "input must be f32 [T, heads*head_dim]", x);
    NEED(pos->dtype == LT_I32 && lt_tensor_numel(pos) == x->shape[0], "positions must be i32 [T]", pos);
    NEED(freqs->dtype == LT_F32 && lt_tensor_numel(freqs) >= 1 && lt_tensor_numel(freqs) <= head_dim / 2,
         "freqs must be f32 [n_rot/2], n_rot <= head_dim", freqs);
    if (!isfinite(scale) || scale <= 0)
        return lt_err_set(err, LT_EINVAL, "op rope: scale %g must be positive", (double)scale);
    return be->ops->rope(be, x, pos, freqs, n_heads, head_dim, neox, scale, err);
#undef OPNAME
}

static bool same(const lt_tensor *a, const lt_tensor *b) {
    return a->dtype == LT_F32 && b->dtype == LT_F32 && lt_tensor_numel(a) == lt_tensor_numel(b);
}

lt_status lt_op_silu_mul(lt_backend *be, lt_tensor *y, const lt_tensor *gate, const lt_tensor *up, lt_err *err) {
#define OPNAME "silu_mul"
    LT_TRY(slot(be, (const void *)be->ops->silu_mul, OPNAME, err));
    CHECK_BE(y, gate, up);
    NEED(same(y, gate) && same(y, up), "operands must be f32 of equal size", y);
    return be->ops->silu_mul(be, y, gate, up, err);
#undef OPNAME
}

lt_status lt_op_add(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b, lt_err *err) {
#define OPNAME "add"
    LT_TRY(slot(be, (const void *)be->ops->add, OPNAME, err));
    CHECK_BE(y, a, b);
    NEED(same(y, a) && same(y, b), "operands must be f32 of equal size", y);
    return be->ops->add(be, y, a, b, err);
#undef OPNAME
}

lt_status lt_op_kv_store(lt_backend *be, lt_tensor *kc, lt_tensor *vc, const lt_tensor *k, const lt_tensor *v,
                         const lt_tensor *slots, lt_err *err) {
#define OPNAME "kv_store"
    LT_TRY(slot(be, (const void *)be->ops->kv_store, OPNAME, err));
    CHECK_BE(kc, vc, k, v, slots);
    NEED(kc->ndim == 2 && (kc->dtype == LT_F32 || kc->dtype == LT_F16), "cache must be f32/f16 [slots, width]", kc);
    NEED(vc->ndim == 2 && vc->dtype == kc->dtype && vc->shape[0] == kc->shape[0] && vc->shape[1] == kc->shape[1],
         "value cache must match key cache", vc);
    NEED(is_mat(k, LT_F32) && k->shape[1] == kc->shape[1], "keys must be f32 [T, width]", k);
    NEED(is_mat(v, LT_F32) && v->shape[0] == k->shape[0] && v->shape[1] == kc->shape[1], "values must match keys", v);
    NEED(slots->dtype == LT_I32 && lt_tensor_numel(slots) == k->shape[0], "slots must be i32 [T]", slots);
    return be->ops->kv_store(be, kc, vc, k, v, slots, err);
#undef OPNAME
}

lt_status lt_op_attention(lt_backend *be, lt_tensor *out, const lt_tensor *q, const lt_tensor *kc,
                          const lt_tensor *vc, const lt_attn_meta *m, lt_err *err) {
#define OPNAME "attention"
    LT_TRY(slot(be, (const void *)be->ops->attention, OPNAME, err));
    CHECK_BE(out, q, kc, vc, m->tok_seq, m->tok_ctx, m->block_tables);
    NEED(m->n_heads > 0 && m->n_kv_heads > 0 && m->n_heads % m->n_kv_heads == 0 && m->head_dim > 0 &&
             m->block_size > 0 && m->max_ctx > 0 && m->window >= 0,
         "bad head/block/window configuration", NULL);
    NEED(is_mat(q, LT_F32) && q->shape[1] == (int64_t)m->n_heads * m->head_dim, "queries must be f32 [T, heads*head_dim]", q);
    NEED(is_mat(out, LT_F32) && out->shape[0] == q->shape[0] && out->shape[1] == q->shape[1], "output shape", out);
    NEED(kc->ndim == 2 && kc->shape[1] == (int64_t)m->n_kv_heads * m->head_dim && kc->shape[0] % m->block_size == 0,
         "key cache must be [blocks*block_size, kv_heads*head_dim]", kc);
    NEED(vc->ndim == 2 && vc->dtype == kc->dtype && vc->shape[0] == kc->shape[0] && vc->shape[1] == kc->shape[1],
         "value cache must match key cache", vc);
    NEED(m->tok_seq->dtype == LT_I32 && lt_tensor_numel(m->tok_seq) == q->shape[0], "tok_seq must be i32 [T]", m->tok_seq);
    NEED(m->tok_ctx->dtype == LT_I32 && lt_tensor_numel(m->tok_ctx) == q->shape[0], "tok_ctx must be i32 [T]", m->tok_ctx);
    NEED(is_mat(m->block_tables, LT_I32), "block tables must be i32 [S, max_blocks]", m->block_tables);
    NEED((int64_t)m->max_ctx <= m->block_tables->shape[1] * m->block_size, "max_ctx exceeds block table", m->block_tables);
    if (m->lse) {
        CHECK_BE(m->lse);
        NEED(is_mat(m->lse, LT_F32) && m->lse->shape[0] == q->shape[0] && m->lse->shape[1] == m->n_heads,
             "lse must be f32 [T, heads]", m->lse);
    }
    return be->ops->attention(be, out, q, kc, vc, m, err);
#undef OPNAME
}

lt_status lt_op_attn_merge(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *o2, const lt_tensor *lse2,
                           lt_err *err) {
#define OPNAME "attn_merge"
    LT_TRY(slot(be, (const void *)be->ops->attn_merge, OPNAME, err));
    CHECK_BE(out, lse, o2, lse2);
    NEED(is_mat(out, LT_F32) && is_mat(o2, LT_F32) && o2->shape[0] == out->shape[0] && o2->shape[1] == out->shape[1],
         "outputs must be f32 [T, heads*head_dim] of one shape", o2);
    NEED(is_mat(lse, LT_F32) && lse->shape[0] == out->shape[0] && lse->shape[1] > 0 &&
             out->shape[1] % lse->shape[1] == 0,
         "lse must be f32 [T, heads]", lse);
    NEED(is_mat(lse2, LT_F32) && lse2->shape[0] == lse->shape[0] && lse2->shape[1] == lse->shape[1],
         "lse2 must match lse", lse2);
    return be->ops->attn_merge(be, out, lse, o2, lse2, err);
#undef OPNAME
}

lt_status lt_op_argmax(lt_backend *be, lt_tensor *out, const lt_tensor *x, lt_err *err) {
#define OPNAME "argmax"
    LT_TRY(slot(be, (const void *)be->ops->argmax, OPNAME, err));
    CHECK_BE(out, x);
    NEED(is_mat(x, LT_F32), "input must be 2-D f32", x);
    NEED(out->dtype == LT_I32 && lt_tensor_numel(out) == x->shape[0], "output must be i32 [T]", out);
    return be->ops->argmax(be, out, x, err);
#undef OPNAME
}

lt_status lt_op_convert(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err) {
#define OPNAME "convert"
    LT_TRY(slot(be, (const void *)be->ops->convert, OPNAME, err));
    CHECK_BE(y, x);
    NEED(x->dtype == LT_F32 || y->dtype == LT_F32, "one side must be f32", x);
    NEED(x->dtype != LT_I32 && y->dtype != LT_I32, "i32 cannot be converted", x);
    NEED(x->dtype == LT_F32 || lt_dtype_info(x->dtype)->to_f32 != NULL, "no row conversion from this dtype", x);
    NEED(y->dtype == LT_F32 || lt_dtype_info(y->dtype)->from_f32 != NULL, "no quantizer for this dtype", y);
    NEED(lt_tensor_rows(x) == lt_tensor_rows(y) && lt_tensor_cols(x) == lt_tensor_cols(y), "shapes differ", y);
    NEED(lt_tensor_cols(x) % lt_dtype_block(x->dtype) == 0 && lt_tensor_cols(y) % lt_dtype_block(y->dtype) == 0,
         "rows are not whole blocks", y);
    return be->ops->convert(be, y, x, err);
#undef OPNAME
}

/* ---- vision ops (detection) ------------------------------------------------------------------ */

static bool is_nchw(const lt_tensor *t) { return t->ndim == 4 && t->dtype == LT_F32; }

static int64_t conv_out(int64_t in, int64_t k, const lt_conv2d_params *p) {
    return (in + 2 * p->pad + p->pad_extra - k) / p->stride + 1;
}

size_t lt_conv2d_work_bytes(const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p) {
    int64_t C = x->shape[1], OC = w->shape[0], K = w->shape[2];
    int64_t Cg = C / p->groups, OCg = OC / p->groups;
    if (p->groups > 1 && Cg == 1 && OCg == 1) return 0;
    if (K == 1 && p->stride == 1 && p->pad == 0 && p->pad_extra == 0) return 0;
    int64_t oh = conv_out(x->shape[2], K, p), ow = conv_out(x->shape[3], K, p);
    return (size_t)(Cg * K * K * oh * ow) * sizeof(float);
}

lt_status lt_op_conv2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *bias,
                       const lt_conv2d_params *p, lt_tensor *work, lt_err *err) {
#define OPNAME "conv2d"
    LT_TRY(slot(be, (const void *)be->ops->conv2d, OPNAME, err));
    CHECK_BE(y, x, w, bias, work);
    NEED(p && p->stride >= 1 && p->pad >= 0 && p->pad_extra >= 0 && p->groups >= 1 && p->act >= 0 &&
             p->act < LT_ACT_COUNT,
         "stride, pad, groups or activation out of range", x);
    NEED(is_nchw(x), "input must be f32 [N, C, H, W]", x);
    NEED(x->shape[1] % p->groups == 0, "input channels must divide into the groups", x);
    NEED(is_nchw(w) && w->shape[2] == w->shape[3] && w->shape[1] == x->shape[1] / p->groups &&
             w->shape[0] % p->groups == 0,
         "weight must be f32 [OC, C/groups, K, K]", w);
    int64_t oh = conv_out(x->shape[2], w->shape[2], p);
    int64_t ow = conv_out(x->shape[3], w->shape[3], p);
    NEED(oh >= 1 && ow >= 1, "kernel larger than the padded input", x);
    NEED(is_nchw(y) && y->shape[0] == x->shape[0] && y->shape[1] == w->shape[0] && y->shape[2] == oh &&
             y->shape[3] == ow,
         "output must be f32 [N, OC, OH, OW]", y);
    if (bias) NEED(bias->dtype == LT_F32 && lt_tensor_numel(bias) == w->shape[0], "bias must be f32 [OC]", bias);
    size_t need = lt_conv2d_work_bytes(x, w, p);
    if (need) NEED(work && work->dtype == LT_F32 && lt_tensor_nbytes(work) >= need, "workspace too small", work);
    NEED(y->data != x->data, "output may not alias input", y);
    return be->ops->conv2d(be, y, x, w, bias, p, need ? work : NULL, err);
#undef OPNAME
}

lt_status lt_op_maxpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, int size, int stride, int pad,
                          lt_err *err) {
#define OPNAME "maxpool2d"
    LT_TRY(slot(be, (const void *)be->ops->maxpool2d, OPNAME, err));
    CHECK_BE(y, x);
    NEED(is_nchw(x), "input must be f32 [N, C, H, W]", x);
    NEED(size >= 1 && stride >= 1 && pad >= 0, "size, stride, pad out of range", x);
    int64_t oh = (x->shape[2] + pad - size) / stride + 1, ow = (x->shape[3] + pad - size) / stride + 1;
    NEED(oh >= 1 && ow >= 1, "window larger than the input", x);
    NEED(is_nchw(y) && y->shape[0] == x->shape[0] && y->shape[1] == x->shape[1] && y->shape[2] == oh &&
             y->shape[3] == ow,
         "output must be f32 [N, C, OH, OW]", y);
    NEED(y->data != x->data, "output may not alias input", y);
    return be->ops->maxpool2d(be, y, x, size, stride, pad, err);
#undef OPNAME
}

lt_status lt_op_avgpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err) {
#define OPNAME "avgpool2d"
    LT_TRY(slot(be, (const void *)be->ops->avgpool2d, OPNAME, err));
    CHECK_BE(y, x);
    NEED(is_nchw(x), "input must be f32 [N, C, H, W]", x);
    NEED(is_nchw(y) && y->shape[0] == x->shape[0] && y->shape[1] == x->shape[1] && y->shape[2] == 1 &&
             y->shape[3] == 1,
         "output must be f32 [N, C, 1, 1]", y);
    return be->ops->avgpool2d(be, y, x, err);
#undef OPNAME
}

lt_status lt_op_upsample(lt_backend *be, lt_tensor *y, const lt_tensor *x, int stride, float scale, lt_err *err) {
#define OPNAME "upsample"
    LT_TRY(slot(be, (const void *)be->ops->upsample, OPNAME, err));
    CHECK_BE(y, x);
    NEED(is_nchw(x) && stride >= 1, "input must be f32 [N, C, H, W] and stride >= 1", x);
    NEED(is_nchw(y) && y->shape[0] == x->shape[0] && y->shape[1] == x->shape[1] &&
             y->shape[2] == x->shape[2] * stride && y->shape[3] == x->shape[3] * stride,
         "output must be f32 [N, C, H*stride, W*stride]", y);
    NEED(y->data != x->data, "output may not alias input", y);
    return be->ops->upsample(be, y, x, stride, scale, err);
#undef OPNAME
}

lt_status lt_op_concat(lt_backend *be, lt_tensor *y, const lt_tensor *x, int y_c0, int x_c0, int n_c,
                       lt_err *err) {
#define OPNAME "concat"
    LT_TRY(slot(be, (const void *)be->ops->concat, OPNAME, err));
    CHECK_BE(y, x);
    NEED(is_nchw(x) && is_nchw(y), "tensors must be f32 [N, C, H, W]", x);
    NEED(y->shape[0] == x->shape[0] && y->shape[2] == x->shape[2] && y->shape[3] == x->shape[3],
         "input and output must share N, H, W", y);
    NEED(n_c >= 0 && x_c0 >= 0 && y_c0 >= 0 && x_c0 + n_c <= x->shape[1] && y_c0 + n_c <= y->shape[1],
         "channel range out of bounds", x);
    NEED(y->data != x->data, "output may not alias input", y);
    return be->ops->concat(be, y, x, y_c0, x_c0, n_c, err);
#undef OPNAME
}

lt_status lt_op_activate(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_act act, lt_err *err) {
#define OPNAME "activate"
    LT_TRY(slot(be, (const void *)be->ops->activate, OPNAME, err));
    CHECK_BE(y, x);
    NEED(same(y, x), "operands must be f32 of equal size", y);
    NEED(act >= 0 && act < LT_ACT_COUNT, "unknown activation", x);
    return be->ops->activate(be, y, x, act, err);
#undef OPNAME
}

lt_status lt_op_yolo_decode(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_yolo_head *h, lt_err *err) {
#define OPNAME "yolo_decode"
    LT_TRY(slot(be, (const void *)be->ops->yolo_decode, OPNAME, err));
    CHECK_BE(y, x);
    NEED(h && h->n_anchors >= 1 && h->n_anchors <= LT_YOLO_MAX_ANCHORS && h->classes >= 1 && h->net_w > 0 &&
             h->net_h > 0,
         "head parameters out of range", x);
    int64_t E = 5 + h->classes;
    NEED(is_nchw(x) && x->shape[1] == h->n_anchors * E, "input must be f32 [N, anchors*(5+classes), H, W]", x);
    NEED(y->ndim == 3 && y->dtype == LT_F32 && y->shape[0] == x->shape[0] &&
             y->shape[1] == x->shape[2] * x->shape[3] * h->n_anchors && y->shape[2] == E,
         "output must be f32 [N, H*W*anchors, 5+classes]", y);
    return be->ops->yolo_decode(be, y, x, h, err);
#undef OPNAME
}

lt_status lt_op_nms(lt_backend *be, lt_tensor *keep, const lt_tensor *boxes, const lt_tensor *classes, float iou,
                    float contain, lt_err *err) {
#define OPNAME "nms"
    LT_TRY(slot(be, (const void *)be->ops->nms, OPNAME, err));
    CHECK_BE(keep, boxes, classes);
    NEED(is_mat(boxes, LT_F32) && boxes->shape[1] == 4, "boxes must be f32 [n, 4]", boxes);
    NEED(classes->dtype == LT_I32 && lt_tensor_numel(classes) == boxes->shape[0], "classes must be i32 [n]", classes);
    NEED(keep->dtype == LT_I32 && lt_tensor_numel(keep) == boxes->shape[0], "keep must be i32 [n]", keep);
    NEED(iou >= 0 && iou <= 1 && contain <= 1, "thresholds must be in [0, 1]", boxes);
    return be->ops->nms(be, keep, boxes, classes, iou, contain, err);
#undef OPNAME
}

/* ---- diffusion ops (UNet2DModel) ---------------------------------------------------------------- */

lt_status lt_op_group_norm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *gamma,
                           const lt_tensor *beta, int groups, float eps, lt_act act, lt_err *err) {
#define OPNAME "group_norm"
    LT_TRY(slot(be, (const void *)be->ops->group_norm, OPNAME, err));
    CHECK_BE(y, x, gamma, beta);
    NEED(is_nchw(x), "input must be f32 [N, C, H, W]", x);
    NEED(groups >= 1 && x->shape[1] % groups == 0, "channels must divide into the groups", x);
    NEED(isfinite(eps) && eps >= 0 && act >= 0 && act < LT_ACT_COUNT, "eps or activation out of range", x);
    NEED(is_nchw(y) && y->shape[0] == x->shape[0] && y->shape[1] == x->shape[1] && y->shape[2] == x->shape[2] &&
             y->shape[3] == x->shape[3],
         "output must be shaped as the input", y);
    if (gamma) NEED(gamma->dtype == LT_F32 && lt_tensor_numel(gamma) == x->shape[1], "gamma must be f32 [C]", gamma);
    if (beta) NEED(beta->dtype == LT_F32 && lt_tensor_numel(beta) == x->shape[1], "beta must be f32 [C]", beta);
    return be->ops->group_norm(be, y, x, gamma, beta, groups, eps, act, err);
#undef OPNAME
}

lt_status lt_op_channel_affine(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *t,
                               bool scale_shift, lt_act act, lt_err *err) {
#define OPNAME "channel_affine"
    LT_TRY(slot(be, (const void *)be->ops->channel_affine, OPNAME, err));
    CHECK_BE(y, x, t);
    NEED(is_nchw(x), "input must be f32 [N, C, H, W]", x);
    NEED(act >= 0 && act < LT_ACT_COUNT, "unknown activation", x);
    NEED(is_nchw(y) && y->shape[0] == x->shape[0] && y->shape[1] == x->shape[1] && y->shape[2] == x->shape[2] &&
             y->shape[3] == x->shape[3],
         "output must be shaped as the input", y);
    NEED(t->dtype == LT_F32 && lt_tensor_numel(t) == x->shape[0] * x->shape[1] * (scale_shift ? 2 : 1),
         scale_shift ? "conditioning must be f32 [N, 2C]" : "conditioning must be f32 [N, C]", t);
    return be->ops->channel_affine(be, y, x, t, scale_shift, act, err);
#undef OPNAME
}

lt_status lt_op_self_attention(lt_backend *be, lt_tensor *y, const lt_tensor *qkv, int n_heads, float scale,
                               lt_err *err) {
#define OPNAME "self_attention"
    LT_TRY(slot(be, (const void *)be->ops->self_attention, OPNAME, err));
    CHECK_BE(y, qkv);
    NEED(is_nchw(qkv) && qkv->shape[1] % 3 == 0, "qkv must be f32 [N, 3C, H, W]", qkv);
    int64_t C = qkv->shape[1] / 3;
    NEED(n_heads >= 1 && C % n_heads == 0, "channels must divide into the heads", qkv);
    NEED(isfinite(scale), "scale must be finite", qkv);
    NEED(is_nchw(y) && y->shape[0] == qkv->shape[0] && y->shape[1] == C && y->shape[2] == qkv->shape[2] &&
             y->shape[3] == qkv->shape[3],
         "output must be f32 [N, C, H, W]", y);
    NEED(y->data != qkv->data, "output may not alias input", y);
    return be->ops->self_attention(be, y, qkv, n_heads, scale, err);
#undef OPNAME
}
