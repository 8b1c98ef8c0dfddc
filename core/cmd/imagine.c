/* imagine.c - the `imagine` command (see imagine.h) over core/diffusion/imagine.h and the
 * public session API only. */
#include "imagine.h"

#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/assets.h"
#include "core/diffusion/imagine.h"
#include "core/formats/diffusers.h"

#define OBJ_KIND "denoiser"

/* The session object: a denoiser with its backend and the files it came from. */
typedef struct den_state {
    lt_backend *be;
    lt_denoiser *d;
    char path[LT_DIFFUSERS_PATH_MAX];
    char sched[LT_DIFFUSERS_PATH_MAX]; /* scheduler_config.json, "" when none */
} den_state;

static void state_close(void *p) {
    den_state *st = p;
    if (!st) return;
    lt_denoiser_close(st->d);
    lt_backend_free(st->be);
    lt_free(st);
}

/* "ddpm-cifar10-32" for ".../ddpm-cifar10-32/" and for ".../ddpm-cifar10-32/unet". */
static void model_name(const char *path, char *buf, size_t cap) {
    char tmp[LT_DIFFUSERS_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (size_t n = strlen(tmp); n > 1 && tmp[n - 1] == '/'; n--) tmp[n - 1] = 0;
    char *b = strrchr(tmp, '/');
    if (b && !strcmp(b + 1, "unet") && b != tmp) {
        *b = 0;
        char *p = strrchr(tmp, '/');
        snprintf(buf, cap, "%s", p ? p + 1 : tmp);
        return;
    }
    snprintf(buf, cap, "%s", b ? b + 1 : tmp);
}

/* The denoiser spec names (a loaded one) or opens (a path), loading it into the session. */
static lt_status get_model(lt_session *s, const char *spec, int batch, lt_sink *sink, den_state **out, lt_err *err) {
    den_state *st = lt_session_get_object(s, spec, OBJ_KIND);
    if (st) {
        *out = st;
        return LT_OK;
    }
    char name[64];
    model_name(spec, name, sizeof name);
    st = lt_session_get_object(s, name, OBJ_KIND);
    if (st && !strcmp(st->path, spec)) {
        *out = st;
        return LT_OK;
    }
    if (lt_session_has_model(s, name))
        return lt_err_set(err, LT_EINVAL, "imagine: a model named '%s' is loaded already; `unload %s` to open %s", name,
                          name, spec);
    lt_denoiser_open_fn open = lt_session_options(s)->open_denoiser;
    if (!open) return lt_err_set(err, LT_EUNSUPPORTED, "imagine: this front end has no denoiser opener");
    lt_sink_progress(sink, "imagine: loading", 0);
    const lt_settings *set = lt_session_settings(s);
    st = lt_calloc(1, sizeof *st);
    if (!st) return lt_err_set(err, LT_ENOMEM, "out of memory");
    snprintf(st->path, sizeof st->path, "%s", spec);
    lt_backend_opts bo = {.n_threads = set->threads};
    lt_status r = lt_backend_create(&st->be, set->device[0] ? set->device : "auto", &bo, err);
    if (r == LT_OK) r = open(&st->d, spec, st->be, batch, err);
    if (r == LT_OK) {
        lt_diffusers_paths dp;
        lt_err ignored;
        if (lt_diffusers_locate(spec, &dp, &ignored) == LT_OK) snprintf(st->sched, sizeof st->sched, "%s", dp.scheduler);
        r = lt_session_put_object(s, name, OBJ_KIND, st, state_close, st->d->mem_bytes, lt_backend_device(st->be), err);
    }
    if (r != LT_OK) {
        state_close(st);
        return r;
    }
    lt_sink_printf(sink, LT_TEXT_INFO, "loaded %s as '%s' (%dx%dx%d%s)\n", spec, name, st->d->in_c, st->d->h, st->d->w,
                   st->d->num_classes ? ", class-conditional" : "");
    *out = st;
    return LT_OK;
}

/* Without -m: the one loaded denoiser, else the bundled digits model (loaded as 'digits-unet'). */
static lt_status default_model(lt_session *s, int batch, lt_sink *sink, den_state **out, lt_err *err) {
    lt_model_info info[32];
    int n = lt_session_models(s, info, 32), found = 0;
    const char *name = NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(info[i].kind, OBJ_KIND)) found++, name = info[i].name;
    if (found > 1) return lt_err_set(err, LT_EINVAL, "imagine: several denoisers are loaded - pick one with -m NAME");
    if (found == 1) {
        *out = lt_session_get_object(s, name, OBJ_KIND);
        return LT_OK;
    }
    char path[4200];
    lt_err e = {0};
    if (lt_default_denoiser_path(path, sizeof path, &e) != LT_OK)
        return lt_err_set(err, e.code, "imagine: %s", e.msg);
    return get_model(s, path, batch, sink, out, err);
}

typedef struct hook_ctx {
    lt_session *s;
    lt_sink *sink;
    int limit; /* replay of a cancelled run: stop after this many steps (-1: none) */
    int done;
} hook_ctx;

static void h_step(void *ud, const lt_sample_step *st) {
    hook_ctx *h = ud;
    h->done = st->step;
    lt_sink_progress(h->sink, "imagine", (double)st->step / st->steps);
}

static void h_preview(void *ud, const lt_sample_step *st, const lt_image *img, const char *line) {
    (void)st;
    hook_ctx *h = ud;
    lt_sink_preview(h->sink, img, &line, 1);
}

static bool h_cancelled(void *ud) {
    hook_ctx *h = ud;
    return lt_session_cancelled(h->s) || (h->limit >= 0 && h->done >= h->limit);
}

static lt_status cmd_imagine(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err) {
    lt_imagine_args ia;
    lt_imagine_args_default(&ia);
    lt_opt opts[LT_IMAGINE_N_OPTIONS + 1];
    int k = lt_imagine_options(opts, &ia);
    opts[k] = (lt_opt){0};
    const char *pos[LT_CMD_MAX_ARGS];
    int n_pos;
    bool help;
    LT_TRY(lt_opts_parse("imagine", opts, a->argc, a->argv, 1, pos, LT_CMD_MAX_ARGS, &n_pos, &help, err));
    if (help) {
        char usage[2048];
        lt_opts_usage(opts, usage, sizeof usage);
        lt_sink_printf(sink, LT_TEXT_INFO, "usage: %s\n%s", lt_cmd_imagine_table.cmds[0].usage, usage);
        return LT_OK;
    }
    if (n_pos > 0) return lt_err_set(err, LT_EINVAL, "imagine: unexpected argument '%s' (the model is -m DIR)", pos[0]);
    if (ia.model && ia.experts)
        return lt_err_set(err, LT_EINVAL, "imagine: give -m or --experts (the experts name their models)");
    den_state *st[LT_EXPERTS_MAX] = {0};
    lt_denoiser *models[LT_EXPERTS_MAX];
    int n = 1;
    if (ia.experts) {
        lt_experts ex;
        LT_TRY(lt_experts_parse(ia.experts, &ex, err));
        n = ex.n;
        for (int i = 0; i < n; i++) LT_TRY(get_model(s, ex.r[i].model, ia.batch, sink, &st[i], err));
    } else if (ia.model) LT_TRY(get_model(s, ia.model, ia.batch, sink, &st[0], err));
    else LT_TRY(default_model(s, ia.batch, sink, &st[0], err));
    for (int i = 0; i < n; i++) models[i] = st[i]->d;
    if (ia.seed == LT_IMAGINE_NO_SEED && !ia.init_noise) ia.seed = lt_session_sampler_params(s).seed;
    hook_ctx hc = {s, sink, lt_session_token_limit(s), 0};
    lt_imagine_hooks hooks = {h_step, h_preview, h_cancelled, &hc};
    lt_imagine_result r;
    LT_TRY(lt_imagine_run(&ia, models, n, st[0]->sched, &hooks, &r, err));
    lt_sink_progress(sink, "imagine", 1.0);
    lt_result *res = lt_session_result(s);
    res->seed = r.seed == LT_IMAGINE_NO_SEED ? 0 : r.seed;
    res->n_tokens = r.steps_done;
    res->unit = "steps";
    res->cancelled = r.cancelled;
    char line[512];
    lt_imagine_format_summary(line, sizeof line, &r);
    lt_sink_printf(sink, LT_TEXT_INFO, "%s\n", line);
    if (!r.cancelled) {
        lt_session_set_digest(s, r.digest);
        if (r.n_written == 1) lt_sink_printf(sink, LT_TEXT_INFO, "wrote %s\n", r.written);
        else if (r.n_written > 1) lt_sink_printf(sink, LT_TEXT_INFO, "wrote %d images to %s\n", r.n_written, r.written);
        char head[96];
        snprintf(head, sizeof head, "%d image%s, %s %d steps", r.batch, r.batch == 1 ? "" : "s", r.scheduler, r.steps);
        const char *lines[1] = {head};
        lt_sink_preview(sink, &r.grid, lines, 1);
    }
    lt_imagine_result_free(&r);
    return LT_OK;
}

static const lt_cmd k_imagine_cmds[] = {
    {"imagine", NULL,
     "imagine [-m DIR|NAME] [--steps N] [--scheduler ddim|ddpm|euler] [--seed S] [--class K] [--batch B] [--eta E] "
     "[--init-noise FILE] [--experts A:0-499,B:500-999] [--out PNG|DIR] [--scale N] [--preview N]",
     "generate images with a diffusion UNet (diffusers folder; default: the bundled digits model)", 0, -1, NULL, true,
     cmd_imagine},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, false, NULL},
};

const lt_cmd_table lt_cmd_imagine_table = {"imagine", k_imagine_cmds};
