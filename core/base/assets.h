/* assets.h - where lathe's bundled assets live (the stories260K language model, the
 * Yolo-Fastest detector and its sample images): one lookup that the workbench, the `detect`
 * command and the CLI share.
 * Leaves out: downloading anything, asset versions, per-asset search paths (every bundled
 * file lives under the one folder this finds).
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

#endif
