/* test_spec.c - speculative decoding (core/llm/spec.h) is exact:
 *  - greedy: the same tokens as plain lt_generate, for every draft source (n-gram, draft
 *    model, TriForce over n-gram and over a draft model), on the bundled stories260K with
 *    llama2xs as the draft (same tokenizer) and on random tiny models (f32 and q8_0);
 *  - sampling: over many seeds the joint distribution of two generated tokens matches the
 *    target's exact distribution (chi-square over all V*V outcomes, threshold below);
 *  - KV integrity: after many accept/reject cycles the target's cache gives the logits of a
 *    cache built by plain decoding, and no block leaks;
 *  - bad settings (different vocabularies, chunk sizes) are clear errors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/modelsrc_open.h"
#include "core/llm/spec.h"
#include "models/llama.h"
#include "testutil.h"

static lt_backend *g_be;

static lt_lm *open_file(const char *file) {
    lt_err err;
    lt_modelsrc *src;
    char path[256];
    snprintf(path, sizeof path, "assets/models/%s", file);
    if (lt_modelsrc_open(&src, lt_test_path(path), lt_test_path("assets/models/tok512.bin"), &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_lm *m;
    if (lt_llama_open(&m, src, g_be, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_modelsrc_close(src);
    return m;
}

static lt_lm *open_synth(int vocab, int layers, lt_dtype dt, uint64_t seed) {
    lt_err err;
    lt_llm_config cfg;
    LT_ASSERT(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.n_vocab = vocab;
    cfg.n_layers = layers;
    cfg.max_seq = 512;
    lt_lm *m;
    if (lt_llama_open_synthetic(&m, &cfg, dt, seed, g_be, NULL, &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return m;
}

static lt_kv_cache *make_kv(lt_lm *m, int ctx, int block) {
    lt_err err;
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, 2);
    ko.block_size = block;
    lt_kv_cache *kv;
    if (lt_kv_create(&kv, g_be, &ko, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return kv;
}

/* Plain greedy reference. */
static int plain(lt_lm *m, lt_kv_cache *kv, const int32_t *prompt, int np, const lt_gen_params *gp, int32_t *out,
                 int cap) {
    lt_err err;
    int seq;
    lt_gen_stats st;
    LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
    if (lt_generate(m, NULL, kv, seq, prompt, np, gp, NULL, NULL, out, cap, &st, &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_kv_seq_free(kv, seq);
    return st.n_gen;
}

typedef struct run_result {
    int n;
    lt_spec_stats st;
    int cb_tokens, cb_drafted;
} run_result;

static bool count_cb(void *ud, int32_t id, const char *text, size_t len, bool drafted) {
    (void)text;
    (void)len;
    run_result *r = ud;
    if (id >= 0) {
        r->cb_tokens++;
        r->cb_drafted += drafted;
    }
    return true;
}

/* Speculative run on a fresh sequence; the sequence is freed unless keep_seq. */
static run_result spec_run(lt_lm *m, lt_kv_cache *kv, const lt_spec_params *sp, const int32_t *prompt, int np,
                           const lt_gen_params *gp, int32_t *out, int cap, int *keep_seq) {
    lt_err err;
    lt_spec *s;
    run_result r = {0};
    if (lt_spec_create(&s, m, kv, sp, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    int seq;
    LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
    if (lt_spec_generate(s, NULL, seq, NULL, 0, prompt, np, gp, count_cb, &r, out, NULL, cap, &r.st, &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    r.n = r.st.gen.n_gen;
    lt_spec_free(s);
    if (keep_seq) *keep_seq = seq;
    else lt_kv_seq_free(kv, seq);
    return r;
}

static int first_diff(const int32_t *a, const int32_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return i;
    return -1;
}

/* Greedy equality of every source against plain decoding. */
static void greedy_all(const char *what, lt_lm *target, lt_lm *draft, lt_kv_cache *kv, const int32_t *prompt, int np,
                       int n_gen, bool stop_at_bos) {
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = n_gen, .stop_at_bos = false};
    (void)stop_at_bos;
    gp.sp.temp = 0;
    int32_t ref[1024], got[1024];
    int nref = plain(target, kv, prompt, np, &gp, ref, 1024);
    CHECKF(nref == n_gen, "%s: plain run made %d tokens", what, nref);
    struct {
        const char *name;
        lt_spec_params p;
    } cases[8];
    int nc = 0;
    cases[nc].name = "off";
    cases[nc++].p = lt_spec_defaults(LT_SPEC_OFF);
    cases[nc].name = "ngram";
    cases[nc++].p = lt_spec_defaults(LT_SPEC_NGRAM);
    cases[nc].name = "ngram adaptive";
    cases[nc].p = lt_spec_defaults(LT_SPEC_NGRAM);
    cases[nc++].p.adaptive = true;
    cases[nc].name = "draft";
    cases[nc].p = lt_spec_defaults(LT_SPEC_DRAFT);
    cases[nc++].p.draft = draft;
    cases[nc].name = "draft gamma 7 adaptive";
    cases[nc].p = lt_spec_defaults(LT_SPEC_DRAFT);
    cases[nc].p.draft = draft;
    cases[nc].p.gamma = 7;
    cases[nc++].p.adaptive = true;
    cases[nc].name = "triforce/ngram";
    cases[nc].p = lt_spec_defaults(LT_SPEC_TRIFORCE);
    cases[nc].p.budget = 64;
    cases[nc++].p.chunk = 16;
    cases[nc].name = "triforce/draft";
    cases[nc].p = lt_spec_defaults(LT_SPEC_TRIFORCE);
    cases[nc].p.budget = 64;
    cases[nc].p.chunk = 16;
    cases[nc].p.draft = draft;
    cases[nc].p.window = 48;
    cases[nc++].p.adaptive = true;
    for (int c = 0; c < nc; c++) {
        memset(got, 0xff, sizeof got);
        run_result r = spec_run(target, kv, &cases[c].p, prompt, np, &gp, got, 1024, NULL);
        int d = first_diff(got, ref, nref);
        CHECKF(r.n == nref && d < 0, "%s, %s: %d tokens (plain %d), first difference at %d", what, cases[c].name,
               r.n, nref, d);
        CHECKF(r.cb_tokens == r.n && r.cb_drafted == r.st.n_drafted_out, "%s, %s: callback saw %d/%d", what,
               cases[c].name, r.cb_tokens, r.cb_drafted);
        if (cases[c].p.kind != LT_SPEC_OFF) {
            const lt_spec_level_stats *l0 = &r.st.level[0];
            CHECKF(l0->accepted <= l0->drafted && l0->steps > 0, "%s, %s: stats", what, cases[c].name);
            fprintf(stderr, "  %-10s %-24s accepted %lld/%lld (%.2f), mean length %.2f, %d steps",
                    what, cases[c].name, (long long)l0->accepted, (long long)l0->drafted, l0->accept_rate, l0->mean_len,
                    (int)l0->steps);
            if (r.st.n_levels > 1)
                fprintf(stderr, "; bottom %lld/%lld", (long long)r.st.level[1].accepted,
                        (long long)r.st.level[1].drafted);
            fputc('\n', stderr);
        }
        CHECKF(lt_kv_blocks_used(kv) == 0, "%s, %s: %d blocks leaked", what, cases[c].name, lt_kv_blocks_used(kv));
    }
}

/* Exact joint distribution of the next two tokens after prompt, at temperature 1. */
static void exact_joint(lt_lm *m, lt_kv_cache *kv, const int32_t *prompt, int np, int V, double *joint) {
    lt_err err;
    float *lg = lt_malloc((size_t)V * sizeof(float));
    double *p1 = lt_malloc((size_t)V * sizeof(double));
    int seq;
    LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
    LT_ASSERT(lt_lm_eval(m, kv, seq, prompt, np, false, lg, &err) == LT_OK);
    double mx = lg[lt_argmax(lg, V)], z = 0;
    for (int i = 0; i < V; i++) z += exp(lg[i] - mx);
    for (int i = 0; i < V; i++) p1[i] = exp(lg[i] - mx) / z;
    for (int a = 0; a < V; a++) {
        int s2;
        LT_ASSERT(lt_kv_seq_fork(kv, seq, &s2, &err) == LT_OK);
        LT_ASSERT(lt_lm_eval(m, kv, s2, &a, 1, false, lg, &err) == LT_OK);
        mx = lg[lt_argmax(lg, V)];
        z = 0;
        for (int i = 0; i < V; i++) z += exp(lg[i] - mx);
        for (int b = 0; b < V; b++) joint[a * V + b] = p1[a] * exp(lg[b] - mx) / z;
        lt_kv_seq_free(kv, s2);
    }
    lt_kv_seq_free(kv, seq);
    lt_free(lg);
    lt_free(p1);
}

/* Chi-square of counts against probabilities (cells with tiny expectation pooled). */
static double chi2(const int *cnt, const double *p, int n, int N, int *df) {
    double x = 0, pool_e = 0;
    int pool_o = 0;
    *df = -1;
    for (int i = 0; i < n; i++) {
        double e = p[i] * N;
        if (e < 5) {
            pool_e += e;
            pool_o += cnt[i];
            continue;
        }
        x += (cnt[i] - e) * (cnt[i] - e) / e;
        (*df)++;
    }
    if (pool_e > 0) {
        x += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        (*df)++;
    }
    return x;
}

static void sampling_test(void) {
    const int V = 6, N = 3000;
    lt_lm *t = open_synth(V, 2, LT_F32, 7), *d = open_synth(V, 1, LT_F32, 99);
    lt_kv_cache *kv = make_kv(t, 256, 8);
    int32_t prompt[80];
    for (int i = 0; i < 80; i++) prompt[i] = (i * 7 + i / 5) % V;
    double *joint = lt_malloc((size_t)V * V * sizeof(double));
    int *cnt = lt_malloc((size_t)V * V * sizeof(int));
    struct {
        const char *name;
        lt_spec_params p;
        int np;
    } cases[5];
    int nc = 0;
    cases[nc].name = "off";
    cases[nc].np = 3;
    cases[nc++].p = lt_spec_defaults(LT_SPEC_OFF);
    cases[nc].name = "ngram";
    cases[nc].np = 12;
    cases[nc++].p = lt_spec_defaults(LT_SPEC_NGRAM);
    cases[nc].name = "draft";
    cases[nc].np = 3;
    cases[nc].p = lt_spec_defaults(LT_SPEC_DRAFT);
    cases[nc].p.gamma = 3;
    cases[nc++].p.draft = d;
    cases[nc].name = "triforce/draft";
    cases[nc].np = 80;
    cases[nc].p = lt_spec_defaults(LT_SPEC_TRIFORCE);
    cases[nc].p.budget = 32;
    cases[nc].p.chunk = 8;
    cases[nc].p.gamma = 3;
    cases[nc].p.draft = d;
    cases[nc++].p.window = 16;
    cases[nc].name = "triforce/ngram";
    cases[nc].np = 80;
    cases[nc].p = lt_spec_defaults(LT_SPEC_TRIFORCE);
    cases[nc].p.budget = 32;
    cases[nc].p.chunk = 8;
    cases[nc++].p.gamma = 3;
    for (int c = 0; c < nc; c++) {
        exact_joint(t, kv, prompt, cases[c].np, V, joint);
        memset(cnt, 0, (size_t)V * V * sizeof(int));
        lt_err err;
        lt_spec *s;
        LT_ASSERT(lt_spec_create(&s, t, kv, &cases[c].p, &err) == LT_OK);
        lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 2};
        gp.sp.temp = 1.0f;
        gp.sp.top_k = 0;
        gp.sp.top_p = 1.0f;
        gp.sp.min_p = 0;
        int64_t drafted = 0, accepted = 0;
        for (int i = 0; i < N; i++) {
            gp.sp.seed = 1000 + (uint64_t)i;
            int seq;
            int32_t out[4];
            lt_spec_stats st;
            LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
            if (lt_spec_generate(s, NULL, seq, NULL, 0, prompt, cases[c].np, &gp, NULL, NULL, out, NULL, 4, &st,
                                 &err) != LT_OK)
                lt_abort(__FILE__, __LINE__, "%s", err.msg);
            lt_kv_seq_free(kv, seq);
            LT_ASSERT(st.gen.n_gen == 2);
            cnt[out[0] * V + out[1]]++;
            drafted += st.level[0].drafted;
            accepted += st.level[0].accepted;
        }
        lt_spec_free(s);
        int df;
        double x = chi2(cnt, joint, V * V, N, &df);
        /* bound: mean df + 6 standard deviations (sqrt(2 df)) + 10: a false alarm has
         * probability below 1e-5 */
        double bound = df + 6 * sqrt(2.0 * df) + 10;
        fprintf(stderr, "  sampling %-16s chi2 %.1f (df %d, bound %.1f), accepted %lld of %lld drafts\n",
                cases[c].name, x, df, bound, (long long)accepted, (long long)drafted);
        CHECKF(x < bound, "sampling, %s: chi2 %.1f over %d cells exceeds %.1f", cases[c].name, x, df, bound);
        if (cases[c].p.kind != LT_SPEC_OFF)
            CHECKF(drafted > 0 && accepted > 0 && accepted < drafted, "sampling, %s: %lld of %lld accepted",
                   cases[c].name, (long long)accepted, (long long)drafted);
    }
    /* a non-spec sanity check of the check itself: a skewed sample must fail the bound */
    {
        memset(cnt, 0, (size_t)V * V * sizeof(int));
        for (int i = 0; i < N; i++) cnt[(i % 2) * V]++;
        int df;
        double x = chi2(cnt, joint, V * V, N, &df);
        CHECKF(x > df + 6 * sqrt(2.0 * df) + 10, "the chi-square check cannot tell a skewed sample (%.1f)", x);
    }
    lt_free(joint);
    lt_free(cnt);
    lt_kv_free(kv);
    lt_lm_close(t);
    lt_lm_close(d);
}

/* After a long speculative run, the target's cache matches one built by plain decoding. */
static void kv_integrity(const char *what, lt_lm *t, lt_lm *d, lt_spec_kind kind, float temp) {
    lt_err err;
    const lt_llm_config *c = lt_lm_config(t);
    int V = c->n_vocab;
    lt_kv_cache *kv = make_kv(t, 512, 16);
    int32_t prompt[100], out[300];
    for (int i = 0; i < 100; i++) prompt[i] = (i * 13 + (i / 7) * 3) % V;
    lt_spec_params p = lt_spec_defaults(kind);
    p.draft = d;
    p.budget = 64;
    p.adaptive = true;
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 200};
    gp.sp.temp = temp;
    gp.sp.seed = 5;
    int seq;
    run_result r = spec_run(t, kv, &p, prompt, 100, &gp, out, 300, &seq);
    CHECKF(r.n == 200 && lt_kv_seq_len(kv, seq) == 100 + 199, "%s: %d tokens, cache %d", what, r.n,
           lt_kv_seq_len(kv, seq));
    CHECKF(r.st.level[0].accepted > 0 && r.st.level[0].accepted < r.st.level[0].drafted,
           "%s: %lld of %lld accepted: not a mix of accepts and rejects", what, (long long)r.st.level[0].accepted,
           (long long)r.st.level[0].drafted);
    /* logits of every generated position, from the speculative cache (fork + feed) ... */
    float *a = lt_malloc((size_t)V * sizeof(float)), *b = lt_malloc((size_t)V * sizeof(float));
    int32_t *all = lt_malloc(300 * sizeof(int32_t));
    memcpy(all, prompt, 100 * sizeof(int32_t));
    memcpy(all + 100, out, 200 * sizeof(int32_t));
    LT_ASSERT(lt_lm_eval(t, kv, seq, &out[199], 1, false, a, &err) == LT_OK);
    lt_kv_seq_free(kv, seq);
    /* ... and from plain token-by-token decoding of the same tokens */
    int s2;
    LT_ASSERT(lt_kv_seq_new(kv, &s2, &err) == LT_OK);
    LT_ASSERT(lt_lm_eval(t, kv, s2, all, 100, false, b, &err) == LT_OK);
    for (int i = 100; i < 300; i++) LT_ASSERT(lt_lm_eval(t, kv, s2, &all[i], 1, false, b, &err) == LT_OK);
    double e = lt_test_rel_err_ff(a, b, V);
    CHECKF(e < 1e-4, "%s: logits after the speculative run differ from plain decoding by %.2g", what, e);
    lt_kv_seq_free(kv, s2);
    CHECKF(lt_kv_blocks_used(kv) == 0, "%s: %d blocks leaked", what, lt_kv_blocks_used(kv));
    lt_free(a);
    lt_free(b);
    lt_free(all);
    lt_kv_free(kv);
}

/* Two turns on one sequence (as the workbench's chat does): the second call passes the
 * tokens already in the sequence (or NULL: the ones the first call left); output equals plain
 * lt_generate doing the same, for every kind (TriForce's view is sparse in the second turn). */
static void two_turns(lt_lm *t, lt_lm *d) {
    lt_err err;
    lt_kv_cache *kv = make_kv(t, 0, 16);
    int32_t a[] = {1, 403, 407}, b[] = {261, 378, 600 % 512};
    int32_t ref[2][64], got[2][64], hist[256];
    memset(ref, 0, sizeof ref);
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 40};
    gp.sp.temp = 0;
    static const lt_spec_kind kinds[] = {LT_SPEC_DRAFT, LT_SPEC_NGRAM, LT_SPEC_TRIFORCE, LT_SPEC_TRIFORCE};
    /* plain; then per kind: past given, past = NULL (remembered) */
    for (int mode = 0; mode < 9; mode++) {
        int32_t(*o)[64] = mode ? got : ref;
        memset(got, 0, sizeof got);
        lt_spec *s = NULL;
        lt_spec_kind kind = mode ? kinds[(mode - 1) / 2] : LT_SPEC_OFF;
        lt_spec_params p = lt_spec_defaults(kind);
        p.draft = kind == LT_SPEC_DRAFT || mode >= 7 ? d : NULL;
        p.budget = 48;
        p.adaptive = mode % 2 == 0;
        bool with_past = mode % 2 == 1;
        lt_spec_stats st[2];
        if (mode) LT_ASSERT(lt_spec_create(&s, t, kv, &p, &err) == LT_OK);
        int seq, nh = 0;
        LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
        for (int turn = 0; turn < 2; turn++) {
            int32_t pr[8];
            int np = 0;
            if (turn) pr[np++] = o[0][39]; /* the last token of turn 1 was not fed */
            for (int i = 0; i < 3; i++) pr[np++] = turn ? b[i] : a[i];
            lt_status r;
            if (mode) {
                r = lt_spec_generate(s, NULL, seq, with_past ? hist : NULL, nh, pr, np, &gp, NULL, NULL, o[turn], NULL,
                                     64, &st[turn], &err);
            } else {
                r = lt_generate(t, NULL, kv, seq, pr, np, &gp, NULL, NULL, o[turn], 64, NULL, &err);
            }
            CHECKF(r == LT_OK, "two turns: %s", err.msg);
            memcpy(hist + nh, pr, (size_t)np * sizeof(int32_t));
            nh += np;
            memcpy(hist + nh, o[turn], 39 * sizeof(int32_t));
            nh += 39;
            CHECKF(lt_kv_seq_len(kv, seq) == nh, "two turns: cache %d, expected %d", lt_kv_seq_len(kv, seq), nh);
        }
        lt_kv_seq_free(kv, seq);
        lt_spec_free(s);
        if (!mode) continue;
        CHECKF(!memcmp(ref, got, sizeof ref), "two turns, %s%s%s: output differs from plain", lt_spec_kind_name(kind),
               mode >= 7 ? ":draft" : "", with_past ? "" : " (past remembered)");
        CHECKF(st[1].level[0].drafted > 0 && st[1].level[0].accepted > 0, "two turns, %s: turn 2 accepted %lld of %lld",
               lt_spec_kind_name(kind), (long long)st[1].level[0].accepted, (long long)st[1].level[0].drafted);
        fprintf(stderr, "  two turns %-8s%s%s: turn 1 %lld/%lld, turn 2 %lld/%lld accepted\n", lt_spec_kind_name(kind),
                mode >= 7 ? ":draft" : "", with_past ? "" : " (remembered)", (long long)st[0].level[0].accepted,
                (long long)st[0].level[0].drafted, (long long)st[1].level[0].accepted,
                (long long)st[1].level[0].drafted);
    }
    CHECK(lt_kv_blocks_used(kv) == 0);
    lt_kv_free(kv);
}

/* lt_kv_seq_compose: shares the chosen blocks, checks its input, appends after them. */
static void compose_test(void) {
    lt_err err;
    lt_kv_opts ko = {.n_layers = 1, .width = 4, .block_size = 4, .n_blocks = 16, .max_seqs = 3, .max_ctx = 32,
                     .dtype = LT_F32};
    lt_kv_cache *kv;
    LT_ASSERT(lt_kv_create(&kv, g_be, &ko, &err) == LT_OK);
    int a, v;
    LT_ASSERT(lt_kv_seq_new(kv, &a, &err) == LT_OK);
    LT_ASSERT(lt_kv_seq_reserve(kv, a, 14, &err) == LT_OK);
    lt_kv_seq_commit(kv, a, 14); /* blocks 0..2 full, block 3 holds 2 */
    CHECK(lt_kv_blocks_used(kv) == 4);
    int32_t bad[] = {3, 0};
    CHECK(lt_kv_seq_compose(kv, a, bad, 2, &v, &err) == LT_EINVAL && strstr(err.msg, "partial"));
    int32_t out[] = {0, 5};
    CHECK(lt_kv_seq_compose(kv, a, out, 2, &v, &err) == LT_EINVAL && strstr(err.msg, "outside"));
    int32_t pick[] = {0, 2, 3};
    CHECK(lt_kv_seq_compose(kv, a, pick, 3, &v, &err) == LT_OK && lt_kv_seq_len(kv, v) == 10);
    CHECK(lt_kv_blocks_used(kv) == 4); /* shared, no copy */
    CHECK(lt_kv_slot(kv, v, 4) == lt_kv_slot(kv, a, 8) && lt_kv_slot(kv, v, 9) == lt_kv_slot(kv, a, 13));
    LT_ASSERT(lt_kv_seq_reserve(kv, v, 11, &err) == LT_OK); /* the shared partial block is copied */
    CHECK(lt_kv_blocks_used(kv) == 5 && lt_kv_slot(kv, v, 8) != lt_kv_slot(kv, a, 12));
    lt_kv_seq_free(kv, a);
    CHECK(lt_kv_blocks_used(kv) == 3);
    lt_kv_seq_free(kv, v);
    CHECK(lt_kv_blocks_used(kv) == 0);
    lt_kv_free(kv);
}

static void errors(lt_lm *stories, lt_lm *tiny) {
    lt_err err;
    lt_spec *s = NULL;
    lt_kv_cache *kv = make_kv(stories, 0, 16);
    lt_spec_params p = lt_spec_defaults(LT_SPEC_DRAFT);
    p.draft = tiny;
    CHECK(lt_spec_create(&s, stories, kv, &p, &err) == LT_EINVAL && strstr(err.msg, "vocabulary") && !s);
    p.draft = NULL;
    CHECK(lt_spec_create(&s, stories, kv, &p, &err) == LT_EINVAL && strstr(err.msg, "draft model"));
    p = lt_spec_defaults(LT_SPEC_TRIFORCE);
    p.chunk = 12;
    CHECK(lt_spec_create(&s, stories, kv, &p, &err) == LT_EINVAL && strstr(err.msg, "multiple"));
    p.chunk = 16;
    p.budget = 20;
    CHECK(lt_spec_create(&s, stories, kv, &p, &err) == LT_EINVAL && strstr(err.msg, "budget"));
    lt_spec_kind k;
    const char *mp;
    CHECK(lt_spec_parse("medusa", &k, &mp, &err) == LT_EINVAL && strstr(err.msg, "ngram"));
    CHECK(lt_spec_parse("triforce", &k, &mp, &err) == LT_OK && k == LT_SPEC_TRIFORCE && !mp);
    CHECK(lt_spec_parse("draft:a/b.bin", &k, &mp, &err) == LT_OK && k == LT_SPEC_DRAFT && !strcmp(mp, "a/b.bin"));
    CHECK(lt_spec_parse("triforce:x", &k, &mp, &err) == LT_OK && k == LT_SPEC_TRIFORCE && !strcmp(mp, "x"));
    CHECK(lt_spec_parse("draft", &k, &mp, &err) == LT_EINVAL && strstr(err.msg, "draft:MODEL"));
    CHECK(lt_spec_parse("ngram:x", &k, &mp, &err) == LT_EINVAL);
    /* a sequence whose length does not match the past tokens */
    p = lt_spec_defaults(LT_SPEC_NGRAM);
    LT_ASSERT(lt_spec_create(&s, stories, kv, &p, &err) == LT_OK);
    int seq;
    int32_t one = 1;
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 4};
    LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
    CHECK(lt_spec_generate(s, NULL, seq, &one, 1, &one, 1, &gp, NULL, NULL, NULL, NULL, 0, NULL, &err) == LT_EINVAL);
    float *lg = lt_malloc(512 * sizeof(float));
    LT_ASSERT(lt_lm_eval(stories, kv, seq, &one, 1, false, lg, &err) == LT_OK);
    CHECK(lt_spec_generate(s, NULL, seq, NULL, 1, &one, 1, &gp, NULL, NULL, NULL, NULL, 0, NULL, &err) == LT_EINVAL &&
          strstr(err.msg, "unknown"));
    lt_free(lg);
    lt_kv_seq_truncate(kv, seq, 0);
    int32_t bad = 100000;
    CHECK(lt_spec_generate(s, NULL, seq, NULL, 0, &bad, 1, &gp, NULL, NULL, NULL, NULL, 0, NULL, &err) == LT_ERANGE);
    lt_kv_seq_free(kv, seq);
    lt_spec_free(s);
    lt_kv_free(kv);
}

int main(void) {
    lt_err err;
    LT_ASSERT(lt_backend_create(&g_be, "cpu", &(lt_backend_opts){.n_threads = 1}, &err) == LT_OK);

    compose_test();
    /* stories260K with llama2xs drafting (same tokenizer) */
    lt_lm *st = open_file("stories260K.bin"), *xs = open_file("llama2xs_model.bin");
    {
        lt_kv_cache *kv = make_kv(st, 0, 16);
        int32_t prompt[] = {1, 403, 407, 261, 378}; /* BOS "Once upon a time" (tok512) */
        greedy_all("stories", st, xs, kv, prompt, 5, 300, false);
        lt_kv_free(kv);
    }
    lt_lm *tiny = open_synth(320, 3, LT_F32, 11);
    errors(st, tiny);
    two_turns(st, xs);
    lt_lm_close(st);
    lt_lm_close(xs);

    /* random tiny models, f32 and q8_0 */
    {
        lt_lm *d = open_synth(320, 1, LT_F32, 12);
        lt_kv_cache *kv = make_kv(tiny, 512, 16);
        int32_t prompt[90];
        for (int i = 0; i < 90; i++) prompt[i] = (i * 31 + 5) % 320;
        greedy_all("tiny f32", tiny, d, kv, prompt, 90, 160, false);
        lt_kv_free(kv);
        lt_lm_close(d);
        lt_lm *tq = open_synth(320, 3, LT_Q8_0, 21), *dq = open_synth(320, 2, LT_Q8_0, 22);
        kv = make_kv(tq, 512, 16);
        greedy_all("tiny q8_0", tq, dq, kv, prompt, 90, 160, false);
        lt_kv_free(kv);
        kv_integrity("kv/draft sampled", tq, dq, LT_SPEC_DRAFT, 1.0f);
        kv_integrity("kv/triforce sampled", tq, dq, LT_SPEC_TRIFORCE, 1.0f);
        kv_integrity("kv/ngram sampled", tq, NULL, LT_SPEC_NGRAM, 1.0f);
        lt_lm_close(tq);
        lt_lm_close(dq);
        /* q4_0: the CPU backend holds its matrices interleaved by 8 rows (q4_0_r8, matmul_q4r8.c);
           verifying a draft in a batch still gives the tokens decoding one at a time gives */
        lt_lm *t4 = open_synth(320, 3, LT_Q4_0, 31), *d4 = open_synth(320, 2, LT_Q4_0, 32);
        CHECK(t4->wtype == LT_Q4_0); /* the file's type, not the layout */
        kv = make_kv(t4, 512, 16);
        greedy_all("tiny q4_0", t4, d4, kv, prompt, 90, 160, false);
        lt_kv_free(kv);
        lt_lm_close(t4);
        lt_lm_close(d4);
    }
    lt_lm_close(tiny);
    sampling_test();
    lt_backend_free(g_be);
    return lt_test_done();
}
