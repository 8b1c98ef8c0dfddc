/* imagine.h - the `imagine` command of the command language (the workbench, `lathe run`,
 * replays): `imagine [-m DIR|NAME] [--steps N] [--scheduler ddim|ddpm|euler] [--seed S]
 * [--class K] [--batch B] [--eta E] [--init-noise FILE] [--experts A:0-499,B:500-999]
 * [--out PNG|DIR] [--preview N]` (the options are core/diffusion/imagine.h's, shared with
 * `lathe imagine`).
 *
 * A model given by path (a diffusers UNet folder) is opened with the session's
 * lt_session_opts.open_denoiser on the device and threads of the session settings and kept
 * as a session object of kind "denoiser", named after its folder ("ddpm-cifar10-32"; a unet/
 * folder takes its parent's name), so later commands (and `--experts`) can name it; `unload
 * NAME` frees it. Without -m the one loaded denoiser is used. Without --seed the session's
 * next generation seed is (as chat's: `set seed`). Each step reports progress ("imagine",
 * step / steps) and every few steps a preview of the x0 prediction goes to the sink's
 * preview; the final image is the last preview. The result's digest is the image's, its
 * seed the seed used; a cancelled run (Esc) reports how many steps it made, and its replay
 * stops after as many.
 */
#ifndef LT_CMD_IMAGINE_H
#define LT_CMD_IMAGINE_H

#include "core/app/session.h"

extern const lt_cmd_table lt_cmd_imagine_table;

#endif
