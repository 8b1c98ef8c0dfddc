/* backend_cpu_vision.h - the CPU backend's vision op adapters (core/backend_cpu_vision.c),
 * referenced by the op table in core/backend_cpu.c. Internal to the CPU backend.
 */
#ifndef LT_BACKEND_CPU_VISION_H
#define LT_BACKEND_CPU_VISION_H

#include "lt_cpu.h"
#include "core/backend/backend_impl.h"

/* The CPU backend's thread pool (defined in core/backend_cpu.c). */
lt_pool *lt_backend_cpu_pool(lt_backend *be);

lt_status lt_cpu_op_conv2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w,
                           const lt_tensor *bias, const lt_conv2d_params *p, lt_tensor *work, lt_err *err);
lt_status lt_cpu_op_maxpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, int size, int stride, int pad,
                              lt_err *err);
lt_status lt_cpu_op_avgpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err);
lt_status lt_cpu_op_upsample(lt_backend *be, lt_tensor *y, const lt_tensor *x, int stride, float scale, lt_err *err);
lt_status lt_cpu_op_concat(lt_backend *be, lt_tensor *y, const lt_tensor *x, int y_c0, int x_c0, int n_c,
                           lt_err *err);
lt_status lt_cpu_op_activate(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_act act, lt_err *err);
lt_status lt_cpu_op_yolo_decode(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_yolo_head *h,
                                lt_err *err);
lt_status lt_cpu_op_nms(lt_backend *be, lt_tensor *keep, const lt_tensor *boxes, const lt_tensor *classes, float iou,
                        float contain, lt_err *err);

#endif
