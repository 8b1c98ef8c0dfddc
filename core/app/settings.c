/* settings.c - see settings.h. Each key is one row of a table: its kind, range and field. */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/llm/sampler.h"

typedef enum { K_FLOAT, K_INT, K_U64, K_DEVICE, K_ONOFF } key_kind;

typedef struct key_def {
    const char *name;
    key_kind kind;
    double lo, hi;
    size_t off;
} key_def;

#define F(field) offsetof(lt_settings, field)
static const key_def k_keys[] = {
    {"temp", K_FLOAT, 0, 100, F(temp)},
    {"top-k", K_INT, 0, 1 << 30, F(top_k)},
    {"top-p", K_FLOAT, 0, 1, F(top_p)},
    {"min-p", K_FLOAT, 0, 1, F(min_p)},
    {"seed", K_U64, 0, 0, F(seed)},
    {"max-tokens", K_INT, 1, 1 << 24, F(max_tokens)},
    {"device", K_DEVICE, 0, 0, F(device)},
    {"threads", K_INT, 0, 1024, F(threads)},
    {"tint", K_ONOFF, 0, 0, F(tint)},
};
#undef F
#define N_KEYS (int)(sizeof k_keys / sizeof k_keys[0])

lt_settings lt_settings_defaults(const char *device, int threads) {
    lt_settings s;
    memset(&s, 0, sizeof s);
    lt_sampler_params d = lt_sampler_defaults();
    s.temp = d.temp;
    s.top_k = d.top_k;
    s.top_p = d.top_p;
    s.min_p = d.min_p;
    s.seed = 0;
    s.max_tokens = 256;
    snprintf(s.device, sizeof s.device, "%s", device ? device : "auto");
    s.threads = threads;
    s.tint = true;
    return s;
}

const char *lt_settings_keys(void) { return "temp, top-k, top-p, min-p, seed, max-tokens, device, threads, tint"; }

lt_status lt_settings_apply(lt_settings *t, const char *k, const char *v, lt_err *err) {
    const key_def *d = NULL;
    for (int i = 0; i < N_KEYS && !d; i++)
        if (!strcmp(k, k_keys[i].name)) d = &k_keys[i];
    if (!d) return lt_err_set(err, LT_EINVAL, "set: unknown setting '%s' (%s)", k, lt_settings_keys());
    char *field = (char *)t + d->off, *end;
    errno = 0;
    switch (d->kind) {
    case K_FLOAT: {
        double x = strtod(v, &end);
        if (end == v || *end || errno || !(x >= d->lo && x <= d->hi)) /* NaN fails too */
            return lt_err_set(err, LT_EINVAL, "set %s: '%s' is not a number in [%g, %g]", k, v, d->lo, d->hi);
        *(float *)field = (float)x;
        return LT_OK;
    }
    case K_INT: {
        long long x = strtoll(v, &end, 10);
        if (end == v || *end || errno || x < d->lo || x > d->hi)
            return lt_err_set(err, LT_EINVAL, "set %s: '%s' is not an integer in [%ld, %ld]", k, v, (long)d->lo,
                              (long)d->hi);
        *(int *)field = (int)x;
        return LT_OK;
    }
    case K_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (end == v || *end || errno || v[0] == '-')
            return lt_err_set(err, LT_EINVAL, "set %s: '%s' is not a non-negative integer", k, v);
        *(uint64_t *)field = x;
        return LT_OK;
    }
    case K_DEVICE:
        if (strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "auto"))
            return lt_err_set(err, LT_EINVAL, "set %s: '%s' is not cpu, cuda or auto", k, v);
        snprintf(field, sizeof t->device, "%s", v);
        return LT_OK;
    case K_ONOFF:
        if (strcmp(v, "on") && strcmp(v, "off")) return lt_err_set(err, LT_EINVAL, "set %s: '%s' is not on or off", k, v);
        *(bool *)field = !strcmp(v, "on");
        return LT_OK;
    }
    return lt_err_set(err, LT_EINVAL, "set: unknown setting '%s'", k);
}

bool lt_settings_opt(const char *key, const char *name, const char *alias, void *dst, const char *help, lt_opt *o) {
    for (int i = 0; i < N_KEYS; i++) {
        const key_def *d = &k_keys[i];
        if (strcmp(key, d->name)) continue;
        if (d->kind != K_FLOAT && d->kind != K_INT && d->kind != K_U64) return false;
        lt_opt_kind kind = d->kind == K_FLOAT ? LT_OPT_FLOAT : d->kind == K_INT ? LT_OPT_INT : LT_OPT_U64;
        *o = (lt_opt){name, alias, kind, dst, help, d->lo, d->hi};
        return true;
    }
    return false;
}

void lt_settings_format(const lt_settings *t, char *buf, size_t cap) {
    snprintf(buf, cap, "temp %g  top-k %d  top-p %g  min-p %g  seed %llu  max-tokens %d  device %s  threads %d  tint %s",
             t->temp, t->top_k, t->top_p, t->min_p, (unsigned long long)t->seed, t->max_tokens, t->device,
             t->threads, t->tint ? "on" : "off");
}
