/* qdot_k2.c - CPU dot products for q2_K, q3_K, iq4_nl and iq4_xs (see lt_cpu_qdot in
 * cpu_impl.h). Not written yet: qdot.c's generic path serves these types. */
#include "cpu_impl.h"

const lt_cpu_qdot *lt_cpu_qdot_k2(lt_dtype wt, bool avx2) {
    (void)wt, (void)avx2;
    return NULL;
}
