/* test_layout.c - the workbench's pure parts: pane layout for many terminal sizes (no
 * overlaps, full cover, minimum sizes from 80x24 up), the palette's fuzzy filter and
 * ranking, and the serve pane's text (sparklines, rows, what a short pane drops). No terminal
 * needed. */
#include <stdlib.h>
#include <string.h>

#include "tui/layout.h"
#include "tui/palette.h"
#include "tui/serve_pane.h"
#include "testutil.h"

/* Every cell of the screen belongs to exactly one visible pane. */
static int check_cover(int rows, int cols, const lt_rect *r) {
    int *owner = calloc((size_t)rows * cols, sizeof(int));
    int bad = 0;
    for (int p = 0; p < LT_PANE_COUNT; p++) {
        if (!lt_rect_visible(r[p])) continue;
        if (r[p].y < 0 || r[p].x < 0 || r[p].y + r[p].h > rows || r[p].x + r[p].w > cols) {
            bad++;
            continue;
        }
        for (int y = r[p].y; y < r[p].y + r[p].h; y++)
            for (int x = r[p].x; x < r[p].x + r[p].w; x++) owner[y * cols + x]++;
    }
    for (int i = 0; i < rows * cols; i++) bad += owner[i] != 1;
    free(owner);
    return bad;
}

static void test_layout(void) {
    int sizes[][2] = {{24, 80}, {50, 200}, {30, 100}, {25, 99}, {40, 120}, {60, 300}, {24, 60},
                      {10, 40}, {2, 10},  {1, 5},    {15, 80}, {16, 80},  {100, 59}, {24, 81}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int rows = sizes[i][0], cols = sizes[i][1];
        lt_rect r[LT_PANE_COUNT];
        lt_layout_compute(rows, cols, r);
        int bad = check_cover(rows, cols, r);
        CHECKF(bad == 0, "%dx%d: %d cells not covered exactly once", cols, rows, bad);
        CHECKF(lt_rect_visible(r[LT_PANE_INPUT]) && r[LT_PANE_INPUT].y == rows - 1 && r[LT_PANE_INPUT].w == cols,
               "%dx%d: input line", cols, rows);
        if (rows >= 2)
            CHECKF(r[LT_PANE_STATUS].y == rows - 2 && r[LT_PANE_STATUS].h == 1, "%dx%d: status line", cols, rows);
        bool side = rows >= 16 && cols >= 60;
        CHECKF(lt_rect_visible(r[LT_PANE_DEVICE]) == side && lt_rect_visible(r[LT_PANE_THROUGHPUT]) == side,
               "%dx%d: side panes %s", cols, rows, side ? "expected" : "not expected");
        if (rows >= 3) CHECKF(lt_rect_visible(r[LT_PANE_MAIN]), "%dx%d: main pane", cols, rows);
    }
    /* 80x24: everything shown, readable sizes */
    lt_rect r[LT_PANE_COUNT];
    lt_layout_compute(24, 80, r);
    CHECK(r[LT_PANE_MAIN].w >= 48 && r[LT_PANE_MAIN].h == 22);
    CHECK(r[LT_PANE_DEVICE].w >= 30 && r[LT_PANE_DEVICE].h >= 7);
    CHECK(r[LT_PANE_THROUGHPUT].h >= 6);
    CHECK(lt_rect_visible(r[LT_PANE_MODELS]) && r[LT_PANE_MODELS].h >= 3);
    /* 200x50: wider side column, taller panes */
    lt_layout_compute(50, 200, r);
    CHECK(r[LT_PANE_MAIN].w > 120 && r[LT_PANE_DEVICE].w >= 40 && r[LT_PANE_MODELS].h > 20);
    /* reflow: the same function gives a different layout after a resize, and it is pure */
    lt_rect a[LT_PANE_COUNT], b[LT_PANE_COUNT];
    lt_layout_compute(30, 100, a);
    lt_layout_compute(30, 100, b);
    CHECK(!memcmp(a, b, sizeof a));
    lt_layout_compute(30, 140, b);
    CHECK(b[LT_PANE_MAIN].w != a[LT_PANE_MAIN].w);
    /* nonsense sizes give nothing, not a crash */
    lt_layout_compute(0, 0, r);
    for (int p = 0; p < LT_PANE_COUNT; p++) CHECK(!lt_rect_visible(r[p]));
}

static const lt_palette_item k_items[] = {
    {"load", "l", "load PATH|synthetic:PRESET [as NAME]", "load a model and make it current"},
    {"unload", NULL, "unload [NAME]", "free a model"},
    {"models", NULL, "models", "list the loaded models"},
    {"set", NULL, "set [KEY VALUE]", "change a setting"},
    {"chat", "c", "chat TEXT", "send TEXT in the conversation"},
    {"reset", NULL, "reset", "clear the conversation"},
    {"generate", "gen", "generate [-n N] TEXT", "one-off continuation"},
    {"bench", NULL, "bench [-p N] [-n N]", "measure prefill and decode speed"},
    {"session", NULL, "session save PATH", "copy this session's journal"},
    {"replay", NULL, "replay FILE [--check]", "re-run a session file"},
    {"help", "h", "help [COMMAND]", "list the commands"},
    {"quit", "q", "quit", "leave the workbench"},
};
#define N_ITEMS ((int)(sizeof k_items / sizeof k_items[0]))

static const char *top(const char *q) {
    int idx[32];
    int n = lt_palette_filter(q, k_items, N_ITEMS, idx, 32);
    return n ? k_items[idx[0]].name : "(none)";
}

static void test_palette(void) {
    /* subsequence matching, case-insensitive */
    CHECK(lt_fuzzy_score("ld", "load") > 0);
    CHECK(lt_fuzzy_score("LD", "load") > 0);
    CHECK(lt_fuzzy_score("dl", "load") < 0);
    CHECK(lt_fuzzy_score("loads", "load") < 0);
    CHECK(lt_fuzzy_score("", "load") == 0);
    /* exact > prefix > scattered; word starts beat the middle of words */
    CHECK(lt_fuzzy_score("load", "load") > lt_fuzzy_score("loa", "load"));
    CHECK(lt_fuzzy_score("un", "unload") > lt_fuzzy_score("un", "run unit"));
    CHECK(lt_fuzzy_score("ss", "session save") > lt_fuzzy_score("ss", "xsxxxxs"));
    CHECK(lt_fuzzy_score("ben", "bench") > lt_fuzzy_score("ben", "b_e_n"));
    /* ranking over the command list */
    CHECKF(!strcmp(top("bench"), "bench"), "%s", top("bench"));
    CHECKF(!strcmp(top("ben"), "bench"), "%s", top("ben"));
    CHECKF(!strcmp(top("bnc"), "bench"), "%s", top("bnc"));
    CHECKF(!strcmp(top("lo"), "load"), "%s", top("lo"));
    CHECKF(!strcmp(top("ul"), "unload"), "%s", top("ul"));
    CHECKF(!strcmp(top("q"), "quit"), "%s", top("q"));
    CHECKF(!strcmp(top("re"), "reset"), "%s", top("re")); /* prefix of reset and replay: registration order */
    CHECKF(!strcmp(top("rep"), "replay"), "%s", top("rep"));
    CHECKF(!strcmp(top("gen"), "generate"), "%s", top("gen"));
    /* matches in help text only still appear, after name matches */
    int idx[32];
    int n = lt_palette_filter("speed", k_items, N_ITEMS, idx, 32);
    CHECK(n == 1 && !strcmp(k_items[idx[0]].name, "bench"));
    n = lt_palette_filter("s", k_items, N_ITEMS, idx, 32);
    CHECK(n >= 3 && !strcmp(k_items[idx[0]].name, "set") && !strcmp(k_items[idx[1]].name, "session"));
    /* empty query lists everything in order; no match lists nothing; cap is respected */
    n = lt_palette_filter("", k_items, N_ITEMS, idx, 32);
    CHECK(n == N_ITEMS);
    bool in_order = true;
    for (int i = 0; i < n; i++) in_order = in_order && idx[i] == i;
    CHECK(in_order);
    CHECK(lt_palette_filter("zzzz", k_items, N_ITEMS, idx, 32) == 0);
    CHECK(lt_palette_filter("", k_items, N_ITEMS, idx, 3) == 3);
}

static void test_serve_pane(void) {
    char out[256];
    float v[5] = {0, 1, 2, 4, 8};
    CHECK(lt_sparkline(v, 5, 10, 0, false, out, sizeof out) == 5 && !strcmp(out, " .:=#"));
    CHECK(lt_sparkline(v, 5, 3, 0, false, out, sizeof out) == 3 && !strcmp(out, ":=#")); /* the latest values */
    CHECK(lt_sparkline(v, 5, 5, 16, false, out, sizeof out) == 5 && !strcmp(out, " ..:=")); /* a fixed scale */
    CHECK(lt_sparkline(v, 5, 5, 0, true, out, sizeof out) == 5 && !strcmp(out, " \u2581\u2582\u2584\u2588"));
    CHECK(lt_sparkline(v, 5, 5, 0, true, out, 7) == 2); /* cut at the buffer, whole characters only */
    CHECK(lt_sparkline(v, 0, 5, 0, true, out, sizeof out) == 0 && !out[0]);
    lt_serve_view sv = {.running = true, .done = 3, .total = 10};
    snprintf(sv.title, sizeof sv.title, "sarathi 512");
    lt_engine_snapshot *e = &sv.eng;
    e->n_running = 4, e->n_waiting = 3, e->n_decode = 4, e->n_prefill = 60, e->n_steps = 70;
    e->kv_used = 12, e->kv_total = 80, e->kv_host_used = 5, e->kv_host_total = 100;
    e->n_hist = LT_ENGINE_HIST;
    for (int i = 0; i < LT_ENGINE_HIST; i++) e->hist_decode[i] = 4, e->hist_prefill[i] = i % 2 ? 0 : 64;
    e->n_tbt = 3, e->tbt_ms[0] = 10, e->tbt_ms[1] = 30, e->tbt_ms[2] = 20;
    char title[LT_SERVE_PANE_LINE], lines[LT_SERVE_PANE_ROWS][LT_SERVE_PANE_LINE];
    int n = lt_serve_pane_text(&sv, 30, 20, false, title, lines);
    CHECKF(n == 7 && !strcmp(title, "serve sarathi 512"), "%d rows, title '%s'", n, title);
    CHECKF(!strcmp(lines[0], "run 4 wait 3 done 3/10") && !strcmp(lines[1], "step 70: 4 decode + 60 prefill"),
           "'%s' '%s'", lines[0], lines[1]);
    /* 25 cells of sparkline in a 30-cell pane; decode (4 of 64) on the prefill's scale */
    CHECKF(strlen(lines[2]) == 4 + 25 && strspn(lines[2] + 4, ".") == 25, "'%s'", lines[2]);
    CHECKF(strlen(lines[3]) == 4 + 25 && lines[3][4] == ' ' && lines[3][5] == '#', "'%s'", lines[3]);
    CHECKF(!strcmp(lines[4], "KV 12/80 dev 5/100 host"), "'%s'", lines[4]);
    CHECKF(!strcmp(lines[5], "tbt -#+") && !strcmp(lines[6], "tbt p50 20.0 max 30.0 ms"), "'%s' '%s'", lines[5],
           lines[6]);
    e->drafted = 40, e->accepted = 30;
    sv.running = false;
    n = lt_serve_pane_text(&sv, 30, 20, true, title, lines);
    CHECKF(n == 8 && !strcmp(lines[7], "spec 30/40 accepted (75%)") && strstr(title, "(done)"), "%d '%s'", n,
           lines[7]);
    CHECK(lt_serve_pane_text(&sv, 30, 3, true, title, lines) == 3 && !strncmp(lines[2], "dec ", 4));
    CHECK(lt_serve_pane_text(&sv, 30, 0, true, title, lines) == 0);
    e->n_tbt = 0, e->n_hist = 0;
    n = lt_serve_pane_text(&sv, 30, 7, true, title, lines);
    CHECK(n == 7 && !strcmp(lines[2], "dec ") && !strcmp(lines[6], "tbt -"));
}

int main(void) {
    test_layout();
    test_serve_pane();
    test_palette();
    return lt_test_done();
}
