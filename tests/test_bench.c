/* test_bench.c - the one prefill/decode measurement (core/llm/bench.h) on the tiny synthetic
 * model: positive rates and the asked token counts; the digest is that of an independent
 * greedy decode from an empty context, the same on every run, with or without warm-up;
 * progress reports every phase in order and a cancel through it stops early (cancelled,
 * the digest of what was decoded, which a run of that many tokens reproduces); sequences
 * are freed; bad counts are errors; the rooflines and the derived figures; the plain and
 * speculative runs of `lathe bench spec` agree token for token at temperature 0. */
#include <stdlib.h>
#include <string.h>

#include "core/base/digest.h"
#include "core/llm/bench.h"
#include "models/llama.h"
#include "testutil.h"

typedef struct trace {
    int calls, phases[3], last_done, cancel_at; /* cancel_at: stop once done reaches it (0 = never) */
    lt_bench_phase last_phase;
    bool ordered, frac_ok;
    double prefill_tps_at_decode;
} trace;

static bool on_progress(void *ud, const lt_bench_progress *p) {
    trace *t = ud;
    if (t->calls > 0 && (p->phase < t->last_phase || (p->phase == LT_BENCH_DECODE && p->done < t->last_done)))
        t->ordered = false;
    if (p->phase == LT_BENCH_DECODE) {
        if (p->done == 0) t->prefill_tps_at_decode = p->prefill_tps;
        if (p->total <= 0 || p->frac < 0 || p->frac > 1 || (p->done > 0 && p->decode_tps <= 0)) t->frac_ok = false;
        double want = p->total > 0 ? (double)p->done / p->total : 0;
        if (p->frac - want > 1e-12 || want - p->frac > 1e-12) t->frac_ok = false;
    }
    t->calls++;
    t->phases[p->phase]++;
    t->last_phase = p->phase;
    t->last_done = p->done;
    return !(t->cancel_at > 0 && p->phase == LT_BENCH_DECODE && p->done >= t->cancel_at);
}

static bool refuse(void *ud, const lt_bench_progress *p) { return false; }

/* Greedy decode of n tokens from an empty context starting at the benchmark prompt's first id. */
static uint64_t reference_digest(lt_lm *m, lt_kv_cache *kv, int n) {
    lt_err err;
    int V = lt_lm_config(m)->n_vocab, seq;
    float *logits = malloc((size_t)V * sizeof(float));
    int32_t out[64], cur;
    LT_ASSERT(n <= 64 && logits);
    lt_bench_prompt_ids(&cur, 1, V);
    LT_ASSERT(lt_kv_seq_new(kv, &seq, &err) == LT_OK);
    for (int i = 0; i < n; i++) {
        LT_ASSERT(lt_lm_eval(m, kv, seq, &cur, 1, false, logits, &err) == LT_OK);
        out[i] = cur = lt_argmax(logits, V);
    }
    lt_kv_seq_free(kv, seq);
    free(logits);
    return lt_digest_ids(out, n);
}

int main(void) {
    lt_err err;
    lt_backend *be;
    lt_lm *m;
    lt_kv_cache *kv;
    LT_ASSERT(lt_backend_create(&be, "cpu", &(lt_backend_opts){.n_threads = 1}, &err) == LT_OK);
    LT_ASSERT(lt_llama_open_preset(&m, "tiny", be, NULL, &err) == LT_OK);
    lt_kv_opts ko = lt_lm_kv_opts(m, 64, 2);
    LT_ASSERT(lt_kv_create(&kv, be, &ko, &err) == LT_OK);
    int V = lt_lm_config(m)->n_vocab;

    /* the prompt: deterministic, in range */
    int32_t a[40], b[40];
    lt_bench_prompt_ids(a, 40, V);
    lt_bench_prompt_ids(b, 40, V);
    bool in_range = true;
    for (int i = 0; i < 40; i++) in_range = in_range && a[i] >= 0 && a[i] < V;
    CHECK(!memcmp(a, b, sizeof a) && in_range && a[0] != a[1]);

    /* a full run */
    lt_bench_result r1, r2, r3;
    trace t = {.ordered = true, .frac_ok = true};
    lt_bench_opts o = {.n_prompt = 32, .n_gen = 16, .warmup = true, .progress = on_progress, .ud = &t};
    CHECKF(lt_bench_lm(m, kv, &o, &r1, &err) == LT_OK, "%s", err.msg);
    CHECK(r1.n_prompt == 32 && r1.n_gen == 16 && !r1.cancelled);
    CHECK(r1.prefill_s > 0 && r1.decode_s > 0 && r1.prefill_tps > 0 && r1.decode_tps > 0);
    CHECK(r1.digest == reference_digest(m, kv, 16) && r1.digest != lt_digest_ids(NULL, 0));
    CHECK(lt_kv_blocks_used(kv) == 0);
    /* every decode token reported (report_s 0), phases in order */
    CHECKF(t.phases[LT_BENCH_WARMUP] == 1 && t.phases[LT_BENCH_PREFILL] == 1 && t.phases[LT_BENCH_DECODE] == 16,
           "%d %d %d", t.phases[0], t.phases[1], t.phases[2]);
    CHECK(t.ordered && t.frac_ok && t.last_done == 15 && t.prefill_tps_at_decode > 0);
    /* derived figures */
    const lt_llm_config *c = lt_lm_config(m);
    CHECK(r1.params > 0 && r1.weight_bytes == (double)m->weight_bytes);
    /* K and V rows (f32) of every layer at the mean context of 16 / 2 tokens */
    CHECK(r1.kv_bytes_per_token == 8.0 * 2 * c->n_layers * c->n_kv_heads * c->head_dim * 4);
    CHECK(r1.bytes_per_token == (double)m->bytes_per_token + r1.kv_bytes_per_token);
    CHECK(r1.achieved_bps == r1.bytes_per_token * r1.decode_tps && r1.prefill_flops == 2 * r1.params * r1.prefill_tps);
    CHECK(r1.peak_copy_bps == 0 && r1.decode_roofline == 0); /* until lt_bench_roofline */

    /* again, and without warm-up or callback: the same digest */
    CHECK(lt_bench_lm(m, kv, &o, &r2, &err) == LT_OK && r2.digest == r1.digest);
    lt_bench_opts plain = {.n_prompt = 8, .n_gen = 16};
    CHECK(lt_bench_lm(m, kv, &plain, &r3, &err) == LT_OK && r3.digest == r1.digest && r3.n_prompt == 8);
    /* report_s: decode progress at most that often (here only its start); phase starts always */
    trace ts = {.ordered = true, .frac_ok = true};
    lt_bench_opts os = {.n_prompt = 8, .n_gen = 16, .progress = on_progress, .ud = &ts, .report_s = 1000};
    CHECK(lt_bench_lm(m, kv, &os, &r3, &err) == LT_OK && r3.digest == r1.digest);
    CHECK(ts.phases[LT_BENCH_WARMUP] == 0 && ts.phases[LT_BENCH_PREFILL] == 1 && ts.phases[LT_BENCH_DECODE] == 1);

    /* cancel after 5 decoded tokens: stops there; a run of 5 tokens reproduces the digest */
    trace tc = {.ordered = true, .frac_ok = true, .cancel_at = 5};
    lt_bench_opts oc = {.n_prompt = 16, .n_gen = 40, .progress = on_progress, .ud = &tc};
    lt_bench_result rc, r5;
    CHECK(lt_bench_lm(m, kv, &oc, &rc, &err) == LT_OK);
    CHECKF(rc.cancelled && rc.n_gen == 5 && rc.n_prompt == 16 && rc.decode_tps > 0, "%d %d", rc.cancelled, rc.n_gen);
    CHECK(tc.phases[LT_BENCH_WARMUP] == 0 && tc.ordered && tc.frac_ok);
    CHECK(rc.digest == reference_digest(m, kv, 5));
    lt_bench_opts o5 = {.n_prompt = 16, .n_gen = 5};
    CHECK(lt_bench_lm(m, kv, &o5, &r5, &err) == LT_OK && !r5.cancelled && r5.digest == rc.digest);
    CHECK(lt_kv_blocks_used(kv) == 0);
    /* cancel at the first call (before the prefill): nothing ran */
    lt_bench_opts op = {.n_prompt = 16, .n_gen = 8, .warmup = true, .progress = refuse};
    lt_bench_result rp;
    CHECK(lt_bench_lm(m, kv, &op, &rp, &err) == LT_OK && rp.cancelled && rp.n_prompt == 0 && rp.n_gen == 0 &&
          rp.prefill_tps == 0 && rp.digest == lt_digest_ids(NULL, 0));

    /* n_gen 0: prefill only, the empty digest */
    lt_bench_opts o0 = {.n_prompt = 4, .n_gen = 0};
    CHECK(lt_bench_lm(m, kv, &o0, &r3, &err) == LT_OK && r3.n_gen == 0 && r3.decode_tps == 0 &&
          r3.digest == lt_digest_ids(NULL, 0) && r3.prefill_tps > 0);

    /* errors leave the cache as it was */
    lt_bench_opts bad = {.n_prompt = 0, .n_gen = 4};
    CHECK(lt_bench_lm(m, kv, &bad, &r3, &err) == LT_EINVAL);
    bad.n_prompt = 65;
    CHECK(lt_bench_lm(m, kv, &bad, &r3, &err) == LT_ERANGE && strstr(err.msg, "64"));
    bad.n_prompt = 4;
    bad.n_gen = 65;
    CHECK(lt_bench_lm(m, kv, &bad, &r3, &err) == LT_ERANGE);
    CHECK(lt_kv_blocks_used(kv) == 0);

    /* rooflines: the backend's own copy and GEMM rates, fractions from them */
    lt_bench_roofline(be, &r1);
    CHECK(r1.peak_copy_bps > 0 && r1.peak_gemm_flops > 0);
    CHECK(r1.decode_roofline > 0 && r1.decode_roofline == r1.achieved_bps / r1.peak_copy_bps);
    CHECK(r1.prefill_roofline > 0 && r1.prefill_roofline == r1.prefill_flops / r1.peak_gemm_flops);

    /* bench spec: plain reference, then n-gram speculation reproduces it exactly (greedy) */
    int32_t prompt[32], ref[24]; /* 32 + 24 tokens fit the context of 64 */
    lt_bench_prompt_ids(prompt, 16, V);
    int np = 0;
    CHECK(lt_bench_self_prompt(m, kv, prompt, 16, 16, &np, &err) == LT_OK && np == 32);
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = 24, .ignore_eos = true};
    gp.sp.temp = 0;
    lt_bench_decode pd, sd;
    CHECKF(lt_bench_plain(m, kv, prompt, np, &gp, 2, ref, &pd, &err) == LT_OK, "%s", err.msg);
    CHECK(pd.n_gen == 24 && pd.tps > 0 && pd.st.n_levels == 0);
    lt_spec_params sp = lt_spec_defaults(LT_SPEC_NGRAM);
    CHECKF(lt_bench_spec(m, kv, &sp, prompt, np, &gp, 2, ref, pd.n_gen, &sd, &err) == LT_OK, "%s", err.msg);
    CHECK(sd.n_gen == 24 && sd.tps > 0 && sd.exact && sd.st.n_levels == 1 && sd.st.level[0].steps > 0);
    ref[3] ^= 1; /* a different reference is not reproduced */
    CHECK(lt_bench_spec(m, kv, &sp, prompt, np, &gp, 1, ref, pd.n_gen, &sd, &err) == LT_OK && !sd.exact);
    CHECK(lt_bench_plain(m, kv, prompt, 0, &gp, 1, NULL, &pd, &err) == LT_EINVAL);
    CHECK(lt_kv_blocks_used(kv) == 0);

    lt_kv_free(kv);
    lt_lm_close(m);
    lt_backend_free(be);
    return lt_test_done();
}
