/* testutil.h - tiny test harness shared by the tests in tests/.
 *
 * Each test is a program: CHECK(...) records failures and goes on; lt_test_done() prints
 * "N passed, M failed" and returns the exit code. A test that needs something absent
 * (a GPU, ../shared) returns 77, which ctest reports as skipped.
 */
#ifndef LT_TESTUTIL_H
#define LT_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

extern int lt_test_passed, lt_test_failed;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (cond) lt_test_passed++;                                                          \
        else {                                                                               \
            lt_test_failed++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                                    \
    } while (0)

#define CHECKF(cond, ...)                                                                    \
    do {                                                                                     \
        if (cond) lt_test_passed++;                                                          \
        else {                                                                               \
            lt_test_failed++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
        }                                                                                    \
    } while (0)

/* Prints the summary line and returns 0 when nothing failed, else 1. */
int lt_test_done(void);

/* Deterministic pseudo-random numbers (xorshift). */
typedef struct lt_test_rng { uint64_t s; } lt_test_rng;
void lt_test_rng_seed(lt_test_rng *r, uint64_t seed);
uint32_t lt_test_u32(lt_test_rng *r);
float lt_test_uniform(lt_test_rng *r);            /* [0, 1) */
float lt_test_normal(lt_test_rng *r);             /* N(0, 1) */
void lt_test_fill(lt_test_rng *r, float *x, int64_t n, float scale); /* N(0, scale^2) */
/* Calibration-like inputs for quantizer tests: x [n, cols] with correlated columns of unequal
 * scale (every 7th three times larger), h = x^T x in double. */
void lt_test_correlated_inputs(lt_test_rng *r, int n, int cols, float *x, double *h);
/* ||(W - Q) X^T||_F for W, Q [rows, cols] and X [n, cols]: a layer's output error. */
double lt_test_out_err(const float *w, const float *q, const float *x, int rows, int cols, int n);

/* Path of a file in the source tree: $LATHE_ROOT/rel (LATHE_ROOT set by ctest). */
const char *lt_test_path(const char *rel);
/* The whole file, NUL-terminated (malloc'd; free it), its length in *len (may be NULL); NULL when
 * it cannot be read. */
char *lt_test_read_file(const char *path, size_t *len);
/* The real chat model SmolLM2-135M-Instruct: $LATHE_SMOLLM2, else the models folder lathe itself
 * looks in (as tests/cli_lib.sh's smollm2_path). NULL when it is not there, after printing
 * "WHO: SmolLM2 not at PATH: skipped" to stderr. The path lives in a static buffer. */
const char *lt_test_smollm2(const char *who);

/* A fresh scratch directory for this test (under the build dir); returns its path. */
const char *lt_test_tmpdir(const char *name);

/* The two backends of a CUDA test: the CPU reference and "cuda" (through the registry, which
 * loads the CUDA module liblathe-cuda.so as lathe does) - or, when selfcheck (the test built
 * with -DLT_TEST_SELFCHECK, LT_TEST_SELF below), a second CPU backend standing in for it,
 * which checks the test's own logic on machines without a GPU. Returns 0, 77 when the module
 * or a CUDA device is missing (ctest: skipped; the module's status says why), or 1 when a
 * backend cannot be created; prints why. */
typedef struct lt_backend lt_backend;
int lt_test_gpu_backends(lt_backend **cpu, lt_backend **gpu, int selfcheck);
#ifdef LT_TEST_SELFCHECK
#define LT_TEST_SELF 1
#else
#define LT_TEST_SELF 0
#endif

/* max |a-b| / max(max|b|, tiny) over n elements. */
double lt_test_rel_err(const float *a, const double *b, int64_t n);
double lt_test_rel_err_ff(const float *a, const float *b, int64_t n);

/* A test denoiser (core/diffusion/denoiser.h) with an analytic "network": out = a * x +
 * b * sin(t / 100) + 0.125 * class, elementwise in float32 (tools/gen_sched_fixtures.py's
 * model with class 0), on images of c x h x w; num_classes 0 = unconditional. delay_s sleeps
 * per call (for cancellation tests). Counts its calls in *calls when calls is not NULL. */
typedef struct lt_denoiser lt_denoiser;
lt_denoiser *lt_test_denoiser(int c, int h, int w, int max_batch, int num_classes, float a, float b, double delay_s,
                              int *calls);

/* The compression tests' subject: a synthetic llama of cfg (weights from seed) with the bundled
 * tok512 tokenizer and a 2-thread CPU backend. False (after a failed CHECK, nothing held) when
 * any of them cannot be made; lt_test_lm_kit_close frees all three. */
typedef struct lt_modelsrc lt_modelsrc;
typedef struct lt_tokenizer lt_tokenizer;
typedef struct lt_llm_config lt_llm_config;
typedef struct lt_test_lm_kit {
    lt_modelsrc *src;
    lt_tokenizer *tok;
    lt_backend *be;
} lt_test_lm_kit;
bool lt_test_lm_kit_open(lt_test_lm_kit *k, const lt_llm_config *cfg, uint64_t seed);
void lt_test_lm_kit_close(lt_test_lm_kit *k);

#endif
