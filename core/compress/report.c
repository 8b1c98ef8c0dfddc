/* report.c - see report.h. */
#include "report.h"

#include <stdio.h>
#include <string.h>

#include "core/llm/bench.h"
#include "core/llm/ppl.h"

typedef struct rctx {
    const lt_creport_opts *o;
    int model, n_models, stage; /* stage 0..2 */
    bool cancelled;
} rctx;

static bool tell(rctx *c, double f) {
    static const char *const names[3] = {"ppl", "ppl all", "bench"};
    lt_creport_event e = {c->model, c->n_models, names[c->stage], (c->model * 3 + c->stage + f) / (3.0 * c->n_models)};
    if (c->o->progress && !c->o->progress(c->o->ud, &e)) c->cancelled = true;
    return !c->cancelled;
}
static bool on_ppl(void *ud, const lt_ppl_progress *p) { return tell(ud, p->frac); }
static bool on_bench(void *ud, const lt_bench_progress *p) { return tell(ud, p->frac); }

static void size_of(const lt_creport_model *m, lt_creport_row *row) {
    if (m->src) {
        for (int i = 0; i < lt_modelsrc_n_tensors(m->src); i++) {
            const lt_src_tensor *t = lt_modelsrc_tensor(m->src, i);
            uint64_t ne = 1;
            for (int d = 0; d < t->ndim; d++) ne *= (uint64_t)t->shape[d];
            row->n_weights += ne;
            row->bytes += t->nbytes;
        }
    } else {
        const lt_llm_config *c = lt_lm_config(m->lm);
        const double D = c->dim, QW = (double)c->n_heads * c->head_dim, KW = (double)c->n_kv_heads * c->head_dim;
        row->n_weights = m->lm->slice_widths ? m->lm->n_params /* counted at load (a sliced model's widths) */
                                         : (uint64_t)(c->n_layers * (D * QW * 2 + D * KW * 2 + 3 * D * c->hidden_dim) +
                                                      (double)c->n_vocab * D);
        row->bytes = m->lm->weight_bytes;
    }
    row->bpw = row->n_weights ? row->bytes * 8.0 / (double)row->n_weights : 0;
}

lt_status lt_creport_run(const lt_creport_model *m, int n, const lt_creport_opts *o, lt_creport *r, lt_err *err) {
    memset(r, 0, sizeof *r);
    if (n < 1 || n > LT_CREPORT_MAX)
        return lt_err_set(err, LT_EINVAL, "compare: 1 to %d models, not %d", LT_CREPORT_MAX, n);
    const int nv = lt_lm_config(m[0].lm)->n_vocab;
    for (int i = 1; i < n; i++)
        if (lt_lm_config(m[i].lm)->n_vocab != nv)
            return lt_err_set(err, LT_EINVAL, "compare: '%s' has a vocabulary of %d tokens, '%s' %d", m[i].name,
                              lt_lm_config(m[i].lm)->n_vocab, m[0].name, nv);
    rctx c = {.o = o, .n_models = n};
    r->n_prompt = o->n_prompt > 0 ? o->n_prompt : 64;
    r->n_gen = o->n_gen == 0 ? 32 : o->n_gen;
    for (int i = 0; i < n; i++) {
        lt_creport_row *row = &r->rows[i];
        snprintf(row->name, sizeof row->name, "%s", m[i].name);
        size_of(&m[i], row);
        c.model = i;
        lt_ppl_opts po = {.ctx = o->ctx, .n_chunks = o->n_chunks, .batch = o->batch, .bos = o->bos,
                          .base = m[0].lm, .base_kv = m[0].kv, .progress = on_ppl, .ud = &c};
        lt_ppl_result pr;
        c.stage = 0;
        LT_TRY(lt_ppl_eval(m[i].lm, m[i].kv, o->ids, o->n_ids, &po, &pr, err));
        row->ppl = pr.ppl, row->ppl_stderr = pr.ppl_stderr;
        row->kld = pr.has_kld ? pr.kld_mean : 0, row->kld_stderr = pr.has_kld ? pr.kld_stderr : 0;
        row->top1 = pr.has_kld ? pr.top1 : 1;
        r->ctx = pr.ctx, r->n_chunks = pr.n_chunks;
        po.base = NULL, po.base_kv = NULL, po.all_tokens = true;
        c.stage = 1;
        LT_TRY(lt_ppl_eval(m[i].lm, m[i].kv, o->ids, o->n_ids, &po, &pr, err));
        row->ppl_all = pr.ppl;
        c.stage = 2;
        if (r->n_gen < 0) continue;
        if (!tell(&c, 0)) return lt_err_set(err, LT_ECANCELLED, "compare cancelled");
        lt_bench_opts bo = {.n_prompt = r->n_prompt, .n_gen = r->n_gen, .warmup = true, .progress = on_bench,
                            .ud = &c, .report_s = 0.25};
        lt_bench_result br;
        LT_TRY(lt_bench_lm(m[i].lm, m[i].kv, &bo, &br, err));
        if (br.cancelled) return lt_err_set(err, LT_ECANCELLED, "compare cancelled");
        row->prefill_tps = br.prefill_tps, row->decode_tps = br.decode_tps;
    }
    r->n = n;
    return LT_OK;
}

/* v with as many of dec decimals as fit in w characters (more when even none fit) */
static const char *num(char b[16], double v, int w, int dec) {
    do snprintf(b, 16, "%.*f", dec, v);
    while ((int)strlen(b) > w && dec-- > 0);
    return b;
}

size_t lt_creport_format(const lt_creport *r, char *buf, size_t cap) {
    size_t len = 0;
#define OUT(...)                                                                                                     \
    do {                                                                                                             \
        int k_ = snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0, __VA_ARGS__);                    \
        if (k_ > 0) len += (size_t)k_;                                                                               \
    } while (0)
    if (cap) buf[0] = 0;
    /* 80 columns: a name of up to 15 characters, then 64 of numbers; a longer name gets a line
       of its own with the numbers under it */
    OUT("%-15s %7s %5s %8s %8s %8s %6s %7s %7s\n", "model", "MiB", "bpw", "ppl", "ppl all", "KLD", "top-1",
        "pp t/s", "tg t/s");
    for (int i = 0; i < r->n; i++) {
        const lt_creport_row *w = &r->rows[i];
        const bool own_line = strlen(w->name) > 15;
        if (own_line) OUT("%s\n", w->name);
        char c[6][16];
        OUT("%-15.15s %7s %5.2f %8s %8s %8s %5.1f%% %7s %7s\n", own_line ? "" : w->name,
            num(c[0], w->bytes / 1048576.0, 7, 2), w->bpw, num(c[1], w->ppl, 8, 3), num(c[2], w->ppl_all, 8, 3),
            num(c[3], w->kld, 8, 6), 100 * w->top1, num(c[4], w->prefill_tps, 7, 1), num(c[5], w->decode_tps, 7, 1));
    }
    OUT("(text %.40s, %d chunks of %d tokens)\n", r->text[0] ? r->text : "-", r->n_chunks, r->ctx);
    OUT("(ppl: as llama-perplexity scores it, ppl all: every token; KLD, top-1: vs %.15s)\n",
        r->n ? r->rows[0].name : "-");
    if (r->n_gen < 0) OUT("(speeds not measured)\n");
    else OUT("(tok/s: prefill of %d tokens, decode of %d)\n", r->n_prompt, r->n_gen);
#undef OUT
    return len;
}
