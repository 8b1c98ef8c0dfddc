/* replay.c - see replay.h. */
#include "replay.h"

#include <inttypes.h>
#include <stdio.h>

lt_status lt_replay(const char *path, lt_session *s, lt_sink *sink, bool stop_at_diff, lt_replay_fn report, void *ud,
                     int *first_diff_line, int *n_entries, lt_journal_damage *dmg, lt_err *err) {
    *first_diff_line = 0;
    lt_journal_entry *es;
    int n;
    LT_TRY(lt_journal_read(path, &es, &n, dmg, err));
    if (n_entries) *n_entries = n;
    for (int i = 0; i < n; i++) {
        lt_journal_entry *e = &es[i];
        if (e->cancelled) lt_session_set_token_limit(s, e->n_tokens);
        lt_err xe;
        lt_status st = lt_session_exec(s, e->line, sink, &xe);
        const lt_result *r = lt_session_last(s);
        char detail[LT_ERR_MSG_MAX + 96] = "";
        bool same;
        if ((st != LT_OK) != (e->code != LT_OK)) {
            same = false;
            if (st != LT_OK) snprintf(detail, sizeof detail, "(failed now: %s)", xe.msg);
            else snprintf(detail, sizeof detail, "(succeeded now; recorded error: %s)", e->msg);
        } else if (st == LT_OK && e->has_digest && (!r->has_digest || r->digest != e->digest)) {
            same = false;
            snprintf(detail, sizeof detail, "(digest %016" PRIx64 ", recorded %016" PRIx64 ")",
                     r->has_digest ? r->digest : 0, e->digest);
        } else {
            same = true;
            if (e->cancelled) snprintf(detail, sizeof detail, "(cancelled after %d tokens)", e->n_tokens);
        }
        bool go_on = report ? report(ud, e, same, detail) : true;
        if (!same && !*first_diff_line) *first_diff_line = e->line_no;
        if (!same && stop_at_diff) break;
        if (!go_on) {
            lt_journal_entries_free(es, n);
            return lt_err_set(err, LT_ECANCELLED, "replay %s: stopped after %d of %d commands", path, i + 1, n);
        }
    }
    lt_journal_entries_free(es, n);
    return LT_OK;
}

void lt_replay_damage_note(const char *path, const lt_journal_damage *d, char *buf, size_t cap) {
    buf[0] = 0;
    size_t k = 0;
    if (d->n_torn > 0) {
        k += (size_t)snprintf(buf, cap, "%s: skipped %d torn entr%s (not JSON; a write that failed part way) on line%s",
                              path, d->n_torn, d->n_torn == 1 ? "y" : "ies", d->n_torn == 1 ? "" : "s");
        for (int i = 0; i < d->n_torn && i < LT_JOURNAL_MAX_TORN && k < cap; i++)
            k += (size_t)snprintf(buf + k, cap - k, "%s %d", i ? "," : "", d->torn[i]);
        if (d->n_torn > LT_JOURNAL_MAX_TORN && k < cap) k += (size_t)snprintf(buf + k, cap - k, ", ...");
    }
    if (d->n_long > 0 && k < cap) {
        k += (size_t)snprintf(buf + k, cap - k, "%s%s: skipped %d entr%s longer than %d bytes on line%s", k ? "; " : "",
                              path, d->n_long, d->n_long == 1 ? "y" : "ies", LT_JOURNAL_MAX_LINE,
                              d->n_long == 1 ? "" : "s");
        for (int i = 0; i < d->n_long && i < LT_JOURNAL_MAX_TORN && k < cap; i++)
            k += (size_t)snprintf(buf + k, cap - k, "%s %d", i ? "," : "", d->long_lines[i]);
    }
    if (d->truncated && k < cap)
        snprintf(buf + k, cap - k, "%s%s: the last line was cut short (an interrupted write); skipped it", k ? "; " : "",
                 path);
}
