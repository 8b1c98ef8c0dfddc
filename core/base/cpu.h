/* cpu.h - what the host CPU can do, checked once at run time: the AVX2 + FMA + F16C fast paths
 * (x86-64 with GCC or clang) that the host row conversions (dtype.c) and the CPU backend's
 * kernels share, and a switch that turns them off (tests compare both paths; LT_CPU_SCALAR=1 in
 * the environment does it for a whole run).
 * Also whether the AVX-512 VNNI kernels of kernels/cpu may run (LT_CPU_NO_VNNI=1 keeps them off).
 * Leaves out: other architectures (portable C there).
 */
#ifndef LT_BASE_CPU_H
#define LT_BASE_CPU_H

#include <stdbool.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LT_NO_SIMD)
#define LT_X86 1
#include <immintrin.h>
#define LT_AVX2 __attribute__((target("avx2,fma,f16c")))
/* the AVX-512 kernels (run only where lt_cpu_has_vnni says so) */
#define LT_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
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
/* True when the AVX-512 (F, BW, VL, VNNI) kernels are in use: the AVX2 paths on, the CPU has
 * them, and LT_CPU_NO_VNNI is not set (it forces the AVX2 kernels, to compare both). */
bool lt_cpu_has_vnni(void);

#endif
