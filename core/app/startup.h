/* startup.h - what the workbench opens with: the plan (pure: which command lines run, the
 * welcome line, the notice for the status line) and its run through a session.
 *
 * In order: the config file's lines (`set temp 0.3`, `load PATH as x`; errors reported as
 * "config:LINE: message", the rest still runs), the command line's `--device` / `--threads`
 * (as `set` lines), then the model: `-m MODEL` when given, else - only when nothing loaded a
 * language model by then - the default chat model SmolLM2-135M-Instruct from the models
 * folder (core/base/assets.h) as `smollm2`, else the bundled stories260K, else none (the
 * notice says how to load one).
 * Leaves out: reading argv and the file (tui/startup.c), drawing (tui/).
 */
#ifndef LT_STARTUP_H
#define LT_STARTUP_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"

/* What the start-up depends on; every pointer may be NULL. */
typedef struct lt_startup_in {
    const char *assets;      /* the assets folder (lt_assets_dir); NULL when there is none */
    const char *models_dir;  /* the models folder (lt_models_dir) */
    bool have_default;       /* the default chat model (LT_DEFAULT_MODEL_FILE) is in models_dir */
    const char *model;       /* -m MODEL */
    const char *tokenizer;   /* --tokenizer FILE (with -m) */
    const char *device;      /* --device D */
    int threads;             /* --threads N (0: not given) */
    const char *config_text; /* the config file's contents */
    const char *config_error; /* why the config file could not be read (reported as "config: ...") */
} lt_startup_in;

typedef struct lt_startup_step {
    char *line;      /* a command line */
    int config_line; /* > 0: its line number in the config file */
} lt_startup_step;

typedef struct lt_startup {
    lt_startup_step *steps; /* config lines, `set` lines from options, then `load MODEL` for -m */
    int n_steps;
    char *default_line;  /* the default model's `load` (NULL: none); runs only when no language
                          * model is loaded after the steps */
    char welcome[512];   /* the transcript's first line */
    char config_error[LT_ERR_MSG_MAX]; /* in's config_error ("" = none) */
    char notice[1024];   /* when no language model is loaded after the steps: shown in the status
                          * line (the fallback to stories260K, or how to load a model); "" = none */
} lt_startup;

/* The name the default chat model is loaded as. */
#define LT_DEFAULT_MODEL_NAME "smollm2"

/* Plans the start-up from in (pure: no files are read). LT_ENOMEM. */
lt_status lt_startup_plan(lt_startup *out, const lt_startup_in *in, lt_err *err);
void lt_startup_free(lt_startup *p); /* NULL is a no-op */

/* The config file: $LATHE_CONFIG, else $XDG_CONFIG_HOME/lathe/config, else
 * $HOME/.config/lathe/config. LT_ERANGE when it does not fit in cap. */
lt_status lt_startup_config_path(char *path, size_t cap, lt_err *err);

/* Runs the plan through s, sending the commands' output to sink: a failing config line is
 * reported as "config:LINE: message" (LT_TEXT_ERROR) and the next one runs; a failing
 * option or -m line is reported as its message; Esc (lt_session_cancel) or `quit` stops it.
 * Writes the status line to leave in status (*status_err: it reports a failure): the -m or
 * default load's error, else the first config error, else the notice when it applied, else
 * "CMD done in S s" of the last command. Returns the number of lines that failed. */
int lt_startup_run(lt_session *s, const lt_startup *p, lt_sink *sink, char *status, size_t cap, bool *status_err);

#endif
