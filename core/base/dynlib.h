/* dynlib.h - a shared library loaded the first time it is needed, its functions in a table.
 *
 * lathe links at start-up only what every run uses. A library that one command needs
 * (libzip for torch.save archives, libmicrohttpd for `lathe serve`) is opened with dlopen on
 * first use instead: linked the usual way, libmicrohttpd brings GnuTLS and libzip brings
 * OpenSSL's libcrypto, ~4 MiB resident in every process (a tenth of a small model's weights)
 * and their constructors run before main(). The library's own header still gives every
 * prototype: the caller declares its table with __typeof__ of each function, so a changed
 * prototype is a compile error as with direct linking.
 *
 * Typical use (see core/formats/zip_lib.c):
 *     #define FNS(X) X(zip_open) X(zip_close)
 *     struct zip_fns { FNS(LT_DYNLIB_MEMBER) } lt_zip;
 *     static const char *const names[] = { FNS(LT_DYNLIB_NAME) };
 *     static lt_dynlib lib = LT_DYNLIB_INIT("libzip", LT_LIBZIP_SONAME, names, &lt_zip);
 *     if (lt_dynlib_load(&lib, err) != LT_OK) return ...;  then lt_zip.zip_open(...)
 */
#ifndef LT_DYNLIB_H
#define LT_DYNLIB_H

#include <pthread.h>
#include <stddef.h>

#include "core/base/status.h"

#define LT_DYNLIB_MEMBER(f) __typeof__(f) *f;
#define LT_DYNLIB_NAME(f) #f,

typedef struct lt_dynlib {
    const char *what;          /* the library's name for messages ("libzip") */
    const char *soname;        /* dlopen's argument ("libzip.so.4") */
    const char *const *names;  /* the symbols, in the order of the table's members */
    size_t n;                  /* how many */
    void *table;               /* a struct of n function pointers, filled on success */
    pthread_once_t once;
    lt_status st;
    char msg[200];
} lt_dynlib;

#define LT_DYNLIB_INIT(what, soname, names, table) \
    {(what), (soname), (names), sizeof(names) / sizeof(names)[0], (table), PTHREAD_ONCE_INIT, LT_OK, {0}}

/* Opens the library and resolves every symbol the first time (thread-safe); later calls
 * return the first call's result. Fails with LT_EUNSUPPORTED naming the library, the file
 * and the package-level reason (dlerror). The table is left all NULL on failure. */
lt_status lt_dynlib_load(lt_dynlib *lib, lt_err *err);

#endif
