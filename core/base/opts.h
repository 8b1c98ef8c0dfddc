/* opts.h - declarative options: a table of `--name VALUE` options that a command of the
 * command language and a `lathe SUBCOMMAND` share, one parser for both, and the usage text.
 *
 * A table entry names the option (and an alias), its kind, where the value goes and a help
 * line; numeric options may carry a range. Parsing fills the destinations, collects the
 * positional arguments, and reports the first problem as an error naming the option
 * ("--temp expects a number, got 'x'"). Nothing here prints or exits.
 * Leaves out: subcommands (the caller picks the table), option bundling (-abc), `--k=v`.
 */
#ifndef LT_OPTS_H
#define LT_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum lt_opt_kind { LT_OPT_STR, LT_OPT_INT, LT_OPT_FLOAT, LT_OPT_FLAG, LT_OPT_U64 } lt_opt_kind;

typedef struct lt_opt {
    const char *name;  /* "--temp" */
    const char *alias; /* "-t" or NULL */
    lt_opt_kind kind;
    void *dst;         /* const char **, int *, float *, bool *, uint64_t * */
    const char *help;
    double lo, hi;     /* inclusive range of a numeric value; lo == hi == 0: any value */
} lt_opt;

/* Parses argv[first..argc) against opts (terminated by an entry with name NULL); positional
 * arguments go to pos[] (up to max_pos; pos may be NULL when max_pos is 0). A word that
 * starts with '-' followed by a digit is a positional (a negative number). "--help"/"-h" stops
 * parsing with LT_OK and *help_asked set (help_asked may be NULL), so the caller can print
 * the usage. Errors are LT_EINVAL
 * with a message prefixed by what ("generate: unknown option '--x'"). */
lt_status lt_opts_parse(const char *what, const lt_opt *opts, int argc, char *const *argv, int first,
                        const char **pos, int max_pos, int *n_pos, bool *help_asked, lt_err *err);

/* Writes one line per option ("  -t, --threads N        CPU threads ...") into buf;
 * returns the length it needed (like snprintf). */
size_t lt_opts_usage(const lt_opt *opts, char *buf, size_t cap);

/* Parses one numeric value as opt o would (for settings that are not options). */
lt_status lt_opts_value(const char *what, const lt_opt *o, const char *v, lt_err *err);

#endif
