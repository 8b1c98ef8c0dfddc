/* darknet.h - darknet .cfg networks and .weights files, read into a network description.
 *
 * lt_darknet_parse reads a .cfg ([net], [convolutional], [maxpool], [avgpool], [route],
 * [shortcut], [upsample], [dropout], [yolo]), checks every key (training-only keys darknet
 * knows are accepted and ignored; anything else is an error naming the line) and computes
 * every layer's input and output size. lt_darknet_load_weights reads a .weights file (header
 * versions with a 32- or 64-bit 'seen' counter) and folds batch normalization into each
 * convolution's weights and biases the way darknet's fuse_conv_batchnorm does.
 * Leaves out: training, [region] (YOLOv2) heads, [scale_channels], [sam], xnor/binary
 * convolutions, dilation, weighted shortcuts, per-axis strides.
 */
#ifndef LT_DARKNET_H
#define LT_DARKNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/lt_vision.h"
#include "core/base/status.h"

typedef enum lt_dn_type {
    LT_DN_CONV = 0,
    LT_DN_MAXPOOL,
    LT_DN_AVGPOOL,
    LT_DN_ROUTE,
    LT_DN_SHORTCUT,
    LT_DN_UPSAMPLE,
    LT_DN_DROPOUT,
    LT_DN_YOLO
} lt_dn_type;

/* NMS flavours a [yolo] section may ask for (nms_kind). */
typedef enum lt_dn_nms { LT_NMS_DEFAULT = 0, LT_NMS_GREEDY_DIOU, LT_NMS_DIOU } lt_dn_nms;

#define LT_DN_MAX_INPUTS 8

typedef struct lt_dn_layer {
    lt_dn_type type;
    int line;                 /* line of the [section] header in the .cfg */
    int c, h, w;              /* input size */
    int out_c, out_h, out_w;  /* output size */
    /* [convolutional] (size/stride/pad also for [maxpool], stride for [upsample]) */
    int filters, size, stride, pad, groups, batch_normalize;
    lt_act act;               /* also [shortcut] */
    float *weights;           /* [filters, c/groups, size, size], batch norm folded in; NULL until loaded */
    float *biases;            /* [filters] */
    /* [route]: absolute indices of the inputs; each gives its channel group group_id of groups */
    int n_inputs, inputs[LT_DN_MAX_INPUTS], groups_route, group_id;
    /* [shortcut]: absolute index of the added layer */
    int from;
    /* [upsample] */
    float scale;
    /* [yolo] */
    lt_yolo_head head;        /* anchors of the mask, classes, network size, scale_x_y, new_coords */
    lt_dn_nms nms_kind;
    float beta_nms;
} lt_dn_layer;

typedef struct lt_dn_net {
    int w, h, c;             /* network input */
    int letter_box;          /* [net] letter_box=1: letterbox instead of stretching */
    int n;                   /* layers */
    lt_dn_layer *layers;
    bool loaded;             /* weights present */
    int major, minor, revision;
    uint64_t seen;
} lt_dn_net;

/* Parses .cfg text (name is used in messages: "NAME:LINE: ..."). */
lt_status lt_darknet_parse_text(lt_dn_net **out, const char *text, size_t len, const char *name, lt_err *err);
/* Reads and parses a .cfg file. */
lt_status lt_darknet_parse(lt_dn_net **out, const char *path, lt_err *err);
void lt_darknet_free(lt_dn_net *net); /* NULL is a no-op */

/* Number of floats a .weights file for this network holds after its header. */
size_t lt_darknet_weights_count(const lt_dn_net *net);
/* Reads a .weights file (it must hold exactly lt_darknet_weights_count floats) and folds
 * batch normalization. Non-finite values and variances that are not positive are errors;
 * on any error the network keeps the weights it had. */
lt_status lt_darknet_load_weights(lt_dn_net *net, const char *path, lt_err *err);
/* Fills the network with random weights (deterministic in seed), scaled so activations
 * stay in range: for synthetic models in tests and benchmarks. */
lt_status lt_darknet_init_random(lt_dn_net *net, uint64_t seed, lt_err *err);

/* Total parameters (after folding) and multiply-adds of one forward pass. */
size_t lt_darknet_params(const lt_dn_net *net);
double lt_darknet_flops(const lt_dn_net *net);

/* Reads a class names file (one name per line, as coco.names). Free with lt_darknet_free_names. */
lt_status lt_darknet_read_names(const char *path, char ***names, int *n, lt_err *err);
void lt_darknet_free_names(char **names, int n);

/* "conv", "maxpool", ... for messages and summaries. */
const char *lt_darknet_type_name(lt_dn_type t);
/* "leaky", ... */
const char *lt_act_name(lt_act a);

#endif
