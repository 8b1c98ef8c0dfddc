/* test_imagine.c - the `imagine` command through a session with a test-only open_denoiser
 * (the analytic test denoiser of testutil): output, PNG files, progress and previews through
 * the sink, the digest (stable for a seed, different for another), model reuse, experts,
 * cancellation (and a replay's step limit), and the errors a user can make. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/app/session.h"
#include "core/cmd/cmds.h"
#include "core/diffusion/denoiser.h"
#include "core/diffusion/imagine.h"
#include "core/diffusion/sample.h"
#include "testutil.h"

static int g_opens, g_calls;

/* Folders named *cond* or *digits* are class-conditional (10 classes); others unconditional; 3x8x8. */
static lt_status fake_open(lt_denoiser **out, const char *path, lt_backend *be, int max_batch, lt_err *err) {
    (void)be;
    struct stat st;
    if (stat(path, &st) != 0) return lt_err_set(err, LT_ENOTFOUND, "%s: no such folder", path);
    g_opens++;
    int classes = strstr(path, "cond") || strstr(path, "digits") ? 10 : 0;
    *out = lt_test_denoiser(3, 8, 8, max_batch < 2 ? 2 : max_batch, classes, 0.5f,
                            strstr(path, "other") ? 0.25f : 0.75f, 0, &g_calls);
    return LT_OK;
}

typedef struct capture {
    char text[16384];
    int progress, previews, pv_w, pv_h;
    char pv_head[128];
    lt_session *s;
    int cancel_at; /* progress call at which to cancel (0 = never) */
} capture;

static void cap_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    (void)k;
    capture *c = ud;
    size_t l = strlen(c->text);
    snprintf(c->text + l, sizeof c->text - l, "%.*s", (int)n, s);
}

static void cap_progress(void *ud, const char *what, double f) {
    capture *c = ud;
    if (strcmp(what, "imagine")) return;
    c->progress++;
    if (c->cancel_at && c->progress == c->cancel_at) lt_session_cancel(c->s);
}

static void cap_preview(void *ud, const lt_image *img, const char *const *lines, int n) {
    capture *c = ud;
    c->previews++;
    c->pv_w = img->w, c->pv_h = img->h;
    snprintf(c->pv_head, sizeof c->pv_head, "%s", n > 0 ? lines[0] : "");
}

static lt_status run(lt_session *s, capture *c, lt_err *err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static lt_status run(lt_session *s, capture *c, lt_err *err, const char *fmt, ...) {
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    int cancel_at = c->cancel_at;
    memset(c, 0, sizeof *c);
    c->s = s, c->cancel_at = cancel_at;
    lt_sink sink = {.ud = c, .text = cap_text, .progress = cap_progress, .preview = cap_preview};
    return lt_session_exec(s, line, &sink, err);
}

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    fputs(s, f);
    fclose(f);
}

/* A diffusers-looking folder (the fake opener ignores the files; locate finds the scheduler). */
static void make_folder(char *out, size_t cap, const char *dir, const char *name, const char *sched) {
    snprintf(out, cap, "%s/%s", dir, name);
    mkdir(out, 0777);
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", out);
    write_text(p, "{\"_class_name\": \"UNet2DModel\"}");
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", out);
    write_text(p, "");
    snprintf(p, sizeof p, "%s/scheduler_config.json", out);
    write_text(p, sched);
}

int main(void) {
    const char *dir = lt_test_tmpdir("test_imagine");
    char m[1024], cond[1024], other[1024], png[1200], outdir[1200], p[2200];
    /* "sample" prediction: with the analytic model x0 = 0.5 x + 0.75 sin(t / 100) keeps the noise's
     * structure, so different noise gives different 8-bit images */
    make_folder(m, sizeof m, dir, "m",
                "{\"_class_name\": \"DDIMScheduler\", \"beta_schedule\": \"linear\", \"prediction_type\": \"sample\"}");
    make_folder(cond, sizeof cond, dir, "cond", "{\"_class_name\": \"DDPMScheduler\", \"variance_type\": \"fixed_large\"}");
    make_folder(other, sizeof other, dir, "other", "{\"_class_name\": \"DDIMScheduler\", \"prediction_type\": \"sample\"}");
    lt_err err = {0};
    lt_session_opts so = {.tables = lt_cmd_builtin, .open_denoiser = fake_open, .device = "cpu", .threads = 1};
    lt_session *s;
    CHECK(lt_session_create(&s, &so, &err) == LT_OK);
    capture c = {0};

    /* no model yet, and no bundled one in the assets folder */
    char assets[1200];
    snprintf(assets, sizeof assets, "%s/assets", dir);
    snprintf(p, sizeof p, "%s/models", assets);
    mkdir(assets, 0777), mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/models/stories260K.bin", assets);
    write_text(p, "");
    setenv("LATHE_ASSETS", assets, 1);
    CHECKF(run(s, &c, &err, "imagine --steps 4") == LT_ENOTFOUND && strstr(err.msg, "bundled image model is missing") &&
               strstr(err.msg, "digits-unet/model_index.json") && strstr(err.msg, "give -m DIR"),
           "%s", err.msg);

    /* a run: output, progress per step, previews, PNG, digest */
    snprintf(png, sizeof png, "%s/a.png", dir);
    lt_status st = run(s, &c, &err, "imagine -m %s --steps 20 --seed 3 --out %s", m, png);
    CHECKF(st == LT_OK, "%s", err.msg);
    CHECKF(strstr(c.text, "loaded ") && strstr(c.text, "as 'm' (3x8x8)") &&
               strstr(c.text, "imagine: 1 image 8x8, ddim 20 steps, seed 3") && strstr(c.text, "wrote "),
           "%s", c.text);
    CHECKF(c.progress == 21, "%d progress calls" /* each step, then done */, c.progress);
    /* every 2 steps (20 / 10) but the last, then the final image */
    CHECKF(c.previews == 10 && c.pv_w == 8 && c.pv_h == 8 && !strcmp(c.pv_head, "1 image, ddim 20 steps"),
           "%d previews '%s'", c.previews, c.pv_head);
    CHECK(access(png, R_OK) == 0);
    const lt_result *r = lt_session_last(s);
    uint64_t d1 = r->digest;
    CHECK(!strcmp(r->cmd, "imagine") && r->has_digest && r->seed == 3 && !r->cancelled && r->n_tokens == 20);
    lt_image back; /* the digest is the PNG's pixels' */
    CHECK(lt_image_load(&back, png, &err) == LT_OK && lt_sample_digest(&back) == d1);
    lt_image_free(&back);
    CHECK(g_opens == 1 && g_calls == 20);

    /* the same seed again: the same image, the model reused (by name this time) */
    st = run(s, &c, &err, "imagine -m m --steps 20 --seed 3");
    CHECKF(st == LT_OK && lt_session_last(s)->has_digest && lt_session_last(s)->digest == d1 && g_opens == 1,
           "%s", err.msg);
    /* without -m: the one loaded */
    st = run(s, &c, &err, "imagine --steps 20 --seed 3");
    CHECKF(st == LT_OK && lt_session_last(s)->digest == d1 && g_opens == 1, "%s", err.msg);
    st = run(s, &c, &err, "imagine -m %s --steps 20 --seed 4", m);
    CHECKF(st == LT_OK && lt_session_last(s)->digest != d1 && g_opens == 1, "%s", err.msg);
    /* eta > 0 draws noise each step: another image */
    st = run(s, &c, &err, "imagine --steps 20 --seed 3 --eta 0.5");
    CHECKF(st == LT_OK && lt_session_last(s)->digest != d1, "%s", err.msg);
    /* Euler and DDPM on the same model */
    st = run(s, &c, &err, "imagine --steps 5 --seed 3 --scheduler euler");
    CHECKF(st == LT_OK && strstr(c.text, "euler 5 steps"), "%s %s", err.msg, c.text);
    st = run(s, &c, &err, "imagine --steps 5 --seed 3 --scheduler ddpm");
    CHECKF(st == LT_OK && strstr(c.text, "ddpm 5 steps"), "%s %s", err.msg, c.text);

    /* a batch: a grid, and one file per image into a folder */
    snprintf(outdir, sizeof outdir, "%s/batch/", dir);
    st = run(s, &c, &err, "imagine --steps 3 --seed 1 --batch 3 --out %s", outdir);
    CHECKF(st == LT_OK && strstr(c.text, "3 images 8x8") && strstr(c.text, "wrote 3 images"), "%s %s", err.msg, c.text);
    CHECKF(c.pv_w == 2 * 8 + 2 && c.pv_h == 2 * 8 + 2, "grid %dx%d", c.pv_w, c.pv_h);
    snprintf(p, sizeof p, "%s002.png", outdir);
    CHECK(access(p, R_OK) == 0);

    /* errors */
    CHECK(run(s, &c, &err, "imagine --scheduler heun --steps 3") == LT_EINVAL &&
          strstr(err.msg, "unknown scheduler 'heun'"));
    CHECK(run(s, &c, &err, "imagine --steps 0") == LT_EINVAL && strstr(err.msg, "--steps"));
    CHECK(run(s, &c, &err, "imagine --frobnicate") == LT_EINVAL && strstr(err.msg, "unknown option '--frobnicate'"));
    CHECK(run(s, &c, &err, "imagine --steps 3 --class 2") == LT_EINVAL && strstr(err.msg, "unconditional"));
    CHECK(run(s, &c, &err, "imagine --steps 3 --scheduler ddpm --eta 0.5") == LT_EINVAL &&
          strstr(err.msg, "--eta applies to ddim"));
    CHECK(run(s, &c, &err, "imagine --steps 3 --scheduler ddim --eta 1.5") == LT_EINVAL && strstr(err.msg, "--eta"));
    CHECK(run(s, &c, &err, "imagine --steps 3000") == LT_ERANGE && strstr(err.msg, "--steps 3000") &&
          strstr(err.msg, "1000 timesteps"));
    CHECK(run(s, &c, &err, "imagine -m %s/nothing --steps 3", dir) == LT_ENOTFOUND && strstr(err.msg, "no such folder"));
    snprintf(p, sizeof p, "%s/short.f32", dir);
    write_text(p, "0123456789abcdef"); /* 4 floats */
    CHECK(run(s, &c, &err, "imagine --steps 3 --init-noise %s", p) == LT_ERANGE &&
          strstr(err.msg, "holds 4 noise values, this run draws 192"));
    CHECK(run(s, &c, &err, "imagine extra") == LT_EINVAL && strstr(err.msg, "unexpected argument 'extra'"));

    /* a class-conditional model: without --class the classes are spread over the batch */
    st = run(s, &c, &err, "imagine -m %s --steps 3 --seed 2", cond);
    CHECKF(st == LT_OK, "%s", err.msg);
    uint64_t dc0 = lt_session_last(s)->digest;
    st = run(s, &c, &err, "imagine -m cond --steps 3 --seed 2 --class 0");
    CHECKF(st == LT_OK && lt_session_last(s)->digest == dc0, "%s", err.msg);
    st = run(s, &c, &err, "imagine -m cond --steps 3 --seed 2 --batch 2");
    uint64_t dspread = lt_session_last(s)->digest;
    st = run(s, &c, &err, "imagine -m cond --steps 3 --seed 2 --batch 2 --class 0");
    CHECKF(st == LT_OK && lt_session_last(s)->digest != dspread, "%s", err.msg);
    CHECK(run(s, &c, &err, "imagine -m cond --steps 3 --class 10") == LT_ERANGE && strstr(err.msg, "classes 0-9"));
    st = run(s, &c, &err, "imagine -m cond --steps 4 --class 7 --seed 2");
    CHECKF(st == LT_OK && strstr(c.text, "ddpm 4 steps"), "%s %s", err.msg, c.text);
    uint64_t dc7 = lt_session_last(s)->digest;
    st = run(s, &c, &err, "imagine -m cond --steps 4 --class 1 --seed 2");
    CHECKF(st == LT_OK && lt_session_last(s)->digest != dc7, "%s", err.msg);
    /* two loaded now: -m is needed */
    CHECK(run(s, &c, &err, "imagine --steps 3") == LT_EINVAL && strstr(err.msg, "several denoisers"));

    /* experts: m for the low timesteps, other for the high ones */
    int calls = g_calls;
    st = run(s, &c, &err, "imagine --experts m:0-499,%s:500-999 --steps 10 --seed 3", other);
    CHECKF(st == LT_OK && g_calls == calls + 10, "%s", err.msg);
    uint64_t dex = lt_session_last(s)->digest;
    st = run(s, &c, &err, "imagine -m m --steps 10 --seed 3");
    CHECK(st == LT_OK && lt_session_last(s)->digest != dex);
    CHECK(run(s, &c, &err, "imagine --experts m:0-399,other:500-999 --steps 10") == LT_ERANGE &&
          strstr(err.msg, "no expert covers timestep 400"));
    CHECK(run(s, &c, &err, "imagine --experts m:0-599,other:500-999 --steps 10") == LT_EINVAL &&
          strstr(err.msg, "overlaps"));
    CHECK(run(s, &c, &err, "imagine --experts m:0-499,cond:500-999 --steps 10 --class 1") == LT_EINVAL &&
          strstr(err.msg, "classes"));

    /* cancellation: Esc at step 3 of 50 keeps the partial state, returns OK, no digest */
    c.cancel_at = 3;
    calls = g_calls;
    st = run(s, &c, &err, "imagine -m m --steps 50 --seed 3");
    r = lt_session_last(s);
    CHECKF(st == LT_OK && r->cancelled && r->n_tokens == 3 && !r->has_digest && g_calls == calls + 3 &&
               strstr(c.text, "cancelled after 3 of 50 steps"),
           "%s / %s", err.msg, c.text);
    c.cancel_at = 0;
    /* a replay of a cancelled run stops after as many steps */
    lt_session_set_token_limit(s, 5);
    calls = g_calls;
    st = run(s, &c, &err, "imagine -m m --steps 50 --seed 3");
    CHECK(st == LT_OK && lt_session_last(s)->cancelled && lt_session_last(s)->n_tokens == 5 && g_calls == calls + 5);

    /* --scale: the PNG enlarged, the digest the unscaled image's */
    snprintf(png, sizeof png, "%s/big.png", dir);
    st = run(s, &c, &err, "imagine -m m --steps 20 --seed 3 --scale 3 --out %s", png);
    CHECKF(st == LT_OK && lt_session_last(s)->digest == d1, "%s", err.msg);
    CHECK(lt_image_load(&back, png, &err) == LT_OK && back.w == 24 && back.h == 24);
    lt_image_free(&back);
    CHECK(run(s, &c, &err, "imagine -m m --steps 2 --scale 99") == LT_EINVAL && strstr(err.msg, "--scale"));

    /* unload frees it; the next run loads again */
    CHECK(run(s, &c, &err, "unload m") == LT_OK);
    st = run(s, &c, &err, "imagine -m %s --steps 20 --seed 3", m);
    CHECKF(st == LT_OK && lt_session_last(s)->digest == d1 && g_opens == 4, "%s (opens %d)", err.msg, g_opens);
    lt_session_free(s);

    /* without -m in a fresh session: the bundled model (here a stand-in in another assets folder) */
    snprintf(assets, sizeof assets, "%s/assets2", dir);
    snprintf(p, sizeof p, "%s/models", assets);
    mkdir(assets, 0777), mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/models/stories260K.bin", assets);
    write_text(p, "");
    setenv("LATHE_ASSETS", assets, 1);
    char dig[1900], unet[2000];
    snprintf(dig, sizeof dig, "%s/models/digits-unet", assets); /* a pipeline: model_index.json, unet/, scheduler/ */
    mkdir(dig, 0777);
    make_folder(unet, sizeof unet, dig, "unet", "{}");
    snprintf(p, sizeof p, "%s/scheduler", dig);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/scheduler/scheduler_config.json", dig);
    write_text(p, "{\"_class_name\": \"DDIMScheduler\"}");
    snprintf(p, sizeof p, "%s/model_index.json", dig);
    write_text(p, "{\"_class_name\": \"DDIMPipeline\"}");
    CHECK(lt_session_create(&s, &so, &err) == LT_OK);
    st = run(s, &c, &err, "imagine --seed 1 --batch 10");
    CHECKF(st == LT_OK && strstr(c.text, "as 'digits-unet' (3x8x8, class-conditional)") &&
               strstr(c.text, "10 images 8x8, ddim 50 steps"),
           "%s / %s", err.msg, c.text);
    st = run(s, &c, &err, "imagine --steps 2 --seed 1"); /* now loaded: reused */
    CHECKF(st == LT_OK && !strstr(c.text, "loaded"), "%s / %s", err.msg, c.text);
    lt_session_free(s);
    unsetenv("LATHE_ASSETS");

    /* the default classes */
    lt_imagine_args ia;
    lt_imagine_args_default(&ia);
    int cls[LT_IMAGINE_MAX_BATCH];
    ia.batch = 10;
    lt_imagine_classes(&ia, 10, cls);
    CHECK(cls[0] == 0 && cls[3] == 3 && cls[9] == 9);
    ia.batch = 100;
    lt_imagine_classes(&ia, 10, cls);
    CHECK(cls[0] == 0 && cls[9] == 0 && cls[10] == 1 && cls[55] == 5 && cls[99] == 9);
    ia.batch = 4;
    lt_imagine_classes(&ia, 10, cls);
    CHECK(cls[0] == 0 && cls[1] == 2 && cls[2] == 5 && cls[3] == 7);
    ia.class_id = 6;
    lt_imagine_classes(&ia, 10, cls);
    CHECK(cls[0] == 6 && cls[3] == 6);

    /* no opener */
    lt_session_opts so2 = {.tables = lt_cmd_builtin, .device = "cpu", .threads = 1};
    CHECK(lt_session_create(&s, &so2, &err) == LT_OK);
    CHECK(run(s, &c, &err, "imagine -m %s", m) == LT_EUNSUPPORTED && strstr(err.msg, "no denoiser opener"));
    lt_session_free(s);
    return lt_test_done();
}
