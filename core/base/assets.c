/* assets.c - see assets.h. */
#include "assets.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

lt_status lt_assets_dir(char *dir, size_t cap, lt_err *err) {
    char cand[4][4200];
    int n = 0;
    const char *env = getenv("LATHE_ASSETS");
    if (env && env[0]) snprintf(cand[n++], sizeof cand[0], "%.4000s", env);
    char exe[4000];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *sl = strrchr(exe, '/');
        if (sl) *sl = 0;
        snprintf(cand[n++], sizeof cand[0], "%s/../assets", exe);
        snprintf(cand[n++], sizeof cand[0], "%s/assets", exe);
    }
    snprintf(cand[n++], sizeof cand[0], "assets");
    for (int i = 0; i < n; i++) {
        char m[4300];
        snprintf(m, sizeof m, "%.4000s/models/stories260K.bin", cand[i]);
        if (!is_file(m)) continue;
        char *r = realpath(cand[i], NULL);
        int len = snprintf(dir, cap, "%s", r ? r : cand[i]);
        free(r);
        if (len < 0 || (size_t)len >= cap)
            return lt_err_set(err, LT_ERANGE, "the assets folder's path does not fit in %zu bytes", cap);
        return LT_OK;
    }
    return lt_err_set(err, LT_ENOTFOUND,
                      "cannot find the bundled model (assets/models/stories260K.bin); looked in $LATHE_ASSETS, "
                      "../assets and assets beside the executable, and ./assets. Set "
                      "LATHE_ASSETS=/path/to/lathe/assets.");
}

lt_status lt_default_denoiser_path(char *path, size_t cap, lt_err *err) {
    char dir[4096];
    lt_err e = {0};
    if (lt_assets_dir(dir, sizeof dir, &e) != LT_OK)
        return lt_err_set(err, e.code, "no bundled image model (%s) - give -m DIR (a diffusers UNet folder)", e.msg);
    int len = snprintf(path, cap, "%s/%s", dir, LT_DEFAULT_DENOISER_DIR);
    if (len < 0 || (size_t)len >= cap)
        return lt_err_set(err, LT_ERANGE, "the bundled image model's path does not fit in %zu bytes", cap);
    char idx[4200];
    snprintf(idx, sizeof idx, "%.4096s/model_index.json", path);
    if (!is_file(idx))
        return lt_err_set(err, LT_ENOTFOUND,
                          "the bundled image model is missing: no %s - give -m DIR (a diffusers UNet folder)", idx);
    return LT_OK;
}

lt_status lt_models_dir(char *dir, size_t cap, lt_err *err) {
    const char *env = getenv("LATHE_MODELS"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int len;
    if (env && env[0]) len = snprintf(dir, cap, "%s", env);
    else if (xdg && xdg[0]) len = snprintf(dir, cap, "%s/lathe/models", xdg);
    else len = snprintf(dir, cap, "%s/.cache/lathe/models", home && home[0] ? home : ".");
    if (len < 0 || (size_t)len >= cap)
        return lt_err_set(err, LT_ERANGE, "the models folder's path does not fit in %zu bytes", cap);
    return LT_OK;
}

lt_status lt_default_model_path(char *path, size_t cap, lt_err *err) {
    char dir[4096];
    LT_TRY(lt_models_dir(dir, sizeof dir, err));
    int len = snprintf(path, cap, "%s/%s", dir, LT_DEFAULT_MODEL_FILE);
    if (len < 0 || (size_t)len >= cap)
        return lt_err_set(err, LT_ERANGE, "the default model's path does not fit in %zu bytes", cap);
    if (!is_file(path))
        return lt_err_set(err, LT_ENOTFOUND, "SmolLM2 not found in %s - run tools/fetch-model.sh", dir);
    return LT_OK;
}
