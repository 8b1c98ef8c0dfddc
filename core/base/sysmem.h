/* sysmem.h - the host's physical memory as the kernel reports it (/proc/meminfo), and this
 * process's resident set (/proc/self/status): the one place those files are parsed.
 * Leaves out: the bytes lathe allocated itself (core/base/alloc.h counts those), cgroup
 * limits, swap, and systems without /proc (an LT_EIO error or 0 there, as each says).
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

/* This process's resident set now (VmRSS) and its peak so far (VmHWM), in bytes: anonymous
 * memory plus the mapped file pages it has touched and still maps. 0 when /proc/self/status
 * cannot be read; the peak then falls back to getrusage's ru_maxrss. */
size_t lt_sysmem_rss(void);
size_t lt_sysmem_peak_rss(void);

#endif
