/* yolo.c - darknet YOLO networks over backend ops: forward, box decoding, darknet's
 * thresholds and NMS, tiling (see yolo.h).
 *
 * Every layer gets its own activation tensor in one arena sized for max_batch images
 * ([dropout] and [yolo] alias their input), so routes and shortcuts read earlier outputs
 * directly. [yolo] heads are decoded on the device (lt_op_yolo_decode) and copied back;
 * thresholding, darknet's box correction and NMS run on the host in darknet's order, so
 * the reported list matches `darknet detector test -out`; merging tiles uses the backend's
 * NMS op. Activation buffers are shared by layers whose lifetimes do not overlap.
 * Leaves out: half precision, running darknet's own NMS variants on the device.
 */
#include "yolo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/vision/detect.h"

struct lt_yolo {
    lt_detector base; /* first: an lt_yolo is an lt_detector (core/vision/detector.h) */
    lt_backend *be;
    lt_dn_net *net;
    int max_batch;
    lt_arena *weights, *acts;
    lt_tensor input;   /* [max_batch, c, h, w] */
    lt_tensor *w, *b;  /* per layer (convolutions) */
    lt_tensor *out;    /* per layer output [max_batch, c, h, w] */
    lt_tensor *dec;    /* per [yolo] layer: [max_batch, h*w*anchors, 5+classes] */
    lt_tensor work;
    bool has_work;
    float *host_in;    /* [max_batch, c, h, w] */
    float **host_dec;  /* per [yolo] layer */
    int last_n;
    int classes, last_yolo;
    bool keep; /* LT_YOLO_KEEP_OUTPUTS: every layer keeps its own buffer */
};

static lt_tensor nview(const lt_tensor *t, int n) {
    lt_tensor v = *t;
    v.shape[0] = n;
    return v;
}

const lt_dn_net *lt_yolo_net(const lt_yolo *m) { return m->net; }
int lt_yolo_classes(const lt_yolo *m) { return m->classes; }
int lt_yolo_max_batch(const lt_yolo *m) { return m->max_batch; }
size_t lt_yolo_mem_bytes(const lt_yolo *m) { return lt_arena_size(m->weights) + lt_arena_size(m->acts); }

void lt_yolo_close(lt_yolo *m) {
    if (!m) return;
    lt_arena_free(m->weights);
    lt_arena_free(m->acts);
    if (m->host_dec)
        for (int i = 0; i < m->net->n; i++) lt_free(m->host_dec[i]);
    lt_free(m->host_dec);
    lt_free(m->host_in);
    lt_free(m->w);
    lt_free(m->b);
    lt_free(m->out);
    lt_free(m->dec);
    lt_darknet_free(m->net);
    lt_free(m);
}

static void shape4(int64_t *s, int64_t n, int64_t c, int64_t h, int64_t w) { s[0] = n, s[1] = c, s[2] = h, s[3] = w; }

static lt_status setup_tensors(lt_yolo *m, const int *blk, const size_t *bytes, int nb, lt_tensor *blocks,
                               size_t wneed, size_t aneed, size_t work, lt_err *err);

/* Plans activation buffers: layer i's output lives in block blk[i] (-1: aliases its input,
 * [dropout] and [yolo]); a block is reused once every reader of its previous owner has run,
 * unless keep. Block sizes in bytes go to bytes[]; returns the number of blocks. */
static int plan_buffers(const lt_dn_net *net, int B, bool keep, int *blk, size_t *bytes, int *src, int *last) {
    int N = net->n, nb = 0;
    for (int i = 0; i < N; i++) {
        lt_dn_type t = net->layers[i].type;
        src[i] = (t == LT_DN_DROPOUT || t == LT_DN_YOLO) ? (i ? src[i - 1] : -1) : i;
        last[i] = i;
    }
    for (int j = 0; j < N; j++) { /* who reads what: the buffer behind each input */
        const lt_dn_layer *l = &net->layers[j];
        if (l->type == LT_DN_ROUTE) {
            for (int k = 0; k < l->n_inputs; k++)
                if (src[l->inputs[k]] >= 0 && last[src[l->inputs[k]]] < j) last[src[l->inputs[k]]] = j;
        } else if (j > 0 && src[j - 1] >= 0 && last[src[j - 1]] < j) {
            last[src[j - 1]] = j;
        }
        if (l->type == LT_DN_SHORTCUT && src[l->from] >= 0 && last[src[l->from]] < j) last[src[l->from]] = j;
    }
    bool *busy = lt_calloc((size_t)N + 1, sizeof(bool));
    for (int j = 0; j < N; j++) {
        const lt_dn_layer *l = &net->layers[j];
        blk[j] = -1;
        if (src[j] == j) {
            int64_t sh[4] = {B, l->out_c, l->out_h, l->out_w};
            size_t need = lt_arena_need(LT_F32, 4, sh);
            int best = -1;
            for (int b = 0; b < nb && !keep; b++) /* smallest free block that fits, else the largest free one */
                if (!busy[b] && (best < 0 || (bytes[best] < need ? bytes[b] > bytes[best]
                                                                 : (bytes[b] >= need && bytes[b] < bytes[best]))))
                    best = b;
            if (best < 0) best = nb++, bytes[best] = 0;
            if (bytes[best] < need) bytes[best] = need;
            busy[best] = true;
            blk[j] = best;
        }
        for (int i = 0; i <= j && !keep; i++) /* free what nobody reads after j */
            if (src[i] == i && last[i] == j && blk[i] >= 0) busy[blk[i]] = false;
    }
    lt_free(busy);
    return nb;
}

static lt_status setup(lt_yolo *m, lt_err *err) {
    lt_dn_net *net = m->net;
    int N = net->n, B = m->max_batch;
    m->w = lt_calloc(N, sizeof *m->w);
    m->b = lt_calloc(N, sizeof *m->b);
    m->out = lt_calloc(N, sizeof *m->out);
    m->dec = lt_calloc(N, sizeof *m->dec);
    m->host_dec = lt_calloc(N, sizeof *m->host_dec);
    m->host_in = lt_malloc(sizeof(float) * (size_t)B * net->c * net->h * net->w);
    if (!m->w || !m->b || !m->out || !m->dec || !m->host_dec || !m->host_in)
        return lt_err_set(err, LT_ENOMEM, "out of host memory for the detector");
    /* sizes */
    size_t wneed = 0, aneed = 0, work = 0;
    int64_t s[4];
    shape4(s, B, net->c, net->h, net->w);
    aneed += lt_arena_need(LT_F32, 4, s);
    m->last_yolo = -1;
    for (int i = 0; i < N; i++) {
        const lt_dn_layer *l = &net->layers[i];
        if (l->type == LT_DN_CONV) {
            if (!l->weights) return lt_err_set(err, LT_EINVAL, "layer %d (cfg line %d) has no weights", i, l->line);
            shape4(s, l->filters, l->c / l->groups, l->size, l->size);
            wneed += lt_arena_need(LT_F32, 4, s);
            wneed += lt_arena_need(LT_F32, 1, (int64_t[]){l->filters});
            lt_tensor xh = lt_tensor_make(NULL, LT_F32, NULL, 4, (int64_t[]){1, l->c, l->h, l->w});
            lt_tensor wh = lt_tensor_make(NULL, LT_F32, NULL, 4, s);
            lt_conv2d_params p = {l->stride, l->pad, l->groups, l->act};
            size_t wb = lt_conv2d_work_bytes(&xh, &wh, &p);
            if (wb > work) work = wb;
        }
        if (l->type == LT_DN_YOLO) {
            if (m->last_yolo >= 0 && net->layers[m->last_yolo].head.classes != l->head.classes)
                return lt_err_set(err, LT_EUNSUPPORTED, "[yolo] heads with different class counts (cfg line %d)",
                                  l->line);
            m->last_yolo = i;
            m->classes = l->head.classes;
            int64_t rows = (int64_t)l->h * l->w * l->head.n_anchors, E = 5 + l->head.classes;
            aneed += lt_arena_need(LT_F32, 3, (int64_t[]){B, rows, E});
            m->host_dec[i] = lt_malloc(sizeof(float) * (size_t)(B * rows * E));
            if (!m->host_dec[i]) return lt_err_set(err, LT_ENOMEM, "out of host memory for the detector");
        }
    }
    if (m->last_yolo < 0) return lt_err_set(err, LT_EUNSUPPORTED, "the network has no [yolo] layer");
    int *blk = lt_malloc(sizeof(int) * 3 * (size_t)N);
    size_t *bytes = lt_malloc(sizeof(size_t) * (size_t)N);
    lt_tensor *blocks = lt_calloc((size_t)N, sizeof *blocks);
    if (!blk || !bytes || !blocks) {
        lt_free(blk), lt_free(bytes), lt_free(blocks);
        return lt_err_set(err, LT_ENOMEM, "out of host memory for the detector");
    }
    int nb = plan_buffers(net, B, m->keep, blk, bytes, blk + N, blk + 2 * N);
    for (int b = 0; b < nb; b++) aneed += lt_arena_need(LT_F32, 1, (int64_t[]){(int64_t)(bytes[b] / 4)});
    lt_status st = setup_tensors(m, blk, bytes, nb, blocks, wneed, aneed, work, err);
    lt_free(blk), lt_free(bytes), lt_free(blocks);
    return st;
}

static lt_status setup_tensors(lt_yolo *m, const int *blk, const size_t *bytes, int nb, lt_tensor *blocks,
                               size_t wneed, size_t aneed, size_t work, lt_err *err) {
    const lt_dn_net *net = m->net;
    int N = net->n, B = m->max_batch;
    int64_t s[4];
    if (work) aneed += lt_arena_need(LT_F32, 1, (int64_t[]){(int64_t)(work / 4)});
    LT_TRY(lt_arena_create(&m->weights, m->be, wneed ? wneed : 256, LT_MEM_WEIGHTS, err));
    LT_TRY(lt_arena_create(&m->acts, m->be, aneed, LT_MEM_SCRATCH, err));
    shape4(s, B, net->c, net->h, net->w);
    LT_TRY(lt_arena_tensor(m->acts, &m->input, LT_F32, 4, s, err));
    if (work) {
        LT_TRY(lt_arena_tensor(m->acts, &m->work, LT_F32, 1, (int64_t[]){(int64_t)(work / 4)}, err));
        m->has_work = true;
    }
    for (int b = 0; b < nb; b++)
        LT_TRY(lt_arena_tensor(m->acts, &blocks[b], LT_F32, 1, (int64_t[]){(int64_t)(bytes[b] / 4)}, err));
    for (int i = 0; i < N; i++) {
        const lt_dn_layer *l = &net->layers[i];
        if (l->type == LT_DN_CONV) {
            shape4(s, l->filters, l->c / l->groups, l->size, l->size);
            LT_TRY(lt_arena_tensor(m->weights, &m->w[i], LT_F32, 4, s, err));
            LT_TRY(lt_tensor_set(&m->w[i], l->weights, lt_tensor_nbytes(&m->w[i]), err));
            LT_TRY(lt_arena_tensor(m->weights, &m->b[i], LT_F32, 1, (int64_t[]){l->filters}, err));
            LT_TRY(lt_tensor_set(&m->b[i], l->biases, lt_tensor_nbytes(&m->b[i]), err));
        }
        if (l->type == LT_DN_DROPOUT || l->type == LT_DN_YOLO) {
            m->out[i] = i ? m->out[i - 1] : m->input;
        } else {
            shape4(s, B, l->out_c, l->out_h, l->out_w);
            m->out[i] = lt_tensor_make(m->be, LT_F32, blocks[blk[i]].data, 4, s);
        }
        if (l->type == LT_DN_YOLO) {
            int64_t rows = (int64_t)l->h * l->w * l->head.n_anchors, E = 5 + l->head.classes;
            LT_TRY(lt_arena_tensor(m->acts, &m->dec[i], LT_F32, 3, (int64_t[]){B, rows, E}, err));
        }
    }
    return LT_OK;
}

/* ---- the lt_detector view ------------------------------------------------------------------ */

static lt_status det_detect_many(lt_detector *d, const lt_image *ims, int n, const lt_detect_opts *o,
                                 lt_detection **dets, int *counts, lt_err *err) {
    return lt_yolo_detect_many((lt_yolo *)d, ims, n, o, dets, counts, err);
}

static lt_status det_forward(lt_detector *d, const float *input, int n, lt_err *err) {
    return lt_yolo_forward((lt_yolo *)d, input, n, err);
}

static void det_close(lt_detector *d) { lt_yolo_close((lt_yolo *)d); }

static const lt_detector_ops k_detector_ops = {"darknet-yolo", det_detect_many, det_forward, det_close};

lt_status lt_yolo_open_net(lt_yolo **out, lt_dn_net *net, lt_backend *be, int max_batch, int flags, lt_err *err) {
    *out = NULL;
    if (max_batch < 1 || max_batch > 4096) {
        lt_darknet_free(net);
        return lt_err_set(err, LT_EINVAL, "batch size %d out of range (1..4096)", max_batch);
    }
    lt_yolo *m = lt_calloc(1, sizeof *m);
    if (!m) {
        lt_darknet_free(net);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    m->be = be, m->net = net, m->max_batch = max_batch;
    m->keep = (flags & LT_YOLO_KEEP_OUTPUTS) != 0;
    if (!net->loaded) {
        lt_yolo_close(m);
        return lt_err_set(err, LT_EINVAL, "the network has no weights loaded");
    }
    lt_status s = setup(m, err);
    if (s != LT_OK) {
        lt_yolo_close(m);
        return s;
    }
    m->base = (lt_detector){.ops = &k_detector_ops,
                            .be = be,
                            .classes = m->classes,
                            .max_batch = max_batch,
                            .in_w = net->w,
                            .in_h = net->h,
                            .in_c = net->c,
                            .mem_bytes = lt_yolo_mem_bytes(m),
                            .flops = lt_darknet_flops(net)};
    *out = m;
    return LT_OK;
}

lt_status lt_yolo_open(lt_yolo **out, const char *cfg_path, const char *weights_path, lt_backend *be, int max_batch,
                       lt_err *err) {
    lt_dn_net *net;
    *out = NULL;
    LT_TRY(lt_darknet_parse(&net, cfg_path, err));
    lt_status s = weights_path ? lt_darknet_load_weights(net, weights_path, err) : lt_darknet_init_random(net, 1, err);
    if (s != LT_OK) {
        lt_darknet_free(net);
        return s;
    }
    return lt_yolo_open_net(out, net, be, max_batch, 0, err);
}

lt_status lt_yolo_open_detector(lt_detector **out, const char *cfg_path, const char *weights_path, lt_backend *be,
                                int max_batch, lt_err *err) {
    lt_yolo *m;
    *out = NULL;
    LT_TRY(lt_yolo_open(&m, cfg_path, weights_path, be, max_batch, err));
    *out = &m->base;
    return LT_OK;
}

lt_detector *lt_yolo_detector(lt_yolo *m) { return &m->base; }

/* ---- forward --------------------------------------------------------------------------------- */

lt_status lt_yolo_forward(lt_yolo *m, const float *input, int n, lt_err *err) {
    const lt_dn_net *net = m->net;
    if (n < 1 || n > m->max_batch)
        return lt_err_set(err, LT_EINVAL, "batch of %d images, the detector was opened for at most %d", n,
                          m->max_batch);
    lt_tensor in = nview(&m->input, n);
    LT_TRY(lt_tensor_set(&in, input, lt_tensor_nbytes(&in), err));
    lt_tensor *work = m->has_work ? &m->work : NULL;
    for (int i = 0; i < net->n; i++) {
        const lt_dn_layer *l = &net->layers[i];
        lt_tensor x = i ? nview(&m->out[i - 1], n) : in, y = nview(&m->out[i], n);
        lt_status s = LT_OK;
        switch (l->type) {
        case LT_DN_CONV: {
            lt_conv2d_params p = {l->stride, l->pad, l->groups, l->act};
            s = lt_op_conv2d(m->be, &y, &x, &m->w[i], &m->b[i], &p, work, err);
            break;
        }
        case LT_DN_MAXPOOL: s = lt_op_maxpool2d(m->be, &y, &x, l->size, l->stride, l->pad, err); break;
        case LT_DN_AVGPOOL: s = lt_op_avgpool2d(m->be, &y, &x, err); break;
        case LT_DN_ROUTE: {
            int c0 = 0;
            for (int k = 0; k < l->n_inputs && s == LT_OK; k++) {
                lt_tensor src = nview(&m->out[l->inputs[k]], n);
                int part = net->layers[l->inputs[k]].out_c / l->groups_route;
                s = lt_op_concat(m->be, &y, &src, c0, part * l->group_id, part, err);
                c0 += part;
            }
            break;
        }
        case LT_DN_SHORTCUT: {
            lt_tensor f = nview(&m->out[l->from], n);
            s = lt_op_add(m->be, &y, &x, &f, err);
            if (s == LT_OK && l->act != LT_ACT_LINEAR) s = lt_op_activate(m->be, &y, &y, l->act, err);
            break;
        }
        case LT_DN_UPSAMPLE: s = lt_op_upsample(m->be, &y, &x, l->stride, l->scale, err); break;
        case LT_DN_DROPOUT: break;
        case LT_DN_YOLO: {
            lt_tensor d = nview(&m->dec[i], n);
            s = lt_op_yolo_decode(m->be, &d, &x, &l->head, err);
            break;
        }
        }
        if (s != LT_OK) return lt_err_set(err, s, "layer %d (%s, cfg line %d): %s", i, lt_darknet_type_name(l->type),
                                          l->line, err->msg);
    }
    for (int i = 0; i < net->n; i++) {
        if (net->layers[i].type != LT_DN_YOLO) continue;
        lt_tensor d = nview(&m->dec[i], n);
        LT_TRY(lt_tensor_get(&d, m->host_dec[i], lt_tensor_nbytes(&d), err));
    }
    m->last_n = n;
    return LT_OK;
}

lt_status lt_yolo_layer_output(lt_yolo *m, int layer, float **out, size_t *count, lt_err *err) {
    *out = NULL, *count = 0;
    if (layer < 0 || layer >= m->net->n) return lt_err_set(err, LT_ERANGE, "no layer %d", layer);
    if (m->last_n < 1) return lt_err_set(err, LT_EINVAL, "no forward pass has run");
    if (!m->keep && m->net->layers[layer].type != LT_DN_YOLO)
        return lt_err_set(err, LT_EINVAL, "layer outputs are reused; open the detector with LT_YOLO_KEEP_OUTPUTS");
    lt_tensor t = m->net->layers[layer].type == LT_DN_YOLO ? nview(&m->dec[layer], m->last_n)
                                                           : nview(&m->out[layer], m->last_n);
    float *b = lt_malloc(lt_tensor_nbytes(&t));
    if (!b) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_status s = lt_tensor_get(&t, b, lt_tensor_nbytes(&t), err);
    if (s != LT_OK) {
        lt_free(b);
        return s;
    }
    *out = b, *count = (size_t)lt_tensor_numel(&t);
    return LT_OK;
}

/* ---- darknet's detections and NMS -------------------------------------------------------------- */

typedef struct dbox {
    float x, y, w, h;
} dbox;

typedef struct det {
    dbox bbox;
    float objectness;
    float *prob; /* [classes] */
} det;

static float overlap1(float x1, float w1, float x2, float w2) {
    float l1 = x1 - w1 / 2, l2 = x2 - w2 / 2;
    float left = l1 > l2 ? l1 : l2;
    float r1 = x1 + w1 / 2, r2 = x2 + w2 / 2;
    float right = r1 < r2 ? r1 : r2;
    return right - left;
}

static float box_iou(dbox a, dbox b) {
    float w = overlap1(a.x, a.w, b.x, b.w), h = overlap1(a.y, a.h, b.y, b.h);
    float I = (w < 0 || h < 0) ? 0 : w * h;
    float U = a.w * a.h + b.w * b.h - I;
    if (I == 0 || U == 0) return 0;
    return I / U;
}

/* darknet's box_diou (beta 0.6) and box_diounms (beta beta1). */
static float box_diou_beta(dbox a, dbox b, float beta) {
    float top = fminf(a.y - a.h / 2, b.y - b.h / 2), bot = fmaxf(a.y + a.h / 2, b.y + b.h / 2);
    float left = fminf(a.x - a.w / 2, b.x - b.w / 2), right = fmaxf(a.x + a.w / 2, b.x + b.w / 2);
    float w = right - left, h = bot - top;
    float c = w * w + h * h;
    float iou = box_iou(a, b);
    if (c == 0) return iou;
    float d = (a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y);
    float u = (float)pow(d / c, beta);
    return iou - u;
}

typedef struct sort_key {
    float p;
    int pos;
    det d;
} sort_key;

static int cmp_key(const void *pa, const void *pb) {
    const sort_key *a = pa, *b = pb;
    if (a->p > b->p) return -1;
    if (a->p < b->p) return 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* darknet's do_nms_sort / diounms_sort: dets with zero objectness move to the end, then
 * per class a (stable, like glibc's qsort) sort by probability and greedy suppression. */
static void dn_nms(det *d, int total, int classes, float thresh, lt_dn_nms kind, float beta, sort_key *keys) {
    int k = total - 1;
    for (int i = 0; i <= k; ++i)
        if (d[i].objectness == 0) {
            det t = d[i];
            d[i] = d[k];
            d[k] = t;
            --k;
            --i;
        }
    total = k + 1;
    for (k = 0; k < classes; ++k) {
        for (int i = 0; i < total; i++) keys[i] = (sort_key){d[i].prob[k], i, d[i]};
        qsort(keys, (size_t)total, sizeof *keys, cmp_key);
        for (int i = 0; i < total; i++) d[i] = keys[i].d;
        for (int i = 0; i < total; ++i) {
            if (d[i].prob[k] == 0) continue;
            dbox a = d[i].bbox;
            for (int j = i + 1; j < total; ++j) {
                if (d[j].prob[k] == 0) continue; /* nothing to suppress (darknet tests anyway) */
                dbox b = d[j].bbox;
                bool sup;
                if (kind == LT_NMS_DEFAULT) sup = box_iou(a, b) > thresh;
                else if (kind == LT_NMS_GREEDY_DIOU) sup = box_diou_beta(a, b, 0.6f) > thresh;
                else sup = box_diou_beta(a, b, beta) > thresh;
                if (sup) d[j].prob[k] = 0;
            }
        }
    }
}

/* A growable list of detections. */
typedef struct dlist {
    lt_detection *v;
    int n, cap;
} dlist;

static bool dl_push(dlist *l, lt_detection d) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        lt_detection *v = lt_realloc(l->v, sizeof *v * cap);
        if (!v) return false;
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = d;
    return true;
}

/* A decoded head row (x, y, w, h, objectness, class probabilities) with every value finite.
 * Activations that overflow (huge or corrupt weights, an unstable cfg) give inf/nan boxes:
 * those rows are dropped here, before NMS, instead of reaching NMS, JSON or drawing. */
static bool row_finite(const float *e, int64_t E) {
    for (int64_t j = 0; j < E; j++)
        if (!isfinite(e[j])) return false;
    return true;
}

/* Detections of image b of the last forward, for an input of iw x ih pixels placed at
 * (ox, oy) in the original image, appended to out in darknet's order. Rows with a non-finite
 * value, and boxes whose pixel coordinates overflow, are dropped. */
static lt_status unit_dets(lt_yolo *m, int b, int iw, int ih, float ox, float oy, const lt_detect_opts *o, dlist *out,
                           lt_err *err) {
    const lt_dn_net *net = m->net;
    int C = m->classes, count = 0;
    for (int i = 0; i < net->n; i++) {
        const lt_dn_layer *l = &net->layers[i];
        if (l->type != LT_DN_YOLO) continue;
        int64_t rows = (int64_t)l->h * l->w * l->head.n_anchors, E = 5 + C;
        const float *r = m->host_dec[i] + (int64_t)b * rows * E;
        for (int64_t q = 0; q < rows; q++)
            if (r[q * E + 4] > o->thresh && row_finite(r + q * E, E)) count++;
    }
    if (count == 0) return LT_OK;
    det *d = lt_malloc(sizeof *d * count);
    float *probs = lt_malloc(sizeof(float) * (size_t)count * C);
    sort_key *keys = lt_malloc(sizeof *keys * count);
    if (!d || !probs || !keys) {
        lt_free(d), lt_free(probs), lt_free(keys);
        return lt_err_set(err, LT_ENOMEM, "out of host memory for %d detections", count);
    }
    int k = 0;
    for (int i = 0; i < net->n; i++) {
        const lt_dn_layer *l = &net->layers[i];
        if (l->type != LT_DN_YOLO) continue;
        int64_t rows = (int64_t)l->h * l->w * l->head.n_anchors, E = 5 + C;
        const float *r = m->host_dec[i] + (int64_t)b * rows * E;
        for (int64_t q = 0; q < rows; q++) {
            const float *e = r + q * E;
            if (!(e[4] > o->thresh) || !row_finite(e, E)) continue;
            d[k].bbox = (dbox){e[0], e[1], e[2], e[3]};
            d[k].objectness = e[4];
            d[k].prob = probs + (size_t)k * C;
            for (int j = 0; j < C; j++) d[k].prob[j] = e[5 + j] > o->thresh ? e[5 + j] : 0;
            k++;
        }
    }
    /* darknet's correct_yolo_boxes (relative = 1) */
    int netw = net->w, neth = net->h, new_w, new_h;
    if (net->letter_box) {
        if (((float)netw / iw) < ((float)neth / ih)) {
            new_w = netw;
            new_h = (ih * netw) / iw;
        } else {
            new_h = neth;
            new_w = (iw * neth) / ih;
        }
    } else {
        new_w = netw, new_h = neth;
    }
    float deltaw = netw - new_w, deltah = neth - new_h, ratiow = (float)new_w / netw, ratioh = (float)new_h / neth;
    for (int i = 0; i < count; i++) {
        dbox *bx = &d[i].bbox;
        bx->x = (float)((bx->x - deltaw / 2. / netw) / ratiow);
        bx->y = (float)((bx->y - deltah / 2. / neth) / ratioh);
        bx->w *= 1 / ratiow;
        bx->h *= 1 / ratioh;
        if (!isfinite(bx->x) || !isfinite(bx->y) || !isfinite(bx->w) || !isfinite(bx->h)) {
            d[i].objectness = 0; /* overflowed in the correction: out of NMS and the output */
            for (int j = 0; j < C; j++) d[i].prob[j] = 0;
        }
    }
    const lt_dn_layer *last = &net->layers[m->last_yolo];
    if (o->nms > 0) dn_nms(d, count, C, o->nms, last->nms_kind, last->beta_nms, keys);
    lt_status s = LT_OK;
    for (int i = 0; i < count && s == LT_OK; i++)
        for (int j = 0; j < C; j++) {
            float p = d[i].prob[j];
            if (!(p > o->thresh && p > 0)) continue;
            dbox bx = d[i].bbox;
            lt_detection t = {j, p, (bx.x - bx.w / 2) * iw + ox, (bx.y - bx.h / 2) * ih + oy, bx.w * iw, bx.h * ih};
            if (!lt_detection_finite(&t)) continue; /* finite in the network's units, overflowing in pixels */
            if (!dl_push(out, t)) {
                s = lt_err_set(err, LT_ENOMEM, "out of host memory");
                break;
            }
        }
    lt_free(d), lt_free(probs), lt_free(keys);
    return s;
}

/* ---- NMS over pixel boxes (tile merging) ----------------------------------------------------- */

static int cmp_conf(const void *pa, const void *pb) {
    const lt_detection *a = pa, *b = pb;
    if (a->confidence > b->confidence) return -1;
    if (a->confidence < b->confidence) return 1;
    if (a->left != b->left) return a->left < b->left ? -1 : 1;
    if (a->top != b->top) return a->top < b->top ? -1 : 1;
    return a->class_id - b->class_id;
}

int lt_yolo_nms(lt_detection *d, int n, float thresh, float contain) {
    if (n <= 0) return 0;
    qsort(d, (size_t)n, sizeof *d, cmp_conf);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        bool keep = true;
        float bi[4] = {d[i].left, d[i].top, d[i].width, d[i].height};
        for (int j = 0; j < kept && keep; j++) {
            float bj[4] = {d[j].left, d[j].top, d[j].width, d[j].height};
            if (d[j].class_id == d[i].class_id && lt_box_suppresses(bj, bi, thresh, contain)) keep = false;
        }
        if (keep) d[kept++] = d[i];
    }
    return kept;
}

/* lt_yolo_nms through the backend's NMS op (tile merging runs where the model runs). */
static lt_status device_nms(lt_yolo *m, dlist *l, float thresh, float contain, lt_err *err) {
    int n = l->n;
    if (n <= 1) return LT_OK;
    qsort(l->v, (size_t)n, sizeof *l->v, cmp_conf);
    float *hb = lt_malloc(sizeof(float) * 4 * n);
    int32_t *hc = lt_malloc(sizeof(int32_t) * n), *hk = lt_malloc(sizeof(int32_t) * n);
    void *db = NULL, *dc = NULL, *dk = NULL;
    lt_status s = (hb && hc && hk) ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of host memory");
    for (int i = 0; s == LT_OK && i < n; i++) {
        hb[4 * i] = l->v[i].left, hb[4 * i + 1] = l->v[i].top;
        hb[4 * i + 2] = l->v[i].width, hb[4 * i + 3] = l->v[i].height;
        hc[i] = l->v[i].class_id;
    }
    if (s == LT_OK) s = lt_backend_alloc(m->be, sizeof(float) * 4 * n, LT_MEM_SCRATCH, &db, err);
    if (s == LT_OK) s = lt_backend_alloc(m->be, sizeof(int32_t) * n, LT_MEM_SCRATCH, &dc, err);
    if (s == LT_OK) s = lt_backend_alloc(m->be, sizeof(int32_t) * n, LT_MEM_SCRATCH, &dk, err);
    lt_tensor tb = lt_tensor_2d(m->be, LT_F32, db, n, 4), tc = lt_tensor_1d(m->be, LT_I32, dc, n),
              tk = lt_tensor_1d(m->be, LT_I32, dk, n);
    if (s == LT_OK) s = lt_tensor_set(&tb, hb, sizeof(float) * 4 * n, err);
    if (s == LT_OK) s = lt_tensor_set(&tc, hc, sizeof(int32_t) * n, err);
    if (s == LT_OK) s = lt_op_nms(m->be, &tk, &tb, &tc, thresh, contain, err);
    if (s == LT_OK) s = lt_tensor_get(&tk, hk, sizeof(int32_t) * n, err);
    if (s == LT_OK) {
        int kept = 0;
        for (int i = 0; i < n; i++)
            if (hk[i]) l->v[kept++] = l->v[i];
        l->n = kept;
    }
    if (db) lt_backend_release(m->be, db, sizeof(float) * 4 * n, LT_MEM_SCRATCH);
    if (dc) lt_backend_release(m->be, dc, sizeof(int32_t) * n, LT_MEM_SCRATCH);
    if (dk) lt_backend_release(m->be, dk, sizeof(int32_t) * n, LT_MEM_SCRATCH);
    lt_free(hb), lt_free(hc), lt_free(hk);
    return s;
}

/* ---- detection over images and tiles ----------------------------------------------------------- */

typedef struct unit {
    int img, x, y, w, h; /* region of image img; full image when w, h are its size */
} unit;

static int tile_starts(int len, int tile, float overlap, int *out, int max) {
    if (len <= tile) {
        out[0] = 0;
        return 1;
    }
    int step = (int)(tile * (1 - overlap));
    if (step < 1) step = 1;
    int n = 0;
    for (int p = 0; p + tile < len && n < max - 1; p += step) out[n++] = p;
    out[n++] = len - tile;
    return n;
}

static lt_status prep_unit(lt_yolo *m, const lt_image *im, const unit *u, float *dst, lt_err *err) {
    const lt_dn_net *net = m->net;
    lt_image crop = {0}, sized = {0};
    const lt_image *src = im;
    if (u->w != im->w || u->h != im->h) {
        LT_TRY(lt_image_crop(&crop, im, u->x, u->y, u->w, u->h, err));
        src = &crop;
    }
    lt_status s = net->letter_box ? lt_image_letterbox(&sized, src, net->w, net->h, err)
                                  : lt_image_resize(&sized, src, net->w, net->h, err);
    if (s == LT_OK) memcpy(dst, sized.data, sizeof(float) * (size_t)net->c * net->h * net->w);
    lt_image_free(&sized);
    lt_image_free(&crop);
    return s;
}

#define MAX_TILES_PER_AXIS 256

lt_status lt_yolo_detect_many(lt_yolo *m, const lt_image *ims, int n, const lt_detect_opts *o, lt_detection **dets,
                              int *counts, lt_err *err) {
    lt_detect_opts def;
    if (!o) lt_detect_opts_default(&def), o = &def;
    const lt_dn_net *net = m->net;
    for (int i = 0; i < n; i++) dets[i] = NULL, counts[i] = 0;
    if (net->c != 3)
        return lt_err_set(err, LT_EUNSUPPORTED, "the network takes %d channels; images are RGB (3)", net->c);
    if (!(o->thresh >= 0 && o->thresh < 1)) return lt_err_set(err, LT_EINVAL, "threshold %g not in [0, 1)", o->thresh);
    if (!(o->nms >= 0 && o->nms <= 1)) return lt_err_set(err, LT_EINVAL, "NMS threshold %g not in [0, 1]", o->nms);
    if (o->tile < 0 || (o->tile > 0 && o->tile < 16))
        return lt_err_set(err, LT_EINVAL, "tile size %d: use 0 (off) or at least 16 pixels", o->tile);
    if (!(o->overlap >= 0 && o->overlap <= 0.9f))
        return lt_err_set(err, LT_EINVAL, "tile overlap %g not in [0, 0.9]", o->overlap);
    /* the units: each image, then its tiles */
    int cap = 0, nu = 0;
    unit *units = NULL;
    lt_status s = LT_OK;
    for (int i = 0; i < n && s == LT_OK; i++) {
        if (ims[i].c != 3 || !ims[i].data) {
            s = lt_err_set(err, LT_EINVAL, "image %d is not a loaded RGB image", i);
            break;
        }
        int xs[MAX_TILES_PER_AXIS], ys[MAX_TILES_PER_AXIS], nx = 0, ny = 0;
        bool tiled = o->tile > 0 && (ims[i].w > o->tile || ims[i].h > o->tile);
        if (tiled) {
            nx = tile_starts(ims[i].w, o->tile, o->overlap, xs, MAX_TILES_PER_AXIS);
            ny = tile_starts(ims[i].h, o->tile, o->overlap, ys, MAX_TILES_PER_AXIS);
        }
        int need = nu + 1 + nx * ny;
        if (need > cap) {
            cap = need * 2;
            unit *v = lt_realloc(units, sizeof *v * cap);
            if (!v) {
                s = lt_err_set(err, LT_ENOMEM, "out of host memory");
                break;
            }
            units = v;
        }
        units[nu++] = (unit){i, 0, 0, ims[i].w, ims[i].h};
        for (int a = 0; a < ny; a++)
            for (int b = 0; b < nx; b++) {
                int tw = o->tile < ims[i].w ? o->tile : ims[i].w, th = o->tile < ims[i].h ? o->tile : ims[i].h;
                units[nu++] = (unit){i, xs[b], ys[a], tw, th};
            }
    }
    dlist *res = s == LT_OK ? lt_calloc((size_t)n, sizeof *res) : NULL;
    if (s == LT_OK && !res) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    size_t in_sz = (size_t)net->c * net->h * net->w;
    for (int u0 = 0; u0 < nu && s == LT_OK; u0 += m->max_batch) {
        int bn = nu - u0 < m->max_batch ? nu - u0 : m->max_batch;
        for (int k = 0; k < bn && s == LT_OK; k++)
            s = prep_unit(m, &ims[units[u0 + k].img], &units[u0 + k], m->host_in + k * in_sz, err);
        if (s == LT_OK) s = lt_yolo_forward(m, m->host_in, bn, err);
        for (int k = 0; k < bn && s == LT_OK; k++) {
            const unit *u = &units[u0 + k];
            s = unit_dets(m, k, u->w, u->h, (float)u->x, (float)u->y, o, &res[u->img], err);
        }
    }
    for (int i = 0; i < n && s == LT_OK; i++) {
        bool tiled = o->tile > 0 && (ims[i].w > o->tile || ims[i].h > o->tile);
        /* containment 0.85 also drops the pieces of an object a tile edge cut off */
        if (tiled && o->nms > 0) s = device_nms(m, &res[i], o->nms, 0.85f, err);
        else if (tiled) qsort(res[i].v, (size_t)res[i].n, sizeof *res[i].v, cmp_conf);
        if (s != LT_OK) break;
        dets[i] = res[i].v, counts[i] = res[i].n;
        res[i].v = NULL;
    }
    if (res)
        for (int i = 0; i < n; i++) lt_free(res[i].v);
    if (s != LT_OK)
        for (int i = 0; i < n; i++) lt_free(dets[i]), dets[i] = NULL, counts[i] = 0;
    lt_free(res);
    lt_free(units);
    return s;
}

lt_status lt_yolo_detect(lt_yolo *m, const lt_image *im, const lt_detect_opts *o, lt_detection **dets, int *count,
                         lt_err *err) {
    return lt_yolo_detect_many(m, im, 1, o, dets, count, err);
}

/* ---- image files ------------------------------------------------------------------------------- */

lt_status lt_yolo_detect_file(lt_yolo *m, const char *path, const lt_detect_opts *o, char *const *names,
                              int n_names, lt_detection **dets, int *count, lt_image *annotated, lt_err *err) {
    lt_detect_result r;
    *dets = NULL, *count = 0;
    LT_TRY(lt_detect_file_with(&m->base, names, n_names, path, o, annotated != NULL, &r, err));
    *dets = r.dets, *count = r.n;
    if (annotated) *annotated = r.image;
    else lt_image_free(&r.image);
    return LT_OK;
}
