/* cpu.c - see cpu.h. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

#if LT_X86
#include <cpuid.h>
#endif

static int g_simd_off; /* lt_cpu_set_simd(false) */

void lt_cpu_set_simd(bool enabled) { __atomic_store_n(&g_simd_off, !enabled, __ATOMIC_RELAXED); }

bool lt_cpu_simd(void) { return lt_cpu_has_avx2(); }

bool lt_cpu_has_avx2(void) {
    static int cached = -1;
    if (__atomic_load_n(&g_simd_off, __ATOMIC_RELAXED)) return false;
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c < 0) {
        c = 0;
#if LT_X86
        __builtin_cpu_init();
        unsigned a, b, cx, d;
        /* F16C is CPUID.1:ECX bit 29 (clang's __builtin_cpu_supports does not know it) */
        bool f16c = __get_cpuid(1, &a, &b, &cx, &d) && (cx >> 29 & 1);
        c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#endif
        const char *e = getenv("LT_CPU_SCALAR");
        if (e && *e && strcmp(e, "0")) c = 0;
        __atomic_store_n(&cached, c, __ATOMIC_RELAXED);
    }
    return c != 0;
}


bool lt_cpu_has_vnni(void) {
    if (!lt_cpu_has_avx2()) return false;
#if LT_X86
    static int cached = -1;
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c < 0) {
        __builtin_cpu_init();
        c = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
        const char *e = getenv("LT_CPU_NO_VNNI");
        if (e && *e && strcmp(e, "0")) c = 0;
        __atomic_store_n(&cached, c, __ATOMIC_RELAXED);
    }
    return c;
#else
    return false;
#endif
}
