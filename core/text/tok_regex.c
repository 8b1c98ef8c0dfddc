/* tok_regex.c - the small backtracking regex engine the pre-tokenizers (pretok.c) and
 * tokenizer.json's Split / Replace patterns (tok_hf.c) run on: alternation, groups, (?:) (?=)
 * (?!), greedy/lazy quantifiers, classes with ranges, \\s \\d \\w \\b ^ $ and
 * \\p{L,N,P,S,M,Lu..}, over code points. As in llama.cpp, a regex using \\p{..} runs on the
 * "collapsed" text (ASCII kept, other code points replaced by one byte per category, whitespace
 * by 0x0B); the others on code points with non-ASCII whitespace replaced by 0x0B
 * (lt_rx_text makes either form).
 * Leaves out: possessive quantifiers, backreferences.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/alloc.h"
#include "tok_internal.h"
#include "unicode_data.h"

/* ---- UTF-8 ----------------------------------------------------------------------------- */

uint32_t lt_utf8_decode(const unsigned char *s, size_t n, size_t *i) {
    size_t k = *i;
    unsigned c = s[k];
    if (!(c & 0x80)) {
        *i = k + 1;
        return c;
    }
    if ((c & 0x40) == 0) goto bad;
    if (!(c & 0x20)) {
        if (k + 1 >= n || (s[k + 1] & 0xC0) != 0x80) goto bad;
        *i = k + 2;
        return ((c & 0x1F) << 6) | (s[k + 1] & 0x3F);
    }
    if (!(c & 0x10)) {
        if (k + 2 >= n || (s[k + 1] & 0xC0) != 0x80 || (s[k + 2] & 0xC0) != 0x80) goto bad;
        *i = k + 3;
        return ((c & 0x0F) << 12) | ((s[k + 1] & 0x3F) << 6) | (s[k + 2] & 0x3F);
    }
    if (!(c & 0x08)) {
        if (k + 3 >= n || (s[k + 1] & 0xC0) != 0x80 || (s[k + 2] & 0xC0) != 0x80 || (s[k + 3] & 0xC0) != 0x80)
            goto bad;
        *i = k + 4;
        return ((c & 0x07) << 18) | ((s[k + 1] & 0x3F) << 12) | ((s[k + 2] & 0x3F) << 6) | (s[k + 3] & 0x3F);
    }
bad:
    *i = k + 1;
    return 0xFFFD;
}

/* ---- a small backtracking regex engine ------------------------------------------------------ */

enum { RX_CHAR, RX_CLASS, RX_ANY, RX_GROUP, RX_REPEAT, RX_BOL, RX_EOL, RX_LOOK, RX_NLOOK, RX_WORDB, RX_NWORDB };
enum { NEG_SPACE = 1, NEG_DIGIT = 2, NEG_WORD = 4 };

typedef struct rx_range {
    uint32_t lo, hi;
} rx_range;

typedef struct rx_node rx_node;
struct rx_node {
    int type;
    rx_node *next;
    uint32_t ch;
    rx_range *r; /* class */
    int nr;
    bool neg;
    int negmask;
    rx_node **alts; /* group / lookaround */
    int nalt;
    rx_node *child; /* repeat */
    int min, max;   /* max < 0: unbounded */
    bool lazy;
};

struct lt_rx {
    rx_node *root;
    rx_node **nodes; /* every allocation, for freeing */
    int n_nodes, cap_nodes;
    void **blocks;
    int n_blocks, cap_blocks;
    bool collapsed; /* uses \p{..}: run on the collapsed text */
};
typedef struct lt_rx rx;

typedef struct rx_parser {
    rx *re;
    const uint32_t *p;
    int n, i;
    bool collapsed;
    bool err;
} rx_parser;

static void *rx_keep(rx *re, void *b) {
    if (!b) return NULL;
    if (re->n_blocks == re->cap_blocks) {
        int nc = re->cap_blocks ? re->cap_blocks * 2 : 32;
        void **nb = lt_realloc(re->blocks, (size_t)nc * sizeof *nb);
        if (!nb) {
            lt_free(b);
            return NULL;
        }
        re->blocks = nb;
        re->cap_blocks = nc;
    }
    re->blocks[re->n_blocks++] = b;
    return b;
}

static rx_node *rx_new(rx_parser *ps, int type) {
    rx_node *n = rx_keep(ps->re, lt_calloc(1, sizeof *n));
    if (!n) {
        ps->err = true;
        return NULL;
    }
    n->type = type;
    return n;
}

void lt_rx_free(rx *re) {
    if (!re) return;
    for (int i = 0; i < re->n_blocks; i++) lt_free(re->blocks[i]);
    lt_free(re->blocks);
    lt_free(re->nodes);
    lt_free(re);
}

typedef struct rx_class_b {
    rx_range *r;
    int n, cap;
    int negmask;
} rx_class_b;

static bool cls_add(rx_class_b *c, uint32_t lo, uint32_t hi) {
    if (c->n == c->cap) {
        int nc = c->cap ? c->cap * 2 : 16;
        rx_range *nr = lt_realloc(c->r, (size_t)nc * sizeof *nr);
        if (!nr) return false;
        c->r = nr;
        c->cap = nc;
    }
    c->r[c->n].lo = lo;
    c->r[c->n].hi = hi;
    c->n++;
    return true;
}

/* Adds the set an escape names (\s \d \w \p{..}); returns false if it is not a set escape. */
static bool cls_add_escape(rx_parser *ps, rx_class_b *c, uint32_t e, bool *handled) {
    *handled = true;
    switch (e) {
    case 's': return cls_add(c, 9, 13) && cls_add(c, 32, 32);
    case 'd': return cls_add(c, '0', '9');
    case 'w': return cls_add(c, '0', '9') && cls_add(c, 'A', 'Z') && cls_add(c, 'a', 'z') && cls_add(c, '_', '_');
    case 'S': c->negmask |= NEG_SPACE; return true;
    case 'D': c->negmask |= NEG_DIGIT; return true;
    case 'W': c->negmask |= NEG_WORD; return true;
    case 'p': {
        /* \p{X}: only in collapsed mode (llama.cpp rewrites it to the collapsed class) */
        if (ps->i >= ps->n || ps->p[ps->i] != '{') return false;
        int j = ps->i + 1;
        char name[8];
        int k = 0;
        while (j < ps->n && ps->p[j] != '}' && k < 7) name[k++] = (char)ps->p[j++];
        name[k] = 0;
        if (j >= ps->n || ps->p[j] != '}') return false;
        ps->i = j + 1;
        if (!strcmp(name, "N")) return cls_add(c, 0xD1, 0xD1) && cls_add(c, 0x30, 0x39);
        if (!strcmp(name, "L") || !strcmp(name, "Lu") || !strcmp(name, "Ll") || !strcmp(name, "Lt") ||
            !strcmp(name, "Lm") || !strcmp(name, "Lo"))
            return cls_add(c, 0xD2, 0xD2) && cls_add(c, 0x41, 0x5A) && cls_add(c, 0x61, 0x7A);
        if (!strcmp(name, "P"))
            return cls_add(c, 0xD3, 0xD3) && cls_add(c, 0x21, 0x23) && cls_add(c, 0x25, 0x2A) &&
                   cls_add(c, 0x2C, 0x2F) && cls_add(c, 0x3A, 0x3B) && cls_add(c, 0x3F, 0x40) &&
                   cls_add(c, 0x5B, 0x5D) && cls_add(c, 0x5F, 0x5F) && cls_add(c, 0x7B, 0x7B) &&
                   cls_add(c, 0x7D, 0x7D);
        if (!strcmp(name, "M")) return cls_add(c, 0xD4, 0xD4);
        if (!strcmp(name, "S"))
            return cls_add(c, 0xD5, 0xD5) && cls_add(c, 0x24, 0x24) && cls_add(c, 0x2B, 0x2B) &&
                   cls_add(c, 0x3C, 0x3E) && cls_add(c, 0x5E, 0x5E) && cls_add(c, 0x60, 0x60) &&
                   cls_add(c, 0x7C, 0x7C);
        return false;
    }
    default: *handled = false; return true;
    }
}

static uint32_t esc_char(uint32_t e) {
    switch (e) {
    case 'r': return '\r';
    case 'n': return '\n';
    case 't': return '\t';
    case 'f': return '\f';
    case 'v': return '\v';
    case '0': return 0;
    default: return e;
    }
}

static int hexv(uint32_t c) {
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* Reads \xHH / \uHHHH after the escape letter; returns false if malformed. */
static bool esc_hex(rx_parser *ps, uint32_t e, uint32_t *out) {
    int nd = e == 'x' ? 2 : 4;
    uint32_t v = 0;
    for (int k = 0; k < nd; k++) {
        if (ps->i >= ps->n || hexv(ps->p[ps->i]) < 0) return false;
        v = v * 16 + (uint32_t)hexv(ps->p[ps->i++]);
    }
    *out = v;
    return true;
}

static rx_node *finish_class(rx_parser *ps, rx_class_b *c, bool neg) {
    rx_node *n = rx_new(ps, RX_CLASS);
    if (!n) {
        lt_free(c->r);
        return NULL;
    }
    n->r = rx_keep(ps->re, c->r);
    if (c->n && !n->r) ps->err = true;
    n->nr = c->n;
    n->neg = neg;
    n->negmask = c->negmask;
    return n;
}

static rx_node *parse_class(rx_parser *ps) {
    rx_class_b c = {0};
    bool neg = false;
    if (ps->i < ps->n && ps->p[ps->i] == '^') neg = true, ps->i++;
    bool first = true;
    while (ps->i < ps->n && (ps->p[ps->i] != ']' || first)) {
        first = false;
        uint32_t lo = ps->p[ps->i++];
        if (lo == '\\') {
            if (ps->i >= ps->n) goto bad;
            uint32_t e = ps->p[ps->i++];
            bool handled;
            if (!cls_add_escape(ps, &c, e, &handled)) goto bad;
            if (handled) continue;
            if (e == 'x' || e == 'u') {
                if (!esc_hex(ps, e, &lo)) goto bad;
            } else lo = esc_char(e);
        }
        uint32_t hi = lo;
        if (ps->i + 1 < ps->n && ps->p[ps->i] == '-' && ps->p[ps->i + 1] != ']') {
            ps->i++;
            hi = ps->p[ps->i++];
            if (hi == '\\') {
                if (ps->i >= ps->n) goto bad;
                uint32_t e = ps->p[ps->i++];
                if (e == 'x' || e == 'u') {
                    if (!esc_hex(ps, e, &hi)) goto bad;
                } else hi = esc_char(e);
            }
            if (hi < lo) goto bad;
        }
        if (!cls_add(&c, lo, hi)) goto bad;
    }
    if (ps->i >= ps->n) goto bad;
    ps->i++; /* ] */
    return finish_class(ps, &c, neg);
bad:
    lt_free(c.r);
    ps->err = true;
    return NULL;
}

static rx_node *parse_alt(rx_parser *ps, int type);

static rx_node *parse_atom(rx_parser *ps) {
    uint32_t ch = ps->p[ps->i++];
    switch (ch) {
    case '(': {
        int type = RX_GROUP;
        if (ps->i + 1 < ps->n && ps->p[ps->i] == '?') {
            uint32_t k = ps->p[ps->i + 1];
            if (k == ':') type = RX_GROUP;
            else if (k == '=') type = RX_LOOK;
            else if (k == '!') type = RX_NLOOK;
            else {
                ps->err = true;
                return NULL;
            }
            ps->i += 2;
        }
        rx_node *g = parse_alt(ps, type);
        if (!g || ps->i >= ps->n || ps->p[ps->i] != ')') {
            ps->err = true;
            return NULL;
        }
        ps->i++;
        return g;
    }
    case '[': return parse_class(ps);
    case '.': return rx_new(ps, RX_ANY);
    case '^': return rx_new(ps, RX_BOL);
    case '$': return rx_new(ps, RX_EOL);
    case '\\': {
        if (ps->i >= ps->n) {
            ps->err = true;
            return NULL;
        }
        uint32_t e = ps->p[ps->i++];
        if (e == 'b') return rx_new(ps, RX_WORDB);
        if (e == 'B') return rx_new(ps, RX_NWORDB);
        rx_class_b c = {0};
        bool handled;
        if (!cls_add_escape(ps, &c, e, &handled)) {
            lt_free(c.r);
            ps->err = true;
            return NULL;
        }
        if (handled) {
            if (c.negmask) { /* \S \D \W: a negated class of the positive set */
                int m = c.negmask;
                c.negmask = 0;
                bool h2;
                cls_add_escape(ps, &c, m == NEG_SPACE ? 's' : m == NEG_DIGIT ? 'd' : 'w', &h2);
                return finish_class(ps, &c, true);
            }
            return finish_class(ps, &c, false);
        }
        rx_node *n = rx_new(ps, RX_CHAR);
        if (!n) return NULL;
        if (e == 'x' || e == 'u') {
            if (!esc_hex(ps, e, &n->ch)) ps->err = true;
        } else n->ch = esc_char(e);
        return n;
    }
    case '*': case '+': case '?': case ')': case '|': ps->err = true; return NULL;
    default: { /* literal (a '{' that does not start a quantifier too) */
        rx_node *n = rx_new(ps, RX_CHAR);
        if (n) n->ch = ch;
        return n;
    }
    }
}

static bool parse_int(rx_parser *ps, int *v) {
    if (ps->i >= ps->n || ps->p[ps->i] < '0' || ps->p[ps->i] > '9') return false;
    int x = 0;
    while (ps->i < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9' && x < 100000)
        x = x * 10 + (int)(ps->p[ps->i++] - '0');
    *v = x;
    return true;
}

static rx_node *parse_seq(rx_parser *ps) {
    rx_node *head = NULL, *tail = NULL;
    while (ps->i < ps->n && ps->p[ps->i] != '|' && ps->p[ps->i] != ')') {
        rx_node *a = parse_atom(ps);
        if (!a || ps->err) return NULL;
        /* quantifier */
        if (ps->i < ps->n) {
            uint32_t q = ps->p[ps->i];
            int mn = -2, mx = -1;
            if (q == '*') mn = 0, mx = -1, ps->i++;
            else if (q == '+') mn = 1, mx = -1, ps->i++;
            else if (q == '?') mn = 0, mx = 1, ps->i++;
            else if (q == '{') {
                int save = ps->i;
                ps->i++;
                int a1, a2;
                if (parse_int(ps, &a1)) {
                    if (ps->i < ps->n && ps->p[ps->i] == '}') mn = a1, mx = a1, ps->i++;
                    else if (ps->i < ps->n && ps->p[ps->i] == ',') {
                        ps->i++;
                        if (ps->i < ps->n && ps->p[ps->i] == '}') mn = a1, mx = -1, ps->i++;
                        else if (parse_int(ps, &a2) && ps->i < ps->n && ps->p[ps->i] == '}' && a2 >= a1)
                            mn = a1, mx = a2, ps->i++;
                    }
                }
                if (mn == -2) ps->i = save; /* not a quantifier: '{' is parsed as a literal next */
            }
            if (mn != -2) {
                rx_node *r = rx_new(ps, RX_REPEAT);
                if (!r) return NULL;
                r->child = a;
                r->min = mn;
                r->max = mx;
                if (ps->i < ps->n && ps->p[ps->i] == '?') r->lazy = true, ps->i++;
                a = r;
            }
        }
        if (!head) head = a;
        else tail->next = a;
        tail = a;
    }
    return head; /* NULL for an empty sequence (matches the empty string) */
}

static rx_node *parse_alt(rx_parser *ps, int type) {
    rx_node *g = rx_new(ps, type);
    if (!g) return NULL;
    int cap = 4;
    g->alts = rx_keep(ps->re, lt_calloc((size_t)cap, sizeof *g->alts));
    if (!g->alts) {
        ps->err = true;
        return NULL;
    }
    for (;;) {
        rx_node *s = parse_seq(ps);
        if (ps->err) return NULL;
        if (g->nalt == cap) {
            rx_node **na = rx_keep(ps->re, lt_calloc((size_t)cap * 2, sizeof *na));
            if (!na) {
                ps->err = true;
                return NULL;
            }
            memcpy(na, g->alts, (size_t)cap * sizeof *na);
            g->alts = na;
            cap *= 2;
        }
        g->alts[g->nalt++] = s;
        if (ps->i < ps->n && ps->p[ps->i] == '|') {
            ps->i++;
            continue;
        }
        break;
    }
    return g;
}

rx *lt_rx_compile(const char *pattern) {
    rx *re = lt_calloc(1, sizeof *re);
    if (!re) return NULL;
    size_t len = strlen(pattern);
    uint32_t *cps = lt_malloc((len + 1) * sizeof *cps);
    if (!cps) {
        lt_free(re);
        return NULL;
    }
    int n = 0;
    for (size_t i = 0; i < len;) cps[n++] = lt_utf8_decode((const unsigned char *)pattern, len, &i);
    rx_parser ps = {re, cps, n, 0, false, false};
    re->collapsed = strstr(pattern, "\\p{") != NULL;
    ps.collapsed = re->collapsed;
    re->root = parse_alt(&ps, RX_GROUP);
    bool ok = re->root && !ps.err && ps.i == n;
    lt_free(cps);
    if (!ok) {
        lt_rx_free(re);
        return NULL;
    }
    return re;
}

/* matcher: continuation-passing backtracking */
typedef struct rx_cont rx_cont;
struct rx_cont {
    const rx_node *n;     /* node to continue with (NULL: pop further) */
    const rx_cont *up;
    const rx_node *rep;   /* non-NULL: re-enter this repeat */
    int count;
    int64_t start;        /* position where the current iteration started */
};

typedef struct rx_run {
    const uint32_t *t;
    int64_t beg, end;
    int depth;
    const rx_node *memo_node; /* last unbounded single-character repeat and its run */
    int64_t memo_pos, memo_end;
} rx_run;

static inline bool is_word(uint32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static inline bool cls_match(const rx_node *n, uint32_t c) {
    bool in = false;
    for (int i = 0; i < n->nr; i++)
        if (c >= n->r[i].lo && c <= n->r[i].hi) {
            in = true;
            break;
        }
    if (!in && n->negmask) {
        if ((n->negmask & NEG_SPACE) && !((c >= 9 && c <= 13) || c == 32)) in = true;
        if ((n->negmask & NEG_DIGIT) && !(c >= '0' && c <= '9')) in = true;
        if ((n->negmask & NEG_WORD) && !is_word(c)) in = true;
    }
    return in != n->neg;
}

static inline bool single_match(const rx_node *n, uint32_t c) {
    switch (n->type) {
    case RX_CHAR: return c == n->ch;
    case RX_CLASS: return cls_match(n, c);
    case RX_ANY: return c != '\n' && c != '\r' && c != 0x2028 && c != 0x2029;
    default: return false;
    }
}

static bool rx_m(rx_run *r, const rx_node *n, const rx_cont *k, int64_t pos, int64_t *out);

static bool rx_rep(rx_run *r, const rx_node *n, int count, int64_t pos, const rx_cont *k, int64_t *out) {
    bool can_more = n->max < 0 || count < n->max;
    rx_cont c = {NULL, k, n, count + 1, pos};
    if (!n->lazy) {
        if (can_more && rx_m(r, n->child, &c, pos, out)) return true;
        if (count >= n->min) return rx_m(r, n->next, k, pos, out);
        return false;
    }
    if (count >= n->min && rx_m(r, n->next, k, pos, out)) return true;
    return can_more && rx_m(r, n->child, &c, pos, out);
}

static bool rx_m(rx_run *r, const rx_node *n, const rx_cont *k, int64_t pos, int64_t *out) {
    if (++r->depth > 4000) { /* pathological nesting: treat as no match (bounded stack use) */
        r->depth--;
        return false;
    }
    bool res;
    for (;;) {
        if (!n) {
            if (!k) {
                *out = pos;
                res = true;
                goto done;
            }
            if (k->rep) {
                const rx_node *rp = k->rep;
                /* an iteration that matched nothing ends the loop (ECMAScript) */
                if (pos == k->start && k->count > rp->min) {
                    res = false;
                    goto done;
                }
                res = rx_rep(r, rp, k->count, pos, k->up, out);
                goto done;
            }
            n = k->n;
            k = k->up;
            continue;
        }
        switch (n->type) {
        case RX_CHAR:
        case RX_CLASS:
        case RX_ANY:
            if (pos >= r->end || !single_match(n, r->t[pos])) {
                res = false;
                goto done;
            }
            pos++;
            n = n->next;
            continue;
        case RX_BOL:
            if (pos != r->beg) {
                res = false;
                goto done;
            }
            n = n->next;
            continue;
        case RX_EOL:
            if (pos != r->end) {
                res = false;
                goto done;
            }
            n = n->next;
            continue;
        case RX_WORDB:
        case RX_NWORDB: {
            bool a = pos > r->beg && is_word(r->t[pos - 1]);
            bool b = pos < r->end && is_word(r->t[pos]);
            if ((a != b) != (n->type == RX_WORDB)) {
                res = false;
                goto done;
            }
            n = n->next;
            continue;
        }
        case RX_LOOK:
        case RX_NLOOK: {
            bool found = false;
            int64_t dummy;
            for (int i = 0; i < n->nalt && !found; i++) found = rx_m(r, n->alts[i], NULL, pos, &dummy);
            if (found != (n->type == RX_LOOK)) {
                res = false;
                goto done;
            }
            n = n->next;
            continue;
        }
        case RX_GROUP: {
            rx_cont c = {n->next, k, NULL, 0, 0};
            res = false;
            for (int i = 0; i < n->nalt && !res; i++) res = rx_m(r, n->alts[i], &c, pos, out);
            goto done;
        }
        case RX_REPEAT: {
            const rx_node *ch = n->child;
            if (!n->lazy && (ch->type == RX_CHAR || ch->type == RX_CLASS || ch->type == RX_ANY)) {
                /* greedy single-character repeat: count, then back off without recursion depth.
                 * The run end of an unbounded repeat is remembered, so scanning a long run from
                 * successive start positions stays linear. */
                int64_t m = 0, lim = n->max < 0 ? r->end - pos : n->max;
                if (n->max < 0 && r->memo_node == n && pos >= r->memo_pos && pos <= r->memo_end) {
                    m = r->memo_end - pos;
                } else {
                    while (m < lim && pos + m < r->end && single_match(ch, r->t[pos + m])) m++;
                    if (n->max < 0) r->memo_node = n, r->memo_pos = pos, r->memo_end = pos + m;
                }
                res = false;
                if (n->next && n->next->type == RX_EOL) { /* only the run reaching the end can match */
                    int64_t j = r->end - pos;
                    if (j <= m && j >= n->min) res = rx_m(r, n->next, k, pos + j, out);
                    goto done;
                }
                for (int64_t j = m; j >= n->min && !res; j--) res = rx_m(r, n->next, k, pos + j, out);
                goto done;
            }
            res = rx_rep(r, n, 0, pos, k, out);
            goto done;
        }
        default: res = false; goto done;
        }
    }
done:
    r->depth--;
    return res;
}

/* Leftmost match in t[from..end) (chunk [beg,end)); returns false when none. */
bool lt_rx_search(const rx *re, const uint32_t *t, int64_t beg, int64_t end, int64_t from, int64_t *ms,
                      int64_t *me) {
    rx_run r = {t, beg, end, 0, NULL, 0, 0};
    for (int64_t s = from; s < end; s++) {
        int64_t e;
        r.depth = 0;
        if (rx_m(&r, re->root, NULL, s, &e) && e > s) {
            *ms = s;
            *me = e;
            return true;
        }
    }
    return false;
}

bool lt_rx_collapsed(const rx *re) { return re->collapsed; }

uint32_t *lt_rx_text(bool collapsed, const uint32_t *cps, int64_t n) {
    uint32_t *t = lt_malloc((size_t)(n > 0 ? n : 1) * sizeof *t);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) {
        uint32_t c = cps[i];
        if (c < 128) t[i] = c;
        else if (lt_ucd_is_space(c)) t[i] = 0x0B;
        else if (!collapsed) t[i] = c;
        else switch (lt_ucd_cat(c)) {
            case LT_UCD_NUMBER: t[i] = 0xD1; break;
            case LT_UCD_LETTER: t[i] = 0xD2; break;
            case LT_UCD_PUNCTUATION: t[i] = 0xD3; break;
            case LT_UCD_MARK: t[i] = 0xD4; break;
            case LT_UCD_SYMBOL: t[i] = 0xD5; break;
            default: t[i] = 0xD0; break;
            }
    }
    return t;
}
