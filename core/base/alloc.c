/* alloc.c - counting allocator. Each block carries a 64-byte header holding its size, so
 * the count stays exact and aligned blocks keep 64-byte alignment.
 * Large aligned blocks (weight arenas, the KV pool) are 2 MiB aligned and, on Linux, marked
 * MADV_HUGEPAGE: with transparent huge pages in "madvise" mode (Debian's default) streaming
 * f16 weights from 2 MiB pages measured 25-30% more bandwidth than from 4 KiB pages on the
 * development VM (fewer TLB misses; docs/PERF.md). */
#include "alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define HDR 64

static atomic_size_t g_used;

static void *wrap(void *raw, size_t n) {
    if (!raw) return NULL;
    *(size_t *)raw = n;
    atomic_fetch_add_explicit(&g_used, n, memory_order_relaxed);
    return (char *)raw + HDR;
}

void *lt_malloc(size_t n) {
    if (n > SIZE_MAX - HDR) return NULL;
    return wrap(malloc(n + HDR), n);
}

void *lt_calloc(size_t count, size_t size) {
    if (size && count > (SIZE_MAX - HDR) / size) return NULL;
    size_t n = count * size;
    return wrap(calloc(1, n + HDR), n);
}

void *lt_realloc(void *p, size_t n) {
    if (!p) return lt_malloc(n);
    if (n > SIZE_MAX - HDR) return NULL;
    char *raw = (char *)p - HDR;
    size_t old = *(size_t *)raw;
    char *nr = realloc(raw, n + HDR);
    if (!nr) return NULL;
    *(size_t *)nr = n;
    atomic_fetch_sub_explicit(&g_used, old, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_used, n, memory_order_relaxed);
    return nr + HDR;
}

void lt_free(void *p) {
    if (!p) return;
    char *raw = (char *)p - HDR;
    atomic_fetch_sub_explicit(&g_used, *(size_t *)raw, memory_order_relaxed);
    free(raw);
}

char *lt_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = lt_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN ((size_t)8 << 20) /* blocks from this size get huge pages */

void *lt_aligned_alloc_pages(size_t n, bool huge_pages) {
    if (n > SIZE_MAX - 2 * HDR - HUGE_PAGE) return NULL;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < HUGE_MIN || !huge_pages) return wrap(aligned_alloc(64, rounded + HDR), rounded);
    size_t total = (rounded + HDR + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *raw = aligned_alloc(HUGE_PAGE, total);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* a hint (failure changes nothing) over the huge pages the block fills: a partly used last
     * one would be resident whole, up to 2 MiB more than the block */
    if (raw) (void)madvise(raw, (rounded + HDR) & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return wrap(raw, rounded);
}

void *lt_aligned_alloc(size_t n) { return lt_aligned_alloc_pages(n, true); }

void lt_aligned_free(void *p) { lt_free(p); }

size_t lt_mem_used(void) { return atomic_load_explicit(&g_used, memory_order_relaxed); }
