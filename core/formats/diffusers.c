/* diffusers.c - finding a diffusers folder's files (diffusers.h). */
#include "diffusers.h"

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
