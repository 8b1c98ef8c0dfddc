/* sysmem.c - reads MemAvailable and MemTotal from /proc/meminfo (see sysmem.h).
 * Leaves out: caching (each call reads the file; callers poll at most a few times a second).
 */
#include "sysmem.h"

#include <stdio.h>

lt_status lt_sysmem_info(size_t *avail, size_t *total, lt_err *err) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return lt_err_set(err, LT_EIO, "cannot read /proc/meminfo");
    char line[256];
    unsigned long long av = 0, tot = 0;
    int have = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "MemAvailable: %llu kB", &v) == 1) av = v, have |= 1;
        else if (sscanf(line, "MemTotal: %llu kB", &v) == 1) tot = v, have |= 2;
    }
    fclose(f);
    if (have != 3) return lt_err_set(err, LT_EIO, "/proc/meminfo lacks MemAvailable or MemTotal");
    *avail = (size_t)(av * 1024);
    *total = (size_t)(tot * 1024);
    return LT_OK;
}
