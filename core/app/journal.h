/* journal.h - session files: every executed command with its time, parameters, seed and a
 * digest of its result, one JSON object per line, appended and flushed (fflush + fsync)
 * as each command finishes, so a crash or kill -9 loses no completed command.
 *
 * Format (version LT_JOURNAL_VERSION): the first line is a header
 *   {"lathe_journal":1,"created":"2026-11-26T09:00:00Z","cwd":"/home/me/models"}
 * (cwd: the working folder the session ran in, where its relative paths resolve; absent in
 * older files)
 * then one entry per line:
 *   {"n":3,"time":"...","line":"chat Once upon a time","cmd":"chat","status":"ok",
 *    "seed":7,"params":{"temp":0.8,...},"digest":"9f0c...","tokens":64,"ms":12.5}
 * params holds the settings in force: temp, top_k, top_p, min_p, seed, max_tokens,
 * repeat_penalty, repeat_last_n, ctx, stop (an array), system (its first 80 bytes, "..." when
 * cut; with system_len and system_fnv, its FNV-1a 64, when set), device, threads.
 * status is "ok", "cancelled" or "error" (with "error": message). Readers accept a
 * truncated last line (an interrupted write) and report it; anything else malformed is an
 * error naming the line. core/app/replay.h re-executes the lines in a session and compares
 * digests.
 */
#ifndef LT_JOURNAL_H
#define LT_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/base/status.h"
#include "settings.h"

#define LT_JOURNAL_VERSION 1

typedef struct lt_journal_entry {
    int line_no;   /* line in the file (1 = header) */
    int n;         /* command number */
    char time[32];
    char *line;    /* the command line as executed */
    char cmd[32];
    lt_status code;  /* LT_OK for "ok" and "cancelled" */
    bool cancelled;
    char msg[LT_ERR_MSG_MAX];
    bool has_digest;
    uint64_t digest;
    uint64_t seed;
    int n_tokens;
    double ms;
    lt_settings params; /* settings in force */
} lt_journal_entry;

typedef struct lt_journal lt_journal;

/* Creates (truncating) path and writes the header. */
lt_status lt_journal_open(lt_journal **out, const char *path, lt_err *err);
void lt_journal_close(lt_journal *j); /* NULL is a no-op */
/* The file being written. */
const char *lt_journal_path(const lt_journal *j);

/* Appends one entry (e->line_no ignored; e->n assigned) and flushes it to disk. */
lt_status lt_journal_append(lt_journal *j, lt_journal_entry *e, lt_err *err);

/* Longest line a reader accepts (a journal line holds one command line and its result). */
#define LT_JOURNAL_MAX_LINE (1 << 20)
#define LT_JOURNAL_MAX_TORN 8

/* What a reader skipped: a last line cut short (kill -9 during a write), and lines in the
 * middle that are not JSON (an entry torn by a failed write; a whole entry appended after the
 * tear on the same line is recovered). */
typedef struct lt_journal_damage {
    bool truncated;
    int n_torn;                     /* torn lines skipped */
    int torn[LT_JOURNAL_MAX_TORN];  /* the first of their line numbers */
    int n_long;                     /* lines longer than LT_JOURNAL_MAX_LINE skipped */
    int long_lines[LT_JOURNAL_MAX_TORN];
} lt_journal_damage;

/* Reads a journal (a regular file only). Damage (may be NULL) says what was skipped: torn
 * lines and lines longer than LT_JOURNAL_MAX_LINE (read past in constant memory; a header that
 * long is an error). Errors name the file and line ("s.lathe:4: entry has no
 * 'line'"). */
lt_status lt_journal_read(const char *path, lt_journal_entry **out, int *n, lt_journal_damage *dmg, lt_err *err);
/* The working folder recorded in the journal's header into buf ("" when it has none or it does
 * not fit in cap); an error when path is not a lathe session file. */
lt_status lt_journal_cwd(const char *path, char *buf, size_t cap, lt_err *err);
/* Frees what lt_journal_read returned (NULL is a no-op). */
void lt_journal_entries_free(lt_journal_entry *e, int n);

#endif
