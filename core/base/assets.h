/* assets.h - where lathe's bundled assets live (the stories260K language model, the
 * Yolo-Fastest detector and its sample images), and the models cache folder that holds the
 * downloaded default chat model (SmolLM2-135M-Instruct, fetched by tools/fetch-model.sh):
 * one lookup each, which the workbench, the `detect` command, the CLI and the tests share.
 * Leaves out: downloading anything (tools/fetch-model.sh does), asset versions, per-asset
 * search paths (every bundled file lives under the one folder lt_assets_dir finds).
 */
#ifndef LT_ASSETS_H
#define LT_ASSETS_H

#include <stddef.h>

#include "status.h"

/* The assets folder, recognised by models/stories260K.bin inside it; tried in order:
 * $LATHE_ASSETS, ../assets and assets beside the executable (/proc/self/exe), ./assets.
 * Writes its absolute path into dir. LT_ENOTFOUND (saying where it looked) when none holds
 * the model; LT_ERANGE when the path does not fit in cap. */
lt_status lt_assets_dir(char *dir, size_t cap, lt_err *err);

/* The bundled image model: a class-conditional diffusers UNet2DModel drawing 8x8 digits
 * (assets/models/digits-unet, trained by tools/train_digits_unet.py), what `imagine` and
 * `lathe imagine` use without -m. */
#define LT_DEFAULT_DENOISER_DIR "models/digits-unet"

/* The bundled image model's folder (LT_DEFAULT_DENOISER_DIR under lt_assets_dir). LT_OK when
 * it holds model_index.json; LT_ENOTFOUND naming the path (and "give -m DIR") when the assets
 * folder or the model is missing; LT_ERANGE when the path does not fit in cap. */
lt_status lt_default_denoiser_path(char *path, size_t cap, lt_err *err);

/* The default chat model's file name in the models folder (SmolLM2-135M-Instruct, Q4_1 GGUF). */
#define LT_DEFAULT_MODEL_FILE "SmolLM2-135M-Instruct.Q4_1.gguf"

/* The models cache folder: $LATHE_MODELS, else $XDG_CACHE_HOME/lathe/models, else
 * $HOME/.cache/lathe/models (HOME unset: ./.cache/lathe/models). The folder need not exist.
 * LT_ERANGE when the path does not fit in cap. */
lt_status lt_models_dir(char *dir, size_t cap, lt_err *err);

/* The default chat model's path in the models folder (written whether or not the file is
 * there). LT_OK when it is a regular file; LT_ENOTFOUND ("SmolLM2 not found in DIR - run
 * tools/fetch-model.sh") when it is not; LT_ERANGE when the path does not fit in cap. */
lt_status lt_default_model_path(char *path, size_t cap, lt_err *err);

#endif
