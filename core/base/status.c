/* status.c - lt_err helpers. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lt_status lt_err_set(lt_err *err, lt_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

lt_status lt_err_prefix(lt_err *err, const char *fmt, ...) {
    if (!err) return LT_OK;
    char pre[LT_ERR_MSG_MAX], old[LT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(pre);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, pre, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = sizeof err->msg - n - 2;
    size_t ol = strlen(old);
    if (ol >= rest) ol = rest - 1;
    memcpy(err->msg + n + 2, old, ol);
    err->msg[n + 2 + ol] = 0;
    return err->code;
}

void lt_err_clear(lt_err *err) {
    if (!err) return;
    err->code = LT_OK;
    err->msg[0] = 0;
}

const char *lt_status_str(lt_status s) {
    switch (s) {
    case LT_OK: return "ok";
    case LT_EINVAL: return "invalid argument";
    case LT_EFORMAT: return "format error";
    case LT_EIO: return "i/o error";
    case LT_ENOMEM: return "out of memory";
    case LT_EDEVICE: return "device error";
    case LT_EUNSUPPORTED: return "unsupported";
    case LT_ENOTFOUND: return "not found";
    case LT_ECANCELLED: return "cancelled";
    case LT_ERANGE: return "out of range";
    }
    return "unknown status";
}

void lt_abort(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lathe: %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}
