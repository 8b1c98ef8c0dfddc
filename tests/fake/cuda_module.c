/* Stand-ins for liblathe-cuda.so, built only for the tests of the module loader
 * (core/backend/module.c), one per way a module can be found wanting. CMake compiles this
 * file once per kind into build/fake_cuda/KIND/liblathe-cuda.so:
 *   FAKE_OK          a working module with one "device": a host-memory backend named cuda
 *                    that stores and copies tensors but runs no op (each op is unsupported)
 *   FAKE_NODEV       loads, reports no device (as the real module on a machine without a GPU)
 *   FAKE_ABI         reports ABI version LT_BACKEND_ABI_VERSION + 100
 *   FAKE_NOENTRY     has no lt_cuda_module_entry
 *   FAKE_MISSING_DEP needs libltmissing.so, which is built where the loader cannot find it
 *                    (as the real module on a machine without libcublasLt)
 * With FAKE_CUDA_MARK set, loading any of them appends "loaded" to that file, so a test can
 * tell whether a run loaded the module at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/backend/backend_impl.h"

#define EXPORT __attribute__((visibility("default")))

__attribute__((constructor)) static void mark_loaded(void) {
    const char *m = getenv("FAKE_CUDA_MARK");
    FILE *f = m && *m ? fopen(m, "a") : NULL;
    if (f) {
        fputs("loaded\n", f);
        fclose(f);
    }
}

#ifdef FAKE_NOENTRY
EXPORT int lt_some_other_entry(void) { return 1; }
#else

#ifdef FAKE_MISSING_DEP
int lt_fake_missing_dep(void); /* in libltmissing.so */
#endif

static int fake_device_count(lt_err *err) {
#ifdef FAKE_MISSING_DEP
    if (lt_fake_missing_dep() != 42) return 0;
#endif
#ifdef FAKE_NODEV
    lt_err_set(err, LT_EDEVICE, "cudaGetDeviceCount: no CUDA-capable device is detected (fake)");
    return 0;
#else
    return 1;
#endif
}

static void fake_versions(char *buf, size_t cap) { snprintf(buf, cap, "fake CUDA runtime 0.0, no driver"); }

/* ---- a host-memory backend: transfers work, ops do not ------------------------------------ */

static void f_destroy(lt_backend *be) { lt_free(be); }
static lt_status f_mem_info(lt_backend *be, size_t *free_b, size_t *total_b, lt_err *err) {
    *free_b = (size_t)1 << 30;
    *total_b = (size_t)2 << 30;
    return LT_OK;
}
static lt_status f_alloc(lt_backend *be, size_t bytes, lt_mem_cat cat, void **out, lt_err *err) {
    (void)cat;
    *out = lt_malloc(bytes);
    return *out ? LT_OK : lt_err_set(err, LT_ENOMEM, "fake cuda: out of memory");
}
static void f_release(lt_backend *be, void *ptr) { lt_free(ptr); }
static lt_status f_copy(lt_backend *be, void *dst, const void *src, size_t bytes, lt_err *err) {
    memmove(dst, src, bytes);
    return LT_OK;
}

static const lt_backend_ops k_fake_ops = {
    .name = "cuda",
    .is_host = false,
    .destroy = f_destroy,
    .mem_info = f_mem_info,
    .alloc = f_alloc,
    .release = f_release,
    .set = f_copy,
    .get = f_copy,
    .copy = f_copy,
};

static lt_status fake_create(lt_backend **out, const lt_backend_opts *opts, lt_err *err) {
    *out = NULL;
    if (fake_device_count(err) < 1) return lt_err_set(err, LT_EDEVICE, "device cuda: no device (fake)");
    lt_backend *be = lt_calloc(1, sizeof *be);
    if (!be) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    be->ops = &k_fake_ops;
    snprintf(be->device, sizeof be->device, "Fake CUDA device (test module)");
    be->n_threads = 1;
    *out = be;
    return LT_OK;
}

static const lt_backend_module k_module = {
#ifdef FAKE_ABI
    .abi_version = LT_BACKEND_ABI_VERSION + 100,
#else
    .abi_version = LT_BACKEND_ABI_VERSION,
#endif
    LT_BACKEND_MODULE_SIZES,
    .name = "cuda",
    .device_count = fake_device_count,
    .versions = fake_versions,
    .create = fake_create,
};

EXPORT const lt_backend_module *lt_cuda_module_entry(void) { return &k_module; }
#endif
