/* cmd_detect.h - the workbench's `detect` command (tui/cmd_detect.c) and what a front end
 * needs to preview its result: the last annotated image and its detections.
 */
#ifndef LT_CMD_DETECT_H
#define LT_CMD_DETECT_H

#include <stdbool.h>

#include "core/app/session.h"
#include "models/yolo.h"

/* The command table: `detect IMAGE [--model CFG] [--weights W] [--names N] [--thresh T]
 * [--nms N] [--tile N] [--overlap F] [--out PNG]`. Register with lt_session_add_commands. */
extern const lt_cmd_table lt_cmd_detect_table;

/* The result of the session's last successful `detect`: the image with boxes drawn (planar
 * float RGB, see core/image.h; lt_image_to_rgb8 gives bytes), its detections, and the class
 * names (may be NULL). Pointers stay valid until the next `detect` or `unload detector`.
 * False when nothing was detected yet. Call from the thread that runs commands. */
bool lt_detect_preview(lt_session *s, const lt_image **img, const lt_detection **dets, int *n,
                       char *const **names, int *n_names);

#endif
