/* mhd_lib.c - libmicrohttpd loaded on first use (mhd_lib.h). */
#include "mhd_lib.h"

#ifndef LT_MHD_SONAME
#define LT_MHD_SONAME "libmicrohttpd.so.12" /* Debian's libmicrohttpd12; CMake passes the installed one's */
#endif

lt_mhd_fns lt_mhd;
static const char *const g_names[] = {LT_MHD_FNS(LT_DYNLIB_NAME)};
_Static_assert(sizeof(lt_mhd_fns) == sizeof g_names / sizeof g_names[0] * sizeof(void *), "one slot per name");
static lt_dynlib g_lib = LT_DYNLIB_INIT("libmicrohttpd (Debian package libmicrohttpd12)", LT_MHD_SONAME, g_names,
                                        &lt_mhd);

lt_status lt_mhd_load(lt_err *err) { return lt_dynlib_load(&g_lib, err); }
