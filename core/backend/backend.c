/* backend.c - the backend registry (lt_backend_create by name from one table of backends),
 * the backend object's accessors, memory accounting per category, sync, and host <-> device
 * transfers. Transfers, syncs and allocations are refused while ops are being captured.
 * Leaves out: the op wrappers (ops.c), arenas (arena.c), op capture (capture.c), and every
 * device-specific detail (kernels/cpu/backend_cpu.c, kernels/cuda/backend_cuda.cu).
 */
#include "backend_impl.h"
#include "core/base/sysmem.h"
#include "module.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


/* ---- the registry ----------------------------------------------------------------------
 * One row per backend, in the order error messages list them. "auto" takes the available
 * row with the highest auto_rank; a name other than "auto" asks only its own row, so "cpu"
 * never loads the CUDA module. A new backend is one more row here; a backend built as a
 * module (CUDA: liblathe-cuda.so, module.c) answers available() by loading it. */

typedef struct backend_row {
    const char *name;
    /* usable on this machine; if not, why ("device NAME: <why>") */
    bool (*available)(char *why, size_t cap);
    lt_status (*create)(lt_backend **out, const lt_backend_opts *opts, lt_err *err);
    int auto_rank;
    /* (optional) whether "auto" should try this row at all: a cheap check that spares a CPU-only
     * machine the cost of loading a module (NULL: always try) */
    bool (*auto_worth)(void);
} backend_row;

static bool always(char *why, size_t cap) { return true; }

static const backend_row k_backends[] = {
    {.name = "cpu", .available = always, .create = lt_backend_cpu_create, .auto_rank = 0},
    {.name = "cuda", .available = lt_cuda_module_usable, .create = lt_cuda_module_create, .auto_rank = 1,
     .auto_worth = lt_cuda_driver_present},
};
#define N_BACKENDS (int)(sizeof k_backends / sizeof k_backends[0])

/* The available row "auto" stands for: the highest rank that is available. */
static const backend_row *auto_row(void) {
    const backend_row *best = NULL;
    for (int i = 0; i < N_BACKENDS; i++)
        if ((!best || k_backends[i].auto_rank > best->auto_rank) &&
            (!k_backends[i].auto_worth || k_backends[i].auto_worth()) && k_backends[i].available(NULL, 0))
            best = &k_backends[i];
    return best;
}

lt_status lt_backend_create(lt_backend **out, const char *name, const lt_backend_opts *opts, lt_err *err) {
    lt_backend_opts def = {0};
    if (!opts) opts = &def;
    *out = NULL;
    const backend_row *row = NULL;
    if (!name || !strcmp(name, "auto")) {
        row = auto_row();
        if (!row) return lt_err_set(err, LT_EUNSUPPORTED, "device auto: no backend is available");
    }
    for (int i = 0; !row && i < N_BACKENDS; i++)
        if (!strcmp(name, k_backends[i].name)) row = &k_backends[i];
    if (!row) {
        char names[256] = "";
        for (int i = 0; i < N_BACKENDS; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", k_backends[i].name);
        return lt_err_set(err, LT_EINVAL, "unknown device '%s' (expected %s or auto)", name, names);
    }
    char why[LT_ERR_MSG_MAX] = "";
    if (!row->available(why, sizeof why)) return lt_err_set(err, LT_EUNSUPPORTED, "device %s: %s", row->name, why);
    return row->create(out, opts, err);
}

void lt_backend_free(lt_backend *be) {
    if (be) be->ops->destroy(be);
}

const char *lt_backend_name(const lt_backend *be) { return be->ops->name; }

lt_dtype lt_backend_matrix_dtype(const lt_backend *be, lt_dtype dt, int64_t rows, int64_t cols) {
    return be && be->ops->matrix_dtype ? be->ops->matrix_dtype(be, dt, rows, cols) : dt;
}
const char *lt_backend_device(const lt_backend *be) { return be->device; }
bool lt_backend_is_host(const lt_backend *be) { return be->ops->is_host; }
int lt_backend_threads(const lt_backend *be) { return be->n_threads; }

/* ---- memory ----------------------------------------------------------------------------- */

lt_status lt_backend_mem_info(lt_backend *be, size_t *free_b, size_t *total_b, lt_err *err) {
    return be->ops->mem_info(be, free_b, total_b, err);
}

size_t lt_backend_mem_used(const lt_backend *be, lt_mem_cat cat) { return be->used[cat]; }

void lt_backend_fmt_bytes(char *buf, size_t n, size_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.1f MiB", b / 1048576.0);
    else snprintf(buf, n, "%zu B", b);
}

const char *lt_mem_cat_name(lt_mem_cat c) {
    static const char *const n[] = {"weights", "KV cache", "scratch", "other"};
    return n[c];
}

/* Host allocations by backend and category, for lt_backend_mem_resident (a process-wide
 * list: allocations are few - a model's tensors, KV pools, arenas - and counted rarely). */
typedef struct host_alloc {
    const lt_backend *be;
    void *p;
    size_t n;
    lt_mem_cat cat;
} host_alloc;
static pthread_mutex_t g_host_mu = PTHREAD_MUTEX_INITIALIZER;
static host_alloc *g_host;
static size_t g_host_n, g_host_cap;

static void host_track(const lt_backend *be, void *p, size_t n, lt_mem_cat cat) {
    pthread_mutex_lock(&g_host_mu);
    if (g_host_n == g_host_cap) {
        size_t cap = g_host_cap ? 2 * g_host_cap : 64;
        host_alloc *t = realloc(g_host, cap * sizeof *t); /* libc's: outside lathe's byte count */
        if (t) g_host = t, g_host_cap = cap;
    }
    if (g_host_n < g_host_cap) g_host[g_host_n++] = (host_alloc){be, p, n, cat}; /* else: uncounted */
    pthread_mutex_unlock(&g_host_mu);
}

static void host_untrack(void *p) {
    pthread_mutex_lock(&g_host_mu);
    for (size_t i = g_host_n; i-- > 0;)
        if (g_host[i].p == p) {
            g_host[i] = g_host[--g_host_n];
            break;
        }
    if (!g_host_n) {
        free(g_host);
        g_host = NULL, g_host_cap = 0;
    }
    pthread_mutex_unlock(&g_host_mu);
}

lt_status lt_backend_alloc(lt_backend *be, size_t bytes, lt_mem_cat cat, void **out, lt_err *err) {
    *out = NULL;
    LT_TRY(lt_backend_no_capture(be, "alloc", err));
    if (bytes == 0) bytes = 1;
    lt_status s = be->ops->alloc(be, bytes, cat, out, err);
    if (s != LT_OK) {
        size_t fr = 0, tot = 0;
        char need[32], have[32];
        lt_err e2;
        lt_backend_fmt_bytes(need, sizeof need, bytes);
        size_t lim, used;
        if (be->ops->is_host && lt_sysmem_limit(&lim, &used)) { /* the limit, not free RAM, is what ran out */
            char l[32], u[32];
            lt_backend_fmt_bytes(l, sizeof l, lim);
            lt_backend_fmt_bytes(u, sizeof u, used);
            return lt_err_set(err, LT_ENOMEM, "%s: cannot allocate %s for %s (the process is limited to %s of address "
                              "space by ulimit, %s in use)", be->device, need, lt_mem_cat_name(cat), l, u);
        }
        if (be->ops->mem_info(be, &fr, &tot, &e2) == LT_OK) lt_backend_fmt_bytes(have, sizeof have, fr);
        else snprintf(have, sizeof have, "unknown");
        return lt_err_set(err, LT_ENOMEM, "%s: cannot allocate %s for %s (%s free)", be->device, need,
                          lt_mem_cat_name(cat), have);
    }
    be->used[cat] += bytes;
    if (be->ops->is_host) host_track(be, *out, bytes, cat);
    return LT_OK;
}

void lt_backend_release(lt_backend *be, void *ptr, size_t bytes, lt_mem_cat cat) {
    if (!ptr) return;
    if (bytes == 0) bytes = 1;
    if (be->ops->is_host) host_untrack(ptr);
    be->ops->release(be, ptr);
    be->used[cat] -= bytes;
}

size_t lt_backend_mem_resident(const lt_backend *be, lt_mem_cat cat) {
    if (!be->ops->is_host) return 0;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), sum = 0;
    unsigned char vec[256];
    pthread_mutex_lock(&g_host_mu);
    for (size_t i = 0; i < g_host_n; i++) {
        const host_alloc *h = &g_host[i];
        if (h->be != be || h->cat != cat) continue;
        uintptr_t lo = (uintptr_t)h->p & ~(uintptr_t)(pg - 1), hi = (uintptr_t)h->p + h->n;
        for (uintptr_t a = lo; a < hi; a += sizeof vec * pg) {
            size_t len = hi - a < sizeof vec * pg ? hi - a : sizeof vec * pg;
            if (mincore((void *)a, len, vec) != 0) break; /* not mapped: nothing more to count */
            for (size_t k = 0; k < (len + pg - 1) / pg; k++)
                if (vec[k] & 1) sum += pg;
        }
    }
    pthread_mutex_unlock(&g_host_mu);
    return sum;
}

lt_status lt_backend_sync(lt_backend *be, lt_err *err) {
    LT_TRY(lt_backend_no_capture(be, "sync", err));
    return be->ops->sync ? be->ops->sync(be, err) : LT_OK;
}

/* ---- transfers -------------------------------------------------------------------------- */

lt_status lt_tensor_set(lt_tensor *t, const void *host, size_t bytes, lt_err *err) {
    if (bytes != lt_tensor_nbytes(t))
        return lt_err_set(err, LT_EINVAL, "tensor set: %zu bytes given, tensor holds %zu", bytes,
                          lt_tensor_nbytes(t));
    LT_TRY(lt_backend_no_capture(t->be, "tensor set", err));
    if (t->be->ops->set_tensor) return t->be->ops->set_tensor(t->be, t, host, err);
    return t->be->ops->set(t->be, t->data, host, bytes, err);
}

lt_status lt_tensor_get(const lt_tensor *t, void *host, size_t bytes, lt_err *err) {
    if (bytes != lt_tensor_nbytes(t))
        return lt_err_set(err, LT_EINVAL, "tensor get: %zu bytes asked, tensor holds %zu", bytes,
                          lt_tensor_nbytes(t));
    LT_TRY(lt_backend_sync(t->be, err)); /* also refuses while capturing */
    return t->be->ops->get(t->be, host, t->data, bytes, err);
}

lt_status lt_tensor_set_range(lt_tensor *t, size_t offset, const void *host, size_t bytes, lt_err *err) {
    if (offset > lt_tensor_nbytes(t) || bytes > lt_tensor_nbytes(t) - offset)
        return lt_err_set(err, LT_ERANGE, "tensor set: range %zu+%zu outside %zu bytes", offset, bytes,
                          lt_tensor_nbytes(t));
    LT_TRY(lt_backend_no_capture(t->be, "tensor set", err));
    return t->be->ops->set(t->be, (char *)t->data + offset, host, bytes, err);
}

lt_status lt_tensor_get_range(const lt_tensor *t, size_t offset, void *host, size_t bytes, lt_err *err) {
    if (offset > lt_tensor_nbytes(t) || bytes > lt_tensor_nbytes(t) - offset)
        return lt_err_set(err, LT_ERANGE, "tensor get: range %zu+%zu outside %zu bytes", offset, bytes,
                          lt_tensor_nbytes(t));
    LT_TRY(lt_backend_sync(t->be, err)); /* also refuses while capturing */
    return t->be->ops->get(t->be, host, (const char *)t->data + offset, bytes, err);
}

lt_status lt_tensor_copy_range(lt_tensor *dst, size_t dst_off, const lt_tensor *src, size_t src_off,
                               size_t bytes, lt_err *err) {
    if (dst->be != src->be) return lt_err_set(err, LT_EINVAL, "tensor copy: different backends");
    if (dst_off > lt_tensor_nbytes(dst) || bytes > lt_tensor_nbytes(dst) - dst_off ||
        src_off > lt_tensor_nbytes(src) || bytes > lt_tensor_nbytes(src) - src_off)
        return lt_err_set(err, LT_ERANGE, "tensor copy: range outside tensor");
    return dst->be->ops->copy(dst->be, (char *)dst->data + dst_off, (const char *)src->data + src_off,
                              bytes, err);
}
