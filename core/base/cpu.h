/* cpu.h - what the host CPU can do, checked once at run time: the AVX2 + FMA + F16C fast paths
 * (x86-64 with GCC or clang) that the host row conversions (dtype.c) and the CPU backend's
 * kernels share, and a switch that turns them off (tests compare both paths; LT_CPU_SCALAR=1 in
 * the environment does it for a whole run).
 * Leaves out: AVX-512 (kernels/cpu checks that itself), other architectures (portable C there).
 */
#ifndef LT_BASE_CPU_H
#define LT_BASE_CPU_H

#include <stdbool.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LT_NO_SIMD)
#define LT_X86 1
#include <immintrin.h>
#define LT_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#define LT_X86 0
#endif

/* True when the CPU has AVX2, FMA and F16C and the fast paths are on (checked once). */
bool lt_cpu_has_avx2(void);
/* Turns the fast paths off (false) or back on where the CPU has them (true). Not thread-safe
 * with conversions or kernels running. */
void lt_cpu_set_simd(bool enabled);
/* True when the fast paths are in use. */
bool lt_cpu_simd(void);

#endif
