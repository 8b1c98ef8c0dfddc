/* ppl.c - perplexity and KL divergence as llama-perplexity computes them (see ppl.h): the
 * chunks, the batches of each forward, the per-position scores (spread over host threads, as
 * llama.cpp's process_logits is; summed in order, so the result does not depend on them) and
 * the estimates with their standard errors.
 * Leaves out: front ends (tui/cli_eval.c, core/cmd/eval.c).
 */
#include "ppl.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/base/digest.h"
#include "core/base/fileio.h"

#define PPL_MAX_THREADS 32

/* ---- text -------------------------------------------------------------------------------- */

int32_t lt_ppl_bos(const lt_tokenizer *tok) {
    const lt_vocab *v = lt_tok_vocab(tok);
    return v->add_bos && v->bos_id >= 0 ? v->bos_id : -1;
}

lt_status lt_ppl_tokenize(const lt_tokenizer *tok, const char *text, size_t len, int32_t **ids, int64_t *n,
                          lt_err *err) {
    *ids = NULL;
    *n = 0;
    int64_t cap = (int64_t)len + 16;
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t *buf = lt_malloc((size_t)cap * sizeof(int32_t));
        if (!buf) return lt_err_set(err, LT_ENOMEM, "eval ppl: out of host memory for %lld tokens", (long long)cap);
        int64_t got = lt_tok_encode(tok, text, len, true, false, buf, cap);
        if (got < 0) {
            lt_free(buf);
            return lt_err_set(err, LT_EFORMAT, "eval ppl: the text cannot be tokenized");
        }
        if (got <= cap) {
            *ids = buf;
            *n = got;
            return LT_OK;
        }
        lt_free(buf);
        cap = got;
    }
    return lt_err_set(err, LT_EFORMAT, "eval ppl: the tokenizer gave two different lengths");
}

lt_status lt_ppl_tokenize_file(const lt_tokenizer *tok, const char *path, int32_t **ids, int64_t *n, lt_err *err) {
    char *text;
    size_t len;
    *ids = NULL;
    *n = 0;
    LT_TRY(lt_file_read_all(path, (size_t)1 << 30, &text, &len, err));
    lt_status st = lt_ppl_tokenize(tok, text, len, ids, n, err);
    lt_free(text);
    if (st != LT_OK) lt_err_prefix(err, "%s", path);
    return st;
}

lt_status lt_ppl_check_vocab(const lt_tokenizer *model, const lt_tokenizer *base, lt_err *err) {
    int32_t nm = lt_tok_n_vocab(model), nb = lt_tok_n_vocab(base);
    if (nm != nb)
        return lt_err_set(err, LT_EINVAL, "the base model has a vocabulary of %d tokens, the model %d", nb,
                          nm);
    if (lt_tok_bos(model) != lt_tok_bos(base) || lt_ppl_bos(model) != lt_ppl_bos(base))
        return lt_err_set(err, LT_EINVAL, "the base model's vocabulary has another BOS (%d, the model %d)",
                          lt_tok_bos(base), lt_tok_bos(model));
    char a[256], b[256];
    for (int32_t i = 0; i < nm; i++) {
        size_t la = lt_tok_piece(model, i, true, a, sizeof a), lb = lt_tok_piece(base, i, true, b, sizeof b);
        if (la != lb || memcmp(a, b, la < sizeof a ? la : sizeof a))
            return lt_err_set(err, LT_EINVAL, "the base model's vocabulary differs from the model's at token %d",
                              i);
    }
    return LT_OK;
}

/* ---- shape ------------------------------------------------------------------------------- */

static int opt_ctx(const lt_ppl_opts *o) { return o->ctx != 0 ? o->ctx : 512; }
static int opt_batch(const lt_ppl_opts *o) { return o->batch != 0 ? o->batch : 512; }
static int first_scored(const lt_ppl_opts *o) { return o->all_tokens ? 0 : opt_ctx(o) / 2; }

void lt_ppl_shape(const lt_ppl_opts *o, int *n_par, int *max_rows) {
    int ctx = opt_ctx(o), B = opt_batch(o);
    int per = ctx - 1 - first_scored(o); /* scored positions of a chunk */
    if (per < 0) per = 0;
    int np = B / ctx > 1 ? B / ctx : 1;
    if (o->n_chunks > 0 && np > o->n_chunks) np = o->n_chunks;
    if (np > LT_PPL_MAX_PAR) np = LT_PPL_MAX_PAR;
    if (n_par) *n_par = np;
    if (max_rows) *max_rows = np > 1 ? np * per : (B < per ? B : per);
}

/* ---- scoring one position ------------------------------------------------------------------ */

/* llama.cpp's log_softmax: max in float, sum of expf in double; returns -log p(tok) and the
 * first index of the maximum, and (lse) max + log(sum). */
static double row_nll(const float *lg, int V, int tok, int *imax, double *lse) {
    float mx = lg[0];
    int im = 0;
    for (int i = 1; i < V; i++)
        if (mx < lg[i]) mx = lg[i], im = i;
    double se = 0.0;
    for (int i = 0; i < V; i++) se += expf(lg[i] - mx);
    *imax = im;
    *lse = (double)mx + log(se);
    return -((lg[tok] - mx) - log(se));
}

typedef struct row_out {
    double nll, nll_base, kld;
    bool same_top;
} row_out;

typedef struct score_job {
    const float *lg, *base_lg; /* [n_rows * V]; base_lg NULL without a base */
    const int32_t *next;       /* [n_rows] the token each row predicts */
    row_out *out;
    int n_rows, V, stride, start;
} score_job;

static void score_row(const score_job *j, int r) {
    const float *lg = j->lg + (size_t)r * j->V;
    row_out *o = &j->out[r];
    int im;
    double lse;
    o->nll = row_nll(lg, j->V, j->next[r], &im, &lse);
    if (!j->base_lg) return;
    const float *bl = j->base_lg + (size_t)r * j->V;
    int ib;
    double lse_b;
    o->nll_base = row_nll(bl, j->V, j->next[r], &ib, &lse_b);
    /* KL(base || model) = sum p_b (log p_b - log p) = sum p_b ((b - lse_b) - (l - lse)) */
    double kl = 0.0;
    for (int i = 0; i < j->V; i++) {
        double lpb = (double)bl[i] - lse_b;
        kl += exp(lpb) * (lpb - ((double)lg[i] - lse));
    }
    o->kld = kl;
    o->same_top = im == ib;
}

static void *score_worker(void *p) {
    const score_job *j = p;
    for (int r = j->start; r < j->n_rows; r += j->stride) score_row(j, r);
    return NULL;
}

static int host_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > PPL_MAX_THREADS ? PPL_MAX_THREADS : (int)n;
}

/* Scores every row, on up to host_threads() threads (rows are independent); thread t takes
 * the rows r with r % T == t, this thread row 0's share and that of any thread that did not start. */
static void score_rows(const score_job *job) {
    int T = host_threads(), work = job->n_rows * (job->base_lg ? 3 : 1);
    if (T > work / 4) T = work / 4 > 1 ? work / 4 : 1;
    pthread_t th[PPL_MAX_THREADS];
    score_job jobs[PPL_MAX_THREADS];
    int started = 1;
    for (; started < T; started++) {
        jobs[started] = *job;
        jobs[started].stride = T, jobs[started].start = started;
        if (pthread_create(&th[started], NULL, score_worker, &jobs[started]) != 0) break;
    }
    for (int r = 0; r < job->n_rows; r++)
        if (r % T == 0 || r % T >= started) score_row(job, r);
    for (int t = 1; t < started; t++) pthread_join(th[t], NULL);
}

/* ---- sums and estimates ----------------------------------------------------------------- */

typedef struct sums {
    double nll, nll2, nll_b, nll_b2, kld, kld2;
    int64_t count, same_top;
} sums;

static void sums_add(sums *a, const sums *b) {
    a->nll += b->nll, a->nll2 += b->nll2, a->nll_b += b->nll_b, a->nll_b2 += b->nll_b2;
    a->kld += b->kld, a->kld2 += b->kld2;
    a->count += b->count, a->same_top += b->same_top;
}

/* llama.cpp's final estimate: ppl = exp(mean), error ppl * sqrt((mean2 - mean^2) / (count-1)). */
static void ppl_estimate(double sum, double sum2, int64_t count, double *ppl, double *se, double *mean) {
    *ppl = *se = 0;
    if (mean) *mean = 0;
    if (count <= 0) return;
    double m = sum / count, v = sum2 / count - m * m;
    *ppl = exp(m);
    if (mean) *mean = m;
    if (v > 0 && count > 1) *se = sqrt(v / (count - 1)) * *ppl;
}

/* llama.cpp's mean_and_uncertainty. */
static void mean_unc(double sum, double sum2, int64_t count, double *mean, double *unc) {
    *mean = *unc = 0;
    if (count < 1) return;
    double f = sum / count, df = sum2 / count - f * f;
    *mean = f;
    *unc = df > 0 && count > 10 ? sqrt(df / (count - 1)) : 0.0;
}

static void fill_result(lt_ppl_result *r, const sums *t, bool kld) {
    r->n_scored = t->count;
    ppl_estimate(t->nll, t->nll2, t->count, &r->ppl, &r->ppl_stderr, &r->nll_mean);
    r->has_kld = kld;
    if (!kld) return;
    ppl_estimate(t->nll_b, t->nll_b2, t->count, &r->base_ppl, &r->base_ppl_stderr, NULL);
    mean_unc(t->kld, t->kld2, t->count, &r->kld_mean, &r->kld_stderr);
    if (t->count > 0) {
        r->top1 = (double)t->same_top / t->count;
        r->top1_stderr = t->count > 1 ? sqrt(r->top1 * (1 - r->top1) / (t->count - 1)) : 0;
    }
}

size_t lt_ppl_format(const lt_ppl_result *r, char *buf, size_t cap) {
    char tmp[1024];
    size_t n = 0;
#define PUT(...) n += (size_t)snprintf(tmp + n, n < sizeof tmp ? sizeof tmp - n : 0, __VA_ARGS__)
    PUT("Final estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_stderr);
    PUT("%d chunks of %d tokens, %s scored: %lld predictions (%lld text tokens); %.2f s, %.1f tok/s\n", r->n_chunks,
        r->ctx, r->all_tokens ? "every token" : "second half", (long long)r->n_scored, (long long)r->n_text,
        r->seconds, r->seconds > 0 ? (double)r->n_chunks * r->ctx / r->seconds : 0.0);
    if (r->has_kld)
        PUT("Mean KLD: %.6f +/- %.6f, same top-1: %.3f +/- %.3f %%, base PPL = %.4f +/- %.5f\n", r->kld_mean,
            r->kld_stderr, 100 * r->top1, 100 * r->top1_stderr, r->base_ppl, r->base_ppl_stderr);
#undef PUT
    if (cap) snprintf(buf, cap, "%s", tmp);
    return n;
}

uint64_t lt_ppl_digest(const lt_ppl_result *r) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%d %d %lld %d %.4f", r->ctx, r->n_chunks, (long long)r->n_scored,
                     (int)r->all_tokens, r->ppl);
    if (r->has_kld) snprintf(buf + n, sizeof buf - (size_t)n, " %.6f %.4f", r->kld_mean, r->top1);
    return lt_fnv1a64(LT_FNV_INIT, buf, strlen(buf));
}

/* ---- the evaluation ------------------------------------------------------------------------ */

/* Takes up to want fresh sequences of kv (as many as its free slots and blocks allow for ctx
 * tokens each); returns how many. */
static int take_seqs(lt_kv_cache *kv, int want, int ctx, int32_t *seqs) {
    int bs = lt_kv_block_size(kv), per = (ctx + bs - 1) / bs;
    int fit = (lt_kv_blocks_total(kv) - lt_kv_blocks_used(kv)) / per;
    if (want > fit) want = fit;
    if (want < 1) want = 1; /* the forward then names the shortage */
    int got = 0;
    lt_err ignore;
    while (got < want && lt_kv_seq_new(kv, &seqs[got], &ignore) == LT_OK) got++;
    return got;
}

static void free_seqs(lt_kv_cache *kv, const int32_t *seqs, int n) {
    for (int i = 0; i < n; i++) lt_kv_seq_free(kv, seqs[i]);
}

static lt_status check(lt_lm *m, lt_kv_cache *kv, const char *who, int ctx, lt_err *err) {
    int mctx = lt_lm_config(m)->max_seq;
    if (mctx > 0 && ctx > mctx)
        return lt_err_set(err, LT_ERANGE, "eval ppl: --ctx %d exceeds the %s's context (%d tokens)", ctx, who, mctx);
    if (ctx > lt_kv_max_ctx(kv))
        return lt_err_set(err, LT_ERANGE, "eval ppl: --ctx %d exceeds the %s's KV cache (%d tokens)", ctx, who,
                          lt_kv_max_ctx(kv));
    return LT_OK;
}

typedef struct run {
    lt_lm *m, *base;
    lt_kv_cache *kv, *base_kv;
    const lt_ppl_opts *o;
    const int32_t *ids;
    int ctx, first, B, V, n_chunks, n_par, max_rows;
    int32_t seqs[2][LT_PPL_MAX_PAR]; /* model, base */
    int n_seqs[2];
    /* per forward */
    int32_t *tok, *seq, *pos, *bseq, *next;
    bool *want;
    float *lg, *blg;
    row_out *rows;
    double t0;
    int64_t tok_done, tok_total;
} run;

static bool report(run *u, int chunks_done, const sums *t) {
    if (!u->o->progress) return true;
    lt_ppl_progress p = {.chunks_done = chunks_done, .n_chunks = u->n_chunks};
    p.frac = u->tok_total > 0 ? (double)u->tok_done / u->tok_total : 0;
    p.elapsed_s = lt_now() - u->t0;
    p.eta_s = p.frac > 0 ? p.elapsed_s * (1 - p.frac) / p.frac : -1;
    p.tps = p.elapsed_s > 0 ? u->tok_done / p.elapsed_s : 0;
    if (t->count > 0) p.ppl = exp(t->nll / t->count);
    return u->o->progress(u->o->ud, &p);
}

/* Chunks [c0, c0+np) side by side: forwards of at most B tokens, scores into *g. */
static lt_status run_group(run *u, int c0, int np, sums *g, bool *stopped, int chunks_done, const sums *tot,
                           lt_err *err) {
    const int ctx = u->ctx, total = np * ctx;
    for (int s = 0; s < np; s++) {
        lt_kv_seq_truncate(u->kv, u->seqs[0][s], 0); /* every chunk starts from an empty cache */
        if (u->n_seqs[1]) lt_kv_seq_truncate(u->base_kv, u->seqs[1][s], 0);
    }
    for (int k0 = 0; k0 < total; k0 += u->B) {
        int k1 = k0 + u->B < total ? k0 + u->B : total, n = k1 - k0, nr = 0;
        for (int k = k0; k < k1; k++) {
            int s = k / ctx, p = k % ctx, i = k - k0;
            int64_t at = (int64_t)(c0 + s) * ctx + p;
            u->tok[i] = p == 0 && u->o->bos >= 0 ? u->o->bos : u->ids[at];
            u->seq[i] = u->seqs[0][s];
            if (u->n_seqs[1]) u->bseq[i] = u->seqs[1][s];
            u->pos[i] = p;
            u->want[i] = p >= u->first && p <= ctx - 2;
            if (u->want[i]) u->next[nr++] = u->ids[at + 1];
        }
        LT_ASSERT(nr <= u->max_rows);
        lt_batch b = {.n_tokens = n, .tokens = u->tok, .seq = u->seq, .pos = u->pos, .logits = u->want};
        LT_TRY(lt_lm_forward(u->m, u->kv, &b, u->lg, err));
        if (u->base && u->base != u->m) {
            lt_batch bb = b;
            bb.seq = u->bseq;
            lt_status st = lt_lm_forward(u->base, u->base_kv, &bb, u->blg, err);
            if (st != LT_OK) return lt_err_prefix(err, "base model");
        }
        if (nr > 0) {
            score_job j = {.lg = u->lg, .base_lg = u->base ? (u->base == u->m ? u->lg : u->blg) : NULL,
                           .next = u->next, .out = u->rows, .n_rows = nr, .V = u->V, .stride = 1};
            score_rows(&j);
            for (int r = 0; r < nr; r++) {
                const row_out *o = &u->rows[r];
                g->nll += o->nll, g->nll2 += o->nll * o->nll;
                if (u->base) {
                    g->nll_b += o->nll_base, g->nll_b2 += o->nll_base * o->nll_base;
                    g->kld += o->kld, g->kld2 += o->kld * o->kld;
                    g->same_top += o->same_top;
                }
                g->count++;
            }
        }
        u->tok_done += n;
        bool last = k1 == total;
        sums view = *tot;
        if (last) sums_add(&view, g);
        if (!report(u, chunks_done + (last ? np : 0), &view)) {
            *stopped = true;
            return LT_OK;
        }
    }
    return LT_OK;
}

lt_status lt_ppl_eval(lt_lm *m, lt_kv_cache *kv, const int32_t *ids, int64_t n, const lt_ppl_opts *o,
                      lt_ppl_result *r, lt_err *err) {
    memset(r, 0, sizeof *r);
    run u = {.m = m, .kv = kv, .o = o, .ids = ids};
    u.ctx = opt_ctx(o), u.B = opt_batch(o), u.first = first_scored(o);
    u.V = lt_lm_config(m)->n_vocab;
    r->ctx = u.ctx, r->batch = u.B, r->all_tokens = o->all_tokens, r->n_text = n;
    if (u.ctx < 4 || u.ctx % 2)
        return lt_err_set(err, LT_EINVAL, "eval ppl: --ctx must be even and at least 4 (got %d)", u.ctx);
    if (u.B < 1) return lt_err_set(err, LT_EINVAL, "eval ppl: --batch must be at least 1 (got %d)", u.B);
    if (o->bos >= u.V) return lt_err_set(err, LT_EINVAL, "eval ppl: BOS %d outside the vocabulary", o->bos);
    LT_TRY(check(m, kv, "model", u.ctx, err));
    if (o->base && o->base != m) {
        int bv = lt_lm_config(o->base)->n_vocab;
        if (bv != u.V)
            return lt_err_set(err, LT_EINVAL, "eval ppl: the base model has a vocabulary of %d tokens, the model %d",
                              bv, u.V);
        if (!o->base_kv) return lt_err_set(err, LT_EINVAL, "eval ppl: the base model needs its own KV cache");
        LT_TRY(check(o->base, o->base_kv, "base model", u.ctx, err));
        u.base = o->base, u.base_kv = o->base_kv;
    } else if (o->base) {
        u.base = m; /* against itself: the same logits, not run twice */
    }
    if (n < 2 * (int64_t)u.ctx)
        return lt_err_set(err, LT_EINVAL,
                          "eval ppl: you need at least %lld tokens to evaluate perplexity with a context of %d "
                          "(2*ctx); the text tokenizes to only %lld tokens",
                          2 * (long long)u.ctx, u.ctx, (long long)n);
    for (int64_t i = 0; i < n; i++) /* scored ids index the logits before a forward sees them */
        if (ids[i] < 0 || ids[i] >= u.V)
            return lt_err_set(err, LT_ERANGE, "eval ppl: token %lld is %d, outside the vocabulary (%d)", (long long)i,
                              (int)ids[i], u.V);
    int64_t n_max = n / u.ctx;
    u.n_chunks = (int)(o->n_chunks > 0 && o->n_chunks < n_max ? o->n_chunks : n_max);
    r->n_chunks_total = u.n_chunks;
    lt_ppl_opts so = *o;
    so.ctx = u.ctx, so.batch = u.B, so.n_chunks = u.n_chunks;
    lt_ppl_shape(&so, &u.n_par, &u.max_rows);

    /* sequences: as many chunks side by side as both caches hold */
    u.n_seqs[0] = take_seqs(kv, u.n_par, u.ctx, u.seqs[0]);
    if (u.n_seqs[0] == 0) return lt_err_set(err, LT_ENOMEM, "eval ppl: the KV cache has no free sequence");
    if (u.base && u.base != m) {
        u.n_seqs[1] = take_seqs(u.base_kv, u.n_seqs[0], u.ctx, u.seqs[1]);
        if (u.n_seqs[1] == 0) {
            free_seqs(kv, u.seqs[0], u.n_seqs[0]);
            return lt_err_set(err, LT_ENOMEM, "eval ppl: the base model's KV cache has no free sequence");
        }
        while (u.n_seqs[0] > u.n_seqs[1]) lt_kv_seq_free(kv, u.seqs[0][--u.n_seqs[0]]);
    }
    if (u.n_par > u.n_seqs[0]) { /* fewer side by side: fewer rows per forward */
        u.n_par = u.n_seqs[0];
        so.batch = u.n_par > 1 ? u.n_par * u.ctx : (u.B < u.ctx ? u.B : u.ctx);
        lt_ppl_shape(&so, NULL, &u.max_rows);
    }
    if (u.n_par > 1) u.B = u.n_par * u.ctx;
    else if (u.B > u.ctx) u.B = u.ctx;
    r->n_par = u.n_par;

    size_t nb = (size_t)u.B, rows = (size_t)(u.max_rows > 0 ? u.max_rows : 1);
    u.tok = lt_malloc(nb * 4 * sizeof(int32_t));
    u.want = lt_malloc(nb);
    u.next = lt_malloc(rows * sizeof(int32_t));
    u.rows = lt_malloc(rows * sizeof(row_out));
    u.lg = lt_malloc(rows * (size_t)u.V * sizeof(float));
    u.blg = u.n_seqs[1] ? lt_malloc(rows * (size_t)u.V * sizeof(float)) : NULL;
    lt_status st = LT_OK;
    if (!u.tok || !u.want || !u.next || !u.rows || !u.lg || (u.n_seqs[1] && !u.blg))
        st = lt_err_set(err, LT_ENOMEM, "eval ppl: out of host memory for %zu rows of %d logits", rows, u.V);
    if (st == LT_OK) u.seq = u.tok + nb, u.pos = u.seq + nb, u.bseq = u.pos + nb;

    sums tot = {0};
    int done = 0;
    bool stopped = false;
    u.t0 = lt_now();
    u.tok_total = (int64_t)u.n_chunks * u.ctx;
    if (st == LT_OK && !report(&u, 0, &tot)) stopped = true;
    for (int c0 = 0; st == LT_OK && !stopped && c0 < u.n_chunks; c0 += u.n_par) {
        int np = u.n_chunks - c0 < u.n_par ? u.n_chunks - c0 : u.n_par;
        sums g = {0};
        st = run_group(&u, c0, np, &g, &stopped, done, &tot, err);
        if (st != LT_OK) break;
        if (u.tok_done == (int64_t)(c0 + np) * u.ctx) { /* the whole group ran */
            sums_add(&tot, &g);
            done = c0 + np;
        }
    }
    r->seconds = lt_now() - u.t0;
    r->n_chunks = done;
    fill_result(r, &tot, u.base != NULL);
    free_seqs(kv, u.seqs[0], u.n_seqs[0]);
    if (u.n_seqs[1]) free_seqs(u.base_kv, u.seqs[1], u.n_seqs[1]);
    lt_free(u.tok), lt_free(u.want), lt_free(u.next), lt_free(u.rows), lt_free(u.lg), lt_free(u.blg);
    if (st == LT_OK && stopped && done < u.n_chunks) /* a stop after the last chunk changes nothing */
        st = lt_err_set(err, LT_ECANCELLED, "eval ppl: cancelled after %d of %d chunks", done, u.n_chunks);
    return st;
}

/* ---- options ------------------------------------------------------------------------------- */

void lt_ppl_args_default(lt_ppl_args *a) {
    memset(a, 0, sizeof *a);
    a->ctx = 512;
    a->batch = 512;
}

void lt_ppl_opts_add(lt_ppl_args *a, lt_opt *table, int cap) {
    const lt_opt o[LT_PPL_N_OPTS] = {
        {"--file", "-f", LT_OPT_STR, &a->file, "the text to evaluate (tokenized whole, BOS first when the vocab adds it)"},
        {"--ctx", "-c", LT_OPT_INT, &a->ctx, "tokens per chunk, even, >= 4 (default 512)", 4, 1 << 24},
        {"--chunks", NULL, LT_OPT_INT, &a->n_chunks, "evaluate at most N chunks (default: all)", 1, 1 << 30},
        {"--batch", "-b", LT_OPT_INT, &a->batch, "tokens per forward pass (default 512)", 1, 1 << 24},
        {"--all-tokens", NULL, LT_OPT_FLAG, &a->all_tokens,
         "score every token of each chunk (GPTQ papers), not only its second half (llama-perplexity); each "
         "chunk still starts with BOS when the vocab adds it"},
        {"--kld", NULL, LT_OPT_STR, &a->kld,
         "also the mean KL divergence and top-1 agreement against this base model (same vocabulary)"},
    };
    int n = 0;
    while (table[n].name) n++;
    LT_ASSERT(n + LT_PPL_N_OPTS < cap);
    memcpy(table + n, o, sizeof o);
    table[n + LT_PPL_N_OPTS] = (lt_opt){0};
}
