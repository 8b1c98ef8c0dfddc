/* opts.c - see opts.h. */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool in_range(const lt_opt *o, double v) { return (o->lo == 0 && o->hi == 0) || (v >= o->lo && v <= o->hi); }

static lt_status range_err(const char *what, const lt_opt *o, const char *v, lt_err *err) {
    return lt_err_set(err, LT_EINVAL, "%s %s: '%s' is not %s in [%.15g, %.15g]", what, o->name, v,
                      o->kind == LT_OPT_FLOAT ? "a number" : "an integer", o->lo, o->hi);
}

lt_status lt_opts_value(const char *what, const lt_opt *o, const char *v, lt_err *err) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case LT_OPT_STR: *(const char **)o->dst = v; return LT_OK;
    case LT_OPT_FLAG: *(bool *)o->dst = true; return LT_OK;
    case LT_OPT_INT: {
        long long x = strtoll(v, &end, 10);
        if (*v && !*end && !errno && x >= INT32_MIN && x <= INT32_MAX) {
            if (!in_range(o, (double)x)) return range_err(what, o, v, err);
            *(int *)o->dst = (int)x;
            return LT_OK;
        }
        break;
    }
    case LT_OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (*v && !*end && !errno && v[0] != '-') {
            if (!in_range(o, (double)x)) return range_err(what, o, v, err);
            *(uint64_t *)o->dst = x;
            return LT_OK;
        }
        break;
    }
    case LT_OPT_FLOAT: {
        float x = strtof(v, &end);
        if (*v && !*end && !errno && !isnan(x)) {
            if (!in_range(o, x)) return range_err(what, o, v, err);
            *(float *)o->dst = x;
            return LT_OK;
        }
        break;
    }
    }
    return lt_err_set(err, LT_EINVAL, "%s: %s expects a %s, got '%s'", what, o->name,
                      o->kind == LT_OPT_FLOAT ? "number" : o->kind == LT_OPT_U64 ? "non-negative whole number"
                                                                                  : "whole number",
                      v);
}

lt_status lt_opts_parse(const char *what, const lt_opt *opts, int argc, char *const *argv, int first,
                        const char **pos, int max_pos, int *n_pos, bool *help_asked, lt_err *err) {
    *n_pos = 0;
    if (help_asked) *help_asked = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            if (help_asked) *help_asked = true;
            return LT_OK;
        }
        const lt_opt *o = NULL;
        if (a[0] == '-' && a[1])
            for (const lt_opt *c = opts; c && c->name && !o; c++)
                if (!strcmp(a, c->name) || (c->alias && !strcmp(a, c->alias))) o = c;
        if (!o) {
            if (a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9'))
                return lt_err_set(err, LT_EINVAL, "%s: unknown option '%s'", what, a);
            if (*n_pos >= max_pos) return lt_err_set(err, LT_EINVAL, "%s: unexpected argument '%s'", what, a);
            pos[(*n_pos)++] = a;
            continue;
        }
        if (o->kind == LT_OPT_FLAG) {
            *(bool *)o->dst = true;
            continue;
        }
        if (i + 1 >= argc) return lt_err_set(err, LT_EINVAL, "%s: %s needs a value", what, o->name);
        LT_TRY(lt_opts_value(what, o, argv[++i], err));
    }
    return LT_OK;
}

size_t lt_opts_usage(const lt_opt *opts, char *buf, size_t cap) {
    size_t n = 0;
    if (cap) buf[0] = 0;
    for (const lt_opt *o = opts; o && o->name; o++) {
        char names[64], left[80];
        snprintf(names, sizeof names, "%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name);
        const char *arg = o->kind == LT_OPT_FLAG ? "" : o->kind == LT_OPT_STR ? " S" : " N";
        snprintf(left, sizeof left, "%s%s", names, arg);
        int k = snprintf(n < cap ? buf + n : NULL, n < cap ? cap - n : 0, "  %-26s %s\n", left, o->help);
        if (k > 0) n += (size_t)k;
    }
    return n;
}
