/* tok_wpm.c - WordPiece (BERT) as Hugging Face tokenizers' BertPreTokenizer + WordPiece: the
 * normalized text splits at whitespace (dropped) and around each punctuation character; each
 * word of at most 100 characters is cut greedily into the longest vocab pieces, the pieces after
 * the first spelled "##piece"; a word that cannot be cut (or is longer) is one unk. */
#include <string.h>

#include "core/base/alloc.h"
#include "tok_internal.h"
#include "tokenizer.h"
#include "unicode_data.h"

static bool push(int32_t **ids, int64_t *n, int64_t *cap, int32_t id) {
    if (*n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 256;
        int32_t *p = lt_realloc(*ids, (size_t)nc * sizeof *p);
        if (!p) return false;
        *ids = p, *cap = nc;
    }
    (*ids)[(*n)++] = id;
    return true;
}

static bool is_punct(uint32_t c) {
    if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                         (c >= 0x7B && c <= 0x7E);
    return lt_ucd_cat(c) & LT_UCD_PUNCTUATION;
}

/* One word s[0..n) of nchars characters. */
static bool word(const lt_tokenizer *t, const char *s, size_t n, size_t nchars, char *buf, int32_t **ids,
                 int64_t *nid, int64_t *cap) {
    const lt_vocab *v = lt_tok_vocab(t);
    int64_t mark = *nid;
    if (nchars > 100) return v->unk_id < 0 || push(ids, nid, cap, v->unk_id);
    for (size_t a = 0; a < n;) {
        int32_t found = -1;
        size_t e = n;
        while (e > a) {
            size_t k = 0;
            if (a > 0) buf[k++] = '#', buf[k++] = '#';
            memcpy(buf + k, s + a, e - a);
            found = lt_tok_find(t, buf, k + (e - a));
            if (found >= 0) break;
            do e--; /* back to the previous character boundary */
            while (e > a && ((unsigned char)s[e] & 0xC0) == 0x80);
        }
        if (found < 0) {
            *nid = mark;
            return v->unk_id < 0 || push(ids, nid, cap, v->unk_id);
        }
        if (!push(ids, nid, cap, found)) return false;
        a = e;
    }
    return true;
}

bool lt_wpm_encode(const lt_tokenizer *t, const char *s, size_t n, int32_t **ids, int64_t *n_ids, int64_t *cap) {
    char *buf = lt_malloc(n + 3);
    if (!buf) return false;
    const unsigned char *u = (const unsigned char *)s;
    size_t a = 0, chars = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok;) {
        size_t i0 = i;
        uint32_t c = lt_utf8_decode(u, n, &i);
        bool sp = lt_ucd_is_space(c), pu = !sp && is_punct(c);
        if (!sp && !pu) {
            chars++;
            continue;
        }
        if (i0 > a) ok = word(t, s + a, i0 - a, chars, buf, ids, n_ids, cap);
        if (ok && pu) ok = word(t, s + i0, i - i0, 1, buf, ids, n_ids, cap);
        a = i;
        chars = 0;
    }
    if (ok && n > a) ok = word(t, s + a, n - a, chars, buf, ids, n_ids, cap);
    lt_free(buf);
    return ok;
}

bool lt_wpm_word(const lt_tokenizer *t, const char *s, size_t n, int32_t **ids, int64_t *n_ids, int64_t *cap) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    char *buf = lt_malloc(n + 3);
    bool ok = buf && word(t, s, n, chars, buf, ids, n_ids, cap);
    lt_free(buf);
    return ok;
}
