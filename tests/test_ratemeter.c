/* test_ratemeter.c - decode rates over whole decode steps (core/llm/ratemeter.h). The defect
 * it guards: after speculative decoding the throughput pane showed `peak 210659.4 tok/s` on a
 * ~50 tok/s model, because the rate was taken between two tokens of one verified draft that
 * arrive at (almost) the same instant. */
#include <math.h>

#include "core/llm/ratemeter.h"
#include "testutil.h"

int main(void) {
    lt_ratemeter m;
    /* plain decoding at 50 tok/s: every token ends a step */
    lt_ratemeter_init(&m);
    CHECK(lt_ratemeter_rate(&m, 0) == 0);
    for (int i = 0; i < 11; i++) lt_ratemeter_token(&m, 1.0 + i * 0.02, true);
    CHECKF(fabs(lt_ratemeter_rate(&m, 0) - 50) < 1e-6, "%g", lt_ratemeter_rate(&m, 0));
    CHECK(lt_ratemeter_rate(&m, 0.5) == 0); /* 0.2 s measured: less than asked for */

    /* a burst: the first token, then a verified draft of 8 tokens at the same instant (the
     * old code divided 1 token by ~1 microsecond here) */
    lt_ratemeter_init(&m);
    lt_ratemeter_token(&m, 2.0, true);
    for (int i = 0; i < 7; i++) lt_ratemeter_token(&m, 2.0 + 1e-6 * i, false);
    lt_ratemeter_token(&m, 2.0 + 1e-5, true);
    CHECKF(lt_ratemeter_rate(&m, 0.1) == 0, "no rate over less than 0.1 s: %g", lt_ratemeter_rate(&m, 0.1));

    /* the same burst delivered with no step information (every token a step, same instant):
     * no interval, no rate */
    lt_ratemeter_init(&m);
    for (int i = 0; i < 9; i++) lt_ratemeter_token(&m, 3.0, true);
    CHECK(lt_ratemeter_rate(&m, 0) == 0);

    /* speculative steps of 5 tokens every 0.1 s = 50 tok/s, measured from the first step's end */
    lt_ratemeter_init(&m);
    for (int step = 0; step < 5; step++)
        for (int i = 0; i < 5; i++) lt_ratemeter_token(&m, 4.0 + 0.1 * step, i == 4);
    CHECKF(fabs(lt_ratemeter_rate(&m, 0.1) - 50) < 1e-6, "%g", lt_ratemeter_rate(&m, 0.1));
    /* drafts of a step still under way do not count until the step ends */
    lt_ratemeter_token(&m, 4.45, false);
    CHECK(fabs(lt_ratemeter_rate(&m, 0.1) - 50) < 1e-6);
    return lt_test_done();
}
