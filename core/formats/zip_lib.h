/* zip_lib.h - libzip, opened the first time a torch.save archive is read or written.
 *
 * torchpt.c calls libzip through lt_zip's table (lt_zip.zip_open(...)): libzip pulls
 * OpenSSL's libcrypto into the process, ~1.5 MiB resident that a run without .pt files never
 * needs (core/base/dynlib.h). The prototypes are <zip.h>'s own.
 */
#ifndef LT_ZIP_LIB_H
#define LT_ZIP_LIB_H

#include <zip.h>

#include "core/base/dynlib.h"

#define LT_ZIP_FNS(X) \
    X(zip_close) \
    X(zip_discard) \
    X(zip_error_fini) \
    X(zip_error_init) \
    X(zip_error_init_with_code) \
    X(zip_error_set) \
    X(zip_error_strerror) \
    X(zip_error_to_data) \
    X(zip_fclose) \
    X(zip_file_add) \
    X(zip_file_extra_field_set) \
    X(zip_file_set_dostime) \
    X(zip_fopen_index) \
    X(zip_fread) \
    X(zip_get_name) \
    X(zip_get_num_entries) \
    X(zip_name_locate) \
    X(zip_open) \
    X(zip_open_from_source) \
    X(zip_set_file_compression) \
    X(zip_source_buffer) \
    X(zip_source_free) \
    X(zip_source_function_create) \
    X(zip_source_make_command_bitmap) \
    X(zip_source_seek_compute_offset) \
    X(zip_stat_index) \
    X(zip_stat_init) \
    X(zip_strerror)

typedef struct lt_zip_fns {
    LT_ZIP_FNS(LT_DYNLIB_MEMBER)
} lt_zip_fns;

extern lt_zip_fns lt_zip;

/* Loads libzip once; LT_EUNSUPPORTED with the reason when it cannot. */
lt_status lt_zip_load(lt_err *err);

#endif
