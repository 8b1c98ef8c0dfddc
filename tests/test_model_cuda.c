/* test_model_cuda.c - whole models on the CUDA backend against the CPU backend:
 *  - a tiny random Llama (GQA, f32 / f16 / q8_0 / q4_0 weights): prompt logits and 40 greedy
 *    decode steps (the CPU's tokens fed to both), relative error per step;
 *  - the bundled stories260K: 200 greedy tokens identical on both backends, logits close;
 *  - decode-step graphs are used on CUDA, and give bit-identical logits to running the same
 *    steps without them (LATHE_GRAPHS=0), also after a prompt chunk between decode steps
 *    (attention scratch grows under captured graphs) and after truncating back to an older
 *    block-table size (an older graph replays);
 *  - batch invariance: one batched forward of 6 tokens gives each token's logits bit for bit
 *    as 6 single-token steps do (what exact greedy speculative decoding relies on).
 * Skips (77) without a CUDA device. Built with -DLT_TEST_SELFCHECK, a second CPU backend
 * stands in for CUDA (checks this test's own logic on machines without a GPU).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/formats/modelsrc_open.h"
#include "core/llm/sampler.h"
#include "models/llama.h"
#include "testutil.h"

static lt_backend *cpu, *gpu;

static lt_lm *open_synth(lt_backend *be, lt_dtype dt) {
    lt_err err;
    lt_llm_config cfg;
    LT_ASSERT(lt_llama_preset("tiny", &cfg, &err) == LT_OK);
    cfg.max_seq = 512;
    lt_lm *m;
    if (lt_llama_open_synthetic(&m, &cfg, dt, 4242, be, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return m;
}

static lt_lm *open_stories(lt_backend *be) {
    lt_err err;
    lt_modelsrc *src;
    if (lt_modelsrc_open(&src, lt_test_path("assets/models/stories260K.bin"),
                         lt_test_path("assets/models/tok512.bin"), &err) != LT_OK)
        lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_lm *m;
    if (lt_llama_open(&m, src, be, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_modelsrc_close(src);
    return m;
}

static lt_kv_cache *make_kv(lt_lm *m) {
    lt_err err;
    lt_kv_opts ko = lt_lm_kv_opts(m, 512, 2);
    lt_kv_cache *kv;
    if (lt_kv_create(&kv, lt_lm_backend(m), &ko, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    return kv;
}

/* Greedy decoding on both models from the same prompt; the CPU's token is fed to both, so
 * the logits stay comparable after a near-tie. Returns the worst relative error; counts
 * the steps whose argmax differs. */
static double run_pair(lt_lm *a, lt_lm *b, const int32_t *prompt, int np, int steps, int32_t *ids_a, int32_t *ids_b,
                       int *diff) {
    lt_err err;
    const int V = a->cfg.n_vocab;
    lt_kv_cache *ka = make_kv(a), *kb = make_kv(b);
    int sa, sb;
    LT_ASSERT(lt_kv_seq_new(ka, &sa, &err) == LT_OK && lt_kv_seq_new(kb, &sb, &err) == LT_OK);
    float *la = lt_malloc(sizeof(float) * V), *lb = lt_malloc(sizeof(float) * V);
    LT_ASSERT(lt_lm_eval(a, ka, sa, prompt, np, false, la, &err) == LT_OK);
    if (lt_lm_eval(b, kb, sb, prompt, np, false, lb, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    double worst = lt_test_rel_err_ff(lb, la, V);
    *diff = 0;
    for (int i = 0; i < steps; i++) {
        int32_t ta = lt_argmax(la, V), tb = lt_argmax(lb, V);
        ids_a[i] = ta, ids_b[i] = tb;
        *diff += ta != tb;
        LT_ASSERT(lt_lm_eval(a, ka, sa, &ta, 1, false, la, &err) == LT_OK);
        if (lt_lm_eval(b, kb, sb, &ta, 1, false, lb, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
        double r = lt_test_rel_err_ff(lb, la, V);
        if (r > worst) worst = r;
    }
    lt_free(la), lt_free(lb);
    lt_kv_free(ka), lt_kv_free(kb);
    return worst;
}

static void check_tiny(void) {
    /* gq4_32: the 320-row embedding and head take the W4A16 layout (get_rows and matmul read it),
     * the other matrices (96, 160, 32 rows) stay in rows */
    static const lt_dtype dts[] = {LT_F32, LT_F16, LT_Q8_0, LT_Q4_0, LT_GQ4_32};
    int32_t prompt[20], ia[40], ib[40];
    for (int i = 0; i < 20; i++) prompt[i] = (i * 37 + 11) % 320;
    for (int d = 0; d < (int)(sizeof dts / sizeof dts[0]); d++) {
        lt_lm *a = open_synth(cpu, dts[d]), *b = open_synth(gpu, dts[d]);
        int diff;
        double r = run_pair(a, b, prompt, 20, 40, ia, ib, &diff);
        double tol = dts[d] == LT_F32 ? 1e-4 : 2e-2;
        CHECKF(r <= tol, "tiny %s: logits rel err %.3g > %.3g", lt_dtype_name(dts[d]), r, tol);
        printf("%-40s rel err %.3g, argmax differs in %d of 40 steps\n", lt_dtype_name(dts[d]), r, diff);
        if (dts[d] == LT_F32) CHECK(diff == 0);
        lt_lm_close(a), lt_lm_close(b);
    }
}

static void check_stories(void) {
    lt_lm *a = open_stories(cpu), *b = open_stories(gpu);
    int32_t prompt[4] = {1, 403, 407, 261}, ia[200], ib[200];
    int diff;
    double r = run_pair(a, b, prompt, 4, 200, ia, ib, &diff);
    CHECKF(r <= 1e-4, "stories260K: logits rel err %.3g", r);
    CHECKF(diff == 0 && !memcmp(ia, ib, sizeof ia), "stories260K: greedy tokens differ at %d steps", diff);
    printf("%-40s rel err %.3g, %d of 200 greedy tokens differ\n", "stories260K", r, diff);
    if (lt_backend_can_capture(gpu))
        CHECKF(b->graph_replays > 150 && b->graph_off[0] == 0, "graphs: %lld replays, off '%s'",
               (long long)b->graph_replays, b->graph_off);
    printf("%-40s %lld replays, %lld captures %s\n", "decode-step graphs", (long long)b->graph_replays,
           (long long)b->graph_captures, b->graph_off);
    lt_lm_close(a), lt_lm_close(b);
}

/* The same decode with and without graphs: bit-identical (the attention plan of a captured
 * step uses a padded context; for one token it must not change a bit). */
static void check_graphs_exact(void) {
    lt_lm *g = open_stories(gpu);
    setenv("LATHE_GRAPHS", "0", 1);
    lt_lm *p = open_stories(gpu);
    unsetenv("LATHE_GRAPHS");
    int32_t prompt[4] = {1, 403, 407, 261}, ig[300], ip[300];
    int diff;
    lt_err err;
    const int V = g->cfg.n_vocab;
    lt_kv_cache *kg = make_kv(g), *kp = make_kv(p);
    int sg, sp;
    LT_ASSERT(lt_kv_seq_new(kg, &sg, &err) == LT_OK && lt_kv_seq_new(kp, &sp, &err) == LT_OK);
    float *lg = lt_malloc(sizeof(float) * V), *lp = lt_malloc(sizeof(float) * V);
    LT_ASSERT(lt_lm_eval(g, kg, sg, prompt, 4, false, lg, &err) == LT_OK);
    LT_ASSERT(lt_lm_eval(p, kp, sp, prompt, 4, false, lp, &err) == LT_OK);
    int bad = 0;
    diff = 0;
    for (int i = 0; i < 300; i++) { /* past 256 positions: a second block-table bucket */
        int32_t t = lt_argmax(lp, V);
        ip[i] = t, ig[i] = lt_argmax(lg, V);
        diff += ip[i] != ig[i];
        LT_ASSERT(lt_lm_eval(g, kg, sg, &t, 1, false, lg, &err) == LT_OK);
        LT_ASSERT(lt_lm_eval(p, kp, sp, &t, 1, false, lp, &err) == LT_OK);
        bad += memcmp(lg, lp, sizeof(float) * V) != 0;
    }
    /* a prompt chunk between decode steps (it may grow the attention scratch that captured
       graphs hold), then back to a shorter context (an older graph shape replays) */
    int32_t chunk[20];
    for (int i = 0; i < 20; i++) chunk[i] = (i * 29 + 3) % V;
    float *cg = lt_malloc(sizeof(float) * V * 20), *cp = lt_malloc(sizeof(float) * V * 20);
    LT_ASSERT(lt_lm_eval(g, kg, sg, chunk, 20, true, cg, &err) == LT_OK);
    LT_ASSERT(lt_lm_eval(p, kp, sp, chunk, 20, true, cp, &err) == LT_OK);
    CHECK(!memcmp(cg, cp, sizeof(float) * V * 20));
    lt_free(cg), lt_free(cp);
    for (int phase = 0; phase < 2; phase++) {
        if (phase == 1) {
            lt_kv_seq_truncate(kg, sg, 100);
            lt_kv_seq_truncate(kp, sp, 100);
            LT_ASSERT(lt_lm_eval(g, kg, sg, chunk, 1, false, lg, &err) == LT_OK);
            LT_ASSERT(lt_lm_eval(p, kp, sp, chunk, 1, false, lp, &err) == LT_OK);
        }
        for (int i = 0; i < 40; i++) {
            int32_t t = lt_argmax(lp, V);
            diff += t != lt_argmax(lg, V);
            LT_ASSERT(lt_lm_eval(g, kg, sg, &t, 1, false, lg, &err) == LT_OK);
            LT_ASSERT(lt_lm_eval(p, kp, sp, &t, 1, false, lp, &err) == LT_OK);
            bad += memcmp(lg, lp, sizeof(float) * V) != 0;
        }
    }
    CHECKF(bad == 0 && diff == 0, "graphs vs no graphs: %d of 380 steps' logits differ", bad);
    CHECK(p->graph_replays == 0);
    if (lt_backend_can_capture(gpu)) CHECK(g->graph_captures >= 2 && g->graph_replays > 250);
    printf("%-40s %d of 380 steps differ (%lld replays)\n", "graphs vs plain, bitwise", bad,
           (long long)g->graph_replays);
    lt_free(lg), lt_free(lp);
    lt_kv_free(kg), lt_kv_free(kp);
    lt_lm_close(g), lt_lm_close(p);
}

/* One forward of 6 tokens (all logits) vs 6 single-token forwards, on a 300-token context. */
static void check_batch_invariance(lt_dtype dt) {
    lt_lm *m = open_synth(gpu, dt);
    lt_err err;
    const int V = m->cfg.n_vocab, N0 = 300, K = 6;
    lt_kv_cache *kv = make_kv(m);
    int s1, s2;
    int32_t ctx[300 + 6];
    for (int i = 0; i < N0 + K; i++) ctx[i] = (i * 53 + 7) % V;
    float *l1 = lt_malloc(sizeof(float) * V * K), *l2 = lt_malloc(sizeof(float) * V);
    LT_ASSERT(lt_kv_seq_new(kv, &s1, &err) == LT_OK);
    LT_ASSERT(lt_lm_eval(m, kv, s1, ctx, N0, false, l2, &err) == LT_OK);
    LT_ASSERT(lt_kv_seq_fork(kv, s1, &s2, &err) == LT_OK);
    LT_ASSERT(lt_lm_eval(m, kv, s1, ctx + N0, K, true, l1, &err) == LT_OK);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < K; i++) {
        LT_ASSERT(lt_lm_eval(m, kv, s2, ctx + N0 + i, 1, false, l2, &err) == LT_OK);
        if (memcmp(l1 + (size_t)i * V, l2, sizeof(float) * V)) bad++;
        double r = lt_test_rel_err_ff(l2, l1 + (size_t)i * V, V);
        if (r > worst) worst = r;
    }
    CHECKF(bad == 0, "%s: %d of %d batched rows differ from single steps (rel %.3g)", lt_dtype_name(dt), bad, K,
           worst);
    printf("batch of %d vs single steps, %-14s %d rows differ (rel %.3g)\n", K, lt_dtype_name(dt), bad, worst);
    lt_free(l1), lt_free(l2);
    lt_kv_free(kv);
    lt_lm_close(m);
}

int main(void) {
    int rc = lt_test_gpu_backends(&cpu, &gpu, LT_TEST_SELF);
    if (rc) return rc;
    check_tiny();
    check_stories();
    check_graphs_exact();
    check_batch_invariance(LT_F32);
    check_batch_invariance(LT_Q8_0);
    check_batch_invariance(LT_GQ4_32); /* the W4A16 kernel's rows do not depend on the batch */
    lt_backend_free(cpu);
    lt_backend_free(gpu);
    return lt_test_done();
}
