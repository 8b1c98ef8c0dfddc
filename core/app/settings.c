/* settings.c - see settings.h. Each key is one row of a table: its kind, range and field. */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/llm/sampler.h"

typedef enum { K_FLOAT, K_INT, K_U64, K_DEVICE, K_ONOFF, K_STOPS, K_TEXT } key_kind;

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
    {"repeat-penalty", K_FLOAT, 0.1, 10, F(repeat_penalty)},
    {"repeat-last-n", K_INT, 0, 1 << 20, F(repeat_last_n)},
    {"seed", K_U64, 0, 0, F(seed)},
    {"max-tokens", K_INT, 1, 1 << 24, F(max_tokens)},
    {"stop", K_STOPS, 0, 0, F(stops)},
    {"system", K_TEXT, 0, 0, F(system)},
    {"ctx", K_INT, 0, 1 << 20, F(ctx)},
    {"device", K_DEVICE, 0, 0, F(device)},
    {"threads", K_INT, 0, 1024, F(threads)},
    {"tint", K_ONOFF, 0, 0, F(tint)},
    {"parse-special", K_ONOFF, 0, 0, F(parse_special)},
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
    s.repeat_penalty = d.repeat_penalty;
    s.repeat_last_n = d.repeat_last_n;
    s.seed = 0;
    s.max_tokens = 256;
    snprintf(s.device, sizeof s.device, "%s", device ? device : "auto");
    s.threads = threads;
    s.tint = true;
    s.parse_special = true;
    return s;
}

const char *lt_settings_keys(void) {
    return "temp, top-k, top-p, min-p, repeat-penalty, repeat-last-n, seed, max-tokens, stop, system, ctx, device, "
           "threads, tint, parse-special";
}

static const key_def *find_key(const char *k) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(k, k_keys[i].name)) return &k_keys[i];
    return NULL;
}

bool lt_settings_key_is_text(const char *key) {
    const key_def *d = find_key(key);
    return d && d->kind == K_TEXT;
}

lt_status lt_settings_apply_list(lt_settings *t, const char *k, const char *const *v, int n, lt_err *err) {
    const key_def *d = find_key(k);
    if (!d) return lt_err_set(err, LT_EINVAL, "set: unknown setting '%s' (%s)", k, lt_settings_keys());
    if (n < 1) return lt_err_set(err, LT_EINVAL, "set %s: a value is missing", k);
    if (d->kind != K_STOPS) {
        if (n > 1) return lt_err_set(err, LT_EINVAL, "set %s: takes one value, got %d", k, n);
        return lt_settings_apply(t, k, v[0], err);
    }
    if (n == 1 && !strcmp(v[0], "off")) {
        t->n_stops = 0;
        memset(t->stops, 0, sizeof t->stops);
        return LT_OK;
    }
    if (n > LT_SETTINGS_MAX_STOPS)
        return lt_err_set(err, LT_EINVAL, "set stop: at most %d stop sequences, got %d", LT_SETTINGS_MAX_STOPS, n);
    for (int i = 0; i < n; i++) {
        if (!v[i][0]) return lt_err_set(err, LT_EINVAL, "set stop: an empty stop sequence");
        if (strlen(v[i]) >= LT_SETTINGS_STOP_LEN)
            return lt_err_set(err, LT_EINVAL, "set stop: '%.20s...' is longer than %d bytes", v[i],
                              LT_SETTINGS_STOP_LEN - 1);
    }
    memset(t->stops, 0, sizeof t->stops);
    for (int i = 0; i < n; i++) snprintf(t->stops[i], LT_SETTINGS_STOP_LEN, "%s", v[i]);
    t->n_stops = n;
    return LT_OK;
}

lt_status lt_settings_apply(lt_settings *t, const char *k, const char *v, lt_err *err) {
    const key_def *d = find_key(k);
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
    case K_STOPS: return lt_settings_apply_list(t, k, &v, 1, err);
    case K_TEXT: {
        size_t n = strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\n' || v[n - 1] == '\r')) n--;
        if (!n) return lt_err_set(err, LT_EINVAL, "set %s: a text is missing ('set %s off' clears it)", k, k);
        if (n >= sizeof t->system)
            return lt_err_set(err, LT_EINVAL, "set %s: the text has %zu bytes, at most %zu fit", k, n,
                              sizeof t->system - 1);
        if (n == 3 && !memcmp(v, "off", 3)) n = 0;
        memcpy(field, v, n);
        field[n] = 0;
        return LT_OK;
    }
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
    if (!cap) return;
    char stops[LT_SETTINGS_MAX_STOPS * (LT_CMD_ESCAPED_CAP(LT_SETTINGS_STOP_LEN) + 3) + 8] = "off";
    size_t o = 0;
    for (int i = 0; i < t->n_stops; i++) { /* a line break in a stop sequence shows as \n */
        char e[LT_CMD_ESCAPED_CAP(LT_SETTINGS_STOP_LEN)];
        lt_cmd_escape(t->stops[i], e, sizeof e);
        o += (size_t)snprintf(stops + o, sizeof stops - o, "%s\"%s\"", i ? " " : "", e);
    }
    snprintf(buf, cap,
             "temp %g  top-k %d  top-p %g  min-p %g  repeat-penalty %g  repeat-last-n %d  seed %llu  max-tokens %d  "
             "stop %s  ctx %d  device %s  threads %d  tint %s  parse-special %s\nsystem %s",
             t->temp, t->top_k, t->top_p, t->min_p, t->repeat_penalty, t->repeat_last_n, (unsigned long long)t->seed,
             t->max_tokens, stops, t->ctx, t->device, t->threads, t->tint ? "on" : "off",
             t->parse_special ? "on" : "off", t->system[0] ? t->system : "off");
}
