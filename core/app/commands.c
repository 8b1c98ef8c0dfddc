/* commands.c - the command registry, lookup with suggestions, and line splitting.
 * See commands.h. Leaves out: executing commands (session.c). */
#include "commands.h"

#include <stdio.h>
#include <string.h>

#include "core/base/alloc.h"

#define MAX_TABLES 32

struct lt_cmds {
    const lt_cmd_table *tables[MAX_TABLES];
    int n_tables;
};

lt_status lt_cmds_create(lt_cmds **out, lt_err *err) {
    *out = lt_calloc(1, sizeof **out);
    if (!*out) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    return LT_OK;
}

void lt_cmds_free(lt_cmds *c) { lt_free(c); }

static const lt_cmd *find_exact(const lt_cmds *c, const char *w) {
    for (int t = 0; t < c->n_tables; t++)
        for (const lt_cmd *k = c->tables[t]->cmds; k->name; k++)
            if (!strcmp(k->name, w) || (k->alias && !strcmp(k->alias, w))) return k;
    return NULL;
}

lt_status lt_cmds_add(lt_cmds *c, const lt_cmd_table *t, lt_err *err) {
    if (c->n_tables >= MAX_TABLES)
        return lt_err_set(err, LT_ERANGE, "too many command tables (at most %d)", MAX_TABLES);
    for (const lt_cmd *k = t->cmds; k->name; k++) {
        LT_ASSERT(k->exec && k->usage);
        const lt_cmd *dup = find_exact(c, k->name);
        if (!dup && k->alias) dup = find_exact(c, k->alias);
        if (dup)
            return lt_err_set(err, LT_EINVAL, "%s: command '%s' clashes with the registered '%s'",
                              t->module ? t->module : "commands", k->name, dup->name);
    }
    c->tables[c->n_tables++] = t;
    return LT_OK;
}

int lt_cmds_count(const lt_cmds *c) {
    int n = 0;
    for (int t = 0; t < c->n_tables; t++)
        for (const lt_cmd *k = c->tables[t]->cmds; k->name; k++) n++;
    return n;
}

const lt_cmd *lt_cmds_at(const lt_cmds *c, int i) {
    for (int t = 0; t < c->n_tables; t++)
        for (const lt_cmd *k = c->tables[t]->cmds; k->name; k++)
            if (i-- == 0) return k;
    return NULL;
}

int lt_cmds_n_tables(const lt_cmds *c) { return c->n_tables; }
const lt_cmd_table *lt_cmds_table(const lt_cmds *c, int i) {
    return i >= 0 && i < c->n_tables ? c->tables[i] : NULL;
}

int lt_edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63) na = 63;
    if (nb > 63) nb = 63;
    int prev[64], cur[64];
    for (size_t j = 0; j <= nb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (nb + 1));
    }
    return prev[nb];
}

lt_status lt_cmds_find(const lt_cmds *c, const char *w, const lt_cmd **out, lt_err *err) {
    *out = find_exact(c, w);
    if (*out) return LT_OK;
    size_t n = strlen(w);
    const lt_cmd *hit = NULL;
    int n_hits = 0;
    char list[256] = "";
    for (int i = 0, N = lt_cmds_count(c); i < N && n > 0; i++) {
        const lt_cmd *k = lt_cmds_at(c, i);
        if (strncmp(k->name, w, n)) continue;
        hit = k;
        n_hits++;
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", k->name);
    }
    if (n_hits == 1) {
        *out = hit;
        return LT_OK;
    }
    if (n_hits > 1) return lt_err_set(err, LT_EINVAL, "ambiguous command '%s', could be: %s", w, list);
    const lt_cmd *best = NULL;
    int best_d = 1 << 30;
    for (int i = 0, N = lt_cmds_count(c); i < N; i++) {
        const lt_cmd *k = lt_cmds_at(c, i);
        int d = lt_edit_distance(w, k->name);
        if (k->alias) {
            int da = lt_edit_distance(w, k->alias);
            if (da < d) d = da;
        }
        if (d < best_d) best_d = d, best = k;
    }
    int limit = n <= 3 ? 1 : n <= 6 ? 2 : 3;
    if (best && best_d <= limit)
        return lt_err_set(err, LT_ENOTFOUND, "unknown command '%s' - did you mean '%s'?", w, best->name);
    return lt_err_set(err, LT_ENOTFOUND, "unknown command '%s' - 'help' lists the commands", w);
}

lt_status lt_cmd_split(const char *line, char *buf, size_t cap, lt_args *out, lt_err *err) {
    memset(out, 0, sizeof *out);
    out->rest = "";
    const char *p = line;
    size_t o = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (out->argc == 1) out->rest = p;
        if (!*p) break;
        if (out->argc >= LT_CMD_MAX_ARGS)
            return lt_err_set(err, LT_EINVAL, "too many arguments (at most %d)", LT_CMD_MAX_ARGS - 1);
        char *start = buf + o;
        char quote = 0;
        while (*p) {
            char ch = *p;
            if (quote) {
                if (ch == quote) {
                    quote = 0;
                    p++;
                    continue;
                }
                if (ch == '\\' && quote == '"' && p[1]) ch = *++p;
            } else if (ch == '"' || ch == '\'') {
                quote = ch;
                p++;
                continue;
            } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
                break;
            } else if (ch == '\\' && p[1]) {
                ch = *++p;
            }
            if (o + 2 > cap) return lt_err_set(err, LT_ERANGE, "command line too long");
            buf[o++] = ch;
            p++;
        }
        if (quote) return lt_err_set(err, LT_EINVAL, "unterminated %c quote", quote);
        if (o + 1 > cap) return lt_err_set(err, LT_ERANGE, "command line too long");
        buf[o++] = 0;
        out->argv[out->argc++] = start;
    }
    return LT_OK;
}

lt_status lt_cmd_check_args(const lt_cmd *cmd, const lt_args *a, lt_err *err) {
    int n = a->argc - 1;
    if (n < cmd->min_args || (cmd->max_args >= 0 && n > cmd->max_args))
        return lt_err_set(err, LT_EINVAL, "usage: %s", cmd->usage);
    return LT_OK;
}

int lt_args_find(const lt_args *a, const char *opt) {
    for (int i = 1; i < a->argc; i++)
        if (!strcmp(a->argv[i], opt)) return i;
    return -1;
}

lt_status lt_args_parse(const lt_args *a, const char *what, const char *usage, const lt_opt *opts, const char **pos,
                        int max_pos, int *n_pos, lt_err *err) {
    bool help = false;
    lt_status st = lt_opts_parse(what, opts, a->argc, a->argv, 1, pos, max_pos, n_pos, &help, err);
    if (st == LT_OK && help) /* asked for help: the usage, and nothing runs */
        return lt_err_set(err, LT_EINVAL, "usage: %s", usage ? usage : what);
    if (st != LT_OK && usage) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, "; usage: %s", usage);
    }
    return st;
}

char *lt_cmd_quote(const char *s) {
    size_t n = strlen(s);
    char *q = lt_malloc(2 * n + 3), *o = q;
    if (!q) return NULL;
    *o++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') *o++ = '\\';
        *o++ = *s;
    }
    *o++ = '"';
    *o = 0;
    return q;
}

char *lt_cmd_escape(const char *s, char *buf, size_t cap) {
    if (!cap) return buf;
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char e[5];
        if (ch == '\n') memcpy(e, "\\n", 3);
        else if (ch == '\t') memcpy(e, "\\t", 3);
        else if (ch == '\r') memcpy(e, "\\r", 3);
        else if (ch < 0x20 || ch == 0x7f) snprintf(e, sizeof e, "\\x%02x", ch);
        else e[0] = (char)ch, e[1] = 0;
        size_t n = strlen(e);
        if (o + n >= cap) break;
        memcpy(buf + o, e, n);
        o += n;
    }
    buf[o] = 0;
    return buf;
}
