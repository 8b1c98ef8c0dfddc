/* sysmem.h - the host's physical memory as the kernel reports it (/proc/meminfo), the one
 * place that file is parsed.
 * Leaves out: this process's own usage (core/base/alloc.h counts lathe's allocations),
 * cgroup limits, swap, and systems without /proc (an LT_EIO error there).
 */
#ifndef LT_SYSMEM_H
#define LT_SYSMEM_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

/* Bytes of host RAM available to new allocations without swapping (MemAvailable) and in
 * total (MemTotal). LT_EIO when /proc/meminfo cannot be read or lacks either line; then
 * *avail and *total are left unchanged. */
lt_status lt_sysmem_info(size_t *avail, size_t *total, lt_err *err);

/* The address-space limit this process runs under (ulimit -v / RLIMIT_AS, or RLIMIT_DATA when
 * that is the smaller) and the address space it uses now (VmSize). False when there is no
 * limit: free host memory is then what bounds an allocation. */
bool lt_sysmem_limit(size_t *limit, size_t *used);

#endif
