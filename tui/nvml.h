/* nvml.h - GPU utilisation and memory through NVML, loaded at run time with
 * dlopen("libnvidia-ml.so.1") so the binary never depends on it. Absence is normal
 * (no driver, no GPU): lt_nvml_open returns NULL. */
#ifndef LT_TUI_NVML_H
#define LT_TUI_NVML_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lt_nvml lt_nvml;

/* NULL when NVML or a device is not available. */
lt_nvml *lt_nvml_open(int device);
void lt_nvml_close(lt_nvml *n); /* NULL is a no-op */

/* Utilisation in percent and memory in bytes; false when the query fails. */
bool lt_nvml_query(lt_nvml *n, double *util, size_t *mem_used, size_t *mem_total);
const char *lt_nvml_name(const lt_nvml *n);

#endif
