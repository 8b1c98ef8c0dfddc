/* main.c - the lathe binary: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_session.h"
#include "startup.h"
#include "core/base/assets.h"
#include "core/backend/backend.h"

#ifndef LT_VERSION /* set by CMake from the project version and the build type */
#define LT_VERSION "unknown"
#endif
#ifndef LT_BUILD_TYPE
#define LT_BUILD_TYPE "unknown"
#endif

static void usage(FILE *f) {
    fprintf(f,
            "lathe - a terminal workbench for running and reshaping neural models\n"
            "\n"
            "usage: lathe COMMAND [options]\n"
            "       lathe [-m MODEL] [--tokenizer FILE] [--device D] [--threads N] [--no-config]\n"
            "                                the full-screen workbench (in a terminal)\n"
            "\n"
            "commands:\n"
            "  chat       chat with a model, line by line lathe chat -m MODEL [--system TEXT] [--temp T]\n"
            "  generate   stream text from a model        lathe generate -m MODEL -p TEXT [-n N]\n"
            "  serve      an OpenAI-compatible HTTP server  lathe serve -m MODEL [--port 8080] [--api-key KEY]\n"
            "  tokenize   a text's token ids and pieces   lathe tokenize -m MODEL -p TEXT [--json] [--no-bos]\n"
            "  bench      measure prefill/decode speed    lathe bench -m MODEL | --synthetic llama-1b [--json]\n"
            "  bench serve  many requests, Sarathi-Serve scheduling  lathe bench serve -m MODEL --requests N --rate R\n"
            "  convert    write a model as GGUF           lathe convert IN OUT.gguf [--type q8_0]\n"
            "  quantize   llama-quantize's mixes          lathe quantize IN OUT.gguf Q4_K_M\n"
            "  compress   GPTQ / round-to-nearest to GGUF lathe compress -m IN -o OUT.gguf --method gptq --sym\n"
            "  detect     find objects in images (YOLO)   lathe detect [-m CFG --weights W] IMAGE... [--json]\n"
            "  imagine    images from a diffusion UNet    lathe imagine [-m DIR] [--class K] [--seed S] --out PNG\n"
            "  eval ppl   perplexity on a text file       lathe eval ppl -m MODEL -f TEXT [--kld BASE] [--json]\n"
            "  run        run command lines (workbench language)  lathe run SCRIPT|-\n"
            "  replay     re-run a session journal and compare    lathe replay FILE [--check|--report-only]\n"
            "  help       this text\n"
            "  --version  the version, the build, and whether the CUDA module loads (and why not)\n"
            "\n"
            "`lathe COMMAND --help` lists a command's options. Models: GGUF files, Hugging Face\n"
            "folders (config.json + *.safetensors + tokenizer.json), llama2.c checkpoints.\n"
            "\n"
            "The workbench opens on MODEL (-m), else on the default chat model SmolLM2-135M-Instruct\n"
            "from the models folder ($LATHE_MODELS, default ${XDG_CACHE_HOME:-~/.cache}/lathe/models;\n"
            "tools/fetch-model.sh fetches it), else on the bundled stories260K ($LATHE_ASSETS).\n"
            "First it runs the command lines of the config file ($LATHE_CONFIG, default\n"
            "${XDG_CONFIG_HOME:-~/.config}/lathe/config; --no-config skips it), e.g. `set temp 0.3`;\n"
            "when they load a language model, the default one is not loaded.\n"
            "\n"
            "Exit codes: 0 ok, 1 failure, 2 usage (bad option or argument), 130 interrupted (Ctrl-C).\n");
}

/* lathe --version: the version, the build, the backends compiled in, and the CUDA module's state (loading it, so a
 * missing or broken module is named here). Always exits 0: it reports, it does not judge. */
static int version(void) {
    char st[2048];
    lt_backend_cuda_status(true, st, sizeof st);
    printf("lathe %s\n", LT_VERSION);
    printf("build: %s, %s\n", LT_BUILD_TYPE,
           lt_backend_cuda_built() ? "CUDA module built (liblathe-cuda.so)"
                                   : "CPU only: no CUDA module built (configure with -DLATHE_CUDA=ON where nvcc is installed)");
    lt_module_state ms = lt_backend_cuda_status(false, NULL, 0);
    printf("backends: cpu%s\n", !lt_backend_cuda_built()         ? ""
                                 : ms == LT_MODULE_READY           ? ", cuda"
                                                                   : ", cuda (module built, not usable here)");
    printf("cuda: %s\n", st);
    char dir[4096], path[4200];
    lt_err err = {0};
    if (lt_models_dir(dir, sizeof dir, &err) == LT_OK) printf("models: %s\n", dir);
    lt_status found = lt_default_model_path(path, sizeof path, &err);
    printf("default model: %s\n", found == LT_OK ? path : err.msg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { /* the workbench needs a terminal; otherwise say how to use lathe */
        if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) return lt_workbench_main(argc, argv);
        usage(stdout);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate") || !strcmp(cmd, "gen")) return lt_cli_generate(argc - 1, argv + 1);
    if (!strcmp(cmd, "chat")) return lt_cli_chat(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return lt_cli_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return lt_cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return lt_cli_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "quantize")) return lt_cli_quantize(argc - 1, argv + 1);
    if (!strcmp(cmd, "compress")) return lt_cli_compress(argc - 1, argv + 1);
    if (!strcmp(cmd, "detect")) return lt_cli_detect(argc - 1, argv + 1);
    if (!strcmp(cmd, "imagine")) return lt_cli_imagine(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return lt_cli_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return lt_cli_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return lt_cli_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "replay")) return lt_cli_replay(argc - 1, argv + 1);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) return version();
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (cmd[0] == '-') { /* the workbench's options */
        lt_wb_args wa;
        int rc = lt_wb_parse_args(argc, argv, &wa);
        if (rc) return rc == 1 ? 0 : 2;
        if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) return lt_workbench_main(argc, argv);
        fprintf(stderr, "lathe: the workbench (lathe %s ...) needs a terminal; without one use\n"
                        "`lathe generate -m MODEL -p TEXT` or `lathe run SCRIPT`\n", cmd);
        return 2;
    }
    fprintf(stderr, "lathe: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return LT_CLI_USAGE;
}
