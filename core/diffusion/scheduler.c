/* scheduler.c - DDPM, DDIM and Euler as diffusers 0.42.1 computes them (see scheduler.h).
 * The config reader is in scheduler_config.c. */
#include "scheduler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"

struct lt_scheduler {
    lt_sched_config c;
    int steps;
    double eta;
    float *ac;        /* alphas_cumprod [N], float32 as torch keeps it */
    double *ts;       /* [steps] timesteps the model sees */
    float *sigmas;    /* Euler: [steps + 1] */
    float final_ac;   /* DDIM: abar before step 0 of the chain */
    float init_sigma;
};

/* torch.linspace(a, b, n, dtype=float32) (its scalar formula, two-sided around n/2). */
static void linspace_f32(float *out, double a, double b, int n) {
    float fa = (float)a, fb = (float)b;
    float step = n > 1 ? (fb - fa) / (float)(n - 1) : 0.0f;
    int half = n / 2;
    for (int i = 0; i < n; i++) out[i] = i < half ? fa + step * (float)i : fb - step * (float)(n - i - 1);
}

static double alpha_bar_cos(double t) {
    double c = cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
}

static lt_status make_tables(lt_scheduler *s, lt_err *err) {
    int n = s->c.num_train_timesteps;
    float *betas = lt_malloc(sizeof(float) * (size_t)n);
    s->ac = lt_malloc(sizeof(float) * (size_t)n);
    if (!betas || !s->ac) {
        lt_free(betas);
        return lt_err_set(err, LT_ENOMEM, "scheduler: out of memory");
    }
    switch (s->c.beta_schedule) {
    case LT_BETA_LINEAR: linspace_f32(betas, s->c.beta_start, s->c.beta_end, n); break;
    case LT_BETA_SCALED_LINEAR:
        linspace_f32(betas, sqrt(s->c.beta_start), sqrt(s->c.beta_end), n);
        for (int i = 0; i < n; i++) betas[i] = betas[i] * betas[i];
        break;
    case LT_BETA_SQUAREDCOS_CAP_V2:
        for (int i = 0; i < n; i++) {
            double b = 1 - alpha_bar_cos((double)(i + 1) / n) / alpha_bar_cos((double)i / n);
            betas[i] = (float)(b < 0.999 ? b : 0.999);
        }
        break;
    }
    double acc = 1.0; /* torch's CPU cumprod accumulates in double */
    for (int i = 0; i < n; i++) {
        acc *= (double)(1.0f - betas[i]);
        s->ac[i] = (float)acc;
    }
    lt_free(betas);
    return LT_OK;
}

/* set_timesteps: the integer timesteps of each spacing (numpy's arithmetic). */
static lt_status make_timesteps(lt_scheduler *s, lt_err *err) {
    int n = s->c.num_train_timesteps, S = s->steps;
    if (s->c.timestep_spacing == LT_SPACING_TRAILING && ceil((0.0 - n) / -((double)n / S)) != S)
        /* np.arange(N, 0, -N/S) has one more element for these S (its length rounds up), and
         * diffusers then runs S + 1 steps, the last at timestep -1: not reproduced */
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "scheduler: trailing spacing with %d steps of %d timesteps makes %d timesteps in diffusers "
                          "(numpy's arange rounding; the last is -1): pick another step count",
                          S, n, (int)ceil((0.0 - n) / -((double)n / S)));
    for (int i = 0; i < S; i++) {
        double t = 0;
        switch (s->c.timestep_spacing) {
        case LT_SPACING_LINSPACE:
            /* np.linspace(0, N-1, S).round()[::-1]; Euler keeps float32 (exact for these). */
            t = S > 1 ? (double)(S - 1 - i) * ((double)(n - 1) / (S - 1)) : 0;
            if (S > 1 && i == 0) t = n - 1;
            if (s->c.kind != LT_SCHED_EULER) t = nearbyint(t);
            else t = (float)t;
            break;
        case LT_SPACING_LEADING: t = (double)(S - 1 - i) * (n / S) + s->c.steps_offset; break;
        case LT_SPACING_TRAILING: t = nearbyint((double)n - i * ((double)n / S)) - 1; break;
        }
        s->ts[i] = t;
        if (s->c.kind != LT_SCHED_EULER && (t < 0 || t >= n))
            return lt_err_set(err, LT_ERANGE,
                              "scheduler: timestep %g at step %d is outside 0-%d (steps_offset %d with %d steps)", t, i,
                              n - 1, s->c.steps_offset, S);
    }
    return LT_OK;
}

static lt_status make_sigmas(lt_scheduler *s, lt_err *err) {
    int n = s->c.num_train_timesteps, S = s->steps;
    s->sigmas = lt_malloc(sizeof(float) * (size_t)(S + 1));
    if (!s->sigmas) return lt_err_set(err, LT_ENOMEM, "scheduler: out of memory");
    float mx = 0;
    for (int i = 0; i < S; i++) {
        double t = s->ts[i];
        /* np.interp(t, arange(N), sigmas) with sigmas float32 computed by torch */
        int lo = (int)floor(t);
        double v;
        if (lo < 0) v = sqrtf((1.0f - s->ac[0]) / s->ac[0]);
        else if (lo >= n - 1) v = sqrtf((1.0f - s->ac[n - 1]) / s->ac[n - 1]);
        else {
            double a = sqrtf((1.0f - s->ac[lo]) / s->ac[lo]), b = sqrtf((1.0f - s->ac[lo + 1]) / s->ac[lo + 1]);
            double f = t - lo;
            v = f == 0 ? a : a + (b - a) * f;
        }
        s->sigmas[i] = (float)v;
        if (s->sigmas[i] > mx) mx = s->sigmas[i];
    }
    s->sigmas[S] = 0; /* final_sigmas_type zero */
    s->init_sigma = s->c.timestep_spacing == LT_SPACING_LEADING ? sqrtf(mx * mx + 1.0f) : mx;
    (void)err;
    return LT_OK;
}

lt_status lt_scheduler_create(lt_scheduler **out, const lt_sched_config *c, int steps, double eta, lt_err *err) {
    *out = NULL;
    if (c->num_train_timesteps < 1 || c->num_train_timesteps > 100000)
        return lt_err_set(err, LT_EINVAL, "scheduler: num_train_timesteps %d is out of range (1-100000)",
                          c->num_train_timesteps);
    if (steps < 1 || steps > c->num_train_timesteps)
        return lt_err_set(err, LT_ERANGE, "scheduler: %d steps (the model was trained with %d timesteps: 1-%d)", steps,
                          c->num_train_timesteps, c->num_train_timesteps);
    /* above 1, eta^2 * variance exceeds 1 - abar_prev at some steps and DDIM's direction term is
     * the root of a negative number (NaN in diffusers too); eta 1 is DDPM's variance */
    if (!(eta >= 0 && eta <= 1))
        return lt_err_set(err, LT_EINVAL, "scheduler: eta %g is out of range (0-1; 1 is DDPM's noise)", eta);
    if (eta > 0 && c->kind != LT_SCHED_DDIM)
        return lt_err_set(err, LT_EINVAL, "scheduler: eta applies to ddim only (the scheduler is %s)",
                          lt_sched_kind_name(c->kind));
    if (c->kind == LT_SCHED_EULER && c->prediction_type != LT_PRED_EPSILON && c->prediction_type != LT_PRED_SAMPLE &&
        c->prediction_type != LT_PRED_V)
        return lt_err_set(err, LT_EINVAL, "scheduler: bad prediction type");
    lt_scheduler *s = lt_calloc(1, sizeof *s);
    if (!s) return lt_err_set(err, LT_ENOMEM, "scheduler: out of memory");
    s->c = *c;
    s->steps = steps;
    s->eta = eta;
    s->init_sigma = 1.0f;
    s->ts = lt_malloc(sizeof(double) * (size_t)steps);
    lt_status r = s->ts ? make_tables(s, err) : lt_err_set(err, LT_ENOMEM, "scheduler: out of memory");
    if (r == LT_OK) r = make_timesteps(s, err);
    if (r == LT_OK && c->kind == LT_SCHED_EULER) r = make_sigmas(s, err);
    if (r != LT_OK) {
        lt_scheduler_free(s);
        return r;
    }
    s->final_ac = c->set_alpha_to_one ? 1.0f : s->ac[0];
    *out = s;
    return LT_OK;
}

void lt_scheduler_free(lt_scheduler *s) {
    if (!s) return;
    lt_free(s->ac);
    lt_free(s->ts);
    lt_free(s->sigmas);
    lt_free(s);
}

const lt_sched_config *lt_scheduler_config(const lt_scheduler *s) { return &s->c; }
int lt_scheduler_steps(const lt_scheduler *s) { return s->steps; }
double lt_scheduler_timestep(const lt_scheduler *s, int i) { return s->ts[i]; }
double lt_scheduler_init_sigma(const lt_scheduler *s) { return s->init_sigma; }
const float *lt_scheduler_alphas_cumprod(const lt_scheduler *s) { return s->ac; }

double lt_scheduler_input_scale(const lt_scheduler *s, int i) {
    if (s->c.kind != LT_SCHED_EULER) return 1.0;
    float sg = s->sigmas[i];
    return 1.0 / (double)sqrtf(sg * sg + 1.0f);
}

bool lt_scheduler_step_draws(const lt_scheduler *s, int i) {
    switch (s->c.kind) {
    case LT_SCHED_DDPM: return s->ts[i] > 0;
    case LT_SCHED_DDIM: return s->eta > 0;
    case LT_SCHED_EULER: return false;
    }
    return false;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* _threshold_sample: per image, s = clamp(quantile(|x0|, ratio), 1, sample_max_value) with
 * torch.quantile's linear interpolation; x0 = clamp(x0, -s, s) / s. */
static lt_status threshold(const lt_sched_config *c, float *x0, int n, size_t per, lt_err *err) {
    float *tmp = lt_malloc(sizeof(float) * per);
    if (!tmp) return lt_err_set(err, LT_ENOMEM, "scheduler: out of memory");
    for (int b = 0; b < n; b++) {
        float *v = x0 + (size_t)b * per;
        for (size_t j = 0; j < per; j++) tmp[j] = fabsf(v[j]);
        qsort(tmp, per, sizeof(float), cmp_float);
        double pos = c->dynamic_thresholding_ratio * (double)(per - 1);
        size_t lo = (size_t)floor(pos), hi = lo + 1 < per ? lo + 1 : lo;
        double q = tmp[lo] + (tmp[hi] - tmp[lo]) * (pos - (double)lo);
        float sv = (float)q;
        if (sv < 1.0f) sv = 1.0f;
        if (sv > (float)c->sample_max_value) sv = (float)c->sample_max_value;
        for (size_t j = 0; j < per; j++) {
            float y = v[j] < -sv ? -sv : v[j] > sv ? sv : v[j];
            v[j] = y / sv;
        }
    }
    lt_free(tmp);
    return LT_OK;
}

/* x0 from the model output (epsilon / sample / v), as DDPM and DDIM compute it. */
static double x0_of(lt_pred_type p, double x, double m, double sa, double sb) {
    switch (p) {
    case LT_PRED_EPSILON: return (x - sb * m) / sa;
    case LT_PRED_SAMPLE: return m;
    case LT_PRED_V: return sa * x - sb * m;
    }
    return m;
}

static lt_status clip_x0(const lt_sched_config *c, float *x0, int n, size_t per, lt_err *err) {
    if (c->thresholding) return threshold(c, x0, n, per, err);
    if (c->clip_sample) {
        float r = (float)c->clip_sample_range;
        for (size_t j = 0; j < (size_t)n * per; j++) x0[j] = x0[j] < -r ? -r : x0[j] > r ? r : x0[j];
    }
    return LT_OK;
}

lt_status lt_scheduler_step(const lt_scheduler *s, int i, const float *m, float *x, const float *noise, float *x0out,
                            int n, size_t per, lt_err *err) {
    if (i < 0 || i >= s->steps) return lt_err_set(err, LT_EINVAL, "scheduler: step %d of %d", i, s->steps);
    if (lt_scheduler_step_draws(s, i) && !noise)
        return lt_err_set(err, LT_EINVAL, "scheduler: step %d needs noise", i);
    size_t total = (size_t)n * per;
    float *x0 = x0out ? x0out : lt_malloc(sizeof(float) * total);
    if (!x0) return lt_err_set(err, LT_ENOMEM, "scheduler: out of memory");
    lt_status r = LT_OK;
    const lt_sched_config *c = &s->c;
    if (c->kind == LT_SCHED_EULER) {
        float sg = s->sigmas[i], sn = s->sigmas[i + 1];
        float dt = sn - sg;
        float vs = -sg / sqrtf(sg * sg + 1.0f), xs = 1.0f / (sg * sg + 1.0f);
        for (size_t j = 0; j < total; j++) {
            float xj = x[j], p;
            if (c->prediction_type == LT_PRED_EPSILON) p = xj - sg * m[j];
            else if (c->prediction_type == LT_PRED_SAMPLE) p = m[j];
            else p = m[j] * vs + xj * xs; /* sample / (sigma^2 + 1) as a product: within 1 ulp */
            x0[j] = p;
            float d = (xj - p) / sg;
            x[j] = xj + d * dt;
        }
    } else {
        int t = (int)s->ts[i];
        float a_t = s->ac[t], a_prev;
        if (c->kind == LT_SCHED_DDPM) a_prev = i + 1 < s->steps ? s->ac[(int)s->ts[i + 1]] : 1.0f;
        else {
            int pt = t - c->num_train_timesteps / s->steps;
            a_prev = pt >= 0 ? s->ac[pt] : s->final_ac;
        }
        float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
        double sa = sqrtf(a_t), sb = sqrtf(b_t);
        for (size_t j = 0; j < total; j++) x0[j] = (float)x0_of(c->prediction_type, x[j], m[j], sa, sb);
        float *eps = NULL;
        if (c->kind == LT_SCHED_DDIM) { /* pred_epsilon before clipping, from the unclipped x0 */
            eps = lt_malloc(sizeof(float) * total);
            if (!eps) r = lt_err_set(err, LT_ENOMEM, "scheduler: out of memory");
            for (size_t j = 0; eps && j < total; j++) {
                if (c->prediction_type == LT_PRED_EPSILON) eps[j] = m[j];
                else if (c->prediction_type == LT_PRED_SAMPLE) eps[j] = (float)((x[j] - sa * m[j]) / sb);
                else eps[j] = (float)(sa * m[j] + sb * x[j]);
            }
        }
        if (r == LT_OK) r = clip_x0(c, x0, n, per, err);
        if (r == LT_OK && c->kind == LT_SCHED_DDPM) {
            float cur_a = a_t / a_prev, cur_b = 1.0f - cur_a;
            float c0 = (sqrtf(a_prev) * cur_b) / b_t, c1 = (sqrtf(cur_a) * b_prev) / b_t;
            float var = 0;
            if (lt_scheduler_step_draws(s, i)) {
                float v = b_prev / b_t * cur_b;
                if (v < 1e-20f) v = 1e-20f;
                var = c->variance_type == LT_VAR_FIXED_SMALL ? v : cur_b;
            }
            double sd = sqrtf(var);
            for (size_t j = 0; j < total; j++) {
                double y = (double)c0 * x0[j] + (double)c1 * x[j];
                if (var > 0) y += sd * noise[j];
                x[j] = (float)y;
            }
        } else if (r == LT_OK) {
            float var = b_prev / b_t * (1.0f - a_t / a_prev);
            float sd = (float)s->eta * sqrtf(var);
            double dir = sqrtf(1.0f - a_prev - sd * sd), sp = sqrtf(a_prev);
            for (size_t j = 0; j < total; j++) {
                double y = sp * x0[j] + dir * eps[j];
                if (s->eta > 0) y += (double)sd * noise[j];
                x[j] = (float)y;
            }
        }
        lt_free(eps);
    }
    if (!x0out) lt_free(x0);
    return r;
}
