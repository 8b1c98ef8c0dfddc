/* unicode_norm.c - see unicode_norm.h. Decompose (canonical or compatibility, full mappings
 * from the tables), put combining marks in canonical order, then compose (NFC / NFKC) with the
 * standard algorithm: a mark combines with the last starter unless a mark of the same or a
 * higher class came between. Hangul syllables decompose and compose arithmetically. */
#include "unicode_norm.h"

#include "core/base/alloc.h"
#include "unicode_data.h"
#include "unicode_norm_data.h"
#include "vocab.h"

enum { SB = 0xAC00, LB = 0x1100, VB = 0x1161, TB = 0x11A7, LC = 19, VC = 21, TC = 28, NC = VC * TC, SC = LC * NC };

static int32_t find(const uint32_t *keys, int32_t n, uint32_t cp) {
    int32_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int32_t mid = (lo + hi) / 2;
        if (keys[mid] == cp) return mid;
        if (keys[mid] < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static uint8_t ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    int32_t i = find(lt_un_ccc_cp, lt_un_n_ccc, cp);
    return i < 0 ? 0 : lt_un_ccc_val[i];
}

static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= LB && a < LB + LC && b >= VB && b < VB + VC) return SB + ((a - LB) * VC + (b - VB)) * TC;
    if (a >= SB && a < SB + SC && (a - SB) % TC == 0 && b > TB && b < TB + TC) return a + (b - TB);
    uint64_t key = (uint64_t)a << 21 | b;
    int32_t lo = 0, hi = lt_un_n_comp - 1;
    while (lo <= hi) {
        int32_t mid = (lo + hi) / 2;
        if (lt_un_comp_key[mid] == key) return lt_un_comp_val[mid];
        if (lt_un_comp_key[mid] < key) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

typedef struct buf {
    uint32_t *p;
    size_t n, cap;
    bool oom;
} buf;

static void push(buf *b, uint32_t c) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        uint32_t *p = lt_realloc(b->p, nc * sizeof *p);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p, b->cap = nc;
    }
    b->p[b->n++] = c;
}

static void decompose(buf *b, uint32_t c, bool compat) {
    if (c >= SB && c < SB + SC) {
        uint32_t s = c - SB;
        push(b, LB + s / NC);
        push(b, VB + (s % NC) / TC);
        if (s % TC) push(b, TB + s % TC);
        return;
    }
    int32_t i = c < 0xA0 ? -1 : compat ? find(lt_un_kdec_cp, lt_un_n_kdec, c) : find(lt_un_dec_cp, lt_un_n_dec, c);
    if (i < 0) {
        push(b, c);
        return;
    }
    uint32_t v = compat ? lt_un_kdec_val[i] : lt_un_dec_val[i];
    for (uint32_t k = 0; k < (v & 31); k++) push(b, lt_un_pool[(v >> 5) + k]);
}

static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool lt_unorm(uint32_t flags, const uint32_t *cps, size_t n, uint32_t **out, size_t *cap, size_t *out_n) {
    buf b = {*out, 0, *cap, false};
    bool compat = flags & (LT_NORM_NFKC | LT_NORM_NFKD);
    bool strip = flags & LT_NORM_STRIP_ACCENTS;
    bool decomp = strip || (flags & (LT_NORM_NFC | LT_NORM_NFKC | LT_NORM_NFD | LT_NORM_NFKD));
    bool comp = !strip && (flags & (LT_NORM_NFC | LT_NORM_NFKC));
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cps[i];
        if (flags & LT_NORM_BERT_CLEAN) { /* Hugging Face's BertNormalizer do_clean_text */
            uint8_t cat = lt_ucd_cat(c);
            bool ctl = c != '\t' && c != '\n' && c != '\r' && (cat & (LT_UCD_CONTROL | LT_UCD_UNDEFINED));
            if (c == 0 || c == 0xFFFD || ctl) continue;
            if (lt_ucd_is_space(c)) c = ' ';
        }
        bool pad = (flags & LT_NORM_BERT_CJK) && is_cjk(c);
        if (pad) push(&b, ' ');
        if (decomp) decompose(&b, c, compat);
        else push(&b, c);
        if (pad) push(&b, ' ');
    }
    if (strip && !b.oom) { /* canonical order does not matter: every mark goes */
        size_t w = 0;
        for (size_t i = 0; i < b.n; i++)
            if (!(lt_ucd_cat(b.p[i]) & LT_UCD_MARK)) b.p[w++] = b.p[i];
        b.n = w;
        decomp = false;
    }
    if (decomp && !b.oom) {
        /* canonical order: stable insertion sort of each run of non-starters */
        for (size_t i = 1; i < b.n; i++) {
            uint32_t c = b.p[i];
            uint8_t k = ccc(c);
            if (!k) continue;
            size_t j = i;
            while (j > 0 && ccc(b.p[j - 1]) > k) {
                b.p[j] = b.p[j - 1];
                j--;
            }
            b.p[j] = c;
        }
    }
    if (comp && !b.oom && b.n) {
        size_t starter = 0, w = 1;
        bool have_starter = ccc(b.p[0]) == 0;
        int last_cc = have_starter ? 0 : 256;
        for (size_t i = 1; i < b.n; i++) {
            uint32_t c = b.p[i];
            int cc = ccc(c);
            uint32_t x = have_starter && (last_cc < cc || (last_cc == 0 && w - 1 == starter)) ? compose(b.p[starter], c)
                                                                                                : 0;
            if (x) {
                b.p[starter] = x;
                continue;
            }
            if (cc == 0) starter = w, have_starter = true, last_cc = 0;
            else last_cc = cc;
            b.p[w++] = c;
        }
        b.n = w;
    }
    if (flags & LT_NORM_LOWER && !b.oom) {
        size_t m = b.n;
        for (size_t i = 0; i < m && !b.oom; i++) {
            uint32_t c = b.p[i];
            int32_t k = c < 0x41 ? -1 : find(lt_un_lower_cp, lt_un_n_lower, c);
            if (k < 0) {
                push(&b, c);
                continue;
            }
            uint32_t v = lt_un_lower_val[k];
            for (uint32_t q = 0; q < (v & 31); q++) push(&b, lt_un_pool[(v >> 5) + q]);
        }
        if (!b.oom) {
            for (size_t i = m; i < b.n; i++) b.p[i - m] = b.p[i];
            b.n -= m;
        }
    }
    *out = b.p;
    *cap = b.cap;
    *out_n = b.n;
    return !b.oom;
}
