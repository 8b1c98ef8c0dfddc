/* llama.c - Llama-family forward pass over backend ops (see llama.h).
 *
 * Per layer: rmsnorm -> q,k,v projections (+bias) -> rope -> store K/V in the paged cache ->
 * paged attention -> output projection -> residual; rmsnorm -> SwiGLU FFN -> residual.
 * Then the final norm and the output head for the rows that want logits.
 * Decode steps (one token of one sequence) on a backend that can capture ops (CUDA) are
 * recorded once as a graph and replayed: all host transfers happen before and after the
 * recorded ops, every tensor is a persistent scratch buffer, and the block table is padded
 * to a power-of-two bucket so its shape (and the attention plan) only changes when the
 * context doubles; the first step of a new shape runs uncaptured (scratch buffers grow),
 * the second is captured, later ones replay (graphs of the last 4 shapes are kept).
 * LATHE_GRAPHS=0 in the environment turns this off.
 * Biases of every projection are applied where the config names them; layers with a
 * sliding window attend to the window's last keys only (lt_attn_meta.window).
 * Leaves out: MoE layers; the KV cache still keeps keys that left the window.
 */
#include "llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/dtype.h"
#include "core/base/quants.h"

typedef struct layer {
    lt_tensor attn_norm, wq, wk, wv, wo, bq, bk, bv, bo, ffn_norm, w_gate, w_up, w_down, b_gate, b_up, b_down;
    lt_tensor s_attn, s_ffn; /* SliceGPT's shortcuts [b, a], [c, b]; data NULL = identity */
    lt_tensor v_attn, v_ffn; /* or their low-rank form V [r, a]: S = I - V^T V (data NULL: none) */
    bool bias, obias, mbias;
    int window; /* sliding attention window, 0 = none */
    int a, b, c; /* residual widths: block input, after attention, block output (cfg.dim unless sliced) */
    float eps_attn, eps_ffn; /* the norms' eps (sliced: scaled so that they divide by cfg.dim) */
} layer;

#define LT_LLAMA_GRAPHS 4 /* decode-step graphs kept per model */

/* What a captured decode step depends on besides tensor contents. */
typedef struct graph_key {
    uint64_t kv;        /* hash of the KV pools' device pointers */
    const void *btab;   /* block-table buffer */
    int max_blocks;     /* padded block-table width (also fixes the attention plan) */
    int n_rows;         /* logits rows (0 or 1) */
    bool qlast;         /* copies the last token's queries */
    const void *freqs;  /* the rope frequencies used (LongRoPE: short or long) */
    bool valid;
} graph_key;

typedef struct lt_llama {
    lt_lm base; /* first: cfg, be, sizes */
    lt_arena *weights, *scratch;
    lt_tensor tok_emb, out_norm, output, freqs;
    int32_t *widths;  /* sliced: d_emb, then b, c per layer (lt_lm.slice_widths) */
    float out_eps;    /* the final norm's eps */
    lt_tensor freqs_long; /* LongRoPE: the long factors' frequencies (freqs holds the short ones) */
    layer *layers;
    int max_batch, max_logits;
    /* scratch, full size; row views per chunk */
    lt_tensor x, xb, xs, q, k, v, att, hb, hb2, xo, logits; /* xs: a shortcut's output (sliced) */
    lt_tensor qlast; /* (L, H*Dh) queries of a batch's last token (lt_batch.q_last) */
    lt_tensor t_tokens, t_pos, t_slots, t_seq, t_ctx, t_rows;
    /* block tables: grown on demand */
    void *btab_mem;
    size_t btab_bytes;
    /* host staging */
    int32_t *h_i32; /* 7 * max_batch: tokens, pos, slots, seq, ctx, rows, distinct seqs */
    int32_t *h_btab;
    size_t h_btab_cap;
    int32_t *seq_next; /* 3 per KV sequence: next position, length before the call, chunk end */
    int seq_next_cap;
    /* split attention over the KV cache's host pool (grown on first use): device lse, o2,
     * lse2 for max_batch rows; host q, o2, lse2 when the device is not the host; host
     * block tables */
    void *split_mem;
    size_t split_bytes;
    float *h_split;
    int32_t *h_hbtab;
    size_t h_hbtab_cap;
    /* decode-step graphs, one per shape, least recently used replaced first */
    struct {
        graph_key key;
        lt_graph *g;      /* kept when the entry is reused: recapturing updates it */
        bool captured;    /* g holds key's step (else key has run once uncaptured) */
        uint64_t used;
    } graphs[LT_LLAMA_GRAPHS];
    uint64_t graph_clock;
    bool graphs_off;
} lt_llama;

static lt_status llama_forward(lt_lm *lm, lt_kv_cache *kv, const lt_batch *b, float *logits, lt_err *err);
static void llama_close(lt_lm *lm);
static lt_status llama_set_matrix(lt_lm *lm, int layer, lt_lm_matrix which, const float *w, lt_err *err);
static const lt_lm_ops k_llama_ops = {
    .family = "llama", .forward = llama_forward, .close = llama_close, .set_matrix = llama_set_matrix};

/* ---- rope ------------------------------------------------------------------------------ */

void lt_llama_rope_freqs(const lt_llm_config *c, const float *factors, float *out) {
    int dh = lt_llm_n_rot(c); /* partial rotary: frequencies over the rotated dimensions */
    for (int i = 0; i < dh / 2; i++) {
        float f = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)dh);
        if (c->rope_scaling == LT_ROPE_SCALING_LINEAR && c->rope_factor > 0) {
            f /= c->rope_factor;
        } else if (c->rope_scaling == LT_ROPE_SCALING_YARN && c->rope_factor > 0) {
            /* transformers' _compute_yarn_parameters: a linear ramp over the dimensions
             * between the correction range of beta_fast and beta_slow rotations */
            double base = c->rope_theta, orig = c->rope_orig_ctx > 0 ? c->rope_orig_ctx : c->max_seq;
            double bf = c->rope_beta_fast > 0 ? c->rope_beta_fast : 32, bsl = c->rope_beta_slow > 0 ? c->rope_beta_slow : 1;
            double lo = dh * log(orig / (bf * 2 * M_PI)) / (2 * log(base));
            double hi = dh * log(orig / (bsl * 2 * M_PI)) / (2 * log(base));
            if (!c->rope_yarn_no_truncate) lo = floor(lo), hi = ceil(hi);
            if (lo < 0) lo = 0;
            if (hi > dh - 1) hi = dh - 1;
            if (lo == hi) hi += 0.001;
            float ramp = (float)(((double)i - lo) / (hi - lo));
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            float extra = 1.0f - ramp; /* weight of the original (extrapolated) frequency */
            f = f / c->rope_factor * (1.0f - extra) + f * extra;
        } else if (c->rope_scaling == LT_ROPE_SCALING_LLAMA3 && c->rope_factor > 0) {
            float lo = c->rope_low_freq_factor > 0 ? c->rope_low_freq_factor : 1.0f;
            float hi = c->rope_high_freq_factor > 0 ? c->rope_high_freq_factor : 4.0f;
            float orig = c->rope_orig_ctx > 0 ? (float)c->rope_orig_ctx : 8192.0f;
            float wavelen = 2.0f * (float)M_PI / f;
            float lo_wl = orig / lo, hi_wl = orig / hi;
            if (wavelen > lo_wl) f /= c->rope_factor;
            else if (wavelen >= hi_wl) {
                float smooth = (orig / wavelen - lo) / (hi - lo);
                f = (1.0f - smooth) * f / c->rope_factor + smooth * f;
            }
        }
        if (factors) f /= factors[i];
        out[i] = f;
    }
}

/* ---- loading ---------------------------------------------------------------------------- */

typedef struct wplan {
    lt_tensor *dst;
    const lt_src_tensor *src; /* NULL for synthetic weights */
    lt_dtype dt;
    int ndim;
    int64_t shape[2];
} wplan;

/* Where weights come from: a model source, or random values of a given dtype. */
typedef struct wsource {
    const lt_modelsrc *src;
    lt_dtype synth_dt;
    uint64_t seed;
    bool f32_matrices;
} wsource;

static bool is_f32_kind(lt_dtype d) { return d == LT_F32 || d == LT_F16 || d == LT_BF16; }

static lt_status plan_one(const wsource *ws, wplan *p, int *np, lt_tensor *dst, const char *name, int ndim,
                          int64_t d0, int64_t d1, bool to_f32, lt_err *err) {
    bool any_f32 = false; /* a matrix converted to f32 (lt_lm_opts.f32_matrices) */
    if (!to_f32 && ws->f32_matrices) to_f32 = any_f32 = true;
    int64_t shape[2] = {d0, d1};
    wplan *w = &p[*np];
    w->src = NULL;
    w->dt = to_f32 ? LT_F32 : ws->synth_dt;
    if (ws->src) {
        const lt_src_tensor *t;
        LT_TRY(lt_modelsrc_expect(ws->src, name, ndim, shape, &t, err));
        if (to_f32 && !any_f32 && !is_f32_kind(t->dtype))
            return lt_err_set(err, LT_EUNSUPPORTED, "%s: tensor '%s' is %s; norms and biases must be f32/f16/bf16",
                              lt_modelsrc_path(ws->src), name, lt_dtype_name(t->dtype));
        w->src = t;
        w->dt = to_f32 ? LT_F32 : t->dtype;
    }
    w->dst = dst;
    w->ndim = ndim;
    w->shape[0] = d0;
    w->shape[1] = d1;
    (*np)++;
    return LT_OK;
}

static void free_host(lt_llama *m) {
    lt_free(m->h_i32);
    lt_free(m->h_btab);
    lt_free(m->seq_next);
    lt_free(m->h_split);
    lt_free(m->h_hbtab);
    m->h_i32 = m->h_btab = m->seq_next = m->h_hbtab = NULL;
    m->h_split = NULL;
}

static void llama_close(lt_lm *lm) {
    lt_llama *m = (lt_llama *)lm;
    if (!m) return;
    for (int i = 0; i < LT_LLAMA_GRAPHS; i++) lt_backend_graph_free(m->base.be, m->graphs[i].g);
    if (m->btab_mem) lt_backend_release(m->base.be, m->btab_mem, m->btab_bytes, LT_MEM_SCRATCH);
    if (m->split_mem) lt_backend_release(m->base.be, m->split_mem, m->split_bytes, LT_MEM_SCRATCH);
    lt_arena_free(m->weights);
    lt_arena_free(m->scratch);
    lt_free(m->layers);
    lt_free(m->widths);
    free_host(m);
    lt_free(m);
}

static lt_status alloc_scratch(lt_llama *m, const lt_lm_opts *o, lt_err *err) {
    const lt_llm_config *c = &m->base.cfg;
    int B = o && o->max_batch > 0 ? o->max_batch : 512;
    int NL = o && o->max_logits > 0 ? o->max_logits : (B < 64 ? B : 64);
    if (NL > B) NL = B;
    m->max_batch = B;
    m->max_logits = NL;
    int64_t qw = (int64_t)c->n_heads * c->head_dim, kvw = (int64_t)c->n_kv_heads * c->head_dim;
    struct {
        lt_tensor *t;
        lt_dtype dt;
        int64_t r, cdim;
    } s[] = {
        {&m->x, LT_F32, B, c->dim},      {&m->xb, LT_F32, B, c->dim},        {&m->q, LT_F32, B, qw},
        {&m->xs, LT_F32, c->sliced ? B : 1, c->dim},
        {&m->k, LT_F32, B, kvw},         {&m->v, LT_F32, B, kvw},            {&m->att, LT_F32, B, qw},
        {&m->hb, LT_F32, B, c->hidden_dim}, {&m->hb2, LT_F32, B, c->hidden_dim}, {&m->xo, LT_F32, NL, c->dim},
        {&m->logits, LT_F32, NL, c->n_vocab},    {&m->qlast, LT_F32, c->n_layers, qw},
        {&m->t_tokens, LT_I32, 1, B},    {&m->t_pos, LT_I32, 1, B},          {&m->t_slots, LT_I32, 1, B},
        {&m->t_seq, LT_I32, 1, B},       {&m->t_ctx, LT_I32, 1, B},          {&m->t_rows, LT_I32, 1, NL},
    };
    size_t need = 0;
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        int64_t sh[2] = {s[i].r, s[i].cdim};
        need += lt_arena_need(s[i].dt, 2, sh);
    }
    LT_TRY(lt_arena_create(&m->scratch, m->base.be, need, LT_MEM_SCRATCH, err));
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        int64_t sh[2] = {s[i].r, s[i].cdim};
        LT_TRY(lt_arena_tensor(m->scratch, s[i].t, s[i].dt, 2, sh, err));
    }
    m->h_i32 = lt_calloc((size_t)7 * B, sizeof(int32_t));
    if (!m->h_i32) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    return LT_OK;
}

/* n rows (a multiple of 8) of plain q4_0 bytes set as rows r0.. of a q4_0_r8 tensor (the CPU
 * backend's interleaved layout, lt_backend_matrix_dtype), packed 64 rows at a time. */
static lt_status set_packed(lt_tensor *dst, int64_t r0, const void *q4, int64_t n, lt_err *err) {
    const int64_t K = lt_tensor_cols(dst), CH = 64;
    const size_t rb = lt_row_bytes(LT_Q4_0, K);
    char *buf = lt_malloc(rb * (size_t)CH);
    if (!buf) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_status s = LT_OK;
    for (int64_t r = 0; r < n && s == LT_OK; r += CH) {
        const int64_t k = n - r < CH ? n - r : CH;
        lt_q4_0_r8_pack((const char *)q4 + (size_t)r * rb, buf, k, K);
        s = lt_tensor_set_range(dst, (size_t)(r0 + r) * rb, buf, (size_t)k * rb, err);
    }
    lt_free(buf);
    return s;
}

static lt_status upload_copy(lt_tensor *dst, const lt_src_tensor *src, lt_dtype dt, lt_err *err) {
    if (dt == LT_Q4_0_R8 && src->dtype == LT_Q4_0) return set_packed(dst, 0, src->data, lt_tensor_rows(dst), err);
    int64_t bad = lt_s24_check(src->dtype, src->data, lt_tensor_numel(dst));
    if (bad >= 0)
        return lt_err_set(err, LT_EFORMAT,
                          "tensor '%s' (%s): block %lld has malformed 2:4 position bits (each group must keep two "
                          "different columns in increasing order)",
                          src->name, lt_dtype_name(src->dtype), (long long)bad);
    if (src->dtype == dt) return lt_tensor_set(dst, src->data, src->nbytes, err);
    /* only small tensors (norms, biases) are converted here */
    int64_t n = lt_tensor_numel(dst);
    float *tmp = lt_malloc((size_t)n * sizeof(float));
    if (!tmp) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_dtype_row_to_f32(src->dtype, src->data, tmp, n);
    lt_status s = lt_tensor_set(dst, tmp, (size_t)n * sizeof(float), err);
    lt_free(tmp);
    return s;
}

/* Copies one source tensor into its arena slot (converting norms and biases to f32) and then
 * drops the source's pages of it (lt_modelsrc_drop), so the weights are resident once: the
 * arena copy plus, at any moment, the one tensor being copied - not the copy beside the
 * whole mapped file, which doubled peak memory (both count in RSS until the source closes).
 *
 * Why copy-then-drop and not zero-copy (weight tensors pointing into the mapping on the
 * CPU backend): dropping works on every backend alike (a CUDA upload needs no host copy at
 * all afterwards), keeps the model independent of the source's lifetime (callers close it
 * right after opening), keeps the arena's 64-byte alignment (GGUF only promises 32, safetensors
 * and llama2.c offsets less) and needs no second kind of arena. Zero-copy would also share the
 * page cache between processes and skip the copy's time; it can come later as a host arena
 * wrapping the mapping. A dropped page read again (e.g. rope_freqs below) is faulted back in
 * from the file, so later readers of the source still see its bytes. */
static lt_status upload(lt_tensor *dst, const lt_modelsrc *ms, const lt_src_tensor *src, lt_dtype dt, lt_err *err) {
    lt_status s = upload_copy(dst, src, dt, err);
    if (s == LT_OK) lt_modelsrc_drop(ms, src);
    return s;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Approximately N(0, 1) (sum of uniforms), cheap and deterministic. */
static float rng_normal(uint64_t *s) {
    uint64_t r = rng_next(s);
    float acc = 0;
    for (int i = 0; i < 4; i++) acc += (float)((r >> (16 * i)) & 0xffff) / 65536.0f;
    return (acc - 2.0f) * 1.7320508f;
}

/* Fills rows of values N(0, scale^2) (norm weights: 1 + small noise), in dtype dt. Rows are
 * generated into a pool of up to 4 MiB and the pool is repeated over the tensor, so even
 * 8B-parameter shapes fill in seconds. */
static lt_status fill_random(lt_tensor *dst, bool is_norm, uint64_t seed, lt_err *err) {
    int64_t cols = lt_tensor_cols(dst), rows = lt_tensor_rows(dst);
    const lt_dtype dt = lt_dtype_plain(dst->dtype); /* q4_0_r8: q4_0 rows, then packed */
    const bool packed = dt != dst->dtype;
    size_t rb = lt_row_bytes(dt, cols);
    int64_t pool_rows = (int64_t)((4u << 20) / rb);
    if (packed) pool_rows = pool_rows / 8 * 8;
    if (pool_rows < (packed ? 8 : 1)) pool_rows = packed ? 8 : 1;
    if (pool_rows > rows) pool_rows = rows;
    char *pool = lt_malloc((size_t)pool_rows * rb);
    float *tmp = lt_malloc((size_t)cols * sizeof(float));
    if (!pool || !tmp) {
        lt_free(pool);
        lt_free(tmp);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    float scale = 1.0f / sqrtf((float)cols);
    for (int64_t r = 0; r < pool_rows; r++) {
        for (int64_t i = 0; i < cols; i++) tmp[i] = is_norm ? 1.0f + 0.1f * rng_normal(&seed) : scale * rng_normal(&seed);
        lt_dtype_row_from_f32(dt, tmp, pool + (size_t)r * rb, cols);
    }
    lt_status s = LT_OK;
    /* a device backend gets the whole tensor in one set where it fits 1 GiB of host memory: it may
     * keep a layout of its own (the CUDA backend's gq4 matrices for its W4A16 kernel) */
    char *whole = !lt_backend_is_host(dst->be) && pool_rows < rows && rows * rb <= ((size_t)1 << 30)
                      ? lt_malloc((size_t)rows * rb) : NULL;
    for (int64_t r = 0; r < rows && s == LT_OK; r += pool_rows) {
        int64_t nr = rows - r < pool_rows ? rows - r : pool_rows;
        if (whole) memcpy(whole + (size_t)r * rb, pool, (size_t)nr * rb);
        else if (packed) s = set_packed(dst, r, pool, nr, err);
        else if (pool_rows == rows) s = lt_tensor_set(dst, pool, (size_t)nr * rb, err);
        else s = lt_tensor_set_range(dst, (size_t)r * rb, pool, (size_t)nr * rb, err);
    }
    if (whole) s = lt_tensor_set(dst, whole, (size_t)rows * rb, err);
    lt_free(whole);
    lt_free(pool);
    lt_free(tmp);
    return s;
}

static void account(lt_llama *m) {
    const lt_llm_config *c = &m->base.cfg;
    size_t per_tok = 0, total = 0;
    for (int l = 0; l < c->n_layers; l++) {
        layer *L = &m->layers[l];
        lt_tensor *mats[] = {&L->wq,     &L->wk,    &L->wv,     &L->wo,     &L->w_gate,
                             &L->w_up,   &L->w_down, &L->s_attn, &L->s_ffn, &L->v_attn, &L->v_ffn};
        for (int i = 0; i < 11; i++) per_tok += mats[i]->data ? lt_tensor_nbytes(mats[i]) : 0;
    }
    per_tok += lt_tensor_nbytes(&m->output) + lt_row_bytes(m->tok_emb.dtype, lt_tensor_cols(&m->tok_emb));
    uint64_t np = (uint64_t)(lt_tensor_numel(&m->tok_emb) + lt_tensor_numel(&m->out_norm));
    if (m->output.data != m->tok_emb.data) np += (uint64_t)lt_tensor_numel(&m->output);
    for (int l = 0; l < c->n_layers; l++) {
        layer *L = &m->layers[l];
        lt_tensor *t[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo, &L->bq, &L->bk, &L->bv, &L->bo, &L->ffn_norm,
                          &L->w_gate, &L->w_up, &L->w_down, &L->b_gate, &L->b_up, &L->b_down, &L->s_attn, &L->s_ffn,
                          &L->v_attn, &L->v_ffn};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) np += t[i]->data ? (uint64_t)lt_tensor_numel(t[i]) : 0;
    }
    m->base.n_params = np;
    total = lt_arena_used(m->weights);
    m->base.bytes_per_token = per_tok;
    m->base.weight_bytes = total;
    m->base.wtype = lt_dtype_plain(m->layers[0].wq.dtype); /* the file's type, not the backend's layout */
}

/* A norm's f32 weights times f (a sliced model's norms over fewer columns than D). */
static lt_status scale_norm(lt_tensor *t, float f, lt_err *err) {
    int64_t n = lt_tensor_numel(t);
    float *h = lt_malloc((size_t)n * sizeof(float));
    if (!h) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    lt_status s = lt_tensor_get(t, h, (size_t)n * sizeof(float), err);
    for (int64_t i = 0; i < n; i++) h[i] *= f;
    if (s == LT_OK) s = lt_tensor_set(t, h, (size_t)n * sizeof(float), err);
    lt_free(h);
    return s;
}

static lt_status begin(lt_llama **out, const lt_llm_config *cfg, lt_backend *be, const char *what, lt_err *err) {
    LT_TRY(lt_llm_config_validate(cfg, what, err));
    if (strcmp(cfg->arch, "llama") && strcmp(cfg->arch, "mistral") && strcmp(cfg->arch, "qwen2") &&
        strcmp(cfg->arch, "phi3"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s: architecture '%s' is not supported (llama, mistral, qwen2)", what,
                          cfg->arch);
    lt_llama *m = lt_calloc(1, sizeof *m);
    if (!m) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    m->base.ops = &k_llama_ops;
    m->base.cfg = *cfg;
    m->base.be = be;
    const char *g = getenv("LATHE_GRAPHS");
    m->graphs_off = g && !strcmp(g, "0");
    m->layers = lt_calloc(cfg->n_layers, sizeof *m->layers);
    if (!m->layers) {
        lt_free(m);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    *out = m;
    return LT_OK;
}

static lt_status open_common(lt_lm **out, const lt_llm_config *c, const wsource *ws, lt_backend *be,
                             const lt_lm_opts *o, lt_err *err) {
    *out = NULL;
    const char *path = ws->src ? lt_modelsrc_path(ws->src) : c->name;
    lt_llama *m = NULL;
    LT_TRY(begin(&m, c, be, path, err));
    m->base.file_bytes = ws->src ? lt_modelsrc_file_bytes(ws->src) : 0;
    int64_t D = c->dim, F = c->hidden_dim, V = c->n_vocab;
    int64_t QW = (int64_t)c->n_heads * c->head_dim, KW = (int64_t)c->n_kv_heads * c->head_dim;
    int max_plans = 4 + 18 * c->n_layers;
    wplan *p = lt_calloc(max_plans, sizeof *p);
    int np = 0;
    lt_status s = LT_OK;
    if (!p) {
        s = lt_err_set(err, LT_ENOMEM, "out of host memory");
        goto fail;
    }
    char name[96];
#define PLAN(dst, nd, d0, d1, f32, ...)                                                      \
    do {                                                                                 \
        snprintf(name, sizeof name, __VA_ARGS__);                                        \
        s = plan_one(ws, p, &np, dst, name, nd, d0, d1, f32, err);                      \
        if (s != LT_OK) goto fail;                                                       \
    } while (0)
    /* SliceGPT: the residual widths from the tensor shapes (checked there); else all D */
    if (c->sliced) {
        m->widths = lt_malloc(sizeof(int32_t) * (1 + 2 * (size_t)c->n_layers));
        if (!ws->src) s = lt_err_set(err, LT_EINVAL, "%s: a sliced model needs its tensors (no synthetic weights)", path);
        else if (!m->widths) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
        else s = lt_modelsrc_slice_widths(ws->src, m->widths, err);
        if (s != LT_OK) goto fail;
        m->base.slice_widths = m->widths;
    }
    const int64_t E = c->sliced ? m->widths[0] : D, CL = c->sliced ? m->widths[2 * c->n_layers] : D;
    PLAN(&m->tok_emb, 2, V, E, false, "token_embd.weight");
    PLAN(&m->out_norm, 1, CL, 0, true, "output_norm.weight");
    if (!c->tied_embeddings || c->sliced) PLAN(&m->output, 2, V, CL, false, "output.weight");
    for (int l = 0; l < c->n_layers; l++) {
        layer *L = &m->layers[l];
        const int64_t a = c->sliced ? m->widths[l ? 2 * l : 0] : D, b = c->sliced ? m->widths[1 + 2 * l] : D,
                      cw = c->sliced ? m->widths[2 + 2 * l] : D;
        L->a = (int)a, L->b = (int)b, L->c = (int)cw;
        PLAN(&L->attn_norm, 1, a, 0, true, "blk.%d.attn_norm.weight", l);
        PLAN(&L->wq, 2, QW, a, false, "blk.%d.attn_q.weight", l);
        PLAN(&L->wk, 2, KW, a, false, "blk.%d.attn_k.weight", l);
        PLAN(&L->wv, 2, KW, a, false, "blk.%d.attn_v.weight", l);
        PLAN(&L->wo, 2, b, QW, false, "blk.%d.attn_output.weight", l);
        PLAN(&L->ffn_norm, 1, b, 0, true, "blk.%d.ffn_norm.weight", l);
        PLAN(&L->w_gate, 2, F, b, false, "blk.%d.ffn_gate.weight", l);
        PLAN(&L->w_up, 2, F, b, false, "blk.%d.ffn_up.weight", l);
        PLAN(&L->w_down, 2, cw, F, false, "blk.%d.ffn_down.weight", l);
        char sn[96];
        snprintf(sn, sizeof sn, "blk.%d.attn_shortcut.weight", l);
        if (c->sliced && lt_modelsrc_find(ws->src, sn)) PLAN(&L->s_attn, 2, b, a, false, "%s", sn);
        snprintf(sn, sizeof sn, "blk.%d.ffn_shortcut.weight", l);
        if (c->sliced && lt_modelsrc_find(ws->src, sn)) PLAN(&L->s_ffn, 2, cw, b, false, "%s", sn);
        for (int h = 0; h < 2 && c->sliced; h++) { /* checked by lt_modelsrc_slice_widths: r < a = b (= c) */
            snprintf(sn, sizeof sn, h ? "blk.%d.ffn_shortcut_lr.weight" : "blk.%d.attn_shortcut_lr.weight", l);
            const lt_src_tensor *lr = lt_modelsrc_find(ws->src, sn);
            if (lr && lr->shape[0] > F) {
                s = lt_err_set(err, LT_EUNSUPPORTED, "%s: '%s' has rank %lld, above the FFN width %lld", path, sn,
                               (long long)lr->shape[0], (long long)F);
                goto fail;
            }
            if (lr) PLAN(h ? &L->v_ffn : &L->v_attn, 2, lr->shape[0], b, false, "%s", sn);
        }
        if (c->qkv_bias) {
            L->bias = true;
            PLAN(&L->bq, 1, QW, 0, true, "blk.%d.attn_q.bias", l);
            PLAN(&L->bk, 1, KW, 0, true, "blk.%d.attn_k.bias", l);
            PLAN(&L->bv, 1, KW, 0, true, "blk.%d.attn_v.bias", l);
        }
        if (c->attn_out_bias) {
            L->obias = true;
            PLAN(&L->bo, 1, b, 0, true, "blk.%d.attn_output.bias", l);
        }
        if (c->mlp_bias) {
            L->mbias = true;
            PLAN(&L->b_gate, 1, F, 0, true, "blk.%d.ffn_gate.bias", l);
            PLAN(&L->b_up, 1, F, 0, true, "blk.%d.ffn_up.bias", l);
            PLAN(&L->b_down, 1, cw, 0, true, "blk.%d.ffn_down.bias", l);
        }
        L->window = lt_llm_layer_window(c, l);
    }
#undef PLAN
    /* matrices only ever multiplied (not the token embedding, which get_rows reads; a tied
       output is that same tensor) in the backend's layout for them: q4_0 interleaved by 8 rows
       on the CPU */
    for (int i = 0; i < np; i++)
        if (p[i].ndim == 2 && p[i].dst != &m->tok_emb)
            p[i].dt = lt_backend_matrix_dtype(be, p[i].dt, p[i].shape[0], p[i].shape[1]);
    const int32_t n_rot = lt_llm_n_rot(c);
    /* llama.cpp's rope factor tensors: rope_freqs (Llama 3.1) wins over LongRoPE's pair */
    static const char *const fnames[3] = {"rope_freqs.weight", "rope_factors_short.weight", "rope_factors_long.weight"};
    const lt_src_tensor *ft[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3 && ws->src; i++) {
        ft[i] = lt_modelsrc_find(ws->src, fnames[i]);
        if (ft[i] && (ft[i]->dtype != LT_F32 || ft[i]->ndim != 1 || ft[i]->shape[0] != n_rot / 2)) {
            s = lt_err_set(err, LT_EFORMAT, "%s: tensor '%s' must be f32 [%d]", path, fnames[i], n_rot / 2);
            goto fail;
        }
    }
    const bool longrope = c->rope_scaling == LT_ROPE_SCALING_LONGROPE && !ft[0];
    if (longrope && (!ft[1] || !ft[2])) {
        s = lt_err_set(err, LT_EFORMAT, "%s: LongRoPE needs tensors 'rope_factors_short.weight' and "
                       "'rope_factors_long.weight' (f32 [%d])", path, n_rot / 2);
        goto fail;
    }
    size_t need = (longrope ? 2 : 1) * lt_arena_need(LT_F32, 1, (int64_t[]){n_rot / 2});
    for (int i = 0; i < np; i++) need += lt_arena_need(p[i].dt, p[i].ndim, p[i].shape);
    s = lt_arena_create(&m->weights, be, need, LT_MEM_WEIGHTS, err);
    if (s != LT_OK) goto fail;
    size_t done = 0;
    for (int i = 0; i < np; i++) {
        s = lt_arena_tensor(m->weights, p[i].dst, p[i].dt, p[i].ndim, p[i].shape, err);
        if (s == LT_OK)
            s = p[i].src ? upload(p[i].dst, ws->src, p[i].src, p[i].dt, err)
                         : fill_random(p[i].dst, p[i].ndim == 1, ws->seed + (uint64_t)i * 7919, err);
        if (s != LT_OK) goto fail;
        done += lt_arena_need(p[i].dt, p[i].ndim, p[i].shape);
        if (o && o->progress && !o->progress(o->progress_ud, (double)done / (double)need)) {
            s = lt_err_set(err, LT_ECANCELLED, "%s: load cancelled", path);
            goto fail;
        }
    }
    if (c->tied_embeddings && !c->sliced) m->output = m->tok_emb;
    /* every norm divides by D (SliceGPT's RMSN): over d < D columns that is sqrt(D/d) times a norm
     * over d with eps * D / d, so the weights are scaled here and each norm keeps its eps */
    m->out_eps = c->norm_eps * (float)D / (float)CL;
    if (CL != D) s = scale_norm(&m->out_norm, sqrtf((float)D / (float)CL), err);
    for (int l = 0; l < c->n_layers && s == LT_OK; l++) {
        layer *L = &m->layers[l];
        L->eps_attn = c->norm_eps * (float)D / (float)L->a;
        L->eps_ffn = c->norm_eps * (float)D / (float)L->b;
        if (L->a != D) s = scale_norm(&L->attn_norm, sqrtf((float)D / (float)L->a), err);
        if (s == LT_OK && L->b != D) s = scale_norm(&L->ffn_norm, sqrtf((float)D / (float)L->b), err);
    }
    if (s != LT_OK) goto fail;
    if (c->head_dim / 2 > 4096) {
        s = lt_err_set(err, LT_EUNSUPPORTED, "%s: head_dim %d too large", path, c->head_dim);
        goto fail;
    }
    for (int i = 0; i < (longrope ? 2 : 1); i++) { /* freqs: plain, Llama 3.1's or LongRoPE's short; then long */
        lt_tensor *dst = i ? &m->freqs_long : &m->freqs;
        const lt_src_tensor *f = i ? ft[2] : ft[0] ? ft[0] : longrope ? ft[1] : NULL;
        float fr[4096];
        s = lt_arena_tensor(m->weights, dst, LT_F32, 1, (int64_t[]){n_rot / 2}, err);
        if (s != LT_OK) goto fail;
        lt_llama_rope_freqs(c, f ? (const float *)f->data : NULL, fr);
        s = lt_tensor_set(dst, fr, sizeof(float) * (n_rot / 2), err);
        if (s != LT_OK) goto fail;
    }
    s = alloc_scratch(m, o, err);
    if (s != LT_OK) goto fail;
    account(m);
    lt_free(p);
    *out = &m->base;
    return LT_OK;
fail:
    lt_free(p);
    llama_close(&m->base);
    return s;
}

lt_status lt_llama_open(lt_lm **out, const lt_modelsrc *src, lt_backend *be, const lt_lm_opts *o, lt_err *err) {
    wsource ws = {.src = src, .f32_matrices = o && o->f32_matrices};
    return open_common(out, lt_modelsrc_config(src), &ws, be, o, err);
}

lt_status lt_llama_open_synthetic(lt_lm **out, const lt_llm_config *cfg, lt_dtype dt, uint64_t seed,
                                  lt_backend *be, const lt_lm_opts *o, lt_err *err) {
    char names[256];
    if (!lt_dtype_info(dt)->from_f32)
        return lt_err_set(err, LT_EINVAL, "synthetic model: weight type %s is not a matrix type (%s)", lt_dtype_name(dt),
                          lt_dtype_matrix_names(names, sizeof names));
    const int64_t blk = lt_dtype_block(dt), cols[3] = {cfg->dim, cfg->hidden_dim, (int64_t)cfg->n_heads * cfg->head_dim};
    for (int i = 0; i < 3; i++)
        if (cols[i] % blk)
            return lt_err_set(err, LT_EINVAL, "synthetic model: row length %lld is not a multiple of the %s block (%lld)",
                              (long long)cols[i], lt_dtype_name(dt), (long long)blk);
    wsource ws = {.src = NULL, .synth_dt = dt, .seed = seed};
    return open_common(out, cfg, &ws, be, o, err);
}

lt_status lt_llama_open_preset(lt_lm **out, const char *preset, lt_backend *be, const lt_lm_opts *o, lt_err *err) {
    lt_llm_config cfg;
    LT_TRY(lt_llama_preset(preset, &cfg, err));
    return lt_llama_open_synthetic(out, &cfg, LT_F32, 1234, be, o, err);
}

/* ---- forward ---------------------------------------------------------------------------- */

static lt_status ensure_btab(lt_llama *m, size_t n, lt_err *err) {
    size_t bytes = n * sizeof(int32_t);
    if (bytes <= m->btab_bytes && n <= m->h_btab_cap) return LT_OK;
    size_t nb = bytes < 4096 ? 4096 : bytes * 2;
    if (m->btab_mem) lt_backend_release(m->base.be, m->btab_mem, m->btab_bytes, LT_MEM_SCRATCH);
    m->btab_mem = NULL;
    m->btab_bytes = 0;
    LT_TRY(lt_backend_alloc(m->base.be, nb, LT_MEM_SCRATCH, &m->btab_mem, err));
    m->btab_bytes = nb;
    lt_free(m->h_btab);
    m->h_btab = lt_malloc(nb);
    if (!m->h_btab) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    m->h_btab_cap = nb / sizeof(int32_t);
    return LT_OK;
}

/* The buffers of split attention (first use only; sized for max_batch rows). */
static lt_status ensure_split(lt_llama *m, bool host_copies, lt_err *err) {
    const lt_llm_config *c = &m->base.cfg;
    size_t rows = (size_t)m->max_batch, qw = (size_t)c->n_heads * c->head_dim;
    if (!m->split_mem) {
        size_t bytes = rows * (qw + 2 * (size_t)c->n_heads) * sizeof(float);
        LT_TRY(lt_backend_alloc(m->base.be, bytes, LT_MEM_SCRATCH, &m->split_mem, err));
        m->split_bytes = bytes;
    }
    if (host_copies && !m->h_split) {
        m->h_split = lt_malloc(rows * (2 * qw + (size_t)c->n_heads) * sizeof(float));
        if (!m->h_split) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    return LT_OK;
}

/* The device side of one chunk: persistent scratch tensors viewed at n rows, the metadata
 * already uploaded. */
typedef struct chunk_io {
    int t0; /* the chunk's first token in the batch (a probe's x_in/x_out rows) */
    int n, n_rows;
    bool qlast; /* copy the last token's queries to m->qlast */
    const lt_tensor *freqs; /* rope frequencies (m->freqs, or LongRoPE's long ones) */
    lt_tensor tok, pos, slots, rows;
    lt_attn_meta meta;
    /* split attention: some of the chunk's context is in the KV host pool */
    bool split;
    lt_attn_meta hmeta; /* the host part: host tensors, host block tables */
    lt_tensor lse, o2, lse2; /* device: the device part's lse, the host part's output and lse */
} chunk_io;

/* The host part of a layer's attention (the KV host pool's blocks, on its CPU backend),
 * merged into att, which holds the device part (whose lse is io->lse). */
static lt_status split_attention(lt_llama *m, lt_kv_cache *kv, int l, const chunk_io *io, const lt_tensor *q,
                                 lt_tensor *att, int window, lt_err *err) {
    lt_backend *be = m->base.be, *hb = lt_kv_host_backend(kv);
    lt_attn_meta hm = io->hmeta;
    hm.window = window;
    if (hb == be) { /* the CPU backend: q, o2 and lse2 are host memory already */
        lt_tensor o2 = io->o2, lse2 = io->lse2;
        hm.lse = &lse2;
        LT_TRY(lt_op_attention(hb, &o2, q, lt_kv_host_k(kv, l), lt_kv_host_v(kv, l), &hm, err));
    } else {
        const int64_t n = io->n, qw = lt_tensor_cols(q), H = lt_tensor_cols(&io->lse);
        lt_tensor hq = lt_tensor_2d(hb, LT_F32, m->h_split, n, qw);
        lt_tensor ho = lt_tensor_2d(hb, LT_F32, m->h_split + (size_t)m->max_batch * qw, n, qw);
        lt_tensor hl = lt_tensor_2d(hb, LT_F32, m->h_split + (size_t)m->max_batch * qw * 2, n, H);
        LT_TRY(lt_tensor_get(q, hq.data, lt_tensor_nbytes(&hq), err));
        hm.lse = &hl;
        LT_TRY(lt_op_attention(hb, &ho, &hq, lt_kv_host_k(kv, l), lt_kv_host_v(kv, l), &hm, err));
        lt_tensor o2 = io->o2, lse2 = io->lse2;
        LT_TRY(lt_tensor_set(&o2, ho.data, lt_tensor_nbytes(&ho), err));
        LT_TRY(lt_tensor_set(&lse2, hl.data, lt_tensor_nbytes(&hl), err));
    }
    lt_tensor lse = io->lse;
    return lt_op_attn_merge(be, att, &lse, &io->o2, &io->lse2, err);
}

/* The residual after a branch: x + y, or with a shortcut s (SliceGPT) x . s^T + y into the
 * other buffer, which then becomes x (x and xs swap: the same pointers on every step, so a
 * captured graph replays them). */
static lt_status shortcut_add(lt_llama *m, lt_tensor *x, lt_tensor *xs, const lt_tensor *s, const lt_tensor *v,
                              const lt_tensor *y, lt_err *err) {
    lt_backend *be = m->base.be;
    if (v->data) { /* low rank: x - (x V^T) V + y */
        LT_TRY(lt_op_lowrank(be, x, x, v, -1.0f, err));
        return lt_op_add(be, x, x, y, err);
    }
    if (!s->data) return lt_op_add(be, x, x, y, err);
    lt_tensor o = lt_tensor_2d(be, LT_F32, xs->data, lt_tensor_rows(x), s->shape[0]);
    LT_TRY(lt_op_matmul(be, &o, x, s, NULL, err));
    LT_TRY(lt_op_add(be, &o, &o, y, err));
    *xs = lt_tensor_2d(be, LT_F32, x->data, lt_tensor_rows(x), s->shape[0]);
    *x = o;
    return LT_OK;
}

/* The ops of a chunk, from the embedding to the logits of its rows, with no host transfer
 * in between (so a decode step can be recorded as one graph). */
static lt_status chunk_ops(lt_llama *m, lt_kv_cache *kv, const chunk_io *io, lt_err *err) {
    const lt_llm_config *c = &m->base.cfg;
    lt_backend *be = m->base.be;
    const int n = io->n;
    lt_tensor x = lt_tensor_row_view(&m->x, 0, n), xb = lt_tensor_row_view(&m->xb, 0, n);
    lt_tensor q = lt_tensor_row_view(&m->q, 0, n), k = lt_tensor_row_view(&m->k, 0, n);
    lt_tensor v = lt_tensor_row_view(&m->v, 0, n), att = lt_tensor_row_view(&m->att, 0, n);
    lt_tensor hb = lt_tensor_row_view(&m->hb, 0, n), hb2 = lt_tensor_row_view(&m->hb2, 0, n);
    lt_tensor xs = lt_tensor_row_view(&m->xs, 0, c->sliced ? n : 1);
    const lt_lm_probe *pr = m->base.probe;
    int l0 = pr ? pr->first : 0, l1 = pr ? pr->last : c->n_layers - 1;
    /* the residual's width before layer l0 (sliced models narrow it; x, xb, xs hold up to D) */
    const int64_t w0 = l0 == 0 ? lt_tensor_cols(&m->tok_emb) : m->layers[l0 - 1].c;
    x = lt_tensor_2d(be, LT_F32, x.data, n, w0);
    if (pr && pr->x_in) LT_TRY(lt_tensor_set(&x, pr->x_in + (size_t)io->t0 * w0, (size_t)n * w0 * sizeof(float), err));
    else LT_TRY(lt_op_get_rows(be, &x, &m->tok_emb, &io->tok, err));
    /* YaRN's and LongRoPE's attention factor multiplies cos and sin (transformers' attention_scaling,
     * ggml's attn_factor): the rotated dimensions of q and k grow by it, passed-through ones do not */
    const float ms = c->rope_attn_factor > 0 ? c->rope_attn_factor : 1.0f;
#define PROBE(which, t) \
    if (pr && pr->input) LT_TRY(pr->input(pr->ud, l, which, t, err))
    for (int l = l0; l <= l1; l++) {
        layer *L = &m->layers[l];
        xb = lt_tensor_2d(be, LT_F32, m->xb.data, n, L->a);
        LT_TRY(lt_op_rmsnorm(be, &xb, &x, &L->attn_norm, L->eps_attn, err));
        PROBE(LT_LIN_QKV, &xb);
        LT_TRY(lt_op_matmul(be, &q, &xb, &L->wq, L->bias ? &L->bq : NULL, err));
        LT_TRY(lt_op_matmul(be, &k, &xb, &L->wk, L->bias ? &L->bk : NULL, err));
        LT_TRY(lt_op_matmul(be, &v, &xb, &L->wv, L->bias ? &L->bv : NULL, err));
        LT_TRY(lt_op_rope(be, &q, &io->pos, io->freqs, c->n_heads, c->head_dim, c->rope_neox, ms, err));
        LT_TRY(lt_op_rope(be, &k, &io->pos, io->freqs, c->n_kv_heads, c->head_dim, c->rope_neox, ms, err));
        if (io->qlast) { /* queries of the batch's last token, read once after the chunk */
            size_t qb = (size_t)c->n_heads * c->head_dim * sizeof(float);
            LT_TRY(lt_tensor_copy_range(&m->qlast, (size_t)l * qb, &q, (size_t)(n - 1) * qb, qb, err));
        }
        LT_TRY(lt_op_kv_store(be, lt_kv_k(kv, l), lt_kv_v(kv, l), &k, &v, &io->slots, err));
        lt_attn_meta meta = io->meta;
        meta.window = L->window;
        lt_tensor lse = io->lse;
        if (io->split) meta.lse = &lse;
        meta.prompt_gemm = pr != NULL; /* calibration: by GEMMs (backend.h) */
        LT_TRY(lt_op_attention(be, &att, &q, lt_kv_k(kv, l), lt_kv_v(kv, l), &meta, err));
        if (io->split) LT_TRY(split_attention(m, kv, l, io, &q, &att, L->window, err));
        PROBE(LT_LIN_O, &att);
        xb = lt_tensor_2d(be, LT_F32, m->xb.data, n, L->b);
        LT_TRY(lt_op_matmul(be, &xb, &att, &L->wo, L->obias ? &L->bo : NULL, err));
        LT_TRY(shortcut_add(m, &x, &xs, &L->s_attn, &L->v_attn, &xb, err));
        if (pr && pr->mid) {
            LT_TRY(pr->mid(pr->ud, l, &x, err));
            if (pr->stop_after_mid && l == l1) return LT_OK;
        }
        LT_TRY(lt_op_rmsnorm(be, &xb, &x, &L->ffn_norm, L->eps_ffn, err));
        PROBE(LT_LIN_GATE_UP, &xb);
        LT_TRY(lt_op_matmul(be, &hb, &xb, &L->w_gate, L->mbias ? &L->b_gate : NULL, err));
        LT_TRY(lt_op_matmul(be, &hb2, &xb, &L->w_up, L->mbias ? &L->b_up : NULL, err));
        LT_TRY(lt_op_silu_mul(be, &hb, &hb, &hb2, err));
        PROBE(LT_LIN_DOWN, &hb);
        if (pr && pr->inputs_only && l == l1) return LT_OK;
        xb = lt_tensor_2d(be, LT_F32, m->xb.data, n, L->c);
        LT_TRY(lt_op_matmul(be, &xb, &hb, &L->w_down, L->mbias ? &L->b_down : NULL, err));
        LT_TRY(shortcut_add(m, &x, &xs, &L->s_ffn, &L->v_ffn, &xb, err));
    }
#undef PROBE
    if (pr && pr->head && l1 == c->n_layers - 1) { /* the head's input: the final norm of every row */
        xb = lt_tensor_2d(be, LT_F32, m->xb.data, n, lt_tensor_cols(&x));
        LT_TRY(lt_op_rmsnorm(be, &xb, &x, &m->out_norm, m->out_eps, err));
        LT_TRY(pr->head(pr->ud, &xb, err));
    }
    if (pr)
        return pr->x_out ? lt_tensor_get(&x, pr->x_out + (size_t)io->t0 * lt_tensor_cols(&x), lt_tensor_nbytes(&x), err)
                         : LT_OK;
    if (io->n_rows == 0) return LT_OK;
    lt_tensor xo = lt_tensor_2d(be, LT_F32, m->xo.data, io->n_rows, lt_tensor_cols(&x));
    lt_tensor lg = lt_tensor_row_view(&m->logits, 0, io->n_rows);
    LT_TRY(lt_op_get_rows(be, &xo, &x, &io->rows, err));
    LT_TRY(lt_op_rmsnorm(be, &xo, &xo, &m->out_norm, m->out_eps, err));
    return lt_op_matmul(be, &lg, &xo, &m->output, NULL, err);
}

static uint64_t kv_hash(lt_kv_cache *kv, int n_layers) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the pools' addresses */
    for (int l = 0; l < n_layers; l++) {
        uintptr_t p[2] = {(uintptr_t)lt_kv_k(kv, l)->data, (uintptr_t)lt_kv_v(kv, l)->data};
        for (int i = 0; i < 2; i++) h = (h ^ (uint64_t)p[i]) * 1099511628211ull;
    }
    return h;
}

static bool key_eq(const graph_key *a, const graph_key *b) {
    return a->valid && b->valid && a->kv == b->kv && a->btab == b->btab && a->max_blocks == b->max_blocks &&
           a->n_rows == b->n_rows && a->qlast == b->qlast && a->freqs == b->freqs;
}

/* A decode step through a graph: replay the one captured for this shape; a new shape runs
 * once uncaptured (so scratch buffers reach their size) and is captured the next time. A
 * failed capture turns graphs off for this model (the step then runs uncaptured). */
static lt_status graph_step(lt_llama *m, lt_kv_cache *kv, const chunk_io *io, lt_err *err) {
    lt_backend *be = m->base.be;
    graph_key k = {.kv = kv_hash(kv, m->base.cfg.n_layers), .btab = m->btab_mem,
                   .max_blocks = (int)io->meta.block_tables->shape[1], .n_rows = io->n_rows, .qlast = io->qlast,
                   .freqs = io->freqs, .valid = true};
    int e = -1, lru = 0;
    for (int i = 0; i < LT_LLAMA_GRAPHS && e < 0; i++) {
        if (key_eq(&k, &m->graphs[i].key)) e = i;
        else if (m->graphs[i].used < m->graphs[lru].used) lru = i;
    }
    if (e < 0) { /* a new shape: run it plainly once */
        m->graphs[lru].key = k;
        m->graphs[lru].captured = false;
        m->graphs[lru].used = ++m->graph_clock;
        return chunk_ops(m, kv, io, err);
    }
    m->graphs[e].used = ++m->graph_clock;
    if (!m->graphs[e].captured) {
        lt_err ce = {0};
        lt_status s = lt_backend_capture_begin(be, &ce);
        if (s == LT_OK) {
            s = chunk_ops(m, kv, io, &ce);
            lt_err ee = {0};
            lt_status se = lt_backend_capture_end(be, s == LT_OK ? &m->graphs[e].g : NULL, s == LT_OK ? &ce : &ee);
            if (s == LT_OK) s = se;
        }
        if (s != LT_OK) { /* nothing recorded has run: run the step plainly, and stay plain */
            m->graphs_off = true;
            for (int i = 0; i < LT_LLAMA_GRAPHS; i++) {
                lt_backend_graph_free(be, m->graphs[i].g);
                m->graphs[i].g = NULL;
                m->graphs[i].key.valid = m->graphs[i].captured = false;
            }
            snprintf(m->base.graph_off, sizeof m->base.graph_off, "%.191s", ce.msg);
            return chunk_ops(m, kv, io, err);
        }
        m->graphs[e].captured = true;
        m->base.graph_captures++;
    }
    LT_TRY(lt_backend_graph_launch(be, m->graphs[e].g, err));
    m->base.graph_replays++;
    return LT_OK;
}

/* Block-table width for a captured decode step: a power of two of at least 16 blocks, so
 * the shape changes only when the context doubles. */
static int graph_blocks(int nb) {
    int w = 16;
    while (w < nb && w < (1 << 24)) w *= 2;
    return w < nb ? nb : w;
}

/* One chunk: tokens [t0, t0+n) of the batch, all already validated and reserved. Rows that
 * want logits land in logits_out (host) starting at row *n_out. */
static lt_status run_chunk(lt_llama *m, lt_kv_cache *kv, const lt_batch *b, int t0, int n, const bool *want,
                           float *logits_out, int *n_out, lt_err *err) {
    const lt_llm_config *c = &m->base.cfg;
    lt_backend *be = m->base.be;
    int32_t *h_tok = m->h_i32, *h_pos = h_tok + m->max_batch, *h_slot = h_pos + m->max_batch,
            *h_seq = h_slot + m->max_batch, *h_ctx = h_seq + m->max_batch, *h_rows = h_ctx + m->max_batch;
    /* distinct sequences of the chunk, in order of first appearance */
    int32_t *seqs = h_rows + m->max_batch;
    int n_seqs = 0, max_blocks = 1, max_ctx = 1, n_rows = 0;
    bool split = false;
    for (int i = 0; i < n; i++) {
        int t = t0 + i, sq = b->seq[t], si = -1;
        for (int j = n_seqs - 1; j >= 0 && si < 0; j--)
            if (seqs[j] == sq) si = j;
        if (si < 0) {
            si = n_seqs;
            seqs[n_seqs++] = sq;
            int nb;
            lt_kv_block_table(kv, sq, &nb);
            if (nb > max_blocks) max_blocks = nb;
            if (lt_kv_host_blocks_total(kv) > 0 && lt_kv_seq_host_blocks(kv, sq) > 0) split = true;
        }
        h_tok[i] = b->tokens[t];
        h_pos[i] = b->rope_pos ? b->rope_pos[t] : b->pos[t]; /* rotary position */
        h_slot[i] = lt_kv_slot(kv, sq, b->pos[t]);
        h_seq[i] = si;
        h_ctx[i] = b->pos[t] + 1;
        if (h_ctx[i] > max_ctx) max_ctx = h_ctx[i];
        if (want[t]) h_rows[n_rows++] = i;
    }
    if (m->base.probe) n_rows = 0; /* a probe's forward stops at its last layer */
    const bool graph = n == 1 && !split && !m->base.probe && !m->graphs_off && lt_backend_can_capture(be);
    if (graph) {
        max_blocks = graph_blocks(max_blocks);
        max_ctx = max_blocks * lt_kv_block_size(kv); /* an upper bound plans the attention */
    }
    LT_TRY(ensure_btab(m, (size_t)n_seqs * max_blocks, err));
    lt_backend *hb = split ? lt_kv_host_backend(kv) : NULL;
    if (split) {
        LT_TRY(ensure_split(m, hb != be, err));
        size_t need = (size_t)n_seqs * max_blocks;
        if (need > m->h_hbtab_cap) {
            lt_free(m->h_hbtab);
            m->h_hbtab = lt_malloc(need * 2 * sizeof(int32_t));
            m->h_hbtab_cap = m->h_hbtab ? need * 2 : 0;
            if (!m->h_hbtab) return lt_err_set(err, LT_ENOMEM, "out of host memory");
        }
    }
    for (int j = 0; j < n_seqs; j++) {
        int nb;
        const int32_t *tab = lt_kv_block_table(kv, seqs[j], &nb);
        int32_t *dt = m->h_btab + (size_t)j * max_blocks;
        for (int i = 0; i < max_blocks; i++) dt[i] = i < nb ? tab[i] : 0;
        if (!split) continue;
        /* device entries stay, host ones (e < 0: host block -1 - e) go to the host table */
        int32_t *ht = m->h_hbtab + (size_t)j * max_blocks;
        for (int i = 0; i < max_blocks; i++) {
            ht[i] = i < nb && dt[i] < 0 ? -1 - dt[i] : -1;
            if (i < nb && dt[i] < 0) dt[i] = -1;
        }
    }
    chunk_io io = {.t0 = t0, .n = n, .n_rows = n_rows, .qlast = b->q_last && t0 + n == b->n_tokens};
    io.tok = lt_tensor_1d(be, LT_I32, m->t_tokens.data, n);
    io.pos = lt_tensor_1d(be, LT_I32, m->t_pos.data, n);
    io.slots = lt_tensor_1d(be, LT_I32, m->t_slots.data, n);
    io.rows = lt_tensor_1d(be, LT_I32, m->t_rows.data, n_rows);
    lt_tensor tseq = lt_tensor_1d(be, LT_I32, m->t_seq.data, n);
    lt_tensor tctx = lt_tensor_1d(be, LT_I32, m->t_ctx.data, n);
    lt_tensor btab = lt_tensor_2d(be, LT_I32, m->btab_mem, n_seqs, max_blocks);
    LT_TRY(lt_tensor_set(&io.tok, h_tok, n * 4, err));
    LT_TRY(lt_tensor_set(&io.pos, h_pos, n * 4, err));
    LT_TRY(lt_tensor_set(&io.slots, h_slot, n * 4, err));
    LT_TRY(lt_tensor_set(&tseq, h_seq, n * 4, err));
    LT_TRY(lt_tensor_set(&tctx, h_ctx, n * 4, err));
    LT_TRY(lt_tensor_set(&btab, m->h_btab, (size_t)n_seqs * max_blocks * 4, err));
    if (n_rows) LT_TRY(lt_tensor_set(&io.rows, h_rows, n_rows * 4, err));
    io.meta = (lt_attn_meta){
        .tok_seq = &tseq, .tok_ctx = &tctx, .block_tables = &btab,
        .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .head_dim = c->head_dim,
        .block_size = lt_kv_block_size(kv), .max_ctx = max_ctx,
        .scale = 1.0f / sqrtf((float)c->head_dim),
    };
    lt_tensor htseq, htctx, hbtab;
    if (split) {
        const int64_t H = c->n_heads, qw = (int64_t)c->n_heads * c->head_dim;
        io.split = true;
        io.lse = lt_tensor_2d(be, LT_F32, m->split_mem, n, H);
        io.o2 = lt_tensor_2d(be, LT_F32, (float *)m->split_mem + (size_t)m->max_batch * H, n, qw);
        io.lse2 = lt_tensor_2d(be, LT_F32, (float *)m->split_mem + (size_t)m->max_batch * (H + qw), n, H);
        htseq = lt_tensor_1d(hb, LT_I32, h_seq, n);
        htctx = lt_tensor_1d(hb, LT_I32, h_ctx, n);
        hbtab = lt_tensor_2d(hb, LT_I32, m->h_hbtab, n_seqs, max_blocks);
        io.hmeta = io.meta;
        io.hmeta.tok_seq = &htseq;
        io.hmeta.tok_ctx = &htctx;
        io.hmeta.block_tables = &hbtab;
    }
    /* LongRoPE's factors are chosen once for the context, as llama.cpp does (its n_ctx_seq >
     * n_ctx_orig_yarn): the long ones when the KV cache holds more than the original context
     * per sequence (lathe's ctx setting), the short ones otherwise. transformers instead
     * switches on the current length (positions + 1 > original), per forward call. */
    io.freqs = m->freqs_long.data && lt_kv_max_ctx(kv) > c->rope_orig_ctx ? &m->freqs_long : &m->freqs;

    LT_TRY(graph ? graph_step(m, kv, &io, err) : chunk_ops(m, kv, &io, err));
    if (io.qlast) LT_TRY(lt_tensor_get(&m->qlast, b->q_last, lt_tensor_nbytes(&m->qlast), err));
    if (n_rows == 0) return LT_OK;
    lt_tensor lg = lt_tensor_row_view(&m->logits, 0, n_rows);
    LT_TRY(lt_tensor_get(&lg, logits_out + (size_t)*n_out * c->n_vocab, lt_tensor_nbytes(&lg), err));
    *n_out += n_rows;
    return LT_OK;
}

/* Reserves the KV positions of tokens [t0, t0+n) of the batch (each sequence up to its
 * last position in the range + 1); end: per sequence, -1 on entry and on return. */
static lt_status reserve_range(lt_kv_cache *kv, const lt_batch *b, int t0, int n, int32_t *end, lt_err *err) {
    for (int t = t0; t < t0 + n; t++)
        if (b->pos[t] + 1 > end[b->seq[t]]) end[b->seq[t]] = b->pos[t] + 1;
    lt_status s = LT_OK;
    for (int t = t0; t < t0 + n; t++) {
        int sq = b->seq[t];
        if (end[sq] < 0) continue;
        if (s == LT_OK) s = lt_kv_seq_reserve(kv, sq, end[sq], err);
        end[sq] = -1;
    }
    return s;
}

static lt_status llama_forward(lt_lm *lm, lt_kv_cache *kv, const lt_batch *b, float *logits, lt_err *err) {
    lt_llama *m = (lt_llama *)lm;
    const lt_llm_config *c = &m->base.cfg;
    int n = b->n_tokens;
    if (n <= 0) return lt_err_set(err, LT_EINVAL, "forward: empty batch");
    int ns = lt_kv_max_seqs(kv);
    if (m->seq_next_cap < ns) {
        lt_free(m->seq_next);
        m->seq_next = lt_malloc((size_t)ns * 3 * sizeof(int32_t));
        if (!m->seq_next) {
            m->seq_next_cap = 0;
            return lt_err_set(err, LT_ENOMEM, "out of host memory");
        }
        m->seq_next_cap = ns;
    }
    int32_t *next = m->seq_next, *len0 = next + ns, *end = len0 + ns;
    for (int s = 0; s < ns; s++) next[s] = end[s] = -1;
    /* validate everything before touching the cache */
    for (int i = 0; i < n; i++) {
        int sq = b->seq[i];
        if (b->tokens[i] < 0 || b->tokens[i] >= c->n_vocab)
            return lt_err_set(err, LT_ERANGE, "forward: token id %d outside the vocabulary (0..%d)", b->tokens[i],
                              c->n_vocab - 1);
        if (!lt_kv_seq_valid(kv, sq)) return lt_err_set(err, LT_EINVAL, "forward: sequence %d does not exist", sq);
        if (next[sq] < 0) next[sq] = lt_kv_seq_len(kv, sq);
        if (b->pos[i] != next[sq])
            return lt_err_set(err, LT_EINVAL, "forward: token %d of sequence %d has position %d, expected %d", i, sq,
                              b->pos[i], next[sq]);
        next[sq]++;
    }
    for (int sq = 0; sq < ns; sq++) len0[sq] = next[sq] >= 0 ? lt_kv_seq_len(kv, sq) : -1;
    lt_status s = LT_OK;
    bool *want = lt_malloc((size_t)n);
    if (!want) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    for (int i = 0; i < n; i++) want[i] = b->logits ? b->logits[i] : (i == n - 1);
    /* Chunks of at most max_batch tokens, each reserved, run and committed in turn. With a
     * KV host pool a chunk that does not fit the device pool is halved (older blocks move to
     * the host as the chunks advance), so any context the two pools hold runs. */
    const bool halve = lt_kv_host_blocks_total(kv) > 0;
    int n_out = 0;
    for (int t0 = 0; t0 < n && s == LT_OK;) {
        int len = 0, rows = 0;
        while (t0 + len < n && len < m->max_batch) {
            if (want[t0 + len]) {
                if (rows == m->max_logits) break;
                rows++;
            }
            len++;
        }
        for (;;) {
            s = reserve_range(kv, b, t0, len, end, err);
            if (s == LT_ENOMEM && halve && len > 1) {
                len = (len + 1) / 2;
                continue;
            }
            break;
        }
        if (s == LT_OK) s = run_chunk(m, kv, b, t0, len, want, logits, &n_out, err);
        if (s == LT_OK) {
            for (int t = t0; t < t0 + len; t++) end[b->seq[t]] = b->pos[t] + 1;
            for (int t = t0; t < t0 + len; t++)
                if (end[b->seq[t]] >= 0) lt_kv_seq_commit(kv, b->seq[t], end[b->seq[t]]), end[b->seq[t]] = -1;
        }
        t0 += len;
    }
    lt_free(want);
    if (s != LT_OK) /* back to the lengths before the call; releases what it reserved */
        for (int sq = 0; sq < ns; sq++)
            if (len0[sq] >= 0) lt_kv_seq_truncate(kv, sq, len0[sq]);
    return s;
}

static lt_status llama_set_matrix(lt_lm *lm, int li, lt_lm_matrix which, const float *w, lt_err *err) {
    lt_llama *m = (lt_llama *)lm;
    if (li < 0 || li >= m->base.cfg.n_layers || which < 0 || which >= LT_MAT_COUNT)
        return lt_err_set(err, LT_EINVAL, "set matrix: no matrix %d in layer %d", (int)which, li);
    layer *L = &m->layers[li];
    lt_tensor *t[LT_MAT_COUNT] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    lt_tensor *d = t[which];
    int64_t rows = lt_tensor_rows(d), cols = lt_tensor_cols(d);
    if (d->dtype == LT_F32) return lt_tensor_set(d, w, (size_t)(rows * cols) * sizeof(float), err);
    const lt_dtype dt = lt_dtype_plain(d->dtype); /* q4_0_r8: quantized to q4_0, then packed */
    size_t rb = lt_row_bytes(dt, cols);
    char *buf = lt_malloc(rb * (size_t)rows);
    if (!buf) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    for (int64_t r = 0; r < rows; r++) lt_dtype_row_from_f32(dt, w + r * cols, buf + (size_t)r * rb, cols);
    lt_status s = dt != d->dtype ? set_packed(d, 0, buf, rows, err) : lt_tensor_set(d, buf, rb * (size_t)rows, err);
    lt_free(buf);
    return s;
}

/* ---- synthetic models --------------------------------------------------------------------- */

typedef struct preset {
    const char *name;
    int32_t dim, hidden, layers, heads, kv_heads, vocab, ctx;
    float theta;
    bool tied;
} preset;

static const preset k_presets[] = {
    {"tiny", 96, 160, 3, 6, 2, 320, 256, 10000.0f, false},
    {"small", 512, 1376, 8, 8, 8, 512, 4096, 10000.0f, false},          /* ~25M, long context (workbench tests) */
    {"llama-1b", 2048, 5632, 22, 32, 4, 32000, 2048, 10000.0f, false},     /* TinyLlama 1.1B */
    {"llama-7b", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0f, false},   /* Llama 2 7B */
    {"llama-8b", 4096, 14336, 32, 32, 8, 128256, 8192, 500000.0f, false},  /* Llama 3 8B */
};

lt_status lt_llama_preset(const char *name, lt_llm_config *cfg, lt_err *err) {
    for (size_t i = 0; i < sizeof k_presets / sizeof k_presets[0]; i++) {
        const preset *p = &k_presets[i];
        if (strcmp(p->name, name)) continue;
        memset(cfg, 0, sizeof *cfg);
        snprintf(cfg->arch, sizeof cfg->arch, "llama");
        snprintf(cfg->name, sizeof cfg->name, "synthetic %s", name);
        cfg->dim = p->dim;
        cfg->hidden_dim = p->hidden;
        cfg->n_layers = p->layers;
        cfg->n_heads = p->heads;
        cfg->n_kv_heads = p->kv_heads;
        cfg->head_dim = p->dim / p->heads;
        cfg->n_vocab = p->vocab;
        cfg->max_seq = p->ctx;
        cfg->norm_eps = 1e-5f;
        cfg->rope_theta = p->theta;
        cfg->tied_embeddings = p->tied;
        return LT_OK;
    }
    return lt_err_set(err, LT_ENOTFOUND, "unknown synthetic model '%s' (tiny, llama-1b, llama-7b, llama-8b)", name);
}

static lt_status synth_add(lt_modelsrc *src, uint64_t *seed, const char *name, int64_t d0, int64_t d1, bool norm,
                           lt_err *err) {
    int64_t n = d0 * (d1 ? d1 : 1);
    float *buf = lt_malloc((size_t)n * sizeof(float));
    if (!buf) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    float scale = 1.0f / sqrtf((float)(d1 ? d1 : d0));
    for (int64_t i = 0; i < n; i++) buf[i] = norm ? 1.0f + 0.1f * rng_normal(seed) : scale * rng_normal(seed);
    int64_t shape[2] = {d0, d1};
    lt_status s = lt_modelsrc_add_owned(src, name, LT_F32, d1 ? 2 : 1, shape, buf, err);
    lt_free(buf);
    return s;
}

lt_status lt_llama_synthetic(lt_modelsrc **out, const lt_llm_config *c, lt_vocab *vocab, uint64_t seed,
                             lt_err *err) {
    *out = NULL;
    lt_status s0 = lt_llm_config_validate(c, c->name, err);
    if (s0 != LT_OK) {
        lt_vocab_free(vocab);
        return s0;
    }
    lt_modelsrc *src;
    LT_TRY(lt_modelsrc_create(&src, c, vocab, c->name, err));
    int64_t D = c->dim, F = c->hidden_dim, V = c->n_vocab;
    int64_t QW = (int64_t)c->n_heads * c->head_dim, KW = (int64_t)c->n_kv_heads * c->head_dim;
    char name[96];
    lt_status s = LT_OK;
#define ADD(d0, d1, norm, ...)                                                               \
    do {                                                                                 \
        snprintf(name, sizeof name, __VA_ARGS__);                                        \
        if (s == LT_OK) s = synth_add(src, &seed, name, d0, d1, norm, err);              \
    } while (0)
    ADD(V, D, false, "token_embd.weight");
    ADD(D, 0, true, "output_norm.weight");
    if (!c->tied_embeddings) ADD(V, D, false, "output.weight");
    for (int l = 0; l < c->n_layers; l++) {
        ADD(D, 0, true, "blk.%d.attn_norm.weight", l);
        ADD(QW, D, false, "blk.%d.attn_q.weight", l);
        ADD(KW, D, false, "blk.%d.attn_k.weight", l);
        ADD(KW, D, false, "blk.%d.attn_v.weight", l);
        ADD(D, QW, false, "blk.%d.attn_output.weight", l);
        ADD(D, 0, true, "blk.%d.ffn_norm.weight", l);
        ADD(F, D, false, "blk.%d.ffn_gate.weight", l);
        ADD(F, D, false, "blk.%d.ffn_up.weight", l);
        ADD(D, F, false, "blk.%d.ffn_down.weight", l);
        if (c->qkv_bias) {
            ADD(QW, 0, false, "blk.%d.attn_q.bias", l);
            ADD(KW, 0, false, "blk.%d.attn_k.bias", l);
            ADD(KW, 0, false, "blk.%d.attn_v.bias", l);
        }
        if (c->attn_out_bias) ADD(D, 0, false, "blk.%d.attn_output.bias", l);
        if (c->mlp_bias) {
            ADD(F, 0, false, "blk.%d.ffn_gate.bias", l);
            ADD(F, 0, false, "blk.%d.ffn_up.bias", l);
            ADD(D, 0, false, "blk.%d.ffn_down.bias", l);
        }
    }
#undef ADD
    if (s != LT_OK) {
        lt_modelsrc_close(src);
        return s;
    }
    *out = src;
    return LT_OK;
}
