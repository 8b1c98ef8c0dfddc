/* scheduler_config.c - scheduler_config.json read into an lt_sched_config (scheduler.h): the
 * chosen class's defaults, then every key of the file, each checked against what lathe
 * implements. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"
#include "scheduler.h"

static const struct {
    const char *name, *cls;
    lt_sched_kind kind;
} k_kinds[] = {
    {"ddpm", "DDPMScheduler", LT_SCHED_DDPM},
    {"ddim", "DDIMScheduler", LT_SCHED_DDIM},
    {"euler", "EulerDiscreteScheduler", LT_SCHED_EULER},
};

lt_status lt_sched_kind_parse(const char *name, lt_sched_kind *out, lt_err *err) {
    for (size_t i = 0; i < sizeof k_kinds / sizeof k_kinds[0]; i++)
        if (!strcmp(name, k_kinds[i].name) || !strcmp(name, k_kinds[i].cls)) {
            *out = k_kinds[i].kind;
            return LT_OK;
        }
    return lt_err_set(err, LT_EINVAL, "unknown scheduler '%s' (lathe has ddpm, ddim, euler)", name);
}

const char *lt_sched_kind_name(lt_sched_kind k) { return k_kinds[k].name; }

void lt_sched_config_default(lt_sched_config *c, lt_sched_kind kind) {
    *c = (lt_sched_config){
        .kind = kind,
        .num_train_timesteps = 1000,
        .beta_start = 0.0001,
        .beta_end = 0.02,
        .beta_schedule = LT_BETA_LINEAR,
        .prediction_type = LT_PRED_EPSILON,
        .timestep_spacing = kind == LT_SCHED_EULER ? LT_SPACING_LINSPACE : LT_SPACING_LEADING,
        .variance_type = LT_VAR_FIXED_SMALL,
        .clip_sample = kind != LT_SCHED_EULER,
        .clip_sample_range = 1.0,
        .dynamic_thresholding_ratio = 0.995,
        .sample_max_value = 1.0,
        .set_alpha_to_one = true,
    };
}

/* Keys of other diffusers schedulers that do not concern these three (from_config drops them). */
static const char *const k_foreign[] = {
    "skip_prk_steps", "solver_order", "solver_type", "algorithm_type", "lower_order_final", "euler_at_final",
    "use_lu_lambdas", "lambda_min_clipped", "predict_x0", "disable_corrector", "solver_p", "s_noise",
    "use_flow_sigmas", "flow_shift", "shift", "use_dynamic_shifting", NULL};

typedef struct kctx {
    const char *what;
    lt_sched_config *c;
    lt_err *err;
} kctx;

static lt_status bad_type(kctx *k, const cJSON *v, const char *want) {
    return lt_err_set(k->err, LT_EFORMAT, "%s: '%s' should be %s", k->what, v->string, want);
}

static lt_status get_bool(kctx *k, const cJSON *v, bool *dst) {
    if (!cJSON_IsBool(v)) return bad_type(k, v, "true or false");
    *dst = cJSON_IsTrue(v);
    return LT_OK;
}

static lt_status get_num(kctx *k, const cJSON *v, double *dst) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return bad_type(k, v, "a number");
    *dst = v->valuedouble;
    return LT_OK;
}

static lt_status get_int(kctx *k, const cJSON *v, int lo, int hi, int *dst) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return lt_err_set(k->err, LT_EFORMAT, "%s: '%s' should be an integer in %d-%d", k->what, v->string, lo, hi);
    *dst = (int)v->valuedouble;
    return LT_OK;
}

/* One of names[] (NULL-terminated) as its index. */
static lt_status get_enum(kctx *k, const cJSON *v, const char *const *names, int *dst) {
    if (!cJSON_IsString(v)) return bad_type(k, v, "a string");
    for (int i = 0; names[i]; i++)
        if (!strcmp(v->valuestring, names[i])) {
            *dst = i;
            return LT_OK;
        }
    return lt_err_set(k->err, LT_EUNSUPPORTED, "%s: %s '%s' is not implemented by lathe", k->what, v->string,
                      v->valuestring);
}

/* A key that must keep its neutral value (null / false / a given string). */
static lt_status neutral(kctx *k, const cJSON *v, const char *str) {
    bool ok = cJSON_IsNull(v) || cJSON_IsFalse(v) || (str && cJSON_IsString(v) && !strcmp(v->valuestring, str));
    if (ok) return LT_OK;
    char *txt = cJSON_PrintUnformatted(v);
    lt_status r = lt_err_set(k->err, LT_EUNSUPPORTED, "%s: %s = %s is not implemented by lathe", k->what, v->string,
                             txt ? txt : "?");
    cJSON_free(txt);
    return r;
}

static lt_status apply_key(kctx *k, const cJSON *v) {
    static const char *const schedules[] = {"linear", "scaled_linear", "squaredcos_cap_v2", NULL};
    static const char *const preds[] = {"epsilon", "sample", "v_prediction", NULL};
    static const char *const spacings[] = {"leading", "trailing", "linspace", NULL};
    static const char *const variances[] = {"fixed_small", "fixed_large", NULL};
    lt_sched_config *c = k->c;
    const char *n = v->string;
    lt_sched_kind kind = c->kind;
    bool ddpm_ddim = kind != LT_SCHED_EULER;
    int e;
    if (n[0] == '_') return LT_OK; /* _class_name, _diffusers_version */
    if (!strcmp(n, "num_train_timesteps")) return get_int(k, v, 1, 100000, &c->num_train_timesteps);
    if (!strcmp(n, "beta_start")) return get_num(k, v, &c->beta_start);
    if (!strcmp(n, "beta_end")) return get_num(k, v, &c->beta_end);
    if (!strcmp(n, "beta_schedule")) {
        LT_TRY(get_enum(k, v, schedules, &e));
        c->beta_schedule = (lt_beta_schedule)e;
        return LT_OK;
    }
    if (!strcmp(n, "prediction_type")) {
        if (cJSON_IsString(v) && kind == LT_SCHED_EULER && !strcmp(v->valuestring, "original_sample")) {
            c->prediction_type = LT_PRED_SAMPLE;
            return LT_OK;
        }
        LT_TRY(get_enum(k, v, preds, &e));
        c->prediction_type = (lt_pred_type)e;
        return LT_OK;
    }
    if (!strcmp(n, "timestep_spacing")) {
        LT_TRY(get_enum(k, v, spacings, &e));
        c->timestep_spacing = (lt_spacing)e;
        return LT_OK;
    }
    if (!strcmp(n, "steps_offset")) return get_int(k, v, 0, 100000, &c->steps_offset);
    if (!strcmp(n, "trained_betas") || !strcmp(n, "rescale_betas_zero_snr")) return neutral(k, v, NULL);
    /* DDPM and DDIM */
    if (!strcmp(n, "clip_sample")) return ddpm_ddim ? get_bool(k, v, &c->clip_sample) : LT_OK;
    if (!strcmp(n, "clip_sample_range")) return ddpm_ddim ? get_num(k, v, &c->clip_sample_range) : LT_OK;
    if (!strcmp(n, "thresholding")) return ddpm_ddim ? get_bool(k, v, &c->thresholding) : LT_OK;
    if (!strcmp(n, "dynamic_thresholding_ratio")) return ddpm_ddim ? get_num(k, v, &c->dynamic_thresholding_ratio) : LT_OK;
    if (!strcmp(n, "sample_max_value")) return ddpm_ddim ? get_num(k, v, &c->sample_max_value) : LT_OK;
    if (!strcmp(n, "variance_type")) {
        if (kind != LT_SCHED_DDPM) return LT_OK;
        LT_TRY(get_enum(k, v, variances, &e));
        c->variance_type = (lt_variance_type)e;
        return LT_OK;
    }
    if (!strcmp(n, "set_alpha_to_one")) return kind == LT_SCHED_DDIM ? get_bool(k, v, &c->set_alpha_to_one) : LT_OK;
    /* Euler */
    bool euler = kind == LT_SCHED_EULER;
    if (!strcmp(n, "interpolation_type")) return euler ? neutral(k, v, "linear") : LT_OK;
    if (!strcmp(n, "use_karras_sigmas") || !strcmp(n, "use_exponential_sigmas") || !strcmp(n, "use_beta_sigmas"))
        return euler ? neutral(k, v, NULL) : LT_OK;
    if (!strcmp(n, "final_sigmas_type")) return euler ? neutral(k, v, "zero") : LT_OK;
    if (!strcmp(n, "timestep_type")) return euler ? neutral(k, v, "discrete") : LT_OK;
    if (!strcmp(n, "sigma_min") || !strcmp(n, "sigma_max")) return LT_OK; /* used by Karras-style sigmas only */
    for (int i = 0; k_foreign[i]; i++)
        if (!strcmp(n, k_foreign[i])) return LT_OK;
    return lt_err_set(k->err, LT_EUNSUPPORTED, "%s: unknown key '%s' (lathe cannot tell whether it changes the schedule)",
                      k->what, n);
}

lt_status lt_sched_config_parse(const char *json, size_t len, const char *what, const char *kind_name,
                                lt_sched_config *out, lt_err *err) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lt_err_set(err, LT_EFORMAT, "%s: not a JSON object", what);
    }
    lt_status r = LT_OK;
    lt_sched_kind kind = LT_SCHED_DDPM;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    if (kind_name && kind_name[0]) r = lt_sched_kind_parse(kind_name, &kind, err);
    else if (!cJSON_IsString(cls)) r = lt_err_set(err, LT_EFORMAT, "%s: no _class_name: give the scheduler", what);
    else if (lt_sched_kind_parse(cls->valuestring, &kind, NULL) != LT_OK)
        r = lt_err_set(err, LT_EUNSUPPORTED,
                       "%s: scheduler class %s is not implemented (lathe has DDPMScheduler, DDIMScheduler, "
                       "EulerDiscreteScheduler: pick one with --scheduler ddpm|ddim|euler)",
                       what, cls->valuestring);
    if (r == LT_OK) {
        lt_sched_config_default(out, kind);
        kctx k = {what, out, err};
        for (const cJSON *v = root->child; v && r == LT_OK; v = v->next) r = apply_key(&k, v);
    }
    if (r == LT_OK && !(out->beta_start > 0 && out->beta_end >= out->beta_start && out->beta_end < 1))
        r = lt_err_set(err, LT_EFORMAT, "%s: beta_start %g / beta_end %g are not 0 < start <= end < 1", what,
                       out->beta_start, out->beta_end);
    if (r == LT_OK && out->clip_sample && !(out->clip_sample_range > 0))
        r = lt_err_set(err, LT_EFORMAT, "%s: clip_sample_range must be > 0", what);
    if (r == LT_OK && out->thresholding &&
        !(out->dynamic_thresholding_ratio > 0 && out->dynamic_thresholding_ratio <= 1 && out->sample_max_value >= 1))
        r = lt_err_set(err, LT_EFORMAT, "%s: dynamic_thresholding_ratio must be in (0, 1] and sample_max_value >= 1",
                       what);
    cJSON_Delete(root);
    return r;
}

lt_status lt_sched_config_read(const char *path, const char *kind_name, lt_sched_config *out, lt_err *err) {
    if (!path || !path[0]) {
        if (!kind_name || !kind_name[0])
            return lt_err_set(err, LT_EINVAL, "no scheduler_config.json: give the scheduler (ddpm, ddim, euler)");
        lt_sched_kind k = LT_SCHED_DDPM;
        LT_TRY(lt_sched_kind_parse(kind_name, &k, err));
        lt_sched_config_default(out, k);
        return LT_OK;
    }
    char *buf;
    size_t len;
    LT_TRY(lt_file_read_all(path, 1 << 20, &buf, &len, err));
    lt_status r = lt_sched_config_parse(buf, len, path, kind_name, out, err);
    lt_free(buf);
    return r;
}
