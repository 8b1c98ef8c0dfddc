/* test_ppl.c - perplexity as llama-perplexity computes it (core/llm/ppl.h) on the bundled
 * stories260K and a Shakespeare excerpt (assets/text): the estimate and its standard error
 * equal an independent computation (the model run token by token through lt_lm_eval, the nll
 * in double here) for both conventions (second half of each chunk; --all-tokens); the batch
 * size and chunks side by side do not change it; --chunks caps; a text shorter than 2*ctx, a
 * bad ctx (odd, < 4, beyond the model's context) and a base of another vocabulary are clear
 * errors; the progress callback reports in order and stops the evaluation (LT_ECANCELLED, the
 * chunks done, sequences freed); --kld of the model against itself is 0 with 100% top-1
 * agreement, and against another model of the same vocabulary (llama2xs) equals the
 * independent KL divergence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/modelsrc_open.h"
#include "core/llm/ppl.h"
#include "models/llama.h"
#include "testutil.h"

static lt_backend *g_be;

typedef struct model {
    lt_lm *m;
    lt_kv_cache *kv;
    lt_tokenizer *tok;
} model;

static void model_open(model *md, const char *file) {
    lt_err err;
    lt_modelsrc *src;
    char path[256];
    snprintf(path, sizeof path, "assets/models/%s", file);
    if (lt_modelsrc_open(&src, lt_test_path(path), lt_test_path("assets/models/tok512.bin"), &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    if (lt_tok_create(&md->tok, lt_modelsrc_take_vocab(src), &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    if (lt_llama_open(&md->m, src, g_be, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_modelsrc_close(src);
    lt_kv_opts ko = lt_lm_kv_opts(md->m, 0, 8);
    if (lt_kv_create(&md->kv, g_be, &ko, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
}

static void model_close(model *md) {
    lt_kv_free(md->kv);
    lt_lm_close(md->m);
    lt_tok_free(md->tok);
}

/* log p(tok) from logits, all in double (an independent log-softmax). */
static void logprobs(const float *lg, int V, double *lp) {
    double mx = lg[0];
    for (int i = 1; i < V; i++)
        if (lg[i] > mx) mx = lg[i];
    double s = 0;
    for (int i = 0; i < V; i++) s += exp((double)lg[i] - mx);
    double lse = mx + log(s);
    for (int i = 0; i < V; i++) lp[i] = (double)lg[i] - lse;
}

static int argmax(const float *lg, int V) {
    int im = 0;
    for (int i = 1; i < V; i++)
        if (lg[i] > lg[im]) im = i;
    return im;
}

typedef struct ref {
    double ppl, se, kld, top1;
    int64_t count;
} ref;

/* The reference: each chunk fed one token at a time on a fresh sequence (BOS first), scored
 * positions first .. ctx-2; with base, the KL divergence and top-1 agreement too. */
static ref reference(model *md, model *base, const int32_t *ids, int ctx, int chunks, bool all_tokens) {
    lt_err err;
    int V = lt_lm_config(md->m)->n_vocab, first = all_tokens ? 0 : ctx / 2;
    float *lg = malloc((size_t)V * 4), *bl = malloc((size_t)V * 4);
    double *lp = malloc((size_t)V * 8), *lb = malloc((size_t)V * 8);
    double sum = 0, sum2 = 0, kl = 0;
    int64_t count = 0, same = 0;
    for (int c = 0; c < chunks; c++) {
        int seq, bseq = -1;
        LT_ASSERT(lt_kv_seq_new(md->kv, &seq, &err) == LT_OK);
        if (base) LT_ASSERT(lt_kv_seq_new(base->kv, &bseq, &err) == LT_OK);
        for (int p = 0; p < ctx - 1; p++) {
            int32_t t = p == 0 ? lt_tok_bos(md->tok) : ids[(int64_t)c * ctx + p];
            LT_ASSERT(lt_lm_eval(md->m, md->kv, seq, &t, 1, false, lg, &err) == LT_OK);
            if (base) LT_ASSERT(lt_lm_eval(base->m, base->kv, bseq, &t, 1, false, bl, &err) == LT_OK);
            if (p < first) continue;
            int32_t next = ids[(int64_t)c * ctx + p + 1];
            logprobs(lg, V, lp);
            sum += -lp[next], sum2 += lp[next] * lp[next], count++;
            if (base) {
                logprobs(bl, V, lb);
                double k = 0;
                for (int i = 0; i < V; i++) k += exp(lb[i]) * (lb[i] - lp[i]);
                kl += k;
                same += argmax(lg, V) == argmax(bl, V);
            }
        }
        lt_kv_seq_free(md->kv, seq);
        if (base) lt_kv_seq_free(base->kv, bseq);
    }
    ref r = {.count = count};
    double m = sum / count, var = sum2 / count - m * m;
    r.ppl = exp(m);
    r.se = r.ppl * sqrt(var / (count - 1));
    r.kld = kl / count;
    r.top1 = (double)same / count;
    free(lg), free(bl), free(lp), free(lb);
    return r;
}

static double rel(double a, double b) { return fabs(a - b) / (fabs(b) > 1e-300 ? fabs(b) : 1e-300); }

typedef struct trace {
    int calls, last_done, cancel_after; /* stop once chunks_done reaches cancel_after (0 = never) */
    double last_frac;
    bool ordered;
} trace;

static bool on_progress(void *ud, const lt_ppl_progress *p) {
    trace *t = ud;
    if (p->frac < t->last_frac || p->chunks_done < t->last_done || p->frac > 1 || p->chunks_done > p->n_chunks)
        t->ordered = false;
    if (p->chunks_done > 0 && !(p->ppl > 1)) t->ordered = false;
    t->calls++;
    t->last_frac = p->frac;
    t->last_done = p->chunks_done;
    return !(t->cancel_after > 0 && p->chunks_done >= t->cancel_after);
}

static lt_ppl_result eval_ok(model *md, const int32_t *ids, int64_t n, lt_ppl_opts o, const char *label) {
    lt_err err = {0};
    lt_ppl_result r;
    lt_status s = lt_ppl_eval(md->m, md->kv, ids, n, &o, &r, &err);
    CHECKF(s == LT_OK, "%s: %s", label, err.msg);
    CHECKF(lt_kv_blocks_used(md->kv) == 0, "%s: %d KV blocks still used", label, lt_kv_blocks_used(md->kv));
    return r;
}

int main(void) {
    lt_err err;
    LT_ASSERT(lt_backend_create(&g_be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    model md;
    model_open(&md, "stories260K.bin");
    int32_t *ids;
    int64_t n;
    CHECKF(lt_ppl_tokenize_file(md.tok, lt_test_path("assets/text/tinyshakespeare-head.txt"), &ids, &n, &err) == LT_OK,
           "%s", err.msg);
    int32_t bos = lt_ppl_bos(md.tok);
    CHECK(bos == lt_tok_bos(md.tok) && bos >= 0 && n > 1000 && ids[0] == bos);
    const int ctx = 64;

    /* both conventions against the token-by-token reference, at several batch sizes */
    for (int all = 0; all < 2; all++) {
        ref rf = reference(&md, NULL, ids, ctx, 3, all);
        const int batches[] = {16, 64, 100, 192};
        for (int bi = 0; bi < 4; bi++) {
            char label[64];
            snprintf(label, sizeof label, "%s batch %d", all ? "all tokens" : "second half", batches[bi]);
            lt_ppl_opts o = {.ctx = ctx, .n_chunks = 3, .batch = batches[bi], .all_tokens = all, .bos = bos};
            lt_ppl_result r = eval_ok(&md, ids, n, o, label);
            CHECKF(r.n_chunks == 3 && r.n_chunks_total == 3 && r.n_scored == rf.count &&
                       r.n_scored == 3 * (ctx - 1 - (all ? 0 : ctx / 2)),
                   "%s: %d chunks, %lld scored (want %lld)", label, r.n_chunks, (long long)r.n_scored,
                   (long long)rf.count);
            CHECKF(rel(r.ppl, rf.ppl) < 1e-4 && rel(r.ppl_stderr, rf.se) < 1e-3, "%s: ppl %.6f +/- %.6f, want %.6f +/- %.6f",
                   label, r.ppl, r.ppl_stderr, rf.ppl, rf.se);
            CHECKF(fabs(r.nll_mean - log(r.ppl)) < 1e-12 && r.ctx == ctx && r.all_tokens == (bool)all && !r.has_kld,
                   "%s: fields", label);
            int want_par = batches[bi] / ctx > 1 ? (batches[bi] / ctx < 3 ? batches[bi] / ctx : 3) : 1;
            CHECKF(r.n_par == want_par, "%s: %d chunks side by side, want %d", label, r.n_par, want_par);
        }
        if (!all) printf("second half: ppl %.4f +/- %.5f over %lld tokens\n", rf.ppl, rf.se, (long long)rf.count);
        else printf("all tokens:  ppl %.4f +/- %.5f over %lld tokens\n", rf.ppl, rf.se, (long long)rf.count);
    }

    /* every whole chunk without --chunks; the tail is not used */
    lt_ppl_opts o = {.ctx = ctx, .batch = 256, .bos = bos};
    lt_ppl_result full = eval_ok(&md, ids, n, o, "all chunks");
    CHECKF(full.n_chunks == (int)(n / ctx) && full.n_scored == (n / ctx) * (ctx / 2 - 1) && full.n_text == n,
           "all chunks: %d chunks of %lld", full.n_chunks, (long long)n);
    CHECK(lt_ppl_digest(&full) == lt_ppl_digest(&full));
    lt_ppl_result three = eval_ok(&md, ids, n, (lt_ppl_opts){.ctx = ctx, .n_chunks = 3, .bos = bos}, "three");
    CHECK(lt_ppl_digest(&three) != lt_ppl_digest(&full));
    /* --chunks above what the text holds: every chunk */
    lt_ppl_result more = eval_ok(&md, ids, n, (lt_ppl_opts){.ctx = ctx, .n_chunks = 100000, .batch = 256, .bos = bos},
                                 "chunks above");
    CHECK(more.n_chunks == full.n_chunks && more.ppl == full.ppl);

    /* errors */
    lt_ppl_result r;
    lt_status s = lt_ppl_eval(md.m, md.kv, ids, 2 * ctx - 1, &o, &r, &err);
    CHECKF(s == LT_EINVAL && strstr(err.msg, "you need at least 128 tokens") && strstr(err.msg, "only 127 tokens"),
           "short text: %s", err.msg);
    CHECK(lt_ppl_eval(md.m, md.kv, ids, 2 * ctx, &o, &r, &err) == LT_OK && r.n_chunks == 2);
    const int bad_ctx[] = {2, 3, 63, -2};
    for (int i = 0; i < 4; i++) {
        o.ctx = bad_ctx[i];
        s = lt_ppl_eval(md.m, md.kv, ids, n, &o, &r, &err);
        CHECKF(s == LT_EINVAL && strstr(err.msg, "even and at least 4"), "ctx %d: %s", bad_ctx[i], err.msg);
    }
    o.ctx = 1024;
    s = lt_ppl_eval(md.m, md.kv, ids, n, &o, &r, &err);
    CHECKF(s == LT_ERANGE && strstr(err.msg, "exceeds the model's context (512 tokens)"), "ctx 1024: %s", err.msg);
    o.ctx = ctx;
    o.batch = -1;
    CHECK(lt_ppl_eval(md.m, md.kv, ids, n, &o, &r, &err) == LT_EINVAL);
    o.batch = 0;

    /* progress and cancel */
    trace t = {.ordered = true};
    o = (lt_ppl_opts){.ctx = ctx, .n_chunks = 4, .batch = 32, .bos = bos, .progress = on_progress, .ud = &t};
    lt_ppl_result four = eval_ok(&md, ids, n, o, "progress");
    CHECKF(t.ordered && t.calls == 1 + 4 * 2 && t.last_done == 4 && t.last_frac == 1.0, "progress: %d calls, last %d",
           t.calls, t.last_done);
    t = (trace){.ordered = true, .cancel_after = 1};
    s = lt_ppl_eval(md.m, md.kv, ids, n, &o, &r, &err);
    lt_ppl_result one = eval_ok(&md, ids, n, (lt_ppl_opts){.ctx = ctx, .n_chunks = 1, .batch = 32, .bos = bos}, "one chunk");
    CHECKF(s == LT_ECANCELLED && strstr(err.msg, "cancelled after 1 of 4 chunks") && r.n_chunks == 1 &&
               r.n_chunks_total == 4 && r.n_scored == one.n_scored && r.ppl == one.ppl,
           "cancel: %s (%d chunks, ppl %f vs %f)", err.msg, r.n_chunks, r.ppl, one.ppl);
    CHECK(lt_kv_blocks_used(md.kv) == 0);
    t = (trace){.ordered = true, .cancel_after = 0};
    o.progress = NULL;
    CHECK(four.n_chunks == 4);

    /* --kld: against itself (the same object, and a second copy of the model) */
    o = (lt_ppl_opts){.ctx = ctx, .n_chunks = 3, .batch = 128, .bos = bos, .base = md.m, .base_kv = md.kv};
    r = eval_ok(&md, ids, n, o, "kld self");
    CHECKF(r.has_kld && r.kld_mean == 0 && r.kld_stderr == 0 && r.top1 == 1 && r.base_ppl == r.ppl,
           "kld self: %g, top1 %g", r.kld_mean, r.top1);
    model twin;
    model_open(&twin, "stories260K.bin");
    o.base = twin.m, o.base_kv = twin.kv;
    r = eval_ok(&md, ids, n, o, "kld twin");
    CHECKF(r.has_kld && fabs(r.kld_mean) < 1e-9 && r.top1 == 1 && rel(r.base_ppl, r.ppl) < 1e-9,
           "kld twin: %g, top1 %g", r.kld_mean, r.top1);
    CHECK(lt_kv_blocks_used(twin.kv) == 0);
    CHECK(lt_ppl_check_vocab(md.tok, twin.tok, &err) == LT_OK);
    model_close(&twin);

    /* --kld against another model of the same vocabulary: the independent value */
    model xs;
    model_open(&xs, "llama2xs_model.bin");
    for (int all = 0; all < 2; all++) {
        ref rf = reference(&md, &xs, ids, ctx, 2, all);
        o = (lt_ppl_opts){.ctx = ctx, .n_chunks = 2, .batch = all ? 16 : 128, .all_tokens = all, .bos = bos,
                          .base = xs.m, .base_kv = xs.kv};
        r = eval_ok(&md, ids, n, o, "kld xs");
        CHECKF(r.has_kld && rel(r.kld_mean, rf.kld) < 1e-3 && fabs(r.top1 - rf.top1) < 1e-12 && rel(r.ppl, rf.ppl) < 1e-4 &&
                   r.kld_mean > 0.01 && r.top1 < 1 && r.kld_stderr > 0 && r.top1_stderr > 0,
               "kld xs: %g (want %g), top1 %g (want %g)", r.kld_mean, rf.kld, r.top1, rf.top1);
        printf("kld against llama2xs (%s): %.5f +/- %.5f, top-1 %.2f%%\n", all ? "all tokens" : "second half",
               r.kld_mean, r.kld_stderr, 100 * r.top1);
    }
    CHECK(lt_ppl_check_vocab(md.tok, xs.tok, &err) == LT_OK);
    /* the base model's context bounds ctx too (llama2xs: 256) */
    o = (lt_ppl_opts){.ctx = 512, .bos = bos, .base = xs.m, .base_kv = xs.kv};
    s = lt_ppl_eval(md.m, md.kv, ids, n, &o, &r, &err);
    CHECKF(s == LT_ERANGE && strstr(err.msg, "base model's context (256"), "base ctx: %s", err.msg);
    model_close(&xs);

    /* a base of another vocabulary */
    lt_llm_config cfg;
    lt_lm *tiny = NULL;
    lt_kv_cache *tkv = NULL;
    LT_ASSERT(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    LT_ASSERT(lt_llama_open_synthetic(&tiny, &cfg, LT_F32, 1, g_be, NULL, &err) == LT_OK);
    lt_kv_opts ko = lt_lm_kv_opts(tiny, 0, 2);
    LT_ASSERT(lt_kv_create(&tkv, g_be, &ko, &err) == LT_OK);
    o = (lt_ppl_opts){.ctx = ctx, .bos = bos, .base = tiny, .base_kv = tkv};
    s = lt_ppl_eval(md.m, md.kv, ids, n, &o, &r, &err);
    CHECKF(s == LT_EINVAL && strstr(err.msg, "vocabulary of 320 tokens, the model 512"), "vocab: %s", err.msg);
    lt_kv_free(tkv);
    lt_lm_close(tiny);

    /* the option table both front ends share */
    lt_ppl_args a;
    lt_ppl_args_default(&a);
    lt_opt table[LT_PPL_N_OPTS + 2] = {{"--json", NULL, LT_OPT_FLAG, &(bool){0}, "json"}};
    lt_ppl_opts_add(&a, table, LT_PPL_N_OPTS + 2);
    char *argv[] = {"x", "-f", "t.txt", "--ctx", "128", "--chunks", "3", "--batch", "64", "--all-tokens", "--kld", "b"};
    CHECKF(lt_opts_parse("eval ppl", table, 12, argv, 1, NULL, 0, &(int){0}, NULL, &err) == LT_OK, "%s", err.msg);
    CHECK(!strcmp(a.file, "t.txt") && a.ctx == 128 && a.n_chunks == 3 && a.batch == 64 && a.all_tokens &&
          !strcmp(a.kld, "b"));

    lt_free(ids);
    model_close(&md);
    lt_backend_free(g_be);
    return lt_test_done();
}
