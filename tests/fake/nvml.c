/* A stand-in for libnvidia-ml.so.1, built only for the tests: the NVML entry points the
 * workbench loads (NVML's v2 ABI: return 0 = NVML_SUCCESS), reporting a fixed device.
 * FAKE_NVML_FAIL=init makes nvmlInit_v2 fail, FAKE_NVML_FAIL=util the utilisation query. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { unsigned int gpu, memory; } nvml_util;
typedef struct { unsigned long long total, free, used; } nvml_mem;

static int inited;
static int fails(const char *what) {
    const char *f = getenv("FAKE_NVML_FAIL");
    return f && !strcmp(f, what);
}

int nvmlInit_v2(void) {
    if (fails("init")) return 999; /* NVML_ERROR_UNKNOWN */
    inited = 1;
    return 0;
}
int nvmlShutdown(void) {
    inited = 0;
    return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **dev) {
    if (!inited) return 1; /* NVML_ERROR_UNINITIALIZED */
    if (i != 0) return 2;  /* NVML_ERROR_INVALID_ARGUMENT */
    *dev = (void *)0x1;
    return 0;
}
int nvmlDeviceGetName(void *dev, char *name, unsigned int n) {
    (void)dev;
    snprintf(name, n, "Fake GPU 0");
    return 0;
}
int nvmlDeviceGetUtilizationRates(void *dev, nvml_util *u) {
    (void)dev;
    if (fails("util")) return 999;
    u->gpu = 37;
    u->memory = 12;
    return 0;
}
int nvmlDeviceGetMemoryInfo(void *dev, nvml_mem *m) {
    (void)dev;
    m->total = 80ull << 30;
    m->used = 20ull << 30;
    m->free = 60ull << 30;
    return 0;
}
