/* bench.c - the prefill/decode measurement both front ends use, the backend rooflines, and
 * the plain / speculative runs of `lathe bench spec` (see bench.h for what is measured).
 * Leaves out: formatting the figures (tui/cli_bench.c, the workbench's bench command).
 */
#include "bench.h"

#include <string.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/base/digest.h"
#include "core/base/sysmem.h"
#include "sampler.h"

static uint64_t lcg(uint64_t r) { return r * 6364136223846793005ull + 1442695040888963407ull; }

void lt_bench_prompt_ids(int32_t *ids, int n, int n_vocab) {
    uint64_t r = 42;
    for (int i = 0; i < n; i++) {
        r = lcg(r);
        ids[i] = (int32_t)((r >> 33) % (uint64_t)n_vocab);
    }
}

/* ---- prefill and decode speed ----------------------------------------------------------- */

static bool report(const lt_bench_opts *o, lt_bench_phase ph, int done, double pre_tps, double dec_tps) {
    if (!o->progress) return true;
    lt_bench_progress p = {ph, done, ph == LT_BENCH_DECODE ? o->n_gen : 0, 0, pre_tps, dec_tps};
    if (p.total > 0) p.frac = (double)done / p.total;
    return o->progress(o->ud, &p);
}

/* Parameters, bytes per token and the achieved rates from the model's shape and r's rates. */
static void derive(const lt_lm *m, lt_kv_cache *kv, lt_bench_result *r) {
    const lt_llm_config *c = lt_lm_config(m);
    double D = c->dim, F = c->hidden_dim, QW = (double)c->n_heads * c->head_dim;
    double KW = (double)c->n_kv_heads * c->head_dim;
    r->params = m->slice_widths ? (double)m->n_params /* counted at load (a sliced model's widths) */
                            : c->n_layers * (D * QW * 2 + D * KW * 2 + 3 * D * F) + (double)c->n_vocab * D;
    r->weight_bytes = (double)m->weight_bytes;
    /* K and V rows of every layer read per decoded token at the mean context (n_gen / 2) */
    const lt_tensor *k0 = lt_kv_k(kv, 0);
    double row = (double)lt_row_bytes(k0->dtype, k0->shape[k0->ndim - 1]);
    r->kv_bytes_per_token = (double)r->n_gen / 2 * 2 * c->n_layers * row;
    r->bytes_per_token = (double)m->bytes_per_token + r->kv_bytes_per_token;
    r->achieved_bps = r->bytes_per_token * r->decode_tps;
    r->prefill_flops = 2.0 * r->params * r->prefill_tps;
    r->peak_rss_bytes = (double)lt_sysmem_peak_rss();
    r->model_file_bytes = (double)m->file_bytes;
    lt_backend *be = lt_lm_backend(m);
    r->kv_bytes = (double)lt_backend_mem_used(be, LT_MEM_KV);
    r->scratch_bytes = (double)lt_backend_mem_used(be, LT_MEM_SCRATCH);
    r->kv_resident_bytes = (double)lt_backend_mem_resident(be, LT_MEM_KV);
    r->scratch_resident_bytes = (double)lt_backend_mem_resident(be, LT_MEM_SCRATCH);
    if (r->model_file_bytes > 0) {
        double host = lt_backend_is_host(be) ? r->kv_bytes + r->scratch_bytes : 0;
        r->peak_rss_over_file = r->peak_rss_bytes / r->model_file_bytes;
        r->peak_rss_over_file_excl_kv_scratch = (r->peak_rss_bytes - host) / r->model_file_bytes;
        r->peak_rss_over_file_excl_kv_scratch_resident =
            (r->peak_rss_bytes - r->kv_resident_bytes - r->scratch_resident_bytes) / r->model_file_bytes;
    }
}

lt_status lt_bench_lm(lt_lm *m, lt_kv_cache *kv, const lt_bench_opts *o, lt_bench_result *r, lt_err *err) {
    memset(r, 0, sizeof *r);
    r->digest = lt_digest_ids(NULL, 0);
    int ctx = lt_kv_max_ctx(kv);
    if (o->n_prompt < 1 || o->n_gen < 0)
        return lt_err_set(err, LT_EINVAL, "bench: %d prompt and %d decode tokens (at least 1 and 0)", o->n_prompt,
                          o->n_gen);
    if (o->n_prompt > ctx || o->n_gen > ctx)
        return lt_err_set(err, LT_ERANGE, "bench: %d prompt or %d decode tokens exceed the KV cache's context (%d)",
                          o->n_prompt, o->n_gen, ctx);
    int V = lt_lm_config(m)->n_vocab;
    float *logits = lt_malloc((size_t)V * sizeof(float));
    int32_t *ids = lt_malloc((size_t)o->n_prompt * sizeof(int32_t));
    int32_t *out = lt_malloc((size_t)(o->n_gen > 0 ? o->n_gen : 1) * sizeof(int32_t));
    lt_status st = logits && ids && out ? LT_OK : lt_err_set(err, LT_ENOMEM, "bench: out of host memory");
    int seq = -1;
    if (st == LT_OK) lt_bench_prompt_ids(ids, o->n_prompt, V);
    if (st == LT_OK && o->warmup) { /* threads, caches, page faults */
        if (!report(o, LT_BENCH_WARMUP, 0, 0, 0)) goto cancelled;
        st = lt_kv_seq_new(kv, &seq, err);
        if (st == LT_OK) st = lt_lm_eval(m, kv, seq, ids, o->n_prompt < 16 ? o->n_prompt : 16, false, logits, err);
        if (seq >= 0) lt_kv_seq_free(kv, seq);
        seq = -1;
    }
    if (st == LT_OK) {
        if (!report(o, LT_BENCH_PREFILL, 0, 0, 0)) goto cancelled;
        st = lt_kv_seq_new(kv, &seq, err);
        if (st == LT_OK) {
            double t0 = lt_now();
            st = lt_lm_eval(m, kv, seq, ids, o->n_prompt, false, logits, err);
            r->prefill_s = lt_now() - t0;
            lt_kv_seq_free(kv, seq);
            seq = -1;
        }
        if (st == LT_OK) {
            r->n_prompt = o->n_prompt;
            r->prefill_tps = r->prefill_s > 0 ? o->n_prompt / r->prefill_s : 0;
        }
    }
    if (st == LT_OK) {
        if (!report(o, LT_BENCH_DECODE, 0, r->prefill_tps, 0)) goto cancelled;
        if (o->n_gen > 0) st = lt_kv_seq_new(kv, &seq, err);
        int done = 0;
        int32_t cur = ids[0];
        double t1 = lt_now(), tl = t1;
        while (st == LT_OK && done < o->n_gen) {
            st = lt_lm_eval(m, kv, seq, &cur, 1, false, logits, err);
            if (st != LT_OK) break;
            cur = lt_argmax(logits, V);
            if (cur < 0) {
                st = lt_err_set(err, LT_EFORMAT, "the model produced NaN logits at position %d", done);
                break;
            }
            out[done++] = cur;
            if (o->progress && done < o->n_gen) {
                double now = lt_now();
                if (o->report_s <= 0 || now - tl >= o->report_s) {
                    tl = now;
                    if (!report(o, LT_BENCH_DECODE, done, r->prefill_tps, done / (now - t1 > 0 ? now - t1 : 1e-9))) {
                        r->cancelled = true;
                        break;
                    }
                }
            }
        }
        r->decode_s = lt_now() - t1;
        if (seq >= 0) lt_kv_seq_free(kv, seq);
        seq = -1;
        if (st == LT_OK) {
            r->n_gen = done;
            r->decode_tps = done > 0 && r->decode_s > 0 ? done / r->decode_s : 0;
            r->digest = lt_digest_ids(out, done);
        }
    }
    goto done;
cancelled:
    r->cancelled = true;
done:
    if (st == LT_OK) derive(m, kv, r);
    lt_free(out);
    lt_free(ids);
    lt_free(logits);
    return st;
}

/* ---- rooflines -------------------------------------------------------------------------- */

double lt_bench_copy_bandwidth(lt_backend *be) {
    size_t bytes = 256u << 20;
    void *mem = NULL;
    lt_err err;
    if (lt_backend_alloc(be, 2 * bytes, LT_MEM_OTHER, &mem, &err) != LT_OK) return 0;
    lt_tensor t = lt_tensor_1d(be, LT_F32, mem, (int64_t)(2 * bytes / 4));
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = lt_now();
        if (lt_tensor_copy_range(&t, bytes, &t, 0, bytes, &err) != LT_OK || lt_backend_sync(be, &err) != LT_OK) break;
        double dt = lt_now() - t0;
        if (r > 0 && dt > 0 && 2.0 * bytes / dt > best) best = 2.0 * bytes / dt; /* first run warms pages */
    }
    lt_backend_release(be, mem, 2 * bytes, LT_MEM_OTHER);
    return best;
}

double lt_bench_gemm_peak(lt_backend *be) {
    const int64_t T = 512, N = lt_backend_is_host(be) ? 2048 : 8192, K = N;
    size_t bw = (size_t)(N * K) * 4, b16 = (size_t)(N * K) * 2, bx = (size_t)(T * K) * 4, by = (size_t)(T * N) * 4;
    void *w32 = NULL, *w16 = NULL, *xm = NULL, *ym = NULL;
    float *host = lt_malloc(bw);
    lt_err err;
    double best = 0;
    if (!host || lt_backend_alloc(be, bw, LT_MEM_OTHER, &w32, &err) != LT_OK ||
        lt_backend_alloc(be, b16, LT_MEM_OTHER, &w16, &err) != LT_OK ||
        lt_backend_alloc(be, bx, LT_MEM_OTHER, &xm, &err) != LT_OK ||
        lt_backend_alloc(be, by, LT_MEM_OTHER, &ym, &err) != LT_OK)
        goto out;
    uint64_t r = 7;
    for (size_t i = 0; i < bw / 4; i++) {
        r = lcg(r);
        host[i] = (float)((int)(r >> 41) - (1 << 22)) / (float)(1 << 24);
    }
    lt_tensor tw32 = lt_tensor_2d(be, LT_F32, w32, N, K), tw = lt_tensor_2d(be, LT_F16, w16, N, K);
    lt_tensor tx = lt_tensor_2d(be, LT_F32, xm, T, K), ty = lt_tensor_2d(be, LT_F32, ym, T, N);
    if (lt_tensor_set(&tw32, host, bw, &err) != LT_OK || lt_op_convert(be, &tw, &tw32, &err) != LT_OK ||
        lt_tensor_set(&tx, host, bx, &err) != LT_OK)
        goto out;
    for (int i = 0; i < 4; i++) {
        double t0 = lt_now();
        if (lt_op_matmul(be, &ty, &tx, &tw, NULL, &err) != LT_OK || lt_backend_sync(be, &err) != LT_OK) break;
        double dt = lt_now() - t0;
        if (i > 0 && dt > 0 && 2.0 * T * N * K / dt > best) best = 2.0 * T * N * K / dt; /* first: warm-up */
    }
out:
    lt_backend_release(be, ym, by, LT_MEM_OTHER);
    lt_backend_release(be, xm, bx, LT_MEM_OTHER);
    lt_backend_release(be, w16, b16, LT_MEM_OTHER);
    lt_backend_release(be, w32, bw, LT_MEM_OTHER);
    lt_free(host);
    return best;
}

void lt_bench_roofline(lt_backend *be, lt_bench_result *r) {
    r->peak_copy_bps = lt_bench_copy_bandwidth(be);
    r->peak_gemm_flops = lt_bench_gemm_peak(be);
    r->decode_roofline = r->peak_copy_bps > 0 ? r->achieved_bps / r->peak_copy_bps : 0;
    r->prefill_roofline = r->peak_gemm_flops > 0 ? r->prefill_flops / r->peak_gemm_flops : 0;
}

/* ---- plain against speculative decoding ------------------------------------------------- */

lt_status lt_bench_self_prompt(lt_lm *m, lt_kv_cache *kv, int32_t *ids, int n, int n_more, int *n_out, lt_err *err) {
    *n_out = n;
    if (n_more <= 0) return LT_OK;
    lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = n_more, .ignore_eos = true};
    gp.sp.temp = 0; /* the model's own continuation: greedy text falls into loops */
    lt_gen_stats gs;
    int seq;
    LT_TRY(lt_kv_seq_new(kv, &seq, err));
    lt_status st = lt_generate(m, NULL, kv, seq, ids, n, &gp, NULL, NULL, ids + n, n_more, &gs, err);
    lt_kv_seq_free(kv, seq);
    if (st == LT_OK) *n_out = n + gs.n_gen;
    return st;
}

static double gen_tps(const lt_gen_stats *g) { return g->decode_s > 0 ? g->n_gen / g->decode_s : 0; }

lt_status lt_bench_plain(lt_lm *m, lt_kv_cache *kv, const int32_t *prompt, int n_prompt, const lt_gen_params *gp,
                         int runs, int32_t *ids, lt_bench_decode *r, lt_err *err) {
    memset(r, 0, sizeof *r);
    if (n_prompt < 1 || runs < 1) return lt_err_set(err, LT_EINVAL, "bench: an empty prompt or no runs");
    int seq;
    lt_gen_stats gs;
    lt_gen_params wp = *gp; /* warm-up */
    wp.n_predict = 4;
    LT_TRY(lt_kv_seq_new(kv, &seq, err));
    lt_status st = lt_generate(m, NULL, kv, seq, prompt, n_prompt < 16 ? n_prompt : 16, &wp, NULL, NULL, NULL, 0,
                               &gs, err);
    lt_kv_seq_free(kv, seq);
    for (int run = 0; st == LT_OK && run < runs; run++) { /* best of runs: the machine may be shared */
        st = lt_kv_seq_new(kv, &seq, err);
        if (st != LT_OK) break;
        st = lt_generate(m, NULL, kv, seq, prompt, n_prompt, gp, NULL, NULL, ids, ids ? gp->n_predict : 0, &gs, err);
        lt_kv_seq_free(kv, seq);
        if (st != LT_OK) break;
        r->n_gen = gs.n_gen;
        r->st.gen = gs;
        if (gen_tps(&gs) > r->tps) r->tps = gen_tps(&gs);
    }
    return st;
}

lt_status lt_bench_spec(lt_lm *m, lt_kv_cache *kv, const lt_spec_params *sp, const int32_t *prompt, int n_prompt,
                        const lt_gen_params *gp, int runs, const int32_t *ref, int n_ref, lt_bench_decode *r,
                        lt_err *err) {
    memset(r, 0, sizeof *r);
    if (n_prompt < 1 || runs < 1) return lt_err_set(err, LT_EINVAL, "bench: an empty prompt or no runs");
    int cap = gp->n_predict > 0 ? gp->n_predict : 1;
    int32_t *got = lt_malloc((size_t)cap * sizeof(int32_t));
    if (!got) return lt_err_set(err, LT_ENOMEM, "bench: out of host memory");
    lt_status st = LT_OK;
    for (int run = 0; st == LT_OK && run < runs; run++) {
        lt_spec *sd = NULL;
        int seq = -1;
        st = lt_spec_create(&sd, m, kv, sp, err);
        if (st == LT_OK) st = lt_kv_seq_new(kv, &seq, err);
        if (st == LT_OK)
            st = lt_spec_generate(sd, NULL, seq, NULL, 0, prompt, n_prompt, gp, NULL, NULL, got, NULL, cap, &r->st,
                                  err);
        lt_spec_free(sd);
        if (seq >= 0) lt_kv_seq_free(kv, seq);
        if (st != LT_OK) break;
        r->n_gen = r->st.gen.n_gen;
        if (gen_tps(&r->st.gen) > r->tps) r->tps = gen_tps(&r->st.gen);
    }
    if (st == LT_OK)
        r->exact = ref && r->n_gen == n_ref && !memcmp(got, ref, (size_t)(n_ref > 0 ? n_ref : 0) * sizeof(int32_t));
    lt_free(got);
    return st;
}
