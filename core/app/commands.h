/* commands.h - the command language: a declarative table of commands (STYLE P8), a registry
 * that holds several tables (the session's own plus any a feature registers), lookup by
 * name, alias or unique prefix with "did you mean" suggestions, and splitting a command
 * line into arguments (double/single quotes, backslash escapes).
 *
 * The palette, the input line, `lathe run`, the journal and replay all go through this.
 * Leaves out: executing commands (core/session.c does that) and any drawing.
 */
#ifndef LT_COMMANDS_H
#define LT_COMMANDS_H

#include <stdbool.h>

#include "core/base/opts.h"
#include "core/base/status.h"

typedef struct lt_session lt_session;
typedef struct lt_sink lt_sink;

#define LT_CMD_MAX_ARGS 32

/* A parsed command line: argv[0] is the command word as typed; rest is the raw text after
 * it (leading spaces removed), for commands that take free text (chat). */
typedef struct lt_args {
    int argc;
    char *argv[LT_CMD_MAX_ARGS];
    const char *rest;
} lt_args;

/* One positional argument, so the palette can ask for what is missing. */
typedef struct lt_cmd_arg {
    const char *name; /* "PATH" */
    const char *help; /* "model file or synthetic:PRESET" */
} lt_cmd_arg;

typedef lt_status (*lt_cmd_exec_fn)(lt_session *s, const lt_args *a, lt_sink *sink, lt_err *err);

typedef struct lt_cmd {
    const char *name;  /* "load" */
    const char *alias; /* "l" or NULL */
    const char *usage; /* "load PATH [as NAME] [--tokenizer FILE]" */
    const char *help;  /* one line */
    int min_args;      /* positional arguments after the name that must be present */
    int max_args;      /* -1 = unlimited */
    const lt_cmd_arg *args; /* the first min_args are required; NULL-name terminated, may be NULL */
    bool journaled;    /* recorded in the session journal (false for help, quit, session) */
    lt_cmd_exec_fn exec;
    bool text;         /* the rest of the line is free text (chat, generate): it reaches exec
                        * verbatim in a->rest (quotes, apostrophes, any number of words) and is
                        * never split; argv holds only the command word */
    bool exits;        /* the command ends the front end (quit): a front end with a job running
                        * cancels the job and runs it at once instead of queueing it */
    bool (*text_rest)(const char *rest); /* may be NULL: when it returns true for the text after
                        * the command word, that text reaches exec verbatim in a->rest, as for
                        * text commands (`set system TEXT`) */
} lt_cmd;

/* A table of commands a module provides; terminated by an entry with name NULL. */
typedef struct lt_cmd_table {
    const char *module; /* "session", "spec", "detect" ... */
    const lt_cmd *cmds;
} lt_cmd_table;

typedef struct lt_cmds lt_cmds;

/* An empty registry. */
lt_status lt_cmds_create(lt_cmds **out, lt_err *err);
void lt_cmds_free(lt_cmds *c); /* NULL is a no-op */

/* Adds a table (kept by pointer; it must outlive the registry). A name or alias already
 * registered is LT_EINVAL naming it. */
lt_status lt_cmds_add(lt_cmds *c, const lt_cmd_table *t, lt_err *err);

/* Number of commands and the i-th (registration order), for palettes and help. */
int lt_cmds_count(const lt_cmds *c);
const lt_cmd *lt_cmds_at(const lt_cmds *c, int i);

/* The registered tables in registration order (to copy them into another registry). */
int lt_cmds_n_tables(const lt_cmds *c);
const lt_cmd_table *lt_cmds_table(const lt_cmds *c, int i);

/* Finds a command by exact name, alias, or unique prefix. Unknown: LT_ENOTFOUND with
 * "unknown command 'lod' - did you mean 'load'?"; ambiguous prefix: LT_EINVAL listing the
 * candidates. */
lt_status lt_cmds_find(const lt_cmds *c, const char *word, const lt_cmd **out, lt_err *err);

/* Splits line into arguments (quotes group words; backslash escapes the next character).
 * buf (cap bytes) holds the argument strings. An unterminated quote or too many arguments
 * is LT_EINVAL. An empty line gives argc 0. */
lt_status lt_cmd_split(const char *line, char *buf, size_t cap, lt_args *out, lt_err *err);

/* s as one word of the command language (what lt_cmd_split reads back as s): double-quoted,
 * '"' and '\\' escaped. An lt_malloc'd string (lt_free it); NULL when out of memory. */
char *lt_cmd_quote(const char *s);

/* s for display on one line: control characters as \n, \t, \r or \xNN (other bytes, UTF-8
 * included, as they are), into buf (cap bytes, NUL-terminated; an escape is never cut in
 * half). LT_CMD_ESCAPED_CAP(n) bytes hold any n-byte string. Returns buf. */
#define LT_CMD_ESCAPED_CAP(n) (4 * (size_t)(n) + 1)
char *lt_cmd_escape(const char *s, char *buf, size_t cap);

/* Checks argument counts of a parsed line against cmd (positional = argc - 1): too few or
 * too many is LT_EINVAL with "usage: <usage>". */
lt_status lt_cmd_check_args(const lt_cmd *cmd, const lt_args *a, lt_err *err);

/* Levenshtein distance between two strings (for suggestions; exposed for tests). */
int lt_edit_distance(const char *a, const char *b);

/* Parses a command's options (a->argv[1..]) with the declarative table opts (core/base/opts.h,
 * the parser `lathe SUBCOMMAND` uses too); positionals go to pos. Errors end with
 * "; usage: USAGE". */
lt_status lt_args_parse(const lt_args *a, const char *what, const char *usage, const lt_opt *opts, const char **pos,
                        int max_pos, int *n_pos, lt_err *err);

/* Option helpers for exec functions: index of "--name" in a->argv (or -1). */
int lt_args_find(const lt_args *a, const char *opt);

#endif
