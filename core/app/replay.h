/* replay.h - re-executing a session file (core/app/journal.h) in a session and comparing
 * each command's result (status, digest) with the recording. `lathe replay` and the
 * `replay` command both use it.
 * Leaves out: reading and writing the file (journal.c), creating the session (the caller).
 */
#ifndef LT_REPLAY_H
#define LT_REPLAY_H

#include <stdbool.h>

#include "journal.h"
#include "session.h"

/* Called for each replayed entry: same = the result matched (status, digest). */
/* Returning false stops the replay there (Esc in the front end): lt_replay then returns
 * LT_ECANCELLED. */
typedef bool (*lt_replay_fn)(void *ud, const lt_journal_entry *e, bool same, const char *detail);

/* Re-executes the journal's commands in s (normally a fresh session without a journal),
 * calling report for each. With stop_at_diff, stops at the first divergence.
 * *first_diff_line = file line of the first divergent entry (0 = none); *dmg (may be NULL)
 * = what the reader skipped (a torn or cut-short line). Reading errors are returned as errors;
 * divergences are not. The `replay` command refuses to run inside a replay (a journal never
 * records one: replay is not journaled), so a hand-made journal that replays itself, or N lines
 * that replay it, costs at most N replays of it. */
#define LT_REPLAY_MAX_DEPTH 1
lt_status lt_replay(const char *path, lt_session *s, lt_sink *sink, bool stop_at_diff, lt_replay_fn report, void *ud,
                    int *first_diff_line, int *n_entries, lt_journal_damage *dmg, lt_err *err);

/* "s.lathe: skipped the torn entry on line 7" / "... the last line was cut short ..." for a
 * reader's damage, into buf ("" when there is none). */
void lt_replay_damage_note(const char *path, const lt_journal_damage *d, char *buf, size_t cap);

#endif
