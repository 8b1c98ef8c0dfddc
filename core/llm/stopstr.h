/* stopstr.h - stop sequences in streamed text: text goes in piece by piece, what is decided
 * not to be part of a stop sequence comes out, a partial match at the end is held back until
 * the next piece decides it, and once a stop sequence appears the output ends right before it
 * (as llama.cpp's server does). Pure: no allocation, no I/O.
 * Leaves out: tokens (it sees text only), ending the generation (the caller does).
 */
#ifndef LT_STOPSTR_H
#define LT_STOPSTR_H

#include <stdbool.h>
#include <stddef.h>

#define LT_STOPSTR_MAX 8      /* stop sequences */
#define LT_STOPSTR_LEN 64     /* bytes of one, NUL included */

typedef struct lt_stopstr {
    char stops[LT_STOPSTR_MAX][LT_STOPSTR_LEN];
    int n_stops;
    char held[LT_STOPSTR_LEN]; /* the end of the text so far that may begin a stop sequence */
    size_t n_held;
    int hit; /* index of the stop sequence found, -1 = none yet */
} lt_stopstr;

/* Starts a matcher for stops[0..n) (empty and too long sequences are skipped; n 0 = none:
 * every byte passes at once). */
void lt_stopstr_init(lt_stopstr *m, const char *const *stops, int n);

/* Feeds len bytes; writes to out the bytes now decided to be reply text and returns their
 * number (at most len + LT_STOPSTR_LEN; out needs that much room). After a stop sequence
 * appears m->hit is set, the output ends before it, and later feeds give nothing. */
size_t lt_stopstr_feed(lt_stopstr *m, const char *text, size_t len, char *out);

/* At the end of the text: the bytes still held back (no stop sequence completed). */
size_t lt_stopstr_flush(lt_stopstr *m, char *out);

/* The stop sequence found, or NULL. */
const char *lt_stopstr_hit(const lt_stopstr *m);

#endif
