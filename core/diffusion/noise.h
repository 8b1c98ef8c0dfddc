/* noise.h - the standard normal numbers a sampling run draws, as one stream: the initial
 * noise first, then each step's noise (DDPM's variance, DDIM with eta > 0) in the order the
 * loop draws it (core/diffusion/sample.c). Each draw is one [batch, c, h, w] tensor.
 *
 * Two sources: a seed (--seed S) or a file (--init-noise FILE) that holds the stream, so a run
 * can be compared with diffusers drawing the same numbers (tools/gen_sched_fixtures.py writes
 * such streams; torch.randn with one generator, in the pipeline's order, gives the same).
 *
 * The seeded generator: xoshiro256** (Blackman & Vigna) with its state filled by splitmix64
 * from the seed; each pair of normals comes from two 53-bit uniforms u1 in (0, 1], u2 in
 * [0, 1) by Box-Muller: r = sqrt(-2 ln u1), z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), in
 * double, rounded to float. The numbers depend only on the seed (not on the host, the batch
 * split or the thread count); they are not torch's.
 * A file is raw little-endian float32 (any length, a multiple of 4 bytes) or a .npy of dtype
 * '<f4' (C order, version 1-3); a .npy with 3 or more dimensions must end in the run's
 * [c, h, w]. A stream shorter than the run needs is refused before the run starts.
 * Leaves out: torch's own generator (mt19937 + its vectorised Box-Muller).
 */
#ifndef LT_NOISE_H
#define LT_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/status.h"

typedef struct lt_noise lt_noise;

lt_status lt_noise_seeded(lt_noise **out, uint64_t seed, lt_err *err);
/* Reads the whole stream from path (raw f32 or .npy). */
lt_status lt_noise_file(lt_noise **out, const char *path, lt_err *err);
void lt_noise_free(lt_noise *n); /* NULL is a no-op */

/* Checks that a file stream holds at least need more values and, for a .npy of 3+
 * dimensions, that it ends in [c, h, w]; detail says what the run draws ("initial 96 + 10
 * steps x 96"). Always OK for a seed. */
lt_status lt_noise_check(const lt_noise *n, size_t need, int c, int h, int w, const char *detail, lt_err *err);
/* The next count values of the stream. */
lt_status lt_noise_draw(lt_noise *n, float *dst, size_t count, lt_err *err);

#endif
