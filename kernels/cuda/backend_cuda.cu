/* backend_cuda.cu - the CUDA backend object: device selection, memory, the stream, the cuBLAS
 * handle, scratch buffers, and the op table that dispatches to the kernels in kernels/cuda/
 * (one file per op, named as in kernels/cpu: norm.cu / norm.c, ...). The CPU twin is
 * kernels/cpu/backend_cpu.c. kernels/cuda/ is built into liblathe-cuda.so, a module that
 * core/backend/module.c loads at run time; lt_cuda_module_entry (the end of this file) is its
 * one exported symbol: the ABI version, device count, versions and create.
 *
 * All work is queued on one non-blocking stream; only sync and get wait. Memory comes from
 * cudaMalloc (a failure is LT_ENOMEM with the free amount); scratch buffers grow with
 * cudaMallocAsync/cudaFreeAsync on the stream, so growing never synchronises (devices
 * without memory pools fall back to cudaFree/cudaMalloc, which do).
 * Op capture: stream capture (thread-local mode) into a cudaGraph, instantiated once and
 * afterwards updated in place with cudaGraphExecUpdate when a recapture keeps the topology.
 * Leaves out: peer-to-peer copies, several streams.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cuda_common.cuh"
#include "vision.cuh"

/* ---- errors ------------------------------------------------------------------------------ */

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

lt_status lt_cuda_fail(lt_err *err, cudaError_t e, const char *what, const char *file, int line) {
    (void)cudaGetLastError(); /* clear a non-sticky error so later launch checks are not confused */
    if (e == cudaErrorMemoryAllocation)
        return lt_err_set(err, LT_ENOMEM, "cuda: out of device memory (%s at %s:%d)", what, base_name(file), line);
    return lt_err_set(err, LT_EDEVICE, "cuda: %s (%s at %s:%d)", cudaGetErrorString(e), what, base_name(file), line);
}

lt_status lt_cublas_fail(lt_err *err, cublasStatus_t s, const char *what, const char *file, int line) {
    (void)cudaGetLastError();
    if (s == CUBLAS_STATUS_ALLOC_FAILED)
        return lt_err_set(err, LT_ENOMEM, "cublas: out of device memory (%s at %s:%d)", what, base_name(file), line);
    return lt_err_set(err, LT_EDEVICE, "cublas: %s (%s at %s:%d)", cublasGetStatusString(s), what, base_name(file),
                      line);
}

/* ---- helpers ----------------------------------------------------------------------------- */

lt_status lt_cuda_enter(lt_cuda *c, lt_err *err) {
    LT_CUDA_TRY(cudaSetDevice(c->device), err);
    return LT_OK;
}

static lt_status free_stream_ordered(lt_cuda *c, void *p, lt_err *err) {
    if (c->async_alloc) LT_CUDA_TRY(cudaFreeAsync(p, c->stream), err); /* allocated stream-ordered */
    else LT_CUDA_TRY(cudaFree(p), err);                                 /* waits for the work using it */
    return LT_OK;
}

/* Frees the retired scratch buffers once no graph can replay them. */
static void free_retired(lt_cuda *c) {
    lt_err e;
    for (int i = 0; i < c->n_retired; i++)
        if (free_stream_ordered(c, c->retired[i], &e) != LT_OK) (void)cudaGetLastError();
    c->n_retired = 0;
    for (int i = 0; i < LT_CUDA_SCR_COUNT; i++) c->scr_pinned[i] = false;
}

lt_status lt_cuda_scratch(lt_cuda *c, int slot, size_t bytes, void **out, lt_err *err) {
    LT_ASSERT(slot >= 0 && slot < LT_CUDA_SCR_COUNT);
    if (bytes == 0) bytes = 1;
    if (c->scr_bytes[slot] < bytes) {
        if (c->base.capturing) /* a graph would keep the old pointer: grow outside capture */
            return lt_err_set(err, LT_EUNSUPPORTED,
                              "cuda: scratch slot %d must grow to %zu bytes while capturing a graph", slot, bytes);
        size_t want = bytes + bytes / 4; /* headroom so slowly growing sizes do not reallocate each step */
        want = (want + 4095) & ~(size_t)4095;
        if (c->scr[slot]) {
            if (c->scr_pinned[slot] && c->n_graphs > 0) { /* a graph may still replay with it */
                if (c->n_retired == LT_CUDA_MAX_RETIRED)
                    return lt_err_set(err, LT_EUNSUPPORTED,
                                      "cuda: scratch slot %d grew %d times while graphs hold the old buffers", slot,
                                      LT_CUDA_MAX_RETIRED);
                c->retired[c->n_retired++] = c->scr[slot];
            } else {
                LT_TRY(free_stream_ordered(c, c->scr[slot], err));
            }
            c->scr[slot] = NULL;
            c->scr_bytes[slot] = 0;
            c->scr_pinned[slot] = false;
        }
        void *p = NULL;
        cudaError_t e = c->async_alloc ? cudaMallocAsync(&p, want, c->stream) : cudaMalloc(&p, want);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            size_t fr = 0, tot = 0;
            if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) (void)cudaGetLastError();
            return lt_err_set(err, e == cudaErrorMemoryAllocation ? LT_ENOMEM : LT_EDEVICE,
                              "cuda: cannot allocate %.1f MiB of scratch (%.1f MiB free): %s", want / 1048576.0,
                              fr / 1048576.0, cudaGetErrorString(e));
        }
        c->scr[slot] = p;
        c->scr_bytes[slot] = want;
    }
    if (c->base.capturing) c->scr_pinned[slot] = true;
    *out = c->scr[slot];
    return LT_OK;
}

/* ---- memory and transfers ------------------------------------------------------------------ */

static void cu_destroy(lt_backend *be) {
    lt_cuda *c = lt_cuda_of(be);
    if (cudaSetDevice(c->device) == cudaSuccess) {
        lt_err e;
        for (int i = 0; i < LT_CUDA_SCR_COUNT; i++)
            if (c->scr[i] && free_stream_ordered(c, c->scr[i], &e) != LT_OK) (void)cudaGetLastError();
        free_retired(c); /* graphs must be freed before their backend */
        if (c->stream) (void)cudaStreamSynchronize(c->stream);
        if (c->blas) (void)cublasDestroy(c->blas);
        if (c->stream) (void)cudaStreamDestroy(c->stream);
    }
    (void)cudaGetLastError();
    lt_free(c->marlin.e);
    lt_free(c->blocks);
    lt_free(c);
}

static lt_status cu_mem_info(lt_backend *be, size_t *free_b, size_t *total_b, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    LT_CUDA_TRY(cudaMemGetInfo(free_b, total_b), err);
    return LT_OK;
}

static lt_status cu_alloc(lt_backend *be, size_t bytes, lt_mem_cat cat, void **out, lt_err *err) {
    (void)cat;
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    *out = NULL;
    cudaError_t e = cudaMalloc(out, bytes);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* an allocation failure must not poison the next launch check */
        *out = NULL;
        size_t fr = 0, tot = 0;
        if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) (void)cudaGetLastError();
        return lt_err_set(err, e == cudaErrorMemoryAllocation ? LT_ENOMEM : LT_EDEVICE,
                          "cuda: cannot allocate %.1f MiB (%.1f MiB free): %s", bytes / 1048576.0, fr / 1048576.0,
                          cudaGetErrorString(e));
    }
    lt_marlin_table_forget(&c->marlin, *out, bytes); /* entries of memory freed before */
    if (c->n_blocks == c->cap_blocks) {
        int cap = c->cap_blocks ? 2 * c->cap_blocks : 64;
        void *nb = lt_realloc(c->blocks, (size_t)cap * sizeof *c->blocks);
        if (!nb) {
            (void)cudaFree(*out);
            *out = NULL;
            return lt_err_set(err, LT_ENOMEM, "out of host memory");
        }
        c->blocks = (decltype(c->blocks))nb;
        c->cap_blocks = cap;
    }
    c->blocks[c->n_blocks++] = {*out, bytes};
    return LT_OK;
}

static void cu_release(lt_backend *be, void *ptr) {
    lt_cuda *c = lt_cuda_of(be);
    if (!ptr) return;
    /* cudaFree waits for work using the pointer; errors here (a dead context) cannot be
     * reported and are cleared so they do not surface in an unrelated op. */
    if (cudaSetDevice(c->device) != cudaSuccess || cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError();
    for (int i = c->n_blocks - 1; i >= 0; i--)
        if (c->blocks[i].p == ptr) {
            lt_marlin_table_forget(&c->marlin, ptr, c->blocks[i].bytes); /* packed matrices that lived there */
            c->blocks[i] = c->blocks[--c->n_blocks];
            break;
        }
}

/* A write to [dst, dst + bytes): packed gq4 matrices it covers whole become plain bytes again;
 * one it covers in part is refused (half of it would be in the other layout). */
static lt_status marlin_written(lt_cuda *c, const void *dst, size_t bytes, const char *what, lt_err *err) {
    const int i = c->marlin.n ? lt_marlin_table_written(&c->marlin, dst, bytes) : -1;
    if (i < 0) return LT_OK;
    const lt_marlin_entry *e = &c->marlin.e[i];
    return lt_err_set(err, LT_EUNSUPPORTED,
                      "%s: part of a %s [%lld, %lld] matrix held in the W4A16 kernel's layout on cuda; set the "
                      "whole tensor", what, lt_dtype_name(e->dtype), (long long)e->N, (long long)e->K);
}

static lt_status cu_set(lt_backend *be, void *dst, const void *host, size_t bytes, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    if (bytes == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    LT_TRY(marlin_written(c, dst, bytes, "tensor set", err));
    /* From pageable memory this returns once the source has been staged, so the caller may
     * reuse host right away; ordering with queued kernels is kept by the stream. */
    LT_CUDA_TRY(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, c->stream), err);
    return LT_OK;
}

/* gq4 matrices go up in the W4A16 layout where it holds them (matmul_marlin.cu) */
static lt_status cu_set_tensor(lt_backend *be, lt_tensor *t, const void *host, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    const size_t bytes = lt_tensor_nbytes(t);
    if (bytes == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    bool done = false;
    LT_TRY(lt_cuda_marlin_upload(c, t, host, &done, err));
    return done ? LT_OK : cu_set(be, t->data, host, bytes, err);
}

static lt_status cu_get(lt_backend *be, void *host, const void *src, size_t bytes, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    if (bytes == 0) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    const int mi = c->marlin.n ? lt_marlin_table_find(&c->marlin, src, bytes) : -1;
    if (mi >= 0) return lt_cuda_marlin_download(c, mi, host, src, bytes, err); /* rows again, or refused */
    LT_CUDA_TRY(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, c->stream), err);
    LT_CUDA_TRY(cudaStreamSynchronize(c->stream), err);
    return LT_OK;
}

static lt_status cu_copy(lt_backend *be, void *dst, const void *src, size_t bytes, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    if (bytes == 0 || dst == src) return LT_OK;
    LT_TRY(lt_cuda_enter(c, err));
    if (c->marlin.n && lt_marlin_table_find(&c->marlin, src, bytes) >= 0)
        return lt_err_set(err, LT_EUNSUPPORTED,
                          "tensor copy: the source holds a gq4 matrix in the W4A16 kernel's layout on cuda");
    LT_TRY(marlin_written(c, dst, bytes, "tensor copy", err));
    LT_CUDA_TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream), err);
    return LT_OK;
}

static lt_status cu_sync(lt_backend *be, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    LT_CUDA_TRY(cudaStreamSynchronize(c->stream), err);
    return LT_OK;
}

/* ---- op capture (CUDA graphs) ------------------------------------------------------------- */

struct lt_graph {
    cudaGraphExec_t exec;
};

static lt_status cu_capture_begin(lt_backend *be, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    /* thread-local: other threads (the workbench's meters) may still call the runtime */
    LT_CUDA_TRY(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal), err);
    return LT_OK;
}

static lt_status cu_capture_end(lt_backend *be, lt_graph **g, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (!g || e != cudaSuccess) {
        if (graph) (void)cudaGraphDestroy(graph);
        (void)cudaGetLastError();
        if (!g) return LT_OK; /* abandoned */
        return lt_cuda_fail(err, e, "cudaStreamEndCapture", __FILE__, __LINE__);
    }
    if (*g) {
        cudaGraphExecUpdateResultInfo info;
        if (cudaGraphExecUpdate((*g)->exec, graph, &info) == cudaSuccess) {
            (void)cudaGraphDestroy(graph);
            return LT_OK;
        }
        (void)cudaGetLastError(); /* the topology changed: instantiate anew */
        (void)cudaGraphExecDestroy((*g)->exec);
        (*g)->exec = NULL;
    } else {
        *g = (lt_graph *)lt_calloc(1, sizeof **g);
        if (!*g) {
            (void)cudaGraphDestroy(graph);
            return lt_err_set(err, LT_ENOMEM, "out of host memory");
        }
        c->n_graphs++;
    }
    e = cudaGraphInstantiate(&(*g)->exec, graph, 0);
    (void)cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        lt_free(*g);
        *g = NULL;
        if (--c->n_graphs == 0) free_retired(c);
        return lt_cuda_fail(err, e, "cudaGraphInstantiate", __FILE__, __LINE__);
    }
    return LT_OK;
}

static lt_status cu_graph_launch(lt_backend *be, lt_graph *g, lt_err *err) {
    lt_cuda *c = lt_cuda_of(be);
    LT_TRY(lt_cuda_enter(c, err));
    LT_CUDA_TRY(cudaGraphLaunch(g->exec, c->stream), err);
    return LT_OK;
}

static void cu_graph_free(lt_backend *be, lt_graph *g) {
    lt_cuda *c = lt_cuda_of(be);
    if (cudaSetDevice(c->device) != cudaSuccess || (g->exec && cudaGraphExecDestroy(g->exec) != cudaSuccess))
        (void)cudaGetLastError();
    lt_free(g);
    if (--c->n_graphs == 0) free_retired(c); /* nothing can replay the old buffers now */
}

/* ---- the table ----------------------------------------------------------------------------- */

/* Labelled slots in the order backend_impl.h declares them (C++20 designated initializers
 * must follow declaration order). */
static const lt_backend_ops k_cuda_ops = {
    .name = "cuda",
    .is_host = false,
    /* memory and transfers (this file) */
    .destroy = cu_destroy,
    .mem_info = cu_mem_info,
    .alloc = cu_alloc,
    .release = cu_release,
    .set = cu_set,
    .set_tensor = cu_set_tensor,
    .get = cu_get,
    .copy = cu_copy,
    .sync = cu_sync,
    /* ops, one .cu file each (declared in cuda_common.cuh) */
    .get_rows = lt_cuda_get_rows,   /* get_rows.cu */
    .matmul = lt_cuda_matmul,       /* matmul.cu */
    .lowrank = lt_cuda_lowrank,     /* matmul.cu */
    .rmsnorm = lt_cuda_rmsnorm,     /* norm.cu */
    .rope = lt_cuda_rope,           /* rope.cu */
    .silu_mul = lt_cuda_silu_mul,   /* elementwise.cu */
    .add = lt_cuda_add,             /* elementwise.cu */
    .kv_store = lt_cuda_kv_store,   /* kv_store.cu */
    .attention = lt_cuda_attention, /* attention.cu */
    .attn_merge = lt_cuda_attn_merge, /* attention.cu */
    .argmax = lt_cuda_argmax,       /* argmax.cu */
    .convert = lt_cuda_convert,     /* elementwise.cu */
    /* vision ops (detection; declared in vision.cuh): conv2d in conv.cu, the others in vision.cu */
    .conv2d = lt_cuda_conv2d,
    .maxpool2d = lt_cuda_maxpool2d,
    .avgpool2d = lt_cuda_avgpool2d,
    .upsample = lt_cuda_upsample,
    .concat = lt_cuda_concat,
    .activate = lt_cuda_activate,
    .yolo_decode = lt_cuda_yolo_decode,
    .nms = lt_cuda_nms,
    .group_norm = lt_cuda_group_norm,
    .channel_affine = lt_cuda_channel_affine,
    .self_attention = lt_cuda_self_attention,
    /* op capture (this file) */
    .capture_begin = cu_capture_begin,
    .capture_end = cu_capture_end,
    .graph_launch = cu_graph_launch,
    .graph_free = cu_graph_free,
};

/* ---- the module's entry: device count, versions, create -------------------------------- */

static int cu_device_count(lt_err *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        lt_err_set(err, LT_EDEVICE, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        return 0;
    }
    if (n <= 0) lt_err_set(err, LT_EDEVICE, "cudaGetDeviceCount found no device");
    return n;
}

static void cu_versions(char *buf, size_t cap) {
    int rt = 0, drv = 0;
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess) rt = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
    (void)cudaGetLastError();
    char d[32];
    if (drv > 0) snprintf(d, sizeof d, "driver %d.%d", drv / 1000, drv % 1000 / 10);
    else snprintf(d, sizeof d, "no driver");
    snprintf(buf, cap, "CUDA runtime %d.%d, %s", rt / 1000, rt % 1000 / 10, d);
}

static lt_status cu_create(lt_backend **out, const lt_backend_opts *opts, lt_err *err) {
    *out = NULL;
    int dev = opts ? opts->device : 0;
    lt_err ce;
    int n = cu_device_count(&ce);
    if (dev < 0 || dev >= n)
        return lt_err_set(err, LT_EINVAL, "device cuda: ordinal %d does not exist (%d CUDA device%s present)", dev, n,
                          n == 1 ? "" : "s");
    lt_cuda *c = (lt_cuda *)lt_calloc(1, sizeof *c);
    if (!c) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    c->base.ops = &k_cuda_ops;
    c->device = dev;
    lt_status s = LT_OK;
    cudaDeviceProp prop;
    cudaError_t e = cudaSetDevice(dev);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, dev);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        s = lt_cuda_fail(err, e, "initialising the device", __FILE__, __LINE__);
        goto fail;
    }
    {
        cublasStatus_t bs = cublasCreate(&c->blas);
        if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetStream(c->blas, c->stream);
        if (bs != CUBLAS_STATUS_SUCCESS) {
            s = lt_cublas_fail(err, bs, "creating the cuBLAS handle", __FILE__, __LINE__);
            goto fail;
        }
    }
    {
        int pools = 0;
        if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, dev) != cudaSuccess) {
            (void)cudaGetLastError();
            pools = 0;
        }
        c->async_alloc = pools != 0;
    }
    snprintf(c->base.device, sizeof c->base.device, "%.127s", prop.name);
    c->sm_count = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    c->cc_major = prop.major;
    {
        const char *m = getenv("LATHE_CUDA_MARLIN"); /* "0": gq4 matrices stay in rows (the GEMV) */
        c->marlin_off = m && strcmp(m, "0") == 0;
    }
    c->base.n_threads = c->sm_count;
    *out = &c->base;
    return LT_OK;
fail:
    cu_destroy(&c->base);
    lt_err_prefix(err, "device cuda:%d", dev);
    return s;
}

/* Labelled in the order backend_impl.h declares the fields. */
static const lt_backend_module k_module = {
    .abi_version = LT_BACKEND_ABI_VERSION,
    LT_BACKEND_MODULE_SIZES,
    .name = "cuda",
    .device_count = cu_device_count,
    .versions = cu_versions,
    .create = cu_create,
};

/* The one symbol liblathe-cuda.so exports (everything else is hidden: CMake builds the module
 * with hidden visibility and keeps the static libraries' symbols local). */
extern "C" __attribute__((visibility("default"))) const lt_backend_module *lt_cuda_module_entry(void) {
    return &k_module;
}
