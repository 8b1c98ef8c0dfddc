/* startup.c - see startup.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/alloc.h"
#include "core/base/assets.h"
#include "core/base/fileio.h"
#include "core/base/opts.h"
#include "core/app/settings.h"
#include "startup.h"

static void opts_of(lt_wb_args *a, lt_opt *o) {
    lt_opt t[] = {
        {"--model", "-m", LT_OPT_STR, &a->model, "open the workbench on this model instead of the default"},
        {"--tokenizer", NULL, LT_OPT_STR, &a->tokenizer, "its tokenizer file (llama2.c models)"},
        {"--device", NULL, LT_OPT_STR, &a->device, "initial device setting: auto, cpu or cuda"},
        {"--threads", "-t", LT_OPT_INT, &a->threads, "initial CPU threads (default: all cores)", 1, 1024},
        {"--no-config", NULL, LT_OPT_FLAG, &a->no_config, "skip the config file"},
        {0},
    };
    memcpy(o, t, sizeof t);
}

void lt_wb_usage(FILE *f) {
    lt_wb_args a = {0};
    lt_opt o[6];
    opts_of(&a, o);
    char buf[2048];
    lt_opts_usage(o, buf, sizeof buf);
    fprintf(f,
            "usage: lathe [-m MODEL] [--tokenizer FILE] [--device D] [--threads N] [--no-config]\n"
            "  the full-screen workbench (in a terminal), on SmolLM2-135M-Instruct from the models\n"
            "  folder ($LATHE_MODELS, default ~/.cache/lathe/models; tools/fetch-model.sh fetches it),\n"
            "  else the bundled stories260K. The config file ($LATHE_CONFIG, default\n"
            "  ~/.config/lathe/config) holds command lines run first (`set temp 0.3`, `load PATH as x`).\n"
            "\noptions:\n%s",
            buf);
}

int lt_wb_parse_args(int argc, char **argv, lt_wb_args *a) {
    memset(a, 0, sizeof *a);
    lt_opt o[6];
    opts_of(a, o);
    bool help = false;
    int n_pos = 0;
    lt_err err = {0};
    if (lt_opts_parse("lathe", o, argc, argv, 1, NULL, 0, &n_pos, &help, &err) != LT_OK) {
        fprintf(stderr, "%s\n\n", err.msg);
        lt_wb_usage(stderr);
        return 2;
    }
    if (help) {
        lt_wb_usage(stdout);
        return 1;
    }
    lt_settings t = lt_settings_defaults(NULL, 0); /* --device is checked as `set device` would */
    if (a->device && lt_settings_apply(&t, "device", a->device, &err) != LT_OK) {
        fprintf(stderr, "lathe --device: %s\n", err.msg);
        return 2;
    }
    if (a->tokenizer && !a->model) {
        fprintf(stderr, "lathe: --tokenizer needs -m MODEL\n\n");
        lt_wb_usage(stderr);
        return 2;
    }
    return 0;
}

lt_status lt_wb_startup_plan(const lt_wb_args *a, lt_startup *plan, lt_err *err) {
    char assets[4096], models[4096], smol[4200], cfg[4096], why[LT_ERR_MSG_MAX] = "";
    lt_err e = {0};
    lt_startup_in in = {.model = a->model, .tokenizer = a->tokenizer, .device = a->device, .threads = a->threads};
    if (lt_assets_dir(assets, sizeof assets, &e) == LT_OK) in.assets = assets;
    if (lt_models_dir(models, sizeof models, &e) == LT_OK) in.models_dir = models;
    in.have_default = lt_default_model_path(smol, sizeof smol, &e) == LT_OK;
    char *text = NULL;
    size_t len;
    struct stat st;
    if (a->no_config) {
    } else if (lt_startup_config_path(cfg, sizeof cfg, &e) != LT_OK) {
        snprintf(why, sizeof why, "%s", e.msg);
    } else if (stat(cfg, &st) != 0) { /* no config file: nothing to run, unless LATHE_CONFIG named it */
        const char *env = getenv("LATHE_CONFIG");
        if (errno != ENOENT || (env && env[0])) snprintf(why, sizeof why, "%.400s: %s", cfg, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "%.400s: not a regular file", cfg);
    } else if (lt_file_read_all(cfg, 1 << 20, &text, &len, &e) != LT_OK) {
        snprintf(why, sizeof why, "%s", e.msg);
    }
    in.config_text = text;
    in.config_error = why[0] ? why : NULL;
    lt_status s = lt_startup_plan(plan, &in, err);
    lt_free(text);
    return s;
}
