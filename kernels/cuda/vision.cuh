/* vision.cuh - entry points of the CUDA vision ops (conv2d in conv.cu, the others in
 * vision.cu) that backend_cuda.cu puts in the lt_backend_ops table; semantics in
 * core/backend/backend.h.
 * Leaves out: the LLM ops' entry points (cuda_common.cuh).
 */
#ifndef LT_CUDA_VISION_CUH
#define LT_CUDA_VISION_CUH

#include "cuda_common.cuh"

lt_status lt_cuda_conv2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *bias,
                         const lt_conv2d_params *p, lt_tensor *work, lt_err *err);
lt_status lt_cuda_maxpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, int size, int stride, int pad,
                            lt_err *err);
lt_status lt_cuda_avgpool2d(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_err *err);
lt_status lt_cuda_upsample(lt_backend *be, lt_tensor *y, const lt_tensor *x, int stride, float scale, lt_err *err);
lt_status lt_cuda_concat(lt_backend *be, lt_tensor *y, const lt_tensor *x, int y_c0, int x_c0, int n_c, lt_err *err);
lt_status lt_cuda_activate(lt_backend *be, lt_tensor *y, const lt_tensor *x, lt_act act, lt_err *err);
lt_status lt_cuda_yolo_decode(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_yolo_head *h, lt_err *err);
lt_status lt_cuda_nms(lt_backend *be, lt_tensor *keep, const lt_tensor *boxes, const lt_tensor *classes, float iou,
                      float contain, lt_err *err);

/* the diffusion ops: group_norm.cu (group_norm, channel_affine), self_attention.cu */
lt_status lt_cuda_group_norm(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *gamma,
                             const lt_tensor *beta, int groups, float eps, lt_act act, lt_err *err);
lt_status lt_cuda_channel_affine(lt_backend *be, lt_tensor *y, const lt_tensor *x, const lt_tensor *t,
                                 bool scale_shift, lt_act act, lt_err *err);
lt_status lt_cuda_self_attention(lt_backend *be, lt_tensor *y, const lt_tensor *qkv, int n_heads, float scale,
                                 lt_err *err);

#endif
