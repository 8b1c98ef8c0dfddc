/* nvml.c - see nvml.h. Declares the few NVML entry points it uses (ABI of nvml.h v2);
 * leaves out everything else NVML offers. */
#include "nvml.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { unsigned int gpu, memory; } nvml_util;
typedef struct { unsigned long long total, free, used; } nvml_mem;
typedef void *nvml_dev;

struct lt_nvml {
    void *lib;
    nvml_dev dev;
    char name[96];
    int (*shutdown)(void);
    int (*util)(nvml_dev, nvml_util *);
    int (*mem)(nvml_dev, nvml_mem *);
};

lt_nvml *lt_nvml_open(int device) {
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return NULL;
    int (*init)(void) = (int (*)(void))dlsym(lib, "nvmlInit_v2");
    int (*get)(unsigned, nvml_dev *) = (int (*)(unsigned, nvml_dev *))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    int (*name)(nvml_dev, char *, unsigned) = (int (*)(nvml_dev, char *, unsigned))dlsym(lib, "nvmlDeviceGetName");
    lt_nvml *n = calloc(1, sizeof *n);
    if (!n || !init || !get) goto fail;
    n->lib = lib;
    n->shutdown = (int (*)(void))dlsym(lib, "nvmlShutdown");
    n->util = (int (*)(nvml_dev, nvml_util *))dlsym(lib, "nvmlDeviceGetUtilizationRates");
    n->mem = (int (*)(nvml_dev, nvml_mem *))dlsym(lib, "nvmlDeviceGetMemoryInfo");
    if (init() != 0) goto fail;
    if (get((unsigned)device, &n->dev) != 0) {
        if (n->shutdown) n->shutdown();
        goto fail;
    }
    if (!name || name(n->dev, n->name, sizeof n->name) != 0) snprintf(n->name, sizeof n->name, "GPU %d", device);
    return n;
fail:
    free(n);
    dlclose(lib);
    return NULL;
}

void lt_nvml_close(lt_nvml *n) {
    if (!n) return;
    if (n->shutdown) n->shutdown();
    dlclose(n->lib);
    free(n);
}

bool lt_nvml_query(lt_nvml *n, double *util, size_t *used, size_t *total) {
    nvml_util u;
    nvml_mem m;
    if (!n || !n->util || n->util(n->dev, &u) != 0) return false;
    *util = u.gpu;
    if (n->mem && n->mem(n->dev, &m) == 0) {
        *used = (size_t)m.used;
        *total = (size_t)m.total;
    } else {
        *used = *total = 0;
    }
    return true;
}

const char *lt_nvml_name(const lt_nvml *n) { return n ? n->name : ""; }
