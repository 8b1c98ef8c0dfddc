/* fileio.h - the file plumbing every reader and writer shares: read-only mappings with a
 * minimum size, whole small text files, and writes that land atomically (PATH.tmp, fsync,
 * rename) so a failure never leaves a half-written file under the real name. Everything that
 * reads a path checks that it is a regular file first (FIFOs and devices never block a reader).
 */
#ifndef LT_FILEIO_H
#define LT_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "status.h"

/* Opens path for reading only if it is a regular file. A FIFO, device, socket or directory is
 * an LT_EIO error "PATH: not a regular file (a FIFO)" at once - opening never blocks waiting
 * for a writer. */
lt_status lt_file_open_regular(const char *path, int *fd, lt_err *err);
/* The same as a stdio stream ("rb"); NULL with err set on failure. */
FILE *lt_file_fopen_regular(const char *path, lt_err *err);

/* Maps a regular file read-only. Files shorter than min_size are an LT_EFORMAT error
 * "PATH: too small to be KIND (N bytes)". Unmap with lt_file_unmap. */
lt_status lt_file_map(const char *path, size_t min_size, const char *kind, void **map, size_t *size, lt_err *err);
void lt_file_unmap(void *map, size_t size); /* NULL is a no-op */
/* Drops the resident pages of bytes [p, p + n) of a mapping made by lt_file_map, so they stop
 * counting in this process's memory; only the pages wholly inside the range (its page-aligned
 * interior), so a neighbour sharing a boundary page keeps it. The contents stay: the mapping
 * is private and read-only, so a later read faults the pages back in from the file (from the
 * page cache when they are still there). Call it for bytes that were copied elsewhere and will
 * not be read soon. Never for any other memory: on anonymous memory it would zero the pages.
 * A hint: failure (or a system without madvise) changes nothing. */
void lt_file_map_drop(const void *p, size_t n);

/* Reads a whole file (at most max_bytes) into a NUL-terminated lt_malloc'd buffer. */
lt_status lt_file_read_all(const char *path, size_t max_bytes, char **out, size_t *len, lt_err *err);

/* Atomic write: lt_afile_open creates PATH.tmp; write through af->f; lt_afile_close(af, ok)
 * flushes, fsyncs and renames it to PATH when ok (every write succeeded), else removes it
 * and returns LT_EIO naming the file. lt_afile_abort removes it without touching err, for
 * callers that already report their own error. */
typedef struct lt_afile {
    FILE *f;
    char *path, *tmp;
} lt_afile;

lt_status lt_afile_open(lt_afile *af, const char *path, lt_err *err);
lt_status lt_afile_close(lt_afile *af, bool ok, lt_err *err);
void lt_afile_abort(lt_afile *af);

/* Removes the PATH.tmp of every lt_afile now open (async-signal-safe: only unlink), for a
 * signal handler that is about to _exit (a second Ctrl-C) so that no half file stays. */
void lt_afile_unlink_open(void);

#endif
