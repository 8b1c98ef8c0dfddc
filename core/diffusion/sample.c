/* sample.c - the sampling loop, time experts and the output images (see sample.h). */
#include "sample.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/clock.h"
#include "core/base/digest.h"

/* ---- experts ------------------------------------------------------------------------------ */

static bool parse_int(const char *s, size_t n, int *out) {
    if (n == 0 || n > 9) return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

lt_status lt_experts_parse(const char *spec, lt_experts *out, lt_err *err) {
    memset(out, 0, sizeof *out);
    if (!spec || !spec[0]) return lt_err_set(err, LT_EINVAL, "--experts: empty (give MODEL:LO-HI,MODEL:LO-HI)");
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (p[i] == ':') colon = p + i; /* the last ':' (a path may hold one) */
        if (!colon || colon == p)
            return lt_err_set(err, LT_EINVAL, "--experts: '%.*s' is not MODEL:LO-HI", (int)len, p);
        if (out->n == LT_EXPERTS_MAX)
            return lt_err_set(err, LT_EINVAL, "--experts: at most %d experts", LT_EXPERTS_MAX);
        const char *range = colon + 1, *dash = memchr(range, '-', len - (size_t)(range - p));
        int lo, hi;
        if (!dash || !parse_int(range, (size_t)(dash - range), &lo) ||
            !parse_int(dash + 1, len - (size_t)(dash + 1 - p), &hi))
            return lt_err_set(err, LT_EINVAL, "--experts: '%.*s': the range must be LO-HI (timesteps, e.g. 0-499)",
                              (int)len, p);
        if (lo > hi) return lt_err_set(err, LT_EINVAL, "--experts: '%.*s': %d > %d", (int)len, p, lo, hi);
        size_t nl = (size_t)(colon - p);
        if (nl >= sizeof out->r[0].model) return lt_err_set(err, LT_EINVAL, "--experts: model name too long");
        memcpy(out->r[out->n].model, p, nl);
        out->r[out->n].model[nl] = 0;
        out->r[out->n].lo = lo, out->r[out->n].hi = hi;
        for (int j = 0; j < out->n; j++)
            if (lo <= out->r[j].hi && out->r[j].lo <= hi)
                return lt_err_set(err, LT_EINVAL, "--experts: %s:%d-%d overlaps %s:%d-%d", out->r[out->n].model, lo,
                                  hi, out->r[j].model, out->r[j].lo, out->r[j].hi);
        out->n++;
        if (!end) break;
        p = end + 1;
        if (!*p) return lt_err_set(err, LT_EINVAL, "--experts: trailing ','");
    }
    return LT_OK;
}

int lt_experts_find(const lt_experts *e, double t) {
    for (int i = 0; i < e->n; i++)
        if (t >= e->r[i].lo && t <= e->r[i].hi) return i;
    return -1;
}

lt_status lt_experts_check(const lt_experts *e, const lt_scheduler *s, lt_err *err) {
    for (int i = 0; i < lt_scheduler_steps(s); i++) {
        double t = lt_scheduler_timestep(s, i);
        if (lt_experts_find(e, t) < 0)
            return lt_err_set(err, LT_ERANGE, "--experts: no expert covers timestep %g (step %d of %d)", t, i + 1,
                              lt_scheduler_steps(s));
    }
    return LT_OK;
}

/* ---- images ------------------------------------------------------------------------------- */

lt_status lt_sample_image(const float *x, int i, int c, int h, int w, lt_image *out, lt_err *err) {
    if (c != 1 && c != 3)
        return lt_err_set(err, LT_EUNSUPPORTED, "a %d-channel sample is not an RGB or grey image", c);
    LT_TRY(lt_image_alloc(out, w, h, 3, 0, err));
    size_t plane = (size_t)h * w;
    const float *src = x + (size_t)i * c * plane;
    for (int k = 0; k < 3; k++)
        for (size_t j = 0; j < plane; j++) {
            float v = src[(c == 3 ? k : 0) * plane + j] / 2 + 0.5f;
            out->data[k * plane + j] = !(v > 0) ? 0 : v > 1 ? 1 : v; /* NaN: 0 (never undefined bytes) */
        }
    return LT_OK;
}

lt_status lt_sample_grid(const float *x, int n, int c, int h, int w, lt_image *out, lt_err *err) {
    if (n == 1) return lt_sample_image(x, 0, c, h, w, out, err);
    int cols = (int)ceil(sqrt((double)n)), rows = (n + cols - 1) / cols, gap = 2;
    LT_TRY(lt_image_alloc(out, cols * w + (cols - 1) * gap, rows * h + (rows - 1) * gap, 3, 0, err));
    for (int i = 0; i < n; i++) {
        lt_image im;
        lt_status r = lt_sample_image(x, i, c, h, w, &im, err);
        if (r != LT_OK) {
            lt_image_free(out);
            return r;
        }
        int ox = (i % cols) * (w + gap), oy = (i / cols) * (h + gap);
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < h; y++)
                memcpy(out->data + ((size_t)k * out->h + oy + y) * out->w + ox, im.data + ((size_t)k * h + y) * w,
                       sizeof(float) * (size_t)w);
        lt_image_free(&im);
    }
    return LT_OK;
}

uint64_t lt_sample_digest(const lt_image *im) {
    uint8_t *b;
    if (lt_image_to_rgb8(im, &b, NULL) != LT_OK) return 0;
    uint64_t h = lt_fnv1a64(LT_FNV_INIT, b, (size_t)im->w * im->h * 3);
    lt_free(b);
    return h;
}

/* ---- the loop ----------------------------------------------------------------------------- */

size_t lt_sample_noise_need(const lt_scheduler *s, int batch, int c, int h, int w) {
    size_t per = (size_t)batch * c * h * w, n = per;
    for (int i = 0; i < lt_scheduler_steps(s); i++)
        if (lt_scheduler_step_draws(s, i)) n += per;
    return n;
}

static lt_status check_models(const lt_sample_params *p, lt_err *err) {
    if (!p->models || p->n_models < 1 || !p->models[0] || !p->sched || !p->noise)
        return lt_err_set(err, LT_EINVAL, "sample: missing model, scheduler or noise");
    if (p->batch < 1) return lt_err_set(err, LT_EINVAL, "sample: batch %d (give 1 or more images)", p->batch);
    if (p->experts ? p->experts->n != p->n_models : p->n_models != 1)
        return lt_err_set(err, LT_EINVAL, "sample: %d models for %d expert ranges", p->n_models,
                          p->experts ? p->experts->n : 1);
    const lt_denoiser *d0 = p->models[0];
    for (int i = 0; i < p->n_models; i++) {
        const lt_denoiser *d = p->models[i];
        if (!d) return lt_err_set(err, LT_EINVAL, "sample: model %d is missing", i);
        if (d->out_c != d->in_c)
            return lt_err_set(err, LT_EUNSUPPORTED,
                              "sample: the model predicts %d channels for %d (learned variances are not implemented)",
                              d->out_c, d->in_c);
        if (d->in_c != d0->in_c || d->h != d0->h || d->w != d0->w || d->num_classes != d0->num_classes)
            return lt_err_set(err, LT_EINVAL,
                              "--experts: %s takes %dx%dx%d images with %d classes, %s %dx%dx%d with %d",
                              p->experts ? p->experts->r[i].model : "?", d->in_c, d->h, d->w, d->num_classes,
                              p->experts ? p->experts->r[0].model : "?", d0->in_c, d0->h, d0->w, d0->num_classes);
    }
    if (p->experts) LT_TRY(lt_experts_check(p->experts, p->sched, err));
    if (d0->num_classes > 0) {
        if (!p->class_ids)
            return lt_err_set(err, LT_EINVAL, "the model is class-conditional (%d classes): give --class K",
                              d0->num_classes);
        for (int i = 0; i < p->batch; i++)
            if (p->class_ids[i] < 0 || p->class_ids[i] >= d0->num_classes)
                return lt_err_set(err, LT_ERANGE, "--class %d is out of range (the model has classes 0-%d)",
                                  p->class_ids[i], d0->num_classes - 1);
    }
    return LT_OK;
}

static void preview(const lt_sample_params *p, const lt_sample_step *st, const float *img, int c, int h, int w) {
    lt_image g;
    if (lt_sample_grid(img, p->batch, c, h, w, &g, NULL) != LT_OK) return;
    p->on_preview(p->ud, st, &g);
    lt_image_free(&g);
}

lt_status lt_sample_run(const lt_sample_params *p, lt_sample_result *out, lt_err *err) {
    memset(out, 0, sizeof *out);
    LT_TRY(check_models(p, err));
    const lt_denoiser *d0 = p->models[0];
    int c = d0->in_c, h = d0->h, w = d0->w, B = p->batch, S = lt_scheduler_steps(p->sched);
    size_t per = (size_t)c * h * w, total = per * (size_t)B;
    char detail[128];
    size_t need = lt_sample_noise_need(p->sched, B, c, h, w);
    snprintf(detail, sizeof detail, "initial %zu + %zu in the steps", total, need - total);
    LT_TRY(lt_noise_check(p->noise, need, c, h, w, detail, err));
    float *x = lt_malloc(sizeof(float) * total), *in = lt_malloc(sizeof(float) * total);
    float *m = lt_malloc(sizeof(float) * total), *x0 = lt_malloc(sizeof(float) * total);
    float *z = lt_malloc(sizeof(float) * total), *ts = NULL;
    int max_b = B;
    for (int i = 0; i < p->n_models; i++)
        if (p->models[i]->max_batch < max_b) max_b = p->models[i]->max_batch;
    ts = lt_malloc(sizeof(float) * (size_t)B);
    lt_status r = x && in && m && x0 && z && ts ? LT_OK : lt_err_set(err, LT_ENOMEM, "sample: out of memory");
    if (r == LT_OK && max_b < 1) r = lt_err_set(err, LT_EINVAL, "sample: a model takes batches of %d", max_b);
    double t0 = lt_now();
    if (r == LT_OK) r = lt_noise_draw(p->noise, x, total, err);
    if (r == LT_OK) {
        double sg = lt_scheduler_init_sigma(p->sched);
        for (size_t j = 0; j < total; j++) x[j] = (float)(x[j] * sg);
    }
    out->batch = B, out->c = c, out->h = h, out->w = w;
    for (int i = 0; r == LT_OK && i < S; i++) {
        if (p->cancelled && p->cancelled(p->ud)) {
            out->cancelled = true;
            break;
        }
        double t = lt_scheduler_timestep(p->sched, i), sc = lt_scheduler_input_scale(p->sched, i);
        int e = p->experts ? lt_experts_find(p->experts, t) : 0;
        lt_denoiser *d = p->models[e];
        for (size_t j = 0; j < total; j++) in[j] = sc == 1.0 ? x[j] : (float)(x[j] * sc);
        for (int b = 0; b < B; b++) ts[b] = (float)t;
        double tm = lt_now();
        for (int b = 0; r == LT_OK && b < B; b += max_b) {
            int nb = B - b < max_b ? B - b : max_b;
            r = lt_denoiser_predict(d, in + per * b, nb, ts + b, p->class_ids ? p->class_ids + b : NULL, m + per * b,
                                    err);
        }
        out->model_s += lt_now() - tm;
        if (r != LT_OK) break;
        /* a NaN would spread through every later step into a meaningless image: stop here */
        for (size_t j = 0; j < total; j++)
            if (!isfinite(m[j])) {
                r = lt_err_set(err, LT_ERANGE,
                               "step %d of %d (timestep %g): the model's output for image %d is not finite (NaN or "
                               "inf)",
                               i + 1, S, t, (int)(j / per) + 1);
                break;
            }
        if (r != LT_OK) break;
        out->evals += B;
        bool draws = lt_scheduler_step_draws(p->sched, i);
        if (draws) r = lt_noise_draw(p->noise, z, total, err);
        if (r == LT_OK) r = lt_scheduler_step(p->sched, i, m, x, draws ? z : NULL, x0, B, per, err);
        if (r != LT_OK) break;
        out->steps_done = i + 1;
        double el = lt_now() - t0;
        lt_sample_step st = {i + 1, S, t, e, el, el / (i + 1) * (S - i - 1)};
        if (p->on_step) p->on_step(p->ud, &st);
        if (p->on_preview && p->preview_every > 0 && (i + 1) % p->preview_every == 0 && i + 1 < S)
            preview(p, &st, p->preview_sample ? x : x0, c, h, w);
    }
    out->seconds = lt_now() - t0;
    lt_free(in), lt_free(m), lt_free(x0), lt_free(z), lt_free(ts);
    if (r != LT_OK) {
        lt_free(x);
        memset(out, 0, sizeof *out);
        return r;
    }
    out->x = x;
    return LT_OK;
}

void lt_sample_result_free(lt_sample_result *r) {
    if (!r) return;
    lt_free(r->x);
    r->x = NULL;
}
