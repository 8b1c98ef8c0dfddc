/* cli_chat.c - `lathe chat -m MODEL [options]`: a line-oriented chat. Each input line is one
 * turn, the reply streams to stdout; a line that starts with '/' is a command of the command
 * language (/reset, /set temp 0.2, /use NAME). In a terminal the input comes through GNU
 * readline (history, a "> " prompt); from a pipe lines are read as they come, with nothing
 * but the replies on stdout (loading, markers and errors go to stderr), so it is scriptable.
 *
 * Everything goes through the session (core/app/session.h) as command lines - `set KEY
 * VALUE` for each option, `load`, `chat TEXT` - so this front end and the workbench share one
 * implementation and one validation (a bad --temp is the `set temp` message).
 * Exit codes: 0 done (EOF, /quit), 1 the model does not load or a piped turn failed, 2 usage,
 * 130 Ctrl-C at the prompt (Ctrl-C during a reply cancels that reply only; a second one
 * exits 130 at once, as for every subcommand).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli.h"
#include "core/app/commands.h"
#include "core/app/settings.h"
#include "core/base/alloc.h"
#include "cli_session.h"

/* During a reply Ctrl-C cancels it (lt_cli_sigint_catch: a second one exits 130 at once);
 * otherwise the default ends lathe (readline restores the terminal first), which the shell
 * reports as 130. */
static void cancel_reply(void *s) { lt_session_cancel(s); } /* an atomic store: signal-safe */

static void print_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    (void)ud;
    if (k == LT_TEXT_USER) return; /* the user typed it already */
    FILE *f = k == LT_TEXT_MODEL || k == LT_TEXT_MODEL_DRAFT ? stdout : stderr;
    fwrite(s, 1, n, f);
    fflush(f);
}

/* Runs one command line; on failure prints "lathe chat: [what: ]message" and returns false. */
static bool exec(lt_session *s, lt_sink *sink, const char *what, const char *line) {
    lt_err err = {0};
    if (lt_session_exec(s, line, sink, &err) == LT_OK) return true;
    fprintf(stderr, "lathe chat: %s%s%s\n", what ? what : "", what ? ": " : "", err.msg);
    return false;
}

/* One input line: a command after '/', else a chat turn. */
static bool turn(lt_session *s, lt_sink *sink, const char *line) {
    while (*line == ' ' || *line == '\t') line++;
    if (!*line) return true;
    if (*line == '/') return exec(s, sink, NULL, line);
    size_t n = strlen(line) + 8;
    char *cmd = malloc(n);
    if (!cmd) return false;
    snprintf(cmd, n, "chat %s", line);
    lt_cli_sigint_catch(cancel_reply, s);
    bool ok = exec(s, sink, NULL, cmd);
    lt_cli_sigint_release();
    free(cmd);
    return ok;
}

/* Runs "set KEY VALUE" with VALUE quoted as one word (any length). */
static bool exec_set(lt_session *s, lt_sink *sink, const char *what, const char *key, const char *value) {
    char *q = lt_cmd_quote(value);
    size_t n = q ? strlen(key) + strlen(q) + 6 : 0;
    char *line = q ? malloc(n) : NULL;
    bool ok = false;
    if (line) {
        snprintf(line, n, "set %s %s", key, q);
        ok = exec(s, sink, what, line);
    } else {
        fprintf(stderr, "lathe chat: %s: out of memory\n", what);
    }
    free(line);
    lt_free(q);
    return ok;
}

/* HEAD followed by " PRE[i] VAL[i]" for each value (PRE may be ""), the values quoted as one
 * word each ("set stop S...", "load MODEL --tokenizer TOK"); NULL when out of memory. */
static char *words_line(const char *head, const char *const *vals, const char *const *pre, int n) {
    size_t len = strlen(head) + 1;
    char **q = calloc((size_t)n + 1, sizeof *q);
    bool oom = !q;
    for (int i = 0; i < n && !oom; i++) {
        oom = !(q[i] = lt_cmd_quote(vals[i]));
        if (!oom) len += strlen(pre[i]) + strlen(q[i]) + 2;
    }
    char *line = oom ? NULL : malloc(len);
    if (line) {
        strcpy(line, head);
        for (int i = 0; i < n; i++) strcat(strcat(strcat(strcat(line, " "), pre[i]), pre[i][0] ? " " : ""), q[i]);
    }
    for (int i = 0; q && i < n; i++) lt_free(q[i]);
    free(q);
    return line;
}

int lt_cli_chat(int argc, char **argv) {
    const char *model = NULL, *tokp = NULL, *system = NULL, *temp = NULL, *top_k = NULL, *top_p = NULL,
               *min_p = NULL, *rpen = NULL, *rlast = NULL, *seed = NULL, *n = NULL, *ctx = NULL, *device = NULL,
               *threads = NULL;
    const char *usage = "-m MODEL [options]   (lines starting with '/' are commands: /reset, /set temp 0.2, /quit)";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &model, "GGUF file, Hugging Face folder or llama2.c checkpoint"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, LT_CLI_TOKENIZER_HELP},
        {"--system", NULL, LT_OPT_STR, &system, "system prompt at the start of the conversation"},
        {"--stop", NULL, LT_OPT_STR, NULL, "stop sequence: the reply ends before it (repeatable, up to 4)"},
        {"--temp", NULL, LT_OPT_STR, &temp, "temperature (default 0.8; 0 = greedy)"},
        {"--top-k", NULL, LT_OPT_STR, &top_k, "keep the k most likely tokens (default 40; 0 = off)"},
        {"--top-p", NULL, LT_OPT_STR, &top_p, "nucleus sampling mass (default 0.95; 1 = off)"},
        {"--min-p", NULL, LT_OPT_STR, &min_p, "drop tokens below min-p x the top probability (default 0.05)"},
        {"--repeat-penalty", NULL, LT_OPT_STR, &rpen, "penalty for recent tokens (default 1 = off)"},
        {"--repeat-last-n", NULL, LT_OPT_STR, &rlast, "recent tokens the penalty looks at (default 64)"},
        {"--seed", "-s", LT_OPT_STR, &seed, "random seed (default 0)"},
        {"--n-predict", "-n", LT_OPT_STR, &n, "most tokens per reply (default 256)"},
        {"--ctx", "-c", LT_OPT_STR, &ctx, "context length in tokens (default: the model's)"},
        {"--device", NULL, LT_OPT_STR, &device, "cpu, cuda or auto (default auto)"},
        {"--threads", "-t", LT_OPT_STR, &threads, "CPU threads (default: all cores)"},
        {0},
    };
    /* --stop may repeat: taken out of argv before the table parses the rest */
    const char *stops[LT_SETTINGS_MAX_STOPS];
    int n_stops = 0, ac = 0;
    char **av = calloc((size_t)argc + 1, sizeof *av);
    if (!av) return 1;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--stop")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "lathe chat: --stop needs a value\n");
                free(av);
                return 2;
            }
            if (n_stops == LT_SETTINGS_MAX_STOPS) {
                fprintf(stderr, "lathe chat: --stop: at most %d stop sequences\n", LT_SETTINGS_MAX_STOPS);
                free(av);
                return 2;
            }
            stops[n_stops++] = argv[++i];
        } else {
            av[ac++] = argv[i];
        }
    }
    opts[3].dst = &stops[0]; /* never written: --stop was taken out above; listed for --help */
    int n_pos;
    bool parsed = lt_cli_parse("chat", usage, opts, ac, av, NULL, 0, &n_pos);
    free(av);
    if (!parsed) return 2;
    if (!model) {
        fprintf(stderr, "lathe chat: -m MODEL is required\n");
        lt_cli_usage("chat", usage, opts);
        return 2;
    }
    char sd[4096];
    lt_err err = {0};
    lt_session *s;
    if (lt_cli_session_create(&s, lt_cli_state_dir(sd, sizeof sd), false, &err) != LT_OK) {
        fprintf(stderr, "lathe chat: %s\n", err.msg);
        return 1;
    }
    lt_sink sink = {.text = print_text};
    int rc = 0;
    /* the options as `set` lines: the settings' own ranges and messages */
    const struct {
        const char *opt, *key, *v;
    } sets[] = {{"--device", "device", device}, {"--threads", "threads", threads}, {"--ctx", "ctx", ctx},
                {"--temp", "temp", temp},       {"--top-k", "top-k", top_k},       {"--top-p", "top-p", top_p},
                {"--min-p", "min-p", min_p},    {"--repeat-penalty", "repeat-penalty", rpen},
                {"--repeat-last-n", "repeat-last-n", rlast}, {"--seed", "seed", seed}, {"-n", "max-tokens", n}};
    lt_sink quiet = {0}; /* `set` prints the settings: not here */
    for (size_t i = 0; i < sizeof sets / sizeof sets[0] && !rc; i++)
        if (sets[i].v && !exec_set(s, &quiet, sets[i].opt, sets[i].key, sets[i].v)) rc = 2;
    if (!rc && n_stops) {
        const char *pre[LT_SETTINGS_MAX_STOPS] = {"", "", "", ""};
        char *line = words_line("set stop", stops, pre, n_stops);
        if (!line || !exec(s, &quiet, "--stop", line)) rc = 2;
        free(line);
    }
    if (!rc && system) { /* `set system` takes the rest of the line as typed */
        size_t k = strlen(system) + 12;
        char *line = malloc(k);
        if (line) snprintf(line, k, "set system %s", system);
        if (!line || !exec(s, &quiet, "--system", line)) rc = 2;
        free(line);
    }
    if (!rc) {
        const char *vals[2] = {model, tokp}, *pre[2] = {"", "--tokenizer"};
        char *line = words_line("load", vals, pre, tokp ? 2 : 1);
        lt_tokenizer *tok = NULL;
        if (!line || !exec(s, &sink, NULL, line)) rc = 1;
        else if (lt_session_get_lm(s, NULL, NULL, &tok, NULL, &err) != LT_OK || !tok) {
            fprintf(stderr, "lathe chat: %s has no tokenizer - pass --tokenizer FILE\n", model);
            rc = 1;
        }
        free(line);
    }
    if (rc) {
        lt_session_free(s);
        return rc;
    }
    bool tty = isatty(STDIN_FILENO);
    if (tty) {
        fprintf(stderr, "lines starting with '/' are commands (/reset, /set temp 0.2, /help); Ctrl-D or /quit ends\n");
        char *in;
        while (!lt_session_quit_requested(s) && (in = readline("> "))) {
            if (in[0]) add_history(in);
            turn(s, &sink, in);
            free(in);
        }
    } else {
        char *in = NULL;
        size_t cap = 0;
        ssize_t len;
        while (!lt_session_quit_requested(s) && (len = getline(&in, &cap, stdin)) >= 0) {
            while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == '\r')) in[--len] = 0;
            if (!turn(s, &sink, in)) rc = 1;
        }
        free(in);
    }
    lt_session_free(s);
    return rc;
}
