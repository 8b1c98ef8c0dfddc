/* quants_impl.h - the search helpers GGML's reference K-quant quantizers share (core/base only;
 * the quantizer files quants_k.c and quants_k2.c use them, nothing outside core/base includes
 * this). Each does exactly the float operations of GGML's function of the same name in
 * ggml-quants.c, in the same order, so the blocks written from them are byte-identical to
 * GGML's (lt_base is built without FMA contraction, as ggml-base is).
 * Element rounding is lt_nearest_int (kernels/lt_quants.h, GGML's nearest_int); lt_qclamp is
 * GGML's MAX(lo, MIN(hi, v)).
 * Definitions: quants_k.c.
 * Leaves out: make_qkx3_quants / make_qp_quants (importance-matrix paths); make_q3_quants (only
 * q3_K uses it: static in quants_k2.c).
 */
#ifndef LT_QUANTS_IMPL_H
#define LT_QUANTS_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/lt_math.h" /* lt_nearest_int, lt_f32_to_f16, lt_f16_to_f32 */

/* GGML's GROUP_MAX_EPS: a group whose largest magnitude is below this is all zero. */
#define LT_GROUP_MAX_EPS 1e-15f

static inline int lt_qclamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* GGML's make_qkx2_quants: n values x with weights -> levels L[i] in 0..nmax and the scale
 * returned, *the_min set to minus the offset (x ~ scale * L - *the_min); tries nstep+1 scales
 * (nmax + rmin + rdelta * is) / (max - min), weighted least squares each, keeping the lowest
 * weighted error (absolute when use_mad, else squared). Laux: n bytes of scratch. */
float lt_make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                          uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad);

/* GGML's make_qx_quants: n values x -> signed levels L[i] + nmax (0..2*nmax-1) and the scale
 * returned (x ~ scale * (L - nmax)); rmse_type 1 weights by x^2 (qw, when not NULL, replaces the
 * weights), 0 is plain rounding, negative returns after the first fit. */
float lt_make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw);

#endif
