/* test_graph.c - decode steps recorded as graphs (the CUDA-graph path of models/llama.c),
 * checked on any machine through a recording backend.
 *
 * "rec" wraps the CPU backend and implements op capture the way CUDA stream capture
 * behaves: while capturing, ops are recorded (arguments copied, nothing computed); a launch
 * replays the records on the CPU, reading whatever the tensors hold then; a capture into an
 * existing graph replaces its records (CUDA's in-place update). Model code cannot tell it
 * from CUDA, so this checks everything but the CUDA calls themselves:
 *  - decoding through graphs gives bit-identical logits to plain decoding on the CPU, across
 *    a block-table bucket change, for two sequences sharing a graph, with q_last, f32 and q8_0;
 *  - one uncaptured warm-up step per shape, then one capture, then replays;
 *  - host transfers, syncs and allocations during a capture are refused with a clear error;
 *  - a capture that fails turns graphs off, and the step still computes the right logits;
 *  - LATHE_GRAPHS=0 keeps graphs off.
 */
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/backend/backend_impl.h"
#include "core/llm/sampler.h"
#include "models/llama.h"
#include "testutil.h"

/* ---- the recording backend ------------------------------------------------------------------ */

typedef enum { R_GET_ROWS, R_MATMUL, R_RMSNORM, R_ROPE, R_SILU, R_ADD, R_KV_STORE, R_ATTN, R_COPY } rkind;

typedef struct rec {
    rkind k;
    lt_tensor t[5];
    bool has[5];
    lt_tensor mt[3]; /* attention metadata tensors */
    lt_attn_meta meta;
    float eps;
    int a, b;
    bool neox;
    void *dst;
    const void *src;
    size_t bytes;
} rec;

struct lt_graph {
    rec *r;
    int n, cap;
};

typedef struct rb {
    lt_backend head;
    lt_backend *cpu;
    lt_backend_ops ops;
    lt_graph *cur; /* being recorded */
    int begins, captures, updates, launches, replayed_ops;
    bool fail_end; /* the next capture_end fails, as a CUDA capture can */
} rb;

static rb *rb_of(lt_backend *be) { return (rb *)be; }

static lt_status push(lt_backend *be, const rec *r, lt_err *err) {
    lt_graph *g = rb_of(be)->cur;
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 256;
        rec *n = realloc(g->r, (size_t)cap * sizeof *n);
        if (!n) return lt_err_set(err, LT_ENOMEM, "out of memory");
        g->r = n;
        g->cap = cap;
    }
    g->r[g->n++] = *r;
    return LT_OK;
}

static void put(rec *r, int i, const lt_tensor *t) {
    if (t) r->t[i] = *t;
    r->has[i] = t != NULL;
}
#define T(r, i) ((r)->has[i] ? &(r)->t[i] : NULL)

static lt_status run_rec(rb *b, rec *r, lt_err *err) {
    lt_backend *c = b->cpu;
    const lt_backend_ops *o = c->ops;
    switch (r->k) {
    case R_GET_ROWS: return o->get_rows(c, T(r, 0), T(r, 1), T(r, 2), err);
    case R_MATMUL: return o->matmul(c, T(r, 0), T(r, 1), T(r, 2), T(r, 3), err);
    case R_RMSNORM: return o->rmsnorm(c, T(r, 0), T(r, 1), T(r, 2), r->eps, err);
    case R_ROPE: return o->rope(c, T(r, 0), T(r, 1), T(r, 2), r->a, r->b, r->neox, r->eps, err);
    case R_SILU: return o->silu_mul(c, T(r, 0), T(r, 1), T(r, 2), err);
    case R_ADD: return o->add(c, T(r, 0), T(r, 1), T(r, 2), err);
    case R_KV_STORE: return o->kv_store(c, T(r, 0), T(r, 1), T(r, 2), T(r, 3), T(r, 4), err);
    case R_ATTN: {
        lt_attn_meta m = r->meta;
        m.tok_seq = &r->mt[0];
        m.tok_ctx = &r->mt[1];
        m.block_tables = &r->mt[2];
        return o->attention(c, T(r, 0), T(r, 1), T(r, 2), T(r, 3), &m, err);
    }
    case R_COPY: return o->copy(c, r->dst, r->src, r->bytes, err);
    }
    return LT_OK;
}

/* Each op: recorded while capturing, else run on the CPU. */
#define REC_OR_RUN(be, r, err)                                                                 \
    do {                                                                                       \
        if ((be)->capturing) return push((be), &(r), (err));                                  \
        return run_rec(rb_of(be), &(r), (err));                                                \
    } while (0)

static lt_status r_get_rows(lt_backend *be, lt_tensor *y, const lt_tensor *tab, const lt_tensor *ids, lt_err *err) {
    rec r = {.k = R_GET_ROWS};
    put(&r, 0, y), put(&r, 1, tab), put(&r, 2, ids);
    REC_OR_RUN(be, r, err);
}
static lt_status r_matmul(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *bias,
                          lt_err *err) {
    rec r = {.k = R_MATMUL};
    put(&r, 0, y), put(&r, 1, x), put(&r, 2, w), put(&r, 3, bias);
    REC_OR_RUN(be, r, err);
}
static lt_status r_rmsnorm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, float eps,
                           lt_err *err) {
    rec r = {.k = R_RMSNORM, .eps = eps};
    put(&r, 0, y), put(&r, 1, x), put(&r, 2, w);
    REC_OR_RUN(be, r, err);
}
static lt_status r_rope(lt_backend *be, lt_tensor *x, const lt_tensor *pos, const lt_tensor *freqs, int nh, int hd,
                        bool neox, float scale, lt_err *err) {
    rec r = {.k = R_ROPE, .a = nh, .b = hd, .neox = neox, .eps = scale};
    put(&r, 0, x), put(&r, 1, pos), put(&r, 2, freqs);
    REC_OR_RUN(be, r, err);
}
static lt_status r_silu(lt_backend *be, lt_tensor *y, const lt_tensor *g, const lt_tensor *u, lt_err *err) {
    rec r = {.k = R_SILU};
    put(&r, 0, y), put(&r, 1, g), put(&r, 2, u);
    REC_OR_RUN(be, r, err);
}
static lt_status r_add(lt_backend *be, lt_tensor *y, const lt_tensor *a, const lt_tensor *b, lt_err *err) {
    rec r = {.k = R_ADD};
    put(&r, 0, y), put(&r, 1, a), put(&r, 2, b);
    REC_OR_RUN(be, r, err);
}
static lt_status r_kv_store(lt_backend *be, lt_tensor *kc, lt_tensor *vc, const lt_tensor *k, const lt_tensor *v,
                            const lt_tensor *slots, lt_err *err) {
    rec r = {.k = R_KV_STORE};
    put(&r, 0, kc), put(&r, 1, vc), put(&r, 2, k), put(&r, 3, v), put(&r, 4, slots);
    REC_OR_RUN(be, r, err);
}
static lt_status r_attention(lt_backend *be, lt_tensor *out, const lt_tensor *q, const lt_tensor *kc,
                             const lt_tensor *vc, const lt_attn_meta *m, lt_err *err) {
    rec r = {.k = R_ATTN, .meta = *m};
    put(&r, 0, out), put(&r, 1, q), put(&r, 2, kc), put(&r, 3, vc);
    r.mt[0] = *m->tok_seq, r.mt[1] = *m->tok_ctx, r.mt[2] = *m->block_tables;
    REC_OR_RUN(be, r, err);
}
static lt_status r_copy(lt_backend *be, void *dst, const void *src, size_t bytes, lt_err *err) {
    rec r = {.k = R_COPY, .dst = dst, .src = src, .bytes = bytes};
    REC_OR_RUN(be, r, err);
}

/* memory and transfers: straight to the CPU backend (core/backend/ refuses them while
   capturing, which is what this test checks) */
static lt_status r_mem_info(lt_backend *be, size_t *f, size_t *t, lt_err *err) {
    return rb_of(be)->cpu->ops->mem_info(rb_of(be)->cpu, f, t, err);
}
static lt_status r_alloc(lt_backend *be, size_t n, lt_mem_cat cat, void **out, lt_err *err) {
    return rb_of(be)->cpu->ops->alloc(rb_of(be)->cpu, n, cat, out, err);
}
static void r_release(lt_backend *be, void *p) { rb_of(be)->cpu->ops->release(rb_of(be)->cpu, p); }
static lt_status r_set(lt_backend *be, void *d, const void *h, size_t n, lt_err *err) {
    return rb_of(be)->cpu->ops->set(rb_of(be)->cpu, d, h, n, err);
}
static lt_status r_get(lt_backend *be, void *h, const void *s, size_t n, lt_err *err) {
    return rb_of(be)->cpu->ops->get(rb_of(be)->cpu, h, s, n, err);
}

static void graph_free(lt_backend *be, lt_graph *g) {
    (void)be;
    free(g->r);
    free(g);
}

static lt_status r_capture_begin(lt_backend *be, lt_err *err) {
    rb *b = rb_of(be);
    b->cur = calloc(1, sizeof *b->cur);
    if (!b->cur) return lt_err_set(err, LT_ENOMEM, "out of memory");
    b->begins++;
    return LT_OK;
}

static lt_status r_capture_end(lt_backend *be, lt_graph **g, lt_err *err) {
    rb *b = rb_of(be);
    lt_graph *cur = b->cur;
    b->cur = NULL;
    if (!g) {
        graph_free(be, cur);
        return LT_OK;
    }
    if (b->fail_end) {
        b->fail_end = false;
        graph_free(be, cur);
        return lt_err_set(err, LT_EDEVICE, "rec: capture invalidated (simulated)");
    }
    if (*g) { /* in-place update */
        free((*g)->r);
        **g = *cur;
        free(cur);
        b->updates++;
    } else {
        *g = cur;
    }
    b->captures++;
    return LT_OK;
}

static lt_status r_graph_launch(lt_backend *be, lt_graph *g, lt_err *err) {
    rb *b = rb_of(be);
    b->launches++;
    for (int i = 0; i < g->n; i++) {
        LT_TRY(run_rec(b, &g->r[i], err));
        b->replayed_ops++;
    }
    return LT_OK;
}

static void r_destroy(lt_backend *be) {
    rb *b = rb_of(be);
    lt_backend_free(b->cpu);
    free(b);
}

static rb *rb_create(void) {
    rb *b = calloc(1, sizeof *b);
    lt_err err;
    LT_ASSERT(b && lt_backend_create(&b->cpu, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    b->ops = *b->cpu->ops;
    b->ops.name = "rec";
    b->ops.destroy = r_destroy;
    b->ops.mem_info = r_mem_info;
    b->ops.alloc = r_alloc;
    b->ops.release = r_release;
    b->ops.set = r_set;
    b->ops.get = r_get;
    b->ops.copy = r_copy;
    b->ops.sync = NULL;
    b->ops.get_rows = r_get_rows;
    b->ops.matmul = r_matmul;
    b->ops.rmsnorm = r_rmsnorm;
    b->ops.rope = r_rope;
    b->ops.silu_mul = r_silu;
    b->ops.add = r_add;
    b->ops.kv_store = r_kv_store;
    b->ops.attention = r_attention;
    b->ops.capture_begin = r_capture_begin;
    b->ops.capture_end = r_capture_end;
    b->ops.graph_launch = r_graph_launch;
    b->ops.graph_free = graph_free;
    b->head.ops = &b->ops;
    snprintf(b->head.device, sizeof b->head.device, "recording CPU");
    b->head.n_threads = b->cpu->n_threads;
    return b;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

static lt_lm *open_synth(lt_backend *be, lt_dtype dt, int vocab) {
    lt_err err;
    lt_llm_config cfg;
    LT_ASSERT(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.n_vocab = vocab;
    cfg.max_seq = 1024;
    lt_lm *m;
    if (lt_llama_open_synthetic(&m, &cfg, dt, 99, be, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return m;
}

static lt_kv_cache *make_kv(lt_lm *m, lt_backend *be) {
    lt_err err;
    lt_kv_opts ko = lt_lm_kv_opts(m, 1024, 4);
    ko.block_size = 16;
    lt_kv_cache *kv;
    if (lt_kv_create(&kv, be, &ko, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return kv;
}

/* One token of sequence seq at its current length; logits (and optionally q_last). */
static lt_status step(lt_lm *m, lt_kv_cache *kv, int seq, int32_t tok, float *logits, float *qlast, lt_err *err) {
    int32_t pos = lt_kv_seq_len(kv, seq);
    lt_batch b = {.n_tokens = 1, .tokens = &tok, .seq = &seq, .pos = &pos, .q_last = qlast};
    return lt_lm_forward(m, kv, &b, logits, err);
}

/* ---- tests ---------------------------------------------------------------------------------------- */

/* Plain CPU decoding vs graph decoding: two sequences (the second forked from the first's
 * prompt) alternating past 256 positions each (block tables of 16, then 32 blocks), then
 * the first alone past 512 (64 blocks); every 7th step also wants q_last. */
static void test_equal(lt_dtype dt) {
    const int V = 96, STEPS = 600, SOLO = 220;
    lt_err err;
    lt_backend *cpu;
    LT_ASSERT(lt_backend_create(&cpu, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    rb *r = rb_create();
    lt_lm *a = open_synth(cpu, dt, V), *g = open_synth(&r->head, dt, V);
    lt_kv_cache *ka = make_kv(a, cpu), *kg = make_kv(g, &r->head);
    const int L = a->cfg.n_layers, QW = a->cfg.n_heads * a->cfg.head_dim;
    int sa0, sa1, sg0, sg1;
    LT_ASSERT(lt_kv_seq_new(ka, &sa0, &err) == LT_OK && lt_kv_seq_new(kg, &sg0, &err) == LT_OK);
    int32_t prompt[5] = {1, 7, 23, 5, 60};
    float *la = lt_malloc(sizeof(float) * V), *lg = lt_malloc(sizeof(float) * V);
    float *qa = lt_malloc(sizeof(float) * L * QW), *qg = lt_malloc(sizeof(float) * L * QW);
    LT_ASSERT(lt_lm_eval(a, ka, sa0, prompt, 5, false, la, &err) == LT_OK);
    LT_ASSERT(lt_lm_eval(g, kg, sg0, prompt, 5, false, lg, &err) == LT_OK);
    CHECK(!memcmp(la, lg, sizeof(float) * V));
    LT_ASSERT(lt_kv_seq_fork(ka, sa0, &sa1, &err) == LT_OK && lt_kv_seq_fork(kg, sg0, &sg1, &err) == LT_OK);
    int32_t next[2] = {lt_argmax(la, V), (lt_argmax(la, V) + 1) % V};
    int bad = 0, bad_q = 0;
    for (int i = 0; i < STEPS + SOLO; i++) {
        int w = i < STEPS ? i % 2 : 0; /* which sequence */
        bool wantq = i % 7 == 3;
        lt_status s1 = step(a, ka, w ? sa1 : sa0, next[w], la, wantq ? qa : NULL, &err);
        lt_status s2 = step(g, kg, w ? sg1 : sg0, next[w], lg, wantq ? qg : NULL, &err);
        LT_ASSERT(s1 == LT_OK && s2 == LT_OK);
        if (memcmp(la, lg, sizeof(float) * V)) bad++;
        if (wantq && memcmp(qa, qg, sizeof(float) * L * QW)) bad_q++;
        next[w] = lt_argmax(la, V);
    }
    CHECK(lt_kv_seq_len(kg, sg0) > 512 && lt_kv_seq_len(kg, sg1) > 256);
    CHECKF(bad == 0, "%s: %d of %d steps differ from plain decoding", lt_dtype_name(dt), bad, STEPS + SOLO);
    CHECKF(bad_q == 0, "%s: q_last differs in %d steps", lt_dtype_name(dt), bad_q);
    /* six shapes: 16, 32 and 64 blocks, each with and without q_last; four graphs are kept,
       so the last two shapes recapture into evicted entries (in-place updates) */
    CHECKF(g->graph_captures == 6, "%lld captures", (long long)g->graph_captures);
    CHECKF(r->updates == 2, "%d updates", r->updates);
    CHECKF(g->graph_replays >= STEPS + SOLO - 12, "%lld of %d steps replayed a graph", (long long)g->graph_replays,
           STEPS + SOLO);
    CHECK(r->launches == g->graph_replays);
    CHECK(r->replayed_ops > 0);
    CHECK(g->graph_off[0] == 0);
    CHECK(a->graph_replays == 0); /* the CPU backend does not capture */
    lt_free(la), lt_free(lg), lt_free(qa), lt_free(qg);
    lt_kv_free(ka), lt_kv_free(kg);
    lt_lm_close(a), lt_lm_close(g);
    lt_backend_free(cpu);
    lt_backend_free(&r->head);
}

/* Transfers during a capture are refused; an abandoned capture leaves the backend usable. */
static void test_refusals(void) {
    rb *r = rb_create();
    lt_backend *be = &r->head;
    lt_err err;
    void *mem;
    LT_ASSERT(lt_backend_alloc(be, 64, LT_MEM_OTHER, &mem, &err) == LT_OK);
    lt_tensor t = lt_tensor_1d(be, LT_F32, mem, 16);
    float h[16] = {0};
    CHECK(lt_backend_can_capture(be));
    CHECK(lt_backend_capture_begin(be, &err) == LT_OK);
    CHECK(lt_backend_capture_begin(be, &err) == LT_EINVAL); /* no nesting */
    CHECK(lt_tensor_set(&t, h, sizeof h, &err) == LT_EINVAL && strstr(err.msg, "captured"));
    CHECK(lt_tensor_get(&t, h, sizeof h, &err) == LT_EINVAL);
    CHECK(lt_backend_sync(be, &err) == LT_EINVAL);
    void *m2 = NULL;
    CHECK(lt_backend_alloc(be, 64, LT_MEM_OTHER, &m2, &err) == LT_EINVAL && m2 == NULL);
    CHECK(lt_backend_capture_end(be, NULL, &err) == LT_OK);
    CHECK(lt_backend_capture_end(be, NULL, &err) == LT_EINVAL); /* not capturing */
    h[3] = 5.0f;
    CHECK(lt_tensor_set(&t, h, sizeof h, &err) == LT_OK);
    lt_backend_release(be, mem, 64, LT_MEM_OTHER);
    lt_backend_free(be);

    lt_backend *cpu;
    LT_ASSERT(lt_backend_create(&cpu, "cpu", NULL, &err) == LT_OK);
    CHECK(!lt_backend_can_capture(cpu));
    CHECK(lt_backend_capture_begin(cpu, &err) == LT_EUNSUPPORTED);
    lt_backend_free(cpu);
}

/* A capture that fails (as a CUDA capture may) turns graphs off; logits stay right. Also
 * LATHE_GRAPHS=0. */
static void test_fallback(void) {
    const int V = 64;
    lt_err err;
    lt_backend *cpu;
    LT_ASSERT(lt_backend_create(&cpu, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    for (int mode = 0; mode < 2; mode++) {
        rb *r = rb_create();
        if (mode == 0) r->fail_end = true;
        else setenv("LATHE_GRAPHS", "0", 1);
        lt_lm *a = open_synth(cpu, LT_F32, V), *g = open_synth(&r->head, LT_F32, V);
        unsetenv("LATHE_GRAPHS");
        lt_kv_cache *ka = make_kv(a, cpu), *kg = make_kv(g, &r->head);
        int sa, sg;
        LT_ASSERT(lt_kv_seq_new(ka, &sa, &err) == LT_OK && lt_kv_seq_new(kg, &sg, &err) == LT_OK);
        float la[64], lg[64];
        int32_t tok = 3, bad = 0;
        for (int i = 0; i < 20; i++) {
            LT_ASSERT(step(a, ka, sa, tok, la, NULL, &err) == LT_OK);
            LT_ASSERT(step(g, kg, sg, tok, lg, NULL, &err) == LT_OK);
            if (memcmp(la, lg, sizeof la)) bad++;
            tok = lt_argmax(la, V);
        }
        CHECKF(bad == 0, "mode %d: %d steps differ", mode, bad);
        CHECK(g->graph_replays == 0 && r->launches == 0);
        if (mode == 0) CHECKF(strstr(g->graph_off, "simulated") != NULL, "graph_off '%s'", g->graph_off);
        CHECK(r->begins == (mode == 0 ? 1 : 0)); /* no second try after a failure */
        lt_kv_free(ka), lt_kv_free(kg);
        lt_lm_close(a), lt_lm_close(g);
        lt_backend_free(&r->head);
    }
    lt_backend_free(cpu);
}

int main(void) {
    test_refusals();
    test_equal(LT_F32);
    test_equal(LT_Q8_0);
    test_fallback();
    return lt_test_done();
}
