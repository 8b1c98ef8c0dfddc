/* testutil.c - see testutil.h. */
#include "testutil.h"

#include "core/backend/backend.h"
#include "core/base/assets.h"
#include "core/diffusion/denoiser.h"
#include "core/formats/modelsrc.h"
#include "core/text/tokenizer.h"
#include "models/llama.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int lt_test_passed, lt_test_failed;

int lt_test_done(void) {
    printf("%d passed, %d failed\n", lt_test_passed, lt_test_failed);
    return lt_test_failed ? 1 : 0;
}

void lt_test_rng_seed(lt_test_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

uint32_t lt_test_u32(lt_test_rng *r) {
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return (uint32_t)(x >> 32);
}

float lt_test_uniform(lt_test_rng *r) { return (lt_test_u32(r) >> 8) * (1.0f / 16777216.0f); }

float lt_test_normal(lt_test_rng *r) {
    float u1 = lt_test_uniform(r) + 1e-7f, u2 = lt_test_uniform(r);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

void lt_test_fill(lt_test_rng *r, float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = scale * lt_test_normal(r);
}

const char *lt_test_path(const char *rel) {
    static char buf[8][1024];
    static int k;
    const char *root = getenv("LATHE_ROOT");
    char *b = buf[k++ & 7];
    snprintf(b, 1024, "%s/%s", root ? root : "..", rel);
    return b;
}

const char *lt_test_tmpdir(const char *name) {
    static char buf[1024];
    mkdir("test-tmp", 0755);
    snprintf(buf, sizeof buf, "test-tmp/%s", name);
    mkdir(buf, 0755);
    return buf;
}

double lt_test_rel_err(const float *a, const double *b, int64_t n) {
    double md = 0, mb = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

double lt_test_rel_err_ff(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

int lt_test_gpu_backends(lt_backend **cpu, lt_backend **gpu, int selfcheck) {
    lt_err err;
    *cpu = *gpu = NULL;
    if (!selfcheck && !lt_backend_cuda_available()) { /* loads the CUDA module, as lathe does */
        char why[1024];
        lt_backend_cuda_status(false, why, sizeof why);
        printf("no CUDA device: skipped (cuda: %s)\n", why);
        return 77;
    }
    if (lt_backend_create(gpu, selfcheck ? "cpu" : "cuda", NULL, &err) != LT_OK ||
        lt_backend_create(cpu, "cpu", NULL, &err) != LT_OK) {
        fprintf(stderr, "backends: %s\n", err.msg);
        lt_backend_free(*gpu);
        *gpu = NULL;
        return 1;
    }
    printf("device under test: %s\n", lt_backend_device(*gpu));
    return 0;
}

char *lt_test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[n] = 0;
        if (len) *len = (size_t)n;
    }
    return p;
}

/* ---- the test denoiser ---------------------------------------------------------------- */

typedef struct test_den {
    lt_denoiser base;
    float a, b;
    double delay_s;
    int *calls;
} test_den;

static lt_status test_den_predict(lt_denoiser *d, const float *x, int n, const float *t, const int *cls, float *out,
                                  lt_err *err) {
    (void)err;
    test_den *td = (test_den *)d;
    size_t per = (size_t)d->in_c * d->h * d->w;
    for (int i = 0; i < n; i++) {
        float k = td->b * sinf(t[i] / 100.0f) + (cls ? 0.125f * (float)cls[i] : 0.0f);
        for (size_t j = 0; j < per; j++) out[i * per + j] = td->a * x[i * per + j] + k;
    }
    if (td->calls) (*td->calls)++;
    if (td->delay_s > 0) {
        struct timespec ts = {(time_t)td->delay_s, (long)((td->delay_s - (double)(time_t)td->delay_s) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return LT_OK;
}

static void test_den_close(lt_denoiser *d) { free(d); }

static const lt_denoiser_ops k_test_den_ops = {"test", test_den_predict, test_den_close};

lt_denoiser *lt_test_denoiser(int c, int h, int w, int max_batch, int num_classes, float a, float b, double delay_s,
                              int *calls) {
    test_den *td = calloc(1, sizeof *td);
    if (!td) return NULL;
    td->base = (lt_denoiser){.ops = &k_test_den_ops, .in_c = c, .out_c = c, .h = h, .w = w, .max_batch = max_batch,
                             .num_classes = num_classes, .num_train_timesteps = 1000, .flops = 2.0 * c * h * w};
    td->a = a, td->b = b, td->delay_s = delay_s, td->calls = calls;
    return &td->base;
}

/* x: n x cols, correlated columns of unequal scale; h = x^T x */
void lt_test_correlated_inputs(lt_test_rng *r, int n, int cols, float *x, double *h) {
    float *z = malloc(sizeof(float) * n * cols), *a = malloc(sizeof(float) * cols * cols);
    lt_test_fill(r, z, (int64_t)n * cols, 1);
    lt_test_fill(r, a, (int64_t)cols * cols, 1.0f / sqrtf((float)cols));
    for (int i = 0; i < cols; i++) a[i * cols + i] += 1;
    for (int t = 0; t < n; t++)
        for (int c = 0; c < cols; c++) {
            double s = 0;
            for (int k = 0; k < cols; k++) s += z[t * cols + k] * a[k * cols + c];
            x[t * cols + c] = (float)(s * (1 + 3 * (c % 7 == 0)));
        }
    for (int i = 0; i < cols; i++)
        for (int j = 0; j < cols; j++) {
            double s = 0;
            for (int t = 0; t < n; t++) s += (double)x[t * cols + i] * x[t * cols + j];
            h[i * cols + j] = s;
        }
    free(z), free(a);
}

double lt_test_out_err(const float *w, const float *q, const float *x, int rows, int cols, int n) {
    double e = 0;
    for (int r = 0; r < rows; r++)
        for (int t = 0; t < n; t++) {
            double s = 0;
            for (int c = 0; c < cols; c++) s += ((double)w[r * cols + c] - q[r * cols + c]) * x[t * cols + c];
            e += s * s;
        }
    return sqrt(e);
}

bool lt_test_lm_kit_open(lt_test_lm_kit *k, const lt_llm_config *cfg, uint64_t seed) {
    lt_err err = {0};
    lt_vocab *v = NULL;
    *k = (lt_test_lm_kit){0};
    CHECKF(lt_vocab_from_llama2c(&v, lt_test_path("assets/models/tok512.bin"), 512, &err) == LT_OK, "%s", err.msg);
    if (v) CHECKF(lt_tok_create(&k->tok, v, &err) == LT_OK, "%s", err.msg); /* owns v from here */
    CHECKF(lt_llama_synthetic(&k->src, cfg, NULL, seed, &err) == LT_OK, "%s", err.msg);
    CHECKF(lt_backend_create(&k->be, "cpu", &(lt_backend_opts){.n_threads = 2}, &err) == LT_OK, "%s", err.msg);
    if (k->src && k->tok && k->be) return true;
    lt_test_lm_kit_close(k);
    return false;
}

void lt_test_lm_kit_close(lt_test_lm_kit *k) {
    lt_modelsrc_close(k->src);
    lt_tok_free(k->tok);
    lt_backend_free(k->be);
    *k = (lt_test_lm_kit){0};
}

const char *lt_test_smollm2(const char *who) {
    static char buf[4200];
    lt_err err = {0};
    const char *env = getenv("LATHE_SMOLLM2");
    if (env && env[0]) snprintf(buf, sizeof buf, "%s", env);
    else if (lt_default_model_path(buf, sizeof buf, &err) == LT_ERANGE) buf[0] = 0;
    if (access(buf, R_OK) != 0) {
        fprintf(stderr, "%s: SmolLM2 not at %s: skipped\n", who, buf);
        return NULL;
    }
    return buf;
}
