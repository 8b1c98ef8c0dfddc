/* module.h - the loader of the CUDA backend module (liblathe-cuda.so), for the registry in
 * core/backend/backend.c. The public side (lt_backend_cuda_status, lt_module_state) is in
 * backend.h; the contract with the module (lt_backend_module, LT_BACKEND_ABI_VERSION) in
 * backend_impl.h.
 */
#ifndef LT_BACKEND_MODULE_H
#define LT_BACKEND_MODULE_H

#include "backend_impl.h"

/* Loads the module when not tried yet; true when it is loaded and has a device. Otherwise
 * false with the reason in why (one line, without "device cuda: "). */
bool lt_cuda_module_usable(char *why, size_t cap);

/* Whether "auto" should load the module: an NVIDIA driver is installed (/dev/nvidiactl or
 * /proc/driver/nvidia exists), or $LATHE_CUDA_MODULE names a module. Without either, loading
 * it would only map the CUDA libraries (about 1 GB of address space) to find no device. */
bool lt_cuda_driver_present(void);

/* The module's create; only after lt_cuda_module_usable returned true. */
lt_status lt_cuda_module_create(lt_backend **out, const lt_backend_opts *opts, lt_err *err);

#endif
