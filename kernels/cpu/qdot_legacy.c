/* qdot_legacy.c - CPU dot products for q4_1, q5_0 and q5_1 weights (see lt_cpu_qdot in
 * cpu_impl.h). Not written yet: qdot.c's generic path serves these types. */
#include "cpu_impl.h"

const lt_cpu_qdot *lt_cpu_qdot_legacy(lt_dtype wt, bool avx2) {
    (void)wt, (void)avx2;
    return NULL;
}
