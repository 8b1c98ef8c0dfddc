/* arena.c - arenas: one backend allocation, tagged with a memory category, carved into
 * 256-byte aligned tensors (weights, per-step scratch) and reset as a whole.
 * Leaves out: freeing single tensors, growing an arena (running out is LT_ENOMEM naming the
 * sizes).
 */
#include "backend_impl.h"

#include "core/base/alloc.h"

#define ARENA_ALIGN 256

struct lt_arena {
    lt_backend *be;
    lt_mem_cat cat;
    char *base;
    size_t size, used;
};

lt_status lt_arena_create(lt_arena **out, lt_backend *be, size_t bytes, lt_mem_cat cat, lt_err *err) {
    *out = NULL;
    lt_arena *a = lt_calloc(1, sizeof *a);
    if (!a) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    a->be = be;
    a->cat = cat;
    a->size = bytes;
    lt_status s = lt_backend_alloc(be, bytes, cat, (void **)&a->base, err);
    if (s != LT_OK) {
        lt_free(a);
        return s;
    }
    *out = a;
    return LT_OK;
}

void lt_arena_free(lt_arena *a) {
    if (!a) return;
    lt_backend_release(a->be, a->base, a->size, a->cat);
    lt_free(a);
}

size_t lt_arena_need(lt_dtype dt, int ndim, const int64_t *shape) {
    lt_tensor t = lt_tensor_make(NULL, dt, NULL, ndim, shape);
    return (lt_tensor_nbytes(&t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

lt_status lt_arena_tensor(lt_arena *a, lt_tensor *out, lt_dtype dt, int ndim, const int64_t *shape,
                          lt_err *err) {
    if (ndim < 1 || ndim > LT_MAX_DIMS) return lt_err_set(err, LT_EINVAL, "tensor with %d dims", ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return lt_err_set(err, LT_EINVAL, "negative dimension");
    if (shape[ndim - 1] % lt_dtype_block(dt))
        return lt_err_set(err, LT_EINVAL, "%s rows of %lld elements are not whole blocks of %d",
                          lt_dtype_name(dt), (long long)shape[ndim - 1], lt_dtype_block(dt));
    size_t need = lt_arena_need(dt, ndim, shape);
    if (need > a->size - a->used) {
        char b1[32], b2[32];
        lt_backend_fmt_bytes(b1, sizeof b1, need);
        lt_backend_fmt_bytes(b2, sizeof b2, a->size - a->used);
        return lt_err_set(err, LT_ENOMEM, "%s arena full: need %s, %s left", lt_mem_cat_name(a->cat), b1, b2);
    }
    *out = lt_tensor_make(a->be, dt, a->base + a->used, ndim, shape);
    a->used += need;
    return LT_OK;
}

void lt_arena_reset(lt_arena *a) { a->used = 0; }
size_t lt_arena_used(const lt_arena *a) { return a->used; }
size_t lt_arena_size(const lt_arena *a) { return a->size; }
