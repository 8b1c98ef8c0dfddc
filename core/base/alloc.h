/* alloc.h - host allocation that counts bytes, so meters can show process memory.
 *
 * lt_malloc/lt_calloc/lt_realloc/lt_free behave like their libc twins but keep a running
 * total (thread-safe, relaxed atomics). lt_free(NULL) is a no-op. Large aligned buffers
 * (weight arenas on the CPU backend) use lt_aligned_alloc / lt_aligned_free.
 */
#ifndef LT_ALLOC_H
#define LT_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *lt_malloc(size_t n);
void *lt_calloc(size_t count, size_t size);
void *lt_realloc(void *p, size_t n);
void  lt_free(void *p);
char *lt_strdup(const char *s);

/* 64-byte aligned; size rounded up to a multiple of 64. Blocks of 8 MiB and more are 2 MiB
   aligned and asked for transparent huge pages (the whole 2 MiB pages they fill; the tail
   past the last one stays in small pages). */
void *lt_aligned_alloc(size_t n);
/* The same, with huge pages only when huge_pages is true. A huge page is resident as a whole
   once one byte of it is touched: memory used sparsely (activation scratch sized for the
   largest batch) is better off without them. */
void *lt_aligned_alloc_pages(size_t n, bool huge_pages);
void  lt_aligned_free(void *p);

/* Bytes currently allocated through this module. */
size_t lt_mem_used(void);

#endif
