/* capture.c - op capture: recording the ops issued between lt_backend_capture_begin and _end
 * into a graph a backend can replay with one launch (CUDA graphs), and the check that
 * refuses host transfers, syncs and allocations meanwhile (used by backend.c).
 * Leaves out: how a backend records (kernels/cuda/backend_cuda.cu); backends without the
 * capture slots (the CPU) report LT_EUNSUPPORTED.
 */
#include "backend_impl.h"

/* host transfers, syncs and allocations cannot be recorded into a graph */
lt_status lt_backend_no_capture(const lt_backend *be, const char *what, lt_err *err) {
    if (!be->capturing) return LT_OK;
    return lt_err_set(err, LT_EINVAL, "%s: not allowed while ops are being captured into a graph", what);
}

bool lt_backend_can_capture(const lt_backend *be) { return be->ops->capture_begin != NULL; }

lt_status lt_backend_capture_begin(lt_backend *be, lt_err *err) {
    if (!be->ops->capture_begin)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s backend: op capture (graphs) is not supported", be->ops->name);
    if (be->capturing) return lt_err_set(err, LT_EINVAL, "capture: already capturing");
    LT_TRY(be->ops->capture_begin(be, err));
    be->capturing = true;
    return LT_OK;
}

lt_status lt_backend_capture_end(lt_backend *be, lt_graph **g, lt_err *err) {
    if (!be->capturing) return lt_err_set(err, LT_EINVAL, "capture: not capturing");
    be->capturing = false;
    return be->ops->capture_end(be, g, err);
}

lt_status lt_backend_graph_launch(lt_backend *be, lt_graph *g, lt_err *err) {
    if (!g || !be->ops->graph_launch) return lt_err_set(err, LT_EINVAL, "graph launch: no graph");
    LT_TRY(lt_backend_no_capture(be, "graph launch", err));
    return be->ops->graph_launch(be, g, err);
}

void lt_backend_graph_free(lt_backend *be, lt_graph *g) {
    if (g && be->ops->graph_free) be->ops->graph_free(be, g);
}
