/* test_stopstr.c - the stop-sequence matcher (core/llm/stopstr.h): a stop sequence split over
 * pieces is held back and never shown, a partial match that turns out not to be one comes
 * out whole, the earliest of several sequences wins, nothing after a stop comes out, and
 * without stop sequences every byte passes at once. */
#include <string.h>

#include "core/llm/stopstr.h"
#include "testutil.h"

/* Feeds the pieces, returns what came out (and the flush unless stopped). */
static const char *run(lt_stopstr *m, const char *const *pieces, int n, char *res) {
    char out[512];
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        size_t k = lt_stopstr_feed(m, pieces[i], strlen(pieces[i]), out);
        memcpy(res + o, out, k);
        o += k;
    }
    o += lt_stopstr_flush(m, res + o);
    res[o] = 0;
    return res;
}

int main(void) {
    lt_stopstr m;
    char res[1024], out[512];
    const char *stops[] = {"###", "User:"};

    /* a stop sequence split over three pieces: the text ends before it */
    lt_stopstr_init(&m, stops, 2);
    const char *p1[] = {"Hello #", "#", "# more", "ignored"};
    CHECK(!strcmp(run(&m, p1, 4, res), "Hello ") && m.hit == 0 && !strcmp(lt_stopstr_hit(&m), "###"));

    /* the held "#" is not shown before it is decided */
    lt_stopstr_init(&m, stops, 2);
    CHECK(lt_stopstr_feed(&m, "ab#", 3, out) == 2 && !memcmp(out, "ab", 2));
    CHECK(lt_stopstr_feed(&m, "#", 1, out) == 0);                     /* "##" still may begin "###" */
    CHECK(lt_stopstr_feed(&m, "x", 1, out) == 3 && !memcmp(out, "##x", 3)); /* it was not one */
    CHECK(lt_stopstr_hit(&m) == NULL);

    /* a partial match at the end of the text comes out at the flush */
    lt_stopstr_init(&m, stops, 2);
    const char *p2[] = {"tell the Use"};
    CHECK(!strcmp(run(&m, p2, 1, res), "tell the Use") && m.hit < 0);

    /* the earliest sequence wins; a stop at the very start gives nothing */
    lt_stopstr_init(&m, stops, 2);
    const char *p3[] = {"a User: b ### c"};
    CHECK(!strcmp(run(&m, p3, 1, res), "a ") && m.hit == 1);
    lt_stopstr_init(&m, stops, 2);
    const char *p4[] = {"###"};
    CHECK(!strcmp(run(&m, p4, 1, res), "") && m.hit == 0);
    CHECK(lt_stopstr_feed(&m, "more", 4, out) == 0); /* nothing after a stop */

    /* one piece longer than the window, the stop deep inside it */
    lt_stopstr_init(&m, stops, 2);
    char big[400];
    memset(big, 'x', sizeof big);
    memcpy(big + 300, "User:", 5);
    big[399] = 0;
    const char *p5[] = {big};
    run(&m, p5, 1, res);
    CHECK(strlen(res) == 300 && m.hit == 1);

    /* no stop sequences (or only unusable ones): everything passes at once */
    const char *none[] = {"", NULL};
    lt_stopstr_init(&m, none, 2);
    CHECK(m.n_stops == 0 && lt_stopstr_feed(&m, "###", 3, out) == 3 && lt_stopstr_flush(&m, out) == 0);
    return lt_test_done();
}
