/* test_engine_smollm2.c - the engine on the real chat model SmolLM2-135M-Instruct (Q4_1; its tied
 * head is q8_0, so every matmul row is independent of the batch size): four interleaved requests
 * with random prompts give token for token what each gives alone through lt_generate, under
 * sarathi with a small budget (prompts chunked, decodes mixed in), prefill-first, and sarathi
 * with n-gram speculation; and a two-turn conversation through lt_spec_generate (one engine
 * request per turn) gives lt_generate's tokens for n-gram, draft-model (SmolLM2 drafting for
 * itself: every draft accepted) and TriForce speculation (a view of 64 tokens). Skips (77) when
 * the model is absent ($LATHE_SMOLLM2, else the models folder). */
#include <stdlib.h>
#include <string.h>

#include "core/formats/modelsrc_open.h"
#include "core/llm/engine.h"
#include "core/llm/spec.h"
#include "models/llama.h"
#include "testutil.h"

#define NR 4
#define NG 12

int main(void) {
#if defined(__SANITIZE_ADDRESS__)
    /* the engine's code paths run under ASan in test_engine (tiny model); SmolLM2 there costs a
       minute of CI's time: this test runs in the Release suite */
    fprintf(stderr, "test_engine_smollm2: sanitizer build: skipped (test_engine covers the engine here)\n");
    return 77;
#endif
    lt_err err = {0};
    const char *path = lt_test_smollm2("test_engine_smollm2");
    if (!path) return 77;
    lt_backend *be;
    LT_ASSERT(lt_backend_create(&be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK);
    lt_modelsrc *src;
    lt_lm *m;
    if (lt_modelsrc_open(&src, path, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    if (lt_llama_open(&m, src, be, NULL, &err) != LT_OK) lt_abort(__FILE__, __LINE__, "%s", err.msg);
    lt_modelsrc_close(src);
    lt_kv_opts ko = lt_lm_kv_opts(m, 256, NR);
    lt_kv_cache *kv;
    LT_ASSERT(lt_kv_create(&kv, be, &ko, &err) == LT_OK);
    int32_t prompt[NR][96], ref[NR][NG], got[NR][NG];
    int np[NR] = {7, 90, 33, 61}, nref[NR];
    lt_test_rng rng;
    lt_test_rng_seed(&rng, 19);
    for (int i = 0; i < NR; i++)
        for (int j = 0; j < np[i]; j++) prompt[i][j] = (int32_t)(lt_test_u32(&rng) % 49152);
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = NG, .ignore_eos = true};
    gp.sp.temp = 0;
    for (int i = 0; i < NR; i++) {
        int seq;
        lt_gen_stats st;
        LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
        LT_ASSERT(lt_generate(m, NULL, kv, seq, prompt[i], np[i], &gp, NULL, NULL, ref[i], NG, &st, &err) == LT_OK);
        nref[i] = st.n_gen;
        lt_kv_seq_free(kv, seq);
    }
    struct {
        lt_engine_policy pol;
        int budget, spec;
    } runs[3] = {{LT_POLICY_SARATHI, 24, 0}, {LT_POLICY_PREFILL_FIRST, 64, 0}, {LT_POLICY_SARATHI, 32, 3}};
    for (int r = 0; r < 3; r++) {
        lt_engine *e;
        LT_ASSERT(lt_engine_create(&e, m, kv, &(lt_engine_opts){.policy = runs[r].pol, .token_budget = runs[r].budget},
                                   &err) == LT_OK);
        int ids[NR], mixed = 0;
        for (int i = 0; i < NR; i++) {
            lt_req_params rp = {.prompt = prompt[i], .n_prompt = np[i], .gen = gp, .seq = -1, .out_ids = got[i],
                                .out_cap = NG, .spec_ngram = runs[r].spec};
            LT_ASSERT(lt_engine_add(e, &rp, &ids[i], &err) == LT_OK);
            lt_engine_stats st; /* the next request arrives after one step */
            LT_ASSERT(lt_engine_step(e, &st, &err) == LT_OK);
        }
        while (!lt_engine_idle(e)) {
            lt_engine_stats st;
            LT_ASSERT(lt_engine_step(e, &st, &err) == LT_OK);
            mixed += st.n_decode > 0 && st.n_prefill > 0;
        }
        for (int i = 0; i < NR; i++) {
            const lt_req_result *res = lt_engine_result(e, ids[i]);
            int d = -1;
            for (int j = 0; j < NG && d < 0; j++)
                if (got[i][j] != ref[i][j]) d = j;
            CHECKF(res->st.n_gen == nref[i] && d < 0, "run %d request %d: %d tokens (alone %d), first diff at %d", r, i,
                   res->st.n_gen, nref[i], d);
        }
        if (runs[r].pol == LT_POLICY_SARATHI) CHECKF(mixed > 0, "run %d: no step mixed decodes and a prompt", r);
        lt_engine_free(e);
    }
    /* two turns: the second prompt starts with the first's last token (not fed), as the chat's */
    lt_kv_free(kv);
    ko = lt_lm_kv_opts(m, 256, 2);
    LT_ASSERT(lt_kv_create(&kv, be, &ko, &err) == LT_OK);
    int32_t turn_ref[2][NG], turn_got[2][NG];
    for (int mode = 0; mode < 4; mode++) { /* plain, ngram, draft, triforce */
        static const lt_spec_kind kinds[] = {LT_SPEC_OFF, LT_SPEC_NGRAM, LT_SPEC_DRAFT, LT_SPEC_TRIFORCE};
        int32_t(*o)[NG] = mode ? turn_got : turn_ref;
        lt_spec_params p = lt_spec_defaults(kinds[mode]);
        p.draft = mode == 2 ? m : NULL;
        p.budget = 64;
        lt_spec *sp = NULL;
        if (mode) LT_ASSERT(lt_spec_create(&sp, m, kv, &p, &err) == LT_OK);
        int seq, nh = 0;
        LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
        lt_spec_stats st[2] = {0};
        for (int t = 0; t < 2; t++) {
            int32_t pr[100];
            int n = 0;
            if (t) pr[n++] = o[0][NG - 1];
            for (int j = 0; j < np[t + 1]; j++) pr[n++] = prompt[t + 1][j % 20]; /* repetitive: lookups draft */
            lt_status r = mode ? lt_spec_generate(sp, NULL, seq, NULL, nh, pr, n, &gp, NULL, NULL, o[t], NULL, NG,
                                                  &st[t], &err)
                               : lt_generate(m, NULL, kv, seq, pr, n, &gp, NULL, NULL, o[t], NG, NULL, &err);
            CHECKF(r == LT_OK, "two turns, mode %d: %s", mode, err.msg);
            nh += n + NG - 1;
        }
        lt_kv_seq_free(kv, seq);
        lt_spec_free(sp);
        if (!mode) continue;
        CHECKF(!memcmp(turn_ref, turn_got, sizeof turn_ref), "two turns, %s: output differs from plain",
               lt_spec_kind_name(kinds[mode]));
        CHECKF(st[1].level[0].accepted > 0, "two turns, %s: no draft accepted in turn 2",
               lt_spec_kind_name(kinds[mode]));
        if (mode == 2)
            CHECKF(st[0].level[0].accepted == st[0].level[0].drafted &&
                       st[1].level[0].accepted == st[1].level[0].drafted,
                   "two turns, draft by itself: %lld of %lld, %lld of %lld accepted",
                   (long long)st[0].level[0].accepted, (long long)st[0].level[0].drafted,
                   (long long)st[1].level[0].accepted, (long long)st[1].level[0].drafted);
        fprintf(stderr, "two turns %-8s turn 1 %lld/%lld, turn 2 %lld/%lld accepted\n", lt_spec_kind_name(kinds[mode]),
                (long long)st[0].level[0].accepted, (long long)st[0].level[0].drafted,
                (long long)st[1].level[0].accepted, (long long)st[1].level[0].drafted);
    }
    lt_kv_free(kv);
    lt_lm_close(m);
    lt_backend_free(be);
    return lt_test_done();
}
