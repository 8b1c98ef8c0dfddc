/* stopstr.c - see stopstr.h. The text held back is always shorter than the longest stop
 * sequence, so a piece is scanned together with it in a window of bounded size. */
#include "stopstr.h"

#include <string.h>

void lt_stopstr_init(lt_stopstr *m, const char *const *stops, int n) {
    memset(m, 0, sizeof *m);
    m->hit = -1;
    for (int i = 0; i < n && m->n_stops < LT_STOPSTR_MAX; i++) {
        size_t l = stops[i] ? strlen(stops[i]) : 0;
        if (l == 0 || l >= LT_STOPSTR_LEN) continue;
        memcpy(m->stops[m->n_stops++], stops[i], l + 1);
    }
}

/* Scans w[0..n): on a stop sequence returns the bytes before the earliest one (hit set);
 * else returns the bytes that cannot begin one and holds the rest. */
static size_t scan(lt_stopstr *m, const char *w, size_t n) {
    size_t best = n;
    for (int i = 0; i < m->n_stops; i++) {
        size_t l = strlen(m->stops[i]);
        for (size_t p = 0; p + l <= n && p < best; p++)
            if (!memcmp(w + p, m->stops[i], l)) {
                best = p;
                m->hit = i;
                break;
            }
    }
    if (m->hit >= 0) {
        m->n_held = 0;
        return best;
    }
    size_t keep = 0; /* the longest end of w that is a proper prefix of a stop sequence */
    for (int i = 0; i < m->n_stops; i++) {
        size_t l = strlen(m->stops[i]);
        for (size_t k = (l - 1 < n ? l - 1 : n); k > keep; k--)
            if (!memcmp(w + n - k, m->stops[i], k)) {
                keep = k;
                break;
            }
    }
    memcpy(m->held, w + n - keep, keep);
    m->n_held = keep;
    return n - keep;
}

size_t lt_stopstr_feed(lt_stopstr *m, const char *text, size_t len, char *out) {
    if (m->hit >= 0) return 0;
    if (m->n_stops == 0) {
        memcpy(out, text, len);
        return len;
    }
    size_t o = 0;
    char w[LT_STOPSTR_LEN * 3];
    while (len > 0 && m->hit < 0) {
        /* the held bytes (< LT_STOPSTR_LEN) and a chunk of the piece */
        size_t h = m->n_held, k = len < LT_STOPSTR_LEN * 2 ? len : LT_STOPSTR_LEN * 2;
        memcpy(w, m->held, h);
        memcpy(w + h, text, k);
        size_t e = scan(m, w, h + k);
        memcpy(out + o, w, e);
        o += e;
        text += k;
        len -= k;
    }
    return o;
}

size_t lt_stopstr_flush(lt_stopstr *m, char *out) {
    if (m->hit >= 0) return 0;
    size_t n = m->n_held;
    memcpy(out, m->held, n);
    m->n_held = 0;
    return n;
}

const char *lt_stopstr_hit(const lt_stopstr *m) { return m->hit >= 0 ? m->stops[m->hit] : NULL; }
