/* detect.h - the `detect` command family of the command language (the workbench, `lathe run`,
 * replays): `detect IMAGE [--model CFG] [--weights W] [--names N] [--thresh T] [--nms N]
 * [--tile N] [--overlap F] [--out PNG]`.
 *
 * The command prints one line per detection, optionally writes the annotated PNG, records
 * the detections' digest, and sends the annotated image with one line per detection to the
 * sink's preview (lt_sink_preview), so a front end shows it without knowing the command.
 * The detector is loaded on first use as the session object "detector" (kind "detector") on
 * the device and threads of the session settings, and reused by later commands until
 * `unload detector`.
 * Leaves out: drawing in a terminal (front ends do that from the preview), several images
 * per command (`lathe detect` takes many).
 */
#ifndef LT_CMD_DETECT_H
#define LT_CMD_DETECT_H

#include "core/app/session.h"
#include "core/vision/detector.h"

/* The command table (one of lt_cmd_builtin). It opens detectors with the session's
 * lt_session_opts.open_detector; without one, `detect` fails with "no detector opener". */
extern const lt_cmd_table lt_cmd_detect_table;

#endif
