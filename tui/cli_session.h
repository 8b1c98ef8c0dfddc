/* cli_session.h - the session-based front ends of the lathe binary: the workbench
 * (tui/app.c), `lathe run` and `lathe replay` (tui/cli_session.c), and what they share. */
#ifndef LT_CLI_SESSION_H
#define LT_CLI_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/app/session.h"

/* `lathe` with no arguments: the full-screen workbench. */
int lt_workbench_main(int argc, char **argv);
/* `lathe run SCRIPT|-`: executes command lines, journaled. */
int lt_cli_run(int argc, char **argv);
/* `lathe replay FILE [--check]`. */
int lt_cli_replay(int argc, char **argv);

/* $LATHE_STATE_DIR, else $XDG_STATE_HOME/lathe, else ~/.local/state/lathe. */
const char *lt_cli_state_dir(char *buf, size_t cap);
/* Session options with models/ plugged in (lt_llama_open, synthetic presets,
 * lt_yolo_open_detector, lt_unet_open). */
lt_session_opts lt_cli_session_opts(const char *state_dir, bool journal);
/* Creates a session with those options (journal under state_dir when journal is set) and
 * registers every feature's command table: the one place where a new feature adds its
 * `lt_session_add_commands` line, so the workbench, `lathe run` and `lathe replay` all
 * know its commands. */
lt_status lt_cli_session_create(lt_session **out, const char *state_dir, bool journal, lt_err *err);

#endif
