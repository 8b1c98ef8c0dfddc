/* tok_hf.c - Hugging Face tokenizers' general normalizer and pre-tokenizer pipeline, for the
 * tokenizer.json files whose pieces lathe's llama.cpp-style paths cannot express (the vocab
 * keeps them as JSON: lt_vocab.hf_pipeline):
 * - normalizers, applied in order: NFC, NFKC, NFD, NFKD, Lowercase, StripAccents,
 *   BertNormalizer, Strip (whitespace at either end), Replace (a String or a Regex pattern, all
 *   non-overlapping matches, by any content), Prepend, Sequence;
 * - pre-tokenizers, each splitting every piece the previous one produced: Whitespace (\w+ and
 *   [^\w\s]+ runs), WhitespaceSplit, Punctuation, Digits, Split (String or Regex pattern,
 *   invert), each with its behavior (Removed, Isolated, MergedWithPrevious, MergedWithNext,
 *   Contiguous, as tokenizers' NormalizedString::split), BertPreTokenizer, ByteLevel
 *   (add_prefix_space, use_regex: GPT-2's regex), Metaspace (replacement, prepend_scheme, split),
 *   Sequence.
 * \w is Unicode's letters, marks, decimal numbers and connector punctuation (the numbers of
 * category No - superscripts, fractions, circled digits - are left out by range).
 * Leaves out: Precompiled (SentencePiece charsmap) normalizers, the UnicodeScripts and
 * CharDelimiterSplit pre-tokenizers (errors naming them).
 */
#include <string.h>

#include <cjson/cJSON.h>
#include "core/base/alloc.h"
#include "tok_internal.h"
#include "unicode_data.h"
#include "unicode_norm.h"
#include "vocab.h"

#define GPT2_RX "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

enum { N_UNI, N_STRIP, N_REPLACE, N_PREPEND };
enum { P_WS, P_WSSPLIT, P_PUNCT, P_DIGITS, P_SPLIT, P_BERT, P_BYTELEVEL, P_METASPACE };
enum { B_REMOVED, B_ISOLATED, B_PREV, B_NEXT, B_CONTIG };

typedef struct nop {
    int kind;
    uint32_t flags;          /* N_UNI: LT_NORM_* */
    bool left, right;        /* N_STRIP */
    uint32_t *pat, *content; /* N_REPLACE (String pattern) / N_PREPEND, N_REPLACE content */
    int64_t npat, ncontent;
    lt_rx *re; /* N_REPLACE with a Regex pattern */
} nop;

typedef struct pop {
    int kind, behavior;
    bool invert, individual, prefix, use_regex, split;
    int scheme; /* Metaspace: LT_PREPEND_ALWAYS / FIRST, or -1 never */
    uint32_t repl;
    uint32_t *pat; /* Split with a String pattern */
    int64_t npat;
    lt_rx *re; /* Split with a Regex; ByteLevel's GPT-2 regex */
} pop;

struct lt_hfpipe {
    nop *n;
    int nn;
    pop *p;
    int np;
    bool bytelevel;
};

void lt_hfpipe_free(lt_hfpipe *h) {
    if (!h) return;
    for (int i = 0; i < h->nn; i++) {
        lt_free(h->n[i].pat);
        lt_free(h->n[i].content);
        lt_rx_free(h->n[i].re);
    }
    for (int i = 0; i < h->np; i++) {
        lt_free(h->p[i].pat);
        lt_rx_free(h->p[i].re);
    }
    lt_free(h->n);
    lt_free(h->p);
    lt_free(h);
}

bool lt_hfpipe_bytelevel(const lt_hfpipe *h) { return h && h->bytelevel; }
bool lt_hfpipe_has_pre(const lt_hfpipe *h) { return h && h->np > 0; }

static uint32_t *cps_of(const char *s, int64_t *n) {
    size_t len = strlen(s);
    uint32_t *c = lt_malloc((len + 1) * sizeof *c);
    *n = 0;
    if (!c) return NULL;
    for (size_t i = 0; i < len;) c[(*n)++] = lt_utf8_decode((const unsigned char *)s, len, &i);
    return c;
}

static const char *jstr(const cJSON *j, const char *k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static lt_status add_norm(lt_hfpipe *h, const cJSON *j, lt_err *err) {
    if (!j || cJSON_IsNull(j)) return LT_OK;
    const char *type = jstr(j, "type");
    if (!type) type = "";
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next) LT_TRY(add_norm(h, c, err));
        return LT_OK;
    }
    nop *o = lt_realloc(h->n, (size_t)(h->nn + 1) * sizeof *o);
    if (!o) return lt_err_set(err, LT_ENOMEM, "out of memory");
    h->n = o;
    o = &h->n[h->nn];
    memset(o, 0, sizeof *o);
    static const char *const forms[] = {"NFC", "NFKC", "NFD", "NFKD", "Lowercase", "StripAccents"};
    static const uint32_t bits[] = {LT_NORM_NFC, LT_NORM_NFKC, LT_NORM_NFD, LT_NORM_NFKD, LT_NORM_LOWER,
                                    LT_NORM_STRIP_ACCENTS};
    for (int i = 0; i < 6; i++)
        if (!strcmp(type, forms[i])) o->flags = bits[i];
    if (!strcmp(type, "BertNormalizer")) {
        const cJSON *lc = cJSON_GetObjectItemCaseSensitive(j, "lowercase");
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(j, "strip_accents");
        bool lower = !cJSON_IsFalse(lc), strip = cJSON_IsBool(sa) ? cJSON_IsTrue(sa) : lower;
        if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "clean_text"))) o->flags |= LT_NORM_BERT_CLEAN;
        if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "handle_chinese_chars"))) o->flags |= LT_NORM_BERT_CJK;
        if (strip) o->flags |= LT_NORM_STRIP_ACCENTS;
        if (lower) o->flags |= LT_NORM_LOWER;
        if (!o->flags) return LT_OK; /* does nothing */
    }
    if (o->flags) {
        o->kind = N_UNI;
    } else if (!strcmp(type, "Strip")) {
        o->kind = N_STRIP;
        o->left = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "strip_left"));
        o->right = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "strip_right"));
    } else if (!strcmp(type, "Prepend")) {
        const char *c = jstr(j, "prepend");
        if (!c) return lt_err_set(err, LT_EFORMAT, "normalizer Prepend without a 'prepend' string");
        o->kind = N_PREPEND;
        if (!(o->content = cps_of(c, &o->ncontent))) return lt_err_set(err, LT_ENOMEM, "out of memory");
    } else if (!strcmp(type, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        const char *s = jstr(pat, "String"), *r = jstr(pat, "Regex"), *c = jstr(j, "content");
        if ((!s && !r) || !c)
            return lt_err_set(err, LT_EFORMAT, "normalizer Replace needs a String or Regex pattern and a content");
        o->kind = N_REPLACE;
        if (!(o->content = cps_of(c, &o->ncontent))) return lt_err_set(err, LT_ENOMEM, "out of memory");
        if (s && !(o->pat = cps_of(s, &o->npat))) return lt_err_set(err, LT_ENOMEM, "out of memory");
        if (r && !(o->re = lt_rx_compile(r))) {
            h->nn++;
            return lt_err_set(err, LT_EUNSUPPORTED, "normalizer Replace: regex '%.60s' is not supported", r);
        }
    } else {
        return lt_err_set(err, LT_EUNSUPPORTED, "normalizer type '%s' is not supported", type);
    }
    h->nn++;
    return LT_OK;
}

static int behavior_of(const char *b) {
    if (!b) return B_ISOLATED;
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(b, names[i])) return i;
    return -1;
}

static lt_status add_pre(lt_hfpipe *h, const cJSON *j, lt_err *err) {
    if (!j || cJSON_IsNull(j)) return LT_OK;
    const char *type = jstr(j, "type");
    if (!type) type = "";
    if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next) LT_TRY(add_pre(h, c, err));
        return LT_OK;
    }
    pop *o = lt_realloc(h->p, (size_t)(h->np + 1) * sizeof *o);
    if (!o) return lt_err_set(err, LT_ENOMEM, "out of memory");
    h->p = o;
    o = &h->p[h->np];
    memset(o, 0, sizeof *o);
    o->behavior = B_ISOLATED;
    if (!strcmp(type, "Whitespace")) o->kind = P_WS;
    else if (!strcmp(type, "WhitespaceSplit")) o->kind = P_WSSPLIT;
    else if (!strcmp(type, "BertPreTokenizer")) o->kind = P_BERT;
    else if (!strcmp(type, "Punctuation") || !strcmp(type, "Split")) {
        o->kind = type[0] == 'P' ? P_PUNCT : P_SPLIT;
        o->behavior = behavior_of(jstr(j, "behavior"));
        if (o->behavior < 0)
            return lt_err_set(err, LT_EUNSUPPORTED, "pre-tokenizer %s: behavior '%.30s' is not supported", type,
                              jstr(j, "behavior"));
        if (o->kind == P_SPLIT) {
            const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
            const char *s = jstr(pat, "String"), *r = jstr(pat, "Regex");
            if (!s && !r) return lt_err_set(err, LT_EFORMAT, "pre-tokenizer Split needs a String or Regex pattern");
            o->invert = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "invert"));
            if (s && !(o->pat = cps_of(s, &o->npat))) return lt_err_set(err, LT_ENOMEM, "out of memory");
            if (r && !(o->re = lt_rx_compile(r))) {
                h->np++;
                return lt_err_set(err, LT_EUNSUPPORTED, "pre-tokenizer Split: regex '%.60s' is not supported", r);
            }
        }
    } else if (!strcmp(type, "Digits")) {
        o->kind = P_DIGITS;
        o->individual = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "individual_digits"));
        o->behavior = o->individual ? B_ISOLATED : B_CONTIG;
    } else if (!strcmp(type, "ByteLevel")) {
        o->kind = P_BYTELEVEL;
        h->bytelevel = true;
        o->prefix = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "add_prefix_space"));
        o->use_regex = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "use_regex"));
        if (o->use_regex && !(o->re = lt_rx_compile(GPT2_RX))) {
            h->np++;
            return lt_err_set(err, LT_ENOMEM, "out of memory");
        }
    } else if (!strcmp(type, "Metaspace")) {
        o->kind = P_METASPACE;
        const char *r = jstr(j, "replacement"), *sch = jstr(j, "prepend_scheme");
        int64_t nr = 0;
        uint32_t *rc = cps_of(r ? r : "\xE2\x96\x81", &nr);
        if (!rc) return lt_err_set(err, LT_ENOMEM, "out of memory");
        o->repl = nr == 1 ? rc[0] : 0;
        lt_free(rc);
        if (!o->repl)
            return lt_err_set(err, LT_EUNSUPPORTED, "pre-tokenizer Metaspace: replacement is not one character");
        if (sch) o->scheme = !strcmp(sch, "first") ? LT_PREPEND_FIRST : !strcmp(sch, "never") ? -1 : LT_PREPEND_ALWAYS;
        else if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "add_prefix_space"))) o->scheme = -1;
        else o->scheme = LT_PREPEND_ALWAYS;
        o->split = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "split"));
        o->behavior = B_NEXT;
    } else {
        return lt_err_set(err, LT_EUNSUPPORTED, "pre-tokenizer type '%s' is not supported", type);
    }
    h->np++;
    return LT_OK;
}

lt_status lt_hfpipe_create(lt_hfpipe **out, const char *json, lt_err *err) {
    *out = NULL;
    cJSON *root = cJSON_Parse(json ? json : "");
    if (!root) return lt_err_set(err, LT_EFORMAT, "tokenizer pipeline: not valid JSON");
    lt_hfpipe *h = lt_calloc(1, sizeof *h);
    lt_status st = h ? LT_OK : lt_err_set(err, LT_ENOMEM, "out of memory");
    if (!st) st = add_norm(h, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), err);
    if (!st) st = add_pre(h, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err);
    cJSON_Delete(root);
    if (st) {
        lt_hfpipe_free(h);
        return st;
    }
    *out = h;
    return LT_OK;
}

/* ---- code point buffers -------------------------------------------------------------------- */

typedef struct cbuf {
    uint32_t *v;
    int64_t n, cap;
    bool oom;
} cbuf;

static void cb_add(cbuf *b, const uint32_t *c, int64_t n) {
    if (n <= 0 || b->oom) return;
    if (b->n + n > b->cap) {
        int64_t nc = b->cap ? b->cap * 2 : 64;
        while (nc < b->n + n) nc *= 2;
        uint32_t *p = lt_realloc(b->v, (size_t)nc * sizeof *p);
        if (!p) {
            b->oom = true;
            return;
        }
        b->v = p, b->cap = nc;
    }
    memcpy(b->v + b->n, c, (size_t)n * sizeof *c);
    b->n += n;
}

static bool cp_eq(const uint32_t *a, const uint32_t *b, int64_t n) { return !memcmp(a, b, (size_t)n * sizeof *a); }

/* ---- normalize ----------------------------------------------------------------------------- */

bool lt_hfpipe_normalize(const lt_hfpipe *h, const uint32_t *in, int64_t n, uint32_t **out, int64_t *out_n,
                         bool *start_kept) {
    *start_kept = true;
    cbuf a = {0}, b = {0};
    cb_add(&a, in, n);
    uint32_t *tmp = NULL, *rt = NULL;
    size_t tcap = 0, tn = 0;
    bool ok = !a.oom;
    for (int k = 0; k < h->nn && ok; k++) {
        const nop *o = &h->n[k];
        b.n = 0;
        if (o->kind == N_UNI) {
            ok = lt_unorm(o->flags, a.v, (size_t)a.n, &tmp, &tcap, &tn);
            if (ok) cb_add(&b, tmp, (int64_t)tn);
        } else if (o->kind == N_STRIP) {
            int64_t s = 0, e = a.n;
            while (o->left && s < e && lt_ucd_is_space(a.v[s])) s++;
            if (s > 0) *start_kept = false;
            while (o->right && e > s && lt_ucd_is_space(a.v[e - 1])) e--;
            cb_add(&b, a.v + s, e - s);
        } else if (o->kind == N_PREPEND) {
            if (a.n) cb_add(&b, o->content, o->ncontent);
            cb_add(&b, a.v, a.n);
        } else if (o->re) {
            lt_free(rt);
            rt = lt_rx_text(lt_rx_collapsed(o->re), a.v, a.n);
            ok = rt != NULL;
            int64_t last = 0, ms, me;
            while (ok && last < a.n && lt_rx_search(o->re, rt, 0, a.n, last, &ms, &me)) {
                if (ms == 0 && !o->ncontent) *start_kept = false;
                cb_add(&b, a.v + last, ms - last);
                cb_add(&b, o->content, o->ncontent);
                last = me;
            }
            cb_add(&b, a.v + last, a.n - last);
        } else {
            int64_t last = 0;
            for (int64_t i = 0; o->npat > 0 && i + o->npat <= a.n;) {
                if (cp_eq(a.v + i, o->pat, o->npat)) {
                    if (i == 0 && !o->ncontent) *start_kept = false;
                    cb_add(&b, a.v + last, i - last);
                    cb_add(&b, o->content, o->ncontent);
                    i += o->npat;
                    last = i;
                } else {
                    i++;
                }
            }
            cb_add(&b, a.v + last, a.n - last);
        }
        ok = ok && !b.oom;
        cbuf t = a;
        a = b;
        b = t;
    }
    lt_free(tmp);
    lt_free(rt);
    lt_free(b.v);
    if (!ok) {
        lt_free(a.v);
        return false;
    }
    if (!a.v && !(a.v = lt_malloc(sizeof *a.v))) return false;
    *out = a.v;
    *out_n = a.n;
    return true;
}

/* ---- pre-tokenize -------------------------------------------------------------------------- */

/* Pieces: code points in c, piece k = c[off[k] .. off[k]+len[k]); first[k]: the piece starts at
 * offset 0 of the original text (Metaspace's prepend_scheme "first"). */
typedef struct plist {
    cbuf c;
    int64_t *off, *len;
    uint8_t *first;
    int64_t n, cap;
    bool oom;
} plist;

static void pl_add(plist *p, const uint32_t *c, int64_t n, bool first) {
    if (n <= 0) return; /* empty pieces are dropped, as tokenizers does */
    if (p->n == p->cap) {
        int64_t nc = p->cap ? p->cap * 2 : 32;
        int64_t *o = lt_realloc(p->off, (size_t)nc * sizeof *o);
        if (o) p->off = o;
        int64_t *l = o ? lt_realloc(p->len, (size_t)nc * sizeof *l) : NULL;
        if (l) p->len = l;
        uint8_t *f = l ? lt_realloc(p->first, (size_t)nc) : NULL;
        if (!f) {
            p->oom = true;
            return;
        }
        p->first = f, p->cap = nc;
    }
    p->off[p->n] = p->c.n;
    p->len[p->n] = n;
    p->first[p->n++] = first;
    cb_add(&p->c, c, n);
    if (p->c.oom) p->oom = true;
}

static void pl_free(plist *p) {
    lt_free(p->c.v);
    lt_free(p->off);
    lt_free(p->len);
    lt_free(p->first);
}

static bool is_punc(uint32_t c) {
    if (c < 0x80) return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
                         (c >= 0x7B && c <= 0x7E);
    return lt_ucd_cat(c) == LT_UCD_PUNCTUATION;
}

bool lt_hf_is_word(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    uint8_t cat = lt_ucd_cat(c);
    if (cat == LT_UCD_LETTER || cat == LT_UCD_MARK) return true;
    if (c == 0x200C || c == 0x200D || c == 0x203F || c == 0x2040 || c == 0x2054 || c == 0xFE33 || c == 0xFE34 ||
        (c >= 0xFE4D && c <= 0xFE4F) || c == 0xFF3F)
        return true; /* Join_Control, connector punctuation */
    if (cat != LT_UCD_NUMBER) return false;
    /* numbers of category No (not \w): superscripts, fractions, enclosed and dingbat digits */
    return !(c == 0xB2 || c == 0xB3 || c == 0xB9 || (c >= 0xBC && c <= 0xBE) || (c >= 0x2070 && c <= 0x2089) ||
             (c >= 0x2150 && c <= 0x215F) || c == 0x2189 || (c >= 0x2460 && c <= 0x249B) ||
             (c >= 0x24EA && c <= 0x24FF) || (c >= 0x2776 && c <= 0x2793) || (c >= 0x3251 && c <= 0x325F) ||
             (c >= 0x3280 && c <= 0x3289) || (c >= 0x32B1 && c <= 0x32BF));
}

/* Match spans of one piece: [ms[k], me[k]) in piece coordinates. */
typedef struct spans {
    int64_t *s, *e;
    int64_t n, cap;
    bool oom;
} spans;

static void sp_add(spans *m, int64_t s, int64_t e) {
    if (m->n == m->cap) {
        int64_t nc = m->cap ? m->cap * 2 : 32;
        int64_t *a = lt_realloc(m->s, (size_t)nc * sizeof *a);
        if (a) m->s = a;
        int64_t *b = a ? lt_realloc(m->e, (size_t)nc * sizeof *b) : NULL;
        if (!b) {
            m->oom = true;
            return;
        }
        m->e = b, m->cap = nc;
    }
    m->s[m->n] = s;
    m->e[m->n++] = e;
}

/* Splits piece c[0..n) at the match spans m (sorted, disjoint) with behavior bh into out, as
 * tokenizers' NormalizedString::split. */
static void split_by(const uint32_t *c, int64_t n, bool first, const spans *m, bool invert, int bh, plist *out) {
    /* the (span, is_match) list covering the piece */
    int64_t cnt = 0, cap = 2 * m->n + 2;
    int64_t *s = lt_malloc((size_t)cap * sizeof *s), *e = lt_malloc((size_t)cap * sizeof *e);
    bool *im = lt_malloc((size_t)cap * sizeof *im);
    if (!s || !e || !im) {
        out->oom = true;
        goto done;
    }
    int64_t last = 0;
    for (int64_t k = 0; k < m->n; k++) {
        if (m->s[k] > last) s[cnt] = last, e[cnt] = m->s[k], im[cnt++] = invert;
        s[cnt] = m->s[k], e[cnt] = m->e[k], im[cnt++] = !invert;
        last = m->e[k];
    }
    if (last < n) s[cnt] = last, e[cnt] = n, im[cnt++] = invert;
    /* fold per behavior into (span, remove) */
    int64_t q = 0;
    bool prev = false;
    if (bh == B_NEXT) { /* reversed, as tokenizers does: q counts kept spans from the end */
        int64_t w = cnt; /* spans written at [w, cnt) (w >= k + 1 always: in place is safe) */
        for (int64_t k = cnt - 1; k >= 0; k--) {
            bool mk = im[k];
            if (mk && !prev && w < cnt) s[w] = s[k];
            else w--, s[w] = s[k], e[w] = e[k], im[w] = false;
            prev = mk;
        }
        for (int64_t k = w; k < cnt; k++) s[q] = s[k], e[q] = e[k], im[q] = false, q++;
    } else {
        for (int64_t k = 0; k < cnt; k++) {
            bool mk = im[k];
            if (bh == B_CONTIG && mk == prev && q > 0) e[q - 1] = e[k];
            else if (bh == B_PREV && mk && !prev && q > 0) e[q - 1] = e[k];
            else s[q] = s[k], e[q] = e[k], im[q] = bh == B_REMOVED && mk, q++;
            prev = mk;
        }
    }
    for (int64_t k = 0; k < q; k++)
        if (!im[k]) pl_add(out, c + s[k], e[k] - s[k], first && s[k] == 0);
done:
    lt_free(s);
    lt_free(e);
    lt_free(im);
}

/* One pre-tokenizer step over every piece of in into out. */
static bool step(const pop *o, const plist *in, plist *out) {
    spans m = {0};
    cbuf tmp = {0};
    uint32_t *rt = NULL;
    for (int64_t k = 0; k < in->n && !out->oom && !m.oom && !tmp.oom; k++) {
        const uint32_t *c = in->c.v + in->off[k];
        int64_t n = in->len[k];
        bool first = in->first[k];
        m.n = 0;
        switch (o->kind) {
        case P_WS: /* pieces are the runs of \w and of [^\w\s] */
            for (int64_t i = 0; i < n;) {
                if (lt_ucd_is_space(c[i])) {
                    i++;
                    continue;
                }
                bool w = lt_hf_is_word(c[i]);
                int64_t j = i + 1;
                while (j < n && !lt_ucd_is_space(c[j]) && lt_hf_is_word(c[j]) == w) j++;
                sp_add(&m, i, j);
                i = j;
            }
            split_by(c, n, first, &m, true, B_REMOVED, out);
            break;
        case P_WSSPLIT:
        case P_PUNCT:
        case P_DIGITS:
        case P_BERT:
            for (int64_t i = 0; i < n; i++) {
                bool hit = o->kind == P_PUNCT ? is_punc(c[i])
                           : o->kind == P_DIGITS ? lt_ucd_cat(c[i]) == LT_UCD_NUMBER
                                                 : lt_ucd_is_space(c[i]);
                if (hit) sp_add(&m, i, i + 1);
            }
            if (o->kind != P_BERT) {
                split_by(c, n, first, &m, false, o->kind == P_WSSPLIT ? B_REMOVED : o->behavior, out);
                break;
            }
            { /* BertPreTokenizer: whitespace removed, then punctuation isolated */
                plist mid = {0};
                split_by(c, n, first, &m, false, B_REMOVED, &mid);
                for (int64_t p = 0; p < mid.n && !mid.oom; p++) {
                    m.n = 0;
                    const uint32_t *pc = mid.c.v + mid.off[p];
                    for (int64_t i = 0; i < mid.len[p]; i++)
                        if (is_punc(pc[i])) sp_add(&m, i, i + 1);
                    split_by(pc, mid.len[p], mid.first[p], &m, false, B_ISOLATED, out);
                }
                if (mid.oom) out->oom = true;
                pl_free(&mid);
            }
            break;
        case P_SPLIT:
            if (o->re) {
                lt_free(rt);
                if (!(rt = lt_rx_text(lt_rx_collapsed(o->re), c, n))) {
                    out->oom = true;
                    break;
                }
                int64_t last = 0, ms, me;
                while (last < n && lt_rx_search(o->re, rt, 0, n, last, &ms, &me)) sp_add(&m, ms, me), last = me;
            } else {
                for (int64_t i = 0; o->npat > 0 && i + o->npat <= n;)
                    if (cp_eq(c + i, o->pat, o->npat)) sp_add(&m, i, i + o->npat), i += o->npat;
                    else i++;
            }
            split_by(c, n, first, &m, o->invert, o->behavior, out);
            break;
        case P_BYTELEVEL:
            tmp.n = 0;
            if (o->prefix && (n == 0 || c[0] != ' ')) cb_add(&tmp, (const uint32_t[]){' '}, 1);
            cb_add(&tmp, c, n);
            if (!o->use_regex) {
                pl_add(out, tmp.v, tmp.n, first);
                break;
            }
            lt_free(rt);
            if (!(rt = lt_rx_text(true, tmp.v, tmp.n))) {
                out->oom = true;
                break;
            }
            {
                int64_t last = 0, ms, me;
                while (last < tmp.n && lt_rx_search(o->re, rt, 0, tmp.n, last, &ms, &me)) sp_add(&m, ms, me), last = me;
            }
            split_by(tmp.v, tmp.n, first, &m, false, B_ISOLATED, out);
            break;
        case P_METASPACE:
            tmp.n = 0;
            if (o->scheme >= 0 && (n == 0 || (c[0] != ' ' && c[0] != o->repl)) &&
                (o->scheme == LT_PREPEND_ALWAYS || first))
                cb_add(&tmp, &o->repl, 1);
            for (int64_t i = 0; i < n; i++) cb_add(&tmp, c[i] == ' ' ? &o->repl : &c[i], 1);
            if (!o->split) {
                pl_add(out, tmp.v, tmp.n, first);
                break;
            }
            for (int64_t i = 0; i < tmp.n; i++)
                if (tmp.v[i] == o->repl) sp_add(&m, i, i + 1);
            split_by(tmp.v, tmp.n, first, &m, false, B_NEXT, out);
            break;
        }
    }
    bool ok = !out->oom && !m.oom && !tmp.oom;
    lt_free(m.s);
    lt_free(m.e);
    lt_free(tmp.v);
    lt_free(rt);
    return ok;
}

bool lt_hfpipe_split(const lt_hfpipe *h, const uint32_t *in, int64_t n, bool first, uint32_t **cps, int64_t **lens,
                     int64_t *n_pieces) {
    plist a = {0}, b = {0};
    pl_add(&a, in, n, first);
    bool ok = !a.oom;
    for (int k = 0; k < h->np && ok; k++) {
        pl_free(&b);
        memset(&b, 0, sizeof b);
        ok = step(&h->p[k], &a, &b);
        plist t = a;
        a = b;
        b = t;
    }
    pl_free(&b);
    if (!ok) {
        pl_free(&a);
        return false;
    }
    /* pieces are stored in order, so offsets are implied by the lengths */
    lt_free(a.off);
    lt_free(a.first);
    if (!a.c.v) a.c.v = lt_malloc(sizeof *a.c.v);
    if (!a.len) a.len = lt_malloc(sizeof *a.len);
    if (!a.c.v || !a.len) {
        lt_free(a.c.v);
        lt_free(a.len);
        return false;
    }
    *cps = a.c.v;
    *lens = a.len;
    *n_pieces = a.n;
    return true;
}
