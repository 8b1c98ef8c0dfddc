/* test_engine_smollm2.c - the engine on the real chat model SmolLM2-135M-Instruct (Q4_1; its tied
 * head is q8_0, so every matmul row is independent of the batch size): four interleaved requests
 * with random prompts give token for token what each gives alone through lt_generate, under
 * sarathi with a small budget (prompts chunked, decodes mixed in), prefill-first, and sarathi
 * with n-gram speculation. Skips (77) when the model is absent ($LATHE_SMOLLM2, else the models
 * folder). */
#include <stdlib.h>
#include <string.h>

#include "core/formats/modelsrc_open.h"
#include "core/llm/engine.h"
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
    lt_kv_free(kv);
    lt_lm_close(m);
    lt_backend_free(be);
    return lt_test_done();
}
