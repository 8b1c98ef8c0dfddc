/* startup.h - the workbench's command line (`lathe [-m MODEL] [--tokenizer FILE] [--device D]
 * [--threads N] [--no-config]`) and the start-up plan (core/app/startup.h) it makes with the
 * config file and the models and assets folders (core/base/assets.h). */
#ifndef LT_TUI_STARTUP_H
#define LT_TUI_STARTUP_H

#include <stdbool.h>

#include "core/app/startup.h"

typedef struct lt_wb_args {
    const char *model, *tokenizer, *device;
    int threads;
    bool no_config;
} lt_wb_args;

/* Parses the workbench's options (argv[0] is the program). 0: parsed; 1: --help printed the
 * usage (exit 0); 2: an error was printed ("lathe: ..." and the usage; exit 2). */
int lt_wb_parse_args(int argc, char **argv, lt_wb_args *a);
/* Prints the workbench's options (the `lathe --help` section and `lathe -h`'s). */
void lt_wb_usage(FILE *f);
/* Plans the start-up: finds the assets and the default chat model, reads the config file
 * (unless a->no_config). LT_ENOMEM. */
lt_status lt_wb_startup_plan(const lt_wb_args *a, lt_startup *plan, lt_err *err);

#endif
