/* diffusers.c - finding a diffusers folder's files, and the UNet2DModel config (diffusers.h). */
#include "diffusers.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool join(char *out, const char *dir, const char *name) {
    int n = snprintf(out, LT_DIFFUSERS_PATH_MAX, "%s/%s", dir, name);
    return n > 0 && n < LT_DIFFUSERS_PATH_MAX;
}

/* Fills the UNet files of a component folder; false when it has no config.json. */
static lt_status component(const char *dir, lt_diffusers_paths *o, lt_err *err) {
    if (!join(o->unet_config, dir, "config.json") || !join(o->unet_weights, dir, "diffusion_pytorch_model.safetensors"))
        return lt_err_set(err, LT_EINVAL, "%s: path too long", dir);
    if (!is_file(o->unet_config))
        return lt_err_set(err, LT_ENOTFOUND, "%s: not a diffusers folder (no model_index.json, no config.json)", dir);
    if (!is_file(o->unet_weights)) {
        char bin[LT_DIFFUSERS_PATH_MAX];
        if (join(bin, dir, "diffusion_pytorch_model.bin") && is_file(bin))
            return lt_err_set(err, LT_EUNSUPPORTED,
                              "%s: the weights are a PyTorch pickle (diffusion_pytorch_model.bin); lathe reads "
                              "safetensors only - convert with diffusers' save_pretrained(safe_serialization=True)",
                              dir);
        return lt_err_set(err, LT_ENOTFOUND, "%s: no diffusion_pytorch_model.safetensors", dir);
    }
    return LT_OK;
}

lt_status lt_diffusers_locate(const char *dir, lt_diffusers_paths *out, lt_err *err) {
    if (!dir || !out) return lt_err_set(err, LT_EINVAL, "diffusers: missing folder");
    memset(out, 0, sizeof *out);
    if (!is_dir(dir)) return lt_err_set(err, LT_ENOTFOUND, "%s: not a folder", dir);
    char p[LT_DIFFUSERS_PATH_MAX];
    if (!join(p, dir, "model_index.json")) return lt_err_set(err, LT_EINVAL, "%s: path too long", dir);
    if (is_file(p)) {
        out->pipeline = true;
        char unet[LT_DIFFUSERS_PATH_MAX];
        if (!join(unet, dir, "unet")) return lt_err_set(err, LT_EINVAL, "%s: path too long", dir);
        if (!is_dir(unet))
            return lt_err_set(err, LT_ENOTFOUND, "%s: a diffusers pipeline without a unet/ folder", dir);
        lt_status st = component(unet, out, err);
        if (st) return st;
        if (join(p, dir, "scheduler/scheduler_config.json") && is_file(p)) strcpy(out->scheduler, p);
        return LT_OK;
    }
    lt_status st = component(dir, out, err);
    if (st) return st;
    if (join(p, dir, "scheduler_config.json") && is_file(p))
        strcpy(out->scheduler, p);
    else if (join(p, dir, "../scheduler/scheduler_config.json") && is_file(p))
        strcpy(out->scheduler, p);
    return LT_OK;
}

bool lt_diffusers_is_folder(const char *dir) {
    char p[LT_DIFFUSERS_PATH_MAX];
    if (!dir || !is_dir(dir)) return false;
    if (join(p, dir, "model_index.json") && is_file(p)) return true;
    return join(p, dir, "config.json") && is_file(p) && join(p, dir, "diffusion_pytorch_model.safetensors") &&
           is_file(p);
}

/* ---- the UNet2DModel config ---------------------------------------------------------------------- */

typedef struct cfgp {
    const cJSON *o;
    const char *path;
    lt_err *err;
} cfgp;

static const cJSON *key(const cfgp *c, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->o, k);
    return cJSON_IsNull(v) ? NULL : v;
}

/* An integer key: *out keeps its default when the key is absent or null. */
static lt_status get_int(const cfgp *c, const char *k, int lo, int hi, int *out) {
    const cJSON *v = key(c, k);
    if (!v) return LT_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return lt_err_set(c->err, LT_EFORMAT, "%s: \"%s\" must be an integer in %d..%d", c->path, k, lo, hi);
    *out = (int)v->valuedouble;
    return LT_OK;
}

static lt_status get_num(const cfgp *c, const char *k, double lo, double hi, float *out) {
    const cJSON *v = key(c, k);
    if (!v) return LT_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return lt_err_set(c->err, LT_EFORMAT, "%s: \"%s\" must be a number in %g..%g", c->path, k, lo, hi);
    *out = (float)v->valuedouble;
    return LT_OK;
}

static lt_status get_bool(const cfgp *c, const char *k, bool *out) {
    const cJSON *v = key(c, k);
    if (!v) return LT_OK;
    if (!cJSON_IsBool(v)) return lt_err_set(c->err, LT_EFORMAT, "%s: \"%s\" must be true or false", c->path, k);
    *out = cJSON_IsTrue(v);
    return LT_OK;
}

/* A string key that must be one of the allowed values (a NULL-terminated list); *idx is its index,
 * unchanged when absent. A value outside the list is LT_EUNSUPPORTED naming it. */
static lt_status get_enum(const cfgp *c, const char *k, const char *const *allowed, int *idx) {
    const cJSON *v = key(c, k);
    if (!v) return LT_OK;
    if (!cJSON_IsString(v)) return lt_err_set(c->err, LT_EFORMAT, "%s: \"%s\" must be a string", c->path, k);
    for (int i = 0; allowed[i]; i++)
        if (strcmp(v->valuestring, allowed[i]) == 0) return (*idx = i), LT_OK;
    char list[256] = "";
    for (int i = 0; allowed[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", allowed[i]);
    return lt_err_set(c->err, LT_EUNSUPPORTED, "%s: %s \"%s\" is not implemented (lathe has: %s)", c->path, k,
                      v->valuestring, list);
}

/* Block types: "X" + "Attn" variants; returns the level count or a status via *st. */
static lt_status get_blocks(const cfgp *c, const char *k, const char *plain, const char *attn, bool *is_attn,
                            int *n) {
    const cJSON *v = key(c, k);
    if (!v) return LT_OK; /* the caller fills diffusers' default */
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > LT_UNET_MAX_LEVELS)
        return lt_err_set(c->err, LT_EFORMAT, "%s: \"%s\" must be a list of 1 to %d block types", c->path, k,
                          LT_UNET_MAX_LEVELS);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e)) return lt_err_set(c->err, LT_EFORMAT, "%s: \"%s\" holds a non-string", c->path, k);
        const char *t = e->valuestring;
        if (strncmp(t, "UNetRes", 7) == 0) t += 7; /* get_down_block / get_up_block strip it */
        if (strcmp(t, plain) == 0) is_attn[i] = false;
        else if (strcmp(t, attn) == 0) is_attn[i] = true;
        else
            return lt_err_set(c->err, LT_EUNSUPPORTED, "%s: %s: block type \"%s\" is not implemented (lathe has %s and %s)",
                              c->path, k, e->valuestring, plain, attn);
        i++;
    }
    *n = i;
    return LT_OK;
}

/* Keys of other UNets (UNet2DConditionModel, score-SDE variants) that change the math. */
static const char *const k_unimplemented[] = {
    "cross_attention_dim", "encoder_hid_dim", "addition_embed_type", "time_cond_proj_dim", "conv_in_kernel",
    "conv_out_kernel", "projection_class_embeddings_input_dim", "class_embeddings_concat", "resnet_skip_time_act",
    "resnet_out_scale_factor", "time_embedding_act_fn", "timestep_post_act", "num_attention_heads",
    "transformer_layers_per_block", "only_cross_attention", "dual_cross_attention", "use_linear_projection",
    "upcast_attention", "attention_type", "mid_block_only_cross_attention", NULL};

static lt_status parse(const cfgp *c, lt_unet_config *u) {
    const cJSON *cls = key(c, "_class_name");
    if (cls && (!cJSON_IsString(cls) || strcmp(cls->valuestring, "UNet2DModel") != 0))
        return lt_err_set(c->err, LT_EUNSUPPORTED, "%s: _class_name \"%s\" is not implemented (lathe runs UNet2DModel)",
                          c->path, cJSON_IsString(cls) ? cls->valuestring : "?");
    for (int i = 0; k_unimplemented[i]; i++)
        if (key(c, k_unimplemented[i]))
            return lt_err_set(c->err, LT_EUNSUPPORTED, "%s: key \"%s\" (of another UNet class) is not implemented",
                              c->path, k_unimplemented[i]);
    /* diffusers' defaults (UNet2DModel.__init__) */
    static const int def_out[4] = {224, 448, 672, 896};
    *u = (lt_unet_config){.in_channels = 3, .out_channels = 3, .flip_sin_to_cos = true, .n_levels = 4,
                          .layers_per_block = 2, .mid_block = true, .mid_block_scale_factor = 1,
                          .downsample_padding = 1, .attention_head_dim = 8, .norm_num_groups = 32, .norm_eps = 1e-5f,
                          .add_attention = true};
    memcpy(u->block_out, def_out, sizeof def_out);
    u->down_attn[1] = u->down_attn[2] = u->down_attn[3] = true;
    u->up_attn[0] = u->up_attn[1] = u->up_attn[2] = true;

    const cJSON *ss = key(c, "sample_size"), *s_h = ss, *s_w = ss;
    if (cJSON_IsArray(ss) && cJSON_GetArraySize(ss) == 2) s_h = cJSON_GetArrayItem(ss, 0), s_w = cJSON_GetArrayItem(ss, 1);
    if (!cJSON_IsNumber(s_h) || !cJSON_IsNumber(s_w))
        return lt_err_set(c->err, LT_EFORMAT, "%s: \"sample_size\" must be an integer or [height, width]", c->path);
    /* checked as doubles: a huge value converted to int first would be undefined behaviour */
    double hd = s_h->valuedouble, wd = s_w->valuedouble;
    if (!(hd >= 1 && hd <= 8192 && wd >= 1 && wd <= 8192) || hd != floor(hd) || wd != floor(wd))
        return lt_err_set(c->err, LT_EFORMAT, "%s: sample_size %gx%g is not two integers in 1..8192", c->path, hd, wd);
    u->sample_h = (int)hd, u->sample_w = (int)wd;
    LT_TRY(get_int(c, "in_channels", 1, 4096, &u->in_channels));
    LT_TRY(get_int(c, "out_channels", 1, 4096, &u->out_channels));
    LT_TRY(get_bool(c, "center_input_sample", &u->center_input_sample));
    static const char *const times[] = {"positional", "fourier", "learned", NULL};
    int tt = 0;
    LT_TRY(get_enum(c, "time_embedding_type", times, &tt));
    u->time_type = (lt_unet_time_type)tt;
    LT_TRY(get_num(c, "freq_shift", -1e6, 1e6, &u->freq_shift));
    LT_TRY(get_bool(c, "flip_sin_to_cos", &u->flip_sin_to_cos));

    const cJSON *bo = key(c, "block_out_channels");
    if (bo) {
        if (!cJSON_IsArray(bo) || cJSON_GetArraySize(bo) < 1 || cJSON_GetArraySize(bo) > LT_UNET_MAX_LEVELS)
            return lt_err_set(c->err, LT_EFORMAT, "%s: \"block_out_channels\" must be a list of 1 to %d widths",
                              c->path, LT_UNET_MAX_LEVELS);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, bo) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 1 || e->valuedouble > 65536 ||
                e->valuedouble != floor(e->valuedouble))
                return lt_err_set(c->err, LT_EFORMAT, "%s: \"block_out_channels\" holds a bad width", c->path);
            u->block_out[i++] = (int)e->valuedouble;
        }
        u->n_levels = i;
    }
    int nd = 4, nu = 4;
    LT_TRY(get_blocks(c, "down_block_types", "DownBlock2D", "AttnDownBlock2D", u->down_attn, &nd));
    LT_TRY(get_blocks(c, "up_block_types", "UpBlock2D", "AttnUpBlock2D", u->up_attn, &nu));
    if (nd != nu || nd != u->n_levels)
        return lt_err_set(c->err, LT_EFORMAT,
                          "%s: %d down blocks, %d up blocks and %d block_out_channels (they must be equal)", c->path,
                          nd, nu, u->n_levels);
    static const char *const mids[] = {"UNetMidBlock2D", NULL};
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(c->o, "mid_block_type");
    if (cJSON_IsNull(mb)) u->mid_block = false;
    int mi = 0;
    LT_TRY(get_enum(c, "mid_block_type", mids, &mi));
    LT_TRY(get_int(c, "layers_per_block", 1, 64, &u->layers_per_block));
    LT_TRY(get_num(c, "mid_block_scale_factor", 1e-6, 1e6, &u->mid_block_scale_factor));
    LT_TRY(get_int(c, "downsample_padding", 0, 1, &u->downsample_padding));
    static const char *const conv_only[] = {"conv", NULL};
    int dummy = 0;
    LT_TRY(get_enum(c, "downsample_type", conv_only, &dummy));
    LT_TRY(get_enum(c, "upsample_type", conv_only, &dummy));
    static const char *const acts[] = {"silu", "swish", NULL};
    LT_TRY(get_enum(c, "act_fn", acts, &dummy));
    const cJSON *ahd = cJSON_GetObjectItemCaseSensitive(c->o, "attention_head_dim");
    if (cJSON_IsNull(ahd)) u->attention_head_dim = 0;
    LT_TRY(get_int(c, "attention_head_dim", 1, 65536, &u->attention_head_dim));
    LT_TRY(get_int(c, "norm_num_groups", 1, 65536, &u->norm_num_groups));
    LT_TRY(get_int(c, "attn_norm_num_groups", 1, 65536, &u->attn_norm_num_groups));
    LT_TRY(get_num(c, "norm_eps", 0, 1, &u->norm_eps));
    static const char *const shifts[] = {"default", "scale_shift", NULL};
    int sh = 0;
    LT_TRY(get_enum(c, "resnet_time_scale_shift", shifts, &sh));
    u->scale_shift = sh == 1;
    LT_TRY(get_bool(c, "add_attention", &u->add_attention));
    LT_TRY(get_int(c, "num_train_timesteps", 1, 1 << 24, &u->num_train_timesteps));
    LT_TRY(get_int(c, "num_class_embeds", 1, 1 << 24, &u->num_class_embeds));
    const cJSON *cet = key(c, "class_embed_type");
    if (cet)
        return lt_err_set(c->err, LT_EUNSUPPORTED,
                          "%s: class_embed_type \"%s\" is not implemented (lathe has class tables: num_class_embeds "
                          "with class_embed_type null)",
                          c->path, cJSON_IsString(cet) ? cet->valuestring : "?");
    if (u->num_class_embeds > 0) u->class_type = LT_UNET_CLASS_TABLE;
    u->time_embed_dim = 4 * u->block_out[0];
    LT_TRY(get_int(c, "time_embedding_dim", 1, 1 << 20, &u->time_embed_dim));

    /* the shapes the forward needs */
    if (u->time_type == LT_UNET_TIME_POSITIONAL && u->block_out[0] % 2)
        return lt_err_set(c->err, LT_EUNSUPPORTED, "%s: an odd block_out_channels[0] (%d) pads the sinusoid; not implemented",
                          c->path, u->block_out[0]);
    if (u->time_type == LT_UNET_TIME_LEARNED && u->num_train_timesteps == 0)
        return lt_err_set(c->err, LT_EFORMAT, "%s: a learned time embedding needs num_train_timesteps", c->path);
    if (u->time_type == LT_UNET_TIME_POSITIONAL && u->block_out[0] / 2 - u->freq_shift == 0)
        return lt_err_set(c->err, LT_EFORMAT, "%s: freq_shift %g divides by zero", c->path, (double)u->freq_shift);
    int div = 1 << (u->n_levels - 1);
    if (u->sample_h % div || u->sample_w % div)
        return lt_err_set(c->err, LT_EFORMAT, "%s: sample_size %dx%d is not a multiple of %d (%d levels)", c->path,
                          u->sample_h, u->sample_w, div, u->n_levels);
    for (int i = 0; i < u->n_levels; i++) {
        int ch = u->block_out[i];
        if (ch % u->norm_num_groups)
            return lt_err_set(c->err, LT_EFORMAT, "%s: block_out_channels[%d] = %d does not divide into %d groups",
                              c->path, i, ch, u->norm_num_groups);
        if (u->attention_head_dim && ch % u->attention_head_dim && (u->down_attn[i] || u->up_attn[i] || u->mid_block))
            return lt_err_set(c->err, LT_EFORMAT, "%s: block_out_channels[%d] = %d is not a multiple of attention_head_dim %d",
                              c->path, i, ch, u->attention_head_dim);
        if (u->attn_norm_num_groups && ch % u->attn_norm_num_groups)
            return lt_err_set(c->err, LT_EFORMAT, "%s: block_out_channels[%d] = %d does not divide into %d attention groups",
                              c->path, i, ch, u->attn_norm_num_groups);
    }
    return LT_OK;
}

lt_status lt_unet_config_parse(const char *json, size_t len, const char *path, lt_unet_config *out, lt_err *err) {
    if (!json || !out) return lt_err_set(err, LT_EINVAL, "unet config: missing text");
    path = path ? path : "config.json";
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return lt_err_set(err, LT_EFORMAT, "%s: not a JSON object", path);
    }
    cfgp c = {o, path, err};
    lt_status st = parse(&c, out);
    cJSON_Delete(o);
    return st;
}

lt_status lt_diffusers_sched_timesteps(const char *json, size_t len, const char *path, int *out, lt_err *err) {
    if (!json || !out) return lt_err_set(err, LT_EINVAL, "scheduler config: missing text");
    path = path ? path : "scheduler_config.json";
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return lt_err_set(err, LT_EFORMAT, "%s: not a JSON object", path);
    }
    *out = 1000;
    cfgp c = {o, path, err};
    lt_status st = get_int(&c, "num_train_timesteps", 1, 1 << 24, out);
    cJSON_Delete(o);
    return st;
}
