/* bench_serve.c - see bench_serve.h. */
#include "bench_serve.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/base/fileio.h"
#include "spec.h"

lt_serve_bench_opts lt_serve_bench_defaults(void) {
    return (lt_serve_bench_opts){.n_requests = 32, .rate = 0, .burstiness = 1, .prompt_len = "128:512",
                                 .output_len = "32:128", .policy = "sarathi", .token_budget = 512, .max_seqs = 16,
                                 .capacity_steps = 5};
}

void lt_serve_bench_opts_add(lt_serve_bench_opts *o, lt_opt *table, int cap) {
    const lt_opt add[LT_SERVE_BENCH_N_OPTS] = {
        {"--requests", NULL, LT_OPT_INT, &o->n_requests, "requests in a run (default 32)", 1, 1e6},
        {"--rate", NULL, LT_OPT_FLOAT, &o->rate, "requests per second, gamma arrivals; 0 = all at once (default)", 0,
         1e6},
        {"--burstiness", NULL, LT_OPT_FLOAT, &o->burstiness, "gamma shape: 1 = Poisson, <1 burstier (default 1)",
         0.01, 100},
        {"--prompt-len", NULL, LT_OPT_STR, &o->prompt_len, "random prompt tokens, N or MIN:MAX (default 128:512)"},
        {"--output-len", NULL, LT_OPT_STR, &o->output_len, "output tokens, N or MIN:MAX (default 32:128)"},
        {"--dataset", NULL, LT_OPT_STR, &o->dataset, "JSONL file of {\"prompt\": ...} lines instead of random ids"},
        {"--policy", NULL, LT_OPT_STR, &o->policy, "sarathi (chunked prefill, default) or prefill-first"},
        {"--token-budget", NULL, LT_OPT_INT, &o->token_budget, "tokens per engine step (default 512)", 1, 1 << 20},
        {"--max-seqs", NULL, LT_OPT_INT, &o->max_seqs, "requests running at once (default 16)", 1, 1024},
        {"--slo", NULL, LT_OPT_STR, &o->slo, "goodput SLOs: ttft:MS,tpot:MS (and tbt:MS for --capacity)"},
        {"--seed", NULL, LT_OPT_U64, &o->seed, "seed of prompts, lengths and arrivals (default 0)"},
        {"--capacity", NULL, LT_OPT_FLAG, &o->capacity, "search the highest rate whose P99 TBT meets the SLO"},
        {"--capacity-steps", NULL, LT_OPT_INT, &o->capacity_steps, "bisection steps of --capacity (default 5)", 1,
         20},
        {"--spec-ngram", NULL, LT_OPT_INT, &o->spec_ngram, "n-gram speculation in the engine: G drafts per step", 0,
         64},
        {"--spec", NULL, LT_OPT_STR, &o->spec, "speculation in the engine: ngram or draft:MODEL (same tokenizer)"},
        {"--gamma", NULL, LT_OPT_INT, &o->gamma, "tokens drafted per step with --spec (default 4)", 1, 64},
        {"--kv-blocks", "--kv-device-blocks", LT_OPT_INT, &o->kv_blocks,
         "device KV cache blocks of 16 tokens (default: max-seqs full contexts)", 1, 1 << 28},
        {"--kv-host-blocks", NULL, LT_OPT_INT, &o->kv_host_blocks, LT_KV_HOST_HELP, 0, 1 << 28},
    };
    int n = 0;
    while (n < cap && table[n].name) n++;
    for (int i = 0; i < LT_SERVE_BENCH_N_OPTS && n < cap - 1; i++) table[n++] = add[i];
    if (n < cap) table[n] = (lt_opt){0};
}

static lt_status parse_range(const char *opt, const char *s, int *lo, int *hi, lt_err *err) {
    char *end;
    long a = s ? strtol(s, &end, 10) : 0, b;
    if (!s || end == s) goto bad;
    if (*end == ':') {
        const char *t = end + 1;
        b = strtol(t, &end, 10);
        if (end == t) goto bad;
    } else {
        b = a;
    }
    if (*end || a < 1 || b < a || b > 1 << 20) goto bad;
    *lo = (int)a;
    *hi = (int)b;
    return LT_OK;
bad:
    return lt_err_set(err, LT_EINVAL, "%s expects N or MIN:MAX with 1 <= MIN <= MAX, got '%s'", opt, s ? s : "");
}

static lt_status parse_slo(const char *s, lt_serve_bench_opts *o, lt_err *err) {
    o->slo_ttft_ms = o->slo_tpot_ms = o->slo_tbt_ms = 0;
    if (!s) return LT_OK;
    const char *p = s;
    while (*p) {
        const char *colon = strchr(p, ':');
        if (!colon) goto bad;
        size_t kl = (size_t)(colon - p);
        char *end;
        double v = strtod(colon + 1, &end);
        if (end == colon + 1 || !(v > 0) || (*end && *end != ',')) goto bad;
        if (kl == 4 && !strncmp(p, "ttft", 4)) o->slo_ttft_ms = (float)v;
        else if (kl == 4 && !strncmp(p, "tpot", 4)) o->slo_tpot_ms = (float)v;
        else if (kl == 3 && !strncmp(p, "tbt", 3)) o->slo_tbt_ms = (float)v;
        else goto bad;
        p = *end ? end + 1 : end;
    }
    return LT_OK;
bad:
    return lt_err_set(err, LT_EINVAL, "--slo expects KEY:MS[,KEY:MS] with keys ttft, tpot, tbt and MS > 0, got '%s'",
                      s);
}

lt_status lt_serve_bench_check(lt_serve_bench_opts *o, lt_err *err) {
    if (o->n_requests < 1) return lt_err_set(err, LT_EINVAL, "--requests must be at least 1");
    if (!(o->rate >= 0)) return lt_err_set(err, LT_EINVAL, "--rate must be 0 (all at once) or positive");
    if (!(o->burstiness > 0)) return lt_err_set(err, LT_EINVAL, "--burstiness must be positive");
    if (o->token_budget < 1) return lt_err_set(err, LT_EINVAL, "--token-budget must be at least 1");
    if (o->max_seqs < 1) return lt_err_set(err, LT_EINVAL, "--max-seqs must be at least 1");
    LT_TRY(parse_range("--prompt-len", o->prompt_len, &o->p_min, &o->p_max, err));
    LT_TRY(parse_range("--output-len", o->output_len, &o->o_min, &o->o_max, err));
    LT_TRY(parse_slo(o->slo, o, err));
    if (lt_engine_policy_parse(o->policy, &o->pol, err) != LT_OK) return lt_err_prefix(err, "--policy");
    if (o->capacity && o->slo_tbt_ms <= 0 && o->slo_tpot_ms <= 0)
        return lt_err_set(err, LT_EINVAL, "--capacity needs a time-between-tokens SLO: --slo tbt:MS (or tpot:MS)");
    if (o->capacity_steps < 1) return lt_err_set(err, LT_EINVAL, "--capacity-steps must be at least 1");
    int ng = 0;
    LT_TRY(lt_spec_parse_engine(o->spec, o->gamma, &ng, &o->spec_draft, &o->draft_path, err));
    if (ng && o->spec_ngram && ng != o->spec_ngram)
        return lt_err_set(err, LT_EINVAL, "--spec-ngram %d and --spec ngram --gamma %d disagree", o->spec_ngram, ng);
    if (o->spec_draft && o->spec_ngram)
        return lt_err_set(err, LT_EINVAL, "--spec-ngram and --spec draft:MODEL are exclusive");
    if (ng) o->spec_ngram = ng;
    return LT_OK;
}

/* ---- the workload ------------------------------------------------------------------------ */

struct lt_serve_workload {
    int n;
    int32_t **prompt;
    int *np, *ng;
    double *gap; /* arrival gaps for rate 1 (scaled by 1/rate) */
    int max_ctx;
};

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unif(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) / 9007199254740992.0; }
static double rng_normal(rng *r) {
    return sqrt(-2.0 * log(rng_unif(r))) * cos(6.283185307179586 * rng_unif(r));
}
/* Gamma(shape k, scale 1): Marsaglia and Tsang (k < 1 through k + 1 and U^(1/k)). */
static double rng_gamma(rng *r, double k) {
    if (k < 1) return rng_gamma(r, k + 1) * pow(rng_unif(r), 1.0 / k);
    double d = k - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = rng_normal(r), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = rng_unif(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
    }
}
static int rng_range(rng *r, int lo, int hi) { return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1)); }

void lt_serve_workload_free(lt_serve_workload *w) {
    if (!w) return;
    for (int i = 0; i < w->n && w->prompt; i++) lt_free(w->prompt[i]);
    lt_free(w->prompt);
    lt_free(w->np);
    lt_free(w->ng);
    lt_free(w->gap);
    lt_free(w);
}

int lt_serve_workload_max_ctx(const lt_serve_workload *w) { return w->max_ctx; }

/* The dataset's prompts, tokenized, cycled to n requests. */
static lt_status load_dataset(lt_serve_workload *w, const char *path, const lt_tokenizer *tok, lt_err *err) {
    if (!tok) return lt_err_set(err, LT_EINVAL, "--dataset %s: the model has no tokenizer", path);
    char *buf;
    size_t len;
    LT_TRY(lt_file_read_all(path, (size_t)1 << 30, &buf, &len, err));
    int n_found = 0, line_no = 0;
    lt_status s = LT_OK;
    for (char *line = buf; line && *line && s == LT_OK && n_found < w->n;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        line_no++;
        const char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p) {
            cJSON *j = cJSON_Parse(p);
            cJSON *pr = j ? cJSON_GetObjectItemCaseSensitive(j, "prompt") : NULL;
            if (!cJSON_IsString(pr)) {
                s = lt_err_set(err, LT_EFORMAT, "--dataset %s:%d: expected a JSON object with a string \"prompt\"",
                               path, line_no);
            } else {
                int64_t n;
                s = lt_tok_encode_all(tok, pr->valuestring, strlen(pr->valuestring), true, false, 0,
                                      &w->prompt[n_found], &n, err);
                if (s == LT_OK && n < 1) {
                    lt_free(w->prompt[n_found]);
                    w->prompt[n_found] = NULL;
                } else if (s == LT_OK) {
                    w->np[n_found++] = (int)n;
                }
            }
            cJSON_Delete(j);
        }
        line = nl ? nl + 1 : NULL;
    }
    lt_free(buf);
    if (s == LT_OK && n_found == 0) s = lt_err_set(err, LT_EFORMAT, "--dataset %s: no prompts", path);
    for (int i = n_found; s == LT_OK && i < w->n; i++) { /* fewer lines than requests: cycle */
        int k = i % n_found;
        w->np[i] = w->np[k];
        w->prompt[i] = lt_malloc((size_t)w->np[i] * sizeof(int32_t));
        if (!w->prompt[i]) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
        else memcpy(w->prompt[i], w->prompt[k], (size_t)w->np[i] * sizeof(int32_t));
    }
    return s;
}

lt_status lt_serve_workload_make(lt_serve_workload **out, const lt_serve_bench_opts *o, const lt_tokenizer *tok,
                                 int n_vocab, lt_err *err) {
    *out = NULL;
    lt_serve_workload *w = lt_calloc(1, sizeof *w);
    if (!w) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    w->n = o->n_requests;
    w->prompt = lt_calloc((size_t)w->n, sizeof(int32_t *));
    w->np = lt_calloc((size_t)w->n, sizeof(int));
    w->ng = lt_calloc((size_t)w->n, sizeof(int));
    w->gap = lt_calloc((size_t)w->n, sizeof(double));
    lt_status s = LT_OK;
    if (!w->prompt || !w->np || !w->ng || !w->gap) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    rng r = {o->seed * 0x2545F4914F6CDD1Dull + 17};
    if (s == LT_OK && o->dataset) s = load_dataset(w, o->dataset, tok, err);
    for (int i = 0; i < w->n && s == LT_OK; i++) {
        if (!o->dataset) {
            w->np[i] = rng_range(&r, o->p_min, o->p_max);
            w->prompt[i] = lt_malloc((size_t)w->np[i] * sizeof(int32_t));
            if (!w->prompt[i]) {
                s = lt_err_set(err, LT_ENOMEM, "out of host memory");
                break;
            }
            for (int j = 0; j < w->np[i]; j++) w->prompt[i][j] = (int32_t)(rng_next(&r) % (uint64_t)n_vocab);
        }
        w->ng[i] = rng_range(&r, o->o_min, o->o_max);
        /* gamma gaps with mean 1 (shape b, scale 1/b); the first request arrives at once */
        w->gap[i] = i == 0 ? 0 : rng_gamma(&r, o->burstiness) / o->burstiness;
        if (w->np[i] + w->ng[i] > w->max_ctx) w->max_ctx = w->np[i] + w->ng[i];
    }
    if (s != LT_OK) {
        lt_serve_workload_free(w);
        return s;
    }
    *out = w;
    return LT_OK;
}

/* ---- a run ------------------------------------------------------------------------------- */

typedef struct track {
    double *t; /* token times */
    int n, cap;
} track;

static bool on_token(void *ud, int32_t id, const char *text, size_t len) {
    (void)text;
    (void)len;
    track *k = ud;
    if (id >= 0 && k->n < k->cap) k->t[k->n++] = lt_now();
    return true;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* numpy's default percentile (linear interpolation) of sorted v[n] */
static double pct(const double *v, int n, double q) {
    if (n == 0) return 0;
    double pos = q / 100.0 * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

static lt_lat lat(double *v, int n) {
    lt_lat l = {0};
    if (n == 0) return l;
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    l.p50 = pct(v, n, 50);
    l.p99 = pct(v, n, 99);
    l.mean = s / n;
    return l;
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

lt_status lt_serve_bench_run(lt_lm *lm, lt_kv_cache *kv, const lt_tokenizer *tok, const lt_serve_workload *w,
                             const lt_serve_bench_opts *o, double rate, lt_serve_progress progress, void *ud,
                             lt_serve_bench_result *res, lt_err *err) {
    memset(res, 0, sizeof *res);
    res->rate = rate;
    const int64_t spilled0 = lt_kv_spilled(kv), fetched0 = lt_kv_fetched(kv);
    const int n = w->n;
    lt_engine *e = NULL;
    lt_engine_opts eo = {.policy = o->pol, .token_budget = o->token_budget, .max_running = o->max_seqs, .tok = tok};
    if (o->spec_draft > 0 && !o->draft)
        return lt_err_set(err, LT_EINVAL, "bench serve: --spec draft:%s: the draft model is not open",
                          o->draft_path ? o->draft_path : "");
    eo.draft = o->spec_draft > 0 ? o->draft : NULL;
    LT_TRY(lt_engine_create(&e, lm, kv, &eo, err));
    track *tr = lt_calloc((size_t)n, sizeof *tr);
    int *ids = lt_calloc((size_t)n, sizeof(int));
    double *arr = lt_calloc((size_t)n, sizeof(double));
    int64_t total_out = 0;
    for (int i = 0; i < n; i++) total_out += w->ng[i];
    double *buf = lt_malloc((size_t)(total_out + 4 * n + 1) * sizeof(double));
    lt_status s = LT_OK;
    if (!tr || !ids || !arr || !buf) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
    for (int i = 0; i < n && s == LT_OK; i++) {
        tr[i].cap = w->ng[i];
        tr[i].t = lt_malloc((size_t)w->ng[i] * sizeof(double));
        if (!tr[i].t) s = lt_err_set(err, LT_ENOMEM, "out of host memory");
        arr[i] = (i ? arr[i - 1] : 0) + (rate > 0 ? w->gap[i] / rate : 0);
    }
    double t0 = lt_now(), dec = 0, pre = 0;
    int added = 0, done = 0;
    while (s == LT_OK) {
        double now = lt_now() - t0;
        while (added < n && arr[added] <= now && s == LT_OK) {
            lt_gen_params gp = {.sp = lt_sampler_defaults(), .n_predict = w->ng[added], .ignore_eos = true};
            gp.sp.temp = 0;
            lt_req_params rp = {.prompt = w->prompt[added], .n_prompt = w->np[added], .gen = gp, .cb = on_token,
                                .ud = &tr[added], .seq = -1, .t_arrival = t0 + arr[added],
                                .spec_ngram = o->spec_ngram, .spec_draft = o->spec_draft};
            s = lt_engine_add(e, &rp, &ids[added], err);
            added++;
        }
        if (s != LT_OK) break;
        if (lt_engine_idle(e)) {
            if (added == n) break;
            sleep_s(arr[added] - (lt_now() - t0));
            continue;
        }
        lt_engine_stats st;
        s = lt_engine_step(e, &st, err);
        if (s != LT_OK) break;
        if (o->on_step && !o->on_step(o->step_ud, e, &st)) {
            s = lt_err_set(err, LT_ECANCELLED, "bench serve: cancelled");
            break;
        }
        res->n_steps++;
        res->n_preempted += st.n_preempted;
        dec += st.n_decode;
        pre += st.n_prefill;
        if (st.n_decode + st.n_prefill > res->max_step_tokens) res->max_step_tokens = st.n_decode + st.n_prefill;
        if (st.kv_used > res->kv_blocks_peak) res->kv_blocks_peak = st.kv_used;
        res->kv_blocks_total = st.kv_total;
        if (st.kv_host_used > res->kv_host_peak) res->kv_host_peak = st.kv_host_used;
        res->kv_host_total = st.kv_host_total;
        if (st.n_finished) {
            done += st.n_finished;
            if (progress && !progress(ud, done, n)) s = lt_err_set(err, LT_ECANCELLED, "bench serve: cancelled");
        }
    }
    res->kv_spilled = lt_kv_spilled(kv) - spilled0;
    res->kv_fetched = lt_kv_fetched(kv) - fetched0;
    if (s == LT_OK) {
        double *ttft = buf, *tpot = ttft + n, *e2e = tpot + n, *itl = e2e + n;
        int n_tp = 0, n_itl = 0;
        double t_end = t0;
        for (int i = 0; i < n; i++) {
            const lt_req_result *r = lt_engine_result(e, ids[i]);
            const track *k = &tr[i];
            if (r->status != LT_OK || k->n == 0) {
                res->n_failed++;
                continue;
            }
            double a = r->t_arrival, last = k->t[k->n - 1];
            double ft = (k->t[0] - a) * 1e3, el = (last - a) * 1e3;
            ttft[res->n_done] = ft;
            e2e[res->n_done] = el;
            double tp = k->n > 1 ? (el - ft) / (k->n - 1) : 0;
            if (k->n > 1) tpot[n_tp++] = tp;
            for (int j = 1; j < k->n; j++) itl[n_itl++] = (k->t[j] - k->t[j - 1]) * 1e3;
            bool good = (o->slo_ttft_ms <= 0 || ft <= o->slo_ttft_ms) && (o->slo_tpot_ms <= 0 || tp <= o->slo_tpot_ms);
            res->n_good += good;
            res->drafted += r->drafted;
            res->accepted += r->accepted;
            res->n_done++;
            res->prompt_tokens += w->np[i];
            res->output_tokens += k->n;
            if (last > t_end) t_end = last;
        }
        res->duration_s = t_end - t0;
        res->ttft_ms = lat(ttft, res->n_done);
        res->tpot_ms = lat(tpot, n_tp);
        res->itl_ms = lat(itl, n_itl);
        res->e2e_ms = lat(e2e, res->n_done);
        double d = res->duration_s > 0 ? res->duration_s : 1e-9;
        res->requests_per_s = res->n_done / d;
        res->throughput_tok_s = (double)res->output_tokens / d;
        res->total_tok_s = (double)(res->output_tokens + res->prompt_tokens) / d;
        res->goodput_req_s = res->n_good / d;
        if (res->n_steps) {
            res->decode_per_step = dec / res->n_steps;
            res->prefill_per_step = pre / res->n_steps;
        }
    }
    lt_engine_free(e);
    for (int i = 0; tr && i < n; i++) lt_free(tr[i].t);
    lt_free(tr);
    lt_free(ids);
    lt_free(arr);
    lt_free(buf);
    return s;
}

lt_status lt_serve_bench_warmup(lt_lm *lm, lt_kv_cache *kv, const lt_tokenizer *tok, const lt_serve_workload *w,
                                const lt_serve_bench_opts *o, lt_err *err) {
    lt_serve_bench_opts wo = *o;
    wo.n_requests = 2;
    wo.dataset = NULL;
    wo.on_step = NULL;
    int mc = lt_serve_workload_max_ctx(w); /* >= 2 */
    wo.p_min = wo.p_max = mc > 8 ? (mc - 4 < 16 ? mc - 4 : 16) : 1;
    wo.o_min = wo.o_max = mc - wo.p_max < 4 ? mc - wo.p_max : 4;
    lt_serve_workload *ww = NULL;
    lt_serve_bench_result wr;
    lt_status s = lt_serve_workload_make(&ww, &wo, tok, lt_lm_config(lm)->n_vocab, err);
    if (s == LT_OK) s = lt_serve_bench_run(lm, kv, tok, ww, &wo, 0, NULL, NULL, &wr, err);
    lt_serve_workload_free(ww);
    return s;
}

static void linef(void (*line)(void *, const char *), void *ud, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void linef(void (*line)(void *, const char *), void *ud, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    line(ud, buf);
}

void lt_serve_bench_report(const lt_serve_bench_opts *o, const lt_serve_bench_result *trials, int n_trials,
                           double capacity, void (*line)(void *ud, const char *s), void *ud) {
    if (o->capacity) {
        linef(line, ud, "%-10s %8s %9s %9s %9s %10s", "rate", "req/s", "tok/s", "ttft p99", "tbt p99", "meets SLO");
        double sl = o->slo_tbt_ms > 0 ? o->slo_tbt_ms : o->slo_tpot_ms;
        for (int i = 0; i < n_trials; i++) {
            const lt_serve_bench_result *t = &trials[i];
            char rate[32];
            if (t->rate > 0) snprintf(rate, sizeof rate, "%.3f", t->rate);
            else snprintf(rate, sizeof rate, "all");
            linef(line, ud, "%-10s %8.3f %9.1f %9.1f %9.1f %10s", rate, t->requests_per_s, t->throughput_tok_s,
                  t->ttft_ms.p99, t->itl_ms.p99,
                  t->rate <= 0 ? "(ceiling)" : t->n_failed == 0 && t->itl_ms.p99 <= sl ? "yes" : "no");
        }
        linef(line, ud, "capacity  %.3f req/s at P99 TBT <= %g ms", capacity, sl);
        return;
    }
    const lt_serve_bench_result *r = &trials[0];
    bool slo = o->slo_ttft_ms > 0 || o->slo_tpot_ms > 0;
    if (o->rate > 0) linef(line, ud, "load      %d requests at %.3f req/s (burstiness %g)", o->n_requests, o->rate,
                           o->burstiness);
    else linef(line, ud, "load      %d requests all at once", o->n_requests);
    linef(line, ud, "completed %d requests (%d failed) in %.2f s, %lld prompt + %lld output tokens", r->n_done,
          r->n_failed, r->duration_s, (long long)r->prompt_tokens, (long long)r->output_tokens);
    linef(line, ud, "%-10s %10s %10s %10s", "ms", "p50", "p99", "mean");
    const char *names[4] = {"ttft", "tpot", "itl (tbt)", "e2e"};
    const lt_lat *l[4] = {&r->ttft_ms, &r->tpot_ms, &r->itl_ms, &r->e2e_ms};
    for (int i = 0; i < 4; i++) linef(line, ud, "%-10s %10.1f %10.1f %10.1f", names[i], l[i]->p50, l[i]->p99, l[i]->mean);
    char good[64] = "";
    if (slo) snprintf(good, sizeof good, ", goodput %.2f req/s", r->goodput_req_s);
    linef(line, ud, "throughput %.2f req/s, %.1f output tok/s, %.1f total tok/s%s", r->requests_per_s,
          r->throughput_tok_s, r->total_tok_s, good);
    linef(line, ud, "steps     %d: %.1f decode + %.1f prefill tokens per step (max %d), %d preempted, KV peak %d of %d "
          "blocks", r->n_steps, r->decode_per_step, r->prefill_per_step, r->max_step_tokens, r->n_preempted,
          r->kv_blocks_peak, r->kv_blocks_total);
    if (r->kv_host_total)
        linef(line, ud, "kv host   peak %d of %d blocks, %lld moved to the host, %lld back", r->kv_host_peak,
              r->kv_host_total, (long long)r->kv_spilled, (long long)r->kv_fetched);
    if (r->drafted)
        linef(line, ud, "spec      %lld %s drafts, %lld accepted (%.1f%%)", (long long)r->drafted,
              o->spec_draft > 0 ? "draft-model" : "n-gram", (long long)r->accepted,
              100.0 * (double)r->accepted / (double)r->drafted);
}

lt_status lt_serve_bench_capacity(lt_lm *lm, lt_kv_cache *kv, const lt_tokenizer *tok, const lt_serve_workload *w,
                                  const lt_serve_bench_opts *o, lt_serve_progress progress, void *ud,
                                  lt_serve_bench_result *trials, int *n_trials, double *capacity, lt_err *err) {
    *n_trials = 0;
    *capacity = 0;
    double slo = o->slo_tbt_ms > 0 ? o->slo_tbt_ms : o->slo_tpot_ms;
    LT_TRY(lt_serve_bench_run(lm, kv, tok, w, o, 0, progress, ud, &trials[0], err));
    *n_trials = 1;
    double lo = 0, hi = trials[0].requests_per_s; /* no rate is served faster than all at once */
    /* (everything at once is only the ceiling: with no arrival during decodes no policy stalls
       them, so the SLO is judged on the bisection's arrivals at a rate) */
    for (int i = 0; i < o->capacity_steps; i++) {
        double mid = 0.5 * (lo + hi);
        lt_serve_bench_result *t = &trials[*n_trials];
        LT_TRY(lt_serve_bench_run(lm, kv, tok, w, o, mid, progress, ud, t, err));
        (*n_trials)++;
        if (t->n_failed == 0 && t->itl_ms.p99 <= slo) {
            lo = mid;
            *capacity = mid;
        } else {
            hi = mid;
        }
    }
    return LT_OK;
}
