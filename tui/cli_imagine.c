/* cli_imagine.c - `lathe imagine` (image generation with a diffusers UNet: the options and the
 * work of core/diffusion/imagine.h, shared with the workbench's `imagine`; here argv, the
 * progress bar on stderr, the text or --json summary, Ctrl-C) and `lathe bench imagine`
 * (core/diffusion/bench.h as text or JSON). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/assets.h"
#include "core/diffusion/bench.h"
#include "core/diffusion/imagine.h"
#include "core/formats/diffusers.h"
#include "models/unet.h"
#include "cli.h"

/* A message of core/diffusion/imagine.c without its "imagine: " (the CLI says "lathe imagine: "). */
static const char *msg_of(const lt_err *e) { return strncmp(e->msg, "imagine: ", 9) ? e->msg : e->msg + 9; }

typedef struct cli_ctx {
    bool tty, quiet;
    int last_len;
} cli_ctx;

/* "imagine [#########...........] 12/50  t 599  ETA 3.1s" on stderr, redrawn in place on a
 * terminal, one line per tenth of the run otherwise. */
static void on_step(void *ud, const lt_sample_step *st) {
    cli_ctx *c = ud;
    if (c->quiet) return;
    if (!c->tty && st->step != st->steps && st->step % (st->steps >= 10 ? st->steps / 10 : 1)) return;
    char bar[32];
    int fill = (int)((double)st->step / st->steps * 24);
    for (int i = 0; i < 24; i++) bar[i] = i < fill ? '#' : '.';
    bar[24] = 0;
    fprintf(stderr, "%simagine [%s] %d/%d  t %g  %.2f it/s  ETA %.1fs%s", c->tty ? "\r" : "", bar, st->step, st->steps,
            st->t, st->elapsed_s > 0 ? st->step / st->elapsed_s : 0, st->eta_s, c->tty ? "\033[K" : "\n");
    if (c->tty && st->step == st->steps) fputc('\n', stderr);
    fflush(stderr);
}

static bool on_cancelled(void *ud) {
    (void)ud;
    return lt_cli_interrupted();
}

/* Opens each model (one, or one per expert) on one backend. */
static bool open_models(const lt_imagine_args *a, const char *device, int threads, lt_backend **be,
                        lt_denoiser **models, int *n, const char **first) {
    lt_err err = {0};
    const char *paths[LT_EXPERTS_MAX] = {0};
    lt_experts ex;
    *n = 1;
    if (a->experts) {
        if (lt_experts_parse(a->experts, &ex, &err) != LT_OK) {
            fprintf(stderr, "lathe imagine: %s\n", err.msg);
            return false;
        }
        *n = ex.n;
        for (int i = 0; i < ex.n; i++) paths[i] = ex.r[i].model;
    } else paths[0] = a->model;
    *first = paths[0];
    if (!lt_cli_backend(device, threads, be)) return false;
    for (int i = 0; i < *n; i++)
        if (lt_unet_open(&models[i], paths[i], *be, a->batch, &err) != LT_OK) {
            fprintf(stderr, "lathe imagine: %s\n", err.msg);
            while (i-- > 0) lt_denoiser_close(models[i]);
            lt_backend_free(*be);
            *be = NULL;
            return false;
        }
    return true;
}

int lt_cli_imagine(int argc, char **argv) {
    lt_imagine_args ia;
    lt_imagine_args_default(&ia);
    ia.seed = 0;
    const char *device = NULL;
    int threads = 0;
    bool json = false, quiet = false;
    const char *usage = "[-m DIR] [--steps N] [--scheduler ddim|ddpm|euler] [--seed S] [--class K] [--batch B] "
                        "[--eta E] [--init-noise FILE] [--experts A:0-499,B:500-999] [--out PNG|DIR/] [--scale N] "
                        "[--json]";
    lt_opt opts[LT_IMAGINE_N_OPTIONS + 5];
    int k = lt_imagine_options(opts, &ia);
    opts[k++] = lt_cli_threads_opt(&threads);
    opts[k++] = (lt_opt){"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"};
    opts[k++] = (lt_opt){"--json", NULL, LT_OPT_FLAG, &json, "print one JSON object (the summary)"};
    opts[k++] = (lt_opt){"--quiet", "-q", LT_OPT_FLAG, &quiet, "no progress on stderr"};
    opts[k] = (lt_opt){0};
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("imagine", usage, opts, argc, argv, pos, 1, &n_pos)) return LT_CLI_USAGE;
    if (n_pos > 0 || (ia.model && ia.experts)) {
        if (n_pos > 0) fprintf(stderr, "lathe imagine: unexpected argument '%s' (the model is -m DIR)\n", pos[0]);
        else fprintf(stderr, "lathe imagine: give -m DIR (a diffusers UNet folder) or --experts, not both\n");
        lt_cli_usage("imagine", usage, opts);
        return LT_CLI_USAGE;
    }
    char bundled[4200];
    if (!ia.model && !ia.experts) {
        lt_err e = {0};
        if (lt_default_denoiser_path(bundled, sizeof bundled, &e) != LT_OK) {
            fprintf(stderr, "lathe imagine: %s\n", e.msg);
            return LT_CLI_FAIL;
        }
        ia.model = bundled;
    }
    lt_backend *be = NULL;
    lt_denoiser *models[LT_EXPERTS_MAX];
    int n;
    const char *first;
    if (!open_models(&ia, device, threads, &be, models, &n, &first)) return LT_CLI_FAIL;
    lt_diffusers_paths dp;
    lt_err err = {0};
    const char *sched = lt_diffusers_locate(first, &dp, &err) == LT_OK ? dp.scheduler : "";
    cli_ctx cc = {isatty(2) != 0, quiet || json, 0};
    lt_imagine_hooks hooks = {.on_step = on_step, .cancelled = on_cancelled, .ud = &cc};
    lt_imagine_result r;
    lt_cli_sigint_catch(NULL, NULL);
    lt_status st = lt_imagine_run(&ia, models, n, sched, &hooks, &r, &err);
    lt_cli_sigint_release();
    int rc = LT_CLI_OK;
    if (st != LT_OK) {
        fprintf(stderr, "lathe imagine: %s\n", msg_of(&err));
        rc = LT_CLI_FAIL;
    } else {
        if (json) {
            printf("{\"images\": %d, \"width\": %d, \"height\": %d, \"scheduler\": \"%s\", \"steps\": %d, "
                   "\"steps_done\": %d, \"seed\": ",
                   r.batch, r.w, r.h, r.scheduler, r.steps, r.steps_done);
            if (r.seed == LT_IMAGINE_NO_SEED) printf("null");
            else printf("%" PRIu64, r.seed);
            printf(", \"seconds\": %.3f, \"unet_its\": %.3f, \"cancelled\": %s, \"digest\": ", r.seconds,
                   r.model_s > 0 ? r.steps_done / r.model_s : 0.0, r.cancelled ? "true" : "false");
            if (r.cancelled) printf("null");
            else printf("\"%016" PRIx64 "\"", r.digest);
            printf(", \"out\": ");
            if (r.n_written) lt_cli_json_str(stdout, r.written);
            else printf("null");
            printf("}\n");
        } else {
            char line[512];
            lt_imagine_format_summary(line, sizeof line, &r);
            printf("%s\n", line + strlen("imagine: "));
            if (r.n_written == 1) printf("wrote %s\n", r.written);
            else if (r.n_written > 1) printf("wrote %d images to %s\n", r.n_written, r.written);
            else if (!r.cancelled && !ia.out) printf("(no --out: nothing written)\n");
        }
        if (r.cancelled) rc = LT_CLI_INTERRUPTED;
        lt_imagine_result_free(&r);
    }
    for (int i = 0; i < n; i++) lt_denoiser_close(models[i]);
    lt_backend_free(be);
    return rc;
}

int lt_cli_bench_imagine(int argc, char **argv) {
    const char *model = NULL, *device = NULL;
    int steps = 20, batch = 1, threads = 0;
    bool json = false;
    const char *usage = "[-m DIR] [--steps N] [--batch B] [--json]";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &model, "a diffusers UNet folder (default: the bundled digits model)"},
        {"--steps", "-n", LT_OPT_INT, &steps, "denoising steps of the timed run (default 20)", 1, 100000},
        {"--batch", "-b", LT_OPT_INT, &batch, "images per run (default 1)", 1, LT_IMAGINE_MAX_BATCH},
        lt_cli_threads_opt(&threads),
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        {"--json", NULL, LT_OPT_FLAG, &json, "print one JSON object"},
        {0},
    };
    const char *pos[1];
    int n_pos;
    if (!lt_cli_parse("bench imagine", usage, opts, argc, argv, pos, 1, &n_pos)) return LT_CLI_USAGE;
    if (n_pos) {
        fprintf(stderr, "lathe bench imagine: unexpected argument '%s' (the model is -m DIR)\n", pos[0]);
        lt_cli_usage("bench imagine", usage, opts);
        return LT_CLI_USAGE;
    }
    char bundled[4200];
    if (!model) {
        lt_err e = {0};
        if (lt_default_denoiser_path(bundled, sizeof bundled, &e) != LT_OK) {
            fprintf(stderr, "lathe bench imagine: %s\n", e.msg);
            return LT_CLI_FAIL;
        }
        model = bundled;
    }
    lt_backend *be = NULL;
    lt_denoiser *d = NULL;
    lt_err err = {0};
    if (!lt_cli_backend(device, threads, &be)) return LT_CLI_FAIL;
    if (lt_unet_open(&d, model, be, batch, &err) != LT_OK) {
        fprintf(stderr, "lathe bench imagine: %s\n", err.msg);
        lt_backend_free(be);
        return LT_CLI_FAIL;
    }
    lt_diffusion_bench_result r;
    lt_cli_sigint_catch(NULL, NULL);
    lt_status st = lt_diffusion_bench(d, steps, batch, on_cancelled, NULL, &r, &err);
    lt_cli_sigint_release();
    int rc = LT_CLI_OK;
    if (st != LT_OK) {
        fprintf(stderr, "lathe bench imagine: %s\n", err.msg);
        rc = LT_CLI_FAIL;
    } else if (r.cancelled) {
        fprintf(stderr, "lathe bench imagine: interrupted after %d steps\n", r.steps);
        rc = LT_CLI_INTERRUPTED;
    } else if (json) {
        printf("{\"bench\": \"imagine\", \"model\": ");
        lt_cli_json_str(stdout, model);
        printf(", \"device\": ");
        lt_cli_json_str(stdout, lt_backend_device(be));
        printf(", \"image\": [%d, %d, %d], \"batch\": %d, \"steps\": %d, \"gflop_per_image\": %.4f, "
               "\"seconds\": %.3f, \"unet_its\": %.3f, \"images_per_s\": %.4f, \"gflops\": %.1f}\n",
               d->in_c, d->h, d->w, batch, r.steps, d->flops / 1e9, r.seconds, r.unet_its, r.images_per_s, r.gflops);
    } else {
        printf("denoiser  %s (%dx%dx%d, %.2f GFLOP/image) on %s\n", model, d->in_c, d->h, d->w, d->flops / 1e9,
               lt_backend_device(be));
        printf("batch %-3d %d steps in %.2f s: unet %.2f it/s, %.3f images/s, %.1f GFLOP/s\n", batch, r.steps, r.seconds,
               r.unet_its, r.images_per_s, r.gflops);
    }
    lt_denoiser_close(d);
    lt_backend_free(be);
    return rc;
}
