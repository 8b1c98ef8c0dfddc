/* backend_impl.h - the op table a backend fills, the object head every backend embeds, and
 * the few helpers the files of core/backend share. Included only by backend implementations
 * (kernels/cpu/backend_cpu.c, kernels/cuda/backend_cuda.cu), the files of core/backend and
 * tests that build a backend; model code sees core/backend/backend.h.
 *
 * Every op slot receives arguments already validated by its lt_op_* wrapper in
 * core/backend/ops.c (dtypes, shapes, same backend), so implementations only compute.
 * Slots marked "(optional)" may be NULL; the comment says what NULL means. The others must
 * be set. Both tables fill the slots by label (.matmul = ...).
 * Leaves out: how a backend is chosen (the registry table in core/backend/backend.c).
 */
#ifndef LT_BACKEND_IMPL_H
#define LT_BACKEND_IMPL_H

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_backend_ops {
    const char *name; /* "cpu", "cuda": the name lt_backend_create takes */
    bool is_host;     /* data pointers are host pointers */

    /* ---- memory and transfers ---- */
    void (*destroy)(lt_backend *be);
    lt_status (*mem_info)(lt_backend *be, size_t *free_b, size_t *total_b, lt_err *err);
    /* cat says what the memory holds (a host backend may choose its pages by it) */
    lt_status (*alloc)(lt_backend *be, size_t bytes, lt_mem_cat cat, void **out, lt_err *err);
    void (*release)(lt_backend *be, void *ptr);
    lt_status (*set)(lt_backend *be, void *dst, const void *host, size_t bytes, lt_err *err);
    /* (optional) a whole tensor from host (lt_tensor_set). A backend may keep it in a layout of
     * its own for its kernels (CUDA: gq4 matrices re-laid out for the W4A16 kernel) if its get
     * gives the tensor's bytes back and its ops read it as the tensor; NULL: set */
    lt_status (*set_tensor)(lt_backend *be, lt_tensor *t, const void *host, lt_err *err);
    lt_status (*get)(lt_backend *be, void *host, const void *src, size_t bytes, lt_err *err);
    lt_status (*copy)(lt_backend *be, void *dst, const void *src, size_t bytes, lt_err *err);
    /* (optional) NULL: synchronous - every op has finished when it returns */
    lt_status (*sync)(lt_backend *be, lt_err *err);
    /* (optional) lt_backend_matrix_dtype: the dtype a matmul-only weight of dt [rows, cols] is
       held in (a layout this backend's matmul reads faster); NULL: dt */
    lt_dtype (*matrix_dtype)(const lt_backend *be, lt_dtype dt, int64_t rows, int64_t cols);

    /* ---- ops, each (optional): NULL means the lt_op_* wrapper fails with LT_EUNSUPPORTED
     * "<op>: not implemented on the <name> backend" ---- */
    lt_status (*get_rows)(lt_backend *, lt_tensor *y, const lt_tensor *table, const lt_tensor *ids, lt_err *);
    lt_status (*matmul)(lt_backend *, lt_tensor *y, const lt_tensor *x, const lt_tensor *w,
                        const lt_tensor *bias, lt_err *);
    lt_status (*lowrank)(lt_backend *, lt_tensor *y, const lt_tensor *x, const lt_tensor *v, float alpha, lt_err *);
    lt_status (*rmsnorm)(lt_backend *, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, float eps, lt_err *);
    lt_status (*rope)(lt_backend *, lt_tensor *x, const lt_tensor *pos, const lt_tensor *freqs, int n_heads,
                      int head_dim, bool neox, float scale, lt_err *);
    lt_status (*silu_mul)(lt_backend *, lt_tensor *y, const lt_tensor *gate, const lt_tensor *up, lt_err *);
    lt_status (*add)(lt_backend *, lt_tensor *y, const lt_tensor *a, const lt_tensor *b, lt_err *);
    lt_status (*kv_store)(lt_backend *, lt_tensor *kc, lt_tensor *vc, const lt_tensor *k, const lt_tensor *v,
                          const lt_tensor *slots, lt_err *);
    lt_status (*attention)(lt_backend *, lt_tensor *out, const lt_tensor *q, const lt_tensor *kc,
                           const lt_tensor *vc, const lt_attn_meta *m, lt_err *);
    lt_status (*attn_merge)(lt_backend *, lt_tensor *out, lt_tensor *lse, const lt_tensor *o2, const lt_tensor *lse2,
                            lt_err *);
    lt_status (*argmax)(lt_backend *, lt_tensor *out, const lt_tensor *x, lt_err *);
    lt_status (*convert)(lt_backend *, lt_tensor *y, const lt_tensor *x, lt_err *);

    /* ---- vision ops (detection), each (optional) as above ---- */
    lt_status (*conv2d)(lt_backend *, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *bias,
                        const lt_conv2d_params *p, lt_tensor *work, lt_err *);
    lt_status (*maxpool2d)(lt_backend *, lt_tensor *y, const lt_tensor *x, int size, int stride, int pad, lt_err *);
    lt_status (*avgpool2d)(lt_backend *, lt_tensor *y, const lt_tensor *x, lt_err *);
    lt_status (*upsample)(lt_backend *, lt_tensor *y, const lt_tensor *x, int stride, float scale, lt_err *);
    lt_status (*concat)(lt_backend *, lt_tensor *y, const lt_tensor *x, int y_c0, int x_c0, int n_c, lt_err *);
    lt_status (*activate)(lt_backend *, lt_tensor *y, const lt_tensor *x, lt_act act, lt_err *);
    lt_status (*yolo_decode)(lt_backend *, lt_tensor *y, const lt_tensor *x, const lt_yolo_head *h, lt_err *);
    lt_status (*nms)(lt_backend *, lt_tensor *keep, const lt_tensor *boxes, const lt_tensor *classes, float iou,
                     float contain, lt_err *);

    /* ---- diffusion ops (UNet2DModel), each (optional) as above ---- */
    lt_status (*group_norm)(lt_backend *, lt_tensor *y, const lt_tensor *x, const lt_tensor *gamma,
                            const lt_tensor *beta, int groups, float eps, lt_act act, lt_err *);
    lt_status (*channel_affine)(lt_backend *, lt_tensor *y, const lt_tensor *x, const lt_tensor *t, bool scale_shift,
                                lt_act act, lt_err *);
    lt_status (*self_attention)(lt_backend *, lt_tensor *y, const lt_tensor *qkv, int n_heads, float scale, lt_err *);

    /* ---- op capture (CUDA graphs), (optional) as a group: all four NULL when the backend
     * cannot record ops (lt_backend_can_capture is false, capture_begin fails with
     * LT_EUNSUPPORTED); a backend that sets capture_begin sets the other three too ---- */
    lt_status (*capture_begin)(lt_backend *, lt_err *);
    lt_status (*capture_end)(lt_backend *, lt_graph **g, lt_err *); /* g NULL: abandon */
    lt_status (*graph_launch)(lt_backend *, lt_graph *g, lt_err *);
    void (*graph_free)(lt_backend *, lt_graph *g);
} lt_backend_ops;

/* The common head of every backend object; implementations embed it first. */
struct lt_backend {
    const lt_backend_ops *ops;
    char device[128];
    int n_threads;
    size_t used[LT_MEM_CAT_COUNT];
    bool capturing; /* between lt_backend_capture_begin and _end (set by core/backend/capture.c) */
};

/* The CPU backend's constructor, a row of the registry in core/backend/backend.c. */
lt_status lt_backend_cpu_create(lt_backend **out, const lt_backend_opts *opts, lt_err *err);

/* ---- backends loaded at run time (the CUDA backend, liblathe-cuda.so) ----------------------
 * A module exports one C function, lt_cuda_module_entry, that returns a static
 * lt_backend_module. core/backend/module.c dlopens the module, looks the entry up with dlsym
 * and uses it only when abi_version is LT_BACKEND_ABI_VERSION and the sizes match its own.
 * Module and core share this header, backend.h, core/base/tensor.h and status.h by value
 * (the op table, the backend head, tensors, errors): bump LT_BACKEND_ABI_VERSION whenever a
 * struct or enum of those changes (a slot added to lt_backend_ops, a field to lt_tensor, a
 * dtype), or when a function below changes meaning. abi_version stays the first field. */
#define LT_BACKEND_ABI_VERSION 8
#define LT_CUDA_MODULE_FILE "liblathe-cuda.so"
#define LT_CUDA_MODULE_ENTRY "lt_cuda_module_entry"

typedef struct lt_backend_module {
    unsigned abi_version; /* LT_BACKEND_ABI_VERSION the module was built with */
    unsigned size_module, size_ops, size_backend, size_tensor, size_err; /* sizeof each, as built */
    const char *name;     /* the registry row it fills: "cuda" */
    /* Usable devices; 0 with err saying why (no driver, a driver older than the runtime). */
    int (*device_count)(lt_err *err);
    /* Runtime and driver versions for `lathe --version`: "CUDA runtime 13.0, driver 12.8". */
    void (*versions)(char *buf, size_t cap);
    lt_status (*create)(lt_backend **out, const lt_backend_opts *opts, lt_err *err);
} lt_backend_module;

/* The sizes a module records as built, for its lt_backend_module initializer (after
 * .abi_version): `.abi_version = LT_BACKEND_ABI_VERSION, LT_BACKEND_MODULE_SIZES, .name = ...`. */
#define LT_BACKEND_MODULE_SIZES                                                                            \
    .size_module = sizeof(lt_backend_module), .size_ops = sizeof(lt_backend_ops),                          \
    .size_backend = sizeof(lt_backend), .size_tensor = sizeof(lt_tensor), .size_err = sizeof(lt_err)

/* The entry point (defined by the module, found by name; core never calls it directly). */
const lt_backend_module *lt_cuda_module_entry(void);

/* ---- shared by the files of core/backend only ---- */

/* LT_OK, or LT_EINVAL "WHAT: not allowed while ops are being captured into a graph" (host
 * transfers, syncs and allocations cannot be recorded). capture.c. */
lt_status lt_backend_no_capture(const lt_backend *be, const char *what, lt_err *err);
/* "1.50 GiB", "3.0 MiB", "12 B" for error messages. backend.c. */
void lt_backend_fmt_bytes(char *buf, size_t n, size_t b);
/* "weights", "KV cache", "scratch", "other". backend.c. */
const char *lt_mem_cat_name(lt_mem_cat c);

#ifdef __cplusplus
}
#endif

#endif
