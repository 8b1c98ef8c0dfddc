/* fileio.c - see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

static const char *kind_of(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

lt_status lt_file_open_regular(const char *path, int *fd_out, lt_err *err) {
    *fd_out = -1;
    struct stat pre; /* devices are never opened (opening some has side effects) */
    if (stat(path, &pre) == 0 && !S_ISREG(pre.st_mode))
        return lt_err_set(err, LT_EIO, "%s: not a regular file (%s)", path, kind_of(pre.st_mode));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO without a writer would block */
    if (fd < 0) return lt_err_set(err, LT_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        lt_status st = lt_err_set(err, LT_EIO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return lt_err_set(err, LT_EIO, "%s: not a regular file (%s)", path, kind_of(sb.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    return LT_OK;
}

FILE *lt_file_fopen_regular(const char *path, lt_err *err) {
    int fd;
    if (lt_file_open_regular(path, &fd, err) != LT_OK) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        lt_err_set(err, LT_EIO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

lt_status lt_file_map(const char *path, size_t min_size, const char *kind, void **map, size_t *size, lt_err *err) {
    *map = NULL;
    *size = 0;
    int fd;
    LT_TRY(lt_file_open_regular(path, &fd, err));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return lt_err_set(err, LT_EIO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if ((size_t)sb.st_size < min_size || sb.st_size == 0) {
        close(fd);
        return lt_err_set(err, LT_EFORMAT, "%s: too small to be %s (%lld bytes)", path, kind, (long long)sb.st_size);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return lt_err_set(err, LT_EIO, "%s: mmap failed: %s", path, strerror(errno));
    *map = m;
    *size = (size_t)sb.st_size;
    return LT_OK;
}

void lt_file_unmap(void *map, size_t size) {
    if (map) munmap(map, size);
}

void lt_file_map_drop(const void *p, size_t n) {
    long ps = sysconf(_SC_PAGESIZE);
    size_t page = ps > 0 ? (size_t)ps : 4096;
    uintptr_t a = (uintptr_t)p, lo = (a + page - 1) & ~(uintptr_t)(page - 1), hi = (a + n) & ~(uintptr_t)(page - 1);
    /* MADV_DONTNEED on a private file mapping that was never written: the pages leave the
     * process and come back from the file on the next read (MADV_PAGEOUT would also push
     * them out of the page cache, and MADV_COLD only marks them for reclaim later) */
    if (p && hi > lo) (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

lt_status lt_file_read_all(const char *path, size_t max_bytes, char **out, size_t *len, lt_err *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *f = lt_file_fopen_regular(path, err);
    if (!f) return err->code;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    lt_status st = LT_OK;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max_bytes) {
                st = lt_err_set(err, LT_EFORMAT, "%s: larger than %zu bytes", path, max_bytes);
                break;
            }
            cap = cap ? cap * 2 : 4096;
            char *nb = lt_realloc(buf, cap);
            if (!nb) {
                st = lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) st = lt_err_set(err, LT_EIO, "%s: read failed", path);
            break;
        }
    }
    fclose(f);
    if (st == LT_OK && n > max_bytes) st = lt_err_set(err, LT_EFORMAT, "%s: larger than %zu bytes", path, max_bytes);
    if (st != LT_OK) {
        lt_free(buf);
        return st;
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return LT_OK;
}

/* The temporary files now open, for lt_afile_unlink_open: a slot holds af->tmp from the
 * fopen until the file was renamed or removed (cleared after that, so a signal in between
 * only unlinks a name that is gone). More than LT_AFILE_SLOTS at once: the rest are not
 * listed (a second Ctrl-C may then leave them). */
enum { LT_AFILE_SLOTS = 16 };
static _Atomic(char *) g_open_tmp[LT_AFILE_SLOTS];

static void tmp_list(char *tmp) {
    for (int i = 0; i < LT_AFILE_SLOTS; i++) {
        char *none = NULL;
        if (atomic_compare_exchange_strong(&g_open_tmp[i], &none, tmp)) return;
    }
}

static void tmp_unlist(char *tmp) {
    for (int i = 0; i < LT_AFILE_SLOTS; i++) {
        char *want = tmp;
        if (atomic_compare_exchange_strong(&g_open_tmp[i], &want, NULL)) return;
    }
}

void lt_afile_unlink_open(void) {
    for (int i = 0; i < LT_AFILE_SLOTS; i++) {
        char *t = atomic_load(&g_open_tmp[i]);
        if (t) unlink(t);
    }
}

lt_status lt_afile_open(lt_afile *af, const char *path, lt_err *err) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    af->path = lt_strdup(path);
    af->tmp = lt_malloc(n + 5);
    if (!af->path || !af->tmp) {
        lt_free(af->path);
        lt_free(af->tmp);
        return lt_err_set(err, LT_ENOMEM, "%s: out of memory", path);
    }
    memcpy(af->tmp, path, n);
    memcpy(af->tmp + n, ".tmp", 5);
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        lt_status s = lt_err_set(err, LT_EIO, "%s: cannot create: %s", af->tmp, strerror(errno));
        lt_free(af->path);
        lt_free(af->tmp);
        memset(af, 0, sizeof *af);
        return s;
    }
    tmp_list(af->tmp);
    return LT_OK;
}

lt_status lt_afile_close(lt_afile *af, bool ok, lt_err *err) {
    if (!af->f) return lt_err_set(err, LT_EINVAL, "file was not open");
    bool wrote = ok && !ferror(af->f) && fflush(af->f) == 0 && fsync(fileno(af->f)) == 0;
    int saved = errno;
    if (fclose(af->f) != 0) wrote = false;
    af->f = NULL;
    lt_status s = LT_OK;
    if (!wrote) {
        unlink(af->tmp);
        s = lt_err_set(err, LT_EIO, "%s: write failed: %s", af->tmp, strerror(saved ? saved : EIO));
    } else if (rename(af->tmp, af->path) != 0) {
        s = lt_err_set(err, LT_EIO, "%s: cannot rename to %s: %s", af->tmp, af->path, strerror(errno));
        unlink(af->tmp);
    }
    tmp_unlist(af->tmp);
    lt_free(af->path);
    lt_free(af->tmp);
    af->path = af->tmp = NULL;
    return s;
}

void lt_afile_abort(lt_afile *af) {
    if (!af->f) return;
    fclose(af->f);
    af->f = NULL;
    unlink(af->tmp);
    tmp_unlist(af->tmp);
    lt_free(af->path);
    lt_free(af->tmp);
    af->path = af->tmp = NULL;
}
