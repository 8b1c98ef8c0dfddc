/* palette.c - see palette.h. */
#include "palette.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lt_fuzzy_score(const char *q, const char *t) {
    if (!q || !q[0]) return 0;
    if (!t) return -1;
    size_t nq = strlen(q), nt = strlen(t);
    if (nq > nt) return -1;
    if (!strcasecmp(q, t)) return 1000;
    int score = 0;
    if (!strncasecmp(q, t, nq)) score += 200;
    /* greedy left-to-right match, preferring word starts when the next one is not far */
    long prev = -1;
    size_t j = 0;
    for (size_t i = 0; i < nq; i++) {
        int c = tolower((unsigned char)q[i]);
        long hit = -1;
        for (; j < nt; j++) {
            if (tolower((unsigned char)t[j]) != c) continue;
            hit = (long)j;
            break;
        }
        if (hit < 0) return -1;
        score += 10;
        if (hit == prev + 1) score += 15;
        else if (prev >= 0) score -= (int)(hit - prev - 1 < 5 ? hit - prev - 1 : 5);
        if (hit == 0 || strchr(" -_/:.", t[hit - 1])) score += 20;
        prev = hit;
        j = (size_t)hit + 1;
    }
    score -= (int)(nt - nq) / 4; /* shorter texts are closer matches */
    return score < 1 ? 1 : score;
}

int lt_palette_score(const char *q, const lt_palette_item *it) {
    if (!q || !q[0]) return 0;
    int best = -1, s;
    if ((s = lt_fuzzy_score(q, it->name)) >= 0 && s + 2000 > best) best = s + 2000;
    if (it->alias && (s = lt_fuzzy_score(q, it->alias)) >= 0 && s + 1500 > best) best = s + 1500;
    if (it->usage && (s = lt_fuzzy_score(q, it->usage)) >= 0 && s / 2 + 500 > best) best = s / 2 + 500;
    if (it->help && (s = lt_fuzzy_score(q, it->help)) >= 0 && s / 4 > best) best = s / 4;
    return best;
}

typedef struct ranked {
    int idx, score;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score) return y->score - x->score;
    return x->idx - y->idx;
}

int lt_palette_filter(const char *q, const lt_palette_item *items, int n, int *out, int cap) {
    ranked *r = malloc(sizeof *r * (size_t)(n > 0 ? n : 1));
    if (!r) return 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        int s = lt_palette_score(q, &items[i]);
        if (s >= 0) r[k++] = (ranked){i, s};
    }
    qsort(r, (size_t)k, sizeof *r, cmp_ranked);
    if (k > cap) k = cap;
    for (int i = 0; i < k; i++) out[i] = r[i].idx;
    free(r);
    return k;
}
