/* test_engine.c - the serving engine (core/llm/engine.h):
 *  - N interleaved requests with random prompt and output lengths produce, token for token,
 *    what each produces alone through lt_generate (greedy, and seeded sampling), for both
 *    policies and several token budgets, on a random tiny q8_0 model (rows of its matmuls do
 *    not depend on the batch size, so batching must not change a single token);
 *  - one step is one batch: under sarathi a step holds at most the budget, decodes first;
 *    under prefill-first a step with a prompt holds no decode;
 *  - a KV pool too small for all requests preempts (recompute) and still gives the same tokens;
 *  - speculation inside the engine (n-gram lookup, and a draft model with its own cache: the
 *    target's twin, and its f32 twin that disagrees now and then) keeps greedy output token for
 *    token, interleaved, for both policies, with and without preemption;
 *  - TriForce inside the engine (every other request with its own drafter: a retrieval view of
 *    its cache, drafted by n-gram lookup or a draft model), interleaved with plain requests,
 *    keeps greedy output token for token, and its views leave no block behind;
 *  - a conversation over two requests on the caller's sequence, with the draft model's sequence
 *    kept between them (lt_req_params.past, keep_draft), gives lt_generate's tokens turn by
 *    turn, the draft reads the prompt in the target's chunks (the budget), and the draft's
 *    sequence holds the conversation after each turn;
 *  - cancelling mid-stream (by id, and by the callback) frees the request's blocks;
 *  - text streams as lt_generate's, and a stop string ends it right before the string;
 *  - bad settings are clear errors.
 */
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/modelsrc_open.h"
#include "core/llm/engine.h"
#include "models/llama.h"
#include "testutil.h"

#define NREQ 10
#define MAXP 120
#define MAXG 40

static lt_backend *g_be;

typedef struct reqspec {
    int32_t prompt[MAXP];
    int np, ng;
    uint64_t seed;
    int32_t ref[MAXG];
    int nref;
} reqspec;

static lt_lm *open_synth(lt_dtype dt, uint64_t seed) {
    lt_err err;
    lt_llm_config cfg;
    LT_ASSERT(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.n_vocab = 320;
    cfg.n_layers = 2;
    cfg.max_seq = 512;
    lt_lm *m;
    if (lt_llama_open_synthetic(&m, &cfg, dt, seed, g_be, NULL, &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return m;
}

static lt_kv_cache *make_kv(lt_lm *m, int ctx, int seqs, int n_blocks) {
    lt_err err;
    lt_kv_opts ko = lt_lm_kv_opts(m, ctx, seqs);
    ko.block_size = 16;
    ko.n_blocks = n_blocks;
    lt_kv_cache *kv;
    if (lt_kv_create(&kv, g_be, &ko, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return kv;
}

static lt_gen_params params(const reqspec *r, float temp) {
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = r->ng, .ignore_eos = true};
    gp.sp.temp = temp;
    gp.sp.seed = r->seed;
    return gp;
}

/* Each request alone, through lt_generate. */
static void references(lt_lm *m, reqspec *rs, int n, float temp) {
    lt_kv_cache *kv = make_kv(m, 256, 2, 0);
    for (int i = 0; i < n; i++) {
        lt_err err;
        int seq;
        lt_gen_stats st;
        LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
        lt_gen_params gp = params(&rs[i], temp);
        if (lt_generate(m, NULL, kv, seq, rs[i].prompt, rs[i].np, &gp, NULL, NULL, rs[i].ref, MAXG, &st, &err) != LT_OK)
            lt_abort(__FILE__, __LINE__, "%s", err.msg);
        rs[i].nref = st.n_gen;
        lt_kv_seq_free(kv, seq);
    }
    lt_kv_free(kv);
}

static void make_requests(reqspec *rs, int n, uint64_t seed) {
    lt_test_rng rng;
    lt_test_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) {
        rs[i].np = 1 + (int)(lt_test_u32(&rng) % MAXP);
        rs[i].ng = 1 + (int)(lt_test_u32(&rng) % MAXG);
        rs[i].seed = 1000 + (uint64_t)i;
        for (int j = 0; j < rs[i].np; j++) rs[i].prompt[j] = (int32_t)(lt_test_u32(&rng) % 320);
    }
}

static int g_spec;       /* n-gram speculation of every other request in run_engine */
static lt_lm *g_draft;   /* the engine's draft model in run_engine (NULL: none) */
static int g_spec_draft; /* draft-model speculation of every other request in run_engine */
static lt_spec_tf *g_tf[NREQ]; /* TriForce drafters of the requests in run_engine (NULL: none) */
static int g_max_running;

typedef struct run_out {
    int32_t got[NREQ][MAXG];
    int ngot[NREQ];
    int preempted;
    int64_t drafted, accepted;
    int max_step_tokens;
    bool budget_kept, decodes_first, pf_no_mix;
    bool snap_ok; /* lt_engine_snapshot_get agreed with every step */
} run_out;

/* The requests through one engine, arriving over the first steps (two at first, then one
 * every third step). */
static void run_engine(lt_lm *m, lt_kv_cache *kv, lt_engine_policy pol, int budget, reqspec *rs, int n, float temp,
                       run_out *o) {
    lt_err err;
    memset(o, 0, sizeof *o);
    o->budget_kept = o->decodes_first = o->pf_no_mix = o->snap_ok = true;
    int64_t steps = 0, pre = 0;
    lt_engine *e;
    lt_engine_opts eo = {.policy = pol, .token_budget = budget, .draft = g_draft, .max_running = g_max_running};
    LT_ASSERT(lt_engine_create(&e, m, kv, &eo, &err) == LT_OK);
    int ids[NREQ], added = 0;
    for (int step = 0; step < 100000; step++) {
        while (added < n && (added < 2 || step >= 3 * (added - 1))) {
            lt_gen_params gp = params(&rs[added], temp);
            lt_req_params rp = {.prompt = rs[added].prompt, .n_prompt = rs[added].np, .gen = gp, .seq = -1,
                                .spec_ngram = added % 2 ? g_spec : 0, .spec_draft = added % 2 ? g_spec_draft : 0,
                                .spec_triforce = g_tf[added] ? 5 : 0, .tf = g_tf[added],
                                .spec_adaptive = g_tf[added] && added % 4 == 1};
            if (lt_engine_add(e, &rp, &ids[added], &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
            added++;
        }
        if (added == n && lt_engine_idle(e)) break;
        lt_engine_stats st;
        if (lt_engine_step(e, &st, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
        int tok = st.n_decode + st.n_prefill;
        if (tok > o->max_step_tokens) o->max_step_tokens = tok;
        if (pol == LT_POLICY_SARATHI && budget > 0 && tok > budget) o->budget_kept = false;
        if (pol == LT_POLICY_PREFILL_FIRST && st.n_prefill > 0 && st.n_decode > 0) o->pf_no_mix = false;
        o->preempted += st.n_preempted;
        /* the live view: the step just run, its place in the history, the counters */
        lt_engine_snapshot sn;
        lt_engine_snapshot_get(e, &sn);
        steps += tok > 0;
        pre += st.n_preempted;
        bool ok = sn.n_decode == st.n_decode && sn.n_prefill == st.n_prefill && sn.n_running == st.n_running &&
                  sn.n_waiting == st.n_waiting && sn.kv_used == st.kv_used && sn.kv_total == st.kv_total &&
                  sn.n_steps == steps && sn.n_preempted == pre && sn.kv_host_total == 0 &&
                  sn.n_hist == (steps < LT_ENGINE_HIST ? steps : LT_ENGINE_HIST) && sn.n_tbt <= LT_ENGINE_HIST;
        if (ok && tok > 0)
            ok = sn.hist_decode[sn.n_hist - 1] == st.n_decode && sn.hist_prefill[sn.n_hist - 1] == st.n_prefill;
        for (int i = 0; i < sn.n_tbt && ok; i++) ok = sn.tbt_ms[i] >= 0;
        if (!ok) o->snap_ok = false;
    }
    lt_engine_snapshot sn;
    lt_engine_snapshot_get(e, &sn);
    int64_t gen = 0;
    for (int i = 0; i < n; i++) gen += lt_engine_result(e, ids[i])->st.n_gen;
    if (sn.n_finished != n || sn.n_running || sn.n_waiting || (gen > n && sn.n_tbt == 0)) o->snap_ok = false;
    for (int i = 0; i < n; i++) {
        const lt_req_result *r = lt_engine_result(e, ids[i]);
        CHECKF(r && r->finished && r->status == LT_OK, "request %d: %s", i, r ? r->msg : "missing");
        int k;
        o->drafted += r->drafted;
        o->accepted += r->accepted;
        const int32_t *t = lt_engine_tokens(e, ids[i], &k);
        o->ngot[i] = k;
        memcpy(o->got[i], t, (size_t)(k < MAXG ? k : MAXG) * sizeof(int32_t));
    }
    lt_engine_free(e);
}

static void compare(const char *what, const reqspec *rs, int n, const run_out *o) {
    for (int i = 0; i < n; i++) {
        int d = -1;
        for (int j = 0; j < rs[i].nref && j < o->ngot[i] && d < 0; j++)
            if (rs[i].ref[j] != o->got[i][j]) d = j;
        CHECKF(o->ngot[i] == rs[i].nref && d < 0, "%s: request %d (prompt %d): %d tokens vs %d alone, first diff at %d",
               what, i, rs[i].np, o->ngot[i], rs[i].nref, d);
    }
}

static void interleaved(lt_lm *m) {
    reqspec rs[NREQ];
    make_requests(rs, NREQ, 7);
    for (int pass = 0; pass < 2; pass++) {
        float temp = pass ? 0.8f : 0.0f; /* greedy, then seeded sampling */
        references(m, rs, NREQ, temp);
        const int budgets[] = {5, 16, 64, 0};
        for (int pol = 0; pol < 2; pol++)
            for (int b = 0; b < 4; b++) {
                lt_kv_cache *kv = make_kv(m, 256, 8, 0);
                run_out o;
                run_engine(m, kv, (lt_engine_policy)pol, budgets[b], rs, NREQ, temp, &o);
                char what[96];
                snprintf(what, sizeof what, "%s temp %.1f budget %d", lt_engine_policy_name((lt_engine_policy)pol),
                         temp, budgets[b]);
                compare(what, rs, NREQ, &o);
                CHECKF(o.budget_kept, "%s: a step went over the budget", what);
                CHECKF(o.pf_no_mix, "%s: a prefill-first step mixed prompts and decodes", what);
                CHECKF(o.snap_ok, "%s: the engine's snapshot disagreed with its steps", what);
                if (pol == LT_POLICY_SARATHI && budgets[b] > 0)
                    CHECKF(o.max_step_tokens <= budgets[b], "%s: %d tokens in a step", what, o.max_step_tokens);
                CHECKF(lt_kv_blocks_used(kv) == 0, "%s: %d blocks still used", what, lt_kv_blocks_used(kv));
                lt_kv_free(kv);
            }
    }
}

/* A pool far too small for all requests at once: preemption by recompute. */
static void preemption(lt_lm *m) {
    reqspec rs[NREQ];
    make_requests(rs, NREQ, 99);
    references(m, rs, NREQ, 0);
    for (int pol = 0; pol < 2; pol++) {
        /* 12 blocks of 16 = 192 tokens; the largest request needs at most 160 */
        lt_kv_cache *kv = make_kv(m, 256, 8, 12);
        run_out o;
        run_engine(m, kv, (lt_engine_policy)pol, 32, rs, NREQ, 0, &o);
        char what[64];
        snprintf(what, sizeof what, "preemption %s", lt_engine_policy_name((lt_engine_policy)pol));
        compare(what, rs, NREQ, &o);
        CHECKF(o.preempted > 0, "%s: nothing was preempted", what);
        CHECKF(lt_kv_blocks_used(kv) == 0, "%s: %d blocks still used", what, lt_kv_blocks_used(kv));
        lt_kv_free(kv);
    }
}

/* n-gram speculation inside the engine: greedy output is still each request's plain output,
 * with drafts accepted, for both policies, with and without preemption. */
static void speculation(lt_lm *m) {
    reqspec rs[NREQ];
    make_requests(rs, NREQ, 7);
    for (int i = 0; i < NREQ; i += 3) /* repetitive prompts, where lookup drafts well */
        for (int j = 8; j < rs[i].np; j++) rs[i].prompt[j] = rs[i].prompt[j % 8];
    rs[5].np = 1; /* a one-token prompt: its first step is a verification */
    references(m, rs, NREQ, 0);
    const int gammas[] = {1, 4, 9};
    for (int pol = 0; pol < 2; pol++)
        for (int g = 0; g < 3; g++)
            for (int small = 0; small < 2; small++) {
                g_spec = gammas[g];
                lt_kv_cache *kv = make_kv(m, 256, 8, small ? 12 : 0);
                run_out o;
                run_engine(m, kv, (lt_engine_policy)pol, 24, rs, NREQ, 0, &o);
                char what[96];
                snprintf(what, sizeof what, "spec ngram %d %s%s", gammas[g],
                         lt_engine_policy_name((lt_engine_policy)pol), small ? " small pool" : "");
                compare(what, rs, NREQ, &o);
                CHECKF(o.accepted > 0 && o.accepted <= o.drafted, "%s: %lld of %lld drafts accepted", what,
                       (long long)o.accepted, (long long)o.drafted);
                CHECKF(o.budget_kept, "%s: a step went over the budget", what);
                if (small) CHECKF(o.preempted > 0, "%s: nothing preempted", what);
                CHECKF(lt_kv_blocks_used(kv) == 0, "%s: %d blocks still used", what, lt_kv_blocks_used(kv));
                lt_kv_free(kv);
            }
    g_spec = 0;
}

/* Draft-model speculation inside the engine: every other request drafts with a second model
 * (its own KV cache, batched drafting); greedy output is each request's plain output. Drafts:
 * the target's twin (every draft accepted) and the f32 model of the same weights (the
 * quantization makes it disagree now and then: accepts and rejects). */
static void draft_speculation(lt_lm *m) {
    reqspec rs[NREQ];
    make_requests(rs, NREQ, 11);
    rs[3].np = 1;
    references(m, rs, NREQ, 0);
    lt_lm *drafts[2] = {open_synth(LT_Q8_0, 5), open_synth(LT_F32, 5)};
    const int gammas[] = {2, 5};
    for (int d = 0; d < 2; d++)
        for (int pol = 0; pol < 2; pol++)
            for (int g = 0; g < 2; g++)
                for (int small = 0; small < 2; small++) {
                    g_draft = drafts[d];
                    g_spec_draft = gammas[g];
                    lt_kv_cache *kv = make_kv(m, 256, 8, small ? 12 : 0);
                    run_out o;
                    run_engine(m, kv, (lt_engine_policy)pol, 24, rs, NREQ, 0, &o);
                    char what[96];
                    snprintf(what, sizeof what, "spec draft (%s) %d %s%s", d ? "f32 twin" : "same", gammas[g],
                             lt_engine_policy_name((lt_engine_policy)pol), small ? " small pool" : "");
                    compare(what, rs, NREQ, &o);
                    CHECKF(o.accepted > 0 && o.accepted <= o.drafted, "%s: %lld of %lld drafts accepted", what,
                           (long long)o.accepted, (long long)o.drafted);
                    if (d == 0)
                        CHECKF(o.accepted == o.drafted, "%s: the target's twin had %lld of %lld drafts accepted", what,
                               (long long)o.accepted, (long long)o.drafted);
                    else
                        CHECKF(o.accepted < o.drafted, "%s: the f32 twin had every draft accepted (%lld)", what,
                               (long long)o.drafted);
                    CHECKF(o.budget_kept, "%s: a step went over the budget", what);
                    CHECKF(o.snap_ok, "%s: the engine's snapshot disagreed with its steps", what);
                    if (small) CHECKF(o.preempted > 0, "%s: nothing preempted", what);
                    CHECKF(lt_kv_blocks_used(kv) == 0, "%s: %d blocks still used", what, lt_kv_blocks_used(kv));
                    if (pol == 0 && g == 1 && !small)
                        fprintf(stderr, "%s: %lld of %lld drafts accepted\n", what, (long long)o.accepted,
                                (long long)o.drafted);
                    lt_kv_free(kv);
                }
    g_draft = NULL;
    g_spec_draft = 0;
    /* errors: a draft without the engine's model, both kinds at once, another vocabulary */
    lt_err err;
    lt_kv_cache *kv = make_kv(m, 64, 2, 0);
    lt_engine *e;
    LT_ASSERT(lt_engine_create(&e, m, kv, NULL, &err) == LT_OK);
    int32_t p[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 4};
    int id;
    CHECK(lt_engine_add(e, &(lt_req_params){.prompt = p, .n_prompt = 8, .gen = gp, .seq = -1, .spec_draft = 3}, &id,
                        &err) == LT_EINVAL &&
          strstr(err.msg, "draft model"));
    lt_engine_free(e);
    LT_ASSERT(lt_engine_create(&e, m, kv, &(lt_engine_opts){.draft = drafts[1]}, &err) == LT_OK);
    CHECK(lt_engine_add(e, &(lt_req_params){.prompt = p, .n_prompt = 8, .gen = gp, .seq = -1, .spec_draft = 3,
                                            .spec_ngram = 2},
                        &id, &err) == LT_EINVAL &&
          strstr(err.msg, "exclusive"));
    lt_engine_free(e);
    lt_llm_config cfg;
    LT_ASSERT(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.n_vocab = 300;
    cfg.n_layers = 1;
    lt_lm *other;
    LT_ASSERT(lt_llama_open_synthetic(&other, &cfg, LT_F32, 3, g_be, NULL, &err) == LT_OK);
    CHECK(lt_engine_create(&e, m, kv, &(lt_engine_opts){.draft = other}, &err) == LT_EINVAL &&
          strstr(err.msg, "vocabulary of 300"));
    lt_lm_close(other);
    lt_kv_free(kv);
    lt_lm_close(drafts[0]);
    lt_lm_close(drafts[1]);
}

/* TriForce inside the engine: every other request drafts with its own TriForce drafter (a view
 * of 48 tokens of its cache in chunks of 16, drafted by n-gram lookup or by the f32 twin over a
 * StreamingLLM window), interleaved with plain requests. */
static void triforce_speculation(lt_lm *m) {
    reqspec rs[NREQ];
    make_requests(rs, NREQ, 23);
    for (int i = 0; i < NREQ; i += 2) /* repetitive prompts: the bottom level's lookup drafts well */
        for (int j = 8; j < rs[i].np; j++) rs[i].prompt[j] = rs[i].prompt[j % 8];
    references(m, rs, NREQ, 0);
    lt_lm *twin = open_synth(LT_F32, 5);
    lt_err err;
    for (int bottom = 0; bottom < 2; bottom++)
        for (int pol = 0; pol < 2; pol++) {
            lt_kv_cache *kv = make_kv(m, 256, 12, 0); /* 8 running, and slots for the views */
            lt_spec_params p = lt_spec_defaults(LT_SPEC_TRIFORCE);
            p.budget = 48;
            p.chunk = 16;
            p.window = 32;
            p.adaptive = true;
            p.draft = bottom ? twin : NULL;
            for (int i = 0; i < NREQ; i++) {
                g_tf[i] = NULL;
                if (i % 2 == 0 && lt_spec_tf_create(&g_tf[i], m, kv, &p, &err) != LT_OK)
                    lt_abort(__FILE__, __LINE__, "%s", err.msg);
            }
            g_max_running = 8;
            run_out o;
            run_engine(m, kv, (lt_engine_policy)pol, 24, rs, NREQ, 0, &o);
            char what[96];
            snprintf(what, sizeof what, "spec triforce/%s %s", bottom ? "draft" : "ngram",
                     lt_engine_policy_name((lt_engine_policy)pol));
            compare(what, rs, NREQ, &o);
            lt_spec_level_stats bst = {0}, b1;
            for (int i = 0; i < NREQ; i += 2) {
                lt_spec_tf_stats(g_tf[i], &b1);
                bst.drafted += b1.drafted;
                bst.accepted += b1.accepted;
                lt_spec_tf_free(g_tf[i]);
                g_tf[i] = NULL;
            }
            CHECKF(o.accepted > 0 && o.accepted <= o.drafted, "%s: %lld of %lld drafts accepted", what,
                   (long long)o.accepted, (long long)o.drafted);
            CHECKF(bst.accepted > 0 && bst.accepted <= bst.drafted, "%s: bottom level %lld of %lld accepted", what,
                   (long long)bst.accepted, (long long)bst.drafted);
            CHECKF(lt_kv_blocks_used(kv) == 0, "%s: %d blocks still used", what, lt_kv_blocks_used(kv));
            fprintf(stderr, "%s: %lld of %lld drafts accepted; bottom %lld of %lld\n", what, (long long)o.accepted,
                    (long long)o.drafted, (long long)bst.accepted, (long long)bst.drafted);
            g_max_running = 0;
            lt_kv_free(kv);
        }
    lt_lm_close(twin);
}

/* A conversation: two requests on the caller's sequence, the second with the first's tokens as
 * past, the draft model's sequence kept between them; the same tokens as lt_generate's turns. */
static void conversation(lt_lm *m) {
    lt_err err;
    lt_lm *twin = open_synth(LT_F32, 5);
    int32_t p1[40], p2[30], ref[2][24], got[2][24], hist[256];
    for (int i = 0; i < 40; i++) p1[i] = (i * 37 + 11) % 320;
    for (int i = 0; i < 30; i++) p2[i] = (i * 53 + 7) % 320;
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 24, .ignore_eos = true};
    gp.sp.temp = 0;
    /* plain: turn 2 starts with turn 1's last token (not in the cache), as the chat's pending one */
    lt_kv_cache *kv = make_kv(m, 256, 2, 0);
    int seq, n2 = 0;
    LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
    int32_t q2[31];
    for (int t = 0; t < 2; t++) {
        lt_gen_stats st;
        const int32_t *pr = t ? q2 : p1;
        int np = t ? 31 : 40;
        if (lt_generate(m, NULL, kv, seq, pr, np, &gp, NULL, NULL, ref[t], 24, &st, &err) != LT_OK)
            lt_abort(__FILE__, __LINE__, "%s", err.msg);
        LT_ASSERT(st.n_gen == 24);
        q2[0] = ref[0][23];
        memcpy(q2 + 1, p2, sizeof p2);
    }
    lt_kv_seq_truncate(kv, seq, 0);
    /* the engine: a draft sequence kept across the two requests */
    lt_kv_opts ko = lt_lm_kv_opts(twin, 256, 2);
    ko.block_size = 16;
    lt_kv_cache *dkv;
    int dseq, dlen[2];
    LT_ASSERT(lt_kv_create(&dkv, g_be, &ko, &err) == LT_OK && lt_kv_seq_new(dkv, &dseq, &err) == LT_OK);
    int64_t drafted = 0, accepted = 0;
    int n_hist = 0;
    for (int t = 0; t < 2; t++) {
        lt_engine *e;
        LT_ASSERT(lt_engine_create(&e, m, kv, &(lt_engine_opts){.draft = twin, .draft_kv = dkv, .token_budget = 16},
                                   &err) == LT_OK);
        int32_t pr[40];
        int np = t ? 31 : 40;
        if (t) {
            pr[0] = got[0][23];
            memcpy(pr + 1, p2, sizeof p2);
        } else {
            memcpy(pr, p1, sizeof p1);
        }
        lt_req_params rp = {.prompt = pr, .n_prompt = np, .gen = gp, .seq = seq, .out_ids = got[t], .out_cap = 24,
                            .spec_draft = 3, .keep_draft = true, .draft_seq = dseq, .past = t ? hist : NULL,
                            .n_past = t ? n_hist : 0};
        int id, step = 0, d_ahead = 0, d_first = -1;
        LT_ASSERT(lt_engine_add(e, &rp, &id, &err) == LT_OK);
        while (!lt_engine_idle(e)) {
            if (lt_engine_step(e, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
            /* the draft reads the prompt in the target's chunks, and never holds more than it */
            int dl = lt_kv_seq_len(dkv, dseq), tl = lt_kv_seq_len(kv, seq);
            if (dl > tl) d_ahead++;
            if (step++ == 0) d_first = dl;
        }
        CHECKF(d_ahead == 0, "conversation turn %d: the draft held more than the target after %d steps", t, d_ahead);
        if (t == 0) CHECKF(d_first == 16, "conversation: the draft read %d tokens in the first step (budget 16)", d_first);
        const lt_req_result *r = lt_engine_result(e, id);
        CHECKF(r->status == LT_OK && r->st.n_gen == 24, "conversation turn %d: %s (%d tokens)", t, r->msg, r->st.n_gen);
        drafted += r->drafted;
        accepted += r->accepted;
        lt_engine_free(e);
        memcpy(hist + n_hist, pr, (size_t)np * sizeof(int32_t));
        memcpy(hist + n_hist + np, got[t], 23 * sizeof(int32_t));
        n_hist += np + 23;
        CHECKF(lt_kv_seq_len(kv, seq) == n_hist, "conversation turn %d: the sequence holds %d, not %d", t,
               lt_kv_seq_len(kv, seq), n_hist);
        dlen[t] = lt_kv_seq_len(dkv, dseq);
        n2 += 24;
    }
    for (int t = 0; t < 2; t++) {
        int d = -1;
        for (int j = 0; j < 24 && d < 0; j++)
            if (got[t][j] != ref[t][j]) d = j;
        CHECKF(d < 0, "conversation turn %d: first difference at %d", t, d);
    }
    /* the draft read turn 1 and kept it: after turn 2 it holds (nearly) the whole conversation */
    CHECKF(dlen[0] >= 40 && dlen[0] <= 40 + 23 && dlen[1] > dlen[0] && dlen[1] <= n_hist,
           "conversation: the draft sequence held %d then %d tokens (conversation %d)", dlen[0], dlen[1], n_hist);
    CHECKF(accepted > 0 && accepted < drafted, "conversation: %lld of %lld drafts accepted", (long long)accepted,
           (long long)drafted);
    /* a request whose past does not match its sequence */
    lt_engine *e;
    LT_ASSERT(lt_engine_create(&e, m, kv, NULL, &err) == LT_OK);
    int id;
    CHECK(lt_engine_add(e, &(lt_req_params){.prompt = p2, .n_prompt = 4, .gen = gp, .seq = seq, .past = hist,
                                            .n_past = 5},
                        &id, &err) == LT_EINVAL &&
          strstr(err.msg, "past tokens"));
    lt_engine_free(e);
    (void)n2;
    lt_kv_free(dkv);
    lt_kv_seq_free(kv, seq);
    lt_kv_free(kv);
    lt_lm_close(twin);
}

typedef struct cancel_ud {
    int seen, stop_after;
} cancel_ud;

static bool cancel_cb(void *ud, int32_t id, const char *text, size_t len) {
    (void)text;
    (void)len;
    cancel_ud *c = ud;
    if (id >= 0) c->seen++;
    return c->seen < c->stop_after;
}

static void cancelling(lt_lm *m) {
    lt_err err;
    lt_kv_cache *kv = make_kv(m, 256, 4, 0);
    lt_engine *e;
    LT_ASSERT(lt_engine_create(&e, m, kv, &(lt_engine_opts){.token_budget = 48}, &err) == LT_OK);
    int32_t prompt[100];
    for (int i = 0; i < 100; i++) prompt[i] = (i * 37 + 11) % 320;
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 60, .ignore_eos = true};
    gp.sp.temp = 0;
    cancel_ud cu = {.stop_after = 5};
    int a, b, c;
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = prompt, .n_prompt = 100, .gen = gp, .seq = -1}, &a, &err) ==
              LT_OK);
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = prompt, .n_prompt = 60, .gen = gp, .seq = -1}, &b, &err) ==
              LT_OK);
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = prompt + 10, .n_prompt = 30, .gen = gp, .seq = -1,
                                                .cb = cancel_cb, .ud = &cu},
                            &c, &err) == LT_OK);
    int n = 0;
    for (int i = 0; i < 200 && n < 3; i++) {
        LT_ASSERT(lt_engine_step(e, NULL, &err) == LT_OK);
        lt_engine_tokens(e, a, &n);
    }
    CHECKF(n >= 3 && !lt_engine_result(e, a)->finished, "request a: %d tokens", n);
    int used = lt_kv_blocks_used(kv);
    lt_engine_cancel(e, a);
    const lt_req_result *ra = lt_engine_result(e, a);
    CHECK(ra->finished && ra->st.stop == LT_GEN_STOP_CANCEL && ra->status == LT_OK);
    /* a's 100 + n tokens held at least 7 blocks of 16 */
    CHECKF(lt_kv_blocks_used(kv) <= used - 7, "cancel freed %d blocks", used - lt_kv_blocks_used(kv));
    CHECK(lt_engine_n_running(e) == (lt_engine_result(e, c)->finished ? 1 : 2));
    lt_engine_cancel(e, a); /* again: ignored */
    lt_engine_cancel(e, 99);
    while (!lt_engine_idle(e)) LT_ASSERT(lt_engine_step(e, NULL, &err) == LT_OK);
    const lt_req_result *rc = lt_engine_result(e, c);
    CHECKF(rc->st.stop == LT_GEN_STOP_CANCEL && rc->st.n_gen == 5, "callback cancel: stop %d after %d tokens",
           (int)rc->st.stop, rc->st.n_gen);
    CHECK(lt_engine_result(e, b)->st.stop == LT_GEN_STOP_LENGTH && lt_engine_result(e, b)->st.n_gen == 60);
    CHECK(lt_kv_blocks_used(kv) == 0);
    /* forgetting: a finished request's record goes (result and tokens unknown after), a later
       request still runs and gets its own id; forgetting twice, or an unknown id, is ignored */
    lt_engine_forget(e, b);
    int nb = -1;
    CHECK(lt_engine_result(e, b) == NULL && lt_engine_tokens(e, b, &nb) == NULL && nb == 0);
    lt_engine_forget(e, b);
    lt_engine_forget(e, 99);
    lt_engine_cancel(e, b); /* a forgotten id: ignored */
    int d;
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = prompt, .n_prompt = 20, .gen = gp, .seq = -1}, &d, &err) ==
              LT_OK);
    CHECK(d == 3);
    LT_ASSERT(lt_engine_step(e, NULL, &err) == LT_OK);
    lt_engine_forget(e, d); /* still running: kept */
    CHECK(lt_engine_result(e, d) != NULL && !lt_engine_result(e, d)->finished);
    while (!lt_engine_idle(e)) LT_ASSERT(lt_engine_step(e, NULL, &err) == LT_OK);
    CHECK(lt_engine_result(e, d)->finished && lt_engine_result(e, d)->st.n_gen == 60);
    lt_engine_free(e); /* with forgotten slots */

    /* a request waiting (never admitted) cancelled; freeing an engine with running requests frees their blocks */
    LT_ASSERT(lt_engine_create(&e, m, kv, &(lt_engine_opts){.token_budget = 16, .max_running = 1}, &err) == LT_OK);
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = prompt, .n_prompt = 50, .gen = gp, .seq = -1}, &a, &err) ==
              LT_OK);
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = prompt, .n_prompt = 50, .gen = gp, .seq = -1}, &b, &err) ==
              LT_OK);
    LT_ASSERT(lt_engine_step(e, NULL, &err) == LT_OK);
    CHECK(lt_engine_n_running(e) == 1 && lt_engine_n_waiting(e) == 1);
    lt_engine_cancel(e, b);
    CHECK(lt_engine_n_waiting(e) == 0 && lt_engine_result(e, b)->finished);
    CHECK(lt_kv_blocks_used(kv) > 0);
    lt_engine_free(e);
    CHECK(lt_kv_blocks_used(kv) == 0);
    lt_kv_free(kv);
}

/* One batched forward (3 decodes, 2 prompt chunks, 9 rows of logits) gives every row the bits the
 * one-sequence forward gives it: returns the largest difference. */
static float rows_alone(lt_lm *m) {
    lt_err err;
    enum { NS = 9, CTX = 40 };
    lt_kv_cache *ka = make_kv(m, 128, NS, 0), *kb = make_kv(m, 128, NS, 0);
    int32_t toks[NS][CTX + 8];
    for (int s = 0; s < NS; s++)
        for (int i = 0; i < CTX + 8; i++) toks[s][i] = (int32_t)((s * 53 + i * 29 + 7) % 320);
    int pre[NS], add[NS]; /* tokens already cached, tokens this batch adds */
    for (int s = 0; s < NS; s++) {
        pre[s] = 5 + 3 * s;
        add[s] = s < 7 ? 1 : 6;
    }
    float *la = lt_malloc(sizeof(float) * 320 * NS), *lb = lt_malloc(sizeof(float) * 320 * NS);
    int32_t bt[NS * 8], bs[NS * 8], bp[NS * 8];
    bool want[NS * 8];
    int n = 0;
    for (int s = 0; s < NS; s++) {
        int sa, sb;
        LT_ASSERT(lt_kv_seq_new(ka, &sa, &err) == LT_OK && lt_kv_seq_new(kb, &sb, &err) == LT_OK && sa == s && sb == s);
        LT_ASSERT(lt_lm_eval(m, ka, s, toks[s], pre[s], false, la, &err) == LT_OK);
        LT_ASSERT(lt_lm_eval(m, kb, s, toks[s], pre[s], false, lb, &err) == LT_OK);
        for (int j = 0; j < add[s]; j++, n++) {
            bt[n] = toks[s][pre[s] + j];
            bs[n] = s;
            bp[n] = pre[s] + j;
            want[n] = j == add[s] - 1;
        }
    }
    lt_batch b = {.n_tokens = n, .tokens = bt, .seq = bs, .pos = bp, .logits = want};
    LT_ASSERT(lt_lm_forward(m, ka, &b, la, &err) == LT_OK);
    float worst = 0;
    for (int s = 0; s < NS; s++) {
        LT_ASSERT(lt_lm_eval(m, kb, s, toks[s] + pre[s], add[s], false, lb + 320 * s, &err) == LT_OK);
        for (int v = 0; v < 320; v++) {
            float d = la[320 * s + v] - lb[320 * s + v];
            if (d < 0) d = -d;
            if (d > worst) worst = d;
        }
    }
    lt_free(la);
    lt_free(lb);
    lt_kv_free(ka);
    lt_kv_free(kb);
    return worst;
}

typedef struct text_ud {
    char buf[4096];
    size_t n;
} text_ud;

static bool collect(void *ud, int32_t id, const char *text, size_t len) {
    (void)id;
    text_ud *t = ud;
    if (t->n + len < sizeof t->buf) {
        memcpy(t->buf + t->n, text, len);
        t->n += len;
        t->buf[t->n] = 0;
    }
    return true;
}

/* Text, end of generation and stop strings on the bundled stories260K: the engine's stream equals
 * lt_generate's, a stop string ends the text right before it (two requests batched). */
static void text_and_stops(void) {
    lt_err err;
    lt_modelsrc *src;
    if (lt_modelsrc_open(&src, lt_test_path("assets/models/stories260K.bin"), lt_test_path("assets/models/tok512.bin"),
                         &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_lm *m;
    lt_tokenizer *tok;
    LT_ASSERT(lt_llama_open(&m, src, g_be, NULL, &err) == LT_OK);
    LT_ASSERT(lt_tok_create(&tok, lt_modelsrc_take_vocab(src), &err) == LT_OK);
    lt_modelsrc_close(src);
    lt_kv_cache *kv = make_kv(m, 256, 4, 0);
    int32_t prompt[] = {1, 403, 407, 261, 378}; /* BOS "Once upon a time" */
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 120, .stop_at_bos = true};
    gp.sp.temp = 0;
    text_ud alone = {0};
    int seq;
    lt_gen_stats st;
    LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
    LT_ASSERT(lt_generate(m, tok, kv, seq, prompt, 5, &gp, collect, &alone, NULL, 0, &st, &err) == LT_OK);
    lt_kv_seq_free(kv, seq);
    CHECKF(alone.n > 40, "alone: '%s'", alone.buf);
    /* a stop string: 6 bytes from the middle of the text */
    char stop[8];
    memcpy(stop, alone.buf + alone.n / 2, 6);
    stop[6] = 0;
    const char *first = strstr(alone.buf, stop);
    size_t want = (size_t)(first - alone.buf);
    lt_engine *e;
    LT_ASSERT(lt_engine_create(&e, m, kv, &(lt_engine_opts){.token_budget = 3, .tok = tok}, &err) == LT_OK);
    text_ud a = {0}, b = {0};
    const char *stops[] = {"never appears", stop};
    int ia, ib;
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = prompt, .n_prompt = 5, .gen = gp, .seq = -1, .cb = collect,
                                                .ud = &a},
                            &ia, &err) == LT_OK);
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = prompt, .n_prompt = 5, .gen = gp, .seq = -1, .cb = collect,
                                                .ud = &b, .stops = stops, .n_stops = 2},
                            &ib, &err) == LT_OK);
    while (!lt_engine_idle(e)) LT_ASSERT(lt_engine_step(e, NULL, &err) == LT_OK);
    CHECKF(!strcmp(a.buf, alone.buf), "batched text differs:\n%s\n---\n%s", a.buf, alone.buf);
    CHECK(lt_engine_result(e, ia)->st.stop == st.stop && lt_engine_result(e, ia)->st.n_gen == st.n_gen);
    CHECKF(b.n == want && !strncmp(b.buf, alone.buf, want), "stop '%s': %zu bytes, want %zu", stop, b.n, want);
    CHECK(lt_engine_result(e, ib)->st.stop == LT_GEN_STOP_STRING);
    lt_engine_free(e);
    lt_kv_free(kv);
    lt_tok_free(tok);
    lt_lm_close(m);
}

static void errors(lt_lm *m) {
    lt_err err;
    lt_kv_cache *kv = make_kv(m, 64, 2, 0);
    lt_engine *e = NULL;
    lt_engine_policy pol;
    CHECK(lt_engine_policy_parse("fcfs", &pol, &err) == LT_EINVAL && strstr(err.msg, "fcfs") &&
          strstr(err.msg, "prefill-first"));
    CHECK(lt_engine_policy_parse("prefill-first", &pol, &err) == LT_OK && pol == LT_POLICY_PREFILL_FIRST);
    CHECK(lt_engine_create(&e, m, kv, &(lt_engine_opts){.token_budget = -1}, &err) == LT_EINVAL &&
          strstr(err.msg, "budget"));
    LT_ASSERT(lt_engine_create(&e, m, kv, NULL, &err) == LT_OK);
    int32_t p[80] = {0};
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 4};
    int id;
    CHECK(lt_engine_add(e, &(lt_req_params){.prompt = p, .n_prompt = 0, .gen = gp, .seq = -1}, &id, &err) ==
              LT_EINVAL &&
          strstr(err.msg, "no tokens"));
    CHECK(lt_engine_add(e, &(lt_req_params){.prompt = p, .n_prompt = 80, .gen = gp, .seq = -1}, &id, &err) ==
              LT_ERANGE &&
          strstr(err.msg, "does not fit the context"));
    p[3] = 320;
    CHECK(lt_engine_add(e, &(lt_req_params){.prompt = p, .n_prompt = 8, .gen = gp, .seq = -1}, &id, &err) ==
              LT_ERANGE &&
          strstr(err.msg, "vocabulary"));
    p[3] = 0;
    CHECK(lt_engine_add(e, &(lt_req_params){.prompt = p, .n_prompt = 8, .gen = gp, .seq = 1}, &id, &err) ==
              LT_EINVAL &&
          strstr(err.msg, "sequence 1"));
    const char *stops[] = {"x"};
    CHECK(lt_engine_add(e, &(lt_req_params){.prompt = p, .n_prompt = 8, .gen = gp, .seq = -1, .stops = stops,
                                            .n_stops = 1},
                        &id, &err) == LT_EINVAL &&
          strstr(err.msg, "tokenizer"));
    CHECK(lt_engine_idle(e));
    lt_engine_stats st;
    CHECK(lt_engine_step(e, &st, &err) == LT_OK && st.n_decode + st.n_prefill == 0);
    lt_engine_free(e);
    /* a pool too small for one request alone: that request fails, clearly, and nothing leaks */
    lt_kv_free(kv);
    kv = make_kv(m, 64, 2, 2);
    LT_ASSERT(lt_engine_create(&e, m, kv, NULL, &err) == LT_OK);
    gp.n_predict = 30;
    gp.ignore_eos = true;
    LT_ASSERT(lt_engine_add(e, &(lt_req_params){.prompt = p, .n_prompt = 20, .gen = gp, .seq = -1}, &id, &err) ==
              LT_OK);
    while (!lt_engine_idle(e)) LT_ASSERT(lt_engine_step(e, NULL, &err) == LT_OK);
    const lt_req_result *r = lt_engine_result(e, id);
    CHECKF(r->status == LT_ENOMEM && strstr(r->msg, "KV cache full"), "status %d: %s", (int)r->status, r->msg);
    CHECK(lt_kv_blocks_used(kv) == 0);
    lt_engine_free(e);
    lt_kv_free(kv);
}

int main(void) {
    lt_err err;
    LT_ASSERT(lt_backend_create(&g_be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    lt_lm *m = open_synth(LT_Q8_0, 5);
    float d = rows_alone(m);
    CHECKF(d == 0, "q8_0: a batched row differs from the row alone by %g", d);
    lt_lm *f = open_synth(LT_F32, 5); /* f32 matrices switch to sgemm at 8 rows: told, not required */
    fprintf(stderr, "f32: batched rows differ from rows alone by up to %g\n", rows_alone(f));
    lt_lm_close(f);
    interleaved(m);
    preemption(m);
    speculation(m);
    draft_speculation(m);
    triforce_speculation(m);
    conversation(m);
    cancelling(m);
    errors(m);
    text_and_stops();
    lt_lm_close(m);
    lt_backend_free(g_be);
    return lt_test_done();
}
