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
 * 130 Ctrl-C at the prompt (Ctrl-C during a reply cancels that reply only).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli.h"
#include "cli_session.h"

static lt_session *volatile g_session; /* the reply Ctrl-C cancels */

static void on_sigint(int sig) {
    (void)sig;
    if (g_session) lt_session_cancel(g_session);
}

/* During a reply Ctrl-C cancels it; otherwise it ends lathe (readline restores the terminal
 * first), which the shell reports as 130. */
static void sigint_cancels(bool on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

static void print_text(void *ud, lt_text_kind k, const char *s, size_t n) {
    (void)ud;
    if (k == LT_TEXT_USER) return; /* the user typed it already */
    FILE *f = k == LT_TEXT_MODEL || k == LT_TEXT_MODEL_DRAFT ? stdout : stderr;
    fwrite(s, 1, n, f);
    fflush(f);
}

/* v as one word of the command language: double-quoted, '"' and '\' escaped. */
static void quote(char *buf, size_t cap, const char *v) {
    size_t o = 0;
    if (cap < 3) return;
    buf[o++] = '"';
    for (; *v && o + 3 < cap; v++) {
        if (*v == '"' || *v == '\\') buf[o++] = '\\';
        buf[o++] = *v;
    }
    buf[o++] = '"';
    buf[o] = 0;
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
    g_session = s;
    sigint_cancels(true);
    bool ok = exec(s, sink, NULL, cmd);
    sigint_cancels(false);
    g_session = NULL;
    free(cmd);
    return ok;
}

#define MAX_STOPS 8

int lt_cli_chat(int argc, char **argv) {
    const char *model = NULL, *tokp = NULL, *system = NULL, *temp = NULL, *top_k = NULL, *top_p = NULL,
               *min_p = NULL, *rpen = NULL, *rlast = NULL, *seed = NULL, *n = NULL, *ctx = NULL, *device = NULL,
               *threads = NULL;
    const char *usage = "-m MODEL [options]   (lines starting with '/' are commands: /reset, /set temp 0.2, /quit)";
    lt_opt opts[] = {
        {"--model", "-m", LT_OPT_STR, &model, "GGUF file, Hugging Face folder or llama2.c checkpoint"},
        {"--tokenizer", NULL, LT_OPT_STR, &tokp, "llama2.c tokenizer .bin (default: tokenizer.bin beside the model)"},
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
    const char *stops[MAX_STOPS];
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
            if (n_stops == MAX_STOPS) {
                fprintf(stderr, "lathe chat: --stop: at most %d stop sequences\n", MAX_STOPS);
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
    char line[8192], q[4096];
    lt_sink quiet = {0}; /* `set` prints the settings: not here */
    for (size_t i = 0; i < sizeof sets / sizeof sets[0] && !rc; i++) {
        if (!sets[i].v) continue;
        quote(q, sizeof q, sets[i].v);
        snprintf(line, sizeof line, "set %s %s", sets[i].key, q);
        if (!exec(s, &quiet, sets[i].opt, line)) rc = 2;
    }
    if (!rc && n_stops) {
        size_t o = (size_t)snprintf(line, sizeof line, "set stop");
        for (int i = 0; i < n_stops && o < sizeof line; i++) {
            quote(q, sizeof q, stops[i]);
            o += (size_t)snprintf(line + o, sizeof line - o, " %s", q);
        }
        if (!exec(s, &quiet, "--stop", line)) rc = 2;
    }
    if (!rc && system) {
        snprintf(line, sizeof line, "set system %s", system);
        if (!exec(s, &quiet, "--system", line)) rc = 2;
    }
    if (!rc) {
        quote(q, sizeof q, model);
        int k = snprintf(line, sizeof line, "load %s", q);
        if (tokp) {
            quote(q, sizeof q, tokp);
            snprintf(line + k, sizeof line - (size_t)k, " --tokenizer %s", q);
        }
        lt_tokenizer *tok = NULL;
        if (!exec(s, &sink, NULL, line)) rc = 1;
        else if (lt_session_get_lm(s, NULL, NULL, &tok, NULL, &err) != LT_OK || !tok) {
            fprintf(stderr, "lathe chat: %s has no tokenizer - pass --tokenizer FILE\n", model);
            rc = 1;
        }
    }
    if (rc) {
        lt_session_free(s);
        return rc;
    }
    bool tty = isatty(STDIN_FILENO);
    sigint_cancels(false);
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
