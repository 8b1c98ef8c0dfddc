/* backend_cpu_vision.c - adapts the vision ops (arguments already checked by core/backend.c)
 * to the raw kernels of kernels/cpu/conv.c on the CPU backend's pool.
 * Leaves out: nothing beyond unpacking shapes; the kernels do the work.
 */
#include "backend_cpu_vision.h"

#define I(t, d) ((int)(t)->shape[d])

lt_status lt_cpu_op_conv2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w,
                           const lt_tensor *bias, const lt_conv2d_params *p, lt_tensor *work, lt_err *err) {
    lt_cpu_conv2d(lt_backend_cpu_pool(be), y->data, x->data, w->data, bias ? bias->data : NULL,
                  work ? work->data : NULL, I(x, 0), I(x, 1), I(x, 2), I(x, 3), I(w, 0), I(w, 2), p->stride, p->pad,
                  p->groups, p->act);
    return LT_OK;
}

lt_status lt_cpu_op_maxpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, int size, int stride, int pad,
                              lt_err *err) {
    lt_cpu_maxpool2d(lt_backend_cpu_pool(be), y->data, x->data, I(x, 0), I(x, 1), I(x, 2), I(x, 3), size, stride,
                     pad);
    return LT_OK;
}

lt_status lt_cpu_op_avgpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err) {
    lt_cpu_avgpool_global(lt_backend_cpu_pool(be), y->data, x->data, I(x, 0), I(x, 1), I(x, 2), I(x, 3));
    return LT_OK;
}

lt_status lt_cpu_op_upsample(lt_backend *be, lt_tensor *y, const lt_tensor *x, int stride, float scale, lt_err *err) {
    lt_cpu_upsample(lt_backend_cpu_pool(be), y->data, x->data, I(x, 0), I(x, 1), I(x, 2), I(x, 3), stride, scale);
    return LT_OK;
}

lt_status lt_cpu_op_concat(lt_backend *be, lt_tensor *y, const lt_tensor *x, int y_c0, int x_c0, int n_c,
                           lt_err *err) {
    lt_cpu_concat(lt_backend_cpu_pool(be), y->data, I(y, 1), x->data, I(x, 1), I(x, 0), x->shape[2] * x->shape[3],
                  y_c0, x_c0, n_c);
    return LT_OK;
}

lt_status lt_cpu_op_activate(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_act act, lt_err *err) {
    lt_cpu_activate(lt_backend_cpu_pool(be), y->data, x->data, lt_tensor_numel(x), act);
    return LT_OK;
}

lt_status lt_cpu_op_yolo_decode(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_yolo_head *h,
                                lt_err *err) {
    lt_cpu_yolo_decode(lt_backend_cpu_pool(be), y->data, x->data, I(x, 0), I(x, 2), I(x, 3), h);
    return LT_OK;
}

lt_status lt_cpu_op_nms(lt_backend *be, lt_tensor *keep, const lt_tensor *boxes, const lt_tensor *classes, float iou,
                        float contain, lt_err *err) {
    lt_cpu_nms(keep->data, boxes->data, classes->data, boxes->shape[0], iou, contain);
    return LT_OK;
}
