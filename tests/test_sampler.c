/* test_sampler.c - the sampler's distribution against a direct computation, and the
 * empirical distribution of many draws against it (chi-square), seeding, greedy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/llm/sampler.h"
#include "testutil.h"

#define V 50

/* Direct reference of llama.cpp's chain: penalty -> top-k -> top-p -> min-p -> temp. */
static void reference(const float *logits, const lt_sampler_params *p, const int32_t *hist, int nh, double *out) {
    double l[V];
    for (int i = 0; i < V; i++) l[i] = logits[i];
    for (int i = 0; i < V; i++) {
        bool seen = false;
        for (int j = 0; j < nh; j++) seen |= hist[j] == i;
        if (seen && p->repeat_penalty != 1) l[i] = l[i] > 0 ? l[i] / p->repeat_penalty : l[i] * p->repeat_penalty;
    }
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++) /* selection sort, descending, ties by id */
        for (int j = i + 1; j < V; j++)
            if (l[order[j]] > l[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    int n = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    double z = 0;
    for (int i = 0; i < n; i++) z += exp(l[order[i]] - l[order[0]]);
    if (p->top_p < 1) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += exp(l[order[i]] - l[order[0]]) / z;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        int k = 1;
        while (k < n && exp(l[order[k]] - l[order[0]]) >= p->min_p) k++;
        n = k;
    }
    memset(out, 0, sizeof(double) * V);
    double zt = 0;
    for (int i = 0; i < n; i++) zt += exp((l[order[i]] - l[order[0]]) / p->temp);
    for (int i = 0; i < n; i++) out[order[i]] = exp((l[order[i]] - l[order[0]]) / p->temp) / zt;
}

static void check_params(const lt_sampler_params *p, const float *logits, const int32_t *hist, int nh) {
    lt_sampler *s;
    lt_err err;
    CHECK(lt_sampler_create(&s, p, V, &err) == LT_OK);
    float probs[V];
    double ref[V];
    lt_sampler_dist(s, logits, hist, nh, probs);
    reference(logits, p, hist, nh, ref);
    double maxd = 0;
    int support = 0;
    for (int i = 0; i < V; i++) {
        maxd = fmax(maxd, fabs(probs[i] - ref[i]));
        support += ref[i] > 0;
    }
    CHECKF(maxd < 1e-6, "temp %.2f top-k %d top-p %.2f min-p %.2f: max diff %g", p->temp, p->top_k, p->top_p,
           p->min_p, maxd);
    /* empirical distribution of draws: chi-square with support-1 degrees of freedom.
     * Threshold: mean + 6 standard deviations of the chi-square (df + 6 sqrt(2 df)). */
    int N = 20000, counts[V] = {0};
    for (int i = 0; i < N; i++) counts[lt_sampler_sample(s, logits, hist, nh)]++;
    double chi = 0;
    int outside = 0;
    for (int i = 0; i < V; i++) {
        if (ref[i] > 0) chi += pow(counts[i] - N * ref[i], 2) / (N * ref[i]);
        else outside += counts[i];
    }
    double df = support - 1;
    CHECKF(outside == 0, "%d draws outside the support", outside);
    if (df > 0) CHECKF(chi < df + 6 * sqrt(2 * df), "chi-square %.1f with %g degrees of freedom", chi, df);
    lt_sampler_free(s);
}

int main(void) {
    lt_test_rng r;
    lt_test_rng_seed(&r, 3);
    float logits[V];
    lt_test_fill(&r, logits, V, 1.5f);
    int32_t hist[] = {3, 7, 7, 11};

    lt_sampler_params p = lt_sampler_defaults();
    p.top_k = 0, p.top_p = 1, p.min_p = 0, p.temp = 1;
    check_params(&p, logits, NULL, 0);
    p.temp = 0.7f;
    check_params(&p, logits, NULL, 0);
    p.top_k = 10;
    check_params(&p, logits, NULL, 0);
    p.top_k = 0, p.top_p = 0.8f;
    check_params(&p, logits, NULL, 0);
    p.top_p = 1, p.min_p = 0.1f;
    check_params(&p, logits, NULL, 0);
    p = lt_sampler_defaults();
    p.repeat_penalty = 1.3f;
    check_params(&p, logits, hist, 4);

    /* greedy: argmax, lowest id on ties, penalty applied */
    lt_sampler *s;
    lt_err err;
    p = lt_sampler_defaults();
    p.temp = 0;
    CHECK(lt_sampler_create(&s, &p, V, &err) == LT_OK);
    float tie[V] = {0};
    tie[5] = tie[9] = 2;
    CHECK(lt_sampler_sample(s, tie, NULL, 0) == 5);
    int32_t h5[] = {5};
    lt_sampler_free(s);
    p.repeat_penalty = 1.5f;
    CHECK(lt_sampler_create(&s, &p, V, &err) == LT_OK);
    CHECK(lt_sampler_sample(s, tie, h5, 1) == 9);
    lt_sampler_free(s);

    /* the same seed gives the same tokens; another seed differs somewhere */
    p = lt_sampler_defaults();
    p.temp = 1.0f;
    p.seed = 77;
    int32_t a[64], b[64], c[64];
    for (int run = 0; run < 3; run++) {
        if (run == 2) p.seed = 78;
        CHECK(lt_sampler_create(&s, &p, V, &err) == LT_OK);
        for (int i = 0; i < 64; i++) (run == 0 ? a : run == 1 ? b : c)[i] = lt_sampler_sample(s, logits, NULL, 0);
        lt_sampler_free(s);
    }
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(memcmp(a, c, sizeof a) != 0);

    /* non-finite logits (a NaN weight in a model): NaN is never chosen by any path, +inf wins,
     * a row with nothing to choose is -1 (the generation loop reports it), and no path reads
     * outside its arrays (the top-k quickselect used to run below c[0] on a NaN pivot) */
    for (int pass = 0; pass < 4; pass++) {
        p = lt_sampler_defaults(); /* top-k 40: the quickselect path */
        p.seed = (uint64_t)pass;
        if (pass == 1) p.temp = 0;
        if (pass == 2) p.top_k = 0, p.top_p = 0.5f;
        if (pass == 3) p.repeat_penalty = 1.3f;
        CHECK(lt_sampler_create(&s, &p, V, &err) == LT_OK);
        float bad[V];
        memcpy(bad, logits, sizeof bad);
        for (int i = 0; i < V; i += 3) bad[i] = NAN;
        bool never_nan = true;
        for (int t = 0; t < 200; t++) {
            int32_t id = lt_sampler_sample(s, bad, hist, 4);
            never_nan &= id >= 0 && id < V && !isnan(bad[id]);
        }
        CHECK(never_nan);
        float probs[V];
        lt_sampler_dist(s, bad, NULL, 0, probs);
        double tot = 0;
        bool nan_zero = true;
        for (int i = 0; i < V; i++) tot += probs[i], nan_zero &= !isnan(probs[i]) && (!isnan(bad[i]) || probs[i] == 0);
        CHECK(nan_zero && fabs(tot - 1) < 1e-5);
        bad[17] = INFINITY; /* +inf is the most likely token, not a NaN distribution */
        CHECK(lt_sampler_sample(s, bad, NULL, 0) == 17);
        float all_nan[V];
        for (int i = 0; i < V; i++) all_nan[i] = i % 2 ? NAN : -INFINITY;
        CHECK(lt_sampler_sample(s, all_nan, NULL, 0) == -1);
        lt_sampler_dist(s, all_nan, NULL, 0, probs);
        CHECK(lt_sampler_draw(s, probs, V) == -1);
        lt_sampler_free(s);
    }
    float nan0[4] = {NAN, 1, 3, 2};
    CHECK(lt_argmax(nan0, 4) == 2);
    float nans[3] = {NAN, NAN, NAN};
    CHECK(lt_argmax(nans, 3) == -1);

    /* bad parameters are errors */
    p = lt_sampler_defaults();
    p.top_p = 0;
    CHECK(lt_sampler_create(&s, &p, V, &err) == LT_EINVAL && strstr(err.msg, "top-p"));
    p = lt_sampler_defaults();
    p.repeat_penalty = -1;
    CHECK(lt_sampler_create(&s, &p, V, &err) == LT_EINVAL);
    p.repeat_penalty = NAN; /* used to pass and put NaN back into the logits, then the quickselect ran off c[] */
    CHECK(lt_sampler_create(&s, &p, V, &err) == LT_EINVAL && strstr(err.msg, "repetition penalty"));
    p.repeat_penalty = INFINITY;
    CHECK(lt_sampler_create(&s, &p, V, &err) == LT_EINVAL);
    return lt_test_done();
}
