/* test_labels.c - detection label placement (lt_detect_place_labels, core/vision/detect.h).
 *
 * - darknet's kite.jpg with the bundled Yolo-Fastest's 16 detections (tests/data/darknet_reference.txt,
 *   labels at the size lt_detect_draw gives them on a 1352x900 image): every label shown,
 *   none overlapping another, all inside the image; the first label sits above its box.
 *   (Before, three boxes around (1082, 395) and two around (449, 338) put labels over labels.)
 * - A label whose space above is taken or off the image goes inside the box's top edge, then
 *   below the box.
 * - Random dense clusters, boxes at the image edges and labels wider than the image: shown
 *   labels never overlap and stay inside the image.
 * - Many labels over one spot: only the first LT_LABELS_MAX are placed, quickly.
 */
#include <stdio.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/formats/image.h"
#include "core/vision/detect.h"
#include "testutil.h"

static bool overlap(const lt_label_place *a, const lt_label_place *b) {
    return a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h && b->y < a->y + a->h;
}

/* No two shown labels overlap; each shown one is inside the image (x 0 when wider). */
static int check_layout(const lt_label_place *p, int n, int w, int h, const char *what) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (!p[i].shown) continue;
        int lw = p[i].w < w ? p[i].w : w;
        if (p[i].x < 0 || p[i].y < 0 || p[i].x + lw > w || p[i].y + p[i].h > h) {
            bad++;
            fprintf(stderr, "%s: label %d at (%d, %d) %dx%d leaves the %dx%d image\n", what, i, p[i].x, p[i].y,
                    p[i].w, p[i].h, w, h);
        }
        for (int j = 0; j < i; j++)
            if (p[j].shown && overlap(&p[i], &p[j])) {
                bad++;
                fprintf(stderr, "%s: labels %d and %d overlap\n", what, i, j);
            }
    }
    return bad;
}

static void test_kite(void) {
    static const struct {
        const char *name;
        int pct;
        float l, t, w, h;
    } k[] = {
        {"kite", 98, 595.511f, 85.580f, 84.226f, 62.662f},     {"kite", 86, 468.403f, 339.127f, 26.272f, 21.760f},
        {"kite", 81, 281.511f, 235.327f, 35.352f, 45.273f},    {"kite", 64, 569.044f, 339.451f, 38.907f, 25.897f},
        {"kite", 41, 744.870f, 381.025f, 35.717f, 20.159f},    {"person", 55, 1081.616f, 394.602f, 34.710f, 41.578f},
        {"kite", 39, 1081.616f, 394.602f, 34.710f, 41.578f},   {"kite", 35, 449.061f, 338.094f, 35.325f, 21.237f},
        {"kite", 31, 1082.198f, 388.633f, 24.851f, 26.578f},   {"person", 58, 205.324f, 660.118f, 78.048f, 188.365f},
        {"person", 51, 68.651f, 510.756f, 39.115f, 46.708f},   {"person", 40, 519.713f, 495.113f, 31.437f, 38.302f},
        {"person", 31, 106.900f, 611.933f, 70.599f, 175.361f}, {"person", 30, 530.349f, 507.977f, 28.963f, 32.959f},
        {"person", 28, 875.853f, 506.997f, 26.452f, 20.370f},  {"person", 27, 103.315f, 624.910f, 89.236f, 230.562f},
    };
    enum { N = sizeof k / sizeof k[0], W = 1352, H = 900, SCALE = 2 };
    lt_label_place p[N];
    for (int i = 0; i < N; i++) {
        char label[64];
        snprintf(label, sizeof label, "%s %d%%", k[i].name, k[i].pct);
        int l = (int)k[i].l, t = (int)k[i].t, r = (int)(k[i].l + k[i].w), b = (int)(k[i].t + k[i].h);
        p[i] = (lt_label_place){.l = l, .t = t, .r = r, .b = b, .w = lt_image_text_width(label, SCALE) + 2 * SCALE,
                                .h = 9 * SCALE};
    }
    lt_detect_place_labels(p, N, W, H);
    CHECK(check_layout(p, N, W, H, "kite.jpg") == 0);
    int shown = 0;
    for (int i = 0; i < N; i++) shown += p[i].shown;
    CHECKF(shown == N, "%d of %d labels shown", shown, N);
    CHECK(p[0].x == p[0].l && p[0].y == p[0].t - p[0].h); /* free above: above, left-aligned */
    /* the three boxes around (1082, 395): three labels, stacked without overlap */
    CHECK(p[5].shown && p[6].shown && p[8].shown);
}

static void test_fallbacks(void) {
    /* two boxes sharing a top edge: the second label goes inside its box */
    lt_label_place p[3] = {{.l = 10, .t = 50, .r = 80, .b = 120, .w = 40, .h = 10},
                           {.l = 10, .t = 50, .r = 80, .b = 120, .w = 40, .h = 10},
                           {.l = 10, .t = 50, .r = 80, .b = 120, .w = 40, .h = 10}};
    lt_detect_place_labels(p, 3, 200, 200);
    CHECK(p[0].shown && p[0].x == 10 && p[0].y == 40);
    CHECK(p[1].shown && p[1].x == 10 && p[1].y == 50); /* inside the top edge */
    CHECK(p[2].shown && p[2].x == 10 && p[2].y == 121); /* below the box */
    CHECK(check_layout(p, 3, 200, 200, "fallbacks") == 0);
    /* a box at the top of the image: no room above, the label goes inside */
    lt_label_place q = {.l = 5, .t = 0, .r = 60, .b = 30, .w = 30, .h = 10};
    lt_detect_place_labels(&q, 1, 100, 100);
    CHECK(q.shown && q.x == 5 && q.y == 0);
    /* a box at the right edge: the label is pulled inside the image */
    lt_label_place r = {.l = 90, .t = 40, .r = 99, .b = 60, .w = 30, .h = 10};
    lt_detect_place_labels(&r, 1, 100, 100);
    CHECK(r.shown && r.x == 70 && r.y == 30);
    /* a label wider than the image starts at x 0 */
    lt_label_place s = {.l = 3, .t = 20, .r = 10, .b = 30, .w = 500, .h = 10};
    lt_detect_place_labels(&s, 1, 100, 100);
    CHECK(s.shown && s.x == 0 && s.y == 10);
    /* more labels than the image has rows: the rest are not shown, none overlap */
    lt_label_place t[8];
    for (int i = 0; i < 8; i++) t[i] = (lt_label_place){.l = 0, .t = 10, .r = 20, .b = 20, .w = 40, .h = 10};
    lt_detect_place_labels(t, 8, 40, 30);
    int shown = 0;
    for (int i = 0; i < 8; i++) shown += t[i].shown;
    CHECK(shown == 3);
    CHECK(check_layout(t, 8, 40, 30, "full") == 0);
    /* an empty label is never shown */
    lt_label_place e = {.l = 0, .t = 10, .r = 20, .b = 20, .w = 0, .h = 10};
    lt_detect_place_labels(&e, 1, 40, 30);
    CHECK(!e.shown);
}

static void test_random(void) {
    lt_test_rng rng;
    lt_test_rng_seed(&rng, 13);
    int bad = 0, total = 0, shown = 0;
    for (int round = 0; round < 200; round++) {
        int w = 64 + (int)(lt_test_u32(&rng) % 1200), h = 48 + (int)(lt_test_u32(&rng) % 900);
        int n = 1 + (int)(lt_test_u32(&rng) % 60);
        int cx = (int)(lt_test_u32(&rng) % (uint64_t)w), cy = (int)(lt_test_u32(&rng) % (uint64_t)h);
        lt_label_place p[60];
        for (int i = 0; i < n; i++) { /* a dense cluster around (cx, cy), some boxes over the edges */
            int l = cx + (int)(lt_test_u32(&rng) % 81) - 40, t = cy + (int)(lt_test_u32(&rng) % 81) - 40;
            int r = l + 4 + (int)(lt_test_u32(&rng) % 120), b = t + 4 + (int)(lt_test_u32(&rng) % 120);
            l = l < 0 ? 0 : l, t = t < 0 ? 0 : t;
            r = r > w - 1 ? w - 1 : r, b = b > h - 1 ? h - 1 : b;
            if (l > r) l = r;
            if (t > b) t = b;
            int lh = lt_test_u32(&rng) % 2 ? 18 : 9;
            p[i] = (lt_label_place){.l = l, .t = t, .r = r, .b = b, .w = 20 + (int)(lt_test_u32(&rng) % 160),
                                    .h = lh};
        }
        lt_detect_place_labels(p, n, w, h);
        bad += check_layout(p, n, w, h, "random");
        total += n;
        for (int i = 0; i < n; i++) shown += p[i].shown;
    }
    CHECK(bad == 0);
    /* up to 60 labels as wide as 180 px over one 80 px spot, on images as small as 64x48: not
     * every label has a free row beside its box */
    CHECKF(shown > total * 2 / 3, "%d of %d labels shown", shown, total);
}

/* Bounded work: 1,500 labels as wide as the image over one box of a very tall image (each next
 * label searches past all the ones before it: cubic in their number) - only the first
 * LT_LABELS_MAX are placed, stacked near the box, and placing takes milliseconds. */
static void test_bounded(void) {
    enum { N = 1500, W = 64, H = 2000000 };
    static lt_label_place p[N];
    for (int i = 0; i < N; i++) p[i] = (lt_label_place){.l = 0, .t = 10, .r = 63, .b = 20, .w = 64, .h = 2};
    double t0 = lt_now();
    lt_detect_place_labels(p, N, W, H);
    double s = lt_now() - t0;
    int shown = 0;
    for (int i = 0; i < N; i++) shown += p[i].shown;
    CHECKF(shown == LT_LABELS_MAX, "%d labels shown, want %d", shown, LT_LABELS_MAX);
    CHECK(!p[LT_LABELS_MAX].shown && !p[N - 1].shown);
    int far = 0;
    for (int i = 0; i < N; i++)
        if (p[i].shown && (p[i].y > 10 + 2 * LT_LABELS_MAX + 12)) far++;
    CHECK(far == 0);
    CHECK(check_layout(p, N, W, H, "bounded") == 0);
    CHECKF(s < 1.0, "placing %d labels took %.2f s", N, s);
}

int main(void) {
    test_kite();
    test_fallbacks();
    test_random();
    test_bounded();
    return lt_test_done();
}
