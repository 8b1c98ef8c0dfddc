/* sampler.c - see sampler.h. Candidates are kept as (id, logit) pairs, sorted only as far
 * as the filters need. The RNG is xoshiro256** seeded through splitmix64. Non-finite logits
 * are made orderable first: NaN can never be chosen (it becomes -inf), +inf becomes the
 * largest float; a row with nothing but NaN and -inf has no token to choose (-1). */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"

typedef struct cand {
    int32_t id;
    float logit;
} cand;

struct lt_sampler {
    lt_sampler_params p;
    int32_t n_vocab;
    uint64_t rng[4];
    cand *c;      /* [n_vocab] */
    float *work;  /* [n_vocab] penalised logits */
    float *probs; /* [n_vocab] */
    int32_t n_valid; /* logits of the last row that can be chosen (not NaN, not -inf) */
};

lt_sampler_params lt_sampler_defaults(void) {
    lt_sampler_params p = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                           .repeat_last_n = 64, .seed = 0};
    return p;
}

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(lt_sampler *s) {
    uint64_t *r = s->rng, res = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return res;
}

double lt_sampler_uniform(lt_sampler *s) { return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

void lt_sampler_reseed(lt_sampler *s, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix(&x);
    s->p.seed = seed;
}

lt_status lt_sampler_create(lt_sampler **out, const lt_sampler_params *p, int32_t n_vocab, lt_err *err) {
    *out = NULL;
    if (n_vocab <= 0) return lt_err_set(err, LT_EINVAL, "sampler: empty vocabulary");
    if (p->top_p <= 0 || isnan(p->top_p)) return lt_err_set(err, LT_EINVAL, "sampler: top-p must be in (0, 1]");
    if (p->min_p >= 1) return lt_err_set(err, LT_EINVAL, "sampler: min-p must be below 1");
    if (!(p->repeat_penalty > 0) || !isfinite(p->repeat_penalty))
        return lt_err_set(err, LT_EINVAL, "sampler: repetition penalty must be a positive number");
    if (isnan(p->min_p)) return lt_err_set(err, LT_EINVAL, "sampler: min-p is not a number");
    if (isnan(p->temp)) return lt_err_set(err, LT_EINVAL, "sampler: temperature is not a number");
    lt_sampler *s = lt_calloc(1, sizeof *s);
    if (!s) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = lt_malloc((size_t)n_vocab * sizeof *s->c);
    s->work = lt_malloc((size_t)n_vocab * sizeof(float));
    s->probs = lt_malloc((size_t)n_vocab * sizeof(float));
    if (!s->c || !s->work || !s->probs) {
        lt_sampler_free(s);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    lt_sampler_reseed(s, p->seed);
    *out = s;
    return LT_OK;
}

void lt_sampler_free(lt_sampler *s) {
    if (!s) return;
    lt_free(s->c);
    lt_free(s->work);
    lt_free(s->probs);
    lt_free(s);
}

const lt_sampler_params *lt_sampler_get_params(const lt_sampler *s) { return &s->p; }

int32_t lt_argmax(const float *x, int32_t n) {
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++)
        if (!isnan(x[i]) && (best < 0 || x[i] > x[best])) best = i;
    return best;
}

/* llama.cpp's penalty: positive logits divided, negative multiplied, once per distinct token. */
static void penalise(lt_sampler *s, const float *logits, const int32_t *hist, int n_hist) {
    memcpy(s->work, logits, (size_t)s->n_vocab * sizeof(float));
    if (s->p.repeat_penalty != 1.0f && hist && n_hist > 0) {
        int start = s->p.repeat_last_n > 0 && n_hist > s->p.repeat_last_n ? n_hist - s->p.repeat_last_n : 0;
        float pen = s->p.repeat_penalty;
        for (int i = start; i < n_hist; i++) {
            int32_t id = hist[i];
            if (id < 0 || id >= s->n_vocab) continue;
            bool seen = false;
            for (int j = start; j < i && !seen; j++) seen = hist[j] == id;
            if (seen) continue;
            s->work[id] = s->work[id] > 0 ? s->work[id] / pen : s->work[id] * pen;
        }
    }
    int32_t valid = 0; /* after the penalty, which may make values non-finite too */
    for (int32_t i = 0; i < s->n_vocab; i++) { /* NaN is never chosen; +inf is the largest float */
        float v = s->work[i];
        if (isnan(v)) v = -INFINITY;
        else if (v > FLT_MAX) v = FLT_MAX;
        valid += v > -INFINITY;
        s->work[i] = v;
    }
    s->n_valid = valid;
}

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

/* Partial selection: moves the k largest to the front, sorted. */
static void top_k_sort(cand *c, int32_t n, int32_t k) {
    if (k >= n) {
        qsort(c, (size_t)n, sizeof *c, cmp_cand);
        return;
    }
    /* quickselect on the k-th position, then sort the head */
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        cand piv = c[(lo + hi) / 2];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (cmp_cand(&c[i], &piv) < 0) i++;
            while (cmp_cand(&c[j], &piv) > 0) j--;
            if (i <= j) {
                cand t = c[i];
                c[i] = c[j];
                c[j] = t;
                i++;
                j--;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
}

void lt_sampler_dist(lt_sampler *s, const float *logits, const int32_t *hist, int n_hist, float *probs) {
    int32_t V = s->n_vocab;
    penalise(s, logits, hist, n_hist);
    memset(probs, 0, (size_t)V * sizeof(float));
    if (s->n_valid == 0) return; /* nothing to choose: all zero, lt_sampler_draw says -1 */
    if (s->p.temp <= 0) {
        probs[lt_argmax(s->work, V)] = 1.0f;
        return;
    }
    for (int32_t i = 0; i < V; i++) s->c[i] = (cand){i, s->work[i]};
    int32_t n = V;
    int32_t k = s->p.top_k > 0 && s->p.top_k < V ? s->p.top_k : V;
    top_k_sort(s->c, n, k);
    n = k;
    /* top-p and min-p on the untempered softmax (as llama.cpp) */
    double mx = s->c[0].logit, sum = 0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)s->c[i].logit - mx);
    if (s->p.top_p < 1.0f) {
        double cum = 0;
        int32_t keep = n;
        for (int32_t i = 0; i < n; i++) {
            cum += exp((double)s->c[i].logit - mx) / sum;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (s->p.min_p > 0) {
        double thr = (double)s->c[0].logit + log((double)s->p.min_p);
        int32_t keep = 1;
        while (keep < n && s->c[keep].logit >= thr) keep++;
        n = keep;
    }
    double t = s->p.temp;
    double mt = s->c[0].logit / t, z = 0;
    for (int32_t i = 0; i < n; i++) z += exp(s->c[i].logit / t - mt);
    for (int32_t i = 0; i < n; i++) probs[s->c[i].id] = (float)(exp(s->c[i].logit / t - mt) / z);
}

int32_t lt_sampler_draw(lt_sampler *s, const float *probs, int32_t n) {
    double total = 0;
    for (int32_t i = 0; i < n; i++) total += probs[i] > 0 ? probs[i] : 0; /* NaN adds nothing */
    if (!(total > 0) || !isfinite(total)) return -1;
    double r = lt_sampler_uniform(s) * total, cum = 0;
    int32_t last = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!(probs[i] > 0)) continue;
        cum += probs[i];
        last = i;
        if (r < cum) return i;
    }
    return last;
}

int32_t lt_sampler_sample(lt_sampler *s, const float *logits, const int32_t *hist, int n_hist) {
    if (s->p.temp <= 0) {
        penalise(s, logits, hist, n_hist);
        return s->n_valid ? lt_argmax(s->work, s->n_vocab) : -1;
    }
    lt_sampler_dist(s, logits, hist, n_hist, s->probs);
    return lt_sampler_draw(s, s->probs, s->n_vocab);
}
