/* mhd_lib.h - GNU libmicrohttpd, opened when `lathe serve` starts a server.
 *
 * server.c calls libmicrohttpd through lt_mhd's table (lt_mhd.MHD_start_daemon(...)): Debian's
 * build links GnuTLS (with p11-kit, nettle, gmp, libtasn1, libidn2, libunistring), ~2.5 MiB
 * resident and a library constructor in every process that links it, though lathe serves
 * plain HTTP only (core/base/dynlib.h).
 */
#ifndef LT_MHD_LIB_H
#define LT_MHD_LIB_H

#include <microhttpd.h>

#include "core/base/dynlib.h"

#define LT_MHD_FNS(X) \
    X(MHD_add_response_header) \
    X(MHD_create_response_from_buffer) \
    X(MHD_create_response_from_callback) \
    X(MHD_destroy_response) \
    X(MHD_get_connection_info) \
    X(MHD_get_daemon_info) \
    X(MHD_lookup_connection_value) \
    X(MHD_queue_response) \
    X(MHD_start_daemon) \
    X(MHD_stop_daemon)

typedef struct lt_mhd_fns {
    LT_MHD_FNS(LT_DYNLIB_MEMBER)
} lt_mhd_fns;

extern lt_mhd_fns lt_mhd;

/* Loads libmicrohttpd once; LT_EUNSUPPORTED with the reason when it cannot. */
lt_status lt_mhd_load(lt_err *err);

#endif
