/* backend_cpu.c - the "cpu" backend: host memory, and the op table that adapts lt_tensor
 * arguments (already shape-checked by core/backend/ops.c) to the raw kernels of kernels/cpu
 * (one file per op, named as in kernels/cuda: norm.c / norm.cu, ...), run on a thread pool.
 * The CUDA twin is kernels/cuda/backend_cuda.cu.
 *
 * It also checks the index data the wrappers cannot see cheaply (token ids, cache slots,
 * block tables), so a bad id is an LT_ERANGE rather than a wild read. Everything runs
 * synchronously on the calling thread plus the pool's workers, so sync and the capture
 * slots are left NULL.
 * Leaves out: NUMA placement, huge pages, pinning threads to cores, op capture.
 */
#include <stdio.h>
#include <string.h>

#include "lt_cpu.h"
#include "core/base/alloc.h"
#include "core/base/sysmem.h"
#include "core/backend/backend_impl.h"

typedef struct cpu_backend {
    struct lt_backend head; /* must be first */
    lt_pool *pool;
} cpu_backend;

static lt_pool *pool_of(lt_backend *be) { return ((cpu_backend *)be)->pool; }

/* ---- memory ------------------------------------------------------------------------------ */

static void cpu_destroy(lt_backend *be) {
    cpu_backend *c = (cpu_backend *)be;
    lt_pool_free(c->pool);
    lt_free(c);
}

static lt_status cpu_mem_info(lt_backend *be, size_t *free_b, size_t *total_b, lt_err *err) {
    return lt_sysmem_info(free_b, total_b, err);
}

/* Huge pages for the weights and the KV pool, which are streamed at every token (weights:
 * 25-30% more bandwidth for f16 rows, docs/PERF.md; K/V rows: decode at 1024 tokens of
 * context measured faster with them), not for scratch: the activation arena is sized for the
 * largest batch (512 tokens, 64 logit rows) and a decode step touches a few rows of each
 * tensor, where every touched 2 MiB page would be resident whole (~10-15 MiB for SmolLM2;
 * docs/PERF.md, "Host memory"). */
static lt_status cpu_alloc(lt_backend *be, size_t bytes, lt_mem_cat cat, void **out, lt_err *err) {
    *out = lt_aligned_alloc_pages(bytes, cat != LT_MEM_SCRATCH);
    if (!*out) return lt_err_set(err, LT_ENOMEM, "out of host memory (%zu bytes)", bytes);
    return LT_OK;
}

static void cpu_release(lt_backend *be, void *ptr) { lt_aligned_free(ptr); }

static lt_status cpu_copy(lt_backend *be, void *dst, const void *src, size_t bytes, lt_err *err) {
    if (bytes) memmove(dst, src, bytes);
    return LT_OK;
}

/* ---- ops ---------------------------------------------------------------------------------- */

static lt_status cpu_get_rows(lt_backend *be, lt_tensor *y, const lt_tensor *table, const lt_tensor *ids, lt_err *err) {
    const int32_t *id = ids->data;
    const int64_t n = lt_tensor_numel(ids), R = table->shape[0];
    for (int64_t i = 0; i < n; i++)
        if (id[i] < 0 || id[i] >= R)
            return lt_err_set(err, LT_ERANGE, "get_rows: id %d at position %lld is outside the table's %lld rows",
                              id[i], (long long)i, (long long)R);
    lt_cpu_get_rows(pool_of(be), y->data, table->data, table->dtype, table->shape[1], id, n);
    return LT_OK;
}

static lt_status cpu_matmul(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w,
                            const lt_tensor *bias, lt_err *err) {
    const int64_t T = x->shape[0], N = w->shape[0], K = w->shape[1];
    if (!lt_cpu_matmul_prepare(pool_of(be), w->dtype, T, K))
        return lt_err_set(err, LT_ENOMEM, "matmul: out of host memory for %zu bytes of scratch",
                          lt_cpu_matmul_scratch(w->dtype, T, K, lt_pool_threads(pool_of(be))));
    lt_cpu_matmul(pool_of(be), y->data, x->data, w->data, w->dtype, bias ? bias->data : NULL, T, N, K);
    return LT_OK;
}

static lt_status cpu_lowrank(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *v, float alpha,
                             lt_err *err) {
    const int64_t T = x->shape[0], K = x->shape[1], R = v->shape[0];
    if (!lt_cpu_lowrank_prepare(pool_of(be), v->dtype, T, K, R))
        return lt_err_set(err, LT_ENOMEM, "lowrank: out of host memory for %zu bytes of scratch",
                          lt_cpu_lowrank_scratch(T, K, R, lt_pool_threads(pool_of(be))));
    lt_cpu_lowrank(pool_of(be), y->data, x->data, v->data, v->dtype, alpha, T, K, R);
    return LT_OK;
}

static lt_status cpu_rmsnorm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, float eps,
                             lt_err *err) {
    lt_cpu_rmsnorm(pool_of(be), y->data, x->data, w->data, x->shape[0], x->shape[1], eps);
    return LT_OK;
}

static lt_status cpu_rope(lt_backend *be, lt_tensor *x, const lt_tensor *pos, const lt_tensor *freqs, int n_heads,
                          int head_dim, bool neox, float scale, lt_err *err) {
    lt_cpu_rope(pool_of(be), x->data, pos->data, freqs->data, x->shape[0], n_heads, head_dim,
                (int)lt_tensor_numel(freqs) * 2, neox, scale);
    return LT_OK;
}

static lt_status cpu_silu_mul(lt_backend *be, lt_tensor *y, const lt_tensor *gate, const lt_tensor *up, lt_err *err) {
    lt_cpu_silu_mul(pool_of(be), y->data, gate->data, up->data, lt_tensor_numel(y));
    return LT_OK;
}

static lt_status cpu_add(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b, lt_err *err) {
    lt_cpu_add(pool_of(be), y->data, a->data, b->data, lt_tensor_numel(y));
    return LT_OK;
}

static lt_status cpu_kv_store(lt_backend *be, lt_tensor *kc, lt_tensor *vc, const lt_tensor *k, const lt_tensor *v,
                              const lt_tensor *slots, lt_err *err) {
    const int32_t *s = slots->data;
    const int64_t T = k->shape[0], rows = kc->shape[0];
    for (int64_t t = 0; t < T; t++)
        if (s[t] < 0 || s[t] >= rows)
            return lt_err_set(err, LT_ERANGE, "kv_store: slot %d for token %lld is outside the cache's %lld rows", s[t],
                              (long long)t, (long long)rows);
    lt_cpu_kv_store(pool_of(be), kc->data, vc->data, kc->dtype, kc->shape[1], k->data, v->data, s, T);
    return LT_OK;
}

static lt_status cpu_attention(lt_backend *be, lt_tensor *out, const lt_tensor *q, const lt_tensor *kc,
                               const lt_tensor *vc, const lt_attn_meta *m, lt_err *err) {
    if (m->head_dim > lt_cpu_attention_max_head_dim())
        return lt_err_set(err, LT_EUNSUPPORTED, "attention: head_dim %d exceeds the CPU backend's limit of %d",
                          m->head_dim, lt_cpu_attention_max_head_dim());
    if (kc->dtype != LT_F32 && kc->dtype != LT_F16)
        return lt_err_set(err, LT_EUNSUPPORTED, "attention: %s caches are not supported (f32 or f16)",
                          lt_dtype_name(kc->dtype));
    const int32_t *seq = m->tok_seq->data, *ctx = m->tok_ctx->data, *bt = m->block_tables->data;
    const int64_t T = q->shape[0], S = m->block_tables->shape[0], MB = m->block_tables->shape[1];
    const int64_t n_blocks = kc->shape[0] / m->block_size;
    for (int64_t t = 0; t < T; t++) {
        if (seq[t] < 0 || seq[t] >= S)
            return lt_err_set(err, LT_ERANGE, "attention: token %lld names sequence %d of %lld", (long long)t, seq[t],
                              (long long)S);
        if (ctx[t] < 1 || ctx[t] > MB * m->block_size)
            return lt_err_set(err, LT_ERANGE, "attention: token %lld has context %d (1..%lld allowed)", (long long)t,
                              ctx[t], (long long)(MB * m->block_size));
        const int32_t *row = bt + seq[t] * MB;
        for (int64_t b = 0; b < (ctx[t] + m->block_size - 1) / m->block_size; b++)
            if ((row[b] < 0 && !m->lse) || row[b] >= n_blocks)
                return lt_err_set(err, LT_ERANGE, "attention: block table of sequence %d names block %d of %lld",
                                  seq[t], row[b], (long long)n_blocks);
    }
    lt_cpu_attn_args a = {.out = out->data, .q = q->data, .kc = kc->data, .vc = vc->data, .kvt = kc->dtype,
                          .tok_seq = seq, .tok_ctx = ctx, .block_tables = bt, .T = T, .max_blocks = (int)MB,
                          .n_heads = m->n_heads, .n_kv_heads = m->n_kv_heads, .head_dim = m->head_dim,
                          .block_size = m->block_size, .scale = m->scale, .window = m->window,
                          .lse = m->lse ? m->lse->data : NULL, .prompt_gemm = m->prompt_gemm};
    lt_cpu_attention(pool_of(be), &a);
    return LT_OK;
}

static lt_status cpu_attn_merge(lt_backend *be, lt_tensor *out, lt_tensor *lse, const lt_tensor *o2,
                                const lt_tensor *lse2, lt_err *err) {
    (void)be, (void)err;
    const int H = (int)lse->shape[1];
    lt_cpu_attn_merge(out->data, lse->data, o2->data, lse2->data, out->shape[0], H, (int)(out->shape[1] / H));
    return LT_OK;
}

static lt_status cpu_argmax(lt_backend *be, lt_tensor *out, const lt_tensor *x, lt_err *err) {
    if (x->shape[1] == 0) return lt_err_set(err, LT_EINVAL, "argmax: rows are empty");
    lt_cpu_argmax(pool_of(be), out->data, x->data, x->shape[0], x->shape[1]);
    return LT_OK;
}

static lt_status cpu_convert(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err) {
    lt_cpu_convert(pool_of(be), y->data, y->dtype, x->data, x->dtype, lt_tensor_rows(x), lt_tensor_cols(x));
    return LT_OK;
}

/* ---- vision ops (detection) ---------------------------------------------------------------- */

#define I(t, d) ((int)(t)->shape[d])

static lt_status cpu_conv2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w,
                            const lt_tensor *bias, const lt_conv2d_params *p, lt_tensor *work, lt_err *err) {
    lt_cpu_conv2d(pool_of(be), y->data, x->data, w->data, bias ? bias->data : NULL,
                  work ? work->data : NULL, I(x, 0), I(x, 1), I(x, 2), I(x, 3), I(w, 0), I(w, 2), p->stride, p->pad,
                  p->pad_extra, p->groups, p->act);
    return LT_OK;
}

static lt_status cpu_maxpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, int size, int stride, int pad,
                               lt_err *err) {
    lt_cpu_maxpool2d(pool_of(be), y->data, x->data, I(x, 0), I(x, 1), I(x, 2), I(x, 3), size, stride,
                     pad);
    return LT_OK;
}

static lt_status cpu_avgpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err) {
    lt_cpu_avgpool_global(pool_of(be), y->data, x->data, I(x, 0), I(x, 1), I(x, 2), I(x, 3));
    return LT_OK;
}

static lt_status cpu_upsample(lt_backend *be, lt_tensor *y, const lt_tensor *x, int stride, float scale, lt_err *err) {
    lt_cpu_upsample(pool_of(be), y->data, x->data, I(x, 0), I(x, 1), I(x, 2), I(x, 3), stride, scale);
    return LT_OK;
}

static lt_status cpu_concat(lt_backend *be, lt_tensor *y, const lt_tensor *x, int y_c0, int x_c0, int n_c,
                            lt_err *err) {
    lt_cpu_concat(pool_of(be), y->data, I(y, 1), x->data, I(x, 1), I(x, 0), x->shape[2] * x->shape[3],
                  y_c0, x_c0, n_c);
    return LT_OK;
}

static lt_status cpu_activate(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_act act, lt_err *err) {
    lt_cpu_activate(pool_of(be), y->data, x->data, lt_tensor_numel(x), act);
    return LT_OK;
}

static lt_status cpu_yolo_decode(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_yolo_head *h,
                                 lt_err *err) {
    lt_cpu_yolo_decode(pool_of(be), y->data, x->data, I(x, 0), I(x, 2), I(x, 3), h);
    return LT_OK;
}

static lt_status cpu_nms(lt_backend *be, lt_tensor *keep, const lt_tensor *boxes, const lt_tensor *classes, float iou,
                         float contain, lt_err *err) {
    lt_cpu_nms(keep->data, boxes->data, classes->data, boxes->shape[0], iou, contain);
    return LT_OK;
}

/* ---- diffusion ops ------------------------------------------------------------------------- */

static lt_status cpu_group_norm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *gamma,
                                const lt_tensor *beta, int groups, float eps, lt_act act, lt_err *err) {
    lt_cpu_group_norm(pool_of(be), y->data, x->data, gamma ? gamma->data : NULL, beta ? beta->data : NULL, I(x, 0),
                      I(x, 1), x->shape[2] * x->shape[3], groups, eps, act);
    return LT_OK;
}

static lt_status cpu_channel_affine(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *t,
                                    bool scale_shift, lt_act act, lt_err *err) {
    lt_cpu_channel_affine(pool_of(be), y->data, x->data, t->data, I(x, 0), I(x, 1), x->shape[2] * x->shape[3],
                          scale_shift, act);
    return LT_OK;
}

static lt_status cpu_self_attention(lt_backend *be, lt_tensor *y, const lt_tensor *qkv, int n_heads, float scale,
                                    lt_err *err) {
    if (!lt_cpu_self_attention_prepare(pool_of(be), I(y, 1) / n_heads, y->shape[2] * y->shape[3]))
        return lt_err_set(err, LT_ENOMEM, "self_attention: out of host memory for the score rows");
    lt_cpu_self_attention(pool_of(be), y->data, qkv->data, I(y, 0), I(y, 1), y->shape[2] * y->shape[3], n_heads,
                          scale);
    return LT_OK;
}

/* ---- the table ---------------------------------------------------------------------------- */

static lt_dtype cpu_matrix_dtype(const lt_backend *be, lt_dtype dt, int64_t rows, int64_t cols) {
    (void)be;
    return lt_cpu_matrix_dtype(dt, rows, cols);
}

static const lt_backend_ops k_cpu_ops = {
    .name = "cpu",
    .is_host = true,
    /* memory: host RAM, so set, get and copy are all memmove */
    .destroy = cpu_destroy,
    .mem_info = cpu_mem_info,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .set = cpu_copy,
    .get = cpu_copy,
    .copy = cpu_copy,
    .sync = NULL, /* every op has finished when it returns */
    .matrix_dtype = cpu_matrix_dtype, /* q4_0 -> q4_0_r8 (matmul_q4r8.c) */
    /* ops, one kernel file each: get_rows.c, matmul.c, norm.c, rope.c, elementwise.c,
     * kv_store.c, attention.c, argmax.c */
    .get_rows = cpu_get_rows,
    .matmul = cpu_matmul,
    .lowrank = cpu_lowrank,
    .rmsnorm = cpu_rmsnorm,
    .rope = cpu_rope,
    .silu_mul = cpu_silu_mul,
    .add = cpu_add,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .attn_merge = cpu_attn_merge,
    .argmax = cpu_argmax,
    .convert = cpu_convert,
    /* vision ops (detection): conv.c, vision.c */
    .conv2d = cpu_conv2d,
    .maxpool2d = cpu_maxpool2d,
    .avgpool2d = cpu_avgpool2d,
    .upsample = cpu_upsample,
    .concat = cpu_concat,
    .activate = cpu_activate,
    .yolo_decode = cpu_yolo_decode,
    .nms = cpu_nms,

    .group_norm = cpu_group_norm,
    .channel_affine = cpu_channel_affine,
    .self_attention = cpu_self_attention,
    /* op capture: none (capture_begin, capture_end, graph_launch, graph_free NULL) */
};

/* "AMD EPYC" from /proc/cpuinfo's first "model name" line, or "CPU". */
static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        size_t l = strlen(v);
        while (l && (v[l - 1] == '\n' || v[l - 1] == ' ')) v[--l] = 0;
        if (l) snprintf(buf, n, "%s", v);
        break;
    }
    fclose(f);
}

lt_status lt_backend_cpu_create(lt_backend **out, const lt_backend_opts *opts, lt_err *err) {
    *out = NULL;
    cpu_backend *c = lt_calloc(1, sizeof *c);
    if (!c) return lt_err_set(err, LT_ENOMEM, "out of host memory creating the CPU backend");
    lt_status s = lt_pool_create(&c->pool, opts ? opts->n_threads : 0, err);
    if (s != LT_OK) {
        lt_free(c);
        return s;
    }
    c->head.ops = &k_cpu_ops;
    c->head.n_threads = lt_pool_threads(c->pool);
    char model[96];
    cpu_model(model, sizeof model);
    snprintf(c->head.device, sizeof c->head.device, "%s (%d thread%s)", model, c->head.n_threads,
             c->head.n_threads == 1 ? "" : "s");
    *out = &c->head;
    return LT_OK;
}
