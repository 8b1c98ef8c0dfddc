/* journal.c - writing and reading session files. See journal.h.
 * Leaves out: executing what they hold (replay.c), what the commands do (core/cmd/). */
#include "journal.h"
#include "core/base/fileio.h"

#include "core/base/clock.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/alloc.h"
#include "core/base/digest.h"

struct lt_journal {
    FILE *f;
    char *path;
    int n;
};

/* Appends one line at the end. A write that fails part way (disk full) is cut back off, so
 * the file never holds a torn line: it ends with the last complete entry, and later entries
 * append cleanly once there is space again. */
static lt_status write_line(lt_journal *j, cJSON *o, lt_err *err) {
    char *s = cJSON_PrintUnformatted(o);
    if (!s) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    size_t n = strlen(s);
    s[n] = '\n'; /* cJSON's NUL becomes the newline; the buffer is freed by length-agnostic cJSON_free */
    int fd = fileno(j->f);
    off_t end = lseek(fd, 0, SEEK_END);
    size_t done = 0;
    int e = 0;
    while (end >= 0 && done < n + 1) {
        ssize_t w = write(fd, s + done, n + 1 - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC;
            break;
        }
        done += (size_t)w;
    }
    cJSON_free(s);
    if (end < 0) return lt_err_set(err, LT_EIO, "%s: write failed: %s", j->path, strerror(errno));
    if (done < n + 1) {
        if (ftruncate(fd, end) != 0) { /* keep the file whole; if even that fails, say so */
            return lt_err_set(err, LT_EIO, "%s: write failed (%s) and the partial entry could not be removed: %s",
                              j->path, strerror(e), strerror(errno));
        }
        return lt_err_set(err, LT_EIO, "%s: write failed: %s (the entry was not recorded)", j->path, strerror(e));
    }
    if (fsync(fd) != 0 && errno != EINVAL) /* delayed allocation can report a full disk only here */
        return lt_err_set(err, LT_EIO, "%s: write failed: %s (the entry may not be on disk)", j->path,
                          strerror(errno));
    return LT_OK;
}

lt_status lt_journal_open(lt_journal **out, const char *path, lt_err *err) {
    *out = NULL;
    lt_journal *j = lt_calloc(1, sizeof *j);
    if (!j || !(j->path = lt_strdup(path))) {
        lt_free(j);
        return lt_err_set(err, LT_ENOMEM, "out of host memory");
    }
    j->f = fopen(path, "w");
    if (!j->f) {
        lt_status st = lt_err_set(err, LT_EIO, "cannot create journal %s: %s", path, strerror(errno));
        lt_journal_close(j);
        return st;
    }
    char iso[32];
    lt_wall_time(iso, sizeof iso, NULL, 0);
    cJSON *h = cJSON_CreateObject();
    cJSON_AddNumberToObject(h, "lathe_journal", LT_JOURNAL_VERSION);
    cJSON_AddStringToObject(h, "created", iso);
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) cJSON_AddStringToObject(h, "cwd", cwd); /* relative paths in commands resolve here */
    lt_status st = write_line(j, h, err);
    cJSON_Delete(h);
    if (st != LT_OK) {
        lt_journal_close(j);
        return st;
    }
    *out = j;
    return LT_OK;
}

void lt_journal_close(lt_journal *j) {
    if (!j) return;
    if (j->f) fclose(j->f);
    lt_free(j->path);
    lt_free(j);
}

const char *lt_journal_path(const lt_journal *j) { return j->path; }

/* A float as the shortest decimal that reads back the same float (0.8, not 0.800000011920929). */
static double round6(float f) {
    char b[32];
    for (int prec = 6; prec < 10; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, f);
        if ((float)strtod(b, NULL) == f) break;
    }
    return strtod(b, NULL);
}

/* The system prompt in an entry's params: its first JOURNAL_SYSTEM_HEAD bytes (cut on a UTF-8
 * boundary, "..." added when cut) and, when it is not empty, its length and FNV-1a 64, which
 * tell two prompts apart without repeating the whole text in every entry. */
#define JOURNAL_SYSTEM_HEAD 80
static void add_system(cJSON *p, const char *sys) {
    size_t n = strnlen(sys, LT_SETTINGS_SYSTEM_LEN), cut = n;
    char head[JOURNAL_SYSTEM_HEAD + 4];
    if (n > JOURNAL_SYSTEM_HEAD) {
        cut = JOURNAL_SYSTEM_HEAD;
        while (cut > 0 && ((unsigned char)sys[cut] & 0xC0) == 0x80) cut--; /* not inside a character */
    }
    memcpy(head, sys, cut);
    snprintf(head + cut, sizeof head - cut, "%s", cut < n ? "..." : "");
    cJSON_AddStringToObject(p, "system", head);
    if (!n) return;
    char num[32];
    cJSON_AddNumberToObject(p, "system_len", (double)n);
    snprintf(num, sizeof num, "%016" PRIx64, lt_fnv1a64(LT_FNV_INIT, sys, n));
    cJSON_AddStringToObject(p, "system_fnv", num);
}

lt_status lt_journal_append(lt_journal *j, lt_journal_entry *e, lt_err *err) {
    e->n = j->n + 1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", e->n);
    cJSON_AddStringToObject(o, "time", e->time);
    cJSON_AddStringToObject(o, "line", e->line ? e->line : "");
    cJSON_AddStringToObject(o, "cmd", e->cmd);
    cJSON_AddStringToObject(o, "status", e->code != LT_OK ? "error" : e->cancelled ? "cancelled" : "ok");
    if (e->code != LT_OK) {
        cJSON_AddStringToObject(o, "error", e->msg);
        cJSON_AddStringToObject(o, "code", lt_status_str(e->code));
    }
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, e->seed);
    cJSON_AddStringToObject(o, "seed", num);
    cJSON *p = cJSON_AddObjectToObject(o, "params");
    cJSON_AddNumberToObject(p, "temp", round6(e->params.temp));
    cJSON_AddNumberToObject(p, "top_k", e->params.top_k);
    cJSON_AddNumberToObject(p, "top_p", round6(e->params.top_p));
    cJSON_AddNumberToObject(p, "min_p", round6(e->params.min_p));
    snprintf(num, sizeof num, "%" PRIu64, e->params.seed);
    cJSON_AddStringToObject(p, "seed", num);
    cJSON_AddNumberToObject(p, "max_tokens", e->params.max_tokens);
    cJSON_AddNumberToObject(p, "repeat_penalty", round6(e->params.repeat_penalty));
    cJSON_AddNumberToObject(p, "repeat_last_n", e->params.repeat_last_n);
    cJSON_AddNumberToObject(p, "ctx", e->params.ctx);
    cJSON *stops = cJSON_AddArrayToObject(p, "stop");
    for (int i = 0; stops && i < e->params.n_stops && i < LT_SETTINGS_MAX_STOPS; i++)
        cJSON_AddItemToArray(stops, cJSON_CreateString(e->params.stops[i]));
    add_system(p, e->params.system);
    cJSON_AddStringToObject(p, "device", e->params.device);
    cJSON_AddNumberToObject(p, "threads", e->params.threads);
    if (e->has_digest) {
        snprintf(num, sizeof num, "%016" PRIx64, e->digest);
        cJSON_AddStringToObject(o, "digest", num);
    }
    cJSON_AddNumberToObject(o, "tokens", e->n_tokens);
    cJSON_AddNumberToObject(o, "ms", e->ms);
    lt_status st = write_line(j, o, err);
    cJSON_Delete(o);
    if (st == LT_OK) j->n++;
    return st;
}

/* ---- reading ---------------------------------------------------------------------- */

void lt_journal_entries_free(lt_journal_entry *e, int n) {
    if (!e) return;
    for (int i = 0; i < n; i++) lt_free(e[i].line);
    lt_free(e);
}

static bool parse_u64(const cJSON *v, uint64_t *out, int base) {
    if (!cJSON_IsString(v) || !v->valuestring[0]) return false;
    char *end;
    errno = 0;
    unsigned long long u = strtoull(v->valuestring, &end, base);
    if (*end || errno) return false;
    *out = u;
    return true;
}

static lt_status parse_entry(const char *path, int ln, cJSON *o, lt_journal_entry *e, lt_err *err) {
    memset(e, 0, sizeof *e);
    e->line_no = ln;
#define BAD(...) lt_err_set(err, LT_EFORMAT, "%s:%d: " __VA_ARGS__)
    if (!cJSON_IsObject(o)) return BAD("%s", path, ln, "not a JSON object");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "n");
    const cJSON *line = cJSON_GetObjectItemCaseSensitive(o, "line");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(o, "cmd");
    if (!cJSON_IsNumber(n)) return BAD("%s", path, ln, "entry has no number 'n'");
    if (!cJSON_IsString(line)) return BAD("%s", path, ln, "entry has no 'line'");
    if (!cJSON_IsString(status)) return BAD("%s", path, ln, "entry has no 'status'");
    e->n = n->valueint;
    if (cJSON_IsString(cmd)) snprintf(e->cmd, sizeof e->cmd, "%s", cmd->valuestring);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time");
    if (cJSON_IsString(t)) snprintf(e->time, sizeof e->time, "%s", t->valuestring);
    if (!strcmp(status->valuestring, "ok")) e->code = LT_OK;
    else if (!strcmp(status->valuestring, "cancelled")) e->code = LT_OK, e->cancelled = true;
    else if (!strcmp(status->valuestring, "error")) {
        e->code = LT_EINVAL;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "error");
        if (cJSON_IsString(m)) snprintf(e->msg, sizeof e->msg, "%s", m->valuestring);
    } else
        return BAD("unknown status '%s'", path, ln, status->valuestring);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "digest");
    if (d) {
        if (!parse_u64(d, &e->digest, 16) || strlen(d->valuestring) != 16)
            return BAD("%s", path, ln, "'digest' is not 16 hex digits");
        e->has_digest = true;
    }
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (sd && !parse_u64(sd, &e->seed, 10)) return BAD("%s", path, ln, "'seed' is not an unsigned integer string");
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(o, "tokens");
    if (tk) {
        if (!cJSON_IsNumber(tk) || tk->valuedouble < 0) return BAD("%s", path, ln, "'tokens' is not a count");
        e->n_tokens = tk->valueint;
    }
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "ms");
    if (cJSON_IsNumber(ms)) e->ms = ms->valuedouble;
#undef BAD
    e->line = lt_strdup(line->valuestring);
    if (!e->line) return lt_err_set(err, LT_ENOMEM, "out of host memory");
    return LT_OK;
}

/* Reads one line of at most LT_JOURNAL_MAX_LINE bytes into *buf (grown as needed). Returns its
 * length (0 and *eof at the end), -1 when the line is longer than the cap (the rest of it is
 * read past, in constant memory), -2 on a read error. */
static long read_line(FILE *f, char **buf, size_t *cap, bool *has_nl, bool *eof) {
    size_t n = 0;
    *has_nl = false;
    *eof = false;
    for (;;) {
        if (n + 2 > *cap) {
            if (*cap >= LT_JOURNAL_MAX_LINE + 2) { /* too long: skip to its end */
                int c;
                while ((c = getc(f)) != EOF && c != '\n') {}
                if (c == EOF && ferror(f)) return -2;
                *has_nl = c == '\n';
                return -1;
            }
            size_t nc = *cap ? *cap * 2 : 4096;
            if (nc > LT_JOURNAL_MAX_LINE + 2) nc = LT_JOURNAL_MAX_LINE + 2;
            char *nb = lt_realloc(*buf, nc);
            if (!nb) return -2;
            *buf = nb, *cap = nc;
        }
        int c = getc(f);
        if (c == EOF) {
            if (ferror(f)) return -2;
            *eof = n == 0;
            break;
        }
        if (c == '\n') {
            *has_nl = true;
            break;
        }
        (*buf)[n++] = (char)c;
    }
    (*buf)[n] = 0;
    return (long)n;
}

/* A line that is not JSON: an entry cut short by a failed or interrupted write. When a whole
 * entry was appended after the cut on the same line, it is recovered. */
static cJSON *recover_torn(const char *line, size_t len) {
    const char *p = NULL;
    for (const char *q = line + 1; (q = strstr(q, "{\"n\":")); q++) p = q;
    return p ? cJSON_ParseWithLength(p, len - (size_t)(p - line)) : NULL;
}

lt_status lt_journal_read(const char *path, lt_journal_entry **out, int *n_out, lt_journal_damage *dmg, lt_err *err) {
    *out = NULL;
    *n_out = 0;
    lt_journal_damage dummy;
    if (!dmg) dmg = &dummy;
    memset(dmg, 0, sizeof *dmg);
    FILE *f = lt_file_fopen_regular(path, err);
    if (!f) return err->code;
    char *buf = NULL;
    size_t cap = 0;
    int ln = 0, n = 0, ecap = 0;
    lt_journal_entry *es = NULL;
    lt_status st = LT_OK;
    for (;;) {
        bool has_nl, eof;
        long len = read_line(f, &buf, &cap, &has_nl, &eof);
        if (len == -1) { /* an entry too long to be one (a command line is shorter): skipped, named */
            ln++;
            if (ln == 1) {
                st = lt_err_set(err, LT_EFORMAT, "%s:1: line longer than %d bytes, not a lathe session", path,
                                LT_JOURNAL_MAX_LINE);
                break;
            }
            if (dmg->n_long < LT_JOURNAL_MAX_TORN) dmg->long_lines[dmg->n_long] = ln;
            dmg->n_long++;
            continue;
        }
        if (len == -2) {
            st = lt_err_set(err, LT_EIO, "%s: read failed", path);
            break;
        }
        if (eof) break;
        ln++;
        cJSON *o = cJSON_ParseWithLength(buf, (size_t)len);
        if (!o && ln > 1 && len > 0) {
            int c = getc(f);
            if (c == EOF && !has_nl) { /* an interrupted last write: drop it */
                dmg->truncated = true;
                break;
            }
            if (c != EOF) ungetc(c, f);
            if (dmg->n_torn < LT_JOURNAL_MAX_TORN) dmg->torn[dmg->n_torn] = ln;
            dmg->n_torn++;
            o = recover_torn(buf, (size_t)len);
            if (!o) continue; /* skipped; the caller names it */
        }
        if (!o) {
            st = lt_err_set(err, LT_EFORMAT, "%s:%d: not valid JSON%s", path, ln, len == 0 ? " (empty line)" : "");
            break;
        }
        if (ln == 1) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "lathe_journal");
            if (!cJSON_IsNumber(v))
                st = lt_err_set(err, LT_EFORMAT, "%s:1: not a lathe session file (no 'lathe_journal' header)", path);
            else if (v->valueint > LT_JOURNAL_VERSION || v->valueint < 1)
                st = lt_err_set(err, LT_EFORMAT, "%s:1: journal v%d is not supported by this build (v%d)", path,
                                v->valueint, LT_JOURNAL_VERSION);
            cJSON_Delete(o);
            if (st != LT_OK) break;
            continue;
        }
        if (n == ecap) {
            ecap = ecap ? 2 * ecap : 16;
            lt_journal_entry *ne = lt_realloc(es, (size_t)ecap * sizeof *es);
            if (!ne) {
                st = lt_err_set(err, LT_ENOMEM, "out of host memory");
                cJSON_Delete(o);
                break;
            }
            es = ne;
        }
        st = parse_entry(path, ln, o, &es[n], err);
        cJSON_Delete(o);
        if (st != LT_OK) break;
        n++;
    }
    lt_free(buf);
    fclose(f);
    if (st == LT_OK && ln == 0) st = lt_err_set(err, LT_EFORMAT, "%s: empty file, not a lathe session", path);
    if (st != LT_OK) {
        lt_journal_entries_free(es, n);
        return st;
    }
    *out = es;
    *n_out = n;
    return LT_OK;
}

lt_status lt_journal_cwd(const char *path, char *buf, size_t cap, lt_err *err) {
    if (cap) buf[0] = 0;
    FILE *f = lt_file_fopen_regular(path, err);
    if (!f) return err->code;
    char *line = NULL;
    size_t lcap = 0;
    bool has_nl, eof;
    long len = read_line(f, &line, &lcap, &has_nl, &eof);
    fclose(f);
    lt_status st = LT_OK;
    cJSON *o = len > 0 ? cJSON_ParseWithLength(line, (size_t)len) : NULL;
    if (!o || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "lathe_journal")))
        st = lt_err_set(err, LT_EFORMAT, "%s:1: not a lathe session file (no 'lathe_journal' header)", path);
    const cJSON *c = o ? cJSON_GetObjectItemCaseSensitive(o, "cwd") : NULL;
    if (st == LT_OK && cJSON_IsString(c) && strlen(c->valuestring) < cap) snprintf(buf, cap, "%s", c->valuestring);
    cJSON_Delete(o);
    lt_free(line);
    return st;
}
