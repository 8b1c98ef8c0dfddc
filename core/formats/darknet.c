/* darknet.c - the darknet .cfg parser and .weights reader (see darknet.h).
 *
 * Parsing follows darknet's read_cfg: whitespace is removed from every line, '#' and ';'
 * start comment lines, "[name]" opens a section and "key=value" adds an option. Defaults are
 * darknet's (AlexeyAB fork, which also reads the Yolo-Fastest cfgs). Unlike darknet, an
 * unknown key or section, or a value that does not parse, is an error naming the line.
 * Leaves out: everything a detector at inference does not need (see darknet.h).
 */
#include "darknet.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "core/base/fileio.h"

#define MAX_DIM 16384
#define MAX_ELEMS (1ll << 30)

/* ---- sections and options --------------------------------------------------------------- */

typedef struct opt {
    char *key, *val;
    int line;
    bool used;
} opt;

typedef struct section {
    char *name;
    int line;
    opt *opts;
    int n_opts, cap;
} section;

typedef struct cfg {
    section *secs;
    int n, cap;
    const char *name;
} cfg;

static void cfg_free(cfg *c) {
    for (int i = 0; i < c->n; i++) {
        for (int j = 0; j < c->secs[i].n_opts; j++) lt_free(c->secs[i].opts[j].key);
        lt_free(c->secs[i].opts);
        lt_free(c->secs[i].name);
    }
    lt_free(c->secs);
}

static char *dup_n(const char *s, size_t n) {
    char *d = lt_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static lt_status cfg_read(cfg *c, const char *text, size_t len, lt_err *err) {
    char line[4096];
    int lineno = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n') e++;
        lineno++;
        size_t n = 0;
        for (size_t i = pos; i < e; i++) {
            unsigned char ch = (unsigned char)text[i];
            if (ch == 0) return lt_err_set(err, LT_EFORMAT, "%s:%d: NUL byte: not a text .cfg file", c->name, lineno);
            if (isspace(ch)) continue;
            if (n + 1 >= sizeof line)
                return lt_err_set(err, LT_EFORMAT, "%s:%d: line longer than %zu characters", c->name, lineno,
                                  sizeof line - 1);
            line[n++] = (char)ch;
        }
        line[n] = 0;
        pos = e + 1;
        if (n == 0 || line[0] == '#' || line[0] == ';') continue;
        if (line[0] == '[') {
            if (line[n - 1] != ']' || n < 3)
                return lt_err_set(err, LT_EFORMAT, "%s:%d: malformed section header '%s'", c->name, lineno, line);
            if (c->n == c->cap) {
                int cap = c->cap ? c->cap * 2 : 64;
                section *s = lt_realloc(c->secs, sizeof *s * cap);
                if (!s) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", c->name);
                c->secs = s, c->cap = cap;
            }
            section *s = &c->secs[c->n];
            memset(s, 0, sizeof *s);
            s->name = dup_n(line + 1, n - 2);
            s->line = lineno;
            if (!s->name) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", c->name);
            c->n++;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq || eq == line)
            return lt_err_set(err, LT_EFORMAT, "%s:%d: expected key=value or [section], got '%s'", c->name, lineno,
                              line);
        if (c->n == 0)
            return lt_err_set(err, LT_EFORMAT, "%s:%d: option '%s' before the first [section]", c->name, lineno, line);
        section *s = &c->secs[c->n - 1];
        if (s->n_opts == s->cap) {
            int cap = s->cap ? s->cap * 2 : 16;
            opt *o = lt_realloc(s->opts, sizeof *o * cap);
            if (!o) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", c->name);
            s->opts = o, s->cap = cap;
        }
        opt *o = &s->opts[s->n_opts];
        o->key = dup_n(line, n); /* one buffer: "key\0value" */
        if (!o->key) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", c->name);
        o->key[eq - line] = 0;
        o->val = o->key + (eq - line) + 1;
        o->line = lineno;
        o->used = false;
        s->n_opts++;
    }
    return LT_OK;
}

/* The first option named key (darknet's option_find), marked used; NULL when absent. */
static opt *find(section *s, const char *key) {
    opt *r = NULL;
    for (int i = 0; i < s->n_opts; i++)
        if (!strcmp(s->opts[i].key, key)) {
            if (!r) r = &s->opts[i];
            s->opts[i].used = true;
        }
    return r;
}

static lt_status get_int(const cfg *c, section *s, const char *key, int def, int *out, lt_err *err) {
    opt *o = find(s, key);
    *out = def;
    if (!o) return LT_OK;
    char *end;
    errno = 0;
    long v = strtol(o->val, &end, 10);
    if (end == o->val || *end || errno || v < -1000000000L || v > 1000000000L)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: %s=%s: expected an integer", c->name, o->line, key, o->val);
    *out = (int)v;
    return LT_OK;
}

static lt_status get_float(const cfg *c, section *s, const char *key, float def, float *out, lt_err *err) {
    opt *o = find(s, key);
    *out = def;
    if (!o) return LT_OK;
    char *end;
    float v = strtof(o->val, &end);
    if (end == o->val || *end || !isfinite(v))
        return lt_err_set(err, LT_EFORMAT, "%s:%d: %s=%s: expected a number", c->name, o->line, key, o->val);
    *out = v;
    return LT_OK;
}

/* Comma-separated list of numbers (ints when is_int, within +-2^24 so that they survive the
 * float and convert back to int exactly) into out (at most max). */
static lt_status get_list(const cfg *c, opt *o, bool is_int, float *out, int max, int *n, lt_err *err) {
    *n = 0;
    const char *p = o->val;
    while (*p) {
        char *end;
        float v;
        if (is_int) {
            long iv = strtol(p, &end, 10);
            v = iv < -(1L << 24) || iv > (1L << 24) ? NAN : (float)iv;
        } else {
            v = strtof(p, &end);
        }
        if (end == p || (*end && *end != ',') || !isfinite(v))
            return lt_err_set(err, LT_EFORMAT, "%s:%d: %s=%s: expected a comma-separated list of %s", c->name, o->line,
                              o->key, o->val, is_int ? "integers" : "numbers");
        if (*n == max)
            return lt_err_set(err, LT_EFORMAT, "%s:%d: %s: more than %d values", c->name, o->line, o->key, max);
        out[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0) return lt_err_set(err, LT_EFORMAT, "%s:%d: %s is empty", c->name, o->line, o->key);
    return LT_OK;
}

/* Keys darknet reads for training (or for features that are off by default); accepted and
 * ignored at inference. Each list ends with NULL. */
static const char *const k_ign_net[] = {
    "batch", "subdivisions", "momentum", "decay", "angle", "saturation", "exposure", "hue", "learning_rate",
    "burn_in", "max_batches", "policy", "steps", "scales", "step", "power", "gamma", "mosaic", "cutmix", "mixup",
    "blur", "flip", "min_crop", "max_crop", "aspect", "jitter", "label_smooth_eps", "max_chart_loss", "track",
    "time_steps", "augment_speed", "adam", "B1", "B2", "eps", "seen", "sgdr_cycle", "sgdr_mult", "max_epochs",
    "try_fix_nan", "ema_alpha", "contrastive", "contrastive_jit_flip", "contrastive_color", "inputs", "scale",
    "resize", "gaussian_noise", "adversarial_lr", "attention", "unsupervised", "random", "optimized_memory",
    "workspace_size_limit_MB", "mosaic_bound", "letter_box_pad", NULL};
static const char *const k_ign_conv[] = {"stopbackward", "train_only_bn", NULL};
static const char *const k_ign_none[] = {NULL};
static const char *const k_ign_route[] = {"onlyforward", "stopbackward", NULL};
static const char *const k_ign_dropout[] = {"probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs",
                                            NULL};
static const char *const k_ign_yolo[] = {
    "jitter", "ignore_thresh", "truth_thresh", "random", "iou_thresh", "cls_normalizer", "iou_normalizer",
    "obj_normalizer", "iou_loss", "max_delta", "counters_per_class", "label_smooth_eps", "resize", "focal_loss",
    "uc_normalizer", "objectness_smooth", "beta1", "track_history_size", "sim_thresh", "dets_for_track",
    "dets_for_show", "track_ciou_norm", "embedding_layer", "delta_normalizer", "map", "max", "show_details", NULL};

static lt_status check_keys(const cfg *c, section *s, const char *const *ign, lt_err *err) {
    for (int i = 0; i < s->n_opts; i++) {
        opt *o = &s->opts[i];
        if (o->used) continue;
        bool ok = false;
        for (int j = 0; ign[j]; j++)
            if (!strcmp(ign[j], o->key)) ok = true;
        if (!ok)
            return lt_err_set(err, LT_EFORMAT, "%s:%d: unknown key '%s' in [%s]", c->name, o->line, o->key, s->name);
    }
    return LT_OK;
}

/* A key that may only take its default value here (a feature lathe does not implement). */
static lt_status must_be(const cfg *c, section *s, const char *key, int def, lt_err *err) {
    int v;
    LT_TRY(get_int(c, s, key, def, &v, err));
    if (v != def) {
        opt *o = find(s, key);
        return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: %s=%d is not supported (only %d)", c->name, o->line, key, v,
                          def);
    }
    return LT_OK;
}

static const char *const k_act_names[LT_ACT_COUNT] = {"linear", "leaky", "relu", "mish", "swish", "logistic"};

const char *lt_act_name(lt_act a) { return (a >= 0 && a < LT_ACT_COUNT) ? k_act_names[a] : "?"; }

const char *lt_darknet_type_name(lt_dn_type t) {
    static const char *const n[] = {"conv", "maxpool", "avgpool", "route", "shortcut", "upsample", "dropout", "yolo"};
    return (t >= 0 && t <= LT_DN_YOLO) ? n[t] : "?";
}

static lt_status get_act(const cfg *c, section *s, const char *def, lt_act *out, lt_err *err) {
    opt *o = find(s, "activation");
    const char *v = o ? o->val : def;
    for (int i = 0; i < LT_ACT_COUNT; i++)
        if (!strcmp(v, k_act_names[i])) {
            *out = (lt_act)i;
            return LT_OK;
        }
    return lt_err_set(err, LT_EUNSUPPORTED,
                      "%s:%d: activation '%s' is not supported (linear, leaky, relu, mish, swish, logistic)", c->name,
                      o ? o->line : s->line, v);
}

/* ---- layers -------------------------------------------------------------------------------- */

static lt_status dims_ok(const cfg *c, const section *s, int ch, int h, int w, lt_err *err) {
    if (ch < 1 || h < 1 || w < 1 || (long long)ch * h * w > MAX_ELEMS)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [%s] would output %d x %d x %d (channels x height x width)",
                          c->name, s->line, s->name, ch, h, w);
    return LT_OK;
}

static lt_status parse_conv(const cfg *c, section *s, lt_dn_layer *l, lt_err *err) {
    int pad, padding;
    LT_TRY(get_int(c, s, "filters", 1, &l->filters, err));
    LT_TRY(get_int(c, s, "size", 1, &l->size, err));
    LT_TRY(get_int(c, s, "stride", 1, &l->stride, err));
    LT_TRY(get_int(c, s, "pad", 0, &pad, err));
    LT_TRY(get_int(c, s, "padding", 0, &padding, err));
    LT_TRY(get_int(c, s, "groups", 1, &l->groups, err));
    LT_TRY(get_int(c, s, "batch_normalize", 0, &l->batch_normalize, err));
    LT_TRY(get_act(c, s, "logistic", &l->act, err));
    LT_TRY(must_be(c, s, "dilation", 1, err));
    LT_TRY(must_be(c, s, "xnor", 0, err));
    LT_TRY(must_be(c, s, "bin_output", 0, err));
    LT_TRY(must_be(c, s, "share_index", -1000000000, err));
    int sx, sy;
    LT_TRY(get_int(c, s, "stride_x", l->stride, &sx, err));
    LT_TRY(get_int(c, s, "stride_y", l->stride, &sy, err));
    if (sx != l->stride || sy != l->stride)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: different x and y strides are not supported", c->name, s->line);
    if (pad) padding = l->size / 2;
    if (l->filters < 1 || l->filters > 65536 || l->size < 1 || l->size > 31 || l->stride < 1 || l->stride > 64 ||
        padding < 0 || padding > 64 || l->groups < 1)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [convolutional] filters=%d size=%d stride=%d padding=%d groups=%d "
                                           "out of range",
                          c->name, s->line, l->filters, l->size, l->stride, padding, l->groups);
    if (l->c % l->groups || l->filters % l->groups)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: groups=%d must divide the %d input channels and filters=%d",
                          c->name, s->line, l->groups, l->c, l->filters);
    l->pad = padding;
    l->out_c = l->filters;
    l->out_h = (l->h + 2 * padding - l->size) / l->stride + 1;
    l->out_w = (l->w + 2 * padding - l->size) / l->stride + 1;
    if (l->h + 2 * padding < l->size || l->w + 2 * padding < l->size)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: kernel size %d is larger than the padded %dx%d input", c->name,
                          s->line, l->size, l->w, l->h);
    return check_keys(c, s, k_ign_conv, err);
}

static lt_status parse_maxpool(const cfg *c, section *s, lt_dn_layer *l, lt_err *err) {
    LT_TRY(get_int(c, s, "stride", 1, &l->stride, err));
    LT_TRY(get_int(c, s, "size", l->stride, &l->size, err));
    LT_TRY(get_int(c, s, "padding", l->size - 1, &l->pad, err));
    LT_TRY(must_be(c, s, "maxpool_depth", 0, err));
    LT_TRY(must_be(c, s, "antialiasing", 0, err));
    LT_TRY(must_be(c, s, "stride_x", l->stride, err));
    LT_TRY(must_be(c, s, "stride_y", l->stride, err));
    if (l->stride < 1 || l->stride > 64 || l->size < 1 || l->size > 64 || l->pad < 0 || l->pad > 64)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [maxpool] size=%d stride=%d padding=%d out of range", c->name,
                          s->line, l->size, l->stride, l->pad);
    if (l->h + l->pad < l->size || l->w + l->pad < l->size)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [maxpool] size %d is larger than the %dx%d input", c->name, s->line,
                          l->size, l->w, l->h);
    l->out_c = l->c;
    l->out_h = (l->h + l->pad - l->size) / l->stride + 1;
    l->out_w = (l->w + l->pad - l->size) / l->stride + 1;
    return check_keys(c, s, k_ign_none, err);
}

static lt_status resolve(const cfg *c, const section *s, int i, int v, int *out, lt_err *err) {
    int idx = v < 0 ? i + v : v;
    if (idx < 0 || idx >= i)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [%s] refers to layer %d, which is not an earlier layer (this is "
                                           "layer %d)",
                          c->name, s->line, s->name, v, i);
    *out = idx;
    return LT_OK;
}

static lt_status parse_route(const cfg *c, section *s, lt_dn_net *net, int i, lt_err *err) {
    lt_dn_layer *l = &net->layers[i];
    opt *o = find(s, "layers");
    if (!o) return lt_err_set(err, LT_EFORMAT, "%s:%d: [route] needs layers=", c->name, s->line);
    float v[LT_DN_MAX_INPUTS];
    LT_TRY(get_list(c, o, true, v, LT_DN_MAX_INPUTS, &l->n_inputs, err));
    LT_TRY(get_int(c, s, "groups", 1, &l->groups_route, err));
    LT_TRY(get_int(c, s, "group_id", 0, &l->group_id, err));
    if (l->groups_route < 1 || l->group_id < 0 || l->group_id >= l->groups_route)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [route] groups=%d group_id=%d out of range", c->name, s->line,
                          l->groups_route, l->group_id);
    l->out_c = 0;
    for (int k = 0; k < l->n_inputs; k++) {
        LT_TRY(resolve(c, s, i, (int)v[k], &l->inputs[k], err));
        const lt_dn_layer *in = &net->layers[l->inputs[k]];
        if (k == 0) l->out_h = in->out_h, l->out_w = in->out_w;
        else if (in->out_h != l->out_h || in->out_w != l->out_w)
            return lt_err_set(err, LT_EFORMAT, "%s:%d: [route] inputs differ in size (%dx%d vs %dx%d)", c->name,
                              s->line, in->out_w, in->out_h, l->out_w, l->out_h);
        if (in->out_c % l->groups_route)
            return lt_err_set(err, LT_EFORMAT, "%s:%d: [route] groups=%d does not divide layer %d's %d channels",
                              c->name, s->line, l->groups_route, l->inputs[k], in->out_c);
        l->out_c += in->out_c / l->groups_route;
    }
    return check_keys(c, s, k_ign_route, err);
}

static lt_status parse_shortcut(const cfg *c, section *s, lt_dn_net *net, int i, lt_err *err) {
    lt_dn_layer *l = &net->layers[i];
    opt *o = find(s, "from");
    if (!o) return lt_err_set(err, LT_EFORMAT, "%s:%d: [shortcut] needs from=", c->name, s->line);
    float v[LT_DN_MAX_INPUTS];
    int n;
    LT_TRY(get_list(c, o, true, v, LT_DN_MAX_INPUTS, &n, err));
    if (n != 1)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: [shortcut] with %d inputs is not supported (one)", c->name,
                          s->line, n);
    LT_TRY(resolve(c, s, i, (int)v[0], &l->from, err));
    LT_TRY(get_act(c, s, "linear", &l->act, err));
    opt *wt = find(s, "weights_type");
    if (wt && strcmp(wt->val, "none"))
        return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: weighted [shortcut] (weights_type=%s) is not supported",
                          c->name, wt->line, wt->val);
    find(s, "weights_normalization");
    const lt_dn_layer *f = &net->layers[l->from];
    if (f->out_c != l->c || f->out_h != l->h || f->out_w != l->w)
        return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: [shortcut] adds layer %d (%dx%dx%d) to a %dx%dx%d input; only "
                                                "equal sizes are supported",
                          c->name, s->line, l->from, f->out_c, f->out_h, f->out_w, l->c, l->h, l->w);
    l->out_c = l->c, l->out_h = l->h, l->out_w = l->w;
    return check_keys(c, s, k_ign_none, err);
}

static lt_status parse_yolo(const cfg *c, section *s, lt_dn_net *net, lt_dn_layer *l, lt_err *err) {
    int classes, num;
    LT_TRY(get_int(c, s, "classes", 20, &classes, err));
    LT_TRY(get_int(c, s, "num", 1, &num, err));
    if (classes < 1 || classes > 100000 || num < 1 || num > 64)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [yolo] classes=%d num=%d out of range", c->name, s->line, classes,
                          num);
    float mask[LT_YOLO_MAX_ANCHORS], anchors[128];
    int n_mask = 0, n_anch = 0;
    opt *o = find(s, "mask");
    if (o) LT_TRY(get_list(c, o, true, mask, LT_YOLO_MAX_ANCHORS, &n_mask, err));
    else {
        if (num > LT_YOLO_MAX_ANCHORS)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: [yolo] more than %d anchors", c->name, s->line,
                              LT_YOLO_MAX_ANCHORS);
        for (n_mask = 0; n_mask < num; n_mask++) mask[n_mask] = (float)n_mask;
    }
    o = find(s, "anchors");
    if (!o) return lt_err_set(err, LT_EFORMAT, "%s:%d: [yolo] needs anchors=", c->name, s->line);
    LT_TRY(get_list(c, o, false, anchors, 128, &n_anch, err));
    if (n_anch != 2 * num)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [yolo] num=%d needs %d anchor values, anchors= has %d", c->name,
                          o->line, num, 2 * num, n_anch);
    lt_yolo_head *h = &l->head;
    h->n_anchors = n_mask;
    for (int k = 0; k < n_mask; k++) {
        int m = (int)mask[k];
        if (m < 0 || m >= num)
            return lt_err_set(err, LT_EFORMAT, "%s:%d: [yolo] mask value %d is not an anchor index (num=%d)", c->name,
                              s->line, m, num);
        h->anchors[2 * k] = anchors[2 * m];
        h->anchors[2 * k + 1] = anchors[2 * m + 1];
    }
    h->classes = classes;
    h->net_w = net->w, h->net_h = net->h;
    LT_TRY(get_float(c, s, "scale_x_y", 1.f, &h->scale_x_y, err));
    LT_TRY(get_int(c, s, "new_coords", 0, &h->new_coords, err));
    LT_TRY(get_float(c, s, "beta_nms", 0.6f, &l->beta_nms, err));
    opt *nk = find(s, "nms_kind");
    l->nms_kind = LT_NMS_DEFAULT;
    if (nk) {
        if (!strcmp(nk->val, "greedynms")) l->nms_kind = LT_NMS_GREEDY_DIOU;
        else if (!strcmp(nk->val, "diounms")) l->nms_kind = LT_NMS_DIOU;
        else if (strcmp(nk->val, "default"))
            return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: nms_kind=%s is not supported (default, greedynms, diounms)",
                              c->name, nk->line, nk->val);
    }
    if (l->c != n_mask * (classes + 5))
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [yolo] with %d anchors and %d classes needs %d input channels, the "
                                           "previous layer gives %d",
                          c->name, s->line, n_mask, classes, n_mask * (classes + 5), l->c);
    l->out_c = l->c, l->out_h = l->h, l->out_w = l->w;
    return check_keys(c, s, k_ign_yolo, err);
}

static lt_status parse_layer(const cfg *c, section *s, lt_dn_net *net, int i, lt_err *err) {
    lt_dn_layer *l = &net->layers[i];
    l->line = s->line;
    if (i == 0) l->c = net->c, l->h = net->h, l->w = net->w;
    else l->c = net->layers[i - 1].out_c, l->h = net->layers[i - 1].out_h, l->w = net->layers[i - 1].out_w;
    const char *n = s->name;
    if (!strcmp(n, "convolutional") || !strcmp(n, "conv")) {
        l->type = LT_DN_CONV;
        LT_TRY(parse_conv(c, s, l, err));
    } else if (!strcmp(n, "maxpool") || !strcmp(n, "max")) {
        l->type = LT_DN_MAXPOOL;
        LT_TRY(parse_maxpool(c, s, l, err));
    } else if (!strcmp(n, "avgpool") || !strcmp(n, "avg")) {
        l->type = LT_DN_AVGPOOL;
        l->out_c = l->c, l->out_h = 1, l->out_w = 1;
        LT_TRY(check_keys(c, s, k_ign_none, err));
    } else if (!strcmp(n, "route")) {
        l->type = LT_DN_ROUTE;
        LT_TRY(parse_route(c, s, net, i, err));
    } else if (!strcmp(n, "shortcut")) {
        l->type = LT_DN_SHORTCUT;
        LT_TRY(parse_shortcut(c, s, net, i, err));
    } else if (!strcmp(n, "upsample")) {
        l->type = LT_DN_UPSAMPLE;
        LT_TRY(get_int(c, s, "stride", 2, &l->stride, err));
        LT_TRY(get_float(c, s, "scale", 1.f, &l->scale, err));
        if (l->stride < 1 || l->stride > 64)
            return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: [upsample] stride=%d is not supported (1..64)", c->name,
                              s->line, l->stride);
        l->out_c = l->c, l->out_h = l->h * l->stride, l->out_w = l->w * l->stride;
        LT_TRY(check_keys(c, s, k_ign_none, err));
    } else if (!strcmp(n, "dropout")) {
        l->type = LT_DN_DROPOUT;
        l->out_c = l->c, l->out_h = l->h, l->out_w = l->w;
        LT_TRY(check_keys(c, s, k_ign_dropout, err));
    } else if (!strcmp(n, "yolo")) {
        l->type = LT_DN_YOLO;
        LT_TRY(parse_yolo(c, s, net, l, err));
    } else if (!strcmp(n, "net") || !strcmp(n, "network")) {
        return lt_err_set(err, LT_EFORMAT, "%s:%d: a second [%s] section", c->name, s->line, n);
    } else {
        return lt_err_set(err, LT_EUNSUPPORTED, "%s:%d: unsupported section [%s]", c->name, s->line, n);
    }
    return dims_ok(c, s, l->out_c, l->out_h, l->out_w, err);
}

static lt_status build(cfg *c, lt_dn_net *net, lt_err *err) {
    if (c->n == 0) return lt_err_set(err, LT_EFORMAT, "%s: no sections: not a darknet .cfg", c->name);
    section *s = &c->secs[0];
    if (strcmp(s->name, "net") && strcmp(s->name, "network"))
        return lt_err_set(err, LT_EFORMAT, "%s:%d: the first section must be [net], not [%s]", c->name, s->line,
                          s->name);
    LT_TRY(get_int(c, s, "width", 0, &net->w, err));
    LT_TRY(get_int(c, s, "height", 0, &net->h, err));
    LT_TRY(get_int(c, s, "channels", 0, &net->c, err));
    LT_TRY(get_int(c, s, "letter_box", 0, &net->letter_box, err));
    if (net->w < 1 || net->h < 1 || net->w > MAX_DIM || net->h > MAX_DIM || net->c < 1 || net->c > 4)
        return lt_err_set(err, LT_EFORMAT, "%s:%d: [net] needs width, height (1..%d) and channels (1..4); got %dx%dx%d",
                          c->name, s->line, MAX_DIM, net->w, net->h, net->c);
    LT_TRY(check_keys(c, s, k_ign_net, err));
    net->n = c->n - 1;
    if (net->n == 0) return lt_err_set(err, LT_EFORMAT, "%s: no layers after [net]", c->name);
    net->layers = lt_calloc((size_t)net->n, sizeof *net->layers);
    if (!net->layers) return lt_err_set(err, LT_ENOMEM, "%s: out of memory", c->name);
    for (int i = 0; i < net->n; i++) LT_TRY(parse_layer(c, &c->secs[i + 1], net, i, err));
    return LT_OK;
}

lt_status lt_darknet_parse_text(lt_dn_net **out, const char *text, size_t len, const char *name, lt_err *err) {
    *out = NULL;
    cfg c = {.name = name ? name : "cfg"};
    lt_dn_net *net = lt_calloc(1, sizeof *net);
    if (!net) return lt_err_set(err, LT_ENOMEM, "out of memory");
    lt_status st = cfg_read(&c, text, len, err);
    if (st == LT_OK) st = build(&c, net, err);
    cfg_free(&c);
    if (st != LT_OK) {
        lt_darknet_free(net);
        return st;
    }
    *out = net;
    return LT_OK;
}

lt_status lt_darknet_parse(lt_dn_net **out, const char *path, lt_err *err) {
    char *text;
    size_t len;
    *out = NULL;
    LT_TRY(lt_file_read_all(path, 16u << 20, &text, &len, err));
    lt_status st = lt_darknet_parse_text(out, text, len, path, err);
    lt_free(text);
    return st;
}

void lt_darknet_free(lt_dn_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n; i++) {
        lt_free(net->layers[i].weights);
        lt_free(net->layers[i].biases);
    }
    lt_free(net->layers);
    lt_free(net);
}

/* ---- weights -------------------------------------------------------------------------------- */

static size_t conv_weights(const lt_dn_layer *l) {
    return (size_t)l->filters * (l->c / l->groups) * l->size * l->size;
}

static size_t conv_floats(const lt_dn_layer *l) {
    return (size_t)l->filters * (l->batch_normalize ? 4 : 1) + conv_weights(l);
}

size_t lt_darknet_weights_count(const lt_dn_net *net) {
    size_t n = 0;
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].type == LT_DN_CONV) n += conv_floats(&net->layers[i]);
    return n;
}

static lt_status alloc_conv(lt_dn_layer *l, lt_err *err) {
    lt_free(l->weights);
    lt_free(l->biases);
    l->weights = lt_malloc(conv_weights(l) * sizeof(float));
    l->biases = lt_malloc((size_t)l->filters * sizeof(float));
    if (!l->weights || !l->biases) return lt_err_set(err, LT_ENOMEM, "out of memory for convolution weights");
    return LT_OK;
}

lt_status lt_darknet_load_weights(lt_dn_net *net, const char *path, lt_err *err) {
    void *map;
    size_t size;
    LT_TRY(lt_file_map(path, 16, "a darknet .weights file", &map, &size, err));
    const unsigned char *p = map;
    int32_t hdr[3];
    memcpy(hdr, p, sizeof hdr);
    size_t off = 12;
    uint64_t seen;
    if (hdr[0] < 0 || hdr[1] < 0 || hdr[2] < 0 || hdr[0] > 1000 || hdr[1] > 1000) {
        lt_file_unmap(map, size);
        return lt_err_set(err, LT_EFORMAT, "%s: header version %d.%d.%d: not a darknet .weights file", path, hdr[0],
                          hdr[1], hdr[2]);
    }
    if (size < 12 + (hdr[0] * 10 + hdr[1] >= 2 ? 8u : 4u)) {
        lt_file_unmap(map, size);
        return lt_err_set(err, LT_EFORMAT, "%s: truncated header (%zu bytes)", path, size);
    }
    if (hdr[0] * 10 + hdr[1] >= 2) {
        memcpy(&seen, p + off, 8);
        off += 8;
    } else {
        uint32_t s32;
        memcpy(&s32, p + off, 4);
        seen = s32;
        off += 4;
    }
    size_t need = lt_darknet_weights_count(net), have = (size - off) / 4;
    lt_status st = LT_OK;
    if ((size - off) % 4) {
        st = lt_err_set(err, LT_EFORMAT, "%s: %zu bytes after the header is not a whole number of floats", path,
                        size - off);
    } else if (have < need) {
        size_t acc = 0;
        int li = 0;
        for (; li < net->n; li++) {
            if (net->layers[li].type != LT_DN_CONV) continue;
            if (acc + conv_floats(&net->layers[li]) > have) break;
            acc += conv_floats(&net->layers[li]);
        }
        st = lt_err_set(err, LT_EFORMAT, "%s: truncated: %zu floats, the cfg needs %zu (it runs out in layer %d, cfg "
                                         "line %d)",
                        path, have, need, li, li < net->n ? net->layers[li].line : 0);
    } else if (have > need) {
        st = lt_err_set(err, LT_EFORMAT, "%s: %zu floats, the cfg needs %zu: the weights belong to another cfg", path,
                        have, need);
    }
    const float *f = (const float *)(p + off); /* off is 16 or 20: 4-byte aligned in the mapping */
    for (size_t i = 0; st == LT_OK && i < need; i++)
        if (!isfinite(f[i])) st = lt_err_set(err, LT_EFORMAT, "%s: value %zu is not finite", path, i);
    /* new weights go to fresh buffers and replace the old ones only when all is well */
    float **nw_ = st == LT_OK ? lt_calloc((size_t)net->n * 2, sizeof(float *)) : NULL;
    if (st == LT_OK && !nw_) st = lt_err_set(err, LT_ENOMEM, "out of memory");
    size_t k = 0;
    for (int i = 0; st == LT_OK && i < net->n; i++) {
        lt_dn_layer *l = &net->layers[i];
        if (l->type != LT_DN_CONV) continue;
        size_t nw = conv_weights(l);
        float *W = nw_[2 * i] = lt_malloc(nw * sizeof(float)), *Bs = nw_[2 * i + 1] = lt_malloc(sizeof(float) * l->filters);
        if (!W || !Bs) {
            st = lt_err_set(err, LT_ENOMEM, "out of memory for convolution weights");
            break;
        }
        int nf = l->filters;
        const float *bias = f + k, *scales = NULL, *mean = NULL, *var = NULL;
        k += nf;
        if (l->batch_normalize) {
            scales = f + k, mean = f + k + nf, var = f + k + 2 * nf;
            k += 3 * (size_t)nf;
        }
        size_t per = nw / nf;
        memcpy(W, f + k, nw * sizeof(float));
        k += nw;
        for (int o = 0; o < nf; o++) {
            Bs[o] = bias[o];
            if (!l->batch_normalize) continue;
            if (!(var[o] + .00001 > 0)) {
                st = lt_err_set(err, LT_EFORMAT, "%s: layer %d (cfg line %d): batch-norm variance %g of filter %d is "
                                                 "negative",
                                path, i, l->line, var[o], o);
                break;
            }
            /* darknet's fuse_conv_batchnorm, in the same precision */
            Bs[o] = (float)(bias[o] - (double)scales[o] * mean[o] / (sqrt((double)var[o] + .00001)));
            double pre = scales[o] / (sqrt((double)var[o] + .00001));
            for (size_t j = 0; j < per; j++) W[o * per + j] = (float)(W[o * per + j] * pre);
        }
    }
    lt_file_unmap(map, size);
    if (nw_) {
        for (int i = 0; i < net->n; i++) {
            if (net->layers[i].type != LT_DN_CONV) continue;
            if (st == LT_OK) {
                lt_free(net->layers[i].weights), lt_free(net->layers[i].biases);
                net->layers[i].weights = nw_[2 * i], net->layers[i].biases = nw_[2 * i + 1];
            } else {
                lt_free(nw_[2 * i]), lt_free(nw_[2 * i + 1]);
            }
        }
        lt_free(nw_);
    }
    if (st != LT_OK) return st;
    net->major = hdr[0], net->minor = hdr[1], net->revision = hdr[2], net->seen = seen;
    net->loaded = true;
    return LT_OK;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float unif(uint64_t *s) { return (float)((splitmix(s) >> 40) * (1.0 / 16777216.0)) * 2.f - 1.f; }

lt_status lt_darknet_init_random(lt_dn_net *net, uint64_t seed, lt_err *err) {
    uint64_t s = seed;
    for (int i = 0; i < net->n; i++) {
        lt_dn_layer *l = &net->layers[i];
        if (l->type != LT_DN_CONV) continue;
        LT_TRY(alloc_conv(l, err));
        size_t nw = conv_weights(l), fan_in = nw / l->filters;
        float sc = sqrtf(3.f / (float)fan_in);
        for (size_t j = 0; j < nw; j++) l->weights[j] = unif(&s) * sc;
        for (int o = 0; o < l->filters; o++) l->biases[o] = 0.1f * unif(&s);
    }
    net->loaded = true;
    return LT_OK;
}

size_t lt_darknet_params(const lt_dn_net *net) {
    size_t n = 0;
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].type == LT_DN_CONV) n += conv_weights(&net->layers[i]) + net->layers[i].filters;
    return n;
}

double lt_darknet_flops(const lt_dn_net *net) {
    double f = 0;
    for (int i = 0; i < net->n; i++) {
        const lt_dn_layer *l = &net->layers[i];
        if (l->type == LT_DN_CONV) f += 2.0 * conv_weights(l) * l->out_h * l->out_w;
    }
    return f;
}

/* ---- names ----------------------------------------------------------------------------------- */

lt_status lt_darknet_read_names(const char *path, char ***names, int *n, lt_err *err) {
    char *text;
    size_t len;
    *names = NULL, *n = 0;
    LT_TRY(lt_file_read_all(path, 4u << 20, &text, &len, err));
    int cap = 0, cnt = 0;
    char **v = NULL;
    lt_status st = LT_OK;
    for (size_t pos = 0; pos < len && st == LT_OK;) {
        size_t e = pos;
        while (e < len && text[e] != '\n') e++;
        size_t l = e - pos;
        while (l && (text[pos + l - 1] == '\r' || text[pos + l - 1] == ' ')) l--;
        if (memchr(text + pos, 0, l)) st = lt_err_set(err, LT_EFORMAT, "%s: NUL byte: not a names file", path);
        else if (l) {
            if (cnt == cap) {
                cap = cap ? cap * 2 : 128;
                char **nv = lt_realloc(v, sizeof *nv * cap);
                if (!nv) st = lt_err_set(err, LT_ENOMEM, "out of memory");
                else v = nv;
            }
            if (st == LT_OK && !(v[cnt++] = dup_n(text + pos, l))) st = lt_err_set(err, LT_ENOMEM, "out of memory");
        }
        pos = e + 1;
    }
    lt_free(text);
    if (st == LT_OK && cnt == 0) st = lt_err_set(err, LT_EFORMAT, "%s: no class names", path);
    if (st != LT_OK) {
        lt_darknet_free_names(v, cnt);
        return st;
    }
    *names = v, *n = cnt;
    return LT_OK;
}

void lt_darknet_free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) lt_free(names[i]);
    lt_free(names);
}
