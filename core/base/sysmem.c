/* sysmem.c - reads MemAvailable and MemTotal from /proc/meminfo, VmRSS and VmHWM from
 * /proc/self/status (see sysmem.h).
 * Leaves out: caching (each call reads the file; callers poll at most a few times a second).
 */
#include "sysmem.h"

#include <sys/resource.h>
#include <unistd.h>

#include <stdio.h>
#include <string.h>

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

bool lt_sysmem_limit(size_t *limit, size_t *used) {
    struct rlimit as, data;
    bool has_as = getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY;
    bool has_data = getrlimit(RLIMIT_DATA, &data) == 0 && data.rlim_cur != RLIM_INFINITY;
    if (!has_as && !has_data) return false;
    rlim_t l = has_as ? as.rlim_cur : data.rlim_cur;
    if (has_as && has_data && data.rlim_cur < l) l = data.rlim_cur;
    *limit = (size_t)l;
    *used = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages;
    if (f && fscanf(f, "%lu", &pages) == 1) *used = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
    if (f) fclose(f);
    return true;
}

/* The "KEY: N kB" line of /proc/self/status in bytes, 0 when absent or unreadable. */
static size_t status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t klen = strlen(key), out = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (!strncmp(line, key, klen) && line[klen] == ':' && sscanf(line + klen + 1, "%llu kB", &v) == 1) {
            out = (size_t)v * 1024;
            break;
        }
    }
    fclose(f);
    return out;
}

size_t lt_sysmem_rss(void) { return status_kb("VmRSS"); }

size_t lt_sysmem_peak_rss(void) {
    size_t hwm = status_kb("VmHWM");
    if (hwm) return hwm;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0) return (size_t)ru.ru_maxrss * 1024; /* KiB on Linux */
    return 0;
}
