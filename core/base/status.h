/* status.h - error values and invariant checks shared by every lathe module.
 *
 * Two channels (STYLE P2): recoverable failures (bad file, out of memory, device error,
 * bad argument) return an lt_status and fill an lt_err with a message a user can act on;
 * broken invariants (programming errors) abort with file:line through LT_ASSERT.
 * Library code never prints and never exits.
 */
#ifndef LT_STATUS_H
#define LT_STATUS_H

#include <stddef.h>

typedef enum lt_status {
    LT_OK = 0,
    LT_EINVAL,       /* bad argument from the caller (wrong shape, unknown option) */
    LT_EFORMAT,      /* malformed or inconsistent file contents */
    LT_EIO,          /* open/read/write/mmap failed */
    LT_ENOMEM,       /* host or device allocation failed, or a pool is exhausted */
    LT_EDEVICE,      /* CUDA / cuBLAS / driver error */
    LT_EUNSUPPORTED, /* valid input that this build cannot handle (dtype, architecture) */
    LT_ENOTFOUND,    /* a named thing (tensor, key, command, file) does not exist */
    LT_ECANCELLED,   /* the caller asked to stop */
    LT_ERANGE,       /* a value is outside what is allowed (context length, index) */
} lt_status;

#define LT_ERR_MSG_MAX 512

typedef struct lt_err {
    lt_status code;
    char msg[LT_ERR_MSG_MAX];
} lt_err;

/* Fills *err (if not NULL) with code and a printf-style message; returns code.
 * Typical use: return lt_err_set(err, LT_EFORMAT, "%s: bad magic", path); */
lt_status lt_err_set(lt_err *err, lt_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an already-set message (to add context while unwinding). */
lt_status lt_err_prefix(lt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets *err to LT_OK with an empty message. */
void lt_err_clear(lt_err *err);

/* A short name for a status ("format error", "out of memory", ...). */
const char *lt_status_str(lt_status s);

/* Aborts with file:line and the message. For broken invariants only. */
void lt_abort(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define LT_ASSERT(cond)                                                                  \
    do {                                                                                 \
        if (!(cond)) lt_abort(__FILE__, __LINE__, "assertion failed: %s", #cond);        \
    } while (0)

/* Propagates a non-OK status from an expression that filled err. */
#define LT_TRY(expr)                                                                     \
    do {                                                                                 \
        lt_status s_ = (expr);                                                           \
        if (s_ != LT_OK) return s_;                                                      \
    } while (0)

#endif
