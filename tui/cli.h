/* cli.h - the command-line subcommands of the lathe binary (generate, bench, convert, quantize) and
 * the small option parser they share. Only the binary includes this; library code never
 * prints or exits. */
#ifndef LT_CLI_H
#define LT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "core/backend/backend.h"
#include "core/base/opts.h"
#include "core/compress/quantmix.h"
#include "core/llm/lm.h"
#include "core/llm/sampler.h"
#include "core/formats/modelsrc.h"
#include "core/text/tokenizer.h"

int lt_cli_generate(int argc, char **argv);
int lt_cli_bench(int argc, char **argv);
int lt_cli_convert(int argc, char **argv);
int lt_cli_quantize(int argc, char **argv);     /* tui/cli_quantize.c */
int lt_cli_detect(int argc, char **argv);       /* tui/cli_detect.c */
int lt_cli_bench_detect(int argc, char **argv); /* `lathe bench detect`, tui/cli_detect.c */
int lt_cli_imagine(int argc, char **argv);       /* `lathe imagine`, tui/cli_imagine.c */
int lt_cli_bench_imagine(int argc, char **argv); /* `lathe bench imagine`, tui/cli_imagine.c */
int lt_cli_bench_serve(int argc, char **argv);  /* `lathe bench serve`, tui/cli_bench_serve.c */
int lt_cli_eval(int argc, char **argv);         /* `lathe eval ppl`, tui/cli_eval.c */
int lt_cli_chat(int argc, char **argv);         /* `lathe chat`, tui/cli_chat.c */
int lt_cli_tokenize(int argc, char **argv);     /* `lathe tokenize`, tui/cli_tokenize.c */
int lt_cli_compress(int argc, char **argv);     /* `lathe compress`, tui/cli_compress.c */
int lt_cli_serve(int argc, char **argv);        /* `lathe serve`, tui/cli_serve.c */

/* The --tokenizer option's help: what every front end accepts (lt_modelsrc_open's rule). */
#define LT_CLI_TOKENIZER_HELP                                                                                  \
    "tokenizer: llama2.c .bin, tokenizer.json or a GGUF's vocab (default: the model's own; llama2.c: "        \
    "tokenizer.bin, else the one tok*.bin beside it)"

/* ---- option parsing ------------------------------------------------------------------ */

/* Parses argv[1..] against opts (core/base/opts.h, the parser the command language uses);
 * positional arguments go to pos[] (up to max_pos). --help prints the usage and exits 0; on
 * error prints "lathe CMD: ..." and the usage to stderr and returns false. */
bool lt_cli_parse(const char *cmd, const char *usage, const lt_opt *opts, int argc, char **argv, const char **pos,
                  int max_pos, int *n_pos);
void lt_cli_usage(const char *cmd, const char *usage, const lt_opt *opts);

/* An option row for a value the workbench has as setting KEY (core/app/settings.h: temp, top-k,
 * top-p, min-p, seed, max-tokens, threads, ...): the setting's range, so `lathe generate --temp`
 * accepts exactly what `set temp` accepts. kind is dst's type; a key the settings do not have
 * gives a row without a range. */
lt_opt lt_cli_setting_opt(const char *key, const char *name, const char *alias, lt_opt_kind kind, void *dst,
                          const char *help);
/* The sampling rows `lathe generate` and `lathe serve` share (--temp, --top-k, --top-p, --min-p,
 * --repeat-penalty, --seed/-s, with the settings' ranges) into rows[0..LT_CLI_SAMPLING_ROWS). */
#define LT_CLI_SAMPLING_ROWS 6
int lt_cli_sampling_opts(lt_opt *rows, lt_sampler_params *sp);
/* "--threads/-t N" with the setting's range. */
lt_opt lt_cli_threads_opt(int *threads);

/* ---- exit codes and Ctrl-C ------------------------------------------------------------- */

/* Every subcommand exits with one of these. */
enum { LT_CLI_OK = 0, LT_CLI_FAIL = 1, LT_CLI_USAGE = 2, LT_CLI_INTERRUPTED = 130 };

/* Ctrl-C during long work: lt_cli_sigint_catch makes the first SIGINT set a flag the work
 * polls (lt_cli_interrupted) and call on(ud) (may be NULL; it runs in the signal handler, so
 * it may only do async-signal-safe things such as lt_session_cancel); a second SIGINT removes
 * the temporary files of the atomic writes open (lt_afile_unlink_open) and exits 130 at once.
 * lt_cli_sigint_release restores the default (killed by SIGINT: 130 in a shell).
 * The flag stays set until the next catch. */
void lt_cli_sigint_catch(void (*on)(void *ud), void *ud);
void lt_cli_sigint_release(void);
bool lt_cli_interrupted(void);

/* Opens the model at path (tokenizer_path may be NULL) and, when tok is not NULL, builds its
 * tokenizer from the source's vocab (*tok stays NULL when there is none; with tok NULL the
 * vocab stays in the source). Without tokenizer_path, lt_modelsrc_guess_tokenizer finds a
 * llama2.c model's; with it, it serves every format (lt_modelsrc_open). Prints
 * errors. */
bool lt_cli_open_model(const char *path, const char *tokenizer_path, lt_modelsrc **src, lt_tokenizer **tok);
/* Opens a language model on be: the model file at path (its tokenizer into *tok when tok is
 * not NULL; what lt_cli_open_model finds) or, when synth is set, random weights shaped like
 * that preset with matrices of dtype `type` and a context of at least min_ctx tokens.
 * *llama2c (may be NULL) says whether it came from a llama2.c checkpoint. Prints errors
 * ("lathe: WHAT: message", WHAT = what or the path). */
bool lt_cli_open_lm(const char *what, const char *path, const char *tokp, const char *synth, const char *type,
                    int min_ctx, lt_backend *be, lt_lm **m, lt_tokenizer **tok, bool *llama2c);
/* The same with the model's options (lo: batch and logits rows per forward; NULL = the
 * defaults). */
bool lt_cli_open_lm_opts(const char *what, const char *path, const char *tokp, const char *synth, const char *type,
                         int min_ctx, const lt_lm_opts *lo, lt_backend *be, lt_lm **m, lt_tokenizer **tok,
                         bool *llama2c);
/* ---- quantizing (tui/cli_quantize.c) ------------------------------------------------------ */

/* Parses TYPE (a tensor type or a llama.cpp mix, core/compress/quantmix.h); an unknown one
 * prints "lathe CMD: unknown WHAT 'TYPE'" with the valid types and mixes and returns false. */
bool lt_cli_quantmix(const char *cmd, const char *what, const char *type, bool pure, lt_quantmix *out);
/* --output-tensor-type / --token-embedding-type / --shortcut-type (each may be NULL) onto mix;
 * prints the error */
bool lt_cli_quantmix_overrides(const char *cmd, lt_quantmix *mix, const char *output_type, const char *embd_type,
                               const char *shortcut_type);
/* Writes src to out as GGUF under mix with a progress bar on stderr and llama-quantize's
 * summary (model and quant size, bits per weight) on stdout; dry_run prints each tensor's
 * planned type instead. Returns the exit code (0, or 1 with the error printed). */
int lt_cli_quantize_write(const char *cmd, lt_modelsrc *src, const char *out, const lt_quantmix *mix, bool dry_run);

/* Creates the backend named by --device (default auto) with --threads. Prints errors. */
bool lt_cli_backend(const char *device, int threads, lt_backend **be);

/* s as a JSON string literal (quotes, backslashes and control characters escaped) on f. */
void lt_cli_json_str(FILE *f, const char *s);

#endif
