/* imagine.c - the work of `imagine` shared by the command and the CLI (see imagine.h). */
#include "imagine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/alloc.h"

void lt_imagine_args_default(lt_imagine_args *a) {
    *a = (lt_imagine_args){.seed = LT_IMAGINE_NO_SEED, .class_id = -1, .batch = 1};
}

int lt_imagine_options(lt_opt *o, lt_imagine_args *a) {
    int k = 0;
    o[k++] = (lt_opt){"--model", "-m", LT_OPT_STR, &a->model, "a diffusers UNet folder, or a loaded denoiser's name"};
    o[k++] = (lt_opt){"--steps", "-n", LT_OPT_INT, &a->steps, "denoising steps (default: 1000 ddpm, 50 ddim/euler)", 1,
                      100000};
    o[k++] = (lt_opt){"--scheduler", NULL, LT_OPT_STR, &a->scheduler, "ddpm, ddim or euler (default: the model's)"};
    o[k++] = (lt_opt){"--seed", "-s", LT_OPT_U64, &a->seed, "noise seed (xoshiro256** + Box-Muller)"};
    o[k++] = (lt_opt){"--class", NULL, LT_OPT_INT, &a->class_id,
                      "class label of class-conditional models (default: the classes spread over the batch)", 0, 1e6};
    o[k++] = (lt_opt){"--batch", "-b", LT_OPT_INT, &a->batch, "images to make (one grid)", 1, LT_IMAGINE_MAX_BATCH};
    o[k++] = (lt_opt){"--eta", NULL, LT_OPT_FLOAT, &a->eta, "DDIM noise weight (0 = deterministic, 1 = DDPM's)", 0, 1};
    o[k++] = (lt_opt){"--init-noise", NULL, LT_OPT_STR, &a->init_noise,
                      "the noise stream: raw float32 or .npy (initial noise, then each step's)"};
    o[k++] = (lt_opt){"--experts", NULL, LT_OPT_STR, &a->experts,
                      "time experts: MODEL:LO-HI,... (each step runs the owner of its timestep)"};
    o[k++] = (lt_opt){"--out", "-o", LT_OPT_STR, &a->out, "write a PNG (a grid for a batch), or DIR/ one per image"};
    o[k++] = (lt_opt){"--preview", NULL, LT_OPT_INT, &a->preview_every, "a preview every N steps (default: ~10 per run)",
                      0, 1e6};
    o[k++] = (lt_opt){"--scale", NULL, LT_OPT_INT, &a->scale, "write the PNG N times larger (nearest neighbour)", 1,
                      LT_IMAGINE_MAX_SCALE};
    return k;
}

lt_status lt_imagine_scheduler(const lt_imagine_args *a, const char *config, int num_train_timesteps,
                               lt_scheduler **out, lt_err *err) {
    lt_sched_config c;
    if (config && config[0]) LT_TRY(lt_sched_config_read(config, a->scheduler, &c, err));
    else {
        LT_TRY(lt_sched_config_read(NULL, a->scheduler ? a->scheduler : "ddpm", &c, err));
        if (num_train_timesteps > 0) c.num_train_timesteps = num_train_timesteps;
    }
    int steps = a->steps > 0 ? a->steps : c.kind == LT_SCHED_DDPM ? 1000 : 50;
    if (a->steps <= 0 && steps > c.num_train_timesteps) steps = c.num_train_timesteps;
    /* the user's mistakes, named by their option (the scheduler's own checks name no option) */
    if (steps > c.num_train_timesteps)
        return lt_err_set(err, LT_ERANGE, "imagine: --steps %d: the model was trained with %d timesteps (1-%d)", steps,
                          c.num_train_timesteps, c.num_train_timesteps);
    if (a->eta != 0 && c.kind != LT_SCHED_DDIM)
        return lt_err_set(err, LT_EINVAL, "imagine: --eta applies to ddim only (the scheduler is %s)",
                          lt_sched_kind_name(c.kind));
    lt_status r = lt_scheduler_create(out, &c, steps, a->eta, err);
    if (r != LT_OK) {
        char m[LT_ERR_MSG_MAX];
        snprintf(m, sizeof m, "%s", err->msg);
        lt_err_set(err, r, "imagine: %s", m);
    }
    return r;
}

void lt_imagine_classes(const lt_imagine_args *a, int num_classes, int *cls) {
    for (int i = 0; i < a->batch; i++)
        cls[i] = a->class_id >= 0 ? a->class_id : (int)((long long)i * num_classes / a->batch);
}

/* im written k times larger (nearest neighbour) to path. */
static lt_status write_png_scaled(const lt_image *im, int k, const char *path, lt_err *err) {
    if (k <= 1) return lt_image_write_png(im, path, err);
    lt_image big;
    LT_TRY(lt_image_alloc(&big, im->w * k, im->h * k, im->c, 0.0f, err));
    for (int c = 0; c < im->c; c++)
        for (int y = 0; y < big.h; y++) {
            const float *src = im->data + ((size_t)c * im->h + y / k) * im->w;
            float *dst = big.data + ((size_t)c * big.h + y) * big.w;
            for (int x = 0; x < big.w; x++) dst[x] = src[x / k];
        }
    lt_status r = lt_image_write_png(&big, path, err);
    lt_image_free(&big);
    return r;
}

static bool is_dir_target(const char *p) {
    size_t n = strlen(p);
    struct stat st;
    return (n && p[n - 1] == '/') || (stat(p, &st) == 0 && S_ISDIR(st.st_mode));
}

static lt_status write_out(const lt_imagine_args *a, const lt_sample_result *sr, lt_imagine_result *out, lt_err *err) {
    snprintf(out->written, sizeof out->written, "%s", a->out);
    if (!is_dir_target(a->out)) {
        LT_TRY(write_png_scaled(&out->grid, a->scale, a->out, err));
        out->n_written = 1;
        return LT_OK;
    }
    if (mkdir(a->out, 0777) != 0 && errno != EEXIST)
        return lt_err_set(err, LT_EIO, "imagine: cannot create folder %s: %s", a->out, strerror(errno));
    size_t n = strlen(a->out);
    for (int i = 0; i < sr->batch; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s%03d.png", a->out, n && a->out[n - 1] == '/' ? "" : "/", i);
        lt_image im;
        LT_TRY(lt_sample_image(sr->x, i, sr->c, sr->h, sr->w, &im, err));
        lt_status r = write_png_scaled(&im, a->scale, path, err);
        lt_image_free(&im);
        LT_TRY(r);
        out->n_written++;
    }
    return LT_OK;
}

typedef struct run_ctx {
    const lt_imagine_hooks *h;
    const char *sched;
} run_ctx;

static void on_step(void *ud, const lt_sample_step *st) {
    run_ctx *c = ud;
    if (c->h && c->h->on_step) c->h->on_step(c->h->ud, st);
}

static void on_preview(void *ud, const lt_sample_step *st, const lt_image *img) {
    run_ctx *c = ud;
    char line[96];
    snprintf(line, sizeof line, "step %d/%d t %g %s", st->step, st->steps, st->t, c->sched); /* fits 24 columns */
    if (c->h && c->h->on_preview) c->h->on_preview(c->h->ud, st, img, line);
}

static bool cancelled(void *ud) {
    run_ctx *c = ud;
    return c->h && c->h->cancelled && c->h->cancelled(c->h->ud);
}

lt_status lt_imagine_run(const lt_imagine_args *a, lt_denoiser *const *models, int n_models, const char *sched_config,
                         const lt_imagine_hooks *hooks, lt_imagine_result *out, lt_err *err) {
    memset(out, 0, sizeof *out);
    if (!models || n_models < 1 || !models[0]) return lt_err_set(err, LT_EINVAL, "imagine: no model");
    if (a->batch < 1 || a->batch > LT_IMAGINE_MAX_BATCH)
        return lt_err_set(err, LT_ERANGE, "imagine: --batch %d (1-%d)", a->batch, LT_IMAGINE_MAX_BATCH);
    if (a->scale < 0 || a->scale > LT_IMAGINE_MAX_SCALE)
        return lt_err_set(err, LT_ERANGE, "imagine: --scale %d (1-%d)", a->scale, LT_IMAGINE_MAX_SCALE);
    if (!a->init_noise && a->seed == LT_IMAGINE_NO_SEED) return lt_err_set(err, LT_EINVAL, "imagine: no seed");
    const lt_denoiser *d0 = models[0];
    if (a->class_id >= 0 && d0->num_classes == 0)
        return lt_err_set(err, LT_EINVAL, "imagine: --class %d: the model is unconditional (it has no classes)",
                          a->class_id);
    if (d0->num_classes > 0 && a->class_id >= d0->num_classes)
        return lt_err_set(err, LT_ERANGE, "imagine: --class %d is out of range (the model has classes 0-%d)",
                          a->class_id, d0->num_classes - 1);
    lt_experts ex;
    if (a->experts) LT_TRY(lt_experts_parse(a->experts, &ex, err));
    if (a->experts && ex.n != n_models)
        return lt_err_set(err, LT_EINVAL, "imagine: %d models for %d experts", n_models, ex.n);
    lt_scheduler *s = NULL;
    LT_TRY(lt_imagine_scheduler(a, sched_config, d0->num_train_timesteps, &s, err));
    lt_noise *nz = NULL;
    lt_status r = a->init_noise ? lt_noise_file(&nz, a->init_noise, err) : lt_noise_seeded(&nz, a->seed, err);
    int cls[LT_IMAGINE_MAX_BATCH];
    if (d0->num_classes > 0) lt_imagine_classes(a, d0->num_classes, cls);
    int S = lt_scheduler_steps(s);
    run_ctx rc = {hooks, lt_sched_kind_name(lt_scheduler_config(s)->kind)};
    lt_sample_params p = {
        .models = models, .n_models = n_models, .experts = a->experts ? &ex : NULL, .sched = s, .noise = nz,
        .batch = a->batch, .class_ids = d0->num_classes > 0 ? cls : NULL,
        .preview_every = a->preview_every > 0 ? a->preview_every : (S >= 10 ? S / 10 : 1),
        .on_step = on_step, .on_preview = hooks && hooks->on_preview ? on_preview : NULL, .cancelled = cancelled,
        .ud = &rc};
    lt_sample_result sr = {0};
    if (r == LT_OK) r = lt_sample_run(&p, &sr, err);
    if (r == LT_OK) {
        out->w = sr.w, out->h = sr.h;
        out->batch = a->batch, out->steps = S, out->steps_done = sr.steps_done, out->cancelled = sr.cancelled;
        out->seed = a->init_noise ? LT_IMAGINE_NO_SEED : a->seed;
        out->seconds = sr.seconds, out->model_s = sr.model_s, out->evals = sr.evals;
        snprintf(out->scheduler, sizeof out->scheduler, "%s", rc.sched);
        if (!sr.cancelled) {
            r = lt_sample_grid(sr.x, sr.batch, sr.c, sr.h, sr.w, &out->grid, err);
            if (r == LT_OK) out->digest = lt_sample_digest(&out->grid);
            if (r == LT_OK && a->out) r = write_out(a, &sr, out, err);
        }
    }
    lt_sample_result_free(&sr);
    lt_noise_free(nz);
    lt_scheduler_free(s);
    if (r != LT_OK) lt_imagine_result_free(out);
    return r;
}

void lt_imagine_result_free(lt_imagine_result *r) {
    if (r) lt_image_free(&r->grid);
}

void lt_imagine_format_summary(char *buf, size_t cap, const lt_imagine_result *r) {
    char seed[48] = "noise file";
    if (r->seed != LT_IMAGINE_NO_SEED) snprintf(seed, sizeof seed, "seed %" PRIu64, r->seed);
    double its = r->seconds > 0 ? r->steps_done / r->seconds : 0;
    if (r->cancelled) {
        snprintf(buf, cap, "imagine: cancelled after %d of %d steps (%s, %s, %.2f s)", r->steps_done, r->steps,
                 r->scheduler, seed, r->seconds);
        return;
    }
    snprintf(buf, cap, "imagine: %d image%s %dx%d, %s %d steps, %s, %.2f s (%.2f it/s), digest %016" PRIx64, r->batch,
             r->batch == 1 ? "" : "s", r->w, r->h, r->scheduler, r->steps, seed, r->seconds, its, r->digest);
}
