/* fuzz_common.h - what every libFuzzer target in tests/fuzz/ shares: a private scratch folder
 * (the readers take paths, libFuzzer gives bytes), writing an input there, splitting one input
 * into two files at its first NUL byte, and the check that lathe's own allocator is back where
 * it started after each input (LeakSanitizer checks malloc; this checks lt_malloc's books).
 *
 * The folder is $LATHE_FUZZ_TMP (tests/fuzz/run.sh sets it and removes it), else /dev/shm
 * (no disk writes), else $TMPDIR or /tmp; each process makes its own lathe-fuzz-XXXXXX inside
 * and removes it at exit (a crashing process leaves it for the post-mortem).
 */
#ifndef LT_FUZZ_COMMON_H
#define LT_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/alloc.h"

static char fz_dir_buf[512];

static inline int fz_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static inline void fz_cleanup(void) {
    if (fz_dir_buf[0]) nftw(fz_dir_buf, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The process's scratch folder (created on first use). */
static inline const char *fz_dir(void) {
    if (fz_dir_buf[0]) return fz_dir_buf;
    const char *base = getenv("LATHE_FUZZ_TMP");
    struct stat st;
    if (!base || !base[0]) base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
                                      ? "/dev/shm"
                                      : getenv("TMPDIR");
    if (!base || !base[0]) base = "/tmp";
    snprintf(fz_dir_buf, sizeof fz_dir_buf, "%s/lathe-fuzz-XXXXXX", base);
    if (!mkdtemp(fz_dir_buf)) {
        perror(fz_dir_buf);
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir_buf;
}

/* Path of name inside the scratch folder (one of 4 rotating buffers). */
static inline const char *fz_path(const char *name) {
    static char buf[4][640];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", fz_dir(), name);
    return b;
}

/* Writes n bytes to name in the scratch folder and returns its path. */
static inline const char *fz_write(const char *name, const uint8_t *d, size_t n) {
    const char *p = fz_path(name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        abort();
    }
    if (n && fwrite(d, 1, n, f) != n) {
        perror(p);
        abort();
    }
    fclose(f);
    return p;
}

static inline void fz_unlink(const char *name) { unlink(fz_path(name)); }

/* Runs the caller inside the scratch folder until fz_leave (targets whose commands take
 * relative paths: nothing they name can be outside it). */
static char fz_home[4096];

static inline void fz_enter(void) {
    if (!fz_home[0] && !getcwd(fz_home, sizeof fz_home)) {
        perror("getcwd");
        abort();
    }
    if (chdir(fz_dir()) != 0) {
        perror(fz_dir());
        abort();
    }
}

static inline void fz_leave(void) {
    if (chdir(fz_home) != 0) {
        perror(fz_home);
        abort();
    }
}

/* Splits data at its first NUL: [0, *n_a) before it, the rest after it (b NULL when there
 * is no NUL: the whole input is the first part). */
static inline void fz_split(const uint8_t *d, size_t n, size_t *n_a, const uint8_t **b, size_t *n_b) {
    const uint8_t *z = memchr(d, 0, n);
    if (!z) {
        *n_a = n, *b = NULL, *n_b = 0;
        return;
    }
    *n_a = (size_t)(z - d);
    *b = z + 1;
    *n_b = n - *n_a - 1;
}

/* Aborts (libFuzzer reports a crash and saves the input) when lt_mem_used() is not `before`:
 * something allocated through lt_malloc was not given back. */
static inline void fz_check_mem(size_t before, const char *what) {
    size_t now = lt_mem_used();
    if (now != before) {
        fprintf(stderr, "fuzz: %s: lt_mem_used %zu -> %zu (%+lld bytes not freed)\n", what, before, now,
                (long long)now - (long long)before);
        abort();
    }
}

/* Something the compiler cannot drop: readers' outputs are read through it, so ASan sees
 * every byte a reader says is valid. */
static volatile uint8_t fz_sink;

static inline void fz_touch(const void *p, size_t n) {
    const uint8_t *b = p;
    if (!n) return;
    fz_sink ^= b[0] ^ b[n / 2] ^ b[n - 1];
}

/* LATHE_FUZZ_VERBOSE=1: every reader's verdict on stderr (what a seed or a crash input does). */
static inline int fz_verbose(void) {
    static int v = -1;
    if (v < 0) v = getenv("LATHE_FUZZ_VERBOSE") && atoi(getenv("LATHE_FUZZ_VERBOSE")) > 0;
    return v;
}

/* A reader's contract: OK, or an error with a message. */
#define FZ_EXPECT_MSG(st, err, what)                                                                 \
    do {                                                                                             \
        if ((st) != LT_OK && !(err).msg[0]) {                                                        \
            fprintf(stderr, "fuzz: %s: status %d with an empty message\n", (what), (int)(st));       \
            abort();                                                                                 \
        }                                                                                            \
        if (fz_verbose()) fprintf(stderr, "  %s: %s\n", (what), (st) == LT_OK ? "ok" : (err).msg);  \
    } while (0)

#endif
