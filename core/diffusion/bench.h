/* bench.h - the speed of a denoiser as `lathe bench imagine` reports it: a whole sampling run
 * (DDIM, seeded noise, no output) of `steps` steps on a batch, after one untimed warm-up
 * evaluation, timed end to end and inside the network.
 *   unet it/s    network evaluations of the whole batch per second (diffusers' progress bar)
 *   images/s     finished images per second (batch / run seconds)
 *   GFLOP/s      the denoiser's own FLOP count per image (lt_denoiser.flops) x evaluations / time
 * Leaves out: printing (tui/cli_imagine.c formats text and JSON), opening the model.
 */
#ifndef LT_DIFFUSION_BENCH_H
#define LT_DIFFUSION_BENCH_H

#include <stdbool.h>

#include "core/diffusion/denoiser.h"

typedef struct lt_diffusion_bench_result {
    int steps, batch;
    double seconds;      /* the run */
    double model_s;      /* inside the denoiser */
    double unet_its;     /* steps / model_s: batch evaluations per second */
    double images_per_s; /* batch / seconds */
    double gflops;       /* achieved, from d->flops (0 when the model does not say) */
    bool cancelled;
} lt_diffusion_bench_result;

/* Runs the measurement; cancelled (may be NULL) is polled before each step. */
lt_status lt_diffusion_bench(lt_denoiser *d, int steps, int batch, bool (*cancelled)(void *ud), void *ud,
                             lt_diffusion_bench_result *out, lt_err *err);

#endif
