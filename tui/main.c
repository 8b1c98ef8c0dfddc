/* main.c - the lathe binary: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "lathe - a terminal workbench for running and reshaping neural models\n"
            "\n"
            "usage: lathe COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  generate   stream text from a model        lathe generate -m MODEL -p TEXT [-n N]\n"
            "  bench      measure prefill/decode speed    lathe bench -m MODEL | --synthetic llama-1b [--json]\n"
            "  convert    write a model as GGUF           lathe convert IN OUT.gguf [--type q8_0]\n"
            "  help       this text\n"
            "\n"
            "`lathe COMMAND --help` lists a command's options. Models: GGUF files, Hugging Face\n"
            "folders (config.json + *.safetensors + tokenizer.json), llama2.c checkpoints.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stdout);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate") || !strcmp(cmd, "gen")) return lt_cli_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return lt_cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return lt_cli_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "lathe: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
