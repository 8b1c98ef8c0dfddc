/* ratemeter.h - decode throughput from streamed tokens, measured only over whole decode steps.
 *
 * A decode step may deliver several tokens at the same instant (speculative decoding emits a
 * verified draft at once), so dividing by the time between two tokens of one step gives
 * absurd rates. The meter starts measuring at the end of the first step (the tokens before
 * it were paid for by the prefill) and gives tokens / seconds between the ends of steps, only
 * once at least one whole step (and a minimum time the caller chooses) lies in between. Pure: the caller
 * passes the clock.
 * Leaves out: prefill rates (one interval, measured by the caller), keeping peaks.
 */
#ifndef LT_RATEMETER_H
#define LT_RATEMETER_H

#include <stdbool.h>

typedef struct lt_ratemeter {
    bool started;       /* the first step ended */
    double t0, t_end;   /* end of the first step, end of the latest step */
    int n0, n_end, n;   /* tokens at those ends, tokens seen */
} lt_ratemeter;

/* An empty meter. */
void lt_ratemeter_init(lt_ratemeter *m);

/* One token at time now; step_end says it is the last token of its decode step (plain
 * decoding: every token; speculative: the target's own token after the accepted drafts). */
void lt_ratemeter_token(lt_ratemeter *m, double now, bool step_end);

/* Tokens per second over the whole steps measured so far; 0 when there is no interval of at
 * least one step and at least min_s seconds yet (min_s 0: any such interval). */
double lt_ratemeter_rate(const lt_ratemeter *m, double min_s);

#endif
