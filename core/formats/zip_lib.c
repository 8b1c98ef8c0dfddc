/* zip_lib.c - libzip loaded on first use (zip_lib.h). */
#include "zip_lib.h"

#ifndef LT_LIBZIP_SONAME
#define LT_LIBZIP_SONAME "libzip.so.4" /* Debian's libzip4; CMake passes the installed one's */
#endif

lt_zip_fns lt_zip;
static const char *const g_names[] = {LT_ZIP_FNS(LT_DYNLIB_NAME)};
_Static_assert(sizeof(lt_zip_fns) == sizeof g_names / sizeof g_names[0] * sizeof(void *), "one slot per name");
static lt_dynlib g_lib = LT_DYNLIB_INIT("libzip (Debian package libzip4)", LT_LIBZIP_SONAME, g_names, &lt_zip);

lt_status lt_zip_load(lt_err *err) { return lt_dynlib_load(&g_lib, err); }
