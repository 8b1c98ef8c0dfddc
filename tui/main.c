/* main.c - the lathe binary: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_session.h"

static void usage(FILE *f) {
    fprintf(f,
            "lathe - a terminal workbench for running and reshaping neural models\n"
            "\n"
            "usage: lathe COMMAND [options]\n"
            "       lathe                    the full-screen workbench (in a terminal)\n"
            "\n"
            "commands:\n"
            "  generate   stream text from a model        lathe generate -m MODEL -p TEXT [-n N]\n"
            "  bench      measure prefill/decode speed    lathe bench -m MODEL | --synthetic llama-1b [--json]\n"
            "  convert    write a model as GGUF           lathe convert IN OUT.gguf [--type q8_0]\n"
            "  detect     find objects in images (YOLO)   lathe detect [-m CFG --weights W] IMAGE... [--json]\n"
            "  run        run command lines (workbench language)  lathe run SCRIPT|-\n"
            "  replay     re-run a session journal and compare    lathe replay FILE [--check]\n"
            "  help       this text\n"
            "\n"
            "`lathe COMMAND --help` lists a command's options. Models: GGUF files, Hugging Face\n"
            "folders (config.json + *.safetensors + tokenizer.json), llama2.c checkpoints.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { /* the workbench needs a terminal; otherwise say how to use lathe */
        if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) return lt_workbench_main(argc, argv);
        usage(stdout);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate") || !strcmp(cmd, "gen")) return lt_cli_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return lt_cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return lt_cli_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "detect")) return lt_cli_detect(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return lt_cli_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "replay")) return lt_cli_replay(argc - 1, argv + 1);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "lathe: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
